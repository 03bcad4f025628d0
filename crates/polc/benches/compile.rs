//! Throughput and memory of `polc compile` on a generated repository of N policies and
//! N workloads, for several N, with the parse/compile split the issue asks for.
//!
//! The corpus is made in memory as YAML text: namespaces of 100 Deployments (one
//! multi-document file per namespace) and 100 policies (one file each: 40
//! PreventionPolicies with process, file, network and capability rules, 35
//! RuntimePolicies with baselines including system calls, 25 NetworkAccessPolicies
//! with pod, CIDR, FQDN and entity peers, ports and HTTP rules). Selectors pick a
//! handful of workloads each (a group label of five, one app, or `In` over two to
//! four apps), and a few policies select nothing (compiled on their own). The corpus
//! is meant to be valid: no error-level lint finding and no backend error.
//!
//! Each size runs in a child process of this bench (it re-executes itself), so the
//! peak RSS (`VmHWM`) of one size is not inflated by another. A child runs the
//! pipeline of `polc compile` minus the file system, `--iters` times, and keeps the
//! best time of every phase:
//!
//! - **parse**: `polc_load::load_input` over every file (YAML to JSON values + spans);
//! - **lint**: `Linter::lint` (schema, decoding, IR lowering, checks), which is what
//!   gives the compiler its `model_policies` / `model_workloads`;
//! - **plan**: `polc_compiler::plan::plan`;
//! - **backends**: `backend::compile_to(.., &Target::ALL, sink)` as `polc compile`
//!   runs it: the four backends on their own threads, capability entries merged and
//!   sorted; the sink hashes each artifact (SHA-256, for `index.json`) and drops it,
//!   where `polc compile` also writes it to its staging directory. Its CPU time is
//!   that of every thread. Each backend is also run alone, for the per-backend
//!   columns (not part of COMPILE): single-threaded, except bpf-lsm, which shares
//!   its policy sets out to a thread per core; their CPU time is every thread's;
//! - **assemble**: `report.json` and `index.json` as `polc compile` builds them, in
//!   memory (nothing is written to disk).
//!
//! **compile** = plan + backends (parse and lint excluded): the figure `--check`
//! gates. **end-to-end** = parse + lint + plan + backends + assemble.
//!
//! ```text
//! cargo bench -p polc --bench compile -- [--quick] [--check] [--sizes 1000,10000,100000] [--iters N]
//! ```
//!
//! `--quick` is 1,000 only with one iteration (CI). `--check` exits non-zero when the
//! 10,000 set (when run) takes more than 1 s to compile or the child's peak RSS is
//! above 300 MiB, or when any corpus has lint errors or backend errors.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use polc_compiler::backend::{self, Artifact, Target};
use polc_compiler::plan::plan;
use polc_lint::{Config, Level, Linter};
use polc_load::{Limits, SourceFile, load_input};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// The allocator `polc` itself uses, so that the figures are those of the binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Compile (plan + backends) time allowed for the 10,000 set.
const MAX_COMPILE_10K: Duration = Duration::from_secs(1);
/// Peak RSS allowed for the 10,000 set, in MiB.
const MAX_PEAK_MIB_10K: f64 = 300.0;
/// The size the targets apply to.
const GATED_SIZE: usize = 10_000;
/// Sizes above this run lean by default (see [`child`]).
const LEAN_ABOVE: usize = 20_000;
/// Workloads and policies per namespace.
const PER_NAMESPACE: usize = 100;

// ---------------------------------------------------------------- arguments

struct Args {
    sizes: Vec<usize>,
    iters: Option<usize>,
    check: bool,
    /// Run one size and print its figures as JSON (the parent's child process).
    child: Option<usize>,
    /// Write the corpus of each size under this directory instead of measuring.
    emit: Option<std::path::PathBuf>,
    /// Lean mode for every size (`Some(true)`), for none (`Some(false)`), or above 20,000.
    lean: Option<bool>,
}

const USAGE: &str = "usage: compile [--quick] [--check] [--sizes N,N,...] [--iters N] [--lean|--full]\n       compile --sizes N,... --emit-corpus DIR";

fn parse_args() -> Result<Args, String> {
    let mut a = Args { sizes: vec![1_000, 10_000], iters: None, check: false, child: None, emit: None, lean: None };
    let mut quick = false;
    let mut it = std::env::args().skip(1);
    let num = |flag: &str, v: Option<String>| -> Result<usize, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        v.replace('_', "").parse().map_err(|_| format!("{flag} {v}: not a number"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            // `cargo bench` passes `--bench` to harness-less benches.
            "--bench" => {}
            "--quick" => quick = true,
            "--check" => a.check = true,
            "--iters" => a.iters = Some(num("--iters", it.next())?.max(1)),
            "--child" => a.child = Some(num("--child", it.next())?),
            "--lean" => a.lean = Some(true),
            "--full" => a.lean = Some(false),
            "--emit-corpus" => a.emit = Some(it.next().ok_or("--emit-corpus needs a directory")?.into()),
            "--sizes" => {
                let v = it.next().ok_or("--sizes needs a value")?;
                a.sizes = v.split(',').map(|s| num("--sizes", Some(s.trim().to_string()))).collect::<Result<_, _>>()?;
                if a.sizes.is_empty() || a.sizes.contains(&0) {
                    return Err("--sizes: sizes must be positive".into());
                }
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    if quick {
        a.sizes = vec![1_000];
        a.iters = Some(a.iters.unwrap_or(1));
    }
    Ok(a)
}

// ---------------------------------------------------------------- corpus

/// SplitMix64: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Copy>(&mut self, s: &[T]) -> T {
        s[self.below(s.len())]
    }
    /// Between `lo` and `hi` distinct items of `s`, in the order of `s`.
    fn some<T: Copy>(&mut self, s: &[T], lo: usize, hi: usize) -> Vec<T> {
        let k = self.range(lo, hi).min(s.len());
        let mut idx: Vec<usize> = (0..s.len()).collect();
        for i in 0..k {
            let j = i + self.below(s.len() - i);
            idx.swap(i, j);
        }
        let mut chosen = idx[..k].to_vec();
        chosen.sort_unstable();
        chosen.into_iter().map(|i| s[i]).collect()
    }
    /// Every item of `s` in random order, to deal disjoint subsets from.
    fn deck<T: Copy>(&mut self, s: &[T]) -> Vec<T> {
        let mut d = s.to_vec();
        for i in (1..d.len()).rev() {
            d.swap(i, self.below(i + 1));
        }
        d
    }
    /// Between `lo` and `hi` items off the top of `deck` (fewer when it runs out).
    fn deal<T>(&mut self, deck: &mut Vec<T>, lo: usize, hi: usize) -> Vec<T> {
        let k = self.range(lo, hi).min(deck.len());
        deck.split_off(deck.len() - k)
    }
}

/// The action of a rule entry, fixed per entry across the whole corpus: two policies
/// that select the same container then agree (a duplicate at worst), never
/// contradict (the same entry with two actions is a lint error).
fn action_of(entry: &str) -> &'static str {
    let h = entry.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    if h % 5 < 3 { "Block" } else { "Audit" }
}

