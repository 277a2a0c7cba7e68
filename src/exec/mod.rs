//! Execution: seeds, materializations, snapshots and data tests, run by a scheduler with N workers
//! that starts a node as soon as its parents succeed.
//!
//! A node's SQL is rendered just before it runs (so `run_query` sees upstream relations built
//! earlier in the same run). Statements come from the adapter's [`crate::adapter::sql::SqlGen`].
//! A failure marks the node's descendants skipped; independent branches go on.

mod clone;
pub mod freshness;
pub(crate) mod materialize;
pub mod seed;
mod snapshot;
mod test;
mod unit;

pub use test::{AUDIT_SCHEMA_SUFFIX, audit_schema};

use crate::adapter::Adapter;
use crate::compile::Manifest;
use crate::error::{Diagnostic, ErrorKind};
use crate::project::ResourceType;
use crate::template::{Database, QueryTable, Relation, RelationKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The outcome of one node, named as in dbt's run_results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// A model, seed or snapshot was built.
    Success,
    /// A node failed to run.
    Error,
    /// A node did not run because an upstream node failed (or the run stopped).
    Skipped,
    /// A test found no failing rows.
    Pass,
    /// A test found failing rows at severity error.
    Fail,
    /// A test found failing rows at severity warn.
    Warn,
}

impl Status {
    /// The dbt name: `success`, `error`, `skipped`, `pass`, `fail`, `warn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
            Status::Skipped => "skipped",
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
        }
    }

    /// Whether downstream nodes may run after this one.
    pub fn lets_children_run(self) -> bool {
        matches!(self, Status::Success | Status::Pass | Status::Warn)
    }

    /// Whether this status makes the command exit with code 1.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Error | Status::Fail)
    }
}

/// What happened to one node.
#[derive(Debug, Clone)]
pub struct NodeResult {
    /// The node.
    pub unique_id: String,
    /// Outcome.
    pub status: Status,
    /// One-line summary (e.g. `created view`, `3 failing rows`, or the error).
    pub message: String,
    /// The full error, for errored nodes.
    pub error: Option<Diagnostic>,
    /// Seconds spent.
    pub execution_time: f64,
    /// When it started and ended (RFC 3339).
    pub started_at: String,
    /// When it ended.
    pub completed_at: String,
    /// When its SQL finished compiling (RFC 3339); None for nodes that compile nothing (seeds)
    /// or never got that far.
    pub compiled_at: Option<String>,
    /// Rows inserted or affected, where known.
    pub rows_affected: Option<u64>,
    /// Failing rows, for tests.
    pub failures: Option<u64>,
    /// The SQL that ran (compiled code).
    pub compiled_code: Option<String>,
    /// Statements executed, in order (written under target/run/).
    pub statements: Vec<String>,
    /// The worker (1-based) that ran the node; None for nodes that never ran.
    pub worker: Option<usize>,
}

/// What a command did, in the order nodes finished.
#[derive(Debug, Clone, Default)]
pub struct RunResults {
    /// One result per node that was selected.
    pub results: Vec<NodeResult>,
    /// Wall-clock seconds.
    pub elapsed: f64,
    /// True when Ctrl-C or `--fail-fast` stopped the run early.
    pub interrupted: bool,
    /// When the run started (RFC 3339).
    pub started_at: String,
}

impl RunResults {
    /// True when any node errored or any test failed.
    pub fn has_failures(&self) -> bool {
        self.results.iter().any(|r| r.status.is_failure())
    }
}

/// Options for a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Nodes run at once.
    pub threads: usize,
    /// Rebuild incremental models and seeds from scratch.
    pub full_refresh: bool,
    /// Stop at the first failure.
    pub fail_fast: bool,
    /// Store failing test rows in the audit schema for every test.
    pub store_failures: bool,
    /// Add test → child edges so a failing test skips what is downstream of its model (`build`).
    pub tests_gate_children: bool,
    /// `--warn-error`: a test that would warn fails.
    pub warn_error_tests: bool,
    /// `kiln clone`: each node's relation is made from this relation (of `--state`) instead of
    /// its own SQL.
    pub clone_from: Option<Arc<BTreeMap<String, Relation>>>,
}

