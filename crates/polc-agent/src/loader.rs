//! Load the eBPF LSM object and attach its programs, or reuse what an earlier run
//! pinned, or replace the programs another build of polc pinned.
//!
//! Pins live under [`crate::PIN_DIR`] (`/sys/fs/bpf/polc`):
//!
//! ```text
//! /sys/fs/bpf/polc/abi-<N>/          marker: the ABI version of the pinned maps
//! /sys/fs/bpf/polc/object-<id>/      marker: the object whose programs are attached
//! /sys/fs/bpf/polc/maps/<map>        every map of the object (pinned by name)
//! /sys/fs/bpf/polc/links/<program>   the LSM link of every program whose hook the kernel has
//! /sys/fs/bpf/polc/events-reader/      held (flock) by the process reading polc_events
//! ```
//!
//! A pinned link keeps its program attached after the process that loaded it exits,
//! and pinned maps keep their entries, so an agent restart (or the end of a
//! `polc exec`) leaves enforcement in place. On start, when every pin of this
//! object exists, nothing is loaded: the maps are reopened from their pins. When
//! the maps are this ABI's but the programs another build's (or some are missing),
//! the programs are replaced over the same maps ([`Loaded::replaced`]). Pins
//! of another ABI version, or maps missing, are an error that says to remove the
//! directory (`rm -r /sys/fs/bpf/polc` detaches everything polc attached).
//!
//! Changes to the maps are serialised between processes by an exclusive `flock` on
//! the pin directory ([`Loaded::lock`]).

use crate::Error;
use crate::host::OpenCache;
use crate::ring::Ring;
use crate::store::MapStore;
use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap, Map, MapData, MapError, PerCpuArray};
use aya::programs::Lsm;
use aya::programs::links::FdLink;
use aya_obj::btf::BtfKind;
use polc_abi::{
    Binding, Generation, Host, MAP_TYPE_ARRAY, MAP_TYPE_HASH, MAP_TYPE_LPM_TRIE, MAP_TYPE_PERCPU_ARRAY,
    MAP_TYPE_RINGBUF, MapDef, PROGRAMS, ProgramDef,
};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The LSM hook of a program of `polc_abi::PROGRAMS`: its section name without
/// `lsm/`.
fn hook_of(p: &ProgramDef) -> &'static str {
    p.section.strip_prefix("lsm/").unwrap_or(p.section)
}

/// Does the kernel whose BTF this is have the LSM hook `hook` (`bpf_lsm_<hook>`)?
fn kernel_has_hook(btf: &aya::Btf, hook: &str) -> bool {
    btf.id_by_type_name_kind(&format!("bpf_lsm_{hook}"), BtfKind::Func).is_ok()
}

/// A program of the object that is not attached because the running kernel lacks
/// its hook (a hook newer than the kernel: [`ProgramDef::hook_since`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unattached {
    /// Program.
    pub program: &'static str,
    /// LSM hook.
    pub hook: &'static str,
    /// The Linux version that added the hook.
    pub since: &'static str,
}

/// The programs of the object whose hooks the running kernel lacks, as the load
/// that pinned `dir` found them (it leaves a marker `absent-<program>` for each;
/// the kernel cannot change under a pin directory, which a reboot empties).
pub fn unattached(dir: &Path) -> Vec<Unattached> {
    PROGRAMS
        .iter()
        .filter(|p| p.hook_since.is_some() && absent_marker(dir, p.name).exists())
        .map(|p| Unattached { program: p.name, hook: hook_of(p), since: p.hook_since.unwrap_or_default() })
        .collect()
}

/// The programs of the object with a link pinned in `dir`.
pub fn attached(dir: &Path) -> Vec<&'static str> {
    PROGRAMS.iter().filter(|p| link_pin(dir, p.name).exists()).map(|p| p.name).collect()
}

fn absent_marker(dir: &Path, program: &str) -> PathBuf {
    dir.join(format!("absent-{program}"))
}

/// Name of the optional per-CPU drop counter map (events the ring buffer had no room for).
pub const MAP_DROPS: &str = "polc_drops";

/// The maps, open.
#[derive(Debug)]
pub struct KernelMaps {
    bundle: Vec<(&'static MapDef, Map)>,
    generation: Map,
    cgroups: Map,
    host: Map,
    counts: Map,
    cache_stat: Map,
    events: Option<MapData>,
    drops: Option<Map>,
}

/// The loaded (or reused) object.
#[derive(Debug)]
pub struct Loaded {
    /// The maps.
    pub maps: KernelMaps,
    /// Were the pins of an earlier run reused (nothing loaded)?
    pub reused: bool,
    /// The programs of another object (another polc build of the same ABI) were
    /// replaced by this polc's, over the same pinned maps: the other object's id
    /// (`unknown` for pins made before objects were named).
    pub replaced: Option<String>,
    /// Opened as they are ([`Loaded::open_as_is`]): the programs attached are another
    /// build's (its object id), or some are missing (this build's id). `polc agent
    /// apply`, the agent's watch and `polc exec` replace them.
    pub other_programs: Option<String>,
    /// The pin directory.
    pub dir: PathBuf,
}

/// An exclusive lock on the pin directory; released on drop.
#[derive(Debug)]
pub struct Lock(#[allow(dead_code)] File);

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn lock_dir(dir: &Path) -> Result<Lock, Error> {
    let f = File::open(dir).map_err(io(dir))?;
    f.lock().map_err(io(dir))?;
    Ok(Lock(f))
}

fn abi_marker(dir: &Path) -> PathBuf {
    dir.join(format!("abi-{}", polc_abi::ABI_VERSION))
}

/// The id of the embedded object: the first 16 hex digits of its SHA-256. Pinned as
/// the directory `object-<id>` beside the ABI marker: which programs are attached.
/// Hashed once per process (every start of the agent's apply compares it).
pub fn object_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        use sha2::Digest as _;
        let d = sha2::Sha256::digest(crate::OBJECT);
        d.iter().take(8).map(|b| format!("{b:02x}")).collect()
    })
    .clone()
}

