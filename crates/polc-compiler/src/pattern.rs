//! Path matchers: exact paths, directories (optionally recursive) and globs, with
//! their validation, matching, specificity and coverage (does one matcher match
//! everything another does).
//!
//! Glob syntax: `*` matches any run of characters within one path segment, `?` one
//! character within a segment, `[abc]`, `[a-z]` and `[!a-z]` a character class, and
//! `**` — only as a whole segment — any number of segments (including none).

use std::fmt;

/// Longest path the kernel resolves (`PATH_MAX`, including the terminating NUL).
pub const PATH_MAX: usize = 4096;

/// Why a path or glob is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The path does not start with `/`.
    #[error("path `{0}` is not absolute; the kernel checks resolved absolute paths")]
    NotAbsolute(String),
    /// The path has a `.` or `..` segment, which resolved paths never contain.
    #[error("path `{0}` has a `.` or `..` segment, which resolved paths never contain")]
    DotSegment(String),
    /// The path has an empty segment (`//`).
    #[error("path `{0}` has an empty segment (`//`), which resolved paths never contain")]
    EmptySegment(String),
    /// `**` inside a segment.
    #[error("glob `{0}` uses `**` inside a segment; `**` must be a whole segment (`/a/**/b`)")]
    PartialDoubleStar(String),
    /// `[` without `]`, or an empty class.
    #[error("glob `{0}` has an unterminated or empty character class")]
    BadClass(String),
    /// Longer than `PATH_MAX`.
    #[error("path is {len} bytes, longer than PATH_MAX ({max})")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A directory path that contains glob characters.
    #[error("directory `{0}` contains glob characters; use `paths` for globs")]
    GlobInDir(String),
    /// A NUL byte.
    #[error("path contains a NUL byte")]
    Nul,
}

/// A matcher over absolute paths.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathMatcher {
    /// Exactly this path.
    Exact(String),
    /// Files in this directory (`path` ends with `/`), or below it when recursive.
    Dir {
        /// The directory, with a trailing `/`.
        path: String,
        /// Also subdirectories.
        recursive: bool,
    },
    /// A glob.
    Glob(String),
}

fn has_glob_chars(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
}

fn check_common(s: &str) -> Result<(), PatternError> {
    if s.len() >= PATH_MAX {
        return Err(PatternError::TooLong { len: s.len(), max: PATH_MAX - 1 });
    }
    if s.contains('\0') {
        return Err(PatternError::Nul);
    }
    if !s.starts_with('/') {
        return Err(PatternError::NotAbsolute(s.to_string()));
    }
    let body = s.strip_suffix('/').unwrap_or(s);
    for seg in body.split('/').skip(1) {
        if seg.is_empty() {
            return Err(PatternError::EmptySegment(s.to_string()));
        }
        if seg == "." || seg == ".." {
            return Err(PatternError::DotSegment(s.to_string()));
        }
    }
    Ok(())
}

