//! Git packages: cloned with the `git` program into the downloads folder, checked out at the
//! requested branch, tag or commit, pinned to the commit sha that names, and installed as a
//! copy of the checkout (or of its `subdirectory:`) without `.git`.

use crate::error::{Diagnostic, ErrorKind};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A clone of a repository at one commit.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// The work tree.
    pub dir: PathBuf,
    /// The full sha of the checked-out commit.
    pub sha: String,
    /// True when the requested revision is a branch (so the sha will move).
    pub on_branch: bool,
}

/// Clones `url` into `dir` and checks out `revision` (the default branch when `None`).
pub fn checkout(url: &str, revision: Option<&str>, dir: &Path) -> Result<Checkout, Diagnostic> {
    let dir_text = dir.to_string_lossy();
    git(None, &["clone", "--quiet", "--no-checkout", url, &dir_text]).map_err(|e| {
        Diagnostic::new(ErrorKind::Io, format!("git could not clone {url}: {e}"))
            .with_hint("check the URL and that you can reach it (network, git credentials)")
    })?;
    let target = revision.unwrap_or("HEAD");
    git(Some(dir), &["checkout", "--quiet", target]).map_err(|e| {
        Diagnostic::new(
            ErrorKind::Io,
            format!("git could not check out revision `{target}` of {url}: {e}"),
        )
        .with_hint("check that the branch, tag or commit exists in the repository")
    })?;
    let sha = git(Some(dir), &["rev-parse", "HEAD"]).map_err(|e| {
        Diagnostic::new(
            ErrorKind::Io,
            format!("git could not read the commit of {url}: {e}"),
        )
        .with_hint("check that the repository is not empty")
    })?;
    let on_branch = match revision {
        None => true,
        Some(rev) => git(
            Some(dir),
            &[
                "show-ref",
                "--verify",
                "--quiet",
                &format!("refs/remotes/origin/{rev}"),
            ],
        )
        .is_ok(),
    };
    Ok(Checkout {
        dir: dir.to_path_buf(),
        sha: sha.trim().to_string(),
        on_branch,
    })
}

/// Runs `git` (in `dir` when given) and returns its stdout, or a one-line reason it failed.
fn git(dir: Option<&Path>, args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    cmd.args(["-c", "advice.detachedHead=false"])
        .args(args)
        // Never stop to ask for a password: a missing credential is an error to report.
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null());
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            "the `git` program was not found; install git and make sure it is on PATH".to_string()
        } else {
            format!("cannot run git: {e}")
        }
    })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let reason = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("git failed")
        .trim_start_matches("fatal: ")
        .trim_start_matches("error: ")
        .to_string();
    Err(reason)
}

/// The folder of `checkout` holding the package: its root or `subdirectory`.
pub fn package_dir(
    checkout: &Checkout,
    url: &str,
    subdirectory: Option<&str>,
) -> Result<PathBuf, Diagnostic> {
    let Some(sub) = subdirectory else {
        return Ok(checkout.dir.clone());
    };
    let dir = checkout.dir.join(sub);
    let inside = dir
        .canonicalize()
        .ok()
        .zip(checkout.dir.canonicalize().ok())
        .is_some_and(|(d, root)| d.starts_with(root));
    if !inside || !dir.is_dir() {
        return Err(Diagnostic::new(
            ErrorKind::Project,
            format!(
                "{url} has no folder `{sub}` at commit {}",
                short(&checkout.sha)
            ),
        )
        .with_hint("check `subdirectory:`; it is a folder path inside the repository"));
    }
    Ok(dir)
}

/// The first 7 characters of a sha, as git shows it.
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}
