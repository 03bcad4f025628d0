//! The intermediate form of one policy: every rule entry lowered to a single matcher
//! with its action, conditions and the JSON pointer of the entry in the source.
//!
//! Lowering validates what the schema cannot (path syntax, CIDRs, syscall and
//! capability names) and records each problem as a [`LowerError`] at the pointer of
//! the offending value; the entry is left out of the IR and the error says so.

use crate::cidr::{Cidr, CidrError, Ports};
use crate::pattern::{PathMatcher, PatternError, Specificity};
use crate::tables;
use polc_api::{
    Action, Direction, FileAccess, Mode, NetworkAccessPolicySpec, Peer, PreventionPolicySpec, RuleMeta,
    RuntimePolicySpec, Severity,
};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// The longest `comm` the kernel keeps (`TASK_COMM_LEN` - 1).
pub const COMM_MAX: usize = 15;

/// Which kind of operation a rule governs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Section {
    /// Process execution.
    Process,
    /// File access.
    File,
    /// Outgoing network connections (agent-enforced).
    Network,
    /// Incoming network connections (agent-enforced).
    NetworkIngress,
    /// Capabilities.
    Capability,
    /// System calls (RuntimePolicy baselines).
    Syscall,
    /// Outgoing traffic of a NetworkAccessPolicy.
    Egress,
    /// Incoming traffic of a NetworkAccessPolicy.
    Ingress,
}

/// A peer of a network matcher.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerKey {
    /// Any peer.
    Any,
    /// An address range, minus exceptions.
    Cidr(Cidr, Vec<Cidr>),
    /// Pods and namespaces by label, as canonical JSON.
    Selector(String),
    /// A DNS name or pattern.
    Fqdn(String),
    /// A well-known entity (kebab-case name).
    Entity(String),
}

impl PeerKey {
    fn covers(&self, other: &PeerKey) -> bool {
        match (self, other) {
            (a, b) if a == b => true,
            (PeerKey::Any, _) | (PeerKey::Entity(_), PeerKey::Any) => matches!(self, PeerKey::Any),
            (PeerKey::Entity(e), _) if e == "all" => true,
            (PeerKey::Cidr(a, ex), PeerKey::Cidr(b, _)) => ex.is_empty() && a.contains(b),
            _ => false,
        }
    }

    fn may_overlap(&self, other: &PeerKey) -> bool {
        match (self, other) {
            (PeerKey::Cidr(a, _), PeerKey::Cidr(b, _)) => a.contains(b) || b.contains(a),
            (PeerKey::Fqdn(a), PeerKey::Fqdn(b)) => a == b || a.contains('*') || b.contains('*'),
            _ => true,
        }
    }

    fn specificity(&self) -> (u32, u8) {
        match self {
            PeerKey::Any => (0, 0),
            PeerKey::Cidr(c, _) => (u32::from(c.prefix), 1),
            PeerKey::Entity(_) => (0, 1),
            PeerKey::Selector(_) | PeerKey::Fqdn(_) => (128, 2),
        }
    }
}

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerKey::Any => f.write_str("any peer"),
            PeerKey::Cidr(c, ex) if ex.is_empty() => write!(f, "{c}"),
            PeerKey::Cidr(c, ex) => {
                let ex: Vec<String> = ex.iter().map(Cidr::to_string).collect();
                write!(f, "{c} except {}", ex.join(", "))
            }
            PeerKey::Selector(s) => {
                let v: serde_json::Value = serde_json::from_str(s).unwrap_or_default();
                let sel = |k: &str| v.get(k).filter(|x| !x.is_null()).map(selector_words);
                match (sel("pods"), sel("namespaces")) {
                    (Some(p), Some(n)) => write!(f, "pods {p} in namespaces {n}"),
                    (Some(p), None) => write!(f, "pods {p}"),
                    (None, Some(n)) => write!(f, "namespaces {n}"),
                    (None, None) => f.write_str("pods in the namespace"),
                }
            }
            PeerKey::Fqdn(n) => write!(f, "fqdn {n}"),
            PeerKey::Entity(e) => write!(f, "entity {e}"),
        }
    }
}

