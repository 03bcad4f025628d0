//! The C header and the Rust mirror agree: every size, alignment, field offset,
//! integer constant, map and program name, and the inline decision helpers.
//!
//! Two compiles of `ebpf-lsm/include/polc_abi.h` with clang:
//! - `-target bpf -O2 -g -c` with `_Static_assert`s generated from the Rust layout
//!   (and a minimal vmlinux.h-style prelude, as the eBPF programs will have);
//! - the host target with `<linux/types.h>`, built and run: it prints names, layouts
//!   and helper results, compared line by line with what Rust expects.
//!
//! Both use `-Wall -Wpadded -Werror`, so implicit padding in the header fails too.
//! clang is required: the test fails, never skips, without it (`apt-get install clang`;
//! `POLC_CLANG` names another binary).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use polc_abi::{CONSTANTS, Decision, InfixCand, LAYOUTS, MAPS, PROGRAMS, action, decision_beats, rest, rest_class};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ebpf-lsm/include")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("polc-abi-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn clang() -> String {
    std::env::var("POLC_CLANG").unwrap_or_else(|_| "clang".to_string())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}; clang is required for this test (apt-get install clang)"));
    assert!(out.status.success(), "{cmd:?} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn static_asserts() -> String {
    let mut s = String::new();
    for l in LAYOUTS {
        let t = format!("struct {}", l.c_name);
        writeln!(s, "_Static_assert(sizeof({t}) == {}, \"sizeof {t}\");", l.size).unwrap();
        writeln!(s, "_Static_assert(_Alignof({t}) == {}, \"alignof {t}\");", l.align).unwrap();
        for (f, off) in l.fields {
            writeln!(s, "_Static_assert(__builtin_offsetof({t}, {f}) == {off}, \"offsetof {t}.{f}\");").unwrap();
        }
    }
    for (name, v) in CONSTANTS {
        writeln!(s, "_Static_assert(({name}) == {v}ULL, \"{name}\");").unwrap();
    }
    s
}

#[test]
fn bpf_target_layout_matches_rust() {
    let dir = scratch("bpf");
    let src = dir.join("check.c");
    let prelude = "#define __VMLINUX_H__\n\
        typedef unsigned char __u8;\ntypedef unsigned short __u16;\ntypedef unsigned int __u32;\n\
        typedef unsigned long long __u64;\ntypedef signed int __s32;\ntypedef __u16 __be16;\nstruct bpf_spin_lock { __u32 val; };\n";
    let body =
        format!("{prelude}#include \"polc_abi.h\"\n{}\nint polc_check(void) {{ return 0; }}\n", static_asserts());
    std::fs::write(&src, body).unwrap();
    run(Command::new(clang())
        .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Wpadded", "-Werror", "-c", "-I"])
        .arg(include_dir())
        .arg(&src)
        .arg("-o")
        .arg(dir.join("check.o")));
    assert!(dir.join("check.o").is_file());
}

