//! The one precedence rule, and the analysis of rules that never decide anything.
//!
//! **Precedence.** Among the rules of a section that match an operation, the most
//! specific wins: the longer literal path prefix (for CIDRs, the longer network
//! prefix) first; on equal prefixes an exact path beats a glob, a glob a directory, a
//! directory a recursive directory; then a single port beats a range beats any port,
//! and a rule with a parent-process or HTTP condition beats one without. On equal
//! specificity Block beats Audit beats Allow. What no rule matches gets the section's
//! `defaultAction`.
//!
//! The same rule is used by the compiler, by `polc lint`'s conflict checks and by
//! `polc explain`.

use crate::ir::{IrRule, Matcher, Section};
use polc_api::Action;
use std::cmp::Ordering;
use std::collections::HashMap;

/// Compare two rules by precedence: `Greater` means `a` wins where both match.
pub fn compare(a: &IrRule, b: &IrRule) -> Ordering {
    a.precedence().cmp(&b.precedence())
}

/// The decision for an operation that the rules `matching` match (all of one
/// section), or `default` when none do.
pub fn decide<'a>(matching: impl IntoIterator<Item = &'a IrRule>, default: Action) -> (Action, Option<&'a IrRule>) {
    let winner = matching.into_iter().max_by(|a, b| compare(a, b).then(Ordering::Greater));
    match winner {
        Some(r) => (r.effective, Some(r)),
        None => (default, None),
    }
}

/// How a rule relates to another that covers it and wins over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Relation {
    /// Same matcher, conditions and action: the later rule is a duplicate.
    Duplicate,
    /// Same matcher and conditions, different action: the stronger action wins, the
    /// other rule never applies.
    Contradicted,
    /// A more specific Allow covers the whole Block: the Block can never apply.
    BlockUnreachable,
    /// Another rule covers this one and wins everywhere: this rule never decides.
    Shadowed,
}

/// A rule that never decides, because of another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overlap {
    /// Index of the rule that never decides.
    pub loser: usize,
    /// Index of the rule that decides instead.
    pub winner: usize,
    /// How they relate.
    pub relation: Relation,
}

/// Which rules can relate at all: only rules of one section, and of one kind of
/// matcher. A path matcher covers only path matchers and a network matcher only
/// network matchers; every other matcher covers (and duplicates) only an equal one.
#[derive(PartialEq, Eq, Hash)]
enum Bucket<'a> {
    Path(Section),
    Net(Section),
    Equal(Section, &'a Matcher),
}

fn bucket(r: &IrRule) -> Bucket<'_> {
    match &r.matcher {
        Matcher::Path(_) => Bucket::Path(r.section),
        Matcher::Net { .. } => Bucket::Net(r.section),
        m => Bucket::Equal(r.section, m),
    }
}

/// Find every rule in `rules` that never decides because another rule of the same
/// section covers it and wins over it. Each loser is reported once, against the
/// first rule that beats it.
///
/// Only rules that can relate (same section, same kind of matcher, and for matchers
/// other than paths and networks the same matcher) are compared, in input order, so
/// the result is that of comparing every pair, without the quadratic cost over a
/// whole plan (a syscall baseline alone has a hundred rules). Path rules are further
/// grouped by literal prefix, and compared only within their group: a path matcher
/// covers another only when its literal prefix is a prefix of the other's (see
/// [`PathMatcher::covers`]), and a rule beats another only when its literal prefix is
/// at least as long (precedence compares prefix lengths first), so a rule that
/// covers and beats another has the same literal prefix. A policy of thousands of
/// path rules is then not compared pair by pair.
///
/// [`PathMatcher::covers`]: crate::pattern::PathMatcher::covers
pub fn overlaps(rules: &[&IrRule]) -> Vec<Overlap> {
    type Fast = foldhash::fast::FixedState;
    // The buckets are few and their keys small: a fixed fast hash, sized up front.
    let mut index: HashMap<Bucket<'_>, usize, Fast> =
        HashMap::with_capacity_and_hasher(rules.len().min(64), Fast::default());
    let mut buckets: Vec<Vec<usize>> = Vec::new();
    // Per bucket of path rules: rule indices (in input order) by literal prefix.
    let mut prefixes: Vec<Option<HashMap<&str, Vec<usize>, Fast>>> = Vec::new();
    let mut of_rule = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        let b = *index.entry(bucket(r)).or_insert_with(|| {
            buckets.push(Vec::new());
            prefixes.push(matches!(r.matcher, Matcher::Path(_)).then(HashMap::default));
            buckets.len() - 1
        });
        buckets[b].push(i);
        if let (Matcher::Path(m), Some(by)) = (&r.matcher, &mut prefixes[b]) {
            by.entry(m.literal_prefix()).or_default().push(i);
        }
        of_rule.push(b);
    }
    let mut out = Vec::new();
    for (bi, b) in rules.iter().enumerate() {
        let bucket = of_rule[bi];
        let scan: &[usize] = match (&b.matcher, &prefixes[bucket]) {
            (Matcher::Path(m), Some(by)) => by.get(m.literal_prefix()).map_or(&[], Vec::as_slice),
            _ => &buckets[bucket],
        };
        if let Some(o) = first_overlap(rules, bi, scan) {
            out.push(o);
        }
    }
    out
}

