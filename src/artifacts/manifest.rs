//! `target/manifest.json` in dbt's manifest shape (v12 keys), plus Kiln's inferred columns and
//! column lineage; and the compiled SQL files under `target/compiled/`.

use super::{to_json_bytes, write_file};
use crate::compile::{Manifest, ManifestNode};
use crate::error::Result;
use crate::project::{Column, ResourceType};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// dbt's manifest schema version Kiln writes.
pub const MANIFEST_SCHEMA: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";

fn columns_json(columns: &[Column], renderer: &crate::template::Renderer) -> Value {
    let mut map = Map::new();
    for c in columns {
        map.insert(
            c.name.clone(),
            json!({
                "name": c.name,
                "description": renderer.render_description(&c.description),
                "data_type": c.data_type,
                "meta": c.meta,
                "tags": c.tags,
                "quote": c.quote,
            }),
        );
    }
    Value::Object(map)
}

fn node_json(manifest: &Manifest, mn: &ManifestNode) -> Value {
    let n = &mn.node;
    let renderer = &manifest.renderer;
    let mut v = json!({
        "unique_id": n.unique_id,
        "resource_type": n.resource_type.as_str(),
        "package_name": n.package_name,
        "name": n.name,
        "path": n.path,
        "original_file_path": n.original_file_path,
        "fqn": n.fqn,
        "alias": n.alias(),
        "config": n.config,
        "tags": n.config.tags(),
        "description": renderer.render_description(&n.description),
        "columns": columns_json(&n.columns, renderer),
        "patch_path": n.patch_path.as_ref().map(|p| format!("{}://{}", n.package_name, p)),
        "raw_code": n.raw_code,
        "language": "sql",
        "checksum": {"name": "sha256", "checksum": n.checksum},
        "refs": mn.refs.iter().map(|r| json!({"name": r.name, "package": r.package, "version": Value::Null})).collect::<Vec<_>>(),
        "sources": mn.sources.iter().map(|(s, t)| json!([s, t])).collect::<Vec<_>>(),
        "depends_on": {
            "nodes": mn.depends_on.iter().filter(|d| !d.starts_with("macro.")).collect::<Vec<_>>(),
            "macros": mn.depends_on_macros,
        },
        "compiled": mn.compiled_sql.is_some(),
    });
    let obj = v.as_object_mut().expect("json! object");
    if let Some(rel) = &mn.relation {
        obj.insert("database".into(), json!(rel.database));
        obj.insert("schema".into(), json!(rel.schema));
        if !mn.is_ephemeral() {
            obj.insert("relation_name".into(), json!(rel.render()));
        }
    }
    if let Some(sql) = &mn.compiled_sql {
        obj.insert("compiled_code".into(), json!(sql));
        obj.insert(
            "compiled_path".into(),
            json!(compiled_rel_path(manifest, mn).to_string_lossy()),
        );
    }
    if let Some(tm) = &n.test_metadata {
        obj.insert(
            "test_metadata".into(),
            json!({"name": tm.name, "namespace": tm.namespace, "kwargs": tm.kwargs}),
        );
        obj.insert("column_name".into(), json!(tm.column_name));
        let attached = mn
            .depends_on
            .iter()
            .find(|d| {
                !d.starts_with("source.")
                    || matches!(tm.target, crate::project::TestTarget::Source { .. })
            })
            .cloned();
        obj.insert("attached_node".into(), json!(attached));
    }
    if let Some(cols) = &mn.inferred_columns {
        obj.insert("kiln_inferred_columns".into(), json!(cols));
    }
    if !mn.lineage.is_empty() {
        let lineage: BTreeMap<&String, Vec<Value>> = mn
            .lineage
            .iter()
            .map(|(k, v)| {
                (
                    k,
                    v.iter()
                        .map(|c| json!({"relation": c.relation, "column": c.column, "kind": c.kind.as_str()}))
                        .collect(),
                )
            })
            .collect();
        obj.insert("kiln_column_lineage".into(), json!(lineage));
    }
    v
}

/// Path of a node's compiled SQL relative to the target dir, as dbt lays it out.
pub fn compiled_rel_path(manifest: &Manifest, mn: &ManifestNode) -> PathBuf {
    let mut p = PathBuf::from("compiled");
    p.push(manifest.project.name());
    if mn.node.is_generic_test() {
        p.push(&mn.node.original_file_path);
        p.push(format!("{}.sql", mn.node.name));
    } else {
        p.push(&mn.node.original_file_path);
    }
    p
}

