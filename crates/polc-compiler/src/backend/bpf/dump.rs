//! The readable twin of a bundle: the same content as JSON, every key and value
//! decoded field by field with the `polc-abi` decoders (paths as text, suffix keys
//! turned back round, ports in host order, ranks split into their parts). Stable:
//! entries keep the bundle's key order, and [`to_text`] writes one map entry, rule or
//! default per line, so a policy change shows as a small diff.

use super::bundle::{Bundle, MapSection};
use crate::tables;
use polc_abi::{
    ANY, CommKey, Decision, IdKey, InfixKey, InfixValue, LpmValue, Net4Key, Net6Key, Op, PathKey, PathLpmKey,
    PclassLpmValue, PclassValue, PolicyConfig, PolicyKey, lookup,
};
use serde_json::{Value, json};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The JSON dump of a bundle.
pub fn to_json(b: &Bundle) -> Value {
    let maps: serde_json::Map<String, Value> = b.maps.iter().map(|m| (m.name.clone(), map_json(m))).collect();
    let rules: Vec<Value> = b
        .rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "policy": r.policy, "rule": r.rule, "section": r.section,
                "action": r.action.as_str(), "effective": r.effective.as_str(), "severity": r.severity,
                "matches": r.matches, "source": r.source, "message": r.message, "tags": r.tags,
            })
        })
        .collect();
    let defaults: Vec<Value> = b
        .defaults
        .iter()
        .map(|d| json!({"op": d.op.name(), "action": d.action.as_str(), "policies": d.policies}))
        .collect();
    json!({
        "format": "polc-bpf-bundle",
        "formatVersion": super::bundle::FORMAT_VERSION,
        "abiVersion": polc_abi::ABI_VERSION,
        "sha256": b.sha256_hex(),
        "target": b.target,
        "slot": b.slot,
        "policies": b.policies,
        "defaults": defaults,
        "maps": maps,
        "rules": rules,
    })
}

/// The dump as text: indented, with every map entry, rule and default on one line.
pub fn to_text(b: &Bundle) -> String {
    let mut out = String::new();
    write(&mut out, &to_json(b), 0, false);
    out.push('\n');
    out
}

/// Objects and arrays nested deeper than the entries are written on one line: below
/// `maps` that is depth 4 (maps > map > entries > entry), elsewhere depth 2.
fn write(out: &mut String, v: &Value, depth: usize, in_maps: bool) {
    let compact = depth >= if in_maps { 4 } else { 2 };
    let pad = |n: usize| "  ".repeat(n);
    match v {
        Value::Object(m) if !compact && !m.is_empty() => {
            out.push_str("{\n");
            for (i, (k, x)) in m.iter().enumerate() {
                out.push_str(&format!("{}{}: ", pad(depth + 1), Value::String(k.clone())));
                write(out, x, depth + 1, in_maps || (depth == 0 && k == "maps"));
                out.push_str(if i + 1 < m.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}}}", pad(depth)));
        }
        Value::Array(a) if !compact && !a.is_empty() => {
            out.push_str("[\n");
            for (i, x) in a.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                write(out, x, depth + 1, in_maps);
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}]", pad(depth)));
        }
        _ => out.push_str(&v.to_string()),
    }
}

fn action(a: u8) -> &'static str {
    match a {
        polc_abi::action::ALLOW => "Allow",
        polc_abi::action::AUDIT => "Audit",
        polc_abi::action::BLOCK => "Block",
        _ => "?",
    }
}

fn op(n: u16) -> Value {
    u8::try_from(n).ok().and_then(Op::from_u8).map_or_else(|| json!(n), |o| json!(o.name()))
}

fn decision(d: &Decision) -> Value {
    if d.rule_id == 0 {
        return Value::Null;
    }
    json!({
        "rule": d.rule_id,
        "action": action(d.action),
        "written": action(d.written),
        "rank": [d.rank >> 16, (d.rank >> 8) & 0xff, d.rank & 0xff],
    })
}

