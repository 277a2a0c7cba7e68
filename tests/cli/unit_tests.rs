//! Unit tests in dbt's format: a model run on given rows and compared with expected ones,
//! without building anything upstream.

use crate::support::{Backend, TempProject, on_every_adapter};

on_every_adapter!(
    unit_tests_pass_and_fail_in_every_format_without_building_anything,
    build_runs_unit_tests_first_and_skips_a_model_whose_unit_test_fails,
    given_values_take_their_types_from_the_built_parents,
);

const ORDERS: &str =
    "id,customer_id,amount,status\n1,10,5,placed\n2,10,4,RETURNED\n3,11,7,placed\n";

const STG_ORDERS: &str = "select id as order_id, customer_id, amount, lower(status) as status from {{ ref('raw_orders') }}";

/// Orders per customer without returns, appended incrementally; the label comes from a var and
/// the region from an environment variable.
const TOTALS: &str = "{{ config(materialized='incremental', unique_key='customer_id') }}
select customer_id, sum(amount) as total, count(*) as orders,
  '{{ var(\"label\", \"none\") }}' as label, '{{ env_var(\"KILN_UT_REGION\", \"eu\") }}' as region
from {{ ref('stg_orders') }}
where status <> 'returned'
{% if is_incremental() %}
  and customer_id not in (select customer_id from {{ this }})
{% endif %}
group by customer_id";

const UNIT_TESTS: &str = "unit_tests:
  - name: totals_leave_out_returns
    model: customer_totals
    given:
      - input: ref('stg_orders')
        rows:
          - {order_id: 1, customer_id: 10, amount: 5, status: placed}
          - {order_id: 2, customer_id: 10, amount: 3, status: returned}
          - {order_id: 3, customer_id: 11, amount: 2, status: placed}
    expect:
      rows:
        - {customer_id: 11, total: 2, orders: 1}
        - {customer_id: 10, total: 5, orders: 1}
  - name: totals_with_overrides
    model: customer_totals
    overrides:
      vars: {label: vip}
      env_vars: {KILN_UT_REGION: us}
    given:
      - input: ref('stg_orders')
        format: csv
        rows: |
          order_id,customer_id,amount,status
          1,10,5,placed
    expect:
      format: sql
      rows: \"select 10 as customer_id, 'vip' as label, 'us' as region\"
  - name: incremental_run_skips_known_customers
    model: customer_totals
    overrides:
      macros: {is_incremental: true}
    given:
      - input: ref('stg_orders')
        format: sql
        rows: \"select 1 as order_id, 10 as customer_id, 5 as amount, 'placed' as status union all select 2, 11, 1, 'placed'\"
      - input: this
        format: csv
        fixture: known_customers
    expect:
      format: csv
      fixture: expected_new_customers
  - name: totals_expect_a_wrong_sum
    model: customer_totals
    given:
      - input: ref('stg_orders')
        rows:
          - {order_id: 1, customer_id: 10, amount: 5, status: placed}
          - {order_id: 3, customer_id: 11, amount: 2, status: placed}
    expect:
      rows:
        - {customer_id: 10, total: 6}
        - {customer_id: 11, total: 2}
  - name: stg_orders_lowers_status
    model: stg_orders
    given:
      - input: ref('raw_orders')
        rows:
          - {id: 1, customer_id: 10, amount: 5, status: PLACED}
    expect:
      rows:
        - {order_id: 1, status: placed}
";

fn project(b: Backend) -> TempProject {
    TempProject::with_files_on(
        &[
            ("dbt_project.yml", "name: shop\nprofile: shop\n"),
            ("seeds/raw_orders.csv", ORDERS),
            ("models/stg_orders.sql", STG_ORDERS),
            ("models/customer_totals.sql", TOTALS),
            ("models/unit_tests.yml", UNIT_TESTS),
            (
                "tests/fixtures/known_customers.csv",
                "customer_id,total,orders,label,region\n10,5,1,none,eu\n",
            ),
            (
                "tests/fixtures/expected_new_customers.csv",
                "customer_id,total\n11,1\n",
            ),
        ],
        b,
    )
}

