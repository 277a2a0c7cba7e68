//! Commands that talk to the database: `run`, `test`, `seed`, `snapshot`, `build`, `retry`,
//! `clone`, `show`, `source freshness` and `run-operation`.

use super::args::{ExecArgs, GlobalArgs, SelectArgs, ShowOutput};
use super::output::Output;
use super::{EXIT_FAILURE, EXIT_OK, parse_project, record_manifest, select_nodes};
use crate::adapter::Adapter;
use crate::artifacts;
use crate::artifacts::events::Event;
use crate::compile::{self, Manifest};
use crate::error::{Diagnostic, Error, ErrorKind, Result};
use crate::exec::{self, RunOptions, RunResults, Status};
use crate::project::ResourceType;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
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
    /// `kiln clone`.
    Clone,
}

impl ExecCommand {
    /// The command's name, as `flags.WHICH` gives it to templates and `run_results.json` records.
    pub fn name(self) -> &'static str {
        match self {
            ExecCommand::Run => "run",
            ExecCommand::Test => "test",
            ExecCommand::Seed => "seed",
            ExecCommand::Snapshot => "snapshot",
            ExecCommand::Build => "build",
            ExecCommand::Clone => "clone",
        }
    }

    /// The command a `run_results.json` recorded (`args.which`).
    fn from_name(name: &str) -> Option<ExecCommand> {
        Some(match name {
            "run" => ExecCommand::Run,
            "test" => ExecCommand::Test,
            "seed" => ExecCommand::Seed,
            "snapshot" => ExecCommand::Snapshot,
            "build" => ExecCommand::Build,
            "clone" => ExecCommand::Clone,
            _ => return None,
        })
    }

    /// The resource types the command works on.
    pub fn resource_types(self) -> Vec<ResourceType> {
        match self {
            ExecCommand::Clone => vec![
                ResourceType::Seed,
                ResourceType::Model,
                ResourceType::Snapshot,
            ],
            ExecCommand::Run => vec![ResourceType::Model],
            ExecCommand::Test => vec![ResourceType::Test, ResourceType::UnitTest],
            ExecCommand::Seed => vec![ResourceType::Seed],
            ExecCommand::Snapshot => vec![ResourceType::Snapshot],
            ExecCommand::Build => vec![
                ResourceType::Seed,
                ResourceType::Model,
                ResourceType::Snapshot,
                ResourceType::Test,
                ResourceType::UnitTest,
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

/// `kiln run|test|seed|snapshot|build`: parse, select, then [`execute`]. `types` overrides the
/// command's resource types (`build --resource-type`).
pub fn cmd_exec(
    g: &GlobalArgs,
    out: &Output,
    command: ExecCommand,
    select: &SelectArgs,
    args: &ExecArgs,
    types: Option<Vec<ResourceType>>,
) -> Result<i32> {
    let manifest = parse_project(g, out, command.name())?;
    let types = types.unwrap_or_else(|| command.resource_types());
    let selected = select_nodes(&manifest, select, &types, out)?;
    let defer = defer_state(select, args)?;
    let plan = Plan {
        command,
        selected,
        args: args.clone(),
        defer,
        clone_from: None,
        recorded: json_args(command, select, args),
    };
    execute(out, manifest, plan)
}

/// `kiln retry`: the last run's command again, on what errored, failed or was skipped.
pub fn cmd_retry(g: &GlobalArgs, out: &Output, state: Option<&Path>) -> Result<i32> {
    let manifest = parse_project(g, out, "retry")?;
    let dir = state
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.project.target_dir());
    let path = dir.join("run_results.json");
    let previous: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| {
            Error::from(
                Diagnostic::new(
                    ErrorKind::Usage,
                    format!("there is no run to retry: cannot read {}", path.display()),
                )
                .with_hint("run `kiln build` (or run, test, seed, snapshot) first"),
            )
        })?;
    let which = previous
        .pointer("/args/which")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(command) = ExecCommand::from_name(which) else {
        return Err(Diagnostic::new(
            ErrorKind::Usage,
            format!("the last run was `{which}`, which retry cannot repeat"),
        )
        .with_hint("retry repeats run, test, seed, snapshot, build or clone")
        .into());
    };
    let retryable = ["error", "fail", "skipped", "runtime error"];
    let selected: BTreeSet<String> = previous["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r.get("status")
                .and_then(Value::as_str)
                .is_some_and(|s| retryable.contains(&s))
        })
        .filter_map(|r| r.get("unique_id").and_then(Value::as_str))
        .filter(|id| manifest.nodes.contains_key(*id))
        .map(str::to_string)
        .collect();
    if selected.is_empty() {
        out.info(&format!(
            "Nothing to retry: every node of the last `kiln {which}` succeeded."
        ));
        return Ok(EXIT_OK);
    }
    let flag = |k: &str| {
        previous
            .pointer(&format!("/args/{k}"))
            .and_then(Value::as_bool)
            == Some(true)
    };
    let args = ExecArgs {
        full_refresh: flag("full_refresh"),
        store_failures: flag("store_failures"),
        empty: flag("empty"),
        ..Default::default()
    };
    out.info(&format!(
        "Retrying {} {} of the last `kiln {which}`",
        selected.len(),
        if selected.len() == 1 { "node" } else { "nodes" }
    ));
    let mut recorded = json_args(command, &SelectArgs::default(), &args);
    recorded["retried"] = serde_json::json!(true);
    let plan = Plan {
        command,
        selected,
        args,
        defer: None,
        clone_from: None,
        recorded,
    };
    execute(out, manifest, plan)
}

