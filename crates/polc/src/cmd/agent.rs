//! `polc agent`: the node agent. `apply` loads the bpf-lsm bundles `polc compile`
//! wrote (one generation switch for the whole set) and binds cgroups to plans;
//! `events` turns kernel events into violation records; `status` shows what is
//! loaded and bound; `unload` and `unbind` take it away. Enforcement lives in the
//! pinned maps and links, so no agent process needs to run for it to stay in place.

use crate::Status;
use crate::cli::{
    AgentApplyArgs, AgentArgs, AgentCommand, AgentEventsArgs, AgentStatusArgs, AgentUnbindArgs, AgentUnloadArgs,
    StatusFormat,
};
use anyhow::Context;
use polc_agent::events::Catalog;
use polc_agent::format::{Clock, Format};
use polc_agent::loader::Loaded;
use polc_agent::node::{Change, State};
use polc_agent::store::MapStore as _;
use polc_agent::{cgroup, policy};
use polc_compiler::backend::bpf::bundle::Bundle;
use polc_compiler::plan::Target;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

pub(crate) fn run(args: &AgentArgs) -> anyhow::Result<Status> {
    match &args.command {
        AgentCommand::Apply(a) => apply(args, a),
        AgentCommand::Events(a) => events(args, a),
        AgentCommand::Status(a) => status(args, a),
        AgentCommand::Unload(a) => unload(args, a),
        AgentCommand::Unbind(a) => unbind(args, a),
        AgentCommand::Watch(a) => crate::cmd::watch::run(args, a),
    }
}

/// `.bundle` files of PATH: the file itself, DIR/*.bundle, or DIR/bpf-lsm/*.bundle
/// (a `polc compile --out` directory).
pub(crate) fn bundle_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let dir = if path.join("bpf-lsm").is_dir() { path.join("bpf-lsm") } else { path.to_path_buf() };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bundle"))
        .collect();
    files.sort();
    anyhow::ensure!(
        !files.is_empty(),
        "{} has no .bundle files (compile with `polc compile POLICIES --out DIR --target bpf-lsm`)",
        dir.display()
    );
    Ok(files)
}

fn read_bundle(path: &Path) -> anyhow::Result<Bundle> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Bundle::decode(&bytes).with_context(|| format!("{} is not a polc bundle", path.display()))
}

/// `PLAN=CGROUP` -> (plan, cgroup directory).
fn parse_bind(s: &str) -> anyhow::Result<(&str, &Path)> {
    match s.split_once('=') {
        Some((plan, dir)) if !plan.is_empty() && !dir.is_empty() => Ok((plan, Path::new(dir))),
        _ => {
            anyhow::bail!("--bind {s}: expected PLAN=CGROUP_DIR, e.g. shop/Deployment/carts/carts=/sys/fs/cgroup/carts")
        }
    }
}

/// The one plan of `targets` that `name` names: a plan id, its workload or container
/// name, or its file stem (`Target::stem`, as `polc compile` names the bundle).
fn find_plan<'a>(targets: &[&'a str], name: &str) -> anyhow::Result<&'a str> {
    let names = |t: &str| -> bool {
        let Some((namespace, rest)) = t.split_once('/') else { return t == name };
        let mut it = rest.splitn(3, '/');
        let (Some(kind), Some(workload), Some(container)) = (it.next(), it.next(), it.next()) else {
            return t == name;
        };
        let target = Target {
            namespace: namespace.into(),
            kind: kind.into(),
            name: workload.into(),
            container: container.into(),
        };
        t == name || workload == name || container == name || target.stem() == name
    };
    let hits: Vec<&str> = targets.iter().copied().filter(|t| names(t)).collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => anyhow::bail!("no loaded plan is named {name}; plans: {}", targets.join(", ")),
        _ => anyhow::bail!("{name} names several plans ({}); use a plan id", hits.join(", ")),
    }
}

fn apply(common: &AgentArgs, args: &AgentApplyArgs) -> anyhow::Result<Status> {
    // The pod list is read before anything changes: a list that does not read
    // changes nothing.
    let pod_list = args.pods.as_deref().map(|p| read_pods(p, args)).transpose()?;
    apply_with(common, args, pod_list, None)
}

