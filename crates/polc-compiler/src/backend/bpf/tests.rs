//! Tests of the bpf-lsm backend: flattening examples, the kernel procedure ([`sim`])
//! against [`decide`] on generated policies and operations, the bundle's encoding,
//! determinism, and what cannot be lowered.

use super::bundle::{Bundle, DecodeError, HEADER_LEN};
use super::sim::{Sim, Verdict};
use super::{compile, compile_plan};
use crate::backend::{Input, Output, Support, Target};
use crate::cidr::Cidr;
use crate::ir::{Matcher, PeerKey, Section};
use crate::model::{Policy, Source, Spec, Workload};
use crate::plan::{Plan, plan};
use crate::precedence::decide;
use polc_abi::{Op, PathKey, PathLpmKey};
use polc_api::{Action, FileAccess, NetworkAccessPolicySpec, PreventionPolicySpec, Protocol, RuntimePolicySpec};
use serde_json::{Value, json};
use sha2::Digest;
use std::net::IpAddr;

fn policy(name: &str, kind: &str, spec: Value) -> Policy {
    let spec = match kind {
        "prevention" => Spec::Prevention(serde_json::from_value::<PreventionPolicySpec>(spec).unwrap()),
        "runtime" => Spec::Runtime(serde_json::from_value::<RuntimePolicySpec>(spec).unwrap()),
        _ => Spec::Network(serde_json::from_value::<NetworkAccessPolicySpec>(spec).unwrap()),
    };
    let ir = spec.lower();
    assert!(ir.errors.is_empty(), "{name}: {:?}", ir.errors);
    Policy {
        namespace: "default".into(),
        name: name.into(),
        labels: Default::default(),
        spec,
        ir,
        source: Source { file: format!("{name}.yaml"), positions: Default::default() },
        content_hash: String::new(),
        origins: Default::default(),
    }
}

fn workload() -> Workload {
    Workload {
        kind: "Deployment".into(),
        namespace: "default".into(),
        name: "w".into(),
        containers: vec!["c".into()],
        ..Default::default()
    }
}

fn plans(policies: &[Policy]) -> Vec<Plan> {
    plan(policies, &[workload()])
}

/// Compile the one plan, round-trip its bundle through bytes.
fn bundle_of(policies: &[Policy]) -> (Plan, Bundle, Output) {
    let mut ps = plans(policies);
    assert_eq!(ps.len(), 1);
    let (b, out) = compile_plan(&ps[0], policies, 7);
    let b = b.expect("a bundle");
    let decoded = Bundle::decode(&b.encode()).unwrap();
    assert_eq!(decoded, b);
    (ps.swap_remove(0), decoded, out)
}

fn entry<'b>(b: &'b Bundle, map: &str, key: &[u8]) -> Option<&'b [u8]> {
    b.map(map)?.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
}

fn path_key(policy: u32, op: Op, p: &str) -> PathKey {
    let mut path = [0u8; polc_abi::PATH_MAX];
    path[..p.len()].copy_from_slice(p.as_bytes());
    PathKey { policy, op: op as u16, pclass: 0, path }
}

#[test]
fn block_dir_and_allow_file_flatten_into_exact_and_lpm_entries() {
    let p = policy(
        "p",
        "prevention",
        json!({"selector": {}, "process": [
            {"name": "no-usr-bin", "action": "Block", "dirs": [{"path": "/usr/bin", "recursive": true}]},
            {"name": "python", "action": "Allow", "paths": ["/usr/bin/python3"]},
        ]}),
    );
    let (plan, b, out) = bundle_of(std::slice::from_ref(&p));
    assert!(out.errors.is_empty());
    assert!(out.capabilities.iter().all(|c| c.support == Support::Exact));
    let id = |name: &str| plan.sections[0].rules.iter().find(|r| &*r.rule.name == name).unwrap().id;
    let pol = polc_abi::policy_id(0, 7);
    let exact = entry(&b, "polc_path_exact", &path_key(pol, Op::Exec, "/usr/bin/python3").to_bytes()).unwrap();
    let d = polc_abi::Decision::from_bytes(exact).unwrap();
    assert_eq!((d.rule_id, d.action), (id("python"), polc_abi::action::ALLOW));
    let k = PathLpmKey { prefixlen: polc_abi::path_prefixlen(9), key: path_key(pol, Op::Exec, "/usr/bin/") };
    let v = polc_abi::LpmValue::from_bytes(entry(&b, "polc_path_pfx", &k.to_bytes()).unwrap()).unwrap();
    assert_eq!((v.equal.rule_id, v.direct.rule_id, v.deep.rule_id), (0, id("no-usr-bin"), id("no-usr-bin")));
    assert_eq!(v.direct.action, polc_abi::action::BLOCK);
    assert_eq!(v.len, 9, "the value carries the prefix length the kernel reads");
    let sim = Sim::new(&b).unwrap();
    let run = |path: &str| sim.path(Op::Exec, path, None, None);
    assert_eq!(run("/usr/bin/python3"), Verdict { action: Action::Allow, rule_id: id("python") });
    assert_eq!(run("/usr/bin/perl"), Verdict { action: Action::Block, rule_id: id("no-usr-bin") });
    assert_eq!(run("/usr/bin/x/perl"), Verdict { action: Action::Block, rule_id: id("no-usr-bin") });
    assert_eq!(run("/usr/local/bin/perl"), Verdict { action: Action::Allow, rule_id: 0 });
}

#[test]
fn concept_doc_examples() {
    // docs/concepts.md: Allow `/usr/bin/*`; Block `/usr/bin/python3` -> Block, Allow.
    let p = policy(
        "p",
        "prevention",
        json!({"selector": {}, "process": [
            {"action": "Allow", "paths": ["/usr/bin/*"]},
            {"action": "Block", "paths": ["/usr/bin/python3"]},
        ]}),
    );
    let (_, b, _) = bundle_of(std::slice::from_ref(&p));
    let sim = Sim::new(&b).unwrap();
    assert_eq!(sim.path(Op::Exec, "/usr/bin/python3", None, None).action, Action::Block);
    assert_eq!(sim.path(Op::Exec, "/usr/bin/perl", None, None).action, Action::Allow);
}

/// A small deterministic generator (xorshift64*).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn chance(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }
}

const SEGS: &[&str] = &["a", "b", "ab", "bin", "x.so", "sh"];

fn path(g: &mut Gen, max_depth: usize) -> String {
    let n = 1 + g.below(max_depth);
    (0..n).map(|_| format!("/{}", g.pick(SEGS))).collect()
}

