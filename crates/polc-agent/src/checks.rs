//! Can this kernel and this process enforce? Each check is a pure function over the
//! text the kernel shows (`/sys/kernel/security/lsm`, `/proc/self/status`,
//! `/proc/self/mountinfo`), so its verdict and message are unit-tested, plus a thin
//! wrapper that reads the real file.

use crate::Error;
use std::path::{Path, PathBuf};

/// Where the kernel lists its active LSMs.
pub const LSM_FILE: &str = "/sys/kernel/security/lsm";

/// Check the content of `/sys/kernel/security/lsm`: `bpf` must be listed.
///
/// # Errors
/// [`Error::LsmInactive`] naming the active LSMs and the `lsm=` value to boot with.
pub fn lsm_list(content: &str) -> Result<(), Error> {
    let active: Vec<&str> = content.trim().split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if active.contains(&"bpf") {
        return Ok(());
    }
    let mut suggested: Vec<&str> = active.iter().copied().filter(|s| *s != "capability").collect();
    suggested.push("bpf");
    Err(Error::LsmInactive {
        active: if active.is_empty() { "none".into() } else { active.join(",") },
        suggested: suggested.join(","),
    })
}

/// Read [`LSM_FILE`] and check it with [`lsm_list`].
///
/// # Errors
/// [`Error::SecurityFs`] when the file cannot be read, else as [`lsm_list`].
pub fn lsm() -> Result<(), Error> {
    let content = std::fs::read_to_string(LSM_FILE)
        .map_err(|source| Error::SecurityFs { path: PathBuf::from(LSM_FILE), source })?;
    lsm_list(&content)
}

