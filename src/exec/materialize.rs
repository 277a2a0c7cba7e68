//! Model materializations: `view`, `table` (built aside, then swapped in atomically),
//! `incremental` (`append`, `delete+insert`, `merge`; `on_schema_change`) and hooks.
//!
//! Invariant 6 lives here: the previous relation is replaced only inside one transaction, after
//! the new one is complete, so a failing model leaves the old relation and its rows in place.

use super::{Ctx, Outcome, StepError, existing_kind, node_error};
use crate::adapter::sql::Aside;
use crate::compile::ManifestNode;
use crate::error::{Diagnostic, ErrorKind, Location};
use crate::sql::Dialect;
use crate::template::{Relation, RelationKind};

pub(super) async fn run(ctx: &Ctx, mn: &ManifestNode) -> Result<Outcome, StepError> {
    let id = &mn.node.unique_id;
    let Some(rel) = mn.relation.clone() else {
        return Err((
            Diagnostic::new(ErrorKind::Execution, format!("{id} has no relation")),
            Vec::new(),
            None,
        ));
    };
    let mut statements = Vec::new();
    let materialized = mn.materialized().to_string();
    if !matches!(
        materialized.as_str(),
        "view" | "table" | "incremental" | "ephemeral"
    ) {
        return Err((
            Diagnostic::new(
                ErrorKind::Execution,
                format!(
                    "unknown materialization `{materialized}` for {}",
                    mn.node.name
                ),
            )
            .at(Location::file(mn.node.original_file_path.clone()))
            .with_hint("use view, table, incremental or ephemeral"),
            statements,
            None,
        ));
    }
    let existing = existing_kind(ctx, &rel)
        .await
        .map_err(|e| node_error(mn, e, Vec::new(), None))?;
    let full_refresh = ctx.opts.full_refresh || mn.config().get_bool("full_refresh") == Some(true);
    let incremental_run =
        materialized == "incremental" && existing == Some(RelationKind::Table) && !full_refresh;
    let sql = ctx
        .compile(id, incremental_run)
        .await
        .map_err(|d| (d, Vec::new(), None))?;

    ensure_schema(ctx, &rel)
        .await
        .map_err(|e| node_error(mn, e, Vec::new(), Some(sql.clone())))?;
    run_hooks(ctx, mn, "pre_hook", &mut statements, &sql).await?;

    let sqlgen = ctx.adapter.sql();
    if materialized == "view" && crate::contract::enforced(&mn.node) {
        // A view holds no constraints, but its columns keep the contract all the same.
        let tmp = ctx.adapter.aside(&rel, Aside::Tmp);
        check_contract(ctx, mn, &tmp, &sql, &mut statements)
            .await
            .map_err(|e| node_error(mn, e, statements.clone(), Some(sql.clone())))?;
    }
    let result = match materialized.as_str() {
        "view" if ctx.adapter.dialect() == Dialect::Sqlite && reads_other_schema(ctx, mn, &rel) => {
            // SQLite cannot create a view in one schema file that reads another; a table gives
            // the same rows.
            let r = build_table(ctx, mn, &rel, &sql, existing, &mut statements).await;
            r.map(|rows| {
                (
                    "created table (SQLite views cannot read other schemas)".to_string(),
                    rows,
                )
            })
        }
        "view" => match ctx.adapter.replace_view(&rel, &sql, existing).await {
            Ok(stmts) => {
                statements.extend(stmts);
                Ok(("created view".to_string(), None))
            }
            Err(e) => {
                statements.push(sqlgen.create_view(&rel, &sql));
                Err(e)
            }
        },
        "incremental" if incremental_run => incremental(ctx, mn, &rel, &sql, &mut statements).await,
        _ => build_table(ctx, mn, &rel, &sql, existing, &mut statements)
            .await
            .map(|rows| ("created table".to_string(), rows)),
    };
    let (message, rows) = match result {
        Ok(v) => v,
        Err(e) => return Err(node_error(mn, e, statements, Some(sql))),
    };

    run_hooks(ctx, mn, "post_hook", &mut statements, &sql).await?;
    Ok(Outcome::success(message, rows, Some(sql), statements))
}

/// Creates the relation's schema where the database needs it.
pub(crate) async fn ensure_schema(ctx: &Ctx, rel: &Relation) -> crate::error::Result<()> {
    ctx.adapter.ensure_schema(&rel.schema).await
}

