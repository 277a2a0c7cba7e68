//! Execution on the embedded SQLite default: every check reads the resulting tables back
//! through an independent SQLite connection, not through Kiln.

use crate::support::{Run, TempProject};
use serde_json::Value;

/// Runs a query against the project's SQLite files (every schema file attached) and returns
/// rows as JSON values.
fn query(p: &TempProject, sql: &str) -> Vec<Vec<Value>> {
    query_at(&p.root, sql)
}

/// [`query`] for a project at any directory.
fn query_at(root: &std::path::Path, sql: &str) -> Vec<Vec<Value>> {
    use sqlx::{ConnectOptions, Row, TypeInfo, ValueRef};
    let dir = root.join(".kiln");
    let sql = sql.to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.join("main.db"))
            .connect()
            .await
            .unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if let Some(schema) = name.strip_suffix(".db")
                && schema != "main"
            {
                sqlx::query(&format!(
                    "attach database '{}' as \"{schema}\"",
                    dir.join(&name).display()
                ))
                .execute(&mut conn)
                .await
                .unwrap();
            }
        }
        let rows = sqlx::query(&sql)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.iter()
            .map(|r| {
                (0..r.columns().len())
                    .map(|i| {
                        let raw = r.try_get_raw(i).unwrap();
                        if raw.is_null() {
                            return Value::Null;
                        }
                        match raw.type_info().name() {
                            "INTEGER" => Value::from(r.get::<i64, _>(i)),
                            "REAL" => Value::from(r.get::<f64, _>(i)),
                            _ => Value::from(r.get::<String, _>(i)),
                        }
                    })
                    .collect()
            })
            .collect()
    })
}

fn one(p: &TempProject, sql: &str) -> Value {
    query(p, sql)[0][0].clone()
}

fn results(p: &TempProject) -> Value {
    serde_json::from_str(&p.read("target/run_results.json")).unwrap()
}

fn status_of(results: &Value, id: &str) -> String {
    results["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unique_id"] == id)
        .unwrap_or_else(|| panic!("{id} not in run_results"))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

const PROJECT: &str = "name: shop\nprofile: shop\n";

#[test]
fn build_materializes_the_example_project() {
    let p = TempProject::fixture("jaffle");
    let run = p.kiln(&["build"]).ok();
    assert!(run.stderr.contains("OK"), "{}", run.stderr);
    // Seeds, views and tables hold the expected rows.
    assert_eq!(one(&p, "select count(*) from raw_orders"), 6);
    assert_eq!(
        one(
            &p,
            "select type from sqlite_master where name = 'stg_orders'"
        ),
        "view"
    );
    assert_eq!(
        one(&p, "select type from sqlite_master where name = 'orders'"),
        "table"
    );
    // The ephemeral model is never created.
    assert_eq!(
        one(
            &p,
            "select count(*) from sqlite_master where name = 'stg_payments'"
        ),
        0
    );
    assert_eq!(
        query(
            &p,
            "select customer_id, number_of_orders, customer_lifetime_value from customers order by customer_id"
        ),
        vec![
            vec![Value::from(1), Value::from(2), Value::from(35.0)],
            vec![Value::from(2), Value::from(1), Value::from(10.0)],
            vec![Value::from(3), Value::from(1), Value::from(20.0)],
            vec![Value::from(4), Value::from(1), Value::from(1.0)],
            vec![Value::from(5), Value::from(1), Value::from(17.0)],
        ]
    );
    // The custom schema is its own file, and the snapshot lives in its target schema.
    assert_eq!(
        one(&p, "select count(*) from main_finance.revenue_by_day"),
        4
    );
    assert_eq!(
        one(
            &p,
            "select count(*) from snapshots.orders_snapshot where dbt_valid_to is null"
        ),
        6
    );
    // run_results.json records every node.
    let r = results(&p);
    assert_eq!(r["command"], "build");
    assert_eq!(status_of(&r, "model.jaffle.customers"), "success");
    assert_eq!(status_of(&r, "seed.jaffle.raw_orders"), "success");
    let orders = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["unique_id"] == "model.jaffle.orders")
        .unwrap();
    assert_eq!(orders["rows_affected"], 6);
    assert!(
        orders["compiled_code"]
            .as_str()
            .unwrap()
            .contains("__dbt__cte__stg_payments")
    );
    // The executed DDL is kept under target/run/.
    let ddl = p.read("target/run/jaffle/models/marts/orders.sql");
    assert!(
        ddl.contains("create table \"main\".\"orders__kiln_tmp\""),
        "{ddl}"
    );
    assert!(ddl.contains("rename to \"orders\""), "{ddl}");
}

