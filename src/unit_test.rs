//! Unit tests, the pure half: a model rendered on fixed inputs, and its rows compared with the
//! expected ones.
//!
//! Nothing upstream is built: every `ref`, `source` and `this` the model reads is given rows in
//! the test, and each becomes a CTE of typed literals (types from what Kiln knows of the upstream
//! columns: YAML `data_type`s, and a seed's columns). [`plan`] returns the SQL to run and the rows
//! to expect; the executor runs it ([`crate::exec`]) and [`compare`] decides, as dbt does, on the
//! expected columns only and regardless of row order.

use crate::compile::Manifest;
use crate::error::{Diagnostic, ErrorKind, Location};
use crate::project::{ResourceType, UnitTest, UnitTestData};
use crate::sql::Dialect;
use crate::template::{
    Database, Overrides, QueryTable, Relation, RelationKind, RenderRequest, Resolve, Unresolved,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a unit test runs and expects.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The model under test.
    pub model_id: String,
    /// The model's SQL reading the given rows.
    pub sql: String,
    /// The rows it must return.
    pub expect: Expected,
}

/// A unit test's expected rows: written out, or a query (the `sql` format).
#[derive(Debug, Clone)]
pub enum Expected {
    /// Rows as written (`dict` and `csv`).
    Rows(QueryTable),
    /// A `select` that returns them.
    Sql(String),
}

/// The model a unit test is about, by the name it gives.
pub fn model_of(manifest: &Manifest, unit: &UnitTest) -> Option<String> {
    let models = || {
        manifest
            .nodes
            .values()
            .filter(|mn| mn.node.resource_type == ResourceType::Model && mn.node.name == unit.model)
    };
    models()
        .find(|mn| mn.node.package_name == unit.package_name)
        .or_else(|| models().next())
        .map(|mn| mn.node.unique_id.clone())
}

fn error(unit: &UnitTest, message: String, hint: &str) -> Diagnostic {
    Diagnostic::new(ErrorKind::Execution, message)
        .at(Location::file(unit.original_file_path.clone()))
        .with_hint(hint)
}

/// A relation as YAML names it: a unit test's `given:` input, or a foreign key's `to:`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Input {
    Ref {
        package: Option<String>,
        name: String,
    },
    Source {
        source: String,
        table: String,
    },
    This,
}

impl Input {
    /// Reads `ref('x')`, `ref('pkg', 'x')`, `source('s', 't')` or `this`.
    pub(crate) fn parse(text: &str) -> Option<Input> {
        let text = text.trim();
        if text == "this" {
            return Some(Input::This);
        }
        let (func, rest) = text.split_once('(')?;
        let args: Vec<String> = rest
            .trim_end()
            .strip_suffix(')')?
            .split(',')
            .map(|a| a.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
            .filter(|a| !a.is_empty())
            .collect();
        match (func.trim(), args.as_slice()) {
            ("ref", [name]) => Some(Input::Ref {
                package: None,
                name: name.clone(),
            }),
            ("ref", [package, name]) => Some(Input::Ref {
                package: Some(package.clone()),
                name: name.clone(),
            }),
            ("source", [source, table]) => Some(Input::Source {
                source: source.clone(),
                table: table.clone(),
            }),
            _ => None,
        }
    }

    /// The CTE that stands in for it.
    fn cte(&self) -> Relation {
        let name = match self {
            Input::Ref { name, .. } => format!("kiln_unit__{name}"),
            Input::Source { source, table } => format!("kiln_unit__{source}__{table}"),
            Input::This => "kiln_unit__this".to_string(),
        };
        Relation::new(None, "", &name, RelationKind::Cte, Dialect::Sqlite)
    }
}

/// Resolves the model's `ref`s and `source`s to the given inputs' CTEs.
struct Given {
    inputs: Vec<Input>,
}

impl Given {
    fn missing(&self, what: String) -> Unresolved {
        Unresolved {
            message: format!("no rows are given for {what}"),
            hint: format!("add `- input: {what}` with its rows under `given:`"),
        }
    }
}

impl Resolve for Given {
    fn resolve_ref(
        &self,
        _from: &str,
        package: Option<&str>,
        name: &str,
    ) -> Result<Relation, Unresolved> {
        self.inputs
            .iter()
            .find(|i| match i {
                Input::Ref {
                    package: p,
                    name: n,
                } => n == name && (p.is_none() || package.is_none() || p.as_deref() == package),
                _ => false,
            })
            .map(Input::cte)
            .ok_or_else(|| self.missing(format!("ref('{name}')")))
    }

