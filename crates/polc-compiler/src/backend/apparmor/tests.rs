//! Unit tests of the AppArmor backend: the translation of every feature, the
//! capability verdicts, and a model check that whatever the profile decides for a
//! path differs from polc's decision only where a verdict says so.

use super::*;
use crate::model::{Policy, Source, Spec, Workload};
use crate::plan::plan;
use serde_json::{Value, json};

fn with_selector(mut spec: Value) -> Value {
    spec["selector"] = json!({"matchLabels": {"app": "web"}});
    spec
}

fn make(name: &str, spec: Spec) -> Policy {
    let ir = spec.lower();
    assert!(ir.errors.is_empty(), "{name}: {:?}", ir.errors);
    Policy {
        namespace: "ns".into(),
        name: name.into(),
        labels: BTreeMap::new(),
        spec,
        ir,
        source: Source { file: format!("{name}.yaml"), positions: BTreeMap::new() },
        content_hash: format!("{name}-hash"),
        origins: Default::default(),
    }
}

fn prevention(name: &str, spec: Value) -> Policy {
    let spec = serde_json::from_value(with_selector(spec)).unwrap_or_else(|e| panic!("{name}: {e}"));
    make(name, Spec::Prevention(spec))
}

fn runtime(name: &str, spec: Value) -> Policy {
    let spec = serde_json::from_value(with_selector(spec)).unwrap_or_else(|e| panic!("{name}: {e}"));
    make(name, Spec::Runtime(spec))
}

fn network_access(name: &str, spec: Value) -> Policy {
    let spec = serde_json::from_value(with_selector(spec)).unwrap_or_else(|e| panic!("{name}: {e}"));
    make(name, Spec::Network(spec))
}

struct Run {
    out: Output,
    plans: Vec<Plan>,
}

fn run(policies: &[Policy]) -> Run {
    let workloads = vec![Workload {
        kind: "Deployment".into(),
        namespace: "ns".into(),
        name: "web".into(),
        labels: [("app".to_string(), "web".to_string())].into(),
        containers: vec!["app".into()],
        ..Default::default()
    }];
    let plans = plan(policies, &workloads);
    let out = compile(&Input { policies, workloads: &workloads, plans: &plans });
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    Run { out, plans }
}

impl Run {
    fn text(&self) -> String {
        assert_eq!(self.out.artifacts.len(), 1, "{:?}", self.out.artifacts.iter().map(|a| &a.path).collect::<Vec<_>>());
        String::from_utf8_lossy(&self.out.artifacts[0].bytes).into_owned()
    }

    fn support(&self, rule: &str) -> Vec<&Support> {
        let s: Vec<&Support> = self.out.capabilities.iter().filter(|c| c.rule() == rule).map(|c| &c.support).collect();
        assert!(!s.is_empty(), "no capability entry for {rule}: {:#?}", self.out.capabilities);
        s
    }

    /// The ids of the entries of rule `rule`.
    fn ids(&self, rule: &str) -> Vec<u32> {
        let ids: Vec<u32> = self
            .plans
            .iter()
            .flat_map(|p| p.sections.iter().flat_map(|s| s.rules.iter()))
            .filter(|e| &*e.rule.name == rule)
            .map(|e| e.id)
            .collect();
        assert!(!ids.is_empty(), "no rule {rule}");
        ids
    }

    /// The rule lines (without comments) carrying the ids of rule `rule`'s entries.
    fn lines_of(&self, rule: &str) -> Vec<String> {
        let tags: Vec<String> = self.ids(rule).iter().map(|id| format!("# [{id}] ")).collect();
        self.text()
            .lines()
            .filter(|l| tags.iter().any(|t| l.contains(t)))
            .map(|l| l.split("  # ").next().unwrap_or("").trim().to_string())
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect()
    }
}

fn exact(s: &[&Support]) -> bool {
    s.iter().all(|s| **s == Support::Exact)
}

fn reason(s: &Support) -> &str {
    match s {
        Support::Exact => "",
        Support::Approximated { reason } | Support::NotExpressible { reason } => reason,
    }
}

