//! A model of how `apparmor_parser` reads the paths this backend writes, for tests:
//! escapes as `processunquoted` resolves them, then globs as `convert_aaregex_to_pcre`
//! turns them into a regular expression (including its rule that a `*` or `**`
//! right after `/`, followed by `/` or the end, must match at least one character).

use super::glob::ByteSet;

#[derive(Debug)]
pub(super) enum Node {
    /// One byte of the set.
    Byte(ByteSet),
    /// Any run of bytes of the set.
    Star(ByteSet),
    /// One of the alternatives.
    Alt(Vec<Vec<Node>>),
}

fn one(b: u8) -> ByteSet {
    let mut s = ByteSet::default();
    s.add(b);
    s
}

fn all() -> ByteSet {
    let mut s = ByteSet::segment();
    s.add(b'/');
    s
}

/// Resolve the escapes of a (possibly quoted) path the way the profile lexer does;
/// special characters stay escaped for the glob conversion.
fn unescape(text: &str) -> Vec<u8> {
    let s = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text).as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() {
            let (c, next) = match s[i + 1] {
                b'x' => {
                    let h = std::str::from_utf8(&s[i + 2..(i + 4).min(s.len())]).unwrap_or("");
                    (u8::from_str_radix(h, 16).ok(), i + 4)
                }
                b'\\' => (Some(b'\\'), i + 2),
                b'"' => (Some(b'"'), i + 2),
                b'n' => (Some(b'\n'), i + 2),
                b't' => (Some(b'\t'), i + 2),
                _ => (None, i + 1),
            };
            match c {
                Some(c) if b"*?[]{}^,\\".contains(&c) => out.extend([b'\\', c]),
                Some(c) => out.push(c),
                None => out.push(b'\\'),
            }
            i = next;
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Parse a path as written in a profile.
pub(super) fn parse(text: &str) -> Vec<Node> {
    let s = unescape(text);
    let mut frames: Vec<(Vec<Vec<Node>>, Vec<Node>)> = Vec::new();
    let mut cur: Vec<Node> = Vec::new();
    let mut escape = false;
    let mut after_slash = false;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if escape {
            escape = false;
            after_slash = c == b'/';
            cur.push(Node::Byte(one(c)));
            continue;
        }
        match c {
            b'\\' => {
                escape = true;
                continue;
            }
            b'*' => {
                let mut j = i;
                while s.get(j) == Some(&b'*') {
                    j += 1;
                }
                if after_slash && (j == s.len() || s[j] == b'/') {
                    cur.push(Node::Byte(ByteSet::segment()));
                }
                if s.get(i) == Some(&b'*') {
                    i += 1;
                    cur.push(Node::Star(all()));
                } else {
                    cur.push(Node::Star(ByteSet::segment()));
                }
            }
            b'?' => cur.push(Node::Byte(ByteSet::segment())),
            b'[' => {
                let negate = s.get(i) == Some(&b'^');
                if negate {
                    i += 1;
                }
                let mut items = Vec::new();
                while i < s.len() && s[i] != b']' {
                    if s[i] == b'\\' && i + 1 < s.len() {
                        i += 1;
                    }
                    items.push(s[i]);
                    i += 1;
                }
                i += 1;
                let mut set = ByteSet::default();
                let mut k = 0;
                while k < items.len() {
                    if k + 2 < items.len() && items[k + 1] == b'-' {
                        for b in items[k]..=items[k + 2] {
                            set.add(b);
                        }
                        k += 3;
                    } else {
                        set.add(items[k]);
                        k += 1;
                    }
                }
                if negate {
                    let mut n = all();
                    for b in 0..=255u8 {
                        if set.has(b) {
                            n = remove(n, b);
                        }
                    }
                    set = n;
                }
                cur.push(Node::Byte(set));
            }
            b'{' => frames.push((Vec::new(), std::mem::take(&mut cur))),
            b',' if !frames.is_empty() => {
                if let Some(f) = frames.last_mut() {
                    f.0.push(std::mem::take(&mut cur));
                }
            }
            b'}' if !frames.is_empty() => {
                if let Some((mut alts, before)) = frames.pop() {
                    alts.push(std::mem::replace(&mut cur, before));
                    cur.push(Node::Alt(alts));
                }
            }
            c => {
                cur.push(Node::Byte(one(c)));
                after_slash = c == b'/';
                continue;
            }
        }
        after_slash = false;
    }
    cur
}

fn remove(mut s: ByteSet, b: u8) -> ByteSet {
    let mut n = ByteSet::default();
    for x in 0..=255u8 {
        if s.has(x) && x != b {
            n.add(x);
        }
    }
    s = n;
    s
}

/// Does the pattern match the whole path?
pub(super) fn matches(nodes: &[Node], path: &str) -> bool {
    go(&[nodes], path.as_bytes(), 0)
}

fn go(seqs: &[&[Node]], s: &[u8], i: usize) -> bool {
    let Some((first, rest)) = seqs.split_first() else { return i == s.len() };
    let Some((n, tail)) = first.split_first() else { return go(rest, s, i) };
    fn with<'a>(head: &[&'a [Node]], rest: &[&'a [Node]]) -> Vec<&'a [Node]> {
        head.iter().copied().chain(rest.iter().copied()).collect()
    }
    match n {
        Node::Byte(set) => i < s.len() && set.has(s[i]) && go(&with(&[tail], rest), s, i + 1),
        Node::Star(set) => {
            let mut j = i;
            loop {
                if go(&with(&[tail], rest), s, j) {
                    return true;
                }
                if j < s.len() && set.has(s[j]) {
                    j += 1;
                } else {
                    return false;
                }
            }
        }
        Node::Alt(alts) => alts.iter().any(|a| go(&with(&[a.as_slice(), tail], rest), s, i)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pat: &str, path: &str) -> bool {
        matches(&parse(pat), path)
    }

    #[test]
    fn the_parsers_glob_rules() {
        assert!(m("/usr/bin/*", "/usr/bin/sh"));
        assert!(!m("/usr/bin/*", "/usr/bin/"));
        assert!(m("/usr/bin/*sh", "/usr/bin/sh"));
        assert!(!m("/a/**/b", "/a/b"));
        assert!(m("/a/{,**/}b", "/a/b"));
        assert!(m("/a/{,**/}b", "/a/x/y/b"));
        assert!(m("/{,**}", "/"));
        assert!(m("/{,**}", "/a/b"));
        assert!(m("/x/[^a/]", "/x/b"));
        assert!(!m("/x/[^a/]", "/x/a"));
        assert!(m("\"/a/\\{b\\}\"", "/a/{b}"));
        assert!(m("\"/a/x\\x0ay\"", "/a/x\ny"));
        assert!(m("/c/{a,-}", "/c/-"));
    }
}
