//! `package-lock.yml`: every package of the resolved graph pinned (hub version, git commit),
//! plus the `sha1_hash` of the package list it was resolved from. Written as dbt-core 1.11
//! writes it (PyYAML with sorted keys and indented lists), so the two tools share one lock.

use super::spec::{Origin, PackageSpec, RenderContext, Source};
use crate::error::{Diagnostic, ErrorKind, Location, Result};
use crate::project::project_file::{YamlContext, parse_yaml, render_yaml_strings};
use serde_json::Value;
use std::path::Path;

/// The lock file's name, next to the project file.
pub const LOCK_FILE: &str = "package-lock.yml";

/// A package pinned to exactly one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// The package's project name, which is also its folder under the install path.
    pub name: String,
    /// Where it comes from, pinned.
    pub source: PinnedSource,
}

/// A pinned source, as the lock records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinnedSource {
    /// A directory, relative to the root project.
    Local {
        /// The path as written in the package list.
        path: String,
    },
    /// A git repository at one commit.
    Git {
        /// The URL as written (unrendered), so no secret lands in the lock.
        url: String,
        /// The URL with `env_var()` rendered: what is cloned.
        fetch_url: String,
        /// The full commit sha.
        revision: String,
        /// A folder of the repository holding the package.
        subdirectory: Option<String>,
    },
    /// A hub package at one version.
    Hub {
        /// `org/name`.
        package: String,
        /// The exact version.
        version: String,
    },
    /// A tarball URL.
    Tarball {
        /// The URL.
        url: String,
    },
}

/// What the lock holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// Every package, in resolution order.
    pub packages: Vec<Pinned>,
    /// The hash of the package list the lock was made from.
    pub sha1_hash: String,
}

/// The lock file's text, byte for byte as dbt-core 1.11 writes it.
pub fn render(lock: &Lock) -> String {
    let mut out = String::from("packages:\n");
    for p in &lock.packages {
        // PyYAML sorts keys; these pairs are listed in sorted order per kind.
        let mut pairs: Vec<(&str, &str)> = match &p.source {
            PinnedSource::Local { path } => vec![("local", path)],
            PinnedSource::Git {
                url,
                revision,
                subdirectory,
                ..
            } => {
                let mut v = vec![("git", url.as_str()), ("revision", revision.as_str())];
                if let Some(s) = subdirectory {
                    v.push(("subdirectory", s));
                }
                v
            }
            PinnedSource::Hub { package, version } => {
                vec![("package", package), ("version", version)]
            }
            PinnedSource::Tarball { url } => vec![("tarball", url)],
        };
        pairs.push(("name", &p.name));
        pairs.sort();
        for (i, (k, v)) in pairs.iter().enumerate() {
            let lead = if i == 0 { "  - " } else { "    " };
            out.push_str(&format!("{lead}{k}: {}\n", yaml_scalar(v)));
        }
    }
    out.push_str(&format!("sha1_hash: {}\n", yaml_scalar(&lock.sha1_hash)));
    out
}

/// Only the `sha1_hash` of `package-lock.yml` in `root`, without checking the rest of the file.
pub fn read_hash(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join(LOCK_FILE)).ok()?;
    let value: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
    value.get("sha1_hash")?.as_str().map(str::to_string)
}

/// Reads `package-lock.yml` in `root`, rendering `env_var()` in it; `None` when there is none.
pub fn read(root: &Path, render: &RenderContext<'_>) -> Result<Option<Lock>> {
    let path = root.join(LOCK_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Diagnostic::new(ErrorKind::Io, format!("cannot read {LOCK_FILE}: {e}"))
            .at(Location::file(LOCK_FILE))
            .with_hint("check the file's permissions, or delete it and run `kiln deps`")
    })?;
    let value = parse_yaml(LOCK_FILE, &text)?;
    let hash = value
        .get("sha1_hash")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let entries = match value.get("packages") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    let origin = Origin {
        file: LOCK_FILE,
        text: Some(&text),
        requested_by: LOCK_FILE,
    };
    let mut rendered = Value::Array(entries.clone());
    render_yaml_strings(
        &YamlContext {
            file: LOCK_FILE,
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
    let (specs, _) = super::spec::parse_entries(&rendered, &entries, &origin).map_err(|e| {
        e.with_hint("the lock is written by `kiln deps`; run `kiln deps --upgrade` to rewrite it")
    })?;
    let packages = specs
        .iter()
        .map(pinned_from_spec)
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Lock {
        packages,
        sha1_hash: hash,
    }))
}

