//! `polc compile` as a whole: lint errors stop it and nothing is written, every
//! backend's output is byte-for-byte deterministic, and a directory polc did not
//! write is never replaced.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{Scratch, root};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

fn compile(input: &Path, out: &Path) -> Output {
    compile_for(&[], input, out)
}

/// `polc compile --no-config [ARGS] INPUT --out OUT`, which must not panic.
fn compile_for(args: &[&str], input: &Path, out: &Path) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_polc"))
        .current_dir(root())
        .args(["compile", "--no-config"])
        .args(args)
        .arg(input)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    o
}

fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(p.strip_prefix(base).unwrap().display().to_string(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut m = BTreeMap::new();
    walk(dir, dir, &mut m);
    m
}

#[test]
fn contradicting_policies_stop_the_compile_and_nothing_is_written() {
    let s = Scratch::new("contradiction");
    s.write(
        "p.yaml",
        "apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  \
         selector: {matchLabels: {app: web}}\n  process:\n    - {name: a, action: Allow, paths: [/bin/sh]}\n    \
         - {name: b, action: Block, paths: [/bin/sh]}\n",
    );
    let out = s.dir.join("out");
    let o = compile(&s.dir.join("p.yaml"), &out);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[P026]"), "{stderr}");
    assert!(stderr.contains("p.yaml:7:"), "the finding names file and line: {stderr}");
    assert!(!out.exists(), "a failed compile writes nothing");
}

#[test]
fn a_failed_compile_leaves_the_previous_output_untouched() {
    let s = Scratch::new("keep");
    let out = s.dir.join("out");
    assert!(compile(&root().join("examples/sock-shop"), &out).status.success());
    let before = tree(&out);
    s.write("bad.yaml", "apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicy\nmetadata: {name: x}\nspec: {selector: {}, mode: Sometimes}\n");
    let o = compile(&s.dir.join("bad.yaml"), &out);
    assert_eq!(o.status.code(), Some(1));
    assert!(tree(&out) == before, "the previous output must be left as it was");
}

#[test]
fn every_backend_is_deterministic() {
    let s = Scratch::new("determinism");
    let (a, b) = (s.dir.join("a"), s.dir.join("b"));
    for out in [&a, &b] {
        let o = compile(&root().join("examples"), out);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (ta, tb) = (tree(&a), tree(&b));
    for dir in ["bpf-lsm/", "apparmor/", "seccomp/", "cilium/"] {
        assert!(ta.keys().any(|k| k.starts_with(dir)), "no {dir} output");
    }
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (k, v) in &ta {
        assert!(tb[k] == *v, "{k} differs between two compiles of the same input");
    }
    let index: serde_json::Value = serde_json::from_slice(&ta["index.json"]).unwrap();
    assert_eq!(index["files"].as_array().unwrap().len(), ta.len() - 1, "index.json lists every other file");
}

/// `--timings` prints a line per phase, in order, with its time and the memory,
/// and changes nothing else: stdout is the same table.
#[test]
fn timings_name_every_phase_with_time_and_memory() {
    let s = Scratch::new("timings");
    let input = root().join("examples/sock-shop");
    let plain = compile(&input, &s.dir.join("a"));
    let timed = compile_for(&["--timings"], &input, &s.dir.join("b"));
    assert!(timed.status.success(), "{}", String::from_utf8_lossy(&timed.stderr));
    assert_eq!(plain.stdout, timed.stdout);
    let err = String::from_utf8_lossy(&timed.stderr);
    let phases: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("polc: "))
        .filter(|l| l.contains(" s ") && l.ends_with("MiB"))
        .collect();
    let names = ["read, lint", "plan", "backends", "report.json", "swap in", "stdout"];
    assert_eq!(phases.len(), names.len(), "{err}");
    for (line, name) in phases.iter().zip(names) {
        assert!(line.starts_with(name), "{line:?} is not the {name} phase");
        let mib: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).filter(|&m: &u64| m > 0).collect();
        assert_eq!(mib.len(), 2, "resident and peak in {line:?}");
        assert!(mib[0] <= mib[1], "resident above the peak in {line:?}");
    }
    assert!(!String::from_utf8_lossy(&plain.stderr).contains("backends"), "no timings without --timings");
}

#[test]
fn a_directory_polc_did_not_write_is_not_replaced() {
    let s = Scratch::new("foreign");
    s.write("mine/notes.txt", "keep me");
    let o = compile(&root().join("examples/sock-shop"), &s.dir.join("mine"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("was not written by polc"));
    assert_eq!(std::fs::read_to_string(s.dir.join("mine/notes.txt")).unwrap(), "keep me");
}

/// Two containers whose files would have the same name (`a.b` + `c`, `a` + `b.c`)
/// stop the compile for every backend that names files by target (the check is
/// made once, before the backends), the error names both manifests, and nothing is
/// written.
#[test]
fn clashing_file_names_stop_the_compile() {
    let s = Scratch::new("clash");
    let deploy = |name: &str, container: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  selector: \
             {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      \
             containers:\n        - {{name: {container}, image: x}}\n"
        )
    };
    s.write("w.yaml", format!("{}---\n{}", deploy("a.b", "c"), deploy("a", "b.c")));
    s.write(
        "p.yaml",
        "apiVersion: polc.dev/v1alpha1\nkind: RuntimePolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  \
         selector: {matchLabels: {app: web}}\n  onAnomaly: Block\n  baseline:\n    executables: [/bin/sh]\n    \
         syscalls: [read, write, exit_group]\n",
    );
    for target in ["bpf-lsm", "seccomp"] {
        let out = s.dir.join(format!("out-{target}"));
        let o = compile_for(&["--target", target], &s.dir, &out);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_ne!(o.status.code(), Some(0), "{target}: {stderr}");
        assert!(stderr.contains("shop.deployment.a.b.c"), "{target}: {stderr}");
        // Both manifests, by file, line and column of their names.
        assert!(stderr.contains("w.yaml:3:12") && stderr.contains("w.yaml:14:12"), "{target}: {stderr}");
        assert!(!out.exists(), "{target}: a failed compile writes nothing");
    }
    // Cilium names its objects after the policies: the same input compiles.
    let o = compile_for(&["--target", "cilium"], &s.dir, &s.dir.join("out-cilium"));
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Two standalone policies of different kinds with one name make one target twice:
/// the compile stops and names both policies' files, instead of keeping one plan.
#[test]
fn a_target_made_twice_stops_the_compile() {
    let s = Scratch::new("twice");
    s.write(
        "prevention.yaml",
        "apiVersion: polc.dev/v1alpha1\nkind: PreventionPolicy\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  \
         selector: {matchLabels: {app: web}}\n  process:\n    - {action: Block, paths: [/bin/sh]}\n",
    );
    s.write(
        "runtime.yaml",
        "apiVersion: polc.dev/v1alpha1\nkind: RuntimePolicy\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  \
         selector: {matchLabels: {app: web}}\n  onAnomaly: Block\n  baseline:\n    executables: [/bin/sh]\n",
    );
    let out = s.dir.join("out");
    let o = compile_for(&["--target", "bpf-lsm"], &s.dir, &out);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("target shop/Policy/web/* is defined twice"), "{stderr}");
    assert!(stderr.contains("prevention.yaml:4:9") && stderr.contains("runtime.yaml:4:9"), "{stderr}");
    assert!(!out.exists(), "a failed compile writes nothing");
}
