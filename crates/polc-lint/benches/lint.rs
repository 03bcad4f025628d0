//! Throughput of `polc lint` on a large GitOps repository, against plain YAML parsing.
//!
//! The corpus is made in memory: thousands of valid polc policies of every kind
//! (PreventionPolicy with process, file, network and capability rules; RuntimePolicy
//! baselines with syscalls; NetworkAccessPolicy with peers and HTTP rules), one file
//! each, spread over many namespaces, and the sock-shop demo replicated into each of
//! those namespaces, so that policies select workloads and the coverage and
//! cross-policy checks run. Three things are timed, best of N, in this process:
//!
//! - (a) `yaml_rust2::YamlLoader::load_from_str` over the same text (the baseline);
//! - (b) `polc_load::load_input` alone;
//! - (c) load and `Linter::lint`, what `polc lint` does after reading the files.
//!
//! Then lint alone over pre-loaded files, split into policy checks, workload checks
//! and coverage plus cross-policy checks (the difference), and the peak RSS of each.
//!
//! ```text
//! cargo bench -p polc-lint --bench lint -- [--quick] [--check] [--policies N]
//!     [--namespaces N] [--iters N]
//! ```
//!
//! `--check` exits non-zero when lint is below 50,000 objects/s or slower than 2.0x
//! plain parsing, or when the corpus has an error-level finding (the corpus is meant
//! to be valid). `POLC_BENCH_POLICIES`, `POLC_BENCH_NAMESPACES` and
//! `POLC_BENCH_ITERS` are the environment twins of the size flags.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use polc_lint::{Config, Level, Linter, Report};
use polc_load::{Limits, SourceFile, load_input, load_many, parse_documents_fast, parse_documents_yaml_rust2};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The allocator `polc` itself uses, so that the figures are those of the binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The sock-shop demo, namespace `sock-shop`.
const SOCK_SHOP: &str = include_str!("../../../examples/sock-shop/manifests/complete-demo.yaml");

/// Lint throughput the issue asks for.
const MIN_OBJECTS_PER_SEC: f64 = 50_000.0;
/// Largest acceptable lint time as a multiple of plain YAML parsing.
const MAX_RATIO: f64 = 2.0;

// ---------------------------------------------------------------- arguments

struct Args {
    policies: usize,
    namespaces: usize,
    iters: usize,
    quick: bool,
    check: bool,
    /// Only run one phase, `iters` times, for a profiler.
    profile: Option<Phase>,
    /// Write the corpus under this directory and stop.
    dump: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Yaml,
    Load,
    Full,
    Lint,
    LintPolicies,
    LintWorkloads,
}

const USAGE: &str = "usage: lint [--quick] [--check] [--policies N] [--namespaces N] [--iters N]
            [--profile yaml|load|full|lint|lint-policies|lint-workloads] [--dump DIR]";

fn env_usize(name: &str) -> Result<Option<usize>, String> {
    match std::env::var(name) {
        Ok(v) => v.parse().map(Some).map_err(|_| format!("{name}={v} is not a number")),
        Err(_) => Ok(None),
    }
}

fn parse_args() -> Result<Args, String> {
    let mut a =
        Args { policies: 5_000, namespaces: 200, iters: 5, quick: false, check: false, profile: None, dump: None };
    let (mut policies, mut namespaces, mut iters) =
        (env_usize("POLC_BENCH_POLICIES")?, env_usize("POLC_BENCH_NAMESPACES")?, env_usize("POLC_BENCH_ITERS")?);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |flag: &str| -> Result<Option<usize>, String> {
            let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            v.parse().map(Some).map_err(|_| format!("{flag} {v}: not a number"))
        };
        match arg.as_str() {
            // `cargo bench` passes `--bench` to harness-less benches.
            "--bench" => {}
            "--quick" => a.quick = true,
            "--check" => a.check = true,
            "--policies" => policies = num("--policies")?,
            "--namespaces" => namespaces = num("--namespaces")?,
            "--iters" => iters = num("--iters")?,
            "--profile" => {
                a.profile = Some(match it.next().as_deref() {
                    Some("yaml") => Phase::Yaml,
                    Some("load") => Phase::Load,
                    Some("full") => Phase::Full,
                    Some("lint") => Phase::Lint,
                    Some("lint-policies") => Phase::LintPolicies,
                    Some("lint-workloads") => Phase::LintWorkloads,
                    _ => return Err(format!("--profile needs a phase\n{USAGE}")),
                });
            }
            "--dump" => a.dump = Some(it.next().ok_or("--dump needs a directory")?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    if a.quick {
        (a.policies, a.namespaces, a.iters) = (500, 20, 3);
    }
    a.policies = policies.unwrap_or(a.policies);
    a.namespaces = namespaces.unwrap_or(a.namespaces).max(1);
    a.iters = iters.unwrap_or(a.iters).max(1);
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
    /// Between `lo` and `hi` distinct items of `s`.
    fn some<'a, T>(&mut self, s: &'a [T], lo: usize, hi: usize) -> Vec<&'a T> {
        let k = self.range(lo, hi);
        self.subset(s, k)
    }
    /// `k` distinct items of `s`, in the order of `s`.
    fn subset<'a, T>(&mut self, s: &'a [T], k: usize) -> Vec<&'a T> {
        let mut idx: Vec<usize> = (0..s.len()).collect();
        let k = k.min(s.len());
        for i in 0..k {
            let j = i + self.below(s.len() - i);
            idx.swap(i, j);
        }
        let mut chosen = idx[..k].to_vec();
        chosen.sort_unstable();
        chosen.into_iter().map(|i| &s[i]).collect()
    }
    /// Every item of `s` in random order, to deal disjoint subsets from.
    fn deck<'a, T>(&mut self, s: &'a [T]) -> Vec<&'a T> {
        let mut d: Vec<&T> = s.iter().collect();
        for i in (1..d.len()).rev() {
            d.swap(i, self.below(i + 1));
        }
        d
    }
    /// Between `lo` and `hi` items off the top of `deck` (fewer when it runs out).
    fn deal<'a, T>(&mut self, deck: &mut Vec<&'a T>, lo: usize, hi: usize) -> Vec<&'a T> {
        let k = self.range(lo, hi).min(deck.len());
        deck.split_off(deck.len() - k)
    }
}

