//! Command-line glue: clap definitions ([`args`]), console output ([`output`]) and one small
//! function per command. Commands call the library stages; they hold no logic of their own.

pub mod args;
mod deps;
mod docs;
mod init;
pub mod output;
mod run;
mod watch;

use crate::artifacts;
use crate::artifacts::compile_cache::CompileCache;
use crate::artifacts::parse_cache::ParseCache;
use crate::artifacts::snapshot;
use crate::compile::{self, Manifest};
use crate::error::{Diagnostic, Error, ErrorKind, Result};
use crate::graph::{self, IndirectSelection, SelectOptions, Selection};
use crate::project::{self, LoadOptions, ResourceType, profiles};
use args::{Cli, Command, GlobalArgs, ListOutput, ResourceTypeArg, SelectArgs};
use clap::Parser;
use output::Output;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Exit code: success (warnings allowed).
pub const EXIT_OK: i32 = 0;
/// Exit code: a node errored or a test failed.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code: the invocation or the project is invalid.
pub const EXIT_INVALID: i32 = 2;

/// Runs the CLI with the process arguments and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_INVALID
            } else {
                EXIT_OK
            };
            let _ = e.print();
            return code;
        }
    };
    run(cli)
}

/// `--warn-error` and `--warn-error-options`: which warnings end the command as errors. Names
/// are dbt's event names where Kiln raises the same warning (`NoNodesForSelectionCriteria`,
/// `LogTestResult`), else the warning's kind (`project`, `properties`, `seed`, ...).
#[derive(Debug, Clone, Default)]
pub struct WarnError {
    all: bool,
    include: Vec<String>,
    exclude: Vec<String>,
}

impl WarnError {
    /// The policy of the command line.
    fn from_args(g: &GlobalArgs) -> Result<WarnError> {
        let mut policy = WarnError {
            all: g.warn_error,
            ..Default::default()
        };
        let Some(text) = &g.warn_error_options else {
            return Ok(policy);
        };
        let bad = |detail: &str| {
            Error::from(
                Diagnostic::new(
                    ErrorKind::Usage,
                    format!("--warn-error-options is not valid: {detail}"),
                )
                .with_hint(
                    "write it like --warn-error-options '{\"include\": \"all\", \"exclude\": [\"NoNodesForSelectionCriteria\"]}'",
                ),
            )
        };
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| bad(&e.to_string()))?;
        let Value::Object(map) = project::config::yaml_to_json(&yaml) else {
            return Err(bad("expected a mapping with `include` and `exclude`"));
        };
        for (key, value) in map {
            if !matches!(
                key.as_str(),
                "include" | "error" | "exclude" | "warn" | "silence"
            ) {
                return Err(bad(&format!("unknown key `{key}`")));
            }
            let names = match &value {
                Value::String(s) if s == "all" || s == "*" => {
                    if matches!(key.as_str(), "include" | "error") {
                        policy.all = true;
                    }
                    continue;
                }
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect(),
                _ => return Err(bad(&format!("`{key}` must be \"all\" or a list of names"))),
            };
            match key.as_str() {
                // dbt 1.8 renamed include/exclude to error/warn; both are read.
                "include" | "error" => policy.include.extend(names),
                _ => policy.exclude.extend(names),
            }
        }
        Ok(policy)
    }

    /// Whether the warning called `name` is an error.
    pub fn applies(&self, name: &str) -> bool {
        let listed = |list: &[String]| list.iter().any(|n| n.eq_ignore_ascii_case(name));
        !listed(&self.exclude) && (self.all || listed(&self.include))
    }
}

static WARN_ERROR: std::sync::OnceLock<WarnError> = std::sync::OnceLock::new();

/// This invocation's `--warn-error` policy.
pub fn warn_error() -> &'static WarnError {
    WARN_ERROR.get_or_init(WarnError::default)
}

