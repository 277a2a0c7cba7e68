//! SQL analysis (sqlparser): syntax check in the target's dialect before any database work,
//! output columns (resolving `select *` through CTEs, subqueries and upstream models), column
//! lineage, the relations a query reads, and dbt's ephemeral CTE injection.

mod columns;
mod lineage;
mod quoting;

pub use columns::{ColumnProblem, Known};

use serde::{Deserialize, Serialize};
use sqlparser::ast::{Ident, ObjectName, ObjectNamePart, Query, Statement, Visit, Visitor};
use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::{Parser, ParserError};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

/// SQL dialect of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    MySql,
}

impl Dialect {
    /// The dialect for a profile `type:` (`sqlite`, `postgres`, `mysql`).
    pub fn from_adapter(adapter_type: &str) -> Option<Dialect> {
        match adapter_type {
            "sqlite" => Some(Dialect::Sqlite),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::MySql),
            _ => None,
        }
    }
}

/// How an output column is computed from an upstream column, weakest first: when a column
/// passes through several steps (CTEs, subqueries), the strongest step names the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineageKind {
    /// The same column under the same name.
    Passthrough,
    /// The same column under another name.
    Rename,
    /// Computed by an expression (functions, arithmetic, `case`, casts).
    Expression,
    /// Computed by an aggregate or window function.
    Aggregate,
}

impl LineageKind {
    /// The name shown on lineage edges: `passthrough`, `rename`, `expression`, `aggregate`.
    pub fn as_str(self) -> &'static str {
        match self {
            LineageKind::Passthrough => "passthrough",
            LineageKind::Rename => "rename",
            LineageKind::Expression => "expression",
            LineageKind::Aggregate => "aggregate",
        }
    }
}

/// An upstream column an output column is computed from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ColumnSource {
    /// Normalised relation name (`main.stg_orders`).
    pub relation: String,
    /// Column name in that relation.
    pub column: String,
    /// The kind of step from that column to the output column.
    pub kind: LineageKind,
}

impl ColumnSource {
    /// The source seen through one more step of kind `step`.
    fn through(mut self, step: LineageKind) -> ColumnSource {
        self.kind = self.kind.max(step);
        self
    }
}

/// What analysis learned about one compiled query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Output column names, in order; None when they cannot be known.
    pub columns: Option<Vec<String>>,
    /// Output column → the upstream columns it is computed from (shared: the compile cache
    /// and the node hold the same map).
    pub lineage: Arc<BTreeMap<String, Vec<ColumnSource>>>,
    /// Relations the query reads (not CTEs), normalised and sorted.
    pub relations: Vec<String>,
    /// The output column names are certain (no unaliased expression, no `*` over a relation
    /// whose columns are uncertain), so a downstream reference can be checked against them.
    pub exact: bool,
    /// Column references that match no column in scope, or more than one; sorted by position.
    pub problems: Vec<ColumnProblem>,
}

/// A syntax error with its 1-based position in the analysed SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    /// What is wrong, without the position suffix.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

fn parse(sql: &str, dialect: Dialect) -> Result<Vec<Statement>, ParserError> {
    match dialect {
        Dialect::Sqlite => Parser::parse_sql(&SQLiteDialect {}, sql),
        Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, sql),
        Dialect::MySql => Parser::parse_sql(&MySqlDialect {}, sql),
    }
}

/// Splits sqlparser's "... at Line: 3, Column: 7" into a message and a position.
fn sql_error(e: ParserError) -> SqlError {
    let text = match e {
        ParserError::ParserError(s) | ParserError::TokenizerError(s) => s,
        ParserError::RecursionLimitExceeded => "the query is nested too deeply".to_string(),
    };
    let (message, line, col) = match text.rfind(" at Line: ") {
        Some(i) => {
            let pos = &text[i + " at Line: ".len()..];
            let mut parts = pos.split(", Column: ");
            let line = parts
                .next()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(1);
            let col = parts
                .next()
                .and_then(|c| {
                    c.trim()
                        .trim_end_matches(|ch: char| !ch.is_ascii_digit())
                        .parse()
                        .ok()
                })
                .unwrap_or(1);
            (text[..i].to_string(), line, col)
        }
        None => (text, 0, 0),
    };
    let message = message
        .replace("Expected: ", "expected ")
        .replace(", found: ", ", found ");
    SqlError { message, line, col }
}