/// The sock-shop deployments (pod label `name`) and their containers.
const SERVICES: &[(&str, &[&str])] = &[
    ("carts", &["carts"]),
    ("carts-db", &["carts-db"]),
    ("catalogue", &["catalogue"]),
    ("catalogue-db", &["catalogue-db"]),
    ("front-end", &["front-end"]),
    ("orders", &["orders"]),
    ("orders-db", &["orders-db"]),
    ("payment", &["payment"]),
    ("queue-master", &["queue-master"]),
    ("rabbitmq", &["rabbitmq", "rabbitmq-exporter"]),
    ("session-db", &["session-db"]),
    ("shipping", &["shipping"]),
    ("user", &["user"]),
    ("user-db", &["user-db"]),
];

const PARENTS: &[&str] = &[
    "/usr/lib/jvm/**",
    "/app",
    "/user",
    "/usr/bin/mongod",
    "/usr/sbin/mysqld",
    "/usr/local/bin/redis-server",
    "/usr/local/bin/node",
    "/usr/bin/java",
];

const PORTS: &[u16] =
    &[22, 23, 25, 53, 80, 443, 3306, 3333, 4444, 5432, 5555, 5672, 6379, 6666, 7777, 8080, 9090, 9999, 14444, 27017];

/// What a JVM, Go or Node service on musl or glibc calls (carts' baseline and more).
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
    "/app",
    "/user",
    "/usr/bin/mongod",
    "/usr/sbin/mysqld",
    "/usr/local/bin/docker-entrypoint.sh",
    "/usr/local/bin/node",
    "/usr/local/bin/redis-server",
    "/usr/lib/rabbitmq/bin/rabbitmq-server",
    "/usr/lib/erlang/erts-*/bin/beam.smp",
    "/bin/sh",
];

const RUNTIME_FILES: &[&str] = &[
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

const RUNTIME_WRITABLE: &[&str] = &["/tmp/**", "/data/db/**", "/var/lib/mysql/**", "/var/log/*.log"];

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

const HTTP_PATHS: &[&str] = &[
    "/",
    "/health",
    "/metrics",
    "/carts/.*",
    "/catalogue.*",
    "/orders.*",
    "/paymentAuth",
    "/shipping",
    "/customers/.*",
    "/login",
    "/api/v1/.*",
];

const SEVERITIES: &[&str] = &["info", "low", "medium", "high", "critical"];
const TEAMS: &[&str] = &["payments", "storefront", "platform", "data", "security"];
const TACTICS: &[&str] = &["T1059.004", "T1105", "T1046", "T1040", "T1611", "T1552.005", "T1496", "T1547.006", "T1003"];

fn list(y: &mut String, indent: usize, items: impl IntoIterator<Item = impl AsRef<str>>) {
    for i in items {
        let _ = writeln!(y, "{:indent$}- {}", "", i.as_ref());
    }
}

fn header(y: &mut String, kind: &str, name: &str, ns: &str, rng: &mut Rng) {
    let _ =
        writeln!(y, "# {kind} {name}: generated for the polc lint benchmark.\n# Owned by team {}.", rng.pick(TEAMS));
    let _ = writeln!(
        y,
        "apiVersion: polc.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    team: {}\n    app.kubernetes.io/part-of: sock-shop",
        rng.pick(TEAMS)
    );
}

/// `matchLabels` on one service, or `matchExpressions` over several.
fn selector(y: &mut String, indent: usize, svc: &str, rng: &mut Rng) {
    let p = " ".repeat(indent);
    if rng.chance(70) {
        let _ = writeln!(y, "{p}matchLabels:\n{p}  name: {svc}");
    } else {
        let mut names: Vec<&str> = rng.some(SERVICES, 2, 8).into_iter().map(|s| s.0).collect();
        if !names.contains(&svc) {
            names.push(svc);
        }
        let _ = writeln!(y, "{p}matchExpressions:\n{p}  - key: name\n{p}    operator: In\n{p}    values:");
        list(y, indent + 6, &names);
    }
}

fn ports(y: &mut String, indent: usize, ports: &[&u16], rng: &mut Rng) {
    let p = " ".repeat(indent);
    for port in ports {
        let _ = writeln!(y, "{p}- port: {port}");
        if rng.chance(20) {
            let _ = writeln!(y, "{p}  protocol: {}", rng.pick(&["TCP", "UDP"]));
        }
    }
}

fn rule_head(y: &mut String, name: &str, action: &str, rng: &mut Rng) {
    let _ = writeln!(y, "    - name: {name}\n      action: {action}");
    if rng.chance(40) {
        let _ = writeln!(y, "      severity: {}", rng.pick(SEVERITIES));
    }
    if rng.chance(50) {
        let _ = writeln!(y, "      message: {name} matched in a sock-shop container.");
    }
    if rng.chance(40) {
        let _ = writeln!(y, "      tags:");
        list(y, 8, rng.subset(TACTICS, 2));
    }
}

/// One concern of the policy library: what a PreventionPolicy about it lists.
struct Theme {
    name: &'static str,
    exes: &'static [&'static str],
    comms: &'static [&'static str],
    files: &'static [&'static str],
    /// Directories for file rules: (path, recursive).
    dirs: &'static [(&'static str, bool)],
    /// Write-only file rules.
    write_only: bool,
    /// Network rule: CIDRs (any address when empty) and ports.
    net: Option<(&'static [&'static str], &'static [u16])>,
    raw_sockets: bool,
    caps: &'static [&'static str],
}

