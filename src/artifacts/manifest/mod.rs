//! `target/manifest.json` in dbt's manifest v12 shape, which dbt's own loaders and the tools built
//! on them read; Kiln's inferred columns and column lineage, which dbt's schema has no room for, in
//! `target/kiln_lineage.json`; and the compiled SQL files under `target/compiled/`.

mod config;
mod node;
mod reuse;

pub(crate) use node::database_and_schema;
pub use node::{
    PrimaryKeys, columns_json, doc_blocks, macro_json, node_json, node_object, source_json,
};

use super::{Member, write_file, write_pieces};
use crate::compile::{Manifest, ManifestNode, relation_for};
use crate::error::Result;
use crate::project::{ResourceType, identity};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// dbt's manifest schema version Kiln writes.
pub const MANIFEST_SCHEMA: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";

/// The file, under the target path, that holds what Kiln knows beyond dbt's manifest.
pub const LINEAGE_FILE: &str = "kiln_lineage.json";

/// Path of a node's compiled SQL relative to the target dir, as dbt lays it out (generic tests
/// under their YAML file, by their short name).
pub fn compiled_rel_path(manifest: &Manifest, mn: &ManifestNode) -> PathBuf {
    let mut p = PathBuf::from("compiled");
    p.push(manifest.project.name());
    p.push(&mn.node.original_file_path);
    if mn.node.is_generic_test() || mn.node.resource_type == ResourceType::UnitTest {
        p.push(&mn.node.path);
    }
    p
}

/// The manifest's `metadata`: nothing time-dependent, so the same project writes the same bytes.
fn metadata_json(manifest: &Manifest) -> Value {
    let project = &manifest.project;
    let quoting =
        |key: &str, default: Value| project.file.quoting.get(key).cloned().unwrap_or(default);
    json!({
        "dbt_schema_version": MANIFEST_SCHEMA,
        "dbt_version": super::DBT_VERSION,
        "env": {},
        "project_name": project.name(),
        "project_id": identity::md5_hex(project.name()),
        "user_id": null,
        "send_anonymous_usage_stats": false,
        "adapter_type": manifest.dialect.adapter_type(),
        "quoting": {
            "database": quoting("database", json!(true)),
            "schema": quoting("schema", json!(true)),
            "identifier": quoting("identifier", json!(true)),
            "column": quoting("column", Value::Null),
        },
    })
}

/// A disabled node as the manifest lists it (dbt writes the whole node, config included).
fn disabled_json(manifest: &Manifest, node: &crate::project::Node, keys: &PrimaryKeys) -> Value {
    let relation = matches!(
        node.resource_type,
        ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
    )
    .then(|| relation_for(node, &manifest.target, manifest.dialect));
    let mn = ManifestNode {
        node: Box::new(node.clone()),
        relation,
        refs: Vec::new(),
        sources: Vec::new(),
        depends_on: Vec::new(),
        depends_on_macros: Vec::new(),
        compiled_sql: None,
        inferred_columns: None,
        lineage: Default::default(),
    };
    node_json(manifest, &mn, keys)
}

/// `parent_map` or `child_map` over nodes, sources and unit tests: each id (in order) with its
/// list of ids (sorted, no repeats), serialized as a JSON object.
struct GraphMap<'a> {
    ids: &'a [&'a str],
    lists: Vec<Vec<u32>>,
}

impl<'a> GraphMap<'a> {
    fn iter(&self) -> impl Iterator<Item = (&'a str, impl Iterator<Item = &'a str> + '_)> {
        let ids = self.ids;
        (ids.iter().zip(&self.lists))
            .map(move |(id, list)| (*id, list.iter().map(|i| ids[*i as usize])))
    }
}

impl serde::Serialize for GraphMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.ids.len()))?;
        for (id, list) in self.iter() {
            map.serialize_entry(id, &list.collect::<Vec<_>>())?;
        }
        map.end()
    }
}

/// [`graph_sets`] as JSON values.
fn graph_maps(manifest: &Manifest) -> (Map<String, Value>, Map<String, Value>) {
    let ids = graph_ids(manifest);
    let to_map = |m: GraphMap| -> Map<String, Value> {
        m.iter()
            .map(|(k, v)| {
                let list = v.map(|s| Value::String(s.to_string())).collect();
                (k.to_string(), Value::Array(list))
            })
            .collect()
    };
    let (parents, children) = graph_sets(manifest, &ids);
    (to_map(parents), to_map(children))
}

