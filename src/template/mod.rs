//! Rendering: the minijinja environment with dbt's context (`ref`, `source`, `config`, `var`,
//! `env_var`, `this`, `target`, `is_incremental`, `adapter`, `run_query`, `log`, `exceptions`,
//! `return`, `doc`), project macros in one global namespace, and Kiln's built-in macro library.
//!
//! A [`Renderer`] is built once per project and target and shared by worker threads. Each render
//! gets a [`Scope`] that records the `ref`s, `source`s and `config()` calls the template made: the
//! graph is built from what rendering saw, never from scanning text.

mod agate;
mod builtins;
mod compiled;
mod functions;
mod macros;
mod modules;
pub mod relation;
pub mod values;

pub use functions::{LogSink, TemplateLog, set_log_sink};

/// Parses the built-in macros on a worker thread, so the first renderer made does not wait
/// for them: a command that parses the project calls this as it starts, while it still reads
/// files on one core.
pub fn prepare() {
    rayon::spawn(|| {
        builtins::macros();
    });
}
pub use relation::{Relation, RelationKind};

use crate::error::{Diagnostic, ErrorKind, Location};
use crate::project::{Config, Macro, Node, Project, TestMetadata};
use crate::sql::Dialect;
use minijinja::value::{Object, Value};
use minijinja::{Environment, UndefinedBehavior};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

/// Reads an environment variable; injected so rendering stays a pure function of its inputs.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Answers `ref()` and `source()` during a render.
pub trait Resolve: Send + Sync {
    /// The relation a `ref(package?, name)` call from node `from` points at.
    fn resolve_ref(
        &self,
        from: &str,
        package: Option<&str>,
        name: &str,
    ) -> Result<Relation, Unresolved>;
    /// The relation of `source(source, table)`.
    fn resolve_source(&self, source: &str, table: &str) -> Result<Relation, Unresolved>;
}

/// Why a `ref`/`source` could not be resolved: a message and what to do about it.
#[derive(Debug, Clone)]
pub struct Unresolved {
    /// What is wrong.
    pub message: String,
    /// What the user can do.
    pub hint: String,
}

/// A table of rows returned by `run_query` and `adapter` introspection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryTable {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of JSON-like values, one per column.
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// Database access for templates during execution (`run_query`, `adapter.get_relation`, ...).
/// Implemented by the executor; the template stage itself never talks to a database.
pub trait Database: Send + Sync {
    /// Runs a query and returns its rows.
    fn run_query(&self, sql: &str) -> Result<QueryTable, String>;
    /// Looks a relation up in the database; `None` when it does not exist.
    fn get_relation(
        &self,
        database: Option<&str>,
        schema: &str,
        identifier: &str,
    ) -> Result<Option<Relation>, String>;
    /// Columns (name, data type) of a relation.
    fn get_columns(&self, relation: &Relation) -> Result<Vec<(String, String)>, String>;
    /// Runs a statement (`adapter.execute`, `{% call statement() %}`): its status message and,
    /// when `fetch`, its rows.
    fn execute(&self, sql: &str, fetch: bool) -> Result<(String, Option<QueryTable>), String>;
    /// Drops a relation if it exists.
    fn drop_relation(&self, relation: &Relation) -> Result<(), String>;
    /// Renames a table or view within its schema.
    fn rename_relation(&self, from: &Relation, to: &Relation) -> Result<(), String>;
    /// Creates a schema if it does not exist.
    fn create_schema(&self, schema: &str) -> Result<(), String>;
}

/// A `ref()` call seen while rendering.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct RefCall {
    /// Package, for two-argument `ref('pkg', 'model')`.
    pub package: Option<String>,
    /// Model, seed or snapshot name.
    pub name: String,
}

