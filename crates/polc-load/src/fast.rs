//! The fast path: a byte-level parser for the block YAML that policy repositories
//! and Kubernetes manifests are written in, feeding the same [`Builder`] as the
//! yaml-rust2 path.
//!
//! It accepts a subset and gives up (returns `None`) on anything else, and the
//! caller then parses the whole file with yaml-rust2. So this parser never has to
//! produce an error message, and an input is either parsed here into exactly what
//! yaml-rust2 would give (values, positions, document indices), or not at all.
//!
//! The subset:
//! - documents separated by `---` lines (nothing after the marker but a comment);
//! - block mappings and block sequences, indented with spaces, including compact
//!   mappings in sequence items (`- name: x`) and sequences at their key's
//!   indentation (`containers:` followed by `- name: x`);
//! - keys: plain, or quoted on one line;
//! - values: plain scalars on one line, single-quoted scalars on one line,
//!   double-quoted scalars on one line (with escapes), flow sequences and
//!   mappings (over several lines too, with every scalar on one line), literal and folded block scalars (`|`, `>-`, `|+`, ...)
//!   without an indentation indicator, and empty values;
//! - comments, and LF or CRLF line ends.
//!
//! Everything else makes it give up: tabs, lone carriage returns and other control
//! characters, anchors, aliases, tags, multi-line plain and quoted scalars,
//! flow collections whose lines are not indented deeper than their block, `?` keys, directives, `...`, escaped line breaks,
//! the rarer shapes of block scalars (see
//! [`P::block_scalar`]), and any input that is not valid YAML. The tests compare
//! both paths on every file of the repository, generated variations and the fuzz
//! corpus (`tests` below, `fuzz/fuzz_targets/loader.rs`).
//!
//! Positions follow yaml-rust2's markers, which the builder records: a scalar or
//! a flow collection at its first character, a block mapping at its first key, a
//! block sequence at its first `-` (at its first item's content when it sits at
//! its key's indentation), and an empty value at the next token.

use crate::Span;
use crate::yaml::{Builder, Document, Limits};
use yaml_rust2::scanner::TScalarStyle;

/// The fast path gave up; the file is parsed by yaml-rust2 instead.
struct Bail;

type R<T> = Result<T, Bail>;

/// Nesting beyond this is left to yaml-rust2 (and to the builder's depth limit),
/// so that the recursion here stays shallow whatever the input.
const MAX_NEST: usize = 200;

/// yaml-rust2 refuses simple keys longer than 1024 characters; longer keys are
/// left to it.
const MAX_KEY_BYTES: usize = 1000;

/// Parse `text` (without its byte-order mark) if it is in the subset, into the
/// documents yaml-rust2 would give; `None` when it is not, or when the builder
/// refuses it (duplicate keys, limits), so that the caller reports the error.
pub(crate) fn parse(text: &str, limits: &Limits) -> Option<Vec<Document>> {
    if !plain_text(text) || blank_unterminated_end(text) {
        return None;
    }
    let mut p = P {
        t: text.as_bytes(),
        s: text,
        next: 0,
        next_num: 1,
        line: None,
        b: Builder::new(limits),
        docs: Vec::new(),
        index: 0,
        depth: 0,
        col_at: std::cell::Cell::new((0, 0)),
    };
    p.stream().ok()?;
    Some(p.docs)
}

/// Only line breaks (LF or CRLF) and printable characters (tabs, lone carriage
/// returns, control characters, byte-order marks and line separators go to
/// yaml-rust2).
fn plain_text(s: &str) -> bool {
    let t = s.as_bytes();
    // In blocks without an early exit, so that the loop is vectorised.
    let ok = |b: u8| (b >= 0x20 && b != 0x7f) || b == b'\n' || b == b'\r';
    if !t.chunks(64).all(|c| c.iter().fold(true, |acc, &b| acc & ok(b))) {
        return false;
    }
    if memchr::memchr_iter(b'\r', t).any(|i| t.get(i + 1) != Some(&b'\n')) {
        return false;
    }
    t.is_ascii()
        || s.chars()
            .all(|c| !matches!(c, '\u{80}'..='\u{9f}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' | '\u{2028}' | '\u{2029}'))
}

