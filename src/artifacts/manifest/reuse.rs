//! Node entries of the previous `manifest.json` and `kiln_lineage.json` (and the manifest's
//! `parent_map` and `child_map`), reused while nothing they are made of has changed, so a large
//! project's files are not shaped and serialized anew on every command, and a file that would
//! be written with the same bytes is left alone.
//!
//! `<target>/kiln_manifest_index.bin` (MessagePack, read and written in a fraction of the time
//! JSON takes at thousands of nodes) records, for each file as written last, a hash of its
//! whole content and each node's key and place in it (the two maps are listed with the nodes,
//! under a key of the graph's edges). A node's key covers everything its entry is made of (see
//! [`node_key`] and [`lineage_key`]). An entry is copied only when the
//! file on disk still has the content the index describes and the node's key is the same;
//! anything else is shaped again. Without the partial-parse cache's project key
//! (`--no-partial-parse`) nothing is reused or recorded.

use crate::compile::ManifestNode;
use crate::error::Result;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::path::Path;
use xxhash_rust::xxh3::Xxh3;

/// The index's file name under the target path.
pub const FILE: &str = "kiln_manifest_index.bin";

/// Bumped whenever the shape of the index or of a key changes.
const FORMAT: u32 = 2;

/// What the index knows of each file, by file name.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Index {
    format: u32,
    files: BTreeMap<String, FileIndex>,
}

/// One file as written last.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileIndex {
    /// xxh3 of the whole file.
    hash: String,
    /// Each node's key (two halves) and the start and end of its `"id":{...}` member in the
    /// file, the nodes in file order, then the manifest's `parent_map` and `child_map` under the
    /// graph's key. The unique_id (or map name) is the member's own key, read from the file.
    nodes: Vec<(u64, u64, usize, usize)>,
    /// The id of the kept parse (`Manifest::kept`) the file was written from, when it was
    /// written from that parse alone, nothing compiled.
    #[serde(default)]
    parse: Option<String>,
}

impl Index {
    /// The index under `target`; empty when there is none or it cannot be read.
    pub fn read(target: &Path) -> Index {
        std::fs::read(target.join(FILE))
            .ok()
            .and_then(|bytes| rmp_serde::from_slice::<Index>(&bytes).ok())
            .filter(|i| i.format == FORMAT)
            .unwrap_or_default()
    }

    /// The file `name` under `target` as the index describes it, if its content is still
    /// the content the index recorded.
    pub fn previous(&mut self, target: &Path, name: &str) -> Option<Previous> {
        let index = self.files.remove(name)?;
        let map = index.current(target, name)?;
        let mut members = HashMap::with_capacity(index.nodes.len());
        for &(hi, lo, start, end) in &index.nodes {
            let member = map.get(start..end)?;
            if let Some(id) = member_id(member) {
                let key = u128::from(hi) << 64 | u128::from(lo);
                members.insert(id.to_string(), (key, start, end));
            }
        }
        Some(Previous {
            map,
            hash: index.hash,
            members,
        })
    }

    /// Records `file` as written under `name`, from the kept parse `parse` alone if given.
    pub fn insert(&mut self, name: &str, mut file: FileIndex, parse: Option<&str>) {
        file.parse = parse.map(str::to_string);
        self.files.insert(name.to_string(), file);
    }

    /// Whether the file `name` under `target` was written from the kept parse `parse` alone
    /// and still holds what was written.
    pub fn written_from(&self, target: &Path, name: &str, parse: &str) -> bool {
        self.files.get(name).is_some_and(|index| {
            index.parse.as_deref() == Some(parse) && index.current(target, name).is_some()
        })
    }

    /// Writes the index under `target`, unless it holds these bytes already.
    pub fn write(mut self, target: &Path) -> Result<()> {
        self.format = FORMAT;
        let path = target.join(FILE);
        let bytes = rmp_serde::to_vec(&self).unwrap_or_default();
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        super::super::write_file(&path, &bytes)
    }
}

impl FileIndex {
    /// The file `name` under `target`, mapped, if it still holds what this index describes.
    fn current(&self, target: &Path, name: &str) -> Option<memmap2::Mmap> {
        let map = super::super::map_file(&target.join(name))?;
        (hex(xxhash_rust::xxh3::xxh3_128(&map)) == self.hash).then_some(map)
    }
}

/// Removes the index: files written without keys are not what it describes.
pub fn forget(target: &Path) {
    let _ = std::fs::remove_file(target.join(FILE));
}

