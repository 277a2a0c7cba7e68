//! Loading: the project file, file discovery, and properties YAML into plain data ([`Project`]).
//!
//! Nothing here renders model templates or touches a database. Loading reads every file once (in
//! parallel), collects every problem it finds and reports them together (invariant 4).

pub mod blocks;
pub mod config;
pub mod identity;
pub mod profiles;
pub mod project_file;
pub mod properties;
pub mod selectors;
pub mod types;

pub use config::Config;
pub use types::*;

use crate::error::{Collector, Diagnostic, Error, ErrorKind, Location, Result};
use blocks::{BlockKind, find_blocks};
use identity::Checksum;
use project_file::ProjectFile;
use properties::{Properties, TestDefinition};
use rayon::prelude::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to load a project.
pub struct LoadOptions<'a> {
    /// The project directory (holding `project.yml` or `dbt_project.yml`).
    pub project_dir: &'a Path,
    /// `--vars`, which override project vars.
    pub cli_vars: BTreeMap<String, Value>,
    /// Reads an environment variable (injected so loading stays a pure function of its inputs).
    pub env: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

/// A loaded project: every resource as plain data, before any template is rendered.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Project {
    /// Absolute project directory.
    pub root: PathBuf,
    /// The parsed project file.
    pub file: ProjectFile,
    /// `--vars` given on the command line.
    pub cli_vars: BTreeMap<String, Value>,
    /// Models, seeds, snapshots, analyses, singular and generic tests, by unique_id. Parsing
    /// moves them into the manifest (`Manifest::nodes`), leaving this empty.
    pub nodes: BTreeMap<String, Node>,
    /// Nodes switched off with `enabled: false` in the project file or YAML.
    pub disabled: BTreeMap<String, Node>,
    /// Source tables, by unique_id.
    pub sources: BTreeMap<String, Source>,
    /// Project macros, by unique_id.
    pub macros: BTreeMap<String, Macro>,
    /// Docs blocks, by unique_id.
    pub docs: BTreeMap<String, DocBlock>,
    /// Unit tests, by unique_id.
    pub unit_tests: BTreeMap<String, UnitTest>,
    /// Text of every file read, by path relative to the root (for error quoting).
    /// Shared with the renderers made from the project. Not serialized with the project: the
    /// project snapshot keeps it apart, without the texts its nodes hold (`compile::Parsed`).
    #[serde(skip)]
    pub files: Arc<BTreeMap<String, String>>,
    /// Problems that do not stop loading (e.g. properties for a model that does not exist).
    pub warnings: Vec<Diagnostic>,
    /// Installed packages' project files, by package name.
    pub packages: BTreeMap<String, ProjectFile>,
    /// Named selectors of `selectors.yml`.
    pub selectors: Vec<selectors::NamedSelector>,
    /// What loading looked at besides the files it read whole (`files`).
    pub inputs: Inputs,
}

/// The folders and files loading looked at, beyond the files it read whole (whose text is in
/// [`Project::files`]): with those, everything a load is made of, so a kept result can tell
/// when it is out of date (see `artifacts::snapshot`). Paths are absolute; a path may not exist
/// (a resource folder not created yet, a `packages.yml` the project has none of).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Inputs {
    /// Folders whose entries were listed (the resource folders, every folder under them, the
    /// packages folder), each with the [`listing_hash`] of the names seen; None when missing.
    pub dirs: BTreeMap<PathBuf, Option<u64>>,
    /// Files read in part (seeds, whose header and checksum only are kept) or only looked for.
    pub files: BTreeSet<PathBuf>,
}

/// A hash of the entry names of a folder, in any order.
pub fn listing_hash<'a>(names: impl Iterator<Item = &'a std::ffi::OsStr>) -> u64 {
    let mut names: Vec<&std::ffi::OsStr> = names.collect();
    names.sort_unstable();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for name in names {
        h.update(name.as_encoded_bytes());
        h.update(&[0]);
    }
    h.digest()
}

/// The [`listing_hash`] of folder `dir` now; None when it cannot be listed.
pub fn listing_of(dir: &Path) -> Option<u64> {
    let names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)
        .ok()?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .ok()?;
    Some(listing_hash(names.iter().map(|n| n.as_os_str())))
}

impl Project {
    /// The project (package) name.
    pub fn name(&self) -> &str {
        &self.file.name
    }

    /// Vars as templates see them: project vars for this package overlaid with `--vars`.
    pub fn vars(&self) -> BTreeMap<String, Value> {
        self.vars_for(&self.file.name)
    }

    /// Vars as templates of `package` see them: the package's own defaults, overridden by the
    /// root project's global and `vars: {<package>: {...}}` vars, overridden by `--vars`.
    pub fn vars_for(&self, package: &str) -> BTreeMap<String, Value> {
        let mut vars = match self.packages.get(package) {
            Some(file) => file.vars_for(package),
            None => BTreeMap::new(),
        };
        vars.extend(self.file.vars_for(package));
        vars.extend(self.cli_vars.clone());
        vars
    }

    /// A location for `line` (1-based) of a project file, quoting the line when the file was read.
    pub fn location(&self, file: &str, line: usize, col: usize) -> Location {
        match self.files.get(file) {
            Some(text) => Location::at(file, text, line, col),
            None => Location::file(file),
        }
    }

    /// The absolute target directory.
    pub fn target_dir(&self) -> PathBuf {
        self.root.join(&self.file.target_path)
    }
}

/// A file found by discovery: where it is and what it is for.
struct Found {
    /// Path relative to the project root, `/`-separated.
    rel: String,
    /// Path relative to the resource path it was found under, `/`-separated.
    sub: String,
    /// Which resource path list it came from.
    role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Model,
    Seed,
    Snapshot,
    Analysis,
    Test,
    Macro,
    Docs,
}

/// One project to load files from: the root project or an installed package.
struct PackageDir {
    /// The package's directory.
    dir: PathBuf,
    /// Its directory relative to the root project, with a trailing `/` (empty for the root).
    prefix: String,
    /// Its project file.
    file: ProjectFile,
}

