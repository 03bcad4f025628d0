//! The AppArmor backend: one profile per plan target (a workload container, or a
//! policy compiled on its own), written to `apparmor/<target stem>` and named
//! `polc.<stem>`, for pods to use as `appArmorProfile: {type: Localhost,
//! localhostProfile: polc.<stem>}`.
//!
//! # What maps to what
//!
//! AppArmor profiles are allow-lists: what no rule allows is denied (and logged).
//! Each polc section becomes rules of one AppArmor class:
//!
//! - **process** → exec permission on the resolved executable: Allow `PATH ix`
//!   (the new program stays in this profile), Audit `audit PATH ix`, Block
//!   `audit deny PATH x`. Block is always `audit deny`: a plain `deny` is silent,
//!   and polc's Block reports every denial.
//! - **file** → `r` for Read, `w` for Write (AppArmor's `w` also grants append,
//!   create, delete, rename, chmod/chown and truncate, so a denied `w` denies all of
//!   them).
//! - **capabilities** → `capability NAME` rules; always exact.
//! - **network** → AppArmor tells sockets apart only by family and type, so only
//!   `rawSockets` is expressible (`network inet raw`, `network inet6 raw` and
//!   `network packet`: the sockets that need `NET_RAW`); connection rules by address
//!   or port are left to bpf-lsm and Cilium and reported as not expressible.
//! - **syscalls** → seccomp; **egress/ingress** of NetworkAccessPolicies → Cilium.
//!
//! A section's default becomes a blanket rule over every path (`/{,**}`), every
//! capability (`capability,`) or every socket (`network,`): Allow as a plain rule,
//! Audit as an `audit` rule, Block as nothing (AppArmor's implicit deny). A section
//! without rules is not restricted: its blanket is Allow.
//!
//! # Precedence
//!
//! polc lets the most specific rule win; AppArmor denies whatever any `deny` rule
//! matches and audits whatever any `audit` rule matches. Where a Block or Audit rule
//! covers a more specific, weaker rule (Block `/usr/bin/**` with Allow
//! `/usr/bin/python3`), the weaker rule's paths are cut out of the stronger rule
//! (the `shape` module); when they cannot be (globs with a `*` in the middle, `comm`
//! rules), both rules are reported as approximated. The same applies to a default
//! of Audit and the Allow rules under it.
//!
//! # What every profile also holds
//!
//! What polc does not govern is granted as the container runtime's default profile
//! (containerd's and Docker's) grants it, with no system includes so that
//! `apparmor_parser` needs nothing but the file: `mmap`, lock and link permission on
//! every path (AppArmor still refuses a hard link that would give more access than
//! its target has), `umount`, signals from the runtime and within the profile,
//! ptrace within the profile, and `deny mount`. The flags are
//! `attach_disconnected,mediate_deleted` as in the runtime's profile; when every
//! policy of the target is in DryRun the profile is also in `complain` mode, so
//! nothing at all is denied.

mod glob;
#[cfg(test)]
mod model;
mod shape;

use super::{Capability, Input, Interner, Output, Support, Target};
use crate::ir::{COMM_MAX, IrRule, Matcher, Section};
use crate::plan::{EffRule, Plan};
use glob::{Pat, quote};
use polc_api::{Action, FileAccess, Mode};
use serde::Serialize;
use shape::{Shape, subtract};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The layout [`Profile::render`] writes (the tests check the two agree).
#[cfg(test)]
const TEMPLATE: &str = include_str!("../../templates/apparmor/profile.tera");

const SHEBANG: &str = "AppArmor checks exec permission on the file passed to execve: a script whose #! line names this \
     program starts it unchecked (bpf-lsm checks interpreters too)";
const COMM: &str = "AppArmor matches the resolved executable, not comm: written as any executable file of that name; \
     misses names reached through a symlink (busybox applets), renamed copies and comm changed with prctl \
     (bpf-lsm matches comm)";
const PARENTS: &str = "AppArmor cannot condition an exec on the parent's executable (only through profile \
     transitions, which would also apply to grandchildren); not enforced here, enforced by bpf-lsm";
const NET_PEER: &str = "AppArmor mediates sockets by address family and type only, not by address or port; \
     enforced by bpf-lsm (socket_connect) and cilium";
const NET_DEFAULT: &str = "AppArmor cannot tell connections apart by address or port, so every connection is \
     allowed here; enforced by bpf-lsm (socket_connect) and cilium";
const RAW_AUDIT: &str = "AppArmor audits every operation on raw and packet sockets, not only their creation";
const SYSCALL: &str = "system calls are filtered by seccomp, not AppArmor; enforced by the seccomp backend";
const NAP: &str =
    "NetworkAccessPolicy traffic is not in AppArmor's domain; enforced by cilium (egress also by bpf-lsm)";