#[test]
fn exec_rules() {
    let r = run(&[prevention(
        "exec",
        json!({"process": [
            {"name": "no-shell", "action": "Block", "paths": ["/bin/sh"]},
            {"name": "python", "action": "Allow", "paths": ["/usr/bin/python3"]},
            {"name": "curl", "action": "Audit", "paths": ["/usr/bin/curl"]},
            {"name": "tmp", "action": "Block", "dirs": [{"path": "/tmp", "recursive": true}, {"path": "/run"}]},
            {"name": "miners", "action": "Block", "paths": ["/**/xmrig*"]},
        ]}),
    )]);
    assert_eq!(r.lines_of("no-shell"), vec!["audit deny /bin/sh x,"]);
    assert_eq!(r.lines_of("python"), vec!["/usr/bin/python3 ix,"]);
    assert_eq!(r.lines_of("curl"), vec!["audit /usr/bin/curl ix,"]);
    assert_eq!(r.lines_of("tmp"), vec!["audit deny /run/* x,", "audit deny /tmp/** x,"]);
    assert_eq!(r.lines_of("miners"), vec!["audit deny /{,**/}xmrig* x,"]);
    let t = r.text();
    assert!(t.contains("\n  /{,**} ix,  # default Allow"), "{t}");
    assert!(t.contains("\n  /{,**} rw,  # file: no rules"), "{t}");
    assert!(t.contains("profile polc.ns.deployment.web.app flags=(attach_disconnected,mediate_deleted) {"), "{t}");
    assert!(exact(&r.support("python")));
    for rule in ["no-shell", "curl", "tmp", "miners"] {
        let s = r.support(rule);
        assert!(matches!(s[0], Support::Approximated { reason } if reason.contains("#!")), "{rule}: {s:?}");
    }
}

#[test]
fn block_rules_are_never_dropped() {
    let r = run(&[
        prevention(
            "blocks",
            json!({"defaultAction": "Block",
                "process": [
                    {"name": "b-exec", "action": "Block", "paths": ["/bin/sh", "/usr/bin/*"], "dirs": [{"path": "/opt", "recursive": true}]},
                    {"name": "a-exec", "action": "Allow", "paths": ["/app/server"]},
                ],
                "file": [
                    {"name": "b-read", "action": "Block", "paths": ["/etc/shadow"], "access": ["Read"]},
                    {"name": "b-write", "action": "Block", "dirs": [{"path": "/etc", "recursive": true}], "access": ["Write"]},
                    {"name": "b-rw", "action": "Block", "paths": ["/var/run/docker.sock"]},
                    {"name": "a-file", "action": "Allow", "dirs": [{"path": "/app", "recursive": true}]},
                ],
                "capabilities": [{"name": "b-cap", "action": "Block", "capabilities": ["SYS_ADMIN", "NET_RAW"]}],
                "network": [{"name": "b-raw", "action": "Block", "rawSockets": true}],
            }),
        ),
        prevention("more", json!({"process": [{"name": "b-other", "action": "Block", "paths": ["/usr/bin/nc"]}]})),
    ]);
    let plan = &r.plans[0];
    let text = r.text();
    let mut blocks = 0;
    for s in &plan.sections {
        for e in s.rules.iter().filter(|e| e.rule.effective == Action::Block) {
            blocks += 1;
            let tag = format!("# [{}] ", e.id);
            let denies: Vec<&str> =
                text.lines().filter(|l| l.contains(&tag) && l.trim_start().starts_with("audit deny ")).collect();
            assert!(!denies.is_empty(), "Block rule {} ({}) has no deny line:\n{text}", e.rule.name, e.rule.matcher);
        }
    }
    assert!(blocks >= 10, "{blocks}");
    // An allow-list section has no blanket rule: what no rule allows is denied.
    assert!(!text.contains("/{,**} ix,"), "{text}");
    assert!(!text.contains("/{,**} rw,"), "{text}");
    assert!(!text.contains("\n  capability,"), "{text}");
    assert!(text.contains("audit deny /etc/** w,"), "{text}");
    assert!(text.contains("audit deny /var/run/docker.sock rw,"), "{text}");
    assert!(text.contains("audit deny capability sys_admin,"), "{text}");
    assert!(text.contains("audit deny network packet,"), "{text}");
}

