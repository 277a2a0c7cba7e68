//! MySQL and MariaDB: a schema is a database; DDL commits implicitly, so tables are swapped with
//! one `RENAME TABLE` statement that exchanges both names atomically.

use super::sql::SqlGen;
use super::{Adapter, Pool, SendFuture, connect_error, db_error, float, statement_error};
use crate::error::Result;
use crate::project::config::value_to_string;
use crate::project::profiles::Target;
use crate::sql::Dialect;
use crate::template::{QueryTable, Relation, RelationKind};
use serde_json::Value;
use sqlx::mysql::{MySqlConnectOptions, MySqlRow};
use sqlx::{Column, ConnectOptions, MySqlPool, Row, TypeInfo, ValueRef};
use std::str::FromStr;
use std::time::Duration;

fn exec<'a>(
    c: &'a mut sqlx::MySqlConnection,
    sql: &'a str,
) -> SendFuture<'a, std::result::Result<u64, sqlx::Error>> {
    Box::pin(async move {
        sqlx::Executor::execute(c, sql)
            .await
            .map(|r| r.rows_affected())
    })
}

fn exec_bound<'a>(
    c: &'a mut sqlx::MySqlConnection,
    sql: &'a str,
    values: Vec<Option<String>>,
) -> SendFuture<'a, std::result::Result<u64, sqlx::Error>> {
    Box::pin(async move {
        let mut q = sqlx::query(sql);
        for v in values {
            q = q.bind(v);
        }
        q.execute(c).await.map(|r| r.rows_affected())
    })
}

fn options(target: &Target) -> std::result::Result<MySqlConnectOptions, sqlx::Error> {
    let s = &target.settings;
    let text = |k: &str| s.get(k).map(value_to_string).filter(|v| !v.is_empty());
    let mut opts = match text("url") {
        Some(url) => MySqlConnectOptions::from_str(&url)?,
        None => MySqlConnectOptions::new(),
    };
    if let Some(h) = text("host").or_else(|| text("server")) {
        opts = opts.host(&h);
    }
    if let Some(p) = s.get("port").and_then(|v| v.as_u64()) {
        opts = opts.port(p as u16);
    }
    if let Some(u) = text("user").or_else(|| text("username")) {
        opts = opts.username(&u);
    }
    if let Some(p) = text("password").or_else(|| text("pass")) {
        opts = opts.password(&p);
    }
    Ok(opts.charset("utf8mb4"))
}

pub(super) async fn connect(target: &Target) -> Result<Adapter> {
    let opts = options(target).map_err(|e| connect_error(target, "the configured address", e))?;
    let address = format!("{}:{}", opts.get_host(), opts.get_port());
    // The target schema is a database that may not exist yet: create it before pooling
    // connections that use it by default.
    let mut first = opts
        .clone()
        .connect()
        .await
        .map_err(|e| connect_error(target, &address, e))?;
    // Text literals take the connection's collation and columns the database's; they must be
    // the same or comparisons fail with "illegal mix of collations".
    let collation_of = async |c: &mut sqlx::MySqlConnection| -> Option<String> {
        sqlx::query_scalar(
            "select cast(default_collation_name as char) from information_schema.schemata where schema_name = ?",
        )
        .bind(&target.schema)
        .fetch_optional(c)
        .await
        .ok()
        .flatten()
    };
    let mut collation = collation_of(&mut first).await;
    if collation.is_none() {
        // Only when it is missing: `create database if not exists` waits for every statement
        // running in that database (another run's DDL) before it sees that it exists.
        let create = SqlGen::new(Dialect::MySql)
            .create_schema(&target.schema)
            .unwrap_or_default();
        sqlx::raw_sql(&create)
            .execute(&mut first)
            .await
            .map_err(|e| statement_error(&create, e))?;
        collation = collation_of(&mut first).await;
    }
    drop(first);
    let mut opts = opts.database(&target.schema);
    if let Some(c) = collation.filter(|c| c.starts_with("utf8mb4")) {
        opts = opts.collation(&c);
    }
    let pool = super::pool_options::<sqlx::MySql>(target.threads, 64)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await
        .map_err(|e| connect_error(target, &address, e))?;
    Ok(Adapter {
        pool: Pool::MySql(pool),
        dialect: Dialect::MySql,
        sqlite_dir: None,
        database: target.schema.clone(),
        schemas: Default::default(),
        write_lock: None,
        tag: super::sql::run_tag(&crate::template::invocation_id()).into(),
    })
}

