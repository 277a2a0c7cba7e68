//! The project snapshot, `<target>/kiln_snapshot.bin`: the parsed project kept whole, so a
//! command on a project where nothing changed neither reads nor parses it again.
//!
//! The snapshot is never stale. It is used as it is only when everything its parse was made of
//! is as it was:
//! - the key: Kiln's version and build, the project directory, `--vars` and the whole target
//!   (only a hash of it is kept, so no secret reaches the file);
//! - every input of the load (`Project::files` and `Project::inputs`): each file it read, or
//!   read in part, or only looked for, compared by size, modification and change times and
//!   inode; and the names in each folder it listed;
//! - every environment variable the load and the parse read, each with the same value (a hash
//!   of each value is kept).
//!
//! A file read whole whose stamp changed is compared by the hash of the text that was parsed.
//! When nothing else changed, the texts that did are edits the command may take into the kept
//! parse (`Manifest::patch`: an edited model is rendered and planned again) instead of parsing
//! the whole project.
//!
//! A file changed within two seconds of the load's start may have changed while it was being
//! read, with times the load could not tell from the ones it saw: a file read whole is then
//! compared by its text, a seed by what the load took from it (its header line and checksum),
//! until a command finds it unchanged and its last change two seconds behind, and stamps it
//! again (an edited file is left to be seen as edited); for a file only looked for no snapshot
//! is written. A parse whose renders may read what differs between invocations
//! (`Manifest::reads_invocation`) is not kept. A snapshot that cannot be read, or one of
//! another format, is a miss: the command loads and parses the project as without it.
//!
//! The file is a header, then the body: the parse without its nodes, then the nodes in chunks
//! (decoded in parallel while the inputs are checked), each part framed by its length. Each
//! part holds its configs (the nodes' and those loaded before their `config()` calls) as
//! indexes into the part's table of distinct ones, read back as one shared map. A file's text
//! that is a node's `raw_code` (a model's whole file) is kept once, in the node.

use super::parse_cache::{env_hashes, same_env};
use crate::compile::{Manifest, Parsed};
use crate::error::{Diagnostic, Error, ErrorKind, Result};
use crate::project::ResourceType;
use crate::project::config::{Shared, read_shared, write_shared};
use crate::project::profiles::Target;
use crate::template::EnvLookup;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The snapshot's file name under the target path.
pub const FILE: &str = "kiln_snapshot.bin";

/// Bumped whenever the shape of the file or of anything it holds changes.
const FORMAT: u32 = 5;

/// How close to a load's start a change must be for the load to have maybe missed it.
const RACY: Duration = Duration::from_secs(2);

/// What the file system says of a file or folder, as compared between two commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    len: u64,
    /// Modification and status-change times, in nanoseconds since the epoch.
    modified: i128,
    changed: i128,
    inode: u64,
}

impl Stamp {
    /// The stamp of `path` now; None when it does not exist (or cannot be looked at).
    fn of(path: &Path) -> Option<Stamp> {
        #[cfg(unix)]
        return Stamp::at(rustix::fs::CWD, path);
        #[cfg(not(unix))]
        {
            let meta = std::fs::metadata(path).ok()?;
            let nanos = |t: std::io::Result<SystemTime>| {
                t.ok()
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() as i128)
            };
            Some(Stamp {
                len: meta.len(),
                modified: nanos(meta.modified()),
                changed: nanos(meta.modified()),
                inode: 0,
            })
        }
    }

    /// The stamp of `path`, relative to the folder `dir`, now.
    #[cfg(unix)]
    // The field types differ between platforms: the conversions are no-ops on some.
    #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
    fn at<Fd: rustix::fd::AsFd>(dir: Fd, path: &Path) -> Option<Stamp> {
        let st = rustix::fs::statat(dir, path, rustix::fs::AtFlags::empty()).ok()?;
        let nanos = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Some(Stamp {
            len: u64::try_from(st.st_size).unwrap_or(0),
            modified: nanos(st.st_mtime as i64, st.st_mtime_nsec as i64),
            changed: nanos(st.st_ctime as i64, st.st_ctime_nsec as i64),
            inode: u64::from(st.st_ino),
        })
    }

    /// Whether a change at this stamp's times could have happened at or after `since`.
    fn racy(&self, since: i128) -> bool {
        self.modified.max(self.changed) >= since
    }
}