const THEMES: &[Theme] = &[
    Theme {
        name: "shells",
        exes: &["/bin/sh", "/bin/bash", "/bin/dash", "/bin/ash", "/bin/zsh", "/usr/bin/bash", "/usr/bin/dash"],
        comms: &["sh", "bash", "dash", "ash", "zsh"],
        files: &[],
        dirs: &[],
        write_only: false,
        net: None,
        raw_sockets: false,
        caps: &[],
    },
    Theme {
        name: "network-tools",
        exes: &[
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
            "/usr/bin/ssh",
            "/usr/bin/scp",
        ],
        comms: &["curl", "wget", "nc", "ncat", "netcat", "socat", "nmap", "tcpdump", "telnet"],
        files: &[],
        dirs: &[],
        write_only: false,
        net: None,
        raw_sockets: true,
        caps: &["NET_RAW", "NET_ADMIN"],
    },
    Theme {
        name: "package-managers",
        exes: &[
            "/sbin/apk",
            "/usr/bin/apt",
            "/usr/bin/apt-get",
            "/usr/bin/dpkg",
            "/usr/bin/pip",
            "/usr/bin/pip3",
            "/usr/local/bin/npm",
            "/opt/yarn-*/bin/yarn.js",
            "/usr/bin/gem",
        ],
        comms: &["apk", "apt", "apt-get", "dpkg", "pip", "pip3", "npm", "yarn", "gem"],
        files: &["/usr/lib/python3*/site-packages/**", "/usr/local/lib/node_modules/**"],
        dirs: &[("/usr/local/bin/", false), ("/usr/bin/", false)],
        write_only: true,
        net: None,
        raw_sockets: false,
        caps: &[],
    },
    Theme {
        name: "crypto-miners",
        exes: &["/**/xmrig*", "/**/minerd", "/**/cpuminer*", "/**/xmr-stak*", "/**/kdevtmpfsi", "/**/kinsing"],
        comms: &["xmrig", "xmrig-notls", "minerd", "cpuminer", "xmr-stak", "kdevtmpfsi", "kinsing"],
        files: &["/dev/cpu/*/msr"],
        dirs: &[],
        write_only: true,
        net: Some((&[], &[3333, 4444, 5555, 6666, 7777, 9999, 14433, 14444, 45560, 45700])),
        raw_sockets: false,
        caps: &[],
    },
    Theme {
        name: "container-escape",
        exes: &[
            "/bin/mount",
            "/bin/umount",
            "/usr/bin/nsenter",
            "/usr/bin/unshare",
            "/usr/sbin/chroot",
            "/sbin/pivot_root",
            "/sbin/insmod",
            "/sbin/modprobe",
            "/usr/sbin/insmod",
            "/usr/sbin/modprobe",
        ],
        comms: &["mount", "umount", "nsenter", "unshare", "chroot", "pivot_root", "insmod", "modprobe"],
        files: &[
            "/proc/sysrq-trigger",
            "/var/run/docker.sock",
            "/run/containerd/containerd.sock",
            "/var/run/crio/crio.sock",
            "/dev/mem",
            "/dev/kmem",
            "/dev/sd*",
            "/dev/nvme*",
            "/dev/dm-*",
        ],
        dirs: &[("/proc/sys/", true), ("/sys/", true)],
        write_only: false,
        net: None,
        raw_sockets: false,
        caps: &["SYS_ADMIN", "SYS_PTRACE", "SYS_MODULE", "SYS_RAWIO", "SYS_BOOT", "BPF", "PERFMON"],
    },
    Theme {
        name: "credentials",
        exes: &[],
        comms: &[],
        files: &[
            "/etc/shadow",
            "/etc/gshadow",
            "/etc/sudoers",
            "/root/.ssh/*",
            "/home/*/.ssh/id_*",
            "/var/run/secrets/kubernetes.io/serviceaccount/token",
            "/proc/*/environ",
            "/proc/*/mem",
            "/root/.bash_history",
            "/etc/kubernetes/**",
            "/var/lib/kubelet/**",
        ],
        dirs: &[("/etc/ssl/private/", true)],
        write_only: false,
        net: Some((&["169.254.169.254/32", "169.254.170.2/32", "100.100.100.200/32", "fd00:ec2::254/128"], &[80])),
        raw_sockets: false,
        caps: &["DAC_READ_SEARCH"],
    },
    Theme {
        name: "droppers",
        exes: &["/tmp/*", "/tmp/**/*", "/dev/shm/*", "/var/tmp/**", "/usr/bin/python3", "/usr/bin/perl"],
        comms: &["python3", "perl"],
        files: &["/etc/crontab", "/var/spool/cron/**", "/etc/ld.so.preload", "/etc/profile.d/*"],
        dirs: &[("/etc/cron.d/", false), ("/root/", true)],
        write_only: true,
        net: Some((&["0.0.0.0/0"], &[4444, 1337, 31337])),
        raw_sockets: false,
        caps: &[],
    },
    Theme {
        name: "cluster-tools",
        exes: &[
            "/usr/local/bin/kubectl",
            "/usr/bin/kubectl",
            "/usr/bin/crictl",
            "/usr/local/bin/helm",
            "/usr/bin/docker",
        ],
        comms: &["kubectl", "crictl", "helm", "docker"],
        files: &["/root/.kube/config", "/home/*/.kube/config"],
        dirs: &[],
        write_only: false,
        net: Some((&["10.96.0.1/32"], &[443, 6443])),
        raw_sockets: false,
        caps: &["SYS_CHROOT"],
    },
];

