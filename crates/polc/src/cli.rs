//! The command-line definition. Doc comments here are the `--help` text and the
//! source of `docs/cli.md` (a test fails when that file drifts).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// GitOps policy-as-code compiler and enforcer for Kubernetes runtime security.
///
/// polc reads PreventionPolicy, RuntimePolicy and NetworkAccessPolicy objects
/// (API group polc.dev) from git, checks them, and compiles them to what kernels
/// and clusters enforce.
///
/// Exit status: 0 ok, 1 findings at or above the --fail-on threshold, 2 usage or
/// I/O errors.
#[derive(Parser, Debug)]
#[command(name = "polc", version, propagate_version = true, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Check policies and the workloads beside them; report findings with file:line.
    ///
    /// Reads files, directories (recursively: *.yaml, *.yml, *.json; hidden entries
    /// skipped) and `-` for stdin. Multi-document YAML is fine, and objects that are
    /// not polc policies are recognised: workloads (Deployment, StatefulSet, DaemonSet,
    /// ReplicaSet, Job, CronJob, Pod) are checked for coverage and posture.
    ///
    /// Checks: YAML and limits; the CRD schema (exactly as the API server has it) with
    /// did-you-mean for unknown fields; paths, globs, selectors, CIDRs, names; rules
    /// that are duplicated, shadowed or contradicted under the precedence rule;
    /// workloads no policy selects and their posture; organisation rules in CEL from
    /// `.polc.yaml`. `polc explain CODE` explains each finding code.
    ///
    /// Examples:
    ///   polc lint policies/ deploy/
    ///   polc lint --format sarif . > polc.sarif
    ///   kubectl get pp -A -o yaml | polc lint -
    #[command(verbatim_doc_comment)]
    Lint(LintArgs),
    /// Compile policies into what kernels and clusters enforce.
    ///
    /// Lints first (errors stop the compile), resolves the policies into one plan per
    /// selected workload container (precedence applied, DryRun folded in), and runs the
    /// backends: bpf-lsm map bundles for the node agent, AppArmor profiles, seccomp
    /// profiles (kubelet Localhost JSON and SPO SeccompProfile) and CiliumNetworkPolicy
    /// objects. Prints, per rule and backend, whether it is enforced exactly,
    /// approximated or not expressible; nothing is dropped silently.
    ///
    /// Everything is written to a new directory that replaces --out only when the whole
    /// compile succeeded, so a failed compile leaves --out as it was. Output is
    /// deterministic: the same input gives the same bytes on any machine.
    ///
    /// Examples:
    ///   polc compile examples/sock-shop --out build/
    ///   polc compile policies/ deploy/ --out build/ --target apparmor,seccomp
    #[command(verbatim_doc_comment)]
    Compile(CompileArgs),
    /// Write the CustomResourceDefinitions of the polc kinds.
    ///
    /// The CRDs are generated from the API types; `--check` fails (exit 1) when the
    /// files in DIR differ from what the types generate.
    Crds(CrdsArgs),
    /// Explain a finding code, or what a policy file enforces per workload.
    ///
    /// With a code (`P025`) or code name (`shadowed-rule`): what the finding means and
    /// how to fix it. With a policy file: for every workload its policies select (pass
    /// the workload manifests with --with), what is allowed, audited and blocked, in
    /// plain words, after precedence and DryRun.
    ///
    /// Examples:
    ///   polc explain P025
    ///   polc explain examples/sock-shop/policies/runtime-carts.yaml --with examples/sock-shop
    ///   polc explain --all
    #[command(verbatim_doc_comment)]
    Explain(ExplainArgs),
    /// Run a command under a policy, enforced by the eBPF LSM and seccomp of this kernel.
    ///
    /// Compiles the policies for the bpf-lsm target in-process (lint errors stop it),
    /// loads polc's eBPF LSM programs (or reuses those pinned under /sys/fs/bpf/polc),
    /// puts the policy into a free slot, makes a fresh cgroup v2 directory bound to
    /// that slot, and runs CMD inside it: CMD's own exec is already judged. Violations
    /// are printed as they happen (stderr, or --audit-log). When CMD ends (or on
    /// Ctrl-C) the cgroup is unbound and removed (processes left in it are killed) and
    /// the slot's entries are deleted. Several `polc exec` run side by side, each in
    /// its own slot; only the first of them prints events (the ring buffer has one
    /// reader). Needs root, a kernel with the BPF LSM active and bpffs mounted.
    ///
    /// Syscall rules (a RuntimePolicy's baseline.syscalls) become the seccomp profile
    /// `polc compile --target seccomp` writes, installed as a seccomp filter right
    /// before CMD's exec: calls outside the baseline fail with EPERM (onAnomaly: Block;
    /// clone3 gets ENOSYS so libc falls back to clone) or are logged by the kernel's
    /// audit log (Audit, DryRun), not in polc's violation records. Installing it sets
    /// no_new_privs, which CMD and all it starts keep: setuid/setgid bits and file
    /// capabilities no longer raise privileges (sudo, su, ping with file capabilities
    /// fail or run unprivileged). Without syscall rules there is no filter and no
    /// no_new_privs; --no-seccomp skips the filter. Policies with only syscall rules
    /// run CMD under the filter alone (no BPF, no cgroup, no root needed).
    ///
    /// Exit status: CMD's (128 + signal number when CMD was killed by a signal); 126
    /// when CMD cannot be executed (for instance, its exec was blocked), 127 when it
    /// does not exist; 1 when the policies have findings; 2 on errors.
    ///
    /// Examples:
    ///   polc exec --policy policies/shells-in-containers.yaml -- /bin/sh -c 'bash -c id'
    ///   polc exec --policy my.yaml --manifests deploy/ --container web --events cef -- ./server
    #[command(verbatim_doc_comment)]
    Exec(ExecArgs),
    /// The node agent: load compiled bundles, bind cgroups, report violations.
    ///
    /// `polc agent apply` loads the bpf-lsm bundles `polc compile --target bpf-lsm`
    /// wrote, all of them in ONE generation switch (no exec or open is judged by a mix
    /// of old and new policies): a plan already loaded is replaced in its own slot, an
    /// unchanged bundle is left alone, and --prune unloads the agent's plans that are
    /// no longer given (GitOps: apply the whole compiled tree each time). --bind puts a
    /// cgroup v2 directory (a container's, a systemd unit's) under a plan.
    ///
    /// The programs and maps are pinned under /sys/fs/bpf/polc, so enforcement stays
    /// in place when no polc process runs; `polc agent events` is the long-running
    /// part, turning kernel events into violation records (JSON lines or CEF) named by
    /// policy, rule and source line. A copy of every applied bundle is kept in the
    /// state directory (default /run/polc) to name events and replace plans in place.
    /// Needs root, a kernel with the BPF LSM active and bpffs mounted.
    ///
    /// Examples:
    ///   polc compile policies/ deploy/ --target bpf-lsm --out /var/lib/polc/build
    ///   polc agent apply /var/lib/polc/build --prune --bind carts=/sys/fs/cgroup/shop/carts
    ///   polc agent events --events cef --audit-log /var/log/polc.cef
    ///   polc agent status --format json
    ///   polc agent unload --all
    #[command(verbatim_doc_comment)]
    Agent(AgentArgs),
    /// Internal: move this process into cgroup DIR, then exec CMD (used by `polc exec`).
    #[command(name = "__enter-cgroup", hide = true)]
    EnterCgroup(EnterCgroupArgs),
}

