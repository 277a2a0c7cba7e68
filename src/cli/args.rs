//! Raw command-line flags (clap). [`super::settings`] resolves them into settings.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Kiln: a fast, dbt-compatible SQL model materializer.
///
/// Kiln reads a project of Jinja-templated SQL models with YAML properties (the dbt project
/// format), builds the dependency graph, and compiles every model to SQL.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts, before or after the command name.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Directory holding project.yml or dbt_project.yml [default: current directory]
    #[arg(long, global = true, value_name = "DIR", env = "KILN_PROJECT_DIR")]
    pub project_dir: Option<PathBuf>,

    /// Directory holding profiles.yml [default: project dir, then ~/.kiln, then ~/.dbt]
    #[arg(long, global = true, value_name = "DIR", env = "KILN_PROFILES_DIR")]
    pub profiles_dir: Option<PathBuf>,

    /// Profile to use instead of the project file's `profile:`
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Target (output) in the profile [default: the profile's `target:`]
    #[arg(short = 't', long, global = true, value_name = "NAME")]
    pub target: Option<String>,

    /// Variables for var(), as YAML or JSON: --vars '{key: value}'
    #[arg(long, global = true, value_name = "YAML")]
    pub vars: Option<String>,

    /// Number of models built in parallel [default: the target's `threads`]
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,

    /// Log format: human-readable text, or one JSON event per line
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Never use colour (also honoured: the NO_COLOR environment variable)
    #[arg(long, global = true)]
    pub no_color: bool,

    /// Print only errors and the final summary
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// How log lines are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Node selection flags shared by commands that work on a subset of the project.
#[derive(Debug, Args, Clone, Default)]
pub struct SelectArgs {
    /// Select nodes: names, wildcards, +/n+/@ graph operators, tag:, path:, config.KEY:,
    /// resource_type:, source:, test_type:, state:modified|new, result:STATUS. Space = union,
    /// comma = intersection.
    #[arg(short = 's', long = "select", visible_alias = "models", short_alias = 'm', num_args = 1.., value_name = "SELECTOR")]
    pub select: Vec<String>,

    /// Remove nodes from the selection (same syntax as --select)
    #[arg(long, num_args = 1.., value_name = "SELECTOR")]
    pub exclude: Vec<String>,

    /// Directory with a previous run's manifest.json, for state: selectors
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,

    /// Which tests come along with selected models
    #[arg(long, value_enum, default_value_t = IndirectSelectionArg::Eager)]
    pub indirect_selection: IndirectSelectionArg,
}

/// `--indirect-selection` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum IndirectSelectionArg {
    /// A test is selected when any model it tests is selected (dbt's default).
    #[default]
    Eager,
    /// A test is selected only when every model it tests is selected.
    Cautious,
    /// Like cautious, but also when the other tested models are ancestors of the selection.
    Buildable,
    /// Tests are selected only explicitly.
    Empty,
}

/// `kiln ls --output` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListOutput {
    /// Selector-style names (`project.folder.model`, `source:src.table`).
    Selector,
    /// Node names.
    Name,
    /// File paths relative to the project.
    Path,
    /// One JSON object per node.
    Json,
}

/// Resource types accepted by `--resource-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResourceTypeArg {
    /// Models.
    Model,
    /// Seeds.
    Seed,
    /// Snapshots.
    Snapshot,
    /// Data tests.
    Test,
    /// Sources.
    Source,
    /// Analyses.
    Analysis,
    /// Unit tests.
    UnitTest,
    /// Everything.
    All,
}