impl PathMatcher {
    /// Parse a path entry: a glob when it has glob characters, else an exact path.
    ///
    /// # Errors
    /// When the path is not absolute, has `.`/`..`/empty segments, or is a malformed glob.
    pub fn path(s: &str) -> Result<PathMatcher, PatternError> {
        check_common(s)?;
        if !has_glob_chars(s) {
            return Ok(PathMatcher::Exact(s.to_string()));
        }
        for seg in s.split('/') {
            if seg.contains("**") && seg != "**" {
                return Err(PatternError::PartialDoubleStar(s.to_string()));
            }
        }
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'[' {
                let start = i + 1 + usize::from(b.get(i + 1) == Some(&b'!'));
                match b[start..].iter().position(|&c| c == b']') {
                    Some(0) | None => return Err(PatternError::BadClass(s.to_string())),
                    Some(n) => {
                        if b[start..start + n].contains(&b'/') {
                            return Err(PatternError::BadClass(s.to_string()));
                        }
                        i = start + n;
                    }
                }
            }
            i += 1;
        }
        Ok(PathMatcher::Glob(s.to_string()))
    }

    /// Parse a directory entry; a trailing `/` is added when missing.
    ///
    /// # Errors
    /// As [`PathMatcher::path`], and when the directory has glob characters.
    pub fn dir(s: &str, recursive: bool) -> Result<PathMatcher, PatternError> {
        check_common(s)?;
        if has_glob_chars(s) {
            return Err(PatternError::GlobInDir(s.to_string()));
        }
        let path = if s.ends_with('/') { s.to_string() } else { format!("{s}/") };
        Ok(PathMatcher::Dir { path, recursive })
    }

    /// The literal prefix: everything before the first glob character.
    pub fn literal_prefix(&self) -> &str {
        match self {
            PathMatcher::Exact(p) | PathMatcher::Dir { path: p, .. } => p,
            PathMatcher::Glob(g) => &g[..g.find(['*', '?', '[']).unwrap_or(g.len())],
        }
    }

    /// How specific the matcher is; see [`Specificity`].
    pub fn specificity(&self) -> Specificity {
        let class = match self {
            PathMatcher::Exact(_) => 3,
            PathMatcher::Glob(_) => 2,
            PathMatcher::Dir { recursive: false, .. } => 1,
            PathMatcher::Dir { recursive: true, .. } => 0,
        };
        Specificity { prefix: self.literal_prefix().len() as u32, class, extra: 0 }
    }

    /// Whether the matcher matches (practically) every path: `/**`, `/*`, or `/` recursive.
    pub fn is_over_broad(&self) -> bool {
        match self {
            PathMatcher::Dir { path, recursive } => path == "/" && *recursive,
            PathMatcher::Glob(g) => g.split('/').skip(1).all(|s| s == "*" || s == "**"),
            PathMatcher::Exact(_) => false,
        }
    }

    /// Does the matcher match `path`?
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatcher::Exact(p) => p == path,
            PathMatcher::Dir { path: d, recursive } => path
                .strip_prefix(d.as_str())
                .is_some_and(|rest| !rest.is_empty() && (*recursive || !rest.contains('/'))),
            PathMatcher::Glob(g) => glob_match(g, path),
        }
    }

    /// Could a path match both? Conservative: `true` unless provably disjoint (the
    /// literal prefixes diverge, or an exact path does not match the other).
    pub fn may_overlap(&self, other: &PathMatcher) -> bool {
        match (self, other) {
            (PathMatcher::Exact(p), o) | (o, PathMatcher::Exact(p)) => o.matches(p),
            (a, b) => {
                let (x, y) = (a.literal_prefix(), b.literal_prefix());
                x.starts_with(y) || y.starts_with(x)
            }
        }
    }

    /// Does `self` match everything `other` matches? Conservative: `false` when unsure.
    pub fn covers(&self, other: &PathMatcher) -> bool {
        if self == other {
            return true;
        }
        match (self, other) {
            (_, PathMatcher::Exact(p)) => self.matches(p),
            (PathMatcher::Exact(_), _) => false,
            (PathMatcher::Dir { path: d, recursive: true }, o) => o.literal_prefix().starts_with(d.as_str()),
            (PathMatcher::Dir { path: d, recursive: false }, PathMatcher::Glob(g)) => {
                g.strip_prefix(d.as_str()).is_some_and(|rest| !rest.contains('/'))
            }
            (PathMatcher::Dir { recursive: false, .. }, PathMatcher::Dir { .. }) => false,
            (PathMatcher::Glob(g), o) => {
                if let Some(base) = g.strip_suffix("**")
                    && !has_glob_chars(base)
                {
                    return o.literal_prefix().starts_with(base);
                }
                if let (Some(base), PathMatcher::Dir { path, recursive: false }) = (g.strip_suffix('*'), o)
                    && !has_glob_chars(base)
                {
                    return path == base;
                }
                false
            }
        }
    }
}

impl fmt::Display for PathMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathMatcher::Exact(p) | PathMatcher::Glob(p) => f.write_str(p),
            PathMatcher::Dir { path, recursive: true } => write!(f, "{path} (recursive)"),
            PathMatcher::Dir { path, recursive: false } => write!(f, "{path} (directory)"),
        }
    }
}

/// How specific a match is. Ordered: the longer literal path prefix wins; on equal
/// prefixes an exact path beats a glob, a glob a directory, a directory a recursive
/// directory; `extra` breaks what is left (a parent-process condition, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Specificity {
    /// Length of the literal prefix (for CIDRs: the prefix length).
    pub prefix: u32,
    /// Exact 3, glob 2, directory 1, recursive directory 0.
    pub class: u8,
    /// Further conditions (parent process, port).
    pub extra: u8,
}

/// Match `path` against glob `pat` (syntax in the module docs).
pub fn glob_match(pat: &str, path: &str) -> bool {
    match_segments(Some(pat), Some(path))
}

