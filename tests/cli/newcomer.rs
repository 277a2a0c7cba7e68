//! The newcomer path: the project `kiln init` makes builds on every database, and every example in
//! README.md and docs/guide.md runs as written.
//!
//! Each `sh`, `sql` and `yaml` block of those files carries a comment on the line before it that
//! says where it runs and what it must do:
//!
//! ```text
//! <!-- example: CONTEXT[; OPTION]... -->
//! ```
//!
//! CONTEXT is `guide` (the project `kiln init guide` makes), `demo` (a copy of the repository's
//! demo project), `fresh` (an empty directory) or `text` (an illustration, not run). A context
//! lives through its file, so the examples build on each other as they do for a reader. OPTIONs:
//! - `exit N`: every command of the block exits with N (default 0);
//! - `write PATH`: the block is a file, written to PATH in the context;
//! - `merge PATH`: the YAML block is merged into the YAML file PATH (mappings key by key, lists of
//!   named entries by `name`);
//! - `then CMD`: a shell command run after the file is written;
//! - `copy FIXTURE DEST`: copies `tests/fixtures/FIXTURE` to DEST in the context first;
//! - `writes P1 P2 ...`: these files or folders exist afterwards;
//! - `prints TEXT`: the output contains TEXT;
//! - `postgres` / `mysql`: the block needs that server (run when `KILN_TEST_POSTGRES_URL` /
//!   `KILN_TEST_MYSQL_URL` is set, with `KILN_PG_HOST` pointing at it).
//!
//! Commands run in bash with the tested `kiln` first on PATH. `cargo run --release -- ARGS` runs
//! `kiln ARGS` (the binary under test); other cargo commands are reported and not run, since this
//! test is itself run by cargo. `kiln docs serve` is stopped after three seconds.

use crate::support::{Backend, TempProject};
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod sqlite {
    #[test]
    fn init_project_builds_and_tests() {
        super::init_project_builds(crate::support::Backend::Sqlite)
    }
}
mod postgres {
    #[test]
    fn init_project_builds_and_tests() {
        if let Some(b) = crate::support::Backend::postgres() {
            super::init_project_builds(b)
        }
    }
}
mod mysql {
    #[test]
    fn init_project_builds_and_tests() {
        if let Some(b) = crate::support::Backend::mysql() {
            super::init_project_builds(b)
        }
    }
}

/// `kiln init`'s project builds (seed, two models, four tests) with nothing else set up.
fn init_project_builds(b: Backend) {
    let p = TempProject::init_on("newcomer", b);
    let run = p.kiln(&["build"]).ok();
    let r: serde_json::Value = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 7, "{}", run.stderr);
    assert!(
        results
            .iter()
            .all(|x| x["status"] == "success" || x["status"] == "pass"),
        "{r:#}"
    );
    let months = p.query("select customers from customers_by_month order by signup_month");
    assert_eq!(
        months,
        vec![vec![crate::support::n(2.0)], vec![crate::support::n(2.0)]]
    );
}

#[test]
fn readme_examples_run_as_written() {
    run_examples("README.md");
}

#[test]
fn guide_examples_run_as_written() {
    run_examples("docs/guide.md");
}

/// One fenced block of a Markdown file and what its annotation asks.
#[derive(Debug)]
struct Example {
    /// The line of the opening fence.
    line: usize,
    lang: String,
    text: String,
    context: String,
    exit: i32,
    write: Option<String>,
    merge: Option<String>,
    then: Option<String>,
    writes: Vec<String>,
    prints: Vec<String>,
    needs: Option<&'static str>,
    copy: Option<(String, String)>,
}

/// The blocks of `markdown` with their annotations; a runnable block without one is an error.
fn examples(file: &str, markdown: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let lines: Vec<&str> = markdown.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let Some(lang) = lines[i].strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i;
        let mut text = String::new();
        i += 1;
        while i < lines.len() && !lines[i].starts_with("```") {
            text.push_str(lines[i]);
            text.push('\n');
            i += 1;
        }
        i += 1;
        let annotation = start
            .checked_sub(1)
            .map(|k| lines[k].trim())
            .and_then(|l| l.strip_prefix("<!-- example:"))
            .and_then(|l| l.strip_suffix("-->"));
        let lang = lang.trim().to_string();
        let Some(annotation) = annotation else {
            assert!(
                !matches!(lang.as_str(), "sh" | "sql" | "yaml"),
                "{file}:{}: a ```{lang} example needs an `<!-- example: ... -->` line before it (see tests/cli/newcomer.rs)",
                start + 1
            );
            continue;
        };
        out.push(parse_annotation(file, start + 1, lang, text, annotation));
    }
    out
}