/// A label selector in words: `app=web,tier in (a, b)`; `*` for an empty selector.
fn selector_words(v: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    if let Some(m) = v.get("matchLabels").and_then(serde_json::Value::as_object) {
        for (k, val) in m {
            parts.push(format!("{k}={}", val.as_str().unwrap_or_default()));
        }
    }
    for e in v.get("matchExpressions").and_then(serde_json::Value::as_array).into_iter().flatten() {
        let key = e.get("key").and_then(serde_json::Value::as_str).unwrap_or_default();
        let op = e.get("operator").and_then(serde_json::Value::as_str).unwrap_or_default();
        let vals: Vec<&str> = e
            .get("values")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_str)
            .collect();
        parts.push(match op {
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => format!("{key} {} ({})", op.to_ascii_lowercase(), vals.join(", ")),
        });
    }
    if parts.is_empty() { "*".into() } else { parts.join(",") }
}

/// What one IR rule matches.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Matcher {
    /// An executable or file path.
    Path(PathMatcher),
    /// A process name.
    Comm(String),
    /// A network peer and ports.
    Net {
        /// The peer.
        peer: PeerKey,
        /// The ports.
        ports: Ports,
    },
    /// Raw socket creation.
    RawSocket,
    /// A capability (without `CAP_`).
    Capability(String),
    /// A system call.
    Syscall(String),
}

impl Matcher {
    /// Does `self` match everything `other` matches? Conservative.
    pub fn covers(&self, other: &Matcher) -> bool {
        match (self, other) {
            (Matcher::Path(a), Matcher::Path(b)) => a.covers(b),
            (Matcher::Net { peer: pa, ports: a }, Matcher::Net { peer: pb, ports: b }) => {
                pa.covers(pb) && a.contains(b)
            }
            (a, b) => a == b,
        }
    }

    /// Could some operation match both `self` and `other`? Conservative: `true`
    /// unless they are provably disjoint.
    pub fn may_overlap(&self, other: &Matcher) -> bool {
        match (self, other) {
            (Matcher::Path(a), Matcher::Path(b)) => a.may_overlap(b),
            (Matcher::Path(_), Matcher::Comm(_)) | (Matcher::Comm(_), Matcher::Path(_)) => true,
            (Matcher::Net { peer: pa, ports: a }, Matcher::Net { peer: pb, ports: b }) => {
                pa.may_overlap(pb) && a.overlaps(b)
            }
            (a, b) => a == b,
        }
    }

    /// How specific the matcher is (see [`Specificity`]).
    pub fn specificity(&self) -> Specificity {
        match self {
            Matcher::Path(p) => p.specificity(),
            Matcher::Comm(_) => Specificity { prefix: 0, class: 2, extra: 0 },
            Matcher::Net { peer, ports } => {
                let (prefix, class) = peer.specificity();
                Specificity { prefix, class, extra: ports.specificity() }
            }
            Matcher::RawSocket | Matcher::Capability(_) | Matcher::Syscall(_) => {
                Specificity { prefix: 0, class: 3, extra: 0 }
            }
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Path(p) => write!(f, "{p}"),
            Matcher::Comm(c) => write!(f, "comm {c}"),
            Matcher::Net { peer, ports } => write!(f, "{peer} {ports}"),
            Matcher::RawSocket => f.write_str("raw sockets"),
            Matcher::Capability(c) => write!(f, "CAP_{c}"),
            Matcher::Syscall(s) => write!(f, "syscall {s}"),
        }
    }
}

/// Extra conditions a match needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Conditions {
    /// Parent executables (any parent when empty).
    pub parents: Vec<PathMatcher>,
    /// File access kinds (empty outside file rules).
    pub access: BTreeSet<FileAccess>,
    /// Whether the rule carries L7 HTTP rules (which narrow the match).
    pub http: bool,
}