/// What one render produced and recorded.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The rendered SQL.
    pub sql: String,
    /// `ref()` calls in order of first use.
    pub refs: Vec<RefCall>,
    /// `source()` calls in order of first use.
    pub sources: Vec<(String, String)>,
    /// Config set by `config(...)` calls inside the template.
    pub config: Config,
    /// The same calls' keyword arguments as given (keys unnormalised, each call replacing
    /// earlier values): dbt's config-call part of `unrendered_config`.
    pub config_call: serde_json::Map<String, serde_json::Value>,
    /// Macros called (unique_ids), for `depends_on.macros`.
    pub macros: BTreeSet<String>,
    /// The template asked the database while rendering with `execute` but without a
    /// connection (`kiln compile`), so its SQL may differ from what will run.
    pub offline: bool,
    /// The template asked the database while rendering with `execute`, connected or not: its
    /// SQL depends on what the database holds.
    pub asked_database: bool,
    /// Environment variables `env_var()` read, with the values it saw (None when unset).
    pub env: BTreeMap<String, Option<String>>,
}

/// What a render needs besides the node itself.
pub struct RenderRequest<'a> {
    /// The node to render.
    pub node: &'a Node,
    /// The node's config as known before rendering (project + YAML).
    pub config: &'a Config,
    /// `this`: the node's own relation (None in the parse pass).
    pub this: Option<Relation>,
    /// `execute`: false while parsing, true when compiling or running.
    pub execute: bool,
    /// What `is_incremental()` returns.
    pub is_incremental: bool,
    /// Resolves `ref` and `source`.
    pub resolver: Arc<dyn Resolve>,
    /// Database access during execution; None when compiling without a connection.
    pub database: Option<Arc<dyn Database>>,
    /// A unit test's `overrides:` (vars, env vars, macros); None elsewhere.
    pub overrides: Option<Arc<Overrides>>,
}

/// What a unit test's `overrides:` replaces while its model renders: `var()` and `env_var()`
/// values, and macros, each of which returns the value given (`is_incremental: true`).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `var(name)` values.
    pub vars: BTreeMap<String, serde_json::Value>,
    /// `env_var(name)` values.
    pub env_vars: BTreeMap<String, String>,
    /// Macros by name, each returning its value.
    pub macros: BTreeMap<String, serde_json::Value>,
}

/// Per-render state, reachable from functions through the `__kiln_scope` context variable.
pub(crate) struct Scope {
    pub unique_id: String,
    pub base_config: Config,
    pub test: Option<TestMetadata>,
    pub this: Option<Relation>,
    pub execute: bool,
    pub is_incremental: bool,
    pub resolver: Arc<dyn Resolve>,
    pub database: Option<Arc<dyn Database>>,
    pub recorded: Mutex<Rendered>,
    /// What `model` shows of the node.
    model_fields: ModelFields,
    /// `model`, made on first use: most templates never read it.
    model: std::sync::OnceLock<Value>,
    /// Results stored by `{% call statement('name') %}`, for `load_result('name')`.
    pub results: Mutex<BTreeMap<String, Value>>,
    /// A unit test's overrides.
    pub overrides: Option<Arc<Overrides>>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<scope {}>", self.unique_id)
    }
}

impl Object for Scope {}

impl Scope {
    /// `model` as templates see it.
    pub fn model(&self) -> Value {
        let make = || model_value(&self.unique_id, &self.model_fields, &self.base_config);
        self.model.get_or_init(make).clone()
    }

    /// The database templates query; asking for it while rendering with `execute` but
    /// without a connection marks the render as offline.
    pub fn database(&self) -> &Option<Arc<dyn Database>> {
        if self.execute
            && let Ok(mut r) = self.recorded.lock()
        {
            r.asked_database = true;
            r.offline |= self.database.is_none();
        }
        &self.database
    }

    /// The config as templates see it now: base config plus `config()` calls so far.
    pub fn current_config(&self) -> Config {
        let mut c = self.base_config.clone();
        if let Ok(r) = self.recorded.lock() {
            c.merge(&r.config);
        }
        c
    }
}

/// The context a template of `package` is evaluated with.
pub(crate) fn context_for(scope: &Arc<Scope>, shared: &Arc<Shared>, package: &str) -> Value {
    Value::from_object(macros::TemplateContext {
        scope: scope.clone(),
        package: package.to_string(),
        shared: shared.clone(),
        extra: None,
    })
}

/// Where a template's text came from, to map template lines back to files.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub file: String,
    pub line_offset: usize,
}