/// Output format of `polc lint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// rustc-style text with source snippets.
    Human,
    /// One JSON document (stable, versioned).
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
    /// GitHub Actions workflow annotations.
    Github,
}

/// Finding level used as a threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Threshold {
    /// Fail only on errors.
    Error,
    /// Fail on warnings and errors.
    Warning,
    /// Fail on any finding.
    Note,
}

/// When to colour output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    /// When stdout is a terminal and NO_COLOR is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

#[derive(Args, Debug)]
pub(crate) struct LintArgs {
    /// Files and directories to lint; `-` reads stdin.
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<String>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Human, env = "POLC_FORMAT")]
    pub format: Format,
    /// Exit 1 when a finding is at or above this level [default: the config's `failOn`, else error].
    #[arg(long, value_enum, env = "POLC_FAIL_ON")]
    pub fail_on: Option<Threshold>,
    /// Configuration file [default: the nearest .polc.yaml in the current directory or its parents].
    #[arg(long, value_name = "FILE", env = "POLC_CONFIG")]
    pub config: Option<PathBuf>,
    /// Ignore any .polc.yaml.
    #[arg(long, conflicts_with = "config")]
    pub no_config: bool,
    /// Colour.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Only print findings at or above this level (the exit status still counts all).
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub min_level: Option<Threshold>,
}