#[test]
fn a_more_specific_allow_is_cut_out_of_a_block() {
    let r = run(&[prevention(
        "cut",
        json!({"process": [
            {"name": "usr-bin", "action": "Block", "dirs": [{"path": "/usr/bin", "recursive": true}]},
            {"name": "python", "action": "Allow", "paths": ["/usr/bin/python3"]},
            {"name": "pip", "action": "Audit", "paths": ["/usr/bin/pip*"]},
        ]}),
    )]);
    let deny = &r.lines_of("usr-bin")[0];
    let path = deny.trim_start_matches("audit deny ").trim_end_matches(" x,");
    let nodes = model::parse(path);
    for p in [
        "/usr/bin/perl",
        "/usr/bin/python",
        "/usr/bin/python33",
        "/usr/bin/x/python3",
        "/usr/bin/python3/x",
        "/usr/bin/a/b/c",
    ] {
        assert!(model::matches(&nodes, p), "{deny} should deny {p}");
    }
    for p in ["/usr/bin/python3", "/usr/bin/pip", "/usr/bin/pip3", "/usr/lib/x", "/usr/bin"] {
        assert!(!model::matches(&nodes, p), "{deny} should not deny {p}");
    }
    // Cut exactly, so only the shebang caveat remains.
    for rule in ["usr-bin", "pip"] {
        for s in r.support(rule) {
            assert!(!reason(s).contains("more specific"), "{rule}: {s:?}");
        }
    }
    assert!(exact(&r.support("python")));
}

#[test]
fn a_cut_that_globs_cannot_express_is_reported() {
    let r = run(&[prevention(
        "approx",
        json!({"file": [
            {"name": "usr-writes", "action": "Block", "access": ["Write"], "dirs": [{"path": "/usr", "recursive": true}]},
            {"name": "jvm-prefs", "action": "Allow", "access": ["Write"], "paths": ["/usr/lib/jvm/*/prefs"]},
        ]}),
    )]);
    let s = r.support("usr-writes");
    assert!(matches!(s[0], Support::Approximated { reason } if reason.contains("jvm-prefs")), "{s:?}");
    let s = r.support("jvm-prefs");
    assert!(
        matches!(s[0], Support::Approximated { reason } if reason.contains("usr-writes") && reason.contains("deny")),
        "{s:?}"
    );
    assert_eq!(r.lines_of("usr-writes"), vec!["audit deny /usr/** w,"]);
}

/// A verdict that holds for some of a rule's targets names them, and only them:
/// `usr` applies to two workloads, `jvm` (an Allow that globs cannot cut out of
/// `usr`'s Block) to one of them. Verdicts that hold for every target name none.
#[test]
fn a_verdict_for_some_targets_names_them() {
    let usr = prevention(
        "usr",
        json!({
            "file": [
                {"name": "usr-writes", "action": "Block", "access": ["Write"], "dirs": [{"path": "/usr", "recursive": true}]},
            ],
            "process": [{"name": "no-raw", "action": "Block", "paths": ["/bin/sh"], "fromParents": ["/usr/bin/nc"]}],
        }),
    );
    let mut jvm = prevention(
        "jvm",
        json!({"file": [{"name": "jvm-prefs", "action": "Allow", "access": ["Write"], "paths": ["/usr/lib/jvm/*/prefs"]}]}),
    );
    let Spec::Prevention(spec) = &mut jvm.spec else { unreachable!() };
    spec.selector.match_labels.get_or_insert_default().insert("tier".into(), "front".into());
    let workload = |name: &str, tier: Option<&str>| Workload {
        kind: "Deployment".into(),
        namespace: "ns".into(),
        name: name.into(),
        labels: [("app", Some("web")), ("tier", tier)]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?.to_string())))
            .collect(),
        containers: vec!["app".into()],
        ..Default::default()
    };
    let (policies, workloads) = ([usr, jvm], [workload("front", Some("front")), workload("back", None)]);
    let plans = plan(&policies, &workloads);
    assert_eq!(plans.len(), 2, "{plans:#?}");
    let out = compile(&Input { policies: &policies, workloads: &workloads, plans: &plans });
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let support = |rule: &str| -> &Support {
        let mut s = out.capabilities.iter().filter(|c| c.rule() == rule).map(|c| &c.support);
        let first = s.next().unwrap_or_else(|| panic!("no line for {rule}"));
        assert!(s.next().is_none(), "one line per rule");
        first
    };
    let front = plans.iter().find(|p| p.target.name == "front").map(|p| p.target.id()).unwrap();
    let back = plans.iter().find(|p| p.target.name == "back").map(|p| p.target.id()).unwrap();
    let usr_writes = reason(support("usr-writes"));
    assert!(usr_writes.contains("jvm-prefs") && usr_writes.ends_with(&format!(" (for {front})")), "{usr_writes}");
    assert!(!usr_writes.contains(&back), "{usr_writes}");
    // A verdict for both targets (the parent condition) names neither.
    let no_raw = reason(support("no-raw"));
    assert!(!no_raw.is_empty() && !no_raw.contains(" (for "), "{no_raw}");
}

