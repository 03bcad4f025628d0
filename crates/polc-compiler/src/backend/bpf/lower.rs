//! Lowering of one plan to map items: every effective rule becomes entries for the
//! ops it governs (with its precedence rank and DryRun-folded action), or a typed
//! error, and a capability verdict.
//!
//! Rules the maps cannot express exactly: an Allow or Audit rule is widened to the
//! tightest form they can express (a superset; the report says so); a Block rule is
//! an error, because widening it would block what the rule does not name.

use super::forms::{self, PathForm};
use super::trie::applies;
use crate::backend::Support;
use crate::cidr::{Cidr, Ports};
use crate::ir::{IrRule, Matcher, PeerKey, Section};
use crate::model::Policy;
use crate::plan::{EffRule, Plan, SectionPlan};
use crate::tables;
use polc_abi::{Decision, Op, PORT_RANGE_MAX, proto};
use polc_api::{Action, FileAccess, Protocol};
use std::collections::{BTreeMap, BTreeSet};

/// Why a rule cannot be compiled for bpf-lsm.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BpfError {
    /// A literal longer than a map key holds.
    #[error("{field} `{value}` is {len} bytes; bpf-lsm map keys hold at most {max} bytes (never truncated)")]
    TooLong {
        /// What it is.
        field: &'static str,
        /// The literal.
        value: String,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A Block glob without an exact form.
    #[error(
        "{what} `{glob}` has no exact bpf-lsm form (a literal prefix with `*`/`**` at the end, `/**/name`, \
         `/**/*suffix`, `/**/name*`, or one `*`, `?` or `**` between a literal prefix and suffix), and widening \
         a Block rule would block paths it does not name; AppArmor enforces it exactly"
    )]
    Glob {
        /// `path` or `parent`.
        what: &'static str,
        /// The glob.
        glob: String,
    },
    /// A Block rule with a parent that only has a suffix or infix form.
    #[error("parent `{parent}` needs an exact path, a directory or a prefix glob for bpf-lsm; AppArmor can express it")]
    Parent {
        /// The parent.
        parent: String,
    },
    /// A Block port range too large to expand.
    #[error(
        "port range {first}-{last} has more than {max} ports; bpf-lsm expands ranges port by port, and widening \
         a Block rule to every port would block ports it does not name; Cilium enforces ranges exactly"
    )]
    PortRange {
        /// First port.
        first: u16,
        /// Last port.
        last: u16,
        /// Limit.
        max: u32,
    },
    /// More overlapping infix globs than a map value holds.
    #[error("more than {max} infix globs overlap at `{prefix}`..`{suffix}`; split them or use AppArmor")]
    InfixOverflow {
        /// Literal prefix.
        prefix: String,
        /// Literal suffix.
        suffix: String,
        /// Candidates per entry.
        max: usize,
    },
    /// More parent classes than the key field holds.
    #[error("the fromParents conditions of this workload form more than {max} parent classes")]
    ParentClasses {
        /// Limit.
        max: usize,
    },
}

/// What a map entry matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ItemKind {
    /// A path form.
    Path(PathForm),
    /// A process name.
    Comm(String),
    /// A network range.
    Net {
        /// Protocol (0 = any).
        proto: u8,
        /// Port (0 = any).
        port: u16,
        /// Range.
        cidr: Cidr,
        /// Holes.
        except: Vec<Cidr>,
    },
    /// A capability number, or 0 for raw sockets.
    Id(u32),
}

/// One rule's contribution to the maps.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    /// Op.
    pub op: Op,
    /// Parent class (0: no parent condition).
    pub pclass: u16,
    /// What it matches.
    pub kind: ItemKind,
    /// The verdict.
    pub decision: Decision,
}

/// The result of lowering one plan.
#[derive(Debug, Default)]
pub(crate) struct Lowered {
    /// Map items.
    pub items: Vec<Item>,
    /// Parent class of exact executables.
    pub parent_exact: BTreeMap<String, u16>,
    /// Parent class of prefixes, per rest class.
    pub parent_prefix: BTreeMap<String, [u16; 3]>,
    /// Parent classes in use.
    pub pclass_count: u16,
    /// Governed ops: default action and the policies it comes from.
    pub ops: BTreeMap<Op, (Action, Vec<String>)>,
    /// Rules that have entries.
    pub rules: BTreeMap<u32, EffRule>,
    /// Verdict per rule: (rule, support).
    pub support: Vec<(EffRule, Support)>,
    /// Errors per rule.
    pub errors: Vec<(EffRule, BpfError)>,
}

/// Precedence rank: literal prefix << 16 | class << 8 | extra.
pub(crate) fn rank(r: &IrRule) -> u32 {
    let (s, _) = r.precedence();
    (s.prefix.min(0xffff) << 16) | (u32::from(s.class) << 8) | u32::from(s.extra)
}

