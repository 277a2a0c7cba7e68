//! Connection settings: the target chosen from `profiles.yml`, or the embedded SQLite default.
//!
//! Pure apart from reading the one `profiles.yml` it finds: the environment and the home
//! directory come in through [`ProfileOptions`], so lookups are testable without touching the
//! process environment.

use super::config::value_to_string;
use super::project_file::{
    YamlContext, close_names, key_location, masked_value, parse_yaml, quoted_list,
    render_yaml_strings,
};
use crate::error::{Collector, Diagnostic, Error, ErrorKind, Location, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The name of the profiles file in every directory that is searched.
pub const PROFILES_FILE: &str = "profiles.yml";
/// What [`Target::origin`] says when no `profiles.yml` was found.
pub const EMBEDDED_ORIGIN: &str = "embedded default";
/// The output name of the embedded default target.
const EMBEDDED_TARGET: &str = "dev";
/// Threads used when an output does not set `threads`.
const DEFAULT_THREADS: usize = 4;
/// Shown as the value of every secret in [`Target::redacted_settings`].
const MASK: &str = "****";

/// The database a target talks to: the profile output's `type:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterType {
    /// SQLite: one database file per schema.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB (`type: mariadb` is accepted).
    Mysql,
}

impl AdapterType {
    /// The `type:` name: `sqlite`, `postgres` or `mysql`.
    pub fn as_str(self) -> &'static str {
        match self {
            AdapterType::Sqlite => "sqlite",
            AdapterType::Postgres => "postgres",
            AdapterType::Mysql => "mysql",
        }
    }

    /// Parses a profile `type:` (`postgresql` and `mariadb` are accepted as aliases).
    pub fn parse(s: &str) -> Option<AdapterType> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "sqlite" => AdapterType::Sqlite,
            "postgres" | "postgresql" => AdapterType::Postgres,
            "mysql" | "mariadb" => AdapterType::Mysql,
            _ => return None,
        })
    }
}

impl fmt::Display for AdapterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The connection Kiln builds into: one output of one profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The profile's name in `profiles.yml`.
    pub profile_name: String,
    /// The output's name (`target.name` in templates).
    pub name: String,
    /// Which database this is.
    pub adapter: AdapterType,
    /// The schema models are built in.
    pub schema: String,
    /// The database (for MySQL, the same as the schema).
    pub database: String,
    /// How many nodes run at once.
    pub threads: usize,
    /// Every other setting as given (host, port, user, password, dbname, url, path, sslmode, ...).
    pub settings: BTreeMap<String, Value>,
    /// For SQLite: directory holding one file per schema (the embedded default uses `<project>/.kiln`).
    pub sqlite_dir: Option<PathBuf>,
    /// Where the target came from, for `kiln debug` (file path or "embedded default").
    pub origin: String,
    /// Problems that do not stop a run, such as a key no adapter reads.
    pub warnings: Vec<Diagnostic>,
}

impl Target {
    /// The embedded default: SQLite, schema "main", database "main", threads 4, files in `<project>/.kiln/`.
    pub fn embedded_default(project_dir: &Path, profile_name: &str) -> Target {
        Target {
            profile_name: profile_name.to_string(),
            name: EMBEDDED_TARGET.to_string(),
            adapter: AdapterType::Sqlite,
            schema: "main".to_string(),
            database: "main".to_string(),
            threads: DEFAULT_THREADS,
            settings: BTreeMap::new(),
            sqlite_dir: Some(project_dir.join(".kiln")),
            origin: EMBEDDED_ORIGIN.to_string(),
            warnings: Vec::new(),
        }
    }

    /// Settings safe to print: passwords and password-bearing URLs masked as "****".
    pub fn redacted_settings(&self) -> BTreeMap<String, Value> {
        self.settings
            .iter()
            .map(|(k, v)| (k.clone(), redact(k, v)))
            .collect()
    }