/// `kiln clone`: selected models, seeds and snapshots made from their relations in --state.
pub fn cmd_clone(
    g: &GlobalArgs,
    out: &Output,
    select: &SelectArgs,
    args: &ExecArgs,
) -> Result<i32> {
    let manifest = parse_project(g, out, "clone")?;
    let Some(dir) = args.defer_state.as_ref().or(select.state.as_ref()) else {
        return Err(Diagnostic::new(ErrorKind::Usage, "kiln clone needs --state")
            .with_hint("point --state at the artifacts of the environment to clone from, e.g. --state prod-artifacts/")
            .into());
    };
    let relations = artifacts::state::relations(&artifacts::state::read_previous_manifest(dir)?);
    let selected = select_nodes(&manifest, select, &ExecCommand::Clone.resource_types(), out)?;
    let clone_from: BTreeMap<String, crate::template::Relation> = selected
        .iter()
        .filter_map(|id| Some((id.clone(), state_relation(&manifest, relations.get(id)?))))
        .collect();
    let plan = Plan {
        command: ExecCommand::Clone,
        selected,
        args: args.clone(),
        defer: None,
        clone_from: Some(Arc::new(clone_from)),
        recorded: json_args(ExecCommand::Clone, select, args),
    };
    execute(out, manifest, plan)
}

/// Where `--defer` reads unselected parents from.
struct Defer {
    relations: BTreeMap<String, artifacts::state::StateRelation>,
    favor_state: bool,
}

/// `--defer` with `--defer-state` or `--state`, read now so a bad directory fails before any
/// database work.
fn defer_state(select: &SelectArgs, args: &ExecArgs) -> Result<Option<Defer>> {
    if !args.defer {
        return Ok(None);
    }
    let Some(dir) = args.defer_state.as_ref().or(select.state.as_ref()) else {
        return Err(
            Diagnostic::new(ErrorKind::Usage, "--defer needs the artifacts to defer to")
                .with_hint("add --state DIR (or --defer-state DIR) with production's manifest.json")
                .into(),
        );
    };
    let previous = artifacts::state::read_previous_manifest(dir)?;
    Ok(Some(Defer {
        relations: artifacts::state::relations(&previous),
        favor_state: args.favor_state,
    }))
}

/// A state manifest's relation, rendered in this target's dialect.
fn state_relation(
    manifest: &Manifest,
    r: &artifacts::state::StateRelation,
) -> crate::template::Relation {
    use crate::template::{Relation, RelationKind};
    let kind = if r.view {
        RelationKind::View
    } else {
        RelationKind::Table
    };
    Relation::new(
        r.database.clone(),
        &r.schema,
        &r.identifier,
        kind,
        manifest.dialect,
    )
}

/// What `run_results.json` records of the invocation (`args`), as dbt does.
fn json_args(command: ExecCommand, select: &SelectArgs, args: &ExecArgs) -> Value {
    serde_json::json!({
        "which": command.name(),
        "select": select.select,
        "exclude": select.exclude,
        "selector": select.selector,
        "full_refresh": args.full_refresh,
        "fail_fast": args.fail_fast,
        "store_failures": args.store_failures,
        "empty": args.empty,
        "defer": args.defer,
        "favor_state": args.favor_state,
        "state": select.state.as_ref().map(|p| p.display().to_string()),
        "defer_state": args.defer_state.as_ref().map(|p: &PathBuf| p.display().to_string()),
    })
}