fn pinned_from_spec(spec: &PackageSpec) -> Result<Pinned> {
    let unpinned = |what: &str| {
        spec.error(
            ErrorKind::Project,
            format!("{LOCK_FILE} has {what} for `{}`", spec.label()),
        )
        .with_hint("run `kiln deps --upgrade` to resolve the packages again and rewrite the lock")
    };
    let source = match &spec.source {
        Source::Local { path } => PinnedSource::Local { path: path.clone() },
        Source::Git {
            url,
            url_unrendered,
            revision,
            subdirectory,
            ..
        } => PinnedSource::Git {
            url: url_unrendered.clone(),
            fetch_url: url.clone(),
            revision: revision.clone().ok_or_else(|| unpinned("no revision"))?,
            subdirectory: subdirectory.clone(),
        },
        Source::Hub {
            package, bounds, ..
        } => match bounds.as_slice() {
            [b] if b.op == super::version::Op::Exact => PinnedSource::Hub {
                package: package.clone(),
                version: b.version.to_string(),
            },
            _ => return Err(unpinned("a version range instead of one version").into()),
        },
        Source::Tarball { url } => PinnedSource::Tarball { url: url.clone() },
    };
    let name = spec.name.clone().ok_or_else(|| unpinned("no `name:`"))?;
    Ok(Pinned { name, source })
}

/// A string as PyYAML's default dumper writes it: plain when it reads back as the same string,
/// single-quoted otherwise, double-quoted with escapes when it holds non-ASCII or control
/// characters.
pub fn yaml_scalar(s: &str) -> String {
    if s.chars().any(|c| !(' '..='~').contains(&c)) {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) > 0xffff => out.push_str(&format!("\\U{:08X}", c as u32)),
                c if (c as u32) > 0xff => out.push_str(&format!("\\u{:04X}", c as u32)),
                c if (c as u32) < 0x20 || (c as u32) >= 0x7f => {
                    out.push_str(&format!("\\x{:02X}", c as u32))
                }
                c => out.push(c),
            }
        }
        out.push('"');
        return out;
    }
    if plain_is_safe(s) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// True when PyYAML would write `s` unquoted in block context.
fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with(' ') || s.ends_with(' ') || resolves_to_non_string(s) {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let next_is_space = |i: usize| s[i + 1..].chars().next().is_none_or(|c| c == ' ');
    if "#,[]{}&*!|>'\"%@`".contains(first) {
        return false;
    }
    if "?:-".contains(first) && next_is_space(0) {
        return false;
    }
    for (i, c) in s.char_indices() {
        if c == ':' && next_is_space(i) {
            return false;
        }
        if c == '#' && i > 0 && s.as_bytes()[i - 1] == b' ' {
            return false;
        }
    }
    true
}