/// The action as the ABI numbers it.
pub(crate) fn action_u8(a: Action) -> u8 {
    match a {
        Action::Allow => polc_abi::action::ALLOW,
        Action::Audit => polc_abi::action::AUDIT,
        Action::Block => polc_abi::action::BLOCK,
    }
}

fn decision(e: &EffRule) -> Decision {
    Decision {
        rule_id: e.id,
        rank: rank(&e.rule),
        action: action_u8(e.rule.effective),
        written: action_u8(e.rule.action),
        pad: [0; 2],
    }
}

fn proto_num(p: Protocol) -> u8 {
    match p {
        Protocol::TCP => proto::TCP,
        Protocol::UDP => proto::UDP,
        Protocol::SCTP => proto::SCTP,
        Protocol::ANY => proto::ANY,
    }
}

/// The op of each section's rules, and the section each op takes its default from.
pub(crate) fn section_ops(s: Section) -> &'static [Op] {
    match s {
        Section::Process => &[Op::Exec],
        Section::File => &[Op::Read, Op::Write],
        Section::Network => &[Op::Connect, Op::RawSocket],
        Section::NetworkIngress => &[Op::Accept, Op::RawSocket],
        Section::Capability => &[Op::Capability],
        Section::Egress => &[Op::NapConnect],
        Section::Ingress => &[Op::NapAccept],
        Section::Syscall => &[],
    }
}

/// Why a NetworkAccessPolicy rule is not expressible in the kernel, if it is not.
fn nap_blocker(r: &IrRule) -> Option<String> {
    if r.conditions.http {
        return Some("L7 HTTP rules are enforced by Cilium only".into());
    }
    match &r.matcher {
        Matcher::Net { peer: PeerKey::Selector(_), .. } => {
            Some("peers by pod or namespace labels are enforced by Cilium (the kernel sees addresses only)".into())
        }
        Matcher::Net { peer: PeerKey::Fqdn(_), .. } => {
            Some("FQDN peers are enforced by Cilium (the kernel sees addresses only)".into())
        }
        Matcher::Net { peer: PeerKey::Entity(e), .. } if e != "all" => {
            Some(format!("entity `{e}` is enforced by Cilium (it needs the cluster's address ranges)"))
        }
        _ => None,
    }
}

struct Ctx<'a> {
    out: Lowered,
    /// (rule, child kinds, parent forms) of process rules with a parent condition.
    conditioned: Vec<(EffRule, Vec<ItemKind>, Vec<PathForm>)>,
    policies: &'a [Policy],
}

/// Lower a plan.
pub(crate) fn lower(plan: &Plan, policies: &[Policy]) -> Lowered {
    let mut cx = Ctx { out: Lowered::default(), conditioned: Vec::new(), policies };
    for sp in &plan.sections {
        cx.section(plan, sp);
    }
    cx.parent_classes();
    cx.out
}

