//! What a project asks for: the `packages:` list of `packages.yml` or `dependencies.yml`, read
//! into typed [`PackageSpec`]s, and the `sha1_hash` dbt stores in `package-lock.yml` to tell
//! whether the lock still matches that list.

use super::version::Bound;
use crate::error::{Collector, Diagnostic, ErrorKind, Location, Result};
use crate::project::project_file::{YamlContext, parse_yaml, render_yaml_strings};
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;
use std::path::Path;

/// The files a package list may live in, in dbt's order.
pub const PACKAGES_FILES: [&str; 2] = ["packages.yml", "dependencies.yml"];

/// Where a package comes from and what version of it is wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A directory on disk, relative to the root project.
    Local {
        /// The path as written.
        path: String,
    },
    /// A git repository.
    Git {
        /// The URL, with `env_var()` rendered.
        url: String,
        /// The URL as written (what the lock records, so no secret lands in it).
        url_unrendered: String,
        /// Branch, tag or commit; `None` is the default branch.
        revision: Option<String>,
        /// A folder of the repository holding the package.
        subdirectory: Option<String>,
        /// False when the user opted out of the unpinned warning.
        warn_unpinned: bool,
    },
    /// A package of the dbt package hub.
    Hub {
        /// `org/name`.
        package: String,
        /// Every bound of `version:`.
        bounds: Vec<Bound>,
        /// Whether prereleases are candidates.
        prerelease: bool,
    },
    /// A `.tar.gz` at a URL.
    Tarball {
        /// The URL.
        url: String,
    },
}

impl Source {
    /// `local`, `git`, `hub` or `tarball`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Local { .. } => "local",
            Source::Git { .. } => "git",
            Source::Hub { .. } => "hub",
            Source::Tarball { .. } => "tarball",
        }
    }
}

/// One entry of a package list.
#[derive(Debug, Clone)]
pub struct PackageSpec {
    /// Where the package comes from.
    pub source: Source,
    /// `name:` when the entry gives one.
    pub name: Option<String>,
    /// Who asked for it: the root's package file, or a package's project name.
    pub requested_by: String,
    /// The entry's line in its file, when it came from a file.
    pub location: Option<Location>,
}

impl PackageSpec {
    /// The entry as a user recognises it: `dbt-labs/dbt_utils`, a git URL, a local path.
    pub fn label(&self) -> String {
        match &self.source {
            Source::Local { path } => path.clone(),
            Source::Git {
                url, subdirectory, ..
            } => match subdirectory {
                Some(s) => format!("{url} (subdirectory {s})"),
                None => url.clone(),
            },
            Source::Hub { package, .. } => package.clone(),
            Source::Tarball { url } => url.clone(),
        }
    }

    /// A diagnostic about this entry, at its line when known.
    pub fn error(&self, kind: ErrorKind, message: impl Into<String>) -> Diagnostic {
        let d = Diagnostic::new(kind, message);
        match &self.location {
            Some(l) => d.at(l.clone()),
            None => d,
        }
    }
}

/// A project's package list and its lock hash.
#[derive(Debug, Clone)]
pub struct PackageList {
    /// `packages.yml` or `dependencies.yml`.
    pub file: String,
    /// The entries, in file order.
    pub specs: Vec<PackageSpec>,
    /// dbt's `sha1_hash` of the list.
    pub sha1_hash: String,
}

/// How strings in a package file are rendered.
pub struct RenderContext<'a> {
    /// Command-line vars for `var()`.
    pub vars: &'a BTreeMap<String, Value>,
    /// Environment lookup for `env_var()`.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Reads the package list of the project (or package) in `dir`; `None` when it has none.