/// Warnings the policy turns into errors, as one error; the rest are printed.
fn escalate(
    out: &Output,
    warnings: &[Diagnostic],
    name_of: &dyn Fn(&Diagnostic) -> String,
) -> Result<()> {
    let mut errors = Vec::new();
    for w in warnings {
        let name = name_of(w);
        if name == "NoNodesForSelectionCriteria" && !warn_error().applies(&name) {
            // The selection term is the text between the warning's backquotes.
            let spec = w.message.split('`').nth(1).unwrap_or(&w.message);
            out.warning_event(artifacts::events::Event::no_nodes_for_selection(spec, w), w);
            continue;
        }
        if warn_error().applies(&name) {
            let mut d = w.clone();
            d.hint = Some(match &d.hint {
                Some(h) => format!("{h} (a warning, made an error by --warn-error)"),
                None => "a warning, made an error by --warn-error".to_string(),
            });
            errors.push(d);
        } else {
            out.warning(w);
        }
    }
    match Error::from_diagnostics(errors) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The command's name as logs and `flags.WHICH` give it.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Init { .. } => "init",
        Command::Debug => "debug",
        Command::Deps { .. } => "deps",
        Command::Parse => "parse",
        Command::Compile { .. } => "compile",
        Command::Ls { .. } => "list",
        Command::Clean => "clean",
        Command::Run { .. } => "run",
        Command::Test { .. } => "test",
        Command::Seed { .. } => "seed",
        Command::Snapshot { .. } => "snapshot",
        Command::Build { .. } => "build",
        Command::Watch { .. } => "watch",
        Command::Retry { .. } => "retry",
        Command::Clone { .. } => "clone",
        Command::Docs { .. } => "docs",
        Command::Source { .. } => "source freshness",
        Command::RunOperation { .. } => "run-operation",
        Command::Show { .. } => "show",
    }
}

/// Where the log file goes: `--log-path`, else `logs/` in the project directory when it holds
/// a project (so `kiln init` or a typo'd directory leaves no stray logs behind).
fn log_dir(g: &GlobalArgs, settings: &output::LogSettings) -> Option<PathBuf> {
    if let Some(p) = &settings.path {
        return Some(p.clone());
    }
    let dir = g.project_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let has_project = ["project.yml", "dbt_project.yml"]
        .iter()
        .any(|f| dir.join(f).is_file());
    has_project.then(|| dir.join("logs"))
}

/// Sets up the invocation's output: the console, the log file, and templates' `log()`.
fn start_output(cli: &Cli) -> Output {
    let settings = output::LogSettings::resolve(&cli.global, &env_lookup);
    let dir = log_dir(&cli.global, &settings);
    let out = Output::new(settings, crate::template::invocation_id());
    // Commands whose stdout is their data log to stderr, so the data pipes cleanly.
    let data_command = matches!(
        cli.command,
        Command::Ls { .. } | Command::Show { .. } | Command::Compile { .. } | Command::Debug
    );
    if data_command {
        out.log_to_stderr();
    }
    if let Some(dir) = dir {
        out.open_log_file(&dir);
    }
    let sink = out.clone();
    crate::template::set_log_sink(Arc::new(move |level, msg| {
        use crate::template::TemplateLog;
        let level = match level {
            TemplateLog::Debug => artifacts::events::Level::Debug,
            TemplateLog::Info => artifacts::events::Level::Info,
            TemplateLog::Warn => artifacts::events::Level::Warn,
        };
        sink.emit(artifacts::events::Event::jinja_log(level, msg));
    }));
    out.emit(artifacts::events::Event::main_report_version());
    out
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> i32 {
    let started = Instant::now();
    let out = start_output(&cli);
    let code = run_command(&cli, &out);
    out.finish(
        command_name(&cli.command),
        code == EXIT_OK,
        started.elapsed().as_secs_f64(),
    );
    code
}

fn run_command(cli: &Cli, out: &Output) -> i32 {
    let out = out.clone();
    match WarnError::from_args(&cli.global) {
        Ok(policy) => {
            let _ = WARN_ERROR.set(policy);
        }
        Err(e) => {
            out.error(&e);
            return EXIT_INVALID;
        }
    }
    let result = match &cli.command {
        Command::Init { name } => init::run(&out, name),
        Command::Debug => cmd_debug(&cli.global, &out),
        Command::Deps { upgrade, lock } => deps::cmd_deps(&cli.global, &out, *upgrade, *lock),
        Command::Parse => cmd_parse(&cli.global, &out),
        Command::Compile { select, inline } => {
            cmd_compile(&cli.global, &out, select, inline.as_deref())
        }
        Command::Ls {
            select,
            resource_type,
            exclude_resource_type,
            output,
            output_keys,
        } => cmd_ls(
            &cli.global,
            &out,
            select,
            &resource_types(resource_type, exclude_resource_type, &ResourceType::ALL),
            *output,
            output_keys,
        ),
        Command::Clean => cmd_clean(&cli.global, &out),
        Command::Run { select, exec } => {
            run::cmd_exec(&cli.global, &out, run::ExecCommand::Run, select, exec, None)
        }
        Command::Test {
            select,
            exec,
            resource_type,
            exclude_resource_type,
        }
        | Command::Build {
            select,
            exec,
            resource_type,
            exclude_resource_type,
        } => {
            let command = match &cli.command {
                Command::Test { .. } => run::ExecCommand::Test,
                _ => run::ExecCommand::Build,
            };
            let types = resource_types(
                resource_type,
                exclude_resource_type,
                &command.resource_types(),
            );
            run::cmd_exec(&cli.global, &out, command, select, exec, Some(types))
        }
        Command::Seed { select, exec } => run::cmd_exec(
            &cli.global,
            &out,
            run::ExecCommand::Seed,
            select,
            exec,
            None,
        ),
        Command::Snapshot { select, exec } => run::cmd_exec(
            &cli.global,
            &out,
            run::ExecCommand::Snapshot,
            select,
            exec,
            None,
        ),
        Command::Retry { state } => run::cmd_retry(&cli.global, &out, state.as_deref()),
        Command::Watch {
            select,
            exec,
            docs,
            port,
            host,
        } => {
            let docs = docs.then_some((host.as_str(), *port));
            watch::cmd_watch(&cli.global, &out, select, exec, docs)
        }
        Command::Clone { select, exec } => run::cmd_clone(&cli.global, &out, select, exec),
        Command::Docs { command } => docs::cmd_docs(&cli.global, &out, command),
        Command::Source {
            command: args::SourceCommand::Freshness { select },
        } => run::cmd_freshness(&cli.global, &out, select),
        Command::RunOperation { macro_name, args } => {
            run::cmd_run_operation(&cli.global, &out, macro_name, args.as_deref())
        }
        Command::Show {
            select,
            inline,
            limit,
            output,
        } => run::cmd_show(
            &cli.global,
            &out,
            select,
            inline.as_deref(),
            *limit,
            *output,
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            out.error(&e);
            EXIT_INVALID
        }
    }
}

/// Settings resolved from flags, environment and files.
struct Settings {
    project_dir: PathBuf,
    vars: BTreeMap<String, Value>,
    target_path: Option<PathBuf>,
}

impl Settings {
    /// The options to load the project with, reading the environment through `env`.
    fn load_options<'a>(
        &'a self,
        env: &'a (dyn Fn(&str) -> Option<String> + Sync),
    ) -> LoadOptions<'a> {
        LoadOptions {
            project_dir: &self.project_dir,
            cli_vars: self.vars.clone(),
            env,
        }
    }
}

