//! `kiln clone`: a selected node's relation made from the same node's relation in `--state`:
//! a view over it (a table copy on SQLite, whose views cannot read another schema's file), so a
//! development or CI schema starts from production without building anything.

use super::materialize::{build_table, ensure_schema};
use super::{Ctx, Outcome, Status, StepError, existing_kind, node_error};
use crate::compile::ManifestNode;
use crate::error::{Diagnostic, ErrorKind};
use crate::sql::Dialect;
use crate::template::Relation;

pub(super) async fn run(
    ctx: &Ctx,
    mn: &ManifestNode,
    from: &Relation,
) -> Result<Outcome, StepError> {
    let Some(rel) = mn.relation.clone().filter(|_| !mn.is_ephemeral()) else {
        return Err((
            Diagnostic::new(
                ErrorKind::Execution,
                format!("{} has no relation to clone", mn.node.name),
            ),
            Vec::new(),
            None,
        ));
    };
    let existing = existing_kind(ctx, &rel)
        .await
        .map_err(|e| node_error(mn, e, Vec::new(), None))?;
    if existing.is_some() && !ctx.opts.full_refresh {
        return Ok(Outcome::idle(
            Status::Success,
            "No-op: the relation exists (--full-refresh replaces it)",
        ));
    }
    if rel.normalized() == from.normalized() {
        return Ok(Outcome::idle(
            Status::Success,
            "No-op: --state's relation is this one",
        ));
    }
    ensure_schema(ctx, &rel)
        .await
        .map_err(|e| node_error(mn, e, Vec::new(), None))?;
    let sql = format!("select * from {}", from.render());
    let mut statements = Vec::new();
    let mut rows = None;
    let message = if ctx.adapter.dialect() == Dialect::Sqlite {
        rows = build_table(ctx, mn, &rel, &sql, existing, &mut statements)
            .await
            .map_err(|e| node_error(mn, e, statements.clone(), Some(sql.clone())))?;
        format!("cloned {} as a table copy", from.render())
    } else {
        let stmts = ctx
            .adapter
            .replace_view(&rel, &sql, existing)
            .await
            .map_err(|e| node_error(mn, e, Vec::new(), Some(sql.clone())))?;
        statements.extend(stmts);
        format!("cloned {} as a view", from.render())
    };
    Ok(Outcome::success(message, rows, Some(sql), statements))
}
