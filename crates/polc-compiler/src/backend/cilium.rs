//! The Cilium backend: every NetworkAccessPolicy becomes one `CiliumNetworkPolicy`
//! (`cilium.io/v2`, `cilium/<namespace>/polc-<name>.yaml`), and the network rules of a
//! PreventionPolicy become a deny-only one (`polc-<name>-network`).
//!
//! Cilium's policy model differs from polc's, and the capability report says per rule
//! entry where that matters instead of hiding it:
//!
//! - **Deny wins.** Cilium drops what any deny rule matches, whatever allow rules say;
//!   polc lets the most specific rule win. An Allow (or Audit) rule that is more
//!   specific than an overlapping Block rule is therefore *approximated* (Cilium denies
//!   the overlap). The analysis runs over every plan, so Block rules of other policies
//!   selecting the same pods count too. A Block rule that never overrides an allow
//!   rule in a default-deny direction is left out (the default denies it anyway), so
//!   it cannot override a more specific Allow either; one whose every entry never
//!   decides (see [`crate::plan::Dropped`]) is left out as well.
//! - **Default deny is per endpoint, and allow rules are a union.** `defaultAction:
//!   Block` sets `enableDefaultDeny: true` for the direction (exact); `Allow` sets it to
//!   `false` and keeps the allow rules (they count when another NetworkAccessPolicy puts
//!   the pods into default deny, as polc's merged plan says). Needs Cilium >= 1.16.
//!   A direction whose default is Block but which compiles to no rule gets the
//!   documented empty rule (`- {}`) that allows nothing.
//! - **No audit.** Cilium has no audit action: Audit rules are compiled as allow rules
//!   and `defaultAction: Audit` as no default deny, both *approximated* (the traffic is
//!   allowed as polc says, but not reported).
//! - **No dry run.** `mode: DryRun` is compiled from the effective actions (every Block
//!   is an Audit): no deny rule and no default deny is emitted, so nothing is denied,
//!   and every entry that would have blocked is *approximated* (not reported).
//! - **L7 rules.** HTTP rules become `rules.http` (method as an escaped literal, path and
//!   host as the regular expressions they are in both, headers normalised to `Name:
//!   value` / `Name`, which is how Cilium parses them); they need TCP ports, and a rule
//!   with HTTP rules on UDP or SCTP ports is an error. HTTP and FQDN allow rules are
//!   left out of a direction whose default is not Block: before Cilium 1.18 such rules
//!   deny the requests they do not match even with default deny off
//!   (cilium/cilium#38676).
//! - **FQDNs.** `toFQDNs` (`matchName`, or `matchPattern` when the name has a `*`, which
//!   Cilium matches within one DNS label). Cilium learns the addresses of names from the
//!   pod's lookups through its DNS proxy, so polc **adds an egress rule** allowing DNS
//!   to kube-dns (`kube-system`, `k8s-app=kube-dns`, port 53, any name through the
//!   proxy) to every default-deny policy with FQDN allow rules; the FQDN entries are
//!   approximated when the policy does not allow that DNS traffic itself. Deny rules
//!   cannot select names, so an FQDN Block that must override an allow is *not
//!   expressible*.
//! - **CIDRs.** Cilium selects pods and nodes by identity, never by CIDR: a range (wider
//!   than one address) that may hold cluster addresses (RFC 1918, CGNAT, ULA) is
//!   approximated.
//! - **Peers.** A peer with only `pods` stays in the policy's namespace (Cilium adds the
//!   namespace). `namespaces` selects by `io.cilium.k8s.namespace.labels.<key>`, except
//!   `kubernetes.io/metadata.name`, which is the pod's namespace label itself; a
//!   namespace selector always carries the namespace key, so Cilium does not narrow it
//!   to the policy's namespace. Each Cilium rule has one kind of peer (Cilium rejects
//!   mixed ones), so one polc rule may become several.
//! - **PreventionPolicy network rules** become deny rules with `enableDefaultDeny:
//!   false`. Allow-lists (`defaultAction: Block`) are not compiled: Cilium would union
//!   them with the allow rules of every NetworkAccessPolicy on the same pods, whereas
//!   polc enforces both. Policies limited to containers, raw-socket rules and every other
//!   section (exec, files, capabilities, system calls, RuntimePolicy baselines) are not
//!   expressible, once per rule (per baseline section for RuntimePolicy), naming the
//!   backend that enforces them.
//!
//! There is no cluster-scoped polc kind yet, so no `CiliumClusterwideNetworkPolicy` is
//! emitted. Output is deterministic: keys sorted, rules in source order.

use super::{Artifact, Capability, CompileError, Input, Output, Support, Target, object_metadata};
use crate::cidr::{Cidr, Ports};
use crate::ir::{IrRule, Matcher, PeerKey, Section};
use crate::model::{Policy, Spec};
use crate::plan::assign_ids;
use crate::precedence::compare;
use crate::selector;
use polc_api::{
    Action, HttpMatch, LabelSelector, Mode, NetworkAccessPolicySpec, PreventionPolicySpec, Protocol, TrafficRule,
};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const API_VERSION: &str = "cilium.io/v2";
const KIND: &str = "CiliumNetworkPolicy";
/// The label Cilium gives every pod endpoint: its namespace.
const POD_NAMESPACE: &str = "k8s:io.kubernetes.pod.namespace";
/// The prefix of the labels Cilium copies from a pod's namespace.
const NAMESPACE_LABELS: &str = "k8s:io.cilium.k8s.namespace.labels.";
/// The namespace label Kubernetes sets to the namespace's name.
const NAMESPACE_NAME: &str = "kubernetes.io/metadata.name";
/// Cilium's limit of ports per `toPorts` entry.
const MAX_PORTS: usize = 40;
/// Ranges where pod and node addresses usually live.
const CLUSTER_RANGES: [&str; 5] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"];

/// Compile every policy's network rules to CiliumNetworkPolicy objects and report each
/// rule entry of every policy.
pub fn compile(input: &Input<'_>) -> Output {
    super::collect(|sink| compile_to(input, sink))
}

/// [`compile`], giving the files to `sink`.
pub fn compile_to(input: &Input<'_>, sink: &dyn super::Sink) -> Output {
    let mut out = Output::default();
    let ids = assign_ids(input.policies);
    let dec = analyse(input);
    let mut paths: BTreeMap<String, String> = BTreeMap::new();
    let mut texts = super::Interner::default();
    for (pi, p) in input.policies.iter().enumerate() {
        let (ids, dec) = (ids.get(pi).map_or(&[][..], Vec::as_slice), dec.get(pi).map_or(&[][..], Vec::as_slice));
        capabilities(p, ids, dec, &mut texts, &mut out);
        let built = match &p.spec {
            Spec::Network(s) => network_object(p, s, dec),
            Spec::Prevention(s) => prevention_object(p, s, dec),
            Spec::Runtime(_) => Ok(None),
        };
        let (name, body) = match built {
            Ok(Some(x)) => x,
            Ok(None) => continue,
            Err(errs) => {
                out.errors.extend(errs.into_iter().map(|e| e.into_error(p)));
                continue;
            }
        };
        match artifact(p, &name, body) {
            Ok(a) => match paths.get(&a.path) {
                Some(other) => out.errors.push(
                    Problem::new("", "", format!("`{}` is also generated from {other}; rename one policy", a.path))
                        .into_error(p),
                ),
                None => {
                    paths.insert(a.path.clone(), p.label());
                    sink.put(a);
                }
            },
            Err(e) => out.errors.push(e.into_error(p)),
        }
    }
    out
}

/// A problem with one policy, before it becomes a [`CompileError`].
#[derive(Debug)]
struct Problem {
    pointer: String,
    rule: String,
    message: String,
}

impl Problem {
    fn new(pointer: &str, rule: &str, message: impl Into<String>) -> Problem {
        Problem { pointer: pointer.to_string(), rule: rule.to_string(), message: message.into() }
    }

    fn into_error(self, p: &Policy) -> CompileError {
        CompileError {
            backend: Target::Cilium,
            policy: p.label(),
            rule: self.rule,
            location: p.source.locate(&self.pointer),
            message: self.message,
        }
    }
}

// ---------------------------------------------------------------------------------
// Analysis: which entries are compiled, and how exactly.
// ---------------------------------------------------------------------------------

/// What the backend does with one IR rule entry.
#[derive(Clone, Debug, Default)]
struct Decision {
    /// Compiled into a Cilium rule (allow or deny, by its effective action).
    emit: bool,
    /// An effective Block that decides somewhere: compiled when it must override an allow.
    block_candidate: bool,
    /// An L7 allow left out of a direction without default deny.
    omitted_l7: bool,
    /// What differs from polc's semantics.
    notes: Vec<String>,
    /// Why Cilium cannot express it at all (shared: most entries of a large input
    /// are not network rules, and have one of a few reasons).
    not_expressible: Option<Arc<str>>,
}

impl Decision {
    fn support(&self) -> Support {
        if let Some(reason) = &self.not_expressible {
            Support::NotExpressible { reason: Arc::clone(reason) }
        } else if self.notes.is_empty() {
            Support::Exact
        } else {
            Support::Approximated { reason: self.notes.join("; ").into() }
        }
    }

