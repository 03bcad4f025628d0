//! The kernel's decision procedure in Rust, over the maps of a decoded bundle: the
//! lookups the LSM programs do per hook (the steps in `polc_abi.h`), with real
//! longest-prefix-match semantics. The tests check it against
//! [`crate::precedence::decide`]; tools can use it to explain a bundle.

use super::bundle::{Bundle, MapSection};
use polc_abi::{
    COMM_LEN, CommKey, Decision, IdKey, InfixKey, InfixValue, LpmValue, Net4Key, Net6Key, Op, PATH_MAX, PathKey,
    PathLpmKey, PclassLpmValue, PclassValue, PolicyConfig, PolicyKey, decision_beats, lookup, net_prefixlen,
    path_prefixlen, policy_id, rest,
};
use polc_api::Action;
use std::net::IpAddr;

/// Which name of a rename or link [`Sim::moved`] decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Name<'a> {
    /// The existing name, moving to `to`.
    Old {
        /// Where it goes.
        to: &'a str,
    },
    /// The name made.
    New,
}

/// What the kernel decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The action.
    pub action: Action,
    /// The deciding rule; 0 when the op's default decided or the op is not governed.
    pub rule_id: u32,
}

/// The maps of one bundle, as the kernel sees them for its policy.
pub struct Sim<'a> {
    bundle: &'a Bundle,
    policy: u32,
    cfg: PolicyConfig,
}

fn to_action(a: u8) -> Action {
    match a {
        polc_abi::action::BLOCK => Action::Block,
        polc_abi::action::AUDIT => Action::Audit,
        _ => Action::Allow,
    }
}

fn pad<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, x) in out.iter_mut().zip(b) {
        *o = *x;
    }
    out
}

/// Hash lookup.
fn get<'m>(m: Option<&'m MapSection>, key: &[u8]) -> Option<&'m [u8]> {
    let m = m?;
    m.entries.binary_search_by(|(k, _)| k.as_slice().cmp(key)).ok().map(|i| m.entries[i].1.as_slice())
}

/// LPM lookup: the entry with the longest prefix length whose first `prefixlen` bits
/// (after the 4-byte prefix length) equal the key's. Returns (matched bits, value).
fn lpm<'m>(m: Option<&'m MapSection>, key: &[u8]) -> Option<(u32, &'m [u8])> {
    let data = key.get(4..)?;
    let bits = u32::from_le_bytes(key.get(..4)?.try_into().ok()?);
    let mut best: Option<(u32, &[u8])> = None;
    for (k, v) in &m?.entries {
        let plen = u32::from_le_bytes(k.get(..4)?.try_into().ok()?);
        let Some(kd) = k.get(4..) else { continue };
        if plen > bits || best.is_some_and(|(b, _)| b >= plen) {
            continue;
        }
        let (full, part) = ((plen / 8) as usize, plen % 8);
        let same = kd.get(..full) == data.get(..full)
            && (part == 0 || {
                let mask = 0xffu8 << (8 - part);
                kd.get(full).map(|x| x & mask) == data.get(full).map(|x| x & mask)
            });
        if same {
            best = Some((plen, v.as_slice()));
        }
    }
    best
}

impl<'a> Sim<'a> {
    /// The maps of `bundle` for its own slot (generation 0); `None` without a config.
    pub fn new(bundle: &'a Bundle) -> Option<Sim<'a>> {
        let policy = policy_id(0, bundle.slot);
        let v = get(bundle.map(polc_abi::MAP_CONFIG.name), &PolicyKey { policy }.to_bytes())?;
        Some(Sim { bundle, policy, cfg: PolicyConfig::from_bytes(v)? })
    }

    fn map(&self, def: &polc_abi::MapDef) -> Option<&'a MapSection> {
        self.bundle.map(def.name)
    }

    fn uses(&self, op: Op, bit: u16) -> bool {
        self.cfg.lookups[op as usize] & bit != 0
    }

