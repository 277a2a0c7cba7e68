//! Talking to a database: the only module that uses sqlx (invariant 1) and the only one that knows
//! a dialect's SQL text (invariant 2; statements are built in [`sql`]).
//!
//! SQLite is the embedded default: each schema is one database file in the target's directory
//! (`main.db` for `main`), attached to every connection, so `schema.table` SQL reads the same on
//! every adapter.

pub mod sql;

use crate::error::{Diagnostic, Error, ErrorKind, Result};
use crate::project::profiles::{AdapterType, Target};
use crate::sql::Dialect;
use crate::template::{QueryTable, Relation, RelationKind};
use serde_json::Value;
use sql::SqlGen;
use sqlx::{Column, Row, TypeInfo, ValueRef};
use std::path::PathBuf;
use std::time::Duration;

/// A connection pool to the target database.
#[derive(Clone)]
pub struct Adapter {
    pool: Pool,
    dialect: Dialect,
    /// Where SQLite keeps one file per schema.
    sqlite_dir: Option<PathBuf>,
    /// Database (catalog) name for relations.
    database: String,
    /// SQLite has one writer at a time: writes from this process take turns, so a transaction
    /// never has to upgrade a read snapshot another writer has moved past (SQLITE_BUSY).
    write_lock: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
}

#[derive(Clone)]
// PostgreSQL and MySQL pools are connected by the warehouse adapters.
#[allow(dead_code)]
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
}

fn db_error(context: &str, e: impl std::fmt::Display) -> Error {
    Error::from(Diagnostic::new(
        ErrorKind::Database,
        format!("{context}: {e}"),
    ))
}

type SendFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

// Boxed helpers: executing on `&mut Connection` inside a loop otherwise trips the compiler's
// higher-ranked `Send` inference for the futures spawned by the scheduler.
fn exec_sqlite<'a>(
    c: &'a mut sqlx::SqliteConnection,
    sql: &'a str,
) -> SendFuture<'a, std::result::Result<u64, sqlx::Error>> {
    Box::pin(async move {
        sqlx::Executor::execute(c, sql)
            .await
            .map(|r| r.rows_affected())
    })
}
fn exec_pg<'a>(
    c: &'a mut sqlx::PgConnection,
    sql: &'a str,
) -> SendFuture<'a, std::result::Result<u64, sqlx::Error>> {
    Box::pin(async move {
        sqlx::Executor::execute(c, sql)
            .await
            .map(|r| r.rows_affected())
    })
}
fn exec_mysql<'a>(
    c: &'a mut sqlx::MySqlConnection,
    sql: &'a str,
) -> SendFuture<'a, std::result::Result<u64, sqlx::Error>> {
    Box::pin(async move {
        sqlx::Executor::execute(c, sql)
            .await
            .map(|r| r.rows_affected())
    })
}
fn exec_sqlite_bound<'a>(
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

/// A statement the database rejected, with the statement's first line for context.
fn statement_error(sql: &str, e: sqlx::Error) -> Error {
    let msg = match &e {
        sqlx::Error::Database(d) => d.message().to_string(),
        other => other.to_string(),
    };
    let first = sql
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    Error::from(
        Diagnostic::new(ErrorKind::Database, msg).with_hint(format!("while running `{first}`")),
    )
}

impl Adapter {
    /// Connects to `target`. For SQLite, `schemas` lists every schema the run may touch so each
    /// connection can attach their files.
    pub async fn connect(target: &Target, schemas: &[String]) -> Result<Adapter> {
        match target.adapter {
            AdapterType::Sqlite => Self::connect_sqlite(target, schemas).await,
            AdapterType::Postgres | AdapterType::Mysql => Err(Error::from(
                Diagnostic::new(
                    ErrorKind::Profile,
                    format!(
                        "the {} adapter is not available in this build yet",
                        Dialect::from_adapter_type(target.adapter).adapter_type()
                    ),
                )
                .with_hint("use the embedded SQLite default (type: sqlite)"),
            )),
        }
    }

    async fn connect_sqlite(target: &Target, schemas: &[String]) -> Result<Adapter> {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
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
        let pool = SqlitePoolOptions::new()
            .max_connections(target.threads.clamp(1, 16) as u32)
            .after_connect(move |conn, _meta| {
                let files = files.clone();
                Box::pin(async move {
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
                    .with_hint(
                        "check that the directory is writable and not used by another program",
                    ),
                )
            })?;
        Ok(Adapter {
            pool: Pool::Sqlite(pool),
            dialect: Dialect::Sqlite,
            sqlite_dir: Some(dir),
            database: target.database.clone(),
            write_lock: Some(std::sync::Arc::new(tokio::sync::Mutex::new(()))),
        })
    }

    /// The dialect of this connection.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The statement builder for this dialect.
    pub fn sql(&self) -> SqlGen {
        SqlGen::new(self.dialect)
    }

    /// The directory of SQLite files, if this is SQLite.
    pub fn sqlite_dir(&self) -> Option<&PathBuf> {
        self.sqlite_dir.as_ref()
    }

    /// A relation in this database.
    pub fn relation(&self, schema: &str, identifier: &str, kind: RelationKind) -> Relation {
        Relation::new(
            Some(self.database.clone()),
            schema,
            identifier,
            kind,
            self.dialect,
        )
    }

    /// Waits for this process's turn to write (SQLite only).
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.write_lock {
            Some(l) => Some(l.lock().await),
            None => None,
        }
    }