/// What one execution command runs, decided before connecting.
struct Plan {
    command: ExecCommand,
    selected: BTreeSet<String>,
    args: ExecArgs,
    defer: Option<Defer>,
    clone_from: Option<Arc<BTreeMap<String, crate::template::Relation>>>,
    recorded: Value,
}

/// Connects, defers, runs the plan's nodes with the project hooks around them, and records the
/// results.
fn execute(out: &Output, mut manifest: Manifest, plan: Plan) -> Result<i32> {
    let command = plan.command;
    let selected = &plan.selected;
    let args = &plan.args;
    record_manifest(&manifest)?;
    manifest.renderer().set_selected_resources(selected);
    manifest.empty_refs = args.empty;
    let rt = runtime()?;
    let threads = manifest.target.threads.max(1);
    let adapter = rt
        .block_on(connect(&manifest))?
        .for_invocation(out.invocation_id());
    let lock = if changes_warehouse(&manifest, &plan) {
        Some(rt.block_on(lock_target(out, &manifest, &adapter, args.no_wait))?)
    } else {
        None
    };
    // Taken before --defer points refs at another target's relations, which are not ours to
    // clean.
    let owned = owned_relations(&manifest);
    if let Some(d) = &plan.defer {
        let deferred = rt.block_on(apply_defer(&mut manifest, selected, d, &adapter))?;
        if !deferred.is_empty() {
            out.info(&format!(
                "Deferring {} unselected {} to --state",
                deferred.len(),
                if deferred.len() == 1 { "node" } else { "nodes" }
            ));
        }
    }
    let manifest = Arc::new(manifest);
    let result: Result<(RunResults, bool)> = rt.block_on(async {
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
        let events: exec::EventSink = Arc::new(move |e| report(&sink_out, &names, e, command));
        out.emit(Event::found_stats(&super::counts(&manifest)));
        out.debug(&format!(
            "Running {} on {} ({})",
            describe_selection(&manifest, selected, command),
            manifest.target.name,
            compile::dialect_of(manifest.target.adapter).adapter_type(),
        ));
        out.emit(Event::formatting());
        out.emit(Event::concurrency_line(
            threads,
            &manifest.target.name,
            selected.len(),
        ));
        out.emit(Event::formatting());
        // The target schema exists before anything runs, so hooks can use it.
        adapter.ensure_schema(&manifest.target.schema).await?;
        if lock.is_some() {
            clean_asides(&owned, &adapter, out).await?;
        }
        let hooks_ok = run_project_hooks(&manifest, &adapter, "on_run_start", out).await;
        let results = if hooks_ok {
            exec::run(
                manifest.clone(),
                selected,
                adapter.clone(),
                RunOptions {
                    threads,
                    full_refresh: args.full_refresh,
                    fail_fast: args.fail_fast,
                    store_failures: args.store_failures,
                    tests_gate_children: command == ExecCommand::Build,
                    warn_error_tests: super::warn_error().applies("LogTestResult"),
                    clone_from: plan.clone_from.clone(),
                },
                events,
                stop,
            )
            .await
        } else {
            RunResults::default()
        };
        let end_ok = run_project_hooks(&manifest, &adapter, "on_run_end", out).await;
        Ok((results, hooks_ok && end_ok))
    });
    rt.block_on(async {
        adapter.close().await;
        if let Some(lock) = lock {
            lock.release().await;
        }
    });
    let (results, hooks_ok) = result?;
    let mut recorded = plan.recorded.clone();
    recorded["threads"] = serde_json::json!(threads);
    artifacts::run_results::write_run_results(&manifest, &results, command.name(), &recorded)?;
    out.summary(&manifest, &results);
    if results.has_failures() || !hooks_ok || results.interrupted {
        Ok(EXIT_FAILURE)
    } else {
        Ok(EXIT_OK)
    }
}