    fn resolve_source(&self, source: &str, table: &str) -> Result<Relation, Unresolved> {
        self.inputs
            .iter()
            .find(
                |i| matches!(i, Input::Source { source: s, table: t } if s == source && t == table),
            )
            .map(Input::cte)
            .ok_or_else(|| self.missing(format!("source('{source}', '{table}')")))
    }
}

/// The columns and types the database reports for each input's relation, by the input as the
/// test writes it (`ref('x')`); an input whose relation does not exist is absent.
pub type Warehouse = BTreeMap<String, Vec<(String, String)>>;

/// The relation each `given:` input stands for, where the project knows one: the executor reads
/// their columns from the database, as dbt does, to type the given rows.
pub fn input_relations(manifest: &Manifest, unit: &UnitTest) -> Vec<(String, Relation)> {
    let Some(model_id) = model_of(manifest, unit) else {
        return Vec::new();
    };
    unit.given
        .iter()
        .filter_map(|g| {
            let relation = input_relation(manifest, &model_id, &Input::parse(&g.input)?)?;
            Some((g.input.trim().to_string(), relation))
        })
        .collect()
}

/// The relation `input` names, read from the node `from`: a ref among its parents, or a source.
pub(crate) fn input_relation(manifest: &Manifest, from: &str, input: &Input) -> Option<Relation> {
    match upstream(manifest, from, input)? {
        Upstream::Node(mn) => mn.relation.clone(),
        Upstream::Source(s) => manifest.source_relations.get(&s.unique_id).cloned(),
    }
}

/// Builds the SQL of `unit` and what it expects. `database` serves templates that query while
/// they render; `warehouse` holds the inputs' columns as the database has them.
pub fn plan(
    manifest: &Manifest,
    unit: &UnitTest,
    database: Option<Arc<dyn Database>>,
    warehouse: &Warehouse,
) -> Result<Plan, Diagnostic> {
    let model_id = model_of(manifest, unit).ok_or_else(|| {
        error(
            unit,
            format!(
                "unit test `{}` is about model `{}`, which does not exist",
                unit.name, unit.model
            ),
            "name an existing model under `model:`",
        )
    })?;
    let mn = &manifest.nodes[&model_id];
    let mut inputs = Vec::new();
    let mut ctes = Vec::new();
    for g in &unit.given {
        let input = Input::parse(&g.input).ok_or_else(|| {
            error(
                unit,
                format!("unit test `{}`: cannot read input `{}`", unit.name, g.input),
                "write `ref('model')`, `source('source', 'table')` or `this`",
            )
        })?;
        let columns = upstream_columns(manifest, &model_id, &input, warehouse.get(g.input.trim()));
        let body = match fixture(manifest, unit, &g.data)? {
            Fixture::Sql(sql) => sql,
            Fixture::Rows(rows) => rows_sql(&rows, &columns, manifest.dialect),
        };
        ctes.push((input.cte().render(), body));
        inputs.push(input);
    }
    let overrides = overrides(unit);
    let is_incremental = overrides
        .macros
        .get("is_incremental")
        .is_some_and(|v| v.as_bool().unwrap_or(false));
    let this = match inputs.contains(&Input::This) {
        true => Some(Input::This.cte()),
        false => mn.relation.clone(),
    };
    let rendered = manifest
        .renderer()
        .render(RenderRequest {
            node: &mn.node,
            config: &mn.node.config,
            this,
            execute: true,
            is_incremental,
            resolver: Arc::new(Given { inputs }),
            database,
            overrides: Some(Arc::new(overrides)),
        })
        .map_err(|d| {
            let mut d = d;
            d.message = format!("unit test `{}`: {}", unit.name, d.message);
            d
        })?;
    let expect = match fixture(manifest, unit, &unit.expect)? {
        Fixture::Rows(rows) => Expected::Rows(rows),
        Fixture::Sql(sql) => Expected::Sql(sql),
    };
    Ok(Plan {
        model_id,
        sql: crate::sql::inject_ctes(&rendered.sql, &ctes),
        expect,
    })
}

/// The `overrides:` of a unit test, as the renderer takes them.
fn overrides(unit: &UnitTest) -> Overrides {
    let map = |key: &str| -> BTreeMap<String, Value> {
        match unit.overrides.get(key) {
            Some(Value::Object(m)) => m.clone().into_iter().collect(),
            _ => BTreeMap::new(),
        }
    };
    Overrides {
        vars: map("vars"),
        env_vars: map("env_vars")
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect(),
        macros: map("macros"),
    }
}

/// What an input reads in the project.
enum Upstream<'a> {
    Node(&'a crate::compile::ManifestNode),
    Source(&'a crate::project::Source),
}

fn upstream<'a>(manifest: &'a Manifest, model_id: &str, input: &Input) -> Option<Upstream<'a>> {
    match input {
        Input::This => manifest.nodes.get(model_id).map(Upstream::Node),
        Input::Ref { name, .. } => manifest
            .nodes
            .get(model_id)?
            .depends_on
            .iter()
            .filter_map(|d| manifest.nodes.get(d))
            .find(|d| &d.node.name == name)
            .map(Upstream::Node),
        Input::Source { source, table } => manifest
            .project
            .sources
            .values()
            .find(|s| &s.source_name == source && &s.name == table)
            .map(Upstream::Source),
    }
}

