/* SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0 */
/*
 * polc_abi.h - the one definition of polc's eBPF maps: every key, value and event
 * the compiler writes (`polc compile --target bpf-lsm`), the node agent loads and the
 * LSM programs read. crates/polc-abi mirrors it field by field, and its tests compile
 * this header with clang (-target bpf and the host target) and check that both sides
 * agree on every size, offset, constant and name.
 *
 * Everything is little-endian except where a field says "network order".
 *
 * How the programs use the maps (flat cost: hash and LPM lookups only, no loop over
 * rules; the compiler has already resolved precedence):
 *
 *  0. policy: slot = polc_cgroups[cgroup id] (miss: the task is not contained; allow),
 *     generation = polc_gen[0], policy = POLC_POLICY_ID(generation, slot);
 *     cfg = polc_config[policy] (miss: allow). If !cfg.has_op[op]: allow.
 *     The agent loads a new generation beside the old one and switches with ONE
 *     update of polc_gen, then deletes the old generation's entries.
 *  1. path ops (EXEC, READ, WRITE): resolve the full path (bpf_d_path into a per-CPU
 *     buffer of PATH_MAX; in path_truncate and the path_* hooks of names made or
 *     removed, where bpf_d_path is refused, a walk of the dentries and mounts that gives the same string); len, slashes
 * = number of '/', last_slash. Keys hold at most POLC_PATH_MAX bytes; no map entry is longer, so for longer paths the
 * exact map is skipped and the prefix/name keys hold the first, the suffix key the last POLC_PATH_MAX bytes (still
 * exact). Then for pclass = 0 and, for EXEC, for the parent class of the task (step 2) when it is not 0, take the best
 *     (polc_decision_beats) of:
 *       polc_path_exact  {policy, op, pclass, path}            (len <= POLC_PATH_MAX)
 *       polc_path_pfx    LPM over the path                  -> E, polc_lpm_pick(E)
 *       polc_path_sfx    LPM over the reversed path         -> F, polc_lpm_pick(F)
 *       polc_name_pfx    LPM over the last path segment        polc_lpm_pick()
 *       polc_path_infix  {policy, op, pclass, E.node, F.node} when both nodes != 0:
 *                        the first candidate that polc_infix_fits(len, slashes)
 *       polc_comm        {policy, pclass, comm} (EXEC: comm the new image gets)
 *     where polc_lpm_pick() takes equal/direct/deep by polc_rest() of the remainder
 *     after the matched prefix, whose length the value carries (`len`; see
 *     ebpf-lsm/README.md). cfg.lookups[op] says which maps have entries.
 *  2. parent class (EXEC only, when cfg.pclass_count != 0): the path the task ran
 *     before this exec (polc_tasks, inherited at fork) is looked up in
 *     polc_par_exact, else polc_par_pfx (polc_pclass_pick); miss: 0.
 *  3. CONNECT/ACCEPT (and NAP_*): LPM polc_net4/polc_net6 with (proto, port),
 *     (proto, 0), (0, port), (0, 0); best of the hits. IPv4-mapped IPv6 addresses
 *     are looked up as IPv4. CONNECT and NAP_CONNECT (ACCEPT and NAP_ACCEPT) are
 *     decided separately and the stronger action applies.
 *  4. CAPABILITY: polc_id {policy, op, cap}; RAW_SOCKET: polc_id {policy, op, 0}.
 *  5. no hit: cfg.default_action[op], rule 0. BLOCK: -EPERM and an event; AUDIT: an
 *     event; ALLOW: nothing. A path op whose path could not be resolved is decided
 *     here too, and always reported (POLC_EVENT_PATH_UNRESOLVED).
 *  6. names moved: a rename or link decides the new name, then the old name, each
 *     as a WRITE of its path (step 1), then by what the move exposes, the strongest
 *     action winning (Block > Audit > Allow):
 *       - the old name's READ rules (step 1 with op READ; a rule only, not the
 *         default): for a file, when stronger than the new name's (a name that may
 *         not be read is not moved to where it is read more freely); for a
 *         directory, unless the same rule decides the new name, since another rule
 *         there may not cover what is below it (POLC_EVENT_NAME_MOVED);
 *       - for a directory, per op (WRITE, then READ for the old name only: moving a
 *         directory in exposes nothing to READ), POLC_EVENT_NAME_MOVED |
 *         POLC_EVENT_BELOW:
 *         polc_dir_guard {policy, op, 0, path} (POLC_LOOKUP_GUARD): the strongest
 *           Block or Audit rule whose literal directory is this one or below it;
 *         LPM polc_guard_deep over the path (POLC_LOOKUP_GUARD_DEEP), with pclass
 *           the directory's number of '/' and then POLC_ANY: the strongest such glob
 *           with a wildcard directory segment (`/srv/STAR/conf/x`) whose literal
 *           prefix (`/srv/`) this directory starts with and whose matches can lie
 *           below it (fewer '/' than a match has; any number for `STARSTAR`);
 *         LPM polc_guard_sfx over the reversed path (POLC_LOOKUP_GUARD_SFX): the
 *           strongest such suffix glob with directories (`/STARSTAR/.ssh/id_rsa`) one
 *           of whose directory tails (`/.ssh`) this directory ends with.
 *     The event's op is the deciding rule's op.
 */