/// Executables prevention rules name. Disjoint from [`RUNTIME_EXES`], and every glob
/// has a form the bpf-lsm maps express exactly.
const EXEC_PATHS: &[&str] = &[
    "/bin/sh",
    "/bin/bash",
    "/bin/dash",
    "/bin/ash",
    "/bin/zsh",
    "/usr/bin/bash",
    "/usr/bin/curl",
    "/usr/bin/wget",
    "/bin/nc",
    "/bin/nc.*",
    "/usr/bin/nc",
    "/usr/bin/ncat",
    "/usr/bin/netcat",
    "/usr/bin/socat",
    "/usr/bin/nmap",
    "/usr/sbin/tcpdump",
    "/usr/bin/telnet",
    "/usr/bin/python3",
    "/usr/bin/perl",
    "/usr/bin/ssh",
    "/usr/bin/scp",
    "/sbin/apk",
    "/usr/bin/apt",
    "/usr/bin/apt-get",
    "/usr/bin/dpkg",
    "/usr/bin/pip*",
    "/usr/bin/yum*",
    "/usr/bin/nsenter",
    "/usr/bin/unshare",
    "/usr/sbin/chroot",
    "/bin/mount",
    "/sbin/insmod",
    "/sbin/modprobe",
    "/**/xmrig*",
    "/**/minerd",
    "/**/kdevtmpfsi",
    "/**/kinsing",
    "/tmp/*",
    "/dev/shm/*",
    "/var/tmp/**",
    "/usr/local/bin/kubectl",
    "/usr/bin/crictl",
];

/// Executables an Allow rule may name: exact, and never blocked by any entry above.
const ALLOWED_EXECS: &[&str] =
    &["/usr/local/bin/healthcheck", "/app/bin/migrate", "/usr/local/bin/envsubst", "/opt/tools/bin/report"];

const COMMS: &[&str] = &[
    "sh", "bash", "dash", "ash", "curl", "wget", "nc", "ncat", "netcat", "socat", "nmap", "tcpdump", "telnet", "apk",
    "apt-get", "dpkg", "pip3", "xmrig", "minerd", "kinsing", "nsenter", "unshare", "mount", "insmod", "modprobe",
];

const PARENTS: &[&str] = &[
    "/usr/lib/jvm/**",
    "/app/server",
    "/usr/bin/mongod",
    "/usr/sbin/mysqld",
    "/usr/local/bin/redis-server",
    "/usr/local/bin/node",
    "/usr/bin/java",
];

/// Files prevention rules name; none of them is in a runtime baseline.
const FILE_PATHS: &[&str] = &[
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/root/.ssh/*",
    "/home/*/.ssh/id_*",
    "/var/run/secrets/kubernetes.io/serviceaccount/token",
    "/run/secrets/kubernetes.io/serviceaccount/token",
    "/proc/*/mem",
    "/proc/*/environ",
    "/proc/sysrq-trigger",
    "/etc/kubernetes/**",
    "/var/lib/kubelet/**",
    "/var/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/dev/mem",
    "/dev/kmem",
    "/dev/sd*",
    "/dev/nvme*",
    "/dev/cpu/*/msr",
    "/etc/ld.so.preload",
    "/etc/crontab",
    "/var/spool/cron/**",
    "/root/.bash_history",
];

/// Directories of prevention rules (`/tmp` is left out: baselines allow `/tmp/**`).
const DIRS: &[&str] =
    &["/usr/local/bin/", "/usr/bin/", "/dev/shm/", "/var/tmp/", "/etc/ssl/private/", "/proc/sys/", "/sys/", "/root/"];

const CIDRS: &[&str] = &[
    "169.254.169.254/32",
    "169.254.170.2/32",
    "100.100.100.200/32",
    "fd00:ec2::254/128",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "198.51.100.0/24",
    "2001:db8::/32",
];

const PORTS: &[u16] =
    &[22, 23, 25, 53, 80, 443, 3306, 3333, 4444, 5432, 5555, 5672, 6379, 6666, 7777, 8080, 9090, 9999, 14444, 27017];

const CAPS: &[&str] = &[
    "SYS_ADMIN",
    "SYS_PTRACE",
    "SYS_MODULE",
    "SYS_RAWIO",
    "NET_ADMIN",
    "NET_RAW",
    "BPF",
    "PERFMON",
    "SYS_BOOT",
    "DAC_READ_SEARCH",
    "SYS_TIME",
    "MKNOD",
];

/// What a JVM, Go or Node service calls.
const SYSCALLS: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "arch_prctl",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "clone",
    "clone3",
    "close",
    "close_range",
    "connect",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_wait",
    "eventfd2",
    "execve",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fchmod",
    "fchown",
    "fcntl",
    "fdatasync",
    "flock",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getpeername",
    "getpid",
    "getppid",
    "getrandom",
    "getrlimit",
    "getrusage",
    "getsockname",
    "getsockopt",
    "gettid",
    "gettimeofday",
    "getuid",
    "inotify_add_watch",
    "inotify_init1",
    "ioctl",
    "kill",
    "listen",
    "lseek",
    "lstat",
    "madvise",
    "membarrier",
    "mincore",
    "mkdir",
    "mmap",
    "mprotect",
    "mremap",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "prlimit64",
    "pwrite64",
    "read",
    "readlink",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmsg",
    "rename",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_getaffinity",
    "sched_yield",
    "select",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "setitimer",
    "setrlimit",
    "setsockopt",
    "setuid",
    "shutdown",
    "sigaltstack",
    "socket",
    "socketpair",
    "stat",
    "statfs",
    "statx",
    "sysinfo",
    "tgkill",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "wait4",
    "write",
    "writev",
];

const RUNTIME_EXES: &[&str] = &[
    "/usr/local/bin/java.sh",
    "/bin/busybox",
    "/usr/lib/jvm/**/bin/java",
    "/app/server",
    "/usr/bin/mongod",
    "/usr/sbin/mysqld",
    "/usr/local/bin/docker-entrypoint.sh",
    "/usr/local/bin/node",
    "/usr/local/bin/redis-server",
    "/usr/lib/erlang/erts-*/bin/beam.smp",
];

const RUNTIME_FILES: &[&str] = &[
    "/app/server",
    "/usr/src/app/app.jar",
    "/usr/lib/jvm/**",
    "/lib/*.so*",
    "/usr/lib/*.so*",
    "/lib/x86_64-linux-gnu/*.so*",
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/ssl/certs/**",
    "/proc/*/stat",
    "/proc/*/maps",
    "/proc/self/cgroup",
    "/proc/meminfo",
    "/sys/fs/cgroup/**",
    "/dev/random",
    "/dev/urandom",
    "/dev/null",
    "/usr/src/app/**",
    "/usr/share/zoneinfo/**",
];

const RUNTIME_WRITABLE: &[&str] = &["/tmp/**", "/data/db/**", "/var/lib/mysql/**", "/var/log/app/**"];

const FQDNS: &[&str] = &[
    "api.stripe.com",
    "*.amazonaws.com",
    "sqs.eu-west-1.amazonaws.com",
    "hooks.slack.com",
    "*.sentry.io",
    "api.github.com",
    "registry.npmjs.org",
    "*.googleapis.com",
];