/// Format of the capability report printed by `polc compile`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    /// An aligned table.
    Table,
    /// JSON (the same as report.json in the output).
    Json,
}

fn parse_target(s: &str) -> Result<polc_compiler::backend::Target, String> {
    polc_compiler::backend::Target::parse(s).ok_or_else(|| {
        let names: Vec<&str> = polc_compiler::backend::Target::ALL.iter().map(|t| t.as_str()).collect();
        format!("unknown target `{s}` (expected one of {})", names.join(", "))
    })
}

#[derive(Args, Debug)]
pub(crate) struct CompileArgs {
    /// Files and directories with policies and workload manifests; `-` reads stdin.
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<String>,
    /// Output directory (replaced as a whole on success).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,
    /// Backends to run, comma-separated: bpf-lsm, apparmor, seccomp, cilium [default: all].
    #[arg(long, short = 't', value_delimiter = ',', value_parser = parse_target, value_name = "TARGETS")]
    pub target: Vec<polc_compiler::backend::Target>,
    /// Format of the capability report on stdout.
    #[arg(long, short = 'f', value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Configuration file [default: the nearest .polc.yaml].
    #[arg(long, value_name = "FILE", env = "POLC_CONFIG")]
    pub config: Option<PathBuf>,
    /// Ignore any .polc.yaml.
    #[arg(long, conflicts_with = "config")]
    pub no_config: bool,
    /// Print each phase's wall time and the process's memory (resident now, and the
    /// peak so far) on stderr: read and lint, plan, backends (with the writing of
    /// their files), report.json, the swap into --out, the report on stdout.
    #[arg(long)]
    pub timings: bool,
}

#[derive(Args, Debug)]
pub(crate) struct CrdsArgs {
    /// Directory to write `polc.dev_<plural>.yaml` files to; `-` prints them to stdout.
    #[arg(long, short = 'o', value_name = "DIR", default_value = "crds")]
    pub out: String,
    /// Do not write; exit 1 when the files in DIR differ from the generated ones.
    #[arg(long)]
    pub check: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ExplainArgs {
    /// A finding code (`P012`), a code name (`unknown-field`), or a policy file.
    #[arg(value_name = "CODE|FILE", required_unless_present = "all")]
    pub target: Option<String>,
    /// Workload manifests (files or directories) to resolve the policy's selectors against.
    #[arg(long, value_name = "PATH")]
    pub with: Vec<String>,
    /// List every code.
    #[arg(long)]
    pub all: bool,
    /// With --all: print docs/lint-codes.md.
    #[arg(long, requires = "all")]
    pub markdown: bool,
}

/// Format of the violation records `polc exec` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum EventFormat {
    /// JSON lines (fields in docs/agent.md).
    Json,
    /// ArcSight Common Event Format.
    Cef,
}

impl From<EventFormat> for polc_agent::format::Format {
    fn from(f: EventFormat) -> Self {
        match f {
            EventFormat::Json => polc_agent::format::Format::Json,
            EventFormat::Cef => polc_agent::format::Format::Cef,
        }
    }
}

