//! Talking to a database: the only module that uses sqlx (invariant 1) and the only one that knows
//! a dialect's SQL text (invariant 2; statements are built in [`sql`]).
//!
//! SQLite is the embedded default: each schema is one database file in the target's directory
//! (`main.db` for `main`), attached to every connection, so `schema.table` SQL reads the same on
//! every adapter. PostgreSQL and MySQL/MariaDB connect through pools sized by `threads`.

mod mysql;
mod postgres;
pub mod sql;
mod sqlite;

use crate::error::{Diagnostic, Error, ErrorKind, Result};
use crate::project::profiles::{AdapterType, Target};
use crate::sql::Dialect;
use crate::template::{QueryTable, Relation, RelationKind};
use sql::{Aside, SqlGen};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// One relation of a schema as the database describes it (for `catalog.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogTable {
    /// Schema.
    pub schema: String,
    /// Relation name.
    pub name: String,
    /// `BASE TABLE`, `VIEW` or `MATERIALIZED VIEW`, as `information_schema` names them.
    pub kind: String,
    /// Owner, where the database has one.
    pub owner: Option<String>,
    /// The relation's comment.
    pub comment: Option<String>,
    /// Rows, where the database knows them cheaply (an estimate on PostgreSQL and MySQL).
    pub row_count: Option<u64>,
    /// Columns in order.
    pub columns: Vec<CatalogColumn>,
}

/// One column of a [`CatalogTable`].
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogColumn {
    /// Column name.
    pub name: String,
    /// 1-based position.
    pub index: u32,
    /// Type as the database names it.
    pub data_type: String,
    /// The column's comment.
    pub comment: Option<String>,
}

/// Groups flat catalog rows (one per column, ordered by relation then position) into tables.
#[allow(clippy::type_complexity)]
pub(crate) fn group_catalog(
    schema: &str,
    rows: Vec<(
        String,
        String,
        Option<String>,
        Option<String>,
        Option<i64>,
        String,
        i64,
        String,
        Option<String>,
    )>,
) -> Vec<CatalogTable> {
    let mut out: Vec<CatalogTable> = Vec::new();
    for (name, kind, owner, comment, rows, column, index, data_type, col_comment) in rows {
        if out.last().is_none_or(|t| t.name != name) {
            out.push(CatalogTable {
                schema: schema.to_string(),
                name: name.clone(),
                kind,
                owner,
                comment: comment.filter(|c| !c.is_empty()),
                row_count: rows.and_then(|n| u64::try_from(n).ok()),
                columns: Vec::new(),
            });
        }
        if let Some(t) = out.last_mut() {
            t.columns.push(CatalogColumn {
                name: column,
                index: u32::try_from(index).unwrap_or(0),
                data_type,
                comment: col_comment.filter(|c| !c.is_empty()),
            });
        }
    }
    out
}

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
    /// Schemas known to exist. Creation is serialised: two concurrent `create schema if not
    /// exists` can collide on PostgreSQL.
    schemas: std::sync::Arc<tokio::sync::Mutex<std::collections::BTreeSet<String>>>,
    /// This run's tag in the names of the relations it builds aside ([`sql::run_tag`]).
    tag: std::sync::Arc<str>,
}

/// Rows handed to a load a batch at a time, so a seed is never held in memory whole.
pub trait RowSource: Send {
    /// Up to `max` next rows; an empty batch when there are no more.
    fn next_batch(&mut self, max: usize) -> Result<Vec<Vec<Option<String>>>>;

    /// Up to `max` next rows appended to `out` as CSV for PostgreSQL's `COPY` (each field
    /// through [`copy_csv_field`]); returns how many, 0 when there are no more. A source that
    /// reads CSV itself can write its fields without a `String` per value.
    fn next_csv(&mut self, max: usize, out: &mut Vec<u8>) -> Result<usize> {
        let batch = self.next_batch(max)?;
        for row in &batch {
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                copy_csv_field(out, v.as_deref());
            }
            out.push(b'\n');
        }
        Ok(batch.len())
    }
}