/// A path matcher in one of the forms the maps express exactly.
fn matcher(g: &mut Gen) -> (&'static str, Value) {
    // Few bases and segments, so that globs overlap often.
    let base = if g.chance(60) { g.pick(&["/a", "/ab", "/a/b"]).to_string() } else { path(g, 2) };
    let seg = if g.chance(60) { *g.pick(&["b", "ab"]) } else { *g.pick(SEGS) };
    match g.below(13) {
        12 => {
            let dirs = if g.chance(50) {
                format!("{}/{}", g.pick(&["a", "ab"]), g.pick(&["b", "ab"]))
            } else {
                g.pick(&["b", "ab"]).to_string()
            };
            ("paths", json!(format!("/**/{dirs}/{seg}")))
        }
        0 | 1 => ("paths", json!(path(g, 3))),
        2 => ("dirs", json!({"path": base, "recursive": g.chance(50)})),
        3 => ("paths", json!(format!("{base}/**"))),
        4 => ("paths", json!(format!("{base}/*"))),
        5 => ("paths", json!(format!("{base}/{}*", &seg[..1]))),
        6 => ("paths", json!(format!("/**/{seg}"))),
        7 => ("paths", json!(format!("/**/*{}", &seg[seg.len() - 1..]))),
        8 => ("paths", json!(format!("/**/{}*", &seg[..1]))),
        9 => ("paths", json!(format!("{base}/*/{seg}"))),
        10 => ("paths", json!(format!("{base}/**/{seg}"))),
        _ => ("paths", json!(format!("{base}/?{}", &seg[seg.len() - 1..]))),
    }
}

fn parent(g: &mut Gen) -> String {
    let base = path(g, 2);
    match g.below(4) {
        0 | 1 => path(g, 2),
        2 => format!("{base}/**"),
        _ => format!("{base}/*"),
    }
}

const ACTIONS: &[&str] = &["Allow", "Audit", "Block"];
const CIDRS: &[&str] = &[
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "10.1.2.3/32",
    "0.0.0.0/0",
    "192.168.0.0/16",
    "fd00::/8",
    "fd00:1::/32",
    "::1/128",
];
const CAPS: &[&str] = &["SYS_ADMIN", "NET_RAW", "CHOWN"];

fn prevention(g: &mut Gen) -> Value {
    let mut spec = json!({
        "selector": {},
        "mode": if g.chance(25) { "DryRun" } else { "Enforce" },
        "defaultAction": g.pick(ACTIONS),
    });
    let mut process = Vec::new();
    for _ in 0..g.below(6) {
        let mut r = json!({"action": g.pick(ACTIONS)});
        for _ in 0..1 + g.below(2) {
            let (k, v) = matcher(g);
            if k == "dirs" {
                r["dirs"] = json!([v]);
            } else {
                r["paths"] = json!([v]);
            }
        }
        if g.chance(30) {
            r["comms"] = json!([g.pick(SEGS)]);
        }
        if g.chance(30) {
            r["fromParents"] = json!((0..1 + g.below(2)).map(|_| parent(g)).collect::<Vec<_>>());
        }
        process.push(r);
    }
    let mut file = Vec::new();
    for _ in 0..g.below(5) {
        let (k, v) = matcher(g);
        let access: Vec<&str> = match g.below(3) {
            0 => vec!["Read"],
            1 => vec!["Write"],
            _ => vec!["Read", "Write"],
        };
        file.push(json!({"action": g.pick(ACTIONS), k: [v], "access": access}));
    }
    let mut network = Vec::new();
    for _ in 0..g.below(5) {
        let mut r = json!({"action": g.pick(ACTIONS), "direction": if g.chance(70) { "Egress" } else { "Ingress" }});
        if g.chance(15) {
            r["rawSockets"] = json!(true);
        } else {
            if g.chance(80) {
                r["cidrs"] = json!([g.pick(CIDRS)]);
            }
            if g.chance(60) || r.get("cidrs").is_none() {
                let proto = *g.pick(&["TCP", "UDP", "ANY"]);
                r["ports"] = json!([match g.below(3) {
                    0 => json!({"port": *g.pick(&[80u16, 443, 53]), "protocol": proto}),
                    1 => json!({"port": 80, "endPort": 90, "protocol": proto}),
                    _ => json!({"port": 1, "endPort": 1024, "protocol": proto}),
                }]);
            }
        }
        network.push(r);
    }
    let caps: Vec<Value> =
        (0..g.below(3)).map(|_| json!({"action": g.pick(ACTIONS), "capabilities": [g.pick(CAPS)]})).collect();
    spec["process"] = json!(process);
    spec["file"] = json!(file);
    spec["network"] = json!(network);
    spec["capabilities"] = json!(caps);
    spec
}

/// The reference: [`decide`] over the plan's rules of the op's sections that match.
fn oracle(plan: &Plan, op: Op, m: &dyn Fn(&crate::ir::IrRule) -> bool) -> Verdict {
    let sections: &[Section] = match op {
        Op::Exec => &[Section::Process],
        Op::Read | Op::Write => &[Section::File],
        Op::Connect => &[Section::Network],
        Op::Accept => &[Section::NetworkIngress],
        Op::RawSocket => &[Section::Network, Section::NetworkIngress],
        Op::Capability => &[Section::Capability],
        Op::NapConnect => &[Section::Egress],
        Op::NapAccept => &[Section::Ingress],
    };
    let sps: Vec<_> = plan.sections.iter().filter(|s| sections.contains(&s.section)).collect();
    let Some(default) = sps.iter().map(|s| s.default).max() else {
        return Verdict { action: Action::Allow, rule_id: 0 };
    };
    let mut rules: Vec<&crate::plan::EffRule> =
        sps.iter().flat_map(|s| s.rules.iter()).filter(|e| m(&e.rule)).collect();
    rules.sort_by(|a, b| crate::precedence::compare(&b.rule, &a.rule).then(a.id.cmp(&b.id)));
    let (action, winner) = decide(rules.iter().map(|e| &*e.rule), default);
    let rule_id = winner.and_then(|w| rules.iter().find(|e| std::ptr::eq(&*e.rule, w))).map_or(0, |e| e.id);
    Verdict { action, rule_id }
}

fn peer_matches(peer: &PeerKey, addr: IpAddr) -> bool {
    let host = Cidr::parse(&addr.to_string()).unwrap();
    match peer {
        PeerKey::Any => true,
        PeerKey::Cidr(c, ex) => c.contains(&host) && !ex.iter().any(|x| x.contains(&host)),
        PeerKey::Entity(e) => e == "all",
        _ => false,
    }
}

fn proto_of(p: Protocol) -> u8 {
    match p {
        Protocol::TCP => 6,
        Protocol::UDP => 17,
        Protocol::SCTP => 132,
        Protocol::ANY => 0,
    }
}

