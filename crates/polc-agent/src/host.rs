//! What the programs know about the running kernel (`polc_host`), and the open cache
//! it switches on.
//!
//! `polc_file_open` remembers, per inode, the opens it let through without an event,
//! and lets the next open of the inode through at once while nothing the path or the
//! decision depended on has changed (ebpf-lsm/README.md, "The open cache"). A path
//! changes when a dentry moves or the mount tree changes; the kernel counts both in
//! the sequences of `rename_lock` and `mount_lock`, which have no BTF. So the agent
//! reads their addresses from `/proc/kallsyms` and writes them into `polc_host` at
//! every start. Without them (a kernel without `CONFIG_KALLSYMS_ALL`, or addresses
//! hidden by `kernel.kptr_restrict`) the cache stays off and every open is decided in
//! full, as before.

use polc_abi::{Host, host_flags};
use std::fmt;

/// The symbols of `/proc/kallsyms` the open cache needs.
pub const SYMBOLS: [&str; 2] = ["rename_lock", "mount_lock"];

/// Open cache entries at most (`polc_host.cache_max`). An entry and its share of the
/// inode's BPF storage take about 250 bytes, charged to the memory cgroup of the
/// process that loaded the programs: 64 MiB at most.
pub const CACHE_MAX: u32 = 262_144;

/// The open cache at work: `polc_counts` and `polc_cache_stat` (summed over CPUs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Is the cache on (`polc_host`)?
    pub on: bool,
    /// Entries at most.
    pub max_entries: u32,
    /// Entries now.
    pub entries: u64,
    /// Opens let through from the cache.
    pub hits: u64,
    /// Opens of an inode whose entry was stale or held other ops.
    pub stale: u64,
    /// Entries not made because the cache was full.
    pub full: u64,
}

/// Is the open cache on, and if not, why?
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenCache {
    /// On.
    On,
    /// Off, for this reason.
    Off(String),
}

impl fmt::Display for OpenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenCache::On => f.write_str("on"),
            OpenCache::Off(why) => write!(f, "off ({why})"),
        }
    }
}

/// The addresses of [`SYMBOLS`] in the text of `/proc/kallsyms`, in that order; a
/// symbol that is missing, shown as 0 (hidden addresses) or found twice is `None`.
/// Only data symbols of the kernel itself count: not code, not module symbols
/// (`[module]` after the name).
pub fn addresses(kallsyms: &str) -> [Option<u64>; 2] {
    let mut found: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    for line in kallsyms.lines() {
        let mut it = line.split_ascii_whitespace();
        let (Some(addr), Some(kind), Some(name), None) = (it.next(), it.next(), it.next(), it.next()) else {
            continue;
        };
        // Data, not code: D/d (initialised) or B/b (bss).
        if !matches!(kind, "D" | "d" | "B" | "b") {
            continue;
        }
        if let Some(i) = SYMBOLS.iter().position(|s| *s == name)
            && let Ok(a) = u64::from_str_radix(addr, 16)
            && a != 0
            && !found[i].contains(&a)
        {
            found[i].push(a);
        }
    }
    // Two data symbols of one name (a static of another file): which one is the
    // kernel's lock is unknown, so neither is taken.
    found.map(|f| if f.len() == 1 { Some(f[0]) } else { None })
}

/// The `polc_host` value for these addresses, with the open cache on when `want`
/// and both addresses are known.
pub fn host_value(addrs: [Option<u64>; 2], want: bool) -> (Host, OpenCache) {
    let [rename, mount] = addrs;
    let mut h = Host::zeroed();
    h.rename_seq = rename.unwrap_or(0);
    h.mount_seq = mount.unwrap_or(0);
    h.cache_max = CACHE_MAX;
    let state = if !want {
        OpenCache::Off("turned off (--no-open-cache)".into())
    } else if let Some(missing) = SYMBOLS.iter().zip(addrs).find(|(_, a)| a.is_none()).map(|(s, _)| s) {
        OpenCache::Off(format!(
            "/proc/kallsyms shows no address for `{missing}` (a kernel without CONFIG_KALLSYMS_ALL, or kernel.kptr_restrict hides it)"
        ))
    } else {
        h.flags = host_flags::OPEN_CACHE;
        OpenCache::On
    };
    (h, state)
}

/// Read `/proc/kallsyms` and make the `polc_host` value.
pub fn probe(want: bool) -> (Host, OpenCache) {
    match std::fs::read_to_string("/proc/kallsyms") {
        Ok(text) => host_value(addresses(&text), want),
        Err(e) if want => {
            (host_value([None, None], false).0, OpenCache::Off(format!("cannot read /proc/kallsyms: {e}")))
        }
        Err(_) => host_value([None, None], false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
ffffffff81000000 T _stext
ffffffff82a0c1c0 D rename_lock
ffffffffc0a01000 d mount_lock\t[some_module]
ffffffff82a0e280 d mount_lock
ffffffff82a0e2c0 d mount_lock_other
ffffffff81234560 t rename_lock
";

    #[test]
    fn kernel_symbols_are_found_and_module_symbols_are_not() {
        assert_eq!(addresses(TEXT), [Some(0xffff_ffff_82a0_c1c0), Some(0xffff_ffff_82a0_e280)]);
    }

    #[test]
    fn a_symbol_found_twice_is_not_taken() {
        let twice = format!("{TEXT}ffffffff83000000 b rename_lock\n");
        assert_eq!(addresses(&twice), [None, Some(0xffff_ffff_82a0_e280)]);
    }

    #[test]
    fn hidden_or_missing_addresses_turn_the_cache_off() {
        let hidden = "0000000000000000 D rename_lock\n0000000000000000 d mount_lock\n";
        assert_eq!(addresses(hidden), [None, None]);
        let (h, state) = host_value(addresses("ffffffff82a0c1c0 D rename_lock\n"), true);
        assert_eq!(h.flags, 0);
        assert_eq!(h.rename_seq, 0xffff_ffff_82a0_c1c0);
        assert!(matches!(state, OpenCache::Off(ref why) if why.contains("`mount_lock`")), "{state}");
    }

    #[test]
    fn the_cache_is_on_only_when_wanted_and_both_are_known() {
        let (h, state) = host_value(addresses(TEXT), true);
        assert_eq!((h.flags, state), (host_flags::OPEN_CACHE, OpenCache::On));
        let (h, state) = host_value(addresses(TEXT), false);
        assert_eq!(h.flags, 0);
        assert_eq!(h.mount_seq, 0xffff_ffff_82a0_e280);
        assert!(matches!(state, OpenCache::Off(_)));
    }
}
