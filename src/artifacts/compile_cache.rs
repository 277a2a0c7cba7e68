//! The compile cache, `<target>/kiln_compile_cache.jsonl`: what compiling each node produced
//! (its SQL as rendered with `execute`, and the analysis of its final SQL), kept so the next
//! `kiln compile` or `kiln docs generate` renders and analyses only what changed.
//!
//! Like the partial-parse cache it is never stale. A render is reused only when
//! - its node key is the same: the project key of the partial-parse cache (every project and
//!   package file, vars, target, the Kiln binary), the node as parsed (its SQL, final config,
//!   properties) and its own relation (`this`);
//! - every `ref()` and `source()` it called still resolves to the same relation;
//! - every environment variable it read has the same value (only hashes are kept).
//!
//! Renders that asked the database (`run_query`, `adapter.get_columns_in_relation`, ...), that
//! may read what differs between invocations (`Renderer::reads_invocation`) or that failed are
//! never kept. An analysis is reused only for the same final SQL (ephemeral parents inlined)
//! when every relation whose columns it looked up still has the same columns.
//!
//! One JSON line per node after a header line, so a large file is read in parallel.

use crate::compile::ManifestNode;
use crate::error::Result;
use crate::sql::{Analysis, Known};
use crate::template::{EnvLookup, Relation, Resolve, Unresolved};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use xxhash_rust::xxh3::Xxh3;

use super::parse_cache::{env_hashes, hash_fields, same_env};

/// The cache's file name under the target path.
pub const FILE: &str = "kiln_compile_cache.jsonl";

/// Bumped whenever the shape of an entry or of a key changes.
const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: u32,
    project_key: String,
}

/// A `ref()` or `source()` call a render made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lookup {
    Ref {
        from: String,
        package: Option<String>,
        name: String,
    },
    Source {
        source: String,
        table: String,
    },
}

impl Lookup {
    /// The call made again through `resolver`.
    fn resolve(&self, resolver: &dyn Resolve) -> std::result::Result<Relation, Unresolved> {
        match self {
            Lookup::Ref {
                from,
                package,
                name,
            } => resolver.resolve_ref(from, package.as_deref(), name),
            Lookup::Source { source, table } => resolver.resolve_source(source, table),
        }
    }

    /// The hash of the call's answer through `resolver`, as a cache entry records it.
    fn answer(&self, resolver: &dyn Resolve) -> u64 {
        answer_hash(&self.resolve(resolver).ok())
    }
}

/// One node's compilation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    /// The node key the render was made under.
    key: String,
    /// Each call to the resolver, with a hash of its answer.
    resolved: Vec<(Lookup, u64)>,
    /// Environment variables read, each with a hash of the value seen (None when unset).
    env: BTreeMap<String, Option<String>>,
    /// The SQL as rendered (before ephemeral parents are inlined).
    sql: String,
    analysis: Option<Analysed>,
}

/// The analysis of a node's final SQL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Analysed {
    /// Hash of the final SQL analysed.
    sql: u64,
    /// Each relation whose columns the analysis looked up, with a hash of what it was told.
    columns_read: Vec<(String, u64)>,
    analysis: Analysis,
}

/// The compile cache of one command: the entries an earlier compile left under the same
/// project key, and what this compile rendered or analysed anew.
pub struct CompileCache {
    path: PathBuf,
    project_key: String,
    env: EnvLookup,
    old: HashMap<String, Entry>,
    /// Renders made by this compile, with their analyses; `None` for a node whose render is
    /// not one to keep.
    fresh: Mutex<HashMap<String, Option<Entry>>>,
    reused: Mutex<CacheUse>,
}

/// What using the cache did in one compile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUse {
    /// Renders taken from the cache.
    pub renders: usize,
    /// Analyses taken from the cache.
    pub analyses: usize,
}

impl CompileCache {
    /// Opens the cache under `target_dir` for a project whose partial-parse key is
    /// `project_key`. A file that cannot be read, or one made under another key, holds nothing.
    pub fn open(target_dir: &Path, project_key: &str, env: EnvLookup) -> CompileCache {
        let path = target_dir.join(FILE);
        let old = std::fs::read(&path)
            .ok()
            .map(|bytes| read_entries(&bytes, project_key))
            .unwrap_or_default();
        CompileCache {
            path,
            project_key: project_key.to_string(),
            env,
            old,
            fresh: Mutex::new(HashMap::new()),
            reused: Mutex::new(CacheUse::default()),
        }
    }

