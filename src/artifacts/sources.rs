//! `target/sources.json` (dbt's v3 shape): the result of `kiln source freshness`.

use super::{to_json_bytes, write_file};
use crate::compile::Manifest;
use crate::error::Result;
use crate::exec::freshness::FreshnessResult;
use serde_json::{Value, json};
use std::path::PathBuf;

/// dbt's sources schema version Kiln writes.
pub const SOURCES_SCHEMA: &str = "https://schemas.getdbt.com/dbt/sources/v3.json";

/// Writes `target/sources.json`.
pub fn write_sources(
    manifest: &Manifest,
    results: &[FreshnessResult],
    elapsed: f64,
) -> Result<PathBuf> {
    let mut entries: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({
                "unique_id": r.unique_id,
                "status": r.status,
                "max_loaded_at": r.max_loaded_at,
                "snapshotted_at": r.snapshotted_at,
                "max_loaded_at_time_ago_in_s": r.age_seconds,
                "criteria": {"warn_after": r.warn_after, "error_after": r.error_after},
                "error": r.error,
                "execution_time": (r.execution_time * 1e6).round() / 1e6,
            })
        })
        .collect();
    entries.sort_by(|a, b| a["unique_id"].as_str().cmp(&b["unique_id"].as_str()));
    let value = json!({
        "metadata": {
            "dbt_schema_version": SOURCES_SCHEMA,
            "generator": "kiln",
            "kiln_version": env!("CARGO_PKG_VERSION"),
            "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        },
        "results": entries,
        "elapsed_time": (elapsed * 1e6).round() / 1e6,
    });
    let path = manifest.project.target_dir().join("sources.json");
    write_file(&path, &to_json_bytes(&value))?;
    Ok(path)
}