/// Something a run reports as it goes (printed by the CLI as lines or JSON events).
#[derive(Debug, Clone)]
pub enum Event {
    /// A node started: index (1-based), total, unique_id.
    Started {
        /// Position in the run.
        index: usize,
        /// Nodes in the run.
        total: usize,
        /// The node.
        unique_id: String,
        /// The worker (1-based) that runs it.
        worker: Option<usize>,
    },
    /// A node finished.
    Finished {
        /// Position in the run.
        index: usize,
        /// Nodes in the run.
        total: usize,
        /// Its result.
        result: Box<NodeResult>,
    },
    /// A message (hooks, warnings).
    Message(String),
}

/// Receives events as the run goes.
pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// Templates' window onto the database during a run: blocking calls over the async adapter.
struct RunDatabase {
    adapter: Adapter,
    handle: tokio::runtime::Handle,
}

impl Database for RunDatabase {
    fn run_query(&self, sql: &str) -> Result<QueryTable, String> {
        self.handle
            .block_on(self.adapter.query(sql))
            .map_err(|e| e.to_string())
    }

    fn get_relation(
        &self,
        _database: Option<&str>,
        schema: &str,
        identifier: &str,
    ) -> Result<Option<Relation>, String> {
        let kind = self
            .handle
            .block_on(self.adapter.relation_kind(schema, identifier))
            .map_err(|e| e.to_string())?;
        Ok(kind.map(|k| self.adapter.relation(schema, identifier, k)))
    }

    fn get_columns(&self, relation: &Relation) -> Result<Vec<(String, String)>, String> {
        self.handle
            .block_on(self.adapter.columns(&relation.schema, &relation.identifier))
            .map_err(|e| e.to_string())
    }

    fn execute(&self, sql: &str, fetch: bool) -> Result<(String, Option<QueryTable>), String> {
        if fetch {
            let t = self.run_query(sql)?;
            return Ok((format!("SELECT {}", t.rows.len()), Some(t)));
        }
        let n = self
            .handle
            .block_on(self.adapter.execute(sql))
            .map_err(|e| e.to_string())?;
        Ok((format!("OK {n}"), None))
    }