/// Every id of `parent_map` and `child_map`, sorted: nodes, sources and unit tests.
fn graph_ids(manifest: &Manifest) -> Vec<&str> {
    let project = &manifest.project;
    let mut ids: Vec<&str> = (manifest.nodes.keys())
        .chain(project.sources.keys())
        .chain(project.unit_tests.keys())
        .map(String::as_str)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// `parent_map` and `child_map` over `ids` (from [`graph_ids`]), as dbt writes them.
fn graph_sets<'a>(manifest: &'a Manifest, ids: &'a [&'a str]) -> (GraphMap<'a>, GraphMap<'a>) {
    let at = |id: &str| ids.binary_search(&id).ok().map(|i| i as u32);
    let mut parents = vec![Vec::new(); ids.len()];
    let mut children = vec![Vec::new(); ids.len()];
    let mut link = |parent: u32, child: u32| {
        parents[child as usize].push(parent);
        children[parent as usize].push(child);
    };
    for (id, mn) in &manifest.nodes {
        let Some(child) = at(id) else { continue };
        for parent in mn.depends_on.iter().filter_map(|dep| at(dep)) {
            link(parent, child);
        }
    }
    // A unit test's parent is its model (the first model of that name, by unique_id).
    let models: BTreeMap<&str, &str> = manifest
        .nodes
        .values()
        .filter(|mn| mn.node.resource_type == ResourceType::Model)
        .map(|mn| (mn.node.name.as_str(), mn.node.unique_id.as_str()))
        .rev()
        .collect();
    for (id, u) in &manifest.project.unit_tests {
        if let (Some(test), Some(model)) =
            (at(id), models.get(u.model.as_str()).and_then(|m| at(m)))
        {
            link(model, test);
        }
    }
    for list in parents.iter_mut().chain(children.iter_mut()) {
        list.sort_unstable();
        list.dedup();
    }
    (
        GraphMap {
            ids,
            lists: parents,
        },
        GraphMap {
            ids,
            lists: children,
        },
    )
}

/// The members of the manifest made from the DAG's edges alone.
const GRAPH_MAPS: [&str; 2] = ["parent_map", "child_map"];

/// The `parent_map` and `child_map` members: copied from the `previous` file when it holds
/// them under `key` (see [`graph_key`]), else made by [`graph_sets`].
fn graph_members<'a>(
    manifest: &'a Manifest,
    key: Option<u128>,
    previous: Option<&'a reuse::Previous>,
) -> Vec<(String, Member<'a>)> {
    let kept = key.zip(previous).and_then(|(key, previous)| {
        (GRAPH_MAPS.iter())
            .map(|name| {
                Some((
                    name.to_string(),
                    Member::Whole(previous.member(name, key)?.into()),
                ))
            })
            .collect::<Option<Vec<_>>>()
    });
    if let Some(kept) = kept {
        return kept;
    }
    let ids = graph_ids(manifest);
    let (parents, children) = graph_sets(manifest, &ids);
    (GRAPH_MAPS.iter().zip([parents, children]))
        .map(|(name, map)| {
            let bytes = super::member_bytes(name, &map);
            (name.to_string(), Member::Whole(bytes.into()))
        })
        .collect()
}

/// The key of `parent_map` and `child_map`: the partial-parse cache's project key (which covers
/// the Kiln binary that writes them) and everything [`graph_ids`] and [`graph_sets`] read (the
/// ids of nodes, sources and unit tests, each node's dependencies, each model's name and each
/// unit test's model), so the maps of an unchanged graph are copied, not made again.
fn graph_key(project_key: &str, manifest: &Manifest) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(project_key.as_bytes());
    let mut part = |text: &str, end: u8| {
        h.update(text.as_bytes());
        h.update(&[0, end]);
    };
    for (id, mn) in &manifest.nodes {
        part(id, 1);
        if mn.node.resource_type == ResourceType::Model {
            part(&mn.node.name, 2);
        }
        for dep in &mn.depends_on {
            part(dep, 3);
        }
    }
    for id in manifest.project.sources.keys() {
        part(id, 4);
    }
    for (id, u) in &manifest.project.unit_tests {
        part(id, 5);
        part(&u.model, 6);
    }
    h.digest128()
}

