//! Python-like mutable lists and dicts, as dbt's Jinja has them.
//!
//! minijinja's own sequences and maps are immutable values, shared freely (a constant `[]` in a
//! template is one value for every render). dbt packages build lists and dicts with
//! `{% do cols.append(c) %}` and `{% do d.update({k: v}) %}`, so every list and dict a template
//! *creates* must be a fresh, mutable object. [`super::compiled`] makes list and dict displays
//! (and constant ones) call [`new_list`]/[`new_dict`]/[`fresh_copy`], which build the objects
//! here. Interior mutability is a `Mutex`, so a value can be shared by reference, as in Python:
//! `d[k].append(x)` changes the list stored in `d`.

use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// A Python `list`.
#[derive(Default)]
pub struct PyList(Mutex<Vec<Value>>);

/// A Python `dict`, keeping insertion order.
#[derive(Default)]
pub struct PyDict(Mutex<IndexMap<Value, Value>>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a Vec or IndexMap half-updated in a way that
    // matters here; recover the data rather than poisoning every later render.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PyList {
    /// A list holding `items`.
    pub fn from_vec(items: Vec<Value>) -> Value {
        Value::from_object(PyList(Mutex::new(items)))
    }

    fn items(&self) -> Vec<Value> {
        lock(&self.0).clone()
    }
}

impl PyDict {
    /// A dict holding `pairs`, in order.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Value, Value)>) -> Value {
        Value::from_object(PyDict(Mutex::new(pairs.into_iter().collect())))
    }

    fn pairs(&self) -> Vec<(Value, Value)> {
        lock(&self.0)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl fmt::Debug for PyList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.items().iter()).finish()
    }
}

impl fmt::Debug for PyDict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.pairs()).finish()
    }
}

/// Python's `repr()` of a value: strings in single quotes, lists and dicts recursively.
pub fn py_repr(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default();
            format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
        }
        ValueKind::None | ValueKind::Undefined => "None".into(),
        ValueKind::Bool => if v.is_true() { "True" } else { "False" }.into(),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<String> = v
                .try_iter()
                .map(|it| it.map(|x| py_repr(&x)).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let mut parts = Vec::new();
            if let Ok(keys) = v.try_iter() {
                for k in keys {
                    let val = v.get_item(&k).unwrap_or_default();
                    parts.push(format!("{}: {}", py_repr(&k), py_repr(&val)));
                }
            }
            format!("{{{}}}", parts.join(", "))
        }
        _ => v.to_string(),
    }
}

fn arity(method: &str, args: &[Value], min: usize, max: usize) -> Result<(), Error> {
    if args.len() < min || args.len() > max {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "{method}() takes {} argument{} ({} given)",
                if min == max {
                    min.to_string()
                } else {
                    format!("{min} to {max}")
                },
                if max == 1 { "" } else { "s" },
                args.len()
            ),
        ));
    }
    Ok(())
}

fn index_arg(v: &Value, len: usize, method: &str) -> Result<usize, Error> {
    let i = i64::try_from(v.clone()).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("{method}() takes an integer index"),
        )
    })?;
    let i = if i < 0 { len as i64 + i } else { i };
    Ok(i.clamp(0, len as i64) as usize)
}

impl Object for PyList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let items = lock(&self.0);
        let i = i64::try_from(key.clone()).ok()?;
        let i = if i < 0 { items.len() as i64 + i } else { i };
        items.get(usize::try_from(i).ok()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.items())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(lock(&self.0).len())
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&py_repr(&Value::from_dyn_object(self.clone())))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let none = Value::from(());
        match method {
            "append" => {
                arity(method, args, 1, 1)?;
                lock(&self.0).push(args[0].clone());
                Ok(none)
            }
            "extend" => {
                arity(method, args, 1, 1)?;
                let new: Vec<Value> = args[0].try_iter()?.collect();
                lock(&self.0).extend(new);
                Ok(none)
            }
            "insert" => {
                arity(method, args, 2, 2)?;
                let mut items = lock(&self.0);
                let i = index_arg(&args[0], items.len(), method)?;
                items.insert(i, args[1].clone());
                Ok(none)
            }
            "pop" => {
                arity(method, args, 0, 1)?;
                let mut items = lock(&self.0);
                if items.is_empty() {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "pop from empty list",
                    ));
                }
                let i = match args.first() {
                    Some(a) => index_arg(a, items.len(), method)?.min(items.len() - 1),
                    None => items.len() - 1,
                };
                Ok(items.remove(i))
            }
            "remove" => {
                arity(method, args, 1, 1)?;
                let mut items = lock(&self.0);
                match items.iter().position(|x| x == &args[0]) {
                    Some(i) => {
                        items.remove(i);
                        Ok(none)
                    }
                    None => Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("list.remove(x): {} not in list", py_repr(&args[0])),
                    )),
                }
            }
            "index" => {
                arity(method, args, 1, 1)?;
                match lock(&self.0).iter().position(|x| x == &args[0]) {
                    Some(i) => Ok(Value::from(i)),
                    None => Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("{} is not in list", py_repr(&args[0])),
                    )),
                }
            }
            "count" => {
                arity(method, args, 1, 1)?;
                Ok(Value::from(
                    lock(&self.0).iter().filter(|x| *x == &args[0]).count(),
                ))
            }
            "clear" => {
                lock(&self.0).clear();
                Ok(none)
            }
            "reverse" => {
                lock(&self.0).reverse();
                Ok(none)
            }
            "sort" => {
                lock(&self.0).sort();
                Ok(none)
            }
            "copy" => Ok(PyList::from_vec(self.items())),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

