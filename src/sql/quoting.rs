//! Identifier quoting per dialect: the one piece of dialect text that rendering needs (for `ref`).

use super::Dialect;

impl Dialect {
    /// Quotes an identifier: `"name"` (SQLite, PostgreSQL) or `` `name` `` (MySQL).
    pub fn quote(self, ident: &str) -> String {
        match self {
            Dialect::MySql => format!("`{}`", ident.replace('`', "``")),
            _ => format!("\"{}\"", ident.replace('"', "\"\"")),
        }
    }

    /// Whether relation names include the database (`db.schema.table`), as dbt-postgres renders them.
    pub fn uses_database_in_names(self) -> bool {
        matches!(self, Dialect::Postgres)
    }

    /// The adapter type name: `sqlite`, `postgres` or `mysql`.
    pub fn adapter_type(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_per_dialect() {
        assert_eq!(Dialect::Sqlite.quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(Dialect::MySql.quote("a`b"), "`a``b`");
    }
}