    fn note(&mut self, n: String) {
        if !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }
}

/// Which part of the backend handles an entry.
enum Domain {
    /// A NetworkAccessPolicy's egress or ingress.
    Network,
    /// A PreventionPolicy's network section (deny rules only).
    PreventionNetwork,
    /// Not Cilium's: the reason.
    Outside(Cow<'static, str>),
}

fn domain(p: &Policy, r: &IrRule) -> Domain {
    match (&p.spec, r.section) {
        (Spec::Network(_), Section::Egress | Section::Ingress) => Domain::Network,
        (Spec::Prevention(_), Section::Network | Section::NetworkIngress) if r.matcher == Matcher::RawSocket => {
            Domain::Outside(Cow::Borrowed(
                "raw socket creation is not traffic Cilium sees; enforced by bpf-lsm (socket_create) and apparmor \
                 (`network raw`)",
            ))
        }
        (Spec::Prevention(s), Section::Network | Section::NetworkIngress) if !s.containers.is_empty() => {
            Domain::Outside(Cow::Owned(format!(
                "Cilium enforces per pod and this policy is limited to containers {}: compiled, it would also apply \
                 to the pods' other containers; enforced by bpf-lsm",
                s.containers.join(", ")
            )))
        }
        (Spec::Prevention(_), Section::Network | Section::NetworkIngress) => Domain::PreventionNetwork,
        (Spec::Runtime(_), Section::Network) => Domain::Outside(Cow::Borrowed(
            "RuntimePolicy baselines are allow-lists: Cilium would union them with the allow rules of every other \
             policy selecting the pods and cannot report anomalies; enforced by bpf-lsm (socket_connect)",
        )),
        (_, s) => Domain::Outside(Cow::Borrowed(outside_backend(s))),
    }
}

/// Why an entry of section `s` is not Cilium's, and which backend enforces it.
fn outside_backend(s: Section) -> &'static str {
    macro_rules! only {
        ($rest:literal) => {
            concat!("Cilium enforces network traffic only; ", $rest)
        };
    }
    match s {
        Section::Process => only!("exec rules are enforced by bpf-lsm and apparmor"),
        Section::File => only!("file access rules are enforced by bpf-lsm and apparmor"),
        Section::Capability => only!("capability rules are enforced by bpf-lsm"),
        Section::Syscall => only!("system calls are enforced by seccomp"),
        Section::Network | Section::NetworkIngress | Section::Egress | Section::Ingress => {
            only!("this network rule is enforced by bpf-lsm")
        }
    }
}

/// The policy's default for `s` after `mode: DryRun`, if it has rules there.
fn effective_default(p: &Policy, s: Section) -> Option<Action> {
    p.ir.defaults.iter().find(|(x, _)| *x == s).map(|&(_, a)| fold(p.ir.mode, a))
}

fn fold(mode: Mode, a: Action) -> Action {
    if mode == Mode::DryRun && a == Action::Block { Action::Audit } else { a }
}

/// Does the policy's CiliumNetworkPolicy put the pods into default deny for `s`?
fn default_denies(p: &Policy, s: Section) -> bool {
    matches!(p.spec, Spec::Network(_)) && effective_default(p, s) == Some(Action::Block)
}

fn allowish(r: &IrRule) -> bool {
    r.effective != Action::Block
}

fn peer(r: &IrRule) -> Option<&PeerKey> {
    match &r.matcher {
        Matcher::Net { peer, .. } => Some(peer),
        _ => None,
    }
}

fn is_fqdn(r: &IrRule) -> bool {
    matches!(peer(r), Some(PeerKey::Fqdn(_)))
}

/// Entries that decide in at least one plan (all entries of a policy that is in none).
fn deciding(input: &Input<'_>) -> Vec<Vec<bool>> {
    let ps = input.policies;
    let mut in_plan = vec![false; ps.len()];
    let mut decides: Vec<Vec<bool>> = ps.iter().map(|p| vec![false; p.ir.rules.len()]).collect();
    for plan in input.plans {
        for &pi in &plan.policies {
            if let Some(x) = in_plan.get_mut(pi) {
                *x = true;
            }
        }
        for e in plan.sections.iter().flat_map(|s| &s.rules) {
            let ri = ps.get(e.policy).and_then(|p| p.ir.rules.iter().position(|r| **r == *e.rule));
            if let Some(ri) = ri
                && let Some(d) = decides.get_mut(e.policy).and_then(|d| d.get_mut(ri))
            {
                *d = true;
            }
        }
    }
    for (pi, d) in decides.iter_mut().enumerate() {
        if !in_plan[pi] {
            d.iter_mut().for_each(|x| *x = true);
        }
    }
    decides
}

/// Sets of entries that meet on the same pods in the same direction: per plan and
/// network section, plus each policy that is in no plan on its own.
fn groups(input: &Input<'_>) -> Vec<Vec<(usize, usize)>> {
    const SECTIONS: [Section; 4] = [Section::Egress, Section::Ingress, Section::Network, Section::NetworkIngress];
    let ps = input.policies;
    let members = |pis: &mut dyn Iterator<Item = usize>, s: Section| -> Vec<(usize, usize)> {
        pis.filter_map(|pi| ps.get(pi).map(|p| (pi, p)))
            .flat_map(|(pi, p)| {
                p.ir.rules.iter().enumerate().filter(move |(_, r)| r.section == s).map(move |(ri, _)| (pi, ri))
            })
            .collect()
    };
    let mut out = BTreeSet::new();
    let mut in_plan = vec![false; ps.len()];
    for plan in input.plans {
        for s in SECTIONS {
            out.insert(members(&mut plan.policies.iter().copied(), s));
        }
        for &pi in &plan.policies {
            if let Some(x) = in_plan.get_mut(pi) {
                *x = true;
            }
        }
    }
    for (pi, _) in in_plan.iter().enumerate().filter(|(_, x)| !**x) {
        for s in SECTIONS {
            out.insert(members(&mut std::iter::once(pi), s));
        }
    }
    out.into_iter().filter(|g| !g.is_empty()).collect()
}

fn analyse(input: &Input<'_>) -> Vec<Vec<Decision>> {
    let ps = input.policies;
    let decides = deciding(input);
    let groups = groups(input);
    let mut dec: Vec<Vec<Decision>> = ps.iter().map(|p| vec![Decision::default(); p.ir.rules.len()]).collect();
    let mut reasons = super::Interner::default();
    let rule = |(pi, ri): (usize, usize)| &ps[pi].ir.rules[ri];
    let mut member_of: Vec<Vec<Vec<usize>>> = ps.iter().map(|p| vec![Vec::new(); p.ir.rules.len()]).collect();
    for (gi, g) in groups.iter().enumerate() {
        for &(pi, ri) in g {
            member_of[pi][ri].push(gi);
        }
    }

    // What is compiled as allowed, and which Blocks might be.
    for (pi, p) in ps.iter().enumerate() {
        for (ri, r) in p.ir.rules.iter().enumerate() {
            let d = &mut dec[pi][ri];
            let dom = domain(p, r);
            if let Domain::Outside(reason) = dom {
                d.not_expressible = Some(reasons.get(&reason));
                continue;
            }
            if r.effective == Action::Block {
                d.block_candidate = decides[pi][ri];
                continue;
            }
            if p.ir.mode == Mode::DryRun && r.action == Action::Block {
                d.note(
                    "mode DryRun: not denied, as intended, but Cilium cannot report the match (CiliumNetworkPolicy \
                     has no dry run or audit)"
                        .into(),
                );
            } else if r.effective == Action::Audit {
                d.note(
                    "Audit: the traffic is allowed but Cilium cannot report it (CiliumNetworkPolicy has no audit \
                     action; Hubble shows the flow as forwarded)"
                        .into(),
                );
            }
            if matches!(dom, Domain::Network) {
                if (r.conditions.http || is_fqdn(r)) && !default_denies(p, r.section) {
                    d.omitted_l7 = true;
                } else {
                    d.emit = true;
                }
            }
        }
    }

    // A Block is compiled where it is the only thing that blocks (no default deny), or
    // where it must override an allow rule that it beats.
    let mut compiled = Vec::new();
    for (pi, p) in ps.iter().enumerate() {
        for (ri, r) in p.ir.rules.iter().enumerate() {
            if !dec[pi][ri].block_candidate {
                continue;
            }
            let needed = !default_denies(p, r.section)
                || member_of[pi][ri].iter().map(|&gi| &groups[gi]).any(|g| {
                    g.iter().any(|&a| {
                        let ar = rule(a);
                        dec[a.0][a.1].emit && allowish(ar) && overlap(r, ar) && compare(r, ar) == Ordering::Greater
                    })
                });
            if needed {
                compiled.push((pi, ri));
            }
        }
    }
    for (pi, ri) in compiled {
        let d = &mut dec[pi][ri];
        if is_fqdn(&ps[pi].ir.rules[ri]) {
            d.not_expressible = Some(
                "Cilium deny rules cannot select DNS names (egressDeny has no toFQDNs) and no other polc backend \
                 enforces FQDN peers; use an allow-list (defaultAction: Block) with no Allow rule covering the name"
                    .into(),
            );
        } else {
            d.emit = true;
        }
    }

    // Deny wins in Cilium; and L7 allows left out still matter under another policy's default deny.
    let mut notes: Vec<((usize, usize), String)> = Vec::new();
    for g in &groups {
        for &a in g {
            let ar = rule(a);
            if !allowish(ar) || dec[a.0][a.1].not_expressible.is_some() {
                continue;
            }
            for &b in g {
                let br = rule(b);
                if b != a
                    && dec[b.0][b.1].emit
                    && br.effective == Action::Block
                    && overlap(ar, br)
                    && compare(ar, br) == Ordering::Greater
                {
                    notes.push((
                        a,
                        format!(
                            "Cilium deny rules win over allow rules whatever their specificity: where this rule \
                             overlaps the less specific Block rule `{}` of {} ({}), Cilium denies what polc allows",
                            br.name,
                            ps[b.0].label(),
                            br.matcher
                        ),
                    ));
                }
            }
            if dec[a.0][a.1].omitted_l7
                && let Some(q) = g.iter().map(|&(q, _)| q).find(|&q| q != a.0 && default_denies(&ps[q], ar.section))
            {
                notes.push((
                    a,
                    format!(
                        "not compiled: HTTP and FQDN allow rules are left out while the policy's default for this \
                         direction is not Block (before Cilium 1.18 they deny the requests they do not match, \
                         cilium/cilium#38676); {} puts these pods into default deny, so Cilium denies this traffic",
                        ps[q].label()
                    ),
                ));
            }
        }
    }
    for ((pi, ri), n) in notes {
        dec[pi][ri].note(n);
    }

    // Notes on what was compiled.
    for (pi, p) in ps.iter().enumerate() {
        let dns_note = default_denies(p, Section::Egress) && !allows_dns(p, &dec[pi]);
        for (ri, r) in p.ir.rules.iter().enumerate() {
            let d = &mut dec[pi][ri];
            if !d.emit {
                continue;
            }
            match peer(r) {
                Some(PeerKey::Cidr(c, _)) if may_hold_cluster(c) => d.note(format!(
                    "Cilium matches CIDR peers only outside the cluster: pods and nodes with addresses in {c} are \
                     selected by identity, so this rule does not apply to them (use a pods/namespaces or entity \
                     peer for in-cluster traffic)"
                )),
                Some(PeerKey::Fqdn(_)) if dns_note && allowish(r) => d.note(
                    "Cilium learns the addresses of DNS names from the pod's lookups through its DNS proxy, so polc \
                     adds an egress rule allowing DNS (port 53, any name) to kube-dns in kube-system, which this \
                     policy does not allow itself"
                        .into(),
                ),
                _ => {}
            }
        }
    }
    dec
}

