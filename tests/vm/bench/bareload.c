// SPDX-License-Identifier: Apache-2.0
/*
 * bareload - attach every program of a BPF object (bare.bpf.o) with libbpf, print
 * `attached N`, and keep them attached until standard input reaches its end; the
 * links go when the process exits. Used by tests/vm/bench.py for the floor row of
 * the hook benchmark.
 *
 *   bareload OBJ < control
 */
#include <bpf/libbpf.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	char c;
	int n = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: bareload OBJ\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || libbpf_get_error(obj)) {
		fprintf(stderr, "bareload: cannot open %s\n", argv[1]);
		return 1;
	}
	if (bpf_object__load(obj) != 0) {
		fprintf(stderr, "bareload: cannot load %s\n", argv[1]);
		return 1;
	}
	bpf_object__for_each_program(prog, obj)
	{
		struct bpf_link *link = bpf_program__attach(prog);

		if (!link || libbpf_get_error(link)) {
			fprintf(stderr, "bareload: cannot attach %s\n", bpf_program__name(prog));
			return 1;
		}
		n++;
	}
	printf("attached %d\n", n);
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
