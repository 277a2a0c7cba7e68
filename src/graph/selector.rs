//! The node selection grammar (dbt's): `-s/--select` and `--exclude` with names, wildcards,
//! graph operators (`+`, `n+`, `@`), methods (`tag:`, `path:`, `config.<key>:`, ...), space for
//! union and comma for intersection; and indirect selection of tests.

use super::{Dag, GraphNode, TestKind};
use crate::error::{Diagnostic, Error, ErrorKind, Result};
use crate::project::ResourceType;
use globset::{GlobBuilder, GlobMatcher};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The selector methods Kiln understands.
const METHODS: &[&str] = &[
    "fqn",
    "tag",
    "path",
    "file",
    "config.<key>",
    "resource_type",
    "source",
    "unit_test",
    "test_type",
    "test_name",
    "package",
    "state",
    "result",
];

/// How many generations a graph operator reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    None,
    All,
    Limited(usize),
}

impl Depth {
    fn limit(self) -> Option<usize> {
        match self {
            Depth::Limited(n) => Some(n),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Method {
    Default,
    Fqn,
    Tag,
    Path,
    File,
    Config(String),
    ResourceType,
    Source,
    UnitTest,
    TestType,
    TestName,
    Package,
    State,
    Result,
}

/// One term like `+tag:nightly+2`.
#[derive(Debug, Clone)]
struct Term {
    text: String,
    at: bool,
    parents: Depth,
    children: Depth,
    method: Method,
    value: String,
}

/// A parsed `--select` or `--exclude`: a union of intersections of terms.
#[derive(Debug, Clone)]
pub struct Selection {
    unions: Vec<Vec<Term>>,
}

/// A selection built from set operations, as `selectors.yml` definitions are: unions,
/// intersections and differences of `--select`-style selections.
#[derive(Debug, Clone)]
pub enum SelectExpr {
    /// Nodes a `--select`-style selection matches.
    Terms(Selection),
    /// Nodes any member selects.
    Union(Vec<SelectExpr>),
    /// Nodes every member selects.
    Intersection(Vec<SelectExpr>),
    /// Nodes the first selects and the second does not.
    Difference(Box<SelectExpr>, Box<SelectExpr>),
}

/// Which tests come along with selected nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndirectSelection {
    /// A test comes along when any node it tests is selected (dbt's default).
    #[default]
    Eager,
    /// Only when every node it tests is selected.
    Cautious,
    /// When every node it tests is selected or is an ancestor of the selection.
    Buildable,
    /// Never.
    Empty,
}

/// How one node of the project compares with the same unique_id in a previous manifest
/// (`--state`), by dbt's rules; each field answers one `state:` selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeState {
    /// The previous manifest has this unique_id (`state:old`; else `state:new`).
    pub old: bool,
    /// `state:modified`: different contents, an upstream macro changed, or a model's contract
    /// changed (`state:unmodified` is its negation).
    pub modified: bool,
    /// `state:modified.body`: the SQL (a seed's checksum) changed.
    pub body: bool,
    /// `state:modified.configs`: the configs as written changed.
    pub configs: bool,
    /// `state:modified.relation`: the database, schema or alias as written changed.
    pub relation: bool,
    /// `state:modified.persisted_descriptions`: a description persisted to the database changed.
    pub persisted_descriptions: bool,
    /// `state:modified.macros`: a macro it calls, or one those call, changed.
    pub macros: bool,
    /// `state:modified.contract`: the model's enforced contract changed.
    pub contract: bool,
}

impl NodeState {
    /// A node the previous manifest does not have: new, and every `modified` selector.
    pub const NEW: NodeState = NodeState {
        old: false,
        modified: true,
        body: true,
        configs: true,
        relation: true,
        persisted_descriptions: true,
        macros: false,
        contract: true,
    };

