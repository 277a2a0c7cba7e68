//! `target/manifest.json` in dbt's manifest v12 shape, which dbt's own loaders and the tools built
//! on them read; Kiln's inferred columns and column lineage, which dbt's schema has no room for, in
//! `target/kiln_lineage.json`; and the compiled SQL files under `target/compiled/`.

mod config;
mod node;

pub(crate) use node::database_and_schema;
pub use node::{PrimaryKeys, columns_json, doc_blocks, macro_json, node_json, source_json};

use super::{Member, write_file, write_pieces};
use crate::compile::{Manifest, ManifestNode, relation_for};
use crate::error::Result;
use crate::project::{ResourceType, identity};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// dbt's manifest schema version Kiln writes.
pub const MANIFEST_SCHEMA: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";

/// The file, under the target path, that holds what Kiln knows beyond dbt's manifest.
pub const LINEAGE_FILE: &str = "kiln_lineage.json";

/// Path of a node's compiled SQL relative to the target dir, as dbt lays it out (generic tests
/// under their YAML file, by their short name).
pub fn compiled_rel_path(manifest: &Manifest, mn: &ManifestNode) -> PathBuf {
    let mut p = PathBuf::from("compiled");
    p.push(manifest.project.name());
    p.push(&mn.node.original_file_path);
    if mn.node.is_generic_test() || mn.node.resource_type == ResourceType::UnitTest {
        p.push(&mn.node.path);
    }
    p
}

/// The manifest's `metadata`: nothing time-dependent, so the same project writes the same bytes.
fn metadata_json(manifest: &Manifest) -> Value {
    let project = &manifest.project;
    let quoting =
        |key: &str, default: Value| project.file.quoting.get(key).cloned().unwrap_or(default);
    json!({
        "dbt_schema_version": MANIFEST_SCHEMA,
        "dbt_version": super::DBT_VERSION,
        "env": {},
        "project_name": project.name(),
        "project_id": identity::md5_hex(project.name()),
        "user_id": null,
        "send_anonymous_usage_stats": false,
        "adapter_type": manifest.dialect.adapter_type(),
        "quoting": {
            "database": quoting("database", json!(true)),
            "schema": quoting("schema", json!(true)),
            "identifier": quoting("identifier", json!(true)),
            "column": quoting("column", Value::Null),
        },
    })
}

/// A disabled node as the manifest lists it (dbt writes the whole node, config included).
fn disabled_json(manifest: &Manifest, node: &crate::project::Node, keys: &PrimaryKeys) -> Value {
    let relation = matches!(
        node.resource_type,
        ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
    )
    .then(|| relation_for(node, &manifest.target, manifest.dialect));
    let mn = ManifestNode {
        node: node.clone(),
        relation,
        refs: Vec::new(),
        sources: Vec::new(),
        depends_on: Vec::new(),
        depends_on_macros: Vec::new(),
        compiled_sql: None,
        inferred_columns: None,
        lineage: BTreeMap::new(),
    };
    node_json(manifest, &mn, keys)
}

/// `parent_map` and `child_map` over nodes, sources and unit tests, each list sorted.
fn graph_maps(manifest: &Manifest) -> (Map<String, Value>, Map<String, Value>) {
    let project = &manifest.project;
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut children: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for id in manifest.nodes.keys().chain(project.sources.keys()) {
        parents.entry(id.clone()).or_default();
        children.entry(id.clone()).or_default();
    }
    for (id, mn) in &manifest.nodes {
        for dep in &mn.depends_on {
            if parents.contains_key(dep) {
                parents.entry(id.clone()).or_default().insert(dep.clone());
                children.entry(dep.clone()).or_default().insert(id.clone());
            }
        }
    }
    for (id, u) in &project.unit_tests {
        let model = manifest
            .nodes
            .values()
            .find(|mn| mn.node.resource_type == ResourceType::Model && mn.node.name == u.model)
            .map(|mn| mn.node.unique_id.clone());
        let entry = parents.entry(id.clone()).or_default();
        children.entry(id.clone()).or_default();
        if let Some(model) = model {
            entry.insert(model.clone());
            children.entry(model).or_default().insert(id.clone());
        }
    }
    let to_map = |m: BTreeMap<String, BTreeSet<String>>| -> Map<String, Value> {
        m.into_iter()
            .map(|(k, v)| (k, json!(v.into_iter().collect::<Vec<_>>())))
            .collect()
    };
    (to_map(parents), to_map(children))
}

/// The manifest as JSON.
pub fn manifest_json(manifest: &Manifest) -> Value {
    let keys = PrimaryKeys::of(manifest);
    let nodes: Map<String, Value> = {
        use rayon::prelude::*;
        let shaped: Vec<(String, Value)> = manifest
            .nodes
            .par_iter()
            .map(|(id, mn)| (id.clone(), node_json(manifest, mn, &keys)))
            .collect();
        shaped.into_iter().collect()
    };
    let mut out = manifest_rest(manifest, &keys);
    out.insert("nodes".into(), Value::Object(nodes));
    Value::Object(out)
}

/// The manifest as written to disk, the bytes of [`manifest_json`]. Nodes are most of a large
/// manifest; each is shaped and serialized on its own, in parallel, so no tree of the whole
/// manifest is ever built.
pub fn manifest_pieces(manifest: &Manifest) -> Vec<Vec<u8>> {
    use rayon::prelude::*;
    let keys = PrimaryKeys::of(manifest);
    let nodes: Vec<Vec<u8>> = manifest
        .nodes
        .par_iter()
        .map(|(id, mn)| super::member_bytes(id, &node_json(manifest, mn, &keys)))
        .collect();
    let mut members: Vec<(String, Member)> = manifest_rest(manifest, &keys)
        .into_iter()
        .map(|(k, v)| {
            let bytes = super::member_bytes(&k, &v);
            (k, Member::Whole(bytes))
        })
        .collect();
    members.push(("nodes".into(), Member::Object(nodes)));
    super::object_pieces(members)
}

