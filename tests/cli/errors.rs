//! Bad input: every broken fixture under tests/fixtures/errors gives exit code 2 and a message
//! with file:line:col, the quoted line and a hint. The messages are snapshot-tested.

use crate::support::{TempProject, fixture_path};

/// stderr without the timestamped log lines (`12:00:01  Running with kiln=...`): the
/// diagnostics alone.
fn diagnostics(stderr: &str) -> String {
    let timestamped = |l: &str| {
        let b = l.as_bytes();
        b.len() >= 10 && b[2] == b':' && b[5] == b':' && &l[8..10] == "  "
    };
    let kept: Vec<&str> = stderr.lines().filter(|l| !timestamped(l)).collect();
    let mut text = kept.join("\n");
    if stderr.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Runs `kiln compile` on each error fixture and snapshots what the user sees.
#[test]
fn error_fixtures_report_file_line_and_hint() {
    let dir = fixture_path("errors");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 8, "fixtures missing: {names:?}");
    for name in names {
        let p = TempProject::fixture(&format!("errors/{name}"));
        let run = p.kiln(&["compile"]);
        assert_eq!(run.code, 2, "{name}: expected exit 2, got {run:?}");
        assert!(
            !run.stderr.contains("panicked"),
            "{name} panicked: {}",
            run.stderr
        );
        insta::assert_snapshot!(format!("error_{name}"), diagnostics(&run.stderr));
    }
}

#[test]
fn missing_project_file_says_where_and_what_to_do() {
    let p = TempProject::with_files(&[("models/a.sql", "select 1")]);
    let run = p.kiln(&["parse"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no project.yml or dbt_project.yml"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("kiln init"), "{}", run.stderr);
}

#[test]
fn bad_vars_flag_is_a_usage_error() {
    let p = TempProject::fixture("jaffle");
    let run = p.kiln(&["parse", "--vars", "{unclosed"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--vars"), "{}", run.stderr);
}

#[test]
fn unknown_flag_exits_2() {
    let p = TempProject::fixture("jaffle");
    let run = p.kiln(&["parse", "--no-such-flag"]);
    assert_eq!(run.code, 2);
}

#[test]
fn json_log_format_prints_one_event_per_error() {
    let p = TempProject::fixture("errors/many_errors");
    let run = p.kiln(&["parse", "--log-format", "json"]);
    assert_eq!(run.code, 2);
    // The error events are in the log stream on stdout, in dbt's shape.
    assert_eq!(run.stderr, "");
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .filter(|e: &serde_json::Value| e["info"]["level"] == "error")
        .collect();
    assert_eq!(events.len(), 4, "{events:?}");
    for e in &events {
        assert_eq!(e["info"]["name"], "MainEncounteredError");
        assert_eq!(e["info"]["code"], "Z002");
        assert!(
            e["info"]["msg"]
                .as_str()
                .unwrap()
                .starts_with("Encountered an error:\n")
        );
        assert!(e["data"]["file"].as_str().unwrap().starts_with("models/"));
        assert!(e["data"]["line"].as_u64().unwrap() >= 1);
        assert!(e["data"]["exc"].is_string());
    }
}

/// `build` checks each model's SQL as `compile` does, before the database sees it: the error is
/// at the template's line, the model is not sent, and the rest builds.
#[test]
fn build_reports_a_sql_syntax_error_at_its_line_without_sending_it() {
    let p = TempProject::fixture("errors/sql_syntax");
    let run = p.kiln(&["build"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("SQL syntax error in broken: expected end of statement"),
        "{all}"
    );
    assert!(all.contains("models/broken.sql:5"), "{all}");
    assert!(!all.contains("Database Error"), "{all}");
    // base built; broken was never created.
    assert_eq!(p.relation_kind(&p.schema, "base").as_deref(), Some("view"));
    assert_eq!(p.relation_kind(&p.schema, "broken"), None);
    // Its run_results entry records no statement sent to the database.
    let results: serde_json::Value =
        serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    let broken = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unique_id"] == "model.sql_syntax.broken")
        .cloned()
        .unwrap_or_default();
    assert_eq!(broken["status"], "error", "{results}");
}

/// A template error names the file and line of the node it is in, counted from the top of the
/// file: a snapshot's body starts below its `{% snapshot %}` line, and an error in a macro a
/// generic test calls names the macro's line and the properties file of the test.
#[test]
fn template_errors_in_nodes_are_placed_in_their_files() {
    let p = TempProject::with_files(&[
        ("project.yml", "name: shop\nprofile: shop\n"),
        ("models/ok.sql", "select 1 as id"),
        (
            "snapshots/s.sql",
            "-- history\n\n{% snapshot s %}\n{{ config(unique_key='id', strategy='check', check_cols='all') }}\nselect id,\n  {{ no_such_macro() }} as x\nfrom {{ ref('ok') }}\n{% endsnapshot %}\n",
        ),
    ]);
    let run = p.kiln(&["parse"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`no_such_macro` is not a macro or function"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--> snapshots/s.sql:6:6"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(" 6 |   {{ no_such_macro() }} as x"),
        "{}",
        run.stderr
    );

    let p = TempProject::with_files(&[
        ("project.yml", "name: shop\nprofile: shop\n"),
        ("models/ok.sql", "select 1 as id"),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: ok\n    columns:\n      - name: id\n        tests:\n          - odd\n",
        ),
        (
            "macros/odd.sql",
            "{% test odd(model, column_name) %}\nselect * from {{ model }}\nwhere {{ undefined_helper(column_name) }}\n{% endtest %}\n",
        ),
    ]);
    let run = p.kiln(&["compile"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("(while rendering models/schema.yml)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--> macros/odd.sql:3:"),
        "{}",
        run.stderr
    );
}
