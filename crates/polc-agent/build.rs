//! Build the eBPF LSM object from `ebpf-lsm/src/polc_lsm.bpf.c` with clang into
//! `OUT_DIR/polc_lsm.o`, which the library embeds.
//!
//! Hermetic: no downloads and no reads of the host's /sys. When clang or the C source
//! is missing the build still succeeds (with a cargo warning) and embeds an empty
//! object; the loader then refuses with a clear error. `POLC_CLANG` names another
//! clang binary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let repo = manifest.join("../..");
    let ebpf = repo.join("ebpf-lsm");
    let src = ebpf.join("src/polc_lsm.bpf.c");
    let include = ebpf.join("include");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let out = out_dir.join("polc_lsm.o");

    println!("cargo:rerun-if-env-changed=POLC_CLANG");
    println!("cargo:rerun-if-env-changed=POLC_REQUIRE_EBPF");
    println!("cargo:rerun-if-changed={}", src.display());
    // New files under ebpf-lsm/ (the C source appearing) re-run this script too.
    println!("cargo:rerun-if-changed={}", ebpf.display());
    for dir in [ebpf.join("src"), include.clone()] {
        println!("cargo:rerun-if-changed={}", dir.display());
        for f in headers(&dir) {
            println!("cargo:rerun-if-changed={}", f.display());
        }
    }

    let built = if src.is_file() {
        compile(&src, &ebpf, &include, &out)
    } else {
        Err(format!("{} does not exist", src.display()))
    };
    let status = match built {
        Ok(()) => "built",
        Err(why) => {
            // Release images must not ship without the object (deploy/Dockerfile).
            assert!(
                !matches!(std::env::var("POLC_REQUIRE_EBPF").as_deref(), Ok(v) if !v.is_empty() && v != "0"),
                "polc-agent: the eBPF object was not built ({why}) and POLC_REQUIRE_EBPF=1: install clang and libbpf-dev"
            );
            println!(
                "cargo:warning=polc-agent: the eBPF object was not built ({why}); polc will refuse to load it: install clang and libbpf-dev and rebuild"
            );
            if let Err(e) = std::fs::write(&out, []) {
                println!("cargo:warning=polc-agent: cannot write {}: {e}", out.display());
            }
            "missing"
        }
    };
    println!("cargo:rustc-env=POLC_EBPF_OBJECT_STATUS={status}");
}

/// `*.h` files of a directory (sorted, for stable output).
fn headers(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "h")).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The flags of ebpf-lsm/README.md.
fn compile(src: &Path, ebpf: &Path, include: &Path, out: &Path) -> Result<(), String> {
    let clang = std::env::var("POLC_CLANG").unwrap_or_else(|_| "clang".into());
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => "arm64",
        Ok("x86_64") | Err(_) => "x86",
        Ok(other) => other,
    }
    .to_string();
    let multiarch = match arch.as_str() {
        "arm64" => "/usr/include/aarch64-linux-gnu",
        _ => "/usr/include/x86_64-linux-gnu",
    };
    let mut cmd = Command::new(&clang);
    // The object's bytes (and with them its id, loader::object_id) do not depend on
    // where the repository is: debug info names files relative to it.
    let repo = ebpf.parent().unwrap_or(ebpf);
    cmd.args(["-O2", "-g", "-target", "bpf"])
        .arg(format!("-ffile-prefix-map={}=.", repo.display()))
        .arg(format!("-D__TARGET_ARCH_{arch}"))
        .arg("-I")
        .arg(include)
        .arg("-I")
        .arg(ebpf.join("src"))
        .arg("-I")
        .arg(multiarch)
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(out);
    let output = cmd.output().map_err(|e| format!("cannot run `{clang}`: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in stderr.lines().take(40) {
        println!("cargo:warning={line}");
    }
    Err(format!("`{clang}` failed on {} ({})", src.display(), output.status))
}
