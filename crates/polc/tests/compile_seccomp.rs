//! `polc compile --target seccomp` end to end: snapshots of the output for examples/
//! and policies/; the OCI profiles against the runtime-spec schema and the SPO objects
//! against the SeccompProfile CRD (both from `shared/conformance`, never skipped: a
//! missing file fails the test); and real enforcement, by loading the generated JSON
//! with libseccomp and applying it to a child process.
//!
//! libseccomp is driven from `tests/seccomp/load_profile.py` with Debian's
//! `python3-seccomp` (the libseccomp Python bindings) under the system
//! `/usr/bin/python3`. When either is missing the tests fail and say what to install.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{Scratch, conformance, openapi_to_json_schema, read_yaml, root};
use polc_compiler::backend::seccomp::{IMPLICIT_ANNOTATION, RUNTIME_SYSCALLS, SPO_API_VERSION};
use polc_compiler::tables::SYSCALLS_X86_64;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The interpreter python3-seccomp installs into (not a pyenv or venv python).
const PYTHON: &str = "/usr/bin/python3";
const INSTALL: &str = "apt-get install python3-seccomp (libseccomp's Python bindings; pulls in /usr/bin/python3)";

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `polc compile INPUTS --out OUT --target seccomp` in the repository root; returns stdout.
fn compile(inputs: &[&Path], out: &Path) -> String {
    let run = Command::new(env!("CARGO_BIN_EXE_polc"))
        .current_dir(root())
        .arg("compile")
        .args(inputs)
        .arg("--out")
        .arg(out)
        .args(["--target", "seccomp"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "polc compile failed ({}):\n{stderr}", run.status);
    String::from_utf8(run.stdout).unwrap()
}

/// The files under `dir/sub` (not recursive), sorted.
fn files(dir: &Path, sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir.join(sub)) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_str().unwrap().to_string()
}

/// Run the libseccomp driver; fails the test when python3-seccomp is missing.
fn libseccomp(args: &[&Path]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seccomp/load_profile.py");
    let run = Command::new(PYTHON)
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {PYTHON} ({e}); {INSTALL}"));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.code() != Some(3), "{stderr}\n{INSTALL}");
    assert!(run.status.success(), "libseccomp refused {args:?} ({}):\n{stderr}", run.status);
    serde_json::from_slice(&run.stdout).unwrap()
}

// ---------------------------------------------------------------------------------
// Snapshots

/// Every seccomp artifact of `input`, one after the other, and the capability table.
fn snapshot_of(input: &str) -> (String, String) {
    let s = Scratch::new("snapshot");
    let out = s.dir.join("out");
    let table = compile(&[Path::new(input)], &out);
    let mut text = String::new();
    for p in files(&out, "seccomp").into_iter().chain(files(&out, "seccomp/spo")) {
        let rel = p.strip_prefix(&out).unwrap().display().to_string();
        text.push_str(&format!("=== {rel}\n{}", std::fs::read_to_string(&p).unwrap()));
    }
    (text, table)
}

#[test]
fn examples_snapshot() {
    let (artifacts, table) = snapshot_of("examples/");
    assert!(artifacts.contains("=== seccomp/sock-shop.deployment.orders.orders.json\n"));
    insta::assert_snapshot!("examples_artifacts", artifacts);
    insta::assert_snapshot!("examples_capabilities", table);
}

#[test]
fn policies_snapshot() {
    // The library has no RuntimePolicy: no profile, but every rule is reported.
    let (artifacts, table) = snapshot_of("policies/");
    assert_eq!(artifacts, "");
    assert!(table.lines().count() > 1);
    insta::assert_snapshot!("policies_capabilities", table);
}

// ---------------------------------------------------------------------------------
// Test policies: everything but a few probes is in the baseline.

/// What the probes use and the baselines leave out: `mkdir`, `mkdirat` (blocked),
/// `clone3` (answered ENOSYS so glibc falls back to `clone`), and the implicit runtime
/// syscalls, so the profile allows those only because polc adds them.
fn probe_baseline() -> Vec<&'static str> {
    let left_out = ["mkdir", "mkdirat", "clone3"];
    SYSCALLS_X86_64
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !left_out.contains(n) && !RUNTIME_SYSCALLS.iter().any(|(r, _)| r == n))
        .collect()
}

