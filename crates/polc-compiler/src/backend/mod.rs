//! Backends: turn plans into what kernels and clusters enforce, and say for every
//! rule how exactly they can.
//!
//! Each backend is pure: it takes the [`Input`] and returns artifacts (relative path
//! and bytes), a capability entry per rule it was asked about, and errors for rules
//! in its domain that it cannot lower. Output is deterministic: the same input gives
//! the same bytes on any machine.

pub mod apparmor;
pub mod bpf;
pub mod cilium;
pub mod seccomp;

use crate::model::{Origin, Policy, Workload};
use crate::plan::Plan;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// The backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// eBPF LSM map bundles for the node agent.
    BpfLsm,
    /// AppArmor profiles.
    Apparmor,
    /// seccomp profiles (kubelet Localhost JSON and SPO SeccompProfile).
    Seccomp,
    /// CiliumNetworkPolicy objects.
    Cilium,
}

impl Target {
    /// Every backend.
    pub const ALL: [Target; 4] = [Target::BpfLsm, Target::Apparmor, Target::Seccomp, Target::Cilium];

    /// The backend's name as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::BpfLsm => "bpf-lsm",
            Target::Apparmor => "apparmor",
            Target::Seccomp => "seccomp",
            Target::Cilium => "cilium",
        }
    }

    /// Parse a backend name.
    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How well a backend enforces a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "support", rename_all = "camelCase")]
pub enum Support {
    /// Enforced as written.
    Exact,
    /// Enforced, but not exactly as written.
    Approximated {
        /// What differs (shared by the lines with the same reason: see [`Interner`]).
        reason: Arc<str>,
    },
    /// Not enforced by this backend.
    NotExpressible {
        /// Why, and which backend can (shared, as above).
        reason: Arc<str>,
    },
}

/// One shared copy of each text: capability lines repeat a few thousand reasons
/// and rule texts over a million times at 10,000 policies (80 MB of reasons in
/// 900,000 allocations, against 3 MB distinct).
#[derive(Default)]
pub struct Interner(std::collections::HashSet<Arc<str>, foldhash::fast::RandomState>);

impl Interner {
    /// The shared copy of `s`.
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = s.into();
        self.0.insert(a.clone());
        a
    }
}

/// One line of the capability report.
///
/// 56 bytes: the policy, rule name and source are one shared [`Origin`] (at 10,000
/// policies the backends make 1.4 million lines, and each held the three texts'
/// 48 bytes of pointers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capability {
    /// Backend.
    pub backend: Target,
    /// Stable rule id.
    pub rule_id: u32,
    /// Policy, rule name and `file:line:col` (shared with the plans' rules).
    pub origin: Arc<Origin>,
    /// What the rule entry matches, in words (shared, see [`Interner`]).
    pub matches: Arc<str>,
    /// Verdict.
    pub support: Support,
}

impl Capability {
    /// `Kind namespace/name` of the policy.
    pub fn policy(&self) -> &str {
        &self.origin.policy
    }

    /// The rule's name.
    pub fn rule(&self) -> &str {
        &self.origin.rule
    }

    /// `file:line:col`.
    pub fn source(&self) -> &str {
        &self.origin.source
    }

    /// Point the line's texts (what it matches, and the reason) at the shared
    /// copies in `texts`.
    pub fn share(&mut self, texts: &mut Interner) {
        self.matches = texts.get(&self.matches);
        if let Support::Approximated { reason } | Support::NotExpressible { reason } = &mut self.support {
            *reason = texts.get(reason);
        }
    }
}

/// The fields in the order they had when the line held its texts itself:
/// `backend`, `policy`, `rule`, `ruleId`, `matches`, `source`, then the verdict
/// (`support`, and `reason` when there is one).
impl Serialize for Capability {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let reason = match &self.support {
            Support::Exact => None,
            Support::Approximated { reason } | Support::NotExpressible { reason } => Some(reason),
        };
        let mut m = s.serialize_map(Some(7 + usize::from(reason.is_some())))?;
        m.serialize_entry("backend", &self.backend)?;
        m.serialize_entry("policy", &self.origin.policy)?;
        m.serialize_entry("rule", &self.origin.rule)?;
        m.serialize_entry("ruleId", &self.rule_id)?;
        m.serialize_entry("matches", &self.matches)?;
        m.serialize_entry("source", &self.origin.source)?;
        m.serialize_entry(
            "support",
            match self.support {
                Support::Exact => "exact",
                Support::Approximated { .. } => "approximated",
                Support::NotExpressible { .. } => "notExpressible",
            },
        )?;
        if let Some(r) = reason {
            m.serialize_entry("reason", r)?;
        }
        m.end()
    }
}

