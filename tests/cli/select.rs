//! `kiln ls` with each selection operator on the example project.

use crate::support::TempProject;

fn ls(p: &TempProject, args: &[&str]) -> Vec<String> {
    let mut full = vec!["ls", "--output", "name"];
    full.extend_from_slice(args);
    let run = p.kiln(&full).ok();
    run.lines().iter().map(|s| s.to_string()).collect()
}

fn models(p: &TempProject, select: &str) -> Vec<String> {
    ls(p, &["--resource-type", "model", "-s", select])
}

#[test]
fn selection_operators() {
    let p = TempProject::fixture("jaffle");
    assert_eq!(models(&p, "customers"), vec!["customers"]);
    assert_eq!(
        models(&p, "+customers"),
        vec![
            "customers",
            "orders",
            "stg_customers",
            "stg_orders",
            "stg_payments"
        ]
    );
    assert_eq!(
        models(&p, "stg_orders+"),
        vec!["customers", "orders", "revenue_by_day", "stg_orders"]
    );
    assert_eq!(models(&p, "stg_orders+1"), vec!["orders", "stg_orders"]);
    assert_eq!(
        models(&p, "1+orders"),
        vec!["orders", "stg_orders", "stg_payments"]
    );
    assert_eq!(
        models(&p, "stg_*"),
        vec!["stg_customers", "stg_orders", "stg_payments"]
    );
    assert_eq!(models(&p, "tag:daily"), vec!["customers"]);
    assert_eq!(
        models(&p, "path:models/marts"),
        vec!["customers", "orders", "revenue_by_day"]
    );
    assert_eq!(
        models(&p, "config.materialized:table"),
        vec!["customers", "orders", "revenue_by_day"]
    );
    assert_eq!(models(&p, "marts.finance.*"), vec!["revenue_by_day"]);
    // Comma is intersection; spaces are union.
    assert_eq!(
        models(&p, "tag:staging,config.materialized:view"),
        vec!["stg_customers", "stg_orders"]
    );
    assert_eq!(
        ls(
            &p,
            &[
                "--resource-type",
                "model",
                "-s",
                "customers",
                "revenue_by_day"
            ]
        ),
        vec!["customers", "revenue_by_day"]
    );
    // --exclude removes from the selection.
    assert_eq!(
        ls(
            &p,
            &[
                "--resource-type",
                "model",
                "-s",
                "+customers",
                "--exclude",
                "stg_*"
            ]
        ),
        vec!["customers", "orders"]
    );
    // @ selects descendants and their ancestors.
    assert_eq!(
        models(&p, "@stg_payments"),
        vec![
            "customers",
            "orders",
            "revenue_by_day",
            "stg_customers",
            "stg_orders",
            "stg_payments"
        ]
    );
}

#[test]
fn tests_come_along_with_selected_models() {
    let p = TempProject::fixture("jaffle");
    let names = ls(&p, &["-s", "customers"]);
    assert!(names.contains(&"customers".to_string()));
    assert!(names.contains(&"unique_customers_customer_id".to_string()));
    // Eager: the relationships test from orders to customers comes too.
    assert!(
        names
            .contains(&"relationships_orders_customer_id__customer_id__ref_customers_".to_string())
    );
    let cautious = ls(&p, &["-s", "customers", "--indirect-selection", "cautious"]);
    assert!(
        !cautious
            .contains(&"relationships_orders_customer_id__customer_id__ref_customers_".to_string())
    );
    assert_eq!(
        ls(&p, &["-s", "test_type:singular"]),
        vec!["assert_positive_revenue"]
    );
    assert_eq!(
        ls(&p, &["--resource-type", "seed"]),
        vec!["raw_customers", "raw_orders", "raw_payments"]
    );
    assert_eq!(
        ls(&p, &["-s", "resource_type:snapshot"]),
        vec!["orders_snapshot"]
    );
}

#[test]
fn ls_output_formats() {
    let p = TempProject::fixture("jaffle");
    let run = p
        .kiln(&[
            "ls",
            "--resource-type",
            "model",
            "-s",
            "orders",
            "--output",
            "path",
        ])
        .ok();
    assert_eq!(run.stdout.trim(), "models/marts/orders.sql");
    let run = p
        .kiln(&["ls", "--resource-type", "model", "-s", "orders"])
        .ok();
    assert_eq!(run.stdout.trim(), "jaffle.marts.orders");
    let run = p
        .kiln(&[
            "ls",
            "--resource-type",
            "model",
            "-s",
            "orders",
            "--output",
            "json",
        ])
        .ok();
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["unique_id"], "model.jaffle.orders");
    assert_eq!(v["config"]["materialized"], "table");
}

#[test]
fn state_modified_selects_changed_models() {
    let p = TempProject::fixture("jaffle");
    p.kiln(&["parse"]).ok();
    std::fs::rename(p.root.join("target"), p.root.join("prod")).unwrap();
    p.write(
        "models/staging/stg_orders.sql",
        "select id as order_id, user_id as customer_id, order_date, status from {{ ref('raw_orders') }}\n",
    );
    assert_eq!(
        ls(
            &p,
            &[
                "--resource-type",
                "model",
                "-s",
                "state:modified",
                "--state",
                "prod"
            ]
        ),
        vec!["stg_orders"]
    );
    assert_eq!(
        ls(
            &p,
            &[
                "--resource-type",
                "model",
                "-s",
                "state:modified+",
                "--state",
                "prod"
            ]
        ),
        vec!["customers", "orders", "revenue_by_day", "stg_orders"]
    );
}

#[test]
fn unknown_selector_method_is_an_error() {
    let p = TempProject::fixture("jaffle");
    let run = p.kiln(&["ls", "-s", "colour:red"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("colour"), "{}", run.stderr);
}
