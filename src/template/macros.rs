//! Macro namespaces, as in dbt: every package (the root project, each installed package, and
//! `dbt` for the built-in library) has its own namespace (`dbt_utils.star(...)`), and an
//! unqualified name resolves in the root project, then in the package of the template that
//! calls it, then in `dbt`. `adapter.dispatch('x', 'pkg')` follows the root project's
//! `dispatch:` search order and picks `<adapter>__x`, then `default__x`.
//!
//! Each macro lives in its own template, so a macro's calls to other macros always go through
//! this resolution (and through `return()` handling) rather than to a sibling in the same file.
//! The context a template runs with is a [`TemplateContext`]: names are looked up on demand, so
//! no per-render map of every macro is built.

use super::functions::{Signal, scope, signal_of};
use super::{Scope, Shared};
use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value, from_args};
use minijinja::{Error, ErrorKind, State};
use std::sync::Arc;

/// The built-in library's package name.
pub(crate) const DBT: &str = "dbt";

/// One macro as the namespaces know it.
#[derive(Debug, Clone)]
pub(crate) struct MacroEntry {
    /// Template holding the macro.
    pub template: String,
    /// Package that defines it.
    pub package: String,
    /// Declared argument names; keyword arguments outside them are dropped like dbt's `**kwargs`.
    pub arguments: Vec<String>,
    /// unique_id for `depends_on.macros`.
    pub unique_id: String,
}

/// The root context of a template: per-render values, then macros and namespaces by name.
#[derive(Debug)]
pub(crate) struct TemplateContext {
    pub scope: Arc<Scope>,
    pub package: String,
    pub shared: Arc<Shared>,
    /// A macro call's undeclared arguments, as dbt's implicit `kwargs` and `varargs`.
    pub extra: Option<(Value, Value)>,
}

impl Object for TemplateContext {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        Some(match key {
            "__kiln_scope" => Value::from_dyn_object(self.scope.clone()),
            "__kiln_package" => Value::from(self.package.clone()),
            "this" => self
                .scope
                .this
                .clone()
                .map(super::Relation::into_value)
                .unwrap_or(Value::from(())),
            "model" => self.scope.model(),
            "execute" => Value::from(self.scope.execute),
            "kwargs" if self.extra.is_some() => self.extra.as_ref()?.0.clone(),
            "varargs" if self.extra.is_some() => self.extra.as_ref()?.1.clone(),
            _ => match self
                .scope
                .overrides
                .as_ref()
                .and_then(|o| o.macros.get(key))
            {
                // A unit test's macro override: a callable that returns the value given.
                Some(v) => {
                    let v = Value::from_serialize(v);
                    Value::from_function(move |_: minijinja::value::Rest<Value>| v.clone())
                }
                None => return self.shared.lookup(&self.package, key),
            },
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["this", "model", "execute"])
    }
}

impl Shared {
    /// A macro visible from `package` without qualification: root project, then `package`,
    /// then the built-ins; else a namespace named `key`.
    pub(crate) fn lookup(self: &Arc<Self>, package: &str, key: &str) -> Option<Value> {
        if let Some(m) = self.find_macro(package, key) {
            return Some(self.macro_value(key, m));
        }
        self.namespace(key)
    }

    /// The macro `name` as seen from `package` (root project, then `package`, then `dbt`).
    pub(crate) fn find_macro(&self, package: &str, name: &str) -> Option<&MacroEntry> {
        [self.root_package.as_str(), package, DBT]
            .iter()
            .find_map(|p| self.macros.get(*p).and_then(|ns| ns.get(name)))
    }

    /// The namespace object for a package name (`dbt` and `kiln` name the built-ins).
    pub(crate) fn namespace(self: &Arc<Self>, key: &str) -> Option<Value> {
        let package = match key {
            "kiln" => DBT,
            k if self.macros.contains_key(k) || self.packages.contains(k) => k,
            _ => return None,
        };
        Some(Value::from_object(Namespace {
            shared: self.clone(),
            package: package.to_string(),
        }))
    }

    pub(crate) fn macro_value(self: &Arc<Self>, name: &str, m: &MacroEntry) -> Value {
        Value::from_object(MacroFn {
            name: name.to_string(),
            entry: m.clone(),
            shared: self.clone(),
        })
    }
}

/// A callable that evaluates one macro template and calls the macro in it.
pub(crate) struct MacroFn {
    /// Macro name inside its template.
    name: String,
    entry: MacroEntry,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MacroFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<macro {}.{}>", self.entry.package, self.name)
    }
}