    /// Whether the `state:` selector `value` (`modified`, `modified.body`, `new`, ...) matches.
    pub fn matches(&self, value: &str) -> bool {
        match value {
            "new" => !self.old,
            "old" => self.old,
            "modified" => self.modified,
            "unmodified" => !self.modified,
            "modified.body" => self.body,
            "modified.configs" => self.configs,
            "modified.relation" => self.relation,
            "modified.persisted_descriptions" => self.persisted_descriptions,
            "modified.macros" => self.macros,
            "modified.contract" => self.contract,
            _ => false,
        }
    }
}

/// The `state:` selector values.
const STATE_VALUES: &[&str] = &[
    "new",
    "old",
    "modified",
    "unmodified",
    "modified.body",
    "modified.configs",
    "modified.relation",
    "modified.persisted_descriptions",
    "modified.macros",
    "modified.contract",
];

/// What selection needs besides the graph.
pub struct SelectOptions<'a> {
    /// `--select`; None selects every node of `resource_types`.
    pub select: Option<&'a Selection>,
    /// `--exclude`.
    pub exclude: Option<&'a Selection>,
    /// A selector from `selectors.yml`, in place of `select` and `exclude`.
    pub expr: Option<&'a SelectExpr>,
    /// Types the command works on.
    pub resource_types: &'a [ResourceType],
    /// unique_id → how the node compares with the `--state` manifest, for `state:` methods.
    pub state: Option<&'a BTreeMap<String, NodeState>>,
    /// unique_id → status of a previous run, for `result:`.
    pub previous_results: Option<&'a BTreeMap<String, String>>,
    /// Test inclusion rule.
    pub indirect_selection: IndirectSelection,
}

/// Selected nodes and warnings (e.g. a term that matched nothing).
#[derive(Debug, Clone, Default)]
pub struct SelectResult {
    /// unique_ids of selected nodes.
    pub selected: BTreeSet<String>,
    /// Human-readable warnings.
    pub warnings: Vec<String>,
}

fn selector_error(text: &str, message: String, hint: &str) -> Error {
    Error::from(
        Diagnostic::new(
            ErrorKind::Selector,
            format!("invalid selector `{text}`: {message}"),
        )
        .with_hint(hint),
    )
}

fn parse_depth(digits: &str, text: &str) -> Result<Depth> {
    if digits.is_empty() {
        return Ok(Depth::All);
    }
    digits.parse::<usize>().map(Depth::Limited).map_err(|_| {
        selector_error(
            text,
            format!("`{digits}` is not a number of generations"),
            "write graph operators like `+model`, `2+model`, `model+` or `model+3`",
        )
    })
}

impl Term {
    fn parse(text: &str) -> Result<Term> {
        let mut rest = text;
        let mut at = false;
        let mut parents = Depth::None;
        let mut children = Depth::None;
        if let Some(r) = rest.strip_prefix('@') {
            at = true;
            rest = r;
        }
        // Leading `n+` or `+`.
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if rest[digits.len()..].starts_with('+') {
            parents = parse_depth(&digits, text)?;
            rest = &rest[digits.len() + 1..];
        }
        // Trailing `+` or `+n`.
        if let Some(pos) = rest.rfind('+') {
            let tail = &rest[pos + 1..];
            if tail.chars().all(|c| c.is_ascii_alphanumeric()) {
                if !tail.is_empty() && !tail.chars().all(|c| c.is_ascii_digit()) {
                    return Err(selector_error(
                        text,
                        format!("`{tail}` after `+` is not a number of generations"),
                        "write `model+` or `model+2`",
                    ));
                }
                children = parse_depth(tail, text)?;
                rest = &rest[..pos];
            }
        }
        if at && (parents != Depth::None) {
            return Err(selector_error(
                text,
                "`@` cannot be combined with a leading `+`".into(),
                "use `@model` alone: it already includes the ancestors of every descendant",
            ));
        }
        let (method, value) = match rest.split_once(':') {
            Some((m, v)) => {
                let method = match m {
                    "fqn" => Method::Fqn,
                    "tag" => Method::Tag,
                    "path" => Method::Path,
                    "file" => Method::File,
                    "resource_type" => Method::ResourceType,
                    "source" => Method::Source,
                    "unit_test" => Method::UnitTest,
                    "test_type" => Method::TestType,
                    "test_name" => Method::TestName,
                    "package" => Method::Package,
                    "state" => Method::State,
                    "result" => Method::Result,
                    m if m.starts_with("config.") && m.len() > 7 => {
                        Method::Config(crate::project::config::normalize_key(&m[7..]))
                    }
                    other => {
                        return Err(selector_error(
                            text,
                            format!("unknown selector method `{other}`"),
                            &format!("valid methods: {}", METHODS.join(", ")),
                        ));
                    }
                };
                (method, v.to_string())
            }
            None => (Method::Default, rest.to_string()),
        };
        if value.is_empty() {
            return Err(selector_error(
                text,
                "nothing to match".into(),
                "give a value, e.g. `tag:nightly` or `my_model`",
            ));
        }
        Ok(Term {
            text: text.to_string(),
            at,
            parents,
            children,
            method,
            value,
        })
    }
}

