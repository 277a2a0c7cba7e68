//! Console output and the log file. Every message is one of dbt's log events
//! ([`crate::artifacts::events`]); this module decides where each one goes and how it reads.
//!
//! - The console gets events at `--log-level` (info; debug with `--debug`) as text lines
//!   (`12:00:01  1 of 3 OK created sql view model main.orders .... [CREATE VIEW in 0.01s]`),
//!   debug lines, or one JSON object per line (`--log-format json`). It is stdout, as in dbt,
//!   except for commands whose stdout is their data (`ls`, `show`, `compile`, `debug`), whose log
//!   goes to stderr so the data can be piped.
//! - Errors that end a command, and warnings, read as diagnostics (file, line, caret, hint) on
//!   stderr in text mode, so they show even when stdout is redirected; in JSON mode they are
//!   events in the stream like everything else.
//! - The log file (`logs/kiln.log`) gets every event at `--log-level-file` (debug), in dbt's
//!   debug text format or JSON, with secrets of the profile blanked out.
//! - Colours (anstream/anstyle) follow `--use-colors`/`--no-use-colors`, then `NO_COLOR` and
//!   `CLICOLOR_FORCE`, then whether the stream is a terminal. The progress bar (indicatif) is
//!   drawn only on a terminal.

use super::args::{GlobalArgs, LogFormat, LogLevel};
use crate::artifacts::events::{self, Event, Level, Tint};
use crate::compile::{Manifest, ManifestNode};
use crate::error::{Diagnostic, Error};
use crate::exec::{NodeResult, RunResults, Status};
use crate::template::QueryTable;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The log file's name under the log path (dbt writes `dbt.log`).
pub const LOG_FILE: &str = "kiln.log";

/// A log file past this size is rotated to `kiln.log.1` (up to five old files), as dbt does.
const ROTATE_BYTES: u64 = 10 * 1024 * 1024;

/// Whether to colour the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR says otherwise (or CLICOLOR_FORCE forces it).
    Auto,
    /// Always (`--use-colors`).
    Always,
    /// Never (`--no-use-colors`, `--no-color`).
    Never,
}

/// Logging settings resolved from flags, `KILN_*` variables (through clap) and dbt's `DBT_*`
/// variables.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// Console format.
    pub format: LogFormat,
    /// Log file format.
    pub format_file: LogFormat,
    /// Least severe console events; None prints nothing.
    pub level: Option<Level>,
    /// Least severe log file events; None writes no file.
    pub level_file: Option<Level>,
    /// `--log-path`, when given.
    pub path: Option<PathBuf>,
    /// Colours.
    pub color: ColorChoice,
    /// `--quiet`: only errors and the final line.
    pub quiet: bool,
    /// `--debug`.
    pub debug: bool,
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

fn parse_format(v: &str) -> Option<LogFormat> {
    match v.trim().to_ascii_lowercase().as_str() {
        "text" | "default" => Some(LogFormat::Text),
        "debug" => Some(LogFormat::Debug),
        "json" => Some(LogFormat::Json),
        _ => None,
    }
}

fn parse_level(v: &str) -> Option<LogLevel> {
    match v.trim().to_ascii_lowercase().as_str() {
        "debug" => Some(LogLevel::Debug),
        "info" => Some(LogLevel::Info),
        "warn" | "warning" => Some(LogLevel::Warn),
        "error" => Some(LogLevel::Error),
        "none" => Some(LogLevel::None),
        _ => None,
    }
}

fn level_of(l: LogLevel) -> Option<Level> {
    match l {
        LogLevel::Debug => Some(Level::Debug),
        LogLevel::Info => Some(Level::Info),
        LogLevel::Warn => Some(Level::Warn),
        LogLevel::Error => Some(Level::Error),
        LogLevel::None => None,
    }
}