impl Object for MacroFn {
    fn call(self: &Arc<Self>, state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let scope = scope(state)?;
        if let Ok(mut r) = scope.recorded.lock()
            && !r.macros.contains(&self.entry.unique_id)
        {
            r.macros.insert(self.entry.unique_id.clone());
        }
        let (args, kwargs, varargs) = self.prepare_args(state, args)?;
        let compiled = self.shared.compiled(&self.entry.template)?;
        let ctx = Value::from_object(TemplateContext {
            scope: scope.clone(),
            package: self.entry.package.clone(),
            shared: self.shared.clone(),
            extra: Some((kwargs, varargs)),
        });
        // Evaluating the one-macro template only defines the macro; then call it in that state.
        let mut sink = String::new();
        let (_, macro_state) = minijinja::machinery::Vm::new(state.env()).eval(
            &compiled.instructions,
            ctx,
            &compiled.blocks,
            &mut minijinja::machinery::make_string_output(&mut sink),
            minijinja::AutoEscape::None,
        )?;
        match macro_state.call_macro(&self.name, &args) {
            Ok(out) => Ok(Value::from_safe_string(out)),
            Err(e) => match signal_of(&e) {
                Some(Signal::Return(v)) => Ok(v.clone()),
                _ => Err(e),
            },
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "name" => Some(Value::from(self.name.clone())),
            "package_name" => Some(Value::from(self.entry.package.clone())),
            _ => None,
        }
    }
}

impl MacroFn {
    /// Splits the call's arguments into those the macro declares and the rest (dbt's implicit
    /// `kwargs` dict and `varargs` list), renders `caller()` bodies in the calling state (a
    /// call block's body cannot run inside the macro's own template state), and gives
    /// immutable lists and dicts to the macro as mutable copies, so `arg.append(x)` works on
    /// an argument as it does in dbt.
    fn prepare_args(
        &self,
        state: &State,
        args: &[Value],
    ) -> Result<(Vec<Value>, Value, Value), Error> {
        let (positional, kwargs) = match args.last().filter(|v| v.is_kwargs()) {
            Some(last) => (
                &args[..args.len() - 1],
                Some(Kwargs::try_from(last.clone())?),
            ),
            None => (args, None),
        };
        let declared = self.entry.arguments.len();
        let mut out: Vec<Value> = positional
            .iter()
            .take(declared)
            .map(super::values::fresh_copy)
            .collect();
        let varargs =
            super::values::PyList::from_vec(positional.iter().skip(declared).cloned().collect());
        let mut extra: Vec<(Value, Value)> = Vec::new();
        let Some(kwargs) = kwargs else {
            return Ok((out, super::values::PyDict::from_pairs(extra), varargs));
        };
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
            if self.entry.arguments.iter().any(|a| a == key) {
                kept.push((key.to_string(), super::values::fresh_copy(&value)));
            } else {
                extra.push((Value::from(key), value));
            }
        }
        if !kept.is_empty() {
            out.push(Value::from(Kwargs::from_iter(kept)));
        }
        Ok((out, super::values::PyDict::from_pairs(extra), varargs))
    }
}

/// `dbt_utils.x`, `dbt.x`: attribute access to the macros of one package.
#[derive(Debug)]
struct Namespace {
    shared: Arc<Shared>,
    package: String,
}

impl Object for Namespace {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        let m = self.shared.macros.get(&self.package)?.get(name)?;
        Some(self.shared.macro_value(name, m))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<namespace {}>", self.package)
    }
}

/// `adapter.dispatch('name', macro_namespace=None)`: the implementation for this adapter,
/// searched as dbt searches: the root project's `dispatch:` order for the namespace (or the
/// root project then the namespace), `<adapter>__name` before `default__name` in each.
pub(crate) fn dispatch(
    shared: &Arc<Shared>,
    state: &State,
    args: &[Value],
) -> Result<Value, Error> {
    let (name, namespace): (String, Option<String>) = match args.last() {
        Some(v) if v.is_kwargs() => {
            let (name, kwargs): (String, Kwargs) = from_args(args)?;
            let ns: Option<String> = kwargs.get("macro_namespace")?;
            let _: Option<Value> = kwargs.get("packages")?;
            (name, ns)
        }
        _ => {
            let (name, ns): (String, Option<Value>) = from_args(args)?;
            (name, ns.and_then(|v| v.as_str().map(str::to_string)))
        }
    };
    let calling = state
        .lookup("__kiln_package")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| shared.root_package.clone());
    let search: Vec<Option<String>> = match &namespace {
        None => vec![None],
        Some(ns) => match shared.dispatch.get(ns) {
            Some(order) => order.iter().cloned().map(Some).collect(),
            None if shared.macros.contains_key(ns) || shared.packages.contains(ns) => {
                vec![Some(shared.root_package.clone()), Some(ns.clone())]
            }
            None => vec![None],
        },
    };
    let adapter = shared.dialect.adapter_type();
    let mut tried = Vec::new();
    for package in &search {
        for prefix in [adapter, "default"] {
            let candidate = format!("{prefix}__{name}");
            let found = match package {
                None => shared.find_macro(&calling, &candidate),
                Some(p) => shared.macros.get(p).and_then(|ns| ns.get(&candidate)),
            };
            if let Some(m) = found {
                return Ok(shared.macro_value(&candidate, m));
            }
            tried.push(match package {
                None => format!("`{candidate}`"),
                Some(p) => format!("`{p}.{candidate}`"),
            });
        }
    }
    Err(Error::new(
        ErrorKind::UnknownFunction,
        format!(
            "adapter.dispatch('{name}'{}) found no implementation; looked for {}",
            namespace.map(|n| format!(", '{n}'")).unwrap_or_default(),
            tried.join(", ")
        ),
    ))
}