/// The C program that prints everything, and the text Rust expects from it.
fn dumper() -> (String, String) {
    let mut c = String::from("#include <stdio.h>\n#include <stddef.h>\n#include \"polc_abi.h\"\n");
    c.push_str(&static_asserts());
    c.push_str("int main(void) {\n");
    let mut want = String::new();
    for m in MAPS {
        writeln!(c, "printf(\"map %s\\n\", {});", m.c_define).unwrap();
        writeln!(want, "map {}", m.name).unwrap();
    }
    for p in PROGRAMS {
        writeln!(c, "printf(\"prog %s %s\\n\", {}, {});", p.c_define, p.c_section_define).unwrap();
        writeln!(want, "prog {} {}", p.name, p.section).unwrap();
    }
    for l in LAYOUTS {
        let t = format!("struct {}", l.c_name);
        writeln!(c, "printf(\"size {} %zu %zu\\n\", sizeof({t}), _Alignof({t}));", l.c_name).unwrap();
        writeln!(want, "size {} {} {}", l.c_name, l.size, l.align).unwrap();
        for (f, off) in l.fields {
            writeln!(c, "printf(\"field {}.{f} %zu\\n\", offsetof({t}, {f}));", l.c_name).unwrap();
            writeln!(want, "field {}.{f} {off}", l.c_name).unwrap();
        }
    }
    for (name, v) in CONSTANTS {
        writeln!(c, "printf(\"const {name} %llu\\n\", (unsigned long long)({name}));").unwrap();
        writeln!(want, "const {name} {v}").unwrap();
    }
    // The decision helpers, on a table of cases.
    let ds = [(0, 9, 2), (1, 5, 0), (1, 5, 2), (2, 5, 2), (9, 5, 1), (9, 6, 0)];
    let mk = |(id, rank, w): (u32, u32, u8)| Decision { rule_id: id, rank, action: w, written: w, pad: [0; 2] };
    for a in ds {
        for b in ds {
            writeln!(
                c,
                "{{ struct polc_decision a = {{ {}, {}, {}, {}, {{0, 0}} }}, b = {{ {}, {}, {}, {}, {{0, 0}} }}; \
                 printf(\"beats %d\\n\", polc_decision_beats(&a, &b)); }}",
                a.0, a.1, a.2, a.2, b.0, b.1, b.2, b.2
            )
            .unwrap();
            writeln!(want, "beats {}", u8::from(decision_beats(&mk(a), &mk(b)))).unwrap();
        }
    }
    for (m, len, ls) in [(4u32, 4u32, 3i32), (5, 9, 4), (5, 9, 6), (0, 3, -1), (9, 3, 1)] {
        writeln!(c, "printf(\"rest %d\\n\", polc_rest({m}, {len}, {ls}));").unwrap();
        let r = rest(m, len, u32::try_from(ls).ok());
        writeln!(want, "rest {r}").unwrap();
    }
    assert_eq!(rest(4, 4, Some(3)), rest_class::EQUAL);
    for (min, max, sl, len, n) in
        [(9u16, 9u16, 2u16, 9u32, 2u32), (9, 9, 2, 10, 2), (5, 0xffff, 0xffff, 40, 7), (5, 0xffff, 3, 40, 2)]
    {
        writeln!(
            c,
            "{{ struct polc_infix_cand x = {{ {{ 1, 0, 0, 0, {{0, 0}} }}, {min}, {max}, {sl}, 0 }}; \
             printf(\"fits %d\\n\", polc_infix_fits(&x, {len}, {n})); }}"
        )
        .unwrap();
        let cand = InfixCand {
            decision: Decision { rule_id: 1, rank: 0, action: action::ALLOW, written: action::ALLOW, pad: [0; 2] },
            min_len: min,
            max_len: max,
            slashes: sl,
            pad: 0,
        };
        writeln!(want, "fits {}", u8::from(cand.fits(len, n))).unwrap();
    }
    // The eight-bytes-at-a-time scans, against a byte-by-byte reading: words of '/',
    // '.' (0x2e, which the inexact zero-byte trick flags above a '/'), '0' (0x30), 0x01, 0xaf
    // ('/' with the top bit), 0xff and letters, in every position.
    let alphabet = [b'/', b'.', 0x01, 0xaf, 0xff, b'a', 0x00, b'0'];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for n in 0..2000 {
        let w: [u8; 8] = std::array::from_fn(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if n < 8 { if i == n { b'/' } else { b'.' } } else { alphabet[(x % alphabet.len() as u64) as usize] }
        });
        let v = u64::from_le_bytes(w);
        writeln!(
            c,
            "{{ __u64 m = polc_slash_bytes({v}ULL); printf(\"slash %llx %u %u\\n\", (unsigned long long)m, \
             m ? polc_top_byte(m) : 99u, polc_count_bytes(m)); }}"
        )
        .unwrap();
        let mask: u64 = w.iter().enumerate().filter(|(_, b)| **b == b'/').map(|(i, _)| 0x80u64 << (8 * i)).sum();
        let last = w.iter().rposition(|b| *b == b'/').map_or(99, |i| i as u32);
        let count = w.iter().filter(|b| **b == b'/').count();
        writeln!(want, "slash {mask:x} {last} {count}").unwrap();
    }
    c.push_str("return 0;\n}\n");
    (c, want)
}

#[test]
fn host_target_layout_names_and_helpers_match_rust() {
    let dir = scratch("host");
    let (c, want) = dumper();
    let src = dir.join("dump.c");
    std::fs::write(&src, c).unwrap();
    let exe = dir.join("dump");
    run(Command::new(clang())
        .args(["-O2", "-Wall", "-Wpadded", "-Werror", "-I"])
        .arg(include_dir())
        .arg(&src)
        .arg("-o")
        .arg(&exe));
    let got = run(&mut Command::new(&exe));
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "line {} of the C dump differs from Rust", i + 1);
    }
    assert_eq!(got.lines().count(), want.lines().count(), "C printed:\n{got}");
}

#[test]
fn header_declares_every_map_and_program() {
    let h = std::fs::read_to_string(include_dir().join("polc_abi.h")).unwrap();
    assert!(h.starts_with("/* SPDX-License-Identifier: "), "the header needs an SPDX line");
    for m in MAPS {
        assert!(h.contains(&format!("#define {} \"{}\"", m.c_define, m.name)), "{}", m.c_define);
    }
    for l in LAYOUTS {
        assert!(h.contains(&format!("struct {} {{", l.c_name)), "{}", l.c_name);
    }
}
