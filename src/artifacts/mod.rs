//! Recording: the JSON shapes Kiln writes to disk (`manifest.json`, ...) and compiled SQL files.
//!
//! This is the only module that defines on-disk JSON (invariant 3). Output is deterministic: maps
//! are sorted by key, lists keep a stable order, and nothing time-dependent goes into the manifest,
//! so the same project compiles to byte-identical files.

pub mod catalog;
pub mod compile_cache;
pub mod docs;
pub mod events;
pub mod manifest;
pub mod parse_cache;
pub mod run_results;
pub mod snapshot;
pub mod sources;
pub mod state;

use crate::error::{Diagnostic, Error, ErrorKind, Result};
use std::borrow::Cow;
use std::path::Path;

/// The dbt version whose artifact shapes Kiln writes (`metadata.dbt_version`): tools reading the
/// artifacts check it to pick their parser.
pub const DBT_VERSION: &str = "1.11.0";

/// The current time as dbt writes it in artifacts.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Writes `contents` to `path` atomically (temp file + rename), creating parent directories.
pub fn write_file(path: &Path, contents: &[u8]) -> Result<()> {
    write_pieces(path, &[contents])
}

/// Writes the concatenation of `pieces` to `path` atomically, as [`write_file`] does, without
/// joining them in memory first (a large manifest is tens of megabytes).
pub fn write_pieces<B: AsRef<[u8]>>(path: &Path, pieces: &[B]) -> Result<()> {
    let io_err = |what: &str, e: std::io::Error| {
        Error::from(
            Diagnostic::new(
                ErrorKind::Io,
                format!("cannot {what} {}: {e}", path.display()),
            )
            .with_hint("check that the target directory is writable"),
        )
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_err("create the directory for", e))?;
    }
    // The process id keeps two runs in one project (taking turns on the target) from writing
    // one temporary file and renaming it from under each other.
    let tmp = path.with_extension(format!(
        "{}.{}.kiln-tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        write_all_vectored(&mut file, pieces)
    };
    write().map_err(|e| io_err("write", e))?;
    replace(&tmp, path).map_err(|e| io_err("replace", e))
}

/// Writes every piece to `file` in order, many pieces to a call and none copied into a buffer
/// first: a manifest is thousands of pieces, most of them copied from the previous file.
fn write_all_vectored<B: AsRef<[u8]>>(
    file: &mut std::fs::File,
    pieces: &[B],
) -> std::io::Result<()> {
    use std::io::{ErrorKind, IoSlice, Write};
    // The most slices the kernel takes in one call (IOV_MAX on Linux and macOS).
    const MAX_SLICES: usize = 1024;
    let mut slices: Vec<IoSlice> = (pieces.iter())
        .map(|p| IoSlice::new(p.as_ref()))
        .filter(|s| !s.is_empty())
        .collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = rest.len().min(MAX_SLICES);
        match file.write_vectored(&rest[..n]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut rest, written),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The file at `path`, mapped into memory; None when it cannot be opened.
pub fn map_file(path: &Path) -> Option<memmap2::Mmap> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: Kiln never changes a file of the target path in place: a new file is put in
    // its place ([`write_pieces`]), which leaves the mapped file as it was.
    unsafe { memmap2::Mmap::map(&file) }.ok()
}

/// Puts the file `tmp` in place of `path` at once, readers seeing either the old file or the
/// new one.
///
/// On Linux the two are exchanged and the old file then removed. Renaming over an existing
/// file instead makes ext4 start writing the new one to disk at once (`auto_da_alloc`), and
/// the next command replacing it waits for that write: about 5 ms for a 6 MB manifest. Like
/// every file of the target path, the file is then written out by the kernel in its time, as
/// dbt's artifacts are; each reader checks what it reads.
fn replace(tmp: &Path, path: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes());
        if let (Ok(from), Ok(to)) = (c(tmp), c(path)) {
            // SAFETY: both are valid NUL-terminated paths, read by the call alone.
            let exchanged = unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    from.as_ptr(),
                    libc::AT_FDCWD,
                    to.as_ptr(),
                    libc::RENAME_EXCHANGE,
                )
            };
            if exchanged == 0 {
                // `tmp` now holds the old file; left behind, it is only a stray file.
                let _ = std::fs::remove_file(tmp);
                return Ok(());
            }
        }
    }
    std::fs::rename(tmp, path)
}