/// Check the kernel procedure against [`decide`] for many operations of one plan.
fn check_plan(g: &mut Gen, policies: &[Policy], plan: &Plan, b: &Bundle) -> usize {
    let sim = Sim::new(b).unwrap();
    let mut paths: Vec<String> = (0..40).map(|_| path(g, 4)).collect();
    for e in plan.sections.iter().flat_map(|s| &s.rules) {
        if let Matcher::Path(m) = &e.rule.matcher {
            paths.push(m.literal_prefix().trim_end_matches('/').to_string());
        }
    }
    paths.retain(|p| !p.is_empty());
    let mut checks = 0;
    for p in &paths {
        let name = p.rsplit('/').next().unwrap_or("");
        let parents = [None, Some(path(g, 3)), Some(path(g, 2))];
        for par in &parents {
            let comm = if g.chance(50) { name.to_string() } else { g.pick(SEGS).to_string() };
            let got = sim.path(Op::Exec, p, Some(&comm), par.as_deref());
            let want = oracle(plan, Op::Exec, &|r| {
                let hit = match &r.matcher {
                    Matcher::Path(m) => m.matches(p),
                    Matcher::Comm(c) => *c == comm,
                    _ => false,
                };
                hit && (r.conditions.parents.is_empty()
                    || par.as_deref().is_some_and(|q| r.conditions.parents.iter().any(|m| m.matches(q))))
            });
            assert_eq!(got, want, "exec {p} comm {comm} parent {par:?}\n{}", explain(policies, plan));
            checks += 1;
        }
        for (op, acc) in [(Op::Read, FileAccess::Read), (Op::Write, FileAccess::Write)] {
            let got = sim.path(op, p, None, None);
            let want = oracle(plan, op, &|r| {
                matches!(&r.matcher, Matcher::Path(m) if m.matches(p)) && r.conditions.access.contains(&acc)
            });
            assert_eq!(got, want, "{op:?} {p}\n{}", explain(policies, plan));
            checks += 1;
        }
    }
    checks += check_moves(policies, plan, &sim, &paths);
    let addrs =
        ["10.1.2.3", "10.1.2.4", "10.1.3.1", "10.2.0.1", "192.168.1.1", "8.8.8.8", "fd00:1::5", "fd00:2::1", "::1"];
    for a in addrs {
        let addr: IpAddr = a.parse().unwrap();
        for (proto, port) in [(6u8, 80u16), (6, 85), (17, 53), (6, 443), (17, 1000), (6, 2000)] {
            for (op, section) in [(Op::Connect, Section::Network), (Op::Accept, Section::NetworkIngress)] {
                let got = sim.net(op, addr, proto, port);
                let want = oracle(plan, op, &|r| match &r.matcher {
                    Matcher::Net { peer, ports } => {
                        r.section == section
                            && peer_matches(peer, addr)
                            && (ports.protocol == Protocol::ANY || proto_of(ports.protocol) == proto)
                            && ports.first <= port
                            && port <= ports.last
                    }
                    _ => false,
                });
                assert_eq!(got, want, "{op:?} {a} {proto}/{port}\n{}", explain(policies, plan));
                checks += 1;
            }
        }
    }
    let raw = oracle(plan, Op::RawSocket, &|r| matches!(r.matcher, Matcher::RawSocket));
    assert_eq!(sim.id(Op::RawSocket, 0), raw);
    for c in CAPS {
        let n = crate::tables::CAPABILITIES.iter().find(|(x, _)| x == c).unwrap().1;
        let want = oracle(plan, Op::Capability, &|r| matches!(&r.matcher, Matcher::Capability(x) if x == c));
        assert_eq!(sim.id(Op::Capability, n), want, "{c}");
    }
    checks
}

/// Step 6 of polc_abi.h, against what a move does to the paths, read from the IR
/// matchers (not from the compiler's guard entries):
/// - renaming a directory `d` to a fresh `/zz/q` takes a path `d/t` out of a Block or
///   Audit READ/WRITE rule when the rule matches `d/t` and not `/zz/q/t`; the rename
///   of the old name is then at least the rule's action. Moving `/zz/q` in as `d`
///   brings `d/t` under such a WRITE rule: at least its action too. (A rule that
///   matches `/zz/q/t` as well governed the path before the move.)
///   Excluded, as documented: a rule that matches `d` itself (its own decision may
///   be a more specific Allow) and globs with a wildcard in their first segment
///   (`/STAR/x`), which no guard covers.
/// - moving a name: its WRITE, or a READ rule on it that is stronger than the one
///   where it goes.
/// - any decision a move adds names a rule of that op with that action.
fn check_moves(policies: &[Policy], plan: &Plan, sim: &Sim<'_>, paths: &[String]) -> usize {
    use super::sim::Name;
    let mut checks = 0;
    let mut guarding: Vec<(&crate::pattern::PathMatcher, Action, bool, u32)> = Vec::new();
    for e in plan.sections.iter().filter(|s| s.section == Section::File).flat_map(|s| &s.rules) {
        let Matcher::Path(m) = &e.rule.matcher else { continue };
        if e.rule.effective == Action::Allow || !e.rule.conditions.parents.is_empty() {
            continue;
        }
        if let crate::pattern::PathMatcher::Glob(g) = m
            && (g.starts_with("/*") || g.starts_with("/?"))
            && !g.starts_with("/**/")
        {
            continue;
        }
        for (acc, write) in [(FileAccess::Read, false), (FileAccess::Write, true)] {
            if e.rule.conditions.access.contains(&acc) {
                guarding.push((m, e.rule.effective, write, e.id));
            }
        }
    }
    let names = |id: u32, op: Op, action: Action| {
        let acc = if op == Op::Read { FileAccess::Read } else { FileAccess::Write };
        plan.sections
            .iter()
            .flat_map(|s| &s.rules)
            .any(|e| e.id == id && e.rule.effective == action && e.rule.conditions.access.contains(&acc))
    };
    const TAILS: &[&str] =
        &["/a", "/b", "/ab", "/bin", "/x.so", "/sh", "/a/b", "/b/ab", "/ab/x.so", "/bin/sh", "/a/b/sh"];
    let mut dirs: Vec<&str> = Vec::new();
    for p in paths {
        dirs.extend(p.match_indices('/').skip(1).map(|(i, _)| &p[..i]));
        dirs.push(p);
    }
    dirs.sort_unstable();
    dirs.dedup();
    // Destinations: a fresh directory, and some of the directories the rules decide.
    let fresh = "/zz/q";
    let mut dests: Vec<&str> = vec![fresh];
    dests.extend(dirs.iter().step_by(5).copied());
    for d in &dirs {
        let new = sim.moved(d, Name::New, true);
        for q in &dests {
            if d == q || q.starts_with(&format!("{d}/")) {
                continue;
            }
            let old = sim.moved(d, Name::Old { to: q }, true);
            for (verdict, op, flags) in [old, new] {
                if flags != 0 {
                    assert!(
                        names(verdict.rule_id, op, verdict.action),
                        "rename of {d}: {verdict:?} {op:?}\n{}",
                        explain(policies, plan)
                    );
                }
            }
            for (m, action, write, id) in &guarding {
                // A rule that matches the directory itself counts when it decides it
                // (not when a more specific rule does: the documented exception).
                if m.matches(d) {
                    let (op, acc) = if *write { (Op::Write, FileAccess::Write) } else { (Op::Read, FileAccess::Read) };
                    let by = oracle(plan, op, &|r| {
                        matches!(&r.matcher, Matcher::Path(x) if x.matches(d)) && r.conditions.access.contains(&acc)
                    });
                    if by.rule_id != *id {
                        continue;
                    }
                }
                for t in TAILS {
                    let (p, moved) = (format!("{d}{t}"), format!("{q}{t}"));
                    if m.matches(&p) && !m.matches(&moved) {
                        assert!(
                            old.0.action >= *action,
                            "renaming {d} to {q} takes {p} out of a {action:?} rule: {old:?}\n{}",
                            explain(policies, plan)
                        );
                        checks += 1;
                    }
                    if *write && *q == fresh && m.matches(&p) && !m.matches(&moved) {
                        assert!(
                            new.0.action >= *action,
                            "moving a directory in as {d} makes {p}, under a {action:?} WRITE rule: {new:?}\n{}",
                            explain(policies, plan)
                        );
                        checks += 1;
                    }
                }
            }
        }
    }
    for p in paths {
        let write = sim.path(Op::Write, p, None, None);
        let read_rule = |x: &str| {
            oracle(plan, Op::Read, &|r| {
                matches!(&r.matcher, Matcher::Path(m) if m.matches(x))
                    && r.conditions.access.contains(&FileAccess::Read)
            })
        };
        for to in [fresh, "/a/b", "/ab"] {
            let (here, there) = (read_rule(p), read_rule(to));
            let there = if there.rule_id == 0 { Action::Allow } else { there.action };
            let want = if here.rule_id != 0 && here.action > write.action && here.action > there {
                (here, Op::Read, polc_abi::event_flags::NAME_MOVED)
            } else {
                (write, Op::Write, 0)
            };
            assert_eq!(
                sim.moved(p, Name::Old { to }, false),
                want,
                "move of the name {p} to {to}\n{}",
                explain(policies, plan)
            );
            checks += 1;
        }
        assert_eq!(sim.moved(p, Name::New, false), (write, Op::Write, 0), "the new name {p}");
    }
    checks
}

