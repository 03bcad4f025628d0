//! polc path matchers as AppArmor globs: parsing into a small pattern form, writing
//! it in AppArmor's syntax with every special character escaped, and deciding
//! whether two patterns can match the same path.
//!
//! How polc globs map (the parser's own conversion, `convert_aaregex_to_pcre`, is
//! the reference; each form below was checked with `apparmor_parser -D rule-exprs`):
//!
//! | polc | AppArmor | note |
//! |---|---|---|
//! | `*` in a segment | `*` | `[^/]*`; a `*` that is a whole segment needs one character in AppArmor, and a resolved path has no empty segments |
//! | `**` as the last segment | `**` | one character or more, any depth |
//! | `**/` inside a path | `{,**/}` | polc's `**` also matches no segment at all: `/a/**/b` matches `/a/b` |
//! | `?` | `?` | |
//! | `[abc]`, `[!a-z]` | a character class over the bytes it matches | `/` is never in a class: a polc class matches within one segment |
//! | literal `*?[]{}^,\` | backslash-escaped | `"` is escaped and forces quotes |
//! | control characters | `\xHH` | |
//!
//! A class is written as `[...]` only over bytes that mean themselves inside an
//! AppArmor class (letters, digits, `._~:@%+=`, control and non-ASCII bytes as
//! `\xHH`); other bytes (`-`, `^`, `]`, `*`, ...) are written as escaped literals in
//! an alternation next to it, because the parser reads `[a-]` as an error, drops the
//! backslash of `\-` (making it a range) and reads a leading `^` as negation.

use crate::pattern::PathMatcher;
use std::collections::BTreeSet;

/// A set of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct ByteSet([u64; 4]);

impl ByteSet {
    pub(crate) fn has(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] >> (b & 63) & 1 == 1
    }

    pub(crate) fn add(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    fn remove(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] &= !(1 << (b & 63));
    }

    /// Every byte a path segment can hold: all but NUL and `/`.
    pub(crate) fn segment() -> ByteSet {
        let mut s = ByteSet([u64::MAX; 4]);
        s.remove(0);
        s.remove(b'/');
        s
    }

    fn intersects(&self, o: &ByteSet) -> bool {
        self.0.iter().zip(o.0.iter()).any(|(a, b)| a & b != 0)
    }

    fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }

    fn len(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    fn bytes(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(|b| self.has(*b))
    }
}

/// One element of a path segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A byte.
    Lit(u8),
    /// `?`: one byte.
    Any,
    /// `*`: any run of bytes.
    Star,
    /// A class: one byte of the set (never `/`).
    Class(ByteSet),
}

/// A path segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    /// `**`: any number of segments.
    DStar,
    /// A segment pattern.
    Toks(Vec<Tok>),
}

/// A path pattern: its segments, the first being the empty one before the leading `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pat {
    segs: Vec<Seg>,
}

fn lits(s: &[u8]) -> Vec<Tok> {
    s.iter().map(|&b| Tok::Lit(b)).collect()
}

/// Parse one glob segment (polc syntax, already validated by the IR).
fn glob_segment(seg: &[u8]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < seg.len() {
        match seg[i] {
            b'*' => out.push(Tok::Star),
            b'?' => out.push(Tok::Any),
            b'[' => {
                if let Some((set, next)) = class(seg, i) {
                    out.push(Tok::Class(set));
                    i = next;
                    continue;
                }
                out.push(Tok::Lit(b'['));
            }
            b => out.push(Tok::Lit(b)),
        }
        i += 1;
    }
    out
}

/// The bytes a polc class starting at `p[i] == b'['` matches within a segment (as
/// `pattern::class_match` decides), and the index after it.
fn class(p: &[u8], i: usize) -> Option<(ByteSet, usize)> {
    let mut j = i + 1;
    let negate = p.get(j) == Some(&b'!');
    if negate {
        j += 1;
    }
    let end = j + p.get(j..)?.iter().position(|&b| b == b']')?;
    let set = &p[j..end];
    let mut hit = ByteSet::default();
    let mut k = 0;
    while k < set.len() {
        if k + 2 < set.len() && set[k + 1] == b'-' {
            for b in set[k]..=set[k + 2] {
                hit.add(b);
            }
            k += 3;
        } else {
            hit.add(set[k]);
            k += 1;
        }
    }
    let mut out = ByteSet::default();
    for b in ByteSet::segment().bytes() {
        if hit.has(b) != negate {
            out.add(b);
        }
    }
    Some((out, end + 1))
}

