//! The map operations the policy logic needs, as a trait: the kernel maps (through
//! aya, [`crate::loader::KernelMaps`]) implement it, and so does [`MemStore`], an
//! in-memory twin the tests (and simulations) use.

use crate::Error;
use polc_abi::{Binding, Generation, MapDef};
use std::collections::BTreeMap;

/// Byte-level access to the maps of the ABI.
pub trait MapStore {
    /// Insert or replace an entry of a bundle map.
    ///
    /// # Errors
    /// The map refused the entry (full, wrong size).
    fn insert(&mut self, map: &'static MapDef, key: &[u8], value: &[u8]) -> Result<(), Error>;
    /// Remove an entry; a missing entry is not an error.
    ///
    /// # Errors
    /// The map refused the removal.
    fn remove(&mut self, map: &'static MapDef, key: &[u8]) -> Result<(), Error>;
    /// Every key of a bundle map.
    ///
    /// # Errors
    /// The map cannot be iterated.
    fn keys(&self, map: &'static MapDef) -> Result<Vec<Vec<u8>>, Error>;
    /// The value of a key, if present.
    ///
    /// # Errors
    /// The lookup failed for another reason than a missing key.
    fn get(&self, map: &'static MapDef, key: &[u8]) -> Result<Option<Vec<u8>>, Error>;
    /// `polc_gen[0]`.
    ///
    /// # Errors
    /// The lookup failed.
    fn generation(&self) -> Result<Generation, Error>;
    /// Set `polc_gen[0]`: the one update that switches every slot to a generation.
    ///
    /// # Errors
    /// The update failed.
    fn set_generation(&mut self, g: Generation) -> Result<(), Error>;
    /// Every `polc_cgroups` entry.
    ///
    /// # Errors
    /// The map cannot be iterated.
    fn bindings(&self) -> Result<Vec<(u64, Binding)>, Error>;
    /// Bind a cgroup id to a slot.
    ///
    /// # Errors
    /// The map refused the entry.
    fn bind(&mut self, cgroup_id: u64, binding: Binding) -> Result<(), Error>;
    /// Unbind a cgroup id (a missing binding is not an error).
    ///
    /// # Errors
    /// The map refused the removal.
    fn unbind(&mut self, cgroup_id: u64) -> Result<(), Error>;
}

/// In-memory maps with the kernel's semantics for what the agent does (insert,
/// replace, delete, iterate), plus an optional capacity to test failures.
#[derive(Clone, Debug)]
pub struct MemStore {
    /// Entries by map name.
    pub maps: BTreeMap<&'static str, BTreeMap<Vec<u8>, Vec<u8>>>,
    /// `polc_gen[0]`.
    pub generation: Generation,
    /// `polc_cgroups`.
    pub cgroups: BTreeMap<u64, Binding>,
    /// Entries a map holds at most (`None`: unbounded): inserts beyond fail like a full map.
    pub capacity: Option<usize>,
}

impl Default for MemStore {
    fn default() -> Self {
        MemStore { maps: BTreeMap::new(), generation: Generation::zeroed(), cgroups: BTreeMap::new(), capacity: None }
    }
}

impl MemStore {
    /// Entries of all bundle maps.
    pub fn total(&self) -> usize {
        self.maps.values().map(BTreeMap::len).sum()
    }
}

impl MapStore for MemStore {
    fn insert(&mut self, map: &'static MapDef, key: &[u8], value: &[u8]) -> Result<(), Error> {
        if key.len() != map.key_size || value.len() != map.value_size {
            return Err(Error::MapLayout { map: map.name });
        }
        let m = self.maps.entry(map.name).or_default();
        if self.capacity.is_some_and(|c| m.len() >= c) && !m.contains_key(key) {
            return Err(Error::Map {
                map: map.name,
                op: "insert",
                // What the kernel says for a full hash map.
                source: Box::new(aya::maps::MapError::SyscallError(aya::sys::SyscallError {
                    call: "bpf_map_update_elem",
                    io_error: std::io::Error::from_raw_os_error(7),
                })),
            });
        }
        m.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn remove(&mut self, map: &'static MapDef, key: &[u8]) -> Result<(), Error> {
        if let Some(m) = self.maps.get_mut(map.name) {
            m.remove(key);
        }
        Ok(())
    }

    fn keys(&self, map: &'static MapDef) -> Result<Vec<Vec<u8>>, Error> {
        Ok(self.maps.get(map.name).map(|m| m.keys().cloned().collect()).unwrap_or_default())
    }

    fn get(&self, map: &'static MapDef, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.maps.get(map.name).and_then(|m| m.get(key)).cloned())
    }

    fn generation(&self) -> Result<Generation, Error> {
        Ok(self.generation)
    }

    fn set_generation(&mut self, g: Generation) -> Result<(), Error> {
        self.generation = g;
        Ok(())
    }

    fn bindings(&self) -> Result<Vec<(u64, Binding)>, Error> {
        Ok(self.cgroups.iter().map(|(k, v)| (*k, *v)).collect())
    }

    fn bind(&mut self, cgroup_id: u64, binding: Binding) -> Result<(), Error> {
        self.cgroups.insert(cgroup_id, binding);
        Ok(())
    }

    fn unbind(&mut self, cgroup_id: u64) -> Result<(), Error> {
        self.cgroups.remove(&cgroup_id);
        Ok(())
    }
}
