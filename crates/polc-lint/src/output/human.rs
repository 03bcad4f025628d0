//! rustc-style human output: code, message, `file:line:col`, a source snippet with the
//! field underlined, related locations and help.

use crate::{Finding, Level, Report};
use polc_load::SourceFile;
use std::collections::HashMap;
use std::fmt::Write;

/// Whether to use ANSI colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// Plain text.
    Never,
    /// ANSI colours.
    Always,
}

struct Paint(Color);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        match self.0 {
            Color::Never => s.to_string(),
            Color::Always => format!("\x1b[{code}m{s}\x1b[0m"),
        }
    }
    fn level(&self, l: Level, s: &str) -> String {
        self.wrap(
            match l {
                Level::Error => "1;31",
                Level::Warning => "1;33",
                Level::Note => "1;36",
            },
            s,
        )
    }
    fn blue(&self, s: &str) -> String {
        self.wrap("1;34", s)
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
}

/// Length of the token starting at `col` (1-based, in characters) of `line`.
fn token_len(line: &str, col: usize) -> usize {
    let rest: Vec<char> = line.chars().skip(col.saturating_sub(1)).collect();
    if let Some(&q) = rest.first()
        && (q == '"' || q == '\'')
    {
        return rest.iter().skip(1).position(|&c| c == q).map_or(rest.len(), |p| p + 2);
    }
    let n = rest.iter().take_while(|&&c| !matches!(c, ':' | ',' | ']' | '}' | '#') && !c.is_whitespace()).count();
    n.max(1)
}

/// Line `n` (1-based) of `text`, where `\n`, `\r\n` and a lone `\r` end lines, as in YAML.
pub(crate) fn nth_line(text: &str, n: u32) -> Option<&str> {
    let mut rest = text;
    for _ in 1..n {
        let i = rest.find(['\n', '\r'])?;
        let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[i + skip..];
    }
    Some(&rest[..rest.find(['\n', '\r']).unwrap_or(rest.len())])
}

/// Render the report for a terminal.
pub fn human(report: &Report, files: &[SourceFile], color: Color) -> String {
    let p = Paint(color);
    let texts: HashMap<&str, &str> = files.iter().map(|f| (f.name.as_str(), f.text.as_str())).collect();
    let mut out = String::new();
    for f in &report.findings {
        render(&mut out, f, &texts, &p);
    }
    let (e, w, n) = (report.count(Level::Error), report.count(Level::Warning), report.count(Level::Note));
    let plural = |k: usize, s: &str| {
        if k == 1 { format!("{k} {s}") } else { format!("{k} {s}s") }
    };
    let _ = writeln!(
        out,
        "{}: {} files, {} objects ({} polc policies): {}, {}, {}",
        p.bold("polc lint"),
        report.files,
        report.objects,
        report.policies,
        p.level(Level::Error, &plural(e, "error")),
        p.level(Level::Warning, &plural(w, "warning")),
        p.level(Level::Note, &plural(n, "note")),
    );
    out
}

fn render(out: &mut String, f: &Finding, texts: &HashMap<&str, &str>, p: &Paint) {
    let head = format!("{}[{}]", f.level.as_str(), f.code.as_str());
    let _ = writeln!(out, "{}: {}", p.level(f.level, &head), p.bold(&f.message));
    let loc = match f.span {
        Some(s) => format!("{}:{}:{}", f.file, s.line, s.col),
        None => f.file.clone(),
    };
    let width = f.span.map_or(1, |s| s.line.to_string().len());
    let pad = " ".repeat(width);
    let _ = writeln!(out, "{pad}{} {loc}", p.blue("-->"));
    if let (Some(s), Some(text)) = (f.span, texts.get(f.file.as_str()))
        && let Some(line) = nth_line(text, s.line)
    {
        let line = line.trim_end_matches('\r');
        let col = s.col as usize;
        let len = token_len(line, col);
        let lead: String =
            line.chars().take(col.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
        let _ = writeln!(out, "{pad} {}", p.blue("|"));
        let _ = writeln!(out, "{} {} {line}", p.blue(&s.line.to_string()), p.blue("|"));
        let label = if f.field.is_empty() { String::new() } else { format!(" {}", f.field) };
        let _ =
            writeln!(out, "{pad} {} {lead}{}", p.blue("|"), p.level(f.level, &format!("{}{label}", "^".repeat(len))));
    }
    if let Some(o) = &f.object {
        let _ = writeln!(out, "{pad} {} in {o}", p.blue("="));
    }
    for r in &f.related {
        let rl = match r.span {
            Some(s) => format!("{}:{}:{}", r.file, s.line, s.col),
            None => r.file.clone(),
        };
        let _ = writeln!(out, "{pad} {} see {}: {}", p.blue("="), rl, r.message);
    }
    if let Some(h) = &f.help {
        let _ = writeln!(out, "{pad} {} {}: {h}", p.blue("="), p.bold("help"));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_like_yaml_lines() {
        assert_eq!(nth_line("a\rb\r\nc\nd", 2), Some("b"));
        assert_eq!(nth_line("a\rb\r\nc\nd", 3), Some("c"));
        assert_eq!(nth_line("a\rb\r\nc\nd", 4), Some("d"));
        assert_eq!(nth_line("a", 2), None);
    }

    #[test]
    fn token_lengths() {
        assert_eq!(token_len("  defaultActon: Block", 3), 12);
        assert_eq!(token_len("  - paths: [bin/sh, /x]", 13), 6);
        assert_eq!(token_len("  a: \"quoted value\"", 6), 14);
        assert_eq!(token_len("", 1), 1);
    }
}