#ifndef POLC_ABI_H
#define POLC_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <linux/bpf.h> /* struct bpf_spin_lock */
#endif

#define POLC_ABI_VERSION 4

/* Bytes of a path (or of a last path segment) kept in map keys; no NUL needed.
 * 248 = 256 (the kernel's LPM_DATA_SIZE_MAX) - 8 (policy, op, pclass). */
#define POLC_PATH_MAX 248
/* TASK_COMM_LEN: at most 15 bytes and a NUL. */
#define POLC_COMM_LEN 16
/* Bytes of the path an event carries (NUL-terminated; longer paths are cut and flagged). */
#define POLC_EVENT_PATH_MAX 256
/* Size of the per-op arrays of polc_policy_config. */
#define POLC_OP_MAX 16
/* Candidates per polc_path_infix entry. */
#define POLC_INFIX_CANDIDATES 4
/* Port ranges up to this many ports are expanded into one entry per port. */
#define POLC_PORT_RANGE_MAX 1024
/* Bits of the fixed part of an LPM key before the path or address. */
#define POLC_KEY_HEADER_BITS 64
/* Infix candidate: any length / any number of '/'. */
#define POLC_ANY 0xffff

#define POLC_POLICY_ID(generation, slot) ((((__u32)(generation)) << 16) | (((__u32)(slot)) & 0xffff))
#define POLC_PATH_PREFIXLEN(bytes) (POLC_KEY_HEADER_BITS + 8 * (bytes))
#define POLC_NET_PREFIXLEN(bits) (POLC_KEY_HEADER_BITS + (bits))

enum polc_action {
	POLC_ALLOW = 0,
	POLC_AUDIT = 1,
	POLC_BLOCK = 2,
};

enum polc_op {
	POLC_OP_EXEC = 0, /* bprm_check_security: the resolved executable */
	POLC_OP_READ = 1, /* file_open with FMODE_READ */
	POLC_OP_WRITE =
		2, /* file_open with FMODE_WRITE or O_TRUNC; path_truncate, file_truncate; names made or removed */
	POLC_OP_CONNECT = 3,	 /* socket_connect: PreventionPolicy/RuntimePolicy egress */
	POLC_OP_ACCEPT = 4,	 /* inet_conn_request: PreventionPolicy ingress */
	POLC_OP_RAW_SOCKET = 5,	 /* socket_create with SOCK_RAW or AF_PACKET */
	POLC_OP_CAPABILITY = 6,	 /* capable */
	POLC_OP_NAP_CONNECT = 7, /* socket_connect: NetworkAccessPolicy egress */
	POLC_OP_NAP_ACCEPT = 8,	 /* inet_conn_request: NetworkAccessPolicy ingress */
	POLC_OP_COUNT = 9,
};

/* What follows the matched prefix of an LPM key. */
enum polc_rest {
	POLC_REST_EQUAL = 0,  /* nothing: the key equals the prefix */
	POLC_REST_DIRECT = 1, /* bytes without '/' */
	POLC_REST_DEEP = 2,   /* bytes with a '/' */
};