/// A rule a backend was asked to enforce and cannot lower, or input no backend
/// can write (two targets whose files would share a name, rule `-`): the compile
/// fails. The message leaves out a rule that is empty or `-` (not about one rule).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{location}: {backend}: {policy}{}: {message}", if rule.is_empty() || rule == "-" { String::new() } else { format!(" rule `{rule}`") })]
#[serde(rename_all = "camelCase")]
pub struct CompileError {
    /// Backend.
    pub backend: Target,
    /// `Kind namespace/name`.
    pub policy: String,
    /// Rule name.
    pub rule: String,
    /// `file:line:col`.
    pub location: String,
    /// What cannot be lowered, and which backend can express it.
    pub message: String,
}

/// A generated file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// Path relative to the output directory (`/`-separated).
    pub path: String,
    /// Content.
    pub bytes: Vec<u8>,
}

/// Where a backend puts the files it generates, as it generates them, so that they
/// need not all be held in memory. Backends call it from several threads.
pub trait Sink: Sync {
    /// Take a generated file.
    fn put(&self, artifact: Artifact);
}

/// A sink that keeps the files, in the order they come.
#[derive(Default)]
pub struct Collect(std::sync::Mutex<Vec<Artifact>>);

impl Collect {
    /// The files.
    pub fn into_inner(self) -> Vec<Artifact> {
        self.0.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Sink for Collect {
    fn put(&self, artifact: Artifact) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(artifact);
    }
}

/// Run `f` with a [`Collect`] sink and put what it collected in the output's
/// artifacts (after any it already has), sorted by path: backends may make their
/// files on several threads.
fn collect(f: impl FnOnce(&dyn Sink) -> Output) -> Output {
    let sink = Collect::default();
    let mut out = f(&sink);
    let mut made = sink.into_inner();
    made.sort_by(|a, b| a.path.cmp(&b.path));
    out.artifacts.extend(made);
    out
}

/// What a backend produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Files.
    pub artifacts: Vec<Artifact>,
    /// Capability entries.
    pub capabilities: Vec<Capability>,
    /// Errors.
    pub errors: Vec<CompileError>,
}

impl Output {
    /// Append another output.
    pub fn extend(&mut self, other: Output) {
        self.artifacts.extend(other.artifacts);
        self.capabilities.extend(other.capabilities);
        self.errors.extend(other.errors);
    }

    /// Sort everything, so output does not depend on the order of work.
    pub fn sort(&mut self) {
        self.artifacts.sort_by(|a, b| a.path.cmp(&b.path));
        sort_capabilities(&mut self.capabilities);
        self.capabilities.dedup();
        sort_errors(&mut self.errors);
    }
}

/// Sort errors by location, backend, rule, policy and message, without duplicates.
fn sort_errors(errors: &mut Vec<CompileError>) {
    errors.sort_by(|a, b| {
        (&a.location, a.backend, &a.rule, &a.policy, &a.message).cmp(&(
            &b.location,
            b.backend,
            &b.rule,
            &b.policy,
            &b.message,
        ))
    });
    errors.dedup();
}

/// Sort capability lines by backend, policy, source (lines and columns in numeric
/// order), rule id and text; stable. The source of every line is parsed once, not
/// at every comparison.
fn sort_capabilities(caps: &mut [Capability]) {
    if caps.is_sorted_by(|a, b| capability_order(a, b).is_le()) {
        return;
    }
    let keys: Vec<(&str, u32, u32)> = caps.iter().map(|c| source_key(c.source())).collect();
    let mut order: Vec<usize> = (0..caps.len()).collect();
    order.sort_by(|&i, &j| order_key(&caps[i], keys[i]).cmp(&order_key(&caps[j], keys[j])));
    drop(keys);
    permute_in_place(caps, order);
}