/// Project-wide data shared by every render.
pub(crate) struct Shared {
    pub project_name: String,
    /// The root project's name (first in macro resolution).
    pub root_package: String,
    /// Every installed package's name (namespaces exist even for packages without macros).
    pub packages: BTreeSet<String>,
    /// The root project's `dispatch:` search orders, by macro namespace.
    pub dispatch: BTreeMap<String, Vec<String>>,
    pub dialect: Dialect,
    pub target: Value,
    /// Vars visible to templates of each package.
    pub vars: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    pub env: EnvLookup,
    pub docs: BTreeMap<String, String>,
    pub origins: BTreeMap<String, Origin>,
    /// The project's files, by path (see [`Shared::file_text`]).
    pub files: Arc<BTreeMap<String, String>>,
    /// Macros by package, then name (`dbt` holds the built-ins).
    pub macros: BTreeMap<String, BTreeMap<String, macros::MacroEntry>>,
    /// Template sources by template name, kept for the life of the process (compiled templates
    /// borrow their name and text).
    pub sources: BTreeMap<String, compiled::Source>,
    /// Templates compiled on first use.
    pub compiled: BTreeMap<String, OnceLock<compiled::Compiled>>,
    /// Nodes' own templates, by template name, each made when its node is first rendered.
    pub node_sources: Mutex<HashMap<String, compiled::Source>>,
    /// Free-standing templates (hooks, inline SQL), compiled once per distinct text.
    pub adhoc: Mutex<HashMap<String, compiled::Compiled>>,
    /// `invocation_id`.
    pub invocation_id: String,
    /// `run_started_at`.
    pub run_started_at: chrono::DateTime<chrono::Utc>,
    /// `flags`.
    pub flags: Value,
    /// `graph`: nodes, sources and macros as plain data. Built only for a project whose text
    /// names it (see [`mentions_graph`]), or when a free-standing template needs it.
    pub graph: OnceLock<Value>,
    /// `selected_resources`: unique_ids the command selected (set once selection is done).
    pub selected: Mutex<Vec<String>>,
}

impl Shared {
    /// The text of a project or built-in macro file, for error messages.
    fn file_text(&self, file: &str) -> Option<&str> {
        (self.files.get(file).map(String::as_str)).or_else(|| builtins::file_text(file))
    }

    /// The compiled template `name` (compiled on first use).
    pub(crate) fn compiled(&self, name: &str) -> Result<compiled::Compiled, minijinja::Error> {
        let (Some(cell), Some(source)) = (self.compiled.get(name), self.sources.get(name)) else {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::TemplateNotFound,
                format!("template {name} does not exist"),
            ));
        };
        if let Some(c) = cell.get() {
            return Ok(c.clone());
        }
        let c = compiled::compile_source(source)?;
        Ok(cell.get_or_init(|| c).clone())
    }

    /// The template of `node`'s own code, kept once made: a node renders once or twice per
    /// command, and its text is made again only when the node's code changed.
    fn node_source(&self, node: &Node) -> compiled::Source {
        let name = node_template(&node.unique_id);
        let mut kept = self.node_sources.lock().unwrap_or_else(|e| e.into_inner());
        match kept.get(&name) {
            Some(source) if source.text() == node.raw_code => *source,
            _ => {
                let source = compiled::Source::new(&name, &node.raw_code);
                kept.insert(name, source);
                source
            }
        }
    }

    /// A free-standing template, compiled once per distinct (name, text).
    pub(crate) fn compiled_adhoc(
        &self,
        name: &str,
        source: &str,
    ) -> Result<compiled::Compiled, minijinja::Error> {
        let key = format!("{name}\u{0}{source}");
        if let Some(c) = self.adhoc.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(c);
        }
        let c = compiled::compile(name, source)?;
        if let Ok(mut m) = self.adhoc.lock() {
            m.insert(key, c.clone());
        }
        Ok(c)
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<kiln project {}>", self.project_name)
    }
}

/// Target facts exposed as `target` (never passwords).
#[derive(Debug, Clone)]
pub struct TargetInfo {
    /// Profile name.
    pub profile_name: String,
    /// Target (output) name.
    pub name: String,
    /// Adapter type.
    pub dialect: Dialect,
    /// Target schema.
    pub schema: String,
    /// Target database.
    pub database: String,
    /// Threads.
    pub threads: usize,
    /// Other safe settings (host, port, user, ...).
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// What the invocation is, as templates see it in `flags` and `invocation_id`.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// The command (`flags.WHICH`): `run`, `build`, `compile`, ...
    pub which: String,
    /// `--full-refresh`.
    pub full_refresh: bool,
    /// `--store-failures`.
    pub store_failures: bool,
    /// `--debug` (`flags.DEBUG`).
    pub debug: bool,
    /// The invocation's id, shared with its logs; a new one when None.
    pub invocation_id: Option<String>,
}

