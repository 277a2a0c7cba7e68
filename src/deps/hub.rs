//! Hub packages: resolved through the dbt package hub's HTTP API (`api/v1/index.json`, the list
//! of `org/name` ids, and `api/v1/<org>/<name>.json`, every published version with its project
//! name, its own dependencies and its tarball URL), installed by unpacking that tarball.

use super::version::{self, Bound};
use crate::error::{Diagnostic, ErrorKind};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The public hub, used when no environment variable names another.
pub const DEFAULT_HUB_URL: &str = "https://hub.getdbt.com/";

/// The hub URL: `KILN_PACKAGE_HUB_URL`, else dbt's `DBT_PACKAGE_HUB_URL`, else the public hub.
pub fn hub_url(env: &dyn Fn(&str) -> Option<String>) -> String {
    let url = ["KILN_PACKAGE_HUB_URL", "DBT_PACKAGE_HUB_URL"]
        .iter()
        .find_map(|k| env(k).filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| DEFAULT_HUB_URL.to_string());
    if url.ends_with('/') {
        url
    } else {
        format!("{url}/")
    }
}

/// Tarballs larger than this are refused (dbt_utils is well under 1 MB).
const MAX_TARBALL_BYTES: u64 = 256 * 1024 * 1024;

/// One published version of a hub package.
#[derive(Debug, Clone)]
pub struct HubVersion {
    /// The exact version.
    pub version: String,
    /// The package's project name (its install folder).
    pub name: String,
    /// Where its tarball is.
    pub tarball: String,
    /// Its own `packages:` entries.
    pub dependencies: Vec<Value>,
    /// The newest installable version, to tell the user an update exists.
    pub latest: Option<String>,
}

/// A client of one hub, caching what it fetched for the length of a `kiln deps`.
pub struct Hub {
    base: String,
    agent: ureq::Agent,
    index: Option<Vec<String>>,
    packages: HashMap<String, Value>,
}

impl Hub {
    /// A client of the hub at `base` (ending in `/`).
    pub fn new(base: String) -> Hub {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
            .build();
        Hub {
            base,
            agent: ureq::Agent::new_with_config(config),
            index: None,
            packages: HashMap::new(),
        }
    }

    fn get(&self, url: &str) -> Result<ureq::http::Response<ureq::Body>, Diagnostic> {
        self.agent.get(url).call().map_err(|e| {
            let (message, hint) = match &e {
                ureq::Error::StatusCode(code) => (
                    format!("the package hub answered {code} for {url}"),
                    "check the package name, or try again later if the hub is having trouble",
                ),
                _ => (
                    format!("cannot reach the package hub at {url}: {e}"),
                    "check your network connection, or point DBT_PACKAGE_HUB_URL (or \
                     KILN_PACKAGE_HUB_URL) at a reachable hub",
                ),
            };
            Diagnostic::new(ErrorKind::Io, message).with_hint(hint)
        })
    }

    fn get_json(&self, url: &str) -> Result<Value, Diagnostic> {
        let mut response = self.get(url)?;
        let text = response.body_mut().read_to_string().map_err(|e| {
            Diagnostic::new(
                ErrorKind::Io,
                format!("cannot read the answer of {url}: {e}"),
            )
            .with_hint("try again; the connection may have dropped")
        })?;
        serde_json::from_str(&text).map_err(|e| {
            Diagnostic::new(
                ErrorKind::Io,
                format!("the package hub sent invalid JSON for {url}: {e}"),
            )
            .with_hint("check that the hub URL points at a dbt package hub")
        })
    }

    /// Fails when `package` is not in the hub's index.
    pub fn check_in_index(&mut self, package: &str) -> Result<(), Diagnostic> {
        if self.index.is_none() {
            let url = format!("{}api/v1/index.json", self.base);
            let ids = match self.get_json(&url)? {
                Value::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => {
                    return Err(Diagnostic::new(
                        ErrorKind::Io,
                        format!("the package hub's index at {url} is not a list"),
                    )
                    .with_hint("check that the hub URL points at a dbt package hub"));
                }
            };
            self.index = Some(ids);
        }
        let index = self.index.as_deref().unwrap_or_default();
        if index.iter().any(|p| p == package) {
            return Ok(());
        }
        let closest = index
            .iter()
            .map(|p| (strsim::jaro_winkler(p, package), p))
            .filter(|(score, _)| *score > 0.85)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let hint = match closest {
            Some((_, p)) => {
                format!("did you mean `{p}`? Hub packages are listed at hub.getdbt.com")
            }
            None => "check the spelling (`org/name`); hub packages are listed at hub.getdbt.com"
                .to_string(),
        };
        Err(Diagnostic::new(
            ErrorKind::Project,
            format!("package `{package}` is not on the package hub"),
        )
        .with_hint(hint))
    }