/// Reorder `v` so that position k holds what was at `order[k]` (`order` is a
/// permutation of `0..v.len()`), by swaps along the permutation's cycles: no second
/// vector of elements (at 10,000 policies the capability lines take hundreds of MiB).
fn permute_in_place<T>(v: &mut [T], mut order: Vec<usize>) {
    debug_assert_eq!(v.len(), order.len());
    for i in 0..order.len() {
        let mut k = i;
        // Each position is written once: a finished position is marked order[k] = k.
        while let Some(&j) = order.get(k).filter(|&&j| j != i && j != k) {
            v.swap(k, j);
            order[k] = k;
            k = j;
        }
        if let Some(o) = order.get_mut(k) {
            *o = k;
        }
    }
}

fn capability_order(a: &Capability, b: &Capability) -> std::cmp::Ordering {
    order_key(a, source_key(a.source())).cmp(&order_key(b, source_key(b.source())))
}

/// What capability lines sort by, given the line's parsed source.
type OrderKey<'a> = (Target, &'a str, (&'a str, u32, u32), u32, &'a str, (u8, &'a str));

fn order_key<'a>(c: &'a Capability, source: (&'a str, u32, u32)) -> OrderKey<'a> {
    (c.backend, c.policy(), source, c.rule_id, &c.matches, support_key(&c.support))
}

/// The verdict as the last sort key: lines equal in everything else are ordered
/// by it, so the order is total (it does not depend on which thread made a line
/// first) and duplicates end up next to each other for `dedup`.
fn support_key(s: &Support) -> (u8, &str) {
    match s {
        Support::Exact => (0, ""),
        Support::Approximated { reason } => (1, reason),
        Support::NotExpressible { reason } => (2, reason),
    }
}

/// `file:line:col` as a sort key that orders lines numerically.
fn source_key(s: &str) -> (&str, u32, u32) {
    let mut it = s.rsplitn(3, ':');
    let col = it.next().and_then(|c| c.parse().ok());
    let line = it.next().and_then(|l| l.parse().ok());
    match (line, col, it.next()) {
        (Some(l), Some(c), Some(f)) => (f, l, c),
        _ => (s, 0, 0),
    }
}

/// A valid label value (at most 63 characters, alphanumeric at both ends) for `s`:
/// `s` itself when it is one, else a prefix and a hash of it.
pub fn label_value(s: &str) -> String {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let valid = s.len() <= 63
        && s.chars().all(ok)
        && s.chars().next().is_none_or(|c| c.is_ascii_alphanumeric())
        && s.chars().last().is_none_or(|c| c.is_ascii_alphanumeric());
    if valid {
        return s.to_string();
    }
    use sha2::Digest;
    let h: String = sha2::Sha256::digest(s.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect();
    let head: String = s.chars().filter(|c| ok(*c)).take(50).collect();
    let head = head.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if head.is_empty() { h } else { format!("{head}-{h}") }
}

/// What every backend gets.
pub struct Input<'a> {
    /// The policies.
    pub policies: &'a [Policy],
    /// The workloads.
    pub workloads: &'a [Workload],
    /// The plans (see [`crate::plan::plan`]).
    pub plans: &'a [Plan],
}

/// Labels and annotations every generated Kubernetes object carries, so drift
/// detection can tell what made it and from which content.
pub fn object_metadata(name: &str, namespace: Option<&str>, sources: &[&Policy]) -> serde_json::Value {
    use sha2::Digest;
    let mut sources = sources.to_vec();
    sources.sort_by(|a, b| (a.spec.kind(), &a.namespace, &a.name).cmp(&(b.spec.kind(), &b.namespace, &b.name)));
    sources.dedup_by(|a, b| a.spec.kind() == b.spec.kind() && a.namespace == b.namespace && a.name == b.name);
    let mut hasher = sha2::Sha256::new();
    for p in &sources {
        hasher.update(p.content_hash.as_bytes());
        hasher.update([0]);
    }
    let hash: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let policy_names: Vec<String> =
        sources.iter().map(|p| format!("{}/{}/{}", p.spec.kind().as_str(), p.namespace, p.name)).collect();
    let source_files: Vec<String> = sources.iter().map(|p| p.source.file.clone()).collect();
    let mut meta = serde_json::json!({
        "name": name,
        "labels": {
            "app.kubernetes.io/managed-by": "polc",
            "polc.dev/policy": label_value(sources.first().map(|p| p.name.as_str()).unwrap_or("")),
        },
        "annotations": {
            "polc.dev/source-policies": policy_names.join(","),
            "polc.dev/source-files": source_files.join(","),
            "polc.dev/content-hash": format!("sha256:{hash}"),
        },
    });
    if let Some(ns) = namespace {
        meta["namespace"] = serde_json::Value::String(ns.to_string());
    }
    meta
}

/// Run one backend; its files are in the output. Clashing file names are not
/// checked here: [`compile`] and [`compile_to`] check them.
pub fn compile_one(input: &Input<'_>, target: Target) -> Output {
    collect(|sink| compile_one_to(input, target, sink))
}

/// Run one backend, giving its files to `sink`. Clashing file names are not
/// checked here: [`compile_to`] checks them.
pub fn compile_one_to(input: &Input<'_>, target: Target, sink: &dyn Sink) -> Output {
    match target {
        Target::BpfLsm => bpf::compile_to(input, sink),
        Target::Apparmor => apparmor::compile_to(input, sink),
        Target::Seccomp => seccomp::compile_to(input, sink),
        Target::Cilium => cilium::compile_to(input, sink),
    }
}

/// Run the backends in `targets`; the files are in the output, sorted by path.
pub fn compile(input: &Input<'_>, targets: &[Target]) -> Output {
    let mut out = collect(|sink| compile_to(input, targets, sink).into_output());
    out.sort();
    out
}

/// What [`compile_to`] gives: the capability entries and the errors of every backend
/// that ran (its files went to the sink).
///
/// The entries are kept as each backend made them, one sorted vector per backend in
/// backend order, which together is the order of [`Output::sort`]: one vector of all
/// of them was allocated while the backends' own were alive, and was the peak of a
/// compile (130 MiB at 10,000 policies).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compiled {
    /// Each backend's capability entries, sorted; backends in the order of [`Target`].
    pub runs: Vec<Vec<Capability>>,
    /// Errors, sorted.
    pub errors: Vec<CompileError>,
}

impl Compiled {
    /// Every capability entry, in order.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> + Clone {
        self.runs.iter().flatten()
    }

    /// The number of capability entries.
    pub fn capability_count(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }

    /// The entries as slices, for [`crate::report::Report::new`].
    pub fn runs(&self) -> Vec<&[Capability]> {
        self.runs.iter().map(Vec::as_slice).collect()
    }

    /// An [`Output`] with these entries in one vector and no files.
    pub fn into_output(self) -> Output {
        Output { artifacts: Vec::new(), capabilities: self.runs.into_iter().flatten().collect(), errors: self.errors }
    }
}

/// Run the backends in `targets` (they are independent and pure) in two waves, each
/// backend of a wave on a thread of its own (bpf-lsm beside AppArmor, then seccomp
/// beside Cilium), giving the files to `sink` as they are made (in no particular
/// order: sort them by path if the order matters). The capability entries and
/// errors are sorted, so they do not depend on the threads. Targets whose files would share a
/// name are errors, and then no file reaches `sink`.
pub fn compile_to(input: &Input<'_>, targets: &[Target], sink: &dyn Sink) -> Compiled {
    let mut targets = targets.to_vec();
    targets.sort();
    targets.dedup();
    // Two targets whose files would share a name fail the compile. The backends
    // still run, so that every other error is reported too, but what they make is
    // not kept (two threads would write one file).
    let clashes = name_clashes(input, &targets);
    let sink = if clashes.is_empty() { sink } else { &Discard };
    // Two waves, each backend of a wave on a thread of its own: bpf-lsm (which
    // shares its work out to every core itself) beside AppArmor, the longest of the
    // others, then seccomp and Cilium. All four at once held the most memory of the
    // compile: at 10,000 policies the peak was the sum of what the four held (see
    // docs/performance.md).
    let mut outs: Vec<(Target, Output)> = Vec::with_capacity(targets.len());
    for w in 0..WAVES {
        let these: Vec<Target> = targets.iter().copied().filter(|&t| wave(t) == w).collect();
        if these.len() < 2 {
            outs.extend(these.iter().map(|&t| (t, compile_one_to(input, t, sink))));
            continue;
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = these.iter().map(|&t| (t, s.spawn(move || compile_one_to(input, t, sink)))).collect();
            // A backend that panicked is a bug: pass its panic on.
            outs.extend(
                handles.into_iter().map(|(t, h)| (t, h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))),
            );
        });
    }
    outs.sort_by_key(|(t, _)| *t);
    // Each backend's lines stay in their own vector (see `Compiled`), sorted: the
    // backends are in `Target` order, the first key of the order of the lines.
    let mut done = Compiled::default();
    for (_, mut o) in outs {
        o.sort();
        done.errors.append(&mut o.errors);
        done.runs.push(o.capabilities);
    }
    done.errors.extend(clashes);
    sort_errors(&mut done.errors);
    done
}