/// Every top-level member of the manifest but `nodes`.
fn manifest_rest(manifest: &Manifest, keys: &PrimaryKeys) -> Map<String, Value> {
    let project = &manifest.project;
    let sources: Map<String, Value> = project
        .sources
        .iter()
        .map(|(id, s)| (id.clone(), source_json(manifest, s)))
        .collect();
    let macros: Map<String, Value> = project
        .macros
        .iter()
        .map(|(id, m)| (id.clone(), macro_json(m)))
        .collect();
    let docs: Map<String, Value> = project
        .docs
        .iter()
        .map(|(id, d)| (id.clone(), node::doc_json(manifest, d)))
        .collect();
    let unit_tests: Map<String, Value> = project
        .unit_tests
        .iter()
        .map(|(id, u)| (id.clone(), node::unit_test_json(manifest, u)))
        .collect();
    let disabled: Map<String, Value> = project
        .disabled
        .iter()
        .map(|(id, n)| (id.clone(), json!([disabled_json(manifest, n, keys)])))
        .collect();
    let (parent_map, child_map) = graph_maps(manifest);
    let empty = || Value::Object(Map::new());
    // Built by moving each part in: `json!` would copy every map through serde.
    let mut out = Map::new();
    out.insert("metadata".into(), metadata_json(manifest));
    out.insert("sources".into(), Value::Object(sources));
    out.insert("macros".into(), Value::Object(macros));
    out.insert("docs".into(), Value::Object(docs));
    out.insert("disabled".into(), Value::Object(disabled));
    out.insert("parent_map".into(), Value::Object(parent_map));
    out.insert("child_map".into(), Value::Object(child_map));
    out.insert("unit_tests".into(), Value::Object(unit_tests));
    for key in [
        "exposures",
        "metrics",
        "groups",
        "selectors",
        "group_map",
        "saved_queries",
        "semantic_models",
        "functions",
    ] {
        out.insert(key.into(), empty());
    }
    out
}

/// `kiln_lineage.json`: Kiln's own facts about each compiled node (the output columns it infers
/// and the upstream columns each one is computed from), its nodes serialized in parallel.
pub fn lineage_pieces(manifest: &Manifest) -> Vec<Vec<u8>> {
    use rayon::prelude::*;
    let nodes: Vec<Vec<u8>> = manifest
        .nodes
        .par_iter()
        .filter_map(|(id, mn)| node_lineage_json(mn).map(|v| super::member_bytes(id, &v)))
        .collect();
    let metadata = super::member_bytes("metadata", &lineage_metadata_json(manifest));
    super::object_pieces(vec![
        ("metadata".into(), Member::Whole(metadata)),
        ("nodes".into(), Member::Object(nodes)),
    ])
}

fn lineage_metadata_json(manifest: &Manifest) -> Value {
    json!({"kiln_version": env!("CARGO_PKG_VERSION"), "project_name": manifest.project.name()})
}

/// One node's entry in `kiln_lineage.json`, if Kiln knows anything about its columns.
fn node_lineage_json(mn: &ManifestNode) -> Option<Value> {
    if mn.inferred_columns.is_none() && mn.lineage.is_empty() {
        return None;
    }
    let lineage: Map<String, Value> = mn
        .lineage
        .iter()
        .map(|(col, sources)| {
            let sources = sources
                .iter()
                .map(|c| json!({"relation": c.relation, "column": c.column, "kind": c.kind.as_str()}))
                .collect();
            (col.clone(), Value::Array(sources))
        })
        .collect();
    Some(json!({"columns": mn.inferred_columns, "column_lineage": lineage}))
}

/// Writes `target/manifest.json` and `target/kiln_lineage.json`; returns the manifest's path.
pub fn write_manifest(manifest: &Manifest) -> Result<PathBuf> {
    let target = manifest.project.target_dir();
    let path = target.join("manifest.json");
    let (written, lineage) = rayon::join(
        || write_pieces(&path, &manifest_pieces(manifest)),
        || write_pieces(&target.join(LINEAGE_FILE), &lineage_pieces(manifest)),
    );
    written?;
    lineage?;
    Ok(path)
}

/// Writes every compiled node's SQL under `target/compiled/`; returns how many were written.
///
/// Files are written in parallel, and a file that already holds the same SQL is left alone: on a
/// large project most files are unchanged between two compiles, and replacing a file costs far
/// more than reading it.
pub fn write_compiled(manifest: &Manifest) -> Result<usize> {
    use rayon::prelude::*;
    let target = manifest.project.target_dir();
    let files: Vec<(PathBuf, &str)> = manifest
        .nodes
        .values()
        .filter(|mn| mn.node.resource_type != ResourceType::Seed)
        .filter_map(|mn| {
            let sql = mn.compiled_sql.as_deref()?;
            Some((target.join(compiled_rel_path(manifest, mn)), sql))
        })
        .collect();
    files
        .par_iter()
        .try_for_each(|(path, sql)| match std::fs::read(path) {
            Ok(old) if old == sql.as_bytes() => Ok(()),
            _ => write_file(path, sql.as_bytes()),
        })?;
    Ok(files.len())
}
