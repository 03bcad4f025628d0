//! The bpf-lsm backend: one bundle per plan target with the exact contents of the
//! eBPF maps the node agent loads (`bpf-lsm/<stem>.bundle`), and a readable JSON dump
//! of the same bundle (`bpf-lsm/<stem>.json`).
//!
//! The map layouts are defined once in `ebpf-lsm/include/polc_abi.h` and mirrored by
//! `polc-abi`; the header's comment says how the kernel programs use the maps. The
//! compiler resolves precedence ahead of time (prefix flattening, infix candidate
//! lists, parent classes), so the kernel only does hash and LPM lookups and keeps the
//! best decision of their hits ([`polc_abi::decision_beats`]); [`sim`] is that
//! procedure in Rust, and the tests check it against [`crate::precedence::decide`].
//!
//! Rules the maps cannot express: Allow and Audit rules are widened to a superset and
//! reported as approximated; Block rules are compile errors (never silently
//! truncated, widened or dropped); system calls, L7 and label-selected peers are
//! reported as not expressible and left to seccomp and Cilium.

pub mod bundle;
pub mod dump;
mod forms;
mod lower;
mod maps;
pub mod sim;
mod trie;

#[cfg(test)]
mod tests;

pub use lower::BpfError;

use super::{Artifact, Capability, CompileError, Input, Interner, Output, Sink, Target};
use crate::ir::IrRule;
use crate::model::{Policy, Spec};
use crate::plan::{EffRule, Plan};
use bundle::{Bundle, OpDefault, RuleInfo};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Compile the plans for this backend.
///
/// A plan's bundle depends on its target only through the target id and the slot
/// (the policy field of every map key); everything else is a function of the set of
/// policies that apply. So each distinct policy set is lowered once, and its bundle
/// is re-targeted for every plan of the set (see [`Bundle::retarget`]). The bytes
/// are those of [`compile_plan`] for each plan.
pub fn compile(input: &Input<'_>) -> Output {
    super::collect(|sink| compile_to(input, sink))
}

/// [`compile`], giving the files to `sink`.
///
/// The policy sets are shared out to as many threads as the machine has cores (at
/// most 8), each taking the next set when it is done with one: this
/// backend makes half of all the output, and on its own thread it set the pace of
/// the whole compile while the other backends left a core idle. Artifacts do not
/// depend on the thread that made them, and the capability lines are sorted.
pub fn compile_to(input: &Input<'_>, sink: &dyn Sink) -> Output {
    let slots = slots(input.plans);
    let mut by_set: BTreeMap<&[usize], Vec<usize>> = BTreeMap::new();
    for (i, plan) in input.plans.iter().enumerate() {
        by_set.entry(plan.policies.as_slice()).or_default().push(i);
    }
    let sets: Vec<Vec<usize>> = by_set.into_values().collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_THREADS).min(sets.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut out = Output::default();
        let mut lines = Lines::default();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(members) = sets.get(i) else { break };
            compile_set(input, members, &slots, sink, &mut lines, &mut out);
        }
        out
    };
    let mut out = if threads < 2 {
        work()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
            // A panic is a bug: pass it on. The largest output takes the others in.
            let mut outs: Vec<Output> =
                handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect();
            outs.sort_by_key(|o| std::cmp::Reverse(o.capabilities.len()));
            let total = outs.iter().map(|o| o.capabilities.len()).sum::<usize>();
            let mut outs = outs.into_iter();
            let mut out = outs.next().unwrap_or_default();
            out.capabilities.reserve_exact(total - out.capabilities.len());
            for o in outs {
                out.extend(o);
            }
            out
        })
    };
    // Plans of different sets share rules: keep one capability line per verdict.
    out.sort();
    out
}

