//! SQLite: one database file per schema in the target's directory, attached to every connection.

use super::sql::SqlGen;
use super::{Adapter, Pool, SendFuture, db_error, float, statement_error};
use crate::error::{Diagnostic, Error, ErrorKind, Result};
use crate::project::profiles::Target;
use crate::sql::Dialect;
use crate::template::{QueryTable, Relation, RelationKind};
use serde_json::Value;
use sqlx::{Column, Row, SqlitePool, TypeInfo, ValueRef};
use std::path::PathBuf;
use std::time::Duration;

// Boxed helpers: executing on `&mut Connection` inside a loop otherwise trips the compiler's
// higher-ranked `Send` inference for the futures spawned by the scheduler.
fn exec<'a>(
    c: &'a mut sqlx::SqliteConnection,
    sql: &'a str,
) -> SendFuture<'a, std::result::Result<u64, sqlx::Error>> {
    Box::pin(async move {
        sqlx::Executor::execute(c, sql)
            .await
            .map(|r| r.rows_affected())
    })
}

fn exec_bound<'a>(
    c: &'a mut sqlx::SqliteConnection,
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

pub(super) async fn connect(target: &Target, schemas: &[String]) -> Result<Adapter> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    let dir = target
        .sqlite_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(".kiln"));
    std::fs::create_dir_all(&dir).map_err(|e| {
        Error::from(
            Diagnostic::new(
                ErrorKind::Database,
                format!(
                    "cannot create the database directory {}: {e}",
                    dir.display()
                ),
            )
            .with_hint("check permissions of the project directory"),
        )
    })?;
    let mut attach: Vec<String> = schemas
        .iter()
        .filter(|s| s.as_str() != "main")
        .cloned()
        .collect();
    // Schemas built by earlier runs stay visible to `source()` and `show`.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(schema) = name.strip_suffix(".db")
                && schema != "main"
                && !attach.iter().any(|s| s == schema)
            {
                attach.push(schema.to_string());
            }
        }
    }
    attach.sort();
    attach.dedup();
    let opts = SqliteConnectOptions::new()
        .filename(dir.join("main.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(60))
        .foreign_keys(false);
    let files: Vec<(String, String)> = attach
        .iter()
        .map(|s| {
            (
                s.clone(),
                dir.join(format!("{s}.db")).to_string_lossy().into_owned(),
            )
        })
        .collect();
    let pool = super::pool_options::<sqlx::Sqlite>(target.threads, 16)
        .after_connect(move |conn, _meta| {
            let files = files.clone();
            Box::pin(async move {
                register_md5(&mut *conn).await?;
                // Renames must not rewrite views that point at the renamed table.
                sqlx::query("pragma legacy_alter_table = on")
                    .execute(&mut *conn)
                    .await?;
                for (schema, path) in &files {
                    sqlx::query(&format!(
                        "attach database '{}' as \"{}\"",
                        path.replace('\'', "''"),
                        schema.replace('"', "\"\"")
                    ))
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query(&format!(
                        "pragma \"{}\".journal_mode = wal",
                        schema.replace('"', "\"\"")
                    ))
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            })
        })
        .connect_with(opts)
        .await
        .map_err(|e| {
            Error::from(
                Diagnostic::new(
                    ErrorKind::Database,
                    format!("cannot open the SQLite database in {}: {e}", dir.display()),
                )
                .with_hint("check that the directory is writable and not used by another program"),
            )
        })?;
    Ok(Adapter {
        pool: Pool::Sqlite(pool),
        dialect: Dialect::Sqlite,
        sqlite_dir: Some(dir),
        database: target.database.clone(),
        schemas: Default::default(),
        write_lock: Some(std::sync::Arc::new(tokio::sync::Mutex::new(()))),
        tag: super::sql::run_tag(&crate::template::invocation_id()).into(),
    })
}

/// SQLite has no `md5()`; the cross-database `hash()` macro and snapshot ids need one, so each
/// connection gets it as a deterministic scalar function.
async fn register_md5(conn: &mut sqlx::SqliteConnection) -> std::result::Result<(), sqlx::Error> {
    use libsqlite3_sys as ffi;
    use std::ffi::{c_char, c_int};

    unsafe extern "C" fn md5_fn(
        ctx: *mut ffi::sqlite3_context,
        argc: c_int,
        argv: *mut *mut ffi::sqlite3_value,
    ) {
        use md5::Digest;
        // SAFETY: SQLite passes `argc` valid values; text pointers live until this call returns.
        unsafe {
            if argc != 1 || ffi::sqlite3_value_type(*argv) == ffi::SQLITE_NULL {
                ffi::sqlite3_result_null(ctx);
                return;
            }
            let text = ffi::sqlite3_value_text(*argv);
            let len = ffi::sqlite3_value_bytes(*argv);
            let bytes = if text.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(text, len.max(0) as usize)
            };
            let hex = crate::project::identity::hex(&md5::Md5::digest(bytes));
            // SQLITE_TRANSIENT (-1) makes SQLite copy the text before `hex` is dropped.
            ffi::sqlite3_result_text(
                ctx,
                hex.as_ptr() as *const c_char,
                hex.len() as c_int,
                ffi::SQLITE_TRANSIENT(),
            );
        }
    }

    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is a live connection handle held locked for this call; the name is a
    // NUL-terminated static string and the callback has the signature SQLite expects.
    let rc = unsafe {
        ffi::sqlite3_create_function_v2(
            db,
            c"md5".as_ptr(),
            1,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC,
            std::ptr::null_mut(),
            Some(md5_fn),
            None,
            None,
            None,
        )
    };
    if rc != ffi::SQLITE_OK {
        return Err(sqlx::Error::Protocol(format!(
            "cannot register md5() on SQLite (code {rc})"
        )));
    }
    Ok(())
}

/// Begins a write transaction. `BEGIN IMMEDIATE` takes the write lock at once, waiting up to
/// the busy timeout for another process's writer; a deferred `BEGIN` would first read, and a
/// read transaction that must then upgrade to write while another connection has written gets
/// SQLITE_BUSY at once, without waiting (the "database is locked" a second process saw).
async fn begin_write(p: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
    p.begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| db_error("cannot begin a transaction", e))
}

