//! `kiln deps`: installs the packages a project lists in `packages.yml` (or
//! `dependencies.yml`) into its `packages-install-path`, and pins them in `package-lock.yml`, as
//! dbt-core does.
//!
//! Each source has a small resolver with the same two steps: *resolve* (pin a hub version or a
//! git commit, and read the package's own dependencies) and *install* (put the package under
//! its project name). [`local`], [`git`] and [`hub`] are those resolvers; this file walks the
//! dependency graph, stages every install in a work folder beside the install path, swaps the
//! staged folder in only when every package installed, and then writes the lock. A failed run
//! leaves the previous install and lock as they were.
//!
//! Besides `adapter` and `docs`, this is the only module that does network I/O.

mod files;
pub mod git;
pub mod hub;
pub mod local;
pub mod lock;
pub mod spec;
pub mod version;

pub use lock::{LOCK_FILE, Lock, Pinned, PinnedSource};
pub use spec::{PackageSpec, Source};

use crate::error::{Diagnostic, Error, ErrorKind, Location, Result};
use crate::project::project_file::{find_project_file, parse_project_file, parse_yaml};
use files::{WorkDir, copy_dir};
use indexmap::IndexMap;
use serde_json::Value;
use spec::{Origin, RenderContext};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// What `kiln deps` was asked to do.
pub struct DepsOptions<'a> {
    /// The root project's directory.
    pub project_dir: &'a Path,
    /// Command-line vars, for `var()` in package files.
    pub vars: &'a BTreeMap<String, Value>,
    /// Environment lookup, for `env_var()` and the hub URL.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Resolve again, ignoring the lock.
    pub upgrade: bool,
    /// Only resolve and write the lock; install nothing.
    pub lock_only: bool,
}

/// One package `kiln deps` installed (or, with `--lock`, pinned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The package's project name.
    pub name: String,
    /// Version and origin, e.g. `1.1.1 from hub (dbt-labs/dbt_utils)`.
    pub description: String,
}

/// What happened to `package-lock.yml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockAction {
    /// Written from a fresh resolution.
    Written,
    /// It matched the package list and was followed as it is.
    Followed,
    /// There was nothing to lock.
    None,
}

/// The outcome of `kiln deps`.
#[derive(Debug, Clone)]
pub struct DepsReport {
    /// The file the package list came from, if any.
    pub package_file: Option<String>,
    /// The install path, relative to the project.
    pub install_path: String,
    /// Every package, in resolution order.
    pub installed: Vec<Installed>,
    /// Previously installed packages that are no longer listed, now removed.
    pub removed: Vec<String>,
    /// Warnings, e.g. unpinned git packages.
    pub warnings: Vec<Diagnostic>,
    /// Newer hub versions than the ones installed, one line each.
    pub updates: Vec<String>,
    /// What happened to the lock.
    pub lock: LockAction,
    /// True with `--lock`: nothing was installed.
    pub lock_only: bool,
}