/// Does the policy itself allow DNS to kube-dns (so the rule polc adds for FQDNs opens nothing)?
fn allows_dns(p: &Policy, dec: &[Decision]) -> bool {
    p.ir.rules.iter().zip(dec).any(|(r, d)| {
        let Matcher::Net { peer, ports } = &r.matcher else { return false };
        let dns_port = ports.first <= 53 && 53 <= ports.last && matches!(ports.protocol, Protocol::UDP | Protocol::ANY);
        let dns_peer = match peer {
            PeerKey::Any => true,
            PeerKey::Entity(e) => e == "all" || e == "cluster",
            PeerKey::Selector(s) => parse_selector_peer(s).is_ok_and(|sp| {
                sp.pods.and_then(|p| p.match_labels).is_some_and(|l| l.get("k8s-app").is_some_and(|v| v == "kube-dns"))
            }),
            _ => false,
        };
        r.section == Section::Egress && d.emit && allowish(r) && dns_port && dns_peer
    })
}

/// Does a range wider than one address overlap the ranges pods and nodes usually live
/// in? (A single address is taken to be the external endpoint it names, such as AWS's
/// `fd00:ec2::254`.)
fn may_hold_cluster(c: &Cidr) -> bool {
    !single_address(c)
        && CLUSTER_RANGES.iter().filter_map(|r| Cidr::parse(r).ok()).any(|r| r.contains(c) || c.contains(&r))
}

fn single_address(c: &Cidr) -> bool {
    c.prefix == if c.is_v4() { 32 } else { 128 }
}

/// Can a Cilium rule made from `a` and one made from `b` match the same flow?
/// Conservative: `true` unless the peers or ports are disjoint, or Cilium selects
/// one by identity and the other by address, or one is a DNS name and the other a
/// single address.
fn overlap(a: &IrRule, b: &IrRule) -> bool {
    match (&a.matcher, &b.matcher) {
        (Matcher::Net { peer: pa, ports: xa }, Matcher::Net { peer: pb, ports: xb }) => {
            ports_overlap(xa, xb) && peers_overlap(pa, pb)
        }
        _ => false,
    }
}

fn ports_overlap(a: &Ports, b: &Ports) -> bool {
    (a.protocol == Protocol::ANY || b.protocol == Protocol::ANY || a.protocol == b.protocol)
        && a.first <= b.last
        && b.first <= a.last
}

fn peers_overlap(a: &PeerKey, b: &PeerKey) -> bool {
    use PeerKey::{Any, Cidr as C, Entity, Fqdn, Selector};
    match (a, b) {
        (Any, _) | (_, Any) => true,
        (Entity(x), Entity(y)) => entities_overlap(x, y),
        (Entity(e), other) | (other, Entity(e)) => match other {
            Selector(_) => matches!(e.as_str(), "all" | "cluster"),
            _ => matches!(e.as_str(), "all" | "world" | "kube-apiserver"),
        },
        (C(x, ex), C(y, ey)) => {
            if x.contains(y) {
                !ex.iter().any(|e| e.contains(y))
            } else if y.contains(x) {
                !ey.iter().any(|e| e.contains(x))
            } else {
                false
            }
        }
        (Selector(x), Selector(y)) => !selectors_disjoint(x, y),
        (Fqdn(x), Fqdn(y)) => fqdns_overlap(x, y),
        // A name could resolve anywhere, but not plausibly to one given address.
        (Fqdn(_), C(c, _)) | (C(c, _), Fqdn(_)) => !single_address(c),
        (Selector(_), C(..) | Fqdn(_)) | (C(..) | Fqdn(_), Selector(_)) => false,
    }
}

fn entities_overlap(a: &str, b: &str) -> bool {
    let pair = |x: &str, y: &str| {
        x == y
            || x == "all"
            || (x == "cluster" && matches!(y, "host" | "remote-node" | "kube-apiserver"))
            || (x == "kube-apiserver" && matches!(y, "world" | "host" | "remote-node"))
    };
    pair(a, b) || pair(b, a)
}

/// Two pod selectors that require different values of one label select no common pod.
fn selectors_disjoint(a: &str, b: &str) -> bool {
    let (Ok(a), Ok(b)) = (parse_selector_peer(a), parse_selector_peer(b)) else { return false };
    let conflict = |x: &Option<LabelSelector>, y: &Option<LabelSelector>| {
        let (Some(x), Some(y)) =
            (x.as_ref().and_then(|s| s.match_labels.as_ref()), y.as_ref().and_then(|s| s.match_labels.as_ref()))
        else {
            return false;
        };
        x.iter().any(|(k, v)| y.get(k).is_some_and(|w| w != v))
    };
    conflict(&a.pods, &b.pods) || conflict(&a.namespaces, &b.namespaces)
}

fn fqdns_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_end_matches('.'), b.trim_end_matches('.'));
    match (a.contains('*'), b.contains('*')) {
        _ if a == b => true,
        (false, false) => false,
        (true, false) => dns_pattern_matches(a, b),
        (false, true) => dns_pattern_matches(b, a),
        (true, true) => true,
    }
}

/// Cilium's `matchPattern`: `*` alone matches every name, otherwise `*` matches any run
/// of characters within one label. Dynamic programming, so no input can blow it up.
fn dns_pattern_matches(pattern: &str, name: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    // m[j]: does the pattern prefix so far match name[..j]?
    let mut m = vec![false; n.len() + 1];
    m[0] = true;
    for &c in p {
        let mut next = vec![false; n.len() + 1];
        for j in 0..=n.len() {
            next[j] = if c == b'*' {
                m[j] || (j > 0 && n[j - 1] != b'.' && next[j - 1])
            } else {
                j > 0 && m[j - 1] && n[j - 1].eq_ignore_ascii_case(&c)
            };
        }
        m = next;
    }
    m[n.len()]
}

// ---------------------------------------------------------------------------------
// Capabilities.
// ---------------------------------------------------------------------------------

fn direction_word(s: Section) -> &'static str {
    match s {
        Section::Egress | Section::Network => "egress",
        Section::Ingress | Section::NetworkIngress => "ingress",
        Section::Process => "exec",
        Section::File => "file",
        Section::Capability => "capability",
        Section::Syscall => "syscall",
    }
}