fn explain(policies: &[Policy], plan: &Plan) -> String {
    let mut s = String::new();
    for p in policies {
        s.push_str(&format!(
            "{}: {}\n",
            p.name,
            serde_json::to_string(&match &p.spec {
                Spec::Prevention(x) => serde_json::to_value(x).unwrap(),
                Spec::Runtime(x) => serde_json::to_value(x).unwrap(),
                Spec::Network(x) => serde_json::to_value(x).unwrap(),
            })
            .unwrap()
        ));
    }
    for sp in &plan.sections {
        for e in &sp.rules {
            s.push_str(&format!(
                "  {} {:?} {} {}\n",
                e.id,
                e.rule.action,
                super::matches_text(&e.rule),
                super::lower::rank(&e.rule)
            ));
        }
    }
    s
}

#[test]
fn kernel_procedure_agrees_with_decide_on_generated_policies() {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let mut checks = 0;
    for case in 0..200 {
        let n = 1 + g.below(2);
        let policies: Vec<Policy> =
            (0..n).map(|i| policy(&format!("p{case}-{i}"), "prevention", prevention(&mut g))).collect();
        let ps = plans(&policies);
        let (b, out) = compile_plan(&ps[0], &policies, 1 + case as u16);
        assert!(out.errors.is_empty(), "{:?}\n{}", out.errors, explain(&policies, &ps[0]));
        for c in &out.capabilities {
            assert_eq!(c.support, Support::Exact, "{c:?}");
        }
        let Some(b) = b else { continue };
        let bytes = b.encode();
        let b = Bundle::decode(&bytes).unwrap();
        // The dump written directly is the dump written through a JSON value.
        assert_eq!(super::dump::render(&b, &super::bundle::header_sha256_hex(&bytes)), super::dump::to_text(&b));
        checks += check_plan(&mut g, &policies, &ps[0], &b);
    }
    assert!(checks > 40_000, "{checks}");
}

#[test]
fn network_exceptions_and_nap_ops() {
    let p = policy(
        "n",
        "network",
        json!({"selector": {}, "egress": [
            {"name": "ten", "action": "Allow", "peers": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}], "ports": [{"port": 443}]},
            {"name": "dns", "action": "Allow", "peers": [{"cidr": "10.1.2.0/24"}], "ports": [{"port": 53, "protocol": "UDP"}]},
        ]}),
    );
    let (plan, b, out) = bundle_of(std::slice::from_ref(&p));
    assert!(out.errors.is_empty());
    let sim = Sim::new(&b).unwrap();
    let id = |n: &str| plan.sections[0].rules.iter().find(|r| &*r.rule.name == n).unwrap().id;
    let v = |a: &str, pr, po| sim.net(Op::NapConnect, a.parse().unwrap(), pr, po);
    assert_eq!(v("10.2.0.1", 6, 443), Verdict { action: Action::Allow, rule_id: id("ten") });
    assert_eq!(v("10.1.0.1", 6, 443), Verdict { action: Action::Block, rule_id: 0 });
    assert_eq!(v("10.1.2.9", 17, 53), Verdict { action: Action::Allow, rule_id: id("dns") });
    assert_eq!(v("10.1.2.9", 6, 53), Verdict { action: Action::Block, rule_id: 0 });
    assert_eq!(sim.net(Op::Connect, "10.2.0.1".parse().unwrap(), 6, 1), Verdict { action: Action::Allow, rule_id: 0 });
}

#[test]
fn nap_directions_with_selectors_are_left_to_cilium() {
    let p = policy(
        "n",
        "network",
        json!({"selector": {}, "egress": [
            {"name": "pods", "action": "Allow", "peers": [{"pods": {"matchLabels": {"a": "b"}}}]},
            {"name": "cidr", "action": "Allow", "peers": [{"cidr": "10.0.0.0/8"}]},
        ]}),
    );
    let ps = plans(std::slice::from_ref(&p));
    let (b, out) = compile_plan(&ps[0], std::slice::from_ref(&p), 1);
    assert!(b.is_none(), "nothing for the kernel");
    assert!(out.errors.is_empty());
    assert_eq!(out.capabilities.len(), 2);
    for c in &out.capabilities {
        let Support::NotExpressible { reason } = &c.support else { panic!("{c:?}") };
        assert!(reason.contains("Cilium"), "{reason}");
    }
}

#[test]
fn parent_conditions_use_parent_classes() {
    let p = policy(
        "p",
        "prevention",
        json!({"selector": {}, "process": [
            {"name": "shell-from-java", "action": "Block", "paths": ["/bin/sh"], "comms": ["sh"],
             "fromParents": ["/usr/lib/jvm/**", "/app"]},
            {"name": "shell-from-db", "action": "Audit", "paths": ["/bin/sh"], "fromParents": ["/usr/bin/mongod", "/app"]},
        ]}),
    );
    let (plan, b, out) = bundle_of(std::slice::from_ref(&p));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let sim = Sim::new(&b).unwrap();
    let id = |n: &str| plan.sections[0].rules.iter().find(|r| &*r.rule.name == n).unwrap().id;
    let exec = |par: Option<&str>| sim.path(Op::Exec, "/bin/sh", Some("sh"), par);
    assert_eq!(exec(Some("/usr/lib/jvm/java-8/bin/java")).rule_id, id("shell-from-java"));
    assert_eq!(exec(Some("/app")).action, Action::Block);
    assert_eq!(exec(Some("/usr/bin/mongod")), Verdict { action: Action::Audit, rule_id: id("shell-from-db") });
    assert_eq!(exec(Some("/usr/bin/node")), Verdict { action: Action::Allow, rule_id: 0 });
    assert_eq!(exec(None), Verdict { action: Action::Allow, rule_id: 0 });
    // /usr/lib/jvm/**, /app, /usr/bin/mongod give three distinct sets of enabled rules.
    assert_eq!(b.map("polc_par_exact").unwrap().entries.len(), 2);
    assert_eq!(b.map("polc_par_pfx").unwrap().entries.len(), 1);
}