/// Does the text end in a line without a newline that holds only spaces or a
/// comment? yaml-rust2 then closes the blocks indented deeper than that line's end
/// at its end, and the rest on the line after: left to it.
fn blank_unterminated_end(s: &str) -> bool {
    if s.is_empty() || s.ends_with('\n') {
        return false;
    }
    let last = s.rsplit('\n').next().unwrap_or_default().trim_start_matches(' ');
    last.is_empty() || last.starts_with('#')
}

/// Where the line starting at `start` ends (before its LF or CRLF) and where the
/// next one starts.
fn line_end(t: &[u8], start: usize) -> (usize, usize) {
    match memchr::memchr(b'\n', &t[start..]) {
        Some(i) if i > 0 && t[start + i - 1] == b'\r' => (start + i - 1, start + i + 1),
        Some(i) => (start + i, start + i + 1),
        None => (t.len(), t.len() + 1),
    }
}

/// A line with content (not blank, not only a comment).
#[derive(Clone, Copy)]
struct Line {
    /// Byte offset of its first byte.
    start: usize,
    /// Byte offset of its newline (or of the end of the text).
    end: usize,
    /// Leading spaces.
    indent: usize,
    /// 1-based line number.
    num: u32,
    /// Whether the line is ASCII (columns are byte offsets then).
    ascii: bool,
    /// A `---` document marker.
    marker: bool,
}

struct P<'t, 'l> {
    t: &'t [u8],
    s: &'t str,
    /// Where the line after the current one starts.
    next: usize,
    /// Its number.
    next_num: u32,
    /// The current content line; `None` at the end of the text.
    line: Option<Line>,
    b: Builder<'l>,
    docs: Vec<Document>,
    index: usize,
    depth: usize,
    /// The last column counted on a line that is not ASCII: (byte offset, column).
    /// Positions on a line are asked for in order, so counting goes on from there
    /// (counting from the line's start each time would be quadratic in its length).
    col_at: std::cell::Cell<(usize, usize)>,
}

fn is_entry_at(t: &[u8], p: usize, end: usize) -> bool {
    t[p] == b'-' && (p + 1 == end || t[p + 1] == b' ')
}

impl P<'_, '_> {
    /// Move to the next content line, skipping blank and comment lines.
    fn advance(&mut self) -> R<()> {
        let t = self.t;
        loop {
            if self.next >= t.len() {
                self.line = None;
                return Ok(());
            }
            let start = self.next;
            let (end, next) = line_end(t, start);
            let num = self.next_num;
            self.next = next;
            self.next_num = self.next_num.saturating_add(1);
            let indent = t[start..end].iter().take_while(|&&b| b == b' ').count();
            let p = start + indent;
            if p == end || t[p] == b'#' {
                continue;
            }
            let mut marker = false;
            if indent == 0 {
                let rest = &t[start..end];
                if rest.starts_with(b"---") {
                    // A document marker, with nothing after it but a comment.
                    if rest.len() > 3 && rest[3] != b' ' {
                        return Err(Bail);
                    }
                    let after = rest[3..].iter().position(|&b| b != b' ').map(|i| rest[3 + i]);
                    if after.is_some_and(|b| b != b'#') {
                        return Err(Bail);
                    }
                    marker = true;
                } else if rest.starts_with(b"...") || rest[0] == b'%' {
                    return Err(Bail);
                }
            }
            let ascii = t[start..end].is_ascii();
            self.line = Some(Line { start, end, indent, num, ascii, marker });
            return Ok(());
        }
    }

    fn cur(&self) -> R<Line> {
        self.line.ok_or(Bail)
    }

    /// The indentation of the current line; `None` at the end of the text or of the
    /// document.
    fn indent(&self) -> Option<usize> {
        self.line.filter(|l| !l.marker).map(|l| l.indent)
    }

