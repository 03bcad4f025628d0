// SPDX-License-Identifier: GPL-2.0-only
/*
 * polc_lsm.bpf.c - polc's eBPF LSM programs: the lookup procedure documented at the
 * top of polc_abi.h, hook by hook. Flat cost: hash and LPM lookups only; the
 * compiler has resolved precedence. Tasks whose cgroup is not in polc_cgroups leave
 * after one hash lookup, without an event.
 *
 * See ebpf-lsm/README.md for the build flags and what each program decides.
 */
#include "polc_vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "polc_abi.h"

char LICENSE[] SEC("license") = "GPL";

/* Bytes of the per-CPU buffer bpf_d_path writes into (the kernel's PATH_MAX). */
#define PATH_BUF PATH_MAX
#define PATH_MASK (PATH_BUF - 1)
/* No last '/' (polc_task.last_slash). */
#define NO_SLASH POLC_ANY

/* Rule maps: generous but bounded; LPM tries allocate per entry. */
#define RULE_ENTRIES 65536

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, RULE_ENTRIES);
	__type(key, struct polc_path_key);
	__type(value, struct polc_decision);
} polc_path_exact SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, RULE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct polc_path_lpm_key);
	__type(value, struct polc_lpm_value);
} polc_path_pfx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, RULE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct polc_path_lpm_key);
	__type(value, struct polc_lpm_value);
} polc_path_sfx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, RULE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct polc_path_lpm_key);
	__type(value, struct polc_lpm_value);
} polc_name_pfx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, RULE_ENTRIES);
	__type(key, struct polc_infix_key);
	__type(value, struct polc_infix_value);
} polc_path_infix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, RULE_ENTRIES);
	__type(key, struct polc_comm_key);
	__type(value, struct polc_decision);
} polc_comm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, RULE_ENTRIES);
	__type(key, struct polc_path_key);
	__type(value, struct polc_pclass_value);
} polc_par_exact SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, RULE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct polc_path_lpm_key);
	__type(value, struct polc_pclass_lpm_value);
} polc_par_pfx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, RULE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct polc_net4_key);
	__type(value, struct polc_decision);
} polc_net4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, RULE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct polc_net6_key);
	__type(value, struct polc_decision);
} polc_net6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, RULE_ENTRIES);
	__type(key, struct polc_id_key);
	__type(value, struct polc_decision);
} polc_id SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, RULE_ENTRIES);
	__type(key, struct polc_path_key);
	__type(value, struct polc_decision);
} polc_dir_guard SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, RULE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct polc_path_lpm_key);
	__type(value, struct polc_decision);
} polc_guard_deep SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, RULE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct polc_path_lpm_key);
	__type(value, struct polc_decision);
} polc_guard_sfx SEC(".maps");

/* Two generations of every policy slot may be loaded at once. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, 8192);
	__type(key, struct polc_policy_key);
	__type(value, struct polc_policy_config);
} polc_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct polc_generation);
} polc_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct polc_binding);
} polc_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct polc_task);
} polc_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct polc_host);
} polc_host SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, POLC_COUNT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} polc_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, POLC_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} polc_cache_stat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_INODE_STORAGE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct polc_open_cache);
} polc_open_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, 4 << 20);
} polc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} polc_drops SEC(".maps");

/*
 * Per-CPU scratch of the path hooks (too big for the 512-byte stack): the resolved
 * path and the keys built from it. Only process-context hooks use it, and a BPF
 * program runs with migration disabled and does not sleep.
 */
struct polc_scratch {
	char buf[PATH_BUF];	       /* bpf_d_path output, or bprm->filename */
	struct polc_path_lpm_key fwd;  /* path, zero-padded: exact (.key) and prefix */
	struct polc_path_lpm_key rev;  /* reversed path: suffix */
	struct polc_path_lpm_key name; /* last segment: name prefix */
	struct polc_path_lpm_key par;  /* the task's executable: parent class */
	/* The path walk builds the path backwards, ending at walk[PATH_BUF - 1]; the
	 * slack lets a name of NAME_MAX bytes be written at any masked position. */
	char walk[PATH_BUF + NAME_MAX + 1];
	/* The last O_TRUNC open polc_file_open let through on this CPU: its task
	 * (pid_tgid) and file, so that the truncation the same open does next
	 * (path_truncate) is not decided and reported a second time. */
	__u64 trunc_task;
	__u64 trunc_file;
};

/* Not pinned: each load makes its own (the programs' working memory, no ABI). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct polc_scratch);
} polc_scratch SEC(".maps");

/* What the path hooks know about the resolved path. */
struct path_info {
	__u32 len;	  /* full length (without the NUL) */
	__s32 last_slash; /* index of the last '/', -1: none */
	__s32 rev_last;	  /* index of the last '/' in the reversed path, -1: none */
	__u32 slashes;	  /* number of '/', counted only when an infix lookup needs it */
	__u32 name_len;	  /* bytes after the last '/' */
};

static __always_inline struct polc_scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&polc_scratch, &zero);
}

/*
 * n = min(n, max) on a 64-bit register the verifier tracks: written in C, clang may
 * test a copy of the value and pass on the untested one, which the verifier refuses
 * as a helper's size.
 */
#define BOUND(n, max) asm volatile("if %[v] <= %[m] goto +1; %[v] = %[m]" : [v] "+r"(n) : [m] "i"(max))

/* v &= mask, kept even where clang can prove the mask changes nothing: the verifier
 * cannot (it loses the bounds of a value clang zero-extends through a copy). */
#define MASK(x, mask) asm volatile("%[v] &= %[m]" : [v] "+r"(x) : [m] "i"(mask))

static __always_inline __u32 min_u32(__u32 a, __u32 b)
{
	return a < b ? a : b;
}

/*
 * A decision an earlier LSM (or program) made, passed on: 0 or -errno. From 6.12
 * the verifier refuses an LSM program whose return value may lie outside
 * [-MAX_ERRNO, 0], and `ret` is a number it knows nothing about.
 */
#define POLC_MAX_ERRNO 4095

static __always_inline int prior(int ret)
{
	if (ret < -POLC_MAX_ERRNO || ret > 0)
		return -EPERM;
	return ret;
}

/* ---- Step 0: the policy of the current task ---- */

/* The config of the policy bound to cgroup `cgid`, and the generation (all 32 bits)
 * it was read in; NULL: not contained (allow). */
static __always_inline struct polc_policy_config *policy_gen_of(__u64 cgid, __u32 *policy, __u32 *generation)
{
	struct polc_binding *b = bpf_map_lookup_elem(&polc_cgroups, &cgid);
	struct polc_policy_key k;
	struct polc_generation *g;
	__u32 zero = 0;

	if (!b)
		return NULL;
	g = bpf_map_lookup_elem(&polc_gen, &zero);
	if (!g)
		return NULL;
	*generation = g->generation;
	k.policy = POLC_POLICY_ID(*generation, b->slot);
	*policy = k.policy;
	return bpf_map_lookup_elem(&polc_config, &k);
}

static __always_inline struct polc_policy_config *policy_of(__u64 cgid, __u32 *policy)
{
	__u32 generation;

	return policy_gen_of(cgid, policy, &generation);
}

static __always_inline void take(struct polc_decision *best, const struct polc_decision *d)
{
	if (polc_decision_beats(d, best))
		*best = *d;
}

/* Step 5: the action of the best decision, or the op's default. */
static __always_inline __u8 verdict(const struct polc_policy_config *cfg, __u8 op, const struct polc_decision *best,
				    __u8 *flags)
{
	__u8 a;

	if (best->rule_id != 0) {
		a = best->action;
	} else {
		*flags |= POLC_EVENT_DEFAULT;
		a = cfg->default_action[op & (POLC_OP_MAX - 1)];
	}
	/* Anything but AUDIT and BLOCK allows, as in the compiler's simulation. */
	return a == POLC_BLOCK || a == POLC_AUDIT ? a : POLC_ALLOW;
}

static __always_inline int reported(const struct polc_policy_config *cfg, __u8 action)
{
	return action != POLC_ALLOW || (cfg->flags & POLC_CONFIG_EVENT_ALLOW);
}

