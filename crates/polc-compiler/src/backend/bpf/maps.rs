//! From lowered items to the exact bytes of every map entry: exact hashes, flattened
//! LPM tries with their infix node ids, infix candidate lists, comm, parent classes,
//! network tries per (protocol, port), ids, and the policy's config.

use super::bundle::MapSection;
use super::forms::PathForm;
use super::lower::{BpfError, ItemKind, Lowered, action_u8};
use super::trie::{NetRule, TrieRule, better, flatten, flatten_net, none};
use polc_abi::{
    ANY, BUNDLE_MAPS, COMM_LEN, CommKey, Decision, INFIX_CANDIDATES, IdKey, InfixCand, InfixKey, InfixValue, LpmValue,
    MapDef, Net4Key, Net6Key, OP_MAX, Op, PATH_MAX, PathKey, PathLpmKey, PclassLpmValue, PclassValue, PolicyConfig,
    PolicyKey, decision_beats, lookup, net_prefixlen, path_prefixlen,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// An infix rule of one (op, pclass) group.
struct Infix {
    prefix: Vec<u8>,
    suffix_rev: Vec<u8>,
    cand: InfixCand,
}

#[derive(Default)]
struct PathGroup {
    exact: BTreeMap<Vec<u8>, Decision>,
    prefix: Vec<TrieRule>,
    suffix: Vec<TrieRule>,
    name: Vec<TrieRule>,
    infix: Vec<Infix>,
}

/// Does a path rule feed the directory guards: a READ or WRITE rule that blocks or
/// audits (DryRun folded in), without a parent condition?
fn guards(op: Op, pclass: u16, d: &Decision) -> bool {
    matches!(op, Op::Read | Op::Write)
        && pclass == 0
        && d.rule_id != 0
        && (d.action == polc_abi::action::BLOCK || d.action == polc_abi::action::AUDIT)
}

/// The literal directory of a guarding rule's paths, which a rename of it or of a
/// directory above it moves: the parent of an exact path, the part of a prefix or
/// infix glob's literal prefix before its last '/'. `None` for the root and for
/// suffix and name globs (`/**/name`), whose paths match wherever their directories
/// move.
fn guarded_dir(f: &PathForm) -> Option<&[u8]> {
    let lit = match f {
        PathForm::Exact(p) => p.as_bytes(),
        PathForm::Prefix { node, .. } => node.as_bytes(),
        PathForm::Infix { prefix, .. } => prefix.as_bytes(),
        PathForm::Suffix(_) | PathForm::Name { .. } => return None,
    };
    let cut = lit.iter().rposition(|&b| b == b'/')?;
    (cut > 0).then(|| &lit[..cut])
}

/// The `polc_guard_deep` entries of a guarding rule whose paths lie below directories
/// it does not match itself, so that renaming such a directory takes paths out of
/// it: an infix glob whose suffix holds a '/' (`/srv/*/conf.yaml`, `/a/**/b`). The
/// node is the literal prefix: every directory that starts with it is guarded (a
/// superset), with, for a glob whose matches have a fixed number of '/', one entry
/// per number of '/' a directory that holds a match can have (from the prefix's to
/// one less than the glob's), and otherwise one entry for any ([`ANY`]). `None` for
/// the other forms: every directory that holds a match of a prefix form is matched
/// itself (`/srv/**`, a recursive directory) or is the prefix's own directory, which
/// [`guarded_dir`] covers; an infix glob whose matches are all directly in its
/// prefix's directory (`/var/log/*.log`) is covered the same way; exact paths too;
/// suffix and name globs match wherever they move. `None` also for the root, which
/// would guard every directory.
fn deep_node(f: &PathForm) -> Option<(&[u8], std::ops::RangeInclusive<u16>)> {
    let PathForm::Infix { prefix, suffix, slashes, .. } = f else { return None };
    if !suffix.contains('/') || prefix.as_str() == "/" {
        return None;
    }
    let from = u16::try_from(prefix.matches('/').count()).ok()?;
    let range = if *slashes == ANY { ANY..=ANY } else { from..=slashes.checked_sub(1)? };
    (!range.is_empty()).then_some((prefix.as_bytes(), range))
}

/// The directory tails of a guarding suffix glob with directories: `/**/a/b/c`
/// (suffix `/a/b/c`) holds matches below every directory that ends with `/a/b` or
/// `/a`, and renaming such a directory takes them out of the glob.
fn dir_tails(f: &PathForm) -> Vec<&[u8]> {
    let PathForm::Suffix(s) = f else { return Vec::new() };
    let s = s.as_bytes();
    let Some(dir) = s.iter().rposition(|&b| b == b'/').map(|i| &s[..i]) else { return Vec::new() };
    if dir.first() != Some(&b'/') {
        return Vec::new();
    }
    ancestors(dir).collect()
}

/// LPM entries from ((op, pclass), node) -> decision, sorted: the lookup finds the
/// longest node only, so each carries the strongest of itself and of the nodes of
/// its group that are prefixes of it. In sorted order a node follows its prefixes,
/// so a stack of the current node's prefixes is enough.
type Group = (Op, u16);
type LpmEntry<'a> = ((Group, &'a [u8]), Decision);
fn strongest_of_prefixes<'a>(nodes: &[LpmEntry<'a>]) -> Vec<LpmEntry<'a>> {
    let mut stack: Vec<LpmEntry<'_>> = Vec::new();
    let mut out = Vec::with_capacity(nodes.len());
    for &((group, node), d) in nodes {
        while stack.last().is_some_and(|((g, n), _)| *g != group || !node.starts_with(n)) {
            stack.pop();
        }
        let d = stack.last().map_or(d, |(_, up)| stronger(*up, d));
        stack.push(((group, node), d));
        out.push(((group, node), d));
    }
    out
}