/// Loads the project in `opts.project_dir`, and every package installed in its
/// `packages-install-path`.
pub fn load(opts: &LoadOptions) -> Result<Project> {
    let root = canonical_root(opts)?;
    let (file_name, text, file) = read_project_file(&root, "", opts)?;
    let mut diags = Collector::new();
    let mut inputs = Inputs::default();
    let installed = installed_packages(&root, &file, opts, &mut diags, &mut inputs);

    let mut project = Project {
        root: root.clone(),
        file: file.clone(),
        cli_vars: opts.cli_vars.clone(),
        nodes: BTreeMap::new(),
        disabled: BTreeMap::new(),
        sources: BTreeMap::new(),
        macros: BTreeMap::new(),
        docs: BTreeMap::new(),
        unit_tests: BTreeMap::new(),
        files: Arc::default(),
        warnings: Vec::new(),
        packages: BTreeMap::new(),
        selectors: Vec::new(),
        inputs,
    };
    Arc::make_mut(&mut project.files).insert(file_name, text);
    if let Ok(text) = std::fs::read_to_string(root.join(selectors::FILE)) {
        match selectors::parse(&text) {
            Ok(list) => project.selectors = list,
            Err(e) => diags.push_error(e),
        }
        Arc::make_mut(&mut project.files).insert(selectors::FILE.to_string(), text);
    } else {
        project.inputs.files.insert(root.join(selectors::FILE));
    }
    project.warnings.extend(project.file.warnings.clone());
    let mut names = BTreeMap::new();
    let root_pkg = PackageDir {
        dir: root.clone(),
        prefix: String::new(),
        file,
    };
    load_package(&mut project, &root_pkg, &mut diags, &mut names);
    for pkg in installed {
        if pkg.file.name == project.file.name || project.packages.contains_key(&pkg.file.name) {
            diags.push(
                Diagnostic::new(
                    ErrorKind::Duplicate,
                    format!(
                        "two projects are named `{}`: {} and the root project or another package",
                        pkg.file.name, pkg.prefix
                    ),
                )
                .at(Location::file(format!("{}{}", pkg.prefix, pkg.file.file_name)))
                .with_hint("package names must be unique; remove one from packages.yml and run `kiln deps`"),
            );
            continue;
        }
        project
            .packages
            .insert(pkg.file.name.clone(), pkg.file.clone());
        load_package(&mut project, &pkg, &mut diags, &mut names);
    }
    check_duplicates(&names, &mut diags);
    drop_orphan_tests(&mut project);
    diags.finish(project)
}

/// The project directory, absolute, and its project file: what a command needs before it
/// knows whether to load the rest (the target path, the profile).
pub fn load_root_file(opts: &LoadOptions) -> Result<(PathBuf, ProjectFile)> {
    let root = canonical_root(opts)?;
    let (_, _, file) = read_project_file(&root, "", opts)?;
    Ok((root, file))
}

fn canonical_root(opts: &LoadOptions) -> Result<PathBuf> {
    std::fs::canonicalize(opts.project_dir).map_err(|e| {
        Error::from(
            Diagnostic::new(
                ErrorKind::Project,
                format!(
                    "cannot open project directory {}: {e}",
                    opts.project_dir.display()
                ),
            )
            .with_hint("pass an existing directory with --project-dir"),
        )
    })
}

/// Tests declared under properties for a model, seed or snapshot that does not exist are not
/// created, as in dbt: the properties already got a warning.
fn drop_orphan_tests(project: &mut Project) {
    let known: BTreeSet<&str> = project
        .nodes
        .values()
        .chain(project.disabled.values())
        .filter(|n| n.resource_type != ResourceType::Test)
        .map(|n| n.name.as_str())
        .collect();
    let orphans: Vec<String> = project
        .nodes
        .values()
        .filter(|n| match n.test_metadata.as_ref().map(|t| &t.target) {
            Some(TestTarget::Ref { name }) => !known.contains(name.as_str()),
            _ => false,
        })
        .map(|n| n.unique_id.clone())
        .collect();
    for id in orphans {
        project.nodes.remove(&id);
    }
}

/// Reads and parses the project file of the project in `dir`.
fn read_project_file(
    dir: &Path,
    prefix: &str,
    opts: &LoadOptions,
) -> Result<(String, String, ProjectFile)> {
    let project_path = project_file::find_project_file(dir)?;
    let file_name = format!(
        "{prefix}{}",
        project_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let text = read_file(&project_path, &file_name)?;
    let mut file = project_file::parse_project_file(&file_name, &text, &opts.cli_vars, opts.env)?;
    file.file_name = file_name.clone();
    Ok((file_name, text, file))
}

/// The packages installed under the root project's `packages-install-path`, sorted by folder,
/// then `local:` packages of packages.yml that are not installed, read from where they are (a
/// local package needs no download, so a project of local packages runs without `kiln deps`).
/// A project that lists other packages but has none installed is told to run `kiln deps`.
fn installed_packages(
    root: &Path,
    file: &ProjectFile,
    opts: &LoadOptions,
    diags: &mut Collector,
    inputs: &mut Inputs,
) -> Vec<PackageDir> {
    let install = root.join(&file.packages_install_path);
    let entries: Option<Vec<PathBuf>> = std::fs::read_dir(&install).ok().and_then(|entries| {
        entries
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .ok()
    });
    let listing = entries
        .as_ref()
        .map(|paths| listing_hash(paths.iter().filter_map(|p| p.file_name())));
    inputs.dirs.insert(install.clone(), listing);
    let mut dirs: Vec<PathBuf> = entries
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let folder = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if folder.starts_with('.') {
            continue;
        }
        let prefix = format!(
            "{}/{folder}/",
            file.packages_install_path.trim_end_matches('/')
        );
        if let Some(pkg) = package_dir(&dir, prefix, opts, diags) {
            out.push(pkg);
        }
    }
    let declared = declared_packages(root, inputs);
    let Some((list_file, declared)) = declared else {
        return out;
    };
    let mut missing_remote = false;
    for entry in &declared {
        match entry.get("local").and_then(|v| v.as_str()) {
            Some(path) => {
                let dir = root.join(path);
                let Some(pkg) = package_dir(&dir, local_prefix(path), opts, diags) else {
                    continue;
                };
                if !out.iter().any(|p| p.file.name == pkg.file.name) {
                    out.push(pkg);
                }
            }
            None => missing_remote = true,
        }
    }
    let installed_any = out.iter().any(|p| {
        p.prefix.starts_with(&format!(
            "{}/",
            file.packages_install_path.trim_end_matches('/')
        ))
    });
    if missing_remote && !installed_any {
        diags.push(
            Diagnostic::new(
                ErrorKind::Project,
                format!(
                    "{list_file} lists packages, but none is installed in {}/",
                    file.packages_install_path
                ),
            )
            .at(Location::file(list_file))
            .with_hint("run `kiln deps` to install them"),
        );
    }
    out
}