/// True when the model reads a relation in another schema.
fn reads_other_schema(ctx: &Ctx, mn: &ManifestNode, rel: &Relation) -> bool {
    mn.depends_on.iter().any(|dep| {
        let other = ctx
            .manifest
            .nodes
            .get(dep)
            .and_then(|d| {
                if d.is_ephemeral() {
                    None
                } else {
                    d.relation.clone()
                }
            })
            .or_else(|| ctx.manifest.source_relations.get(dep).cloned());
        other.is_some_and(|o| o.schema != rel.schema)
    }) || ephemeral_reads_other_schema(ctx, mn, rel)
}

fn ephemeral_reads_other_schema(ctx: &Ctx, mn: &ManifestNode, rel: &Relation) -> bool {
    mn.depends_on.iter().any(|dep| {
        ctx.manifest
            .nodes
            .get(dep)
            .is_some_and(|d| d.is_ephemeral() && reads_other_schema(ctx, d, rel))
    })
}

pub(super) async fn run_hooks(
    ctx: &Ctx,
    mn: &ManifestNode,
    key: &str,
    statements: &mut Vec<String>,
    sql: &str,
) -> Result<(), StepError> {
    for hook in mn.config().get_list(key) {
        let rendered = ctx
            .render_hook(&mn.node.unique_id, &hook)
            .await
            .map_err(|d| (d, statements.clone(), Some(sql.to_string())))?;
        if rendered.trim().is_empty() {
            continue;
        }
        statements.push(rendered.clone());
        ctx.adapter.execute(&rendered).await.map_err(|e| {
            node_error(
                mn,
                e.with_hint(&format!("in {key} `{hook}`")),
                statements.clone(),
                Some(sql.to_string()),
            )
        })?;
    }
    Ok(())
}

/// Builds `sql` into `<name>__kiln_tmp_<tag>` (the tag is this run's, so a concurrent run
/// never touches it), then swaps it in: one transaction drops the old
/// relation and renames the new table. Returns the new table's row count.
pub(crate) async fn build_table(
    ctx: &Ctx,
    mn: &ManifestNode,
    rel: &Relation,
    sql: &str,
    existing: Option<RelationKind>,
    statements: &mut Vec<String>,
) -> crate::error::Result<Option<u64>> {
    let sqlgen = ctx.adapter.sql();
    let tmp = ctx.adapter.aside(rel, Aside::Tmp);
    let build = match crate::contract::enforced(&mn.node) {
        true => contracted_table(ctx, mn, &tmp, sql, statements).await?,
        false => vec![
            sqlgen.drop_relation(&tmp, false),
            sqlgen.create_table_as(&tmp, sql),
        ],
    };
    statements.extend(build.iter().cloned());
    let built = async {
        let affected = ctx.adapter.execute_atomic(&build).await?;
        let swapped = ctx.adapter.swap_table(rel, &tmp, existing).await?;
        Ok::<_, crate::error::Error>((affected.last().copied().unwrap_or(0), swapped))
    }
    .await;
    let (affected, swapped) = match built {
        Ok(built) => built,
        Err(e) => {
            // The build and the swap are each atomic, so the old relation is as it was; only
            // a partial temp table can be left, and it is removed.
            let _ = ctx
                .adapter
                .execute(&sqlgen.drop_relation(&tmp, false))
                .await;
            return Err(e);
        }
    };
    statements.extend(swapped);
    ctx.adapter.built_rows(rel, affected).await.map(Some)
}

/// Checks the model's result columns against its contract on an empty build of its SQL aside
/// in `tmp` (dropped again); a mismatch is an error that names each column, before anything
/// replaces the old relation.
async fn check_contract(
    ctx: &Ctx,
    mn: &ManifestNode,
    tmp: &Relation,
    sql: &str,
    statements: &mut Vec<String>,
) -> crate::error::Result<()> {
    let sqlgen = ctx.adapter.sql();
    let dialect = ctx.adapter.dialect();
    let shape = vec![
        sqlgen.drop_relation(tmp, false),
        sqlgen.create_table_as(
            tmp,
            &format!("select * from (\n{sql}\n) as kiln_contract where 1 = 0"),
        ),
    ];
    statements.extend(shape.iter().cloned());
    let drop_tmp = sqlgen.drop_relation(tmp, false);
    let read = async {
        ctx.adapter.execute_atomic(&shape).await?;
        ctx.adapter.columns(&tmp.schema, &tmp.identifier).await
    };
    let columns = read.await;
    let _ = ctx.adapter.execute(&drop_tmp).await;
    contract_holds(mn, &columns?, dialect)
}