/// What the last sync of `polc agent watch` printed, so that the next prints only
/// what changed.
#[derive(Default)]
pub(crate) struct Quiet {
    /// Bindings made by the last sync, cgroup id -> slot.
    bound: BTreeMap<u64, u16>,
    /// Its notes and warnings.
    notes: String,
    /// The last sync's failure, printed once while it repeats.
    pub(crate) failure: String,
    /// The pods the last sync left out, and why.
    pub(crate) pod_problems: String,
    /// `--from-cluster`: what the last compile's input left out, and why.
    pub(crate) source_notes: String,
    /// `--from-cluster`: the files the last compile left out, with their errors.
    pub(crate) left_out: String,
    /// `--from-cluster`: the last compile's failure, printed once while it repeats.
    pub(crate) compile_failure: String,
}

/// `apply`, with the pod list given (`polc agent watch` reads it from the API).
/// With `quiet`, only what differs from the last sync is printed.
pub(crate) fn apply_with(
    common: &AgentArgs,
    args: &AgentApplyArgs,
    pod_list: Option<Vec<polc_agent::pods::PodContainer>>,
    quiet: Option<&mut Quiet>,
) -> anyhow::Result<Status> {
    let mut wanted = Vec::new();
    for p in &args.bundles {
        for f in bundle_files(p)? {
            wanted.push(read_bundle(&f)?);
        }
    }
    if args.used_only
        && let Some(list) = &pod_list
    {
        let targets: BTreeSet<&str> = wanted.iter().map(|b| b.target.as_str()).collect();
        let used = polc_agent::pods::plans_used(list, &targets);
        let given = wanted.len();
        wanted.retain(|b| used.contains(&b.target));
        if quiet.is_none() {
            eprintln!("polc: the pods use {} of the {given} plans given; only those are loaded", wanted.len());
        }
    }
    let binds: Vec<(&str, &Path)> = args.bind.iter().map(|b| parse_bind(b)).collect::<anyhow::Result<_>>()?;
    let cgroup_ids: Vec<u64> = if binds.is_empty() {
        Vec::new()
    } else {
        let mount = cgroup::root()?;
        binds
            .iter()
            .map(|(_, dir)| {
                anyhow::ensure!(
                    cgroup::on_cgroup2(&mount, dir)?,
                    "--bind: {} is not on the cgroup v2 file system mounted at {}",
                    dir.display(),
                    mount.display()
                );
                cgroup::id(dir).with_context(|| format!("--bind: {} is not a cgroup directory", dir.display()))
            })
            .collect::<anyhow::Result<_>>()?
    };
    let state = State::open(&common.state_dir)?;
    let mut loaded = open_pins(&common.pin_dir, true)?;
    let _lock = loaded.lock()?;
    // Walked under the lock: a `polc exec` binds its cgroup under it, so every cgroup
    // bound now is in the walk, and none is bound before the walk's unbinding ends.
    let pods = pod_list.map(|l| scan_cgroups(l, args, quiet.is_none())).transpose()?;
    let recorded = state.read()?;
    let in_kernel = policy::loaded_slots(&loaded.maps)?;
    let used = policy::used_slots(&loaded.maps)?;
    let changes = polc_agent::node::sync(&recorded, &in_kernel, &used, &wanted, args.prune)?;
    let by_target: BTreeMap<&str, &Bundle> = wanted.iter().map(|b| (b.target.as_str(), b)).collect();
    // Bindings resolve against the plans of this apply and those already loaded.
    let mut plans: BTreeMap<&str, u16> = recorded.iter().map(|(s, b)| (b.target.as_str(), *s)).collect();
    for c in &changes {
        match c {
            Change::Unload { target, .. } => plans.remove(target.as_str()),
            _ => plans.insert(c.target(), c.slot()),
        };
    }
    let targets: Vec<&str> = plans.keys().copied().collect();
    let bind_slots: Vec<u16> =
        binds.iter().map(|(plan, _)| find_plan(&targets, plan).map(|t| plans[t])).collect::<anyhow::Result<_>>()?;
    let slot_changes: Vec<(u16, Option<&Bundle>)> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Load { slot, target } | Change::Replace { slot, target } => {
                Some((*slot, by_target.get(target.as_str()).copied()))
            }
            Change::Unload { slot, .. } => Some((*slot, None)),
            Change::Unchanged { .. } => None,
        })
        .collect();
    let done = if slot_changes.is_empty() {
        None
    } else {
        // Record first: a crash between the two leaves a recorded bundle the kernel
        // lacks, which the next apply loads again (never a loaded slot nobody owns).
        for (slot, b) in &slot_changes {
            if let Some(b) = b {
                state.write(*slot, b)?;
            }
        }
        match policy::apply(&mut loaded.maps, &slot_changes) {
            Ok(done) => Some(done),
            Err(e) => {
                // The old generation is still in force: so is the old record.
                for (slot, _) in &slot_changes {
                    let _ = match recorded.get(slot) {
                        Some(old) => state.write(*slot, old),
                        None => state.remove(*slot),
                    };
                }
                return Err(anyhow::Error::new(e).context("cannot switch to the new policies"));
            }
        }
    };
    // Cgroups bound to unloaded slots are unbound: they would be bound to nothing.
    let unloaded: BTreeSet<u16> =
        changes.iter().filter(|c| matches!(c, Change::Unload { .. })).map(Change::slot).collect();
    let mut unbound = 0;
    if !unloaded.is_empty() {
        for (id, b) in loaded.maps.bindings()? {
            if u16::try_from(b.slot).is_ok_and(|s| unloaded.contains(&s)) {
                loaded.maps.unbind(id)?;
                unbound += 1;
            }
        }
    }
    for slot in &unloaded {
        state.remove(*slot)?;
    }
    for ((id, (_, dir)), slot) in cgroup_ids.iter().zip(&binds).zip(&bind_slots) {
        policy::bind(&mut loaded.maps, *id, *slot)
            .with_context(|| format!("cannot bind cgroup {} to slot {slot}", dir.display()))?;
    }
    let pod_result = match &pods {
        Some(p) => Some(bind_pods(&mut loaded, p, &plans)?),
        None => None,
    };
    if let Some(r) = &pod_result
        && let Err(e) = state.write_pods(&r.refs)
    {
        // For `polc agent events` only: enforcement has changed all the same.
        eprintln!("polc: warning: violation records will not name the pods: {}", polc_agent::error_chain(&e));
    }
    let quiet_run = quiet.is_some();
    for c in &changes {
        if !(quiet_run && matches!(c, Change::Unchanged { .. })) {
            println!("{:<9} slot {:>5}  {}", c.verb(), c.slot(), c.target());
        }
    }
    for ((id, (_, dir)), slot) in cgroup_ids.iter().zip(&binds).zip(&bind_slots) {
        println!("bind      slot {slot:>5}  {} (cgroup id {id})", dir.display());
    }
    if let Some(r) = &pod_result {
        r.print(quiet);
    }
    match done {
        None if quiet_run => {}
        Some(d) => eprintln!(
            "polc: generation {} in force: {} entries written, {} carried over, {} removed{}",
            d.generation,
            d.written,
            d.carried,
            d.removed,
            if unbound > 0 { format!("; {unbound} cgroups of unloaded plans unbound") } else { String::new() }
        ),
        None => eprintln!("polc: nothing to change: every plan is loaded as given"),
    }
    Ok(if pod_result.is_some_and(|r| r.gaps > 0) { Status::Findings } else { Status::Ok })
}