fn object_marker(dir: &Path) -> PathBuf {
    dir.join(format!("object-{}", object_id()))
}

/// The ids of the objects whose markers are in `dir` (one, normally).
fn pinned_objects(dir: &Path) -> Result<Vec<String>, Error> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix("object-")).map(str::to_string))
        .collect();
    ids.sort();
    Ok(ids)
}

impl Loaded {
    /// Check the kernel, then load and attach the embedded object and pin it under
    /// `dir`, or reopen what is pinned there.
    ///
    /// # Errors
    /// [`Error::NoObject`] for a build without the object; the failing check
    /// ([`crate::checks::all`]); a program that does not load or attach, named.
    ///
    /// The first start after a load also writes `polc_host`, with the open cache on
    /// where the kernel allows it ([`crate::host`]); later starts keep what is there.
    pub fn open(dir: &Path) -> Result<Loaded, Error> {
        let mut loaded = Self::open_pinned(dir, true)?;
        let _lock = loaded.lock()?;
        if loaded.maps.host()? == Host::zeroed() {
            loaded.maps.set_host(crate::host::probe(true).0)?;
        }
        drop(_lock);
        Ok(loaded)
    }

    /// [`Loaded::open`] for commands that read or undo (status, events, unbind,
    /// unload): programs of another build are left attached as they are
    /// ([`Loaded::other_programs`] says so); only a directory with nothing pinned
    /// is loaded.
    ///
    /// # Errors
    /// Those of [`Loaded::open`].
    pub fn open_as_is(dir: &Path) -> Result<Loaded, Error> {
        Self::open_pinned(dir, false)
    }

    /// [`Loaded::open`], then write `polc_host` with the open cache on when
    /// `open_cache` and the kernel allows it ([`crate::host`]); says whether it is on.
    /// The setting is the node's, and stays until the next `open_with`.
    ///
    /// # Errors
    /// Those of [`Loaded::open`]; `polc_host` that cannot be written.
    pub fn open_with(dir: &Path, open_cache: bool) -> Result<(Loaded, OpenCache), Error> {
        let mut loaded = Self::open_pinned(dir, true)?;
        let (host, state) = crate::host::probe(open_cache);
        let _lock = loaded.lock()?;
        loaded.maps.set_host(host)?;
        drop(_lock);
        Ok((loaded, state))
    }

    fn open_pinned(dir: &Path, replace: bool) -> Result<Loaded, Error> {
        if crate::OBJECT.is_empty() {
            return Err(Error::NoObject);
        }
        crate::checks::all(dir)?;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let _lock = lock_dir(dir)?;
        let (mut reused, mut replaced, mut other_programs) = (true, None, None);
        match pin_state(dir)? {
            PinState::Current => {}
            PinState::Empty => {
                load_and_pin(dir)?;
                reused = false;
            }
            PinState::OtherObject(from) if replace => {
                replace_programs(dir)?;
                (reused, replaced) = (false, Some(from));
            }
            PinState::OtherObject(from) => other_programs = Some(from),
        }
        Ok(Loaded { maps: open_pins(dir)?, reused, replaced, other_programs, dir: dir.to_path_buf() })
    }

    /// Serialise map changes with other polc processes.
    ///
    /// # Errors
    /// [`Error::Io`] when the directory cannot be locked.
    pub fn lock(&self) -> Result<Lock, Error> {
        lock_dir(&self.dir)
    }

    /// Take the ring buffer for reading, unless another process reads it: a ring
    /// buffer has one consumer position, so only one reader may consume.
    ///
    /// # Errors
    /// [`Error::Io`] when the reader lock cannot be made; `Ok(None)` when another
    /// process holds it.
    pub fn take_events(&mut self) -> Result<Option<(Ring, File)>, Error> {
        let path = self.dir.join("events-reader");
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::Io { path, source: e }),
        }
        let f = File::open(&path).map_err(io(&path))?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::Io { path, source: e }),
        }
        let Some(md) = self.maps.events.take() else { return Err(Error::MissingMap { map: "polc_events" }) };
        let rb = Ring::new(md).map_err(|source| Error::Io { path: map_pin(&self.dir, "polc_events"), source })?;
        Ok(Some((rb, f)))
    }

    /// Events the kernel dropped because the ring buffer was full (`None` when the
    /// object has no `polc_drops` counter).
    pub fn drops(&self) -> Option<u64> {
        let m = self.maps.drops.as_ref()?;
        let a: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(m).ok()?;
        let v = a.get(&0, 0).ok()?;
        Some(v.iter().sum())
    }
}