/// `shown_dir` prefixes file names in messages; `requested_by` names the requester.
pub fn read_package_list(
    dir: &Path,
    shown_dir: &str,
    requested_by: Option<&str>,
    render: &RenderContext<'_>,
) -> Result<Option<PackageList>> {
    let mut found: Vec<(String, String, Value)> = Vec::new();
    for name in PACKAGES_FILES {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        let shown = format!("{shown_dir}{name}");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Diagnostic::new(ErrorKind::Io, format!("cannot read {shown}: {e}"))
                .at(Location::file(&shown))
                .with_hint("check the file's permissions")
        })?;
        let value = parse_yaml(&shown, &text)?;
        if value.get("packages").is_some_and(|p| !p.is_null()) {
            found.push((shown, text, value));
        }
    }
    if found.len() > 1 {
        return Err(Diagnostic::new(
            ErrorKind::Project,
            format!(
                "`packages:` is given in both {} and {}",
                found[0].0, found[1].0
            ),
        )
        .at(Location::file(&found[1].0))
        .with_hint("keep the package list in one of the two files")
        .into());
    }
    let Some((file, text, value)) = found.pop() else {
        return Ok(None);
    };
    let requested_by = requested_by.unwrap_or(&file).to_string();
    let origin = Origin {
        file: &file,
        text: Some(&text),
        requested_by: &requested_by,
    };
    let raw = match value.get("packages") {
        Some(Value::Array(items)) => items.clone(),
        _ => {
            let line = text
                .lines()
                .position(|l| l.starts_with("packages"))
                .unwrap_or(0)
                + 1;
            return Err(Diagnostic::new(
                ErrorKind::Yaml,
                format!("`packages` in {file} must be a list"),
            )
            .at(Location::at(&file, &text, line, 1))
            .with_hint("write one `- package:`, `- git:` or `- local:` entry per line")
            .into());
        }
    };
    let mut rendered = Value::Array(raw.clone());
    render_yaml_strings(
        &YamlContext {
            file: &file,
            text: &text,
            vars: render.vars,
            env: render.env,
        },
        &mut rendered,
        &["packages".to_string()],
        &|_| false,
    )?;
    let rendered = match rendered {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    let (specs, hash_entries) = parse_entries(&rendered, &raw, &origin)?;
    Ok(Some(PackageList {
        sha1_hash: sha1_hash(&hash_entries),
        file,
        specs,
    }))
}

/// Where a list of entries was written.
pub struct Origin<'a> {
    /// The file name shown in messages.
    pub file: &'a str,
    /// Its text, to point at an entry's line; `None` for lists that come from the hub.
    pub text: Option<&'a str>,
    /// Who asked for these packages.
    pub requested_by: &'a str,
}

/// Parses entries (rendered, and as written) into specs and the dicts dbt hashes.
pub fn parse_entries(
    rendered: &[Value],
    raw: &[Value],
    origin: &Origin<'_>,
) -> Result<(Vec<PackageSpec>, Vec<Value>)> {
    let lines = origin.text.map(entry_lines).unwrap_or_default();
    let mut errors = Collector::new();
    let mut specs = Vec::new();
    let mut hashes = Vec::new();
    for (i, entry) in rendered.iter().enumerate() {
        let location = match (origin.text, lines.get(i)) {
            (Some(text), Some(&(line, col))) => Location::at(origin.file, text, line, col),
            _ => Location::file(origin.file),
        };
        let unrendered = raw.get(i).cloned().unwrap_or(Value::Null);
        match parse_entry(entry, &unrendered) {
            Ok((source, name, hash)) => {
                specs.push(PackageSpec {
                    source,
                    name,
                    requested_by: origin.requested_by.to_string(),
                    location: Some(location),
                });
                hashes.push(hash);
            }
            Err(d) => errors.push(d.or_at(location)),
        }
    }
    errors.finish((specs, hashes))
}

const LOCAL_KEYS: &[&str] = &["local", "name"];
const GIT_KEYS: &[&str] = &["git", "revision", "subdirectory", "warn-unpinned", "name"];
const HUB_KEYS: &[&str] = &[
    "package",
    "version",
    "install_prerelease",
    "install-prerelease",
    "name",
];
const TARBALL_KEYS: &[&str] = &["tarball", "name"];