/// `/a/b/c` -> `/a`, `/a/b`, `/a/b/c`.
fn ancestors(dir: &[u8]) -> impl Iterator<Item = &[u8]> {
    (1..=dir.len()).filter(move |&i| i == dir.len() || dir[i] == b'/').map(move |i| &dir[..i])
}

/// The stronger action (Block > Audit), then the lower rule id.
fn stronger(a: Decision, b: Decision) -> Decision {
    use std::cmp::Reverse;
    if a.rule_id == 0 || (b.action, Reverse(b.rule_id)) > (a.action, Reverse(a.rule_id)) { b } else { a }
}

/// The map sections of a bundle, in [`BUNDLE_MAPS`] order, for policy id `policy`.
/// Errors name the rule id they come from.
pub(crate) fn build(low: &Lowered, policy: u32) -> (Vec<MapSection>, Vec<(u32, BpfError)>) {
    let mut m: BTreeMap<&'static str, BTreeMap<Vec<u8>, Vec<u8>>> = BTreeMap::new();
    let mut lookups = [0u16; OP_MAX];
    let mut errors = Vec::new();
    let mut put = |def: &MapDef, op: Op, bit: u16, k: Vec<u8>, v: Vec<u8>| {
        m.entry(def.name).or_default().insert(k, v);
        lookups[op as usize] |= bit;
    };

    let mut groups: BTreeMap<(Op, u16), PathGroup> = BTreeMap::new();
    let mut comm: BTreeMap<(u16, Vec<u8>), Decision> = BTreeMap::new();
    let mut net: BTreeMap<(Op, bool, u8, u16), Vec<NetRule>> = BTreeMap::new();
    let mut ids: BTreeMap<(Op, u32), Decision> = BTreeMap::new();
    let mut guard: BTreeMap<(Op, &[u8]), Decision> = BTreeMap::new();
    let mut deep: BTreeMap<((Op, u16), &[u8]), Decision> = BTreeMap::new();
    let mut tails: BTreeMap<(Op, Vec<u8>), Decision> = BTreeMap::new();
    for it in &low.items {
        let d = it.decision;
        match &it.kind {
            ItemKind::Path(f) => {
                if guards(it.op, it.pclass, &d) {
                    for a in guarded_dir(f).map(ancestors).into_iter().flatten() {
                        let e = guard.entry((it.op, a)).or_insert_with(none);
                        *e = stronger(*e, d);
                    }
                    if let Some((node, counts)) = deep_node(f) {
                        for n in counts {
                            let e = deep.entry(((it.op, n), node)).or_insert_with(none);
                            *e = stronger(*e, d);
                        }
                    }
                    for t in dir_tails(f) {
                        let e = tails.entry((it.op, t.iter().rev().copied().collect())).or_insert_with(none);
                        *e = stronger(*e, d);
                    }
                }
                let g = groups.entry((it.op, it.pclass)).or_default();
                match f {
                    PathForm::Exact(p) => {
                        let e = g.exact.entry(p.as_bytes().to_vec()).or_insert_with(none);
                        *e = better(*e, d);
                    }
                    PathForm::Prefix { node, mask } => {
                        g.prefix.push(TrieRule { node: node.as_bytes().to_vec(), mask: *mask, decision: d })
                    }
                    PathForm::Suffix(s) => {
                        g.suffix.push(TrieRule { node: rev(s), mask: super::forms::ALL, decision: d })
                    }
                    PathForm::Name { prefix, mask } => {
                        g.name.push(TrieRule { node: prefix.as_bytes().to_vec(), mask: *mask, decision: d })
                    }
                    PathForm::Infix { prefix, suffix, min_len, max_len, slashes } => g.infix.push(Infix {
                        prefix: prefix.as_bytes().to_vec(),
                        suffix_rev: rev(suffix),
                        cand: InfixCand {
                            decision: d,
                            min_len: *min_len,
                            max_len: *max_len,
                            slashes: *slashes,
                            pad: 0,
                        },
                    }),
                }
            }
            ItemKind::Comm(c) => {
                let e = comm.entry((it.pclass, c.as_bytes().to_vec())).or_insert_with(none);
                *e = better(*e, d);
            }
            ItemKind::Net { proto, port, cidr, except } => {
                net.entry((it.op, cidr.is_v4(), *proto, *port)).or_default().push(NetRule {
                    cidr: *cidr,
                    except: except.clone(),
                    decision: d,
                });
            }
            ItemKind::Id(id) => {
                let e = ids.entry((it.op, *id)).or_insert_with(none);
                *e = better(*e, d);
            }
        }
    }

    for ((op, pclass), g) in &groups {
        let key = |p: &[u8]| PathKey { policy, op: *op as u16, pclass: *pclass, path: pad::<PATH_MAX>(p) };
        let lpm = |p: &[u8]| PathLpmKey { prefixlen: path_prefixlen(p.len()), key: key(p) }.to_bytes().to_vec();
        for (p, d) in &g.exact {
            put(&polc_abi::MAP_PATH_EXACT, *op, lookup::EXACT, key(p).to_bytes().to_vec(), d.to_bytes().to_vec());
        }
        let has_infix = !g.infix.is_empty();
        let pre_extra: BTreeSet<Vec<u8>> = g.infix.iter().map(|i| i.prefix.clone()).collect();
        let suf_extra: BTreeSet<Vec<u8>> = g.infix.iter().map(|i| i.suffix_rev.clone()).collect();
        let pre = flatten(&g.prefix, &pre_extra);
        let suf = flatten(&g.suffix, &suf_extra);
        let node_ids = |t: &BTreeMap<Vec<u8>, [Decision; 3]>| -> BTreeMap<Vec<u8>, u32> {
            t.keys().cloned().zip(1u32..).map(|(k, i)| (k, if has_infix { i } else { 0 })).collect()
        };
        let (pre_ids, suf_ids) = (node_ids(&pre), node_ids(&suf));
        for (def, bit, trie, ids) in [
            (&polc_abi::MAP_PATH_PREFIX, lookup::PREFIX, &pre, Some(&pre_ids)),
            (&polc_abi::MAP_PATH_SUFFIX, lookup::SUFFIX, &suf, Some(&suf_ids)),
            (&polc_abi::MAP_NAME_PREFIX, lookup::NAME, &flatten(&g.name, &BTreeSet::new()), None),
        ] {
            for (node, [equal, direct, deep]) in trie {
                let id = ids.and_then(|m| m.get(node)).copied().unwrap_or(0);
                let len = u32::try_from(node.len()).unwrap_or(u32::MAX);
                let v = LpmValue { equal: *equal, direct: *direct, deep: *deep, node: id, len };
                put(def, *op, bit, lpm(node), v.to_bytes().to_vec());
            }
        }
        // The infix globs whose literal prefix each prefix node extends, and whose
        // suffix each suffix node extends (indices in `g.infix` order); a pair of
        // nodes gets an entry when the two share a glob. Only nodes that extend some
        // glob are paired, and each pair intersects two short lists, instead of
        // testing every glob for every pair of nodes.
        let extending = |ids: &BTreeMap<Vec<u8>, u32>, lit: fn(&Infix) -> &[u8]| -> Vec<(Vec<u8>, u32, Vec<usize>)> {
            if !has_infix {
                return Vec::new();
            }
            ids.iter()
                .filter_map(|(node, id)| {
                    let on: Vec<usize> =
                        g.infix.iter().enumerate().filter(|(_, i)| node.starts_with(lit(i))).map(|(k, _)| k).collect();
                    (!on.is_empty()).then(|| (node.clone(), *id, on))
                })
                .collect()
        };
        let pre_on = extending(&pre_ids, |i| i.prefix.as_slice());
        let suf_on = extending(&suf_ids, |i| i.suffix_rev.as_slice());
        for (e, eid, e_on) in &pre_on {
            for (f, fid, f_on) in &suf_on {
                let mut cands: Vec<&Infix> = Vec::new();
                let (mut a, mut b) = (e_on.iter().peekable(), f_on.iter().peekable());
                while let (Some(&&x), Some(&&y)) = (a.peek(), b.peek()) {
                    match x.cmp(&y) {
                        std::cmp::Ordering::Less => {
                            a.next();
                        }
                        std::cmp::Ordering::Greater => {
                            b.next();
                        }
                        std::cmp::Ordering::Equal => {
                            cands.push(&g.infix[x]);
                            a.next();
                            b.next();
                        }
                    }
                }
                if cands.is_empty() {
                    continue;
                }
                cands.sort_by(|a, b| order(&a.cand.decision, &b.cand.decision));
                let mut kept: Vec<&Infix> = Vec::new();
                for c in cands {
                    if !kept.iter().any(|k| dominates(&k.cand, &c.cand)) {
                        kept.push(c);
                    }
                }
                if kept.len() > INFIX_CANDIDATES {
                    let worst = kept[INFIX_CANDIDATES].cand.decision.rule_id;
                    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                    let mut s = f.clone();
                    s.reverse();
                    errors.push((
                        worst,
                        BpfError::InfixOverflow { prefix: text(e), suffix: text(&s), max: INFIX_CANDIDATES },
                    ));
                    kept.truncate(INFIX_CANDIDATES);
                }
                let mut v = InfixValue::zeroed();
                v.count = kept.len() as u32;
                for (slot, c) in v.cand.iter_mut().zip(&kept) {
                    *slot = c.cand;
                }
                let k = InfixKey { policy, op: *op as u16, pclass: *pclass, prefix_node: *eid, suffix_node: *fid };
                put(&polc_abi::MAP_PATH_INFIX, *op, lookup::INFIX, k.to_bytes().to_vec(), v.to_bytes().to_vec());
            }
        }
    }
    for ((pclass, c), d) in &comm {
        let k = CommKey { policy, pclass: *pclass, pad: 0, comm: pad::<COMM_LEN>(c) };
        put(&polc_abi::MAP_COMM, Op::Exec, lookup::COMM, k.to_bytes().to_vec(), d.to_bytes().to_vec());
    }
    for (path, pclass) in &low.parent_exact {
        let k = PathKey { policy, op: Op::Exec as u16, pclass: 0, path: pad::<PATH_MAX>(path.as_bytes()) };
        let v = PclassValue { pclass: u32::from(*pclass) };
        put(&polc_abi::MAP_PARENT_EXACT, Op::Exec, lookup::PARENT, k.to_bytes().to_vec(), v.to_bytes().to_vec());
    }
    for (node, [equal, direct, deep]) in &low.parent_prefix {
        let b = node.as_bytes();
        let k = PathLpmKey {
            prefixlen: path_prefixlen(b.len()),
            key: PathKey { policy, op: Op::Exec as u16, pclass: 0, path: pad::<PATH_MAX>(b) },
        };
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        let v = PclassLpmValue { equal: u32::from(*equal), direct: u32::from(*direct), deep: u32::from(*deep), len };
        put(&polc_abi::MAP_PARENT_PREFIX, Op::Exec, lookup::PARENT, k.to_bytes().to_vec(), v.to_bytes().to_vec());
    }
    for ((op, _v4, proto, port), rules) in &net {
        for ((addr, prefix), d) in flatten_net(rules) {
            let (def, bit, k) = match addr {
                IpAddr::V4(a) => {
                    let k = Net4Key {
                        prefixlen: net_prefixlen(prefix),
                        policy,
                        op: *op as u8,
                        proto: *proto,
                        port: port.to_be_bytes(),
                        addr: a.octets(),
                    };
                    (&polc_abi::MAP_NET4, lookup::NET4, k.to_bytes().to_vec())
                }
                IpAddr::V6(a) => {
                    let k = Net6Key {
                        prefixlen: net_prefixlen(prefix),
                        policy,
                        op: *op as u8,
                        proto: *proto,
                        port: port.to_be_bytes(),
                        addr: a.octets(),
                    };
                    (&polc_abi::MAP_NET6, lookup::NET6, k.to_bytes().to_vec())
                }
            };
            // Entries without a decision stay: they are the holes `except` cuts.
            put(def, *op, bit, k, d.to_bytes().to_vec());
        }
    }
    for ((op, dir), d) in &guard {
        let k = PathKey { policy, op: *op as u16, pclass: 0, path: pad::<PATH_MAX>(dir) };
        put(&polc_abi::MAP_DIR_GUARD, *op, lookup::GUARD, k.to_bytes().to_vec(), d.to_bytes().to_vec());
    }
    let tails: Vec<LpmEntry<'_>> = tails.iter().map(|((op, t), d)| (((*op, 0), t.as_slice()), *d)).collect();
    for (def, bit, nodes) in [
        (&polc_abi::MAP_GUARD_DEEP, lookup::GUARD_DEEP, deep.into_iter().collect::<Vec<_>>()),
        (&polc_abi::MAP_GUARD_SFX, lookup::GUARD_SFX, tails),
    ] {
        for (((op, pclass), node), d) in strongest_of_prefixes(&nodes) {
            let k = PathLpmKey {
                prefixlen: path_prefixlen(node.len()),
                key: PathKey { policy, op: op as u16, pclass, path: pad::<PATH_MAX>(node) },
            };
            put(def, op, bit, k.to_bytes().to_vec(), d.to_bytes().to_vec());
        }
    }
    for ((op, id), d) in &ids {
        let k = IdKey { policy, op: *op as u16, pad: 0, id: *id };
        put(&polc_abi::MAP_ID, *op, lookup::ID, k.to_bytes().to_vec(), d.to_bytes().to_vec());
    }
    let mut cfg = PolicyConfig::zeroed();
    for (op, (a, _)) in &low.ops {
        cfg.has_op[*op as usize] = 1;
        cfg.default_action[*op as usize] = action_u8(*a);
    }
    cfg.lookups = lookups;
    cfg.pclass_count = low.pclass_count;
    m.entry(polc_abi::MAP_CONFIG.name)
        .or_default()
        .insert(PolicyKey { policy }.to_bytes().to_vec(), cfg.to_bytes().to_vec());

    let sections = BUNDLE_MAPS
        .iter()
        .map(|def| MapSection::new(def, m.remove(def.name).unwrap_or_default().into_iter().collect()))
        .collect();
    (sections, errors)
}

fn rev(s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.reverse();
    b
}

/// Zero-padded copy; the lowering has already refused longer literals.
fn pad<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, x) in out.iter_mut().zip(b) {
        *o = *x;
    }
    out
}

/// Most precedent first.
fn order(a: &Decision, b: &Decision) -> std::cmp::Ordering {
    if decision_beats(a, b) {
        std::cmp::Ordering::Less
    } else if decision_beats(b, a) {
        std::cmp::Ordering::Greater
    } else {
        std::cmp::Ordering::Equal
    }
}

/// Does `k` (more precedent) fit every path `c` fits, so `c` can never decide?
fn dominates(k: &InfixCand, c: &InfixCand) -> bool {
    k.min_len <= c.min_len
        && (k.max_len == ANY || (c.max_len != ANY && k.max_len >= c.max_len))
        && (k.slashes == ANY || k.slashes == c.slashes)
}
