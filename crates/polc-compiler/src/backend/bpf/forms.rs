//! Which path matchers the eBPF maps can express, and how.
//!
//! The kernel side does hash and longest-prefix-match lookups only, so a matcher has
//! to be one of a few forms: an exact path (hash), a literal prefix with a rule on
//! what follows it (LPM over the path: directories, `/a/**`, `/a/b*`), a literal
//! suffix (LPM over the reversed path: `/**/name`, `/**/*.sh`), a prefix of the last
//! segment (LPM over it: `/**/name*`), or one `*`, `?` or `**` between a literal
//! prefix and suffix (`/proc/*/environ`, `/usr/lib/jvm/**/bin/java`), checked by a
//! hash lookup on the two LPM nodes plus the path's length and number of `/`.
//! Anything else has no exact form; [`widen`] gives the tightest prefix form that
//! matches everything it matches.

use crate::pattern::PathMatcher;
use polc_abi::{ANY, PATH_MAX, rest_class};

/// What follows a prefix: the key equals it.
pub(crate) const EQUAL: u8 = 1 << rest_class::EQUAL;
/// What follows a prefix: bytes without `/`.
pub(crate) const DIRECT: u8 = 1 << rest_class::DIRECT;
/// What follows a prefix: bytes with a `/`.
pub(crate) const DEEP: u8 = 1 << rest_class::DEEP;
/// Anything after the prefix.
pub(crate) const ALL: u8 = EQUAL | DIRECT | DEEP;

/// A path matcher in a form the maps express.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PathForm {
    /// This path.
    Exact(String),
    /// Paths that start with `node` and whose rest is in `mask` (`EQUAL`/`DIRECT`/`DEEP`).
    Prefix {
        /// The literal prefix.
        node: String,
        /// Rest classes that match.
        mask: u8,
    },
    /// Paths that end with this.
    Suffix(String),
    /// Paths whose last segment starts with `prefix` (`mask`: `EQUAL` = the whole segment).
    Name {
        /// The literal start of the segment.
        prefix: String,
        /// Rest classes that match.
        mask: u8,
    },
    /// Paths that start with `prefix`, end with `suffix`, and fit the bounds.
    Infix {
        /// Literal prefix.
        prefix: String,
        /// Literal suffix.
        suffix: String,
        /// Shortest length.
        min_len: u16,
        /// Longest length ([`ANY`]: unbounded).
        max_len: u16,
        /// Number of `/` ([`ANY`]: any).
        slashes: u16,
    },
}

fn has_glob(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
}

fn slashes(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'/').count()
}

fn len16(n: usize) -> Option<u16> {
    u16::try_from(n).ok().filter(|&n| n != ANY)
}

/// The exact form of a matcher, if it has one.
pub(crate) fn classify(m: &PathMatcher) -> Option<PathForm> {
    match m {
        PathMatcher::Exact(p) => Some(PathForm::Exact(p.clone())),
        PathMatcher::Dir { path, recursive } => {
            Some(PathForm::Prefix { node: path.clone(), mask: if *recursive { DIRECT | DEEP } else { DIRECT } })
        }
        PathMatcher::Glob(g) => glob_form(g),
    }
}