pub(super) async fn atomic(p: &MySqlPool, statements: &[String]) -> Result<Vec<u64>> {
    let mut tx = p
        .begin()
        .await
        .map_err(|e| db_error("cannot begin a transaction", e))?;
    let mut out = Vec::with_capacity(statements.len());
    for s in statements {
        match exec(&mut tx, s).await {
            Ok(n) => out.push(n),
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(statement_error(s, e));
            }
        }
    }
    tx.commit()
        .await
        .map_err(|e| db_error("cannot commit", e))?;
    Ok(out)
}

pub(super) async fn query(p: &MySqlPool, sql: &str) -> Result<QueryTable> {
    let rows = sqlx::query(sql)
        .fetch_all(p)
        .await
        .map_err(|e| statement_error(sql, e))?;
    let mut t = QueryTable::default();
    if let Some(first) = rows.first() {
        t.columns = first
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
    } else if let Ok(described) = sqlx::Executor::describe(p, sql).await {
        // No rows: the statement's description still names its columns.
        t.columns = described
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
    }
    for row in &rows {
        t.rows.push((0..row.len()).map(|i| value(row, i)).collect());
    }
    Ok(t)
}

/// Decodes one MySQL value by its type.
fn value(row: &MySqlRow, i: usize) -> Value {
    let Ok(raw) = row.try_get_raw(i) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    let name = raw.type_info().name().to_string();
    let int = || {
        row.try_get::<i64, _>(i)
            .map(Value::from)
            .or_else(|_| row.try_get::<u64, _>(i).map(Value::from))
            .or_else(|_| row.try_get::<i32, _>(i).map(Value::from))
            .or_else(|_| row.try_get::<i16, _>(i).map(Value::from))
            .or_else(|_| row.try_get::<i8, _>(i).map(Value::from))
            .unwrap_or(Value::Null)
    };
    match name.as_str() {
        "BOOLEAN" => row
            .try_get::<bool, _>(i)
            .map(Value::from)
            .unwrap_or(Value::Null),
        n if n.contains("INT") => int(),
        "DECIMAL" => row
            .try_get::<sqlx::types::Decimal, _>(i)
            .ok()
            .and_then(|d| {
                let s = d.normalize().to_string();
                if !s.contains('.') {
                    s.parse::<i64>().ok().map(Value::from)
                } else {
                    s.parse::<f64>().ok().map(float)
                }
            })
            .unwrap_or(Value::Null),
        "FLOAT" => row
            .try_get::<f32, _>(i)
            .map(|f| float(f as f64))
            .unwrap_or(Value::Null),
        "DOUBLE" => row.try_get::<f64, _>(i).map(float).unwrap_or(Value::Null),
        "DATE" => row
            .try_get::<chrono::NaiveDate, _>(i)
            .map(|d| Value::from(d.to_string()))
            .unwrap_or(Value::Null),
        "DATETIME" => row
            .try_get::<chrono::NaiveDateTime, _>(i)
            .map(|d| Value::from(d.to_string()))
            .unwrap_or(Value::Null),
        "TIMESTAMP" => row
            .try_get::<chrono::DateTime<chrono::Utc>, _>(i)
            .map(|d| Value::from(d.naive_utc().to_string()))
            .unwrap_or(Value::Null),
        "JSON" => row.try_get::<Value, _>(i).unwrap_or(Value::Null),
        _ => row
            .try_get::<String, _>(i)
            .map(Value::from)
            .or_else(|_| {
                row.try_get::<Vec<u8>, _>(i)
                    .map(|b| Value::from(String::from_utf8_lossy(&b).into_owned()))
            })
            .unwrap_or(Value::Null),
    }
}

pub(super) async fn relation_kind(
    p: &MySqlPool,
    schema: &str,
    identifier: &str,
) -> Result<Option<RelationKind>> {
    let q = "select cast(table_type as char) from information_schema.tables where table_schema = ? and table_name = ?";
    let row: Option<(String,)> = sqlx::query_as(q)
        .bind(schema)
        .bind(identifier)
        .fetch_optional(p)
        .await
        .map_err(|e| statement_error(q, e))?;
    Ok(row.map(|(t,)| RelationKind::table_or_view(t == "VIEW")))
}

pub(super) async fn columns(
    p: &MySqlPool,
    schema: &str,
    identifier: &str,
) -> Result<Vec<(String, String)>> {
    let q = "select cast(column_name as char), cast(column_type as char) from information_schema.columns where table_schema = ? and table_name = ? order by ordinal_position";
    sqlx::query_as(q)
        .bind(schema)
        .bind(identifier)
        .fetch_all(p)
        .await
        .map_err(|e| statement_error(q, e))
}

