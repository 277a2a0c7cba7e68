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
                );
                // A contract types every column.
                replace(
                    p,
                    "models/schema.yml",
                    "      - name: number_of_orders\n",
                    "      - name: number_of_orders\n        data_type: integer\n",
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

/// Every `state:` method on the demo, one edit at a time against the manifest of an unchanged
/// build; `state:modified+` builds exactly what `ls` selects.
#[test]
fn each_state_method_on_the_demo() {
    let p = TempProject::demo_on(crate::support::Backend::Sqlite);
    // coverage_members persists its descriptions, so a description edit there is a modification.
    let members = "models/coverage/marts/coverage_members.sql";
    p.write(
        members,
        &format!(
            "{{{{ config(persist_docs={{'relation': true, 'columns': true}}) }}}}\n{}",
            p.read(members)
        ),
    );
    p.kiln(&["build"]).ok();
    crate::support::copy_dir(&p.root.join("target/kiln"), &p.root.join("prod-state"));
    let names = |selector: &str| -> Vec<String> {
        let mut run = p
            .kiln(&[
                "ls",
                "-s",
                selector,
                "--state",
                "prod-state",
                "-o",
                "name",
                "--indirect-selection",
                if selector.ends_with('+') {
                    "eager"
                } else {
                    "empty"
                },
            ])
            .ok()
            .stdout
            .lines()
            .map(String::from)
            .collect::<Vec<_>>();
        run.sort();
        run
    };
    let mut everything: Vec<String> = p
        .kiln(&["ls", "-o", "name"])
        .ok()
        .stdout
        .lines()
        .map(String::from)
        .collect();
    everything.sort();
    assert!(everything.len() > 50, "{everything:?}");
    assert!(names("state:modified").is_empty());
    assert!(names("state:new").is_empty());
    assert_eq!(names("state:old"), everything);
    assert_eq!(names("state:unmodified"), everything);

    // Each edit, what it modifies, and the sub-selectors that must not see it.
    type Edit = fn(&TempProject);
    /// What is edited, how, the selector that must see it, what it selects, and the
    /// sub-selectors that must not see it.
    type Case<'a> = (&'a str, Edit, &'a str, &'a [&'a str], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            "one line of stg_events",
            |p| {
                replace(
                    p,
                    "models/events/staging/stg_events.sql",
                    "    event_id,",
                    "    event_id, -- the API's id",
                )
            },
            "state:modified.body",
            &["stg_events"],
            &["state:modified.configs", "state:modified.relation"],
        ),
        (
            "a materialization",
            |p| {
                let f = "models/events/marts/weekly_active_users.sql";
                p.write(
                    f,
                    &format!("{{{{ config(materialized='view') }}}}\n{}", p.read(f)),
                )
            },
            "state:modified.configs",
            &["weekly_active_users"],
            &["state:modified.relation", "state:modified.macros"],
        ),
        (
            "an alias",
            |p| {
                let f = "models/hiring/hires_by_quarter_2021.sql";
                p.write(
                    f,
                    &format!("{{{{ config(alias='hires_2021') }}}}\n{}", p.read(f)),
                )
            },
            "state:modified.relation",
            &["hires_by_quarter_2021"],
            &["state:modified.macros", "state:modified.contract"],
        ),
        (
            "a persisted description",
            |p| {
                replace(
                    p,
                    "models/coverage/coverage.yml",
                    "One row per member with the latest API answer",
                    "One row per member with the newest API answer",
                )
            },
            "state:modified.persisted_descriptions",
            &["coverage_members"],
            &["state:modified.body", "state:modified.configs"],
        ),
        (
            "a macro the events staging calls",
            |p| {
                let f = "macros/json.sql";
                let text = p.read(f);
                p.write(
                    f,
                    &text.replacen("{%- endmacro %}", "{#- reviewed -#}\n{%- endmacro %}", 1),
                )
            },
            "state:modified.macros",
            &["stg_events"],
            &["state:modified.body", "state:modified.configs"],
        ),
        (
            "a contract enforced",
            |p| {
                replace(
                    p,
                    "models/coverage/coverage.yml",
                    "  - name: coverage_members\n",
                    "  - name: coverage_members\n    config:\n      contract:\n        enforced: true\n",
                );
                // A contract types every column.
                for (name, rest, data_type) in [
                    ("member_id", "description: The member., data_tests", "text"),
                    ("api_eligibility", "", "text"),
                    (
                        "override_eligibility",
                        "description: The manual override, if",
                        "text",
                    ),
                    ("is_overridden", "", "integer"),
                    ("last_checked_at", "", "text"),
                ] {
                    replace(
                        p,
                        "models/coverage/coverage.yml",
                        &format!("      - {{name: {name}, {rest}"),
                        &format!("      - {{name: {name}, data_type: {data_type}, {rest}"),
                    );
                }
                replace(
                    p,
                    "models/coverage/coverage.yml",
                    "      - name: eligibility\n",
                    "      - name: eligibility\n        data_type: text\n",
                )
            },
            "state:modified.contract",
            &["coverage_members"],
            &["state:modified.body", "state:modified.relation"],
        ),
        (
            "a new model",
            |p| {
                p.write(
                    "models/events/marts/events_per_os.sql",
                    "select device_os, count(*) as events from {{ ref('stg_events') }} group by 1",
                )
            },
            "state:new",
            &["events_per_os"],
            &["state:old", "state:unmodified"],
        ),
    ];
    for (what, edit, selector, expected, not_in) in cases {
        let before = snapshot_files(&p);
        edit(&p);
        assert_eq!(names(selector), *expected, "{what}: {selector}");
        assert!(
            // A new model is modified too, as in dbt.
            expected
                .iter()
                .all(|n| names("state:modified").contains(&n.to_string())),
            "{what}: state:modified"
        );
        for other in *not_in {
            let got = names(other);
            assert!(
                expected.iter().all(|n| !got.contains(&n.to_string())),
                "{what}: {other} selected {got:?}"
            );
        }
        if *what == "one line of stg_events" {
            // state:modified+ is stg_events and what depends on it, with their tests, and a
            // build runs exactly those nodes.
            let selected = names("state:modified+");
            assert_eq!(selected, names("stg_events+"), "{what}");
            assert!(selected.len() < everything.len() / 2, "{selected:?}");
            p.kiln(&["build", "-s", "state:modified+", "--state", "prod-state"])
                .ok();
            let r: Value = serde_json::from_str(&p.read("target/kiln/run_results.json")).unwrap();
            assert_eq!(
                r["results"].as_array().unwrap().len(),
                selected.len(),
                "{r:#}"
            );
        }
        restore_files(&p, before);
    }
}

/// The text of every model and macro file of the project, to undo an edit.
fn snapshot_files(p: &TempProject) -> Vec<(std::path::PathBuf, Option<String>)> {
    let mut out = Vec::new();
    for dir in ["models", "macros"] {
        for entry in walk(&p.root.join(dir)) {
            let text = std::fs::read_to_string(&entry).ok();
            out.push((entry, text));
        }
    }
    out
}

fn restore_files(p: &TempProject, before: Vec<(std::path::PathBuf, Option<String>)>) {
    let known: BTreeSet<_> = before.iter().map(|(f, _)| f.clone()).collect();
    for dir in ["models", "macros"] {
        for f in walk(&p.root.join(dir)) {
            if !known.contains(&f) {
                std::fs::remove_file(f).unwrap();
            }
        }
    }
    for (f, text) in before {
        if let Some(text) = text {
            std::fs::write(f, text).unwrap();
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