    fn span(&self, pos: usize) -> Span {
        match self.line {
            Some(l) => {
                let col = if l.ascii {
                    pos - l.start
                } else {
                    let (from, col) = self.col_at.get();
                    let (from, col) = if (l.start..=pos).contains(&from) { (from, col) } else { (l.start, 0) };
                    let col = col + self.s[from..pos].chars().count();
                    self.col_at.set((pos, col));
                    col
                };
                Span { line: l.num, col: u32::try_from(col + 1).unwrap_or(u32::MAX) }
            }
            None => Span { line: self.next_num, col: 1 },
        }
    }

    /// The byte at `i` of the current line, or `\n` past its end.
    fn at(&self, l: &Line, i: usize) -> u8 {
        if i < l.end { self.t[i] } else { b'\n' }
    }

    fn skip_spaces(&self, l: &Line, mut i: usize) -> usize {
        while i < l.end && self.t[i] == b' ' {
            i += 1;
        }
        i
    }

    /// Nothing but spaces and a comment from `i` (a comment after at least one
    /// space, or at `i` itself when the caller knows a space precedes it).
    fn rest_is_blank(&self, l: &Line, i: usize) -> bool {
        let j = self.skip_spaces(l, i);
        j == l.end || (self.t[j] == b'#' && (j > i || (i > l.start && self.t[i - 1] == b' ')))
    }

    fn nest(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_NEST { Err(Bail) } else { Ok(()) }
    }

    fn stream(&mut self) -> R<()> {
        self.advance()?;
        if self.line.is_none() {
            return Ok(());
        }
        loop {
            if self.line.is_some_and(|l| l.marker) {
                self.advance()?;
            }
            self.b.reset();
            let Some(l) = self.line.filter(|l| !l.marker) else {
                // An empty document: counted, not kept.
                self.index += 1;
                if self.line.is_none() {
                    return Ok(());
                }
                continue;
            };
            let p = l.start + l.indent;
            if is_entry_at(self.t, p, l.end) {
                self.block_seq(l.indent, p, false)?;
            } else if matches!(self.t[p], b'[' | b'{') {
                let after = self.flow(p, -1)?;
                if !self.rest_is_blank(&self.cur()?, after) {
                    return Err(Bail);
                }
                self.advance()?;
            } else if self.is_key_line(&l, p)? {
                self.block_map(l.indent, p)?;
            } else {
                return Err(Bail);
            }
            if self.indent().is_some() {
                return Err(Bail);
            }
            if let Some((value, spans)) = self.b.root.take()
                && !value.is_null()
            {
                self.docs.push(Document { index: self.index, value, spans });
            }
            self.index += 1;
            if self.line.is_none() {
                return Ok(());
            }
        }
    }

    /// Does a mapping key (plain or quoted, then `:` and a space or the end of the
    /// line) start at `p`?
    fn is_key_line(&self, l: &Line, p: usize) -> R<bool> {
        let t = self.t;
        match t[p] {
            // `[a]: b` and `{a: b}: c` are complex keys: not in the subset.
            b'[' | b'{' => Ok(false),
            b'"' | b'\'' => {
                let (_, _, after) = self.quoted(l, p)?;
                let j = self.skip_spaces(l, after);
                Ok(j < l.end && t[j] == b':' && matches!(self.at(l, j + 1), b' ' | b'\n'))
            }
            _ => {
                let mut i = p;
                while let Some(k) = memchr::memchr2(b':', b'#', &t[i..l.end]) {
                    i += k;
                    match t[i] {
                        b':' if i + 1 == l.end || t[i + 1] == b' ' => return Ok(true),
                        b'#' if i > p && t[i - 1] == b' ' => return Ok(false),
                        _ => {}
                    }
                    i += 1;
                }
                Ok(false)
            }
        }
    }