impl Pat {
    /// The pattern of a path matcher.
    pub(crate) fn of(m: &PathMatcher) -> Pat {
        let (body, tail) = match m {
            PathMatcher::Exact(p) => {
                return Pat { segs: p.as_bytes().split(|&b| b == b'/').map(|s| Seg::Toks(lits(s))).collect() };
            }
            PathMatcher::Dir { path, recursive } => (
                path.strip_suffix('/').unwrap_or(path),
                if *recursive { Seg::DStar } else { Seg::Toks(vec![Tok::Star]) },
            ),
            PathMatcher::Glob(g) => {
                let segs = g
                    .as_bytes()
                    .split(|&b| b == b'/')
                    .map(|s| if s == b"**" { Seg::DStar } else { Seg::Toks(glob_segment(s)) })
                    .collect();
                return Pat { segs };
            }
        };
        let mut segs: Vec<Seg> = body.as_bytes().split(|&b| b == b'/').map(|s| Seg::Toks(lits(s))).collect();
        segs.push(tail);
        Pat { segs }
    }

    /// Any executable file named `name`, in any directory; a name of `max` bytes (the
    /// kernel's `comm` length) also matches longer names it is the start of.
    pub(crate) fn file_named(name: &str, max: usize) -> Pat {
        let mut last = lits(name.as_bytes());
        if name.len() >= max {
            last.push(Tok::Star);
        }
        Pat { segs: vec![Seg::Toks(Vec::new()), Seg::DStar, Seg::Toks(last)] }
    }

    /// Every path (`/` and everything below it).
    pub(crate) fn everything() -> Pat {
        Pat { segs: vec![Seg::Toks(Vec::new()), Seg::DStar] }
    }

    /// The pattern in AppArmor syntax, unquoted; `None` when it can match nothing (a
    /// class with no byte a path can hold).
    pub(crate) fn render(&self) -> Option<String> {
        if self.segs == Pat::everything().segs {
            return Some("/{,**}".into());
        }
        let mut out = String::new();
        let n = self.segs.len();
        let mut sep = false;
        for (i, seg) in self.segs.iter().enumerate() {
            if sep {
                out.push('/');
            }
            match seg {
                Seg::DStar if i + 1 < n => {
                    out.push_str("{,**/}");
                    sep = false;
                }
                Seg::DStar => {
                    out.push_str("**");
                    sep = true;
                }
                Seg::Toks(toks) => {
                    let mut run = Vec::new();
                    for t in toks {
                        if let Tok::Lit(b) = t {
                            run.push(*b);
                            continue;
                        }
                        push_literal(&mut out, &run);
                        run.clear();
                        match t {
                            Tok::Any => out.push('?'),
                            Tok::Star => out.push('*'),
                            Tok::Class(set) => out.push_str(&class_text(set)?),
                            Tok::Lit(_) => {}
                        }
                    }
                    push_literal(&mut out, &run);
                    sep = true;
                }
            }
        }
        Some(out)
    }

    /// Can some path match both patterns? Exact for what polc globs express, except
    /// that empty segments are allowed (so the answer errs towards yes).
    pub(crate) fn intersects(&self, other: &Pat) -> bool {
        let (a, b) = (&self.segs, &other.segs);
        let mut seen = BTreeSet::new();
        let mut todo = vec![(0usize, 0usize)];
        while let Some((i, j)) = todo.pop() {
            if !seen.insert((i, j)) {
                continue;
            }
            if i == a.len() && j == b.len() {
                return true;
            }
            let sa = a.get(i);
            let sb = b.get(j);
            if sa == Some(&Seg::DStar) {
                todo.push((i + 1, j));
            }
            if sb == Some(&Seg::DStar) {
                todo.push((i, j + 1));
            }
            // Both consume one path segment.
            let (Some(sa), Some(sb)) = (sa, sb) else { continue };
            let ni = if *sa == Seg::DStar { i } else { i + 1 };
            let nj = if *sb == Seg::DStar { j } else { j + 1 };
            let ok = match (sa, sb) {
                (Seg::Toks(x), Seg::Toks(y)) => segments_intersect(x, y),
                (Seg::Toks(x), Seg::DStar) | (Seg::DStar, Seg::Toks(x)) => satisfiable(x),
                (Seg::DStar, Seg::DStar) => true,
            };
            if ok && (ni, nj) != (i, j) {
                todo.push((ni, nj));
            }
        }
        false
    }
}

fn tok_set(t: &Tok) -> ByteSet {
    match t {
        Tok::Lit(b) => {
            let mut s = ByteSet::default();
            s.add(*b);
            s
        }
        Tok::Any | Tok::Star => ByteSet::segment(),
        Tok::Class(s) => *s,
    }
}