#[derive(Args, Debug)]
pub(crate) struct ExecArgs {
    /// Policy files or directories (PreventionPolicy, RuntimePolicy, NetworkAccessPolicy).
    #[arg(long, value_name = "FILE", required = true, num_args = 1..)]
    pub policy: Vec<String>,
    /// Workload manifests, when the policies select workloads; pick one with --container.
    #[arg(long, value_name = "PATH")]
    pub manifests: Vec<String>,
    /// The plan to enforce when the policies apply to several workload containers: a
    /// container name, a workload name or a plan id (`namespace/Kind/name/container`).
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
    /// Format of the violation records.
    #[arg(long, value_enum, default_value_t = EventFormat::Json)]
    pub events: EventFormat,
    /// Append violation records to FILE instead of printing them to stderr.
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Configuration file [default: the nearest .polc.yaml].
    #[arg(long, value_name = "FILE", env = "POLC_CONFIG")]
    pub config: Option<PathBuf>,
    /// Ignore any .polc.yaml.
    #[arg(long, conflicts_with = "config")]
    pub no_config: bool,
    /// Do not install the seccomp filter of the syscall rules (they are then reported
    /// as not enforced); the command also runs without no_new_privs.
    #[arg(long)]
    pub no_seccomp: bool,
    /// Decide every file open in full: turn off the open cache, which lets an open
    /// through at once when the same inode was let through silently under the same
    /// policy and nothing its path depends on has changed since (no rename, link,
    /// unlink or mount change on the node). The setting is the node's: every `polc
    /// exec` sets it (on unless this flag is given).
    #[arg(long)]
    pub no_open_cache: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub cmd: Vec<std::ffi::OsString>,
}

#[derive(Args, Debug)]
pub(crate) struct AgentArgs {
    /// Where the agent keeps copies of the bundles it applied.
    #[arg(long, value_name = "DIR", default_value = polc_agent::node::STATE_DIR, global = true)]
    pub state_dir: PathBuf,
    /// The bpffs directory of polc's pinned programs and maps.
    #[arg(long, value_name = "DIR", default_value = polc_agent::PIN_DIR, global = true, hide = true)]
    pub pin_dir: PathBuf,
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Subcommand, Debug)]
pub(crate) enum AgentCommand {
    /// Load or replace bundles (one generation switch) and bind cgroups to plans.
    ///
    /// BUNDLE is a .bundle file, a directory of them, or a `polc compile --out`
    /// directory (its bpf-lsm/ is read). Prints one line per plan: load, replace,
    /// unchanged or unload, with its slot.
    ///
    /// On a Kubernetes node, --pods binds every running container of the pod list
    /// to its workload's plan, finding each container's cgroup by its runtime id:
    ///
    ///   kubectl get pods -A -o json --field-selector spec.nodeName=$NODE \
    ///     | polc agent apply /var/lib/polc/build --prune --pods - --node $NODE
    ///
    /// Run it again when pods come and go: it binds the new containers and unbinds
    /// the cgroups that no longer exist. Exit status 1 when a running container
    /// with a plan could not be bound (listed with the reason).
    #[command(verbatim_doc_comment)]
    Apply(AgentApplyArgs),
    /// Print violation records as the kernel reports them, until Ctrl-C or SIGTERM.
    Events(AgentEventsArgs),
    /// Show the loaded plans, their bundles' hashes, bound cgroups and dropped events.
    Status(AgentStatusArgs),
    /// Unload plans the agent loaded (and unbind their cgroups).
    Unload(AgentUnloadArgs),
    /// Unbind cgroups from their plans (their processes are no longer judged).
    Unbind(AgentUnbindArgs),
    /// Keep this node's pods bound to their plans: watch the Kubernetes API.
    ///
    /// Lists and watches the pods of NODE (`spec.nodeName`), and after every
    /// change (and every --resync seconds) does what
    /// `polc agent apply BUNDLE --prune --used-only --pods LIST --node NODE` does
    /// with the pods it knows: loads the plans of BUNDLE that the node's pods use
    /// (and unloads the others), binds each running container's cgroup to its
    /// workload's plan, unbinds cgroups that are gone. Prints what changes.
    /// Runs until SIGINT or SIGTERM; the bindings stay in force when it stops.
    ///
    /// With --from-cluster instead of BUNDLE, the node compiles its own bundles:
    /// it also watches the cluster's polc policies, and compiles those of the
    /// namespaces with a pod on the node, for bpf-lsm, against the pods as they
    /// run, whenever either changes (this is how deploy/agent.yaml runs it).
    ///
    /// The API is reached as kubectl does: in a pod, with its service account;
    /// elsewhere with $KUBECONFIG or ~/.kube/config. It needs to list and watch
    /// pods (and, with --from-cluster, the three polc policy kinds).
    ///
    /// Examples:
    ///   NODE_NAME=node-1 polc agent watch /var/lib/polc/build
    ///   NODE_NAME=node-1 polc agent watch --from-cluster --cgroup-root /host/sys/fs/cgroup
    #[command(verbatim_doc_comment)]
    Watch(AgentWatchArgs),
}

