//! Recording: the JSON shapes Kiln writes to disk (`manifest.json`, ...) and compiled SQL files.
//!
//! This is the only module that defines on-disk JSON (invariant 3). Output is deterministic: maps
//! are sorted by key, lists keep a stable order, and nothing time-dependent goes into the manifest,
//! so the same project compiles to byte-identical files.

pub mod catalog;
pub mod docs;
pub mod events;
pub mod manifest;
pub mod run_results;
pub mod sources;
pub mod state;

use crate::error::{Diagnostic, Error, ErrorKind, Result};
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
    std::fs::write(&tmp, contents).map_err(|e| io_err("write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err("replace", e))
}

/// Serializes a JSON value compactly (as dbt does) with sorted keys (serde_json's default map is
/// sorted) and a final newline.
pub fn to_json_bytes(value: &serde_json::Value) -> Vec<u8> {
    let mut out = serde_json::to_vec(value).unwrap_or_default();
    out.push(b'\n');
    out
}

/// One `"key":value` member of a JSON object, serialized as [`to_json_bytes`] would write it.
pub fn member_bytes(key: &str, value: &serde_json::Value) -> Vec<u8> {
    let mut out = serde_json::to_vec(key).unwrap_or_default();
    out.push(b':');
    let _ = serde_json::to_writer(&mut out, value);
    out
}

/// A JSON object from members made by [`member_bytes`], in the order given (callers pass them
/// sorted by key, as serde_json's map would write them).
pub fn object_bytes<B: AsRef<[u8]>>(members: &[B]) -> Vec<u8> {
    let len: usize = members.iter().map(|m| m.as_ref().len() + 1).sum();
    let mut out = Vec::with_capacity(len + 2);
    out.push(b'{');
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(m.as_ref());
    }
    out.push(b'}');
    out
}

/// The member `"key":{...}` of an object whose own members are already serialized.
pub fn object_member_bytes<B: AsRef<[u8]>>(key: &str, members: &[B]) -> Vec<u8> {
    let mut out = serde_json::to_vec(key).unwrap_or_default();
    out.push(b':');
    out.extend(object_bytes(members));
    out
}

/// A JSON object from `(key, member)` pairs in any order, sorted by key as serde_json's map is.
pub fn sorted_object_bytes(mut members: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let chunks: Vec<Vec<u8>> = members.into_iter().map(|(_, m)| m).collect();
    object_bytes(&chunks)
}