fn text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn lpm_text(k: &PathLpmKey, reversed: bool) -> String {
    let n = ((k.prefixlen.saturating_sub(polc_abi::KEY_HEADER_BITS)) / 8) as usize;
    let mut b = k.key.path[..n.min(k.key.path.len())].to_vec();
    if reversed {
        b.reverse();
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn bound(v: u16) -> Value {
    if v == ANY { Value::Null } else { json!(v) }
}

fn lookups(bits: u16) -> Vec<&'static str> {
    [
        (lookup::EXACT, "exact"),
        (lookup::PREFIX, "prefix"),
        (lookup::SUFFIX, "suffix"),
        (lookup::NAME, "name"),
        (lookup::INFIX, "infix"),
        (lookup::COMM, "comm"),
        (lookup::NET4, "net4"),
        (lookup::NET6, "net6"),
        (lookup::ID, "id"),
        (lookup::PARENT, "parent"),
        (lookup::GUARD, "guard"),
        (lookup::GUARD_DEEP, "guard-deep"),
        (lookup::GUARD_SFX, "guard-suffix"),
    ]
    .into_iter()
    .filter(|(b, _)| bits & b != 0)
    .map(|(_, n)| n)
    .collect()
}

fn entry(name: &str, k: &[u8], v: &[u8]) -> Option<Value> {
    let path_key = |k: &PathKey| json!({"policy": k.policy, "op": op(k.op), "pclass": k.pclass});
    let e = match name {
        "polc_config" => {
            let (k, c) = (PolicyKey::from_bytes(k)?, PolicyConfig::from_bytes(v)?);
            let ops: serde_json::Map<String, Value> = Op::ALL
                .iter()
                .filter(|o| c.has_op[**o as usize] != 0)
                .map(|o| {
                    let i = *o as usize;
                    (
                        o.name().to_string(),
                        json!({"default": action(c.default_action[i]), "lookups": lookups(c.lookups[i])}),
                    )
                })
                .collect();
            json!({"key": {"policy": k.policy}, "value": {"ops": ops, "pclassCount": c.pclass_count, "flags": c.flags}})
        }
        "polc_path_exact" | "polc_dir_guard" => {
            let k = PathKey::from_bytes(k)?;
            let mut key = path_key(&k);
            key[if name == "polc_dir_guard" { "dir" } else { "path" }] = json!(text(&k.path));
            json!({"key": key, "value": decision(&Decision::from_bytes(v)?)})
        }
        "polc_path_pfx" | "polc_path_sfx" | "polc_name_pfx" => {
            let k = PathLpmKey::from_bytes(k)?;
            let val = LpmValue::from_bytes(v)?;
            let mut key = path_key(&k.key);
            let (field, rev) = match name {
                "polc_path_pfx" => ("prefix", false),
                "polc_path_sfx" => ("suffix", true),
                _ => ("namePrefix", false),
            };
            key[field] = json!(lpm_text(&k, rev));
            let value = json!({
                "equal": decision(&val.equal), "direct": decision(&val.direct), "deep": decision(&val.deep), "node": val.node,
            });
            json!({"key": key, "value": value})
        }
        "polc_guard_deep" | "polc_guard_sfx" => {
            let k = PathLpmKey::from_bytes(k)?;
            let mut key = path_key(&k.key);
            let sfx = name == "polc_guard_sfx";
            key[if sfx { "endsWith" } else { "below" }] = json!(lpm_text(&k, sfx));
            json!({"key": key, "value": decision(&Decision::from_bytes(v)?)})
        }
        "polc_path_infix" => {
            let (k, val) = (InfixKey::from_bytes(k)?, InfixValue::from_bytes(v)?);
            let cands: Vec<Value> = val
                .cand
                .iter()
                .take(val.count as usize)
                .map(|c| {
                    json!({"decision": decision(&c.decision), "minLen": c.min_len, "maxLen": bound(c.max_len), "slashes": bound(c.slashes)})
                })
                .collect();
            let key = json!({"policy": k.policy, "op": op(k.op), "pclass": k.pclass, "prefixNode": k.prefix_node, "suffixNode": k.suffix_node});
            json!({"key": key, "value": {"candidates": cands}})
        }
        "polc_comm" => {
            let k = CommKey::from_bytes(k)?;
            let key = json!({"policy": k.policy, "pclass": k.pclass, "comm": text(&k.comm)});
            json!({"key": key, "value": decision(&Decision::from_bytes(v)?)})
        }
        "polc_par_exact" => {
            let k = PathKey::from_bytes(k)?;
            let mut key = path_key(&k);
            key["path"] = json!(text(&k.path));
            json!({"key": key, "value": {"pclass": PclassValue::from_bytes(v)?.pclass}})
        }
        "polc_par_pfx" => {
            let k = PathLpmKey::from_bytes(k)?;
            let val = PclassLpmValue::from_bytes(v)?;
            let mut key = path_key(&k.key);
            key["prefix"] = json!(lpm_text(&k, false));
            json!({"key": key, "value": {"equal": val.equal, "direct": val.direct, "deep": val.deep}})
        }
        "polc_net4" | "polc_net6" => {
            let (prefixlen, policy, o, proto, port, addr) = if name == "polc_net4" {
                let k = Net4Key::from_bytes(k)?;
                (k.prefixlen, k.policy, k.op, k.proto, k.port, Ipv4Addr::from(k.addr).to_string())
            } else {
                let k = Net6Key::from_bytes(k)?;
                (k.prefixlen, k.policy, k.op, k.proto, k.port, Ipv6Addr::from(k.addr).to_string())
            };
            let bits = prefixlen.saturating_sub(polc_abi::KEY_HEADER_BITS);
            let key = json!({
                "policy": policy, "op": op(u16::from(o)), "proto": proto, "port": u16::from_be_bytes(port),
                "cidr": format!("{addr}/{bits}"),
            });
            json!({"key": key, "value": decision(&Decision::from_bytes(v)?)})
        }
        "polc_id" => {
            let k = IdKey::from_bytes(k)?;
            let id = if k.op == Op::Capability as u16 {
                tables::CAPABILITIES
                    .iter()
                    .find(|(_, n)| *n == k.id)
                    .map_or_else(|| json!(k.id), |(n, _)| json!(format!("CAP_{n}")))
            } else {
                json!(k.id)
            };
            json!({"key": {"policy": k.policy, "op": op(k.op), "id": id}, "value": decision(&Decision::from_bytes(v)?)})
        }
        _ => return None,
    };
    Some(e)
}

fn map_json(m: &MapSection) -> Value {
    let kind = match m.map_type {
        polc_abi::MAP_TYPE_LPM_TRIE => "lpm_trie",
        polc_abi::MAP_TYPE_HASH => "hash",
        _ => "other",
    };
    let entries: Vec<Value> = m
        .entries
        .iter()
        .map(|(k, v)| entry(&m.name, k, v).unwrap_or_else(|| json!({"keyBytes": k.len(), "valueBytes": v.len()})))
        .collect();
    json!({"type": kind, "keySize": m.key_size, "valueSize": m.value_size, "entries": entries})
}

// ---------------------------------------------------------------- direct writing

/// [`to_text`], written directly rather than through a `serde_json::Value` tree, with
/// the bundle's hash given (the compiler has it from [`Bundle::encode`]): the bytes
/// are the same (the tests compare the two on every example and generated bundle).
pub fn render(b: &Bundle, sha256: &str) -> String {
    let entries: usize = b.maps.iter().map(|m| m.entries.len()).sum();
    let mut o: Vec<u8> = Vec::with_capacity(256 * (entries + b.rules.len()) + 1024);
    o.extend_from_slice(b"{\n  \"format\": \"polc-bpf-bundle\",\n  \"formatVersion\": ");
    num(&mut o, super::bundle::FORMAT_VERSION);
    o.extend_from_slice(b",\n  \"abiVersion\": ");
    num(&mut o, polc_abi::ABI_VERSION);
    o.extend_from_slice(b",\n  \"sha256\": ");
    json_to(&mut o, sha256);
    o.extend_from_slice(b",\n  \"target\": ");
    json_to(&mut o, &b.target);
    o.extend_from_slice(b",\n  \"slot\": ");
    num(&mut o, u32::from(b.slot));
    o.extend_from_slice(b",\n  \"policies\": ");
    lines(&mut o, 1, &b.policies, json_to);
    o.extend_from_slice(b",\n  \"defaults\": ");
    lines(&mut o, 1, &b.defaults, |o, d| {
        json_to(o, &DefaultJ { op: d.op.name(), action: d.action.as_str(), policies: &d.policies })
    });
    o.extend_from_slice(b",\n  \"maps\": ");
    if b.maps.is_empty() {
        o.extend_from_slice(b"{}");
    } else {
        o.extend_from_slice(b"{\n");
        for (i, m) in b.maps.iter().enumerate() {
            o.extend_from_slice(b"    ");
            json_to(&mut o, &m.name);
            o.extend_from_slice(b": {\n      \"type\": ");
            json_to(&mut o, map_kind(m.map_type));
            o.extend_from_slice(b",\n      \"keySize\": ");
            num(&mut o, m.key_size);
            o.extend_from_slice(b",\n      \"valueSize\": ");
            num(&mut o, m.value_size);
            o.extend_from_slice(b",\n      \"entries\": ");
            lines(&mut o, 3, &m.entries, |o, (k, v)| entry_to(o, &m.name, k, v));
            o.extend_from_slice(b"\n    }");
            o.extend_from_slice(if i + 1 < b.maps.len() { b",\n" } else { b"\n" });
        }
        o.extend_from_slice(b"  }");
    }
    o.extend_from_slice(b",\n  \"rules\": ");
    lines(&mut o, 1, &b.rules, |o, r| {
        json_to(
            o,
            &RuleJ {
                id: r.id,
                policy: &r.policy,
                rule: &r.rule,
                section: &r.section,
                action: r.action.as_str(),
                effective: r.effective.as_str(),
                severity: r.severity,
                matches: &r.matches,
                source: &r.source,
                message: &r.message,
                tags: &r.tags,
            },
        )
    });
    o.extend_from_slice(b"\n}\n");
    // Only JSON text went in.
    String::from_utf8(o).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// An array at `depth` whose items are written on one line each (as [`write`] does).
fn lines<T>(o: &mut Vec<u8>, depth: usize, items: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
    if items.is_empty() {
        o.extend_from_slice(b"[]");
        return;
    }
    o.extend_from_slice(b"[\n");
    for (i, x) in items.iter().enumerate() {
        for _ in 0..=depth {
            o.extend_from_slice(b"  ");
        }
        item(o, x);
        o.extend_from_slice(if i + 1 < items.len() { b",\n" } else { b"\n" });
    }
    for _ in 0..depth {
        o.extend_from_slice(b"  ");
    }
    o.push(b']');
}

fn num(o: &mut Vec<u8>, n: u32) {
    json_to(o, &n);
}

/// Compact JSON of `v`, as `Value::to_string` writes it.
fn json_to<T: serde::Serialize + ?Sized>(o: &mut Vec<u8>, v: &T) {
    // Writing to a Vec cannot fail, and these types always serialise.
    let _ = serde_json::to_writer(o, v);
}

fn map_kind(t: u32) -> &'static str {
    match t {
        polc_abi::MAP_TYPE_LPM_TRIE => "lpm_trie",
        polc_abi::MAP_TYPE_HASH => "hash",
        _ => "other",
    }
}

#[derive(serde::Serialize)]
struct DefaultJ<'a> {
    op: &'static str,
    action: &'static str,
    policies: &'a [String],
}

