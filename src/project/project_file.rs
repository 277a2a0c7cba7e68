//! The project file: `project.yml`, or dbt's `dbt_project.yml` when there is none.
//!
//! Reading it is pure: the caller passes the text, the command-line vars and a function that
//! looks up environment variables. Strings containing Jinja are rendered as dbt renders them
//! (only `env_var()` and `var()`); hooks and `vars:` stay raw because they are rendered at run
//! time. The shared YAML-Jinja renderer ([`render_yaml_strings`]) also serves `profiles.yml`.

use super::config::{Config, normalize_key, value_to_string, yaml_to_json};
use super::types::ResourceType;
use crate::error::{Collector, Diagnostic, ErrorKind, Location, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Kiln's own project file name; it wins over dbt's when both exist.
pub const KILN_PROJECT_FILE: &str = "project.yml";
/// dbt's project file name, read when `project.yml` is absent.
pub const DBT_PROJECT_FILE: &str = "dbt_project.yml";

/// Every top-level key dbt accepts in its project file.
const KNOWN_KEYS: &[&str] = &[
    "name",
    "version",
    "config-version",
    "profile",
    "model-paths",
    "source-paths",
    "seed-paths",
    "data-paths",
    "test-paths",
    "macro-paths",
    "snapshot-paths",
    "analysis-paths",
    "docs-paths",
    "asset-paths",
    "target-path",
    "log-path",
    "packages-install-path",
    "clean-targets",
    "vars",
    "on-run-start",
    "on-run-end",
    "quoting",
    "dispatch",
    "require-dbt-version",
    "query-comment",
    "flags",
    "dbt-cloud",
    "restrict-access",
    "models",
    "seeds",
    "snapshots",
    "tests",
    "data_tests",
    "sources",
    "analyses",
    "unit_tests",
    "metrics",
    "semantic-models",
    "saved-queries",
    "exposures",
];

/// Config tree keys and the resource type each configures (`tests` and `data_tests` merge).
const TREE_KEYS: &[(&str, ResourceType)] = &[
    ("models", ResourceType::Model),
    ("seeds", ResourceType::Seed),
    ("snapshots", ResourceType::Snapshot),
    ("tests", ResourceType::Test),
    ("data_tests", ResourceType::Test),
    ("sources", ResourceType::Source),
    ("analyses", ResourceType::Analysis),
    ("unit_tests", ResourceType::UnitTest),
];

/// Configs whose values are mappings; without a `+` they would otherwise read as folder names.
const MAP_CONFIGS: &[&str] = &[
    "meta",
    "docs",
    "column_types",
    "grants",
    "persist_docs",
    "contract",
    "freshness",
    "quoting",
    "labels",
    "partition_by",
    "snapshot_meta_column_names",
];

/// A parsed project file with dbt's defaults filled in.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProjectFile {
    /// `project.yml` or `dbt_project.yml`.
    pub file_name: String,
    /// The project (package) name: the first component of every fqn.
    pub name: String,
    /// The project's `version`, as text.
    pub version: Option<String>,
    /// The profile to read from `profiles.yml`.
    pub profile: Option<String>,
    /// Folders holding models (default `models`).
    pub model_paths: Vec<String>,
    /// Folders holding seeds (default `seeds`).
    pub seed_paths: Vec<String>,
    /// Folders holding singular tests (default `tests`).
    pub test_paths: Vec<String>,
    /// Folders holding macros (default `macros`).
    pub macro_paths: Vec<String>,
    /// Folders holding snapshots (default `snapshots`).
    pub snapshot_paths: Vec<String>,
    /// Folders holding analyses (default `analyses`).
    pub analysis_paths: Vec<String>,
    /// Folders searched for docs blocks; `None` means every resource path, as in dbt.
    pub docs_paths: Option<Vec<String>>,
    /// Where artifacts and compiled SQL go (default `target`).
    pub target_path: String,
    /// Where logs go (default `logs`).
    pub log_path: String,
    /// Where packages are installed (default `dbt_packages`).
    pub packages_install_path: String,
    /// Folders `kiln clean` removes (default: the target path).
    pub clean_targets: Vec<String>,
    /// `vars:` as written (values unrendered; `var()` renders them when called).
    pub vars: BTreeMap<String, Value>,
    /// `on-run-start` hooks, unrendered.
    pub on_run_start: Vec<String>,
    /// `on-run-end` hooks, unrendered.
    pub on_run_end: Vec<String>,
    /// Project-level `quoting:` (database, schema, identifier).
    pub quoting: BTreeMap<String, Value>,
    /// `dispatch:` as written (a list; empty when absent).
    pub dispatch: Value,
    /// Config trees: `models:`, `seeds:`, `snapshots:`, `tests:`/`data_tests:`, `sources:`, `analyses:`, `unit_tests:`.
    pub trees: BTreeMap<ResourceType, Value>,
    /// The same trees as written, before Jinja is rendered: dbt's `unrendered_config` comes
    /// from them.
    pub raw_trees: BTreeMap<ResourceType, Value>,
    /// Problems that do not stop loading (unknown top-level keys, as dbt only warns).
    pub warnings: Vec<Diagnostic>,
}