#[test]
fn runtime_baseline_is_an_allow_list_with_the_anomaly_action() {
    let p = policy(
        "r",
        "runtime",
        json!({"selector": {}, "onAnomaly": "Block", "baseline": {
            "executables": ["/usr/local/bin/java.sh", "/usr/lib/jvm/**/bin/java"],
            "files": [{"path": "/proc/*/stat"}, {"path": "/tmp/**", "access": ["Read", "Write"]}],
            "egress": [{"cidr": "10.0.0.0/8", "ports": [{"port": 53, "protocol": "UDP"}]}],
            "capabilities": ["NET_BIND_SERVICE"],
        }}),
    );
    let (_, b, out) = bundle_of(std::slice::from_ref(&p));
    assert!(out.errors.is_empty());
    let sim = Sim::new(&b).unwrap();
    assert_eq!(sim.path(Op::Exec, "/usr/lib/jvm/java-8/jre/bin/java", None, None).action, Action::Allow);
    assert_eq!(sim.path(Op::Exec, "/usr/lib/jvm/bin/java", None, None).action, Action::Allow);
    assert_eq!(sim.path(Op::Exec, "/usr/lib/jvm/java-8/bin/javac", None, None).action, Action::Block);
    assert_eq!(sim.path(Op::Read, "/proc/1/stat", None, None).action, Action::Allow);
    assert_eq!(sim.path(Op::Read, "/proc/1/task/2/stat", None, None).action, Action::Block);
    assert_eq!(sim.path(Op::Write, "/proc/1/stat", None, None).action, Action::Block);
    assert_eq!(sim.path(Op::Write, "/tmp/x/y", None, None).action, Action::Allow);
    assert_eq!(sim.net(Op::Connect, "10.9.9.9".parse().unwrap(), 17, 53).action, Action::Allow);
    assert_eq!(sim.net(Op::Connect, "10.9.9.9".parse().unwrap(), 6, 53).action, Action::Block);
    assert_eq!(sim.id(Op::RawSocket, 0).action, Action::Block);
    assert_eq!(sim.id(Op::Capability, 10).action, Action::Allow);
    assert_eq!(sim.id(Op::Capability, 21).action, Action::Block);
}

#[test]
fn long_paths_are_typed_errors_and_long_queries_still_match_prefixes() {
    let long = format!("/{}", "a".repeat(polc_abi::PATH_MAX));
    let p = policy(
        "p",
        "prevention",
        json!({"selector": {}, "process": [
            {"name": "long", "action": "Allow", "paths": [long]},
        ]}),
    );
    let ps = plans(std::slice::from_ref(&p));
    let (_, out) = compile_plan(&ps[0], std::slice::from_ref(&p), 1);
    assert_eq!(out.errors.len(), 1);
    assert!(
        out.errors[0].message.contains("249 bytes") && out.errors[0].message.contains("at most 248"),
        "{}",
        out.errors[0]
    );
    // A path longer than the keys hold is still decided exactly by prefixes and suffixes.
    let p = policy(
        "p",
        "prevention",
        json!({"selector": {}, "process": [
            {"name": "tmp", "action": "Block", "dirs": [{"path": "/tmp", "recursive": true}]},
            {"name": "nc", "action": "Audit", "paths": ["/**/nc"]},
        ]}),
    );
    let (_, b, _) = bundle_of(std::slice::from_ref(&p));
    let sim = Sim::new(&b).unwrap();
    let deep = format!("/tmp/{}/x", "d/".repeat(200));
    assert_eq!(sim.path(Op::Exec, &deep, None, None).action, Action::Block);
    let deep_nc = format!("/opt/{}/nc", "d/".repeat(200));
    assert_eq!(sim.path(Op::Exec, &deep_nc, None, None).action, Action::Audit);
}

#[test]
fn unlowerable_globs_block_is_an_error_allow_is_approximated() {
    let p = policy(
        "p",
        "prevention",
        json!({"selector": {}, "process": [
            {"name": "libs", "action": "Allow", "paths": ["/lib/*.so*"]},
            {"name": "keys", "action": "Block", "paths": ["/home/*/.ssh/**"]},
            {"name": "wide-range", "action": "Block", "paths": ["/bin/sh"], "fromParents": ["/**/java"]},
        ], "network": [
            {"name": "high", "action": "Block", "ports": [{"port": 1024, "endPort": 65000}]},
            {"name": "high-ok", "action": "Audit", "ports": [{"port": 2000, "endPort": 60000, "protocol": "UDP"}]},
        ]}),
    );
    let ps = plans(std::slice::from_ref(&p));
    let (b, out) = compile_plan(&ps[0], std::slice::from_ref(&p), 1);
    let errs: Vec<(&str, &str)> = out.errors.iter().map(|e| (e.rule.as_str(), e.message.as_str())).collect();
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs.iter().any(|(r, m)| *r == "keys" && m.contains("AppArmor")), "{errs:?}");
    assert!(errs.iter().any(|(r, m)| *r == "wide-range" && m.contains("parent `/**/java`")), "{errs:?}");
    assert!(errs.iter().any(|(r, m)| *r == "high" && m.contains("Cilium")), "{errs:?}");
    assert!(out.errors.iter().all(|e| e.location == "p.yaml" && e.backend == crate::backend::Target::BpfLsm));
    let support = |r: &str| out.capabilities.iter().find(|c| c.rule() == r).map(|c| c.support.clone());
    assert!(matches!(support("libs"), Some(Support::Approximated { reason }) if reason.contains("`/lib/*`")));
    assert!(matches!(support("high-ok"), Some(Support::Approximated { .. })));
    let b = b.unwrap();
    let sim = Sim::new(&b).unwrap();
    assert_eq!(sim.path(Op::Exec, "/lib/libc.so.6", None, None).action, Action::Allow);
}

#[test]
fn syscalls_are_left_to_seccomp() {
    let p = policy("r", "runtime", json!({"selector": {}, "baseline": {"syscalls": ["read"]}}));
    let ps = plans(std::slice::from_ref(&p));
    let (b, out) = compile_plan(&ps[0], std::slice::from_ref(&p), 1);
    assert!(b.is_none());
    assert!(matches!(&out.capabilities[0].support, Support::NotExpressible { reason } if reason.contains("seccomp")));
}

fn sample() -> Vec<Policy> {
    vec![
        policy(
            "a",
            "prevention",
            json!({"selector": {}, "process": [
            {"name": "shells", "action": "Block", "paths": ["/bin/sh", "/bin/*sh", "/**/nc"], "comms": ["sh"]},
            {"name": "java", "action": "Allow", "paths": ["/usr/lib/jvm/**/bin/java"], "fromParents": ["/app/**"]},
        ], "file": [{"name": "etc", "action": "Audit", "dirs": [{"path": "/etc", "recursive": true}]}],
           "network": [{"name": "md", "action": "Block", "cidrs": ["169.254.169.254/32", "fd00:ec2::254/128"], "ports": [{"port": 80}]}],
           "capabilities": [{"action": "Block", "capabilities": ["SYS_ADMIN"]}]}),
        ),
        policy(
            "b",
            "runtime",
            json!({"selector": {}, "mode": "DryRun", "onAnomaly": "Block", "baseline": {
            "executables": ["/app/server"], "files": [{"path": "/proc/*/environ"}]}}),
        ),
    ]
}

