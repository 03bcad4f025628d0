/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * polc_vmlinux.h - the few kernel types polc's LSM programs read, written by hand
 * instead of a vmlinux.h dumped from some machine's BTF. Every kernel struct is
 * marked preserve_access_index, so field offsets are CO-RE relocations that libbpf
 * resolves against the running kernel's BTF at load time; only the fields listed
 * here exist for the programs, and their names must match the kernel's (fields the
 * kernel keeps in anonymous unions or structs match by name as well).
 *
 * Also the UAPI integer types and the few BPF and kernel constants the programs use
 * (ABI values that never change), so no kernel or libc header is needed.
 */
#ifndef POLC_VMLINUX_H
#define POLC_VMLINUX_H

/* polc_abi.h and the libbpf headers take the types from here. */
#define __VMLINUX_H__

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef signed short __s16;
typedef signed int __s32;
typedef signed long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;
typedef __u32 __wsum;
typedef __u16 umode_t;
typedef _Bool bool;
#define true 1
#define false 0

/* enum bpf_map_type (UAPI). */
enum {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LPM_TRIE = 11,
	BPF_MAP_TYPE_INODE_STORAGE = 28,
	BPF_MAP_TYPE_TASK_STORAGE = 29,
	BPF_MAP_TYPE_RINGBUF = 27,
};

/* UAPI: the lock a map value may hold (bpf_spin_lock/bpf_spin_unlock). */
struct bpf_spin_lock {
	__u32 val;
};

/* Map flags and helper flags (UAPI). */
#define BPF_F_NO_PREALLOC (1U << 0)
#define BPF_LOCAL_STORAGE_GET_F_CREATE (1ULL << 0)
#define BPF_ANY 0

/* Kernel constants. */
#define EPERM 1
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define AF_PACKET 17
#define SOCK_STREAM 1
#define SOCK_RAW 3
#define MSG_FASTOPEN 0x20000000U
#define SOCK_TYPE_MASK 0xf
#define IPPROTO_TCP 6
#define IPPROTO_MPTCP 262
#define FMODE_READ 0x1U
#define FMODE_WRITE 0x2U
#define FMODE_EXEC 0x20U
#define FMODE_CREATED 0x100000U
#define __FMODE_EXEC 0x20U /* in f_flags: the open is exec's own (open_exec) */
#define O_TRUNC 01000U
#define CAP_OPT_NOAUDIT (1U << 1)
#define TASK_COMM_LEN 16
#define PATH_MAX 4096
#define NAME_MAX 255
#define S_IFMT 00170000U
#define S_IFREG 0100000U
#define S_IFDIR 0040000U
#define RENAME_EXCHANGE (1 << 1)
/* include/uapi/linux/magic.h: the local filesystems whose names change only through
 * the kernel's own rename, link and unlink (the open cache; see polc_lsm.bpf.c). */
#define EXT4_SUPER_MAGIC 0xEF53UL /* also ext2 and ext3 */
#define XFS_SUPER_MAGIC 0x58465342UL
#define BTRFS_SUPER_MAGIC 0x9123683EUL
#define TMPFS_MAGIC 0x01021994UL
#define OVERLAYFS_SUPER_MAGIC 0x794c7630UL

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct super_block {
	unsigned long s_magic;
};

struct inode {
	umode_t i_mode;
	unsigned long i_ino;
	unsigned int i_nlink; /* in an anonymous union with __i_nlink */
	struct super_block *i_sb;
};

/* include/linux/seqlock.h: the sequence of a seqcount_t, a seqcount_spinlock_t and a
 * seqlock_t (rename_lock, mount_lock, and from some kernels fs_struct.seq). The
 * kernel's seqlock_t is a typedef of an unnamed struct: `struct seqlock` is only the
 * local shape of fs_struct___seqlock, matched member by member. */
struct seqcount {
	unsigned int sequence;
};

struct seqcount_spinlock {
	struct seqcount seqcount;
};

struct seqlock {
	struct seqcount_spinlock seqcount;
};

struct dentry;

struct vfsmount {
	struct dentry *mnt_root;
};

/* fs/mount.h: the vfsmount is embedded; real_mount() is container_of. */
struct mnt_namespace;

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
	struct mnt_namespace *mnt_ns;
};

struct qstr {
	union {
		struct {
			__u32 hash;
			__u32 len;
		};
		__u64 hash_len;
	};
	const unsigned char *name;
};

struct hlist_bl_node {
	struct hlist_bl_node *next;
	struct hlist_bl_node **pprev;
};

struct dentry_operations {
	char *(*d_dname)(struct dentry *, char *, int);
};

struct dentry {
	struct hlist_bl_node d_hash; /* pprev NULL: unhashed */
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
	const struct dentry_operations *d_op;
};
struct sk_buff;
struct user_namespace;
struct sockaddr;
struct cred; /* only compared by address */

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct file {
	struct path f_path;
	struct inode *f_inode;
	unsigned int f_flags;
	unsigned int f_mode; /* fmode_t */
};

struct linux_binprm {
	struct file *file;
	const char *filename;
};

struct fs_struct {
	struct seqcount_spinlock seq; /* chroot(2) and pivot_root(2) write root under it */
	struct path root;
};

/* fs_struct.seq where the kernel made it a seqlock_t. */
struct fs_struct___seqlock {
	struct seqlock seq;
};

struct task_struct {
	struct fs_struct *fs;
	int pid;
	int tgid;
	struct task_struct *real_parent;
	const struct cred *real_cred;
	const struct cred *cred;
	char comm[TASK_COMM_LEN];
};

struct kernfs_node {
	__u64 id;
};

struct cgroup {
	struct kernfs_node *kn;
};

struct sock_cgroup_data {
	struct cgroup *cgroup;
};

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
};

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
};

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
	struct sock_cgroup_data sk_cgrp_data;
};

struct socket {
	short type;
	struct sock *sk;
};

struct msghdr {
	void *msg_name;
	int msg_namelen;
	unsigned int msg_flags;
};

struct request_sock {
	struct sock_common __req_common;
};

#pragma clang attribute pop

#endif /* POLC_VMLINUX_H */