#[test]
fn failing_test_skips_downstream_in_build_and_exits_1() {
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        ("seeds/people.csv", "id,name\n1,a\n1,b\n2,c\n"),
        (
            "models/people_clean.sql",
            "select * from {{ ref('people') }}",
        ),
        (
            "models/people_report.sql",
            "select count(*) as n from {{ ref('people_clean') }}",
        ),
        ("models/other.sql", "select 1 as x"),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: people_clean\n    columns:\n      - name: id\n        data_tests: [unique]\n",
        ),
    ]);
    let run = p.kiln(&["build"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("FAIL"), "{}", run.stderr);
    let r = results(&p);
    let test_id = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| {
            x["unique_id"]
                .as_str()
                .unwrap()
                .starts_with("test.shop.unique_people_clean_id")
        })
        .unwrap();
    assert_eq!(test_id["status"], "fail");
    assert_eq!(test_id["failures"], 1);
    assert_eq!(status_of(&r, "model.shop.people_report"), "skipped");
    assert_eq!(status_of(&r, "model.shop.other"), "success");
    // The skipped model was never built.
    assert_eq!(
        one(
            &p,
            "select count(*) from sqlite_master where name = 'people_report'"
        ),
        0
    );
}

#[test]
fn a_failing_model_keeps_the_previous_table_and_skips_children() {
    let p = TempProject::with_files(&[
        (
            "project.yml",
            "name: shop\nmodels:\n  shop:\n    +materialized: table\n",
        ),
        (
            "models/totals.sql",
            "select 1 as id, 10 as amount union all select 2, 20",
        ),
        (
            "models/report.sql",
            "select sum(amount) as total from {{ ref('totals') }}",
        ),
    ]);
    p.kiln(&["run"]).ok();
    assert_eq!(one(&p, "select total from report"), 30);
    // New SQL that fails at run time (unknown column), not at parse time.
    p.write(
        "models/totals.sql",
        "select 1 as id, no_such_column as amount",
    );
    let run = p.kiln(&["run"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no_such_column"), "{}", run.stderr);
    assert!(run.stderr.contains("models/totals.sql"), "{}", run.stderr);
    // The old table and its rows are still there; no temp table is left behind.
    assert_eq!(one(&p, "select sum(amount) from totals"), 30);
    assert_eq!(
        one(
            &p,
            "select count(*) from sqlite_master where name like '%kiln_tmp%'"
        ),
        0
    );
    let r = results(&p);
    assert_eq!(status_of(&r, "model.shop.totals"), "error");
    assert_eq!(status_of(&r, "model.shop.report"), "skipped");
}

#[test]
fn incremental_models_append_and_merge_new_rows() {
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        (
            "seeds/events.csv",
            "id,kind,at\n1,open,2024-01-01\n2,click,2024-01-02\n",
        ),
        (
            "models/events_append.sql",
            "{{ config(materialized='incremental') }}\nselect id, kind, at from {{ ref('events') }}\n{% if is_incremental() %}where at > (select max(at) from {{ this }}){% endif %}",
        ),
        (
            "models/events_latest.sql",
            "{{ config(materialized='incremental', unique_key='id', incremental_strategy='delete+insert') }}\nselect id, kind, at from {{ ref('events') }}",
        ),
    ]);
    p.kiln(&["build"]).ok();
    assert_eq!(one(&p, "select count(*) from events_append"), 2);
    // New rows arrive; one existing row changes.
    p.write(
        "seeds/events.csv",
        "id,kind,at\n1,open,2024-01-01\n2,purchase,2024-01-02\n3,close,2024-01-03\n",
    );
    p.kiln(&["build"]).ok();
    // Append only added the row newer than what was there.
    assert_eq!(
        query(&p, "select id, kind from events_append order by id"),
        vec![
            vec![Value::from(1), Value::from("open")],
            vec![Value::from(2), Value::from("click")],
            vec![Value::from(3), Value::from("close")],
        ]
    );
    // delete+insert replaced row 2 and added row 3, without duplicates.
    assert_eq!(
        query(&p, "select id, kind from events_latest order by id"),
        vec![
            vec![Value::from(1), Value::from("open")],
            vec![Value::from(2), Value::from("purchase")],
            vec![Value::from(3), Value::from("close")],
        ]
    );
    // --full-refresh rebuilds from scratch.
    p.kiln(&["run", "--full-refresh", "-s", "events_append"])
        .ok();
    assert_eq!(
        one(&p, "select kind from events_append where id = 2"),
        "purchase"
    );
}

