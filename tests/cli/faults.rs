//! Fault injection: `kill -9` and Ctrl-C at random moments of `kiln build`, connections killed
//! by the server, and two builds at once on one target, on every adapter. After each fault every
//! relation built before must still be there with all its rows, and the next build must succeed
//! and leave nothing aside (`__kiln_tmp`, `__kiln_backup`, `__kiln_staging`).
//!
//! Runs only when `KILN_FAULT_ITERATIONS` is set: the number of `kill -9` iterations per adapter
//! (CI runs a few dozen; set hundreds locally). The other faults run a quarter as many (at least
//! two). `KILN_FAULT_SEED` replays the random moments of an earlier run, whose seed each test
//! prints.

use crate::support::{Backend, Run, TempProject};
use serde_json::Value;
use std::time::{Duration, Instant};

use crate::support::on_every_adapter;

on_every_adapter!(
    kill_9_during_build,
    ctrl_c_during_build,
    two_builds_at_once,
    connections_killed_by_the_server,
);

/// `kill -9` iterations per adapter, or None (and the test says it is skipped).
fn iterations() -> Option<usize> {
    match std::env::var("KILN_FAULT_ITERATIONS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        Some(n) if n > 0 => Some(n),
        _ => {
            eprintln!("skipped: set KILN_FAULT_ITERATIONS to run the fault-injection suite");
            None
        }
    }
}

/// Iterations of the rarer faults.
fn fewer(n: usize) -> usize {
    (n / 4).max(2)
}

/// A small xorshift generator: random moments without a dependency, replayable by seed.
struct Moments(u64);