impl Object for PyDict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        lock(&self.0).get(key).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(lock(&self.0).keys().cloned().collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(lock(&self.0).len())
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&py_repr(&Value::from_dyn_object(self.clone())))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let none = Value::from(());
        let (args, kwargs) = split_kwargs(args)?;
        match method {
            "update" => {
                let mut new: Vec<(Value, Value)> = Vec::new();
                for a in &args {
                    new.extend(pairs_of(a)?);
                }
                new.extend(kwargs);
                let mut map = lock(&self.0);
                for (k, v) in new {
                    map.insert(k, v);
                }
                Ok(none)
            }
            "get" => {
                arity(method, &args, 1, 2)?;
                Ok(lock(&self.0)
                    .get(&args[0])
                    .cloned()
                    .unwrap_or_else(|| args.get(1).cloned().unwrap_or(none)))
            }
            "setdefault" => {
                arity(method, &args, 1, 2)?;
                let mut map = lock(&self.0);
                Ok(map
                    .entry(args[0].clone())
                    .or_insert_with(|| args.get(1).cloned().unwrap_or(none))
                    .clone())
            }
            "pop" => {
                arity(method, &args, 1, 2)?;
                match lock(&self.0).shift_remove(&args[0]) {
                    Some(v) => Ok(v),
                    None => args.get(1).cloned().ok_or_else(|| {
                        Error::new(
                            ErrorKind::InvalidOperation,
                            format!("KeyError: {}", py_repr(&args[0])),
                        )
                    }),
                }
            }
            "popitem" => match lock(&self.0).pop() {
                Some((k, v)) => Ok(Value::from(vec![k, v])),
                None => Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "popitem(): dictionary is empty",
                )),
            },
            "keys" => Ok(PyList::from_vec(lock(&self.0).keys().cloned().collect())),
            "values" => Ok(PyList::from_vec(lock(&self.0).values().cloned().collect())),
            "items" => Ok(PyList::from_vec(
                self.pairs()
                    .into_iter()
                    .map(|(k, v)| Value::from(vec![k, v]))
                    .collect(),
            )),
            "copy" => Ok(PyDict::from_pairs(self.pairs())),
            "clear" => {
                lock(&self.0).clear();
                Ok(none)
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// Key/value pairs, in order.
type Pairs = Vec<(Value, Value)>;

/// Splits trailing keyword arguments (`d.update(a=1)`) off positional ones.
fn split_kwargs(args: &[Value]) -> Result<(Vec<Value>, Pairs), Error> {
    match args.last() {
        Some(last) if last.is_kwargs() => {
            let kwargs = minijinja::value::Kwargs::try_from(last.clone())?;
            let pairs = kwargs
                .args()
                .map(|k| Ok((Value::from(k), kwargs.peek::<Value>(k)?)))
                .collect::<Result<Vec<_>, Error>>()?;
            Ok((args[..args.len() - 1].to_vec(), pairs))
        }
        _ => Ok((args.to_vec(), Vec::new())),
    }
}

/// Key/value pairs of a mapping, or of a sequence of pairs (`dict.update([(k, v)])`).
fn pairs_of(v: &Value) -> Result<Vec<(Value, Value)>, Error> {
    if v.kind() == ValueKind::Map {
        let mut out = Vec::new();
        for k in v.try_iter()? {
            let val = v.get_item(&k)?;
            out.push((k, val));
        }
        return Ok(out);
    }
    let mut out = Vec::new();
    for item in v.try_iter()? {
        let pair: Vec<Value> = item.try_iter()?.collect();
        if pair.len() != 2 {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "dict.update() takes a mapping or a list of (key, value) pairs",
            ));
        }
        out.push((pair[0].clone(), pair[1].clone()));
    }
    Ok(out)
}

