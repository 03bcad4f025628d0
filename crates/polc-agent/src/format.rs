//! Violation records as text: JSON lines (field names versioned by `"v"`, documented
//! in docs/agent.md) and ArcSight CEF. Both append to a caller's `String`, so a reader
//! reuses one buffer for every event.

use crate::events::{Object, RuleJson, Violation, proto_name};
use polc_api::Severity;
use polc_compiler::backend::bpf::bundle::RuleInfo;
use std::fmt::Write as _;

/// Version of the JSON record (the `"v"` field); bumped when a field changes meaning
/// or disappears (new fields do not bump it).
pub const JSON_VERSION: u32 = 1;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// ArcSight Common Event Format, one line per event.
    Cef,
}

/// Turns `bpf_ktime_get_ns` (CLOCK_MONOTONIC) into wall-clock time: the offset
/// between the two clocks is measured once, from `/proc/uptime` (10 ms resolution;
/// time the machine spent suspended is not accounted for).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    /// Wall-clock ns since the Unix epoch at monotonic time 0.
    pub boot_epoch_ns: u64,
}

impl Clock {
    /// Measure the offset now (0 when /proc/uptime cannot be read: times are then
    /// relative to boot).
    pub fn now() -> Clock {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let up = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse::<f64>().ok()))
            .map(|s| (s * 1e9) as u64);
        Clock { boot_epoch_ns: up.map_or(0, |u| wall.saturating_sub(u)) }
    }

    /// Wall-clock ns since the epoch of a monotonic time.
    pub fn epoch_ns(&self, ktime_ns: u64) -> u64 {
        self.boot_epoch_ns.saturating_add(ktime_ns)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of ns since the epoch.
pub fn rfc3339(out: &mut String, epoch_ns: u64) {
    let secs = epoch_ns / 1_000_000_000;
    let ms = (epoch_ns / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if !(0..=9999).contains(&y) {
        // Outside what 4 digits hold: the formatter's own (slow) path.
        let _ = write!(out, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", rem / 3600, (rem / 60) % 60, rem % 60);
        return;
    }
    // `YYYY-MM-DDTHH:MM:SS.mmmZ`, digit by digit (this runs once per record).
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut n: u64| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, y as u64);
    put(5, 2, m as u64);
    put(8, 2, d as u64);
    put(11, 2, rem / 3600);
    put(14, 2, (rem / 60) % 60);
    put(17, 2, rem % 60);
    put(20, 3, ms);
    out.push_str(std::str::from_utf8(&b).unwrap_or("1970-01-01T00:00:00.000Z"));
}

/// Append `s` as a JSON string (quoted, escaped).
pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &str = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f | 0x7f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{c:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

/// CEF severity (0-10) of a severity.
pub fn cef_severity(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Low => 3,
        Severity::Medium => 5,
        Severity::High => 8,
        Severity::Critical => 10,
    }
}

/// A rule's fixed JSON fields (see [`RuleJson`]), as [`json`] writes them.
pub fn rule_json(r: &RuleInfo) -> RuleJson {
    let mut policy = String::new();
    json_str(&mut policy, &r.policy);
    let mut out = String::new();
    rule_fields(&mut out, r);
    RuleJson { policy: policy.into(), fields: out.into() }
}

/// `,"key":"value"` for each pair (keys are plain ASCII, not escaped).
fn string_fields(out: &mut String, fields: &[(&str, &str)]) {
    for (key, value) in fields {
        out.push_str(",\"");
        out.push_str(key);
        out.push_str("\":");
        json_str(out, value);
    }
}

fn rule_fields(out: &mut String, r: &RuleInfo) {
    string_fields(
        out,
        &[
            ("rule", &r.rule),
            ("section", &r.section),
            ("matches", &r.matches),
            ("source", &r.source),
            ("message", &r.message),
        ],
    );
    out.push_str(",\"tags\":[");
    for (i, t) in r.tags.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, t);
    }
    out.push(']');
}

fn push_u64(out: &mut String, n: u64) {
    polc_compiler::text::push_decimal(out, n);
}

