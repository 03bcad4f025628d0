//! `polc exec`: run one command under a policy enforced by the eBPF LSM and seccomp.
//!
//! Compile (bpf-lsm, and the plan's seccomp profile as a classic-BPF filter) -> load
//! or reuse the pinned object -> a fresh cgroup -> under the pin-directory lock: a
//! free slot, the bundle loaded as a new generation, the cgroup bound -> the command
//! started through the hidden `__enter-cgroup` subcommand (which moves itself into the
//! cgroup, installs the seccomp filter it got through a sealed memfd, and then execs
//! the command, so the command's own exec is judged) -> violations printed by a
//! reader thread -> on exit or Ctrl-C: unbind, unload the slot, remove the cgroup.
//!
//! A policy with only syscall rules has no bpf-lsm bundle: the command then runs
//! under the seccomp filter alone (no cgroup, no BPF, no root needed).

use crate::Status;
use crate::cli::{EnterCgroupArgs, ExecArgs};
use anyhow::Context;
use polc_agent::events::Catalog;
use polc_agent::format::{Clock, Format};
use polc_agent::loader::Loaded;
use polc_agent::store::MapStore as _;
use polc_agent::{cgroup, policy};
use polc_compiler::backend::bpf::bundle::Bundle;
use polc_compiler::backend::seccomp::filter::{self, Filter};
use polc_compiler::backend::seccomp::{Profile, ScmpAction};
use polc_compiler::ir::Section;
use polc_compiler::plan::{Plan, plan};
use polc_lint::Level;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub(crate) fn run(args: &ExecArgs) -> anyhow::Result<Status> {
    let Some(Compiled { bundle, seccomp }) = compile(args)? else { return Ok(Status::Findings) };
    let Some(bundle) = bundle else {
        // Only syscall rules: compile() returned a filter.
        return match &seccomp {
            Some(f) => run_seccomp_only(args, f),
            None => anyhow::bail!("the policies govern no kernel operation"),
        };
    };
    // The filter travels to `__enter-cgroup` in a sealed memfd, made before anything
    // is loaded so that its errors stop polc early.
    let sealed = match &seccomp {
        Some(f) => Some(polc_agent::seccomp::seal(&f.to_bytes()).context("cannot hand the seccomp filter over")?),
        None => None,
    };
    let (mut loaded, open_cache) = Loaded::open_with(Path::new(polc_agent::PIN_DIR), !args.no_open_cache)?;
    crate::cmd::agent::say_replaced(&loaded);
    if let (false, polc_agent::host::OpenCache::Off(why)) = (args.no_open_cache, &open_cache) {
        eprintln!("polc: note: the open cache is off ({why}); every file open is decided in full");
    }
    let root = cgroup::root()?;
    let mut cg = cgroup::Cgroup::create(&root, &format!("polc-exec-{}", std::process::id()))
        .context("cannot create the cgroup for the command")?;
    let slot = {
        let _lock = loaded.lock()?;
        let used = policy::used_slots(&loaded.maps)?;
        let slot = policy::pick_slot(&used, bundle.slot).ok_or(polc_agent::Error::NoSlot { max: policy::MAX_SLOTS })?;
        policy::apply(&mut loaded.maps, &[(slot, Some(&bundle))])
            .with_context(|| format!("cannot load the policy of {} into slot {slot}", bundle.target))?;
        if let Err(e) = policy::bind(&mut loaded.maps, cg.id, slot) {
            let _ = policy::apply(&mut loaded.maps, &[(slot, None)]);
            return Err(e.into());
        }
        slot
    };
    let result = supervise(args, &mut loaded, &bundle, sealed, slot, cg.id, &cg.dir);
    // Clean up whatever happened: kill what is left and remove the cgroup first (so
    // nothing runs in it unenforced), then unbind and unload.
    let removed = cg.remove().context("cannot remove the command's cgroup");
    let cleanup = (|| -> anyhow::Result<()> {
        let _lock = loaded.lock()?;
        loaded.maps.unbind(cg.id)?;
        policy::apply(&mut loaded.maps, &[(slot, None)]).context("cannot unload the policy slot")?;
        Ok(())
    })();
    if let Some(d) = loaded.drops().filter(|d| *d > 0) {
        eprintln!("polc: the kernel dropped {d} events since the programs were loaded (the ring buffer was full)");
    }
    let status = result?;
    cleanup?;
    removed?;
    Ok(status)
}

