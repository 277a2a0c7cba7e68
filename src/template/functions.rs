//! dbt's Jinja context functions: `ref`, `source`, `config`, `var`, `env_var`, `is_incremental`,
//! `log`, `print`, `return`, `doc`, `run_query`, `exceptions`, `adapter`, `target` and helpers.

use super::relation::Relation;
use super::{QueryTable, Scope, Shared};
use minijinja::value::{Kwargs, Object, Rest, Value, from_args};
use minijinja::{Environment, Error, ErrorKind, State};
use std::sync::Arc;

/// Control flow and typed failures carried inside a minijinja error as its source.
#[derive(Debug)]
pub(crate) enum Signal {
    /// `return(value)` from a macro.
    Return(Value),
    /// An unknown `ref`/`source`/`doc`.
    Reference { message: String, hint: String },
    /// `exceptions.raise_compiler_error(message)`.
    Compiler { message: String },
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signal::Return(_) => f.write_str("return() outside of a macro"),
            Signal::Reference { message, .. } => f.write_str(message),
            Signal::Compiler { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for Signal {}

/// Finds a [`Signal`] in an error's source chain.
pub(crate) fn signal_of(e: &Error) -> Option<&Signal> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(sig) = s.downcast_ref::<Signal>() {
            return Some(sig);
        }
        source = s.source();
    }
    None
}

fn signal_error(kind: ErrorKind, signal: Signal) -> Error {
    Error::new(kind, signal.to_string()).with_source(signal)
}

/// The per-render scope of the template being evaluated.
pub(crate) fn scope(state: &State) -> Result<Arc<Scope>, Error> {
    state
        .lookup("__kiln_scope")
        .and_then(|v| v.downcast_object::<Scope>())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                "this function is only available while rendering a node",
            )
        })
}

fn record<F: FnOnce(&mut super::Rendered)>(scope: &Scope, f: F) {
    if let Ok(mut r) = scope.recorded.lock() {
        f(&mut r);
    }
}

