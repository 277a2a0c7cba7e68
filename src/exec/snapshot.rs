//! Snapshots: slowly changing dimensions of type 2. Each run closes the current version of rows
//! that changed (`dbt_valid_to`), inserts their new versions and new keys, and optionally closes
//! rows whose key disappeared (`invalidate_hard_deletes`), all in one transaction.

use super::{Ctx, Outcome, StepError, existing_kind, node_error};
use crate::compile::ManifestNode;
use crate::error::{Diagnostic, Error, ErrorKind, Location, Result};
use crate::template::Relation;

/// How a snapshot detects change.
enum Strategy {
    /// A column holding the row's last update time.
    Timestamp { updated_at: String },
    /// Compare these columns (None = all columns).
    Check { columns: Option<Vec<String>> },
}

fn config_error(mn: &ManifestNode, message: String, hint: &str) -> StepError {
    (
        Diagnostic::new(ErrorKind::Execution, message)
            .at(Location::file(mn.node.original_file_path.clone()))
            .with_hint(hint),
        Vec::new(),
        None,
    )
}

pub(super) async fn run(ctx: &Ctx, mn: &ManifestNode) -> std::result::Result<Outcome, StepError> {
    let config = mn.config();
    let keys = config.get_list("unique_key");
    if keys.is_empty() {
        return Err(config_error(
            mn,
            format!("snapshot {} has no unique_key", mn.node.name),
            "set unique_key='id' in the snapshot's config()",
        ));
    }
    let strategy = match config.get_str("strategy") {
        Some("timestamp") => match config.get_str("updated_at") {
            Some(u) => Strategy::Timestamp {
                updated_at: u.to_string(),
            },
            None => {
                return Err(config_error(
                    mn,
                    format!(
                        "snapshot {} uses the timestamp strategy without updated_at",
                        mn.node.name
                    ),
                    "set updated_at='column_name' in the snapshot's config()",
                ));
            }
        },
        Some("check") => match config.get("check_cols") {
            Some(serde_json::Value::String(s)) if s == "all" => Strategy::Check { columns: None },
            Some(_) => Strategy::Check {
                columns: Some(config.get_list("check_cols")),
            },
            None => {
                return Err(config_error(
                    mn,
                    format!(
                        "snapshot {} uses the check strategy without check_cols",
                        mn.node.name
                    ),
                    "set check_cols=['col_a', 'col_b'] or check_cols='all'",
                ));
            }
        },
        other => {
            return Err(config_error(
                mn,
                format!(
                    "snapshot {} has strategy `{}`",
                    mn.node.name,
                    other.unwrap_or("(none)")
                ),
                "set strategy='timestamp' (with updated_at) or strategy='check' (with check_cols)",
            ));
        }
    };
    let invalidate = config.get_bool("invalidate_hard_deletes").unwrap_or(false)
        || config.get_str("hard_deletes") == Some("invalidate");
    let Some(rel) = mn.relation.clone() else {
        return Err(config_error(
            mn,
            "snapshot has no relation".into(),
            "report this as a bug",
        ));
    };
    let sql = ctx
        .compile(&mn.node.unique_id, false)
        .await
        .map_err(|d| (d, Vec::new(), None))?;
    let mut statements = Vec::new();
    let result = async {
        ctx.adapter.ensure_schema(&rel.schema).await?;
        let existing = existing_kind(ctx, &rel).await?;
        let now = ctx.run_started.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
        if existing.is_none() {
            create(ctx, &rel, &sql, &keys, &strategy, &now, &mut statements).await
        } else {
            update(
                ctx,
                &rel,
                &sql,
                &keys,
                &strategy,
                invalidate,
                &now,
                &mut statements,
            )
            .await
        }
    }
    .await;
    match result {
        Ok((message, rows)) => Ok(Outcome::success(message, rows, Some(sql), statements)),
        Err(e) => Err(node_error(mn, e, statements, Some(sql))),
    }
}

/// Expressions for `dbt_updated_at` / `dbt_valid_from` and `dbt_scd_id` over alias `s`.
fn version_exprs(ctx: &Ctx, keys: &[String], strategy: &Strategy, now: &str) -> (String, String) {
    let sqlgen = ctx.adapter.sql();
    let updated = match strategy {
        Strategy::Timestamp { updated_at } => format!("s.{}", sqlgen.quote(updated_at)),
        Strategy::Check { .. } => sqlgen.timestamp_literal(now),
    };
    let mut parts: Vec<String> = keys
        .iter()
        .map(|k| format!("s.{}", sqlgen.quote(k)))
        .collect();
    parts.push(updated.clone());
    (updated, sqlgen.hash_concat(&parts))
}

async fn create(
    ctx: &Ctx,
    rel: &Relation,
    sql: &str,
    keys: &[String],
    strategy: &Strategy,
    now: &str,
    statements: &mut Vec<String>,
) -> Result<(String, Option<u64>)> {
    let sqlgen = ctx.adapter.sql();
    let (updated, scd_id) = version_exprs(ctx, keys, strategy, now);
    let select = format!(
        // `nullif(x, x)` is a NULL of x's type, as dbt does it, so dbt_valid_to matches dbt_valid_from.
        "select s.*,\n    {scd_id} as dbt_scd_id,\n    {updated} as dbt_updated_at,\n    {updated} as dbt_valid_from,\n    nullif({updated}, {updated}) as dbt_valid_to\nfrom (\n{}\n) s",
        sql.trim_end().trim_end_matches(';')
    );
    let stmts = vec![sqlgen.create_table_as(rel, &select)];
    statements.extend(stmts.iter().cloned());
    ctx.adapter.execute_atomic(&stmts).await?;
    let n = ctx
        .adapter
        .query(&format!("select count(*) from {}", rel.render()))
        .await?
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_u64());
    Ok(("created snapshot".to_string(), n))
}