/// Deal `deck` into 1 to 3 rules of one section; returns each rule's entries.
fn rules_of<'a, T>(rng: &mut Rng, mut deck: Vec<&'a T>) -> Vec<Vec<&'a T>> {
    let n = rng.range(1, 3).min(deck.len());
    let mut out = Vec::new();
    for k in 0..n {
        let rest = n - k;
        let take = if rest == 1 { deck.len() } else { rng.range(1, deck.len() - (rest - 1)) };
        out.push(deck.split_off(deck.len() - take));
    }
    out
}

/// A PreventionPolicy about one theme. Rules of a section take disjoint entries of
/// the theme (the same entry with two actions would be a contradiction, an error);
/// Allow appears only as an exception inside a Block.
fn prevention(ns: &str, name: &str, svc: usize, theme: &Theme, rng: &mut Rng) -> String {
    let mut y = String::with_capacity(4096);
    header(&mut y, "PreventionPolicy", name, ns, rng);
    let _ = writeln!(y, "spec:\n  selector:");
    selector(&mut y, 4, SERVICES[svc].0, rng);
    if rng.chance(30) {
        let _ = writeln!(y, "  containers:");
        list(&mut y, 4, SERVICES[svc].1.iter().take(1));
    }
    let _ = writeln!(
        y,
        "  mode: {}\n  defaultAction: Allow\n  severity: {}\n  message: {} in a sock-shop container.\n  tags:",
        rng.pick(&["Enforce", "DryRun"]),
        rng.pick(SEVERITIES),
        theme.name
    );
    list(&mut y, 4, rng.subset(TACTICS, 2));
    let actions = ["Block", "Block", "Audit"];
    if !theme.exes.is_empty() {
        let _ = writeln!(y, "  process:");
        let exes = rng.deck(theme.exes);
        let keep = rng.range(exes.len().div_ceil(2), exes.len());
        let mut comms = rng.deck(theme.comms);
        for (k, paths) in rules_of(rng, exes[..keep].to_vec()).into_iter().enumerate() {
            rule_head(&mut y, &format!("{}-exec-{k}", theme.name), rng.pick(&actions), rng);
            let _ = writeln!(y, "      paths:");
            list(&mut y, 8, paths);
            if rng.chance(70) && !comms.is_empty() {
                let _ = writeln!(y, "      comms:");
                list(&mut y, 8, rng.deal(&mut comms, 1, 4));
            }
            if rng.chance(25) {
                let _ = writeln!(y, "      fromParents:");
                list(&mut y, 8, rng.some(PARENTS, 1, 4));
            }
        }
        if rng.chance(25) {
            // A Block with an exception for the one tool the image needs.
            let _ = writeln!(
                y,
                "    - name: block-opt-tools\n      action: Block\n      paths:\n        - /opt/tools/*\n    - name: allow-healthcheck\n      action: Allow\n      message: the image's health check\n      paths:\n        - /opt/tools/healthcheck"
            );
        }
    }
    if !theme.files.is_empty() {
        let _ = writeln!(y, "  file:");
        let mut dirs = rng.deck(theme.dirs);
        let files = rng.deck(theme.files);
        for (k, paths) in rules_of(rng, files).into_iter().enumerate() {
            rule_head(&mut y, &format!("{}-files-{k}", theme.name), rng.pick(&actions), rng);
            let _ = writeln!(y, "      paths:");
            list(&mut y, 8, paths);
            if let Some((d, recursive)) = dirs.pop() {
                let _ = writeln!(y, "      dirs:\n        - path: {d}\n          recursive: {recursive}");
            }
            if theme.write_only {
                let _ = writeln!(y, "      access:\n        - Write");
            }
        }
    }
    if theme.net.is_some() || theme.raw_sockets {
        let _ = writeln!(y, "  network:");
    }
    if let Some((cidrs, ports_)) = theme.net {
        rule_head(&mut y, &format!("{}-connect", theme.name), rng.pick(&actions), rng);
        let _ = writeln!(y, "      direction: Egress");
        if !cidrs.is_empty() {
            let _ = writeln!(y, "      cidrs:");
            list(&mut y, 8, cidrs);
        }
        let _ = writeln!(y, "      ports:");
        let p = rng.some(ports_, 1, ports_.len());
        ports(&mut y, 8, &p, rng);
    }
    if theme.raw_sockets {
        rule_head(&mut y, "raw-sockets", "Block", rng);
        let _ = writeln!(y, "      rawSockets: true");
    }
    if !theme.caps.is_empty() && rng.chance(70) {
        let _ = writeln!(y, "  capabilities:");
        rule_head(&mut y, &format!("{}-capabilities", theme.name), rng.pick(&actions), rng);
        let _ = writeln!(y, "      capabilities:");
        list(&mut y, 8, rng.some(theme.caps, 1, theme.caps.len()));
    }
    y
}