pub(crate) fn register(env: &mut Environment<'static>, shared: &Arc<Shared>) {
    env.add_function("ref", ref_fn);
    env.add_function("source", source_fn);
    env.add_global("config", Value::from_object(ConfigFn));
    let s = shared.clone();
    env.add_function("var", move |state: &State, args: Rest<Value>| {
        var_fn(&s, state, &args)
    });
    let s = shared.clone();
    env.add_function(
        "env_var",
        move |state: &State, name: String, default: Option<Value>| -> Result<Value, Error> {
            if let Some(v) = scope(state)
                .ok()
                .and_then(|sc| sc.overrides.as_ref()?.env_vars.get(&name).cloned())
            {
                return Ok(Value::from(v));
            }
            let value = (s.env)(&name);
            if let Ok(sc) = scope(state) {
                record(&sc, |r| {
                    r.env.insert(name.clone(), value.clone());
                });
            }
            match value {
                Some(v) => Ok(Value::from(v)),
                None => match default {
                    Some(d) => Ok(d),
                    None => Err(signal_error(
                        ErrorKind::InvalidOperation,
                        Signal::Reference {
                            message: format!("environment variable `{name}` is not set"),
                            hint: format!(
                                "export {name}=... before running, or give a default: env_var('{name}', 'value')"
                            ),
                        },
                    )),
                },
            }
        },
    );
    env.add_function("is_incremental", |state: &State| -> Result<bool, Error> {
        Ok(scope(state).map(|s| s.is_incremental).unwrap_or(false))
    });
    env.add_function(
        "log",
        |msg: Value, kwargs: Kwargs| -> Result<String, Error> {
            let info: Option<bool> = kwargs.get("info")?;
            kwargs.assert_all_used()?;
            let level = if info.unwrap_or(false) {
                TemplateLog::Info
            } else {
                TemplateLog::Debug
            };
            template_log(level, &msg.to_string());
            Ok(String::new())
        },
    );
    env.add_function("print", |msg: Value| -> String {
        template_log(TemplateLog::Info, &msg.to_string());
        String::new()
    });
    env.add_function("return", |value: Option<Value>| -> Result<Value, Error> {
        Err(signal_error(
            ErrorKind::InvalidOperation,
            Signal::Return(value.unwrap_or(Value::from(()))),
        ))
    });
    let s = shared.clone();
    env.add_function("doc", move |name: String| -> Result<Value, Error> {
        match s.docs.get(&name) {
            Some(text) => Ok(Value::from(text.clone())),
            None => Err(signal_error(
                ErrorKind::InvalidOperation,
                Signal::Reference {
                    message: format!("docs block `{name}` does not exist"),
                    hint: closest_hint(
                        &name,
                        s.docs.keys(),
                        "add `{% docs NAME %}...{% enddocs %}` to a .md file",
                    ),
                },
            )),
        }
    });
    env.add_function("run_query", run_query_fn);
    env.add_function("store_result", store_result_fn);
    env.add_function("load_result", load_result_fn);
    env.add_function(
        "should_store_failures",
        |state: &State| -> Result<bool, Error> {
            let scope = scope(state)?;
            Ok(scope
                .current_config()
                .get_bool("store_failures")
                .unwrap_or(false))
        },
    );
    env.add_function(
        "should_full_refresh",
        |state: &State| -> Result<bool, Error> {
            let scope = scope(state)?;
            Ok(scope
                .current_config()
                .get_bool("full_refresh")
                .unwrap_or(false))
        },
    );
    env.add_function("local_md5", |s: String| -> String {
        use md5::{Digest, Md5};
        crate::project::identity::hex(&Md5::digest(s.as_bytes()))
    });
    env.add_function("load_relation", |state: &State, rel: Value| {
        load_relation(state, &rel)
    });
    env.add_global("modules", super::modules::modules());
    env.add_global("api", super::modules::api(shared.dialect));
    env.add_global("invocation_id", Value::from(shared.invocation_id.clone()));
    env.add_global(
        "run_started_at",
        super::modules::run_started_at(&shared.run_started_at),
    );
    env.add_global(
        "selected_resources",
        Value::from_object(SelectedResources(shared.clone())),
    );
    env.add_global("graph", Value::from_object(Graph(shared.clone())));
    env.add_global("exceptions", Value::from_object(Exceptions));
    env.add_global(
        "adapter",
        Value::from_object(Adapter {
            shared: shared.clone(),
        }),
    );
    env.add_global("target", shared.target.clone());
    env.add_global("project_name", Value::from(shared.project_name.clone()));
    env.add_global("dbt_version", Value::from("1.11.0"));
    env.add_global("kiln_version", Value::from(env!("CARGO_PKG_VERSION")));
    env.add_global("flags", shared.flags.clone());
    env.add_function("tojson", |v: Value| -> Result<String, Error> {
        super::values::python_json(&v)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
    });
    env.add_function("fromjson", |s: String| -> Result<Value, Error> {
        serde_json::from_str::<serde_json::Value>(&s)
            .map(Value::from_serialize)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("invalid JSON: {e}")))
    });
    env.add_function("fromyaml", |s: String| -> Result<Value, Error> {
        serde_yaml::from_str::<serde_yaml::Value>(&s)
            .map(|y| Value::from_serialize(crate::project::config::yaml_to_json(&y)))
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("invalid YAML: {e}")))
    });
    env.add_function("toyaml", |v: Value| -> Result<String, Error> {
        serde_yaml::to_string(&v)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
    });
    env.add_function("zip", |a: Value, b: Value| -> Result<Value, Error> {
        let a: Vec<Value> = a.try_iter()?.collect();
        let b: Vec<Value> = b.try_iter()?.collect();
        Ok(Value::from(
            a.into_iter()
                .zip(b)
                .map(|(x, y)| Value::from(vec![x, y]))
                .collect::<Vec<_>>(),
        ))
    });
    // Python sets are unordered: a sorted list without duplicates compares like one.
    env.add_function("set", |v: Option<Value>| -> Result<Value, Error> {
        let mut out: Vec<Value> = match v {
            Some(v) if !v.is_undefined() && !v.is_none() => v.try_iter()?.collect(),
            _ => Vec::new(),
        };
        out.sort();
        out.dedup();
        Ok(super::values::PyList::from_vec(out))
    });
    let s = shared.clone();
    env.add_function("__kiln_generic_test", move |state: &State| {
        generic_test_fn(&s, state)
    });
    env.add_function(super::compiled::LIST_FN, |args: Rest<Value>| {
        super::values::new_list(&args)
    });
    env.add_function(super::compiled::DICT_FN, |args: Rest<Value>| {
        super::values::new_dict(&args)
    });
    env.add_function(super::compiled::COPY_FN, |v: Value| {
        super::values::fresh_copy(&v)
    });
    // dbt's `as_*` filters keep values as they are in Kiln (rendering is always to text).
    env.add_filter("as_bool", |v: Value| v);
    env.add_filter("as_number", |v: Value| v);
    env.add_filter("as_text", |v: Value| v.to_string());
    env.add_filter("as_native", |v: Value| v);
}

