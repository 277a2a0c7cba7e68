//! The order a run starts its nodes in. A node is ready once every parent it waits for has
//! finished; among ready nodes, the one first in the run's order starts first, so output is
//! stable from run to run. Pure: the executor asks it what to start next and tells it what
//! finished.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

/// Ready and waiting nodes of one run.
#[derive(Debug, Default)]
pub struct Schedule {
    /// Position of each node in the run's order.
    rank: HashMap<String, usize>,
    /// Ready nodes by rank (the smallest first).
    ready: BinaryHeap<Reverse<usize>>,
    /// The nodes in the run's order, to turn a rank back into a node.
    nodes: Vec<String>,
    /// How many parents each node still waits for.
    waiting: Vec<usize>,
    /// The nodes that wait for each node, by rank.
    children: Vec<Vec<usize>>,
}

impl Schedule {
    /// A schedule for `nodes`, in the order they should start when several are ready.
    /// `parents` maps a node to the nodes it waits for; parents outside `nodes` are ignored.
    pub fn new(nodes: &[String], parents: &HashMap<String, BTreeSet<String>>) -> Schedule {
        let rank: HashMap<String, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let mut waiting = vec![0; nodes.len()];
        let mut children = vec![Vec::new(); nodes.len()];
        for (i, id) in nodes.iter().enumerate() {
            for p in parents.get(id).into_iter().flatten() {
                if let Some(&pi) = rank.get(p) {
                    waiting[i] += 1;
                    children[pi].push(i);
                }
            }
        }
        let ready = (0..nodes.len())
            .filter(|i| waiting[*i] == 0)
            .map(Reverse)
            .collect();
        Schedule {
            rank,
            ready,
            nodes: nodes.to_vec(),
            waiting,
            children,
        }
    }

    /// The ready node to start next, taken off the ready set.
    pub fn next_ready(&mut self) -> Option<String> {
        let Reverse(i) = self.ready.pop()?;
        Some(self.nodes[i].clone())
    }

    /// The nodes that wait for `id`, in the run's order.
    pub fn children(&self, id: &str) -> Vec<String> {
        let Some(&i) = self.rank.get(id) else {
            return Vec::new();
        };
        let mut ranks = self.children[i].clone();
        ranks.sort_unstable();
        ranks.into_iter().map(|c| self.nodes[c].clone()).collect()
    }

    /// Notes that one parent `child` waits for has succeeded; once none is left, `child` is
    /// ready.
    pub fn release(&mut self, child: &str) {
        let Some(&i) = self.rank.get(child) else {
            return;
        };
        if self.waiting[i] > 0 {
            self.waiting[i] -= 1;
            if self.waiting[i] == 0 {
                self.ready.push(Reverse(i));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parents(edges: &[(&str, &[&str])]) -> HashMap<String, BTreeSet<String>> {
        edges
            .iter()
            .map(|(id, ps)| (id.to_string(), ps.iter().map(|p| p.to_string()).collect()))
            .collect()
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ready_nodes_start_in_run_order_and_children_wait_for_every_parent() {
        let nodes = ids(&["a", "b", "c", "d", "e"]);
        let ps = parents(&[("c", &["a", "b"]), ("d", &["a"]), ("e", &["c", "outside"])]);
        let mut s = Schedule::new(&nodes, &ps);
        assert_eq!(s.next_ready().as_deref(), Some("a"));
        assert_eq!(s.next_ready().as_deref(), Some("b"));
        assert_eq!(s.next_ready(), None);
        assert_eq!(s.children("a"), ids(&["c", "d"]));
        for child in s.children("a") {
            s.release(&child);
        }
        // d is ready; c still waits for b.
        assert_eq!(s.next_ready().as_deref(), Some("d"));
        assert_eq!(s.next_ready(), None);
        s.release("c");
        // The parent outside the run is not waited for.
        assert_eq!(s.next_ready().as_deref(), Some("c"));
        s.release("e");
        assert_eq!(s.next_ready().as_deref(), Some("e"));
        assert_eq!(s.next_ready(), None);
    }

    #[test]
    fn among_ready_nodes_the_earliest_in_order_goes_first() {
        let nodes = ids(&["x", "y", "z", "w"]);
        let ps = parents(&[("y", &["w"]), ("z", &["w"])]);
        let mut s = Schedule::new(&nodes, &ps);
        assert_eq!(s.next_ready().as_deref(), Some("x"));
        assert_eq!(s.next_ready().as_deref(), Some("w"));
        s.release("z");
        s.release("y");
        assert_eq!(s.next_ready().as_deref(), Some("y"));
        assert_eq!(s.next_ready().as_deref(), Some("z"));
        // Releasing a node that waits for nothing more changes nothing.
        s.release("y");
        assert_eq!(s.next_ready(), None);
    }
}