/// Reads the project in `dir` as a package whose files show as `<prefix><path>`.
fn package_dir(
    dir: &Path,
    prefix: String,
    opts: &LoadOptions,
    diags: &mut Collector,
) -> Option<PackageDir> {
    match read_project_file(dir, &prefix, opts) {
        Ok((_, _, file)) => Some(PackageDir {
            dir: std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
            prefix,
            file,
        }),
        Err(e) => {
            diags.push_error(e);
            None
        }
    }
}

/// `local: ../shared/` as a file prefix: `../shared/`.
fn local_prefix(path: &str) -> String {
    let p = path.trim_end_matches('/');
    if p.is_empty() || p == "." {
        String::new()
    } else {
        format!("{p}/")
    }
}

/// The `packages:` entries of packages.yml (or dependencies.yml), with the file's name.
fn declared_packages(
    root: &Path,
    inputs: &mut Inputs,
) -> Option<(&'static str, Vec<serde_yaml::Value>)> {
    for f in ["packages.yml", "dependencies.yml"] {
        inputs.files.insert(root.join(f));
        let Ok(text) = std::fs::read_to_string(root.join(f)) else {
            continue;
        };
        let list = serde_yaml::from_str::<serde_yaml::Value>(&text)
            .ok()
            .and_then(|v| v.get("packages").and_then(|p| p.as_sequence()).cloned())
            .unwrap_or_default();
        return Some((f, list));
    }
    None
}

/// Loads one project's files (the root's or a package's) into `project`.
fn load_package(
    project: &mut Project,
    pkg: &PackageDir,
    diags: &mut Collector,
    names: &mut BTreeMap<(String, String), Vec<(String, String)>>,
) {
    let found = discover(&pkg.dir, &pkg.prefix, &pkg.file, diags, &mut project.inputs);
    // The project file names looked for besides the one read.
    project.inputs.files.extend(
        [
            project_file::KILN_PROJECT_FILE,
            project_file::DBT_PROJECT_FILE,
        ]
        .iter()
        .filter(|name| !pkg.file.file_name.ends_with(*name))
        .map(|name| pkg.dir.join(name)),
    );
    project.inputs.files.extend(
        found
            .iter()
            .filter(|f| f.rel.ends_with(".csv"))
            .map(|f| pkg.dir.join(&f.rel[pkg.prefix.len()..])),
    );

    // Read every file in parallel; a file that cannot be read is reported, the rest go on.
    // Seeds are read as bytes: only their checksum and header line are kept here, since the CSV
    // itself is parsed (and validated) when the seed is loaded.
    let read = |f: &Found| -> (String, Result<String>, Option<Checksum>) {
        let path = pkg.dir.join(&f.rel[pkg.prefix.len()..]);
        if f.rel.ends_with(".csv") {
            match read_seed_head(&path) {
                Ok((bytes, size)) => {
                    let (header, checksum) = seed_header(&f.rel, &bytes, size);
                    (f.rel.clone(), Ok(header), Some(checksum))
                }
                Err(_) => (f.rel.clone(), read_file(&path, &f.rel), None),
            }
        } else {
            // The checksum of a SQL file is taken here, in parallel, for the node built from it.
            let text = read_file(&path, &f.rel);
            let sum = match &text {
                Ok(t) if f.rel.ends_with(".sql") => {
                    Some(Checksum::Sha256(identity::file_checksum(t)))
                }
                _ => None,
            };
            (f.rel.clone(), text, sum)
        }
    };
    let is_properties = |f: &Found| is_yaml(&f.rel) && f.role != Role::Docs;
    let package = pkg.file.name.clone();
    let root_file = project.file.clone();
    let shape = Shape {
        package_file: &pkg.file,
        root_file: &root_file,
    };
    // A model or analysis is shaped into its node on the thread that read its file.
    let shaped = |f: &Found, text: &Result<String>, sum: &Option<Checksum>| {
        let resource_type = match f.role {
            Role::Model => ResourceType::Model,
            Role::Analysis => ResourceType::Analysis,
            _ => return None,
        };
        // Properties files went to the other side; a Markdown file holds docs blocks.
        let text = text.as_ref().ok().filter(|_| !f.rel.ends_with(".md"))?;
        let checksum = checksum_of(sum.as_ref(), text);
        Some(Box::new(shape.file_node(f, text, resource_type, checksum)))
    };
    // Properties files are read and parsed while the other files are read and turned into
    // nodes: a large properties file takes as long to parse as all the SQL files to read.
    let (props, (files, diags)) = rayon::join(
        || -> Vec<ReadProperties> {
            found
                .par_iter()
                .filter(|f| is_properties(f))
                .map(|f| {
                    let (rel, text, _) = read(f);
                    let parsed = match &text {
                        Ok(text) => Some(properties::parse_properties(&rel, text, &package)),
                        Err(_) => None,
                    };
                    (rel, text, parsed)
                })
                .collect()
        },
        || {
            let texts: Vec<_> = found
                .par_iter()
                .filter(|f| !is_properties(f))
                .map(|f| {
                    let (rel, text, sum) = read(f);
                    let node = shaped(f, &text, &sum);
                    (rel, text, sum, node)
                })
                .collect();
            let mut builder = Builder {
                project: &mut *project,
                diags: &mut *diags,
                names: &mut *names,
                checksums: BTreeMap::new(),
                package_file: &pkg.file,
                root_file: &root_file,
                prefix: &pkg.prefix,
            };
            // In the order found, as the files' other nodes, macros and docs are added.
            let mut files = BTreeMap::new();
            for (f, (rel, text, sum, node)) in found.iter().filter(|f| !is_properties(f)).zip(texts)
            {
                let Some(text) = builder.diags.take(text) else {
                    continue;
                };
                match node {
                    Some(node) => builder.insert_node(*node),
                    None => {
                        if let Some(sum) = sum {
                            builder.checksums.insert(rel.clone(), sum);
                        }
                        builder.add_file(f, &text);
                    }
                }
                files.insert(rel, text);
            }
            (files, diags)
        },
    );
    Arc::make_mut(&mut project.files).extend(files);
    if !pkg.prefix.is_empty()
        && let Ok(text) = std::fs::read_to_string(
            pkg.dir
                .join(pkg.file.file_name.trim_start_matches(&pkg.prefix)),
        )
    {
        Arc::make_mut(&mut project.files).insert(pkg.file.file_name.clone(), text);
    }
    let mut parsed = Vec::new();
    for (rel, text, p) in props {
        if let Some(text) = diags.take(text) {
            Arc::make_mut(&mut project.files).insert(rel.clone(), text);
        }
        parsed.extend(p.map(|p| (rel, p)));
    }
    let mut builder = Builder {
        project,
        diags,
        names,
        checksums: BTreeMap::new(),
        package_file: &pkg.file,
        root_file: &root_file,
        prefix: &pkg.prefix,
    };
    for (rel, (p, d)) in parsed {
        for diag in d {
            builder.diags.push(diag);
        }
        builder.apply_properties(&rel, p);
    }
}

