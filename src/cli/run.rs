//! Commands that talk to the database: `run`, `test`, `seed`, `snapshot`, `build` and `show`.

use super::args::{ExecArgs, GlobalArgs, SelectArgs, ShowOutput};
use super::output::Output;
use super::{EXIT_FAILURE, EXIT_OK, parse_project, record_manifest, select_nodes};
use crate::adapter::Adapter;
use crate::artifacts;
use crate::compile::{self, Manifest};
use crate::error::{Diagnostic, Error, ErrorKind, Result};
use crate::exec::{self, Event, RunOptions, RunResults, Status};
use crate::project::ResourceType;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Which execution command is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecCommand {
    /// `kiln run`.
    Run,
    /// `kiln test`.
    Test,
    /// `kiln seed`.
    Seed,
    /// `kiln snapshot`.
    Snapshot,
    /// `kiln build`.
    Build,
}

impl ExecCommand {
    fn name(self) -> &'static str {
        match self {
            ExecCommand::Run => "run",
            ExecCommand::Test => "test",
            ExecCommand::Seed => "seed",
            ExecCommand::Snapshot => "snapshot",
            ExecCommand::Build => "build",
        }
    }

    fn resource_types(self) -> Vec<ResourceType> {
        match self {
            ExecCommand::Run => vec![ResourceType::Model],
            ExecCommand::Test => vec![ResourceType::Test],
            ExecCommand::Seed => vec![ResourceType::Seed],
            ExecCommand::Snapshot => vec![ResourceType::Snapshot],
            ExecCommand::Build => vec![
                ResourceType::Seed,
                ResourceType::Model,
                ResourceType::Snapshot,
                ResourceType::Test,
            ],
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::Execution,
                format!("cannot start the async runtime: {e}"),
            )
        })
}

/// Connects to the manifest's target, attaching every schema the project uses.
async fn connect(manifest: &Manifest) -> Result<Adapter> {
    Adapter::connect(&manifest.target, &exec::schemas_of(manifest)).await
}

/// `kiln run|test|seed|snapshot|build`.
pub fn cmd_exec(
    g: &GlobalArgs,
    out: &Output,
    command: ExecCommand,
    select: &SelectArgs,
    args: &ExecArgs,
) -> Result<i32> {
    let manifest = parse_project(g, out, command.which())?;
    let types = command.resource_types();
    let selected = select_nodes(&manifest, select, &types, out)?;
    record_manifest(&manifest)?;
    manifest.renderer.set_selected_resources(&selected);
    let rt = runtime()?;
    let threads = manifest.target.threads.max(1);
    let manifest = Arc::new(manifest);
    let result: Result<(RunResults, bool)> = rt.block_on(async {
        let adapter = connect(&manifest).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_signal = stop.clone();
        let sink_out = out.clone();
        let names = manifest.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop_signal.store(true, Ordering::SeqCst);
                sink_out.info(
                    "Interrupted: waiting for running nodes to finish; nothing is left half-built.",
                );
            }
        });
        let sink_out = out.clone();
        let events: exec::EventSink = Arc::new(move |e| report(&sink_out, &names, e));
        out.info(&format!(
            "Running {} on {} ({}) with {threads} {}",
            describe_selection(&manifest, &selected, command),
            manifest.target.name,
            compile::dialect_of(manifest.target.adapter).adapter_type(),
            if threads == 1 { "thread" } else { "threads" },
        ));
        // The target schema exists before anything runs, so hooks can use it.
        adapter.ensure_schema(&manifest.target.schema).await?;
        let hooks_ok = run_project_hooks(&manifest, &adapter, "on_run_start", out).await;
        let results = if hooks_ok {
            exec::run(
                manifest.clone(),
                &selected,
                adapter.clone(),
                RunOptions {
                    threads,
                    full_refresh: args.full_refresh,
                    fail_fast: args.fail_fast,
                    store_failures: args.store_failures,
                    tests_gate_children: command == ExecCommand::Build,
                },
                events,
                stop,
            )
            .await
        } else {
            RunResults::default()
        };
        let end_ok = run_project_hooks(&manifest, &adapter, "on_run_end", out).await;
        adapter.close().await;
        Ok((results, hooks_ok && end_ok))
    });
    let (results, hooks_ok) = result?;
    let args_json = serde_json::json!({
        "which": command.name(),
        "select": select.select,
        "exclude": select.exclude,
        "full_refresh": args.full_refresh,
        "fail_fast": args.fail_fast,
        "threads": threads,
    });
    artifacts::run_results::write_run_results(&manifest, &results, command.name(), &args_json)?;
    out.summary(&manifest, &results);
    if results.has_failures() || !hooks_ok || results.interrupted {
        Ok(EXIT_FAILURE)
    } else {
        Ok(EXIT_OK)
    }
}

