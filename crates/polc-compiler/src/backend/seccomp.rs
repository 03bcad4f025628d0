//! The seccomp backend: the syscall baseline of a RuntimePolicy becomes the seccomp
//! profile the kubelet hands to the container runtime, and the same profile as a
//! Security Profiles Operator object. seccomp filters system calls and nothing else,
//! so every other rule is reported as not expressible here.
//!
//! # What is emitted
//!
//! For every plan with a syscall section (and a stem that is a valid Kubernetes
//! object name: else an error at the workload's or policy's manifest):
//!
//! - `seccomp/<stem>.json`: the OCI runtime-spec `linux.seccomp` object for a
//!   `Localhost` profile. Only the OCI keys are written: containerd and CRI-O read the
//!   OCI form and silently drop Docker-only keys (`archMap`, `includes`, `excludes`,
//!   `comment`, `name`), so writing them would only mislead a reader.
//! - `seccomp/spo/<stem>.yaml`: a `SeccompProfile` of the Security Profiles Operator,
//!   `security-profiles-operator.x-k8s.io/v1beta1` (the version SPO 0.9 stores and
//!   SPO 1.x still serves), cluster-scoped, with the same profile in `spec`. It sets
//!   neither `state` (1.x) nor `disabled` (0.9), so it is enabled on both.
//!
//! # Decisions
//!
//! - **Actions.** Allow → `SCMP_ACT_ALLOW`; Audit → `SCMP_ACT_LOG` (the call proceeds
//!   and the kernel logs it); Block → `SCMP_ACT_ERRNO` with errno 1 (`EPERM`), written
//!   as `defaultErrnoRet: 1` in the OCI file. The SPO CRD has no `defaultErrnoRet`;
//!   runc and crun return `EPERM` for an `SCMP_ACT_ERRNO` default without one, so both
//!   forms behave the same. A RuntimePolicy in `mode: DryRun` arrives here with Block
//!   already folded into Audit (see [`crate::plan`]).
//! - **Architectures**: `SCMP_ARCH_X86_64`, `SCMP_ARCH_X86`, `SCMP_ARCH_X32`
//!   ([`ARCHITECTURES`]), as Docker's default does on amd64. An x86_64 kernel accepts
//!   system calls through all three ABIs; an ABI missing from the filter hits
//!   libseccomp's bad-architecture action, which kills the thread. That would make an
//!   Audit profile kill 32-bit calls instead of logging them, so the three ABIs get the
//!   same allow-list (libseccomp resolves each name per ABI and leaves out names an ABI
//!   does not have) and `onAnomaly` decides for all of them alike.
//! - **Rules equal to the default** are left out: libseccomp refuses a rule whose
//!   action is the default action, and runc then fails the container start
//!   ("requested action matches default action of filter"). With an Allow default the
//!   profile has no `syscalls` at all.
//! - **Implicit syscalls** ([`RUNTIME_SYSCALLS`]): runc installs the filter before it
//!   has finished starting the container, so some of its own calls run under the
//!   profile. A baseline observed from the workload never contains them, and without
//!   them the container fails to start with "operation not permitted". polc allows
//!   them in every profile whose default is not Allow (in Audit profiles too, so the
//!   audit log shows only the workload's anomalies and switching to Block changes only
//!   `defaultAction`). Without no_new_privs (`allowPrivilegeEscalation` unset or
//!   true, the Kubernetes default) runc installs the filter before it drops
//!   capabilities and switches user, so capset, setuid and the like are among them.
//!   Every one is in Docker's default profile. The SPO object names the ones the
//!   baseline did not list in the annotation `polc.dev/implicit-syscalls`.
//! - **clone3**: glibc 2.34 and later create threads and processes with `clone3` and
//!   fall back to `clone` only on `ENOSYS`, never on `EPERM`. When the default is
//!   Block and the baseline does not allow `clone3`, it is refused with `ENOSYS` (38),
//!   as Docker's default profile does, so programs fall back instead of failing.
//!
//! Output is sorted: syscall names within an entry, entries by action (allow, log,
//! errno by number), artifacts by path.

pub mod filter;

use super::{Artifact, Capability, CompileError, Input, Output, Support, Target, object_metadata};
use crate::ir::{Matcher, Section};
use crate::model::Policy;
use crate::plan::{Plan, SectionPlan, assign_ids};
use polc_api::Action;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The architectures of every profile: the three ABIs an x86_64 kernel accepts.
pub const ARCHITECTURES: [&str; 3] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];