pub(super) async fn catalog(p: &MySqlPool, schema: &str) -> Result<Vec<super::CatalogTable>> {
    // `table_rows` is the storage engine's estimate for tables; views have none.
    let q = "select cast(t.table_name as char), cast(t.table_type as char), cast(null as char), \
               cast(t.table_comment as char), \
               case when t.table_type = 'VIEW' then null else cast(t.table_rows as signed) end, \
               cast(c.column_name as char), cast(c.ordinal_position as signed), \
               cast(c.column_type as char), cast(c.column_comment as char) \
             from information_schema.tables t \
             join information_schema.columns c \
               on c.table_schema = t.table_schema and c.table_name = t.table_name \
             where t.table_schema = ? \
             order by t.table_name, c.ordinal_position";
    let rows = sqlx::query_as(q)
        .bind(schema)
        .fetch_all(p)
        .await
        .map_err(|e| statement_error(q, e))?;
    let mut tables = super::group_catalog(schema, rows);
    for t in &mut tables {
        // MySQL gives views the comment `VIEW`.
        if t.kind == "VIEW" && t.comment.as_deref() == Some("VIEW") {
            t.comment = None;
        }
        if t.kind == "SYSTEM VIEW" {
            t.kind = "VIEW".into();
        }
    }
    Ok(tables)
}

/// Statements that put `tmp` (a table, or a view) in place of `rel`: one RENAME exchanging
/// both names, then the old relation, now `backup`, is dropped.
///
/// Why this never leaves `rel` missing, even under `kill -9` of Kiln at any moment: DDL commits
/// at once on MySQL and MariaDB, so the only way to replace a relation without a moment where
/// its name is free is a single `RENAME TABLE a TO backup, tmp TO a`. That statement is atomic:
/// it takes exclusive metadata locks on every name first, and a statement that opens `a`
/// waits and then sees the new relation, never a missing one (MariaDB 10.6+ also logs it for
/// crash recovery of the server). A client that dies does not interrupt it: the server finishes
/// the statement it is running. Kiln therefore issues it as one statement, also for a view
/// replaced by a table and for a table replaced by a view (RENAME TABLE renames views too);
/// older versions dropped the view or table first and renamed or created second, two
/// statements with a gap between them.
///
/// What a kill can leave is `backup` beside a complete `a` (killed between the RENAME and the
/// drop), which the next run drops. A listing of `information_schema.tables` taken while the
/// RENAME runs can show `a` missing and `backup` present: the server renames the files one
/// after the other and that listing does not wait for the statement's locks, though no
/// statement reading `a` ever fails. A check right after a kill reads such a listing while
/// the server is still finishing the swap; it is not a state the database is ever in.
/// [`super::Adapter::clean_asides`] still renames a backup back when its relation is missing,
/// for what older versions could leave.
pub(super) fn swap_statements(
    sqlgen: &SqlGen,
    rel: &Relation,
    tmp: &Relation,
    backup: &Relation,
    existing: Option<RelationKind>,
) -> Vec<String> {
    match existing {
        Some(kind) => vec![
            format!(
                "rename table {} to {}, {} to {}",
                rel.render(),
                backup.render(),
                tmp.render(),
                rel.render()
            ),
            sqlgen.drop_relation(backup, kind == RelationKind::View),
        ],
        None => vec![sqlgen.rename_table(tmp, &rel.identifier)],
    }
}

/// Every table and view of a schema.
pub(super) async fn relations(p: &MySqlPool, schema: &str) -> Result<Vec<(String, RelationKind)>> {
    let q = "select cast(table_name as char), cast(table_type as char) from information_schema.tables where table_schema = ? order by 1";
    let rows: Vec<(String, String)> = sqlx::query_as(q)
        .bind(schema)
        .fetch_all(p)
        .await
        .map_err(|e| statement_error(q, e))?;
    Ok(rows
        .into_iter()
        .map(|(n, t)| (n, RelationKind::table_or_view(t.contains("VIEW"))))
        .collect())
}

