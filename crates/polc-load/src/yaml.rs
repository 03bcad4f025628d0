//! Multi-document YAML to JSON values with positions, within limits.

use crate::scalar::{Resolved, parse_int, resolve_plain};
use crate::{FieldPath, LoadError, LoadErrorKind, PathSeg, Span, SpanTree};
use serde_json::{Map, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Bounds on what one file may make the loader do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest file read, in bytes.
    pub max_file_bytes: u64,
    /// Deepest nesting of mappings and sequences.
    pub max_depth: usize,
    /// Most nodes one document may have after alias expansion.
    pub max_nodes: usize,
}

impl Default for Limits {
    /// 16 MiB files (Kubernetes objects are at most 1.5 MiB in etcd), 128 levels,
    /// 1,000,000 nodes per document.
    fn default() -> Self {
        Limits { max_file_bytes: 16 << 20, max_depth: 128, max_nodes: 1_000_000 }
    }
}

/// One YAML document: its value and where each part of it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// 0-based index of the document in its file (empty documents count).
    pub index: usize,
    /// The value, as Kubernetes would see it in JSON.
    pub value: Value,
    /// Positions, shaped like `value`.
    pub spans: SpanTree,
}

/// A finished entry of an open mapping or sequence (`key` is empty in sequences).
struct Entry {
    key: String,
    value: Value,
    tree: SpanTree,
}

/// Mappings with more keys than this get a hash index for the duplicate-key check;
/// smaller ones (nearly all) are scanned.
const SCAN_MAX: usize = 16;

type KeyIndex = HashMap<String, usize, foldhash::fast::FixedState>;

enum Frame {
    Map {
        /// Where the mapping's entries start in [`Builder::entries`].
        start: usize,
        at: Span,
        anchor: usize,
        pending: Option<(String, Span, bool)>,
        merges: Vec<(Value, SpanTree)>,
        /// Nodes below the mapping so far (its values' trees; keys are not nodes of
        /// the tree), so that its size is known without walking it.
        nodes: usize,
        /// Key to entry offset, once the mapping has more than [`SCAN_MAX`] keys.
        index: Option<KeyIndex>,
    },
    Seq {
        /// Where the sequence's items start in [`Builder::entries`].
        start: usize,
        at: Span,
        anchor: usize,
        /// Nodes below the sequence so far.
        nodes: usize,
    },
}

impl Frame {
    fn start(&self) -> usize {
        match self {
            Frame::Map { start, .. } | Frame::Seq { start, .. } => *start,
        }
    }
}

pub(crate) struct Builder<'l> {
    limits: &'l Limits,
    stack: Vec<Frame>,
    /// The finished entries of every open collection, innermost last: one buffer
    /// reused for the whole file, so that building a collection never grows a vector
    /// of its own; each is moved out at its end into containers of the exact size.
    entries: Vec<Entry>,
    anchors: HashMap<usize, (Value, SpanTree, usize)>,
    nodes: usize,
    pub(crate) root: Option<(Value, SpanTree)>,
}

fn span_of(m: &Marker) -> Span {
    Span {
        line: u32::try_from(m.line()).unwrap_or(u32::MAX),
        col: u32::try_from(m.col().saturating_add(1)).unwrap_or(u32::MAX),
    }
}

fn tag_text(t: &Tag) -> String {
    format!("{}{}", t.handle, t.suffix)
}

impl<'l> Builder<'l> {
    pub(crate) fn new(limits: &'l Limits) -> Self {
        Builder { limits, stack: Vec::new(), entries: Vec::new(), anchors: HashMap::new(), nodes: 0, root: None }
    }

    pub(crate) fn reset(&mut self) {
        self.stack.clear();
        self.entries.clear();
        self.anchors.clear();
        self.nodes = 0;
        self.root = None;
    }

    /// The field path of the node being built.
    fn path(&self) -> FieldPath {
        let mut segs = Vec::with_capacity(self.stack.len());
        for (i, f) in self.stack.iter().enumerate() {
            match f {
                Frame::Map { pending: Some((k, _, _)), .. } => segs.push(PathSeg::Key(k.clone())),
                Frame::Map { .. } => {}
                Frame::Seq { start, .. } => {
                    // The items finished so far end where the next open collection starts.
                    let end = self.stack.get(i + 1).map_or(self.entries.len(), Frame::start);
                    segs.push(PathSeg::Index(end - start));
                }
            }
        }
        FieldPath(segs)
    }

    fn err(&self, span: Span, kind: LoadErrorKind) -> LoadError {
        LoadError { span: Some(span), field: self.path(), kind }
    }