/// The capability lines of one policy (their texts shared through `texts`).
fn capabilities(p: &Policy, ids: &[u32], dec: &[Decision], texts: &mut super::Interner, out: &mut Output) {
    let mut cap = |origin: Arc<crate::model::Origin>, rule_id: u32, matches: String, support: Support| {
        let mut c = Capability { backend: Target::Cilium, rule_id, origin, matches: matches.into(), support };
        c.share(texts);
        c
    };
    // Entries Cilium cannot express: once per rule (per baseline section for RuntimePolicy).
    let mut outside: Vec<(String, Vec<usize>)> = Vec::new();
    for (ri, (r, d)) in p.ir.rules.iter().zip(dec).enumerate() {
        let id = ids.get(ri).copied().unwrap_or(0);
        if d.not_expressible.is_some() && !matches!(domain(p, r), Domain::Network | Domain::PreventionNetwork) {
            let key = match p.spec {
                Spec::Runtime(_) => format!("{:?}", r.section),
                _ => r.rule_pointer.to_string(),
            };
            match outside.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push(ri),
                None => outside.push((key, vec![ri])),
            }
            continue;
        }
        let http = if r.conditions.http { " with HTTP rules" } else { "" };
        let matches = format!("{}: {}{http}", direction_word(r.section), r.matcher);
        out.capabilities.push(cap(p.entry_origin(ri), id, matches, d.support()));
    }
    for (_, ris) in outside {
        let first = &p.ir.rules[ris[0]];
        let rule = match p.spec {
            Spec::Runtime(_) => format!("baseline.{}", baseline_field(first.section)).into(),
            _ => first.name.clone(),
        };
        let mut shown: Vec<String> = ris.iter().take(3).map(|&ri| p.ir.rules[ri].matcher.to_string()).collect();
        if ris.len() > 3 {
            shown.push(format!("and {} more", ris.len() - 3));
        }
        let matches = format!("{}: {}", direction_word(first.section), shown.join(", "));
        let support = dec[ris[0]].support();
        let at = p.rule_origin(ris[0], &rule, &first.rule_pointer);
        out.capabilities.push(cap(at, ids.get(ris[0]).copied().unwrap_or(0), matches, support));
    }
    // Defaults Cilium does not enforce as written.
    for &(section, written) in &p.ir.defaults {
        let prevention = matches!(&p.spec, Spec::Prevention(s) if s.containers.is_empty());
        let relevant = match section {
            Section::Egress | Section::Ingress => matches!(p.spec, Spec::Network(_)),
            Section::Network | Section::NetworkIngress => prevention,
            _ => false,
        };
        if !relevant {
            continue;
        }
        let support = match fold(p.ir.mode, written) {
            Action::Allow => continue,
            Action::Block if prevention => Support::NotExpressible {
                reason: "the Cilium output of PreventionPolicy network rules carries deny rules only: an allow-list \
                         would be unioned with the allow rules of every NetworkAccessPolicy on the same pods; \
                         enforced by bpf-lsm (write a NetworkAccessPolicy for a Cilium allow-list)"
                    .into(),
            },
            Action::Block => continue,
            Action::Audit if written == Action::Block => Support::Approximated {
                reason: "mode DryRun: default deny is not enabled, so nothing is denied, but Cilium cannot report \
                         the traffic the default would block"
                    .into(),
            },
            Action::Audit => Support::Approximated {
                reason: "defaultAction Audit: default deny is not enabled, so what no rule matches is allowed, but \
                         Cilium cannot report it"
                    .into(),
            },
        };
        let matches = format!("{} traffic no rule matches", direction_word(section));
        // The written default, else the spec (a default left to the kind's own).
        let at = p.origin_at("defaultAction".into(), &["/spec/defaultAction", "/spec"]);
        out.capabilities.push(cap(at, 0, matches, support));
    }
}

fn baseline_field(s: Section) -> &'static str {
    match s {
        Section::Process => "executables",
        Section::File => "files",
        Section::Network | Section::NetworkIngress | Section::Egress | Section::Ingress => "egress",
        Section::Syscall => "syscalls",
        Section::Capability => "capabilities",
    }
}

// ---------------------------------------------------------------------------------
// Rendering.
// ---------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Egress,
    Ingress,
}

impl Dir {
    fn name(self) -> &'static str {
        match self {
            Dir::Egress => "egress",
            Dir::Ingress => "ingress",
        }
    }

    fn deny_key(self) -> &'static str {
        match self {
            Dir::Egress => "egressDeny",
            Dir::Ingress => "ingressDeny",
        }
    }

    fn peer_field(self, kind: PeerKind) -> Option<&'static str> {
        Some(match (self, kind) {
            (Dir::Egress, PeerKind::Endpoints) => "toEndpoints",
            (Dir::Egress, PeerKind::Cidr) => "toCIDRSet",
            (Dir::Egress, PeerKind::Fqdn) => "toFQDNs",
            (Dir::Egress, PeerKind::Entities) => "toEntities",
            (Dir::Ingress, PeerKind::Endpoints) => "fromEndpoints",
            (Dir::Ingress, PeerKind::Cidr) => "fromCIDRSet",
            (Dir::Ingress, PeerKind::Entities) => "fromEntities",
            (Dir::Ingress, PeerKind::Fqdn) => return None,
        })
    }
}

/// The kind of peer of a Cilium rule: Cilium rejects rules that combine two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PeerKind {
    Endpoints,
    Cidr,
    Fqdn,
    Entities,
}

type Body = Map<String, Value>;

fn description(p: &Policy) -> String {
    format!("Generated by polc from {}; edit the policy, not this object", p.label())
}

fn network_object(
    p: &Policy,
    spec: &NetworkAccessPolicySpec,
    dec: &[Decision],
) -> Result<Option<(String, Body)>, Vec<Problem>> {
    let mut errs = Vec::new();
    let mut body = Body::new();
    let mut default_deny = Body::new();
    let dirs: [(Dir, Section, &[TrafficRule]); 2] =
        [(Dir::Egress, Section::Egress, &spec.egress), (Dir::Ingress, Section::Ingress, &spec.ingress)];
    for (dir, section, rules) in dirs {
        if rules.is_empty() {
            continue;
        }
        let dd = default_denies(p, section);
        let (mut allow, mut deny) = (Vec::new(), Vec::new());
        let mut fqdns = false;
        for (i, tr) in rules.iter().enumerate() {
            let rp = format!("/spec/{}/{i}", dir.name());
            let entries: Vec<(&IrRule, bool)> =
                p.ir.rules
                    .iter()
                    .zip(dec)
                    .filter(|(r, d)| *r.rule_pointer == *rp && r.section == section && d.emit)
                    .map(|(r, _)| (&**r, r.effective == Action::Block))
                    .collect();
            let allowed: Vec<&IrRule> = entries.iter().filter(|e| !e.1).map(|e| e.0).collect();
            let denied: Vec<&IrRule> = entries.iter().filter(|e| e.1).map(|e| e.0).collect();
            let name = allowed.first().or(denied.first()).map_or("", |r| &*r.name);
            let http = match (allowed.is_empty(), tr.http.is_empty()) {
                (false, false) if tr.action == Action::Allow && !tr.ports.is_empty() => {
                    let mut v = Vec::new();
                    for (k, h) in tr.http.iter().enumerate() {
                        match http_json(h) {
                            Ok(x) => v.push(x),
                            Err(m) => errs.push(Problem::new(&format!("{rp}/http/{k}"), name, m)),
                        }
                    }
                    Some(v)
                }
                (false, false) => {
                    errs.push(Problem::new(&format!("{rp}/http"), name, "`http` rules need `ports` and action Allow"));
                    None
                }
                _ => None,
            };
            fqdns |= allowed.iter().any(|r| is_fqdn(r));
            allow.extend(cilium_rules(&rp, name, &allowed, dir, http.as_deref(), &mut errs));
            deny.extend(cilium_rules(&rp, name, &denied, dir, None, &mut errs));
        }
        if dd && fqdns && dir == Dir::Egress {
            allow.push(dns_rule());
        }
        if dd && allow.is_empty() && deny.is_empty() {
            allow.push(json!({}));
        }
        if allow.is_empty() && deny.is_empty() {
            continue;
        }
        default_deny.insert(dir.name().into(), Value::Bool(dd));
        if !allow.is_empty() {
            body.insert(dir.name().into(), Value::Array(allow));
        }
        if !deny.is_empty() {
            body.insert(dir.deny_key().into(), Value::Array(deny));
        }
    }
    finish(p, &spec.selector, format!("polc-{}", p.name), body, default_deny, errs)
}

fn prevention_object(
    p: &Policy,
    spec: &PreventionPolicySpec,
    dec: &[Decision],
) -> Result<Option<(String, Body)>, Vec<Problem>> {
    let mut errs = Vec::new();
    let mut body = Body::new();
    let mut default_deny = Body::new();
    for (dir, section) in [(Dir::Egress, Section::Network), (Dir::Ingress, Section::NetworkIngress)] {
        let mut deny = Vec::new();
        for i in 0..spec.network.len() {
            let rp = format!("/spec/network/{i}");
            let denied: Vec<&IrRule> =
                p.ir.rules
                    .iter()
                    .zip(dec)
                    .filter(|(r, d)| {
                        *r.rule_pointer == *rp && r.section == section && d.emit && r.effective == Action::Block
                    })
                    .map(|(r, _)| &**r)
                    .collect();
            let name = denied.first().map_or("", |r| &*r.name);
            deny.extend(cilium_rules(&rp, name, &denied, dir, None, &mut errs));
        }
        if !deny.is_empty() {
            default_deny.insert(dir.name().into(), Value::Bool(false));
            body.insert(dir.deny_key().into(), Value::Array(deny));
        }
    }
    finish(p, &spec.selector, format!("polc-{}-network", p.name), body, default_deny, errs)
}

