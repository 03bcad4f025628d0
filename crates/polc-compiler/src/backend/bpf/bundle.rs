//! The bpf-lsm bundle: a versioned, hashed file with the exact bytes of every map
//! entry of one policy slot, plus the rule table the agent uses to turn kernel events
//! into violation records. Pure encoding and decoding, no I/O; the same bundle always
//! encodes to the same bytes.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! header (64 bytes)
//!   0  magic "POLCBNDL"          8  format version (u32)    12 ABI version (u32)
//!   16 body length (u64)         24 SHA-256 of the body (32) 56 chunk count (u32)
//!   60 reserved, zero (u32)
//! body: chunks, each `tag u32, length u32, payload`
//!   1 META      str target, u32 slot, u32 n, n x str policy
//!   2 MAP       one per map of polc_abi::BUNDLE_MAPS, in that order:
//!               str name, u32 map type, u32 key size, u32 value size,
//!               u32 offset of the policy field in the key, u32 n,
//!               n x (u16 k, k key bytes, value bytes), keys strictly ascending;
//!               a key is stored without its trailing zero bytes (k <= key size,
//!               and its last stored byte is not zero): the agent pads it back
//!   5 STRINGS   u32 n, n x str: the texts of RULES, each once, in the order
//!               RULES first names them
//!   3 RULES     u32 n, n x (u32 id, u8 action, u8 effective, u8 severity, u8 0,
//!               u32 policy, u32 rule, u32 section, u32 matches, u32 source,
//!               u32 message, u32 m, m x u32 tag), texts as indexes into STRINGS
//!   4 DEFAULTS  u32 n, n x (u8 op, u8 action, u16 0, u32 m, m x str policy)
//! str: u32 length, UTF-8 bytes
//! ```
//!
//! Format 1 stored every key at its full size (most are 256-byte paths of a few
//! dozen bytes) and every rule text in full: half of a bundle was zero bytes and a
//! third repeated texts. Format 2 holds the same entries in about a third of the
//! bytes.
//!
//! The policy field of every key holds `POLC_POLICY_ID(0, slot)`; the agent rewrites
//! it (at `policy offset`) with its node slot and generation before loading.

use polc_abi::{ABI_VERSION, BUNDLE_MAPS, MAP_TYPE_LPM_TRIE, Op};
use polc_api::{Action, Severity};
use sha2::Digest;

/// First bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"POLCBNDL";
/// Version of the container format (the map layouts are versioned by the ABI).
pub const FORMAT_VERSION: u32 = 2;
/// Size of the header.
pub const HEADER_LEN: usize = 64;

const TAG_META: u32 = 1;
const TAG_MAP: u32 = 2;
const TAG_RULES: u32 = 3;
const TAG_DEFAULTS: u32 = 4;
const TAG_STRINGS: u32 = 5;

/// A decoded bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// `namespace/kind/name/container` of the plan.
    pub target: String,
    /// Slot the compiler gave the target (the agent may remap it).
    pub slot: u16,
    /// `Kind namespace/name` of the policies that apply.
    pub policies: Vec<String>,
    /// Maps, in `polc_abi::BUNDLE_MAPS` order.
    pub maps: Vec<MapSection>,
    /// Rules that map entries name.
    pub rules: Vec<RuleInfo>,
    /// Governed ops and their defaults.
    pub defaults: Vec<OpDefault>,
}

/// The entries of one map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSection {
    /// Map name.
    pub name: String,
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    /// Key size.
    pub key_size: u32,
    /// Value size.
    pub value_size: u32,
    /// Offset of the policy field in the key.
    pub policy_offset: u32,
    /// (key, value), keys ascending.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl MapSection {
    /// A section for the map `def` with these entries (keys ascending).
    pub fn new(def: &polc_abi::MapDef, entries: Vec<(Vec<u8>, Vec<u8>)>) -> MapSection {
        MapSection {
            name: def.name.to_string(),
            map_type: def.map_type,
            key_size: def.key_size as u32,
            value_size: def.value_size as u32,
            policy_offset: def.policy_offset.unwrap_or(0) as u32,
            entries,
        }
    }
}

/// What the agent needs to report an event of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    /// Stable rule id (what events carry).
    pub id: u32,
    /// `Kind namespace/name`.
    pub policy: String,
    /// Rule name.
    pub rule: String,
    /// Section.
    pub section: String,
    /// Action as written.
    pub action: Action,
    /// Action enforced (DryRun folded).
    pub effective: Action,
    /// Severity.
    pub severity: Severity,
    /// What the entry matches, in words.
    pub matches: String,
    /// `file:line:col`.
    pub source: String,
    /// Message.
    pub message: String,
    /// Tags.
    pub tags: Vec<String>,
}

