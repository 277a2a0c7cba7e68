//! Command-line glue: clap definitions ([`args`]), console output ([`output`]) and one small
//! function per command. Commands call the library stages; they hold no logic of their own.

pub mod args;
mod deps;
mod docs;
mod init;
pub mod output;
mod run;

use crate::artifacts;
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

/// Runs a parsed command line.
pub fn run(cli: Cli) -> i32 {
    let out = Output::new(&cli.global);
    let result = match &cli.command {
        Command::Init { name } => init::run(&out, name),
        Command::Debug => cmd_debug(&cli.global, &out),
        Command::Deps { upgrade, lock } => deps::cmd_deps(&cli.global, &out, *upgrade, *lock),
        Command::Parse => cmd_parse(&cli.global, &out),
        Command::Compile { select } => cmd_compile(&cli.global, &out, select),
        Command::Ls {
            select,
            resource_type,
            output,
        } => cmd_ls(&cli.global, &out, select, resource_type, *output),
        Command::Clean => cmd_clean(&cli.global, &out),
        Command::Run { select, exec } => {
            run::cmd_exec(&cli.global, &out, run::ExecCommand::Run, select, exec)
        }
        Command::Test { select, exec } => {
            run::cmd_exec(&cli.global, &out, run::ExecCommand::Test, select, exec)
        }
        Command::Seed { select, exec } => {
            run::cmd_exec(&cli.global, &out, run::ExecCommand::Seed, select, exec)
        }
        Command::Snapshot { select, exec } => {
            run::cmd_exec(&cli.global, &out, run::ExecCommand::Snapshot, select, exec)
        }
        Command::Build { select, exec } => {
            run::cmd_exec(&cli.global, &out, run::ExecCommand::Build, select, exec)
        }
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
}

fn settings(g: &GlobalArgs) -> Result<Settings> {
    let project_dir = g.project_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let vars = match &g.vars {
        None => BTreeMap::new(),
        Some(text) => parse_vars(text)?,
    };
    Ok(Settings { project_dir, vars })
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
    project::load(&LoadOptions {
        project_dir: &s.project_dir,
        cli_vars: s.vars.clone(),
        env: &env_lookup,
    })
}

fn load_target(
    g: &GlobalArgs,
    s: &Settings,
    project: &project::Project,
) -> Result<profiles::Target> {
    let profile = g
        .profile
        .clone()
        .or_else(|| project.file.profile.clone())
        .unwrap_or_else(|| project.name().to_string());
    let home = home_dir();
    let mut target = profiles::load_target(&profiles::ProfileOptions {
        project_dir: &project.root,
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
    Ok(target)
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// Loads, parses and plans the project.
pub(crate) fn parse_project(g: &GlobalArgs, out: &Output, which: &str) -> Result<Manifest> {
    let s = settings(g)?;
    let project = load_project(&s)?;
    let target = load_target(g, &s, &project)?;
    let manifest = compile::parse(
        project,
        target,
        &compile::ParseOptions {
            env: Arc::new(env_lookup),
            invocation: crate::template::Invocation {
                which: which.to_string(),
                ..Default::default()
            },
        },
    )?;
    for w in &manifest.warnings {
        out.warning(w);
    }
    Ok(manifest)
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
    Ok(EXIT_OK)
}

fn cmd_compile(g: &GlobalArgs, out: &Output, select: &SelectArgs) -> Result<i32> {
    let start = Instant::now();
    let mut manifest = parse_project(g, out, "compile")?;
    let types = [
        ResourceType::Model,
        ResourceType::Snapshot,
        ResourceType::Test,
        ResourceType::Analysis,
    ];
    let selected = select_nodes(&manifest, select, &types, out)?;
    compile::compile(&mut manifest, Some(&selected), None)?;
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
    Ok(EXIT_OK)
}

fn cmd_ls(
    g: &GlobalArgs,
    out: &Output,
    select: &SelectArgs,
    types: &[ResourceTypeArg],
    output: ListOutput,
) -> Result<i32> {
    let manifest = parse_project(g, out, "list")?;
    let types: Vec<ResourceType> = if types.is_empty() || types.contains(&ResourceTypeArg::All) {
        ResourceType::ALL.to_vec()
    } else {
        types
            .iter()
            .map(|t| match t {
                ResourceTypeArg::Model => ResourceType::Model,
                ResourceTypeArg::Seed => ResourceType::Seed,
                ResourceTypeArg::Snapshot => ResourceType::Snapshot,
                ResourceTypeArg::Test => ResourceType::Test,
                ResourceTypeArg::Source => ResourceType::Source,
                ResourceTypeArg::Analysis => ResourceType::Analysis,
                ResourceTypeArg::UnitTest => ResourceType::UnitTest,
                ResourceTypeArg::All => ResourceType::Model,
            })
            .collect()
    };
    let selected = select_nodes(&manifest, select, &types, out)?;
    record_manifest(&manifest)?;
    let mut lines = Vec::new();
    for id in &selected {
        let Some(node) = manifest.dag.node(id) else {
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
                _ => node.fqn.join("."),
            },
            ListOutput::Json => {
                let mn = manifest.nodes.get(id);
                serde_json::json!({
                    "unique_id": node.unique_id,
                    "name": node.name,
                    "resource_type": node.resource_type.as_str(),
                    "package_name": node.package_name,
                    "original_file_path": node.original_file_path,
                    "alias": mn.map(|m| m.node.alias().to_string()),
                    "config": node.config,
                    "tags": node.config.tags(),
                    "depends_on": {"nodes": node.depends_on},
                })
                .to_string()
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
    for w in warnings {
        out.warning(&Diagnostic::new(ErrorKind::Selector, w));
    }
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
        &manifest.dag,
        &SelectOptions {
            select: selection.as_ref(),
            exclude: exclude.as_ref(),
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
    let target = load_target(g, &s, &project)?;
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

fn counts(manifest: &Manifest) -> String {
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
