//! Exceptions cut out of AppArmor rules, so that polc's "most specific match wins"
//! survives AppArmor's "deny always wins" (and "audit flags add up").
//!
//! Where a Block rule covers a more specific Allow (Block `/usr/bin/**`, Allow
//! `/usr/bin/python3`), AppArmor would deny both. Instead the deny rule is written
//! for the Block's paths *minus* the Allow's, when both are simple enough that the
//! difference is again a finite set of AppArmor globs:
//!
//! ```text
//! audit deny /usr/bin/{[^p/]*,p{,[^y/]*,y{,[^t/]*,...,python3?*}},*/{,**}} x,
//! ```
//!
//! A *shape* is a literal prefix followed by one of a few tails: nothing (an exact
//! path), a rest of one segment (`dir/*`, `name*`), or anything below (`dir/**`).
//! Differences of shapes are built character by character over the literal parts
//! (a trie), with the tails tracked as three bits: whether the empty string, strings
//! without `/` and strings with `/` remain. Anything else (a `*` in the middle, `**/`
//! inside, classes) is not a shape, and the rule is reported as approximated.

use super::glob::{ByteSet, class_text, push_literal};
use crate::pattern::PathMatcher;
use std::collections::BTreeSet;

/// A set of path tails: the empty string, non-empty strings without `/`, strings with `/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Lang {
    eps: bool,
    seg: bool,
    slash: bool,
}

impl Lang {
    const NONE: Lang = Lang { eps: false, seg: false, slash: false };
    const EXACT: Lang = Lang { eps: true, seg: false, slash: false };
    const SEG: Lang = Lang { eps: true, seg: true, slash: false };
    const SEG_NE: Lang = Lang { eps: false, seg: true, slash: false };
    const DEEP: Lang = Lang { eps: false, seg: true, slash: true };
    const ALL: Lang = Lang { eps: true, seg: true, slash: true };

    fn union(self, o: Lang) -> Lang {
        Lang { eps: self.eps || o.eps, seg: self.seg || o.seg, slash: self.slash || o.slash }
    }

    fn minus(self, o: Lang) -> Lang {
        Lang { eps: self.eps && !o.eps, seg: self.seg && !o.seg, slash: self.slash && !o.slash }
    }

    /// The tails of the strings that start with `c`.
    fn deriv(self, c: u8) -> Lang {
        if c == b'/' {
            Lang { eps: self.slash, seg: self.slash, slash: self.slash }
        } else {
            Lang { eps: self.seg, seg: self.seg, slash: self.slash }
        }
    }

    /// In AppArmor syntax, after a `/` or not (a `*` or `**` right after `/` must match
    /// at least one character there).
    fn render(self, after_slash: bool) -> Option<String> {
        let s = match (self.eps, self.seg, self.slash) {
            (false, false, false) => return None,
            (true, false, false) => "",
            (false, true, false) => "?*",
            (true, true, false) if after_slash => "{,?*}",
            (true, true, false) => "*",
            (false, false, true) => "*/{,**}",
            (true, false, true) => "{,*/{,**}}",
            (false, true, true) if after_slash => "?{,**}",
            (false, true, true) => "{?,/}{,**}",
            (true, true, true) => "{,**}",
        };
        Some(s.to_string())
    }
}

/// A literal prefix and a tail.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Shape {
    prefix: Vec<u8>,
    tail: Lang,
}

impl Shape {
    /// The shape of a matcher, when it has one.
    pub(crate) fn of(m: &PathMatcher) -> Option<Shape> {
        let (prefix, tail) = match m {
            PathMatcher::Exact(p) => (p.as_str(), Lang::EXACT),
            PathMatcher::Dir { path, recursive: false } => (path.as_str(), Lang::SEG_NE),
            PathMatcher::Dir { path, recursive: true } => (path.as_str(), Lang::DEEP),
            PathMatcher::Glob(g) => {
                let lit = m.literal_prefix();
                match &g[lit.len()..] {
                    "**" if lit.ends_with('/') => (lit, Lang::DEEP),
                    "*" if lit.ends_with('/') => (lit, Lang::SEG_NE),
                    "*" => (lit, Lang::SEG),
                    _ => return None,
                }
            }
        };
        Some(Shape { prefix: prefix.as_bytes().to_vec(), tail })
    }

    /// Every path.
    pub(crate) fn everything() -> Shape {
        Shape { prefix: b"/".to_vec(), tail: Lang::ALL }
    }
}