fn finish(
    p: &Policy,
    sel: &LabelSelector,
    name: String,
    mut body: Body,
    default_deny: Body,
    mut errs: Vec<Problem>,
) -> Result<Option<(String, Body)>, Vec<Problem>> {
    if default_deny.is_empty() && errs.is_empty() {
        return Ok(None);
    }
    match selector_json(sel, |k| k.to_string()) {
        Ok(s) => {
            body.insert("endpointSelector".into(), Value::Object(s));
        }
        Err(m) => errs.push(Problem::new("/spec/selector", "", format!("selector: {m}"))),
    }
    body.insert("enableDefaultDeny".into(), Value::Object(default_deny));
    body.insert("description".into(), Value::String(description(p)));
    if errs.is_empty() { Ok(Some((name, body))) } else { Err(errs) }
}

/// The egress rule Cilium's FQDN policies need: DNS to kube-dns through the DNS proxy.
fn dns_rule() -> Value {
    json!({
        "toEndpoints": [{"matchLabels": {POD_NAMESPACE: "kube-system", "k8s:k8s-app": "kube-dns"}}],
        "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}], "rules": {"dns": [{"matchPattern": "*"}]}}],
    })
}

/// The Cilium rules for the compiled entries of one polc rule: one per kind of peer and
/// set of ports, peers in source order.
fn cilium_rules(
    rp: &str,
    name: &str,
    entries: &[&IrRule],
    dir: Dir,
    http: Option<&[Value]>,
    errs: &mut Vec<Problem>,
) -> Vec<Value> {
    let mut slots: Vec<(&str, &PeerKey, Vec<Ports>)> = Vec::new();
    for r in entries {
        let Matcher::Net { peer, ports } = &r.matcher else { continue };
        match slots.iter_mut().find(|s| s.0 == &*r.pointer) {
            Some(s) if !s.2.contains(ports) => s.2.push(*ports),
            Some(_) => {}
            None => slots.push((&r.pointer, peer, vec![*ports])),
        }
    }
    let mut groups: Vec<(PeerKind, Vec<Ports>, Vec<Value>)> = Vec::new();
    for (ptr, peer, ports) in slots {
        let (kind, v) = match peer_json(peer) {
            Ok(x) => x,
            Err(m) => {
                errs.push(Problem::new(ptr, name, m));
                continue;
            }
        };
        match groups.iter_mut().find(|g| g.0 == kind && g.1 == ports) {
            Some(g) if !g.2.contains(&v) => g.2.push(v),
            Some(_) => {}
            None => groups.push((kind, ports, vec![v])),
        }
    }
    let mut out = Vec::new();
    for (kind, ports, mut peers) in groups {
        let Some(field) = dir.peer_field(kind) else {
            errs.push(Problem::new(rp, name, "FQDN peers apply to egress only"));
            continue;
        };
        if kind == PeerKind::Entities {
            peers.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            peers.dedup();
        }
        let mut rule = Body::new();
        rule.insert(field.into(), Value::Array(peers));
        match to_ports(&ports, http) {
            Ok(Some(tp)) => {
                rule.insert("toPorts".into(), tp);
            }
            Ok(None) => {}
            Err(m) => {
                errs.push(Problem::new(&format!("{rp}/ports"), name, m));
                continue;
            }
        }
        out.push(Value::Object(rule));
    }
    out
}

/// `toPorts` for the ports (none for any port), with the HTTP rules on each entry.
fn to_ports(ports: &[Ports], http: Option<&[Value]>) -> Result<Option<Value>, String> {
    if ports.is_empty() || ports.contains(&Ports::ANY) {
        return match http {
            Some(_) => Err("`http` rules need `ports`".into()),
            None => Ok(None),
        };
    }
    let mut list = Vec::new();
    for p in ports {
        if p.first == 0 {
            return Err("port 0 is not a port (Cilium reads it as every port)".into());
        }
        let protocol = match (p.protocol, http.is_some()) {
            (Protocol::TCP, _) | (Protocol::ANY, true) => "TCP",
            (Protocol::UDP | Protocol::SCTP, true) => {
                return Err(format!(
                    "`http` rules apply to TCP only and Cilium rejects them on {:?} ports; give the {:?} port its \
                     own rule",
                    p.protocol, p.protocol
                ));
            }
            (Protocol::UDP, false) => "UDP",
            (Protocol::SCTP, false) => "SCTP",
            (Protocol::ANY, false) => "ANY",
        };
        let mut m = Body::new();
        m.insert("port".into(), Value::String(p.first.to_string()));
        m.insert("protocol".into(), Value::String(protocol.into()));
        if p.last != p.first {
            m.insert("endPort".into(), Value::from(p.last));
        }
        let v = Value::Object(m);
        if !list.contains(&v) {
            list.push(v);
        }
    }
    let entries: Vec<Value> = list
        .chunks(MAX_PORTS)
        .map(|chunk| {
            let mut e = Body::new();
            e.insert("ports".into(), Value::Array(chunk.to_vec()));
            if let Some(h) = http {
                e.insert("rules".into(), json!({ "http": h }));
            }
            Value::Object(e)
        })
        .collect();
    Ok(Some(Value::Array(entries)))
}

fn http_json(h: &HttpMatch) -> Result<Value, String> {
    let mut m = Body::new();
    if let Some(method) = &h.method {
        m.insert("method".into(), Value::String(regex_escape(method)));
    }
    if let Some(path) = &h.path {
        m.insert("path".into(), Value::String(path.clone()));
    }
    if let Some(host) = &h.host {
        m.insert("host".into(), Value::String(host.clone()));
    }
    if !h.headers.is_empty() {
        let headers = h.headers.iter().map(|x| header(x)).collect::<Result<Vec<_>, _>>()?;
        m.insert("headers".into(), json!(headers));
    }
    Ok(Value::Object(m))
}

/// Cilium matches `method` as a regular expression; polc's is a literal.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `Name: value` or `Name`, as Cilium splits it (at the first space, dropping a trailing `:`).
fn header(h: &str) -> Result<String, String> {
    let (name, value) = match h.split_once(':') {
        Some((n, v)) => (n.trim(), v.trim()),
        None => (h.trim(), ""),
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(format!("header `{h}` is not `Name` or `Name: value`"));
    }
    Ok(if value.is_empty() { name.to_string() } else { format!("{name}: {value}") })
}

#[derive(serde::Deserialize)]
struct SelectorPeer {
    pods: Option<LabelSelector>,
    namespaces: Option<LabelSelector>,
}

fn parse_selector_peer(s: &str) -> Result<SelectorPeer, String> {
    serde_json::from_str(s).map_err(|e| format!("internal error: bad selector peer `{s}`: {e}"))
}

fn peer_json(peer: &PeerKey) -> Result<(PeerKind, Value), String> {
    Ok(match peer {
        PeerKey::Any => (PeerKind::Entities, Value::String("all".into())),
        PeerKey::Entity(e) => (PeerKind::Entities, Value::String(e.clone())),
        PeerKey::Cidr(c, except) => {
            let mut m = Body::new();
            m.insert("cidr".into(), Value::String(c.to_string()));
            if !except.is_empty() {
                m.insert("except".into(), except.iter().map(|e| Value::String(e.to_string())).collect());
            }
            (PeerKind::Cidr, Value::Object(m))
        }
        PeerKey::Fqdn(n) => {
            let pattern = n.contains('*');
            if !valid_dns(n, pattern) {
                return Err(format!("`{n}` is not a DNS name or pattern Cilium accepts"));
            }
            let key = if pattern { "matchPattern" } else { "matchName" };
            (PeerKind::Fqdn, json!({ key: n }))
        }
        PeerKey::Selector(s) => {
            let sp = parse_selector_peer(s)?;
            (PeerKind::Endpoints, Value::Object(peer_selector(sp.pods.as_ref(), sp.namespaces.as_ref())?))
        }
    })
}

/// Cilium's `matchName`/`matchPattern` syntax: labels of `[-a-zA-Z0-9_]` (and `*` in
/// patterns), separated by single dots, at most 255 bytes.
fn valid_dns(n: &str, pattern: bool) -> bool {
    let body = n.strip_suffix('.').unwrap_or(n);
    n.len() <= 255
        && !body.is_empty()
        && body.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (pattern && b == b'*'))
        })
}

/// A `toEndpoints`/`fromEndpoints` selector for pods (in the policy's namespace) and
/// namespaces (by their labels).
fn peer_selector(pods: Option<&LabelSelector>, namespaces: Option<&LabelSelector>) -> Result<Body, String> {
    let mut m = match pods {
        Some(p) => selector_json(p, |k| k.to_string()).map_err(|e| format!("pods: {e}"))?,
        None => Body::new(),
    };
    if let Some(ns) = namespaces {
        let n = selector_json(ns, |k| {
            if k == NAMESPACE_NAME { POD_NAMESPACE.to_string() } else { format!("{NAMESPACE_LABELS}{k}") }
        })
        .map_err(|e| format!("namespaces: {e}"))?;
        for (key, v) in n {
            match (m.get_mut(&key), v) {
                (Some(Value::Object(a)), Value::Object(b)) => a.extend(b),
                (Some(Value::Array(a)), Value::Array(b)) => a.extend(b),
                (_, v) => {
                    m.insert(key, v);
                }
            }
        }
        let has_ns = m.get("matchLabels").and_then(Value::as_object).is_some_and(|l| l.contains_key(POD_NAMESPACE))
            || m.get("matchExpressions")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|e| e["key"] == POD_NAMESPACE));
        if !has_ns {
            let exprs = m.entry("matchExpressions").or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = exprs {
                a.push(json!({"key": POD_NAMESPACE, "operator": "Exists"}));
            }
        }
    }
    Ok(m)
}