fn parse_annotation(file: &str, line: usize, lang: String, text: String, a: &str) -> Example {
    let mut parts = a.split(';').map(str::trim);
    // `text (why)`: the words after the context say why it does not run.
    let context = parts
        .next()
        .and_then(|p| p.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    assert!(
        matches!(context.as_str(), "guide" | "demo" | "fresh" | "text"),
        "{file}:{line}: unknown example context `{context}`"
    );
    let mut e = Example {
        line,
        lang,
        text,
        context,
        exit: 0,
        write: None,
        merge: None,
        then: None,
        writes: Vec::new(),
        prints: Vec::new(),
        needs: None,
        copy: None,
    };
    for part in parts {
        let (key, value) = part.split_once(' ').unwrap_or((part, ""));
        let value = value.trim().to_string();
        match key {
            "exit" => e.exit = value.parse().expect("exit N"),
            "write" => e.write = Some(value),
            "merge" => e.merge = Some(value),
            "then" => e.then = Some(value),
            "writes" => e.writes = value.split_whitespace().map(String::from).collect(),
            "prints" => e.prints.push(value),
            "copy" => {
                let (fixture, to) = value.split_once(' ').expect("copy FIXTURE DEST");
                e.copy = Some((fixture.to_string(), to.trim().to_string()));
            }
            "postgres" => e.needs = Some("postgres"),
            "mysql" => e.needs = Some("mysql"),
            other => panic!("{file}:{line}: unknown example option `{other}`"),
        }
    }
    e
}

/// The directories the examples of one file run in, made on first use.
struct Contexts {
    _keep: Vec<tempfile::TempDir>,
    demo: Option<TempProject>,
    dirs: BTreeMap<String, PathBuf>,
    home: PathBuf,
}

impl Contexts {
    fn new() -> Contexts {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().to_path_buf();
        Contexts {
            _keep: vec![home],
            demo: None,
            dirs: BTreeMap::new(),
            home: path,
        }
    }

    fn dir(&mut self, context: &str) -> PathBuf {
        if let Some(d) = self.dirs.get(context) {
            return d.clone();
        }
        let dir = match context {
            "demo" => {
                let p = TempProject::demo_on(Backend::Sqlite);
                let root = p.root.clone();
                self.demo = Some(p);
                root
            }
            "guide" => {
                let t = tempfile::tempdir().unwrap();
                let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
                    .args(["init", "guide"])
                    .current_dir(t.path())
                    .env("HOME", &self.home)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "kiln init guide failed");
                let root = t.path().join("guide");
                self._keep.push(t);
                root
            }
            _ => {
                let t = tempfile::tempdir().unwrap();
                let root = t.path().to_path_buf();
                self._keep.push(t);
                root
            }
        };
        self.dirs.insert(context.to_string(), dir.clone());
        dir
    }
}

fn run_examples(file: &str) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let markdown = std::fs::read_to_string(repo.join(file)).unwrap();
    let mut contexts = Contexts::new();
    let mut ran = 0;
    let mut used: Vec<Backend> = Vec::new();
    for e in examples(file, &markdown) {
        if e.context == "text" {
            continue;
        }
        let mut env: Vec<(String, String)> = Vec::new();
        match e.needs {
            Some("postgres") => match Backend::postgres() {
                Some(b @ Backend::Postgres(_)) => {
                    if let Backend::Postgres(url) = &b {
                        env.push(("KILN_PG_HOST".into(), url_host(url)));
                    }
                    if !used.contains(&b) {
                        used.push(b);
                    }
                }
                _ => continue,
            },
            Some("mysql") => match Backend::mysql() {
                Some(b) => {
                    if !used.contains(&b) {
                        used.push(b);
                    }
                }
                None => continue,
            },
            _ => {}
        }
        let dir = contexts.dir(&e.context);
        let where_ = format!("{file}:{}", e.line);
        if let Some((fixture, to)) = &e.copy {
            crate::support::copy_dir(&crate::support::fixture_path(fixture), &dir.join(to));
        }
        let output = if let Some(path) = &e.write {
            write_file(&dir.join(path), &e.text);
            e.then
                .as_deref()
                .map(|cmd| run_script(&where_, &dir, &contexts.home, &env, cmd, e.exit))
                .unwrap_or_default()
        } else if let Some(path) = &e.merge {
            merge_yaml(&where_, &dir.join(path), &e.text);
            e.then
                .as_deref()
                .map(|cmd| run_script(&where_, &dir, &contexts.home, &env, cmd, e.exit))
                .unwrap_or_default()
        } else {
            assert_eq!(
                e.lang, "sh",
                "{where_}: only sh blocks run; give a path to write"
            );
            run_script(&where_, &dir, &contexts.home, &env, &e.text, e.exit)
        };
        for path in &e.writes {
            assert!(
                dir.join(path).exists(),
                "{where_}: the example says Kiln writes {path}, but it is not there\n{output}"
            );
        }
        for text in &e.prints {
            assert!(
                output.contains(text.as_str()),
                "{where_}: expected `{text}` in the output\n{output}"
            );
        }
        ran += 1;
    }
    assert!(ran > 3, "{file}: only {ran} examples ran");
    // The guide's server profiles build into schema `guide`: leave nothing behind.
    for backend in used {
        TempProject::with_files_on(&[("project.yml", "name: cleanup\n")], backend)
            .drop_schemas("guide%");
    }
}