const ENTITIES: &[&str] = &["kube-apiserver", "world", "cluster", "host", "remote-node"];

const HTTP_PATHS: &[&str] =
    &["/", "/health", "/metrics", "/carts/.*", "/catalogue.*", "/orders.*", "/login", "/customers/.*", "/api/v1/.*"];

const SEVERITIES: &[&str] = &["info", "low", "medium", "high", "critical"];
const TEAMS: &[&str] = &["payments", "storefront", "platform", "data", "security"];
const TIERS: &[&str] = &["frontend", "backend", "data", "messaging"];
const TACTICS: &[&str] = &["T1059.004", "T1105", "T1046", "T1040", "T1611", "T1552.005", "T1496", "T1547.006", "T1003"];
const IMAGES: &[&str] = &["java-service", "go-service", "node-service", "python-worker", "mongo", "redis", "mysql"];

fn list(y: &mut String, indent: usize, items: impl IntoIterator<Item = impl AsRef<str>>) {
    for i in items {
        let _ = writeln!(y, "{:indent$}- {}", "", i.as_ref());
    }
}

/// Names of the workloads of a namespace.
fn app(k: usize) -> String {
    format!("svc-{k:02}")
}

/// Workloads per group label (a group selector picks this many).
const GROUP: usize = 5;

/// Does workload `k` have a metrics sidecar?
fn has_sidecar(k: usize) -> bool {
    k % 10 < 3
}

/// One namespace's Deployments, as one multi-document file.
fn workloads(ns: &str, count: usize, rng: &mut Rng) -> String {
    let mut y = String::with_capacity(count * 2048);
    for k in 0..count {
        let name = app(k);
        let (group, tier, team) = (k / GROUP, TIERS[k % TIERS.len()], rng.pick(TEAMS));
        let image = rng.pick(IMAGES);
        let _ = writeln!(
            y,
            "---\n# {name}: generated for the polc compile benchmark.\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    app: {name}\n    team: {team}\nspec:\n  replicas: {}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n        group: g-{group}\n        tier: {tier}\n        team: {team}\n        polc.dev/protect: \"true\"\n      annotations:\n        prometheus.io/scrape: \"true\"\n    spec:\n      serviceAccountName: {name}\n      securityContext:\n        runAsNonRoot: true\n        runAsUser: 10001\n        seccompProfile:\n          type: RuntimeDefault",
            rng.range(1, 4)
        );
        if k % 10 == 9 {
            let _ = writeln!(
                y,
                "      initContainers:\n        - name: migrate\n          image: registry.example.com/{team}/{name}-migrate:1.{}.0\n          command: [\"/app/bin/migrate\", \"--wait\"]",
                rng.below(20)
            );
        }
        let _ = writeln!(
            y,
            "      containers:\n        - name: app\n          image: registry.example.com/{team}/{image}:{}.{}.{}\n          args:\n            - --port=8080\n            - --log-format=json\n          ports:\n            - name: http\n              containerPort: 8080\n          env:\n            - name: SERVICE_NAME\n              value: {name}\n            - name: JAVA_OPTS\n              value: -Xms64m -Xmx{}m -XX:+UseG1GC\n          resources:\n            requests:\n              cpu: {}m\n              memory: {}Mi\n            limits:\n              memory: {}Mi\n          securityContext:\n            allowPrivilegeEscalation: false\n            readOnlyRootFilesystem: true\n            capabilities:\n              drop:\n                - ALL\n          livenessProbe:\n            httpGet:\n              path: /health\n              port: 8080\n            initialDelaySeconds: 30\n          readinessProbe:\n            httpGet:\n              path: /health\n              port: 8080\n          volumeMounts:\n            - name: tmp\n              mountPath: /tmp",
            rng.below(4),
            rng.below(30),
            rng.below(10),
            rng.pick(&[256, 512, 1024]),
            rng.pick(&[50, 100, 200]),
            rng.pick(&[128, 256, 512]),
            rng.pick(&[512, 1024])
        );
        if has_sidecar(k) {
            let _ = writeln!(
                y,
                "        - name: metrics\n          image: registry.example.com/platform/exporter:0.{}.1\n          ports:\n            - containerPort: 9100\n          resources:\n            limits:\n              memory: 64Mi",
                rng.below(9)
            );
        }
        let _ = writeln!(y, "      volumes:\n        - name: tmp\n          emptyDir:\n            medium: Memory");
    }
    y
}

fn header(y: &mut String, kind: &str, name: &str, ns: &str, rng: &mut Rng) {
    let _ = writeln!(y, "# {kind} {name}: generated for the polc compile benchmark.");
    let _ = writeln!(
        y,
        "apiVersion: polc.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    team: {}",
        rng.pick(TEAMS)
    );
}

/// A selector of a handful of the namespace's `count` workloads: a group of
/// [`GROUP`] (50%), one app (25%), or `In` over two to four apps (25%).
fn selector(y: &mut String, count: usize, rng: &mut Rng) {
    let p = "    ";
    match rng.below(4) {
        0 | 1 => {
            let _ = writeln!(y, "{p}matchLabels:\n{p}  group: g-{}", rng.below(count.div_ceil(GROUP)));
        }
        2 => {
            let _ = writeln!(y, "{p}matchLabels:\n{p}  app: {}", app(rng.below(count)));
        }
        _ => {
            let mut apps: Vec<String> = (0..rng.range(2, 4)).map(|_| app(rng.below(count))).collect();
            apps.sort();
            apps.dedup();
            let _ = writeln!(y, "{p}matchExpressions:\n{p}  - key: app\n{p}    operator: In\n{p}    values:");
            list(y, 8, &apps);
        }
    }
}

fn rule_head(y: &mut String, name: &str, action: &str, rng: &mut Rng) {
    let _ = writeln!(y, "    - name: {name}\n      action: {action}");
    if rng.chance(40) {
        let _ = writeln!(y, "      severity: {}", rng.pick(SEVERITIES));
    }
    if rng.chance(50) {
        let _ = writeln!(y, "      message: {name} matched in a container.");
    }
    if rng.chance(40) {
        let _ = writeln!(y, "      tags:");
        list(y, 8, rng.some(TACTICS, 1, 2));
    }
}