    /// The key at `p`: its text, style, and the offset after its `:`.
    fn key(&self, l: &Line, p: usize) -> R<(String, TScalarStyle, usize)> {
        let t = self.t;
        match t[p] {
            b'"' | b'\'' => {
                let (text, style, after) = self.quoted(l, p)?;
                let j = self.skip_spaces(l, after);
                // yaml-rust2 gives up on a key whose `:` is over 1024 characters
                // from its start (found in review).
                if j - p > MAX_KEY_BYTES {
                    return Err(Bail);
                }
                if j < l.end && t[j] == b':' && (j + 1 == l.end || t[j + 1] == b' ') {
                    return Ok((text, style, j + 1));
                }
                Err(Bail)
            }
            c if is_indicator(c) => Err(Bail),
            _ => {
                let mut i = p;
                while i < l.end {
                    match t[i] {
                        b':' if i + 1 == l.end || t[i + 1] == b' ' => break,
                        b'#' if t[i - 1] == b' ' => return Err(Bail),
                        b'[' | b']' | b'{' | b'}' | b',' => return Err(Bail),
                        _ => {}
                    }
                    i += 1;
                }
                if i == l.end || i - p > MAX_KEY_BYTES {
                    return Err(Bail);
                }
                let mut e = i;
                while t[e - 1] == b' ' {
                    e -= 1;
                }
                Ok((self.s[p..e].to_owned(), TScalarStyle::Plain, i + 1))
            }
        }
    }

    /// A quoted scalar on one line: its text, style, and the offset after the closing
    /// quote.
    fn quoted(&self, l: &Line, p: usize) -> R<(String, TScalarStyle, usize)> {
        let t = self.t;
        if t[p] == b'"' {
            let mut out = String::new();
            let mut from = p + 1;
            let mut i = from;
            while i < l.end {
                match t[i] {
                    b'"' => {
                        out.push_str(&self.s[from..i]);
                        return Ok((out, TScalarStyle::DoubleQuoted, i + 1));
                    }
                    b'\\' => {
                        out.push_str(&self.s[from..i]);
                        let (c, len) = escape(&t[i + 1..l.end])?;
                        out.push(c);
                        i += 1 + len;
                        from = i;
                    }
                    _ => i += 1,
                }
            }
            return Err(Bail);
        }
        let mut out = String::new();
        let mut from = p + 1;
        let mut i = from;
        while i < l.end {
            if t[i] == b'\'' {
                if i + 1 < l.end && t[i + 1] == b'\'' {
                    out.push_str(&self.s[from..=i]);
                    i += 2;
                    from = i;
                    continue;
                }
                out.push_str(&self.s[from..i]);
                return Ok((out, TScalarStyle::SingleQuoted, i + 1));
            }
            i += 1;
        }
        Err(Bail)
    }

    /// A block mapping of indentation `n` whose first key is at `p` of the current
    /// line.
    fn block_map(&mut self, n: usize, mut p: usize) -> R<()> {
        self.nest()?;
        let at = self.span(p);
        self.b.start_map(0, None, at).map_err(|_| Bail)?;
        loop {
            let l = self.cur()?;
            let (key, style, after) = self.key(&l, p)?;
            let key_at = self.span(p);
            self.b.scalar(key, style, 0, None, key_at).map_err(|_| Bail)?;
            let v = self.skip_spaces(&l, after);
            if v == l.end || self.t[v] == b'#' {
                self.advance()?;
                self.block_value(n, false)?;
            } else {
                self.inline_then_next(&l, v, n)?;
            }
            match self.next_at(n)? {
                Some((_, true)) => return Err(Bail),
                Some((q, false)) => p = q,
                None => break,
            }
        }
        self.depth -= 1;
        self.b.end().map_err(|_| Bail)
    }

    /// A value on the rest of the line from `p` ([`P::inline_value`]), then the next
    /// line, which must not be deeper than `n` (it would be a continuation line of
    /// a plain scalar, or an error).
    fn inline_then_next(&mut self, l: &Line, p: usize, n: usize) -> R<()> {
        self.inline_value(l, p, n)?;
        self.advance()?;
        if self.indent().is_some_and(|i| i > n) { Err(Bail) } else { Ok(()) }
    }

