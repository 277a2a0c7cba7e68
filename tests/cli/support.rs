//! Helpers: copy a fixture to a temp dir and run `kiln` in it with a clean environment.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fixture project copied to a temp dir.
pub struct TempProject {
    /// Keeps the directory alive.
    _dir: tempfile::TempDir,
    /// The project root.
    pub root: PathBuf,
    /// A fake home directory so the user's own profiles never leak in.
    pub home: PathBuf,
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

fn copy_dir(from: &Path, to: &Path) {
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

impl TempProject {
    /// Copies `tests/fixtures/<name>` into a fresh temp dir.
    pub fn fixture(name: &str) -> TempProject {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        copy_dir(&fixture_path(name), &root);
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        TempProject {
            _dir: dir,
            root,
            home,
        }
    }

    /// An empty project dir with the given files.
    pub fn with_files(files: &[(&str, &str)]) -> TempProject {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        std::fs::create_dir_all(&root).unwrap();
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        TempProject {
            _dir: dir,
            root,
            home,
        }
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
}

impl Run {
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
