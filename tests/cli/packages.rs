//! Installed packages: each loaded as a project with its own namespace, vars and config, the
//! root project's config tree and `dispatch:` order reaching into it, and dbt's Jinja that
//! package macros lean on (mutable lists and dicts, statements, implicit kwargs, `fail_calc`).

use crate::support::{Backend, TempProject, n};
use serde_json::Value;

use crate::support::on_every_adapter;

on_every_adapter!(
    package_models_macros_and_tests_build,
    run_operation_runs_a_package_macro,
);

fn manifest(p: &TempProject) -> Value {
    serde_json::from_str(&p.read("target/manifest.json")).unwrap()
}

#[test]
fn package_macros_resolve_by_namespace_dispatch_and_vars() {
    let p = TempProject::fixture("pkguse");
    let run = p.kiln(&["compile"]).ok();
    // Properties for a model that does not exist are a warning, and their tests are dropped.
    assert!(
        run.stderr
            .contains("properties for model `not_a_model` but no such model exists"),
        "{}",
        run.stderr
    );
    let sql = p.read("target/compiled/app/models/uses_pkg.sql");
    for expected in [
        // Scoped var from the root project wins over the package default; a package-only var
        // still reaches the package's macros.
        "'hi from root / kept' as greeting",
        // dispatch search order [app, shared_pkg]: the root project's implementation wins.
        "'root override' as picked",
        // An unqualified call inside a package macro finds its sibling.
        "'hi from root / kept' as sibling",
        // Undeclared arguments arrive as varargs and kwargs.
        "'one|two,three|mint' as extras",
        // List and dict mutation.
        "'z,b' as cols",
        "'c' as popped",
        "1 as k_len",
        "'v' as s",
        // A literal list is a fresh list on every evaluation.
        "0 as fresh_len",
        "'11' as grown",
        // Undefined variables render empty, as in dbt.
        "'' as lenient",
        "'lit' as lit",
    ] {
        assert!(sql.contains(expected), "missing `{expected}` in:\n{sql}");
    }
    let m = manifest(&p);
    let pkg = &m["nodes"]["model.shared_pkg.pkg_numbers"];
    assert_eq!(pkg["package_name"], "shared_pkg");
    // The root project's tree overrides the package's own (+materialized: view).
    assert_eq!(pkg["config"]["materialized"], "table");
    assert_eq!(pkg["config"]["schema"], "shared");
    assert!(
        pkg["config"]["tags"]
            .as_array()
            .unwrap()
            .contains(&Value::from("from_root"))
    );
    assert!(
        m["nodes"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains("not_a_model"))
    );
    assert!(
        m["macros"]
            .as_object()
            .unwrap()
            .contains_key("macro.shared_pkg.greet")
    );
}

#[test]
fn dbt_context_functions_render_as_in_dbt() {
    let p = TempProject::fixture("pkguse");
    p.kiln(&["compile", "-s", "context_bits"]).ok();
    let sql = p.read("target/compiled/app/models/context_bits.sql");
    for expected in [
        "'a#b#c' as re_sub",
        "'34' as re_group",
        "'2024-02-29' as a_date",
        "'2024/01/02 03:04' as a_datetime",
        "'a1,a2,b1,b2' as product",
        // md5 of "kiln", as Python's hashlib gives it.
        "'9e8287435ae73a052c9459e215e46a28' as md5",
        // Python's json.dumps spacing.
        "'{\"k\": [1, 2]}' as json_text",
        "'1:x,2:y' as zipped",
        "'a,b' as a_set",
        "'compile' as which",
        "36 as invocation_id_length",
        "'shared_pkg' as graph_package",
        "'t|True|Relation|\"s\".\"t\"' as relation_bits",
        "'price|True|False' as column_bits",
        "'data' as owner",
        "'False|False' as should",
        "true as started_recently",
    ] {
        assert!(sql.contains(expected), "missing `{expected}` in:\n{sql}");
    }
}

#[test]
fn selected_resources_lists_what_the_command_selected() {
    let p = TempProject::fixture("pkguse");
    p.kiln(&["run", "-s", "selected", "answers"]).ok();
    assert_eq!(
        p.query(&format!(
            "select n_selected, selects_me from {}.selected",
            p.schema
        )),
        vec![vec![n(2.0), Value::from("yes")]]
    );
}

#[test]
fn calling_an_undefined_macro_is_an_error_that_names_it() {
    let p = TempProject::with_files(&[
        ("project.yml", "name: strict\n"),
        ("models/m.sql", "select {{ no_such_macro('x') }} as c\n"),
    ]);
    let run = p.kiln(&["parse"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("models/m.sql:1"), "{}", run.stderr);
    assert!(run.stderr.contains("no_such_macro"), "{}", run.stderr);
}

#[test]
fn a_project_that_lists_packages_but_has_none_installed_is_told_to_run_deps() {
    let p = TempProject::with_files(&[
        ("project.yml", "name: needs_deps\n"),
        (
            "packages.yml",
            "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.1.1\n",
        ),
        ("models/m.sql", "select 1 as c\n"),
    ]);
    let run = p.kiln(&["parse"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("run `kiln deps`"), "{}", run.stderr);
}

fn package_models_macros_and_tests_build(backend: Backend) {
    let p = TempProject::fixture_on("pkguse", backend);
    let run = p.kiln(&["build"]);
    // The package's sum_of_values test uses fail_calc = sum(n): 6 is over warn_if (>5) but
    // under error_if (>100), so it warns; count(*) would have given 2 and passed.
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let out = format!("{}{}", run.stdout, run.stderr);
    assert!(out.contains("WARN"), "{out}");
    let statuses = p.statuses();
    let status_of = |prefix: &str| {
        statuses
            .iter()
            .find(|(id, _)| id.starts_with(prefix))
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("no result for {prefix}: {statuses:?}"))
    };
    assert_eq!(status_of("test.app.is_even_uses_pkg_n"), "pass");
    assert_eq!(
        status_of("test.app.shared_pkg_sum_of_values_uses_pkg_n"),
        "warn"
    );
    let shared = p.custom_schema("shared");
    assert_eq!(
        p.one(&format!("select sum(n) from {shared}.pkg_numbers")),
        n(6.0)
    );
    assert_eq!(
        p.query(&format!(
            "select greeting, picked, cols, n from {}.uses_pkg order by n",
            p.schema
        )),
        vec![
            vec![
                Value::from("hi from root / kept"),
                Value::from("root override"),
                Value::from("z,b"),
                n(2.0)
            ],
            vec![
                Value::from("hi from root / kept"),
                Value::from("root override"),
                Value::from("z,b"),
                n(4.0)
            ],
        ]
    );
    // A statement block ran against the database and its result came back to the template.
    assert_eq!(
        p.query(&format!(
            "select answer, column_name from {}.answers",
            p.schema
        )),
        vec![vec![n(42.0), Value::from("answer")]]
    );
}

fn run_operation_runs_a_package_macro(backend: Backend) {
    let p = TempProject::fixture_on("pkguse", backend);
    let run = p
        .kiln(&[
            "run-operation",
            "shared_pkg.make_table",
            "--args",
            "{name: from_op, rows: 7}",
        ])
        .ok();
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("created from_op with 7"),
        "{run:?}"
    );
    assert_eq!(
        p.one(&format!("select n from {}.from_op", p.schema)),
        n(7.0)
    );
    let run = p.kiln(&["run-operation", "shared_pkg.refuse"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("refused on purpose"), "{}", run.stderr);
    let run = p.kiln(&["run-operation", "no_such_macro"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("no macro named `no_such_macro`"),
        "{}",
        run.stderr
    );
}