/// A model's result columns against its contract: a mismatch is an error that names each column.
fn contract_holds(
    mn: &ManifestNode,
    columns: &[(String, String)],
    dialect: crate::sql::Dialect,
) -> crate::error::Result<()> {
    let mismatches = crate::contract::check(&mn.node.columns, columns, dialect);
    if !mismatches.is_empty() {
        return Err(crate::error::Error::from(
            Diagnostic::new(
                ErrorKind::Execution,
                crate::contract::report(&mn.node.name, &mismatches),
            )
            .at(Location::file(
                mn.node
                    .patch_path
                    .clone()
                    .unwrap_or_else(|| mn.node.original_file_path.clone()),
            ))
            .with_hint("make the model's columns and types match `columns:` in its YAML, or change the contract"),
        ));
    }
    Ok(())
}

/// The statements that build a contracted model's table aside: first the model's columns are
/// read from an empty build of its SQL and checked against the contract (a mismatch fails here,
/// before anything replaces the old relation), then the table is created with the contract's
/// types and constraints and the rows inserted into it, so the database holds every constraint.
async fn contracted_table(
    ctx: &Ctx,
    mn: &ManifestNode,
    tmp: &Relation,
    sql: &str,
    statements: &mut Vec<String>,
) -> crate::error::Result<Vec<String>> {
    check_contract(ctx, mn, tmp, sql, statements).await?;
    let sqlgen = ctx.adapter.sql();
    let dialect = ctx.adapter.dialect();
    let drop_tmp = sqlgen.drop_relation(tmp, false);
    // `to: ref('x')` or `to: source('s', 't')`: a parent of the model, or a source.
    let resolve = |to: &str| -> Option<String> {
        let input = crate::unit_test::Input::parse(to)?;
        let rel = crate::unit_test::input_relation(&ctx.manifest, &mn.node.unique_id, &input)?;
        // SQLite names a foreign key's parent without its schema (it must be in the same one).
        match dialect {
            Dialect::Sqlite => Some(dialect.quote(&rel.identifier)),
            _ => Some(rel.render()),
        }
    };
    let table = tmp.render();
    Ok(vec![
        drop_tmp,
        crate::contract::create_table(
            &table,
            &mn.node.columns,
            &mn.node.constraints,
            dialect,
            &resolve,
        ),
        crate::contract::insert_rows(&table, &mn.node.columns, sql, dialect),
    ])
}

/// An incremental run: new rows are built into a temp table, then merged in one transaction.
async fn incremental(
    ctx: &Ctx,
    mn: &ManifestNode,
    rel: &Relation,
    sql: &str,
    statements: &mut Vec<String>,
) -> crate::error::Result<(String, Option<u64>)> {
    let sqlgen = ctx.adapter.sql();
    let config = mn.config();
    let tmp = ctx.adapter.aside(rel, Aside::Tmp);
    let build = vec![
        sqlgen.drop_relation(&tmp, false),
        sqlgen.create_table_as(&tmp, sql),
    ];
    statements.extend(build.iter().cloned());
    if let Err(e) = ctx.adapter.execute_atomic(&build).await {
        let _ = ctx
            .adapter
            .execute(&sqlgen.drop_relation(&tmp, false))
            .await;
        return Err(e);
    }
    // Later runs of a contracted model check the new rows' columns before merging them.
    let result = match incremental_contract(ctx, mn, &tmp).await {
        Ok(()) => merge_in(ctx, mn, rel, &tmp, config, statements).await,
        Err(e) => Err(e),
    };
    if result.is_err() {
        let _ = ctx
            .adapter
            .execute(&sqlgen.drop_relation(&tmp, false))
            .await;
    }
    result
}

async fn incremental_contract(
    ctx: &Ctx,
    mn: &ManifestNode,
    tmp: &Relation,
) -> crate::error::Result<()> {
    if !crate::contract::enforced(&mn.node) {
        return Ok(());
    }
    let columns = ctx.adapter.columns(&tmp.schema, &tmp.identifier).await?;
    contract_holds(mn, &columns, ctx.adapter.dialect())
}