/// The capability lines one thread has made. Policy sets share rules, so a third
/// of the lines (at 10,000 policies) repeat one made for an earlier set: each is
/// kept once per thread (the final sort removes repeats across threads), and the
/// texts of those kept are shared.
#[derive(Default)]
struct Lines {
    texts: Interner,
    /// Rule id, the address of the shared match text, the verdict and the address
    /// of its shared reason: a line's policy, rule name and source follow from its
    /// rule id.
    seen: std::collections::HashSet<(u32, usize, u8, usize), foldhash::fast::FixedState>,
}

impl Lines {
    fn add(&mut self, mut c: Capability, to: &mut Vec<Capability>) {
        c.share(&mut self.texts);
        let at = |s: &Arc<str>| Arc::as_ptr(s).cast::<u8>() as usize;
        let (verdict, reason) = match &c.support {
            super::Support::Exact => (0, 0),
            super::Support::Approximated { reason } => (1, at(reason)),
            super::Support::NotExpressible { reason } => (2, at(reason)),
        };
        if self.seen.insert((c.rule_id, at(&c.matches), verdict, reason)) {
            to.push(c);
        }
    }
}

/// Threads [`compile_to`] uses at most.
const MAX_THREADS: usize = 8;

/// Lower one policy set (the indices of its plans) and give every plan of it its
/// bundle and dump. Its capability lines go to `out` through `lines`.
fn compile_set(
    input: &Input<'_>,
    members: &[usize],
    slots: &[u16],
    sink: &dyn Sink,
    lines: &mut Lines,
    out: &mut Output,
) {
    let Some(&first) = members.first() else { return };
    let (bundle, o) = compile_plan(&input.plans[first], input.policies, slots[first]);
    for c in o.capabilities {
        lines.add(c, &mut out.capabilities);
    }
    out.errors.extend(o.errors);
    out.artifacts.extend(o.artifacts);
    let Some(mut b) = bundle else { return };
    for &i in members {
        let plan = &input.plans[i];
        b.retarget(plan.target.id(), slots[i]);
        let stem = plan.target.stem();
        // One encoding per plan: the dump shows the hash from the bundle's header.
        let bytes = b.encode();
        let json = dump::render(&b, &bundle::header_sha256_hex(&bytes)).into_bytes();
        sink.put(Artifact { path: format!("bpf-lsm/{stem}.bundle"), bytes });
        sink.put(Artifact { path: format!("bpf-lsm/{stem}.json"), bytes: json });
    }
}

/// Compile one plan into its bundle (`None` when it governs no kernel op), with the
/// capability verdicts and errors of its rules.
pub fn compile_plan(plan: &Plan, policies: &[Policy], slot: u16) -> (Option<Bundle>, Output) {
    let mut out = Output::default();
    let low = lower::lower(plan, policies);
    let (maps, map_errors) = maps::build(&low, polc_abi::policy_id(0, slot));
    for (e, support) in &low.support {
        out.capabilities.push(Capability {
            backend: Target::BpfLsm,
            rule_id: e.id,
            origin: Arc::clone(&e.origin),
            matches: matches_text(&e.rule).into(),
            support: support.clone(),
        });
    }
    let errors = low.errors.iter().map(|(e, err)| (e, err.clone()));
    let map_errors = map_errors.into_iter().filter_map(|(id, err)| low.rules.get(&id).map(|e| (e, err)));
    for (e, err) in errors.chain(map_errors) {
        out.errors.push(CompileError {
            backend: Target::BpfLsm,
            policy: e.origin.policy.to_string(),
            rule: e.rule.name.to_string(),
            location: e.origin.source.to_string(),
            message: err.to_string(),
        });
    }
    if low.ops.is_empty() {
        return (None, out);
    }
    let mut texts = Texts::default();
    let rules = low.rules.values().map(|e| texts.rule_info(e, policies)).collect();
    let defaults = low
        .ops
        .iter()
        .map(|(op, (action, labels))| OpDefault { op: *op, action: *action, policies: labels.clone() })
        .collect();
    let mut labels: Vec<String> = plan.policies.iter().filter_map(|&i| policies.get(i)).map(Policy::label).collect();
    labels.sort();
    let bundle = Bundle { target: plan.target.id(), slot, policies: labels, maps, rules, defaults };
    (Some(bundle), out)
}