impl Conditions {
    /// Could some operation meet both `self` and `other`? Conservative.
    pub fn may_overlap(&self, other: &Conditions) -> bool {
        let access = self.access.is_empty() || other.access.is_empty() || !self.access.is_disjoint(&other.access);
        let parents = self.parents.is_empty()
            || other.parents.is_empty()
            || self.parents.iter().any(|a| other.parents.iter().any(|b| a.may_overlap(b)));
        access && parents
    }

    /// Does every operation meeting `other` also meet `self`?
    pub fn covers(&self, other: &Conditions) -> bool {
        let parents = self.parents.is_empty()
            || (!other.parents.is_empty() && other.parents.iter().all(|b| self.parents.iter().any(|a| a.covers(b))));
        parents && self.access.is_superset(&other.access) && (!self.http || other.http)
    }
}

/// One rule entry with one matcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrRule {
    /// The rule's name (given, or `<section>-<index>`).
    pub name: Arc<str>,
    /// The section.
    pub section: Section,
    /// The action as written.
    pub action: Action,
    /// The action after `mode: DryRun` is applied.
    pub effective: Action,
    /// What it matches.
    pub matcher: Matcher,
    /// Further conditions (shared by the entries of one rule).
    pub conditions: Arc<Conditions>,
    /// Severity of violations.
    pub severity: Severity,
    /// JSON pointer of the rule (`/spec/process/0`; shared by the rule's entries).
    pub rule_pointer: Arc<str>,
    /// JSON pointer of the entry that produced the matcher (`/spec/process/0/paths/1`).
    pub pointer: Arc<str>,
}

impl IrRule {
    /// The precedence key: specificity first, then Block > Audit > Allow.
    pub fn precedence(&self) -> (Specificity, Action) {
        let mut s = self.matcher.specificity();
        let cond_extra = u8::from(!self.conditions.parents.is_empty()) + u8::from(self.conditions.http);
        s.extra = s.extra.saturating_mul(4).saturating_add(cond_extra);
        (s, self.action)
    }
}

/// A problem found while lowering, at a JSON pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LowerError {
    /// Where.
    pub pointer: String,
    /// What.
    pub kind: LowerErrorKind,
}

/// What is wrong with a value the schema accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LowerErrorKind {
    /// A bad path or glob.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// A bad CIDR.
    #[error(transparent)]
    Cidr(#[from] CidrError),
    /// A CIDR written with host bits set.
    #[error("`{written}` has host bits set; it means {network}")]
    HostBits {
        /// As written.
        written: String,
        /// The network it denotes.
        network: String,
    },
    /// A port range whose end is before its start.
    #[error("port range {port}-{end_port} is empty (endPort < port)")]
    EmptyPortRange {
        /// Start.
        port: u16,
        /// End.
        end_port: u16,
    },
    /// A comm longer than the kernel keeps.
    #[error("comm `{0}` is longer than {COMM_MAX} bytes; the kernel truncates comm, so it can never match")]
    CommTooLong(String),
    /// An unknown capability name.
    #[error("unknown capability `{0}`")]
    UnknownCapability(String),
    /// An unknown syscall name.
    #[error("unknown x86_64 system call `{0}`")]
    UnknownSyscall(String),
    /// An `except` range outside its CIDR.
    #[error("except `{except}` is not inside `{cidr}`, so it excludes nothing")]
    ExceptOutside {
        /// The exception.
        except: String,
        /// The range.
        cidr: String,
    },
    /// A peer with no or several kinds set.
    #[error("a peer sets exactly one of `pods`/`namespaces`, `cidr`, `fqdn`, `entity`; this one sets {0}")]
    PeerKinds(String),
    /// A rule with nothing to match.
    #[error("the rule has nothing to match: set {0}")]
    EmptyRule(&'static str),
    /// Ingress by FQDN.
    #[error("`fqdn` peers apply to egress only")]
    FqdnIngress,
    /// L7 rules on a rule that is not Allow, or without ports.
    #[error("`http` rules need `ports` and action Allow (L7 rules cannot deny)")]
    HttpNeedsAllowAndPorts,
    /// L7 HTTP rules on a port that is not TCP.
    #[error("`http` rules need TCP ports; port {port} is {protocol}")]
    HttpNeedsTcp {
        /// The port.
        port: u16,
        /// Its protocol.
        protocol: String,
    },
}

/// A policy in intermediate form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyIr {
    /// The policy's mode.
    pub mode: Mode,
    /// Action for what no rule matches, per section that has rules.
    pub defaults: Vec<(Section, Action)>,
    /// The rules, in source order (shared with the plans, which refer to them).
    pub rules: Vec<Arc<IrRule>>,
    /// Problems found while lowering.
    pub errors: Vec<LowerError>,
}

