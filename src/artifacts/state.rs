//! `--state`: reads a previous `manifest.json` (Kiln's or dbt's) and compares the project with it
//! by dbt-core 1.11's rules (`StateSelectorMethod` and each node class's `same_*` methods), so
//! `state:modified` selects what dbt would select against the same manifest.
//!
//! Both sides are compared in the manifest's shape: the current project as Kiln would write it
//! ([`super::manifest::manifest_json`]), the previous one as read. SQL nodes compare `raw_code`,
//! `unrendered_config` (without `alias`, `schema`, `database`, `tags`, `group`), the fqn, the
//! database, schema and alias as written, persisted descriptions and contracts; seeds compare
//! checksums; sources compare their relation, fqn, config, quoting, freshness and external
//! properties. Macros are compared only for the packages Kiln loads itself (the root project and
//! its packages): dbt's own macros in a dbt manifest are neither new nor removed for Kiln.

use super::manifest::manifest_json;
use crate::compile::Manifest;
use crate::error::{Diagnostic, Error, ErrorKind, Result};
use crate::graph::NodeState;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Where a previous manifest says a model, seed or snapshot was built (for `--defer` and
/// `kiln clone`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRelation {
    /// Database, if the manifest names one.
    pub database: Option<String>,
    /// Schema.
    pub schema: String,
    /// Table or view name (the node's alias).
    pub identifier: String,
    /// Whether it was built as a view.
    pub view: bool,
}

/// The relation of every model, seed and snapshot of a previous manifest that was built (not
/// ephemeral), by unique_id.
pub fn relations(previous: &Value) -> std::collections::BTreeMap<String, StateRelation> {
    let mut out = std::collections::BTreeMap::new();
    let Some(nodes) = previous.get("nodes").and_then(Value::as_object) else {
        return out;
    };
    for (id, n) in nodes {
        let kind = n.get("resource_type").and_then(Value::as_str).unwrap_or("");
        if !matches!(kind, "model" | "seed" | "snapshot") {
            continue;
        }
        let materialized = n
            .pointer("/config/materialized")
            .and_then(Value::as_str)
            .unwrap_or("");
        if materialized == "ephemeral" {
            continue;
        }
        let (Some(schema), Some(identifier)) = (
            n.get("schema").and_then(Value::as_str),
            n.get("alias")
                .and_then(Value::as_str)
                .or_else(|| n.get("name").and_then(Value::as_str)),
        ) else {
            continue;
        };
        out.insert(
            id.clone(),
            StateRelation {
                database: n
                    .get("database")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                schema: schema.to_string(),
                identifier: identifier.to_string(),
                view: materialized == "view",
            },
        );
    }
    out
}

/// Reads `<dir>/manifest.json`, a manifest written by Kiln or by dbt.
pub fn read_previous_manifest(dir: &Path) -> Result<Value> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::from(
            Diagnostic::new(
                ErrorKind::Usage,
                format!("cannot read {}: {e}", path.display()),
            )
            .with_hint("--state must point at a directory holding a previous run's manifest.json"),
        )
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        Error::from(
            Diagnostic::new(
                ErrorKind::Usage,
                format!("{} is not valid JSON: {e}", path.display()),
            )
            .with_hint("regenerate it with `kiln parse` (or dbt) on the reference version"),
        )
    })?;
    if !value.get("nodes").is_some_and(Value::is_object) {
        return Err(Error::from(
            Diagnostic::new(
                ErrorKind::Usage,
                format!("{} is not a manifest: it has no `nodes`", path.display()),
            )
            .with_hint("--state needs the manifest.json of a previous `kiln` or `dbt` invocation"),
        ));
    }
    Ok(value)
}

/// Config keys dbt leaves out of `same_config` for SQL nodes and seeds (`CompareBehavior.Exclude`).
const CONFIG_KEYS_NOT_COMPARED: &[&str] = &["alias", "schema", "database", "tags", "group"];

