//! Slim CI and the flags dbt users reach for: `--defer` and `--favor-state`, `kiln retry`,
//! `kiln clone`, `selectors.yml`, `--empty`, `--warn-error`, `--target-path`, resource-type
//! filters, `compile -s`/`--inline`, `ls --output-keys` and the examples in `--help`.

use crate::support::{Backend, TempProject, copy_dir, n};
use serde_json::Value;

/// The jaffle fixture with a `prod` and a `dev` target in one profile, on `b`.
fn jaffle_with_prod_and_dev(b: Backend) -> (TempProject, String, String) {
    let p = TempProject::fixture_on("jaffle", b.clone());
    let (prod, dev) = match &b {
        Backend::Sqlite => ("prod".to_string(), "dev".to_string()),
        _ => (format!("{}_prod", p.schema), format!("{}_dev", p.schema)),
    };
    let output = |schema: &str| match &b {
        Backend::Sqlite => format!("      type: sqlite\n      schema: {schema}\n"),
        Backend::Postgres(url) => {
            format!("      type: postgres\n      url: \"{url}\"\n      schema: {schema}\n")
        }
        Backend::Mysql(url) => {
            format!("      type: mysql\n      url: \"{url}\"\n      schema: {schema}\n")
        }
    };
    p.write(
        "profiles.yml",
        &format!(
            "jaffle:\n  target: dev\n  outputs:\n    prod:\n{}    dev:\n{}",
            output(&prod),
            output(&dev)
        ),
    );
    (p, prod, dev)
}

/// The message of each result of the last run.
fn messages(p: &TempProject) -> Vec<String> {
    let v: Value = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap_or("").to_string())
        .collect()
}

mod sqlite {
    #[test]
    fn defer_reads_unselected_parents_from_the_state() {
        super::defer_reads_unselected_parents_from_the_state(crate::support::Backend::Sqlite)
    }
    #[test]
    fn clone_makes_the_target_from_the_state() {
        super::clone_makes_the_target_from_the_state(crate::support::Backend::Sqlite)
    }
}
mod postgres {
    #[test]
    fn defer_reads_unselected_parents_from_the_state() {
        if let Some(b) = crate::support::Backend::postgres() {
            super::defer_reads_unselected_parents_from_the_state(b)
        }
    }
    #[test]
    fn clone_makes_the_target_from_the_state() {
        if let Some(b) = crate::support::Backend::postgres() {
            super::clone_makes_the_target_from_the_state(b)
        }
    }
}
mod mysql {
    #[test]
    fn defer_reads_unselected_parents_from_the_state() {
        if let Some(b) = crate::support::Backend::mysql() {
            super::defer_reads_unselected_parents_from_the_state(b)
        }
    }
    #[test]
    fn clone_makes_the_target_from_the_state() {
        if let Some(b) = crate::support::Backend::mysql() {
            super::clone_makes_the_target_from_the_state(b)
        }
    }
}

