//! Model contracts, the pure half: what a model with `contract: {enforced: true}` promises, the
//! comparison of its result's columns with that promise, and the DDL that makes the database
//! hold its constraints.
//!
//! The executor ([`crate::exec`]) builds the model's rows aside, reads the columns the database
//! gives them, and calls [`check`]; only when they agree does the new table take the old one's
//! place. Types are compared by family (`int` and `integer`, `varchar(20)` and `text`, `bool`
//! and MySQL's `tinyint`), so that the same contract holds on every database Kiln supports;
//! widths and precisions are not compared.

use crate::error::{Diagnostic, ErrorKind, Location};
use crate::project::{Column, Constraint, Node};
use crate::sql::Dialect;

/// Whether the node's contract is enforced.
pub fn enforced(node: &Node) -> bool {
    node.config
        .get("contract")
        .and_then(|c| c.get("enforced"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// Problems of a contract that are known before anything runs: a column without a
/// `data_type` is an error, and a constraint the database or the materialization will not
/// enforce is a warning.
pub fn validate(
    node: &Node,
    materialized: &str,
    dialect: Dialect,
) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
    let file = node
        .patch_path
        .as_deref()
        .unwrap_or(&node.original_file_path);
    validate_parts(
        &node.name,
        file,
        &node.columns,
        &node.constraints,
        materialized,
        dialect,
    )
}

fn validate_parts(
    name: &str,
    file: &str,
    columns: &[Column],
    constraints: &[Constraint],
    materialized: &str,
    dialect: Dialect,
) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
    let at = || Location::file(file.to_string());
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    if columns.is_empty() {
        errors.push(
            Diagnostic::new(
                ErrorKind::Yaml,
                format!("model `{}` enforces a contract but lists no columns", name),
            )
            .at(at())
            .with_hint(
                "list each column the model returns, with its `data_type`, under `columns:`",
            ),
        );
    }
    let untyped: Vec<&str> = columns
        .iter()
        .filter(|c| c.data_type.as_deref().is_none_or(|t| t.trim().is_empty()))
        .map(|c| c.name.as_str())
        .collect();
    if !untyped.is_empty() {
        errors.push(
            Diagnostic::new(
                ErrorKind::Yaml,
                format!(
                    "model `{}` enforces a contract, but {} no `data_type`: {}",
                    name,
                    if untyped.len() == 1 {
                        "this column has"
                    } else {
                        "these columns have"
                    },
                    untyped.join(", ")
                ),
            )
            .at(at())
            .with_hint("give every column of a contracted model a `data_type`"),
        );
    }
    let all = columns
        .iter()
        .flat_map(|c| c.constraints.iter())
        .chain(constraints);
    for c in all {
        let note = match (materialized, c.kind.as_str(), dialect) {
            (m, _, _) if m != "table" && m != "incremental" => Some((
                c.warn_unsupported,
                "warn_unsupported",
                format!("is not applied: a {m} has no constraints"),
            )),
            (_, "foreign_key", Dialect::MySql) => Some((
                c.warn_unsupported,
                "warn_unsupported",
                "is not created on MySQL, whose foreign keys hold on to the parent table itself, so rebuilding the parent would fail".to_string(),
            )),
            (_, "foreign_key", Dialect::Sqlite) => Some((
                c.warn_unenforced,
                "warn_unenforced",
                "is not enforced: SQLite checks foreign keys only with `PRAGMA foreign_keys`".to_string(),
            )),
            _ => None,
        };
        if let Some((true, flag, why)) = note {
            warnings.push(
                Diagnostic::new(
                    ErrorKind::Yaml,
                    format!("the `{}` constraint of model `{name}` {why}", c.kind),
                )
                .at(at())
                .with_hint(format!(
                    "set `{flag}: false` on the constraint to silence this"
                )),
            );
        }
    }
    (errors, warnings)
}

/// A column that differs from the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The column's name.
    pub column: String,
    /// Its type in the model's result, if it is there.
    pub definition_type: Option<String>,
    /// Its type in the contract, if it is there.
    pub contract_type: Option<String>,
    /// What differs.
    pub reason: &'static str,
}