#[derive(serde::Serialize)]
struct RuleJ<'a> {
    id: u32,
    policy: &'a str,
    rule: &'a str,
    section: &'a str,
    action: &'static str,
    effective: &'static str,
    severity: polc_api::Severity,
    matches: &'a str,
    source: &'a str,
    message: &'a str,
    tags: &'a [String],
}

/// An op as [`op`] writes it: its name, or its number when unknown.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum OpJ {
    Name(&'static str),
    Num(u16),
}

fn op_j(n: u16) -> OpJ {
    u8::try_from(n).ok().and_then(Op::from_u8).map_or(OpJ::Num(n), |o| OpJ::Name(o.name()))
}

/// A decision as [`decision`] writes it (`None`: `null`).
#[derive(serde::Serialize)]
struct DecisionJ {
    rule: u32,
    action: &'static str,
    written: &'static str,
    rank: [u32; 3],
}

fn decision_j(d: &Decision) -> Option<DecisionJ> {
    (d.rule_id != 0).then(|| DecisionJ {
        rule: d.rule_id,
        action: action(d.action),
        written: action(d.written),
        rank: [d.rank >> 16, (d.rank >> 8) & 0xff, d.rank & 0xff],
    })
}

#[derive(serde::Serialize)]
struct EntryJ<K, V> {
    key: K,
    value: V,
}