fn map_pin(dir: &Path, name: &str) -> PathBuf {
    dir.join("maps").join(name)
}

fn link_pin(dir: &Path, program: &str) -> PathBuf {
    dir.join("links").join(program)
}

/// What is pinned in the pin directory.
#[derive(Debug, PartialEq, Eq)]
enum PinState {
    /// Nothing: load and pin.
    Empty,
    /// This object, complete: reuse it.
    Current,
    /// Every map of this ABI, with the programs of another object (a polc build
    /// before or after this one), or with links missing: replace the programs over
    /// the same maps. The other object's id.
    OtherObject(String),
}

/// The state of the pins. Pins of another ABI, or maps missing: error (the maps
/// hold the bundles and bindings, and another ABI lays them out differently).
/// A program whose hook the kernel lacks has no link, and a marker instead.
fn pin_state(dir: &Path) -> Result<PinState, Error> {
    let other_abi = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("abi-") && *n != format!("abi-{}", polc_abi::ABI_VERSION));
    if let Some(o) = other_abi {
        let reason = format!("it was pinned by a polc with another ABI ({o})");
        return Err(Error::Pinned { what: "object".into(), path: dir.to_path_buf(), reason, dir: dir.to_path_buf() });
    }
    if !abi_marker(dir).exists() {
        // Nothing, or a load that did not finish (the marker is made last; the
        // process was killed while the verifier ran): start afresh.
        remove_pins(dir);
        return Ok(PinState::Empty);
    }
    if let Some(p) = polc_abi::MAPS.iter().map(|m| map_pin(dir, m.name)).find(|p| !p.exists()) {
        let reason = format!("the pins are incomplete ({} is missing)", p.display());
        return Err(Error::Pinned { what: "object".into(), path: dir.to_path_buf(), reason, dir: dir.to_path_buf() });
    }
    let objects = pinned_objects(dir)?;
    let ours = object_id();
    let from = match objects.as_slice() {
        [one] if *one == ours => None,
        [] => Some("unknown".to_string()),
        many => Some(many.iter().find(|o| **o != ours).unwrap_or(&many[0]).clone()),
    };
    if let Some(from) = from {
        return Ok(PinState::OtherObject(from));
    }
    // This object: every program has its link, or (a hook the kernel lacks) its
    // marker.
    let in_place = |p: &ProgramDef| {
        link_pin(dir, p.name).exists() || (p.hook_since.is_some() && absent_marker(dir, p.name).exists())
    };
    let gap = !PROGRAMS.iter().all(in_place);
    Ok(if gap { PinState::OtherObject(ours) } else { PinState::Current })
}

/// Remove everything a load pins (detaching what it attached).
fn remove_pins(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir.join("links"));
    let _ = std::fs::remove_dir_all(dir.join("maps"));
    if let Ok(d) = std::fs::read_dir(dir) {
        for e in d.filter_map(Result::ok) {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("abi-") || n.starts_with("object-") || n.starts_with("absent-") {
                let _ = std::fs::remove_dir(e.path());
            }
        }
    }
}

/// The pinned maps of the ABI have the key and value sizes this object's have: a
/// replacement must not run new programs over maps laid out otherwise (a build
/// that changed a map without a new ABI version).
fn check_map_layouts(dir: &Path) -> Result<(), Error> {
    for def in polc_abi::MAPS {
        let path = map_pin(dir, def.name);
        let info = aya::maps::MapInfo::from_pin(&path).map_err(|e| Error::Pinned {
            what: format!("map `{}`", def.name),
            path: path.clone(),
            reason: e.to_string(),
            dir: dir.to_path_buf(),
        })?;
        let (k, v) = (info.key_size() as usize, info.value_size() as usize);
        if def.map_type != MAP_TYPE_RINGBUF && (k, v) != (def.key_size, def.value_size) {
            let reason = format!(
                "its key and value are {k} and {v} bytes, this polc's {} and {} (a build of another layout with the same ABI version)",
                def.key_size, def.value_size
            );
            return Err(Error::Pinned { what: format!("map `{}`", def.name), path, reason, dir: dir.to_path_buf() });
        }
    }
    Ok(())
}

fn load_and_pin(dir: &Path) -> Result<(), Error> {
    let result = load_and_pin_inner(dir);
    if result.is_err() {
        // Leave no half-made pin set behind: the next start loads afresh.
        remove_pins(dir);
    }
    result
}

