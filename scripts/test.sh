#!/usr/bin/env bash
# Installs what the tests need and runs every test tier that runs on this machine.
# Used by the README's test command and by .ci/run. Fails (never skips) when a tool
# it needs is missing and cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages the tests use. Installed only when missing, so a warm machine
# skips apt entirely.
APT_PACKAGES=(pkg-config python3-seccomp clang apparmor qemu-system-x86 linux-image-amd64 libbpf-dev bpftool busybox-static clang-format)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# A second stock kernel for the enforcement suite, which boots every series
# installed: Debian 12's own is 6.1; 6.12 (Debian 13's kernel, which Debian 12 also
# ships, as linux-image-6.12.*+deb12-amd64 in bookworm-security) has LSM hooks 6.1
# lacks (file_truncate) and runs the same cases.
SECOND_KERNEL_SERIES=6.12
if ! ls /boot/vmlinuz-"$SECOND_KERNEL_SERIES".* >/dev/null 2>&1; then
  as_root apt-get update -qq
  kpkg=$(apt-cache search --names-only "^linux-image-${SECOND_KERNEL_SERIES//./\\.}\.[0-9.]+\+deb[0-9]+-amd64\$" | cut -d' ' -f1 | sort -V | tail -n 1)
  [ -n "$kpkg" ] || { echo "scripts/test.sh: no linux-image-$SECOND_KERNEL_SERIES.*-amd64 package in the configured Debian archives (Debian 12 has them in bookworm-security)" >&2; exit 1; }
  step "installing $kpkg (the enforcement suite's second kernel)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$kpkg"
fi

# virtme-ng boots the kernel enforcement suite (scripts/vm-test.sh).
command -v vng >/dev/null || { step "installing virtme-ng"; python3 -m pip install -q virtme-ng; }

command -v cargo >/dev/null || { echo "scripts/test.sh: cargo is required (rustup stable)" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

# CI builds every crate once: incremental state would only take disk (over 1 GB).
export CARGO_INCREMENTAL=0
target_dir=${CARGO_TARGET_DIR:-target}
mkdir -p "$target_dir"
step "disk: $(df -h --output=avail "$target_dir" | tail -n 1 | tr -d ' ') free where $target_dir is (a full run takes about 4.5 GB: docs/development.md)"

step "format"
cargo fmt --all -- --check

step "clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "eBPF programs: clang-format, -Werror build, every map and program of polc_abi.h present"
ebpf-lsm/check.sh

step "unit, snapshot, conformance and CLI tests"
cargo test --workspace --locked

# The CLI tests built this binary; `cargo run -p polc` would build it again with
# other features of its dependencies (those of polc alone), for nothing.
polc_debug="$target_dir/debug/polc"
[ -x "$polc_debug" ] || cargo build -q --locked -p polc

step "generated files are current (CRDs, docs)"
"$polc_debug" crds --check --out crds

step "examples and the policy library lint clean (warnings fail)"
"$polc_debug" lint --fail-on warning examples/ policies/

step "the README's main command: compile the example, and the policy library"
tmp=$(mktemp -d)
cargo run -q --locked --release -p polc -- compile examples/sock-shop --out "$tmp/sock-shop" >/dev/null
cargo run -q --locked --release -p polc -- compile policies/ --out "$tmp/policies" >/dev/null
rm -rf "$tmp"

step "docs build without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked -q

step "lint benchmark (quick; figures and targets in docs/performance.md)"
cargo bench -q --locked -p polc-lint --bench lint -- --quick

step "compile benchmark (quick; figures and targets in docs/performance.md)"
cargo bench -q --locked -p polc --bench compile -- --quick

step "kernel enforcement suite in a VM (one boot per kernel: 6.1 and 6.12; what it proves: docs/enforcement.md)"
# The hook benchmark (scripts/vm-test.sh without --no-bench) compiles and loads
# 10,000-rule policies under TCG emulation, which takes many minutes; it is run by
# hand and its figures are in docs/performance.md.
scripts/vm-test.sh --no-bench

if [ -x scripts/fuzz.sh ]; then
  step "fuzz the loader briefly"
  scripts/fuzz.sh "${POLC_FUZZ_SECONDS:-30}"
fi

step "all tests passed"
