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

/// Is `dir` on the cgroup v2 file system mounted at `root` (the same device)? Inode
/// numbers of another file system are not cgroup ids.
///
/// # Errors
/// [`Error::Io`] when either cannot be read.
pub fn on_cgroup2(root: &Path, dir: &Path) -> Result<bool, Error> {
    let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).map_err(|source| Error::Io { path: p.into(), source });
    Ok(dev(root)? == dev(dir)?)
}

/// Does the cgroup with id `id` still exist? Asked of the kernel by file handle
/// (`open_by_handle_at` on the cgroup v2 mount at `root`: a cgroup's handle is its
/// id, and a removed cgroup's is stale), so the answer does not depend on walking a
/// tree or on which part of it is visible. Needs `CAP_DAC_READ_SEARCH`.
///
/// # Errors
/// Any answer but "it exists" or "it is gone" (ESTALE): a kernel without file
/// handles on cgroupfs, a missing capability.
#[allow(unsafe_code)]
pub fn exists(root: &Path, id: u64) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd as _;
    /// `struct file_handle` with room for a kernfs handle (`FILEID_KERNFS`: the
    /// 64-bit kernfs node id).
    #[repr(C)]
    struct KernfsHandle {
        handle_bytes: u32,
        handle_type: i32,
        f_handle: [u8; 8],
    }
    const FILEID_KERNFS: i32 = 0xfe;
    let mount = std::fs::File::open(root)?;
    let mut h = KernfsHandle { handle_bytes: 8, handle_type: FILEID_KERNFS, f_handle: id.to_ne_bytes() };
    // SAFETY: `h` is a valid `struct file_handle` of 8 handle bytes, alive for the
    // call; the kernel reads `handle_bytes` and at most that many bytes after it.
    let fd = unsafe {
        libc::open_by_handle_at(
            mount.as_raw_fd(),
            (&raw mut h).cast::<libc::file_handle>(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_DIRECTORY,
        )
    };
    if fd >= 0 {
        // SAFETY: `fd` was just opened by this call and is owned here.
        unsafe { libc::close(fd) };
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ESTALE) => Ok(false),
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cgroup made and removed here is seen to exist, then to be gone; another
    /// file system's directory is not on cgroupfs. Where this process may not make
    /// cgroups or open handles (not root), there is nothing to check, and it says so.
    #[test]
    fn a_removed_cgroup_is_gone() {
        let Ok(root) = super::root() else {
            eprintln!("no cgroup v2 hierarchy: nothing to check");
            return;
        };
        let dir = root.join(format!("polc-test-exists-{}", std::process::id()));
        if std::fs::create_dir(&dir).is_err() {
            eprintln!("cannot make a cgroup under {}: nothing to check", root.display());
            return;
        }
        let cg = id(&dir).unwrap();
        let before = exists(&root, cg);
        std::fs::remove_dir(&dir).unwrap();
        let before = match before {
            Ok(b) => b,
            Err(e) => {
                eprintln!("open_by_handle_at: {e}: nothing to check");
                return;
            }
        };
        assert!(before, "a live cgroup exists");
        assert!(!exists(&root, cg).unwrap(), "a removed cgroup is gone");
        assert!(on_cgroup2(&root, &root).unwrap());
        assert!(!on_cgroup2(&root, &std::env::temp_dir()).unwrap());
    }
}