/// `__kiln_list(a, b, ...)`: what a list display `[a, b, ...]` evaluates to.
pub fn new_list(args: &[Value]) -> Value {
    PyList::from_vec(args.to_vec())
}

/// `__kiln_dict(k1, v1, k2, v2, ...)`: what a dict display `{k1: v1, ...}` evaluates to.
pub fn new_dict(args: &[Value]) -> Value {
    PyDict::from_pairs(
        args.chunks(2)
            .map(|kv| (kv[0].clone(), kv.get(1).cloned().unwrap_or_default())),
    )
}

/// A fresh, deep, mutable copy of minijinja's own (immutable) lists and dicts: a constant the
/// compiler folded, a var, a value from JSON. Kiln's objects (relations, columns, tables,
/// mutable lists and dicts) are returned as they are, so they keep their identity.
pub fn fresh_copy(v: &Value) -> Value {
    if let Some(items) = v.downcast_object_ref::<Vec<Value>>() {
        return PyList::from_vec(items.iter().map(fresh_copy).collect());
    }
    if let Some(map) = v.downcast_object_ref::<std::collections::BTreeMap<Value, Value>>() {
        return PyDict::from_pairs(map.iter().map(|(k, v)| (k.clone(), fresh_copy(v))));
    }
    v.clone()
}