/// One entry: its source, its `name:`, and the dict whose JSON dbt hashes.
fn parse_entry(
    entry: &Value,
    unrendered: &Value,
) -> std::result::Result<(Source, Option<String>, Value), Diagnostic> {
    let bad = |msg: String| {
        Diagnostic::new(ErrorKind::Yaml, msg).with_hint(
            "write `- package: org/name` with `version:`, `- git: <url>` with an optional \
             `revision:`, or `- local: <path>`",
        )
    };
    let Value::Object(map) = entry else {
        return Err(bad("a package entry must be a mapping".into()));
    };
    let (kind, allowed) = if map.contains_key("local") {
        ("local", LOCAL_KEYS)
    } else if map.contains_key("git") {
        ("git", GIT_KEYS)
    } else if map.contains_key("package") {
        ("package", HUB_KEYS)
    } else if map.contains_key("tarball") {
        ("tarball", TARBALL_KEYS)
    } else {
        return Err(bad(
            "a package entry needs one of `package:`, `git:`, `local:` or `tarball:`".into(),
        ));
    };
    if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Diagnostic::new(
            ErrorKind::Yaml,
            format!("unknown key `{key}` in a `{kind}:` package entry"),
        )
        .with_hint(format!(
            "the keys of a `{kind}:` entry are {}",
            crate::project::project_file::quoted_list(allowed, "and")
        )));
    }
    let string = |key: &str| -> std::result::Result<Option<String>, Diagnostic> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Err(Diagnostic::new(
                ErrorKind::Yaml,
                format!("`{key}` of a package entry is empty"),
            )
            .with_hint(format!("give `{key}` a value"))),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v @ Value::Number(_)) => Ok(Some(v.to_string())),
            Some(_) => Err(Diagnostic::new(
                ErrorKind::Yaml,
                format!("`{key}` of a package entry must be a string"),
            )
            .with_hint(format!("quote the value of `{key}`"))),
        }
    };
    let flag = |key: &str| -> std::result::Result<Option<bool>, Diagnostic> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Diagnostic::new(
                ErrorKind::Yaml,
                format!("`{key}` of a package entry must be true or false"),
            )
            .with_hint(format!("write `{key}: true` or `{key}: false`"))),
        }
    };
    let name = string("name")?;
    let required = |key: &str| {
        string(key)?.ok_or_else(|| bad(format!("`{key}:` of a package entry has no value")))
    };
    let mut hash = Map::new();
    let source = match kind {
        "local" => {
            let path = required("local")?;
            hash.insert("local".into(), Value::from(path.clone()));
            Source::Local { path }
        }
        "git" => {
            let url = required("git")?;
            let revision = string("revision")?;
            let subdirectory = string("subdirectory")?;
            let warn = flag("warn-unpinned")?;
            hash.insert("git".into(), Value::from(url.clone()));
            hash.insert("revision".into(), map.get("revision").cloned().into_null());
            hash.insert("subdirectory".into(), subdirectory.clone().into());
            hash.insert("warn-unpinned".into(), warn.into());
            let url_unrendered = unrendered
                .get("git")
                .and_then(Value::as_str)
                .unwrap_or(&url)
                .to_string();
            Source::Git {
                url,
                url_unrendered,
                revision,
                subdirectory,
                warn_unpinned: warn != Some(false),
            }
        }
        "package" => {
            let package = required("package")?;
            if !package.contains('/') {
                return Err(Diagnostic::new(
                    ErrorKind::Project,
                    format!("hub package `{package}` has no namespace"),
                )
                .with_hint("hub packages are named `org/name`, e.g. `dbt-labs/dbt_utils`"));
            }
            let version = map.get("version").cloned().unwrap_or(Value::Null);
            let bounds = parse_bounds(&package, &version)?;
            let prerelease = match flag("install_prerelease")? {
                Some(b) => b,
                None => flag("install-prerelease")?.unwrap_or(false),
            };
            hash.insert("package".into(), Value::from(package.clone()));
            hash.insert("version".into(), version);
            hash.insert("install_prerelease".into(), Value::from(prerelease));
            Source::Hub {
                package,
                bounds,
                prerelease,
            }
        }
        _ => {
            let url = required("tarball")?;
            if name.is_none() {
                return Err(bad("a `tarball:` entry needs `name:`".into()));
            }
            hash.insert("tarball".into(), Value::from(url.clone()));
            Source::Tarball { url }
        }
    };
    hash.insert("unrendered".into(), unrendered.clone());
    if let Some(n) = &name {
        hash.insert("name".into(), Value::from(n.clone()));
    }
    Ok((source, name, Value::Object(hash)))
}

trait IntoNull {
    fn into_null(self) -> Value;
}

impl IntoNull for Option<Value> {
    fn into_null(self) -> Value {
        self.unwrap_or(Value::Null)
    }
}