#[derive(serde::Serialize)]
struct PathKeyJ<'a> {
    policy: u32,
    op: OpJ,
    pclass: u16,
    #[serde(flatten)]
    field: Field<'a>,
}

/// The one field a path key adds after `pclass`: its name and its text.
struct Field<'a>(&'static str, &'a str);

impl serde::Serialize for Field<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, self.1)?;
        m.end()
    }
}

#[derive(serde::Serialize)]
struct LpmValueJ {
    equal: Option<DecisionJ>,
    direct: Option<DecisionJ>,
    deep: Option<DecisionJ>,
    node: u32,
}

#[derive(serde::Serialize)]
struct NetKeyJ<'a> {
    policy: u32,
    op: OpJ,
    proto: u8,
    port: u16,
    cidr: &'a str,
}

#[derive(serde::Serialize)]
struct IdKeyJ {
    policy: u32,
    op: OpJ,
    id: IdJ,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum IdJ {
    Cap(String),
    Num(u32),
}

#[derive(serde::Serialize)]
struct CommKeyJ<'a> {
    policy: u32,
    pclass: u16,
    comm: &'a str,
}

/// One map entry on one line: the common maps written directly, the others (one or
/// a few per bundle) through [`entry`].
fn entry_to(o: &mut Vec<u8>, name: &str, k: &[u8], v: &[u8]) {
    if entry_direct(o, name, k, v).is_none() {
        let e = entry(name, k, v).unwrap_or_else(|| json!({"keyBytes": k.len(), "valueBytes": v.len()}));
        json_to(o, &e);
    }
}

