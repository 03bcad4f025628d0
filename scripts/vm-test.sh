#!/usr/bin/env bash
# Kernel enforcement suite: boots each stock Debian kernel installed (the newest of
# each series: Debian 12's 6.1 and 6.12, Debian 13's kernel Debian 12 ships too,
# which scripts/test.sh installs) once with virtme-ng (QEMU, TCG), runs every case
# of tests/vm/guest.py and the kernel hook benchmark inside it, and fails when a
# case failed or a guest did not finish. Never skips: a missing tool is an error
# (scripts/test.sh installs them).
#
# Usage: scripts/vm-test.sh [--no-bench] [--only CASE,...] [--bench-only events|locks]
#                           [--kernel /boot/vmlinuz-...]...
# Environment: POLC_VM_TIMEOUT (seconds for each boot, default 2400),
#              POLC_VM_KERNEL (a /boot/vmlinuz-* to boot instead; same as --kernel).
# Results, per kernel release R: build/vm/R/results.txt (one line per case),
# build/vm/R/guest.log (every command, its output and events), build/vm/R/bench.txt
# (hook cost table); build/vm/results.txt: every kernel's results.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
vm="$repo/build/vm"
out="$vm/host" # what the host builds for every guest

step() { printf '\n==> vm-test: %s\n' "$*" >&2; }
die() { printf 'vm-test: error: %s\n' "$*" >&2; exit 2; }

bench=1
only=""
bench_only=""
kernels=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-bench) bench=0 ;;
    --only) only="${2:?--only needs a list of cases}"; shift ;;
    --bench-only) bench_only="${2:?--bench-only needs a part (events or locks)}"; shift ;;
    --kernel) kernels+=("${2:?--kernel needs a /boot/vmlinuz-* path}"); shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done

step "checking tools"
[ "$(id -u)" = 0 ] || die "run as root (virtme-ng needs to read the kernel image; the guest loads BPF programs as root)"
for t in vng qemu-system-x86_64 cc cargo timeout; do
  command -v "$t" >/dev/null || die "$t is missing (scripts/test.sh installs qemu-system-x86, linux-image-amd64, busybox-static and virtme-ng)"
done
command -v clang >/dev/null || die "clang is missing (scripts/test.sh installs it; it builds the benchmark's empty BPF programs)"
[ -r /usr/include/bpf/libbpf.h ] || die "libbpf-dev is missing (scripts/test.sh installs it; the benchmark's loader links libbpf)"
[ -x /usr/bin/python3 ] || die "/usr/bin/python3 is missing (the guest runs the suite with the system python)"
command -v busybox >/dev/null || [ -x /bin/busybox ] || die "busybox is missing (virtme-ng needs busybox-static)"

[ -n "${POLC_VM_KERNEL:-}" ] && kernels+=("$POLC_VM_KERNEL")
if [ "${#kernels[@]}" = 0 ]; then
  # The newest image of each series (6.1.0-57, 6.12.118, ...: major.minor).
  while read -r k; do kernels+=("$k"); done < <(
    ls /boot/vmlinuz-* 2>/dev/null | sort -V |
      awk '{ v = $0; sub(/.*vmlinuz-/, "", v); split(v, p, /[.-]/); newest[p[1] "." p[2]] = $0 }
           END { for (s in newest) print newest[s] }' | sort -V)
fi
[ "${#kernels[@]}" -gt 0 ] || die "no /boot/vmlinuz-* (install linux-image-amd64)"
if [ "${#kernels[@]}" = 1 ] && [ -z "${POLC_VM_KERNEL:-}" ]; then
  echo "vm-test: note: one kernel series installed (${kernels[0]}); scripts/test.sh installs Debian 12's 6.1 and 6.12 to run the suite on both" >&2
fi
for kernel in "${kernels[@]}"; do
  [ -r "$kernel" ] || die "cannot read $kernel"
  owner=$(dpkg -S "$kernel" 2>/dev/null | cut -d: -f1 || true)
  case "$owner" in
    linux-image-*) ;;
    *) die "$kernel does not come from a Debian linux-image package (owner: ${owner:-none})" ;;
  esac
  echo "kernel: $kernel ($owner)" >&2
done