/// The host of a database URL (`postgres://user@host:port/db`).
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    let rest = rest.rsplit_once('@').map(|x| x.1).unwrap_or(rest);
    rest.split([':', '/', '?'])
        .next()
        .unwrap_or("127.0.0.1")
        .to_string()
}

fn write_file(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Merges the YAML `fragment` into the file at `path` (created when missing).
fn merge_yaml(where_: &str, path: &Path, fragment: &str) {
    let new: Yaml = serde_yaml::from_str(fragment)
        .unwrap_or_else(|e| panic!("{where_}: the example is not valid YAML: {e}"));
    let mut doc: Yaml = std::fs::read_to_string(path)
        .ok()
        .map(|t| serde_yaml::from_str(&t).unwrap())
        .unwrap_or(Yaml::Null);
    merge(&mut doc, new);
    write_file(path, &serde_yaml::to_string(&doc).unwrap());
}

fn merge(into: &mut Yaml, from: Yaml) {
    match (into, from) {
        (Yaml::Mapping(a), Yaml::Mapping(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(old) => merge(old, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (Yaml::Sequence(a), Yaml::Sequence(b)) => {
            for item in b {
                let name = item.get("name").cloned();
                match name.and_then(|n| a.iter_mut().find(|x| x.get("name") == Some(&n))) {
                    Some(old) => merge(old, item),
                    None => a.push(item),
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Runs the commands of a block in bash, one line at a time (joined across `\`), each expected
/// to exit with `exit`; returns what they printed.
fn run_script(
    where_: &str,
    dir: &Path,
    home: &Path,
    env: &[(String, String)],
    text: &str,
    exit: i32,
) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_kiln")).parent().unwrap();
    let mut script = String::from(
        r#"cargo() {
  case "$1" in
    run) while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done; shift; kiln "$@" ;;
    *) echo "(not run here: cargo $1)" ;;
  esac
}
kiln() {
  if [ "$1" = docs ] && [ "$2" = serve ]; then
    timeout 3 "$(type -P kiln)" "$@"; local rc=$?
    if [ "$rc" -eq 124 ]; then return 0; fi; return "$rc"
  fi
  command kiln "$@"
}
"#,
    );
    let mut command = String::new();
    for line in text.lines() {
        if let Some(head) = line.strip_suffix('\\') {
            command.push_str(head);
            continue;
        }
        command.push_str(line);
        let trimmed = command.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            let quoted = trimmed.replace('\'', "'\\''");
            script.push_str(&format!(
                "echo '$ {quoted}'\n{trimmed}\nrc=$?; if [ \"$rc\" -ne {exit} ]; then echo \"exited $rc, expected {exit}\"; exit 99; fi\n"
            ));
        }
        command.clear();
    }
    // `kiln docs serve` listens on 8080 in the examples of both files: one at a time.
    static SERVE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serving = text
        .contains("docs serve")
        .then(|| SERVE.lock().unwrap_or_else(|e| e.into_inner()));
    let out = Command::new("bash")
        .args(["-c", &script])
        .current_dir(dir)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env("BROWSER", "true")
        .env_remove("KILN_PROFILES_DIR")
        .env_remove("DBT_PROFILES_DIR")
        .env_remove("KILN_PROJECT_DIR")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run bash");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{where_}: the example does not run as written\n{printed}"
    );
    printed
}
