//! cgroup v2: where the hierarchy is, a cgroup of one's own, and its id.
//!
//! The id of a cgroup v2 directory is its inode number, which is what
//! `bpf_get_current_cgroup_id` returns for a task inside it, so binding a cgroup is
//! `polc_cgroups[inode] = slot`.

use crate::Error;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// The cgroup v2 mount point.
///
/// # Errors
/// [`Error::NoCgroup2`] when none is mounted.
pub fn root() -> Result<PathBuf, Error> {
    crate::checks::mount_point(&crate::checks::mountinfo()?, "cgroup2").ok_or(Error::NoCgroup2)
}

/// The id of a cgroup directory (its inode number).
///
/// # Errors
/// [`Error::Io`].
pub fn id(dir: &Path) -> Result<u64, Error> {
    std::fs::metadata(dir).map(|m| m.ino()).map_err(|source| Error::Io { path: dir.into(), source })
}

/// A cgroup made for one session, removed by [`Cgroup::remove`] (or on drop).
#[derive(Debug)]
pub struct Cgroup {
    /// Its directory.
    pub dir: PathBuf,
    /// Its id.
    pub id: u64,
    removed: bool,
}

impl Cgroup {
    /// Make `root/name`.
    ///
    /// # Errors
    /// [`Error::Io`] when the directory cannot be made (not root, or a cgroup v1 system).
    pub fn create(root: &Path, name: &str) -> Result<Cgroup, Error> {
        let dir = root.join(name);
        std::fs::create_dir(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
        let id = match id(&dir) {
            Ok(id) => id,
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(e);
            }
        };
        Ok(Cgroup { dir, id, removed: false })
    }

    /// Kill what is left in the cgroup and remove it.
    ///
    /// # Errors
    /// [`Error::Io`] when the directory cannot be removed.
    pub fn remove(&mut self) -> Result<(), Error> {
        if self.removed {
            return Ok(());
        }
        let procs = self.dir.join("cgroup.procs");
        let busy = |p: &Path| std::fs::read_to_string(p).map(|s| !s.trim().is_empty()).unwrap_or(false);
        if busy(&procs) {
            // cgroup.kill (Linux 5.14+) kills every process in the cgroup.
            let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
            for _ in 0..100 {
                if !busy(&procs) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        std::fs::remove_dir(&self.dir).map_err(|source| Error::Io { path: self.dir.clone(), source })?;
        self.removed = true;
        Ok(())
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

/// Move the calling process into the cgroup `dir`.
///
/// # Errors
/// [`Error::Io`].
pub fn enter(dir: &Path) -> Result<(), Error> {
    let procs = dir.join("cgroup.procs");
    std::fs::write(&procs, std::process::id().to_string()).map_err(|source| Error::Io { path: procs, source })
}