fn runtime_policy(name: &str, mode: &str, on_anomaly: &str, syscalls: &[&str]) -> String {
    let mut y = format!(
        "apiVersion: polc.dev/v1alpha1\nkind: RuntimePolicy\nmetadata:\n  name: {name}\n  namespace: polc-test\n\
         spec:\n  selector:\n    matchLabels:\n      app: probe\n  mode: {mode}\n  onAnomaly: {on_anomaly}\n\
         \x20 baseline:\n    syscalls:\n"
    );
    for s in syscalls {
        y.push_str(&format!("      - {s}\n"));
    }
    y
}

/// Compile the probe policies (Block, and Block in DryRun) into `s/out`.
fn probe_profiles(s: &Scratch) -> PathBuf {
    let base = probe_baseline();
    s.write("policies/enforce.yaml", runtime_policy("enforce", "Enforce", "Block", &base));
    s.write("policies/dryrun.yaml", runtime_policy("dryrun", "DryRun", "Block", &base));
    let out = s.dir.join("out");
    compile(&[&s.dir.join("policies")], &out);
    out
}

// ---------------------------------------------------------------------------------
// Real enforcement with libseccomp

#[test]
fn libseccomp_enforces_the_block_profile_and_lets_the_audit_profile_through() {
    let s = Scratch::new("enforce");
    let out = probe_profiles(&s);

    let block = out.join("seccomp/polc-test.policy.enforce.all.json");
    let profile = read_json(&block);
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(profile["defaultErrnoRet"], 1);
    let work = s.dir.join("block-work");
    std::fs::create_dir(&work).unwrap();
    let r = libseccomp(&[Path::new("probe"), &block, &work]);
    assert_eq!(r["childExit"], 0, "{r}");
    assert_eq!(
        r["probes"],
        json!({
            // Outside the baseline: refused with the configured errno (EPERM).
            "mkdir": 1,
            "mkdirat": 1,
            // Implicit (left out of the baseline on purpose): allowed.
            "getppid": 0,
            // posix_spawn: glibc tries clone3, gets ENOSYS, falls back to clone;
            // execve is implicit.
            "spawn": 0,
            "clone3": 38,
        }),
        "{r}"
    );
    assert_eq!(r["created"], json!([]), "nothing was created: {r}");

    let audit = out.join("seccomp/polc-test.policy.dryrun.all.json");
    let profile = read_json(&audit);
    assert_eq!(profile["defaultAction"], "SCMP_ACT_LOG", "DryRun turns Block into Audit");
    let work = s.dir.join("audit-work");
    std::fs::create_dir(&work).unwrap();
    let r = libseccomp(&[Path::new("probe"), &audit, &work]);
    assert_eq!(r["childExit"], 0, "{r}");
    // Logged, not refused: clone3(NULL, 0) reaches the kernel, which says EINVAL.
    assert_eq!(r["probes"], json!({"mkdir": 0, "mkdirat": 0, "getppid": 0, "spawn": 0, "clone3": 22}), "{r}");
    assert_eq!(r["created"], json!(["by-mkdir", "by-mkdirat"]), "{r}");
}

#[test]
fn libseccomp_accepts_every_example_profile() {
    let s = Scratch::new("examples-load");
    let out = s.dir.join("out");
    compile(&[Path::new("examples/")], &out);
    let profiles = files(&out, "seccomp");
    assert_eq!(profiles.len(), 8, "one per RuntimePolicy with syscalls in examples/");
    for p in profiles {
        let r = libseccomp(&[Path::new("check"), &p]);
        assert!(r["rules"].as_u64().unwrap() > 50, "{}: {r}", p.display());
    }
}