/* ---- Events ---- */

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&polc_drops, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* A record with everything but the path and address filled; NULL: dropped (counted). */
static __always_inline struct polc_event *event_new(__u64 cgid, __u32 policy, __u32 rule_id, __u8 op, __u8 action,
						    __u8 flags, int with_task)
{
	struct polc_event *e = bpf_ringbuf_reserve(&polc_events, sizeof(*e), 0);
	struct task_struct *t;

	if (!e) {
		count_drop();
		return NULL;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->cgroup_id = cgid;
	e->rule_id = rule_id;
	e->policy = policy;
	e->aux = 0;
	e->path_len = 0;
	e->op = op;
	e->action = action;
	e->flags = flags;
	e->family = 0;
	e->pad[0] = 0;
	e->pad[1] = 0;
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	__builtin_memset(e->comm, 0, sizeof(e->comm));
	e->path[0] = 0;
	if (with_task) {
		t = bpf_get_current_task_btf();
		e->pid = t->tgid;
		e->tid = t->pid;
		e->ppid = BPF_CORE_READ(t, real_parent, tgid);
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	} else {
		e->pid = 0;
		e->tid = 0;
		e->ppid = 0;
	}
	return e;
}

/* A path event; `resolved`: s->buf holds the path of `len` bytes. */
static __always_inline void emit_path(struct polc_scratch *s, __u64 cgid, __u32 policy, __u32 rule_id, __u8 op,
				      __u8 action, __u8 flags, int resolved, __u32 len)
{
	struct polc_event *e;

	if (resolved && len > POLC_EVENT_PATH_MAX - 1)
		flags |= POLC_EVENT_PATH_TRUNCATED;
	e = event_new(cgid, policy, rule_id, op, action, flags, 1);
	if (!e)
		return;
	if (resolved) {
		e->path_len = len;
		bpf_probe_read_kernel_str(e->path, sizeof(e->path), s->buf);
	}
	bpf_ringbuf_submit(e, 0);
}

/* ---- Scans of the resolved path (bpf_loop: one verification, any length) ---- */

struct scan {
	struct polc_scratch *s;
	__u32 len;
	__s32 found;
	__u32 count;
};

/* polc_slash_bytes() of the 8 bytes of s->buf from `start`, the bytes at `valid`
 * and above cleared (the path ends there). */
static __always_inline __u64 slash_word(struct polc_scratch *s, __u32 start, __u32 valid)
{
	__u64 v, m;

	BOUND(start, PATH_BUF - 8);
	__builtin_memcpy(&v, &s->buf[start], 8);
	m = polc_slash_bytes(v);
	if (valid < 8)
		m &= (1ULL << (valid * 8)) - 1;
	return m;
}

/* Backwards from the end, 8 bytes per callback: the last '/'. Chunk k holds the 8
 * bytes that end 8k bytes before the path's end; the last chunk of a path whose
 * length is not a multiple of 8 is the path's first `left` bytes. */
static long scan_last_slash(__u32 k, void *data)
{
	struct scan *c = data;
	struct polc_scratch *s = c->s;
	__u32 done = k * 8, left, start;
	__u64 m;

	if (!s || done >= c->len)
		return 1;
	left = c->len - done;
	start = left >= 8 ? left - 8 : 0;
	m = slash_word(s, start, left >= 8 ? 8 : left);
	if (!m)
		return 0;
	c->found = (__s32)(start + polc_top_byte(m));
	return 1;
}

/* Forwards: the first '/'. */
static long scan_first_slash(__u32 i, void *data)
{
	struct scan *c = data;
	struct polc_scratch *s = c->s;

	if (!s)
		return 1;
	if (s->buf[i & PATH_MASK] == '/') {
		c->found = i;
		return 1;
	}
	return 0;
}

/* Every '/', 8 bytes per callback. */
static long scan_count_slashes(__u32 k, void *data)
{
	struct scan *c = data;
	struct polc_scratch *s = c->s;
	__u32 start = k * 8;
	__u64 m;

	if (!s || start >= c->len)
		return 1;
	m = slash_word(s, start, c->len - start);
	c->count += polc_count_bytes(m);
	return 0;
}

/*
 * Chunk k of the reversed path: rev.key.path[8k .. 8k+8) = the 8 bytes that end 8k
 * bytes before the path's end, byte-swapped (one callback per 8 bytes instead of
 * one per byte). The last chunk of a path whose length is not a multiple of 8 reads
 * the path's first 8 bytes and shifts out the ones it must not use; what it leaves
 * past the path's end is never compared (the LPM lookup compares prefixlen bits).
 */
static long scan_reverse8(__u32 k, void *data)
{
	struct scan *c = data;
	struct polc_scratch *s = c->s;
	__u32 done = k * 8, left, start;
	__u64 v = 0, slot;

	if (!s || done >= c->len || done >= POLC_PATH_MAX)
		return 1;
	left = c->len - done;
	if (left >= 8) {
		start = left - 8;
		MASK(start, PATH_MASK);
		__builtin_memcpy(&v, &s->buf[start], 8);
		v = __builtin_bswap64(v);
	} else {
		__builtin_memcpy(&v, &s->buf[0], 8);
		v = __builtin_bswap64(v) >> ((8 - left) * 8);
	}
	slot = done;
	BOUND(slot, POLC_PATH_MAX - 8);
	__builtin_memcpy(&s->rev.key.path[slot], &v, 8);
	return 0;
}

static __always_inline __s32 last_slash_of(struct polc_scratch *s, __u32 len)
{
	struct scan c = {.s = s, .len = len, .found = -1};

	if (len == 0 || len > PATH_BUF)
		return -1;
	bpf_loop((len + 7) / 8, scan_last_slash, &c, 0);
	return c.found;
}

/* Copy `n` (<= POLC_PATH_MAX) bytes of s->buf from `off` into `dst`. */
static __always_inline void copy_from_buf(char *dst, struct polc_scratch *s, __u32 off, __u32 n)
{
	__u64 size = n;

	if (off >= PATH_BUF)
		return;
	BOUND(size, POLC_PATH_MAX);
	bpf_probe_read_kernel(dst, size, s->buf + (off & PATH_MASK));
}

/*
 * Fill `pi` and the path keys the config asks for from the `len` bytes of the path
 * in s->buf. `lookups`: the POLC_LOOKUP_* bits of every op this hook decides.
 */
static __always_inline void path_keys(struct polc_scratch *s, __u32 len, __u16 lookups, struct path_info *pi)
{
	__u32 n;

	pi->len = len;
	pi->last_slash = last_slash_of(s, len);
	pi->name_len = len - (__u32)(pi->last_slash + 1);
	pi->slashes = 0;
	pi->rev_last = -1;

	n = min_u32(len, POLC_PATH_MAX);
	if (lookups & (POLC_LOOKUP_EXACT | POLC_LOOKUP_PREFIX)) {
		/* Zero-padded: the exact map hashes the whole key. */
		__builtin_memset(s->fwd.key.path, 0, POLC_PATH_MAX);
		copy_from_buf(s->fwd.key.path, s, 0, n);
	}
	if (lookups & POLC_LOOKUP_SUFFIX) {
		struct scan c = {.s = s, .len = len, .found = -1};

		bpf_loop((n + 7) / 8, scan_reverse8, &c, 0);
		/* The last '/' of the reversed path is the first '/' of the path. */
		if (len > 0 && s->buf[0] == '/') {
			pi->rev_last = len - 1;
		} else {
			c.found = -1;
			bpf_loop(len, scan_first_slash, &c, 0);
			pi->rev_last = c.found < 0 ? -1 : (__s32)(len - 1) - c.found;
		}
	}
	if (lookups & POLC_LOOKUP_NAME)
		copy_from_buf(s->name.key.path, s, (__u32)(pi->last_slash + 1), min_u32(pi->name_len, POLC_PATH_MAX));
	if (lookups & POLC_LOOKUP_INFIX) {
		struct scan c = {.s = s, .len = len};

		bpf_loop((len + 7) / 8, scan_count_slashes, &c, 0);
		pi->slashes = c.count;
	}
}

/* Resolve `path` with bpf_d_path into s->buf, then path_keys(). Returns 0, or -1
 * when bpf_d_path failed (the path is unresolved). */
static __always_inline int resolve(struct polc_scratch *s, struct path *path, __u16 lookups, struct path_info *pi)
{
	long r = bpf_d_path(path, s->buf, PATH_BUF);

	if (r <= 0 || r > PATH_BUF)
		return -1;
	path_keys(s, (__u32)r - 1, lookups, pi);
	return 0;
}

/* ---- The path walk: the path bpf_d_path would give, where it may not be called ---- */

/*
 * bpf_d_path is allowed only in the kernel's sleepable LSM hooks (file_open is one),
 * not in path_truncate or path_mknod. There the programs rebuild the same string
 * the way the kernel's d_path() does (fs/d_path.c, prepend_path): from the dentry up
 * through d_parent, crossing to the parent mount at each mount root (mnt_parent,
 * mnt_mountpoint), until the task's root (current->fs->root) or the root of the
 * mount tree; " (deleted)" after an unlinked file; "/NAME (deleted)" for the
 * kernel's pseudo files (memfd), whose dentries have d_dname. A path of PATH_MAX
 * bytes or more (bpf_d_path's -ENAMETOOLONG), a walk of more than WALK_STEPS steps,
 * a disconnected dentry (d_path gives just "/" there) or a name longer than
 * NAME_MAX are unresolved: the op's default decides and the event is always
 * reported, flagged POLC_EVENT_PATH_UNRESOLVED.
 *
 * Unlike d_path, the walk takes neither rename_lock nor mount_lock: a rename of a
 * directory on the path during the walk can give a path that mixes the old and new
 * names. The program runs under RCU, so every name it reads stays valid.
 */

/* Steps of one walk: a name or a mount crossing each. 2047 names fill PATH_MAX. */
#define WALK_STEPS 4096

enum {
	WALK_MORE = 0,
	WALK_DONE = 1,
	WALK_FAIL = 2,
};

struct walk {
	struct polc_scratch *s;
	__u64 dentry;	   /* struct dentry * */
	__u64 mnt;	   /* struct mount * */
	__u64 root_dentry; /* current->fs->root */
	__u64 root_mnt;	   /* struct vfsmount * */
	__u32 pos;	   /* the path starts at s->walk[pos] and ends before s->walk[PATH_BUF] */
	__u32 names;	   /* names prepended */
	__u32 state;	   /* WALK_* */
};

static __always_inline __u64 vfsmount_of(__u64 mnt)
{
	return (__u64) & ((struct mount *)mnt)->mnt;
}

static __always_inline __u64 mount_of(const struct vfsmount *m)
{
	return (__u64)m - bpf_core_field_offset(struct mount, mnt);
}

/* Prepend "/NAME" of dentry `d` at w->pos; 0, or -1 when it does not fit. */
static __always_inline int prepend_name(struct walk *w, struct polc_scratch *s, struct dentry *d)
{
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	__u32 len = BPF_CORE_READ(d, d_name.len);
	__u64 pos = w->pos, at;
	__u64 n = len;

	/* The path and its NUL must fit PATH_MAX bytes: pos - len - 1 >= 1. */
	if (len == 0 || len > NAME_MAX || pos > PATH_BUF || pos < (__u64)len + 2)
		return -1;
	pos -= len;
	at = pos;
	MASK(at, PATH_MASK);
	BOUND(n, NAME_MAX);
	if (bpf_probe_read_kernel(s->walk + at, n, name))
		return -1;
	pos -= 1;
	at = pos;
	MASK(at, PATH_MASK);
	s->walk[at] = '/';
	w->pos = (__u32)pos;
	w->names++;
	return 0;
}

static long walk_step(__u32 i, void *data)
{
	struct walk *w = data;
	struct polc_scratch *s = w->s;
	struct dentry *d = (struct dentry *)w->dentry;
	struct mount *m = (struct mount *)w->mnt;
	__u64 parent, up;

	if (!s) {
		w->state = WALK_FAIL;
		return 1;
	}
	if (w->dentry == w->root_dentry && vfsmount_of(w->mnt) == w->root_mnt) {
		w->state = WALK_DONE;
		return 1;
	}
	if (w->dentry == (__u64)BPF_CORE_READ(m, mnt.mnt_root)) {
		up = (__u64)BPF_CORE_READ(m, mnt_parent);
		if (up == w->mnt || up == 0) {
			/* The root of the mount tree (the task's root is outside it: as d_path). */
			w->state = WALK_DONE;
			return 1;
		}
		w->dentry = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
		w->mnt = up;
		return 0;
	}
	parent = (__u64)BPF_CORE_READ(d, d_parent);
	if (parent == w->dentry || parent == 0) {
		/* Disconnected from its mount's root. */
		w->state = WALK_FAIL;
		return 1;
	}
	if (prepend_name(w, s, d)) {
		w->state = WALK_FAIL;
		return 1;
	}
	w->dentry = parent;
	return 0;
}

/* d_path's " (deleted)", at the end of the walk buffer. */
#define DELETED_LEN 10

static __always_inline void put_deleted(struct polc_scratch *s)
{
	char *p = s->walk + PATH_BUF - DELETED_LEN;

	p[0] = ' ';
	p[1] = '(';
	p[2] = 'd';
	p[3] = 'e';
	p[4] = 'l';
	p[5] = 'e';
	p[6] = 't';
	p[7] = 'e';
	p[8] = 'd';
	p[9] = ')';
}

/* d_unlinked(): unhashed and not a root. */
static __always_inline int unlinked(struct dentry *d)
{
	return BPF_CORE_READ(d, d_hash.pprev) == NULL && (__u64)BPF_CORE_READ(d, d_parent) != (__u64)d;
}

/*
 * The path of `dentry` on mount `vfsmnt` into s->buf (NUL-terminated) as bpf_d_path
 * gives it; its length, or -1 when unresolved. `deleted`: check d_unlinked and
 * d_dname as d_path does (a file); 0 for a dentry being created, which is not hashed
 * yet (path_mknod: the directory was checked by the caller).
 */
static __always_inline long walk_path(struct polc_scratch *s, struct dentry *dentry, const struct vfsmount *vfsmnt,
				      int deleted)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct walk w = {
		.s = s,
		.dentry = (__u64)dentry,
		.mnt = mount_of(vfsmnt),
		.root_dentry = (__u64)BPF_CORE_READ(task, fs, root.dentry),
		.root_mnt = (__u64)BPF_CORE_READ(task, fs, root.mnt),
		.pos = PATH_BUF,
		.state = WALK_MORE,
	};
	const struct dentry_operations *ops;
	__u64 len, pos, at;

	if (deleted) {
		ops = BPF_CORE_READ(dentry, d_op);
		if (ops && BPF_CORE_READ(ops, d_dname) &&
		    ((__u64)BPF_CORE_READ(dentry, d_parent) != (__u64)dentry ||
		     (__u64)dentry != (__u64)BPF_CORE_READ(vfsmnt, mnt_root))) {
			/* simple_dname(): "/NAME (deleted)", the name of memfds. */
			put_deleted(s);
			w.pos = PATH_BUF - DELETED_LEN;
			w.state = prepend_name(&w, s, dentry) ? WALK_FAIL : WALK_DONE;
		} else if (unlinked(dentry)) {
			put_deleted(s);
			w.pos = PATH_BUF - DELETED_LEN;
		}
	}
	if (w.state == WALK_MORE)
		bpf_loop(WALK_STEPS, walk_step, &w, 0);
	pos = w.pos;
	if (w.state != WALK_DONE || pos > PATH_BUF || pos == 0)
		return -1;
	if (w.names == 0) {
		/* The root itself: "/" (before any " (deleted)"). */
		if (pos < 2)
			return -1;
		pos--;
		at = pos;
		MASK(at, PATH_MASK);
		s->walk[at] = '/';
	}
	len = PATH_BUF - pos;
	BOUND(len, PATH_BUF - 1);
	at = pos;
	MASK(at, PATH_MASK);
	if (bpf_probe_read_kernel(s->buf, len, s->walk + at))
		return -1;
	at = len;
	MASK(at, PATH_MASK);
	s->buf[at] = 0;
	return (long)len;
}

