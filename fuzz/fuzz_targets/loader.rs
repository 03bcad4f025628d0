//! Fuzz the loader: arbitrary bytes through `load_input`, then `classify` and the span
//! lookups on every document. Nothing may panic, and the span tree must have the
//! shape of the value it describes, so that every field a check can name has a
//! position. Whenever the fast YAML path accepts the text, its documents must be
//! exactly those of the yaml-rust2 path (values, positions, indices).

#![no_main]

use libfuzzer_sys::fuzz_target;
use polc_load::{
    FieldPath, Limits, PathSeg, SourceFile, Span, SpanTree, classify, load_input, parse_documents_fast,
    parse_documents_yaml_rust2,
};
use serde_json::Value;

/// Paths looked up per document; lookups are linear in the width of each level, so
/// an alias-expanded document of a million nodes is sampled, not walked whole.
const MAX_PATHS: usize = 4096;

fuzz_target!(|data: &[u8]| {
    check_file(&load_input("fuzz.yaml".into(), data, &Limits::default()), data);
    // Tight limits reach the limit errors from small inputs, at every depth.
    let tight = Limits { max_file_bytes: 2048, max_depth: 6, max_nodes: 64 };
    check_file(&load_input("fuzz.yaml".into(), data, &tight), data);
    if let Ok(text) = std::str::from_utf8(data) {
        same_as_yaml_rust2(text, &Limits::default());
        same_as_yaml_rust2(text, &tight);
    }
});

/// The fast path either declines or gives what yaml-rust2 gives, with no errors.
fn same_as_yaml_rust2(text: &str, limits: &Limits) {
    let Some(fast) = parse_documents_fast(text, limits) else {
        return;
    };
    let (slow, errors) = parse_documents_yaml_rust2(text, limits);
    assert!(errors.is_empty(), "the fast path accepted a text yaml-rust2 refuses: {errors:?}");
    assert_eq!(fast, slow, "the fast path and yaml-rust2 disagree");
}

fn check_file(file: &SourceFile, data: &[u8]) {
    // YAML breaks lines at LF, CRLF and a lone CR; errors at the end of the input
    // point one line past the last.
    let breaks = data
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && data.get(i + 1) != Some(&b'\n')))
        .count();
    let max_line = breaks + 2;
    for e in &file.errors {
        let _ = e.kind.to_string();
        let _ = e.field.to_string();
        if let Some(s) = e.span {
            check_span(s, max_line, "error", &e.kind);
        }
    }
    if !file.errors.is_empty() && file.text.is_empty() {
        assert!(file.documents.is_empty());
    }
    for doc in &file.documents {
        assert!(!doc.value.is_null(), "null documents are skipped");
        let _ = classify(&doc.value);
        assert_eq!(doc.spans.len(), count(&doc.value), "span tree size");
        let mut paths = Vec::new();
        walk(&doc.value, &doc.spans, &mut Vec::new(), &mut paths, max_line);
        for (segs, node) in paths {
            check_lookup(&doc.value, &doc.spans, &segs, node);
        }
    }
}

fn check_span(s: Span, max_line: usize, what: &str, ctx: &dyn std::fmt::Debug) {
    assert!(s.line >= 1 && s.col >= 1, "{what} span {s:?} is not 1-based: {ctx:?}");
    assert!((s.line as usize) <= max_line, "{what} span {s:?} is past the end ({max_line} lines): {ctx:?}");
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Object(m) => m.values().map(count).sum(),
        Value::Array(a) => a.iter().map(count).sum(),
        _ => 0,
    }
}

/// Check that `tree` has the shape of `v` and collect paths to its nodes.
fn walk<'t>(
    v: &Value,
    tree: &'t SpanTree,
    path: &mut Vec<PathSeg>,
    out: &mut Vec<(Vec<PathSeg>, &'t SpanTree)>,
    max_line: usize,
) {
    if out.len() >= MAX_PATHS {
        return;
    }
    check_span(tree.at, max_line, "value", &path);
    if let Some(k) = tree.key {
        check_span(k, max_line, "key", &path);
    }
    out.push((path.clone(), tree));
    match v {
        Value::Object(m) => {
            assert_eq!(m.len(), tree.children.len(), "children of {path:?}");
            for ((k, child), t) in m.iter().zip(&tree.children) {
                assert!(t.key.is_some(), "mapping entry {path:?}/{k} has no key span");
                path.push(PathSeg::Key(k.clone()));
                walk(child, t, path, out, max_line);
                path.pop();
            }
        }
        Value::Array(a) => {
            assert_eq!(a.len(), tree.children.len(), "items of {path:?}");
            for (i, (child, t)) in a.iter().zip(&tree.children).enumerate() {
                path.push(PathSeg::Index(i));
                walk(child, t, path, out, max_line);
                path.pop();
            }
        }
        _ => assert!(tree.children.is_empty(), "scalar {path:?} has children"),
    }
}

fn pointer(segs: &[PathSeg]) -> String {
    let mut s = String::new();
    for seg in segs {
        s.push('/');
        match seg {
            PathSeg::Key(k) => s.push_str(&k.replace('~', "~0").replace('/', "~1")),
            PathSeg::Index(i) => s.push_str(&i.to_string()),
        }
    }
    s
}

fn check_lookup(value: &Value, spans: &SpanTree, segs: &[PathSeg], node: &SpanTree) {
    let (found, whole) = spans.locate(value, segs);
    assert!(whole, "path {segs:?} exists in the value but not in the spans");
    assert!(std::ptr::eq(found, node), "path {segs:?} found another node");
    let want_field = node.key.unwrap_or(node.at);
    assert_eq!(spans.field_span(value, segs), want_field);
    assert_eq!(spans.value_span(value, segs), node.at);

    // The way checks name fields: a JSON pointer, as schema errors give them.
    let ptr = pointer(segs);
    assert!(value.pointer(&ptr).is_some(), "serde_json cannot follow {ptr}");
    let parsed = FieldPath::from_pointer(&ptr);
    let _ = parsed.to_string();
    let field = spans.field_span(value, parsed.segs());
    let _ = spans.value_span(value, parsed.segs());
    // A key made of digits reads back as an index (see from_pointer); other pointers
    // must round-trip and find the same field.
    let ambiguous =
        segs.iter().any(|s| matches!(s, PathSeg::Key(k) if k.parse::<usize>().is_ok() && !k.starts_with('+')));
    if !ambiguous {
        assert_eq!(parsed.segs(), segs, "pointer {ptr} does not round-trip");
        assert_eq!(field, want_field, "pointer {ptr} finds another field");
    }
}