/// The first `/`-separated segment of `s` and the rest after its `/` (`None` when
/// there is no `/` left: the segment was the last). `None` in is no segments at all.
fn first_segment(s: Option<&str>) -> Option<(&str, Option<&str>)> {
    s.map(|s| match s.split_once('/') {
        Some((seg, rest)) => (seg, Some(rest)),
        None => (s, None),
    })
}

/// Match the segments of `ps` against those of `xs`, without splitting either into
/// a vector (this runs for every pair of rules the conflict checks compare).
fn match_segments(ps: Option<&str>, xs: Option<&str>) -> bool {
    match first_segment(ps) {
        None => xs.is_none(),
        Some(("**", rest)) => {
            // `**` as the last segment needs at least one more segment (a file below).
            if rest.is_none() {
                return xs.is_some_and(|x| x.split('/').all(|s| !s.is_empty()));
            }
            let mut xs = xs;
            loop {
                if match_segments(rest, xs) {
                    return true;
                }
                match first_segment(xs) {
                    Some((_, more)) => xs = more,
                    None => return false,
                }
            }
        }
        Some((p, rest)) => match first_segment(xs) {
            Some((x, xrest)) => segment_match(p.as_bytes(), x.as_bytes()) && match_segments(rest, xrest),
            None => false,
        },
    }
}

