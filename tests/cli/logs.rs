//! Logs: dbt's JSON event stream on stdout, the log file under logs/, colours, and the
//! end-of-run recap that names each failure's file, line and the database's own message.

use crate::support::{Backend, TempProject};
use serde_json::Value;

const PROJECT: &str = "name: shop\nprofile: shop\n";

/// Every stdout line parsed as a JSON event; panics on a line that is not one.
fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// The events called `name`.
fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["info"]["name"] == name)
        .collect()
}

/// The one event called `name` about node `unique_id`.
fn node_event<'a>(events: &'a [Value], name: &str, unique_id: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["info"]["name"] == name && e["data"]["node_info"]["unique_id"] == unique_id)
        .unwrap_or_else(|| panic!("no {name} for {unique_id}"))
}

fn small_project() -> TempProject {
    TempProject::with_files(&[
        ("project.yml", PROJECT),
        ("models/m.sql", "select 1 as id, 'a' as name"),
        (
            "models/t.sql",
            "{{ config(materialized='table') }}\nselect * from {{ ref('m') }}",
        ),
    ])
}

#[test]
fn json_logs_are_dbt_events_on_stdout() {
    let p = small_project();
    let run = p.kiln(&["run", "--log-format", "json"]).ok();
    assert_eq!(run.stderr, "", "nothing but events, all on stdout");
    let evs = events(&run.stdout);
    let invocation = evs[0]["info"]["invocation_id"]
        .as_str()
        .unwrap()
        .to_string();
    for e in &evs {
        let info = &e["info"];
        for key in ["name", "code", "msg", "level", "ts", "thread", "category"] {
            assert!(info[key].is_string(), "info.{key} in {e}");
        }
        assert!(info["pid"].is_u64(), "{e}");
        assert_eq!(info["invocation_id"], invocation.as_str());
        assert!(e["data"].is_object(), "{e}");
        assert!(["debug", "info", "warn", "error"].contains(&info["level"].as_str().unwrap()));
    }
    // The invocation id is the one the artifacts carry.
    let results: Value = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    assert_eq!(results["metadata"]["invocation_id"], invocation.as_str());

    assert_eq!(evs[0]["info"]["name"], "MainReportVersion");
    assert_eq!(evs[0]["info"]["code"], "A001");
    let start = node_event(&evs, "LogStartLine", "model.shop.m");
    assert_eq!(start["info"]["code"], "Q011");
    assert_eq!(start["info"]["level"], "info");
    assert_eq!(start["info"]["thread"], "Thread-1 (worker)");
    assert_eq!(start["data"]["index"], 1);
    assert_eq!(start["data"]["total"], 2);
    assert_eq!(start["data"]["description"], "sql view model main.m");
    let msg = start["info"]["msg"].as_str().unwrap();
    assert!(
        msg.starts_with("1 of 2 START sql view model main.m ....."),
        "{msg}"
    );
    assert!(msg.ends_with(" [RUN]"), "{msg}");
    assert_eq!(
        msg.find(" [RUN]"),
        Some(80),
        "dbt pads to 80 columns: {msg}"
    );
    assert_eq!(start["data"]["node_info"]["node_status"], "started");

    let done = node_event(&evs, "LogModelResult", "model.shop.t");
    assert_eq!(done["info"]["code"], "Q012");
    assert_eq!(done["data"]["status"], "SELECT 1");
    let msg = done["info"]["msg"].as_str().unwrap();
    assert!(
        msg.starts_with("2 of 2 OK created sql table model main.t ..."),
        "{msg}"
    );
    assert!(msg.contains(" [SELECT 1 in "), "{msg}");
    let info = &done["data"]["node_info"];
    assert_eq!(info["node_name"], "t");
    assert_eq!(info["node_path"], "t.sql");
    assert_eq!(info["unique_id"], "model.shop.t");
    assert_eq!(info["resource_type"], "model");
    assert_eq!(info["materialized"], "table");
    assert_eq!(info["node_status"], "success");
    assert!(info["meta"].is_object());
    assert!(!info["node_started_at"].as_str().unwrap().is_empty());
    assert!(!info["node_finished_at"].as_str().unwrap().is_empty());
    assert_eq!(info["node_relation"]["schema"], "main");
    assert_eq!(info["node_relation"]["alias"], "t");
    assert!(info["node_relation"]["database"].is_string());
    assert!(
        info["node_relation"]["relation_name"]
            .as_str()
            .unwrap()
            .contains("\"t\""),
        "{info}"
    );
    // The closing lines.
    let stats = named(&evs, "StatsLine");
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0]["info"]["code"], "Z023");
    assert_eq!(
        stats[0]["info"]["msg"],
        "Done. PASS=2 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=2"
    );
    assert_eq!(
        named(&evs, "EndOfRunSummary")[0]["info"]["msg"],
        "Completed successfully"
    );
    assert_eq!(
        named(&evs, "FinishedRunningStats")[0]["info"]["code"],
        "E047"
    );
    assert_eq!(named(&evs, "ConcurrencyLine")[0]["info"]["code"], "Q027");
    // Node start and finish are debug events, as in dbt: not at the default level.
    assert!(named(&evs, "NodeStart").is_empty());
    assert!(named(&evs, "NodeFinished").is_empty());
}

