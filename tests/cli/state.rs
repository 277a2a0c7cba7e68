//! `--state` with a manifest written by dbt-core 1.11 (tests/fixtures/dbt_reference): after an
//! edit, Kiln's `state:` selectors pick what dbt's pick for the same edit (each expectation below
//! was checked with `dbt ls` against the same manifest).

use crate::support::{TempProject, fixture_path};
use serde_json::Value;
use std::collections::BTreeSet;

/// The jaffle fixture, configured as dbt's reference manifest was made (target schema
/// `kiln_dbt_ref`), with that manifest in `dbt-state/`.
fn jaffle_with_dbt_state() -> TempProject {
    let p = TempProject::fixture("jaffle");
    let profiles = p
        .read("profiles.yml")
        .replace("schema: main", "schema: kiln_dbt_ref");
    p.write("profiles.yml", &profiles);
    let manifest =
        std::fs::read_to_string(fixture_path("dbt_reference").join("jaffle/manifest.json"))
            .unwrap();
    p.write("dbt-state/manifest.json", &manifest);
    p
}

fn dbt_manifest() -> Value {
    let text = std::fs::read_to_string(fixture_path("dbt_reference").join("jaffle/manifest.json"))
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `kiln ls -s <selector> --state dbt-state/`, one selector name per line, sorted.
fn ls(p: &TempProject, selector: &str) -> Vec<String> {
    let run = p
        .kiln(&[
            "ls",
            "-s",
            selector,
            "--state",
            "dbt-state",
            "--indirect-selection",
            if selector.ends_with('+') {
                "eager"
            } else {
                "empty"
            },
        ])
        .ok();
    run.lines().iter().map(|l| l.to_string()).collect()
}

fn append(p: &TempProject, path: &str, text: &str) {
    let old = p.read(path);
    p.write(path, &format!("{old}{text}"));
}

fn replace(p: &TempProject, path: &str, from: &str, to: &str) {
    let old = p.read(path);
    assert!(old.contains(from), "{path} has no `{from}`");
    p.write(path, &old.replacen(from, to, 1));
}

#[test]
fn state_modified_plus_against_dbts_manifest_selects_the_edited_model_and_its_descendants() {
    let p = jaffle_with_dbt_state();
    // Unchanged, nothing differs from what dbt parsed.
    assert!(ls(&p, "state:modified").is_empty());
    assert!(ls(&p, "state:new").is_empty());
    append(
        &p,
        "models/staging/stg_orders.sql",
        "\n-- orders as loaded\n",
    );
    // What dbt's own graph says is downstream of stg_orders, by its selector names.
    let dbt = dbt_manifest();
    let mut expected: BTreeSet<String> = BTreeSet::new();
    let mut stack = vec!["model.jaffle.stg_orders".to_string()];
    while let Some(id) = stack.pop() {
        let fqn: Vec<&str> = dbt["nodes"][&id]["fqn"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        if expected.insert(fqn.join(".")) {
            for child in dbt["child_map"][&id].as_array().unwrap() {
                stack.push(child.as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(expected.len(), 17, "{expected:?}");
    let selected: BTreeSet<String> = ls(&p, "state:modified+").into_iter().collect();
    assert_eq!(selected, expected);
    assert_eq!(ls(&p, "state:modified"), ["jaffle.staging.stg_orders"]);
    assert_eq!(ls(&p, "state:modified.body"), ["jaffle.staging.stg_orders"]);
    assert!(ls(&p, "state:modified.configs").is_empty());
    // Every node is old; all but the edited one are unmodified.
    assert_eq!(ls(&p, "state:old").len(), 22);
    let unmodified = ls(&p, "state:unmodified");
    assert_eq!(unmodified.len(), 21);
    assert!(!unmodified.contains(&"jaffle.staging.stg_orders".to_string()));
}

#[test]
fn state_selectors_follow_dbts_rules_edit_by_edit() {
    type Edit = fn(&TempProject);
    let cases: &[(&str, Edit, &str, &[&str])] = &[
        // Whitespace around a file is stripped before dbt compares it.
        (
            "whitespace appended",
            |p| append(p, "models/marts/customers.sql", "\n\n   \n"),
            "state:modified",
            &[],
        ),
        // customers sets its materialization in config(), which wins over the project file.
        (
            "marts become views",
            |p| {
                replace(
                    p,
                    "dbt_project.yml",
                    "+materialized: table",
                    "+materialized: view",
                )
            },
            "state:modified.configs",
            &["jaffle.marts.finance.revenue_by_day", "jaffle.marts.orders"],
        ),
        (
            "marts become views (no body change)",
            |p| {
                replace(
                    p,
                    "dbt_project.yml",
                    "+materialized: table",
                    "+materialized: view",
                )
            },
            "state:modified.body",
            &[],
        ),
        (
            "custom schema renamed",
            |p| {
                replace(
                    p,
                    "dbt_project.yml",
                    "+schema: finance",
                    "+schema: finance2",
                )
            },
            "state:modified.relation",
            &["jaffle.marts.finance.revenue_by_day"],
        ),
        // Tags are not compared; meta is.
        (
            "tags changed",
            |p| {
                replace(
                    p,
                    "dbt_project.yml",
                    "+tags: [\"staging\"]",
                    "+tags: [\"staging\", \"x\"]",
                )
            },
            "state:modified",
            &[],
        ),
        (
            "meta added for every model",
            |p| {
                replace(
                    p,
                    "dbt_project.yml",
                    "    +tags: [\"jaffle\"]",
                    "    +tags: [\"jaffle\"]\n    +meta: {owner: a}",
                )
            },
            "state:modified.configs",
            &[
                "jaffle.analysis.order_status_counts",
                "jaffle.marts.customers",
                "jaffle.marts.finance.revenue_by_day",
                "jaffle.marts.orders",
                "jaffle.staging.stg_customers",
                "jaffle.staging.stg_orders",
                "jaffle.staging.stg_payments",
            ],
        ),
        // A macro's change reaches the nodes that call it; dbt's own macros in the state
        // manifest are not compared.
        (
            "macro body changed",
            |p| replace(p, "macros/cents_to_dollars.sql", "100.0", "100.00"),
            "state:modified.macros",
            &["jaffle.staging.stg_payments"],
        ),
        (
            "generic test macro changed",
            |p| replace(p, "tests/generic/is_positive.sql", "< 0", "< -0"),
            "state:modified",
            &["jaffle.is_positive_customers_number_of_orders"],
        ),
        // Seeds compare their checksum, over the stripped file.
        (
            "seed value changed",
            |p| replace(p, "seeds/raw_customers.csv", "Michael", "Mike"),
            "state:modified.body",
            &["jaffle.raw_customers"],
        ),
        (
            "seed trailing newline",
            |p| append(p, "seeds/raw_customers.csv", "\n"),
            "state:modified",
            &[],
        ),
        // A test's config is part of its raw_code: body and configs both change.
        (
            "test severity changed",
            |p| replace(p, "models/schema.yml", "severity: warn", "severity: error"),
            "state:modified.body",
            &["jaffle.not_null_orders_amount"],
        ),
        (
            "test severity changed (configs)",
            |p| replace(p, "models/schema.yml", "severity: warn", "severity: error"),
            "state:modified.configs",
            &["jaffle.not_null_orders_amount"],
        ),
        // New arguments make a new test: new, and so modified.
        (
            "accepted values extended",
            |p| {
                replace(
                    p,
                    "models/schema.yml",
                    "'completed', 'returned']",
                    "'completed', 'returned', 'lost']",
                )
            },
            "state:new",
            &["jaffle.accepted_values_orders_status__placed__shipped__completed__returned__lost"],
        ),
        (
            "snapshot check_cols changed",
            |p| {
                replace(
                    p,
                    "snapshots/orders_snapshot.sql",
                    "check_cols=['status']",
                    "check_cols=['status', 'order_date']",
                )
            },
            "state:modified.configs",
            &["jaffle.orders_snapshot.orders_snapshot"],
        ),
        (
            "model added",
            |p| p.write("models/staging/stg_new.sql", "select 1 as x\n"),
            "state:new",
            &["jaffle.staging.stg_new"],
        ),
        // Removed nodes are never selected.
        (
            "model deleted",
            |p| {
                std::fs::remove_file(p.root.join("models/marts/finance/revenue_by_day.sql"))
                    .unwrap();
                std::fs::remove_file(p.root.join("tests/assert_positive_revenue.sql")).unwrap();
            },
            "state:modified",
            &[],
        ),
        // Enforcing a contract changes the model's contract (and its configs as written).
        (
            "contract enforced",
            |p| {
                replace(
                    p,
                    "models/schema.yml",
                    "    description: One record per customer, with order history.\n    columns:\n      - name: customer_id\n",
                    "    description: One record per customer, with order history.\n    config:\n      contract:\n        enforced: true\n    columns:\n      - name: customer_id\n        data_type: integer\n",
                )
            },
            "state:modified.contract",
            &["jaffle.marts.customers"],
        ),
        (
            "analysis changed",
            |p| append(p, "analyses/order_status_counts.sql", "-- by status\n"),
            "state:modified.body",
            &["jaffle.analysis.order_status_counts"],
        ),
    ];
    for (what, edit, selector, expected) in cases {
        let p = jaffle_with_dbt_state();
        edit(&p);
        assert_eq!(ls(&p, selector), *expected, "{what}: {selector}");
    }
}

#[test]
fn a_state_directory_without_a_manifest_is_a_clear_error() {
    let p = TempProject::fixture("jaffle");
    std::fs::create_dir_all(p.root.join("empty")).unwrap();
    let run = p.kiln(&["ls", "-s", "state:modified", "--state", "empty"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("manifest.json"), "{}", run.stderr);
    p.write("bad/manifest.json", "{\"metadata\": {}}");
    let run = p.kiln(&["ls", "-s", "state:modified", "--state", "bad"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("is not a manifest: it has no `nodes`"),
        "{}",
        run.stderr
    );
    p.kiln(&["parse"]).ok();
    let run = p.kiln(&["ls", "-s", "state:changed", "--state", "target"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown state `changed`"),
        "{}",
        run.stderr
    );
}

#[test]
fn sources_compare_freshness_and_config_and_a_new_source_is_not_modified() {
    let sources = "version: 2\nsources:\n  - name: raw\n    loaded_at_field: loaded_at\n    freshness:\n      warn_after: {count: 1, period: hour}\n    tables:\n      - name: events\n";
    let p = TempProject::with_files(&[
        ("project.yml", "name: shop\n"),
        ("models/sources.yml", sources),
        (
            "models/daily.sql",
            "select * from {{ source('raw', 'events') }}",
        ),
    ]);
    p.kiln(&["parse"]).ok();
    std::fs::create_dir_all(p.root.join("prod")).unwrap();
    std::fs::copy(
        p.root.join("target/manifest.json"),
        p.root.join("prod/manifest.json"),
    )
    .unwrap();
    let ls = |selector: &str| -> Vec<String> {
        p.kiln(&["ls", "-s", selector, "--state", "prod"])
            .ok()
            .lines()
            .iter()
            .map(|l| l.to_string())
            .collect()
    };
    assert!(ls("state:modified").is_empty());
    p.write(
        "models/sources.yml",
        &format!(
            "{}      - name: users\n",
            sources.replace("count: 1, period: hour", "count: 2, period: hour")
        ),
    );
    // The freshness rule changed; the model reading the source comes along with `+`.
    assert_eq!(ls("state:modified"), ["source:shop.raw.events"]);
    assert_eq!(
        ls("state:modified+"),
        ["shop.daily", "source:shop.raw.events"]
    );
    assert_eq!(
        ls("state:modified.configs"),
        ["source:shop.raw.events", "source:shop.raw.users"]
    );
    // As in dbt, a source that did not exist is new, and unmodified rather than modified.
    assert_eq!(ls("state:new"), ["source:shop.raw.users"]);
    assert_eq!(
        ls("state:unmodified"),
        ["shop.daily", "source:shop.raw.users"]
    );
}