/// Runs `kiln deps`.
pub fn deps(opts: &DepsOptions<'_>) -> Result<DepsReport> {
    let root = opts.project_dir.canonicalize().map_err(|e| {
        Diagnostic::new(
            ErrorKind::Project,
            format!(
                "cannot open project directory {}: {e}",
                opts.project_dir.display()
            ),
        )
        .with_hint("pass an existing directory with --project-dir")
    })?;
    let project_path = find_project_file(&root)?;
    let project_file_name = project_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(&project_path).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read {project_file_name}: {e}"),
        )
    })?;
    let project = parse_project_file(&project_file_name, &text, opts.vars, opts.env)?;
    let install_path = root.join(&project.packages_install_path);
    if root.starts_with(&install_path) || install_path.components().any(|c| c.as_os_str() == "..") {
        return Err(Diagnostic::new(
            ErrorKind::Project,
            format!(
                "packages-install-path `{}` is not a folder inside the project",
                project.packages_install_path
            ),
        )
        .at(Location::file(&project_file_name))
        .with_hint("set `packages-install-path` to a folder such as `dbt_packages`")
        .into());
    }

    let render = RenderContext {
        vars: opts.vars,
        env: opts.env,
    };
    let list = spec::read_package_list(&root, "", None, &render)?;
    let mut report = DepsReport {
        package_file: list.as_ref().map(|l| l.file.clone()),
        install_path: project.packages_install_path.clone(),
        installed: Vec::new(),
        removed: Vec::new(),
        warnings: Vec::new(),
        updates: Vec::new(),
        lock: LockAction::None,
        lock_only: opts.lock_only,
    };
    let Some(list) = list.filter(|l| !l.specs.is_empty()) else {
        if !opts.lock_only {
            report.removed = no_longer_listed(&install_path, &[]);
            if !report.removed.is_empty() {
                let work = WorkDir::create(&install_path)
                    .map_err(|e| io_error("cannot create a work folder".into(), e))?;
                work.swap_into(&install_path)
                    .map_err(|e| io_error(format!("cannot empty {}", report.install_path), e))?;
            }
        }
        return Ok(report);
    };

    let work = WorkDir::create(&install_path).map_err(|e| {
        io_error(
            format!("cannot create a work folder beside {}", report.install_path),
            e,
        )
    })?;
    let mut resolver = Resolver {
        root: &root,
        root_name: &project.name,
        render,
        hub: None,
        hub_url: hub::hub_url(opts.env),
        downloads: work.downloads(),
        checkouts: HashMap::new(),
        tarballs: HashMap::new(),
        warnings: Vec::new(),
        scratch: 0,
    };

    // The lock is followed only when it was made from this very list; a stale lock, even a
    // malformed one, is simply resolved over.
    let follow_lock = !opts.upgrade && lock::read_hash(&root).as_deref() == Some(&list.sha1_hash);
    // A lock this version cannot follow (an older dbt's, without `name:`) is resolved over too.
    let existing = if follow_lock {
        lock::read(&root, &resolver.render).ok().flatten()
    } else {
        None
    };
    let resolved = match existing {
        Some(lock) => {
            report.lock = LockAction::Followed;
            lock.packages.into_iter().map(Resolved::from_lock).collect()
        }
        None => {
            report.lock = LockAction::Written;
            resolver.resolve(list.specs.clone())?
        }
    };

    if opts.lock_only {
        report.installed = resolved.iter().map(Resolved::summary).collect();
    } else {
        let mut installer = Installer {
            resolver: &mut resolver,
            staged: work.staged(),
            installed: Vec::new(),
            updates: Vec::new(),
        };
        for r in &resolved {
            installer.install(&root, r)?;
        }
        report.installed = std::mem::take(&mut installer.installed);
        report.updates = std::mem::take(&mut installer.updates);
        report.removed = no_longer_listed(&install_path, &resolved);
        work.swap_into(&install_path).map_err(|e| {
            io_error(
                format!("cannot move the new packages into {}", report.install_path),
                e,
            )
        })?;
    }
    report.warnings = std::mem::take(&mut resolver.warnings);
    if report.lock == LockAction::Written {
        let lock = Lock {
            packages: resolved.iter().map(|r| r.pinned.clone()).collect(),
            sha1_hash: list.sha1_hash.clone(),
        };
        write_lock(&root, &lock)?;
    }
    Ok(report)
}

fn io_error(what: String, e: std::io::Error) -> Error {
    Diagnostic::new(ErrorKind::Io, format!("{what}: {e}"))
        .with_hint("check the permissions of the project folder and the free disk space")
        .into()
}

/// Writes the lock through a temporary file, so a crash never leaves half a lock.
fn write_lock(root: &Path, lock: &Lock) -> Result<()> {
    let tmp = root.join(format!(".{LOCK_FILE}.kiln-{}", std::process::id()));
    std::fs::write(&tmp, lock::render(lock))
        .and_then(|()| std::fs::rename(&tmp, root.join(LOCK_FILE)))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_error(format!("cannot write {LOCK_FILE}"), e)
        })
}