/// What enforces the command.
struct Compiled {
    /// The bpf-lsm bundle; `None` when the plan has only syscall rules.
    bundle: Option<Bundle>,
    /// The seccomp filter; `None` when the plan has no syscall rules (or --no-seccomp).
    seccomp: Option<Filter>,
}

/// Lint, plan and compile for bpf-lsm and seccomp; `None` when the policies have
/// errors (printed).
fn compile(args: &ExecArgs) -> anyhow::Result<Option<Compiled>> {
    let paths: Vec<String> = args.policy.iter().chain(&args.manifests).cloned().collect();
    let (report, files, _) = crate::cmd::lint::lint_paths(&paths, args.config.as_deref(), args.no_config)?;
    if report.io_errors > 0 || report.fails(Level::Error) {
        let mut errors = report.clone();
        errors.findings.retain(|f| f.level == Level::Error);
        eprint!("{}", polc_lint::output::human(&errors, &files, polc_lint::output::Color::Never));
        eprintln!("polc: the policies have errors; nothing was run");
        return Ok(None);
    }
    anyhow::ensure!(!report.model_policies.is_empty(), "no polc policy in {}", args.policy.join(", "));
    let plans = plan(&report.model_policies, &report.model_workloads);
    let chosen = choose(&plans, args.container.as_deref())?;
    let (bundle, out) = polc_compiler::backend::bpf::compile_plan(chosen, &report.model_policies, 1);
    if !out.errors.is_empty() {
        for e in &out.errors {
            eprintln!("error: {e}");
        }
        anyhow::bail!("{} rules cannot be enforced by the eBPF LSM", out.errors.len());
    }
    let seccomp = match chosen.section(Section::Syscall) {
        Some(section) if !args.no_seccomp => Some(seccomp_filter(&Profile::new(section))?),
        _ => None,
    };
    let mut skipped_syscalls = 0usize;
    for c in &out.capabilities {
        if let polc_compiler::backend::Support::NotExpressible { reason } = &c.support {
            // Syscall rules are the seccomp filter's, unless --no-seccomp left them out.
            if c.matches.starts_with("syscall ") {
                skipped_syscalls += usize::from(seccomp.is_none());
                continue;
            }
            eprintln!("polc: note: {} rule `{}` ({}) is not enforced here: {reason}", c.policy(), c.rule(), c.source());
        }
    }
    if skipped_syscalls > 0 {
        eprintln!("polc: note: --no-seccomp: the {skipped_syscalls} syscall rules of the policies are not enforced");
    }
    if bundle.is_none() && seccomp.is_none() {
        anyhow::bail!("the policies govern no kernel operation for {}", chosen.target.id());
    }
    Ok(Some(Compiled { bundle, seccomp }))
}

/// The filter of the plan's seccomp profile, checked as the kernel will check it.
fn seccomp_filter(profile: &Profile) -> anyhow::Result<Filter> {
    let f = filter::of_profile(profile).context("cannot build the seccomp filter of the policies' syscall rules")?;
    filter::check(&f.program).map_err(|e| anyhow::anyhow!("the generated seccomp filter is not valid: {e}"))?;
    if profile.default == ScmpAction::Log {
        eprintln!(
            "polc: note: syscalls outside the baseline are only logged (onAnomaly: Audit or DryRun): the kernel's \
             audit log records them (SECCOMP_RET_LOG), not polc's violation records"
        );
    }
    Ok(f)
}

/// The plan `--container` names, or the only plan.
fn choose<'a>(plans: &'a [Plan], container: Option<&str>) -> anyhow::Result<&'a Plan> {
    let ids = || plans.iter().map(|p| p.target.id()).collect::<Vec<_>>().join(", ");
    let matching: Vec<&Plan> = match container {
        Some(c) => plans
            .iter()
            .filter(|p| p.target.container == c || p.target.name == c || p.target.id() == c || p.target.stem() == c)
            .collect(),
        None => plans.iter().collect(),
    };
    match (matching.as_slice(), container) {
        ([one], _) => Ok(one),
        ([], Some(c)) => anyhow::bail!("--container {c} matches none of the plans: {}", ids()),
        ([], None) => anyhow::bail!("the policies make no plan"),
        (_, Some(c)) => anyhow::bail!(
            "--container {c} matches several plans ({}); use a plan id",
            matching.iter().map(|p| p.target.id()).collect::<Vec<_>>().join(", ")
        ),
        (_, None) => {
            anyhow::bail!("the policies apply to several workload containers; pick one with --container: {}", ids())
        }
    }
}

