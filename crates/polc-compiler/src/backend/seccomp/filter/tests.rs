use super::*;
use crate::backend::seccomp::{ENOSYS, EPERM};
use crate::tables::{SYSCALLS_X32, SYSCALLS_X86, SYSCALLS_X86_64};

const ALL: [Arch; 3] = [Arch::X86_64, Arch::X86, Arch::X32];

fn rules(list: &[(&str, Ret)]) -> Vec<(String, Ret)> {
    list.iter().map(|(n, r)| (n.to_string(), *r)).collect()
}

fn decide(f: &Filter, arch: u32, nr: u32) -> Ret {
    let v = eval(&f.program, arch, nr).unwrap_or_else(|e| panic!("arch {arch:#x} nr {nr}: {e}"));
    Ret::from_value(v).unwrap_or_else(|| panic!("unknown return {v:#x}"))
}

/// What the filter must decide, computed from the tables directly (`numbers`: the
/// rules by ABI and number).
fn expected(default: Ret, arches: &[Arch], numbers: &HashMap<(Arch, u32), Ret>, arch: u32, nr: u32) -> Ret {
    let abi = match arch {
        // As libseccomp: every number from the bit up (negative ones too) is x32.
        AUDIT_ARCH_X86_64 if nr >= X32_SYSCALL_BIT => Arch::X32,
        AUDIT_ARCH_X86_64 => Arch::X86_64,
        AUDIT_ARCH_I386 => Arch::X86,
        _ => return Ret::KillProcess,
    };
    if !arches.contains(&abi) {
        return Ret::KillProcess;
    }
    numbers.get(&(abi, nr)).copied().unwrap_or(default)
}

/// Every number of every table, their neighbours and the edges, on every architecture.
fn probes() -> Vec<(u32, u32)> {
    let mut nrs: Vec<u32> = (0..=1100).collect();
    nrs.extend((0..=1100).map(|n| n | X32_SYSCALL_BIT));
    nrs.extend([X32_SYSCALL_BIT - 1, u32::MAX, u32::MAX - 1, 0x8000_0000]);
    let mut out = Vec::new();
    for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, 0xC000_00B7 /* aarch64 */, 0] {
        out.extend(nrs.iter().map(|&n| (arch, n)));
    }
    out
}

fn assert_decisions(default: Ret, arches: &[Arch], rules: &[(String, Ret)]) -> Filter {
    let f = generate(default, arches, rules).unwrap();
    check(&f.program).unwrap();
    let mut numbers = HashMap::new();
    for (name, r) in rules {
        for a in ALL {
            if let Some(n) = a.number(name) {
                numbers.insert((a, n), *r);
            }
        }
    }
    for (arch, nr) in probes() {
        assert_eq!(decide(&f, arch, nr), expected(default, arches, &numbers, arch, nr), "arch {arch:#x} nr {nr:#x}");
    }
    f
}

#[test]
fn small_profile_layout() {
    // read (0) and write (1) form one range; getpid (39) is logged; default EPERM.
    let f = generate(
        Ret::Errno(1),
        &[Arch::X86_64],
        &rules(&[("write", Ret::Allow), ("read", Ret::Allow), ("getpid", Ret::Log)]),
    )
    .unwrap();
    let text: Vec<String> = f.program.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "ld [4]",
            "jeq #0xc000003e, +0, +8", // not x86_64 -> kill
            "ld [0]",
            "jge #0x40000000, +6, +0", // x32 not listed -> kill
            // segments: [0,2) allow, [2,39) errno, [39,40) log, [40,..) errno
            "jge #0x27, +2, +0",
            "jge #0x2, +3, +0",
            "ret #0x7fff0000",
            "jge #0x28, +1, +0",
            "ret #0x7ffc0000",
            "ret #0x50001", // shared by both errno ranges and the default
            "ret #0x80000000",
        ]
    );
    assert_eq!(f.rules, 3);
    assert!(f.absent.is_empty());
}