/// Compile the plans into AppArmor profiles.
///
/// A profile depends on its target only through its name, the `target:` header line
/// and the base rules that name the profile; the rest is a function of the set of
/// policies that apply. So each distinct policy set is translated once, and its
/// verdicts count for every target of the set.
pub fn compile(input: &Input<'_>) -> Output {
    super::collect(|sink| compile_to(input, sink))
}

/// [`compile`], giving the files to `sink`.
pub fn compile_to(input: &Input<'_>, sink: &dyn super::Sink) -> Output {
    let mut out = Output::default();
    let mut all = AllVerdicts::default();
    let mut verdicts = Verdicts::default();
    // Policy sets share rules, so the same differences recur: computed once each.
    let cuts = Cuts::default();
    let mut sets: BTreeMap<&[usize], Vec<usize>> = BTreeMap::new();
    for (i, plan) in input.plans.iter().enumerate() {
        sets.entry(plan.policies.as_slice()).or_default().push(i);
    }
    for members in sets.into_values() {
        let Some(&first) = members.first() else { continue };
        let profile = profile(input, &input.plans[first], &mut verdicts, &cuts);
        all.add(&mut verdicts, &members);
        let Some(mut profile) = profile else { continue };
        for i in members {
            let plan = &input.plans[i];
            let stem = plan.target.stem();
            profile.retarget(plan);
            let text = profile.render();
            #[cfg(test)]
            assert_eq!(text, tests::render_with_tera(&profile), "the renderer and the template differ");
            sink.put(super::Artifact { path: format!("apparmor/{stem}"), bytes: text.into_bytes() });
        }
    }
    let ids: Vec<String> = input.plans.iter().map(|p| p.target.id()).collect();
    out.capabilities = all.finish(&ids);
    out.sort();
    out
}

/// What the template gets.
#[derive(Serialize)]
struct Profile {
    header: Vec<String>,
    name: String,
    flags: String,
    blocks: Vec<Block>,
}

impl Profile {
    /// Make the profile the one of `plan`'s target: its name, its `target:` header
    /// line and the base rules that name it. Everything else is the same for every
    /// target of a policy set.
    fn retarget(&mut self, plan: &Plan) {
        self.name = profile_name(plan);
        if let Some(h) = self.header.get_mut(TARGET_LINE) {
            *h = target_line(plan);
        }
        if let Some(b) = self.blocks.last_mut() {
            *b = base(&self.name);
        }
    }

    /// The profile text, as `templates/apparmor/profile.tera` lays it out.
    fn render(&self) -> String {
        let lines: usize = self.blocks.iter().map(|b| b.lines.len()).sum();
        let mut s = String::with_capacity(128 * (lines + self.header.len()) + 256);
        for h in &self.header {
            s.push_str("# ");
            s.push_str(h);
            s.push('\n');
        }
        s.push_str("\nprofile ");
        s.push_str(&self.name);
        s.push_str(" flags=(");
        s.push_str(&self.flags);
        s.push_str(") {");
        for b in &self.blocks {
            s.push_str("\n\n  # ");
            s.push_str(&b.title);
            for l in &b.lines {
                s.push_str("\n  ");
                s.push_str(&l.text);
                if !l.comment.is_empty() {
                    s.push_str("  # ");
                    s.push_str(&l.comment);
                }
            }
        }
        s.push_str(TEMPLATE_END);
        s
    }
}

/// What the template has after the last block.
const TEMPLATE_END: &str = "\n}\n";

/// Index of the `target:` line in a profile's header.
const TARGET_LINE: usize = 1;

fn target_line(plan: &Plan) -> String {
    format!("target: {}", comment(&plan.target.id()))
}

