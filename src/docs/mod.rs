//! Publishing: the docs site. [`site_data`] turns the compiled manifest, the warehouse catalog
//! and the last run's results into the site's data (shapes in [`crate::artifacts::docs`]);
//! [`write_site`] writes the page and its embedded front-end assets into the target path;
//! [`server`] serves it. Everything the page needs ships inside the binary ([`assets`]).
//!
//! Nothing here queries the database: the CLI reads the catalog through the adapter and hands
//! it over.

pub mod assets;
pub mod server;
pub mod timeline;

use crate::adapter::CatalogTable;
use crate::artifacts::docs::{
    CatalogInfo, ColumnDetail, ColumnTest, DocsIndex, IndexNode, LastRun, LineageEdge, NodeDetail,
    SHARD_SIZE, SiteData, TestCounts,
};
use crate::compile::{Manifest, ManifestNode};
use crate::error::Result;
use crate::project::{Column, ResourceType};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Markdown to HTML, as descriptions are written (tables and strikethrough included).
pub fn markdown(text: &str) -> String {
    use pulldown_cmark::{Options, Parser, html};
    let mut out = String::new();
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    html::push_html(&mut out, Parser::new_ext(text, opts));
    out
}

/// A description as one line of plain text (for search and lists), at most `max` characters.
fn plain(text: &str, max: usize) -> String {
    let marks: String = text
        .chars()
        .filter(|c| !matches!(c, '*' | '`' | '#'))
        .collect();
    let flat = marks.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

/// The node a test tests: its first parent that is not a source, unless it tests a source.
pub fn attached_node(mn: &ManifestNode) -> Option<&str> {
    let on_source = matches!(
        mn.node.test_metadata.as_ref().map(|t| &t.target),
        Some(crate::project::TestTarget::Source { .. })
    );
    mn.depends_on
        .iter()
        .find(|d| on_source || !d.starts_with("source."))
        .map(String::as_str)
}

/// The last run's result for each node, from `run_results.json`.
#[derive(Debug, Clone, Default)]
pub struct LastResults {
    by_id: BTreeMap<String, LastRun>,
    run: Option<timeline::RunFile>,
}

impl LastResults {
    /// Reads a parsed `run_results.json`.
    pub fn from_json(v: &Value) -> LastResults {
        let by_id = v
            .get("results")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .filter_map(|r| {
                        Some((
                            r.get("unique_id")?.as_str()?.to_string(),
                            LastRun {
                                status: r.get("status")?.as_str()?.to_string(),
                                message: r
                                    .get("message")
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                                    .to_string(),
                                execution_time: r
                                    .get("execution_time")
                                    .and_then(Value::as_f64)
                                    .unwrap_or(0.0),
                            },
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        LastResults {
            by_id,
            run: timeline::read_run_results(v),
        }
    }

    fn status(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(|r| r.status.as_str())
    }
}

/// What one site entry is: a node of the manifest, a source or a macro.
enum Entry<'a> {
    Node(&'a ManifestNode),
    Source(&'a crate::project::Source),
    Macro(&'a crate::project::Macro),
}

/// Builds the site's data.
pub fn site_data(manifest: &Manifest, catalog: &[CatalogTable], last: &LastResults) -> SiteData {
    let project = &manifest.project;
    let mut entries: Vec<(&str, Entry)> = Vec::new();
    entries.extend(
        manifest
            .nodes
            .iter()
            .map(|(id, mn)| (id.as_str(), Entry::Node(mn))),
    );
    entries.extend(
        project
            .sources
            .iter()
            .map(|(id, s)| (id.as_str(), Entry::Source(s))),
    );
    entries.extend(
        project
            .macros
            .iter()
            .map(|(id, m)| (id.as_str(), Entry::Macro(m))),
    );
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let position: HashMap<&str, u32> = entries
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i as u32))
        .collect();

    // Relations by their normalised name, for column lineage.
    let mut by_relation: HashMap<String, String> = HashMap::new();
    for (id, mn) in &manifest.nodes {
        if let Some(rel) = &mn.relation {
            let mut rel = rel.clone();
            if mn.is_ephemeral() {
                rel.kind = crate::template::RelationKind::Cte;
            }
            by_relation.insert(rel.normalized().to_lowercase(), id.clone());
        }
    }
    for (id, rel) in &manifest.source_relations {
        by_relation.insert(rel.normalized().to_lowercase(), id.clone());
    }
    let catalog_of = catalog_lookup(manifest, catalog);

    // Tests by the node they test, and callers by macro.
    let mut tests_of: HashMap<&str, Vec<&ManifestNode>> = HashMap::new();
    let mut callers: HashMap<&str, Vec<String>> = HashMap::new();
    for mn in manifest.nodes.values() {
        if mn.node.resource_type == ResourceType::Test
            && let Some(t) = attached_node(mn)
        {
            tests_of.entry(t).or_default().push(mn);
        }
        for m in &mn.depends_on_macros {
            callers
                .entry(m.as_str())
                .or_default()
                .push(mn.node.unique_id.clone());
        }
    }

    let ctx = Builder {
        manifest,
        last,
        position: &position,
        by_relation: &by_relation,
        catalog_of: &catalog_of,
        tests_of: &tests_of,
        callers: &callers,
    };
    // Each shard's details are serialized as soon as they are built, in parallel, so the
    // details of a large project are never all in memory at once.
    let built: Vec<(Vec<IndexNode>, Vec<u8>)> = {
        use rayon::prelude::*;
        entries
            .par_chunks(SHARD_SIZE)
            .map(|chunk| {
                let (nodes, details): (Vec<IndexNode>, Vec<NodeDetail>) =
                    chunk.iter().map(|(id, entry)| ctx.entry(id, entry)).unzip();
                (nodes, crate::artifacts::docs::shard_json(&details))
            })
            .collect()
    };
    let mut nodes = Vec::with_capacity(entries.len());
    let mut shards = Vec::with_capacity(built.len());
    for (n, shard) in built {
        nodes.extend(n);
        shards.push(shard);
    }
    let timeline = match &last.run {
        Some(run) => timeline::build(
            run,
            &|id: &str| {
                manifest
                    .dag()
                    .parents(id)
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            },
            &|id: &str| {
                manifest
                    .dag()
                    .node(id)
                    .map(|n| n.name.clone())
                    .unwrap_or_else(|| id.to_string())
            },
        ),
        None => Default::default(),
    };
    SiteData {
        index: DocsIndex {
            project: project.name().to_string(),
            adapter: manifest.dialect.adapter_type().to_string(),
            target: manifest.target.name.clone(),
            generated_at: crate::artifacts::now(),
            shard_size: SHARD_SIZE,
            nodes,
            has_timeline: !timeline.entries.is_empty(),
        },
        shards,
        timeline,
    }
}

/// Catalog entries by the unique_id of the node or source whose relation they describe.
fn catalog_lookup<'a>(
    manifest: &Manifest,
    catalog: &'a [CatalogTable],
) -> HashMap<String, &'a CatalogTable> {
    let by_name: HashMap<(String, String), &CatalogTable> = catalog
        .iter()
        .map(|t| ((t.schema.to_lowercase(), t.name.to_lowercase()), t))
        .collect();
    let find = |schema: &str, name: &str| {
        by_name
            .get(&(schema.to_lowercase(), name.to_lowercase()))
            .copied()
    };
    let mut out = HashMap::new();
    for (id, mn) in &manifest.nodes {
        if mn.is_ephemeral() || mn.node.resource_type == ResourceType::Test {
            continue;
        }
        if let Some(rel) = &mn.relation
            && let Some(t) = find(&rel.schema, &rel.identifier)
        {
            out.insert(id.clone(), t);
        }
    }
    for (id, rel) in &manifest.source_relations {
        if let Some(t) = find(&rel.schema, &rel.identifier) {
            out.insert(id.clone(), t);
        }
    }
    out
}

/// Shared lookups while building entries.
struct Builder<'a> {
    manifest: &'a Manifest,
    last: &'a LastResults,
    position: &'a HashMap<&'a str, u32>,
    by_relation: &'a HashMap<String, String>,
    catalog_of: &'a HashMap<String, &'a CatalogTable>,
    tests_of: &'a HashMap<&'a str, Vec<&'a ManifestNode>>,
    callers: &'a HashMap<&'a str, Vec<String>>,
}

impl Builder<'_> {
    fn describe(&self, text: &str) -> (String, String) {
        let text = self.manifest.renderer().render_description(text);
        (markdown(&text), plain(&text, 300))
    }

    fn parents(&self, id: &str) -> Vec<u32> {
        self.manifest
            .dag()
            .parents(id)
            .iter()
            .filter_map(|p| self.position.get(p).copied())
            .collect()
    }

    fn test_counts(&self, id: &str) -> Option<TestCounts> {
        let tests = self.tests_of.get(id)?;
        let mut c = TestCounts::default();
        for t in tests {
            match self.last.status(&t.node.unique_id) {
                Some("pass") => c.pass += 1,
                Some("fail") => c.fail += 1,
                Some("warn") => c.warn += 1,
                Some(_) => c.error += 1,
                None => c.unknown += 1,
            }
        }
        Some(c)
    }

    fn entry(&self, id: &str, entry: &Entry) -> (IndexNode, NodeDetail) {
        match entry {
            Entry::Node(mn) => self.node(id, mn),
            Entry::Source(s) => self.source(id, s),
            Entry::Macro(m) => self.macro_entry(id, m),
        }
    }

    fn columns(
        &self,
        id: &str,
        documented: &[Column],
        inferred: Option<&Vec<String>>,
    ) -> Vec<ColumnDetail> {
        let catalog = self.catalog_of.get(id);
        let mut out: Vec<ColumnDetail> = Vec::new();
        let add = |name: &str, out: &mut Vec<ColumnDetail>| -> usize {
            match out.iter().position(|c| c.name.eq_ignore_ascii_case(name)) {
                Some(i) => i,
                None => {
                    out.push(ColumnDetail {
                        name: name.to_string(),
                        ..Default::default()
                    });
                    out.len() - 1
                }
            }
        };
        if let Some(t) = catalog {
            for c in &t.columns {
                let i = add(&c.name, &mut out);
                out[i].data_type = Some(c.data_type.clone());
            }
        }
        for c in documented {
            let i = add(&c.name, &mut out);
            out[i].description_html = self.describe(&c.description).0;
            if out[i].data_type.is_none() {
                out[i].data_type = c.data_type.clone();
            }
        }
        if catalog.is_none() {
            for c in inferred.into_iter().flatten() {
                add(c, &mut out);
            }
        }
        for t in self.tests_of.get(id).into_iter().flatten() {
            let Some(tm) = &t.node.test_metadata else {
                continue;
            };
            let Some(col) = &tm.column_name else { continue };
            let i = add(col, &mut out);
            out[i].tests.push(ColumnTest {
                id: t.node.unique_id.clone(),
                name: tm.name.clone(),
                status: self.last.status(&t.node.unique_id).map(str::to_string),
            });
        }
        out
    }

    fn lineage(&self, mn: &ManifestNode) -> BTreeMap<String, Vec<LineageEdge>> {
        mn.lineage
            .iter()
            .map(|(col, sources)| {
                let edges = sources
                    .iter()
                    .map(|s| LineageEdge {
                        node: self.by_relation.get(&s.relation.to_lowercase()).cloned(),
                        relation: s.relation.clone(),
                        column: s.column.clone(),
                        kind: s.kind.as_str().to_string(),
                    })
                    .collect();
                (col.clone(), edges)
            })
            .collect()
    }

    fn catalog_info(&self, id: &str) -> Option<CatalogInfo> {
        self.catalog_of.get(id).map(|t| CatalogInfo {
            kind: t.kind.clone(),
            owner: t.owner.clone(),
            comment: t.comment.clone(),
            row_count: t.row_count,
        })
    }

    fn children(&self, id: &str) -> Vec<String> {
        self.manifest
            .dag()
            .children(id)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    fn node(&self, id: &str, mn: &ManifestNode) -> (IndexNode, NodeDetail) {
        let n = &mn.node;
        let (html, text) = self.describe(&n.description);
        let relation = mn.relation.as_ref().filter(|_| !mn.is_ephemeral());
        let is_test = n.resource_type == ResourceType::Test;
        let mut facts = BTreeMap::new();
        if let Some(tm) = &n.test_metadata {
            facts.insert("test".to_string(), json!(tm.name));
            if let Some(c) = &tm.column_name {
                facts.insert("column".to_string(), json!(c));
            }
            let args: BTreeMap<&String, &Value> = tm
                .kwargs
                .iter()
                .filter(|(k, _)| *k != "column_name" && *k != "model")
                .collect();
            if !args.is_empty() {
                facts.insert("arguments".to_string(), json!(args));
            }
        }
        let documented_columns = self.columns(id, &n.columns, mn.inferred_columns.as_ref());
        let index = IndexNode {
            id: id.to_string(),
            name: n.name.clone(),
            resource_type: n.resource_type.as_str().to_string(),
            package: n.package_name.clone(),
            path: n.original_file_path.clone(),
            schema: relation.map(|r| r.schema.clone()),
            relation: relation.map(|r| r.render()),
            materialized: (!is_test).then(|| mn.materialized().to_string()),
            source_name: None,
            tags: n.config.tags(),
            description: text,
            columns: documented_columns.iter().map(|c| c.name.clone()).collect(),
            parents: self.parents(id),
            tests_node: if is_test {
                attached_node(mn).and_then(|a| self.position.get(a).copied())
            } else {
                None
            },
            test_counts: self.test_counts(id),
            status: self.last.status(id).map(str::to_string),
        };
        let detail = NodeDetail {
            id: id.to_string(),
            description_html: html,
            columns: documented_columns,
            raw_code: (n.resource_type != ResourceType::Seed).then(|| n.raw_code.clone()),
            compiled_code: mn.compiled_sql.clone(),
            config: serde_json::to_value(&n.config).unwrap_or_default(),
            depends_on: mn.depends_on.clone(),
            referenced_by: self.children(id),
            macros: mn.depends_on_macros.clone(),
            lineage: self.lineage(mn),
            catalog: self.catalog_info(id),
            last_run: self.last.by_id.get(id).cloned(),
            facts,
        };
        (index, detail)
    }

    fn source(&self, id: &str, s: &crate::project::Source) -> (IndexNode, NodeDetail) {
        let (html, text) = self.describe(&s.description);
        let rel = self.manifest.source_relations.get(id);
        let columns = self.columns(id, &s.columns, None);
        let mut facts = BTreeMap::new();
        facts.insert("source".to_string(), json!(s.source_name));
        if !s.loader.is_empty() {
            facts.insert("loader".to_string(), json!(s.loader));
        }
        if let Some(f) = &s.loaded_at_field {
            facts.insert("loaded_at_field".to_string(), json!(f));
        }
        if let Some(f) = &s.freshness {
            facts.insert(
                "freshness".to_string(),
                serde_json::to_value(f).unwrap_or_default(),
            );
        }
        let source_html = self.describe(&s.source_description).0;
        if !source_html.is_empty() {
            facts.insert("source_description_html".to_string(), json!(source_html));
        }
        let index = IndexNode {
            id: id.to_string(),
            name: s.name.clone(),
            resource_type: "source".to_string(),
            package: s.package_name.clone(),
            path: s.original_file_path.clone(),
            schema: rel.map(|r| r.schema.clone()),
            relation: rel.map(|r| r.render()),
            materialized: None,
            source_name: Some(s.source_name.clone()),
            tags: s.config.tags(),
            description: text,
            columns: columns.iter().map(|c| c.name.clone()).collect(),
            parents: self.parents(id),
            tests_node: None,
            test_counts: self.test_counts(id),
            status: None,
        };
        let detail = NodeDetail {
            id: id.to_string(),
            description_html: html,
            columns,
            config: serde_json::to_value(&s.config).unwrap_or_default(),
            referenced_by: self.children(id),
            catalog: self.catalog_info(id),
            facts,
            ..Default::default()
        };
        (index, detail)
    }

    fn macro_entry(&self, id: &str, m: &crate::project::Macro) -> (IndexNode, NodeDetail) {
        let (html, text) = self.describe(&m.description);
        let mut facts = BTreeMap::new();
        facts.insert("arguments".to_string(), json!(m.arguments));
        let index = IndexNode {
            id: id.to_string(),
            name: m.name.clone(),
            resource_type: "macro".to_string(),
            package: m.package_name.clone(),
            path: m.original_file_path.clone(),
            schema: None,
            relation: None,
            materialized: None,
            source_name: None,
            tags: Vec::new(),
            description: text,
            columns: Vec::new(),
            parents: Vec::new(),
            tests_node: None,
            test_counts: None,
            status: None,
        };
        let detail = NodeDetail {
            id: id.to_string(),
            description_html: html,
            raw_code: Some(m.macro_sql.clone()),
            config: json!({}),
            macros: self.callers.get(id).cloned().unwrap_or_default(),
            facts,
            ..Default::default()
        };
        (index, detail)
    }
}

/// Where the site's files go: `index.html` in the target path, its data and assets in
/// `target/docs/`.
pub fn site_dir(manifest: &Manifest) -> PathBuf {
    manifest.project.target_dir()
}

/// Writes the site into `target`: `index.html`, `docs/` (data and assets), and with
/// `static_page` also `static_index.html`, one file that works opened from disk.
pub fn write_site(target: &Path, data: &SiteData, static_page: bool) -> Result<Vec<PathBuf>> {
    use crate::artifacts::write_file;
    let docs = target.join("docs");
    data.write(&docs)?;
    for (name, contents) in assets::FILES {
        write_file(&docs.join(name), contents.as_bytes())?;
    }
    let index = target.join("index.html");
    write_file(&index, assets::page(&data.index.project, None).as_bytes())?;
    let mut written = vec![index];
    if static_page {
        let path = target.join("static_index.html");
        let inline = data.inline_json();
        write_file(
            &path,
            assets::page(&data.index.project, Some(&inline)).as_bytes(),
        )?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_and_plain_text() {
        assert_eq!(
            markdown("One **bold** line\n\n| a | b |\n|---|---|\n| 1 | 2 |"),
            "<p>One <strong>bold</strong> line</p>\n<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody>\n<tr><td>1</td><td>2</td></tr>\n</tbody></table>\n"
        );
        assert_eq!(
            plain("# Title\n\nSome *emphasis*   here", 100),
            "Title Some emphasis here"
        );
        assert_eq!(plain("abcdef", 3), "abc…");
    }
}