fn settings(g: &GlobalArgs) -> Result<Settings> {
    let project_dir = g.project_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let vars = match &g.vars {
        None => BTreeMap::new(),
        Some(text) => parse_vars(text)?,
    };
    Ok(Settings {
        project_dir,
        vars,
        target_path: g.target_path.clone(),
    })
}

/// `--resource-type` and `--exclude-resource-type` applied to a command's own types (`all`
/// stands for every type).
fn resource_types(
    include: &[ResourceTypeArg],
    exclude: &[ResourceTypeArg],
    default: &[ResourceType],
) -> Vec<ResourceType> {
    let of = |t: &ResourceTypeArg| match t {
        ResourceTypeArg::Model => Some(ResourceType::Model),
        ResourceTypeArg::Seed => Some(ResourceType::Seed),
        ResourceTypeArg::Snapshot => Some(ResourceType::Snapshot),
        ResourceTypeArg::Test => Some(ResourceType::Test),
        ResourceTypeArg::Source => Some(ResourceType::Source),
        ResourceTypeArg::Analysis => Some(ResourceType::Analysis),
        ResourceTypeArg::UnitTest => Some(ResourceType::UnitTest),
        ResourceTypeArg::All => None,
    };
    let mut types: Vec<ResourceType> =
        if include.is_empty() || include.contains(&ResourceTypeArg::All) {
            default.to_vec()
        } else {
            default
                .iter()
                .copied()
                .filter(|t| include.iter().any(|i| of(i) == Some(*t)))
                .collect()
        };
    if exclude.contains(&ResourceTypeArg::All) {
        types.clear();
    }
    types.retain(|t| !exclude.iter().any(|e| of(e) == Some(*t)));
    types
}

/// Parses `--vars` (YAML or JSON) into a map.
pub fn parse_vars(text: &str) -> Result<BTreeMap<String, Value>> {
    let bad = |detail: String| {
        Error::from(
            Diagnostic::new(
                ErrorKind::Usage,
                format!("--vars is not a YAML or JSON mapping: {detail}"),
            )
            .with_hint("write it like --vars '{start_date: 2024-01-01, limit: 10}'"),
        )
    };
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let yaml: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| bad(e.to_string()))?;
    match project::config::yaml_to_json(&yaml) {
        Value::Object(map) => Ok(map.into_iter().collect()),
        Value::Null => Ok(BTreeMap::new()),
        other => Err(bad(format!("got `{other}`"))),
    }
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn load_project(s: &Settings) -> Result<project::Project> {
    load_project_with(s, &env_lookup)
}

