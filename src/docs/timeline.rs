//! The run timeline: where a run's time went. From the last `run_results.json` it lays nodes out
//! per worker, finds the critical path (the chain of nodes, each waiting on the one before,
//! that ends with the last node to finish), and names the nodes that held the run back.

use crate::artifacts::docs::{HeldBack, Timeline, TimelineEntry};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One node's run as `run_results.json` records it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEntry {
    /// The node.
    pub unique_id: String,
    /// `success`, `error`, `pass`, ...
    pub status: String,
    /// The worker that ran it (`Thread-1 (worker)`).
    pub thread: String,
    /// When it started.
    pub started: DateTime<Utc>,
    /// When it ended.
    pub completed: DateTime<Utc>,
}

/// The command and node runs of a `run_results.json`.
#[derive(Debug, Clone, Default)]
pub struct RunFile {
    /// `run`, `build`, ...
    pub command: String,
    /// Every node that ran (skipped nodes have no time and are left out).
    pub entries: Vec<RunEntry>,
    /// unique_id → status, for every result (skipped included).
    pub statuses: BTreeMap<String, String>,
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Reads the parts of a `run_results.json` the timeline needs; None when it is not one.
pub fn read_run_results(v: &Value) -> Option<RunFile> {
    let mut file = RunFile {
        command: v
            .pointer("/args/which")
            .or_else(|| v.get("command"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        ..Default::default()
    };
    for r in v.get("results")?.as_array()? {
        let Some(id) = r.get("unique_id").and_then(Value::as_str) else {
            continue;
        };
        let status = r.get("status").and_then(Value::as_str).unwrap_or("");
        file.statuses.insert(id.to_string(), status.to_string());
        // The node's span: from its first timing step's start to its last step's end.
        let timing = r.get("timing").and_then(Value::as_array);
        let started = timing.and_then(|t| t.iter().filter_map(|s| time(&s["started_at"])).min());
        let completed =
            timing.and_then(|t| t.iter().filter_map(|s| time(&s["completed_at"])).max());
        let (Some(started), Some(completed)) = (started, completed) else {
            continue;
        };
        if status == "skipped" {
            continue;
        }
        file.entries.push(RunEntry {
            unique_id: id.to_string(),
            status: status.to_string(),
            thread: r
                .get("thread_id")
                .and_then(Value::as_str)
                .unwrap_or("main")
                .to_string(),
            started,
            completed,
        });
    }
    Some(file)
}

/// Builds the timeline. `parents` gives a node's parents in the graph; nodes outside the run
/// (sources, ephemeral models, unselected nodes) are looked through to their own parents.
pub fn build(
    run: &RunFile,
    parents: &dyn Fn(&str) -> Vec<String>,
    name_of: &dyn Fn(&str) -> String,
) -> Timeline {
    let Some(t0) = run.entries.iter().map(|e| e.started).min() else {
        return Timeline {
            command: run.command.clone(),
            ..Default::default()
        };
    };
    let secs = |t: DateTime<Utc>| (t - t0).num_microseconds().unwrap_or(0) as f64 / 1e6;
    let by_id: BTreeMap<&str, &RunEntry> = run
        .entries
        .iter()
        .map(|e| (e.unique_id.as_str(), e))
        .collect();
    let run_parents = |id: &str| -> Vec<&RunEntry> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut stack = parents(id);
        while let Some(p) = stack.pop() {
            if !seen.insert(p.clone()) {
                continue;
            }
            match by_id.get(p.as_str()) {
                Some(e) => out.push(*e),
                None => stack.extend(parents(&p)),
            }
        }
        out
    };
    // Walk back from the last node to finish: each step goes to the parent that finished
    // last, the one the node was waiting for.
    let mut critical: Vec<&RunEntry> = Vec::new();
    let mut current = run.entries.iter().max_by_key(|e| (e.completed, e.started));
    while let Some(e) = current {
        critical.push(e);
        current = run_parents(&e.unique_id)
            .into_iter()
            .filter(|p| p.completed <= e.started + chrono::Duration::milliseconds(5))
            .max_by_key(|p| p.completed);
        if critical.len() > run.entries.len() {
            break;
        }
    }
    critical.reverse();
    let on_path: BTreeSet<&str> = critical.iter().map(|e| e.unique_id.as_str()).collect();
    let elapsed = run
        .entries
        .iter()
        .map(|e| secs(e.completed))
        .fold(0.0, f64::max);
    let mut workers: Vec<String> = run.entries.iter().map(|e| e.thread.clone()).collect();
    workers.sort_by_key(|w| worker_number(w));
    workers.dedup();
    let mut entries: Vec<TimelineEntry> = run
        .entries
        .iter()
        .map(|e| TimelineEntry {
            id: e.unique_id.clone(),
            name: name_of(&e.unique_id),
            status: e.status.clone(),
            worker: workers.iter().position(|w| *w == e.thread).unwrap_or(0),
            start: round(secs(e.started)),
            end: round(secs(e.completed)),
            critical: on_path.contains(e.unique_id.as_str()),
        })
        .collect();
    entries.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.id.cmp(&b.id)));
    let mut held_back: Vec<HeldBack> = critical
        .iter()
        .map(|e| {
            let duration = secs(e.completed) - secs(e.started);
            HeldBack {
                id: e.unique_id.clone(),
                name: name_of(&e.unique_id),
                duration: round(duration),
                share: if elapsed > 0.0 {
                    round(duration / elapsed)
                } else {
                    0.0
                },
            }
        })
        .collect();
    held_back.sort_by(|a, b| b.duration.total_cmp(&a.duration).then(a.id.cmp(&b.id)));
    Timeline {
        command: run.command.clone(),
        elapsed: round(elapsed),
        workers,
        entries,
        critical_path: critical.iter().map(|e| e.unique_id.clone()).collect(),
        held_back,
    }
}