/// The number of waves [`compile_to`] runs the backends in.
const WAVES: usize = 2;

/// The wave (below [`WAVES`]) a backend runs in: bpf-lsm beside AppArmor, then
/// seccomp beside Cilium.
fn wave(t: Target) -> usize {
    match t {
        Target::BpfLsm | Target::Apparmor => 0,
        Target::Seccomp | Target::Cilium => 1,
    }
}

/// A sink that drops what it is given.
struct Discard;

impl Sink for Discard {
    fn put(&self, _: Artifact) {}
}

/// The backends that write files per target, named by the target's stem
/// ([`crate::plan::Target::stem`]), and the files each writes for `stem` (when the
/// target has anything for it).
fn stem_files(target: Target, stem: &str) -> Option<String> {
    match target {
        Target::BpfLsm => Some(format!("bpf-lsm/{stem}.bundle and .json")),
        Target::Apparmor => Some(format!("apparmor/{stem}")),
        Target::Seccomp => Some(format!("seccomp/{stem}.json and seccomp/spo/{stem}.yaml")),
        Target::Cilium => None,
    }
}

/// Targets whose files would share a name, or whose names are too long for a file
/// name, for the backends in `targets`: one error per clash, at the later target's manifest, naming both targets and where
/// each comes from. Stems that differ only in case clash too (they are one file
/// on a case-insensitive file system). A target made twice with different
/// policies (a workload defined twice, or two standalone policies of different
/// kinds with one name) is a clash as well.
fn name_clashes(input: &Input<'_>, targets: &[Target]) -> Vec<CompileError> {
    let Some(&backend) = targets.iter().find(|&&t| stem_files(t, "").is_some()) else { return Vec::new() };
    let mut first: std::collections::HashMap<String, usize> =
        std::collections::HashMap::with_capacity(input.plans.len());
    let mut clashes = Vec::new();
    let mut errors = Vec::new();
    for (i, plan) in input.plans.iter().enumerate() {
        let mut stem = plan.target.stem();
        if stem.len() > MAX_STEM {
            errors.push(CompileError {
                backend,
                policy: plan.target.label(),
                rule: "-".into(),
                location: sources_of(input, plan).pop().unwrap_or_else(|| "-".into()),
                message: format!(
                    "the files of target {} would be named `{stem}` and longer: {} bytes, over the {MAX_STEM} that \
                     leave room for the longest suffix (`.bundle`) in a file name of 255 bytes; shorten the {}",
                    plan.target.id(),
                    stem.len(),
                    if plan.target.kind == "Policy" {
                        "policy's namespace or name"
                    } else {
                        "workload's namespace, name or container name"
                    }
                ),
            });
            continue;
        }
        stem.make_ascii_lowercase();
        match first.entry(stem) {
            std::collections::hash_map::Entry::Occupied(o) => clashes.push((*o.get(), i)),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
            }
        }
    }
    errors.extend(clashes.into_iter().map(|(a, b)| {
        let (a, b) = (&input.plans[a], &input.plans[b]);
        let stem = b.target.stem();
        let files: Vec<String> = targets.iter().filter_map(|&t| stem_files(t, &stem)).collect();
        let (at_a, at_b) = (sources_of(input, a), sources_of(input, b));
        let message = if a.target == b.target {
            let mut at: Vec<&String> = Vec::new();
            for s in at_a.iter().chain(&at_b) {
                if !at.contains(&s) {
                    at.push(s);
                }
            }
            format!(
                "target {} is defined twice, with different policies (at {}): its files ({}) would be \
                     written twice; keep one definition or rename one",
                b.target.id(),
                at.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" and "),
                files.join(", ")
            )
        } else {
            format!(
                "targets {} and {} (at {}) would both have the files {}; rename one of the two",
                b.target.id(),
                a.target.id(),
                at_a.join(" and "),
                files.join(", ")
            )
        };
        CompileError {
            backend,
            policy: b.target.label(),
            rule: "-".into(),
            location: at_b.last().cloned().unwrap_or_else(|| "-".into()),
            message,
        }
    }));
    errors
}

