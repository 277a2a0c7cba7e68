//! PostgreSQL: a pool sized by `threads`; seeds load with `COPY ... FROM STDIN`.

use super::sql::SqlGen;
use super::{Adapter, Pool, SendFuture, connect_error, db_error, float, statement_error};
use crate::error::Result;
use crate::project::config::value_to_string;
use crate::project::profiles::Target;
use crate::sql::Dialect;
use crate::template::{QueryTable, Relation, RelationKind};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgRow, PgSslMode};
use sqlx::{Column, ConnectOptions, PgPool, Row, TypeInfo, ValueRef};
use std::str::FromStr;
use std::time::Duration;

fn exec<'a>(
    c: &'a mut sqlx::PgConnection,
    sql: &'a str,
) -> SendFuture<'a, std::result::Result<u64, sqlx::Error>> {
    Box::pin(async move {
        sqlx::Executor::execute(c, sql)
            .await
            .map(|r| r.rows_affected())
    })
}

/// `COPY ... FROM STDIN` fed a batch at a time from `rows`, each batch turned into CSV and sent
/// before the next is read, so memory stays at one batch whatever the file's size.
fn copy_in<'a>(
    c: &'a mut sqlx::PgConnection,
    statement: &'a str,
    rows: &'a mut dyn super::RowSource,
) -> SendFuture<'a, Result<u64>> {
    Box::pin(async move {
        let mut copy = c
            .copy_in_raw(statement)
            .await
            .map_err(|e| statement_error(statement, e))?;
        let mut buf = Vec::with_capacity(1 << 20);
        loop {
            buf.clear();
            match rows.next_csv(10_000, &mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    let _ = copy.abort(e.to_string()).await;
                    return Err(e);
                }
            }
            if let Err(e) = copy.send(buf.as_slice()).await {
                let _ = copy.abort(e.to_string()).await;
                return Err(statement_error(statement, e));
            }
        }
        copy.finish()
            .await
            .map_err(|e| statement_error(statement, e))
    })
}

/// Connection options from the profile's settings (or its `url`).
pub(super) fn options(target: &Target) -> std::result::Result<PgConnectOptions, sqlx::Error> {
    let s = &target.settings;
    let text = |k: &str| s.get(k).map(value_to_string).filter(|v| !v.is_empty());
    let mut opts = match text("url") {
        Some(url) => PgConnectOptions::from_str(&url)?,
        None => PgConnectOptions::new(),
    };
    if let Some(h) = text("host") {
        opts = opts.host(&h);
    }
    if let Some(p) = s.get("port").and_then(|v| v.as_u64()) {
        opts = opts.port(p as u16);
    }
    if let Some(u) = text("user") {
        opts = opts.username(&u);
    }
    if let Some(p) = text("password").or_else(|| text("pass")) {
        opts = opts.password(&p);
    }
    if !target.database.is_empty() {
        opts = opts.database(&target.database);
    }
    if let Some(m) = text("sslmode") {
        opts = opts.ssl_mode(PgSslMode::from_str(&m)?);
    }
    let search_path = text("search_path").unwrap_or_else(|| target.schema.clone());
    opts = opts
        .application_name("kiln")
        .options([("search_path", search_path.as_str())]);
    Ok(opts)
}

pub(super) async fn connect(target: &Target) -> Result<Adapter> {
    let opts = options(target).map_err(|e| connect_error(target, "the configured address", e))?;
    let address = format!("{}:{}", opts.get_host(), opts.get_port());
    let timeout = target
        .settings
        .get("connect_timeout")
        .and_then(|v| v.as_u64().or_else(|| value_to_string(v).parse().ok()))
        .unwrap_or(10);
    // One connection first, so a refused or unreachable server fails at once with its address
    // (the pool would retry until its timeout and then only say it timed out).
    let first = tokio::time::timeout(Duration::from_secs(timeout.max(1)), opts.connect())
        .await
        .map_err(|_| {
            connect_error(
                target,
                &address,
                sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {timeout} s (connect_timeout)"),
                )),
            )
        })?
        .map_err(|e| connect_error(target, &address, e))?;
    drop(first);
    let pool = super::pool_options::<sqlx::Postgres>(target.threads, 64)
        .acquire_timeout(Duration::from_secs(timeout.max(1)))
        .connect_with(opts)
        .await
        .map_err(|e| connect_error(target, &address, e))?;
    Ok(Adapter {
        pool: Pool::Postgres(pool),
        dialect: Dialect::Postgres,
        sqlite_dir: None,
        database: target.database.clone(),
        schemas: Default::default(),
        write_lock: None,
        tag: super::sql::run_tag(&crate::template::invocation_id()).into(),
    })
}

