//! `target/run_results.json` in dbt's v6 shape, with dbt's conventions for messages, adapter
//! responses and timing, so dbt's loaders and the tools built on them read it; what Kiln knows
//! beyond it (the command, whether the run was interrupted, each error's file, line and hint) in
//! `target/kiln_run_results.json`; and the executed statements under `target/run/`.

use super::{to_json_bytes, write_file};
use crate::compile::{Manifest, ManifestNode};
use crate::error::{ErrorKind, Result};
use crate::exec::{NodeResult, RunResults, Status};
use crate::project::ResourceType;
use serde_json::{Value, json};
use std::path::PathBuf;

/// dbt's run_results schema version Kiln writes.
pub const RUN_RESULTS_SCHEMA: &str = "https://schemas.getdbt.com/dbt/run-results/v6.json";

/// The file, under the target path, with Kiln's own facts about the last run.
pub const KILN_RUN_RESULTS_FILE: &str = "kiln_run_results.json";

/// A worker's name as dbt's threads are named.
pub fn thread_name(worker: Option<usize>) -> String {
    format!("Thread-{} (worker)", worker.unwrap_or(1))
}

/// `{"_message", "code", "rows_affected"}` as dbt's PostgreSQL adapter reports a statement.
fn adapter_response(message: &str, rows: i64) -> Value {
    let code = match message.split_whitespace().next() {
        Some("CREATE") => message.to_string(),
        Some(word) => word.to_string(),
        None => String::new(),
    };
    json!({"_message": message, "code": code, "rows_affected": rows})
}

/// The status line dbt's adapter gives for what the node did: `CREATE VIEW`, `SELECT 6`,
/// `INSERT 6` for a seed, `INSERT 0 3` for an incremental or snapshot update.
pub fn statement_status(mn: Option<&ManifestNode>, r: &NodeResult) -> Option<(String, i64)> {
    let rows = r.rows_affected.map(|n| n as i64);
    let n = rows.unwrap_or(0);
    let mn = mn?;
    Some(match mn.node.resource_type {
        ResourceType::Seed
            if !r.message.starts_with("cloned") && !r.message.starts_with("No-op") =>
        {
            (format!("INSERT {n}"), n)
        }
        ResourceType::Test => ("SELECT 1".to_string(), 1),
        // `kiln clone`: dbt's clone reports the view it made, or that it had nothing to do.
        _ if r.message.starts_with("No-op") => ("No-op".to_string(), -1),
        _ if r.message.starts_with("cloned") && r.message.ends_with("as a view") => {
            ("CREATE VIEW".to_string(), -1)
        }
        _ if r.message.starts_with("cloned") => (format!("SELECT {n}"), n),
        ResourceType::Snapshot if r.message.starts_with("created") => (format!("SELECT {n}"), n),
        ResourceType::Snapshot => (format!("INSERT 0 {n}"), n),
        _ if r.message == "created view" => ("CREATE VIEW".to_string(), -1),
        _ if r.message.starts_with("created table") => match rows {
            Some(n) => (format!("SELECT {n}"), n),
            None => ("CREATE TABLE".to_string(), -1),
        },
        _ => (format!("INSERT 0 {n}"), n),
    })
}

/// dbt's `message`: the adapter's status for built nodes, null for passing tests and skips,
/// `Got N results, configured to fail if != 0` for failing tests, the error for errors.
pub fn message(mn: Option<&ManifestNode>, r: &NodeResult) -> Value {
    match r.status {
        Status::Success => json!(statement_status(mn, r).map(|(m, _)| m)),
        Status::Pass | Status::Skipped => Value::Null,
        // A unit test's failure is its table of differing rows.
        Status::Fail if mn.is_some_and(|m| m.node.resource_type == ResourceType::UnitTest) => {
            json!(r.message)
        }
        Status::Fail | Status::Warn => {
            let n = r.failures.unwrap_or(0);
            let (word, key, default) = match r.status {
                Status::Fail => ("fail", "error_if", "!= 0"),
                _ => ("warn", "warn_if", "!= 0"),
            };
            let condition = mn
                .and_then(|m| m.node.config.get_str(key).map(str::to_string))
                .unwrap_or_else(|| default.to_string());
            json!(format!(
                "Got {n} result{}, configured to {word} if {condition}",
                if n == 1 { "" } else { "s" }
            ))
        }
        Status::Error => json!(error_message(mn, r)),
    }
}

/// An error as dbt words it: `Database Error in model orders (models/orders.sql)` and the cause.
pub fn error_message(mn: Option<&ManifestNode>, r: &NodeResult) -> String {
    let Some(d) = &r.error else {
        return r.message.clone();
    };
    let kind = match d.kind {
        ErrorKind::Database => "Database Error",
        ErrorKind::Template | ErrorKind::Sql | ErrorKind::Reference => "Compilation Error",
        _ => "Runtime Error",
    };
    let body = d.message.replace('\n', "\n  ");
    match mn {
        Some(mn) => format!(
            "{kind} in {} {} ({})\n  {body}",
            mn.node.resource_type, mn.node.name, mn.node.original_file_path
        ),
        None => format!("{kind}\n  {body}"),
    }
}