impl Selection {
    /// Parses selector arguments; each may hold several space-separated terms.
    pub fn parse(args: &[String]) -> Result<Selection> {
        let mut unions = Vec::new();
        for arg in args {
            for part in arg.split_whitespace() {
                let terms = part
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(Term::parse)
                    .collect::<Result<Vec<_>>>()?;
                if !terms.is_empty() {
                    unions.push(terms);
                }
            }
        }
        Ok(Selection { unions })
    }
}

fn glob(pattern: &str) -> Option<GlobMatcher> {
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Matches `value` against `candidate` exactly, or as a glob when it has wildcards.
struct Pattern {
    text: String,
    glob: Option<GlobMatcher>,
}

impl Pattern {
    fn new(text: &str) -> Pattern {
        Pattern {
            text: text.to_string(),
            glob: if has_wildcard(text) { glob(text) } else { None },
        }
    }

    fn matches(&self, candidate: &str) -> bool {
        match &self.glob {
            Some(g) => g.is_match(candidate),
            None => self.text == candidate,
        }
    }
}

/// A term's value compiled once for every node it is matched against: as one pattern, split
/// at dots (names, fqns, sources) and as a path.
struct Compiled {
    whole: Pattern,
    parts: Vec<Pattern>,
    path: PathPattern,
}

impl Compiled {
    fn new(value: &str) -> Compiled {
        Compiled {
            whole: Pattern::new(value),
            parts: value.split('.').map(Pattern::new).collect(),
            path: PathPattern::new(value),
        }
    }

    /// A name or an fqn, with or without its package.
    fn name_or_fqn(&self, n: &GraphNode) -> bool {
        (self.parts.len() == 1 && self.parts[0].matches(&n.name))
            || fqn_match(&self.parts, &n.fqn, true)
    }
}

/// Per-selection context.
struct Matcher<'a> {
    dag: &'a Dag,
    opts: &'a SelectOptions<'a>,
    /// name → unique_ids, for fast exact-name lookups.
    by_name: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Matcher<'a> {
    fn new(dag: &'a Dag, opts: &'a SelectOptions<'a>) -> Matcher<'a> {
        let mut by_name: HashMap<&str, Vec<&str>> = HashMap::new();
        for n in dag.nodes() {
            by_name
                .entry(n.name.as_str())
                .or_default()
                .push(n.unique_id.as_str());
        }
        Matcher { dag, opts, by_name }
    }

    fn base(&self, term: &Term) -> BTreeSet<String> {
        let value = term.value.as_str();
        // Fast path: a plain name.
        if term.method == Method::Default && !has_wildcard(value) && !value.contains(['.', '/']) {
            let mut out: BTreeSet<String> = self
                .by_name
                .get(value)
                .map(|ids| {
                    ids.iter()
                        .filter(|id| {
                            self.dag
                                .node(id)
                                .is_some_and(|n| n.resource_type != ResourceType::Source)
                        })
                        .map(|s| s.to_string())
                        .collect()
                })
                .unwrap_or_default();
            // A bare folder name selects what is inside it.
            let folder = [Pattern::new(value)];
            for n in self.dag.nodes() {
                if n.resource_type != ResourceType::Source && fqn_match(&folder, &n.fqn, false) {
                    out.insert(n.unique_id.clone());
                }
            }
            return out;
        }
        let compiled = Compiled::new(value);
        self.dag
            .nodes()
            .filter(|n| self.node_matches(term, &compiled, n))
            .map(|n| n.unique_id.clone())
            .collect()
    }

    fn node_matches(&self, term: &Term, c: &Compiled, n: &GraphNode) -> bool {
        let value = term.value.as_str();
        let p = &c.whole;
        match &term.method {
            Method::Default => {
                if n.resource_type == ResourceType::Source {
                    return false;
                }
                if value.contains('/') || value.ends_with(".sql") || value.ends_with(".csv") {
                    return c.path.matches(&n.original_file_path);
                }
                c.name_or_fqn(n)
            }
            Method::Fqn => c.name_or_fqn(n),
            Method::Tag => n.config.tags().iter().any(|t| p.matches(t)),
            Method::Path => c.path.matches(&n.original_file_path),
            Method::File => {
                let file = n.original_file_path.rsplit('/').next().unwrap_or("");
                let stem = file.rsplit_once('.').map(|(s, _)| s).unwrap_or(file);
                p.matches(file) || p.matches(stem)
            }
            Method::Config(key) => match n.config.get(key) {
                None | Some(serde_json::Value::Null) => false,
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .any(|i| p.matches(&crate::project::config::value_to_string(i))),
                Some(v) => p.matches(&crate::project::config::value_to_string(v)),
            },
            Method::ResourceType => {
                n.resource_type.as_str() == value
                    || (value == "data_test" && n.resource_type == ResourceType::Test)
            }
            // `unit_test:name`, `unit_test:package.name` (as `kiln ls` prints them).
            Method::UnitTest => {
                n.resource_type == ResourceType::UnitTest
                    && match value.split_once('.') {
                        Some((pkg, t)) => {
                            Pattern::new(pkg).matches(&n.package_name)
                                && Pattern::new(t).matches(&n.name)
                        }
                        None => p.matches(&n.name),
                    }
            }
            Method::Source => {
                if n.resource_type != ResourceType::Source {
                    return false;
                }
                let source = n.source_name.as_deref().unwrap_or_default();
                match c.parts.as_slice() {
                    [s] => s.matches(source),
                    [s, t] => {
                        (s.matches(source) && t.matches(&n.name))
                            || (s.matches(&n.package_name) && t.matches(source))
                    }
                    [pkg, s, t] => {
                        pkg.matches(&n.package_name) && s.matches(source) && t.matches(&n.name)
                    }
                    _ => false,
                }
            }
            Method::TestType => matches!(
                (value, n.test_kind),
                ("generic", Some(TestKind::Generic))
                    | ("singular", Some(TestKind::Singular))
                    | ("unit", Some(TestKind::Unit))
                    | ("data", Some(TestKind::Generic | TestKind::Singular))
            ),
            Method::TestName => n.test_name.as_deref().is_some_and(|t| p.matches(t)),
            Method::Package => p.matches(&n.package_name),
            Method::State => {
                let Some(state) = self.opts.state else {
                    return false;
                };
                state
                    .get(&n.unique_id)
                    .copied()
                    .unwrap_or(NodeState::NEW)
                    .matches(value)
            }
            Method::Result => self
                .opts
                .previous_results
                .and_then(|r| r.get(&n.unique_id))
                .is_some_and(|s| s == value || (value == "success" && s == "pass")),
        }
    }

    fn term(&self, term: &Term) -> Result<BTreeSet<String>> {
        if let Method::State = term.method {
            if self.opts.state.is_none() {
                return Err(selector_error(
                    &term.text,
                    "state: selectors need a previous manifest".into(),
                    "pass --state DIR with the manifest.json of the version to compare against",
                ));
            }
            if !STATE_VALUES.contains(&term.value.as_str()) {
                return Err(selector_error(
                    &term.text,
                    format!("unknown state `{}`", term.value),
                    &format!("use one of: state:{}", STATE_VALUES.join(", state:")),
                ));
            }
        }
        let base = self.base(term);
        let mut out = base.clone();
        if term.at {
            let mut desc = BTreeSet::new();
            for id in &base {
                desc.extend(self.dag.descendants(id, None));
            }
            desc.extend(base.iter().cloned());
            for id in &desc {
                out.extend(self.dag.ancestors(id, None));
            }
            out.extend(desc);
            return Ok(out);
        }
        if term.parents != Depth::None {
            for id in &base {
                out.extend(self.dag.ancestors(id, term.parents.limit()));
            }
        }
        if term.children != Depth::None {
            for id in &base {
                out.extend(self.dag.descendants(id, term.children.limit()));
            }
        }
        Ok(out)
    }

    fn expr(&self, e: &SelectExpr, warnings: &mut Vec<String>) -> Result<BTreeSet<String>> {
        Ok(match e {
            SelectExpr::Terms(s) => self.selection(s, warnings)?,
            SelectExpr::Union(items) => {
                let mut out = BTreeSet::new();
                for i in items {
                    out.extend(self.expr(i, warnings)?);
                }
                out
            }
            SelectExpr::Intersection(items) => {
                let mut acc: Option<BTreeSet<String>> = None;
                for i in items {
                    let set = self.expr(i, warnings)?;
                    acc = Some(match acc {
                        None => set,
                        Some(prev) => prev.intersection(&set).cloned().collect(),
                    });
                }
                acc.unwrap_or_default()
            }
            SelectExpr::Difference(a, b) => {
                let remove = self.expr(b, &mut Vec::new())?;
                let mut keep = self.expr(a, warnings)?;
                keep.retain(|id| !remove.contains(id));
                keep
            }
        })
    }

    fn selection(&self, s: &Selection, warnings: &mut Vec<String>) -> Result<BTreeSet<String>> {
        let mut union = BTreeSet::new();
        for intersection in &s.unions {
            let mut acc: Option<BTreeSet<String>> = None;
            for term in intersection {
                let set = self.term(term)?;
                if set.is_empty() {
                    warnings.push(format!("nothing matched `{}`", term.text));
                }
                acc = Some(match acc {
                    None => set,
                    Some(prev) => prev.intersection(&set).cloned().collect(),
                });
            }
            union.extend(acc.unwrap_or_default());
        }
        Ok(union)
    }
}

fn fqn_match(parts: &[Pattern], fqn: &[String], allow_package: bool) -> bool {
    let prefix_match = |fqn: &[String]| {
        parts.len() <= fqn.len() && parts.iter().zip(fqn).all(|(p, f)| p.matches(f))
    };
    (allow_package && prefix_match(fqn)) || (fqn.len() > 1 && prefix_match(&fqn[1..]))
}

/// A `path:` value: a file, a folder holding the node, or a glob of either.
struct PathPattern {
    /// The value without a trailing `/`.
    value: String,
    /// The glob itself and the glob of what is under it, when the value has wildcards.
    globs: Option<(Option<GlobMatcher>, Option<GlobMatcher>)>,
}

impl PathPattern {
    fn new(value: &str) -> PathPattern {
        let value = value.trim_end_matches('/');
        PathPattern {
            value: value.to_string(),
            globs: has_wildcard(value).then(|| (glob(value), glob(&format!("{value}/**")))),
        }
    }

    fn matches(&self, path: &str) -> bool {
        let value = self.value.as_str();
        match &self.globs {
            Some((file, under)) => {
                file.as_ref().is_some_and(|g| g.is_match(path))
                    || under.as_ref().is_some_and(|g| g.is_match(path))
            }
            None => {
                path == value
                    || path
                        .strip_prefix(value)
                        .is_some_and(|rest| rest.starts_with('/'))
            }
        }
    }
}

/// Applies a selection to the DAG.
pub fn select(dag: &Dag, opts: &SelectOptions) -> Result<SelectResult> {
    let m = Matcher::new(dag, opts);
    let mut warnings = Vec::new();
    let wanted = |n: &GraphNode| opts.resource_types.contains(&n.resource_type);
    let mut selected: BTreeSet<String> = match (opts.expr, opts.select) {
        (Some(e), _) => m.expr(e, &mut warnings)?,
        (None, None) => dag
            .nodes()
            .filter(|n| wanted(n))
            .map(|n| n.unique_id.clone())
            .collect(),
        (None, Some(s)) => m.selection(s, &mut warnings)?,
    };
    let mut excluded = match opts.exclude {
        Some(e) => m.selection(e, &mut Vec::new())?,
        None => BTreeSet::new(),
    };
    // As in dbt, excluding a node excludes its tests too: under eager selection a test that
    // reads any excluded node, otherwise a test whose parents are all excluded.
    if !excluded.is_empty() && opts.indirect_selection != IndirectSelection::Empty {
        let tests: Vec<String> = dag
            .nodes()
            .filter(|n| n.resource_type == ResourceType::Test && !excluded.contains(&n.unique_id))
            .filter(|n| {
                let parents = dag.parents(&n.unique_id);
                match opts.indirect_selection {
                    IndirectSelection::Eager => parents.iter().any(|p| excluded.contains(*p)),
                    _ => !parents.is_empty() && parents.iter().all(|p| excluded.contains(*p)),
                }
            })
            .map(|n| n.unique_id.clone())
            .collect();
        excluded.extend(tests);
    }
    selected.retain(|id| !excluded.contains(id));
    // Indirect selection: tests of selected nodes come along.
    if opts.resource_types.contains(&ResourceType::Test)
        && opts.indirect_selection != IndirectSelection::Empty
        && (opts.select.is_some() || opts.expr.is_some())
    {
        let mut ancestors_of_selection: Option<BTreeSet<String>> = None;
        let mut extra = Vec::new();
        for n in dag.nodes() {
            if n.resource_type != ResourceType::Test || selected.contains(&n.unique_id) {
                continue;
            }
            let parents: Vec<&str> = dag.parents(&n.unique_id);
            if parents.is_empty() {
                continue;
            }
            let take = match opts.indirect_selection {
                IndirectSelection::Eager => parents.iter().any(|p| selected.contains(*p)),
                IndirectSelection::Cautious => parents.iter().all(|p| selected.contains(*p)),
                IndirectSelection::Buildable => {
                    let anc = ancestors_of_selection.get_or_insert_with(|| {
                        let mut a = BTreeSet::new();
                        for id in &selected {
                            a.extend(dag.ancestors(id, None));
                        }
                        a
                    });
                    parents.iter().any(|p| selected.contains(*p))
                        && parents
                            .iter()
                            .all(|p| selected.contains(*p) || anc.contains(*p))
                }
                IndirectSelection::Empty => false,
            };
            if take {
                extra.push(n.unique_id.clone());
            }
        }
        for id in extra {
            if !excluded.contains(&id) {
                selected.insert(id);
            }
        }
    }
    selected.retain(|id| dag.node(id).is_some_and(wanted));
    Ok(SelectResult { selected, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::node;

    fn dag() -> Dag {
        let mut t = node("test.p.not_null_b_id", &["model.p.b"]);
        t.test_kind = Some(TestKind::Generic);
        t.test_name = Some("not_null".into());
        let mut rel = node("test.p.relationships_c_a", &["model.p.c", "model.p.a"]);
        rel.test_kind = Some(TestKind::Generic);
        let mut tagged = node("model.p.c", &["model.p.b"]);
        tagged.config.set("tags", serde_json::json!(["nightly"]));
        tagged
            .config
            .set("materialized", serde_json::json!("table"));
        Dag::build(vec![
            node("model.p.a", &[]),
            node("model.p.b", &["model.p.a"]),
            tagged,
            node("model.p.d", &["model.p.c"]),
            node("model.p.x", &[]),
            t,
            rel,
        ])
        .unwrap()
    }

    fn sel(dag: &Dag, s: &str, types: &[ResourceType]) -> Vec<String> {
        let selection = Selection::parse(&[s.to_string()]).unwrap();
        select(
            dag,
            &SelectOptions {
                select: Some(&selection),
                exclude: None,
                expr: None,
                resource_types: types,
                state: None,
                previous_results: None,
                indirect_selection: IndirectSelection::Eager,
            },
        )
        .unwrap()
        .selected
        .into_iter()
        .map(|id| id.rsplit('.').next().unwrap().to_string())
        .collect()
    }

    const MODELS: &[ResourceType] = &[ResourceType::Model];

    #[test]
    fn excluding_a_node_excludes_its_tests() {
        let d = dag();
        let select_ = Selection::parse(&["+c".to_string()]).unwrap();
        let exclude = Selection::parse(&["c".to_string()]).unwrap();
        let types = [ResourceType::Model, ResourceType::Test];
        let run = |mode| {
            let got = select(
                &d,
                &SelectOptions {
                    select: Some(&select_),
                    exclude: Some(&exclude),
                    expr: None,
                    resource_types: &types,
                    state: None,
                    previous_results: None,
                    indirect_selection: mode,
                },
            )
            .unwrap()
            .selected;
            got.into_iter()
                .map(|id| id.rsplit('.').next().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        // relationships_c_a reads a and c: with c excluded it goes too, as in dbt.
        assert_eq!(
            run(IndirectSelection::Eager),
            vec!["a", "b", "not_null_b_id"]
        );
    }

    #[test]
    fn graph_operators() {
        let d = dag();
        assert_eq!(sel(&d, "+c", MODELS), vec!["a", "b", "c"]);
        assert_eq!(sel(&d, "b+", MODELS), vec!["b", "c", "d"]);
        assert_eq!(sel(&d, "b+1", MODELS), vec!["b", "c"]);
        assert_eq!(sel(&d, "1+c", MODELS), vec!["b", "c"]);
        assert_eq!(sel(&d, "@b", MODELS), vec!["a", "b", "c", "d"]);
        assert_eq!(sel(&d, "+tag:nightly+", MODELS), vec!["a", "b", "c", "d"]);
    }

    #[test]
    fn methods_union_and_intersection() {
        let d = dag();
        assert_eq!(sel(&d, "tag:nightly", MODELS), vec!["c"]);
        assert_eq!(sel(&d, "config.materialized:table", MODELS), vec!["c"]);
        assert_eq!(sel(&d, "a x", MODELS), vec!["a", "x"]);
        assert_eq!(sel(&d, "+d,tag:nightly", MODELS), vec!["c"]);
        assert_eq!(sel(&d, "path:models/a.sql", MODELS), vec!["a"]);
    }

    #[test]
    fn globs_paths_and_fqns_match_every_node_they_name() {
        let d = dag();
        let all = sel(&d, "*", MODELS);
        assert_eq!(all, vec!["a", "b", "c", "d", "x"]);
        assert_eq!(sel(&d, "path:models", MODELS), all);
        assert_eq!(sel(&d, "path:models/", MODELS), all);
        assert_eq!(sel(&d, "path:models/*.sql", MODELS), all);
        assert_eq!(sel(&d, "path:models/[ab].sql", MODELS), vec!["a", "b"]);
        // A folder is a whole path segment: `model` is not `models/`.
        assert!(sel(&d, "path:model", MODELS).is_empty());
        assert_eq!(sel(&d, "p.*", MODELS), all);
        assert_eq!(sel(&d, "fqn:p.c", MODELS), vec!["c"]);
        assert_eq!(sel(&d, "?", MODELS), all);
        assert_eq!(sel(&d, "package:p,tag:nightly", MODELS), vec!["c"]);
    }

    #[test]
    fn eager_and_cautious_tests() {
        let d = dag();
        let all = &[ResourceType::Model, ResourceType::Test];
        assert_eq!(sel(&d, "c", all), vec!["c", "relationships_c_a"]);
        let selection = Selection::parse(&["c".to_string()]).unwrap();
        let cautious = select(
            &d,
            &SelectOptions {
                select: Some(&selection),
                exclude: None,
                expr: None,
                resource_types: all,
                state: None,
                previous_results: None,
                indirect_selection: IndirectSelection::Cautious,
            },
        )
        .unwrap();
        assert_eq!(cautious.selected.len(), 1);
        assert_eq!(sel(&d, "test_name:not_null", all), vec!["not_null_b_id"]);
    }

    #[test]
    fn errors() {
        let e = Selection::parse(&["colour:red".to_string()]).unwrap_err();
        assert!(
            e.to_string().contains("unknown selector method `colour`"),
            "{e}"
        );
        let e = Selection::parse(&["a+x".to_string()]).unwrap_err();
        assert!(e.to_string().contains("not a number"), "{e}");
    }

    #[test]
    fn state_and_results() {
        let d = dag();
        let same = NodeState {
            old: true,
            modified: false,
            body: false,
            configs: false,
            relation: false,
            persisted_descriptions: false,
            macros: false,
            contract: false,
        };
        let changed = NodeState {
            modified: true,
            body: true,
            ..same
        };
        // c, d and x are not in the previous manifest: they are new.
        let state = BTreeMap::from([
            ("model.p.a".to_string(), same),
            ("model.p.b".to_string(), changed),
        ]);
        let results = BTreeMap::from([("model.p.x".to_string(), "error".to_string())]);
        let selection =
            Selection::parse(&["state:modified".to_string(), "result:error".to_string()]).unwrap();
        let r = select(
            &d,
            &SelectOptions {
                select: Some(&selection),
                exclude: None,
                expr: None,
                resource_types: MODELS,
                state: Some(&state),
                previous_results: Some(&results),
                indirect_selection: IndirectSelection::Eager,
            },
        )
        .unwrap();
        let names: Vec<&str> = r
            .selected
            .iter()
            .map(|s| s.rsplit('.').next().unwrap())
            .collect();
        assert_eq!(names, vec!["b", "c", "d", "x"]);
    }
}
