//! `kiln watch`: a session that rebuilds after an edit, recovers from a broken edit and stops
//! cleanly on Ctrl-C.

use crate::support::{Backend, TempProject};
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Collects a stream's lines as they come.
fn collect(stream: impl std::io::Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    });
}

/// Waits until `done` holds, for at most a minute.
fn wait_for(what: &str, log: &Arc<Mutex<Vec<String>>>, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}; the watch printed:\n{}",
            log.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn x_of(p: &TempProject) -> Option<i64> {
    let v = p
        .try_query("select x from b")
        .ok()?
        .first()?
        .first()?
        .clone();
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

#[test]
fn a_watch_rebuilds_after_an_edit_recovers_from_a_broken_one_and_stops_on_ctrl_c() {
    let p = TempProject::with_files_on(
        &[
            ("dbt_project.yml", "name: w\nprofile: w\n"),
            ("models/a.sql", "select 1 as x"),
            (
                "models/b.sql",
                "{{ config(materialized='table') }} select x from {{ ref('a') }}",
            ),
            ("models/other.sql", "select 7 as y"),
        ],
        Backend::Sqlite,
    );
    let mut child = p.spawn(&["watch"]);
    let log = Arc::new(Mutex::new(Vec::new()));
    collect(child.stdout.take().unwrap(), log.clone());
    collect(child.stderr.take().unwrap(), log.clone());
    let rounds = |log: &Arc<Mutex<Vec<String>>>| {
        log.lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("Watching for changes"))
            .count()
    };
    wait_for("the first build", &log, || rounds(&log) == 1);
    assert_eq!(x_of(&p), Some(1));

    // An edit of a rebuilds a and what depends on it, and nothing else.
    p.write("models/a.sql", "select 2 as x");
    wait_for("the rebuild after the edit", &log, || x_of(&p) == Some(2));
    wait_for("the round to end", &log, || rounds(&log) == 2);
    let printed = log.lock().unwrap().join("\n");
    assert!(printed.contains("Changed: models/a.sql"), "{printed}");
    let second_round = printed.rsplit("Changed: models/a.sql").next().unwrap();
    assert!(second_round.contains("model main.b"), "{printed}");
    assert!(!second_round.contains("model main.other"), "{printed}");

    // A broken edit prints its error, and the watch goes on.
    p.write("models/a.sql", "select x from {{ ref('no_such_model') }}");
    wait_for("the broken edit's error", &log, || {
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("no_such_model"))
    });
    wait_for("the watch to wait again", &log, || rounds(&log) == 3);
    assert_eq!(x_of(&p), Some(2));
    p.write("models/a.sql", "select 3 as x");
    wait_for("the rebuild after the fix", &log, || x_of(&p) == Some(3));

    // Ctrl-C stops it cleanly.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the watch did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    wait_for("the goodbye", &log, || {
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("Stopped watching."))
    });
}

#[test]
fn a_watch_with_docs_serves_the_site_and_rewrites_it_after_each_build() {
    let p = TempProject::with_files_on(
        &[
            ("dbt_project.yml", "name: w\nprofile: w\n"),
            ("models/a.sql", "select 1 as x"),
            (
                "models/a.yml",
                "models:\n  - name: a\n    description: The first version.\n",
            ),
        ],
        Backend::Sqlite,
    );
    let mut child = p.spawn(&["watch", "--docs", "--port", "0"]);
    let log = Arc::new(Mutex::new(Vec::new()));
    collect(child.stdout.take().unwrap(), log.clone());
    collect(child.stderr.take().unwrap(), log.clone());
    let addr = || {
        log.lock()
            .unwrap()
            .iter()
            .find_map(|l| crate::support::served_addr(l))
    };
    wait_for("the docs server", &log, || addr().is_some());
    let addr = addr().unwrap();
    let get = |path: &str| crate::support::http_get(&addr, path);
    assert_eq!(get("/api/version"), (200, "{\"version\":1}".to_string()));
    let (code, index) = get("/docs/index.json");
    assert_eq!(code, 200);
    assert!(index.contains("The first version."), "{index}");
    let (code, page) = get("/");
    assert_eq!(code, 200);
    assert!(page.contains("<title>w · Kiln docs</title>"), "{page}");

    // An edit rebuilds, rewrites the site and bumps its version, so the page reloads.
    p.write(
        "models/a.yml",
        "models:\n  - name: a\n    description: The second version.\n",
    );
    wait_for("the new version", &log, || {
        get("/api/version").1.contains(":2")
    });
    assert!(get("/docs/index.json").1.contains("The second version."));
    // Selection filters read the new manifest.
    let (code, body) = get("/api/select?select=a");
    assert_eq!(code, 200);
    assert!(body.contains("model.w.a"), "{body}");

    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