#[test]
fn on_schema_change_fail_and_append_new_columns() {
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        (
            "models/strict.sql",
            "{{ config(materialized='incremental', on_schema_change='fail') }}\nselect 1 as id",
        ),
        (
            "models/growing.sql",
            "{{ config(materialized='incremental', on_schema_change='append_new_columns') }}\nselect 1 as id",
        ),
    ]);
    p.kiln(&["run"]).ok();
    p.write(
        "models/strict.sql",
        "{{ config(materialized='incremental', on_schema_change='fail') }}\nselect 2 as id, 'x' as extra",
    );
    p.write(
        "models/growing.sql",
        "{{ config(materialized='incremental', on_schema_change='append_new_columns') }}\nselect 2 as id, 'x' as extra",
    );
    let run = p.kiln(&["run"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("on_schema_change"), "{}", run.stderr);
    assert_eq!(one(&p, "select count(*) from strict"), 1);
    assert_eq!(
        query(&p, "select id, extra from growing order by id"),
        vec![
            vec![Value::from(1), Value::Null],
            vec![Value::from(2), Value::from("x")]
        ]
    );
}

#[test]
fn snapshots_keep_history_across_three_runs() {
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        (
            "seeds/customers.csv",
            "id,tier,updated_at\n1,bronze,2024-01-01\n2,silver,2024-01-01\n3,gold,2024-01-01\n",
        ),
        (
            "snapshots/customers_snapshot.sql",
            "{% snapshot customers_snapshot %}\n{{ config(target_schema='snapshots', unique_key='id', strategy='timestamp', updated_at='updated_at', invalidate_hard_deletes=True) }}\nselect * from {{ ref('customers') }}\n{% endsnapshot %}\n",
        ),
        (
            "snapshots/tiers_snapshot.sql",
            "{% snapshot tiers_snapshot %}\n{{ config(target_schema='snapshots', unique_key='id', strategy='check', check_cols=['tier']) }}\nselect id, tier from {{ ref('customers') }}\n{% endsnapshot %}\n",
        ),
    ]);
    p.kiln(&["seed"]).ok();
    p.kiln(&["snapshot"]).ok();
    assert_eq!(
        one(&p, "select count(*) from snapshots.customers_snapshot"),
        3
    );
    // Run 2: customer 1 is upgraded; customer 4 arrives.
    p.write(
        "seeds/customers.csv",
        "id,tier,updated_at\n1,silver,2024-02-01\n2,silver,2024-01-01\n3,gold,2024-01-01\n4,bronze,2024-02-01\n",
    );
    p.kiln(&["seed"]).ok();
    p.kiln(&["snapshot"]).ok();
    // Run 3: customer 1 upgraded again; customer 3 deleted.
    p.write(
        "seeds/customers.csv",
        "id,tier,updated_at\n1,gold,2024-03-01\n2,silver,2024-01-01\n4,bronze,2024-02-01\n",
    );
    p.kiln(&["seed"]).ok();
    p.kiln(&["snapshot"]).ok();
    assert_eq!(
        query(
            &p,
            "select tier, dbt_valid_from, dbt_valid_to from snapshots.customers_snapshot where id = 1 order by dbt_valid_from"
        ),
        vec![
            vec![
                Value::from("bronze"),
                Value::from("2024-01-01"),
                Value::from("2024-02-01")
            ],
            vec![
                Value::from("silver"),
                Value::from("2024-02-01"),
                Value::from("2024-03-01")
            ],
            vec![Value::from("gold"), Value::from("2024-03-01"), Value::Null],
        ]
    );
    // The hard-deleted customer's current row was closed; the new one is current.
    assert_eq!(
        one(
            &p,
            "select count(*) from snapshots.customers_snapshot where id = 3 and dbt_valid_to is null"
        ),
        0
    );
    assert_eq!(
        one(
            &p,
            "select count(*) from snapshots.customers_snapshot where id = 4 and dbt_valid_to is null"
        ),
        1
    );
    // Every version has a distinct id.
    assert_eq!(
        one(
            &p,
            "select count(distinct dbt_scd_id) = count(*) from snapshots.customers_snapshot"
        ),
        1
    );
    // The check strategy recorded each tier change of customer 1.
    assert_eq!(
        query(
            &p,
            "select tier from snapshots.tiers_snapshot where id = 1 order by dbt_valid_from, tier"
        ),
        vec![
            vec![Value::from("bronze")],
            vec![Value::from("silver")],
            vec![Value::from("gold")]
        ]
    );
}