#[test]
fn debug_json_logs_carry_node_start_finish_and_sql() {
    let p = small_project();
    let run = p
        .kiln(&["run", "--log-format", "json", "--log-level", "debug"])
        .ok();
    let evs = events(&run.stdout);
    let start = node_event(&evs, "NodeStart", "model.shop.t");
    assert_eq!(start["info"]["code"], "Q024");
    assert_eq!(start["info"]["level"], "debug");
    assert_eq!(start["info"]["msg"], "Began running node model.shop.t");
    let finished = node_event(&evs, "NodeFinished", "model.shop.t");
    assert_eq!(finished["info"]["code"], "Q025");
    assert_eq!(finished["data"]["run_result"]["status"], "success");
    assert_eq!(
        finished["data"]["run_result"]["thread"],
        "Thread-1 (worker)"
    );
    assert_eq!(finished["data"]["node_info"]["node_status"], "success");
    let sql = evs
        .iter()
        .find(|e| {
            e["info"]["name"] == "SQLQuery"
                && e["data"]["node_info"]["unique_id"] == "model.shop.t"
                && e["data"]["sql"].as_str().unwrap().contains("select * from")
        })
        .unwrap_or_else(|| panic!("no SQLQuery with the model's SQL: {}", run.stdout));
    assert_eq!(sql["info"]["code"], "E016");
    assert_eq!(sql["info"]["level"], "debug");
    assert!(
        sql["info"]["msg"]
            .as_str()
            .unwrap()
            .starts_with("On model.shop.t: "),
        "{sql}"
    );
    assert_eq!(named(&evs, "CommandCompleted")[0]["data"]["success"], true);
}