/* IPPROTO_* numbers; 0 = any protocol. */
enum polc_proto {
	POLC_PROTO_ANY = 0,
	POLC_PROTO_TCP = 6,
	POLC_PROTO_UDP = 17,
	POLC_PROTO_SCTP = 132,
};

/* polc_policy_config.lookups[op]: which maps hold entries for (policy, op). */
#define POLC_LOOKUP_EXACT (1u << 0)
#define POLC_LOOKUP_PREFIX (1u << 1)
#define POLC_LOOKUP_SUFFIX (1u << 2)
#define POLC_LOOKUP_NAME (1u << 3)
#define POLC_LOOKUP_INFIX (1u << 4)
#define POLC_LOOKUP_COMM (1u << 5)
#define POLC_LOOKUP_NET4 (1u << 6)
#define POLC_LOOKUP_NET6 (1u << 7)
#define POLC_LOOKUP_ID (1u << 8)
#define POLC_LOOKUP_PARENT (1u << 9)
#define POLC_LOOKUP_GUARD (1u << 10)
#define POLC_LOOKUP_GUARD_DEEP (1u << 11)
#define POLC_LOOKUP_GUARD_SFX (1u << 12)

/* polc_event.flags */
#define POLC_EVENT_DEFAULT (1u << 0)	     /* no rule matched: the op's default decided */
#define POLC_EVENT_PATH_TRUNCATED (1u << 1)  /* path longer than POLC_EVENT_PATH_MAX - 1 */
#define POLC_EVENT_PATH_UNRESOLVED (1u << 2) /* the path could not be resolved */
#define POLC_EVENT_PARENT_UNKNOWN (1u << 3)  /* the task started before the agent */
#define POLC_EVENT_NAME_MOVED (1u << 4)	     /* a rename or link moved this name: decided for what it exposes */
#define POLC_EVENT_BELOW (1u << 5)	     /* decided by a rule on paths below this directory (polc_dir_guard) */
#define POLC_EVENT_RECEIVED (1u << 6)	     /* a descriptor received from another process, decided as an open */

/* polc_policy_config.flags */
#define POLC_CONFIG_EVENT_ALLOW (1u << 0) /* also report ALLOW decisions of governed ops */

/* Map names (at most 15 bytes: BPF_OBJ_NAME_LEN). */
#define POLC_MAP_PATH_EXACT "polc_path_exact"
#define POLC_MAP_PATH_PREFIX "polc_path_pfx"
#define POLC_MAP_PATH_SUFFIX "polc_path_sfx"
#define POLC_MAP_NAME_PREFIX "polc_name_pfx"
#define POLC_MAP_PATH_INFIX "polc_path_infix"
#define POLC_MAP_COMM "polc_comm"
#define POLC_MAP_PARENT_EXACT "polc_par_exact"
#define POLC_MAP_PARENT_PREFIX "polc_par_pfx"
#define POLC_MAP_NET4 "polc_net4"
#define POLC_MAP_NET6 "polc_net6"
#define POLC_MAP_ID "polc_id"
#define POLC_MAP_DIR_GUARD "polc_dir_guard"
#define POLC_MAP_GUARD_DEEP "polc_guard_deep"
#define POLC_MAP_GUARD_SFX "polc_guard_sfx"
#define POLC_MAP_CONFIG "polc_config"
#define POLC_MAP_GENERATION "polc_gen"
#define POLC_MAP_CGROUPS "polc_cgroups"
#define POLC_MAP_TASKS "polc_tasks"
#define POLC_MAP_EVENTS "polc_events"
/* Per-CPU ARRAY, one __u64 entry: events lost because the ring buffer was full. */
#define POLC_MAP_DROPS "polc_drops"
/* ARRAY, one struct polc_host, agent-written. */
#define POLC_MAP_HOST "polc_host"
/* ARRAY of POLC_COUNT_COUNT __u64, kernel-owned. */
#define POLC_MAP_COUNTS "polc_counts"
/* INODE_STORAGE of struct polc_open_cache, kernel-owned. */
#define POLC_MAP_OPEN_CACHE "polc_open_cache"
/* Per-CPU ARRAY of POLC_STAT_COUNT __u64, kernel-owned. */
#define POLC_MAP_CACHE_STAT "polc_cache_stat"