fn result_json(manifest: &Manifest, r: &NodeResult) -> Value {
    let mn = manifest.result_node(&r.unique_id);
    let mn = mn.as_deref();
    let is_seed = mn.is_some_and(|m| m.node.resource_type == ResourceType::Seed);
    let relation_name = mn.and_then(|mn| {
        let relational = matches!(
            mn.node.resource_type,
            ResourceType::Model | ResourceType::Snapshot
        );
        mn.relation
            .as_ref()
            .filter(|_| relational && !mn.is_ephemeral())
            .map(|rel| rel.render())
    });
    let skipped = r.status == Status::Skipped;
    // dbt's two steps: compile (until the SQL is rendered) and execute (the rest).
    let timing = if skipped {
        json!([])
    } else {
        let compiled = r
            .compiled_at
            .clone()
            .unwrap_or_else(|| r.started_at.clone());
        json!([
            {"name": "compile", "started_at": r.started_at, "completed_at": compiled},
            {"name": "execute", "started_at": compiled, "completed_at": r.completed_at},
        ])
    };
    let adapter = match (r.status, statement_status(mn, r)) {
        (Status::Error | Status::Skipped, _) | (_, None) => json!({}),
        (_, Some((m, rows))) => adapter_response(&m, rows),
    };
    let compiled = if is_seed {
        Value::Null
    } else {
        json!(!skipped && r.compiled_code.is_some())
    };
    json!({
        "status": r.status.as_str(),
        "timing": timing,
        "thread_id": thread_name(r.worker),
        "execution_time": if skipped { 0.0 } else { (r.execution_time * 1e6).round() / 1e6 },
        "adapter_response": adapter,
        "message": message(mn, r),
        "failures": r.failures,
        "unique_id": r.unique_id,
        "compiled": compiled,
        "compiled_code": if is_seed { None } else { r.compiled_code.clone() },
        "relation_name": relation_name,
        "batch_results": null,
    })
}

/// Results in a stable order (by unique_id), so two runs of a project compare cleanly.
fn sorted(results: &RunResults) -> Vec<&NodeResult> {
    let mut out: Vec<&NodeResult> = results.results.iter().collect();
    out.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
    out
}

/// The run results as JSON. `args` are the invocation's flags (`which`, `select`, ...).
pub fn run_results_json(manifest: &Manifest, results: &RunResults, args: &Value) -> Value {
    let entries: Vec<Value> = sorted(results)
        .into_iter()
        .map(|r| result_json(manifest, r))
        .collect();
    json!({
        "metadata": {
            "dbt_schema_version": RUN_RESULTS_SCHEMA,
            "dbt_version": super::DBT_VERSION,
            "generated_at": super::now(),
            "invocation_id": manifest.renderer().invocation_id(),
            "invocation_started_at": results.started_at,
            "env": {},
        },
        "results": entries,
        "elapsed_time": (results.elapsed * 1e6).round() / 1e6,
        "args": args,
    })
}

/// Kiln's own record of the run: the command, whether it was interrupted, and per node Kiln's
/// one-line summary, the rows it touched and the full error (kind, file, line, hint).
pub fn kiln_run_results_json(manifest: &Manifest, results: &RunResults, command: &str) -> Value {
    let entries: Vec<Value> = sorted(results)
        .into_iter()
        .map(|r| {
            let compiled_path = manifest.result_node(&r.unique_id).and_then(|mn| {
                r.compiled_code.as_ref().map(|_| {
                    super::manifest::compiled_rel_path(manifest, &mn)
                        .to_string_lossy()
                        .into_owned()
                })
            });
            json!({
                "unique_id": r.unique_id,
                "status": r.status.as_str(),
                "message": r.message,
                "rows_affected": r.rows_affected,
                "compiled_path": compiled_path,
                "error": r.error.as_ref().map(|d| json!({
                    "kind": d.kind.as_str(),
                    "message": d.message,
                    "file": d.location.as_ref().map(|l| l.file.to_string_lossy().into_owned()),
                    "line": d.location.as_ref().map(|l| l.line),
                    "hint": d.hint,
                })),
            })
        })
        .collect();
    json!({
        "metadata": {
            "kiln_version": env!("CARGO_PKG_VERSION"),
            "invocation_id": manifest.renderer().invocation_id(),
            "generated_at": super::now(),
        },
        "command": command,
        "interrupted": results.interrupted,
        "results": entries,
    })
}

/// Writes `target/run_results.json`, `target/kiln_run_results.json`, each node's compiled SQL to
/// `target/compiled/` and its executed statements to `target/run/`.
pub fn write_run_results(
    manifest: &Manifest,
    results: &RunResults,
    command: &str,
    args: &Value,
) -> Result<PathBuf> {
    let target = manifest.project.target_dir();
    for r in &results.results {
        let Some(mn) = manifest.result_node(&r.unique_id) else {
            continue;
        };
        let rel = super::manifest::compiled_rel_path(manifest, &mn);
        // As dbt does, a run leaves each node's compiled SQL beside what it executed, so an
        // error's compiled file can be opened (the end-of-run recap points there). A clone's
        // statement is not the node's SQL.
        if let Some(sql) = r.compiled_code.as_ref().or(mn.compiled_sql.as_ref())
            && mn.node.resource_type != ResourceType::Seed
            && command != "clone"
        {
            write_file(&target.join(&rel), sql.as_bytes())?;
        }
        if r.statements.is_empty() {
            continue;
        }
        let rel = rel
            .strip_prefix("compiled")
            .map(|p| p.to_path_buf())
            .unwrap_or(rel);
        let mut text = r.statements.join(";\n\n");
        text.push_str(";\n");
        write_file(&target.join("run").join(rel), text.as_bytes())?;
    }
    write_file(
        &target.join(KILN_RUN_RESULTS_FILE),
        &to_json_bytes(&kiln_run_results_json(manifest, results, command)),
    )?;
    let path = target.join("run_results.json");
    write_file(
        &path,
        &to_json_bytes(&run_results_json(manifest, results, args)),
    )?;
    Ok(path)
}