#[derive(Serialize)]
struct Block {
    title: String,
    lines: Vec<Line>,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
struct Line {
    text: String,
    comment: String,
}

/// Comment text: one line, no control characters (a newline would end the comment
/// and let the rest be read as rules).
fn comment(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

fn profile_name(plan: &Plan) -> String {
    format!("polc.{}", plan.target.stem())
}

fn profile<'a>(input: &Input<'_>, plan: &'a Plan, verdicts: &mut Verdicts<'a>, cuts: &Cuts) -> Option<Profile> {
    for d in &plan.dropped {
        // A rule that never decides changes nothing, in AppArmor as in polc.
        match domain_reason(d.rule.rule.section) {
            Some(reason) => verdicts.note(&d.rule, Level::NotExpressible, reason),
            None => verdicts.seen(&d.rule),
        }
    }
    let mut blocks = Vec::new();
    let mut in_domain = false;
    let mut sections: BTreeSet<Section> = BTreeSet::new();
    for s in &plan.sections {
        sections.insert(s.section);
        let cx = Cx { input, plan, cuts };
        match s.section {
            Section::Process => blocks.push(process(&cx, &s.rules, s.default, verdicts)),
            Section::File => blocks.push(file(&cx, &s.rules, s.default, verdicts)),
            Section::Capability => blocks.push(capabilities(&s.rules, s.default, verdicts)),
            Section::Network | Section::NetworkIngress => {
                blocks.push(network(&cx, s.section, &s.rules, s.default, verdicts));
            }
            Section::Syscall => {
                for r in &s.rules {
                    verdicts.note(r, Level::NotExpressible, SYSCALL);
                }
                cx.default_note(verdicts, s.section, s.default, Level::NotExpressible, SYSCALL);
                continue;
            }
            Section::Egress | Section::Ingress => {
                for r in &s.rules {
                    verdicts.note(r, Level::NotExpressible, NAP);
                }
                continue;
            }
        }
        in_domain = true;
    }
    if !in_domain {
        return None;
    }
    let name = profile_name(plan);
    let mut open = Vec::new();
    if !sections.contains(&Section::Process) {
        open.push(Line { text: "/{,**} ix,".into(), comment: "process: no rules, every program may run".into() });
    }
    if !sections.contains(&Section::File) {
        open.push(Line {
            text: "/{,**} rw,".into(),
            comment: "file: no rules, every file may be read and written".into(),
        });
    }
    if !sections.contains(&Section::Capability) {
        open.push(Line { text: "capability,".into(), comment: "capabilities: no rules".into() });
    }
    if !open.is_empty() {
        blocks.insert(0, Block { title: "sections without rules: not restricted".into(), lines: open });
    }
    blocks.push(base(&name));
    let dry = !plan.policies.is_empty()
        && plan.policies.iter().all(|&i| input.policies.get(i).is_some_and(|p| p.ir.mode == Mode::DryRun));
    let flags =
        if dry { "attach_disconnected,mediate_deleted,complain" } else { "attach_disconnected,mediate_deleted" };
    Some(Profile { header: header(input, plan, &name, dry), name, flags: flags.into(), blocks })
}

fn header(input: &Input<'_>, plan: &Plan, name: &str, dry: bool) -> Vec<String> {
    let sources: Vec<&crate::model::Policy> = plan.policies.iter().filter_map(|&i| input.policies.get(i)).collect();
    let meta = super::object_metadata(name, None, &sources);
    let hash = meta["annotations"]["polc.dev/content-hash"].as_str().unwrap_or("").to_string();
    let mut h = vec![
        "AppArmor profile generated by polc; do not edit: change the policies and run `polc compile`.".to_string(),
        target_line(plan),
        format!("content-hash: {hash} (of the source policies, as polc.dev/content-hash)"),
        format!("mode: {}", if dry { "complain (every policy is in DryRun)" } else { "enforce" }),
        "policies (mode, file, sha256 of the policy):".to_string(),
    ];
    for p in &sources {
        h.push(comment(&format!("  {} ({:?}) {} {}", p.label(), p.ir.mode, p.source.file, p.content_hash)));
    }
    h.push("Each rule ends with [rule id] policy/rule file:line:col; AppArmor logs name the profile and path.".into());
    h
}

/// What polc does not govern, granted as the container runtime's default profile does.
fn base(name: &str) -> Block {
    let l = |t: &str| Line { text: t.to_string(), comment: String::new() };
    Block {
        title: "not governed by polc: as in the container runtime's default profile".into(),
        lines: vec![
            l("network,"),
            Line {
                text: "/{,**} mkl,".into(),
                comment: "mmap, lock, link (a link never gets more access than its target)".into(),
            },
            l("umount,"),
            l("signal (receive) peer=unconfined,"),
            l("signal (receive) peer=runc,"),
            l("signal (receive) peer=crun,"),
            l(&format!("signal (send,receive) peer={name},")),
            l(&format!("ptrace (trace,tracedby,read,readby) peer={name},")),
            l("deny mount,"),
        ],
    }
}

/// Why a section is outside AppArmor's domain, if it is.
fn domain_reason(s: Section) -> Option<&'static str> {
    match s {
        Section::Syscall => Some(SYSCALL),
        Section::Egress | Section::Ingress => Some(NAP),
        _ => None,
    }
}

struct Cx<'a> {
    input: &'a Input<'a>,
    plan: &'a Plan,
    cuts: &'a Cuts,
}

/// What [`subtract`] gave for a base and its holes.
type Cuts = std::cell::RefCell<std::collections::HashMap<(Shape, Vec<Shape>), Option<String>>>;