/// The shared rendering environment for one project and target.
pub struct Renderer {
    env: Environment<'static>,
    shared: Arc<Shared>,
}

/// Name of the template holding a node's code.
fn node_template(unique_id: &str) -> String {
    format!("node:{unique_id}")
}

/// The one template every generic test renders: its text is the same for all of them, so it is
/// compiled once (a project has more tests than models). Each test keeps its own origin under
/// [`node_template`], so errors still name the test's file.
const GENERIC_TEST_TEMPLATE: &str = "node:__kiln_generic_test";

/// Name of the template holding one macro.
fn macro_template(unique_id: &str) -> String {
    format!("macro:{unique_id}")
}

/// Words through which a template reaches what differs between two invocations on the same
/// files, target, vars and environment (the command and its flags, the clock, the whole
/// project's graph), or prints. A render whose node and macros spell none of them is a function
/// of those inputs alone, which is what lets the parse cache keep it.
const INVOCATION_WORDS: &[&str] = &[
    "graph",
    "flags",
    "invocation",
    "run_started_at",
    "selected_resources",
    "modules",
    "dbt_metadata_envs",
    "log(",
    "print(",
    "warn(",
];

impl Renderer {
    /// Whether a render of `node` that called `macros` may have read something that differs
    /// between invocations (see [`INVOCATION_WORDS`]): checked on the text of the node and of
    /// each macro it called.
    pub fn reads_invocation(&self, node: &Node, macros: &BTreeSet<String>) -> bool {
        self.text_reads_invocation(&node.raw_code)
            || macros.iter().any(|id| {
                self.shared
                    .sources
                    .get(&macro_template(id))
                    .is_none_or(|s| self.text_reads_invocation(s.text()))
            })
    }

    /// Whether a template text (one that calls no macro, as YAML values) may read something
    /// that differs between invocations.
    pub fn text_reads_invocation(&self, text: &str) -> bool {
        INVOCATION_WORDS.iter().any(|w| text.contains(w))
    }

    /// Whether templates may read `graph`: it was built with the nodes the renderer was made
    /// with.
    pub fn builds_graph(&self) -> bool {
        self.shared.graph.get().is_some()
    }

