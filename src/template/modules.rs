//! The Python modules dbt exposes to templates (`modules.re`, `modules.datetime`,
//! `modules.itertools`), `api.Relation` / `api.Column`, and the column objects that
//! `adapter.get_columns_in_relation` returns.

use super::relation::{Relation, RelationKind};
use super::values::{PyList, py_repr};
use crate::sql::Dialect;
use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value, from_args};
use minijinja::{Error, ErrorKind, State};
use std::sync::Arc;

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// `modules`: `re`, `datetime`, `itertools`.
pub fn modules() -> Value {
    Value::from_object(Module("modules"))
}

/// A module object; its name says which functions it has.
#[derive(Debug)]
struct Module(&'static str);

/// Reads `datetime(year, month, day, hour=0, ...)` arguments, positional or by keyword.
fn date_parts(args: &[Value], names: &[&str]) -> Result<(Vec<i64>, Option<Value>), Error> {
    let (positional, kwargs) = match args.last() {
        Some(v) if v.is_kwargs() => (&args[..args.len() - 1], Some(Kwargs::try_from(v.clone())?)),
        _ => (args, None),
    };
    let mut parts = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let v = match positional.get(i) {
            Some(v) => Some(v.clone()),
            None => match &kwargs {
                Some(k) => k.get::<Option<Value>>(name)?,
                None => None,
            },
        };
        parts.push(
            v.and_then(|v| v.as_i64())
                .unwrap_or(if i < 3 { 1 } else { 0 }),
        );
    }
    let tz = match &kwargs {
        Some(k) => k.get::<Option<Value>>("tzinfo")?,
        None => None,
    }
    .or_else(|| positional.get(names.len()).cloned());
    Ok((parts, tz))
}

