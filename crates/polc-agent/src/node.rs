//! The node agent's bookkeeping: which plan's bundle is in which slot.
//!
//! The kernel maps hold what is enforced; they do not hold the rule names, sources
//! and messages that violation records carry, nor the plan a slot belongs to. The
//! agent keeps a copy of every bundle it applied in a state directory
//! (`/run/polc/slots/<slot>.bundle` by default: tmpfs, so it goes away at reboot
//! together with the bpffs pins). A restarted agent reads it back to name events and
//! to replace a plan's bundle in place.
//!
//! [`sync`] turns "these bundles should be loaded" into one list of slot changes for
//! [`crate::policy::apply`], so a whole sync is one generation switch: a plan already
//! loaded is replaced in its own slot, a new plan gets a free slot, an identical
//! bundle is left alone, and with `prune` the agent's slots whose plan is gone are
//! unloaded. Slots the agent did not load (those of running `polc exec`) are never
//! touched.

use crate::Error;
use crate::events::PodRef;
use polc_compiler::backend::bpf::bundle::Bundle;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Default state directory.
pub const STATE_DIR: &str = "/run/polc";

/// The state directory.
#[derive(Clone, Debug)]
pub struct State {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

impl State {
    /// The state under `dir` (created when missing).
    ///
    /// # Errors
    /// [`Error::Io`] when the directory cannot be created.
    pub fn open(dir: &Path) -> Result<State, Error> {
        let slots = dir.join("slots");
        std::fs::create_dir_all(&slots).map_err(io(&slots))?;
        Ok(State { dir: dir.to_path_buf() })
    }

    /// The directory of the slot files.
    pub fn slots_dir(&self) -> PathBuf {
        self.dir.join("slots")
    }

    fn slot_file(&self, slot: u16) -> PathBuf {
        self.slots_dir().join(format!("{slot}.bundle"))
    }

    /// Every recorded slot and its bundle.
    ///
    /// # Errors
    /// [`Error::Io`] for an unreadable file, [`Error::Bundle`] for one that does not
    /// decode; files whose name is not `<slot>.bundle` are ignored.
    pub fn read(&self) -> Result<BTreeMap<u16, Bundle>, Error> {
        let dir = self.slots_dir();
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let path = entry.path();
            let Some(slot) = slot_of_file(&path) else { continue };
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let bundle = Bundle::decode(&bytes).map_err(|source| Error::Bundle { path: path.clone(), source })?;
            out.insert(slot, bundle);
        }
        Ok(out)
    }

    /// Record `bundle` as the policy of `slot` (written beside, then renamed).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write(&self, slot: u16, bundle: &Bundle) -> Result<(), Error> {
        let path = self.slot_file(slot);
        let tmp = self.slots_dir().join(format!(".{slot}.bundle.tmp"));
        std::fs::write(&tmp, bundle.encode()).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// The file of the Kubernetes containers of the bound cgroups.
    pub fn pods_file(&self) -> PathBuf {
        self.dir.join("pods.json")
    }

    /// Record the Kubernetes containers of the bound cgroups (by cgroup id), for
    /// the event reader to name pods: `{"v": 1, "cgroups": [{"cgroupId", "namespace",
    /// "name", "uid", "container", "containerId"}]}`, written beside and renamed, and
    /// only when it changed.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write_pods(&self, pods: &BTreeMap<u64, PodRef>) -> Result<(), Error> {
        let rows: Vec<serde_json::Value> = pods
            .iter()
            .map(|(id, p)| {
                serde_json::json!({
                    "cgroupId": id, "namespace": p.namespace, "name": p.name, "uid": p.uid,
                    "container": p.container, "containerId": p.container_id,
                })
            })
            .collect();
        let mut text = serde_json::to_string(&serde_json::json!({"v": 1, "cgroups": rows})).unwrap_or_default();
        text.push('\n');
        let path = self.pods_file();
        if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            return Ok(());
        }
        let tmp = self.dir.join(".pods.json.tmp");
        std::fs::write(&tmp, text).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// The Kubernetes containers of the bound cgroups, as last recorded (none when
    /// nothing was recorded).
    ///
    /// # Errors
    /// [`Error::Io`] for a file that cannot be read or is not what
    /// [`State::write_pods`] writes.
    pub fn read_pods(&self) -> Result<Vec<(u64, PodRef)>, Error> {
        let path = self.pods_file();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::Io { path, source: e }),
        };
        let bad = |why: &str| Error::Io {
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string()),
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(&e.to_string()))?;
        let rows = v.get("cgroups").and_then(serde_json::Value::as_array).ok_or_else(|| bad("no `cgroups` list"))?;
        let text =
            |r: &serde_json::Value, k: &str| r.get(k).and_then(serde_json::Value::as_str).unwrap_or("").to_string();
        rows.iter()
            .map(|r| {
                let id = r
                    .get("cgroupId")
                    .and_then(serde_json::Value::as_u64)
                    .ok_or_else(|| bad("a row without a cgroupId"))?;
                let p = PodRef {
                    namespace: text(r, "namespace"),
                    name: text(r, "name"),
                    uid: text(r, "uid"),
                    container: text(r, "container"),
                    container_id: text(r, "containerId"),
                };
                Ok((id, p))
            })
            .collect()
    }

    /// Forget `slot`.
    ///
    /// # Errors
    /// [`Error::Io`] (a missing file is not an error).
    pub fn remove(&self, slot: u16) -> Result<(), Error> {
        let path = self.slot_file(slot);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io { path, source: e }),
            _ => Ok(()),
        }
    }
}