/// The folder of the last path looked at, kept open. Inputs are listed folder by folder, so
/// each is looked at relative to its folder instead of walking its whole path again: at
/// thousands of files that walk is a good part of checking them.
#[derive(Default)]
struct Folder {
    path: Option<PathBuf>,
    #[cfg(unix)]
    fd: Option<rustix::fd::OwnedFd>,
}

impl Folder {
    /// The stamp of `path` now, as [`Stamp::of`].
    fn stamp(&mut self, path: &Path) -> Option<Stamp> {
        #[cfg(unix)]
        if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
            use rustix::fs::{Mode, OFlags};
            if self.path.as_deref() != Some(dir) {
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
                self.fd = rustix::fs::open(dir, flags, Mode::empty()).ok();
                self.path = Some(dir.to_path_buf());
            }
            if let Some(fd) = &self.fd {
                return Stamp::at(fd, Path::new(name));
            }
        }
        Stamp::of(path)
    }
}

/// One input of the load as the snapshot saw it.
#[derive(Debug, Serialize, Deserialize)]
struct Input {
    path: PathBuf,
    stamp: Option<Stamp>,
    /// For a file read whole: its name in `Project::files` and the hash of the text parsed.
    text: Option<(String, u64)>,
    /// For a seed: its name and `project::seed_fingerprint`, what the load took from it.
    seed: Option<(String, u64)>,
    /// Changed near the load's start: compared by content, whatever its stamp says.
    racy: bool,
}

/// What is checked before the snapshot's parse is used.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: u32,
    key: String,
    /// A hash of the parse kept: its id (`Manifest::kept`).
    id: String,
    /// Environment variables read, each with a hash of the value seen (None when unset).
    env: BTreeMap<String, Option<String>>,
    /// The files the load read or looked for.
    inputs: Vec<Input>,
    /// The folders the load listed, with the hash of the names it saw (None when missing).
    dirs: Vec<(PathBuf, Option<u64>)>,
    /// How many nodes the parse rendered or took from the partial-parse cache.
    renders: usize,
}

/// A parse kept in the snapshot, how many node renders it stands for, and the files read whole
/// that were edited since (`(name, text)`).
pub struct Kept {
    pub parsed: Parsed,
    pub renders: usize,
    pub id: String,
    pub edits: Vec<(String, String)>,
}

/// The key of what a parse depends on besides the project's own files and the environment.
pub fn key(root: &Path, cli_vars: &BTreeMap<String, serde_json::Value>, target: &Target) -> String {
    let mut h = super::parse_cache::key_hasher(root, cli_vars);
    super::parse_cache::key_part(&mut h, format!("{target:?}").as_bytes());
    format!("{:032x}", h.digest128())
}

/// Records the environment variables a load and parse read, with a hash of each value.
#[derive(Clone, Default)]
pub struct EnvReads(Arc<Mutex<BTreeMap<String, Option<String>>>>);

impl EnvReads {
    /// `env`, with every read recorded.
    pub fn wrap(&self, env: EnvLookup) -> EnvLookup {
        let seen = self.0.clone();
        Arc::new(move |name: &str| {
            let value = env(name);
            if let Ok(mut seen) = seen.lock() {
                seen.insert(name.to_string(), value.clone());
            }
            value
        })
    }

    /// The variables read so far, each with a hash of its value.
    fn hashes(&self) -> BTreeMap<String, Option<String>> {
        self.0.lock().map(|s| env_hashes(&s)).unwrap_or_default()
    }
}