    /// Every version of `package`, as the hub describes them.
    fn package(&mut self, package: &str) -> Result<&Value, Diagnostic> {
        if !self.packages.contains_key(package) {
            let url = format!("{}api/v1/{package}.json", self.base);
            let json = self.get_json(&url)?;
            if !json.get("versions").is_some_and(Value::is_object) {
                return Err(Diagnostic::new(
                    ErrorKind::Io,
                    format!("the package hub's answer for `{package}` has no `versions`"),
                )
                .with_hint("check that the hub URL points at a dbt package hub"));
            }
            self.packages.insert(package.to_string(), json);
        }
        Ok(&self.packages[package])
    }

    /// The highest version of `package` inside `bounds`.
    pub fn resolve(
        &mut self,
        package: &str,
        bounds: &[Bound],
        prerelease: bool,
    ) -> Result<HubVersion, Diagnostic> {
        self.check_in_index(package)?;
        let json = self.package(package)?;
        let versions = published(json);
        // A bound that names a prerelease asks for prereleases, as in dbt.
        let prerelease = prerelease || bounds.iter().any(|b| !b.version.pre.is_empty());
        let Some(picked) = version::pick(bounds, versions.iter().copied(), prerelease) else {
            let wanted: Vec<String> = bounds.iter().map(Bound::to_string).collect();
            let mut available: Vec<&str> = versions.clone();
            available.sort_by_key(|v| version::parse_version(v));
            return Err(Diagnostic::new(
                ErrorKind::Project,
                format!("no version of `{package}` matches {}", wanted.join(", ")),
            )
            .with_hint(format!(
                "published versions: {}; widen the `version:` range{}",
                if available.is_empty() {
                    "none".to_string()
                } else {
                    available.join(", ")
                },
                if prerelease {
                    ""
                } else {
                    " (or set `install_prerelease: true` for prereleases)"
                }
            )));
        };
        let picked = picked.to_string();
        self.version(package, &picked, prerelease)
    }

    /// The description of one published version of `package`.
    pub fn version(
        &mut self,
        package: &str,
        version: &str,
        prerelease: bool,
    ) -> Result<HubVersion, Diagnostic> {
        let json = self.package(package)?;
        let latest = version::latest(published(json), prerelease).map(str::to_string);
        let Some(v) = json.pointer(&format!(
            "/versions/{}",
            version.replace('~', "~0").replace('/', "~1")
        )) else {
            return Err(Diagnostic::new(
                ErrorKind::Project,
                format!("version {version} of `{package}` is not on the package hub"),
            )
            .with_hint("run `kiln deps --upgrade` to pick a published version"));
        };
        let name = v.get("name").and_then(Value::as_str);
        let tarball = v.pointer("/downloads/tarball").and_then(Value::as_str);
        let (Some(name), Some(tarball)) = (name, tarball) else {
            return Err(Diagnostic::new(
                ErrorKind::Io,
                format!(
                    "the package hub's entry for `{package}` {version} lacks `name` or \
                     `downloads.tarball`"
                ),
            )
            .with_hint("check that the hub URL points at a dbt package hub"));
        };
        Ok(HubVersion {
            version: version.to_string(),
            name: name.to_string(),
            tarball: tarball.to_string(),
            dependencies: v
                .get("packages")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            latest,
        })
    }

    /// Downloads the tarball at `url` and unpacks the package it holds into `dest`, using
    /// `scratch` (a fresh directory on the same file system) for the archive's own layout.
    pub fn download(&self, url: &str, scratch: &Path, dest: &Path) -> Result<(), Diagnostic> {
        let mut response = self.get(url)?;
        let mut bytes = Vec::new();
        response
            .body_mut()
            .with_config()
            .limit(MAX_TARBALL_BYTES)
            .reader()
            .read_to_end(&mut bytes)
            .map_err(|e| {
                Diagnostic::new(ErrorKind::Io, format!("cannot download {url}: {e}"))
                    .with_hint("try again; the connection may have dropped")
            })?;
        unpack(&bytes, scratch, dest).map_err(|e| {
            Diagnostic::new(
                ErrorKind::Io,
                format!("cannot unpack the package downloaded from {url}: {e}"),
            )
            .with_hint("the file should be a .tar.gz holding one dbt project folder")
        })
    }
}

/// The version strings a hub package lists.
fn published(json: &Value) -> Vec<&str> {
    json.get("versions")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Unpacks a `.tar.gz` into `scratch` and moves the package folder it holds to `dest`: the
/// single top-level folder, or the archive root when the project file sits there.
pub fn unpack(bytes: &[u8], scratch: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(scratch)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive.set_preserve_permissions(false);
    // `unpack` refuses entries that would land outside `scratch` (absolute paths, `..`).
    archive.unpack(scratch)?;
    let entries: Vec<PathBuf> = std::fs::read_dir(scratch)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !is_archive_noise(p))
        .collect();
    let package_dir = match entries.as_slice() {
        [only] if only.is_dir() => only.clone(),
        _ if scratch.join("dbt_project.yml").is_file() || scratch.join("project.yml").is_file() => {
            scratch.to_path_buf()
        }
        _ => {
            return Err(std::io::Error::other(
                "the archive does not hold a single package folder",
            ));
        }
    };
    std::fs::rename(&package_dir, dest)
}

/// macOS resource forks and similar entries some archivers add at the top level.
fn is_archive_noise(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("._") || n == "pax_global_header")
}