    /// Where the next item of a collection of indentation `n` starts, and whether
    /// it is a `-` entry; `None` when the collection ends there (a shallower line,
    /// or the end of the document).
    fn next_at(&self, n: usize) -> R<Option<(usize, bool)>> {
        match self.indent() {
            Some(i) if i == n => {
                let l = self.cur()?;
                let p = l.start + i;
                Ok(Some((p, is_entry_at(self.t, p, l.end))))
            }
            Some(i) if i > n => Err(Bail),
            _ => Ok(None),
        }
    }

    /// The value of a mapping entry (`in_seq` false) or sequence item (`in_seq`
    /// true) of a collection of indentation `n`, written on the lines below it; the
    /// current line is the first line after the key or `-`.
    fn block_value(&mut self, n: usize, in_seq: bool) -> R<()> {
        if let Some(i) = self.indent() {
            let l = self.cur()?;
            let p = l.start + i;
            let entry = is_entry_at(self.t, p, l.end);
            if i > n {
                if entry {
                    return self.block_seq(i, p, false);
                }
                if self.is_key_line(&l, p)? {
                    return self.block_map(i, p);
                }
                // A scalar or a flow collection on a line of its own.
                return Err(Bail);
            }
            if i == n && !in_seq && entry {
                return self.block_seq(i, p, true);
            }
        }
        // An empty value, at the next token: the content of the next item of the
        // same sequence, or the next line's first character (a key, or the end of
        // blocks), or the end of the text.
        let at = match self.line {
            Some(l) if !l.marker => {
                let p = l.start + l.indent;
                if in_seq && l.indent == n && is_entry_at(self.t, p, l.end) {
                    self.span(self.after_entry(&l, p))
                } else {
                    self.span(p)
                }
            }
            Some(l) => Span { line: l.num, col: 1 },
            None => self.span(0),
        };
        self.b.scalar(String::new(), TScalarStyle::Plain, 0, None, at).map_err(|_| Bail)
    }

    /// Where the item of the `-` at `p` starts: after the spaces (and a comment) that
    /// follow it.
    fn after_entry(&self, l: &Line, p: usize) -> usize {
        let j = self.skip_spaces(l, p + 1);
        if j < l.end && self.t[j] == b'#' { l.end } else { j }
    }

    /// A block sequence whose first `-` is at `p` (indentation `n`) of the current
    /// line; `indentless` when it sits at its key's indentation.
    fn block_seq(&mut self, n: usize, mut p: usize, indentless: bool) -> R<()> {
        self.nest()?;
        let l = self.cur()?;
        let at = if indentless { self.span(self.after_entry(&l, p)) } else { self.span(p) };
        self.b.start_seq(0, None, at).map_err(|_| Bail)?;
        loop {
            let l = self.cur()?;
            let q = self.skip_spaces(&l, p + 1);
            if q == l.end || self.t[q] == b'#' {
                self.advance()?;
                self.block_value(n, true)?;
            } else if is_entry_at(self.t, q, l.end) {
                return Err(Bail);
            } else if self.is_key_line(&l, q)? {
                // A compact mapping: its keys are at the column of the first.
                self.block_map(q - l.start, q)?;
            } else {
                self.inline_then_next(&l, q, n)?;
            }
            match self.next_at(n)? {
                Some((q, true)) => p = q,
                _ => break,
            }
        }
        self.depth -= 1;
        self.b.end().map_err(|_| Bail)
    }

