//! Unit tests: the model's SQL on the given rows ([`crate::unit_test::plan`]) is queried, and its
//! rows compared with the expected ones. Nothing is built or written.

use super::{Ctx, Outcome, Status, StepError};
use crate::error::{Diagnostic, ErrorKind, Location};
use crate::project::UnitTest;
use crate::unit_test::{Expected, Warehouse, compare, input_relations, plan};

pub(super) async fn run(ctx: &Ctx, unit: &UnitTest) -> Result<Outcome, StepError> {
    let mut warehouse = Warehouse::new();
    let mut unbuilt = Vec::new();
    for (input, rel) in input_relations(&ctx.manifest, unit) {
        // An input whose relation is not there (nothing is built yet) is typed from the project
        // alone; a database that cannot answer is no reason to fail the test.
        if let Ok(columns) = ctx.adapter.columns(&rel.schema, &rel.identifier).await
            && !columns.is_empty()
        {
            warehouse.insert(input, columns);
        } else {
            unbuilt.push(input);
        }
    }
    let manifest = ctx.manifest.clone();
    let database = ctx.database.clone();
    let owned = unit.clone();
    let plan =
        tokio::task::spawn_blocking(move || plan(&manifest, &owned, Some(database), &warehouse))
            .await
            .map_err(|e| Diagnostic::new(ErrorKind::Execution, format!("rendering stopped: {e}")))
            .and_then(|p| p)
            .map_err(|d| (d, Vec::new(), None))?;
    let at = || Location::file(unit.original_file_path.clone());
    let failed = |e: crate::error::Error, statements: Vec<String>| -> StepError {
        let mut d = e.diagnostics()[0].clone().or_at(at());
        if !unbuilt.is_empty() {
            // dbt reads the inputs' column types from the database; without them the given
            // values are untyped literals, which a typed expression may refuse.
            d = d.with_hint(format!(
                "{} not built, so the given values are untyped: build the parents first (`kiln build -s +{} --exclude {} --empty`) or declare each column's `data_type` in YAML",
                unbuilt.join(", ") + if unbuilt.len() == 1 { " is" } else { " are" },
                unit.model,
                unit.model
            ));
        }
        (d, statements, Some(plan.sql.clone()))
    };
    let mut statements = vec![plan.sql.clone()];
    let actual = ctx
        .adapter
        .query(&plan.sql)
        .await
        .map_err(|e| failed(e, statements.clone()))?;
    let expected = match &plan.expect {
        Expected::Rows(rows) => rows.clone(),
        Expected::Sql(sql) => {
            statements.push(sql.clone());
            ctx.adapter
                .query(sql)
                .await
                .map_err(|e| failed(e, statements.clone()))?
        }
    };
    let comparison = compare(&expected, &actual).map_err(|message| {
        (
            Diagnostic::new(
                ErrorKind::Execution,
                format!("unit test `{}`: {message}", unit.name),
            )
            .at(at())
            .with_hint("name in `expect:` only columns the model returns"),
            statements.clone(),
            Some(plan.sql.clone()),
        )
    })?;
    let (status, message) = match comparison.differences {
        0 => (Status::Pass, "pass".to_string()),
        n => (
            Status::Fail,
            format!(
                "{n} {} from what unit test `{}` expects\n{}",
                if n == 1 { "row differs" } else { "rows differ" },
                unit.name,
                comparison.report
            ),
        ),
    };
    Ok(Outcome {
        status,
        message,
        rows_affected: None,
        failures: Some(comparison.differences as u64),
        compiled_code: Some(plan.sql),
        statements,
    })
}