/*
 * polc_lpm_pick: the LPM value of the longest prefix of key `k` (holding
 * min(len, POLC_PATH_MAX) bytes) and the rest class of what follows it in the full
 * key of `len` bytes whose last '/' is at `last_slash` (-1: none).
 *
 * The value carries the length of its prefix (the `__u32` at `len_off`), so one
 * lookup tells the class: EQUAL when the prefix is the whole key, DEEP when what
 * follows it holds a '/' (the prefix ends at or before the last '/'), else DIRECT.
 * A key cut at POLC_PATH_MAX bytes is never EQUAL: its prefix is shorter than `len`.
 */
static __always_inline void *lpm_pick(void *map, struct polc_path_lpm_key *k, __u32 len, __s32 last_slash,
				      __u32 len_off, int *rest)
{
	__u32 matched;
	void *v;

	k->prefixlen = POLC_PATH_PREFIXLEN(min_u32(len, POLC_PATH_MAX));
	v = bpf_map_lookup_elem(map, k);
	if (!v)
		return NULL;
	matched = *(const __u32 *)((const char *)v + len_off);
	if (matched >= len)
		*rest = POLC_REST_EQUAL;
	else if (last_slash >= 0 && (__u32)last_slash >= matched)
		*rest = POLC_REST_DEEP;
	else
		*rest = POLC_REST_DIRECT;
	return v;
}

#define LPM_LEN __builtin_offsetof(struct polc_lpm_value, len)
#define PCLASS_LPM_LEN __builtin_offsetof(struct polc_pclass_lpm_value, len)

static __always_inline const struct polc_decision *lpm_decision(const struct polc_lpm_value *v, int rest)
{
	if (rest == POLC_REST_EQUAL)
		return &v->equal;
	if (rest == POLC_REST_DIRECT)
		return &v->direct;
	return &v->deep;
}

/* ---- Step 2: the parent class ---- */

/* The parent class of the executable in `t` (the task's image before this exec). */
static __always_inline __u16 parent_class(struct polc_scratch *s, __u32 policy, const struct polc_task *t)
{
	struct polc_pclass_lpm_value *lv;
	struct polc_pclass_value *pv;
	__u32 len = t->len, c;
	__s32 last = t->last_slash == NO_SLASH ? -1 : (__s32)t->last_slash;
	int rest = POLC_REST_EQUAL;

	s->par.key.policy = policy;
	s->par.key.op = POLC_OP_EXEC;
	s->par.key.pclass = 0;
	__builtin_memcpy(s->par.key.path, t->path, POLC_PATH_MAX);
	if (len <= POLC_PATH_MAX) {
		pv = bpf_map_lookup_elem(&polc_par_exact, &s->par.key);
		if (pv)
			return (__u16)pv->pclass;
	}
	lv = lpm_pick(&polc_par_pfx, &s->par, len, last, PCLASS_LPM_LEN, &rest);
	if (!lv)
		return 0;
	c = rest == POLC_REST_EQUAL ? lv->equal : rest == POLC_REST_DIRECT ? lv->direct : lv->deep;
	return c > 0xffff ? 0 : (__u16)c;
}

/* ---- Step 1: one pass of the path lookups for (op, pclass) ---- */

static __always_inline void path_pass(struct polc_scratch *s, const struct path_info *pi, __u32 policy, __u16 op,
				      __u16 lookups, __u16 pclass, struct polc_comm_key *comm,
				      struct polc_decision *best)
{
	struct polc_lpm_value *v;
	struct polc_decision *d;
	__u32 e_node = 0, f_node = 0;
	int rest = POLC_REST_EQUAL;

	s->fwd.key.policy = policy;
	s->fwd.key.op = op;
	s->fwd.key.pclass = pclass;
	if ((lookups & POLC_LOOKUP_EXACT) && pi->len <= POLC_PATH_MAX) {
		d = bpf_map_lookup_elem(&polc_path_exact, &s->fwd.key);
		if (d)
			take(best, d);
	}
	if (lookups & POLC_LOOKUP_PREFIX) {
		v = lpm_pick(&polc_path_pfx, &s->fwd, pi->len, pi->last_slash, LPM_LEN, &rest);
		if (v) {
			take(best, lpm_decision(v, rest));
			e_node = v->node;
		}
	}
	if (lookups & POLC_LOOKUP_SUFFIX) {
		s->rev.key.policy = policy;
		s->rev.key.op = op;
		s->rev.key.pclass = pclass;
		v = lpm_pick(&polc_path_sfx, &s->rev, pi->len, pi->rev_last, LPM_LEN, &rest);
		if (v) {
			take(best, lpm_decision(v, rest));
			f_node = v->node;
		}
	}
	if (lookups & POLC_LOOKUP_NAME) {
		s->name.key.policy = policy;
		s->name.key.op = op;
		s->name.key.pclass = pclass;
		v = lpm_pick(&polc_name_pfx, &s->name, pi->name_len, -1, LPM_LEN, &rest);
		if (v)
			take(best, lpm_decision(v, rest));
	}
	if ((lookups & POLC_LOOKUP_INFIX) && e_node != 0 && f_node != 0) {
		struct polc_infix_key ik = {
			.policy = policy,
			.op = op,
			.pclass = pclass,
			.prefix_node = e_node,
			.suffix_node = f_node,
		};
		struct polc_infix_value *iv = bpf_map_lookup_elem(&polc_path_infix, &ik);

		if (iv) {
			__u32 count = iv->count;

#pragma unroll
			for (int i = 0; i < POLC_INFIX_CANDIDATES; i++) {
				if ((__u32)i < count && polc_infix_fits(&iv->cand[i], pi->len, pi->slashes)) {
					take(best, &iv->cand[i].decision);
					break;
				}
			}
		}
	}
	if (comm && (lookups & POLC_LOOKUP_COMM)) {
		comm->policy = policy;
		comm->pclass = pclass;
		d = bpf_map_lookup_elem(&polc_comm, comm);
		if (d)
			take(best, d);
	}
}

/* ---- EXEC ---- */

/* The comm the new image gets: the kernel's kbasename(bprm->filename), 15 bytes. */
static __always_inline void new_comm(struct polc_scratch *s, const char *filename, struct polc_comm_key *k)
{
	long r = bpf_probe_read_kernel_str(s->buf, PATH_BUF, filename);
	__u32 len, start;
	__u64 n;
	__s32 last;

	if (r <= 1 || r > PATH_BUF)
		return;
	len = (__u32)r - 1;
	last = last_slash_of(s, len);
	start = (__u32)(last + 1);
	if (start >= len || start >= PATH_BUF)
		return;
	n = len - start;
	BOUND(n, POLC_COMM_LEN - 1);
	bpf_probe_read_kernel(k->comm, n, s->buf + (start & PATH_MASK));
}

/*
 * The end of a path op: the verdict from the best decision (or the default), the
 * event when the action is reported or the path could not be resolved, and the
 * hook's return value.
 */
static __always_inline int decide_path(struct polc_scratch *s, const struct polc_policy_config *cfg, __u64 cgid,
				       __u32 policy, __u8 op, const struct polc_decision *best, __u8 flags,
				       int resolved, __u32 len)
{
	__u8 action = verdict(cfg, op, best, &flags);

	if (reported(cfg, action) || !resolved)
		emit_path(s, cgid, policy, best->rule_id, op, action, flags, resolved, len);
	return action == POLC_BLOCK ? -EPERM : 0;
}

SEC("lsm/bprm_check_security")
int BPF_PROG(polc_bprm_check, struct linux_binprm *bprm, int ret)
{
	struct polc_comm_key comm = {};
	struct polc_decision best = {};
	struct path_info pi = {};
	struct polc_policy_config *cfg;
	struct polc_scratch *s;
	struct polc_task *t;
	__u64 cgid;
	__u32 policy = 0;
	__u16 lookups, pclass = 0;
	__u8 flags = 0;
	int resolved;

	if (ret != 0)
		return prior(ret);
	cgid = bpf_get_current_cgroup_id();
	cfg = policy_of(cgid, &policy);
	if (!cfg || !cfg->has_op[POLC_OP_EXEC])
		return 0;
	s = scratch();
	if (!s)
		return 0;
	lookups = cfg->lookups[POLC_OP_EXEC];

	if (lookups & POLC_LOOKUP_COMM)
		new_comm(s, BPF_CORE_READ(bprm, filename), &comm);
	resolved = resolve(s, &bprm->file->f_path, lookups, &pi) == 0;
	if (resolved) {
		if (cfg->pclass_count != 0 && (lookups & POLC_LOOKUP_PARENT)) {
			t = bpf_task_storage_get(&polc_tasks, bpf_get_current_task_btf(), 0, 0);
			if (t)
				pclass = parent_class(s, policy, t);
			else
				flags |= POLC_EVENT_PARENT_UNKNOWN;
		}
		path_pass(s, &pi, policy, POLC_OP_EXEC, lookups, 0, &comm, &best);
		if (pclass != 0)
			path_pass(s, &pi, policy, POLC_OP_EXEC, lookups, pclass, &comm, &best);
	} else {
		flags |= POLC_EVENT_PATH_UNRESOLVED;
	}
	return decide_path(s, cfg, cgid, policy, POLC_OP_EXEC, &best, flags, resolved, pi.len);
}