struct Lower {
    mode: Mode,
    policy_severity: Severity,
    rules: Vec<Arc<IrRule>>,
    errors: Vec<LowerError>,
    /// Where default rule names are written before they are shared.
    scratch: String,
    /// The last entry's name, rule pointer, pointer and conditions: the entries of
    /// one rule share the rule's (a policy's entries are pushed rule by rule), and
    /// the entries of one network peer with several ports share its pointer.
    last: Option<Shared>,
}

/// What consecutive entries share: name, rule pointer, pointer and conditions.
type Shared = (Arc<str>, Arc<str>, Arc<str>, Arc<Conditions>);

fn effective(mode: Mode, a: Action) -> Action {
    if mode == Mode::DryRun && a == Action::Block { Action::Audit } else { a }
}

impl Lower {
    fn new(mode: Mode, policy_severity: Severity) -> Self {
        Lower { mode, policy_severity, rules: Vec::new(), errors: Vec::new(), scratch: String::new(), last: None }
    }

    fn err(&mut self, pointer: String, kind: impl Into<LowerErrorKind>) {
        self.errors.push(LowerError { pointer, kind: kind.into() });
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        section: Section,
        meta: Option<&RuleMeta>,
        idx: usize,
        action: Action,
        rule_ptr: &str,
        ptr: &str,
        matcher: Matcher,
        conditions: &Conditions,
    ) {
        let n = &mut self.scratch;
        n.clear();
        match meta.and_then(|m| m.name.as_deref()) {
            Some(given) => n.push_str(given),
            None => {
                n.push_str(section_name(section));
                n.push('-');
                crate::text::push_decimal(n, idx as u64);
            }
        }
        let (name, rule_pointer, pointer, conditions) = match self.last.take() {
            Some((name, rp, p, cond)) => (
                if *name == *n.as_str() { name } else { n.as_str().into() },
                if *rp == *rule_ptr { rp } else { rule_ptr.into() },
                if *p == *ptr { p } else { ptr.into() },
                if *cond == *conditions { cond } else { Arc::new(conditions.clone()) },
            ),
            None => (n.as_str().into(), rule_ptr.into(), ptr.into(), Arc::new(conditions.clone())),
        };
        self.last = Some((Arc::clone(&name), Arc::clone(&rule_pointer), Arc::clone(&pointer), Arc::clone(&conditions)));
        let severity = meta.and_then(|m| m.severity).unwrap_or(self.policy_severity);
        self.rules.push(Arc::new(IrRule {
            name,
            section,
            action,
            effective: effective(self.mode, action),
            matcher,
            conditions,
            severity,
            rule_pointer,
            pointer,
        }));
    }

    fn path(&mut self, ptr: &str, s: &str) -> Option<PathMatcher> {
        PathMatcher::path(s).map_err(|e| self.err(ptr.to_string(), e)).ok()
    }

    fn dir(&mut self, ptr: &str, s: &str, recursive: bool) -> Option<PathMatcher> {
        PathMatcher::dir(s, recursive).map_err(|e| self.err(ptr.to_string(), e)).ok()
    }