    fn verdict(&self, op: Op, best: Decision) -> Verdict {
        if self.cfg.has_op[op as usize] == 0 {
            return Verdict { action: Action::Allow, rule_id: 0 };
        }
        if best.rule_id == 0 {
            return Verdict { action: to_action(self.cfg.default_action[op as usize]), rule_id: 0 };
        }
        Verdict { action: to_action(best.action), rule_id: best.rule_id }
    }

    fn path_lpm_key(&self, op: Op, pclass: u16, b: &[u8]) -> [u8; PathLpmKey::SIZE] {
        let n = b.len().min(PATH_MAX);
        PathLpmKey {
            prefixlen: path_prefixlen(n),
            key: PathKey { policy: self.policy, op: op as u16, pclass, path: pad(&b[..n]) },
        }
        .to_bytes()
    }

    /// The parent class of the executable a task ran before this exec.
    pub fn parent_class(&self, parent: &str) -> u16 {
        let p = parent.as_bytes();
        if !self.uses(Op::Exec, lookup::PARENT) {
            return 0;
        }
        if p.len() <= PATH_MAX {
            let k = PathKey { policy: self.policy, op: Op::Exec as u16, pclass: 0, path: pad(p) };
            if let Some(v) = get(self.map(&polc_abi::MAP_PARENT_EXACT), &k.to_bytes()).and_then(PclassValue::from_bytes)
            {
                return u16::try_from(v.pclass).unwrap_or(0);
            }
        }
        let last_slash = p.iter().rposition(|&c| c == b'/').map(|i| i as u32);
        let key = self.path_lpm_key(Op::Exec, 0, p);
        match lpm(self.map(&polc_abi::MAP_PARENT_PREFIX), &key) {
            // As the kernel: what follows the prefix comes from the value's length.
            Some((_, v)) => PclassLpmValue::from_bytes(v)
                .map_or(0, |v| u16::try_from(v.pick(rest(v.len, p.len() as u32, last_slash))).unwrap_or(0)),
            None => 0,
        }
    }

    /// EXEC, READ or WRITE of `path`; for EXEC, `comm` is the name the new image gets
    /// and `parent` the executable the task ran before (None: unknown).
    pub fn path(&self, op: Op, path: &str, comm: Option<&str>, parent: Option<&str>) -> Verdict {
        let mut passes = vec![0u16];
        if op == Op::Exec && self.cfg.pclass_count != 0 {
            let c = parent.map_or(0, |p| self.parent_class(p));
            if c != 0 {
                passes.push(c);
            }
        }
        let mut best = Decision::zeroed();
        for pclass in passes {
            let d = self.path_pass(op, pclass, path.as_bytes(), comm);
            if decision_beats(&d, &best) {
                best = d;
            }
        }
        self.verdict(op, best)
    }

    /// The action of the READ rule that decides `path` (a rule only, not the
    /// default; `Allow` without one): what moving a name to or from `path` compares.
    fn read_rule(&self, path: &str) -> (Decision, Action) {
        if self.cfg.has_op[Op::Read as usize] == 0 {
            return (Decision::zeroed(), Action::Allow);
        }
        let d = self.path_pass(Op::Read, 0, path.as_bytes(), None);
        let a = if d.rule_id == 0 { Action::Allow } else { to_action(d.action) };
        (d, a)
    }