impl Cx<'_> {
    /// Report a section default that is not enforced as written, against the policies
    /// whose default it is.
    fn default_note(&self, v: &mut Verdicts<'_>, section: Section, default: Action, level: Level, reason: &str) {
        for &i in &self.plan.policies {
            let Some(p) = self.input.policies.get(i) else { continue };
            let Some(&(_, d)) = p.ir.defaults.iter().find(|(s, _)| *s == section) else { continue };
            let d = if p.ir.mode == Mode::DryRun && d == Action::Block { Action::Audit } else { d };
            if d != default {
                continue;
            }
            let pointer = if p.spec.kind() == polc_api::PolcKind::RuntimePolicy {
                "/spec/onAnomaly"
            } else {
                "/spec/defaultAction"
            };
            let key = Key {
                origin: p.origin_at("defaultAction".into(), &[pointer, "/spec"]),
                rule_id: 0,
                matches: format!("{}: what no rule matches ({})", section_label(section), default.as_str()).into(),
            };
            v.note_key(key, level, reason);
        }
    }
}

fn section_label(s: Section) -> &'static str {
    match s {
        Section::Process => "process",
        Section::File => "file",
        Section::Network => "network egress",
        Section::NetworkIngress => "network ingress",
        Section::Capability => "capabilities",
        Section::Syscall => "syscalls",
        Section::Egress => "egress",
        Section::Ingress => "ingress",
    }
}

fn rule_comment(e: &EffRule) -> String {
    let policy = e.origin.policy.rsplit('/').next().unwrap_or(&e.origin.policy);
    comment(&format!("[{}] {}/{} {}", e.id, policy, e.rule.name, e.origin.source))
}

/// A rule of one permission channel (exec, read or write).
struct Cand<'a> {
    e: &'a EffRule,
    action: Action,
    pat: Pat,
    shape: Option<Shape>,
    /// Whether AppArmor gets a rule for it at all.
    emit: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Qual {
    Allow,
    Audit,
    Deny,
}

/// An AppArmor rule of one channel, before the channels are merged.
struct ChanLine {
    qual: Qual,
    path: String,
    rule: Option<u32>,
    comment: String,
}

/// The rules of one channel: the translation of `cands` (most precedent first) and
/// of the section default, with a verdict for each rule.
fn channel<'a>(
    cx: &Cx<'_>,
    section: Section,
    cands: &[Cand<'a>],
    default: Action,
    v: &mut Verdicts<'a>,
) -> Vec<ChanLine> {
    let mut lines = Vec::new();
    for (k, b) in cands.iter().enumerate() {
        if !b.emit {
            continue;
        }
        let Some(whole) = b.pat.render() else { continue };
        if whole.len() > MAX_PATH_TEXT {
            v.note(b.e, Level::NotExpressible, &too_long(whole.len()));
            continue;
        }
        let qual = match b.action {
            Action::Allow => Qual::Allow,
            Action::Audit => Qual::Audit,
            Action::Block => Qual::Deny,
        };
        let mut paths = vec![whole.clone()];
        if qual != Qual::Allow {
            let weaker: Vec<&Cand<'_>> =
                cands[..k].iter().filter(|w| w.action < b.action && w.pat.intersects(&b.pat)).collect();
            for w in weaker.iter().filter(|w| !w.emit) {
                v.note(
                    b.e,
                    Level::Approximated,
                    &format!(
                        "also applies where the more specific rule [{}] {} would decide, which AppArmor cannot enforce",
                        w.e.id, w.e.rule.name
                    ),
                );
            }
            let holes: Vec<&Cand<'_>> = weaker.into_iter().filter(|w| w.emit && w.pat.render().is_some()).collect();
            if !holes.is_empty() {
                let shapes: Option<Vec<Shape>> = holes.iter().map(|w| w.shape.clone()).collect();
                match cut(b.shape.as_ref(), shapes, cx.cuts) {
                    Cut::Paths(p) => paths = p,
                    Cut::Nothing => {
                        v.seen(b.e);
                        continue;
                    }
                    Cut::Impossible(why) => {
                        let verb = if qual == Qual::Deny { "denies" } else { "audits" };
                        let ids: Vec<String> =
                            holes.iter().map(|w| format!("[{}] {}", w.e.id, w.e.rule.name)).collect();
                        v.note(
                            b.e,
                            Level::Approximated,
                            &format!(
                                "AppArmor {verb} also where the more specific {} decide(s): {why}",
                                ids.join(", ")
                            ),
                        );
                        for w in &holes {
                            v.note(
                                w.e,
                                Level::Approximated,
                                &format!(
                                    "overridden where it overlaps [{}] {}: AppArmor's {} always applies",
                                    b.e.id,
                                    b.e.rule.name,
                                    if qual == Qual::Deny { "deny" } else { "audit" }
                                ),
                            );
                        }
                    }
                }
            }
        }
        v.seen(b.e);
        for path in paths {
            lines.push(ChanLine { qual, path, rule: Some(b.e.id), comment: rule_comment(b.e) });
        }
    }
    let what = format!("default {}: what no rule matches", default.as_str());
    match default {
        Action::Allow => lines.push(ChanLine { qual: Qual::Allow, path: "/{,**}".into(), rule: None, comment: what }),
        Action::Audit => {
            let allows: Vec<&Cand<'_>> =
                cands.iter().filter(|c| c.emit && c.action == Action::Allow && c.pat.render().is_some()).collect();
            let shapes: Option<Vec<Shape>> = allows.iter().map(|c| c.shape.clone()).collect();
            let paths = match cut(Some(&Shape::everything()), shapes, cx.cuts) {
                Cut::Paths(p) => p,
                Cut::Nothing => Vec::new(),
                Cut::Impossible(why) => {
                    let reason = format!(
                        "AppArmor audit flags add up: the blanket audit rule also logs what the Allow rules allow ({why})"
                    );
                    cx.default_note(v, section, default, Level::Approximated, &reason);
                    for c in &allows {
                        v.note(
                            c.e,
                            Level::Approximated,
                            "also audited: AppArmor cannot exempt it from the section's default Audit",
                        );
                    }
                    vec!["/{,**}".to_string()]
                }
            };
            for path in paths {
                lines.push(ChanLine { qual: Qual::Audit, path, rule: None, comment: what.clone() });
            }
        }
        Action::Block => {}
    }
    lines
}

