//! The data files of the docs site (Kiln's own, under `target/docs/`): an index the page loads
//! first (every node with what search and the lineage graph need), node details in shards the
//! page loads on demand, and the run timeline. Their shapes are defined here (invariant 3);
//! [`crate::docs`] fills them.

use super::write_file;
use crate::error::Result;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Nodes per details shard: small enough that opening a page loads little, few enough that a
/// 10,000-model project writes a few dozen files.
pub const SHARD_SIZE: usize = 250;

/// What the page loads first.
#[derive(Debug, Clone, Serialize, Default)]
pub struct DocsIndex {
    /// Root project name.
    pub project: String,
    /// Adapter type of the target.
    pub adapter: String,
    /// Target name.
    pub target: String,
    /// When the site was generated.
    pub generated_at: String,
    /// Nodes per details shard (`details-<n>.json` holds nodes `n*size .. (n+1)*size`).
    pub shard_size: usize,
    /// Every node, source, macro and test, in a stable order.
    pub nodes: Vec<IndexNode>,
    /// Whether `timeline.json` has a run to show.
    pub has_timeline: bool,
}

/// Test statuses of a node's tests, from the last run.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct TestCounts {
    /// Passed.
    pub pass: u32,
    /// Failed at severity error.
    pub fail: u32,
    /// Failed at severity warn.
    pub warn: u32,
    /// Errored or skipped.
    pub error: u32,
    /// Not run in the last run.
    pub unknown: u32,
}

/// One node in the index.
#[derive(Debug, Clone, Serialize)]
pub struct IndexNode {
    /// unique_id.
    pub id: String,
    /// Name (the table name for sources).
    pub name: String,
    /// `model`, `seed`, `snapshot`, `test`, `source`, `analysis`, `macro`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Package.
    pub package: String,
    /// File, relative to the project (or package) root.
    pub path: String,
    /// Schema of its relation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The relation as SQL names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    /// Materialization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub materialized: Option<String>,
    /// For sources: the source's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The description as plain text (shortened), for search and lists.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Column names, for search.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// Indexes (into `nodes`) of its parents in the lineage graph.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<u32>,
    /// For tests: the index of the node it tests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tests_node: Option<u32>,
    /// Its tests' statuses, for the badges on lineage nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_counts: Option<TestCounts>,
    /// Its own status in the last run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// A node's page.
#[derive(Debug, Clone, Serialize, Default)]
pub struct NodeDetail {
    /// unique_id.
    pub id: String,
    /// The description, Markdown rendered to HTML, docs blocks resolved.
    pub description_html: String,
    /// Columns: documented, from the warehouse, and inferred from the SQL.
    pub columns: Vec<ColumnDetail>,
    /// The template as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_code: Option<String>,
    /// The SQL as compiled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compiled_code: Option<String>,
    /// Final config.
    pub config: Value,
    /// unique_ids of parents.
    pub depends_on: Vec<String>,
    /// unique_ids of children.
    pub referenced_by: Vec<String>,
    /// unique_ids of macros called (or, for a macro, of the nodes calling it).
    pub macros: Vec<String>,
    /// Column lineage: output column → the upstream columns it comes from.
    pub lineage: BTreeMap<String, Vec<LineageEdge>>,
    /// What the warehouse says about the relation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogInfo>,
    /// The last run's outcome for this node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
    /// Facts of one resource type (a source's loader and freshness, a test's arguments, a
    /// macro's arguments), shown as a table.
    pub facts: BTreeMap<String, Value>,
}

/// One column on a node's page.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ColumnDetail {
    /// Column name.
    pub name: String,
    /// Type from the warehouse, else the declared type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    /// Description as HTML.
    pub description_html: String,
    /// Tests on the column.
    pub tests: Vec<ColumnTest>,
}

/// A test on a column, with its last status.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnTest {
    /// The test's unique_id.
    pub id: String,
    /// Short name (`unique`, `accepted_values`).
    pub name: String,
    /// Last status, if it ran in the last run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One upstream column of a column.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LineageEdge {
    /// The upstream node, when the relation is one of the project's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The upstream relation as the SQL names it.
    pub relation: String,
    /// The upstream column.
    pub column: String,
    /// `passthrough`, `rename`, `expression` or `aggregate`.
    pub kind: String,
}