    /// A value on the rest of the line from `p`: a scalar or a flow collection,
    /// then nothing but a comment; or a block scalar, whose lines follow (indented
    /// deeper than `n`, the indentation of the collection the value is in).
    fn inline_value(&mut self, l: &Line, p: usize, n: usize) -> R<()> {
        let t = self.t;
        let after = match t[p] {
            b'[' | b'{' => {
                let after = self.flow(p, isize::try_from(n).map_err(|_| Bail)?)?;
                // The collection may have ended on a later line.
                return if self.rest_is_blank(&self.cur()?, after) { Ok(()) } else { Err(Bail) };
            }
            b'|' | b'>' => return self.block_scalar(l, p, n),
            b'"' | b'\'' => {
                let (text, style, after) = self.quoted(l, p)?;
                let at = self.span(p);
                self.b.scalar(text, style, 0, None, at).map_err(|_| Bail)?;
                after
            }
            b'-' if p + 1 == l.end || t[p + 1] == b' ' => return Err(Bail),
            c if c != b'-' && is_indicator(c) => return Err(Bail),
            _ => {
                // A plain scalar: to a comment or the end of the line.
                let mut i = p;
                let mut stop = l.end;
                while let Some(k) = memchr::memchr2(b':', b'#', &t[i..l.end]) {
                    i += k;
                    match t[i] {
                        b'#' if i > p && t[i - 1] == b' ' => {
                            stop = i;
                            break;
                        }
                        // A mapping inside a value, or a key without a value: not here.
                        b':' if i + 1 == l.end || t[i + 1] == b' ' => return Err(Bail),
                        _ => {}
                    }
                    i += 1;
                }
                // Without the spaces before the comment or the end of the line.
                let mut e = stop;
                while e > p && t[e - 1] == b' ' {
                    e -= 1;
                }
                let at = self.span(p);
                self.b.scalar(self.s[p..e].to_owned(), TScalarStyle::Plain, 0, None, at).map_err(|_| Bail)?;
                return Ok(());
            }
        };
        if self.rest_is_blank(l, after) { Ok(()) } else { Err(Bail) }
    }

    /// A literal (`|`) or folded (`>`) block scalar whose header is at `p`, with its
    /// chomping indicator. Its lines are read here (comments are content in them);
    /// the next line to read is left in `self.next`. Explicit indentation
    /// indicators, empty scalars, leading empty lines, lines of spaces longer than
    /// the indentation and (in folded scalars) more-indented lines are left to
    /// yaml-rust2.
    fn block_scalar(&mut self, l: &Line, p: usize, n: usize) -> R<()> {
        let t = self.t;
        let literal = t[p] == b'|';
        let mut i = p + 1;
        // Chomping: `-` strip, `+` keep, none clip.
        let chomp = match self.at(l, i) {
            c @ (b'-' | b'+') => {
                i += 1;
                c
            }
            _ => b' ',
        };
        // Then nothing but spaces and a comment (an indentation indicator is not taken).
        if !self.rest_is_blank(l, i) {
            return Err(Bail);
        }
        let (mut pos, mut num) = (self.next, self.next_num);
        let mut lines: Vec<&str> = Vec::new();
        let mut ind = 0;
        let mut at = Span::default();
        while pos < t.len() {
            let (end, next) = line_end(t, pos);
            let spaces = t[pos..end].iter().take_while(|&&b| b == b' ').count();
            if pos + spaces == end {
                // A line of spaces: an empty line of the scalar (or after it).
                if lines.is_empty() || spaces > ind {
                    return Err(Bail);
                }
                lines.push("");
            } else if lines.is_empty() {
                if spaces <= n {
                    return Err(Bail);
                }
                ind = spaces;
                at = Span { line: num, col: u32::try_from(ind + 1).map_err(|_| Bail)? };
                lines.push(&self.s[pos + ind..end]);
            } else if spaces < ind {
                break;
            } else {
                if !literal && spaces > ind {
                    return Err(Bail);
                }
                lines.push(&self.s[pos + ind..end]);
            }
            pos = next;
            num = num.saturating_add(1);
        }
        if lines.is_empty() {
            return Err(Bail);
        }
        // Trailing empty lines belong to the scalar only when kept.
        let content = lines.iter().rposition(|x| !x.is_empty()).map_or(0, |k| k + 1);
        let trailing = lines.len() - content;
        let mut text = String::new();
        let mut empties = 0;
        for (k, line) in lines[..content].iter().enumerate() {
            if line.is_empty() {
                empties += 1;
                continue;
            }
            if k > 0 {
                if literal {
                    text.push('\n');
                    for _ in 0..empties {
                        text.push('\n');
                    }
                } else if empties == 0 {
                    text.push(' ');
                } else {
                    for _ in 0..empties {
                        text.push('\n');
                    }
                }
            }
            empties = 0;
            text.push_str(line);
        }
        match chomp {
            b'-' => {}
            b'+' => {
                for _ in 0..=trailing {
                    text.push('\n');
                }
            }
            _ => text.push('\n'),
        }
        // Reading goes on after the last line taken (trailing empty lines included:
        // the reader would skip them as blank anyway).
        self.next = pos;
        self.next_num = num;
        let style = if literal { TScalarStyle::Literal } else { TScalarStyle::Folded };
        self.b.scalar(text, style, 0, None, at).map_err(|_| Bail)
    }