#[test]
fn compile_is_deterministic_and_independent_of_input_order() {
    let ps = sample();
    let run = |ps: &[Policy]| {
        let plans = plans(ps);
        let mut o = compile(&Input { policies: ps, workloads: &[workload()], plans: &plans });
        o.sort();
        o
    };
    let a = run(&ps);
    assert!(a.errors.is_empty(), "{:?}", a.errors);
    assert_eq!(a.artifacts.len(), 2);
    let same = |x: &Output, y: &Output| x.artifacts.iter().zip(&y.artifacts).all(|(p, q)| p == q);
    assert!(same(&a, &run(&ps)), "two compiles differ");
    let mut rev = ps.clone();
    rev.reverse();
    let r = run(&rev);
    assert_eq!(String::from_utf8_lossy(&a.artifacts[1].bytes), String::from_utf8_lossy(&r.artifacts[1].bytes));
    assert!(same(&a, &r), "input order changes the bundle");
    // The JSON dump is the bundle, decoded.
    let b = Bundle::decode(&a.artifacts[0].bytes).unwrap();
    let json: Value = serde_json::from_slice(&a.artifacts[1].bytes).unwrap();
    assert_eq!(json, super::dump::to_json(&b));
    assert_eq!(json["sha256"], b.sha256_hex());
}

#[test]
fn plans_of_one_policy_set_share_the_lowering_with_the_same_bytes() {
    let ps = sample();
    // Three workloads (two containers each): six plans, one policy set.
    let workloads: Vec<Workload> = ["w1", "w2", "w3"]
        .iter()
        .map(|n| Workload { name: (*n).into(), containers: vec!["c".into(), "d".into()], ..workload() })
        .collect();
    let plans = plan(&ps, &workloads);
    assert_eq!(plans.len(), 6);
    let shared = compile(&Input { policies: &ps, workloads: &workloads, plans: &plans });
    let mut each = Output::default();
    for (i, p) in plans.iter().enumerate() {
        let slot = super::slots(&plans)[i];
        let (b, o) = compile_plan(p, &ps, slot);
        each.extend(o);
        let b = b.expect("a bundle");
        let stem = p.target.stem();
        let json = super::dump::to_text(&b).into_bytes();
        each.artifacts.push(crate::backend::Artifact { path: format!("bpf-lsm/{stem}.bundle"), bytes: b.encode() });
        each.artifacts.push(crate::backend::Artifact { path: format!("bpf-lsm/{stem}.json"), bytes: json });
    }
    each.sort();
    assert_eq!(shared.artifacts.len(), 12);
    assert_eq!(shared, each);
    // The slots differ, so the keys do.
    let slots: std::collections::BTreeSet<u16> =
        shared.artifacts.iter().step_by(2).map(|a| Bundle::decode(&a.bytes).unwrap().slot).collect();
    assert_eq!(slots.len(), 6);
}

#[test]
fn decoder_rejects_damage_without_panicking() {
    let ps = sample();
    let (_, b, _) = bundle_of(&ps);
    let bytes = b.encode();
    assert_eq!(Bundle::decode(&bytes), Ok(b.clone()));
    for n in 0..bytes.len() {
        assert!(Bundle::decode(&bytes[..n]).is_err(), "prefix of {n} bytes accepted");
    }
    let mut x = bytes.clone();
    x[HEADER_LEN + 10] ^= 1;
    assert_eq!(Bundle::decode(&x), Err(DecodeError::Hash));
    let mut x = bytes.clone();
    x[0] = b'X';
    assert_eq!(Bundle::decode(&x), Err(DecodeError::Magic));
    let mut x = bytes.clone();
    x[12] = 99;
    assert_eq!(Bundle::decode(&x), Err(DecodeError::AbiVersion { found: 99 }));
    let mut x = bytes.clone();
    x.push(0);
    assert!(matches!(Bundle::decode(&x), Err(DecodeError::Length { .. })));
    // Damage behind a valid hash: every byte of the body, flipped and re-hashed.
    let rehash = |mut x: Vec<u8>| {
        let h = sha2::Sha256::digest(&x[HEADER_LEN..]);
        x[24..56].copy_from_slice(&h);
        x
    };
    let mut rejected = 0;
    // Every byte of the first kilobyte of the body, then a sample.
    let picks = (HEADER_LEN..bytes.len()).filter(|i| *i < HEADER_LEN + 1024 || i % 7 == 0);
    for i in picks {
        for flip in [0x01u8, 0xff] {
            let mut x = bytes.clone();
            x[i] ^= flip;
            let x = rehash(x);
            match Bundle::decode(&x) {
                // Canonical: what decodes re-encodes to the same bytes (so it is not `b`).
                Ok(d) => assert!(d.encode() == x, "byte {i} ^ {flip:#x} decodes to another encoding"),
                Err(_) => rejected += 1,
            }
        }
    }
    assert!(rejected > 0);
}

#[test]
fn keys_and_texts_are_stored_once_and_short() {
    let ps = sample();
    let (_, b, _) = bundle_of(&ps);
    let bytes = b.encode();
    // Every entry's full key and every rule's texts, as format 1 stored them.
    let full_keys: usize = b.maps.iter().map(|m| m.entries.len() * m.key_size as usize).sum();
    let texts: usize = b
        .rules
        .iter()
        .map(|r| {
            [&r.policy, &r.rule, &r.section, &r.matches, &r.source, &r.message]
                .iter()
                .map(|s| 4 + s.len())
                .sum::<usize>()
                + r.tags.iter().map(|t| 4 + t.len()).sum::<usize>()
        })
        .sum();
    assert!(full_keys > 0 && texts > 0);
    assert!(bytes.len() < full_keys, "{} bytes, keys alone were {full_keys}", bytes.len());
    // A path key is stored up to its last byte that is not zero.
    let path = b.maps.iter().flat_map(|m| &m.entries).map(|(k, _)| k).find(|k| k.len() == 256).unwrap();
    let kept = path.iter().rposition(|&x| x != 0).unwrap() + 1;
    assert!(bytes.windows(kept + 2).any(|w| w[..2] == (kept as u16).to_le_bytes() && w[2..] == path[..kept]));
    // Each text once: a section several rules share is stored once (as a `str`).
    let section = &b.rules[0].section;
    assert!(b.rules.iter().filter(|r| &r.section == section).count() >= 2);
    let mut enc = (section.len() as u32).to_le_bytes().to_vec();
    enc.extend_from_slice(section.as_bytes());
    assert_eq!(bytes.windows(enc.len()).filter(|w| *w == enc.as_slice()).count(), 1);
}

#[test]
fn format_1_bundles_are_still_read() {
    // An agent upgraded in place reads the slot bundles an older build stored.
    let ps = sample();
    let (_, b, _) = bundle_of(&ps);
    let old = b.encode_format_1();
    assert!(old.len() > b.encode().len());
    assert_eq!(Bundle::decode(&old), Ok(b.clone()));
    for n in 0..old.len() {
        assert!(Bundle::decode(&old[..n]).is_err(), "prefix of {n} bytes accepted");
    }
    let mut x = b.encode();
    x[8..12].copy_from_slice(&3u32.to_le_bytes());
    let e = Bundle::decode(&x).unwrap_err();
    assert_eq!(e, DecodeError::FormatVersion { found: 3 });
    assert!(e.to_string().contains("format version 3 is not supported (this build reads 1 and 2)"), "{e}");
}

