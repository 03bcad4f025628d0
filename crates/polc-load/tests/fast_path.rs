//! The fast YAML path against yaml-rust2: whenever the fast path accepts a text, its
//! documents (values, positions, indices) must be exactly yaml-rust2's, and it must
//! accept the files that repositories hold, or it saves nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use polc_load::{Limits, parse_documents_fast, parse_documents_yaml_rust2};
use std::path::{Path, PathBuf};

/// Compare both paths on `text`; returns whether the fast path accepted it.
fn same(text: &str, what: &str) -> bool {
    let limits = Limits::default();
    let Some(fast) = parse_documents_fast(text, &limits) else {
        return false;
    };
    let (slow, errors) = parse_documents_yaml_rust2(text, &limits);
    assert!(errors.is_empty(), "{what}: the fast path accepted a text yaml-rust2 refuses: {errors:?}\n{text}");
    assert_eq!(fast.len(), slow.len(), "{what}: document count\n{text}");
    for (f, s) in fast.iter().zip(&slow) {
        assert_eq!(f.index, s.index, "{what}: document index\n{text}");
        assert_eq!(f.value, s.value, "{what}: value of document {}\n{text}", f.index);
        assert_eq!(f.spans, s.spans, "{what}: positions in document {}\n{text}", f.index);
    }
    true
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
            out.push(p);
        }
    }
}

#[test]
fn every_yaml_file_of_the_repository_and_the_shared_data() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for d in ["examples", "policies", "crds", "argocd", "tests", "fuzz/seeds", "../shared"] {
        yaml_files(&root.join(d), &mut files);
    }
    assert!(files.len() > 50, "found {} files", files.len());
    let (mut accepted, mut bytes_in) = (0, 0);
    let mut must = Vec::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        let what = f.display().to_string();
        if same(&text, &what) {
            accepted += 1;
            bytes_in += text.len();
        }
        // What polc users write: the policies and manifests of the examples.
        if f.starts_with(root.join("examples")) && !what.ends_with(".json") {
            must.push((what, parse_documents_fast(&text, &Limits::default()).is_some()));
        }
    }
    let refused: Vec<&String> = must.iter().filter(|m| !m.1).map(|m| &m.0).collect();
    assert!(must.len() >= 5 && refused.is_empty(), "example files left to yaml-rust2: {refused:?}");
    let demo = root.join("../shared/realworld/sock-shop/complete-demo.yaml");
    let demo = std::fs::read_to_string(demo).expect("the sock-shop demo");
    assert!(same(&demo, "complete-demo.yaml"), "the sock-shop demo is in the subset");
    eprintln!("fast path: {accepted} of {} files ({bytes_in} bytes)", files.len());
}