#[test]
fn file_access_kinds_and_defaults() {
    let r = run(&[runtime(
        "base",
        json!({"onAnomaly": "Audit", "baseline": {"files": [
            {"path": "/etc/passwd"},
            {"path": "/tmp/**", "access": ["Read", "Write"]},
            {"path": "/var/log/app.log", "access": ["Write"]},
        ]}}),
    )]);
    let t = r.text();
    assert!(t.contains("\n  /etc/passwd r,"), "{t}");
    assert!(t.contains("\n  /tmp/** rw,"), "{t}");
    assert!(t.contains("\n  /var/log/app.log w,"), "{t}");
    // The default Audit is cut around the baseline, separately for r and w.
    let audits: Vec<&str> = t.lines().filter(|l| l.contains("# default Audit")).collect();
    assert_eq!(audits.len(), 2, "{t}");
    let read = audits
        .iter()
        .find(|l| l.trim_end().contains(" r,  #"))
        .map(|l| l.trim().trim_start_matches("audit "))
        .unwrap_or("");
    let path = read.split(" r,").next().unwrap_or("");
    let nodes = model::parse(path);
    assert!(!model::matches(&nodes, "/etc/passwd") && !model::matches(&nodes, "/tmp/x/y"), "{read}");
    assert!(model::matches(&nodes, "/etc/shadow") && model::matches(&nodes, "/var/log/app.log"), "{read}");
    for rule in ["file-0", "file-1", "file-2"] {
        assert!(exact(&r.support(rule)), "{rule}");
    }
}

#[test]
fn a_default_audit_that_cannot_be_cut_is_reported() {
    let r = run(&[runtime(
        "base",
        json!({"onAnomaly": "Block", "mode": "Enforce", "baseline": {"files": [{"path": "/lib/*.so*"}]}}),
    )]);
    assert!(exact(&r.support("file-0")), "Block default needs no cut");
    let r = run(&[runtime("base", json!({"onAnomaly": "Audit", "baseline": {"files": [{"path": "/lib/*.so*"}]}}))]);
    assert!(matches!(r.support("file-0")[0], Support::Approximated { reason } if reason.contains("audited")));
    let d = r.support("defaultAction");
    assert!(d.iter().any(|s| matches!(s, Support::Approximated { .. })), "{d:?}");
}