/// Whether the plan changes the warehouse, and so runs under the target's lock: every command
/// but `test`, and `test` too when it stores failures or the project has run hooks.
fn changes_warehouse(manifest: &Manifest, plan: &Plan) -> bool {
    if plan.command != ExecCommand::Test {
        return true;
    }
    let file = &manifest.project.file;
    plan.args.store_failures
        || !file.on_run_start.is_empty()
        || !file.on_run_end.is_empty()
        || plan.selected.iter().any(|id| {
            manifest
                .nodes
                .get(id)
                .is_some_and(|mn| mn.config().get_bool("store_failures") == Some(true))
        })
}

/// The target as the lock's messages name it.
fn describe_target(manifest: &Manifest) -> String {
    let t = &manifest.target;
    match t.adapter {
        crate::project::profiles::AdapterType::Sqlite => format!(
            "target `{}` (the SQLite database in {})",
            t.name,
            t.sqlite_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| ".kiln".into())
        ),
        crate::project::profiles::AdapterType::Postgres => format!(
            "target `{}` (PostgreSQL database `{}`, schema `{}`)",
            t.name, t.database, t.schema
        ),
        crate::project::profiles::AdapterType::Mysql => {
            format!("target `{}` (MySQL schema `{}`)", t.name, t.schema)
        }
    }
}

/// Takes the target's lock, so two runs on one target take turns instead of colliding: says so
/// and waits while another run holds it, or with `--no-wait` fails at once (exit code 2).
async fn lock_target(
    out: &Output,
    manifest: &Manifest,
    adapter: &Adapter,
    no_wait: bool,
) -> Result<crate::adapter::TargetLock> {
    let target = describe_target(manifest);
    let waiting_out = out.clone();
    let waiting_target = target.clone();
    let waiting = move || {
        waiting_out.info(&format!(
            "Waiting for another Kiln run on {waiting_target} to finish (--no-wait fails instead)"
        ));
    };
    match adapter
        .lock_target(&manifest.target.schema, !no_wait, &waiting)
        .await?
    {
        Some(lock) => Ok(lock),
        None => Err(Error::from(
            Diagnostic::new(
                ErrorKind::Database,
                format!("another Kiln run is changing {target}; nothing was run"),
            )
            .with_hint(
                "wait for it to finish, or run without --no-wait to wait for it automatically",
            ),
        )),
    }
}

/// The project's own relations in the target, by schema.
fn owned_relations(manifest: &Manifest) -> BTreeMap<String, BTreeSet<String>> {
    let mut owned: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for mn in manifest.nodes.values() {
        if mn.is_ephemeral() {
            continue;
        }
        if let Some(r) = &mn.relation {
            owned
                .entry(r.schema.clone())
                .or_default()
                .insert(r.identifier.clone());
        }
    }
    owned
}

/// Clears what interrupted runs left beside the project's relations (temporary and backup
/// tables), once the target's lock is held, and says what it did.
async fn clean_asides(
    owned: &BTreeMap<String, BTreeSet<String>>,
    adapter: &Adapter,
    out: &Output,
) -> Result<()> {
    for cleaned in adapter.clean_asides(owned).await? {
        match cleaned {
            crate::adapter::Cleaned::Dropped(name) => {
                out.info(&format!("Dropped {name}, left by an interrupted run"))
            }
            crate::adapter::Cleaned::Restored(backup, name) => out.info(&format!(
                "Restored {name} from {backup}, left by an interrupted run"
            )),
        }
    }
    Ok(())
}

/// `--defer`: unselected nodes read from --state's relations, unless (without
/// `--favor-state`) the target already has them built.
async fn apply_defer(
    manifest: &mut Manifest,
    selected: &BTreeSet<String>,
    defer: &Defer,
    adapter: &Adapter,
) -> Result<Vec<String>> {
    let mut built: BTreeSet<(String, String)> = BTreeSet::new();
    if !defer.favor_state {
        let schemas: BTreeSet<String> = manifest
            .nodes
            .iter()
            .filter(|(id, _)| !selected.contains(*id) && defer.relations.contains_key(*id))
            .filter_map(|(_, mn)| mn.relation.as_ref().map(|r| r.schema.clone()))
            .collect();
        // One query per schema, not one per relation.
        for schema in schemas {
            for t in adapter.catalog(&schema).await? {
                built.insert((t.schema.to_lowercase(), t.name.to_lowercase()));
            }
        }
    }
    let relations: BTreeMap<String, crate::template::Relation> = defer
        .relations
        .iter()
        .map(|(id, r)| (id.clone(), state_relation(manifest, r)))
        .collect();
    Ok(manifest.defer(selected, &|mn| {
        let own = mn.relation.as_ref()?;
        if built.contains(&(own.schema.to_lowercase(), own.identifier.to_lowercase())) {
            return None;
        }
        relations.get(&mn.node.unique_id).cloned()
    }))
}