/// Folders of the current install that the new one will not have.
fn no_longer_listed(install_path: &Path, resolved: &[Resolved]) -> Vec<String> {
    let keep: BTreeSet<&str> = resolved.iter().map(|r| r.pinned.name.as_str()).collect();
    let mut names: Vec<String> = std::fs::read_dir(install_path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') && !keep.contains(n.as_str()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A package pinned by resolution or by the lock, with what resolving it already fetched.
#[derive(Debug, Clone)]
struct Resolved {
    pinned: Pinned,
    /// Its own dependencies (empty when it came from the lock).
    dependencies: Vec<PackageSpec>,
    /// The folder holding the package, when resolving already put it on disk.
    source_dir: Option<PathBuf>,
    /// The hub tarball URL and the newest installable version, when known.
    tarball: Option<String>,
    latest: Option<String>,
}

impl Resolved {
    fn from_lock(pinned: Pinned) -> Resolved {
        Resolved {
            pinned,
            dependencies: Vec::new(),
            source_dir: None,
            tarball: None,
            latest: None,
        }
    }

    /// Version and origin in words.
    fn describe(&self) -> String {
        match &self.pinned.source {
            PinnedSource::Local { path } => format!("from local {path}"),
            PinnedSource::Git {
                url,
                revision,
                subdirectory,
                ..
            } => match subdirectory {
                Some(s) => format!("{} from git {url} (subdirectory {s})", git::short(revision)),
                None => format!("{} from git {url}", git::short(revision)),
            },
            PinnedSource::Hub { package, version } => format!("{version} from hub ({package})"),
            PinnedSource::Tarball { url } => format!("from tarball {url}"),
        }
    }

    fn summary(&self) -> Installed {
        Installed {
            name: self.pinned.name.clone(),
            description: self.describe(),
        }
    }
}

/// Walks the dependency graph and pins every package.
struct Resolver<'a> {
    root: &'a Path,
    root_name: &'a str,
    render: RenderContext<'a>,
    hub: Option<hub::Hub>,
    hub_url: String,
    downloads: PathBuf,
    /// Clones by (URL, requested revision).
    checkouts: HashMap<(String, String), git::Checkout>,
    /// Unpacked tarball packages by URL.
    tarballs: HashMap<String, PathBuf>,
    warnings: Vec<Diagnostic>,
    scratch: usize,
}

/// Requests for one package, grouped the way dbt groups them: by hub id, git URL and
/// subdirectory, local path or tarball URL.
fn listing_key(spec: &PackageSpec) -> String {
    match &spec.source {
        Source::Local { path } => format!("local:{path}"),
        Source::Git {
            url, subdirectory, ..
        } => format!(
            "git:{}/{}",
            url.trim_end_matches(".git"),
            subdirectory.as_deref().unwrap_or("")
        ),
        Source::Hub { package, .. } => format!("hub:{package}"),
        Source::Tarball { url } => format!("tarball:{url}"),
    }
}

/// Points a diagnostic at the entry that asked for the package, or names who asked when the
/// entry came from the hub and has no line.
fn at_spec(d: Diagnostic, spec: &PackageSpec) -> Diagnostic {
    match &spec.location {
        Some(l) if d.location.is_none() => d.at(l.clone()),
        Some(_) => d,
        None => Diagnostic {
            message: format!("{} (required by {})", d.message, spec.requested_by),
            ..d
        },
    }
}

impl Resolver<'_> {
    /// Pins `roots` and everything they depend on, in dbt's order: the listed packages first,
    /// then each level of dependencies.
    fn resolve(&mut self, roots: Vec<PackageSpec>) -> Result<Vec<Resolved>> {
        let mut listing: IndexMap<String, Vec<PackageSpec>> = IndexMap::new();
        let mut expanded: BTreeSet<String> = BTreeSet::new();
        let mut pending = roots;
        while !pending.is_empty() {
            let mut next = Vec::new();
            for spec in pending {
                let key = listing_key(&spec);
                let requests = listing.entry(key).or_default();
                requests.push(spec);
                let requests = requests.clone();
                let resolved = self.pin(&requests)?;
                // A package's dependencies are read once per pinned version, which also ends
                // cycles between packages.
                if expanded.insert(format!("{:?}", resolved.pinned)) {
                    next.extend(resolved.dependencies);
                }
            }
            pending = next;
        }
        let mut out: Vec<Resolved> = Vec::new();
        for requests in listing.values() {
            out.push(self.pin(requests)?);
        }
        self.check_names(&out, &listing)?;
        Ok(out)
    }

    /// Fails when two packages would share an install folder, or one has the root's name.
    fn check_names(
        &self,
        resolved: &[Resolved],
        listing: &IndexMap<String, Vec<PackageSpec>>,
    ) -> Result<()> {
        let mut seen: HashMap<&str, &PackageSpec> = HashMap::new();
        for (r, requests) in resolved.iter().zip(listing.values()) {
            let spec = &requests[0];
            let name = r.pinned.name.as_str();
            if name == self.root_name {
                return Err(at_spec(
                    spec.error(
                        ErrorKind::Duplicate,
                        format!(
                            "package `{}` has the root project's name `{name}`",
                            spec.label()
                        ),
                    ),
                    spec,
                )
                .with_hint("a project cannot depend on itself; remove the entry")
                .into());
            }
            if let Some(other) = seen.insert(name, spec) {
                return Err(at_spec(
                    spec.error(
                        ErrorKind::Duplicate,
                        format!(
                            "`{}` and `{}` are both the package `{name}`",
                            other.label(),
                            spec.label()
                        ),
                    ),
                    spec,
                )
                .with_hint("list the package once, from one source")
                .into());
            }
        }
        Ok(())
    }

    /// Pins one package from every request for it.
    fn pin(&mut self, requests: &[PackageSpec]) -> Result<Resolved> {
        let first = &requests[0];
        let out = match &first.source {
            Source::Local { path } => self.pin_local(path),
            Source::Git { .. } => self.pin_git(requests),
            Source::Hub { .. } => self.pin_hub(requests),
            Source::Tarball { url } => self.pin_tarball(url, first.name.as_deref()),
        };
        out.map_err(|e| {
            let mut ds = e.diagnostics().iter().cloned().map(|d| at_spec(d, first));
            let mut err = Error::from(ds.next().unwrap_or_else(|| {
                Diagnostic::new(ErrorKind::Project, "package resolution failed")
            }));
            for d in ds {
                err.extend(d.into());
            }
            err
        })
    }

    fn pin_local(&mut self, path: &str) -> Result<Resolved> {
        let dir = local::resolve(self.root, path)?;
        let (name, dependencies) = self.read_package(&dir)?;
        Ok(Resolved {
            pinned: Pinned {
                name,
                source: PinnedSource::Local {
                    path: path.to_string(),
                },
            },
            dependencies,
            source_dir: Some(dir),
            tarball: None,
            latest: None,
        })
    }

    fn pin_git(&mut self, requests: &[PackageSpec]) -> Result<Resolved> {
        let Source::Git {
            url,
            url_unrendered,
            subdirectory,
            ..
        } = &requests[0].source
        else {
            unreachable!("pin_git is called with git requests");
        };
        let mut revisions: Vec<(&str, &str)> = Vec::new();
        let mut warn = true;
        for r in requests {
            if let Source::Git {
                revision,
                warn_unpinned,
                ..
            } = &r.source
            {
                warn &= *warn_unpinned;
                if let Some(rev) = revision
                    && !revisions.iter().any(|(v, _)| v == rev)
                {
                    revisions.push((rev, &r.requested_by));
                }
            }
        }
        if let [(a, by_a), (b, by_b), ..] = revisions.as_slice() {
            return Err(Diagnostic::new(
                ErrorKind::Project,
                format!("{url} is wanted at revision `{a}` by {by_a} and at `{b}` by {by_b}"),
            )
            .with_hint("ask for the same revision everywhere; git packages have one version")
            .into());
        }
        let revision = revisions.first().map(|(r, _)| *r);
        let checkout = self.checkout(url, revision)?;
        if warn && checkout.on_branch {
            let how = match revision {
                None => "is not pinned, using HEAD (default branch)".to_string(),
                Some(b) => format!("is pinned to the branch `{b}`, which can move"),
            };
            let d = Diagnostic::new(
                ErrorKind::Project,
                format!(
                    "the git package {url_unrendered} {how}; this can bring breaking changes \
                     without warning"
                ),
            )
            .with_hint("set `revision:` to a tag or a commit sha, or set `warn-unpinned: false`");
            let d = at_spec(d, &requests[0]);
            if !self.warnings.contains(&d) {
                self.warnings.push(d);
            }
        }
        let dir = git::package_dir(&checkout, url, subdirectory.as_deref())?;
        let (name, dependencies) = self.read_package(&dir)?;
        Ok(Resolved {
            pinned: Pinned {
                name,
                source: PinnedSource::Git {
                    url: url_unrendered.clone(),
                    fetch_url: url.clone(),
                    revision: checkout.sha.clone(),
                    subdirectory: subdirectory.clone(),
                },
            },
            dependencies,
            source_dir: Some(dir),
            tarball: None,
            latest: None,
        })
    }

    /// A clone of `url` at `revision`, made once per run.
    fn checkout(&mut self, url: &str, revision: Option<&str>) -> Result<git::Checkout> {
        let key = (url.to_string(), revision.unwrap_or("HEAD").to_string());
        if let Some(c) = self.checkouts.get(&key) {
            return Ok(c.clone());
        }
        let dir = self.scratch_dir("git");
        let c = git::checkout(url, revision, &dir)?;
        self.checkouts.insert(key, c.clone());
        Ok(c)
    }

    fn pin_hub(&mut self, requests: &[PackageSpec]) -> Result<Resolved> {
        let mut tagged = Vec::new();
        let mut bounds = Vec::new();
        let mut prerelease = false;
        let mut package = String::new();
        for (i, r) in requests.iter().enumerate() {
            if let Source::Hub {
                package: p,
                bounds: b,
                prerelease: pre,
            } = &r.source
            {
                package = p.clone();
                prerelease |= *pre;
                for bound in b {
                    tagged.push((i, bound.clone()));
                    bounds.push(bound.clone());
                }
            }
        }
        if let Err(c) = version::check_compatible(&tagged) {
            let show = |i: usize| {
                let wanted: Vec<String> = tagged
                    .iter()
                    .filter(|(j, _)| *j == i)
                    .map(|(_, b)| b.to_string())
                    .collect();
                format!("{} (by {})", wanted.join(", "), requests[i].requested_by)
            };
            return Err(Diagnostic::new(
                ErrorKind::Project,
                format!(
                    "no version of `{package}` satisfies both {} and {}",
                    show(c.lower),
                    show(c.upper)
                ),
            )
            .with_hint("change one of the version ranges so they overlap")
            .into());
        }
        let hub = self.hub();
        let v = hub.resolve(&package, &bounds, prerelease)?;
        let requested_by = v.name.clone();
        let origin_file = format!("{package} {} on the package hub", v.version);
        let (dependencies, _) = spec::parse_entries(
            &v.dependencies,
            &v.dependencies,
            &Origin {
                file: &origin_file,
                text: None,
                requested_by: &requested_by,
            },
        )?;
        // Dependencies from the hub have no file line; name who asked instead.
        let dependencies = dependencies
            .into_iter()
            .map(|d| PackageSpec {
                location: None,
                ..d
            })
            .collect();
        Ok(Resolved {
            pinned: Pinned {
                name: v.name,
                source: PinnedSource::Hub {
                    package,
                    version: v.version,
                },
            },
            dependencies,
            source_dir: None,
            tarball: Some(v.tarball),
            latest: v.latest,
        })
    }

    fn hub(&mut self) -> &mut hub::Hub {
        let url = self.hub_url.clone();
        self.hub.get_or_insert_with(|| hub::Hub::new(url))
    }

    fn pin_tarball(&mut self, url: &str, name: Option<&str>) -> Result<Resolved> {
        let dir = self.fetch_tarball(url)?;
        let (project_name, dependencies) = self.read_package(&dir)?;
        Ok(Resolved {
            pinned: Pinned {
                name: name.map(str::to_string).unwrap_or(project_name),
                source: PinnedSource::Tarball {
                    url: url.to_string(),
                },
            },
            dependencies,
            source_dir: Some(dir),
            tarball: None,
            latest: None,
        })
    }

    /// Downloads and unpacks a tarball once per run.
    fn fetch_tarball(&mut self, url: &str) -> Result<PathBuf> {
        if let Some(d) = self.tarballs.get(url) {
            return Ok(d.clone());
        }
        let scratch = self.scratch_dir("tarball");
        let dest = self.scratch_dir("package");
        self.hub().download(url, &scratch, &dest)?;
        self.tarballs.insert(url.to_string(), dest.clone());
        Ok(dest)
    }

    /// A fresh path under the downloads folder.
    fn scratch_dir(&mut self, what: &str) -> PathBuf {
        self.scratch += 1;
        self.downloads.join(format!("{what}-{}", self.scratch))
    }

    /// The project name of the package in `dir` and its own package list.
    fn read_package(&self, dir: &Path) -> Result<(String, Vec<PackageSpec>)> {
        let name = package_name(dir)?;
        let deps = spec::read_package_list(dir, &format!("{name}/"), Some(&name), &self.render)?
            .map(|l| l.specs)
            .unwrap_or_default();
        Ok((name, deps))
    }
}