/// A properties file as read, and parsed when it could be read.
type ReadProperties = (
    String,
    Result<String>,
    Option<(Properties, Vec<Diagnostic>)>,
);

/// A seed's size and the bytes its checksum and header need: the whole file when it is small
/// enough to be checksummed, else only its first line (larger seeds are compared by path, as
/// dbt does), so a large seed is never read whole to load the project.
fn read_seed_head(path: &Path) -> std::io::Result<(Vec<u8>, u64)> {
    use std::io::BufRead;
    let size = std::fs::metadata(path)?.len();
    if size <= identity::MAXIMUM_SEED_SIZE {
        let bytes = std::fs::read(path)?;
        let size = bytes.len() as u64;
        return Ok((bytes, size));
    }
    let mut head = Vec::new();
    std::io::BufReader::new(std::fs::File::open(path)?).read_until(b'\n', &mut head)?;
    Ok((head, size))
}

fn read_file(path: &Path, rel: &str) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::from(
            Diagnostic::new(ErrorKind::Io, format!("cannot read {rel}: {e}"))
                .at(Location::file(rel))
                .with_hint("check that the file exists and is readable"),
        )
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let valid = String::from_utf8_lossy(&e.as_bytes()[..offset]).into_owned();
        Error::from(
            Diagnostic::new(ErrorKind::Io, format!("{rel} is not valid UTF-8"))
                .at(Location::at_offset(rel, &valid, offset))
                .with_hint("save the file as UTF-8"),
        )
    })
}

/// dbt's checksum of a file holding `text`: the one `taken` when it was read, or now.
fn checksum_of(taken: Option<&Checksum>, text: &str) -> Checksum {
    taken
        .cloned()
        .unwrap_or_else(|| Checksum::Sha256(identity::file_checksum(text)))
}

fn is_yaml(rel: &str) -> bool {
    rel.ends_with(".yml") || rel.ends_with(".yaml")
}

/// Walks the resource paths and classifies files. Sorted for deterministic output.
/// Every folder listed goes into `inputs` with the names seen in it, and each missing resource
/// folder as missing.
fn discover(
    root: &Path,
    prefix: &str,
    file: &ProjectFile,
    diags: &mut Collector,
    inputs: &mut Inputs,
) -> Vec<Found> {
    let mut roles: Vec<(Role, &Vec<String>)> = vec![
        (Role::Model, &file.model_paths),
        (Role::Seed, &file.seed_paths),
        (Role::Snapshot, &file.snapshot_paths),
        (Role::Analysis, &file.analysis_paths),
        (Role::Test, &file.test_paths),
        (Role::Macro, &file.macro_paths),
    ];
    let docs_paths;
    if let Some(paths) = &file.docs_paths {
        docs_paths = paths.clone();
        roles.push((Role::Docs, &docs_paths));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (role, paths) in roles {
        for base in paths {
            let dir = root.join(base);
            if !dir.is_dir() {
                inputs.dirs.entry(dir).or_insert(None);
                continue;
            }
            // Paths are built from the names as the walk goes down, not taken apart again.
            let base_rel = dir.strip_prefix(root).ok().map(slash_path);
            let mut walk = Walk {
                inputs: &mut *inputs,
                diags: &mut *diags,
                base,
                ancestors: Vec::new(),
            };
            walk.dir(&dir, "", &mut |sub: &str| {
                let Some(base_rel) = &base_rel else {
                    return;
                };
                let rel = match base_rel.is_empty() {
                    true => format!("{prefix}{sub}"),
                    false => format!("{prefix}{base_rel}/{sub}"),
                };
                let wanted = match role {
                    Role::Seed => rel.ends_with(".csv") || is_yaml(&rel) || rel.ends_with(".md"),
                    Role::Docs => rel.ends_with(".md"),
                    _ => rel.ends_with(".sql") || is_yaml(&rel) || rel.ends_with(".md"),
                };
                // A file listed under two roles (e.g. docs-paths overlapping model-paths) counts once.
                if wanted && seen.insert((rel.clone(), rel.ends_with(".md"))) {
                    out.push(Found {
                        rel,
                        sub: sub.to_string(),
                        role,
                    });
                }
            });
        }
    }
    out
}

/// The walk of one resource folder: depth first, each folder's entries in name order,
/// symbolic links followed. An entry's type comes from its folder's listing, so only links are
/// looked up. Every folder listed goes into `inputs` with the names seen in it.
struct Walk<'a> {
    inputs: &'a mut Inputs,
    diags: &'a mut Collector,
    /// The resource path, as the project file writes it, for errors.
    base: &'a str,
    /// The folders above the one listed: a link back to one of them is a loop.
    ancestors: Vec<PathBuf>,
}