fn glob_form(g: &str) -> Option<PathForm> {
    if g.contains('[') {
        return None;
    }
    if let Some(rest) = g.strip_prefix("/**/") {
        if !has_glob(rest) {
            return Some(PathForm::Suffix(format!("/{rest}")));
        }
        if let Some(lit) = rest.strip_prefix('*')
            && !has_glob(lit)
            && !lit.contains('/')
        {
            return Some(PathForm::Suffix(lit.to_string()));
        }
        if let Some(name) = rest.strip_suffix('*')
            && !name.is_empty()
            && !has_glob(name)
            && !name.contains('/')
        {
            return Some(PathForm::Name { prefix: name.to_string(), mask: EQUAL | DIRECT });
        }
    }
    if let Some(p) = g.strip_suffix("**")
        && p.ends_with('/')
        && !has_glob(p)
    {
        return Some(PathForm::Prefix { node: p.to_string(), mask: DIRECT | DEEP });
    }
    if let Some(i) = g.find("/**/") {
        let (p, s) = (&g[..i + 1], &g[i + 3..]);
        if !has_glob(p) && !has_glob(s) {
            return Some(PathForm::Infix {
                prefix: p.to_string(),
                suffix: s.to_string(),
                min_len: len16(p.len() + s.len() - 1)?,
                max_len: ANY,
                slashes: ANY,
            });
        }
        return None;
    }
    let globs: Vec<usize> = g.bytes().enumerate().filter(|(_, b)| matches!(b, b'*' | b'?')).map(|(i, _)| i).collect();
    let [i] = globs[..] else { return None };
    let (p, s) = (&g[..i], &g[i + 1..]);
    let n = len16(slashes(p) + slashes(s))?;
    if g.as_bytes()[i] == b'*' {
        if s.is_empty() {
            return Some(PathForm::Prefix { node: p.to_string(), mask: EQUAL | DIRECT });
        }
        let min_len = len16(p.len() + s.len())?;
        return Some(PathForm::Infix {
            prefix: p.to_string(),
            suffix: s.to_string(),
            min_len,
            max_len: ANY,
            slashes: n,
        });
    }
    let len = len16(p.len() + s.len() + 1)?;
    Some(PathForm::Infix { prefix: p.to_string(), suffix: s.to_string(), min_len: len, max_len: len, slashes: n })
}

/// The tightest prefix form that matches everything `m` matches.
pub(crate) fn widen(m: &PathMatcher) -> PathForm {
    let p = m.literal_prefix();
    let rest = match m {
        PathMatcher::Glob(g) => &g[p.len()..],
        _ => "",
    };
    let mask = if rest.contains('/') || rest.contains("**") { ALL } else { EQUAL | DIRECT };
    PathForm::Prefix { node: p.to_string(), mask }
}

impl PathForm {
    /// The literal strings that land in map keys, with what they are.
    pub(crate) fn literals(&self) -> Vec<(&'static str, &str)> {
        match self {
            PathForm::Exact(p) => vec![("path", p)],
            PathForm::Prefix { node, .. } => vec![("path prefix", node)],
            PathForm::Suffix(s) => vec![("path suffix", s)],
            PathForm::Name { prefix, .. } => vec![("file name prefix", prefix)],
            PathForm::Infix { prefix, suffix, .. } => vec![("path prefix", prefix), ("path suffix", suffix)],
        }
    }

    /// The first literal longer than a key holds: (what, value).
    pub(crate) fn too_long(&self) -> Option<(&'static str, String)> {
        self.literals().into_iter().find(|(_, s)| s.len() > PATH_MAX).map(|(w, s)| (w, s.to_string()))
    }

    /// Does the form match `path`? (The reference the map lowering is tested against.)
    pub(crate) fn matches(&self, path: &str) -> bool {
        match self {
            PathForm::Exact(p) => p == path,
            PathForm::Prefix { node, mask } => path.strip_prefix(node.as_str()).is_some_and(|r| mask & class(r) != 0),
            PathForm::Suffix(s) => path.ends_with(s.as_str()),
            PathForm::Name { prefix, mask } => {
                let name = path.rsplit('/').next().unwrap_or(path);
                name.strip_prefix(prefix.as_str()).is_some_and(|r| mask & class(r) != 0)
            }
            PathForm::Infix { prefix, suffix, min_len, max_len, slashes: n } => {
                let len = path.len();
                path.starts_with(prefix.as_str())
                    && path.ends_with(suffix.as_str())
                    && len >= usize::from(*min_len)
                    && (*max_len == ANY || len <= usize::from(*max_len))
                    && (*n == ANY || slashes(path) == usize::from(*n))
            }
        }
    }