fn push_bool(out: &mut String, b: bool) {
    out.push_str(if b { "true" } else { "false" });
}

/// Append one JSON line (with the newline). The fields are documented in docs/agent.md.
pub fn json(out: &mut String, v: &Violation<'_>, clock: &Clock) {
    out.push_str("{\"v\":");
    push_u64(out, u64::from(JSON_VERSION));
    out.push_str(",\"time\":\"");
    rfc3339(out, clock.epoch_ns(v.ktime_ns));
    out.push_str("\",\"ktimeNs\":");
    push_u64(out, v.ktime_ns);
    out.push_str(",\"action\":\"");
    out.push_str(v.action_name());
    out.push_str("\",\"op\":\"");
    out.push_str(v.op_name());
    out.push_str("\",\"policy\":");
    match (v.rule, v.rule_json, v.default_policies) {
        (Some(_), Some(j), _) => out.push_str(&j.policy),
        (Some(r), None, _) => json_str(out, &r.policy),
        (None, _, Some(p)) if !p.is_empty() => json_str(out, p),
        _ => out.push_str("null"),
    }
    out.push_str(",\"ruleId\":");
    push_u64(out, u64::from(v.rule_id));
    out.push_str(",\"default\":");
    push_bool(out, v.is_default());
    if let Some(j) = v.rule_json {
        out.push_str(&j.fields);
    } else if let Some(r) = v.rule {
        rule_fields(out, r);
    }
    out.push_str(",\"severity\":\"");
    out.push_str(severity_name(v.severity()));
    out.push_str("\",\"process\":{\"pid\":");
    push_u64(out, u64::from(v.pid));
    out.push_str(",\"tid\":");
    push_u64(out, u64::from(v.tid));
    out.push_str(",\"ppid\":");
    push_u64(out, u64::from(v.ppid));
    out.push_str(",\"comm\":");
    json_str(out, &lossy(v.comm));
    out.push('}');
    match v.object {
        Object::Path(p) => {
            out.push_str(",\"path\":");
            json_str(out, &lossy(p));
            let cut = v.flags & polc_abi::event_flags::PATH_TRUNCATED != 0;
            let unresolved = v.flags & polc_abi::event_flags::PATH_UNRESOLVED != 0;
            out.push_str(",\"pathLen\":");
            push_u64(out, u64::from(v.path_len));
            out.push_str(",\"pathTruncated\":");
            push_bool(out, cut);
            out.push_str(",\"pathUnresolved\":");
            push_bool(out, unresolved);
            out.push_str(",\"nameMoved\":");
            push_bool(out, v.flags & polc_abi::event_flags::NAME_MOVED != 0);
            out.push_str(",\"ruleBelow\":");
            push_bool(out, v.flags & polc_abi::event_flags::BELOW != 0);
            out.push_str(",\"fdReceived\":");
            push_bool(out, v.flags & polc_abi::event_flags::RECEIVED != 0);
        }
        Object::Peer { addr, port, proto } => {
            let _ = write!(
                out,
                ",\"peer\":{{\"address\":\"{addr}\",\"port\":{port},\"protocol\":\"{}\"}}",
                proto_name(proto)
            );
        }
        Object::Capability(c) => {
            let _ = write!(out, ",\"capability\":{c}");
        }
        Object::None => {}
    }
    out.push_str(",\"container\":{\"cgroupId\":");
    push_u64(out, v.cgroup_id);
    out.push_str(",\"slot\":");
    push_u64(out, u64::from(v.slot()));
    out.push_str(",\"target\":");
    match v.target {
        Some(t) => json_str(out, t),
        None => out.push_str("null"),
    }
    out.push('}');
    if let Some(p) = v.pod {
        out.push_str(",\"pod\":{\"namespace\":");
        json_str(out, &p.namespace);
        string_fields(
            out,
            &[("name", &p.name), ("uid", &p.uid), ("container", &p.container), ("containerId", &p.container_id)],
        );
        out.push('}');
    }
    out.push_str("}\n");
}