    /// The secret values of the target's settings (passwords, tokens, the password in a
    /// URL), so logs can blank them wherever they would appear.
    pub fn secrets(&self) -> Vec<String> {
        fn collect(key: &str, value: &Value, out: &mut Vec<String>) {
            match value {
                Value::String(s) if is_secret_key(key) && !s.is_empty() => out.push(s.clone()),
                Value::String(s) if s.contains("://") => {
                    if let Some(range) = split_url(s).and_then(|u| u.password)
                        && !range.is_empty()
                    {
                        out.push(s[range].to_string());
                    }
                }
                Value::Number(n) if is_secret_key(key) => out.push(n.to_string()),
                Value::Object(map) => map.iter().for_each(|(k, v)| collect(k, v, out)),
                Value::Array(items) => items.iter().for_each(|v| collect("", v, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for (k, v) in &self.settings {
            collect(k, v, &mut out);
        }
        out
    }
}

/// Where to look for `profiles.yml` and what to render it with.
pub struct ProfileOptions<'a> {
    /// The project directory (searched for `profiles.yml`; SQLite paths are relative to it).
    pub project_dir: &'a Path,
    /// `--profiles-dir`, when given.
    pub profiles_dir: Option<&'a Path>,
    /// The profile to use (the project file's `profile:`).
    pub profile: &'a str,
    /// `--target`, when given; otherwise the profile's `target:`.
    pub target: Option<&'a str>,
    /// Command-line vars, for `var()` in `profiles.yml`.
    pub vars: &'a BTreeMap<String, Value>,
    /// Environment lookup, for `env_var()` and the `*_PROFILES_DIR` variables.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The user's home directory, for `~/.kiln` and `~/.dbt`.
    pub home: Option<&'a Path>,
}

/// Finds `profiles.yml` and returns the chosen target: the `--profiles-dir` flag, then env
/// `KILN_PROFILES_DIR`, then `DBT_PROFILES_DIR`, then the project dir, then `~/.kiln`, then
/// `~/.dbt`; with none of them, the embedded SQLite default.
pub fn load_target(opts: &ProfileOptions) -> Result<Target> {
    let Some(path) = find_profiles_file(opts)? else {
        return embedded_target(opts);
    };
    let file = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::from(
            Diagnostic::new(ErrorKind::Io, format!("cannot read {file}: {e}"))
                .at(Location::file(&path))
                .with_hint("check that the file is readable"),
        )
    })?;
    parse_profiles(&file, &text, opts)
}

/// The first `profiles.yml` in precedence order; a directory named explicitly (flag or
/// environment) must hold one, because silently falling through would connect elsewhere.
fn find_profiles_file(opts: &ProfileOptions) -> Result<Option<PathBuf>> {
    let mut explicit: Vec<(PathBuf, String)> = Vec::new();
    if let Some(dir) = opts.profiles_dir {
        explicit.push((dir.to_path_buf(), "--profiles-dir".to_string()));
    }
    for var in ["KILN_PROFILES_DIR", "DBT_PROFILES_DIR"] {
        if let Some(dir) = (opts.env)(var).filter(|d| !d.trim().is_empty()) {
            explicit.push((
                PathBuf::from(dir),
                format!("the {var} environment variable"),
            ));
        }
    }
    if let Some((dir, source)) = explicit.into_iter().next() {
        let path = dir.join(PROFILES_FILE);
        if path.is_file() {
            return Ok(Some(path));
        }
        return Err(Diagnostic::new(
            ErrorKind::Profile,
            format!(
                "no {PROFILES_FILE} in {} (given by {source})",
                dir.display()
            ),
        )
        .at(Location::file(&dir))
        .with_hint(format!(
            "create {PROFILES_FILE} there, or point {source} at the folder that holds it"
        ))
        .into());
    }
    let mut candidates = vec![opts.project_dir.join(PROFILES_FILE)];
    if let Some(home) = opts.home {
        candidates.push(home.join(".kiln").join(PROFILES_FILE));
        candidates.push(home.join(".dbt").join(PROFILES_FILE));
    }
    Ok(candidates.into_iter().find(|p| p.is_file()))
}

/// The embedded default, refusing a `--target` it cannot honour.
fn embedded_target(opts: &ProfileOptions) -> Result<Target> {
    match opts.target {
        Some(t) if t != EMBEDDED_TARGET => Err(Diagnostic::new(
            ErrorKind::Profile,
            format!("--target {t} was given but no {PROFILES_FILE} was found"),
        )
        .with_hint(format!(
            "create {PROFILES_FILE} in the project directory with an output named `{t}`, or drop --target to use the embedded SQLite default"
        ))
        .into()),
        _ => Ok(Target::embedded_default(opts.project_dir, opts.profile)),
    }
}

/// Reads the target for `opts` out of the text of a `profiles.yml` named `file`.
pub fn parse_profiles(file: &str, text: &str, opts: &ProfileOptions) -> Result<Target> {
    let root = match parse_yaml(file, text)? {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        _ => {
            return Err(profile_error(
                format!("{file} is not a mapping of profile names"),
                Location::at(file, text, 1, 1),
                "write `<profile>: {target: dev, outputs: {dev: {type: sqlite}}}`".to_string(),
            ));
        }
    };
    let profile = opts.profile;
    let available: Vec<&str> = root
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "config")
        .collect();
    let Some(entry) = root.get(profile) else {
        let hint = if available.is_empty() {
            format!("add a `{profile}:` profile with `target:` and `outputs:`")
        } else {
            let close = close_names(profile, &available);
            let guess = if close.is_empty() {
                String::new()
            } else {
                format!("did you mean {}? ", quoted_list(&close, "or"))
            };
            format!(
                "{guess}available profiles: {}; set `profile:` in the project file to one of them",
                quoted_list(&available, "and")
            )
        };
        return Err(profile_error(
            format!("profile `{profile}` not found in {file}"),
            Location::file(file),
            hint,
        ));
    };
    let at = |path: &[&str]| {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        key_location(file, text, &path)
    };
    let ctx = YamlContext {
        file,
        text,
        vars: opts.vars,
        env: opts.env,
    };
    let outputs = match entry.get("outputs") {
        Some(Value::Object(outputs)) if !outputs.is_empty() => outputs,
        _ => {
            return Err(profile_error(
                format!("profile `{profile}` has no `outputs:`"),
                at(&[profile]),
                "add `outputs:` with at least one output, e.g. `dev: {type: sqlite}`".to_string(),
            ));
        }
    };
    let output_names: Vec<&str> = outputs.keys().map(String::as_str).collect();

