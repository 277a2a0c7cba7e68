//! `kiln deps`: installs packages and prints one line per package, then a summary.

use super::args::GlobalArgs;
use super::output::Output;
use super::{EXIT_OK, env_lookup, settings};
use crate::deps::{self, DepsOptions, LOCK_FILE, LockAction};
use crate::error::Result;
use std::time::Instant;

/// Runs `kiln deps [--upgrade] [--lock]`.
pub fn cmd_deps(g: &GlobalArgs, out: &Output, upgrade: bool, lock_only: bool) -> Result<i32> {
    let start = Instant::now();
    let s = settings(g)?;
    let report = deps::deps(&DepsOptions {
        project_dir: &s.project_dir,
        vars: &s.vars,
        env: &env_lookup,
        upgrade,
        lock_only,
    })?;
    for w in &report.warnings {
        out.warning(w);
    }
    let Some(file) = &report.package_file else {
        let removed = removed_note(&report.removed);
        out.info(&format!(
            "No packages to install: the project has no packages.yml or dependencies.yml{removed}"
        ));
        return Ok(EXIT_OK);
    };
    if report.installed.is_empty() {
        out.info(&format!(
            "No packages to install: {file} lists none{}",
            removed_note(&report.removed)
        ));
        return Ok(EXIT_OK);
    }
    let verb = if report.lock_only {
        "Resolved"
    } else {
        "Installed"
    };
    for p in &report.installed {
        out.info(&format!("{verb} {} {}", p.name, p.description));
    }
    for name in &report.removed {
        out.info(&format!("Removed {name} (no longer listed in {file})"));
    }
    for u in &report.updates {
        out.info(&format!(
            "Update available: {u}; `kiln deps --upgrade` installs the newest version the \
             version range allows"
        ));
    }
    let n = report.installed.len();
    let packages = if n == 1 { "package" } else { "packages" };
    let lock = match report.lock {
        LockAction::Written => format!("; wrote {LOCK_FILE}"),
        LockAction::Followed => format!(" as pinned in {LOCK_FILE}"),
        LockAction::None => String::new(),
    };
    let ms = start.elapsed().as_millis();
    if report.lock_only && report.lock == LockAction::Followed {
        out.info(&format!(
            "{LOCK_FILE} is up to date with {file} ({n} {packages})"
        ));
    } else if report.lock_only {
        out.info(&format!("Resolved {n} {packages} in {ms} ms{lock}"));
    } else {
        out.info(&format!(
            "Installed {n} {packages} into {}/ in {ms} ms{lock}",
            report.install_path.trim_end_matches('/')
        ));
    }
    Ok(EXIT_OK)
}

fn removed_note(removed: &[String]) -> String {
    if removed.is_empty() {
        String::new()
    } else {
        format!("; removed {}", removed.join(", "))
    }
}