/* Record the executable the task now runs: the parent of what it executes next. */
SEC("lsm/bprm_committed_creds")
int BPF_PROG(polc_bprm_done, struct linux_binprm *bprm)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct polc_scratch *s;
	struct polc_task *t;
	__u64 cgid = bpf_get_current_cgroup_id();
	long r;
	__u32 len;
	__u64 n;
	__s32 last;

	/* Contained tasks, and tasks that already have an entry (kept exact). */
	if (bpf_map_lookup_elem(&polc_cgroups, &cgid))
		t = bpf_task_storage_get(&polc_tasks, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	else
		t = bpf_task_storage_get(&polc_tasks, task, 0, 0);
	if (!t)
		return 0;
	s = scratch();
	if (!s)
		return 0;
	r = bpf_d_path(&bprm->file->f_path, s->buf, PATH_BUF);
	if (r <= 0 || r > PATH_BUF) {
		/* Unknown from now on, as for tasks that started before the agent. */
		bpf_task_storage_delete(&polc_tasks, task);
		return 0;
	}
	len = (__u32)r - 1;
	last = last_slash_of(s, len);
	t->len = len;
	t->last_slash = last < 0 ? NO_SLASH : (__u16)last;
	t->flags = 0;
	t->pad = 0;
	__builtin_memset(t->path, 0, POLC_PATH_MAX);
	n = len;
	BOUND(n, POLC_PATH_MAX);
	bpf_probe_read_kernel(t->path, n, s->buf);
	return 0;
}

/* A new task (process or thread) runs its parent's image until it executes: copy the entry. */
SEC("lsm/task_alloc")
int BPF_PROG(polc_task_alloc, struct task_struct *task, unsigned long clone_flags, int ret)
{
	struct polc_task *p, *c;

	if (ret != 0)
		return prior(ret);
	p = bpf_task_storage_get(&polc_tasks, bpf_get_current_task_btf(), 0, 0);
	if (!p)
		return 0;
	c = bpf_task_storage_get(&polc_tasks, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (c)
		__builtin_memcpy(c, p, sizeof(*c));
	return 0;
}

/* ---- READ / WRITE ---- */

/* ---- The open cache: file_open's silent Allow decisions, per inode ---- */

/*
 * An open in a bound cgroup costs a bpf_d_path and the lookups of step 1, and most
 * opens of a workload are the same files again. polc_open_cache (inode storage)
 * remembers, per inode, the ops an open was let through for without an event, with
 * everything the path and the decision depended on (struct polc_open_cache). The
 * next open of the inode is let through at once when all of it is unchanged; any
 * change is a miss, decided as before. Only silent Allows are kept: every Block and
 * Audit is decided and reported in full.
 *
 * The path of a dentry changes only when
 *   - a dentry moves (rename, a remote rename seen by d_splice_alias): d_move and
 *     d_exchange write rename_lock, whose sequence the entry keeps;
 *   - the mount tree changes (mount, umount, a namespace torn down): mount_lock;
 *   - the task's root changes (chroot, pivot_root, setns): the root is in the entry
 *     and is read under fs_struct.seq;
 *   - the inode gets another name or loses one (link, unlink, from any caller, as
 *     vfs_link and vfs_unlink run the inode hooks): polc_counts counts them. With
 *     one name (i_nlink 1; a directory has one) a dentry freed and allocated again
 *     for the inode at the same address has the same path. Removed names and
 *     disconnected dentries (open_by_handle_at) are not kept: another dentry of
 *     the inode has another path.
 * These sequences are read before the path is resolved, so a change during the
 * decision makes the entry stale at once. Only local filesystems (ext2/3/4, xfs,
 * btrfs, tmpfs, overlayfs) are cached: on network and FUSE filesystems names change
 * where no hook runs. The policy is the policy id and the 32-bit generation: bundles
 * of a generation are never rewritten, and the agent counts every switch.
 * rename_lock and mount_lock have no BTF; the agent finds them in /proc/kallsyms and
 * writes their addresses into polc_host. Without them the cache is off. An entry
 * lives POLC_OPEN_CACHE_TTL_JIFFIES at most, so a 32-bit sequence cannot come round to
 * its value again meanwhile.
 *
 * Memory: an entry lives as long as its inode, and entries are charged to whoever
 * loaded the programs (the agent). polc_counts[POLC_COUNT_ENTRIES] counts them (made
 * here, freed in polc_ino_free before the kernel frees the inode's storage); none
 * is made beyond polc_host.cache_max.
 */

static __always_inline void cache_stat(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&polc_cache_stat, &which);

	if (n)
		*n += 1;
}

/* What an open's path depends on besides the inode, read before it is resolved. */
struct open_snap {
	__u64 names;
	__u64 dentry;
	__u64 mnt;
	__u64 root_dentry;
	__u64 root_mnt;
	__u64 root_ino;
	__u32 rename_seq;
	__u32 mount_seq;
	__u32 fs_seq;
	__u32 pad;
	__u64 now; /* jiffies */
};

/* The hit path reads kernel structs through the BTF pointers the hook and
 * bpf_get_current_task_btf() give (loads the verifier checks and the JIT inlines),
 * not with bpf_probe_read_kernel: a helper call per field cost more than the full
 * decision. The barrier keeps the loads of a sequence and of what it guards in
 * program order. */
#define COMPILER_BARRIER() asm volatile("" ::: "memory")

/* The sequence of the seqlock_t at kernel address `addr`. seqlock_t is a typedef of
 * an unnamed struct, which CO-RE cannot name; its first member is the
 * seqcount_spinlock_t in every kernel since 5.10. */
static __always_inline int read_seq(__u64 addr, __u32 *v)
{
	const char *p = (const char *)addr + bpf_core_field_offset(struct seqcount_spinlock, seqcount.sequence);

	return bpf_probe_read_kernel(v, sizeof(*v), p);
}

/* fs_struct.seq: a seqcount_spinlock_t, or a seqlock_t in kernels that made it one. */
static __always_inline __u32 fs_seq(struct fs_struct *fs)
{
	__u32 v;

	if (bpf_core_field_exists(((struct fs_struct___seqlock *)0)->seq.seqcount.seqcount))
		v = ((struct fs_struct___seqlock *)fs)->seq.seqcount.seqcount.sequence;
	else
		v = fs->seq.seqcount.sequence;
	COMPILER_BARRIER();
	return v;
}

/* polc_host when the open cache is on and `inode` may be cached, else NULL. */
static __always_inline const struct polc_host *cache_host(struct inode *inode)
{
	__u32 zero = 0;
	const struct polc_host *h = bpf_map_lookup_elem(&polc_host, &zero);
	unsigned long magic;

	if (!h || !(h->flags & POLC_HOST_OPEN_CACHE) || h->rename_seq == 0 || h->mount_seq == 0)
		return NULL;
	magic = inode->i_sb->s_magic;
	if (magic != EXT4_SUPER_MAGIC && magic != XFS_SUPER_MAGIC && magic != BTRFS_SUPER_MAGIC &&
	    magic != TMPFS_MAGIC && magic != OVERLAYFS_SUPER_MAGIC)
		return NULL;
	if ((inode->i_mode & S_IFMT) != S_IFDIR && inode->i_nlink != 1)
		return NULL;
	return h;
}

/* Read what the path of `file` depends on; 0, or -1 when a change is under way or
 * the name is gone (not cached then). */
static __always_inline int snap_of(const struct polc_host *h, struct task_struct *task, struct file *file,
				   struct open_snap *o)
{
	struct fs_struct *fs = task->fs;
	struct dentry *d = file->f_path.dentry;
	struct vfsmount *mnt = file->f_path.mnt;
	__u32 names_key = POLC_COUNT_NAMES;
	__u64 *names;

	if (read_seq(h->rename_seq, &o->rename_seq) != 0 || read_seq(h->mount_seq, &o->mount_seq) != 0)
		return -1;
	if ((o->rename_seq | o->mount_seq) & 1)
		return -1;
	names = bpf_map_lookup_elem(&polc_counts, &names_key);
	if (!names || !fs)
		return -1;
	o->names = *(volatile __u64 *)names;
	o->dentry = (__u64)d;
	o->mnt = (__u64)mnt;
	if (!d || !mnt)
		return -1;
	/* A removed name (" (deleted)": unhashed, not a root), or a disconnected dentry
	 * (open_by_handle_at: a root that is not its mount's): another dentry of the
	 * inode has another path. */
	if ((__u64)d->d_parent == o->dentry ? (__u64)mnt->mnt_root != o->dentry : d->d_hash.pprev == NULL)
		return -1;
	o->fs_seq = fs_seq(fs);
	if (o->fs_seq & 1)
		return -1;
	o->root_dentry = (__u64)fs->root.dentry;
	o->root_mnt = (__u64)fs->root.mnt;
	o->root_ino = fs->root.dentry->d_inode->i_ino;
	COMPILER_BARRIER();
	o->now = bpf_jiffies64();
	return fs_seq(fs) == o->fs_seq ? 0 : -1;
}

/* Does entry `c`, whose allow word is `allow`, hold for snapshot `o`? */
static __always_inline int cache_matches(const struct polc_open_cache *c, __u32 allow, const struct open_snap *o,
					 __u32 policy, __u32 generation)
{
	return (allow & POLC_OPEN_CACHE_OPS) != 0 && c->policy == policy && c->generation == generation &&
	       c->rename_seq == o->rename_seq && c->mount_seq == o->mount_seq && c->names == o->names &&
	       c->dentry == o->dentry && c->mnt == o->mnt && c->root_dentry == o->root_dentry &&
	       c->root_mnt == o->root_mnt && c->root_ino == o->root_ino &&
	       o->now - c->made < POLC_OPEN_CACHE_TTL_JIFFIES;
}

/* Were all ops of `want` let through silently under entry `c`, with nothing changed?
 *
 * On x86 the entry is read without its lock, as a seqcount: the allow word (ops and
 * sequence) before and after the other fields, the same and with an even, nonzero
 * sequence. x86 keeps loads in program order and cache_put's stores too, and the
 * barriers keep the compiler from moving them; a writer between the two reads
 * changes the word. A hit then costs no bpf_spin_lock/unlock (two helper calls, an
 * interrupt save and restore) and does not write the entry's cache line, which
 * opens of one file on every CPU would pass around. Elsewhere, and for an entry of
 * sequence 0 (written by an earlier build while the agent replaced the programs:
 * its writers do not keep the sequence), the entry is read under the lock. */
static __always_inline int cache_hit(const struct polc_host *h, struct polc_open_cache *c, const struct open_snap *o,
				     __u32 policy, __u32 generation, __u32 want)
{
	__u32 allow;
	int hit = -1;

#if defined(__TARGET_ARCH_x86)
	if (h->flags & POLC_HOST_OPEN_CACHE_LOCKED)
		goto locked;
	allow = *(volatile __u32 *)&c->allow;
	COMPILER_BARRIER();
	if ((allow >> POLC_OPEN_CACHE_SEQ_SHIFT) != 0 && !(allow & POLC_OPEN_CACHE_SEQ_ONE)) {
		hit = cache_matches(c, allow, o, policy, generation) && (allow & want) == want;
		COMPILER_BARRIER();
		if (*(volatile __u32 *)&c->allow != allow)
			hit = -1;
	}
locked:
#endif
	if (hit < 0) {
		bpf_spin_lock(&c->lock);
		allow = c->allow;
		hit = cache_matches(c, allow, o, policy, generation) && (allow & want) == want;
		bpf_spin_unlock(&c->lock);
	}
	cache_stat(hit ? POLC_STAT_HITS : POLC_STAT_STALE);
	return hit;
}