/// A label selector as Cilium (and the API server) take it, with keys mapped by `key`.
fn selector_json(sel: &LabelSelector, key: impl Fn(&str) -> String) -> Result<Body, String> {
    if let Some((i, e)) = selector::validate(sel).into_iter().next() {
        return Err(format!("matchExpressions[{i}]: {e}"));
    }
    let mut m = Body::new();
    if let Some(labels) = sel.match_labels.as_ref().filter(|l| !l.is_empty()) {
        let mut out = Body::new();
        for (k, v) in labels {
            if !valid_label_value(v) {
                return Err(format!("`{v}` (label `{k}`) is not a valid label value"));
            }
            out.insert(key(k), Value::String(v.clone()));
        }
        m.insert("matchLabels".into(), Value::Object(out));
    }
    if let Some(exprs) = sel.match_expressions.as_ref().filter(|e| !e.is_empty()) {
        let list = exprs
            .iter()
            .map(|e| {
                let mut x = Body::new();
                x.insert("key".into(), Value::String(key(&e.key)));
                x.insert("operator".into(), Value::String(e.operator.clone()));
                if let Some(v) = e.values.as_ref().filter(|v| !v.is_empty()) {
                    x.insert("values".into(), json!(v));
                }
                Value::Object(x)
            })
            .collect();
        m.insert("matchExpressions".into(), Value::Array(list));
    }
    Ok(m)
}

/// A Kubernetes label value: at most 63 characters of `[-A-Za-z0-9_.]`, starting and
/// ending alphanumeric, or empty.
fn valid_label_value(v: &str) -> bool {
    let b = v.as_bytes();
    v.is_empty()
        || (b.len() <= 63
            && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.last().is_some_and(u8::is_ascii_alphanumeric))
}

/// A DNS subdomain name (what Kubernetes takes as an object name), at most 253 bytes.
fn valid_object_name(n: &str) -> bool {
    n.len() <= 253
        && n.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b.first().is_some_and(u8::is_ascii_alphanumeric)
                && b.last().is_some_and(u8::is_ascii_alphanumeric)
        })
}

fn artifact(p: &Policy, name: &str, body: Body) -> Result<Artifact, Problem> {
    if !valid_object_name(name) {
        return Err(Problem::new("", "", format!("`{name}` is not a valid object name (at most 253 characters)")));
    }
    if !valid_object_name(&p.namespace) || p.namespace.contains('.') || p.namespace.len() > 63 {
        return Err(Problem::new("", "", format!("`{}` is not a valid namespace", p.namespace)));
    }
    let object = json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": object_metadata(name, Some(&p.namespace), &[p]),
        "spec": Value::Object(body),
    });
    let yaml = serde_yaml_ng::to_string(&sorted(object))
        .map_err(|e| Problem::new("", "", format!("internal error: cannot write YAML: {e}")))?;
    Ok(Artifact { path: format!("cilium/{}/{name}.yaml", p.namespace), bytes: yaml.into_bytes() })
}