/// The `name:` in the project file of the package in `dir`.
fn package_name(dir: &Path) -> Result<String> {
    let Some(file) = ["dbt_project.yml", "project.yml"]
        .into_iter()
        .find(|f| dir.join(f).is_file())
    else {
        return Err(Diagnostic::new(
            ErrorKind::Project,
            "the package has no dbt_project.yml".to_string(),
        )
        .with_hint("a package is a dbt project: point at the folder holding its dbt_project.yml")
        .into());
    };
    let text = std::fs::read_to_string(dir.join(file))
        .map_err(|e| io_error(format!("cannot read the package's {file}"), e))?;
    let value = parse_yaml(file, &text)?;
    match value.get("name").and_then(Value::as_str) {
        Some(n)
            if !n.is_empty()
                && !n.starts_with(|c: char| c.is_ascii_digit())
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Ok(n.to_string())
        }
        Some(n) => Err(Diagnostic::new(
            ErrorKind::Project,
            format!("the package's name `{n}` is not a valid identifier"),
        )
        .with_hint("package names use letters, digits and underscores")
        .into()),
        None => Err(Diagnostic::new(
            ErrorKind::Project,
            format!("the package's {file} has no `name`"),
        )
        .with_hint("a package needs `name:` in its project file")
        .into()),
    }
}