/// A model that applies a date function to a column no YAML types: the given text values are
/// typed from the parent's columns in the database, as dbt does.
fn given_values_take_their_types_from_the_built_parents(b: Backend) {
    let postgres = matches!(b, Backend::Postgres(_));
    let p = TempProject::with_files_on(
        &[
            ("dbt_project.yml", "name: shop\nprofile: shop\n"),
            (
                "seeds/raw_dates.csv",
                "id,ordered_at\n1,2024-03-15\n2,2024-04-02\n",
            ),
            (
                "models/stg_dates.sql",
                "select id, ordered_at from {{ ref('raw_dates') }}",
            ),
            (
                "models/months.sql",
                "select id, {{ dbt.date_trunc('month', 'ordered_at') }} as month from {{ ref('stg_dates') }}",
            ),
            (
                "models/unit_tests.yml",
                "unit_tests:
  - name: months_start_on_the_first
    model: months
    given:
      - input: ref('stg_dates')
        rows:
          - {id: 7, ordered_at: '2024-03-15'}
    expect:
      rows:
        - {id: 7, month: '2024-03-01'}
",
            ),
        ],
        b,
    );
    if postgres {
        // Nothing built: the values are untyped text, which date_trunc refuses; the error says
        // what to do.
        let run = p.kiln(&["test"]);
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("ref('stg_dates') is not built")
                && run
                    .stdout
                    .contains("kiln build -s +months --exclude months --empty"),
            "{}",
            run.stdout
        );
    }
    p.kiln(&["build", "-s", "+months", "--exclude", "months", "--empty"])
        .ok();
    p.kiln(&["test"]).ok();
    let got = p.results();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, "pass", "{got:?}");
    assert_eq!(
        p.relation_kind(&p.schema, "months"),
        None,
        "months was built"
    );
    // In build, the unit test waits for the model's parents, then the model is built.
    p.kiln(&["build"]).ok();
    assert_eq!(p.one("select count(*) from months"), serde_json::json!(2.0));
}

fn unit_tests_pass_and_fail_in_every_format_without_building_anything(b: Backend) {
    let p = project(b);
    let run = p.kiln(&["test"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let got = p.results();
    let status = |name: &str| {
        got.iter()
            .find(|r| r.0.ends_with(name))
            .map(|r| r.1.clone())
            .unwrap_or_default()
    };
    assert_eq!(status("totals_leave_out_returns"), "pass", "{got:?}");
    assert_eq!(status("totals_with_overrides"), "pass", "{got:?}");
    assert_eq!(
        status("incremental_run_skips_known_customers"),
        "pass",
        "{got:?}"
    );
    assert_eq!(status("stg_orders_lowers_status"), "pass", "{got:?}");
    assert_eq!(status("totals_expect_a_wrong_sum"), "fail", "{got:?}");
    assert_eq!(got.len(), 5, "{got:?}");
    // The failure shows the expected row beside the actual one, the differing cell marked.
    assert!(
        run.stdout
            .contains("Failure in unit_test totals_expect_a_wrong_sum (models/unit_tests.yml)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 row differs"), "{}", run.stdout);
    let expected_line = run
        .stdout
        .lines()
        .find(|l| l.contains("expected |"))
        .unwrap_or_default();
    let actual_line = run
        .stdout
        .lines()
        .find(|l| l.contains("actual "))
        .unwrap_or_default();
    assert!(expected_line.contains("| 6"), "{}", run.stdout);
    assert!(actual_line.contains("≠ 5"), "{}", run.stdout);
    let failing = got.iter().find(|r| r.1 == "fail").unwrap();
    assert!(
        failing.2.contains("≠ 5"),
        "run_results message: {}",
        failing.2
    );
    // Nothing upstream was built: not the seed, not the models.
    for name in ["raw_orders", "stg_orders", "customer_totals"] {
        assert_eq!(p.relation_kind(&p.schema, name), None, "{name} was built");
    }
}

fn build_runs_unit_tests_first_and_skips_a_model_whose_unit_test_fails(b: Backend) {
    let p = project(b);
    let run = p.kiln(&["build"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let got = p.results();
    let status = |id: &str| got.iter().find(|r| r.0 == id).map(|r| r.1.clone());
    assert_eq!(status("model.shop.stg_orders").as_deref(), Some("success"));
    assert_eq!(
        status("model.shop.customer_totals").as_deref(),
        Some("skipped")
    );
    assert_eq!(p.relation_kind(&p.schema, "customer_totals"), None);
    // stg_orders passed its unit test and was built, before the model that reads it.
    assert_eq!(
        p.one("select count(*) from stg_orders where status = 'returned'"),
        serde_json::json!(1.0)
    );
    // With the wrong expectation fixed, the model builds and holds the real figures.
    p.write(
        "models/unit_tests.yml",
        &UNIT_TESTS.replace("{customer_id: 10, total: 6}", "{customer_id: 10, total: 5}"),
    );
    p.kiln(&["build"]).ok();
    let rows = p.query("select customer_id, total from customer_totals order by customer_id");
    let ints: Vec<Vec<i64>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| {
                    v.as_i64()
                        .or_else(|| v.as_f64().map(|f| f as i64))
                        .or_else(|| {
                            v.as_str()
                                .and_then(|s| s.parse::<f64>().ok())
                                .map(|f| f as i64)
                        })
                        .unwrap()
                })
                .collect()
        })
        .collect();
    assert_eq!(ints, vec![vec![10, 5], vec![11, 7]]);
}

#[test]
fn unit_tests_are_listed_and_selected_like_tests() {
    let p = project(Backend::Sqlite);
    let listed = p.kiln(&["ls", "-s", "test_type:unit"]).ok();
    assert_eq!(
        listed.lines(),
        vec![
            "unit_test:shop.incremental_run_skips_known_customers",
            "unit_test:shop.stg_orders_lowers_status",
            "unit_test:shop.totals_expect_a_wrong_sum",
            "unit_test:shop.totals_leave_out_returns",
            "unit_test:shop.totals_with_overrides",
        ]
    );
    let by_type = p.kiln(&["ls", "--resource-type", "unit_test"]).ok();
    assert_eq!(by_type.lines(), listed.lines());
    let one = p
        .kiln(&["ls", "-s", "stg_orders", "--resource-type", "unit_test"])
        .ok();
    assert_eq!(one.lines(), vec!["unit_test:shop.stg_orders_lowers_status"]);
    // What ls prints selects the unit test.
    let again = p
        .kiln(&["ls", "-s", "unit_test:shop.stg_orders_lowers_status"])
        .ok();
    assert_eq!(
        again.lines(),
        vec!["unit_test:shop.stg_orders_lowers_status"]
    );
    // Selecting a model's unit tests runs only them.
    p.kiln(&["test", "-s", "stg_orders", "--resource-type", "unit_test"])
        .ok();
    let got = p.results();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].0,
        "unit_test.shop.stg_orders.stg_orders_lowers_status"
    );
    assert_eq!(got[0].1, "pass");
}

