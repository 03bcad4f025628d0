//! `polc compile --target apparmor` end to end: snapshots of the profiles and of the
//! capability report for examples/ and policies/ and for a policy set that uses every
//! feature, and conformance: every generated profile must be accepted by
//! `apparmor_parser`.
//!
//! The parser runs twice per profile, never loading anything into a kernel:
//!
//! - `apparmor_parser -QK FILE` (`--skip-kernel-load --skip-cache`): what a node does
//!   with the file, minus the load. It needs no securityfs and no AppArmor kernel.
//! - the same with `--warn=all --Werror` and the AppArmor 3.0 ABI as both policy and
//!   kernel features: no warning at all, so every rule is enforced (not dropped or
//!   downgraded) by an AppArmor 3.0 kernel.
//!
//! `apparmor_parser` comes from the Debian package `apparmor`; without it the test
//! fails (it does not skip) and says so.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{Scratch, capability_line, root};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL: &str = "apt-get install apparmor (Debian package `apparmor` ships /usr/sbin/apparmor_parser)";
/// The AppArmor 3.0 feature ABI, shipped with the parser.
const ABI: &str = "/etc/apparmor.d/abi/3.0";

fn parser() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join("apparmor_parser"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("apparmor_parser is not installed: {INSTALL}"))
}

struct Compiled {
    /// (file name, text) of every profile, sorted.
    profiles: Vec<(String, String)>,
    /// The AppArmor entries of the capability report.
    capabilities: Vec<Value>,
}