#[test]
fn every_lpm_value_carries_its_prefix_length() {
    let p = policy(
        "p",
        "prevention",
        json!({"selector": {}, "process": [
            {"action": "Block", "dirs": [{"path": "/usr/bin", "recursive": true}], "fromParents": ["/usr/sbin/**"]},
            {"action": "Allow", "paths": ["/usr/bin/*.py", "/opt/*/bin/tool", "/**/nc", "/**/xmrig*"]},
        ], "file": [{"action": "Block", "access": ["Write"], "paths": ["/etc/**", "/proc/*/environ"]}]}),
    );
    let (_, b, out) = bundle_of(std::slice::from_ref(&p));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    for (map, value_len) in [
        ("polc_path_pfx", None),
        ("polc_path_sfx", None),
        ("polc_name_pfx", None),
        ("polc_par_pfx", Some(polc_abi::PclassLpmValue::SIZE)),
    ] {
        let entries = b.map(map).map(|m| m.entries.as_slice()).unwrap_or_default();
        assert!(!entries.is_empty(), "{map} has entries to check");
        for (k, v) in entries {
            let key = PathLpmKey::from_bytes(k).unwrap();
            let bytes = (key.prefixlen - polc_abi::KEY_HEADER_BITS) / 8;
            let len = match value_len {
                None => polc_abi::LpmValue::from_bytes(v).unwrap().len,
                Some(_) => polc_abi::PclassLpmValue::from_bytes(v).unwrap().len,
            };
            assert_eq!(len, bytes, "{map}: entry of a {bytes}-byte prefix");
        }
    }
}

#[test]
fn moves_are_decided_by_what_they_expose() {
    use super::sim::Name;
    use polc_abi::event_flags::{BELOW, NAME_MOVED};
    let p = policy(
        "p",
        "prevention",
        json!({"selector": {}, "file": [
            {"name": "secret", "action": "Block", "access": ["Read"], "dirs": [{"path": "/srv/secret", "recursive": true}]},
            {"name": "inbox", "action": "Block", "access": ["Read"], "dirs": [{"path": "/srv/inbox", "recursive": false}]},
            {"name": "data", "action": "Block", "access": ["Write"], "dirs": [{"path": "/srv/data", "recursive": true}]},
            {"name": "tail-b", "action": "Block", "access": ["Write"], "paths": ["/**/b/x"]},
            {"name": "tail-ab", "action": "Audit", "access": ["Write"], "paths": ["/**/a/b/y"]},
            {"name": "deep-a", "action": "Block", "access": ["Write"], "paths": ["/w/*/x"]},
            {"name": "deep-ab", "action": "Audit", "access": ["Write"], "paths": ["/w/b/*/y"]},
            {"name": "logs", "action": "Audit", "access": ["Read"], "paths": ["/var/log/*.log"]},
        ]}),
    );
    let (plan, b, out) = bundle_of(std::slice::from_ref(&p));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let id = |name: &str| plan.sections.iter().flat_map(|s| &s.rules).find(|r| &*r.rule.name == name).unwrap().id;
    let sim = Sim::new(&b).unwrap();
    let v = |action, rule| Verdict { action, rule_id: rule };
    let allow = (v(Action::Allow, 0), Op::Write, 0);
    let old = |to| Name::Old { to };
    // A name that may not be read: not moved to where it is read more freely.
    assert_eq!(
        sim.moved("/srv/secret/key", old("/tmp/key"), false),
        (v(Action::Block, id("secret")), Op::Read, NAME_MOVED)
    );
    assert_eq!(sim.moved("/srv/secret/key", old("/srv/secret/key.new"), false), allow, "a rename inside the tree");
    assert_eq!(sim.moved("/srv/secret/key", old("/srv/inbox/key"), false), allow, "a file, read-blocked there too");
    // A directory: the rule on its new name may not cover what is below it.
    assert_eq!(
        sim.moved("/srv/secret/sub", old("/srv/inbox/sub"), true),
        (v(Action::Block, id("secret")), Op::Read, NAME_MOVED)
    );
    assert_eq!(sim.moved("/srv/secret/sub", old("/srv/secret/sub2"), true), allow, "the same rule decides both");
    // Directories: the rule below, under the old name; a directory moved in is
    // checked against WRITE only.
    let below = NAME_MOVED | BELOW;
    assert_eq!(sim.moved("/srv/secret", old("/tmp/s"), true), (v(Action::Block, id("secret")), Op::Read, below));
    assert_eq!(sim.moved("/srv", old("/old"), true).0.action, Action::Block);
    assert_eq!(sim.moved("/srv/secret", Name::New, true), allow, "moving a directory in exposes nothing to READ");
    assert_eq!(sim.moved("/srv/data", Name::New, true), (v(Action::Block, id("data")), Op::Write, below));
    assert_eq!(sim.moved("/srv/pub", old("/srv/pub2"), true), allow);
    // Suffix globs with directories: a directory that ends with one of their
    // directory tails; a longer tail of a weaker rule does not hide a stronger one.
    assert_eq!(sim.moved("/home/u/b", old("/tmp/b2"), true), (v(Action::Block, id("tail-b")), Op::Write, below));
    assert_eq!(sim.moved("/home/u/a/b", old("/tmp/b2"), true), (v(Action::Block, id("tail-b")), Op::Write, below));
    assert_eq!(sim.moved("/home/u/a", old("/tmp/a2"), true), (v(Action::Audit, id("tail-ab")), Op::Write, below));
    assert_eq!(sim.moved("/home/u/ab", old("/tmp/x"), true), allow, "tails are whole names");
    // Globs with a wildcard directory: directories below their literal prefix, as
    // deep as a match's directories can be.
    assert_eq!(sim.moved("/w/app", old("/tmp/x"), true), (v(Action::Block, id("deep-a")), Op::Write, below));
    // ... by the number of '/' its matches have: `/w/b/c` holds no match of `/w/*/x`.
    assert_eq!(sim.moved("/w/b/c", old("/tmp/x"), true), (v(Action::Audit, id("deep-ab")), Op::Write, below));
    assert_eq!(sim.moved("/w/app/sub", old("/tmp/x"), true), allow, "deeper than any match");
    assert_eq!(sim.moved("/w", old("/tmp/x"), true).0.action, Action::Block);
    // Matches only directly in their directory: that directory alone.
    assert_eq!(sim.moved("/var/log", old("/tmp/x"), true), (v(Action::Audit, id("logs")), Op::Read, below));
    assert_eq!(sim.moved("/var/log/app", old("/tmp/x"), true), allow);
    // The entries behind these, in the bundle.
    let deep = b.map(polc_abi::MAP_GUARD_DEEP.name).map_or(0, |m| m.entries.len());
    let sfx = b.map(polc_abi::MAP_GUARD_SFX.name).map_or(0, |m| m.entries.len());
    assert_eq!((deep, sfx), (2, 3), "deep: /w/ and /w/b/; tails: /b, /a, /a/b");
}

