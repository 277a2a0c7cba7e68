//! Execution, written once and run on every adapter: SQLite always, PostgreSQL and MySQL when
//! their test URLs are set. Every check reads the resulting tables back from the database.

use crate::support::{Backend, TempProject, n};
use serde_json::Value;

use crate::support::on_every_adapter;

on_every_adapter!(
    build_materializes_the_example_project,
    failing_test_skips_downstream_in_build_and_exits_1,
    a_failing_model_keeps_the_previous_table_and_skips_children,
    incremental_models_append_and_merge_new_rows,
    on_schema_change_fail_and_append_new_columns,
    snapshots_keep_history_across_three_runs,
    bad_seeds_name_the_line_and_load_nothing,
    hostile_seed_values_load_verbatim,
    json_logs_are_one_event_per_line,
    store_failures_keeps_failing_rows,
    hooks_run_around_models_and_the_run,
    fail_fast_stops_scheduling,
    show_prints_rows_of_a_model_and_of_inline_sql,
    test_thresholds_and_limits,
    ctrl_c_stops_scheduling_and_leaves_every_relation_in_place,
    rebuilding_a_table_keeps_views_that_read_it,
    cross_database_macros_return_the_same_values,
    templates_query_the_database_while_running,
    seed_hooks_run_around_the_load_and_whole_numbers_are_integer,
    debug_checks_the_connection_and_hides_passwords,
    a_refused_connection_exits_2_naming_host_and_port,
    a_killed_connection_fails_only_its_node,
    source_freshness_warns_and_errors_on_late_loads,
);

fn results(p: &TempProject) -> Value {
    serde_json::from_str(&p.read("target/run_results.json")).unwrap()
}

fn result_of(results: &Value, id_prefix: &str) -> Value {
    results["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unique_id"].as_str().unwrap().starts_with(id_prefix))
        .unwrap_or_else(|| panic!("{id_prefix} not in run_results"))
        .clone()
}

fn status_of(results: &Value, id: &str) -> String {
    result_of(results, id)["status"]
        .as_str()
        .unwrap()
        .to_string()
}

const PROJECT: &str = "name: shop\nprofile: shop\n";