/* Program names (at most 15 bytes) and their attach points. */
#define POLC_PROG_BPRM_CHECK "polc_bprm_check"
#define POLC_SEC_BPRM_CHECK "lsm/bprm_check_security"
#define POLC_PROG_BPRM_DONE "polc_bprm_done"
#define POLC_SEC_BPRM_DONE "lsm/bprm_committed_creds"
#define POLC_PROG_TASK_ALLOC "polc_task_alloc"
#define POLC_SEC_TASK_ALLOC "lsm/task_alloc"
#define POLC_PROG_FILE_OPEN "polc_file_open"
#define POLC_SEC_FILE_OPEN "lsm/file_open"
#define POLC_PROG_PATH_TRUNCATE "polc_path_trunc"
#define POLC_SEC_PATH_TRUNCATE "lsm/path_truncate"
#define POLC_PROG_FILE_RECEIVE "polc_file_recv"
#define POLC_SEC_FILE_RECEIVE "lsm/file_receive"
/* file_truncate exists from Linux 6.2; the agent attaches it where the kernel has it. */
#define POLC_PROG_FILE_TRUNCATE "polc_file_trunc"
#define POLC_SEC_FILE_TRUNCATE "lsm/file_truncate"
#define POLC_PROG_PATH_MKNOD "polc_path_mknod"
#define POLC_SEC_PATH_MKNOD "lsm/path_mknod"
#define POLC_PROG_PATH_UNLINK "polc_unlink"
#define POLC_SEC_PATH_UNLINK "lsm/path_unlink"
#define POLC_PROG_PATH_MKDIR "polc_mkdir"
#define POLC_SEC_PATH_MKDIR "lsm/path_mkdir"
#define POLC_PROG_PATH_RMDIR "polc_rmdir"
#define POLC_SEC_PATH_RMDIR "lsm/path_rmdir"
#define POLC_PROG_PATH_SYMLINK "polc_symlink"
#define POLC_SEC_PATH_SYMLINK "lsm/path_symlink"
#define POLC_PROG_PATH_LINK "polc_link"
#define POLC_SEC_PATH_LINK "lsm/path_link"
#define POLC_PROG_PATH_RENAME "polc_rename"
#define POLC_SEC_PATH_RENAME "lsm/path_rename"
#define POLC_PROG_CONNECT "polc_connect"
#define POLC_SEC_CONNECT "lsm/socket_connect"
#define POLC_PROG_SENDMSG "polc_sendmsg"
#define POLC_SEC_SENDMSG "lsm/socket_sendmsg"
#define POLC_PROG_CONN_REQUEST "polc_conn_req"
#define POLC_SEC_CONN_REQUEST "lsm/inet_conn_request"
#define POLC_PROG_SOCKET_CREATE "polc_sock_new"
#define POLC_SEC_SOCKET_CREATE "lsm/socket_create"
#define POLC_PROG_CAPABLE "polc_capable"
#define POLC_SEC_CAPABLE "lsm/capable"
#define POLC_PROG_INODE_LINK "polc_ino_link"
#define POLC_SEC_INODE_LINK "lsm/inode_link"
#define POLC_PROG_INODE_UNLINK "polc_ino_unlink"
#define POLC_SEC_INODE_UNLINK "lsm/inode_unlink"
#define POLC_PROG_INODE_FREE "polc_ino_free"
#define POLC_SEC_INODE_FREE "lsm/inode_free_security"

/* One rule's verdict. rule_id 0: no rule (the entry has nothing for this case). */
struct polc_decision {
	__u32 rule_id;
	__u32 rank;   /* precedence: literal prefix << 16 | class << 8 | extra */
	__u8 action;  /* enum polc_action, mode: DryRun folded in */
	__u8 written; /* the action as written: Block > Audit > Allow on equal rank */
	__u8 pad[2];
};

/* polc_path_exact key; also the data part of the path LPM keys. */
struct polc_path_key {
	__u32 policy;		  /* POLC_POLICY_ID */
	__u16 op;		  /* enum polc_op */
	__u16 pclass;		  /* parent class; 0 = rules without a parent condition */
	char path[POLC_PATH_MAX]; /* zero-padded; reversed for polc_path_sfx, last segment for polc_name_pfx */
};