    /// A name of a rename or link (step 6 of `polc_abi.h`, as `polc_rename` and
    /// `polc_link` decide it): the WRITE verdict of `path`, unless what the move
    /// exposes is stronger. For the old name of a file, the READ rule on `path` when
    /// stronger than the one on where it goes; of a directory, unless the same rule
    /// decides both. For a directory, its guards (WRITE, then for the old name READ;
    /// per op the directory's own, the deep guard by its number of '/' and for any,
    /// and the suffix guard).
    /// Returns the verdict, the op of the deciding rule and the event flags it sets
    /// (`NAME_MOVED`, `BELOW`; 0 when the WRITE of the name decided).
    pub fn moved(&self, path: &str, name: Name<'_>, dir: bool) -> (Verdict, Op, u8) {
        use polc_abi::event_flags::{BELOW, NAME_MOVED};
        let mut out = (self.path(Op::Write, path, None, None), Op::Write, 0u8);
        let take = |out: &mut (Verdict, Op, u8), d: Decision, op: Op, flags: u8| {
            if d.rule_id != 0 && to_action(d.action) > out.0.action {
                *out = (Verdict { action: to_action(d.action), rule_id: d.rule_id }, op, flags);
            }
        };
        if let Name::Old { to } = name {
            // A file: where its new name's READ rule is weaker. A directory: unless the
            // same rule decides both names.
            let ((d, a), (there, ta)) = (self.read_rule(path), self.read_rule(to));
            if if dir { d.rule_id != there.rule_id } else { a > ta } {
                take(&mut out, d, Op::Read, NAME_MOVED);
            }
        }
        if !dir {
            return out;
        }
        let p = path.as_bytes();
        let n = p.len().min(PATH_MAX);
        let slashes = u16::try_from(p.iter().filter(|&&c| c == b'/').count()).ok().filter(|&c| c != polc_abi::ANY);
        let reversed: Vec<u8> = p.iter().rev().take(n).copied().collect();
        let ops: &[Op] = if matches!(name, Name::Old { .. }) { &[Op::Write, Op::Read] } else { &[Op::Write] };
        for &op in ops {
            if out.0.action != Action::Block && self.uses(op, lookup::GUARD) && p.len() <= PATH_MAX {
                let k = PathKey { policy: self.policy, op: op as u16, pclass: 0, path: pad(p) };
                if let Some(d) = get(self.map(&polc_abi::MAP_DIR_GUARD), &k.to_bytes()).and_then(Decision::from_bytes) {
                    take(&mut out, d, op, NAME_MOVED | BELOW);
                }
            }
            for (def, bit, pclass, key) in [
                (&polc_abi::MAP_GUARD_DEEP, lookup::GUARD_DEEP, slashes, &p[..n]),
                (&polc_abi::MAP_GUARD_DEEP, lookup::GUARD_DEEP, Some(polc_abi::ANY), &p[..n]),
                (&polc_abi::MAP_GUARD_SFX, lookup::GUARD_SFX, Some(0), reversed.as_slice()),
            ] {
                let Some(pclass) = pclass else { continue };
                if out.0.action == Action::Block || !self.uses(op, bit) {
                    continue;
                }
                let key = self.path_lpm_key(op, pclass, key);
                if let Some(d) = lpm(self.map(def), &key).and_then(|(_, v)| Decision::from_bytes(v)) {
                    take(&mut out, d, op, NAME_MOVED | BELOW);
                }
            }
        }
        out
    }

