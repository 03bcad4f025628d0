// SPDX-License-Identifier: GPL-2.0-only
/*
 * polc_vmcheck - a test harness for ebpf-lsm/verify-in-vm.sh (not the agent): load
 * polc_lsm.o with libbpf, pin its maps under a bpffs directory, attach every program
 * whose LSM hook the kernel has (file_truncate is missing before Linux 6.2),
 * run a command (which fills maps with bpftool and exercises the hooks), then print
 * the events the ring buffer holds and the drop counter.
 *
 * Usage: polc_vmcheck <polc_lsm.o> <pin dir> <command...>
 * Exit: the command's status, or 2 when loading or attaching fails.
 */
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "polc_abi.h"

static int on_event(void *ctx, void *data, size_t size)
{
	const struct polc_event *e = data;

	(void)ctx;
	if (size < sizeof(*e)) {
		printf("event: short record (%zu bytes)\n", size);
		return 0;
	}
	printf("event: op=%u action=%u rule=%u policy=%#x flags=%#x pid=%u comm=%.16s path_len=%u path=%.256s "
	       "aux=%#x family=%u\n",
	       e->op, e->action, e->rule_id, e->policy, e->flags, e->pid, e->comm, e->path_len, e->path, e->aux,
	       e->family);
	return 0;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct btf *vmlinux;
	struct ring_buffer *rb;
	int status = 0, n = 0, ncpu, fd;
	char path[512];
	pid_t pid;

	if (argc < 4) {
		fprintf(stderr, "usage: %s <polc_lsm.o> <pin dir> <command...>\n", argv[0]);
		return 2;
	}
	/* The maps are LIBBPF_PIN_BY_NAME: pinned under the pin dir as they are made. */
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = argv[2]);
	obj = bpf_object__open_file(argv[1], &opts);
	if (!obj) {
		fprintf(stderr, "polc_vmcheck: cannot open %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	/* A program of a hook this kernel lacks is left out, as the agent does. */
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		fprintf(stderr, "polc_vmcheck: cannot read the kernel's BTF: %s\n", strerror(errno));
		return 2;
	}
	bpf_object__for_each_program(prog, obj)
	{
		const char *sec = bpf_program__section_name(prog);

		snprintf(path, sizeof(path), "bpf_lsm_%s", strncmp(sec, "lsm/", 4) ? sec : sec + 4);
		if (btf__find_by_name_kind(vmlinux, path, BTF_KIND_FUNC) < 0) {
			printf("polc_vmcheck: %s not loaded: the kernel has no %s\n", bpf_program__name(prog), path);
			bpf_program__set_autoload(prog, false);
		}
	}
	btf__free(vmlinux);
	if (bpf_object__load(obj)) {
		fprintf(stderr, "polc_vmcheck: cannot load %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	bpf_object__for_each_program(prog, obj)
	{
		if (!bpf_program__autoload(prog))
			continue;
		if (!bpf_program__attach(prog)) {
			fprintf(stderr, "polc_vmcheck: cannot attach %s (%s): %s\n", bpf_program__name(prog),
				bpf_program__section_name(prog), strerror(errno));
			return 2;
		}
		n++;
	}
	printf("polc_vmcheck: attached %d programs\n", n);
	fflush(stdout);

	pid = fork();
	if (pid == 0) {
		execvp(argv[3], argv + 3);
		perror("polc_vmcheck: exec");
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		perror("polc_vmcheck: command");
		return 2;
	}

	rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, POLC_MAP_EVENTS)), on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "polc_vmcheck: cannot open the ring buffer\n");
		return 2;
	}
	ring_buffer__consume(rb);
	ncpu = libbpf_num_possible_cpus();
	fd = bpf_map__fd(bpf_object__find_map_by_name(obj, POLC_MAP_DROPS));
	if (ncpu > 0 && fd >= 0) {
		unsigned long long vals[ncpu], total = 0;
		__u32 zero = 0;

		if (bpf_map_lookup_elem(fd, &zero, vals) == 0)
			for (int i = 0; i < ncpu; i++)
				total += vals[i];
		printf("polc_vmcheck: dropped events: %llu\n", total);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