/// Texts in the subset, with the marks that are easy to get wrong.
const IN: &[&str] = &[
    "a: 1\n",
    "a: 1",
    "a:\n",
    "a:",
    "a:\n\n# c\n",
    "a:  # x\nb:\n  # y\n\n",
    "k:\n- # c\n-   \n-  x\n",
    "k:\n  -\n",
    "- a:\n- b\n",
    "a: 1\n---\nb:\n---\n",
    "---\n---\n",
    "# c\n---\na: 1\n",
    "--- # first\na: 1\n--- \nb: 2\n",
    "x:\n  y:\nz: 1\n",
    "-\n  - x\n",
    "k:\n- a:\n-\n- b\n",
    "  a: 1\n  b:\n",
    "{a: 1, \"b\": [x, y z]}\n",
    "a: [ ]\nb: { }\n",
    "a: 'it''s'\nb: ''\nc: \"\"\n",
    "a  : 1\n\"q\" : 2\n'r': 3\n",
    "<<: {a: 1}\nb: 2\nc: {<<: {d: 1}, e: 2}\n",
    "a: |\n  x\n",
    "a: |\n  x\n  y\nb: 1\n",
    "a: >-\n  x\n  y\n\n  z\n\n\nb:\n",
    "- |+\n  x\n\n- y\n",
    "a: |\n  # not a comment\n   more\n\n  x\n# a comment\nb: > # c\n    folded\n    text\n",
    "- a: |-\n    x\n  b: 1\n-   |\n      y\n",
    "a: 1\r\nb:\r\n  - x # c\r\nc: |\r\n  l1\r\n  l2\r\n",
    "a: \"x\\ty\"\nb: \"\\\\.\\\"q\\\" \\x41\\u00e9\\U0001F600 \\N\\_\\L\\P\\0\\/\\ \\e\"\nc: [\"\\n\", {\"k\\t\": 1}]\n",
    "k: [\n    read, write,\n    open\n  ]\nl: {a: 1,\n  b: [2,\n   3], 'c': 4,\n    d: 5 } # c\n",
    "{\n  \"a\": [1, 2],\n  \"b\": {\"c\": null}\n}\n",
    "a: [x, # c\n  y]\n",
    "- [x,\n  # c\n\n  y]\n- {a: [\n   1]}\n",
    "a: [1,\n  2]\n",
    "a: -1\nb: --x\nc: x,y\nd: [-1]\ne: 0x1F\nf: 1e3\ng: ~\nh: yes\ni: 'yes'\n",
    "é: [ä, \"ö\"]\n  # c\nb: ü # ß\n",
    "a: b #c\nc: \"x\" # y\nd: e#f\n",
    "spec:\n  containers:\n  - name: x\n    image: y:1\n    args: [\"-c\", 'z']\n  - name: w\n",
    "- a: 1\n  b:\n  - x\n  - y: [1, {z: 2}]\n- c\n",
    "- a:\n  - x\n  b: 2\n",
    "a:\n  -\n    b: 1\n  -\n    - 2\n",
    "k: http://x:80/y\nurl: a:b\n",
    "a: { }\nb: [[], {}, [[1]]]\nc: {d: [e, f], g: {h: i}}\n",
    "a: x y  \nb: two  words # c\n",
    "a: null\nb: Null\nc: true\nd: FALSE\ne: 12.5\nf: -0\ng: +3\n",
    "- {a: 1}\n- [b]\n",
    "a: 1 # c\n  # deeper comment\nb: 2\n",
    "\u{feff}a: 1\n",
];

/// Texts outside the subset (or not YAML at all), left to yaml-rust2.
const OUT: &[&str] = &[
    "a:\n   ",
    // Errors the builder reports: the yaml-rust2 path reports them in its words.
    "a: {b: 1, b: 2}\n",
    "a: [1, .nan]\n",
    // Found by the fuzzer: yaml-rust2 refuses ` -` before a flow indicator.
    ".: [2, 1,N -]",
    "a: {b: x -}\n",
    // Found by the fuzzer: the blocks deeper than the last line's end close there.
    "a:\n  b:\n    c:\n     K        g:\n  ",
    "a:\n  b:\n    c:\n# end",
    "a:\n- x\nb:\n  - y\nc:\n- - 1\n",
    "a: 1\n...\n",
    "a: b\n  c\n",
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a:\tb\n",
    "a: [1, 2,]\n",
    "? a\n: b\n",
    "a: b: c\n",
    "a: 1\na: 2\n",
    "a:\n  b: 1\n c: 2\n",
    "- a\nb: 1\n",
    "a: 1\n- b\n",
    "[a]: 1\n",
    "a: 'x\n  y'\n",
    "plain\n",
    "%YAML 1.2\n---\na: 1\n",
    "a: {b: }\n",
    "a: [b: c]\n",
    "a: [a:b]\n",
    "a: \"x\"y\n",
    "a: \"x\"#y\n",
    "-x: 1\n",
    "a: \u{85}\n",
    "a: |2\n   x\n",
    "a:\n  b: [\n    x\n  ]\n",
    "k: [\n]\n",
    "a: [x\n  y]\n",
    "a: [x,\n",
    "a: [x,\n---\n]\n",
    "a: {b\n  : 1}\n",
    "a: \"\\q\"\n",
    "a: \"\\x4\"\n",
    "a: \"\\uD800\"\n",
    "a: \"x\\\n  y\"\n",
    "a: |\n\n  x\n",
    "a: |\nb: 1\n",
    "a: >\n  x\n    more\n  y\n",
    "a: |\n  x\n     \n  y\n",
    "a: 1\rb: 2\n",
    "a:\n  - b\n   - c\n",
];