/// The value with every object's keys sorted.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let b: BTreeMap<String, Value> = m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(b.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;
    use crate::plan::plan;
    use polc_api::RuntimePolicySpec;

    fn policy(kind: &str, name: &str, spec: Value) -> Policy {
        let spec = match kind {
            "NetworkAccessPolicy" => Spec::Network(serde_json::from_value(spec).unwrap_or_else(|e| panic!("{e}"))),
            "PreventionPolicy" => Spec::Prevention(serde_json::from_value(spec).unwrap_or_else(|e| panic!("{e}"))),
            _ => Spec::Runtime(serde_json::from_value::<RuntimePolicySpec>(spec).unwrap_or_else(|e| panic!("{e}"))),
        };
        let ir = spec.lower();
        Policy {
            namespace: "shop".into(),
            name: name.into(),
            labels: BTreeMap::new(),
            spec,
            ir,
            source: Source { file: format!("{name}.yaml"), positions: BTreeMap::new() },
            content_hash: "0".repeat(64),
            origins: Default::default(),
        }
    }

    fn nap(name: &str, spec: Value) -> Policy {
        policy("NetworkAccessPolicy", name, spec)
    }

    fn run(policies: &[Policy]) -> Output {
        let plans = plan(policies, &[]);
        compile(&Input { policies, workloads: &[], plans: &plans })
    }

    fn objects(out: &Output) -> BTreeMap<String, Value> {
        out.artifacts
            .iter()
            .map(|a| {
                let v: Value = serde_yaml_ng::from_slice(&a.bytes).unwrap_or_else(|e| panic!("{}: {e}", a.path));
                (a.path.clone(), v)
            })
            .collect()
    }

    fn only_spec(out: &Output) -> Value {
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let objs = objects(out);
        assert_eq!(objs.len(), 1, "{:?}", objs.keys());
        objs.into_values().next().map(|v| v["spec"].clone()).unwrap_or_default()
    }

    fn support(out: &Output, rule: &str) -> Vec<Support> {
        out.capabilities.iter().filter(|c| c.rule() == rule).map(|c| c.support.clone()).collect()
    }

    fn reason(s: &Support) -> &str {
        match s {
            Support::Exact => "",
            Support::Approximated { reason } | Support::NotExpressible { reason } => reason,
        }
    }

    #[test]
    fn allow_list_with_l7_and_namespaces() {
        let out = run(&[nap(
            "web",
            json!({"selector": {"matchLabels": {"app": "web"}}, "egress": [
                {"name": "api", "action": "Allow", "peers": [{"pods": {"matchLabels": {"app": "api"}}}],
                 "ports": [{"port": 80}, {"port": 8000, "endPort": 8010}],
                 "http": [{"method": "GET", "path": "/v1/.*", "host": "api\\.example", "headers": ["X-Team:  a b", "X-Req"]}]},
                {"name": "dns", "action": "Allow", "peers": [{"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}, "pods": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                 "ports": [{"port": 53, "protocol": "UDP"}]},
            ], "ingress": [
                {"name": "mon", "action": "Allow", "peers": [{"namespaces": {"matchLabels": {"team": "mon"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}}]},
            ]}),
        )]);
        let spec = only_spec(&out);
        assert_eq!(spec["endpointSelector"], json!({"matchLabels": {"app": "web"}}));
        assert_eq!(spec["enableDefaultDeny"], json!({"egress": true, "ingress": true}));
        assert_eq!(
            spec["egress"][0],
            json!({"toEndpoints": [{"matchLabels": {"app": "api"}}], "toPorts": [{
                "ports": [{"port": "80", "protocol": "TCP"}, {"endPort": 8010, "port": "8000", "protocol": "TCP"}],
                "rules": {"http": [{"headers": ["X-Team: a b", "X-Req"], "host": "api\\.example", "method": "GET", "path": "/v1/.*"}]},
            }]})
        );
        assert_eq!(
            spec["egress"][1]["toEndpoints"],
            json!([{"matchLabels": {"k8s-app": "kube-dns", POD_NAMESPACE: "kube-system"}}])
        );
        assert_eq!(
            spec["ingress"][0]["fromEndpoints"],
            json!([{"matchLabels": {"k8s:io.cilium.k8s.namespace.labels.team": "mon"}, "matchExpressions": [
                {"key": "k8s:io.cilium.k8s.namespace.labels.env", "operator": "In", "values": ["prod"]},
                {"key": POD_NAMESPACE, "operator": "Exists"},
            ]}])
        );
        assert!(spec.get("egressDeny").is_none());
        assert!(out.capabilities.iter().all(|c| c.support == Support::Exact), "{:?}", out.capabilities);
        assert_eq!(out.artifacts[0].path, "cilium/shop/polc-web.yaml");
    }

    #[test]
    fn peers_of_different_kinds_become_separate_rules() {
        let out = run(&[nap(
            "mixed",
            json!({"selector": {}, "egress": [{"name": "out", "action": "Allow", "peers": [
                {"cidr": "203.0.113.0/24", "except": ["203.0.113.8/29"]}, {"entity": "world"}, {"entity": "kube-apiserver"},
                {"fqdn": "api.example.com"}, {"fqdn": "*.example.org"}, {"pods": {}},
            ], "ports": [{"port": 443}]}]}),
        )]);
        let spec = only_spec(&out);
        let egress = spec["egress"].as_array().cloned().unwrap_or_default();
        let keys: Vec<Vec<&str>> = egress
            .iter()
            .map(|r| r.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default())
            .collect();
        assert_eq!(
            keys,
            vec![
                vec!["toCIDRSet", "toPorts"],
                vec!["toEntities", "toPorts"],
                vec!["toFQDNs", "toPorts"],
                vec!["toEndpoints", "toPorts"],
                vec!["toEndpoints", "toPorts"],
            ]
        );
        assert_eq!(egress[0]["toCIDRSet"], json!([{"cidr": "203.0.113.0/24", "except": ["203.0.113.8/29"]}]));
        assert_eq!(egress[1]["toEntities"], json!(["kube-apiserver", "world"]));
        assert_eq!(egress[2]["toFQDNs"], json!([{"matchName": "api.example.com"}, {"matchPattern": "*.example.org"}]));
        assert_eq!(egress[3]["toEndpoints"], json!([{}]));
        // polc adds the DNS proxy rule, and says so on the FQDN entries (the policy allows no DNS itself).
        assert_eq!(egress[4], dns_rule());
        let fqdn: Vec<&Capability> = out.capabilities.iter().filter(|c| c.matches.contains("fqdn")).collect();
        assert_eq!(fqdn.len(), 2);
        assert!(fqdn.iter().all(|c| reason(&c.support).contains("adds an egress rule allowing DNS")), "{fqdn:?}");
    }

    #[test]
    fn block_rules_become_deny_rules_only_where_they_override() {
        let out = run(&[nap(
            "deny",
            json!({"selector": {}, "egress": [
                {"name": "world", "action": "Allow", "peers": [{"cidr": "0.0.0.0/0"}]},
                {"name": "no-metadata", "action": "Block", "peers": [{"cidr": "169.254.169.254/32"}], "ports": [{"port": 80}]},
                {"name": "telnet", "action": "Block", "peers": [{"cidr": "198.51.100.0/24"}], "ports": [{"port": 23}]},
                {"name": "no-pods", "action": "Block", "peers": [{"pods": {"matchLabels": {"app": "db"}}}]},
            ]}),
        )]);
        let spec = only_spec(&out);
        assert_eq!(
            spec["egressDeny"],
            json!([
                {"toCIDRSet": [{"cidr": "169.254.169.254/32"}], "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]},
                {"toCIDRSet": [{"cidr": "198.51.100.0/24"}], "toPorts": [{"ports": [{"port": "23", "protocol": "TCP"}]}]},
            ])
        );
        // The pods Block overrides nothing (CIDRs never select pods in Cilium): default deny does it.
        assert_eq!(support(&out, "no-pods"), vec![Support::Exact]);
        assert_eq!(support(&out, "no-metadata"), vec![Support::Exact]);
        // 0.0.0.0/0 also covers cluster ranges Cilium selects by identity.
        assert!(reason(&support(&out, "world")[0]).contains("only outside the cluster"));
    }

    #[test]
    fn a_more_specific_allow_under_a_block_is_approximated() {
        let out = run(&[nap(
            "prec",
            json!({"selector": {}, "defaultAction": "Allow", "egress": [
                {"name": "block-net", "action": "Block", "peers": [{"cidr": "203.0.113.0/24"}]},
                {"name": "allow-host", "action": "Allow", "peers": [{"cidr": "203.0.113.7/32"}], "ports": [{"port": 443}]},
                {"name": "allow-other", "action": "Allow", "peers": [{"cidr": "198.51.100.0/24"}]},
            ]}),
        )]);
        let spec = only_spec(&out);
        assert_eq!(spec["enableDefaultDeny"], json!({"egress": false}));
        assert_eq!(spec["egressDeny"], json!([{"toCIDRSet": [{"cidr": "203.0.113.0/24"}]}]));
        assert_eq!(spec["egress"].as_array().map(Vec::len), Some(2));
        let s = support(&out, "allow-host");
        assert!(reason(&s[0]).contains("deny rules win") && reason(&s[0]).contains("block-net"), "{s:?}");
        assert_eq!(support(&out, "allow-other"), vec![Support::Exact]);
        assert_eq!(support(&out, "block-net"), vec![Support::Exact]);
    }

    #[test]
    fn conflicts_across_policies_on_the_same_pods() {
        let a = nap(
            "a",
            json!({"selector": {"matchLabels": {"app": "x"}}, "defaultAction": "Allow",
                   "egress": [{"name": "block-all-443", "action": "Block", "ports": [{"port": 443}]}]}),
        );
        let b = nap(
            "b",
            json!({"selector": {"matchLabels": {"app": "x"}},
                   "egress": [{"name": "api", "action": "Allow", "peers": [{"entity": "world"}], "ports": [{"port": 443}]}]}),
        );
        let w = crate::model::Workload {
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "x".into(),
            labels: [("app".to_string(), "x".to_string())].into(),
            containers: vec!["c".into()],
            ..Default::default()
        };
        let policies = [a, b];
        let plans = plan(&policies, std::slice::from_ref(&w));
        let out = compile(&Input { policies: &policies, workloads: std::slice::from_ref(&w), plans: &plans });
        let s = support(&out, "api");
        assert!(reason(&s[0]).contains("NetworkAccessPolicy shop/a"), "{s:?}");
    }

    #[test]
    fn audit_and_dry_run_never_deny() {
        let audit = nap(
            "audit",
            json!({"selector": {}, "defaultAction": "Audit", "egress": [
                {"name": "watch", "action": "Audit", "peers": [{"entity": "world"}]},
                {"name": "stop", "action": "Block", "peers": [{"cidr": "192.0.2.0/24"}]},
            ]}),
        );
        let dry = nap(
            "dry",
            json!({"selector": {}, "mode": "DryRun", "egress": [
                {"name": "stop", "action": "Block", "peers": [{"cidr": "192.0.2.0/24"}]},
                {"name": "web", "action": "Allow", "peers": [{"entity": "world"}], "ports": [{"port": 80}], "http": [{"method": "GET"}]},
            ]}),
        );
        // Where lint puts them: the written default, and the spec of a policy that
        // leaves its default to the kind (DryRun of a NetworkAccessPolicy's Block).
        let (mut audit, mut dry) = (audit, dry);
        audit.source.positions.insert("/spec/defaultAction".into(), (7, 18));
        audit.source.positions.insert("/spec".into(), (6, 3));
        dry.source.positions.insert("/spec".into(), (5, 3));
        let out = run(&[audit, dry]);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let default_at = |policy: &str| {
            let c = out.capabilities.iter().find(|c| c.policy().ends_with(policy) && c.rule() == "defaultAction");
            c.map(|c| c.source().to_string())
        };
        assert_eq!(default_at("/audit").as_deref(), Some("audit.yaml:7:18"));
        assert_eq!(default_at("/dry").as_deref(), Some("dry.yaml:5:3"));
        let objs = objects(&out);
        let a = &objs["cilium/shop/polc-audit.yaml"]["spec"];
        assert_eq!(a["enableDefaultDeny"], json!({"egress": false}));
        assert_eq!(a["egressDeny"], json!([{"toCIDRSet": [{"cidr": "192.0.2.0/24"}]}]));
        let d = &objs["cilium/shop/polc-dry.yaml"]["spec"];
        assert_eq!(d["enableDefaultDeny"], json!({"egress": false}));
        assert!(d.get("egressDeny").is_none(), "{d}");
        // The HTTP allow is left out (no default deny); the DryRun Block is compiled as allowed traffic.
        assert_eq!(d["egress"], json!([{"toCIDRSet": [{"cidr": "192.0.2.0/24"}]}]));
        let dr: Vec<&Capability> = out.capabilities.iter().filter(|c| c.policy().ends_with("/dry")).collect();
        assert!(dr.iter().any(|c| c.rule() == "stop" && reason(&c.support).contains("mode DryRun")), "{dr:?}");
        assert!(dr.iter().any(|c| c.rule() == "defaultAction" && reason(&c.support).contains("mode DryRun")), "{dr:?}");
        assert!(dr.iter().any(|c| c.rule() == "web" && c.support == Support::Exact), "{dr:?}");
        let au: Vec<&Capability> = out.capabilities.iter().filter(|c| c.policy().ends_with("/audit")).collect();
        assert!(au.iter().any(|c| c.rule() == "watch" && reason(&c.support).starts_with("Audit")), "{au:?}");
        assert!(au.iter().any(|c| c.rule() == "defaultAction" && reason(&c.support).contains("defaultAction Audit")));
    }

    #[test]
    fn default_deny_with_nothing_allowed_gets_the_empty_rule() {
        let out = run(&[nap(
            "closed",
            json!({"selector": {}, "ingress": [{"name": "x", "action": "Block", "peers": [{"entity": "world"}]}]}),
        )]);
        let spec = only_spec(&out);
        assert_eq!(spec["ingress"], json!([{}]));
        assert_eq!(spec["enableDefaultDeny"], json!({"ingress": true}));
        assert!(spec.get("ingressDeny").is_none());
    }

    #[test]
    fn fqdn_block_that_must_override_is_not_expressible() {
        let out = run(&[nap(
            "f",
            json!({"selector": {}, "defaultAction": "Allow", "egress": [
                {"name": "no-evil", "action": "Block", "peers": [{"fqdn": "evil.example.com"}]},
            ]}),
        )]);
        assert!(out.artifacts.is_empty());
        assert!(
            matches!(&support(&out, "no-evil")[0], Support::NotExpressible { reason } if reason.contains("toFQDNs"))
        );
    }

    #[test]
    fn prevention_network_rules_are_deny_only() {
        let pp = policy(
            "PreventionPolicy",
            "guard",
            json!({"selector": {"matchLabels": {"app": "x"}}, "network": [
                {"name": "meta", "action": "Block", "cidrs": ["169.254.169.254/32", "fd00:ec2::254/128"], "ports": [{"port": 80}]},
                {"name": "in", "action": "Block", "direction": "Ingress", "cidrs": ["10.0.0.0/8"]},
                {"name": "raw", "action": "Block", "rawSockets": true},
                {"name": "ok", "action": "Allow", "cidrs": ["169.254.169.254/32"], "ports": [{"port": 80, "protocol": "UDP"}]},
            ], "process": [{"name": "no-sh", "action": "Block", "paths": ["/bin/sh", "/bin/bash"]}]}),
        );
        let out = run(&[pp]);
        let spec = only_spec(&out);
        assert_eq!(out.artifacts[0].path, "cilium/shop/polc-guard-network.yaml");
        assert_eq!(spec["enableDefaultDeny"], json!({"egress": false, "ingress": false}));
        assert_eq!(
            spec["egressDeny"],
            json!([{"toCIDRSet": [{"cidr": "169.254.169.254/32"}, {"cidr": "fd00:ec2::254/128"}],
                    "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}])
        );
        assert_eq!(spec["ingressDeny"], json!([{"fromCIDRSet": [{"cidr": "10.0.0.0/8"}]}]));
        assert!(spec.get("egress").is_none());
        assert!(matches!(&support(&out, "raw")[0], Support::NotExpressible { reason } if reason.contains("bpf-lsm")));
        let sh = support(&out, "no-sh");
        assert_eq!(sh.len(), 1, "once per rule");
        assert!(matches!(&sh[0], Support::NotExpressible { reason } if reason.contains("apparmor")));
        assert!(reason(&support(&out, "in")[0]).contains("only outside the cluster"));
        assert_eq!(support(&out, "ok"), vec![Support::Exact]);
    }

    #[test]
    fn prevention_dry_run_and_allow_lists_compile_to_nothing() {
        let dry = policy(
            "PreventionPolicy",
            "dry",
            json!({"selector": {}, "mode": "DryRun", "network": [{"name": "m", "action": "Block", "cidrs": ["169.254.169.254/32"]}]}),
        );
        let list = policy(
            "PreventionPolicy",
            "list",
            json!({"selector": {}, "defaultAction": "Block", "network": [{"name": "ok", "action": "Allow", "ports": [{"port": 443}]}]}),
        );
        let only = policy(
            "PreventionPolicy",
            "only",
            json!({"selector": {}, "containers": ["app"], "network": [{"name": "m", "action": "Block", "cidrs": ["169.254.169.254/32"]}]}),
        );
        let out = run(&[dry, list, only]);
        assert!(out.artifacts.is_empty() && out.errors.is_empty(), "{:?} {:?}", out.artifacts, out.errors);
        let by = |pol: &str, rule: &str| {
            out.capabilities.iter().find(|c| c.policy().ends_with(pol) && c.rule() == rule).map(|c| c.support.clone())
        };
        assert!(reason(&by("/dry", "m").unwrap_or(Support::Exact)).contains("mode DryRun"));
        assert!(matches!(by("/list", "defaultAction"), Some(Support::NotExpressible { .. })));
        assert!(reason(&by("/only", "m").unwrap_or(Support::Exact)).contains("containers app"));
    }

    #[test]
    fn runtime_baselines_are_reported_per_section() {
        let rt = policy(
            "RuntimePolicy",
            "rt",
            json!({"selector": {}, "baseline": {"executables": ["/app", "/bin/sh"], "syscalls": ["read", "write", "openat", "close", "mmap"],
                   "egress": [{"cidr": "10.0.0.0/8"}]}}),
        );
        let out = run(&[rt]);
        assert!(out.artifacts.is_empty());
        let rules: Vec<(&str, &str)> = out.capabilities.iter().map(|c| (c.rule(), &*c.matches)).collect();
        assert_eq!(
            rules,
            vec![
                ("baseline.executables", "exec: /app, /bin/sh"),
                ("baseline.egress", "egress: 10.0.0.0/8 any port/ANY"),
                ("baseline.syscalls", "syscall: syscall read, syscall write, syscall openat, and 2 more"),
            ]
        );
        assert!(out.capabilities.iter().all(|c| matches!(c.support, Support::NotExpressible { .. })));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let out = run(&[
            nap(
                "udp-http",
                json!({"selector": {}, "egress": [{"name": "h", "action": "Allow", "ports": [{"port": 53, "protocol": "UDP"}], "http": [{"method": "GET"}]}]}),
            ),
            nap(
                "bad-header",
                json!({"selector": {}, "egress": [{"name": "h", "action": "Allow", "ports": [{"port": 80}], "http": [{"headers": [": x"]}]}]}),
            ),
            nap(
                "bad-label",
                json!({"selector": {"matchLabels": {"app": "not valid!"}}, "egress": [{"name": "h", "action": "Allow"}]}),
            ),
            nap(
                "bad-op",
                json!({"selector": {"matchExpressions": [{"key": "a", "operator": "Equals"}]}, "egress": [{"name": "h", "action": "Allow"}]}),
            ),
            nap("x-network", json!({"selector": {}, "egress": [{"name": "h", "action": "Allow"}]})),
            policy(
                "PreventionPolicy",
                "x",
                json!({"selector": {}, "network": [{"name": "m", "action": "Block", "ports": [{"port": 1}]}]}),
            ),
            nap(&"n".repeat(260), json!({"selector": {}, "egress": [{"name": "h", "action": "Allow"}]})),
        ]);
        let msgs: Vec<String> = out.errors.iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 6, "{msgs:#?}");
        for want in [
            "apply to TCP only",
            "is not `Name`",
            "not a valid label value",
            "unknown operator",
            "also generated from",
            "not a valid object name",
        ] {
            assert!(msgs.iter().any(|m| m.contains(want)), "{want}: {msgs:#?}");
        }
        assert_eq!(out.artifacts.len(), 1);
    }

    #[test]
    fn overlap_rules() {
        let c = |s: &str| Cidr::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(peers_overlap(&PeerKey::Cidr(c("10.0.0.0/8"), vec![]), &PeerKey::Cidr(c("10.1.0.0/16"), vec![])));
        assert!(!peers_overlap(
            &PeerKey::Cidr(c("10.0.0.0/8"), vec![c("10.1.0.0/16")]),
            &PeerKey::Cidr(c("10.1.2.0/24"), vec![])
        ));
        assert!(!peers_overlap(&PeerKey::Cidr(c("10.0.0.0/8"), vec![]), &PeerKey::Selector("{}".into())));
        assert!(!peers_overlap(&PeerKey::Entity("world".into()), &PeerKey::Entity("cluster".into())));
        assert!(peers_overlap(&PeerKey::Entity("cluster".into()), &PeerKey::Entity("host".into())));
        let sel = |app: &str| PeerKey::Selector(json!({"pods": {"matchLabels": {"app": app}}}).to_string());
        assert!(!peers_overlap(&sel("a"), &sel("b")) && peers_overlap(&sel("a"), &sel("a")));
        let fqdn = PeerKey::Fqdn("api.example.com".into());
        assert!(!peers_overlap(&fqdn, &PeerKey::Cidr(c("169.254.169.254/32"), vec![])));
        assert!(peers_overlap(&fqdn, &PeerKey::Cidr(c("0.0.0.0/0"), vec![])));
        assert!(dns_pattern_matches("*.example.com", "api.example.com"));
        assert!(!dns_pattern_matches("*.example.com", "a.b.example.com"));
        assert!(dns_pattern_matches("*", "a.b.c"));
        assert!(!fqdns_overlap("a.example.com", "b.example.com") && fqdns_overlap("a.example.com", "*.example.com"));
        let long = format!("{}x", "*a".repeat(200));
        assert!(!dns_pattern_matches(&long, &"a".repeat(250)));
        assert!(
            may_hold_cluster(&c("0.0.0.0/0"))
                && may_hold_cluster(&c("10.2.0.0/16"))
                && !may_hold_cluster(&c("169.254.169.254/32"))
                && !may_hold_cluster(&c("fd00:ec2::254/128"))
        );
    }

    #[test]
    fn output_is_deterministic_and_sorted() {
        let p = nap(
            "d",
            json!({"selector": {"matchLabels": {"z": "1", "a": "2"}}, "egress": [{"name": "h", "action": "Allow", "peers": [{"entity": "world"}, {"entity": "cluster"}]}]}),
        );
        let a = run(std::slice::from_ref(&p));
        let b = run(&[p]);
        assert_eq!(a, b);
        let text = String::from_utf8_lossy(&a.artifacts[0].bytes).into_owned();
        let keys: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ')).collect();
        assert_eq!(keys, vec!["apiVersion: cilium.io/v2", "kind: CiliumNetworkPolicy", "metadata:", "spec:"]);
        assert!(text.contains("- cluster\n") && text.find("- cluster") < text.find("- world"), "{text}");
        assert!(text.contains("app.kubernetes.io/managed-by: polc"), "{text}");
    }
}