#[derive(Args, Debug)]
pub(crate) struct AgentWatchArgs {
    /// A .bundle file, a directory of them, or a `polc compile --out` directory;
    /// read again at every sync. Not with --from-cluster.
    #[arg(value_name = "BUNDLE", required_unless_present = "from_cluster", conflicts_with = "from_cluster")]
    pub bundles: Option<PathBuf>,
    /// Compile the node's bundles from the cluster: watch the polc policies
    /// (PreventionPolicy, RuntimePolicy, NetworkAccessPolicy) in the API and
    /// compile, for bpf-lsm, those of the namespaces with a pod on this node
    /// against the pods as they run (their labels and containers). The input and
    /// the build are kept in STATE_DIR/cluster; a policy with errors is left out
    /// and printed, the others are compiled. Needs `list` and `watch` on the three
    /// kinds (deploy/agent.yaml).
    #[arg(long)]
    pub from_cluster: bool,
    /// This node's name (as in the pods' spec.nodeName).
    #[arg(long, value_name = "NODE", env = "NODE_NAME")]
    pub node: String,
    /// The cgroup v2 directory holding the kubelet's kubepods.slice or kubepods
    /// (default: the cgroup v2 mount point).
    #[arg(long, value_name = "DIR")]
    pub cgroup_root: Option<PathBuf>,
    /// Sync at least this often, in seconds, whatever the API says (cgroups removed,
    /// cgroups made below containers, bundles changed on disk).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub resync: u64,
}