/// The first rule among `scan` (indices in input order) that makes rule `bi` a
/// duplicate or beats it where it covers it.
fn first_overlap(rules: &[&IrRule], bi: usize, scan: &[usize]) -> Option<Overlap> {
    let b = rules[bi];
    for &ai in scan {
        let a = rules[ai];
        if ai == bi || a.section != b.section {
            continue;
        }
        let same = a.matcher == b.matcher && a.conditions == b.conditions;
        // Of two identical rules with the same action, the later one is the duplicate.
        if same && a.action == b.action {
            if ai < bi {
                return Some(Overlap { loser: bi, winner: ai, relation: Relation::Duplicate });
            }
            continue;
        }
        if !(a.matcher.covers(&b.matcher) && a.conditions.covers(&b.conditions)) {
            continue;
        }
        if compare(a, b) != Ordering::Greater {
            continue;
        }
        let relation = if same {
            Relation::Contradicted
        } else if a.action == Action::Allow && b.action == Action::Block {
            Relation::BlockUnreachable
        } else {
            Relation::Shadowed
        };
        return Some(Overlap { loser: bi, winner: ai, relation });
    }
    None
}

/// Rules with the same action as their section's default that beat no rule with a
/// different action on any operation they may share: removing them changes nothing.
pub fn redundant_with_default(rules: &[&IrRule], defaults: &[(Section, Action)]) -> Vec<usize> {
    let mut out = Vec::new();
    for (bi, b) in rules.iter().enumerate() {
        let Some(&(_, def)) = defaults.iter().find(|(s, _)| *s == b.section) else { continue };
        if b.action != def {
            continue;
        }
        let overrides = rules.iter().enumerate().any(|(ai, a)| {
            ai != bi
                && a.section == b.section
                && a.action != b.action
                && compare(b, a) == Ordering::Greater
                && b.matcher.may_overlap(&a.matcher)
                && b.conditions.may_overlap(&a.conditions)
        });
        if !overrides {
            out.push(bi);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::lower_prevention;
    use polc_api::PreventionPolicySpec;
    use serde_json::json;

    fn ir(spec: serde_json::Value) -> crate::ir::PolicyIr {
        let spec: PreventionPolicySpec = serde_json::from_value(spec).unwrap_or_else(|e| panic!("{e}"));
        lower_prevention(&spec)
    }

    fn rels(spec: serde_json::Value) -> Vec<(String, String, Relation)> {
        let p = ir(spec);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let refs: Vec<&IrRule> = p.rules.iter().map(|r| &**r).collect();
        overlaps(&refs)
            .into_iter()
            .map(|o| (refs[o.loser].pointer.to_string(), refs[o.winner].pointer.to_string(), o.relation))
            .collect()
    }

    #[test]
    fn most_specific_wins_then_block() {
        let p = ir(json!({"selector": {}, "process": [
            {"action": "Block", "dirs": [{"path": "/usr/bin", "recursive": true}]},
            {"action": "Allow", "paths": ["/usr/bin/python3"]},
            {"action": "Audit", "paths": ["/usr/bin/python3"]},
        ]}));
        let m = |path: &'static str| {
            p.rules.iter().map(|r| &**r).filter(move |r| match &r.matcher {
                crate::ir::Matcher::Path(m) => m.matches(path),
                _ => false,
            })
        };
        assert_eq!(decide(m("/usr/bin/python3"), Action::Allow).0, Action::Audit);
        assert_eq!(decide(m("/usr/bin/perl"), Action::Allow).0, Action::Block);
        assert_eq!(decide(m("/opt/x"), Action::Allow).0, Action::Allow);
    }

    #[test]
    fn dry_run_turns_block_into_audit() {
        let p = ir(json!({"selector": {}, "mode": "DryRun", "process": [{"action": "Block", "paths": ["/bin/sh"]}]}));
        assert_eq!(decide(p.rules.iter().map(|r| &**r), Action::Allow).0, Action::Audit);
    }

    #[test]
    fn duplicates_contradictions_and_shadows() {
        let r = rels(json!({"selector": {}, "process": [
            {"action": "Block", "paths": ["/bin/sh"]},
            {"action": "Block", "paths": ["/bin/sh"]},
            {"action": "Allow", "paths": ["/bin/bash"]},
            {"action": "Block", "paths": ["/bin/bash"]},
            {"action": "Allow", "paths": ["/usr/local/bin/**"]},
            {"action": "Block", "dirs": [{"path": "/usr/local/bin", "recursive": true}]},
            {"action": "Audit", "paths": ["/opt/*"]},
            {"action": "Block", "paths": ["/opt/tool"]},
        ]}));
        assert_eq!(
            r,
            vec![
                ("/spec/process/1/paths/0".into(), "/spec/process/0/paths/0".into(), Relation::Duplicate),
                ("/spec/process/2/paths/0".into(), "/spec/process/3/paths/0".into(), Relation::Contradicted),
                ("/spec/process/5/dirs/0/path".into(), "/spec/process/4/paths/0".into(), Relation::BlockUnreachable),
            ]
        );
    }

    #[test]
    fn conditions_limit_shadowing() {
        let r = rels(json!({"selector": {}, "file": [
            {"action": "Block", "paths": ["/etc/shadow"], "access": ["Read"]},
            {"action": "Allow", "paths": ["/etc/shadow"], "access": ["Read", "Write"]},
        ], "network": [
            {"action": "Block", "cidrs": ["10.0.0.0/8"]},
            {"action": "Allow", "cidrs": ["10.1.0.0/16"], "ports": [{"port": 443}]},
            {"action": "Audit", "cidrs": ["10.1.2.0/24"], "ports": [{"port": 443}]},
        ]}));
        // Write access to /etc/shadow is still decided by the Allow rule; the /24 Audit is more
        // specific than the /16 Allow, so nothing here is shadowed.
        assert!(r.is_empty(), "{r:?}");
    }

    #[test]
    fn rules_matching_the_default_are_redundant() {
        let p = ir(json!({"selector": {}, "defaultAction": "Block", "process": [
            {"action": "Block", "paths": ["/bin/sh"]},
            {"action": "Allow", "paths": ["/app/server"]},
            {"action": "Block", "paths": ["/app/*"]},
        ]}));
        let refs: Vec<&IrRule> = p.rules.iter().map(|r| &**r).collect();
        // `/bin/sh` and the `/app/*` glob (which only loses to the more specific Allow) both
        // decide exactly what the default would.
        assert_eq!(redundant_with_default(&refs, &p.defaults), vec![0, 2]);
    }

    #[test]
    fn prefix_index_finds_what_comparing_every_pair_finds() {
        // Path rules with shared and nested literal prefixes, in both file and process
        // sections, all actions, some duplicated: the indexed search must report the
        // same overlaps as a scan of every rule in input order.
        let paths = [
            "/a/b", "/a/bc", "/a/b/c", "/a/*", "/a/**", "/a/b*", "/a/[bc]c", "/**/b", "/a/b/**", "/x/y", "/x/*/y",
            "/x/**", "/a/b?", "/**",
        ];
        let dirs = ["/a", "/a/b", "/x", "/"];
        let actions = ["Allow", "Audit", "Block"];
        let mut seed = 0x5eed_u64;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize % n
        };
        let mut found = 0;
        for round in 0..40 {
            let (mut process, mut file) = (Vec::new(), Vec::new());
            for _ in 0..(10 + round) {
                let action = actions[next(3)];
                let entry = if next(4) == 0 {
                    json!({"action": action, "dirs": [{"path": dirs[next(dirs.len())], "recursive": next(2) == 0}]})
                } else {
                    json!({"action": action, "paths": [paths[next(paths.len())]]})
                };
                if next(2) == 0 {
                    process.push(entry);
                } else {
                    let mut e = entry;
                    let access = ["Read", "Write"][next(2)];
                    e["access"] = json!([access]);
                    file.push(e);
                }
            }
            let p = ir(json!({"selector": {}, "process": process, "file": file}));
            assert!(p.errors.is_empty(), "{:?}", p.errors);
            let refs: Vec<&IrRule> = p.rules.iter().map(|r| &**r).collect();
            let all: Vec<usize> = (0..refs.len()).collect();
            let want: Vec<Overlap> = (0..refs.len()).filter_map(|bi| first_overlap(&refs, bi, &all)).collect();
            let got = overlaps(&refs);
            assert_eq!(got, want, "round {round}");
            found += want.len();
        }
        assert!(found > 100, "the rule sets overlap enough to test anything ({found})");
    }
}