/// `version:` as a list of bounds: a string, a comma-separated string, or a list.
fn parse_bounds(package: &str, version: &Value) -> std::result::Result<Vec<Bound>, Diagnostic> {
    let texts: Vec<String> = match version {
        Value::String(s) => s.split(',').map(str::to_string).collect(),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Value::Null => {
            return Err(Diagnostic::new(
                ErrorKind::Project,
                format!("hub package `{package}` has no `version:`"),
            )
            .with_hint("add a version or a range, e.g. `version: [\">=1.0.0\", \"<2.0.0\"]`"));
        }
        other => vec![other.to_string()],
    };
    texts
        .iter()
        .map(|t| {
            Bound::parse(t).ok_or_else(|| {
                Diagnostic::new(
                    ErrorKind::Project,
                    format!("`{t}` is not a version or a version range (package `{package}`)"),
                )
                .with_hint("write MAJOR.MINOR.PATCH, optionally after >=, >, <=, < or =")
            })
        })
        .collect()
}

/// The 1-based (line, column) of each `- ` item under the top-level `packages:` key.
fn entry_lines(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut inside = false;
    let mut item_indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if indent == 0 && !trimmed.starts_with('-') {
            inside = trimmed.starts_with("packages:");
            continue;
        }
        if !inside || !(trimmed.starts_with("- ") || trimmed == "-") {
            continue;
        }
        if *item_indent.get_or_insert(indent) == indent {
            let body = trimmed[1..].trim_start_matches(' ');
            let col = indent + (trimmed.len() - body.len()) + 1;
            out.push((i + 1, col));
        }
    }
    out
}

/// dbt's `sha1_hash`: the SHA-1 of the sorted JSON texts (Python's `json.dumps(...,
/// sort_keys=True)`) of every entry, joined by newlines.
pub fn sha1_hash(entries: &[Value]) -> String {
    let mut texts: Vec<String> = entries.iter().map(python_json).collect();
    texts.sort();
    let digest = Sha1::digest(texts.join("\n").as_bytes());
    crate::project::identity::hex(&digest)
}

/// JSON text as Python's `json.dumps(value, sort_keys=True)` writes it: `", "` and `": "`
/// separators, keys sorted, non-ASCII escaped as `\uXXXX`, floats in Python's repr.
pub fn python_json(value: &Value) -> String {
    let mut out = String::new();
    write_python_json(value, &mut out);
    out
}

fn write_python_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&python_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_python_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(v, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_string(k, out);
                out.push_str(": ");
                write_python_json(&map[k.as_str()], out);
            }
            out.push('}');
        }
    }
}

/// Python's `repr(float)` for the values YAML files hold.
fn python_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

fn write_python_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> PackageList {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("kiln-spec-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("packages.yml"), text).unwrap();
        let env = |_: &str| None;
        let vars = BTreeMap::new();
        let out = read_package_list(
            &dir,
            "",
            None,
            &RenderContext {
                vars: &vars,
                env: &env,
            },
        );
        let _ = std::fs::remove_dir_all(&dir);
        out.unwrap().unwrap()
    }

    // Hashes below were produced by dbt-core 1.11 for the same packages.yml.
    #[test]
    fn hash_matches_dbt_for_a_local_package() {
        assert_eq!(
            list("packages:\n- local: ../\n").sha1_hash,
            "de2deba3d66ce03d8c02949013650cc9b94f6030"
        );
    }

    #[test]
    fn hash_matches_dbt_for_every_kind() {
        let text = "packages:\n  - package: dbt-labs/dbt_utils\n    version: [\">=1.0.0\", \"<2.0.0\"]\n  - git: \"https://x/y.git\"\n    revision: v1.0.0\n    subdirectory: sub\n    warn-unpinned: false\n  - package: a/b\n    version: \"1.2.0\"\n    install_prerelease: true\n  - git: \"https://x/z.git\"\n  - package: c/d\n    version: \"1.0.0\"\n  - local: \"\u{e9}/x\"\n";
        let l = list(text);
        assert_eq!(l.specs.len(), 6);
        assert_eq!(l.sha1_hash, "754e494eaa9a9bd6bcbe54dbf556aae5649e5fe9");
    }

    #[test]
    fn python_json_escapes_and_sorts_like_python() {
        let v = serde_json::json!({"b": [1, 2.0, null], "a": "\u{e9}\u{1f600}"});
        assert_eq!(
            python_json(&v),
            r#"{"a": "\u00e9\ud83d\ude00", "b": [1, 2.0, null]}"#
        );
    }

    #[test]
    fn entry_lines_point_at_each_item() {
        let text = "# deps\npackages:\n  - package: a/b\n    version: 1.0.0\n\n  - local: ../x\n";
        assert_eq!(entry_lines(text), vec![(3, 5), (6, 5)]);
    }
}