/// The parse kept under `target_dir` with `key`, if nothing it was made of has changed, handed
/// to `restore`, which turns it back into what the command works on while the heap may still
/// grow in huge pages (see [`in_huge_pages`]).
pub fn open<R>(
    target_dir: &Path,
    key: &str,
    env: &EnvLookup,
    restore: impl FnOnce(Kept) -> Option<R>,
) -> Option<R> {
    let checked = SystemTime::now();
    let path = target_dir.join(FILE);
    let bytes = super::map_file(&path)?;
    let (header, body) = split_frame(&bytes)?;
    let mut header: Header = rmp_serde::from_slice(header).ok()?;
    if header.format != FORMAT || header.key != key || !same_env(env, &header.env) {
        return None;
    }
    in_huge_pages(HEAP_PER_BYTE * body.len(), || {
        // The body is decoded while the inputs are checked: on a hit both are needed.
        let (edits, parsed) = rayon::join(|| edits(&header), || decode_body(body));
        let edits = edits?;
        if settle(&mut header, checked, &edits) {
            // Best effort: a snapshot not rewritten is only checked by content again.
            let _ = write(&path, &header, body);
        }
        restore(Kept {
            parsed: parsed?,
            renders: header.renders,
            id: header.id,
            edits,
        })
    })
}

/// About how many bytes of heap decoding one byte of the body makes: enough for the range
/// [`in_huge_pages`] advises to hold what decoding makes.
const HEAP_PER_BYTE: usize = 12;

/// Runs `decode`, which makes about `bytes` of heap, with the heap allowed 2 MiB pages where
/// the kernel has them to give. Decoding a snapshot fills thousands of fresh 4 KiB pages, and
/// their page faults were a third of the CPU of a re-parse after an edit; in 2 MiB pages the
/// re-parse of a 2,000-model project takes about 15% less time (and 9 MB more resident).
///
/// The allocator leaves huge pages off for the rest of the process (see `Cargo.toml`): they
/// are allowed for this call only, in the range from the 2 MiB page of a fresh allocation (the
/// heap grows from its newest pages), and turned off again after it.
#[cfg(target_os = "linux")]
fn in_huge_pages<R>(bytes: usize, decode: impl FnOnce() -> R) -> R {
    use rustix::thread::{disable_transparent_huge_pages, transparent_huge_pages_are_disabled};
    const HUGE: usize = 2 << 20;
    // The heap in use before the decode, which the range starts among.
    const HEAP_BEFORE: usize = 4 << 20;
    let probe = Box::new(0u64);
    let start = (&raw const *probe as usize) & !(HUGE - 1);
    drop(probe);
    let len = (HEAP_BEFORE + bytes).next_multiple_of(HUGE);
    let was_disabled = transparent_huge_pages_are_disabled().unwrap_or(false);
    if was_disabled {
        let _ = disable_transparent_huge_pages(false);
    }
    // SAFETY: advice on how to back a range touches no memory; where part of the range is not
    // mapped the call fails for that part, and the advice holds for the rest.
    let _ = unsafe { rustix::mm::madvise(start as *mut _, len, rustix::mm::Advice::LinuxHugepage) };
    let decoded = decode();
    if was_disabled {
        let _ = disable_transparent_huge_pages(true);
    }
    decoded
}

#[cfg(not(target_os = "linux"))]
fn in_huge_pages<R>(_bytes: usize, decode: impl FnOnce() -> R) -> R {
    decode()
}

/// How many nodes each chunk of the body holds.
const CHUNK: usize = 256;