/// A pod list read and the kubelet's cgroups walked, before anything is changed.
struct Pods {
    containers: Vec<polc_agent::pods::PodContainer>,
    cgroups: polc_agent::pods::Cgroups,
    /// The cgroup v2 root walked below.
    root: PathBuf,
    /// The cgroup v2 mount (file handles are opened on it).
    mount: PathBuf,
    /// `--node` was given: the list is this node's pods.
    on_this_node: bool,
}

fn read_pods(path: &Path, args: &AgentApplyArgs) -> anyhow::Result<Vec<polc_agent::pods::PodContainer>> {
    use std::io::Read as _;
    // At most one byte over the limit is read: the loader refuses it, naming the limit.
    let max = polc_agent::pods::MAX_POD_LIST_BYTES + 1;
    let mut bytes = Vec::new();
    let name = if path == Path::new("-") {
        std::io::stdin().lock().take(max).read_to_end(&mut bytes).context("cannot read the pod list from stdin")?;
        "<stdin>".to_string()
    } else {
        let f = std::fs::File::open(path).with_context(|| format!("--pods: cannot read {}", path.display()))?;
        f.take(max).read_to_end(&mut bytes).with_context(|| format!("--pods: cannot read {}", path.display()))?;
        path.display().to_string()
    };
    let file = polc_agent::pods::load(&name, &bytes);
    polc_agent::pods::read_pods(&file, args.node.as_deref())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("--pods: the pod list cannot be read (nothing was changed)")
}