#[allow(clippy::too_many_arguments)]
async fn update(
    ctx: &Ctx,
    rel: &Relation,
    sql: &str,
    keys: &[String],
    strategy: &Strategy,
    invalidate: bool,
    now: &str,
    statements: &mut Vec<String>,
) -> Result<(String, Option<u64>)> {
    let sqlgen = ctx.adapter.sql();
    let staging = ctx.adapter.aside(rel, crate::adapter::sql::Aside::Staging);
    let build = vec![
        sqlgen.drop_relation(&staging, false),
        sqlgen.create_table_as(&staging, sql),
    ];
    statements.extend(build.iter().cloned());
    ctx.adapter.execute_atomic(&build).await?;
    let result = async {
        let source_cols = ctx.adapter.columns(&staging.schema, &staging.identifier).await?;
        let snap_cols = ctx.adapter.columns(&rel.schema, &rel.identifier).await?;
        let has = |cols: &[(String, String)], n: &str| cols.iter().any(|(c, _)| c.eq_ignore_ascii_case(n));
        for k in keys {
            if !has(&source_cols, k) {
                return Err(Error::from(Diagnostic::new(
                    ErrorKind::Execution,
                    format!("unique_key `{k}` is not a column of the snapshot query"),
                ).with_hint("select the key column in the snapshot's query")));
            }
        }
        let mut tx: Vec<String> = Vec::new();
        // New source columns are added to the snapshot table, as dbt does.
        for (c, t) in &source_cols {
            if !has(&snap_cols, c) {
                tx.push(sqlgen.add_column(rel, c, if t.is_empty() { "text" } else { t }));
            }
        }
        let alias = "kiln_snap";
        let key_match = |left: &str, right: &str| -> String {
            keys.iter()
                .map(|k| format!("{left}.{q} = {right}.{q}", q = sqlgen.quote(k)))
                .collect::<Vec<_>>()
                .join(" and ")
        };
        let changed = match strategy {
            Strategy::Timestamp { updated_at } => {
                format!("s.{} > {alias}.dbt_updated_at", sqlgen.quote(updated_at))
            }
            Strategy::Check { columns } => {
                let cols: Vec<String> = match columns {
                    Some(c) => c.clone(),
                    None => source_cols
                        .iter()
                        .map(|(c, _)| c.clone())
                        .filter(|c| !keys.iter().any(|k| k.eq_ignore_ascii_case(c)))
                        .collect(),
                };
                if cols.is_empty() {
                    "1 = 0".to_string()
                } else {
                    cols.iter()
                        .map(|c| {
                            let q = sqlgen.quote(c);
                            sqlgen.distinct(&format!("s.{q}"), &format!("{alias}.{q}"))
                        })
                        .collect::<Vec<_>>()
                        .join(" or ")
                }
            }
        };
        let (updated, scd_id) = version_exprs(ctx, keys, strategy, now);
        // 1. Close the current version of rows that changed.
        let valid_to = match strategy {
            Strategy::Timestamp { updated_at } => format!(
                "(select s.{} from {} s where {})",
                sqlgen.quote(updated_at),
                staging.render(),
                key_match("s", alias)
            ),
            Strategy::Check { .. } => sqlgen.timestamp_literal(now),
        };
        tx.push(format!(
            "update {} as {alias}\nset dbt_valid_to = {valid_to}\nwhere {alias}.dbt_valid_to is null\n  and exists (select 1 from {} s where {} and ({changed}))",
            rel.render(),
            staging.render(),
            key_match("s", alias),
        ));
        // 2. Close rows whose key is gone from the source.
        if invalidate {
            tx.push(format!(
                "update {} as {alias}\nset dbt_valid_to = {}\nwhere {alias}.dbt_valid_to is null\n  and not exists (select 1 from {} s where {})",
                rel.render(),
                sqlgen.timestamp_literal(now),
                staging.render(),
                key_match("s", alias),
            ));
        }
        // 3. Insert a new current version for every key without one (new or just closed).
        let cols: Vec<String> = source_cols.iter().map(|(c, _)| sqlgen.quote(c)).collect();
        let s_cols: Vec<String> = cols.iter().map(|c| format!("s.{c}")).collect();
        tx.push(format!(
            "insert into {} ({}, dbt_scd_id, dbt_updated_at, dbt_valid_from, dbt_valid_to)\nselect {}, {scd_id}, {updated}, {updated}, null\nfrom {} s\nwhere not exists (select 1 from {} {alias} where {} and {alias}.dbt_valid_to is null)",
            rel.render(),
            cols.join(", "),
            s_cols.join(", "),
            staging.render(),
            rel.render(),
            key_match("s", alias),
        ));
        tx.push(sqlgen.drop_relation(&staging, false));
        statements.extend(tx.iter().cloned());
        let affected = ctx.adapter.execute_atomic(&tx).await?;
        let inserted = affected.get(affected.len().saturating_sub(2)).copied();
        Ok(("updated snapshot".to_string(), inserted))
    }
    .await;
    if result.is_err() {
        let _ = ctx
            .adapter
            .execute(&sqlgen.drop_relation(&staging, false))
            .await;
    }
    result
}