/// The manifest as JSON.
pub fn manifest_json(manifest: &Manifest) -> Value {
    let keys = PrimaryKeys::of(manifest);
    let nodes: Map<String, Value> = {
        use rayon::prelude::*;
        let shaped: Vec<(String, Value)> = manifest
            .nodes
            .par_iter()
            .map(|(id, mn)| (id.clone(), node_json(manifest, mn, &keys)))
            .collect();
        shaped.into_iter().collect()
    };
    let mut out = manifest_rest(manifest, &keys);
    out.insert("nodes".into(), Value::Object(nodes));
    Value::Object(out)
}

/// The manifest as written to disk, the bytes of [`manifest_json`], with each node member's
/// key and piece index. Nodes are most of a large manifest; each is shaped and serialized on
/// its own, in parallel, so no tree of the whole manifest is ever built, and with a project key
/// a node whose key is unchanged is copied from the `previous` manifest.
fn manifest_pieces<'a>(
    manifest: &'a Manifest,
    keys: &Keys,
    previous: Option<&'a reuse::Previous>,
) -> Pieces<'a> {
    use rayon::prelude::*;
    let make = |id: &str, mn: &ManifestNode| {
        Some(node_object(manifest, mn, &keys.primary).into_member(id))
    };
    let (nodes, rest) = rayon::join(
        || {
            let nodes: Vec<(&String, &ManifestNode)> = manifest.nodes.iter().collect();
            let keyed = (nodes.into_par_iter().zip(&keys.nodes))
                .map(|((id, mn), key)| (id.as_str(), *key, mn));
            reuse::members(keyed, previous, &make)
        },
        || {
            let mut rest: Vec<(String, Member)> = manifest_others(manifest, &keys.primary)
                .into_iter()
                .map(|(k, v)| {
                    let bytes = super::member_bytes(&k, &v);
                    (k, Member::Whole(bytes.into()))
                })
                .collect();
            rest.extend(graph_members(manifest, keys.graph, previous));
            rest
        },
    );
    with_nodes(rest, nodes, keys.graph)
}

/// What the manifest's members are written from and keyed by, worked out while the previous
/// file is read.
struct Keys {
    primary: PrimaryKeys,
    /// The key of `parent_map` and `child_map` ([`graph_key`]), with a project key.
    graph: Option<u128>,
    /// Each node's key ([`reuse::node_key`]) in the order of `manifest.nodes`; 0 without a
    /// project key.
    nodes: Vec<u128>,
}

impl Keys {
    fn of(manifest: &Manifest, project_key: Option<&str>) -> Keys {
        use rayon::prelude::*;
        let ((primary, graph), nodes) = rayon::join(
            || {
                let graph = project_key.map(|p| graph_key(p, manifest));
                (PrimaryKeys::of(manifest), graph)
            },
            || {
                let nodes: Vec<&ManifestNode> = manifest.nodes.values().collect();
                (nodes.into_par_iter())
                    .map(|mn| project_key.map_or(0, |p| reuse::node_key(p, mn)))
                    .collect()
            },
        );
        Keys {
            primary,
            graph,
            nodes,
        }
    }
}

