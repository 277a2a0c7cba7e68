//! Data tests: a test's SQL returns failing rows; the count decides pass, warn or fail through
//! `severity`, `warn_if` and `error_if`. `store_failures` keeps the failing rows in
//! `<schema>_kiln_test__audit`.

use super::{Ctx, Outcome, Status, StepError, node_error};
use crate::compile::ManifestNode;
use crate::error::{Diagnostic, ErrorKind, Location};
use crate::template::RelationKind;

/// What Kiln appends to the target schema to name the audit schema (dbt's `dbt_test__audit`).
pub const AUDIT_SCHEMA_SUFFIX: &str = "kiln_test__audit";

/// The schema where failing rows are stored.
pub fn audit_schema(target_schema: &str) -> String {
    format!("{target_schema}_{AUDIT_SCHEMA_SUFFIX}")
}

/// Evaluates a dbt threshold like `>0`, `!=0`, `>=10`, `<5`, `=3` against a count.
pub fn threshold_met(condition: &str, count: u64) -> Option<bool> {
    let c = condition.trim().replace(' ', "");
    let (op, num) = ["!=", ">=", "<=", "==", ">", "<", "="]
        .iter()
        .find_map(|op| c.strip_prefix(op).map(|rest| (*op, rest)))?;
    let n: f64 = num.parse().ok()?;
    let x = count as f64;
    Some(match op {
        "!=" => x != n,
        ">=" => x >= n,
        "<=" => x <= n,
        "==" | "=" => x == n,
        ">" => x > n,
        "<" => x < n,
        _ => return None,
    })
}

pub(super) async fn run(ctx: &Ctx, mn: &ManifestNode) -> Result<Outcome, StepError> {
    let id = &mn.node.unique_id;
    let sql = ctx
        .compile(id, false)
        .await
        .map_err(|d| (d, Vec::new(), None))?;
    let config = mn.config();
    let limit = config.get("limit").and_then(|v| v.as_u64());
    let sqlgen = ctx.adapter.sql();
    let mut statements = Vec::new();
    let fail_calc = config.get_str("fail_calc").unwrap_or("count(*)");
    let count_sql = sqlgen.test_count(&sql, limit, fail_calc);
    statements.push(count_sql.clone());
    let table = ctx
        .adapter
        .query(&count_sql)
        .await
        .map_err(|e| node_error(mn, e, statements.clone(), Some(sql.clone())))?;
    let failures = table
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
                .or_else(|| {
                    v.as_str()
                        .and_then(|s| s.trim().parse::<f64>().ok().map(|f| f.max(0.0) as u64))
                })
        })
        .unwrap_or(0);

    let store = config
        .get_bool("store_failures")
        .unwrap_or(ctx.opts.store_failures);
    if store {
        let schema = audit_schema(&ctx.manifest.target.schema);
        let rel = ctx
            .adapter
            .relation(&schema, &mn.node.name, RelationKind::Table);
        ctx.adapter
            .ensure_schema(&schema)
            .await
            .map_err(|e| node_error(mn, e, statements.clone(), Some(sql.clone())))?;
        let stmts = vec![
            sqlgen.drop_relation(&rel, false),
            sqlgen.create_table_as(&rel, &sql),
        ];
        statements.extend(stmts.iter().cloned());
        ctx.adapter
            .execute_atomic(&stmts)
            .await
            .map_err(|e| node_error(mn, e, statements.clone(), Some(sql.clone())))?;
    }

    let severity = config
        .get_str("severity")
        .unwrap_or("error")
        .to_ascii_lowercase();
    let bad = |key: &str, cond: &str| -> StepError {
        (
            Diagnostic::new(ErrorKind::Execution, format!("invalid {key} `{cond}`"))
                .at(Location::file(mn.node.original_file_path.clone()))
                .with_hint("write a comparison like \">0\", \"!=0\" or \">=10\""),
            Vec::new(),
            Some(sql.clone()),
        )
    };
    let error_if = config.get_str("error_if").unwrap_or("!=0").to_string();
    let warn_if = config.get_str("warn_if").unwrap_or("!=0").to_string();
    let error_hit = threshold_met(&error_if, failures).ok_or_else(|| bad("error_if", &error_if))?;
    let warn_hit = threshold_met(&warn_if, failures).ok_or_else(|| bad("warn_if", &warn_if))?;
    let status = if severity == "error" && error_hit {
        Status::Fail
    } else if warn_hit && ctx.opts.warn_error_tests {
        // --warn-error: a test that would warn fails instead, as in dbt.
        Status::Fail
    } else if warn_hit {
        Status::Warn
    } else {
        Status::Pass
    };
    let message = match status {
        Status::Pass => "pass".to_string(),
        _ => format!(
            "got {failures} failing {}",
            if failures == 1 { "row" } else { "rows" }
        ),
    };
    Ok(Outcome {
        status,
        message,
        rows_affected: None,
        failures: Some(failures),
        compiled_code: Some(sql),
        statements,
    })
}

#[cfg(test)]
mod tests {
    use super::threshold_met;

    #[test]
    fn thresholds() {
        assert_eq!(threshold_met("!=0", 0), Some(false));
        assert_eq!(threshold_met("!=0", 3), Some(true));
        assert_eq!(threshold_met(">= 10", 9), Some(false));
        assert_eq!(threshold_met(">10", 11), Some(true));
        assert_eq!(threshold_met("=2", 2), Some(true));
        assert_eq!(threshold_met("about ten", 2), None);
    }
}