    /// Builds the environment for `project` and its `nodes` (the project's own as loaded, or a
    /// parse's) on `target`.
    pub fn new<'a>(
        project: &Project,
        nodes: impl Iterator<Item = &'a Node>,
        target: &TargetInfo,
        env: EnvLookup,
        invocation: &Invocation,
    ) -> Renderer {
        let mut sources: BTreeMap<String, compiled::Source> = BTreeMap::new();
        let mut origins = BTreeMap::new();
        let mut macros: BTreeMap<String, BTreeMap<String, macros::MacroEntry>> = BTreeMap::new();

        let mut add_macro = |m: &Macro| {
            let t = macro_template(&m.unique_id);
            sources.insert(t.clone(), compiled::Source::new(&t, &m.template_sql));
            origins.insert(
                t.clone(),
                Origin {
                    file: m.original_file_path.clone(),
                    line_offset: m.line_offset,
                },
            );
            macros.entry(m.package_name.clone()).or_default().insert(
                m.name.clone(),
                macros::MacroEntry {
                    template: t,
                    package: m.package_name.clone(),
                    arguments: m.arguments.clone(),
                    unique_id: m.unique_id.clone(),
                },
            );
        };
        for m in builtins::macros() {
            add_macro(m);
        }
        for m in project.macros.values() {
            add_macro(m);
        }
        // A node's own template is made when the node is first rendered (see `node_source`):
        // most commands render few of a kept parse's nodes. Generic tests share one template.
        sources.insert(
            GENERIC_TEST_TEMPLATE.to_string(),
            compiled::Source::new(GENERIC_TEST_TEMPLATE, "{{ __kiln_generic_test() }}"),
        );

        let mut target_map: BTreeMap<String, serde_json::Value> = target.extra.clone();
        target_map.insert("name".into(), target.name.clone().into());
        target_map.insert("target_name".into(), target.name.clone().into());
        target_map.insert("profile_name".into(), target.profile_name.clone().into());
        target_map.insert("type".into(), target.dialect.adapter_type().into());
        target_map.insert("schema".into(), target.schema.clone().into());
        target_map.insert("database".into(), target.database.clone().into());
        target_map.insert("threads".into(), target.threads.into());

        let docs = project
            .docs
            .values()
            .map(|d| (d.name.clone(), d.block_contents.clone()))
            .collect();
        let compiled = sources
            .keys()
            .map(|k| (k.clone(), OnceLock::new()))
            .collect();
        let packages: BTreeSet<String> = project.packages.keys().cloned().collect();
        let vars = std::iter::once(project.name().to_string())
            .chain(packages.iter().cloned())
            .map(|p| {
                let v = project.vars_for(&p);
                (p, v)
            })
            .collect();
        let shared = Arc::new(Shared {
            project_name: project.name().to_string(),
            root_package: project.name().to_string(),
            packages,
            dispatch: project.file.dispatch_orders(),
            dialect: target.dialect,
            target: Value::from_serialize(&target_map),
            vars,
            env,
            docs,
            origins,
            files: project.files.clone(),
            macros,
            sources,
            compiled,
            node_sources: Mutex::new(HashMap::new()),
            adhoc: Mutex::new(HashMap::new()),
            invocation_id: invocation
                .invocation_id
                .clone()
                .unwrap_or_else(invocation_id),
            run_started_at: chrono::Utc::now(),
            flags: Value::from_serialize(BTreeMap::from([
                ("WHICH", serde_json::Value::from(invocation.which.clone())),
                ("FULL_REFRESH", invocation.full_refresh.into()),
                ("STORE_FAILURES", invocation.store_failures.into()),
                ("EMPTY", false.into()),
                ("DEBUG", invocation.debug.into()),
                ("WARN_ERROR", false.into()),
                ("FAIL_FAST", false.into()),
            ])),
            graph: OnceLock::new(),
            selected: Mutex::new(Vec::new()),
        });

        if mentions_graph(project) {
            shared.graph.get_or_init(|| graph_value(project, nodes));
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_recursion_limit(200);
        env.set_unknown_method_callback(values::unknown_method);
        functions::register(&mut env, &shared);
        Renderer { env, shared }
    }

    /// Evaluates a compiled template of `package` in `scope`, returning its output.
    fn eval(
        &self,
        compiled: &compiled::Compiled,
        scope: &Arc<Scope>,
        package: &str,
    ) -> Result<String, minijinja::Error> {
        let mut out = String::new();
        minijinja::machinery::Vm::new(&self.env).eval(
            &compiled.instructions,
            context_for(scope, &self.shared, package),
            &compiled.blocks,
            &mut minijinja::machinery::make_string_output(&mut out),
            minijinja::AutoEscape::None,
        )?;
        Ok(out)
    }

    fn scope_for(req: RenderRequest<'_>) -> Arc<Scope> {
        let node = req.node;
        Arc::new(Scope {
            unique_id: node.unique_id.clone(),
            base_config: req.config.clone(),
            test: node.test_metadata.clone(),
            this: req.this.clone(),
            execute: req.execute,
            is_incremental: req.is_incremental,
            resolver: req.resolver,
            database: req.database,
            recorded: Mutex::new(Rendered::default()),
            model_fields: ModelFields {
                name: node.name.clone(),
                resource_type: node.resource_type,
                package_name: node.package_name.clone(),
                original_file_path: node.original_file_path.clone(),
                path: node.path.clone(),
                fqn: node.fqn.clone(),
                raw_code: node.raw_code.clone(),
                description: node.description.clone(),
            },
            model: std::sync::OnceLock::new(),
            results: Mutex::new(BTreeMap::new()),
            overrides: req.overrides,
        })
    }

    /// Renders one node. Errors carry the file and line of the template (or macro) that failed.
    pub fn render(&self, req: RenderRequest<'_>) -> Result<Rendered, Diagnostic> {
        let package = req.node.package_name.clone();
        let name = node_template(&req.node.unique_id);
        let node = req.node;
        // A node's own template is rendered once or twice per command: it is compiled for each
        // render and dropped after, since a compiled template holds ~12 KB however short it is.
        let compiled = match req.node.is_generic_test() {
            true => self.shared.compiled(GENERIC_TEST_TEMPLATE),
            false => compiled::compile_source(&self.shared.node_source(req.node)),
        };
        let scope = Self::scope_for(req);
        let result = compiled.and_then(|c| self.eval(&c, &scope, &package));
        let sql = match result {
            Ok(sql) => sql,
            Err(e) => {
                let origin = Origin {
                    file: node.original_file_path.clone(),
                    line_offset: node.line_offset,
                };
                return Err(self.diagnostic_with_source(&e, &name, None, Some(&origin)));
            }
        };
        let mut rendered = scope.recorded.lock().map(|r| r.clone()).unwrap_or_default();
        rendered.sql = sql;
        Ok(rendered)
    }

    /// Renders a free-standing template (hooks, `show --inline`, YAML strings) in a node's scope.
    pub fn render_str(
        &self,
        source: &str,
        req: RenderRequest<'_>,
        origin: &str,
    ) -> Result<Rendered, Diagnostic> {
        let package = req.node.package_name.clone();
        let scope = Self::scope_for(req);
        let result = self
            .shared
            .compiled_adhoc(origin, source)
            .and_then(|c| self.eval(&c, &scope, &package));
        match result {
            Ok(sql) => {
                let mut r = scope.recorded.lock().map(|r| r.clone()).unwrap_or_default();
                r.sql = sql;
                Ok(r)
            }
            Err(e) => Err(self.diagnostic_with_source(&e, origin, Some(source), None)),
        }
    }

    /// Renders a string from properties YAML (e.g. a source's `schema: "{{ target.schema }}_raw"`)
    /// with `target`, `var` and `env_var` available, as dbt does.
    pub fn render_yaml_text(&self, text: &str, file: &str) -> Result<String, Diagnostic> {
        if !text.contains("{{") && !text.contains("{%") {
            return Ok(text.to_string());
        }
        self.env
            .render_str(text, ())
            .map_err(|e| self.diagnostic_with_source(&e, file, Some(text), None))
    }

    /// Renders a docs description (`{{ doc('x') }}`) outside any node.
    pub fn render_description(&self, text: &str) -> String {
        if !text.contains("{{") && !text.contains("{%") {
            return text.to_string();
        }
        let shared = self.shared.clone();
        let mut env = Environment::new();
        env.add_function(
            "doc",
            move |name: String| -> Result<String, minijinja::Error> {
                shared.docs.get(&name).cloned().ok_or_else(|| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("unknown docs block `{name}`"),
                    )
                })
            },
        );
        env.render_str(text, ())
            .unwrap_or_else(|_| text.to_string())
    }

    /// This invocation's id (`invocation_id` in templates and artifacts).
    pub fn invocation_id(&self) -> &str {
        &self.shared.invocation_id
    }

    /// When this invocation started (`run_started_at`).
    pub fn run_started_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.shared.run_started_at
    }

    /// Builds `graph` for a free-standing template that names it (hooks and inline SQL are not
    /// among the project's templates when the renderer is made).
    pub fn provide_graph<'a>(&self, project: &Project, nodes: impl Iterator<Item = &'a Node>) {
        self.shared
            .graph
            .get_or_init(|| graph_value(project, nodes));
    }

    /// Sets what `selected_resources` holds: the unique_ids the command selected.
    pub fn set_selected_resources<'a>(&self, ids: impl IntoIterator<Item = &'a String>) {
        if let Ok(mut s) = self.shared.selected.lock() {
            *s = ids.into_iter().cloned().collect();
        }
    }

    /// True when `name` (or `package.name`) is a macro of the project, a package or the
    /// built-ins.
    pub fn has_macro(&self, name: &str) -> bool {
        match name.split_once('.') {
            Some((package, name)) => {
                let package = if package == "kiln" {
                    macros::DBT
                } else {
                    package
                };
                self.shared
                    .macros
                    .get(package)
                    .is_some_and(|ns| ns.contains_key(name))
            }
            None => self
                .shared
                .find_macro(&self.shared.root_package, name)
                .is_some(),
        }
    }

    /// Names of all callable macros (every package's and the built-ins).
    pub fn macro_names(&self) -> impl Iterator<Item = &str> {
        self.shared
            .macros
            .values()
            .flat_map(|ns| ns.keys().map(String::as_str))
    }

    /// Converts a minijinja error into a diagnostic at the innermost file and line. `node` is
    /// where `template` came from when it is a node's own (nodes' templates are not among the
    /// renderer's origins).
    fn diagnostic_with_source(
        &self,
        e: &minijinja::Error,
        template: &str,
        inline_source: Option<&str>,
        node: Option<&Origin>,
    ) -> Diagnostic {
        let origin_of = |name: &str| match node {
            Some(o) if name == template => Some(o),
            _ => self.shared.origins.get(name),
        };
        let signal = functions::signal_of(e);
        let kind = match &signal {
            Some(functions::Signal::Reference { .. }) => ErrorKind::Reference,
            _ => ErrorKind::Template,
        };
        let mut message = match &signal {
            Some(functions::Signal::Reference { message, .. }) => message.clone(),
            Some(functions::Signal::Compiler { message }) => message.clone(),
            _ => describe(e),
        };
        let failing = match e.name() {
            Some(name) if name != GENERIC_TEST_TEMPLATE => name,
            _ => template,
        }
        .to_string();
        let origin = origin_of(&failing);
        let location = match (origin, e.line()) {
            (Some(o), Some(line)) => {
                let file_line = line + o.line_offset;
                let col = match (e.range(), e.template_source()) {
                    (Some(r), Some(src)) => crate::error::line_col(src, r.start).1,
                    _ => 0,
                };
                // Column positions are only exact on the template's first line when offset.
                match self.shared.file_text(&o.file) {
                    Some(text) => Location::at(&o.file, text, file_line, col),
                    None => Location {
                        file: o.file.clone().into(),
                        line: file_line,
                        col,
                        source_line: None,
                    },
                }
            }
            (Some(o), None) => Location::file(&o.file),
            (None, line) => {
                let src = inline_source.or(e.template_source()).unwrap_or("");
                let col = e
                    .range()
                    .map(|r| crate::error::line_col(src, r.start).1)
                    .unwrap_or(0);
                Location::at(failing.clone(), src, line.unwrap_or(0), col)
            }
        };
        if failing != template
            && let Some(outer) = origin_of(template)
        {
            message = format!("{message} (while rendering {})", outer.file);
        }
        let hint = match &signal {
            Some(functions::Signal::Reference { hint, .. }) => hint.clone(),
            _ => hint_for(e),
        };
        Diagnostic::new(kind, message).at(location).with_hint(hint)
    }
}

