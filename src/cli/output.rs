//! Console output: human text (colour only on a terminal, never under `NO_COLOR`) or one JSON
//! event per line. Errors and progress go to stderr; command data (e.g. `ls`) goes to stdout.

use super::args::{GlobalArgs, LogFormat};
use crate::compile::Manifest;
use crate::error::{Diagnostic, Error};
use crate::exec::{NodeResult, RunResults, Status};
use crate::template::QueryTable;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

/// Where and how messages are printed.
#[derive(Debug, Clone)]
pub struct Output {
    format: LogFormat,
    color: bool,
    quiet: bool,
    /// On a terminal, a progress bar is kept on the last line while nodes run.
    progress: Option<std::sync::Arc<std::sync::Mutex<Progress>>>,
}

/// State of the progress bar.
#[derive(Debug, Default)]
struct Progress {
    done: usize,
    total: usize,
    shown: bool,
}

/// The bar for `done` of `total` nodes, `width` cells wide.
pub fn progress_bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done * width)
        .checked_div(total)
        .unwrap_or(width)
        .min(width);
    format!(
        "[{}{}] {done}/{total} nodes",
        "=".repeat(filled),
        " ".repeat(width - filled)
    )
}

impl Output {
    /// Output settings from the global flags and the environment.
    pub fn new(g: &GlobalArgs) -> Output {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Output {
            format: g.log_format,
            color: !g.no_color && !no_color_env && std::io::stderr().is_terminal(),
            quiet: g.quiet,
            progress: (g.log_format == LogFormat::Text && std::io::stderr().is_terminal())
                .then(Default::default),
        }
    }

    /// Clears the progress bar line before other output.
    fn clear_progress(&self, err: &mut impl Write) {
        if let Some(p) = &self.progress
            && let Ok(mut p) = p.lock()
            && p.shown
        {
            let _ = write!(err, "\r\x1b[2K");
            p.shown = false;
        }
    }

    /// Draws the bar again (after a line was printed above it).
    fn redraw_progress(&self, err: &mut impl Write) {
        if let Some(p) = &self.progress
            && let Ok(mut p) = p.lock()
            && p.done > 0
            && p.done < p.total
        {
            let _ = write!(err, "{}", progress_bar(p.done, p.total, 30));
            let _ = err.flush();
            p.shown = true;
        }
    }

