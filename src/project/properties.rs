//! Properties YAML (`version: 2` files under the resource paths): models, seeds, snapshots,
//! analyses, macros, sources, generic tests and unit tests, into plain data.
//!
//! serde_yaml values carry no positions, so lines are found by searching the entry's
//! `name: X` text from its parent's line ([`find_line`]); that is exact for the usual layout.

use super::config::{Config, yaml_key, yaml_to_json};
use super::types::Constraint;
use super::types::{
    Column, Freshness, MacroArgument, Period, Source, TestTarget, Threshold, UnitTest,
    UnitTestData, UnitTestInput,
};
use crate::error::{Diagnostic, ErrorKind, Location};
use serde_json::Value;
use serde_yaml::Value as Y;
use std::collections::BTreeMap;

/// Everything one properties file declares.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Properties {
    /// `models:` entries.
    pub models: Vec<NodePatch>,
    /// `seeds:` entries.
    pub seeds: Vec<NodePatch>,
    /// `snapshots:` entries.
    pub snapshots: Vec<NodePatch>,
    /// `analyses:` entries.
    pub analyses: Vec<NodePatch>,
    /// `macros:` entries.
    pub macros: Vec<MacroPatch>,
    /// `sources:`, one entry per table.
    pub sources: Vec<Source>,
    /// Every generic test in the file.
    pub tests: Vec<TestDefinition>,
    /// `unit_tests:` entries.
    pub unit_tests: Vec<UnitTest>,
}

/// Properties of one model, seed, snapshot or analysis.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NodePatch {
    /// Resource name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `config:` plus top-level `tags`/`meta`/`docs`.
    pub config: Config,
    /// Documented columns.
    pub columns: Vec<Column>,
    /// Model-level `constraints:`.
    pub constraints: Vec<Constraint>,
    /// 1-based line of the entry.
    pub line: usize,
}

/// Properties of a macro.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MacroPatch {
    /// Macro name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `arguments:` as documented.
    pub arguments: Vec<MacroArgument>,
    /// 1-based line of the entry.
    pub line: usize,
}

/// One generic test invocation as written in YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct TestDefinition {
    /// Test name without namespace (`not_null`).
    pub test_name: String,
    /// Namespace for `package.test` names.
    pub namespace: Option<String>,
    /// What it tests.
    pub target: TestTarget,
    /// Column it is attached to, if any.
    pub column_name: Option<String>,
    /// Arguments.
    pub kwargs: BTreeMap<String, Value>,
    /// Test config (`severity`, `where`, ...).
    pub config: Config,
    /// The test's own config in the order dbt's test builder collects it (the config keys dbt
    /// knows first, then the rest of `config:` as written): the `config(...)` call of dbt's
    /// `raw_code` and the test's `unrendered_config`.
    pub builder_config: Vec<(String, Value)>,
    /// `name:` given for the test.
    pub custom_name: Option<String>,
    /// Description.
    pub description: String,
    /// 1-based line of the test entry.
    pub line: usize,
}

const TOP_KEYS: &[&str] = &[
    "version",
    "models",
    "seeds",
    "snapshots",
    "analyses",
    "macros",
    "sources",
    "unit_tests",
    "exposures",
    "metrics",
    "semantic_models",
    "saved_queries",
    "groups",
    "data_tests",
];

/// Test-level keys that are config, not arguments, in the order of dbt's `CONFIG_ARGS`.
const TEST_CONFIG_KEYS: &[&str] = &[
    "severity",
    "tags",
    "enabled",
    "where",
    "limit",
    "warn_if",
    "error_if",
    "fail_calc",
    "store_failures",
    "store_failures_as",
    "meta",
    "database",
    "schema",
    "alias",
];

/// The 1-based line of the first line at or after `from_line` containing `needle` (else `from_line`).
pub fn find_line(text: &str, needle: &str, from_line: usize) -> usize {
    let start = from_line.max(1);
    text.lines()
        .enumerate()
        .skip(start - 1)
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .unwrap_or(start)
}

/// Finds the line of `- name: X` (or `name: X`) for an entry, from `from_line`.
fn entry_line(text: &str, name: &str, from_line: usize) -> usize {
    for pattern in [
        format!("name: {name}"),
        format!("name: \"{name}\""),
        format!("name: '{name}'"),
        format!("- {name}"),
    ] {
        let l = find_line(text, &pattern, from_line);
        if text
            .lines()
            .nth(l.saturating_sub(1))
            .is_some_and(|line| line.contains(&pattern))
        {
            return l;
        }
    }
    from_line.max(1)
}

struct Parser<'a> {
    file: &'a str,
    text: &'a str,
    /// The file's lines, for line searches without rescanning the text.
    lines: Vec<&'a str>,
    /// Entries appear in document order: each entry's search starts where the last one was
    /// found, which keeps locating 2,000 entries linear.
    cursor: usize,
    package: &'a str,
    diags: Vec<Diagnostic>,
    out: Properties,
}