impl Ctx<'_> {
    fn section(&mut self, plan: &Plan, sp: &SectionPlan) {
        if sp.section == Section::Syscall {
            for e in &sp.rules {
                let reason = "system calls are filtered by the seccomp backend".into();
                self.out.support.push((e.clone(), Support::NotExpressible { reason }));
            }
            return;
        }
        if matches!(sp.section, Section::Egress | Section::Ingress)
            && let Some((blocker, why)) = sp.rules.iter().find_map(|e| nap_blocker(&e.rule).map(|w| (e, w)))
        {
            for e in &sp.rules {
                let reason = if e.id == blocker.id {
                    why.clone()
                } else {
                    format!(
                        "bpf-lsm enforces this direction of a NetworkAccessPolicy only when all its rules are \
                         expressible, and rule `{}` is not ({why}); Cilium enforces it",
                        blocker.rule.name
                    )
                };
                self.out.support.push((e.clone(), Support::NotExpressible { reason: reason.into() }));
            }
            return;
        }
        for &op in section_ops(sp.section) {
            let labels = default_sources(plan, self.policies, sp);
            let entry = self.out.ops.entry(op).or_insert((sp.default, Vec::new()));
            // An op fed by two sections (raw sockets) takes the stronger default.
            if sp.default >= entry.0 {
                if sp.default > entry.0 {
                    entry.1.clear();
                }
                entry.0 = sp.default;
                entry.1.extend(labels);
                entry.1.sort();
                entry.1.dedup();
            }
        }
        for e in &sp.rules {
            self.rule(e);
        }
    }

    fn rule(&mut self, e: &EffRule) {
        let mut notes: Vec<String> = Vec::new();
        let d = decision(e);
        let r = &e.rule;
        let res: Result<Vec<(Op, ItemKind)>, BpfError> = match (&r.section, &r.matcher) {
            (Section::Process, Matcher::Path(m)) => {
                self.path(e, m, "path", &mut notes).map(|f| vec![(Op::Exec, ItemKind::Path(f))])
            }
            (Section::Process, Matcher::Comm(c)) => Ok(vec![(Op::Exec, ItemKind::Comm(c.clone()))]),
            (Section::File, Matcher::Path(m)) => self.path(e, m, "path", &mut notes).map(|f| {
                let mut v = Vec::new();
                for (acc, op) in [(FileAccess::Read, Op::Read), (FileAccess::Write, Op::Write)] {
                    if r.conditions.access.contains(&acc) {
                        v.push((op, ItemKind::Path(f.clone())));
                    }
                }
                v
            }),
            (s, Matcher::Net { peer, ports }) => {
                let op = match s {
                    Section::Network => Op::Connect,
                    Section::NetworkIngress => Op::Accept,
                    Section::Egress => Op::NapConnect,
                    _ => Op::NapAccept,
                };
                net(e, op, peer, ports, &mut notes)
            }
            (_, Matcher::RawSocket) => Ok(vec![(Op::RawSocket, ItemKind::Id(0))]),
            (_, Matcher::Capability(c)) => {
                let n = tables::CAPABILITIES.iter().find(|(x, _)| x == c).map_or(u32::MAX, |(_, n)| *n);
                Ok(vec![(Op::Capability, ItemKind::Id(n))])
            }
            _ => {
                let reason = format!("`{}` rules are not enforced by bpf-lsm", r.matcher).into();
                self.out.support.push((e.clone(), Support::NotExpressible { reason }));
                return;
            }
        };
        let parents = match self.parents(e, &mut notes) {
            Ok(p) => p,
            Err(err) => return self.fail(e, err),
        };
        let items = match res {
            Ok(items) => items,
            Err(err) => return self.fail(e, err),
        };
        if parents.is_empty() {
            for (op, kind) in items {
                self.out.items.push(Item { op, pclass: 0, kind, decision: d });
            }
        } else {
            self.conditioned.push((e.clone(), items.into_iter().map(|(_, k)| k).collect(), parents));
        }
        self.out.rules.insert(e.id, e.clone());
        let support =
            if notes.is_empty() { Support::Exact } else { Support::Approximated { reason: notes.join("; ").into() } };
        self.out.support.push((e.clone(), support));
    }

    fn fail(&mut self, e: &EffRule, err: BpfError) {
        self.out.support.push((e.clone(), Support::NotExpressible { reason: err.to_string().into() }));
        self.out.errors.push((e.clone(), err));
    }

    /// The form of a path matcher: exact, widened (Allow/Audit) or an error (Block).
    fn path(
        &self,
        e: &EffRule,
        m: &crate::pattern::PathMatcher,
        what: &'static str,
        notes: &mut Vec<String>,
    ) -> Result<PathForm, BpfError> {
        let form = match forms::classify(m) {
            Some(f) => f,
            None if e.rule.action == Action::Block => return Err(BpfError::Glob { what, glob: m.to_string() }),
            None => {
                let w = forms::widen(m);
                let verb = if e.rule.action == Action::Allow { "allows" } else { "audits" };
                notes.push(format!(
                    "{what} `{m}` has no exact bpf-lsm form; bpf-lsm {verb} {} instead (a superset); AppArmor \
                     enforces the glob exactly",
                    w.describe()
                ));
                w
            }
        };
        match form.too_long() {
            Some((field, value)) => Err(BpfError::TooLong { field, len: value.len(), value, max: polc_abi::PATH_MAX }),
            None => Ok(form),
        }
    }

    /// The parent forms of a process rule: exact paths and prefix forms only.
    fn parents(&self, e: &EffRule, notes: &mut Vec<String>) -> Result<Vec<PathForm>, BpfError> {
        let mut out = Vec::new();
        for p in &e.rule.conditions.parents {
            let f = self.path(e, p, "parent", notes)?;
            let f = match f {
                PathForm::Exact(_) | PathForm::Prefix { .. } => f,
                _ if e.rule.action == Action::Block => return Err(BpfError::Parent { parent: p.to_string() }),
                _ => {
                    let w = forms::widen(p);
                    notes.push(format!("parent `{p}` is widened to {} (a superset)", w.describe()));
                    w
                }
            };
            out.push(f);
        }
        Ok(out)
    }

    /// Parent classes: the distinct sets of conditioned rules a parent executable
    /// enables, found from exact parents and from prefix nodes by rest class.
    fn parent_classes(&mut self) {
        let cond = std::mem::take(&mut self.conditioned);
        if cond.is_empty() {
            return;
        }
        let mut exact: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
        let mut nodes: BTreeSet<String> = BTreeSet::new();
        for (_, _, parents) in &cond {
            for f in parents {
                match f {
                    PathForm::Exact(p) => {
                        exact.insert(p.clone(), BTreeSet::new());
                    }
                    PathForm::Prefix { node, .. } => {
                        nodes.insert(node.clone());
                    }
                    _ => {}
                }
            }
        }
        for (x, set) in exact.iter_mut() {
            set.extend(cond.iter().enumerate().filter(|(_, c)| c.2.iter().any(|f| f.matches(x))).map(|(i, _)| i));
        }
        let mut prefix: BTreeMap<String, [BTreeSet<usize>; 3]> = BTreeMap::new();
        for node in &nodes {
            let mut sets: [BTreeSet<usize>; 3] = Default::default();
            for (i, c) in cond.iter().enumerate() {
                for f in &c.2 {
                    if let PathForm::Prefix { node: p, mask } = f
                        && node.starts_with(p.as_str())
                    {
                        for (k, class) in [forms::EQUAL, forms::DIRECT, forms::DEEP].into_iter().enumerate() {
                            if applies(p.as_bytes(), *mask, node.as_bytes(), class) {
                                sets[k].insert(i);
                            }
                        }
                    }
                }
            }
            prefix.insert(node.clone(), sets);
        }
        let classes: BTreeSet<&BTreeSet<usize>> =
            exact.values().chain(prefix.values().flatten()).filter(|s| !s.is_empty()).collect();
        if classes.len() > usize::from(u16::MAX) {
            let e = cond[0].0.clone();
            return self.fail(&e, BpfError::ParentClasses { max: usize::from(u16::MAX) });
        }
        let id: BTreeMap<&BTreeSet<usize>, u16> = classes.iter().zip(1u16..).map(|(s, i)| (*s, i)).collect();
        let class_of = |s: &BTreeSet<usize>| id.get(s).copied().unwrap_or(0);
        self.out.parent_exact = exact.iter().map(|(x, s)| (x.clone(), class_of(s))).collect();
        self.out.parent_prefix = prefix.iter().map(|(n, s)| (n.clone(), [0, 1, 2].map(|k| class_of(&s[k])))).collect();
        self.out.pclass_count = u16::try_from(id.len()).unwrap_or(u16::MAX);
        for (set, pclass) in &id {
            for &i in set.iter() {
                let (e, kinds, _) = &cond[i];
                for kind in kinds {
                    self.out.items.push(Item {
                        op: Op::Exec,
                        pclass: *pclass,
                        kind: kind.clone(),
                        decision: decision(e),
                    });
                }
            }
        }
    }
}