fn load_and_pin_inner(dir: &Path) -> Result<(), Error> {
    for sub in ["maps", "links"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).map_err(io(&d))?;
    }
    // The maps are pinned by name as they are made (LIBBPF_PIN_BY_NAME).
    let (mut ebpf, btf) = load_object(dir)?;
    let (attached, absent) = attach_all(&mut ebpf, &btf)?;
    for (def, link) in attached {
        let path = link_pin(dir, def.name);
        link.pin(&path).map_err(|source| Error::Pin {
            what: format!("program `{}`", def.name),
            path,
            source: Box::new(source),
        })?;
    }
    let markers = absent.iter().map(|d| absent_marker(dir, d.name));
    for m in markers.chain([object_marker(dir), abi_marker(dir)]) {
        std::fs::create_dir_all(&m).map_err(io(&m))?;
    }
    Ok(())
}

/// Load the embedded object, its maps those pinned in `dir/maps` (made and pinned
/// there when missing).
fn load_object(dir: &Path) -> Result<(aya::Ebpf, aya::Btf), Error> {
    let btf = aya::Btf::from_sys_fs().map_err(|e| Error::Btf(Box::new(e)))?;
    let ebpf = aya::EbpfLoader::new()
        .btf(Some(&btf))
        .allow_unsupported_maps()
        .map_pin_path(dir.join("maps"))
        .load(crate::OBJECT)
        .map_err(|e| Error::Load(Box::new(e)))?;
    Ok((ebpf, btf))
}