impl LogSettings {
    /// Settings from the command line, falling back to dbt's environment variables.
    pub fn resolve(g: &GlobalArgs, env: &dyn Fn(&str) -> Option<String>) -> LogSettings {
        let dbt = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let format = g
            .log_format
            .or_else(|| dbt("DBT_LOG_FORMAT").and_then(|v| parse_format(&v)))
            .unwrap_or(LogFormat::Text);
        // dbt writes its file in JSON when the console is JSON, else in its debug format.
        let format_file = g
            .log_format_file
            .or_else(|| dbt("DBT_LOG_FORMAT_FILE").and_then(|v| parse_format(&v)))
            .unwrap_or(if format == LogFormat::Json {
                LogFormat::Json
            } else {
                LogFormat::Debug
            });
        let debug = g.debug || dbt("DBT_DEBUG").is_some_and(|v| truthy(&v));
        let level = if debug {
            Some(Level::Debug)
        } else {
            g.log_level
                .or_else(|| dbt("DBT_LOG_LEVEL").and_then(|v| parse_level(&v)))
                .map(level_of)
                .unwrap_or(Some(Level::Info))
        };
        let level_file = g
            .log_level_file
            .or_else(|| dbt("DBT_LOG_LEVEL_FILE").and_then(|v| parse_level(&v)))
            .map(level_of)
            .unwrap_or(Some(Level::Debug));
        let path = g
            .log_path
            .clone()
            .or_else(|| dbt("DBT_LOG_PATH").map(PathBuf::from));
        let color = if g.use_colors {
            ColorChoice::Always
        } else if g.no_use_colors {
            ColorChoice::Never
        } else {
            match dbt("KILN_USE_COLORS").or_else(|| dbt("DBT_USE_COLORS")) {
                Some(v) if truthy(&v) => ColorChoice::Always,
                Some(_) => ColorChoice::Never,
                None => ColorChoice::Auto,
            }
        };
        LogSettings {
            format,
            format_file,
            level,
            level_file,
            path,
            color,
            quiet: g.quiet || dbt("DBT_QUIET").is_some_and(|v| truthy(&v)),
            debug,
        }
    }
}

/// Where and how messages are printed.
#[derive(Clone)]
pub struct Output {
    inner: Arc<Inner>,
}

struct Inner {
    settings: LogSettings,
    invocation_id: String,
    pid: u32,
    /// The console log goes to stderr (commands whose stdout is data).
    to_stderr: AtomicBool,
    file: Mutex<Option<LogFile>>,
    bar: Mutex<Option<indicatif::ProgressBar>>,
    secrets: RwLock<Vec<String>>,
}

struct LogFile {
    file: std::fs::File,
    format: LogFormat,
    level: Level,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("settings", &self.inner.settings)
            .field("invocation_id", &self.inner.invocation_id)
            .finish()
    }
}

impl Output {
    /// Output for one invocation.
    pub fn new(settings: LogSettings, invocation_id: String) -> Output {
        Output {
            inner: Arc::new(Inner {
                settings,
                invocation_id,
                pid: std::process::id(),
                to_stderr: AtomicBool::new(false),
                file: Mutex::new(None),
                bar: Mutex::new(None),
                secrets: RwLock::new(Vec::new()),
            }),
        }
    }

    /// The invocation's id, as every event and artifact carries it.
    pub fn invocation_id(&self) -> &str {
        &self.inner.invocation_id
    }

    /// The resolved settings.
    pub fn settings(&self) -> &LogSettings {
        &self.inner.settings
    }

    /// Sends the console log to stderr, for commands whose stdout is their data.
    pub fn log_to_stderr(&self) {
        self.inner.to_stderr.store(true, Ordering::SeqCst);
    }

    /// Opens `dir/kiln.log` for appending (rotating a large one) and writes dbt's header line.
    /// A log file that cannot be opened is reported once and then left out.
    pub fn open_log_file(&self, dir: &Path) {
        let Some(level) = self.inner.settings.level_file else {
            return;
        };
        let path = dir.join(LOG_FILE);
        let opened = std::fs::create_dir_all(dir).and_then(|_| {
            rotate(&path);
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
        });
        let mut file = match opened {
            Ok(f) => f,
            Err(e) => {
                self.warning(&Diagnostic::new(
                    crate::error::ErrorKind::Io,
                    format!("cannot write the log file {}: {e}", path.display()),
                ));
                return;
            }
        };
        let format = self.inner.settings.format_file;
        if format != LogFormat::Json {
            let now = chrono::Utc::now().format("%H:%M:%S%.6f");
            let bar = "=".repeat(30);
            let _ = write!(
                file,
                "\n\n{bar} {now} | {} {bar}\n",
                self.inner.invocation_id
            );
        }
        if let Ok(mut f) = self.inner.file.lock() {
            *f = Some(LogFile {
                file,
                format,
                level,
            });
        }
    }