/* Remember that the ops of `allow` were let through silently under snapshot `o`, in
 * entry `c` (the inode's, looked up before the decision; NULL: it had none then). */
static __always_inline void cache_put(const struct polc_host *h, struct task_struct *task, struct inode *inode,
				      struct polc_open_cache *c, const struct open_snap *o, __u32 policy,
				      __u32 generation, __u32 allow)
{
	struct fs_struct *fs = task->fs;
	__u32 entries_key = POLC_COUNT_ENTRIES;
	__u32 old, seq, ops;
	__u64 *entries;

	/* The root the path was resolved against is the one in the snapshot. */
	if (!fs || fs_seq(fs) != o->fs_seq)
		return;
	/* Another open may have made the entry meanwhile: look again before making one,
	 * so that each entry is counted once. */
	if (!c)
		c = bpf_inode_storage_get(&polc_open_cache, inode, 0, 0);
	if (!c) {
		entries = bpf_map_lookup_elem(&polc_counts, &entries_key);
		if (!entries)
			return;
		/* More than twice the limit: the count wrapped below zero (an older build's
		 * polc_ino_free, while the agent replaced the programs, took an entry off
		 * twice). The entries go with their inodes; count afresh from zero. */
		if (*(volatile __u64 *)entries > 2 * (__u64)h->cache_max)
			__sync_lock_test_and_set(entries, 0);
		if (*(volatile __u64 *)entries >= h->cache_max) {
			cache_stat(POLC_STAT_FULL);
			return;
		}
		c = bpf_inode_storage_get(&polc_open_cache, inode, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!c)
			return;
		__sync_fetch_and_add(entries, 1);
	}
	bpf_spin_lock(&c->lock);
	old = c->allow;
	ops = cache_matches(c, old, o, policy, generation) ? old & POLC_OPEN_CACHE_OPS : 0;
	if ((old >> POLC_OPEN_CACHE_SEQ_SHIFT) == 0 && (old & POLC_OPEN_CACHE_OPS) != 0) {
		/* Written by an earlier build, whose writers keep no sequence and may write
		 * the entry again while the agent replaces the programs: it stays at
		 * sequence 0, read under the lock. Were it given a sequence, an old write
		 * and a new one (back to the same sequence) during one lock-free read could
		 * leave its two reads of allow equal around fields of three entries. */
		seq = 0;
	} else {
		/* Odd while the fields change (see cache_hit); then even, never 0. */
		seq = (old >> POLC_OPEN_CACHE_SEQ_SHIFT) | 1;
		*(volatile __u32 *)&c->allow = seq << POLC_OPEN_CACHE_SEQ_SHIFT;
		COMPILER_BARRIER();
	}
	c->policy = policy;
	c->generation = generation;
	c->rename_seq = o->rename_seq;
	c->mount_seq = o->mount_seq;
	c->names = o->names;
	c->dentry = o->dentry;
	c->mnt = o->mnt;
	c->root_dentry = o->root_dentry;
	c->root_mnt = o->root_mnt;
	c->root_ino = o->root_ino;
	c->made = o->now;
	COMPILER_BARRIER();
	if (seq) {
		seq = (seq + 1) & POLC_OPEN_CACHE_SEQ_MASK;
		if (!seq)
			seq = 2;
	}
	*(volatile __u32 *)&c->allow = (seq << POLC_OPEN_CACHE_SEQ_SHIFT) | ops | allow;
	bpf_spin_unlock(&c->lock);
}

/* inode_link and inode_unlink (every caller of vfs_link and vfs_unlink): a name is
 * made or removed; no open cache entry taken before stays valid. */