    fn count(&mut self, n: usize, at: Span) -> Result<(), LoadError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.limits.max_nodes {
            return Err(self.err(at, LoadErrorKind::AliasBomb { max: self.limits.max_nodes }));
        }
        Ok(())
    }

    fn push(&mut self, frame: Frame, at: Span) -> Result<(), LoadError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(self.err(at, LoadErrorKind::TooDeep { max: self.limits.max_depth }));
        }
        self.count(1, at)?;
        self.stack.push(frame);
        Ok(())
    }

    /// Is the next scalar a mapping key?
    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { pending: None, .. }))
    }

    pub(crate) fn scalar(
        &mut self,
        text: String,
        style: TScalarStyle,
        anchor: usize,
        tag: Option<Tag>,
        at: Span,
    ) -> Result<(), LoadError> {
        if self.expecting_key() {
            self.count(1, at)?;
            let plain = style == TScalarStyle::Plain;
            if let Some(Frame::Map { pending, at: map_at, start, index, .. }) = self.stack.last_mut() {
                // Every earlier key of this mapping is an entry by now (a key's value is
                // finished before the next key starts); the mapping is the innermost
                // open collection, so its entries run to the end.
                let earlier = &self.entries[*start..];
                // A block mapping's start event is reported at its first key's `:`; the
                // mapping starts at the key. (Keys come in source order, so only the
                // first can be before it.)
                if earlier.is_empty() && at < *map_at {
                    *map_at = at;
                }
                let first = match index {
                    Some(index) => index.get(&text).copied(),
                    None => earlier.iter().position(|e| e.key == text),
                };
                if !(plain && text == "<<")
                    && let Some(first_line) = first.map(|i| earlier[i].tree.key.map_or(0, |k| k.line))
                {
                    let kind = LoadErrorKind::DuplicateKey { key: text.clone(), first_line };
                    let mut e = self.err(at, kind);
                    e.field.0.push(PathSeg::Key(text));
                    return Err(e);
                }
                *pending = Some((text, at, plain));
            }
            return Ok(());
        }
        let value = self.scalar_value(text, style, tag, at)?;
        self.count(1, at)?;
        let tree = SpanTree { at, key: None, children: Vec::new() };
        self.finish(value, tree, anchor, 1)
    }

    fn scalar_value(&self, text: String, style: TScalarStyle, tag: Option<Tag>, at: Span) -> Result<Value, LoadError> {
        if let Some(tag) = tag {
            let t = tag_text(&tag);
            return match t.as_str() {
                "tag:yaml.org,2002:str" | "!!str" => Ok(Value::String(text)),
                "tag:yaml.org,2002:int" | "!!int" => parse_int(&text)
                    .map(Value::Number)
                    .ok_or_else(|| self.err(at, LoadErrorKind::BadTaggedScalar { text, tag: "int" })),
                "tag:yaml.org,2002:bool" | "!!bool" => match resolve_plain(&text) {
                    Resolved::Value(v @ Value::Bool(_)) => Ok(v),
                    _ => Err(self.err(at, LoadErrorKind::BadTaggedScalar { text, tag: "bool" })),
                },
                "tag:yaml.org,2002:float" | "!!float" => match resolve_plain(&text) {
                    Resolved::Value(v @ Value::Number(_)) => Ok(v),
                    Resolved::NotJson => Err(self.err(at, LoadErrorKind::NotJson { text })),
                    _ => Err(self.err(at, LoadErrorKind::BadTaggedScalar { text, tag: "float" })),
                },
                "tag:yaml.org,2002:null" | "!!null" => Ok(Value::Null),
                "!" => Ok(Value::String(text)),
                _ => Err(self.err(at, LoadErrorKind::UnsupportedTag { tag: t })),
            };
        }
        if style != TScalarStyle::Plain {
            return Ok(Value::String(text));
        }
        match resolve_plain(&text) {
            Resolved::Value(v) => Ok(v),
            Resolved::NotJson => Err(self.err(at, LoadErrorKind::NotJson { text })),
        }
    }

    fn check_tag(&self, tag: Option<&Tag>, want: &[&str], at: Span) -> Result<(), LoadError> {
        match tag {
            Some(t) => {
                let text = tag_text(t);
                if want.contains(&text.as_str()) {
                    Ok(())
                } else {
                    Err(self.err(at, LoadErrorKind::UnsupportedTag { tag: text }))
                }
            }
            None => Ok(()),
        }
    }

    pub(crate) fn start_map(&mut self, anchor: usize, tag: Option<Tag>, at: Span) -> Result<(), LoadError> {
        self.check_key_position(at, "mapping")?;
        self.check_tag(tag.as_ref(), &["!!map", "tag:yaml.org,2002:map"], at)?;
        let start = self.entries.len();
        let frame = Frame::Map { start, at, anchor, pending: None, merges: Vec::new(), nodes: 0, index: None };
        self.push(frame, at)
    }

    pub(crate) fn start_seq(&mut self, anchor: usize, tag: Option<Tag>, at: Span) -> Result<(), LoadError> {
        self.check_key_position(at, "sequence")?;
        self.check_tag(tag.as_ref(), &["!!seq", "tag:yaml.org,2002:seq"], at)?;
        self.push(Frame::Seq { start: self.entries.len(), at, anchor, nodes: 0 }, at)
    }

    fn check_key_position(&self, at: Span, found: &'static str) -> Result<(), LoadError> {
        if self.expecting_key() {
            return Err(self.err(at, LoadErrorKind::ComplexKey { found }));
        }
        Ok(())
    }

    pub(crate) fn end(&mut self) -> Result<(), LoadError> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        match frame {
            Frame::Map { start, at, anchor, merges, mut nodes, .. } => {
                let n = self.entries.len() - start;
                let mut map = Map::with_capacity(n);
                let mut spans = Vec::with_capacity(n);
                for e in self.entries.drain(start..) {
                    map.insert(e.key, e.value);
                    spans.push(e.tree);
                }
                for (mv, mt) in merges {
                    let Value::Object(src) = mv else { continue };
                    for ((k, v), t) in src.into_iter().zip(mt.children) {
                        if !map.contains_key(&k) {
                            map.insert(k, v);
                            nodes += t.len();
                            spans.push(t);
                        }
                    }
                }
                self.finish(Value::Object(map), SpanTree { at, key: None, children: spans }, anchor, 1 + nodes)
            }
            Frame::Seq { start, at, anchor, nodes } => {
                let (items, spans): (Vec<Value>, Vec<SpanTree>) =
                    self.entries.drain(start..).map(|e| (e.value, e.tree)).unzip();
                self.finish(Value::Array(items), SpanTree { at, key: None, children: spans }, anchor, 1 + nodes)
            }
        }
    }

    fn alias(&mut self, id: usize, at: Span) -> Result<(), LoadError> {
        if self.expecting_key() {
            return Err(self.err(at, LoadErrorKind::ComplexKey { found: "alias" }));
        }
        let Some(n) = self.anchors.get(&id).map(|a| a.2) else {
            return Err(self.err(at, LoadErrorKind::UnknownAnchor));
        };
        // Count before cloning, so that a bomb is refused before it is built.
        self.count(n, at)?;
        let Some((v, t, _)) = self.anchors.get(&id) else {
            return Ok(());
        };
        let (v, mut t) = (v.clone(), t.clone());
        t.at = at;
        self.finish(v, t, 0, n)
    }

    /// Put a finished node (`n` nodes in all: `tree.len()`) where it belongs.
    fn finish(&mut self, value: Value, tree: SpanTree, anchor: usize, n: usize) -> Result<(), LoadError> {
        debug_assert_eq!(n, tree.len(), "node counts kept while building agree with the tree");
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), tree.clone(), n));
        }
        let merge_err = LoadErrorKind::BadMerge;
        match self.stack.last_mut() {
            None => {
                self.root = Some((value, tree));
                Ok(())
            }
            Some(Frame::Seq { nodes, .. }) => {
                self.entries.push(Entry { key: String::new(), value, tree });
                *nodes += n;
                Ok(())
            }
            Some(Frame::Map { start, pending, merges, nodes, index, .. }) => {
                let Some((key, key_at, plain)) = pending.take() else {
                    return Ok(());
                };
                if plain && key == "<<" {
                    match value {
                        Value::Object(_) => merges.push((value, tree)),
                        Value::Array(items) if items.iter().all(Value::is_object) => {
                            merges.extend(items.into_iter().zip(tree.children));
                        }
                        _ => {
                            return Err(LoadError { span: Some(key_at), field: self.path(), kind: merge_err });
                        }
                    }
                    return Ok(());
                }
                let offset = self.entries.len() - *start;
                if let Some(index) = index {
                    index.insert(key.clone(), offset);
                } else if offset == SCAN_MAX {
                    let mut ix =
                        KeyIndex::with_capacity_and_hasher(2 * SCAN_MAX, foldhash::fast::FixedState::default());
                    ix.extend(self.entries[*start..].iter().enumerate().map(|(i, e)| (e.key.clone(), i)));
                    ix.insert(key.clone(), offset);
                    *index = Some(ix);
                }
                self.entries.push(Entry { key, value, tree: SpanTree { key: Some(key_at), ..tree } });
                *nodes += n;
                Ok(())
            }
        }
    }
}

