//! `target/run_results.json` (dbt's v6 shape) and the executed statements under `target/run/`.

use super::{to_json_bytes, write_file};
use crate::compile::Manifest;
use crate::error::Result;
use crate::exec::RunResults;
use serde_json::{Value, json};
use std::path::PathBuf;

/// dbt's run_results schema version Kiln writes.
pub const RUN_RESULTS_SCHEMA: &str = "https://schemas.getdbt.com/dbt/run-results/v6.json";

/// The run results as JSON. `command` is the invoked command (`run`, `build`, ...).
pub fn run_results_json(
    manifest: &Manifest,
    results: &RunResults,
    command: &str,
    args: &Value,
) -> Value {
    let mut entries: Vec<Value> = results
        .results
        .iter()
        .map(|r| {
            let compiled_path = manifest.nodes.get(&r.unique_id).and_then(|mn| {
                r.compiled_code.as_ref().map(|_| {
                    super::manifest::compiled_rel_path(manifest, mn)
                        .to_string_lossy()
                        .into_owned()
                })
            });
            json!({
                "unique_id": r.unique_id,
                "status": r.status.as_str(),
                "message": r.message,
                "execution_time": (r.execution_time * 1e6).round() / 1e6,
                "timing": [
                    {"name": "execute", "started_at": r.started_at, "completed_at": r.completed_at}
                ],
                "failures": r.failures,
                "adapter_response": {"rows_affected": r.rows_affected},
                "rows_affected": r.rows_affected,
                "compiled_code": r.compiled_code,
                "compiled_path": compiled_path,
                "relation_name": manifest.nodes.get(&r.unique_id).and_then(|mn| mn.relation.as_ref().filter(|_| !mn.is_ephemeral()).map(|rel| rel.render())),
                "error": r.error.as_ref().map(|d| json!({
                    "kind": d.kind.as_str(),
                    "message": d.message,
                    "file": d.location.as_ref().map(|l| l.file.to_string_lossy().into_owned()),
                    "line": d.location.as_ref().map(|l| l.line),
                    "hint": d.hint,
                })),
                "thread_id": match r.worker {
                    Some(w) => format!("Thread-{w} (worker)"),
                    None => "main".to_string(),
                },
            })
        })
        .collect();
    // Stable order: by unique_id, so two runs of the same project compare cleanly.
    entries.sort_by(|a, b| a["unique_id"].as_str().cmp(&b["unique_id"].as_str()));
    json!({
        "metadata": {
            "dbt_schema_version": RUN_RESULTS_SCHEMA,
            "generator": "kiln",
            "kiln_version": env!("CARGO_PKG_VERSION"),
            "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "invocation_started_at": results.started_at,
        },
        "results": entries,
        "elapsed_time": (results.elapsed * 1e6).round() / 1e6,
        "interrupted": results.interrupted,
        "args": args,
        "command": command,
    })
}

/// Writes `target/run_results.json` and each node's executed statements to `target/run/`.
pub fn write_run_results(
    manifest: &Manifest,
    results: &RunResults,
    command: &str,
    args: &Value,
) -> Result<PathBuf> {
    let target = manifest.project.target_dir();
    for r in &results.results {
        if r.statements.is_empty() {
            continue;
        }
        let Some(mn) = manifest.nodes.get(&r.unique_id) else {
            continue;
        };
        let rel = super::manifest::compiled_rel_path(manifest, mn);
        let rel = rel
            .strip_prefix("compiled")
            .map(|p| p.to_path_buf())
            .unwrap_or(rel);
        let mut text = r.statements.join(";\n\n");
        text.push_str(";\n");
        write_file(&target.join("run").join(rel), text.as_bytes())?;
    }
    let path = target.join("run_results.json");
    write_file(
        &path,
        &to_json_bytes(&run_results_json(manifest, results, command, args)),
    )?;
    Ok(path)
}
