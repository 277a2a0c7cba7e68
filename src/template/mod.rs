//! Rendering: the minijinja environment with dbt's context (`ref`, `source`, `config`, `var`,
//! `env_var`, `this`, `target`, `is_incremental`, `adapter`, `run_query`, `log`, `exceptions`,
//! `return`, `doc`), project macros in one global namespace, and Kiln's built-in macro library.
//!
//! A [`Renderer`] is built once per project and target and shared by worker threads. Each render
//! gets a [`Scope`] that records the `ref`s, `source`s and `config()` calls the template made: the
//! graph is built from what rendering saw, never from scanning text.

mod builtins;
mod functions;
mod macros;
pub mod relation;

pub use relation::{Relation, RelationKind};

use crate::error::{Diagnostic, ErrorKind, Location};
use crate::project::{Config, Macro, Node, Project, TestMetadata};
use crate::sql::Dialect;
use minijinja::value::{Object, Value};
use minijinja::{Environment, UndefinedBehavior};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

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
}

/// A `ref()` call seen while rendering.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
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
    /// Macros called (unique_ids), for `depends_on.macros`.
    pub macros: BTreeSet<String>,
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
    pub model: Value,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<scope {}>", self.unique_id)
    }
}

impl Object for Scope {}

impl Scope {
    /// The config as templates see it now: base config plus `config()` calls so far.
    pub fn current_config(&self) -> Config {
        let mut c = self.base_config.clone();
        if let Ok(r) = self.recorded.lock() {
            c.merge(&r.config);
        }
        c
    }
}

