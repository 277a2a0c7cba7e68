//! Helpers: copy a fixture to a temp dir, point it at a database (SQLite always; PostgreSQL and
//! MySQL when `KILN_TEST_POSTGRES_URL` / `KILN_TEST_MYSQL_URL` are set), and run `kiln` in it with
//! a clean environment. Each project on a server gets its own schema, dropped afterwards.

use kiln::project::profiles::{AdapterType, Target};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The database a test project runs against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// A PostgreSQL server at this URL.
    Postgres(String),
    /// A MySQL or MariaDB server at this URL.
    Mysql(String),
}

impl Backend {
    /// PostgreSQL from `KILN_TEST_POSTGRES_URL`, or None (the test reports itself skipped).
    pub fn postgres() -> Option<Backend> {
        match std::env::var("KILN_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ => {
                eprintln!("skipped: set KILN_TEST_POSTGRES_URL to run PostgreSQL tests");
                None
            }
        }
    }

    /// MySQL from `KILN_TEST_MYSQL_URL`, or None (the test reports itself skipped).
    pub fn mysql() -> Option<Backend> {
        match std::env::var("KILN_TEST_MYSQL_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Mysql(url)),
            _ => {
                eprintln!("skipped: set KILN_TEST_MYSQL_URL to run MySQL tests");
                None
            }
        }
    }
}

/// A fixture project copied to a temp dir.
pub struct TempProject {
    /// Keeps the directory alive.
    _dir: tempfile::TempDir,
    /// The project root.
    pub root: PathBuf,
    /// A fake home directory so the user's own profiles never leak in.
    pub home: PathBuf,
    /// The database it runs against.
    pub backend: Backend,
    /// Its target schema.
    pub schema: String,
}

/// What a kiln invocation printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Path of a fixture under tests/fixtures.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Copies a directory tree, leaving out `target/` and `.kiln/` folders inside it.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            let name = entry.file_name();
            if name == "target" || name == ".kiln" {
                continue;
            }
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A schema name no other test uses.
fn unique_schema() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "kt_{}_{}_{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos % 0xffff
    )
}

/// The profile name a project asks for: `profile:` in its project file, else its `name:`.
fn profile_name(root: &Path) -> String {
    let text = std::fs::read_to_string(root.join("project.yml"))
        .or_else(|_| std::fs::read_to_string(root.join("dbt_project.yml")))
        .unwrap_or_default();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
    };
    value("profile:")
        .or_else(|| value("name:"))
        .unwrap_or_else(|| "default".into())
}

impl TempProject {
    /// Copies `tests/fixtures/<name>` into a fresh temp dir, on SQLite.
    pub fn fixture(name: &str) -> TempProject {
        TempProject::fixture_on(name, Backend::Sqlite)
    }

    /// Copies `tests/fixtures/<name>` into a fresh temp dir, on `backend`.
    pub fn fixture_on(name: &str, backend: Backend) -> TempProject {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        copy_dir(&fixture_path(name), &root);
        TempProject::new(dir, root, backend)
    }

    /// The demo project at the repository root, copied to a temp dir, on `backend`.
    pub fn demo_on(backend: Backend) -> TempProject {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::create_dir_all(&root).unwrap();
        for file in ["project.yml", "profiles.yml", "packages.yml"] {
            std::fs::copy(repo.join(file), root.join(file)).unwrap();
        }
        for sub in [
            "models",
            "seeds",
            "macros",
            "snapshots",
            "data_tests",
            "packages",
        ] {
            copy_dir(&repo.join(sub), &root.join(sub));
        }
        TempProject::new(dir, root, backend)
    }

    /// The project `kiln init NAME` makes, in a fresh temp dir, on `backend`.
    pub fn init_on(name: &str, backend: Backend) -> TempProject {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(["init", name])
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("run kiln init");
        assert!(
            out.status.success(),
            "kiln init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let root = dir.path().join(name);
        TempProject::new(dir, root, backend)
    }

    /// An empty project dir with the given files, on SQLite.
    pub fn with_files(files: &[(&str, &str)]) -> TempProject {
        TempProject::with_files_on(files, Backend::Sqlite)
    }

    /// An empty project dir with the given files, on `backend`.
    pub fn with_files_on(files: &[(&str, &str)], backend: Backend) -> TempProject {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        std::fs::create_dir_all(&root).unwrap();
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        TempProject::new(dir, root, backend)
    }

    fn new(dir: tempfile::TempDir, root: PathBuf, backend: Backend) -> TempProject {
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let schema = match backend {
            Backend::Sqlite => "main".to_string(),
            _ => unique_schema(),
        };
        let p = TempProject {
            _dir: dir,
            root,
            home,
            backend,
            schema,
        };
        p.write_profile();
        p
    }

    fn write_profile(&self) {
        let output = match &self.backend {
            // Projects on SQLite keep the profile they ship with (or the embedded default).
            Backend::Sqlite => return,
            Backend::Postgres(url) => format!(
                "      type: postgres\n      url: \"{url}\"\n      schema: {}\n      threads: 4\n",
                self.schema
            ),
            Backend::Mysql(url) => format!(
                "      type: mysql\n      url: \"{url}\"\n      schema: {}\n      threads: 4\n",
                self.schema
            ),
        };
        let name = profile_name(&self.root);
        self.write(
            "profiles.yml",
            &format!("{name}:\n  target: test\n  outputs:\n    test:\n{output}"),
        );
    }

    /// The schema a custom schema config lands in (`<target>_<custom>`).
    pub fn custom_schema(&self, custom: &str) -> String {
        format!("{}_{custom}", self.schema)
    }

    /// Writes (or overwrites) a file in the project.
    pub fn write(&self, path: &str, text: &str) {
        let p = self.root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Reads a file of the project.
    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.root.join(path))
            .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
    }