/// The body of a snapshot of `manifest`'s parse: the parse without its nodes, then the nodes
/// in chunks, each framed by its length, so they decode in parallel.
fn encode_body(manifest: &Manifest) -> Result<Vec<u8>> {
    let nodes: Vec<(&String, &crate::compile::ManifestNode)> = manifest.nodes.iter().collect();
    let (rest, chunks) = rayon::join(
        || encode_shared(&manifest.parsed()),
        || {
            (nodes.par_chunks(CHUNK))
                .map(|chunk| encode_shared(&chunk))
                .collect::<std::result::Result<Vec<_>, _>>()
        },
    );
    let mut body = Vec::new();
    for frame in std::iter::once(rest.map_err(encoding)?).chain(chunks.map_err(encoding)?) {
        body.extend_from_slice(&frame_len(&frame));
        body.extend_from_slice(&frame);
    }
    Ok(body)
}

/// A part of the body: the table of the distinct configs in `value`, framed, then `value`,
/// which holds indexes into it.
fn encode_shared(
    value: &impl serde::Serialize,
) -> std::result::Result<Vec<u8>, rmp_serde::encode::Error> {
    let (value, shared) = write_shared(|| rmp_serde::to_vec(value));
    let table = rmp_serde::to_vec(&shared)?;
    Ok([&frame_len(&table)[..], &table, &value?].concat())
}

/// A part written by [`encode_shared`]; None when it cannot be read.
fn decode_shared<T: serde::de::DeserializeOwned>(part: &[u8]) -> Option<T> {
    let (table, value) = split_frame(part)?;
    let shared: Shared = rmp_serde::from_slice(table).ok()?;
    read_shared(shared, || rmp_serde::from_slice(value).ok())
}

/// The length that goes before a frame of the file: 8 bytes, little-endian.
fn frame_len(frame: &[u8]) -> [u8; 8] {
    (frame.len() as u64).to_le_bytes()
}

/// The first frame of `bytes` and what follows it; None when `bytes` is cut short.
fn split_frame(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<8>()?;
    rest.split_at_checked(usize::try_from(u64::from_le_bytes(*len)).ok()?)
}

/// The parse in a body written by [`encode_body`]; None when it cannot be read.
fn decode_body(mut body: &[u8]) -> Option<Parsed> {
    let mut frames = Vec::new();
    while !body.is_empty() {
        let (frame, rest) = split_frame(body)?;
        frames.push(frame);
        body = rest;
    }
    let (first, chunks) = frames.split_first()?;
    let (parsed, chunks) = rayon::join(
        || decode_shared::<Parsed>(first),
        || {
            (chunks.par_iter())
                .map(|c| decode_shared::<Vec<(String, crate::compile::ManifestNode)>>(c))
                .collect::<Option<Vec<_>>>()
        },
    );
    let mut parsed = parsed?;
    // Inserted in order, not collected: collecting moves every node through a vector and a
    // sort first, into fresh memory.
    parsed.nodes.extend(chunks?.into_iter().flatten());
    parsed.with_files()
}

/// Stamps again, as compared by their content, the inputs found unchanged that had changed
/// near the load's start and whose last change is now long enough before `checked`, the time
/// the check started. Returns whether any was. The `edits` found are left as they are: the
/// snapshot still holds their old text, so the next command must see them as edited too.
fn settle(header: &mut Header, checked: SystemTime, edits: &[(String, String)]) -> bool {
    let since = racy_since(checked);
    let edited = |input: &Input| {
        (input.text.as_ref()).is_some_and(|(name, _)| edits.iter().any(|(e, _)| e == name))
    };
    let mut settled = false;
    for input in (header.inputs.iter_mut()).filter(|i| i.racy && !edited(i)) {
        if let Some(stamp) = Stamp::of(&input.path).filter(|s| !s.racy(since)) {
            input.stamp = Some(stamp);
            input.racy = false;
            settled = true;
        }
    }
    settled
}

/// Changes at or after this time, two seconds before `t`, may not show in a file's times.
fn racy_since(t: SystemTime) -> i128 {
    t.checked_sub(RACY)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128)
}

