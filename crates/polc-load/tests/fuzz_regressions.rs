//! Inputs from fuzzing the loader (`fuzz/`, `scripts/fuzz.sh`), kept as regression
//! tests: the seed corpus and every interesting input go through the same checks as
//! the fuzz target, so `cargo test` catches what a fuzzing run once found.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use polc_load::{FieldPath, Limits, LoadErrorKind, PathSeg, SourceFile, Span, SpanTree, load_input};
use serde_json::Value;

/// What the fuzz target checks, minus sampling: no panic, spans 1-based and inside
/// the text, a span tree shaped like its value, and every path found.
fn check(data: &[u8]) -> SourceFile {
    let file = load_input("fuzz.yaml".into(), data, &Limits::default());
    let breaks = data
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && data.get(i + 1) != Some(&b'\n')))
        .count();
    let max_line = u32::try_from(breaks + 2).unwrap();
    let in_text = |s: Span| s.line >= 1 && s.col >= 1 && s.line <= max_line;
    for e in &file.errors {
        let _ = e.kind.to_string();
        assert!(e.span.is_none_or(in_text), "{e:?}");
    }
    for d in &file.documents {
        polc_load::classify(&d.value);
        walk(&d.value, &d.spans, &d.spans, &d.value, &mut Vec::new(), &in_text);
    }
    file
}

fn walk(
    v: &Value,
    t: &SpanTree,
    root: &SpanTree,
    root_value: &Value,
    path: &mut Vec<PathSeg>,
    in_text: &dyn Fn(Span) -> bool,
) {
    assert!(in_text(t.at) && t.key.is_none_or(in_text), "{path:?}");
    let (found, whole) = root.locate(root_value, path);
    assert!(whole && std::ptr::eq(found, t), "{path:?}");
    let children: Vec<(PathSeg, &Value)> = match v {
        Value::Object(m) => m.iter().map(|(k, c)| (PathSeg::Key(k.clone()), c)).collect(),
        Value::Array(a) => a.iter().enumerate().map(|(i, c)| (PathSeg::Index(i), c)).collect(),
        _ => Vec::new(),
    };
    assert_eq!(children.len(), t.children.len(), "{path:?}");
    for ((seg, c), ct) in children.into_iter().zip(&t.children) {
        path.push(seg);
        walk(c, ct, root, root_value, path, in_text);
        path.pop();
    }
}

#[test]
fn seed_corpus_loads_without_panics() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds/loader");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        check(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n >= 10, "seed corpus {dir} has {n} files");
}

/// Found by the fuzzer (as a false alarm of its first version): YAML breaks lines at a
/// lone CR too, and the loader counts lines as YAML does, so positions in files with
/// old Mac line endings match what editors show.
#[test]
fn lone_cr_breaks_lines() {
    let f = check(b"# c\r# c\ra: 1\rb: [x\r");
    assert_eq!(f.errors.len(), 1, "{:?}", f.errors);
    assert!(matches!(f.errors[0].kind, LoadErrorKind::Syntax { .. }));
    assert_eq!(f.errors[0].span.map(|s| s.line), Some(5));
    let f = check(b"a: 1\rb:\r  c: 2\r");
    let d = &f.documents[0];
    let p = FieldPath::from_pointer("/b/c");
    assert_eq!(d.spans.field_span(&d.value, p.segs()), Span { line: 3, col: 3 });
}

#[test]
fn hostile_inputs_load_without_panics() {
    let cases: &[&[u8]] = &[
        b"",
        b"\xef\xbb\xbf",
        b"\xff",
        b"---\n...\n---\n",
        b"&a [*a]",
        b"a: &a {b: *a}",
        b"<<: *x",
        b"<<: [1, {a: 1}]",
        b"? ? ? a",
        b"- !!binary aGk=",
        b"!!map [1]",
        b"a: !!int 99999999999999999999999999",
        b"a: !!float nan",
        b"%YAML 1.1\n%YAML 1.1\n---\n",
        b"{\"\": 1, \"~\": 2, \"/\": 3, \"~1\": 4}",
        b"\t",
        b"'\r\n\r\n'",
        b"a: |\n\t\n",
    ];
    for c in cases {
        check(c);
    }
    check("[".repeat(100_000).as_bytes());
    check("{a: ".repeat(100_000).as_bytes());
    check("- ".repeat(50_000).as_bytes());
    let block: String = (0..300).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    check(block.as_bytes());
}

/// Bug: `FieldPath::from_pointer` reads a key made of digits (`"80"`) as a sequence
/// index, so `locate` stops at the parent and a finding on that key (an unknown field
/// `"80"`, a label key `"1"`) is reported at the parent mapping, named `spec[80]`.
#[test]

fn digit_key_pointer_locates_the_key() {
    let f = check(b"spec:\n  mode: x\n  \"80\": y\n");
    let d = &f.documents[0];
    let p = FieldPath::from_pointer("/spec/80");
    assert_eq!(d.spans.field_span(&d.value, p.segs()), Span { line: 3, col: 3 });
}

/// Bug: 100,000 `[` are refused by the YAML scanner's own recursion limit (256 flow
/// levels) before the loader's depth limit (128) sees them, so the error is a syntax
/// error (P001) instead of `TooDeep` (P003 limit-exceeded).
#[test]

fn deep_flow_nesting_is_too_deep() {
    let f = check("[".repeat(100_000).as_bytes());
    assert!(matches!(f.errors[0].kind, LoadErrorKind::TooDeep { max: 128 }), "{:?}", f.errors);
}