/// Kiln's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new project with a seed, two models, tests and a profile for the embedded database
    Init {
        /// Name of the project (and of the directory to create)
        name: String,
    },
    /// Show the project, profile and target Kiln would use
    Debug,
    /// Install the packages listed in packages.yml (or dependencies.yml) and pin them in
    /// package-lock.yml
    ///
    /// Packages come from the dbt package hub (`package: dbt-labs/dbt_utils` with a `version:`
    /// or a range), from git (`git: <url>` with an optional `revision:` and `subdirectory:`) or
    /// from a local folder (`local: ../my_package`, installed as a symlink). Their own
    /// dependencies are installed too. Each package goes into `packages-install-path` (default
    /// dbt_packages/) under its project name; packages no longer listed are removed.
    ///
    /// When package-lock.yml matches the package list, exactly the locked versions and commits
    /// are installed. Otherwise the packages are resolved again and the lock is rewritten.
    /// A failed run leaves the previous install and lock untouched.
    ///
    /// The hub is https://hub.getdbt.com/ unless KILN_PACKAGE_HUB_URL or DBT_PACKAGE_HUB_URL
    /// names another.
    Deps {
        /// Resolve every package again, ignoring package-lock.yml, and rewrite the lock
        #[arg(long)]
        upgrade: bool,
        /// Only resolve the packages and write package-lock.yml; install nothing
        #[arg(long)]
        lock: bool,
    },
    /// Load and render the whole project, check it, and write target/manifest.json
    Parse,
    /// Compile selected nodes to SQL under target/compiled/ and write target/manifest.json
    Compile {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
    },
    /// List resources in the project
    #[command(visible_alias = "list")]
    Ls {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
        /// Only these resource types (repeatable)
        #[arg(long = "resource-type", alias = "resource-types", value_enum, num_args = 1..)]
        resource_type: Vec<ResourceTypeArg>,
        /// Output format
        #[arg(short = 'o', long, value_enum, default_value_t = ListOutput::Selector)]
        output: ListOutput,
    },
    /// Delete the directories listed in `clean-targets` (by default target/)
    Clean,
    /// Build selected models in the database (views, tables, incremental models)
    Run {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
        /// Execution flags.
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Run data tests (generic and singular) on selected nodes
    Test {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
        /// Execution flags.
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Load CSV seeds into tables
    Seed {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
        /// Execution flags.
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Record changes of snapshot queries as slowly changing dimensions (type 2)
    Snapshot {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
        /// Execution flags.
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Seed, run, snapshot and test selected nodes in one graph order
    Build {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
        /// Execution flags.
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Generate the documentation site (`kiln docs generate`) and serve it (`kiln docs serve`)
    Docs {
        /// What to do with the docs.
        #[command(subcommand)]
        command: DocsCommand,
    },
    /// Commands about sources (`kiln source freshness`)
    Source {
        /// What to do with sources.
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// Run a macro (a project's or a package's, e.g. `codegen.generate_source`) against the
    /// target database
    #[command(name = "run-operation")]
    RunOperation {
        /// The macro: `name` or `package.name`
        #[arg(value_name = "MACRO")]
        macro_name: String,
        /// Keyword arguments for the macro, as YAML or JSON: --args '{table_name: orders}'
        #[arg(long, value_name = "YAML")]
        args: Option<String>,
    },
    /// Run a model's query (or an inline query) and print the first rows
    Show {
        /// Selection: the node to show.
        #[command(flatten)]
        select: SelectArgs,
        /// A query to run instead of a model (Jinja allowed: `select * from {{ ref('orders') }}`)
        #[arg(long, value_name = "SQL", conflicts_with = "select")]
        inline: Option<String>,
        /// Number of rows to print
        #[arg(long, default_value_t = 5, value_name = "N")]
        limit: u64,
        /// Output format
        #[arg(short = 'o', long, value_enum, default_value_t = ShowOutput::Table)]
        output: ShowOutput,
    },
}

/// `kiln docs` subcommands.
#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// Compile the project, read the catalog from the warehouse, and write the docs site
    ///
    /// Writes target/catalog.json (columns, types and row counts of every relation the project
    /// builds or reads, one query per schema), target/manifest.json, and the site:
    /// target/index.html with its data and assets in target/docs/. Everything the page needs
    /// is in those files: no network at all. The run timeline comes from the last
    /// target/run_results.json.
    ///
    /// Example: kiln docs generate && kiln docs serve --open
    Generate {
        /// Also write target/static_index.html: the whole site in one file that works when
        /// opened from disk
        #[arg(long = "static")]
        static_page: bool,
        /// Do not query the warehouse: write an empty catalog (columns come from YAML and SQL)
        #[arg(long)]
        empty_catalog: bool,
    },
    /// Serve the generated docs site over HTTP (loopback only, unless --host says otherwise)
    ///
    /// Serves target/index.html and its files, and answers the page's selection filters with
    /// the same grammar as `kiln ls -s`. Run `kiln docs generate` first.
    ///
    /// Example: kiln docs serve --port 8081 --open
    Serve {
        /// Port to listen on (0 picks a free one)
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to listen on; 0.0.0.0 makes the site reachable from other machines
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Open the site in the default browser
        #[arg(long)]
        open: bool,
    },
}

/// `kiln source` subcommands.
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Check how long ago each source was loaded against its freshness rules; writes
    /// target/sources.json and exits 1 when a source is past `error_after`
    Freshness {
        /// Selection (e.g. `-s source:raw`); default: every source with freshness rules.
        #[command(flatten)]
        select: SelectArgs,
    },
}

/// Flags of commands that execute nodes.
#[derive(Debug, Args, Clone, Default)]
pub struct ExecArgs {
    /// Rebuild incremental models and snapshots' sources from scratch; reload seeds
    #[arg(long)]
    pub full_refresh: bool,
    /// Stop at the first node that errors or test that fails
    #[arg(short = 'x', long)]
    pub fail_fast: bool,
    /// Keep failing test rows in the `<schema>_kiln_test__audit` schema
    #[arg(long)]
    pub store_failures: bool,
}

/// `kiln show --output` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowOutput {
    /// A text table.
    Table,
    /// A JSON array of row objects.
    Json,
}