/// Compares the model's result columns (name, type as the database reports it) with the
/// contract. An empty type (SQLite's expressions without one) matches any.
pub fn check(contract: &[Column], actual: &[(String, String)], dialect: Dialect) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for c in contract {
        let declared = c.data_type.clone().unwrap_or_default();
        match actual.iter().find(|(n, _)| n.eq_ignore_ascii_case(&c.name)) {
            None => out.push(Mismatch {
                column: c.name.clone(),
                definition_type: None,
                contract_type: Some(declared),
                reason: "missing in definition",
            }),
            Some((_, t))
                if !t.trim().is_empty() && family(t, dialect) != family(&declared, dialect) =>
            {
                out.push(Mismatch {
                    column: c.name.clone(),
                    definition_type: Some(t.clone()),
                    contract_type: Some(declared),
                    reason: "data type mismatch",
                })
            }
            Some(_) => {}
        }
    }
    for (n, t) in actual {
        if !contract.iter().any(|c| c.name.eq_ignore_ascii_case(n)) {
            out.push(Mismatch {
                column: n.clone(),
                definition_type: Some(t.clone()),
                contract_type: None,
                reason: "missing in contract",
            });
        }
    }
    out
}

/// The failure message for mismatches, as a table of each column and what differs.
pub fn report(model: &str, mismatches: &[Mismatch]) -> String {
    let mut b = tabled::builder::Builder::default();
    b.push_record([
        "column_name",
        "definition_type",
        "contract_type",
        "mismatch_reason",
    ]);
    for m in mismatches {
        b.push_record([
            m.column.clone(),
            m.definition_type.clone().unwrap_or_default(),
            m.contract_type.clone().unwrap_or_default(),
            m.reason.to_string(),
        ]);
    }
    let mut table = b.build();
    table.with(tabled::settings::Style::markdown());
    format!(
        "model `{model}` has an enforced contract that failed: its columns differ from the YAML; the old relation is left in place\n{table}"
    )
}

/// A type's family: the spelling the comparison uses.
fn family(t: &str, dialect: Dialect) -> String {
    let lower = t.trim().to_ascii_lowercase();
    let base = lower.split('(').next().unwrap_or("").trim();
    let base = base.strip_suffix(" unsigned").unwrap_or(base).trim();
    if dialect == Dialect::Sqlite {
        // SQLite's type affinity (its rules, in order).
        return if base.contains("int") {
            "integer"
        } else if ["char", "clob", "text", "string"]
            .iter()
            .any(|k| base.contains(k))
        {
            "text"
        } else if base.is_empty() || base.contains("blob") {
            "blob"
        } else if ["real", "floa", "doub"].iter().any(|k| base.contains(k)) {
            "real"
        } else {
            "numeric"
        }
        .to_string();
    }
    let bool_is_tinyint = dialect == Dialect::MySql && lower.starts_with("tinyint(1)");
    match base {
        _ if bool_is_tinyint => "boolean",
        // MySQL widens integer arithmetic to bigint: there, one family holds every width.
        "int" | "integer" | "int4" | "mediumint" | "signed" | "bigint" | "int8" | "smallint"
        | "int2" | "tinyint"
            if dialect == Dialect::MySql =>
        {
            "integer"
        }
        "int" | "integer" | "int4" | "mediumint" | "signed" => "integer",
        "bigint" | "int8" => "bigint",
        "smallint" | "int2" => "smallint",
        "tinyint" => "tinyint",
        "varchar" | "character varying" | "char varying" | "nvarchar" | "text" | "string"
        | "char" | "character" | "bpchar" | "tinytext" | "mediumtext" | "longtext" => "text",
        "float" | "float8" | "double" | "double precision" => "double",
        "real" | "float4" => match dialect {
            Dialect::MySql => "double",
            _ => "real",
        },
        "numeric" | "decimal" | "dec" => "numeric",
        "timestamp" | "timestamp without time zone" | "datetime" => "timestamp",
        "timestamptz" | "timestamp with time zone" => "timestamptz",
        "boolean" | "bool" => "boolean",
        other => other,
    }
    .to_string()
}