/// Parse every document of `text`. Empty documents are skipped (as kubectl does).
/// Returns the documents that parsed and one error per document that did not; a
/// syntax error ends the stream, since YAML cannot be resynchronised after one.
///
/// Files in the block-YAML subset that repositories are written in are parsed by
/// the fast path (`fast.rs`); anything else, and every file with an error, by
/// yaml-rust2. Both give the same documents and positions.
pub fn parse_documents(text: &str, limits: &Limits) -> (Vec<Document>, Vec<LoadError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(docs) = crate::fast::parse(text, limits) {
        return (docs, Vec::new());
    }
    parse_yaml_rust2(text, limits)
}

/// The fast path alone: `None` when the text is outside its subset or has an error.
/// For tests, benchmarks and the fuzz target, which compare it with
/// [`parse_documents_yaml_rust2`].
#[doc(hidden)]
pub fn parse_documents_fast(text: &str, limits: &Limits) -> Option<Vec<Document>> {
    crate::fast::parse(text.strip_prefix('\u{feff}').unwrap_or(text), limits)
}

/// [`parse_documents`] through yaml-rust2 only, whatever the text.
#[doc(hidden)]
pub fn parse_documents_yaml_rust2(text: &str, limits: &Limits) -> (Vec<Document>, Vec<LoadError>) {
    parse_yaml_rust2(text.strip_prefix('\u{feff}').unwrap_or(text), limits)
}