/// The errno of a blocked system call (`EPERM`).
pub const EPERM: u32 = 1;

/// The errno `clone3` gets when it is not allowed (`ENOSYS`), so that libc falls back to `clone`.
pub const ENOSYS: u32 = 38;

/// The Security Profiles Operator API version emitted: stored by SPO 0.9, served by 1.x.
pub const SPO_API_VERSION: &str = "security-profiles-operator.x-k8s.io/v1beta1";

/// Annotation of the SPO object listing the syscalls polc added to the baseline.
pub const IMPLICIT_ANNOTATION: &str = "polc.dev/implicit-syscalls";

/// Why a profile cannot enforce rules outside the syscall section.
pub const NOT_SYSCALLS: &str = "seccomp filters system calls only; use bpf-lsm/apparmor/cilium";

/// Why a profile cannot enforce capability rules.
pub const NOT_CAPABILITIES: &str = "seccomp cannot check capabilities (it sees the system call, not the privilege it \
                                    uses); use bpf-lsm (capable hook) or apparmor (capability rules)";

/// System calls every profile allows besides the baseline (unless the default is
/// Allow), sorted, with the reason: the calls runc makes between installing the
/// filter and `execve` of the entrypoint, its Go runtime's included. The list is the
/// Security Profiles Operator's recorded runc 1.2 base profile less the start-up calls
/// of the entrypoint itself (`arch_prctl`, `brk`, `mprotect`, `set_tid_address`: the
/// baseline has them), plus `fchown`. runc documents no such list (runc issue 2097).
pub const RUNTIME_SYSCALLS: &[(&str, &str)] = &[
    ("capget", "runc without no_new_privs: reads the capability sets before dropping them"),
    ("capset", "runc without no_new_privs: drops capabilities after the filter is in place"),
    ("chdir", "runc without no_new_privs: enters the container's working directory"),
    ("close", "runc: closes its sync and log pipes and the exec fifo"),
    ("close_range", "runc: closes its own descriptors before exec (CVE-2024-21626)"),
    ("epoll_ctl", "Go runtime of runc init: network poller"),
    ("epoll_pwait", "Go runtime of runc init: network poller, idle scheduler"),
    ("execve", "every runtime: executes the entrypoint"),
    ("exit_group", "runc init: exits when the start fails after the filter is in place"),
    ("faccessat2", "runc without no_new_privs: checks that the entrypoint is executable"),
    ("fchown", "runc without no_new_privs: gives stdio to the container user (runAsUser)"),
    ("fcntl", "runc: marks its descriptors close-on-exec"),
    ("fstat", "runc without no_new_privs: checks who owns stdio"),
    ("fstatfs", "runc: checks that /proc is procfs before using it"),
    ("futex", "Go runtime of runc init: locks and thread wake-ups"),
    ("getcwd", "runc init (in SPO's recording)"),
    ("getdents64", "runc: lists /proc/self/fd where close_range is missing"),
    ("getpid", "runc: the container pid for the startContainer hooks"),
    ("getppid", "runc without no_new_privs: checks that its parent is still alive"),
    ("getuid", "runc init (in SPO's recording)"),
    ("mmap", "Go runtime of runc init: heap growth"),
    ("nanosleep", "Go runtime of runc init: scheduler back-off"),
    ("newfstatat", "runc without no_new_privs: looks the entrypoint up in PATH"),
    ("openat", "runc: opens the exec fifo"),
    ("prctl", "runc without no_new_privs: keep-caps, bounding set, ambient set, parent-death signal"),
    ("read", "runc without no_new_privs: reads the container's /etc/passwd and /etc/group"),
    ("recvfrom", "runc init (in SPO's recording): its sync socket"),
    ("rt_sigreturn", "Go runtime of runc init: returns from the preemption signal"),
    ("sched_yield", "Go runtime of runc init: spinning locks"),
    ("setgid", "runc without no_new_privs: switches to the container group (runAsGroup)"),
    ("setgroups", "runc without no_new_privs: sets the supplementary groups"),
    ("setuid", "runc without no_new_privs: switches to the container user (runAsUser)"),
    ("tgkill", "Go runtime of runc init: preempts goroutines with a signal"),
    ("write", "runc: signals the exec fifo"),
];

/// A seccomp action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScmpAction {
    /// `SCMP_ACT_ALLOW`.
    Allow,
    /// `SCMP_ACT_LOG`.
    Log,
    /// `SCMP_ACT_ERRNO` with this errno.
    Errno(u32),
}

