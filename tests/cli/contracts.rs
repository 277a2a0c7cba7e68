//! Model contracts: the result's columns and types are checked against the YAML before the
//! relation is replaced, and constraints become DDL the database enforces.

use crate::support::{Backend, TempProject, on_every_adapter};

on_every_adapter!(
    a_contract_violation_leaves_the_old_table_and_names_each_column,
    an_incremental_run_checks_the_contract_before_merging,
    constraints_are_enforced_by_the_database,
);

const SCHEMA: &str = "models:
  - name: customers
    config:
      materialized: table
      contract: {enforced: true}
    columns:
      - name: customer_id
        data_type: integer
        constraints:
          - type: primary_key
  - name: orders
    config:
      materialized: table
      contract: {enforced: true}
    columns:
      - name: order_id
        data_type: integer
        constraints:
          - type: not_null
          - type: primary_key
      - name: amount
        data_type: integer
        constraints:
          - type: check
            expression: \"amount >= 0\"
      - name: customer_id
        data_type: integer
        constraints:
          - type: foreign_key
            to: ref('customers')
            to_columns: [customer_id]
            warn_unenforced: false
            warn_unsupported: false
  - name: order_ids
    config:
      materialized: view
      contract: {enforced: true}
    columns:
      - name: order_id
        data_type: integer
";

const ORDERS: &str =
    "select id as order_id, amount, id as customer_id from {{ ref('raw_orders') }}";

fn project(b: Backend) -> TempProject {
    TempProject::with_files_on(
        &[
            ("dbt_project.yml", "name: shop\nprofile: shop\n"),
            ("seeds/raw_orders.csv", "id,amount\n1,5\n2,7\n"),
            (
                "models/customers.sql",
                "select id as customer_id from {{ ref('raw_orders') }}",
            ),
            ("models/orders.sql", ORDERS),
            ("models/schema.yml", SCHEMA),
            (
                "models/order_ids.sql",
                "select order_id from {{ ref('orders') }}",
            ),
        ],
        b,
    )
}

fn total(p: &TempProject) -> f64 {
    let v = p.one("select sum(amount) from orders");
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("sum is {v}"))
}

fn a_contract_violation_leaves_the_old_table_and_names_each_column(b: Backend) {
    let p = project(b);
    p.kiln(&["build"]).ok();
    assert_eq!(total(&p), 12.0);
    // The amount becomes text and a column appears that the contract does not have.
    p.write(
        "models/orders.sql",
        "select id as order_id, cast(amount as char(10)) as amount, id as customer_id, 2 * id as extra from {{ ref('raw_orders') }}",
    );
    let run = p.kiln(&["run", "-s", "orders"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("model `orders` has an enforced contract that failed"),
        "{}",
        run.stdout
    );
    let line = |column: &str| {
        run.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("| {column} ")))
            .unwrap_or_else(|| panic!("no row for {column} in\n{}", run.stdout))
            .to_string()
    };
    assert!(
        line("amount").contains("data type mismatch"),
        "{}",
        run.stdout
    );
    assert!(line("amount").contains("integer"), "{}", run.stdout);
    assert!(
        line("extra").contains("missing in contract"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("models/schema.yml"), "{}", run.stdout);
    // The table built before is still there, with its rows, and nothing was left aside.
    assert_eq!(total(&p), 12.0);
    let columns = p.query("select * from orders");
    assert_eq!(columns[0].len(), 3);
    // A view keeps its contract too, and the old view stays.
    p.write(
        "models/order_ids.sql",
        "select order_id, 1 as more from {{ ref('orders') }}",
    );
    let run = p.kiln(&["run", "-s", "order_ids"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("| more") && l.contains("missing in contract")),
        "{}",
        run.stdout
    );
    assert_eq!(p.query("select * from order_ids")[0].len(), 1);
    // A column the contract has and the model lost.
    p.write(
        "models/orders.sql",
        "select id as order_id, id as customer_id from {{ ref('raw_orders') }}",
    );
    let run = p.kiln(&["run", "-s", "orders"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("| amount") && l.contains("missing in definition")),
        "{}",
        run.stdout
    );
    assert_eq!(total(&p), 12.0);
    // A contract column without a type is refused before anything runs.
    p.write("models/orders.sql", ORDERS);
    p.write(
        "models/schema.yml",
        &SCHEMA.replace(
            "        data_type: integer\n        constraints:\n          - type: check",
            "        constraints:\n          - type: check",
        ),
    );
    let run = p.kiln(&["run", "-s", "orders"]);
    assert_ne!(run.code, 0);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("this column has no `data_type`: amount"),
        "{all}"
    );
    assert!(all.contains("models/schema.yml"), "{all}");
}