/// YAML 1.1 implicit types PyYAML resolves plain scalars to: null, bool, int, float, timestamp.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "~", "null", "Null", "NULL", "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE",
        "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "=", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let digits_ =
        |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c == '_' || c.is_digit(radix));
    // Integers: decimal, 0b, 0x, octal, sexagesimal.
    if let Some(b) = unsigned.strip_prefix("0b") {
        return digits_(b, 2);
    }
    if let Some(x) = unsigned.strip_prefix("0x") {
        return digits_(x, 16);
    }
    if unsigned == "0" {
        return true;
    }
    if let Some(octal) = unsigned.strip_prefix('0') {
        if digits_(octal, 8) {
            return true;
        }
    } else if digits_(unsigned, 10) && unsigned.starts_with(|c: char| c.is_ascii_digit()) {
        return true;
    }
    if unsigned.contains(':')
        && unsigned.starts_with(|c: char| c.is_ascii_digit())
        && unsigned
            .split(['.', ':'])
            .all(|p| digits_(p, 10) || p.is_empty())
    {
        return true;
    }
    // Floats: `[0-9][0-9_]*?.[0-9_]*([eE][-+][0-9]+)?`, `.inf`, `.nan`.
    if [".inf", ".Inf", ".INF"].contains(&unsigned) || [".nan", ".NaN", ".NAN"].contains(&s) {
        return true;
    }
    if let Some((int, rest)) = unsigned.split_once('.') {
        let (frac, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let int_ok = int.is_empty() || digits_(int, 10);
        let frac_ok = frac.chars().all(|c| c == '_' || c.is_ascii_digit());
        let exp_ok = exp.is_none_or(|e| {
            e.strip_prefix(['-', '+'])
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
        });
        if int_ok && frac_ok && exp_ok && !(int.is_empty() && frac.is_empty()) {
            return true;
        }
    }
    // Timestamps: YYYY-MM-DD...
    let b = s.as_bytes();
    b.len() >= 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && s[5..].starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_as_dbt_does() {
        let lock = Lock {
            packages: vec![
                Pinned {
                    name: "my_pkg".into(),
                    source: PinnedSource::Local {
                        path: "../mypkg".into(),
                    },
                },
                Pinned {
                    name: "git_sub".into(),
                    source: PinnedSource::Git {
                        url: "https://example.com/org/git_sub.git".into(),
                        fetch_url: "https://example.com/org/git_sub.git".into(),
                        revision: "8bda3069014698cde4e5babb48d5e1109753ceb3".into(),
                        subdirectory: Some("sub".into()),
                    },
                },
                Pinned {
                    name: "dbt_utils".into(),
                    source: PinnedSource::Hub {
                        package: "dbt-labs/dbt_utils".into(),
                        version: "1.1.1".into(),
                    },
                },
            ],
            sha1_hash: "a8c7560a7d8bb7830b75cc2e22c9eae8465f7d72".into(),
        };
        // The first two entries are dbt-core 1.11's own output for the same packages (a local
        // folder and a git repository's subdirectory).
        assert_eq!(
            render(&lock),
            "packages:\n  - local: ../mypkg\n    name: my_pkg\n  - git: https://example.com/org/git_sub.git\n    name: git_sub\n    revision: 8bda3069014698cde4e5babb48d5e1109753ceb3\n    subdirectory: sub\n  - name: dbt_utils\n    package: dbt-labs/dbt_utils\n    version: 1.1.1\nsha1_hash: a8c7560a7d8bb7830b75cc2e22c9eae8465f7d72\n"
        );
    }

    #[test]
    fn quotes_what_would_read_back_as_another_type() {
        assert_eq!(yaml_scalar("1.1.1"), "1.1.1");
        assert_eq!(yaml_scalar("1.0"), "'1.0'");
        assert_eq!(yaml_scalar("1234567"), "'1234567'");
        assert_eq!(yaml_scalar("1e10"), "1e10");
        assert_eq!(yaml_scalar("yes"), "'yes'");
        assert_eq!(yaml_scalar("../"), "../");
        assert_eq!(yaml_scalar("a: b"), "'a: b'");
        assert_eq!(yaml_scalar("it's"), "it's");
        assert_eq!(yaml_scalar("é"), r#""\xE9""#);
        assert_eq!(yaml_scalar("\u{1f600}"), r#""\U0001F600""#);
        for (s, quoted) in [
            ("2024-01-01", true),
            ("-x", false),
            ("- x", true),
            ("a #b", true),
            ("a#b", false),
            ("0x1F", true),
            ("1:20", true),
            (".5", true),
            ("=", true),
            ("012345678", false),
            ("0b101", true),
        ] {
            assert_eq!(yaml_scalar(s).starts_with('\''), quoted, "{s}");
        }
        assert_eq!(yaml_scalar(""), "''");
    }
}