/// What a rule entry matches, with its conditions, in words.
pub(crate) fn matches_text(r: &IrRule) -> String {
    let mut s = r.matcher.to_string();
    if !r.conditions.access.is_empty() {
        let acc: Vec<String> = r.conditions.access.iter().map(|a| format!("{a:?}").to_lowercase()).collect();
        s.push_str(&format!(" ({})", acc.join("/")));
    }
    if !r.conditions.parents.is_empty() {
        let p: Vec<String> = r.conditions.parents.iter().map(ToString::to_string).collect();
        s.push_str(&format!(" from parent {}", p.join(" | ")));
    }
    s
}

/// A slot per target: 16 bits of FNV-1a over the target id (stable when other
/// targets come and go), non-zero, collisions resolved in plan order.
///
/// The slot is the agent's first choice, not a promise (`polc_agent::policy::pick_slot`
/// takes another free one when a node already uses it): so once every one of the
/// 65,535 slots is taken, the plans that remain keep their hashed slot, shared with
/// another plan. (A node binds at most 65,535 plans at a time, whatever a compile
/// of a whole fleet holds.)
pub(crate) fn slots(plans: &[Plan]) -> Vec<u16> {
    const SLOTS: usize = u16::MAX as usize; // 1..=65,535
    let mut used = vec![false; SLOTS + 1];
    used[0] = true;
    let mut taken = 0usize;
    plans
        .iter()
        .map(|p| {
            let mut h: u32 = 0x811c_9dc5;
            for b in p.target.id().bytes() {
                h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
            }
            let hashed = ((h >> 16) ^ (h & 0xffff)) as u16;
            if taken == SLOTS {
                return hashed.max(1);
            }
            let mut s = hashed;
            while used[usize::from(s)] {
                s = s.wrapping_add(1);
            }
            used[usize::from(s)] = true;
            taken += 1;
            s
        })
        .collect()
}

/// Messages and tags of rules, from the policies' specs (serialized once each).
#[derive(Default)]
struct Texts {
    specs: BTreeMap<usize, serde_json::Value>,
}

impl Texts {
    fn rule_info(&mut self, e: &EffRule, policies: &[Policy]) -> RuleInfo {
        let spec = self.specs.entry(e.policy).or_insert_with(|| {
            let v = match policies.get(e.policy).map(|p| &p.spec) {
                Some(Spec::Prevention(s)) => serde_json::to_value(s),
                Some(Spec::Runtime(s)) => serde_json::to_value(s),
                Some(Spec::Network(s)) => serde_json::to_value(s),
                None => Ok(serde_json::Value::Null),
            };
            v.unwrap_or_default()
        });
        let rule = spec.pointer(e.rule.rule_pointer.strip_prefix("/spec").unwrap_or(""));
        let text = |v: Option<&serde_json::Value>, k: &str| {
            v.and_then(|v| v.get(k)).and_then(|m| m.as_str()).map(str::to_string)
        };
        let message = text(rule, "message").or_else(|| text(Some(spec), "message")).unwrap_or_default();
        let mut tags: Vec<String> = Vec::new();
        for v in [Some(&*spec), rule] {
            for t in v.and_then(|v| v.get("tags")).and_then(|t| t.as_array()).into_iter().flatten() {
                if let Some(t) = t.as_str()
                    && !tags.iter().any(|x| x == t)
                {
                    tags.push(t.to_string());
                }
            }
        }
        RuleInfo {
            id: e.id,
            policy: e.origin.policy.to_string(),
            rule: e.rule.name.to_string(),
            section: serde_json::to_value(e.rule.section)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            action: e.rule.action,
            effective: e.rule.effective,
            severity: e.rule.severity,
            matches: matches_text(&e.rule),
            source: e.origin.source.to_string(),
            message,
            tags,
        }
    }
}