    let (target_name, from_flag) = match opts.target {
        Some(t) => (t.to_string(), true),
        None => match entry.get("target") {
            Some(v) => {
                let mut v = v.clone();
                render_yaml_strings(&ctx, &mut v, &[profile.into(), "target".into()], &|_| false)?;
                (value_to_string(&v), false)
            }
            // dbt's fallback when a profile names no target.
            None => ("default".to_string(), false),
        },
    };
    let Some(output) = outputs.get(&target_name) else {
        let (location, action) = if from_flag {
            (at(&[profile, "outputs"]), "pass --target with one of them")
        } else if entry.get("target").is_some() {
            (at(&[profile, "target"]), "set `target:` to one of them")
        } else {
            (
                at(&[profile]),
                "add `target:` naming one of them, or pass --target",
            )
        };
        return Err(profile_error(
            format!("target `{target_name}` not found in profile `{profile}`"),
            location,
            format!(
                "available outputs: {}; {action}",
                quoted_list(&output_names, "and")
            ),
        ));
    };
    let output_path = [profile, "outputs", target_name.as_str()];
    let Value::Object(output) = output else {
        return Err(profile_error(
            format!("output `{target_name}` of profile `{profile}` is not a mapping"),
            at(&output_path),
            "give the output keys such as `type:` and `schema:`".to_string(),
        ));
    };
    // Only the chosen output is rendered: other outputs may need env vars that are not set here.
    let mut rendered = Value::Object(output.clone());
    let key_path: Vec<String> = output_path.iter().map(|s| s.to_string()).collect();
    render_yaml_strings(&ctx, &mut rendered, &key_path, &|_| false)?;
    let output = match rendered {
        Value::Object(map) => map,
        _ => output.clone(),
    };
    let reader = Output {
        file,
        text,
        path: &output_path,
        map: &output,
    };
    build_target(&reader, opts, &target_name, file)
}

/// One output's mapping plus what is needed to point at its keys in errors.
struct Output<'a> {
    file: &'a str,
    text: &'a str,
    path: &'a [&'a str],
    map: &'a Map<String, Value>,
}

impl Output<'_> {
    fn location(&self, key: Option<&str>) -> Location {
        let mut path: Vec<String> = self.path.iter().map(|s| s.to_string()).collect();
        path.extend(key.map(str::to_string));
        let location = key_location(self.file, self.text, &path);
        match key {
            Some(k) if is_secret_key(k) => masked_value(location),
            _ => location,
        }
    }

    fn error(&self, key: Option<&str>, message: String, hint: String) -> Diagnostic {
        Diagnostic::new(ErrorKind::Profile, message)
            .at(self.location(key))
            .with_hint(hint)
    }

    /// A text setting; numbers are accepted as their text.
    fn string(&self, key: &str) -> std::result::Result<Option<String>, Diagnostic> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(value_to_string(v))),
            Some(_) => Err(self.error(
                Some(key),
                format!("`{key}` must be text"),
                format!("write `{key}` as a single value"),
            )),
        }
    }

    /// A positive whole number, given as a number or as text (as `env_var()` produces).
    fn number(
        &self,
        key: &str,
        max: u64,
        example: u64,
    ) -> std::result::Result<Option<u64>, Diagnostic> {
        let parsed = match self.map.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            Some(_) => None,
        };
        match parsed {
            Some(n) if n >= 1 && n <= max => Ok(Some(n)),
            _ => Err(self.error(
                Some(key),
                format!(
                    "`{key}` must be a whole number from 1 to {max}, got {}",
                    self.map.get(key).map(value_to_string).unwrap_or_default()
                ),
                format!("set `{key}` to a number such as `{example}`"),
            )),
        }
    }
}

/// The value of a setting, recording its problem (if any) in `errors`.
fn keep<T>(errors: &mut Collector, r: std::result::Result<Option<T>, Diagnostic>) -> Option<T> {
    r.unwrap_or_else(|d| {
        errors.push(d);
        None
    })
}

fn profile_error(message: String, at: Location, hint: String) -> Error {
    Diagnostic::new(ErrorKind::Profile, message)
        .at(at)
        .with_hint(hint)
        .into()
}