#[test]
fn decisions_on_every_abi() {
    let r = rules(&[
        ("read", Ret::Allow),
        ("readv", Ret::Allow), // 19 on x86_64, 145 on i386, 515|bit on x32
        ("mkdir", Ret::Errno(13)),
        ("mmap2", Ret::Allow), // i386 only
        ("newfstatat", Ret::Log),
        ("getppid", Ret::KillProcess),
        ("gettid", Ret::KillThread),
        ("uname", Ret::Trap),
        ("clone3", Ret::Errno(ENOSYS as u16)),
    ]);
    for default in [Ret::Errno(EPERM as u16), Ret::Allow, Ret::Log, Ret::KillProcess] {
        for arches in [&ALL[..], &[Arch::X86_64], &[Arch::X32], &[Arch::X86], &[Arch::X86_64, Arch::X32]] {
            let known: Vec<(String, Ret)> =
                r.iter().filter(|(n, _)| arches.iter().any(|a| a.number(n).is_some())).cloned().collect();
            assert_decisions(default, arches, &known);
        }
    }
    let f = generate(Ret::Errno(1), &ALL, &r).unwrap();
    assert_eq!(decide(&f, AUDIT_ARCH_X86_64, 83), Ret::Errno(13), "mkdir on x86_64");
    assert_eq!(decide(&f, AUDIT_ARCH_I386, 39), Ret::Errno(13), "mkdir on i386");
    assert_eq!(decide(&f, AUDIT_ARCH_X86_64, 83 | X32_SYSCALL_BIT), Ret::Errno(13), "mkdir on x32");
    assert_eq!(decide(&f, AUDIT_ARCH_X86_64, 19 | X32_SYSCALL_BIT), Ret::Errno(1), "x86_64-only readv number on x32");
    assert_eq!(decide(&f, AUDIT_ARCH_X86_64, 515 | X32_SYSCALL_BIT), Ret::Allow, "x32 readv");
    assert_eq!(decide(&f, 0xC000_00B7, 0), Ret::KillProcess, "foreign architecture");
    assert_eq!(
        f.absent,
        vec![
            (Arch::X86_64, "mmap2".to_string()),
            (Arch::X86, "newfstatat".to_string()),
            (Arch::X32, "mmap2".to_string())
        ]
    );
}

#[test]
fn large_lists_stay_within_jump_range() {
    // Every syscall of every ABI, actions alternating by name: the most ranges there
    // can be, so the trees are big and the shared returns far from most jumps.
    let mut names: Vec<&str> =
        SYSCALLS_X86_64.iter().chain(SYSCALLS_X86).chain(SYSCALLS_X32).map(|(n, _)| *n).collect();
    names.sort_unstable();
    names.dedup();
    let acts = [Ret::Allow, Ret::Errno(1), Ret::Log, Ret::Errno(95), Ret::Trap];
    let r: Vec<(String, Ret)> = names.iter().enumerate().map(|(i, n)| (n.to_string(), acts[i % acts.len()])).collect();
    assert!(r.len() > 440, "{}", r.len());
    let f = assert_decisions(Ret::KillThread, &ALL, &r);
    assert!(f.program.len() > 3 * 255, "long enough to need far jumps: {}", f.program.len());
    assert!(f.program.len() <= MAX_INSNS);
    // Far targets got stand-ins: some return appears more than once per value.
    let rets = f.program.iter().filter(|i| i.code == RET).count();
    assert!(rets > acts.len() + 2, "{rets} returns");
    // The binary search keeps every path short.
    let longest = (0..600u32).map(|nr| steps(&f.program, AUDIT_ARCH_X86_64, nr)).max().unwrap_or(0);
    assert!(longest <= 20, "{longest} instructions for one call");
    eprintln!("every ABI, alternating actions: {} instructions, longest path {longest}", f.program.len());
    // Allow-list of every x86_64 call but one, as a baseline would be.
    let allow: Vec<(String, Ret)> =
        SYSCALLS_X86_64.iter().filter(|(n, _)| *n != "mkdir").map(|(n, _)| (n.to_string(), Ret::Allow)).collect();
    let f = assert_decisions(Ret::Errno(1), &ALL, &allow);
    assert_eq!(decide(&f, AUDIT_ARCH_X86_64, 83), Ret::Errno(1));
    assert_eq!(decide(&f, AUDIT_ARCH_X86_64, 258), Ret::Allow, "mkdirat");
}

/// How many instructions a call runs.
fn steps(program: &[Insn], arch: u32, nr: u32) -> usize {
    (1..=program.len()).find(|&n| eval_prefix(program, arch, nr, n)).unwrap_or(usize::MAX)
}

/// Whether the program returns within `budget` instructions.
fn eval_prefix(program: &[Insn], arch: u32, nr: u32, budget: usize) -> bool {
    let (mut pc, mut a) = (0usize, 0u32);
    for _ in 0..budget {
        let i = program[pc];
        pc += 1;
        match i.code {
            LD_ABS => a = if i.k == OFF_ARCH { arch } else { nr },
            JA => pc += i.k as usize,
            JEQ => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
            JGE => pc += usize::from(if a >= i.k { i.jt } else { i.jf }),
            _ => return true,
        }
    }
    false
}

#[test]
fn far_jumps_use_ja_when_the_target_is_not_a_return() {
    // Many i386 ranges push the x86_64 head more than 255 instructions away from the
    // arch dispatch... which is before it; the i386 head is after both trees.
    let r: Vec<(String, Ret)> = SYSCALLS_X86
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.to_string(), if i % 2 == 0 { Ret::Allow } else { Ret::Log }))
        .collect();
    let f = assert_decisions(Ret::Errno(1), &ALL, &r);
    assert!(f.program.iter().any(|i| i.code == JA), "the i386 head is reached through a ja");
}