/// `<slot>.bundle` -> slot (1..=65535).
fn slot_of_file(path: &Path) -> Option<u16> {
    let name = path.file_name()?.to_str()?;
    let n: u16 = name.strip_suffix(".bundle")?.parse().ok()?;
    (n != 0).then_some(n)
}

/// What happens to one plan in a sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A new plan, loaded into a free slot.
    Load {
        /// The slot.
        slot: u16,
        /// The plan id.
        target: String,
    },
    /// A loaded plan with a new bundle, replaced in its slot.
    Replace {
        /// The slot.
        slot: u16,
        /// The plan id.
        target: String,
    },
    /// The same bundle (same content hash) is loaded already.
    Unchanged {
        /// The slot.
        slot: u16,
        /// The plan id.
        target: String,
    },
    /// An agent slot whose plan is no longer wanted (`prune`).
    Unload {
        /// The slot.
        slot: u16,
        /// The plan id.
        target: String,
    },
}

impl Change {
    /// The slot.
    pub fn slot(&self) -> u16 {
        match self {
            Change::Load { slot, .. }
            | Change::Replace { slot, .. }
            | Change::Unchanged { slot, .. }
            | Change::Unload { slot, .. } => *slot,
        }
    }

    /// The plan id.
    pub fn target(&self) -> &str {
        match self {
            Change::Load { target, .. }
            | Change::Replace { target, .. }
            | Change::Unchanged { target, .. }
            | Change::Unload { target, .. } => target,
        }
    }

    /// `load`, `replace`, `unchanged` or `unload`.
    pub fn verb(&self) -> &'static str {
        match self {
            Change::Load { .. } => "load",
            Change::Replace { .. } => "replace",
            Change::Unchanged { .. } => "unchanged",
            Change::Unload { .. } => "unload",
        }
    }
}

/// Why a sync cannot be planned.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyncError {
    /// Two of the wanted bundles are for the same plan.
    #[error("two bundles are for plan {target}; give each plan once")]
    DuplicatePlan {
        /// The plan id.
        target: String,
    },
    /// No free slot left.
    #[error("no free policy slot for plan {target} (all {max} are in use)")]
    NoSlot {
        /// The plan id.
        target: String,
        /// Number of slots.
        max: u32,
    },
}