fn segment_match(p: &[u8], x: &[u8]) -> bool {
    let (mut pi, mut xi) = (0, 0);
    let (mut star_p, mut star_x) = (usize::MAX, 0);
    while xi < x.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star_p = pi;
                    star_x = xi;
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    xi += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, next)) = class_match(p, pi, x[xi])
                        && ok
                    {
                        pi = next;
                        xi += 1;
                        continue;
                    }
                }
                c if c == x[xi] => {
                    pi += 1;
                    xi += 1;
                    continue;
                }
                _ => {}
            }
        }
        if star_p == usize::MAX {
            return false;
        }
        pi = star_p + 1;
        star_x += 1;
        xi = star_x;
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Match byte `c` against the class starting at `p[i] == b'['`; returns the verdict and
/// the index after the class.
fn class_match(p: &[u8], i: usize, c: u8) -> Option<(bool, usize)> {
    let mut j = i + 1;
    let negate = p.get(j) == Some(&b'!');
    if negate {
        j += 1;
    }
    let end = j + p[j..].iter().position(|&b| b == b']')?;
    let set = &p[j..end];
    let mut hit = false;
    let mut k = 0;
    while k < set.len() {
        if k + 2 < set.len() && set[k + 1] == b'-' {
            hit |= (set[k]..=set[k + 2]).contains(&c);
            k += 3;
        } else {
            hit |= set[k] == c;
            k += 1;
        }
    }
    Some((hit != negate, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> PathMatcher {
        match PathMatcher::path(s) {
            Ok(m) => m,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn validation() {
        assert!(matches!(PathMatcher::path("bin/sh"), Err(PatternError::NotAbsolute(_))));
        assert!(matches!(PathMatcher::path("/usr/../bin/sh"), Err(PatternError::DotSegment(_))));
        assert!(matches!(PathMatcher::path("/usr//bin"), Err(PatternError::EmptySegment(_))));
        assert!(matches!(PathMatcher::path("/usr/**bin"), Err(PatternError::PartialDoubleStar(_))));
        assert!(matches!(PathMatcher::path("/usr/[bin"), Err(PatternError::BadClass(_))));
        assert!(matches!(PathMatcher::path("/usr/[]"), Err(PatternError::BadClass(_))));
        assert!(matches!(PathMatcher::dir("/usr/*", true), Err(PatternError::GlobInDir(_))));
        assert!(matches!(PathMatcher::path(&format!("/{}", "a".repeat(5000))), Err(PatternError::TooLong { .. })));
        assert_eq!(m("/bin/sh"), PathMatcher::Exact("/bin/sh".into()));
        assert!(matches!(m("/usr/*/sh"), PathMatcher::Glob(_)));
        assert_eq!(PathMatcher::dir("/etc", false), Ok(PathMatcher::Dir { path: "/etc/".into(), recursive: false }));
        assert!(PathMatcher::dir("/", true).is_ok());
    }

    /// The segment matcher as first written (split into vectors), the oracle of the
    /// allocation-free one.
    fn oracle(ps: &[&str], xs: &[&str]) -> bool {
        match ps.split_first() {
            None => xs.is_empty(),
            Some((&"**", [])) => !xs.is_empty() && xs.iter().all(|s| !s.is_empty()),
            Some((&"**", rest)) => (0..=xs.len()).any(|i| oracle(rest, &xs[i..])),
            Some((p, rest)) => {
                xs.split_first().is_some_and(|(x, xr)| segment_match(p.as_bytes(), x.as_bytes()) && oracle(rest, xr))
            }
        }
    }

    #[test]
    fn segment_walk_agrees_with_split_vectors() {
        let pats = [
            "/usr/bin/*",
            "/usr/**",
            "/**",
            "/**/nc",
            "/**/*/x",
            "/a/**/b/**",
            "**",
            "*",
            "",
            "/",
            "//",
            "/a//b",
            "/a/**/",
            "/[ab]*/**/c?",
            "/x/*.sh",
            "/**/**/z",
        ];
        let paths = [
            "",
            "/",
            "//",
            "/a",
            "/a/",
            "/a/b",
            "/a//b",
            "/a/x/b/c",
            "/usr/bin/sh",
            "/usr/bin/x/sh",
            "/nc",
            "/usr/local/bin/nc",
            "/b/q/c1",
            "/x/a.b.sh",
            "/z",
            "/q/z",
            "a/b",
            "/a/b/",
            "/q/r/x",
        ];
        for p in pats {
            for x in paths {
                let (ps, xs): (Vec<&str>, Vec<&str>) = (p.split('/').collect(), x.split('/').collect());
                assert_eq!(glob_match(p, x), oracle(&ps, &xs), "glob_match({p:?}, {x:?})");
            }
        }
    }

    #[test]
    fn glob_matching() {
        assert!(glob_match("/usr/bin/*", "/usr/bin/sh"));
        assert!(!glob_match("/usr/bin/*", "/usr/bin/x/sh"));
        assert!(glob_match("/usr/**", "/usr/bin/x/sh"));
        assert!(!glob_match("/usr/**", "/usr"));
        assert!(glob_match("/**/nc", "/nc"));
        assert!(glob_match("/**/nc", "/usr/local/bin/nc"));
        assert!(!glob_match("/**/nc", "/usr/local/bin/ncat"));
        assert!(glob_match("/bin/?ash", "/bin/bash"));
        assert!(glob_match("/bin/[bd]ash", "/bin/dash"));
        assert!(!glob_match("/bin/[!bd]ash", "/bin/dash"));
        assert!(glob_match("/bin/[a-c]ash", "/bin/bash"));
        assert!(glob_match("/usr/lib/jvm/*/bin/java", "/usr/lib/jvm/java-17/bin/java"));
        assert!(glob_match("/x/*.sh", "/x/a.b.sh"));
    }

    #[test]
    fn coverage() {
        let rec = PathMatcher::dir("/usr", true).unwrap_or_else(|e| panic!("{e}"));
        let flat = PathMatcher::dir("/usr/bin", false).unwrap_or_else(|e| panic!("{e}"));
        assert!(rec.covers(&m("/usr/bin/sh")));
        assert!(rec.covers(&flat));
        assert!(rec.covers(&m("/usr/bin/*")));
        assert!(!flat.covers(&rec));
        assert!(flat.covers(&m("/usr/bin/sh")));
        assert!(!flat.covers(&m("/usr/bin/x/sh")));
        assert!(flat.covers(&m("/usr/bin/*sh")));
        assert!(m("/usr/**").covers(&m("/usr/bin/*")));
        assert!(m("/usr/**").covers(&flat));
        assert!(m("/usr/bin/*").covers(&flat));
        assert!(m("/usr/bin/*").covers(&m("/usr/bin/sh")));
        assert!(!m("/usr/bin/*").covers(&m("/usr/**")));
        assert!(!m("/bin/sh").covers(&m("/bin/*")));
    }

    #[test]
    fn specificity_orders_by_prefix_then_class() {
        let exact = m("/usr/bin/sh").specificity();
        let glob = m("/usr/bin/*").specificity();
        let dir = PathMatcher::dir("/usr/bin", false).unwrap_or_else(|e| panic!("{e}")).specificity();
        let rec = PathMatcher::dir("/usr/bin", true).unwrap_or_else(|e| panic!("{e}")).specificity();
        let suffix = m("/**/sh").specificity();
        assert!(exact > glob && glob > dir && dir > rec && rec > suffix);
    }

    #[test]
    fn over_broad() {
        assert!(m("/**").is_over_broad());
        assert!(m("/*").is_over_broad());
        assert!(m("/**/*").is_over_broad());
        assert!(!m("/**/nc").is_over_broad());
        assert!(PathMatcher::dir("/", true).is_ok_and(|d| d.is_over_broad()));
    }
}
