//! Resolution of policies into one plan per selected workload container: the
//! effective rules of each section after precedence, the section defaults, DryRun
//! folded in, and stable rule ids. Every backend, `polc explain` and the conflict
//! checks start from these plans.

use crate::ir::{IrRule, Section};
use crate::model::{Origin, Policy, Workload};
use crate::precedence::{Relation, overlaps};
use crate::selector;
use polc_api::{Action, PolcKind};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// What a plan is for: one container of one workload, or a policy compiled on its
/// own when no linted workload matches it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Target {
    /// Namespace.
    pub namespace: String,
    /// Workload kind, or `Policy` for a standalone policy.
    pub kind: String,
    /// Workload (or policy) name.
    pub name: String,
    /// Container name, or `*` for every container.
    pub container: String,
}

impl Target {
    /// `namespace/kind/name/container`.
    pub fn id(&self) -> String {
        format!("{}/{}/{}/{}", self.namespace, self.kind, self.name, self.container)
    }

    /// A file-name-safe stem: `namespace.kind.name.container` with the kind in
    /// lowercase (`policy` for a standalone policy), `*` written as `all`, and any
    /// character but ASCII letters, digits, `.`, `-` and `_` written as `_`. Every
    /// backend that writes a file per target names it by this stem, and AppArmor
    /// names its profile `polc.<stem>`. Valid Kubernetes names never make two targets
    /// share a stem (namespaces and container names have no dots); input that does
    /// is an error of the compile ([`crate::backend::compile_to`]).
    pub fn stem(&self) -> String {
        let c = if self.container == "*" { "all" } else { &self.container };
        let mut s = format!("{}.{}.{}.{c}", self.namespace, self.kind.to_ascii_lowercase(), self.name);
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) {
            s = s
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
                .collect();
        }
        s
    }

    /// `Kind namespace/name` of the workload (or policy) the target is for.
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// An effective rule of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffRule {
    /// Stable rule id (non-zero): what kernel events carry.
    pub id: u32,
    /// Index of the policy in the compiler's input.
    pub policy: usize,
    /// The policy's label, the rule's name and the entry's `file:line:col` (shared
    /// with every plan and capability line of the entry: [`Policy::origins`]).
    pub origin: Arc<Origin>,
    /// The rule (shared by the plans that have it).
    pub rule: Arc<IrRule>,
}

impl EffRule {
    /// `Kind namespace/name` of the policy.
    pub fn policy_label(&self) -> &Arc<str> {
        &self.origin.policy
    }

    /// `file:line:col` of the rule entry.
    pub fn source(&self) -> &Arc<str> {
        &self.origin.source
    }
}

/// As before the origins were shared: `id`, `policy_label` and `source`.
impl Serialize for EffRule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("EffRule", 3)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("policy_label", &self.origin.policy)?;
        st.serialize_field("source", &self.origin.source)?;
        st.end()
    }
}

/// The effective rules of one section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SectionPlan {
    /// The section.
    pub section: Section,
    /// What no rule matches gets (the strongest default of the policies with rules here).
    pub default: Action,
    /// Rules, most precedent first.
    pub rules: Vec<EffRule>,
}

/// A rule that is in no plan because another always decides instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// The rule that never decides.
    pub rule: EffRule,
    /// Why.
    pub relation: Relation,
    /// Id of the rule that decides instead.
    pub winner: u32,
}

/// The plan of one target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// What it is for.
    pub target: Target,
    /// Indices of the policies that apply.
    #[serde(skip)]
    pub policies: Vec<usize>,
    /// Sections with rules.
    pub sections: Vec<SectionPlan>,
    /// Rules that never decide for this target (reported, not silently dropped).
    pub dropped: Vec<Dropped>,
}

impl Plan {
    /// The section plan for `s`, if the target has rules there.
    pub fn section(&self, s: Section) -> Option<&SectionPlan> {
        self.sections.iter().find(|x| x.section == s)
    }
}