/// The yaml-rust2 path over a text whose byte-order mark is already stripped.
fn parse_yaml_rust2(text: &str, limits: &Limits) -> (Vec<Document>, Vec<LoadError>) {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    let mut b = Builder::new(limits);
    let mut index = 0usize;
    let mut skipping = false;
    loop {
        let (ev, mark) = match parser.next_token() {
            Ok(x) => x,
            Err(e) => {
                let m = e.marker();
                // The scanner has its own nesting limit for flow collections (256).
                let kind = if e.info().contains("recursion limit exceeded") {
                    LoadErrorKind::TooDeep { max: limits.max_depth.min(256) }
                } else {
                    LoadErrorKind::Syntax { message: e.info().to_string() }
                };
                let mut err = b.err(span_of(m), kind);
                if b.stack.is_empty() {
                    err.field = FieldPath::root();
                }
                errors.push(err);
                break;
            }
        };
        let at = span_of(&mark);
        let step = match ev {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing => Ok(()),
            Event::DocumentStart => {
                b.reset();
                skipping = false;
                Ok(())
            }
            Event::DocumentEnd => {
                if let Some((value, spans)) = b.root.take()
                    && !skipping
                    && !value.is_null()
                {
                    docs.push(Document { index, value, spans });
                }
                index += 1;
                Ok(())
            }
            _ if skipping => Ok(()),
            Event::Alias(id) => b.alias(id, at),
            Event::Scalar(s, style, anchor, tag) => b.scalar(s, style, anchor, tag, at),
            Event::SequenceStart(anchor, tag) => b.start_seq(anchor, tag, at),
            Event::MappingStart(anchor, tag) => b.start_map(anchor, tag, at),
            Event::SequenceEnd | Event::MappingEnd => b.end(),
        };
        if let Err(e) = step {
            errors.push(e);
            b.stack.clear();
            b.entries.clear();
            b.anchors.clear();
            skipping = true;
        }
    }
    (docs, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> (Vec<Document>, Vec<LoadError>) {
        parse_documents(s, &Limits::default())
    }

    #[test]
    fn values_and_positions() {
        let (docs, errs) = parse("a: 1\nb:\n  - x\n  - {c: true}\n---\n---\nname: two\n");
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value, json!({"a": 1, "b": ["x", {"c": true}]}));
        assert_eq!(docs[1].index, 2);
        let path = FieldPath::from_pointer("/b/1/c");
        let d = &docs[0];
        assert_eq!(d.spans.field_span(&d.value, path.segs()), Span { line: 4, col: 6 });
        assert_eq!(d.spans.value_span(&d.value, path.segs()), Span { line: 4, col: 9 });
        assert_eq!(d.spans.field_span(&d.value, FieldPath::from_pointer("/b").segs()), Span { line: 2, col: 1 });
    }

    #[test]
    fn duplicate_keys_are_errors_with_both_lines() {
        let (docs, errs) = parse("spec:\n  mode: Enforce\n  mode: DryRun\n---\nok: 1\n");
        assert_eq!(docs.len(), 1, "the next document still loads");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].kind, LoadErrorKind::DuplicateKey { key: "mode".into(), first_line: 2 });
        assert_eq!(errs[0].span, Some(Span { line: 3, col: 3 }));
        assert_eq!(errs[0].field.to_string(), "spec.mode");
    }

    #[test]
    fn duplicate_keys_in_large_mappings_and_nested_paths() {
        // Past SCAN_MAX keys the check uses an index: duplicates of keys made before
        // and after it was built are both found, with the first key's line.
        let keys: String = (0..40).map(|i| format!("  k{i}: {i}\n")).collect();
        for (dup, first_line) in [("k3", 6), ("k39", 42)] {
            let text = format!("kind: x\nspec:\n{keys}  {dup}: again\n");
            let (docs, errs) = parse(&text);
            assert!(docs.is_empty());
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert_eq!(errs[0].kind, LoadErrorKind::DuplicateKey { key: dup.into(), first_line });
            assert_eq!(errs[0].span, Some(Span { line: 43, col: 3 }));
            assert_eq!(errs[0].field.to_string(), format!("spec.{dup}"));
        }
        let (docs, errs) = parse(&format!("spec:\n{keys}"));
        assert!(errs.is_empty(), "{errs:?}");
        let spec = docs[0].value["spec"].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>());
        assert_eq!(spec, Some((0..40).map(|i| format!("k{i}")).collect()), "keys keep their order");
        // The index of an open sequence counts its finished items only.
        let (_, errs) = parse("a:\n  - x\n  - y\n  - [1, {b: 1, b: 2}]\n");
        assert_eq!(errs[0].field.to_string(), "a[2][1].b");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let (docs, errs) = parse(&s);
        assert!(docs.is_empty());
        assert!(matches!(errs[0].kind, LoadErrorKind::AliasBomb { .. }), "{errs:?}");
    }

    #[test]
    fn aliases_and_merge_keys() {
        let (docs, errs) = parse("base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n");
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(docs[0].value, json!({"base": {"x": 1, "y": 2}, "derived": {"y": 3, "x": 1}}));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = "[".repeat(5000);
        let (_, errs) = parse(&s);
        assert_eq!(errs.len(), 1);
        let limits = Limits { max_depth: 10, ..Limits::default() };
        let deep: String = (0..20).map(|i| format!("{}k:\n", "  ".repeat(i))).collect();
        let (_, errs) = parse_documents(&deep, &limits);
        assert!(matches!(errs[0].kind, LoadErrorKind::TooDeep { max: 10 }), "{errs:?}");
    }

    #[test]
    fn syntax_errors_name_line_and_field() {
        let (_, errs) = parse("spec:\n  process:\n    - paths: [/bin/sh\n  mode: x\n");
        assert_eq!(errs.len(), 1);
        assert!(matches!(errs[0].kind, LoadErrorKind::Syntax { .. }));
        assert!(errs[0].span.is_some_and(|s| s.line >= 3), "{errs:?}");
        assert!(errs[0].field.to_string().starts_with("spec.process[0]"), "{}", errs[0].field);
    }

    #[test]
    fn tags_and_special_scalars() {
        let (docs, errs) = parse("a: !!str 1\nb: '2'\nc: !!int 0x10\n");
        assert!(errs.is_empty());
        assert_eq!(docs[0].value, json!({"a": "1", "b": "2", "c": 16}));
        let (_, errs) = parse("a: .inf\n");
        assert!(matches!(errs[0].kind, LoadErrorKind::NotJson { .. }));
        let (_, errs) = parse("a: !custom x\n");
        assert!(matches!(errs[0].kind, LoadErrorKind::UnsupportedTag { .. }));
        let (_, errs) = parse("? [a]\n: b\n");
        assert!(matches!(errs[0].kind, LoadErrorKind::ComplexKey { .. }));
    }

    #[test]
    fn one_byte_order_mark_is_stripped() {
        // Only the first: a second one is the text's own, for the parser to judge.
        let text = "\u{feff}\u{feff}a: 1\n";
        assert_eq!(parse(text), parse_documents_yaml_rust2(text, &Limits::default()));
        let (docs, errs) = parse("\u{feff}a: 1\n");
        assert!(errs.is_empty() && docs.len() == 1, "{errs:?}");
    }

    #[test]
    fn empty_input_has_no_documents() {
        for s in ["", "\n\n", "# only a comment\n", "---\n", "---\n...\n"] {
            let (docs, errs) = parse(s);
            assert!(docs.is_empty() && errs.is_empty(), "{s:?}");
        }
    }
}