fn as_str(v: &Y) -> Option<String> {
    match v {
        Y::String(s) => Some(s.clone()),
        Y::Number(n) => Some(n.to_string()),
        Y::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn get<'v>(m: &'v serde_yaml::Mapping, key: &str) -> Option<&'v Y> {
    m.get(Y::String(key.to_string()))
}

impl<'a> Parser<'a> {
    /// 1-based line of the first line at or after `from` containing `needle` (else `from`).
    fn find_line(&self, needle: &str, from: usize) -> usize {
        let start = from.max(1);
        self.lines
            .iter()
            .enumerate()
            .skip(start - 1)
            .find(|(_, l)| l.contains(needle))
            .map(|(i, _)| i + 1)
            .unwrap_or(start)
    }

    /// The line of the entry named `name`, searching forward from the last entry found.
    fn entry_line(&mut self, name: &str, from: usize) -> usize {
        let start = from.max(self.cursor).max(1);
        for pattern in [
            format!("name: {name}"),
            format!("name: \"{name}\""),
            format!("name: '{name}'"),
            format!("- {name}"),
        ] {
            if let Some(i) = self
                .lines
                .get(start - 1..)
                .and_then(|rest| rest.iter().position(|l| l.contains(&pattern)))
            {
                self.cursor = start + i;
                return start + i;
            }
        }
        // Fall back to a search from the parent (entries out of order, unusual quoting).
        entry_line(self.text, name, from)
    }

    fn error(&mut self, line: usize, message: String, hint: &str) {
        self.diags.push(
            Diagnostic::new(ErrorKind::Yaml, message)
                .at(Location::at(self.file, self.text, line, 0))
                .with_hint(hint),
        );
    }