/// The columns of an input with their types where known: a YAML `data_type` first, then the
/// database's type for the column (`found`), then a seed's `column_types`. Columns only the
/// database knows come after the project's.
fn upstream_columns(
    manifest: &Manifest,
    model_id: &str,
    input: &Input,
    found: Option<&Vec<(String, String)>>,
) -> Vec<(String, Option<String>)> {
    let mut columns: Vec<(String, Option<String>)> = match upstream(manifest, model_id, input) {
        None => Vec::new(),
        Some(Upstream::Source(s)) => s
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type.clone()))
            .collect(),
        Some(Upstream::Node(node)) => {
            let declared: Vec<(String, Option<String>)> = node
                .node
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.data_type.clone()))
                .collect();
            if declared.is_empty() {
                let column_types = node.node.config.get("column_types");
                crate::compile::seed_columns(manifest, node)
                    .or_else(|| node.inferred_columns.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|n| {
                        let t = column_types
                            .and_then(|t| t.get(&n))
                            .and_then(|t| t.as_str())
                            .map(str::to_string);
                        (n, t)
                    })
                    .collect()
            } else {
                declared
            }
        }
    };
    for (name, data_type) in found.into_iter().flatten() {
        let data_type = usable_type(data_type);
        match columns
            .iter_mut()
            .find(|(c, _)| c.eq_ignore_ascii_case(name))
        {
            Some((_, t)) => {
                if t.is_none() {
                    *t = data_type;
                }
            }
            None => columns.push((name.clone(), data_type)),
        }
    }
    columns
}

/// A type the database reported, if a literal can be cast to it.
fn usable_type(t: &str) -> Option<String> {
    let t = t.trim();
    let unusable =
        t.is_empty() || t.eq_ignore_ascii_case("USER-DEFINED") || t.eq_ignore_ascii_case("ARRAY");
    (!unusable).then(|| t.to_string())
}

/// Rows of a fixture: written out, or a query.
enum Fixture {
    Rows(QueryTable),
    Sql(String),
}

/// Reads a `given:` or `expect:` entry in any of dbt's formats, inline or from a fixture file
/// (`<test-path>/fixtures/<name>.csv` or `.sql`).
fn fixture(
    manifest: &Manifest,
    unit: &UnitTest,
    data: &UnitTestData,
) -> Result<Fixture, Diagnostic> {
    let format = data.format.as_str();
    let text = match (&data.fixture, &data.text) {
        (Some(name), _) => Some(read_fixture(manifest, unit, name, format)?),
        (None, Some(text)) => Some(text.clone()),
        (None, None) => None,
    };
    match format {
        "sql" => Ok(Fixture::Sql(text.unwrap_or_default())),
        "csv" => csv_rows(&text.unwrap_or_default())
            .map(Fixture::Rows)
            .map_err(|e| {
                error(
                    unit,
                    format!("unit test `{}`: cannot read its CSV rows: {e}", unit.name),
                    "write a header line, then one line per row",
                )
            }),
        _ => Ok(Fixture::Rows(dict_rows(&data.rows))),
    }
}