/// Deal entries whose fixed action is `action` off `deck`.
fn deal_action(deck: &mut Vec<&'static str>, action: &str, lo: usize, hi: usize, rng: &mut Rng) -> Vec<&'static str> {
    let (mut same, rest): (Vec<_>, Vec<_>) = deck.drain(..).partition(|e| action_of(e) == action);
    let out = rng.deal(&mut same, lo, hi);
    deck.extend(same);
    deck.extend(rest);
    out
}

fn prevention(ns: &str, name: &str, count: usize, standalone: bool, rng: &mut Rng) -> String {
    let mut y = String::with_capacity(4096);
    header(&mut y, "PreventionPolicy", name, ns, rng);
    let _ = writeln!(y, "spec:\n  selector:");
    if standalone {
        let _ = writeln!(y, "    matchLabels:\n      app: retired-{name}");
    } else {
        selector(&mut y, count, rng);
    }
    if rng.chance(20) {
        let _ = writeln!(y, "  containers:\n    - app");
    }
    let _ = writeln!(
        y,
        "  mode: {}\n  defaultAction: Allow\n  severity: {}\n  message: A container did something it never needs.\n  tags:",
        rng.pick(&["Enforce", "DryRun"]),
        rng.pick(SEVERITIES)
    );
    list(&mut y, 4, rng.some(TACTICS, 1, 2));
    let _ = writeln!(y, "  process:");
    let (mut paths, mut comms, mut dirs) = (rng.deck(EXEC_PATHS), rng.deck(COMMS), rng.deck(DIRS));
    for k in 0..rng.range(1, 3) {
        let action = rng.pick(&["Block", "Audit"]);
        let p = deal_action(&mut paths, action, 2, 8, rng);
        if p.is_empty() {
            continue;
        }
        rule_head(&mut y, &format!("process-{k}"), action, rng);
        let _ = writeln!(y, "      paths:");
        list(&mut y, 8, p);
        let c = deal_action(&mut comms, action, 1, 4, rng);
        if rng.chance(50) && !c.is_empty() {
            let _ = writeln!(y, "      comms:");
            list(&mut y, 8, c);
        }
        if rng.chance(25) {
            let _ = writeln!(y, "      fromParents:");
            list(&mut y, 8, rng.some(PARENTS, 1, 3));
        }
        if rng.chance(20) {
            let d = deal_action(&mut dirs, action, 1, 1, rng);
            for d in d {
                let _ = writeln!(y, "      dirs:\n        - path: {d}\n          recursive: {}", rng.chance(50));
            }
        }
    }
    if rng.chance(30) {
        rule_head(&mut y, "allow-tools", "Allow", rng);
        let _ = writeln!(y, "      paths:");
        list(&mut y, 8, rng.some(ALLOWED_EXECS, 1, 2));
    }
    if rng.chance(80) {
        let (mut paths, mut dirs) = (rng.deck(FILE_PATHS), rng.deck(DIRS));
        let _ = writeln!(y, "  file:");
        for k in 0..rng.range(1, 3) {
            let action = rng.pick(&["Block", "Audit"]);
            let p = deal_action(&mut paths, action, 1, 6, rng);
            let d = if rng.chance(30) { deal_action(&mut dirs, action, 1, 2, rng) } else { Vec::new() };
            if p.is_empty() && d.is_empty() {
                continue;
            }
            rule_head(&mut y, &format!("file-{k}"), action, rng);
            if !p.is_empty() {
                let _ = writeln!(y, "      paths:");
                list(&mut y, 8, p);
            }
            if !d.is_empty() {
                let _ = writeln!(y, "      dirs:");
                for d in d {
                    let _ = writeln!(y, "        - path: {d}\n          recursive: {}", rng.chance(50));
                }
            }
            if rng.chance(40) {
                let _ = writeln!(y, "      access:\n        - {}", rng.pick(&["Read", "Write"]));
            }
        }
    }
    if rng.chance(60) {
        let _ = writeln!(y, "  network:");
        let mut cidrs = rng.deck(CIDRS);
        for k in 0..rng.range(1, 2) {
            let action = rng.pick(&["Block", "Audit"]);
            let c = deal_action(&mut cidrs, action, 1, 3, rng);
            if c.is_empty() {
                continue;
            }
            rule_head(&mut y, &format!("network-{k}"), action, rng);
            let _ = writeln!(y, "      direction: Egress\n      cidrs:");
            list(&mut y, 8, c);
            if rng.chance(70) {
                let _ = writeln!(y, "      ports:");
                for port in rng.some(PORTS, 1, 4) {
                    let _ = writeln!(y, "        - port: {port}");
                }
            }
        }
        if rng.chance(30) {
            rule_head(&mut y, "raw-sockets", "Block", rng);
            let _ = writeln!(y, "      rawSockets: true");
        }
    }
    if rng.chance(50) {
        let mut caps = rng.deck(CAPS);
        let action = rng.pick(&["Block", "Audit"]);
        let c = deal_action(&mut caps, action, 1, 4, rng);
        if !c.is_empty() {
            let _ = writeln!(y, "  capabilities:");
            rule_head(&mut y, "capabilities-0", action, rng);
            let _ = writeln!(y, "      capabilities:");
            list(&mut y, 8, c);
        }
    }
    y
}

fn runtime(ns: &str, name: &str, target: &str, rng: &mut Rng) -> String {
    let mut y = String::with_capacity(4096);
    header(&mut y, "RuntimePolicy", name, ns, rng);
    let _ = writeln!(
        y,
        "spec:\n  selector:\n    matchLabels:\n      app: {target}\n  containers:\n    - app\n  mode: {}\n  onAnomaly: {}\n  severity: {}\n  message: {target} did something outside its baseline.\n  tags:\n    - baseline\n  baseline:\n    # observed over a week of production traffic\n    executables:",
        rng.pick(&["Enforce", "DryRun"]),
        rng.pick(&["Audit", "Block"]),
        rng.pick(SEVERITIES)
    );
    list(&mut y, 6, rng.some(RUNTIME_EXES, 2, 4));
    let _ = writeln!(y, "    files:");
    for f in rng.some(RUNTIME_FILES, 6, 16) {
        let _ = writeln!(y, "      - path: {f}");
    }
    for f in rng.some(RUNTIME_WRITABLE, 1, 2) {
        let _ = writeln!(y, "      - path: {f}\n        access:\n          - Read\n          - Write");
    }
    let _ = writeln!(
        y,
        "    egress:\n      # pod and service CIDRs of the cluster\n      - cidr: 10.0.0.0/8\n        ports:"
    );
    for port in rng.some(PORTS, 1, 4) {
        let _ = writeln!(y, "          - port: {port}\n            protocol: TCP");
    }
    let _ = writeln!(y, "    syscalls:");
    list(&mut y, 6, rng.some(SYSCALLS, 50, 110));
    if rng.chance(60) {
        let _ = writeln!(y, "    capabilities:");
        list(&mut y, 6, rng.some(&["NET_BIND_SERVICE", "CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE"], 1, 2));
    }
    y
}

fn network(ns: &str, name: &str, count: usize, rng: &mut Rng) -> String {
    let mut y = String::with_capacity(4096);
    header(&mut y, "NetworkAccessPolicy", name, ns, rng);
    let _ = writeln!(y, "spec:\n  selector:");
    selector(&mut y, count, rng);
    let _ = writeln!(
        y,
        "  mode: {}\n  defaultAction: Block\n  severity: {}\n  egress:",
        rng.pick(&["Enforce", "DryRun"]),
        rng.pick(SEVERITIES)
    );
    let _ = writeln!(
        y,
        "    - name: dns\n      action: Allow\n      peers:\n        - cidr: 10.96.0.0/12\n      ports:\n        - port: 53\n          protocol: UDP\n        - port: 53\n          protocol: TCP"
    );
    let deps: Vec<usize> = (0..rng.range(1, 4)).map(|_| rng.below(count)).collect();
    for (k, dep) in deps.into_iter().enumerate() {
        let dep = app(dep);
        let _ = writeln!(
            y,
            "    - name: to-{dep}-{k}\n      action: Allow\n      peers:\n        - pods:\n            matchLabels:\n              app: {dep}\n      ports:\n        - port: 8080"
        );
        if rng.chance(40) {
            let _ = writeln!(y, "      http:");
            for p in rng.some(HTTP_PATHS, 1, 3) {
                let _ = writeln!(
                    y,
                    "        - method: {}\n          path: {p}",
                    rng.pick(&["GET", "POST", "PUT", "DELETE"])
                );
            }
        }
    }
    if rng.chance(60) {
        let _ = writeln!(y, "    - name: external-apis\n      action: Allow\n      peers:");
        for f in rng.some(FQDNS, 1, 3) {
            let _ = writeln!(y, "        - fqdn: \"{f}\"");
        }
        let _ = writeln!(y, "      ports:\n        - port: 443");
    }
    if rng.chance(40) {
        let _ = writeln!(
            y,
            "    - name: entity\n      action: {}\n      peers:\n        - entity: {}",
            rng.pick(&["Allow", "Audit"]),
            rng.pick(ENTITIES)
        );
    }
    if rng.chance(40) {
        let _ = writeln!(
            y,
            "    - name: internet-but-private\n      action: Audit\n      peers:\n        - cidr: 0.0.0.0/0\n          except:\n            - 10.0.0.0/8\n            - 172.16.0.0/12\n            - 192.168.0.0/16\n      ports:\n        - port: 443\n        - port: 8000\n          endPort: 8999"
        );
    }
    let _ = writeln!(y, "  ingress:");
    let froms: Vec<usize> = (0..rng.range(1, 3)).map(|_| rng.below(count)).collect();
    for (k, from) in froms.into_iter().enumerate() {
        let from = app(from);
        let _ = writeln!(
            y,
            "    - name: from-{from}-{k}\n      action: Allow\n      peers:\n        - pods:\n            matchLabels:\n              app: {from}"
        );
        if rng.chance(30) {
            let _ = writeln!(
                y,
                "          namespaces:\n            matchLabels:\n              kubernetes.io/metadata.name: {ns}"
            );
        }
        let _ = writeln!(y, "      ports:\n        - port: 8080");
        if rng.chance(50) {
            let _ = writeln!(
                y,
                "      http:\n        - method: GET\n          path: {}\n          headers:\n            - \"X-Request-Id\"",
                rng.pick(HTTP_PATHS)
            );
        }
    }
    y
}

struct Corpus {
    /// (file name, YAML text).
    files: Vec<(String, String)>,
    /// Policies of each kind: prevention, runtime, network.
    kinds: [usize; 3],
    workloads: usize,
    bytes: usize,
}

/// `n` policies and `n` workloads, [`PER_NAMESPACE`] of each per namespace.
fn corpus(n: usize) -> Corpus {
    let mut rng = Rng(0x706f_6c63_0000 ^ n as u64);
    let mut files = Vec::with_capacity(n + n / PER_NAMESPACE + 1);
    let mut kinds = [0; 3];
    let namespaces = n.div_ceil(PER_NAMESPACE);
    for ns_i in 0..namespaces {
        let ns = format!("team-{ns_i:04}");
        let count = PER_NAMESPACE.min(n - ns_i * PER_NAMESPACE);
        files.push((format!("apps/{ns}/deployments.yaml"), workloads(&ns, count, &mut rng)));
        // Runtime baselines go to distinct workloads: one baseline per container.
        let mut baselined = rng.deck(&(0..count).collect::<Vec<_>>());
        for j in 0..count {
            // Per namespace: 40% prevention (one in 20 selecting nothing), 35% runtime, 25% network.
            let (kind, name, text) = match j % 20 {
                0..8 => {
                    let name = format!("prevent-{j:02}");
                    let text = prevention(&ns, &name, count, j % 40 == 7, &mut rng);
                    (0, name, text)
                }
                8..15 => {
                    let target = app(baselined.pop().unwrap_or(j));
                    let name = format!("{target}-baseline");
                    let text = runtime(&ns, &name, &target, &mut rng);
                    (1, name, text)
                }
                _ => {
                    let name = format!("network-{j:02}");
                    let text = network(&ns, &name, count, &mut rng);
                    (2, name, text)
                }
            };
            kinds[kind] += 1;
            let dir = ["prevention", "runtime", "network"][kind];
            files.push((format!("policies/{ns}/{dir}/{name}.yaml"), text));
        }
    }
    let bytes = files.iter().map(|(_, t)| t.len()).sum();
    Corpus { files, kinds, workloads: n, bytes }
}

/// Write the corpus of each size as files under `dir/<size>`, to run `polc compile` on.
fn emit(dir: &std::path::Path, sizes: &[usize]) -> ExitCode {
    for &n in sizes {
        let c = corpus(n);
        for (name, text) in &c.files {
            let path = dir.join(n.to_string()).join(name);
            let written =
                path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(&path, text));
            if let Err(e) = written {
                eprintln!("compile bench: cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
        println!(
            "{}: {} files, {:.1} MiB",
            dir.join(n.to_string()).display(),
            c.files.len(),
            c.bytes as f64 / 1048576.0
        );
    }
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------- measuring

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Reset the peak RSS to the current RSS (Linux 4.0+); false when not possible.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into())
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// What `polc compile` keeps of each artifact for `index.json` (it writes the bytes
/// to its staging directory as they come; the bench hashes and drops them): path,
/// SHA-256 (hex) and size.
#[derive(Default)]
struct Hashing(std::sync::Mutex<Vec<(String, String, usize)>>);

impl backend::Sink for Hashing {
    fn put(&self, a: Artifact) {
        use sha2::Digest;
        let h = hex(&sha2::Sha256::digest(&a.bytes));
        let entry = (a.path, h, a.bytes.len());
        self.0.lock().unwrap().push(entry);
    }
}

impl Hashing {
    fn take(&self) -> Vec<(String, String, usize)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `report.json` and `index.json` as `polc compile` builds them (crates/polc/src/cmd/compile.rs),
/// in memory; the number of files and bytes.
fn assemble(
    out: &backend::Compiled,
    files: &mut Vec<(String, String, usize)>,
    plans: &[polc_compiler::plan::Plan],
) -> (usize, usize) {
    // Streamed from the plans and the output, as polc compile writes it.
    let mut w = HashSink::default();
    polc_compiler::report::write(&mut w, &polc_compiler::report::Report::new(&Target::ALL, plans, out.runs())).unwrap();
    files.push(("report.json".into(), hex(&sha2::Digest::finalize(w.hash)), w.bytes));
    files.sort();
    let entries: Vec<Value> = files.iter().map(|(path, h, n)| json!({"path": path, "sha256": h, "bytes": n})).collect();
    let index = pretty(&json!({"generator": "polc bench", "files": entries}));
    (files.len() + 1, files.iter().map(|f| f.2).sum::<usize>() + index.len())
}

/// A writer that hashes and counts what it is given and keeps nothing (the file
/// polc compile writes it to).
#[derive(Default)]
struct HashSink {
    hash: sha2::Sha256,
    bytes: usize,
}

impl std::io::Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.hash, buf);
        self.bytes += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// CPU time of the whole process, every thread included (`/proc/self/stat` utime +
/// stime, in clock ticks of 10 ms): the backends run on several threads.
fn process_cpu() -> Duration {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            // Fields 14 and 15 of the line; `rest` starts at field 3.
            let t = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            Some(Duration::from_millis(t * 10))
        })
        .unwrap_or(Duration::ZERO)
}

/// CPU time of this thread (`/proc/thread-self/schedstat`, nanoseconds on a CPU):
/// unlike wall time it does not count the time other processes on the machine take.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Wall and CPU time of a phase.
#[derive(Clone, Copy, Default)]
struct Span {
    wall: Duration,
    cpu: Duration,
}

struct Clock(Instant, Duration, bool);

impl Clock {
    /// For a phase on this thread only: its CPU time, to the nanosecond.
    fn start() -> Clock {
        Clock(Instant::now(), thread_cpu(), false)
    }
    /// For a phase that runs threads: the CPU time of the process, to 10 ms.
    fn start_threads() -> Clock {
        Clock(Instant::now(), process_cpu(), true)
    }
    fn stop(&self) -> Span {
        let wall = self.0.elapsed();
        let now = if self.2 { process_cpu() } else { thread_cpu() };
        Span { wall, cpu: now.saturating_sub(self.1) }
    }
}

/// Best time of each phase over the iterations.
#[derive(Default)]
struct Times {
    parse: Span,
    lint: Span,
    plan: Span,
    /// `backend::compile_to` with every backend: what `polc compile` runs.
    compile: Span,
    /// Each backend alone (the breakdown; bpf-lsm on its own threads).
    backends: [Span; 4],
    assemble: Span,
}

/// Keep the best wall and the best CPU time of the iterations.
fn min_into(best: &mut Span, d: Span, first: bool) {
    if first || d.wall < best.wall {
        best.wall = d.wall;
    }
    if first || d.cpu < best.cpu {
        best.cpu = d.cpu;
    }
}

/// Findings per code.
fn finding_codes(report: &polc_lint::Report) -> std::collections::BTreeMap<&'static str, usize> {
    let mut by = std::collections::BTreeMap::new();
    for f in &report.findings {
        *by.entry(f.code.info().code).or_default() += 1;
    }
    by
}

