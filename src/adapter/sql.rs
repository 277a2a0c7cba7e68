//! Pure SQL generation per dialect: every statement text Kiln sends, built without a database so
//! it can be tested directly. [`super::Adapter`] executes what this module writes.

use crate::sql::Dialect;
use crate::template::Relation;

/// A column type Kiln infers for seeds, mapped to each dialect's type name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedType {
    /// Whole numbers that fit in 32 bits (`integer`, as dbt's adapters type them).
    Integer,
    /// Larger whole numbers.
    BigInt,
    /// Decimal numbers.
    Float,
    /// true/false.
    Boolean,
    /// Calendar dates (`YYYY-MM-DD`).
    Date,
    /// Date and time.
    Timestamp,
    /// Anything else.
    Text,
}

/// A relation Kiln keeps beside a model's own while it replaces it: the new table being built
/// (`<name>__kiln_tmp_<tag>`) or, on MySQL, the old one during the swap
/// (`<name>__kiln_backup_<tag>`), or a snapshot's staging table (`<name>__kiln_staging_<tag>`).
/// The tag comes from the invocation id, so two runs never share
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aside {
    /// The new relation, complete only once it is swapped in.
    Tmp,
    /// The previous relation, between the swap and its drop.
    Backup,
    /// A snapshot's new source rows, merged into it and dropped.
    Staging,
}

impl Aside {
    /// The marker in the relation's name.
    pub fn marker(self) -> &'static str {
        match self {
            Aside::Tmp => "__kiln_tmp",
            Aside::Backup => "__kiln_backup",
            Aside::Staging => "__kiln_staging",
        }
    }
}

/// Length of a run tag: hex digits of the invocation id.
pub const TAG_LEN: usize = 8;

/// The run tag of an invocation id: its first [`TAG_LEN`] hex digits.
pub fn run_tag(invocation_id: &str) -> String {
    let hex: String = invocation_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .take(TAG_LEN)
        .collect();
    format!("{hex:0<TAG_LEN$}")
}

/// A leftover aside relation recognised by its name: its stem (the model's name, or its
/// shortened form), which kind it is, and the run tag (empty for names older Kiln versions
/// wrote without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsideName {
    /// What comes before the marker: see [`SqlGen::aside_stem`].
    pub stem: String,
    /// Tmp or backup.
    pub aside: Aside,
    /// The run that made it.
    pub tag: String,
}

/// Reads a relation name as an aside relation, if it is one.
pub fn parse_aside(name: &str) -> Option<AsideName> {
    for aside in [Aside::Tmp, Aside::Backup, Aside::Staging] {
        let Some(at) = name.rfind(aside.marker()) else {
            continue;
        };
        let rest = &name[at + aside.marker().len()..];
        let tag = match rest.strip_prefix('_') {
            None if rest.is_empty() => "",
            Some(t) if t.len() == TAG_LEN && t.bytes().all(|b| b.is_ascii_hexdigit()) => t,
            _ => continue,
        };
        if at == 0 {
            continue;
        }
        return Some(AsideName {
            stem: name[..at].to_string(),
            aside,
            tag: tag.to_string(),
        });
    }
    None
}

/// Statement builder for one dialect.
#[derive(Debug, Clone, Copy)]
pub struct SqlGen {
    /// Target dialect.
    pub dialect: Dialect,
}

impl SqlGen {
    /// A builder for `dialect`.
    pub fn new(dialect: Dialect) -> SqlGen {
        SqlGen { dialect }
    }

    /// Quotes an identifier.
    pub fn quote(&self, ident: &str) -> String {
        self.dialect.quote(ident)
    }

    /// `schema.name` of a relation with a different identifier.
    pub fn sibling(&self, rel: &Relation, identifier: &str) -> Relation {
        let mut r = rel.clone();
        r.identifier = identifier.to_string();
        r
    }

    /// The longest identifier the database keeps (PostgreSQL cuts longer ones to 63 bytes,
    /// MySQL refuses more than 64 characters); SQLite has no limit.
    pub fn max_identifier_len(&self) -> Option<usize> {
        match self.dialect {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some(63),
            Dialect::MySql => Some(64),
        }
    }

    /// What an aside relation of `base` starts with: `base` itself, or, where `base` plus the
    /// longest suffix would pass the identifier limit, a prefix of it and a hash of the whole
    /// name, so the aside names of two long names never collide and never cut into the
    /// model's own name.
    pub fn aside_stem(&self, base: &str) -> String {
        let suffix = Aside::Staging.marker().len() + 1 + TAG_LEN;
        match self.max_identifier_len() {
            Some(max) if base.len() + suffix > max => {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(base.as_bytes());
                let hash = crate::project::identity::hex(&digest[..4]);
                let mut keep = max - suffix - 1 - hash.len();
                while keep > 0 && !base.is_char_boundary(keep) {
                    keep -= 1;
                }
                format!("{}_{hash}", &base[..keep])
            }
            _ => base.to_string(),
        }
    }