    /// Values never to print or write (the profile's passwords).
    pub fn add_secrets(&self, secrets: Vec<String>) {
        if let Ok(mut s) = self.inner.secrets.write() {
            s.extend(secrets.into_iter().filter(|x| !x.is_empty()));
            s.sort_by_key(|x| std::cmp::Reverse(x.len()));
            s.dedup();
        }
    }

    fn redact(&self, text: String) -> String {
        let Ok(secrets) = self.inner.secrets.read() else {
            return text;
        };
        let mut text = text;
        for s in secrets.iter() {
            if text.contains(s.as_str()) {
                text = text.replace(s.as_str(), "****");
            }
        }
        text
    }

    fn console_is_stderr(&self) -> bool {
        self.inner.to_stderr.load(Ordering::SeqCst)
    }

    fn console_format(&self) -> LogFormat {
        self.inner.settings.format
    }

    fn color(&self, stderr: bool) -> anstream::ColorChoice {
        match self.inner.settings.color {
            ColorChoice::Always => anstream::ColorChoice::Always,
            ColorChoice::Never => anstream::ColorChoice::Never,
            ColorChoice::Auto if stderr => anstream::AutoStream::choice(&std::io::stderr()),
            ColorChoice::Auto => anstream::AutoStream::choice(&std::io::stdout()),
        }
    }

    /// Writes one log line (which may hold ANSI styles; they are stripped when colour is off),
    /// with the profile's secrets blanked out.
    fn write_line(&self, text: &str, stderr: bool) {
        self.write_raw(&self.redact(text.to_string()), stderr);
    }

