//! The partial-parse cache, `<target>/kiln_partial_parse.json`: what the parse pass learnt from
//! rendering each node (its `ref`, `source` and `config()` calls and the macros it called), kept
//! so the next command on the same project renders only what changed.
//!
//! The cache is never stale. An entry is used only when everything its render could have read
//! is as it was:
//! - the project key: every file of the project and its packages except the nodes' own SQL
//!   files (so macros, properties, docs, the project files, seeds' headers: all in
//!   `Project::files`), the list of nodes,
//!   `--vars`, what templates see of the target, and the Kiln binary itself;
//! - the node key: the project key and the whole node as loaded (its SQL, its config from the
//!   project file and properties, its columns, ...);
//! - the environment variables the render read, each with the same value now (only a hash of
//!   each value is kept, so no secret reaches the file).
//!
//! Renders that may read what differs between invocations (the command's flags, the clock, the
//! whole graph, see `Renderer::reads_invocation`) and renders that failed are never kept. A
//! cache that cannot be read, or one from another version, is ignored; the parse then renders
//! everything and writes a fresh one.

use crate::error::Result;
use crate::project::{Config, Node, Project};
use crate::template::{EnvLookup, RefCall, Rendered, TargetInfo};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use xxhash_rust::xxh3::Xxh3;

/// The cache's file name under the target path.
pub const FILE: &str = "kiln_partial_parse.json";

/// Bumped whenever the shape of an entry or of a key changes.
const FORMAT: u32 = 1;

/// One node's render, as the parse pass uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    /// The node key this render was made under.
    key: String,
    refs: Vec<RefCall>,
    sources: Vec<(String, String)>,
    config: Config,
    config_call: serde_json::Map<String, serde_json::Value>,
    macros: BTreeSet<String>,
    /// Environment variables read, each with a hash of the value seen (None when unset).
    env: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    project_key: String,
    entries: BTreeMap<String, Entry>,
}

/// The cache for one parse: the entries a previous parse left under the same project key, the
/// ones this parse reused, and the renders of this parse to keep.
pub struct ParseCache {
    path: PathBuf,
    project_key: String,
    env: EnvLookup,
    old: HashMap<String, Entry>,
    reused: Mutex<Vec<String>>,
    fresh: Mutex<BTreeMap<String, Entry>>,
}

/// What using the cache did in one parse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUse {
    /// Nodes whose render came from the cache.
    pub reused: usize,
    /// Nodes rendered and kept for the next parse.
    pub rendered: usize,
}

impl ParseCache {
    /// Opens the cache of `project` (under its target path) for a parse on `target`. Nothing
    /// that cannot be read is an error: it is a cache that holds nothing.
    pub fn open(project: &Project, target: &TargetInfo, env: EnvLookup) -> ParseCache {
        let path = project.target_dir().join(FILE);
        let project_key = project_key(project, target);
        let old = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CacheFile>(&bytes).ok())
            .filter(|f| f.format == FORMAT && f.project_key == project_key)
            .map(|f| f.entries.into_iter().collect())
            .unwrap_or_default();
        ParseCache {
            path,
            project_key,
            env,
            old,
            reused: Mutex::new(Vec::new()),
            fresh: Mutex::new(BTreeMap::new()),
        }
    }

    /// The key of everything but the nodes themselves that a render can read.
    pub fn project_key(&self) -> &str {
        &self.project_key
    }

    /// The key of `node`'s render under this cache's project key.
    pub fn node_key(&self, node: &Node) -> String {
        let mut h = Xxh3::new();
        h.update(self.project_key.as_bytes());
        hash_fields(&mut h, node);
        format!("{:032x}", h.digest128())
    }

    /// The cached render of node `id` under `key`, when every environment variable it read
    /// still has the value it had. Its SQL is empty: the parse pass uses only what it recorded.
    pub fn get(&self, id: &str, key: &str) -> Option<Rendered> {
        let e = self.old.get(id).filter(|e| e.key == key)?;
        if !same_env(&self.env, &e.env) {
            return None;
        }
        if let Ok(mut reused) = self.reused.lock() {
            reused.push(id.to_string());
        }
        Some(Rendered {
            sql: String::new(),
            refs: e.refs.clone(),
            sources: e.sources.clone(),
            config: e.config.clone(),
            config_call: e.config_call.clone(),
            macros: e.macros.clone(),
            offline: false,
            asked_database: false,
            env: BTreeMap::new(),
        })
    }

    /// Keeps this parse's render of node `id`, made under `key`.
    pub fn put(&self, id: &str, key: String, r: &Rendered) {
        let entry = Entry {
            key,
            refs: r.refs.clone(),
            sources: r.sources.clone(),
            config: r.config.clone(),
            config_call: r.config_call.clone(),
            macros: r.macros.clone(),
            env: env_hashes(&r.env),
        };
        if let Ok(mut fresh) = self.fresh.lock() {
            fresh.insert(id.to_string(), entry);
        }
    }

    /// How many nodes came from the cache and how many were rendered (and kept) so far.
    pub fn used(&self) -> CacheUse {
        CacheUse {
            reused: self.reused.lock().map_or(0, |v| v.len()),
            rendered: self.fresh.lock().map_or(0, |v| v.len()),
        }
    }

    /// Writes the renders this parse used or made, unless they are what the file holds already.
    pub fn save(self) -> Result<()> {
        let reused = self.reused.into_inner().unwrap_or_default();
        let mut entries = self.fresh.into_inner().unwrap_or_default();
        let mut old = self.old;
        if entries.is_empty() && reused.len() == old.len() {
            // Every entry was reused and nothing else is in the file: it holds these already.
            std::thread::spawn(move || drop(old));
            return Ok(());
        }
        for id in reused {
            if let Some(e) = old.remove(&id) {
                entries.insert(id, e);
            }
        }
        let file = CacheFile {
            format: FORMAT,
            project_key: self.project_key,
            entries,
        };
        let bytes = serde_json::to_vec(&file).unwrap_or_default();
        super::write_file(&self.path, &bytes)
    }
}

