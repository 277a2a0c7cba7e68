//! The structured log events: dbt's event names, codes, levels, messages and `data` fields, so
//! the tools that read dbt's log stream (orchestrators, observability packages) read Kiln's.
//!
//! An [`Event`] is plain data; `cli::output` decides where it goes (console, log file) and how
//! (text or one JSON object per line, [`Event::to_json_line`]). Messages are the ones dbt-core
//! 1.11 writes, progress lines padded with dots to dbt's 80 columns ([`fancy_line`]).

use crate::compile::{Manifest, ManifestNode};
use crate::error::Diagnostic;
use crate::exec::{NodeResult, Status};
use crate::project::ResourceType;
use serde_json::{Map, Value, json};
use std::ops::Range;

/// dbt's `log_version` in `MainReportVersion`.
const LOG_VERSION: u64 = 3;

/// The width dbt pads progress lines to (its default `printer_width`).
const PRINTER_WIDTH: usize = 80;

/// How severe an event is; the order is that of `--log-level` (debug lets everything through).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Details: the SQL each node runs, timings, node starts and ends.
    Debug,
    /// Progress and summaries.
    Info,
    /// Warnings.
    Warn,
    /// Errors.
    Error,
}

impl Level {
    /// dbt's name: `debug`, `info`, `warn`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// The colour of a part of a message on a colour terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tint {
    /// Success.
    Green,
    /// Warnings and skips.
    Yellow,
    /// Errors and failures.
    Red,
}

/// One log event, as dbt shapes it: `{"data": {...}, "info": {"name", "code", "level", "msg", ...}}`.
#[derive(Debug, Clone)]
pub struct Event {
    /// dbt's event name (`LogModelResult`).
    pub name: &'static str,
    /// dbt's event code (`Q012`).
    pub code: &'static str,
    /// Its level.
    pub level: Level,
    /// The human message, without colour.
    pub msg: String,
    /// The event's own fields (`data`), `node_info` among them for node events.
    pub data: Map<String, Value>,
    /// The thread dbt would name: `MainThread` or a worker's `Thread-N (worker)`.
    pub thread: String,
    /// When it happened.
    pub ts: chrono::DateTime<chrono::Utc>,
    /// Parts of `msg` to colour on a terminal.
    pub tints: Vec<(Range<usize>, Tint)>,
}

/// The thread name of the main thread, as dbt writes it.
pub const MAIN_THREAD: &str = "MainThread";

impl Event {
    /// An event with no data yet, on the main thread.
    pub fn new(
        name: &'static str,
        code: &'static str,
        level: Level,
        msg: impl Into<String>,
    ) -> Event {
        Event {
            name,
            code,
            level,
            msg: msg.into(),
            data: Map::new(),
            thread: MAIN_THREAD.to_string(),
            ts: chrono::Utc::now(),
            tints: Vec::new(),
        }
    }