/// `GET_LOCK(name)` on a connection of its own; the server releases it when that connection
/// ends, however the process ends.
pub(super) async fn lock(
    p: &MySqlPool,
    name: &str,
    wait: bool,
    waiting: &(dyn Fn() + Send + Sync),
) -> Result<Option<sqlx::MySqlConnection>> {
    let opts = (*p.connect_options()).clone();
    let mut conn = opts
        .connect()
        .await
        .map_err(|e| db_error("cannot open a connection for the target's lock", e))?;
    let q = "select get_lock(?, ?)";
    let mut told = false;
    loop {
        // NULL (an error) counts as not acquired; waits are bounded and repeated so no server
        // setting of lock_wait_timeout cuts a long wait short.
        let got: Option<i64> = sqlx::query_scalar(q)
            .bind(name)
            .bind(if told { 5 } else { 0 })
            .fetch_one(&mut conn)
            .await
            .map_err(|e| statement_error(q, e))?;
        if got == Some(1) {
            return Ok(Some(conn));
        }
        if !wait {
            return Ok(None);
        }
        if !told {
            waiting();
            told = true;
        }
    }
}

/// Rows per INSERT statement: under the 65,535-parameter limit and, by the values' size, under
/// half the server's packet size.
fn chunk_len(columns: usize, rows: &[Vec<Option<String>>], max_packet: u64) -> usize {
    let by_params = (65_000 / columns.max(1)).max(1);
    let budget = max_packet / 2;
    let mut bytes = 0u64;
    for (i, r) in rows.iter().enumerate().take(by_params.min(5_000)) {
        bytes += r
            .iter()
            .map(|v| v.as_ref().map_or(4, |s| s.len() as u64 + 8))
            .sum::<u64>()
            + 16;
        if bytes > budget {
            return i.max(1);
        }
    }
    by_params.min(5_000).min(rows.len()).max(1)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn load(
    p: &MySqlPool,
    sqlgen: SqlGen,
    rel: &Relation,
    tmp: &Relation,
    backup: &Relation,
    columns: &[(String, String)],
    rows: &mut dyn super::RowSource,
    existing: Option<RelationKind>,
) -> Result<u64> {
    let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
    // DDL commits implicitly on MySQL: build the new table aside, then swap it in.
    for s in [
        sqlgen.drop_relation(tmp, false),
        sqlgen.create_table(tmp, columns),
    ] {
        sqlx::raw_sql(&s)
            .execute(p)
            .await
            .map_err(|e| statement_error(&s, e))?;
    }
    let max_packet: u64 = sqlx::query_scalar::<_, i64>("select @@max_allowed_packet")
        .fetch_one(p)
        .await
        .map(|v| v as u64)
        .unwrap_or(4 * 1024 * 1024);
    let result: Result<u64> = async {
        let mut tx = p
            .begin()
            .await
            .map_err(|e| db_error("cannot begin a transaction", e))?;
        let mut loaded = 0;
        loop {
            let batch = rows.next_batch(5_000)?;
            if batch.is_empty() {
                break;
            }
            let mut rest = &batch[..];
            while !rest.is_empty() {
                let n = chunk_len(names.len(), rest, max_packet);
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                let sql = sqlgen.insert_values(tmp, &names, chunk.len());
                let values: Vec<Option<String>> = chunk.iter().flatten().cloned().collect();
                loaded += exec_bound(&mut tx, &sql, values)
                    .await
                    .map_err(|e| refused_row(statement_error(&sql, e), loaded))?;
            }
        }
        tx.commit()
            .await
            .map_err(|e| db_error("cannot commit", e))?;
        for s in swap_statements(&sqlgen, rel, tmp, backup, existing) {
            sqlx::raw_sql(&s)
                .execute(p)
                .await
                .map_err(|e| statement_error(&s, e))?;
        }
        Ok(loaded)
    }
    .await;
    if result.is_err() {
        let _ = sqlx::raw_sql(&sqlgen.drop_relation(tmp, false))
            .execute(p)
            .await;
    }
    result
}

/// MySQL names a refused value's row within the statement (`... at row 3`); the seed's data row
/// is that plus the rows loaded before the statement, recorded as the error's context for the
/// seed to find its line.
fn refused_row(e: crate::error::Error, loaded_before: u64) -> crate::error::Error {
    let mut d = e.diagnostics()[0].clone();
    let row = d
        .message
        .rsplit_once(" at row ")
        .and_then(|(_, n)| n.trim().parse::<u64>().ok());
    match (row, d.database.as_mut()) {
        (Some(n), Some(db)) => {
            db.context = Some(format!("data row {}", loaded_before + n));
            crate::error::Error::from(d)
        }
        _ => e,
    }
}