#[derive(Args, Debug)]
pub(crate) struct AgentApplyArgs {
    /// Bundle files or directories.
    #[arg(value_name = "BUNDLE", required = true)]
    pub bundles: Vec<PathBuf>,
    /// Bind a cgroup v2 directory to a plan: PLAN=DIR, PLAN being a plan id
    /// (`namespace/Kind/name/container`), its workload or container name. Repeatable.
    #[arg(long, value_name = "PLAN=DIR")]
    pub bind: Vec<String>,
    /// Unload the agent's plans that are not among BUNDLE (their cgroups are unbound).
    #[arg(long)]
    pub prune: bool,
    /// Bind the containers of the pods in FILE (`kubectl get pods -o json`: a
    /// PodList, List or Pod, in JSON or YAML; `-` reads stdin) to their workloads'
    /// plans, and unbind cgroups that no longer exist. A pod's workload is its
    /// controller (a ReplicaSet stands for its Deployment); each container's cgroup
    /// is found in the kubelet's tree (kubepods.slice, kubepods or kubelet-kubepods.slice) by its runtime id
    /// (containerd, CRI-O, Docker; systemd or cgroupfs driver), in its pod's cgroup.
    /// Containers left unbound are listed, with the reason.
    #[arg(long, value_name = "FILE")]
    pub pods: Option<PathBuf>,
    /// With --pods: only the pods whose spec.nodeName is NODE.
    #[arg(long, value_name = "NODE", requires = "pods")]
    pub node: Option<String>,
    /// With --pods: load only the plans the pods' containers use (a compile of a
    /// whole cluster has every workload's plan; a node needs its own pods'). With
    /// --prune, the agent's other plans are unloaded.
    #[arg(long, requires = "pods", conflicts_with = "bind")]
    pub used_only: bool,
    /// With --pods: the cgroup v2 directory holding the kubelet's kubepods.slice or
    /// kubepods (default: the cgroup v2 mount point).
    #[arg(long, value_name = "DIR", requires = "pods")]
    pub cgroup_root: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct AgentEventsArgs {
    /// Format of the violation records.
    #[arg(long, value_enum, default_value_t = EventFormat::Json)]
    pub events: EventFormat,
    /// Append violation records to FILE instead of printing them to stdout.
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
}

/// Output format of `polc agent status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusFormat {
    /// Text.
    Human,
    /// One JSON document (`version: 1`).
    Json,
}

#[derive(Args, Debug)]
pub(crate) struct AgentStatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
    pub format: StatusFormat,
}

#[derive(Args, Debug)]
pub(crate) struct AgentUnloadArgs {
    /// Plans to unload (plan id, workload or container name).
    #[arg(value_name = "PLAN", required_unless_present = "all", conflicts_with = "all")]
    pub plans: Vec<String>,
    /// Every plan the agent loaded.
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub(crate) struct AgentUnbindArgs {
    /// cgroup v2 directories.
    #[arg(value_name = "DIR", required = true)]
    pub cgroups: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct EnterCgroupArgs {
    /// The cgroup directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// A sealed memfd with the seccomp filter to install right before the exec.
    #[arg(long, value_name = "FD")]
    pub seccomp_fd: Option<i32>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub cmd: Vec<std::ffi::OsString>,
}

/// `docs/cli.md`: the help of every command, from this definition.
#[cfg(test)]
pub(crate) fn markdown() -> String {
    use clap::CommandFactory;
    let mut cmd = Cli::command().term_width(100);
    let mut s = String::from(
        "# polc command line\n\n<!-- generated from the clap definition in crates/polc/src/cli.rs; a test fails when this file drifts -->\n\n",
    );
    s.push_str("```text\n");
    s.push_str(&cmd.render_long_help().to_string());
    s.push_str("```\n");
    let names: Vec<String> = cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .collect();
    for name in names {
        if let Some(sub) = cmd.find_subcommand_mut(&name) {
            let mut sub = sub.clone().bin_name(format!("polc {name}"));
            s.push_str(&format!("\n## polc {name}\n\n```text\n{}```\n", sub.render_long_help()));
            let nested: Vec<String> = sub
                .get_subcommands()
                .filter(|c| !c.is_hide_set() && c.get_name() != "help")
                .map(|c| c.get_name().to_string())
                .collect();
            for n in nested {
                if let Some(c) = sub.find_subcommand_mut(&n) {
                    let mut c = c.clone().bin_name(format!("polc {name} {n}"));
                    s.push_str(&format!("\n### polc {name} {n}\n\n```text\n{}```\n", c.render_long_help()));
                }
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_valid() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    #[test]
    fn docs_cli_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md");
        let want = super::markdown();
        let have = std::fs::read_to_string(path).unwrap_or_default();
        if std::env::var_os("POLC_BLESS").is_some() {
            std::fs::write(path, &want).unwrap_or_else(|e| panic!("{path}: {e}"));
            return;
        }
        assert!(have == want, "docs/cli.md is stale: run `POLC_BLESS=1 cargo test -p polc docs_cli_md_is_current`");
    }
}