/// Plan a sync: `recorded` is the state directory's slots, `loaded` the slots the
/// kernel has a policy for, `used` every slot in use (loaded or bound), `wanted` the
/// bundles that should be enforced. Returns one change per wanted plan (and per
/// pruned slot), sorted by slot.
///
/// A recorded slot the kernel no longer has (the pins were removed) is loaded again
/// in the same slot, as cgroups may still be bound to it.
///
/// # Errors
/// [`SyncError`].
pub fn sync(
    recorded: &BTreeMap<u16, Bundle>,
    loaded: &BTreeSet<u16>,
    used: &BTreeSet<u16>,
    wanted: &[Bundle],
    prune: bool,
) -> Result<Vec<Change>, SyncError> {
    let by_target: BTreeMap<&str, (u16, &Bundle)> =
        recorded.iter().map(|(slot, b)| (b.target.as_str(), (*slot, b))).collect();
    let mut taken: BTreeSet<u16> = used.iter().chain(recorded.keys()).copied().collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for b in wanted {
        let target = b.target.clone();
        if !seen.insert(b.target.as_str()) {
            return Err(SyncError::DuplicatePlan { target });
        }
        match by_target.get(b.target.as_str()) {
            Some((slot, old)) if loaded.contains(slot) && old.sha256_hex() == b.sha256_hex() => {
                out.push(Change::Unchanged { slot: *slot, target });
            }
            Some((slot, _)) => out.push(Change::Replace { slot: *slot, target }),
            None => {
                let slot = crate::policy::pick_slot(&taken, b.slot)
                    .ok_or(SyncError::NoSlot { target: target.clone(), max: crate::policy::MAX_SLOTS })?;
                taken.insert(slot);
                out.push(Change::Load { slot, target });
            }
        }
    }
    if prune {
        for (slot, b) in recorded {
            if !seen.contains(b.target.as_str()) {
                out.push(Change::Unload { slot: *slot, target: b.target.clone() });
            }
        }
    }
    out.sort_by_key(Change::slot);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polc_compiler::backend::bpf::bundle::MapSection;

    fn bundle(target: &str, slot: u16, policy: &str) -> Bundle {
        Bundle {
            target: target.into(),
            slot,
            policies: vec![policy.into()],
            maps: polc_abi::BUNDLE_MAPS.iter().map(|m| MapSection::new(m, vec![])).collect(),
            rules: vec![],
            defaults: vec![],
        }
    }

    fn set(s: &[u16]) -> BTreeSet<u16> {
        s.iter().copied().collect()
    }

    #[test]
    fn a_sync_loads_replaces_keeps_and_prunes() {
        let recorded: BTreeMap<u16, Bundle> =
            [(3, bundle("ns/Deployment/a/a", 3, "p1")), (5, bundle("ns/Deployment/b/b", 5, "p2"))].into();
        let wanted = [
            bundle("ns/Deployment/a/a", 3, "p1"),  // same bytes: unchanged
            bundle("ns/Deployment/c/c", 3, "p3"),  // new, preferred slot 3 is taken
            bundle("ns/Deployment/d/d", 40, "p4"), // new, preferred slot free
        ];
        // Slot 4 is a `polc exec` slot: loaded, not recorded, never touched.
        let got = sync(&recorded, &set(&[3, 4, 5]), &set(&[3, 4, 5]), &wanted, true).unwrap();
        let show: Vec<String> = got.iter().map(|c| format!("{} {} {}", c.verb(), c.slot(), c.target())).collect();
        assert_eq!(
            show,
            [
                "load 1 ns/Deployment/c/c",
                "unchanged 3 ns/Deployment/a/a",
                "unload 5 ns/Deployment/b/b",
                "load 40 ns/Deployment/d/d",
            ]
        );
        // Without prune, b stays.
        let got = sync(&recorded, &set(&[3, 4, 5]), &set(&[3, 4, 5]), &wanted, false).unwrap();
        assert!(got.iter().all(|c| c.verb() != "unload"), "{got:?}");
    }

    #[test]
    fn a_new_bundle_replaces_in_place_and_a_lost_slot_is_reloaded() {
        let recorded: BTreeMap<u16, Bundle> = [(7, bundle("x/Pod/p/c", 7, "old"))].into();
        let got = sync(&recorded, &set(&[7]), &set(&[7]), &[bundle("x/Pod/p/c", 1, "new")], false).unwrap();
        assert_eq!(got, [Change::Replace { slot: 7, target: "x/Pod/p/c".into() }]);
        // The kernel lost the slot (pins removed): same bytes, loaded again in slot 7.
        let got = sync(&recorded, &set(&[]), &set(&[]), &[bundle("x/Pod/p/c", 7, "old")], false).unwrap();
        assert_eq!(got, [Change::Replace { slot: 7, target: "x/Pod/p/c".into() }]);
    }

    #[test]
    fn duplicate_plans_are_refused() {
        let e = sync(&BTreeMap::new(), &set(&[]), &set(&[]), &[bundle("a", 1, "x"), bundle("a", 2, "y")], false);
        assert_eq!(e, Err(SyncError::DuplicatePlan { target: "a".into() }));
    }

    #[test]
    fn state_round_trips_and_ignores_strangers() {
        let dir = std::env::temp_dir().join(format!("polc-node-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let st = State::open(&dir).unwrap();
        st.write(9, &bundle("ns/Pod/p/c", 9, "p")).unwrap();
        std::fs::write(st.slots_dir().join("README"), "not a slot").unwrap();
        std::fs::write(st.slots_dir().join("0.bundle"), "slot 0 does not exist").unwrap();
        let got = st.read().unwrap();
        assert_eq!(got.keys().copied().collect::<Vec<_>>(), [9]);
        assert_eq!(got[&9].target, "ns/Pod/p/c");
        std::fs::write(st.slots_dir().join("2.bundle"), "garbage").unwrap();
        let e = st.read().unwrap_err().to_string();
        assert!(e.contains("2.bundle"), "{e}");
        st.remove(2).unwrap();
        st.remove(9).unwrap();
        st.remove(9).unwrap();
        assert!(st.read().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The pods' file: read back as written, rewritten only when it changes, none
    /// when never written, and a broken file is an error naming it.
    #[test]
    fn pods_file_round_trip() {
        let dir = std::env::temp_dir().join(format!("polc-node-pods-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let st = State::open(&dir).unwrap();
        assert!(st.read_pods().unwrap().is_empty());
        let p = |name: &str| PodRef {
            namespace: "shop".into(),
            name: name.into(),
            uid: "u".into(),
            container: "c".into(),
            container_id: "b".repeat(64),
        };
        let pods: BTreeMap<u64, PodRef> = [(12, p("a")), (34, p("b"))].into_iter().collect();
        st.write_pods(&pods).unwrap();
        assert_eq!(st.read_pods().unwrap(), pods.clone().into_iter().collect::<Vec<_>>());
        let before = std::fs::metadata(st.pods_file()).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        st.write_pods(&pods).unwrap();
        assert_eq!(std::fs::metadata(st.pods_file()).unwrap().modified().unwrap(), before, "unchanged: not rewritten");
        std::fs::write(st.pods_file(), "{").unwrap();
        let e = st.read_pods().unwrap_err().to_string();
        assert!(e.contains("pods.json"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