/// A file as written last, whose node entries may be reused.
pub struct Previous {
    map: memmap2::Mmap,
    hash: String,
    /// unique_id → (key, start, end).
    members: HashMap<String, (u128, usize, usize)>,
}

impl Previous {
    /// The `"id":{...}` member node `id` had under `key`.
    pub fn member(&self, id: &str, key: u128) -> Option<&[u8]> {
        let (k, start, end) = self.members.get(id)?;
        (*k == key).then(|| self.map.get(*start..*end)).flatten()
    }
}

/// The key of a `"key":value` member, when it is a plain string (no escapes).
fn member_id(member: &[u8]) -> Option<&str> {
    let rest = member.strip_prefix(b"\"")?;
    let end = rest.iter().position(|b| *b == b'"' || *b == b'\\')?;
    if rest[end] != b'"' || rest.get(end + 1) != Some(&b':') {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()
}

/// The key of a node's manifest entry: the partial-parse cache's project key (every project
/// and package file, vars, target, the Kiln binary) and the node as compiled (the node itself,
/// its relation, refs, sources, dependencies and compiled SQL).
pub fn node_key(project_key: &str, mn: &ManifestNode) -> u128 {
    let mut h = Xxh3::new();
    h.update(project_key.as_bytes());
    super::super::parse_cache::hash_fields(&mut h, &mn.node);
    mn.relation.hash(&mut h);
    mn.refs.hash(&mut h);
    mn.sources.hash(&mut h);
    mn.depends_on.hash(&mut h);
    mn.depends_on_macros.hash(&mut h);
    mn.compiled_sql.hash(&mut h);
    h.digest128()
}

/// The key of a node's `kiln_lineage.json` entry: its inferred columns and column lineage.
pub fn lineage_key(mn: &ManifestNode) -> u128 {
    let mut h = Xxh3::new();
    mn.inferred_columns.hash(&mut h);
    mn.lineage.hash(&mut h);
    h.digest128()
}

fn hex(n: u128) -> String {
    format!("{n:032x}")
}

/// A node's member of a file: its unique_id, its key, and its bytes (copied from the previous
/// file or made anew).
pub type Piece<'a> = (&'a str, u128, Cow<'a, [u8]>);

/// Each node's member, from `previous` when its key is unchanged, else made by `make`.
pub fn members<'a>(
    nodes: impl rayon::iter::ParallelIterator<Item = (&'a str, u128, &'a ManifestNode)>,
    previous: Option<&'a Previous>,
    make: &(dyn Fn(&'a str, &'a ManifestNode) -> Option<Vec<u8>> + Sync),
) -> Vec<Piece<'a>> {
    nodes
        .filter_map(|(id, key, mn)| {
            let bytes = match previous.and_then(|p| p.member(id, key)) {
                Some(bytes) => Cow::Borrowed(bytes),
                None => Cow::Owned(make(id, mn)?),
            };
            Some((id, key, bytes))
        })
        .collect()
}

/// Writes `pieces` to `path`, unless the `previous` file holds exactly these bytes; returns
/// what the index records of it. `members` are the node members (and the graph maps): (unique_id
/// or name, key, index of the piece).
///
/// When a node member was made anew the file has most likely changed, so it is written while
/// its hash is taken instead of after: a file written that turns out to hold the same bytes
/// is only written again.
pub fn write(
    path: &Path,
    pieces: &[Cow<'_, [u8]>],
    members: &[(&str, u128, usize)],
    previous: Option<&Previous>,
) -> Result<FileIndex> {
    let hash_all = || {
        let mut starts = Vec::with_capacity(pieces.len());
        let mut h = Xxh3::new();
        let mut at = 0;
        for p in pieces {
            starts.push(at);
            h.update(p);
            at += p.len();
        }
        (starts, hex(h.digest128()))
    };
    let made_anew = (members.iter()).any(|(_, _, i)| matches!(pieces[*i], Cow::Owned(_)));
    let (starts, hash) = match previous {
        Some(previous) if !made_anew => {
            let (starts, hash) = hash_all();
            if previous.hash != hash {
                super::super::write_pieces(path, pieces)?;
            }
            (starts, hash)
        }
        _ => {
            let (hashed, written) =
                rayon::join(hash_all, || super::super::write_pieces(path, pieces));
            written?;
            hashed
        }
    };
    let nodes = members
        .iter()
        .map(|(_, key, i)| {
            let (start, end) = (starts[*i], starts[*i] + pieces[*i].len());
            ((key >> 64) as u64, *key as u64, start, end)
        })
        .collect();
    Ok(FileIndex {
        hash,
        nodes,
        parse: None,
    })
}