impl ScmpAction {
    /// The seccomp action of a policy action.
    pub fn of(a: Action) -> ScmpAction {
        match a {
            Action::Allow => ScmpAction::Allow,
            Action::Audit => ScmpAction::Log,
            Action::Block => ScmpAction::Errno(EPERM),
        }
    }

    /// The name in OCI and SPO profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            ScmpAction::Allow => "SCMP_ACT_ALLOW",
            ScmpAction::Log => "SCMP_ACT_LOG",
            ScmpAction::Errno(_) => "SCMP_ACT_ERRNO",
        }
    }

    /// The errno, for `SCMP_ACT_ERRNO`.
    pub fn errno(self) -> Option<u32> {
        match self {
            ScmpAction::Errno(e) => Some(e),
            _ => None,
        }
    }
}

/// The profile of one plan's syscall section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// What no entry matches gets.
    pub default: ScmpAction,
    /// Syscall name → action, for every name whose action differs from the default.
    pub rules: BTreeMap<String, ScmpAction>,
    /// Names polc added that the baseline did not list (sorted).
    pub implicit: Vec<&'static str>,
}

impl Profile {
    /// Build the profile of a syscall section. Rules come most precedent first, so
    /// the first rule naming a syscall decides it.
    pub fn new(section: &SectionPlan) -> Profile {
        let default = ScmpAction::of(section.default);
        let mut rules: BTreeMap<String, ScmpAction> = BTreeMap::new();
        for r in &section.rules {
            if let Matcher::Syscall(name) = &r.rule.matcher {
                rules.entry(name.clone()).or_insert(ScmpAction::of(r.rule.effective));
            }
        }
        let mut implicit = Vec::new();
        if default != ScmpAction::Allow {
            for &(name, _) in RUNTIME_SYSCALLS {
                if !rules.contains_key(name) {
                    rules.insert(name.to_string(), ScmpAction::Allow);
                    implicit.push(name);
                }
            }
        }
        if matches!(default, ScmpAction::Errno(_)) && !rules.contains_key("clone3") {
            rules.insert("clone3".to_string(), ScmpAction::Errno(ENOSYS));
            implicit.push("clone3");
        }
        rules.retain(|_, a| *a != default);
        implicit.sort_unstable();
        Profile { default, rules, implicit }
    }

    /// The `syscalls` entries: one per action, names sorted.
    fn entries(&self) -> Vec<Value> {
        let mut by_action: BTreeMap<ScmpAction, Vec<&str>> = BTreeMap::new();
        for (name, a) in &self.rules {
            by_action.entry(*a).or_default().push(name);
        }
        by_action
            .into_iter()
            .map(|(a, names)| {
                let mut e = Map::new();
                e.insert("names".into(), json!(names));
                e.insert("action".into(), json!(a.as_str()));
                if let Some(errno) = a.errno() {
                    e.insert("errnoRet".into(), json!(errno));
                }
                Value::Object(e)
            })
            .collect()
    }

    fn to_value(&self, default_errno: bool) -> Value {
        let mut m = Map::new();
        m.insert("defaultAction".into(), json!(self.default.as_str()));
        if default_errno && let Some(errno) = self.default.errno() {
            m.insert("defaultErrnoRet".into(), json!(errno));
        }
        m.insert("architectures".into(), json!(ARCHITECTURES));
        let entries = self.entries();
        if !entries.is_empty() {
            m.insert("syscalls".into(), Value::Array(entries));
        }
        Value::Object(m)
    }

    /// The OCI runtime-spec `linux.seccomp` object (the kubelet `Localhost` file).
    pub fn oci(&self) -> Value {
        self.to_value(true)
    }

    /// The `spec` of the SPO `SeccompProfile` (the CRD has no `defaultErrnoRet`).
    pub fn spo_spec(&self) -> Value {
        self.to_value(false)
    }
}

/// Compile the plans for this backend.
pub fn compile(input: &Input<'_>) -> Output {
    let mut out = super::collect(|sink| compile_to(input, sink));
    out.sort();
    out
}