/// `ref('name')`, `ref('package', 'name')`, `ref('name', v=2)`.
fn ref_fn(state: &State, args: Rest<Value>) -> Result<Value, Error> {
    let scope = scope(state)?;
    let (positional, _kwargs): (Vec<Value>, Option<Kwargs>) = split_kwargs(&args)?;
    let names: Vec<String> = positional
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                "ref() takes string arguments: ref('model') or ref('package', 'model')",
            )
        })?;
    let (package, name) = match names.as_slice() {
        [name] => (None, name.clone()),
        [package, name] => (Some(package.clone()), name.clone()),
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "ref() takes one or two arguments: ref('model') or ref('package', 'model')",
            ));
        }
    };
    let call = super::RefCall {
        package: package.clone(),
        name: name.clone(),
    };
    record(&scope, |r| {
        if !r.refs.contains(&call) {
            r.refs.push(call);
        }
    });
    scope
        .resolver
        .resolve_ref(&scope.unique_id, package.as_deref(), &name)
        .map(Relation::into_value)
        .map_err(|u| {
            signal_error(
                ErrorKind::InvalidOperation,
                Signal::Reference {
                    message: u.message,
                    hint: u.hint,
                },
            )
        })
}

/// `source('source_name', 'table_name')`.
fn source_fn(state: &State, source: String, table: String) -> Result<Value, Error> {
    let scope = scope(state)?;
    let key = (source.clone(), table.clone());
    record(&scope, |r| {
        if !r.sources.contains(&key) {
            r.sources.push(key);
        }
    });
    scope
        .resolver
        .resolve_source(&source, &table)
        .map(Relation::into_value)
        .map_err(|u| {
            signal_error(
                ErrorKind::InvalidOperation,
                Signal::Reference {
                    message: u.message,
                    hint: u.hint,
                },
            )
        })
}

fn split_kwargs(args: &[Value]) -> Result<(Vec<Value>, Option<Kwargs>), Error> {
    match args.last() {
        Some(last) if last.is_kwargs() => {
            let kwargs = Kwargs::try_from(last.clone())?;
            Ok((args[..args.len() - 1].to_vec(), Some(kwargs)))
        }
        _ => Ok((args.to_vec(), None)),
    }
}

/// `var('name')` / `var('name', default)`.
fn var_fn(shared: &Shared, state: &State, args: &[Value]) -> Result<Value, Error> {
    let (name, default): (String, Option<Value>) = from_args(args)?;
    if let Some(v) = scope(state)
        .ok()
        .and_then(|s| s.overrides.as_ref()?.vars.get(&name).cloned())
    {
        return Ok(super::values::fresh_copy(&Value::from_serialize(v)));
    }
    let package = state
        .lookup("__kiln_package")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| shared.root_package.clone());
    let vars = shared
        .vars
        .get(&package)
        .or_else(|| shared.vars.get(&shared.root_package));
    if let Some(v) = vars.and_then(|vars| vars.get(&name)) {
        return Ok(super::values::fresh_copy(&Value::from_serialize(v)));
    }
    if let Some(d) = default {
        return Ok(d);
    }
    let in_node = scope(state)
        .map(|s| format!(" (used by {})", s.unique_id))
        .unwrap_or_default();
    Err(signal_error(
        ErrorKind::InvalidOperation,
        Signal::Reference {
            message: format!("required var `{name}` is not set{in_node}"),
            hint: format!(
                "set it under `vars:` in the project file, pass --vars '{{{name}: ...}}', or give a default: var('{name}', ...)"
            ),
        },
    ))
}