/// Append `s` as a CEF header field: `\` and `|` escaped; CR and LF (not allowed in
/// the header) become spaces.
pub fn cef_header(out: &mut String, s: &str) {
    if !s.contains(['\\', '|', '\r', '\n']) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
}

/// Append `s` as a CEF extension value: `\`, `=` escaped, CR and LF as `\r`, `\n`.
pub fn cef_value(out: &mut String, s: &str) {
    if !s.contains(['\\', '=', '\r', '\n']) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Append bytes from the kernel (a path, a comm) as a CEF extension value; invalid
/// UTF-8 is replaced, as in the JSON records.
fn cef_bytes(out: &mut String, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => cef_value(out, s),
        Err(_) => cef_value(out, &String::from_utf8_lossy(b)),
    }
}

/// ` key=` (keys are polc's own: nothing to escape).
fn cef_key(out: &mut String, key: &str) {
    out.push(' ');
    out.push_str(key);
    out.push('=');
}

fn cef_kv(out: &mut String, key: &str, value: &str) {
    cef_key(out, key);
    cef_value(out, value);
}

/// ` key=value keyLabel=label`.
fn cef_labelled(out: &mut String, key: &str, label: &str, value: &str) {
    cef_kv(out, key, value);
    out.push(' ');
    out.push_str(key);
    out.push_str("Label=");
    out.push_str(label);
}

/// Append one CEF line (with the newline):
/// `CEF:0|polc|polc|<version>|<signature id>|<name>|<severity>|<extension>`.
/// The signature id is the rule id, or `default-<op>` for a default decision.
/// Nothing is allocated unless a path or comm is not UTF-8.
pub fn cef(out: &mut String, v: &Violation<'_>, clock: &Clock) {
    out.push_str("CEF:0|polc|polc|");
    cef_header(out, env!("CARGO_PKG_VERSION"));
    out.push('|');
    if v.rule_id == 0 {
        out.push_str("default-");
        out.push_str(v.op_name());
    } else {
        push_u64(out, u64::from(v.rule_id));
    }
    out.push('|');
    out.push_str(v.action_name());
    out.push(' ');
    out.push_str(v.op_name());
    match v.rule {
        Some(r) => {
            out.push_str(" by rule ");
            cef_header(out, &r.rule);
        }
        None => out.push_str(" by default"),
    }
    out.push('|');
    push_u64(out, u64::from(cef_severity(v.severity())));
    out.push_str("|rt=");
    push_u64(out, clock.epoch_ns(v.ktime_ns) / 1_000_000);
    cef_kv(out, "act", v.action_name());
    cef_kv(out, "cat", v.op_name());
    cef_key(out, "spid");
    push_u64(out, u64::from(v.pid));
    cef_key(out, "sproc");
    cef_bytes(out, v.comm);
    match v.object {
        Object::Path(p) => {
            cef_key(out, "filePath");
            cef_bytes(out, p);
            if v.flags & polc_abi::event_flags::BELOW != 0 {
                out.push_str(" reason=directory moved");
            } else if v.flags & polc_abi::event_flags::NAME_MOVED != 0 {
                out.push_str(" reason=name moved");
            } else if v.flags & polc_abi::event_flags::RECEIVED != 0 {
                out.push_str(" reason=descriptor received");
            }
        }
        Object::Peer { addr, port, proto } => {
            // Addresses and numbers have nothing to escape.
            match addr {
                std::net::IpAddr::V4(a) => {
                    cef_key(out, "dst");
                    let _ = write!(out, "{a}");
                }
                std::net::IpAddr::V6(a) => {
                    cef_key(out, "c6a3");
                    let _ = write!(out, "{a} c6a3Label=destination");
                }
            }
            cef_key(out, "dpt");
            push_u64(out, u64::from(port));
            cef_key(out, "proto");
            for b in proto_name(proto).bytes() {
                out.push(char::from(b.to_ascii_uppercase()));
            }
        }
        Object::Capability(c) => {
            cef_key(out, "cn3");
            push_u64(out, u64::from(c));
            out.push_str(" cn3Label=capability");
        }
        Object::None => {}
    }
    let policy = v.rule.map(|r| r.policy.as_str()).or(v.default_policies).unwrap_or("");
    cef_labelled(out, "cs1", "policy", policy);
    if let Some(r) = v.rule {
        cef_labelled(out, "cs2", "rule", &r.rule);
        cef_labelled(out, "cs3", "section", &r.section);
        cef_labelled(out, "cs4", "source", &r.source);
        if !r.tags.is_empty() {
            cef_key(out, "cs6");
            for (i, t) in r.tags.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                cef_value(out, t);
            }
            out.push_str(" cs6Label=tags");
        }
        if !r.message.is_empty() {
            cef_kv(out, "msg", &r.message);
        }
    }
    cef_labelled(out, "cs5", "container", v.target.unwrap_or(""));
    if let Some(p) = v.pod {
        cef_key(out, "flexString1");
        cef_value(out, &p.namespace);
        out.push('/');
        cef_value(out, &p.name);
        out.push_str(" flexString1Label=pod");
        cef_labelled(out, "flexString2", "podContainer", &p.container);
    }
    out.push_str(" cn1=");
    push_u64(out, v.cgroup_id);
    out.push_str(" cn1Label=cgroupId cn2=");
    push_u64(out, u64::from(v.ppid));
    out.push_str(" cn2Label=ppid\n");
}