/// Our classic-BPF filter (what `polc exec` installs) and libseccomp's (what runc
/// installs) for the same OCI profile decide every call alike: every number of the
/// three x86 ABIs and past them, the x32 bit, the numbers of no ABI.
fn assert_same_decisions(profile: &Path, s: &Scratch) {
    use polc_compiler::backend::seccomp::filter::{self, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, Filter};
    use polc_compiler::tables::X32_SYSCALL_BIT;
    let ours = filter::of_oci(&read_json(profile)).unwrap_or_else(|e| panic!("{}: {e}", profile.display()));
    let exported = s.dir.join(format!("{}.bpf", stem(profile)));
    libseccomp(&[Path::new("bpf"), profile, &exported]);
    let theirs = Filter::program_from_bytes(&std::fs::read(&exported).unwrap())
        .unwrap_or_else(|e| panic!("libseccomp's program for {}: {e}", profile.display()));
    let mut nrs: Vec<u32> = (0..1200).collect();
    nrs.extend((0..1200).map(|n| n | X32_SYSCALL_BIT));
    nrs.extend([X32_SYSCALL_BIT - 1, u32::MAX, 0x8000_0000, 0x7fff_ffff]);
    let mut compared = 0;
    for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386] {
        for &nr in &nrs {
            let a = filter::eval(&ours.program, arch, nr).unwrap();
            let b = filter::eval(&theirs, arch, nr).unwrap();
            assert_eq!(a, b, "{}: arch {arch:#x} nr {nr:#x}: polc {a:#x}, libseccomp {b:#x}", profile.display());
            compared += 1;
        }
    }
    assert_eq!(compared, 2 * nrs.len());
}

#[test]
fn our_filter_decides_as_libseccomps_for_every_profile() {
    let s = Scratch::new("cross-check");
    let out = s.dir.join("out");
    compile(&[Path::new("examples/"), Path::new("tests/vm/policies/exec-seccomp.yaml")], &out);
    let mut profiles = files(&out, "seccomp");
    assert_eq!(profiles.len(), 9, "the examples and the VM suite's profile");
    let probe_scratch = Scratch::new("cross-check-probe");
    let probe_out = probe_profiles(&probe_scratch);
    profiles.extend(files(&probe_out, "seccomp"));
    // Every action, an errno default with another errno, a rule on an i386-only name.
    let mixed = s.write(
        "mixed.json",
        serde_json::to_vec(&json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 13,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["read", "write", "readv", "mmap2", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["gettid"], "action": "SCMP_ACT_KILL_THREAD"},
                {"names": ["uname"], "action": "SCMP_ACT_TRAP"},
                {"names": ["getpid", "newfstatat"], "action": "SCMP_ACT_LOG"},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            ],
        }))
        .unwrap(),
    );
    profiles.push(mixed);
    for p in &profiles {
        assert_same_decisions(p, &s);
    }
}

#[test]
fn implicit_syscalls_are_allowed_by_dockers_default_profile() {
    let docker = read_json(&conformance("moby/profiles/seccomp/default.json"));
    for (name, why) in RUNTIME_SYSCALLS {
        let allowed = docker["syscalls"].as_array().unwrap().iter().any(|e| {
            e["action"] == "SCMP_ACT_ALLOW"
                && e["names"].as_array().unwrap().iter().any(|n| n == name)
                && e["includes"].get("caps").is_none()
        });
        assert!(allowed, "{name} ({why}) is not allowed by Docker's default profile without extra capabilities");
    }
}

// ---------------------------------------------------------------------------------
// Conformance: OCI runtime-spec schema

/// The runtime-spec schema files, read from `shared/conformance` only, with
/// `additionalProperties: false` added to the seccomp object and its syscall entries:
/// runtimes ignore unknown keys, so only the OCI subset may be emitted.
struct OciSchemas;

impl jsonschema::Retrieve for OciSchemas {
    fn retrieve(&self, uri: &jsonschema::Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.as_str().rsplit('/').next().unwrap_or_default().split('#').next().unwrap_or_default();
        let path = conformance(&format!("opencontainers/runtime-spec/schema/{name}"));
        let mut v = read_json(&path);
        match name {
            "config-linux.json" => v["linux"]["properties"]["seccomp"]["additionalProperties"] = json!(false),
            "defs-linux.json" => v["definitions"]["Syscall"]["additionalProperties"] = json!(false),
            _ => {}
        }
        Ok(v)
    }
}

