//! Output columns and column-level lineage of one query: every output column traced through
//! CTEs, subqueries, joins, unions and `select *` to the columns of the base relations it is
//! computed from, each edge labelled with the kind of step ([`LineageKind`]).

use super::columns::{self, ColumnProblem, Known, Level};
use super::{ColumnSource, Dialect, LineageKind, normalize_ident, normalize_name};
use sqlparser::ast::{
    Distinct, Expr, GroupByExpr, Ident, Join, JoinConstraint, JoinOperator, ObjectNamePart, Query,
    Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, TableFactor, Visit, Visitor,
};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;

/// Columns (and their lineage) of a relation in scope.
#[derive(Debug, Clone, Default)]
pub(super) struct RelInfo {
    /// Output column names, when known.
    pub columns: Option<Vec<String>>,
    /// Per output column, where it comes from.
    pub lineage: Vec<Vec<ColumnSource>>,
    /// A base relation whose columns are unknown: a reference to one of its columns still
    /// traces to it by name.
    base: Option<String>,
    /// The column names are certain (as the database will name them), so a reference to
    /// another name is an error. Unaliased expressions are named differently by each database.
    pub exact: bool,
}

impl RelInfo {
    fn unknown() -> RelInfo {
        RelInfo::default()
    }

    /// The columns a reference can be checked against: known and certain.
    pub(super) fn checkable(&self) -> Option<&[String]> {
        self.columns.as_deref().filter(|_| self.exact)
    }

    fn position(&self, column: &str) -> Option<usize> {
        self.columns
            .as_ref()?
            .iter()
            .position(|c| c.eq_ignore_ascii_case(column))
    }

    /// Where `column` of this relation comes from: its traced lineage, or the base relation
    /// itself when its columns are unknown.
    fn sources_of(&self, column: &str) -> Option<Vec<ColumnSource>> {
        match (self.position(column), &self.base) {
            (Some(pos), _) => Some(self.lineage.get(pos).cloned().unwrap_or_default()),
            (None, Some(base)) if self.columns.is_none() => Some(vec![ColumnSource {
                relation: base.clone(),
                column: column.to_string(),
                kind: LineageKind::Passthrough,
            }]),
            _ => None,
        }
    }
}

/// A relation in the FROM clause of one SELECT: its name in scope and what it holds.
pub(super) type Scope = Vec<(String, RelInfo)>;

/// The prefix of dbt's ephemeral CTEs: problems inside them belong to the ephemeral model and
/// are reported there.
const EPHEMERAL_PREFIX: &str = "__dbt__cte__";

/// Walks a query with the columns of upstream relations at hand, checking each column
/// reference against the relations in scope on the way.
pub(super) struct Ctx<'a> {
    /// Known columns of a base relation, by normalised name.
    pub resolve: &'a dyn Fn(&str) -> Option<Known>,
    pub dialect: Dialect,
    /// Unknown and ambiguous column references found so far.
    pub problems: RefCell<Vec<ColumnProblem>>,
    /// Inside an inlined ephemeral model: nothing is reported.
    quiet: Cell<usize>,
}

