#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# A sanity check of the decisions, run by polc_vmcheck inside the VM with the
# programs attached and the maps pinned under $1: one policy (generation 0, slot 1)
# bound to a test cgroup, written by hand with bpftool:
#   EXEC  exact  /usr/bin/true  -> BLOCK (rule 7)
#   READ  exact  /etc/hostname  -> BLOCK (rule 8, rank 2)
#   READ  prefix /etc/ (direct, deep) -> AUDIT (rule 9, rank 1)
#   READ  rest classes, suffix, name and long-path entries (rules 21-26)
#   EXEC  comm `polc-commblk` -> BLOCK (rule 30); /usr/bin/env with parent
#         /usr/bin/dash (parent class 1) -> BLOCK (rule 31)
#   CONNECT 127.0.0.2/32 tcp/9 -> BLOCK (rule 40); CAPABILITY CAP_CHOWN -> BLOCK (41);
#   RAW_SOCKET -> BLOCK (42); ACCEPT 127.0.0.1/32 tcp/7777 -> BLOCK (43)
# and checks what processes in and outside the cgroup may do. Prints "scenario: OK".
set -uo pipefail

pin="$1"
fail=0
ok() { echo "scenario: ok: $*"; }
bad() {
	echo "scenario: FAIL: $*"
	fail=1
}