#[test]
fn capabilities() {
    let r = run(&[prevention(
        "caps",
        json!({"capabilities": [
            {"name": "no-admin", "action": "Block", "capabilities": ["SYS_ADMIN"]},
            {"name": "watch-raw", "action": "Audit", "capabilities": ["NET_RAW"]},
            {"name": "bind", "action": "Allow", "capabilities": ["NET_BIND_SERVICE"]},
        ]}),
    )]);
    assert_eq!(r.lines_of("no-admin"), vec!["audit deny capability sys_admin,"]);
    assert_eq!(r.lines_of("watch-raw"), vec!["audit capability net_raw,"]);
    assert_eq!(r.lines_of("bind"), vec!["capability net_bind_service,"]);
    for rule in ["no-admin", "watch-raw", "bind"] {
        assert!(exact(&r.support(rule)));
    }
    // A default Audit names every other capability, so the Allow stays silent.
    let r = run(&[runtime("caps", json!({"onAnomaly": "Audit", "baseline": {"capabilities": ["NET_BIND_SERVICE"]}}))]);
    let t = r.text();
    assert!(t.contains("audit capability sys_admin,") && t.contains("\n  capability net_bind_service,"), "{t}");
    assert!(!t.contains("audit capability net_bind_service,") && !t.contains("audit capability,"), "{t}");
    let r = run(&[runtime("caps", json!({"onAnomaly": "Block", "baseline": {"capabilities": []}}))]);
    assert!(!r.text().contains("capability,"), "{}", r.text());
}

#[test]
fn network_rules() {
    let r = run(&[prevention(
        "net",
        json!({"defaultAction": "Block", "network": [
            {"name": "raw", "action": "Block", "rawSockets": true},
            {"name": "raw-in", "action": "Audit", "direction": "Ingress", "rawSockets": true},
            {"name": "metadata", "action": "Block", "cidrs": ["169.254.169.254/32"], "ports": [{"port": 80}]},
        ]}),
    )]);
    assert_eq!(
        r.lines_of("raw"),
        vec!["audit deny network inet raw,", "audit deny network inet6 raw,", "audit deny network packet,"]
    );
    assert_eq!(
        r.lines_of("raw-in"),
        vec!["audit network inet raw,", "audit network inet6 raw,", "audit network packet,"]
    );
    assert!(exact(&r.support("raw")));
    assert!(matches!(r.support("raw-in")[0], Support::Approximated { .. }));
    let s = r.support("metadata");
    assert!(
        matches!(s[0], Support::NotExpressible { reason } if reason.contains("bpf-lsm") && reason.contains("cilium")),
        "{s:?}"
    );
    let d = r.support("defaultAction");
    assert!(d.iter().all(|s| matches!(s, Support::NotExpressible { .. })), "{d:?}");
    assert!(r.text().contains("\n  network,"));
}

#[test]
fn syscalls_and_network_access_policies_are_for_other_backends() {
    let r = run(&[
        runtime(
            "sys",
            json!({"onAnomaly": "Block", "baseline": {"syscalls": ["read", "write"], "executables": ["/app"]}}),
        ),
        network_access(
            "nap",
            json!({"egress": [{"name": "dns", "action": "Allow", "peers": [{"cidr": "10.0.0.0/8"}], "ports": [{"port": 53, "protocol": "UDP"}]}]}),
        ),
    ]);
    for rule in ["syscalls-0", "syscalls-1"] {
        let s = r.support(rule);
        assert!(matches!(s[0], Support::NotExpressible { reason } if reason.contains("seccomp")), "{s:?}");
    }
    let s = r.support("dns");
    assert!(matches!(s[0], Support::NotExpressible { reason } if reason.contains("cilium")), "{s:?}");
    assert!(!r.text().contains("10.0.0.0"));
    // A target with nothing in AppArmor's domain gets no profile.
    let r =
        run(&[network_access("nap", json!({"egress": [{"name": "dns", "action": "Allow", "ports": [{"port": 53}]}]}))]);
    assert!(r.out.artifacts.is_empty());
    assert!(!r.out.capabilities.is_empty());
}

#[test]
fn parents_and_comms() {
    let r = run(&[prevention(
        "hygiene",
        json!({"process": [
            {"name": "shell-from-java", "action": "Block", "paths": ["/bin/sh"], "fromParents": ["/usr/lib/jvm/**"]},
            {"name": "miner-names", "action": "Block", "comms": ["xmrig", "abcdefghijklmno"]},
        ]}),
    )]);
    let s = r.support("shell-from-java");
    assert!(
        matches!(s[0], Support::NotExpressible { reason } if reason.contains("bpf-lsm") && reason.contains("parent")),
        "{s:?}"
    );
    assert!(r.lines_of("shell-from-java").is_empty(), "a parent-qualified Block must not block every exec");
    assert_eq!(r.lines_of("miner-names"), vec!["audit deny /{,**/}abcdefghijklmno* x,", "audit deny /{,**/}xmrig x,"]);
    let s = r.support("miner-names");
    assert!(matches!(s[0], Support::Approximated { reason } if reason.contains("comm")), "{s:?}");
}