/// Finds the project file in `dir`: `project.yml` if present, else `dbt_project.yml`.
pub fn find_project_file(dir: &Path) -> Result<PathBuf> {
    if !dir.is_dir() {
        return Err(Diagnostic::new(
            ErrorKind::Project,
            format!("project directory {} does not exist", dir.display()),
        )
        .at(Location::file(dir))
        .with_hint("pass --project-dir with the folder that holds project.yml or dbt_project.yml")
        .into());
    }
    for name in [KILN_PROJECT_FILE, DBT_PROJECT_FILE] {
        let path = dir.join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    Err(Diagnostic::new(
        ErrorKind::Project,
        format!(
            "no project.yml or dbt_project.yml in {}",
            if dir.as_os_str().is_empty() {
                Path::new(".").display()
            } else {
                dir.display()
            }
        ),
    )
    .at(Location::file(dir))
    .with_hint("run `kiln init` to create a project here, or pass --project-dir pointing at one")
    .into())
}

/// Parses the project file `file` (its name, for messages) from `text`, rendering `env_var()`
/// and `var()` with `vars` (the command-line vars) and `env`.
pub fn parse_project_file(
    file: &str,
    text: &str,
    vars: &BTreeMap<String, Value>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ProjectFile> {
    let mut root = match parse_yaml(file, text)? {
        Value::Object(map) => map,
        Value::Null => {
            return Err(
                Diagnostic::new(ErrorKind::Project, format!("{file} is empty"))
                    .at(Location::file(file))
                    .with_hint("add at least `name: my_project`, or run `kiln init`")
                    .into(),
            );
        }
        _ => {
            return Err(
                Diagnostic::new(ErrorKind::Project, format!("{file} is not a mapping"))
                    .at(Location::at(file, text, 1, 1))
                    .with_hint(
                        "the project file is a YAML mapping of keys such as `name:` and `models:`",
                    )
                    .into(),
            );
        }
    };
    let mut errors = Collector::new();
    // dbt accepts keys it does not know (tools keep their own settings there, such as
    // `dbt-cloud:`) with a warning; a misspelt known key gets its "did you mean".
    let warnings: Vec<Diagnostic> = root
        .keys()
        .filter(|key| !KNOWN_KEYS.contains(&key.as_str()))
        .map(|key| unknown_key(file, text, key))
        .collect();

    let ctx = YamlContext {
        file,
        text,
        vars,
        env,
    };
    let raw_trees = config_trees(&root, &mut Collector::new(), file, text);
    let mut as_value = Value::Object(std::mem::take(&mut root));
    errors.take(render_yaml_strings(
        &ctx,
        &mut as_value,
        &[],
        &project_keypath_is_late,
    ));
    if let Value::Object(map) = as_value {
        root = map;
    }

    let mut fields = Fields {
        file,
        text,
        root: &root,
        errors: &mut errors,
    };
    let name = match fields.string("name") {
        Some(name) => {
            if !is_identifier(&name) {
                fields.errors.push(
                    Diagnostic::new(
                        ErrorKind::Project,
                        format!("project name `{name}` is not a valid identifier"),
                    )
                    .at(fields.location(&["name"]))
                    .with_hint("use letters, digits and underscores, not starting with a digit"),
                );
            }
            name
        }
        None => {
            if !root.contains_key("name") {
                fields.errors.push(
                    Diagnostic::new(ErrorKind::Project, format!("{file} has no `name`"))
                        .at(Location::file(file))
                        .with_hint(
                            "add `name: my_project`; it is the first part of every node's name",
                        ),
                );
            }
            String::new()
        }
    };
    let version = match root.get("version") {
        None | Some(Value::Null) => None,
        Some(v @ (Value::String(_) | Value::Number(_))) => Some(value_to_string(v)),
        Some(_) => {
            fields.type_error("version", "a string such as \"1.0.0\"");
            None
        }
    };
    let profile = fields.string("profile");
    let paths = |fields: &mut Fields, keys: &[&str], default: &str| {
        keys.iter()
            .find_map(|k| fields.string_list(k))
            .unwrap_or_else(|| vec![default.to_string()])
    };
    let model_paths = paths(&mut fields, &["model-paths", "source-paths"], "models");
    let seed_paths = paths(&mut fields, &["seed-paths", "data-paths"], "seeds");
    let test_paths = paths(&mut fields, &["test-paths"], "tests");
    let macro_paths = paths(&mut fields, &["macro-paths"], "macros");
    let snapshot_paths = paths(&mut fields, &["snapshot-paths"], "snapshots");
    let analysis_paths = paths(&mut fields, &["analysis-paths"], "analyses");
    let docs_paths = fields.string_list("docs-paths");
    // Checked for its type only: Kiln copies no assets yet.
    let _ = fields.string_list("asset-paths");
    let target_path = fields
        .string("target-path")
        .unwrap_or_else(|| "target".into());
    let log_path = fields.string("log-path").unwrap_or_else(|| "logs".into());
    let packages_install_path = fields
        .string("packages-install-path")
        .unwrap_or_else(|| "dbt_packages".into());
    let clean_targets = fields
        .string_list("clean-targets")
        .unwrap_or_else(|| vec![target_path.clone()]);
    let vars_map = fields.map("vars");
    let on_run_start = fields.string_list("on-run-start").unwrap_or_default();
    let on_run_end = fields.string_list("on-run-end").unwrap_or_default();
    let quoting = fields.map("quoting");
    let dispatch = match root.get("dispatch") {
        None | Some(Value::Null) => Value::Array(Vec::new()),
        Some(v @ Value::Array(_)) => v.clone(),
        Some(_) => {
            fields.type_error("dispatch", "a list such as `- macro_namespace: dbt_utils`");
            Value::Array(Vec::new())
        }
    };

    let trees = config_trees(&root, fields.errors, file, text);

    errors.finish(ProjectFile {
        file_name: file.to_string(),
        name,
        version,
        profile,
        model_paths,
        seed_paths,
        test_paths,
        macro_paths,
        snapshot_paths,
        analysis_paths,
        docs_paths,
        target_path,
        log_path,
        packages_install_path,
        clean_targets,
        vars: vars_map,
        on_run_start,
        on_run_end,
        quoting,
        dispatch,
        trees,
        raw_trees,
        warnings,
    })
}

/// The config trees of a project file's root mapping, `tests:` and `data_tests:` merged.
fn config_trees(
    root: &Map<String, Value>,
    errors: &mut Collector,
    file: &str,
    text: &str,
) -> BTreeMap<ResourceType, Value> {
    let mut trees: BTreeMap<ResourceType, Value> = BTreeMap::new();
    for (key, resource) in TREE_KEYS {
        let tree = match root.get(*key) {
            None | Some(Value::Null) => continue,
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => {
                let mut fields = Fields {
                    file,
                    text,
                    root,
                    errors,
                };
                fields.type_error(key, "a mapping of package and folder names to configs");
                continue;
            }
        };
        match trees.get_mut(resource) {
            Some(existing) => merge_json(existing, tree),
            None => {
                trees.insert(*resource, tree);
            }
        }
    }
    trees
}

impl ProjectFile {
    /// Config for a node from the project tree, e.g. fqn `["jaffle", "staging", "stg_orders"]`.
    ///
    /// Each level of the tree may hold configs (`+key`, or a plain key whose value is not a
    /// folder) and folders; the walk descends into the folder named by the next fqn component
    /// (package, folders, then the node name itself) and deeper configs override shallower ones.
    pub fn config_for(&self, resource: ResourceType, fqn: &[String]) -> Config {
        let mut config = Config::new();
        let Some(Value::Object(root)) = self.trees.get(&resource) else {
            return config;
        };
        let mut level = root;
        let mut rest = fqn;
        loop {
            let mut here = Config::new();
            for (key, value) in level {
                if is_config_entry(key, value) {
                    here.set(key, value.clone());
                }
            }
            config.merge(&here);
            let Some((next, tail)) = rest.split_first() else {
                break;
            };
            match level.get(next.as_str()) {
                Some(child_value @ Value::Object(child)) if !is_config_entry(next, child_value) => {
                    level = child;
                    rest = tail;
                }
                _ => break,
            }
        }
        config
    }

    /// dbt's `unrendered_config` contribution of the project tree for a node: the configs as
    /// written (Jinja unrendered, `+` stripped) of every level the fqn walks through, each level
    /// replacing what an outer one set (a plain update: tags are not accumulated).
    pub fn unrendered_config_for(
        &self,
        resource: ResourceType,
        fqn: &[String],
    ) -> Map<String, Value> {
        let mut config = Map::new();
        let Some(Value::Object(root)) = self.raw_trees.get(&resource) else {
            return config;
        };
        // dbt's `fqn_search`: every level whose name the fqn walks through; at each level, `+key`
        // entries and entries that are not mappings are configs.
        let mut level = root;
        let mut rest = fqn;
        loop {
            for (key, value) in level {
                if let Some(k) = key.strip_prefix('+') {
                    config.insert(k.trim().to_string(), value.clone());
                } else if !value.is_object() {
                    config.insert(key.clone(), value.clone());
                }
            }
            let Some((next, tail)) = rest.split_first() else {
                break;
            };
            match level.get(next.as_str()) {
                Some(Value::Object(child)) => {
                    level = child;
                    rest = tail;
                }
                _ => break,
            }
        }
        config
    }

    /// The `dispatch:` search orders: macro namespace → packages to search, in order.
    pub fn dispatch_orders(&self) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        if let Value::Array(entries) = &self.dispatch {
            for e in entries {
                let ns = e.get("macro_namespace").and_then(Value::as_str);
                let order = e.get("search_order").and_then(Value::as_array);
                if let (Some(ns), Some(order)) = (ns, order) {
                    out.insert(
                        ns.to_string(),
                        order
                            .iter()
                            .filter_map(|p| p.as_str().map(str::to_string))
                            .collect(),
                    );
                }
            }
        }
        out
    }

    /// Vars visible to `package`: global vars overlaid with `vars: {<package>: {...}}` scoped ones.
    pub fn vars_for(&self, package: &str) -> BTreeMap<String, Value> {
        let mut vars = self.vars.clone();
        if let Some(Value::Object(scoped)) = self.vars.get(package) {
            for (k, v) in scoped {
                vars.insert(k.clone(), v.clone());
            }
        }
        vars
    }
}

/// Whether a tree entry is a config rather than a folder (see [`ProjectFile::config_for`]).
fn is_config_entry(key: &str, value: &Value) -> bool {
    if key.starts_with('+') {
        return true;
    }
    match value {
        // An empty folder (`staging:` with nothing under it) configures nothing.
        Value::Null => false,
        Value::Object(_) => MAP_CONFIGS.contains(&normalize_key(key).as_str()),
        _ => true,
    }
}

/// dbt renders these later (at run time), so loading leaves them as written.
fn project_keypath_is_late(path: &[String]) -> bool {
    let Some(first) = path.first() else {
        return false;
    };
    match first.as_str() {
        "on-run-start" | "on-run-end" | "query-comment" | "vars" => true,
        "models" | "seeds" | "snapshots" | "tests" | "data_tests" | "sources" | "analyses"
        | "unit_tests" => path
            .iter()
            .any(|k| matches!(normalize_key(k).as_str(), "pre_hook" | "post_hook")),
        _ => false,
    }
}

/// True for names dbt accepts as a project name.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Deep-merges `over` into `base`: mappings merge key by key, anything else replaces.
fn merge_json(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge_json(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn unknown_key(file: &str, text: &str, key: &str) -> Diagnostic {
    let close = close_names(key, KNOWN_KEYS);
    let hint = if close.is_empty() {
        format!("remove it, or rename it to a key dbt documents for {DBT_PROJECT_FILE}")
    } else {
        format!("did you mean {}?", quoted_list(&close, "or"))
    };
    Diagnostic::new(
        ErrorKind::Project,
        format!("unknown key `{key}` in {file} is ignored"),
    )
    .at(key_location(file, text, &[key.to_string()]))
    .with_hint(hint)
}

/// Up to three of `candidates` that look like a misspelling of `name`, closest first.
pub(crate) fn close_names<'a, S: AsRef<str>>(name: &str, candidates: &'a [S]) -> Vec<&'a str> {
    let canon = |s: &str| s.to_lowercase().replace('_', "-");
    let wanted = canon(name);
    // `model_paths` for `model-paths` is a spelling of the same key, not one guess among several.
    if let Some(same) = candidates.iter().find(|c| canon(c.as_ref()) == wanted) {
        return vec![same.as_ref()];
    }
    let mut scored: Vec<(f64, &str)> = candidates
        .iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&wanted, &canon(c.as_ref())),
                c.as_ref(),
            )
        })
        .filter(|(score, _)| *score >= 0.85)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// `` `a` ``, `` `a` or `b` ``, `` `a`, `b` or `c` `` with `word` as the last separator.