/// Everything but the nodes themselves that a parse-time render can read.
fn project_key(project: &Project, target: &TargetInfo) -> String {
    let node_files: BTreeSet<&str> = project
        .nodes
        .values()
        .chain(project.disabled.values())
        .filter(|n| n.original_file_path.ends_with(".sql"))
        .map(|n| n.original_file_path.as_str())
        .collect();
    let mut h = key_hasher(&project.root, &project.cli_vars);
    let mut part = |bytes: &[u8]| key_part(&mut h, bytes);
    part(format!("{:?}", project.file).as_bytes());
    part(format!("{:?}", project.packages).as_bytes());
    part(format!("{target:?}").as_bytes());
    for (rel, text) in project.files.iter() {
        if !node_files.contains(rel.as_str()) {
            part(rel.as_bytes());
            part(text.as_bytes());
        }
    }
    for (id, n) in project.nodes.iter().chain(&project.disabled) {
        part(id.as_bytes());
        part(n.original_file_path.as_bytes());
    }
    format!("{:032x}", h.digest128())
}

/// A hasher of a key, started with what every key of a kept parse holds: Kiln's version and
/// build, the project directory and `--vars`.
pub(super) fn key_hasher(
    root: &std::path::Path,
    cli_vars: &BTreeMap<String, serde_json::Value>,
) -> Xxh3 {
    let mut h = Xxh3::new();
    key_part(&mut h, env!("CARGO_PKG_VERSION").as_bytes());
    key_part(&mut h, build_id().as_bytes());
    key_part(&mut h, root.to_string_lossy().as_bytes());
    key_part(&mut h, &serde_json::to_vec(cli_vars).unwrap_or_default());
    h
}

/// Feeds one part of a key, with its length, so two parts never run together.
pub(super) fn key_part(h: &mut Xxh3, bytes: &[u8]) {
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// The running binary's size and modification time: a rebuilt Kiln (whose built-in macros or
/// template functions may differ under the same version) never reads an older build's cache.
fn build_id() -> String {
    let meta = std::env::current_exe().and_then(std::fs::metadata);
    match meta {
        Ok(m) => format!("{} {:?}", m.len(), m.modified().ok()),
        Err(_) => String::new(),
    }
}

/// A value's hash as the cache keeps it.
fn value_hash(value: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(value.as_bytes()))
}

/// The environment variables a render read, each with a hash of the value it saw (None when
/// unset): what a cache keeps instead of the values.
pub(super) fn env_hashes(
    seen: &BTreeMap<String, Option<String>>,
) -> BTreeMap<String, Option<String>> {
    seen.iter()
        .map(|(k, v)| (k.clone(), v.as_deref().map(value_hash)))
        .collect()
}

/// Whether every variable in `hashes` (from [`env_hashes`]) still has the value it had.
pub(super) fn same_env(env: &EnvLookup, hashes: &BTreeMap<String, Option<String>>) -> bool {
    hashes
        .iter()
        .all(|(name, seen)| env(name).map(|v| value_hash(&v)) == *seen)
}

/// Feeds `value` into `h` through its `Hash`. The bytes go through a per-thread buffer and
/// into the hasher at once, since each of the hasher's updates has a cost of its own, and a
/// node writes a few hundred small fields.
pub(super) fn hash_fields(h: &mut Xxh3, value: &impl std::hash::Hash) {
    /// A `Hasher` that only collects the bytes it is given.
    struct Collect<'a>(&'a mut Vec<u8>);
    impl std::hash::Hasher for Collect<'_> {
        fn write(&mut self, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }
        fn finish(&self) -> u64 {
            0
        }
    }
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        value.hash(&mut Collect(&mut buf));
        h.update(&buf);
    });
}