    /// Adds a `data` field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Event {
        self.data.insert(key.to_string(), value.into());
        self
    }

    /// Runs on a worker thread.
    pub fn on_worker(mut self, worker: Option<usize>) -> Event {
        self.thread = super::run_results::thread_name(worker);
        self
    }

    /// Colours the whole message.
    fn tinted(mut self, tint: Tint) -> Event {
        self.tints.push((0..self.msg.len(), tint));
        self
    }

    /// The event as one line of dbt's JSON log format.
    pub fn to_json_line(&self, invocation_id: &str, pid: u32) -> String {
        let v = json!({
            "data": Value::Object(self.data.clone()),
            "info": {
                "category": "",
                "code": self.code,
                "extra": {},
                "invocation_id": invocation_id,
                "level": self.level.as_str(),
                "msg": self.msg,
                "name": self.name,
                "pid": pid,
                "thread": self.thread,
                "ts": self.ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            },
        });
        // Python's separators, as dbt's lines have them, so a line reads the same to tools
        // that search the text.
        crate::template::values::python_json(&v).unwrap_or_else(|_| v.to_string())
    }

    // ----- the invocation -----

    /// `MainReportVersion` (A001): the first event of every invocation.
    pub fn main_report_version() -> Event {
        let version = env!("CARGO_PKG_VERSION");
        Event::new(
            "MainReportVersion",
            "A001",
            Level::Info,
            format!("Running with kiln={version}"),
        )
        .with("log_version", LOG_VERSION)
        .with("version", format!("={version}"))
    }

    /// `MainReportArgs` (A002): the command line, at debug level.
    pub fn main_report_args(args: Value) -> Event {
        Event::new(
            "MainReportArgs",
            "A002",
            Level::Debug,
            format!("running kiln with arguments {args}"),
        )
        .with("args", args)
    }

    /// `AdapterRegistered` (E034).
    pub fn adapter_registered(adapter: &str) -> Event {
        let version = env!("CARGO_PKG_VERSION");
        Event::new(
            "AdapterRegistered",
            "E034",
            Level::Info,
            format!("Registered adapter: {adapter}={version}"),
        )
        .with("adapter_name", adapter)
        .with("adapter_version", format!("={version}"))
    }

    /// `FoundStats` (W006): what the project holds.
    pub fn found_stats(stat_line: &str) -> Event {
        Event::new(
            "FoundStats",
            "W006",
            Level::Info,
            format!("Found {stat_line}"),
        )
        .with("stat_line", stat_line)
    }

    /// `Formatting` (Z017): the blank lines dbt puts between sections.
    pub fn formatting() -> Event {
        Event::new("Formatting", "Z017", Level::Info, "").with("msg", "")
    }

    /// `ConcurrencyLine` (Q027).
    pub fn concurrency_line(threads: usize, target: &str, node_count: usize) -> Event {
        Event::new(
            "ConcurrencyLine",
            "Q027",
            Level::Info,
            format!("Concurrency: {threads} threads (target='{target}')"),
        )
        .with("num_threads", threads)
        .with("target_name", target)
        .with("node_count", node_count)
    }

    /// `Note` (Z050): dbt's event for a message of its own, at any level.
    pub fn note(level: Level, msg: impl Into<String>) -> Event {
        let msg = msg.into();
        let e = Event::new("Note", "Z050", level, msg.clone()).with("msg", msg);
        match level {
            Level::Warn => e.tinted(Tint::Yellow),
            Level::Error => e.tinted(Tint::Red),
            _ => e,
        }
    }

    /// A warning that is not about a node: `Note` at warn level, with the diagnostic's kind,
    /// file, line and hint in `data`.
    pub fn warning(d: &Diagnostic) -> Event {
        with_diagnostic(Event::note(Level::Warn, format!("[WARNING]: {d}")), d)
    }

    /// `NoNodesForSelectionCriteria` (M030).
    pub fn no_nodes_for_selection(spec_raw: &str, d: &Diagnostic) -> Event {
        with_diagnostic(
            Event::new(
                "NoNodesForSelectionCriteria",
                "M030",
                Level::Warn,
                format!("The selection criterion '{spec_raw}' does not match any enabled nodes"),
            )
            .with("spec_raw", spec_raw)
            .tinted(Tint::Yellow),
            d,
        )
    }

    /// `MainEncounteredError` (Z002): the error that ends the command (exit code 2).
    pub fn main_encountered_error(d: &Diagnostic) -> Event {
        let exc = format!("{d:#}").trim_end().to_string();
        with_diagnostic(
            Event::new(
                "MainEncounteredError",
                "Z002",
                Level::Error,
                format!("Encountered an error:\n{exc}"),
            )
            .with("exc", exc),
            d,
        )
    }

    /// `JinjaLogInfo` (I062), `JinjaLogDebug` (I063) or `JinjaLogWarning` (I061): `log()`,
    /// `print()` and `exceptions.warn()` in templates.
    pub fn jinja_log(level: Level, msg: &str) -> Event {
        let (name, code) = match level {
            Level::Debug => ("JinjaLogDebug", "I063"),
            Level::Warn | Level::Error => ("JinjaLogWarning", "I061"),
            Level::Info => ("JinjaLogInfo", "I062"),
        };
        Event::new(name, code, level, msg).with("msg", msg)
    }

    /// `CommandCompleted` (Q039): the last event, at debug level.
    pub fn command_completed(command: &str, success: bool, elapsed: f64) -> Event {
        let now = chrono::Utc::now();
        Event::new(
            "CommandCompleted",
            "Q039",
            Level::Debug,
            format!(
                "Command `kiln {command}` {} at {} after {elapsed:.2} seconds",
                if success { "succeeded" } else { "failed" },
                now.format("%H:%M:%S%.6f")
            ),
        )
        .with("command", format!("kiln {command}"))
        .with("success", success)
        .with(
            "completed_at",
            now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        )
        .with("elapsed", elapsed)
    }

    /// `ArtifactWritten` (P001).
    pub fn artifact_written(artifact_type: &str, path: &str) -> Event {
        Event::new(
            "ArtifactWritten",
            "P001",
            Level::Debug,
            format!("Wrote artifact {artifact_type} to {path}"),
        )
        .with("artifact_type", artifact_type)
        .with("artifact_path", path)
    }

    // ----- nodes -----

    /// `NodeStart` (Q024).
    pub fn node_start(node_info: Value, unique_id: &str) -> Event {
        Event::new(
            "NodeStart",
            "Q024",
            Level::Debug,
            format!("Began running node {unique_id}"),
        )
        .with("node_info", node_info)
    }

    /// `LogStartLine` (Q011): `1 of 4 START sql view model main.orders ....... [RUN]`.
    pub fn log_start_line(
        index: usize,
        total: usize,
        description: &str,
        node_info: Value,
    ) -> Event {
        let (msg, _) = fancy_line(
            Some((index, total)),
            &format!("START {description}"),
            "RUN",
            None,
        );
        Event::new("LogStartLine", "Q011", Level::Info, msg)
            .with("description", description)
            .with("index", index)
            .with("total", total)
            .with("node_info", node_info)
    }

    /// `SQLQuery` (E016): a statement a node ran, at debug level.
    pub fn sql_query(conn_name: &str, sql: &str, node_info: Option<Value>) -> Event {
        let mut e = Event::new(
            "SQLQuery",
            "E016",
            Level::Debug,
            format!("On {conn_name}: {sql}"),
        )
        .with("conn_name", conn_name)
        .with("sql", sql);
        if let Some(n) = node_info {
            e = e.with("node_info", n);
        }
        e
    }

    /// `NodeFinished` (Q025), with dbt's `run_result`.
    pub fn node_finished(node_info: Value, r: &NodeResult, message: Value) -> Event {
        let timing: Vec<Value> = r
            .compiled_at
            .iter()
            .flat_map(|compiled| {
                [
                    json!({"name": "compile", "started_at": r.started_at, "completed_at": compiled}),
                    json!({"name": "execute", "started_at": compiled, "completed_at": r.completed_at}),
                ]
            })
            .collect();
        Event::new(
            "NodeFinished",
            "Q025",
            Level::Debug,
            format!("Finished running node {}", r.unique_id),
        )
        .with("node_info", node_info)
        .with(
            "run_result",
            json!({
                "status": r.status.as_str(),
                "message": message,
                "execution_time": r.execution_time,
                "num_failures": r.failures.unwrap_or(0),
                "thread": super::run_results::thread_name(r.worker),
                "timing_info": timing,
                "adapter_response": {},
            }),
        )
    }

    /// The result line of a node: `LogModelResult` (Q012), `LogSeedResult` (Q016),
    /// `LogSnapshotResult` (Q015), `LogTestResult` (Q007) or `SkippingDetails` (Q034).
    /// `status` is the adapter's status line (`CREATE VIEW`, `SELECT 6`, `INSERT 3`).
    pub fn node_result(
        index: usize,
        total: usize,
        mn: &ManifestNode,
        r: &NodeResult,
        description: &str,
        status: &str,
        node_info: Value,
    ) -> Event {
        let progress = Some((index, total));
        let time = Some(r.execution_time);
        let level = match r.status {
            Status::Error | Status::Fail => Level::Error,
            Status::Warn => Level::Warn,
            _ => Level::Info,
        };
        let schema = mn
            .relation
            .as_ref()
            .map(|rel| rel.schema.clone())
            .unwrap_or_default();
        let name = &mn.node.name;
        if r.status == Status::Skipped {
            let what = match mn.node.resource_type {
                ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot => {
                    format!("SKIP relation {schema}.{}", relation_identifier(mn))
                }
                other => format!("SKIP {} {name}", other.as_str()),
            };
            let (msg, status_at) = fancy_line(progress, &what, "SKIP", None);
            let mut e = Event::new("SkippingDetails", "Q034", Level::Info, msg)
                .with("resource_type", mn.node.resource_type.as_str())
                .with("schema", schema)
                .with("node_name", name.as_str())
                .with("index", index)
                .with("total", total)
                .with("node_info", node_info);
            e.tints.push((status_at, Tint::Yellow));
            return e;
        }
        let failures = r.failures.unwrap_or(0);
        let ok = |s: &str| (s.to_string(), Tint::Green);
        // `kiln clone` describes its nodes as `clone schema.name`, whatever their type.
        let cloned = description.starts_with("clone ");
        let (name_, code, info, (shown, tint)) = match mn.node.resource_type {
            _ if cloned => {
                let (info, shown) = match r.status {
                    Status::Error => ("ERROR", ("ERROR".to_string(), Tint::Red)),
                    _ => ("OK", ok(status)),
                };
                (
                    "LogModelResult",
                    "Q012",
                    format!("{info} {description}"),
                    shown,
                )
            }
            ResourceType::Test | ResourceType::UnitTest => {
                let (info, shown) = match r.status {
                    Status::Error => ("ERROR".to_string(), ("ERROR".to_string(), Tint::Red)),
                    Status::Pass => ("PASS".to_string(), ok("PASS")),
                    Status::Warn => (
                        format!("WARN {failures}"),
                        (format!("WARN {failures}"), Tint::Yellow),
                    ),
                    _ => (
                        format!("FAIL {failures}"),
                        (format!("FAIL {failures}"), Tint::Red),
                    ),
                };
                ("LogTestResult", "Q007", format!("{info} {name}"), shown)
            }
            ResourceType::Seed => {
                let (info, shown) = match r.status {
                    Status::Error => ("ERROR loading", ("ERROR".to_string(), Tint::Red)),
                    _ => ("OK loaded", ok(status)),
                };
                (
                    "LogSeedResult",
                    "Q016",
                    format!("{info} {description}"),
                    shown,
                )
            }
            ResourceType::Snapshot => {
                let (info, shown) = match r.status {
                    Status::Error => ("ERROR snapshotting", ("ERROR".to_string(), Tint::Red)),
                    _ => ("OK snapshotted", ok(status)),
                };
                let what = description.strip_prefix("snapshot ").unwrap_or(description);
                ("LogSnapshotResult", "Q015", format!("{info} {what}"), shown)
            }
            _ => {
                let (info, shown) = match r.status {
                    Status::Error => ("ERROR creating", ("ERROR".to_string(), Tint::Red)),
                    _ => ("OK created", ok(status)),
                };
                (
                    "LogModelResult",
                    "Q012",
                    format!("{info} {description}"),
                    shown,
                )
            }
        };
        let (msg, status_at) = fancy_line(progress, &info, &shown, time);
        let mut e = Event::new(name_, code, level, msg)
            .with("index", index)
            .with("total", total)
            .with("execution_time", r.execution_time)
            .with("node_info", node_info);
        let tinted_end = status_at.start + shown.len();
        e.tints.push((status_at.start..tinted_end, tint));
        let status_field = match r.status {
            Status::Error => "error".to_string(),
            _ => status.to_string(),
        };
        match mn.node.resource_type {
            _ if cloned => {
                e = e
                    .with("status", status_field)
                    .with("description", description);
            }
            ResourceType::Test | ResourceType::UnitTest => {
                e = e
                    .with("name", name.as_str())
                    .with("status", r.status.as_str())
                    .with("num_failures", failures)
                    .with("num_models", total)
                    .with("attached_node", attached_node(mn));
                // dbt's LogTestResult has `num_models` for the total, not `total`.
                e.data.remove("total");
            }
            ResourceType::Seed => {
                e = e
                    .with("status", status_field)
                    .with("result_message", status)
                    .with("schema", schema)
                    .with("relation", relation_identifier(mn));
            }
            ResourceType::Snapshot => {
                e = e
                    .with("status", status_field)
                    .with("result_message", status)
                    .with("description", description)
                    .with("cfg", json!({}));
            }
            _ => {
                e = e
                    .with("status", status_field)
                    .with("description", description);
            }
        }
        e
    }

    /// `LogFreshnessResult` (Q018): `1 of 2 PASS freshness of raw.orders ..... [PASS in 0.01s]`.
    /// `status` is dbt's freshness status: `pass`, `warn`, `error` or `runtime error`.
    pub fn log_freshness_result(
        index: usize,
        total: usize,
        source_name: &str,
        table_name: &str,
        status: &str,
        execution_time: f64,
    ) -> Event {
        let (info, tint, level) = match status {
            "runtime error" => ("ERROR", Tint::Red, Level::Error),
            "error" => ("ERROR STALE", Tint::Red, Level::Error),
            "warn" => ("WARN", Tint::Yellow, Level::Warn),
            _ => ("PASS", Tint::Green, Level::Info),
        };
        let (msg, at) = fancy_line(
            Some((index, total)),
            &format!("{info} freshness of {source_name}.{table_name}"),
            info,
            Some(execution_time),
        );
        let mut e = Event::new("LogFreshnessResult", "Q018", level, msg)
            .with("status", status)
            .with("source_name", source_name)
            .with("table_name", table_name)
            .with("index", index)
            .with("total", total)
            .with("execution_time", execution_time);
        e.tints.push((at.start..at.start + info.len(), tint));
        e
    }

    /// `LogHookEndLine` (Q033): an `on-run-start`/`on-run-end` hook ran.
    pub fn log_hook_end_line(
        statement: &str,
        index: usize,
        total: usize,
        ok: bool,
        time: f64,
    ) -> Event {
        let (info, tint) = if ok {
            ("OK", Tint::Green)
        } else {
            ("ERROR", Tint::Red)
        };
        let (mut msg, at) = fancy_line(
            Some((index, total)),
            &format!("{info} hook: {statement}"),
            info,
            Some(time),
        );
        // dbt cuts a long hook line at the printer width.
        let mut at = at;
        if let Some(cut) = msg.find(" [")
            && cut > PRINTER_WIDTH - 3
        {
            let mut keep = PRINTER_WIDTH - 3;
            while !msg.is_char_boundary(keep) {
                keep -= 1;
            }
            let tail = msg[cut..].to_string();
            msg = format!("{}...{tail}", &msg[..keep]);
            let start = keep + 3 + 2;
            at = start..start + info.len();
        }
        let level = if ok { Level::Info } else { Level::Error };
        let mut e = Event::new("LogHookEndLine", "Q033", level, msg)
            .with("statement", statement)
            .with("status", if ok { "success" } else { "error" })
            .with("index", index)
            .with("total", total)
            .with("execution_time", time);
        e.tints.push((at.start..at.start + info.len(), tint));
        e
    }

    // ----- the end of a run -----

    /// `FinishedRunningStats` (E047): `Finished running 3 view models in 0 hours 0 minutes and
    /// 0.15 seconds (0.15s).`
    pub fn finished_running_stats(stat_line: &str, elapsed: f64) -> Event {
        let secs = elapsed.max(0.0);
        let hours = (secs / 3600.0).floor();
        let minutes = ((secs - hours * 3600.0) / 60.0).floor();
        let seconds = secs - hours * 3600.0 - minutes * 60.0;
        let execution = format!(" in {hours} hours {minutes} minutes and {seconds:.2} seconds");
        Event::new(
            "FinishedRunningStats",
            "E047",
            Level::Info,
            format!("Finished running {stat_line}{execution} ({secs:.2}s)."),
        )
        .with("stat_line", stat_line)
        .with("execution", execution)
        .with("execution_time", secs)
    }

    /// `EndOfRunSummary` (Z030): `Completed with 1 error, 0 partial successes, and 2 warnings:`.
    pub fn end_of_run_summary(errors: usize, warnings: usize, interrupted: bool) -> Event {
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        let (msg, tint) = if interrupted {
            (
                "Exited because of keyboard interrupt".to_string(),
                Tint::Yellow,
            )
        } else if errors > 0 {
            (
                format!(
                    "Completed with {}, 0 partial successes, and {}:",
                    plural(errors, "error"),
                    plural(warnings, "warning")
                ),
                Tint::Red,
            )
        } else if warnings > 0 {
            (
                format!("Completed with {}:", plural(warnings, "warning")),
                Tint::Yellow,
            )
        } else {
            ("Completed successfully".to_string(), Tint::Green)
        };
        Event::new("EndOfRunSummary", "Z030", Level::Info, msg)
            .with("num_errors", errors)
            .with("num_warnings", warnings)
            .with("num_partial_success", 0)
            .with("keyboard_interrupt", interrupted)
            .tinted(tint)
    }

    /// `RunResultFailure` (Z022) or `RunResultWarning` (Z021): the heading of one recap entry,
    /// `Failure in model orders (models/orders.sql)`.
    pub fn run_result_heading(mn: &ManifestNode, warning: bool, node_info: Value) -> Event {
        let path = &mn.node.original_file_path;
        let what = format!(
            "{} {} ({path})",
            mn.node.resource_type.as_str(),
            mn.node.name
        );
        let (name, code, level, msg, tint) = if warning {
            (
                "RunResultWarning",
                "Z021",
                Level::Warn,
                format!("Warning in {what}"),
                Tint::Yellow,
            )
        } else {
            (
                "RunResultFailure",
                "Z022",
                Level::Error,
                format!("Failure in {what}"),
                Tint::Red,
            )
        };
        Event::new(name, code, level, msg)
            .with("resource_type", mn.node.resource_type.as_str())
            .with("node_name", mn.node.name.as_str())
            .with("path", path.as_str())
            .with("node_info", node_info)
            .tinted(tint)
    }

    /// `RunResultError` (Z024) or, for a warning, `RunResultWarningMessage` (Z046): what went
    /// wrong. Kiln's diagnostic (kind, file, line, column, hint) goes into `data` as well.
    pub fn run_result_message(
        text: &str,
        warning: bool,
        d: Option<&Diagnostic>,
        node_info: Value,
    ) -> Event {
        let e = if warning {
            Event::new("RunResultWarningMessage", "Z046", Level::Warn, text)
        } else {
            Event::new("RunResultError", "Z024", Level::Error, format!("  {text}"))
        };
        let e = e.with("msg", text).with("node_info", node_info);
        match d {
            Some(d) => with_diagnostic(e, d),
            None => e,
        }
    }

    /// `SQLCompiledPath` (Z026): `  compiled code at target/compiled/...`.
    pub fn sql_compiled_path(path: &str, node_info: Value) -> Event {
        Event::new(
            "SQLCompiledPath",
            "Z026",
            Level::Info,
            format!("  compiled code at {path}"),
        )
        .with("path", path)
        .with("node_info", node_info)
    }

    /// `StatsLine` (Z023): `Done. PASS=3 WARN=0 ERROR=1 SKIP=1 NO-OP=0 TOTAL=5`.
    pub fn stats_line(pass: usize, warn: usize, error: usize, skip: usize, total: usize) -> Event {
        Event::new(
            "StatsLine",
            "Z023",
            Level::Info,
            format!("Done. PASS={pass} WARN={warn} ERROR={error} SKIP={skip} NO-OP=0 TOTAL={total}"),
        )
        .with(
            "stats",
            json!({"pass": pass, "warn": warn, "error": error, "skip": skip, "noop": 0, "total": total}),
        )
    }
}

