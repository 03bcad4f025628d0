//! polc's node agent library: everything between a bpf-lsm bundle and the kernel.
//!
//! - [`checks`]: is this kernel able to enforce (BPF LSM active, bpffs, privileges)?
//! - [`loader`]: load the embedded eBPF LSM object with aya, attach every program from
//!   one table, pin maps and links under `/sys/fs/bpf/polc` (or reuse those pins, so an
//!   agent restart leaves enforcement in place).
//! - [`host`]: what the programs know about the running kernel (`polc_host`): the
//!   addresses the open cache needs, from `/proc/kallsyms`.
//! - [`policy`]: load bundles into policy slots with the generation switch of the ABI
//!   (write the new generation beside the old one, switch with one update of
//!   `polc_gen`, delete the old one), slot allocation, cgroup bindings; written
//!   against the [`store::MapStore`] trait so it is tested without a kernel.
//! - [`events`]: decode `polc_event` records and name their policy, rule, source line
//!   and container; [`mod@format`] writes them as JSON lines or CEF.
//! - [`cgroup`]: find the cgroup v2 hierarchy, make a cgroup, learn its id.
//! - [`seccomp`]: hand a seccomp filter to a child and install it right before `exec`.
//!
//! The eBPF object is built by `build.rs` from `ebpf-lsm/src/polc_lsm.bpf.c`; a build
//! without clang embeds an empty object and [`loader`] refuses it with
//! [`Error::NoObject`].

pub mod cgroup;
pub mod checks;
mod error;
pub mod events;
pub mod format;
pub mod host;
pub mod loader;
pub mod node;
pub mod pods;
pub mod policy;
pub mod reader;
pub mod ring;
pub mod seccomp;
pub mod store;

pub use error::Error;

/// An error and its causes, `: `-separated (what `anyhow`'s `{:#}` prints).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The eBPF LSM object built from `ebpf-lsm/src/polc_lsm.bpf.c` (empty when the build
/// had no clang or no C source).
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/polc_lsm.o"));

/// `built` or `missing`: whether `build.rs` could build the eBPF object.
pub const OBJECT_STATUS: &str = env!("POLC_EBPF_OBJECT_STATUS");

/// Where polc pins its maps and links.
pub const PIN_DIR: &str = "/sys/fs/bpf/polc";