/// Turns a rendered output into a [`Target`], reporting every problem at once.
fn build_target(
    out: &Output<'_>,
    opts: &ProfileOptions,
    target_name: &str,
    origin: &str,
) -> Result<Target> {
    let mut errors = Collector::new();
    let adapter_text = keep(&mut errors, out.string("type"));
    let adapter = match adapter_text.as_deref() {
        None => {
            errors.push(out.error(
                None,
                format!("output `{target_name}` has no `type`"),
                "add `type: sqlite`, `type: postgres` or `type: mysql`".to_string(),
            ));
            None
        }
        Some(t) => match AdapterType::parse(t) {
            Some(a) => Some(a),
            None => {
                errors.push(out.error(
                    Some("type"),
                    format!("adapter type `{t}` is not supported"),
                    "Kiln supports sqlite, postgres, mysql (mariadb counts as mysql)".to_string(),
                ));
                None
            }
        },
    };
    let threads = keep(
        &mut errors,
        out.number("threads", 1024, DEFAULT_THREADS as u64),
    )
    .map(|n| n as usize)
    .unwrap_or(DEFAULT_THREADS);
    let mut settings: BTreeMap<String, Value> = out
        .map
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "type" | "threads" | "schema" | "database"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut text = |key: &str| keep(&mut errors, out.string(key));
    let schema = text("schema");
    let database = text("database");
    let url = text("url");
    // dbt-mysql names the host `server:`.
    let host = text("host").or_else(|| text("server"));
    let user = text("user");

    let Some(adapter) = adapter else {
        return Err(errors
            .finish(())
            .err()
            .unwrap_or_else(|| Error::new(ErrorKind::Profile, "invalid output")));
    };
    let mut target = Target {
        profile_name: opts.profile.to_string(),
        name: target_name.to_string(),
        adapter,
        schema: String::new(),
        database: String::new(),
        threads,
        settings: BTreeMap::new(),
        sqlite_dir: None,
        origin: origin.to_string(),
        warnings: unknown_keys(out, target_name, adapter),
    };
    // A password inside the URL moves to `password`, decoded, so that it may hold `/`, `?`,
    // `#` or `@` and never reaches the driver's URL parser, the manifest or a message.
    let url = url.map(|u| {
        let (bare, password) = take_url_password(&u);
        if let Some(p) = password
            && !settings.contains_key("password")
            && !settings.contains_key("pass")
        {
            settings.insert("password".into(), Value::String(p));
        }
        settings.insert("url".into(), Value::String(bare.clone()));
        bare
    });
    let url_database = url.as_deref().and_then(url_database);
    // The port in a URL counts like a `port:` key; a default never overrides it.
    let url_port = url.as_deref().and_then(split_url).and_then(|u| u.port);
    let need_server = |errors: &mut Collector| {
        for (key, value) in [("host", &host), ("user", &user)] {
            if value.is_none() && url.is_none() {
                errors.push(out.error(
                    None,
                    format!("{adapter} output `{target_name}` has no `{key}`"),
                    format!("add `{key}:`, or give the whole connection as `url:`"),
                ));
            }
        }
    };
    match adapter {
        AdapterType::Sqlite => {
            target.schema = schema.unwrap_or_else(|| "main".into());
            target.database = database.unwrap_or_else(|| "main".into());
            let dir = match keep(&mut errors, out.string("path")) {
                Some(p) => Some(p),
                None => keep(&mut errors, out.string("schema_directory")),
            };
            settings.remove("path");
            settings.remove("schema_directory");
            target.sqlite_dir = Some(match dir {
                Some(d) => resolve_dir(&d, opts.project_dir, opts.home),
                None => opts.project_dir.join(".kiln"),
            });
        }
        AdapterType::Postgres => {
            need_server(&mut errors);
            let dbname = keep(&mut errors, out.string("dbname"));
            settings.remove("dbname");
            match dbname.or(database).or(url_database) {
                Some(db) => target.database = db,
                None => errors.push(out.error(
                    None,
                    format!("postgres output `{target_name}` has no `dbname`"),
                    "add `dbname:` with the database to connect to".to_string(),
                )),
            }
            match schema {
                Some(s) => target.schema = s,
                None => errors.push(out.error(
                    None,
                    format!("postgres output `{target_name}` has no `schema`"),
                    "add `schema:` with the schema models are built in, e.g. `schema: analytics`"
                        .to_string(),
                )),
            }
            let port = keep(&mut errors, out.number("port", 65535, 5432));
            settings.insert(
                "port".into(),
                Value::from(port.or(url_port).unwrap_or(5432)),
            );
        }
        AdapterType::Mysql => {
            need_server(&mut errors);
            match (schema, database) {
                (Some(s), Some(d)) if s != d => errors.push(out.error(
                    Some("database"),
                    format!("`schema: {s}` and `database: {d}` differ"),
                    "MySQL has no separate databases: drop `database:` or give it the schema's value"
                        .to_string(),
                )),
                (Some(s), _) | (None, Some(s)) => target.schema = s,
                (None, None) => match url_database {
                    Some(s) => target.schema = s,
                    None => errors.push(out.error(
                        None,
                        format!("mysql output `{target_name}` has no `schema`"),
                        "add `schema:` with the database models are built in".to_string(),
                    )),
                },
            }
            target.database = target.schema.clone();
            let port = keep(&mut errors, out.number("port", 65535, 3306));
            settings.insert(
                "port".into(),
                Value::from(port.or(url_port).unwrap_or(3306)),
            );
        }
    }
    target.settings = settings;
    errors.finish(target)
}

/// A SQLite directory from the profile: `~/` is the home directory, relative paths start at
/// the project directory.
fn resolve_dir(dir: &str, project_dir: &Path, home: Option<&Path>) -> PathBuf {
    if let (Some(rest), Some(home)) = (dir.strip_prefix("~/"), home) {
        return home.join(rest);
    }
    let path = Path::new(dir);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        project_dir.join(path)
    }
}