fn satisfiable(x: &[Tok]) -> bool {
    x.iter().all(|t| !matches!(t, Tok::Class(s) if s.is_empty()))
}

/// Can one segment string match both token lists?
fn segments_intersect(x: &[Tok], y: &[Tok]) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![(0usize, 0usize)];
    while let Some((p, q)) = todo.pop() {
        if !seen.insert((p, q)) {
            continue;
        }
        if p == x.len() && q == y.len() {
            return true;
        }
        let tx = x.get(p);
        let ty = y.get(q);
        if tx == Some(&Tok::Star) {
            todo.push((p + 1, q));
        }
        if ty == Some(&Tok::Star) {
            todo.push((p, q + 1));
        }
        if let (Some(tx), Some(ty)) = (tx, ty)
            && tok_set(tx).intersects(&tok_set(ty))
        {
            let np = if *tx == Tok::Star { p } else { p + 1 };
            let nq = if *ty == Tok::Star { q } else { q + 1 };
            if (np, nq) != (p, q) {
                todo.push((np, nq));
            }
        }
    }
    false
}

/// Append `bytes` as literal AppArmor path text: valid UTF-8 as characters with the
/// glob characters escaped, control characters and stray bytes as `\xHH`.
pub(crate) fn push_literal(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '*' | '?' | '[' | ']' | '{' | '}' | '^' | ',' | '\\' | '"' => {
                    out.push('\\');
                    out.push(c);
                }
                c if c.is_control() && c.is_ascii() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
}

/// Does the byte mean itself inside an AppArmor class (written as itself or `\xHH`)?
fn class_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || !(0x20..0x7f).contains(&b) || b"._~:@%+=".contains(&b)
}

fn class_byte(out: &mut String, b: u8) {
    if b.is_ascii_alphanumeric() {
        out.push(char::from(b));
    } else {
        out.push_str(&format!("\\x{b:02x}"));
    }
}

/// The inside of a class over `set` (all class-safe): runs of three or more as ranges.
fn class_body(set: &ByteSet) -> String {
    let mut out = String::new();
    let bytes: Vec<u8> = set.bytes().collect();
    let mut i = 0;
    while i < bytes.len() {
        let mut j = i;
        while j + 1 < bytes.len() && bytes[j + 1] == bytes[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            class_byte(&mut out, bytes[i]);
            out.push('-');
            class_byte(&mut out, bytes[j]);
        } else {
            for &b in &bytes[i..=j] {
                class_byte(&mut out, b);
            }
        }
        i = j + 1;
    }
    out
}

/// One byte of `set` (never `/` or NUL), in AppArmor syntax; `None` when the set is empty.
pub(crate) fn class_text(set: &ByteSet) -> Option<String> {
    let mut set = *set;
    set.remove(0);
    set.remove(b'/');
    if set.is_empty() {
        return None;
    }
    let mut excluded = ByteSet::segment();
    for b in set.bytes() {
        excluded.remove(b);
    }
    if excluded.len() < set.len() && excluded.bytes().all(class_safe) {
        return Some(if excluded.is_empty() { "?".into() } else { format!("[^{}/]", class_body(&excluded)) });
    }
    let mut safe = ByteSet::default();
    let mut parts = Vec::new();
    for b in set.bytes() {
        if class_safe(b) {
            safe.add(b);
        } else {
            let mut s = String::new();
            push_literal(&mut s, &[b]);
            parts.push(s);
        }
    }
    match safe.len() {
        0 => {}
        1 => {
            let mut s = String::new();
            for b in safe.bytes() {
                push_literal(&mut s, &[b]);
            }
            parts.insert(0, s);
        }
        _ => parts.insert(0, format!("[{}]", class_body(&safe))),
    }
    Some(if parts.len() == 1 { parts.remove(0) } else { format!("{{{}}}", parts.join(",")) })
}