    /// The key of a parsed node's render: the project key, the node and its relation.
    pub fn node_key(&self, mn: &ManifestNode) -> String {
        let mut h = Xxh3::new();
        h.update(self.project_key.as_bytes());
        hash_fields(&mut h, &mn.node);
        std::hash::Hash::hash(&mn.relation, &mut h);
        format!("{:032x}", h.digest128())
    }

    /// The SQL node `id` rendered to under `key`, when everything the render read is as it was.
    pub fn render(&self, id: &str, key: &str, resolver: &dyn Resolve) -> Option<String> {
        let e = self.old.get(id).filter(|e| e.key == key)?;
        let same_refs = e
            .resolved
            .iter()
            .all(|(call, answer)| call.answer(resolver) == *answer);
        if !(same_env(&self.env, &e.env) && same_refs) {
            return None;
        }
        self.count(|u| u.renders += 1);
        Some(e.sql.clone())
    }

    /// Keeps the render of node `id` under `key`, with what it read.
    pub fn put_render(
        &self,
        id: &str,
        key: String,
        resolved: Vec<(Lookup, u64)>,
        env: &BTreeMap<String, Option<String>>,
        sql: &str,
    ) {
        let entry = Entry {
            key,
            resolved,
            env: env_hashes(env),
            sql: sql.to_string(),
            analysis: None,
        };
        self.set(id, Some(entry));
    }

    /// Drops what node `id` had: its render is not one to keep.
    pub fn forget(&self, id: &str) {
        self.set(id, None);
    }

    /// The analysis of node `id`'s final SQL `sql`, when the cache holds one of the same SQL
    /// and every relation it read the columns of still has the same ones.
    pub fn analysis(
        &self,
        id: &str,
        sql: &str,
        columns: &dyn Fn(&str) -> Option<Known>,
    ) -> Option<Analysis> {
        let hash = xxhash_rust::xxh3::xxh3_64(sql.as_bytes());
        let valid = |a: &Analysed| {
            a.sql == hash
                && a.columns_read
                    .iter()
                    .all(|(name, seen)| answer_hash(&columns(name)) == *seen)
        };
        let mut fresh = self.fresh.lock().ok()?;
        let found = match fresh.get_mut(id) {
            // Rendered anew: its analysis may still be the one kept for the same SQL.
            Some(Some(e)) => {
                let old = self.old.get(id).and_then(|o| o.analysis.as_ref());
                let a = old.filter(|a| valid(a))?.clone();
                let analysis = a.analysis.clone();
                e.analysis = Some(a);
                analysis
            }
            Some(None) => return None,
            None => {
                drop(fresh);
                let old = self.old.get(id)?.analysis.as_ref();
                old.filter(|a| valid(a))?.analysis.clone()
            }
        };
        self.count(|u| u.analyses += 1);
        Some(found)
    }

    /// Keeps the analysis of node `id`'s final SQL, with the columns it read.
    pub fn put_analysis(
        &self,
        id: &str,
        sql: &str,
        columns_read: Vec<(String, u64)>,
        analysis: &Analysis,
    ) {
        let analysed = Analysed {
            sql: xxhash_rust::xxh3::xxh3_64(sql.as_bytes()),
            columns_read,
            analysis: analysis.clone(),
        };
        let Ok(mut fresh) = self.fresh.lock() else {
            return;
        };
        match fresh.get_mut(id) {
            Some(Some(e)) => e.analysis = Some(analysed),
            Some(None) => {}
            // The render came from the cache; its analysis is new.
            None => {
                if let Some(old) = self.old.get(id) {
                    let mut e = old.clone();
                    e.analysis = Some(analysed);
                    fresh.insert(id.to_string(), Some(e));
                }
            }
        }
    }

    fn set(&self, id: &str, entry: Option<Entry>) {
        if let Ok(mut fresh) = self.fresh.lock() {
            fresh.insert(id.to_string(), entry);
        }
    }

    fn count(&self, f: impl FnOnce(&mut CacheUse)) {
        if let Ok(mut u) = self.reused.lock() {
            f(&mut u);
        }
    }