fn read_fixture(
    manifest: &Manifest,
    unit: &UnitTest,
    name: &str,
    format: &str,
) -> Result<String, Diagnostic> {
    let file = format!("{name}.{format}");
    let project = &manifest.project;
    let found = project
        .file
        .test_paths
        .iter()
        .map(|p| project.root.join(p).join("fixtures"))
        .filter(|dir| dir.is_dir())
        .flat_map(|dir| {
            walkdir::WalkDir::new(dir)
                .into_iter()
                .filter_map(|e| e.ok())
        })
        .find(|e| e.file_name().to_string_lossy() == file.as_str());
    match found.and_then(|e| std::fs::read_to_string(e.path()).ok()) {
        Some(text) => Ok(text),
        None => Err(error(
            unit,
            format!("unit test `{}`: fixture `{file}` was not found", unit.name),
            "put it under a `fixtures/` folder of a test path (e.g. tests/fixtures/)",
        )),
    }
}

fn dict_rows(rows: &[indexmap::IndexMap<String, Value>]) -> QueryTable {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        for k in row.keys() {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let rows = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| r.get(c).cloned().unwrap_or(Value::Null))
                .collect()
        })
        .collect();
    QueryTable { columns, rows }
}

/// CSV rows: every value a string, an empty one null (the column's type casts them).
fn csv_rows(text: &str) -> Result<QueryTable, csv::Error> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.trim().as_bytes());
    let columns: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        rows.push(
            record
                .iter()
                .map(|v| match v {
                    "" => Value::Null,
                    v => csv_value(v),
                })
                .collect(),
        );
    }
    Ok(QueryTable { columns, rows })
}

/// A `select` of literal rows: the given columns, then the other known upstream columns as
/// nulls, each cast to its declared type where one is known.
fn rows_sql(rows: &QueryTable, known: &[(String, Option<String>)], dialect: Dialect) -> String {
    let type_of = |c: &str| {
        known
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(c))
            .and_then(|(_, t)| t.clone())
    };
    let mut columns: Vec<(String, Option<String>)> = rows
        .columns
        .iter()
        .map(|c| (c.clone(), type_of(c)))
        .collect();
    for (k, t) in known {
        if !columns.iter().any(|(c, _)| c.eq_ignore_ascii_case(k)) {
            columns.push((k.clone(), t.clone()));
        }
    }
    let cell =
        |v: &Value, t: &Option<String>| match t.as_deref().and_then(|t| cast_type(t, dialect)) {
            Some(t) => format!("cast({} as {})", literal(v), t),
            None => literal(v),
        };
    let select = |values: Vec<String>| {
        let items: Vec<String> = values
            .iter()
            .zip(&columns)
            .map(|(v, (c, _))| format!("{v} as {}", dialect.quote(c)))
            .collect();
        format!("select {}", items.join(", "))
    };
    if rows.rows.is_empty() {
        let nulls = columns.iter().map(|(_, t)| cell(&Value::Null, t)).collect();
        return format!("{} where 1 = 0", select(nulls));
    }
    let lines: Vec<String> = rows
        .rows
        .iter()
        .map(|row| {
            let values = columns
                .iter()
                .enumerate()
                .map(|(i, (_, t))| cell(row.get(i).unwrap_or(&Value::Null), t))
                .collect();
            select(values)
        })
        .collect();
    lines.join("\nunion all\n")
}

