//! `polc compile --target bpf-lsm` end to end, with the built binary: snapshots of
//! the JSON dumps and of the capability report for examples/, every bundle decoded
//! and checked against its dump, byte-for-byte determinism, and the error a Block
//! glob without a kernel form gives, and that the policy library compiles.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{Scratch, capability_line, root};
use polc_compiler::backend::bpf::{bundle::Bundle, dump};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// `polc compile INPUT --out OUT --target bpf-lsm --format json`, run at the
/// repository root so that source paths are relative and stable.
fn run(input: &str, out: &Path) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_polc"))
        .current_dir(root())
        .args(["compile", input, "--out"])
        .arg(out)
        .args(["--target", "bpf-lsm", "--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    o
}

/// (file name, bytes) of every file in OUT/bpf-lsm, sorted.
fn files(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(out.join("bpf-lsm"))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn examples() {
    let scratch = Scratch::new("examples");
    let out = scratch.dir.join("out");
    let o = run("examples/", &out);
    assert!(o.status.success(), "polc compile failed ({}):\n{}", o.status, String::from_utf8_lossy(&o.stderr));
    let files = files(&out);
    assert!(files.len() >= 2, "no bundles");

    // Every bundle decodes, and its JSON file is exactly the dump of what decoded.
    let mut dumps = Vec::new();
    for (name, bytes) in &files {
        if let Some(stem) = name.strip_suffix(".bundle") {
            let b = Bundle::decode(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            let json =
                files.iter().find(|(n, _)| *n == format!("{stem}.json")).unwrap_or_else(|| panic!("{stem}.json"));
            let text = String::from_utf8(json.1.clone()).unwrap();
            assert_eq!(text, dump::to_text(&b), "{stem}.json is not the dump of {name}");
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["sha256"], b.sha256_hex());
            dumps.push(format!("==> bpf-lsm/{stem}.json <==\n{text}"));
        }
    }
    insta::assert_snapshot!("examples_dumps", dumps.join("\n"));

    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut lines: Vec<String> = report["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["backend"] == "bpf-lsm")
        .map(capability_line)
        .collect();
    lines.sort();
    lines.dedup();
    insta::assert_snapshot!("examples_capabilities", lines.join("\n"));

    // The same input gives the same bytes.
    let again = scratch.dir.join("again");
    assert!(run("examples/", &again).status.success());
    assert!(files == self::files(&again), "a second compile wrote different bundles");
}

#[test]
fn block_glob_without_a_kernel_form_is_an_error_naming_the_rule() {
    let scratch = Scratch::new("glob");
    let policy = scratch.dir.join("ssh.yaml");
    std::fs::write(
        &policy,
        "apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicy\nmetadata: {name: ssh, namespace: shop}\nspec:\n  \
         selector: {matchLabels: {app: web}}\n  file:\n    - name: block-ssh-keys\n      action: Block\n      \
         paths: [/home/*/.ssh/**]\n",
    )
    .unwrap();
    let out = scratch.dir.join("out");
    let o = run(policy.to_str().unwrap(), &out);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let line = stderr.lines().find(|l| l.contains("block-ssh-keys")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.starts_with(&format!("error: {}:9:15", policy.display())), "{line}");
    assert!(line.contains("bpf-lsm") && line.contains("`/home/*/.ssh/**`") && line.contains("AppArmor"), "{line}");
    assert!(!out.exists(), "nothing is written on errors");
}

#[test]
fn the_policy_library_compiles_for_the_kernel() {
    let scratch = Scratch::new("policies");
    let out = scratch.dir.join("out");
    let o = run("policies/", &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut dumps = Vec::new();
    for (name, bytes) in files(&out) {
        if name.ends_with(".json") {
            dumps.push(format!("==> bpf-lsm/{name} <==\n{}", String::from_utf8(bytes).unwrap()));
        }
    }
    assert!(!dumps.is_empty());
    insta::assert_snapshot!("policies_dumps", dumps.join("\n"));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut lines: Vec<String> = report["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["backend"] == "bpf-lsm")
        .map(capability_line)
        .collect();
    lines.sort();
    lines.dedup();
    insta::assert_snapshot!("policies_capabilities", lines.join("\n"));
}
