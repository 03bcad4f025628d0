//! polc's eBPF ABI: the keys, values and events of the maps the compiler fills, the
//! node agent loads and the LSM programs read, mirrored by hand from the one C header
//! `ebpf-lsm/include/polc_abi.h`.
//!
//! Every struct is `#[repr(C)]` with explicit padding, a compile-time check of its
//! size and of every field offset, and a little-endian encoder and decoder
//! (`to_bytes`, `from_bytes`) that write exactly the bytes the kernel sees. The
//! crate's tests compile the header with clang, for the BPF target and for the host,
//! and check that C and Rust agree on sizes, offsets, constants and names.
//!
//! The header's comment says how the kernel programs use the maps; [`decision_beats`],
//! [`rest`] and [`InfixCand::fits`] are the Rust twins of its inline helpers.

#![no_std]

use core::mem::{offset_of, size_of};

/// Version of this ABI; a bundle built for another version is refused.
pub const ABI_VERSION: u32 = 4;
/// Bytes of a path (or last path segment) kept in map keys (no NUL needed).
pub const PATH_MAX: usize = 248;
/// `TASK_COMM_LEN`.
pub const COMM_LEN: usize = 16;
/// Bytes of the path an event carries, NUL included.
pub const EVENT_PATH_MAX: usize = 256;
/// Size of the per-op arrays of [`PolicyConfig`].
pub const OP_MAX: usize = 16;
/// Candidates per [`InfixValue`].
pub const INFIX_CANDIDATES: usize = 4;
/// Port ranges up to this many ports are expanded into one entry per port.
pub const PORT_RANGE_MAX: u32 = 1024;
/// Bits of the fixed part of an LPM key before the path or address.
pub const KEY_HEADER_BITS: u32 = 64;
/// Infix candidate: any length / any number of `/`.
pub const ANY: u16 = 0xffff;

/// `BPF_MAP_TYPE_HASH`.
pub const MAP_TYPE_HASH: u32 = 1;
/// `BPF_MAP_TYPE_ARRAY`.
pub const MAP_TYPE_ARRAY: u32 = 2;
/// `BPF_MAP_TYPE_PERCPU_ARRAY`.
pub const MAP_TYPE_PERCPU_ARRAY: u32 = 6;
/// `BPF_MAP_TYPE_LPM_TRIE`.
pub const MAP_TYPE_LPM_TRIE: u32 = 11;
/// `BPF_MAP_TYPE_RINGBUF`.
pub const MAP_TYPE_RINGBUF: u32 = 27;
/// `BPF_MAP_TYPE_INODE_STORAGE`.
pub const MAP_TYPE_INODE_STORAGE: u32 = 28;
/// `BPF_MAP_TYPE_TASK_STORAGE`.
pub const MAP_TYPE_TASK_STORAGE: u32 = 29;

/// `polc_host.flags` bits.
pub mod host_flags {
    /// Remember the silent Allow decisions of `file_open` (the open cache).
    pub const OPEN_CACHE: u32 = 1;
    /// Read open cache entries under their lock on x86 too, as other architectures
    /// do (the agent never sets it: the VM benchmark compares the two reads in one
    /// boot by setting it with bpftool).
    pub const OPEN_CACHE_LOCKED: u32 = 2;
}

/// An open cache entry older than this many jiffies is stale.
pub const OPEN_CACHE_TTL_JIFFIES: u64 = 10_000;

/// Indices of `polc_counts`.
pub mod count {
    /// Links and unlinks of the whole system.
    pub const NAMES: u32 = 0;
    /// Open cache entries now.
    pub const ENTRIES: u32 = 1;
    /// Entries of the map.
    pub const COUNT: u32 = 2;
}

/// Indices of `polc_cache_stat` (per-CPU counters).
pub mod cache_stat {
    /// Opens let through from the cache.
    pub const HITS: u32 = 0;
    /// Opens of an inode whose entry was stale or held other ops.
    pub const STALE: u32 = 1;
    /// Entries not made because `polc_host.cache_max` was reached.
    pub const FULL: u32 = 2;
    /// Entries of the map.
    pub const COUNT: u32 = 3;
}

/// `enum polc_action`.
pub mod action {
    /// Let it happen.
    pub const ALLOW: u8 = 0;
    /// Let it happen and emit an event.
    pub const AUDIT: u8 = 1;
    /// Deny with EPERM and emit an event.
    pub const BLOCK: u8 = 2;
}

/// `enum polc_op`: the operations a hook decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Op {
    /// Executing a file (`bprm_check_security`).
    Exec = 0,
    /// Opening a file for reading.
    Read = 1,
    /// Opening a file for writing or with `O_TRUNC`, truncating it, creating it.
    Write = 2,
    /// Outgoing connection (PreventionPolicy/RuntimePolicy egress).
    Connect = 3,
    /// Incoming connection (PreventionPolicy ingress).
    Accept = 4,
    /// Creating a raw or packet socket.
    RawSocket = 5,
    /// Using a capability.
    Capability = 6,
    /// Outgoing connection (NetworkAccessPolicy egress).
    NapConnect = 7,
    /// Incoming connection (NetworkAccessPolicy ingress).
    NapAccept = 8,
}

impl Op {
    /// Every op, in number order.
    pub const ALL: [Op; 9] = [
        Op::Exec,
        Op::Read,
        Op::Write,
        Op::Connect,
        Op::Accept,
        Op::RawSocket,
        Op::Capability,
        Op::NapConnect,
        Op::NapAccept,
    ];

    /// The op with number `n`.
    pub fn from_u8(n: u8) -> Option<Op> {
        Op::ALL.get(usize::from(n)).copied()
    }

    /// Lowercase name, as in the JSON dump.
    pub fn name(self) -> &'static str {
        match self {
            Op::Exec => "exec",
            Op::Read => "read",
            Op::Write => "write",
            Op::Connect => "connect",
            Op::Accept => "accept",
            Op::RawSocket => "raw-socket",
            Op::Capability => "capability",
            Op::NapConnect => "nap-connect",
            Op::NapAccept => "nap-accept",
        }
    }
}

/// `enum polc_rest`: what follows the matched prefix of an LPM key.
pub mod rest_class {
    /// Nothing: the key equals the prefix.
    pub const EQUAL: u8 = 0;
    /// Bytes without `/`.
    pub const DIRECT: u8 = 1;
    /// Bytes with a `/`.
    pub const DEEP: u8 = 2;
}