pub(crate) fn quoted_list<S: AsRef<str>>(items: &[S], word: &str) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{}`", s.as_ref())).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, init)) => format!("{} {word} {last}", init.join(", ")),
    }
}

/// The location with the value on its quoted line replaced by `****`, for a key that holds a
/// secret: `password: "S3cret {{ oops( }}"` is quoted as `password: ****`.
pub(crate) fn masked_value(mut location: Location) -> Location {
    if let Some(line) = &location.source_line {
        let key_end = line.find(':').map_or(line.len(), |c| c + 1);
        location.source_line = Some(format!("{} ****", &line[..key_end]).into());
        location.col = location.col.min(key_end + 2);
    }
    location
}

/// Parses YAML text into JSON values, reporting syntax errors at serde_yaml's position.
pub(crate) fn parse_yaml(file: &str, text: &str) -> Result<Value> {
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(v) => Ok(yaml_to_json(&v)),
        Err(e) => Err(yaml_error(file, text, &e).into()),
    }
}

/// A YAML syntax error at its line and column. A second document (a stray `---`), which
/// serde_yaml reports without a position, is placed at its marker.
pub(crate) fn yaml_error(file: &str, text: &str, e: &serde_yaml::Error) -> Diagnostic {
    if let Some(line) = e
        .location()
        .is_none()
        .then(|| second_document(text))
        .flatten()
    {
        return Diagnostic::new(
            ErrorKind::Yaml,
            "invalid YAML: a second document starts here, and a file holds only one",
        )
        .at(Location::at(file, text, line, 1))
        .with_hint("remove this `---` line, or move what follows it to a file of its own");
    }
    let message = strip_yaml_positions(&e.to_string());
    let location = match e.location() {
        Some(l) => Location::at(file, text, l.line(), l.column()),
        None => Location::file(file),
    };
    Diagnostic::new(ErrorKind::Yaml, format!("invalid YAML: {message}"))
        .at(location)
        .with_hint("fix the YAML syntax; check indentation and unclosed quotes or brackets")
}

/// The 1-based line of the `---` that starts a second YAML document, if there is one. A `---`
/// before any content opens the first document and does not count.
fn second_document(text: &str) -> Option<usize> {
    let mut content = false;
    for (i, line) in text.lines().enumerate() {
        let marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if marker && content {
            return Some(i + 1);
        }
        let trimmed = line.trim();
        content |= !marker && !trimmed.is_empty() && !trimmed.starts_with('#');
    }
    None
}

/// Removes serde_yaml's " at line N column M" fragments: the location is shown separately.
fn strip_yaml_positions(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + " at line ".len()..];
        let digits = |s: &str| s.chars().take_while(char::is_ascii_digit).count();
        let n = digits(after);
        let tail = &after[n..];
        if n > 0
            && let Some(col) = tail.strip_prefix(" column ")
            && digits(col) > 0
        {
            rest = &col[digits(col)..];
        } else {
            out.push_str(" at line ");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Reads typed fields out of the top-level mapping, recording type errors as it goes.
struct Fields<'a, 'c> {
    file: &'a str,
    text: &'a str,
    root: &'a Map<String, Value>,
    errors: &'c mut Collector,
}

impl Fields<'_, '_> {
    fn location(&self, path: &[&str]) -> Location {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        key_location(self.file, self.text, &path)
    }

    fn type_error(&mut self, key: &str, expected: &str) {
        let d = Diagnostic::new(
            ErrorKind::Project,
            format!("`{key}` in {} must be {expected}", self.file),
        )
        .at(self.location(&[key]))
        .with_hint(format!("change `{key}` to {expected}"));
        self.errors.push(d);
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.root.get(key)? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            v @ (Value::Number(_) | Value::Bool(_)) => Some(value_to_string(v)),
            _ => {
                self.type_error(key, "a string");
                None
            }
        }
    }

    /// A list of strings; a single string is accepted as a one-item list.
    fn string_list(&mut self, key: &str) -> Option<Vec<String>> {
        match self.root.get(key)? {
            Value::Null => Some(Vec::new()),
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(items) if items.iter().all(Value::is_string) => {
                Some(items.iter().map(value_to_string).collect())
            }
            _ => {
                self.type_error(key, "a list of strings");
                None
            }
        }
    }

    fn map(&mut self, key: &str) -> BTreeMap<String, Value> {
        match self.root.get(key) {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Some(_) => {
                self.type_error(key, "a mapping");
                BTreeMap::new()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Locating keys in YAML text

/// The location of the key at `path` (mapping keys; list indices are skipped) in `text`,
/// falling back to the deepest ancestor found, then to the file alone.
pub(crate) fn key_location(file: &str, text: &str, path: &[String]) -> Location {
    match locate_key(text, path) {
        Some((line, col)) => Location::at(file, text, line, col),
        None => Location::file(file),
    }
}

/// Finds the 1-based line and column of the key at `path` by scanning indentation. serde_yaml
/// keeps no positions for values, so this reads block-style YAML the way people write it.
fn locate_key(text: &str, path: &[String]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0;
    let mut parent_indent: Option<usize> = None;
    // Inside list item `[n]`: the column of its dash, so the search stops at the next item.
    let mut item_dash: Option<usize> = None;
    let mut found = None;
    for key in path {
        if let Some(n) = index(key) {
            let Some((i, dash)) = locate_item(&lines, start, parent_indent, n) else {
                break;
            };
            found = Some((i + 1, dash + 1));
            start = i;
            parent_indent = Some(dash);
            item_dash = Some(dash);
            continue;
        }
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(start) {
            let indent = line.len() - line.trim_start_matches(' ').len();
            let mut rest = &line[indent..];
            if rest.is_empty() || rest.starts_with('#') {
                continue;
            }
            if parent_indent.is_some_and(|p| indent <= p) && !rest.starts_with("- ") {
                break;
            }
            if i > start && item_dash == Some(indent) && rest.starts_with("- ") {
                break;
            }
            // Paths start at the document root, so the first key sits in column 1.
            if parent_indent.is_none() && indent > 0 {
                continue;
            }
            let mut col = indent;
            while let Some(after) = rest.strip_prefix("- ") {
                let trimmed = after.trim_start_matches(' ');
                col += rest.len() - trimmed.len();
                rest = trimmed;
            }
            if parent_indent.is_some_and(|p| col <= p) {
                break;
            }
            if key_starts_line(rest, key) {
                hit = Some((i, col));
                break;
            }
        }
        let Some((i, col)) = hit else {
            break;
        };
        found = Some((i + 1, col + 1));
        start = i + 1;
        parent_indent = Some(col);
        item_dash = None;
    }
    found
}

/// The line and dash column of item `n` of the block sequence that starts at line `start`
/// under a key at column `parent` (items may sit at the key's own column, as YAML allows).
fn locate_item(
    lines: &[&str],
    start: usize,
    parent: Option<usize>,
    n: usize,
) -> Option<(usize, usize)> {
    let mut dash: Option<usize> = None;
    let mut count = 0;
    for (i, line) in lines.iter().enumerate().skip(start) {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[indent..];
        if rest.is_empty() || rest.starts_with('#') {
            continue;
        }
        let is_item = rest.starts_with("- ") || rest == "-";
        if parent.is_some_and(|p| indent < p || (indent == p && !is_item)) {
            return None;
        }
        if !is_item {
            if dash.is_some_and(|d| indent <= d) {
                return None;
            }
            continue;
        }
        let d = *dash.get_or_insert(indent);
        if indent < d {
            return None;
        }
        if indent == d {
            if count == n {
                return Some((i, d));
            }
            count += 1;
        }
    }
    None
}

/// Path components for list items are written as `[n]`.
fn index(component: &str) -> Option<usize> {
    component.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// True when `rest` starts with `key:` (the key possibly quoted).
fn key_starts_line(rest: &str, key: &str) -> bool {
    let after = ["\"", "'", ""].iter().find_map(|q| {
        rest.strip_prefix(q)
            .and_then(|r| r.strip_prefix(key))
            .and_then(|r| r.strip_prefix(q))
    });
    match after {
        Some(after) => {
            let after = after.trim_start_matches(' ');
            after == ":" || after.starts_with(": ") || after.starts_with(":\t")
        }
        None => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering `{{ env_var() }}` and `{{ var() }}` in YAML strings

/// What YAML strings are rendered with: the file they come from (for error locations), the
/// command-line vars and an environment lookup.
pub struct YamlContext<'a> {
    /// The file name shown in errors.
    pub file: &'a str,
    /// The file's text, to find the line of a failing string.
    pub text: &'a str,
    /// Vars visible to `var()`.
    pub vars: &'a BTreeMap<String, Value>,
    /// Environment lookup for `env_var()`.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Why the last render attempt stopped, recorded by the Jinja functions.
#[derive(Debug, Default)]
struct Lookups {
    /// Environment values fetched so far (`None`: unset).
    env: BTreeMap<String, Option<String>>,
    /// An env var the template asked for that has not been fetched yet.
    pending: Option<String>,
    /// An env var that is unset and has no default.
    missing_env: Option<String>,
    /// A var that is not defined and has no default.
    missing_var: Option<String>,
}

fn lock(state: &Mutex<Lookups>) -> MutexGuard<'_, Lookups> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Renders every string containing `{{` or `{%` inside `value` (found at `key_path` in the file)
/// with `env_var()`, `var()` and dbt's `as_number`/`as_bool`/`as_native`/`as_text` filters.
/// Strings under a key path for which `skip` returns true are left as written. Every failure
/// is reported, each at the line of its key.
pub fn render_yaml_strings(
    ctx: &YamlContext<'_>,
    value: &mut Value,
    key_path: &[String],
    skip: &dyn Fn(&[String]) -> bool,
) -> Result<()> {
    let renderer = Renderer::new(ctx);
    let mut errors = Collector::new();
    let mut path = key_path.to_vec();
    renderer.walk(value, &mut path, skip, &mut errors);
    errors.finish(())
}

struct Renderer<'a> {
    ctx: &'a YamlContext<'a>,
    jinja: minijinja::Environment<'static>,
    state: Arc<Mutex<Lookups>>,
}

impl<'a> Renderer<'a> {
    fn new(ctx: &'a YamlContext<'a>) -> Renderer<'a> {
        let state = Arc::new(Mutex::new(Lookups::default()));
        let mut jinja = minijinja::Environment::new();
        // Strict: a typo such as `{{ env_vars('X') }}` must fail, not render as empty text.
        jinja.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);

        // The environment lookup borrows from the caller and minijinja functions must be
        // 'static, so `env_var` reads a cache and asks for unknown names by failing; the render
        // loop fetches the name and tries again.
        let env_state = Arc::clone(&state);
        jinja.add_function(
            "env_var",
            move |name: String, default: Option<minijinja::Value>| {
                let mut s = lock(&env_state);
                match s.env.get(&name).cloned() {
                    Some(Some(v)) => Ok(minijinja::Value::from(v)),
                    Some(None) => match default {
                        Some(d) if !d.is_none() => Ok(d),
                        _ => {
                            s.missing_env = Some(name.clone());
                            Err(minijinja::Error::new(
                                minijinja::ErrorKind::InvalidOperation,
                                format!("env var {name} is not set"),
                            ))
                        }
                    },
                    None => {
                        s.pending = Some(name.clone());
                        Err(minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            format!("env var {name} is being looked up"),
                        ))
                    }
                }
            },
        );

        let vars: BTreeMap<String, Value> = ctx.vars.clone();
        let var_state = Arc::clone(&state);
        jinja.add_function(
            "var",
            move |name: String, default: Option<minijinja::Value>| match vars.get(&name) {
                Some(v) => Ok(minijinja::Value::from_serialize(v)),
                None => match default {
                    Some(d) => Ok(d),
                    None => {
                        lock(&var_state).missing_var = Some(name.clone());
                        Err(minijinja::Error::new(
                            minijinja::ErrorKind::UndefinedError,
                            format!("var {name} is not defined"),
                        ))
                    }
                },
            },
        );
        for filter in ["as_number", "as_bool", "as_native", "as_text"] {
            jinja.add_filter(filter, |v: minijinja::Value| v);
        }
        Renderer { ctx, jinja, state }
    }

    fn walk(
        &self,
        value: &mut Value,
        path: &mut Vec<String>,
        skip: &dyn Fn(&[String]) -> bool,
        errors: &mut Collector,
    ) {
        if skip(path) {
            return;
        }
        match value {
            Value::String(s) if s.contains("{{") || s.contains("{%") => {
                // A secret's text is never quoted: not in the message, not on the quoted line.
                let key = path.last().map(String::as_str).unwrap_or("");
                let secret = super::profiles::is_secret_key(key) || s.contains("://");
                match self.render(s, secret.then_some(key)) {
                    Ok(v) => *value = v,
                    Err(d) if secret => errors.push(d.or_at(masked_value(self.location(path, s)))),
                    Err(d) => errors.push(d.or_at(self.location(path, s))),
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    path.push(format!("[{i}]"));
                    self.walk(item, path, skip, errors);
                    path.pop();
                }
            }
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    path.push(k.clone());
                    self.walk(v, path, skip, errors);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    /// The key's line, with the column of the template when it is on that line.
    fn location(&self, path: &[String], template: &str) -> Location {
        let mut loc = key_location(self.ctx.file, self.ctx.text, path);
        if let Some(line) = &loc.source_line {
            let start = template.find("{{").or_else(|| template.find("{%"));
            let opener = start.map(|i| &template[i..i + 2]);
            if let Some(i) = opener.and_then(|o| line.find(o)) {
                loc.col = line[..i].chars().count() + 1;
            }
        }
        loc
    }

    /// Renders one template, fetching env vars as the template asks for them. The value of a
    /// `secret` key is named by its key in errors, never quoted.
    fn render(
        &self,
        template: &str,
        secret: Option<&str>,
    ) -> std::result::Result<Value, Diagnostic> {
        loop {
            {
                let mut s = lock(&self.state);
                s.pending = None;
                s.missing_env = None;
                s.missing_var = None;
            }
            let result = self.jinja.render_str(template, ());
            let mut s = lock(&self.state);
            match result {
                Ok(text) => return Ok(native_value(template, text)),
                Err(_) if s.pending.is_some() => {
                    if let Some(name) = s.pending.take() {
                        let v = (self.ctx.env)(&name);
                        s.env.insert(name, v);
                    }
                }
                Err(_) if s.missing_env.is_some() => {
                    let name = s.missing_env.take().unwrap_or_default();
                    return Err(Diagnostic::new(
                        ErrorKind::Template,
                        format!("env var {name} is not set"),
                    )
                    .with_hint(format!(
                        "set {name} in the environment, or give a default: env_var('{name}', 'value')"
                    )));
                }
                Err(_) if s.missing_var.is_some() => {
                    let name = s.missing_var.take().unwrap_or_default();
                    return Err(Diagnostic::new(
                        ErrorKind::Template,
                        format!("var {name} is not defined"),
                    )
                    .with_hint(format!(
                        "pass it with --vars '{{{name}: value}}', or give a default: var('{name}', 'value')"
                    )));
                }
                Err(e) => {
                    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
                    let what = match secret {
                        Some(key) => format!("the value of `{key}`"),
                        None => format!("`{}`", template.trim()),
                    };
                    return Err(Diagnostic::new(
                        ErrorKind::Template,
                        format!("cannot render {what}: {}{detail}", e.kind()),
                    )
                    .with_hint(format!(
                        "only env_var() and var() are available when Kiln reads {}",
                        self.ctx.file
                    )));
                }
            }
        }
    }
}

/// dbt's `as_number`, `as_bool` and `as_native` filters turn the rendered text into a typed
/// value; without them the result stays text.
fn native_value(template: &str, text: String) -> Value {
    let trimmed = text.trim();
    if template.contains("as_native") {
        if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
            return v;
        }
        if let Some(b) = parse_bool(trimmed) {
            return Value::Bool(b);
        }
    }
    if template.contains("as_number")
        && let Some(n) = parse_number(trimmed)
    {
        return n;
    }
    if template.contains("as_bool")
        && let Some(b) = parse_bool(trimmed)
    {
        return Value::Bool(b);
    }
    Value::String(text)
}

fn parse_number(s: &str) -> Option<Value> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::from(i));
    }
    s.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(text: &str) -> Result<ProjectFile> {
        parse_project_file(DBT_PROJECT_FILE, text, &BTreeMap::new(), &no_env)
    }

    fn fqn(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_fill_in_missing_keys() {
        let p = parse("name: jaffle\n").unwrap();
        assert_eq!(p.file_name, "dbt_project.yml");
        assert_eq!(p.model_paths, vec!["models"]);
        assert_eq!(p.seed_paths, vec!["seeds"]);
        assert_eq!(p.analysis_paths, vec!["analyses"]);
        assert_eq!(p.docs_paths, None);
        assert_eq!(p.target_path, "target");
        assert_eq!(p.clean_targets, vec!["target"]);
        assert_eq!(p.packages_install_path, "dbt_packages");
        assert_eq!(p.dispatch, json!([]));
        assert!(p.trees.is_empty());
    }

    #[test]
    fn legacy_and_explicit_keys_are_read() {
        let text = "\
name: jaffle
version: 1.0
profile: warehouse
source-paths: [src]
data-paths: [data]
target-path: out
on-run-start: \"create schema if not exists x\"
on-run-end:
  - \"grant usage on schema {{ target.schema }} to role r\"
quoting:
  identifier: false
data_tests:
  +severity: warn
";
        let p = parse(text).unwrap();
        assert_eq!(p.version.as_deref(), Some("1.0"));
        assert_eq!(p.profile.as_deref(), Some("warehouse"));
        assert_eq!(p.model_paths, vec!["src"]);
        assert_eq!(p.seed_paths, vec!["data"]);
        assert_eq!(p.clean_targets, vec!["out"]);
        assert_eq!(p.on_run_start, vec!["create schema if not exists x"]);
        // Hooks are rendered at run time, when `target` exists.
        assert_eq!(
            p.on_run_end,
            vec!["grant usage on schema {{ target.schema }} to role r"]
        );
        assert_eq!(p.quoting.get("identifier"), Some(&json!(false)));
        assert_eq!(p.trees[&ResourceType::Test], json!({"+severity": "warn"}));
    }

    #[test]
    fn config_tree_nests_folders_and_deeper_levels_win() {
        let text = "\
name: jaffle
models:
  +materialized: view
  +tags: [all]
  jaffle:
    staging:
      +materialized: table
      schema: staging
      tags: [staging]
      meta: {owner: data}
      core:
        materialized: incremental
        +meta: {tier: 1}
        stg_orders:
          +enabled: false
    marts:
      +materialized: ephemeral
  other_pkg:
    +materialized: table
";
        let p = parse(text).unwrap();
        let c = p.config_for(
            ResourceType::Model,
            &fqn(&["jaffle", "staging", "core", "stg_orders"]),
        );
        assert_eq!(c.materialized(), "incremental");
        assert_eq!(c.get_str("schema"), Some("staging"));
        assert_eq!(c.tags(), vec!["all", "staging"]);
        assert_eq!(c.get("meta"), Some(&json!({"owner": "data", "tier": 1})));
        assert!(!c.enabled());

        let c = p.config_for(
            ResourceType::Model,
            &fqn(&["jaffle", "staging", "stg_items"]),
        );
        assert_eq!(c.materialized(), "table");
        assert!(c.enabled());

        let c = p.config_for(ResourceType::Model, &fqn(&["jaffle", "marts", "orders"]));
        assert_eq!(c.materialized(), "ephemeral");
        assert_eq!(c.get("schema"), None);

        // `other_pkg` is a package, not a config, so it does not leak into jaffle's models.
        let c = p.config_for(ResourceType::Model, &fqn(&["jaffle", "orders"]));
        assert_eq!(c.materialized(), "view");
        let c = p.config_for(ResourceType::Model, &fqn(&["other_pkg", "x"]));
        assert_eq!(c.materialized(), "table");
        assert_eq!(c.tags(), vec!["all"]);

        assert_eq!(
            p.config_for(ResourceType::Seed, &fqn(&["jaffle", "raw"])),
            Config::new()
        );
    }

    #[test]
    fn tree_hooks_stay_unrendered_and_accumulate() {
        let text = "\
name: jaffle
models:
  +post-hook: \"grant select on {{ this }} to reporter\"
  jaffle:
    +schema: \"{{ env_var('SCHEMA_SUFFIX', 'dev') }}\"
    +pre-hook:
      - \"{{ log('start') }}\"
";
        let p = parse(text).unwrap();
        let c = p.config_for(ResourceType::Model, &fqn(&["jaffle", "m"]));
        assert_eq!(
            c.get_list("post_hook"),
            vec!["grant select on {{ this }} to reporter"]
        );
        assert_eq!(c.get_list("pre_hook"), vec!["{{ log('start') }}"]);
        assert_eq!(c.get_str("schema"), Some("dev"));
    }

    #[test]
    fn tests_and_data_tests_trees_merge() {
        let text = "\
name: jaffle
tests:
  +severity: warn
  jaffle:
    +store_failures: true
data_tests:
  jaffle:
    +severity: error
";
        let p = parse(text).unwrap();
        let c = p.config_for(ResourceType::Test, &fqn(&["jaffle", "not_null_x"]));
        assert_eq!(c.get_str("severity"), Some("error"));
        assert_eq!(c.get_bool("store_failures"), Some(true));
    }

    #[test]
    fn vars_are_scoped_by_package() {
        let text = "\
name: jaffle
vars:
  start_date: '2020-01-01'
  limit: 10
  jaffle:
    limit: 20
  dbt_utils:
    limit: 30
    surrogate: md5
";
        let p = parse(text).unwrap();
        let v = p.vars_for("jaffle");
        assert_eq!(v["start_date"], json!("2020-01-01"));
        assert_eq!(v["limit"], json!(20));
        assert!(!v.contains_key("surrogate"));
        let v = p.vars_for("dbt_utils");
        assert_eq!(v["limit"], json!(30));
        assert_eq!(v["surrogate"], json!("md5"));
        assert_eq!(p.vars_for("nobody")["limit"], json!(10));
    }

    #[test]
    fn env_var_and_var_render_with_defaults() {
        let env = |name: &str| (name == "KILN_TARGET_DIR").then(|| "build".to_string());
        let vars = BTreeMap::from([("pkg_dir".to_string(), json!("deps"))]);
        let text = "\
name: jaffle
target-path: \"{{ env_var('KILN_TARGET_DIR') }}\"
log-path: \"{{ env_var('KILN_LOG_DIR', 'var/log') }}\"
packages-install-path: \"{{ var('pkg_dir', 'dbt_packages') }}\"
profile: \"{{ var('profile_name', 'default_profile') }}\"
vars:
  untouched: \"{{ env_var('NOT_SET_ANYWHERE') }}\"
";
        let p = parse_project_file(DBT_PROJECT_FILE, text, &vars, &env).unwrap();
        assert_eq!(p.target_path, "build");
        assert_eq!(p.log_path, "var/log");
        assert_eq!(p.packages_install_path, "deps");
        assert_eq!(p.profile.as_deref(), Some("default_profile"));
        // `vars:` is rendered when `var()` reads it, as in dbt.
        assert_eq!(
            p.vars["untouched"],
            json!("{{ env_var('NOT_SET_ANYWHERE') }}")
        );
    }

    #[test]
    fn missing_env_var_points_at_its_line() {
        let text = "name: jaffle\nmodels:\n  jaffle:\n    +schema: \"{{ env_var('SCHEMA') }}\"\n";
        let e = parse(text).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "error[template]: env var SCHEMA is not set\n  --> dbt_project.yml:4:15\n   |\n 4 |     +schema: \"{{ env_var('SCHEMA') }}\"\n   |               ^\n  = help: set SCHEMA in the environment, or give a default: env_var('SCHEMA', 'value')\n"
        );
    }

    #[test]
    fn missing_var_and_typos_are_errors() {
        let e = parse("name: jaffle\ntarget-path: \"{{ var('dir') }}\"\n").unwrap_err();
        assert_eq!(e.diagnostics()[0].message, "var dir is not defined");
        let e = parse("name: jaffle\ntarget-path: \"{{ env_vars('X') }}\"\n").unwrap_err();
        let d = &e.diagnostics()[0];
        assert!(
            d.message.starts_with("cannot render `{{ env_vars('X') }}`"),
            "{}",
            d.message
        );
        assert_eq!(d.location.as_ref().map(|l| (l.line, l.col)), Some((2, 15)));
    }

    #[test]
    fn as_number_gives_a_number() {
        let env = |_: &str| Some("8".to_string());
        let mut v =
            json!({"threads": "{{ env_var('T') | as_number }}", "text": "{{ env_var('T') }}"});
        let ctx = YamlContext {
            file: "profiles.yml",
            text: "",
            vars: &BTreeMap::new(),
            env: &env,
        };
        render_yaml_strings(&ctx, &mut v, &[], &|_| false).unwrap();
        assert_eq!(v, json!({"threads": 8, "text": "8"}));
    }

    #[test]
    fn unknown_key_is_a_warning_that_names_line_and_suggests() {
        let text = "name: jaffle\nversion: '1.0'\nmodel_paths: [\"models\"]\n";
        let p = parse(text).unwrap();
        let w = &p.warnings[0];
        assert_eq!(
            w.message,
            "unknown key `model_paths` in dbt_project.yml is ignored"
        );
        assert_eq!(w.hint.as_deref(), Some("did you mean `model-paths`?"));
        assert_eq!(w.location.as_ref().map(|l| l.line), Some(3));
        // dbt Cloud's own key is one dbt accepts.
        assert!(
            parse("name: jaffle\ndbt-cloud:\n  project-id: 7\n")
                .unwrap()
                .warnings
                .is_empty()
        );
        let p = parse("name: jaffle\ncolours:\n  primary: red\n").unwrap();
        assert_eq!(
            p.warnings[0].hint.as_deref(),
            Some("remove it, or rename it to a key dbt documents for dbt_project.yml")
        );
    }

    #[test]
    fn every_problem_is_reported_together() {
        let text = "version: 2\nmodles: {}\ntarget-path: [a]\n";
        let e = parse(text).unwrap_err();
        let messages: Vec<&str> = e.diagnostics().iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "dbt_project.yml has no `name`",
                "`target-path` in dbt_project.yml must be a string",
            ]
        );
    }

    #[test]
    fn malformed_yaml_reports_serde_position() {
        let e = parse("name: jaffle\nmodels:\n  - a\n  b: c\n").unwrap_err();
        let d = &e.diagnostics()[0];
        assert_eq!(d.kind, ErrorKind::Yaml);
        assert!(!d.message.contains(" at line "), "{}", d.message);
        assert_eq!(d.location.as_ref().map(|l| l.line), Some(4));
        assert_eq!(
            strip_yaml_positions("bad thing at line 3 column 4, while parsing at line 1 column 1"),
            "bad thing, while parsing"
        );
    }

    #[test]
    fn locate_key_follows_nesting() {
        let text = "\
models:
  a:
    x: 1
  b:
    # comment
    - name: n
      x: 2
seeds:
  x: 3
";
        let path = |p: &[&str]| fqn(p);
        assert_eq!(locate_key(text, &path(&["models", "b", "x"])), Some((7, 7)));
        assert_eq!(
            locate_key(text, &path(&["models", "b", "[0]", "name"])),
            Some((6, 7))
        );
        assert_eq!(locate_key(text, &path(&["seeds", "x"])), Some((9, 3)));
        assert_eq!(locate_key(text, &path(&["x"])), None);
        // A key that is not there falls back to its parent.
        assert_eq!(locate_key(text, &path(&["models", "c"])), Some((1, 1)));
    }

    #[test]
    fn project_yml_wins_over_dbt_project_yml() {
        let dir = tempfile::tempdir().unwrap();
        let e = find_project_file(dir.path()).unwrap_err();
        assert!(
            e.diagnostics()[0]
                .message
                .starts_with("no project.yml or dbt_project.yml in ")
        );
        assert_eq!(
            e.diagnostics()[0].hint.as_deref(),
            Some("run `kiln init` to create a project here, or pass --project-dir pointing at one")
        );
        std::fs::write(dir.path().join(DBT_PROJECT_FILE), "name: a\n").unwrap();
        assert_eq!(
            find_project_file(dir.path()).unwrap(),
            dir.path().join(DBT_PROJECT_FILE)
        );
        std::fs::write(dir.path().join(KILN_PROJECT_FILE), "name: a\n").unwrap();
        assert_eq!(
            find_project_file(dir.path()).unwrap(),
            dir.path().join(KILN_PROJECT_FILE)
        );
    }
}