/// The type to cast a literal to, or none where a cast would change the value: SQLite's
/// `cast('2024-01-03' as date)` is the number 2024, so there dates and times stay text, as
/// SQLite stores them. MySQL casts only to its own short list of types.
fn cast_type(t: &str, dialect: Dialect) -> Option<String> {
    let lower = t.to_ascii_lowercase();
    let base = lower
        .split(['(', ' '])
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    match dialect {
        Dialect::Sqlite => {
            let numeric = ["int", "real", "floa", "doub", "num", "dec", "bool"]
                .iter()
                .any(|k| base.contains(k));
            let clock = ["date", "time"].iter().any(|k| base.contains(k));
            (numeric && !clock).then(|| t.to_string()).or_else(|| {
                (base.contains("char") || base.contains("text") || base.contains("clob"))
                    .then(|| "text".to_string())
            })
        }
        Dialect::MySql => Some(match base.as_str() {
            "int" | "integer" | "bigint" | "smallint" | "tinyint" | "mediumint" | "year"
            | "boolean" | "bool" => match lower.contains("unsigned") {
                true => "unsigned".into(),
                false => "signed".into(),
            },
            "varchar" | "text" | "string" | "longtext" | "mediumtext" | "tinytext" | "enum"
            | "set" | "json" => "char".into(),
            "numeric" | "decimal" => t.split_whitespace().next().unwrap_or(t).to_string(),
            "float" | "double" | "real" => "double".into(),
            "timestamp" => "datetime".into(),
            _ => t.to_string(),
        }),
        Dialect::Postgres => Some(t.to_string()),
    }
}

/// A CSV value: text that is plainly a number is read as one, as the database would read a
/// seed's column; text with a leading zero (`02134`) stays text. (Dict rows keep YAML's own
/// types: a quoted `'94110'` is text.)
fn csv_value(s: &str) -> Value {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let numeric = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && (int == "0" || !int.starts_with('0'))
        && !(digits.contains('.') && frac.is_empty());
    match numeric {
        true => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string())),
        false => Value::String(s.to_string()),
    }
}

/// A value as a SQL literal.
fn literal(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    }
}

/// The outcome of comparing a model's rows with the expected ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Rows that differ: expected rows with no equal actual row, or actual rows nobody
    /// expected, whichever are more.
    pub differences: usize,
    /// A table of the rows that differ, for the failure message (empty when they agree).
    pub report: String,
}

/// Compares `actual` with `expected` on the expected columns, ignoring row order. Values are
/// equal when they are the same number, the same boolean (1 and 0 count), or the same text.
pub fn compare(expected: &QueryTable, actual: &QueryTable) -> Result<Comparison, String> {
    let mut index = Vec::new();
    for c in &expected.columns {
        match actual
            .columns
            .iter()
            .position(|a| a.eq_ignore_ascii_case(c))
        {
            Some(i) => index.push(i),
            None => {
                return Err(format!(
                    "the model returns no column `{c}` (it returns {})",
                    actual.columns.join(", ")
                ));
            }
        }
    }
    let project = |row: &Vec<Value>| -> Vec<Value> {
        index
            .iter()
            .map(|i| row.get(*i).cloned().unwrap_or(Value::Null))
            .collect()
    };
    let mut unmatched: Vec<Vec<Value>> = actual.rows.iter().map(project).collect();
    let mut missing: Vec<&Vec<Value>> = Vec::new();
    for row in &expected.rows {
        match unmatched.iter().position(|a| rows_equal(row, a)) {
            Some(i) => {
                unmatched.remove(i);
            }
            None => missing.push(row),
        }
    }
    // Each expected row without its equal is shown beside the actual row closest to it, so the
    // rows that differ are as many as the longer of the two lists.
    let differences = missing.len().max(unmatched.len());
    if differences == 0 {
        return Ok(Comparison {
            differences,
            report: String::new(),
        });
    }
    Ok(Comparison {
        differences,
        report: diff_table(&expected.columns, &missing, unmatched),
    })
}

