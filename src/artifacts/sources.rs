//! `target/sources.json` (dbt's v3 shape): the result of `kiln source freshness`. A source that
//! could not be checked is written in dbt's runtime-error shape (`unique_id`, `error`, `status`).

use super::{to_json_bytes, write_file};
use crate::compile::Manifest;
use crate::error::Result;
use crate::exec::freshness::{FreshnessResult, parse_timestamp};
use serde_json::{Value, json};
use std::path::PathBuf;

/// dbt's sources schema version Kiln writes.
pub const SOURCES_SCHEMA: &str = "https://schemas.getdbt.com/dbt/sources/v3.json";

/// A timestamp as Python's `datetime.isoformat()` writes an aware UTC time:
/// `2018-01-07T00:00:00+00:00`, with microseconds only when there are some.
fn python_isoformat(text: &str) -> Value {
    match parse_timestamp(text) {
        Some(t) => {
            let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            let micros = t.timestamp_subsec_micros();
            if micros == 0 {
                json!(format!("{base}+00:00"))
            } else {
                json!(format!("{base}.{micros:06}+00:00"))
            }
        }
        None => json!(text),
    }
}

fn result_json(r: &FreshnessResult) -> Value {
    if r.status == "runtime error" {
        return json!({
            "unique_id": r.unique_id,
            "error": r.error.clone().unwrap_or_else(|| "the freshness query failed".into()),
            "status": "runtime error",
        });
    }
    let compiled = r.started_at.clone();
    json!({
        "unique_id": r.unique_id,
        "max_loaded_at": r.max_loaded_at.as_deref().map(python_isoformat),
        "snapshotted_at": python_isoformat(&r.snapshotted_at),
        "max_loaded_at_time_ago_in_s": r.age_precise.or(r.age_seconds.map(|a| a as f64)).unwrap_or(0.0),
        "status": r.status,
        "criteria": {"warn_after": r.warn_after, "error_after": r.error_after, "filter": r.filter},
        "adapter_response": {"_message": "SELECT 1", "code": "SELECT", "rows_affected": 1},
        "timing": [
            {"name": "compile", "started_at": r.started_at, "completed_at": compiled},
            {"name": "execute", "started_at": compiled, "completed_at": r.completed_at},
        ],
        "thread_id": super::run_results::thread_name(Some(1)),
        "execution_time": (r.execution_time * 1e6).round() / 1e6,
    })
}

/// Writes `target/sources.json`.
pub fn write_sources(
    manifest: &Manifest,
    results: &[FreshnessResult],
    elapsed: f64,
    started_at: &str,
) -> Result<PathBuf> {
    let mut entries: Vec<Value> = results.iter().map(result_json).collect();
    entries.sort_by(|a, b| a["unique_id"].as_str().cmp(&b["unique_id"].as_str()));
    let value = json!({
        "metadata": {
            "dbt_schema_version": SOURCES_SCHEMA,
            "dbt_version": super::DBT_VERSION,
            "generated_at": super::now(),
            "invocation_id": manifest.renderer().invocation_id(),
            "invocation_started_at": started_at,
            "env": {},
        },
        "results": entries,
        "elapsed_time": (elapsed * 1e6).round() / 1e6,
    });
    let path = manifest.project.target_dir().join("sources.json");
    write_file(&path, &to_json_bytes(&value))?;
    Ok(path)
}