/// [`compile`], giving the files to `sink`.
pub fn compile_to(input: &Input<'_>, sink: &dyn super::Sink) -> Output {
    let mut out = Output { capabilities: capabilities(input.policies), ..Output::default() };
    for plan in input.plans {
        let Some(section) = plan.section(Section::Syscall) else {
            continue;
        };
        let stem = plan.target.stem();
        // The stem names the SeccompProfile object too: a name the API server would
        // refuse is an error here, not an object that fails to apply.
        if !crate::selector::is_dns_subdomain(&stem) {
            out.errors.push(CompileError {
                backend: Target::Seccomp,
                policy: plan.target.label(),
                rule: "-".into(),
                location: super::sources_of(input, plan).pop().unwrap_or_else(|| "-".into()),
                message: format!(
                    "the SeccompProfile of target {} would be named `{stem}`, which is not a valid Kubernetes \
                     object name ({}); {}",
                    plan.target.id(),
                    if stem.len() > 253 {
                        format!("{} characters, over 253", stem.len())
                    } else {
                        "dot-separated labels of lowercase letters, digits and `-`, each starting and ending with a \
                         letter or digit"
                            .to_string()
                    },
                    match (plan.target.kind == "Policy", stem.len() > 253) {
                        (true, true) => "shorten the policy's namespace or name",
                        (true, false) => "rename the policy",
                        (false, true) => "shorten the workload's namespace, name or container name",
                        (false, false) => "rename the workload",
                    }
                ),
            });
            continue;
        }
        let profile = Profile::new(section);
        sink.put(Artifact { path: format!("seccomp/{stem}.json"), bytes: json_bytes(&profile.oci()) });
        let spo = spo_object(plan, &profile, input.policies);
        sink.put(Artifact { path: format!("seccomp/spo/{stem}.yaml"), bytes: to_yaml(&spo).into_bytes() });
    }
    out.sort();
    out
}

/// The SPO `SeccompProfile` of a plan. Its name is the plan's stem (it is
/// cluster-scoped, and the stem carries the namespace).
fn spo_object(plan: &Plan, profile: &Profile, policies: &[Policy]) -> Value {
    // Sorted by name: the plan lists policies in input order, which must not change
    // the content hash or the `polc.dev/policy` label.
    let mut sources: Vec<&Policy> = plan
        .policies
        .iter()
        .filter_map(|&i| policies.get(i))
        .filter(|p| p.ir.defaults.iter().any(|(s, _)| *s == Section::Syscall))
        .collect();
    sources.sort_by(|a, b| (&a.namespace, &a.name, &a.content_hash).cmp(&(&b.namespace, &b.name, &b.content_hash)));
    let mut metadata = object_metadata(&plan.target.stem(), None, &sources);
    if let Some(a) = metadata.get_mut("annotations").and_then(Value::as_object_mut) {
        a.insert("polc.dev/target".into(), json!(plan.target.id()));
        if !profile.implicit.is_empty() {
            a.insert(IMPLICIT_ANNOTATION.into(), json!(profile.implicit.join(",")));
        }
    }
    json!({
        "apiVersion": SPO_API_VERSION,
        "kind": "SeccompProfile",
        "metadata": metadata,
        "spec": profile.spo_spec(),
    })
}

/// The capability entries: every syscall rule entry is exact; every other rule is
/// not expressible, once per rule (not per entry) to keep the report readable.
pub fn capabilities(policies: &[Policy]) -> Vec<Capability> {
    let ids = assign_ids(policies);
    let mut out = Vec::new();
    let mut texts = super::Interner::default();
    for (pi, p) in policies.iter().enumerate() {
        let id = |ri: usize| ids.get(pi).and_then(|v| v.get(ri)).copied().unwrap_or(0);
        // Entries of one rule share its pointer; keep them together in source order.
        let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
        for (ri, r) in p.ir.rules.iter().enumerate() {
            if r.section == Section::Syscall {
                out.push(Capability {
                    backend: Target::Seccomp,
                    rule_id: id(ri),
                    origin: p.entry_origin(ri),
                    matches: r.matcher.to_string().into(),
                    support: Support::Exact,
                });
                if let Some(c) = out.last_mut() {
                    c.share(&mut texts);
                }
            } else if let Some(g) = groups.iter_mut().find(|(ptr, _)| *ptr == &*r.rule_pointer) {
                g.1.push(ri);
            } else {
                groups.push((&r.rule_pointer, vec![ri]));
            }
        }
        for (ptr, entries) in groups {
            let Some((ri0, first)) = entries.first().and_then(|&ri| Some((ri, p.ir.rules.get(ri)?))) else {
                continue;
            };
            let reason = if first.section == Section::Capability { NOT_CAPABILITIES } else { NOT_SYSCALLS };
            let matchers: Vec<String> =
                entries.iter().filter_map(|&ri| p.ir.rules.get(ri)).map(|r| r.matcher.to_string()).collect();
            out.push(Capability {
                backend: Target::Seccomp,
                rule_id: id(ri0),
                origin: p.rule_origin(ri0, &first.name, ptr),
                matches: summarize(&matchers).into(),
                support: Support::NotExpressible { reason: reason.into() },
            });
            if let Some(c) = out.last_mut() {
                c.share(&mut texts);
            }
        }
    }
    out
}