#[test]
fn long_keys_and_long_lines() {
    // yaml-rust2 refuses keys whose `:` is over 1024 characters from their start,
    // quoted ones too (found in review): left to it, whatever the quoting.
    for (text, fast) in [
        (format!("\"{}\": 1\n", "a".repeat(990)), true),
        (format!("\"{}\": 1\n", "a".repeat(1023)), false),
        (format!("'{}': 1\n", "a".repeat(1030)), false),
        (format!("\"a\"{}: 1\n", " ".repeat(1022)), false),
        (format!("- \"{}\": 1\n", "a".repeat(1030)), false),
        (format!("x:\n  {}: 1\n", "a".repeat(1030)), false),
    ] {
        assert_eq!(same(&text, "long key"), fast, "{} bytes", text.len());
    }
    // Columns on a long line that is not ASCII are counted on from the last one, not
    // from the line's start for every scalar (found in review: quadratic before);
    // they must still be right, for every item and after a line that is.
    let n = 40_000;
    let text = format!("a: [é{}]\nb: [ü, ö]\n", ", é".repeat(n));
    assert!(same(&text, "long line"));
    let docs = parse_documents_fast(&text, &Limits::default()).unwrap();
    let items = &docs[0].spans.children[0].children;
    assert_eq!(items.len(), n + 1);
    assert!(items.iter().enumerate().all(|(i, t)| t.at.col == u32::try_from(5 + 3 * i).unwrap()));
}