pub(super) async fn atomic(p: &PgPool, statements: &[String]) -> Result<Vec<u64>> {
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

pub(super) async fn query(p: &PgPool, sql: &str) -> Result<QueryTable> {
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

/// Decodes one PostgreSQL value by its type.
fn value(row: &PgRow, i: usize) -> Value {
    let Ok(raw) = row.try_get_raw(i) else {
        return Value::Null;
    };
    if raw.is_null() {
        return Value::Null;
    }
    let name = raw.type_info().name().to_string();
    let text =
        |r: std::result::Result<String, sqlx::Error>| r.map(Value::from).unwrap_or(Value::Null);
    match name.as_str() {
        "INT2" => row
            .try_get::<i16, _>(i)
            .map(Value::from)
            .unwrap_or(Value::Null),
        "INT4" => row
            .try_get::<i32, _>(i)
            .map(Value::from)
            .unwrap_or(Value::Null),
        "INT8" => row
            .try_get::<i64, _>(i)
            .map(Value::from)
            .unwrap_or(Value::Null),
        "FLOAT4" => row
            .try_get::<f32, _>(i)
            .map(|f| float(f as f64))
            .unwrap_or(Value::Null),
        "FLOAT8" => row.try_get::<f64, _>(i).map(float).unwrap_or(Value::Null),
        "NUMERIC" => row
            .try_get::<sqlx::types::Decimal, _>(i)
            .ok()
            .and_then(|d| {
                let s = d.normalize().to_string();
                if d.scale() == 0 || !s.contains('.') {
                    s.parse::<i64>().ok().map(Value::from)
                } else {
                    s.parse::<f64>().ok().map(float)
                }
            })
            .unwrap_or(Value::Null),
        "BOOL" => row
            .try_get::<bool, _>(i)
            .map(Value::from)
            .unwrap_or(Value::Null),
        "DATE" => row
            .try_get::<chrono::NaiveDate, _>(i)
            .map(|d| Value::from(d.to_string()))
            .unwrap_or(Value::Null),
        "TIMESTAMP" => row
            .try_get::<chrono::NaiveDateTime, _>(i)
            .map(|d| Value::from(d.to_string()))
            .unwrap_or(Value::Null),
        "TIMESTAMPTZ" => row
            .try_get::<chrono::DateTime<chrono::Utc>, _>(i)
            .map(|d| Value::from(d.to_rfc3339()))
            .unwrap_or(Value::Null),
        "JSON" | "JSONB" => row.try_get::<Value, _>(i).unwrap_or(Value::Null),
        _ => text(row.try_get::<String, _>(i)),
    }
}

pub(super) async fn relation_kind(
    p: &PgPool,
    schema: &str,
    identifier: &str,
) -> Result<Option<RelationKind>> {
    // The relations information_schema.tables lists (tables, partitioned and foreign tables,
    // views), read from pg_class by its index: a few times faster, once per node of a run.
    let q = "select c.relkind::text from pg_class c \
             join pg_namespace n on n.oid = c.relnamespace \
             where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p', 'f', 'v')";
    let row: Option<(String,)> = sqlx::query_as(q)
        .bind(schema)
        .bind(identifier)
        .fetch_optional(p)
        .await
        .map_err(|e| statement_error(q, e))?;
    Ok(row.map(|(k,)| RelationKind::table_or_view(k == "v")))
}

pub(super) async fn columns(
    p: &PgPool,
    schema: &str,
    identifier: &str,
) -> Result<Vec<(String, String)>> {
    let q = "select column_name::text, data_type::text from information_schema.columns where table_schema = $1 and table_name = $2 order by ordinal_position";
    sqlx::query_as(q)
        .bind(schema)
        .bind(identifier)
        .fetch_all(p)
        .await
        .map_err(|e| statement_error(q, e))
}

pub(super) async fn catalog(p: &PgPool, schema: &str) -> Result<Vec<super::CatalogTable>> {
    // Row counts are the planner's estimate, or the statistics collector's live tuples for a
    // table never analysed: both cost nothing to read. Comments come from joins on
    // pg_description: `obj_description` and `col_description` run a query of their own per row,
    // which made this query ten times slower at 2,000 relations.
    let q = "select c.relname::text, \
               case c.relkind when 'v' then 'VIEW' when 'm' then 'MATERIALIZED VIEW' else 'BASE TABLE' end, \
               pg_get_userbyid(c.relowner)::text, td.description, \
               case when c.relkind in ('v', 'm') then null \
                    when c.reltuples >= 0 then c.reltuples::bigint \
                    when c.relkind = 'f' then null \
                    else pg_stat_get_live_tuples(c.oid) end, \
               a.attname::text, a.attnum::bigint, format_type(a.atttypid, a.atttypmod)::text, \
               cd.description \
             from pg_class c \
             join pg_namespace n on n.oid = c.relnamespace \
             join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped \
             left join pg_description td on td.objoid = c.oid \
               and td.classoid = 'pg_class'::regclass and td.objsubid = 0 \
             left join pg_description cd on cd.objoid = c.oid \
               and cd.classoid = 'pg_class'::regclass and cd.objsubid = a.attnum \
             where n.nspname = $1 and c.relkind in ('r', 'v', 'm', 'p', 'f') \
             order by c.relname, a.attnum";
    let rows = sqlx::query_as(q)
        .bind(schema)
        .fetch_all(p)
        .await
        .map_err(|e| statement_error(q, e))?;
    Ok(super::group_catalog(schema, rows))
}

/// Every table and view of a schema.
pub(super) async fn relations(p: &PgPool, schema: &str) -> Result<Vec<(String, RelationKind)>> {
    let q = "select c.relname::text, c.relkind::text from pg_class c \
             join pg_namespace n on n.oid = c.relnamespace \
             where n.nspname = $1 and c.relkind in ('r', 'v', 'm', 'p', 'f') order by 1";
    let rows: Vec<(String, String)> = sqlx::query_as(q)
        .bind(schema)
        .fetch_all(p)
        .await
        .map_err(|e| statement_error(q, e))?;
    Ok(rows
        .into_iter()
        .map(|(n, k)| (n, RelationKind::table_or_view(k == "v")))
        .collect())
}

/// A session advisory lock on a connection of its own (not the pool's, which would hand it to
/// other work); the server releases it when that connection ends, however the process ends.
pub(super) async fn lock(
    p: &PgPool,
    key: i64,
    wait: bool,
    waiting: &(dyn Fn() + Send + Sync),
) -> Result<Option<sqlx::PgConnection>> {
    let opts = (*p.connect_options())
        .clone()
        .application_name("kiln (target lock)");
    let mut conn = opts
        .connect()
        .await
        .map_err(|e| db_error("cannot open a connection for the target's lock", e))?;
    let q = "select pg_try_advisory_lock($1)";
    let got: bool = sqlx::query_scalar(q)
        .bind(key)
        .fetch_one(&mut conn)
        .await
        .map_err(|e| statement_error(q, e))?;
    if got {
        return Ok(Some(conn));
    }
    if !wait {
        return Ok(None);
    }
    waiting();
    let q = "select pg_advisory_lock($1)";
    sqlx::query(q)
        .bind(key)
        .execute(&mut conn)
        .await
        .map_err(|e| statement_error(q, e))?;
    Ok(Some(conn))
}

pub(super) async fn load(
    p: &PgPool,
    sqlgen: SqlGen,
    rel: &Relation,
    columns: &[(String, String)],
    rows: &mut dyn super::RowSource,
    existing: Option<RelationKind>,
) -> Result<u64> {
    let cols: Vec<String> = columns.iter().map(|(n, _)| sqlgen.quote(n)).collect();
    let mut tx = p
        .begin()
        .await
        .map_err(|e| db_error("cannot begin a transaction", e))?;
    let views = if existing.is_some() {
        // Swaps that recreate dependent views take turns: two at once (a view over two seeds
        // rebuilt in parallel) would each see the other's dropped view in pg_depend.
        exec(&mut tx, SWAP_LOCK)
            .await
            .map_err(|e| statement_error(SWAP_LOCK, e))?;
        dependent_views(&mut tx, rel)
            .await
            .map_err(|e| statement_error("select ... from pg_depend", e))?
    } else {
        Vec::new()
    };
    let mut stmts = Vec::new();
    if let Some(kind) = existing {
        stmts.push(sqlgen.drop_relation(rel, kind == RelationKind::View));
    }
    stmts.push(sqlgen.create_table(rel, columns));
    for s in &stmts {
        exec(&mut tx, s).await.map_err(|e| statement_error(s, e))?;
    }
    let copy = format!(
        "copy {} ({}) from stdin with (format csv)",
        rel.render(),
        cols.join(", ")
    );
    let loaded = copy_in(&mut tx, &copy, rows).await?;
    for (schema, name, def) in &views {
        let s = format!(
            "create view {}.{} as {}",
            sqlgen.quote(schema),
            sqlgen.quote(name),
            def.trim_end().trim_end_matches(';')
        );
        exec(&mut tx, &s)
            .await
            .map_err(|e| statement_error(&s, e))?;
    }
    // DDL is transactional here: until this commit the previous table is what readers see.
    tx.commit()
        .await
        .map_err(|e| db_error("cannot commit", e))?;
    Ok(loaded)
}

/// A transaction-scoped advisory lock held while a relation with dependent views is replaced.
const SWAP_LOCK: &str = "select pg_advisory_xact_lock(4812150573)";

/// Views (schema, name, definition) that depend on `rel`, directly or through other views, in
/// the order they must be recreated.
async fn dependent_views(
    c: &mut sqlx::PgConnection,
    rel: &Relation,
) -> std::result::Result<Vec<(String, String, String)>, sqlx::Error> {
    let q = "with recursive deps(oid, depth) as (
            select r.ev_class, 1
            from pg_depend d join pg_rewrite r on r.oid = d.objid
            where d.refobjid = to_regclass($1) and r.ev_class <> to_regclass($1)
            union
            select r.ev_class, deps.depth + 1
            from deps join pg_depend d on d.refobjid = deps.oid join pg_rewrite r on r.oid = d.objid
            where r.ev_class <> deps.oid and deps.depth < 50
        )
        select n.nspname::text, c.relname::text, pg_get_viewdef(c.oid)::text, max(deps.depth)::int4
        from deps join pg_class c on c.oid = deps.oid join pg_namespace n on n.oid = c.relnamespace
        where c.relkind = 'v'
        group by n.nspname, c.relname, c.oid
        order by 4, 1, 2";
    let name = format!(
        "{}.{}",
        Dialect::Postgres.quote(&rel.schema),
        Dialect::Postgres.quote(&rel.identifier)
    );
    type Dependent = (String, String, String, i32);
    let fut: SendFuture<'_, std::result::Result<Vec<Dependent>, sqlx::Error>> =
        Box::pin(async move { sqlx::query_as(q).bind(name).fetch_all(c).await });
    let rows = fut.await?;
    Ok(rows.into_iter().map(|(s, n, d, _)| (s, n, d)).collect())
}

/// Replaces `rel` in one transaction: drops what is there (with its dependent views), runs
/// `create`, then recreates the dependent views so nothing downstream goes missing.
pub(super) async fn replace(
    p: &PgPool,
    rel: &Relation,
    existing: Option<RelationKind>,
    create: &[String],
) -> Result<()> {
    let mut tx = p
        .begin()
        .await
        .map_err(|e| db_error("cannot begin a transaction", e))?;
    let views = if existing.is_some() {
        // Swaps that recreate dependent views take turns: two at once (a view over two seeds
        // rebuilt in parallel) would each see the other's dropped view in pg_depend.
        exec(&mut tx, SWAP_LOCK)
            .await
            .map_err(|e| statement_error(SWAP_LOCK, e))?;
        dependent_views(&mut tx, rel)
            .await
            .map_err(|e| statement_error("select ... from pg_depend", e))?
    } else {
        Vec::new()
    };
    let sqlgen = SqlGen::new(Dialect::Postgres);
    let mut stmts = Vec::new();
    if let Some(kind) = existing {
        stmts.push(sqlgen.drop_relation(rel, kind == RelationKind::View));
    }
    stmts.extend(create.iter().cloned());
    for (schema, name, def) in &views {
        stmts.push(format!(
            "create view {}.{} as {}",
            sqlgen.quote(schema),
            sqlgen.quote(name),
            def.trim_end().trim_end_matches(';')
        ));
    }
    for s in &stmts {
        if let Err(e) = exec(&mut tx, s).await {
            let _ = tx.rollback().await;
            return Err(statement_error(s, e));
        }
    }
    tx.commit().await.map_err(|e| db_error("cannot commit", e))
}

#[cfg(test)]
mod tests {
    use crate::adapter::RowSource;
    use crate::error::Result;

    /// Rows handed over in one batch.
    struct Rows(Vec<Vec<Option<String>>>);

    impl RowSource for Rows {
        fn next_batch(&mut self, _max: usize) -> Result<Vec<Vec<Option<String>>>> {
            Ok(std::mem::take(&mut self.0))
        }
    }

    fn csv_bytes(rows: &[Vec<Option<String>>]) -> Vec<u8> {
        let mut out = Vec::new();
        Rows(rows.to_vec()).next_csv(10, &mut out).unwrap();
        out
    }

    #[test]
    fn copy_csv_quotes_only_what_postgres_would_misread() {
        let v = |s: &str| Some(s.to_string());
        let rows = vec![
            vec![v("1"), v("plain text"), None, v("")],
            vec![v("a,b"), v("say \"hi\""), v("two\nlines"), v("\\.")],
            vec![v(" padded "), v("\r"), v("c:\\dir"), v("é")],
        ];
        let text = String::from_utf8(csv_bytes(&rows)).unwrap();
        assert_eq!(
            text,
            "1,plain text,,\"\"\n\
             \"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"\\.\"\n \
             padded ,\"\r\",\"c:\\dir\",é\n"
        );
    }
}
