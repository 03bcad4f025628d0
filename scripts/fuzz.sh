#!/usr/bin/env bash
# Fuzz the YAML loader (fuzz/fuzz_targets/loader.rs) with cargo-fuzz and libFuzzer.
#
#   scripts/fuzz.sh [SECONDS] [TARGET]     # default: 30 seconds, target `loader`
#
# Needs rustup with a nightly toolchain (sanitizers are nightly-only; rust-src is not
# needed) and a C++ compiler (libfuzzer-sys builds libFuzzer). Installs cargo-fuzz
# with `cargo install --locked` when it is missing, and g++ with apt-get when there is
# no C++ compiler and we are root on Debian. The working corpus grows in
# fuzz/corpus/TARGET (not committed); fuzz/seeds/TARGET is read, never written.
#
# Exit status: 0 when the run ends without a crash, non-zero on a crash (the input is
# written to fuzz/artifacts/TARGET/ and printed with the commands to reproduce and
# minimise it), a timeout, an out-of-memory or a build failure.
#
# Environment: POLC_FUZZ_TOOLCHAIN (default nightly), CARGO_FUZZ_VERSION (default
# 0.13.2), POLC_FUZZ_SANITIZER (default address; `none` runs about twice as fast and
# still finds every panic, since polc forbids unsafe code), POLC_FUZZ_ARGS (extra
# libFuzzer flags, e.g. "-jobs=4 -workers=4").
set -euo pipefail

secs="${1:-30}"
target="${2:-loader}"
toolchain="${POLC_FUZZ_TOOLCHAIN:-nightly}"
cargo_fuzz_version="${CARGO_FUZZ_VERSION:-0.13.2}"
sanitizer="${POLC_FUZZ_SANITIZER:-address}"

case "$secs" in
'' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, got '$secs'" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    echo "fuzz.sh: toolchain '$toolchain' is missing: rustup toolchain install $toolchain --profile minimal" >&2
    exit 2
fi

if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1 && ! command -v clang++ >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "fuzz.sh: installing g++ (libfuzzer-sys compiles libFuzzer)" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
    else
        echo "fuzz.sh: no C++ compiler; install g++ or clang++" >&2
        exit 2
    fi
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz $cargo_fuzz_version" >&2
    cargo install cargo-fuzz --locked --version "$cargo_fuzz_version"
fi

corpus="fuzz/corpus/$target"
seeds="fuzz/seeds/$target"
mkdir -p "$corpus"
dirs=("$corpus")
[ -d "$seeds" ] && dirs+=("$seeds")

echo "fuzz.sh: fuzzing $target for ${secs}s (sanitizer: $sanitizer) with $(cargo fuzz --version) on $(rustup run "$toolchain" rustc --version)" >&2
# -timeout: one input taking longer than 30 s is a bug (a hang or a blow-up the limits
# missed). -rss_limit_mb: the loader's own limits keep a document well under this.
# -print_final_stats: executions and coverage at the end, for the log.
# shellcheck disable=SC2086 # POLC_FUZZ_ARGS is a list of flags
cargo "+$toolchain" fuzz run --sanitizer "$sanitizer" "$target" "${dirs[@]}" -- \
    -max_total_time="$secs" \
    -timeout=30 \
    -rss_limit_mb=4096 \
    -print_final_stats=1 \
    ${POLC_FUZZ_ARGS:-}
