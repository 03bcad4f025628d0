//! `polc exec` with a policy of syscall rules only: the command runs under the seccomp
//! filter alone (no BPF, no cgroup), so this runs on any Linux host without root.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::Scratch;
use polc_compiler::tables::SYSCALLS_X86_64;
use std::process::Command;

const PROBE: &str = r#"
import os, sys
d = sys.argv[1]
for name, fn in (("mkdir", lambda: os.mkdir(os.path.join(d, "a"))),
                 ("mkdirat", lambda: os.mkdir("b", dir_fd=os.open(d, os.O_RDONLY)))):
    try:
        fn()
        print(name, 0)
    except OSError as e:
        print(name, e.errno)
with open("/proc/self/status") as f:
    print("nnp", [l.split()[1] for l in f if l.startswith("NoNewPrivs:")][0])
"#;

fn policy(on_anomaly: &str) -> String {
    let names: Vec<&str> = SYSCALLS_X86_64.iter().map(|(n, _)| *n).filter(|n| *n != "mkdir").collect();
    format!(
        "apiVersion: polc.dev/v1alpha1\nkind: RuntimePolicy\nmetadata:\n  name: rt\n  namespace: demo\nspec:\n  \
         selector: {{}}\n  onAnomaly: {on_anomaly}\n  baseline:\n    syscalls: [{}]\n",
        names.join(", ")
    )
}

fn exec(s: &Scratch, extra: &[&str], on_anomaly: &str) -> (String, String, Option<i32>) {
    let p = s.write(&format!("rt-{on_anomaly}.yaml"), policy(on_anomaly));
    let work = s.dir.join(format!("work-{on_anomaly}-{}", extra.len()));
    std::fs::create_dir_all(&work).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_polc"))
        .arg("exec")
        .arg("--no-config")
        .arg("--policy")
        .arg(&p)
        .args(extra)
        .arg("--")
        .args(["/usr/bin/python3", "-c", PROBE])
        .arg(&work)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

#[test]
fn syscall_block_rule_fails_with_eperm() {
    let s = Scratch::new("exec-seccomp");
    let (out, err, code) = exec(&s, &[], "Block");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "mkdir 1\nmkdirat 0\nnnp 1\n", "{err}");

    // --no-seccomp: nothing left to enforce, nothing runs.
    let (out, err, code) = exec(&s, &["--no-seccomp"], "Block");
    assert_eq!(code, Some(2), "{out}");
    assert!(err.contains("--no-seccomp: the 361 syscall rules of the policies are not enforced"), "{err}");
    assert!(err.contains("govern no kernel operation"), "{err}");
    assert_eq!(out, "");

    // Audit: logged by the kernel, not refused; polc says where the record goes.
    let (out, err, code) = exec(&s, &[], "Audit");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "mkdir 0\nmkdirat 0\nnnp 1\n", "{err}");
    assert!(err.contains("only logged"), "{err}");
}

#[test]
fn missing_command_is_127() {
    let s = Scratch::new("exec-seccomp-missing");
    let p = s.write("rt.yaml", policy("Block"));
    let out = Command::new(env!("CARGO_BIN_EXE_polc"))
        .args(["exec", "--no-config", "--policy"])
        .arg(&p)
        .args(["--", "/nonexistent/cmd"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot run /nonexistent/cmd"));
}