/// Python's string methods that minijinja lacks, for `unknown_method_callback`.
pub fn string_method(s: &str, method: &str, args: &[Value]) -> Option<Result<Value, Error>> {
    let arg_str = |i: usize| args.get(i).and_then(|v| v.as_str().map(str::to_string));
    let v = match method {
        "lower" => Value::from(s.to_lowercase()),
        "upper" => Value::from(s.to_uppercase()),
        "strip" => Value::from(match arg_str(0) {
            Some(chars) => s.trim_matches(|c| chars.contains(c)).to_string(),
            None => s.trim().to_string(),
        }),
        "lstrip" => Value::from(match arg_str(0) {
            Some(chars) => s.trim_start_matches(|c| chars.contains(c)).to_string(),
            None => s.trim_start().to_string(),
        }),
        "rstrip" => Value::from(match arg_str(0) {
            Some(chars) => s.trim_end_matches(|c| chars.contains(c)).to_string(),
            None => s.trim_end().to_string(),
        }),
        "startswith" => Value::from(starts_or_ends(s, args, true)),
        "endswith" => Value::from(starts_or_ends(s, args, false)),
        "replace" => match (arg_str(0), arg_str(1)) {
            (Some(a), Some(b)) => match args.get(2).and_then(|n| i64::try_from(n.clone()).ok()) {
                Some(n) if n >= 0 => Value::from(s.replacen(&a, &b, n as usize)),
                _ => Value::from(s.replace(&a, &b)),
            },
            _ => return None,
        },
        "split" => {
            let parts: Vec<Value> = match arg_str(0) {
                Some(sep) => match args.get(1).and_then(|n| i64::try_from(n.clone()).ok()) {
                    Some(n) if n >= 0 => s.splitn(n as usize + 1, &sep).map(Value::from).collect(),
                    _ => s.split(&sep).map(Value::from).collect(),
                },
                None => s.split_whitespace().map(Value::from).collect(),
            };
            PyList::from_vec(parts)
        }
        "rsplit" => {
            let sep = arg_str(0)?;
            let mut parts: Vec<Value> =
                match args.get(1).and_then(|n| i64::try_from(n.clone()).ok()) {
                    Some(n) if n >= 0 => s.rsplitn(n as usize + 1, &sep).map(Value::from).collect(),
                    _ => s.rsplit(&sep).map(Value::from).collect(),
                };
            parts.reverse();
            PyList::from_vec(parts)
        }
        "join" => {
            let items: Vec<String> = match args.first()?.try_iter() {
                Ok(it) => it.map(|x| x.to_string()).collect(),
                Err(e) => return Some(Err(e)),
            };
            Value::from(items.join(s))
        }
        "find" => Value::from(
            s.find(&arg_str(0)?)
                .map(|i| s[..i].chars().count() as i64)
                .unwrap_or(-1),
        ),
        "count" => Value::from(s.matches(&arg_str(0)?).count()),
        "title" => Value::from(title_case(s)),
        "capitalize" => {
            let mut c = s.chars();
            Value::from(match c.next() {
                Some(first) => {
                    first.to_uppercase().collect::<String>() + &c.as_str().to_lowercase()
                }
                None => String::new(),
            })
        }
        "isdigit" | "isnumeric" | "isdecimal" => {
            Value::from(!s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
        }
        "isalpha" => Value::from(!s.is_empty() && s.chars().all(char::is_alphabetic)),
        "isalnum" => Value::from(!s.is_empty() && s.chars().all(char::is_alphanumeric)),
        "islower" => {
            Value::from(s.chars().any(char::is_lowercase) && !s.chars().any(char::is_uppercase))
        }
        "isupper" => {
            Value::from(s.chars().any(char::is_uppercase) && !s.chars().any(char::is_lowercase))
        }
        "isspace" => Value::from(!s.is_empty() && s.chars().all(char::is_whitespace)),
        "zfill" => {
            let width = usize::try_from(args.first()?.clone()).ok()?;
            let n = s.chars().count();
            Value::from(if n >= width {
                s.to_string()
            } else {
                "0".repeat(width - n) + s
            })
        }
        "format" => return Some(py_format(s, args).map(Value::from)),
        _ => return None,
    };
    Some(Ok(v))
}

fn starts_or_ends(s: &str, args: &[Value], start: bool) -> bool {
    let test = |p: &str| {
        if start {
            s.starts_with(p)
        } else {
            s.ends_with(p)
        }
    };
    match args.first() {
        Some(v) if v.kind() == ValueKind::String => test(v.as_str().unwrap_or_default()),
        Some(v) => v
            .try_iter()
            .map(|mut it| it.any(|p| test(p.as_str().unwrap_or_default())))
            .unwrap_or(false),
        None => false,
    }
}

fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_alpha = false;
    for c in s.chars() {
        if prev_alpha {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        prev_alpha = c.is_alphabetic();
    }
    out
}

/// Python's `str.format` for `{}`, `{0}` and `{name}` fields (no format specs beyond none).
fn py_format(s: &str, args: &[Value]) -> Result<String, Error> {
    let (positional, named) = split_kwargs(args)?;
    let mut out = String::new();
    let mut auto = 0usize;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut field = String::new();
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    field.push(c);
                }
                let name = field.split(':').next().unwrap_or("").trim();
                let value = if name.is_empty() {
                    auto += 1;
                    positional.get(auto - 1).cloned()
                } else if let Ok(i) = name.parse::<usize>() {
                    positional.get(i).cloned()
                } else {
                    named
                        .iter()
                        .find(|(k, _)| k.as_str() == Some(name))
                        .map(|(_, v)| v.clone())
                };
                let value = value.ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("str.format(): no argument for {{{field}}}"),
                    )
                })?;
                out.push_str(&value.to_string());
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// Methods on values that are not Kiln's own objects: Python's string methods, and dict and list
/// reading methods on immutable maps and sequences (from `fromjson`, `var()` and the like).
pub fn unknown_method(
    _state: &State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if let Some(s) = value.as_str()
        && let Some(r) = string_method(s, method, args)
    {
        return r;
    }
    match value.kind() {
        ValueKind::Map => match method {
            "items" | "keys" | "values" | "get" | "copy" => {
                // Read through a mutable copy: same answers, and `copy()` gives a dict to change.
                let copy = fresh_shallow(value);
                copy.call_method(_state, method, args)
            }
            "update" | "setdefault" | "pop" | "popitem" | "clear" => Err(immutable(method, "dict")),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        },
        ValueKind::Seq => match method {
            "index" | "count" | "copy" => fresh_shallow(value).call_method(_state, method, args),
            "append" | "extend" | "insert" | "pop" | "remove" | "clear" | "reverse" | "sort" => {
                Err(immutable(method, "list"))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        },
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

fn fresh_shallow(v: &Value) -> Value {
    match v.kind() {
        ValueKind::Map => PyDict::from_pairs(
            v.try_iter()
                .map(|keys| {
                    keys.map(|k| {
                        let val = v.get_item(&k).unwrap_or_default();
                        (k, val)
                    })
                    .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        ),
        _ => PyList::from_vec(v.try_iter().map(|it| it.collect()).unwrap_or_default()),
    }
}

fn immutable(method: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "cannot {method}() this {what}: it comes from outside the template (a var, config or \
             JSON value); copy it first, e.g. `{{% set x = x.copy() %}}`"
        ),
    )
}

/// JSON as Python's `json.dumps` writes it (dbt's `tojson`, and dbt's log lines): `", "` between
/// items and `": "` after keys.
pub fn python_json(v: &impl serde::Serialize) -> Result<String, serde_json::Error> {
    struct PyFormatter;
    impl serde_json::ser::Formatter for PyFormatter {
        fn begin_array_value<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first {
                Ok(())
            } else {
                writer.write_all(b", ")
            }
        }
        fn begin_object_key<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first {
                Ok(())
            } else {
                writer.write_all(b", ")
            }
        }
        fn begin_object_value<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
        ) -> std::io::Result<()> {
            writer.write_all(b": ")
        }
    }
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
    v.serialize(&mut ser)?;
    Ok(String::from_utf8(out).unwrap_or_default())
}