/// Start the reader, run the command, wait for it, stop the reader.
fn supervise(
    args: &ExecArgs,
    loaded: &mut Loaded,
    bundle: &Bundle,
    sealed: Option<std::os::fd::OwnedFd>,
    slot: u16,
    cgroup_id: u64,
    dir: &Path,
) -> anyhow::Result<Status> {
    let stop = Arc::new(AtomicBool::new(false));
    let reader = start_reader(args, loaded, bundle, slot, cgroup_id, stop.clone())?;
    let terminated = signals()?;
    let exe = std::env::current_exe().context("cannot find polc's own executable")?;
    let mut command = std::process::Command::new(&exe);
    command.arg("__enter-cgroup").arg(dir);
    // Only this child inherits the memfd; it stays open here until the spawn returns.
    if let Some(fd) = &sealed {
        let n = polc_agent::seccomp::pass_to(&mut command, fd);
        command.arg("--seccomp-fd").arg(n.to_string());
    }
    let spawned = command.arg("--").args(&args.cmd).spawn();
    drop(sealed);
    let result = match spawned {
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot start {}", exe.display()))),
        Ok(child) => wait(child, &terminated),
    };
    // Let the last events arrive before the reader stops.
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    if let Some(r) = reader {
        let _ = r.join();
    }
    result
}

/// Flags for Ctrl-C (ignored: it reaches the command too, in the same process group,
/// and polc stays to clean up) and for SIGTERM/SIGHUP (passed on as SIGKILL).
fn signals() -> anyhow::Result<Arc<AtomicBool>> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let terminated = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, interrupted)?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, terminated.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGHUP, terminated.clone())?;
    Ok(terminated)
}

/// Wait for the command; kill it when polc is told to terminate.
fn wait(mut child: std::process::Child, terminated: &AtomicBool) -> anyhow::Result<Status> {
    loop {
        if terminated.swap(false, Ordering::Relaxed) {
            let _ = child.kill();
        }
        match child.try_wait() {
            Ok(Some(st)) => return Ok(exit_status(st)),
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(anyhow::Error::new(e).context("cannot wait for the command")),
        }
    }
}

/// Run the command under the seccomp filter alone (the plan has only syscall rules).
fn run_seccomp_only(args: &ExecArgs, f: &Filter) -> anyhow::Result<Status> {
    let terminated = signals()?;
    let Some((cmd, rest)) = args.cmd.split_first() else { anyhow::bail!("no command") };
    let mut command = std::process::Command::new(cmd);
    command.args(rest);
    polc_agent::seccomp::install_before_exec(&mut command, &f.program);
    match command.spawn() {
        Ok(child) => wait(child, &terminated),
        Err(e) => Ok(cannot_run(cmd, &e, true)),
    }
}

/// Report that CMD could not be started; 127 when it does not exist, else 126.
fn cannot_run(cmd: &std::ffi::OsStr, e: &std::io::Error, filtered: bool) -> Status {
    let what = if filtered { " (or install its seccomp filter)" } else { "" };
    eprintln!("polc: cannot run {}{what}: {e}", Path::new(cmd).display());
    Status::Exit(if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 })
}

fn exit_status(st: std::process::ExitStatus) -> Status {
    use std::os::unix::process::ExitStatusExt as _;
    let code = st.code().or_else(|| st.signal().map(|s| 128 + s)).unwrap_or(1);
    match code {
        0 => Status::Ok,
        c => Status::Exit(u8::try_from(c).unwrap_or(1)),
    }
}