fn runtime(ns: &str, name: &str, svc: usize, rng: &mut Rng) -> String {
    let mut y = String::with_capacity(4096);
    let (svc_name, containers) = SERVICES[svc];
    header(&mut y, "RuntimePolicy", name, ns, rng);
    let _ = writeln!(
        y,
        "spec:\n  selector:\n    matchLabels:\n      name: {svc_name}\n  containers:\n    - {}\n  mode: {}\n  onAnomaly: {}\n  severity: {}\n  message: {svc_name} did something outside its baseline.\n  tags:\n    - sock-shop\n    - baseline\n  baseline:\n    # observed over a week of production traffic\n    executables:",
        containers[0],
        rng.pick(&["Enforce", "DryRun"]),
        rng.pick(&["Audit", "Block"]),
        rng.pick(SEVERITIES)
    );
    list(&mut y, 6, rng.some(RUNTIME_EXES, 2, 5));
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
    let p = rng.some(PORTS, 1, 4);
    ports(&mut y, 10, &p, rng);
    if rng.chance(50) {
        let _ = writeln!(y, "      - cidr: {}", rng.pick(&["203.0.113.0/24", "198.51.100.0/24", "2001:db8::/32"]));
    }
    let _ = writeln!(y, "    syscalls:");
    list(&mut y, 6, rng.some(SYSCALLS, 50, 110));
    if rng.chance(60) {
        let _ = writeln!(y, "    capabilities:");
        list(&mut y, 6, rng.some(&["NET_BIND_SERVICE", "CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE"], 1, 2));
    }
    y
}

fn network(ns: &str, name: &str, svc: usize, rng: &mut Rng) -> String {
    let mut y = String::with_capacity(4096);
    header(&mut y, "NetworkAccessPolicy", name, ns, rng);
    let _ = writeln!(y, "spec:\n  selector:");
    selector(&mut y, 4, SERVICES[svc].0, rng);
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
    for (k, dep) in rng.some(SERVICES, 1, 4).into_iter().enumerate() {
        let _ = writeln!(
            y,
            "    - name: to-{}-{k}\n      action: Allow\n      peers:\n        - pods:\n            matchLabels:\n              name: {}\n      ports:\n        - port: {}",
            dep.0,
            dep.0,
            rng.pick(&[80, 8080, 27017, 3306, 5672, 6379])
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
    for (k, from) in rng.some(SERVICES, 1, 3).into_iter().enumerate() {
        let _ = writeln!(
            y,
            "    - name: from-{}-{k}\n      action: Allow\n      peers:\n        - pods:\n            matchLabels:\n              name: {}",
            from.0, from.0
        );
        if rng.chance(30) {
            let _ = writeln!(
                y,
                "          namespaces:\n            matchLabels:\n              kubernetes.io/metadata.name: {ns}"
            );
        }
        let _ = writeln!(y, "      ports:\n        - port: 80");
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
    /// (name, text), policies first.
    files: Vec<(String, String)>,
    /// How many of `files` are policies.
    policy_files: usize,
    kinds: [usize; 3],
    bytes: usize,
}

fn corpus(policies: usize, namespaces: usize) -> Corpus {
    let mut rng = Rng(0x706f_6c63);
    let mut files = Vec::with_capacity(policies + namespaces);
    let mut kinds = [0; 3];
    for i in 0..policies {
        let n = i % namespaces;
        let j = i / namespaces;
        let ns = format!("ns-{n}");
        // Per namespace: 40% prevention, 35% runtime (one per service while they
        // last), 25% network.
        let (kind, text) = match j % 20 {
            0..8 => {
                // One policy per concern of the library; the second round of a
                // namespace repeats the first concerns for other services.
                let theme = &THEMES[(j % 20 + j / 20) % THEMES.len()];
                let name = format!("{}-{j}", theme.name);
                (0, prevention(&ns, &name, rng.below(SERVICES.len()), theme, &mut rng))
            }
            8..15 => {
                let svc = (j / 20 * 7 + j % 20 - 8) % SERVICES.len();
                let name = format!("{}-baseline-{j}", SERVICES[svc].0);
                (1, runtime(&ns, &name, svc, &mut rng))
            }
            _ => {
                let svc = rng.below(SERVICES.len());
                let name = format!("{}-network-{j}", SERVICES[svc].0);
                (2, network(&ns, &name, svc, &mut rng))
            }
        };
        kinds[kind] += 1;
        let dir = ["prevention", "runtime", "network"][kind];
        let file = format!("policies/{ns}/{dir}/{}.yaml", j);
        files.push((file, text));
    }
    let policy_files = files.len();
    for n in 0..namespaces {
        let ns = format!("ns-{n}");
        files.push((format!("apps/{ns}/complete-demo.yaml"), SOCK_SHOP.replace("sock-shop", &ns)));
    }
    let bytes = files.iter().map(|(_, t)| t.len()).sum();
    Corpus { files, policy_files, kinds, bytes }
}

// ---------------------------------------------------------------- measuring

/// Best wall time of `iters` runs of `f`; the result is dropped outside the clock.
/// Best wall and CPU time of each of `phases` over `iters` rounds. The phases take
/// turns within a round, so that load from other processes hits them alike; each
/// result is dropped outside the clock.
fn best_of(iters: usize, phases: &mut [&mut dyn FnMut() -> Box<dyn std::any::Any>]) -> Vec<(Duration, Duration)> {
    let mut best = vec![(Duration::MAX, Duration::MAX); phases.len()];
    for _ in 0..iters {
        for (f, b) in phases.iter_mut().zip(&mut best) {
            let (t, cpu) = (Instant::now(), cpu_time());
            let out = std::hint::black_box(f());
            let (wall, cpu) = (t.elapsed(), cpu_time().saturating_sub(cpu));
            *b = (b.0.min(wall), b.1.min(cpu));
            drop(out);
        }
    }
    best
}

/// CPU time of this process, all threads (`utime` + `stime` of `/proc/self/stat`,
/// in clock ticks of 10 ms); zero when the kernel does not say. Lint runs on several
/// threads, so the calling thread's time alone would leave work out.
fn cpu_time() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| {
        // Fields after the command name (which may hold spaces), from field 3 on.
        let rest = s.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
    });
    ticks.map_or(Duration::ZERO, |t| Duration::from_millis(t * 10))
}

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0))
}

