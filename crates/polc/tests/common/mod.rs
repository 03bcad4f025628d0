//! Helpers shared by the integration tests of `polc`: each test file does `mod common;`.
//! Not every test file uses every helper, hence the `#[allow(dead_code)]`s.

use serde_json::{Map, Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The repository root.
#[allow(dead_code)]
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A file of `shared/conformance`; panics (fails the test) when it is missing.
#[allow(dead_code)]
pub fn conformance(rel: &str) -> PathBuf {
    let p = root().join("../shared/conformance").join(rel);
    assert!(p.is_file(), "conformance data must be present: {} is missing", p.display());
    p
}

#[allow(dead_code)]
pub fn read_yaml(p: &Path) -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// One entry of the capability report as a line: support, policy, rule, what it
/// matches, source and, when there is one, the reason.
#[allow(dead_code)]
pub fn capability_line(e: &Value) -> String {
    let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
    let mut line = format!("{} | {} | {} | {} | {}", s("support"), s("policy"), s("rule"), s("matches"), s("source"));
    if let Some(r) = e["reason"].as_str() {
        line.push_str(&format!(" | {r}"));
    }
    line
}

/// A scratch directory, removed (after restoring permissions) when dropped.
#[allow(dead_code)]
pub struct Scratch {
    pub dir: PathBuf,
}

#[allow(dead_code)]
impl Scratch {
    /// An empty directory of its own for `test`, named after the test binary too
    /// (`polc-bpf-…` for `compile_bpf`, `polc-bad-input-…` for `bad_input`).
    pub fn new(test: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "polc-{}-{}-{test}-{n}",
            env!("CARGO_CRATE_NAME").trim_start_matches("compile_").replace('_', "-"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }

    /// Write `name` (a relative path; missing directories are created); returns its path.
    #[allow(dead_code)]
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        restore_permissions(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Make everything under `dir` removable again (tests may leave mode-000 files).
fn restore_permissions(dir: &Path) {
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                restore_permissions(&p);
            } else {
                let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644));
            }
        }
    }
}

/// An OpenAPI schema (a CRD's `openAPIV3Schema`) in JSON Schema: on every object node,
/// `nullable: true` is removed and, when `type` is a single type, turned into a `null`
/// type (as polc-lint does for polc's own CRDs). `extra` then runs on the node, told
/// whether it was made nullable, before the node's children are translated.
#[allow(dead_code)]
pub fn openapi_to_json_schema<F>(v: &mut Value, extra: &mut F)
where
    F: FnMut(&mut Map<String, Value>, bool),
{
    match v {
        Value::Object(m) => {
            let mut nullable = false;
            if m.remove("nullable") == Some(Value::Bool(true))
                && let Some(Value::String(t)) = m.get("type").cloned()
            {
                m.insert("type".into(), json!([t, "null"]));
                nullable = true;
            }
            extra(m, nullable);
            m.values_mut().for_each(|c| openapi_to_json_schema(c, extra));
        }
        Value::Array(a) => a.iter_mut().for_each(|c| openapi_to_json_schema(c, extra)),
        _ => {}
    }
}
