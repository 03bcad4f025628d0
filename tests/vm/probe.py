#!/usr/bin/python3
"""Probe of the VM enforcement suite: runs inside the cgroup `polc exec` creates.

Usage: probe.py RESULT_FILE STEPS_JSON

STEPS_JSON is a list of steps, each {"name": ..., "kind": ..., ...}; a file step may
have "cwd" (a relative path is then resolved from there). Every step is
attempted (a blocked step does not stop the others) and its outcome is written as one
JSON line to RESULT_FILE, which the suite runner (tests/vm/guest.py) reads after the
run. Kinds:

  exec     argv, cwd?   run argv; records whether execve succeeded, the exit status
                        and stdout (a failed execve is recorded with its errno)
  read     path         open O_RDONLY and read
  write    path         open O_WRONLY (no truncation) and write one byte
  trunc    path         open O_WRONLY|O_TRUNC
  truncate path         truncate(2) to length 0 without opening
  ftruncate fd          ftruncate(2) to length 0 of an inherited descriptor (the
                        runner opened it for writing, outside the cgroup)
  recv-fd  sock, fd_name, use
                        ask the runner's UNIX socket `sock` for its descriptor
                        `fd_name` and receive it (SCM_RIGHTS); a refused descriptor
                        (none came, MSG_CTRUNC) is recorded as EPERM; then `use` it:
                        "read" (pread), "write" (a write of 0 bytes) or "none"
  getfd    pid, fd, use pidfd_getfd(2) of descriptor `fd` of process `pid`, then use it
  create   path         open O_WRONLY|O_CREAT|O_EXCL (a new file)
  mkfifo   path         mknod(2) of a FIFO (a new file without open)
  mkdir    path         mkdir(2) (Python's os.mkdir without dir_fd)
  mkdirat  path         mkdirat(2) relative to the parent directory's descriptor
  unlink   path         unlink(2)
  rmdir    path         rmdir(2)
  rename   path, to     rename(2)
  exchange path, to     renameat2(2) with RENAME_EXCHANGE: the two names swap
  link     path, to     link(2): a hard link `to` of `path`
  symlink  path, target symlink(2): a symbolic link `path` pointing to `target`
  status   field        records the line FIELD of /proc/self/status in "out" (NoNewPrivs)
  connect  host, port   TCP connect
  udp      host, port   UDP sendto on an unconnected socket (family from the host)
  udp-over host, port, via
                        UDP socket connected to `via` (a port on 127.0.0.1), then
                        sendto host:port (the address given overrides the peer)
  fastopen host, port   TCP Fast Open: sendto(MSG_FASTOPEN) on a new TCP socket
  cached   path         the open cache's entry for the inode of `path` (polc_open_cache,
                        looked up through an O_PATH descriptor, which no LSM file_open
                        judges): "out" is its ops mask, or -1 when it has none (a text
                        when its sequence is odd or 0)
  stats                 the open cache's counters (polc_cache_stat, summed over CPUs):
                        "out" is {"hits": .., "stale": .., "full": ..}
  move     path, to     mount(2) with MS_MOVE: move the mount at `path` to `to`
  read-detached path, file
                        hold an O_PATH descriptor of the mount at `path`, detach it
                        (umount2 MNT_DETACH), then open `file` O_RDONLY relative to the
                        descriptor and read (the file's path is now from the detached
                        mount's root)
  touch    path         create a marker file (synchronisation with the runner)
  wait     path         wait until a marker file exists (at most 120 s)
"""

import ctypes
import errno
import json
import os
import socket
import subprocess
import sys
import time


OPEN_CACHE_PIN = "/sys/fs/bpf/polc/maps/polc_open_cache"
CACHE_STAT_PIN = "/sys/fs/bpf/polc/maps/polc_cache_stat"