/* polc_path_pfx, polc_path_sfx, polc_name_pfx, polc_par_pfx key. */
struct polc_path_lpm_key {
	__u32 prefixlen; /* POLC_PATH_PREFIXLEN(bytes) */
	struct polc_path_key key;
};

/* polc_path_pfx, polc_path_sfx, polc_name_pfx value: the decision of the longest
 * prefix with everything shorter folded in, by what follows the prefix. */
struct polc_lpm_value {
	struct polc_decision equal;
	struct polc_decision direct;
	struct polc_decision deep;
	__u32 node; /* id of this prefix for polc_path_infix; 0 = none */
	__u32 len;  /* bytes of the prefix: one lookup tells what follows it */
};

/* polc_path_infix: globs with a literal prefix and suffix (`/proc/STAR/environ`). */
struct polc_infix_key {
	__u32 policy;
	__u16 op;
	__u16 pclass;
	__u32 prefix_node; /* polc_path_pfx node of the longest prefix */
	__u32 suffix_node; /* polc_path_sfx node of the longest suffix */
};

struct polc_infix_cand {
	struct polc_decision decision;
	__u16 min_len; /* path length bounds, POLC_ANY = no upper bound */
	__u16 max_len;
	__u16 slashes; /* exact number of '/' in the path, POLC_ANY = any */
	__u16 pad;
};

/* Candidates, most precedent first: the first that fits decides. */
struct polc_infix_value {
	__u32 count;
	struct polc_infix_cand cand[POLC_INFIX_CANDIDATES];
};

/* polc_comm key: the process name the new image gets. */
struct polc_comm_key {
	__u32 policy;
	__u16 pclass;
	__u16 pad;
	char comm[POLC_COMM_LEN]; /* zero-padded */
};

/* polc_par_exact value (key: polc_path_key with op EXEC, pclass 0). */
struct polc_pclass_value {
	__u32 pclass;
};

/* polc_par_pfx value (key: polc_path_lpm_key with op EXEC, pclass 0). */
struct polc_pclass_lpm_value {
	__u32 equal;
	__u32 direct;
	__u32 deep;
	__u32 len; /* bytes of the prefix */
};

/* polc_net4 key (value: polc_decision). */
struct polc_net4_key {
	__u32 prefixlen; /* POLC_NET_PREFIXLEN(cidr prefix) */
	__u32 policy;
	__u8 op;
	__u8 proto;  /* enum polc_proto */
	__be16 port; /* network order; 0 = any port */
	__u8 addr[4];
};

/* polc_net6 key (value: polc_decision). */
struct polc_net6_key {
	__u32 prefixlen;
	__u32 policy;
	__u8 op;
	__u8 proto;
	__be16 port;
	__u8 addr[16];
};

/* polc_dir_guard key: polc_path_key with pclass 0 and the directory's path without
 * a trailing '/'; value: polc_decision (action Block or Audit, DryRun folded in).
 * polc_guard_deep key: polc_path_lpm_key over a glob's literal prefix, pclass the
 * number of '/' of the directories it guards (POLC_ANY: any); polc_guard_sfx key:
 * polc_path_lpm_key over a reversed "/NAME..." tail (pclass 0); value of both:
 * polc_decision, the strongest of its own and of every shorter entry of its pclass
 * that is a prefix of it. */

/* polc_id key (value: polc_decision): capabilities (id = CAP_*), raw sockets (id 0). */
struct polc_id_key {
	__u32 policy;
	__u16 op;
	__u16 pad;
	__u32 id;
};

/* polc_config key. */
struct polc_policy_key {
	__u32 policy;
};

/* polc_config value. */
struct polc_policy_config {
	__u8 has_op[POLC_OP_MAX];	  /* 1: the op is governed (a section with rules) */
	__u8 default_action[POLC_OP_MAX]; /* enum polc_action when no rule matches */
	__u16 lookups[POLC_OP_MAX];	  /* POLC_LOOKUP_* bits */
	__u16 pclass_count;		  /* parent classes in use (0: skip step 2) */
	__u16 pad;
	__u32 flags;
};

