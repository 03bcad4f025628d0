//! Checks of one polc policy: schema, metadata, selectors, paths and globs, names,
//! CIDRs, and rules that never decide; and conflicts between policies that apply to
//! the same workload.

use crate::checks::workload::{Workload, selects};
use crate::codes::Code;
use crate::finding::did_you_mean;
use crate::{Ctx, Files, Finding, Level, NameAt, Related, Schemas, schema};
use polc_api::{LabelSelector, NetworkAccessPolicySpec, PolcKind, PreventionPolicySpec, RuntimePolicySpec};
use polc_compiler::ir::{IrRule, LowerErrorKind, Matcher, PolicyIr};
use polc_compiler::model::{Policy, Source, Spec};
use polc_compiler::pattern::PatternError;
use polc_compiler::precedence::{Relation, overlaps, redundant_with_default};
use polc_compiler::{selector, tables};
use polc_load::{FieldPath, Object, SourceFile};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// A policy that passed decoding, kept for coverage and cross-policy checks.
pub(crate) struct PolicyEntry {
    pub kind: PolcKind,
    pub namespace: String,
    pub selector: LabelSelector,
    pub containers: Vec<String>,
    /// The policy as the compiler takes it.
    pub policy: Policy,
    /// (file index, document index).
    pub loc: (usize, usize),
    /// Where `metadata.name` is written.
    pub name_at: NameAt,
}

impl PolicyEntry {
    pub fn label(&self) -> String {
        self.policy.label()
    }
}

/// Positions of the policy's name, of its section defaults and of every rule and
/// entry pointer of the IR, for the compiler's sources.
fn positions(ctx: &Ctx<'_>, ir: &PolicyIr) -> BTreeMap<Arc<str>, (u32, u32)> {
    let mut m = BTreeMap::new();
    let name: Arc<str> = "/metadata/name".into();
    // Where the backends place a section default's line: its field when written,
    // else the spec.
    let defaults: Vec<Arc<str>> = ["/spec/defaultAction", "/spec/onAnomaly", "/spec"]
        .into_iter()
        .filter(|p| polc_load::pointer(ctx.value, p).is_some())
        .map(Arc::from)
        .collect();
    for p in ir.rules.iter().flat_map(|r| [&r.rule_pointer, &r.pointer]).chain([&name]).chain(&defaults) {
        if !m.contains_key(&**p) {
            let s = ctx.doc.spans.value_span(ctx.value, FieldPath::from_pointer(p).segs());
            m.insert(Arc::clone(p), (s.line, s.col));
        }
    }
    m
}