    /// Writes one line as it is.
    fn write_raw(&self, text: &str, stderr: bool) {
        let choice = self.color(stderr);
        let write = || {
            if stderr {
                let mut s = anstream::AutoStream::new(std::io::stderr().lock(), choice);
                let _ = writeln!(s, "{text}");
            } else {
                let mut s = anstream::AutoStream::new(std::io::stdout().lock(), choice);
                let _ = writeln!(s, "{text}");
            }
        };
        let bar = self.inner.bar.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(b) if !b.is_hidden() => b.suspend(write),
            _ => write(),
        }
    }

    fn to_file(&self, e: &Event) {
        let Ok(mut guard) = self.inner.file.lock() else {
            return;
        };
        let Some(f) = guard.as_mut() else {
            return;
        };
        if e.level < f.level {
            return;
        }
        let line = match f.format {
            LogFormat::Json => e.to_json_line(&self.inner.invocation_id, self.inner.pid),
            LogFormat::Debug => debug_line(e, &e.msg),
            LogFormat::Text => text_line(e, &e.msg),
        };
        let line = self.redact(line);
        let _ = writeln!(f.file, "{line}");
    }

    fn console_wants(&self, e: &Event) -> bool {
        let s = &self.inner.settings;
        let Some(min) = s.level else {
            return false;
        };
        if s.quiet {
            return e.level == Level::Error || e.name == "StatsLine";
        }
        e.level >= min
    }

    fn to_console(&self, e: &Event) {
        if !self.console_wants(e) {
            return;
        }
        let line = match self.console_format() {
            LogFormat::Json => e.to_json_line(&self.inner.invocation_id, self.inner.pid),
            LogFormat::Debug => debug_line(e, &paint(e)),
            LogFormat::Text => text_line(e, &paint(e)),
        };
        self.write_line(&line, self.console_is_stderr());
    }

    /// Records an event: in the log file and, at the console's level, on the console.
    pub fn emit(&self, e: Event) {
        self.to_file(&e);
        self.to_console(&e);
    }

    /// A progress or summary message (dbt's `Note`).
    pub fn info(&self, msg: &str) {
        self.emit(Event::note(Level::Info, msg));
    }

    /// A message for `--debug` and the log file.
    pub fn debug(&self, msg: &str) {
        self.emit(Event::note(Level::Debug, msg));
    }

    /// A warning: a diagnostic on stderr in text mode, the event in JSON mode and in the file.
    pub fn warning(&self, d: &Diagnostic) {
        self.warning_event(Event::warning(d), d);
    }

    /// A warning with its own dbt event (e.g. `NoNodesForSelectionCriteria`).
    pub fn warning_event(&self, e: Event, d: &Diagnostic) {
        self.to_file(&e);
        if self.console_format() == LogFormat::Json {
            self.to_console(&e);
            return;
        }
        if !self.console_wants(&e) {
            return;
        }
        let label = anstyle::AnsiColor::Yellow.on_default().bold();
        self.write_line(
            &format!("{}warning{}: {d}", label.render(), label.render_reset()),
            true,
        );
    }

    /// Prints every diagnostic of an error: with file, line, caret and hint on stderr in text
    /// mode; as `MainEncounteredError` events in JSON mode and in the log file.
    pub fn error(&self, e: &Error) {
        for d in e.diagnostics() {
            let ev = Event::main_encountered_error(d);
            self.to_file(&ev);
            if self.console_format() == LogFormat::Json {
                self.to_console(&ev);
            }
        }
        if self.console_format() == LogFormat::Json || self.inner.settings.level.is_none() {
            return;
        }
        let label = anstyle::AnsiColor::Red.on_default().bold();
        let mut text = String::new();
        for (i, d) in e.diagnostics().iter().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            let one = format!("{d:#}");
            match one.strip_prefix("error") {
                Some(rest) => text.push_str(&format!(
                    "{}error{}{rest}",
                    label.render(),
                    label.render_reset()
                )),
                None => text.push_str(&one),
            }
        }
        let n = e.diagnostics().len();
        if n > 1 {
            text.push_str(&format!("\n{n} errors found\n"));
        }
        self.write_line(text.trim_end_matches('\n'), true);
    }

    /// Prints command output (to stdout, always, in every format). It is the user's own data
    /// (rows, SQL, names), printed as it is.
    pub fn data(&self, line: &str) {
        self.write_raw(line, false);
    }

    /// Starts the progress bar for `total` nodes (text mode on a terminal only).
    pub fn start_progress(&self, total: usize) {
        if self.inner.bar.lock().map(|b| b.is_some()).unwrap_or(true) {
            return;
        }
        let s = &self.inner.settings;
        let stderr = self.console_is_stderr();
        let terminal = if stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        if s.format == LogFormat::Json || s.quiet || s.level.is_none() || !terminal || total == 0 {
            return;
        }
        let target = if stderr {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::stdout()
        };
        let bar = indicatif::ProgressBar::with_draw_target(Some(total as u64), target);
        let style =
            indicatif::ProgressStyle::with_template("[{bar:30}] {pos}/{len} nodes {elapsed}")
                .map(|st| st.progress_chars("=> "))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        if let Ok(mut b) = self.inner.bar.lock() {
            *b = Some(bar);
        }
    }

    fn progress_tick(&self) {
        if let Ok(b) = self.inner.bar.lock()
            && let Some(bar) = b.as_ref()
        {
            bar.inc(1);
        }
    }

    /// Removes the progress bar.
    pub fn finish_progress(&self) {
        let bar = self.inner.bar.lock().ok().and_then(|mut b| b.take());
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    }

    /// A node started: `NodeStart` and `LogStartLine`.
    pub fn node_started(
        &self,
        manifest: &Manifest,
        mn: &ManifestNode,
        (index, total): (usize, usize),
        worker: Option<usize>,
        description: &str,
    ) {
        let now = crate::artifacts::now();
        let info = events::node_info(manifest, mn, "started", &now, "");
        self.emit(Event::node_start(info.clone(), &mn.node.unique_id).on_worker(worker));
        self.emit(Event::log_start_line(index, total, description, info).on_worker(worker));
    }

    /// A node finished: the SQL it ran (`SQLQuery`, debug), its result line (`LogModelResult`,
    /// `LogTestResult`, ... or `SkippingDetails`) and `NodeFinished`.
    pub fn node_finished(
        &self,
        manifest: &Manifest,
        mn: &ManifestNode,
        (index, total): (usize, usize),
        r: &NodeResult,
        description: &str,
    ) {
        let worker = r.worker;
        let status = r.status.as_str();
        let info = events::node_info(manifest, mn, status, &r.started_at, &r.completed_at);
        if r.status == Status::Skipped {
            let started = events::node_info(manifest, mn, "started", &r.started_at, "");
            self.emit(Event::node_start(started, &r.unique_id).on_worker(worker));
        }
        for sql in &r.statements {
            self.emit(Event::sql_query(&r.unique_id, sql, Some(info.clone())).on_worker(worker));
        }
        if r.status != Status::Skipped && r.message.contains('(') {
            self.emit(Event::note(
                Level::Debug,
                format!("{}: {}", r.unique_id, r.message),
            ));
        }
        let adapter_status = crate::artifacts::run_results::statement_status(Some(mn), r)
            .map(|(m, _)| m)
            .unwrap_or_else(|| "OK".to_string());
        self.emit(
            Event::node_result(
                index,
                total,
                mn,
                r,
                description,
                &adapter_status,
                info.clone(),
            )
            .on_worker(worker),
        );
        let message = crate::artifacts::run_results::message(Some(mn), r);
        self.emit(Event::node_finished(info, r, message).on_worker(worker));
        self.progress_tick();
    }

    /// The end of a run, as dbt closes one: how long it took, the slowest nodes (text only),
    /// then every error, failure and warning with its file, compiled SQL and the database's
    /// own message, and the counts.
    pub fn summary(&self, manifest: &Manifest, results: &RunResults) {
        self.finish_progress();
        self.emit(Event::formatting());
        self.emit(Event::finished_running_stats(
            &stat_line(manifest, results),
            results.elapsed,
        ));
        if self.console_format() != LogFormat::Json
            && let Some(table) = slowest_table(manifest, results)
        {
            // One event per line keeps the table's columns aligned under the time prefix.
            for line in table.lines() {
                self.emit(Event::note(Level::Info, line));
            }
        }
        let errors: Vec<&NodeResult> = results
            .results
            .iter()
            .filter(|r| r.status.is_failure())
            .collect();
        let warnings: Vec<&NodeResult> = results
            .results
            .iter()
            .filter(|r| r.status == Status::Warn)
            .collect();
        self.emit(Event::formatting());
        // `interrupted` also means --fail-fast stopped the run, which an error explains.
        self.emit(Event::end_of_run_summary(
            errors.len(),
            warnings.len(),
            results.interrupted && errors.is_empty(),
        ));
        for r in errors.iter().chain(warnings.iter()) {
            let Some(mn) = manifest.result_node(&r.unique_id) else {
                continue;
            };
            self.recap_entry(manifest, &mn, r);
        }
        self.emit(Event::formatting());
        let count =
            |f: &dyn Fn(Status) -> bool| results.results.iter().filter(|r| f(r.status)).count();
        self.emit(Event::stats_line(
            count(&|s| matches!(s, Status::Success | Status::Pass)),
            count(&|s| s == Status::Warn),
            count(&|s| s.is_failure()),
            count(&|s| s == Status::Skipped),
            results.results.len(),
        ));
    }

    /// One entry of the recap: `Failure in model orders (models/orders.sql)`, what went wrong,
    /// and where the compiled SQL is.
    fn recap_entry(&self, manifest: &Manifest, mn: &ManifestNode, r: &NodeResult) {
        let warning = r.status == Status::Warn;
        let info = events::node_info(
            manifest,
            mn,
            r.status.as_str(),
            &r.started_at,
            &r.completed_at,
        );
        let compiled = compiled_path(manifest, mn, r);
        self.emit(Event::formatting());
        self.emit(Event::run_result_heading(mn, warning, info.clone()));
        let text = recap_text(mn, r, compiled.as_deref());
        self.emit(Event::run_result_message(
            &text,
            warning,
            r.error.as_ref(),
            info.clone(),
        ));
        if let Some(path) = compiled {
            self.emit(Event::formatting());
            self.emit(Event::sql_compiled_path(&path, info));
        }
    }

    /// The command's last event (debug): whether it succeeded and how long it took.
    pub fn finish(&self, command: &str, success: bool, elapsed: f64) {
        self.finish_progress();
        self.emit(Event::command_completed(command, success, elapsed));
    }

    /// Prints query rows for `kiln show` to stdout.
    pub fn show_table(&self, t: &QueryTable, output: super::args::ShowOutput) {
        match output {
            super::args::ShowOutput::Json => {
                let rows: Vec<serde_json::Value> = t
                    .rows
                    .iter()
                    .map(|r| {
                        let m: serde_json::Map<String, serde_json::Value> =
                            t.columns.iter().cloned().zip(r.iter().cloned()).collect();
                        serde_json::Value::Object(m)
                    })
                    .collect();
                self.data(&serde_json::Value::Array(rows).to_string());
            }
            super::args::ShowOutput::Table => {
                let mut b = tabled::builder::Builder::default();
                b.push_record(t.columns.clone());
                for r in &t.rows {
                    b.push_record(r.iter().map(|v| match v {
                        serde_json::Value::Null => "NULL".to_string(),
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    }));
                }
                let mut table = b.build();
                table.with(tabled::settings::Style::rounded());
                self.data(&table.to_string());
            }
        }
    }
}