/// The parts of a `scheme://user:password@host:port/database?params` URL that Kiln reads.
struct UrlParts<'a> {
    /// Byte range of the password inside the URL, if there is one.
    password: Option<std::ops::Range<usize>>,
    /// The path after the authority, without the leading `/` and the query.
    path: &'a str,
    /// The port after the host, if the URL names one.
    port: Option<u64>,
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    // A password may hold `/`, `?`, `#` or `@` unescaped: the user info runs to the last `@`
    // whose user name (the text before the first `:`) has none of `/?#`.
    let userinfo_end = rest.rfind('@').filter(|&at| {
        let user = rest[..at].split(':').next().unwrap_or("");
        !user.contains(['/', '?', '#'])
    });
    let host_start = userinfo_end.map_or(0, |at| at + 1);
    let host_len = rest[host_start..]
        .find(['/', '?', '#'])
        .unwrap_or(rest.len() - host_start);
    let host = &rest[host_start..host_start + host_len];
    let password = userinfo_end.and_then(|at| {
        rest[..at]
            .find(':')
            .map(|colon| start + colon + 1..start + at)
    });
    let after = &rest[host_start + host_len..];
    let path = after
        .strip_prefix('/')
        .map(|p| p.split(['?', '#']).next().unwrap_or(""))
        .unwrap_or("");
    let port = host
        .rsplit_once(':')
        .filter(|(h, _)| !h.ends_with(':') && (!h.contains(':') || h.ends_with(']')))
        .and_then(|(_, p)| p.parse().ok());
    Some(UrlParts {
        password,
        path,
        port,
    })
}

/// The URL without the password of its user info, and that password percent-decoded.
fn take_url_password(url: &str) -> (String, Option<String>) {
    match split_url(url).and_then(|u| u.password) {
        Some(range) => {
            let password = percent_encoding::percent_decode_str(&url[range.clone()])
                .decode_utf8_lossy()
                .into_owned();
            // Drop the `:` before the password too: `user:secret@host` becomes `user@host`.
            let bare = format!("{}{}", &url[..range.start - 1], &url[range.end..]);
            (bare, Some(password))
        }
        None => (url.to_string(), None),
    }
}

/// The database named in a connection URL's path, if any.
fn url_database(url: &str) -> Option<String> {
    split_url(url)
        .map(|u| u.path.to_string())
        .filter(|p| !p.is_empty())
}

/// A URL with its password (in the user info or a `password=` parameter) replaced by the mask.
fn mask_url(url: &str) -> String {
    let mut masked = url.to_string();
    if let Some(range) = split_url(url).and_then(|u| u.password)
        && !range.is_empty()
    {
        masked.replace_range(range, MASK);
    }
    if let Some(q) = masked.find('?') {
        let (head, query) = masked.split_at(q + 1);
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if is_secret_key(k) => format!("{k}={MASK}"),
                _ => p.to_string(),
            })
            .collect();
        masked = format!("{head}{}", params.join("&"));
    }
    masked
}

/// Whether a setting holds a secret: any key naming a password, pass phrase, secret, token,
/// key or credential, misspelt ones included (`passwrd`), so that none is ever printed.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["pass", "pwd", "secret", "token", "key", "credential"]
        .iter()
        .any(|s| k.contains(s))
}

/// Every key an output may hold, per adapter: Kiln's own and those dbt's adapters accept, so a
/// dbt profile loads without warnings.
fn known_keys(adapter: AdapterType) -> Vec<&'static str> {
    const COMMON: &[&str] = &[
        "type",
        "threads",
        "schema",
        "database",
        "url",
        "host",
        "port",
        "user",
        "password",
        "pass",
        "connect_timeout",
        "retries",
    ];
    let own: &[&str] = match adapter {
        AdapterType::Sqlite => &[
            "path",
            "schema_directory",
            "schemas_and_paths",
            "extensions",
        ],
        AdapterType::Postgres => &[
            "dbname",
            "keepalives_idle",
            "search_path",
            "role",
            "sslmode",
            "sslcert",
            "sslkey",
            "sslrootcert",
            "sslcontext",
            "application_name",
        ],
        AdapterType::Mysql => &[
            "username",
            "server",
            "charset",
            "collation",
            "ssl_disabled",
            "driver",
        ],
    };
    own.iter().chain(COMMON).copied().collect()
}

/// A warning for each key of the output that no adapter reads, with the closest known key.
fn unknown_keys(out: &Output<'_>, target_name: &str, adapter: AdapterType) -> Vec<Diagnostic> {
    let known = known_keys(adapter);
    out.map
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| {
            let close = close_names(k, &known);
            let guess = match close.first() {
                Some(c) => format!("did you mean `{c}`? "),
                None => String::new(),
            };
            Diagnostic::new(
                ErrorKind::Profile,
                format!("output `{target_name}` has a key `{k}` that the {adapter} adapter does not read"),
            )
            .at(out.location(Some(k)))
            .with_hint(format!("{guess}remove or rename it"))
        })
        .collect()
}