    /// `(unique_id, status)` of every result in the last `target/run_results.json`, sorted.
    pub fn statuses(&self) -> Vec<(String, String)> {
        self.results()
            .into_iter()
            .map(|(id, status, _)| (id, status))
            .collect()
    }

    /// `(unique_id, status, message)` of every result in the last `target/run_results.json`,
    /// sorted.
    pub fn results(&self) -> Vec<(String, String, String)> {
        let v: Value = serde_json::from_str(&self.read("target/run_results.json")).unwrap();
        let mut out: Vec<(String, String, String)> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["unique_id"].as_str().unwrap().to_string(),
                    r["status"].as_str().unwrap().to_string(),
                    r["message"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Runs `kiln <args>` in the project directory.
    pub fn kiln(&self, args: &[&str]) -> Run {
        self.kiln_env(args, &[])
    }

    /// Runs `kiln <args>` with extra environment variables.
    pub fn kiln_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.args(args)
            .current_dir(&self.root)
            .env("HOME", &self.home)
            .env("NO_COLOR", "1")
            .env_remove("KILN_PROFILES_DIR")
            .env_remove("DBT_PROFILES_DIR")
            .env_remove("KILN_PROJECT_DIR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run kiln");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `kiln <args>` in the project, started and not waited for; its output is piped.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(args)
            .current_dir(&self.root)
            .env("HOME", &self.home)
            .env("NO_COLOR", "1")
            .env_remove("KILN_PROFILES_DIR")
            .env_remove("DBT_PROFILES_DIR")
            .env_remove("KILN_PROJECT_DIR")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start kiln")
    }

    /// Runs one statement on the project's database (DDL included).
    pub fn exec(&self, sql: &str) {
        self.with_db(async |db| db.execute(sql).await)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Names of every table and view in `schema`, sorted.
    pub fn relations(&self, schema: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .with_db(async |db| db.catalog(schema).await)
            .unwrap_or_else(|e| panic!("relations of {schema}: {e}"))
            .into_iter()
            .map(|t| t.name)
            .collect();
        names.sort();
        names
    }

    /// Relations Kiln builds aside (`__kiln_tmp`, `__kiln_backup`, `__kiln_staging`) found in
    /// `schema`.
    pub fn leftovers(&self, schema: &str) -> Vec<String> {
        self.relations(schema)
            .into_iter()
            .filter(|n| {
                ["__kiln_tmp", "__kiln_backup", "__kiln_staging"]
                    .iter()
                    .any(|m| n.contains(m))
            })
            .collect()
    }

    fn target(&self) -> Target {
        let (adapter, url) = match &self.backend {
            Backend::Sqlite => (AdapterType::Sqlite, None),
            Backend::Postgres(u) => (AdapterType::Postgres, Some(u.clone())),
            Backend::Mysql(u) => (AdapterType::Mysql, Some(u.clone())),
        };
        let mut settings = std::collections::BTreeMap::new();
        if let Some(u) = &url {
            settings.insert("url".to_string(), Value::from(u.clone()));
        }
        let database = match &url {
            Some(u) => u
                .rsplit('/')
                .next()
                .unwrap_or("test")
                .split('?')
                .next()
                .unwrap_or("test")
                .to_string(),
            None => "main".into(),
        };
        Target {
            profile_name: "test".into(),
            name: "test".into(),
            adapter,
            schema: self.schema.clone(),
            database: if adapter == AdapterType::Mysql {
                self.schema.clone()
            } else {
                database
            },
            threads: 1,
            settings,
            sqlite_dir: (adapter == AdapterType::Sqlite).then(|| self.root.join(".kiln")),
            origin: "test".into(),
            warnings: Vec::new(),
        }
    }

    /// Runs `f` with a connection to the project's database.
    fn with_db<T>(&self, f: impl AsyncFnOnce(&kiln::adapter::Adapter) -> T) -> T {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let target = self.target();
        rt.block_on(async move {
            let db = kiln::adapter::Adapter::connect(&target, &[])
                .await
                .unwrap_or_else(|e| panic!("cannot connect for checks: {e}"));
            let out = f(&db).await;
            db.close().await;
            out
        })
    }

    /// Rows of a query on the project's database; numbers normalised to f64 and booleans to
    /// 0/1 so the same assertion holds on every adapter.
    pub fn query(&self, sql: &str) -> Vec<Vec<Value>> {
        let t = self
            .with_db(async |db| db.query(sql).await)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        t.rows
            .into_iter()
            .map(|r| r.into_iter().map(normalize).collect())
            .collect()
    }

    /// Rows of a query, or the database's error.
    pub fn try_query(&self, sql: &str) -> Result<Vec<Vec<Value>>, String> {
        let t = self
            .with_db(async |db| db.query(sql).await)
            .map_err(|e| e.to_string())?;
        Ok(t.rows
            .into_iter()
            .map(|r| r.into_iter().map(normalize).collect())
            .collect())
    }

    /// The first value of the first row.
    pub fn one(&self, sql: &str) -> Value {
        self.query(sql)
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .unwrap_or_else(|| panic!("no rows from {sql}"))
    }

    /// `table`, `view` or None for a relation.
    pub fn relation_kind(&self, schema: &str, name: &str) -> Option<String> {
        self.with_db(async |db| db.relation_kind(schema, name).await)
            .unwrap()
            .map(|k| k.as_str().to_string())
    }
}

/// Numbers as f64, booleans as 0/1, so values compare equally across adapters.
pub fn normalize(v: Value) -> Value {
    match v {
        Value::Bool(b) => Value::from(if b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64().map(Value::from).unwrap_or(Value::Null),
        other => other,
    }
}

/// A number as the query helper returns it.
pub fn n(x: f64) -> Value {
    Value::from(x)
}

impl Drop for TempProject {
    fn drop(&mut self) {
        if self.backend == Backend::Sqlite {
            return;
        }
        // Leave nothing behind on the server: every schema this test created starts with ours.
        self.drop_schemas(&format!("{}%", self.schema));
    }
}

impl TempProject {
    /// Drops every schema of the project's server whose name is `like` (an SQL pattern).
    pub fn drop_schemas(&self, like: &str) {
        self.with_db(async |db| {
            let sql = match db.dialect() {
                kiln::sql::Dialect::Postgres => format!(
                    "select schema_name::text from information_schema.schemata where schema_name like '{like}'"
                ),
                _ => format!(
                    "select cast(schema_name as char) from information_schema.schemata where schema_name like '{like}'"
                ),
            };
            if let Ok(t) = db.query(&sql).await {
                for row in t.rows {
                    if let Some(s) = row.first().and_then(|v| v.as_str()) {
                        let drop = match db.dialect() {
                            kiln::sql::Dialect::Postgres => format!("drop schema if exists \"{s}\" cascade"),
                            _ => format!("drop database if exists `{s}`"),
                        };
                        let _ = db.execute(&drop).await;
                    }
                }
            }
        });
    }
}

impl Run {
    /// A run that printed nothing, where a check wants one to quote.
    pub fn of_nothing() -> Run {
        Run {
            code: 0,
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    /// What a finished child process printed and returned.
    pub fn of(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "kiln failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// stdout lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Generates one test per adapter for each named scenario.
macro_rules! on_every_adapter {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(crate::support::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { if let Some(b) = crate::support::Backend::postgres() { super::$name(b) } } )*
        }
        mod mysql {
            $( #[test] fn $name() { if let Some(b) = crate::support::Backend::mysql() { super::$name(b) } } )*
        }
    };
}
pub(crate) use on_every_adapter;

/// Sends a raw GET to `addr` (`host:port`; the path exactly as given, no client normalisation)
/// and returns the status code and body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// The `host:port` of the server a log line announces (`... at http://127.0.0.1:4321/ ...`).
pub fn served_addr(line: &str) -> Option<String> {
    let rest = line.split("http://").nth(1)?;
    rest.split('/').next().map(String::from)
}

impl TempProject {
    /// The last two numbers of the `--debug` line holding `marker` that `command args` prints,
    /// such as `Partial parse: N nodes reused, M rendered`.
    pub fn debug_counts(
        &self,
        command: &str,
        args: &[&str],
        env: &[(&str, &str)],
        marker: &str,
    ) -> (usize, usize) {
        let mut all = vec![command, "--debug"];
        all.extend_from_slice(args);
        let run = self.kiln_env(&all, env).ok();
        let text = format!("{}{}", run.stdout, run.stderr);
        let line = text
            .lines()
            .find(|l| l.contains(marker))
            .unwrap_or_else(|| panic!("no `{marker}` line in:\n{text}"));
        let numbers: Vec<usize> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        let n = numbers.len();
        (numbers[n - 2], numbers[n - 1])
    }
}