/// One field as CSV for `COPY`: NULL is an unquoted empty field. A value is quoted only when it
/// must be: empty (or it would read as NULL), or holding a comma, quote, line break or
/// backslash (`\.` alone on a line ends the data).
pub fn copy_csv_field(out: &mut Vec<u8>, v: Option<&str>) {
    let Some(v) = v else { return };
    let quote = v.is_empty()
        || v.bytes()
            .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r' | b'\\'));
    if !quote {
        out.extend_from_slice(v.as_bytes());
        return;
    }
    out.push(b'"');
    for b in v.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// What [`Adapter::clean_asides`] did with a relation an earlier, interrupted run left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleaned {
    /// A temporary or backup relation was dropped: `schema.name`.
    Dropped(String),
    /// The relation was missing and its backup was renamed back: (backup, relation).
    Restored(String, String),
}

/// The lock on a target that a command changing the warehouse holds from before its first
/// statement to after its last, so two runs on one target take turns. It lives on a connection
/// (or open file) of its own, and the database (or the kernel) releases it when the process
/// ends, however it ends.
pub struct TargetLock {
    held: Held,
}

enum Held {
    File(#[allow(dead_code)] std::fs::File),
    Postgres(sqlx::PgConnection),
    MySql(sqlx::MySqlConnection),
}

impl TargetLock {
    /// Releases the lock.
    pub async fn release(self) {
        use sqlx::Connection;
        match self.held {
            Held::File(f) => drop(f),
            Held::Postgres(c) => {
                let _ = c.close().await;
            }
            Held::MySql(c) => {
                let _ = c.close().await;
            }
        }
    }
}

/// A stable 64-bit key for a target's lock.
fn lock_key(database: &str, schema: &str) -> [u8; 8] {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("kiln target\0{database}\0{schema}").as_bytes());
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    key
}

/// The options every adapter's connection pool starts from: at most `max` connections, or the
/// target's threads when fewer.
///
/// Connections are never reaped for idleness or age. A command holds its pool for one run, and
/// without a lifetime or idle timeout sqlx starts no maintenance task: sqlx 0.8's task can spin
/// forever on a miscounted number of idle connections (sqlx issue 3645), which kept a finished
/// command from exiting. A connection a server closed meanwhile is found by the ping before it
/// is handed out.
fn pool_options<DB: sqlx::Database>(threads: usize, max: u32) -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(threads.clamp(1, max as usize) as u32)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(true)
}

#[derive(Clone)]
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
}

pub(crate) fn db_error(context: &str, e: impl std::fmt::Display) -> Error {
    Error::from(Diagnostic::new(
        ErrorKind::Database,
        format!("{context}: {e}"),
    ))
}

pub(crate) type SendFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A statement the database rejected, with the statement's first line for context.
pub(crate) fn statement_error(sql: &str, e: sqlx::Error) -> Error {
    let msg = match &e {
        sqlx::Error::Database(d) => d.message().to_string(),
        sqlx::Error::Io(io) => format!("lost the connection to the database: {io}"),
        sqlx::Error::PoolTimedOut => "timed out waiting for a database connection".to_string(),
        other => other.to_string(),
    };
    let first = sql
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut d =
        Diagnostic::new(ErrorKind::Database, msg).with_hint(format!("while running `{first}`"));
    if let sqlx::Error::Database(db) = &e {
        d.database = Some(Box::new(database_message(sql, db.as_ref())));
    }
    Error::from(d)
}

/// What the database said beyond its message: PostgreSQL's position in the statement, its
/// DETAIL and HINT, and the SQLSTATE code of any server.
fn database_message(
    sql: &str,
    db: &dyn sqlx::error::DatabaseError,
) -> crate::error::DatabaseMessage {
    let mut m = crate::error::DatabaseMessage {
        statement: sql.to_string(),
        code: db.code().map(|c| c.into_owned()),
        ..Default::default()
    };
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        m.position = match pg.position() {
            Some(sqlx::postgres::PgErrorPosition::Original(p)) => Some(p),
            _ => None,
        };
        m.detail = pg.detail().map(str::to_string);
        m.hint = pg.hint().map(str::to_string);
        m.context = pg.r#where().map(str::to_string);
    }
    m
}