#[test]
fn errors_are_reported_not_dropped() {
    let e = generate(Ret::Allow, &ALL, &rules(&[("read", Ret::Log), ("nosuch", Ret::Log), ("bogus", Ret::Log)]));
    assert_eq!(
        e.unwrap_err().to_string(),
        "unknown system calls (in none of SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32): bogus, nosuch"
    );
    // mmap2 exists on i386 only: unknown when i386 is not listed.
    let e = generate(Ret::Allow, &[Arch::X86_64], &rules(&[("mmap2", Ret::Log)])).unwrap_err();
    assert!(matches!(e, FilterError::UnknownSyscalls { ref names, .. } if names == &["mmap2"]), "{e}");
    let e = generate(Ret::Allow, &ALL, &rules(&[("read", Ret::Log), ("read", Ret::Errno(1))])).unwrap_err();
    assert!(matches!(e, FilterError::Conflict { .. }), "{e}");
    assert_eq!(generate(Ret::Allow, &[], &[]).unwrap_err(), FilterError::NoArch);
    let e = Ret::of(ScmpAction::Errno(5000), "syscall read").unwrap_err();
    assert_eq!(e.to_string(), "syscall read: errno 5000 is above 4095, the largest the kernel returns");
}

#[test]
fn oci_profiles() {
    let v = serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS", "args": []},
        ],
    });
    let f = of_oci(&v).unwrap();
    assert_eq!(decide(&f, AUDIT_ARCH_X86_64, 0), Ret::Allow);
    assert_eq!(decide(&f, AUDIT_ARCH_X86_64, 83), Ret::Errno(13));
    assert_eq!(decide(&f, AUDIT_ARCH_X86_64, 110), Ret::KillProcess);
    assert_eq!(decide(&f, AUDIT_ARCH_X86_64, 2), Ret::Errno(1), "runc: no defaultErrnoRet is EPERM");
    assert_eq!(decide(&f, AUDIT_ARCH_I386, 3), Ret::KillProcess, "i386 not listed");
    for (bad, want) in [
        (serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": []}), "flags: not read"),
        (
            serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY", "architectures": ["SCMP_ARCH_X86_64"]}),
            "defaultAction: action SCMP_ACT_NOTIFY",
        ),
        (
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_AARCH64"]}),
            "SCMP_ARCH_AARCH64",
        ),
        (
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
            "syscalls[0].args",
        ),
        (
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}),
            "syscalls[0].errnoRet: errno 70000",
        ),
    ] {
        let e = of_oci(&bad).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn profile_and_its_oci_form_give_one_filter() {
    let mut rules = BTreeMap::new();
    for n in ["read", "write", "execve", "exit_group"] {
        rules.insert(n.to_string(), ScmpAction::Allow);
    }
    rules.insert("clone3".to_string(), ScmpAction::Errno(ENOSYS));
    rules.insert("getpid".to_string(), ScmpAction::Log);
    let p = Profile { default: ScmpAction::Errno(EPERM), rules, implicit: vec![] };
    let f = of_profile(&p).unwrap();
    assert_eq!(f, of_oci(&p.oci()).unwrap());
    assert_eq!(f.rules, 6);
    assert_eq!(decide(&f, AUDIT_ARCH_X86_64, 435), Ret::Errno(38));
    assert_eq!(decide(&f, AUDIT_ARCH_I386, 11), Ret::Allow, "execve on i386");
    let bad =
        Profile { default: ScmpAction::Allow, rules: [("nope".to_string(), ScmpAction::Log)].into(), implicit: vec![] };
    assert!(matches!(of_profile(&bad), Err(FilterError::UnknownSyscalls { .. })));
}

#[test]
fn bytes_round_trip_and_check() {
    let f = generate(Ret::Errno(1), &ALL, &rules(&[("read", Ret::Allow)])).unwrap();
    let bytes = f.to_bytes();
    assert_eq!(bytes.len(), f.program.len() * 8);
    assert_eq!(Filter::program_from_bytes(&bytes).unwrap(), f.program);
    assert!(Filter::program_from_bytes(&bytes[1..]).unwrap_err().contains("whole number"));
    // A jump past the end, a load outside seccomp_data, no final return.
    let mut p = f.program.clone();
    p[1].jt = 200;
    assert!(check(&p).unwrap_err().contains("instruction 1"));
    let mut p = f.program.clone();
    p[0].k = 64;
    assert!(check(&p).is_err());
    let p = &f.program[..f.program.len() - 1];
    assert!(check(p).is_err());
    assert!(check(&[]).is_err());
}