/* polc_gen value (an ARRAY with one entry): the generation hooks use. Only its low
 * 16 bits are in policy ids; the agent counts every switch in all 32 (the open cache
 * compares them). */
struct polc_generation {
	__u32 generation;
	__u32 pad;
};

/* polc_host value (an ARRAY with one entry), written by the agent at every start:
 * what the programs know about the running kernel. */
struct polc_host {
	__u64 rename_seq; /* kernel address of rename_lock (kallsyms); 0: unknown */
	__u64 mount_seq;  /* kernel address of mount_lock (kallsyms); 0: unknown */
	__u32 flags;	  /* POLC_HOST_* */
	__u32 cache_max;  /* open cache entries at most (polc_counts[POLC_COUNT_ENTRIES]) */
};

/* An open cache entry older than this many jiffies (10 s at HZ=1000, 100 s at
 * HZ=100) is stale: a sequence cannot come round to its value meanwhile (2^31
 * renames take far longer). Jiffies, not bpf_ktime_get_ns: a clock read can cost
 * more than the whole hit (HPET clocksources). */
#define POLC_OPEN_CACHE_TTL_JIFFIES 10000ULL

/* polc_counts (ARRAY of __u64, kernel-owned). */
#define POLC_COUNT_NAMES 0   /* links and unlinks of the whole system (inode hooks) */
#define POLC_COUNT_ENTRIES 1 /* open cache entries now: made, minus freed with their inode */
#define POLC_COUNT_COUNT 2

/* polc_cache_stat (per-CPU ARRAY of __u64, kernel-owned): the open cache at work. */
#define POLC_STAT_HITS 0  /* opens let through from the cache */
#define POLC_STAT_STALE 1 /* opens of an inode whose entry was stale or held other ops */
#define POLC_STAT_FULL 2  /* entries not made: cache_max reached */
#define POLC_STAT_COUNT 3

/* polc_host.flags: remember the silent Allow decisions of file_open (the open cache). */
#define POLC_HOST_OPEN_CACHE 1
/* polc_host.flags: read open cache entries under their lock on x86 too, as other
 * architectures do. The agent never sets it; the VM benchmark sets it with bpftool to
 * compare the two reads in one boot. */
#define POLC_HOST_OPEN_CACHE_LOCKED 2

/*
 * The ops bits of polc_open_cache.allow, and its sequence: writers take the lock,
 * make the sequence odd, write the entry and make it even again (never 0), so a
 * reader may check an entry without the lock (x86) by reading allow before and
 * after the other fields. Sequence 0 with ops is an entry a build before the
 * sequence wrote (its writers never keep one): it is read under the lock, and later
 * writers leave it at 0.
 */
#define POLC_OPEN_CACHE_OPS 0xffffU
#define POLC_OPEN_CACHE_SEQ_MASK 0xffffU /* the sequence, after the shift */
#define POLC_OPEN_CACHE_SEQ_SHIFT 16
#define POLC_OPEN_CACHE_SEQ_ONE (1U << POLC_OPEN_CACHE_SEQ_SHIFT)

/*
 * polc_open_cache value (inode storage, kernel-owned): the ops (1 << op) that
 * file_open let through without an event for this inode, and everything the path
 * and the decision depended on then. A later open is let through at once when all
 * of that is unchanged: the same policy and generation, no dentry moved and no
 * mount changed since (the sequences of rename_lock and mount_lock), no name made
 * or removed by link or unlink (polc_counts), the same dentry, mount and task root.
 */
struct polc_open_cache {
	struct bpf_spin_lock lock;
	__u32 allow;	  /* low 16 bits: 1 << POLC_OP_READ, 1 << POLC_OP_WRITE (0: empty);
			   * high 16 bits: the entry's sequence, see above */
	__u32 policy;	  /* POLC_POLICY_ID */
	__u32 generation; /* polc_gen[0].generation, every bit */
	__u32 rename_seq;
	__u32 mount_seq;
	__u64 names; /* polc_counts[POLC_COUNT_NAMES] */
	__u64 dentry;
	__u64 mnt;
	__u64 root_dentry;
	__u64 root_mnt;
	__u64 made;	/* bpf_jiffies64() when the decision began */
	__u64 root_ino; /* the task root's inode number: a root dentry at a reused address is another */
};