fn oci_validator() -> jsonschema::Validator {
    // Fail early and clearly when a file is missing.
    for f in ["config-linux.json", "defs-linux.json", "defs.json"] {
        conformance(&format!("opencontainers/runtime-spec/schema/{f}"));
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .with_base_uri("file:///conformance/opencontainers/runtime-spec/schema/root.json")
        .with_retriever(OciSchemas)
        .build(&json!({"$ref": "config-linux.json#/linux/properties/seccomp"}))
        .unwrap_or_else(|e| panic!("the runtime-spec seccomp schema does not compile: {e}"))
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc).map(|e| format!("{e} at {}", e.instance_path())).collect()
}

#[test]
fn profiles_validate_against_the_runtime_spec_schema() {
    let v = oci_validator();
    // The validator is not vacuous.
    assert!(!errors(&v, &json!({"defaultAction": "SCMP_ACT_ERRNO", "comment": "docker only"})).is_empty());
    assert!(!errors(&v, &json!({"defaultAction": "SCMP_ACT_NOPE"})).is_empty());
    assert!(
        !errors(&v, &json!({"defaultAction": "SCMP_ACT_LOG", "syscalls": [{"names": [], "action": "x"}]})).is_empty()
    );
    assert!(
        !errors(&v, &json!({"defaultAction": "SCMP_ACT_LOG", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {}}]}))
            .is_empty()
    );

    let s = Scratch::new("oci");
    let probes = probe_profiles(&s);
    let examples = s.dir.join("examples-out");
    compile(&[Path::new("examples/")], &examples);
    let all: Vec<PathBuf> = files(&probes, "seccomp").into_iter().chain(files(&examples, "seccomp")).collect();
    assert_eq!(all.len(), 10);
    for p in all {
        let doc = read_json(&p);
        let e = errors(&v, &doc);
        assert!(e.is_empty(), "{} does not validate:\n{}", p.display(), e.join("\n"));
    }
}

// ---------------------------------------------------------------------------------
// Conformance: SPO SeccompProfile CRD

/// Fields the API server would prune: keys a structural schema does not declare.
fn pruned(schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, val) in m {
                let here = format!("{at}/{k}");
                if at.is_empty() && k == "metadata" {
                    continue; // ObjectMeta: validated by the API server itself
                }
                match (props.and_then(|p| p.get(k)), schema.get("additionalProperties")) {
                    (Some(sub), _) => pruned(sub, val, &here, out),
                    (None, Some(sub)) if sub.is_object() => pruned(sub, val, &here, out),
                    _ => out.push(here),
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    pruned(sub, item, &format!("{at}/{i}"), out);
                }
            }
        }
        _ => {}
    }
}

struct Crd {
    file: &'static str,
    schema: Value,
    validator: jsonschema::Validator,
}

/// The `v1beta1` schema of an SPO SeccompProfile CRD, after checking that the CRD
/// serves it, is cluster-scoped and has the group polc emits.
fn spo_crd(file: &'static str) -> Crd {
    let crd = read_yaml(&conformance(file));
    assert_eq!(crd["spec"]["scope"], "Cluster", "{file}");
    assert_eq!(crd["spec"]["names"]["kind"], "SeccompProfile", "{file}");
    let (group, version) = SPO_API_VERSION.split_once('/').unwrap();
    assert_eq!(crd["spec"]["group"], group, "{file}");
    let v = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == version)
        .unwrap_or_else(|| panic!("{file} has no {version}"));
    assert_eq!(v["served"], true, "{file} does not serve {version}");
    let schema = v["schema"]["openAPIV3Schema"].clone();
    // OpenAPI's `nullable: true` is not JSON Schema: it becomes a `null` type.
    let mut js = schema.clone();
    openapi_to_json_schema(&mut js, &mut |_, _| {});
    let validator = jsonschema::options().with_draft(jsonschema::Draft::Draft4).build(&js).unwrap();
    Crd { file, schema, validator }
}

