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

    /// Console log format: text lines, debug lines (with time, level and thread), or one dbt
    /// JSON event per line [default: text; env: KILN_LOG_FORMAT or DBT_LOG_FORMAT]
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "FORMAT",
        env = "KILN_LOG_FORMAT"
    )]
    pub log_format: Option<LogFormat>,

    /// Log file format [default: debug, or json with --log-format json; env:
    /// KILN_LOG_FORMAT_FILE or DBT_LOG_FORMAT_FILE]
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "FORMAT",
        env = "KILN_LOG_FORMAT_FILE"
    )]
    pub log_format_file: Option<LogFormat>,

    /// The least severe events printed on the console [default: info; env: KILN_LOG_LEVEL or
    /// DBT_LOG_LEVEL]
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "LEVEL",
        env = "KILN_LOG_LEVEL"
    )]
    pub log_level: Option<LogLevel>,

    /// The least severe events written to the log file [default: debug; env:
    /// KILN_LOG_LEVEL_FILE or DBT_LOG_LEVEL_FILE]
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "LEVEL",
        env = "KILN_LOG_LEVEL_FILE"
    )]
    pub log_level_file: Option<LogLevel>,

    /// Directory of the log file, kiln.log [default: logs/ in the project; env: KILN_LOG_PATH
    /// or DBT_LOG_PATH]
    #[arg(long, global = true, value_name = "DIR", env = "KILN_LOG_PATH")]
    pub log_path: Option<PathBuf>,

    /// Show debug events on the console, among them the SQL each node runs (env: KILN_DEBUG or
    /// DBT_DEBUG)
    #[arg(short = 'd', long, global = true, env = "KILN_DEBUG")]
    pub debug: bool,

    /// Render every node while parsing instead of reusing what the last parse kept in
    /// <target-path>/kiln_partial_parse.json (which is used only where nothing a render read has
    /// changed) [env: KILN_NO_PARTIAL_PARSE]
    #[arg(long, global = true, env = "KILN_NO_PARTIAL_PARSE", hide_env = true)]
    pub no_partial_parse: bool,

    /// Colour the console output even when it is not a terminal (CLICOLOR_FORCE=1 does too)
    #[arg(long, global = true, overrides_with = "no_use_colors")]
    pub use_colors: bool,

    /// Never colour the console output (NO_COLOR=1 does too)
    #[arg(
        long,
        global = true,
        visible_alias = "no-color",
        overrides_with = "use_colors"
    )]
    pub no_use_colors: bool,

    /// Print only errors and the final summary
    #[arg(short, long, global = true, env = "KILN_QUIET")]
    pub quiet: bool,

    /// Directory for compiled SQL and artifacts, instead of the project's `target-path`
    #[arg(long, global = true, value_name = "DIR", env = "DBT_TARGET_PATH")]
    pub target_path: Option<PathBuf>,

    /// Treat warnings as errors: a warning ends the command with exit code 2, a test that
    /// warns fails
    #[arg(long, global = true)]
    pub warn_error: bool,

    /// Which warnings are errors, by dbt event name, as YAML or JSON:
    /// '{"include": "all", "exclude": ["NoNodesForSelectionCriteria"]}'
    #[arg(long, global = true, value_name = "YAML")]
    pub warn_error_options: Option<String>,
}

/// How log lines are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (`default` is another name for it, as in dbt).
    #[value(alias = "default")]
    Text,
    /// Human-readable lines with the time, level and thread of each event.
    Debug,
    /// One dbt-shaped JSON event per line.
    Json,
}

/// `--log-level` values: the least severe events shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything, the SQL of each node included.
    Debug,
    /// Progress and summaries, warnings, errors.
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors only.
    Error,
    /// Nothing.
    None,
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

    /// A named selector from selectors.yml (instead of --select and --exclude)
    #[arg(long, value_name = "NAME", conflicts_with_all = ["select", "exclude"])]
    pub selector: Option<String>,
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
    #[value(alias = "unit_test")]
    UnitTest,
    /// Everything.
    All,
}