/// A readable one-line description of a minijinja error, naming the undefined expression.
fn describe(e: &minijinja::Error) -> String {
    use minijinja::ErrorKind as K;
    let snippet = match (e.range(), e.template_source()) {
        (Some(r), Some(src)) => src.get(r).map(|s| s.trim().to_string()),
        _ => None,
    };
    match e.kind() {
        K::UndefinedError => match snippet {
            Some(s) => format!("`{s}` is undefined"),
            None => "undefined value".to_string(),
        },
        K::SyntaxError => format!(
            "Jinja syntax error: {}",
            e.detail().unwrap_or("invalid syntax")
        ),
        K::UnknownFunction => match e.detail().and_then(|d| d.strip_suffix(" is unknown")) {
            Some(name) => format!("`{name}` is not a macro or function"),
            None => match snippet {
                Some(s) => format!("unknown function in `{s}`"),
                None => "unknown function".to_string(),
            },
        },
        _ => {
            let mut msg = e
                .detail()
                .map(str::to_string)
                .unwrap_or_else(|| e.kind().to_string());
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                if let Some(inner) = s.downcast_ref::<minijinja::Error>() {
                    if let Some(d) = inner.detail() {
                        msg = format!("{msg}: {d}");
                    }
                } else {
                    msg = format!("{msg}: {s}");
                }
                source = s.source();
            }
            msg
        }
    }
}