/// Attach every program of the object whose hook the kernel has: their links (held
/// by this process until pinned), and the programs left out (hooks the kernel
/// lacks). On an error, nothing stays attached (the links made are dropped).
type Attached = (Vec<(&'static ProgramDef, FdLink)>, Vec<&'static ProgramDef>);

fn attach_all(ebpf: &mut aya::Ebpf, btf: &aya::Btf) -> Result<Attached, Error> {
    let (mut attached, mut absent) = (Vec::new(), Vec::new());
    for def in PROGRAMS {
        if def.hook_since.is_some() && !kernel_has_hook(btf, hook_of(def)) {
            absent.push(def);
            continue;
        }
        attached.push((def, attach(ebpf, btf, def.name, hook_of(def))?));
    }
    Ok((attached, absent))
}

/// Load `program` and attach it to `hook`: its link.
fn attach(ebpf: &mut aya::Ebpf, btf: &aya::Btf, program: &'static str, hook: &'static str) -> Result<FdLink, Error> {
    let prog: &mut Lsm =
        ebpf.program_mut(program).and_then(|p| p.try_into().ok()).ok_or(Error::MissingProgram { program, hook })?;
    let err = |step| move |source| Error::Program { step, program, hook, source: Box::new(source) };
    prog.load(hook, btf).map_err(err("load"))?;
    let id = prog.attach().map_err(err("attach"))?;
    Ok(FdLink::from(prog.take_link(id).map_err(err("attach"))?))
}

/// Replace the programs attached from `dir` with this object's, over the pinned
/// maps (bundles, bindings, the ring buffer and the open cache stay). First every
/// new program is loaded and attached (an error there detaches them again and
/// leaves the old ones as they were); then each new link's pin takes the old one's
/// place (a rename in bpffs), which detaches the old program. No hook is ever
/// without a program; for that moment both run, on the same maps (the same
/// decisions; an event may be reported twice). Links of programs this object
/// does not attach are removed.
fn replace_programs(dir: &Path) -> Result<(), Error> {
    check_map_layouts(dir)?;
    let (mut ebpf, btf) = load_object(dir)?;
    let (attached, absent) = attach_all(&mut ebpf, &btf)?;
    let links = dir.join("links");
    std::fs::create_dir_all(&links).map_err(io(&links))?;
    let mut keep = Vec::new();
    for (def, link) in attached {
        let program = def.name;
        let path = link_pin(dir, program);
        // bpffs refuses names with a dot.
        let tmp = links.join(format!("new-{program}"));
        let _ = std::fs::remove_file(&tmp);
        link.pin(&tmp).map_err(|source| Error::Pin {
            what: format!("program `{program}`"),
            path: tmp.clone(),
            source: Box::new(source),
        })?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        keep.push(program);
    }
    for e in std::fs::read_dir(&links).map_err(io(&links))?.filter_map(Result::ok) {
        let name = e.file_name();
        if !keep.iter().any(|k| name.to_str() == Some(*k)) {
            std::fs::remove_file(e.path()).map_err(io(&e.path()))?;
        }
    }
    for def in PROGRAMS {
        let m = absent_marker(dir, def.name);
        if absent.iter().any(|a| a.name == def.name) {
            std::fs::create_dir_all(&m).map_err(io(&m))?;
        } else if m.exists() {
            std::fs::remove_dir(&m).map_err(io(&m))?;
        }
    }
    for old in pinned_objects(dir)? {
        let p = dir.join(format!("object-{old}"));
        std::fs::remove_dir(&p).map_err(io(&p))?;
    }
    let m = object_marker(dir);
    std::fs::create_dir_all(&m).map_err(io(&m))?;
    Ok(())
}

fn open_pin(dir: &Path, def: &'static MapDef) -> Result<Map, Error> {
    let path = map_pin(dir, def.name);
    let md = MapData::from_pin(&path).map_err(|e| Error::Pinned {
        what: format!("map `{}`", def.name),
        path: path.clone(),
        reason: e.to_string(),
        dir: dir.to_path_buf(),
    })?;
    Ok(match def.map_type {
        MAP_TYPE_HASH => Map::HashMap(md),
        MAP_TYPE_LPM_TRIE => Map::LpmTrie(md),
        MAP_TYPE_ARRAY => Map::Array(md),
        MAP_TYPE_RINGBUF => Map::RingBuf(md),
        MAP_TYPE_PERCPU_ARRAY => Map::PerCpuArray(md),
        _ => Map::Unsupported(md),
    })
}

fn open_pins(dir: &Path) -> Result<KernelMaps, Error> {
    let mut bundle = Vec::new();
    for def in polc_abi::BUNDLE_MAPS {
        bundle.push((def, open_pin(dir, def)?));
    }
    let events = match open_pin(dir, &polc_abi::MAP_EVENTS)? {
        Map::RingBuf(md) => Some(md),
        _ => None,
    };
    let drops_path = map_pin(dir, MAP_DROPS);
    let drops = if drops_path.exists() { MapData::from_pin(&drops_path).ok().map(Map::PerCpuArray) } else { None };
    Ok(KernelMaps {
        bundle,
        generation: open_pin(dir, &polc_abi::MAP_GENERATION)?,
        cgroups: open_pin(dir, &polc_abi::MAP_CGROUPS)?,
        host: open_pin(dir, &polc_abi::MAP_HOST)?,
        counts: open_pin(dir, &polc_abi::MAP_COUNTS)?,
        cache_stat: open_pin(dir, &polc_abi::MAP_CACHE_STAT)?,
        events,
        drops,
    })
}

/// A byte-level change of one map.
enum Req<'a> {
    Insert(&'a [u8], &'a [u8]),
    Remove(&'a [u8]),
}

fn arr<const N: usize>(b: &[u8]) -> Result<[u8; N], MapError> {
    b.try_into().map_err(|_| MapError::InvalidKeySize { size: b.len(), expected: N })
}

fn not_found(e: &MapError) -> bool {
    match e {
        MapError::KeyNotFound | MapError::ElementNotFound => true,
        MapError::SyscallError(s) => s.io_error.raw_os_error() == Some(2),
        _ => false,
    }
}

fn hash<const K: usize, const V: usize>(map: &mut Map, req: Req<'_>) -> Result<(), MapError> {
    let mut m: HashMap<&mut MapData, [u8; K], [u8; V]> = HashMap::try_from(map)?;
    match req {
        Req::Insert(k, v) => m.insert(arr::<K>(k)?, arr::<V>(v)?, 0),
        Req::Remove(k) => match m.remove(&arr::<K>(k)?) {
            Err(e) if not_found(&e) => Ok(()),
            r => r,
        },
    }
}

/// An LPM key is `u32 prefixlen` and `D` bytes of data.
fn lpm_key<const D: usize>(k: &[u8]) -> Result<Key<[u8; D]>, MapError> {
    let (p, d) = k.split_at_checked(4).ok_or(MapError::InvalidKeySize { size: k.len(), expected: D + 4 })?;
    Ok(Key::new(u32::from_le_bytes(arr::<4>(p)?), arr::<D>(d)?))
}

fn lpm<const D: usize, const V: usize>(map: &mut Map, req: Req<'_>) -> Result<(), MapError> {
    let mut m: LpmTrie<&mut MapData, [u8; D], [u8; V]> = LpmTrie::try_from(map)?;
    match req {
        Req::Insert(k, v) => m.insert(&lpm_key::<D>(k)?, arr::<V>(v)?, 0),
        Req::Remove(k) => match m.remove(&lpm_key::<D>(k)?) {
            Err(e) if not_found(&e) => Ok(()),
            r => r,
        },
    }
}

fn dispatch(def: &MapDef, map: &mut Map, req: Req<'_>) -> Result<(), MapError> {
    match (def.map_type, def.key_size, def.value_size) {
        (MAP_TYPE_HASH, 4, 72) => hash::<4, 72>(map, req),
        (MAP_TYPE_HASH, 256, 12) => hash::<256, 12>(map, req),
        (MAP_TYPE_HASH, 16, 84) => hash::<16, 84>(map, req),
        (MAP_TYPE_HASH, 24, 12) => hash::<24, 12>(map, req),
        (MAP_TYPE_HASH, 256, 4) => hash::<256, 4>(map, req),
        (MAP_TYPE_HASH, 12, 12) => hash::<12, 12>(map, req),
        (MAP_TYPE_LPM_TRIE, 260, 44) => lpm::<256, 44>(map, req),
        (MAP_TYPE_LPM_TRIE, 260, 16) => lpm::<256, 16>(map, req),
        (MAP_TYPE_LPM_TRIE, 260, 12) => lpm::<256, 12>(map, req),
        (MAP_TYPE_LPM_TRIE, 16, 12) => lpm::<12, 12>(map, req),
        (MAP_TYPE_LPM_TRIE, 28, 12) => lpm::<24, 12>(map, req),
        (t, k, _) => Err(MapError::InvalidKeySize { size: k, expected: t as usize }),
    }
}

impl KernelMaps {
    fn call(&mut self, def: &'static MapDef, op: &'static str, req: Req<'_>) -> Result<(), Error> {
        let Some((_, map)) = self.bundle.iter_mut().find(|(d, _)| d.name == def.name) else {
            return Err(Error::MissingMap { map: def.name });
        };
        dispatch(def, map, req).map_err(|source| Error::Map { map: def.name, op, source: Box::new(source) })
    }
}

impl KernelMaps {
    /// `polc_host[0]`.
    ///
    /// # Errors
    /// The map cannot be read.
    pub fn host(&self) -> Result<Host, Error> {
        let err = |source| Error::Map { map: polc_abi::MAP_HOST.name, op: "read", source: Box::new(source) };
        let a: Array<&MapData, [u8; Host::SIZE]> = Array::try_from(&self.host).map_err(err)?;
        let v = a.get(&0, 0).map_err(err)?;
        Host::from_bytes(&v).ok_or(Error::MapLayout { map: polc_abi::MAP_HOST.name })
    }

    /// The open cache's counters.
    ///
    /// # Errors
    /// The maps cannot be read.
    pub fn cache_stats(&self) -> Result<crate::host::CacheStats, Error> {
        let err = |map| move |source| Error::Map { map, op: "read", source: Box::new(source) };
        let counts: Array<&MapData, u64> = Array::try_from(&self.counts).map_err(err(polc_abi::MAP_COUNTS.name))?;
        let entries = counts.get(&polc_abi::count::ENTRIES, 0).map_err(err(polc_abi::MAP_COUNTS.name))?;
        let stat: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(&self.cache_stat).map_err(err(polc_abi::MAP_CACHE_STAT.name))?;
        let sum = |i: u32| -> Result<u64, Error> {
            let v = stat.get(&i, 0).map_err(err(polc_abi::MAP_CACHE_STAT.name))?;
            Ok(v.iter().fold(0u64, |a, b| a.wrapping_add(*b)))
        };
        let host = self.host()?;
        Ok(crate::host::CacheStats {
            on: host.flags & polc_abi::host_flags::OPEN_CACHE != 0,
            max_entries: host.cache_max,
            entries,
            hits: sum(polc_abi::cache_stat::HITS)?,
            stale: sum(polc_abi::cache_stat::STALE)?,
            full: sum(polc_abi::cache_stat::FULL)?,
        })
    }

    fn set_host(&mut self, h: Host) -> Result<(), Error> {
        let err = |source| Error::Map { map: polc_abi::MAP_HOST.name, op: "update", source: Box::new(source) };
        let mut a: Array<&mut MapData, [u8; Host::SIZE]> = Array::try_from(&mut self.host).map_err(err)?;
        a.set(0, h.to_bytes(), 0).map_err(err)
    }
}

const GEN: &str = "polc_gen";
const CGROUPS: &str = "polc_cgroups";

impl MapStore for KernelMaps {
    fn insert(&mut self, map: &'static MapDef, key: &[u8], value: &[u8]) -> Result<(), Error> {
        self.call(map, "insert", Req::Insert(key, value))
    }

    fn remove(&mut self, map: &'static MapDef, key: &[u8]) -> Result<(), Error> {
        self.call(map, "delete", Req::Remove(key))
    }

    fn keys(&self, map: &'static MapDef) -> Result<Vec<Vec<u8>>, Error> {
        let Some((_, m)) = self.bundle.iter().find(|(d, _)| d.name == map.name) else {
            return Err(Error::MissingMap { map: map.name });
        };
        let err = |source| Error::Map { map: map.name, op: "iterate", source: Box::new(source) };
        keys_shared(map, m).map_err(err)
    }

    fn get(&self, map: &'static MapDef, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let Some((_, m)) = self.bundle.iter().find(|(d, _)| d.name == map.name) else {
            return Err(Error::MissingMap { map: map.name });
        };
        get_shared(map, m, key).map_err(|source| Error::Map { map: map.name, op: "look up", source: Box::new(source) })
    }

    fn generation(&self) -> Result<Generation, Error> {
        let err = |source| Error::Map { map: GEN, op: "read", source: Box::new(source) };
        let a: Array<&MapData, [u8; 8]> = Array::try_from(&self.generation).map_err(err)?;
        let v = a.get(&0, 0).map_err(err)?;
        Generation::from_bytes(&v).ok_or(Error::MapLayout { map: GEN })
    }

    fn set_generation(&mut self, g: Generation) -> Result<(), Error> {
        let err = |source| Error::Map { map: GEN, op: "update", source: Box::new(source) };
        let mut a: Array<&mut MapData, [u8; 8]> = Array::try_from(&mut self.generation).map_err(err)?;
        a.set(0, g.to_bytes(), 0).map_err(err)
    }

    fn bindings(&self) -> Result<Vec<(u64, Binding)>, Error> {
        let err = |source| Error::Map { map: CGROUPS, op: "iterate", source: Box::new(source) };
        let m: HashMap<&MapData, u64, [u8; 8]> = HashMap::try_from(&self.cgroups).map_err(err)?;
        let mut out = Vec::new();
        for item in m.iter() {
            let (k, v) = item.map_err(err)?;
            if let Some(b) = Binding::from_bytes(&v) {
                out.push((k, b));
            }
        }
        Ok(out)
    }

    fn bind(&mut self, cgroup_id: u64, binding: Binding) -> Result<(), Error> {
        let err = |source| Error::Map { map: CGROUPS, op: "insert", source: Box::new(source) };
        let mut m: HashMap<&mut MapData, u64, [u8; 8]> = HashMap::try_from(&mut self.cgroups).map_err(err)?;
        m.insert(cgroup_id, binding.to_bytes(), 0).map_err(err)
    }

    fn unbind(&mut self, cgroup_id: u64) -> Result<(), Error> {
        let err = |source| Error::Map { map: CGROUPS, op: "delete", source: Box::new(source) };
        let mut m: HashMap<&mut MapData, u64, [u8; 8]> = HashMap::try_from(&mut self.cgroups).map_err(err)?;
        match m.remove(&cgroup_id) {
            Err(e) if not_found(&e) => Ok(()),
            r => r.map_err(err),
        }
    }
}