/// `create table` for a contracted model: its columns in contract order with their types and
/// constraints. `resolve` turns a foreign key's `to:` (`ref('x')`) into a relation name.
pub fn create_table(
    table: &str,
    contract: &[Column],
    model_constraints: &[Constraint],
    dialect: Dialect,
    resolve: &dyn Fn(&str) -> Option<String>,
) -> String {
    let mut items: Vec<String> = Vec::new();
    let mut table_level: Vec<String> = Vec::new();
    for c in contract {
        let mut data_type = c.data_type.as_deref().unwrap_or("text");
        let primary = c.constraints.iter().any(|k| k.kind == "primary_key");
        if dialect == Dialect::Sqlite && primary && data_type.eq_ignore_ascii_case("integer") {
            // SQLite's `integer primary key` is the rowid, which turns a null into a new key;
            // `int` has the same affinity and keeps the key a plain, not-null column.
            data_type = "int";
        }
        let mut def = format!("{} {data_type}", dialect.quote(&c.name));
        for k in &c.constraints {
            let name = constraint_name(k, dialect);
            match k.kind.as_str() {
                "not_null" => def.push_str(" not null"),
                "unique" => def.push_str(&format!(" {name}unique")),
                "primary_key" => def.push_str(&format!(" {name}primary key")),
                "check" => def.push_str(&format!(
                    " {name}check ({})",
                    k.expression.as_deref().unwrap_or("true")
                )),
                "custom" => def.push_str(&format!(" {}", k.expression.as_deref().unwrap_or(""))),
                "foreign_key" if dialect == Dialect::MySql => {}
                "foreign_key" => table_level.push(format!(
                    "{name}foreign key ({}) references {}",
                    dialect.quote(&c.name),
                    parent(k, dialect, resolve)
                )),
                _ => {}
            }
        }
        items.push(def);
    }
    for k in model_constraints {
        let name = constraint_name(k, dialect);
        let columns = k
            .columns
            .iter()
            .map(|c| dialect.quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        match k.kind.as_str() {
            "primary_key" => table_level.push(format!("{name}primary key ({columns})")),
            "unique" => table_level.push(format!("{name}unique ({columns})")),
            "check" => table_level.push(format!(
                "{name}check ({})",
                k.expression.as_deref().unwrap_or("true")
            )),
            "foreign_key" if dialect == Dialect::MySql => {}
            "foreign_key" => table_level.push(format!(
                "{name}foreign key ({columns}) references {}",
                parent(k, dialect, resolve)
            )),
            "custom" => table_level.push(k.expression.clone().unwrap_or_default()),
            _ => {}
        }
    }
    items.extend(table_level);
    format!("create table {table} (\n    {}\n)", items.join(",\n    "))
}

/// `constraint "name" ` before a named constraint, nothing otherwise.
fn constraint_name(k: &Constraint, dialect: Dialect) -> String {
    k.name
        .as_deref()
        .map(|n| format!("constraint {} ", dialect.quote(n)))
        .unwrap_or_default()
}

/// A foreign key's parent: `to:` with `to_columns`, or dbt's `expression: "parent (id)"`.
fn parent(k: &Constraint, dialect: Dialect, resolve: &dyn Fn(&str) -> Option<String>) -> String {
    match k.to.as_deref().and_then(resolve) {
        Some(rel) => {
            let cols: Vec<String> = k.to_columns.iter().map(|c| dialect.quote(c)).collect();
            format!("{rel} ({})", cols.join(", "))
        }
        None => k.expression.clone().unwrap_or_default(),
    }
}

/// `insert` of the model's rows into the contracted table, column by column in contract order.
pub fn insert_rows(table: &str, contract: &[Column], sql: &str, dialect: Dialect) -> String {
    let cols: Vec<String> = contract.iter().map(|c| dialect.quote(&c.name)).collect();
    let cols = cols.join(", ");
    format!("insert into {table} ({cols})\nselect {cols} from (\n{sql}\n) as kiln_contract")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, t: &str) -> Column {
        Column {
            name: name.into(),
            data_type: Some(t.into()),
            ..Column::default()
        }
    }

    #[test]
    fn types_of_one_family_agree_and_others_are_named() {
        let contract = [
            col("id", "integer"),
            col("name", "varchar(20)"),
            col("gone", "text"),
        ];
        let actual = [
            ("id".to_string(), "int4".to_string()),
            ("name".to_string(), "text".to_string()),
            ("extra".to_string(), "bigint".to_string()),
        ];
        let m = check(&contract, &actual, Dialect::Postgres);
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[0].column, "gone");
        assert_eq!(m[0].reason, "missing in definition");
        assert_eq!(m[1].column, "extra");
        assert_eq!(m[1].reason, "missing in contract");
        let wrong = check(
            &[col("id", "integer")],
            &[("id".into(), "text".into())],
            Dialect::Postgres,
        );
        assert_eq!(wrong[0].reason, "data type mismatch");
        let r = report("orders", &wrong);
        assert!(
            r.contains("| id ") && r.contains("data type mismatch"),
            "{r}"
        );
        // SQLite compares affinities; an expression without a type matches any.
        assert!(
            check(
                &[col("n", "bigint")],
                &[("n".into(), "INT".into())],
                Dialect::Sqlite
            )
            .is_empty()
        );
        assert!(
            check(
                &[col("n", "date")],
                &[("n".into(), "".into())],
                Dialect::Sqlite
            )
            .is_empty()
        );
        assert!(
            check(
                &[col("b", "boolean")],
                &[("b".into(), "tinyint(1)".into())],
                Dialect::MySql
            )
            .is_empty()
        );
    }

    #[test]
    fn constraints_become_ddl() {
        let mut id = col("id", "integer");
        id.constraints = vec![
            Constraint {
                kind: "not_null".into(),
                ..Default::default()
            },
            Constraint {
                kind: "primary_key".into(),
                ..Default::default()
            },
        ];
        let mut amount = col("amount", "numeric");
        amount.constraints = vec![Constraint {
            kind: "check".into(),
            expression: Some("amount >= 0".into()),
            ..Default::default()
        }];
        let mut customer = col("customer_id", "integer");
        customer.constraints = vec![Constraint {
            kind: "foreign_key".into(),
            to: Some("ref('customers')".into()),
            to_columns: vec!["id".into()],
            ..Default::default()
        }];
        let resolve =
            |to: &str| (to == "ref('customers')").then(|| "\"s\".\"customers\"".to_string());
        let ddl = create_table(
            "\"s\".\"t\"",
            &[id, amount, customer],
            &[],
            Dialect::Postgres,
            &resolve,
        );
        assert_eq!(
            ddl,
            "create table \"s\".\"t\" (\n    \"id\" integer not null primary key,\n    \"amount\" numeric check (amount >= 0),\n    \"customer_id\" integer,\n    foreign key (\"customer_id\") references \"s\".\"customers\" (\"id\")\n)"
        );
        let insert = insert_rows(
            "t",
            &[col("b", "int"), col("a", "int")],
            "select 1 as a, 2 as b",
            Dialect::Postgres,
        );
        assert!(
            insert.starts_with("insert into t (\"b\", \"a\")\nselect \"b\", \"a\" from ("),
            "{insert}"
        );
    }

    #[test]
    fn untyped_columns_and_unenforced_constraints_are_reported() {
        let mut columns = vec![
            col("id", "integer"),
            Column {
                name: "x".into(),
                ..Column::default()
            },
        ];
        columns[0].constraints = vec![Constraint {
            kind: "foreign_key".into(),
            expression: Some("p (id)".into()),
            warn_unenforced: true,
            warn_unsupported: true,
            ..Default::default()
        }];
        let (errors, warnings) =
            validate_parts("m", "models/m.yml", &columns, &[], "table", Dialect::Sqlite);
        assert!(
            errors[0]
                .message
                .contains("this column has no `data_type`: x"),
            "{errors:?}"
        );
        assert!(
            warnings[0].message.contains("PRAGMA foreign_keys"),
            "{warnings:?}"
        );
        let (_, on_view) = validate_parts(
            "m",
            "models/m.yml",
            &columns,
            &[],
            "view",
            Dialect::Postgres,
        );
        assert!(
            on_view[0].message.contains("a view has no constraints"),
            "{on_view:?}"
        );
        let (_, on_mysql) =
            validate_parts("m", "models/m.yml", &columns, &[], "table", Dialect::MySql);
        assert!(
            on_mysql[0].message.contains("not created on MySQL"),
            "{on_mysql:?}"
        );
    }
}
