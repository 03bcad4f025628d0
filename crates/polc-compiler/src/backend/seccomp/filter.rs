//! A seccomp [`Profile`] (or an OCI `linux.seccomp` object) as the classic-BPF program
//! the kernel runs on every system call, for `seccomp(SECCOMP_SET_MODE_FILTER)`. Pure:
//! the caller installs it.
//!
//! # Layout
//!
//! ```text
//!     ld  [arch]                        seccomp_data.arch
//!     jeq AUDIT_ARCH_X86_64  -> X64
//!     jeq AUDIT_ARCH_I386    -> I386    (when SCMP_ARCH_X86 is listed)
//!     ret KILL_PROCESS                  any other architecture
//! X64:  ld  [nr]
//!     jge __X32_SYSCALL_BIT  -> X32 tree, else the x86_64 tree
//! I386: ld  [nr]; the i386 tree
//!     one ret per action
//! ```
//!
//! As in libseccomp, an x86_64 call numbered `__X32_SYSCALL_BIT` or above is an x32 call:
//! judged by the x32 rules when `SCMP_ARCH_X32` is listed, by the bad-architecture
//! action when it is not; without `SCMP_ARCH_X86_64`, x86_64 calls (bit clear) get the
//! bad-architecture action. The bad-architecture action is `KILL_PROCESS` (libseccomp
//! defaults to killing the thread; only a process whose ABI the profile does not list
//! can meet it).
//!
//! Each tree is a binary search over the syscall number: the rules become ranges of
//! consecutive numbers with one action (the default fills the gaps), and every node is
//! one `jge`, so a call costs about log2(ranges) + 5 instructions whatever the length
//! of the list. Classic BPF jumps only forward, and a conditional jump at most 255
//! instructions: the program is written from the end, so every target is known when a
//! jump to it is written, and a target further away gets a nearby copy of its `ret`
//! (or a `ja`, whose offset has 32 bits) to jump to instead.
//!
//! # Names
//!
//! Every name is looked up in the table of each listed ABI ([`crate::tables`]). A name
//! no listed ABI has is an error ([`FilterError::UnknownSyscalls`]); a name some ABIs
//! lack (`newfstatat` is `fstatat64` on i386) has no rule there, as in libseccomp: no
//! program can make that call through that ABI. [`Filter::absent`] lists them.

use super::{ARCHITECTURES, Profile, ScmpAction};
use crate::tables::{self, X32_SYSCALL_BIT};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// `BPF_MAXINSNS`: the longest program the kernel accepts.
pub const MAX_INSNS: usize = 4096;

/// `AUDIT_ARCH_X86_64` (also the architecture of x32 calls).
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `AUDIT_ARCH_I386`.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// The largest errno the kernel passes on (`MAX_ERRNO`); larger ones are clamped.
pub const MAX_ERRNO: u32 = 4095;

// Classic BPF opcodes (linux/bpf_common.h, linux/filter.h).
const BPF_LD: u16 = 0x00;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_W: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_K: u16 = 0x00;
const BPF_JA: u16 = 0x00;
const BPF_JEQ: u16 = 0x10;
const BPF_JGT: u16 = 0x20;
const BPF_JGE: u16 = 0x30;
const BPF_JSET: u16 = 0x40;
/// `ld [k]`: a 32-bit word of `seccomp_data`.
pub const LD_ABS: u16 = BPF_LD | BPF_W | BPF_ABS;
/// `ja k`.
pub const JA: u16 = BPF_JMP | BPF_JA;
/// `jeq #k, jt, jf`.
pub const JEQ: u16 = BPF_JMP | BPF_JEQ | BPF_K;
/// `jge #k, jt, jf`.
pub const JGE: u16 = BPF_JMP | BPF_JGE | BPF_K;
/// `ret #k`.
pub const RET: u16 = BPF_RET | BPF_K;

/// Offset of `nr` in `struct seccomp_data`.
pub const OFF_NR: u32 = 0;
/// Offset of `arch` in `struct seccomp_data`.
pub const OFF_ARCH: u32 = 4;

/// One classic-BPF instruction, `struct sock_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Offset of the true branch (conditional jumps).
    pub jt: u8,
    /// Offset of the false branch (conditional jumps).
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

