//! Column checks before the database: each column reference of a query resolved against the
//! relations in scope (its FROM clause, then the enclosing queries' for correlated references).
//!
//! A false error is worse than none, so a reference is reported only when every relation it
//! could come from has known and certain columns (`RelInfo::checkable`); a relation whose
//! columns are unknown, a FROM item the analysis does not follow, an output alias of the same
//! SELECT, or a name the databases read as something other than a column keeps it silent.

use super::Dialect;
use super::lineage::{Scope, SharedColumns};
use sqlparser::ast::Ident;

/// The columns of an upstream relation, as the caller knows them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Known {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// The names are exactly those of the relation in the database (a seed's header, a
    /// model's analysed output, an enforced contract, a source whose YAML types every column),
    /// so a reference to another name is an error. Inexact columns still resolve `select *`.
    pub exact: bool,
}

impl Known {
    /// Columns known for certain.
    pub fn exact(columns: Vec<String>) -> Known {
        Known {
            columns,
            exact: true,
        }
    }

    /// Columns that may be incomplete (documented in YAML, say).
    pub fn partial(columns: Vec<String>) -> Known {
        Known {
            columns,
            exact: false,
        }
    }
}

/// An unknown or ambiguous column reference, at its 1-based position in the analysed SQL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ColumnProblem {
    pub line: usize,
    pub col: usize,
    /// What is wrong: `unknown column "amout"`.
    pub message: String,
    /// What to do: the closest column in scope, or how to qualify.
    pub hint: String,
}

/// One SELECT's FROM scope, as seen from the expressions of that SELECT or its subqueries.
#[derive(Clone, Copy)]
pub(super) struct Level<'s> {
    pub rels: &'s Scope,
    /// Every FROM item was understood (nested joins are not followed).
    pub complete: bool,
    /// Output aliases of the SELECT, which some clauses and databases accept by name.
    pub aliases: &'s [String],
    /// Columns joined by name (`using`, natural joins): not ambiguous.
    pub shared: &'s SharedColumns,
}

/// Names the databases read as values or system columns, and the date parts some functions take
/// as bare words (MySQL's `timestampdiff(day, a, b)`): never reported.
const NOT_COLUMNS: &[&str] = &[
    "_rowid_",
    "century",
    "cmax",
    "cmin",
    "ctid",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "day",
    "day_hour",
    "day_microsecond",
    "day_minute",
    "day_second",
    "decade",
    "default",
    "dow",
    "doy",
    "epoch",
    "false",
    "hour",
    "hour_microsecond",
    "hour_minute",
    "hour_second",
    "isodow",
    "isoyear",
    "localtime",
    "localtimestamp",
    "microsecond",
    "microseconds",
    "millennium",
    "millisecond",
    "milliseconds",
    "minute",
    "minute_microsecond",
    "minute_second",
    "month",
    "null",
    "oid",
    "quarter",
    "rowid",
    "second",
    "second_microsecond",
    "session_user",
    "tableoid",
    "timezone",
    "timezone_hour",
    "timezone_minute",
    "true",
    "user",
    "week",
    "xmax",
    "xmin",
    "year",
    "year_month",
];

/// Checks one column reference (`qualifier.column` or `column`) against the scopes around it,
/// innermost last.
pub(super) fn check(
    chain: &[Level<'_>],
    qualifier: Option<&str>,
    column: &Ident,
    dialect: Dialect,
) -> Option<ColumnProblem> {
    let name = column.value.as_str();
    // SQLite and MySQL read an unmatched double-quoted name as a string.
    if column.quote_style == Some('"') && dialect != Dialect::Postgres {
        return None;
    }
    if name.starts_with(['@', '$', ':', '?', '#']) {
        return None;
    }
    match qualifier {
        Some(q) => check_qualified(chain, q, column),
        None => check_unqualified(chain, column),
    }
}

fn check_qualified(chain: &[Level<'_>], qualifier: &str, column: &Ident) -> Option<ColumnProblem> {
    let (_, rel) = chain
        .iter()
        .rev()
        .find_map(|level| level.rels.iter().find(|(k, _)| k == qualifier))?;
    let columns = rel.checkable()?;
    if has(columns, &column.value) {
        return None;
    }
    let hint = match crate::error::closest(&column.value, columns) {
        Some(c) => format!("did you mean `{qualifier}.{c}`?"),
        None => format!("{qualifier} has {}", listing(columns)),
    };
    Some(problem(
        column,
        format!("unknown column `{qualifier}.{}`", column.value),
        hint,
    ))
}

fn check_unqualified(chain: &[Level<'_>], column: &Ident) -> Option<ColumnProblem> {
    let name = column.value.as_str();
    let lower = name.to_lowercase();
    if NOT_COLUMNS.contains(&lower.as_str()) {
        return None;
    }
    if let Some(innermost) = chain.last()
        && innermost
            .aliases
            .iter()
            .any(|a| a.eq_ignore_ascii_case(name))
    {
        return None;
    }
    for level in chain.iter().rev() {
        let having: Vec<&str> = level
            .rels
            .iter()
            .filter(|(_, r)| r.checkable().is_some_and(|c| has(c, name)))
            .map(|(k, _)| k.as_str())
            .collect();
        if having.len() > 1 && !level.shared.contains(name) {
            return Some(problem(
                column,
                format!("ambiguous column `{name}`"),
                format!(
                    "{} each have it; qualify it, as in `{}.{name}`",
                    having.join(" and "),
                    having[0]
                ),
            ));
        }
        if !having.is_empty() {
            return None;
        }
        // A whole-row reference (PostgreSQL's `select t from t`), or a relation whose columns
        // are not known: the name may be there.
        let unsure = !level.complete
            || level
                .rels
                .iter()
                .any(|(k, r)| r.checkable().is_none() || k.eq_ignore_ascii_case(name));
        if unsure {
            return None;
        }
    }
    let innermost = chain.last()?;
    let in_scope: Vec<&String> = chain
        .iter()
        .rev()
        .flat_map(|l| {
            l.rels
                .iter()
                .flat_map(|(_, r)| r.checkable().unwrap_or(&[]))
        })
        .collect();
    let from: Vec<String> = innermost
        .rels
        .iter()
        .map(|(k, r)| format!("{k} ({})", listing(r.checkable().unwrap_or(&[]))))
        .collect();
    let hint = match (
        crate::error::closest(name, in_scope.iter().copied()),
        from.is_empty(),
    ) {
        (Some(c), _) => format!("did you mean `{c}`?"),
        (None, true) => "the query reads no relation".to_string(),
        (None, false) => format!("the query reads {}", from.join(", ")),
    };
    Some(problem(column, format!("unknown column `{name}`"), hint))
}

fn has(columns: &[String], name: &str) -> bool {
    columns.iter().any(|c| c.eq_ignore_ascii_case(name))
}

/// Up to ten column names for a hint.
fn listing(columns: &[String]) -> String {
    let mut out = columns
        .iter()
        .take(10)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if columns.len() > 10 {
        out.push_str(&format!(", … ({} columns)", columns.len()));
    }
    if out.is_empty() {
        out = "no columns".to_string();
    }
    out
}

fn problem(at: &Ident, message: String, hint: String) -> ColumnProblem {
    ColumnProblem {
        line: at.span.start.line as usize,
        col: at.span.start.column as usize,
        message,
        hint,
    }
}