fn describe_selection(
    manifest: &Manifest,
    selected: &BTreeSet<String>,
    command: ExecCommand,
) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for id in selected {
        if let Some(mn) = manifest.nodes.get(id) {
            if mn.is_ephemeral() {
                continue;
            }
            *counts
                .entry(mn.node.resource_type.as_str())
                .or_insert(0usize) += 1;
        }
    }
    if counts.is_empty() {
        return format!("nothing (no {} selected)", command.name());
    }
    counts
        .iter()
        .map(|(k, v)| {
            let plural = match (*k, *v) {
                (_, 1) => k.to_string(),
                ("analysis", _) => "analyses".to_string(),
                _ => format!("{k}s"),
            };
            format!("{v} {plural}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `on-run-start` / `on-run-end` hooks; false when one failed (reported as an error).
async fn run_project_hooks(
    manifest: &Arc<Manifest>,
    adapter: &Adapter,
    key: &'static str,
    out: &Output,
) -> bool {
    let hooks = match key {
        "on_run_start" => manifest.project.file.on_run_start.clone(),
        _ => manifest.project.file.on_run_end.clone(),
    };
    for hook in hooks {
        let m = manifest.clone();
        let h = hook.clone();
        let rendered =
            tokio::task::spawn_blocking(move || compile::render_operation(&m, &h, key)).await;
        let sql = match rendered {
            Ok(Ok(sql)) => sql,
            Ok(Err(d)) => {
                out.error(&Error::from(d));
                return false;
            }
            Err(e) => {
                out.error(&Error::new(ErrorKind::Execution, e.to_string()));
                return false;
            }
        };
        if sql.trim().is_empty() {
            continue;
        }
        if let Err(e) = adapter.execute(&sql).await {
            out.error(&e.with_hint(&format!("in {} hook `{hook}`", key.replace('_', "-"))));
            return false;
        }
        out.info(&format!("{}: ran `{}`", key.replace('_', "-"), sql.trim()));
    }
    true
}

fn report(out: &Output, manifest: &Manifest, event: Event) {
    match event {
        Event::Started {
            index,
            total,
            unique_id,
        } => {
            let Some(mn) = manifest.nodes.get(&unique_id) else {
                return;
            };
            out.node_started(index, total, &unique_id, &describe_node(mn));
        }
        Event::Finished {
            index,
            total,
            result,
        } => {
            let desc = manifest
                .nodes
                .get(&result.unique_id)
                .map(describe_node)
                .unwrap_or_else(|| result.unique_id.clone());
            out.node_finished(index, total, &result, &desc);
        }
        Event::Message(m) => out.info(&m),
    }
}

fn describe_node(mn: &compile::ManifestNode) -> String {
    match mn.node.resource_type {
        ResourceType::Test => format!("test {}", mn.node.name),
        ResourceType::Seed => format!("seed {}", relation_name(mn)),
        ResourceType::Snapshot => format!("snapshot {}", relation_name(mn)),
        _ => format!("{} model {}", mn.materialized(), relation_name(mn)),
    }
}

fn relation_name(mn: &compile::ManifestNode) -> String {
    mn.relation
        .as_ref()
        .map(|r| format!("{}.{}", r.schema, r.identifier))
        .unwrap_or_else(|| mn.node.name.clone())
}

impl ExecCommand {
    /// The command's name, as `flags.WHICH` gives it to templates.
    pub fn which(self) -> &'static str {
        match self {
            ExecCommand::Run => "run",
            ExecCommand::Test => "test",
            ExecCommand::Seed => "seed",
            ExecCommand::Snapshot => "snapshot",
            ExecCommand::Build => "build",
        }
    }
}

/// `kiln show`.
pub fn cmd_show(
    g: &GlobalArgs,
    out: &Output,
    select: &SelectArgs,
    inline: Option<&str>,
    limit: u64,
    output: ShowOutput,
) -> Result<i32> {
    let manifest = parse_project(g, out, "show")?;
    if select.select.is_empty() {
        record_manifest(&manifest)?;
    }
    let target_id = match inline {
        Some(_) => None,
        None => {
            if select.select.is_empty() {
                return Err(Error::from(
                    Diagnostic::new(
                        ErrorKind::Usage,
                        "kiln show needs --select MODEL or --inline \"SQL\"",
                    )
                    .with_hint("e.g. kiln show -s orders, or kiln show --inline \"select 1 as x\""),
                ));
            }
            let types = [
                ResourceType::Model,
                ResourceType::Seed,
                ResourceType::Snapshot,
                ResourceType::Analysis,
                ResourceType::Test,
            ];
            let selected = select_nodes(&manifest, select, &types, out)?;
            record_manifest(&manifest)?;
            let chosen: Vec<&String> = selected
                .iter()
                .filter(|id| {
                    manifest
                        .nodes
                        .get(*id)
                        .is_some_and(|m| m.node.resource_type != ResourceType::Test)
                })
                .collect();
            match chosen.as_slice() {
                [one] => Some((*one).clone()),
                [] => {
                    return Err(Error::from(
                        Diagnostic::new(
                            ErrorKind::Usage,
                            format!("`{}` matches no model", select.select.join(" ")),
                        )
                        .with_hint("list models with `kiln ls --resource-type model`"),
                    ));
                }
                many => {
                    return Err(Error::from(
                        Diagnostic::new(
                            ErrorKind::Usage,
                            format!(
                                "`{}` matches {} nodes; show needs exactly one",
                                select.select.join(" "),
                                many.len()
                            ),
                        )
                        .with_hint("select a single model by name"),
                    ));
                }
            }
        }
    };
    let rt = runtime()?;
    let manifest = Arc::new(manifest);
    let table = rt.block_on(async {
        let adapter = connect(&manifest).await?;
        let database: Arc<dyn crate::template::Database> =
            Arc::new(exec::database_for(adapter.clone()));
        let m = manifest.clone();
        let inline = inline.map(str::to_string);
        let id = target_id.clone();
        let sql = tokio::task::spawn_blocking(move || match (&inline, &id) {
            (Some(sql), _) => {
                compile::render_operation_with(&m, sql, "inline query", Some(database))
            }
            (None, Some(id)) => {
                let mn = &m.nodes[id];
                if mn.node.resource_type == ResourceType::Seed {
                    Ok(format!(
                        "select * from {}",
                        mn.relation.as_ref().map(|r| r.render()).unwrap_or_default()
                    ))
                } else {
                    compile::compile_node(&m, id, Some(database), false)
                }
            }
            (None, None) => Ok(String::new()),
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Execution, e.to_string()))?
        .map_err(Error::from)?;
        let q = adapter.sql().limit(&sql, limit);
        let t = adapter.query(&q).await;
        adapter.close().await;
        t
    })?;
    out.show_table(&table, output);
    let _ = Status::Success;
    Ok(EXIT_OK)
}

/// `kiln source freshness`.
pub fn cmd_freshness(g: &GlobalArgs, out: &Output, select: &SelectArgs) -> Result<i32> {
    let manifest = parse_project(g, out, "freshness")?;
    let selected: Vec<String> = select_nodes(&manifest, select, &[ResourceType::Source], out)?
        .into_iter()
        .collect();
    record_manifest(&manifest)?;
    let sources = exec::freshness::checkable(&manifest, &selected);
    if sources.is_empty() {
        out.info("No selected source has freshness rules (freshness: warn_after/error_after) and a loaded_at_field.");
        return Ok(EXIT_OK);
    }
    let rt = runtime()?;
    let started = std::time::Instant::now();
    let started_at = artifacts::now();
    let results = rt.block_on(async {
        let adapter = connect(&manifest).await?;
        let mut results = Vec::new();
        let total = sources.len();
        for (i, s) in sources.iter().enumerate() {
            let r = exec::freshness::check(&manifest, &adapter, s).await;
            let age = r
                .age_seconds
                .map(|a| format!(" (last loaded {} ago)", human_age(a)))
                .unwrap_or_default();
            let line = format!(
                "{} of {total} {} freshness of {}.{}{age}",
                i + 1,
                r.status.to_uppercase(),
                s.source_name,
                s.name
            );
            match &r.error {
                Some(e) => out.error(&Error::from(
                    Diagnostic::new(ErrorKind::Database, format!("{line}: {e}")).with_hint(
                        "check that the source table exists and its loaded_at_field is a timestamp",
                    ),
                )),
                None => out.info(&line),
            }
            results.push(r);
        }
        adapter.close().await;
        Ok::<_, Error>(results)
    })?;
    artifacts::sources::write_sources(
        &manifest,
        &results,
        started.elapsed().as_secs_f64(),
        &started_at,
    )?;
    let failed = results
        .iter()
        .any(|r| r.status == "error" || r.status == "runtime error");
    Ok(if failed { EXIT_FAILURE } else { EXIT_OK })
}

fn human_age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `kiln run-operation MACRO --args '{...}'`: renders a call of the macro with the database
/// connected, as dbt does; what the macro logs is printed, its output is not.
pub fn cmd_run_operation(
    g: &GlobalArgs,
    out: &Output,
    macro_name: &str,
    args: Option<&str>,
) -> Result<i32> {
    let manifest = parse_project(g, out, "run-operation")?;
    record_manifest(&manifest)?;
    if !manifest.renderer.has_macro(macro_name) {
        return Err(Error::from(
            Diagnostic::new(
                ErrorKind::Usage,
                format!("no macro named `{macro_name}` in the project or its packages"),
            )
            .with_hint("check the name; a package's macro is written `package.macro`"),
        ));
    }
    let kwargs = match args {
        Some(text) => super::parse_vars(text)?,
        None => std::collections::BTreeMap::new(),
    };
    let json = serde_json::to_string(&kwargs).unwrap_or_else(|_| "{}".into());
    let literal = json.replace('\\', "\\\\").replace('\'', "\\'");
    let template = format!("{{{{ {macro_name}(**fromjson('{literal}')) }}}}");
    let rt = runtime()?;
    let manifest = Arc::new(manifest);
    let started = std::time::Instant::now();
    let result = rt.block_on(async {
        let adapter = connect(&manifest).await?;
        let database: Arc<dyn crate::template::Database> =
            Arc::new(exec::database_for(adapter.clone()));
        let m = manifest.clone();
        let origin = format!("run-operation {macro_name}");
        let rendered = tokio::task::spawn_blocking(move || {
            compile::render_operation_with(&m, &template, &origin, Some(database))
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Execution, format!("the operation stopped: {e}")))?;
        adapter.close().await;
        Ok::<_, Error>(rendered)
    })?;
    match result {
        Ok(_) => {
            out.info(&format!(
                "Ran operation {macro_name} in {} ms.",
                started.elapsed().as_millis()
            ));
            Ok(0)
        }
        Err(d) => {
            out.error(&Error::from(d));
            Ok(1)
        }
    }
}