def bpf(cmd, attr):
    libc = ctypes.CDLL(None, use_errno=True)
    nr_bpf = 321  # x86_64
    r = libc.syscall(nr_bpf, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


class ObjGet(ctypes.Structure):
    """union bpf_attr for BPF_OBJ_GET."""
    _fields_ = [("pathname", ctypes.c_uint64), ("bpf_fd", ctypes.c_uint32), ("file_flags", ctypes.c_uint32)]


class Lookup(ctypes.Structure):
    """union bpf_attr for BPF_MAP_LOOKUP_ELEM."""
    _fields_ = [("map_fd", ctypes.c_uint32), ("pad", ctypes.c_uint32), ("key", ctypes.c_uint64),
                ("value", ctypes.c_uint64), ("flags", ctypes.c_uint64)]


def pinned_map(pin):
    """A descriptor of the map pinned at `pin` (BPF_OBJ_GET)."""
    name = ctypes.create_string_buffer(pin.encode())
    return bpf(7, ObjGet(pathname=ctypes.addressof(name)))


def lookup(map_fd, key, size):
    """The `size` bytes of the value of ctypes `key` (BPF_MAP_LOOKUP_ELEM); None when absent."""
    value = ctypes.create_string_buffer(size)
    try:
        bpf(1, Lookup(map_fd=map_fd, key=ctypes.addressof(key), value=ctypes.addressof(value)))
    except OSError as e:
        if e.errno == 2:
            return None
        raise
    return value.raw


def open_cache_mask(path):
    """The ops mask of polc_open_cache's `allow` (its low 16 bits) for the inode of
    `path`, or -1 without an entry. Its high 16 bits are the entry's sequence, even and
    nonzero once written (a reader on x86 checks the entry without its lock by it);
    anything else is returned as a text that names it."""
    map_fd = pinned_map(OPEN_CACHE_PIN)
    fd = os.open(path, os.O_PATH)
    try:
        value = lookup(map_fd, ctypes.c_int(fd), 80)  # sizeof(struct polc_open_cache)
        if value is None:
            return -1
        allow = int.from_bytes(value[4:8], "little")
        seq = allow >> 16
        if seq == 0 or seq % 2:
            return f"allow {allow:#x}: sequence {seq}, not even and nonzero"
        return allow & 0xFFFF
    finally:
        os.close(fd)
        os.close(map_fd)


_POSSIBLE_CPUS = []


def possible_cpus():
    """The number of possible CPUs, read once: a `stats` step after the first opens
    nothing (an open of the sysfs file would be an open cache hit of its own)."""
    if not _POSSIBLE_CPUS:
        with open("/sys/devices/system/cpu/possible", encoding="utf-8") as f:
            n = 0
            for part in f.read().strip().split(","):
                lo, _, hi = part.partition("-")
                n += int(hi or lo) - int(lo) + 1
        _POSSIBLE_CPUS.append(n)
    return _POSSIBLE_CPUS[0]


def cache_stats():
    """polc_cache_stat summed over CPUs: hits, stale, full."""
    map_fd = pinned_map(CACHE_STAT_PIN)
    try:
        ncpu = possible_cpus()
        out = {}
        for i, k in enumerate(("hits", "stale", "full")):
            value = lookup(map_fd, ctypes.c_uint32(i), 8 * ncpu)
            if value is None:
                raise OSError(2, f"polc_cache_stat has no entry {i}")
            out[k] = sum(int.from_bytes(value[8 * c:8 * c + 8], "little") for c in range(ncpu))
        return out
    finally:
        os.close(map_fd)


def use_fd(fd, use):
    """Read from or write to a descriptor the probe was given, then close it."""
    try:
        if use == "read":
            os.pread(fd, 16, 0)
        elif use == "write":
            os.write(fd, b"")
    finally:
        os.close(fd)


def run_step(step):
    kind = step["kind"]
    res = {"name": step["name"], "kind": kind}
    back = None
    try:
        if kind != "exec" and step.get("cwd"):
            back = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
            os.chdir(step["cwd"])
        if kind == "exec":
            proc = subprocess.run(
                step["argv"],
                cwd=step.get("cwd"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                timeout=120,
                check=False,
            )
            res.update(
                started=True,
                rc=proc.returncode,
                out=proc.stdout.decode(errors="replace"),
                err=proc.stderr.decode(errors="replace")[-400:],
            )
            res["ok"] = True
        elif kind == "read":
            with open(step["path"], "rb") as f:
                f.read()
            res["ok"] = True
        elif kind == "write":
            fd = os.open(step["path"], os.O_WRONLY)
            try:
                os.write(fd, b"x")
            finally:
                os.close(fd)
            res["ok"] = True
        elif kind == "trunc":
            os.close(os.open(step["path"], os.O_WRONLY | os.O_TRUNC))
            res["ok"] = True
        elif kind == "truncate":
            os.truncate(step["path"], 0)
            res["ok"] = True
        elif kind == "ftruncate":
            os.ftruncate(step["fd"], 0)
            res["ok"] = True
        elif kind == "recv-fd":
            # Ask the runner's socket for its descriptor `name`: one byte comes back,
            # with the descriptor unless the kernel refused it (MSG_CTRUNC).
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                c.connect(step["sock"])
                c.sendall(step["fd_name"].encode() + b"\n")
                _, fds, flags, _ = socket.recv_fds(c, 16, 1)
            if not fds:
                # Refused by the kernel (MSG_CTRUNC): EPERM, as a block; none sent
                # (a runner bug): never taken for a block.
                if flags & socket.MSG_CTRUNC:
                    raise OSError(errno.EPERM, "descriptor refused (MSG_CTRUNC)")
                raise OSError(errno.ENOMSG, "no descriptor was sent")
            use_fd(fds[0], step["use"])
            res["ok"] = True
        elif kind == "getfd":
            # pidfd_getfd(2) of the runner's descriptor `fd`.
            libc = ctypes.CDLL(None, use_errno=True)
            pidfd = os.pidfd_open(step["pid"])
            try:
                fd = libc.syscall(438, pidfd, step["fd"], 0)  # SYS_pidfd_getfd
                if fd < 0:
                    e = ctypes.get_errno()
                    raise OSError(e, os.strerror(e))
            finally:
                os.close(pidfd)
            use_fd(fd, step["use"])
            res["ok"] = True
        elif kind == "mkfifo":
            os.mkfifo(step["path"], 0o644)
            res["ok"] = True
        elif kind == "create":
            os.close(os.open(step["path"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            res["ok"] = True
        elif kind == "mkdir":
            os.mkdir(step["path"])
            res["ok"] = True
        elif kind == "mkdirat":
            parent = os.open(os.path.dirname(step["path"]), os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.mkdir(os.path.basename(step["path"]), dir_fd=parent)
            finally:
                os.close(parent)
            res["ok"] = True
        elif kind == "unlink":
            os.unlink(step["path"])
            res["ok"] = True
        elif kind == "rmdir":
            os.rmdir(step["path"])
            res["ok"] = True
        elif kind == "rename":
            os.rename(step["path"], step["to"])
            res["ok"] = True
        elif kind == "exchange":
            libc = ctypes.CDLL(None, use_errno=True)
            at_fdcwd, rename_exchange = -100, 2
            if libc.renameat2(at_fdcwd, os.fsencode(step["path"]), at_fdcwd, os.fsencode(step["to"]), rename_exchange):
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
            res["ok"] = True
        elif kind == "link":
            os.link(step["path"], step["to"])
            res["ok"] = True
        elif kind == "symlink":
            os.symlink(step["target"], step["path"])
            res["ok"] = True
        elif kind == "status":
            with open("/proc/self/status", encoding="utf-8") as f:
                res["out"] = next((l.split(":", 1)[1].strip() for l in f if l.startswith(step["field"] + ":")), "")
            res["ok"] = True
        elif kind == "connect":
            with socket.create_connection((step["host"], step["port"]), timeout=20):
                pass
            res["ok"] = True
        elif kind == "udp":
            family = socket.AF_INET6 if ":" in step["host"] else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.sendto(b"x", (step["host"], step["port"]))
            res["ok"] = True
        elif kind == "udp-over":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect(("127.0.0.1", step["via"]))
                s.sendto(b"x", (step["host"], step["port"]))
            res["ok"] = True
        elif kind == "fastopen":
            # Blocking (a timeout would make the socket non-blocking: EINPROGRESS).
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.sendto(b"x", socket.MSG_FASTOPEN, (step["host"], step["port"]))
            res["ok"] = True
        elif kind == "cached":
            res["out"] = open_cache_mask(step["path"])
            res["ok"] = True
        elif kind == "stats":
            res["out"] = cache_stats()
            res["ok"] = True
        elif kind == "move":
            libc = ctypes.CDLL(None, use_errno=True)
            ms_move = 8192
            if libc.mount(os.fsencode(step["path"]), os.fsencode(step["to"]), None, ms_move, None):
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
            res["ok"] = True
        elif kind == "read-detached":
            libc = ctypes.CDLL(None, use_errno=True)
            mnt_detach = 2
            dfd = os.open(step["path"], os.O_PATH | os.O_DIRECTORY)
            try:
                if libc.umount2(os.fsencode(step["path"]), mnt_detach):
                    e = ctypes.get_errno()
                    raise OSError(e, os.strerror(e))
                fd = os.open(step["file"], os.O_RDONLY, dir_fd=dfd)
                try:
                    os.read(fd, 64)
                finally:
                    os.close(fd)
            finally:
                os.close(dfd)
            res["ok"] = True
        elif kind == "touch":
            with open(step["path"], "w", encoding="utf-8"):
                pass
            res["ok"] = True
        elif kind == "wait":
            deadline = time.monotonic() + 120
            while not os.path.exists(step["path"]):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"marker {step['path']} never appeared")
                time.sleep(0.05)
            res["ok"] = True
        else:
            res.update(ok=False, error=f"unknown step kind {kind!r}")
    except OSError as e:
        res.update(ok=False, errno=e.errno, error=str(e))
    except subprocess.TimeoutExpired as e:
        res.update(ok=False, error=f"timeout: {e}")
    finally:
        if back is not None:
            os.fchdir(back)
            os.close(back)
    return res


def main():
    result_file, steps = sys.argv[1], json.loads(sys.argv[2])
    with open(result_file, "w", encoding="utf-8") as out:
        for step in steps:
            out.write(json.dumps(run_step(step)) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