/// One size, in this process: print the figures as one JSON line on stdout.
///
/// `lean` (for sizes whose full pipeline does not fit in memory): the loaded files
/// are dropped after lint, and the report/index assembly is not run.
fn child(n: usize, iters: usize, lean: bool) -> ExitCode {
    let t = Instant::now();
    let c = corpus(n);
    let gen_time = t.elapsed();
    let limits = Limits::default();
    let t = Instant::now();
    let linter = match Linter::new(Config::default()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("compile bench: {e}");
            return ExitCode::from(2);
        }
    };
    let linter_new = t.elapsed();
    let rss_before = status_kib("VmRSS:");
    let can_reset = reset_peak();

    let mut best = Times::default();
    let mut first_run: Value = Value::Null;
    let mut peaks: Vec<(&str, Option<u64>)> = Vec::new();
    for iter in 0..iters {
        let first = iter == 0;
        // How much the peak RSS grew during a phase, over the RSS at its start.
        let mut phase = |what: &'static str, start_rss: Option<u64>| {
            if first {
                let hwm = status_kib("VmHWM:");
                peaks.push((what, hwm.zip(start_rss).map(|(h, s)| h.saturating_sub(s))));
            }
        };
        let mut hwm_run = 0;
        let mut start = |first: bool| {
            if first {
                // Keep the peak of the run while measuring the peak of each phase.
                hwm_run = hwm_run.max(status_kib("VmHWM:").unwrap_or(0));
                reset_peak();
            }
            status_kib("VmRSS:")
        };

        let rss0 = start(first);
        let t = Clock::start();
        let mut loaded: Vec<SourceFile> =
            c.files.iter().map(|(n, t)| load_input(n.clone(), t.as_bytes(), &limits)).collect();
        min_into(&mut best.parse, t.stop(), first);
        phase("parse", rss0);

        let rss0 = start(first);
        let t = Clock::start();
        let report = linter.lint(&loaded);
        min_into(&mut best.lint, t.stop(), first);
        phase("lint", rss0);
        if lean {
            loaded = Vec::new();
        }

        let rss0 = start(first);
        let t = Clock::start();
        let plans = plan(&report.model_policies, &report.model_workloads);
        min_into(&mut best.plan, t.stop(), first);
        phase("plan", rss0);

        let rss0 = start(first);
        let input =
            backend::Input { policies: &report.model_policies, workloads: &report.model_workloads, plans: &plans };
        // What `polc compile` runs: every backend, on threads, each artifact handed
        // over as it is made (hashed and dropped here; written to disk by polc).
        let sink = Hashing::default();
        let t = Clock::start_threads();
        let out = backend::compile_to(&input, &Target::ALL, &sink);
        min_into(&mut best.compile, t.stop(), first);
        let mut files = sink.take();
        let errors = out.errors.len();
        let first_errors: Vec<String> = out.errors.iter().take(5).map(ToString::to_string).collect();
        phase("backends", rss0);

        // The breakdown: each backend alone (bpf-lsm shares its sets out to threads).
        let mut per_target = Vec::new();
        for (i, target) in Target::ALL.into_iter().enumerate() {
            let sink = Hashing::default();
            let t = if target == Target::BpfLsm { Clock::start_threads() } else { Clock::start() };
            let o = backend::compile_one_to(&input, target, &sink);
            min_into(&mut best.backends[i], t.stop(), first);
            let f = sink.take();
            per_target.push((f.len(), f.iter().map(|x| x.2).sum::<usize>(), o.capabilities.len(), o.errors.len()));
        }

        let rss0 = start(first);
        let t = Clock::start();
        let (artifacts, artifact_bytes) =
            if lean { (files.len(), files.iter().map(|f| f.2).sum()) } else { assemble(&out, &mut files, &plans) };
        if !lean {
            min_into(&mut best.assemble, t.stop(), first);
            phase("assemble", rss0);
        }

        if first {
            // The peak of the whole first run: in the full mode the corpus text, loaded
            // files, report, plans and artifacts are all alive now, as in `polc compile`.
            hwm_run = hwm_run.max(status_kib("VmHWM:").unwrap_or(0));
            let rules: usize = plans.iter().map(|p| p.sections.iter().map(|s| s.rules.len()).sum::<usize>()).sum();
            let sets: std::collections::HashSet<&[usize]> = plans.iter().map(|p| p.policies.as_slice()).collect();
            first_run = json!({
                "hwm_run_kib": hwm_run,
                "rss_end_kib": status_kib("VmRSS:"),
                "objects": report.objects,
                "policies": report.model_policies.len(),
                "workloads": report.model_workloads.len(),
                "lint_errors": report.count(Level::Error),
                "lint_warnings": report.count(Level::Warning),
                "lint_notes": report.count(Level::Note),
                "finding_codes": finding_codes(&report),
                "first_errors": report.findings.iter().filter(|f| f.level == Level::Error).take(5)
                    .map(|f| format!("{}: {} {}: {}", f.file, f.code.info().code, f.field, f.message)).collect::<Vec<_>>(),
                "plans": plans.len(),
                "policy_sets": sets.len(),
                "plan_rules": rules,
                "never_decide": plans.iter().map(|p| p.dropped.len()).sum::<usize>(),
                "backend_errors": errors,
                "first_backend_errors": first_errors,
                "capabilities": out.capability_count(),
                "artifacts": artifacts,
                "artifact_bytes": artifact_bytes,
                "per_target": per_target,
            });
        }
        // Dropped here, outside the clock, in reverse order of creation.
        drop(out);
        drop(files);
        drop(plans);
        drop(report);
        drop(loaded);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut v = first_run;
    v["size"] = json!(n);
    v["iters"] = json!(iters);
    v["lean"] = json!(lean);
    v["gen_ms"] = json!(ms(gen_time));
    v["linter_new_ms"] = json!(ms(linter_new));
    v["corpus_bytes"] = json!(c.bytes);
    v["files"] = json!(c.files.len());
    v["kinds"] = json!(c.kinds);
    v["generated_workloads"] = json!(c.workloads);
    v["rss_before_kib"] = json!(rss_before);
    v["can_reset_peak"] = json!(can_reset);
    v["phase_peak_kib"] = json!(peaks.iter().map(|(w, k)| json!({"phase": w, "kib": k})).collect::<Vec<_>>());
    for (key, span) in [("parse", best.parse), ("lint", best.lint), ("plan", best.plan)] {
        v[format!("{key}_ms")] = json!(ms(span.wall));
        v[format!("{key}_cpu_ms")] = json!(ms(span.cpu));
    }
    v["compile_backends_ms"] = json!(ms(best.compile.wall));
    v["compile_backends_cpu_ms"] = json!(ms(best.compile.cpu));
    v["backend_ms"] = json!(best.backends.iter().map(|d| ms(d.wall)).collect::<Vec<_>>());
    v["backend_cpu_ms"] = json!(best.backends.iter().map(|d| ms(d.cpu)).collect::<Vec<_>>());
    v["assemble_ms"] = if lean { Value::Null } else { json!(ms(best.assemble.wall)) };
    v["assemble_cpu_ms"] = if lean { Value::Null } else { json!(ms(best.assemble.cpu)) };
    println!("{v}");
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------- report

