//! Where dbt is lenient, Kiln is too: such input loads with a warning that names the line,
//! instead of stopping the project.

use crate::support::{TempProject, n};
use serde_json::Value;

#[test]
fn an_unknown_project_key_is_a_warning_with_its_line() {
    let p = TempProject::with_files(&[
        (
            "dbt_project.yml",
            "name: lenient\nprofile: lenient\ndbt-cloud:\n  project-id: 7\norchestrator:\n  team: data\nmodel-path: [models]\n",
        ),
        ("models/m.sql", "select 1 as c\n"),
    ]);
    let run = p.kiln(&["parse"]).ok();
    assert!(
        run.stderr.contains(
            "dbt_project.yml:5:1: unknown key `orchestrator` in dbt_project.yml is ignored"
        ),
        "{}",
        run.stderr
    );
    // dbt Cloud's key is one dbt accepts.
    assert!(!run.stderr.contains("dbt-cloud"), "{}", run.stderr);
    // A misspelt key still gets its suggestion.
    assert!(
        run.stderr.contains("did you mean `model-paths`"),
        "{}",
        run.stderr
    );
    assert!(p.read("target/manifest.json").contains("model.lenient.m"));
}

#[test]
fn properties_for_a_missing_model_warn_and_the_rest_builds() {
    let p = TempProject::with_files(&[
        ("project.yml", "name: lenient\n"),
        ("models/m.sql", "select 1 as c\n"),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: gone\n    columns:\n      - name: c\n        data_tests: [not_null]\n  - name: m\n    columns:\n      - name: c\n        data_tests: [not_null]\n",
        ),
    ]);
    let run = p.kiln(&["build"]).ok();
    assert!(
        run.stderr.contains(
            "models/schema.yml:3:1: properties for model `gone` but no such model exists"
        ),
        "{}",
        run.stderr
    );
    let results: Value = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    let ids: Vec<&str> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["unique_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(
        ids.iter()
            .any(|id| id.starts_with("test.lenient.not_null_m_c"))
    );
}

#[test]
fn a_short_csv_row_loads_nulls_and_names_its_line() {
    let p = TempProject::with_files(&[
        ("project.yml", "name: lenient\n"),
        (
            "seeds/people.csv",
            "id,name,city\n1,ann,oslo\n2,bob\n3,cy,rome\n",
        ),
    ]);
    let run = p.kiln(&["seed"]).ok();
    let out = format!("{}{}", run.stdout, run.stderr);
    assert!(
        out.contains("seeds/people.csv line 3 had fewer fields than the header"),
        "{out}"
    );
    assert_eq!(
        p.query("select id, name, city from people order by id"),
        vec![
            vec![n(1.0), Value::from("ann"), Value::from("oslo")],
            vec![n(2.0), Value::from("bob"), Value::Null],
            vec![n(3.0), Value::from("cy"), Value::from("rome")],
        ]
    );
}