/// The files read whole that `header` lists and whose text changed, each with its new text;
/// None when anything else changed: a folder's names, a file read in part or looked for, a
/// file read whole that is gone or no longer UTF-8.
fn edits(header: &Header) -> Option<Vec<(String, String)>> {
    let same_dirs =
        (header.dirs.par_iter()).all(|(dir, names)| crate::project::listing_of(dir) == *names);
    if !same_dirs {
        return None;
    }
    let edited: Option<Vec<Option<(String, String)>>> = (header.inputs.par_iter())
        .map_init(Folder::default, |folder, i| {
            if !i.racy && folder.stamp(&i.path) == i.stamp {
                return Some(None);
            }
            if let Some((name, fingerprint)) = &i.seed {
                let now = crate::project::read_seed_fingerprint(&i.path, name)?;
                return (now == *fingerprint).then_some(None);
            }
            let (name, hash) = i.text.as_ref()?;
            let bytes = std::fs::read(&i.path).ok()?;
            if xxhash_rust::xxh3::xxh3_64(&bytes) == *hash {
                return Some(None);
            }
            Some(Some((name.clone(), String::from_utf8(bytes).ok()?)))
        })
        .collect();
    Some(edited?.into_iter().flatten().collect())
}

/// Keeps `manifest`'s parse (of `renders` node renders) under its target path, with `key`, the
/// environment variables read and the time its load started. Returns the id of the parse kept,
/// or None when it cannot be kept (a parse that reads the invocation, an input changed while
/// it was loaded).
pub fn save(
    manifest: &Manifest,
    key: &str,
    env: &EnvReads,
    started: SystemTime,
    renders: usize,
) -> Result<Option<String>> {
    if manifest.reads_invocation {
        return Ok(None);
    }
    let (inputs, body) = rayon::join(|| inputs(manifest, started), || encode_body(manifest));
    let Some(inputs) = inputs else {
        return Ok(None);
    };
    let body = body?;
    let id = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&body));
    let header = Header {
        format: FORMAT,
        key: key.to_string(),
        id: id.clone(),
        env: env.hashes(),
        inputs,
        dirs: (manifest.project.inputs.dirs.iter())
            .map(|(dir, names)| (dir.clone(), *names))
            .collect(),
        renders,
    };
    write(&manifest.project.target_dir().join(FILE), &header, &body)?;
    Ok(Some(id))
}

/// Writes the snapshot file: the header's length, the header, then the body.
fn write(path: &Path, header: &Header, body: &[u8]) -> Result<()> {
    let header = rmp_serde::to_vec(header).map_err(encoding)?;
    super::write_pieces(path, &[&frame_len(&header)[..], &header, body])
}

fn encoding(e: rmp_serde::encode::Error) -> Error {
    Error::from(Diagnostic::new(
        ErrorKind::Io,
        format!("cannot encode the project snapshot: {e}"),
    ))
}