fn closest_hint<'a>(
    name: &str,
    options: impl Iterator<Item = &'a String>,
    otherwise: &str,
) -> String {
    match crate::error::closest(name, options) {
        Some(o) => format!("did you mean `{o}`?"),
        None => otherwise.to_string(),
    }
}

/// `config`: callable to set config (`config(materialized='table')`), with `get` and `require`.
#[derive(Debug)]
struct ConfigFn;

impl Object for ConfigFn {
    fn call(self: &Arc<Self>, state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let scope = scope(state)?;
        let (positional, kwargs) = split_kwargs(args)?;
        let mut pairs: Vec<(String, serde_json::Value)> = Vec::new();
        // `config({'materialized': 'table'})` passes a dict positionally.
        for p in positional {
            let json: serde_json::Value = serde_json::to_value(&p)
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
            match json {
                serde_json::Value::Object(map) => pairs.extend(map),
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "config() takes keyword arguments, e.g. config(materialized='table')",
                    ));
                }
            }
        }
        if let Some(kwargs) = kwargs {
            for key in kwargs.args().map(str::to_string).collect::<Vec<_>>() {
                let v: Value = kwargs.get(&key)?;
                let json = serde_json::to_value(&v)
                    .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
                pairs.push((key, json));
            }
        }
        record(&scope, |r| {
            for (k, v) in pairs {
                r.config.set(&k, v.clone());
                r.config_call.insert(k, v);
            }
        });
        Ok(Value::from(""))
    }

    fn call_method(
        self: &Arc<Self>,
        state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let scope = scope(state)?;
        let config = scope.current_config();
        match method {
            "get" => {
                let (key, default): (String, Option<Value>) = from_args(args)?;
                Ok(config
                    .get(&key)
                    .map(Value::from_serialize)
                    .or(default)
                    .unwrap_or(Value::from(())))
            }
            "require" => {
                let (key,): (String,) = from_args(args)?;
                config.get(&key).map(Value::from_serialize).ok_or_else(|| {
                    signal_error(
                        ErrorKind::InvalidOperation,
                        Signal::Compiler {
                            message: format!(
                                "config `{key}` is required by {} but not set",
                                scope.unique_id
                            ),
                        },
                    )
                })
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("config has no method `{method}` (use config.get or config.require)"),
            )),
        }
    }
}

/// `exceptions.raise_compiler_error(msg)` and `exceptions.warn(msg)`.
#[derive(Debug)]
struct Exceptions;

impl Object for Exceptions {
    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let (msg,): (String,) = from_args(args)?;
        match method {
            "raise_compiler_error" | "raise_not_implemented" | "raise_fail_fast_error" => {
                Err(signal_error(
                    ErrorKind::InvalidOperation,
                    Signal::Compiler { message: msg },
                ))
            }
            "warn" => {
                template_log(TemplateLog::Warn, &msg);
                Ok(Value::from(""))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("exceptions has no method `{method}`"),
            )),
        }
    }
}

fn run_query_fn(state: &State, sql: String) -> Result<Value, Error> {
    let scope = scope(state)?;
    match (scope.database(), scope.execute) {
        (Some(db), true) => db
            .run_query(&sql)
            .map(|t| super::agate::table(&t))
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("run_query failed: {e}"),
                )
            }),
        // While parsing, or compiling without a connection, queries return none as in dbt.
        _ => Ok(Value::from(())),
    }
}

/// `selected_resources`: a list of the unique_ids the command selected.
#[derive(Debug)]
struct SelectedResources(Arc<Shared>);

impl Object for SelectedResources {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let i = usize::try_from(key.clone()).ok()?;
        self.0
            .selected
            .lock()
            .ok()?
            .get(i)
            .cloned()
            .map(Value::from)
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        let ids = self
            .0
            .selected
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        minijinja::value::Enumerator::Values(ids.into_iter().map(Value::from).collect())
    }
}