/// The longest stem a file name can carry: 255 bytes (ext4, xfs, btrfs, tmpfs) less
/// the longest suffix, `.bundle`.
const MAX_STEM: usize = 255 - ".bundle".len();

/// `file:line:col` of the manifests a plan's target comes from: the `metadata.name`
/// of its workload (of each, when the workload is defined more than once) or, for a
/// standalone policy, of the policy.
pub(crate) fn sources_of(input: &Input<'_>, plan: &crate::plan::Plan) -> Vec<String> {
    let t = &plan.target;
    let mut found: Vec<String> = if t.kind == "Policy" {
        plan.policies.iter().filter_map(|&i| input.policies.get(i)).map(|p| p.source.locate("/metadata/name")).collect()
    } else {
        input
            .workloads
            .iter()
            .filter(|w| w.namespace == t.namespace && w.kind == t.kind && w.name == t.name && !w.source.is_empty())
            .map(|w| w.source.clone())
            .collect()
    };
    found.dedup();
    found
}

#[cfg(test)]
mod sort_tests {
    use super::{Capability, Output, Support, Target};

    fn line(rule_id: u32, support: Support) -> Capability {
        Capability {
            backend: Target::BpfLsm,
            rule_id,
            origin: std::sync::Arc::new(crate::model::Origin {
                policy: "PreventionPolicy ns/p".into(),
                rule: "r".into(),
                source: "p.yaml:3:5".into(),
            }),
            matches: "/bin/sh".into(),
            support,
        }
    }