/// Append `v` in `format`.
pub fn write(out: &mut String, format: Format, v: &Violation<'_>, clock: &Clock) {
    match format {
        Format::Json => json(out, v, clock),
        Format::Cef => cef(out, v, clock),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{decode, encode, tests::catalog, tests::exec_event};

    const CLOCK: Clock = Clock { boot_epoch_ns: 1_700_000_000_000_000_000 };

    #[test]
    fn time_is_rfc3339() {
        let mut s = String::new();
        rfc3339(&mut s, 0);
        assert_eq!(s, "1970-01-01T00:00:00.000Z");
        s.clear();
        rfc3339(&mut s, 1_700_000_005_000_000_123);
        assert_eq!(s, "2023-11-14T22:13:25.000Z");
        s.clear();
        rfc3339(&mut s, 951_782_400_123_000_000); // a leap day
        assert_eq!(s, "2000-02-29T00:00:00.123Z");
    }

    #[test]
    fn json_record() {
        let c = catalog();
        let bytes = encode(&exec_event());
        let Ok(v) = decode(&bytes, &c) else { panic!("decode") };
        let mut s = String::new();
        json(&mut s, &v, &CLOCK);
        assert!(s.ends_with("}\n") && s.matches('\n').count() == 1, "{s}");
        let parsed: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(parsed["v"], 1);
        assert_eq!(parsed["time"], "2023-11-14T22:13:25.000Z");
        assert_eq!(parsed["action"], "block");
        assert_eq!(parsed["op"], "exec");
        assert_eq!(parsed["policy"], "PreventionPolicy shop/no-shells");
        assert_eq!(parsed["rule"], "block-shells");
        assert_eq!(parsed["ruleId"], 77);
        assert_eq!(parsed["source"], "policies/no-shells.yaml:12:7");
        assert_eq!(parsed["message"], "no shells | here = bad\nreally");
        assert_eq!(parsed["severity"], "critical");
        assert_eq!(parsed["process"], serde_json::json!({"pid": 100, "tid": 101, "ppid": 1, "comm": "bash"}));
        assert_eq!(parsed["path"], "/bin/sh");
        assert_eq!(parsed["pathTruncated"], false);
        assert_eq!((parsed["nameMoved"].as_bool(), parsed["ruleBelow"].as_bool()), (Some(false), Some(false)));
        assert_eq!(
            parsed["container"],
            serde_json::json!({"cgroupId": 4242, "slot": 3, "target": "shop/Deployment/carts/carts"})
        );
        // The rule's pre-rendered fields and the rule itself give the same bytes.
        assert!(v.rule_json.is_some());
        let mut plain = String::new();
        json(&mut plain, &Violation { rule_json: None, ..v }, &CLOCK);
        assert_eq!(plain, s);
    }

    /// A cgroup bound from a pod list: both formats name the pod, its container
    /// and the container id; without one, no `pod` field.
    #[test]
    fn records_name_the_pod_of_the_cgroup() {
        let mut c = catalog();
        let bytes = encode(&exec_event());
        let Ok(v) = decode(&bytes, &c) else { panic!("decode") };
        let mut s = String::new();
        json(&mut s, &v, &CLOCK);
        let parsed: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        assert!(parsed.get("pod").is_none(), "{s}");
        let pod = crate::events::PodRef {
            namespace: "shop".into(),
            name: "carts-5d8f7c9b4-x2x7k".into(),
            uid: "u-1".into(),
            container: "carts".into(),
            container_id: "a".repeat(64),
        };
        c.set_pods([(4242, pod), (7, crate::events::PodRef::default())]);
        let Ok(v) = decode(&bytes, &c) else { panic!("decode") };
        s.clear();
        json(&mut s, &v, &CLOCK);
        let parsed: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(
            parsed["pod"],
            serde_json::json!({"namespace": "shop", "name": "carts-5d8f7c9b4-x2x7k", "uid": "u-1", "container": "carts", "containerId": "a".repeat(64)})
        );
        assert_eq!(parsed["container"]["cgroupId"], 4242);
        s.clear();
        cef(&mut s, &v, &CLOCK);
        assert!(
            s.contains(" flexString1=shop/carts-5d8f7c9b4-x2x7k flexString1Label=pod flexString2=carts flexString2Label=podContainer"),
            "{s}"
        );
        assert!(s.ends_with("cn2Label=ppid\n"), "{s}");
    }

    #[test]
    fn time_digits_and_numbers_at_their_limits() {
        let mut s = String::new();
        rfc3339(&mut s, u64::MAX); // the last instant ns since the epoch in a u64 can name
        assert!(s.starts_with("2554-07-21T23:34:33.709"), "{s}");
        s.clear();
        push_u64(&mut s, 0);
        s.push(' ');
        push_u64(&mut s, u64::MAX);
        assert_eq!(s, "0 18446744073709551615");
    }

    #[test]
    fn json_escapes_control_bytes_and_invalid_utf8() {
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\u{1}\u{7f}é\t");
        assert_eq!(s, "\"a\\\"b\\\\c\\u0001\\u007fé\\t\"");
        let c = catalog();
        let mut e = exec_event();
        e.path[..5].copy_from_slice(b"/x\xff\n\"");
        let bytes = encode(&e);
        let Ok(v) = decode(&bytes, &c) else { panic!("decode") };
        let mut s = String::new();
        json(&mut s, &v, &CLOCK);
        let parsed: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(parsed["path"], "/x\u{fffd}\n\"sh");
    }

    #[test]
    fn cef_escaping() {
        let mut s = String::new();
        cef_header(&mut s, "a|b\\c=d\ne");
        assert_eq!(s, "a\\|b\\\\c=d e");
        s.clear();
        cef_value(&mut s, "a|b\\c=d\ne\rf");
        assert_eq!(s, "a|b\\\\c\\=d\\ne\\rf");
    }

    /// The CEF line of event `e`, named from the test catalog.
    fn cef_line(e: &polc_abi::Event) -> String {
        let bytes = encode(e);
        let c = catalog();
        let Ok(v) = decode(&bytes, &c) else { panic!("decode") };
        let mut s = String::new();
        cef(&mut s, &v, &CLOCK);
        s
    }

    #[test]
    fn cef_record() {
        let s = cef_line(&exec_event());
        let want_head = format!("CEF:0|polc|polc|{}|77|block exec by rule block-shells|10|", env!("CARGO_PKG_VERSION"));
        assert!(s.starts_with(&want_head), "{s}");
        assert!(s.ends_with('\n') && s.matches('\n').count() == 1, "{s}");
        assert!(s.contains("rt=1700000005000 act=block cat=exec spid=100 sproc=bash filePath=/bin/sh"), "{s}");
        assert!(s.contains(" cs1=PreventionPolicy shop/no-shells cs1Label=policy"), "{s}");
        assert!(s.contains(" cs4=policies/no-shells.yaml:12:7 cs4Label=source"), "{s}");
        assert!(s.contains(" msg=no shells | here \\= bad\\nreally"), "{s}");
        assert!(s.contains(" cs5=shop/Deployment/carts/carts cs5Label=container cn1=4242"), "{s}");
        // The header has exactly 7 unescaped pipes.
        let head = &s[..s.find("rt=").unwrap_or(0)];
        assert_eq!(head.matches('|').count(), 7, "{head}");
        let want = format!(
            "{want_head}rt=1700000005000 act=block cat=exec spid=100 sproc=bash filePath=/bin/sh \
             cs1=PreventionPolicy shop/no-shells cs1Label=policy cs2=block-shells cs2Label=rule \
             cs3=process cs3Label=section cs4=policies/no-shells.yaml:12:7 cs4Label=source \
             cs6=mitre:T1059 cs6Label=tags msg=no shells | here \\= bad\\nreally \
             cs5=shop/Deployment/carts/carts cs5Label=container cn1=4242 cn1Label=cgroupId cn2=1 cn2Label=ppid\n"
        );
        assert_eq!(s, want);
    }

    #[test]
    fn moved_names_and_received_descriptors_say_so_in_both_formats() {
        use polc_abi::event_flags::{BELOW, NAME_MOVED, RECEIVED};
        let c = catalog();
        for (flags, moved, below, received, reason) in [
            (0, false, false, false, None),
            (NAME_MOVED, true, false, false, Some(" reason=name moved cs1=")),
            (NAME_MOVED | BELOW, true, true, false, Some(" reason=directory moved cs1=")),
            (RECEIVED, false, false, true, Some(" reason=descriptor received cs1=")),
        ] {
            let e = polc_abi::Event { flags, ..exec_event() };
            let bytes = encode(&e);
            let Ok(v) = decode(&bytes, &c) else { panic!("decode") };
            let mut s = String::new();
            json(&mut s, &v, &CLOCK);
            let parsed: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
            assert_eq!(
                (parsed["nameMoved"].as_bool(), parsed["ruleBelow"].as_bool(), parsed["fdReceived"].as_bool()),
                (Some(moved), Some(below), Some(received)),
                "{s}"
            );
            let line = cef_line(&e);
            match reason {
                Some(r) => assert!(line.contains(&format!("filePath=/bin/sh{r}")), "{line}"),
                None => assert!(!line.contains("reason="), "{line}"),
            }
        }
    }

    #[test]
    fn cef_ipv6_and_bytes_that_are_not_utf8() {
        let mut e = exec_event();
        e.op = polc_abi::Op::Connect as u8;
        e.rule_id = 0;
        e.family = crate::events::AF_INET6;
        e.addr = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        e.aux = 53 | (17 << 16);
        e.comm[..4].copy_from_slice(b"b\xffsh");
        let s = cef_line(&e);
        assert!(s.contains(" sproc=b\u{fffd}sh c6a3=2001:db8::1 c6a3Label=destination dpt=53 proto=UDP"), "{s}");
        let mut e = exec_event();
        e.path = [0; 256];
        e.path[..6].copy_from_slice(b"/x=\xfe\\y");
        e.path_len = 6;
        let s = cef_line(&e);
        assert!(s.contains(" filePath=/x\\=\u{fffd}\\\\y cs1="), "{s}");
    }

    #[test]
    fn cef_default_network_event() {
        let mut e = exec_event();
        e.op = polc_abi::Op::Connect as u8;
        e.rule_id = 0;
        e.family = crate::events::AF_INET;
        e.addr[..4].copy_from_slice(&[10, 0, 0, 1]);
        e.aux = 8080 | (6 << 16);
        let s = cef_line(&e);
        assert!(s.contains("|default-connect|block connect by default|8|"), "{s}");
        assert!(s.contains(" dst=10.0.0.1 dpt=8080 proto=TCP"), "{s}");
        assert!(s.contains(" cs1=RuntimePolicy shop/carts cs1Label=policy"), "{s}");
    }
}