/// `graph`, read through the renderer's lazily built value (empty until it is built).
#[derive(Debug)]
struct Graph(Arc<Shared>);

impl Object for Graph {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match self.0.graph.get() {
            Some(graph) => graph.get_item(key).ok().filter(|v| !v.is_undefined()),
            None => key
                .as_str()
                .filter(|k| GRAPH_KEYS.contains(k))
                .map(|_| Value::from_serialize(serde_json::json!({}))),
        }
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Str(GRAPH_KEYS)
    }
}

/// The members of `graph`, as in dbt.
const GRAPH_KEYS: &[&str] = &[
    "nodes",
    "sources",
    "macros",
    "exposures",
    "metrics",
    "groups",
    "semantic_models",
    "saved_queries",
];

/// `store_result(name, response, agate_table)`: what `statement()` keeps for `load_result`.
fn store_result_fn(state: &State, name: String, kwargs: Kwargs) -> Result<Value, Error> {
    let scope = scope(state)?;
    let response: Option<Value> = kwargs.get("response")?;
    let table: Option<Value> = kwargs.get("agate_table")?;
    let table = table.unwrap_or_else(|| super::agate::table(&QueryTable::default()));
    let data: Vec<Value> = table
        .get_attr("rows")
        .ok()
        .and_then(|r| r.try_iter().ok().map(|it| it.collect()))
        .unwrap_or_default();
    let result = super::values::PyDict::from_pairs([
        (Value::from("response"), response.unwrap_or_default()),
        (Value::from("table"), table),
        (Value::from("data"), super::values::PyList::from_vec(data)),
    ]);
    if let Ok(mut results) = scope.results.lock() {
        results.insert(name, result);
    }
    Ok(Value::from(""))
}

/// `load_result(name)`: the result a `{% call statement(name) %}` stored, or none.
fn load_result_fn(state: &State, name: String) -> Result<Value, Error> {
    let scope = scope(state)?;
    Ok(scope
        .results
        .lock()
        .ok()
        .and_then(|r| r.get(&name).cloned())
        .unwrap_or_default())
}

/// `load_relation(relation)`: the relation if it exists in the database, else none.
fn load_relation(state: &State, rel: &Value) -> Result<Value, Error> {
    let scope = scope(state)?;
    let Some(relation) = rel.downcast_object_ref::<Relation>() else {
        return Ok(Value::from(()));
    };
    match scope.database() {
        Some(db) if scope.execute => db
            .get_relation(
                relation.database.as_deref(),
                &relation.schema,
                &relation.identifier,
            )
            .map(|r| r.map(Relation::into_value).unwrap_or(Value::from(())))
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e)),
        _ => Ok(Value::from(())),
    }
}

/// `get_relation(database, schema, identifier)`, positionally or by keyword.
fn relation_args(args: &[Value]) -> Result<(Option<String>, String, String), Error> {
    let (positional, kwargs) = split_kwargs(args)?;
    let get = |i: usize, key: &str| -> Result<Option<Value>, Error> {
        if let Some(v) = positional.get(i) {
            return Ok(Some(v.clone()));
        }
        match &kwargs {
            Some(k) => k.get::<Option<Value>>(key),
            None => Ok(None),
        }
    };
    let text = |v: Option<Value>| v.filter(|v| !v.is_none()).map(|v| v.to_string());
    let database = text(get(0, "database")?);
    let schema = text(get(1, "schema")?).unwrap_or_default();
    let identifier = text(get(2, "identifier")?).unwrap_or_default();
    Ok((database, schema, identifier))
}

fn db_error(e: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, e)
}

/// `adapter`: dispatch, quoting and database introspection.
#[derive(Debug)]
struct Adapter {
    shared: Arc<Shared>,
}