fn load_project_with(
    s: &Settings,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<project::Project> {
    let mut project = project::load(&s.load_options(env))?;
    if let Some(dir) = &s.target_path {
        project.file.target_path = dir.to_string_lossy().into_owned();
    }
    Ok(project)
}

/// The target of the profile the project (in `root`, with project file `file`) names.
fn load_target(
    g: &GlobalArgs,
    out: &Output,
    s: &Settings,
    root: &Path,
    file: &project::project_file::ProjectFile,
) -> Result<profiles::Target> {
    let profile = g
        .profile
        .clone()
        .or_else(|| file.profile.clone())
        .unwrap_or_else(|| file.name.clone());
    let home = home_dir();
    let mut target = profiles::load_target(&profiles::ProfileOptions {
        project_dir: root,
        profiles_dir: g.profiles_dir.as_deref(),
        profile: &profile,
        target: g.target.as_deref(),
        vars: &s.vars,
        env: &env_lookup,
        home: home.as_deref(),
    })?;
    if let Some(t) = g.threads {
        target.threads = t.max(1);
    }
    out.add_secrets(target.secrets());
    escalate(out, &target.warnings, &|d| d.kind.as_str().to_string())?;
    Ok(target)
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// Loads, parses and plans the project. Unless `--no-partial-parse`, a project where nothing
/// changed comes from the project snapshot, and other parses reuse the partial-parse cache.
pub(crate) fn parse_project(g: &GlobalArgs, out: &Output, which: &str) -> Result<Manifest> {
    crate::template::prepare();
    let s = settings(g)?;
    let started = std::time::SystemTime::now();
    let plain: crate::template::EnvLookup = Arc::new(env_lookup);
    let reads = snapshot::EnvReads::default();
    let env = match g.no_partial_parse {
        true => plain.clone(),
        false => reads.wrap(plain.clone()),
    };
    let (root, mut file) = project::load_root_file(&s.load_options(&*env))?;
    if let Some(dir) = &s.target_path {
        file.target_path = dir.to_string_lossy().into_owned();
    }
    let target = load_target(g, out, &s, &root, &file)?;
    let key = snapshot::key(&root, &s.vars, &target);
    let mut opts = compile::ParseOptions {
        env: plain.clone(),
        invocation: crate::template::Invocation {
            which: which.to_string(),
            debug: out.settings().debug,
            invocation_id: Some(out.invocation_id().to_string()),
            ..Default::default()
        },
        cache: None,
    };
    let restored = (!g.no_partial_parse)
        .then(|| {
            let restore = |kept| from_snapshot(out, kept, target.clone(), &opts);
            snapshot::open(&root.join(&file.target_path), &key, &plain, restore)
        })
        .flatten();
    let manifest = match restored {
        Some(manifest) => manifest,
        None if g.no_partial_parse => {
            let project = load_project_with(&s, &*env)?;
            compile::parse(project, target, &opts)?
        }
        None => {
            let project = load_project_with(&s, &*env)?;
            let cache = ParseCache::open(&project, &compile::target_info(&target), env.clone());
            opts.env = env;
            opts.cache = Some(&cache);
            let manifest = compile::parse(project, target, &opts);
            keep_parse(out, cache, manifest, &key, &reads, started)?
        }
    };
    escalate(out, &manifest.warnings, &|d| d.kind.as_str().to_string())?;
    Ok(manifest)
}

/// The manifest of the parse kept in the project snapshot, with the edits made since taken
/// into it; None when they cannot be (see `Manifest::patch`).
fn from_snapshot(
    out: &Output,
    kept: snapshot::Kept,
    target: profiles::Target,
    opts: &compile::ParseOptions,
) -> Option<Manifest> {
    let edited = kept.edits.len();
    let Some(mut manifest) = compile::restore(kept.parsed, target, opts, &kept.edits) else {
        out.debug("Partial parse: the edits since the project snapshot need a whole parse");
        return None;
    };
    if edited == 0 {
        manifest.kept = Some(kept.id);
        out.debug(&format!(
            "Partial parse: nothing changed since the project snapshot; {} nodes reused, 0 rendered",
            kept.renders
        ));
    } else {
        out.debug(&format!(
            "Partial parse: {edited} edited files taken into the project snapshot; {} nodes reused, {edited} rendered",
            kept.renders.saturating_sub(edited)
        ));
    }
    Some(manifest)
}

/// Saves the partial-parse cache of a parse, even a failed one (after a fix, only what
/// changed renders again), and keeps the parse in the project snapshot, at the same time.
fn keep_parse(
    out: &Output,
    cache: ParseCache,
    manifest: Result<Manifest>,
    key: &str,
    reads: &snapshot::EnvReads,
    started: std::time::SystemTime,
) -> Result<Manifest> {
    let used = cache.used();
    let (saved, kept) = rayon::join(
        || cache.save(),
        || match &manifest {
            Ok(m) => snapshot::save(m, key, reads, started, used.reused + used.rendered),
            Err(_) => Ok(None),
        },
    );
    match saved {
        Ok(()) => out.debug(&format!(
            "Partial parse: {} nodes reused, {} rendered",
            used.reused, used.rendered
        )),
        Err(e) => out.debug(&format!("Partial parse: the cache was not written: {e}")),
    }
    let mut manifest = manifest?;
    match kept {
        Ok(Some(id)) => manifest.kept = Some(id),
        Ok(None) => out.debug("Partial parse: this parse cannot be kept as a snapshot"),
        Err(e) => out.debug(&format!("Partial parse: the snapshot was not written: {e}")),
    }
    Ok(manifest)
}

/// Compiles `only` (or every node) through the compile cache, which is kept when the parse
/// used the partial-parse cache (`--no-partial-parse` turns both off). The cache is saved
/// even when some node failed, so after a fix only what changed is compiled again.
pub(crate) fn compile_with_cache(
    g: &GlobalArgs,
    out: &Output,
    manifest: &mut Manifest,
    only: Option<&BTreeSet<String>>,
    database: Option<Arc<dyn crate::template::Database>>,
) -> Result<()> {
    let cache = match (&manifest.cache_key, g.no_partial_parse) {
        (Some(key), false) => Some(CompileCache::open(
            &manifest.project.target_dir(),
            key,
            Arc::new(env_lookup),
        )),
        _ => None,
    };
    let compiled = compile::compile(manifest, only, database, cache.as_ref());
    if let Some(cache) = cache {
        let nodes = &manifest.nodes;
        match cache.save(&|id| nodes.contains_key(id)) {
            Ok(used) => out.debug(&format!(
                "Compile cache: {} renders and {} analyses reused",
                used.renders, used.analyses
            )),
            Err(e) => out.debug(&format!("Compile cache: not written: {e}")),
        }
    }
    compiled
}

/// Writes `target/manifest.json`: as dbt does, every command that loads the project records it,
/// so tools and `--state` find the manifest of the last invocation. Commands call it after
/// selecting, since `--state` may name this very target directory.
pub(crate) fn record_manifest(manifest: &Manifest) -> Result<()> {
    artifacts::manifest::write_manifest(manifest).map(|_| ())
}

fn cmd_parse(g: &GlobalArgs, out: &Output) -> Result<i32> {
    let start = Instant::now();
    let manifest = parse_project(g, out, "parse")?;
    let path = artifacts::manifest::write_manifest(&manifest)?;
    out.info(&format!(
        "Parsed {} in {} ms; wrote {}",
        counts(&manifest),
        start.elapsed().as_millis(),
        display_rel(&manifest.project.root, &path)
    ));
    manifest.release();
    Ok(EXIT_OK)
}

fn cmd_compile(
    g: &GlobalArgs,
    out: &Output,
    select: &SelectArgs,
    inline: Option<&str>,
) -> Result<i32> {
    let start = Instant::now();
    let mut manifest = parse_project(g, out, "compile")?;
    if let Some(sql) = inline {
        let compiled = compile::render_operation(&manifest, sql, "inline query")
            .map_err(crate::error::Error::from)?;
        record_manifest(&manifest)?;
        out.data(compiled.trim_end());
        return Ok(EXIT_OK);
    }
    let types = [
        ResourceType::Model,
        ResourceType::Snapshot,
        ResourceType::Test,
        ResourceType::Analysis,
    ];
    let selected = select_nodes(&manifest, select, &types, out)?;
    compile_with_cache(g, out, &mut manifest, Some(&selected), None)?;
    let written = artifacts::manifest::write_compiled(&manifest)?;
    artifacts::manifest::write_manifest(&manifest)?;
    out.info(&format!(
        "Compiled {written} nodes in {} ms into {}",
        start.elapsed().as_millis(),
        display_rel(
            &manifest.project.root,
            &manifest.project.target_dir().join("compiled")
        )
    ));
    // One node asked for (its tests come along): print its SQL, as `dbt compile -s` does.
    if !select.select.is_empty() || select.selector.is_some() {
        let is_test = |id: &String| {
            manifest
                .nodes
                .get(id)
                .is_some_and(|mn| mn.node.resource_type == ResourceType::Test)
        };
        let main: Vec<&String> = selected.iter().filter(|id| !is_test(id)).collect();
        let shown = match main.as_slice() {
            [one] => Some(*one),
            [] if selected.len() == 1 => selected.iter().next(),
            _ => None,
        };
        if let Some(sql) = shown.and_then(|id| manifest.nodes.get(id)?.compiled_sql.as_ref()) {
            out.data(sql.trim_end());
        }
    }
    manifest.release();
    Ok(EXIT_OK)
}

fn cmd_ls(
    g: &GlobalArgs,
    out: &Output,
    select: &SelectArgs,
    types: &[ResourceType],
    output: ListOutput,
    output_keys: &[String],
) -> Result<i32> {
    let manifest = parse_project(g, out, "list")?;
    let selected = select_nodes(&manifest, select, types, out)?;
    record_manifest(&manifest)?;
    let mut lines = Vec::new();
    for id in &selected {
        let Some(node) = manifest.dag().node(id) else {
            continue;
        };
        let line = match output {
            ListOutput::Name => node.name.clone(),
            ListOutput::Path => node.original_file_path.clone(),
            ListOutput::Selector => match node.resource_type {
                ResourceType::Source => format!(
                    "source:{}.{}.{}",
                    node.package_name,
                    node.source_name.clone().unwrap_or_default(),
                    node.name
                ),
                ResourceType::UnitTest => format!("unit_test:{}.{}", node.package_name, node.name),
                _ => node.fqn.join("."),
            },
            ListOutput::Json => {
                let mn = manifest.nodes.get(id);
                let mut v = serde_json::json!({
                    "unique_id": node.unique_id,
                    "name": node.name,
                    "resource_type": node.resource_type.as_str(),
                    "package_name": node.package_name,
                    "original_file_path": node.original_file_path,
                    "alias": mn.map(|m| m.node.alias().to_string()),
                    "config": node.config,
                    "tags": node.config.tags(),
                    "depends_on": {"nodes": node.depends_on},
                });
                if !output_keys.is_empty()
                    && let Some(obj) = v.as_object_mut()
                {
                    obj.retain(|k, _| output_keys.iter().any(|o| o.trim() == k));
                }
                v.to_string()
            }
        };
        lines.push(line);
    }
    if output != ListOutput::Json {
        lines.sort();
    }
    for l in lines {
        out.data(&l);
    }
    manifest.release();
    Ok(EXIT_OK)
}

/// Applies `--select`/`--exclude` to the manifest's DAG.
fn select_nodes(
    manifest: &Manifest,
    select: &SelectArgs,
    types: &[ResourceType],
    out: &Output,
) -> Result<BTreeSet<String>> {
    let (selected, warnings) = select_with_warnings(manifest, select, types)?;
    let warnings: Vec<Diagnostic> = warnings
        .into_iter()
        .map(|w| Diagnostic::new(ErrorKind::Selector, w))
        .collect();
    escalate(out, &warnings, &|_| {
        "NoNodesForSelectionCriteria".to_string()
    })?;
    Ok(selected)
}

/// [`select_nodes`], handing back the selection's warnings instead of printing them.
fn select_with_warnings(
    manifest: &Manifest,
    select: &SelectArgs,
    types: &[ResourceType],
) -> Result<(BTreeSet<String>, Vec<String>)> {
    let selection = if select.select.is_empty() {
        None
    } else {
        Some(Selection::parse(&select.select)?)
    };
    let exclude = if select.exclude.is_empty() {
        None
    } else {
        Some(Selection::parse(&select.exclude)?)
    };
    let named = match &select.selector {
        Some(name) => Some(named_selector(manifest, name)?),
        // The selector marked `default: true` stands in for a missing selection, as in dbt.
        None if selection.is_none() && exclude.is_none() => {
            manifest.project.selectors.iter().find(|s| s.default)
        }
        None => None,
    };
    let expr = match named {
        Some(n) => Some(selector_expr(manifest, &n.definition, &mut Vec::new())?),
        None => None,
    };
    let state = match &select.state {
        Some(dir) => {
            let previous = artifacts::state::read_previous_manifest(dir)?;
            Some(artifacts::state::compare(manifest, &previous))
        }
        None => None,
    };
    // `result:<status>` reads the run_results.json next to the state manifest, or this
    // project's last run.
    let results_dir = select
        .state
        .clone()
        .unwrap_or_else(|| manifest.project.target_dir());
    let previous_results = read_previous_results(&results_dir);
    let result = graph::select(
        manifest.dag(),
        &SelectOptions {
            select: selection.as_ref(),
            exclude: exclude.as_ref(),
            expr: expr.as_ref(),
            resource_types: types,
            state: state.as_ref(),
            previous_results: previous_results.as_ref(),
            indirect_selection: match select.indirect_selection {
                args::IndirectSelectionArg::Eager => IndirectSelection::Eager,
                args::IndirectSelectionArg::Cautious => IndirectSelection::Cautious,
                args::IndirectSelectionArg::Buildable => IndirectSelection::Buildable,
                args::IndirectSelectionArg::Empty => IndirectSelection::Empty,
            },
        },
    )?;
    Ok((result.selected, result.warnings))
}

/// The `selectors.yml` entry called `name`.
fn named_selector<'m>(
    manifest: &'m Manifest,
    name: &str,
) -> Result<&'m project::selectors::NamedSelector> {
    let selectors = &manifest.project.selectors;
    if let Some(s) = selectors.iter().find(|s| s.name == name) {
        return Ok(s);
    }
    let hint = if selectors.is_empty() {
        "define it in selectors.yml at the project root: `selectors: [{name: ..., definition: ...}]`"
            .to_string()
    } else {
        let names: Vec<&str> = selectors.iter().map(|s| s.name.as_str()).collect();
        match names
            .iter()
            .map(|n| (strsim::jaro_winkler(name, n), n))
            .filter(|(score, _)| *score > 0.75)
            .max_by(|a, b| a.0.total_cmp(&b.0))
        {
            Some((_, n)) => format!(
                "did you mean `{n}`? selectors.yml defines {}",
                names.join(", ")
            ),
            None => format!("selectors.yml defines {}", names.join(", ")),
        }
    };
    Err(Diagnostic::new(
        ErrorKind::Selector,
        format!("there is no selector named `{name}`"),
    )
    .with_hint(hint)
    .into())
}