impl<'a> Ctx<'a> {
    pub fn new(resolve: &'a dyn Fn(&str) -> Option<Known>, dialect: Dialect) -> Ctx<'a> {
        Ctx {
            resolve,
            dialect,
            problems: RefCell::new(Vec::new()),
            quiet: Cell::new(0),
        }
    }

    fn base_relation(&self, name: &str) -> RelInfo {
        match (self.resolve)(name) {
            Some(Known {
                columns: cols,
                exact,
            }) => RelInfo {
                lineage: cols
                    .iter()
                    .map(|c| {
                        vec![ColumnSource {
                            relation: name.to_string(),
                            column: c.clone(),
                            kind: LineageKind::Passthrough,
                        }]
                    })
                    .collect(),
                columns: Some(cols),
                base: None,
                exact,
            },
            None => RelInfo {
                columns: None,
                lineage: Vec::new(),
                base: Some(name.to_string()),
                exact: false,
            },
        }
    }

    /// Columns and lineage of a query, with the CTEs of enclosing queries in scope and the
    /// FROM scopes of enclosing queries (for correlated references), innermost last.
    pub fn query(
        &self,
        q: &Query,
        ctes: &HashMap<String, RelInfo>,
        outer: &[Level<'_>],
    ) -> RelInfo {
        let mut scope = ctes.clone();
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                let name = normalize_ident(&cte.alias.name);
                let ephemeral = name.starts_with(EPHEMERAL_PREFIX);
                if ephemeral {
                    self.quiet.set(self.quiet.get() + 1);
                }
                let mut info = self.query(&cte.query, &scope, outer);
                if ephemeral {
                    self.quiet.set(self.quiet.get() - 1);
                }
                if !cte.alias.columns.is_empty() {
                    info.columns = Some(
                        cte.alias
                            .columns
                            .iter()
                            .map(|c| c.name.value.clone())
                            .collect(),
                    );
                    info.exact = true;
                }
                scope.insert(name, info);
            }
        }
        let order_by = match &q.order_by {
            Some(o) => match &o.kind {
                sqlparser::ast::OrderByKind::Expressions(e) => e.iter().map(|e| &e.expr).collect(),
                sqlparser::ast::OrderByKind::All(_) => Vec::new(),
            },
            None => Vec::new(),
        };
        match &*q.body {
            // ORDER BY of a plain SELECT sees its FROM clause; over a union it sees only the
            // output columns, which are not checked.
            SetExpr::Select(s) => self.select(s, &scope, outer, &order_by),
            body => self.set_expr(body, &scope, outer),
        }
    }