/// A file's pieces, with each node member's unique_id (and each graph map's name), key and
/// piece index.
type Pieces<'a> = (Vec<Cow<'a, [u8]>>, Vec<(&'a str, u128, usize)>);

/// The pieces of a JSON object of `members` and a `nodes` member holding `nodes`. With a
/// `graph` key, the `parent_map` and `child_map` members are listed with the node members under
/// it, so the next write may copy them (see [`graph_members`]).
fn with_nodes<'a>(
    mut members: Vec<(String, Member<'a>)>,
    nodes: Vec<reuse::Piece<'a>>,
    graph: Option<u128>,
) -> Pieces<'a> {
    let mut ids = Vec::with_capacity(nodes.len());
    let mut bytes = Vec::with_capacity(nodes.len());
    for (id, key, b) in nodes {
        ids.push((id, key));
        bytes.push(b);
    }
    members.push(("nodes".into(), Member::Object(bytes)));
    let pieces = super::object_pieces(members);
    let at = |head: &[u8]| pieces.iter().position(|p| p.starts_with(head));
    // The node members follow the `"nodes":{` piece, with a separator between each two.
    let start = 1 + at(br#""nodes":{"#).unwrap_or(0);
    let mut positions: Vec<(&str, u128, usize)> = ids
        .into_iter()
        .enumerate()
        .map(|(i, (id, key))| (id, key, start + 2 * i))
        .collect();
    if let Some(key) = graph {
        for name in GRAPH_MAPS {
            if let Some(i) = at(format!("\"{name}\":").as_bytes()) {
                positions.push((name, key, i));
            }
        }
    }
    (pieces, positions)
}

/// Every top-level member of the manifest but `nodes`.
fn manifest_rest(manifest: &Manifest, keys: &PrimaryKeys) -> Map<String, Value> {
    let mut out = manifest_others(manifest, keys);
    let (parent_map, child_map) = graph_maps(manifest);
    out.insert("parent_map".into(), Value::Object(parent_map));
    out.insert("child_map".into(), Value::Object(child_map));
    out
}

/// Every top-level member of the manifest but `nodes`, `parent_map` and `child_map`.
fn manifest_others(manifest: &Manifest, keys: &PrimaryKeys) -> Map<String, Value> {
    let project = &manifest.project;
    let sources: Map<String, Value> = project
        .sources
        .iter()
        .map(|(id, s)| (id.clone(), source_json(manifest, s)))
        .collect();
    let macros: Map<String, Value> = project
        .macros
        .iter()
        .map(|(id, m)| (id.clone(), macro_json(m)))
        .collect();
    let docs: Map<String, Value> = project
        .docs
        .iter()
        .map(|(id, d)| (id.clone(), node::doc_json(manifest, d)))
        .collect();
    let unit_tests: Map<String, Value> = project
        .unit_tests
        .iter()
        .map(|(id, u)| (id.clone(), node::unit_test_json(manifest, u)))
        .collect();
    let disabled: Map<String, Value> = project
        .disabled
        .iter()
        .map(|(id, n)| (id.clone(), json!([disabled_json(manifest, n, keys)])))
        .collect();
    let empty = || Value::Object(Map::new());
    // Built by moving each part in: `json!` would copy every map through serde.
    let mut out = Map::new();
    out.insert("metadata".into(), metadata_json(manifest));
    out.insert("sources".into(), Value::Object(sources));
    out.insert("macros".into(), Value::Object(macros));
    out.insert("docs".into(), Value::Object(docs));
    out.insert("disabled".into(), Value::Object(disabled));
    out.insert("unit_tests".into(), Value::Object(unit_tests));
    for key in [
        "exposures",
        "metrics",
        "groups",
        "selectors",
        "group_map",
        "saved_queries",
        "semantic_models",
        "functions",
    ] {
        out.insert(key.into(), empty());
    }
    out
}

/// `kiln_lineage.json`: Kiln's own facts about each compiled node (the output columns it infers
/// and the upstream columns each one is computed from), its nodes serialized in parallel, or
/// copied from the `previous` file where unchanged.
fn lineage_pieces<'a>(manifest: &'a Manifest, previous: Option<&'a reuse::Previous>) -> Pieces<'a> {
    use rayon::prelude::*;
    let keyed = manifest
        .nodes
        .par_iter()
        .map(|(id, mn)| (id.as_str(), reuse::lineage_key(mn), mn));
    let nodes = reuse::members(keyed, previous, &node_lineage_bytes);
    let metadata = super::member_bytes("metadata", &lineage_metadata_json(manifest));
    with_nodes(
        vec![("metadata".into(), Member::Whole(metadata.into()))],
        nodes,
        None,
    )
}

fn lineage_metadata_json(manifest: &Manifest) -> Value {
    json!({"kiln_version": env!("CARGO_PKG_VERSION"), "project_name": manifest.project.name()})
}

/// One node's `"id":{...}` member of `kiln_lineage.json`, if Kiln knows anything about its
/// columns: `{"column_lineage": {column: [{"column", "kind", "relation"}]}, "columns": [...]}`.
fn node_lineage_bytes(id: &str, mn: &ManifestNode) -> Option<Vec<u8>> {
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        column_lineage: BTreeMap<&'a str, Vec<Edge<'a>>>,
        columns: &'a Option<Vec<String>>,
    }
    #[derive(serde::Serialize)]
    struct Edge<'a> {
        column: &'a str,
        kind: &'static str,
        relation: &'a str,
    }
    if mn.inferred_columns.is_none() && mn.lineage.is_empty() {
        return None;
    }
    let column_lineage = mn
        .lineage
        .iter()
        .map(|(col, sources)| {
            let edges = sources
                .iter()
                .map(|c| Edge {
                    column: &c.column,
                    kind: c.kind.as_str(),
                    relation: &c.relation,
                })
                .collect();
            (col.as_str(), edges)
        })
        .collect();
    let entry = Entry {
        column_lineage,
        columns: &mn.inferred_columns,
    };
    let mut out = serde_json::to_vec(id).unwrap_or_default();
    out.push(b':');
    serde_json::to_writer(&mut out, &entry).ok()?;
    Some(out)
}