/// The longest path text a rule gets: the profile lexer cannot hold a token longer
/// than its 16 KiB buffer.
const MAX_PATH_TEXT: usize = 8000;

fn too_long(n: usize) -> String {
    format!("the path is {n} characters in AppArmor syntax, longer than a profile rule can hold ({MAX_PATH_TEXT})")
}

/// The result of cutting the paths of more specific rules out of a rule's.
enum Cut {
    /// Rules for what is left (several, when one would be too long).
    Paths(Vec<String>),
    /// Nothing is left.
    Nothing,
    /// The cut cannot be written; why.
    Impossible(String),
}

fn cut(base: Option<&Shape>, holes: Option<Vec<Shape>>, cuts: &Cuts) -> Cut {
    let (Some(base), Some(holes)) = (base, holes) else {
        return Cut::Impossible("their paths cannot be cut out with AppArmor globs".into());
    };
    let key = (base.clone(), holes);
    let known = cuts.borrow().get(&key).cloned();
    let text = match known {
        Some(t) => t,
        None => {
            let t = subtract(base, &key.1);
            cuts.borrow_mut().insert(key, t.clone());
            t
        }
    };
    let Some(text) = text else { return Cut::Nothing };
    let parts = split_union(&text);
    match parts.iter().map(String::len).max() {
        Some(n) if n > MAX_PATH_TEXT => Cut::Impossible(too_long(n)),
        _ => Cut::Paths(parts),
    }
}

