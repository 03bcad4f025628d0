//! `polc explain FILE --with DIR`, as the README and `--help` show it: FILE is also
//! inside DIR, and is read once.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::root;
use std::process::Command;

#[test]
fn the_documented_example_explains_the_policy() {
    let o = Command::new(env!("CARGO_BIN_EXE_polc"))
        .current_dir(root())
        .args(["explain", "examples/sock-shop/policies/runtime-carts.yaml", "--with", "examples/sock-shop"])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("has errors"), "{stderr}");
    // The policy selects the carts Deployment of the manifests given with --with.
    assert!(stdout.contains("Deployment sock-shop/carts, container carts"), "{stdout}");
}