/// Kiln's diagnostic fields, added to an event's `data` under dbt's own keys.
fn with_diagnostic(mut e: Event, d: &Diagnostic) -> Event {
    e = e.with("kind", d.kind.as_str());
    if let Some(loc) = &d.location {
        e = e.with("file", loc.file.to_string_lossy().into_owned());
        if loc.line > 0 {
            e = e.with("line", loc.line);
        }
        if loc.col > 0 {
            e = e.with("col", loc.col);
        }
    }
    if let Some(h) = &d.hint {
        e = e.with("hint", h.as_str());
    }
    if let Some(db) = &d.database {
        if let Some(h) = &db.hint {
            e = e.with("database_hint", h.as_str());
        }
        if let Some(x) = &db.detail {
            e = e.with("database_detail", x.as_str());
        }
        if let Some(c) = &db.code {
            e = e.with("database_code", c.as_str());
        }
    }
    e
}

/// A dbt progress line: `{i} of {n} {msg} ` padded with dots to 80 columns, then
/// ` [{status} in 0.12s]`. Returns the line and where `status` sits in it.
pub fn fancy_line(
    progress: Option<(usize, usize)>,
    msg: &str,
    status: &str,
    execution_time: Option<f64>,
) -> (String, Range<usize>) {
    let mut line = match progress {
        Some((i, n)) => format!("{i} of {n} {msg} "),
        None => format!("{msg} "),
    };
    let width = line.chars().count();
    if width < PRINTER_WIDTH {
        line.push_str(&".".repeat(PRINTER_WIDTH - width));
    }
    line.push_str(" [");
    let start = line.len();
    line.push_str(status);
    let at = start..line.len();
    if let Some(t) = execution_time {
        line.push_str(&format!(" in {t:.2}s"));
    }
    line.push(']');
    (line, at)
}