    fn cidr(&mut self, ptr: &str, s: &str) -> Option<Cidr> {
        match Cidr::parse(s) {
            Ok(c) => {
                if c.had_host_bits {
                    self.err(
                        ptr.to_string(),
                        LowerErrorKind::HostBits { written: s.to_string(), network: c.to_string() },
                    );
                }
                Some(c)
            }
            Err(e) => {
                self.err(ptr.to_string(), e);
                None
            }
        }
    }

    fn ports(&mut self, base: &str, ports: &[polc_api::PortMatch]) -> Vec<Ports> {
        if ports.is_empty() {
            return vec![Ports::ANY];
        }
        let mut out = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            match Ports::from_api(p) {
                Some(x) => out.push(x),
                None => self.err(
                    format!("{base}/{i}/endPort"),
                    LowerErrorKind::EmptyPortRange { port: p.port, end_port: p.end_port.unwrap_or(p.port) },
                ),
            }
        }
        out
    }
}

/// `{base}{field}/{i}`: the pointer of entry `i` of a list (lowering makes one for
/// every entry of every policy, so without the formatting machinery).
fn index_pointer(base: &str, field: &str, i: usize) -> String {
    let mut p = String::with_capacity(base.len() + field.len() + 8);
    p.push_str(base);
    p.push_str(field);
    p.push('/');
    crate::text::push_decimal(&mut p, i as u64);
    p
}

fn section_name(s: Section) -> &'static str {
    match s {
        Section::Process => "process",
        Section::File => "file",
        Section::Network | Section::NetworkIngress => "network",
        Section::Capability => "capabilities",
        Section::Syscall => "syscalls",
        Section::Egress => "egress",
        Section::Ingress => "ingress",
    }
}