/// An error for a connection that could not be made, naming where it tried to connect
/// (`address` is `host:port` as the driver resolved it from the profile or its URL).
pub(crate) fn connect_error(target: &Target, address: &str, e: sqlx::Error) -> Error {
    let mut detail = match &e {
        sqlx::Error::Database(d) => d.message().to_string(),
        other => other.to_string(),
    };
    // Never echo a password, whatever the driver put in its message.
    for (key, value) in &target.settings {
        let raw = crate::project::config::value_to_string(value);
        if !raw.is_empty() {
            let masked = target
                .redacted_settings()
                .get(key)
                .map(crate::project::config::value_to_string)
                .unwrap_or_default();
            if masked != raw {
                detail = detail.replace(&raw, &masked);
            }
        }
    }
    Error::from(
        Diagnostic::new(
            ErrorKind::Database,
            format!(
                "cannot connect to {} at {address}: {detail}",
                target.adapter
            ),
        )
        .with_hint(format!(
            "check that the server is running and that target `{}` in profiles.yml has the right host, port and credentials",
            target.name
        )),
    )
}

impl Adapter {
    /// Connects to `target`. For SQLite, `schemas` lists every schema the run may touch so each
    /// connection can attach their files.
    pub async fn connect(target: &Target, schemas: &[String]) -> Result<Adapter> {
        match target.adapter {
            AdapterType::Sqlite => sqlite::connect(target, schemas).await,
            AdapterType::Postgres => postgres::connect(target).await,
            AdapterType::Mysql => mysql::connect(target).await,
        }
    }

    /// The dialect of this connection.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The statement builder for this dialect.
    pub fn sql(&self) -> SqlGen {
        SqlGen::new(self.dialect)
    }

    /// The same connections, naming what they build aside after `invocation_id`.
    pub fn for_invocation(mut self, invocation_id: &str) -> Adapter {
        self.tag = sql::run_tag(invocation_id).into();
        self
    }