/// The default of a governed op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpDefault {
    /// Op.
    pub op: Op,
    /// Action when no rule matches.
    pub action: Action,
    /// Policies it comes from.
    pub policies: Vec<String>,
}

/// Why bytes are not a valid bundle.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ends inside a field.
    #[error("truncated bundle: it ends inside {what}")]
    Truncated {
        /// The field.
        what: &'static str,
    },
    /// Not a bundle.
    #[error("not a polc bundle (bad magic)")]
    Magic,
    /// Another format version.
    #[error("bundle format version {found} is not supported (this build reads 1 and {FORMAT_VERSION})")]
    FormatVersion {
        /// Found.
        found: u32,
    },
    /// Another ABI version.
    #[error("bundle ABI version {found} does not match this build's ABI version {ABI_VERSION}")]
    AbiVersion {
        /// Found.
        found: u32,
    },
    /// The body length in the header is wrong.
    #[error("the header says the body is {declared} bytes, but it is {actual}")]
    Length {
        /// In the header.
        declared: u64,
        /// Actual.
        actual: usize,
    },
    /// The content does not match its hash.
    #[error("the bundle's SHA-256 does not match its content")]
    Hash,
    /// A chunk where another was expected.
    #[error("unexpected chunk {found} (expected {expected})")]
    Chunk {
        /// Expected.
        expected: &'static str,
        /// Found tag.
        found: u32,
    },
    /// A map out of order or unknown.
    #[error("map `{found}` where `{expected}` was expected")]
    MapOrder {
        /// Expected.
        expected: &'static str,
        /// Found.
        found: String,
    },
    /// A map with another type, key or value size than the ABI.
    #[error("map `{map}` has a type, key size, value size or policy offset other than the ABI's")]
    MapLayout {
        /// Map.
        map: String,
    },
    /// An LPM key with an impossible prefix length.
    #[error("map `{map}` has a key with prefix length {prefixlen}")]
    PrefixLen {
        /// Map.
        map: String,
        /// Prefix length.
        prefixlen: u32,
    },
    /// Keys out of order or repeated.
    #[error("map `{map}` has keys out of order or repeated")]
    Unsorted {
        /// Map.
        map: String,
    },
    /// A string that is not UTF-8.
    #[error("{what} is not UTF-8")]
    Utf8 {
        /// The field.
        what: &'static str,
    },
    /// An out-of-range number.
    #[error("{what} has the invalid value {value}")]
    Value {
        /// The field.
        what: &'static str,
        /// The value.
        value: u32,
    },
    /// Bytes left over.
    #[error("{bytes} unexpected bytes after {what}")]
    Trailing {
        /// After what.
        what: &'static str,
        /// How many.
        bytes: usize,
    },
}

fn action_from(n: u8) -> Option<Action> {
    [Action::Allow, Action::Audit, Action::Block].get(usize::from(n)).copied()
}

fn severity_num(s: Severity) -> u8 {
    match s {
        Severity::Info => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

fn severity_from(n: u8) -> Option<Severity> {
    [Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical].get(usize::from(n)).copied()
}

#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn strs(&mut self, v: &[String]) {
        self.len(v.len());
        for s in v {
            self.str(s);
        }
    }
    fn chunk(&mut self, tag: u32, payload: W) {
        self.u32(tag);
        self.len(payload.0.len());
        self.0.extend_from_slice(&payload.0);
    }
}

/// The STRINGS chunk being written: each text once, in the order of first use.
#[derive(Default)]
struct Strings<'a> {
    /// Each text's index in the table.
    ids: std::collections::HashMap<&'a str, u32, foldhash::fast::RandomState>,
    /// The table's texts, written.
    w: W,
}

impl<'a> Strings<'a> {
    /// Write `s` into `w`: its index in the table, or (format 1) the text itself.
    fn put(&mut self, w: &mut W, s: &'a str, v1: bool) {
        if v1 {
            w.str(s);
        } else {
            w.u32(self.index(s));
        }
    }

    fn index(&mut self, s: &'a str) -> u32 {
        let next = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        *self.ids.entry(s).or_insert_with(|| {
            self.w.str(s);
            next
        })
    }
}

struct R<'a> {
    b: &'a [u8],
}