/// `CAP_SYS_ADMIN`.
const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_MAC_ADMIN`.
const CAP_MAC_ADMIN: u32 = 33;
/// `CAP_PERFMON`.
const CAP_PERFMON: u32 = 38;
/// `CAP_BPF`.
const CAP_BPF: u32 = 39;

/// Check the `CapEff:` line of `/proc/self/status`: loading LSM programs needs
/// `CAP_BPF` and `CAP_PERFMON` (or `CAP_SYS_ADMIN`), attaching them `CAP_MAC_ADMIN`.
///
/// # Errors
/// [`Error::Privileges`] naming the missing capabilities.
pub fn capabilities(status: &str) -> Result<(), Error> {
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let has = |c: u32| eff & (1u64 << c) != 0;
    let mut missing = Vec::new();
    if !has(CAP_SYS_ADMIN) {
        if !has(CAP_BPF) {
            missing.push("CAP_BPF");
        }
        if !has(CAP_PERFMON) {
            missing.push("CAP_PERFMON");
        }
    }
    if !has(CAP_MAC_ADMIN) {
        missing.push("CAP_MAC_ADMIN");
    }
    if missing.is_empty() { Ok(()) } else { Err(Error::Privileges { missing: missing.join(", ") }) }
}

/// Read `/proc/self/status` and check it with [`capabilities`].
///
/// # Errors
/// As [`capabilities`]; [`Error::Io`] when the file cannot be read.
pub fn privileges() -> Result<(), Error> {
    let path = "/proc/self/status";
    let status = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.into(), source })?;
    capabilities(&status)
}

/// One line of `/proc/self/mountinfo`: (mount point, filesystem type).
fn mounts(mountinfo: &str) -> impl Iterator<Item = (String, &str)> {
    mountinfo.lines().filter_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let point = left.split(' ').nth(4)?;
        let fstype = right.split(' ').next()?;
        Some((unescape(point), fstype))
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                out.push((oct[0] - b'0') * 64 + (oct[1] - b'0') * 8 + (oct[2] - b'0'));
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Is `dir` (or a directory above it) a mount of type `fstype` in `mountinfo`? The
/// deepest mount point at or above `dir` decides.
pub fn mounted_as(mountinfo: &str, dir: &Path, fstype: &str) -> bool {
    let mut best: Option<(usize, bool)> = None;
    for (point, t) in mounts(mountinfo) {
        if dir.starts_with(&point) {
            let depth = Path::new(&point).components().count();
            if best.is_none_or(|(d, _)| depth >= d) {
                best = Some((depth, t == fstype));
            }
        }
    }
    best.is_some_and(|(_, ok)| ok)
}

/// The first mount point of type `fstype` in `mountinfo`.
pub fn mount_point(mountinfo: &str, fstype: &str) -> Option<PathBuf> {
    mounts(mountinfo).find(|(_, t)| *t == fstype).map(|(p, _)| PathBuf::from(p))
}

/// Read `/proc/self/mountinfo`.
///
/// # Errors
/// [`Error::Io`].
pub fn mountinfo() -> Result<String, Error> {
    let path = "/proc/self/mountinfo";
    std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.into(), source })
}

/// Is `dir` on a BPF filesystem?
///
/// # Errors
/// [`Error::NoBpffs`] naming the directory and the mount command.
pub fn bpffs(dir: &Path) -> Result<(), Error> {
    if mounted_as(&mountinfo()?, dir, "bpf") { Ok(()) } else { Err(Error::NoBpffs { path: dir.to_path_buf() }) }
}

/// Every check in order: LSM, privileges, bpffs at `pin_dir`.
///
/// # Errors
/// The first check that fails.
pub fn all(pin_dir: &Path) -> Result<(), Error> {
    lsm()?;
    privileges()?;
    bpffs(pin_dir.parent().unwrap_or(pin_dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpf_listed_passes() {
        assert!(lsm_list("lockdown,capability,landlock,yama,apparmor,bpf\n").is_ok());
    }

    #[test]
    fn missing_bpf_names_active_lsms_and_the_boot_parameter() {
        let e = lsm_list("lockdown,capability,landlock,yama,apparmor").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("active LSMs: lockdown,capability,landlock,yama,apparmor"), "{e}");
        assert!(e.contains("`lsm=lockdown,landlock,yama,apparmor,bpf`"), "{e}");
        assert!(e.contains("CONFIG_BPF_LSM=y"), "{e}");
        let e = lsm_list("").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("active LSMs: none") && e.contains("`lsm=bpf`"), "{e}");
        // `bpfx` is not `bpf`.
        assert!(lsm_list("capability,bpfx").is_err());
    }

    #[test]
    fn capabilities_root_and_missing() {
        assert!(capabilities("Name:\tx\nCapEff:\t000001ffffffffff\n").is_ok());
        let e = capabilities("CapEff:\t0000000000000000\n").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("missing: CAP_BPF, CAP_PERFMON, CAP_MAC_ADMIN"), "{e}");
        // CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON, not for CAP_MAC_ADMIN.
        let e =
            capabilities(&format!("CapEff:\t{:016x}\n", 1u64 << 21)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.ends_with("missing: CAP_MAC_ADMIN"), "{e}");
        let ok = (1u64 << 39) | (1u64 << 38) | (1u64 << 33);
        assert!(capabilities(&format!("CapEff:\t{ok:016x}\n")).is_ok());
    }

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 22 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw
30 25 0:26 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate
35 25 0:30 / /sys/fs/bpf rw,nosuid shared:14 - bpf bpf rw,mode=700
36 22 0:31 / /mnt/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn mounts_are_found() {
        assert!(mounted_as(MOUNTINFO, Path::new("/sys/fs/bpf"), "bpf"));
        assert!(mounted_as(MOUNTINFO, Path::new("/sys/fs/bpf/polc"), "bpf"));
        assert!(!mounted_as(MOUNTINFO, Path::new("/sys/fs"), "bpf"));
        assert!(!mounted_as(MOUNTINFO, Path::new("/tmp"), "bpf"));
        assert!(mounted_as(MOUNTINFO, Path::new("/mnt/with space/x"), "tmpfs"));
        assert_eq!(mount_point(MOUNTINFO, "cgroup2"), Some(PathBuf::from("/sys/fs/cgroup")));
        assert_eq!(mount_point(MOUNTINFO, "nfs"), None);
        let e = Error::NoBpffs { path: "/sys/fs/bpf".into() }.to_string();
        assert!(e.contains("mount -t bpf bpf /sys/fs/bpf"), "{e}");
    }
}
