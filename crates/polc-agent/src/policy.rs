//! Bundles into policy slots, with the ABI's generation switch.
//!
//! Every key of a bundle map carries `POLC_POLICY_ID(generation, slot)`, and the
//! programs read the generation from `polc_gen[0]`, which is shared by all slots. A
//! change (load, replace or unload of any number of slots) therefore builds a whole
//! new generation: the entries of the slots that do not change are copied forward
//! from the kernel maps, the changed slots' bundles are written with their keys
//! rewritten to the new generation and slot, then ONE update of `polc_gen[0]`
//! switches every hook at once, and the old generation's entries are deleted. A hook
//! sees either the old or the new policy of a slot, never a mix. A failure before the
//! switch removes what was written and leaves the old generation in force.
//!
//! The kernel maps are the only state: a process that changes slots needs no memory
//! of what others loaded, which is what lets several `polc exec` share the maps
//! (callers serialise changes with [`crate::loader::Loaded::lock`]).

use crate::Error;
use crate::store::MapStore;
use polc_abi::{BUNDLE_MAPS, Binding, Generation, MapDef, policy_id};
use polc_compiler::backend::bpf::bundle::Bundle;
use std::collections::BTreeSet;

/// Slots are 1..=65535 (0 is never used).
pub const MAX_SLOTS: u32 = 0xffff;