/// The first few matchers of a rule and how many more there are.
fn summarize(matchers: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut s = matchers.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if matchers.len() > SHOWN {
        let _ = write!(s, " and {} more", matchers.len() - SHOWN);
    }
    s
}

fn json_bytes(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// Render a JSON value as block-style YAML. Strings that YAML could read as anything
/// but the same string are double-quoted (YAML's double-quoted escapes are a superset
/// of JSON's), so the document reads back as exactly `v`.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    yaml_node(&mut out, v, 0);
    out
}

fn yaml_inline(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(yaml_str(s)),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Object(m) if m.is_empty() => Some("{}".into()),
        _ => None,
    }
}

fn yaml_node(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match (v, yaml_inline(v)) {
        (_, Some(s)) => {
            let _ = writeln!(out, "{pad}{s}");
        }
        (Value::Object(m), None) => {
            for (k, val) in m {
                let _ = write!(out, "{pad}{}:", yaml_str(k));
                match yaml_inline(val) {
                    Some(s) => {
                        let _ = writeln!(out, " {s}");
                    }
                    None => {
                        out.push('\n');
                        yaml_node(out, val, indent + 2);
                    }
                }
            }
        }
        (Value::Array(a), None) => {
            for item in a {
                match yaml_inline(item) {
                    Some(s) => {
                        let _ = writeln!(out, "{pad}- {s}");
                    }
                    None => {
                        // Render the item one level deeper, then put the dash into
                        // the indentation of its first line.
                        let mut sub = String::new();
                        yaml_node(&mut sub, item, indent + 2);
                        out.push_str(&pad);
                        out.push_str("- ");
                        out.push_str(sub.get(indent + 2..).unwrap_or_default());
                    }
                }
            }
        }
        _ => {}
    }
}