    fn seq<'v>(&mut self, v: &'v Y, what: &str, line: usize) -> Vec<&'v Y> {
        match v {
            Y::Sequence(items) => items.iter().collect(),
            Y::Null => Vec::new(),
            _ => {
                self.error(
                    line,
                    format!("`{what}` must be a list"),
                    &format!("write `{what}:` followed by `- name: ...` entries"),
                );
                Vec::new()
            }
        }
    }

    fn top(&mut self, doc: &Y) {
        let Y::Mapping(map) = doc else {
            if !matches!(doc, Y::Null) {
                self.error(
                    1,
                    "a properties file must be a mapping".into(),
                    "start the file with `version: 2`",
                );
            }
            return;
        };
        for (k, _) in map {
            let key = yaml_key(k);
            if !TOP_KEYS.contains(&key.as_str()) {
                let line = self.find_line(&format!("{key}:"), 1);
                self.cursor = line;
                let col = self
                    .text
                    .lines()
                    .nth(line - 1)
                    .and_then(|l| l.find(&key))
                    .map(|c| c + 1)
                    .unwrap_or(0);
                self.diags.push(
                    Diagnostic::new(ErrorKind::Yaml, format!("unknown top-level key `{key}`"))
                        .at(Location::at(self.file, self.text, line, col))
                        .with_hint(format!("properties files accept: {}", TOP_KEYS.join(", "))),
                );
            }
        }
        for (key, list) in [
            ("models", 0),
            ("seeds", 1),
            ("snapshots", 2),
            ("analyses", 3),
        ] {
            if let Some(v) = get(map, key) {
                let line = self.find_line(&format!("{key}:"), 1);
                self.cursor = line;
                let entries = self.seq(v, key, line);
                for e in &entries {
                    if let Some(p) = self.node_patch(e, key, line) {
                        match list {
                            0 => self.out.models.push(p),
                            1 => self.out.seeds.push(p),
                            2 => self.out.snapshots.push(p),
                            _ => self.out.analyses.push(p),
                        }
                    }
                }
            }
        }
        if let Some(v) = get(map, "macros") {
            let line = self.find_line("macros:", 1);
            self.cursor = line;
            let entries = self.seq(v, "macros", line);
            for e in &entries {
                if let Y::Mapping(m) = e
                    && let Some(name) = get(m, "name").and_then(as_str)
                {
                    let l = self.entry_line(&name, line);
                    let arguments = match get(m, "arguments") {
                        Some(Y::Sequence(args)) => args
                            .iter()
                            .filter_map(|a| match a {
                                Y::Mapping(am) => Some(MacroArgument {
                                    name: get(am, "name").and_then(as_str)?,
                                    data_type: get(am, "type").and_then(as_str),
                                    description: get(am, "description")
                                        .and_then(as_str)
                                        .unwrap_or_default(),
                                }),
                                _ => None,
                            })
                            .collect(),
                        _ => Vec::new(),
                    };
                    self.out.macros.push(MacroPatch {
                        description: get(m, "description").and_then(as_str).unwrap_or_default(),
                        name,
                        arguments,
                        line: l,
                    });
                }
            }
        }
        if let Some(v) = get(map, "sources") {
            let line = self.find_line("sources:", 1);
            self.cursor = line;
            let entries = self.seq(v, "sources", line);
            for e in &entries {
                self.source(e, line);
            }
        }
        if let Some(v) = get(map, "unit_tests") {
            let line = self.find_line("unit_tests:", 1);
            self.cursor = line;
            let entries: Vec<Y> = self
                .seq(v, "unit_tests", line)
                .into_iter()
                .cloned()
                .collect();
            for e in &entries {
                self.unit_test(e, line);
            }
        }
    }

    fn config_of(&mut self, m: &serde_yaml::Mapping, line: usize) -> Config {
        let mut config = Config::new();
        if let Some(c) = get(m, "config") {
            match yaml_to_json(c) {
                Value::Object(obj) => {
                    for (k, v) in obj {
                        config.set(&k, v);
                    }
                }
                Value::Null => {}
                _ => self.error(
                    self.find_line("config:", line),
                    "`config` must be a mapping".into(),
                    "write `config:` followed by indented `key: value` lines",
                ),
            }
        }
        for key in ["tags", "meta", "docs"] {
            if let Some(v) = get(m, key) {
                config.set(key, yaml_to_json(v));
            }
        }
        config
    }

    fn node_patch(&mut self, e: &Y, kind: &str, parent_line: usize) -> Option<NodePatch> {
        let Y::Mapping(m) = e else {
            self.error(
                parent_line,
                format!("each entry under `{kind}` must be a mapping with a `name`"),
                "write `- name: my_model`",
            );
            return None;
        };
        let Some(name) = get(m, "name").and_then(as_str) else {
            self.error(
                parent_line,
                format!("an entry under `{kind}` has no `name`"),
                "add `name:` with the resource's file name",
            );
            return None;
        };
        let line = self.entry_line(&name, parent_line);
        let config = self.config_of(m, line);
        let target = TestTarget::Ref { name: name.clone() };
        let columns = match get(m, "columns") {
            Some(v) => self.columns(v, line, &target),
            None => Vec::new(),
        };
        for key in ["tests", "data_tests"] {
            if let Some(v) = get(m, key) {
                let tests = self.seq(v, key, line);
                for t in &tests {
                    self.test(t, &target, None, line);
                }
            }
        }
        let constraints = match get(m, "constraints") {
            Some(v) => self.constraints(v, line),
            None => Vec::new(),
        };
        Some(NodePatch {
            description: get(m, "description").and_then(as_str).unwrap_or_default(),
            name,
            config,
            columns,
            constraints,
            line,
        })
    }

    /// `constraints:` of a column or a model, in dbt's shape.
    fn constraints(&mut self, v: &Y, line: usize) -> Vec<Constraint> {
        const KINDS: [&str; 6] = [
            "not_null",
            "unique",
            "primary_key",
            "foreign_key",
            "check",
            "custom",
        ];
        let entries: Vec<Y> = self
            .seq(v, "constraints", line)
            .into_iter()
            .cloned()
            .collect();
        let mut out = Vec::new();
        for e in &entries {
            let at = match e {
                Y::Mapping(m) => get(m, "type")
                    .and_then(as_str)
                    .map(|t| self.find_line(&t, line)),
                _ => None,
            }
            .unwrap_or(line);
            let Y::Mapping(m) = e else {
                self.error(
                    at,
                    "each constraint must be a mapping with a `type`".into(),
                    "write `- type: not_null`",
                );
                continue;
            };
            let kind = get(m, "type").and_then(as_str).unwrap_or_default();
            if !KINDS.contains(&kind.as_str()) {
                self.error(
                    at,
                    format!("unknown constraint type `{kind}`"),
                    "use not_null, unique, primary_key, foreign_key, check or custom",
                );
                continue;
            }
            let list = |key: &str| -> Vec<String> {
                match get(m, key) {
                    Some(Y::Sequence(s)) => s.iter().filter_map(as_str).collect(),
                    Some(v) => as_str(v).into_iter().collect(),
                    None => Vec::new(),
                }
            };
            let c = Constraint {
                name: get(m, "name").and_then(as_str),
                expression: get(m, "expression").and_then(as_str),
                to: get(m, "to").and_then(as_str),
                to_columns: list("to_columns"),
                columns: list("columns"),
                warn_unenforced: get(m, "warn_unenforced")
                    .and_then(Y::as_bool)
                    .unwrap_or(true),
                warn_unsupported: get(m, "warn_unsupported")
                    .and_then(Y::as_bool)
                    .unwrap_or(true),
                kind,
            };
            let needs_expression = matches!(c.kind.as_str(), "check" | "custom")
                || (c.kind == "foreign_key" && c.to.is_none());
            if needs_expression && c.expression.is_none() {
                self.error(
                    at,
                    format!("a `{}` constraint needs an `expression`", c.kind),
                    match c.kind.as_str() {
                        "foreign_key" => "write `to: ref('parent')` with `to_columns: [id]`, or `expression: \"parent_table (id)\"`",
                        _ => "write e.g. `expression: \"amount >= 0\"`",
                    },
                );
                continue;
            }
            out.push(c);
        }
        out
    }

    fn columns(&mut self, v: &Y, line: usize, target: &TestTarget) -> Vec<Column> {
        let entries = self.seq(v, "columns", line);
        let mut out = Vec::new();
        for e in &entries {
            let Y::Mapping(m) = e else {
                self.error(
                    line,
                    "each column must be a mapping with a `name`".into(),
                    "write `- name: column_name`",
                );
                continue;
            };
            let Some(name) = get(m, "name").and_then(as_str) else {
                self.error(
                    line,
                    "a column has no `name`".into(),
                    "add `name:` to the column",
                );
                continue;
            };
            let col_line = self.entry_line(&name, line);
            for key in ["tests", "data_tests"] {
                if let Some(v) = get(m, key) {
                    let tests = self.seq(v, key, col_line);
                    for t in &tests {
                        self.test(t, target, Some(&name), col_line);
                    }
                }
            }
            let meta = match get(m, "meta").map(yaml_to_json) {
                Some(Value::Object(o)) => o.into_iter().collect(),
                _ => BTreeMap::new(),
            };
            out.push(Column {
                description: get(m, "description").and_then(as_str).unwrap_or_default(),
                data_type: get(m, "data_type").and_then(as_str),
                meta,
                tags: match get(m, "tags") {
                    Some(Y::Sequence(s)) => s.iter().filter_map(as_str).collect(),
                    Some(v) => as_str(v).into_iter().collect(),
                    None => Vec::new(),
                },
                quote: get(m, "quote").and_then(Y::as_bool),
                constraints: match get(m, "constraints") {
                    Some(v) => self.constraints(v, col_line),
                    None => Vec::new(),
                },
                name,
            });
        }
        out
    }

    fn test(&mut self, t: &Y, target: &TestTarget, column: Option<&str>, line: usize) {
        let (full_name, body): (String, Option<&serde_yaml::Mapping>) = match t {
            Y::String(s) => (s.clone(), None),
            Y::Mapping(m) if m.len() == 1 => {
                let (k, v) = m.iter().next().expect("one entry");
                match v {
                    Y::Mapping(inner) => (yaml_key(k), Some(inner)),
                    Y::Null => (yaml_key(k), None),
                    _ => {
                        let l = self.find_line(&yaml_key(k), line);
                        self.error(
                            l,
                            format!("arguments of test `{}` must be a mapping", yaml_key(k)),
                            "write the arguments as indented `key: value` lines",
                        );
                        return;
                    }
                }
            }
            // `- name: my_test_name` + `test_name: accepted_values` form.
            Y::Mapping(m) if get(m, "test_name").is_some() => (
                get(m, "test_name").and_then(as_str).unwrap_or_default(),
                Some(m),
            ),
            _ => {
                self.error(
                    line,
                    "a test must be a name (`- unique`) or a mapping (`- accepted_values: {values: [...]}`)".into(),
                    "check the indentation of the test entry",
                );
                return;
            }
        };
        let test_line = self.find_line(&full_name, line);
        let (namespace, test_name) = match full_name.rsplit_once('.') {
            Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
            None => (None, full_name.clone()),
        };
        let mut kwargs = BTreeMap::new();
        let mut config = Config::new();
        let mut custom_name = None;
        let mut description = String::new();
        let mut column_name = column.map(str::to_string);
        // Config as written: top-level config keys, then the `config:` mapping, in YAML order.
        let mut top_config: Vec<(String, Value)> = Vec::new();
        let mut nested_config: Vec<(String, Value)> = Vec::new();
        if let Some(body) = body {
            for (k, v) in body {
                let key = yaml_key(k);
                if key == "config"
                    && let Y::Mapping(entries) = v
                {
                    nested_config.extend(
                        entries
                            .iter()
                            .map(|(ck, cv)| (yaml_key(ck), yaml_to_json(cv))),
                    );
                } else if TEST_CONFIG_KEYS.contains(&key.as_str()) {
                    top_config.push((key.clone(), yaml_to_json(v)));
                }
                match key.as_str() {
                    "arguments" => match yaml_to_json(v) {
                        Value::Object(o) => kwargs.extend(o),
                        Value::Null => {}
                        _ => self.error(
                            test_line,
                            "`arguments` must be a mapping".into(),
                            "write the arguments as `key: value` lines",
                        ),
                    },
                    "config" => match yaml_to_json(v) {
                        Value::Object(o) => {
                            for (ck, cv) in o {
                                config.set(&ck, cv);
                            }
                        }
                        Value::Null => {}
                        _ => self.error(
                            test_line,
                            "test `config` must be a mapping".into(),
                            "write `config:` with `key: value` lines",
                        ),
                    },
                    "name" => custom_name = as_str(v),
                    "test_name" => {}
                    "description" => description = as_str(v).unwrap_or_default(),
                    "column_name" => column_name = as_str(v),
                    k if TEST_CONFIG_KEYS.contains(&k) => config.set(k, yaml_to_json(v)),
                    _ => {
                        kwargs.insert(key, yaml_to_json(v));
                    }
                }
            }
        }
        if let Some(c) = &column_name {
            kwargs.insert("column_name".into(), Value::from(c.clone()));
        }
        let builder_config = builder_config(top_config, nested_config);
        self.out.tests.push(TestDefinition {
            test_name,
            namespace,
            target: target.clone(),
            column_name,
            kwargs,
            config,
            builder_config,
            custom_name,
            description,
            line: test_line,
        });
    }

    fn freshness(&mut self, v: &Y, line: usize) -> Option<Freshness> {
        let Y::Mapping(m) = v else {
            return None;
        };
        let mut f = Freshness::default();
        for key in ["warn_after", "error_after"] {
            if let Some(Y::Mapping(t)) = get(m, key) {
                let count = get(t, "count").and_then(|c| match c {
                    Y::Number(n) => n.as_i64(),
                    Y::String(s) => s.parse().ok(),
                    _ => None,
                });
                let period = get(t, "period").and_then(as_str);
                let l = self.find_line(key, line);
                let period = match period.as_deref() {
                    Some("minute") => Some(Period::Minute),
                    Some("hour") => Some(Period::Hour),
                    Some("day") => Some(Period::Day),
                    Some(other) => {
                        self.error(
                            l,
                            format!("freshness period `{other}` is not minute, hour or day"),
                            "write `period: hour` (or minute, day)",
                        );
                        None
                    }
                    None => None,
                };
                match (count, period) {
                    (Some(count), Some(period)) => {
                        let th = Some(Threshold { count, period });
                        if key == "warn_after" {
                            f.warn_after = th;
                        } else {
                            f.error_after = th;
                        }
                    }
                    (None, _) if get(t, "count").is_some() => self.error(
                        l,
                        format!("freshness `{key}.count` must be a whole number"),
                        "write `count: 12`",
                    ),
                    _ => {}
                }
            }
        }
        f.filter = get(m, "filter").and_then(as_str);
        Some(f)
    }

    fn source(&mut self, e: &Y, parent_line: usize) {
        let Y::Mapping(m) = e else {
            self.error(
                parent_line,
                "each source must be a mapping with a `name`".into(),
                "write `- name: raw`",
            );
            return;
        };
        let Some(source_name) = get(m, "name").and_then(as_str) else {
            self.error(
                parent_line,
                "a source has no `name`".into(),
                "add `name:` to the source",
            );
            return;
        };
        let line = self.entry_line(&source_name, parent_line);
        let source_config = self.config_of(m, line);
        let source_freshness = get(m, "freshness").and_then(|v| self.freshness(v, line));
        let schema = get(m, "schema")
            .and_then(as_str)
            .unwrap_or_else(|| source_name.clone());
        let database = get(m, "database").and_then(as_str);
        let loader = get(m, "loader").and_then(as_str).unwrap_or_default();
        let loaded_at = get(m, "loaded_at_field").and_then(as_str);
        let source_description = get(m, "description").and_then(as_str).unwrap_or_default();
        let dir_parts: Vec<String> = {
            let parts: Vec<&str> = self.file.split('/').collect();
            if parts.len() > 2 {
                parts[1..parts.len() - 1]
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            } else {
                Vec::new()
            }
        };
        let tables = match get(m, "tables") {
            Some(v) => self
                .seq(v, "tables", line)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>(),
            None => Vec::new(),
        };
        for t in &tables {
            let Y::Mapping(tm) = t else {
                self.error(
                    line,
                    "each table must be a mapping with a `name`".into(),
                    "write `- name: orders`",
                );
                continue;
            };
            let Some(name) = get(tm, "name").and_then(as_str) else {
                self.error(
                    line,
                    "a source table has no `name`".into(),
                    "add `name:` to the table",
                );
                continue;
            };
            let tline = self.entry_line(&name, line);
            let mut config = source_config.clone();
            config.merge(&self.config_of(tm, tline));
            // A table's `freshness: null` turns freshness off; absent inherits the source's; a
            // table's own rules replace the source's key by key, as dbt merges them.
            let freshness = match get(tm, "freshness") {
                Some(Y::Null) => None,
                Some(v) => self.freshness(v, tline).map(|own| {
                    let has = |key: &str| matches!(v, Y::Mapping(m) if get(m, key).is_some());
                    let base = source_freshness.clone().unwrap_or_default();
                    Freshness {
                        warn_after: if has("warn_after") {
                            own.warn_after
                        } else {
                            base.warn_after
                        },
                        error_after: if has("error_after") {
                            own.error_after
                        } else {
                            base.error_after
                        },
                        filter: if has("filter") {
                            own.filter
                        } else {
                            base.filter
                        },
                    }
                }),
                None => source_freshness.clone(),
            };
            let target = TestTarget::Source {
                source: source_name.clone(),
                table: name.clone(),
            };
            let columns = match get(tm, "columns") {
                Some(v) => self.columns(v, tline, &target),
                None => Vec::new(),
            };
            for key in ["tests", "data_tests"] {
                if let Some(v) = get(tm, key) {
                    let tests = self.seq(v, key, tline);
                    for test in &tests {
                        self.test(test, &target, None, tline);
                    }
                }
            }
            let mut fqn = vec![self.package.to_string()];
            fqn.extend(dir_parts.iter().cloned());
            fqn.push(source_name.clone());
            fqn.push(name.clone());
            self.out.sources.push(Source {
                unique_id: format!("source.{}.{}.{}", self.package, source_name, name),
                package_name: self.package.to_string(),
                source_name: source_name.clone(),
                identifier: get(tm, "identifier")
                    .and_then(as_str)
                    .unwrap_or_else(|| name.clone()),
                name,
                schema: schema.clone(),
                database: database.clone(),
                loader: loader.clone(),
                // `loaded_at_field: null` on a table turns the source's off.
                loaded_at_field: match get(tm, "loaded_at_field") {
                    Some(Y::Null) => None,
                    Some(v) => as_str(v),
                    None => loaded_at.clone(),
                },
                freshness,
                source_description: source_description.clone(),
                description: get(tm, "description").and_then(as_str).unwrap_or_default(),
                columns,
                config,
                fqn,
                original_file_path: self.file.to_string(),
            });
        }
    }

    fn unit_data(&mut self, v: &Y, line: usize) -> UnitTestData {
        let mut data = UnitTestData {
            format: "dict".into(),
            rows: Vec::new(),
            text: None,
            fixture: None,
        };
        let Y::Mapping(m) = v else {
            return data;
        };
        if let Some(f) = get(m, "format").and_then(as_str) {
            data.format = f;
        }
        data.fixture = get(m, "fixture").and_then(as_str);
        match get(m, "rows") {
            Some(Y::Sequence(rows)) => {
                for r in rows {
                    match r {
                        // Columns keep the order written: dbt's checksum is built from it.
                        Y::Mapping(m) => data.rows.push(
                            m.iter()
                                .map(|(k, v)| (yaml_key(k), yaml_to_json(v)))
                                .collect(),
                        ),
                        _ => self.error(
                            line,
                            "unit test rows must be mappings of column: value".into(),
                            "write rows like `- {id: 1, name: a}`",
                        ),
                    }
                }
            }
            Some(Y::String(s)) => data.text = Some(s.clone()),
            _ => {}
        }
        data
    }

    fn unit_test(&mut self, e: &Y, parent_line: usize) {
        let Y::Mapping(m) = e else {
            self.error(
                parent_line,
                "each unit test must be a mapping".into(),
                "write `- name: ...` with `model:`, `given:` and `expect:`",
            );
            return;
        };
        let Some(name) = get(m, "name").and_then(as_str) else {
            self.error(
                parent_line,
                "a unit test has no `name`".into(),
                "add `name:` to the unit test",
            );
            return;
        };
        let line = self.entry_line(&name, parent_line);
        let Some(model) = get(m, "model").and_then(as_str) else {
            self.error(
                line,
                format!("unit test `{name}` has no `model`"),
                "add `model:` naming the model under test",
            );
            return;
        };
        let mut given = Vec::new();
        if let Some(v) = get(m, "given") {
            let items = self.seq(v, "given", line);
            for g in &items {
                if let Y::Mapping(gm) = g {
                    let input = get(gm, "input").and_then(as_str).unwrap_or_default();
                    given.push(UnitTestInput {
                        input,
                        data: self.unit_data(g, line),
                    });
                }
            }
        }
        let expect = match get(m, "expect") {
            Some(v) => self.unit_data(v, line),
            None => {
                self.error(
                    line,
                    format!("unit test `{name}` has no `expect`"),
                    "add `expect:` with the rows the model should return",
                );
                return;
            }
        };
        let overrides = match get(m, "overrides").map(yaml_to_json) {
            Some(Value::Object(o)) => o.into_iter().collect(),
            _ => BTreeMap::new(),
        };
        let config = self.config_of(m, line);
        self.out.unit_tests.push(UnitTest {
            unique_id: format!("unit_test.{}.{}.{}", self.package, model, name),
            name: name.clone(),
            package_name: self.package.to_string(),
            description: get(m, "description").and_then(as_str).unwrap_or_default(),
            given,
            expect,
            overrides,
            config,
            original_file_path: self.file.to_string(),
            line,
            fqn: vec![self.package.to_string(), model.clone(), name],
            model,
        });
    }
}