/// Split a glob ending in a top-level alternation `P{a,b,...}` into `Pa`, `Pb`, ...
/// (recursively) until every piece fits in a rule: the union is the same.
fn split_union(text: &str) -> Vec<String> {
    if text.len() <= MAX_PATH_TEXT {
        return vec![text.to_string()];
    }
    let b = text.as_bytes();
    let (mut depth, mut class, mut escape) = (0usize, false, false);
    let mut open = None;
    let mut commas = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        if escape {
            escape = false;
            continue;
        }
        match c {
            b'\\' => escape = true,
            b'[' if !class => class = true,
            b']' if class => class = false,
            _ if class => {}
            b'{' => {
                if depth == 0 {
                    open = Some(i);
                    commas.clear();
                }
                depth += 1;
            }
            b',' if depth == 1 => commas.push(i),
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let Some(open) = open else { return vec![text.to_string()] };
    if depth != 0 || b.last() != Some(&b'}') || commas.is_empty() {
        return vec![text.to_string()];
    }
    let prefix = &text[..open];
    let mut bounds = vec![open];
    bounds.extend(&commas);
    bounds.push(text.len() - 1);
    bounds.windows(2).flat_map(|w| split_union(&format!("{prefix}{}", &text[w[0] + 1..w[1]]))).collect()
}

/// Merge channel lines into profile lines: the same rule and path in several channels
/// becomes one line with their permissions.
fn merge(chans: Vec<(&'static str, &'static str, Vec<ChanLine>)>) -> Vec<Line> {
    let mut order: Vec<(Qual, String, Option<u32>, String)> = Vec::new();
    let mut perms: BTreeMap<(Qual, String, Option<u32>), String> = BTreeMap::new();
    for (allow, deny, lines) in chans {
        for l in lines {
            let key = (l.qual, l.path.clone(), l.rule);
            let p = if l.qual == Qual::Deny { deny } else { allow };
            match perms.get_mut(&key) {
                Some(s) => s.push_str(p),
                None => {
                    perms.insert(key, p.to_string());
                    order.push((l.qual, l.path, l.rule, l.comment));
                }
            }
        }
    }
    order
        .into_iter()
        .map(|(qual, path, rule, comment)| {
            let p = perms.get(&(qual, path.clone(), rule)).cloned().unwrap_or_default();
            let q = match qual {
                Qual::Allow => "",
                Qual::Audit => "audit ",
                Qual::Deny => "audit deny ",
            };
            Line { text: format!("{q}{} {p},", quote(&path)), comment }
        })
        .collect()
}

fn process<'a>(cx: &Cx<'_>, rules: &'a [EffRule], default: Action, v: &mut Verdicts<'a>) -> Block {
    let mut cands = Vec::new();
    for e in rules {
        let action = e.rule.effective;
        let (pat, shape, emit) = match &e.rule.matcher {
            Matcher::Path(m) => (Pat::of(m), Shape::of(m), true),
            Matcher::Comm(c) if c.contains('/') => {
                v.note(
                    e,
                    Level::NotExpressible,
                    "a file name cannot contain `/`, so this comm cannot be written as a path; enforced by bpf-lsm",
                );
                continue;
            }
            Matcher::Comm(c) => {
                v.note(e, Level::Approximated, COMM);
                (Pat::file_named(c, COMM_MAX), None, true)
            }
            _ => {
                v.note(e, Level::NotExpressible, "not an exec matcher");
                continue;
            }
        };
        let emit = emit && e.rule.conditions.parents.is_empty();
        if !e.rule.conditions.parents.is_empty() {
            v.note(e, Level::NotExpressible, PARENTS);
        } else if action != Action::Allow {
            v.note(e, Level::Approximated, SHEBANG);
        }
        cands.push(Cand { e, action, pat, shape, emit });
    }
    if default == Action::Block {
        cx.default_note(v, Section::Process, default, Level::Approximated, SHEBANG);
    }
    let lines = channel(cx, Section::Process, &cands, default, v);
    Block { title: format!("process: exec, default {}", default.as_str()), lines: merge(vec![("ix", "x", lines)]) }
}

fn file<'a>(cx: &Cx<'_>, rules: &'a [EffRule], default: Action, v: &mut Verdicts<'a>) -> Block {
    let mut chans = Vec::new();
    for (access, perm) in [(FileAccess::Read, "r"), (FileAccess::Write, "w")] {
        let mut cands = Vec::new();
        for e in rules {
            if !e.rule.conditions.access.contains(&access) {
                continue;
            }
            let Matcher::Path(m) = &e.rule.matcher else {
                v.note(e, Level::NotExpressible, "not a file matcher");
                continue;
            };
            cands.push(Cand { e, action: e.rule.effective, pat: Pat::of(m), shape: Shape::of(m), emit: true });
        }
        chans.push((perm, perm, channel(cx, Section::File, &cands, default, v)));
    }
    for e in rules.iter().filter(|e| e.rule.conditions.access.is_empty()) {
        // No access kind: the rule matches no operation.
        v.seen(e);
    }
    Block { title: format!("file: r = Read, w = Write, default {}", default.as_str()), lines: merge(chans) }
}

fn capabilities<'a>(rules: &'a [EffRule], default: Action, v: &mut Verdicts<'a>) -> Block {
    let mut lines = Vec::new();
    let mut named = BTreeSet::new();
    for e in rules {
        let Matcher::Capability(c) = &e.rule.matcher else {
            v.note(e, Level::NotExpressible, "not a capability matcher");
            continue;
        };
        let q = match e.rule.effective {
            Action::Allow => "",
            Action::Audit => "audit ",
            Action::Block => "audit deny ",
        };
        named.insert(c.to_ascii_lowercase());
        lines.push(Line { text: format!("{q}capability {},", c.to_ascii_lowercase()), comment: rule_comment(e) });
        v.seen(e);
    }
    let what = format!("default {}: what no rule matches", default.as_str());
    match default {
        Action::Allow => lines.push(Line { text: "capability,".into(), comment: what }),
        // Capabilities are a finite set: the default Audit is every capability no rule names.
        Action::Audit if named.is_empty() => lines.push(Line { text: "audit capability,".into(), comment: what }),
        Action::Audit => {
            for (c, _) in crate::tables::CAPABILITIES {
                let c = c.to_ascii_lowercase();
                if !named.contains(&c) {
                    lines.push(Line { text: format!("audit capability {c},"), comment: what.clone() });
                }
            }
        }
        Action::Block => {}
    }
    Block { title: format!("capabilities, default {}", default.as_str()), lines }
}

