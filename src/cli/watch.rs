//! `kiln watch`: build the selection, then rebuild what each save changes.
//!
//! After every build the manifest and run results are kept aside (`<target>/watch_state/`), and
//! the next round builds `state:modified+` against them, with what errored, failed or was
//! skipped last time: so an edit rebuilds the changed nodes, their descendants and their tests,
//! and a broken edit prints its error and leaves the last good state to compare with once it is
//! fixed. Bursts of file events (an editor's write-rename-chmod) are gathered into one round.

use super::args::{ExecArgs, GlobalArgs, SelectArgs};
use super::output::Output;
use super::run::{self, ExecCommand};
use super::{EXIT_OK, Settings, load_project, settings};
use crate::compile::Manifest;
use crate::docs::server::ServeOptions;
use crate::error::{Diagnostic, Error, ErrorKind, Result};
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, mpsc};
use std::time::Duration;

/// How long the files must be quiet before a round starts.
const DEBOUNCE: Duration = Duration::from_millis(300);

enum Signal {
    Changed(Vec<PathBuf>),
    Stop,
}

/// Runs the watch until Ctrl-C; with `docs` (host, port), the docs site is rewritten after each
/// build and served.
pub fn cmd_watch(
    g: &GlobalArgs,
    out: &Output,
    select: &SelectArgs,
    exec: &ExecArgs,
    docs: Option<(&str, u16)>,
) -> Result<i32> {
    let s = settings(g)?;
    let (root, target) = dirs(&s)?;
    let state_dir = target.join("watch_state");
    let (tx, rx) = mpsc::channel::<Signal>();

    let events = tx.clone();
    let ignored = [
        target.clone(),
        root.join(".kiln"),
        root.join("logs"),
        root.join(".git"),
    ];
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            let paths: Vec<PathBuf> = event
                .paths
                .into_iter()
                .filter(|p| !ignored.iter().any(|i| p.starts_with(i)))
                .collect();
            if !paths.is_empty() && !matches!(event.kind, notify::EventKind::Access(_)) {
                let _ = events.send(Signal::Changed(paths));
            }
        }
    })
    .map_err(|e| watch_error(&root, e))?;
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|e| watch_error(&root, e))?;
    stop_on_ctrl_c(tx);

    // The first round builds the whole selection.
    round(g, out, select, exec, &target, &state_dir, None);
    let site = match docs {
        Some((host, port)) => Some(Site::start(g, out, host, port, &target)?),
        None => None,
    };
    loop {
        out.info("Watching for changes (Ctrl-C to stop)");
        let Some(changed) = next_burst(&rx) else {
            break;
        };
        let names: Vec<String> = changed
            .iter()
            .filter_map(|p| p.strip_prefix(&root).ok())
            .map(|p| p.display().to_string())
            .collect();
        out.info(&format!("Changed: {}", names.join(", ")));
        let since = state_dir
            .join("manifest.json")
            .exists()
            .then_some(state_dir.as_path());
        round(g, out, select, exec, &target, &state_dir, since);
        if let Some(site) = &site {
            site.rewrite(g, out);
        }
    }
    out.info("Stopped watching.");
    Ok(EXIT_OK)
}

/// The docs site of `kiln watch --docs`: rewritten after each round, served throughout, and
/// its version bumped so open pages reload.
struct Site {
    manifest: Arc<RwLock<Arc<Manifest>>>,
    version: Arc<AtomicU64>,
}

impl Site {
    fn start(g: &GlobalArgs, out: &Output, host: &str, port: u16, target: &Path) -> Result<Site> {
        let first = super::docs::write_docs(g, out, false, false)?;
        let manifest = Arc::new(RwLock::new(Arc::new(first)));
        let version = Arc::new(AtomicU64::new(1));
        let current = manifest.clone();
        let selector = super::docs::selector(move || {
            current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        });
        let url = super::docs::spawn_server(
            host,
            port,
            ServeOptions {
                site: target.to_path_buf(),
                selector,
                version: Some(version.clone()),
            },
        )?;
        out.info(&format!(
            "Serving the docs at {url}; the page reloads after each build"
        ));
        Ok(Site { manifest, version })
    }

