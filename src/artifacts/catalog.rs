//! `target/catalog.json` (dbt's catalog v1 shape): what the warehouse says about every relation
//! the project builds or reads, keyed by the unique_id of its model, seed, snapshot or source.

use super::{to_json_bytes, write_file};
use crate::adapter::CatalogTable;
use crate::compile::Manifest;
use crate::error::Result;
use crate::project::ResourceType;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::PathBuf;

/// dbt's catalog schema version Kiln writes.
pub const CATALOG_SCHEMA: &str = "https://schemas.getdbt.com/dbt/catalog/v1.json";

/// `(schema, name)` lower-cased: how relations are matched to catalog entries.
fn key(schema: &str, name: &str) -> (String, String) {
    (schema.to_lowercase(), name.to_lowercase())
}

fn table_json(unique_id: &str, database: Option<&str>, t: &CatalogTable) -> Value {
    let columns: Map<String, Value> = t
        .columns
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                json!({"type": c.data_type, "index": c.index, "name": c.name, "comment": c.comment}),
            )
        })
        .collect();
    let mut stats = Map::new();
    match t.row_count {
        Some(n) => {
            stats.insert(
                "row_count".into(),
                json!({"id": "row_count", "label": "Row count", "value": n, "include": true,
                       "description": "Rows in this relation (an estimate on PostgreSQL and MySQL)"}),
            );
            stats.insert(
                "has_stats".into(),
                json!({"id": "has_stats", "label": "Has Stats?", "value": true, "include": false,
                       "description": "Indicates whether there are statistics for this table"}),
            );
        }
        None => {
            stats.insert(
                "has_stats".into(),
                json!({"id": "has_stats", "label": "Has Stats?", "value": false, "include": false,
                       "description": "Indicates whether there are statistics for this table"}),
            );
        }
    }
    json!({
        "metadata": {
            "type": t.kind,
            "schema": t.schema,
            "name": t.name,
            "database": database,
            "comment": t.comment,
            "owner": t.owner,
        },
        "columns": columns,
        "stats": stats,
        "unique_id": unique_id,
    })
}

/// The catalog as JSON: each built or read relation found in `tables`.
pub fn catalog_json(manifest: &Manifest, tables: &[CatalogTable]) -> Value {
    let by_name: HashMap<(String, String), &CatalogTable> = tables
        .iter()
        .map(|t| (key(&t.schema, &t.name), t))
        .collect();
    let mut nodes = Map::new();
    for (id, mn) in &manifest.nodes {
        let relational = matches!(
            mn.node.resource_type,
            ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
        );
        if !relational || mn.is_ephemeral() {
            continue;
        }
        let Some(rel) = &mn.relation else { continue };
        if let Some(t) = by_name.get(&key(&rel.schema, &rel.identifier)) {
            nodes.insert(id.clone(), table_json(id, rel.database.as_deref(), t));
        }
    }
    let mut sources = Map::new();
    for (id, rel) in &manifest.source_relations {
        if let Some(t) = by_name.get(&key(&rel.schema, &rel.identifier)) {
            sources.insert(id.clone(), table_json(id, rel.database.as_deref(), t));
        }
    }
    json!({
        "metadata": {
            "dbt_schema_version": CATALOG_SCHEMA,
            "dbt_version": super::DBT_VERSION,
            "generated_at": super::now(),
            "invocation_id": manifest.renderer().invocation_id(),
            "env": {},
        },
        "nodes": nodes,
        "sources": sources,
        "errors": Value::Null,
    })
}

/// Writes `target/catalog.json`.
pub fn write_catalog(manifest: &Manifest, tables: &[CatalogTable]) -> Result<PathBuf> {
    let path = manifest.project.target_dir().join("catalog.json");
    write_file(&path, &to_json_bytes(&catalog_json(manifest, tables)))?;
    Ok(path)
}
