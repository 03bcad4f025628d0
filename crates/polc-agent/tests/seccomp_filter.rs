//! The generated seccomp filter applied to a real child process on this host (no root
//! needed: an unprivileged process may install a filter once no_new_privs is set).
//! The child is the system python, which reports the errno of each probe.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use polc_agent::seccomp::{install_before_exec, pass_to, seal};
use polc_compiler::backend::seccomp::filter::{self, Arch, Ret};
use polc_compiler::backend::seccomp::{Profile, ScmpAction};
use polc_compiler::tables::SYSCALLS_X86_64;
use serde_json::Value;
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::Command;

const PROBES: &str = r#"
import json, os, sys
d = sys.argv[1]
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
r = {}
def probe(name, fn):
    try:
        fn()
        r[name] = 0
    except OSError as e:
        r[name] = e.errno
probe("mkdir", lambda: os.mkdir(os.path.join(d, "by-mkdir")))
probe("mkdirat", lambda: os.mkdir("by-mkdirat", dir_fd=fd))
probe("rmdir", lambda: os.rmdir(os.path.join(d, "by-mkdirat")))
with open("/proc/self/status") as f:
    r["no_new_privs"] = [l.split()[1] for l in f if l.startswith("NoNewPrivs:")][0]
print(json.dumps(r), flush=True)
if len(sys.argv) > 2:
    os.getppid()
    print("survived", flush=True)
"#;

/// A scratch directory, removed when the test is done with it.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("polc-seccomp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

/// Run the probes under `program`; returns (their results, exit status, stdout).
fn run(program: &[filter::Insn], dir: &PathBuf, kill_probe: bool) -> (Value, std::process::ExitStatus, String) {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg("-c").arg(PROBES).arg(dir);
    if kill_probe {
        cmd.arg("getppid");
    }
    install_before_exec(&mut cmd, program);
    let out = cmd.output().expect("/usr/bin/python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let first = stdout.lines().next().unwrap_or_default();
    let v = serde_json::from_str(first)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    (v, out.status, stdout)
}

#[test]
fn blocked_calls_fail_with_the_configured_errno_and_kill_kills() {
    let dir = scratch("deny-list");
    let rules = [
        ("mkdir".to_string(), Ret::Errno(95)), // EOPNOTSUPP
        ("getppid".to_string(), Ret::KillProcess),
    ];
    let f = filter::generate(Ret::Allow, &[Arch::X86_64, Arch::X86, Arch::X32], &rules).unwrap();
    let (v, status, stdout) = run(&f.program, &dir, true);
    assert_eq!(v["mkdir"], 95, "{v}");
    assert_eq!(v["mkdirat"], 0, "{v}");
    assert_eq!(v["rmdir"], 0, "{v}");
    assert_eq!(v["no_new_privs"], "1");
    assert_eq!(status.signal(), Some(libc::SIGSYS), "getppid kills the process: {status:?}");
    assert!(!stdout.contains("survived"));
    assert!(!dir.join("by-mkdir").exists());
    // Without the filter the same probes succeed (the test can fail without it).
    let dir = scratch("none");
    let out = Command::new("/usr/bin/python3").arg("-c").arg(PROBES).arg(&*dir).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["mkdir"].as_i64(), v["no_new_privs"].as_str()), (Some(0), Some("0")));
}

#[test]
fn allow_list_profile_refuses_the_rest_with_eperm() {
    // A baseline of every x86_64 call but mkdir, default Block: the plan's profile as
    // `polc exec` builds it.
    let mut rules = std::collections::BTreeMap::new();
    for (n, _) in SYSCALLS_X86_64.iter().filter(|(n, _)| *n != "mkdir") {
        rules.insert(n.to_string(), ScmpAction::Allow);
    }
    let profile = Profile { default: ScmpAction::Errno(1), rules, implicit: vec![] };
    let f = filter::of_profile(&profile).unwrap();
    assert!(f.program.len() > 20);
    let dir = scratch("allow-list");
    let (v, status, _) = run(&f.program, &dir, false);
    assert_eq!(v["mkdir"], 1, "EPERM: {v}");
    assert_eq!(v["mkdirat"], 0, "{v}");
    assert!(status.success(), "{status:?}");
    assert!(dir.join("by-mkdirat").exists() || v["rmdir"] == 0);
}

#[test]
fn invalid_filter_stops_the_command() {
    // A filter whose jump leaves the program: the kernel refuses it with EINVAL and
    // the command never runs.
    let bad = [filter::Insn { code: filter::JA, jt: 0, jf: 0, k: 5 }];
    let mut cmd = Command::new("/bin/true");
    install_before_exec(&mut cmd, &bad);
    let e = cmd.status().unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
}

#[test]
fn memfd_reaches_the_child() {
    let fd = seal(b"0123456789abcdef").unwrap();
    let mut cmd = Command::new("/bin/sh");
    let n = pass_to(&mut cmd, &fd);
    let out = cmd.arg("-c").arg(format!("readlink /proc/self/fd/{n}; cat /proc/self/fd/{n}")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("/memfd:polc-seccomp"), "{text}");
    assert!(text.ends_with("0123456789abcdef"), "{text}");
    // Not passed: closed on exec.
    let out = Command::new("/bin/sh").arg("-c").arg(format!("test -e /proc/self/fd/{n} || echo closed")).output();
    assert!(String::from_utf8_lossy(&out.unwrap().stdout).contains("closed"));
}