/// `Thread-3 (worker)` → 3, so lanes sort numerically.
fn worker_number(name: &str) -> (usize, String) {
    let n = name
        .trim_start_matches("Thread-")
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or(usize::MAX);
    (n, name.to_string())
}

fn round(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(id: &str, thread: &str, start: &str, end: &str) -> Value {
        json!({
            "unique_id": id, "status": "success", "thread_id": thread,
            "timing": [{"name": "execute", "started_at": format!("2026-01-01T00:00:{start}Z"),
                        "completed_at": format!("2026-01-01T00:00:{end}Z")}],
        })
    }

    #[test]
    fn critical_path_follows_the_parent_each_node_waited_for() {
        // a ─┬─▶ c ─▶ d        b is quick; c waits for a (the slow parent); d waits for c.
        // b ─┘       e runs beside c on the other worker and ends before d.
        let v = json!({"args": {"which": "build"}, "results": [
            result("model.p.a", "Thread-1 (worker)", "00.000", "02.000"),
            result("model.p.b", "Thread-2 (worker)", "00.000", "00.500"),
            result("model.p.c", "Thread-1 (worker)", "02.001", "05.000"),
            result("model.p.e", "Thread-2 (worker)", "00.600", "03.000"),
            result("model.p.d", "Thread-2 (worker)", "05.002", "06.000"),
            {"unique_id": "model.p.z", "status": "skipped", "thread_id": "main", "timing": []},
        ]});
        let run = read_run_results(&v).unwrap();
        assert_eq!(run.statuses["model.p.z"], "skipped");
        let parents = |id: &str| -> Vec<String> {
            match id {
                "model.p.c" => vec!["model.p.a".into(), "model.p.b".into()],
                // d reads c through an ephemeral model that never ran.
                "model.p.d" => vec!["model.p.eph".into()],
                "model.p.eph" => vec!["model.p.c".into()],
                "model.p.e" => vec!["model.p.b".into()],
                _ => vec![],
            }
        };
        let t = build(&run, &parents, &|id: &str| {
            id.rsplit('.').next().unwrap().to_string()
        });
        assert_eq!(t.command, "build");
        assert_eq!(t.critical_path, vec!["model.p.a", "model.p.c", "model.p.d"]);
        assert_eq!(t.workers, vec!["Thread-1 (worker)", "Thread-2 (worker)"]);
        assert_eq!(t.elapsed, 6.0);
        assert_eq!(t.held_back[0].name, "c");
        assert_eq!(t.held_back[0].duration, 2.999);
        let d = t.entries.iter().find(|e| e.name == "d").unwrap();
        assert_eq!((d.worker, d.critical, d.start), (1, true, 5.002));
        let e = t.entries.iter().find(|e| e.name == "e").unwrap();
        assert!(!e.critical);
        assert!(
            !t.entries.iter().any(|e| e.name == "z"),
            "skipped nodes have no bar"
        );
    }

    #[test]
    fn an_empty_run_has_an_empty_timeline() {
        let run = read_run_results(&json!({"results": []})).unwrap();
        let t = build(&run, &|_| vec![], &|s: &str| s.to_string());
        assert!(t.entries.is_empty() && t.critical_path.is_empty());
        assert!(read_run_results(&json!({"nodes": {}})).is_none());
    }
}