fn dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[test]
fn spo_objects_validate_against_the_crd() {
    let crds = [
        spo_crd("kubernetes-sigs/security-profiles-operator/deploy/base-crds/crds/seccompprofile.yaml"),
        spo_crd("kubernetes-sigs/security-profiles-operator/at-v0.9.1/deploy/base-crds/crds/seccompprofile.yaml"),
    ];
    // The checks are not vacuous.
    let bad = json!({"apiVersion": SPO_API_VERSION, "kind": "SeccompProfile", "metadata": {"name": "x"},
                     "spec": {"defaultAction": "SCMP_ACT_NOPE", "defaultErrnoRet": 1}});
    for crd in &crds {
        assert!(!crd.validator.is_valid(&bad), "{}", crd.file);
        let mut p = Vec::new();
        pruned(&crd.schema, &bad, "", &mut p);
        assert_eq!(p, ["/spec/defaultErrnoRet"], "{}", crd.file);
    }

    let s = Scratch::new("spo");
    let probes = probe_profiles(&s);
    let examples = s.dir.join("examples-out");
    compile(&[Path::new("examples/")], &examples);
    let mut checked = 0;
    for out in [&probes, &examples] {
        for p in files(out, "seccomp/spo") {
            let obj = read_yaml(&p);
            let name = stem(&p);
            for crd in &crds {
                let e: Vec<String> =
                    crd.validator.iter_errors(&obj).map(|e| format!("{e} at {}", e.instance_path())).collect();
                assert!(e.is_empty(), "{} against {}:\n{}", p.display(), crd.file, e.join("\n"));
                let mut p2 = Vec::new();
                pruned(&crd.schema, &obj, "", &mut p2);
                assert!(p2.is_empty(), "{}: the API server would prune {p2:?} ({})", p.display(), crd.file);
            }
            assert_eq!(obj["apiVersion"], SPO_API_VERSION);
            assert_eq!(obj["kind"], "SeccompProfile");
            assert_eq!(obj["metadata"]["name"], name.as_str());
            assert!(dns_subdomain(&name), "{name}");
            assert!(obj["metadata"].get("namespace").is_none(), "cluster-scoped: {}", p.display());
            assert_eq!(obj["metadata"]["labels"]["app.kubernetes.io/managed-by"], "polc");
            let hash = obj["metadata"]["annotations"]["polc.dev/content-hash"].as_str().unwrap();
            assert!(hash.starts_with("sha256:") && hash.len() == 7 + 64, "{hash}");
            // The same profile as the kubelet file, less the key the CRD lacks (the
            // runtimes' ERRNO default is EPERM, which is what defaultErrnoRet says).
            let mut oci = read_json(&out.join(format!("seccomp/{name}.json")));
            let errno = oci.as_object_mut().unwrap().remove("defaultErrnoRet");
            assert!(errno.is_none() || errno == Some(json!(1)));
            assert_eq!(obj["spec"], oci, "{}", p.display());
            checked += 1;
        }
    }
    assert_eq!(checked, 10);
}

#[test]
fn spo_yaml_reads_back_with_hostile_names() {
    // YAML 1.1 readers (sigs.k8s.io/yaml) take `on` for a boolean and `123` for a
    // number; file names may hold quotes, colons, hashes and non-ASCII.
    let s = Scratch::new("hostile");
    let file = "we'ird: \"name\" #1 \u{fc}\t.yaml";
    let policy = runtime_policy("\"on\"", "Enforce", "Block", &["read", "write"]).replace("polc-test", "\"123\"");
    let path = s.write(&format!("policies/{file}"), &policy);
    let out = s.dir.join("out");
    compile(&[&s.dir.join("policies")], &out);
    let yaml_path = out.join("seccomp/spo/123.policy.on.all.yaml");
    let text = std::fs::read_to_string(&yaml_path).unwrap();
    assert!(text.contains("    polc.dev/policy: \"on\"\n"), "{text}");
    let obj = read_yaml(&yaml_path);
    assert_eq!(obj["metadata"]["labels"]["polc.dev/policy"], "on");
    assert_eq!(obj["metadata"]["annotations"]["polc.dev/target"], "123/Policy/on/*");
    let files = obj["metadata"]["annotations"]["polc.dev/source-files"].as_str().unwrap();
    assert!(files.ends_with(file), "{files:?} vs {}", path.display());
    let implicit = obj["metadata"]["annotations"][IMPLICIT_ANNOTATION].as_str().unwrap();
    assert!(implicit.starts_with("capget,capset,chdir,clone3,close,") && !implicit.contains("read,"), "{implicit}");
}