/// Python's `==` for JSON data: numbers compare by value (`1 == 1.0`).
fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| py_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Two optional fields equal (absent counts as null, as dbt's dataclass defaults make it).
fn field_eq(new: &Value, old: &Value, key: &str) -> bool {
    py_eq(
        new.get(key).unwrap_or(&Value::Null),
        old.get(key).unwrap_or(&Value::Null),
    )
}

/// `BaseConfig.same_contents` over two `unrendered_config`s: each key absent from both or equal
/// in both, skipping `excluded`.
fn same_unrendered(new: &Value, old: &Value, excluded: &[&str]) -> bool {
    let empty = Map::new();
    let new = new
        .get("unrendered_config")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let old = old
        .get("unrendered_config")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    new.keys()
        .chain(old.keys())
        .filter(|k| !excluded.contains(&k.as_str()))
        .all(|k| match (new.get(k), old.get(k)) {
            (Some(a), Some(b)) => py_eq(a, b),
            (None, None) => true,
            _ => false,
        })
}

/// dbt's `FileHash` equality: `none` never equals anything.
fn same_checksum(new: &Value, old: &Value) -> bool {
    let name = |v: &Value| {
        v.pointer("/checksum/name")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let sum = |v: &Value| v.pointer("/checksum/checksum").cloned();
    name(new).is_some_and(|n| n != "none") && name(new) == name(old) && sum(new) == sum(old)
}

/// `same_database_representation` of SQL nodes: database, schema and alias as written.
fn same_relation(new: &Value, old: &Value) -> bool {
    ["database", "schema", "alias"].iter().all(|k| {
        py_eq(
            new.pointer(&format!("/unrendered_config/{k}"))
                .unwrap_or(&Value::Null),
            old.pointer(&format!("/unrendered_config/{k}"))
                .unwrap_or(&Value::Null),
        )
    })
}

/// `same_persisted_description`: only descriptions the new node persists to the database count.
fn same_persisted_description(new: &Value, old: &Value) -> bool {
    let persist = |what: &str| {
        new.pointer(&format!("/config/persist_docs/{what}"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    if persist("relation") && !field_eq(new, old, "description") {
        return false;
    }
    if persist("columns") {
        let descriptions = |v: &Value| -> BTreeMap<String, Value> {
            v.get("columns")
                .and_then(Value::as_object)
                .map(|cols| {
                    cols.iter()
                        .map(|(k, c)| {
                            (
                                k.clone(),
                                c.get("description").cloned().unwrap_or(Value::Null),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        if descriptions(new) != descriptions(old) {
            return false;
        }
    }
    true
}

/// `ModelNode.same_contract`: an enforced contract whose checksum changed (or that became
/// enforced) is a change.
fn same_contract(new: &Value, old: &Value) -> bool {
    let enforced = |v: &Value| {
        v.pointer("/contract/enforced")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    match (enforced(old), enforced(new)) {
        (false, false) => true,
        (false, true) => false,
        (_, true) => new.pointer("/contract/checksum") == old.pointer("/contract/checksum"),
        (true, false) => false,
    }
}

fn resource_type(v: &Value) -> &str {
    v.get("resource_type").and_then(Value::as_str).unwrap_or("")
}

/// How one node or source compares with its previous version.
fn compare_node(new: &Value, old: Option<&Value>, macros_modified: bool) -> NodeState {
    let rt = resource_type(new);
    let is_source = rt == "source";
    let Some(old) = old else {
        // dbt: a source that did not exist has the same contents (its `same_contents(None)` is
        // true); new sources have no body, persisted descriptions or contract to compare.
        let mut state = NodeState::NEW;
        state.macros = macros_modified;
        if is_source {
            state.modified = false;
            state.body = false;
            state.persisted_descriptions = false;
            state.contract = false;
            state.macros = false;
        }
        return state;
    };
    if rt == "unit_test" {
        // dbt compares a unit test by its checksum (given, expect and overrides).
        let changed = !field_eq(new, old, "checksum");
        return NodeState {
            old: true,
            modified: changed,
            body: changed,
            configs: false,
            relation: false,
            persisted_descriptions: false,
            macros: false,
            contract: false,
        };
    }
    if is_source {
        let relation = ["database", "schema", "identifier"]
            .iter()
            .all(|k| field_eq(new, old, k));
        let configs = same_unrendered(new, old, &[]);
        let contents = relation
            && field_eq(new, old, "fqn")
            && configs
            && field_eq(new, old, "quoting")
            && field_eq(new, old, "freshness")
            && field_eq(new, old, "loaded_at_field")
            && field_eq(new, old, "external");
        return NodeState {
            old: true,
            modified: !contents,
            body: false,
            configs: !configs,
            relation: !relation,
            persisted_descriptions: false,
            macros: false,
            contract: false,
        };
    }
    let body = if rt == "seed" {
        same_checksum(new, old)
    } else {
        field_eq(new, old, "raw_code")
    };
    let configs = same_unrendered(new, old, CONFIG_KEYS_NOT_COMPARED);
    let fqn = field_eq(new, old, "fqn");
    let relation = same_relation(new, old);
    let descriptions = same_persisted_description(new, old);
    let is_model = rt == "model";
    let contract = !is_model || same_contract(new, old);
    let generic_test = rt == "test" && new.get("test_metadata").is_some_and(|t| !t.is_null());
    let contents = if generic_test {
        // GenericTestNode.same_contents: config and fqn only.
        configs && fqn
    } else {
        let references = !is_model
            || (field_eq(new, old, "latest_version")
                && field_eq(new, old, "access")
                && field_eq(new, old, "deprecation_date"));
        body && configs && descriptions && fqn && relation && contract && references
    };
    // dbt also checks the contract of a model that was one before (`isinstance(old, ModelNode)`).
    let contract_changed = resource_type(old) == "model" && !same_contract(new, old);
    NodeState {
        old: true,
        modified: !contents || macros_modified || contract_changed,
        body: !body,
        configs: !configs,
        relation: !relation,
        persisted_descriptions: !descriptions,
        macros: macros_modified,
        contract: !contract,
    }
}

/// unique_ids of macros that are new, removed or changed (`macro_sql`), among the packages the
/// project loads.
fn modified_macros(new: &Value, old: &Value, packages: &BTreeSet<String>) -> BTreeSet<String> {
    let empty = Map::new();
    let ours = |m: &Value| -> Map<String, Value> {
        m.get("macros")
            .and_then(Value::as_object)
            .unwrap_or(&empty)
            .iter()
            .filter(|(_, v)| {
                v.get("package_name")
                    .and_then(Value::as_str)
                    .is_some_and(|p| packages.contains(p))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let (new, old) = (ours(new), ours(old));
    let mut out = BTreeSet::new();
    for id in new.keys().chain(old.keys()) {
        let same = match (new.get(id), old.get(id)) {
            (Some(a), Some(b)) => field_eq(a, b, "macro_sql"),
            _ => false,
        };
        if !same {
            out.insert(id.clone());
        }
    }
    out
}

/// Whether a node calls a modified macro, directly or through the macros it calls.
fn calls_modified_macro(
    node: &Value,
    macros: &Map<String, Value>,
    modified: &BTreeSet<String>,
) -> bool {
    let mut stack: Vec<String> = deps(node);
    let mut seen = BTreeSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        if modified.contains(&id) {
            return true;
        }
        if let Some(m) = macros.get(&id) {
            stack.extend(deps(m));
        }
    }
    false
}

fn deps(v: &Value) -> Vec<String> {
    v.pointer("/depends_on/macros")
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Compares every node and source of the project with the previous manifest.
pub fn compare(manifest: &Manifest, previous: &Value) -> BTreeMap<String, NodeState> {
    let current = manifest_json(manifest);
    let mut packages: BTreeSet<String> = manifest.project.packages.keys().cloned().collect();
    packages.insert(manifest.project.name().to_string());
    let modified = modified_macros(&current, previous, &packages);
    let empty = Map::new();
    let macros = current
        .get("macros")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    // dbt looks a node up among every kind of resource of the previous manifest.
    let find_old = |id: &str| -> Option<&Value> {
        [
            "nodes",
            "sources",
            "unit_tests",
            "exposures",
            "metrics",
            "semantic_models",
            "saved_queries",
        ]
        .iter()
        .find_map(|section| previous.get(*section).and_then(|s| s.get(id)))
    };
    let mut out = BTreeMap::new();
    for section in ["nodes", "sources", "unit_tests"] {
        let Some(entries) = current.get(section).and_then(Value::as_object) else {
            continue;
        };
        for (id, node) in entries {
            let macros_modified = calls_modified_macro(node, macros, &modified);
            out.insert(
                id.clone(),
                compare_node(node, find_old(id), macros_modified),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model(raw: &str, unrendered: Value) -> Value {
        json!({
            "resource_type": "model", "raw_code": raw, "fqn": ["p", "m"],
            "unrendered_config": unrendered, "config": {}, "contract": {"enforced": false},
            "access": "protected", "depends_on": {"macros": []},
        })
    }

    #[test]
    fn sql_nodes_compare_code_and_configs_as_written() {
        let old = model("select 1", json!({"materialized": "table", "tags": ["a"]}));
        let same = compare_node(&old, Some(&old), false);
        assert!(!same.modified && same.old);
        // Tags are not compared; a changed value or a new key is.
        let tags = model("select 1", json!({"materialized": "table", "tags": ["b"]}));
        assert!(!compare_node(&tags, Some(&old), false).modified);
        let view = model("select 1", json!({"materialized": "view", "tags": ["a"]}));
        let s = compare_node(&view, Some(&old), false);
        assert!(s.modified && s.configs && !s.body && !s.relation);
        let schema = model("select 1", json!({"materialized": "table", "schema": "x"}));
        let s = compare_node(&schema, Some(&old), false);
        assert!(s.modified && s.relation && !s.configs);
        let body = model("select 2", json!({"materialized": "table", "tags": ["a"]}));
        let s = compare_node(&body, Some(&old), false);
        assert!(s.modified && s.body && !s.configs);
        assert!(compare_node(&old, Some(&old), true).modified);
        // Numbers compare by value, as Python's ==.
        let a = model("x", json!({"limit": 1}));
        let b = model("x", json!({"limit": 1.0}));
        assert!(!compare_node(&a, Some(&b), false).modified);
    }

    #[test]
    fn new_sources_are_not_modified_but_are_new() {
        let source = json!({"resource_type": "source"});
        let s = compare_node(&source, None, false);
        assert!(!s.old && !s.modified && s.configs && s.relation);
        let node = compare_node(&model("x", json!({})), None, false);
        assert!(!node.old && node.modified && node.body);
    }

    #[test]
    fn macros_outside_the_loaded_packages_are_not_compared() {
        let new = json!({"macros": {
            "macro.p.m": {"package_name": "p", "macro_sql": "a"},
        }});
        let old = json!({"macros": {
            "macro.p.m": {"package_name": "p", "macro_sql": "b"},
            "macro.dbt.x": {"package_name": "dbt", "macro_sql": "c"},
            "macro.p.gone": {"package_name": "p", "macro_sql": "d"},
        }});
        let packages = BTreeSet::from(["p".to_string()]);
        let modified = modified_macros(&new, &old, &packages);
        assert_eq!(
            modified,
            BTreeSet::from(["macro.p.gone".to_string(), "macro.p.m".to_string()])
        );
    }
}