#[test]
fn an_input_the_test_does_not_give_is_named_with_what_to_add() {
    let p = project(Backend::Sqlite);
    p.write(
        "models/unit_tests.yml",
        "unit_tests:\n  - name: no_inputs\n    model: stg_orders\n    given: []\n    expect:\n      rows: []\n",
    );
    let run = p.kiln(&["test"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("unit test `no_inputs`: no rows are given for ref('raw_orders')"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("- input: ref('raw_orders')"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_unit_test_of_a_missing_model_fails_at_its_line() {
    let p = project(Backend::Sqlite);
    p.write(
        "models/unit_tests.yml",
        "unit_tests:\n  - name: ok\n    model: stg_orders\n    given: []\n    expect: {rows: []}\n  - name: lost\n    model: stg_ordrs\n    given: []\n    expect: {rows: []}\n",
    );
    let run = p.kiln(&["parse"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("unit test `lost` is about model `stg_ordrs`, which does not exist"),
        "{all}"
    );
    assert!(all.contains("models/unit_tests.yml:6"), "{all}");
}

#[test]
fn an_edited_unit_test_is_state_modified_and_the_others_are_not() {
    let p = project(Backend::Sqlite);
    p.kiln(&["parse"]).ok();
    let manifest = p.read("target/manifest.json");
    p.write("prod-state/manifest.json", &manifest);
    let modified = |p: &TempProject| {
        p.kiln(&[
            "ls",
            "-s",
            "state:modified",
            "--state",
            "prod-state",
            "--indirect-selection",
            "empty",
        ])
        .ok()
        .lines()
        .into_iter()
        .map(String::from)
        .filter(|l| !l.contains("nothing matched"))
        .collect::<Vec<_>>()
    };
    assert!(modified(&p).is_empty(), "{:?}", modified(&p));
    p.write(
        "models/unit_tests.yml",
        &UNIT_TESTS.replace(
            "{order_id: 1, status: placed}",
            "{order_id: 1, status: PLACED}",
        ),
    );
    assert_eq!(
        modified(&p),
        vec!["unit_test:shop.stg_orders_lowers_status"]
    );
}