    /// In words, for capability reasons.
    pub(crate) fn describe(&self) -> String {
        match self {
            PathForm::Exact(p) => format!("`{p}`"),
            PathForm::Prefix { node, mask } if *mask == ALL => format!("every path starting with `{node}`"),
            PathForm::Prefix { node, mask } if *mask & DEEP != 0 => format!("`{node}**`"),
            PathForm::Prefix { node, .. } => format!("`{node}*`"),
            PathForm::Suffix(s) => format!("every path ending with `{s}`"),
            PathForm::Name { prefix, .. } => format!("`/**/{prefix}*`"),
            PathForm::Infix { prefix, suffix, .. } => format!("paths from `{prefix}` to `{suffix}`"),
        }
    }
}

/// The mask bit of what follows a prefix.
pub(crate) fn class(rest: &str) -> u8 {
    if rest.is_empty() {
        EQUAL
    } else if rest.contains('/') {
        DEEP
    } else {
        DIRECT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::glob_match;

    fn form(g: &str) -> Option<PathForm> {
        classify(&PathMatcher::path(g).unwrap_or_else(|e| panic!("{g}: {e}")))
    }

    #[test]
    fn forms_of_the_example_globs() {
        assert!(matches!(form("/usr/lib/jvm/**"), Some(PathForm::Prefix { mask, .. }) if mask == DIRECT | DEEP));
        assert!(matches!(form("/bin/nc.*"), Some(PathForm::Prefix { mask, .. }) if mask == EQUAL | DIRECT));
        assert_eq!(form("/**/minerd"), Some(PathForm::Suffix("/minerd".into())));
        assert_eq!(form("/**/*.sh"), Some(PathForm::Suffix(".sh".into())));
        assert!(matches!(form("/**/xmrig*"), Some(PathForm::Name { .. })));
        assert!(matches!(form("/proc/*/environ"), Some(PathForm::Infix { slashes: 3, .. })));
        assert!(matches!(form("/usr/lib/jvm/**/bin/java"), Some(PathForm::Infix { slashes: ANY, .. })));
        assert!(matches!(form("/bin/?ash"), Some(PathForm::Infix { min_len: 9, max_len: 9, .. })));
        assert_eq!(form("/lib/*.so*"), None);
        assert_eq!(form("/home/*/.ssh/**"), None);
        assert_eq!(form("/bin/[bd]ash"), None);
    }

    /// Every form agrees with the glob it came from, on paths built from the glob's
    /// own pieces (resolved paths: absolute, no empty segments).
    #[test]
    fn forms_match_exactly_what_the_glob_matches() {
        let globs = [
            "/a/**", "/a/b*", "/a/*", "/**/b", "/**/*.so", "/**/ab*", "/a/*/b", "/a/**/b", "/a/?b", "/ab?", "/a*/b",
            "/**/a/b", "/*", "/**",
        ];
        let segs = ["a", "b", "ab", "x.so", "b.so", "abc", "ba"];
        let mut paths = vec!["/".to_string()];
        for a in segs {
            paths.push(format!("/{a}"));
            for b in segs {
                paths.push(format!("/{a}/{b}"));
                for c in segs {
                    paths.push(format!("/{a}/{b}/{c}"));
                }
            }
        }
        for g in globs {
            let f = form(g).unwrap_or_else(|| panic!("{g} has no form"));
            for p in &paths {
                assert_eq!(f.matches(p), glob_match(g, p), "{g} vs {p} ({f:?})");
            }
        }
    }

    #[test]
    fn widening_is_a_superset() {
        for g in ["/lib/*.so*", "/home/*/.ssh/**", "/bin/[bd]ash", "/a/*/b/*"] {
            let m = PathMatcher::path(g).unwrap_or_else(|e| panic!("{e}"));
            let w = widen(&m);
            for p in ["/lib/libc.so.6", "/home/u/.ssh/id", "/bin/bash", "/a/x/b/y"] {
                assert!(!glob_match(g, p) || w.matches(p), "{g} {p}");
            }
        }
        assert_eq!(
            widen(&PathMatcher::Glob("/lib/*.so*".into())),
            PathForm::Prefix { node: "/lib/".into(), mask: EQUAL | DIRECT }
        );
    }
}