impl Walk<'_> {
    /// Lists `dir`, whose path under the resource path is `sub` (empty for the resource path
    /// itself), and calls `file` with the path under the resource path of each file that is
    /// not hidden.
    fn dir(&mut self, dir: &Path, sub: &str, file: &mut dyn FnMut(&str)) {
        let listed = std::fs::read_dir(dir).and_then(|entries| {
            entries
                .map(|e| e.map(|e| (e.file_name(), e.file_type())))
                .collect::<std::io::Result<Vec<_>>>()
        });
        let mut entries = match listed {
            Ok(entries) => entries,
            Err(e) => {
                self.error(format!("IO error for operation on {}: {e}", dir.display()));
                Vec::new()
            }
        };
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut names = Vec::with_capacity(entries.len());
        for (name, kind) in entries {
            let linked = kind.as_ref().is_ok_and(|k| k.is_symlink());
            let kind = match kind {
                Ok(_) if linked => std::fs::metadata(dir.join(&name)).map(|m| m.file_type()),
                other => other,
            };
            let kind = match kind {
                Ok(k) => k,
                Err(e) => {
                    let path = dir.join(&name);
                    self.error(format!("IO error for operation on {}: {e}", path.display()));
                    continue;
                }
            };
            let entry_sub = match sub.is_empty() {
                true => name.to_string_lossy().into_owned(),
                false => format!("{sub}/{}", name.to_string_lossy()),
            };
            if kind.is_dir() {
                let path = dir.join(&name);
                if linked && self.loops(dir, &path) {
                    continue;
                }
                names.push(name);
                self.ancestors.push(dir.to_path_buf());
                self.dir(&path, &entry_sub, file);
                self.ancestors.pop();
                continue;
            }
            let hidden = name.as_encoded_bytes().starts_with(b".");
            names.push(name);
            if kind.is_file() && !hidden {
                file(&entry_sub);
            }
        }
        let hash = listing_hash(names.iter().map(|n| n.as_os_str()));
        self.inputs.dirs.insert(dir.to_path_buf(), Some(hash));
    }

    /// True, with an error, when the linked folder `child` of `dir` is `dir` or a folder above
    /// it: following it would never end.
    fn loops(&mut self, dir: &Path, child: &Path) -> bool {
        let Ok(target) = std::fs::canonicalize(child) else {
            return false;
        };
        let Some(ancestor) = self
            .ancestors
            .iter()
            .map(PathBuf::as_path)
            .chain([dir])
            .find(|a| std::fs::canonicalize(a).is_ok_and(|a| a == target))
            .map(Path::to_path_buf)
        else {
            return false;
        };
        let message = format!(
            "File system loop found: {} points to an ancestor {}",
            child.display(),
            ancestor.display()
        );
        self.error_with(
            message,
            "remove the link, or point it outside the resource path",
        );
        true
    }

    fn error(&mut self, e: String) {
        self.error_with(e, "check the directory's permissions");
    }

    fn error_with(&mut self, e: String, hint: &str) {
        self.diags.push(
            Diagnostic::new(
                ErrorKind::Io,
                format!("cannot list files under {}: {e}", self.base),
            )
            .with_hint(hint),
        );
    }
}

fn slash_path(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// A seed's header line and checksum, from what [`read_seed_head`] read.
fn seed_header(rel: &str, bytes: &[u8], size: u64) -> (String, Checksum) {
    let header_end = bytes
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(bytes.len());
    let header = String::from_utf8_lossy(&bytes[..header_end])
        .trim_end_matches('\r')
        .to_string();
    (header, seed_checksum(rel, bytes, size))
}

/// What loading takes from the seed `rel`, its header line and checksum, as one hash.
pub fn seed_fingerprint(header: &str, checksum: &Checksum) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(header.as_bytes());
    h.update(&[0]);
    h.update(checksum.name().as_bytes());
    h.update(checksum.value().as_bytes());
    h.digest()
}

/// The [`seed_fingerprint`] of the seed file at `path` (named `rel`) as it is now.
pub fn read_seed_fingerprint(path: &Path, rel: &str) -> Option<u64> {
    let (bytes, size) = read_seed_head(path).ok()?;
    let (header, checksum) = seed_header(rel, &bytes, size);
    Some(seed_fingerprint(&header, &checksum))
}

/// dbt's checksum of a seed: SHA-256 of the stripped text, or the path for files over 1 MiB.
fn seed_checksum(rel: &str, bytes: &[u8], size: u64) -> Checksum {
    if size > identity::MAXIMUM_SEED_SIZE {
        Checksum::Path(rel.to_string())
    } else {
        Checksum::Sha256(identity::file_checksum(&String::from_utf8_lossy(bytes)))
    }
}

/// Builds the project's resources from discovered files.
struct Builder<'a> {
    project: &'a mut Project,
    diags: &'a mut Collector,
    /// (package, resource name) → (unique_id, file) for duplicate detection among refable nodes.
    names: &'a mut BTreeMap<(String, String), Vec<(String, String)>>,
    /// Checksums taken as the files were read: seeds (whose text is not kept) and SQL files.
    checksums: BTreeMap<String, Checksum>,
    /// The project file of the package being loaded.
    package_file: &'a ProjectFile,
    /// The root project's file, whose config tree reaches into every package.
    root_file: &'a ProjectFile,
    /// The package's folder relative to the root project (empty for the root).
    prefix: &'a str,
}

/// What a node's shape takes from the project files: the package being loaded and the root
/// project. Shared by the loading threads, which shape model and analysis nodes as they read
/// their files, and by the [`Builder`].
#[derive(Clone, Copy)]
struct Shape<'a> {
    /// The project file of the package being loaded.
    package_file: &'a ProjectFile,
    /// The root project's file, whose config tree reaches into every package.
    root_file: &'a ProjectFile,
}

