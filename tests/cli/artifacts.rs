//! The artifacts Kiln shares with dbt's tools: which commands write `target/manifest.json`, and
//! that Kiln's identities (unique_ids, checksums, unrendered configs) are the ones dbt-core 1.11
//! computes for the same project.

use crate::support::TempProject;
use serde_json::Value;

fn manifest(p: &TempProject) -> Value {
    serde_json::from_str(&p.read("target/manifest.json")).unwrap()
}

#[test]
fn every_command_that_loads_the_project_writes_the_manifest() {
    let p = TempProject::fixture("jaffle");
    let commands: &[&[&str]] = &[
        &["seed"],
        &["run"],
        &["test"],
        &["snapshot"],
        &["build"],
        &["ls"],
        &["compile"],
        &["parse"],
        &["docs", "generate"],
        &["source", "freshness"],
        &["show", "-s", "customers"],
        &[
            "run-operation",
            "cents_to_dollars",
            "--args",
            "{column_name: amount}",
        ],
    ];
    for args in commands {
        let _ = std::fs::remove_file(p.root.join("target/manifest.json"));
        let run = p.kiln(args);
        assert_eq!(run.code, 0, "kiln {args:?}: {}", run.stderr);
        let m = manifest(&p);
        assert_eq!(
            m["nodes"]["model.jaffle.customers"]["resource_type"], "model",
            "kiln {args:?} wrote no manifest with the project's nodes"
        );
        assert_eq!(
            m["metadata"]["dbt_schema_version"],
            "https://schemas.getdbt.com/dbt/manifest/v12.json"
        );
    }
}

#[test]
fn state_may_name_the_target_directory_it_is_about_to_overwrite() {
    let p = TempProject::fixture("jaffle");
    p.kiln(&["parse"]).ok();
    let sql = p.read("models/staging/stg_customers.sql");
    p.write(
        "models/staging/stg_customers.sql",
        &format!("{sql}-- edited\n"),
    );
    // The manifest of this invocation is written only after --state was read.
    let run = p
        .kiln(&["ls", "-s", "state:modified", "--state", "target"])
        .ok();
    assert_eq!(run.lines(), ["jaffle.staging.stg_customers"]);
    let run = p
        .kiln(&["ls", "-s", "state:modified", "--state", "target"])
        .ok();
    assert!(run.lines().is_empty(), "{}", run.stdout);
}