fn hint_for(e: &minijinja::Error) -> String {
    use minijinja::ErrorKind as K;
    match e.kind() {
        K::UndefinedError => {
            "define it with `{% set %}`, pass it with --vars and read it with var('name'), or check the spelling".into()
        }
        K::SyntaxError => "fix the Jinja syntax: every `{% %}` block needs its `{% end... %}`".into(),
        K::UnknownFunction => "define a macro with that name in the macro paths, or check the spelling".into(),
        K::MissingArgument | K::TooManyArguments => "check the arguments the function or macro takes".into(),
        _ => "fix the template expression at this line".into(),
    }
}

/// The fields of a node `model` shows, besides its unique_id and config.
struct ModelFields {
    name: String,
    resource_type: crate::project::ResourceType,
    package_name: String,
    original_file_path: String,
    path: String,
    fqn: Vec<String>,
    raw_code: String,
    description: String,
}

/// `model` as templates see it: a map of the node's main fields.
fn model_value(unique_id: &str, node: &ModelFields, config: &Config) -> Value {
    let mut m: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
    m.insert("unique_id", unique_id.into());
    m.insert("name", node.name.clone().into());
    m.insert(
        "alias",
        config.get_str("alias").unwrap_or(&node.name).into(),
    );
    m.insert("resource_type", node.resource_type.as_str().into());
    m.insert("package_name", node.package_name.clone().into());
    m.insert("original_file_path", node.original_file_path.clone().into());
    m.insert("path", node.path.clone().into());
    m.insert("fqn", node.fqn.clone().into());
    m.insert("raw_code", node.raw_code.clone().into());
    m.insert("description", node.description.clone().into());
    m.insert(
        "config",
        serde_json::to_value(config).unwrap_or(serde_json::Value::Null),
    );
    m.insert("tags", config.tags().into());
    Value::from_serialize(&m)
}