/// A `selectors.yml` definition as a set expression over `--select`-style selections.
fn selector_expr(
    manifest: &Manifest,
    def: &project::selectors::Definition,
    visiting: &mut Vec<String>,
) -> Result<graph::SelectExpr> {
    use graph::SelectExpr;
    use project::selectors::Definition;
    let all = |items: &[Definition], visiting: &mut Vec<String>| -> Result<Vec<SelectExpr>> {
        items
            .iter()
            .map(|d| selector_expr(manifest, d, visiting))
            .collect()
    };
    let minus = |keep: SelectExpr, drop: Vec<SelectExpr>| {
        if drop.is_empty() {
            keep
        } else {
            SelectExpr::Difference(Box::new(keep), Box::new(SelectExpr::Union(drop)))
        }
    };
    Ok(match def {
        Definition::Cli(text) => SelectExpr::Terms(Selection::parse(std::slice::from_ref(text))?),
        Definition::Union(keep, drop) => {
            let keep = SelectExpr::Union(all(keep, visiting)?);
            minus(keep, all(drop, visiting)?)
        }
        Definition::Intersection(keep, drop) => {
            let keep = SelectExpr::Intersection(all(keep, visiting)?);
            minus(keep, all(drop, visiting)?)
        }
        Definition::Selector(name) => {
            if visiting.contains(name) {
                visiting.push(name.clone());
                return Err(Diagnostic::new(
                    ErrorKind::Selector,
                    format!(
                        "selectors refer to each other in a loop: {}",
                        visiting.join(" -> ")
                    ),
                )
                .at(crate::error::Location::file(project::selectors::FILE))
                .with_hint("break the loop of `method: selector` references")
                .into());
            }
            visiting.push(name.clone());
            let inner = named_selector(manifest, name)?;
            let e = selector_expr(manifest, &inner.definition, visiting)?;
            visiting.pop();
            e
        }
    })
}