    fn path_pass(&self, op: Op, pclass: u16, p: &[u8], comm: Option<&str>) -> Decision {
        let len = p.len() as u32;
        let slashes = p.iter().filter(|&&c| c == b'/').count() as u32;
        let last_slash = p.iter().rposition(|&c| c == b'/');
        let mut best = Decision::zeroed();
        let mut take = |d: Decision| {
            if decision_beats(&d, &best) {
                best = d;
            }
        };
        if self.uses(op, lookup::EXACT) && p.len() <= PATH_MAX {
            let k = PathKey { policy: self.policy, op: op as u16, pclass, path: pad(p) };
            if let Some(d) = get(self.map(&polc_abi::MAP_PATH_EXACT), &k.to_bytes()).and_then(Decision::from_bytes) {
                take(d);
            }
        }
        let lpm_pick = |def: &polc_abi::MapDef, key: &[u8], len: u32, last: Option<u32>| {
            lpm(self.map(def), key).and_then(|(_, v)| {
                // As the kernel: what follows the prefix comes from the value's length.
                let v = LpmValue::from_bytes(v)?;
                Some((*v.pick(rest(v.len, len, last)), v.node))
            })
        };
        let mut e_node = 0;
        if self.uses(op, lookup::PREFIX)
            && let Some((d, n)) = lpm_pick(
                &polc_abi::MAP_PATH_PREFIX,
                &self.path_lpm_key(op, pclass, p),
                len,
                last_slash.map(|i| i as u32),
            )
        {
            take(d);
            e_node = n;
        }
        let mut f_node = 0;
        if self.uses(op, lookup::SUFFIX) {
            let mut r = p.to_vec();
            r.reverse();
            let last = r.iter().rposition(|&c| c == b'/').map(|i| i as u32);
            if let Some((d, n)) = lpm_pick(&polc_abi::MAP_PATH_SUFFIX, &self.path_lpm_key(op, pclass, &r), len, last) {
                take(d);
                f_node = n;
            }
        }
        if self.uses(op, lookup::NAME) {
            let name = &p[last_slash.map_or(0, |i| i + 1)..];
            let key = self.path_lpm_key(op, pclass, name);
            if let Some((d, _)) = lpm_pick(&polc_abi::MAP_NAME_PREFIX, &key, name.len() as u32, None) {
                take(d);
            }
        }
        if self.uses(op, lookup::INFIX) && e_node != 0 && f_node != 0 {
            let k = InfixKey { policy: self.policy, op: op as u16, pclass, prefix_node: e_node, suffix_node: f_node };
            if let Some(v) = get(self.map(&polc_abi::MAP_PATH_INFIX), &k.to_bytes()).and_then(InfixValue::from_bytes)
                && let Some(c) = v.cand.iter().take(v.count as usize).find(|c| c.fits(len, slashes))
            {
                take(c.decision);
            }
        }
        if op == Op::Exec
            && self.uses(op, lookup::COMM)
            && let Some(c) = comm
        {
            let c = &c.as_bytes()[..c.len().min(COMM_LEN - 1)];
            let k = CommKey { policy: self.policy, pclass, pad: 0, comm: pad(c) };
            if let Some(d) = get(self.map(&polc_abi::MAP_COMM), &k.to_bytes()).and_then(Decision::from_bytes) {
                take(d);
            }
        }
        best
    }

    /// CONNECT/ACCEPT (or the NAP ops) with a peer address, protocol and port.
    pub fn net(&self, op: Op, addr: IpAddr, proto: u8, port: u16) -> Verdict {
        let mut best = Decision::zeroed();
        for (pr, po) in [(proto, port), (proto, 0), (0, port), (0, 0)] {
            let hit = match addr {
                IpAddr::V4(a) if self.uses(op, lookup::NET4) => {
                    let k = Net4Key {
                        prefixlen: net_prefixlen(32),
                        policy: self.policy,
                        op: op as u8,
                        proto: pr,
                        port: po.to_be_bytes(),
                        addr: a.octets(),
                    };
                    lpm(self.map(&polc_abi::MAP_NET4), &k.to_bytes())
                }
                IpAddr::V6(a) if self.uses(op, lookup::NET6) => {
                    let k = Net6Key {
                        prefixlen: net_prefixlen(128),
                        policy: self.policy,
                        op: op as u8,
                        proto: pr,
                        port: po.to_be_bytes(),
                        addr: a.octets(),
                    };
                    lpm(self.map(&polc_abi::MAP_NET6), &k.to_bytes())
                }
                _ => None,
            };
            if let Some(d) = hit.and_then(|(_, v)| Decision::from_bytes(v))
                && decision_beats(&d, &best)
            {
                best = d;
            }
        }
        self.verdict(op, best)
    }

    /// CAPABILITY (id = capability number) or RAW_SOCKET (id 0).
    pub fn id(&self, op: Op, id: u32) -> Verdict {
        let mut best = Decision::zeroed();
        if self.uses(op, lookup::ID) {
            let k = IdKey { policy: self.policy, op: op as u16, pad: 0, id };
            if let Some(d) = get(self.map(&polc_abi::MAP_ID), &k.to_bytes()).and_then(Decision::from_bytes) {
                best = d;
            }
        }
        self.verdict(op, best)
    }
}