/// Parses one properties file. Returns what it declares and every problem found.
pub fn parse_properties(file: &str, text: &str, package: &str) -> (Properties, Vec<Diagnostic>) {
    let doc: Y = match serde_yaml::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            return (
                Properties::default(),
                vec![super::project_file::yaml_error(file, text, &e)],
            );
        }
    };
    // A YAML file without `version` and without any known key is not a properties file.
    if let Y::Mapping(m) = &doc {
        let known = m.keys().any(|k| TOP_KEYS.contains(&yaml_key(k).as_str()));
        if !known {
            return (Properties::default(), Vec::new());
        }
    } else if !matches!(doc, Y::Null) {
        return (Properties::default(), Vec::new());
    }
    let mut p = Parser {
        file,
        text,
        lines: text.lines().collect(),
        cursor: 0,
        package,
        diags: Vec::new(),
        out: Properties::default(),
    };
    p.top(&doc);
    (p.out, p.diags)
}

/// Python's truthiness of a YAML value (`None`, `False`, `0`, `""`, `[]` and `{}` are false).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A test's config in the order dbt's `TestBuilder` builds it: each of dbt's config keys, taken
/// from the top level or else from `config:`, then the other `config:` keys as written; nulls
/// are dropped.
fn builder_config(
    top: Vec<(String, Value)>,
    mut nested: Vec<(String, Value)>,
) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for key in TEST_CONFIG_KEYS {
        let mut value = top
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(truthy);
        if value.is_none()
            && let Some(i) = nested.iter().position(|(k, _)| k == key)
        {
            value = Some(nested.remove(i).1);
        }
        if let Some(v) = value.filter(|v| !v.is_null()) {
            out.push((key.to_string(), v));
        }
    }
    out.extend(nested.into_iter().filter(|(_, v)| !v.is_null()));
    out
}