async fn merge_in(
    ctx: &Ctx,
    mn: &ManifestNode,
    rel: &Relation,
    tmp: &Relation,
    config: &crate::project::Config,
    statements: &mut Vec<String>,
) -> crate::error::Result<(String, Option<u64>)> {
    let sqlgen = ctx.adapter.sql();
    let new_cols = ctx.adapter.columns(&tmp.schema, &tmp.identifier).await?;
    let old_cols = ctx.adapter.columns(&rel.schema, &rel.identifier).await?;
    let has = |cols: &[(String, String)], name: &str| {
        cols.iter().any(|(c, _)| c.eq_ignore_ascii_case(name))
    };
    let added: Vec<(String, String)> = new_cols
        .iter()
        .filter(|(c, _)| !has(&old_cols, c))
        .cloned()
        .collect();
    let removed: Vec<String> = old_cols
        .iter()
        .filter(|(c, _)| !has(&new_cols, c))
        .map(|(c, _)| c.clone())
        .collect();
    let on_change = config.get_str("on_schema_change").unwrap_or("ignore");
    let mut tx: Vec<String> = Vec::new();
    if !added.is_empty() || !removed.is_empty() {
        match on_change {
            "ignore" => {}
            "fail" => {
                let names = |v: Vec<String>| {
                    if v.is_empty() {
                        "none".to_string()
                    } else {
                        v.join(", ")
                    }
                };
                return Err(crate::error::Error::from(
                    Diagnostic::new(
                        ErrorKind::Execution,
                        format!(
                            "the columns of {} changed (new: {}; gone: {}) and on_schema_change is `fail`",
                            mn.node.name,
                            names(added.iter().map(|(c, _)| c.clone()).collect()),
                            names(removed.clone())
                        ),
                    )
                    .at(Location::file(mn.node.original_file_path.clone()))
                    .with_hint("rebuild it with --full-refresh, or set on_schema_change: append_new_columns"),
                ));
            }
            "append_new_columns" | "sync_all_columns" => {
                for (c, t) in &added {
                    let ty = if t.is_empty() { "text" } else { t.as_str() };
                    tx.push(sqlgen.add_column(rel, c, ty));
                }
                if on_change == "sync_all_columns" {
                    for c in &removed {
                        tx.push(format!(
                            "alter table {} drop column {}",
                            rel.render(),
                            sqlgen.quote(c)
                        ));
                    }
                }
            }
            other => {
                return Err(crate::error::Error::from(
                    Diagnostic::new(
                        ErrorKind::Execution,
                        format!("unknown on_schema_change `{other}`"),
                    )
                    .at(Location::file(mn.node.original_file_path.clone()))
                    .with_hint("use ignore, fail, append_new_columns or sync_all_columns"),
                ));
            }
        }
    }
    // Columns written: those of the new rows that the table has (after any additions).
    let columns: Vec<String> = new_cols
        .iter()
        .filter(|(c, _)| has(&old_cols, c) || (on_change != "ignore" && on_change != "fail"))
        .map(|(c, _)| c.clone())
        .collect();
    let strategy =
        config
            .get_str("incremental_strategy")
            .unwrap_or(if config.get("unique_key").is_some() {
                "delete+insert"
            } else {
                "append"
            });
    let keys = config.get_list("unique_key");
    match strategy {
        "append" => {}
        "delete+insert" | "merge" => {
            if keys.is_empty() {
                return Err(crate::error::Error::from(
                    Diagnostic::new(
                        ErrorKind::Execution,
                        format!("incremental_strategy `{strategy}` needs a unique_key"),
                    )
                    .at(Location::file(mn.node.original_file_path.clone()))
                    .with_hint("set unique_key in the model's config, or use incremental_strategy='append'"),
                ));
            }
            if strategy == "merge" && ctx.adapter.dialect() == Dialect::Postgres {
                tx.push(sqlgen.merge(rel, tmp, &keys, &columns));
                tx.push(sqlgen.drop_relation(tmp, false));
                statements.extend(tx.iter().cloned());
                let affected = ctx.adapter.execute_atomic(&tx).await?;
                let merged = affected.get(affected.len().saturating_sub(2)).copied();
                return Ok(("merge into incremental table".to_string(), merged));
            }
            // Elsewhere a merge is a delete of matching keys and an insert, in one transaction.
            tx.push(sqlgen.delete_matching(rel, tmp, &keys));
        }
        other => {
            return Err(crate::error::Error::from(
                Diagnostic::new(
                    ErrorKind::Execution,
                    format!("unknown incremental_strategy `{other}`"),
                )
                .at(Location::file(mn.node.original_file_path.clone()))
                .with_hint("use append, delete+insert or merge"),
            ));
        }
    }
    tx.push(sqlgen.insert_select(rel, tmp, &columns));
    tx.push(sqlgen.drop_relation(tmp, false));
    statements.extend(tx.iter().cloned());
    let affected = ctx.adapter.execute_atomic(&tx).await?;
    let inserted = affected.get(affected.len().saturating_sub(2)).copied();
    Ok((format!("{strategy} into incremental table"), inserted))
}