    /// Writes the site again; a project that does not load keeps the last site.
    fn rewrite(&self, g: &GlobalArgs, out: &Output) {
        match super::docs::write_docs(g, out, false, false) {
            Ok(m) => {
                let old = std::mem::replace(
                    &mut *self
                        .manifest
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                    Arc::new(m),
                );
                drop(old);
                self.version.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => out.error(&e),
        }
    }
}

/// The project's root and its target path.
fn dirs(s: &Settings) -> Result<(PathBuf, PathBuf)> {
    let project = load_project(s)?;
    let root = std::fs::canonicalize(&project.root).unwrap_or(project.root.clone());
    let target = root.join(&project.file.target_path);
    Ok((root, target))
}

fn watch_error(root: &Path, e: notify::Error) -> Error {
    Error::from(
        Diagnostic::new(
            ErrorKind::Io,
            format!("cannot watch {}: {e}", root.display()),
        )
        .with_hint(
            "on Linux, raise fs.inotify.max_user_watches if the project has very many files",
        ),
    )
}

/// Ctrl-C ends the watch (a build in progress stops scheduling on its own).
fn stop_on_ctrl_c(tx: mpsc::Sender<Signal>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(Signal::Stop);
            }
        });
    });
}

/// Waits for a change, then for the files to be quiet for [`DEBOUNCE`]; `None` on Ctrl-C.
fn next_burst(rx: &mpsc::Receiver<Signal>) -> Option<Vec<PathBuf>> {
    let mut changed = match rx.recv().ok()? {
        Signal::Changed(p) => p,
        Signal::Stop => return None,
    };
    loop {
        match rx.recv_timeout(DEBOUNCE) {
            Ok(Signal::Changed(p)) => changed.extend(p),
            Ok(Signal::Stop) => return None,
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
    changed.sort();
    changed.dedup();
    Some(changed)
}

/// One build: the whole selection, or (with `since`) what changed since the last good state
/// and what did not succeed then, within the selection. Errors are printed; the watch goes on.
fn round(
    g: &GlobalArgs,
    out: &Output,
    select: &SelectArgs,
    exec: &ExecArgs,
    target: &Path,
    state_dir: &Path,
    since: Option<&Path>,
) {
    let mut args = select.clone();
    if let Some(dir) = since {
        args.state = Some(dir.to_path_buf());
        args.select = changed_within(&select.select);
    }
    match run::cmd_exec(g, out, ExecCommand::Build, &args, exec, None) {
        Ok(_) => keep_state(target, state_dir),
        // A project that does not load (a broken edit) keeps the last good state.
        Err(e) => out.error(&e),
    }
}

/// `state:modified+` and the last round's failures, intersected with each selected term.
fn changed_within(selected: &[String]) -> Vec<String> {
    const CHANGED: [&str; 4] = [
        "state:modified+",
        "result:error+",
        "result:fail+",
        "result:skipped+",
    ];
    if selected.is_empty() {
        return CHANGED.iter().map(|c| c.to_string()).collect();
    }
    let terms = selected.iter().flat_map(|s| s.split_whitespace());
    terms
        .flat_map(|t| CHANGED.iter().map(move |c| format!("{c},{t}")))
        .collect()
}

/// Copies the manifest and run results of the round just finished aside, as the next round's
/// state.
fn keep_state(target: &Path, state_dir: &Path) {
    let _ = std::fs::create_dir_all(state_dir);
    for file in ["manifest.json", "run_results.json"] {
        let from = target.join(file);
        if from.exists() {
            let _ = std::fs::copy(&from, state_dir.join(file));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_selects_what_changed_within_the_selection() {
        assert_eq!(
            changed_within(&[]),
            vec![
                "state:modified+",
                "result:error+",
                "result:fail+",
                "result:skipped+"
            ]
        );
        let within = changed_within(&["tag:daily orders".to_string()]);
        assert_eq!(within.len(), 8);
        assert_eq!(within[0], "state:modified+,tag:daily");
        assert_eq!(within[7], "result:skipped+,orders");
    }

    #[test]
    fn a_burst_of_events_is_one_change() {
        let (tx, rx) = mpsc::channel();
        for name in ["a.sql", "a.sql", "b.sql"] {
            tx.send(Signal::Changed(vec![PathBuf::from(name)])).unwrap();
        }
        let got = next_burst(&rx).unwrap();
        assert_eq!(got, vec![PathBuf::from("a.sql"), PathBuf::from("b.sql")]);
        tx.send(Signal::Stop).unwrap();
        assert!(next_burst(&rx).is_none());
    }
}