impl Insn {
    const fn stmt(code: u16, k: u32) -> Insn {
        Insn { code, jt: 0, jf: 0, k }
    }
}

impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            LD_ABS => write!(f, "ld [{}]", self.k),
            JA => write!(f, "ja +{}", self.k),
            JEQ => write!(f, "jeq #{:#x}, +{}, +{}", self.k, self.jt, self.jf),
            JGE => write!(f, "jge #{:#x}, +{}, +{}", self.k, self.jt, self.jf),
            RET => write!(f, "ret #{:#x}", self.k),
            c => write!(f, "op {c:#x} {}, {}, {:#x}", self.jt, self.jf, self.k),
        }
    }
}

/// An ABI of the x86_64 kernel a profile lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// `SCMP_ARCH_X86_64`.
    X86_64,
    /// `SCMP_ARCH_X86` (32-bit x86, i386).
    X86,
    /// `SCMP_ARCH_X32`.
    X32,
}

impl Arch {
    /// The ABI of an OCI/libseccomp architecture name.
    pub fn from_name(name: &str) -> Option<Arch> {
        match name {
            "SCMP_ARCH_X86_64" => Some(Arch::X86_64),
            "SCMP_ARCH_X86" => Some(Arch::X86),
            "SCMP_ARCH_X32" => Some(Arch::X32),
            _ => None,
        }
    }

    /// The OCI/libseccomp name.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::X86 => "SCMP_ARCH_X86",
            Arch::X32 => "SCMP_ARCH_X32",
        }
    }

    /// The number the kernel puts in `seccomp_data.nr` for this call (x32: the bit included).
    pub fn number(self, name: &str) -> Option<u32> {
        match self {
            Arch::X86_64 => tables::syscall_number(name),
            Arch::X86 => tables::syscall_number_x86(name),
            Arch::X32 => tables::syscall_number_x32(name),
        }
    }
}

/// What a filter returns for a call (`SECCOMP_RET_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ret {
    /// `SECCOMP_RET_KILL_PROCESS`: the process dies of `SIGSYS`.
    KillProcess,
    /// `SECCOMP_RET_KILL_THREAD` (libseccomp's `SCMP_ACT_KILL`).
    KillThread,
    /// `SECCOMP_RET_TRAP`: `SIGSYS` is delivered to the thread.
    Trap,
    /// `SECCOMP_RET_ERRNO`: the call fails with this errno (at most [`MAX_ERRNO`]).
    Errno(u16),
    /// `SECCOMP_RET_LOG`: the call runs and the kernel logs it.
    Log,
    /// `SECCOMP_RET_ALLOW`.
    Allow,
}

impl Ret {
    /// The 32-bit value the filter returns.
    pub fn value(self) -> u32 {
        match self {
            Ret::KillProcess => 0x8000_0000,
            Ret::KillThread => 0,
            Ret::Trap => 0x0003_0000,
            Ret::Errno(e) => 0x0005_0000 | u32::from(e),
            Ret::Log => 0x7ffc_0000,
            Ret::Allow => 0x7fff_0000,
        }
    }

    /// The action of a filter's return value (the data of `TRAP` is dropped).
    pub fn from_value(v: u32) -> Option<Ret> {
        Some(match v & 0xffff_0000 {
            0x8000_0000 => Ret::KillProcess,
            0 => Ret::KillThread,
            0x0003_0000 => Ret::Trap,
            0x0005_0000 => Ret::Errno(u16::try_from(v & 0xffff).ok()?),
            0x7ffc_0000 => Ret::Log,
            0x7fff_0000 => Ret::Allow,
            _ => return None,
        })
    }

    /// The action of a profile.
    ///
    /// # Errors
    /// [`FilterError::Errno`] when the errno is above [`MAX_ERRNO`].
    pub fn of(a: ScmpAction, what: &str) -> Result<Ret, FilterError> {
        Ok(match a {
            ScmpAction::Allow => Ret::Allow,
            ScmpAction::Log => Ret::Log,
            ScmpAction::Errno(e) => Ret::Errno(errno(e, what)?),
        })
    }
}