    fn set_expr(
        &self,
        body: &SetExpr,
        ctes: &HashMap<String, RelInfo>,
        outer: &[Level<'_>],
    ) -> RelInfo {
        match body {
            SetExpr::Select(s) => self.select(s, ctes, outer, &[]),
            SetExpr::Query(q) => self.query(q, ctes, outer),
            SetExpr::SetOperation { left, right, .. } => {
                // Columns are named by the left branch; each output column comes from the
                // matching column of every branch.
                let mut l = self.set_expr(left, ctes, outer);
                let r = self.set_expr(right, ctes, outer);
                for (i, lin) in l.lineage.iter_mut().enumerate() {
                    if let Some(extra) = r.lineage.get(i) {
                        merge_sources(lin, extra.iter().cloned());
                    }
                }
                l
            }
            _ => RelInfo::unknown(),
        }
    }

    /// A relation of a FROM clause; `outer` is what a `lateral` subquery may refer to.
    fn factor(
        &self,
        f: &TableFactor,
        ctes: &HashMap<String, RelInfo>,
        outer: &[Level<'_>],
    ) -> Option<(String, RelInfo)> {
        match f {
            TableFactor::Table { name, alias, .. } => {
                let full = normalize_name(name);
                let mut info = if name.0.len() == 1 && ctes.contains_key(&full) {
                    ctes[&full].clone()
                } else {
                    self.base_relation(&full)
                };
                let key = match alias {
                    Some(a) => normalize_ident(&a.name),
                    None => name
                        .0
                        .last()
                        .map(|p| match p {
                            ObjectNamePart::Identifier(i) => normalize_ident(i),
                            other => other.to_string(),
                        })
                        .unwrap_or(full.clone()),
                };
                if let Some(a) = alias
                    && !a.columns.is_empty()
                {
                    info.columns = Some(a.columns.iter().map(|c| c.name.value.clone()).collect());
                    info.base = None;
                    info.exact = true;
                }
                Some((key, info))
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let mut info = self.query(subquery, ctes, outer);
                if let Some(a) = alias
                    && !a.columns.is_empty()
                {
                    info.columns = Some(a.columns.iter().map(|c| c.name.value.clone()).collect());
                    info.exact = true;
                }
                let key = alias
                    .as_ref()
                    .map(|a| normalize_ident(&a.name))
                    .unwrap_or_default();
                Some((key, info))
            }
            TableFactor::NestedJoin { .. } => None,
            _ => Some((String::new(), RelInfo::unknown())),
        }
    }

    fn select(
        &self,
        s: &Select,
        ctes: &HashMap<String, RelInfo>,
        outer: &[Level<'_>],
        order_by: &[&Expr],
    ) -> RelInfo {
        let mut sources: Scope = Vec::new();
        let mut complete = true;
        // Columns a join matches by name (`using (id)`, natural joins): an unqualified
        // reference to one of them comes from every side that has it.
        let mut shared = SharedColumns::default();
        let mut on: Vec<&Expr> = Vec::new();
        for twj in &s.from {
            let factors = std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| {
                shared.add(j);
                if let Some(JoinConstraint::On(e)) = join_constraint(j) {
                    on.push(e);
                }
                &j.relation
            }));
            for f in factors.collect::<Vec<_>>() {
                match self.lateral_factor(f, ctes, outer, &sources, &shared) {
                    Some(x) => sources.push(x),
                    None => complete = false,
                }
            }
        }
        let aliases: Vec<String> = s
            .projection
            .iter()
            .filter_map(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
                _ => None,
            })
            .collect();
        let mut chain = outer.to_vec();
        chain.push(Level {
            rels: &sources,
            complete,
            aliases: &aliases,
            shared: &shared,
        });
        let mut columns: Vec<String> = Vec::new();
        let mut lineage: Vec<Vec<ColumnSource>> = Vec::new();
        let mut known = complete;
        let mut exact = true;
        for item in &s.projection {
            match item {
                SelectItem::Wildcard(_) => {
                    for (_, info) in &sources {
                        exact &= info.exact;
                        if !push_all(info, &mut columns, &mut lineage) {
                            known = false;
                        }
                    }
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    let qualifier = match kind {
                        SelectItemQualifiedWildcardKind::ObjectName(n) => {
                            n.0.last()
                                .map(|p| match p {
                                    ObjectNamePart::Identifier(i) => normalize_ident(i),
                                    other => other.to_string(),
                                })
                                .unwrap_or_default()
                        }
                        SelectItemQualifiedWildcardKind::Expr(_) => String::new(),
                    };
                    let found = sources.iter().find(|(k, _)| *k == qualifier);
                    exact &= found.is_some_and(|(_, info)| info.exact);
                    if !found.is_some_and(|(_, info)| push_all(info, &mut columns, &mut lineage)) {
                        known = false;
                    }
                }
                SelectItem::UnnamedExpr(expr) => {
                    exact &= is_reference(expr);
                    columns.push(expr_name(expr));
                    lineage.push(self.expr_lineage(expr, &chain, ctes));
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    columns.push(alias.value.clone());
                    lineage.push(self.expr_lineage(expr, &chain, ctes));
                }
                _ => known = false,
            }
        }
        let mut clauses: Vec<&Expr> = on;
        clauses.extend(s.prewhere.iter().chain(&s.selection));
        clauses.extend(s.having.iter().chain(&s.qualify));
        if let GroupByExpr::Expressions(exprs, _) = &s.group_by {
            clauses.extend(exprs);
        }
        if let Some(Distinct::On(exprs)) = &s.distinct {
            clauses.extend(exprs);
        }
        clauses.extend(order_by.iter().copied());
        for e in clauses {
            self.expr_refs(e, &chain, ctes);
        }
        RelInfo {
            columns: known.then_some(columns),
            lineage,
            base: None,
            exact: known && exact,
        }
    }