/// SHA-256 (hex) of the canonical JSON of name, namespace and spec.
fn content_hash(ns: &str, name: &str, spec: &Value) -> String {
    use sha2::Digest;
    let canon = serde_json::json!({"namespace": ns, "name": name, "spec": canonical(spec)});
    let digest = sha2::Sha256::digest(canon.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value with object keys sorted (serde_json keeps insertion order here).
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), canonical(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Decode the spec. When a part of it does not decode (the schema findings already
/// say why), that rule or field is replaced by a neutral value and decoding is tried
/// again, so that the rest of the policy is still checked. Returns the spec and the
/// pointers of the neutralised parts, whose IR must be ignored.
fn decode<T: DeserializeOwned>(ctx: &mut Ctx<'_>, report: bool) -> Option<(T, Vec<String>)> {
    let original = ctx.value.get("spec")?;
    // Most specs decode at once: decode from the loaded value by reference, and copy
    // it only when a part has to be neutralised.
    // Without path tracking first: it is only needed to say where a spec is wrong.
    if let Ok(t) = T::deserialize(original) {
        return Some((t, Vec::new()));
    }
    let mut first = match serde_path_to_error::deserialize::<_, T>(original) {
        Ok(t) => return Some((t, Vec::new())),
        Err(e) => Some(e),
    };
    let mut spec = original.clone();
    let mut neutral = Vec::new();
    for attempt in 0..256 {
        let e = match first.take() {
            Some(e) => e,
            None => match serde_path_to_error::deserialize::<_, T>(&spec) {
                Ok(t) => return Some((t, neutral)),
                Err(e) => e,
            },
        };
        let ptr = path_to_pointer(e.path());
        if report && attempt == 0 {
            let f = ctx.finding_at(Code::SchemaViolation, &format!("/spec{ptr}"), e.inner().to_string());
            ctx.push(f);
        }
        let segs: Vec<&str> = ptr.split('/').skip(1).collect();
        let (prefix, replacement): (String, Option<Value>) = match segs.as_slice() {
            [sec @ ("process" | "file" | "network" | "capabilities" | "egress" | "ingress"), i, ..]
                if i.parse::<usize>().is_ok() =>
            {
                (format!("/{sec}/{i}"), Some(serde_json::json!({"action": "Allow", "capabilities": []})))
            }
            ["baseline", sec, i, ..] if i.parse::<usize>().is_ok() => {
                let v = match *sec {
                    "executables" => serde_json::json!("/"),
                    "files" => serde_json::json!({"path": "/"}),
                    "egress" => serde_json::json!({"cidr": "0.0.0.0/0"}),
                    "syscalls" => serde_json::json!("read"),
                    _ => serde_json::json!("CHOWN"),
                };
                (format!("/baseline/{sec}/{i}"), Some(v))
            }
            ["baseline", sec, ..] => (format!("/baseline/{sec}"), None),
            ["selector", ..] | [] => return None,
            [key, ..] => (format!("/{key}"), None),
        };
        let done = match replacement {
            Some(v) => spec.pointer_mut(&prefix).map(|slot| *slot = v).is_some(),
            None => {
                let (parent, key) = prefix.rsplit_once('/').unwrap_or(("", &prefix));
                spec.pointer_mut(parent).and_then(Value::as_object_mut).and_then(|m| m.remove(key)).is_some()
            }
        };
        if !done {
            return None;
        }
        neutral.push(format!("/spec{prefix}"));
    }
    None
}

fn under(pointer: &str, prefixes: &[String]) -> bool {
    prefixes
        .iter()
        .any(|p| pointer.strip_prefix(p.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

/// A serde path as a JSON pointer.
pub(crate) fn path_to_pointer(p: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut s = String::new();
    for seg in p.iter() {
        match seg {
            Segment::Seq { index } => s.push_str(&format!("/{index}")),
            Segment::Map { key } => s.push_str(&format!("/{key}")),
            Segment::Enum { variant } => s.push_str(&format!("/{variant}")),
            Segment::Unknown => {}
        }
    }
    s
}

/// Check one polc object. Returns the decoded policy for later checks.
pub(crate) fn check(
    schemas: &Schemas,
    ctx: &mut Ctx<'_>,
    version: &str,
    kind: &str,
    obj: &Object,
    loc: (usize, usize),
    model: bool,
) -> Option<PolicyEntry> {
    let Some(k) = PolcKind::from_kind(kind).filter(|_| version == polc_api::VERSION) else {
        let f = schema::unknown_kind(ctx, version, kind);
        ctx.push(f);
        return None;
    };
    let valid = schemas.check(k, ctx);
    for key in ["name", "namespace"] {
        if let Some(v) = polc_load::pointer(ctx.value, &format!("/metadata/{key}"))
            && !v.is_string()
        {
            let f = ctx
                .finding_at_value(
                    Code::Metadata,
                    &format!("/metadata/{key}"),
                    format!("`metadata.{key}` is {v}, not a string"),
                )
                .help("quote it: YAML reads `on`, `yes`, `true` and numbers as other types");
            ctx.push(f);
        }
    }
    match polc_load::pointer(ctx.value, "/metadata/name") {
        Some(v) if !v.is_string() => {}
        None => {
            let f = ctx.finding_at(Code::Metadata, "/metadata", "`metadata.name` is missing");
            ctx.push(f);
        }
        Some(Value::String(n)) if !selector::is_dns_subdomain(n) => {
            let f = ctx
                .finding_at_value(Code::Metadata, "/metadata/name", format!("`{n}` is not a valid Kubernetes name"))
                .help("use lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit");
            ctx.push(f);
        }
        _ => {}
    }
    let namespace = obj.namespace.clone().unwrap_or_else(|| "default".to_string());
    let (spec, neutral) = match k {
        PolcKind::PreventionPolicy => {
            let (s, n): (PreventionPolicySpec, _) = decode(ctx, valid)?;
            (Spec::Prevention(s), n)
        }
        PolcKind::RuntimePolicy => {
            let (s, n): (RuntimePolicySpec, _) = decode(ctx, valid)?;
            (Spec::Runtime(s), n)
        }
        PolcKind::NetworkAccessPolicy => {
            let (s, n): (NetworkAccessPolicySpec, _) = decode(ctx, valid)?;
            check_fqdns(ctx, &s);
            (Spec::Network(s), n)
        }
    };
    let mut ir = spec.lower();
    let (selector, containers) = (spec.selector().clone(), spec.containers().to_vec());
    if !neutral.is_empty() {
        ir.rules.retain(|r| !under(&r.rule_pointer, &neutral));
        ir.errors.retain(|e| !under(&e.pointer, &neutral));
    }
    check_selector(ctx, &selector, "/spec/selector");
    lower_findings(ctx, &ir);
    rule_findings(ctx, &ir);
    let labels = polc_load::pointer(ctx.value, "/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    // Rule positions and the content hash are for the compiler's output only.
    let (source, hash) = if model {
        let source = Source { file: ctx.file.name.clone(), positions: positions(ctx, &ir) };
        (source, content_hash(&namespace, &obj.name, ctx.value.get("spec").unwrap_or(&Value::Null)))
    } else {
        (Source { file: ctx.file.name.clone(), positions: BTreeMap::new() }, String::new())
    };
    let policy = Policy {
        namespace: namespace.clone(),
        name: obj.name.clone(),
        labels,
        spec,
        ir,
        source,
        content_hash: hash,
        origins: Default::default(),
    };
    Some(PolicyEntry { kind: k, namespace, selector, containers, policy, loc, name_at: NameAt::of(ctx.doc) })
}

fn check_selector(ctx: &mut Ctx<'_>, sel: &LabelSelector, pointer: &str) {
    if selector::is_empty(sel) {
        let f = ctx
            .finding_at(Code::EmptySelector, pointer, "empty selector selects every pod in the namespace")
            .help("select by label, e.g. `matchLabels: {app: web}`");
        ctx.push(f);
    }
    for (i, e) in selector::validate(sel) {
        let f =
            ctx.finding_at(Code::InvalidSelector, &format!("{pointer}/matchExpressions/{i}/operator"), e.to_string());
        ctx.push(f);
    }
    for (sub, e) in selector::validate_labels(sel) {
        let f = ctx.finding_at_value(Code::InvalidSelector, &format!("{pointer}{sub}"), e.to_string());
        ctx.push(f);
    }
}

fn check_fqdns(ctx: &mut Ctx<'_>, spec: &NetworkAccessPolicySpec) {
    for (i, r) in spec.egress.iter().enumerate() {
        for (j, p) in r.peers.iter().enumerate() {
            if let Some(name) = &p.fqdn
                && !valid_fqdn(name)
            {
                let f = ctx
                    .finding_at_value(
                        Code::InvalidFqdn,
                        &format!("/spec/egress/{i}/peers/{j}/fqdn"),
                        format!("`{name}` is not a DNS name or pattern"),
                    )
                    .help("use lowercase labels of letters, digits and `-`, with `*` for wildcards (`*.example.com`)");
                ctx.push(f);
            }
        }
        for (j, p) in r.peers.iter().enumerate() {
            for (key, sel) in [("pods", &p.pods), ("namespaces", &p.namespaces)] {
                if let Some(sel) = sel {
                    for (k, e) in selector::validate(sel) {
                        let ptr = format!("/spec/egress/{i}/peers/{j}/{key}/matchExpressions/{k}/operator");
                        let f = ctx.finding_at(Code::InvalidSelector, &ptr, e.to_string());
                        ctx.push(f);
                    }
                }
            }
        }
    }
}

fn valid_fqdn(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'*')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn lower_findings(ctx: &mut Ctx<'_>, ir: &PolicyIr) {
    for e in &ir.errors {
        let (code, help): (Code, Option<String>) = match &e.kind {
            LowerErrorKind::Pattern(p) => (
                Code::InvalidPath,
                Some(match p {
                    PatternError::NotAbsolute(s) => {
                        format!("write the absolute path the kernel sees, e.g. `/{}`", s.trim_start_matches("./"))
                    }
                    PatternError::PartialDoubleStar(_) => {
                        "write `*` for any name within a segment, `/**/` for any depth".into()
                    }
                    PatternError::GlobInDir(_) => "list globs under `paths`; `dirs` takes plain directories".into(),
                    _ => "write the path as the kernel resolves it".into(),
                }),
            ),
            LowerErrorKind::Cidr(_) => (Code::InvalidCidr, None),
            LowerErrorKind::HostBits { network, .. } => (Code::InvalidCidr, Some(format!("write `{network}`"))),
            LowerErrorKind::UnknownCapability(c) => {
                let name = c.strip_prefix("CAP_").unwrap_or(c).to_ascii_uppercase();
                (
                    Code::UnknownName,
                    did_you_mean(&name, tables::CAPABILITIES.iter().map(|(n, _)| *n))
                        .map(|b| format!("did you mean `{b}`?")),
                )
            }
            LowerErrorKind::UnknownSyscall(s) => (
                Code::UnknownName,
                did_you_mean(s, tables::SYSCALLS_X86_64.iter().map(|(n, _)| *n))
                    .map(|b| format!("did you mean `{b}`?")),
            ),
            LowerErrorKind::EmptyRule(_) => (Code::EmptyRule, None),
            LowerErrorKind::HttpNeedsAllowAndPorts | LowerErrorKind::HttpNeedsTcp { .. } => (Code::HttpRule, None),
            LowerErrorKind::EmptyPortRange { .. }
            | LowerErrorKind::CommTooLong(_)
            | LowerErrorKind::ExceptOutside { .. }
            | LowerErrorKind::PeerKinds(_)
            | LowerErrorKind::FqdnIngress => (Code::NeverMatches, None),
        };
        let mut f = ctx.finding_at_value(code, &e.pointer, e.kind.to_string());
        if matches!(e.kind, LowerErrorKind::HostBits { .. }) {
            f.level = Level::Warning;
        }
        f.help = help;
        ctx.push(f);
    }
}

fn rule_findings(ctx: &mut Ctx<'_>, ir: &PolicyIr) {
    // Rule names (given or `<section>-<index>`) must be unique: they make the rule ids.
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut reported: HashSet<&str> = HashSet::new();
    for r in &ir.rules {
        let Some(first) = names.insert(&r.name, &r.rule_pointer) else { continue };
        if *first == *r.rule_pointer || !reported.insert(&r.rule_pointer) {
            names.insert(&r.name, first);
            continue;
        }
        names.insert(&r.name, first);
        // Point at whichever of the two wrote the name explicitly.
        let (here, other) = if polc_load::pointer(ctx.value, &format!("{}/name", r.rule_pointer)).is_some() {
            (&*r.rule_pointer, first)
        } else {
            (first, &*r.rule_pointer)
        };
        let other_line = ctx.doc.spans.value_span(ctx.value, FieldPath::from_pointer(other).segs()).line;
        let implicit =
            if polc_load::pointer(ctx.value, &format!("{other}/name")).is_none() { " (its default name)" } else { "" };
        let f = ctx
            .finding_at_value(
                Code::DuplicateRuleName,
                &format!("{here}/name"),
                format!("rule name `{}` is also the name of the rule at line {other_line}{implicit}", r.name),
            )
            .help("rule names are part of stable rule ids; make each unique");
        ctx.push(f);
    }
    for r in &ir.rules {
        if let Matcher::Path(m) = &r.matcher
            && m.is_over_broad()
        {
            let f = ctx
                .finding_at_value(Code::OverBroad, &r.pointer, format!("`{m}` matches every path"))
                .help("narrow it to the directories meant, or set `defaultAction` for a posture");
            ctx.push(f);
        }
    }
    let refs: Vec<&IrRule> = ir.rules.iter().map(|r| &**r).collect();
    for o in overlaps(&refs) {
        let (loser, winner) = (refs[o.loser], refs[o.winner]);
        let f = overlap_finding(ctx, loser, winner, o.relation, None);
        ctx.push(f);
    }
    for i in redundant_with_default(&refs, &ir.defaults) {
        let r = refs[i];
        let f = ctx.finding_at_value(
            Code::RedundantRule,
            &r.pointer,
            format!("`{}` has the default action {} and overrides no other rule", r.matcher, r.action.as_str()),
        );
        ctx.push(f);
    }
}

fn relation_code(r: Relation) -> Code {
    match r {
        Relation::Duplicate => Code::DuplicateRule,
        Relation::Contradicted => Code::Contradiction,
        Relation::BlockUnreachable => Code::BlockUnreachable,
        Relation::Shadowed => Code::ShadowedRule,
    }
}

fn overlap_finding(
    ctx: &Ctx<'_>,
    loser: &IrRule,
    winner: &IrRule,
    relation: Relation,
    other: Option<(&SourceFile, &polc_load::Document, String)>,
) -> Finding {
    let (wfile, wline) = match &other {
        Some((file, doc, _)) => {
            (file.name.clone(), doc.spans.value_span(&doc.value, FieldPath::from_pointer(&winner.pointer).segs()))
        }
        None => (
            ctx.file.name.clone(),
            ctx.doc.spans.value_span(ctx.value, FieldPath::from_pointer(&winner.pointer).segs()),
        ),
    };
    let whose = match &other {
        Some((_, _, label)) => format!(" of {label}"),
        None => String::new(),
    };
    let msg = match relation {
        Relation::Duplicate => {
            format!("`{}` ({}) duplicates rule `{}`{whose}", loser.matcher, loser.action.as_str(), winner.name)
        }
        Relation::Contradicted => format!(
            "`{}` is both {} here and {} in rule `{}`{whose}; {} wins, so this entry never applies",
            loser.matcher,
            loser.action.as_str(),
            winner.action.as_str(),
            winner.name,
            winner.action.as_str()
        ),
        Relation::BlockUnreachable => format!(
            "Block of `{}` is unreachable: the more specific Allow `{}` in rule `{}`{whose} covers all of it",
            loser.matcher, winner.matcher, winner.name
        ),
        Relation::Shadowed => format!(
            "`{}` ({}) never decides: `{}` ({}) in rule `{}`{whose} covers it and wins",
            loser.matcher,
            loser.action.as_str(),
            winner.matcher,
            winner.action.as_str(),
            winner.name
        ),
    };
    let code = if other.is_some() { Code::CrossPolicyConflict } else { relation_code(relation) };
    let mut f = ctx.finding_at_value(code, &loser.pointer, msg);
    f.related.push(Related {
        file: wfile,
        span: Some(wline),
        message: format!("rule `{}` ({})", winner.name, winner.action.as_str()),
    });
    f.help = Some(match relation {
        Relation::Duplicate => "remove one of them".into(),
        Relation::Contradicted => "decide which action is meant and remove the other entry".into(),
        Relation::BlockUnreachable => "narrow the Allow, or make the Block more specific than it".into(),
        Relation::Shadowed => "remove this entry, or make it more specific than the rule that covers it".into(),
    });
    f
}

/// Conflicts between rules of different policies that apply to the same workload.
///
/// Each distinct set of policies that applies to some container is compared once;
/// the comparisons (the costly part) run on up to `threads` threads, and the findings
/// are then made in workload order, so they do not depend on the thread count.
pub(crate) fn cross_policy(
    files: &Files<'_>,
    policies: &[PolicyEntry],
    workloads: &[Workload],
    threads: usize,
    out: &mut Vec<Finding>,
) {
    let mut by_ns: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in policies.iter().enumerate() {
        if p.kind != PolcKind::NetworkAccessPolicy {
            by_ns.entry(&p.namespace).or_default().push(i);
        }
    }
    // The first (workload, container) of each distinct set of two or more policies.
    let mut seen_sets: HashSet<Vec<usize>> = HashSet::new();
    let mut jobs: Vec<(&Workload, Option<&str>, Vec<usize>)> = Vec::new();
    for w in workloads {
        let Some(cands) = by_ns.get(w.namespace.as_str()) else {
            continue;
        };
        let containers: Vec<Option<&str>> =
            if w.containers.is_empty() { vec![None] } else { w.containers.iter().map(|c| Some(c.as_str())).collect() };
        for container in containers {
            let set: Vec<usize> = cands
                .iter()
                .copied()
                .filter(|&i| {
                    let p = &policies[i];
                    selects(p, w)
                        && container.is_none_or(|c| p.containers.is_empty() || p.containers.iter().any(|x| x == c))
                })
                .collect();
            if set.len() < 2 || !seen_sets.insert(set.clone()) {
                continue;
            }
            jobs.push((w, container, set));
        }
    }
    // Per set, only the overlaps between two of its policies: (loser's policy,
    // winner's policy, loser, winner, relation), in the order `overlaps` found them.
    let compared = crate::par_map(&jobs, threads, |(_, _, set)| {
        let mut refs: Vec<&IrRule> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        for &pi in set {
            for r in &policies[pi].policy.ir.rules {
                refs.push(r);
                owner.push(pi);
            }
        }
        overlaps(&refs)
            .into_iter()
            .filter(|o| owner[o.loser] != owner[o.winner])
            .map(|o| (owner[o.loser], owner[o.winner], refs[o.loser], refs[o.winner], o.relation))
            .collect::<Vec<_>>()
    });
    let mut reported: HashSet<(usize, &str)> = HashSet::new();
    let mut docs = files.cache();
    for ((w, container, _), found) in jobs.iter().zip(compared) {
        for (lp, wp, loser, winner, relation) in found {
            if !reported.insert((lp, &*loser.pointer)) {
                continue;
            }
            let (lpol, wpol) = (&policies[lp], &policies[wp]);
            // Both documents, parsed again when the per-file checks dropped them.
            let (lfile, wfile) = (&files.list[lpol.loc.0], &files.list[wpol.loc.0]);
            let (ldocs, wdocs) = (docs.docs(lpol.loc.0), docs.docs(wpol.loc.0));
            let (ldoc, wdoc) = (crate::doc_at(&ldocs, lpol.loc.1), crate::doc_at(&wdocs, wpol.loc.1));
            let mut sink = Vec::new();
            let ctx = Ctx { file: lfile, doc: ldoc, value: &ldoc.value, object: Some(lpol.label()), out: &mut sink };
            let mut f = overlap_finding(&ctx, loser, winner, relation, Some((wfile, wdoc, wpol.label())));
            let c = container.map(|c| format!(", container {c}")).unwrap_or_default();
            f.message.push_str(&format!(" (for {} {}/{}{c})", w.kind.as_str(), w.namespace, w.name));
            out.push(f);
        }
    }
}