/// Load every file, on one thread per CPU (as `polc lint` does).
fn load_all(files: &[(String, String)], limits: &Limits) -> Vec<SourceFile> {
    load_many(files, limits, 0)
}

/// Load and lint as `polc lint` does: each file parsed on the thread that checks it.
fn lint_loading(files: &[(String, String)], linter: &Linter, limits: &Limits) -> (Vec<SourceFile>, Report) {
    linter.lint_with(files.len(), |i| load_input(files[i].0.clone(), files[i].1.as_bytes(), limits))
}

/// Load every file on the calling thread.
fn load_serial(files: &[(String, String)], limits: &Limits) -> Vec<SourceFile> {
    files.iter().map(|(n, t)| load_input(n.clone(), t.as_bytes(), limits)).collect()
}

/// Every file through polc-load's yaml-rust2 path only (the loader before the fast
/// path), on the calling thread. Returns the document count.
fn load_serial_yaml_rust2(files: &[(String, String)], limits: &Limits) -> usize {
    files.iter().map(|(_, t)| parse_documents_yaml_rust2(t, limits).0.len()).sum()
}

/// yaml-rust2's event parser alone over every file: no tree is built. The events
/// are counted so that the work is not optimised away.
fn parse_events(c: &Corpus) -> usize {
    let mut n = 0;
    for (_, t) in &c.files {
        let mut p = yaml_rust2::parser::Parser::new_from_str(t);
        loop {
            match p.next_token() {
                Ok((yaml_rust2::Event::StreamEnd, _)) => break,
                Ok(_) => n += 1,
                Err(e) => panic!("the corpus is valid YAML: {e}"),
            }
        }
    }
    n
}