    /// A flow sequence or mapping at `p` of the current line. It may go on over the
    /// next lines between its tokens (each scalar is on one line); they must be
    /// indented deeper than `n`, the indentation of the block it is in (-1 at the
    /// root). Returns the offset after it, on the line where it ends, which is then
    /// the current line.
    fn flow(&mut self, p: usize, n: isize) -> R<usize> {
        self.nest()?;
        let t = self.t;
        let at = self.span(p);
        let close = if t[p] == b'[' {
            self.b.start_seq(0, None, at).map_err(|_| Bail)?;
            b']'
        } else {
            self.b.start_map(0, None, at).map_err(|_| Bail)?;
            b'}'
        };
        let mut i = self.flow_skip(p + 1, n)?;
        if t[i] != close {
            loop {
                if close == b'}' {
                    i = self.flow_key(i)?;
                    i = self.flow_skip(i, n)?;
                }
                i = self.flow_node(i, n)?;
                i = self.flow_skip(i, n)?;
                match t[i] {
                    b',' => {
                        i = self.flow_skip(i + 1, n)?;
                        if t[i] == close {
                            // A trailing comma: valid, but left to yaml-rust2.
                            return Err(Bail);
                        }
                    }
                    c if c == close => break,
                    _ => return Err(Bail),
                }
            }
        }
        self.depth -= 1;
        self.b.end().map_err(|_| Bail)?;
        Ok(i + 1)
    }

    /// The next token inside a flow collection from `i`: past spaces, comments and
    /// line breaks. A line it moves to must be indented deeper than `n`; the end of
    /// the text or of the document is left to yaml-rust2 (an unclosed collection).
    fn flow_skip(&mut self, i: usize, n: isize) -> R<usize> {
        let l = self.cur()?;
        let j = self.skip_spaces(&l, i);
        let comment = j < l.end && self.t[j] == b'#' && (j == l.start || self.t[j - 1] == b' ');
        if j < l.end && !comment {
            return Ok(j);
        }
        self.advance()?;
        let l = self.cur()?;
        if l.marker || isize::try_from(l.indent).map_err(|_| Bail)? <= n {
            return Err(Bail);
        }
        Ok(l.start + l.indent)
    }

    /// A key of a flow mapping at `i`; returns the offset after its `:`.
    fn flow_key(&mut self, i: usize) -> R<usize> {
        let t = self.t;
        let l = self.cur()?;
        let (text, style, after) = self.flow_scalar(&l, i, true)?;
        let j = self.skip_spaces(&l, after);
        if !(j < l.end && t[j] == b':' && self.at(&l, j + 1) == b' ') {
            return Err(Bail);
        }
        let at = self.span(i);
        self.b.scalar(text, style, 0, None, at).map_err(|_| Bail)?;
        Ok(j + 1)
    }

    /// An item or value inside a flow collection at `i`; returns the offset after it.
    fn flow_node(&mut self, i: usize, n: isize) -> R<usize> {
        if matches!(self.t[i], b'[' | b'{') {
            return self.flow(i, n);
        }
        let l = self.cur()?;
        let at = self.span(i);
        let (text, style, after) = self.flow_scalar(&l, i, false)?;
        self.b.scalar(text, style, 0, None, at).map_err(|_| Bail)?;
        Ok(after)
    }