/// Catalog facts shown on a page.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogInfo {
    /// `BASE TABLE`, `VIEW`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_count: Option<u64>,
}

/// A node's outcome in the last run.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    /// Status.
    pub status: String,
    /// Message.
    pub message: String,
    /// Seconds.
    pub execution_time: f64,
}

/// The run timeline.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Timeline {
    /// The command that ran.
    pub command: String,
    /// Seconds from the first start to the last end.
    pub elapsed: f64,
    /// Worker names, one lane each.
    pub workers: Vec<String>,
    /// Each node's bar.
    pub entries: Vec<TimelineEntry>,
    /// unique_ids on the critical path, first to last.
    pub critical_path: Vec<String>,
    /// Critical-path nodes, longest first.
    pub held_back: Vec<HeldBack>,
}

/// One bar of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    /// unique_id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Status.
    pub status: String,
    /// Lane (index into `workers`).
    pub worker: usize,
    /// Seconds after the run started.
    pub start: f64,
    /// Seconds after the run started.
    pub end: f64,
    /// On the critical path.
    pub critical: bool,
}

/// A node that held the run back.
#[derive(Debug, Clone, Serialize)]
pub struct HeldBack {
    /// unique_id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Seconds it ran.
    pub duration: f64,
    /// Its share of the run's elapsed time.
    pub share: f64,
}

/// Everything the site reads.
#[derive(Debug, Clone, Default)]
pub struct SiteData {
    /// The index.
    pub index: DocsIndex,
    /// The details shards, each serialized by [`shard_json`], in index order.
    pub shards: Vec<Vec<u8>>,
    /// The timeline.
    pub timeline: Timeline,
}

/// A details shard as the page reads it: unique_id → details of the shard's nodes.
pub fn shard_json(details: &[NodeDetail]) -> Vec<u8> {
    let shard: BTreeMap<&str, &NodeDetail> = details.iter().map(|d| (d.id.as_str(), d)).collect();
    serde_json::to_vec(&shard).unwrap_or_default()
}

impl SiteData {
    /// The data inlined into one HTML file: `{"index": ..., "shards": [...], "timeline": ...}`.
    pub fn inline_json(&self) -> String {
        let mut out = String::from("{\"index\":");
        out.push_str(&serde_json::to_string(&self.index).unwrap_or_default());
        out.push_str(",\"shards\":[");
        for (i, shard) in self.shards.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&String::from_utf8_lossy(shard));
        }
        out.push_str("],\"timeline\":");
        out.push_str(&serde_json::to_string(&self.timeline).unwrap_or_default());
        out.push('}');
        out
    }

    /// Writes `index.json`, `details-<n>.json` and `timeline.json` into `dir`, removing shards
    /// of an earlier, larger site.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let (index, written) = rayon::join(
            || write_file(&dir.join("index.json"), &json_bytes(&self.index)),
            || {
                use rayon::prelude::*;
                self.shards
                    .par_iter()
                    .enumerate()
                    .map(|(i, shard)| {
                        let path = dir.join(format!("details-{i}.json"));
                        super::write_pieces(&path, &[shard.as_slice(), b"\n"])
                    })
                    .collect::<Vec<Result<()>>>()
            },
        );
        index?;
        for w in written {
            w?;
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let stale = name
                    .strip_prefix("details-")
                    .and_then(|r| r.strip_suffix(".json"))
                    .and_then(|n| n.parse::<usize>().ok())
                    .is_some_and(|n| n >= self.shards.len());
                if stale {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        write_file(&dir.join("timeline.json"), &json_bytes(&self.timeline))
    }
}

/// Compact JSON with a final newline, straight from the typed data (no intermediate tree).
/// Map keys are sorted (`BTreeMap`), struct fields keep their declared order.
fn json_bytes(value: &impl Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec(value).unwrap_or_default();
    out.push(b'\n');
    out
}