struct Row {
    what: &'static str,
    time: Duration,
    cpu: Duration,
    /// RSS before the phase and peak RSS, in a fresh process.
    rss: Option<(u64, u64)>,
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

/// Run one phase `iters` times and nothing else (lint phases on pre-loaded files).
fn parse_yaml(c: &Corpus) -> Vec<Vec<yaml_rust2::Yaml>> {
    c.files.iter().map(|(_, t)| yaml_rust2::YamlLoader::load_from_str(t).expect("the corpus is valid YAML")).collect()
}

/// Run one phase `iters` times and nothing else (the lint phases on pre-loaded
/// files), for a profiler; then print the peak RSS above the RSS before the phase.
fn profile(phase: Phase, c: &Corpus, linter: &Linter, iters: usize) {
    let limits = Limits::default();
    let preload = matches!(phase, Phase::Lint | Phase::LintPolicies | Phase::LintWorkloads);
    let loaded = if preload { load_all(&c.files, &limits) } else { Vec::new() };
    let (pol, wl) = loaded.split_at(if preload { c.policy_files } else { 0 });
    let before = status_kib("VmRSS:");
    let t = Instant::now();
    for _ in 0..iters {
        let out: Box<dyn std::any::Any> = match phase {
            Phase::Yaml => Box::new(parse_yaml(c)),
            Phase::Load => Box::new(load_all(&c.files, &limits)),
            Phase::Full => Box::new(lint_loading(&c.files, linter, &limits)),
            Phase::Lint => Box::new(linter.lint(&loaded)),
            Phase::LintPolicies => Box::new(linter.lint(pol)),
            Phase::LintWorkloads => Box::new(linter.lint(wl)),
        };
        drop(std::hint::black_box(out));
    }
    println!("{iters} runs in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    if let (Some(b), Some(p)) = (before, status_kib("VmHWM:")) {
        println!("rss-before-kib={b} peak-kib={p}");
    }
}

/// Peak RSS of a phase, measured in a fresh process (freed memory is not given
/// back to the system, so one process cannot measure phases one after the other).
fn phase_rss(args: &Args, phase: &str) -> Option<(u64, u64)> {
    let out = std::process::Command::new(std::env::current_exe().ok()?)
        .args(["--policies", &args.policies.to_string(), "--namespaces", &args.namespaces.to_string()])
        .args(["--iters", "1", "--profile", phase])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("rss-before-kib="))?;
    let mut nums = line.split(' ').filter_map(|kv| kv.split_once('=')?.1.parse::<u64>().ok());
    Some((nums.next()?, nums.next()?))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lint bench: {e}");
            return ExitCode::from(2);
        }
    };
    let gen_start = Instant::now();
    let c = corpus(args.policies, args.namespaces);
    let gen_time = gen_start.elapsed();
    if let Some(dir) = &args.dump {
        for (name, text) in &c.files {
            let path = std::path::Path::new(dir).join(name);
            let written =
                path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(&path, text));
            if let Err(e) = written {
                eprintln!("lint bench: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
        println!("wrote {} files ({} bytes) under {dir}", c.files.len(), c.bytes);
        return ExitCode::SUCCESS;
    }
    let limits = Limits::default();
    let t = Instant::now();
    // As `polc lint`: without the compiler's model (positions, content hashes).
    let linter = match Linter::new(Config::default()) {
        Ok(l) => l.with_model(false),
        Err(e) => {
            eprintln!("lint bench: {e}");
            return ExitCode::from(2);
        }
    };
    let linter_new = t.elapsed();
    if let Some(phase) = args.profile {
        profile(phase, &c, &linter, args.iters);
        return ExitCode::SUCCESS;
    }
    let rss_corpus = status_kib("VmRSS:");

    // One untimed run for the counts (and to warm caches and the allocator).
    let report: Report = linter.lint(&load_all(&c.files, &limits));
    let objects = report.objects;
    let mb = c.bytes as f64 / (1024.0 * 1024.0);
    let iters = args.iters;

    // (a), (b), (c), then lint alone over pre-loaded files: all of them, the policy
    // files, the manifests.
    let loaded = load_all(&c.files, &limits);
    let (pol, wl) = loaded.split_at(c.policy_files);
    let serial = match Linter::new(Config::default()) {
        Ok(l) => l.with_model(false).with_threads(1),
        Err(e) => {
            eprintln!("lint bench: {e}");
            return ExitCode::from(2);
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let best = best_of(
        iters,
        &mut [
            &mut || Box::new(parse_yaml(&c)),
            &mut || Box::new(load_all(&c.files, &limits)),
            // As `polc lint`: each file parsed on the thread that checks it.
            &mut || Box::new(lint_loading(&c.files, &linter, &limits)),
            &mut || Box::new(linter.lint(&loaded)),
            &mut || Box::new(linter.lint(pol)),
            &mut || Box::new(linter.lint(wl)),
            &mut || Box::new(parse_events(&c)),
            &mut || {
                let files = load_serial(&c.files, &limits);
                let r = serial.lint(&files);
                Box::new((files, r))
            },
            &mut || Box::new(load_serial(&c.files, &limits)),
            &mut || Box::new(load_serial_yaml_rust2(&c.files, &limits)),
            &mut || {
                let files = load_all(&c.files, &limits);
                let r = linter.lint(&files);
                Box::new((files, r))
            },
        ],
    );
    let fast_files = c.files.iter().filter(|(_, t)| parse_documents_fast(t, &limits).is_some()).count();
    drop(loaded);
    let rows: Vec<Row> =
        [("(a) yaml-rust2 YamlLoader", "yaml"), ("(b) polc-load load_input", "load"), ("(c) load + lint", "full")]
            .into_iter()
            .zip(&best)
            .map(|((what, phase), &(time, cpu))| Row { what, time, cpu, rss: phase_rss(&args, phase) })
            .collect();
    let (lint_all, lint_pol, lint_wl) = (best[3].0, best[4].0, best[5].0);
    let (events, serial_full) = (best[6], best[7]);
    let (serial_load, serial_slow_load, two_pass) = (best[8], best[9], best[10]);
    // The baseline is the fastest plain parse of the same bytes by yaml-rust2: its
    // event parser alone (no tree) or YamlLoader, by wall and by CPU time apart.
    let base_wall = rows[0].time.min(events.0);
    let base_cpu = rows[0].cpu.min(events.1);
    let (ta, tb, tc) = (base_wall, rows[1].time, rows[2].time);
    let secs = |d: Duration| d.as_secs_f64();
    let per_s = |d: Duration| objects as f64 / secs(d);

    println!("polc lint benchmark");
    println!(
        "machine: {} cpus, {}; {} build",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        if cfg!(debug_assertions) { "debug" } else { "optimised" }
    );
    println!(
        "corpus: {} policies ({} prevention, {} runtime, {} network) in {} namespaces + sock-shop x {} \
         = {} files, {} objects, {:.1} MiB (generated in {:.2}s)",
        args.policies,
        c.kinds[0],
        c.kinds[1],
        c.kinds[2],
        args.namespaces.min(args.policies.max(1)),
        args.namespaces,
        c.files.len(),
        objects,
        mb,
        secs(gen_time)
    );
    println!(
        "Linter::new (schema compilation, once): {:.1} ms; best of {iters} runs; RSS with the corpus in memory: {}",
        secs(linter_new) * 1e3,
        mib(rss_corpus)
    );
    println!("peak RSS: of a fresh process running the phase once; +RSS: above the corpus it starts with");
    println!();
    println!(
        "{:<28} {:>10} {:>10} {:>12} {:>9} {:>8} {:>10} {:>9}",
        "", "best wall", "best cpu", "objects/s", "MiB/s", "vs (a)", "peak RSS", "+RSS"
    );
    for r in &rows {
        println!(
            "{:<28} {:>8.1}ms {:>8.1}ms {:>12.0} {:>9.1} {:>7.2}x {:>10} {:>9}",
            r.what,
            secs(r.time) * 1e3,
            secs(r.cpu) * 1e3,
            per_s(r.time),
            mb / secs(r.time),
            secs(r.time) / secs(ta),
            mib(r.rss.map(|(_, p)| p)),
            mib(r.rss.map(|(b, p)| p.saturating_sub(b)))
        );
    }
    for (what, (time, cpu)) in [
        ("(a') yaml-rust2 events only", events),
        ("(b1) load, 1 thread", serial_load),
        ("(b2) load via yaml-rust2, 1 th", serial_slow_load),
        ("(c1) load + lint, 1 thread", serial_full),
        ("(c2) load all, then lint", two_pass),
    ] {
        println!(
            "{:<28} {:>8.1}ms {:>8.1}ms {:>12.0} {:>9.1} {:>7.2}x {:>10} {:>9}",
            what,
            secs(time) * 1e3,
            secs(cpu) * 1e3,
            per_s(time),
            mb / secs(time),
            secs(time) / secs(ta),
            "-",
            "-"
        );
    }
    println!(
        "(b) and (c) run on {threads} threads; CPU time is the whole process's (10 ms ticks); \
         vs (a): against the faster of (a) and (a')"
    );
    println!(
        "(c) parses each file on the thread that checks it (as `polc lint` does); (c2) loads every file first, \
         then lints"
    );
    println!(
        "(b1) loads with the fast YAML path where a file is in its subset ({fast_files} of {} files here), \
         (b2) with yaml-rust2 only (the loader without the fast path): (b2)/(b1) = {:.2}x",
        c.files.len(),
        secs(serial_slow_load.0) / secs(serial_load.0)
    );
    if rows.iter().any(|r| r.cpu > Duration::ZERO && secs(r.time) > 1.15 * secs(r.cpu) * threads as f64) {
        println!("note: wall time well above CPU time: other processes were using the CPUs; figures are inflated");
    }
    println!();
    let lint_other = lint_all.saturating_sub(lint_pol + lint_wl);
    println!("where (c)'s time goes:");
    let part = |what: &str, d: Duration| {
        println!("  {what:<44} {:>8.1}ms {:>5.1}%", secs(d) * 1e3, 100.0 * secs(d) / secs(tc));
    };
    part("load (b)", tb);
    part("lint alone, pre-loaded files", lint_all);
    part("  policy checks (policy files alone)", lint_pol);
    part("  workload checks (manifests alone)", lint_wl);
    part("  coverage + cross-policy (the rest)", lint_other);
    println!();

    let mut by_code: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &report.findings {
        *by_code.entry(f.code.info().code).or_default() += 1;
    }
    let codes: Vec<String> = by_code.iter().map(|(c, n)| format!("{c}:{n}")).collect();
    println!(
        "findings: {} ({} errors, {} warnings, {} notes); by code: {}",
        report.findings.len(),
        report.count(Level::Error),
        report.count(Level::Warning),
        report.count(Level::Note),
        codes.join(" ")
    );
    for f in report.findings.iter().filter(|f| f.level == Level::Error).take(5) {
        eprintln!("  unexpected error: {}: {} {}: {}", f.file, f.code.info().code, f.field, f.message);
    }
    if let Ok(code) = std::env::var("POLC_BENCH_SHOW") {
        for f in report.findings.iter().filter(|f| f.code.info().code == code).take(5) {
            println!("  {}: {} {}: {}", f.file, f.code.info().code, f.field, f.message);
        }
    }

    println!("peak RSS of this process (VmHWM): {}", mib(status_kib("VmHWM:")));
    let rate = per_s(tc);
    let ratio_c = secs(tc) / secs(ta);
    let ratio_b = secs(tb) / secs(ta);
    println!("ratios: (c)/(a) = {ratio_c:.2}x, (b)/(a) = {ratio_b:.2}x; lint {rate:.0} objects/s");
    if base_cpu > Duration::ZERO {
        let cpu = |d: Duration| secs(d) / secs(base_cpu);
        println!(
            "ratios on CPU time: (c)/(a) = {:.2}x, (b)/(a) = {:.2}x, (c1)/(a) = {:.2}x",
            cpu(rows[2].cpu),
            cpu(rows[1].cpu),
            cpu(serial_full.1)
        );
    }
    println!(
        "single-threaded: (c1) {:.0} objects/s, (c1)/(a) = {:.2}x wall",
        per_s(serial_full.0),
        secs(serial_full.0) / secs(ta)
    );
    let checks = [
        (format!("lint >= {MIN_OBJECTS_PER_SEC:.0} objects/s"), rate >= MIN_OBJECTS_PER_SEC),
        (format!("lint <= {MAX_RATIO:.1}x plain YAML parsing (wall)"), ratio_c <= MAX_RATIO),
        (
            format!("lint <= {MAX_RATIO:.1}x plain YAML parsing (CPU time)"),
            base_cpu > Duration::ZERO && secs(rows[2].cpu) / secs(base_cpu) <= MAX_RATIO,
        ),
        ("corpus has no error findings".to_string(), report.count(Level::Error) == 0),
    ];
    let mut ok = true;
    for (what, pass) in &checks {
        println!("check: {what}: {}", if *pass { "ok" } else { "FAILED" });
        ok &= pass;
    }
    if args.check && !ok {
        eprintln!("lint bench: performance targets not met");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