#[test]
fn dry_run_is_complain_mode_only_when_every_policy_is() {
    let dry = prevention(
        "dry",
        json!({"mode": "DryRun", "process": [{"name": "sh", "action": "Block", "paths": ["/bin/sh"]}]}),
    );
    let r = run(std::slice::from_ref(&dry));
    let t = r.text();
    assert!(t.contains("flags=(attach_disconnected,mediate_deleted,complain)"), "{t}");
    // DryRun turns the Block into an Audit.
    assert_eq!(r.lines_of("sh"), vec!["audit /bin/sh ix,"]);
    let enforce = prevention("enf", json!({"process": [{"name": "nc", "action": "Audit", "paths": ["/bin/nc"]}]}));
    let t = run(&[dry, enforce]).text();
    assert!(t.contains("flags=(attach_disconnected,mediate_deleted) {"), "{t}");
}

#[test]
fn header_and_rule_comments_map_back_to_the_policies() {
    let r = run(&[prevention(
        "src",
        json!({"process": [{"name": "sh\n  /** rwlkmix,", "action": "Block", "paths": ["/bin/sh"]}]}),
    )]);
    let t = r.text();
    assert!(t.starts_with("# AppArmor profile generated by polc"), "{t}");
    assert!(t.contains("#   PreventionPolicy ns/src (Enforce) src.yaml src-hash"), "{t}");
    assert!(t.contains("# content-hash: sha256:"), "{t}");
    // A newline in a rule name does not end the comment.
    assert!(!t.lines().any(|l| l.trim_start().starts_with("/** rwlkmix")), "{t}");
    let id = r.plans[0].sections[0].rules[0].id;
    assert!(t.contains(&format!("audit deny /bin/sh x,  # [{id}] src/sh?  /** rwlkmix, src.yaml")), "{t}");
}

#[test]
fn special_characters_are_escaped_and_quoted() {
    let r = run(&[prevention(
        "odd",
        json!({"file": [{"name": "odd", "action": "Block", "paths": ["/data/my file", "/a/{b},c", "/x/@{HOME}", "/q/\"x\"#1"]}]}),
    )]);
    assert_eq!(
        r.lines_of("odd"),
        vec![
            "audit deny \"/a/\\{b\\}\\,c\" rw,",
            "audit deny \"/data/my file\" rw,",
            "audit deny \"/q/\\\"x\\\"#1\" rw,",
            "audit deny \"/x/@\\{HOME\\}\" rw,",
        ]
    );
}

#[test]
fn output_is_deterministic() {
    let ps = [
        prevention(
            "a",
            json!({"process": [{"name": "x", "action": "Block", "paths": ["/bin/*sh"]}], "file": [{"name": "y", "action": "Audit", "paths": ["/etc/*"]}]}),
        ),
        runtime(
            "b",
            json!({"onAnomaly": "Block", "baseline": {"executables": ["/app"], "files": [{"path": "/etc/passwd"}]}}),
        ),
    ];
    let a = run(&ps);
    let b = run(&ps);
    assert_eq!(a.out, b.out);
}

/// A tiny deterministic generator (no dependency on a random crate).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.next(xs.len())]
    }
}

const SEGS: [&str; 5] = ["a", "b", "py", "p", "ab"];

fn universe() -> Vec<String> {
    let mut out = Vec::new();
    let mut level: Vec<String> = vec![String::new()];
    for _ in 0..3 {
        let mut next = Vec::new();
        for p in &level {
            for s in SEGS {
                next.push(format!("{p}/{s}"));
            }
        }
        out.extend(next.iter().cloned());
        level = next;
    }
    out
}

