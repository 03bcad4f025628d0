#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Prove that a real kernel's verifier accepts every program of polc_lsm.o: build the
# object (ebpf-lsm/check.sh), boot a stock Debian kernel with virtme-ng under QEMU and,
# inside, load every program with `bpftool prog loadall` and list them (sizes, with
# the verifier's processed-instruction counts in the log). Then attach them all
# (tools/polc_vmcheck, libbpf) and run tools/vm-scenario.sh: one hand-written policy
# (exec and read rules) bound to a test cgroup, checked with real processes. Fails
# loudly when vng, the kernel image or a tool is missing, when BPF LSM is not active
# in the guest, when any program is refused (the verifier log is printed) or when a
# decision is wrong.
#
# Usage: ebpf-lsm/verify-in-vm.sh [/boot/vmlinuz-<version>]   (default: newest in /boot)
# Inside the VM (internal): ebpf-lsm/verify-in-vm.sh --guest <object>
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() {
	echo "verify-in-vm: $*" >&2
	exit 1
}

guest() {
	local obj="$1" pin=/sys/fs/bpf/polc-verify
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	mountpoint -q /sys/kernel/security || mount -t securityfs securityfs /sys/kernel/security
	echo "guest kernel: $(uname -r)"
	echo "active LSMs: $(cat /sys/kernel/security/lsm)"
	grep -qw bpf /sys/kernel/security/lsm || die "BPF LSM is not active in the guest kernel"
	rm -rf "$pin"
	if ! bpftool prog loadall "$obj" "$pin"; then
		echo "verify-in-vm: loading failed; verifier log follows" >&2
		rm -rf "$pin"
		bpftool -d prog loadall "$obj" "$pin" 2>&1 | tail -n 200 >&2 || true
		die "the verifier refused polc_lsm.o"
	fi
	local want got
	want="$(grep -o 'define POLC_PROG_[A-Z_0-9]* "[a-z_0-9]*"' "$here/include/polc_abi.h" | awk '{print $3}' | tr -d '"' | sort)"
	got="$(ls "$pin" | sort)"
	[ "$want" = "$got" ] || die "pinned programs differ from polc_abi.h: want [$want] got [$got]"
	for p in $got; do
		bpftool prog show pinned "$pin/$p"
	done
	rm -rf "$pin"
	echo "verify-in-vm: the verifier accepted all $(echo "$got" | wc -w) programs"
	local maps=/sys/fs/bpf/polc-maps
	rm -rf "$maps" && mkdir -p "$maps"
	local out
	out="$("$here/build/polc_vmcheck" "$obj" "$maps" bash "$here/tools/vm-scenario.sh" "$maps")" || {
		echo "$out"
		die "the decision scenario failed (see above)"
	}
	echo "$out"
	rm -rf "$maps"
	# The events of the scenario (see tools/vm-scenario.sh for the rules).
	local want_events=(
		'op=0 action=2 rule=7 policy=0x1 flags=0x8 .* path_len=13 path=/usr/bin/true ' # symlink resolved, parent unknown
		'op=1 action=2 rule=8 policy=0x1 flags=0 .* path=/etc/hostname '
		'op=1 action=1 rule=9 policy=0x1 flags=0 .* path=/etc/passwd '
		'op=1 action=2 rule=26 policy=0x1 flags=0x2 .* path_len=3[0-9][0-9] path=/tmp/polc-vmscn/pl/' # long path, cut
		'op=0 action=2 rule=30 policy=0x1 .* path=/tmp/polc-vmscn/polc-commblk '
		'op=0 action=2 rule=31 policy=0x1 flags=0 .* path=/usr/bin/env ' # parent class known
		'op=3 action=2 rule=40 policy=0x1 flags=0 .* aux=0x60009 family=2$'
		'op=6 action=2 rule=41 policy=0x1 flags=0 .* comm=chown '
		'op=5 action=2 rule=42 policy=0x1 flags=0 .* comm=python3 '
		'op=4 action=2 rule=43 policy=0x1 flags=0 pid=0 .* aux=0x61e61 family=2$'
		'^polc_vmcheck: dropped events: 0$'
	)
	for re in "${want_events[@]}"; do
		grep -Eq -- "$re" <<<"$out" || die "no event matches: $re"
	done
	echo "verify-in-vm: OK: all programs verified, attached, and the scenario's decisions hold"
}

if [ "${1:-}" = "--guest" ]; then
	guest "$2"
	exit 0
fi

command -v vng >/dev/null || die "vng (virtme-ng) not found: pip install virtme-ng"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found: apt-get install qemu-system-x86"
command -v bpftool >/dev/null || die "bpftool not found: apt-get install bpftool"
command -v cc >/dev/null || die "cc not found: apt-get install gcc"
kernel="${1:-}"
if [ -z "$kernel" ]; then
	kernel="$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)"
fi
[ -n "$kernel" ] && [ -f "$kernel" ] || die "no kernel image (apt-get install linux-image-amd64, or pass /boot/vmlinuz-<version>)"

"$here/check.sh"
obj="$here/build/polc_lsm.o"
cc -O2 -Wall -Werror -I "$here/include" -o "$here/build/polc_vmcheck" "$here/tools/polc_vmcheck.c" -lbpf ||
	die "cannot build tools/polc_vmcheck.c (apt-get install gcc libbpf-dev)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
vng -r "$kernel" --memory 2G --cpus 2 --rw --disable-kvm \
	--exec "bash $here/verify-in-vm.sh --guest $obj" 2>&1 | tee "$log"
grep -q '^verify-in-vm: OK' "$log" || die "the guest check did not pass (see above)"
