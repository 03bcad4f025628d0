//! The agent's errors: each names the file, map, program or hook it is about and,
//! where there is one, the remedy.

use std::path::PathBuf;

/// Why the agent cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The binary carries no eBPF object (clang or the C source was missing at build time).
    #[error("polc was built without its eBPF object: install clang and libbpf-dev and rebuild")]
    NoObject,
    /// The BPF LSM is not in the kernel's active LSM list.
    #[error(
        "the BPF LSM is not active on this kernel (active LSMs: {active}); enable it by booting with `lsm={suggested}` on the kernel command line (the kernel needs CONFIG_BPF_LSM=y)"
    )]
    LsmInactive {
        /// The content of /sys/kernel/security/lsm.
        active: String,
        /// A value for `lsm=` that adds `bpf`.
        suggested: String,
    },
    /// /sys/kernel/security/lsm cannot be read.
    #[error(
        "cannot read {path} to see whether the BPF LSM is active (is securityfs mounted? mount -t securityfs securityfs /sys/kernel/security)"
    )]
    SecurityFs {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No BPF filesystem where polc pins.
    #[error("{path} is not a BPF filesystem (needed to pin polc's maps and links); mount it: mount -t bpf bpf {path}")]
    NoBpffs {
        /// The directory.
        path: PathBuf,
    },
    /// The process lacks privileges.
    #[error(
        "polc needs root or the capabilities CAP_BPF, CAP_PERFMON and CAP_MAC_ADMIN to load and attach LSM programs; missing: {missing}"
    )]
    Privileges {
        /// Missing capabilities.
        missing: String,
    },
    /// The kernel's BTF cannot be read.
    #[error("cannot read the kernel's BTF from /sys/kernel/btf/vmlinux (the kernel needs CONFIG_DEBUG_INFO_BTF=y)")]
    Btf(#[source] Box<aya::BtfError>),
    /// aya refused the object.
    #[error("cannot load the eBPF object")]
    Load(#[source] Box<aya::EbpfError>),
    /// A program of the attach table is not in the object.
    #[error("program `{program}` (hook {hook}) is not in the eBPF object")]
    MissingProgram {
        /// Program.
        program: &'static str,
        /// LSM hook.
        hook: &'static str,
    },
    /// A program could not be loaded (verifier) or attached.
    #[error("cannot {step} program `{program}` for LSM hook {hook}")]
    Program {
        /// `load` or `attach`.
        step: &'static str,
        /// Program.
        program: &'static str,
        /// LSM hook.
        hook: &'static str,
        /// Why (the verifier log, for a load).
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    /// A map of the ABI is missing from the object or the pins.
    #[error("map `{map}` is not in the eBPF object")]
    MissingMap {
        /// Map.
        map: &'static str,
    },
    /// A map operation failed.
    #[error("map `{map}`: cannot {op}")]
    Map {
        /// Map.
        map: &'static str,
        /// What was tried.
        op: &'static str,
        /// Why.
        #[source]
        source: Box<aya::maps::MapError>,
    },
    /// A map has another layout than the ABI.
    #[error("map `{map}` has a type, key size or value size other than the ABI's")]
    MapLayout {
        /// Map.
        map: &'static str,
    },
    /// Pinning failed.
    #[error("cannot pin {what} at {path}")]
    Pin {
        /// Map or program.
        what: String,
        /// Pin path.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<aya::pin::PinError>,
    },
    /// Pinned objects cannot be reopened.
    #[error("cannot open the pinned {what} at {path}: {reason}; remove {dir} (it holds polc's enforcement) and retry")]
    Pinned {
        /// Map or link.
        what: String,
        /// Pin path.
        path: PathBuf,
        /// Why.
        reason: String,
        /// The pin directory.
        dir: PathBuf,
    },
    /// A file operation failed.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A bundle file is not valid.
    #[error("bundle {path}")]
    Bundle {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: polc_compiler::backend::bpf::bundle::DecodeError,
    },
    /// A bundle entry does not fit its map.
    #[error(
        "bundle for `{target}`: map `{map}` holds an entry of {key} + {value} bytes, the ABI says {want_key} + {want_value}"
    )]
    BundleEntry {
        /// Bundle target.
        target: String,
        /// Map.
        map: String,
        /// Key size.
        key: usize,
        /// Value size.
        value: usize,
        /// ABI key size.
        want_key: usize,
        /// ABI value size.
        want_value: usize,
    },
    /// A bundle names a map the ABI does not have.
    #[error("bundle for `{target}` has map `{map}`, which is not a bundle map of the ABI")]
    UnknownMap {
        /// Bundle target.
        target: String,
        /// Map.
        map: String,
    },
    /// Every slot is taken.
    #[error("no free policy slot: all {max} slots are in use")]
    NoSlot {
        /// Number of slots.
        max: u32,
    },
    /// No cgroup v2 hierarchy.
    #[error(
        "no cgroup v2 hierarchy is mounted (see /proc/self/mountinfo); mount one: mount -t cgroup2 none /sys/fs/cgroup"
    )]
    NoCgroup2,
}