/// Normalises an object name: unquoted parts lower-cased, parts joined with `.`.
fn normalize_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => normalize_ident(i),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn normalize_ident(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn parse_located(sql: &str, dialect: Dialect) -> Result<Vec<Statement>, SqlError> {
    parse(sql, dialect).map_err(|e| {
        let mut e = sql_error(e);
        // sqlparser reports "end of input" errors at line 0.
        if e.line == 0 {
            e.line = sql.trim_end().lines().count().max(1);
            e.col = sql
                .trim_end()
                .lines()
                .last()
                .map(|l| l.chars().count() + 1)
                .unwrap_or(1);
        }
        e
    })
}

/// Parses `sql` in `dialect`, infers output columns, lineage and relations, and checks every
/// column reference. `resolve` maps a normalised relation name to its known columns.
pub fn analyse(
    sql: &str,
    dialect: Dialect,
    resolve: &dyn Fn(&str) -> Option<Known>,
) -> Result<Analysis, SqlError> {
    let statements = parse_located(sql, dialect)?;
    let mut analysis = Analysis::default();
    let mut relations = BTreeSet::new();
    let mut cte_names = BTreeSet::new();
    for s in &statements {
        let _ = s.visit(&mut CteNames(&mut cte_names));
        let _ = sqlparser::ast::visit_relations(s, |r| {
            relations.insert(normalize_name(r));
            ControlFlow::<()>::Continue(())
        });
    }
    analysis.relations = relations
        .into_iter()
        .filter(|r| !cte_names.contains(r))
        .collect();
    if let [Statement::Query(q)] = statements.as_slice() {
        let ctx = lineage::Ctx::new(resolve, dialect);
        let info = ctx.query(q, &HashMap::new(), &[]);
        let mut problems = ctx.problems.into_inner();
        problems.sort();
        problems.dedup();
        analysis.problems = problems;
        analysis.exact = info.exact && info.columns.is_some();
        if let Some(cols) = &info.columns {
            let mut lineage = BTreeMap::new();
            for (i, c) in cols.iter().enumerate() {
                let mut l = info.lineage.get(i).cloned().unwrap_or_default();
                // Pure references are a passthrough or a rename depending on the final name.
                for s in &mut l {
                    if s.kind <= LineageKind::Rename {
                        s.kind = if s.column.eq_ignore_ascii_case(c) {
                            LineageKind::Passthrough
                        } else {
                            LineageKind::Rename
                        };
                    }
                }
                if !l.is_empty() {
                    lineage.insert(c.clone(), l);
                }
            }
            analysis.lineage = Arc::new(lineage);
        }
        analysis.columns = info.columns;
    }
    Ok(analysis)
}

struct CteNames<'a>(&'a mut BTreeSet<String>);

impl Visitor for CteNames<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.0.insert(normalize_ident(&cte.alias.name));
            }
        }
        ControlFlow::Continue(())
    }
}