/// Moves `kiln.log` to `kiln.log.1` (and older ones up to `.5`) once it is past the size limit.
fn rotate(path: &Path) {
    let big = std::fs::metadata(path).is_ok_and(|m| m.len() > ROTATE_BYTES);
    if !big {
        return;
    }
    let numbered = |n: usize| PathBuf::from(format!("{}.{n}", path.display()));
    let _ = std::fs::remove_file(numbered(5));
    for n in (1..5).rev() {
        let _ = std::fs::rename(numbered(n), numbered(n + 1));
    }
    let _ = std::fs::rename(path, numbered(1));
}

/// The message with its tinted parts styled.
fn paint(e: &Event) -> String {
    if e.tints.is_empty() {
        return e.msg.clone();
    }
    let mut tints = e.tints.clone();
    tints.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(e.msg.len() + 16);
    let mut at = 0;
    for (range, tint) in tints {
        if range.start < at
            || range.end > e.msg.len()
            || !e.msg.is_char_boundary(range.start)
            || !e.msg.is_char_boundary(range.end)
        {
            continue;
        }
        let style = match tint {
            Tint::Green => anstyle::AnsiColor::Green.on_default(),
            Tint::Yellow => anstyle::AnsiColor::Yellow.on_default(),
            Tint::Red => anstyle::AnsiColor::Red.on_default(),
        };
        out.push_str(&e.msg[at..range.start]);
        out.push_str(&format!(
            "{}{}{}",
            style.render(),
            &e.msg[range.clone()],
            style.render_reset()
        ));
        at = range.end;
    }
    out.push_str(&e.msg[at..]);
    out
}