fn build_materializes_the_example_project(b: Backend) {
    let p = TempProject::fixture_on("jaffle", b);
    let run = p.kiln(&["build"]).ok();
    assert!(run.stdout.contains("OK"), "{}", run.stdout);
    let s = p.schema.clone();
    // Seeds, views and tables hold the expected rows.
    assert_eq!(p.one("select count(*) from raw_orders"), n(6.0));
    assert_eq!(p.relation_kind(&s, "stg_orders").as_deref(), Some("view"));
    assert_eq!(p.relation_kind(&s, "orders").as_deref(), Some("table"));
    // The ephemeral model is never created.
    assert_eq!(p.relation_kind(&s, "stg_payments"), None);
    assert_eq!(
        p.query(
            "select customer_id, number_of_orders, customer_lifetime_value from customers order by customer_id"
        ),
        vec![
            vec![n(1.0), n(2.0), n(35.0)],
            vec![n(2.0), n(1.0), n(10.0)],
            vec![n(3.0), n(1.0), n(20.0)],
            vec![n(4.0), n(1.0), n(1.0)],
            vec![n(5.0), n(1.0), n(17.0)],
        ]
    );
    // The custom schema and the snapshot's target schema hold their relations.
    assert_eq!(
        p.one(&format!(
            "select count(*) from {}.revenue_by_day",
            p.custom_schema("finance")
        )),
        n(4.0)
    );
    assert_eq!(
        p.one(&format!(
            "select count(*) from {}.orders_snapshot where dbt_valid_to is null",
            p.custom_schema("snapshots")
        )),
        n(6.0)
    );
    // run_results.json records every node.
    let r = results(&p);
    assert_eq!(r["args"]["which"], "build");
    assert_eq!(status_of(&r, "model.jaffle.customers"), "success");
    assert_eq!(status_of(&r, "seed.jaffle.raw_orders"), "success");
    let orders = result_of(&r, "model.jaffle.orders");
    // dbt's conventions: the adapter's status line as the message, compile and execute steps.
    assert_eq!(orders["adapter_response"]["rows_affected"], 6);
    assert_eq!(orders["message"], "SELECT 6");
    let thread = orders["thread_id"].as_str().unwrap();
    assert!(
        thread.starts_with("Thread-") && thread.ends_with(" (worker)"),
        "{thread}"
    );
    assert_eq!(orders["compiled"], true);
    let steps: Vec<&str> = orders["timing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["compile", "execute"]);
    assert_eq!(
        result_of(&r, "model.jaffle.stg_orders")["message"],
        "CREATE VIEW"
    );
    let seed = result_of(&r, "seed.jaffle.raw_orders");
    assert_eq!(seed["message"], "INSERT 6");
    assert_eq!(seed["compiled"], Value::Null);
    assert_eq!(seed["relation_name"], Value::Null);
    let test = result_of(&r, "test.jaffle.unique_orders_order_id.");
    assert_eq!(test["message"], Value::Null);
    assert_eq!(test["failures"], 0);
    // Kiln's own record keeps the command and each node's summary.
    let kiln: Value = serde_json::from_str(&p.read("target/kiln_run_results.json")).unwrap();
    assert_eq!(kiln["command"], "build");
    assert_eq!(kiln["interrupted"], false);
    assert!(
        orders["compiled_code"]
            .as_str()
            .unwrap()
            .contains("__dbt__cte__stg_payments")
    );
    // The executed DDL is kept under target/run/.
    let ddl = p.read("target/run/jaffle/models/marts/orders.sql");
    assert!(ddl.contains("orders__kiln_tmp"), "{ddl}");
    // A second build swaps every table in place.
    p.kiln(&["build"]).ok();
    assert_eq!(p.one("select count(*) from customers"), n(5.0));
}

fn failing_test_skips_downstream_in_build_and_exits_1(b: Backend) {
    let p = TempProject::with_files_on(
        &[
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
        ],
        b,
    );
    let run = p.kiln(&["build"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains("FAIL"), "{}", run.stdout);
    let r = results(&p);
    let test = result_of(&r, "test.shop.unique_people_clean_id");
    assert_eq!(test["status"], "fail");
    assert_eq!(test["failures"], 1);
    assert_eq!(test["message"], "Got 1 result, configured to fail if != 0");
    assert_eq!(status_of(&r, "model.shop.people_report"), "skipped");
    // The worker that ran the failing test reports the node it skipped, as dbt's threads do.
    let skipped = result_of(&r, "model.shop.people_report");
    assert_eq!(skipped["thread_id"], test["thread_id"]);
    assert_eq!(skipped["message"], Value::Null);
    assert_eq!(skipped["adapter_response"], serde_json::json!({}));
    assert_eq!(status_of(&r, "model.shop.other"), "success");
    // The skipped model was never built.
    assert_eq!(p.relation_kind(&p.schema, "people_report"), None);
}

fn a_failing_model_keeps_the_previous_table_and_skips_children(b: Backend) {
    let p = TempProject::with_files_on(
        &[
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
        ],
        b,
    );
    p.kiln(&["run"]).ok();
    assert_eq!(p.one("select total from report"), n(30.0));
    // New SQL that fails at run time (unknown function), not at parse time.
    p.write(
        "models/totals.sql",
        "select 1 as id, no_such_function(1) as amount",
    );
    let run = p.kiln(&["run"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("no_such_function"), "{}", run.stdout);
    assert!(run.stdout.contains("models/totals.sql"), "{}", run.stdout);
    // The old table and its rows are still there; no temp table is left behind.
    assert_eq!(p.one("select sum(amount) from totals"), n(30.0));
    assert_eq!(p.leftovers(&p.schema), Vec::<String>::new());
    let r = results(&p);
    assert_eq!(status_of(&r, "model.shop.totals"), "error");
    assert_eq!(status_of(&r, "model.shop.report"), "skipped");
    // dbt words the error with the node and its file; Kiln's own file keeps file, line and kind.
    let message = result_of(&r, "model.shop.totals")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("Database Error in model totals (models/totals.sql)\n  "),
        "{message}"
    );
    assert!(message.contains("no_such_function"), "{message}");
    let kiln: Value = serde_json::from_str(&p.read("target/kiln_run_results.json")).unwrap();
    let error = kiln["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["unique_id"] == "model.shop.totals")
        .unwrap()["error"]
        .clone();
    assert_eq!(error["kind"], "database");
    assert_eq!(error["file"], "models/totals.sql");
}

fn incremental_models_append_and_merge_new_rows(b: Backend) {
    let p = TempProject::with_files_on(
        &[
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
            (
                "models/events_merged.sql",
                "{{ config(materialized='incremental', unique_key='id', incremental_strategy='merge') }}\nselect id, kind, at from {{ ref('events') }}",
            ),
        ],
        b,
    );
    p.kiln(&["build"]).ok();
    assert_eq!(p.one("select count(*) from events_append"), n(2.0));
    // New rows arrive; one existing row changes.
    p.write(
        "seeds/events.csv",
        "id,kind,at\n1,open,2024-01-01\n2,purchase,2024-01-02\n3,close,2024-01-03\n",
    );
    p.kiln(&["build"]).ok();
    // Append only added the row newer than what was there.
    assert_eq!(
        p.query("select id, kind from events_append order by id"),
        vec![
            vec![n(1.0), Value::from("open")],
            vec![n(2.0), Value::from("click")],
            vec![n(3.0), Value::from("close")],
        ]
    );
    // delete+insert and merge replaced row 2 and added row 3, without duplicates.
    for table in ["events_latest", "events_merged"] {
        assert_eq!(
            p.query(&format!("select id, kind from {table} order by id")),
            vec![
                vec![n(1.0), Value::from("open")],
                vec![n(2.0), Value::from("purchase")],
                vec![n(3.0), Value::from("close")],
            ],
            "{table}"
        );
    }
    // --full-refresh rebuilds from scratch.
    p.kiln(&["run", "--full-refresh", "-s", "events_append"])
        .ok();
    assert_eq!(
        p.one("select kind from events_append where id = 2"),
        "purchase"
    );
}

fn on_schema_change_fail_and_append_new_columns(b: Backend) {
    let p = TempProject::with_files_on(
        &[
            ("project.yml", PROJECT),
            (
                "models/strict.sql",
                "{{ config(materialized='incremental', on_schema_change='fail') }}\nselect 1 as id",
            ),
            (
                "models/growing.sql",
                "{{ config(materialized='incremental', on_schema_change='append_new_columns') }}\nselect 1 as id",
            ),
        ],
        b,
    );
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
    assert!(run.stdout.contains("on_schema_change"), "{}", run.stdout);
    assert_eq!(p.one("select count(*) from strict"), n(1.0));
    assert_eq!(
        p.query("select id, extra from growing order by id"),
        vec![vec![n(1.0), Value::Null], vec![n(2.0), Value::from("x")]]
    );
}

fn snapshots_keep_history_across_three_runs(b: Backend) {
    let p = TempProject::with_files_on(
        &[
            ("project.yml", PROJECT),
            (
                "seeds/customers.csv",
                "id,tier,updated_at\n1,bronze,2024-01-01\n2,silver,2024-01-01\n3,gold,2024-01-01\n",
            ),
            (
                "snapshots/customers_snapshot.sql",
                "{% snapshot customers_snapshot %}\n{{ config(target_schema=target.schema ~ '_snapshots', unique_key='id', strategy='timestamp', updated_at='updated_at', invalidate_hard_deletes=True) }}\nselect * from {{ ref('customers') }}\n{% endsnapshot %}\n",
            ),
            (
                "snapshots/tiers_snapshot.sql",
                "{% snapshot tiers_snapshot %}\n{{ config(target_schema=target.schema ~ '_snapshots', unique_key='id', strategy='check', check_cols=['tier']) }}\nselect id, tier from {{ ref('customers') }}\n{% endsnapshot %}\n",
            ),
        ],
        b,
    );
    let snap = p.custom_schema("snapshots");
    p.kiln(&["seed"]).ok();
    p.kiln(&["snapshot"]).ok();
    assert_eq!(
        p.one(&format!("select count(*) from {snap}.customers_snapshot")),
        n(3.0)
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
        p.query(&format!(
            "select tier, cast(dbt_valid_from as char(10)), cast(dbt_valid_to as char(10)) from {snap}.customers_snapshot where id = 1 order by dbt_valid_from"
        )),
        vec![
            vec![Value::from("bronze"), Value::from("2024-01-01"), Value::from("2024-02-01")],
            vec![Value::from("silver"), Value::from("2024-02-01"), Value::from("2024-03-01")],
            vec![Value::from("gold"), Value::from("2024-03-01"), Value::Null],
        ]
    );
    // The hard-deleted customer's current row was closed; the new one is current.
    assert_eq!(
        p.one(&format!(
            "select count(*) from {snap}.customers_snapshot where id = 3 and dbt_valid_to is null"
        )),
        n(0.0)
    );
    assert_eq!(
        p.one(&format!(
            "select count(*) from {snap}.customers_snapshot where id = 4 and dbt_valid_to is null"
        )),
        n(1.0)
    );
    // Every version has a distinct id.
    assert_eq!(
        p.one(&format!(
            "select count(distinct dbt_scd_id) - count(*) from {snap}.customers_snapshot"
        )),
        n(0.0)
    );
    // The check strategy recorded each tier change of customer 1.
    assert_eq!(
        p.query(&format!(
            "select tier from {snap}.tiers_snapshot where id = 1 order by dbt_valid_from"
        )),
        vec![
            vec![Value::from("bronze")],
            vec![Value::from("silver")],
            vec![Value::from("gold")]
        ]
    );
}

fn bad_seeds_name_the_line_and_load_nothing(b: Backend) {
    let cases: [(&[u8], &str, &str); 3] = [
        (
            b"id,name\n1,a\n2,b,extra\n3,c\n",
            "row has 3 fields but the header has 2",
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
        let p = TempProject::with_files_on(
            &[
                ("project.yml", PROJECT),
                ("seeds/items.csv", "id,name\n1,old\n"),
            ],
            b.clone(),
        );
        p.kiln(&["seed"]).ok();
        std::fs::write(p.root.join("seeds/items.csv"), csv).unwrap();
        let run = p.kiln(&["seed"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.stdout.contains(expected), "{expected}: {}", run.stdout);
        assert!(run.stdout.contains(location), "{location}: {}", run.stdout);
        // The previous table is untouched.
        assert_eq!(
            p.query("select id, name from items"),
            vec![vec![n(1.0), Value::from("old")]]
        );
    }
}

fn hostile_seed_values_load_verbatim(b: Backend) {
    let hostile = "Robert'); drop table students;--";
    let p = TempProject::with_files_on(
        &[
            ("project.yml", PROJECT),
            (
                "seeds/notes.csv",
                "id,note,flag,zip\n1,\"Robert'); drop table students;--\",true,02134\n2,\"semi;colon, and \"\"quotes\"\"\",false,10001\n3,{{ ref('x') }},,\n",
            ),
        ],
        b,
    );
    p.kiln(&["seed"]).ok();
    assert_eq!(p.one("select note from notes where id = 1"), hostile);
    assert_eq!(
        p.one("select note from notes where id = 2"),
        "semi;colon, and \"quotes\""
    );
    assert_eq!(
        p.one("select note from notes where id = 3"),
        "{{ ref('x') }}"
    );
    // Type inference: booleans, and leading zeros kept as text.
    assert_eq!(p.one("select flag from notes where id = 1"), n(1.0));
    assert_eq!(p.one("select zip from notes where id = 1"), "02134");
    assert_eq!(p.one("select flag from notes where id = 3"), Value::Null);
}

fn json_logs_are_one_event_per_line(b: Backend) {
    let p = TempProject::fixture_on("jaffle", b);
    let run = p
        .kiln(&["build", "--log-format", "json", "-s", "+customers"])
        .ok();
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let finished: Vec<&Value> = events
        .iter()
        .filter(|e| e["info"]["name"] == "LogModelResult")
        .collect();
    assert!(finished.iter().any(|e| {
        e["data"]["node_info"]["unique_id"] == "model.jaffle.orders"
            && e["data"]["node_info"]["node_status"] == "success"
    }));
    assert!(
        finished
            .iter()
            .all(|e| e["data"]["execution_time"].is_number())
    );
    let stats = events
        .iter()
        .find(|e| e["info"]["name"] == "StatsLine")
        .unwrap();
    assert_eq!(stats["data"]["stats"]["error"], 0);
    assert!(
        stats["data"]["stats"]["pass"].as_u64().unwrap() >= 7,
        "{stats}"
    );
}

fn store_failures_keeps_failing_rows(b: Backend) {
    let p = TempProject::with_files_on(
        &[
            ("project.yml", PROJECT),
            ("models/m.sql", "select 1 as id union all select null"),
            (
                "models/schema.yml",
                "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: id\n        data_tests:\n          - not_null:\n              config:\n                store_failures: true\n                severity: warn\n",
            ),
        ],
        b,
    );
    let run = p.kiln(&["build"]).ok();
    assert!(run.stdout.contains("WARN"), "{}", run.stdout);
    assert_eq!(
        p.one(&format!(
            "select count(*) from {}.not_null_m_id",
            p.custom_schema("kiln_test__audit")
        )),
        n(1.0)
    );
}

fn hooks_run_around_models_and_the_run(b: Backend) {
    let p = TempProject::with_files_on(
        &[
            (
                "project.yml",
                "name: shop\non-run-start:\n  - \"create table if not exists {{ target.schema }}.audit_log (event varchar(50))\"\non-run-end: \"insert into {{ target.schema }}.audit_log values ('end')\"\nmodels:\n  shop:\n    +post-hook: \"insert into {{ target.schema }}.audit_log values ('post {{ this.identifier }}')\"\n",
            ),
            (
                "models/m.sql",
                "{{ config(materialized='table', pre_hook=\"insert into \" ~ target.schema ~ \".audit_log values ('pre')\") }}\nselect 1 as id",
            ),
        ],
        b,
    );
    p.kiln(&["run"]).ok();
    assert_eq!(
        p.query("select event from audit_log order by event"),
        vec![
            vec![Value::from("end")],
            vec![Value::from("post m")],
            vec![Value::from("pre")]
        ]
    );
}

fn fail_fast_stops_scheduling(b: Backend) {
    let p = TempProject::with_files_on(
        &[
            ("project.yml", PROJECT),
            (
                "models/a_broken.sql",
                "{{ config(materialized='table') }}\nselect no_such from (select 1 as x) t",
            ),
            ("models/b.sql", "select 1 as x"),
            ("models/c.sql", "select * from {{ ref('b') }}"),
        ],
        b,
    );
    let run = p.kiln(&["run", "--fail-fast", "--threads", "1"]);
    assert_eq!(run.code, 1);
    let r = results(&p);
    assert_eq!(status_of(&r, "model.shop.a_broken"), "error");
    assert_eq!(status_of(&r, "model.shop.c"), "skipped");
    // `result:` selects from the last run: what errored, and what --fail-fast left unbuilt.
    p.write(
        "models/a_broken.sql",
        "{{ config(materialized='table') }}\nselect 1 as x",
    );
    let ls = p
        .kiln(&[
            "ls",
            "--resource-type",
            "model",
            "--output",
            "name",
            "-s",
            "result:error",
            "result:skipped",
        ])
        .ok();
    assert_eq!(
        ls.stdout.lines().collect::<Vec<_>>(),
        vec!["a_broken", "b", "c"]
    );
}

fn show_prints_rows_of_a_model_and_of_inline_sql(b: Backend) {
    let p = TempProject::fixture_on("jaffle", b);
    p.kiln(&["build"]).ok();
    let run = p
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

fn test_thresholds_and_limits(b: Backend) {
    let p = TempProject::with_files_on(
        &[
            ("project.yml", PROJECT),
            (
                "models/m.sql",
                "select 1 as id union all select 1 union all select 2 union all select 2 union all select 3 union all select 3",
            ),
            (
                "models/schema.yml",
                "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: id\n        data_tests:\n          - unique:\n              name: dupes_warn_only\n              config: {warn_if: '>1', error_if: '>5'}\n          - unique:\n              name: dupes_limited\n              config: {limit: 1}\n          - accepted_values:\n              values: [1, 2]\n              quote: false\n              config: {where: 'id < 3'}\n",
            ),
        ],
        b,
    );
    let run = p.kiln(&["build"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = results(&p);
    // 3 duplicated values: above warn_if (>1), below error_if (>5).
    let warn = result_of(&r, "test.shop.dupes_warn_only.");
    assert_eq!(warn["status"], "warn");
    assert_eq!(warn["failures"], 3);
    // `limit: 1` caps the failing rows counted.
    let limited = result_of(&r, "test.shop.dupes_limited.");
    assert_eq!(limited["status"], "fail");
    assert_eq!(limited["failures"], 1);
    // `where` keeps id 3 out of accepted_values, so it passes.
    assert_eq!(
        status_of(&r, "test.shop.accepted_values_m_id__False__1__2."),
        "pass"
    );
}

fn ctrl_c_stops_scheduling_and_leaves_every_relation_in_place(b: Backend) {
    let slow = match b {
        Backend::Sqlite => {
            "{{ config(materialized='table') }}\nwith recursive c(x) as (select 1 union all select x + 1 from c where x < {{ var('n', 10) }}) select count(*) as n from c"
        }
        Backend::Postgres(_) => {
            "{{ config(materialized='table') }}\nselect {{ var('n', 10) }} as n from (select pg_sleep({{ 0 if var('n', 10) == 10 else 3 }})) s"
        }
        Backend::Mysql(_) => {
            "{{ config(materialized='table') }}\nselect {{ var('n', 10) }} as n from (select sleep({{ 0 if var('n', 10) == 10 else 3 }}) as z) s"
        }
    };
    let p = TempProject::with_files_on(
        &[
            ("project.yml", PROJECT),
            ("models/a_slow.sql", slow),
            (
                "models/b_after.sql",
                "{{ config(materialized='table') }}\nselect n from {{ ref('a_slow') }}",
            ),
        ],
        b,
    );
    p.kiln(&["run"]).ok();
    assert_eq!(p.one("select n from b_after"), n(10.0));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "--threads", "1", "--vars", "{n: 20000000}"])
        .current_dir(&p.root)
        .env("HOME", &p.home)
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // Progress, and so the interruption, is on stdout.
    assert!(stdout.contains("Interrupted"), "{stdout}");
    assert!(
        stdout.contains("Exited because of keyboard interrupt"),
        "{stdout}"
    );
    let r = results(&p);
    let kiln: Value = serde_json::from_str(&p.read("target/kiln_run_results.json")).unwrap();
    assert_eq!(kiln["interrupted"], true);
    assert_eq!(status_of(&r, "model.shop.b_after"), "skipped");
    // A node that never started still names a thread, and has no timing.
    let skipped = result_of(&r, "model.shop.b_after");
    assert_eq!(skipped["thread_id"], "Thread-1 (worker)");
    assert_eq!(skipped["timing"], serde_json::json!([]));
    assert_eq!(skipped["compiled"], false);
    // Both tables exist: the slow one old or rebuilt, the skipped one untouched.
    assert_eq!(p.one("select n from b_after"), n(10.0));
    assert_eq!(p.one("select count(*) from a_slow"), n(1.0));
    assert_eq!(p.leftovers(&p.schema), Vec::<String>::new());
}

fn rebuilding_a_table_keeps_views_that_read_it(b: Backend) {
    let p = TempProject::with_files_on(
        &[
            ("project.yml", PROJECT),
            ("seeds/base.csv", "id\n1\n2\n"),
            (
                "models/base_table.sql",
                "{{ config(materialized='table') }}\nselect * from {{ ref('base') }}",
            ),
            (
                "models/base_view.sql",
                "select * from {{ ref('base_table') }}",
            ),
            (
                "models/view_of_view.sql",
                "select count(*) as n from {{ ref('base_view') }}",
            ),
        ],
        b,
    );
    p.kiln(&["build"]).ok();
    // Rebuild only the seed and the table: the views downstream must survive the swaps.
    p.write("seeds/base.csv", "id\n1\n2\n3\n");
    p.kiln(&["build", "-s", "base", "base_table"]).ok();
    assert_eq!(p.one("select n from view_of_view"), n(3.0));
}

fn cross_database_macros_return_the_same_values(b: Backend) {
    let p = TempProject::fixture_on("crossdb", b);
    p.kiln(&["build"]).ok();
    let row = &p.query(
        "select trunc_month, trunc_week, plus_month, days_between, months_between, last_day_month, \
         concatenated, hashed, second_part, b_position, s_length, replaced, right_two, n_text, \
         forty_two, n_bigint, n_numeric, n_float, escaped_text from xdb where id = 1",
    )[0];
    let expected = vec![
        Value::from("2024-02-01"),
        Value::from("2024-02-12"),
        Value::from("2024-03-15"),
        n(45.0),
        n(3.0),
        Value::from("2024-02-29"),
        Value::from("a-b-c!"),
        Value::from("7b193b3d33184464106f41ddf733783b"),
        Value::from("b"),
        n(3.0),
        n(5.0),
        Value::from("a+b+c"),
        Value::from("-c"),
        Value::from("3"),
        n(42.0),
        n(3.0),
        n(3.0),
        n(3.0),
        Value::from("it's"),
    ];
    let names = [
        "trunc_month",
        "trunc_week",
        "plus_month",
        "days_between",
        "months_between",
        "last_day_month",
        "concatenated",
        "hashed",
        "second_part",
        "b_position",
        "s_length",
        "replaced",
        "right_two",
        "n_text",
        "forty_two",
        "n_bigint",
        "n_numeric",
        "n_float",
        "escaped_text",
    ];
    for ((name, got), want) in names.iter().zip(row).zip(&expected) {
        assert_eq!(got, want, "{name}");
    }
    let hashes = p.query("select count(distinct hashed) from xdb");
    assert_eq!(hashes[0][0], n(1.0));
    assert_eq!(
        p.query("select letters, any_s, any_flag, except_rows, intersect_rows from xdb_agg"),
        vec![vec![
            Value::from("x,y,z"),
            Value::from("a-b-c"),
            n(1.0),
            n(1.0),
            n(1.0)
        ]]
    );
    assert_eq!(
        p.query("select count(*) from xdb where now_ts is not null")[0][0],
        n(3.0)
    );
}

fn templates_query_the_database_while_running(b: Backend) {
    let p = TempProject::with_files_on(
        &[
            ("project.yml", PROJECT),
            ("seeds/methods.csv", "id,method\n1,card\n2,cash\n3,card\n"),
            (
                "models/pivot.sql",
                "{% set rows = run_query('select distinct method from ' ~ ref('methods') ~ ' order by method') %}\n\
                 {% set methods = rows.columns[0].values if execute else [] %}\n\
                 {% set rel = adapter.get_relation(database=none, schema=target.schema, identifier='methods') %}\n\
                 {% set cols = adapter.get_columns_in_relation(ref('methods')) %}\n\
                 select\n\
                 {% for m in methods %}  sum(case when method = '{{ m }}' then 1 else 0 end) as {{ m }}_count,\n{% endfor %}\
                   '{{ rel.identifier if rel else 'missing' }}' as found,\n\
                   '{{ cols | map(attribute='name') | join('|') }}' as column_names\n\
                 from {{ ref('methods') }}",
            ),
        ],
        b,
    );
    p.kiln(&["build"]).ok();
    assert_eq!(
        p.query("select card_count, cash_count, found, column_names from pivot"),
        vec![vec![
            n(2.0),
            n(1.0),
            Value::from("methods"),
            Value::from("id|method")
        ]]
    );
}

fn debug_checks_the_connection_and_hides_passwords(b: Backend) {
    let p = TempProject::with_files_on(&[("project.yml", PROJECT)], b.clone());
    if let Backend::Postgres(_) = b {
        // Trust authentication ignores the password, so the connection still succeeds.
        let profile = p.read("profiles.yml").replace(
            "      threads: 4\n",
            "      threads: 4\n      password: s3cret-pw\n",
        );
        p.write("profiles.yml", &profile);
    }
    let run = p.kiln(&["debug"]).ok();
    assert!(run.stdout.contains("connection: ok"), "{}", run.stdout);
    let version_word = match b {
        Backend::Sqlite => "SQLite",
        Backend::Postgres(_) => "PostgreSQL",
        Backend::Mysql(_) => "MariaDB",
    };
    assert!(
        run.stdout.contains(version_word) || run.stdout.contains("MySQL"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("s3cret-pw") && !run.stderr.contains("s3cret-pw"));
    if let Backend::Postgres(_) = b {
        assert!(run.stdout.contains("password: ****"), "{}", run.stdout);
    }
}

fn a_refused_connection_exits_2_naming_host_and_port(b: Backend) {
    let p = TempProject::with_files_on(
        &[("project.yml", PROJECT), ("models/m.sql", "select 1 as x")],
        b.clone(),
    );
    let kind = match b {
        Backend::Sqlite => return, // the embedded database has no server to refuse
        Backend::Postgres(_) => "postgres",
        Backend::Mysql(_) => "mysql",
    };
    p.write(
        "profiles.yml",
        &format!(
            "shop:\n  target: t\n  outputs:\n    t:\n      type: {kind}\n      host: 127.0.0.1\n      port: 1\n      user: someone\n      password: hunter2-secret\n      dbname: test\n      schema: {}\n",
            p.schema
        ),
    );
    // Exit 2 at once, naming what was tried, never the password.
    let refused = || {
        let run = p.kiln(&["run"]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("cannot connect to {kind} at 127.0.0.1:1")),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("hunter2-secret"), "{}", run.stderr);
        run
    };
    let run = refused();
    // The first refusal is the answer: no waiting for a pool to time out.
    assert!(run.stderr.contains("refused"), "{}", run.stderr);
    assert!(!run.stderr.contains("timed out"), "{}", run.stderr);

    // A URL's port is the one used, and the one named: no default port overrides it.
    p.write(
        "profiles.yml",
        &format!(
            "shop:\n  target: t\n  outputs:\n    t:\n      type: {kind}\n      url: \"{kind}://someone:hunter2-secret@127.0.0.1:1/test\"\n      schema: {}\n",
            p.schema
        ),
    );
    refused();
    let debug = p.kiln(&["debug"]);
    assert!(debug.stdout.contains("port: 1\n"), "{}", debug.stdout);
}

fn a_killed_connection_fails_only_its_node(b: Backend) {
    let (sleep, kill) = match &b {
        Backend::Sqlite => return, // no server connection to kill
        Backend::Postgres(_) => (
            "select 1 as x from (select pg_sleep({{ var('wait', 0) }})) s",
            "select pg_terminate_backend(pid) from pg_stat_activity where query like '%pg_sleep(5)%' and pid <> pg_backend_pid()",
        ),
        // On MariaDB the sleeping statement could not be caught reliably mid-flight by
        // `KILL` from the test; the PostgreSQL case covers the behaviour.
        Backend::Mysql(_) => return,
    };
    let p = TempProject::with_files_on(
        &[
            (
                "project.yml",
                "name: shop\nmodels:\n  shop:\n    +materialized: table\n",
            ),
            ("models/victim.sql", sleep),
            ("models/bystander.sql", "select 2 as y"),
        ],
        b.clone(),
    );
    p.kiln(&["run"]).ok();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "--vars", "{wait: 5}"])
        .current_dir(&p.root)
        .env("HOME", &p.home)
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    p.query(kill);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // Only the killed node is in the recap.
    assert!(stdout.contains("Failure in model victim"), "{stdout}");
    assert!(!stdout.contains("Failure in model bystander"), "{stdout}");
    let r = results(&p);
    assert_eq!(status_of(&r, "model.shop.victim"), "error");
    assert_eq!(status_of(&r, "model.shop.bystander"), "success");
    // The killed model's previous table is intact and nothing half-built is left.
    assert_eq!(p.one("select x from victim"), n(1.0));
    assert_eq!(p.leftovers(&p.schema), Vec::<String>::new());
}

fn source_freshness_warns_and_errors_on_late_loads(b: Backend) {
    let at = |hours: i64| {
        (chrono::Utc::now() - chrono::Duration::minutes(hours * 60 + 5))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let p = TempProject::with_files_on(
        &[
            (
                "project.yml",
                "name: shop\nseeds:\n  shop:\n    +schema: raw\n",
            ),
            ("seeds/fresh.csv", &format!("id,loaded_at\n1,{}\n", at(0))),
            (
                "seeds/late.csv",
                &format!("id,loaded_at\n1,{}\n2,{}\n", at(30), at(2)),
            ),
            ("seeds/stale.csv", &format!("id,loaded_at\n1,{}\n", at(30))),
            (
                "models/sources.yml",
                "version: 2\nsources:\n  - name: raw\n    schema: \"{{ target.schema }}_raw\"\n    loaded_at_field: loaded_at\n    freshness:\n      warn_after: {count: 1, period: hour}\n      error_after: {count: 1, period: day}\n    tables:\n      - name: fresh\n      - name: late\n      - name: stale\n      - name: gone\n",
            ),
        ],
        b,
    );
    p.kiln(&["seed"]).ok();
    let run = p.kiln(&["source", "freshness"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains("ERROR STALE freshness of raw.stale"),
        "{}",
        run.stdout
    );
    let sources: Value = serde_json::from_str(&p.read("target/sources.json")).unwrap();
    let status = |id: &str| {
        sources["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["unique_id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("source.shop.raw.fresh"), "pass");
    assert_eq!(status("source.shop.raw.late"), "warn");
    assert_eq!(status("source.shop.raw.stale"), "error");
    // dbt's shapes: criteria with the filter, the adapter's response, compile and execute steps;
    // a table that cannot be queried is a runtime error with only its id, status and error.
    let late = sources["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unique_id"] == "source.shop.raw.late")
        .unwrap();
    assert_eq!(
        late["criteria"],
        serde_json::json!({
            "warn_after": {"count": 1, "period": "hour"},
            "error_after": {"count": 1, "period": "day"},
            "filter": null,
        })
    );
    assert_eq!(late["adapter_response"]["code"], "SELECT");
    assert_eq!(late["thread_id"], "Thread-1 (worker)");
    assert!(
        late["max_loaded_at"].as_str().unwrap().ends_with("+00:00"),
        "{late}"
    );
    assert!(late["max_loaded_at_time_ago_in_s"].as_f64().unwrap() > 7000.0);
    assert_eq!(late["timing"].as_array().unwrap().len(), 2);
    let gone = sources["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unique_id"] == "source.shop.raw.gone")
        .unwrap();
    assert_eq!(status("source.shop.raw.gone"), "runtime error");
    let mut keys: Vec<&String> = gone.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["error", "status", "unique_id"]);
    // Selecting only the fresh source passes.
    p.kiln(&["source", "freshness", "-s", "source:raw.fresh"])
        .ok();
}

fn seed_hooks_run_around_the_load_and_whole_numbers_are_integer(b: Backend) {
    let is_postgres = matches!(b, Backend::Postgres(_));
    let p = TempProject::with_files_on(
        &[
            (
                "project.yml",
                "name: hooks\nprofile: hooks\nseeds:\n  hooks:\n    +pre-hook: \"create table if not exists {{ target.schema }}.hook_log (n integer)\"\n    +post-hook:\n      - \"insert into {{ target.schema }}.hook_log (n) select count(*) from {{ this }}\"\n",
            ),
            ("seeds/numbers.csv", "id,big\n1,3000000000\n2,4000000000\n"),
        ],
        b,
    );
    p.kiln(&["seed"]).ok();
    p.kiln(&["seed"]).ok();
    // The post-hook ran after each load and saw the loaded rows.
    assert_eq!(
        p.query(&format!("select n from {}.hook_log", p.schema)),
        vec![vec![n(2.0)], vec![n(2.0)]]
    );
    if is_postgres {
        let types = p.query(&format!(
            "select column_name::text, data_type::text from information_schema.columns \
             where table_schema = '{}' and table_name = 'numbers' order by ordinal_position",
            p.schema
        ));
        assert_eq!(
            types,
            vec![
                vec![Value::from("id"), Value::from("integer")],
                vec![Value::from("big"), Value::from("bigint")],
            ]
        );
    }
}