fn random_entry(g: &mut Lcg) -> Value {
    let depth = 1 + g.next(3);
    let mut segs: Vec<String> = (0..depth).map(|_| g.pick(&SEGS).to_string()).collect();
    match g.next(4) {
        0 => json!({"paths": [format!("/{}", segs.join("/"))]}),
        1 => {
            segs.pop();
            json!({"dirs": [{"path": format!("/{}", segs.join("/")), "recursive": g.next(2) == 0}]})
        }
        2 => {
            let i = g.next(segs.len());
            segs[i] = g.pick(&["*", "**", "p*", "?", "[ab]", "[!a]*", "a*"]).to_string();
            if segs.last().map(String::as_str) == Some("**") && g.next(2) == 0 {
                segs.push("p".into());
            }
            json!({"paths": [format!("/{}", segs.join("/"))]})
        }
        _ => {
            let last = segs.len() - 1;
            segs[last] = format!("{}{}", segs[last], g.pick(&["*", ""]));
            json!({"paths": [format!("/{}", segs.join("/"))]})
        }
    }
}

fn random_policy(g: &mut Lcg, name: &str) -> Policy {
    let actions = ["Allow", "Audit", "Block"];
    let mut process = Vec::new();
    let mut file = Vec::new();
    for i in 0..1 + g.next(6) {
        let mut e = random_entry(g);
        e["action"] = json!(g.pick(&actions));
        e["name"] = json!(format!("p{i}"));
        process.push(e);
    }
    for i in 0..1 + g.next(6) {
        let mut e = random_entry(g);
        e["action"] = json!(g.pick(&actions));
        e["name"] = json!(format!("f{i}"));
        e["access"] = [json!(["Read"]), json!(["Write"]), json!(["Read", "Write"])][g.next(3)].clone();
        file.push(e);
    }
    let mode = if g.next(5) == 0 { "DryRun" } else { "Enforce" };
    prevention(name, json!({"mode": mode, "defaultAction": g.pick(&actions), "process": process, "file": file}))
}

/// The profile's decision for `path` in one permission channel.
fn apparmor_decision(text: &str, path: &str, perm: char) -> Action {
    let complain = text.contains("complain)");
    let (mut deny, mut allow, mut audit) = (false, false, false);
    for line in text.lines() {
        let rule = line.split("  # ").next().unwrap_or("").trim();
        let Some(rule) = rule.strip_suffix(',') else { continue };
        let (qual, rest) = if let Some(r) = rule.strip_prefix("audit deny ") {
            (Qual::Deny, r)
        } else if let Some(r) = rule.strip_prefix("audit ") {
            (Qual::Audit, r)
        } else {
            (Qual::Allow, rule)
        };
        let Some((p, perms)) = rest.rsplit_once(' ') else { continue };
        if !(p.starts_with('/') || p.starts_with('"')) || !perms.contains(perm) || perms.contains('m') {
            continue;
        }
        if !model::matches(&model::parse(p), path) {
            continue;
        }
        match qual {
            Qual::Deny => deny = true,
            Qual::Audit => {
                allow = true;
                audit = true;
            }
            Qual::Allow => allow = true,
        }
    }
    let d = if deny {
        Action::Block
    } else if allow {
        if audit { Action::Audit } else { Action::Allow }
    } else {
        Action::Block
    };
    if complain && d == Action::Block { Action::Audit } else { d }
}

/// Reasons other than the shebang caveat, which is about interpreters, not paths.
fn path_reasons(s: &Support) -> bool {
    reason(s).split("; ").any(|r| !r.is_empty() && !r.starts_with(&SHEBANG[..40]))
}