#[test]
fn handwritten_texts() {
    for t in IN {
        assert!(same(t, &format!("{t:?}")), "{t:?} is in the subset");
    }
    for t in OUT {
        assert!(parse_documents_fast(t, &Limits::default()).is_none(), "{t:?} is left to yaml-rust2");
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const KEYS: &[&str] = &["a", "name", "b c", "\"q\"", "'s'", "k-1", "x.y/z", "é", "true", "1", "<<", "a#b", "a:b"];
const SCALARS: &[&str] = &[
    "1",
    "x",
    "-1",
    "'q'",
    "\"d\"",
    "''",
    "a b",
    "yes",
    "~",
    "http://h:1/p",
    "x # c",
    "[]",
    "{}",
    "[a, 'b', \"c\"]",
    "{k: v, 'l': [1, 2]}",
    "[[x], {y: z}]",
    "-x",
    "1.5",
    ".inf",
    "é ü",
    "a: b",
    "|",
    "&a x",
    "*a",
    "!t x",
    "[a,",
    "x,y",
    "'it''s'",
    "\"a\\\"\"",
    "\"\\n\\x41\\u00e9\\/\"",
    "\"\\q\"",
    "- x",
    "? x",
    "@x",
    "%x",
    "{a: }",
    "[a: b]",
];

/// A random block node at indentation `ind`, written after a key or `-` (the
/// caller has written that already, without a newline).
fn node(r: &mut Rng, ind: usize, depth: usize, out: &mut String) {
    let pad = |n: usize| " ".repeat(n);
    match r.next() % 10 {
        0..=4 => {
            out.push(' ');
            out.push_str(r.pick(SCALARS));
            out.push('\n');
        }
        5 if depth < 5 => {
            // A mapping below.
            out.push_str(if r.chance(20) { "  # c\n" } else { "\n" });
            let n = ind + 1 + (r.next() % 3) as usize;
            for _ in 0..1 + r.next() % 3 {
                out.push_str(&pad(n));
                out.push_str(r.pick(KEYS));
                out.push(':');
                node(r, n, depth + 1, out);
            }
        }
        6 if depth < 5 => {
            // A sequence below, indented or at the key's indentation.
            out.push('\n');
            let n = if r.chance(50) { ind } else { ind + 1 + (r.next() % 3) as usize };
            for _ in 0..1 + r.next() % 3 {
                out.push_str(&pad(n));
                out.push('-');
                if r.chance(40) {
                    // A compact mapping.
                    out.push_str(&pad(1 + (r.next() % 2) as usize));
                    let k = n + 1 + (out.len() - out.rfind('-').unwrap_or(0) - 1);
                    for i in 0..1 + r.next() % 3 {
                        if i > 0 {
                            out.push_str(&pad(k));
                        }
                        out.push_str(r.pick(KEYS));
                        out.push(':');
                        node(r, k, depth + 1, out);
                    }
                } else {
                    node(r, n, depth + 1, out);
                }
            }
        }
        7 if r.chance(30) => out.push_str(if r.chance(50) { "\n\n" } else { "\n# comment\n" }),
        7 if r.chance(40) => {
            // A flow collection over several lines, indented deeper than its block
            // or not.
            let (open, close) = if r.chance(50) { ("[", "]") } else { ("{", "}") };
            out.push(' ');
            out.push_str(open);
            let items = 1 + r.next() % 3;
            for k in 0..items {
                if r.chance(60) {
                    out.push_str(if r.chance(20) { " # c\n" } else { "\n" });
                    let deeper = if r.chance(85) { 1 } else { 0 };
                    out.push_str(&pad(ind + deeper + (r.next() % 3) as usize));
                }
                if open == "{" {
                    out.push_str(r.pick(&["a", "'b'", "\"c\"", "d e"]));
                    out.push_str(": ");
                }
                out.push_str(
                    r.pick(&["x", "1", "'q'", "\"d\"", "[y, z]", "{k: v}", "a b", "true", "x y", "- x", "x:y"]),
                );
                if k + 1 < items {
                    out.push(',');
                }
            }
            if r.chance(50) {
                out.push('\n');
                let deeper = if r.chance(85) { 1 } else { 0 };
                out.push_str(&pad(ind + deeper + (r.next() % 2) as usize));
            }
            out.push_str(close);
            out.push('\n');
        }
        7 => {
            // A block scalar, sometimes with the shapes left to yaml-rust2.
            out.push(' ');
            out.push_str(r.pick(&["|", ">", "|-", ">-", "|+", ">+", "|2", "| # c"]));
            out.push('\n');
            let n = ind + 1 + (r.next() % 3) as usize;
            for _ in 0..1 + r.next() % 4 {
                let line = r.pick(&["x", "two words", "# hash", "", "   ", "  deeper", "- dash", "k: v"]);
                if !line.trim().is_empty() {
                    out.push_str(&pad(n));
                }
                out.push_str(line);
                out.push('\n');
            }
        }
        8 => {
            out.push_str(" # only a comment\n");
            if r.chance(30) {
                out.push_str(&pad(ind + 2));
                out.push_str("continued\n");
            }
        }
        _ => out.push('\n'),
    }
}

#[test]
fn generated_texts() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, total) = (0, 20_000);
    let (mut blocks, mut crlf, mut flows) = (0, 0, 0);
    for case in 0..total {
        let mut text = String::new();
        for d in 0..1 + r.next() % 3 {
            if d > 0 || r.chance(20) {
                text.push_str(r.pick(&["---\n", "--- # doc\n", "---\n\n"]));
            }
            if r.chance(10) {
                continue;
            }
            let ind = if r.chance(10) { 2 } else { 0 };
            for _ in 0..1 + r.next() % 4 {
                if r.chance(15) {
                    text.push_str(&" ".repeat(ind));
                    text.push('-');
                    node(&mut r, ind, 1, &mut text);
                    break;
                }
                text.push_str(&" ".repeat(ind));
                text.push_str(r.pick(KEYS));
                text.push(':');
                node(&mut r, ind, 1, &mut text);
            }
        }
        if r.chance(10) {
            text.pop();
        }
        if r.chance(10) {
            text = text.replace('\n', "\r\n");
        }
        if same(&text, &format!("case {case}")) {
            accepted += 1;
            blocks += usize::from(text.contains(": |") || text.contains(": >") || text.contains("- |"));
            crlf += usize::from(text.contains('\r'));
            flows += usize::from(text.contains("[\n") || text.contains("{\n") || text.contains(",\n"));
        }
    }
    // Enough of them are in the subset for the comparison to mean something.
    assert!(accepted * 6 > total, "{accepted} of {total} accepted");
    assert!(
        blocks > 150 && crlf > 200 && flows > 80,
        "accepted: {blocks} with block scalars, {crlf} with CRLF, {flows} with flow collections over lines"
    );
    eprintln!(
        "generated: {accepted} of {total} in the subset ({blocks} with block scalars, {crlf} with CRLF, \
         {flows} with flow collections over lines)"
    );
}