    /// A FROM item; a `lateral` one also sees the items before it.
    fn lateral_factor(
        &self,
        f: &TableFactor,
        ctes: &HashMap<String, RelInfo>,
        outer: &[Level<'_>],
        before: &Scope,
        shared: &SharedColumns,
    ) -> Option<(String, RelInfo)> {
        let lateral = matches!(
            f,
            TableFactor::Derived { lateral: true, .. }
                | TableFactor::Function { lateral: true, .. }
        );
        if !lateral {
            return self.factor(f, ctes, outer);
        }
        let mut chain = outer.to_vec();
        chain.push(Level {
            rels: before,
            complete: true,
            aliases: &[],
            shared,
        });
        self.factor(f, ctes, &chain)
    }

    /// Checks an expression's column references against the scopes around it, and walks its
    /// subqueries; returns its references and the columns of its scalar subqueries.
    fn expr_refs(
        &self,
        expr: &Expr,
        chain: &[Level<'_>],
        ctes: &HashMap<String, RelInfo>,
    ) -> (ColumnRefs, Vec<RelInfo>) {
        let mut refs = ColumnRefs::default();
        let _ = expr.visit(&mut refs);
        if self.quiet.get() == 0 {
            let found = refs
                .columns
                .iter()
                .filter_map(|(q, ident)| columns::check(chain, q.as_deref(), ident, self.dialect));
            self.problems.borrow_mut().extend(found);
        }
        let mut scalars = Vec::new();
        for (q, scalar) in &refs.subqueries {
            let info = self.query(q, ctes, chain);
            if *scalar {
                scalars.push(info);
            }
        }
        (refs, scalars)
    }

    /// The upstream columns an expression is computed from, with the kind of this step
    /// combined with the kind of the steps before it.
    fn expr_lineage(
        &self,
        expr: &Expr,
        chain: &[Level<'_>],
        ctes: &HashMap<String, RelInfo>,
    ) -> Vec<ColumnSource> {
        let (refs, scalars) = self.expr_refs(expr, chain, ctes);
        let Some(here) = chain.last() else {
            return Vec::new();
        };
        let step = if is_reference(expr) {
            LineageKind::Passthrough
        } else if refs.aggregate {
            LineageKind::Aggregate
        } else {
            LineageKind::Expression
        };
        let mut out: Vec<ColumnSource> = Vec::new();
        for (qualifier, ident) in &refs.columns {
            let col = ident.value.as_str();
            for info in candidates(qualifier.as_deref(), col, here.rels, here.shared) {
                if let Some(found) = info.sources_of(col) {
                    merge_sources(&mut out, found.into_iter().map(|s| s.through(step)));
                }
            }
        }
        for info in scalars {
            // A scalar subquery yields its first column.
            if let Some(first) = info.lineage.first() {
                let step = step.max(LineageKind::Expression);
                merge_sources(&mut out, first.iter().map(|s| s.clone().through(step)));
            }
        }
        out
    }
}

fn join_constraint(join: &Join) -> Option<&JoinConstraint> {
    match &join.join_operator {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::Semi(c)
        | JoinOperator::LeftSemi(c)
        | JoinOperator::RightSemi(c)
        | JoinOperator::Anti(c)
        | JoinOperator::LeftAnti(c)
        | JoinOperator::RightAnti(c)
        | JoinOperator::StraightJoin(c) => Some(c),
        _ => None,
    }
}

/// Appends every column of `info` (for `*`); false when its columns are unknown.
fn push_all(
    info: &RelInfo,
    columns: &mut Vec<String>,
    lineage: &mut Vec<Vec<ColumnSource>>,
) -> bool {
    let Some(cols) = &info.columns else {
        return false;
    };
    columns.extend(cols.iter().cloned());
    for i in 0..cols.len() {
        lineage.push(info.lineage.get(i).cloned().unwrap_or_default());
    }
    true
}

/// The relations in scope an unqualified or qualified column reference may come from.
fn candidates<'s>(
    qualifier: Option<&str>,
    col: &str,
    sources: &'s Scope,
    shared: &SharedColumns,
) -> Vec<&'s RelInfo> {
    if let Some(q) = qualifier {
        return sources
            .iter()
            .filter(|(k, _)| k == q)
            .map(|(_, i)| i)
            .collect();
    }
    if sources.len() == 1 {
        return vec![&sources[0].1];
    }
    let having: Vec<&RelInfo> = sources
        .iter()
        .filter(|(_, i)| i.position(col).is_some())
        .map(|(_, i)| i)
        .collect();
    match having.len() {
        1 => having,
        n if n > 1 && shared.contains(col) => having,
        0 => {
            // Not among the known columns: it can only be in the one relation whose columns
            // are unknown.
            let unknown: Vec<&RelInfo> = sources
                .iter()
                .filter(|(_, i)| i.columns.is_none())
                .map(|(_, i)| i)
                .collect();
            if unknown.len() == 1 {
                unknown
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

/// Adds sources, keeping one entry per upstream column (the strongest kind wins).
fn merge_sources(into: &mut Vec<ColumnSource>, from: impl IntoIterator<Item = ColumnSource>) {
    for s in from {
        match into
            .iter_mut()
            .find(|x| x.relation == s.relation && x.column.eq_ignore_ascii_case(&s.column))
        {
            Some(existing) => existing.kind = existing.kind.max(s.kind),
            None => into.push(s),
        }
    }
}

/// Columns that joins match by name.
#[derive(Debug, Default)]
pub(super) struct SharedColumns {
    names: BTreeSet<String>,
    natural: bool,
}

impl SharedColumns {
    fn add(&mut self, join: &Join) {
        let Some(constraint) = join_constraint(join) else {
            return;
        };
        match constraint {
            JoinConstraint::Using(cols) => {
                for c in cols {
                    self.names.insert(normalize_name(c));
                }
            }
            JoinConstraint::Natural => self.natural = true,
            _ => {}
        }
    }

    pub(super) fn contains(&self, col: &str) -> bool {
        self.natural || self.names.contains(&col.to_lowercase())
    }
}

/// True when the expression is a bare column reference (possibly parenthesised).
fn is_reference(expr: &Expr) -> bool {
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        Expr::Nested(e) => is_reference(e),
        _ => false,
    }
}

/// The name a database gives an unaliased expression (best effort): the column for column
/// references and casts, the function name for calls, else the expression's text.
fn expr_name(expr: &Expr) -> String {
    match expr {
        Expr::Identifier(i) => i.value.clone(),
        Expr::CompoundIdentifier(parts) => {
            parts.last().map(|i| i.value.clone()).unwrap_or_default()
        }
        Expr::Nested(e) => expr_name(e),
        Expr::Cast { expr, .. } => expr_name(expr),
        Expr::Function(f) => f.name.to_string().to_lowercase(),
        other => other.to_string(),
    }
}

/// Aggregate functions of the supported databases (window functions are recognised by their
/// `over` clause).
const AGGREGATES: &[&str] = &[
    "any_value",
    "approx_count_distinct",
    "array_agg",
    "avg",
    "bit_and",
    "bit_or",
    "bit_xor",
    "bool_and",
    "bool_or",
    "count",
    "count_if",
    "countif",
    "every",
    "group_concat",
    "json_agg",
    "json_arrayagg",
    "json_group_array",
    "json_group_object",
    "json_objectagg",
    "jsonb_agg",
    "listagg",
    "max",
    "median",
    "min",
    "mode",
    "percentile_cont",
    "percentile_disc",
    "std",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "string_agg",
    "sum",
    "total",
    "var_pop",
    "var_samp",
    "variance",
];

/// Column references, subqueries and aggregate calls in an expression, not looking inside
/// subqueries (their columns belong to their own scope).
#[derive(Default)]
struct ColumnRefs {
    /// Each reference: its qualifier (the relation's name in scope) and the column's name.
    columns: Vec<(Option<String>, Ident)>,
    /// Each subquery, and whether it is scalar (yields a value, not a set or a test).
    subqueries: Vec<(Query, bool)>,
    aggregate: bool,
    depth: usize,
    scalar_next: bool,
}

impl Visitor for ColumnRefs {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if self.depth == 0 {
            self.subqueries
                .push((q.clone(), std::mem::take(&mut self.scalar_next)));
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        match expr {
            Expr::Identifier(i) if i.quote_style != Some('\'') => {
                self.columns.push((None, i.clone()));
            }
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let q = normalize_ident(&parts[parts.len() - 2]);
                self.columns.push((Some(q), parts[parts.len() - 1].clone()));
            }
            Expr::Subquery(_) => self.scalar_next = true,
            Expr::Function(f) => {
                let name = f
                    .name
                    .0
                    .last()
                    .map(|p| p.to_string().to_lowercase())
                    .unwrap_or_default();
                if f.over.is_some() || AGGREGATES.contains(&name.as_str()) {
                    self.aggregate = true;
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}
