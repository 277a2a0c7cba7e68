//! Planning: the dependency graph over sources, seeds, models, snapshots, tests and analyses
//! ([`Dag`], built with petgraph), cycle errors that print the cycle, deterministic topological
//! order, and the node selection grammar ([`selector`]).

mod schedule;
pub mod selector;

pub use schedule::Schedule;

pub use selector::{
    IndirectSelection, NodeState, SelectExpr, SelectOptions, SelectResult, Selection, select,
};

use crate::error::{Diagnostic, Error, ErrorKind, Location, Result};
use crate::project::{Config, ResourceType};
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};

/// Kinds of tests, for the `test_type:` selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKind {
    /// Declared in YAML (`unique`, `not_null`, custom `{% test %}`).
    Generic,
    /// A `.sql` file in the test paths.
    Singular,
    /// A `unit_tests:` entry.
    Unit,
}

/// What the graph stage needs to know about one resource.
#[derive(Debug, Clone)]
pub struct GraphNode {
    /// `model.pkg.name`, `source.pkg.src.table`, ...
    pub unique_id: String,
    /// Resource type.
    pub resource_type: ResourceType,
    /// Name (table name for sources).
    pub name: String,
    /// Package.
    pub package_name: String,
    /// Fully qualified name.
    pub fqn: Vec<String>,
    /// Path relative to the project root, `/`-separated.
    pub original_file_path: String,
    /// Final config.
    pub config: Config,
    /// unique_ids of parents.
    pub depends_on: Vec<String>,
    /// For sources: the source's name.
    pub source_name: Option<String>,
    /// For tests: generic, singular or unit.
    pub test_kind: Option<TestKind>,
    /// For generic tests: the test's name (`not_null`).
    pub test_name: Option<String>,
    /// File named in errors.
    pub file: String,
    /// 1-based line named in errors.
    pub line: usize,
}

/// The dependency graph. Edges point from parent to child.
#[derive(Debug, Default)]
pub struct Dag {
    graph: DiGraph<usize, ()>,
    /// Sorted by unique_id; the graph's node `i` weighs `i`.
    nodes: Vec<GraphNode>,
}

impl Dag {
    /// Builds the graph; a cycle is an error that prints each cycle and the files involved.
    pub fn build(nodes: Vec<GraphNode>) -> Result<Dag> {
        let dag = Dag::unchecked(nodes);
        dag.check_cycles()?;
        Ok(dag)
    }

    /// Builds the graph of nodes whose edges are known to make no cycle: the edges of a graph
    /// built before with [`Dag::build`].
    pub fn unchecked(mut nodes: Vec<GraphNode>) -> Dag {
        nodes.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
        nodes.dedup_by(|a, b| a.unique_id == b.unique_id);
        let mut graph = DiGraph::with_capacity(nodes.len(), nodes.len() * 2);
        for i in 0..nodes.len() {
            graph.add_node(i);
        }
        let mut dag = Dag { graph, nodes };
        let mut edges = Vec::new();
        for (i, n) in dag.nodes.iter().enumerate() {
            let mut seen = BTreeSet::new();
            for dep in &n.depends_on {
                if let Some(parent) = dag.index(dep)
                    && seen.insert(dep)
                {
                    edges.push((parent, NodeIndex::new(i)));
                }
            }
        }
        dag.graph.extend_with_edges(edges);
        dag
    }

    /// The graph index of the node `id`. Nodes are sorted by unique_id and added to the graph
    /// in that order, so a node's index is its place in `nodes`.
    fn index(&self, id: &str) -> Option<NodeIndex> {
        let place = self
            .nodes
            .binary_search_by(|n| n.unique_id.as_str().cmp(id));
        place.ok().map(NodeIndex::new)
    }