fn network<'a>(cx: &Cx<'_>, section: Section, rules: &'a [EffRule], default: Action, v: &mut Verdicts<'a>) -> Block {
    let mut lines = Vec::new();
    for e in rules {
        match (&e.rule.matcher, e.rule.effective) {
            (Matcher::RawSocket, Action::Allow) => v.seen(e),
            (Matcher::RawSocket, a) => {
                let q = if a == Action::Block { "audit deny" } else { "audit" };
                for what in ["inet raw", "inet6 raw", "packet"] {
                    lines.push(Line { text: format!("{q} network {what},"), comment: rule_comment(e) });
                }
                if a == Action::Audit {
                    v.note(e, Level::Approximated, RAW_AUDIT);
                } else {
                    v.seen(e);
                }
            }
            _ => v.note(e, Level::NotExpressible, NET_PEER),
        }
    }
    if default != Action::Allow {
        cx.default_note(v, section, default, Level::NotExpressible, NET_DEFAULT);
    }
    let title = format!(
        "{}: raw sockets only (connections are allowed: see the base rules), default {}",
        section_label(section),
        default.as_str()
    );
    Block { title, lines }
}

/// How exactly a rule is enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Exact,
    Approximated,
    NotExpressible,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    origin: Arc<crate::model::Origin>,
    rule_id: u32,
    matches: Arc<str>,
}

/// Maps by rule id (ids are unique across the input), with foldhash.
type ById<V> = HashMap<u32, V, foldhash::fast::FixedState>;

/// A verdict: level and reason (shared: rules of many sets have the same).
type Note = (Level, Arc<str>);

/// The verdicts of the rules of one policy set, made for one of its targets: each
/// rule the translation met, with its non-exact verdicts. (The set's other targets
/// get the same verdicts: [`AllVerdicts::add`].) Rules are kept by id; section
/// defaults (rule id 0) by their whole key.
#[derive(Default)]
struct Verdicts<'a> {
    rules: ById<(&'a EffRule, Vec<Note>)>,
    defaults: BTreeMap<Key, Vec<Note>>,
    reasons: Interner,
}

fn describe(r: &IrRule) -> String {
    let mut s = r.matcher.to_string();
    if r.section == Section::File {
        let a: Vec<&str> = r
            .conditions
            .access
            .iter()
            .map(|a| match a {
                FileAccess::Read => "read",
                FileAccess::Write => "write",
            })
            .collect();
        s.push_str(&format!(" ({})", a.join(", ")));
    }
    if !r.conditions.parents.is_empty() {
        let p: Vec<String> = r.conditions.parents.iter().map(ToString::to_string).collect();
        s.push_str(&format!(" from parents {}", p.join(", ")));
    }
    s
}

impl<'a> Verdicts<'a> {
    fn seen(&mut self, e: &'a EffRule) {
        self.rules.entry(e.id).or_insert_with(|| (e, Vec::new()));
    }

    fn note(&mut self, e: &'a EffRule, level: Level, reason: &str) {
        add_note(&mut self.rules.entry(e.id).or_insert_with(|| (e, Vec::new())).1, level, reason, &mut self.reasons);
    }

    /// A note on a section default.
    fn note_key(&mut self, key: Key, level: Level, reason: &str) {
        add_note(self.defaults.entry(key).or_default(), level, reason, &mut self.reasons);
    }
}

fn key(e: &EffRule, texts: &mut Interner) -> Key {
    Key { origin: Arc::clone(&e.origin), rule_id: e.id, matches: texts.get(&describe(&e.rule)) }
}

fn add_note(notes: &mut Vec<Note>, level: Level, reason: &str, reasons: &mut Interner) {
    if !notes.iter().any(|(l, r)| *l == level && **r == *reason) {
        notes.push((level, reasons.get(reason)));
    }
}

/// One rule over every target it applies to: how many targets, and each verdict
/// with the policy sets (indices into [`AllVerdicts::sets`]) it holds for.
#[derive(Default)]
struct Merged {
    targets: usize,
    notes: Vec<(Note, Sets)>,
}

/// The policy sets a verdict holds for: nearly always one (a rule is in the sets of
/// one policy, and most policies make one set), so one is kept without a vector.
enum Sets {
    One(u32),
    Many(Vec<u32>),
}