fn redact(key: &str, value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        _ if is_secret_key(key) => Value::String(MASK.to_string()),
        Value::String(s) if s.contains("://") => Value::String(mask_url(s)),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), redact(k, v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| redact("", v)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn options<'a>(
        project_dir: &'a Path,
        env: &'a dyn Fn(&str) -> Option<String>,
        vars: &'a BTreeMap<String, Value>,
    ) -> ProfileOptions<'a> {
        ProfileOptions {
            project_dir,
            profiles_dir: None,
            profile: "jaffle",
            target: None,
            vars,
            env,
            home: None,
        }
    }

    fn parse_with(text: &str, target: Option<&str>) -> Result<Target> {
        let vars = BTreeMap::new();
        let mut opts = options(Path::new("/proj"), &no_env, &vars);
        opts.target = target;
        parse_profiles(PROFILES_FILE, text, &opts)
    }

    fn write_profile(dir: &Path, schema: &str) {
        fs::create_dir_all(dir).unwrap();
        let text = format!(
            "jaffle:\n  target: dev\n  outputs:\n    dev:\n      type: sqlite\n      schema: {schema}\n"
        );
        fs::write(dir.join(PROFILES_FILE), text).unwrap();
    }

    #[test]
    fn lookup_follows_precedence() {
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("project");
        let home = tmp.path().join("home");
        let flag_dir = tmp.path().join("flag");
        let kiln_env = tmp.path().join("kiln_env");
        let dbt_env = tmp.path().join("dbt_env");
        fs::create_dir_all(&project).unwrap();
        let vars = BTreeMap::new();
        let dirs = (kiln_env.clone(), dbt_env.clone());
        let env = move |name: &str| match name {
            "KILN_PROFILES_DIR" if dirs.0.exists() => Some(dirs.0.display().to_string()),
            "DBT_PROFILES_DIR" if dirs.1.exists() => Some(dirs.1.display().to_string()),
            _ => None,
        };
        let schema = |flag: bool| {
            let mut opts = options(&project, &env, &vars);
            opts.home = Some(&home);
            if flag {
                opts.profiles_dir = Some(&flag_dir);
            }
            let t = load_target(&opts).unwrap();
            (t.schema, t.origin)
        };

        assert_eq!(
            schema(false),
            ("main".to_string(), EMBEDDED_ORIGIN.to_string())
        );
        write_profile(&home.join(".dbt"), "home_dbt");
        assert_eq!(schema(false).0, "home_dbt");
        write_profile(&home.join(".kiln"), "home_kiln");
        assert_eq!(schema(false).0, "home_kiln");
        write_profile(&project, "project");
        assert_eq!(
            schema(false),
            (
                "project".to_string(),
                project.join(PROFILES_FILE).display().to_string()
            )
        );
        write_profile(&dbt_env, "dbt_env");
        assert_eq!(schema(false).0, "dbt_env");
        write_profile(&kiln_env, "kiln_env");
        assert_eq!(schema(false).0, "kiln_env");
        write_profile(&flag_dir, "flag");
        assert_eq!(schema(true).0, "flag");
    }

    #[test]
    fn explicit_profiles_dir_must_hold_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let vars = BTreeMap::new();
        let mut opts = options(tmp.path(), &no_env, &vars);
        let missing = tmp.path().join("nowhere");
        opts.profiles_dir = Some(&missing);
        let e = load_target(&opts).unwrap_err();
        assert_eq!(
            e.diagnostics()[0].message,
            format!(
                "no profiles.yml in {} (given by --profiles-dir)",
                missing.display()
            )
        );
    }

    #[test]
    fn embedded_default_is_sqlite_in_dot_kiln() {
        let t = Target::embedded_default(Path::new("/proj"), "jaffle");
        assert_eq!(t.adapter, AdapterType::Sqlite);
        assert_eq!((t.schema.as_str(), t.database.as_str()), ("main", "main"));
        assert_eq!(t.threads, 4);
        assert_eq!(t.sqlite_dir, Some(PathBuf::from("/proj/.kiln")));
        assert_eq!(t.origin, "embedded default");

        let tmp = tempfile::tempdir().unwrap();
        let vars = BTreeMap::new();
        let mut opts = options(tmp.path(), &no_env, &vars);
        opts.target = Some("prod");
        let e = load_target(&opts).unwrap_err();
        assert_eq!(
            e.diagnostics()[0].message,
            "--target prod was given but no profiles.yml was found"
        );
    }

    #[test]
    fn sqlite_defaults_and_relative_dir() {
        let t = parse_with(
            "jaffle:\n  target: dev\n  outputs:\n    dev:\n      type: sqlite\n      schema_directory: data/db\n",
            None,
        )
        .unwrap();
        assert_eq!(t.adapter, AdapterType::Sqlite);
        assert_eq!((t.schema.as_str(), t.database.as_str()), ("main", "main"));
        assert_eq!(t.threads, 4);
        assert_eq!(t.sqlite_dir, Some(PathBuf::from("/proj/data/db")));
        assert!(t.settings.is_empty());
        assert_eq!(t.origin, "profiles.yml");
    }

    #[test]
    fn postgres_defaults_and_string_port() {
        let text = "\
jaffle:
  target: dev
  outputs:
    dev:
      type: postgres
      host: localhost
      user: kiln
      password: \"{{ env_var('PG_PASSWORD') }}\"
      port: \"{{ env_var('PG_PORT') }}\"
      dbname: analytics
      schema: dbt_dev
      threads: '8'
      sslmode: disable
";
        let env = |name: &str| match name {
            "PG_PASSWORD" => Some("hunter2".to_string()),
            "PG_PORT" => Some("6543".to_string()),
            _ => None,
        };
        let vars = BTreeMap::new();
        let opts = options(Path::new("/proj"), &env, &vars);
        let t = parse_profiles(PROFILES_FILE, text, &opts).unwrap();
        assert_eq!(t.adapter, AdapterType::Postgres);
        assert_eq!(
            (t.schema.as_str(), t.database.as_str()),
            ("dbt_dev", "analytics")
        );
        assert_eq!(t.threads, 8);
        assert_eq!(t.settings["port"], json!(6543));
        assert_eq!(t.settings["password"], json!("hunter2"));
        assert_eq!(t.settings["sslmode"], json!("disable"));
        assert_eq!(t.sqlite_dir, None);

        let t = parse_with(
            "jaffle:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      url: postgres://u:p@db:5432/warehouse?sslmode=require\n      schema: s\n",
            None,
        )
        .unwrap();
        assert_eq!(t.database, "warehouse");
        assert_eq!(t.settings["port"], json!(5432));
        assert_eq!(t.threads, 4);
        let t = parse_with(
            "jaffle:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      url: postgres://u:p@127.0.0.1:5999/db\n      schema: s\n",
            None,
        )
        .unwrap();
        assert_eq!(
            t.settings["port"],
            json!(5999),
            "the URL's port wins over the default"
        );
        let t = parse_with(
            "jaffle:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      url: postgres://u:p@[::1]:6000/db\n      schema: s\n",
            None,
        )
        .unwrap();
        assert_eq!(t.settings["port"], json!(6000));
    }

    #[test]
    fn postgres_requires_schema() {
        let e = parse_with(
            "jaffle:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      host: h\n      user: u\n      dbname: d\n",
            None,
        )
        .unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "error[profile]: postgres output `dev` has no `schema`\n  --> profiles.yml:4:5\n   |\n 4 |     dev:\n   |     ^\n  = help: add `schema:` with the schema models are built in, e.g. `schema: analytics`\n"
        );
    }

    #[test]
    fn mysql_schema_is_the_database() {
        let t = parse_with(
            "jaffle:\n  target: dev\n  outputs:\n    dev:\n      type: mariadb\n      host: h\n      user: u\n      database: shop\n",
            None,
        )
        .unwrap();
        assert_eq!(t.adapter, AdapterType::Mysql);
        assert_eq!((t.schema.as_str(), t.database.as_str()), ("shop", "shop"));
        assert_eq!(t.settings["port"], json!(3306));

        let e = parse_with(
            "jaffle:\n  target: dev\n  outputs:\n    dev:\n      type: mysql\n      host: h\n      user: u\n      schema: a\n      database: b\n      port: abc\n",
            None,
        )
        .unwrap_err();
        let found: Vec<(String, usize)> = e
            .diagnostics()
            .iter()
            .map(|d| (d.message.clone(), d.location.as_ref().map_or(0, |l| l.line)))
            .collect();
        assert_eq!(
            found,
            vec![
                ("`schema: a` and `database: b` differ".to_string(), 9),
                (
                    "`port` must be a whole number from 1 to 65535, got abc".to_string(),
                    10
                ),
            ]
        );
    }

    #[test]
    fn unsupported_type_is_named() {
        let e = parse_with(
            "jaffle:\n  target: dev\n  outputs:\n    dev:\n      type: snowflake\n",
            None,
        )
        .unwrap_err();
        let d = &e.diagnostics()[0];
        assert_eq!(d.message, "adapter type `snowflake` is not supported");
        assert_eq!(
            d.hint.as_deref(),
            Some("Kiln supports sqlite, postgres, mysql (mariadb counts as mysql)")
        );
        assert_eq!(d.location.as_ref().map(|l| (l.line, l.col)), Some((5, 7)));
    }

    #[test]
    fn unknown_target_lists_outputs() {
        let text = "jaffle:\n  target: dev\n  outputs:\n    dev:\n      type: sqlite\n    ci:\n      type: sqlite\n";
        let e = parse_with(text, Some("prod")).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "error[profile]: target `prod` not found in profile `jaffle`\n  --> profiles.yml:3:3\n   |\n 3 |   outputs:\n   |   ^\n  = help: available outputs: `ci` and `dev`; pass --target with one of them\n"
        );
        let t = parse_with(text, Some("ci")).unwrap();
        assert_eq!(t.name, "ci");
    }

    #[test]
    fn target_key_is_rendered_and_other_outputs_are_not() {
        let text = "\
jaffle:
  target: \"{{ env_var('KILN_TARGET', 'local') }}\"
  outputs:
    local:
      type: sqlite
    prod:
      type: postgres
      password: \"{{ env_var('PROD_PASSWORD') }}\"
";
        let t = parse_with(text, None).unwrap();
        assert_eq!(t.name, "local");
        let e = parse_with(text, Some("prod")).unwrap_err();
        let d = &e.diagnostics()[0];
        assert_eq!(d.message, "env var PROD_PASSWORD is not set");
        // The secret's line is quoted masked, the column at the mask.
        let at = d.location.as_ref().unwrap();
        assert_eq!((at.line, at.col), (8, 17));
        assert_eq!(at.source_line.as_deref(), Some("      password: ****"));
    }

    #[test]
    fn unknown_profile_lists_available_ones() {
        let e = parse_with(
            "config:\n  send_anonymous_usage_stats: false\njafle:\n  outputs: {dev: {type: sqlite}}\nother:\n  outputs: {dev: {type: sqlite}}\n",
            None,
        )
        .unwrap_err();
        let d = &e.diagnostics()[0];
        assert_eq!(d.message, "profile `jaffle` not found in profiles.yml");
        assert_eq!(
            d.hint.as_deref(),
            Some(
                "did you mean `jafle`? available profiles: `jafle` and `other`; set `profile:` in the project file to one of them"
            )
        );
    }

    #[test]
    fn redaction_masks_passwords_and_url_passwords() {
        let mut t = Target::embedded_default(Path::new("/p"), "jaffle");
        t.settings = BTreeMap::from([
            ("password".to_string(), json!("hunter2")),
            ("user".to_string(), json!("kiln")),
            (
                "url".to_string(),
                json!("postgres://kiln:hunter2@db:5432/wh?sslmode=require&password=x"),
            ),
            ("plain_url".to_string(), json!("mysql://kiln@db/shop")),
        ]);
        let r = t.redacted_settings();
        assert_eq!(r["password"], json!("****"));
        assert_eq!(r["user"], json!("kiln"));
        assert_eq!(
            r["url"],
            json!("postgres://kiln:****@db:5432/wh?sslmode=require&password=****")
        );
        assert_eq!(r["plain_url"], json!("mysql://kiln@db/shop"));
        // The real settings keep the secret for the adapter.
        assert_eq!(t.settings["password"], json!("hunter2"));
    }

    fn pg_output(extra: &str) -> String {
        format!(
            "jaffle:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      schema: s\n{extra}"
        )
    }

    #[test]
    fn a_failing_template_in_a_password_is_never_quoted() {
        for extra in [
            "      host: h\n      user: u\n      dbname: d\n      password: \"S3cretPW {{ oops( }}\"\n",
            "      url: \"postgres://u:S3cretPW{{ oops( }}@h/d\"\n",
            "      host: h\n      user: u\n      dbname: d\n      api_token: \"{{ 'S3cretPW' ~ nope }}\"\n",
        ] {
            let e = parse_with(&pg_output(extra), None).unwrap_err();
            let text = format!("{e} {e:?}");
            assert!(!text.contains("S3cretPW"), "{text}");
            assert!(text.contains("cannot render the value of"), "{text}");
            assert!(text.contains("****"), "{text}");
        }
    }

    #[test]
    fn url_passwords_may_hold_url_delimiters() {
        for (password, written) in [
            ("pa/ss?wo#rd", "pa/ss?wo#rd"),
            ("p@ss:word", "p@ss:word"),
            ("slash/", "slash%2F"),
        ] {
            let extra = format!(
                "      url: \"postgres://kiln:{written}@db.example:5999/warehouse?sslmode=disable\"\n"
            );
            let t = parse_with(&pg_output(&extra), None).unwrap();
            assert_eq!(t.database, "warehouse", "{written}");
            assert_eq!(t.settings["password"], json!(password));
            assert_eq!(t.settings["port"], json!(5999));
            assert_eq!(
                t.settings["url"],
                json!("postgres://kiln@db.example:5999/warehouse?sslmode=disable")
            );
            let shown = serde_json::to_string(&t.redacted_settings()).unwrap();
            assert!(
                !shown.contains(written) && !shown.contains(password),
                "{shown}"
            );
            assert!(t.secrets().contains(&password.to_string()));
        }
        // A query value holding `@` is not taken for the user info.
        let t = parse_with(
            &pg_output("      url: \"postgres://db/wh?application_name=a@b\"\n"),
            None,
        )
        .unwrap();
        assert_eq!(t.database, "wh");
        assert!(!t.settings.contains_key("password"));
    }

    #[test]
    fn unknown_keys_warn_and_secret_looking_keys_are_masked() {
        let t = parse_with(
            &pg_output("      host: h\n      user: u\n      dbname: d\n      passwrd: hunter2\n      keepalives_idle: 5\n"),
            None,
        )
        .unwrap();
        assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
        let w = t.warnings[0].to_string();
        assert!(
            w.contains("`passwrd`") && w.contains("did you mean `password`?"),
            "{w}"
        );
        assert!(!w.contains("hunter2"), "{w}");
        assert_eq!(w.split(':').nth(1), Some("10"), "{w}");
        assert_eq!(t.redacted_settings()["passwrd"], json!("****"));
        assert_eq!(t.secrets(), vec!["hunter2".to_string()]);
        for key in [
            "pass",
            "private_key_passphrase",
            "client_secret",
            "token",
            "keyfile_json",
            "credentials",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["host", "user", "keepalives_idle", "schema", "port"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }
}