/// The manifest as JSON.
pub fn manifest_json(manifest: &Manifest) -> Value {
    let renderer = &manifest.renderer;
    let project = &manifest.project;
    let nodes: Map<String, Value> = manifest
        .nodes
        .iter()
        .map(|(id, mn)| (id.clone(), node_json(manifest, mn)))
        .collect();
    let sources: Map<String, Value> = project
        .sources
        .iter()
        .map(|(id, s)| {
            let rel = manifest.source_relations.get(id);
            (
                id.clone(),
                json!({
                    "unique_id": s.unique_id,
                    "resource_type": "source",
                    "package_name": s.package_name,
                    "source_name": s.source_name,
                    "name": s.name,
                    "identifier": s.identifier,
                    "schema": s.schema,
                    "database": rel.and_then(|r| r.database.clone()),
                    "relation_name": rel.map(|r| r.render()),
                    "loader": s.loader,
                    "loaded_at_field": s.loaded_at_field,
                    "freshness": s.freshness,
                    "source_description": renderer.render_description(&s.source_description),
                    "description": renderer.render_description(&s.description),
                    "columns": columns_json(&s.columns, renderer),
                    "config": s.config,
                    "tags": s.config.tags(),
                    "fqn": s.fqn,
                    "original_file_path": s.original_file_path,
                    "path": s.original_file_path,
                }),
            )
        })
        .collect();
    let macros: Map<String, Value> = project
        .macros
        .iter()
        .map(|(id, m)| {
            (
                id.clone(),
                json!({
                    "unique_id": m.unique_id,
                    "resource_type": "macro",
                    "package_name": m.package_name,
                    "name": m.name,
                    "original_file_path": m.original_file_path,
                    "path": m.original_file_path,
                    "macro_sql": m.macro_sql,
                    "arguments": m.arguments.iter().map(|a| json!({"name": a})).collect::<Vec<_>>(),
                    "description": m.description,
                }),
            )
        })
        .collect();
    let docs: Map<String, Value> = project
        .docs
        .iter()
        .map(|(id, d)| {
            (
                id.clone(),
                json!({
                    "unique_id": d.unique_id,
                    "resource_type": "doc",
                    "name": d.name,
                    "package_name": d.package_name,
                    "original_file_path": d.original_file_path,
                    "path": d.original_file_path,
                    "block_contents": d.block_contents,
                }),
            )
        })
        .collect();
    let unit_tests: Map<String, Value> = project
        .unit_tests
        .iter()
        .map(|(id, u)| (id.clone(), serde_json::to_value(u).unwrap_or(Value::Null)))
        .collect();
    let disabled: Map<String, Value> = project
        .disabled
        .iter()
        .map(|(id, n)| {
            (
                id.clone(),
                json!([{
                    "unique_id": n.unique_id,
                    "resource_type": n.resource_type.as_str(),
                    "name": n.name,
                    "original_file_path": n.original_file_path,
                }]),
            )
        })
        .collect();
    let mut parent_map = Map::new();
    let mut child_map = Map::new();
    for n in manifest.dag.nodes() {
        let id = &n.unique_id;
        if manifest.nodes.contains_key(id) || project.sources.contains_key(id) {
            parent_map.insert(id.clone(), json!(manifest.dag.parents(id)));
            child_map.insert(id.clone(), json!(manifest.dag.children(id)));
        }
    }
    json!({
        "metadata": {
            "dbt_schema_version": MANIFEST_SCHEMA,
            "generator": "kiln",
            "kiln_version": env!("CARGO_PKG_VERSION"),
            "project_name": project.name(),
            "adapter_type": manifest.dialect.adapter_type(),
            "target_name": manifest.target.name,
        },
        "nodes": nodes,
        "sources": sources,
        "macros": macros,
        "docs": docs,
        "unit_tests": unit_tests,
        "exposures": {},
        "metrics": {},
        "groups": {},
        "selectors": {},
        "semantic_models": {},
        "saved_queries": {},
        "disabled": disabled,
        "parent_map": parent_map,
        "child_map": child_map,
    })
}

/// Writes `target/manifest.json`.
pub fn write_manifest(manifest: &Manifest) -> Result<PathBuf> {
    let path = manifest.project.target_dir().join("manifest.json");
    write_file(&path, &to_json_bytes(&manifest_json(manifest)))?;
    Ok(path)
}

/// Writes every compiled node's SQL under `target/compiled/`; returns how many were written.
pub fn write_compiled(manifest: &Manifest) -> Result<usize> {
    let target = manifest.project.target_dir();
    let mut count = 0;
    for mn in manifest.nodes.values() {
        if let Some(sql) = &mn.compiled_sql {
            if mn.node.resource_type == ResourceType::Seed {
                continue;
            }
            write_file(
                &target.join(compiled_rel_path(manifest, mn)),
                sql.as_bytes(),
            )?;
            count += 1;
        }
    }
    Ok(count)
}