    /// A scalar inside a flow collection at `i` (a mapping key when `key`): its
    /// text, style, and the offset after it.
    fn flow_scalar(&self, l: &Line, i: usize, key: bool) -> R<(String, TScalarStyle, usize)> {
        match self.t[i] {
            b'"' | b'\'' => self.quoted(l, i),
            _ => {
                let (e, after) = self.flow_plain(i, key)?;
                Ok((self.s[i..e].to_owned(), TScalarStyle::Plain, after))
            }
        }
    }

    /// A plain scalar inside a flow collection (a mapping key when `key`), on the
    /// current line: returns where its text ends (trailing spaces trimmed) and where
    /// the scan stopped (a flow indicator, a comment or the end of the line; what
    /// follows must then be one of `,` `]` `}`, or the scalar would go on).
    fn flow_plain(&self, i: usize, key: bool) -> R<(usize, usize)> {
        let l = self.cur()?;
        let c = self.at(&l, i);
        // `-` starts a plain scalar when text follows it (`-1`).
        let dash_text = c == b'-' && !matches!(self.at(&l, i + 1), b' ' | b'\n' | b',' | b']' | b'}' | b'[' | b'{');
        if c == b'\n' || (is_indicator(c) && !dash_text) {
            return Err(Bail);
        }
        let mut j = i;
        let mut e = i;
        loop {
            match self.at(&l, j) {
                // A key must have its `:` on its line.
                b'\n' if key => return Err(Bail),
                b',' | b']' | b'}' | b'\n' => return Ok((e, j)),
                b'#' if self.t[j - 1] == b' ' && !key => return Ok((e, j)),
                b':' if key && self.at(&l, j + 1) == b' ' => return Ok((e, j)),
                // yaml-rust2 refuses ` -` before a flow indicator (found by the fuzzer).
                b'-' if j > i
                    && self.t[j - 1] == b' '
                    && matches!(self.at(&l, j + 1), b',' | b'[' | b']' | b'{' | b'}') =>
                {
                    return Err(Bail);
                }
                // Nested flow right after text, `:` and `#` inside: left to yaml-rust2.
                b'[' | b'{' | b':' | b'#' => return Err(Bail),
                b' ' => {}
                _ => e = j + 1,
            }
            j += 1;
        }
    }
}

/// The character a double-quoted scalar's escape stands for, as yaml-rust2 reads
/// it, and the bytes it takes after the backslash. An escaped line break, an
/// unknown escape and an invalid code point are left to yaml-rust2.
fn escape(after: &[u8]) -> R<(char, usize)> {
    let c = match after.first().ok_or(Bail)? {
        b'0' => '\0',
        b'a' => '\x07',
        b'b' => '\x08',
        b't' => '\t',
        b'n' => '\n',
        b'v' => '\x0b',
        b'f' => '\x0c',
        b'r' => '\r',
        b'e' => '\x1b',
        b' ' => ' ',
        b'"' => '"',
        b'/' => '/',
        b'\\' => '\\',
        b'N' => '\u{85}',
        b'_' => '\u{a0}',
        b'L' => '\u{2028}',
        b'P' => '\u{2029}',
        &x @ (b'x' | b'u' | b'U') => {
            let n = match x {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let hex = after.get(1..=n).ok_or(Bail)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(Bail);
            }
            let text = std::str::from_utf8(hex).map_err(|_| Bail)?;
            let code = u32::from_str_radix(text, 16).map_err(|_| Bail)?;
            return Ok((char::from_u32(code).ok_or(Bail)?, 1 + n));
        }
        _ => return Err(Bail),
    };
    Ok((c, 1))
}

/// Characters that start something other than a plain scalar (or may).
fn is_indicator(c: u8) -> bool {
    matches!(
        c,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}