/// A member of a JSON object written as pieces (see [`object_pieces`]).
pub enum Member<'a> {
    /// `"key":value`, serialized whole by [`member_bytes`] (or copied from a file written so).
    Whole(Cow<'a, [u8]>),
    /// `"key":{...}` whose own members are already serialized, in order.
    Object(Vec<Cow<'a, [u8]>>),
}

/// A JSON object from `(key, member)` pairs in any order, sorted by key as serde_json's map is,
/// as pieces to hand to [`write_pieces`]: large members are never copied into one buffer.
/// Separators are pieces of their own, so each inner member stays the piece it was given.
pub fn object_pieces(mut members: Vec<(String, Member<'_>)>) -> Vec<Cow<'_, [u8]>> {
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<Cow<[u8]>> = vec![Cow::Borrowed(b"{")];
    for (i, (key, member)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(Cow::Borrowed(b","));
        }
        match member {
            Member::Whole(bytes) => out.push(bytes),
            Member::Object(inner) => {
                let mut head = serde_json::to_vec(&key).unwrap_or_default();
                head.extend_from_slice(b":{");
                out.push(Cow::Owned(head));
                for (j, m) in inner.into_iter().enumerate() {
                    if j > 0 {
                        out.push(Cow::Borrowed(b","));
                    }
                    out.push(m);
                }
                out.push(Cow::Borrowed(b"}"));
            }
        }
    }
    out.push(Cow::Borrowed(b"}\n"));
    out
}

/// Serializes a JSON value compactly (as dbt does) with sorted keys (serde_json's default map is
/// sorted) and a final newline.
pub fn to_json_bytes(value: &serde_json::Value) -> Vec<u8> {
    let mut out = serde_json::to_vec(value).unwrap_or_default();
    out.push(b'\n');
    out
}

/// One `"key":value` member of a JSON object, serialized as [`to_json_bytes`] would write it.
pub fn member_bytes<T: serde::Serialize + ?Sized>(key: &str, value: &T) -> Vec<u8> {
    let mut out = member_head(key, 0);
    let _ = serde_json::to_writer(&mut out, value);
    out
}

/// `"key":`, with room for `capacity` bytes of value after it.
fn member_head(key: &str, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 3 + capacity);
    let _ = serde_json::to_writer(&mut out, key);
    out.push(b':');
    out
}

/// A JSON object written straight to bytes, without building a `serde_json::Value` first. Its
/// members may be put in any order: they come out in key order, as serde_json's (sorted) maps
/// write theirs, and a key put twice keeps its last value, as a map's `insert` does. Large
/// artifacts (a manifest's nodes) are written this way: building and dropping a tree of values
/// per node cost more than serializing it.
#[derive(Default)]
pub struct JsonObject<'k> {
    /// The values, serialized one after the other.
    values: Vec<u8>,
    /// Each member's key and where its value is in `values`.
    members: Vec<(Cow<'k, str>, std::ops::Range<usize>)>,
}

impl<'k> JsonObject<'k> {
    /// An empty object.
    pub fn new() -> JsonObject<'k> {
        JsonObject::default()
    }

    /// An empty object with room for `members` members of `bytes` bytes of values in all.
    pub fn with_capacity(members: usize, bytes: usize) -> JsonObject<'k> {
        JsonObject {
            values: Vec::with_capacity(bytes),
            members: Vec::with_capacity(members),
        }
    }

    /// Puts the member `key` with `value`, serialized as serde_json does.
    pub fn put<T: serde::Serialize + ?Sized>(&mut self, key: impl Into<Cow<'k, str>>, value: &T) {
        let start = self.values.len();
        // Serializing to a vector fails only for a map with non-string keys, which no caller
        // writes; the member is then `null` rather than half written.
        if serde_json::to_writer(&mut self.values, value).is_err() {
            self.values.truncate(start);
            self.values.extend_from_slice(b"null");
        }
        self.members.push((key.into(), start..self.values.len()));
    }

    /// Puts the member `key` with a value already serialized.
    pub fn put_raw(&mut self, key: impl Into<Cow<'k, str>>, json: &[u8]) {
        let start = self.values.len();
        self.values.extend_from_slice(json);
        self.members.push((key.into(), start..self.values.len()));
    }

    /// Puts the member `key` with the object `value`.
    pub fn put_object(&mut self, key: impl Into<Cow<'k, str>>, value: JsonObject<'_>) {
        let start = self.values.len();
        value.write_to(&mut self.values);
        self.members.push((key.into(), start..self.values.len()));
    }

    /// About how many bytes the object takes when written.
    fn written_len(&self) -> usize {
        self.values.len() + self.members.iter().map(|(k, _)| k.len() + 4).sum::<usize>() + 2
    }

    /// Writes the object to `out`.
    pub fn write_to(mut self, out: &mut Vec<u8>) {
        // Stable: of two members with one key, the one put last comes last and is kept.
        // Members put in order, or in a few ordered runs, sort in about one pass.
        if !self.members.is_sorted_by(|a, b| a.0 < b.0) {
            self.members.sort_by(|a, b| a.0.cmp(&b.0));
        }
        out.reserve(self.written_len());
        out.push(b'{');
        let mut first = true;
        for (i, (key, range)) in self.members.iter().enumerate() {
            if self.members.get(i + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            let _ = serde_json::to_writer(&mut *out, key.as_ref());
            out.push(b':');
            out.extend_from_slice(&self.values[range.clone()]);
        }
        out.push(b'}');
    }

    /// The object as the `"key":{...}` member of an enclosing object, as [`member_bytes`]
    /// writes a value.
    pub fn into_member(self, key: &str) -> Vec<u8> {
        let mut out = member_head(key, self.written_len());
        self.write_to(&mut out);
        out
    }

    /// The object's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_object_writes_its_members_in_key_order_as_a_serde_json_map_does() {
        let mut o = JsonObject::new();
        o.put("b", &[1, 2]);
        o.put("a-b", "x\"y");
        o.put(String::from("c"), &serde_json::json!({"z": 1, "y": null}));
        o.put("a", &1);
        o.put_raw("ab", b"true");
        o.put("b", &"last");
        let expected = serde_json::json!({
            "b": "last", "a-b": "x\"y", "c": {"z": 1, "y": null}, "a": 1, "ab": true
        });
        assert_eq!(
            String::from_utf8(o.into_bytes()).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
        assert_eq!(JsonObject::new().into_bytes(), b"{}");
    }

    #[test]
    fn a_file_written_again_replaces_the_old_one_whole_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        write_file(&path, b"{\"old\":true}\n").unwrap();
        let old = map_file(&path).unwrap();
        write_pieces(&path, &[&b"{\"new\":"[..], b"1}\n"]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"new\":1}\n");
        // A reader of the old file still sees it whole.
        assert_eq!(&old[..], b"{\"old\":true}\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["manifest.json"]);
    }

    #[test]
    fn thousands_of_pieces_of_any_size_are_written_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("many.json");
        // More pieces than one call takes, empty ones among them, and some large enough that a
        // call may write only part of its slices.
        let pieces: Vec<Vec<u8>> = (0..5000)
            .map(|i: usize| match i % 7 {
                0 => Vec::new(),
                3 => vec![b'a' + (i % 26) as u8; 70_000],
                _ => i.to_string().into_bytes(),
            })
            .collect();
        write_pieces(&path, &pieces).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), pieces.concat());
    }
}