impl Object for Module {
    fn call(self: &Arc<Self>, _state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let bad = || invalid("not a valid date");
        match self.0 {
            "datetime.date" => {
                let (p, _) = date_parts(args, &["year", "month", "day"])?;
                let d = chrono::NaiveDate::from_ymd_opt(p[0] as i32, p[1] as u32, p[2] as u32)
                    .ok_or_else(bad)?;
                Ok(Value::from_object(Date(d)))
            }
            "datetime.datetime" => {
                let names = [
                    "year",
                    "month",
                    "day",
                    "hour",
                    "minute",
                    "second",
                    "microsecond",
                ];
                let (p, tz) = date_parts(args, &names)?;
                let t = chrono::NaiveDate::from_ymd_opt(p[0] as i32, p[1] as u32, p[2] as u32)
                    .and_then(|d| {
                        d.and_hms_micro_opt(p[3] as u32, p[4] as u32, p[5] as u32, p[6] as u32)
                    })
                    .ok_or_else(bad)?;
                let tz = tz.and_then(|z| z.downcast_object_ref::<TimeZone>().map(|z| z.0.clone()));
                Ok(Value::from_object(DateTime(t, tz)))
            }
            _ => Err(invalid(format!("modules.{} is not callable", self.0))),
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        match (self.0, key) {
            ("modules", "re") => Some(Value::from_object(Module("re"))),
            ("modules", "datetime") => Some(Value::from_object(Module("datetime"))),
            ("modules", "itertools") => Some(Value::from_object(Module("itertools"))),
            ("modules", "pytz") => Some(Value::from_object(Module("pytz"))),
            ("pytz", "utc" | "UTC") => Some(Value::from_object(TimeZone("UTC".into()))),
            ("datetime", "datetime") => Some(Value::from_object(Module("datetime.datetime"))),
            ("datetime", "date") => Some(Value::from_object(Module("datetime.date"))),
            ("re", "IGNORECASE" | "I") => Some(Value::from(2)),
            ("re", "MULTILINE" | "M") => Some(Value::from(8)),
            ("re", "DOTALL" | "S") => Some(Value::from(16)),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match self.0 {
            "re" => re_call(method, args),
            "datetime.datetime" => match method {
                "now" | "utcnow" => Ok(DateTime::value(if method == "now" {
                    chrono::Local::now().naive_local()
                } else {
                    chrono::Utc::now().naive_utc()
                })),
                "strptime" => {
                    let (text, format): (String, String) = from_args(args)?;
                    chrono::NaiveDateTime::parse_from_str(&text, &format)
                        .or_else(|_| {
                            chrono::NaiveDate::parse_from_str(&text, &format)
                                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                        })
                        .map(DateTime::value)
                        .map_err(|e| invalid(format!("strptime: {e}")))
                }
                _ => Err(Error::from(ErrorKind::UnknownMethod)),
            },
            "datetime.date" => match method {
                "today" => Ok(Value::from_object(Date(chrono::Local::now().date_naive()))),
                _ => Err(Error::from(ErrorKind::UnknownMethod)),
            },
            "pytz" => match method {
                "timezone" => {
                    let (name,): (String,) = from_args(args)?;
                    Ok(Value::from_object(TimeZone(name)))
                }
                _ => Err(Error::from(ErrorKind::UnknownMethod)),
            },
            "itertools" => itertools_call(method, args),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// A `datetime.datetime`, with the name of its time zone when it has one (Kiln carries no
/// time-zone database: the wall-clock time is kept, and only UTC renders an offset).
#[derive(Debug)]
struct DateTime(chrono::NaiveDateTime, Option<String>);

impl DateTime {
    fn value(t: chrono::NaiveDateTime) -> Value {
        Value::from_object(DateTime(t, None))
    }
}

/// A `pytz` time zone, by name.
#[derive(Debug)]
struct TimeZone(String);

impl Object for TimeZone {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "zone" => Some(Value::from(self.0.clone())),
            _ => None,
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `datetime.date`.
#[derive(Debug)]
struct Date(chrono::NaiveDate);

impl Object for Date {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        use chrono::Datelike;
        Some(Value::from(match key.as_str()? {
            "year" => self.0.year() as i64,
            "month" => self.0.month() as i64,
            "day" => self.0.day() as i64,
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        use chrono::Datelike;
        match method {
            "strftime" => {
                let (format,): (String,) = from_args(args)?;
                Ok(Value::from(self.0.format(&format).to_string()))
            }
            "isoformat" => Ok(Value::from(self.0.format("%Y-%m-%d").to_string())),
            "weekday" => Ok(Value::from(self.0.weekday().num_days_from_monday() as i64)),
            "isoweekday" => Ok(Value::from(self.0.weekday().number_from_monday() as i64)),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl Object for DateTime {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        use chrono::{Datelike, Timelike};
        Some(Value::from(match key.as_str()? {
            "year" => self.0.year() as i64,
            "month" => self.0.month() as i64,
            "day" => self.0.day() as i64,
            "hour" => self.0.hour() as i64,
            "minute" => self.0.minute() as i64,
            "second" => self.0.second() as i64,
            "microsecond" => (self.0.nanosecond() / 1000) as i64,
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "strftime" => {
                let (format,): (String,) = from_args(args)?;
                Ok(Value::from(self.0.format(&format).to_string()))
            }
            "isoformat" => Ok(Value::from(
                self.0.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
            )),
            "date" => Ok(Value::from_object(Date(self.0.date()))),
            "astimezone" | "replace" => Ok(Value::from_object(DateTime(self.0, self.1.clone()))),
            "timestamp" => Ok(Value::from(self.0.and_utc().timestamp() as f64)),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Python omits the fraction when it is zero.
        let text = if self.0.and_utc().timestamp_subsec_micros() == 0 {
            self.0.format("%Y-%m-%d %H:%M:%S").to_string()
        } else {
            self.0.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
        };
        f.write_str(&text)?;
        match self.1.as_deref() {
            Some("UTC") => f.write_str("+00:00"),
            _ => Ok(()),
        }
    }
}

/// `run_started_at`, a datetime in UTC.
pub fn run_started_at(t: &chrono::DateTime<chrono::Utc>) -> Value {
    DateTime::value(t.naive_utc())
}

/// Translates a Python regex and its flags into a `regex::Regex`.
fn regex(pattern: &str, flags: i64) -> Result<regex::Regex, Error> {
    let mut prefix = String::new();
    if flags & 2 != 0 {
        prefix.push('i');
    }
    if flags & 8 != 0 {
        prefix.push('m');
    }
    if flags & 16 != 0 {
        prefix.push('s');
    }
    let full = if prefix.is_empty() {
        pattern.to_string()
    } else {
        format!("(?{prefix}){pattern}")
    };
    regex::Regex::new(&full).map_err(|e| invalid(format!("invalid regular expression: {e}")))
}

/// Python's `\1` / `\g<name>` group references in a replacement, as `regex` writes them.
fn replacement(repl: &str) -> String {
    let mut out = String::new();
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut n = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        n.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                Some('g') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                    }
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

fn flags_of(kwargs: &Option<Kwargs>, positional: Option<&Value>) -> Result<i64, Error> {
    if let Some(v) = positional {
        return Ok(v.as_i64().unwrap_or(0));
    }
    match kwargs {
        Some(k) => Ok(k.get::<Option<i64>>("flags")?.unwrap_or(0)),
        None => Ok(0),
    }
}

fn re_call(method: &str, args: &[Value]) -> Result<Value, Error> {
    let (positional, kwargs) = match args.last() {
        Some(v) if v.is_kwargs() => (&args[..args.len() - 1], Some(Kwargs::try_from(v.clone())?)),
        _ => (args, None),
    };
    let text = |i: usize| -> Result<String, Error> {
        positional
            .get(i)
            .map(|v| v.to_string())
            .ok_or_else(|| invalid(format!("re.{method}() is missing an argument")))
    };
    match method {
        "compile" => {
            let flags = flags_of(&kwargs, positional.get(1))?;
            Ok(Value::from_object(Pattern(regex(&text(0)?, flags)?)))
        }
        "escape" => Ok(Value::from(regex::escape(&text(0)?))),
        _ => {
            let flags_pos = if method == "sub" { 4 } else { 2 };
            let flags = flags_of(&kwargs, positional.get(flags_pos))?;
            let re = regex(&text(0)?, flags)?;
            let rest: Vec<Value> = positional[1..].to_vec();
            let mut rest = rest;
            if let Some(k) = kwargs {
                if let Some(c) = k.get::<Option<Value>>("count")? {
                    while rest.len() < 2 {
                        rest.push(Value::from(()));
                    }
                    rest.insert(2, c);
                }
                let _ = k.get::<Option<i64>>("flags")?;
            }
            pattern_call(&re, method, &rest)
        }
    }
}

/// A compiled regular expression.
#[derive(Debug)]
struct Pattern(regex::Regex);

impl Object for Pattern {
    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        pattern_call(&self.0, method, args)
    }
}

fn pattern_call(re: &regex::Regex, method: &str, args: &[Value]) -> Result<Value, Error> {
    let arg = |i: usize| args.get(i).map(|v| v.to_string()).unwrap_or_default();
    match method {
        "sub" => {
            let (repl, s) = (arg(0), arg(1));
            let count = args.get(2).and_then(Value::as_i64).unwrap_or(0);
            let repl = replacement(&repl);
            Ok(Value::from(if count > 0 {
                re.replacen(&s, count as usize, repl.as_str()).into_owned()
            } else {
                re.replace_all(&s, repl.as_str()).into_owned()
            }))
        }
        "search" | "match" | "fullmatch" => {
            let s = arg(0);
            let caps = re.captures(&s);
            let caps = caps.filter(|c| {
                let m = c.get(0).map(|m| (m.start(), m.end())).unwrap_or((1, 0));
                match method {
                    "match" => m.0 == 0,
                    "fullmatch" => m.0 == 0 && m.1 == s.len(),
                    _ => true,
                }
            });
            Ok(match caps {
                Some(c) => Value::from_object(Match(
                    (0..c.len())
                        .map(|i| {
                            c.get(i)
                                .map(|m| (m.as_str().to_string(), m.start(), m.end()))
                        })
                        .collect(),
                )),
                None => Value::from(()),
            })
        }
        "findall" => {
            let s = arg(0);
            let items: Vec<Value> = re
                .captures_iter(&s)
                .map(|c| match c.len() {
                    1 => Value::from(c.get(0).map(|m| m.as_str()).unwrap_or("")),
                    2 => Value::from(c.get(1).map(|m| m.as_str()).unwrap_or("")),
                    n => Value::from(
                        (1..n)
                            .map(|i| Value::from(c.get(i).map(|m| m.as_str()).unwrap_or("")))
                            .collect::<Vec<_>>(),
                    ),
                })
                .collect();
            Ok(PyList::from_vec(items))
        }
        "split" => Ok(PyList::from_vec(
            re.split(&arg(0)).map(Value::from).collect(),
        )),
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

/// A regex match: groups as (text, start, end).
#[derive(Debug)]
struct Match(Vec<Option<(String, usize, usize)>>);

impl Object for Match {
    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let group = |i: usize| -> Value {
            match self.0.get(i) {
                Some(Some((s, _, _))) => Value::from(s.clone()),
                _ => Value::from(()),
            }
        };
        match method {
            "group" => {
                let i = args.first().and_then(Value::as_i64).unwrap_or(0) as usize;
                Ok(group(i))
            }
            "groups" => Ok(Value::from(
                (1..self.0.len()).map(group).collect::<Vec<_>>(),
            )),
            "start" | "end" => {
                let i = args.first().and_then(Value::as_i64).unwrap_or(0) as usize;
                Ok(match self.0.get(i) {
                    Some(Some((_, s, e))) => Value::from(if method == "start" { *s } else { *e }),
                    _ => Value::from(-1),
                })
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

fn itertools_call(method: &str, args: &[Value]) -> Result<Value, Error> {
    let lists: Vec<Vec<Value>> = args
        .iter()
        .filter(|a| !a.is_kwargs())
        .map(|a| a.try_iter().map(|it| it.collect()))
        .collect::<Result<_, _>>()?;
    match method {
        "chain" => Ok(PyList::from_vec(lists.into_iter().flatten().collect())),
        "product" => {
            let mut out: Vec<Vec<Value>> = vec![Vec::new()];
            for list in &lists {
                out = out
                    .into_iter()
                    .flat_map(|prefix| {
                        list.iter().map(move |x| {
                            let mut p = prefix.clone();
                            p.push(x.clone());
                            p
                        })
                    })
                    .collect();
            }
            Ok(PyList::from_vec(out.into_iter().map(Value::from).collect()))
        }
        "combinations" => {
            let items = lists.first().cloned().unwrap_or_default();
            let r = args.get(1).and_then(Value::as_i64).unwrap_or(2) as usize;
            let mut out = Vec::new();
            combinations(&items, r, 0, &mut Vec::new(), &mut out);
            Ok(PyList::from_vec(out))
        }
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

fn combinations(
    items: &[Value],
    r: usize,
    start: usize,
    cur: &mut Vec<Value>,
    out: &mut Vec<Value>,
) {
    if cur.len() == r {
        out.push(Value::from(cur.clone()));
        return;
    }
    for i in start..items.len() {
        cur.push(items[i].clone());
        combinations(items, r, i + 1, cur, out);
        cur.pop();
    }
}

/// `api`: `api.Relation.create(...)` and `api.Column(...)`.
pub fn api(dialect: Dialect) -> Value {
    Value::from_object(Api {
        dialect,
        what: "api",
    })
}

#[derive(Debug)]
struct Api {
    dialect: Dialect,
    what: &'static str,
}

impl Object for Api {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match (self.what, key.as_str()?) {
            ("api", "Relation") => Some(Value::from_object(Api {
                dialect: self.dialect,
                what: "Relation",
            })),
            ("api", "Column") => Some(Value::from_object(Api {
                dialect: self.dialect,
                what: "Column",
            })),
            _ => None,
        }
    }

    fn call(self: &Arc<Self>, _state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        match self.what {
            "Column" => {
                let (name, dtype): (String, Option<String>) = match args.last() {
                    Some(v) if v.is_kwargs() => {
                        let k = Kwargs::try_from(v.clone())?;
                        let name = match args.first().filter(|a| !a.is_kwargs()) {
                            Some(n) => n.to_string(),
                            None => k.get("column")?,
                        };
                        (name, k.get("dtype")?)
                    }
                    _ => from_args(args)?,
                };
                Ok(column(name, dtype.unwrap_or_default(), self.dialect))
            }
            _ => Err(invalid(
                "api.Relation is not callable; use api.Relation.create(...)",
            )),
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match (self.what, method) {
            ("Relation", "create") => {
                let (kwargs,): (Kwargs,) = from_args(args)?;
                let text = |k: &str| -> Result<Option<String>, Error> {
                    Ok(kwargs
                        .get::<Option<Value>>(k)?
                        .filter(|v| !v.is_none() && !v.is_undefined())
                        .map(|v| v.to_string()))
                };
                let database = text("database")?;
                let schema = text("schema")?.unwrap_or_default();
                let identifier = text("identifier")?.unwrap_or_default();
                let kind = match text("type")?.as_deref() {
                    Some("table") => RelationKind::Table,
                    Some("view") => RelationKind::View,
                    Some("cte") => RelationKind::Cte,
                    _ => RelationKind::External,
                };
                Ok(Relation::new(database, &schema, &identifier, kind, self.dialect).into_value())
            }
            ("Column", "translate_type") => {
                let (dtype,): (String,) = from_args(args)?;
                Ok(Value::from(match dtype.to_uppercase().as_str() {
                    "STRING" => "TEXT".to_string(),
                    "TIMESTAMP" => "TIMESTAMP".to_string(),
                    "FLOAT" => "FLOAT".to_string(),
                    "INTEGER" => "INT".to_string(),
                    "BOOLEAN" => "BOOLEAN".to_string(),
                    _ => dtype,
                }))
            }
            ("Column", "numeric_type") => {
                let (dtype, precision, scale): (String, Option<Value>, Option<Value>) =
                    from_args(args)?;
                Ok(Value::from(match (precision, scale) {
                    (Some(p), Some(s)) if !p.is_none() && !s.is_none() => {
                        format!("{dtype}({p},{s})")
                    }
                    _ => dtype,
                }))
            }
            ("Column", "string_type") => {
                let (size,): (i64,) = from_args(args)?;
                Ok(Value::from(format!("character varying({size})")))
            }
            ("Column", "create") => {
                let (name, dtype): (String, String) = from_args(args)?;
                Ok(column(name, dtype, self.dialect))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// A column as dbt's `Column` class presents it.
pub fn column(name: String, dtype: String, dialect: Dialect) -> Value {
    Value::from_object(ColumnInfo {
        name,
        dtype,
        dialect,
    })
}

#[derive(Debug)]
struct ColumnInfo {
    name: String,
    dtype: String,
    dialect: Dialect,
}

impl ColumnInfo {
    fn lower(&self) -> String {
        self.dtype.to_lowercase()
    }

    fn is_string(&self) -> bool {
        let t = self.lower();
        ["char", "text", "string", "clob"]
            .iter()
            .any(|s| t.contains(s))
    }

    fn is_integer(&self) -> bool {
        let t = self.lower();
        t.contains("int") && !t.contains("interval") && !t.contains("point")
    }

    fn is_float(&self) -> bool {
        let t = self.lower();
        ["real", "float", "double"].iter().any(|s| t.contains(s))
    }

    fn is_numeric(&self) -> bool {
        let t = self.lower();
        t.starts_with("numeric") || t.starts_with("decimal")
    }

    /// The size in `varchar(n)`, if any.
    fn size(&self) -> Option<i64> {
        let open = self.dtype.find('(')?;
        let close = self.dtype[open..].find(')')? + open;
        self.dtype[open + 1..close]
            .split(',')
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// The type as dbt renders it for DDL (`character varying(n)` and the like).
    fn data_type(&self) -> String {
        self.dtype.clone()
    }
}

impl Object for ColumnInfo {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "name" | "column" => Value::from(self.name.clone()),
            "quoted" => Value::from(self.dialect.quote(&self.name)),
            "dtype" => Value::from(self.dtype.clone()),
            "data_type" => Value::from(self.data_type()),
            "char_size" => self.size().map(Value::from).unwrap_or_default(),
            "numeric_precision" | "numeric_scale" => Value::from(()),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["name", "column", "quoted", "dtype", "data_type"])
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        Ok(match method {
            "is_string" => Value::from(self.is_string()),
            "is_integer" => Value::from(self.is_integer()),
            "is_float" => Value::from(self.is_float()),
            "is_numeric" => Value::from(self.is_numeric()),
            "is_number" => Value::from(self.is_integer() || self.is_float() || self.is_numeric()),
            "string_size" => {
                if !self.is_string() {
                    return Err(invalid(format!(
                        "string_size() called on non-string column {}",
                        self.name
                    )));
                }
                Value::from(self.size().unwrap_or(256))
            }
            "string_type" => {
                let (size,): (i64,) = from_args(args)?;
                Value::from(format!("character varying({size})"))
            }
            "can_expand_to" => Value::from(false),
            "literal" => {
                let (v,): (Value,) = from_args(args)?;
                Value::from(format!("{}::{}", py_repr(&v), self.dtype))
            }
            _ => return Err(Error::from(ErrorKind::UnknownMethod)),
        })
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Column {} ({})>", self.name, self.dtype)
    }
}