/// Lower a PreventionPolicy.
pub fn lower_prevention(spec: &PreventionPolicySpec) -> PolicyIr {
    let mut l = Lower::new(spec.mode, spec.severity);
    for (i, r) in spec.process.iter().enumerate() {
        let rp = index_pointer("/spec/process", "", i);
        let parents: Vec<PathMatcher> = r
            .from_parents
            .iter()
            .enumerate()
            .filter_map(|(j, p)| l.path(&index_pointer(&rp, "/fromParents", j), p))
            .collect();
        let cond = Conditions { parents, ..Conditions::default() };
        if r.paths.is_empty() && r.dirs.is_empty() && r.comms.is_empty() {
            l.err(rp.clone(), LowerErrorKind::EmptyRule("`paths`, `dirs` or `comms`"));
        }
        for (j, p) in r.paths.iter().enumerate() {
            let ptr = index_pointer(&rp, "/paths", j);
            if let Some(m) = l.path(&ptr, p) {
                l.push(Section::Process, Some(&r.meta), i, r.action, &rp, &ptr, Matcher::Path(m), &cond);
            }
        }
        for (j, d) in r.dirs.iter().enumerate() {
            let ptr = index_pointer(&rp, "/dirs", j) + "/path";
            if let Some(m) = l.dir(&ptr, &d.path, d.recursive) {
                l.push(Section::Process, Some(&r.meta), i, r.action, &rp, &ptr, Matcher::Path(m), &cond);
            }
        }
        for (j, c) in r.comms.iter().enumerate() {
            let ptr = index_pointer(&rp, "/comms", j);
            if c.len() > COMM_MAX {
                l.err(ptr, LowerErrorKind::CommTooLong(c.clone()));
            } else {
                l.push(Section::Process, Some(&r.meta), i, r.action, &rp, &ptr, Matcher::Comm(c.clone()), &cond);
            }
        }
    }
    for (i, r) in spec.file.iter().enumerate() {
        let rp = index_pointer("/spec/file", "", i);
        let cond = Conditions { access: r.access.iter().copied().collect(), ..Conditions::default() };
        if r.paths.is_empty() && r.dirs.is_empty() {
            l.err(rp.clone(), LowerErrorKind::EmptyRule("`paths` or `dirs`"));
        }
        if r.access.is_empty() {
            l.err(format!("{rp}/access"), LowerErrorKind::EmptyRule("at least one `access` kind (Read, Write)"));
        }
        for (j, p) in r.paths.iter().enumerate() {
            let ptr = index_pointer(&rp, "/paths", j);
            if let Some(m) = l.path(&ptr, p) {
                l.push(Section::File, Some(&r.meta), i, r.action, &rp, &ptr, Matcher::Path(m), &cond);
            }
        }
        for (j, d) in r.dirs.iter().enumerate() {
            let ptr = index_pointer(&rp, "/dirs", j) + "/path";
            if let Some(m) = l.dir(&ptr, &d.path, d.recursive) {
                l.push(Section::File, Some(&r.meta), i, r.action, &rp, &ptr, Matcher::Path(m), &cond);
            }
        }
    }
    for (i, r) in spec.network.iter().enumerate() {
        let rp = index_pointer("/spec/network", "", i);
        let section = if r.direction == Direction::Ingress { Section::NetworkIngress } else { Section::Network };
        if r.raw_sockets {
            l.push(
                section,
                Some(&r.meta),
                i,
                r.action,
                &rp,
                &format!("{rp}/rawSockets"),
                Matcher::RawSocket,
                &Conditions::default(),
            );
            continue;
        }
        if r.cidrs.is_empty() && r.ports.is_empty() {
            l.err(rp.clone(), LowerErrorKind::EmptyRule("`cidrs`, `ports` or `rawSockets`"));
            continue;
        }
        let ports = l.ports(&format!("{rp}/ports"), &r.ports);
        let mut peers = Vec::new();
        for (j, c) in r.cidrs.iter().enumerate() {
            let ptr = index_pointer(&rp, "/cidrs", j);
            if let Some(c) = l.cidr(&ptr, c) {
                peers.push((ptr, PeerKey::Cidr(c, Vec::new())));
            }
        }
        if r.cidrs.is_empty() {
            peers.push((format!("{rp}/ports"), PeerKey::Any));
        }
        for (ptr, peer) in peers {
            for p in &ports {
                let m = Matcher::Net { peer: peer.clone(), ports: *p };
                l.push(section, Some(&r.meta), i, r.action, &rp, &ptr, m, &Conditions::default());
            }
        }
    }
    for (i, r) in spec.capabilities.iter().enumerate() {
        let rp = index_pointer("/spec/capabilities", "", i);
        for (j, c) in r.capabilities.iter().enumerate() {
            let ptr = index_pointer(&rp, "/capabilities", j);
            let name = c.strip_prefix("CAP_").unwrap_or(c).to_ascii_uppercase();
            if tables::is_capability(&name) {
                l.push(
                    Section::Capability,
                    Some(&r.meta),
                    i,
                    r.action,
                    &rp,
                    &ptr,
                    Matcher::Capability(name),
                    &Conditions::default(),
                );
            } else {
                l.err(ptr, LowerErrorKind::UnknownCapability(c.clone()));
            }
        }
    }
    let mut defaults = Vec::new();
    for (section, present) in [
        (Section::Process, !spec.process.is_empty()),
        (Section::File, !spec.file.is_empty()),
        (Section::Network, spec.network.iter().any(|r| r.direction == Direction::Egress)),
        (Section::NetworkIngress, spec.network.iter().any(|r| r.direction == Direction::Ingress)),
        (Section::Capability, !spec.capabilities.is_empty()),
    ] {
        if present {
            defaults.push((section, spec.default_action));
        }
    }
    PolicyIr { mode: spec.mode, defaults, rules: l.rules, errors: l.errors }
}