/// `None` (nothing written) for a map it does not write or bytes that do not decode.
fn entry_direct(o: &mut Vec<u8>, name: &str, k: &[u8], v: &[u8]) -> Option<()> {
    match name {
        "polc_path_exact" | "polc_dir_guard" => {
            let (k, d) = (PathKey::from_bytes(k)?, Decision::from_bytes(v)?);
            let path = text(&k.path);
            let field = Field(if name == "polc_dir_guard" { "dir" } else { "path" }, &path);
            let key = PathKeyJ { policy: k.policy, op: op_j(k.op), pclass: k.pclass, field };
            json_to(o, &EntryJ { key, value: decision_j(&d) });
        }
        "polc_path_pfx" | "polc_path_sfx" | "polc_name_pfx" => {
            let (k, val) = (PathLpmKey::from_bytes(k)?, LpmValue::from_bytes(v)?);
            let (field, rev) = match name {
                "polc_path_pfx" => ("prefix", false),
                "polc_path_sfx" => ("suffix", true),
                _ => ("namePrefix", false),
            };
            let t = lpm_text(&k, rev);
            let key =
                PathKeyJ { policy: k.key.policy, op: op_j(k.key.op), pclass: k.key.pclass, field: Field(field, &t) };
            let value = LpmValueJ {
                equal: decision_j(&val.equal),
                direct: decision_j(&val.direct),
                deep: decision_j(&val.deep),
                node: val.node,
            };
            json_to(o, &EntryJ { key, value });
        }
        "polc_guard_deep" | "polc_guard_sfx" => {
            let (k, d) = (PathLpmKey::from_bytes(k)?, Decision::from_bytes(v)?);
            let sfx = name == "polc_guard_sfx";
            let t = lpm_text(&k, sfx);
            let field = Field(if sfx { "endsWith" } else { "below" }, &t);
            let key = PathKeyJ { policy: k.key.policy, op: op_j(k.key.op), pclass: k.key.pclass, field };
            json_to(o, &EntryJ { key, value: decision_j(&d) });
        }
        "polc_comm" => {
            let (k, d) = (CommKey::from_bytes(k)?, Decision::from_bytes(v)?);
            let comm = text(&k.comm);
            json_to(
                o,
                &EntryJ { key: CommKeyJ { policy: k.policy, pclass: k.pclass, comm: &comm }, value: decision_j(&d) },
            );
        }
        "polc_net4" | "polc_net6" => {
            let (prefixlen, policy, op, proto, port, addr) = if name == "polc_net4" {
                let k = Net4Key::from_bytes(k)?;
                (k.prefixlen, k.policy, k.op, k.proto, k.port, Ipv4Addr::from(k.addr).to_string())
            } else {
                let k = Net6Key::from_bytes(k)?;
                (k.prefixlen, k.policy, k.op, k.proto, k.port, Ipv6Addr::from(k.addr).to_string())
            };
            let d = Decision::from_bytes(v)?;
            let cidr = format!("{addr}/{}", prefixlen.saturating_sub(polc_abi::KEY_HEADER_BITS));
            let key = NetKeyJ { policy, op: op_j(u16::from(op)), proto, port: u16::from_be_bytes(port), cidr: &cidr };
            json_to(o, &EntryJ { key, value: decision_j(&d) });
        }
        "polc_id" => {
            let (k, d) = (IdKey::from_bytes(k)?, Decision::from_bytes(v)?);
            let id = if k.op == Op::Capability as u16 {
                tables::CAPABILITIES
                    .iter()
                    .find(|(_, n)| *n == k.id)
                    .map_or(IdJ::Num(k.id), |(n, _)| IdJ::Cap(format!("CAP_{n}")))
            } else {
                IdJ::Num(k.id)
            };
            json_to(o, &EntryJ { key: IdKeyJ { policy: k.policy, op: op_j(k.op), id }, value: decision_j(&d) });
        }
        _ => return None,
    }
    Some(())
}