/// `enum polc_proto`.
pub mod proto {
    /// Any protocol.
    pub const ANY: u8 = 0;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// `POLC_LOOKUP_*`: which maps hold entries for a (policy, op).
pub mod lookup {
    /// `polc_path_exact`.
    pub const EXACT: u16 = 1 << 0;
    /// `polc_path_pfx`.
    pub const PREFIX: u16 = 1 << 1;
    /// `polc_path_sfx`.
    pub const SUFFIX: u16 = 1 << 2;
    /// `polc_name_pfx`.
    pub const NAME: u16 = 1 << 3;
    /// `polc_path_infix`.
    pub const INFIX: u16 = 1 << 4;
    /// `polc_comm`.
    pub const COMM: u16 = 1 << 5;
    /// `polc_net4`.
    pub const NET4: u16 = 1 << 6;
    /// `polc_net6`.
    pub const NET6: u16 = 1 << 7;
    /// `polc_id`.
    pub const ID: u16 = 1 << 8;
    /// `polc_par_exact` / `polc_par_pfx`.
    pub const PARENT: u16 = 1 << 9;
    /// `polc_dir_guard`.
    pub const GUARD: u16 = 1 << 10;
    /// `polc_guard_deep`.
    pub const GUARD_DEEP: u16 = 1 << 11;
    /// `polc_guard_sfx`.
    pub const GUARD_SFX: u16 = 1 << 12;
}

/// `POLC_EVENT_*` flags.
pub mod event_flags {
    /// No rule matched: the op's default decided.
    pub const DEFAULT: u8 = 1 << 0;
    /// The path is cut to `EVENT_PATH_MAX - 1` bytes.
    pub const PATH_TRUNCATED: u8 = 1 << 1;
    /// The path could not be resolved.
    pub const PATH_UNRESOLVED: u8 = 1 << 2;
    /// The task started before the agent: its parent class is unknown.
    pub const PARENT_UNKNOWN: u8 = 1 << 3;
    /// A rename or link moved this name; decided for what the move exposes (the
    /// event's op is the deciding rule's op).
    pub const NAME_MOVED: u8 = 1 << 4;
    /// Decided by a rule on paths below this directory (`polc_dir_guard`).
    pub const BELOW: u8 = 1 << 5;
    /// A descriptor received from another process (`SCM_RIGHTS`, `pidfd_getfd`),
    /// decided as an open of its file.
    pub const RECEIVED: u8 = 1 << 6;
}

/// `POLC_CONFIG_*` bits of [`PolicyConfig::flags`].
pub mod config_flags {
    /// Also report ALLOW decisions of governed ops (normally only AUDIT and BLOCK).
    pub const EVENT_ALLOW: u32 = 1 << 0;
}

/// `POLC_POLICY_ID`: the policy field of every key.
pub const fn policy_id(generation: u16, slot: u16) -> u32 {
    ((generation as u32) << 16) | slot as u32
}

/// `POLC_PATH_PREFIXLEN`: the prefix length of a path LPM key holding `bytes` bytes.
pub const fn path_prefixlen(bytes: usize) -> u32 {
    KEY_HEADER_BITS + 8 * bytes as u32
}

/// `POLC_NET_PREFIXLEN`: the prefix length of a network key for a CIDR prefix.
pub const fn net_prefixlen(bits: u8) -> u32 {
    KEY_HEADER_BITS + bits as u32
}

/// A field of an ABI struct: written and read little-endian at its offset.
pub trait Field: Sized {
    /// Size in bytes.
    const SIZE: usize;
    /// Write into `out` (at least `SIZE` bytes).
    fn put(&self, out: &mut [u8]);
    /// Read from `b` (at least `SIZE` bytes).
    fn get(b: &[u8]) -> Self;
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            const SIZE: usize = size_of::<$t>();
            fn put(&self, out: &mut [u8]) {
                out[..size_of::<$t>()].copy_from_slice(&self.to_le_bytes());
            }
            fn get(b: &[u8]) -> Self {
                let mut a = [0u8; size_of::<$t>()];
                a.copy_from_slice(&b[..size_of::<$t>()]);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}
int_field!(u8, u16, u32, u64);

impl<T: Field, const N: usize> Field for [T; N] {
    const SIZE: usize = T::SIZE * N;
    fn put(&self, out: &mut [u8]) {
        for (i, x) in self.iter().enumerate() {
            x.put(&mut out[i * T::SIZE..]);
        }
    }
    fn get(b: &[u8]) -> Self {
        core::array::from_fn(|i| T::get(&b[i * T::SIZE..]))
    }
}

/// Where the fields of a struct are, for the C cross-check.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// `struct` name in the header.
    pub c_name: &'static str,
    /// `sizeof`.
    pub size: usize,
    /// `_Alignof`.
    pub align: usize,
    /// (field, `offsetof`), in declaration order.
    pub fields: &'static [(&'static str, usize)],
}