static __always_inline void names_changed(void)
{
	__u32 key = POLC_COUNT_NAMES;
	__u64 *n = bpf_map_lookup_elem(&polc_counts, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("lsm/inode_link")
int BPF_PROG(polc_ino_link, struct dentry *old_dentry, struct inode *dir, struct dentry *new_dentry, int ret)
{
	names_changed();
	return prior(ret);
}

SEC("lsm/inode_unlink")
int BPF_PROG(polc_ino_unlink, struct inode *dir, struct dentry *dentry, int ret)
{
	names_changed();
	return prior(ret);
}

/* inode_free_security runs the BPF programs before the BPF LSM frees the inode's
 * storage: an entry that goes with its inode leaves the count. */
SEC("lsm/inode_free_security")
int BPF_PROG(polc_ino_free, struct inode *inode)
{
	__u32 key = POLC_COUNT_ENTRIES;
	__u64 *entries;

	if (!bpf_inode_storage_get(&polc_open_cache, inode, 0, 0))
		return 0;
	entries = bpf_map_lookup_elem(&polc_counts, &key);
	/* Never below 0: while the agent replaces the programs (loader.rs), an old and
	 * a new polc_ino_free both run for a moment and may both take one entry off. */
	for (int i = 0; entries && i < 8; i++) {
		__u64 n = *(volatile __u64 *)entries;

		if (n == 0 || __sync_val_compare_and_swap(entries, n, n - 1) == n)
			break;
	}
	return 0;
}

/* The READ and/or WRITE decision of an open of the path in `pi` (`resolved` 0: the
 * path could not be resolved, and the ops' defaults decide), each event flagged
 * `flags`; one event, for the stronger decision (WRITE on a tie), when it is
 * reported. Returns the stronger action; the READ and WRITE actions in *ra, *wa
 * (ALLOW for an op not decided). */
static __always_inline __u8 open_decision(struct polc_scratch *s, const struct polc_policy_config *cfg, __u64 cgid,
					  __u32 policy, struct path_info *pi, int resolved, int read, int write,
					  __u8 flags, __u8 *ra, __u8 *wa)
{
	struct polc_decision rbest = {}, wbest = {};
	__u8 rflags = flags, wflags = flags;

	*ra = POLC_ALLOW;
	*wa = POLC_ALLOW;
	if (!resolved) {
		rflags |= POLC_EVENT_PATH_UNRESOLVED;
		wflags |= POLC_EVENT_PATH_UNRESOLVED;
	}
	if (read) {
		if (resolved)
			path_pass(s, pi, policy, POLC_OP_READ, cfg->lookups[POLC_OP_READ], 0, NULL, &rbest);
		*ra = verdict(cfg, POLC_OP_READ, &rbest, &rflags);
	}
	if (write) {
		if (resolved)
			path_pass(s, pi, policy, POLC_OP_WRITE, cfg->lookups[POLC_OP_WRITE], 0, NULL, &wbest);
		*wa = verdict(cfg, POLC_OP_WRITE, &wbest, &wflags);
	}
	if (write && *wa >= *ra) {
		if (reported(cfg, *wa) || !resolved)
			emit_path(s, cgid, policy, wbest.rule_id, POLC_OP_WRITE, *wa, wflags, resolved, pi->len);
		return *wa;
	}
	if (reported(cfg, *ra) || !resolved)
		emit_path(s, cgid, policy, rbest.rule_id, POLC_OP_READ, *ra, rflags, resolved, pi->len);
	return *ra;
}

/* The lookups an open of these ops needs (its path keys are built for them). */
static __always_inline __u16 open_lookups(const struct polc_policy_config *cfg, int read, int write)
{
	return (read ? cfg->lookups[POLC_OP_READ] : 0) | (write ? cfg->lookups[POLC_OP_WRITE] : 0);
}

/* mnt_ns of a mount no namespace holds: kern_mount()s and the private clones of
 * clone_private_mount() (fs/mount.h: ERR_PTR(-EINVAL)). */
#define MNT_NS_INTERNAL ((__u64)-22)

/*
 * Is `file` a stacked filesystem's own open of the file below (overlayfs, the root
 * of every container)? It follows the open of the caller's file, which was
 * judged: deciding it too would judge one open twice, under another path, and
 * report an Audit twice. Before Linux 6.7 such an inner file has the caller's path
 * and the lower file's inode; from 6.7 (backing files) its path is the file's
 * path on the layer, through the layer's private mount (clone_private_mount, a
 * mount no namespace holds). User space cannot open a path on such a mount
 * (a pipe's or memfd's reopened through /proc/PID/fd is on one too: it is not
 * decided either, as file_open never decides the pipe or memfd itself).
 *
 * The first test is two loads and comes before everything else. The second reads
 * the mount with a helper call, and only under overridden credentials: overlayfs
 * opens the file below with its mounter's (ovl_override_creds), and an open by a
 * task with its own credentials is never such an inner open.
 */
static __always_inline int inner_fake_path(struct file *file)
{
	return file->f_inode != file->f_path.dentry->d_inode;
}

static __always_inline int inner_private_mount(struct task_struct *task, struct file *file)
{
	struct mount *m;

	if ((unsigned long)task->cred == (unsigned long)task->real_cred)
		return 0;
	m = (struct mount *)mount_of(file->f_path.mnt);
	return (__u64)BPF_CORE_READ(m, mnt_ns) == MNT_NS_INTERNAL;
}

SEC("lsm/file_open")
int BPF_PROG(polc_file_open, struct file *file, int ret)
{
	struct path_info pi = {};
	struct polc_policy_config *cfg;
	const struct polc_host *host;
	struct open_snap snap = {};
	struct polc_open_cache *entry = NULL;
	struct polc_scratch *s = NULL;
	struct task_struct *task;
	struct inode *inode;
	__u64 cgid;
	__u32 policy = 0, generation = 0, mode, fflags, want, silent = 0;
	__u8 ra = POLC_ALLOW, wa = POLC_ALLOW, action;
	int read, write, resolved, cache;

	if (ret != 0)
		return prior(ret);
	if (inner_fake_path(file))
		return 0;
	/* The current task, once: the credential test, the snapshot and the store read
	 * it (a helper call each before). After the fake-path test, which lets the
	 * inner open of kernels before 6.7 through with no helper call. */
	task = bpf_get_current_task_btf();
	if (inner_private_mount(task, file))
		return 0;
	cgid = bpf_get_current_cgroup_id();
	cfg = policy_gen_of(cgid, &policy, &generation);
	if (!cfg)
		return 0;
	mode = file->f_mode;
	fflags = file->f_flags;
	/* exec's own opens of the binary and its interpreters are EXEC, not READ. */
	read = (mode & FMODE_READ) && !(mode & FMODE_EXEC) && !(fflags & __FMODE_EXEC) && cfg->has_op[POLC_OP_READ];
	/* O_TRUNC truncates even a read-only open. FMODE_CREATED: this open made the
	 * file, and polc_path_mknod has decided (and reported) that WRITE already. */
	write = !(mode & FMODE_CREATED) && ((mode & FMODE_WRITE) || (fflags & O_TRUNC)) && cfg->has_op[POLC_OP_WRITE];
	if (!read && !write)
		return 0;
	want = (read ? 1U << POLC_OP_READ : 0) | (write ? 1U << POLC_OP_WRITE : 0);
	inode = file->f_inode;
	host = inode ? cache_host(inode) : NULL;
	cache = host && snap_of(host, task, file, &snap) == 0;
	if (cache)
		entry = bpf_inode_storage_get(&polc_open_cache, inode, 0, 0);
	if (entry && cache_hit(host, entry, &snap, policy, generation, want)) {
		action = POLC_ALLOW;
		wa = POLC_ALLOW;
		goto done;
	}
	s = scratch();
	if (!s)
		return 0;
	resolved = resolve(s, &file->f_path, open_lookups(cfg, read, write), &pi) == 0;
	action = open_decision(s, cfg, cgid, policy, &pi, resolved, read, write, 0, &ra, &wa);
	if (cache && resolved) {
		if (read && !reported(cfg, ra))
			silent |= 1U << POLC_OP_READ;
		if (write && !reported(cfg, wa))
			silent |= 1U << POLC_OP_WRITE;
		if (silent)
			cache_put(host, task, inode, entry, &snap, policy, generation, silent);
	}
done:
	/* The truncation this open does next (an existing regular file) is the WRITE
	 * just decided: polc_path_trunc lets it through without a second event. */
	if (write && wa != POLC_BLOCK && action != POLC_BLOCK && (fflags & O_TRUNC) && inode &&
	    (inode->i_mode & S_IFMT) == S_IFREG) {
		if (!s)
			s = scratch();
		if (s) {
			s->trunc_task = bpf_get_current_pid_tgid();
			s->trunc_file = (__u64)file;
		}
	}
	return action == POLC_BLOCK ? -EPERM : 0;
}

/*
 * A descriptor this task receives from another process: over a UNIX socket
 * (SCM_RIGHTS) or with pidfd_getfd(2). It was opened elsewhere, where no open of
 * this cgroup judged it, so it is decided here as an open of its file by the mode it
 * was opened with (READ, WRITE; one event, for the stronger decision, flagged
 * POLC_EVENT_RECEIVED). BLOCK refuses the descriptor: recvmsg(2) delivers the
 * message without it (MSG_CTRUNC), pidfd_getfd(2) fails with EPERM. Pseudo files
 * (pipes, sockets, anonymous inodes, memfds: their dentries have d_dname) have no
 * path a rule could name and are let through, as file_open never sees them.
 */
SEC("lsm/file_receive")
int BPF_PROG(polc_file_recv, struct file *file, int ret)
{
	struct path_info pi = {};
	struct polc_policy_config *cfg;
	const struct dentry_operations *ops;
	struct polc_scratch *s;
	struct dentry *dentry;
	__u64 cgid;
	__u32 policy = 0, mode;
	__u8 ra, wa, action;
	int read, write, resolved;
	long len;

	if (ret != 0)
		return prior(ret);
	cgid = bpf_get_current_cgroup_id();
	cfg = policy_of(cgid, &policy);
	if (!cfg)
		return 0;
	mode = file->f_mode;
	read = (mode & FMODE_READ) && cfg->has_op[POLC_OP_READ];
	write = (mode & FMODE_WRITE) && cfg->has_op[POLC_OP_WRITE];
	if (!read && !write)
		return 0;
	dentry = file->f_path.dentry;
	ops = BPF_CORE_READ(dentry, d_op);
	if (ops && BPF_CORE_READ(ops, d_dname))
		return 0;
	s = scratch();
	if (!s)
		return 0;
	len = walk_path(s, dentry, file->f_path.mnt, 1);
	resolved = len >= 0;
	if (resolved)
		path_keys(s, (__u32)len, open_lookups(cfg, read, write), &pi);
	action = open_decision(s, cfg, cgid, policy, &pi, resolved, read, write, POLC_EVENT_RECEIVED, &ra, &wa);
	return action == POLC_BLOCK ? -EPERM : 0;
}

/* What a name op moves (step 6 of polc_abi.h). */
#define MOVE_NAME 1    /* an existing name gets another path: the old name of a rename or link */
#define MOVE_DIR 2     /* the old name of a directory being renamed: every path below it moves */
#define MOVE_DIR_NEW 4 /* the new name of a directory being renamed: every path below it is made */
#define MOVE_READ 8    /* note the READ rule action of this name in `read_out` */

struct move {
	__u32 flags;	     /* MOVE_* */
	__u32 read_rule_in;  /* MOVE_NAME: the READ rule where the name goes (0: none) */
	__u32 read_rule_out; /* MOVE_READ: the READ rule of this name (0: none) */
	__u8 read_in;	     /* MOVE_NAME: that rule's action (0: no rule) */
	__u8 read_out;	     /* MOVE_READ: that rule's action (0: no rule) */
	__u8 pad[2];
};

/* Take `d` (of `op`, with event flags `f`) when its action is stronger than `*action`. */
static __always_inline void stronger(struct polc_decision *best, __u8 *action, __u8 *op, __u8 *flags,
				     const struct polc_decision *d, __u8 d_op, __u8 f)
{
	if (d->rule_id == 0 || d->action > POLC_BLOCK || d->action <= *action)
		return;
	*best = *d;
	*action = d->action;
	*op = d_op;
	*flags = f;
}

/*
 * The guards of a directory whose path is in s->fwd (zero-padded) and, reversed, in
 * s->rev, for WRITE (steps 0-3) and READ (steps 4-7): polc_dir_guard (a rule's
 * literal directory is this one or below it), polc_guard_deep with the directory's
 * number of '/' and with POLC_ANY (a glob with a wildcard directory has a literal
 * prefix this directory starts with, and matches deeper than it), polc_guard_sfx (a
 * suffix glob's directories end where this one does). One bpf_loop callback per
 * lookup: the verifier checks the callback once, not every combination of eight
 * lookups in every hook that inlines them.
 */
struct guard_walk {
	struct polc_scratch *s;
	const struct polc_policy_config *cfg;
	struct polc_decision best;
	__u32 policy;
	__u32 len;
	__u32 slashes; /* '/' in the path */
	__u32 steps;   /* 4: WRITE only, 8: WRITE and READ */
	__u8 action;
	__u8 op;
	__u8 flags;
	__u8 pad;
};

static long guard_step(__u32 i, void *data)
{
	struct guard_walk *w = data;
	struct polc_scratch *s = w->s;
	const struct polc_decision *g;
	__u8 op = i < 4 ? POLC_OP_WRITE : POLC_OP_READ;
	__u32 kind = i < 4 ? i : i - 4, n = min_u32(w->len, POLC_PATH_MAX);
	__u16 lookups;

	if (!s || !w->cfg || i >= w->steps || w->action == POLC_BLOCK)
		return 1;
	lookups = w->cfg->lookups[op];
	s->fwd.key.policy = w->policy;
	s->fwd.key.op = op;
	s->fwd.key.pclass = 0;
	if (kind == 0) {
		if (!(lookups & POLC_LOOKUP_GUARD) || w->len > POLC_PATH_MAX)
			return 0;
		g = bpf_map_lookup_elem(&polc_dir_guard, &s->fwd.key);
	} else if (kind == 1 || kind == 2) {
		/* Entries are "PREFIX": directories that start with it (a longer path is
		 * looked up by its first POLC_PATH_MAX bytes, which still do), keyed by the
		 * directory's number of '/' (globs whose matches have a fixed number: a
		 * directory with as many or more holds none) or POLC_ANY (`**` globs). */
		if (!(lookups & POLC_LOOKUP_GUARD_DEEP) || (kind == 1 && w->slashes >= POLC_ANY))
			return 0;
		s->fwd.key.pclass = kind == 1 ? (__u16)w->slashes : POLC_ANY;
		s->fwd.prefixlen = POLC_PATH_PREFIXLEN(n);
		g = bpf_map_lookup_elem(&polc_guard_deep, &s->fwd);
	} else {
		/* Entries are reversed "/NAME..." tails: directories that end with them. */
		if (!(lookups & POLC_LOOKUP_GUARD_SFX))
			return 0;
		s->rev.key.policy = w->policy;
		s->rev.key.op = op;
		s->rev.key.pclass = 0;
		s->rev.prefixlen = POLC_PATH_PREFIXLEN(n);
		g = bpf_map_lookup_elem(&polc_guard_sfx, &s->rev);
	}
	if (g)
		stronger(&w->best, &w->action, &w->op, &w->flags, g, op, POLC_EVENT_NAME_MOVED | POLC_EVENT_BELOW);
	return 0;
}

/*
 * WRITE of the path a walk resolved into s->buf (`len` bytes; < 0: unresolved),
 * decided and reported as polc_file_open decides a WRITE open; with a move `m`,
 * then what the move exposes (step 6 of polc_abi.h), when stronger.
 */
static __always_inline int write_decision(struct polc_scratch *s, __u64 cgid, __u32 policy,
					  const struct polc_policy_config *cfg, long len, struct move *m)
{
	struct polc_decision best = {}, r = {};
	struct path_info pi = {};
	__u16 lw = cfg->lookups[POLC_OP_WRITE], lr = 0, guards = 0;
	__u8 flags = 0, op = POLC_OP_WRITE, action = POLC_ALLOW;
	int governed = cfg->has_op[POLC_OP_WRITE];
	int read = m && (m->flags & (MOVE_NAME | MOVE_READ)) && cfg->has_op[POLC_OP_READ];
	int dir = m && (m->flags & (MOVE_DIR | MOVE_DIR_NEW));

	if (len < 0) {
		/* Unresolved: the WRITE default decides, and it is reported. */
		if (!governed)
			return 0;
		return decide_path(s, cfg, cgid, policy, POLC_OP_WRITE, &best, POLC_EVENT_PATH_UNRESOLVED, 0, 0);
	}
	if (read)
		lr = cfg->lookups[POLC_OP_READ];
	if (dir) {
		/* The guards' keys: the path, its '/' count, its reverse. */
		guards = lw | ((m->flags & MOVE_DIR) ? cfg->lookups[POLC_OP_READ] : 0);
		if (guards & (POLC_LOOKUP_GUARD | POLC_LOOKUP_GUARD_DEEP))
			lr |= POLC_LOOKUP_EXACT;
		if (guards & POLC_LOOKUP_GUARD_DEEP)
			lr |= POLC_LOOKUP_INFIX;
		if (guards & POLC_LOOKUP_GUARD_SFX)
			lr |= POLC_LOOKUP_SUFFIX;
	}
	path_keys(s, (__u32)len, lw | lr, &pi);
	if (governed) {
		path_pass(s, &pi, policy, POLC_OP_WRITE, lw, 0, NULL, &best);
		action = verdict(cfg, POLC_OP_WRITE, &best, &flags);
	}
	if (read) {
		path_pass(s, &pi, policy, POLC_OP_READ, cfg->lookups[POLC_OP_READ], 0, NULL, &r);
		if (m->flags & MOVE_READ) {
			m->read_out = r.rule_id != 0 && r.action <= POLC_BLOCK ? r.action : 0;
			m->read_rule_out = r.rule_id;
		}
		/* Moving a file that may not be read exposes it only where it is read more
		 * freely; a directory, unless the same rule decides both names (a rule on
		 * the new name may not cover what is below it). */
		if ((m->flags & MOVE_NAME) && r.rule_id != 0 &&
		    ((m->flags & MOVE_DIR) ? r.rule_id != m->read_rule_in : r.action > m->read_in))
			stronger(&best, &action, &op, &flags, &r, POLC_OP_READ, POLC_EVENT_NAME_MOVED);
	}
	if (dir && action != POLC_BLOCK && guards) {
		struct guard_walk w = {
			.s = s,
			.cfg = cfg,
			.best = best,
			.policy = policy,
			.len = (__u32)len,
			.slashes = pi.slashes,
			/* A directory moved in exposes nothing to READ; one moved out may. */
			.steps = (m->flags & MOVE_DIR) ? 8 : 4,
			.action = action,
			.op = op,
			.flags = flags,
		};

		bpf_loop(8, guard_step, &w, 0);
		best = w.best;
		action = w.action;
		op = w.op;
		flags = w.flags;
	}
	if (!governed && !(flags & POLC_EVENT_NAME_MOVED))
		return 0; /* WRITE is not governed and the move exposes nothing */
	if (reported(cfg, action))
		emit_path(s, cgid, policy, best.rule_id, op, action, flags, 1, pi.len);
	return action == POLC_BLOCK ? -EPERM : 0;
}

/*
 * A truncation of the file at `path`, `file` the address of the struct file the
 * path is the f_path of (for truncate(2) by name, where the path is not a file's,
 * an address no open noted). The truncation of an O_TRUNC open, which
 * polc_file_open has already decided as a WRITE, is let through without a second
 * decision or event.
 */
static __always_inline int truncate_decision(const struct path *path, __u64 file)
{
	struct polc_policy_config *cfg;
	struct polc_scratch *s;
	__u64 cgid;
	__u32 policy = 0;

	cgid = bpf_get_current_cgroup_id();
	cfg = policy_of(cgid, &policy);
	if (!cfg || !cfg->has_op[POLC_OP_WRITE])
		return 0;
	s = scratch();
	if (!s)
		return 0;
	if (s->trunc_file == file && s->trunc_task == bpf_get_current_pid_tgid()) {
		s->trunc_file = 0;
		return 0;
	}
	return write_decision(s, cgid, policy, cfg,
			      walk_path(s, BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), 1), NULL);
}

/*
 * truncate(2); before Linux 6.2 also ftruncate(2) and the truncation of an O_TRUNC
 * open (from 6.2 those two go to file_truncate, polc_file_trunc). The path may be
 * a file's f_path: the struct file is found from it (6.1), or it is a path of its
 * own (truncate(2)), which no O_TRUNC open noted.
 */
SEC("lsm/path_truncate")
int BPF_PROG(polc_path_trunc, const struct path *path, int ret)
{
	if (ret != 0)
		return prior(ret);
	return truncate_decision(path, (__u64)path - bpf_core_field_offset(struct file, f_path));
}

/*
 * ftruncate(2) and the truncation of an O_TRUNC open, from Linux 6.2. The agent
 * attaches this program only where the kernel has the hook (6.1 has not:
 * polc_path_trunc sees both there).
 */
SEC("lsm/file_truncate")
int BPF_PROG(polc_file_trunc, struct file *file, int ret)
{
	if (ret != 0)
		return prior(ret);
	return truncate_decision(&file->f_path, (__u64)file);
}

/*
 * WRITE of the name `dentry` in the directory `parent` on mount `mnt`: a name made
 * (mknod, mkdir, symlink, the new name of a link or rename; `existing` 0: the
 * dentry is not hashed yet) or one that exists (unlink, rmdir, the old names of a
 * link or rename; `existing` 1: named as d_path names it, " (deleted)" and d_dname
 * included, e.g. the O_TMPFILE file that linkat(AT_EMPTY_PATH) gives a name). The
 * path is the directory's path and the name.
 */
static __always_inline int name_write(const struct vfsmount *mnt, struct dentry *parent, struct dentry *dentry,
				      int existing, struct move *m)
{
	struct polc_policy_config *cfg;
	struct polc_scratch *s;
	__u64 cgid;
	__u32 policy = 0;
	long len = -1;

	cgid = bpf_get_current_cgroup_id();
	cfg = policy_of(cgid, &policy);
	if (!cfg || !(cfg->has_op[POLC_OP_WRITE] || (m && cfg->has_op[POLC_OP_READ])))
		return 0;
	s = scratch();
	if (!s)
		return 0;
	/* The directory may be unlinked (the kernel then refuses with ENOENT):
	 * unresolved, as d_path would name it "DIR (deleted)/NAME", a path no file has. */
	if (mnt && parent && dentry && !unlinked(parent))
		len = walk_path(s, dentry, mnt, existing);
	return write_decision(s, cgid, policy, cfg, len, m);
}

/*
 * name_write() of a name a rename or link moves, as a global function: the
 * verifier checks it once, on its own, instead of in every combination of the two
 * names each of those hooks decides (inlined four times, the decisions and guards
 * of step 6 exceed the verifier's budget). Its arguments are what a global function
 * may take: the kernel pointers as numbers (the walk reads through them with
 * BPF_CORE_READ), `m` as memory that may be NULL.
 */
/* The address in a kernel pointer as a number the verifier sees as one (a cast
 * keeps the pointer's type): read back from the stack slot that holds it. */
static __always_inline __u64 number_of(const void *p)
{
	const void *volatile slot = p;
	__u64 v = 0;

	if (bpf_probe_read_kernel(&v, sizeof(v), (const void *)&slot))
		return 0; /* polc_move_name takes a 0 as a path it cannot resolve */
	return v;
}

__attribute__((noinline)) int polc_move_name(__u64 mnt, __u64 parent, __u64 dentry, int existing, struct move *m)
{
	if (!m)
		return 0;
	return name_write((const struct vfsmount *)mnt, (struct dentry *)parent, (struct dentry *)dentry, existing, m);
}

/* S_ISDIR of a dentry's inode (0 for a negative dentry). */
static __always_inline int is_dir(struct dentry *d)
{
	struct inode *i = BPF_CORE_READ(d, d_inode);

	return i && (BPF_CORE_READ(i, i_mode) & S_IFMT) == S_IFDIR;
}

/*
 * Creation of a file, FIFO, socket or device node, before the inode exists:
 * open(O_CREAT) of a name that is not there (may_o_create), mknod(2), and the
 * bind of an AF_UNIX socket to a path. An open that creates is then not decided
 * again as a WRITE by polc_file_open (FMODE_CREATED).
 */
SEC("lsm/path_mknod")
int BPF_PROG(polc_path_mknod, const struct path *dir, struct dentry *dentry, umode_t mode, unsigned int dev, int ret)
{
	if (ret != 0)
		return prior(ret);
	return name_write(dir->mnt, dir->dentry, dentry, 0, NULL);
}

/* unlink(2), unlinkat(2): removing a name is a WRITE of its path. */
SEC("lsm/path_unlink")
int BPF_PROG(polc_unlink, const struct path *dir, struct dentry *dentry, int ret)
{
	if (ret != 0)
		return prior(ret);
	return name_write(dir->mnt, dir->dentry, dentry, 1, NULL);
}

/* mkdir(2): a WRITE of the new directory's path. */
SEC("lsm/path_mkdir")
int BPF_PROG(polc_mkdir, const struct path *dir, struct dentry *dentry, umode_t mode, int ret)
{
	if (ret != 0)
		return prior(ret);
	return name_write(dir->mnt, dir->dentry, dentry, 0, NULL);
}

/* rmdir(2): a WRITE of the directory's path. */
SEC("lsm/path_rmdir")
int BPF_PROG(polc_rmdir, const struct path *dir, struct dentry *dentry, int ret)
{
	if (ret != 0)
		return prior(ret);
	return name_write(dir->mnt, dir->dentry, dentry, 1, NULL);
}

/* symlink(2): a WRITE of the link's path (what it points to is not judged: opening
 * through the link is, by the path the link resolves to). */
SEC("lsm/path_symlink")
int BPF_PROG(polc_symlink, const struct path *dir, struct dentry *dentry, const char *old_name, int ret)
{
	if (ret != 0)
		return prior(ret);
	return name_write(dir->mnt, dir->dentry, dentry, 0, NULL);
}

/*
 * link(2): a WRITE of the new name, and of the existing file, since a second name
 * would reach the file by a path its WRITE rules do not name (both names are on
 * the same mount, or the kernel refuses with EXDEV); then the existing file's READ
 * rules, where the new name's are weaker (step 6 of polc_abi.h).
 */
SEC("lsm/path_link")
int BPF_PROG(polc_link, struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry, int ret)
{
	struct move m = {.flags = MOVE_READ};
	int r;

	if (ret != 0)
		return prior(ret);
	r = polc_move_name(number_of(new_dir->mnt), number_of(new_dir->dentry), number_of(new_dentry), 0, &m);
	if (r != 0)
		return -EPERM;
	m.flags = MOVE_NAME;
	m.read_in = m.read_out;
	m.read_rule_in = m.read_rule_out;
	r = polc_move_name(number_of(new_dir->mnt), number_of(BPF_CORE_READ(old_dentry, d_parent)),
			   number_of(old_dentry), 1, &m);
	return r != 0 ? -EPERM : 0;
}

/*
 * rename(2), renameat2(2): a WRITE of the new name, then of the old name, and what
 * the move exposes (step 6 of polc_abi.h): the old name's READ rules, where the new
 * name's are weaker; for a directory, the rules on the paths below it, under both
 * names. RENAME_EXCHANGE swaps two existing names: the new name is an old name too
 * (its READ rules are then taken whatever the other name's are).
 */
SEC("lsm/path_rename")
int BPF_PROG(polc_rename, const struct path *old_dir, struct dentry *old_dentry, const struct path *new_dir,
	     struct dentry *new_dentry, unsigned int flags, int ret)
{
	int r, xchg = (flags & RENAME_EXCHANGE) != 0;
	int od = is_dir(old_dentry), nd = xchg && is_dir(new_dentry);
	struct move m = {.flags = MOVE_READ};

	if (ret != 0)
		return prior(ret);
	if (xchg)
		m.flags |= MOVE_NAME;
	if (od)
		m.flags |= MOVE_DIR_NEW;
	if (nd)
		m.flags |= MOVE_DIR;
	r = polc_move_name(number_of(new_dir->mnt), number_of(new_dir->dentry), number_of(new_dentry), xchg, &m);
	if (r != 0)
		return -EPERM;
	m.flags = MOVE_NAME;
	if (od)
		m.flags |= MOVE_DIR;
	if (nd)
		m.flags |= MOVE_DIR_NEW;
	m.read_in = m.read_out;
	m.read_rule_in = m.read_rule_out;
	r = polc_move_name(number_of(old_dir->mnt), number_of(old_dir->dentry), number_of(old_dentry), 1, &m);
	return r != 0 ? -EPERM : 0;
}

/* ---- CONNECT / ACCEPT ---- */

struct peer {
	__u8 addr[16];
	__u8 family; /* AF_INET (addr[0..4]) or AF_INET6 */
	__u8 proto;
	__be16 port; /* network order */
};

/* Step 3 for one op: (proto, port), (proto, 0), (0, port), (0, 0). */
static __always_inline void net_decide(__u32 policy, __u8 op, __u16 lookups, const struct peer *p,
				       struct polc_decision *best)
{
	struct polc_decision *d;

#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u8 proto = i < 2 ? p->proto : 0;
		__be16 port = (i & 1) ? 0 : p->port;

		if (p->family == AF_INET) {
			struct polc_net4_key k = {
				.prefixlen = POLC_NET_PREFIXLEN(32),
				.policy = policy,
				.op = op,
				.proto = proto,
				.port = port,
			};

			if (!(lookups & POLC_LOOKUP_NET4))
				return;
			__builtin_memcpy(k.addr, p->addr, 4);
			d = bpf_map_lookup_elem(&polc_net4, &k);
		} else {
			struct polc_net6_key k = {
				.prefixlen = POLC_NET_PREFIXLEN(128),
				.policy = policy,
				.op = op,
				.proto = proto,
				.port = port,
			};

			if (!(lookups & POLC_LOOKUP_NET6))
				return;
			__builtin_memcpy(k.addr, p->addr, 16);
			d = bpf_map_lookup_elem(&polc_net6, &k);
		}
		if (d)
			take(best, d);
	}
}

/* IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4. */
static __always_inline void unmap_v4(struct peer *p)
{
	__u32 w0, w1, w2;

	if (p->family != AF_INET6)
		return;
	__builtin_memcpy(&w0, &p->addr[0], 4);
	__builtin_memcpy(&w1, &p->addr[4], 4);
	__builtin_memcpy(&w2, &p->addr[8], 4);
	if (w0 != 0 || w1 != 0 || w2 != bpf_htonl(0x0000ffff))
		return;
	p->family = AF_INET;
	__builtin_memcpy(&p->addr[0], &p->addr[12], 4);
	__builtin_memset(&p->addr[4], 0, 12);
}

/*
 * CONNECT/ACCEPT and the NetworkAccessPolicy op decided separately; the stronger
 * action applies. Returns the action; fills the event.
 */
static __always_inline __u8 net_hook(__u64 cgid, __u8 op, __u8 nap_op, const struct peer *p, int with_task)
{
	struct polc_decision best = {}, nbest = {};
	struct polc_policy_config *cfg;
	struct polc_event *e;
	__u32 policy = 0, rule_id;
	__u8 a = POLC_ALLOW, na = POLC_ALLOW, f = 0, nf = 0, action, flags, eop;
	int gov, ngov;

	cfg = policy_of(cgid, &policy);
	if (!cfg)
		return POLC_ALLOW;
	gov = cfg->has_op[op & (POLC_OP_MAX - 1)];
	ngov = cfg->has_op[nap_op & (POLC_OP_MAX - 1)];
	if (!gov && !ngov)
		return POLC_ALLOW;
	if (gov) {
		net_decide(policy, op, cfg->lookups[op & (POLC_OP_MAX - 1)], p, &best);
		a = verdict(cfg, op, &best, &f);
	}
	if (ngov) {
		net_decide(policy, nap_op, cfg->lookups[nap_op & (POLC_OP_MAX - 1)], p, &nbest);
		na = verdict(cfg, nap_op, &nbest, &nf);
	}
	if (ngov && (!gov || na > a)) {
		action = na;
		flags = nf;
		eop = nap_op;
		rule_id = nbest.rule_id;
	} else {
		action = a;
		flags = f;
		eop = op;
		rule_id = best.rule_id;
	}
	if (!reported(cfg, action))
		return action;
	e = event_new(cgid, policy, rule_id, eop, action, flags, with_task);
	if (!e)
		return action;
	e->family = p->family;
	e->aux = (__u32)bpf_ntohs(p->port) | ((__u32)p->proto << 16);
	__builtin_memcpy(e->addr, p->addr, 16);
	bpf_ringbuf_submit(e, 0);
	return action;
}