impl Object for Adapter {
    fn call_method(
        self: &Arc<Self>,
        state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "dispatch" => super::macros::dispatch(&self.shared, state, args),
            "quote" => {
                let (ident,): (String,) = from_args(args)?;
                Ok(Value::from(self.shared.dialect.quote(&ident)))
            }
            "type" => Ok(Value::from(self.shared.dialect.adapter_type())),
            "get_relation" => {
                let (database, schema, identifier) = relation_args(args)?;
                let scope = scope(state)?;
                match scope.database() {
                    Some(db) if scope.execute => db
                        .get_relation(database.as_deref(), &schema, &identifier)
                        .map(|r| r.map(Relation::into_value).unwrap_or(Value::from(())))
                        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e)),
                    _ => Ok(Value::from(())),
                }
            }
            "get_columns_in_relation" => {
                let (rel,): (Value,) = from_args(args)?;
                let scope = scope(state)?;
                let Some(relation) = rel.downcast_object_ref::<Relation>() else {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "get_columns_in_relation() takes a relation, e.g. ref('model')",
                    ));
                };
                match scope.database() {
                    Some(db) if scope.execute => {
                        let cols = db
                            .get_columns(relation)
                            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e))?;
                        Ok(super::values::PyList::from_vec(
                            cols.into_iter()
                                .map(|(name, dtype)| {
                                    super::modules::column(name, dtype, self.shared.dialect)
                                })
                                .collect::<Vec<_>>(),
                        ))
                    }
                    _ => Ok(super::values::PyList::from_vec(Vec::new())),
                }
            }
            "execute" => {
                let (sql, kwargs): (String, Kwargs) = from_args(args)?;
                let fetch: Option<bool> = kwargs.get("fetch")?;
                let _: Option<Value> = kwargs.get("auto_begin")?;
                let _: Option<Value> = kwargs.get("limit")?;
                let scope = scope(state)?;
                let (response, table) = match scope.database() {
                    Some(db) if scope.execute => {
                        db.execute(&sql, fetch.unwrap_or(false)).map_err(db_error)?
                    }
                    _ => ("OK".to_string(), None),
                };
                let table = super::agate::table(&table.unwrap_or_default());
                Ok(Value::from(vec![Value::from(response), table]))
            }
            "load_relation" => {
                let (rel,): (Value,) = from_args(args)?;
                load_relation(state, &rel)
            }
            "drop_relation" | "truncate_relation" => {
                let (rel,): (Value,) = from_args(args)?;
                let scope = scope(state)?;
                if let (Some(db), true, Some(r)) = (
                    scope.database(),
                    scope.execute,
                    rel.downcast_object_ref::<Relation>(),
                ) {
                    if method == "drop_relation" {
                        db.drop_relation(r).map_err(db_error)?;
                    } else {
                        db.execute(&format!("delete from {r}"), false)
                            .map_err(db_error)?;
                    }
                }
                Ok(Value::from(()))
            }
            "rename_relation" => {
                let (from, to): (Value, Value) = from_args(args)?;
                let scope = scope(state)?;
                if let (Some(db), true, Some(f), Some(t)) = (
                    scope.database(),
                    scope.execute,
                    from.downcast_object_ref::<Relation>(),
                    to.downcast_object_ref::<Relation>(),
                ) {
                    db.rename_relation(f, t).map_err(db_error)?;
                }
                Ok(Value::from(()))
            }
            "create_schema" => {
                let (rel,): (Value,) = from_args(args)?;
                let scope = scope(state)?;
                let schema = rel
                    .get_attr("schema")
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string));
                if let (Some(db), true, Some(schema)) = (scope.database(), scope.execute, schema) {
                    db.create_schema(&schema).map_err(db_error)?;
                }
                Ok(Value::from(()))
            }
            "expand_target_column_types"
            | "cache_added"
            | "cache_dropped"
            | "cache_renamed"
            | "commit"
            | "begin" => Ok(Value::from(())),
            "check_schema_exists" => Ok(Value::from(true)),
            "quote_as_configured" => {
                let (ident,): (String,) = from_args(args)?;
                Ok(Value::from(self.shared.dialect.quote(&ident)))
            }
            "quote_seed_column" => {
                let (ident, quote): (String, Option<bool>) = from_args(args)?;
                Ok(Value::from(if quote.unwrap_or(true) {
                    self.shared.dialect.quote(&ident)
                } else {
                    ident
                }))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("adapter has no method `{method}`"),
            )),
        }
    }
}