    /// Writes the file unless it holds this compile's entries already. Entries of nodes this
    /// compile did not render are kept while `exists` says the node is still in the project.
    pub fn save(self, exists: &dyn Fn(&str) -> bool) -> Result<CacheUse> {
        let used = self.reused.into_inner().unwrap_or_default();
        let fresh = self.fresh.into_inner().unwrap_or_default();
        let old = self.old;
        let changed = fresh.iter().any(|(id, e)| old.get(id) != e.as_ref())
            || old.keys().any(|id| !exists(id));
        if changed {
            let mut entries: Vec<(&String, &Entry)> = old
                .iter()
                .filter(|(id, _)| !fresh.contains_key(*id) && exists(id))
                .chain(fresh.iter().filter_map(|(id, e)| Some((id, e.as_ref()?))))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            write_entries(&self.path, &self.project_key, &entries)?;
        }
        // Freeing tens of thousands of entries one by one takes longer than the command has
        // left; a thread does it while the command goes on.
        std::thread::spawn(move || drop((old, fresh)));
        Ok(used)
    }
}

fn write_entries(path: &Path, project_key: &str, entries: &[(&String, &Entry)]) -> Result<()> {
    let header = Header {
        format: FORMAT,
        project_key: project_key.to_string(),
    };
    let mut first = serde_json::to_vec(&header).unwrap_or_default();
    first.push(b'\n');
    let lines: Vec<Vec<u8>> = entries
        .par_iter()
        .map(|entry| {
            let mut line = serde_json::to_vec(entry).unwrap_or_default();
            line.push(b'\n');
            line
        })
        .collect();
    let mut pieces = vec![first];
    pieces.extend(lines);
    super::write_pieces(path, &pieces)
}

/// The entries of a cache file made under `project_key`; none when it is another's, or
/// damaged.
fn read_entries(bytes: &[u8], project_key: &str) -> HashMap<String, Entry> {
    let mut lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let header: Option<Header> = lines.next().and_then(|l| serde_json::from_slice(l).ok());
    if !header.is_some_and(|h| h.format == FORMAT && h.project_key == project_key) {
        return HashMap::new();
    }
    let lines: Vec<&[u8]> = lines.collect();
    let parsed: Option<Vec<(String, Entry)>> = lines
        .par_iter()
        .map(|l| serde_json::from_slice(l).ok())
        .collect();
    parsed.map(|v| v.into_iter().collect()).unwrap_or_default()
}

/// A resolver that records each call and a hash of its answer, for [`CompileCache::put_render`].
pub struct Recorder {
    inner: std::sync::Arc<dyn Resolve>,
    calls: Mutex<Vec<(Lookup, u64)>>,
}

impl Recorder {
    pub fn new(inner: std::sync::Arc<dyn Resolve>) -> Recorder {
        Recorder {
            inner,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The calls made so far, each once.
    pub fn calls(&self) -> Vec<(Lookup, u64)> {
        let mut calls = self.calls.lock().map(|c| c.clone()).unwrap_or_default();
        let mut seen = Vec::new();
        calls.retain(|c| {
            let new = !seen.contains(&c.0);
            if new {
                seen.push(c.0.clone());
            }
            new
        });
        calls
    }

    /// Makes `call` through the inner resolver and records it with the hash of its answer.
    fn record(&self, call: Lookup) -> std::result::Result<Relation, Unresolved> {
        let answer = call.resolve(self.inner.as_ref());
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((call, answer_hash(&answer.as_ref().ok())));
        }
        answer
    }
}

impl Resolve for Recorder {
    fn resolve_ref(
        &self,
        from: &str,
        package: Option<&str>,
        name: &str,
    ) -> std::result::Result<Relation, Unresolved> {
        self.record(Lookup::Ref {
            from: from.to_string(),
            package: package.map(str::to_string),
            name: name.to_string(),
        })
    }

    fn resolve_source(
        &self,
        source: &str,
        table: &str,
    ) -> std::result::Result<Relation, Unresolved> {
        self.record(Lookup::Source {
            source: source.to_string(),
            table: table.to_string(),
        })
    }
}

/// The hash a cache keeps of an answer (a relation, a relation's columns).
pub fn answer_hash<T: std::hash::Hash>(answer: &T) -> u64 {
    use std::hash::Hasher;
    let mut h = Xxh3::new();
    answer.hash(&mut h);
    h.finish()
}