#[test]
fn the_profile_decides_as_polc_wherever_the_report_says_exact() {
    let paths = universe();
    let mut g = Lcg(0x9e3779b97f4a7c15);
    let mut checked = 0;
    for case in 0..150 {
        let policies: Vec<Policy> =
            (0..1 + g.next(2)).map(|i| random_policy(&mut g, &format!("c{case}x{i}"))).collect();
        let r = run(&policies);
        let text = r.text();
        let plan = &r.plans[0];
        let caps: BTreeMap<u32, &Support> = r.out.capabilities.iter().map(|c| (c.rule_id, &c.support)).collect();
        let default_inexact = r.out.capabilities.iter().filter(|c| c.rule_id == 0).any(|c| path_reasons(&c.support));
        for (section, perms) in [
            (Section::Process, vec![('x', None)]),
            (Section::File, vec![('r', Some(FileAccess::Read)), ('w', Some(FileAccess::Write))]),
        ] {
            let sp = plan.section(section);
            for (perm, access) in &perms {
                for p in &paths {
                    let matching: Vec<&EffRule> = sp
                        .map(|s| {
                            s.rules
                                .iter()
                                .filter(|e| {
                                    let Matcher::Path(m) = &e.rule.matcher else { return false };
                                    m.matches(p) && access.is_none_or(|a| e.rule.conditions.access.contains(&a))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let default = sp.map(|s| s.default).unwrap_or(Action::Allow);
                    let (want, _) = crate::precedence::decide(matching.iter().map(|e| &*e.rule), default);
                    let got = apparmor_decision(&text, p, *perm);
                    checked += 1;
                    if want == got {
                        continue;
                    }
                    let excused =
                        matching.iter().any(|e| caps.get(&e.id).is_some_and(|s| path_reasons(s))) || default_inexact;
                    assert!(
                        excused,
                        "case {case}: {section:?}/{perm} {p}: polc {want:?}, AppArmor {got:?}, and every rule is exact\n{text}\n{:#?}",
                        r.out.capabilities
                    );
                }
            }
        }
    }
    assert!(checked > 50_000, "{checked}");
}

#[test]
fn long_cuts_are_split_into_rules_the_lexer_can_hold() {
    let files: Vec<Value> =
        (0..400).map(|i| json!({"path": format!("/srv/data/d{}/file-{i:03}.bin", i % 17)})).collect();
    let r = run(&[runtime("big", json!({"onAnomaly": "Audit", "baseline": {"files": files}}))]);
    let t = r.text();
    let audits: Vec<&str> = t.lines().filter(|l| l.contains("# default Audit")).collect();
    assert!(audits.len() > 1, "one rule would be too long");
    assert!(t.lines().all(|l| l.len() < MAX_PATH_TEXT + 200), "a line is too long");
    // Together the pieces still audit exactly what the baseline leaves out.
    let pieces: Vec<Vec<model::Node>> = audits
        .iter()
        .map(|l| model::parse(l.trim().trim_start_matches("audit ").split(" r,").next().unwrap_or("")))
        .collect();
    let audited = |p: &str| pieces.iter().any(|n| model::matches(n, p));
    assert!(!audited("/srv/data/d3/file-003.bin") && !audited("/srv/data/d8/file-399.bin"));
    assert!(audited("/srv/data/d3/file-004.bin") && audited("/etc/shadow") && audited("/srv/data/d3/file-003.bin2"));
    assert!(exact(&r.support("file-7")));
}

#[test]
fn a_path_too_long_for_a_profile_is_not_expressible() {
    let long = format!("/{}", "\u{1}".repeat(3000));
    let r = run(&[prevention("long", json!({"file": [{"name": "long", "action": "Block", "paths": [long]}]}))]);
    assert!(matches!(r.support("long")[0], Support::NotExpressible { reason } if reason.contains("longer")));
    assert!(r.lines_of("long").is_empty());
}

#[test]
fn split_union_keeps_the_union() {
    let long = format!("/a/{{{},{}}}", "x".repeat(MAX_PATH_TEXT), "y".repeat(10));
    let parts = split_union(&long);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1], format!("/a/{}", "y".repeat(10)));
    assert_eq!(split_union("/a/{b,c}"), vec!["/a/{b,c}".to_string()]);
}

/// The profile as the template renders it: the oracle of [`Profile::render`], which
/// [`compile`] checks every profile of every test against.
pub(super) fn render_with_tera(p: &Profile) -> String {
    let mut tera = tera::Tera::default();
    tera.autoescape_on(Vec::new());
    tera.add_raw_template("profile", TEMPLATE).expect("the template parses");
    let ctx = tera::Context::from_serialize(p).expect("a template context");
    tera.render("profile", &ctx).expect("the template renders")
}