fn errno(e: u32, what: &str) -> Result<u16, FilterError> {
    match u16::try_from(e) {
        Ok(v) if e <= MAX_ERRNO => Ok(v),
        _ => Err(FilterError::Errno { what: what.to_string(), errno: e }),
    }
}

/// Why no filter could be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Names that no listed ABI has, sorted.
    #[error("unknown system calls (in none of {arches}): {}", names.join(", "))]
    UnknownSyscalls {
        /// The names.
        names: Vec<String>,
        /// The listed ABIs, for the message.
        arches: String,
    },
    /// An errno the kernel would not return.
    #[error("{what}: errno {errno} is above {MAX_ERRNO}, the largest the kernel returns")]
    Errno {
        /// Where it was (`defaultErrnoRet`, `syscalls[2].errnoRet`).
        what: String,
        /// The value.
        errno: u32,
    },
    /// An architecture other than the three of x86_64.
    #[error("architectures: {0} is not an ABI of x86_64 (SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32)")]
    UnknownArch(String),
    /// No architecture listed.
    #[error("architectures: none listed; the filter would refuse every call")]
    NoArch,
    /// A profile field this generator does not read.
    #[error("{field}: {why}")]
    Unsupported {
        /// The field (`syscalls[0].args`).
        field: String,
        /// Why.
        why: String,
    },
    /// Two different actions for one syscall.
    #[error("syscall {name}: two actions ({first:?} and {second:?})")]
    Conflict {
        /// The name.
        name: String,
        /// The first action.
        first: Ret,
        /// The other action.
        second: Ret,
    },
    /// The program is longer than the kernel accepts.
    #[error("the filter has {len} instructions; the kernel accepts at most {MAX_INSNS}")]
    TooLong {
        /// Its length.
        len: usize,
    },
}

/// A filter ready for `seccomp(SECCOMP_SET_MODE_FILTER)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// The program.
    pub program: Vec<Insn>,
    /// Syscalls some listed ABI does not have, with that ABI (no rule there).
    pub absent: Vec<(Arch, String)>,
    /// How many syscalls have a rule.
    pub rules: usize,
}