#[test]
fn json_build_logs_seeds_snapshots_tests_skips_and_the_recap() {
    let p = TempProject::fixture("jaffle");
    // A model that errors, and a model downstream of it.
    p.write(
        "models/broken.sql",
        "select no_such_function(1) from {{ ref('orders') }}",
    );
    p.write(
        "models/after_broken.sql",
        "select * from {{ ref('broken') }}",
    );
    let run = p.kiln(&["build", "--log-format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let evs = events(&run.stdout);
    let seed = node_event(&evs, "LogSeedResult", "seed.jaffle.raw_orders");
    assert_eq!(seed["info"]["code"], "Q016");
    assert_eq!(seed["data"]["status"], "INSERT 6");
    assert!(
        seed["info"]["msg"]
            .as_str()
            .unwrap()
            .contains("OK loaded seed file main.raw_orders"),
        "{seed}"
    );
    let snap = named(&evs, "LogSnapshotResult");
    assert_eq!(snap[0]["info"]["code"], "Q015");
    let tests = named(&evs, "LogTestResult");
    assert!(!tests.is_empty());
    for t in &tests {
        assert_eq!(t["info"]["code"], "Q007");
        assert!(t["data"]["num_models"].is_u64());
        assert_eq!(t["data"]["node_info"]["resource_type"], "test");
    }
    assert!(
        tests.iter().any(|t| t["data"]["status"] == "pass"
            && t["info"]["msg"].as_str().unwrap().contains(" PASS "))
    );
    let failed = node_event(&evs, "LogModelResult", "model.jaffle.broken");
    assert_eq!(failed["info"]["level"], "error");
    assert_eq!(failed["data"]["status"], "error");
    assert!(
        failed["info"]["msg"]
            .as_str()
            .unwrap()
            .contains("ERROR creating sql view model main.broken")
    );
    let skipped = node_event(&evs, "SkippingDetails", "model.jaffle.after_broken");
    assert_eq!(skipped["info"]["code"], "Q034");
    assert!(
        skipped["info"]["msg"]
            .as_str()
            .unwrap()
            .contains("SKIP relation main.after_broken")
    );
    let summary = named(&evs, "EndOfRunSummary");
    assert_eq!(summary[0]["data"]["num_errors"], 1);
    let heading = node_event(&evs, "RunResultFailure", "model.jaffle.broken");
    assert_eq!(heading["info"]["code"], "Z022");
    assert_eq!(
        heading["info"]["msg"],
        "Failure in model broken (models/broken.sql)"
    );
    let error = node_event(&evs, "RunResultError", "model.jaffle.broken");
    assert_eq!(error["info"]["code"], "Z024");
    assert_eq!(error["data"]["file"], "models/broken.sql");
    assert!(
        error["info"]["msg"]
            .as_str()
            .unwrap()
            .contains("Database Error in model broken (models/broken.sql)"),
        "{error}"
    );
    let path = node_event(&evs, "SQLCompiledPath", "model.jaffle.broken");
    assert_eq!(
        path["data"]["path"],
        "target/compiled/jaffle/models/broken.sql"
    );
    assert!(
        p.root
            .join("target/compiled/jaffle/models/broken.sql")
            .is_file()
    );
    let stats = &named(&evs, "StatsLine")[0]["data"]["stats"];
    assert_eq!(stats["error"], 1);
    assert_eq!(stats["skip"], 1);
}

#[test]
fn text_progress_goes_to_stdout_in_dbts_words() {
    let p = small_project();
    let run = p.kiln(&["run"]).ok();
    let lines = run.lines();
    assert!(
        lines[0].ends_with("  Running with kiln=0.1.0"),
        "{}",
        run.stdout
    );
    // `HH:MM:SS  message`, as dbt prints.
    assert_eq!(&lines[0][2..3], ":");
    let ok = lines
        .iter()
        .find(|l| l.contains("OK created sql table model main.t"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(ok.contains("...."), "{ok}");
    assert!(ok.contains(" [SELECT 1 in "), "{ok}");
    assert!(
        run.stdout.contains("Completed successfully"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Done. PASS=2 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=2"),
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains("OK created"), "{}", run.stderr);
    // Data commands keep stdout for their data.
    let ls = p.kiln(&["ls", "-o", "name"]).ok();
    assert_eq!(ls.lines(), vec!["m", "t"]);
    assert!(ls.stderr.contains("Running with kiln="), "{}", ls.stderr);
}

#[test]
fn the_log_file_is_written_under_logs_and_follows_its_flags() {
    let p = small_project();
    p.kiln(&["run"]).ok();
    let log = p.read("logs/kiln.log");
    let results: Value = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    let id = results["metadata"]["invocation_id"].as_str().unwrap();
    // dbt's header and debug lines, the SQL each node ran among them.
    assert!(log.contains(&format!("| {id} ====")), "{log}");
    assert!(
        log.contains(" [info ] [MainThread]: Running with kiln="),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains(" [debug] [Thread-1 (]: On model.shop.t: ")),
        "{log}"
    );
    assert!(log.contains("OK created sql table model main.t"), "{log}");

    // A second invocation appends.
    p.kiln(&["run"]).ok();
    assert_eq!(
        p.read("logs/kiln.log")
            .matches("Running with kiln=")
            .count(),
        2
    );

    // --log-path moves it; --log-level-file info leaves debug events out.
    p.kiln(&["run", "--log-path", "elsewhere", "--log-level-file", "info"])
        .ok();
    let moved = p.read("elsewhere/kiln.log");
    assert!(moved.contains("[info ]"), "{moved}");
    assert!(!moved.contains("[debug]"), "{moved}");

    // The environment variables dbt users set work too, and --log-format-file json.
    let run = p.kiln_env(
        &["run", "--log-format-file", "json"],
        &[("DBT_LOG_PATH", "from_dbt_env")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = p.read("from_dbt_env/kiln.log");
    let evs = events(&json);
    assert!(evs.iter().any(|e| e["info"]["name"] == "SQLQuery"));
    let run = p.kiln_env(&["run"], &[("KILN_LOG_PATH", "from_kiln_env")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(p.root.join("from_kiln_env/kiln.log").is_file());
    // --log-level-file none writes nothing.
    p.kiln(&["run", "--log-path", "none_dir", "--log-level-file", "none"])
        .ok();
    assert!(!p.root.join("none_dir/kiln.log").exists());
}

#[test]
fn debug_shows_the_sql_each_node_runs() {
    let p = small_project();
    let plain = p.kiln(&["run"]).ok();
    assert!(
        !plain.stdout.contains("On model.shop.t:"),
        "{}",
        plain.stdout
    );
    let run = p.kiln(&["run", "--debug"]).ok();
    assert!(run.stdout.contains("On model.shop.t: "), "{}", run.stdout);
    assert!(
        run.stdout.contains("select * from \"main\".\"m\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Began running node model.shop.t"),
        "{}",
        run.stdout
    );
    // --log-format debug gives each line its time, level and thread, as the log file has them.
    let run = p.kiln(&["run", "--debug", "--log-format", "debug"]).ok();
    assert!(
        run.lines()
            .iter()
            .any(|l| l.contains(" [debug] [Thread-1 (]: On model.shop.t: ")),
        "{}",
        run.stdout
    );
    assert!(
        run.lines()
            .iter()
            .any(|l| l.contains(" [info ] [MainThread]: Running with kiln=")),
        "{}",
        run.stdout
    );
}

#[test]
fn template_log_calls_are_jinja_log_events() {
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        (
            "models/m.sql",
            "{{ log('loud message', info=True) }}{{ log('quiet message') }}select 1 as id",
        ),
    ]);
    let run = p.kiln(&["run", "--log-format", "json"]).ok();
    let evs = events(&run.stdout);
    let info = named(&evs, "JinjaLogInfo");
    assert!(
        info.iter().any(|e| e["info"]["msg"] == "loud message"),
        "{}",
        run.stdout
    );
    assert_eq!(info[0]["info"]["code"], "I062");
    assert!(!run.stdout.contains("quiet message"));
    assert!(p.read("logs/kiln.log").contains("quiet message"));
}

#[test]
fn colours_follow_flags_and_environment() {
    let p = small_project();
    let escapes = |r: &crate::support::Run| r.stdout.contains("\x1b[");
    // The harness sets NO_COLOR=1, and stdout is a pipe: no colour.
    let run = p.kiln(&["run"]).ok();
    assert!(!escapes(&run), "{}", run.stdout);
    // CLICOLOR_FORCE colours even a pipe; NO_COLOR (set but empty counts as unset) wins over it.
    let forced = p.kiln_env(&["run"], &[("NO_COLOR", ""), ("CLICOLOR_FORCE", "1")]);
    assert!(escapes(&forced), "{}", forced.stdout);
    assert!(
        forced.stdout.contains("\x1b[32mSELECT 1\x1b[0m"),
        "{:?}",
        forced.stdout
    );
    let both = p.kiln_env(&["run"], &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]);
    assert!(!escapes(&both), "{}", both.stdout);
    // Flags win over the environment.
    let flag = p.kiln(&["run", "--use-colors"]);
    assert!(escapes(&flag), "{}", flag.stdout);
    for off in ["--no-use-colors", "--no-color"] {
        let run = p.kiln_env(&["run", off], &[("NO_COLOR", ""), ("CLICOLOR_FORCE", "1")]);
        assert!(!escapes(&run), "{off}: {}", run.stdout);
    }
    // The log file never has colour.
    assert!(!p.read("logs/kiln.log").contains("\x1b["));
}

#[test]
fn the_recap_lists_every_failure_and_warning_with_its_files() {
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        ("models/m.sql", "select 1 as id, 'a' as name"),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: id\n        data_tests:\n          - accepted_values:\n              values: [2]\n      - name: name\n        data_tests:\n          - accepted_values:\n              values: ['b']\n              config:\n                severity: warn\n",
        ),
        ("models/other.sql", "select 1 as id"),
        (
            "models/bad.sql",
            "select\n  lenght(id)\nfrom {{ ref('other') }}\n",
        ),
    ]);
    let run = p.kiln(&["build"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let out = &run.stdout;
    assert!(
        out.contains("Completed with 2 errors, 0 partial successes, and 1 warning:"),
        "{out}"
    );
    assert!(
        out.contains("Failure in model bad (models/bad.sql)"),
        "{out}"
    );
    assert!(
        out.contains("Database Error in model bad (models/bad.sql)"),
        "{out}"
    );
    assert!(out.contains("no such function: lenght"), "{out}");
    assert!(
        out.contains("  compiled code at target/compiled/shop/models/bad.sql"),
        "{out}"
    );
    assert!(
        out.contains("Failure in test accepted_values_m_id__2 (models/schema.yml)"),
        "{out}"
    );
    assert!(
        out.contains("Got 1 result, configured to fail if != 0"),
        "{out}"
    );
    assert!(
        out.contains("Warning in test accepted_values_m_name__b (models/schema.yml)"),
        "{out}"
    );
    assert!(
        out.contains("Got 1 result, configured to warn if != 0"),
        "{out}"
    );
    assert!(
        out.contains("Done. PASS=2 WARN=1 ERROR=2 SKIP=0 NO-OP=0 TOTAL=5"),
        "{out}"
    );
    // Errors come before warnings, as in dbt.
    assert!(out.find("Failure in test").unwrap() < out.find("Warning in test").unwrap());
    // The compiled SQL the recap points at is there.
    assert_eq!(
        p.read("target/compiled/shop/models/bad.sql").trim(),
        "select\n  lenght(id)\nfrom \"main\".\"other\""
    );
}

/// A column typo on line 7 of a model whose Jinja loop renders to more lines: the recap points
/// at the model's own line and column, quotes it, and keeps PostgreSQL's HINT.
#[test]
fn postgres_errors_are_mapped_to_the_model_line_with_hint() {
    let Some(b) = Backend::postgres() else {
        return;
    };
    let model = "{{ config(materialized='table') }}\n{% set cols = ['id', 'name'] %}\nselect\n{% for c in cols %}\n  {{ c }},\n{% endfor %}\n  lenght(name)\nfrom {{ ref('m') }}\n";
    let p = TempProject::with_files_on(
        &[
            ("project.yml", PROJECT),
            ("models/m.sql", "select 1 as id, 'a' as name"),
            ("models/bad.sql", model),
            ("models/child.sql", "select * from {{ ref('bad') }}"),
        ],
        b,
    );
    let run = p.kiln(&["run"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let out = &run.stdout;
    assert!(
        out.contains("Failure in model bad (models/bad.sql)"),
        "{out}"
    );
    assert!(
        out.contains("function lenght(text) does not exist"),
        "{out}"
    );
    assert!(out.contains("--> models/bad.sql:7:3"), "{out}");
    assert!(out.contains(" 7 |   lenght(name)"), "{out}");
    assert!(
        out.contains("HINT:  No function matches the given name and argument types."),
        "{out}"
    );
    // The compiled file's line differs from the model's; the recap names both.
    let compiled = p.read("target/compiled/shop/models/bad.sql");
    let (line, text) = compiled
        .lines()
        .enumerate()
        .find(|(_, l)| l.trim() == "lenght(name)")
        .map(|(i, l)| (i + 1, l))
        .unwrap();
    assert_ne!(line, 7, "{compiled}");
    assert_eq!(text, "  lenght(name)");
    assert!(
        out.contains(&format!(
            "compiled code at target/compiled/shop/models/bad.sql:{line}:3"
        )),
        "{out}"
    );
    assert!(out.contains("SKIP relation"), "{out}");

    // The JSON event carries the same facts as fields.
    let run = p.kiln(&["run", "--log-format", "json"]);
    let evs = events(&run.stdout);
    let error = node_event(&evs, "RunResultError", "model.shop.bad");
    assert_eq!(error["data"]["file"], "models/bad.sql");
    assert_eq!(error["data"]["line"], 7);
    assert_eq!(error["data"]["col"], 3);
    assert_eq!(error["data"]["database_code"], "42883");
    assert!(
        error["data"]["database_hint"]
            .as_str()
            .unwrap()
            .contains("No function matches"),
        "{error}"
    );
}

/// The profile's password never reaches the console or the log file, even at debug level.
#[test]
fn the_log_file_holds_no_password() {
    let Some(b) = Backend::postgres() else {
        return;
    };
    let p = TempProject::with_files_on(
        &[("project.yml", PROJECT), ("models/m.sql", "select 1 as id")],
        b,
    );
    // Trust authentication ignores the password, so the run still connects.
    let profile = p.read("profiles.yml").replace(
        "      threads: 4\n",
        "      threads: 4\n      password: s3cret-pw\n",
    );
    p.write("profiles.yml", &profile);
    let run = p.kiln(&["run", "--debug"]).ok();
    assert!(!run.stdout.contains("s3cret-pw") && !run.stderr.contains("s3cret-pw"));
    let log = p.read("logs/kiln.log");
    assert!(log.contains("[debug]"), "{log}");
    assert!(!log.contains("s3cret-pw"), "{log}");
}