/// unique_id → status from a previous `run_results.json`, if there is one.
fn read_previous_results(dir: &Path) -> Option<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("run_results.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    Some(
        v.get("results")?
            .as_array()?
            .iter()
            .filter_map(|r| {
                Some((
                    r.get("unique_id")?.as_str()?.to_string(),
                    r.get("status")?.as_str()?.to_string(),
                ))
            })
            .collect(),
    )
}

fn cmd_debug(g: &GlobalArgs, out: &Output) -> Result<i32> {
    let s = settings(g)?;
    let project = load_project(&s)?;
    out.data(&format!("kiln version: {}", env!("CARGO_PKG_VERSION")));
    out.data(&format!(
        "project: {} ({})",
        project.name(),
        project.root.display()
    ));
    out.data(&format!("project file: {}", project.file.file_name));
    let target = load_target(g, out, &s, &project.root, &project.file)?;
    out.data(&format!("profile: {}", target.profile_name));
    out.data(&format!("target: {} ({})", target.name, target.origin));
    out.data(&format!(
        "adapter: {}",
        compile::dialect_of(target.adapter).adapter_type()
    ));
    out.data(&format!("schema: {}", target.schema));
    out.data(&format!("database: {}", target.database));
    out.data(&format!("threads: {}", target.threads));
    if let Some(dir) = &target.sqlite_dir {
        out.data(&format!(
            "database files: {}",
            display_rel(&project.root, dir)
        ));
    }
    for (k, v) in target.redacted_settings() {
        if matches!(k.as_str(), "type" | "schema" | "database" | "threads") {
            continue;
        }
        out.data(&format!("  {k}: {}", project::config::value_to_string(&v)));
    }
    // The connection check: connect, ask the server its version, disconnect.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorKind::Execution, e.to_string()))?;
    let version = rt.block_on(async {
        let adapter = crate::adapter::Adapter::connect(&target, &[]).await?;
        let v = adapter.server_version().await;
        adapter.close().await;
        v
    })?;
    out.data(&format!("connection: ok ({})", version.trim()));
    out.info("Project, profile and connection are valid.");
    Ok(EXIT_OK)
}