/// dbt's console line: `12:00:01  message`.
fn text_line(e: &Event, msg: &str) -> String {
    format!("{}  {msg}", e.ts.format("%H:%M:%S"))
}

/// dbt's debug line (its log file's format): `12:00:01.123456 [info ] [MainThread]: message`.
fn debug_line(e: &Event, msg: &str) -> String {
    let thread: String = e.thread.chars().take(10).collect();
    format!(
        "{} [{:<5}] [{thread}]: {msg}",
        e.ts.format("%H:%M:%S%.6f"),
        e.level.as_str()
    )
}

/// dbt's `stat_line`: `1 seed, 1 table model, 3 data tests, 2 view models`.
fn stat_line(manifest: &Manifest, results: &RunResults) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &results.results {
        let Some(mn) = manifest.result_node(&r.unique_id) else {
            continue;
        };
        let key = match mn.node.resource_type {
            crate::project::ResourceType::Model => format!("{} model", mn.materialized()),
            other => other.as_str().to_string(),
        };
        *counts.entry(key).or_default() += 1;
    }
    if counts.is_empty() {
        return "0 nodes".to_string();
    }
    counts
        .iter()
        .map(|(k, n)| {
            let word = match k.as_str() {
                "test" => "data test",
                "unit_test" => "unit test",
                k => k,
            };
            if *n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The five slowest nodes as a small table, when more than one ran.
fn slowest_table(manifest: &Manifest, results: &RunResults) -> Option<String> {
    let mut slow: Vec<&NodeResult> = results
        .results
        .iter()
        .filter(|r| r.status != Status::Skipped)
        .collect();
    if slow.len() < 2 {
        return None;
    }
    slow.sort_by(|a, b| b.execution_time.total_cmp(&a.execution_time));
    let mut table = tabled::builder::Builder::default();
    table.push_record(["slowest", "status", "time"]);
    for r in slow.iter().take(5) {
        let name = manifest
            .result_node(&r.unique_id)
            .map(|m| m.node.name.clone())
            .unwrap_or(r.unique_id.clone());
        table.push_record([
            name,
            r.status.as_str().to_string(),
            duration(r.execution_time),
        ]);
    }
    let mut t = table.build();
    t.with(tabled::settings::Style::rounded());
    Some(t.to_string())
}

/// Where the node's compiled SQL was written, relative to the project (`target/compiled/...`).
fn compiled_path(manifest: &Manifest, mn: &ManifestNode, r: &NodeResult) -> Option<String> {
    r.compiled_code.as_ref()?;
    if mn.node.resource_type == crate::project::ResourceType::Seed {
        return None;
    }
    let path = manifest
        .project
        .target_dir()
        .join(crate::artifacts::manifest::compiled_rel_path(manifest, mn));
    Some(
        path.strip_prefix(&manifest.project.root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.display().to_string()),
    )
}

/// What went wrong, in the recap: dbt's `Database Error in model x (file)` and the database's
/// message, then Kiln's pointer into the model (`--> models/x.sql:7:3` with the line quoted),
/// PostgreSQL's DETAIL and HINT, and the line in the compiled SQL. Failing tests give dbt's
/// `Got N results, configured to fail if != 0`.
fn recap_text(mn: &ManifestNode, r: &NodeResult, compiled: Option<&str>) -> String {
    if matches!(r.status, Status::Fail | Status::Warn) {
        return crate::artifacts::run_results::message(Some(mn), r)
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| r.message.clone());
    }
    let Some(d) = &r.error else {
        return r.message.clone();
    };
    let full = crate::artifacts::run_results::error_message(Some(mn), r);
    let head = full.lines().next().unwrap_or_default().to_string();
    let mut body: Vec<String> = d.message.lines().map(str::to_string).collect();
    // The location block of the diagnostic: `--> file:line:col`, the quoted line and a caret.
    let located = Diagnostic {
        hint: None,
        database: None,
        ..d.clone()
    };
    if located.location.is_some() {
        // Skip the message's own lines: it may span several (a table of what differs).
        let skip = d.message.lines().count().max(1);
        body.extend(
            format!("{located:#}")
                .lines()
                .skip(skip)
                .map(str::to_string),
        );
    }
    let db = d.database.as_deref();
    if let Some(detail) = db.and_then(|m| m.detail.as_ref()) {
        body.push(format!("DETAIL:  {detail}"));
    }
    if let Some(hint) = db.and_then(|m| m.hint.as_ref()) {
        body.push(format!("HINT:  {hint}"));
    }
    let mapped = db.and_then(|m| m.compiled_at);
    match (mapped, compiled) {
        (Some((line, col)), Some(path)) => {
            body.push(format!("compiled code at {path}:{line}:{col}"))
        }
        _ => {
            if let Some(h) = &d.hint {
                body.push(format!("= help: {h}"));
            }
        }
    }
    let mut text = head;
    for line in body {
        text.push_str("\n  ");
        text.push_str(&line);
    }
    text
}

/// `12ms` below a second, `1.23s` above.
fn duration(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{}ms", (seconds * 1000.0).round() as u64)
    } else {
        format!("{seconds:.2}s")
    }
}
