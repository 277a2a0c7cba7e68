//! Column checks before the database: a misspelt or ambiguous column is reported at its file,
//! line and column with the closest name, in `compile`, `run` and `build`, and never sent; where
//! an upstream's columns are unknown the check stays silent.

use crate::support::{Backend, TempProject, n, normalize, on_every_adapter};

on_every_adapter!(
    a_misspelt_column_fails_before_the_database_and_keeps_the_old_table,
    sources_and_uncertain_names_are_checked_only_where_known,
);

const PROJECT: &str = "name: shop\nprofile: shop\n";
const ORDERS: &str = "select id, amount, customer_id from {{ ref('raw_orders') }}";
const TOTALS: &str = "{{ config(materialized='table') }}\nselect customer_id,\n       sum(amount) as total\nfrom {{ ref('orders') }}\ngroup by customer_id\n";

fn project(b: Backend) -> TempProject {
    TempProject::with_files_on(
        &[
            ("dbt_project.yml", PROJECT),
            (
                "seeds/raw_orders.csv",
                "id,amount,customer_id\n1,5,10\n2,7,10\n3,4,11\n",
            ),
            ("seeds/raw_customers.csv", "id,name\n10,Ada\n11,Grace\n"),
            ("models/orders.sql", ORDERS),
            ("models/totals.sql", TOTALS),
        ],
        b,
    )
}

fn total(p: &TempProject) -> f64 {
    let v = normalize(p.one("select sum(total) from totals"));
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("sum is {v}"))
}

fn a_misspelt_column_fails_before_the_database_and_keeps_the_old_table(b: Backend) {
    let p = project(b);
    p.kiln(&["build"]).ok();
    assert_eq!(total(&p), 16.0);

    // `amout` on line 3, column 12 of the template.
    p.write(
        "models/totals.sql",
        &TOTALS.replace("sum(amount)", "sum(amout)"),
    );
    let compile = p.kiln(&["compile"]);
    assert_eq!(compile.code, 2, "{}\n{}", compile.stdout, compile.stderr);
    let out = format!("{}{}", compile.stdout, compile.stderr);
    assert!(
        out.contains("unknown column `amout` in model totals"),
        "{out}"
    );
    assert!(out.contains("--> models/totals.sql:3:12"), "{out}");
    assert!(out.contains(" 3 |        sum(amout) as total"), "{out}");
    assert!(out.contains("did you mean `amount`?"), "{out}");

    let build = p.kiln(&["build"]);
    assert_eq!(build.code, 1, "{}\n{}", build.stdout, build.stderr);
    assert!(
        build
            .stdout
            .contains("unknown column `amout` in model totals"),
        "{}",
        build.stdout
    );
    assert!(!build.stdout.contains("Database Error"), "{}", build.stdout);
    // The table built before keeps its rows; the upstream view was rebuilt as usual.
    assert_eq!(total(&p), 16.0);
    let statuses = p.statuses();
    let status = |id: &str| {
        statuses
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, s)| s.as_str())
            .unwrap_or("absent")
            .to_string()
    };
    assert_eq!(status("model.shop.totals"), "error");
    assert_eq!(status("model.shop.orders"), "success");

    // An ambiguous column in a join, and a qualified typo, both in one model.
    p.write(
        "models/totals.sql",
        "select id, c.nme\nfrom {{ ref('orders') }} o\njoin {{ ref('raw_customers') }} c on c.id = o.customer_id\n",
    );
    let compile = p.kiln(&["compile"]);
    assert_eq!(compile.code, 2);
    let out = format!("{}{}", compile.stdout, compile.stderr);
    assert!(
        out.contains("ambiguous column `id` in model totals"),
        "{out}"
    );
    assert!(
        out.contains("o and c each have it; qualify it, as in `o.id`"),
        "{out}"
    );
    assert!(out.contains("--> models/totals.sql:1:8"), "{out}");
    assert!(out.contains("unknown column `c.nme`"), "{out}");
    assert!(out.contains("did you mean `c.name`?"), "{out}");
    assert!(out.contains("2 errors found"), "{out}");

    // Run alone, the model reads a parent left out of the selection: its columns come from
    // the database.
    p.write(
        "models/totals.sql",
        &TOTALS.replace("sum(amount)", "sum(amout)"),
    );
    let run = p.kiln(&["run", "-s", "totals"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("unknown column `amout` in model totals"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("Database Error"), "{}", run.stdout);
    assert_eq!(total(&p), 16.0);

    // Fixed, it builds.
    p.write("models/totals.sql", TOTALS);
    p.kiln(&["build", "-s", "totals"]).ok();
    assert_eq!(total(&p), 16.0);
}

fn sources_and_uncertain_names_are_checked_only_where_known(b: Backend) {
    let p = project(b);
    p.kiln(&["seed"]).ok();
    let schema = p.schema.clone();
    // A source documented with one of its columns: the others exist in the database.
    p.write(
        "models/sources.yml",
        &format!(
            "sources:\n  - name: raw\n    schema: {schema}\n    tables:\n      - name: raw_orders\n        columns:\n          - name: id\n"
        ),
    );
    p.write(
        "models/from_source.sql",
        "select id, amount from {{ source('raw', 'raw_orders') }}",
    );
    // Names computed by an unaliased expression, which each database spells its own way.
    p.write(
        "models/computed.sql",
        "select id, upper('x') from {{ ref('orders') }}",
    );
    p.write(
        "models/reads_computed.sql",
        "select id from {{ ref('computed') }} where id > 0",
    );
    p.kiln(&["build"]).ok();
    assert_eq!(
        normalize(p.one("select sum(amount) from from_source")),
        n(16.0)
    );
    assert_eq!(
        normalize(p.one("select count(*) from reads_computed")),
        n(3.0)
    );
    // With its columns typed, the source is a declared schema and is checked.
    p.write(
        "models/sources.yml",
        &format!(
            "sources:\n  - name: raw\n    schema: {schema}\n    tables:\n      - name: raw_orders\n        columns:\n          - name: id\n            data_type: integer\n"
        ),
    );
    let compile = p.kiln(&["compile", "-s", "from_source"]);
    assert_eq!(compile.code, 2, "{}", compile.stdout);
    let out = format!("{}{}", compile.stdout, compile.stderr);
    assert!(
        out.contains("unknown column `amount` in model from_source"),
        "{out}"
    );
    // In a run the database has the source's columns, so a typo is caught there too.
    p.write(
        "models/from_source.sql",
        "select id, amout from {{ source('raw', 'raw_orders') }}",
    );
    let run = p.kiln(&["run", "-s", "from_source"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("unknown column `amout` in model from_source"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("did you mean `amount`?"),
        "{}",
        run.stdout
    );
    // A model can turn the check off.
    p.write(
        "models/from_source.sql",
        "{{ config(column_checks=false) }}\nselect id, amount from {{ source('raw', 'raw_orders') }}",
    );
    p.kiln(&["build", "-s", "from_source"]).ok();
    assert_eq!(
        normalize(p.one("select sum(amount) from from_source")),
        n(16.0)
    );
}