/// Puts each package into the staged folder.
struct Installer<'r, 'a> {
    resolver: &'r mut Resolver<'a>,
    staged: PathBuf,
    installed: Vec<Installed>,
    updates: Vec<String>,
}

impl Installer<'_, '_> {
    fn install(&mut self, root: &Path, r: &Resolved) -> Result<()> {
        let resolver = &mut *self.resolver;
        let dest = self.staged.join(&r.pinned.name);
        let failed = |e: std::io::Error| io_error(format!("cannot install {}", r.pinned.name), e);
        let mut description = r.describe();
        match &r.pinned.source {
            PinnedSource::Local { path } => {
                let dir = match &r.source_dir {
                    Some(d) => d.clone(),
                    None => local::resolve(root, path)?,
                };
                if local::install(&dir, &dest).map_err(failed)? {
                    description.push_str(" (copied: symlinks are not available)");
                }
            }
            PinnedSource::Git {
                fetch_url,
                revision,
                subdirectory,
                ..
            } => {
                let dir = match &r.source_dir {
                    Some(d) => d.clone(),
                    None => {
                        let c = resolver.checkout(fetch_url, Some(revision))?;
                        git::package_dir(&c, fetch_url, subdirectory.as_deref())?
                    }
                };
                copy_dir(&dir, &dest).map_err(failed)?;
            }
            PinnedSource::Hub { package, version } => {
                let (tarball, latest) = match &r.tarball {
                    Some(t) => (t.clone(), r.latest.clone()),
                    None => {
                        let v = resolver.hub().version(package, version, false)?;
                        (v.tarball, v.latest)
                    }
                };
                let scratch = resolver.scratch_dir("tarball");
                resolver.hub().download(&tarball, &scratch, &dest)?;
                if let Some(latest) = latest
                    && version::parse_version(&latest) > version::parse_version(version)
                {
                    self.updates
                        .push(format!("{} {latest} (installed {version})", r.pinned.name));
                }
            }
            PinnedSource::Tarball { url } => {
                let dir = match &r.source_dir {
                    Some(d) => d.clone(),
                    None => resolver.fetch_tarball(url)?,
                };
                copy_dir(&dir, &dest).map_err(failed)?;
            }
        }
        self.installed.push(Installed {
            name: r.pinned.name.clone(),
            description,
        });
        Ok(())
    }
}