macro_rules! abi_struct {
    (
        $(#[$m:meta])*
        pub struct $name:ident ($c:literal, size $size:literal, align $align:literal) {
            $( $(#[$fm:meta])* pub $f:ident : $t:ty = $off:literal, )*
        }
    ) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name {
            $( $(#[$fm])* pub $f: $t, )*
        }

        const _: () = assert!(size_of::<$name>() == $size);
        const _: () = assert!(core::mem::align_of::<$name>() == $align);
        $( const _: () = assert!(offset_of!($name, $f) == $off); )*

        impl $name {
            /// `sizeof` of the C struct.
            pub const SIZE: usize = $size;
            /// Layout, for the C cross-check.
            pub const LAYOUT: Layout = Layout {
                c_name: $c,
                size: $size,
                align: $align,
                fields: &[$( (stringify!($f), offset_of!($name, $f)) ),*],
            };

            /// The bytes the kernel sees.
            pub fn to_bytes(&self) -> [u8; $size] {
                let mut out = [0u8; $size];
                Field::put(self, &mut out);
                out
            }

            /// Decode; `None` unless `b` is exactly `SIZE` bytes.
            pub fn from_bytes(b: &[u8]) -> Option<Self> {
                (b.len() == $size).then(|| <Self as Field>::get(b))
            }

            /// All zero.
            pub fn zeroed() -> Self {
                <Self as Field>::get(&[0u8; $size])
            }
        }

        impl Field for $name {
            const SIZE: usize = $size;
            fn put(&self, out: &mut [u8]) {
                $( Field::put(&self.$f, &mut out[offset_of!($name, $f)..]); )*
            }
            fn get(b: &[u8]) -> Self {
                $name { $( $f: Field::get(&b[offset_of!($name, $f)..]), )* }
            }
        }
    };
}

abi_struct! {
    /// `struct polc_decision`: one rule's verdict; rule 0 means none.
    pub struct Decision("polc_decision", size 12, align 4) {
        /// Stable rule id; 0 = no rule.
        pub rule_id: u32 = 0,
        /// Precedence: literal prefix << 16 | class << 8 | extra.
        pub rank: u32 = 4,
        /// Effective action (DryRun folded in).
        pub action: u8 = 8,
        /// The action as written (breaks rank ties).
        pub written: u8 = 9,
        /// Zero.
        pub pad: [u8; 2] = 10,
    }
}

abi_struct! {
    /// `struct polc_path_key`: `polc_path_exact` key and the data of the path LPM keys.
    pub struct PathKey("polc_path_key", size 256, align 4) {
        /// `POLC_POLICY_ID`.
        pub policy: u32 = 0,
        /// [`Op`].
        pub op: u16 = 4,
        /// Parent class; 0 = rules without a parent condition.
        pub pclass: u16 = 6,
        /// Zero-padded bytes.
        pub path: [u8; PATH_MAX] = 8,
    }
}

abi_struct! {
    /// `struct polc_path_lpm_key`.
    pub struct PathLpmKey("polc_path_lpm_key", size 260, align 4) {
        /// `POLC_PATH_PREFIXLEN(bytes)`.
        pub prefixlen: u32 = 0,
        /// The data.
        pub key: PathKey = 4,
    }
}

abi_struct! {
    /// `struct polc_lpm_value`: decisions of the longest prefix by what follows it.
    pub struct LpmValue("polc_lpm_value", size 44, align 4) {
        /// The key equals the prefix.
        pub equal: Decision = 0,
        /// The rest has no `/`.
        pub direct: Decision = 12,
        /// The rest has a `/`.
        pub deep: Decision = 24,
        /// Node id for `polc_path_infix`; 0 = none.
        pub node: u32 = 36,
        /// Bytes of the prefix (the key's `prefixlen` without the header, in bytes),
        /// so that one lookup tells the kernel what follows the prefix.
        pub len: u32 = 40,
    }
}

abi_struct! {
    /// `struct polc_infix_key`.
    pub struct InfixKey("polc_infix_key", size 16, align 4) {
        /// Policy.
        pub policy: u32 = 0,
        /// Op.
        pub op: u16 = 4,
        /// Parent class.
        pub pclass: u16 = 6,
        /// Node of the longest `polc_path_pfx` match.
        pub prefix_node: u32 = 8,
        /// Node of the longest `polc_path_sfx` match.
        pub suffix_node: u32 = 12,
    }
}

abi_struct! {
    /// `struct polc_infix_cand`.
    pub struct InfixCand("polc_infix_cand", size 20, align 4) {
        /// The verdict.
        pub decision: Decision = 0,
        /// Shortest path length.
        pub min_len: u16 = 12,
        /// Longest path length ([`ANY`]: unbounded).
        pub max_len: u16 = 14,
        /// Number of `/` in the path ([`ANY`]: any).
        pub slashes: u16 = 16,
        /// Zero.
        pub pad: u16 = 18,
    }
}

abi_struct! {
    /// `struct polc_infix_value`: candidates, most precedent first.
    pub struct InfixValue("polc_infix_value", size 84, align 4) {
        /// Used candidates.
        pub count: u32 = 0,
        /// Candidates.
        pub cand: [InfixCand; INFIX_CANDIDATES] = 4,
    }
}

abi_struct! {
    /// `struct polc_comm_key`.
    pub struct CommKey("polc_comm_key", size 24, align 4) {
        /// Policy.
        pub policy: u32 = 0,
        /// Parent class.
        pub pclass: u16 = 4,
        /// Zero.
        pub pad: u16 = 6,
        /// Zero-padded comm.
        pub comm: [u8; COMM_LEN] = 8,
    }
}

abi_struct! {
    /// `struct polc_pclass_value`.
    pub struct PclassValue("polc_pclass_value", size 4, align 4) {
        /// Parent class.
        pub pclass: u32 = 0,
    }
}

abi_struct! {
    /// `struct polc_pclass_lpm_value`.
    pub struct PclassLpmValue("polc_pclass_lpm_value", size 16, align 4) {
        /// The path equals the prefix.
        pub equal: u32 = 0,
        /// The rest has no `/`.
        pub direct: u32 = 4,
        /// The rest has a `/`.
        pub deep: u32 = 8,
        /// Bytes of the prefix.
        pub len: u32 = 12,
    }
}

abi_struct! {
    /// `struct polc_net4_key`.
    pub struct Net4Key("polc_net4_key", size 16, align 4) {
        /// `POLC_NET_PREFIXLEN(prefix)`.
        pub prefixlen: u32 = 0,
        /// Policy.
        pub policy: u32 = 4,
        /// Op.
        pub op: u8 = 8,
        /// Protocol; 0 = any.
        pub proto: u8 = 9,
        /// Port in network order; 0 = any.
        pub port: [u8; 2] = 10,
        /// Address bytes.
        pub addr: [u8; 4] = 12,
    }
}

abi_struct! {
    /// `struct polc_net6_key`.
    pub struct Net6Key("polc_net6_key", size 28, align 4) {
        /// `POLC_NET_PREFIXLEN(prefix)`.
        pub prefixlen: u32 = 0,
        /// Policy.
        pub policy: u32 = 4,
        /// Op.
        pub op: u8 = 8,
        /// Protocol; 0 = any.
        pub proto: u8 = 9,
        /// Port in network order; 0 = any.
        pub port: [u8; 2] = 10,
        /// Address bytes.
        pub addr: [u8; 16] = 12,
    }
}

abi_struct! {
    /// `struct polc_id_key`: capabilities and raw sockets.
    pub struct IdKey("polc_id_key", size 12, align 4) {
        /// Policy.
        pub policy: u32 = 0,
        /// Op.
        pub op: u16 = 4,
        /// Zero.
        pub pad: u16 = 6,
        /// Capability number, or 0.
        pub id: u32 = 8,
    }
}

abi_struct! {
    /// `struct polc_policy_key`: `polc_config` key.
    pub struct PolicyKey("polc_policy_key", size 4, align 4) {
        /// Policy.
        pub policy: u32 = 0,
    }
}

abi_struct! {
    /// `struct polc_policy_config`: `polc_config` value.
    pub struct PolicyConfig("polc_policy_config", size 72, align 4) {
        /// 1: the op is governed.
        pub has_op: [u8; OP_MAX] = 0,
        /// Action when no rule matches.
        pub default_action: [u8; OP_MAX] = 16,
        /// [`lookup`] bits per op.
        pub lookups: [u16; OP_MAX] = 32,
        /// Parent classes in use.
        pub pclass_count: u16 = 64,
        /// Zero.
        pub pad: u16 = 66,
        /// [`config_flags`] bits.
        pub flags: u32 = 68,
    }
}

abi_struct! {
    /// `struct polc_generation`: `polc_gen` value.
    pub struct Generation("polc_generation", size 8, align 4) {
        /// The generation hooks use.
        pub generation: u32 = 0,
        /// Zero.
        pub pad: u32 = 4,
    }
}

abi_struct! {
    /// `struct polc_host`: `polc_host` value, what the programs know about the kernel.
    pub struct Host("polc_host", size 24, align 8) {
        /// Kernel address of `rename_lock` (0: unknown).
        pub rename_seq: u64 = 0,
        /// Kernel address of `mount_lock` (0: unknown).
        pub mount_seq: u64 = 8,
        /// [`host_flags`] bits.
        pub flags: u32 = 16,
        /// Open cache entries at most.
        pub cache_max: u32 = 20,
    }
}

abi_struct! {
    /// `struct polc_open_cache`: `polc_open_cache` value (inode storage, kernel-owned).
    pub struct OpenCache("polc_open_cache", size 80, align 8) {
        /// `struct bpf_spin_lock`.
        pub lock: u32 = 0,
        /// Low 16 bits: `1 << op` of the ops let through without an event; high 16
        /// bits: the entry's sequence (even and nonzero when written by this build).
        pub allow: u32 = 4,
        /// Policy id.
        pub policy: u32 = 8,
        /// `polc_gen[0].generation`.
        pub generation: u32 = 12,
        /// `rename_lock`'s sequence.
        pub rename_seq: u32 = 16,
        /// `mount_lock`'s sequence.
        pub mount_seq: u32 = 20,
        /// `polc_counts[COUNT_NAMES]`.
        pub names: u64 = 24,
        /// The dentry.
        pub dentry: u64 = 32,
        /// The mount.
        pub mnt: u64 = 40,
        /// The task's root dentry.
        pub root_dentry: u64 = 48,
        /// The task's root mount.
        pub root_mnt: u64 = 56,
        /// `bpf_jiffies64()` when the decision began.
        pub made: u64 = 64,
        /// The task root's inode number.
        pub root_ino: u64 = 72,
    }
}

abi_struct! {
    /// `struct polc_binding`: `polc_cgroups` value (key: u64 cgroup id).
    pub struct Binding("polc_binding", size 8, align 4) {
        /// Policy slot.
        pub slot: u32 = 0,
        /// Zero.
        pub flags: u32 = 4,
    }
}

abi_struct! {
    /// `struct polc_task`: `polc_tasks` value.
    pub struct TaskInfo("polc_task", size 256, align 2) {
        /// Full path length.
        pub len: u16 = 0,
        /// Index of the last `/`; [`ANY`]: none.
        pub last_slash: u16 = 2,
        /// Flags.
        pub flags: u16 = 4,
        /// Zero.
        pub pad: u16 = 6,
        /// First `PATH_MAX` bytes.
        pub path: [u8; PATH_MAX] = 8,
    }
}

abi_struct! {
    /// `struct polc_event`: a ring buffer record.
    pub struct Event("polc_event", size 336, align 8) {
        /// `bpf_ktime_get_ns`.
        pub ts_ns: u64 = 0,
        /// cgroup id.
        pub cgroup_id: u64 = 8,
        /// Process id.
        pub pid: u32 = 16,
        /// Thread id.
        pub tid: u32 = 20,
        /// Parent process id.
        pub ppid: u32 = 24,
        /// Deciding rule; 0 = the op's default.
        pub rule_id: u32 = 28,
        /// Policy.
        pub policy: u32 = 32,
        /// Capability, or port | proto << 16.
        pub aux: u32 = 36,
        /// Full path length.
        pub path_len: u16 = 40,
        /// Op.
        pub op: u8 = 42,
        /// Action taken.
        pub action: u8 = 43,
        /// [`event_flags`].
        pub flags: u8 = 44,
        /// Address family.
        pub family: u8 = 45,
        /// Zero.
        pub pad: [u8; 2] = 46,
        /// Peer address.
        pub addr: [u8; 16] = 48,
        /// comm.
        pub comm: [u8; COMM_LEN] = 64,
        /// NUL-terminated path.
        pub path: [u8; EVENT_PATH_MAX] = 80,
    }
}

/// Every struct of the header.
pub const LAYOUTS: &[Layout] = &[
    Decision::LAYOUT,
    PathKey::LAYOUT,
    PathLpmKey::LAYOUT,
    LpmValue::LAYOUT,
    InfixKey::LAYOUT,
    InfixCand::LAYOUT,
    InfixValue::LAYOUT,
    CommKey::LAYOUT,
    PclassValue::LAYOUT,
    PclassLpmValue::LAYOUT,
    Net4Key::LAYOUT,
    Net6Key::LAYOUT,
    IdKey::LAYOUT,
    PolicyKey::LAYOUT,
    PolicyConfig::LAYOUT,
    Generation::LAYOUT,
    Host::LAYOUT,
    OpenCache::LAYOUT,
    Binding::LAYOUT,
    TaskInfo::LAYOUT,
    Event::LAYOUT,
];

/// Integer constants of the header: (C name, value).
pub const CONSTANTS: &[(&str, u64)] = &[
    ("POLC_ABI_VERSION", ABI_VERSION as u64),
    ("POLC_PATH_MAX", PATH_MAX as u64),
    ("POLC_COMM_LEN", COMM_LEN as u64),
    ("POLC_EVENT_PATH_MAX", EVENT_PATH_MAX as u64),
    ("POLC_OP_MAX", OP_MAX as u64),
    ("POLC_INFIX_CANDIDATES", INFIX_CANDIDATES as u64),
    ("POLC_PORT_RANGE_MAX", PORT_RANGE_MAX as u64),
    ("POLC_KEY_HEADER_BITS", KEY_HEADER_BITS as u64),
    ("POLC_ANY", ANY as u64),
    ("POLC_ALLOW", action::ALLOW as u64),
    ("POLC_AUDIT", action::AUDIT as u64),
    ("POLC_BLOCK", action::BLOCK as u64),
    ("POLC_OP_EXEC", Op::Exec as u64),
    ("POLC_OP_READ", Op::Read as u64),
    ("POLC_OP_WRITE", Op::Write as u64),
    ("POLC_OP_CONNECT", Op::Connect as u64),
    ("POLC_OP_ACCEPT", Op::Accept as u64),
    ("POLC_OP_RAW_SOCKET", Op::RawSocket as u64),
    ("POLC_OP_CAPABILITY", Op::Capability as u64),
    ("POLC_OP_NAP_CONNECT", Op::NapConnect as u64),
    ("POLC_OP_NAP_ACCEPT", Op::NapAccept as u64),
    ("POLC_OP_COUNT", Op::ALL.len() as u64),
    ("POLC_REST_EQUAL", rest_class::EQUAL as u64),
    ("POLC_REST_DIRECT", rest_class::DIRECT as u64),
    ("POLC_REST_DEEP", rest_class::DEEP as u64),
    ("POLC_PROTO_ANY", proto::ANY as u64),
    ("POLC_PROTO_TCP", proto::TCP as u64),
    ("POLC_PROTO_UDP", proto::UDP as u64),
    ("POLC_PROTO_SCTP", proto::SCTP as u64),
    ("POLC_LOOKUP_EXACT", lookup::EXACT as u64),
    ("POLC_LOOKUP_PREFIX", lookup::PREFIX as u64),
    ("POLC_LOOKUP_SUFFIX", lookup::SUFFIX as u64),
    ("POLC_LOOKUP_NAME", lookup::NAME as u64),
    ("POLC_LOOKUP_INFIX", lookup::INFIX as u64),
    ("POLC_LOOKUP_COMM", lookup::COMM as u64),
    ("POLC_LOOKUP_NET4", lookup::NET4 as u64),
    ("POLC_LOOKUP_NET6", lookup::NET6 as u64),
    ("POLC_LOOKUP_ID", lookup::ID as u64),
    ("POLC_LOOKUP_PARENT", lookup::PARENT as u64),
    ("POLC_LOOKUP_GUARD", lookup::GUARD as u64),
    ("POLC_LOOKUP_GUARD_DEEP", lookup::GUARD_DEEP as u64),
    ("POLC_LOOKUP_GUARD_SFX", lookup::GUARD_SFX as u64),
    ("POLC_EVENT_DEFAULT", event_flags::DEFAULT as u64),
    ("POLC_EVENT_PATH_TRUNCATED", event_flags::PATH_TRUNCATED as u64),
    ("POLC_EVENT_PATH_UNRESOLVED", event_flags::PATH_UNRESOLVED as u64),
    ("POLC_EVENT_PARENT_UNKNOWN", event_flags::PARENT_UNKNOWN as u64),
    ("POLC_EVENT_NAME_MOVED", event_flags::NAME_MOVED as u64),
    ("POLC_EVENT_RECEIVED", event_flags::RECEIVED as u64),
    ("POLC_EVENT_BELOW", event_flags::BELOW as u64),
    ("POLC_CONFIG_EVENT_ALLOW", config_flags::EVENT_ALLOW as u64),
    ("POLC_HOST_OPEN_CACHE", host_flags::OPEN_CACHE as u64),
    ("POLC_HOST_OPEN_CACHE_LOCKED", host_flags::OPEN_CACHE_LOCKED as u64),
    ("POLC_OPEN_CACHE_TTL_JIFFIES", OPEN_CACHE_TTL_JIFFIES),
    ("POLC_COUNT_NAMES", count::NAMES as u64),
    ("POLC_COUNT_ENTRIES", count::ENTRIES as u64),
    ("POLC_COUNT_COUNT", count::COUNT as u64),
    ("POLC_STAT_HITS", cache_stat::HITS as u64),
    ("POLC_STAT_STALE", cache_stat::STALE as u64),
    ("POLC_STAT_FULL", cache_stat::FULL as u64),
    ("POLC_STAT_COUNT", cache_stat::COUNT as u64),
    ("POLC_POLICY_ID(3, 7)", policy_id(3, 7) as u64),
    ("POLC_PATH_PREFIXLEN(5)", path_prefixlen(5) as u64),
    ("POLC_NET_PREFIXLEN(24)", net_prefixlen(24) as u64),
];

/// A map of the ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// Name (at most 15 bytes: `BPF_OBJ_NAME_LEN`).
    pub name: &'static str,
    /// The header's `#define` for the name.
    pub c_define: &'static str,
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    /// Key size (0 for a ring buffer).
    pub key_size: usize,
    /// Value size (0 for a ring buffer).
    pub value_size: usize,
    /// Offset of the `policy` field in the key, for maps a bundle fills.
    pub policy_offset: Option<usize>,
}

/// Offset of the policy in a path LPM key.
const LPM_POLICY: usize = offset_of!(PathLpmKey, key) + offset_of!(PathKey, policy);

/// `polc_path_exact`: exact paths.
pub const MAP_PATH_EXACT: MapDef = MapDef {
    name: "polc_path_exact",
    c_define: "POLC_MAP_PATH_EXACT",
    map_type: MAP_TYPE_HASH,
    key_size: PathKey::SIZE,
    value_size: Decision::SIZE,
    policy_offset: Some(offset_of!(PathKey, policy)),
};
/// `polc_path_pfx`: directories and prefix globs.
pub const MAP_PATH_PREFIX: MapDef = MapDef {
    name: "polc_path_pfx",
    c_define: "POLC_MAP_PATH_PREFIX",
    map_type: MAP_TYPE_LPM_TRIE,
    key_size: PathLpmKey::SIZE,
    value_size: LpmValue::SIZE,
    policy_offset: Some(LPM_POLICY),
};
/// `polc_path_sfx`: suffix globs, over the reversed path.
pub const MAP_PATH_SUFFIX: MapDef =
    MapDef { name: "polc_path_sfx", c_define: "POLC_MAP_PATH_SUFFIX", ..MAP_PATH_PREFIX };
/// `polc_name_pfx`: `/**/name*` globs, over the last path segment.
pub const MAP_NAME_PREFIX: MapDef =
    MapDef { name: "polc_name_pfx", c_define: "POLC_MAP_NAME_PREFIX", ..MAP_PATH_PREFIX };
/// `polc_path_infix`: globs with a literal prefix and suffix.
pub const MAP_PATH_INFIX: MapDef = MapDef {
    name: "polc_path_infix",
    c_define: "POLC_MAP_PATH_INFIX",
    map_type: MAP_TYPE_HASH,
    key_size: InfixKey::SIZE,
    value_size: InfixValue::SIZE,
    policy_offset: Some(offset_of!(InfixKey, policy)),
};
/// `polc_comm`: process names.
pub const MAP_COMM: MapDef = MapDef {
    name: "polc_comm",
    c_define: "POLC_MAP_COMM",
    map_type: MAP_TYPE_HASH,
    key_size: CommKey::SIZE,
    value_size: Decision::SIZE,
    policy_offset: Some(offset_of!(CommKey, policy)),
};
/// `polc_par_exact`: parent class of exact executables.
pub const MAP_PARENT_EXACT: MapDef = MapDef {
    name: "polc_par_exact",
    c_define: "POLC_MAP_PARENT_EXACT",
    map_type: MAP_TYPE_HASH,
    key_size: PathKey::SIZE,
    value_size: PclassValue::SIZE,
    policy_offset: Some(offset_of!(PathKey, policy)),
};
/// `polc_par_pfx`: parent class by directory or prefix.
pub const MAP_PARENT_PREFIX: MapDef = MapDef {
    name: "polc_par_pfx",
    c_define: "POLC_MAP_PARENT_PREFIX",
    map_type: MAP_TYPE_LPM_TRIE,
    key_size: PathLpmKey::SIZE,
    value_size: PclassLpmValue::SIZE,
    policy_offset: Some(LPM_POLICY),
};
/// `polc_net4`: IPv4 peers.
pub const MAP_NET4: MapDef = MapDef {
    name: "polc_net4",
    c_define: "POLC_MAP_NET4",
    map_type: MAP_TYPE_LPM_TRIE,
    key_size: Net4Key::SIZE,
    value_size: Decision::SIZE,
    policy_offset: Some(offset_of!(Net4Key, policy)),
};
/// `polc_net6`: IPv6 peers.
pub const MAP_NET6: MapDef = MapDef {
    name: "polc_net6",
    c_define: "POLC_MAP_NET6",
    map_type: MAP_TYPE_LPM_TRIE,
    key_size: Net6Key::SIZE,
    value_size: Decision::SIZE,
    policy_offset: Some(offset_of!(Net6Key, policy)),
};
/// `polc_id`: capabilities and raw sockets.
pub const MAP_ID: MapDef = MapDef {
    name: "polc_id",
    c_define: "POLC_MAP_ID",
    map_type: MAP_TYPE_HASH,
    key_size: IdKey::SIZE,
    value_size: Decision::SIZE,
    policy_offset: Some(offset_of!(IdKey, policy)),
};
/// `polc_dir_guard`: directories at or above the literal directory of a Block or
/// Audit READ/WRITE rule, with the strongest such rule (a rename of the directory
/// moves the paths below it).
pub const MAP_DIR_GUARD: MapDef = MapDef {
    name: "polc_dir_guard",
    c_define: "POLC_MAP_DIR_GUARD",
    map_type: MAP_TYPE_HASH,
    key_size: PathKey::SIZE,
    value_size: Decision::SIZE,
    policy_offset: Some(offset_of!(PathKey, policy)),
};
/// `polc_guard_deep`: the literal prefix of each Block or Audit READ/WRITE glob with a
/// wildcard directory segment, per number of '/' of the directories below it that
/// can hold a match (`pclass`; [`ANY`] for `**`); an LPM lookup of a directory being
/// renamed finds the strongest such glob that can match below it.
pub const MAP_GUARD_DEEP: MapDef = MapDef {
    name: "polc_guard_deep",
    c_define: "POLC_MAP_GUARD_DEEP",
    map_type: MAP_TYPE_LPM_TRIE,
    key_size: PathLpmKey::SIZE,
    value_size: Decision::SIZE,
    policy_offset: Some(LPM_POLICY),
};
/// `polc_guard_sfx`: the reversed `/NAME...` directory tails of each Block or Audit
/// READ/WRITE suffix glob (`/**/.ssh/id_rsa`: `/.ssh`); an LPM lookup of a reversed
/// directory being renamed finds the strongest such glob whose tail it ends with.
pub const MAP_GUARD_SFX: MapDef = MapDef { name: "polc_guard_sfx", c_define: "POLC_MAP_GUARD_SFX", ..MAP_GUARD_DEEP };
/// `polc_config`: per-policy configuration.
pub const MAP_CONFIG: MapDef = MapDef {
    name: "polc_config",
    c_define: "POLC_MAP_CONFIG",
    map_type: MAP_TYPE_HASH,
    key_size: PolicyKey::SIZE,
    value_size: PolicyConfig::SIZE,
    policy_offset: Some(offset_of!(PolicyKey, policy)),
};
/// `polc_gen`: the generation in use (agent-owned, one entry).
pub const MAP_GENERATION: MapDef = MapDef {
    name: "polc_gen",
    c_define: "POLC_MAP_GENERATION",
    map_type: MAP_TYPE_ARRAY,
    key_size: 4,
    value_size: Generation::SIZE,
    policy_offset: None,
};
/// `polc_cgroups`: cgroup id to policy slot (agent-owned).
pub const MAP_CGROUPS: MapDef = MapDef {
    name: "polc_cgroups",
    c_define: "POLC_MAP_CGROUPS",
    map_type: MAP_TYPE_HASH,
    key_size: 8,
    value_size: Binding::SIZE,
    policy_offset: None,
};
/// `polc_tasks`: the executable of each task (kernel-owned).
pub const MAP_TASKS: MapDef = MapDef {
    name: "polc_tasks",
    c_define: "POLC_MAP_TASKS",
    map_type: MAP_TYPE_TASK_STORAGE,
    key_size: 4,
    value_size: TaskInfo::SIZE,
    policy_offset: None,
};
/// `polc_events`: the ring buffer of [`Event`]s.
pub const MAP_EVENTS: MapDef = MapDef {
    name: "polc_events",
    c_define: "POLC_MAP_EVENTS",
    map_type: MAP_TYPE_RINGBUF,
    key_size: 0,
    value_size: 0,
    policy_offset: None,
};

/// `polc_drops`: events lost because the ring buffer was full (per-CPU, one `u64`;
/// the total is the sum over CPUs).
pub const MAP_DROPS: MapDef = MapDef {
    name: "polc_drops",
    c_define: "POLC_MAP_DROPS",
    map_type: MAP_TYPE_PERCPU_ARRAY,
    key_size: 4,
    value_size: 8,
    policy_offset: None,
};

/// `polc_host`: what the programs know about the kernel (agent-owned, one entry).
pub const MAP_HOST: MapDef = MapDef {
    name: "polc_host",
    c_define: "POLC_MAP_HOST",
    map_type: MAP_TYPE_ARRAY,
    key_size: 4,
    value_size: Host::SIZE,
    policy_offset: None,
};

/// `polc_counts`: [`count`] (kernel-owned `u64`s).
pub const MAP_COUNTS: MapDef = MapDef {
    name: "polc_counts",
    c_define: "POLC_MAP_COUNTS",
    map_type: MAP_TYPE_ARRAY,
    key_size: 4,
    value_size: 8,
    policy_offset: None,
};

/// `polc_cache_stat`: [`cache_stat`] (kernel-owned, per-CPU `u64`s; sum over CPUs).
pub const MAP_CACHE_STAT: MapDef = MapDef {
    name: "polc_cache_stat",
    c_define: "POLC_MAP_CACHE_STAT",
    map_type: MAP_TYPE_PERCPU_ARRAY,
    key_size: 4,
    value_size: 8,
    policy_offset: None,
};

/// `polc_open_cache`: `file_open`'s silent Allow decisions per inode (kernel-owned).
pub const MAP_OPEN_CACHE: MapDef = MapDef {
    name: "polc_open_cache",
    c_define: "POLC_MAP_OPEN_CACHE",
    map_type: MAP_TYPE_INODE_STORAGE,
    key_size: 4,
    value_size: OpenCache::SIZE,
    policy_offset: None,
};

/// The maps a bundle fills, in bundle order.
pub const BUNDLE_MAPS: &[MapDef] = &[
    MAP_CONFIG,
    MAP_PATH_EXACT,
    MAP_PATH_PREFIX,
    MAP_PATH_SUFFIX,
    MAP_NAME_PREFIX,
    MAP_PATH_INFIX,
    MAP_COMM,
    MAP_PARENT_EXACT,
    MAP_PARENT_PREFIX,
    MAP_NET4,
    MAP_NET6,
    MAP_ID,
    MAP_DIR_GUARD,
    MAP_GUARD_DEEP,
    MAP_GUARD_SFX,
];

/// Every map.
pub const MAPS: &[MapDef] = &[
    MAP_CONFIG,
    MAP_PATH_EXACT,
    MAP_PATH_PREFIX,
    MAP_PATH_SUFFIX,
    MAP_NAME_PREFIX,
    MAP_PATH_INFIX,
    MAP_COMM,
    MAP_PARENT_EXACT,
    MAP_PARENT_PREFIX,
    MAP_NET4,
    MAP_NET6,
    MAP_ID,
    MAP_DIR_GUARD,
    MAP_GUARD_DEEP,
    MAP_GUARD_SFX,
    MAP_GENERATION,
    MAP_CGROUPS,
    MAP_TASKS,
    MAP_EVENTS,
    MAP_DROPS,
    MAP_HOST,
    MAP_COUNTS,
    MAP_CACHE_STAT,
    MAP_OPEN_CACHE,
];

/// The map called `name`.
pub fn map_def(name: &str) -> Option<&'static MapDef> {
    MAPS.iter().find(|m| m.name == name)
}

/// A program and where it attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramDef {
    /// Program name (at most 15 bytes).
    pub name: &'static str,
    /// The header's `#define` for the name.
    pub c_define: &'static str,
    /// ELF section (`lsm/<hook>`).
    pub section: &'static str,
    /// The header's `#define` for the section.
    pub c_section_define: &'static str,
    /// The Linux version that added the hook, for a hook older kernels lack: the
    /// agent attaches the program only where the kernel's BTF has the hook
    /// (`bpf_lsm_<hook>`), and an older kernel's hooks cover what it decides.
    pub hook_since: Option<&'static str>,
}

/// The programs, one per LSM hook.
pub const PROGRAMS: &[ProgramDef] = &[
    ProgramDef {
        name: "polc_bprm_check",
        c_define: "POLC_PROG_BPRM_CHECK",
        section: "lsm/bprm_check_security",
        c_section_define: "POLC_SEC_BPRM_CHECK",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_bprm_done",
        c_define: "POLC_PROG_BPRM_DONE",
        section: "lsm/bprm_committed_creds",
        c_section_define: "POLC_SEC_BPRM_DONE",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_task_alloc",
        c_define: "POLC_PROG_TASK_ALLOC",
        section: "lsm/task_alloc",
        c_section_define: "POLC_SEC_TASK_ALLOC",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_file_open",
        c_define: "POLC_PROG_FILE_OPEN",
        section: "lsm/file_open",
        c_section_define: "POLC_SEC_FILE_OPEN",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_path_trunc",
        c_define: "POLC_PROG_PATH_TRUNCATE",
        section: "lsm/path_truncate",
        c_section_define: "POLC_SEC_PATH_TRUNCATE",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_file_recv",
        c_define: "POLC_PROG_FILE_RECEIVE",
        section: "lsm/file_receive",
        c_section_define: "POLC_SEC_FILE_RECEIVE",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_file_trunc",
        c_define: "POLC_PROG_FILE_TRUNCATE",
        section: "lsm/file_truncate",
        c_section_define: "POLC_SEC_FILE_TRUNCATE",
        hook_since: Some("6.2"),
    },
    ProgramDef {
        name: "polc_path_mknod",
        c_define: "POLC_PROG_PATH_MKNOD",
        section: "lsm/path_mknod",
        c_section_define: "POLC_SEC_PATH_MKNOD",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_unlink",
        c_define: "POLC_PROG_PATH_UNLINK",
        section: "lsm/path_unlink",
        c_section_define: "POLC_SEC_PATH_UNLINK",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_mkdir",
        c_define: "POLC_PROG_PATH_MKDIR",
        section: "lsm/path_mkdir",
        c_section_define: "POLC_SEC_PATH_MKDIR",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_rmdir",
        c_define: "POLC_PROG_PATH_RMDIR",
        section: "lsm/path_rmdir",
        c_section_define: "POLC_SEC_PATH_RMDIR",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_symlink",
        c_define: "POLC_PROG_PATH_SYMLINK",
        section: "lsm/path_symlink",
        c_section_define: "POLC_SEC_PATH_SYMLINK",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_link",
        c_define: "POLC_PROG_PATH_LINK",
        section: "lsm/path_link",
        c_section_define: "POLC_SEC_PATH_LINK",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_rename",
        c_define: "POLC_PROG_PATH_RENAME",
        section: "lsm/path_rename",
        c_section_define: "POLC_SEC_PATH_RENAME",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_connect",
        c_define: "POLC_PROG_CONNECT",
        section: "lsm/socket_connect",
        c_section_define: "POLC_SEC_CONNECT",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_sendmsg",
        c_define: "POLC_PROG_SENDMSG",
        section: "lsm/socket_sendmsg",
        c_section_define: "POLC_SEC_SENDMSG",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_conn_req",
        c_define: "POLC_PROG_CONN_REQUEST",
        section: "lsm/inet_conn_request",
        c_section_define: "POLC_SEC_CONN_REQUEST",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_sock_new",
        c_define: "POLC_PROG_SOCKET_CREATE",
        section: "lsm/socket_create",
        c_section_define: "POLC_SEC_SOCKET_CREATE",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_capable",
        c_define: "POLC_PROG_CAPABLE",
        section: "lsm/capable",
        c_section_define: "POLC_SEC_CAPABLE",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_ino_link",
        c_define: "POLC_PROG_INODE_LINK",
        section: "lsm/inode_link",
        c_section_define: "POLC_SEC_INODE_LINK",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_ino_unlink",
        c_define: "POLC_PROG_INODE_UNLINK",
        section: "lsm/inode_unlink",
        c_section_define: "POLC_SEC_INODE_UNLINK",
        hook_since: None,
    },
    ProgramDef {
        name: "polc_ino_free",
        c_define: "POLC_PROG_INODE_FREE",
        section: "lsm/inode_free_security",
        c_section_define: "POLC_SEC_INODE_FREE",
        hook_since: None,
    },
];

/// `polc_decision_beats`: does `a` beat `b`? A missing decision (rule 0) never beats;
/// then the higher rank, the stronger written action, the lower rule id.
pub fn decision_beats(a: &Decision, b: &Decision) -> bool {
    if a.rule_id == 0 {
        return false;
    }
    if b.rule_id == 0 {
        return true;
    }
    if a.rank != b.rank {
        return a.rank > b.rank;
    }
    if a.written != b.written {
        return a.written > b.written;
    }
    a.rule_id < b.rule_id
}

/// `polc_rest`: the class ([`rest_class`]) of what follows `matched` bytes of a key of
/// `len` bytes whose last `/` is at `last_slash`.
pub fn rest(matched: u32, len: u32, last_slash: Option<u32>) -> u8 {
    if matched >= len {
        return rest_class::EQUAL;
    }
    match last_slash {
        Some(s) if s >= matched => rest_class::DEEP,
        _ => rest_class::DIRECT,
    }
}

impl LpmValue {
    /// The decision for a rest class.
    pub fn pick(&self, class: u8) -> &Decision {
        match class {
            rest_class::EQUAL => &self.equal,
            rest_class::DIRECT => &self.direct,
            _ => &self.deep,
        }
    }
}

impl PclassLpmValue {
    /// The parent class for a rest class.
    pub fn pick(&self, class: u8) -> u32 {
        match class {
            rest_class::EQUAL => self.equal,
            rest_class::DIRECT => self.direct,
            _ => self.deep,
        }
    }
}

impl InfixCand {
    /// `polc_infix_fits`: does the candidate fit a path of `len` bytes with `slashes` `/`?
    pub fn fits(&self, len: u32, slashes: u32) -> bool {
        len >= u32::from(self.min_len)
            && (self.max_len == ANY || len <= u32::from(self.max_len))
            && (self.slashes == ANY || u32::from(self.slashes) == slashes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_bpf_obj_name_len() {
        for m in MAPS {
            assert!(m.name.len() <= 15, "{}", m.name);
        }
        for p in PROGRAMS {
            assert!(p.name.len() <= 15, "{}", p.name);
        }
    }

    #[test]
    fn lpm_keys_fit_the_kernel_limit() {
        // LPM_DATA_SIZE_MAX is 256: a key is at most 4 + 256 bytes.
        for m in MAPS.iter().filter(|m| m.map_type == MAP_TYPE_LPM_TRIE) {
            assert!(m.key_size <= 260, "{}", m.name);
        }
    }

    #[test]
    fn round_trip_and_little_endian() {
        let d = Decision { rule_id: 0x0102_0304, rank: 7, action: action::BLOCK, written: action::BLOCK, pad: [0; 2] };
        let b = d.to_bytes();
        assert_eq!(&b[..4], &[4, 3, 2, 1]);
        assert_eq!(Decision::from_bytes(&b), Some(d));
        assert_eq!(Decision::from_bytes(&b[..11]), None);
        let mut v = InfixValue::zeroed();
        v.count = 1;
        v.cand[1].min_len = 9;
        let b = v.to_bytes();
        assert_eq!(b[4 + 20 + 12], 9);
        assert_eq!(InfixValue::from_bytes(&b), Some(v));
    }

    #[test]
    fn beats_orders_rank_then_action_then_lower_id() {
        let d = |rule_id, rank, written| Decision { rule_id, rank, action: written, written, pad: [0; 2] };
        assert!(decision_beats(&d(1, 5, 0), &d(0, 9, 2)));
        assert!(!decision_beats(&d(0, 9, 2), &d(1, 5, 0)));
        assert!(decision_beats(&d(9, 6, 0), &d(1, 5, 2)));
        assert!(decision_beats(&d(9, 5, 2), &d(1, 5, 1)));
        assert!(decision_beats(&d(1, 5, 2), &d(9, 5, 2)));
        assert!(!decision_beats(&d(9, 5, 2), &d(1, 5, 2)));
    }

    #[test]
    fn rest_classes() {
        assert_eq!(rest(4, 4, Some(3)), rest_class::EQUAL);
        assert_eq!(rest(5, 9, Some(4)), rest_class::DIRECT);
        assert_eq!(rest(5, 9, Some(6)), rest_class::DEEP);
        assert_eq!(rest(0, 3, None), rest_class::DIRECT);
    }
}