fn scan_cgroups(
    containers: Vec<polc_agent::pods::PodContainer>,
    args: &AgentApplyArgs,
    announce: bool,
) -> anyhow::Result<Pods> {
    let mount = cgroup::root()?;
    let root = args.cgroup_root.clone().unwrap_or_else(|| mount.clone());
    anyhow::ensure!(
        cgroup::on_cgroup2(&mount, &root)?,
        "--cgroup-root {} is not on the cgroup v2 file system mounted at {}",
        root.display(),
        mount.display()
    );
    let cgroups = polc_agent::pods::scan(&root)
        .with_context(|| format!("--pods: cannot read the cgroup tree under {}", root.display()))?;
    if announce {
        let roots: Vec<String> = cgroups.roots.iter().map(|r| r.display().to_string()).collect();
        eprintln!(
            "polc: {} containers in the pod list; kubelet cgroups: {}",
            containers.len(),
            if roots.is_empty() {
                format!("none ({} has no {})", root.display(), polc_agent::pods::KUBELET_ROOTS.join(" or "))
            } else {
                roots.join(", ")
            }
        );
    }
    Ok(Pods { containers, cgroups, root, mount, on_this_node: args.node.is_some() })
}

/// What `--pods` did.
struct PodsDone {
    resolution: polc_agent::pods::Resolution,
    root: PathBuf,
    dirs: usize,
    problems: Vec<String>,
    /// Bindings removed because their cgroups no longer exist.
    gone: usize,
    /// Why removed cgroups could not be checked.
    unchecked: Option<String>,
    /// Containers meant to be enforced that are not.
    gaps: usize,
    /// The Kubernetes container of each cgroup bound, by cgroup id.
    refs: BTreeMap<u64, polc_agent::events::PodRef>,
}

impl PodsDone {
    fn print(&self, quiet: Option<&mut Quiet>) {
        use polc_agent::pods::NotBound;
        use std::fmt::Write as _;
        let mut bound = BTreeMap::new();
        for b in &self.resolution.binds {
            for (dir, id) in &b.cgroups {
                bound.insert(*id, b.slot);
                if quiet.as_ref().is_some_and(|q| q.bound.get(id) == Some(&b.slot)) {
                    continue;
                }
                println!("bind      slot {:>5}  {} (cgroup id {id}) <- {}", b.slot, dir.display(), b.container.label());
            }
        }
        let mut notes = String::new();
        for p in &self.problems {
            let _ = writeln!(notes, "polc: warning: {p}");
        }
        for (c, why) in &self.resolution.notes {
            let why = match why {
                NotBound::NoPlan { looked_for } => format!("no loaded plan (looked for {})", looked_for.join(", ")),
                NotBound::NotStarted => "not started (no containerID)".to_string(),
                NotBound::UnknownRuntime(id) => {
                    format!("containerID `{id}` is not containerd://, cri-o:// or docker:// and a 64-digit id")
                }
                NotBound::NoCgroup => format!(
                    "no kubelet cgroup under {} is named after its id ({})",
                    self.root.display(),
                    if c.running { "is it on this node?" } else { "it is not running" }
                ),
                NotBound::OtherPod { dir, uid } => {
                    format!("its cgroup {} is in pod {uid}'s cgroup, not in {}'s", dir.display(), c.uid)
                }
                NotBound::Duplicate(dirs) => format!(
                    "{} cgroups are named after its id, so none is bound: {}",
                    dirs.len(),
                    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
                ),
            };
            let _ = writeln!(notes, "polc: {}: {}: not bound: {why}", c.source, c.label());
        }
        if let Some(why) = &self.unchecked {
            let _ = writeln!(notes, "polc: warning: bindings of removed cgroups not checked: {why}");
        }
        if self.gaps > 0 {
            let _ = writeln!(notes, "polc: error: {} containers with a plan are not enforced (see above)", self.gaps);
        }
        if let Some(q) = quiet {
            // A watch prints what changed: new bindings (above), removed ones, and
            // the notes (warnings and errors included) when they differ from the
            // last sync's.
            if notes != q.notes || self.gone > 0 || bound.len() != q.bound.len() {
                eprint!("{notes}");
                eprintln!(
                    "polc: pods: {} containers bound, {} not bound; {} bindings of removed cgroups taken away",
                    self.resolution.binds.len(),
                    self.resolution.notes.len(),
                    self.gone
                );
            }
            q.notes = notes;
            q.bound = bound;
            return;
        }
        eprint!("{notes}");
        eprintln!(
            "polc: pods: {} containers bound, {} not bound; {} cgroups walked; {}",
            self.resolution.binds.len(),
            self.resolution.notes.len(),
            self.dirs,
            match &self.unchecked {
                Some(_) => "bindings of removed cgroups not checked".to_string(),
                None => format!("{} bindings of removed cgroups taken away", self.gone),
            }
        );
    }
}