/// Expected rows beside the actual rows closest to them, differing cells marked `≠`; rows with
/// no counterpart say so.
fn diff_table(columns: &[String], missing: &[&Vec<Value>], mut extra: Vec<Vec<Value>>) -> String {
    let mut builder = tabled::builder::Builder::default();
    let mut header = vec!["".to_string()];
    header.extend(columns.iter().cloned());
    builder.push_record(header);
    let text = |v: &Value| match v {
        Value::Null => "null".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for row in missing {
        let closest = (0..extra.len()).max_by_key(|i| {
            row.iter()
                .zip(&extra[*i])
                .filter(|(a, b)| values_equal(a, b))
                .count()
        });
        let mut exp = vec!["expected".to_string()];
        exp.extend(row.iter().map(text));
        builder.push_record(exp);
        match closest {
            Some(i) => {
                let got = extra.remove(i);
                let mut act = vec!["actual".to_string()];
                act.extend(row.iter().zip(&got).map(|(e, a)| match values_equal(e, a) {
                    true => text(a),
                    false => format!("≠ {}", text(a)),
                }));
                builder.push_record(act);
            }
            None => {
                let mut act = vec!["actual".to_string()];
                act.extend(row.iter().map(|_| "(no row)".to_string()));
                builder.push_record(act);
            }
        }
    }
    for row in extra {
        let mut exp = vec!["expected".to_string()];
        exp.extend(row.iter().map(|_| "(no row)".to_string()));
        builder.push_record(exp);
        let mut act = vec!["actual".to_string()];
        act.extend(row.iter().map(|v| format!("≠ {}", text(v))));
        builder.push_record(act);
    }
    let mut table = builder.build();
    table.with(tabled::settings::Style::psql());
    table.to_string()
}

fn rows_equal(expected: &[Value], actual: &[Value]) -> bool {
    expected.len() == actual.len() && expected.iter().zip(actual).all(|(e, a)| values_equal(e, a))
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

fn values_equal(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Bool(e), a) => match a {
            Value::Bool(a) => e == a,
            Value::String(s) => {
                let s = s.to_ascii_lowercase();
                (*e && (s == "true" || s == "t" || s == "1"))
                    || (!*e && (s == "false" || s == "f" || s == "0"))
            }
            a => number(a) == Some(if *e { 1.0 } else { 0.0 }),
        },
        (e, a) => match (number(e), number(a)) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
            _ => same_text(&text_of(e), &text_of(a)),
        },
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Text equal as written, or as the same timestamp (`T` or a space, trailing zero fractions
/// or a UTC offset of zero).
fn same_text(e: &str, a: &str) -> bool {
    fn norm(s: &str) -> String {
        let mut s = s.trim().replacen('T', " ", 1);
        for suffix in ["+00:00", "Z", "+00"] {
            if let Some(x) = s.strip_suffix(suffix) {
                s = x.to_string();
            }
        }
        if let Some((head, frac)) = s.split_once('.')
            && frac.bytes().all(|b| b.is_ascii_digit())
        {
            let frac = frac.trim_end_matches('0');
            s = match frac.is_empty() {
                true => head.to_string(),
                false => format!("{head}.{frac}"),
            };
        }
        s.strip_suffix(" 00:00:00").map(str::to_string).unwrap_or(s)
    }
    e == a || norm(e) == norm(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(columns: &[&str], rows: Vec<Vec<Value>>) -> QueryTable {
        QueryTable {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
        }
    }

    #[test]
    fn literals_are_cast_only_where_the_cast_keeps_the_value() {
        // SQLite would turn '2024-03-15' cast as date into 2024: dates stay text there.
        assert_eq!(cast_type("date", Dialect::Sqlite), None);
        assert_eq!(cast_type("TIMESTAMP", Dialect::Sqlite), None);
        assert_eq!(cast_type("INT", Dialect::Sqlite).as_deref(), Some("INT"));
        assert_eq!(
            cast_type("varchar(20)", Dialect::Sqlite).as_deref(),
            Some("text")
        );
        assert_eq!(
            cast_type("bigint(20) unsigned", Dialect::MySql).as_deref(),
            Some("unsigned")
        );
        assert_eq!(
            cast_type("decimal(10,2)", Dialect::MySql).as_deref(),
            Some("decimal(10,2)")
        );
        assert_eq!(cast_type("json", Dialect::MySql).as_deref(), Some("char"));
        assert_eq!(
            cast_type("timestamp without time zone", Dialect::Postgres).as_deref(),
            Some("timestamp without time zone")
        );
        assert_eq!(usable_type("USER-DEFINED"), None);
        assert_eq!(usable_type(""), None);
    }

    #[test]
    fn inputs_are_read_as_written() {
        assert_eq!(
            Input::parse("ref('stg_orders')"),
            Some(Input::Ref {
                package: None,
                name: "stg_orders".into()
            })
        );
        assert_eq!(
            Input::parse(" source(\"raw\", 'orders') "),
            Some(Input::Source {
                source: "raw".into(),
                table: "orders".into()
            })
        );
        assert_eq!(Input::parse("this"), Some(Input::This));
        assert_eq!(Input::parse("orders"), None);
    }

    #[test]
    fn rows_agree_regardless_of_order_and_of_number_spelling() {
        let expected = table(
            &["id", "total"],
            vec![vec![json!(2), json!(10.5)], vec![json!(1), json!("3")]],
        );
        let actual = table(
            &["ID", "total", "other"],
            vec![
                vec![json!(1), json!(3.0), json!("x")],
                vec![json!("2"), json!("10.50"), json!("y")],
            ],
        );
        assert_eq!(compare(&expected, &actual).unwrap().differences, 0);
    }

    #[test]
    fn a_differing_cell_is_marked_beside_its_expected_row() {
        let expected = table(&["id", "state"], vec![vec![json!(1), json!("CA")]]);
        let actual = table(
            &["id", "state"],
            vec![vec![json!(1), json!("ca")], vec![json!(9), json!("NY")]],
        );
        let c = compare(&expected, &actual).unwrap();
        assert_eq!(c.differences, 2, "one changed row and one extra");
        assert!(c.report.contains("≠ ca"), "{}", c.report);
        assert!(c.report.contains("≠ NY"), "{}", c.report);
        assert!(c.report.contains("(no row)"), "{}", c.report);
    }

    #[test]
    fn a_missing_column_is_named() {
        let expected = table(&["nope"], vec![vec![json!(1)]]);
        let actual = table(&["id"], vec![vec![json!(1)]]);
        assert!(compare(&expected, &actual).unwrap_err().contains("`nope`"));
    }

    #[test]
    fn booleans_nulls_and_timestamps_compare_as_values() {
        assert!(values_equal(&json!(true), &json!(1)));
        assert!(values_equal(&json!(false), &json!("f")));
        assert!(!values_equal(&json!(null), &json!(0)));
        assert!(values_equal(
            &json!("2024-01-02 03:04:05"),
            &json!("2024-01-02T03:04:05.000+00:00")
        ));
        assert!(values_equal(
            &json!("2024-01-02"),
            &json!("2024-01-02 00:00:00")
        ));
        assert!(!values_equal(&json!("a"), &json!("b")));
    }

    #[test]
    fn literal_rows_are_typed_and_padded_with_known_columns() {
        let rows = table(&["id"], vec![vec![json!(1)], vec![json!("2")]]);
        let known = vec![
            ("id".to_string(), Some("integer".to_string())),
            ("name".to_string(), Some("text".to_string())),
        ];
        let sql = rows_sql(&rows, &known, Dialect::Postgres);
        assert_eq!(
            sql,
            "select cast(1 as integer) as \"id\", cast(null as text) as \"name\"\nunion all\n\
             select cast('2' as integer) as \"id\", cast(null as text) as \"name\""
        );
        let empty = rows_sql(&table(&["id"], vec![]), &[], Dialect::Postgres);
        assert_eq!(empty, "select null as \"id\" where 1 = 0");
    }

    #[test]
    fn csv_text_that_is_a_number_is_read_as_one() {
        assert_eq!(csv_value("42"), json!(42));
        assert_eq!(csv_value("-1.5"), json!(-1.5));
        assert_eq!(csv_value("0.25"), json!(0.25));
        assert_eq!(csv_value("02134"), json!("02134"));
        assert_eq!(csv_value("1."), json!("1."));
        assert_eq!(csv_value("CA"), json!("CA"));
        // Dict rows keep YAML's types: quoted digits are text.
        let rows = table(&["zip"], vec![vec![json!("94110")]]);
        assert_eq!(
            rows_sql(&rows, &[], Dialect::Postgres),
            "select '94110' as \"zip\""
        );
    }

    #[test]
    fn csv_fixtures_read_empty_values_as_null() {
        let t = csv_rows("id,name\n1,a\n2,\n").unwrap();
        assert_eq!(t.columns, vec!["id", "name"]);
        assert_eq!(t.rows[1], vec![json!(2), Value::Null]);
    }
}