    /// Counts a finished node and redraws the progress bar.
    fn draw_progress(&self, err: &mut impl Write, total: usize) {
        if let Some(p) = &self.progress
            && let Ok(mut p) = p.lock()
        {
            p.done += 1;
            p.total = total;
            if p.done < p.total {
                let _ = write!(err, "{}", progress_bar(p.done, p.total, 30));
                let _ = err.flush();
                p.shown = true;
            }
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn event(&self, level: &str, d: Option<&Diagnostic>, msg: &str) {
        let mut v = json!({"level": level, "message": msg});
        if let Some(d) = d {
            v["kind"] = json!(d.kind.as_str());
            v["message"] = json!(d.message);
            if let Some(loc) = &d.location {
                v["file"] = json!(loc.file.to_string_lossy());
                if loc.line > 0 {
                    v["line"] = json!(loc.line);
                }
                if loc.col > 0 {
                    v["col"] = json!(loc.col);
                }
            }
            if let Some(h) = &d.hint {
                v["hint"] = json!(h);
            }
        }
        let _ = writeln!(std::io::stderr().lock(), "{v}");
    }

    /// Prints every diagnostic of an error.
    pub fn error(&self, e: &Error) {
        match self.format {
            LogFormat::Json => {
                for d in e.diagnostics() {
                    self.event("error", Some(d), &d.message);
                }
            }
            LogFormat::Text => {
                let mut err = std::io::stderr().lock();
                for (i, d) in e.diagnostics().iter().enumerate() {
                    if i > 0 {
                        let _ = writeln!(err);
                    }
                    let text = format!("{d:#}");
                    let text = match text.strip_prefix("error") {
                        Some(rest) => format!("{}{rest}", self.paint("1;31", "error")),
                        None => text,
                    };
                    let _ = write!(err, "{text}");
                }
                let n = e.diagnostics().len();
                if n > 1 {
                    let _ = writeln!(err, "\n{n} errors found");
                }
            }
        }
    }

    /// Prints a warning (not in quiet mode).
    pub fn warning(&self, d: &Diagnostic) {
        if self.quiet {
            return;
        }
        match self.format {
            LogFormat::Json => self.event("warn", Some(d), &d.message),
            LogFormat::Text => {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "{}: {d}",
                    self.paint("1;33", "warning")
                );
            }
        }
    }

    /// Prints a progress or summary line (not in quiet mode).
    pub fn info(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match self.format {
            LogFormat::Json => self.event("info", None, msg),
            LogFormat::Text => {
                let _ = writeln!(std::io::stderr().lock(), "{msg}");
            }
        }
    }

    /// Prints command output (to stdout, always).
    pub fn data(&self, line: &str) {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }

    /// A node started.
    pub fn node_started(&self, index: usize, total: usize, unique_id: &str, what: &str) {
        if self.quiet {
            return;
        }
        match self.format {
            LogFormat::Json => {
                let v = json!({"level": "info", "event": "node_started", "index": index, "total": total, "unique_id": unique_id, "message": format!("START {what}")});
                let _ = writeln!(std::io::stderr().lock(), "{v}");
            }
            LogFormat::Text => {
                let w = total.to_string().len();
                let mut err = std::io::stderr().lock();
                self.clear_progress(&mut err);
                let _ = writeln!(err, "{index:>w$} of {total} START {what}");
                self.redraw_progress(&mut err);
            }
        }
    }

    /// A node finished (errors are printed in full, with file and hint).
    pub fn node_finished(&self, index: usize, total: usize, r: &NodeResult, what: &str) {
        match self.format {
            LogFormat::Json => {
                let mut v = json!({
                    "level": if r.status.is_failure() { "error" } else if r.status == Status::Warn { "warn" } else { "info" },
                    "event": "node_finished",
                    "index": index,
                    "total": total,
                    "unique_id": r.unique_id,
                    "status": r.status.as_str(),
                    "message": r.message,
                    "execution_time": r.execution_time,
                    "rows_affected": r.rows_affected,
                    "failures": r.failures,
                });
                if let Some(d) = &r.error {
                    v["error"] = json!(format!("{d}"));
                }
                let _ = writeln!(std::io::stderr().lock(), "{v}");
            }
            LogFormat::Text => {
                if self.quiet && !r.status.is_failure() {
                    return;
                }
                let (label, color) = match r.status {
                    Status::Success => ("OK", "32"),
                    Status::Pass => ("PASS", "32"),
                    Status::Warn => ("WARN", "33"),
                    Status::Fail => ("FAIL", "31"),
                    Status::Error => ("ERROR", "31"),
                    Status::Skipped => ("SKIP", "33"),
                };
                let w = total.to_string().len();
                let detail = match (r.status, r.rows_affected, r.failures) {
                    (Status::Error, _, _) => String::new(),
                    (_, _, Some(f)) if f > 0 => format!(" ({f} failing rows)"),
                    (Status::Success, Some(n), _) => format!(" ({n} rows)"),
                    _ => String::new(),
                };
                let mut err = std::io::stderr().lock();
                self.clear_progress(&mut err);
                let _ = writeln!(
                    err,
                    "{index:>w$} of {total} {} {what}{detail} [{}]",
                    self.paint(color, label),
                    duration(r.execution_time)
                );
                if let Some(d) = &r.error {
                    let text = format!("{d:#}");
                    for line in text.lines() {
                        let _ = writeln!(err, "    {line}");
                    }
                } else if r.status == Status::Skipped {
                    let _ = writeln!(err, "    {}", r.message);
                }
                self.draw_progress(&mut err, total);
            }
        }
    }

    /// The closing summary: counts by status and the slowest nodes.
    pub fn summary(&self, manifest: &Manifest, results: &RunResults) {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &results.results {
            *counts.entry(r.status.as_str()).or_default() += 1;
        }
        if self.format == LogFormat::Json {
            let v = json!({"level": "info", "event": "summary", "counts": counts, "elapsed": results.elapsed, "interrupted": results.interrupted});
            let _ = writeln!(std::io::stderr().lock(), "{v}");
            return;
        }
        let mut err = std::io::stderr().lock();
        self.clear_progress(&mut err);
        let _ = writeln!(err);
        let mut rows: Vec<[String; 2]> = Vec::new();
        for status in ["success", "pass", "warn", "fail", "error", "skipped"] {
            if let Some(n) = counts.get(status) {
                rows.push([status.to_string(), n.to_string()]);
            }
        }
        rows.push(["total".into(), results.results.len().to_string()]);
        let mut table = tabled::builder::Builder::default();
        table.push_record(["status", "nodes"]);
        for r in rows {
            table.push_record(r);
        }
        let mut t = table.build();
        t.with(tabled::settings::Style::rounded());
        let _ = writeln!(err, "{t}");
        let mut slow: Vec<&NodeResult> = results
            .results
            .iter()
            .filter(|r| r.status != Status::Skipped)
            .collect();
        slow.sort_by(|a, b| b.execution_time.total_cmp(&a.execution_time));
        if slow.len() > 1 {
            let mut table = tabled::builder::Builder::default();
            table.push_record(["slowest", "status", "time"]);
            for r in slow.iter().take(5) {
                let name = manifest
                    .nodes
                    .get(&r.unique_id)
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
            let _ = writeln!(err, "{t}");
        }
        let verdict = if results.interrupted {
            "Interrupted"
        } else if results.has_failures() {
            "Finished with errors"
        } else {
            "Finished"
        };
        let _ = writeln!(err, "{verdict} in {}.", duration(results.elapsed));
    }

    /// Prints query rows for `kiln show` to stdout.
    pub fn show_table(&self, t: &QueryTable, output: super::args::ShowOutput) {
        let mut stdout = std::io::stdout().lock();
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
                let _ = writeln!(stdout, "{}", serde_json::Value::Array(rows));
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
                let _ = writeln!(stdout, "{table}");
            }
        }
    }
}

/// `12ms` below a second, `1.23s` above.
fn duration(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{}ms", (seconds * 1000.0).round() as u64)
    } else {
        format!("{seconds:.2}s")
    }
}

#[cfg(test)]
mod tests {
    use super::progress_bar;

    #[test]
    fn progress_bar_fills_in_proportion() {
        assert_eq!(progress_bar(0, 4, 8), "[        ] 0/4 nodes");
        assert_eq!(progress_bar(1, 4, 8), "[==      ] 1/4 nodes");
        assert_eq!(progress_bar(4, 4, 8), "[========] 4/4 nodes");
        assert_eq!(progress_bar(0, 0, 8), "[========] 0/0 nodes");
    }
}