    /// Runs one statement; returns rows affected.
    pub async fn execute(&self, sql: &str) -> Result<u64> {
        let _turn = self.write_turn().await;
        let r = match &self.pool {
            Pool::Sqlite(p) => sqlx::raw_sql(sql)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            Pool::Postgres(p) => sqlx::raw_sql(sql)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            Pool::MySql(p) => sqlx::raw_sql(sql)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
        };
        r.map_err(|e| statement_error(sql, e))
    }

    /// Runs statements in one transaction: all of them or none. Returns rows affected by each.
    pub async fn execute_atomic(&self, statements: &[String]) -> Result<Vec<u64>> {
        let _turn = self.write_turn().await;
        macro_rules! run_tx {
            ($pool:expr, $exec:ident) => {{
                let mut tx = $pool
                    .begin()
                    .await
                    .map_err(|e| db_error("cannot begin a transaction", e))?;
                let mut out = Vec::with_capacity(statements.len());
                for s in statements {
                    match $exec(&mut *tx, s).await {
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
            }};
        }
        match &self.pool {
            Pool::Sqlite(p) => run_tx!(p, exec_sqlite),
            Pool::Postgres(p) => run_tx!(p, exec_pg),
            Pool::MySql(p) => run_tx!(p, exec_mysql),
        }
    }

    /// Runs a query and returns its rows as JSON-like values.
    pub async fn query(&self, sql: &str) -> Result<QueryTable> {
        match &self.pool {
            Pool::Sqlite(p) => {
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
                }
                for row in &rows {
                    let mut values = Vec::with_capacity(row.len());
                    for i in 0..row.len() {
                        values.push(sqlite_value(row, i));
                    }
                    t.rows.push(values);
                }
                Ok(t)
            }
            _ => Err(db_error("query", "adapter not available")),
        }
    }

    /// The kind of an existing relation, or None when it does not exist.
    pub async fn relation_kind(
        &self,
        schema: &str,
        identifier: &str,
    ) -> Result<Option<RelationKind>> {
        match &self.pool {
            Pool::Sqlite(p) => {
                let q = format!(
                    "select type from {}.sqlite_master where name = ? and type in ('table', 'view')",
                    self.dialect.quote(schema)
                );
                let row: Option<(String,)> =
                    match sqlx::query_as(&q).bind(identifier).fetch_optional(p).await {
                        Ok(r) => r,
                        // An unknown schema means the relation does not exist yet.
                        Err(sqlx::Error::Database(e))
                            if e.message().contains("unknown database") =>
                        {
                            None
                        }
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
            _ => Err(db_error("introspection", "adapter not available")),
        }
    }

    /// Columns (name, declared type) of a relation, in order; empty when it does not exist.
    pub async fn columns(&self, schema: &str, identifier: &str) -> Result<Vec<(String, String)>> {
        match &self.pool {
            Pool::Sqlite(p) => {
                let q = "select name, type from pragma_table_info(?, ?) order by cid";
                let rows: Vec<(String, String)> = sqlx::query_as(q)
                    .bind(identifier)
                    .bind(schema)
                    .fetch_all(p)
                    .await
                    .map_err(|e| statement_error(q, e))?;
                Ok(rows)
            }
            _ => Err(db_error("introspection", "adapter not available")),
        }
    }

    /// Makes sure a schema exists.
    pub async fn ensure_schema(&self, schema: &str) -> Result<()> {
        if let Some(sql) = self.sql().create_schema(schema) {
            self.execute(&sql).await?;
        }
        Ok(())
    }

    /// Replaces `rel` with a new table of `columns` holding `rows`, in one transaction, with
    /// values bound as parameters (never spliced into SQL).
    pub async fn load_table(
        &self,
        rel: &Relation,
        columns: &[(String, String)],
        rows: &[Vec<Option<String>>],
        is_view: bool,
    ) -> Result<u64> {
        let sqlgen = self.sql();
        let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
        let _turn = self.write_turn().await;
        match &self.pool {
            Pool::Sqlite(p) => {
                let mut tx = p
                    .begin()
                    .await
                    .map_err(|e| db_error("cannot begin a transaction", e))?;
                let stmts = [
                    sqlgen.drop_relation(rel, is_view),
                    sqlgen.create_table(rel, columns),
                ];
                for s in &stmts {
                    exec_sqlite(&mut tx, s)
                        .await
                        .map_err(|e| statement_error(s, e))?;
                }
                // SQLite allows at most 32766 bound parameters per statement.
                let per_batch = (30000 / names.len().max(1)).clamp(1, 1000);
                let mut loaded = 0;
                for chunk in rows.chunks(per_batch) {
                    let sql = sqlgen.insert_values(rel, &names, chunk.len());
                    let values: Vec<Option<String>> = chunk.iter().flatten().cloned().collect();
                    loaded += exec_sqlite_bound(&mut tx, &sql, values)
                        .await
                        .map_err(|e| statement_error(&sql, e))?;
                }
                tx.commit()
                    .await
                    .map_err(|e| db_error("cannot commit", e))?;
                Ok(loaded)
            }
            _ => Err(db_error("seed", "adapter not available")),
        }
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
            Pool::MySql(p) => p.close().await,
        }
    }
}

/// Decodes one SQLite value by its storage class.
fn sqlite_value(row: &sqlx::sqlite::SqliteRow, i: usize) -> Value {
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
        "REAL" | "NUMERIC" => row
            .try_get::<f64, _>(i)
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
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

impl Dialect {
    /// The dialect of a profile's adapter type.
    pub fn from_adapter_type(t: AdapterType) -> Dialect {
        match t {
            AdapterType::Sqlite => Dialect::Sqlite,
            AdapterType::Postgres => Dialect::Postgres,
            AdapterType::Mysql => Dialect::MySql,
        }
    }
}
