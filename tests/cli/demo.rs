//! The demo project at the repository root builds on every adapter, and known figures per
//! domain come out the same on each (they were checked against the generated CSVs).

use crate::support::{Backend, TempProject, n};
use serde_json::Value;

mod sqlite {
    #[test]
    fn demo_builds_with_the_same_figures() {
        super::demo_builds_with_the_same_figures(crate::support::Backend::Sqlite)
    }
}
mod postgres {
    #[test]
    fn demo_builds_with_the_same_figures() {
        if let Some(b) = crate::support::Backend::postgres() {
            super::demo_builds_with_the_same_figures(b)
        }
    }
}
mod mysql {
    #[test]
    fn demo_builds_with_the_same_figures() {
        if let Some(b) = crate::support::Backend::mysql() {
            super::demo_builds_with_the_same_figures(b)
        }
    }
}

fn demo_builds_with_the_same_figures(b: Backend) {
    let p = TempProject::demo_on(b);
    let run = p.kiln(&["build"]).ok();
    assert!(run.stdout.contains("Finished running"), "{}", run.stdout);
    let r: Value = serde_json::from_str(&p.read("target/kiln/run_results.json")).unwrap();
    let statuses: Vec<&str> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == "success" || *s == "pass"),
        "{statuses:?}"
    );
    let figure = |sql: &str| p.one(sql);
    // Product events: January 2024.
    assert_eq!(
        figure("select active_users from weekly_active_users where week_start = '2024-01-08'"),
        n(120.0)
    );
    assert_eq!(
        figure(
            "select active_corporations from weekly_active_corporations where week_start = '2024-01-15'"
        ),
        n(11.0)
    );
    assert_eq!(
        figure("select avg_events from weekly_events_per_user where week_start = '2024-01-08'"),
        n(7.73)
    );
    assert_eq!(
        figure(
            "select max_events from weekly_events_per_corporation where week_start = '2024-01-22'"
        ),
        n(105.0)
    );
    // Claims and registrations.
    assert_eq!(figure("select count(*) from members_latest"), n(687.0));
    assert_eq!(
        figure("select count(*) from members_latest where member_status = 'terminated'"),
        n(469.0)
    );
    assert_eq!(figure("select count(*) from members_rejects"), n(66.0));
    assert_eq!(
        figure(
            "select count(*) from members_rejects where reject_reason = 'impossible date of birth'"
        ),
        n(16.0)
    );
    assert_eq!(figure("select count(*) from claims_valid"), n(2757.0));
    // Coverage API.
    assert_eq!(
        figure("select calls from daily_api_analytics where call_date = '2024-03-05'"),
        n(138.0)
    );
    assert_eq!(
        figure("select error_rate from daily_api_analytics where call_date = '2024-03-05'"),
        n(0.1449)
    );
    assert_eq!(
        figure("select count(*) from coverage_members where is_overridden = 1"),
        n(40.0)
    );
    // Hiring.
    assert_eq!(
        figure("select department from departments_above_mean_2021 order by hired desc limit 1"),
        Value::from("Engineering")
    );
    assert_eq!(
        figure("select sum(q1) from hires_by_quarter_2021"),
        n(180.0)
    );
    // The fragrance catalogue: CMS and library reconciled (figures computed from the CSVs).
    assert_eq!(figure("select count(*) from stg_cms_fragrances"), n(286.0));
    assert_eq!(
        figure("select count(*) from stg_library_products"),
        n(281.0)
    );
    let by = |column: &str, value: &str| {
        figure(&format!(
            "select count(*) from catalog_reconciliation where {column} = '{value}'"
        ))
    };
    assert_eq!(by("match_status", "matched"), n(207.0));
    assert_eq!(by("match_status", "mismatched"), n(60.0));
    assert_eq!(by("match_status", "only_in_cms"), n(19.0));
    assert_eq!(by("match_status", "only_in_library"), n(14.0));
    assert_eq!(by("sync_action", "create_in_library"), n(14.0));
    assert_eq!(by("sync_action", "create_in_cms"), n(13.0));
    assert_eq!(by("sync_action", "update_library"), n(31.0));
    assert_eq!(by("sync_action", "update_cms"), n(29.0));
    assert_eq!(
        figure("select count(*) from catalog_field_differences where field = 'price'"),
        n(27.0)
    );
    assert_eq!(
        figure("select count(*) from catalog_field_differences"),
        n(60.0)
    );
    assert_eq!(
        figure(&format!(
            "select count(*) from {}.cms_fragrances_snapshot where dbt_valid_to is null",
            p.custom_schema("snapshots")
        )),
        n(286.0)
    );
    // A late edit in the CMS becomes a second version in the snapshot's history.
    let mut cms = p.read("seeds/cms_fragrances.csv");
    cms.push_str("cms-99999,FR-0111,Cedar No. 111 Reformulated,Maison Lune,EDP,30,$70.00,vetiver,published,2024-12-31T00:00:00Z\n");
    p.write("seeds/cms_fragrances.csv", &cms);
    p.kiln(&["build", "-s", "cms_fragrances+"]).ok();
    let snapshot = format!("{}.cms_fragrances_snapshot", p.custom_schema("snapshots"));
    assert_eq!(
        figure(&format!(
            "select count(*) from {snapshot} where sku = 'FR-0111'"
        )),
        n(2.0)
    );
    assert_eq!(
        figure(&format!(
            "select name from {snapshot} where sku = 'FR-0111' and dbt_valid_to is null"
        )),
        Value::from("Cedar No. 111 Reformulated")
    );
    assert_eq!(
        figure("select sync_action from catalog_reconciliation where sku = 'FR-0111'"),
        Value::from("update_library")
    );
    // The snapshot captured every member once.
    assert_eq!(
        figure(&format!(
            "select count(*) from {}.coverage_members_snapshot where dbt_valid_to is null",
            p.custom_schema("snapshots")
        )),
        figure("select count(*) from coverage_members")
    );
}