/// A new invocation id: a random UUID (version 4), as dbt makes one per command.
pub fn invocation_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = crate::project::identity::hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Whether any template of the project can read `graph`: a template reaches it only by name,
/// so a project whose files never spell it is spared building it (a large project's graph
/// costs more than rendering every model that does not use it).
fn mentions_graph(project: &Project) -> bool {
    const WORD: &str = "graph";
    project.files.values().any(|t| t.contains(WORD))
        || project
            .macros
            .values()
            .any(|m| m.template_sql.contains(WORD))
        || project.nodes.values().any(|n| n.raw_code.contains(WORD))
}

/// `graph` as templates read it: `graph.nodes` (of `nodes`), `graph.sources`, `graph.macros` by
/// unique_id.
fn graph_value<'a>(project: &Project, nodes: impl Iterator<Item = &'a Node>) -> Value {
    let node = |n: &Node| {
        serde_json::json!({
            "unique_id": n.unique_id,
            "name": n.name,
            "resource_type": n.resource_type.as_str(),
            "package_name": n.package_name,
            "path": n.path,
            "original_file_path": n.original_file_path,
            "fqn": n.fqn,
            "config": n.config,
            "tags": n.config.tags(),
            "description": n.description,
            "alias": n.alias(),
            "raw_code": n.raw_code,
        })
    };
    let nodes: serde_json::Map<String, serde_json::Value> =
        nodes.map(|n| (n.unique_id.clone(), node(n))).collect();
    let sources: serde_json::Map<String, serde_json::Value> = project
        .sources
        .values()
        .map(|s| {
            (
                s.unique_id.clone(),
                serde_json::json!({
                    "unique_id": s.unique_id,
                    "name": s.name,
                    "source_name": s.source_name,
                    "resource_type": "source",
                    "package_name": s.package_name,
                    "schema": s.schema,
                    "identifier": s.identifier,
                    "fqn": s.fqn,
                    "config": s.config,
                }),
            )
        })
        .collect();
    let macros: serde_json::Map<String, serde_json::Value> = project
        .macros
        .values()
        .map(|m| {
            (
                m.unique_id.clone(),
                serde_json::json!({
                    "unique_id": m.unique_id,
                    "name": m.name,
                    "package_name": m.package_name,
                    "original_file_path": m.original_file_path,
                }),
            )
        })
        .collect();
    Value::from_serialize(serde_json::json!({
        "nodes": nodes,
        "sources": sources,
        "macros": macros,
        "exposures": {},
        "metrics": {},
        "groups": {},
        "semantic_models": {},
        "saved_queries": {},
    }))
}