/* polc_cgroups value (key: __u64 cgroup id), written by the agent. */
struct polc_binding {
	__u32 slot;
	__u32 flags;
};

/* polc_tasks value (task storage): the executable a task runs, for parent classes. */
struct polc_task {
	__u16 len;	  /* full path length */
	__u16 last_slash; /* index of the last '/'; POLC_ANY: none */
	__u16 flags;
	__u16 pad;
	char path[POLC_PATH_MAX]; /* first POLC_PATH_MAX bytes */
};

/* polc_events record (ring buffer). */
struct polc_event {
	__u64 ts_ns;
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 rule_id; /* 0: the op's default decided (POLC_EVENT_DEFAULT) */
	__u32 policy;
	__u32 aux; /* CAPABILITY: cap; network: port (host order) | proto << 16 */
	__u16 path_len;
	__u8 op;
	__u8 action;
	__u8 flags;  /* POLC_EVENT_* */
	__u8 family; /* AF_INET, AF_INET6 for network events */
	__u8 pad[2];
	__u8 addr[16];
	char comm[POLC_COMM_LEN];
	char path[POLC_EVENT_PATH_MAX];
};

/* Does a beat b? A missing decision (rule 0) never beats; then the higher rank,
 * the stronger written action, the lower rule id. */
static inline __attribute__((always_inline)) int polc_decision_beats(const struct polc_decision *a,
								     const struct polc_decision *b)
{
	if (a->rule_id == 0)
		return 0;
	if (b->rule_id == 0)
		return 1;
	if (a->rank != b->rank)
		return a->rank > b->rank;
	if (a->written != b->written)
		return a->written > b->written;
	return a->rule_id < b->rule_id;
}

/* Class of what follows `matched` bytes of a key of `len` bytes whose last '/' is at
 * `last_slash` (-1: none). */
static inline __attribute__((always_inline)) int polc_rest(__u32 matched, __u32 len, __s32 last_slash)
{
	if (matched >= len)
		return POLC_REST_EQUAL;
	if (last_slash >= 0 && (__u32)last_slash >= matched)
		return POLC_REST_DEEP;
	return POLC_REST_DIRECT;
}

/* Does an infix candidate fit a path of `len` bytes with `slashes` '/'? */
static inline __attribute__((always_inline)) int polc_infix_fits(const struct polc_infix_cand *c, __u32 len,
								 __u32 slashes)
{
	if (len < c->min_len)
		return 0;
	if (c->max_len != POLC_ANY && len > c->max_len)
		return 0;
	return c->slashes == POLC_ANY || c->slashes == slashes;
}

/*
 * Eight path bytes at a time (a little-endian load: byte i of the path is bits
 * 8i..8i+7). polc_slash_bytes: 0x80 in each byte that is '/', 0 in the others;
 * exact, since no carry crosses a byte (the usual (x - ONES) & ~x trick also flags
 * a 0x01 byte above a match, e.g. the '.' of "/."). polc_top_byte: the index of
 * the highest flagged byte of a non-zero mask (the last '/'); polc_count_bytes: the
 * number of flagged bytes.
 */
static inline __attribute__((always_inline)) __u64 polc_slash_bytes(__u64 v)
{
	const __u64 low7 = 0x7f7f7f7f7f7f7f7fULL;
	__u64 x = v ^ 0x2f2f2f2f2f2f2f2fULL;

	return ~(((x & low7) + low7) | x | low7);
}

static inline __attribute__((always_inline)) __u32 polc_top_byte(__u64 m)
{
	__u32 i = 0;

	if (m >> 32) {
		i += 4;
		m >>= 32;
	}
	if (m >> 16) {
		i += 2;
		m >>= 16;
	}
	if (m >> 8)
		i += 1;
	return i;
}

static inline __attribute__((always_inline)) __u32 polc_count_bytes(__u64 m)
{
	/* One bit per flagged byte at bit 0 of that byte; the product sums the bytes
	 * into the top one. */
	return (__u32)((((m >> 7) * 0x0101010101010101ULL) >> 56) & 0xff);
}

#endif /* POLC_ABI_H */