/// Strips `{{ }}`, `{% %}` and `{# #}` from a template line and normalises whitespace.
fn strip_jinja(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find(['{']) {
        let after = &rest[start..];
        let close = if after.starts_with("{{") {
            Some("}}")
        } else if after.starts_with("{%") {
            Some("%}")
        } else if after.starts_with("{#") {
            Some("#}")
        } else {
            None
        };
        out.push_str(&rest[..start]);
        match close.and_then(|c| after.find(c).map(|e| e + c.len())) {
            Some(end) => {
                out.push(' ');
                rest = &after[end..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Best-effort mapping of a line in rendered SQL to the template line it came from.
pub fn map_line_to_template(rendered: &str, template: &str, rendered_line: usize) -> usize {
    let t_lines: Vec<&str> = template.lines().collect();
    let r_lines: Vec<&str> = rendered.lines().collect();
    let max = t_lines.len().max(1);
    if t_lines.len() == r_lines.len() {
        return rendered_line.clamp(1, max);
    }
    let Some(target) = r_lines.get(rendered_line.saturating_sub(1)) else {
        return max;
    };
    let target = target
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if target.is_empty() {
        return rendered_line.clamp(1, max);
    }
    let expected = rendered_line as f64 / r_lines.len().max(1) as f64;
    let mut best = (f64::MIN, rendered_line.clamp(1, max));
    for (i, line) in t_lines.iter().enumerate() {
        let stripped = strip_jinja(line);
        if stripped.is_empty() {
            continue;
        }
        let sim = strsim::normalized_levenshtein(&stripped, &target);
        let pos = (i + 1) as f64 / max as f64;
        let score = sim - 0.2 * (pos - expected).abs();
        if score > best.0 {
            best = (score, i + 1);
        }
    }
    best.1
}

/// Where a database's error position falls in a node's compiled SQL. `position` is the
/// 1-based character position in `statement` the database reported (PostgreSQL's), and
/// `statement` embeds `compiled` (a view or table is created *as* the compiled query). Returns the
/// 1-based (line, column) in `compiled`, or None when the position is outside it.
pub fn position_in_compiled(
    statement: &str,
    compiled: &str,
    position: usize,
) -> Option<(usize, usize)> {
    let byte = statement
        .char_indices()
        .nth(position.checked_sub(1)?)
        .map(|(i, _)| i)?;
    let trimmed = compiled.trim();
    let lead = compiled.len() - compiled.trim_start().len();
    let start = statement.find(trimmed)?;
    if byte < start || byte >= start + trimmed.len() {
        return None;
    }
    Some(crate::error::line_col(compiled, byte - start + lead))
}

/// Best-effort mapping of a (line, column) in rendered SQL to the template's (line, column):
/// the line by [`map_line_to_template`], the column where the word at the position appears on
/// that template line (0 when it does not).
pub fn map_position_to_template(
    rendered: &str,
    template: &str,
    line: usize,
    col: usize,
) -> (usize, usize) {
    let t_line = map_line_to_template(rendered, template, line);
    let Some(r_text) = rendered.lines().nth(line.saturating_sub(1)) else {
        return (t_line, 0);
    };
    let chars: Vec<char> = r_text.chars().collect();
    let at = col.saturating_sub(1).min(chars.len());
    let is_word = |c: &char| c.is_alphanumeric() || *c == '_' || *c == '"' || *c == '.';
    let begin = chars[..at]
        .iter()
        .rposition(|c| !is_word(c))
        .map(|i| i + 1)
        .unwrap_or(0);
    let end = chars[at..]
        .iter()
        .position(|c| !is_word(c))
        .map(|i| at + i)
        .unwrap_or(chars.len());
    let word: String = chars[begin..end].iter().collect();
    let Some(t_text) = template.lines().nth(t_line.saturating_sub(1)) else {
        return (t_line, 0);
    };
    if word.is_empty() {
        return (t_line, 0);
    }
    // The same word, and the same offset into it as in the rendered line.
    let into = at - begin;
    match t_text.to_lowercase().find(&word.to_lowercase()) {
        Some(b) => (t_line, t_text[..b].chars().count() + into + 1),
        None => (t_line, 0),
    }
}

/// Byte offset just past leading whitespace and comments.
fn skip_leading_comments(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if sql[i..].starts_with("--") {
            i = sql[i..]
                .find('\n')
                .map(|p| i + p + 1)
                .unwrap_or(bytes.len());
        } else if sql[i..].starts_with("/*") {
            i = sql[i..]
                .find("*/")
                .map(|p| i + p + 2)
                .unwrap_or(bytes.len());
        } else {
            return i;
        }
    }
}

fn keyword_at(sql: &str, at: usize, word: &str) -> bool {
    let rest = &sql[at..];
    rest.len() >= word.len()
        && rest[..word.len()].eq_ignore_ascii_case(word)
        && rest[word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
}

/// Inlines ephemeral models as CTEs the way dbt does; when `sql` already starts with `WITH`
/// (optionally `RECURSIVE`), the CTEs go right after it so the query stays valid.
pub fn inject_ctes(sql: &str, ctes: &[(String, String)]) -> String {
    if ctes.is_empty() {
        return sql.to_string();
    }
    let defs: Vec<String> = ctes
        .iter()
        .map(|(name, body)| format!("{name} as (\n{}\n)", body.trim().trim_end_matches(';')))
        .collect();
    let start = skip_leading_comments(sql);
    if keyword_at(sql, start, "with") {
        let mut after = start + 4;
        let ws = sql[after..].len() - sql[after..].trim_start().len();
        if keyword_at(sql, after + ws, "recursive") {
            after = after + ws + "recursive".len();
        }
        format!(
            "{} {}, {}",
            &sql[..after],
            defs.join(", "),
            sql[after..].trim_start()
        )
    } else {
        format!(
            "{}with {}\n{}",
            &sql[..start],
            defs.join(", "),
            &sql[start..]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<Known> {
        None
    }

    fn cols(sql: &str, d: Dialect, resolve: &dyn Fn(&str) -> Option<Known>) -> Option<Vec<String>> {
        analyse(sql, d, resolve).unwrap().columns
    }

    fn known(cols: &[&str]) -> Option<Known> {
        Some(Known::exact(cols.iter().map(|c| c.to_string()).collect()))
    }

    #[test]
    fn output_columns_in_every_dialect() {
        for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            assert_eq!(
                cols(
                    "select a, t.b as c, count(*) as n, lower(x) from t group by 1;",
                    d,
                    &none
                ),
                Some(vec!["a".into(), "c".into(), "n".into(), "lower".into()])
            );
        }
    }

    #[test]
    fn star_resolves_through_ctes_subqueries_and_upstream() {
        let resolve = |name: &str| match name {
            "main.orders" => known(&["id", "amount"]),
            _ => None,
        };
        let sql = r#"with o as (select * from "main"."orders"), s as (select id, amount * 2 as double from o)
            select s.*, x.flag from s join (select 1 as flag) x on true"#;
        assert_eq!(
            cols(sql, Dialect::Sqlite, &resolve),
            Some(vec!["id".into(), "double".into(), "flag".into()])
        );
        assert_eq!(
            cols("select * from unknown_table", Dialect::Sqlite, &resolve),
            None
        );
        let mysql = "select * from `main`.`orders`";
        assert_eq!(
            cols(mysql, Dialect::MySql, &resolve),
            Some(vec!["id".into(), "amount".into()])
        );
    }

    fn src(r: &str, c: &str, kind: LineageKind) -> ColumnSource {
        ColumnSource {
            relation: r.into(),
            column: c.into(),
            kind,
        }
    }

    /// Lineage of `sql` over two upstream relations with known columns.
    fn lineage_of(sql: &str) -> BTreeMap<String, Vec<ColumnSource>> {
        let resolve = |name: &str| match name {
            "orders" => known(&["id", "a", "customer_id", "ordered_at"]),
            "customers" => known(&["id", "name", "b"]),
            _ => None,
        };
        let lineage = analyse(sql, Dialect::Postgres, &resolve).unwrap().lineage;
        Arc::unwrap_or_clone(lineage)
    }

    use LineageKind::{Aggregate, Expression, Passthrough, Rename};

    #[test]
    fn lineage_traces_to_base_relations() {
        let l = lineage_of(
            "select o.id, c.name as customer, o.a + c.b as total from orders o join customers c on o.customer_id = c.id",
        );
        assert_eq!(l["id"], vec![src("orders", "id", Passthrough)]);
        assert_eq!(l["customer"], vec![src("customers", "name", Rename)]);
        assert_eq!(
            l["total"],
            vec![
                src("orders", "a", Expression),
                src("customers", "b", Expression)
            ]
        );
        let a = analyse(
            "select 1 from orders o join customers c on true",
            Dialect::Postgres,
            &none,
        )
        .unwrap();
        assert_eq!(a.relations, vec!["customers", "orders"]);
    }

    #[test]
    fn lineage_through_nested_ctes_keeps_the_strongest_step() {
        let l = lineage_of(
            "with base as (select id as order_id, a from orders),
                  renamed as (with inner_cte as (select order_id as oid, a * 2 as doubled from base) select * from inner_cte),
                  agg as (select oid, sum(doubled) as total from renamed group by oid)
             select oid as id, total, oid from agg",
        );
        // id -> order_id -> oid -> id: a rename and back is a passthrough.
        assert_eq!(l["id"], vec![src("orders", "id", Passthrough)]);
        assert_eq!(l["oid"], vec![src("orders", "id", Rename)]);
        assert_eq!(l["total"], vec![src("orders", "a", Aggregate)]);
    }

    #[test]
    fn lineage_through_star_aliases_and_qualified_star() {
        let l = lineage_of(
            "select c.*, o.a as amount from customers as c left join orders o on o.customer_id = c.id",
        );
        assert_eq!(l["name"], vec![src("customers", "name", Passthrough)]);
        assert_eq!(l["b"], vec![src("customers", "b", Passthrough)]);
        assert_eq!(l["amount"], vec![src("orders", "a", Rename)]);
        let l = lineage_of("select * from (select id, name as n from customers) sub");
        assert_eq!(l["n"], vec![src("customers", "name", Rename)]);
    }

    #[test]
    fn lineage_through_unions_takes_every_branch() {
        let l =
            lineage_of("select id, a as value from orders union all select id, b from customers");
        assert_eq!(
            l["id"],
            vec![
                src("orders", "id", Passthrough),
                src("customers", "id", Passthrough)
            ]
        );
        assert_eq!(
            l["value"],
            vec![src("orders", "a", Rename), src("customers", "b", Rename)]
        );
    }

    #[test]
    fn lineage_of_window_functions_and_casts() {
        let l = lineage_of(
            "select id, row_number() over (partition by customer_id order by ordered_at) as seq,
                    sum(a) over (partition by customer_id) as running, cast(a as text) as a_text,
                    coalesce(a, 0) as a_or_zero
             from orders",
        );
        assert_eq!(
            l["seq"],
            vec![
                src("orders", "customer_id", Aggregate),
                src("orders", "ordered_at", Aggregate)
            ]
        );
        assert_eq!(
            l["running"],
            vec![
                src("orders", "a", Aggregate),
                src("orders", "customer_id", Aggregate)
            ]
        );
        assert_eq!(l["a_text"], vec![src("orders", "a", Expression)]);
        assert_eq!(l["a_or_zero"], vec![src("orders", "a", Expression)]);
    }

    #[test]
    fn lineage_of_scalar_subqueries_stays_in_their_scope() {
        let l = lineage_of(
            "select o.id, (select max(c.b) from customers c where c.id = o.customer_id) as top_b from orders o",
        );
        assert_eq!(l["id"], vec![src("orders", "id", Passthrough)]);
        assert_eq!(l["top_b"], vec![src("customers", "b", Aggregate)]);
    }

    #[test]
    fn lineage_through_join_using_names_both_sides() {
        let l = lineage_of("select id, name, a from orders join customers using (id)");
        assert_eq!(
            l["id"],
            vec![
                src("orders", "id", Passthrough),
                src("customers", "id", Passthrough)
            ]
        );
        assert_eq!(l["name"], vec![src("customers", "name", Passthrough)]);
        assert_eq!(l["a"], vec![src("orders", "a", Passthrough)]);
        // Without `using`, an unqualified column in both relations is ambiguous: no lineage.
        let l = lineage_of("select id from orders join customers on true");
        assert!(!l.contains_key("id"), "{l:?}");
    }

    #[test]
    fn lineage_reaches_relations_whose_columns_are_unknown() {
        let l = lineage_of("select r.x as y, upper(r.z) as z from raw.events r");
        assert_eq!(l["y"], vec![src("raw.events", "x", Rename)]);
        assert_eq!(l["z"], vec![src("raw.events", "z", Expression)]);
    }

    /// Column problems of `sql` over `orders(id, a, customer_id, ordered_at)`,
    /// `customers(id, name, b)` and `raw.events` (columns unknown), as (line, col, message, hint).
    fn problems(sql: &str, d: Dialect) -> Vec<(usize, usize, String, String)> {
        let resolve = |name: &str| match name {
            "orders" => known(&["id", "a", "customer_id", "ordered_at"]),
            "customers" => known(&["id", "name", "b"]),
            "docs" => Some(Known::partial(vec!["id".into()])),
            _ => None,
        };
        analyse(sql, d, &resolve)
            .unwrap()
            .problems
            .into_iter()
            .map(|p| (p.line, p.col, p.message, p.hint))
            .collect()
    }

    fn messages(sql: &str, d: Dialect) -> Vec<String> {
        problems(sql, d).into_iter().map(|p| p.2).collect()
    }

    #[test]
    fn unknown_columns_are_reported_at_their_position_with_the_closest_name() {
        let p = problems("select id,\n  customer_idd\nfrom orders", Dialect::Postgres);
        assert_eq!(
            p,
            vec![(
                2,
                3,
                "unknown column `customer_idd`".to_string(),
                "did you mean `customer_id`?".to_string()
            )]
        );
        let p = problems(
            "select o.id, c.nme from orders o join customers c on c.id = o.customer_id",
            Dialect::Sqlite,
        );
        assert_eq!(p[0].2, "unknown column `c.nme`");
        assert_eq!(p[0].3, "did you mean `c.name`?");
        assert_eq!((p[0].0, p[0].1), (1, 16));
        // Without a close name, the hint lists what the query reads.
        let p = problems("select zzz from customers", Dialect::MySql);
        assert_eq!(p[0].3, "the query reads customers (id, name, b)");
    }

    #[test]
    fn every_clause_is_checked_through_ctes_and_subqueries() {
        for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            let sql = "with o as (select id as order_id, a from orders)
                select order_id, sum(a) as total from o
                join customers c on c.idd = o.order_id
                where o.b > 1 and exists (select 1 from customers x where x.name = o.nam)
                group by order_idd
                having max(aa) > 0
                order by totl";
            assert_eq!(
                messages(sql, d),
                vec![
                    "unknown column `c.idd`",
                    "unknown column `o.b`",
                    "unknown column `o.nam`",
                    "unknown column `order_idd`",
                    "unknown column `aa`",
                    "unknown column `totl`",
                ],
                "{d:?}"
            );
        }
    }

    #[test]
    fn ambiguous_columns_are_reported_unless_joined_by_name() {
        let p = problems(
            "select id from orders o join customers c on o.customer_id = c.id",
            Dialect::Postgres,
        );
        assert_eq!(p[0].2, "ambiguous column `id`");
        assert_eq!(p[0].3, "o and c each have it; qualify it, as in `o.id`");
        assert!(
            messages(
                "select id from orders join customers using (id)",
                Dialect::Postgres
            )
            .is_empty()
        );
        assert!(
            messages(
                "select id from orders natural join customers",
                Dialect::MySql
            )
            .is_empty()
        );
    }

    #[test]
    fn nothing_is_reported_where_a_column_might_exist() {
        let silent = [
            // A relation whose columns are unknown, or only documented.
            "select anything from orders o join raw.events e on e.x = o.id",
            "select whatever from docs",
            "select e.x, o.id from raw.events e join orders o on true",
            // Output aliases in later clauses.
            "select a * 2 as doubled from orders group by doubled order by doubled",
            // Correlated and lateral references.
            "select (select max(c.b) from customers c where c.id = o.customer_id) from orders o",
            "select * from orders o, lateral (select c.name from customers c where c.id = o.customer_id) x",
            // Column lists on CTEs and derived tables, and a recursive CTE.
            "with t(x, y) as (select id, a from orders) select x, y from t",
            "select p, q from (select id, a from orders) as s(p, q)",
            "with recursive r as (select 1 as n union all select n + 1 from r where n < 3) select n from r",
            // The ORDER BY of a union names output columns.
            "select id as k from orders union all select id from customers order by k",
            // Values, system columns, date parts, whole-row references.
            "select true, false, null, current_date, current_timestamp from orders",
            "select ctid, xmin from orders",
            "select orders from orders",
            "select row_number() over (partition by customer_id order by ordered_at) from orders",
            // Names computed by an expression: every database names them differently.
            "with t as (select lower(name), count(*) from customers group by 1) select lower, count from t",
            // An unknown relation in a nested join.
            "select q from (orders o join raw.events e on true)",
        ];
        for sql in silent {
            assert!(
                messages(sql, Dialect::Postgres).is_empty(),
                "{sql}: {:?}",
                messages(sql, Dialect::Postgres)
            );
        }
        assert!(
            messages(
                "select timestampdiff(day, ordered_at, now()) from orders",
                Dialect::MySql
            )
            .is_empty()
        );
        assert!(messages("select \"literal\", rowid from orders", Dialect::Sqlite).is_empty());
        assert!(messages("select @x from orders", Dialect::MySql).is_empty());
        // But PostgreSQL's double quotes are identifiers.
        assert_eq!(
            messages("select \"nope\" from orders", Dialect::Postgres),
            vec!["unknown column `nope`"]
        );
    }

    #[test]
    fn problems_inside_inlined_ephemeral_models_belong_to_them() {
        let sql =
            "with __dbt__cte__eph as (select nope from orders) select id from __dbt__cte__eph";
        assert_eq!(
            messages(sql, Dialect::Postgres),
            vec!["unknown column `id`"]
        );
    }

    #[test]
    fn output_names_are_exact_only_when_every_database_agrees() {
        let exact = |sql: &str| {
            let resolve = |name: &str| match name {
                "orders" => known(&["id", "a"]),
                "docs" => Some(Known::partial(vec!["id".into()])),
                _ => None,
            };
            analyse(sql, Dialect::Postgres, &resolve).unwrap().exact
        };
        assert!(exact("select id, a + 1 as b, o.* from orders o"));
        assert!(!exact("select lower(a) from orders"));
        assert!(!exact("select * from docs"));
        assert!(!exact("select * from raw.events"));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = analyse("selec 1", Dialect::Sqlite, &none).unwrap_err();
        assert_eq!((e.line, e.col), (1, 1));
        let e = analyse("select a\nfrom", Dialect::Postgres, &none).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.starts_with("expected"), "{}", e.message);
        assert!(!e.message.contains("Line:"), "{}", e.message);
    }

    #[test]
    fn cte_injection() {
        let ctes = vec![("__dbt__cte__a".to_string(), "select 1 as x".to_string())];
        assert_eq!(
            inject_ctes("select * from __dbt__cte__a", &ctes),
            "with __dbt__cte__a as (\nselect 1 as x\n)\nselect * from __dbt__cte__a"
        );
        assert_eq!(
            inject_ctes("-- note\nWITH b as (select 2) select * from b", &ctes),
            "-- note\nWITH __dbt__cte__a as (\nselect 1 as x\n), b as (select 2) select * from b"
        );
        assert_eq!(
            inject_ctes("with recursive r as (select 1) select * from r", &ctes),
            "with recursive __dbt__cte__a as (\nselect 1 as x\n), r as (select 1) select * from r"
        );
        let out = inject_ctes("with b as (select 2) select * from b", &ctes);
        assert!(analyse(&out, Dialect::Sqlite, &none).is_ok());
    }

    #[test]
    fn database_positions_map_to_the_model_line() {
        let template = "{{ config(materialized='table') }}\n{% set cols = ['id', 'name'] %}\nselect\n{% for c in cols %}\n  {{ c }},\n{% endfor %}\n  nme\nfrom {{ ref('m') }}\n";
        let compiled = "\n\nselect\n\n  id,\n\n  name,\n\n  nme\nfrom \"s\".\"m\"\n";
        let statement = format!(
            "create table \"s\".\"t__kiln_tmp\" as (\n{}\n)",
            compiled.trim()
        );
        // PostgreSQL counts characters from 1: point at `nme`.
        let pos = statement.find("nme").unwrap() + 1;
        let (line, col) = position_in_compiled(&statement, compiled, pos).unwrap();
        assert_eq!((line, col), (9, 3));
        assert_eq!(
            map_position_to_template(compiled, template, line, col),
            (7, 3)
        );
        // A position in the statement's own text, outside the query, is not in the model.
        assert_eq!(position_in_compiled(&statement, compiled, 1), None);
    }

    #[test]
    fn template_line_mapping() {
        let template =
            "{{ config(materialized='table') }}\n\nselect\n  {{ col }} as x,\n  y frm t\n";
        let rendered = "\n\nselect\n  a as x,\n  y frm t\n";
        assert_eq!(map_line_to_template(rendered, template, 5), 5);
        let template2 = "{% set cols = ['a','b'] %}\nselect\n{% for c in cols %}\n  {{ c }},\n{% endfor %}\n  z frm t\n";
        let rendered2 = "\nselect\n\n  a,\n\n  b,\n\n  z frm t\n";
        assert_eq!(map_line_to_template(rendered2, template2, 8), 6);
    }
}