fn bind_pods(loaded: &mut Loaded, pods: &Pods, plans: &BTreeMap<&str, u16>) -> anyhow::Result<PodsDone> {
    let resolution = polc_agent::pods::resolve(&pods.containers, &pods.cgroups, plans);
    // A binding is taken away only when the kernel says its cgroup is gone (its file
    // handle is stale), whoever made it. The kernel gives ESTALE for any handle it
    // cannot decode, so first two cgroups known to exist must be found by handle (the
    // root walked, and a cgroup the walk saw); any other answer keeps every binding.
    let mut gone = 0;
    let mut unchecked = None;
    let controls: Vec<(PathBuf, u64)> = std::iter::once(pods.root.clone())
        .chain(pods.cgroups.roots.first().cloned())
        .filter_map(|d| cgroup::id(&d).ok().map(|id| (d, id)))
        .collect();
    for (dir, id) in &controls {
        match cgroup::exists(&pods.mount, *id) {
            Ok(true) => {}
            Ok(false) => {
                unchecked = Some(format!(
                    "the kernel does not find the live cgroup {} by its file handle (a cgroup namespace, or no handles on cgroupfs?)",
                    dir.display()
                ));
            }
            Err(e) => unchecked = Some(format!("cannot ask the kernel whether cgroups exist ({e})")),
        }
    }
    if unchecked.is_none() {
        let mut stale = Vec::new();
        for (id, _) in loaded.maps.bindings()? {
            match cgroup::exists(&pods.mount, id) {
                Ok(true) => {}
                Ok(false) => stale.push(id),
                Err(e) => {
                    unchecked = Some(format!("cannot ask the kernel whether cgroup {id} exists ({e})"));
                    stale.clear();
                    break;
                }
            }
        }
        for id in stale {
            loaded.maps.unbind(id)?;
            gone += 1;
        }
    }
    // A bind that fails (a full map) is reported for its container; the others are
    // still bound.
    let mut failed = Vec::new();
    for b in &resolution.binds {
        for (dir, id) in &b.cgroups {
            if let Err(e) = policy::bind(&mut loaded.maps, *id, b.slot) {
                failed.push(format!(
                    "{}: cannot bind cgroup {} to slot {}: {}",
                    b.container.label(),
                    dir.display(),
                    b.slot,
                    polc_agent::error_chain(&e)
                ));
            }
        }
    }
    let gaps = resolution.notes.iter().filter(|(c, why)| why.is_gap(c, pods.on_this_node)).count() + failed.len();
    let mut problems = pods.cgroups.problems.clone();
    problems.extend(failed);
    let refs =
        resolution.binds.iter().flat_map(|b| b.cgroups.iter().map(|(_, id)| (*id, b.container.pod_ref()))).collect();
    Ok(PodsDone { resolution, root: pods.root.clone(), dirs: pods.cgroups.dirs, problems, gone, unchecked, gaps, refs })
}

fn catalog_of(state: &State) -> anyhow::Result<Catalog> {
    let mut c = Catalog::default();
    for (slot, b) in state.read()? {
        c.insert(slot, &b);
    }
    match state.read_pods() {
        Ok(pods) => c.set_pods(pods),
        Err(e) => eprintln!("polc: warning: records will not name pods: {}", polc_agent::error_chain(&e)),
    }
    Ok(c)
}

/// A file's or directory's modification time and inode: a rename onto it gives a
/// new inode even within one tick of the file system's clock.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.ino())))
}