impl<'a> R<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.b.len() {
            return Err(DecodeError::Truncated { what });
        }
        let (a, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(a)
    }
    fn arr<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }
    fn str(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let n = self.u32(what)? as usize;
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Utf8 { what })
    }
    /// A count of items that take at least `min` bytes each (bounds allocation).
    fn count(&mut self, min: usize, what: &'static str) -> Result<usize, DecodeError> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min.max(1)) > self.b.len() {
            return Err(DecodeError::Truncated { what });
        }
        Ok(n)
    }
    fn strs(&mut self, what: &'static str) -> Result<Vec<String>, DecodeError> {
        let n = self.count(4, what)?;
        (0..n).map(|_| self.str(what)).collect()
    }
    fn end(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.b.is_empty() { Ok(()) } else { Err(DecodeError::Trailing { what, bytes: self.b.len() }) }
    }
    fn chunk(&mut self, tag: u32, expected: &'static str) -> Result<R<'a>, DecodeError> {
        let found = self.u32("a chunk tag")?;
        if found != tag {
            return Err(DecodeError::Chunk { expected, found });
        }
        let n = self.u32("a chunk length")? as usize;
        Ok(R { b: self.take(n, expected)? })
    }
}

impl Bundle {
    /// Give the bundle another target and slot: the target id, the slot, and the
    /// policy field (`POLC_POLICY_ID(0, slot)`, at the map's policy offset) of every
    /// key. Every key of a map carries the same policy id, so the keys stay in
    /// ascending order. The result is the bundle the compiler builds for that slot.
    pub fn retarget(&mut self, target: String, slot: u16) {
        let id = polc_abi::policy_id(0, slot).to_le_bytes();
        for m in &mut self.maps {
            let Some(off) = BUNDLE_MAPS.iter().find(|d| d.name == m.name).and_then(|d| d.policy_offset) else {
                continue;
            };
            for (k, _) in &mut m.entries {
                if let Some(field) = k.get_mut(off..off + id.len()) {
                    field.copy_from_slice(&id);
                }
            }
        }
        self.target = target;
        self.slot = slot;
    }