    fn check_cycles(&self) -> Result<()> {
        let mut diags = Vec::new();
        for scc in petgraph::algo::tarjan_scc(&self.graph) {
            let is_cycle = scc.len() > 1
                || scc
                    .first()
                    .is_some_and(|n| self.graph.contains_edge(*n, *n));
            if !is_cycle {
                continue;
            }
            let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
            let start = *scc
                .iter()
                .min_by_key(|ix| &self.nodes[self.graph[**ix]].unique_id)
                .unwrap_or(&scc[0]);
            let path = self.cycle_path(start, &members);
            let names: Vec<&str> = path
                .iter()
                .map(|ix| self.nodes[self.graph[*ix]].name.as_str())
                .collect();
            let mut shown = names.clone();
            shown.push(names[0]);
            let files: Vec<String> = path
                .iter()
                .map(|ix| {
                    let n = &self.nodes[self.graph[*ix]];
                    format!("{}:{}", n.file, n.line)
                })
                .collect();
            let first = &self.nodes[self.graph[path[0]]];
            diags.push(
                Diagnostic::new(
                    ErrorKind::Cycle,
                    format!(
                        "dependency cycle: {} (files: {})",
                        shown.join(" -> "),
                        files.join(", ")
                    ),
                )
                .at(Location::file(first.file.clone()))
                .with_hint("remove one of these refs so the models no longer depend on each other"),
            );
        }
        match Error::from_diagnostics(diags) {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// A cycle through `start` inside one strongly connected component, in edge order.
    fn cycle_path(&self, start: NodeIndex, members: &BTreeSet<NodeIndex>) -> Vec<NodeIndex> {
        // Breadth-first search from start's children back to start gives the shortest cycle.
        let mut prev: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = VecDeque::new();
        let sorted_children = |ix: NodeIndex| {
            let mut c: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(ix, Direction::Outgoing)
                .filter(|n| members.contains(n))
                .collect();
            c.sort_by_key(|n| self.nodes[self.graph[*n]].unique_id.clone());
            c
        };
        for c in sorted_children(start) {
            if c == start {
                return vec![start];
            }
            if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(c) {
                e.insert(start);
                queue.push_back(c);
            }
        }
        while let Some(cur) = queue.pop_front() {
            for c in sorted_children(cur) {
                if c == start {
                    let mut path = vec![cur];
                    let mut at = cur;
                    while let Some(p) = prev.get(&at) {
                        if *p == start {
                            break;
                        }
                        path.push(*p);
                        at = *p;
                    }
                    path.push(start);
                    path.reverse();
                    return path;
                }
                if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(c) {
                    e.insert(cur);
                    queue.push_back(c);
                }
            }
        }
        vec![start]
    }

    /// The node with this unique_id.
    pub fn node(&self, id: &str) -> Option<&GraphNode> {
        self.index(id).map(|ix| &self.nodes[self.graph[ix]])
    }

    /// Every node, in unique_id order.
    pub fn nodes(&self) -> impl Iterator<Item = &GraphNode> {
        self.nodes.iter()
    }

    fn neighbors(&self, id: &str, dir: Direction) -> Vec<&str> {
        let Some(ix) = self.index(id) else {
            return Vec::new();
        };
        let mut out: Vec<&str> = self
            .graph
            .neighbors_directed(ix, dir)
            .map(|n| self.nodes[self.graph[n]].unique_id.as_str())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Direct parents, sorted.
    pub fn parents(&self, id: &str) -> Vec<&str> {
        self.neighbors(id, Direction::Incoming)
    }

    /// Direct children, sorted.
    pub fn children(&self, id: &str) -> Vec<&str> {
        self.neighbors(id, Direction::Outgoing)
    }

    fn walk(&self, id: &str, depth: Option<usize>, dir: Direction) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let Some(start) = self.index(id) else {
            return out;
        };
        let mut seen: HashMap<NodeIndex, usize> = HashMap::new();
        let mut queue = VecDeque::from([(start, 0usize)]);
        while let Some((ix, d)) = queue.pop_front() {
            if depth.is_some_and(|max| d >= max) {
                continue;
            }
            for n in self.graph.neighbors_directed(ix, dir) {
                if seen.get(&n).is_some_and(|prev| *prev <= d + 1) {
                    continue;
                }
                seen.insert(n, d + 1);
                out.insert(self.nodes[self.graph[n]].unique_id.clone());
                queue.push_back((n, d + 1));
            }
        }
        out.remove(id);
        out
    }

    /// Ancestors up to `depth` generations (None = all), excluding `id`.
    pub fn ancestors(&self, id: &str, depth: Option<usize>) -> BTreeSet<String> {
        self.walk(id, depth, Direction::Incoming)
    }

    /// Descendants up to `depth` generations (None = all), excluding `id`.
    pub fn descendants(&self, id: &str, depth: Option<usize>) -> BTreeSet<String> {
        self.walk(id, depth, Direction::Outgoing)
    }

    /// Topological order of `subset` (or all nodes), ties broken by unique_id.
    pub fn topo_order(&self, subset: Option<&BTreeSet<String>>) -> Vec<String> {
        let included = |ix: NodeIndex| match subset {
            None => true,
            Some(s) => s.contains(&self.nodes[self.graph[ix]].unique_id),
        };
        let mut indegree: HashMap<NodeIndex, usize> = HashMap::new();
        let mut heap = BinaryHeap::new();
        for ix in self.graph.node_indices() {
            if !included(ix) {
                continue;
            }
            let d = self
                .graph
                .neighbors_directed(ix, Direction::Incoming)
                .filter(|p| included(*p))
                .count();
            indegree.insert(ix, d);
            if d == 0 {
                heap.push(Reverse((self.nodes[self.graph[ix]].unique_id.clone(), ix)));
            }
        }
        let mut out = Vec::with_capacity(indegree.len());
        while let Some(Reverse((id, ix))) = heap.pop() {
            out.push(id);
            for c in self.graph.neighbors_directed(ix, Direction::Outgoing) {
                if let Some(d) = indegree.get_mut(&c) {
                    *d -= 1;
                    if *d == 0 {
                        heap.push(Reverse((self.nodes[self.graph[c]].unique_id.clone(), c)));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A graph node for tests.
    pub fn node(id: &str, deps: &[&str]) -> GraphNode {
        let mut parts = id.split('.');
        let rt =
            ResourceType::parse(parts.next().unwrap_or("model")).unwrap_or(ResourceType::Model);
        let name = id.rsplit('.').next().unwrap_or(id).to_string();
        GraphNode {
            unique_id: id.to_string(),
            resource_type: rt,
            name: name.clone(),
            package_name: "p".into(),
            fqn: vec!["p".into(), name.clone()],
            original_file_path: format!("models/{name}.sql"),
            config: Config::new(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            source_name: None,
            test_kind: None,
            test_name: None,
            file: format!("models/{name}.sql"),
            line: 1,
        }
    }

    #[test]
    fn cycle_is_printed_with_files() {
        let e = Dag::build(vec![
            node("model.p.a", &["model.p.c"]),
            node("model.p.b", &["model.p.a"]),
            node("model.p.c", &["model.p.b"]),
            node("model.p.d", &[]),
        ])
        .unwrap_err();
        assert_eq!(
            e.diagnostics()[0].message,
            "dependency cycle: a -> b -> c -> a (files: models/a.sql:1, models/b.sql:1, models/c.sql:1)"
        );
    }

    #[test]
    fn topo_order_is_deterministic_and_depth_walks_work() {
        let dag = Dag::build(vec![
            node("model.p.c", &["model.p.b"]),
            node("model.p.b", &["model.p.a"]),
            node("model.p.a", &[]),
            node("model.p.z", &[]),
        ])
        .unwrap();
        assert_eq!(
            dag.topo_order(None),
            vec!["model.p.a", "model.p.b", "model.p.c", "model.p.z"]
        );
        assert_eq!(
            dag.descendants("model.p.a", Some(1)),
            BTreeSet::from(["model.p.b".to_string()])
        );
        assert_eq!(dag.ancestors("model.p.c", None).len(), 2);
    }
}