/// Renders a generic test node: calls `test_<name>` with `model` and the YAML arguments.
fn generic_test_fn(shared: &Arc<Shared>, state: &State) -> Result<Value, Error> {
    let scope = scope(state)?;
    let Some(test) = scope.test.clone() else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "__kiln_generic_test() is only for generic tests",
        ));
    };
    let relation = match &test.target {
        crate::project::TestTarget::Ref { name } => {
            ref_fn(state, Rest(vec![Value::from(name.clone())]))?
        }
        crate::project::TestTarget::Source { source, table } => {
            source_fn(state, source.clone(), table.clone())?
        }
    };
    // `where` config narrows the tested relation, as dbt's get_where_subquery does.
    let config = scope.current_config();
    let model = match config.get_str("where") {
        Some(w) if !w.trim().is_empty() => {
            Value::from_safe_string(format!("(select * from {relation} where {w}) dbt_subquery"))
        }
        _ => relation,
    };
    let mut kwargs: Vec<(String, Value)> = vec![("model".to_string(), model)];
    let package = state
        .lookup("__kiln_package")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let ctx = super::context_for(&scope, shared, &package);
    for (key, value) in &test.kwargs {
        let v = match value {
            serde_json::Value::String(s) if looks_like_call(s) => {
                let expr = state.env().compile_expression(s)?;
                expr.eval(ctx.clone())?
            }
            serde_json::Value::String(s) if s.contains("{{") || s.contains("{%") => {
                Value::from(state.env().render_str(s, ctx.clone())?)
            }
            other => Value::from_serialize(other),
        };
        kwargs.push((key.clone(), v));
    }
    let macro_name = match &test.namespace {
        Some(ns) => format!("{ns}.test_{}", test.name),
        None => format!("test_{}", test.name),
    };
    let test_macro = format!("test_{}", test.name);
    let entry = match &test.namespace {
        Some(ns) => shared.macros.get(ns).and_then(|m| m.get(&test_macro)),
        // A plain name: root project, the test's package, the built-ins, then any package.
        None => shared
            .find_macro(&package, &test_macro)
            .or_else(|| shared.macros.values().find_map(|m| m.get(&test_macro))),
    };
    let callee = entry
        .map(|m| shared.macro_value(&test_macro, m))
        .ok_or_else(|| {
            signal_error(
                ErrorKind::InvalidOperation,
                Signal::Reference {
                    message: format!("generic test `{}` is not defined", test.name),
                    hint: format!(
                        "define `{{% test {}(model, column_name) %}}` in the macro paths or tests/generic/, or install the package that has it (looked for `{macro_name}`)",
                        test.name
                    ),
                },
            )
        })?;
    let kwargs = Kwargs::from_iter(kwargs);
    callee.call(state, &[Value::from(kwargs)])
}

/// True for YAML test arguments written as Jinja calls, like `ref('customers')`.
fn looks_like_call(s: &str) -> bool {
    let s = s.trim();
    (s.starts_with("ref(") || s.starts_with("source(")) && s.ends_with(')')
}

/// How loud a template's message is: `log(msg)` is debug, `log(msg, info=True)` and `print()`
/// are info, `exceptions.warn()` is a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateLog {
    /// `log(msg)`.
    Debug,
    /// `log(msg, info=True)`, `print(msg)`.
    Info,
    /// `exceptions.warn(msg)`.
    Warn,
}

/// Receives what templates log; the command line turns it into log events.
pub type LogSink = std::sync::Arc<dyn Fn(TemplateLog, &str) + Send + Sync>;

static LOG_SINK: std::sync::OnceLock<LogSink> = std::sync::OnceLock::new();

/// Sets where template messages go for the rest of the process (once; later calls are ignored).
pub fn set_log_sink(sink: LogSink) {
    let _ = LOG_SINK.set(sink);
}

/// Hands a template's message to the sink, or to stderr when none is set.
fn template_log(level: TemplateLog, msg: &str) {
    match LOG_SINK.get() {
        Some(sink) => sink(level, msg),
        None => match level {
            TemplateLog::Debug => {}
            TemplateLog::Info => eprintln!("{msg}"),
            TemplateLog::Warn => eprintln!("warning: {msg}"),
        },
    }
}
