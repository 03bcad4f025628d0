// SPDX-License-Identifier: Apache-2.0
/*
 * hookbench - the loops behind the "Kernel hooks" figures of docs/performance.md.
 *
 *   hookbench open N ROUNDS PATH   N x open(PATH, O_RDONLY) + close, per round
 *   hookbench exec N ROUNDS        N x fork + execv("/usr/bin/true") + waitpid, per round
 *   hookbench open-renaming N ROUNDS PATH A B
 *                                  N x (rename A to B or B to A) + open(PATH) + close:
 *                                  every rename on the node makes polc's open cache stale,
 *                                  so each open is decided in full (the ns/op include the
 *                                  rename; the program's own time comes from bpf_stats)
 *
 * Prints one line: `<op> n=<N> rounds=<R> median_ns=<x> min_ns=<y>`, ns per operation
 * (median and minimum over the rounds). Exits 1 when an operation fails, so a loop that
 * the policy blocks cannot pass for a fast one.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int open_round(long n, const char *path)
{
	for (long i = 0; i < n; i++) {
		int fd = open(path, O_RDONLY);
		if (fd < 0) {
			perror(path);
			return -1;
		}
		close(fd);
	}
	return 0;
}

static int open_renaming_round(long n, const char *path, const char *a, const char *b)
{
	for (long i = 0; i < n; i++) {
		if (rename(i % 2 ? b : a, i % 2 ? a : b) != 0) {
			perror("rename");
			return -1;
		}
		int fd = open(path, O_RDONLY);
		if (fd < 0) {
			perror(path);
			return -1;
		}
		close(fd);
	}
	/* An even number of renames leaves A in place for the next round. */
	if (n % 2 && rename(b, a) != 0) {
		perror("rename");
		return -1;
	}
	return 0;
}

static int exec_round(long n)
{
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return -1;
		}
		if (pid == 0) {
			char *argv[] = {"true", NULL};
			execv("/usr/bin/true", argv);
			_exit(127);
		}
		int status;
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "hookbench: /usr/bin/true failed (status %d)\n", status);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4 || (strcmp(argv[1], "open") == 0 && argc < 5) || (strcmp(argv[1], "open-renaming") == 0 && argc < 7)) {
		fprintf(stderr, "usage: hookbench open N ROUNDS PATH | hookbench exec N ROUNDS | "
				"hookbench open-renaming N ROUNDS PATH A B\n");
		return 2;
	}
	const char *op = argv[1];
	long n = atol(argv[2]);
	int rounds = atoi(argv[3]);
	if (n <= 0 || rounds <= 0 || rounds > 100) {
		fprintf(stderr, "hookbench: N > 0 and 0 < ROUNDS <= 100\n");
		return 2;
	}
	double per[100];
	for (int r = 0; r < rounds; r++) {
		double t0 = now_ns();
		int rc;
		if (strcmp(op, "open") == 0)
			rc = open_round(n, argv[4]);
		else if (strcmp(op, "exec") == 0)
			rc = exec_round(n);
		else if (strcmp(op, "open-renaming") == 0)
			rc = open_renaming_round(n, argv[4], argv[5], argv[6]);
		else {
			fprintf(stderr, "hookbench: unknown op %s\n", op);
			return 2;
		}
		if (rc != 0)
			return 1;
		per[r] = (now_ns() - t0) / (double)n;
	}
	qsort(per, (size_t)rounds, sizeof(double), cmp);
	printf("%s n=%ld rounds=%d median_ns=%.1f min_ns=%.1f\n", op, n, rounds, per[rounds / 2], per[0]);
	return 0;
}
