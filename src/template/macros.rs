//! Macros in one global namespace, as in dbt: every macro is callable by name from any model or
//! macro, a project macro overrides a built-in of the same name, `dbt.x()` / `kiln.x()` reach the
//! built-in, and `adapter.dispatch('x')` picks `<adapter>__x` or `default__x`.
//!
//! Each macro lives in its own template, so a macro's calls to other macros always go through the
//! global namespace (and through `return()` handling) rather than to a sibling in the same file.

use super::functions::{Signal, scope, signal_of};
use super::{Shared, context_for};
use minijinja::value::{Kwargs, Object, Value, from_args};
use minijinja::{Environment, Error, ErrorKind, State};
use std::sync::Arc;

/// A callable global that evaluates one macro template and calls the macro in it.
#[derive(Debug)]
pub(crate) struct MacroFn {
    /// Macro name inside its template.
    name: String,
    /// Template holding the macro.
    template: String,
    /// Declared argument names; keyword arguments outside them are dropped like dbt's `**kwargs`.
    arguments: Vec<String>,
    /// unique_id for `depends_on.macros`.
    unique_id: String,
}

impl Object for MacroFn {
    fn call(self: &Arc<Self>, state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let scope = scope(state)?;
        if let Ok(mut r) = scope.recorded.lock()
            && !r.macros.contains(&self.unique_id)
        {
            r.macros.insert(self.unique_id.clone());
        }
        let args = self.prepare_args(state, args)?;
        let template = state.env().get_template(&self.template)?;
        // Evaluating the one-macro template only defines the macro; then call it in that state.
        let module = template.render_captured(context_for(&scope))?;
        match module.state().call_macro(&self.name, &args) {
            Ok(out) => Ok(Value::from_safe_string(out)),
            Err(e) => match signal_of(&e) {
                Some(Signal::Return(v)) => Ok(v.clone()),
                _ => Err(e),
            },
        }
    }
}

impl MacroFn {
    /// Drops undeclared keyword arguments and renders `caller()` bodies in the calling state,
    /// since a call block's body cannot run inside the macro's own template state.
    fn prepare_args(&self, state: &State, args: &[Value]) -> Result<Vec<Value>, Error> {
        let Some(last) = args.last().filter(|v| v.is_kwargs()) else {
            return Ok(args.to_vec());
        };
        let kwargs = Kwargs::try_from(last.clone())?;
        let mut kept: Vec<(String, Value)> = Vec::new();
        for key in kwargs.args() {
            let value: Value = kwargs.peek(key)?;
            if key == "caller" {
                let body = value.call(state, &[])?;
                let text = body.to_string();
                kept.push((
                    key.to_string(),
                    Value::from_function(move |_args: &[Value]| -> Result<Value, Error> {
                        Ok(Value::from_safe_string(text.clone()))
                    }),
                ));
                continue;
            }
            if self.arguments.iter().any(|a| a == key) {
                kept.push((key.to_string(), value));
            }
        }
        let mut out = args[..args.len() - 1].to_vec();
        if !kept.is_empty() {
            out.push(Value::from(Kwargs::from_iter(kept)));
        }
        Ok(out)
    }
}

/// `dbt.x`, `kiln.x` and `<project>.x`: attribute access to macros of a namespace.
#[derive(Debug)]
struct Namespace {
    shared: Arc<Shared>,
    builtin: bool,
}

impl Object for Namespace {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        let map = if self.builtin {
            &self.shared.builtin_macros
        } else {
            &self.shared.macros
        };
        let template = map.get(name)?;
        Some(macro_value(&self.shared, name, template))
    }
}

fn macro_value(shared: &Shared, name: &str, template: &str) -> Value {
    let unique_id = shared.macro_ids.get(template).cloned().unwrap_or_default();
    let arguments = shared.macro_args.get(template).cloned().unwrap_or_default();
    Value::from_object(MacroFn {
        name: name.to_string(),
        template: template.to_string(),
        arguments,
        unique_id,
    })
}

pub(crate) fn register(env: &mut Environment<'static>, shared: &Arc<Shared>) {
    for (name, template) in &shared.macros {
        env.add_global(name.clone(), macro_value(shared, name, template));
    }
    let builtins = Value::from_object(Namespace {
        shared: shared.clone(),
        builtin: true,
    });
    env.add_global("dbt", builtins.clone());
    env.add_global("kiln", builtins);
    env.add_global(
        shared.project_name.clone(),
        Value::from_object(Namespace {
            shared: shared.clone(),
            builtin: false,
        }),
    );
}

/// `adapter.dispatch('name', macro_namespace=None)`: the adapter-specific implementation.
pub(crate) fn dispatch(shared: &Arc<Shared>, args: &[Value]) -> Result<Value, Error> {
    let (name, rest): (String, Option<Value>) = match args.last() {
        Some(v) if v.is_kwargs() => {
            let (name, kwargs): (String, Kwargs) = from_args(args)?;
            let ns: Option<Value> = kwargs.get("macro_namespace")?;
            (name, ns)
        }
        _ => from_args(args)?,
    };
    let _namespace = rest;
    let adapter = shared.dialect.adapter_type();
    let candidates = [
        format!("{adapter}__{name}"),
        // MySQL and MariaDB share implementations; SQLite and PostgreSQL fall back to default.
        format!("default__{name}"),
        name.clone(),
    ];
    for candidate in &candidates[..2] {
        if let Some(template) = shared.macros.get(candidate) {
            return Ok(macro_value(shared, candidate, template));
        }
    }
    Err(Error::new(
        ErrorKind::UnknownFunction,
        format!(
            "adapter.dispatch('{name}') found neither `{}` nor `{}`",
            candidates[0], candidates[1]
        ),
    ))
}