/// Writes `target/manifest.json` and `target/kiln_lineage.json`; returns the manifest's path.
///
/// With the partial-parse cache's project key, node entries whose key is unchanged are copied
/// from the files written last, a file whose bytes would not change is left alone, and the
/// index of what was written is kept for the next command (see [`reuse`]).
pub fn write_manifest(manifest: &Manifest) -> Result<PathBuf> {
    let target = manifest.project.target_dir();
    let path = target.join("manifest.json");
    let lineage_path = target.join(LINEAGE_FILE);
    let Some(project_key) = manifest.cache_key.as_deref() else {
        reuse::forget(&target);
        let (written, lineage) = rayon::join(
            || {
                let keys = Keys::of(manifest, None);
                write_pieces(&path, &manifest_pieces(manifest, &keys, None).0)
            },
            || write_pieces(&lineage_path, &lineage_pieces(manifest, None).0),
        );
        written?;
        lineage?;
        return Ok(path);
    };
    let mut index = reuse::Index::read(&target);
    // A manifest of a kept parse, nothing compiled: the files written from it last are the
    // files it would write again.
    let compiled = |mn: &ManifestNode| {
        mn.compiled_sql.is_some() || mn.inferred_columns.is_some() || !mn.lineage.is_empty()
    };
    let parse_only = (manifest.kept.as_deref()).filter(|_| !manifest.nodes.values().any(compiled));
    if let Some(parse) = parse_only
        && index.written_from(&target, "manifest.json", parse)
        && index.written_from(&target, LINEAGE_FILE, parse)
    {
        return Ok(path);
    }
    // The previous files are mapped and checked while the keys are worked out.
    let ((previous, previous_lineage), keys) = rayon::join(
        || {
            let manifest = index.previous(&target, "manifest.json");
            (manifest, index.previous(&target, LINEAGE_FILE))
        },
        || Keys::of(manifest, Some(project_key)),
    );
    let (written, lineage) = rayon::join(
        || {
            let (pieces, members) = manifest_pieces(manifest, &keys, previous.as_ref());
            reuse::write(&path, &pieces, &members, previous.as_ref())
        },
        || {
            let (pieces, members) = lineage_pieces(manifest, previous_lineage.as_ref());
            reuse::write(&lineage_path, &pieces, &members, previous_lineage.as_ref())
        },
    );
    index.insert("manifest.json", written?, parse_only);
    index.insert(LINEAGE_FILE, lineage?, parse_only);
    index.write(&target)?;
    Ok(path)
}

/// Writes every compiled node's SQL under `target/compiled/`; returns how many were written.
///
/// Files are written in parallel, and a file that already holds the same SQL is left alone: on a
/// large project most files are unchanged between two compiles, and replacing a file costs far
/// more than reading it.
pub fn write_compiled(manifest: &Manifest) -> Result<usize> {
    use rayon::prelude::*;
    let target = manifest.project.target_dir();
    let files: Vec<(PathBuf, &str)> = manifest
        .nodes
        .values()
        .filter(|mn| mn.node.resource_type != ResourceType::Seed)
        .filter_map(|mn| {
            let sql = mn.compiled_sql.as_deref()?;
            Some((target.join(compiled_rel_path(manifest, mn)), sql))
        })
        .collect();
    files
        .par_iter()
        .try_for_each(|(path, sql)| match std::fs::read(path) {
            Ok(old) if old == sql.as_bytes() => Ok(()),
            _ => write_file(path, sql.as_bytes()),
        })?;
    Ok(files.len())
}