hex_str() { # bytes of $1, zero-padded to $2
	local s="$1" n="$2" out
	out="$(printf '%s' "$s" | od -An -tx1 -v | tr -s ' \n' ' ')"
	for ((i = ${#s}; i < n; i++)); do out+=" 00"; done
	echo "$out"
}
le() { # value $1 as $2 little-endian bytes
	local v="$1" n="$2" out=""
	for ((i = 0; i < n; i++)); do out+=" $(printf '%02x' $(((v >> (8 * i)) & 255)))"; done
	echo "$out"
}
zeros() { le 0 "$1"; }
upd() { bpftool map update pinned "$pin/$1" key hex $2 value hex $3 || bad "bpftool map update $1"; }

# Test files live in the guest, under one directory of their own.
B=/tmp/polc-vmscn
rm -rf "$B" && mkdir -p "$B"
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup
cg=/sys/fs/cgroup/polc-test
mkdir -p "$cg"
cgid="$(stat -c %i "$cg")"
policy=1
decision() { echo "$(le "$1" 4) $(le "$2" 4) $(le "$3" 1) $(le "$3" 1) 00 00"; } # rule rank action

upd polc_gen "$(zeros 4)" "$(zeros 8)"
upd polc_cgroups "$(le "$cgid" 8)" "$(le 1 4) $(zeros 4)"
# has_op: EXEC, READ, CONNECT, ACCEPT, RAW_SOCKET, CAPABILITY; default_action: ALLOW;
# lookups: EXEC exact|comm|parent, READ exact|prefix|suffix|name, CONNECT and ACCEPT
# net4, RAW_SOCKET and CAPABILITY id;
# one parent class.
cfg="01 01 00 01 01 01 01 $(zeros 9) $(zeros 16)"
cfg+=" $(le 545 2) $(le 15 2) $(zeros 2) $(le 64 2) $(le 64 2) $(le 256 2) $(le 256 2) $(zeros 18)"
cfg+=" $(le 1 2) $(zeros 2) $(zeros 4)"
upd polc_config "$(le $policy 4)" "$cfg"
upd polc_path_exact "$(le $policy 4) $(le 0 2) $(le 0 2) $(hex_str /usr/bin/true 248)" "$(decision 7 1 2)"
upd polc_path_exact "$(le $policy 4) $(le 1 2) $(le 0 2) $(hex_str /etc/hostname 248)" "$(decision 8 2 2)"
upd polc_path_pfx "$(le $((64 + 8 * 5)) 4) $(le $policy 4) $(le 1 2) $(le 0 2) $(hex_str /etc/ 248)" \
	"$(zeros 12) $(decision 9 1 1) $(decision 9 1 1) $(zeros 4)"

lpm() { # map, op, prefix bytes (string), value
	upd "$1" "$(le $((64 + 8 * ${#3})) 4) $(le $policy 4) $(le "$2" 2) $(le 0 2) $(hex_str "$3" 248)" "$4"
}
none="$(zeros 12)"
# Rest classes: $B/pd/ direct only; $B/pe equal only; $B/pn/ deep, $B/pn/x/ nothing.
lpm polc_path_pfx 1 $B/pd/ "$none $(decision 21 1 2) $none $(zeros 4)"
lpm polc_path_pfx 1 $B/pe "$(decision 22 1 2) $none $none $(zeros 4)"
lpm polc_path_pfx 1 $B/pn/ "$none $none $(decision 23 1 2) $(zeros 4)"
lpm polc_path_pfx 1 $B/pn/x/ "$none $none $none $(zeros 4)"
# Suffix `*.secret` (reversed), name `nm_*` (direct), long paths under $B/pl/.
lpm polc_path_sfx 1 terces. "$none $none $(decision 24 1 2) $(zeros 4)"
lpm polc_name_pfx 1 nm_ "$none $(decision 25 1 2) $none $(zeros 4)"
lpm polc_path_pfx 1 $B/pl/ "$none $none $(decision 26 1 2) $(zeros 4)"
# comm, parent class 1 = /usr/bin/dash, and EXEC of /usr/bin/env under it.
upd polc_comm "$(le $policy 4) $(le 0 2) $(le 0 2) $(hex_str polc-commblk 16)" "$(decision 30 1 2)"
upd polc_par_exact "$(le $policy 4) $(le 0 2) $(le 0 2) $(hex_str /usr/bin/dash 248)" "$(le 1 4)"
upd polc_path_exact "$(le $policy 4) $(le 0 2) $(le 1 2) $(hex_str /usr/bin/env 248)" "$(decision 31 1 2)"
# CONNECT 127.0.0.2/32 tcp port 9; CAPABILITY 0 (CAP_CHOWN).
upd polc_net4 "$(le $((64 + 32)) 4) $(le $policy 4) 03 06 00 09 7f 00 00 02" "$(decision 40 1 2)"
# ACCEPT from 127.0.0.1/32 on local tcp port 7777.
upd polc_net4 "$(le $((64 + 32)) 4) $(le $policy 4) 04 06 1e 61 7f 00 00 01" "$(decision 43 1 2)"
upd polc_id "$(le $policy 4) $(le 6 2) $(le 0 2) $(le 0 4)" "$(decision 41 1 2)"
upd polc_id "$(le $policy 4) $(le 5 2) $(le 0 2) $(le 0 4)" "$(decision 42 1 2)"

in_cg() { sh -c "echo \$\$ > $cg/cgroup.procs && exec $1"; }

/bin/true && ok "outside the cgroup /bin/true runs" || bad "outside the cgroup /bin/true failed"
cat /etc/hostname >/dev/null && ok "outside the cgroup /etc/hostname reads" || bad "outside: /etc/hostname"
out="$(in_cg /bin/true 2>&1)" && bad "/bin/true ran in the cgroup" || {
	grep -q "Operation not permitted" <<<"$out" && ok "/bin/true (symlinked dir) blocked in the cgroup: $out" ||
		bad "/bin/true failed otherwise: $out"
}
out="$(in_cg /usr/bin/true 2>&1)" && bad "/usr/bin/true ran in the cgroup" || ok "/usr/bin/true blocked: $out"
cp /usr/bin/true $B/polc-true-copy
in_cg $B/polc-true-copy && ok "a copy of true runs (its own path)" || bad "the copy was blocked"
ln -sf /usr/bin/true $B/polc-true-link
out="$(in_cg $B/polc-true-link 2>&1)" && bad "a symlink to true ran" || ok "a symlink to true is blocked: $out"
out="$(in_cg "cat /etc/hostname" 2>&1)" && bad "/etc/hostname was read in the cgroup" || ok "/etc/hostname read blocked: $out"
in_cg "cat /etc/passwd" >/dev/null && ok "/etc/passwd reads in the cgroup (audited)" || bad "/etc/passwd blocked"
in_cg "sh -c 'echo x >> $B/polc-w'" && ok "writes are ungoverned" || bad "a write was blocked"

mkdir -p $B/pd/sub $B/pn/x $B/pn/z $B/q
for f in $B/pd/a $B/pd/sub/b $B/pe $B/pex $B/pn/x/y $B/pn/z/w $B/a.secret $B/q/nm_x $B/nm_; do
	echo x >"$f"
done
long=$B/pl/$(printf 'd%.0s' {1..150})/$(printf 'e%.0s' {1..150})
mkdir -p "$long" && echo x >"$long/f"
reads() { in_cg "cat $1" >/dev/null 2>&1; }
expect_read() { # path, 0 = readable / 1 = blocked, what
	if reads "$1"; then
		[ "$2" = 0 ] && ok "$3: $1 reads" || bad "$3: $1 was read"
	else
		[ "$2" = 1 ] && ok "$3: $1 blocked" || bad "$3: $1 was blocked"
	fi
}
expect_read $B/pd/a 1 "prefix, direct"
expect_read $B/pd/sub/b 0 "prefix, deep (no decision)"
expect_read $B/pe 1 "prefix, equal"
expect_read $B/pex 0 "prefix, direct (no decision)"
expect_read $B/pn/z/w 1 "prefix, deep"
expect_read $B/pn/x/y 0 "longer prefix, direct (no decision)"
expect_read $B/a.secret 1 "suffix"
expect_read $B/q/nm_x 1 "name prefix, direct"
expect_read $B/nm_ 0 "name prefix, equal (no decision)"
expect_read "$long/f" 1 "long path (${#long} bytes), prefix"
cp /usr/bin/true $B/polc-commblk
out="$(in_cg $B/polc-commblk 2>&1)" && bad "comm polc-commblk ran" || ok "comm polc-commblk blocked: $out"
out="$(in_cg "/usr/bin/env pwd" 2>&1)" && ok "env with an unknown parent runs" || bad "env without parent: $out"
out="$(in_cg "sh -c '/usr/bin/env pwd; exit \$?'" 2>&1)" && bad "env under dash ran" ||
	ok "env under dash (parent class) blocked: $out"
out="$(in_cg "bash -c 'echo > /dev/tcp/127.0.0.2/9'" 2>&1)"
grep -q "Operation not permitted" <<<"$out" && ok "connect 127.0.0.2:9 blocked" || bad "connect 127.0.0.2:9: $out"
out="$(in_cg "bash -c 'echo > /dev/tcp/127.0.0.3/9'" 2>&1)"
grep -q "Operation not permitted" <<<"$out" && bad "connect 127.0.0.3:9 blocked" || ok "connect 127.0.0.3:9 not blocked: $out"
out="$(in_cg "bash -c 'echo > /dev/tcp/::ffff:127.0.0.2/9'" 2>&1)"
grep -q "Operation not permitted" <<<"$out" && ok "connect [::ffff:127.0.0.2]:9 (IPv4-mapped) blocked" ||
	bad "connect [::ffff:127.0.0.2]:9: $out"
out="$(in_cg "python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'" 2>&1)" &&
	bad "an AF_PACKET socket was created" || ok "AF_PACKET socket blocked: ${out##*$'\n'}"
python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)' && ok "AF_PACKET outside the cgroup" ||
	bad "AF_PACKET outside the cgroup failed"
# ACCEPT: listeners in the cgroup, clients outside (the SYN is handled in softirq
# with an unrelated current task: the listener's cgroup must decide).
cat >/tmp/polc-listen.py <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
open("/tmp/polc-listen-" + sys.argv[1], "w").close()
s.settimeout(20)
try:
    while True:
        s.accept()[0].close()
except OSError:
    pass
PY
rm -f /tmp/polc-listen-777[78]
in_cg "python3 /tmp/polc-listen.py 7777" &
in_cg "python3 /tmp/polc-listen.py 7778" &
for _ in $(seq 1 60); do
	[ -e /tmp/polc-listen-7777 ] && [ -e /tmp/polc-listen-7778 ] && break
	sleep 0.5
done
[ -e /tmp/polc-listen-7777 ] && [ -e /tmp/polc-listen-7778 ] || bad "the test listeners did not start"
timeout 4 bash -c 'echo > /dev/tcp/127.0.0.1/7778' && ok "accept on 7778 (no rule)" || bad "accept on 7778 failed"
timeout 4 bash -c 'echo > /dev/tcp/127.0.0.1/7777' && bad "accept on 7777 was not blocked" ||
	ok "accept on 7777 blocked (SYN dropped)"
touch $B/polc-chown
out="$(in_cg "chown 1 $B/polc-chown" 2>&1)" && bad "chown ran" || ok "CAP_CHOWN blocked: $out"
chown 1 $B/polc-chown && ok "chown outside the cgroup runs" || bad "chown outside the cgroup failed"

# Back to the root cgroup for the harness.
[ "$fail" -eq 0 ] && echo "scenario: OK" || echo "scenario: FAILED"
exit "$fail"