    /// Lines equal but for their verdict sort the same whatever order they come in
    /// (backends make them on several threads), and duplicates apart from each
    /// other in the input are removed.
    #[test]
    fn the_order_is_total_and_duplicates_go() {
        let not = |r: &str| Support::NotExpressible { reason: r.into() };
        let lines =
            [line(7, not("b")), line(7, Support::Exact), line(7, not("a")), line(7, not("b")), line(3, not("a"))];
        let mut outs: Vec<Output> = Vec::new();
        for rotation in 0..lines.len() {
            let mut v = lines.to_vec();
            v.rotate_left(rotation);
            v.reverse();
            let mut out = Output { capabilities: v, ..Output::default() };
            out.sort();
            outs.push(out);
        }
        let want = vec![line(3, not("a")), line(7, Support::Exact), line(7, not("a")), line(7, not("b"))];
        for out in outs {
            assert_eq!(out.capabilities, want);
        }
    }
}

#[cfg(test)]
mod permute_tests {
    /// Every permutation of up to 6 elements, and some long random ones, against a
    /// gather into a new vector.
    #[test]
    fn permute_in_place_is_a_gather() {
        fn check(order: &[usize]) {
            let v: Vec<String> = (0..order.len()).map(|i| format!("e{i}")).collect();
            let want: Vec<String> = order.iter().map(|&i| v[i].clone()).collect();
            let mut got = v;
            super::permute_in_place(&mut got, order.to_vec());
            assert_eq!(got, want, "order {order:?}");
        }
        fn all(n: usize, prefix: &mut Vec<usize>) {
            if prefix.len() == n {
                check(prefix);
                return;
            }
            for i in 0..n {
                if !prefix.contains(&i) {
                    prefix.push(i);
                    all(n, prefix);
                    prefix.pop();
                }
            }
        }
        for n in 0..=6 {
            all(n, &mut Vec::new());
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for n in [100, 1000, 4099] {
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            check(&order);
        }
    }
}

#[cfg(test)]
mod size_tests {
    /// A capability line is 56 bytes and a plan's rule 32 (they were 96 and 56, when
    /// each held its policy, rule name and source itself), an IR rule 120 (184, when
    /// each entry had its own copy of its rule's pointer and conditions): at 10,000
    /// policies there are 1.4 million lines, 840,000 plan rules and 460,000 IR rules.
    #[test]
    fn lines_and_plan_rules_stay_small() {
        assert!(std::mem::size_of::<crate::ir::IrRule>() <= 120, "{}", std::mem::size_of::<crate::ir::IrRule>());
        assert!(std::mem::size_of::<super::Capability>() <= 56, "{}", std::mem::size_of::<super::Capability>());
        assert!(std::mem::size_of::<crate::plan::EffRule>() <= 32, "{}", std::mem::size_of::<crate::plan::EffRule>());
    }
}