/// A path in a rule: quoted when it holds characters the profile lexer would split on.
pub(crate) fn quote(path: &str) -> String {
    if path.chars().any(|c| matches!(c, '\\' | ' ' | '\t' | '!' | '"' | '#') || c.is_control()) || path.contains(",,") {
        format!("\"{path}\"")
    } else {
        path.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> Pat {
        Pat::of(&PathMatcher::path(s).unwrap_or_else(|e| panic!("{s}: {e}")))
    }

    fn dir(s: &str, r: bool) -> Pat {
        Pat::of(&PathMatcher::dir(s, r).unwrap_or_else(|e| panic!("{s}: {e}")))
    }

    fn text(p: &Pat) -> String {
        p.render().unwrap_or_else(|| panic!("{p:?} renders nothing"))
    }

    #[test]
    fn renders_polc_globs_in_apparmor_syntax() {
        assert_eq!(text(&pat("/usr/bin/python3")), "/usr/bin/python3");
        assert_eq!(text(&dir("/usr/bin", false)), "/usr/bin/*");
        assert_eq!(text(&dir("/usr/bin/", true)), "/usr/bin/**");
        assert_eq!(text(&pat("/usr/lib/jvm/**/bin/java")), "/usr/lib/jvm/{,**/}bin/java");
        assert_eq!(text(&pat("/**/xmrig*")), "/{,**/}xmrig*");
        assert_eq!(text(&pat("/**/**/nc")), "/{,**/}{,**/}nc");
        assert_eq!(text(&pat("/opt/**")), "/opt/**");
        assert_eq!(text(&pat("/dev/cpu/*/msr")), "/dev/cpu/*/msr");
        assert_eq!(text(&pat("/bin/?ash")), "/bin/?ash");
        assert_eq!(text(&Pat::everything()), "/{,**}");
        assert_eq!(text(&Pat::file_named("sh", 15)), "/{,**/}sh");
        assert_eq!(text(&Pat::file_named("abcdefghijklmno", 15)), "/{,**/}abcdefghijklmno*");
    }

    #[test]
    fn escapes_what_apparmor_treats_specially() {
        assert_eq!(text(&pat("/a/{b},c^d\\e")), "/a/\\{b\\}\\,c\\^d\\\\e");
        assert_eq!(text(&pat("/a/@{HOME}")), "/a/@\\{HOME\\}");
        assert_eq!(text(&pat("/a/b\"c")), "/a/b\\\"c");
        assert_eq!(text(&pat("/a/x\ny")), "/a/x\\x0ay");
        assert_eq!(text(&pat("/a/é")), "/a/é");
        assert_eq!(quote("/a b"), "\"/a b\"");
        assert_eq!(quote("/a/\\{"), "\"/a/\\{\"");
        assert_eq!(quote("/a#b"), "\"/a#b\"");
        assert_eq!(quote("/{,**/}nc"), "/{,**/}nc");
    }

    #[test]
    fn classes_avoid_the_parsers_traps() {
        assert_eq!(text(&pat("/bin/[bd]ash")), "/bin/[bd]ash");
        assert_eq!(text(&pat("/bin/[a-z]")), "/bin/[a-z]");
        assert_eq!(text(&pat("/bin/[!a-c]x")), "/bin/[^a-c/]x");
        // `-` and `^` never go inside a class.
        assert_eq!(text(&pat("/x/[a-]")), "/x/{a,-}");
        assert_eq!(text(&pat("/x/[^a]")), "/x/{a,\\^}");
        assert_eq!(text(&pat("/x/[*]")), "/x/\\*");
        // A negated class whose exclusions are not class-safe is written positively.
        let t = text(&pat("/x/[!-]"));
        assert!(t.starts_with("/x/{[") && t.contains("\\^") && !t.contains(",-,") && !t.contains("/,"), "{t}");
        // A range over `/` does not let the class match `/`.
        assert_eq!(text(&pat("/x/[+-0]")), "/x/{[\\x2b\\x2e0],\\,,-}");
    }

    #[test]
    fn intersection() {
        assert!(pat("/usr/bin/python3").intersects(&dir("/usr/bin", true)));
        assert!(pat("/usr/bin/*").intersects(&pat("/usr/*/python3")));
        assert!(!pat("/usr/bin/*").intersects(&pat("/usr/lib/*")));
        assert!(!pat("/usr/bin/a*").intersects(&pat("/usr/bin/b*")));
        assert!(pat("/**/nc").intersects(&pat("/usr/bin/nc")));
        assert!(!pat("/**/nc").intersects(&pat("/usr/bin/ncat")));
        assert!(pat("/**/nc*").intersects(&pat("/usr/bin/?cat")));
        assert!(!dir("/usr/bin", false).intersects(&pat("/usr/bin/x/y")));
        assert!(dir("/usr", true).intersects(&pat("/usr/bin/x/y")));
        assert!(!pat("/bin/[ab]").intersects(&pat("/bin/[cd]")));
        assert!(pat("/bin/[a-c]").intersects(&pat("/bin/[!ab]")));
        assert!(Pat::everything().intersects(&pat("/x")));
    }
}