fn cmd_clean(g: &GlobalArgs, out: &Output) -> Result<i32> {
    let s = settings(g)?;
    let root = std::fs::canonicalize(&s.project_dir).map_err(|e| {
        Error::from(
            Diagnostic::new(
                ErrorKind::Project,
                format!(
                    "cannot open project directory {}: {e}",
                    s.project_dir.display()
                ),
            )
            .with_hint("pass an existing directory with --project-dir"),
        )
    })?;
    let path = project::project_file::find_project_file(&root)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {name}: {e}")))?;
    let file = project::project_file::parse_project_file(&name, &text, &s.vars, &env_lookup)?;
    for t in &file.clean_targets {
        let dir = root.join(t);
        // Never delete outside the project, whatever clean-targets says.
        let inside = dir
            .canonicalize()
            .map(|d| d.starts_with(&root) && d != root)
            .unwrap_or(false);
        if !dir.exists() {
            continue;
        }
        if !inside {
            out.warning(&Diagnostic::new(
                ErrorKind::Project,
                format!("not cleaning `{t}`: it is outside the project directory"),
            ));
            continue;
        }
        std::fs::remove_dir_all(&dir).map_err(|e| {
            Error::from(
                Diagnostic::new(ErrorKind::Io, format!("cannot delete {t}: {e}"))
                    .with_hint("check permissions"),
            )
        })?;
        out.info(&format!("Deleted {t}/"));
    }
    Ok(EXIT_OK)
}

pub(crate) fn counts(manifest: &Manifest) -> String {
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for mn in manifest.nodes.values() {
        *by_type.entry(mn.node.resource_type.as_str()).or_default() += 1;
    }
    let mut parts = Vec::new();
    for (rt, plural) in [
        ("model", "models"),
        ("seed", "seeds"),
        ("snapshot", "snapshots"),
        ("test", "data tests"),
        ("analysis", "analyses"),
    ] {
        let n = by_type.get(rt).copied().unwrap_or(0);
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { rt } else { plural }));
        }
    }
    let units = manifest.project.unit_tests.len();
    if units > 0 {
        parts.push(format!(
            "{units} {}",
            if units == 1 {
                "unit test"
            } else {
                "unit tests"
            }
        ));
    }
    let sources = manifest.project.sources.len();
    if sources > 0 {
        parts.push(format!(
            "{sources} {}",
            if sources == 1 { "source" } else { "sources" }
        ));
    }
    let macros = manifest.project.macros.len();
    if macros > 0 {
        parts.push(format!(
            "{macros} {}",
            if macros == 1 { "macro" } else { "macros" }
        ));
    }
    if parts.is_empty() {
        "an empty project".to_string()
    } else {
        parts.join(", ")
    }
}

fn display_rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}