/// Every input of the load of `manifest`'s project with its stamp; None when one may have
/// changed while it was read and cannot be compared by content.
fn inputs(manifest: &Manifest, started: SystemTime) -> Option<Vec<Input>> {
    let project = &manifest.project;
    let nodes = manifest.nodes.values().map(|mn| &*mn.node);
    let seeds: HashMap<PathBuf, (String, u64)> = (nodes.chain(project.disabled.values()))
        .filter(|n| n.resource_type == ResourceType::Seed)
        .filter_map(|n| {
            let header = project.files.get(&n.original_file_path)?;
            let fingerprint = crate::project::seed_fingerprint(header, &n.checksum);
            let path = project.root.join(&n.original_file_path);
            Some((path, (n.original_file_path.clone(), fingerprint)))
        })
        .collect();
    let since = racy_since(started);
    let partial = project.inputs.files.iter().map(|p| (p.clone(), None));
    let whole = project
        .files
        .iter()
        .map(|(rel, text)| (project.root.join(rel), Some((rel, text))))
        .filter(|(path, _)| !project.inputs.files.contains(path));
    let all: Vec<(PathBuf, Option<(&String, &String)>)> = partial.chain(whole).collect();
    all.into_par_iter()
        .map_init(Folder::default, |folder, (path, text)| {
            let stamp = folder.stamp(&path);
            let racy = stamp.is_some_and(|s| s.racy(since));
            let seed = seeds.get(&path).cloned();
            if racy && text.is_none() && seed.is_none() {
                return None;
            }
            let text = text.map(|(rel, t)| (rel.clone(), xxhash_rust::xxh3::xxh3_64(t.as_bytes())));
            Some(Input {
                path,
                stamp,
                text,
                seed,
                racy,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn huge_pages_are_allowed_while_decoding_and_left_as_they_were_after() {
        use rustix::thread::{disable_transparent_huge_pages, transparent_huge_pages_are_disabled};
        let before = transparent_huge_pages_are_disabled().unwrap();
        for disabled in [true, false] {
            disable_transparent_huge_pages(disabled).unwrap();
            let (allowed, made) = in_huge_pages(8 << 20, || {
                let made: Vec<u64> = (0..1_000_000).collect();
                (!transparent_huge_pages_are_disabled().unwrap(), made)
            });
            assert!(allowed);
            assert_eq!(made.iter().sum::<u64>(), 499_999_500_000);
            assert_eq!(transparent_huge_pages_are_disabled().unwrap(), disabled);
        }
        disable_transparent_huge_pages(before).unwrap();
    }

    #[test]
    fn stamps_tell_a_missing_path_from_an_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.sql");
        assert_eq!(Stamp::of(&file), None);
        std::fs::write(&file, "select 1").unwrap();
        let stamp = Stamp::of(&file).unwrap();
        assert_eq!(stamp.len, 8);
        assert!(stamp.racy(0));
        std::fs::write(&file, "select 22").unwrap();
        assert_ne!(Stamp::of(&file), Some(stamp));
    }

    #[test]
    fn a_kept_parse_comes_back_whole() {
        // The demo project at the repository root: packages, sources, seeds, snapshots, tests.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let env = |_: &str| None;
        let project = crate::project::load(&crate::project::LoadOptions {
            project_dir: root,
            cli_vars: BTreeMap::new(),
            env: &env,
        })
        .unwrap();
        assert!(!project.packages.is_empty() && !project.sources.is_empty());
        let target = Target::embedded_default(root, "kiln_demo");
        let opts = crate::compile::ParseOptions {
            env: Arc::new(|_: &str| None),
            invocation: Default::default(),
            cache: None,
        };
        let parsed = crate::compile::parse(project, target.clone(), &opts).unwrap();
        let bytes = encode_body(&parsed).unwrap();
        // A model's file text is its raw_code: the body holds it once.
        let model = (parsed.nodes.values())
            .find(|mn| mn.node.resource_type == ResourceType::Model && mn.node.raw_code.len() > 40)
            .unwrap();
        let text = model.node.raw_code.as_bytes();
        assert_eq!(
            parsed.project.files[&model.node.original_file_path].as_bytes(),
            text
        );
        assert_eq!(bytes.windows(text.len()).filter(|w| *w == text).count(), 1);
        let back =
            crate::compile::restore(decode_body(&bytes).unwrap(), target, &opts, &[]).unwrap();
        assert_eq!(back.project, parsed.project);
        assert_eq!(back.nodes, parsed.nodes);
        assert_eq!(back.source_relations, parsed.source_relations);
        assert_eq!(back.warnings, parsed.warnings);
        assert_eq!(back.cache_key, parsed.cache_key);
        assert_eq!(back.loaded_configs, parsed.loaded_configs);
        // Equal configs loaded before nodes' config() calls come back as one shared map.
        let loaded: Vec<_> = back.loaded_configs.values().collect();
        let pairs = loaded
            .iter()
            .flat_map(|a| loaded.iter().map(move |b| (a, b)));
        let equal = pairs.filter(|(a, b)| !std::ptr::eq(**a, **b) && a.1 == b.1);
        assert!(equal.clone().count() > 0);
        assert!(equal.clone().all(|(a, b)| Arc::ptr_eq(&a.1, &b.1)));
        assert_eq!(back.dag().topo_order(None), parsed.dag().topo_order(None));
        let ids = |m: &Manifest| {
            m.dag()
                .nodes()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&back), ids(&parsed));
    }

    fn header(inputs: Vec<Input>, dirs: Vec<(PathBuf, Option<u64>)>) -> Header {
        Header {
            format: FORMAT,
            key: String::new(),
            env: BTreeMap::new(),
            inputs,
            dirs,
            renders: 0,
            id: String::new(),
        }
    }

    #[test]
    fn a_file_changed_near_its_load_is_compared_by_content_not_by_its_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sql");
        std::fs::write(&path, "select 2").unwrap();
        let stamp = Stamp::of(&path);
        let input = |text: &[u8], racy: bool| Input {
            path: path.clone(),
            stamp,
            text: Some(("a.sql".into(), xxhash_rust::xxh3::xxh3_64(text))),
            seed: None,
            racy,
        };
        let none = Some(vec![]);
        assert_eq!(
            edits(&header(vec![input(b"select 1", false)], vec![])),
            none
        );
        // The stamp is the file's own, but the text parsed was another one of the same size.
        let edited = Some(vec![("a.sql".to_string(), "select 2".to_string())]);
        assert_eq!(
            edits(&header(vec![input(b"select 1", true)], vec![])),
            edited
        );
        assert_eq!(edits(&header(vec![input(b"select 2", true)], vec![])), none);
        // A stamp that changed with the same text (touched): no edit.
        std::fs::write(&path, "select 2").unwrap();
        let touched = Input {
            stamp: None,
            ..input(b"select 2", false)
        };
        assert_eq!(edits(&header(vec![touched], vec![])), none);
        // A file read in part or looked for that changed: not an edit to take.
        let probed = Input {
            stamp: None,
            text: None,
            ..input(b"", false)
        };
        assert_eq!(edits(&header(vec![probed], vec![])), None);
    }

    #[test]
    fn inputs_settle_beside_an_edit_but_the_edit_stays_seen() {
        let dir = tempfile::tempdir().unwrap();
        let input = |name: &str, parsed: &[u8], now: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, now).unwrap();
            Input {
                stamp: Stamp::of(&path),
                path,
                text: Some((name.into(), xxhash_rust::xxh3::xxh3_64(parsed))),
                seed: None,
                racy: true,
            }
        };
        let inputs = vec![
            input("same.sql", b"select 1", b"select 1"),
            input("edited.sql", b"select 1", b"select 2"),
        ];
        let mut header = header(inputs, vec![]);
        let edited = edits(&header).unwrap();
        assert_eq!(edited, vec![("edited.sql".into(), "select 2".into())]);
        // Long after both were written: the unchanged file settles, the edited one does not.
        let later = SystemTime::now() + Duration::from_secs(10);
        assert!(settle(&mut header, later, &edited));
        assert!(!header.inputs[0].racy);
        assert!(header.inputs[1].racy);
        assert_eq!(edits(&header).unwrap(), edited);
    }

    #[test]
    fn a_folder_is_compared_by_the_names_in_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.sql"), "").unwrap();
        let listed = crate::project::listing_of(dir.path());
        let missing = dir.path().join("nothing");
        let dirs = vec![(dir.path().to_path_buf(), listed), (missing.clone(), None)];
        let unchanged = |dirs: &Vec<(PathBuf, Option<u64>)>| {
            edits(&header(vec![], dirs.clone())).is_some_and(|e| e.is_empty())
        };
        assert!(unchanged(&dirs));
        std::fs::write(dir.path().join("b.sql"), "").unwrap();
        assert!(!unchanged(&dirs));
        std::fs::remove_file(dir.path().join("b.sql")).unwrap();
        assert!(unchanged(&dirs));
        std::fs::create_dir(&missing).unwrap();
        assert!(!unchanged(&dirs));
    }
}