fn seed_project(csv: &[u8]) -> TempProject {
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        ("seeds/items.csv", "id,name\n1,old\n"),
    ]);
    p.kiln(&["seed"]).ok();
    std::fs::write(p.root.join("seeds/items.csv"), csv).unwrap();
    p
}

#[test]
fn bad_seeds_name_the_line_and_load_nothing() {
    let cases: [(&[u8], &str, &str); 3] = [
        (
            b"id,name\n1,a\n2\n3,c\n",
            "row has 1 fields but the header has 2",
            "seeds/items.csv:3",
        ),
        (
            b"id,name\n1,a\n2,\xff\xfe\n",
            "not valid UTF-8",
            "seeds/items.csv:3",
        ),
        (
            b"id,name\n1,a\n2,\"open\n3,c\n",
            "seeds/items.csv",
            "never closed",
        ),
    ];
    for (csv, expected, location) in cases {
        let p = seed_project(csv);
        let run = p.kiln(&["seed"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.stderr.contains(expected), "{expected}: {}", run.stderr);
        assert!(run.stderr.contains(location), "{location}: {}", run.stderr);
        // The previous table is untouched.
        assert_eq!(
            query(&p, "select id, name from items"),
            vec![vec![Value::from(1), Value::from("old")]]
        );
    }
}

#[test]
fn hostile_seed_values_load_verbatim() {
    let hostile = "Robert'); drop table students;--";
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        (
            "seeds/notes.csv",
            "id,note,flag,zip\n1,\"Robert'); drop table students;--\",true,02134\n2,\"semi;colon, and \"\"quotes\"\"\",false,10001\n3,{{ ref('x') }},,\n",
        ),
    ]);
    p.kiln(&["seed"]).ok();
    assert_eq!(one(&p, "select note from notes where id = 1"), hostile);
    assert_eq!(
        one(&p, "select note from notes where id = 2"),
        "semi;colon, and \"quotes\""
    );
    assert_eq!(
        one(&p, "select note from notes where id = 3"),
        "{{ ref('x') }}"
    );
    // Type inference: booleans, and leading zeros kept as text.
    assert_eq!(one(&p, "select flag from notes where id = 1"), 1);
    assert_eq!(one(&p, "select zip from notes where id = 1"), "02134");
    assert_eq!(one(&p, "select flag from notes where id = 3"), Value::Null);
}

#[test]
fn json_logs_are_one_event_per_line() {
    let p = TempProject::fixture("jaffle");
    let run = p
        .kiln(&["build", "--log-format", "json", "-s", "+customers"])
        .ok();
    let events: Vec<Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let finished: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "node_finished")
        .collect();
    assert!(
        finished
            .iter()
            .any(|e| e["unique_id"] == "model.jaffle.orders" && e["status"] == "success")
    );
    assert!(finished.iter().all(|e| e["execution_time"].is_number()));
    let summary = events.iter().find(|e| e["event"] == "summary").unwrap();
    assert_eq!(summary["counts"]["success"], 7);
}

#[test]
fn store_failures_keeps_failing_rows() {
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        ("models/m.sql", "select 1 as id union all select null"),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: id\n        data_tests:\n          - not_null:\n              config:\n                store_failures: true\n                severity: warn\n",
        ),
    ]);
    let run = p.kiln(&["build"]).ok();
    assert!(run.stderr.contains("WARN"), "{}", run.stderr);
    assert_eq!(
        one(
            &p,
            "select count(*) from main_kiln_test__audit.not_null_m_id"
        ),
        1
    );
}

#[test]
fn hooks_run_around_models_and_the_run() {
    let p = TempProject::with_files(&[
        (
            "project.yml",
            "name: shop\non-run-start:\n  - \"create table if not exists audit_log (event text)\"\non-run-end: \"insert into audit_log values ('end')\"\nmodels:\n  shop:\n    +post-hook: \"insert into audit_log values ('post {{ this.identifier }}')\"\n",
        ),
        (
            "models/m.sql",
            "{{ config(materialized='table', pre_hook=\"insert into audit_log values ('pre')\") }}\nselect 1 as id",
        ),
    ]);
    p.kiln(&["run"]).ok();
    assert_eq!(
        query(&p, "select event from audit_log order by rowid"),
        vec![
            vec![Value::from("pre")],
            vec![Value::from("post m")],
            vec![Value::from("end")]
        ]
    );
}