/// The context map a template (node or macro) is evaluated with.
pub(crate) fn context_for(scope: &Arc<Scope>) -> Value {
    let mut m = BTreeMap::new();
    m.insert("__kiln_scope", Value::from_dyn_object(scope.clone()));
    m.insert(
        "this",
        scope
            .this
            .clone()
            .map(Relation::into_value)
            .unwrap_or(Value::from(())),
    );
    m.insert("model", scope.model.clone());
    m.insert("execute", Value::from(scope.execute));
    Value::from(m)
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
    pub dialect: Dialect,
    pub target: Value,
    pub vars: BTreeMap<String, serde_json::Value>,
    pub env: EnvLookup,
    pub docs: BTreeMap<String, String>,
    pub origins: BTreeMap<String, Origin>,
    pub files: BTreeMap<String, String>,
    /// Macro name → template name, project macros over built-ins.
    pub macros: BTreeMap<String, String>,
    /// Built-in macro name → template name (for `dbt.x` / `kiln.x`).
    pub builtin_macros: BTreeMap<String, String>,
    /// Macro template name → unique_id.
    pub macro_ids: BTreeMap<String, String>,
    /// Macro template name → declared argument names.
    pub macro_args: BTreeMap<String, Vec<String>>,
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

/// The shared rendering environment for one project and target.
pub struct Renderer {
    env: Environment<'static>,
    shared: Arc<Shared>,
}

/// Name of the template holding a node's code.
fn node_template(unique_id: &str) -> String {
    format!("node:{unique_id}")
}

/// Name of the template holding one macro.
fn macro_template(unique_id: &str) -> String {
    format!("macro:{unique_id}")
}

impl Renderer {
    /// Builds the environment for `project` on `target`.
    pub fn new(project: &Project, target: &TargetInfo, env: EnvLookup) -> Renderer {
        let mut sources: BTreeMap<String, String> = BTreeMap::new();
        let mut origins = BTreeMap::new();
        let mut macros = BTreeMap::new();
        let mut builtin_macros = BTreeMap::new();
        let mut macro_ids = BTreeMap::new();
        let mut macro_args = BTreeMap::new();
        let mut files = project.files.clone();

        let mut add_macro = |m: &Macro, builtin: bool| {
            let t = macro_template(&m.unique_id);
            sources.insert(t.clone(), m.macro_sql.clone());
            origins.insert(
                t.clone(),
                Origin {
                    file: m.original_file_path.clone(),
                    line_offset: m.line_offset,
                },
            );
            macro_ids.insert(t.clone(), m.unique_id.clone());
            macro_args.insert(t.clone(), m.arguments.clone());
            if builtin {
                builtin_macros.insert(m.name.clone(), t.clone());
            }
            macros.insert(m.name.clone(), t);
        };
        let (builtin_list, builtin_files) = builtins::macros();
        for m in &builtin_list {
            add_macro(m, true);
        }
        // Project macros come second so they override built-ins of the same name.
        for m in project.macros.values() {
            add_macro(m, false);
        }
        files.extend(builtin_files);
        for node in project.nodes.values() {
            let t = node_template(&node.unique_id);
            let code = if node.is_generic_test() {
                "{{ __kiln_generic_test() }}".to_string()
            } else {
                node.raw_code.clone()
            };
            sources.insert(t.clone(), code);
            origins.insert(
                t,
                Origin {
                    file: node.original_file_path.clone(),
                    line_offset: node.line_offset,
                },
            );
        }

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
        let shared = Arc::new(Shared {
            project_name: project.name().to_string(),
            dialect: target.dialect,
            target: Value::from_serialize(&target_map),
            vars: project.vars(),
            env,
            docs,
            origins,
            files,
            macros,
            builtin_macros,
            macro_ids,
            macro_args,
        });

        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_recursion_limit(200);
        let sources = Arc::new(sources);
        env.set_loader(move |name| Ok(sources.get(name).cloned()));
        functions::register(&mut env, &shared);
        macros::register(&mut env, &shared);
        Renderer { env, shared }
    }

    /// Renders one node. Errors carry the file and line of the template (or macro) that failed.
    pub fn render(&self, req: RenderRequest<'_>) -> Result<Rendered, Diagnostic> {
        let node = req.node;
        let scope = Arc::new(Scope {
            unique_id: node.unique_id.clone(),
            base_config: req.config.clone(),
            test: node.test_metadata.clone(),
            this: req.this.clone(),
            execute: req.execute,
            is_incremental: req.is_incremental,
            resolver: req.resolver,
            database: req.database,
            recorded: Mutex::new(Rendered::default()),
            model: model_value(node, req.config),
        });
        let name = node_template(&node.unique_id);
        let result = self
            .env
            .get_template(&name)
            .and_then(|t| t.render(context_for(&scope)));
        let sql = match result {
            Ok(sql) => sql,
            Err(e) => return Err(self.diagnostic(&e, &name)),
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
        let node = req.node;
        let scope = Arc::new(Scope {
            unique_id: node.unique_id.clone(),
            base_config: req.config.clone(),
            test: node.test_metadata.clone(),
            this: req.this.clone(),
            execute: req.execute,
            is_incremental: req.is_incremental,
            resolver: req.resolver,
            database: req.database,
            recorded: Mutex::new(Rendered::default()),
            model: model_value(node, req.config),
        });
        let result = self
            .env
            .render_named_str(origin, source, context_for(&scope));
        match result {
            Ok(sql) => {
                let mut r = scope.recorded.lock().map(|r| r.clone()).unwrap_or_default();
                r.sql = sql;
                Ok(r)
            }
            Err(e) => Err(self.diagnostic_with_source(&e, origin, Some(source))),
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
            .map_err(|e| self.diagnostic_with_source(&e, file, Some(text)))
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

    /// Names of all callable macros (project and built-in).
    pub fn macro_names(&self) -> impl Iterator<Item = &str> {
        self.shared.macros.keys().map(String::as_str)
    }

    fn diagnostic(&self, e: &minijinja::Error, template: &str) -> Diagnostic {
        self.diagnostic_with_source(e, template, None)
    }

    /// Converts a minijinja error into a diagnostic at the innermost file and line.
    fn diagnostic_with_source(
        &self,
        e: &minijinja::Error,
        template: &str,
        inline_source: Option<&str>,
    ) -> Diagnostic {
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
        let failing = e.name().unwrap_or(template).to_string();
        let origin = self.shared.origins.get(&failing);
        let location = match (origin, e.line()) {
            (Some(o), Some(line)) => {
                let file_line = line + o.line_offset;
                let col = match (e.range(), e.template_source()) {
                    (Some(r), Some(src)) => crate::error::line_col(src, r.start).1,
                    _ => 0,
                };
                // Column positions are only exact on the template's first line when offset.
                match self.shared.files.get(&o.file) {
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
            && let Some(outer) = self.shared.origins.get(template)
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
        K::UnknownFunction => match snippet {
            Some(s) => format!("unknown function in `{s}`"),
            None => "unknown function".to_string(),
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

/// `model` as templates see it: a map of the node's main fields.
fn model_value(node: &Node, config: &Config) -> Value {
    let mut m: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
    m.insert("unique_id", node.unique_id.clone().into());
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
