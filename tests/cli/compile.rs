//! `kiln parse` / `kiln compile` on the dbt-style example project: compiled SQL, the manifest,
//! config precedence, ephemeral CTEs, docs blocks and determinism.

use crate::support::TempProject;
use serde_json::Value;

fn manifest(p: &TempProject) -> Value {
    serde_json::from_str(&p.read("target/manifest.json")).unwrap()
}

#[test]
fn compiles_the_example_project_like_dbt() {
    let p = TempProject::fixture("jaffle");
    let run = p.kiln(&["compile"]).ok();
    assert!(run.stderr.contains("Compiled"), "{}", run.stderr);
    for path in [
        "models/staging/stg_customers.sql",
        "models/staging/stg_orders.sql",
        "models/staging/stg_payments.sql",
        "models/marts/orders.sql",
        "models/marts/customers.sql",
        "models/marts/finance/revenue_by_day.sql",
        "snapshots/orders_snapshot.sql",
        "analyses/order_status_counts.sql",
        "tests/assert_positive_revenue.sql",
    ] {
        let sql = p.read(&format!("target/compiled/jaffle/{path}"));
        insta::assert_snapshot!(format!("compiled_{}", path.replace('/', "__")), sql);
    }
    // Generic tests are compiled under the YAML file's path, named as dbt names them.
    let tests_dir = p.root.join("target/compiled/jaffle/models/schema.yml");
    let mut names: Vec<String> = std::fs::read_dir(&tests_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    insta::assert_snapshot!("generic_test_files", names.join("\n"));
    for name in [
        "not_null_orders_order_id.sql",
        "unique_customers_customer_id.sql",
        "relationships_orders_customer_id__customer_id__ref_customers_.sql",
        "is_positive_customers_number_of_orders.sql",
    ] {
        let sql = std::fs::read_to_string(tests_dir.join(name)).unwrap();
        insta::assert_snapshot!(format!("compiled_test_{name}"), sql);
    }
}

#[test]
fn manifest_records_dependencies_configs_and_columns() {
    let p = TempProject::fixture("jaffle");
    p.kiln(&["compile"]).ok();
    let m = manifest(&p);
    let customers = &m["nodes"]["model.jaffle.customers"];
    assert_eq!(
        customers["depends_on"]["nodes"],
        serde_json::json!(["model.jaffle.stg_customers", "model.jaffle.orders"])
    );
    // Project tree says table for marts; in-file config adds a tag on top of project tags.
    assert_eq!(customers["config"]["materialized"], "table");
    assert_eq!(customers["tags"], serde_json::json!(["jaffle", "daily"]));
    assert_eq!(customers["relation_name"], "\"main\".\"customers\"");
    // Custom schema from a nested folder config.
    assert_eq!(
        m["nodes"]["model.jaffle.revenue_by_day"]["schema"],
        "main_finance"
    );
    // In-file config() wins over the project tree (staging is `view`).
    assert_eq!(
        m["nodes"]["model.jaffle.stg_payments"]["config"]["materialized"],
        "ephemeral"
    );
    // Output columns are inferred, through `select *` of upstream CTEs and models; Kiln keeps
    // them in its own file, since dbt's manifest has no room for them.
    let lineage: Value = serde_json::from_str(&p.read("target/kiln_lineage.json")).unwrap();
    assert!(customers.get("kiln_inferred_columns").is_none());
    assert_eq!(
        lineage["nodes"]["model.jaffle.customers"]["columns"],
        serde_json::json!([
            "customer_id",
            "first_name",
            "last_name",
            "first_order",
            "most_recent_order",
            "number_of_orders",
            "customer_lifetime_value"
        ])
    );
    assert_eq!(
        lineage["nodes"]["model.jaffle.stg_customers"]["columns"],
        serde_json::json!(["customer_id", "first_name", "last_name"])
    );
    // Docs blocks are rendered into descriptions.
    let status = &m["nodes"]["model.jaffle.orders"]["columns"]["status"]["description"];
    assert!(
        status
            .as_str()
            .unwrap()
            .contains("The order has been shipped"),
        "{status}"
    );
    // The macro is recorded as a dependency of the model that calls it.
    assert_eq!(
        m["nodes"]["model.jaffle.stg_payments"]["depends_on"]["macros"],
        serde_json::json!(["macro.jaffle.cents_to_dollars"])
    );
    // Snapshot config from its block.
    let snap = &m["nodes"]["snapshot.jaffle.orders_snapshot"];
    assert_eq!(snap["config"]["strategy"], "check");
    assert_eq!(snap["schema"], "main_snapshots");
    // Tests are attached to the model they check.
    let tests: Vec<&String> = m["nodes"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("test.jaffle.not_null_orders_order_id."))
        .collect();
    assert_eq!(tests.len(), 1);
    assert_eq!(m["nodes"][tests[0]]["attached_node"], "model.jaffle.orders");
    assert_eq!(
        m["child_map"]["model.jaffle.orders"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c.as_str().unwrap().starts_with("model."))
            .count(),
        2
    );
}

#[test]
fn compile_output_is_byte_identical_across_runs() {
    let p = TempProject::fixture("jaffle");
    p.kiln(&["compile"]).ok();
    let first = p.read("target/manifest.json");
    let first_sql = p.read("target/compiled/jaffle/models/marts/orders.sql");
    p.kiln(&["clean"]).ok();
    assert!(!p.root.join("target").exists());
    p.kiln(&["compile"]).ok();
    assert_eq!(first, p.read("target/manifest.json"));
    assert_eq!(
        first_sql,
        p.read("target/compiled/jaffle/models/marts/orders.sql")
    );
}

#[test]
fn vars_on_the_command_line_override_project_vars() {
    let p = TempProject::fixture("jaffle");
    p.kiln(&[
        "compile",
        "-s",
        "orders",
        "--vars",
        "{payment_methods: [cash]}",
    ])
    .ok();
    let sql = p.read("target/compiled/jaffle/models/marts/orders.sql");
    assert!(sql.contains("cash_amount"), "{sql}");
    assert!(!sql.contains("coupon"), "{sql}");
}

#[test]
fn init_scaffolds_a_project_that_compiles() {
    let p = TempProject::with_files(&[]);
    p.kiln(&["init", "demo"]).ok();
    let demo = p.root.join("demo");
    assert!(demo.join("project.yml").exists());
    assert!(demo.join("seeds/raw_customers.csv").exists());
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["compile"])
        .current_dir(&demo)
        .env("HOME", &p.home)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let sql = std::fs::read_to_string(
        demo.join("target/compiled/demo/models/marts/customers_by_month.sql"),
    )
    .unwrap();
    assert!(sql.contains("from \"main\".\"stg_customers\""), "{sql}");
    // A second init over the same name refuses instead of overwriting.
    let again = p.kiln(&["init", "demo"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"));
}

#[test]
fn debug_shows_the_embedded_default_target() {
    let p = TempProject::fixture("errors/cycle");
    let run = p.kiln(&["debug"]).ok();
    assert!(run.stdout.contains("adapter: sqlite"), "{}", run.stdout);
    assert!(run.stdout.contains("embedded default"), "{}", run.stdout);
}

#[test]
fn every_jinja_function_renders_like_dbt() {
    let p = TempProject::fixture("jinja");
    p.kiln_env(&["compile"], &[("KILN_TEST_ENV", "from-env")])
        .ok();
    insta::assert_snapshot!(
        "compiled_jinja_fns",
        p.read("target/compiled/jinja_fns/models/fns.sql")
    );
    let m = manifest(&p);
    let fns = &m["nodes"]["model.jinja_fns.fns"];
    // Precedence: project (view) < YAML config < config() in the file (table); tags accumulate.
    assert_eq!(fns["config"]["materialized"], "table");
    assert_eq!(fns["tags"], serde_json::json!(["from_yaml", "from_file"]));
    assert_eq!(fns["description"], "Amount in dollars.");
    assert_eq!(
        fns["depends_on"]["nodes"],
        serde_json::json!(["seed.jinja_fns.sales", "source.jinja_fns.raw.events"])
    );
    assert_eq!(
        fns["depends_on"]["macros"],
        serde_json::json!([
            "macro.jinja_fns.my_concat",
            "macro.jinja_fns.region_list",
            "macro.jinja_fns.sqlite__my_concat",
            "macro.jinja_fns.wrap_in_parens"
        ])
    );
    // A project `{% test not_null %}` overrides the built-in.
    let tests_dir = p.root.join("target/compiled/jinja_fns/models/sources.yml");
    let sql = std::fs::read_to_string(tests_dir.join("not_null_fns_id.sql")).unwrap();
    assert!(sql.contains("-- project not_null"), "{sql}");
}

#[test]
fn manifest_node_shape() {
    let p = TempProject::fixture("jaffle");
    p.kiln(&["compile", "-s", "customers"]).ok();
    let m = manifest(&p);
    let mut node = m["nodes"]["model.jaffle.customers"].clone();
    // Code is covered by the compiled SQL snapshots; keep this snapshot about structure.
    node["raw_code"] = Value::from("<raw>");
    node["compiled_code"] = Value::from("<compiled>");
    insta::assert_json_snapshot!("manifest_node_customers", node);
    assert_eq!(m["metadata"]["adapter_type"], "sqlite");
    assert_eq!(
        m["parent_map"]["model.jaffle.stg_customers"],
        serde_json::json!(["seed.jaffle.raw_customers"])
    );
}

#[test]
fn init_demo_builds_with_no_other_setup() {
    let p = TempProject::with_files(&[]);
    p.kiln(&["init", "demo"]).ok();
    let kiln = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(args)
            .current_dir(p.root.join("demo"))
            .env("HOME", &p.home)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let out = kiln(&["build"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kiln(&[
        "show",
        "--inline",
        "select sum(customers) as total from {{ ref('customers_by_month') }}",
        "--output",
        "json",
    ]);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["total"], 4);
}

#[test]
fn model_shows_the_node_with_its_final_config() {
    let p = TempProject::with_files(&[
        (
            "project.yml",
            "name: shown\nmodels:\n  shown:\n    +tags: [nightly]\n",
        ),
        (
            "models/marts/orders.sql",
            "{{ config(materialized='table', alias='all_orders') }}\n\
             select '{{ model.unique_id }}|{{ model.name }}|{{ model.alias }}|{{ model.resource_type }}\
             |{{ model.config.materialized }}|{{ model.tags | join(\",\") }}|{{ model.fqn | join(\".\") }}\
             |{{ model.original_file_path }}|{{ model.raw_code | length > 0 }}' as shown",
        ),
    ]);
    p.kiln(&["compile"]).ok();
    let sql = p.read("target/compiled/shown/models/marts/orders.sql");
    assert!(
        sql.contains(
            "'model.shown.orders|orders|all_orders|model|table|nightly|shown.marts.orders\
             |models/marts/orders.sql|True'"
        ),
        "{sql}"
    );
}

#[test]
fn project_macros_override_schema_and_alias_naming() {
    let p = TempProject::with_files(&[
        ("project.yml", "name: naming\n"),
        (
            "macros/naming.sql",
            "{% macro generate_schema_name(custom_schema_name, node) -%}\n  {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}\n{%- endmacro %}\n\
             {% macro generate_alias_name(custom_alias_name=none, node=none) -%}\n  {%- if custom_alias_name -%}{{ custom_alias_name }}{%- else -%}{{ node.name }}_v2{%- endif -%}\n{%- endmacro %}\n",
        ),
        ("models/plain.sql", "select 1 as id"),
        (
            "models/finance.sql",
            "{{ config(schema='finance', alias='revenue') }}\nselect 1 as id",
        ),
        (
            "models/reader.sql",
            "select * from {{ ref('finance') }} join {{ ref('plain') }} using (id)",
        ),
    ]);
    p.kiln(&["compile"]).ok();
    let m = manifest(&p);
    assert_eq!(
        m["nodes"]["model.naming.finance"]["relation_name"],
        "\"finance\".\"revenue\""
    );
    assert_eq!(
        m["nodes"]["model.naming.plain"]["relation_name"],
        "\"main\".\"plain_v2\""
    );
    let sql = p.read("target/compiled/naming/models/reader.sql");
    assert!(
        sql.contains("\"finance\".\"revenue\" join \"main\".\"plain_v2\""),
        "{sql}"
    );
}

#[test]
fn graph_is_there_for_templates_and_for_inline_sql_that_name_it() {
    // No file of this project names `graph`, so it is built only when inline SQL asks for it.
    let p = TempProject::with_files(&[
        ("project.yml", "name: g\n"),
        ("models/a.sql", "select 1 as id"),
        ("models/b.sql", "select * from {{ ref('a') }}"),
    ]);
    let out = p
        .kiln(&[
            "compile",
            "--inline",
            "{% for n in graph.nodes.values() | sort(attribute='name') %}{{ n.name }},{% endfor %}",
        ])
        .ok();
    assert_eq!(out.stdout.trim(), "a,b,");

    // A model that names it sees every node while compiling.
    let p = TempProject::with_files(&[
        ("project.yml", "name: g\n"),
        ("models/a.sql", "select 1 as id"),
        (
            "models/count_nodes.sql",
            "select {{ graph.nodes | length }} as nodes",
        ),
    ]);
    p.kiln(&["compile"]).ok();
    let sql = p.read("target/compiled/g/models/count_nodes.sql");
    assert!(sql.contains("select 2 as nodes"), "{sql}");
}