fn start_reader(
    args: &ExecArgs,
    loaded: &mut Loaded,
    bundle: &Bundle,
    slot: u16,
    cgroup_id: u64,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Option<std::thread::JoinHandle<()>>> {
    let Some((ring, lock)) = loaded.take_events()? else {
        eprintln!("polc: another polc process reads the kernel's events; violations of this command are not printed");
        return Ok(None);
    };
    let mut sink = record_sink(args.audit_log.as_deref(), Box::new(std::io::stderr()))?;
    let format = Format::from(args.events);
    let mut catalog = Catalog::default();
    catalog.insert(slot, bundle);
    let clock = Clock::now();
    let handle = std::thread::Builder::new().name("polc-events".into()).spawn(move || {
        let _lock = lock;
        let mut buf = String::new();
        polc_agent::reader::run(ring, stop, |bytes| {
            let Ok(v) = polc_agent::events::decode(bytes, &catalog) else { return };
            if v.cgroup_id != cgroup_id {
                return;
            }
            buf.clear();
            polc_agent::format::write(&mut buf, format, &v, &clock);
            let _ = sink.write_all(buf.as_bytes());
            let _ = sink.flush();
        });
    })?;
    Ok(Some(handle))
}

/// Where violation records go: the audit log (created, appended to), else `fallback`.
pub(crate) fn record_sink(
    audit_log: Option<&Path>,
    fallback: Box<dyn std::io::Write + Send>,
) -> anyhow::Result<Box<dyn std::io::Write + Send>> {
    match audit_log {
        Some(p) => Ok(Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("cannot open the audit log {}", p.display()))?,
        )),
        None => Ok(fallback),
    }
}

/// `polc __enter-cgroup DIR [--seccomp-fd FD] -- CMD...`: read the seccomp filter
/// (closing its descriptor), join the cgroup, then become CMD with the filter
/// installed right before the exec.
pub(crate) fn enter_cgroup(args: &EnterCgroupArgs) -> anyhow::Result<Status> {
    use std::os::unix::process::CommandExt as _;
    let program = match args.seccomp_fd {
        Some(fd) => {
            let bytes = polc_agent::seccomp::take(fd).context("cannot read the seccomp filter from polc exec")?;
            let program = Filter::program_from_bytes(&bytes)
                .map_err(|e| anyhow::anyhow!("the seccomp filter from polc exec is not valid: {e}"))?;
            Some(program)
        }
        None => None,
    };
    cgroup::enter(&args.dir).context("cannot enter the command's cgroup")?;
    let Some((cmd, rest)) = args.cmd.split_first() else { anyhow::bail!("no command") };
    let mut command = std::process::Command::new(cmd);
    command.args(rest);
    if let Some(p) = &program {
        polc_agent::seccomp::install_before_exec(&mut command, p);
    }
    let e = command.exec();
    Ok(cannot_run(cmd, &e, program.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use polc_compiler::plan::Target;

    fn p(name: &str, container: &str) -> Plan {
        let target = Target {
            namespace: "shop".into(),
            kind: "Deployment".into(),
            name: name.into(),
            container: container.into(),
        };
        Plan { target, policies: vec![], sections: vec![], dropped: vec![] }
    }

    #[test]
    fn container_picks_one_plan() {
        let plans = [p("carts", "carts"), p("carts", "istio-proxy"), p("orders", "orders")];
        let id = |r: anyhow::Result<&Plan>| r.map(|p| p.target.id()).map_err(|e| e.to_string());
        assert_eq!(id(choose(&plans, Some("orders"))), Ok("shop/Deployment/orders/orders".into()));
        assert_eq!(id(choose(&plans, Some("istio-proxy"))), Ok("shop/Deployment/carts/istio-proxy".into()));
        assert_eq!(id(choose(&plans, Some("shop/Deployment/carts/carts"))), Ok("shop/Deployment/carts/carts".into()));
        let e = id(choose(&plans, Some("carts"))).err().unwrap_or_default();
        assert!(e.contains("matches several plans") && e.contains("use a plan id"), "{e}");
        let e = id(choose(&plans, Some("nope"))).err().unwrap_or_default();
        assert!(e.contains("matches none") && e.contains("shop/Deployment/orders/orders"), "{e}");
        let e = id(choose(&plans, None)).err().unwrap_or_default();
        assert!(e.contains("pick one with --container"), "{e}");
        assert_eq!(id(choose(&plans[2..], None)), Ok("shop/Deployment/orders/orders".into()));
    }

    #[test]
    fn exit_status_of_the_command() {
        use std::os::unix::process::ExitStatusExt as _;
        let code = |raw| match exit_status(std::process::ExitStatus::from_raw(raw)) {
            Status::Ok => 0,
            Status::Exit(c) => c,
            _ => 255,
        };
        assert_eq!(code(0), 0);
        assert_eq!(code(3 << 8), 3);
        assert_eq!(code(9), 137, "killed by SIGKILL");
    }
}
