//! Output formats of `polc lint`: human (rustc-style, with source snippets), JSON,
//! SARIF 2.1.0 and GitHub workflow annotations.

mod human;
mod sarif;

pub use human::{Color, human};
pub use sarif::sarif;

use crate::{Finding, Report};
use serde_json::{Value, json};

/// Version of the JSON output format; bumped on incompatible changes.
pub const JSON_FORMAT_VERSION: u32 = 1;

fn finding_json(f: &Finding) -> Value {
    json!({
        "code": f.code.as_str(),
        "name": f.code.info().name,
        "level": f.level.as_str(),
        "message": f.message,
        "file": f.file,
        "line": f.span.map(|s| s.line),
        "column": f.span.map(|s| s.col),
        "field": if f.field.is_empty() { Value::Null } else { Value::String(f.field.clone()) },
        "object": f.object,
        "help": f.help,
        "related": f.related.iter().map(|r| json!({"file": r.file, "line": r.span.map(|s| s.line), "column": r.span.map(|s| s.col), "message": r.message})).collect::<Vec<_>>(),
    })
}

/// The JSON report: `{"version", "summary", "findings"}`, one object per finding.
pub fn json(report: &Report) -> String {
    let v = json!({
        "version": JSON_FORMAT_VERSION,
        "tool": {"name": "polc", "version": env!("CARGO_PKG_VERSION")},
        "summary": {
            "files": report.files,
            "objects": report.objects,
            "policies": report.policies,
            "errors": report.count(crate::Level::Error),
            "warnings": report.count(crate::Level::Warning),
            "notes": report.count(crate::Level::Note),
        },
        "findings": report.findings.iter().map(finding_json).collect::<Vec<_>>(),
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub Actions workflow commands (`::error file=…,line=…,col=…,title=…::message`).
pub fn github(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let cmd = match f.level {
            crate::Level::Error => "error",
            crate::Level::Warning => "warning",
            crate::Level::Note => "notice",
        };
        let mut props = vec![format!("file={}", escape_property(&f.file))];
        if let Some(s) = f.span {
            props.push(format!("line={}", s.line));
            props.push(format!("col={}", s.col));
        }
        props.push(format!("title={}", escape_property(&format!("{} {}", f.code.as_str(), f.code.info().name))));
        let mut msg = f.message.clone();
        if let Some(h) = &f.help {
            msg.push_str(&format!("\nhelp: {h}"));
        }
        out.push_str(&format!("::{cmd} {}::{}\n", props.join(","), escape_data(&msg)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_escaping() {
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert_eq!(escape_data("x: y\r\n"), "x: y%0D%0A");
    }
}