/// Lower a RuntimePolicy: each baseline entry becomes an Allow rule, and every
/// baseline section given gets `onAnomaly` as its default.
pub fn lower_runtime(spec: &RuntimePolicySpec) -> PolicyIr {
    let mut l = Lower::new(spec.mode, spec.severity);
    let b = &spec.baseline;
    // One rule per entry (egress entries may make more): baselines run to hundreds.
    l.rules.reserve(
        b.executables.as_ref().map_or(0, Vec::len)
            + b.files.as_ref().map_or(0, Vec::len)
            + b.egress.as_ref().map_or(0, Vec::len)
            + b.syscalls.as_ref().map_or(0, Vec::len)
            + b.capabilities.as_ref().map_or(0, Vec::len),
    );
    let allow = Action::Allow;
    let mut defaults = Vec::new();
    let anomaly = Action::from(spec.on_anomaly);
    if let Some(exes) = &b.executables {
        defaults.push((Section::Process, anomaly));
        for (i, e) in exes.iter().enumerate() {
            let ptr = index_pointer("/spec/baseline/executables", "", i);
            if let Some(m) = l.path(&ptr, e) {
                l.push(Section::Process, None, i, allow, &ptr, &ptr, Matcher::Path(m), &Conditions::default());
            }
        }
    }
    if let Some(files) = &b.files {
        defaults.push((Section::File, anomaly));
        for (i, f) in files.iter().enumerate() {
            let rp = index_pointer("/spec/baseline/files", "", i);
            let ptr = format!("{rp}/path");
            if let Some(m) = l.path(&ptr, &f.path) {
                let cond = Conditions { access: f.access.iter().copied().collect(), ..Conditions::default() };
                l.push(Section::File, None, i, allow, &rp, &ptr, Matcher::Path(m), &cond);
            }
        }
    }
    if let Some(eps) = &b.egress {
        defaults.push((Section::Network, anomaly));
        for (i, e) in eps.iter().enumerate() {
            let rp = index_pointer("/spec/baseline/egress", "", i);
            let ptr = format!("{rp}/cidr");
            let ports = l.ports(&format!("{rp}/ports"), &e.ports);
            if let Some(c) = l.cidr(&ptr, &e.cidr) {
                for p in ports {
                    let m = Matcher::Net { peer: PeerKey::Cidr(c, Vec::new()), ports: p };
                    l.push(Section::Network, None, i, allow, &rp, &ptr, m, &Conditions::default());
                }
            }
        }
    }
    if let Some(calls) = &b.syscalls {
        defaults.push((Section::Syscall, anomaly));
        for (i, s) in calls.iter().enumerate() {
            let ptr = index_pointer("/spec/baseline/syscalls", "", i);
            if tables::syscall_number(s).is_some() {
                l.push(
                    Section::Syscall,
                    None,
                    i,
                    allow,
                    &ptr,
                    &ptr,
                    Matcher::Syscall(s.clone()),
                    &Conditions::default(),
                );
            } else {
                l.err(ptr, LowerErrorKind::UnknownSyscall(s.clone()));
            }
        }
    }
    if let Some(caps) = &b.capabilities {
        defaults.push((Section::Capability, anomaly));
        for (i, c) in caps.iter().enumerate() {
            let ptr = index_pointer("/spec/baseline/capabilities", "", i);
            let name = c.strip_prefix("CAP_").unwrap_or(c).to_ascii_uppercase();
            if tables::is_capability(&name) {
                l.push(
                    Section::Capability,
                    None,
                    i,
                    allow,
                    &ptr,
                    &ptr,
                    Matcher::Capability(name),
                    &Conditions::default(),
                );
            } else {
                l.err(ptr, LowerErrorKind::UnknownCapability(c.clone()));
            }
        }
    }
    PolicyIr { mode: spec.mode, defaults, rules: l.rules, errors: l.errors }
}