impl Filter {
    /// The program as the kernel's `struct sock_filter` array (8 bytes per instruction,
    /// native byte order).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.program.len() * 8);
        for i in &self.program {
            out.extend_from_slice(&i.code.to_ne_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_ne_bytes());
        }
        out
    }

    /// The program of [`Filter::to_bytes`]; checked with [`check`].
    ///
    /// # Errors
    /// A message when the length is not a multiple of 8 or the program is not valid.
    pub fn program_from_bytes(bytes: &[u8]) -> Result<Vec<Insn>, String> {
        if !bytes.len().is_multiple_of(8) {
            return Err(format!("{} bytes is not a whole number of instructions", bytes.len()));
        }
        let program: Vec<Insn> = bytes
            .chunks_exact(8)
            .map(|c| Insn {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        check(&program)?;
        Ok(program)
    }
}

/// The filter of a profile (the architectures of every polc profile, [`ARCHITECTURES`]).
///
/// # Errors
/// See [`FilterError`].
pub fn of_profile(profile: &Profile) -> Result<Filter, FilterError> {
    let arches =
        ARCHITECTURES.iter().map(|a| Arch::from_name(a).ok_or_else(|| FilterError::UnknownArch(a.to_string())));
    let arches = arches.collect::<Result<Vec<_>, _>>()?;
    let default = Ret::of(profile.default, "defaultAction")?;
    let mut rules = Vec::new();
    for (name, a) in &profile.rules {
        rules.push((name.clone(), Ret::of(*a, &format!("syscall {name}"))?));
    }
    generate(default, &arches, &rules)
}

/// The filter of an OCI runtime-spec `linux.seccomp` object: `defaultAction`,
/// `defaultErrnoRet`, `architectures` and `syscalls` entries of `names`, `action` and
/// `errnoRet` (runc's reading: an `SCMP_ACT_ERRNO` without errno is `EPERM`). Argument
/// filters, notification and flags are refused, not ignored.
///
/// # Errors
/// See [`FilterError`]; fields are named as in the JSON (`syscalls[3].action`).
pub fn of_oci(v: &Value) -> Result<Filter, FilterError> {
    let unsupported = |field: &str, why: &str| FilterError::Unsupported { field: field.into(), why: why.into() };
    let obj = v.as_object().ok_or_else(|| unsupported("(profile)", "not a JSON object"))?;
    for key in obj.keys() {
        if !matches!(key.as_str(), "defaultAction" | "defaultErrnoRet" | "architectures" | "syscalls") {
            return Err(unsupported(key, "not read by polc's filter generator"));
        }
    }
    let action = |field: &str, name: Option<&Value>, errno_ret: Option<&Value>| -> Result<Ret, FilterError> {
        let name = name.and_then(Value::as_str).ok_or_else(|| unsupported(field, "missing or not a string"))?;
        let errno_field = match field.strip_suffix("Action") {
            Some(prefix) => format!("{prefix}ErrnoRet"),
            None => format!("{}errnoRet", field.strip_suffix("action").unwrap_or(field)),
        };
        Ok(match name {
            "SCMP_ACT_ALLOW" => Ret::Allow,
            "SCMP_ACT_LOG" => Ret::Log,
            "SCMP_ACT_TRAP" => Ret::Trap,
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Ret::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Ret::KillProcess,
            "SCMP_ACT_ERRNO" => {
                let e = match errno_ret {
                    None => 1,
                    Some(e) => {
                        let e = e.as_u64().ok_or_else(|| unsupported(&errno_field, "not a number"))?;
                        u32::try_from(e).unwrap_or(u32::MAX)
                    }
                };
                Ret::Errno(errno(e, &errno_field)?)
            }
            other => return Err(unsupported(field, &format!("action {other} is not supported"))),
        })
    };
    let default = action("defaultAction", obj.get("defaultAction"), obj.get("defaultErrnoRet"))?;
    let mut arches = Vec::new();
    for a in obj.get("architectures").and_then(Value::as_array).into_iter().flatten() {
        let name = a.as_str().unwrap_or_default();
        arches.push(Arch::from_name(name).ok_or_else(|| FilterError::UnknownArch(a.to_string()))?);
    }
    let mut rules = Vec::new();
    let entries = match obj.get("syscalls") {
        None => &Vec::new(),
        Some(e) => e.as_array().ok_or_else(|| unsupported("syscalls", "not a list"))?,
    };
    for (i, e) in entries.iter().enumerate() {
        let field = format!("syscalls[{i}]");
        let e = e.as_object().ok_or_else(|| unsupported(&field, "not an object"))?;
        for key in e.keys() {
            match key.as_str() {
                "names" | "action" | "errnoRet" => {}
                "args" if e.get("args").and_then(Value::as_array).is_none_or(Vec::is_empty) => {}
                k => return Err(unsupported(&format!("{field}.{k}"), "not supported by polc's filter generator")),
            }
        }
        let act = action(&format!("{field}.action"), e.get("action"), e.get("errnoRet"))?;
        let names = e.get("names").and_then(Value::as_array).ok_or_else(|| unsupported(&field, "no names"))?;
        for n in names {
            let n = n.as_str().ok_or_else(|| unsupported(&format!("{field}.names"), "a name is not a string"))?;
            rules.push((n.to_string(), act));
        }
    }
    generate(default, &arches, &rules)
}

/// The filter of a default action and per-syscall actions on the listed ABIs. Rules
/// whose action is the default add nothing; one name with two different actions is
/// an error ([`FilterError::Conflict`]).
///
/// # Errors
/// See [`FilterError`].
pub fn generate(default: Ret, arches: &[Arch], rules: &[(String, Ret)]) -> Result<Filter, FilterError> {
    if arches.is_empty() {
        return Err(FilterError::NoArch);
    }
    let mut by_name: BTreeMap<&str, Ret> = BTreeMap::new();
    for (name, r) in rules {
        if let Some(first) = by_name.insert(name, *r)
            && first != *r
        {
            return Err(FilterError::Conflict { name: name.clone(), first, second: *r });
        }
    }
    let has = |a: Arch| arches.contains(&a);
    let mut unknown = Vec::new();
    let mut absent = Vec::new();
    let mut numbers: BTreeMap<Arch, BTreeMap<u32, Ret>> = BTreeMap::new();
    for (&name, &r) in &by_name {
        let mut found = false;
        for &a in [Arch::X86_64, Arch::X86, Arch::X32].iter().filter(|a| has(**a)) {
            match a.number(name) {
                Some(n) => {
                    found = true;
                    if r != default {
                        numbers.entry(a).or_default().insert(n, r);
                    }
                }
                None => absent.push((a, name.to_string())),
            }
        }
        if !found {
            unknown.push(name.to_string());
        }
    }
    if !unknown.is_empty() {
        let arches = arches.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ");
        return Err(FilterError::UnknownSyscalls { names: unknown, arches });
    }
    absent.sort();
    let rules = by_name.values().filter(|r| **r != default).count();

    let mut e = Emitter::default();
    let bad_arch = e.ret(Ret::KillProcess);
    e.ret(default);
    let mut tree = |e: &mut Emitter, a: Arch| e.tree(&segments(default, numbers.remove(&a).unwrap_or_default()));
    let i386 = if has(Arch::X86) {
        let root = tree(&mut e, Arch::X86);
        e.fall_into(root);
        Some(e.push(Insn::stmt(LD_ABS, OFF_NR)))
    } else {
        None
    };
    let x32 = if has(Arch::X32) { tree(&mut e, Arch::X32) } else { bad_arch };
    let x64 = if has(Arch::X86_64) { tree(&mut e, Arch::X86_64) } else { bad_arch };
    e.cond(JGE, X32_SYSCALL_BIT, x32, x64);
    let x86_64_head = e.push(Insn::stmt(LD_ABS, OFF_NR));
    let not_x86_64 = match i386 {
        Some(head) => e.cond(JEQ, AUDIT_ARCH_I386, head, bad_arch),
        None => bad_arch,
    };
    e.cond(JEQ, AUDIT_ARCH_X86_64, x86_64_head, not_x86_64);
    e.push(Insn::stmt(LD_ABS, OFF_ARCH));
    let program: Vec<Insn> = e.rev.into_iter().rev().collect();
    if program.len() > MAX_INSNS {
        return Err(FilterError::TooLong { len: program.len() });
    }
    Ok(Filter { program, absent, rules })
}

/// The partition of all numbers into `(first number, action)`, ascending, neighbours
/// with different actions.
fn segments(default: Ret, numbers: BTreeMap<u32, Ret>) -> Vec<(u32, Ret)> {
    fn set(segs: &mut Vec<(u32, Ret)>, start: u32, r: Ret) {
        match segs.last_mut() {
            Some(last) if last.0 == start => last.1 = r,
            _ => segs.push((start, r)),
        }
        if let [.., (_, a), (_, b)] = segs.as_slice()
            && a == b
        {
            segs.pop();
        }
    }
    let mut segs = vec![(0, default)];
    for (n, r) in numbers {
        set(&mut segs, n, r);
        if let Some(after) = n.checked_add(1) {
            set(&mut segs, after, default);
        }
    }
    segs
}

/// Writes a program from its end. A label is an instruction's distance from the end
/// (1 = the last instruction).
#[derive(Default)]
struct Emitter {
    rev: Vec<Insn>,
    /// The nearest `ret` of each value written so far.
    rets: HashMap<u32, usize>,
}

impl Emitter {
    fn push(&mut self, i: Insn) -> usize {
        self.rev.push(i);
        if i.code == RET {
            self.rets.insert(i.k, self.rev.len());
        }
        self.rev.len()
    }

    /// The label of a `ret` of `r` (reusing the nearest).
    fn ret(&mut self, r: Ret) -> usize {
        match self.rets.get(&r.value()) {
            Some(&l) => l,
            None => self.push(Insn::stmt(RET, r.value())),
        }
    }

    /// The offset from the next instruction written to `target`.
    fn offset(&self, target: usize) -> usize {
        self.rev.len() - target
    }

    /// A label at most 255 instructions after the next one that leads to `target`.
    fn near(&mut self, target: usize) -> usize {
        match self.rev.get(target - 1) {
            Some(i) if i.code == RET => self.push(*i),
            _ => {
                let k = u32::try_from(self.offset(target)).unwrap_or(u32::MAX);
                self.push(Insn::stmt(JA, k))
            }
        }
    }

    /// Write `code #k, jt, jf`, with nearby stand-ins for targets out of reach.
    fn cond(&mut self, code: u16, k: u32, mut jt: usize, mut jf: usize) -> usize {
        const REACH: usize = u8::MAX as usize;
        loop {
            if self.offset(jt) > REACH {
                jt = self.near(jt);
            } else if self.offset(jf) > REACH {
                jf = self.near(jf);
            } else {
                break;
            }
        }
        let (t, f) = (self.offset(jt), self.offset(jf));
        self.push(Insn { code, jt: u8::try_from(t).unwrap_or(0), jf: u8::try_from(f).unwrap_or(0), k })
    }

    /// Make `target` the instruction right after the next one written.
    fn fall_into(&mut self, target: usize) {
        if target != self.rev.len() {
            self.near(target);
        }
    }

    /// The binary search over `segs`; returns its root.
    fn tree(&mut self, segs: &[(u32, Ret)]) -> usize {
        match segs {
            [] => self.ret(Ret::KillProcess),
            [(_, r)] => self.ret(*r),
            _ => {
                let mid = segs.len() / 2;
                let right = self.tree(&segs[mid..]);
                let left = self.tree(&segs[..mid]);
                self.cond(JGE, segs[mid].0, right, left)
            }
        }
    }
}

/// Check a program as the kernel's `seccomp_check_filter` and `bpf_check_classic`
/// would, for the instructions this generator writes and libseccomp's: every jump
/// lands inside the program, loads read aligned words of `seccomp_data`, the last
/// instruction returns.
///
/// # Errors
/// What is wrong, with the instruction's index.
pub fn check(program: &[Insn]) -> Result<(), String> {
    if program.is_empty() || program.len() > MAX_INSNS {
        return Err(format!("{} instructions (1 to {MAX_INSNS})", program.len()));
    }
    for (pc, i) in program.iter().enumerate() {
        let lands = |off: usize| pc + 1 + off < program.len();
        let ok = match i.code {
            LD_ABS => i.k < 64 && i.k.is_multiple_of(4),
            JA => lands(i.k as usize),
            c if c & 0x07 == BPF_JMP && matches!(c & 0xf0, BPF_JEQ | BPF_JGT | BPF_JGE | BPF_JSET) && c & 0x08 == 0 => {
                lands(usize::from(i.jt)) && lands(usize::from(i.jf))
            }
            RET => true,
            _ => false,
        };
        if !ok {
            return Err(format!("instruction {pc} ({i}) is not valid here"));
        }
    }
    match program.last() {
        Some(i) if i.code == RET => Ok(()),
        _ => Err("the last instruction does not return".into()),
    }
}

/// Run a program on one call (`nr`, `arch`), as the kernel would; for tests and for
/// comparing with libseccomp's programs. Supports what [`check`] accepts.
///
/// # Errors
/// When the program runs off its end or meets an instruction [`check`] refuses.
pub fn eval(program: &[Insn], arch: u32, nr: u32) -> Result<u32, String> {
    let mut pc = 0usize;
    let mut a: u32 = 0;
    loop {
        let Some(i) = program.get(pc) else { return Err(format!("ran off the end at {pc}")) };
        pc += 1;
        match i.code {
            LD_ABS => {
                a = match i.k {
                    OFF_NR => nr,
                    OFF_ARCH => arch,
                    _ => 0,
                }
            }
            JA => pc += i.k as usize,
            c if c & 0x07 == BPF_JMP && c & 0x08 == 0 => {
                let taken = match c & 0xf0 {
                    BPF_JEQ => a == i.k,
                    BPF_JGT => a > i.k,
                    BPF_JGE => a >= i.k,
                    BPF_JSET => a & i.k != 0,
                    _ => return Err(format!("instruction {} ({i}) is not supported", pc - 1)),
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            RET => return Ok(i.k),
            _ => return Err(format!("instruction {} ({i}) is not supported", pc - 1)),
        }
    }
}

#[cfg(test)]
mod tests;