/// The figures of one size, as the parent reads them back.
struct SizeResult {
    v: Value,
}

impl SizeResult {
    fn f(&self, k: &str) -> f64 {
        self.v[k].as_f64().unwrap_or(f64::NAN)
    }
    fn u(&self, k: &str) -> u64 {
        self.v[k].as_u64().unwrap_or(0)
    }
    fn size(&self) -> usize {
        self.u("size") as usize
    }
    /// `backend::compile_to` with every backend (threads, merge and sort included),
    /// wall (`"_ms"`) or CPU (`"_cpu_ms"`, every thread) time.
    fn backends(&self, unit: &str) -> f64 {
        self.f(&format!("compile_backends{unit}"))
    }
    /// Plan + backends: the gated figure.
    fn compile(&self, unit: &str) -> f64 {
        self.f(&format!("plan{unit}")) + self.backends(unit)
    }
    fn compile_ms(&self) -> f64 {
        self.compile("_ms")
    }
    fn end_to_end(&self, unit: &str) -> f64 {
        self.f(&format!("parse{unit}"))
            + self.f(&format!("lint{unit}"))
            + self.compile(unit)
            + self.v[format!("assemble{unit}")].as_f64().unwrap_or(0.0)
    }
    fn end_to_end_ms(&self) -> f64 {
        self.end_to_end("_ms")
    }
    fn peak_mib(&self) -> f64 {
        self.u("hwm_run_kib") as f64 / 1024.0
    }
}