fn defer_reads_unselected_parents_from_the_state(b: Backend) {
    let (p, prod, dev) = jaffle_with_prod_and_dev(b);
    p.kiln(&["build", "--target", "prod"]).ok();
    let state = p.root.join("prod-artifacts");
    copy_dir(&p.root.join("target"), &state);
    let customers_in_prod = p.one(&format!("select count(*) from {prod}.customers"));

    // Without --defer, customers' parents are missing in dev.
    let run = p.kiln(&["run", "-s", "customers"]);
    assert_eq!(run.code, 1, "{}", run.stderr);

    // With it, the unselected parents come from prod and only customers is built, in dev.
    let run = p
        .kiln(&[
            "run",
            "-s",
            "customers",
            "--defer",
            "--state",
            "prod-artifacts",
        ])
        .ok();
    assert!(run.stdout.contains("Deferring"), "{}", run.stdout);
    assert_eq!(
        p.statuses(),
        [("model.jaffle.customers".to_string(), "success".to_string())]
    );
    assert_eq!(
        p.one(&format!("select count(*) from {dev}.customers")),
        customers_in_prod
    );
    let sql = p.read("target/run/jaffle/models/marts/customers.sql");
    assert!(sql.contains(&prod) && sql.contains("orders"), "{sql}");

    // A parent built in dev is read from dev; --favor-state reads prod's anyway.
    p.kiln(&[
        "run",
        "-s",
        "stg_customers",
        "--defer",
        "--state",
        "prod-artifacts",
    ])
    .ok();
    p.kiln(&[
        "run",
        "-s",
        "customers",
        "--defer",
        "--state",
        "prod-artifacts",
    ])
    .ok();
    let sql = p.read("target/run/jaffle/models/marts/customers.sql");
    let stg = sql
        .lines()
        .find(|l| l.contains("stg_customers"))
        .unwrap()
        .to_string();
    assert!(stg.contains(&dev) && !stg.contains(&prod), "{sql}");
    p.kiln(&[
        "run",
        "-s",
        "customers",
        "--defer",
        "--favor-state",
        "--state",
        "prod-artifacts",
    ])
    .ok();
    let sql = p.read("target/run/jaffle/models/marts/customers.sql");
    let stg = sql
        .lines()
        .find(|l| l.contains("stg_customers"))
        .unwrap()
        .to_string();
    assert!(stg.contains(&prod), "{sql}");

    // --defer without artifacts to defer to is a usage error.
    let run = p.kiln(&["run", "-s", "customers", "--defer"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--defer needs"), "{}", run.stderr);
}

fn clone_makes_the_target_from_the_state(b: Backend) {
    let (p, prod, dev) = jaffle_with_prod_and_dev(b.clone());
    p.kiln(&["build", "--target", "prod"]).ok();
    let state = p.root.join("prod-artifacts");
    copy_dir(&p.root.join("target"), &state);
    let run = p
        .kiln(&[
            "clone",
            "--state",
            "prod-artifacts",
            "-s",
            "orders",
            "raw_orders",
        ])
        .ok();
    assert!(
        run.stdout.contains(&format!("OK clone {dev}.orders")),
        "{}",
        run.stdout
    );
    let made = match b {
        Backend::Sqlite => "SELECT",
        _ => "CREATE VIEW",
    };
    assert!(
        messages(&p).iter().all(|m| m.starts_with(made)),
        "{:?}",
        messages(&p)
    );
    assert_eq!(
        p.statuses(),
        [
            ("model.jaffle.orders".to_string(), "success".to_string()),
            ("seed.jaffle.raw_orders".to_string(), "success".to_string()),
        ]
    );
    assert_eq!(
        p.one(&format!("select count(*) from {dev}.orders")),
        p.one(&format!("select count(*) from {prod}.orders"))
    );
    let kind = p.relation_kind(&dev, "orders");
    match b {
        Backend::Sqlite => assert_eq!(kind.as_deref(), Some("table")),
        _ => assert_eq!(kind.as_deref(), Some("view")),
    }
    // A second clone leaves what exists; --full-refresh replaces it.
    p.kiln(&["clone", "--state", "prod-artifacts", "-s", "orders"])
        .ok();
    assert_eq!(messages(&p), ["No-op"]);
    p.kiln(&["clone", "--state", "prod-artifacts", "-s", "orders", "-f"])
        .ok();
    assert!(messages(&p)[0].starts_with(made), "{:?}", messages(&p));
    let run = p.kiln(&["clone", "-s", "orders"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("kiln clone needs --state"),
        "{}",
        run.stderr
    );
}

#[test]
fn retry_reruns_only_what_did_not_succeed() {
    let p = TempProject::fixture("jaffle");
    p.write("models/broken.sql", "select * from no_such_table");
    p.write(
        "models/after_broken.sql",
        "select * from {{ ref('broken') }}",
    );
    let run = p.kiln(&["build"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let failed: Vec<(String, String)> = p
        .statuses()
        .into_iter()
        .filter(|(_, s)| s != "success" && s != "pass" && s != "warn")
        .collect();
    assert_eq!(
        failed,
        [
            (
                "model.jaffle.after_broken".to_string(),
                "skipped".to_string()
            ),
            ("model.jaffle.broken".to_string(), "error".to_string()),
        ]
    );
    p.write("models/broken.sql", "select 1 as x");
    let run = p.kiln(&["retry"]).ok();
    assert!(
        run.stdout
            .contains("Retrying 2 nodes of the last `kiln build`"),
        "{}",
        run.stdout
    );
    assert_eq!(
        p.statuses(),
        [
            (
                "model.jaffle.after_broken".to_string(),
                "success".to_string()
            ),
            ("model.jaffle.broken".to_string(), "success".to_string()),
        ]
    );
    assert_eq!(p.one("select x from after_broken"), n(1.0));
    let run = p.kiln(&["retry"]).ok();
    assert!(run.stdout.contains("Nothing to retry"), "{}", run.stdout);
}

#[test]
fn named_selectors_from_selectors_yml() {
    let p = TempProject::fixture("jaffle");
    p.write(
        "selectors.yml",
        "selectors:
  - name: staging_but_payments
    description: Staging views, without payments
    definition:
      union:
        - method: tag
          value: staging
        - customers
        - exclude:
            - stg_payments
  - name: marts
    default: true
    definition:
      method: path
      value: models/marts
      children: true
  - name: again
    definition:
      method: selector
      value: staging_but_payments
",
    );
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ls", "--resource-type", "model", "-o", "name"];
        a.extend_from_slice(args);
        p.kiln(&a).ok().stdout.lines().map(str::to_string).collect()
    };
    assert_eq!(
        names(&["--selector", "staging_but_payments"]),
        ["customers", "stg_customers", "stg_orders"]
    );
    assert_eq!(
        names(&["--selector", "again"]),
        ["customers", "stg_customers", "stg_orders"]
    );
    // The default selector stands in for a missing selection.
    assert_eq!(names(&[]), ["customers", "orders", "revenue_by_day"]);
    assert_eq!(names(&["-s", "stg_orders"]), ["stg_orders"]);
    let run = p.kiln(&["ls", "--selector", "staging_but_payment"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("did you mean `staging_but_payments`"),
        "{}",
        run.stderr
    );
    p.write(
        "selectors.yml",
        "selectors:\n  - name: x\n    definition:\n      method: tag\n",
    );
    let run = p.kiln(&["ls"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("selectors.yml:3"), "{}", run.stderr);
}

#[test]
fn empty_builds_every_model_on_zero_rows() {
    let p = TempProject::fixture("jaffle");
    p.kiln(&["seed"]).ok();
    p.kiln(&["run", "--empty"]).ok();
    assert_eq!(p.one("select count(*) from customers"), n(0.0));
    assert_eq!(p.one("select count(*) from stg_orders"), n(0.0));
    let sql = p.read("target/run/jaffle/models/marts/customers.sql");
    assert!(
        sql.contains("where false limit 0) _dbt_limit_subq_"),
        "{sql}"
    );
    // The columns are all there.
    assert_eq!(
        p.query("select customer_id, first_name, number_of_orders from customers"),
        Vec::<Vec<Value>>::new()
    );
    p.kiln(&["run"]).ok();
    assert!(p.one("select count(*) from customers").as_f64().unwrap() > 0.0);
}

#[test]
fn warn_error_makes_warnings_errors() {
    let p = TempProject::fixture("jaffle");
    p.write(
        "tests/warns.sql",
        "{{ config(severity='warn') }}\nselect 1 as always_there",
    );
    p.kiln(&["build"]).ok();
    let run = p.kiln(&["test", "-s", "warns"]).ok();
    assert!(run.stdout.contains("WARN"), "{}", run.stdout);
    let run = p.kiln(&["test", "-s", "warns", "--warn-error"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        p.statuses(),
        [("test.jaffle.warns".to_string(), "fail".to_string())]
    );
    // A selection that matches nothing is a warning too.
    let run = p.kiln(&["ls", "-s", "no_such_model", "--warn-error"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("made an error by --warn-error"),
        "{}",
        run.stderr
    );
    let run = p.kiln(&[
        "ls",
        "-s",
        "no_such_model",
        "--warn-error-options",
        "{include: all, exclude: [NoNodesForSelectionCriteria]}",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = p.kiln(&[
        "test",
        "-s",
        "warns",
        "--warn-error-options",
        "{include: [LogTestResult]}",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let run = p.kiln(&["ls", "--warn-error-options", "{include: [a], nonsense: 1}"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown key `nonsense`"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_flags_dbt_users_reach_for() {
    let p = TempProject::fixture("jaffle");
    // --target-path moves every artifact.
    p.kiln(&["seed", "--target-path", "elsewhere"]).ok();
    assert!(p.root.join("elsewhere/run_results.json").is_file());
    assert!(p.root.join("elsewhere/manifest.json").is_file());
    assert!(!p.root.join("target/run_results.json").exists());
    // build --resource-type / --exclude-resource-type.
    p.kiln(&["build", "--resource-type", "model", "seed"]).ok();
    let types: std::collections::BTreeSet<String> = p
        .statuses()
        .into_iter()
        .map(|(id, _)| id.split('.').next().unwrap().to_string())
        .collect();
    assert_eq!(types, ["model", "seed"].map(String::from).into());
    p.kiln(&["build", "--exclude-resource-type", "test", "snapshot"])
        .ok();
    let types: std::collections::BTreeSet<String> = p
        .statuses()
        .into_iter()
        .map(|(id, _)| id.split('.').next().unwrap().to_string())
        .collect();
    assert_eq!(types, ["model", "seed"].map(String::from).into());
    // -f is --full-refresh.
    let v: Value = {
        p.kiln(&["run", "-s", "orders", "-f"]).ok();
        serde_json::from_str(&p.read("target/run_results.json")).unwrap()
    };
    assert_eq!(v["args"]["full_refresh"], true);
    // compile -s prints one node's SQL; --inline compiles a query.
    let run = p.kiln(&["compile", "-s", "stg_orders"]).ok();
    assert!(
        run.stdout.contains("from \"main\".\"raw_orders\""),
        "{}",
        run.stdout
    );
    let run = p
        .kiln(&[
            "compile",
            "--inline",
            "select count(*) from {{ ref('orders') }}",
        ])
        .ok();
    assert_eq!(
        run.stdout.trim(),
        "select count(*) from \"main\".\"orders\""
    );
    // ls --output-keys.
    let run = p
        .kiln(&[
            "ls",
            "-s",
            "customers",
            "--resource-type",
            "model",
            "-o",
            "json",
            "--output-keys",
            "name,resource_type",
        ])
        .ok();
    let v: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"name": "customers", "resource_type": "model"})
    );
    // Every command's help has an example.
    for cmd in [
        "init",
        "debug",
        "deps",
        "parse",
        "compile",
        "ls",
        "clean",
        "run",
        "test",
        "seed",
        "snapshot",
        "build",
        "retry",
        "clone",
        "docs",
        "source",
        "run-operation",
        "show",
    ] {
        let run = p.kiln(&[cmd, "--help"]).ok();
        assert!(
            run.stdout.contains("Example") || cmd == "docs" || cmd == "source",
            "kiln {cmd} --help has no example:\n{}",
            run.stdout
        );
    }
    for sub in [
        ["docs", "generate"],
        ["docs", "serve"],
        ["source", "freshness"],
    ] {
        let run = p.kiln(&[sub[0], sub[1], "--help"]).ok();
        assert!(
            run.stdout.contains("Example"),
            "kiln {sub:?} --help:\n{}",
            run.stdout
        );
    }
}