step "building polc, the swap tool and the benchmark loop (release)"
cargo build -q --locked --release -p polc
cargo build -q --locked --release -p polc-agent --example swap
mkdir -p "$out/bench" "$out/swap"
for p in a b; do
  rm -rf "$out/swap/$p.out"
  target/release/polc compile "tests/vm/policies/swap-$p.yaml" --target bpf-lsm --out "$out/swap/$p.out" >/dev/null
  bundles=("$out/swap/$p.out"/bpf-lsm/*.bundle)
  [ "${#bundles[@]}" = 1 ] && [ -f "${bundles[0]}" ] || die "expected one bundle for swap-$p.yaml, got: ${bundles[*]}"
  cp "${bundles[0]}" "$out/swap/$p.bundle"
done
cc -O2 -Wall -Wextra -Werror -o "$out/hookbench" tests/vm/bench/hookbench.c
# The floor of the hook benchmark: empty BPF LSM programs on the same hooks, attached
# with libbpf (libbpf-dev), to put polc's programs beside.
clang -O2 -g -Wall -Werror -target bpf -I"/usr/include/$(cc -dumpmachine)" -c tests/vm/bench/bare.bpf.c -o "$out/bare.bpf.o"
cc -O2 -Wall -Wextra -Werror -o "$out/bareload" tests/vm/bench/bareload.c -lbpf
# The agent's decode benchmark, run in the guest too: the same user-space work on the
# same emulated CPU, to compare the ring buffer path with.
evbench=$(cargo bench --locked -p polc-agent --bench events --no-run 2>&1 | sed -n 's/^ *Executable .*(\(.*\))$/\1/p' | tail -n 1)
[ -n "$evbench" ] && [ -x "$evbench" ] || die "cannot build the agent's events benchmark"
cp "$evbench" "$out/eventsbench"
for section in process file; do
  for n in 1 1000 10000; do
    /usr/bin/python3 tests/vm/bench/gen-rules.py "$section" "$n" "$out/bench/$section-$n.yaml"
  done
done
target/release/polc exec --help >/dev/null || die "this polc has no working \`exec\` subcommand"

step "the suite's policies lint clean"
target/release/polc lint --fail-on warning tests/vm/policies "$out/bench/process-1000.yaml" "$out/bench/file-1000.yaml" >/dev/null

guest_args=()
[ "$bench" = 1 ] && guest_args+=(--bench)
[ -n "$only" ] && guest_args+=(--only "$only")
[ -n "$bench_only" ] && guest_args+=(--bench-only "$bench_only")
timeout_s=${POLC_VM_TIMEOUT:-2400}

# Name a guest kernel's death in `log` (vng.log: the console, see --verbose below):
# its oops and panic lines. An int3 oops in a bpf_lsm_* function is the kernel
# patching a hook's entry for a BPF trampoline (attach or detach) while another CPU
# runs it; under TCG it has ended boots while polc's programs were detached (see
# docs/performance.md, "The open cache's hits without the lock").
kernel_died() {
  local log=$1
  # The die counter ("[#1]") marks every oops; 6.12 starts the line with "Oops: ",
  # 6.1 with the trap's name alone ("int3: 0000 [#1] ...").
  grep -qE '\[#[0-9]+\]|Kernel panic' "$log" 2>/dev/null || return 0
  echo "vm-test: the guest's kernel died; from $log:" >&2
  grep -E '\[#[0-9]+\]|RIP: 0010|Comm:|Kernel panic' "$log" | sed 's/^/  /' | head -8 >&2
  if grep -qE '(Oops: )?int3: [0-9a-f]+ \[#' "$log" && grep -qE 'RIP: 0010:bpf_lsm_' "$log"; then
    echo "vm-test: an int3 trap at a BPF LSM hook's entry: the kernel was patching it for a trampoline (a program attached or detached) while another CPU ran it" >&2
  fi
}

# One boot of `kernel`; its results in build/vm/<release>. Returns 1 when a case
# failed or the guest did not finish.
boot() {
  local kernel=$1 release dir vng_rc start summary
  release=${kernel##*/vmlinuz-}
  dir="$vm/$release"
  rm -rf "$dir" && mkdir -p "$dir"
  for a in swap bench hookbench bare.bpf.o bareload eventsbench; do ln -s "../host/$a" "$dir/$a"; done
  step "booting $kernel under QEMU (TCG; timeout ${timeout_s}s)"
  start=$(date +%s)
  set +e
  # --verbose: the kernel's console goes into vng.log too, so a guest that ends
  # early (a panic, the OOM killer) leaves its last messages there.
  timeout --foreground -k 10 "$timeout_s" \
    vng -r "$kernel" --memory 2G --cpus 2 --rw --disable-kvm --verbose \
    --exec "cd '$repo' && /usr/bin/python3 tests/vm/guest.py --repo '$repo' --out '$dir' ${guest_args[*]}" 2>&1 |
    tee "$dir/vng.log"
  vng_rc=${PIPESTATUS[0]}
  set -e
  echo "vm-test: the VM ran $(( $(date +%s) - start )) s (vng exit status $vng_rc)" >&2
  rm -rf "$dir/scratch"
  [ "$vng_rc" = 124 ] && echo "vm-test: the VM hit the ${timeout_s}s timeout" >&2
  kernel_died "$dir/vng.log"
  if [ ! -s "$dir/results.txt" ]; then
    echo "vm-test: FAILED on $release: the guest wrote no results (see $dir/vng.log)" | tee -a "$vm/results.txt" >&2
    return 1
  fi
  summary=$(grep '^SUMMARY ' "$dir/results.txt" || true)
  sed "s/^/$release: /" "$dir/results.txt" >> "$vm/results.txt"
  if [ -z "$summary" ]; then
    echo "vm-test: FAILED on $release: the guest did not finish; results so far:" >&2
    cat "$dir/results.txt" >&2
    return 1
  fi
  step "results on $release ($dir/results.txt; details in $dir/guest.log)"
  cat "$dir/results.txt" >&2
  [ -s "$dir/bench.txt" ] && { echo; cat "$dir/bench.txt"; } >&2
  case "$summary" in
    *" fail=0") return 0 ;;
    *) echo "vm-test: FAILED on $release: $summary" >&2; return 1 ;;
  esac
}

rm -f "$vm/results.txt"
failed=()
for kernel in "${kernels[@]}"; do
  boot "$kernel" || failed+=("${kernel##*/vmlinuz-}")
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "vm-test: FAILED on ${failed[*]} (every kernel's results: $vm/results.txt)" >&2
  exit 1
fi
echo "vm-test: all cases passed on ${#kernels[@]} kernels: ${kernels[*]##*/vmlinuz-}" >&2