static __always_inline __u8 proto_of(__u16 sk_protocol)
{
	/* MPTCP is TCP on the wire; every other IPPROTO_* fits a byte. */
	if (sk_protocol == IPPROTO_MPTCP)
		return IPPROTO_TCP;
	return (__u8)sk_protocol;
}

/*
 * The peer of a kernel copy of a user's sockaddr (connect's address, sendmsg's
 * msg_name). 0 for an IPv4 or IPv6 peer; -1 for any other family or a short address
 * (the kernel rejects those itself, or they are not IP).
 */
static __always_inline int peer_of(const void *address, int addrlen, struct peer *p)
{
	__u16 family = 0;

	if (addrlen < 2 || bpf_probe_read_kernel(&family, sizeof(family), address))
		return -1;
	if (family == AF_INET) {
		/* struct sockaddr_in: family, port, addr. */
		if (addrlen < 8)
			return -1;
		bpf_probe_read_kernel(&p->port, 2, (const char *)address + 2);
		bpf_probe_read_kernel(p->addr, 4, (const char *)address + 4);
	} else if (family == AF_INET6) {
		/* struct sockaddr_in6: family, port, flowinfo, addr. */
		if (addrlen < 24)
			return -1;
		bpf_probe_read_kernel(&p->port, 2, (const char *)address + 2);
		bpf_probe_read_kernel(p->addr, 16, (const char *)address + 8);
	} else {
		return -1;
	}
	p->family = family;
	unmap_v4(p);
	return 0;
}

SEC("lsm/socket_connect")
int BPF_PROG(polc_connect, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	struct peer p = {};
	__u64 cgid;

	if (ret != 0)
		return prior(ret);
	cgid = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&polc_cgroups, &cgid))
		return 0;
	if (peer_of(address, addrlen, &p))
		return 0;
	p.proto = proto_of(BPF_CORE_READ(sock, sk, sk_protocol));
	return net_hook(cgid, POLC_OP_CONNECT, POLC_OP_NAP_CONNECT, &p, 1) == POLC_BLOCK ? -EPERM : 0;
}

/*
 * A send with a destination address: sendto/sendmsg/sendmmsg on a datagram or raw
 * socket (connected or not: the address given wins), and TCP Fast Open
 * (MSG_FASTOPEN), which connects without socket_connect. Judged as CONNECT to that
 * address, once per call. Sends without an address go to the connected peer, which
 * socket_connect judged; a stream socket ignores the address otherwise.
 */
SEC("lsm/socket_sendmsg")
int BPF_PROG(polc_sendmsg, struct socket *sock, struct msghdr *msg, int size, int ret)
{
	struct peer p = {};
	void *name;
	int namelen;
	__u64 cgid;

	if (ret != 0)
		return prior(ret);
	name = BPF_CORE_READ(msg, msg_name);
	if (!name)
		return 0;
	if (BPF_CORE_READ(sock, type) == SOCK_STREAM && !(BPF_CORE_READ(msg, msg_flags) & MSG_FASTOPEN))
		return 0;
	cgid = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&polc_cgroups, &cgid))
		return 0;
	namelen = BPF_CORE_READ(msg, msg_namelen);
	if (peer_of(name, namelen, &p))
		return 0;
	p.proto = proto_of(BPF_CORE_READ(sock, sk, sk_protocol));
	return net_hook(cgid, POLC_OP_CONNECT, POLC_OP_NAP_CONNECT, &p, 1) == POLC_BLOCK ? -EPERM : 0;
}

/*
 * An incoming connection (softirq: the current task is unrelated). The listener's
 * cgroup binds the policy; the peer is the remote address, the port the local one.
 */
SEC("lsm/inet_conn_request")
int BPF_PROG(polc_conn_req, struct sock *sk, struct sk_buff *skb, struct request_sock *req, int ret)
{
	struct peer p = {};
	__u16 family;
	__u64 cgid;

	if (ret != 0)
		return prior(ret);
	cgid = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
	if (!bpf_map_lookup_elem(&polc_cgroups, &cgid))
		return 0;
	family = BPF_CORE_READ(req, __req_common.skc_family);
	if (family == AF_INET) {
		__be32 a = BPF_CORE_READ(req, __req_common.skc_daddr);

		__builtin_memcpy(p.addr, &a, 4);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&p.addr, req, __req_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		return 0;
	}
	p.family = family;
	p.port = bpf_htons(BPF_CORE_READ(req, __req_common.skc_num));
	p.proto = proto_of(BPF_CORE_READ(sk, sk_protocol));
	unmap_v4(&p);
	return net_hook(cgid, POLC_OP_ACCEPT, POLC_OP_NAP_ACCEPT, &p, 0) == POLC_BLOCK ? -EPERM : 0;
}

/* ---- RAW_SOCKET / CAPABILITY (step 4) ---- */

static __always_inline __u8 id_hook(__u64 cgid, __u8 op, __u32 id, int report)
{
	struct polc_decision best = {};
	struct polc_policy_config *cfg;
	struct polc_decision *d;
	struct polc_event *e;
	__u32 policy = 0;
	__u8 flags = 0, action;

	cfg = policy_of(cgid, &policy);
	if (!cfg || !cfg->has_op[op & (POLC_OP_MAX - 1)])
		return POLC_ALLOW;
	if (cfg->lookups[op & (POLC_OP_MAX - 1)] & POLC_LOOKUP_ID) {
		struct polc_id_key k = {.policy = policy, .op = op, .pad = 0, .id = id};

		d = bpf_map_lookup_elem(&polc_id, &k);
		if (d)
			take(&best, d);
	}
	action = verdict(cfg, op, &best, &flags);
	if (!report || !reported(cfg, action))
		return action;
	e = event_new(cgid, policy, best.rule_id, op, action, flags, 1);
	if (!e)
		return action;
	e->aux = id;
	bpf_ringbuf_submit(e, 0);
	return action;
}

SEC("lsm/socket_create")
int BPF_PROG(polc_sock_new, int family, int type, int protocol, int kern, int ret)
{
	__u64 cgid;

	if (ret != 0)
		return prior(ret);
	/* Sockets the kernel makes for itself are not the task's. */
	if (kern)
		return 0;
	if ((type & SOCK_TYPE_MASK) != SOCK_RAW && family != AF_PACKET)
		return 0;
	cgid = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&polc_cgroups, &cgid))
		return 0;
	return id_hook(cgid, POLC_OP_RAW_SOCKET, 0, 1) == POLC_BLOCK ? -EPERM : 0;
}

/*
 * Only checks of the task's own credentials: not checks of another task's
 * (has_capability) nor those under override_creds (filesystems acting with their
 * mounter's credentials). CAP_OPT_NOAUDIT checks are decided but not reported, as
 * the kernel does not audit them either.
 */
SEC("lsm/capable")
int BPF_PROG(polc_capable, const struct cred *cred, struct user_namespace *ns, int cap, unsigned int opts, int ret)
{
	struct task_struct *task;
	__u64 cgid;

	if (ret != 0)
		return prior(ret);
	cgid = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&polc_cgroups, &cgid))
		return 0;
	task = bpf_get_current_task_btf();
	if ((unsigned long)cred != (unsigned long)task->real_cred)
		return 0;
	return id_hook(cgid, POLC_OP_CAPABILITY, (__u32)cap, !(opts & CAP_OPT_NOAUDIT)) == POLC_BLOCK ? -EPERM : 0;
}
