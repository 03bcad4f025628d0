//! Source positions of values, and field paths that lead to them.

use serde_json::Value;
use std::fmt;

/// A position in a source file: 1-based line and column (column in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub col: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Where a value and (for mapping entries) its key were written. Children follow the
/// value's shape: the entries of a mapping in order, the items of a sequence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpanTree {
    /// Position of the value.
    pub at: Span,
    /// Position of the key, for a mapping entry.
    pub key: Option<Span>,
    /// Children, in the order of the value's entries or items.
    pub children: Vec<SpanTree>,
}

impl SpanTree {
    /// Number of nodes in the tree.
    pub fn len(&self) -> usize {
        1 + self.children.iter().map(SpanTree::len).sum::<usize>()
    }

    /// Always false: a tree has at least its root.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The closest recorded node for `path` inside `value`: the node itself when it
    /// exists, else its deepest existing ancestor. Returns the node and whether the
    /// whole path was found.
    pub fn locate<'a>(&'a self, value: &Value, path: &[PathSeg]) -> (&'a SpanTree, bool) {
        let mut node = self;
        let mut v = value;
        for seg in path {
            let next = match (seg, v) {
                (PathSeg::Key(k), Value::Object(m)) => {
                    m.iter().position(|(key, _)| key == k).and_then(|i| Some((node.children.get(i)?, m.get(k)?)))
                }
                (PathSeg::Index(i), Value::Array(a)) => node.children.get(*i).zip(a.get(*i)),
                // A JSON pointer cannot tell index `80` from key "80": in a mapping it is a key.
                (PathSeg::Index(i), Value::Object(m)) => {
                    let k = i.to_string();
                    m.iter().position(|(key, _)| *key == k).and_then(|p| Some((node.children.get(p)?, m.get(&k)?)))
                }
                _ => None,
            };
            match next {
                Some((n, nv)) => {
                    node = n;
                    v = nv;
                }
                None => return (node, false),
            }
        }
        (node, true)
    }

    /// Position of the field at `path`: its key when it is a mapping entry, else its
    /// value; the closest ancestor when the path does not exist.
    pub fn field_span(&self, value: &Value, path: &[PathSeg]) -> Span {
        let (node, _) = self.locate(value, path);
        node.key.unwrap_or(node.at)
    }

    /// Position of the value at `path` (or of its closest ancestor).
    pub fn value_span(&self, value: &Value, path: &[PathSeg]) -> Span {
        self.locate(value, path).0.at
    }
}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSeg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path to a field, printed as `spec.process[0].paths[1]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<PathSeg>);

impl FieldPath {
    /// The empty path (the document root).
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// Parse a JSON pointer (`/spec/process/0`). Numeric segments become indices.
    pub fn from_pointer(pointer: &str) -> Self {
        let segs = pointer
            .split('/')
            .skip(1)
            .map(|s| {
                let s = s.replace("~1", "/").replace("~0", "~");
                match s.parse::<usize>() {
                    Ok(i) if !s.starts_with('+') => PathSeg::Index(i),
                    _ => PathSeg::Key(s),
                }
            })
            .collect();
        FieldPath(segs)
    }

    /// This path extended by a key.
    pub fn key(&self, k: &str) -> Self {
        let mut p = self.clone();
        p.0.push(PathSeg::Key(k.to_string()));
        p
    }

    /// This path extended by an index.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(PathSeg::Index(i));
        p
    }

    /// The segments.
    pub fn segs(&self) -> &[PathSeg] {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Key(k) if i == 0 => write!(f, "{k}")?,
                PathSeg::Key(k) => write!(f, ".{k}")?,
                PathSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// `value.pointer(ptr)` (RFC 6901, as `serde_json::Value::pointer` reads it),
/// without an allocation per segment: segments are unescaped only when they hold a
/// `~`.
pub fn pointer<'v>(value: &'v Value, ptr: &str) -> Option<&'v Value> {
    if ptr.is_empty() {
        return Some(value);
    }
    let rest = ptr.strip_prefix('/')?;
    let mut target = value;
    for seg in rest.split('/') {
        let unescaped;
        let token = if seg.contains('~') {
            unescaped = seg.replace("~1", "/").replace("~0", "~");
            unescaped.as_str()
        } else {
            seg
        };
        target = match target {
            Value::Object(m) => m.get(token)?,
            Value::Array(a) => {
                if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
                    return None;
                }
                a.get(token.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_reads_as_serde_json_does() {
        let v = serde_json::json!({
            "a": {"b": [10, {"c": 1}], "": 2, "x/y": 3, "m~n": 4, "~1": 5, "0": 6},
            "01": 7
        });
        let ptrs = [
            "",
            "/",
            "/a",
            "/a/b",
            "/a/b/0",
            "/a/b/1/c",
            "/a/b/2",
            "/a/b/01",
            "/a/b/+1",
            "/a/b/-1",
            "/a/b/x",
            "/a/",
            "/a/x~1y",
            "/a/m~0n",
            "/a/~01",
            "/a/0",
            "/01",
            "a",
            "/a/b/1/c/d",
            "/a/b/18446744073709551616",
            "/a/~2",
        ];
        for p in ptrs {
            assert_eq!(pointer(&v, p), v.pointer(p), "{p}");
        }
    }

    #[test]
    fn pointer_round_trips_to_display() {
        let p = FieldPath::from_pointer("/spec/process/0/paths/12");
        assert_eq!(p.to_string(), "spec.process[0].paths[12]");
        let p = FieldPath::from_pointer("/metadata/annotations/a~1b");
        assert_eq!(p.to_string(), "metadata.annotations.a/b");
        assert_eq!(FieldPath::root().to_string(), "(document)");
    }
}