pub(super) async fn atomic(p: &SqlitePool, statements: &[String]) -> Result<Vec<u64>> {
    let mut tx = begin_write(p).await?;
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

pub(super) async fn query(p: &SqlitePool, sql: &str) -> Result<QueryTable> {
    let rows = sqlx::raw_sql(sql)
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

/// Decodes one SQLite value by its storage class.
fn value(row: &sqlx::sqlite::SqliteRow, i: usize) -> Value {
    let Ok(raw) = row.try_get_raw(i) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    match raw.type_info().name() {
        "INTEGER" | "BOOLEAN" => row
            .try_get::<i64, _>(i)
            .map(Value::from)
            .unwrap_or(Value::Null),
        "REAL" | "NUMERIC" => row.try_get::<f64, _>(i).map(float).unwrap_or(Value::Null),
        "BLOB" => row
            .try_get::<Vec<u8>, _>(i)
            .map(|b| Value::from(String::from_utf8_lossy(&b).into_owned()))
            .unwrap_or(Value::Null),
        _ => row
            .try_get::<String, _>(i)
            .map(Value::from)
            .unwrap_or(Value::Null),
    }
}

pub(super) async fn relation_kind(
    p: &SqlitePool,
    schema: &str,
    identifier: &str,
) -> Result<Option<RelationKind>> {
    let q = format!(
        "select type from {}.sqlite_master where name = ? and type in ('table', 'view')",
        Dialect::Sqlite.quote(schema)
    );
    let row: Option<(String,)> = match sqlx::query_as(&q).bind(identifier).fetch_optional(p).await {
        Ok(r) => r,
        // An unknown schema means the relation does not exist yet.
        Err(sqlx::Error::Database(e)) if e.message().contains("unknown database") => None,
        Err(e) => return Err(statement_error(&q, e)),
    };
    Ok(row.map(|(t,)| {
        if t == "view" {
            RelationKind::View
        } else {
            RelationKind::Table
        }
    }))
}

pub(super) async fn columns(
    p: &SqlitePool,
    schema: &str,
    identifier: &str,
) -> Result<Vec<(String, String)>> {
    let q = "select name, type from pragma_table_info(?, ?) order by cid";
    sqlx::query_as(q)
        .bind(identifier)
        .bind(schema)
        .fetch_all(p)
        .await
        .map_err(|e| statement_error(q, e))
}

pub(super) async fn catalog(p: &SqlitePool, schema: &str) -> Result<Vec<super::CatalogTable>> {
    let quoted = Dialect::Sqlite.quote(schema);
    let q = format!(
        "select m.name, case m.type when 'view' then 'VIEW' else 'BASE TABLE' end, \
           null, null, null, c.name, c.cid + 1, c.type, null \
         from {quoted}.sqlite_master m join pragma_table_info(m.name, ?) c \
         where m.type in ('table', 'view') and m.name not like 'sqlite_%' \
         order by m.name, c.cid"
    );
    let rows = match sqlx::query_as(&q).bind(schema).fetch_all(p).await {
        Ok(r) => r,
        // A schema whose file was never created has no relations.
        Err(sqlx::Error::Database(e)) if e.message().contains("unknown database") => Vec::new(),
        Err(e) => return Err(statement_error(&q, e)),
    };
    let mut tables = super::group_catalog(schema, rows);
    // Counting is cheap in the embedded database: one query per schema counts every table.
    let counts: Vec<String> = tables
        .iter()
        .filter(|t| t.kind == "BASE TABLE")
        .map(|t| {
            format!(
                "select '{}' as name, count(*) as n from {quoted}.{}",
                t.name.replace('\'', "''"),
                Dialect::Sqlite.quote(&t.name)
            )
        })
        .collect();
    if !counts.is_empty() {
        let q = counts.join(" union all ");
        let rows: Vec<(String, i64)> = sqlx::query_as(&q)
            .fetch_all(p)
            .await
            .map_err(|e| statement_error(&q, e))?;
        for (name, n) in rows {
            if let Some(t) = tables.iter_mut().find(|t| t.name == name) {
                t.row_count = u64::try_from(n).ok();
            }
        }
    }
    Ok(tables)
}

pub(super) async fn load(
    p: &SqlitePool,
    sqlgen: SqlGen,
    rel: &Relation,
    columns: &[(String, String)],
    rows: &mut dyn super::RowSource,
    existing: Option<RelationKind>,
) -> Result<u64> {
    let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
    let mut tx = begin_write(p).await?;
    let mut stmts = Vec::new();
    if let Some(kind) = existing {
        stmts.push(sqlgen.drop_relation(rel, kind == RelationKind::View));
    }
    stmts.push(sqlgen.create_table(rel, columns));
    for s in &stmts {
        exec(&mut tx, s).await.map_err(|e| statement_error(s, e))?;
    }
    // SQLite allows at most 32766 bound parameters per statement.
    let per_batch = (30000 / names.len().max(1)).clamp(1, 1000);
    let mut loaded = 0;
    loop {
        let batch = rows.next_batch(per_batch)?;
        if batch.is_empty() {
            break;
        }
        let sql = sqlgen.insert_values(rel, &names, batch.len());
        let values: Vec<Option<String>> = batch.into_iter().flatten().collect();
        loaded += exec_bound(&mut tx, &sql, values)
            .await
            .map_err(|e| statement_error(&sql, e))?;
    }
    tx.commit()
        .await
        .map_err(|e| db_error("cannot commit", e))?;
    Ok(loaded)
}

/// Every table and view of a schema (an attached file); none when it is not attached.
pub(super) async fn relations(p: &SqlitePool, schema: &str) -> Result<Vec<(String, RelationKind)>> {
    let q = format!(
        "select name, type from {}.sqlite_master where type in ('table', 'view') and name not like 'sqlite_%' order by 1",
        Dialect::Sqlite.quote(schema)
    );
    let rows: Vec<(String, String)> = match sqlx::query_as(&q).fetch_all(p).await {
        Ok(r) => r,
        Err(sqlx::Error::Database(e)) if e.message().contains("unknown database") => Vec::new(),
        Err(e) => return Err(statement_error(&q, e)),
    };
    Ok(rows
        .into_iter()
        .map(|(n, t)| {
            let kind = if t == "view" {
                RelationKind::View
            } else {
                RelationKind::Table
            };
            (n, kind)
        })
        .collect())
}

/// The name of the lock file beside the SQLite files.
pub const LOCK_FILE: &str = "kiln.lock";

/// An exclusive lock on `kiln.lock` in the database directory; the kernel releases it when the
/// file is closed, however the process ends.
pub(super) async fn lock(
    dir: &std::path::Path,
    wait: bool,
    waiting: &(dyn Fn() + Send + Sync),
) -> Result<Option<std::fs::File>> {
    let path = dir.join(LOCK_FILE);
    let io_error = |e: std::io::Error| {
        Error::from(
            Diagnostic::new(
                ErrorKind::Database,
                format!("cannot lock {}: {e}", path.display()),
            )
            .with_hint("check that the database directory is writable"),
        )
    };
    std::fs::create_dir_all(dir).map_err(io_error)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_error)?;
    match file.try_lock() {
        Ok(()) => return Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => return Err(io_error(e)),
    }
    if !wait {
        return Ok(None);
    }
    waiting();
    let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| Error::new(ErrorKind::Database, format!("lock wait stopped: {e}")))?
        .map_err(io_error)?;
    Ok(Some(file))
}