fn constraints_are_enforced_by_the_database(b: Backend) {
    let p = project(b);
    p.kiln(&["build"]).ok();
    // A negative amount breaks the check constraint: the database refuses the rows, and the
    // old table stays.
    p.write(
        "models/orders.sql",
        "select id as order_id, amount - 6 as amount, id as customer_id from {{ ref('raw_orders') }}",
    );
    let run = p.kiln(&["run", "-s", "orders"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.to_lowercase().contains("constraint"),
        "{}",
        run.stdout
    );
    assert_eq!(total(&p), 12.0);
    // So does a null key.
    p.write(
        "models/orders.sql",
        "select case when id = 1 then null else id end as order_id, amount, id as customer_id from {{ ref('raw_orders') }}",
    );
    let run = p.kiln(&["run", "-s", "orders"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.to_lowercase().contains("null"), "{}", run.stdout);
    assert_eq!(total(&p), 12.0);
    // A duplicate primary key too.
    p.write(
        "models/orders.sql",
        "select 1 as order_id, amount, id as customer_id from {{ ref('raw_orders') }}",
    );
    let run = p.kiln(&["run", "-s", "orders"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(total(&p), 12.0);
    // Good rows build, and rebuilding the foreign key's parent works.
    p.write("models/orders.sql", ORDERS);
    p.kiln(&["build"]).ok();
    p.kiln(&["build"]).ok();
    assert_eq!(total(&p), 12.0);
    // The manifest carries the constraints in dbt's shape.
    let manifest: serde_json::Value =
        serde_json::from_str(&p.read("target/manifest.json")).unwrap();
    let cols = &manifest["nodes"]["model.shop.orders"]["columns"];
    assert_eq!(cols["amount"]["constraints"][0]["type"], "check");
    assert_eq!(
        cols["amount"]["constraints"][0]["expression"],
        "amount >= 0"
    );
    assert_eq!(
        cols["customer_id"]["constraints"][0]["to"],
        "ref('customers')"
    );
    let deps = &manifest["nodes"]["model.shop.orders"]["depends_on"]["nodes"];
    assert!(
        deps.as_array()
            .unwrap()
            .iter()
            .any(|d| d == "model.shop.customers"),
        "{deps}"
    );
}

fn an_incremental_run_checks_the_contract_before_merging(b: Backend) {
    let p = TempProject::with_files_on(
        &[
            ("dbt_project.yml", "name: shop\nprofile: shop\n"),
            ("seeds/raw_orders.csv", "id,amount\n1,5\n2,7\n"),
            (
                "models/events.sql",
                "{{ config(materialized='incremental', unique_key='id') }}\nselect id, amount from {{ ref('raw_orders') }}",
            ),
            (
                "models/schema.yml",
                "models:\n  - name: events\n    config:\n      contract: {enforced: true}\n    columns:\n      - {name: id, data_type: integer}\n      - {name: amount, data_type: integer}\n",
            ),
        ],
        b,
    );
    p.kiln(&["build"]).ok();
    // The next run's rows carry a column the contract does not have.
    p.write(
        "models/events.sql",
        "{{ config(materialized='incremental', unique_key='id') }}\nselect id, amount, 3 * id as extra from {{ ref('raw_orders') }}",
    );
    let run = p.kiln(&["run", "-s", "events"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("model `events` has an enforced contract that failed"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("| extra") && l.contains("missing in contract")),
        "{}",
        run.stdout
    );
    // Nothing was merged: the table keeps its rows and columns, and nothing is left aside.
    let rows = p.query("select * from events");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].len(), 2);
    assert_eq!(p.leftovers(&p.schema), Vec::<String>::new());
}