    /// The body in `format` (1 only for the tests that format 1 is still read) and
    /// its chunk count.
    fn body(&self, format: u32) -> (W, u32) {
        let v1 = format == 1;
        let mut body = W::default();
        let mut meta = W::default();
        meta.str(&self.target);
        meta.u32(u32::from(self.slot));
        meta.strs(&self.policies);
        body.chunk(TAG_META, meta);
        for m in &self.maps {
            let mut w = W::default();
            w.str(&m.name);
            for v in [m.map_type, m.key_size, m.value_size, m.policy_offset] {
                w.u32(v);
            }
            w.len(m.entries.len());
            for (k, v) in &m.entries {
                let kept = if v1 { k.len() } else { k.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1) };
                if !v1 {
                    w.u16(u16::try_from(kept).unwrap_or(u16::MAX));
                }
                w.0.extend_from_slice(&k[..kept]);
                w.0.extend_from_slice(v);
            }
            body.chunk(TAG_MAP, w);
        }
        let mut strings = Strings::default();
        let mut w = W::default();
        w.len(self.rules.len());
        for r in &self.rules {
            w.u32(r.id);
            w.u8(super::lower::action_u8(r.action));
            w.u8(super::lower::action_u8(r.effective));
            w.u8(severity_num(r.severity));
            w.u8(0);
            for s in [&r.policy, &r.rule, &r.section, &r.matches, &r.source, &r.message] {
                strings.put(&mut w, s, v1);
            }
            w.len(r.tags.len());
            for t in &r.tags {
                strings.put(&mut w, t, v1);
            }
        }
        if !v1 {
            let mut table = W::default();
            table.len(strings.ids.len());
            table.0.extend_from_slice(&strings.w.0);
            body.chunk(TAG_STRINGS, table);
        }
        body.chunk(TAG_RULES, w);
        let mut w = W::default();
        w.len(self.defaults.len());
        for d in &self.defaults {
            w.u8(d.op as u8);
            w.u8(super::lower::action_u8(d.action));
            w.u16(0);
            w.strs(&d.policies);
        }
        body.chunk(TAG_DEFAULTS, w);
        let chunks = u32::try_from(self.maps.len() + if v1 { 3 } else { 4 }).unwrap_or(u32::MAX);
        (body, chunks)
    }

    /// SHA-256 of the body, hex: the bundle's content hash.
    pub fn sha256_hex(&self) -> String {
        hex(&sha2::Sha256::digest(&self.body(FORMAT_VERSION).0.0))
    }

    /// The bundle's bytes.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_as(FORMAT_VERSION)
    }

    fn encode_as(&self, format: u32) -> Vec<u8> {
        let (body, chunks) = self.body(format);
        let mut out = Vec::with_capacity(HEADER_LEN + body.0.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&format.to_le_bytes());
        out.extend_from_slice(&ABI_VERSION.to_le_bytes());
        out.extend_from_slice(&(body.0.len() as u64).to_le_bytes());
        out.extend_from_slice(&sha2::Sha256::digest(&body.0));
        out.extend_from_slice(&chunks.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&body.0);
        out
    }

    /// Decode and validate: magic, versions, length, hash, chunk order, map layouts
    /// against the ABI, LPM prefix lengths, key order, UTF-8, enum values and zero
    /// reserved fields. The encoding is canonical: what decodes re-encodes to the same
    /// bytes.
    ///
    /// # Errors
    /// A [`DecodeError`] saying what is wrong; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Bundle, DecodeError> {
        let mut r = R { b: bytes };
        if &r.arr::<8>("the magic")? != MAGIC {
            return Err(DecodeError::Magic);
        }
        let format = r.u32("the format version")?;
        // Format 1 is still read: agents keep the bundles of their slots on disk,
        // and an upgraded agent reads the ones an older build wrote.
        let v1 = format == 1;
        if format != FORMAT_VERSION && !v1 {
            return Err(DecodeError::FormatVersion { found: format });
        }
        let abi = r.u32("the ABI version")?;
        if abi != ABI_VERSION {
            return Err(DecodeError::AbiVersion { found: abi });
        }
        let declared = r.u64("the body length")?;
        let hash = r.arr::<32>("the hash")?;
        let chunks = r.u32("the chunk count")?;
        let reserved = r.u32("the header")?;
        if reserved != 0 {
            return Err(DecodeError::Value { what: "the header's reserved field", value: reserved });
        }
        if declared != r.b.len() as u64 {
            return Err(DecodeError::Length { declared, actual: r.b.len() });
        }
        if sha2::Sha256::digest(r.b).as_slice() != hash {
            return Err(DecodeError::Hash);
        }
        if chunks as usize != BUNDLE_MAPS.len() + if v1 { 3 } else { 4 } {
            return Err(DecodeError::Value { what: "the chunk count", value: chunks });
        }
        let mut meta = r.chunk(TAG_META, "META")?;
        let target = meta.str("the target")?;
        let slot = meta.u32("the slot")?;
        let slot = u16::try_from(slot).map_err(|_| DecodeError::Value { what: "the slot", value: slot })?;
        let policies = meta.strs("the policies")?;
        meta.end("META")?;
        let mut maps = Vec::new();
        for def in BUNDLE_MAPS {
            maps.push(map(r.chunk(TAG_MAP, def.name)?, def, v1)?);
        }
        let strings = if v1 {
            Vec::new()
        } else {
            let mut sr = r.chunk(TAG_STRINGS, "STRINGS")?;
            let strings = sr.strs("the strings")?;
            sr.end("STRINGS")?;
            strings
        };
        // Canonical: every text is used, and first used in table order.
        let mut used = 0usize;
        let mut text = |i: u32, what: &'static str| -> Result<String, DecodeError> {
            let i = i as usize;
            if i > used || i >= strings.len() {
                return Err(DecodeError::Value { what, value: i as u32 });
            }
            if i == used {
                used += 1;
            }
            Ok(strings[i].clone())
        };
        let mut rr = r.chunk(TAG_RULES, "RULES")?;
        let n = rr.count(if v1 { 36 } else { 8 }, "the rules")?;
        let mut rules = Vec::with_capacity(n);
        for _ in 0..n {
            let id = rr.u32("a rule id")?;
            let [a, e, s, z] = rr.arr::<4>("a rule")?;
            let bad = |what, v: u8| DecodeError::Value { what, value: u32::from(v) };
            if z != 0 {
                return Err(bad("a rule's reserved byte", z));
            }
            let action = action_from(a).ok_or(bad("a rule action", a))?;
            let effective = action_from(e).ok_or(bad("a rule action", e))?;
            let severity = severity_from(s).ok_or(bad("a rule severity", s))?;
            let mut t = [(); 6].map(|_| String::new());
            for x in t.iter_mut() {
                *x = if v1 { rr.str("a rule")? } else { text(rr.u32("a rule")?, "a rule's text index")? };
            }
            let [policy, rule, section, matches, source, message] = t;
            let tags = if v1 {
                rr.strs("rule tags")?
            } else {
                let m = rr.count(4, "rule tags")?;
                let mut tags = Vec::with_capacity(m);
                for _ in 0..m {
                    tags.push(text(rr.u32("rule tags")?, "a rule tag's text index")?);
                }
                tags
            };
            rules.push(RuleInfo {
                id,
                policy,
                rule,
                section,
                action,
                effective,
                severity,
                matches,
                source,
                message,
                tags,
            });
        }
        if used != strings.len() {
            return Err(DecodeError::Value { what: "the count of strings RULES uses", value: used as u32 });
        }
        rr.end("RULES")?;
        let mut dr = r.chunk(TAG_DEFAULTS, "DEFAULTS")?;
        let n = dr.count(8, "the defaults")?;
        let mut defaults = Vec::with_capacity(n);
        for _ in 0..n {
            let [o, a, z0, z1] = dr.arr::<4>("a default")?;
            if z0 != 0 || z1 != 0 {
                return Err(DecodeError::Value { what: "a default's reserved bytes", value: u32::from(z0 | z1) });
            }
            let op = Op::from_u8(o).ok_or(DecodeError::Value { what: "a default op", value: u32::from(o) })?;
            let action = action_from(a).ok_or(DecodeError::Value { what: "a default action", value: u32::from(a) })?;
            defaults.push(OpDefault { op, action, policies: dr.strs("default policies")? });
        }
        dr.end("DEFAULTS")?;
        r.end("the last chunk")?;
        Ok(Bundle { target, slot, policies, maps, rules, defaults })
    }

    /// The bytes an older build (format 1) wrote for this bundle: keys at full
    /// size, texts in each rule. For the tests that format 1 is still read.
    #[cfg(test)]
    pub(crate) fn encode_format_1(&self) -> Vec<u8> {
        self.encode_as(1)
    }

    /// The map called `name`.
    pub fn map(&self, name: &str) -> Option<&MapSection> {
        self.maps.iter().find(|m| m.name == name)
    }
}