/// `polc compile INPUT --out OUT --target apparmor --format json`, run in `cwd` so
/// that source paths in the output are relative and stable.
fn compile(cwd: &Path, input: &str, scratch: &Scratch) -> Compiled {
    let out = scratch.dir.join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_polc"))
        .current_dir(cwd)
        .args(["compile", input, "--out"])
        .arg(&out)
        .args(["--target", "apparmor", "--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "polc compile {input} failed ({}):\n{stderr}", run.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let capabilities = report["capabilities"].as_array().cloned().unwrap_or_default();
    let mut profiles = Vec::new();
    for e in std::fs::read_dir(out.join("apparmor")).unwrap() {
        let p = e.unwrap().path();
        profiles.push((p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()));
    }
    profiles.sort();
    assert!(!profiles.is_empty(), "no profiles for {input}");
    Compiled { profiles, capabilities }
}

/// Run `apparmor_parser` on every profile, plainly and strictly (see the module docs).
fn conformance(c: &Compiled, scratch: &Scratch) {
    let parser = parser();
    assert!(Path::new(ABI).is_file(), "{ABI} is missing: {INSTALL}");
    let dir = scratch.dir.join("check");
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (name, text) in &c.profiles {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let plain = Command::new(&parser).arg("-QK").arg(&file).output().unwrap();
        let strict = Command::new(&parser)
            .args(["-QK", "--warn=all", "--Werror", "--policy-features", ABI, "--kernel-features", ABI])
            .arg(&file)
            .output()
            .unwrap();
        for (how, run) in [("-QK", plain), ("strict", strict)] {
            if !run.status.success() {
                failures.push(format!("{name} ({how}, {}):\n{}", run.status, String::from_utf8_lossy(&run.stderr)));
            }
        }
    }
    assert!(failures.is_empty(), "apparmor_parser rejected profiles:\n{}", failures.join("\n"));
}

fn artifacts(c: &Compiled) -> String {
    c.profiles.iter().map(|(name, text)| format!("==> apparmor/{name} <==\n{text}")).collect::<Vec<_>>().join("\n")
}

/// One line per rule: support, policy, rule, what it matches, source, reason.
fn capabilities(c: &Compiled) -> String {
    let mut lines: Vec<String> =
        c.capabilities.iter().filter(|e| e["backend"] == "apparmor").map(capability_line).collect();
    lines.sort();
    lines.join("\n")
}

#[test]
fn examples() {
    let scratch = Scratch::new("examples");
    let c = compile(&root(), "examples/", &scratch);
    conformance(&c, &scratch);
    insta::assert_snapshot!("examples_artifacts", artifacts(&c));
    insta::assert_snapshot!("examples_capabilities", capabilities(&c));
}

#[test]
fn policies() {
    let scratch = Scratch::new("policies");
    let c = compile(&root(), "policies/", &scratch);
    conformance(&c, &scratch);
    insta::assert_snapshot!("policies_artifacts", artifacts(&c));
    insta::assert_snapshot!("policies_capabilities", capabilities(&c));
}

/// Every feature the backend translates, including the awkward characters.
const FEATURES: &str = r##"apiVersion: polc.dev/v1alpha1
kind: PreventionPolicy
metadata:
  name: every-feature
  namespace: feat
spec:
  selector:
    matchLabels:
      app: web
  defaultAction: Allow
  process:
    - name: block-usr-bin
      action: Block
      dirs:
        - path: /usr/bin
          recursive: true
        - path: /tmp
    - name: allow-python
      action: Allow
      paths: [/usr/bin/python3, "/usr/bin/pip*"]
    - name: audit-curl
      action: Audit
      paths: [/usr/local/bin/curl]
    - name: globs
      action: Block
      paths: ["/**/xmrig*", "/usr/lib/jvm/**/bin/jdb", "/opt/?ool", "/opt/[a-c]x", "/opt/[!a-c]y", "/opt/[-^]z"]
    - name: names
      action: Block
      comms: [nc, abcdefghijklmno]
    - name: from-parents
      action: Block
      paths: [/bin/sh]
      fromParents: [/usr/sbin/nginx]
  file:
    - name: odd-characters
      action: Block
      paths: ["/data/my file", "/a/{b},c", "/x/@{HOME}", "/q/\"x\"#1", "/u/é", "/e/x!y"]
    - name: shadow
      action: Block
      access: [Read]
      paths: [/etc/shadow]
    - name: etc-writes
      action: Block
      access: [Write]
      dirs:
        - path: /etc
          recursive: true
    - name: etc-hosts
      action: Allow
      access: [Write]
      paths: [/etc/hosts]
    - name: jvm-prefs
      action: Allow
      access: [Write]
      paths: ["/etc/java/*/prefs"]
  capabilities:
    - name: no-admin
      action: Block
      capabilities: [SYS_ADMIN]
    - name: watch-chown
      action: Audit
      capabilities: [CHOWN]
  network:
    - name: no-raw
      action: Block
      rawSockets: true
    - name: metadata
      action: Block
      cidrs: [169.254.169.254/32]
      ports:
        - port: 80
---
apiVersion: polc.dev/v1alpha1
kind: RuntimePolicy
metadata:
  name: baseline
  namespace: feat
spec:
  selector:
    matchLabels:
      app: api
  onAnomaly: Audit
  baseline:
    executables: [/app/server, /bin/busybox]
    files:
      - path: /app/**
      - path: /etc/passwd
      - path: /var/log/app/*
        access: [Write]
    capabilities: [NET_BIND_SERVICE]
    syscalls: [read, write]
    egress:
      - cidr: 10.0.0.0/8
        ports:
          - port: 443
---
apiVersion: polc.dev/v1alpha1
kind: PreventionPolicy
metadata:
  name: allow-list
  namespace: feat
spec:
  selector:
    matchLabels:
      app: locked
  defaultAction: Block
  process:
    - name: server
      action: Allow
      paths: [/app/server]
  file:
    - name: app
      action: Allow
      dirs:
        - path: /app
          recursive: true
  capabilities:
    - name: bind
      action: Allow
      capabilities: [NET_BIND_SERVICE]
---
apiVersion: polc.dev/v1alpha1
kind: PreventionPolicy
metadata:
  name: dry-run
  namespace: feat
spec:
  selector:
    matchLabels:
      app: trial
  mode: DryRun
  defaultAction: Block
  process:
    - name: server
      action: Allow
      paths: [/app/server]
    - name: shells
      action: Block
      paths: [/bin/sh]
---
apiVersion: polc.dev/v1alpha1
kind: NetworkAccessPolicy
metadata:
  name: web-egress
  namespace: feat
spec:
  selector:
    matchLabels:
      app: web
  egress:
    - name: dns
      action: Allow
      peers:
        - cidr: 10.0.0.0/8
      ports:
        - port: 53
          protocol: UDP
"##;

#[test]
fn every_feature() {
    let scratch = Scratch::new("features");
    let dir = scratch.dir.join("features");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("all.yaml"), FEATURES).unwrap();
    let c = compile(&scratch.dir, "features/", &scratch);
    assert_eq!(c.profiles.len(), 4, "{:?}", c.profiles.iter().map(|p| &p.0).collect::<Vec<_>>());
    conformance(&c, &scratch);
    insta::assert_snapshot!("features_artifacts", artifacts(&c));
    insta::assert_snapshot!("features_capabilities", capabilities(&c));
}