    fn drop_relation(&self, relation: &Relation) -> Result<(), String> {
        let kind = self
            .handle
            .block_on(
                self.adapter
                    .relation_kind(&relation.schema, &relation.identifier),
            )
            .map_err(|e| e.to_string())?;
        let Some(kind) = kind else { return Ok(()) };
        let sql = self
            .adapter
            .sql()
            .drop_relation(relation, kind == RelationKind::View);
        self.handle
            .block_on(self.adapter.execute(&sql))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn rename_relation(&self, from: &Relation, to: &Relation) -> Result<(), String> {
        let sql = self.adapter.sql().rename_table(from, &to.identifier);
        self.handle
            .block_on(self.adapter.execute(&sql))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn create_schema(&self, schema: &str) -> Result<(), String> {
        self.handle
            .block_on(self.adapter.ensure_schema(schema))
            .map_err(|e| e.to_string())
    }
}

/// Database access for templates outside a run (e.g. `kiln show`).
pub fn database_for(adapter: Adapter) -> impl Database {
    RunDatabase {
        adapter,
        handle: tokio::runtime::Handle::current(),
    }
}

/// Shared state of one run.
pub(crate) struct Ctx {
    pub manifest: Arc<Manifest>,
    pub adapter: Adapter,
    pub opts: RunOptions,
    pub database: Arc<dyn Database>,
    pub run_started: chrono::DateTime<chrono::Utc>,
    /// Where nodes report messages (warnings) while they run.
    pub events: EventSink,
    /// When each node's SQL finished compiling, for the compile step of its timing.
    pub compiled_at: std::sync::Mutex<HashMap<String, String>>,
    /// Columns of the relations known so far, by normalised name: each node's SQL is checked
    /// against them and adds its own.
    pub known_columns: Arc<std::sync::Mutex<BTreeMap<String, crate::sql::Known>>>,
    /// What `ref()` and `source()` resolve to, made once for the run: making it reads every
    /// node, too much to do again for each node rendered.
    pub resolver: Arc<dyn crate::template::Resolve>,
}

impl Ctx {
    /// Renders a node's SQL on a blocking thread (templates may query the database).
    pub async fn compile(&self, id: &str, is_incremental: bool) -> Result<String, Diagnostic> {
        let manifest = self.manifest.clone();
        let database = self.database.clone();
        let known = self.known_columns.clone();
        let resolver = self.resolver.clone();
        let id = id.to_string();
        let key = id.clone();
        let sql = tokio::task::spawn_blocking(move || {
            let sql = crate::compile::compile_node(
                &manifest,
                &id,
                Some(database),
                is_incremental,
                &resolver,
            )?;
            crate::compile::check_node(&manifest, &id, &sql, &known)?;
            Ok(sql)
        })
        .await
        .map_err(|e| Diagnostic::new(ErrorKind::Execution, format!("rendering stopped: {e}")))?;
        if let Ok(mut times) = self.compiled_at.lock() {
            times.entry(key).or_insert_with(now);
        }
        sql
    }

    /// Renders a hook or other free-standing template in a node's scope.
    pub async fn render_hook(&self, id: &str, template: &str) -> Result<String, Diagnostic> {
        let manifest = self.manifest.clone();
        let database = self.database.clone();
        let id = id.to_string();
        let template = template.to_string();
        let resolver = self.resolver.clone();
        tokio::task::spawn_blocking(move || {
            let mn = manifest.nodes.get(&id).ok_or_else(|| {
                Diagnostic::new(ErrorKind::Execution, format!("unknown node {id}"))
            })?;
            manifest
                .renderer()
                .render_str(
                    &template,
                    crate::template::RenderRequest {
                        node: &mn.node,
                        config: &mn.node.config,
                        this: mn.relation.clone(),
                        execute: true,
                        is_incremental: false,
                        resolver,
                        database: Some(database),
                        overrides: None,
                    },
                    &format!("hook of {}", mn.node.original_file_path),
                )
                .map(|r| r.sql)
        })
        .await
        .map_err(|e| Diagnostic::new(ErrorKind::Execution, format!("rendering stopped: {e}")))?
    }
}

/// The schemas a run may touch (for SQLite, every one is attached up front).
pub fn schemas_of(manifest: &Manifest) -> Vec<String> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    out.insert(manifest.target.schema.clone());
    out.insert(test::audit_schema(&manifest.target.schema));
    for mn in manifest.nodes.values() {
        if let Some(r) = &mn.relation {
            out.insert(r.schema.clone());
        }
    }
    for r in manifest.source_relations.values() {
        out.insert(r.schema.clone());
    }
    out.into_iter().collect()
}

/// The columns each node's SQL is checked against before it runs: what the project declares
/// (`compile::known_columns`), and for the relations the selection reads but does not build
/// (sources, parents left out of the selection) their columns in the database, which are
/// certain. A relation that does not exist, or cannot be read, stays unknown.
async fn known_columns(
    manifest: &Manifest,
    selected: &BTreeSet<String>,
    adapter: &Adapter,
) -> BTreeMap<String, crate::sql::Known> {
    let mut known = crate::compile::known_columns(manifest);
    let mut outside: BTreeMap<String, &crate::template::Relation> = BTreeMap::new();
    for id in selected {
        let Some(mn) = manifest.nodes.get(id) else {
            continue;
        };
        if !crate::compile::checks_columns(mn) {
            continue;
        }
        for dep in &mn.depends_on {
            let relation = match manifest.nodes.get(dep) {
                Some(d) if !selected.contains(dep) && !d.is_ephemeral() => d.relation.as_ref(),
                Some(_) => None,
                None => manifest.source_relations.get(dep),
            };
            if let Some(r) = relation {
                outside.insert(r.normalized(), r);
            }
        }
    }
    // A few relations are read one by one; many, a schema at a time.
    if outside.len() <= 16 {
        for (name, r) in outside {
            if let Ok(cols) = adapter.columns(&r.schema, &r.identifier).await
                && !cols.is_empty()
            {
                let names = cols.into_iter().map(|(c, _)| c).collect();
                known.insert(name, crate::sql::Known::exact(names));
            }
        }
        return known;
    }
    let by_name: HashMap<(&str, String), &String> = outside
        .iter()
        .map(|(name, r)| ((r.schema.as_str(), r.identifier.to_lowercase()), name))
        .collect();
    let schemas: BTreeSet<&str> = outside.values().map(|r| r.schema.as_str()).collect();
    for schema in schemas {
        let Ok(tables) = adapter.catalog(schema).await else {
            continue;
        };
        for t in tables {
            let Some(name) = by_name.get(&(schema, t.name.to_lowercase())) else {
                continue;
            };
            if !t.columns.is_empty() {
                let names = t.columns.into_iter().map(|c| c.name).collect();
                known.insert((*name).clone(), crate::sql::Known::exact(names));
            }
        }
    }
    known
}

/// Runs the selected nodes in dependency order with `opts.threads` workers.
pub async fn run(
    manifest: Arc<Manifest>,
    selected: &BTreeSet<String>,
    adapter: Adapter,
    opts: RunOptions,
    events: EventSink,
    stop: Arc<AtomicBool>,
) -> RunResults {
    let started = Instant::now();
    let run_started = chrono::Utc::now();
    let database: Arc<dyn Database> = Arc::new(RunDatabase {
        adapter: adapter.clone(),
        handle: tokio::runtime::Handle::current(),
    });
    let known = known_columns(&manifest, selected, &adapter).await;
    let ctx = Arc::new(Ctx {
        manifest: manifest.clone(),
        adapter,
        opts: opts.clone(),
        database,
        run_started,
        events: events.clone(),
        compiled_at: std::sync::Mutex::new(HashMap::new()),
        known_columns: Arc::new(std::sync::Mutex::new(known)),
        resolver: Arc::new(manifest.compile_resolver()),
    });

    // Ephemeral models are inlined into their children; they never run on their own.
    let nodes: Vec<String> = manifest
        .dag()
        .topo_order(Some(selected))
        .into_iter()
        .filter(|id| {
            manifest.project.unit_tests.contains_key(id.as_str())
                || manifest.nodes.get(id).is_some_and(|mn| {
                    !mn.is_ephemeral() && mn.node.resource_type != ResourceType::Analysis
                })
        })
        .collect();
    let parents = waits_for(&manifest, &nodes, &opts);
    let mut schedule = crate::graph::Schedule::new(&nodes, &parents);
    let total = nodes.len();
    let mut done: BTreeMap<String, NodeResult> = BTreeMap::new();
    let mut results: Vec<NodeResult> = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    let mut started_count = 0usize;
    let mut interrupted = false;
    let threads = opts.threads.max(1);
    let mut index_of: HashMap<String, usize> = HashMap::new();
    // Each running node holds a worker slot, so results say which worker ran them (the run
    // timeline draws one lane per worker).
    let mut free_workers: BTreeSet<usize> = (1..=threads).collect();
    let mut worker_of: HashMap<String, usize> = HashMap::new();

    loop {
        let stopping = interrupted || stop.load(Ordering::SeqCst);
        if stopping {
            interrupted = true;
        }
        while !stopping && set.len() < threads {
            // Among ready nodes, the first in graph order starts first: stable output.
            let Some(id) = schedule.next_ready() else {
                break;
            };
            started_count += 1;
            index_of.insert(id.clone(), started_count);
            let worker = free_workers.pop_first();
            if let Some(w) = worker {
                worker_of.insert(id.clone(), w);
            }
            events(Event::Started {
                index: started_count,
                total,
                unique_id: id.clone(),
                worker,
            });
            let ctx = ctx.clone();
            set.spawn(async move {
                let r = run_node(&ctx, &id).await;
                (id, r)
            });
        }
        if set.is_empty() {
            break;
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let (id, mut result) = match joined {
            Ok(v) => v,
            Err(e) => {
                events(Event::Message(format!(
                    "a worker stopped unexpectedly: {e}"
                )));
                continue;
            }
        };
        let index = index_of.get(&id).copied().unwrap_or(0);
        if let Some(w) = worker_of.remove(&id) {
            result.worker = Some(w);
            free_workers.insert(w);
        }
        events(Event::Finished {
            index,
            total,
            result: Box::new(result.clone()),
        });
        let ok = result.status.lets_children_run();
        if !ok && opts.fail_fast {
            interrupted = true;
            stop.store(true, Ordering::SeqCst);
        }
        done.insert(id.clone(), result.clone());
        results.push(result);
        // Release or skip children.
        let mut to_skip: Vec<(String, String)> = Vec::new();
        for child in schedule.children(&id) {
            if done.contains_key(&child) {
                continue;
            }
            if ok {
                schedule.release(&child);
            } else {
                to_skip.push((child, id.clone()));
            }
        }
        while let Some((child, cause)) = to_skip.pop() {
            if done.contains_key(&child) {
                continue;
            }
            let cause_name = manifest
                .nodes
                .get(&cause)
                .map(|m| m.node.name.clone())
                .unwrap_or(cause.clone());
            let mut r = skipped(
                &child,
                &format!("skipped: upstream {cause_name} did not succeed"),
            );
            // The worker that ran the failed node reports its skipped descendants, as in dbt.
            r.worker = done.get(&cause).and_then(|c| c.worker).or(Some(1));
            started_count += 1;
            events(Event::Finished {
                index: started_count,
                total,
                result: Box::new(r.clone()),
            });
            done.insert(child.clone(), r.clone());
            results.push(r);
            for grandchild in schedule.children(&child) {
                to_skip.push((grandchild, cause.clone()));
            }
        }
    }
    // Whatever never ran (stopped early) is reported as skipped.
    for id in &nodes {
        if !done.contains_key(id) {
            let mut r = skipped(id, "skipped: the run was stopped before this node started");
            r.worker = Some(1);
            done.insert(id.clone(), r.clone());
            results.push(r);
        }
    }
    RunResults {
        results,
        elapsed: started.elapsed().as_secs_f64(),
        interrupted,
        started_at: run_started.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    }
}

/// What each node of a run waits for: its parents within the run (ephemeral models and sources
/// looked through); for a unit test, its model's parents, and its model waits for it; in
/// `build`, also the tests of the models it reads. Clones wait for nothing.
fn waits_for(
    manifest: &Manifest,
    nodes: &[String],
    opts: &RunOptions,
) -> HashMap<String, BTreeSet<String>> {
    let in_run: BTreeSet<&str> = nodes.iter().map(String::as_str).collect();

    // Parents within the run. Ephemeral parents are looked through to their own parents.
    // Clones read --state's relations, not each other: they need no order.
    let run_parents = |from: &str| -> BTreeSet<String> {
        let mut ps = BTreeSet::new();
        let mut stack: Vec<String> = manifest
            .dag()
            .parents(from)
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut seen = BTreeSet::new();
        while let Some(p) = stack.pop() {
            if !seen.insert(p.clone()) {
                continue;
            }
            if in_run.contains(p.as_str()) {
                ps.insert(p);
            } else if manifest.nodes.get(&p).is_some_and(|m| m.is_ephemeral())
                || manifest.source_relations.contains_key(&p)
            {
                // Ephemeral models and sources are looked through: a seed that loads a source
                // must finish before the models reading that source start.
                stack.extend(manifest.dag().parents(&p).iter().map(|s| s.to_string()));
            }
        }
        ps
    };
    let mut parents: HashMap<String, BTreeSet<String>> = HashMap::new();
    for id in nodes.iter().filter(|_| opts.clone_from.is_none()) {
        let ps = match manifest.project.unit_tests.contains_key(id) {
            // A unit test waits for its model's parents, whose columns type the given rows (as
            // in dbt), and its model waits for it (below), so a failing unit test skips the
            // model.
            true => manifest
                .dag()
                .parents(id)
                .iter()
                .flat_map(|model| run_parents(model))
                .collect(),
            false => run_parents(id),
        };
        parents.insert(id.clone(), ps);
    }
    // In `build`, a model's children also wait for the model's tests.
    if opts.tests_gate_children {
        let mut extra: Vec<(String, String)> = Vec::new();
        for id in nodes {
            let Some(mn) = manifest.nodes.get(id) else {
                continue;
            };
            if mn.node.resource_type != ResourceType::Test {
                continue;
            }
            // The test's ancestors, walked once and only when a child may wait for it.
            let mut ancestors: Option<BTreeSet<String>> = None;
            for tested in parents.get(id).into_iter().flatten() {
                for child in manifest.dag().children(tested) {
                    if child != id
                        && in_run.contains(child)
                        && manifest
                            .nodes
                            .get(child)
                            .is_some_and(|c| c.node.resource_type != ResourceType::Test)
                        && !ancestors
                            .get_or_insert_with(|| manifest.dag().ancestors(id, None))
                            .contains(child)
                    {
                        extra.push((child.to_string(), id.clone()));
                    }
                }
            }
        }
        for (child, test) in extra {
            parents.entry(child).or_default().insert(test);
        }
    }
    for id in nodes.iter().filter(|_| opts.clone_from.is_none()) {
        if manifest.project.unit_tests.contains_key(id) {
            for model in manifest.dag().parents(id) {
                if in_run.contains(model) {
                    parents
                        .entry(model.to_string())
                        .or_default()
                        .insert(id.clone());
                }
            }
        }
    }
    parents
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn skipped(id: &str, message: &str) -> NodeResult {
    let t = now();
    NodeResult {
        unique_id: id.to_string(),
        status: Status::Skipped,
        message: message.to_string(),
        error: None,
        execution_time: 0.0,
        started_at: t.clone(),
        completed_at: t,
        compiled_at: None,
        rows_affected: None,
        failures: None,
        compiled_code: None,
        statements: Vec::new(),
        worker: None,
    }
}

/// What a node's step produced before timing is attached.
pub(crate) struct Outcome {
    pub status: Status,
    pub message: String,
    pub rows_affected: Option<u64>,
    pub failures: Option<u64>,
    pub compiled_code: Option<String>,
    pub statements: Vec<String>,
}

impl Outcome {
    /// A step that succeeded: its message, the rows it wrote, the SQL it compiled and the
    /// statements it executed.
    pub(crate) fn success(
        message: String,
        rows_affected: Option<u64>,
        compiled_code: Option<String>,
        statements: Vec<String>,
    ) -> Outcome {
        Outcome {
            status: Status::Success,
            message,
            rows_affected,
            failures: None,
            compiled_code,
            statements,
        }
    }

    /// A step that executed nothing.
    pub(crate) fn idle(status: Status, message: impl Into<String>) -> Outcome {
        Outcome {
            status,
            message: message.into(),
            rows_affected: None,
            failures: None,
            compiled_code: None,
            statements: Vec::new(),
        }
    }
}

async fn run_node(ctx: &Ctx, id: &str) -> NodeResult {
    let started_at = now();
    let clock = Instant::now();
    if let Some(unit) = ctx.manifest.project.unit_tests.get(id) {
        let outcome = unit::run(ctx, unit).await;
        return finish(ctx, id, started_at, clock, outcome);
    }
    let Some(mn) = ctx.manifest.nodes.get(id) else {
        return skipped(id, "not in the manifest");
    };
    let clone_from = ctx.opts.clone_from.as_ref().map(|c| c.get(id));
    let outcome = match (mn.node.resource_type, clone_from) {
        (_, Some(Some(from))) => clone::run(ctx, mn, from).await,
        (_, Some(None)) => Ok(Outcome::idle(
            Status::Skipped,
            "skipped: --state has no relation for it",
        )),
        (ResourceType::Seed, None) => seed::run(ctx, mn).await,
        (ResourceType::Model, None) => materialize::run(ctx, mn).await,
        (ResourceType::Snapshot, None) => snapshot::run(ctx, mn).await,
        (ResourceType::Test, None) => test::run(ctx, mn).await,
        _ => Ok(Outcome::idle(Status::Success, "nothing to do")),
    };
    let outcome = outcome.map_err(|(mut d, statements, compiled)| {
        locate_database_error(&ctx.manifest, mn, &mut d, compiled.as_deref());
        (d, statements, compiled)
    });
    finish(ctx, id, started_at, clock, outcome)
}

/// A node's result from its step's outcome, with its timing.
fn finish(
    ctx: &Ctx,
    id: &str,
    started_at: String,
    clock: Instant,
    outcome: Result<Outcome, StepError>,
) -> NodeResult {
    let (outcome, error) = match outcome {
        Ok(o) => (o, None),
        Err((d, statements, compiled)) => (
            Outcome {
                status: Status::Error,
                message: d.message.clone(),
                rows_affected: None,
                failures: None,
                compiled_code: compiled,
                statements,
            },
            Some(d),
        ),
    };
    let compiled_at = ctx
        .compiled_at
        .lock()
        .ok()
        .and_then(|mut times| times.remove(id));
    NodeResult {
        unique_id: id.to_string(),
        status: outcome.status,
        message: outcome.message,
        error,
        execution_time: clock.elapsed().as_secs_f64(),
        started_at,
        completed_at: now(),
        compiled_at,
        rows_affected: outcome.rows_affected,
        failures: outcome.failures,
        compiled_code: outcome.compiled_code,
        statements: outcome.statements,
        worker: None,
    }
}

/// Points a database error at the model's own line and column: the position the database gave
/// in the statement is found in the compiled SQL (kept as `compiled_at`), then mapped back
/// through the rendering to the template. Generic tests keep pointing at their YAML entry.
fn locate_database_error(
    manifest: &Manifest,
    mn: &crate::compile::ManifestNode,
    d: &mut Diagnostic,
    compiled: Option<&str>,
) {
    let Some(db) = d.database.as_mut() else {
        return;
    };
    let (Some(position), Some(compiled)) = (db.position, compiled) else {
        return;
    };
    let Some((line, col)) = crate::sql::position_in_compiled(&db.statement, compiled, position)
    else {
        return;
    };
    db.compiled_at = Some((line, col));
    if mn.node.is_generic_test() {
        return;
    }
    let (t_line, t_col) =
        crate::sql::map_position_to_template(compiled, &mn.node.raw_code, line, col);
    d.location = Some(manifest.project.location(
        &mn.node.original_file_path,
        t_line + mn.node.line_offset,
        t_col,
    ));
}

/// A step's failure: the diagnostic, the statements run so far, and the compiled SQL if any.
pub(crate) type StepError = (Diagnostic, Vec<String>, Option<String>);

/// Attaches the node's file to a database error so the user knows which model failed.
pub(crate) fn node_error(
    mn: &crate::compile::ManifestNode,
    e: crate::error::Error,
    statements: Vec<String>,
    compiled: Option<String>,
) -> StepError {
    let d = e.diagnostics()[0].clone();
    // Generic tests point at their line in the YAML file.
    let line = if mn.node.is_generic_test() {
        mn.node.line_offset + 1
    } else {
        0
    };
    let d = d.or_at(crate::error::Location {
        file: mn.node.original_file_path.clone().into(),
        line,
        col: 0,
        source_line: None,
    });
    (d, statements, compiled)
}

/// The existing relation's kind, for choosing drop statements.
pub(crate) async fn existing_kind(
    ctx: &Ctx,
    rel: &Relation,
) -> Result<Option<RelationKind>, crate::error::Error> {
    ctx.adapter
        .relation_kind(&rel.schema, &rel.identifier)
        .await
}