    /// This run's tag ([`sql::run_tag`]).
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// `rel`'s aside relation of this run (`<name>__kiln_tmp_<tag>`, ...).
    pub fn aside(&self, rel: &Relation, aside: Aside) -> Relation {
        self.sql().aside(rel, aside, &self.tag)
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

    /// The server's version string.
    pub async fn server_version(&self) -> Result<String> {
        let sql = match self.dialect {
            Dialect::Sqlite => "select 'SQLite ' || sqlite_version()",
            Dialect::Postgres => "select version()",
            Dialect::MySql => "select concat(@@version_comment, ' ', version())",
        };
        let t = self.query(sql).await?;
        Ok(t.rows
            .first()
            .and_then(|r| r.first())
            .map(crate::project::config::value_to_string)
            .unwrap_or_default())
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

    /// Runs statements in one transaction: all of them or none (MySQL commits DDL implicitly,
    /// so callers there rely on single atomic statements such as `RENAME TABLE`).
    pub async fn execute_atomic(&self, statements: &[String]) -> Result<Vec<u64>> {
        let _turn = self.write_turn().await;
        match &self.pool {
            Pool::Sqlite(p) => sqlite::atomic(p, statements).await,
            Pool::Postgres(p) => postgres::atomic(p, statements).await,
            Pool::MySql(p) => mysql::atomic(p, statements).await,
        }
    }

    /// The rows of table `rel`, just built by a statement that reported `affected` rows: that
    /// count where the database reports a `create table ... as` statement's rows (PostgreSQL's
    /// `SELECT n`, MySQL's affected rows), as dbt's adapter response does; SQLite counts only
    /// inserts, updates and deletes, so there the table is counted.
    pub async fn built_rows(&self, rel: &Relation, affected: u64) -> Result<u64> {
        if self.dialect() != Dialect::Sqlite {
            return Ok(affected);
        }
        let t = self
            .query(&format!("select count(*) as n from {}", rel.render()))
            .await?;
        Ok(t.rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_u64())
            .unwrap_or(0))
    }

    /// Runs a query and returns its rows as JSON-like values.
    pub async fn query(&self, sql: &str) -> Result<QueryTable> {
        match &self.pool {
            Pool::Sqlite(p) => sqlite::query(p, sql).await,
            Pool::Postgres(p) => postgres::query(p, sql).await,
            Pool::MySql(p) => mysql::query(p, sql).await,
        }
    }

    /// The kind of an existing relation, or None when it does not exist.
    pub async fn relation_kind(
        &self,
        schema: &str,
        identifier: &str,
    ) -> Result<Option<RelationKind>> {
        match &self.pool {
            Pool::Sqlite(p) => sqlite::relation_kind(p, schema, identifier).await,
            Pool::Postgres(p) => postgres::relation_kind(p, schema, identifier).await,
            Pool::MySql(p) => mysql::relation_kind(p, schema, identifier).await,
        }
    }

    /// Columns (name, declared type) of a relation, in order; empty when it does not exist.
    pub async fn columns(&self, schema: &str, identifier: &str) -> Result<Vec<(String, String)>> {
        match &self.pool {
            Pool::Sqlite(p) => sqlite::columns(p, schema, identifier).await,
            Pool::Postgres(p) => postgres::columns(p, schema, identifier).await,
            Pool::MySql(p) => mysql::columns(p, schema, identifier).await,
        }
    }

    /// Every table and view of `schema` with its columns, in one query. A schema that does not
    /// exist has no relations.
    pub async fn catalog(&self, schema: &str) -> Result<Vec<CatalogTable>> {
        match &self.pool {
            Pool::Sqlite(p) => sqlite::catalog(p, schema).await,
            Pool::Postgres(p) => postgres::catalog(p, schema).await,
            Pool::MySql(p) => mysql::catalog(p, schema).await,
        }
    }

    /// Makes sure a schema exists.
    pub async fn ensure_schema(&self, schema: &str) -> Result<()> {
        let mut known = self.schemas.lock().await;
        if known.contains(schema) {
            return Ok(());
        }
        if let Some(sql) = self.sql().create_schema(schema) {
            self.execute(&sql).await?;
        }
        known.insert(schema.to_string());
        Ok(())
    }

    /// Replaces `rel` with a new table of `columns` holding the rows of `rows`, with values
    /// passed as data (bound parameters or COPY), never spliced into SQL, a batch at a time. The
    /// new table is loaded aside and swapped in, so a failed load leaves the previous table as
    /// it was.
    pub async fn load_table(
        &self,
        rel: &Relation,
        columns: &[(String, String)],
        rows: &mut dyn RowSource,
        existing: Option<RelationKind>,
    ) -> Result<u64> {
        let _turn = self.write_turn().await;
        match &self.pool {
            Pool::Sqlite(p) => sqlite::load(p, self.sql(), rel, columns, rows, existing).await,
            Pool::Postgres(p) => postgres::load(p, self.sql(), rel, columns, rows, existing).await,
            Pool::MySql(p) => {
                let tmp = self.aside(rel, Aside::Tmp);
                let backup = self.aside(rel, Aside::Backup);
                mysql::load(p, self.sql(), rel, &tmp, &backup, columns, rows, existing).await
            }
        }
    }

    /// Puts the finished table `tmp` in place of `rel` atomically: one transaction on SQLite and
    /// PostgreSQL (which also recreates views that depended on the old table), one
    /// `RENAME TABLE` exchanging both names on MySQL.
    pub async fn swap_table(
        &self,
        rel: &Relation,
        tmp: &Relation,
        existing: Option<RelationKind>,
    ) -> Result<Vec<String>> {
        let sqlgen = self.sql();
        let rename = sqlgen.rename_table(tmp, &rel.identifier);
        match &self.pool {
            Pool::Sqlite(_) => {
                let mut stmts = Vec::new();
                if let Some(kind) = existing {
                    stmts.push(sqlgen.drop_relation(rel, kind == RelationKind::View));
                }
                stmts.push(rename);
                self.execute_atomic(&stmts).await?;
                Ok(stmts)
            }
            Pool::Postgres(p) => {
                postgres::replace(p, rel, existing, std::slice::from_ref(&rename)).await?;
                Ok(vec![rename])
            }
            Pool::MySql(_) => {
                let backup = self.aside(rel, Aside::Backup);
                let stmts = mysql::swap_statements(&sqlgen, rel, tmp, &backup, existing);
                for s in &stmts {
                    self.execute(s).await?;
                }
                Ok(stmts)
            }
        }
    }

    /// Creates or replaces the view `rel` over `sql`; the old relation stays if the new view
    /// cannot be created.
    pub async fn replace_view(
        &self,
        rel: &Relation,
        sql: &str,
        existing: Option<RelationKind>,
    ) -> Result<Vec<String>> {
        let sqlgen = self.sql();
        let create = sqlgen.create_view(rel, sql);
        match &self.pool {
            Pool::Sqlite(_) => {
                let mut stmts = Vec::new();
                if let Some(kind) = existing {
                    stmts.push(sqlgen.drop_relation(rel, kind == RelationKind::View));
                }
                stmts.push(create);
                // SQLite accepts a view over missing columns; reading it in the same
                // transaction surfaces the error now and keeps the old view.
                stmts.push(format!("select * from {} limit 0", rel.render()));
                self.execute_atomic(&stmts).await?;
                Ok(stmts)
            }
            Pool::Postgres(p) => {
                // `create or replace` keeps dependent views; it fails when columns change, and
                // then the view is rebuilt with its dependents recreated.
                if existing == Some(RelationKind::View) {
                    let or_replace = sqlgen.create_or_replace_view(rel, sql);
                    if self
                        .execute_atomic(std::slice::from_ref(&or_replace))
                        .await
                        .is_ok()
                    {
                        return Ok(vec![or_replace]);
                    }
                }
                postgres::replace(p, rel, existing, std::slice::from_ref(&create)).await?;
                Ok(vec![create])
            }
            Pool::MySql(_) if existing == Some(RelationKind::Table) => {
                // DDL commits at once here: the view is created aside and exchanged with the
                // table by one RENAME, so the name is never missing (see mysql.rs).
                let tmp = self.aside(rel, Aside::Tmp);
                let backup = self.aside(rel, Aside::Backup);
                let mut stmts = vec![
                    sqlgen.drop_relation(&tmp, true),
                    sqlgen.create_view(&tmp, sql),
                ];
                for s in &stmts {
                    if let Err(e) = self.execute(s).await {
                        let _ = self.execute(&sqlgen.drop_relation(&tmp, true)).await;
                        return Err(e);
                    }
                }
                let swap = mysql::swap_statements(&sqlgen, rel, &tmp, &backup, existing);
                for s in &swap {
                    self.execute(s).await?;
                }
                stmts.extend(swap);
                Ok(stmts)
            }
            Pool::MySql(_) => {
                // `create or replace view` is one atomic statement.
                let stmt = sqlgen.create_or_replace_view(rel, sql);
                self.execute(&stmt).await?;
                Ok(vec![stmt])
            }
        }
    }

    /// Every table and view of `schema` (name, kind); none when the schema does not exist.
    pub async fn relations(&self, schema: &str) -> Result<Vec<(String, RelationKind)>> {
        match &self.pool {
            Pool::Sqlite(p) => sqlite::relations(p, schema).await,
            Pool::Postgres(p) => postgres::relations(p, schema).await,
            Pool::MySql(p) => mysql::relations(p, schema).await,
        }
    }

    /// Clears what interrupted runs left beside the project's relations: `owned` maps each
    /// schema to the identifiers of the project's relations in it. Call it only while holding
    /// the target's lock ([`Adapter::lock_target`]), so no live run's relations are touched.
    ///
    /// A relation that is missing while a backup of it exists is renamed back first (a swap
    /// on MySQL is one atomic RENAME, so this only mends what older versions could leave);
    /// then every temporary, backup and staging relation of an owned name is dropped,
    /// whichever run made it.
    pub async fn clean_asides(
        &self,
        owned: &BTreeMap<String, BTreeSet<String>>,
    ) -> Result<Vec<Cleaned>> {
        let sqlgen = self.sql();
        let mut out = Vec::new();
        for (schema, identifiers) in owned {
            let present = self.relations(schema).await?;
            let stems: BTreeMap<String, &String> = identifiers
                .iter()
                .map(|i| (sqlgen.aside_stem(i), i))
                .collect();
            let exists = |name: &str| present.iter().any(|(n, _)| n == name);
            let mut restored: BTreeSet<&String> = BTreeSet::new();
            for (name, kind) in &present {
                let Some(parsed) = sql::parse_aside(name) else {
                    continue;
                };
                let Some(base) = stems.get(&parsed.stem).copied() else {
                    continue;
                };
                if parsed.tag == self.tag.as_ref() {
                    continue;
                }
                let rel = self.relation(schema, name, *kind);
                if parsed.aside == Aside::Backup && !exists(base) && restored.insert(base) {
                    self.execute(&sqlgen.rename_table(&rel, base)).await?;
                    out.push(Cleaned::Restored(
                        format!("{schema}.{name}"),
                        format!("{schema}.{base}"),
                    ));
                    continue;
                }
                self.execute(&sqlgen.drop_relation(&rel, *kind == RelationKind::View))
                    .await?;
                out.push(Cleaned::Dropped(format!("{schema}.{name}")));
            }
        }
        Ok(out)
    }

    /// Takes the lock on the target (`schema` of this database) that commands changing the
    /// warehouse hold: a session advisory lock on PostgreSQL, `GET_LOCK` on MySQL, a file lock
    /// beside the SQLite files, each on a connection or file of its own. When another run holds
    /// it, `waiting` is called once and this waits for it; with `wait` false it returns None
    /// instead.
    pub async fn lock_target(
        &self,
        schema: &str,
        wait: bool,
        waiting: &(dyn Fn() + Send + Sync),
    ) -> Result<Option<TargetLock>> {
        let key = lock_key(&self.database, schema);
        let held = match &self.pool {
            Pool::Sqlite(_) => {
                let dir = self
                    .sqlite_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(".kiln"));
                sqlite::lock(&dir, wait, waiting).await?.map(Held::File)
            }
            Pool::Postgres(p) => postgres::lock(p, i64::from_be_bytes(key), wait, waiting)
                .await?
                .map(Held::Postgres),
            Pool::MySql(p) => {
                let hex = crate::project::identity::hex(&key);
                mysql::lock(p, &format!("kiln_target_{hex}"), wait, waiting)
                    .await?
                    .map(Held::MySql)
            }
        };
        Ok(held.map(|held| TargetLock { held }))
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

/// A float JSON value (NaN and infinities become null).
pub(crate) fn float(f: f64) -> serde_json::Value {
    serde_json::Number::from_f64(f)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Without an idle timeout or a lifetime, sqlx starts no maintenance task for the pool
    /// (the task that could spin and keep a finished command from exiting).
    #[test]
    fn pools_have_no_maintenance_task_and_threads_bound_their_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut target = Target::embedded_default(dir.path(), "p");
        target.threads = 40;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let adapter = rt.block_on(Adapter::connect(&target, &[])).unwrap();
        let Pool::Sqlite(pool) = &adapter.pool else {
            panic!("the embedded target is SQLite")
        };
        let options = pool.options();
        assert_eq!(options.get_idle_timeout(), None);
        assert_eq!(options.get_max_lifetime(), None);
        assert_eq!(options.get_min_connections(), 0);
        assert_eq!(options.get_max_connections(), 16);
        rt.block_on(adapter.close());
        for (threads, max, want) in [(0, 64, 1), (4, 64, 4), (usize::MAX, 64, 64)] {
            let o = pool_options::<sqlx::Postgres>(threads, max);
            assert_eq!(o.get_max_connections(), want);
        }
    }
}