macro_rules! shared {
    ($name:ident, $ret:ty, |$m:ident, $key:ident| hash $hash:block lpm $lpm:block) => {
        fn $name(def: &MapDef, map: &Map, $key: &[u8]) -> Result<$ret, MapError> {
            fn h<const K: usize, const V: usize>(map: &Map, $key: &[u8]) -> Result<$ret, MapError> {
                let $m: HashMap<&MapData, [u8; K], [u8; V]> = HashMap::try_from(map)?;
                $hash
            }
            fn l<const D: usize, const V: usize>(map: &Map, $key: &[u8]) -> Result<$ret, MapError> {
                let $m: LpmTrie<&MapData, [u8; D], [u8; V]> = LpmTrie::try_from(map)?;
                $lpm
            }
            match (def.map_type, def.key_size, def.value_size) {
                (MAP_TYPE_HASH, 4, 72) => h::<4, 72>(map, $key),
                (MAP_TYPE_HASH, 256, 12) => h::<256, 12>(map, $key),
                (MAP_TYPE_HASH, 16, 84) => h::<16, 84>(map, $key),
                (MAP_TYPE_HASH, 24, 12) => h::<24, 12>(map, $key),
                (MAP_TYPE_HASH, 256, 4) => h::<256, 4>(map, $key),
                (MAP_TYPE_HASH, 12, 12) => h::<12, 12>(map, $key),
                (MAP_TYPE_LPM_TRIE, 260, 44) => l::<256, 44>(map, $key),
                (MAP_TYPE_LPM_TRIE, 260, 16) => l::<256, 16>(map, $key),
                (MAP_TYPE_LPM_TRIE, 260, 12) => l::<256, 12>(map, $key),
                (MAP_TYPE_LPM_TRIE, 16, 12) => l::<12, 12>(map, $key),
                (MAP_TYPE_LPM_TRIE, 28, 12) => l::<24, 12>(map, $key),
                (t, k, _) => Err(MapError::InvalidKeySize { size: k, expected: t as usize }),
            }
        }
    };
}