/// Every model, snapshot and seed of the demo has a description, every column a model produces is
/// documented, and every source has one too.
#[test]
fn demo_is_fully_documented() {
    let p = TempProject::demo_on(Backend::Sqlite);
    p.kiln(&["compile"]).ok();
    let m: Value = serde_json::from_str(&p.read("target/kiln/manifest.json")).unwrap();
    let mut missing = Vec::new();
    for (id, node) in m["nodes"].as_object().unwrap() {
        if !["model", "snapshot", "seed"].contains(&node["resource_type"].as_str().unwrap()) {
            continue;
        }
        if node["description"].as_str().unwrap_or("").is_empty() {
            missing.push(format!("{id}: description"));
        }
        for col in node["kiln_inferred_columns"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let col = col.as_str().unwrap();
            let desc = node["columns"][col]["description"].as_str().unwrap_or("");
            if desc.is_empty() {
                missing.push(format!("{id}.{col}"));
            }
        }
    }
    for (id, source) in m["sources"].as_object().unwrap() {
        if source["description"].as_str().unwrap_or("").is_empty() {
            missing.push(id.clone());
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:#?}");
}

/// The demo's validity checks and generic test come from its local package, which loads from
/// `packages/data_quality` without `kiln deps`.
#[test]
fn demo_uses_its_local_package() {
    let p = TempProject::demo_on(Backend::Sqlite);
    p.kiln(&["parse"]).ok();
    let m: Value = serde_json::from_str(&p.read("target/kiln/manifest.json")).unwrap();
    let macros = &m["nodes"]["model.kiln_demo.members_checked"]["depends_on"]["macros"];
    for expected in [
        "macro.data_quality.is_valid_zip",
        "macro.data_quality.is_valid_state",
        "macro.data_quality.only_digits",
    ] {
        assert!(
            macros.as_array().unwrap().contains(&Value::from(expected)),
            "{expected} not in {macros}"
        );
    }
    assert_eq!(
        m["macros"]["macro.data_quality.test_unique_combination"]["package_name"],
        "data_quality"
    );
}