#[test]
fn fail_fast_stops_scheduling() {
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        ("models/a_broken.sql", "select no_such from (select 1 as x)"),
        ("models/b.sql", "select 1 as x"),
        ("models/c.sql", "select * from {{ ref('b') }}"),
    ]);
    let run = p.kiln(&["run", "--fail-fast", "--threads", "1"]);
    assert_eq!(run.code, 1);
    let r = results(&p);
    assert_eq!(status_of(&r, "model.shop.a_broken"), "error");
    assert_eq!(status_of(&r, "model.shop.c"), "skipped");
}

#[test]
fn show_prints_rows_of_a_model_and_of_inline_sql() {
    let p = TempProject::fixture("jaffle");
    p.kiln(&["build"]).ok();
    let run: Run = p
        .kiln(&[
            "show",
            "-s",
            "customers",
            "--limit",
            "2",
            "--output",
            "json",
        ])
        .ok();
    let rows: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert!(rows[0].get("customer_lifetime_value").is_some());
    let run = p
        .kiln(&[
            "show",
            "--inline",
            "select count(*) as n from {{ ref('orders') }}",
        ])
        .ok();
    assert!(run.stdout.contains("│ 6 │"), "{}", run.stdout);
}

#[test]
fn init_demo_builds_with_no_other_setup() {
    let p = TempProject::with_files(&[]);
    p.kiln(&["init", "demo"]).ok();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("build")
        .current_dir(p.root.join("demo"))
        .env("HOME", &p.home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        query_at(
            &p.root.join("demo"),
            "select sum(customers) from customers_by_month"
        )[0][0],
        4
    );
}

#[test]
fn test_thresholds_and_limits() {
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        (
            "models/m.sql",
            "select 1 as id union all select 1 union all select 2 union all select 2 union all select 3 union all select 3",
        ),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: id\n        data_tests:\n          - unique:\n              name: dupes_warn_only\n              config: {warn_if: '>1', error_if: '>5'}\n          - unique:\n              name: dupes_limited\n              config: {limit: 1}\n          - accepted_values:\n              values: [1, 2]\n              quote: false\n              config: {where: 'id < 3'}\n",
        ),
    ]);
    let run = p.kiln(&["build"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = results(&p);
    let by_name = |name: &str| {
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| {
                x["unique_id"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("test.shop.{name}."))
            })
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    };
    // 3 duplicated values: above warn_if (>1), below error_if (>5).
    assert_eq!(by_name("dupes_warn_only")["status"], "warn");
    assert_eq!(by_name("dupes_warn_only")["failures"], 3);
    // `limit: 1` caps the failing rows counted.
    assert_eq!(by_name("dupes_limited")["status"], "fail");
    assert_eq!(by_name("dupes_limited")["failures"], 1);
    // `where` keeps id 3 out of accepted_values, so it passes.
    assert_eq!(
        by_name("accepted_values_m_id__False__1__2")["status"],
        "pass"
    );
}

#[test]
fn ctrl_c_stops_scheduling_and_leaves_every_relation_in_place() {
    let slow = "{{ config(materialized='table') }}\nwith recursive c(x) as (select 1 union all select x + 1 from c where x < {{ var('n', 10) }}) select count(*) as n from c";
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        ("models/a_slow.sql", slow),
        (
            "models/b_after.sql",
            "{{ config(materialized='table') }}\nselect n from {{ ref('a_slow') }}",
        ),
    ]);
    p.kiln(&["run"]).ok();
    assert_eq!(one(&p, "select n from b_after"), 10);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "--threads", "1", "--vars", "{n: 20000000}"])
        .current_dir(&p.root)
        .env("HOME", &p.home)
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Interrupted"), "{stderr}");
    let r = results(&p);
    assert_eq!(r["interrupted"], true);
    assert_eq!(status_of(&r, "model.shop.b_after"), "skipped");
    // Both tables exist: the slow one either old or rebuilt, the skipped one untouched.
    assert_eq!(one(&p, "select n from b_after"), 10);
    assert_eq!(one(&p, "select count(*) from a_slow"), 1);
    assert_eq!(
        one(
            &p,
            "select count(*) from sqlite_master where name like '%kiln_tmp%'"
        ),
        0
    );
}