/// Kiln's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new project with a seed, two models, tests and a profile for the embedded database
    #[command(after_help = "Example:
  kiln init shop && cd shop && kiln build")]
    Init {
        /// Name of the project (and of the directory to create)
        name: String,
    },
    /// Show the project, profile and target Kiln would use, and check the connection
    #[command(after_help = "Example:
  kiln debug --target prod        is the prod target reachable, with which settings")]
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
    #[command(after_help = "Examples:
  kiln deps               install what packages.yml lists, as locked
  kiln deps --upgrade     resolve every package again and rewrite package-lock.yml")]
    Deps {
        /// Resolve every package again, ignoring package-lock.yml, and rewrite the lock
        #[arg(long)]
        upgrade: bool,
        /// Only resolve the packages and write package-lock.yml; install nothing
        #[arg(long)]
        lock: bool,
    },
    /// Load and render the whole project, check it, and write target/manifest.json
    #[command(after_help = "Example:
  kiln parse && jq '.nodes | keys' target/manifest.json")]
    Parse,
    /// Compile selected nodes to SQL under target/compiled/ and write target/manifest.json
    ///
    /// With one selected node, or --inline, the compiled SQL is also printed.
    #[command(after_help = "Examples:
  kiln compile                                       every node, into target/compiled/
  kiln compile -s orders                             prints the compiled SQL of orders
  kiln compile --inline \"select * from {{ ref('orders') }}\"")]
    Compile {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
        /// Compile this SQL (Jinja allowed) instead of the project's nodes, and print it
        #[arg(long, value_name = "SQL", conflicts_with = "select")]
        inline: Option<String>,
    },
    /// List resources in the project
    #[command(
        visible_alias = "list",
        after_help = "Examples:
  kiln ls -s +orders                       everything upstream of orders, and orders
  kiln ls --resource-type model -o path    the files of every model
  kiln ls -s tag:daily -o json --output-keys unique_id,config"
    )]
    Ls {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
        /// Only these resource types (repeatable)
        #[arg(long = "resource-type", alias = "resource-types", value_enum, num_args = 1..)]
        resource_type: Vec<ResourceTypeArg>,
        /// Leave out these resource types (repeatable)
        #[arg(long = "exclude-resource-type", value_enum, num_args = 1..)]
        exclude_resource_type: Vec<ResourceTypeArg>,
        /// Output format
        #[arg(short = 'o', long, value_enum, default_value_t = ListOutput::Selector)]
        output: ListOutput,
        /// With `-o json`, only these keys of each node (comma-separated or repeated)
        #[arg(long, value_delimiter = ',', num_args = 1.., value_name = "KEY")]
        output_keys: Vec<String>,
    },
    /// Delete the directories listed in `clean-targets` (by default target/)
    #[command(after_help = "Example:
  kiln clean && kiln build        start from nothing")]
    Clean,
    /// Build selected models in the database (views, tables, incremental models)
    #[command(after_help = "Examples:
  kiln run -s stg_orders+          a model and everything downstream of it
  kiln run -s tag:daily -f         rebuild incremental models from scratch
  kiln run --empty                 check every model's SQL against the schema, on zero rows")]
    Run {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
        /// Execution flags.
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Run data tests (generic and singular) and unit tests on selected nodes
    #[command(after_help = "Examples:
  kiln test -s orders                          the data and unit tests of orders
  kiln test -s test_type:singular              only the .sql tests
  kiln test --resource-type unit_test          only unit tests, before anything is built
  kiln test --warn-error                       a warning test fails the run")]
    Test {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
        /// Execution flags.
        #[command(flatten)]
        exec: ExecArgs,
        /// Only these resource types: test, unit_test (repeatable)
        #[arg(long = "resource-type", alias = "resource-types", value_enum, num_args = 1..)]
        resource_type: Vec<ResourceTypeArg>,
        /// Leave out these resource types (repeatable)
        #[arg(long = "exclude-resource-type", value_enum, num_args = 1..)]
        exclude_resource_type: Vec<ResourceTypeArg>,
    },
    /// Load CSV seeds into tables
    #[command(after_help = "Example:
  kiln seed -s raw_orders -f       reload one seed from its file")]
    Seed {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
        /// Execution flags.
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Record changes of snapshot queries as slowly changing dimensions (type 2)
    #[command(after_help = "Example:
  kiln snapshot -s orders_snapshot")]
    Snapshot {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
        /// Execution flags.
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Seed, run, snapshot and test selected nodes in one graph order
    #[command(after_help = "Examples:
  kiln build                                    everything, in graph order
  kiln build -s state:modified+ --state prod/   slim CI: what changed and what depends on it
  kiln build -s orders --defer --state prod/    unbuilt parents are read from production
  kiln build --resource-type model test         no seeds or snapshots
  kiln build --no-wait                          exit 2 at once if another run is changing the target")]
    Build {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
        /// Execution flags.
        #[command(flatten)]
        exec: ExecArgs,
        /// Only these resource types (repeatable)
        #[arg(long = "resource-type", alias = "resource-types", value_enum, num_args = 1..)]
        resource_type: Vec<ResourceTypeArg>,
        /// Leave out these resource types (repeatable)
        #[arg(long = "exclude-resource-type", value_enum, num_args = 1..)]
        exclude_resource_type: Vec<ResourceTypeArg>,
    },
    /// Build the selection, then rebuild what each saved change touches, until Ctrl-C
    ///
    /// Every save re-reads the project and builds the changed nodes, their descendants and
    /// their tests (`state:modified+` against the last good build), with what errored or was
    /// skipped before. A broken edit prints its error, and the watch waits for the next save.
    /// With --docs, the docs site is written after each build and served, and an open page
    /// reloads itself.
    #[command(after_help = "Examples:
  kiln watch                       rebuild what each save changes
  kiln watch -s +orders            only within orders and its parents
  kiln watch --docs --port 8081    and serve the docs, reloaded after each build")]
    Watch {
        /// Selection.
        #[command(flatten)]
        select: SelectArgs,
        /// Execution flags.
        #[command(flatten)]
        exec: ExecArgs,
        /// Also write the docs site after each build and serve it (as `kiln docs serve`)
        #[arg(long)]
        docs: bool,
        /// Port of the docs server (0 picks a free one)
        #[arg(long, default_value_t = 8080, requires = "docs")]
        port: u16,
        /// Address of the docs server
        #[arg(long, default_value = "127.0.0.1", requires = "docs")]
        host: String,
    },
    /// Re-run what errored, failed or was skipped in the last run
    ///
    /// Reads target/run_results.json (or the one in --state), and runs the same command again
    /// on the nodes whose status was error, fail or skipped, with the same --full-refresh,
    /// --store-failures and threads.
    #[command(after_help = "Example:
  kiln build || kiln retry        fix the broken model, then run only what did not succeed")]
    Retry {
        /// Directory holding the run_results.json to retry [default: the target path]
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
    },
    /// Create each selected model, seed and snapshot in the target as a clone of its relation in
    /// --state (a view over it; a copy on SQLite), so a dev or CI schema starts from production
    ///
    /// A relation that already exists in the target is left alone unless --full-refresh.
    #[command(after_help = "Example:
  kiln clone --state prod-artifacts/ -s +orders")]
    Clone {
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
    #[command(after_help = "Example:
  kiln source freshness -s source:raw     is the loader of `raw` late?")]
    Source {
        /// What to do with sources.
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// Run a macro (a project's or a package's, e.g. `codegen.generate_source`) against the
    /// target database
    #[command(
        name = "run-operation",
        after_help = "Example:
  kiln run-operation grant_select --args '{role: reporter}'"
    )]
    RunOperation {
        /// The macro: `name` or `package.name`
        #[arg(value_name = "MACRO")]
        macro_name: String,
        /// Keyword arguments for the macro, as YAML or JSON: --args '{table_name: orders}'
        #[arg(long, value_name = "YAML")]
        args: Option<String>,
    },
    /// Run a model's query (or an inline query) and print the first rows
    #[command(after_help = "Examples:
  kiln show -s orders --limit 10
  kiln show --inline \"select count(*) from {{ ref('orders') }}\" -o json")]
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
    #[command(after_help = "Example:
  kiln source freshness -s source:raw     is the loader of `raw` late?")]
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
    #[arg(short = 'f', long)]
    pub full_refresh: bool,
    /// Build with every ref and source read as zero rows: checks the SQL and the schema without
    /// the data
    #[arg(long)]
    pub empty: bool,
    /// Read unselected parents from --state's relations where they are not built in the target
    #[arg(long)]
    pub defer: bool,
    /// With --defer, read unselected parents from --state even where the target has them
    #[arg(long, requires = "defer")]
    pub favor_state: bool,
    /// The artifacts to defer to, when they differ from --state
    #[arg(long = "defer-state", value_name = "DIR")]
    pub defer_state: Option<PathBuf>,
    /// Stop at the first node that errors or test that fails
    #[arg(short = 'x', long)]
    pub fail_fast: bool,
    /// Keep failing test rows in the `<schema>_kiln_test__audit` schema
    #[arg(long)]
    pub store_failures: bool,
    /// Fail at once (exit code 2) when another Kiln run is changing the same target, instead of
    /// waiting for it to finish
    #[arg(long)]
    pub no_wait: bool,
}

/// `kiln show --output` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowOutput {
    /// A text table.
    Table,
    /// A JSON array of row objects.
    Json,
}