/// The paths of `base` that are in none of `holes`, as one AppArmor glob; `None` when
/// no path is left.
pub(crate) fn subtract(base: &Shape, holes: &[Shape]) -> Option<String> {
    let u = base.prefix.as_slice();
    let mut here = Lang::NONE;
    let mut deeper: Vec<(&[u8], Lang)> = Vec::new();
    for h in holes {
        if let Some(w) = h.prefix.strip_prefix(u) {
            if w.is_empty() {
                here = here.union(h.tail);
            } else {
                deeper.push((w, h.tail));
            }
        } else if let Some(x) = u.strip_prefix(h.prefix.as_slice()) {
            here = here.union(x.iter().fold(h.tail, |l, &c| l.deriv(c)));
        }
    }
    let rest = build(base.tail, here, &deeper, u.last() == Some(&b'/'))?;
    let mut out = String::new();
    push_literal(&mut out, u);
    out.push_str(&rest);
    Some(out)
}

/// `l` minus `here` minus every `w·k` of `deeper` (all `w` non-empty).
fn build(l: Lang, here: Lang, deeper: &[(&[u8], Lang)], after_slash: bool) -> Option<String> {
    if deeper.is_empty() {
        return l.minus(here).render(after_slash);
    }
    let mut parts = Vec::new();
    if l.eps && !here.eps {
        parts.push(String::new());
    }
    let firsts: BTreeSet<u8> = deeper.iter().filter_map(|(w, _)| w.first().copied()).collect();
    for &c in &firsts {
        let mut h = here.deriv(c);
        let mut sub = Vec::new();
        for (w, k) in deeper.iter().filter(|(w, _)| w.first() == Some(&c)) {
            if w.len() == 1 {
                h = h.union(*k);
            } else {
                sub.push((&w[1..], *k));
            }
        }
        if let Some(t) = build(l.deriv(c), h, &sub, c == b'/') {
            let mut s = String::new();
            push_literal(&mut s, &[c]);
            s.push_str(&t);
            parts.push(s);
        }
    }
    // Any other byte but `/`: every one has the same derivative.
    let other = l.deriv(b'a').minus(here.deriv(b'a'));
    if let Some(t) = other.render(false) {
        let segment = ByteSet::segment();
        let mut set = ByteSet::default();
        for b in (1..=255u8).filter(|b| segment.has(*b) && !firsts.contains(b)) {
            set.add(b);
        }
        if let Some(class) = class_text(&set) {
            parts.push(format!("{class}{t}"));
        }
    }
    // After a `/`, another `/` would make an empty segment, which no resolved path has.
    if !after_slash
        && !firsts.contains(&b'/')
        && let Some(t) = l.deriv(b'/').minus(here.deriv(b'/')).render(true)
    {
        parts.push(format!("/{t}"));
    }
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(format!("{{{}}}", parts.join(","))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(s: &str) -> Shape {
        let m = PathMatcher::path(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        Shape::of(&m).unwrap_or_else(|| panic!("{s} has no shape"))
    }

    fn dir(s: &str, r: bool) -> Shape {
        let m = PathMatcher::dir(s, r).unwrap_or_else(|e| panic!("{s}: {e}"));
        Shape::of(&m).unwrap_or_else(|| panic!("{s} has no shape"))
    }

    #[test]
    fn shapes() {
        assert!(Shape::of(&PathMatcher::Glob("/a/*/b".into())).is_none());
        assert!(Shape::of(&PathMatcher::Glob("/**/b".into())).is_none());
        assert!(Shape::of(&PathMatcher::Glob("/a/b*c".into())).is_none());
        assert_eq!(shape("/usr/bin/yum*").tail, Lang::SEG);
        assert_eq!(shape("/usr/bin/*").tail, Lang::SEG_NE);
        assert_eq!(shape("/usr/**").tail, Lang::DEEP);
    }

    #[test]
    fn nothing_to_cut() {
        assert_eq!(subtract(&dir("/usr/bin", true), &[]).as_deref(), Some("/usr/bin/?{,**}"));
        assert_eq!(subtract(&shape("/etc/shadow"), &[]).as_deref(), Some("/etc/shadow"));
        assert_eq!(subtract(&Shape::everything(), &[]).as_deref(), Some("/{,**}"));
        assert_eq!(subtract(&shape("/a/b"), &[shape("/a/b")]), None);
        assert_eq!(subtract(&dir("/usr/bin", true), &[dir("/usr", true)]), None);
    }

    #[test]
    fn cuts_an_exact_path_out_of_a_directory() {
        let t = subtract(&dir("/usr/bin", false), &[shape("/usr/bin/py")]);
        assert_eq!(t.as_deref(), Some("/usr/bin/{p{,y?*,[^y/]*},[^p/]*}"));
        let t = subtract(&dir("/usr/bin", true), &[shape("/usr/bin/py")]);
        assert_eq!(t.as_deref(), Some("/usr/bin/{p{,y{?,/}{,**},[^y/]{,**},/{,**}},[^p/]{,**}}"));
    }
}
