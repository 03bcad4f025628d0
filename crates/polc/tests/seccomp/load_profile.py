#!/usr/bin/python3
"""Load an OCI `linux.seccomp` profile with libseccomp, as runc does, and optionally
enforce it on a forked child that runs probes.

Used by crates/polc/tests/compile_seccomp.rs; needs Debian's python3-seccomp (the
libseccomp Python bindings) and the system /usr/bin/python3.

    load_profile.py check PROFILE.json          build the filter and export its BPF
    load_profile.py probe PROFILE.json WORKDIR  load it in a child and run probes
    load_profile.py bpf PROFILE.json OUT.bpf    write libseccomp's BPF program to OUT.bpf

Prints one JSON object on stdout. Stricter than runc on purpose: keys outside the OCI
subset, syscall names libseccomp does not know, argument filters and rules whose
action equals the default action are errors (exit 2). Exit 3: python3-seccomp is
missing.
"""

import ctypes
import errno
import json
import os
import sys

try:
    import seccomp
except ImportError as e:
    print(f"load_profile.py: python3-seccomp is not installed ({e}); apt-get install python3-seccomp",
          file=sys.stderr)
    sys.exit(3)

PROFILE_KEYS = {"defaultAction", "defaultErrnoRet", "architectures", "syscalls", "flags", "listenerPath",
                "listenerMetadata"}
ENTRY_KEYS = {"names", "action", "errnoRet", "args"}
ARCHES = {"SCMP_ARCH_X86_64": seccomp.Arch.X86_64, "SCMP_ARCH_X86": seccomp.Arch.X86,
          "SCMP_ARCH_X32": seccomp.Arch.X32}
CLONE3 = 435


def fail(msg):
    print(f"load_profile.py: {msg}", file=sys.stderr)
    sys.exit(2)


def action(name, errno_ret):
    """The libseccomp action of an OCI action; SCMP_ACT_ERRNO without errno is EPERM, as in runc."""
    if name == "SCMP_ACT_ALLOW":
        return seccomp.ALLOW
    if name == "SCMP_ACT_LOG":
        return seccomp.LOG
    if name == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(errno.EPERM if errno_ret is None else errno_ret)
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return seccomp.KILL
    if name == "SCMP_ACT_KILL_PROCESS":
        return seccomp.KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return seccomp.TRAP
    fail(f"unsupported action {name}")


def build(profile):
    extra = set(profile) - PROFILE_KEYS
    if extra:
        fail(f"keys outside the OCI linux.seccomp subset: {sorted(extra)}")
    default = action(profile["defaultAction"], profile.get("defaultErrnoRet"))
    f = seccomp.SyscallFilter(default)
    for a in profile.get("architectures", []):
        if a not in ARCHES:
            fail(f"unexpected architecture {a}")
        if not f.exist_arch(ARCHES[a]):
            f.add_arch(ARCHES[a])
    rules = 0
    for entry in profile.get("syscalls", []):
        extra = set(entry) - ENTRY_KEYS
        if extra:
            fail(f"syscall entry keys outside the OCI subset: {sorted(extra)}")
        if entry.get("args"):
            fail("argument filters are not expected")
        act = action(entry["action"], entry.get("errnoRet"))
        if (entry["action"], entry.get("errnoRet")) == (profile["defaultAction"], profile.get("defaultErrnoRet")):
            fail(f"entry {entry['names']} has the default action; runc would refuse it")
        for name in entry["names"]:
            try:
                seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
            except (ValueError, RuntimeError) as e:
                fail(f"libseccomp does not know the syscall {name}: {e}")
            try:
                f.add_rule(act, name)
            except (ValueError, RuntimeError, OSError) as e:
                fail(f"libseccomp refused the rule for {name}: {e}")
            rules += 1
    return f, rules


def probe(name, fn, results):
    try:
        fn()
        results[name] = 0
    except OSError as e:
        results[name] = e.errno


def spawn_true():
    pid = os.posix_spawn("/bin/true", ["true"], {})
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise OSError(errno.ECHILD, f"/bin/true exited {code}")


def run_probes(f, work):
    libc = ctypes.CDLL(None, use_errno=True)
    dfd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)

    def clone3():
        # clone3(NULL, 0): EINVAL when the call reaches the kernel.
        if libc.syscall(ctypes.c_long(CLONE3), None, ctypes.c_size_t(0)) == -1:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        results = {}
        try:
            f.load()
            probe("mkdir", lambda: os.mkdir(os.path.join(work, "by-mkdir")), results)
            probe("mkdirat", lambda: os.mkdir("by-mkdirat", dir_fd=dfd), results)
            probe("getppid", os.getppid, results)
            probe("spawn", spawn_true, results)
            probe("clone3", clone3, results)
        except BaseException as e:  # report, never hang the parent
            results["error"] = repr(e)
        os.write(w, json.dumps(results).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    _, status = os.waitpid(pid, 0)
    return {
        "childExit": os.waitstatus_to_exitcode(status),
        "probes": json.loads(data) if data else None,
        "created": sorted(os.listdir(work)),
    }


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("check", "probe", "bpf") or (sys.argv[1] != "check") != (len(sys.argv) == 4):
        fail("usage: load_profile.py check PROFILE.json | probe PROFILE.json WORKDIR | bpf PROFILE.json OUT.bpf")
    with open(sys.argv[2], encoding="utf-8") as fh:
        profile = json.load(fh)
    f, rules = build(profile)
    if sys.argv[1] == "check":
        with open(os.devnull, "wb") as null:
            f.export_bpf(null)
        print(json.dumps({"rules": rules}))
    elif sys.argv[1] == "bpf":
        with open(sys.argv[3], "wb") as out:
            f.export_bpf(out)
        print(json.dumps({"rules": rules}))
    else:
        print(json.dumps(run_probes(f, sys.argv[3])))


if __name__ == "__main__":
    main()
