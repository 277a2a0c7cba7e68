//! Local packages: a directory on disk, named relative to the root project (also when a
//! package lists it, as in dbt). Installed as a symlink to the directory's absolute path so
//! edits show up without reinstalling; copied where symlinks are unavailable.

use super::files::copy_dir;
use crate::error::{Diagnostic, ErrorKind};
use std::path::{Path, PathBuf};

/// The absolute directory of the local package `path`, which must exist.
pub fn resolve(root: &Path, path: &str) -> Result<PathBuf, Diagnostic> {
    root.join(path)
        .canonicalize()
        .ok()
        .filter(|p| p.is_dir())
        .ok_or_else(|| {
            Diagnostic::new(
                ErrorKind::Project,
                format!("local package `{path}` is not a directory"),
            )
            .with_hint(
                "`local:` is a path to a dbt project, relative to the root project's directory",
            )
        })
}

/// Links (or, failing that, copies) the package directory `src` to `dest`. Returns true when
/// it had to copy.
pub fn install(src: &Path, dest: &Path) -> std::io::Result<bool> {
    if symlink_dir(src, dest).is_ok() {
        return Ok(false);
    }
    copy_dir(src, dest)?;
    Ok(true)
}

#[cfg(unix)]
fn symlink_dir(src: &Path, dest: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(src, dest)
}

#[cfg(windows)]
fn symlink_dir(src: &Path, dest: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_dir(src, dest)
}

#[cfg(not(any(unix, windows)))]
fn symlink_dir(_src: &Path, _dest: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other("symlinks are not supported here"))
}