impl Sets {
    fn push(&mut self, set: u32) {
        match self {
            Sets::One(first) => *self = Sets::Many(vec![*first, set]),
            Sets::Many(v) => v.push(set),
        }
    }

    fn as_slice(&self) -> &[u32] {
        match self {
            Sets::One(s) => std::slice::from_ref(s),
            Sets::Many(v) => v,
        }
    }
}

impl Merged {
    /// Count one set's verdicts of the rule for its `members` targets.
    fn add(&mut self, notes: Vec<Note>, set: u32, members: usize) {
        self.targets += members;
        for note in notes {
            match self.notes.iter_mut().find(|(n, _)| *n == note) {
                Some((_, sets)) => sets.push(set),
                None => {
                    // Most rules have one verdict: room for one, not the four of a
                    // vector's first growth (at 10,000 policies, 80 MiB against 20).
                    if self.notes.capacity() == 0 {
                        self.notes.reserve_exact(1);
                    }
                    self.notes.push((note, Sets::One(set)));
                }
            }
        }
    }
}

/// The verdicts of every rule over every target, merged into one capability entry
/// per rule: the worst level, with each reason and (when it does not hold for every
/// target the rule applies to) the targets it holds for. Rules are in a vector, in
/// the order first met, found by id through `index` (at 10,000 policies there are
/// about 470,000 of them: a vector and an index of positions take half the memory
/// of a map of the entries).
#[derive(Default)]
struct AllVerdicts {
    index: ById<u32>,
    rules: Vec<(Key, Merged)>,
    defaults: BTreeMap<Key, Merged>,
    matches: Interner,
    /// The targets (indices of their plans) of each policy set, in the order added.
    sets: Vec<Vec<u32>>,
}

impl AllVerdicts {
    /// Move the verdicts of one policy set (made for one of its targets) to every
    /// target of the set: `members` are the indices of their plans. Every plan is in
    /// one set, so no target is counted twice.
    fn add(&mut self, set: &mut Verdicts<'_>, members: &[usize]) {
        let id_of_set = u32::try_from(self.sets.len()).unwrap_or(u32::MAX);
        self.sets.push(members.iter().filter_map(|&i| u32::try_from(i).ok()).collect());
        let n = members.len();
        for (id, (e, notes)) in set.rules.drain() {
            let next = u32::try_from(self.rules.len()).unwrap_or(u32::MAX);
            let at = *self.index.entry(id).or_insert(next);
            if at == next {
                self.rules.push((key(e, &mut self.matches), Merged::default()));
            }
            if let Some((_, merged)) = self.rules.get_mut(at as usize) {
                merged.add(notes, id_of_set, n);
            }
        }
        for (key, notes) in std::mem::take(&mut set.defaults) {
            self.defaults.entry(key).or_default().add(notes, id_of_set, n);
        }
    }

    /// One capability entry per rule; `ids` are the target ids of the plans.
    fn finish(self, ids: &[String]) -> Vec<Capability> {
        drop(self.index);
        let sets = self.sets;
        self.rules.into_iter().chain(self.defaults).map(|(key, merged)| capability(key, merged, &sets, ids)).collect()
    }
}

/// The capability entry of a rule: the worst level, with each reason and (when it
/// does not hold for every target the rule applies to) the targets it holds for.
/// `sets` are the targets of each policy set, `ids` the target ids of the plans.
fn capability(key: Key, Merged { targets, mut notes }: Merged, sets: &[Vec<u32>], ids: &[String]) -> Capability {
    notes.sort_by(|a, b| b.0.cmp(&a.0));
    let level = notes.first().map_or(Level::Exact, |((l, _), _)| *l);
    let mut reasons: Vec<Arc<str>> = Vec::new();
    for ((l, r), held) in &notes {
        if *l == Level::Exact {
            continue;
        }
        let members = || held.as_slice().iter().filter_map(|&s| sets.get(s as usize)).flatten();
        if members().count() == targets {
            reasons.push(r.clone());
        } else {
            let mut ts: Vec<&str> = members().filter_map(|&t| ids.get(t as usize)).map(String::as_str).collect();
            ts.sort_unstable();
            ts.dedup();
            reasons.push(format!("{r} (for {})", ts.join(", ")).into());
        }
    }
    // One reason (the common case) is shared as it is.
    let reason = if reasons.len() == 1 { reasons.swap_remove(0) } else { reasons.join("; ").into() };
    let support = match level {
        Level::Exact => Support::Exact,
        Level::Approximated => Support::Approximated { reason },
        Level::NotExpressible => Support::NotExpressible { reason },
    };
    Capability { backend: Target::Apparmor, rule_id: key.rule_id, origin: key.origin, matches: key.matches, support }
}

#[cfg(test)]
mod tests;