impl Shape<'_> {
    fn package(&self) -> String {
        self.package_file.name.clone()
    }

    /// A node's config from the project files: the package's own tree, then the root
    /// project's (which wins, as in dbt: `models: {some_pkg: {+enabled: false}}`).
    fn config_for(&self, resource: ResourceType, fqn: &[String]) -> Config {
        let mut config = self.package_file.config_for(resource, fqn);
        if self.package_file.name != self.root_file.name {
            config.merge(&self.root_file.config_for(resource, fqn));
        }
        config
    }

    /// dbt's `unrendered_config` from the project files: the package's own tree, then the root
    /// project's.
    fn unrendered_for(
        &self,
        resource: ResourceType,
        fqn: &[String],
    ) -> serde_json::Map<String, Value> {
        let mut config = self.package_file.unrendered_config_for(resource, fqn);
        if self.package_file.name != self.root_file.name {
            config.extend(self.root_file.unrendered_config_for(resource, fqn));
        }
        config
    }

    fn fqn(&self, sub: &str, name: &str) -> Vec<String> {
        let mut fqn = vec![self.package()];
        let parts: Vec<&str> = sub.split('/').collect();
        for dir in &parts[..parts.len().saturating_sub(1)] {
            fqn.push((*dir).to_string());
        }
        fqn.push(name.to_string());
        fqn
    }

    /// The node of the model, analysis, singular test or seed file `f` holding `text` (a
    /// seed's is not kept: its CSV is read when it is loaded).
    fn file_node(
        &self,
        f: &Found,
        text: &str,
        resource_type: ResourceType,
        checksum: Checksum,
    ) -> Node {
        let name = stem(&f.sub);
        // dbt files analyses under `analysis/` and configures them from the `models:` tree.
        let (path, fqn, config, unrendered_config) = if resource_type == ResourceType::Analysis {
            let path = format!("analysis/{}", f.sub);
            let fqn = self.fqn(&path, &name);
            let mut config = self.config_for(ResourceType::Model, &fqn);
            config.merge(&self.config_for(ResourceType::Analysis, &fqn));
            let unrendered = self.unrendered_for(ResourceType::Model, &fqn);
            (path, fqn, config, unrendered)
        } else {
            let fqn = self.fqn(&f.sub, &name);
            let config = self.config_for(resource_type, &fqn);
            let unrendered = self.unrendered_for(resource_type, &fqn);
            (f.sub.clone(), fqn, config, unrendered)
        };
        Node {
            unique_id: format!("{}.{}.{}", resource_type.as_str(), self.package(), name),
            resource_type,
            package_name: self.package(),
            name,
            path,
            original_file_path: f.rel.clone(),
            raw_code: text.to_string(),
            line_offset: 0,
            fqn,
            config,
            description: String::new(),
            columns: Vec::new(),
            constraints: Vec::new(),
            patch_path: None,
            test_metadata: None,
            checksum,
            unrendered_config: Arc::new(unrendered_config),
        }
    }
}