fn events(common: &AgentArgs, args: &AgentEventsArgs) -> anyhow::Result<Status> {
    let state = State::open(&common.state_dir)?;
    let mut loaded = open_pins(&common.pin_dir, false)?;
    let Some((ring, lock)) = loaded.take_events()? else {
        anyhow::bail!(
            "another polc process reads the kernel's events (a `polc agent events` or the first `polc exec`); only one can"
        );
    };
    // Records are buffered and written once per drained batch (a write per record
    // would cost the reader more than decoding it).
    let out = crate::cmd::exec::record_sink(args.audit_log.as_deref(), Box::new(std::io::stdout()))?;
    let format = Format::from(args.events);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let slots_dir = state.slots_dir();
    let pods_file = state.pods_file();
    // Taken before the catalog is read: a change in between is read again.
    let seen = std::cell::Cell::new((stamp(&slots_dir), stamp(&pods_file)));
    let catalog = RefCell::new(catalog_of(&state)?);
    let sink = RefCell::new(std::io::BufWriter::with_capacity(1 << 16, out));
    let failed: RefCell<Option<std::io::Error>> = RefCell::new(None);
    let checked = std::cell::Cell::new(std::time::Instant::now());
    // The first record of a drained batch checks for new plans and pods first, so a
    // record after a quiet spell is named with what was applied meanwhile.
    let first_of_batch = std::cell::Cell::new(true);
    let reload = || {
        // `apply` rewrites the slot files and the pods' file: pick up new rule
        // names and pods (looked for at most every 100 ms: two `stat`s).
        if checked.get().elapsed() > Duration::from_millis(100) {
            checked.set(std::time::Instant::now());
            let now = (stamp(&slots_dir), stamp(&pods_file));
            if now != seen.get() {
                seen.set(now);
                match catalog_of(&state) {
                    Ok(c) => *catalog.borrow_mut() = c,
                    Err(e) => eprintln!("polc: warning: cannot reload the plans: {e:#}"),
                }
            }
        }
    };
    let clock = Clock::now();
    let mut buf = String::new();
    let mut written = 0u64;
    eprintln!("polc: reading events ({} plans known); Ctrl-C stops", catalog.borrow().len());
    let _lock = lock;
    polc_agent::reader::run_batched(
        ring,
        stop.clone(),
        |bytes| {
            if failed.borrow().is_some() {
                return;
            }
            if first_of_batch.replace(false) {
                reload();
            }
            let cat = catalog.borrow();
            let Ok(v) = polc_agent::events::decode(bytes, &cat) else { return };
            buf.clear();
            polc_agent::format::write(&mut buf, format, &v, &clock);
            if let Err(e) = sink.borrow_mut().write_all(buf.as_bytes()) {
                stop.store(true, Ordering::Relaxed);
                *failed.borrow_mut() = Some(e);
                return;
            }
            written += 1;
        },
        || {
            if failed.borrow().is_none()
                && let Err(e) = sink.borrow_mut().flush()
            {
                stop.store(true, Ordering::Relaxed);
                *failed.borrow_mut() = Some(e);
            }
            first_of_batch.set(true);
        },
    );
    if let Some(e) = failed.into_inner() {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(Status::Ok);
        }
        return Err(anyhow::Error::new(e).context("cannot write violation records"));
    }
    eprintln!("polc: {written} violation records written");
    if let Some(d) = loaded.drops().filter(|d| *d > 0) {
        eprintln!("polc: the kernel dropped {d} events since the programs were loaded (the ring buffer was full)");
    }
    Ok(Status::Ok)
}

/// Every cgroup directory under `root` whose id is in `ids`, by id.
fn cgroup_paths(root: &Path, ids: &BTreeSet<u64>) -> BTreeMap<u64, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if out.len() == ids.len() {
            break;
        }
        if let Ok(id) = cgroup::id(&dir)
            && ids.contains(&id)
        {
            out.insert(id, dir.clone());
        }
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.filter_map(Result::ok) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    out
}

/// [`Loaded::open`] (`replace`: programs of another polc build are replaced; the
/// agent's apply and watch) or [`Loaded::open_as_is`] (status, events, unbind,
/// unload), saying what it found.
pub(crate) fn open_pins(pin_dir: &Path, replace: bool) -> anyhow::Result<Loaded> {
    let loaded = if replace { Loaded::open(pin_dir)? } else { Loaded::open_as_is(pin_dir)? };
    say_replaced(&loaded);
    if let Some(other) = &loaded.other_programs {
        eprintln!(
            "polc: note: the eBPF programs attached from {} are {} (this polc is object {}); \
             `polc agent apply` or the agent's watch replaces them",
            pin_dir.display(),
            if *other == polc_agent::loader::object_id() {
                "this polc's, with some missing".to_string()
            } else {
                format!("another polc build's (object {other})")
            },
            polc_agent::loader::object_id()
        );
    }
    Ok(loaded)
}

/// One line on stderr when [`Loaded::replaced`] another object's programs.
pub(crate) fn say_replaced(loaded: &Loaded) {
    if let Some(old) = &loaded.replaced {
        eprintln!(
            "polc: replaced the eBPF programs attached from {} (object {old}) with this polc's (object {}); \
             the pinned maps, and with them the loaded policies and bindings, are kept",
            loaded.dir.display(),
            polc_agent::loader::object_id()
        );
    }
}