/// Network entries of a rule: one per family range and (protocol, port).
fn net(
    e: &EffRule,
    op: Op,
    peer: &PeerKey,
    ports: &Ports,
    notes: &mut Vec<String>,
) -> Result<Vec<(Op, ItemKind)>, BpfError> {
    let any = |s: &str| Cidr::parse(s).ok();
    let ranges: Vec<(Cidr, Vec<Cidr>)> = match peer {
        PeerKey::Cidr(c, ex) => vec![(*c, ex.clone())],
        _ => [any("0.0.0.0/0"), any("::/0")].into_iter().flatten().map(|c| (c, Vec::new())).collect(),
    };
    let p = proto_num(ports.protocol);
    let size = u32::from(ports.last) - u32::from(ports.first) + 1;
    let port_list: Vec<u16> = if ports.first <= 1 && ports.last == u16::MAX {
        vec![0]
    } else if size <= PORT_RANGE_MAX {
        (ports.first..=ports.last).collect()
    } else if e.rule.action == Action::Block {
        return Err(BpfError::PortRange { first: ports.first, last: ports.last, max: PORT_RANGE_MAX });
    } else {
        notes.push(format!(
            "port range {}-{} has more than {PORT_RANGE_MAX} ports and is widened to every port; Cilium enforces it \
             exactly",
            ports.first, ports.last
        ));
        vec![0]
    };
    let mut out = Vec::new();
    for (cidr, except) in ranges {
        for &port in &port_list {
            out.push((op, ItemKind::Net { proto: p, port, cidr, except: except.clone() }));
        }
    }
    Ok(out)
}

/// Labels of the plan's policies whose default for the section is the one in force.
fn default_sources(plan: &Plan, policies: &[Policy], sp: &SectionPlan) -> Vec<String> {
    let mut out = Vec::new();
    for &pi in &plan.policies {
        let Some(p) = policies.get(pi) else { continue };
        for &(s, a) in &p.ir.defaults {
            let a = if p.ir.mode == polc_api::Mode::DryRun && a == Action::Block { Action::Audit } else { a };
            if s == sp.section && a == sp.default {
                out.push(p.label());
            }
        }
    }
    out
}