fn describe_selection(
    manifest: &Manifest,
    selected: &BTreeSet<String>,
    command: ExecCommand,
) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for id in selected {
        if let Some(mn) = manifest.result_node(id) {
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
                ("unit_test", 1) => "unit test".to_string(),
                ("unit_test", _) => "unit tests".to_string(),
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
    let total = hooks.len();
    for (i, hook) in hooks.into_iter().enumerate() {
        let clock = std::time::Instant::now();
        let statement = format!("{}.{}.{i}", manifest.project.name(), key.replace('_', "-"));
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
        out.emit(Event::sql_query(&statement, sql.trim(), None));
        if let Err(e) = adapter.execute(&sql).await {
            let time = clock.elapsed().as_secs_f64();
            out.emit(Event::log_hook_end_line(
                &statement,
                i + 1,
                total,
                false,
                time,
            ));
            out.error(&e.with_hint(&format!("in {} hook `{hook}`", key.replace('_', "-"))));
            return false;
        }
        let time = clock.elapsed().as_secs_f64();
        out.emit(Event::log_hook_end_line(
            &statement,
            i + 1,
            total,
            true,
            time,
        ));
    }
    true
}

fn report(out: &Output, manifest: &Manifest, event: exec::Event, command: ExecCommand) {
    let describe = |mn: &compile::ManifestNode| {
        if command == ExecCommand::Clone {
            format!("clone {}", relation_name(mn))
        } else {
            describe_node(mn)
        }
    };
    match event {
        exec::Event::Started {
            index,
            total,
            unique_id,
            worker,
        } => {
            let Some(mn) = manifest.result_node(&unique_id) else {
                return;
            };
            out.start_progress(total);
            out.node_started(manifest, &mn, (index, total), worker, &describe(&mn));
        }
        exec::Event::Finished {
            index,
            total,
            result,
        } => {
            let Some(mn) = manifest.result_node(&result.unique_id) else {
                return;
            };
            out.start_progress(total);
            out.node_finished(manifest, &mn, (index, total), &result, &describe(&mn));
        }
        exec::Event::Message(m) => out.info(&m),
    }
}

/// dbt's description of a node in progress lines: `sql view model main.orders`, `seed file
/// main.raw_orders`, `snapshot main.orders_snapshot`, `test not_null_orders_id`.
fn describe_node(mn: &compile::ManifestNode) -> String {
    match mn.node.resource_type {
        ResourceType::Test => format!("test {}", mn.node.name),
        ResourceType::UnitTest => format!("unit_test {}", mn.node.name),
        ResourceType::Seed => format!("seed file {}", relation_name(mn)),
        ResourceType::Snapshot => format!("snapshot {}", relation_name(mn)),
        _ => format!("sql {} model {}", mn.materialized(), relation_name(mn)),
    }
}

fn relation_name(mn: &compile::ManifestNode) -> String {
    mn.relation
        .as_ref()
        .map(|r| format!("{}.{}", r.schema, r.identifier))
        .unwrap_or_else(|| mn.node.name.clone())
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
                    let resolver: Arc<dyn crate::template::Resolve> =
                        Arc::new(m.compile_resolver());
                    compile::compile_node(&m, id, Some(database), false, &resolver)
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
            out.emit(Event::log_freshness_result(
                i + 1,
                total,
                &s.source_name,
                &s.name,
                &r.status,
                r.execution_time,
            ));
            if let Some(a) = r.age_seconds {
                out.debug(&format!(
                    "{}.{} was last loaded {} ago",
                    s.source_name,
                    s.name,
                    human_age(a)
                ));
            }
            if let Some(e) = &r.error {
                out.error(&Error::from(
                    Diagnostic::new(
                        ErrorKind::Database,
                        format!("freshness of {}.{}: {e}", s.source_name, s.name),
                    )
                    .with_hint(
                        "check that the source table exists and its loaded_at_field is a timestamp",
                    ),
                ));
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
    if !manifest.renderer().has_macro(macro_name) {
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