fn status(common: &AgentArgs, args: &AgentStatusArgs) -> anyhow::Result<Status> {
    let state = State::open(&common.state_dir)?;
    let loaded = open_pins(&common.pin_dir, false)?;
    let recorded = state.read()?;
    let generation = loaded.maps.generation()?.generation;
    let in_kernel = policy::loaded_slots(&loaded.maps)?;
    let bindings = loaded.maps.bindings()?;
    let ids: BTreeSet<u64> = bindings.iter().map(|(id, _)| *id).collect();
    let paths = cgroup::root().map(|r| cgroup_paths(&r, &ids)).unwrap_or_default();
    let slots: BTreeSet<u16> = in_kernel.iter().chain(recorded.keys()).copied().collect();
    let mut rows = Vec::new();
    for slot in &slots {
        let b = recorded.get(slot);
        let cgroups: Vec<serde_json::Value> = bindings
            .iter()
            .filter(|(_, bind)| bind.slot == u32::from(*slot))
            .map(|(id, _)| serde_json::json!({"id": id, "path": paths.get(id).map(|p| p.display().to_string())}))
            .collect();
        rows.push(serde_json::json!({
            "slot": slot,
            "owner": if b.is_some() { "agent" } else { "other" },
            "plan": b.map(|b| b.target.clone()),
            "sha256": b.map(Bundle::sha256_hex),
            "rules": b.map(|b| b.rules.len()),
            "loaded": in_kernel.contains(slot),
            "cgroups": cgroups,
        }));
    }
    let orphans: Vec<u64> = bindings
        .iter()
        .filter(|(_, b)| !u16::try_from(b.slot).is_ok_and(|s| slots.contains(&s)))
        .map(|(id, _)| *id)
        .collect();
    let drops = loaded.drops();
    let cache = loaded.maps.cache_stats()?;
    let unattached = polc_agent::loader::unattached(&loaded.dir);
    let attached = polc_agent::loader::attached(&loaded.dir).len();
    let object = loaded.other_programs.clone().unwrap_or_else(polc_agent::loader::object_id);
    match args.format {
        StatusFormat::Json => {
            let doc = serde_json::json!({
                "version": 1,
                "pin_dir": loaded.dir.display().to_string(),
                "state_dir": common.state_dir.display().to_string(),
                "programs": attached,
                "object": object,
                "hooks_not_in_kernel": unattached.iter().map(|u| serde_json::json!({
                    "program": u.program, "hook": u.hook, "since": u.since,
                })).collect::<Vec<_>>(),
                "generation": generation,
                "dropped_events": drops,
                "open_cache": {
                    "on": cache.on,
                    "entries": cache.entries,
                    "max_entries": cache.max_entries,
                    "hits": cache.hits,
                    "stale": cache.stale,
                    "full": cache.full,
                },
                "slots": rows,
                "cgroups_bound_to_nothing": orphans,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        StatusFormat::Human => {
            println!(
                "polc eBPF LSM: {attached} programs of object {object} attached (pinned in {}), generation {generation}, {} events dropped",
                loaded.dir.display(),
                drops.unwrap_or(0)
            );
            for u in &unattached {
                println!(
                    "  {} not attached: this kernel has no {} hook (Linux {} and later); older hooks decide its cases here",
                    u.program, u.hook, u.since
                );
            }
            println!(
                "open cache: {}, {} of {} entries; {} opens let through from it, {} stale, {} not kept (full)",
                if cache.on { "on" } else { "off" },
                cache.entries,
                cache.max_entries,
                cache.hits,
                cache.stale,
                cache.full
            );
            if rows.is_empty() {
                println!("no policy slot is loaded");
            }
            for r in &rows {
                let plan = r["plan"].as_str().unwrap_or("(not the agent's: a running `polc exec`)");
                let loaded_note = if r["loaded"].as_bool() == Some(true) { "" } else { " [recorded, not loaded]" };
                println!("slot {:>5}  {plan}{loaded_note}", r["slot"]);
                if let Some(h) = r["sha256"].as_str() {
                    println!("            sha256 {h}, {} rules", r["rules"]);
                }
                for c in r["cgroups"].as_array().into_iter().flatten() {
                    let path = c["path"].as_str().unwrap_or("(directory not found)");
                    println!("            cgroup {path} (id {})", c["id"]);
                }
            }
            for id in &orphans {
                println!("cgroup id {id} is bound to a slot with no policy (`polc agent unbind` it)");
            }
        }
    }
    Ok(Status::Ok)
}

fn unload(common: &AgentArgs, args: &AgentUnloadArgs) -> anyhow::Result<Status> {
    let state = State::open(&common.state_dir)?;
    let mut loaded = open_pins(&common.pin_dir, false)?;
    let _lock = loaded.lock()?;
    let recorded = state.read()?;
    let targets: Vec<&str> = recorded.values().map(|b| b.target.as_str()).collect();
    let slots: BTreeSet<u16> = if args.all {
        recorded.keys().copied().collect()
    } else {
        let mut s = BTreeSet::new();
        for name in &args.plans {
            let t = find_plan(&targets, name)?;
            s.extend(recorded.iter().filter(|(_, b)| b.target == t).map(|(slot, _)| *slot));
        }
        s
    };
    if slots.is_empty() {
        eprintln!("polc: the agent has no plan loaded");
        return Ok(Status::Ok);
    }
    let mut unbound = 0;
    for (id, b) in loaded.maps.bindings()? {
        if u16::try_from(b.slot).is_ok_and(|s| slots.contains(&s)) {
            loaded.maps.unbind(id)?;
            unbound += 1;
        }
    }
    let changes: Vec<(u16, Option<&Bundle>)> = slots.iter().map(|s| (*s, None)).collect();
    let done = policy::apply(&mut loaded.maps, &changes).context("cannot unload")?;
    for s in &slots {
        println!("unload    slot {s:>5}  {}", recorded[s].target);
        state.remove(*s)?;
    }
    eprintln!(
        "polc: generation {} in force: {} slots unloaded, {unbound} cgroups unbound, {} entries removed",
        done.generation,
        slots.len(),
        done.removed
    );
    Ok(Status::Ok)
}

fn unbind(common: &AgentArgs, args: &AgentUnbindArgs) -> anyhow::Result<Status> {
    let mut loaded = open_pins(&common.pin_dir, false)?;
    let _lock = loaded.lock()?;
    let bound: BTreeSet<u64> = loaded.maps.bindings()?.into_iter().map(|(id, _)| id).collect();
    for dir in &args.cgroups {
        let id = cgroup::id(dir).with_context(|| format!("{} is not a cgroup directory", dir.display()))?;
        if !bound.contains(&id) {
            eprintln!("polc: {} is not bound", dir.display());
            continue;
        }
        loaded.maps.unbind(id)?;
        println!("unbind    {} (cgroup id {id})", dir.display());
    }
    Ok(Status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_found_by_id_workload_container_or_stem() {
        let t = ["shop/Deployment/carts/carts", "shop/Deployment/carts/istio-proxy", "shop/Deployment/orders/orders"];
        assert_eq!(find_plan(&t, "orders").ok(), Some("shop/Deployment/orders/orders"));
        assert_eq!(find_plan(&t, "istio-proxy").ok(), Some("shop/Deployment/carts/istio-proxy"));
        assert_eq!(find_plan(&t, "shop.deployment.carts.carts").ok(), Some("shop/Deployment/carts/carts"));
        let e = find_plan(&t, "carts").unwrap_err().to_string();
        assert!(e.contains("several plans"), "{e}");
        let e = find_plan(&t, "nope").unwrap_err().to_string();
        assert!(e.contains("no loaded plan is named nope") && e.contains("orders/orders"), "{e}");
    }

    #[test]
    fn bind_arguments_need_plan_and_directory() {
        assert_eq!(parse_bind("web=/sys/fs/cgroup/web").ok(), Some(("web", Path::new("/sys/fs/cgroup/web"))));
        for bad in ["web", "=/x", "web="] {
            let e = parse_bind(bad).unwrap_err().to_string();
            assert!(e.contains("expected PLAN=CGROUP_DIR"), "{bad}: {e}");
        }
    }

    #[test]
    fn bundle_files_of_a_compile_directory() {
        let dir = std::env::temp_dir().join(format!("polc-agent-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bpf-lsm")).unwrap();
        std::fs::write(dir.join("bpf-lsm/b.bundle"), "").unwrap();
        std::fs::write(dir.join("bpf-lsm/a.bundle"), "").unwrap();
        std::fs::write(dir.join("bpf-lsm/a.json"), "").unwrap();
        let got = bundle_files(&dir).unwrap();
        assert_eq!(got, [dir.join("bpf-lsm/a.bundle"), dir.join("bpf-lsm/b.bundle")]);
        let e = bundle_files(&dir.join("bpf-lsm/a.json").with_file_name("missing")).unwrap_err().to_string();
        assert!(e.contains("cannot read"), "{e}");
        std::fs::remove_dir_all(dir.join("bpf-lsm")).unwrap();
        let e = bundle_files(&dir).unwrap_err().to_string();
        assert!(e.contains("has no .bundle files"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