shared!(keys_inner, Vec<Vec<u8>>, |m, _key| hash {
    m.keys().map(|k| k.map(|k| k.to_vec())).collect()
} lpm {
    m.keys()
        .map(|k| {
            k.map(|k| {
                let mut b = k.prefix_len().to_le_bytes().to_vec();
                b.extend_from_slice(&k.data());
                b
            })
        })
        .collect()
});

shared!(get_shared, Option<Vec<u8>>, |m, key| hash {
    match m.get(&arr::<K>(key)?, 0) {
        Ok(v) => Ok(Some(v.to_vec())),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
} lpm {
    let want = lpm_key::<D>(key)?;
    for item in m.iter() {
        let (k, v) = item?;
        if k.prefix_len() == want.prefix_len() && k.data() == want.data() {
            return Ok(Some(v.to_vec()));
        }
    }
    Ok(None)
});

fn keys_shared(def: &MapDef, map: &Map) -> Result<Vec<Vec<u8>>, MapError> {
    keys_inner(def, map, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_program_has_its_hook() {
        let t: Vec<(&str, &str)> = PROGRAMS.iter().map(|p| (p.name, hook_of(p))).collect();
        assert_eq!(t.len(), PROGRAMS.len());
        assert!(t.contains(&("polc_bprm_check", "bprm_check_security")));
        assert!(t.contains(&("polc_connect", "socket_connect")));
        assert!(t.iter().all(|(_, h)| !h.contains('/')));
    }

    /// A pin directory of plain files and directories where pins would be.
    fn fake_pins(name: &str, maps: bool, abi: Option<u32>, object: Option<&str>, links: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("polc-pins-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("maps")).unwrap_or_default();
        std::fs::create_dir_all(dir.join("links")).unwrap_or_default();
        if maps {
            for m in polc_abi::MAPS {
                std::fs::write(map_pin(&dir, m.name), b"").unwrap_or_default();
            }
        }
        if let Some(v) = abi {
            std::fs::create_dir_all(dir.join(format!("abi-{v}"))).unwrap_or_default();
        }
        if let Some(o) = object {
            std::fs::create_dir_all(dir.join(format!("object-{o}"))).unwrap_or_default();
        }
        for l in links {
            std::fs::write(link_pin(&dir, l), b"").unwrap_or_default();
        }
        dir
    }

    #[test]
    fn pin_states() {
        let ours = object_id();
        let all: Vec<&str> = PROGRAMS.iter().map(|p| p.name).collect();
        let abi = Some(polc_abi::ABI_VERSION);
        let state = |d: &Path| pin_state(d).map_err(|e| e.to_string());
        let mut made = Vec::new();
        let mut pins = |name: &str, maps: bool, abi: Option<u32>, object: Option<&str>, links: &[&str]| {
            let d = fake_pins(name, maps, abi, object, links);
            made.push(d.clone());
            d
        };
        // Nothing pinned: load.
        let d = pins("empty", false, None, None, &[]);
        assert_eq!(state(&d), Ok(PinState::Empty));
        // A load that did not finish (maps and links, no ABI marker, made last):
        // removed, then loaded afresh.
        let d = pins("half", true, None, Some(&ours), &all[..3]);
        assert_eq!(state(&d), Ok(PinState::Empty));
        assert!(
            !d.join("maps").exists() && !d.join("links").exists() && pinned_objects(&d).is_ok_and(|o| o.is_empty())
        );
        // This object, every link: reuse.
        let d = pins("current", true, abi, Some(&ours), &all);
        assert_eq!(state(&d), Ok(PinState::Current));
        assert_eq!(attached(&d).len(), PROGRAMS.len());
        // A hook the kernel lacked at the load: a marker in place of its link.
        let without_trunc: Vec<&str> = all.iter().copied().filter(|p| *p != "polc_file_trunc").collect();
        let d = pins("absent", true, abi, Some(&ours), &without_trunc);
        std::fs::create_dir_all(absent_marker(&d, "polc_file_trunc")).unwrap_or_default();
        assert_eq!(state(&d), Ok(PinState::Current));
        assert_eq!(
            unattached(&d).iter().map(|u| (u.program, u.since)).collect::<Vec<_>>(),
            [("polc_file_trunc", "6.2")]
        );
        // ... without the marker: attached again (repair).
        let d = pins("no-marker", true, abi, Some(&ours), &without_trunc);
        assert_eq!(state(&d), Ok(PinState::OtherObject(ours.clone())));
        // Another build's programs over this ABI's maps: replace them.
        let d = pins("other", true, abi, Some("0123456789abcdef"), &all);
        assert_eq!(state(&d), Ok(PinState::OtherObject("0123456789abcdef".into())));
        // Pins from before objects were named.
        let d = pins("unnamed", true, abi, None, &all[1..]);
        assert_eq!(state(&d), Ok(PinState::OtherObject("unknown".into())));
        // This object with a link gone: attach again.
        let some: Vec<&str> = all.iter().copied().filter(|p| *p != "polc_connect").collect();
        let d = pins("gap", true, abi, Some(&ours), &some);
        assert_eq!(state(&d), Ok(PinState::OtherObject(ours.clone())));
        // Another ABI, or maps missing: an error naming the directory to remove.
        let d = pins("abi", true, Some(polc_abi::ABI_VERSION + 1), Some(&ours), &all);
        let e = state(&d).err().unwrap_or_default();
        assert!(e.contains("another ABI") && e.contains(&format!("remove {}", d.display())), "{e}");
        let d = pins("maps", false, abi, Some(&ours), &all);
        let e = state(&d).err().unwrap_or_default();
        assert!(e.contains("incomplete") && e.contains("maps/"), "{e}");
        for d in made {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn hooks_newer_than_6_1_are_marked() {
        // Debian 12's kernel (6.1) lacks file_truncate; every other hook is older.
        let newer: Vec<&str> = PROGRAMS.iter().filter(|p| p.hook_since.is_some()).map(|p| p.name).collect();
        assert_eq!(newer, ["polc_file_trunc"]);
    }

    #[test]
    fn every_bundle_map_has_a_dispatch_arm() {
        // An empty Map of the wrong kind fails in try_from, never in the size match.
        for def in polc_abi::BUNDLE_MAPS {
            let known = matches!(
                (def.map_type, def.key_size, def.value_size),
                (MAP_TYPE_HASH, 4, 72)
                    | (MAP_TYPE_HASH, 256, 12)
                    | (MAP_TYPE_HASH, 16, 84)
                    | (MAP_TYPE_HASH, 24, 12)
                    | (MAP_TYPE_HASH, 256, 4)
                    | (MAP_TYPE_HASH, 12, 12)
                    | (MAP_TYPE_LPM_TRIE, 260, 44)
                    | (MAP_TYPE_LPM_TRIE, 260, 16)
                    | (MAP_TYPE_LPM_TRIE, 260, 12)
                    | (MAP_TYPE_LPM_TRIE, 16, 12)
                    | (MAP_TYPE_LPM_TRIE, 28, 12)
            );
            assert!(known, "{}", def.name);
        }
    }
}