/// dbt's names for a generic test, e.g. `not_null_orders_id`,
/// `accepted_values_orders_status__a__b`, `source_unique_raw_users_id`: the full name (for the
/// unique_id, `name` and `fqn`) and the short one (for `alias` and `path`). A `name:` given in
/// YAML is both.
pub fn generic_test_names(def: &TestDefinition) -> super::identity::GenericTestNames {
    if let Some(name) = &def.custom_name {
        return super::identity::GenericTestNames {
            short: name.clone(),
            full: name.clone(),
        };
    }
    let args: serde_json::Map<String, Value> = def
        .kwargs
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    super::identity::synthesize_test_names(
        &def.test_name,
        def.namespace.as_deref(),
        &def.target,
        &args,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"version: 2

models:
  - name: orders
    description: One row per order.
    config:
      materialized: table
    tags: [finance]
    columns:
      - name: order_id
        data_tests:
          - unique
          - not_null:
              config:
                severity: warn
      - name: status
        tests:
          - accepted_values:
              values: ['placed', 'shipped']
          - accepted_values:
              arguments:
                values: [1, 2]
                quote: false
              config:
                where: "x > 1"
      - name: customer_id
        tests:
          - relationships:
              to: ref('customers')
              field: id

sources:
  - name: raw
    schema: raw_data
    loaded_at_field: _loaded_at
    freshness:
      warn_after: {count: 12, period: hour}
    tables:
      - name: users
        columns:
          - name: id
            tests: [unique]
      - name: events
        freshness: null
      - name: payments
        identifier: raw_payments
        freshness:
          error_after: {count: 1, period: day}

unit_tests:
  - name: test_orders_total
    model: orders
    given:
      - input: ref('stg_orders')
        rows:
          - {id: 1, amount: 10}
    expect:
      rows:
        - {id: 1, total: 10}
"#;

    #[test]
    fn parses_models_tests_sources_and_unit_tests() {
        let (p, d) = parse_properties("models/schema.yml", YAML, "shop");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(p.models.len(), 1);
        let m = &p.models[0];
        assert_eq!(m.line, 4);
        assert_eq!(m.config.materialized(), "table");
        assert_eq!(m.config.tags(), vec!["finance"]);
        assert_eq!(m.columns.len(), 3);
        let names: Vec<String> = p.tests.iter().map(|t| generic_test_names(t).full).collect();
        assert_eq!(
            names,
            vec![
                "unique_orders_order_id",
                "not_null_orders_order_id",
                "accepted_values_orders_status__placed__shipped",
                "accepted_values_orders_status__False__1__2",
                "relationships_orders_customer_id__id__ref_customers_",
                "source_unique_raw_users_id",
            ]
        );
        assert_eq!(p.tests[1].config.get_str("severity"), Some("warn"));
        assert_eq!(p.tests[3].config.get_str("where"), Some("x > 1"));
        assert_eq!(p.tests[3].kwargs["quote"], Value::Bool(false));
        assert_eq!(p.sources.len(), 3);
        assert_eq!(p.sources[0].schema, "raw_data");
        assert_eq!(
            p.sources[0]
                .freshness
                .as_ref()
                .unwrap()
                .warn_after
                .unwrap()
                .count,
            12
        );
        assert!(p.sources[1].freshness.is_none());
        assert_eq!(p.sources[2].identifier, "raw_payments");
        // A table's freshness replaces the source's key by key: error_after is its own,
        // warn_after is inherited, as dbt merges them.
        let f = p.sources[2].freshness.as_ref().unwrap();
        assert_eq!(f.warn_after.unwrap().count, 12);
        assert_eq!(f.error_after.unwrap().period, Period::Day);
        // The test's own config, in the order dbt's test builder collects it.
        assert_eq!(
            p.tests[3].builder_config,
            vec![("where".to_string(), Value::from("x > 1"))]
        );
        assert_eq!(
            p.unit_tests[0].unique_id,
            "unit_test.shop.orders.test_orders_total"
        );
        assert_eq!(p.unit_tests[0].given[0].data.rows.len(), 1);
    }

    #[test]
    fn malformed_yaml_points_at_the_line() {
        let text =
            "version: 2\nmodels:\n  - name: a\n    description: \"unterminated\n  - name: b\n";
        let (_, d) = parse_properties("models/schema.yml", text, "p");
        assert_eq!(d.len(), 1);
        let loc = d[0].location.as_ref().unwrap();
        assert_eq!(loc.file.to_string_lossy(), "models/schema.yml");
        assert!(loc.line >= 4, "{loc:?}");
        assert!(d[0].message.starts_with("invalid YAML"), "{}", d[0].message);
    }

    #[test]
    fn unknown_top_level_key_and_bad_types_are_all_reported() {
        let text = "version: 2\nmodel:\n  - name: a\nsources:\n  - name: raw\n    tables: orders\n";
        let (_, d) = parse_properties("models/schema.yml", text, "p");
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(
            d[0].to_string(),
            format!(
                "models/schema.yml:2:1: unknown top-level key `model` (properties files accept: {})",
                TOP_KEYS.join(", ")
            )
        );
        assert!(
            d[1].message.contains("`tables` must be a list"),
            "{}",
            d[1].message
        );
    }

    #[test]
    fn test_config_keeps_dbts_builder_order() {
        let text = "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: c\n        data_tests:\n          - accepted_values:\n              values: [a]\n              store_failures: true\n              config:\n                custom: 1\n                where: \"c <> 'x'\"\n                severity: warn\n                limit: null\n";
        let (p, d) = parse_properties("models/schema.yml", text, "p");
        assert!(d.is_empty(), "{d:?}");
        let keys: Vec<&str> = p.tests[0]
            .builder_config
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        // dbt's CONFIG_ARGS order first (top level or config:), then the rest of config:.
        assert_eq!(keys, ["severity", "where", "store_failures", "custom"]);
    }

    #[test]
    fn other_yaml_files_are_ignored() {
        let (p, d) = parse_properties("models/other.yml", "foo: bar\n", "p");
        assert!(d.is_empty());
        assert_eq!(p, Properties::default());
    }

    #[test]
    fn long_names_are_shortened() {
        let def = TestDefinition {
            test_name: "accepted_values".into(),
            namespace: None,
            target: TestTarget::Ref {
                name: "a_very_long_model_name_for_testing".into(),
            },
            column_name: Some("status".into()),
            kwargs: BTreeMap::from([
                ("column_name".to_string(), Value::from("status")),
                (
                    "values".to_string(),
                    serde_json::json!(["placed", "shipped", "completed"]),
                ),
            ]),
            config: Config::new(),
            builder_config: Vec::new(),
            custom_name: None,
            description: String::new(),
            line: 1,
        };
        let names = generic_test_names(&def);
        assert_eq!(
            names.full,
            "accepted_values_a_very_long_model_name_for_testing_status__placed__shipped__completed"
        );
        // 30 characters of `<test>_<model>`, then the full name's MD5, as dbt shortens.
        assert_eq!(names.short.len(), 63);
        assert!(
            names.short.starts_with("accepted_values_a_very_long_mo_"),
            "{}",
            names.short
        );
    }
}
