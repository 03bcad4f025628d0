#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Host-side check of polc's eBPF LSM object, no VM needed (CI):
#  1. clang-format: the C is formatted (ebpf-lsm/.clang-format);
#  2. build ebpf-lsm/build/polc_lsm.o with the flags of ebpf-lsm/README.md plus
#     -Wall -Werror;
#  3. the object's symbols: every POLC_MAP_* of polc_abi.h is a map in .maps, every
#     map in .maps is declared in polc_abi.h (or is the internal scratch map), every
#     POLC_PROG_* is a program in its POLC_SEC_* section, the license is GPL.
# Fails, never skips, when a tool is missing. The verifier check needs a kernel with
# BPF LSM: ebpf-lsm/verify-in-vm.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
abi="$here/include/polc_abi.h"
src="$here/src/polc_lsm.bpf.c"
out="$here/build/polc_lsm.o"
clang="${POLC_CLANG:-clang}"
fail=0

die() {
	echo "check.sh: $*" >&2
	exit 1
}
bad() {
	echo "check.sh: $*" >&2
	fail=1
}

for tool in "$clang" clang-format llvm-objdump; do
	command -v "$tool" >/dev/null || die "$tool not found (apt-get install clang clang-format llvm)"
done
case "$(uname -m)" in
aarch64) arch=arm64 multiarch=/usr/include/aarch64-linux-gnu ;;
*) arch=x86 multiarch=/usr/include/x86_64-linux-gnu ;;
esac
[ -f /usr/include/bpf/bpf_helpers.h ] || die "/usr/include/bpf/bpf_helpers.h not found (apt-get install libbpf-dev)"

# 1. Formatting.
for f in "$src" "$here/include/polc_vmlinux.h"; do
	clang-format --style=file --dry-run --Werror "$f" || bad "$f is not clang-formatted (clang-format -i $f)"
done

# 2. Build (the flags of README.md, plus warnings as errors).
mkdir -p "$here/build"
"$clang" -O2 -g -target bpf "-ffile-prefix-map=$(dirname "$here")=." "-D__TARGET_ARCH_$arch" -I "$here/include" -I "$here/src" -I "$multiarch" \
	-Wall -Werror -c "$src" -o "$out" || die "clang failed on $src"

# 3. Names.
syms="$(llvm-objdump -t "$out")"
maps_in_obj="$(awk 'NF >= 3 && $(NF-2) == ".maps" {print $NF}' <<<"$syms" | sort -u)"
maps_in_abi="$(sed -n 's/^#define POLC_MAP_[A-Z_0-9]* "\([a-z_0-9]*\)".*/\1/p' "$abi" | sort -u)"
[ -n "$maps_in_abi" ] || die "no POLC_MAP_* in $abi"
for m in $maps_in_abi; do
	grep -qx "$m" <<<"$maps_in_obj" || bad "map $m (polc_abi.h) is missing from $out"
done
for m in $maps_in_obj; do
	[ "$m" = polc_scratch ] && continue
	grep -qx "$m" <<<"$maps_in_abi" || bad "map $m of $out is not declared in polc_abi.h"
done
nprog=0
while read -r define name; do
	sec_define="POLC_SEC_${define#POLC_PROG_}"
	sec="$(sed -n "s/^#define $sec_define \"\(.*\)\".*/\1/p" "$abi")"
	[ -n "$sec" ] || {
		bad "$define has no $sec_define in polc_abi.h"
		continue
	}
	awk -v s="$sec" -v n="$name" 'NF >= 3 && $(NF-2) == s && $NF == n && / F / {found=1} END {exit !found}' <<<"$syms" ||
		bad "program $name ($define) is not a function in section $sec of $out"
	nprog=$((nprog + 1))
done < <(sed -n 's/^#define \(POLC_PROG_[A-Z_0-9]*\) "\([a-z_0-9]*\)".*/\1 \2/p' "$abi")
[ "$nprog" -gt 0 ] || die "no POLC_PROG_* in $abi"
license="$(llvm-objdump -s -j license "$out" | sed -n 's/^ 0000 \([0-9a-f ]*\).*/\1/p' | tr -d ' ')"
[ "$license" = "47504c00" ] || bad "the license section is not \"GPL\" ($license)"

[ "$fail" -eq 0 ] || die "FAILED"
echo "check.sh: OK: $out builds with -Werror, is formatted, and has $(wc -w <<<"$maps_in_abi") ABI maps and $nprog programs"