/// A string as a YAML scalar: plain when it cannot be read as anything else (in
/// block context a comma inside a plain scalar is an ordinary character).
fn yaml_str(s: &str) -> String {
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '/')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-' | ','))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain {
        return s.to_string();
    }
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if (c as u32) < 0x20
                || (0x7f..=0x9f).contains(&(c as u32))
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}') =>
            {
                let _ = write!(q, "\\u{:04x}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Source, Spec, Workload};
    use crate::plan::plan;
    use crate::tables;

    fn policy(kind: &str, name: &str, spec: Value) -> Policy {
        let spec = match kind {
            "RuntimePolicy" => Spec::Runtime(serde_json::from_value(spec).unwrap()),
            _ => Spec::Prevention(serde_json::from_value(spec).unwrap()),
        };
        Policy {
            namespace: "shop".into(),
            name: name.into(),
            labels: BTreeMap::new(),
            ir: spec.lower(),
            spec,
            source: Source { file: format!("{name}.yaml"), positions: BTreeMap::new() },
            content_hash: format!("hash-of-{name}"),
            origins: Default::default(),
        }
    }

    fn runtime(name: &str, on_anomaly: &str, mode: &str, syscalls: &[&str]) -> Policy {
        policy(
            "RuntimePolicy",
            name,
            json!({
                "selector": {"matchLabels": {"app": "web"}},
                "mode": mode,
                "onAnomaly": on_anomaly,
                "baseline": {"syscalls": syscalls},
            }),
        )
    }

    fn web() -> Vec<Workload> {
        vec![Workload {
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "web".into(),
            labels: [("app".to_string(), "web".to_string())].into(),
            containers: vec!["app".into()],
            ..Default::default()
        }]
    }

    /// A workload whose name the API server would refuse (uppercase) would name a
    /// SeccompProfile that cannot be applied: an error at the workload's manifest,
    /// and no files.
    #[test]
    fn an_invalid_object_name_is_an_error() {
        let mut w = web();
        w[0].name = "Web".into();
        w[0].source = "apps.yaml:4:9".into();
        let out = run(&[runtime("base", "Block", "Enforce", &["read"])], &w);
        assert!(out.artifacts.is_empty(), "{:?}", out.artifacts.iter().map(|a| &a.path).collect::<Vec<_>>());
        assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
        let e = &out.errors[0];
        assert_eq!(e.location, "apps.yaml:4:9");
        assert!(e.message.contains("would be named `shop.deployment.Web.app`"), "{}", e.message);
        assert!(e.message.ends_with("rename the workload"), "{}", e.message);
        // Valid names, but the stem is over 253 characters.
        let mut w = web();
        w[0].name = "n".repeat(240);
        let out = run(&[runtime("base", "Block", "Enforce", &["read"])], &w);
        assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
        let m = &out.errors[0].message;
        assert!(m.contains("(260 characters, over 253); shorten the workload's namespace"), "{m}");
    }

    fn run(policies: &[Policy], workloads: &[Workload]) -> Output {
        let plans = plan(policies, workloads);
        compile(&Input { policies, workloads, plans: &plans })
    }

    fn artifact(out: &Output, path: &str) -> Value {
        let a = out.artifacts.iter().find(|a| a.path == path).unwrap_or_else(|| panic!("no {path}"));
        serde_json::from_slice(&a.bytes).unwrap()
    }

    fn names(v: &Value, action: &str) -> Vec<String> {
        v["syscalls"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["action"] == action)
            .flat_map(|e| e["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()))
            .collect()
    }

    #[test]
    fn runtime_syscalls_are_sorted_unique_and_known() {
        let names: Vec<&str> = RUNTIME_SYSCALLS.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        for n in names {
            assert!(tables::syscall_number(n).is_some(), "{n} is not an x86_64 syscall");
        }
        assert!(tables::syscall_number("clone3").is_some());
    }

    #[test]
    fn block_baseline_is_an_errno_allow_list_with_the_runtime_calls() {
        let out = run(&[runtime("base", "Block", "Enforce", &["read", "mkdir", "write", "brk"])], &web());
        assert_eq!(
            out.artifacts.iter().map(|a| a.path.as_str()).collect::<Vec<_>>(),
            ["seccomp/shop.deployment.web.app.json", "seccomp/spo/shop.deployment.web.app.yaml"]
        );
        let oci = artifact(&out, "seccomp/shop.deployment.web.app.json");
        let keys: Vec<&str> = oci.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["defaultAction", "defaultErrnoRet", "architectures", "syscalls"]);
        assert_eq!(oci["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(oci["defaultErrnoRet"], 1);
        assert_eq!(oci["architectures"], json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]));
        let allowed = names(&oci, "SCMP_ACT_ALLOW");
        let mut expected: Vec<String> = RUNTIME_SYSCALLS.iter().map(|(n, _)| n.to_string()).collect();
        expected.extend(["brk", "mkdir"].map(String::from));
        expected.sort();
        expected.dedup();
        assert_eq!(allowed, expected, "baseline plus runtime calls, sorted, once each");
        let entries = oci["syscalls"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1], json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}));
    }

    #[test]
    fn audit_and_dry_run_log_instead_of_blocking() {
        for (anomaly, mode) in [("Audit", "Enforce"), ("Block", "DryRun"), ("Audit", "DryRun")] {
            let out = run(&[runtime("base", anomaly, mode, &["read"])], &web());
            let oci = artifact(&out, "seccomp/shop.deployment.web.app.json");
            assert_eq!(oci["defaultAction"], "SCMP_ACT_LOG", "{anomaly} {mode}");
            assert!(oci.get("defaultErrnoRet").is_none());
            let entries = oci["syscalls"].as_array().unwrap();
            assert_eq!(entries.len(), 1, "no clone3 errno entry when nothing is blocked");
            assert_eq!(entries[0]["action"], "SCMP_ACT_ALLOW");
            assert!(names(&oci, "SCMP_ACT_ALLOW").contains(&"execve".to_string()));
        }
    }

    #[test]
    fn clone3_in_the_baseline_is_allowed_not_enosys() {
        let out = run(&[runtime("base", "Block", "Enforce", &["clone3"])], &web());
        let oci = artifact(&out, "seccomp/shop.deployment.web.app.json");
        assert!(names(&oci, "SCMP_ACT_ALLOW").contains(&"clone3".to_string()));
        assert!(names(&oci, "SCMP_ACT_ERRNO").is_empty());
    }

    #[test]
    fn empty_baseline_still_starts_the_container() {
        let out = run(&[runtime("base", "Block", "Enforce", &[])], &web());
        let oci = artifact(&out, "seccomp/shop.deployment.web.app.json");
        assert_eq!(names(&oci, "SCMP_ACT_ALLOW").len(), RUNTIME_SYSCALLS.len());
    }

    #[test]
    fn rules_equal_to_the_default_are_left_out() {
        let section = SectionPlan { section: Section::Syscall, default: Action::Allow, rules: Vec::new() };
        let p = Profile::new(&section);
        assert_eq!(p.oci(), json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHITECTURES}));
        assert!(p.implicit.is_empty());
        let plans = plan(&[runtime("base", "Block", "Enforce", &["read", "getpid"])], &web());
        let mut section = plans[0].section(Section::Syscall).unwrap().clone();
        section.default = Action::Allow;
        assert!(Profile::new(&section).rules.is_empty(), "allow rules under an allow default");
    }

    #[test]
    fn two_baselines_on_one_container_are_united_with_the_strongest_default() {
        let a = runtime("a", "Audit", "Enforce", &["mkdir"]);
        let b = runtime("b", "Block", "Enforce", &["rmdir"]);
        let out = run(&[a, b], &web());
        let oci = artifact(&out, "seccomp/shop.deployment.web.app.json");
        assert_eq!(oci["defaultAction"], "SCMP_ACT_ERRNO");
        let allowed = names(&oci, "SCMP_ACT_ALLOW");
        assert!(allowed.contains(&"mkdir".into()) && allowed.contains(&"rmdir".into()));
        let yaml = String::from_utf8(out.artifacts[1].bytes.clone()).unwrap();
        assert!(yaml.contains("polc.dev/source-policies: RuntimePolicy/shop/a,RuntimePolicy/shop/b\n"), "{yaml}");
    }

    #[test]
    fn spo_object_is_cluster_scoped_with_the_same_profile() {
        let out = run(&[runtime("base", "Block", "Enforce", &["read", "execve"])], &web());
        let yaml = String::from_utf8(out.artifacts[1].bytes.clone()).unwrap();
        assert!(yaml.starts_with(
            "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata:\n  \
             name: shop.deployment.web.app\n  labels:\n    app.kubernetes.io/managed-by: polc\n    polc.dev/policy: base\n"
        ));
        assert!(!yaml.contains("namespace:"), "cluster-scoped");
        assert!(!yaml.contains("defaultErrnoRet"), "not in the SPO CRD");
        assert!(yaml.contains("    polc.dev/target: shop/Deployment/web/app\n"));
        // execve and read were in the baseline: not implicit.
        let line = yaml.lines().find(|l| l.contains(IMPLICIT_ANNOTATION)).unwrap();
        assert_eq!(
            line,
            "    polc.dev/implicit-syscalls: capget,capset,chdir,clone3,close,close_range,epoll_ctl,epoll_pwait,\
             exit_group,faccessat2,fchown,fcntl,fstat,fstatfs,futex,getcwd,getdents64,getpid,getppid,getuid,mmap,\
             nanosleep,newfstatat,openat,prctl,recvfrom,rt_sigreturn,sched_yield,setgid,setgroups,setuid,tgkill,write"
        );
        assert!(yaml.ends_with(
            "      action: SCMP_ACT_ALLOW\n    - names:\n        - clone3\n      action: SCMP_ACT_ERRNO\n      errnoRet: 38\n"
        ));
        assert!(yaml.contains("  defaultAction: SCMP_ACT_ERRNO\n  architectures:\n    - SCMP_ARCH_X86_64\n"));
    }

    #[test]
    fn no_syscall_section_no_profile() {
        let p = policy(
            "PreventionPolicy",
            "shells",
            json!({"selector": {}, "process": [{"name": "no-shells", "action": "Block", "paths": ["/bin/sh", "/bin/bash", "/bin/dash", "/bin/zsh"]}]}),
        );
        let out = run(&[p], &web());
        assert!(out.artifacts.is_empty());
        assert_eq!(out.capabilities.len(), 1, "one entry per rule, not per path");
        let c = &out.capabilities[0];
        assert_eq!(c.rule(), "no-shells");
        assert_eq!(&*c.matches, "/bin/sh, /bin/bash, /bin/dash and 1 more");
        assert_eq!(c.support, Support::NotExpressible { reason: NOT_SYSCALLS.into() });
        assert!(out.errors.is_empty());
    }

    #[test]
    fn capability_verdicts() {
        let prevention = policy(
            "PreventionPolicy",
            "caps",
            json!({"selector": {}, "capabilities": [{"name": "no-raw", "action": "Block", "capabilities": ["NET_RAW", "SYS_ADMIN"]}],
                   "file": [{"name": "etc", "action": "Audit", "paths": ["/etc/shadow"]}]}),
        );
        let base = policy(
            "RuntimePolicy",
            "base",
            json!({"selector": {}, "baseline": {"syscalls": ["read", "write"], "capabilities": ["CHOWN"], "executables": ["/app"]}}),
        );
        let out = run(&[prevention, base], &[]);
        let mut seen: Vec<(String, String, &str)> = out
            .capabilities
            .iter()
            .map(|c| {
                let s = match &c.support {
                    Support::Exact => "exact",
                    Support::NotExpressible { reason } if &**reason == NOT_CAPABILITIES => "caps",
                    Support::NotExpressible { .. } => "not",
                    Support::Approximated { .. } => "approx",
                };
                (c.policy().to_string(), c.matches.to_string(), s)
            })
            .collect();
        seen.sort();
        let expect = [
            ("PreventionPolicy shop/caps", "/etc/shadow", "not"),
            ("PreventionPolicy shop/caps", "CAP_NET_RAW, CAP_SYS_ADMIN", "caps"),
            ("RuntimePolicy shop/base", "/app", "not"),
            ("RuntimePolicy shop/base", "CAP_CHOWN", "caps"),
            ("RuntimePolicy shop/base", "syscall read", "exact"),
            ("RuntimePolicy shop/base", "syscall write", "exact"),
        ];
        assert_eq!(seen, expect.map(|(a, b, c)| (a.to_string(), b.to_string(), c)));
        assert!(out.capabilities.iter().all(|c| c.backend == Target::Seccomp && c.rule_id != 0));
        // The standalone runtime policy still gets its profile.
        assert_eq!(out.artifacts[0].path, "seccomp/shop.policy.base.all.json");
    }

    #[test]
    fn output_does_not_depend_on_input_order() {
        let a = runtime("a", "Block", "Enforce", &["write", "read", "mkdir"]);
        let b = runtime("b", "Audit", "DryRun", &["rmdir", "read"]);
        let one = run(&[a.clone(), b.clone()], &web());
        let two = run(&[b, a], &web());
        let text = |o: &Output| -> Vec<(String, String)> {
            o.artifacts.iter().map(|a| (a.path.clone(), String::from_utf8_lossy(&a.bytes).into_owned())).collect()
        };
        assert_eq!(text(&one), text(&two));
        let again = run(&[runtime("a", "Block", "Enforce", &["write", "read", "mkdir"])], &web());
        let again2 = run(&[runtime("a", "Block", "Enforce", &["mkdir", "write", "read"])], &web());
        assert_eq!(
            artifact(&again, "seccomp/shop.deployment.web.app.json"),
            artifact(&again2, "seccomp/shop.deployment.web.app.json")
        );
    }

    #[test]
    fn yaml_scalars_read_back_as_strings() {
        for (s, want) in [
            ("SCMP_ACT_ALLOW", "SCMP_ACT_ALLOW"),
            ("polc.dev/content-hash", "polc.dev/content-hash"),
            ("/spec/x", "/spec/x"),
            ("", "\"\""),
            ("yes", "\"yes\""),
            ("Off", "\"Off\""),
            ("null", "\"null\""),
            ("1.0", "\"1.0\""),
            ("sha256:ab", "\"sha256:ab\""),
            ("a b", "\"a b\""),
            ("a,b", "a,b"),
            (",a", "\",a\""),
            ("-x", "\"-x\""),
            ("say \"hi\"\\\n", "\"say \\\"hi\\\"\\\\\\n\""),
            ("\u{7}\u{85}\u{2028}é", "\"\\u0007\\u0085\\u2028é\""),
        ] {
            assert_eq!(yaml_str(s), want, "{s:?}");
        }
    }

    #[test]
    fn yaml_blocks() {
        let v = json!({"a": {"b": [1, {"c": "d", "e": []}, [true, null]], "f": {}}, "g": "h"});
        assert_eq!(
            to_yaml(&v),
            "a:\n  b:\n    - 1\n    - c: d\n      e: []\n    - - true\n      - null\n  f: {}\ng: h\n"
        );
        assert_eq!(to_yaml(&json!([])), "[]\n");
    }
}