/// Stable id of a rule entry: FNV-1a over namespace, policy, rule name and entry pointer.
pub fn rule_id(p: &Policy, r: &IrRule, salt: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5 ^ salt;
    for part in [p.spec.kind().as_str(), &p.namespace, &p.name, &r.name, &r.pointer] {
        for b in part.bytes().chain([0]) {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    if h == 0 { 1 } else { h }
}

/// Assign ids to every rule of every policy, unique across the input (a collision
/// is resolved by rehashing the later rule, in input order, so ids stay stable).
pub fn assign_ids(policies: &[Policy]) -> Vec<Vec<u32>> {
    let mut used = HashSet::with_capacity(policies.iter().map(|p| p.ir.rules.len()).sum());
    policies
        .iter()
        .map(|p| {
            p.ir.rules
                .iter()
                .map(|r| {
                    let mut salt = 0;
                    loop {
                        let id = rule_id(p, r, salt);
                        if used.insert(id) {
                            return id;
                        }
                        salt += 1;
                    }
                })
                .collect()
        })
        .collect()
}

fn selects(p: &Policy, w: &Workload, container: &str) -> bool {
    p.namespace == w.namespace
        && selector::matches(p.spec.selector(), &w.labels)
        && (p.spec.containers().is_empty() || p.spec.containers().iter().any(|c| c == container))
}

/// Build the plans: one per container of every workload that at least one policy
/// selects, and one per policy (container `*`) that selects none of the workloads.
/// Plans, sections and rules are sorted, so the result does not depend on input order.
pub fn plan(policies: &[Policy], workloads: &[Workload]) -> Vec<Plan> {
    let ids = assign_ids(policies);
    let ctx = Ctx { policies, ids: &ids };
    let mut by_ns: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in policies.iter().enumerate() {
        by_ns.entry(&p.namespace).or_default().push(i);
    }
    let mut used = vec![false; policies.len()];
    let mut plans: Vec<Plan> = Vec::new();
    // A plan's content is a function of the policies that apply: targets selected by
    // the same policies share it (built once, cloned).
    let mut built: HashMap<Vec<usize>, usize> = HashMap::new();
    for w in workloads {
        let containers: Vec<&str> =
            if w.containers.is_empty() { vec!["*"] } else { w.containers.iter().map(String::as_str).collect() };
        for c in containers {
            let applicable: Vec<usize> = by_ns
                .get(w.namespace.as_str())
                .into_iter()
                .flatten()
                .copied()
                .filter(|&i| selects(&policies[i], w, c))
                .collect();
            if applicable.is_empty() {
                continue;
            }
            for &i in &applicable {
                used[i] = true;
            }
            let target = Target {
                namespace: w.namespace.clone(),
                kind: w.kind.clone(),
                name: w.name.clone(),
                container: c.to_string(),
            };
            match built.get(&applicable) {
                Some(&i) => {
                    let same = &plans[i];
                    let p = Plan {
                        target,
                        policies: same.policies.clone(),
                        sections: same.sections.clone(),
                        dropped: same.dropped.clone(),
                    };
                    plans.push(p);
                }
                None => {
                    built.insert(applicable.clone(), plans.len());
                    plans.push(build(target, applicable, &ctx));
                }
            }
        }
    }
    for (i, p) in policies.iter().enumerate() {
        if !used[i] {
            let target = Target {
                namespace: p.namespace.clone(),
                kind: "Policy".into(),
                name: p.name.clone(),
                container: "*".into(),
            };
            plans.push(build(target, vec![i], &ctx));
        }
    }
    plans.sort_by(|a, b| (&a.target, &a.policies).cmp(&(&b.target, &b.policies)));
    // The same workload given twice (the same manifest read twice) makes the same
    // plan twice (next to each other, by the sort): one is kept. Two plans of one target from different policies (a
    // workload defined twice with other labels or containers, or two standalone
    // policies of different kinds with one name) are both kept, and the compile
    // reports them as a clash of names (`backend::compile_to`).
    plans.dedup_by(|a, b| a.target == b.target && a.policies == b.policies);
    plans
}

/// What [`build`] reads: the policies and their rule ids.
struct Ctx<'a> {
    policies: &'a [Policy],
    ids: &'a [Vec<u32>],
}

fn build(target: Target, applicable: Vec<usize>, ctx: &Ctx<'_>) -> Plan {
    let (policies, ids) = (ctx.policies, ctx.ids);
    let mut all: Vec<EffRule> = Vec::with_capacity(applicable.iter().map(|&pi| policies[pi].ir.rules.len()).sum());
    let mut defaults: BTreeMap<Section, Action> = BTreeMap::new();
    for &pi in &applicable {
        let p = &policies[pi];
        for &(s, a) in &p.ir.defaults {
            let d = if p.ir.mode == polc_api::Mode::DryRun && a == Action::Block { Action::Audit } else { a };
            let e = defaults.entry(s).or_insert(d);
            *e = (*e).max(d);
        }
        for ((r, origin), &id) in p.ir.rules.iter().zip(p.origins()).zip(&ids[pi]) {
            all.push(EffRule { id, policy: pi, origin: Arc::clone(origin), rule: Arc::clone(r) });
        }
    }
    // Network access policies are compiled per policy by the Cilium backend; their
    // egress rules also join the agent's network section.
    let refs: Vec<&IrRule> = all.iter().map(|e| &*e.rule).collect();
    let mut dead = vec![None; all.len()];
    for o in overlaps(&refs) {
        dead[o.loser] = Some((o.relation, all[o.winner].id));
    }
    let mut sections: BTreeMap<Section, Vec<EffRule>> = BTreeMap::new();
    let mut dropped = Vec::new();
    for (e, dead) in all.into_iter().zip(dead) {
        match dead {
            Some((relation, winner)) => dropped.push(Dropped { rule: e, relation, winner }),
            None => sections.entry(e.rule.section).or_default().push(e),
        }
    }
    for s in sections.keys() {
        defaults.entry(*s).or_insert(Action::Allow);
    }
    let sections = defaults
        .into_iter()
        .map(|(section, default)| {
            let mut rules = sections.remove(&section).unwrap_or_default();
            // Most precedent first; stable, as `sort_by(|a, b| compare(&b.rule, &a.rule))`.
            rules.sort_by_cached_key(|e| Reverse(e.rule.precedence()));
            SectionPlan { section, default, rules }
        })
        .collect();
    dropped.sort_by_key(|d| d.rule.id);
    let mut policies_sorted = applicable;
    policies_sorted.sort_by_key(|&i| (policies[i].spec.kind() != PolcKind::NetworkAccessPolicy, i));
    Plan { target, policies: policies_sorted, sections, dropped }
}