/// The policy field of `key` (`None` when the map has none or the key is short).
pub fn policy_of(map: &MapDef, key: &[u8]) -> Option<u32> {
    let off = map.policy_offset?;
    let b: [u8; 4] = key.get(off..off + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

/// The generation part of a policy id.
pub fn generation_of(policy: u32) -> u16 {
    (policy >> 16) as u16
}

/// The slot part of a policy id.
pub fn slot_of(policy: u32) -> u16 {
    (policy & 0xffff) as u16
}

/// `key` with its policy field (at `offset`) set to `policy`.
///
/// # Errors
/// `None` when the key is too short for the field.
pub fn with_policy(key: &[u8], offset: usize, policy: u32) -> Option<Vec<u8>> {
    let mut k = key.to_vec();
    k.get_mut(offset..offset + 4)?.copy_from_slice(&policy.to_le_bytes());
    Some(k)
}

/// Slots that have a policy in the current generation (a `polc_config` entry).
///
/// # Errors
/// The maps cannot be read.
pub fn loaded_slots(store: &dyn MapStore) -> Result<BTreeSet<u16>, Error> {
    let cur = store.generation()?.generation as u16;
    let map = &polc_abi::MAP_CONFIG;
    Ok(store
        .keys(map)?
        .iter()
        .filter_map(|k| policy_of(map, k))
        .filter(|&p| generation_of(p) == cur)
        .map(slot_of)
        .collect())
}

/// Slots in use: loaded, or bound by a cgroup.
///
/// # Errors
/// The maps cannot be read.
pub fn used_slots(store: &dyn MapStore) -> Result<BTreeSet<u16>, Error> {
    let mut used = loaded_slots(store)?;
    used.extend(store.bindings()?.into_iter().filter_map(|(_, b)| u16::try_from(b.slot).ok()));
    Ok(used)
}

/// A free slot: `preferred` when it is free and non-zero, else the smallest free one.
pub fn pick_slot(used: &BTreeSet<u16>, preferred: u16) -> Option<u16> {
    if preferred != 0 && !used.contains(&preferred) {
        return Some(preferred);
    }
    (1..=u16::MAX).find(|s| !used.contains(s))
}

/// What [`apply`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The generation now in force.
    pub generation: u16,
    /// Entries written from the bundles.
    pub written: usize,
    /// Entries of unchanged slots copied into the new generation.
    pub carried: usize,
    /// Entries deleted (the old generation and leftovers of interrupted switches).
    pub removed: usize,
}

/// Load (`Some`) or unload (`None`) bundles in slots, as one generation switch.
///
/// # Errors
/// A bundle entry of the wrong size, or a map operation that failed; before the
/// switch, what was written is removed again and the old generation stays in force.
pub fn apply(store: &mut dyn MapStore, changes: &[(u16, Option<&Bundle>)]) -> Result<Applied, Error> {
    for (_, b) in changes {
        if let Some(b) = b {
            validate(b)?;
        }
    }
    let cur = store.generation()?;
    let old = cur.generation as u16;
    // Policy ids hold the low 16 bits; all 32 count the switches (the open cache of
    // polc_file_open compares them, so a generation number is not reused soon).
    let full = cur.generation.wrapping_add(1);
    let new = full as u16;
    let changed: BTreeSet<u16> = changes.iter().map(|(s, _)| *s).collect();
    let mut done = Applied { generation: new, ..Applied::default() };
    let mut written: Vec<(&'static MapDef, Vec<u8>)> = Vec::new();
    let result = (|| -> Result<(), Error> {
        for map in BUNDLE_MAPS {
            for key in store.keys(map)? {
                let Some(p) = policy_of(map, &key) else { continue };
                let (g, slot) = (generation_of(p), slot_of(p));
                if g == old && !changed.contains(&slot) {
                    let Some(value) = store.get(map, &key)? else { continue };
                    let Some(nk) = with_policy(&key, policy_offset(map), policy_id(new, slot)) else { continue };
                    store.insert(map, &nk, &value)?;
                    written.push((map, nk));
                    done.carried += 1;
                } else if g != old {
                    // A leftover of a switch that was interrupted before its cleanup.
                    store.remove(map, &key)?;
                    done.removed += 1;
                }
            }
        }
        for (slot, bundle) in changes {
            let Some(bundle) = bundle else { continue };
            for section in &bundle.maps {
                let Some(map) = bundle_map(&section.name) else { continue };
                let offset = section.policy_offset as usize;
                for (k, v) in &section.entries {
                    let Some(nk) = with_policy(k, offset, policy_id(new, *slot)) else { continue };
                    store.insert(map, &nk, v)?;
                    written.push((map, nk));
                    done.written += 1;
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (map, k) in &written {
            let _ = store.remove(map, k);
        }
        return Err(e);
    }
    store.set_generation(Generation { generation: full, ..cur })?;
    for map in BUNDLE_MAPS {
        for key in store.keys(map)? {
            if policy_of(map, &key).is_some_and(|p| generation_of(p) == old) {
                store.remove(map, &key)?;
                done.removed += 1;
            }
        }
    }
    Ok(done)
}

fn policy_offset(map: &MapDef) -> usize {
    map.policy_offset.unwrap_or(0)
}

fn bundle_map(name: &str) -> Option<&'static MapDef> {
    BUNDLE_MAPS.iter().find(|m| m.name == name)
}

/// Every entry of a bundle fits its map of the ABI.
fn validate(b: &Bundle) -> Result<(), Error> {
    for section in &b.maps {
        let Some(map) = bundle_map(&section.name) else {
            return Err(Error::UnknownMap { target: b.target.clone(), map: section.name.clone() });
        };
        let bad = section.policy_offset as usize != policy_offset(map)
            || section.entries.iter().any(|(k, v)| k.len() != map.key_size || v.len() != map.value_size);
        if bad {
            let (k, v) = section.entries.first().map(|(k, v)| (k.len(), v.len())).unwrap_or_default();
            return Err(Error::BundleEntry {
                target: b.target.clone(),
                map: section.name.clone(),
                key: k,
                value: v,
                want_key: map.key_size,
                want_value: map.value_size,
            });
        }
    }
    Ok(())
}

/// Bind a cgroup to a slot.
///
/// # Errors
/// The map refused the entry.
pub fn bind(store: &mut dyn MapStore, cgroup_id: u64, slot: u16) -> Result<(), Error> {
    store.bind(cgroup_id, Binding { slot: u32::from(slot), flags: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use polc_abi::{Decision, MAP_CONFIG, MAP_PATH_EXACT, PathKey, PolicyConfig, PolicyKey};
    use polc_compiler::backend::bpf::bundle::MapSection;

    /// A bundle with a config entry and `paths` exact exec entries for compiler slot 7.
    fn bundle(target: &str, paths: &[&str], rule: u32) -> Bundle {
        let mut maps: Vec<MapSection> = BUNDLE_MAPS.iter().map(|m| MapSection::new(m, vec![])).collect();
        let mut cfg = PolicyConfig::zeroed();
        cfg.has_op[0] = 1;
        maps[0].entries.push((PolicyKey { policy: policy_id(0, 7) }.to_bytes().to_vec(), cfg.to_bytes().to_vec()));
        for p in paths {
            let mut k = PathKey::zeroed();
            k.policy = policy_id(0, 7);
            k.path[..p.len()].copy_from_slice(p.as_bytes());
            let d = Decision { rule_id: rule, rank: 1, action: 2, written: 2, pad: [0; 2] };
            maps[1].entries.push((k.to_bytes().to_vec(), d.to_bytes().to_vec()));
        }
        Bundle { target: target.into(), slot: 7, policies: vec![], maps, rules: vec![], defaults: vec![] }
    }

    fn policies(s: &MemStore, map: &MapDef) -> Vec<u32> {
        s.maps.get(map.name).map(|m| m.keys().filter_map(|k| policy_of(map, k)).collect()).unwrap_or_default()
    }

    #[test]
    fn keys_are_rewritten_to_generation_and_slot() {
        let mut s = MemStore::default();
        let a = bundle("ns/Deployment/a/c", &["/bin/sh", "/bin/bash"], 11);
        let done = apply(&mut s, &[(3, Some(&a))]).map_err(|e| crate::error_chain(&e));
        assert_eq!(done, Ok(Applied { generation: 1, written: 3, carried: 0, removed: 0 }));
        assert_eq!(s.generation.generation, 1);
        assert_eq!(policies(&s, &MAP_PATH_EXACT), vec![policy_id(1, 3), policy_id(1, 3)]);
        assert_eq!(policies(&s, &MAP_CONFIG), vec![0x0001_0003]);
        // Paths and values are untouched.
        let key = s.maps[MAP_PATH_EXACT.name].keys().next().cloned().unwrap_or_default();
        assert_eq!(&key[8..15], b"/bin/ba");
        assert_eq!(loaded_slots(&s).ok(), Some(BTreeSet::from([3])));
    }

    #[test]
    fn replacing_one_slot_carries_the_others_and_removes_the_old_generation() {
        let mut s = MemStore::default();
        let a = bundle("a", &["/bin/sh"], 1);
        let b = bundle("b", &["/bin/ls", "/bin/cat"], 2);
        assert!(apply(&mut s, &[(1, Some(&a)), (2, Some(&b))]).is_ok());
        assert_eq!(s.total(), 5);
        let a2 = bundle("a", &["/bin/dash", "/bin/zsh", "/bin/ksh"], 3);
        let done = apply(&mut s, &[(1, Some(&a2))]).map_err(|e| crate::error_chain(&e));
        assert_eq!(done, Ok(Applied { generation: 2, written: 4, carried: 3, removed: 5 }));
        let mut ps = policies(&s, &MAP_PATH_EXACT);
        ps.sort();
        assert_eq!(ps, vec![policy_id(2, 1), policy_id(2, 1), policy_id(2, 1), policy_id(2, 2), policy_id(2, 2)]);
        // Unloading slot 2 leaves slot 1 alone.
        assert!(apply(&mut s, &[(2, None)]).is_ok());
        assert_eq!(policies(&s, &MAP_PATH_EXACT), vec![policy_id(3, 1); 3]);
        assert_eq!(loaded_slots(&s).ok(), Some(BTreeSet::from([1])));
    }

    #[test]
    fn the_generation_counts_every_switch_in_32_bits() {
        let mut s = MemStore::default();
        s.generation.generation = 0xffff;
        assert!(apply(&mut s, &[(1, Some(&bundle("a", &["/bin/sh"], 1)))]).is_ok());
        // Policy ids take the low 16 bits (0); the generation keeps counting, so a
        // number the open cache remembered is not seen again after 65,536 switches.
        assert_eq!(s.generation.generation, 0x1_0000);
        assert_eq!(policies(&s, &MAP_PATH_EXACT), vec![policy_id(0, 1)]);
        assert!(apply(&mut s, &[(1, Some(&bundle("a", &["/bin/ls"], 2)))]).is_ok());
        assert_eq!(s.generation.generation, 0x1_0001);
        assert_eq!(policies(&s, &MAP_PATH_EXACT), vec![policy_id(1, 1)]);
        assert_eq!(loaded_slots(&s).ok(), Some(BTreeSet::from([1])));
    }

    #[test]
    fn a_failed_load_keeps_the_old_generation() {
        let mut s = MemStore::default();
        assert!(apply(&mut s, &[(1, Some(&bundle("a", &["/bin/sh"], 1)))]).is_ok());
        let before = s.clone();
        s.capacity = Some(2);
        let big = bundle("b", &["/1", "/2", "/3"], 2);
        let e = apply(&mut s, &[(2, Some(&big))]).err().map(|e| crate::error_chain(&e)).unwrap_or_default();
        assert!(e.contains("cannot insert") && e.contains("os error 7"), "{e}");
        assert_eq!(s.generation, before.generation);
        assert_eq!(s.maps, before.maps);
    }

    #[test]
    fn leftovers_of_an_interrupted_switch_are_removed() {
        let mut s = MemStore::default();
        assert!(apply(&mut s, &[(1, Some(&bundle("a", &["/bin/sh"], 1)))]).is_ok());
        // Entries of generation 2 written by a process that died before switching.
        let mut k = PathKey::zeroed();
        k.policy = policy_id(2, 9);
        let _ = s.insert(&MAP_PATH_EXACT, &k.to_bytes(), &Decision::zeroed().to_bytes());
        let done = apply(&mut s, &[(4, Some(&bundle("b", &[], 1)))]).map_err(|e| crate::error_chain(&e));
        assert_eq!(done.map(|d| d.removed), Ok(3));
        assert!(!policies(&s, &MAP_PATH_EXACT).contains(&policy_id(2, 9)));
        assert_eq!(loaded_slots(&s).ok(), Some(BTreeSet::from([1, 4])));
    }

    #[test]
    fn bad_entry_sizes_are_refused_before_anything_is_written() {
        let mut s = MemStore::default();
        let mut b = bundle("ns/x", &["/bin/sh"], 1);
        b.maps[1].entries[0].0.pop();
        let e = apply(&mut s, &[(1, Some(&b))]).err().map(|e| crate::error_chain(&e)).unwrap_or_default();
        assert!(e.contains("`ns/x`") && e.contains("polc_path_exact") && e.contains("255 + 12"), "{e}");
        assert_eq!(s.total(), 0);
    }

    #[test]
    fn slots_are_picked_free() {
        let mut s = MemStore::default();
        assert!(apply(&mut s, &[(5, Some(&bundle("a", &[], 1)))]).is_ok());
        assert!(bind(&mut s, 4242, 6).is_ok());
        let used = used_slots(&s).unwrap_or_default();
        assert_eq!(used, BTreeSet::from([5, 6]));
        assert_eq!(pick_slot(&used, 9), Some(9));
        assert_eq!(pick_slot(&used, 5), Some(1));
        assert_eq!(pick_slot(&used, 0), Some(1));
        let full: BTreeSet<u16> = (1..=u16::MAX).collect();
        assert_eq!(pick_slot(&full, 3), None);
    }
}