fn peer_key(l: &mut Lower, ptr: &str, p: &Peer, ingress: bool) -> Option<PeerKey> {
    let mut set = Vec::new();
    if p.pods.is_some() || p.namespaces.is_some() {
        set.push("pods/namespaces");
    }
    if p.cidr.is_some() {
        set.push("cidr");
    }
    if p.fqdn.is_some() {
        set.push("fqdn");
    }
    if p.entity.is_some() {
        set.push("entity");
    }
    if set.len() != 1 {
        let what = if set.is_empty() { "none".to_string() } else { set.join(" and ") };
        l.err(ptr.to_string(), LowerErrorKind::PeerKinds(what));
        return None;
    }
    if let Some(c) = &p.cidr {
        let cptr = format!("{ptr}/cidr");
        let cidr = l.cidr(&cptr, c)?;
        let mut ex = Vec::new();
        for (k, e) in p.except.iter().enumerate() {
            let eptr = format!("{ptr}/except/{k}");
            if let Some(e2) = l.cidr(&eptr, e) {
                if cidr.contains(&e2) {
                    ex.push(e2);
                } else {
                    l.err(eptr, LowerErrorKind::ExceptOutside { except: e.clone(), cidr: c.clone() });
                }
            }
        }
        return Some(PeerKey::Cidr(cidr, ex));
    }
    if let Some(f) = &p.fqdn {
        if ingress {
            l.err(format!("{ptr}/fqdn"), LowerErrorKind::FqdnIngress);
            return None;
        }
        return Some(PeerKey::Fqdn(f.to_ascii_lowercase()));
    }
    if let Some(e) = &p.entity {
        let name = serde_json::to_value(e).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        return Some(PeerKey::Entity(name));
    }
    let canon = serde_json::json!({"pods": p.pods, "namespaces": p.namespaces}).to_string();
    Some(PeerKey::Selector(canon))
}

/// Lower a NetworkAccessPolicy.
pub fn lower_network(spec: &NetworkAccessPolicySpec) -> PolicyIr {
    let mut l = Lower::new(spec.mode, spec.severity);
    let mut defaults = Vec::new();
    for (section, rules, key) in
        [(Section::Egress, &spec.egress, "egress"), (Section::Ingress, &spec.ingress, "ingress")]
    {
        if !rules.is_empty() {
            defaults.push((section, spec.default_action));
        }
        for (i, r) in rules.iter().enumerate() {
            let rp = format!("/spec/{key}/{i}");
            if !r.http.is_empty() && (r.action != Action::Allow || r.ports.is_empty()) {
                l.err(format!("{rp}/http"), LowerErrorKind::HttpNeedsAllowAndPorts);
            }
            if !r.http.is_empty() {
                for (j, p) in r.ports.iter().enumerate() {
                    if p.protocol != polc_api::Protocol::TCP {
                        let protocol = format!("{:?}", p.protocol);
                        l.err(
                            format!("{rp}/ports/{j}/protocol"),
                            LowerErrorKind::HttpNeedsTcp { port: p.port, protocol },
                        );
                    }
                }
            }
            let ports = l.ports(&format!("{rp}/ports"), &r.ports);
            let mut peers = Vec::new();
            if r.peers.is_empty() {
                peers.push((rp.clone(), PeerKey::Any));
            }
            for (j, p) in r.peers.iter().enumerate() {
                let ptr = index_pointer(&rp, "/peers", j);
                if let Some(k) = peer_key(&mut l, &ptr, p, section == Section::Ingress) {
                    peers.push((ptr, k));
                }
            }
            let cond = Conditions { http: !r.http.is_empty(), ..Conditions::default() };
            for (ptr, peer) in peers {
                for p in &ports {
                    let m = Matcher::Net { peer: peer.clone(), ports: *p };
                    l.push(section, Some(&r.meta), i, r.action, &rp, &ptr, m, &cond);
                }
            }
        }
    }
    PolicyIr { mode: spec.mode, defaults, rules: l.rules, errors: l.errors }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_pointers_are_decimal() {
        for (i, want) in [(0, "/spec/file/0"), (7, "/spec/file/7"), (10, "/spec/file/10"), (40_321, "/spec/file/40321")]
        {
            assert_eq!(index_pointer("/spec/file", "", i), want);
        }
        assert_eq!(index_pointer("/spec/process/3", "/paths", 12), "/spec/process/3/paths/12");
        assert_eq!(index_pointer("", "", usize::MAX), format!("/{}", usize::MAX));
    }
}