impl Builder<'_> {
    fn shape(&self) -> Shape<'_> {
        Shape {
            package_file: self.package_file,
            root_file: self.root_file,
        }
    }

    fn package(&self) -> String {
        self.shape().package()
    }

    fn config_for(&self, resource: ResourceType, fqn: &[String]) -> Config {
        self.shape().config_for(resource, fqn)
    }

    fn unrendered_for(
        &self,
        resource: ResourceType,
        fqn: &[String],
    ) -> serde_json::Map<String, Value> {
        self.shape().unrendered_for(resource, fqn)
    }

    fn add_file(&mut self, f: &Found, text: &str) {
        let rel = f.rel.as_str();
        if rel.ends_with(".md") {
            self.add_docs(rel, text);
            return;
        }
        if is_yaml(rel) || f.role == Role::Docs {
            return;
        }
        match f.role {
            Role::Model => self.add_sql_node(f, text, ResourceType::Model),
            Role::Analysis => self.add_sql_node(f, text, ResourceType::Analysis),
            Role::Seed => self.add_seed(f, text),
            Role::Snapshot => self.add_snapshots(f, text),
            Role::Macro => self.add_macros(rel, text),
            Role::Test => {
                // `tests/generic/*.sql` and any file holding `{% test %}` blocks define generic tests.
                let (blocks, _) = find_blocks(rel, text, &[BlockKind::Test, BlockKind::Macro]);
                if !blocks.is_empty() || f.sub.starts_with("generic/") {
                    self.add_macros(rel, text);
                } else {
                    self.add_sql_node(f, text, ResourceType::Test);
                }
            }
            Role::Docs => {}
        }
    }

    fn fqn(&self, sub: &str, name: &str) -> Vec<String> {
        self.shape().fqn(sub, name)
    }

    fn insert_node(&mut self, node: Node) {
        if matches!(
            node.resource_type,
            ResourceType::Model
                | ResourceType::Seed
                | ResourceType::Snapshot
                | ResourceType::Analysis
        ) {
            self.names
                .entry((node.package_name.clone(), node.name.clone()))
                .or_default()
                .push((node.unique_id.clone(), node.original_file_path.clone()));
        }
        if node.config.enabled() {
            self.project.nodes.insert(node.unique_id.clone(), node);
        } else {
            self.project.disabled.insert(node.unique_id.clone(), node);
        }
    }

    fn add_sql_node(&mut self, f: &Found, text: &str, resource_type: ResourceType) {
        let checksum = self.checksum(&f.rel, text);
        let node = self.shape().file_node(f, text, resource_type, checksum);
        self.insert_node(node);
    }

    /// dbt's checksum of the file `rel`: taken when it was read, or now.
    fn checksum(&self, rel: &str, text: &str) -> Checksum {
        checksum_of(self.checksums.get(rel), text)
    }

    fn add_seed(&mut self, f: &Found, text: &str) {
        if !f.rel.ends_with(".csv") {
            return;
        }
        let checksum = self.checksum(&f.rel, text);
        let node = self.shape().file_node(f, "", ResourceType::Seed, checksum);
        self.insert_node(node);
    }

    fn add_snapshots(&mut self, f: &Found, text: &str) {
        let (blocks, diags) = find_blocks(&f.rel, text, &[BlockKind::Snapshot]);
        for d in diags {
            self.diags.push(d);
        }
        for b in blocks {
            let body = &text[b.body.clone()];
            let fqn = self.fqn(&f.sub, &b.name);
            let mut fqn_with_file = fqn.clone();
            // dbt's snapshot fqn includes the file stem before the block name.
            fqn_with_file.insert(fqn.len() - 1, stem(&f.sub));
            let config = self
                .project
                .file
                .config_for(ResourceType::Snapshot, &fqn_with_file);
            let unrendered_config = self.unrendered_for(ResourceType::Snapshot, &fqn_with_file);
            let mut config = config;
            if config.get("materialized").is_none() {
                config.set("materialized", Value::from("snapshot"));
            }
            self.insert_node(Node {
                unique_id: format!("snapshot.{}.{}", self.package(), b.name),
                resource_type: ResourceType::Snapshot,
                package_name: self.package(),
                name: b.name.clone(),
                path: f.sub.clone(),
                original_file_path: f.rel.clone(),
                raw_code: body.to_string(),
                line_offset: text[..b.body.start].matches('\n').count(),
                fqn: fqn_with_file,
                config,
                description: String::new(),
                columns: Vec::new(),
                constraints: Vec::new(),
                patch_path: None,
                test_metadata: None,
                // dbt hashes the whole file, whatever blocks it holds.
                checksum: self.checksum(&f.rel, text),
                unrendered_config: Arc::new(unrendered_config),
            });
        }
    }

    fn add_macros(&mut self, rel: &str, text: &str) {
        let (blocks, diags) = find_blocks(
            rel,
            text,
            &[
                BlockKind::Macro,
                BlockKind::Test,
                BlockKind::Materialization,
            ],
        );
        for d in diags {
            self.diags.push(d);
        }
        for b in blocks {
            let name = match b.kind {
                BlockKind::Test => format!("test_{}", b.name),
                BlockKind::Materialization => {
                    let adapter = b
                        .args
                        .split("adapter")
                        .nth(1)
                        .map(|s| {
                            s.trim_start_matches([' ', '='])
                                .trim_matches(|c: char| c == '\'' || c == '"' || c.is_whitespace())
                                .to_string()
                        })
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| "default".to_string());
                    format!("materialization_{}_{}", b.name, adapter)
                }
                _ => b.name.clone(),
            };
            let unique_id = format!("macro.{}.{}", self.package(), name);
            if let Some(existing) = self.project.macros.get(&unique_id) {
                self.diags.push(
                    Diagnostic::new(
                        ErrorKind::Duplicate,
                        format!(
                            "macro `{name}` is defined twice: here and in {}:{}",
                            existing.original_file_path,
                            existing.line_offset + 1
                        ),
                    )
                    .at(Location::at(rel, text, b.line + 1, 1))
                    .with_hint("rename or delete one of them"),
                );
                continue;
            }
            // A `{% test %}` block is callable as the macro `test_<name>`.
            let template_sql = match b.kind {
                BlockKind::Test => {
                    let open = &text[b.open_tag.clone()];
                    let body = &text[b.body.clone()];
                    let open = open.replacen("test", "macro", 1).replacen(
                        &format!(" {}", b.name),
                        &format!(" test_{}", b.name),
                        1,
                    );
                    let close = text[b.close_tag.clone()].replacen("endtest", "endmacro", 1);
                    format!("{open}{body}{close}")
                }
                _ => text[b.range.clone()].to_string(),
            };
            self.project.macros.insert(
                unique_id.clone(),
                Macro {
                    unique_id,
                    package_name: self.package(),
                    name,
                    original_file_path: rel.to_string(),
                    macro_sql: text[b.range.clone()].to_string(),
                    template_sql,
                    line_offset: b.line,
                    arguments: blocks::argument_names(&b.args),
                    description: String::new(),
                    documented_arguments: Vec::new(),
                    patch_path: None,
                },
            );
        }
    }

    fn add_docs(&mut self, rel: &str, text: &str) {
        let (blocks, diags) = find_blocks(rel, text, &[BlockKind::Docs]);
        for d in diags {
            self.diags.push(d);
        }
        for b in blocks {
            let unique_id = format!("doc.{}.{}", self.package(), b.name);
            if let Some(existing) = self.project.docs.get(&unique_id) {
                self.diags.push(
                    Diagnostic::new(
                        ErrorKind::Duplicate,
                        format!(
                            "docs block `{}` is defined twice: here and in {}",
                            b.name, existing.original_file_path
                        ),
                    )
                    .at(Location::at(rel, text, b.line + 1, 1))
                    .with_hint("rename or delete one of them"),
                );
                continue;
            }
            self.project.docs.insert(
                unique_id.clone(),
                DocBlock {
                    unique_id,
                    name: b.name.clone(),
                    package_name: self.package(),
                    original_file_path: rel.to_string(),
                    block_contents: text[b.body.clone()].trim().to_string(),
                },
            );
        }
    }

    fn apply_properties(&mut self, rel: &str, props: Properties) {
        let text = self.project.files.get(rel).cloned().unwrap_or_default();
        let package = self.package();
        let patches = [
            (ResourceType::Model, props.models),
            (ResourceType::Seed, props.seeds),
            (ResourceType::Snapshot, props.snapshots),
            (ResourceType::Analysis, props.analyses),
        ];
        for (rt, list) in patches {
            for patch in list {
                let id = format!("{}.{}.{}", rt.as_str(), package, patch.name);
                let enabled_before = self.project.nodes.contains_key(&id);
                let node = self
                    .project
                    .nodes
                    .get_mut(&id)
                    .or_else(|| self.project.disabled.get_mut(&id));
                let Some(node) = node else {
                    self.project.warnings.push(
                        Diagnostic::new(
                            ErrorKind::Reference,
                            format!(
                                "properties for {} `{}` but no such {} exists",
                                rt, patch.name, rt
                            ),
                        )
                        .at(Location::at(rel, &text, patch.line, 1))
                        .with_hint(format!("check the name or add the {rt}'s file")),
                    );
                    continue;
                };
                if let Some(prev) = &node.patch_path {
                    self.diags.push(
                        Diagnostic::new(
                            ErrorKind::Duplicate,
                            format!(
                                "{} `{}` is described twice: here and in {prev}",
                                rt, patch.name
                            ),
                        )
                        .at(Location::at(rel, &text, patch.line, 1))
                        .with_hint("keep one entry per resource across properties files"),
                    );
                    continue;
                }
                node.patch_path = Some(rel.to_string());
                node.description = patch.description;
                node.columns = patch.columns;
                node.constraints = patch.constraints;
                node.config.merge(&patch.config);
                let unrendered = Arc::make_mut(&mut node.unrendered_config);
                for (k, v) in patch.config.0.iter() {
                    unrendered.insert(config::dbt_key(k).to_string(), v.clone());
                }
                let enabled_now = node.config.enabled();
                if enabled_before && !enabled_now {
                    if let Some(n) = self.project.nodes.remove(&id) {
                        self.project.disabled.insert(id, n);
                    }
                } else if !enabled_before
                    && enabled_now
                    && let Some(n) = self.project.disabled.remove(&id)
                {
                    self.project.nodes.insert(id, n);
                }
            }
        }
        for m in props.macros {
            let id = format!("macro.{}.{}", package, m.name);
            if let Some(mac) = self.project.macros.get_mut(&id) {
                mac.description = m.description;
                mac.documented_arguments = m.arguments;
                mac.patch_path = Some(rel.to_string());
            }
        }
        for source in props.sources {
            let mut source = source;
            let project_config = self
                .project
                .file
                .config_for(ResourceType::Source, &source.fqn);
            let mut config = project_config;
            config.merge(&source.config);
            source.config = config;
            if let Some(existing) = self.project.sources.get(&source.unique_id) {
                self.diags.push(
                    Diagnostic::new(
                        ErrorKind::Duplicate,
                        format!(
                            "source table `{}.{}` is declared twice: here and in {}",
                            source.source_name, source.name, existing.original_file_path
                        ),
                    )
                    .at(Location::at(
                        rel,
                        &text,
                        properties::find_line(&text, &format!("name: {}", source.name), 1),
                        1,
                    ))
                    .with_hint("declare each source table once"),
                );
                continue;
            }
            if source.config.enabled() {
                self.project
                    .sources
                    .insert(source.unique_id.clone(), source);
            }
        }
        // Tests are made in parallel (a large properties file declares thousands), then added
        // in the order they were declared.
        let tests: Vec<Node> = {
            let builder = &*self;
            (props.tests.par_iter())
                .map(|def| builder.generic_test(rel, def))
                .collect()
        };
        for node in tests {
            self.insert_node(node);
        }
        for ut in props.unit_tests {
            self.project.unit_tests.insert(ut.unique_id.clone(), ut);
        }
    }

    fn generic_test(&self, rel: &str, def: &TestDefinition) -> Node {
        let names = properties::generic_test_names(def);
        let name = names.full.clone();
        let package = self.package();
        // dbt places generic tests in the fqn of the YAML file's folder.
        let in_package = &rel[self.prefix.len().min(rel.len())..];
        let sub = in_package
            .split_once('/')
            .map(|(_, s)| s)
            .unwrap_or(in_package);
        let fqn = self.fqn(sub, &name);
        let mut config = self.config_for(ResourceType::Test, &fqn);
        config.merge(&def.config);
        // A shortened name becomes the alias (the relation and file name), as in dbt.
        let mut builder_config = def.builder_config.clone();
        if names.short != names.full && !builder_config.iter().any(|(k, _)| k == "alias") {
            config.set("alias", Value::from(names.short.clone()));
            builder_config.push(("alias".to_string(), Value::from(names.short.clone())));
        }
        let mut kwargs = def.kwargs.clone();
        if let Some(col) = &def.column_name {
            kwargs
                .entry("column_name".to_string())
                .or_insert_with(|| Value::from(col.clone()));
        }
        let mut hashed: serde_json::Map<String, Value> =
            kwargs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        hashed.insert(
            "model".to_string(),
            Value::from(identity::test_model_arg(&def.target)),
        );
        let hash = identity::test_hash(
            &name,
            &def.test_name,
            def.namespace.as_deref(),
            &Value::Object(hashed),
        );
        let mut unrendered_config = self.unrendered_for(ResourceType::Test, &fqn);
        for (k, v) in &builder_config {
            unrendered_config.insert(k.clone(), v.clone());
        }
        Node {
            unique_id: format!("test.{package}.{name}.{hash}"),
            resource_type: ResourceType::Test,
            package_name: package,
            name,
            path: format!("{}.sql", names.short),
            original_file_path: rel.to_string(),
            raw_code: identity::test_raw_code(
                &def.test_name,
                def.namespace.as_deref(),
                &builder_config,
            ),
            line_offset: def.line.saturating_sub(1),
            fqn,
            config,
            description: def.description.clone(),
            columns: Vec::new(),
            constraints: Vec::new(),
            patch_path: None,
            test_metadata: Some(TestMetadata {
                name: def.test_name.clone(),
                namespace: def.namespace.clone(),
                kwargs,
                column_name: def.column_name.clone(),
                target: def.target.clone(),
            }),
            checksum: Checksum::None,
            unrendered_config: Arc::new(unrendered_config),
        }
    }
}

/// Two models, seeds, snapshots or analyses with one name in one package make `ref` ambiguous.
fn check_duplicates(
    names: &BTreeMap<(String, String), Vec<(String, String)>>,
    diags: &mut Collector,
) {
    for ((_, name), entries) in names {
        if entries.len() < 2 {
            continue;
        }
        let files: Vec<&str> = entries.iter().map(|(_, f)| f.as_str()).collect();
        for (_, file) in entries {
            diags.push(
                Diagnostic::new(
                    ErrorKind::Duplicate,
                    format!(
                        "two resources are named `{name}`: {}",
                        files.join(" and ")
                    ),
                )
                .at(Location::file(file.clone()))
                .with_hint("rename one of the files; names must be unique across models, seeds, snapshots and analyses"),
            );
        }
    }
}

/// File name without directories and extension.
fn stem(sub: &str) -> String {
    let file = sub.rsplit('/').next().unwrap_or(sub);
    match file.rfind('.') {
        Some(i) => file[..i].to_string(),
        None => file.to_string(),
    }
}
