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

/// The jaffle fixture on SQLite with the target schema dbt's reference manifest was made with.
fn jaffle_like_the_dbt_reference() -> TempProject {
    let p = TempProject::fixture("jaffle");
    let profiles = p
        .read("profiles.yml")
        .replace("schema: main", "schema: kiln_dbt_ref");
    p.write("profiles.yml", &profiles);
    p
}

fn dbt_reference(name: &str) -> Value {
    let path = crate::support::fixture_path("dbt_reference")
        .join(name)
        .join("manifest.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn unique_ids_checksums_and_unrendered_configs_are_dbts() {
    let p = jaffle_like_the_dbt_reference();
    p.kiln(&["parse"]).ok();
    let kiln = manifest(&p);
    let dbt = dbt_reference("jaffle");
    let ids = |m: &Value, section: &str| -> Vec<String> {
        m[section].as_object().unwrap().keys().cloned().collect()
    };
    // Every node has dbt's unique_id, generic tests included (md5 of the full name and the
    // Python repr of the test's metadata).
    assert_eq!(ids(&kiln, "nodes"), ids(&dbt, "nodes"));
    assert_eq!(ids(&kiln, "sources"), ids(&dbt, "sources"));
    let project_macros: Vec<String> = ids(&dbt, "macros")
        .into_iter()
        .filter(|id| id.starts_with("macro.jaffle."))
        .collect();
    assert_eq!(ids(&kiln, "macros"), project_macros);
    for (id, d) in dbt["nodes"].as_object().unwrap() {
        let k = &kiln["nodes"][id];
        for key in [
            "name",
            "alias",
            "path",
            "original_file_path",
            "fqn",
            "checksum",
            "raw_code",
            "unrendered_config",
            "tags",
            "column_name",
            "file_key_name",
            "attached_node",
            "primary_key",
        ] {
            assert_eq!(k.get(key), d.get(key), "{id}: {key}");
        }
        assert_eq!(k["config"]["alias"], d["config"]["alias"], "{id}");
        assert_eq!(k["config"]["severity"], d["config"]["severity"], "{id}");
        assert_eq!(
            k["config"]["materialized"], d["config"]["materialized"],
            "{id}"
        );
        assert_eq!(k["test_metadata"], d["test_metadata"], "{id}");
        for (col, c) in d["columns"].as_object().unwrap() {
            assert_eq!(
                k["columns"][col]["doc_blocks"], c["doc_blocks"],
                "{id}.{col}"
            );
        }
    }
    for id in &project_macros {
        assert_eq!(
            kiln["macros"][id]["macro_sql"], dbt["macros"][id]["macro_sql"],
            "{id}"
        );
    }
    for (id, d) in dbt["docs"].as_object().unwrap() {
        if id.starts_with("doc.jaffle.") {
            assert_eq!(kiln["docs"][id]["path"], d["path"], "{id}");
        }
    }
    assert_eq!(kiln["parent_map"], dbt["parent_map"]);
    assert_eq!(
        kiln["metadata"]["project_id"],
        dbt["metadata"]["project_id"]
    );
}

#[test]
fn seeds_over_a_mebibyte_are_identified_by_path_and_snapshots_by_their_whole_file() {
    let p = TempProject::fixture("jaffle");
    let mut big = String::from("id,padding\n");
    let pad = "x".repeat(100);
    for i in 0..11_000 {
        big.push_str(&format!("{i},{pad}\n"));
    }
    assert!(big.len() > 1024 * 1024);
    p.write("seeds/big.csv", &big);
    // Whitespace around a file is not part of its identity; the rest of a snapshot file is.
    let model = p.read("models/staging/stg_orders.sql");
    p.kiln(&["parse"]).ok();
    let before = manifest(&p);
    p.write(
        "models/staging/stg_orders.sql",
        &format!("\n\n{model}\n  \n"),
    );
    let snapshot = p.read("snapshots/orders_snapshot.sql");
    p.write(
        "snapshots/orders_snapshot.sql",
        &format!("{snapshot}\n-- a comment outside the block\n"),
    );
    p.kiln(&["parse"]).ok();
    let after = manifest(&p);
    let checksum = |m: &Value, id: &str| m["nodes"][id]["checksum"].clone();
    assert_eq!(
        checksum(&after, "seed.jaffle.big"),
        serde_json::json!({"name": "path", "checksum": "seeds/big.csv"})
    );
    assert_eq!(
        checksum(&before, "model.jaffle.stg_orders"),
        checksum(&after, "model.jaffle.stg_orders")
    );
    assert_eq!(
        before["nodes"]["model.jaffle.stg_orders"]["raw_code"],
        after["nodes"]["model.jaffle.stg_orders"]["raw_code"]
    );
    assert_ne!(
        checksum(&before, "snapshot.jaffle.orders_snapshot"),
        checksum(&after, "snapshot.jaffle.orders_snapshot")
    );
    assert_eq!(
        before["nodes"]["snapshot.jaffle.orders_snapshot"]["raw_code"],
        after["nodes"]["snapshot.jaffle.orders_snapshot"]["raw_code"]
    );
    // Generic tests have no file of their own.
    let test = after["nodes"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(id, _)| id.starts_with("test.jaffle.unique_orders_order_id."))
        .unwrap()
        .1;
    assert_eq!(
        test["checksum"],
        serde_json::json!({"name": "none", "checksum": ""})
    );
}
