//! File-system steps shared by the resolvers: copying a package tree, the work folder that
//! holds downloads and the staged install, and swapping the staged install in.

use std::path::{Path, PathBuf};

/// Copies the directory tree `from` to `to` (which must not exist), leaving out `.git`.
/// Symlinks inside the tree are copied as the files or folders they point at.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let src = entry.path();
        let dest = to.join(&name);
        if src.is_dir() {
            copy_dir(&src, &dest)?;
        } else {
            std::fs::copy(&src, &dest)?;
        }
    }
    Ok(())
}

/// A folder next to the install path holding downloads and the staged install; removed when
/// dropped, so a failed `kiln deps` leaves nothing behind but the previous install.
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// Creates `.<install folder name>.kiln-deps-<pid>` beside `install_path`, on the same
    /// file system so the staged install can be renamed into place.
    pub fn create(install_path: &Path) -> std::io::Result<WorkDir> {
        let parent = install_path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let name = install_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "packages".into());
        let path = parent.join(format!(".{name}.kiln-deps-{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        std::fs::create_dir_all(path.join("downloads"))?;
        std::fs::create_dir_all(path.join("staged"))?;
        Ok(WorkDir { path })
    }

    /// Where downloads and clones go.
    pub fn downloads(&self) -> PathBuf {
        self.path.join("downloads")
    }

    /// The staged install: one folder per package.
    pub fn staged(&self) -> PathBuf {
        self.path.join("staged")
    }

    /// Replaces `install_path` with the staged install. The previous install is moved aside
    /// first and put back if the second rename fails.
    pub fn swap_into(&self, install_path: &Path) -> std::io::Result<()> {
        let old = self.path.join("previous");
        let had_previous = install_path.symlink_metadata().is_ok();
        if had_previous {
            std::fs::rename(install_path, &old)?;
        }
        if let Err(e) = std::fs::rename(self.staged(), install_path) {
            if had_previous {
                let _ = std::fs::rename(&old, install_path);
            }
            return Err(e);
        }
        Ok(())
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        // remove_dir_all removes symlinks themselves, never what they point at.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
