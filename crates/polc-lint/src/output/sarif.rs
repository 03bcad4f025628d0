//! SARIF 2.1.0 for code scanning (GitHub and others).

use crate::codes::Code;
use crate::{Finding, Level, Report};
use serde_json::{Value, json};

fn level(l: Level) -> &'static str {
    match l {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Note => "note",
    }
}

/// A stable fingerprint of the finding's line content, code and field, so code
/// scanning tracks a finding across commits that move it.
fn line_hash(f: &Finding, line_text: &str) -> String {
    // FNV-1a: stable across platforms and releases, unlike std's SipHash keys.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in f.code.as_str().bytes().chain([0]).chain(line_text.trim().bytes()).chain([0]).chain(f.field.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}:1")
}

struct Lines<'a>(std::collections::HashMap<&'a str, &'a str>);

impl Lines<'_> {
    fn line(&self, file: &str, line: u32) -> &str {
        self.0.get(file).and_then(|t| super::human::nth_line(t, line)).unwrap_or("")
    }
}

/// Render the report as a SARIF 2.1.0 log.
pub fn sarif(report: &Report, files: &[polc_load::SourceFile]) -> String {
    let lines = Lines(files.iter().map(|f| (f.name.as_str(), f.text.as_str())).collect());
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|c| {
            let i = c.info();
            json!({
                "id": i.code,
                "name": i.name,
                "shortDescription": {"text": i.summary},
                "fullDescription": {"text": i.explanation},
                "help": {"text": format!("{}\n\nRun `polc explain {}` for details.", i.explanation, i.code), "markdown": format!("**{}** {}\n\n{}", i.code, i.summary, i.explanation)},
                "defaultConfiguration": {"level": level(i.level)},
                "properties": {"tags": ["security", "kubernetes"]},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let idx = Code::ALL.iter().position(|c| *c == f.code).unwrap_or(0);
            // Code scanning needs a line on every result: a finding about a whole file is
            // placed at its start.
            let s = f.span.unwrap_or(polc_load::Span { line: 1, col: 1 });
            let mut region = json!({"startLine": s.line, "startColumn": s.col});
            let text = lines.line(&f.file, s.line);
            if !text.is_empty() {
                region["snippet"] = json!({"text": text});
            }
            let fp = json!({"primaryLocationLineHash": line_hash(f, text)});
            let mut msg = f.message.clone();
            if let Some(h) = &f.help {
                msg.push_str(&format!("\nhelp: {h}"));
            }
            let physical = json!({"artifactLocation": {"uri": uri(&f.file)}, "region": region});
            let mut r = json!({
                "ruleId": f.code.as_str(),
                "ruleIndex": idx,
                "level": level(f.level),
                "message": {"text": msg},
                "locations": [{"physicalLocation": physical}],
                "partialFingerprints": fp,
            });
            if !f.related.is_empty() {
                r["relatedLocations"] = Value::Array(
                    f.related
                        .iter()
                        .enumerate()
                        .map(|(i, rel)| {
                            let mut pl = json!({"artifactLocation": {"uri": uri(&rel.file)}});
                            if let Some(s) = rel.span {
                                pl["region"] = json!({"startLine": s.line, "startColumn": s.col});
                            }
                            json!({"id": i, "physicalLocation": pl, "message": {"text": rel.message}})
                        })
                        .collect(),
                );
            }
            if let Some(o) = &f.object {
                r["properties"] = json!({"object": o, "field": f.field});
            }
            r
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "polc",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/polc-dev/polc",
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&log).unwrap_or_default();
    s.push('\n');
    s
}

/// File names as relative URIs (percent-encoding what URIs cannot hold).
fn uri(file: &str) -> String {
    let mut out = String::new();
    let f = file.strip_prefix("./").unwrap_or(file);
    for b in f.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