/// The node a test tests: its first parent that is not a source.
fn attached_node(mn: &ManifestNode) -> String {
    mn.depends_on
        .iter()
        .find(|d| !d.starts_with("source."))
        .or(mn.depends_on.first())
        .cloned()
        .unwrap_or_default()
}

/// The relation's identifier (alias), or the node's name.
fn relation_identifier(mn: &ManifestNode) -> String {
    mn.relation
        .as_ref()
        .map(|r| r.identifier.clone())
        .unwrap_or_else(|| mn.node.name.clone())
}

/// dbt's timestamps in `node_info`: RFC 3339 without the zone letter.
fn node_time(rfc3339: &str) -> String {
    rfc3339.trim_end_matches('Z').to_string()
}

/// dbt's `node_info`: the node's name, path, unique_id, resource type, materialization, status,
/// start and end times, meta, and its relation.
pub fn node_info(
    manifest: &Manifest,
    mn: &ManifestNode,
    status: &str,
    started_at: &str,
    finished_at: &str,
) -> Value {
    let n = &mn.node;
    let (database, schema) = super::manifest::database_and_schema(manifest, mn);
    let relation_name = match (&mn.relation, n.resource_type) {
        (_, ResourceType::Test | ResourceType::UnitTest) => String::new(),
        (Some(rel), _) if !mn.is_ephemeral() => rel.render(),
        _ => String::new(),
    };
    let checksum = match n.resource_type {
        ResourceType::Test | ResourceType::UnitTest => String::new(),
        _ => n.checksum.value().to_string(),
    };
    json!({
        "node_path": n.path,
        "node_name": n.name,
        "unique_id": n.unique_id,
        "resource_type": n.resource_type.as_str(),
        "materialized": mn.materialized(),
        "node_status": status,
        "node_started_at": node_time(started_at),
        "node_finished_at": node_time(finished_at),
        "meta": n.config.get("meta").cloned().unwrap_or_else(|| json!({})),
        "node_checksum": checksum,
        "node_relation": {
            "database": database,
            "schema": schema,
            "alias": n.alias(),
            "relation_name": relation_name,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_pad_with_dots_to_dbt_width() {
        let (line, at) = fancy_line(Some((1, 4)), "START sql view model s.m", "RUN", None);
        assert_eq!(
            line,
            "1 of 4 START sql view model s.m ................................................ [RUN]"
        );
        assert_eq!(&line[at], "RUN");
        let (line, _) = fancy_line(
            Some((2, 4)),
            "OK created sql view model s.m",
            "CREATE VIEW",
            Some(0.5566),
        );
        assert!(line.ends_with(" [CREATE VIEW in 0.56s]"), "{line}");
        assert_eq!(line.find(" [").unwrap(), 80);
    }

    #[test]
    fn json_lines_have_dbt_info_fields() {
        let e = Event::stats_line(2, 0, 1, 1, 4);
        let line = e.to_json_line("abc", 7);
        assert!(
            line.starts_with("{\"data\": {\"stats\": {\"error\": 1, "),
            "{line}"
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["info"]["name"], "StatsLine");
        assert_eq!(v["info"]["code"], "Z023");
        assert_eq!(v["info"]["level"], "info");
        assert_eq!(v["info"]["invocation_id"], "abc");
        assert_eq!(v["info"]["pid"], 7);
        assert_eq!(v["info"]["thread"], "MainThread");
        assert_eq!(
            v["info"]["msg"],
            "Done. PASS=2 WARN=0 ERROR=1 SKIP=1 NO-OP=0 TOTAL=4"
        );
        assert_eq!(v["data"]["stats"]["error"], 1);
        assert!(v["info"]["ts"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn the_run_summary_reads_as_dbts() {
        assert_eq!(
            Event::end_of_run_summary(1, 2, false).msg,
            "Completed with 1 error, 0 partial successes, and 2 warnings:"
        );
        assert_eq!(
            Event::end_of_run_summary(0, 1, false).msg,
            "Completed with 1 warning:"
        );
        assert_eq!(
            Event::end_of_run_summary(0, 0, false).msg,
            "Completed successfully"
        );
        assert_eq!(
            Event::finished_running_stats("3 view models", 62.5).msg,
            "Finished running 3 view models in 0 hours 1 minutes and 2.50 seconds (62.50s)."
        );
    }
}