fn run_child(n: usize, iters: usize, lean: bool) -> Result<SizeResult, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the bench executable: {e}"))?;
    let out = Command::new(exe)
        .args(["--child", &n.to_string(), "--iters", &iters.to_string()])
        .args(lean.then_some("--lean"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run the child for {n}: {e}"))?;
    if !out.status.success() {
        return Err(format!("the child for {n} failed: {}", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().ok_or_else(|| format!("the child for {n} printed nothing"))?;
    let v: Value = serde_json::from_str(line).map_err(|e| format!("the child for {n} printed `{line}`: {e}"))?;
    Ok(SizeResult { v })
}

/// Milliseconds as a table cell, `-` for a phase that did not run.
fn cell(ms: Option<f64>) -> String {
    match ms {
        Some(ms) if ms >= 10_000.0 => format!("{:.1} s", ms / 1e3),
        Some(ms) => format!("{ms:.0} ms"),
        None => "-".into(),
    }
}

/// The table, as Markdown (it goes straight into docs/performance-compile.md).
fn print_table(results: &[SizeResult]) {
    println!(
        "| size | input | parse | lint | plan | bpf-lsm | apparmor | seccomp | cilium | backends | **COMPILE** \
         | COMPILE cpu | assemble | end-to-end | policies/s | COMPILE/parse | end-to-end/parse | peak RSS | artifacts |"
    );
    println!("|{}", "---:|".repeat(19));
    for r in results {
        let be: Vec<f64> = r.v["backend_ms"].as_array().into_iter().flatten().filter_map(Value::as_f64).collect();
        let b = |i: usize| cell(be.get(i).copied());
        let lean = if r.v["lean"].as_bool() == Some(true) { " (lean)" } else { "" };
        println!(
            "| {}k{lean} | {:.1} MiB | {} | {} | {} | {} | {} | {} | {} | {} | **{}** | {} | {} | {} | {:.0} | {:.1}x | {:.1}x | {:.0} MiB | {} ({:.0} MiB) |",
            r.size() / 1000,
            r.u("corpus_bytes") as f64 / 1048576.0,
            cell(Some(r.f("parse_ms"))),
            cell(Some(r.f("lint_ms"))),
            cell(Some(r.f("plan_ms"))),
            b(0),
            b(1),
            b(2),
            b(3),
            cell(Some(r.backends("_ms"))),
            cell(Some(r.compile_ms())),
            cell(Some(r.compile("_cpu_ms"))),
            cell(r.v["assemble_ms"].as_f64()),
            cell(Some(r.end_to_end_ms())),
            r.size() as f64 / (r.compile_ms() / 1e3),
            r.compile_ms() / r.f("parse_ms"),
            r.end_to_end_ms() / r.f("parse_ms"),
            r.peak_mib(),
            r.u("artifacts"),
            r.u("artifact_bytes") as f64 / 1048576.0,
        );
    }
}

fn print_details(results: &[SizeResult]) {
    for r in results {
        let kinds: Vec<u64> = r.v["kinds"].as_array().into_iter().flatten().filter_map(Value::as_u64).collect();
        println!(
            "{}: {} files, {} objects ({} policies: {:?} prevention/runtime/network; {} workloads), {} plans \
             ({} distinct policy sets), {} effective rules, {} never decide; {} artifacts, {:.1} MiB; {} capability lines",
            r.size(),
            r.u("files"),
            r.u("objects"),
            r.u("policies"),
            kinds,
            r.u("workloads"),
            r.u("plans"),
            r.u("policy_sets"),
            r.u("plan_rules"),
            r.u("never_decide"),
            r.u("artifacts"),
            r.u("artifact_bytes") as f64 / 1048576.0,
            r.u("capabilities"),
        );
        println!(
            "    lint findings: {} errors, {} warnings, {} notes; backend errors: {}; generated in {:.0} ms; \
             Linter::new {:.0} ms; best of {}",
            r.u("lint_errors"),
            r.u("lint_warnings"),
            r.u("lint_notes"),
            r.u("backend_errors"),
            r.f("gen_ms"),
            r.f("linter_new_ms"),
            r.u("iters")
        );
        let per: Vec<String> = r.v["per_target"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(Target::ALL)
            .map(|(t, name)| {
                format!(
                    "{name} {} files {:.1} MiB {} capability lines",
                    t[0],
                    t[1].as_f64().unwrap_or(0.0) / 1048576.0,
                    t[2]
                )
            })
            .collect();
        println!("    per backend: {}", per.join(", "));
        let peaks: Vec<String> = r.v["phase_peak_kib"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                format!("{} +{:.0}", p["phase"].as_str().unwrap_or("?"), p["kib"].as_f64().unwrap_or(0.0) / 1024.0)
            })
            .collect();
        let cpu: Vec<String> = ["parse", "lint", "plan"]
            .iter()
            .map(|p| format!("{p} {:.0}", r.f(&format!("{p}_cpu_ms"))))
            .chain(
                r.v["backend_cpu_ms"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .zip(Target::ALL)
                    .map(|(v, t)| format!("{t} {:.0}", v.as_f64().unwrap_or(f64::NAN))),
            )
            .collect();
        println!(
            "    CPU time (ms): {}; backends together (threads, every thread's CPU) {}; assemble {}; COMPILE {:.0}; \
             end-to-end {:.0}; COMPILE/parse {:.1}x",
            cpu.join(", "),
            cell(Some(r.backends("_cpu_ms"))),
            cell(r.v["assemble_cpu_ms"].as_f64()),
            r.compile("_cpu_ms"),
            r.end_to_end("_cpu_ms"),
            r.compile("_cpu_ms") / r.f("parse_cpu_ms"),
        );
        println!(
            "    RSS before the run {:.0} MiB (corpus text + linter); peak growth per phase (MiB over its start): {}; \
             peak of the run {:.0} MiB",
            r.u("rss_before_kib") as f64 / 1024.0,
            peaks.join(", "),
            r.peak_mib()
        );
        println!("    findings by code: {}", r.v["finding_codes"]);
        for e in r.v["first_errors"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(r.v["first_backend_errors"].as_array().into_iter().flatten())
        {
            println!("    error: {}", e.as_str().unwrap_or_default());
        }
    }
}

fn print_growth(results: &[SizeResult]) {
    for w in results.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let n = b.size() as f64 / a.size() as f64;
        let g = |key: &str| b.f(key) / a.f(key);
        println!(
            "growth {}k -> {}k (x{n:.0} input), wall (CPU): parse x{:.1} ({:.1}), lint x{:.1} ({:.1}), plan x{:.1} ({:.1}), \
             backends x{:.1} ({:.1}), COMPILE x{:.1} ({:.1}), end-to-end x{:.1} ({:.1}), peak RSS x{:.1}",
            a.size() / 1000,
            b.size() / 1000,
            g("parse_ms"),
            g("parse_cpu_ms"),
            g("lint_ms"),
            g("lint_cpu_ms"),
            g("plan_ms"),
            g("plan_cpu_ms"),
            b.backends("_ms") / a.backends("_ms"),
            b.backends("_cpu_ms") / a.backends("_cpu_ms"),
            b.compile("_ms") / a.compile("_ms"),
            b.compile("_cpu_ms") / a.compile("_cpu_ms"),
            b.end_to_end("_ms") / a.end_to_end("_ms"),
            b.end_to_end("_cpu_ms") / a.end_to_end("_cpu_ms"),
            b.peak_mib() / a.peak_mib(),
        );
        if a.v["lean"] != b.v["lean"] {
            println!("    (one of the two ran lean: no report/index assembly, loaded files dropped after lint)");
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("compile bench: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = &args.emit {
        return emit(dir, &args.sizes);
    }
    if let Some(n) = args.child {
        return child(n, args.iters.unwrap_or(3), args.lean.unwrap_or(false));
    }
    println!("polc compile benchmark");
    println!(
        "machine: {} cpus, {}, kernel {}; {} build; the backends on threads as in polc compile, every other phase single-threaded; best of the iterations",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(|_| "?".into(), |s| s.trim().to_string()),
        if cfg!(debug_assertions) { "debug" } else { "optimised" }
    );
    println!(
        "COMPILE = plan + the four backends (parse and lint excluded); end-to-end = parse + lint + plan + backends + \
         report/index assembly; policies/s = N / COMPILE; peak = VmHWM of the child for that size (corpus text included)"
    );
    let mut results = Vec::new();
    for &n in &args.sizes {
        // 100k runs take minutes per iteration: one unless asked.
        // Large sizes take minutes per iteration: one unless asked; above 20,000 the
        // full pipeline does not fit in this machine's memory, so lean unless --full.
        let iters = args.iters.unwrap_or(if n > 5_000 { 1 } else { 3 });
        let lean = args.lean.unwrap_or(n > LEAN_ABOVE);
        eprintln!("compile bench: {n} policies x {n} workloads, {iters} iterations ...");
        match run_child(n, iters, lean) {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("compile bench: {e}");
                return ExitCode::from(2);
            }
        }
    }
    println!();
    print_table(&results);
    println!();
    print_growth(&results);
    println!();
    print_details(&results);

    let mut checks: Vec<(String, bool)> = Vec::new();
    for r in &results {
        checks.push((
            format!("{}: corpus valid (no lint or backend errors)", r.size()),
            r.u("lint_errors") == 0 && r.u("backend_errors") == 0,
        ));
    }
    if let Some(r) = results.iter().find(|r| r.size() == GATED_SIZE) {
        checks.push((
            format!("{GATED_SIZE}: COMPILE (plan + backends) <= {} ms", MAX_COMPILE_10K.as_millis()),
            r.compile_ms() <= MAX_COMPILE_10K.as_secs_f64() * 1e3,
        ));
        checks.push((format!("{GATED_SIZE}: peak RSS <= {MAX_PEAK_MIB_10K:.0} MiB"), r.peak_mib() <= MAX_PEAK_MIB_10K));
    }
    println!();
    let mut ok = true;
    for (what, pass) in &checks {
        println!("check: {what}: {}", if *pass { "ok" } else { "FAILED" });
        ok &= pass;
    }
    if args.check && !ok {
        eprintln!("compile bench: performance targets not met");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