impl Moments {
    fn new(test: &str) -> Moments {
        let seed = std::env::var("KILN_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            })
            | 1;
        eprintln!("{test}: KILN_FAULT_SEED={seed}");
        Moments(seed)
    }

    /// A moment in `0..=max`.
    fn upto(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let ms = max.as_millis().max(1) as u64;
        Duration::from_millis(self.0 % (ms + 1))
    }
}

/// Every relation the fixture builds, tables and views alike.
const RELATIONS: &[&str] = &[
    "people",
    "orders",
    "people_t",
    "order_totals",
    "big_orders_v",
    "summary",
    "orders_inc",
    "people_snap",
];

/// Two seeds, tables over them, a view, a table over the view, an incremental model and a
/// snapshot: each build replaces or merges into every relation, and takes a fraction of a
/// second.
fn fixture(b: &Backend) -> TempProject {
    let mut people = String::from("id,name,joined\n");
    let mut orders = String::from("id,person_id,amount\n");
    for i in 1..=60 {
        people.push_str(&format!("{i},person {i},2024-01-{:02}\n", i % 28 + 1));
    }
    for i in 1..=400 {
        orders.push_str(&format!("{i},{},{}.5\n", i % 60 + 1, i % 97));
    }
    TempProject::with_files_on(
        &[
            (
                "project.yml",
                "name: shop\nprofile: shop\nmodels:\n  shop:\n    +materialized: table\n",
            ),
            ("seeds/people.csv", &people),
            ("seeds/orders.csv", &orders),
            ("models/people_t.sql", "select * from {{ ref('people') }}"),
            (
                "models/order_totals.sql",
                "select person_id, count(*) as n, sum(amount) as total from {{ ref('orders') }} group by person_id",
            ),
            (
                "models/big_orders_v.sql",
                "{{ config(materialized='view') }}\nselect * from {{ ref('order_totals') }} where total > 100",
            ),
            (
                "models/summary.sql",
                "select p.id, p.name, t.total from {{ ref('people_t') }} p join {{ ref('big_orders_v') }} t on t.person_id = p.id",
            ),
            (
                "snapshots/people_snap.sql",
                "{% snapshot people_snap %}\n{{ config(target_schema=target.schema, unique_key='id', strategy='check', check_cols=['name']) }}\nselect id, name from {{ ref('people') }}\n{% endsnapshot %}\n",
            ),
            (
                "models/orders_inc.sql",
                "{{ config(materialized='incremental', unique_key='id') }}\nselect * from {{ ref('orders') }}",
            ),
        ],
        b.clone(),
    )
}

/// Each relation's row count, or what went wrong reading it.
type Counts = Vec<(String, Result<Value, String>)>;

/// Row counts of every relation, or what went wrong reading one.
fn counts(p: &TempProject) -> Counts {
    RELATIONS
        .iter()
        .map(|r| {
            let n = p
                .try_query(&format!("select count(*) from {r}"))
                .map(|rows| rows[0][0].clone());
            (r.to_string(), n)
        })
        .collect()
}

/// The first build, whose counts every later check compares with, and how long it took.
fn baseline(p: &TempProject) -> (Counts, Duration) {
    p.kiln(&["build"]).ok();
    let started = Instant::now();
    p.kiln(&["build"]).ok();
    let took = started.elapsed();
    let counts = counts(p);
    for (r, n) in &counts {
        assert!(n.is_ok(), "{r}: {n:?}");
    }
    (counts, took)
}

/// After a fault: every relation is there with all its rows; then a build succeeds and leaves
/// nothing aside, and the rows are still the same.
#[track_caller]
fn check(p: &TempProject, expected: &[(String, Result<Value, String>)], what: &str, faulted: &Run) {
    let after = counts(p);
    assert_eq!(
        after, expected,
        "{what}: relations changed\nstdout:\n{}\nstderr:\n{}",
        faulted.stdout, faulted.stderr
    );
    assert!(
        !faulted.stderr.contains("panicked"),
        "{what}: {}",
        faulted.stderr
    );
    let next = p.kiln(&["build"]);
    assert_eq!(
        next.code, 0,
        "{what}: the next build failed\nstdout:\n{}\nstderr:\n{}",
        next.stdout, next.stderr
    );
    assert_eq!(
        p.leftovers(&p.schema),
        Vec::<String>::new(),
        "{what}: left aside after the next build"
    );
    assert_eq!(counts(p), expected, "{what}: the next build changed rows");
}

/// Starts a build and signals it (`-9` or `-INT`) after `delay`; returns what it printed.
fn signalled_build(p: &TempProject, signal: &str, delay: Duration) -> Run {
    let child = p.spawn(&["build"]);
    std::thread::sleep(delay);
    let _ = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    Run::of(child.wait_with_output().unwrap())
}

fn kill_9_during_build(b: Backend) {
    let Some(n) = iterations() else { return };
    let p = fixture(&b);
    let (expected, took) = baseline(&p);
    let mut moments = Moments::new("kill_9_during_build");
    for i in 0..n {
        let delay = moments.upto(took + took / 4);
        let run = signalled_build(&p, "-9", delay);
        check(
            &p,
            &expected,
            &format!("kill -9 #{i} after {delay:?}"),
            &run,
        );
    }
}

fn ctrl_c_during_build(b: Backend) {
    let Some(n) = iterations() else { return };
    let p = fixture(&b);
    let (expected, took) = baseline(&p);
    let mut moments = Moments::new("ctrl_c_during_build");
    for i in 0..fewer(n) {
        let delay = moments.upto(took);
        let run = signalled_build(&p, "-INT", delay);
        let what = format!("Ctrl-C #{i} after {delay:?}");
        if run.stdout.contains("Interrupted") {
            // Stopped by Kiln itself: the running nodes finished, nothing is left aside.
            assert!(matches!(run.code, 0 | 1), "{what}: {run:?}");
            assert_eq!(p.leftovers(&p.schema), Vec::<String>::new(), "{what}");
        }
        check(&p, &expected, &what, &run);
    }
}

fn two_builds_at_once(b: Backend) {
    let Some(n) = iterations() else { return };
    let p = fixture(&b);
    let (expected, _) = baseline(&p);
    for i in 0..fewer(n) {
        let first = p.spawn(&["build"]);
        let second = p.spawn(&["build"]);
        for (which, child) in [("first", first), ("second", second)] {
            let run = Run::of(child.wait_with_output().unwrap());
            assert_eq!(
                run.code, 0,
                "two builds #{i}, {which}:\nstdout:\n{}\nstderr:\n{}",
                run.stdout, run.stderr
            );
        }
        assert_eq!(p.leftovers(&p.schema), Vec::<String>::new());
        check(
            &p,
            &expected,
            &format!("two builds #{i}"),
            &Run::of_nothing(),
        );
    }
}

fn connections_killed_by_the_server(b: Backend) {
    let Some(n) = iterations() else { return };
    if b == Backend::Sqlite {
        return; // an embedded database has no server
    }
    let p = fixture(&b);
    let (expected, took) = baseline(&p);
    let mut moments = Moments::new("connections_killed_by_the_server");
    // The run's connections: on PostgreSQL those whose statements name the schema (the
    // target's lock runs none), on MySQL those using the schema.
    let sessions = match &b {
        Backend::Postgres(_) => format!(
            "select pid from pg_stat_activity where query like '%{}%' and pid <> pg_backend_pid() and query not like '%pg_stat_activity%'",
            p.schema
        ),
        _ => format!(
            "select id from information_schema.processlist where db = '{}' and id <> connection_id()",
            p.schema
        ),
    };
    for i in 0..fewer(n) {
        let delay = moments.upto(took);
        let child = p.spawn(&["build"]);
        std::thread::sleep(delay);
        let mut killed = 0;
        for row in p.try_query(&sessions).unwrap_or_default() {
            let Some(id) = row.first().and_then(Value::as_f64) else {
                continue;
            };
            let kill = match &b {
                Backend::Postgres(_) => format!("select pg_terminate_backend({id})"),
                _ => format!("kill {id}"),
            };
            if p.try_query(&kill).is_ok() {
                killed += 1;
            }
        }
        let run = Run::of(child.wait_with_output().unwrap());
        let what = format!("{killed} connections killed #{i} after {delay:?}");
        // A killed connection fails its node (exit 1) or, before any node ran, the command
        // (exit 2); never a crash.
        assert!(matches!(run.code, 0..=2), "{what}: {run:?}");
        check(&p, &expected, &what, &run);
    }
}