/// The content hash in the header of an encoded bundle ([`Bundle::encode`]), hex:
/// what [`Bundle::sha256_hex`] computes, without encoding the body again.
pub fn header_sha256_hex(encoded: &[u8]) -> String {
    hex(encoded.get(24..56).unwrap_or_default())
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// The MAP chunk of `def`; `v1`: format 1, keys at full size.
fn map(mut r: R<'_>, def: &polc_abi::MapDef, v1: bool) -> Result<MapSection, DecodeError> {
    let name = r.str("a map name")?;
    if name != def.name {
        return Err(DecodeError::MapOrder { expected: def.name, found: name });
    }
    let (map_type, key_size, value_size, policy_offset) =
        (r.u32("a map type")?, r.u32("a key size")?, r.u32("a value size")?, r.u32("a policy offset")?);
    if map_type != def.map_type
        || key_size as usize != def.key_size
        || value_size as usize != def.value_size
        || Some(policy_offset as usize) != def.policy_offset
    {
        return Err(DecodeError::MapLayout { map: name });
    }
    let n = r.count(2 + def.value_size, "map entries")?;
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(n);
    for _ in 0..n {
        let kept = if v1 {
            u16::try_from(def.key_size).unwrap_or(u16::MAX)
        } else {
            u16::from_le_bytes(r.arr::<2>("a map key")?)
        };
        if usize::from(kept) > def.key_size {
            return Err(DecodeError::Value { what: "a map key's length", value: u32::from(kept) });
        }
        let stored = r.take(usize::from(kept), "a map key")?;
        if !v1 && stored.last() == Some(&0) {
            return Err(DecodeError::Value { what: "a map key's last stored byte", value: 0 });
        }
        let mut k = vec![0u8; def.key_size];
        k[..stored.len()].copy_from_slice(stored);
        let v = r.take(def.value_size, "a map value")?.to_vec();
        if entries.last().is_some_and(|(last, _)| *last >= k) {
            return Err(DecodeError::Unsorted { map: name });
        }
        if def.map_type == MAP_TYPE_LPM_TRIE {
            let mut p = [0u8; 4];
            p.copy_from_slice(&k[..4]);
            let prefixlen = u32::from_le_bytes(p);
            let max = (def.key_size as u32 - 4) * 8;
            if !(polc_abi::KEY_HEADER_BITS..=max).contains(&prefixlen) {
                return Err(DecodeError::PrefixLen { map: name, prefixlen });
            }
        }
        entries.push((k, v));
    }
    r.end("a map")?;
    Ok(MapSection { name, map_type, key_size, value_size, policy_offset, entries })
}
