//! `kiln deps`: local, git and hub packages installed from fixtures (a git repository built in a
//! temp dir, a package hub served on loopback), the lock file, and failures that must leave the
//! previous install alone.

use crate::support::{TempProject, fixture_path};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

const ROOT_PROJECT: &str = "name: root_project\nprofile: root_project\n";

/// A project whose packages.yml is `packages`, with the fixture packages `local` copied next
/// to it (so `local: ../<name>` finds them).
fn project(packages: &str, local: &[&str]) -> TempProject {
    let p = TempProject::with_files(&[
        ("dbt_project.yml", ROOT_PROJECT),
        ("packages.yml", packages),
    ]);
    for name in local {
        copy_tree(
            &fixture_path(&format!("packages/{name}")),
            &p.root.parent().unwrap().join(name),
        );
    }
    p
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// Every file under `dir` (following symlinks) with its bytes, keyed by relative path; the log
/// file, which every invocation appends to, is left out.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            if rel == "logs" {
                continue;
            }
            if path.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(base, &path, out);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// Files and folders left beside the install path by a run (work folders must not survive).
fn leftovers(root: &Path) -> Vec<String> {
    std::fs::read_dir(root)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.contains("kiln").then_some(name)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// local

#[test]
fn local_package_is_symlinked_and_locked_as_dbt_locks_it() {
    let p = project("packages:\n  - local: ../local_pkg\n", &["local_pkg"]);
    let run = p.kiln(&["deps"]).ok();
    assert!(
        run.stdout
            .contains("Installed local_pkg from local ../local_pkg"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Installed 1 package into dbt_packages/")
    );

    let link = p.root.join("dbt_packages/local_pkg");
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    let target = std::fs::read_link(&link).unwrap();
    assert!(target.is_absolute(), "{}", target.display());
    assert_eq!(
        target,
        p.root
            .parent()
            .unwrap()
            .join("local_pkg")
            .canonicalize()
            .unwrap()
    );
    assert!(
        p.read("dbt_packages/local_pkg/macros/local_pkg.sql")
            .contains("hello from local_pkg")
    );
    // dbt-core 1.11's `dbt deps` wrote exactly this for the same packages.yml.
    assert_eq!(
        p.read("package-lock.yml"),
        "packages:\n  - local: ../local_pkg\n    name: local_pkg\nsha1_hash: 8e5e27300340b88e332fd67d472568a827afd99e\n"
    );
    assert!(leftovers(&p.root).is_empty(), "{:?}", leftovers(&p.root));
}

#[test]
fn dependencies_yml_is_read_like_packages_yml() {
    let p = project("packages:\n  - local: ../local_pkg\n", &["local_pkg"]);
    std::fs::rename(p.root.join("packages.yml"), p.root.join("dependencies.yml")).unwrap();
    p.kiln(&["deps"]).ok();
    assert!(
        p.root
            .join("dbt_packages/local_pkg/dbt_project.yml")
            .is_file()
    );

    // Both files listing packages is an error, as in dbt.
    p.write("packages.yml", "packages:\n  - local: ../local_pkg\n");
    let run = p.kiln(&["deps"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("both packages.yml and dependencies.yml"),
        "{}",
        run.stderr
    );
}

#[test]
fn packages_no_longer_listed_are_removed() {
    let p = project(
        "packages:\n  - local: ../local_pkg\n  - local: ../sub_pkg\n",
        &["local_pkg", "sub_pkg"],
    );
    p.kiln(&["deps"]).ok();
    assert!(p.root.join("dbt_packages/sub_pkg").exists());

    p.write("packages.yml", "packages:\n  - local: ../local_pkg\n");
    let run = p.kiln(&["deps"]).ok();
    assert!(run.stdout.contains("Removed sub_pkg"), "{}", run.stdout);
    assert!(!p.root.join("dbt_packages/sub_pkg").exists());
    assert!(p.root.join("dbt_packages/local_pkg").exists());
    // The package folder itself is untouched: only the link was removed.
    assert!(
        p.root
            .parent()
            .unwrap()
            .join("sub_pkg/dbt_project.yml")
            .is_file()
    );
}

#[test]
fn a_stale_lock_is_resolved_over_and_rewritten() {
    let p = project("packages:\n  - local: ../local_pkg\n", &["local_pkg"]);
    p.write(
        "package-lock.yml",
        "packages:\n  - bogus: entry\nsha1_hash: 0000\n",
    );
    p.kiln(&["deps"]).ok();
    assert!(p.read("package-lock.yml").contains("name: local_pkg"));

    // A lock that matches the list but lacks `name:` (older dbt versions write such locks, and
    // projects commit them) is resolved over and rewritten.
    let lock = p.read("package-lock.yml");
    p.write(
        "package-lock.yml",
        &lock.replace("    name: local_pkg\n", ""),
    );
    p.kiln(&["deps"]).ok();
    assert_eq!(p.read("package-lock.yml"), lock);
    assert!(p.root.join("dbt_packages/local_pkg/macros").exists());
    p.kiln(&["deps", "--upgrade"]).ok();
    assert_eq!(p.read("package-lock.yml"), lock);
}

#[test]
fn lock_only_writes_the_lock_and_installs_nothing() {
    let p = project("packages:\n  - local: ../local_pkg\n", &["local_pkg"]);
    let run = p.kiln(&["deps", "--lock"]).ok();
    assert!(run.stdout.contains("Resolved local_pkg"), "{}", run.stdout);
    assert!(p.read("package-lock.yml").contains("name: local_pkg"));
    assert!(!p.root.join("dbt_packages").exists());
}

#[test]
fn invalid_packages_yml_points_at_the_entry() {
    let p = project(
        "packages:\n  - local: ../local_pkg\n  - package: dbt-labs/dbt_utils\n    version: banana\n",
        &["local_pkg"],
    );
    let run = p.kiln(&["deps"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("packages.yml:3:5"), "{}", run.stderr);
    assert!(
        run.stderr.contains("`banana` is not a version"),
        "{}",
        run.stderr
    );
    assert!(!p.root.join("package-lock.yml").exists());
}

// ---------------------------------------------------------------------------------------------
// git

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Kiln Test",
            "-c",
            "user.email=test@example.com",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repository holding `git_pkg` at its root and `sub_pkg` under `nested/sub_pkg`,
/// tagged `v1.0.0`, with one more commit on `main` after the tag. Returns the URL and the
/// tagged sha.
fn git_repo(parent: &Path) -> (String, String) {
    let work = parent.join("repo-work");
    copy_tree(&fixture_path("packages/git_pkg"), &work);
    copy_tree(
        &fixture_path("packages/sub_pkg"),
        &work.join("nested/sub_pkg"),
    );
    git(&work, &["init", "--quiet"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "--quiet", "-m", "v1"]);
    git(&work, &["tag", "v1.0.0"]);
    let sha = git(&work, &["rev-parse", "HEAD"]);
    std::fs::write(
        work.join("macros/git_pkg.sql"),
        "{% macro git_pkg_greeting() %}\n  changed after v1\n{% endmacro %}\n",
    )
    .unwrap();
    git(&work, &["commit", "--quiet", "-am", "after v1"]);
    let bare = parent.join("repo.git");
    let out = Command::new("git")
        .args(["clone", "--quiet", "--bare"])
        .arg(&work)
        .arg(&bare)
        .output()
        .unwrap();
    assert!(out.status.success());
    (format!("file://{}", bare.display()), sha)
}

#[test]
fn git_package_is_installed_at_a_tag_and_from_a_subdirectory() {
    let p = project("packages: []\n", &[]);
    let (url, sha) = git_repo(p.root.parent().unwrap());
    p.write(
        "packages.yml",
        &format!(
            "packages:\n  - git: \"{url}\"\n    revision: v1.0.0\n  - git: \"{url}\"\n    revision: v1.0.0\n    subdirectory: nested/sub_pkg\n"
        ),
    );
    let run = p.kiln(&["deps"]).ok();
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    assert!(
        run.stdout
            .contains(&format!("Installed git_pkg {} from git {url}", &sha[..7])),
        "{}",
        run.stdout
    );

    // The tag's content, not the branch head's; no .git folder.
    assert!(
        p.read("dbt_packages/git_pkg/macros/git_pkg.sql")
            .contains("hello from git_pkg")
    );
    assert!(!p.root.join("dbt_packages/git_pkg/.git").exists());
    assert!(
        p.read("dbt_packages/sub_pkg/macros/sub_pkg.sql")
            .contains("hello from sub_pkg")
    );
    assert!(!p.root.join("dbt_packages/sub_pkg/nested").exists());

    let lock = p.read("package-lock.yml");
    assert!(
        lock.starts_with(&format!(
            "packages:\n  - git: {url}\n    name: git_pkg\n    revision: {sha}\n  - git: {url}\n    name: sub_pkg\n    revision: {sha}\n    subdirectory: nested/sub_pkg\nsha1_hash: "
        )),
        "{lock}"
    );

    // A second run follows the lock and installs the same commit.
    let run = p.kiln(&["deps"]).ok();
    assert!(
        run.stdout.contains("as pinned in package-lock.yml"),
        "{}",
        run.stdout
    );
    assert_eq!(p.read("package-lock.yml"), lock);
    assert!(
        p.read("dbt_packages/git_pkg/macros/git_pkg.sql")
            .contains("hello from git_pkg")
    );
}

#[test]
fn unpinned_git_package_warns_unless_told_not_to() {
    let p = project("packages: []\n", &[]);
    let (url, _) = git_repo(p.root.parent().unwrap());
    p.write("packages.yml", &format!("packages:\n  - git: \"{url}\"\n"));
    let run = p.kiln(&["deps"]).ok();
    assert!(
        run.stderr
            .contains("is not pinned, using HEAD (default branch)"),
        "{}",
        run.stderr
    );
    // HEAD is the commit after the tag.
    assert!(
        p.read("dbt_packages/git_pkg/macros/git_pkg.sql")
            .contains("changed after v1")
    );

    p.write(
        "packages.yml",
        &format!("packages:\n  - git: \"{url}\"\n    revision: main\n    warn-unpinned: false\n"),
    );
    let run = p.kiln(&["deps"]).ok();
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

#[test]
fn unknown_git_revision_fails_and_keeps_the_previous_install() {
    let p = project("packages:\n  - local: ../local_pkg\n", &["local_pkg"]);
    p.kiln(&["deps"]).ok();
    let before = snapshot(&p.root);
    let (url, _) = git_repo(p.root.parent().unwrap());
    p.write(
        "packages.yml",
        &format!("packages:\n  - local: ../local_pkg\n  - git: \"{url}\"\n    revision: v9.9.9\n"),
    );
    let run = p.kiln(&["deps"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("revision `v9.9.9`"), "{}", run.stderr);
    assert!(run.stderr.contains("packages.yml:3:5"), "{}", run.stderr);
    let mut after = snapshot(&p.root);
    after.insert("packages.yml".into(), before["packages.yml"].clone());
    assert_eq!(before, after);
    assert!(leftovers(&p.root).is_empty());
}

// ---------------------------------------------------------------------------------------------
// hub

/// A dbt package hub on loopback serving `api/v1/index.json`, one JSON per package and the
/// tarballs, from files the test can change while it runs.
struct FixtureHub {
    url: String,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    /// Paths asked for, in order.
    requests: Arc<Mutex<Vec<String>>>,
    /// Published versions per package id: version -> (project name, dependencies JSON).
    packages: BTreeMap<String, BTreeMap<String, (String, serde_json::Value)>>,
}

impl FixtureHub {
    fn start() -> FixtureHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let served = Arc::clone(&files);
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                // Skip the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                log.lock().unwrap().push(path.clone());
                let body = served.lock().unwrap().get(&path).cloned();
                let (status, body) = match body {
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        FixtureHub {
            url,
            files,
            requests,
            packages: BTreeMap::new(),
        }
    }

    /// Publishes `id` (`org/name`) at `version`: the fixture package `fixture` with a VERSION
    /// file, depending on `dependencies` (hub `packages:` entries).
    fn publish(&mut self, id: &str, version: &str, fixture: &str, dependencies: serde_json::Value) {
        let tarball = format!("/tarballs/{}-{version}.tar.gz", id.replace('/', "-"));
        self.files
            .lock()
            .unwrap()
            .insert(tarball, tarball_of(fixture, version));
        self.packages
            .entry(id.to_string())
            .or_default()
            .insert(version.to_string(), (fixture.to_string(), dependencies));
        self.refresh();
    }

    fn refresh(&self) {
        let mut files = self.files.lock().unwrap();
        let ids: Vec<&String> = self.packages.keys().collect();
        files.insert(
            "/api/v1/index.json".into(),
            serde_json::to_vec(&ids).unwrap(),
        );
        for (id, versions) in &self.packages {
            let (namespace, name) = id.split_once('/').unwrap();
            let mut vs = serde_json::Map::new();
            for (v, (project, deps)) in versions {
                vs.insert(
                    v.clone(),
                    serde_json::json!({
                        "id": format!("{id}/{v}"),
                        "name": project,
                        "version": v,
                        "packages": deps,
                        "downloads": {"tarball": format!("{}tarballs/{}-{v}.tar.gz", self.url, id.replace('/', "-"))},
                    }),
                );
            }
            let json = serde_json::json!({
                "name": name,
                "namespace": namespace,
                "latest": versions.keys().last(),
                "versions": vs,
            });
            files.insert(
                format!("/api/v1/{id}.json"),
                serde_json::to_vec(&json).unwrap(),
            );
        }
    }
}

/// A .tar.gz of the fixture package under one top-level folder, plus a VERSION file.
fn tarball_of(fixture: &str, version: &str) -> Vec<u8> {
    let top = format!("{fixture}-{version}");
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    builder
        .append_dir_all(&top, fixture_path(&format!("packages/{fixture}")))
        .unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(version.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, format!("{top}/VERSION"), version.as_bytes())
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

fn hub_env(hub: &FixtureHub) -> [(&'static str, &str); 2] {
    [
        ("DBT_PACKAGE_HUB_URL", hub.url.as_str()),
        ("KILN_PACKAGE_HUB_URL", ""),
    ]
}

fn hub_with_utils() -> FixtureHub {
    let mut hub = FixtureHub::start();
    for v in ["0.9.0", "1.0.0", "1.1.0", "2.0.0", "1.3.0-b1"] {
        hub.publish("org/hub_utils", v, "hub_utils", serde_json::json!([]));
    }
    hub
}

#[test]
fn hub_range_picks_the_highest_match_and_upgrade_moves_the_lock() {
    let mut hub = hub_with_utils();
    let p = project(
        "packages:\n  - package: org/hub_utils\n    version: [\">=1.0.0\", \"<2.0.0\"]\n",
        &[],
    );
    let run = p.kiln_env(&["deps"], &hub_env(&hub)).ok();
    assert!(
        run.stdout
            .contains("Installed hub_utils 1.1.0 from hub (org/hub_utils)"),
        "{}",
        run.stdout
    );
    assert_eq!(p.read("dbt_packages/hub_utils/VERSION"), "1.1.0");
    assert!(
        p.read("dbt_packages/hub_utils/macros/hub_utils.sql")
            .contains("hello from hub_utils")
    );
    let lock = p.read("package-lock.yml");
    assert!(
        lock.starts_with(
            "packages:\n  - name: hub_utils\n    package: org/hub_utils\n    version: 1.1.0\nsha1_hash: "
        ),
        "{lock}"
    );

    // A newer match appears: a plain `deps` keeps the locked version and says so, without
    // consulting the hub's index...
    hub.publish("org/hub_utils", "1.2.0", "hub_utils", serde_json::json!([]));
    hub.requests.lock().unwrap().clear();
    let run = p.kiln_env(&["deps"], &hub_env(&hub)).ok();
    assert_eq!(
        *hub.requests.lock().unwrap(),
        [
            "/api/v1/org/hub_utils.json",
            "/tarballs/org-hub_utils-1.1.0.tar.gz"
        ]
    );
    assert!(
        run.stdout.contains("Update available: hub_utils 2.0.0"),
        "{}",
        run.stdout
    );
    assert_eq!(p.read("dbt_packages/hub_utils/VERSION"), "1.1.0");
    assert_eq!(p.read("package-lock.yml"), lock);

    // ...and `--upgrade` moves to it.
    let run = p.kiln_env(&["deps", "--upgrade"], &hub_env(&hub)).ok();
    assert!(
        run.stdout.contains("Installed hub_utils 1.2.0"),
        "{}",
        run.stdout
    );
    assert_eq!(p.read("dbt_packages/hub_utils/VERSION"), "1.2.0");
    assert!(p.read("package-lock.yml").contains("version: 1.2.0\n"));
}

#[test]
fn hub_prereleases_only_when_asked() {
    let hub = hub_with_utils();
    let p = project(
        "packages:\n  - package: org/hub_utils\n    version: \">1.1.0\"\n",
        &[],
    );
    p.kiln_env(&["deps"], &hub_env(&hub)).ok();
    assert_eq!(p.read("dbt_packages/hub_utils/VERSION"), "2.0.0");
    p.write(
        "packages.yml",
        "packages:\n  - package: org/hub_utils\n    version: [\">1.1.0\", \"<2.0.0\"]\n    install_prerelease: true\n",
    );
    p.kiln_env(&["deps"], &hub_env(&hub)).ok();
    assert_eq!(p.read("dbt_packages/hub_utils/VERSION"), "1.3.0-b1");
}

#[test]
fn transitive_hub_dependency_is_installed_and_locked() {
    let mut hub = hub_with_utils();
    hub.publish(
        "org/hub_dep",
        "0.1.0",
        "hub_dep",
        serde_json::json!([{"package": "org/hub_utils", "version": [">=1.0.0", "<1.1.0"]}]),
    );
    let p = project(
        "packages:\n  - package: org/hub_dep\n    version: 0.1.0\n",
        &[],
    );
    let run = p.kiln_env(&["deps"], &hub_env(&hub)).ok();
    assert!(
        run.stdout.contains("Installed 2 packages"),
        "{}",
        run.stdout
    );
    assert_eq!(p.read("dbt_packages/hub_dep/VERSION"), "0.1.0");
    assert_eq!(p.read("dbt_packages/hub_utils/VERSION"), "1.0.0");
    assert!(
        p.read("package-lock.yml").starts_with(
            "packages:\n  - name: hub_dep\n    package: org/hub_dep\n    version: 0.1.0\n  - name: hub_utils\n    package: org/hub_utils\n    version: 1.0.0\n"
        ),
        "{}",
        p.read("package-lock.yml")
    );

    // The root's own range is intersected with the package's.
    p.write(
        "packages.yml",
        "packages:\n  - package: org/hub_dep\n    version: 0.1.0\n  - package: org/hub_utils\n    version: \">=1.1.0\"\n",
    );
    let run = p.kiln_env(&["deps"], &hub_env(&hub));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("no version of `org/hub_utils` satisfies both >=1.1.0 (by packages.yml) and >=1.0.0, <1.1.0 (by hub_dep)"),
        "{}",
        run.stderr
    );
    assert_eq!(p.read("dbt_packages/hub_utils/VERSION"), "1.0.0");
}

#[test]
fn unknown_hub_package_exits_2_and_keeps_the_previous_install() {
    let hub = hub_with_utils();
    let p = project(
        "packages:\n  - package: org/hub_utils\n    version: 1.0.0\n  - local: ../local_pkg\n",
        &["local_pkg"],
    );
    p.kiln_env(&["deps"], &hub_env(&hub)).ok();
    let before = snapshot(&p.root);

    let listed = "packages:\n  - package: org/hub_utils\n    version: 1.1.0\n  - package: org/hub_utilz\n    version: 1.0.0\n";
    p.write("packages.yml", listed);
    let run = p.kiln_env(&["deps"], &hub_env(&hub));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("package `org/hub_utilz` is not on the package hub"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("packages.yml:4:5"), "{}", run.stderr);
    assert!(
        run.stderr.contains("did you mean `org/hub_utils`?"),
        "{}",
        run.stderr
    );

    let mut after = snapshot(&p.root);
    assert_eq!(after.remove("packages.yml").unwrap(), listed.as_bytes());
    let mut before = before;
    before.remove("packages.yml");
    assert_eq!(before, after);
    assert_eq!(p.read("dbt_packages/hub_utils/VERSION"), "1.0.0");
    assert!(leftovers(&p.root).is_empty(), "{:?}", leftovers(&p.root));
}

#[test]
fn unreachable_hub_exits_2_and_keeps_the_previous_install() {
    let hub = hub_with_utils();
    let p = project(
        "packages:\n  - package: org/hub_utils\n    version: 1.0.0\n",
        &[],
    );
    p.kiln_env(&["deps"], &hub_env(&hub)).ok();
    let before = snapshot(&p.root);

    // A port nobody listens on any more.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    let run = p.kiln_env(
        &["deps", "--upgrade"],
        &[("KILN_PACKAGE_HUB_URL", closed.as_str())],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot reach the package hub"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("DBT_PACKAGE_HUB_URL"), "{}", run.stderr);
    assert_eq!(before, snapshot(&p.root));
    assert!(leftovers(&p.root).is_empty());
}