/// More plans than slots: every slot is handed out once, then the rest keep their
/// hashed slot (a first choice for the agent), and assignment ends (it used to probe
/// for a free slot for ever beyond 65,535 plans).
#[test]
fn slots_beyond_the_slot_space() {
    let plan = |i: usize| crate::plan::Plan {
        target: crate::plan::Target {
            namespace: format!("ns{}", i / 100),
            kind: "Deployment".into(),
            name: format!("w{i}"),
            container: "c".into(),
        },
        policies: Vec::new(),
        sections: Vec::new(),
        dropped: Vec::new(),
    };
    let plans: Vec<_> = (0..70_000).map(plan).collect();
    let s = super::slots(&plans);
    assert_eq!(s.len(), 70_000);
    assert!(s.iter().all(|&x| x != 0), "slot 0 means no slot");
    let first: std::collections::HashSet<u16> = s[..65_535].iter().copied().collect();
    assert_eq!(first.len(), 65_535, "the first 65,535 plans get distinct slots");
    // Fewer plans: the same slots as with more (a plan's slot depends on the plans
    // before it only).
    assert_eq!(super::slots(&plans[..1000]), s[..1000]);
}

/// Two targets whose files would have the same name are one error of the compile,
/// at the later target's manifest, naming both targets and where each comes from,
/// and nothing is written (their writes would race on the backends' threads). A
/// name with a character unsafe in a file name is written with `_`, and clashes
/// the same way.
#[test]
fn clashing_file_names_are_an_error() {
    let p = policy("p", "prevention", json!({"selector": {}, "process": [{"action": "Block", "paths": ["/bin/sh"]}]}));
    let w = |name: &str, container: &str, line: u32| Workload {
        name: name.into(),
        containers: vec![container.into()],
        source: format!("apps.yaml:{line}:9"),
        ..workload()
    };
    let workloads = [w("a.b", "c", 4), w("a", "b.c", 20), w("x", "c", 40), w("y/z", "c", 60), w("y_z", "c", 80)];
    let policies = [p];
    let ps = plan(&policies, &workloads);
    assert_eq!(ps.len(), 5);
    let out = crate::backend::compile(&Input { policies: &policies, workloads: &workloads, plans: &ps }, &Target::ALL);
    let errors: Vec<(&str, &str)> = out.errors.iter().map(|e| (e.location.as_str(), e.message.as_str())).collect();
    assert_eq!(
        errors,
        [
            (
                "apps.yaml:4:9",
                "targets default/Deployment/a.b/c and default/Deployment/a/b.c (at apps.yaml:20:9) would both have \
                 the files bpf-lsm/default.deployment.a.b.c.bundle and .json, apparmor/default.deployment.a.b.c, \
                 seccomp/default.deployment.a.b.c.json and seccomp/spo/default.deployment.a.b.c.yaml; rename one \
                 of the two"
            ),
            (
                "apps.yaml:80:9",
                "targets default/Deployment/y_z/c and default/Deployment/y/z/c (at apps.yaml:60:9) would both have \
                 the files bpf-lsm/default.deployment.y_z.c.bundle and .json, apparmor/default.deployment.y_z.c, \
                 seccomp/default.deployment.y_z.c.json and seccomp/spo/default.deployment.y_z.c.yaml; rename one \
                 of the two"
            ),
        ]
    );
    assert!(out.errors.iter().all(|e| e.backend == Target::BpfLsm && e.policy.starts_with("Deployment default/")));
    assert!(out.artifacts.is_empty(), "{:?}", out.artifacts.iter().map(|a| &a.path).collect::<Vec<_>>());
    // Without the clashing workloads the same compile writes files.
    let ps = plan(&policies, &workloads[2..4]);
    let out = crate::backend::compile(&Input { policies: &policies, workloads: &workloads, plans: &ps }, &Target::ALL);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert!(out.artifacts.iter().any(|a| a.path == "bpf-lsm/default.deployment.y_z.c.bundle"));
}

/// A workload defined twice with other labels (so other policies select it) is
/// one target made twice: an error naming both definitions, not one plan kept.
/// Defined twice the same way, it is one plan and compiles.
#[test]
fn a_workload_defined_twice_is_an_error() {
    let p = |name: &str, app: &str| {
        policy(
            name,
            "prevention",
            json!({"selector": {"matchLabels": {"app": app}}, "process": [{"action": "Block", "paths": ["/bin/sh"]}]}),
        )
    };
    let w = |app: &str, line: u32| Workload {
        labels: [("app".to_string(), app.to_string())].into(),
        source: format!("apps.yaml:{line}:9"),
        ..workload()
    };
    let policies = [p("a", "a"), p("b", "b")];
    let workloads = [w("a", 4), w("b", 30)];
    let ps = plan(&policies, &workloads);
    assert_eq!(ps.len(), 2, "both definitions are kept");
    let out = crate::backend::compile(&Input { policies: &policies, workloads: &workloads, plans: &ps }, &Target::ALL);
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    let e = &out.errors[0];
    assert!(
        e.message.starts_with(
            "target default/Deployment/w/c is defined twice, with different policies (at apps.yaml:4:9 and \
             apps.yaml:30:9)"
        ),
        "{}",
        e.message
    );
    assert!(out.artifacts.is_empty());
    // Defined three times, twice the same way: the two alike are one plan, and the
    // one that differs is the only clash.
    let three = [w("a", 4), w("b", 30), w("a", 50)];
    let ps = plan(&policies, &three);
    let out = crate::backend::compile(&Input { policies: &policies, workloads: &three, plans: &ps }, &Target::ALL);
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    let same = [w("a", 4), w("a", 30)];
    let ps = plan(&policies, &same);
    // One plan of the workload (and one of policy b on its own: it selects nothing).
    assert_eq!(ps.iter().filter(|p| p.target.kind == "Deployment").count(), 1);
    let out = crate::backend::compile(&Input { policies: &policies, workloads: &same, plans: &ps }, &Target::ALL);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
}

/// A stem too long for a file name (with `.bundle`, over 255 bytes) is an error at
/// the workload's manifest that says what to shorten, and nothing is written.
#[test]
fn a_stem_too_long_for_a_file_name_is_an_error() {
    let p = policy("p", "prevention", json!({"selector": {}, "process": [{"action": "Block", "paths": ["/bin/sh"]}]}));
    let policies = [p];
    let fits = "n".repeat(248 - "default.deployment..c".len());
    for (name, errors) in [(fits.clone(), 0), (format!("{fits}x"), 1)] {
        let workloads = [Workload { name, source: "apps.yaml:4:9".into(), ..workload() }];
        let ps = plan(&policies, &workloads);
        let out = crate::backend::compile(
            &Input { policies: &policies, workloads: &workloads, plans: &ps },
            &[Target::BpfLsm],
        );
        assert_eq!(out.errors.len(), errors, "{:?}", out.errors);
        if let Some(e) = out.errors.first() {
            assert_eq!(e.location, "apps.yaml:4:9");
            assert!(e.message.contains("249 bytes, over the 248"), "{}", e.message);
            assert!(e.message.ends_with("shorten the workload's namespace, name or container name"), "{}", e.message);
            assert!(out.artifacts.is_empty());
        } else {
            assert!(out.artifacts.iter().any(|a| a.path.len() == "bpf-lsm/".len() + 255));
        }
    }
}
