//! Precedence flattening for the LPM maps.
//!
//! The kernel looks up only the longest matching prefix, so every stored prefix must
//! already carry the winner among all rules whose prefix covers it: a rule on a
//! shorter prefix `P` applies at a longer node `E` for the rest classes it would
//! match there. With `m` the bytes of `E` after `P`: if `m` has a `/`, every path
//! under `E` has a `/` after `P`, so only `P`'s DEEP bit counts; else a path equal to
//! `E` or with a direct rest is direct for `P`, and a deep rest is deep for `P`.
//! Network prefixes work the same way over address bits, minus `except` ranges.

use super::forms::{DEEP, DIRECT, EQUAL};
use crate::cidr::Cidr;
use polc_abi::{Decision, decision_beats};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// Does a rule at `rule_node` with rest `mask` apply to paths at `node` (which starts
/// with `rule_node`) whose rest after `node` is in class bit `class`?
pub(crate) fn applies(rule_node: &[u8], mask: u8, node: &[u8], class: u8) -> bool {
    let m = &node[rule_node.len()..];
    if m.is_empty() {
        return mask & class != 0;
    }
    if m.contains(&b'/') {
        return mask & DEEP != 0;
    }
    if class == DEEP { mask & DEEP != 0 } else { mask & DIRECT != 0 }
}

/// A rule in a path trie.
#[derive(Clone, Debug)]
pub(crate) struct TrieRule {
    /// Literal prefix bytes (reversed for the suffix trie).
    pub node: Vec<u8>,
    /// Rest classes matched at the node.
    pub mask: u8,
    /// The verdict.
    pub decision: Decision,
}

/// Keep the better of two decisions.
pub(crate) fn better(a: Decision, b: Decision) -> Decision {
    if decision_beats(&b, &a) { b } else { a }
}

/// The empty decision (rule 0).
pub(crate) fn none() -> Decision {
    Decision::zeroed()
}

/// Flatten: for every node (the rules' nodes and `extra`), the best decision per rest
/// class (`[equal, direct, deep]`).
pub(crate) fn flatten(rules: &[TrieRule], extra: &BTreeSet<Vec<u8>>) -> BTreeMap<Vec<u8>, [Decision; 3]> {
    let nodes: BTreeSet<Vec<u8>> = rules.iter().map(|r| r.node.clone()).chain(extra.iter().cloned()).collect();
    // The rules at each node, so that a node looks up its prefixes (one per length)
    // instead of scanning every rule: linear in the rules, not quadratic. The
    // result does not depend on the order: `better` is a total order.
    let mut at: HashMap<&[u8], Vec<&TrieRule>> = HashMap::with_capacity(rules.len());
    for r in rules {
        at.entry(r.node.as_slice()).or_default().push(r);
    }
    let mut out = BTreeMap::new();
    for node in nodes {
        let mut best = [none(); 3];
        for len in 0..=node.len() {
            for r in at.get(&node[..len]).into_iter().flatten() {
                for (i, class) in [EQUAL, DIRECT, DEEP].into_iter().enumerate() {
                    if applies(&r.node, r.mask, &node, class) {
                        best[i] = better(best[i], r.decision);
                    }
                }
            }
        }
        out.insert(node, best);
    }
    out
}

/// A rule in a network trie.
#[derive(Clone, Debug)]
pub(crate) struct NetRule {
    /// The range.
    pub cidr: Cidr,
    /// Sub-ranges the rule does not cover.
    pub except: Vec<Cidr>,
    /// The verdict.
    pub decision: Decision,
}

/// Flatten a network trie: for every range (rules' and exceptions'), the best
/// decision of the rules that cover all of it.
pub(crate) fn flatten_net(rules: &[NetRule]) -> BTreeMap<(IpAddr, u8), Decision> {
    let nodes: BTreeSet<Cidr> = rules
        .iter()
        .flat_map(|r| std::iter::once(r.cidr).chain(r.except.iter().copied()))
        .map(|c| Cidr { had_host_bits: false, ..c })
        .collect();
    let mut out = BTreeMap::new();
    for node in nodes {
        let mut best = none();
        for r in rules {
            if r.cidr.contains(&node) && !r.except.iter().any(|x| x.contains(&node)) {
                best = better(best, r.decision);
            }
        }
        out.insert((node.addr, node.prefix), best);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use polc_abi::action;

    fn d(rule_id: u32, rank: u32, a: u8) -> Decision {
        Decision { rule_id, rank, action: a, written: a, pad: [0; 2] }
    }

    #[test]
    fn longer_nodes_inherit_by_rest_class() {
        let rules = [
            TrieRule { node: b"/usr/".to_vec(), mask: DIRECT | DEEP, decision: d(1, 5 << 16, action::BLOCK) },
            TrieRule { node: b"/usr/bin/".to_vec(), mask: DIRECT, decision: d(2, 9 << 16 | 1 << 8, action::ALLOW) },
            TrieRule {
                node: b"/usr/bin/py".to_vec(),
                mask: EQUAL | DIRECT,
                decision: d(3, 11 << 16 | 2 << 8, action::AUDIT),
            },
        ];
        let f = flatten(&rules, &BTreeSet::new());
        let ids = |n: &[u8]| f.get(n).map(|v| v.map(|x| x.rule_id));
        assert_eq!(ids(b"/usr/"), Some([0, 1, 1]));
        // /usr/bin/x: the direct rule wins; /usr/bin/x/y: only the recursive one applies.
        assert_eq!(ids(b"/usr/bin/"), Some([1, 2, 1]));
        // /usr/bin/py and /usr/bin/pyx: the glob; /usr/bin/py/x: recursive /usr/ only.
        assert_eq!(ids(b"/usr/bin/py"), Some([3, 3, 1]));
    }

    #[test]
    fn exceptions_cut_holes() {
        let c = |s: &str| Cidr::parse(s).unwrap_or_else(|e| panic!("{e}"));
        let rules = [
            NetRule { cidr: c("10.0.0.0/8"), except: vec![c("10.1.0.0/16")], decision: d(1, 8 << 16, action::BLOCK) },
            NetRule { cidr: c("0.0.0.0/0"), except: vec![], decision: d(2, 0, action::ALLOW) },
        ];
        let f = flatten_net(&rules);
        assert_eq!(f.get(&(c("10.0.0.0/8").addr, 8)).map(|x| x.rule_id), Some(1));
        assert_eq!(f.get(&(c("10.1.0.0/16").addr, 16)).map(|x| x.rule_id), Some(2));
    }
}