    /// The name of `base`'s aside relation for the run tagged `tag`.
    pub fn aside_name(&self, base: &str, aside: Aside, tag: &str) -> String {
        format!("{}{}_{tag}", self.aside_stem(base), aside.marker())
    }

    /// `rel`'s aside relation for the run tagged `tag`, in the same schema.
    pub fn aside(&self, rel: &Relation, aside: Aside, tag: &str) -> Relation {
        self.sibling(rel, &self.aside_name(&rel.identifier, aside, tag))
    }

    /// The type name for a seed column.
    pub fn seed_type(&self, t: SeedType) -> &'static str {
        match (self.dialect, t) {
            (Dialect::Sqlite, SeedType::Integer | SeedType::BigInt) => "integer",
            (Dialect::Sqlite, SeedType::Float) => "real",
            (Dialect::Sqlite, SeedType::Boolean) => "boolean",
            (Dialect::Sqlite, SeedType::Date) => "date",
            (Dialect::Sqlite, SeedType::Timestamp) => "timestamp",
            (Dialect::Sqlite, SeedType::Text) => "text",
            (Dialect::Postgres, SeedType::Integer) => "integer",
            (Dialect::Postgres, SeedType::BigInt) => "bigint",
            (Dialect::Postgres, SeedType::Float) => "double precision",
            (Dialect::Postgres, SeedType::Boolean) => "boolean",
            (Dialect::Postgres, SeedType::Date) => "date",
            (Dialect::Postgres, SeedType::Timestamp) => "timestamp",
            (Dialect::Postgres, SeedType::Text) => "text",
            (Dialect::MySql, SeedType::Integer) => "int",
            (Dialect::MySql, SeedType::BigInt) => "bigint",
            (Dialect::MySql, SeedType::Float) => "double",
            (Dialect::MySql, SeedType::Boolean) => "boolean",
            (Dialect::MySql, SeedType::Date) => "date",
            (Dialect::MySql, SeedType::Timestamp) => "datetime",
            // `text` holds at most 65,535 bytes; a seed's value may be longer.
            (Dialect::MySql, SeedType::Text) => "longtext",
        }
    }

    /// `create schema if not exists` (not used on SQLite, where a schema is an attached file).
    pub fn create_schema(&self, schema: &str) -> Option<String> {
        match self.dialect {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some(format!(
                "create schema if not exists {}",
                self.quote(schema)
            )),
            Dialect::MySql => Some(format!(
                "create database if not exists {} character set utf8mb4 collate utf8mb4_unicode_ci",
                self.quote(schema)
            )),
        }
    }

    /// `create view rel as sql`.
    pub fn create_view(&self, rel: &Relation, sql: &str) -> String {
        format!(
            "create view {} as\n{}",
            rel.render(),
            sql.trim_end().trim_end_matches(';')
        )
    }

    /// `create or replace view rel as sql`.
    pub fn create_or_replace_view(&self, rel: &Relation, sql: &str) -> String {
        format!(
            "create or replace view {} as\n{}",
            rel.render(),
            sql.trim_end().trim_end_matches(';')
        )
    }

    /// `create table rel as sql`.
    pub fn create_table_as(&self, rel: &Relation, sql: &str) -> String {
        format!(
            "create table {} as\n{}",
            rel.render(),
            sql.trim_end().trim_end_matches(';')
        )
    }

    /// `drop view|table if exists rel`.
    pub fn drop_relation(&self, rel: &Relation, is_view: bool) -> String {
        let kind = if is_view { "view" } else { "table" };
        let cascade = if self.dialect == Dialect::Postgres {
            " cascade"
        } else {
            ""
        };
        format!("drop {kind} if exists {}{cascade}", rel.render())
    }

    /// Renames a table within its schema.
    pub fn rename_table(&self, rel: &Relation, new_identifier: &str) -> String {
        match self.dialect {
            Dialect::MySql => format!(
                "rename table {} to {}",
                rel.render(),
                self.sibling(rel, new_identifier).render()
            ),
            _ => format!(
                "alter table {} rename to {}",
                rel.render(),
                self.quote(new_identifier)
            ),
        }
    }

    /// `create table rel (cols...)` for seeds.
    pub fn create_table(&self, rel: &Relation, columns: &[(String, String)]) -> String {
        let cols: Vec<String> = columns
            .iter()
            .map(|(name, ty)| format!("{} {ty}", self.quote(name)))
            .collect();
        format!("create table {} ({})", rel.render(), cols.join(", "))
    }

    /// A parameterised multi-row insert for `rows` rows of `ncols` columns.
    pub fn insert_values(&self, rel: &Relation, columns: &[String], rows: usize) -> String {
        let cols: Vec<String> = columns.iter().map(|c| self.quote(c)).collect();
        let mut n = 0usize;
        let mut tuples = Vec::with_capacity(rows);
        for _ in 0..rows {
            let ps: Vec<String> = (0..columns.len())
                .map(|_| {
                    n += 1;
                    match self.dialect {
                        Dialect::Postgres => format!("${n}"),
                        _ => "?".to_string(),
                    }
                })
                .collect();
            tuples.push(format!("({})", ps.join(", ")));
        }
        format!(
            "insert into {} ({}) values {}",
            rel.render(),
            cols.join(", "),
            tuples.join(", ")
        )
    }

    /// `insert into target (cols) select cols from source`.
    pub fn insert_select(
        &self,
        target: &Relation,
        source: &Relation,
        columns: &[String],
    ) -> String {
        let cols: Vec<String> = columns.iter().map(|c| self.quote(c)).collect();
        let cols = cols.join(", ");
        format!(
            "insert into {} ({cols})\nselect {cols} from {}",
            target.render(),
            source.render()
        )
    }

    /// Deletes the rows of `target` whose unique key appears in `source` (delete+insert strategy).
    pub fn delete_matching(&self, target: &Relation, source: &Relation, keys: &[String]) -> String {
        if keys.len() == 1 {
            let k = self.quote(&keys[0]);
            return format!(
                "delete from {} where {k} in (select {k} from {})",
                target.render(),
                source.render()
            );
        }
        let conds: Vec<String> = keys
            .iter()
            .map(|k| {
                let k = self.quote(k);
                format!("{t}.{k} = kiln_src.{k}", t = target.render())
            })
            .collect();
        format!(
            "delete from {} where exists (select 1 from {} kiln_src where {})",
            target.render(),
            source.render(),
            conds.join(" and ")
        )
    }

    /// PostgreSQL `MERGE`: update rows whose key matches, insert the rest.
    pub fn merge(
        &self,
        target: &Relation,
        source: &Relation,
        keys: &[String],
        columns: &[String],
    ) -> String {
        let on: Vec<String> = keys
            .iter()
            .map(|k| format!("t.{q} = s.{q}", q = self.quote(k)))
            .collect();
        let set: Vec<String> = columns
            .iter()
            .filter(|c| !keys.iter().any(|k| k.eq_ignore_ascii_case(c)))
            .map(|c| format!("{q} = s.{q}", q = self.quote(c)))
            .collect();
        let cols: Vec<String> = columns.iter().map(|c| self.quote(c)).collect();
        let vals: Vec<String> = cols.iter().map(|c| format!("s.{c}")).collect();
        let matched = if set.is_empty() {
            String::new()
        } else {
            format!("\nwhen matched then update set {}", set.join(", "))
        };
        format!(
            "merge into {} as t\nusing {} as s\non {}{matched}\nwhen not matched then insert ({}) values ({})",
            target.render(),
            source.render(),
            on.join(" and "),
            cols.join(", "),
            vals.join(", ")
        )
    }

    /// `alter table rel add column name type`.
    pub fn add_column(&self, rel: &Relation, name: &str, data_type: &str) -> String {
        format!(
            "alter table {} add column {} {}",
            rel.render(),
            self.quote(name),
            data_type
        )
    }

    /// Wraps a test's SQL to compute its failures with `fail_calc` (dbt's default is
    /// `count(*)`), respecting `limit`.
    pub fn test_count(&self, sql: &str, limit: Option<u64>, fail_calc: &str) -> String {
        let limit = limit
            .map(|l| format!("\n    limit {l}"))
            .unwrap_or_default();
        format!(
            "select {fail_calc} as failures from (\n{}{limit}\n) dbt_internal_test",
            sql.trim_end().trim_end_matches(';')
        )
    }

    /// The newest load time of a source, for freshness checks.
    pub fn freshness(&self, rel: &Relation, loaded_at_field: &str, filter: Option<&str>) -> String {
        let filter = filter
            .filter(|f| !f.trim().is_empty())
            .map(|f| format!(" where {f}"))
            .unwrap_or_default();
        format!(
            "select max({loaded_at_field}) as max_loaded_at from {}{filter}",
            rel.render()
        )
    }

    /// Wraps a query with a row limit for `show`.
    pub fn limit(&self, sql: &str, limit: u64) -> String {
        format!(
            "select * from (\n{}\n) kiln_show limit {limit}",
            sql.trim_end().trim_end_matches(';')
        )
    }

    /// A timestamp literal for `YYYY-MM-DD HH:MM:SS[.ffffff]` text.
    pub fn timestamp_literal(&self, ts: &str) -> String {
        let quoted = format!("'{}'", ts.replace('\'', "''"));
        match self.dialect {
            // SQLite keeps timestamps as ISO text; a cast would turn it into a number.
            Dialect::Sqlite => quoted,
            Dialect::Postgres => format!("cast({quoted} as timestamp)"),
            Dialect::MySql => format!("cast({quoted} as datetime(6))"),
        }
    }

    /// A stable text id built from expressions (dbt's `dbt_scd_id`): the md5 of their text
    /// (Kiln registers `md5()` on SQLite connections).
    pub fn hash_concat(&self, exprs: &[String]) -> String {
        let casted: Vec<String> = exprs
            .iter()
            .map(|e| format!("coalesce(cast({e} as {}), '')", self.text_type()))
            .collect();
        match self.dialect {
            Dialect::Sqlite | Dialect::Postgres => format!("md5({})", casted.join(" || '|' || ")),
            Dialect::MySql => format!("md5(concat_ws('|', {}))", casted.join(", ")),
        }
    }

    /// The type to cast to for text.
    pub fn text_type(&self) -> &'static str {
        match self.dialect {
            Dialect::MySql => "char",
            _ => "text",
        }
    }

    /// Null-safe "is different" comparison.
    pub fn distinct(&self, a: &str, b: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("{a} is not {b}"),
            Dialect::Postgres => format!("{a} is distinct from {b}"),
            Dialect::MySql => format!("not ({a} <=> {b})"),
        }
    }

    /// `begin` statement.
    pub fn begin(&self) -> &'static str {
        match self.dialect {
            Dialect::MySql => "start transaction",
            _ => "begin",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::RelationKind;

    fn rel(d: Dialect) -> Relation {
        Relation::new(
            Some("db".into()),
            "analytics",
            "orders",
            RelationKind::Table,
            d,
        )
    }

    #[test]
    fn aside_names_carry_the_run_tag_and_fit_the_identifier_limit() {
        let tag = run_tag("0F3a9c1e-1111-4222-8333-444455556666");
        assert_eq!(tag, "0f3a9c1e");
        let pg = SqlGen::new(Dialect::Postgres);
        assert_eq!(
            pg.aside_name("orders", Aside::Tmp, &tag),
            "orders__kiln_tmp_0f3a9c1e"
        );
        let long = "a_model_name_that_is_long_enough_to_pass_the_limit_of_postgres";
        for (sg, max) in [(pg, 63), (SqlGen::new(Dialect::MySql), 64)] {
            let tmp = sg.aside_name(long, Aside::Tmp, &tag);
            let backup = sg.aside_name(long, Aside::Backup, &tag);
            assert!(backup.len() <= max && tmp.len() <= max, "{backup}");
            assert_ne!(sg.aside_stem(long), sg.aside_stem(&format!("{long}2")));
            // The stem is the same for both kinds, so a backup names its model.
            let parsed = parse_aside(&backup).unwrap();
            assert_eq!(parsed.stem, sg.aside_stem(long));
            assert_eq!(
                (parsed.aside, parsed.tag.as_str()),
                (Aside::Backup, "0f3a9c1e")
            );
        }
        // SQLite has no limit.
        assert_eq!(
            SqlGen::new(Dialect::Sqlite).aside_stem(long),
            long.to_string()
        );
        // Names of older versions, without a tag, are recognised too.
        assert_eq!(
            parse_aside("orders__kiln_backup"),
            Some(AsideName {
                stem: "orders".into(),
                aside: Aside::Backup,
                tag: String::new()
            })
        );
        assert_eq!(parse_aside("orders__kiln_tmp_notatag"), None);
        assert_eq!(parse_aside("orders"), None);
        assert_eq!(parse_aside("__kiln_tmp"), None);
    }

    #[test]
    fn statements_per_dialect() {
        let s = SqlGen::new(Dialect::Sqlite);
        assert_eq!(
            s.rename_table(&rel(Dialect::Sqlite), "orders__kiln_backup"),
            "alter table \"analytics\".\"orders\" rename to \"orders__kiln_backup\""
        );
        let m = SqlGen::new(Dialect::MySql);
        assert_eq!(
            m.rename_table(&rel(Dialect::MySql), "orders__kiln_backup"),
            "rename table `analytics`.`orders` to `analytics`.`orders__kiln_backup`"
        );
        let p = SqlGen::new(Dialect::Postgres);
        assert_eq!(
            p.insert_values(&rel(Dialect::Postgres), &["a".into(), "b".into()], 2),
            "insert into \"db\".\"analytics\".\"orders\" (\"a\", \"b\") values ($1, $2), ($3, $4)"
        );
        assert_eq!(
            s.test_count("select 1;", Some(10), "count(*)"),
            "select count(*) as failures from (\nselect 1\n    limit 10\n) dbt_internal_test"
        );
    }
}
