// SPDX-License-Identifier: GPL-2.0
/*
 * bare.bpf.c - the least a BPF LSM program can do on the hooks polc's programs use
 * in the benchmark's loops: pass on the result of the hooks before it. Attached by
 * bareload.c, it measures the floor any BPF LSM enforcer pays on this kernel and
 * CPU (the trampoline and an empty program), beside which tests/vm/bench.py puts
 * polc's programs. Not part of polc.
 *
 * An LSM program's context is its hook's arguments as u64s, the result of the
 * hooks before it last: file_open(struct file *, int ret), and
 * bprm_check_security(struct linux_binprm *, int ret).
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("lsm/file_open")
int bare_file_open(__u64 *ctx)
{
	return (int)ctx[1];
}

SEC("lsm/bprm_check_security")
int bare_bprm_check(__u64 *ctx)
{
	return (int)ctx[1];
}
