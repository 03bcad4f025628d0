#!/usr/bin/python3
"""Kernel enforcement suite of polc: runs inside the VM that scripts/vm-test.sh boots.

Every case runs real processes under `polc exec` (its own cgroup v2, the eBPF LSM
programs loaded, the policy's bundle bound to that cgroup) and checks what the kernel
allowed, blocked and reported: the outcome of each step (exit status, errno) and the
violation records `polc exec --events json` prints. A case passes only when every
check holds; a harness problem (no BPF LSM, no polc, a probe that did not finish) is a
failure, never a skip.

Writes one line per case to RESULTS (`PASS name` or `FAIL name: reason`), then
`SUMMARY pass=N fail=M`, which the host script reads; details of each run go to LOG.
Hook benchmarks (tests/vm/bench) run after the cases when --bench is given.

Usage: guest.py --repo DIR --out DIR [--bench] [--only NAME,...]
"""

import argparse
import errno
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

BLOCK_ERRNOS = (errno.EPERM, errno.EACCES)
SCRATCH = "/tmp/polc-vm"
CASE_TIMEOUT = 180

HARDLINK_ERROR = None
# Filled by main().
REPO = OUT = POLC = PROBE = LOG = None


def log(msg):
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(msg.rstrip("\n") + "\n")


def say(msg):
    print(msg, flush=True)
    log(msg)


class CaseFailure(Exception):
    """A check of a case did not hold."""


# ---------------------------------------------------------------------------------
# environment


def sh(cmd, check=True):
    p = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    out = p.stdout.decode(errors="replace")
    if check and p.returncode != 0:
        raise RuntimeError(f"`{cmd}` failed ({p.returncode}): {out.strip()}")
    return out


def mounted(path, fstype):
    with open("/proc/mounts", encoding="utf-8") as f:
        return any(l.split()[1] == path and l.split()[2] == fstype for l in f)


def setup_kernel():
    """Mount what the agent needs; fail loudly when the kernel cannot enforce."""
    if not mounted("/sys/kernel/security", "securityfs"):
        sh("mount -t securityfs securityfs /sys/kernel/security")
    if not mounted("/sys/fs/bpf", "bpf"):
        sh("mount -t bpf bpf /sys/fs/bpf")
    if not mounted("/sys/fs/cgroup", "cgroup2"):
        sh("mount -t cgroup2 none /sys/fs/cgroup")
    with open("/sys/kernel/security/lsm", encoding="utf-8") as f:
        lsms = f.read().strip()
    if "bpf" not in lsms.split(","):
        raise RuntimeError(f"BPF LSM is not active in this kernel (lsm={lsms})")
    sh("ip link set lo up")
    return lsms


def setup_fixtures():
    """Files, directories and binaries the cases use (the guest's /tmp is its own)."""
    sh(f"umount {SCRATCH}/files/bind 2>/dev/null", check=False)
    shutil.rmtree(SCRATCH, ignore_errors=True)
    for p in (
        "bin-flat/sub", "bin-deep/a/b", "bin-other", "copy", "link", "files/secrets/sub", "files/ro/sub", "files/bind",
        "files/audited", "files/dry", "files/deep", "swap",
    ):
        os.makedirs(os.path.join(SCRATCH, p), exist_ok=True)
    for p in ("bin-flat/hello", "bin-flat/sub/hello", "bin-deep/hello", "bin-deep/a/b/hello", "bin-other/hello"):
        shutil.copy2("/usr/bin/echo", os.path.join(SCRATCH, p))
    shutil.copy2("/usr/bin/id", f"{SCRATCH}/copy/id")
    shutil.copy2("/usr/bin/id", f"{SCRATCH}/copy/myid")
    shutil.copy2("/usr/bin/true", f"{SCRATCH}/copy/true")
    os.symlink("/usr/bin/id", f"{SCRATCH}/link/id-link")
    with open(f"{SCRATCH}/script.sh", "w", encoding="utf-8") as f:
        f.write("#!/bin/bash\necho script-ran\n")
    os.chmod(f"{SCRATCH}/script.sh", 0o755)
    # A hard link must live on the file system of /usr/bin (the guest's /tmp is an
    # overlay): the shared root, under the build directory.
    global HARDLINK_ERROR
    hl_dir = os.path.join(OUT, "scratch")
    shutil.rmtree(hl_dir, ignore_errors=True)
    os.makedirs(hl_dir)
    try:
        os.link("/usr/bin/id", os.path.join(hl_dir, "id"))
    except OSError as e:
        HARDLINK_ERROR = f"cannot make the hard link {hl_dir}/id -> /usr/bin/id: {e}"
    for p, text in (
        ("files/secret.txt", "secret\n"),
        ("files/other.txt", "other\n"),
        ("files/watched.txt", "watched\n"),
        ("files/secrets/a.txt", "a\n"),
        ("files/secrets/sub/b.txt", "b\n"),
        ("files/ro/r.txt", "r\n"),
        ("files/ro/sub/s.txt", "s\n"),
        ("files/ro/t.txt", "t\n"),
        ("files/ro/iso.txt", "iso\n"),
        ("files/rw-trunc.txt", "rw\n"),
        ("files/rw-ftrunc.txt", "rw\n"),
        ("files/audited/a.txt", "aaaa\n"),
        ("files/audited/b.txt", "bbbb\n"),
        ("files/audited/c.txt", "cccc\n"),
        ("files/dry/d.txt", "dddd\n"),
        ("files/dry/e.txt", "eeee\n"),
    ):
        with open(os.path.join(SCRATCH, p), "w", encoding="utf-8") as f:
            f.write(text)
    os.symlink(f"{SCRATCH}/files/secret.txt", f"{SCRATCH}/files/link-to-secret")
    os.symlink(f"{SCRATCH}/files/ro/r.txt", f"{SCRATCH}/files/link-to-ro")
    # The read-only tree again through a bind mount: its files have the bind's path.
    sh(f"mount --bind {SCRATCH}/files/ro {SCRATCH}/files/bind")
    # A file whose path is longer than PATH_MAX (made with descriptors: no path string
    # that long can be passed to the kernel).
    fd = os.open(f"{SCRATCH}/files/deep", os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(DEEP_LEVELS):
        os.mkdir(DEEP_NAME, dir_fd=fd)
        nfd = os.open(DEEP_NAME, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    with os.fdopen(os.open("f.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
        f.write("deep\n")
    os.close(fd)


# files/deep/: DEEP_LEVELS directories of DEEP_NAME, then f.txt: 4,800 bytes and more.
DEEP_NAME = "d" * 200
DEEP_LEVELS = 24


def open_deep_for_write():
    """An O_WRONLY descriptor of files/deep/.../f.txt (opened by the runner)."""
    fd = os.open(f"{SCRATCH}/files/deep", os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(DEEP_LEVELS):
        nfd = os.open(DEEP_NAME, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    try:
        return os.open("f.txt", os.O_WRONLY, dir_fd=fd)
    finally:
        os.close(fd)


class Listeners:
    """TCP listeners on 0.0.0.0 (so 127.0.0.1 and 127.0.0.2 both reach them)."""

    def __init__(self, ports):
        self.socks = []
        for port in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", port))
            s.listen(64)
            self.socks.append(s)
            threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    @staticmethod
    def _accept(s):
        while True:
            try:
                c, _ = s.accept()
                c.close()
            except OSError:
                return


# ---------------------------------------------------------------------------------
# running a probe under polc exec


def parse_events(text):
    """Violation records among polc's output lines (JSON objects with `"v"`)."""
    events = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if isinstance(e, dict) and "v" in e and "action" in e:
            events.append(e)
    return events


class Run:
    """One `polc exec` run: exit status, output, events and the probe's step results."""

    def __init__(self, name, rc, out, err, steps, elapsed):
        self.name, self.rc, self.out, self.err, self.elapsed = name, rc, out, err, elapsed
        self.events = parse_events(out) + parse_events(err)
        self.steps = steps

    def step(self, name):
        if name not in self.steps:
            raise CaseFailure(
                f"probe did not report step {name!r} (polc exec rc={self.rc}; stderr tail: {tail(self.err)})"
            )
        return self.steps[name]


def tail(text, n=600):
    text = text.strip().replace("\n", " | ")
    return text[-n:] if text else "(empty)"


def polc_exec_cmd(policies, cmd, extra=()):
    argv = [POLC, "exec"]
    for p in policies:
        argv += ["--policy", os.path.join(REPO, "tests/vm/policies", p)]
    return argv + ["--events", "json", *extra, "--", *cmd]


def run_probe(case, policies, steps, popen=False, pass_fds=(), extra=()):
    """Run probe.py with `steps` under polc exec; returns a Run (or the Popen).
    `pass_fds`: descriptors of the runner the probe inherits (through polc exec);
    `extra`: more arguments of polc exec."""
    resfile = os.path.join(OUT, f"probe-{case}.jsonl")
    if os.path.exists(resfile):
        os.remove(resfile)
    cmd = polc_exec_cmd(policies, ["/usr/bin/python3", PROBE, resfile, json.dumps(steps)], extra)
    log(f"--- {case}: {' '.join(cmd[:-1])} '<steps>'")
    if popen:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE), resfile
    t0 = time.monotonic()

    def probe_done():
        try:
            with open(resfile, encoding="utf-8") as f:
                return sum(1 for _ in f) >= len(steps)
        except OSError:
            return False

    rc, out, err = run_bounded(cmd, done=probe_done, pass_fds=pass_fds)
    return finish_run(case, rc, out, err, resfile, time.monotonic() - t0)


HANGS = []
EXIT_GRACE = 20


def run_bounded(cmd, timeout=CASE_TIMEOUT, done=None, pass_fds=()):
    """Run cmd, capturing its output in files. When `done()` turns true (the command's
    work is over) and cmd has not exited EXIT_GRACE s later, or after `timeout`, record
    where its threads wait, kill it, note a hang in HANGS and return rc None with the
    output so far, so the case can still check what happened."""
    tag = f"{OUT}/run-{time.monotonic_ns()}"
    with open(f"{tag}.out", "wb") as fo, open(f"{tag}.err", "wb") as fe:
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, pass_fds=pass_fds)
        t0 = time.monotonic()
        done_at = None
        while p.poll() is None:
            now = time.monotonic()
            if done_at is None and done is not None and done():
                done_at = now
            if now - t0 > timeout or (done_at is not None and now - done_at > EXIT_GRACE):
                break
            time.sleep(0.2)
    rc = p.poll()
    if rc is None:
        where = sh(
            f"for t in /proc/{p.pid}/task/*; do echo \"$t $(cat $t/comm) $(cat $t/wchan) $(cat $t/stat | cut -d' ' -f3)\"; done; "
            "ps -eo pid,ppid,stat,wchan:24,args | grep -v ' \\[' | tail -n 25",
            check=False,
        )
        p.kill()
        p.wait()
        why = "its command had finished" if done_at is not None else f"{timeout} s passed"
        threads = " | ".join(l.split("/", 4)[-1] for l in where.splitlines() if l.startswith(f"/proc/{p.pid}/task/"))
        HANGS.append(f"{os.path.basename(cmd[0])} {cmd[1]} did not exit ({why}); its threads (tid comm wchan state): {threads}")
        log(f"HANG: {HANGS[-1]}\n{where}")
    with open(f"{tag}.out", "rb") as fo, open(f"{tag}.err", "rb") as fe:
        out, err = fo.read(), fe.read()
    for ext in ("out", "err"):
        os.remove(f"{tag}.{ext}")
    return rc, out, err


def finish_run(case, rc, out, err, resfile, elapsed):
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    steps = {}
    if os.path.exists(resfile):
        with open(resfile, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                steps[r["name"]] = r
    log(f"rc={rc} elapsed={elapsed:.1f}s\nstdout:\n{out}\nstderr:\n{err}\nsteps:\n{json.dumps(steps, indent=1)}")
    run = Run(case, rc, out, err, steps, elapsed)
    if rc is not None and rc != 0 and not steps:
        raise CaseFailure(f"polc exec failed (rc={rc}) before the probe ran: {tail(err)}")
    return run


# ---------------------------------------------------------------------------------
# checks


def expect_allowed(run, name, marker=None):
    r = run.step(name)
    if not r.get("ok"):
        raise CaseFailure(f"step {name}: expected allowed, failed: {r.get('error')} (errno {r.get('errno')})")
    if r["kind"] == "exec":
        if r["rc"] != 0:
            raise CaseFailure(f"step {name}: expected allowed, exit status {r['rc']}: {r.get('err', '').strip()}")
        if marker is not None and marker not in r["out"]:
            raise CaseFailure(f"step {name}: expected output containing {marker!r}, got {r['out']!r}")


def expect_blocked(run, name):
    """The operation itself failed with EPERM/EACCES (execve, open, connect)."""
    r = run.step(name)
    if r.get("ok"):
        extra = f" (exit {r['rc']}, output {r['out']!r})" if r["kind"] == "exec" else ""
        raise CaseFailure(f"step {name}: expected blocked, it succeeded{extra}")
    if r.get("errno") not in BLOCK_ERRNOS:
        raise CaseFailure(f"step {name}: expected EPERM/EACCES, got errno {r.get('errno')}: {r.get('error')}")


def expect_child_blocked(run, name, marker):
    """A shell ran and its child was refused: the marker of success is absent."""
    r = run.step(name)
    if not r.get("ok"):
        raise CaseFailure(f"step {name}: the shell itself did not run: {r.get('error')}")
    if marker in r["out"]:
        raise CaseFailure(f"step {name}: expected the child to be blocked, output {r['out']!r}")
    if "rc=" not in r["out"]:
        raise CaseFailure(f"step {name}: the shell did not report the child's status: {r['out']!r} {r.get('err')!r}")


def matching(run, action=None, op=None, path=None, port=None, rule=None, moved=None, below=None, received=None):
    found = []
    for e in run.events:
        if received is not None and e.get("fdReceived", False) is not received:
            continue
        if moved is not None and e.get("nameMoved") is not moved:
            continue
        if below is not None and e.get("ruleBelow") is not below:
            continue
        if action is not None and str(e.get("action", "")).lower() != action:
            continue
        if op is not None and e.get("op") != op:
            continue
        if path is not None and e.get("path") != path:
            continue
        if port is not None and (e.get("peer") or {}).get("port") != port:
            continue
        if rule is not None and e.get("rule") != rule:
            continue
        found.append(e)
    return found


def describe_events(run):
    if not run.events:
        return "no events"
    short = [f"{e.get('action')} {e.get('op')} {e.get('path') or e.get('peer')} rule={e.get('rule')}" for e in run.events]
    return f"{len(run.events)} events: " + "; ".join(short[:8])


def expect_events(run, count, **kw):
    """count: an int (exactly), '+' (at least one) or '>=N' (at least N)."""
    found = matching(run, **kw)
    want = {k: v for k, v in kw.items() if v is not None}
    if count == "+" and not found:
        raise CaseFailure(f"expected an event {want}, got {describe_events(run)}")
    if isinstance(count, str) and count.startswith(">="):
        if len(found) < int(count[2:]):
            raise CaseFailure(f"expected at least {count[2:]} event(s) {want}, got {len(found)}; {describe_events(run)}")
        return
    if count != "+" and len(found) != count:
        raise CaseFailure(f"expected exactly {count} event(s) {want}, got {len(found)}; {describe_events(run)}")


def expect_no_events(run, **kw):
    found = matching(run, **kw)
    if found:
        raise CaseFailure(f"expected no event {kw}, got {describe_events(run)}")


def expect_exit_ok(run):
    if run.rc is None:
        return  # a hang, in HANGS: reported after the other checks
    if run.rc != 0:
        raise CaseFailure(f"polc exec exited {run.rc} though the probe exits 0; stderr: {tail(run.err)}")


# ---------------------------------------------------------------------------------
# cases


def ex(name, argv, cwd=None):
    s = {"name": name, "kind": "exec", "argv": argv}
    if cwd:
        s["cwd"] = cwd
    return s


def fs(name, kind, path, cwd=None, **extra):
    """A file step; `extra` holds a kind's other fields (`to`, `target`)."""
    s = {"name": name, "kind": kind, "path": path, **extra}
    if cwd:
        s["cwd"] = cwd
    return s


def ftrunc(name, fd):
    return {"name": name, "kind": "ftruncate", "fd": fd}


def file_text(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def expect_content(path, text, why):
    got = file_text(path)
    if got != text:
        raise CaseFailure(f"{why}: {path} holds {got!r}, expected {text!r}")


def expect_missing(path, why):
    if os.path.lexists(path):
        raise CaseFailure(f"{why}: {path} exists")


def expect_exists(path, why):
    if not os.path.lexists(path):
        raise CaseFailure(f"{why}: {path} is missing")


def expect_size(path, size, why):
    got = os.stat(path).st_size
    if got != size:
        raise CaseFailure(f"{why}: {path} has {got} bytes, expected {size}")


def unresolved_events(run, op):
    return [e for e in run.events if e.get("op") == op and e.get("pathUnresolved") is True]


def conn(name, host, port):
    return {"name": name, "kind": "connect", "host": host, "port": port}


ID = ["/usr/bin/id", "-u"]


def case_exec_block_path():
    r = run_probe(
        "exec-block-path",
        ["exec-block-path.yaml"],
        [ex("id", ID), ex("id-via-bin", ["/bin/id", "-u"]), ex("true", ["/usr/bin/true"])],
    )
    expect_exit_ok(r)
    expect_blocked(r, "id")
    expect_blocked(r, "id-via-bin")
    expect_allowed(r, "true")
    expect_events(r, 2, action="block", op="exec", path="/usr/bin/id", rule="block-id")
    expect_no_events(r, path="/usr/bin/true")


def case_exec_seccomp():
    """One plan, both backends: the RuntimePolicy's syscall baseline (everything but
    mkdir, onAnomaly Block) as the seccomp filter, the PreventionPolicy's exec rule in
    the eBPF LSM. With --no-seccomp the same mkdir succeeds."""
    base = os.path.join(SCRATCH, "seccomp")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    steps = [
        {"name": "mkdir", "kind": "mkdir", "path": f"{base}/by-mkdir"},
        {"name": "mkdirat", "kind": "mkdirat", "path": f"{base}/by-mkdirat"},
        {"name": "nnp", "kind": "status", "field": "NoNewPrivs"},
        ex("id", ID),
        ex("true", ["/usr/bin/true"]),
    ]
    manifests = ["--manifests", os.path.join(REPO, "tests/vm/workloads/exec-seccomp.yaml")]
    r = run_probe("exec-seccomp", ["exec-seccomp.yaml"], steps, extra=manifests)
    expect_exit_ok(r)
    m = r.step("mkdir")
    if m.get("ok") or m.get("errno") != errno.EPERM:
        raise CaseFailure(f"step mkdir: expected EPERM from the seccomp filter, got {m}")
    if os.path.exists(f"{base}/by-mkdir"):
        raise CaseFailure("mkdir was refused but the directory exists")
    expect_allowed(r, "mkdirat")
    if not os.path.isdir(f"{base}/by-mkdirat"):
        raise CaseFailure("mkdirat succeeded but the directory is missing")
    if r.step("nnp").get("out") != "1":
        raise CaseFailure(f"expected NoNewPrivs 1 under the filter, got {r.step('nnp')}")
    expect_blocked(r, "id")
    expect_allowed(r, "true")
    expect_events(r, 1, action="block", op="exec", path="/usr/bin/id", rule="block-id")
    # The seccomp refusal is not an LSM decision: no event names the directory.
    expect_no_events(r, path=f"{base}/by-mkdir")

    # The same run without the filter: mkdir works, no_new_privs is not set, the LSM
    # rule still holds.
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    resfile = os.path.join(OUT, "probe-exec-seccomp-off.jsonl")
    cmd = polc_exec_cmd(
        ["exec-seccomp.yaml"], ["/usr/bin/python3", PROBE, resfile, json.dumps(steps)], [*manifests, "--no-seccomp"]
    )
    log(f"--- exec-seccomp (--no-seccomp): {' '.join(cmd[:-1])} '<steps>'")
    t0 = time.monotonic()
    rc, out, err = run_bounded(cmd)
    off = finish_run("exec-seccomp-off", rc, out, err, resfile, time.monotonic() - t0)
    expect_exit_ok(off)
    expect_allowed(off, "mkdir")
    if off.step("nnp").get("out") != "0":
        raise CaseFailure(f"--no-seccomp: expected NoNewPrivs 0, got {off.step('nnp')}")
    expect_blocked(off, "id")
    if "--no-seccomp: the 361 syscall rules" not in off.err:
        raise CaseFailure(f"--no-seccomp did not say that the syscall rules are off: {tail(off.err)}")


def case_exec_block_glob():
    r = run_probe(
        "exec-block-glob",
        ["exec-block-glob.yaml"],
        [ex("whoami", ["/usr/bin/whoami"]), ex("who", ["/usr/bin/who"]), ex("id", ID)],
    )
    expect_exit_ok(r)
    expect_blocked(r, "whoami")
    expect_blocked(r, "who")
    expect_allowed(r, "id", "0")
    expect_events(r, 1, action="block", op="exec", path="/usr/bin/whoami")
    expect_events(r, 1, action="block", op="exec", path="/usr/bin/who")


def case_exec_block_dir():
    b = SCRATCH
    r = run_probe(
        "exec-block-dir",
        ["exec-block-dir.yaml"],
        [
            ex("flat", [f"{b}/bin-flat/hello", "x"]),
            ex("flat-sub", [f"{b}/bin-flat/sub/hello", "x"]),
            ex("deep", [f"{b}/bin-deep/hello", "x"]),
            ex("deep-nested", [f"{b}/bin-deep/a/b/hello", "x"]),
            ex("other", [f"{b}/bin-other/hello", "x"]),
        ],
    )
    expect_exit_ok(r)
    expect_blocked(r, "flat")
    expect_allowed(r, "flat-sub", "x")
    expect_blocked(r, "deep")
    expect_blocked(r, "deep-nested")
    expect_allowed(r, "other", "x")
    expect_events(r, 1, action="block", op="exec", path=f"{b}/bin-flat/hello", rule="block-flat-dir")
    expect_events(r, 1, action="block", op="exec", path=f"{b}/bin-deep/a/b/hello", rule="block-deep-dir")


def case_exec_allowlist():
    # The probe is a dash script: python is not on the allow-list.
    resfile = os.path.join(OUT, "probe-exec-allowlist.txt")
    if os.path.exists(resfile):
        os.remove(resfile)
    script = (
        f"exec >{resfile} 2>&1; "
        "/usr/bin/true; echo true=$?; "
        "/usr/bin/echo hi >/dev/null; echo echo=$?; "
        "/usr/bin/id -u >/dev/null 2>&1; echo id=$?; "
        f"{SCRATCH}/copy/true; echo copy=$?"
    )
    cmd = polc_exec_cmd(["exec-allowlist.yaml"], ["/bin/sh", "-c", script])
    log(f"--- exec-allowlist: {cmd}")
    rc, out, err = run_bounded(cmd, done=lambda: os.path.exists(resfile) and "copy=" in open(resfile).read())
    run = Run("exec-allowlist", rc, out.decode(errors="replace"), err.decode(errors="replace"), {}, 0)
    log(f"rc={rc}\nstdout:\n{run.out}\nstderr:\n{run.err}")
    if not os.path.exists(resfile):
        raise CaseFailure(f"the allow-listed shell did not run (rc={rc}): {tail(run.err)}")
    with open(resfile, encoding="utf-8") as f:
        got = dict(l.strip().split("=", 1) for l in f if "=" in l and l.split("=", 1)[0].isalpha())
    log(f"results: {got}")
    for k, want_ok in (("true", True), ("echo", True), ("id", False), ("copy", False)):
        if k not in got:
            raise CaseFailure(f"the shell did not report {k}: {got}")
        if (got[k] == "0") != want_ok:
            raise CaseFailure(f"{k}: expected {'allowed' if want_ok else 'blocked'}, exit status {got[k]}")
    expect_exit_ok(run)
    expect_events(run, 1, action="block", op="exec", path="/usr/bin/id")
    expect_events(run, 1, action="block", op="exec", path=f"{SCRATCH}/copy/true")
    expect_no_events(run, path="/usr/bin/true")


def case_exec_parent():
    r = run_probe(
        "exec-parent",
        ["exec-parent.yaml"],
        [
            ex("from-bash", ["/usr/bin/bash", "-c", "/usr/bin/id -u; echo rc=$?"]),
            ex("from-dash", ["/usr/bin/dash", "-c", "/usr/bin/id -u; echo rc=$?"]),
            ex("from-python", ID),
        ],
    )
    expect_exit_ok(r)
    expect_child_blocked(r, "from-bash", "rc=0")
    expect_allowed(r, "from-dash", "rc=0")
    expect_allowed(r, "from-python", "0")
    expect_events(r, 1, action="block", op="exec", path="/usr/bin/id", rule="no-id-from-bash")


def case_exec_audit():
    r = run_probe("exec-audit", ["exec-audit.yaml"], [ex("id", ID)])
    expect_exit_ok(r)
    expect_allowed(r, "id", "0")
    expect_events(r, 1, action="audit", op="exec", path="/usr/bin/id", rule="audit-id")
    expect_events(r, 1, path="/usr/bin/id")


def case_exec_dryrun():
    r = run_probe("exec-dryrun", ["exec-dryrun.yaml"], [ex("id", ID), ex("id-again", ID)])
    expect_exit_ok(r)
    expect_allowed(r, "id", "0")
    expect_allowed(r, "id-again", "0")
    expect_events(r, 2, action="audit", op="exec", path="/usr/bin/id", rule="block-id")
    expect_no_events(r, action="block")


def hardlink():
    if HARDLINK_ERROR:
        raise CaseFailure(HARDLINK_ERROR)
    return os.path.join(OUT, "scratch", "id")


def case_exec_bypass():
    hl = hardlink()
    r = run_probe(
        "exec-bypass",
        ["exec-bypass.yaml"],
        [
            ex("symlink", [f"{SCRATCH}/link/id-link", "-u"]),
            ex("relative", ["./id", "-u"], cwd="/usr/bin"),
            ex("dotdot", ["../usr/bin/id", "-u"], cwd="/tmp"),
            ex("sh-c", ["/bin/sh", "-c", "id -u; echo rc=$?"]),
            ex("shebang", [f"{SCRATCH}/script.sh"]),
            ex("interpreter", ["/bin/bash", "-c", "echo bash-ran"]),
            ex("copy", [f"{SCRATCH}/copy/id", "-u"]),
            ex("hardlink", [hl, "-u"]),
        ],
    )
    expect_exit_ok(r)
    for s in ("symlink", "relative", "dotdot", "shebang", "interpreter"):
        expect_blocked(r, s)
    expect_child_blocked(r, "sh-c", "rc=0")
    # docs/concepts.md: a copy and a hard link are other names; a path rule does not
    # cover them (block writable directories, use an allow-list or `comms`).
    expect_allowed(r, "copy", "0")
    expect_allowed(r, "hardlink", "0")
    # symlink, relative and dotdot: one event each; `sh -c id` searches PATH and
    # tries every directory where `id` resolves (/usr/bin and, through the /bin
    # symlink, /bin again), so its count depends on PATH: at least one more.
    expect_events(r, ">=4", action="block", op="exec", path="/usr/bin/id", rule="block-id")
    expect_no_events(r, action="allow", op="exec", path="/usr/bin/id")
    expect_events(r, 2, action="block", op="exec", path="/usr/bin/bash", rule="block-bash")


def case_exec_bypass_comm():
    hl = hardlink()
    r = run_probe(
        "exec-bypass-comm",
        ["exec-bypass-comm.yaml"],
        [
            ex("copy", [f"{SCRATCH}/copy/id", "-u"]),
            ex("hardlink", [hl, "-u"]),
            ex("renamed-copy", [f"{SCRATCH}/copy/myid", "-u"]),
        ],
    )
    expect_exit_ok(r)
    expect_blocked(r, "copy")
    expect_blocked(r, "hardlink")
    # docs/concepts.md: comm comes from the file name, so a renamed copy escapes it.
    expect_allowed(r, "renamed-copy", "0")
    expect_events(r, 1, action="block", op="exec", path=f"{SCRATCH}/copy/id", rule="block-id-comm")
    expect_events(r, 1, action="block", op="exec", path=hl, rule="block-id-comm")


def case_file_read_block():
    f = f"{SCRATCH}/files"
    r = run_probe(
        "file-read-block",
        ["file-read-block.yaml"],
        [
            fs("secret", "read", f"{f}/secret.txt"),
            fs("other", "read", f"{f}/other.txt"),
            fs("tree", "read", f"{f}/secrets/a.txt"),
            fs("tree-nested", "read", f"{f}/secrets/sub/b.txt"),
            fs("secret-write", "write", f"{f}/secret.txt"),
            fs("via-symlink", "read", f"{f}/link-to-secret"),
        ],
    )
    expect_exit_ok(r)
    for s in ("secret", "tree", "tree-nested", "via-symlink"):
        expect_blocked(r, s)
    expect_allowed(r, "other")
    expect_allowed(r, "secret-write")
    expect_events(r, 2, action="block", op="read", path=f"{f}/secret.txt", rule="block-secret-file")
    expect_events(r, 1, action="block", op="read", path=f"{f}/secrets/sub/b.txt", rule="block-secret-tree")
    expect_no_events(r, path=f"{f}/other.txt")


def case_file_write_block():
    f = f"{SCRATCH}/files"
    ro, bind = f"{f}/ro", f"{f}/bind"
    fds = [os.open(f"{ro}/t.txt", os.O_WRONLY), os.open(f"{f}/rw-ftrunc.txt", os.O_WRONLY), open_deep_for_write()]
    try:
        r = run_probe(
            "file-write-block",
            ["file-write-block.yaml"],
            [
                fs("read", "read", f"{ro}/r.txt"),
                fs("read-nested", "read", f"{ro}/sub/s.txt"),
                fs("write", "write", f"{ro}/r.txt"),
                fs("open-trunc", "trunc", f"{ro}/r.txt"),
                fs("truncate", "truncate", f"{ro}/sub/s.txt"),
                ftrunc("ftruncate", fds[0]),
                fs("create", "create", f"{ro}/new.txt"),
                fs("create-nested", "create", f"{ro}/sub/new.txt"),
                fs("mkfifo", "mkfifo", f"{ro}/fifo"),
                fs("truncate-symlink", "truncate", f"{f}/link-to-ro"),
                fs("truncate-relative", "truncate", "sub/s.txt", cwd=ro),
                fs("truncate-dotdot", "truncate", "../ro/r.txt", cwd=f"{f}/secrets"),
                fs("create-relative", "create", "rel-new.txt", cwd=f"{ro}/sub"),
                fs("write-bind", "write", f"{bind}/r.txt"),
                fs("truncate-bind", "truncate", f"{bind}/r.txt"),
                fs("create-bind", "create", f"{bind}/bind-new.txt"),
                fs("create-outside", "create", f"{f}/rw-new.txt"),
                fs("truncate-outside", "truncate", f"{f}/rw-trunc.txt"),
                ftrunc("ftruncate-outside", fds[1]),
                ftrunc("ftruncate-too-long", fds[2]),
                fs("read-after", "read", f"{ro}/r.txt"),
            ],
            pass_fds=fds,
        )
    finally:
        for fd in fds:
            os.close(fd)
    expect_exit_ok(r)
    for s in ("read", "read-nested", "create-outside", "truncate-outside", "ftruncate-outside", "read-after"):
        expect_allowed(r, s)
    for s in (
        "write", "open-trunc", "truncate", "ftruncate", "create", "create-nested", "mkfifo", "truncate-symlink",
        "truncate-relative", "truncate-dotdot", "create-relative", "write-bind", "truncate-bind", "create-bind",
    ):
        expect_blocked(r, s)
    # Blocked writes, truncations and creates changed nothing and left nothing behind.
    expect_content(f"{ro}/r.txt", "r\n", "the blocked writes changed it")
    expect_content(f"{ro}/sub/s.txt", "s\n", "the blocked truncations changed it")
    expect_content(f"{ro}/t.txt", "t\n", "the blocked ftruncate changed it")
    for p in ("new.txt", "sub/new.txt", "fifo", "sub/rel-new.txt", "bind-new.txt"):
        expect_missing(f"{ro}/{p}", "a blocked create left a file")
    # Outside the tree the same operations work.
    expect_size(f"{f}/rw-trunc.txt", 0, "truncate outside the tree")
    expect_size(f"{f}/rw-ftrunc.txt", 0, "ftruncate outside the tree")
    if not os.path.exists(f"{f}/rw-new.txt"):
        raise CaseFailure("create outside the tree did not create the file")
    # Every block is one event with the resolved path: a symlink, a relative path and
    # `..` are the real file; the bind mount is its own path (as bpf_d_path gives it
    # for the open of write-bind, so truncate-bind's walk agrees with it).
    expect_events(r, 4, action="block", op="write", path=f"{ro}/r.txt", rule="no-write")
    expect_events(r, 2, action="block", op="write", path=f"{ro}/sub/s.txt", rule="no-write")
    expect_events(r, 1, action="block", op="write", path=f"{ro}/t.txt", rule="no-write")
    for p in ("new.txt", "sub/new.txt", "fifo", "sub/rel-new.txt"):
        expect_events(r, 1, action="block", op="write", path=f"{ro}/{p}", rule="no-write")
    expect_events(r, 2, action="block", op="write", path=f"{bind}/r.txt", rule="no-write-bind")
    expect_events(r, 1, action="block", op="write", path=f"{bind}/bind-new.txt", rule="no-write-bind")
    expect_events(r, 14, action="block")
    expect_no_events(r, op="read")
    # A path longer than PATH_MAX cannot be resolved: the default (Allow) decides,
    # and the event says so rather than staying silent.
    expect_allowed(r, "ftruncate-too-long")
    unres = unresolved_events(r, "write")
    if len(unres) != 1 or str(unres[0].get("action", "")).lower() != "allow":
        raise CaseFailure(f"expected one unresolved allow event for the too-long path, got {unres}; {describe_events(r)}")


def case_file_names_block():
    """Names made or removed in a Block Write tree: unlink, rmdir, mkdir, symlink, both
    names of a rename and of a hard link. Each is a WRITE of its path."""
    f = f"{SCRATCH}/files"
    ro, rw = f"{f}/ro/names", f"{f}/rw-names"
    for d in (f"{ro}/emptydir", f"{rw}/emptydir"):
        os.makedirs(d, exist_ok=True)
    for p in ("victim.txt", "old.txt", "src.txt"):
        with open(f"{ro}/{p}", "w", encoding="utf-8") as fh:
            fh.write("x\n")
    for p in ("out.txt", "in.txt", "gone.txt", "mv.txt"):
        with open(f"{rw}/{p}", "w", encoding="utf-8") as fh:
            fh.write("x\n")

    r = run_probe(
        "file-names-block",
        ["file-write-block.yaml"],
        [
            fs("unlink", "unlink", f"{ro}/victim.txt"),
            fs("rmdir", "rmdir", f"{ro}/emptydir"),
            fs("mkdir", "mkdir", f"{ro}/newdir"),
            fs("symlink", "symlink", f"{ro}/sym", target="/etc/hostname"),
            fs("rename-out", "rename", f"{ro}/old.txt", to=f"{rw}/stolen.txt"),
            fs("rename-in", "rename", f"{rw}/in.txt", to=f"{ro}/planted.txt"),
            fs("link-out", "link", f"{ro}/src.txt", to=f"{rw}/alias.txt"),
            fs("link-in", "link", f"{rw}/out.txt", to=f"{ro}/alias.txt"),
            fs("unlink-outside", "unlink", f"{rw}/gone.txt"),
            fs("rmdir-outside", "rmdir", f"{rw}/emptydir"),
            fs("mkdir-outside", "mkdir", f"{rw}/newdir"),
            fs("symlink-outside", "symlink", f"{rw}/sym", target="/etc/hostname"),
            fs("rename-outside", "rename", f"{rw}/mv.txt", to=f"{rw}/moved.txt"),
            fs("link-outside", "link", f"{rw}/out.txt", to=f"{rw}/out-alias.txt"),
        ],
    )
    expect_exit_ok(r)
    blocked = ("unlink", "rmdir", "mkdir", "symlink", "rename-out", "rename-in", "link-out", "link-in")
    for s in blocked:
        expect_blocked(r, s)
    for s in ("unlink", "rmdir", "mkdir", "symlink", "rename", "link"):
        expect_allowed(r, f"{s}-outside")
    # The blocked operations changed nothing.
    for p in (f"{ro}/victim.txt", f"{ro}/emptydir", f"{ro}/old.txt", f"{rw}/in.txt", f"{ro}/src.txt"):
        expect_exists(p, "a blocked operation removed it")
    for p in (f"{ro}/newdir", f"{ro}/sym", f"{rw}/stolen.txt", f"{ro}/planted.txt", f"{rw}/alias.txt", f"{ro}/alias.txt"):
        expect_missing(p, "a blocked operation made a name")
    if os.stat(f"{ro}/src.txt").st_nlink != 1:
        raise CaseFailure("the blocked hard link added a link to the protected file")
    # Outside the tree they all worked.
    for p in (f"{rw}/gone.txt", f"{rw}/emptydir", f"{rw}/mv.txt"):
        expect_missing(p, "an allowed removal outside the tree did not happen")
    for p in (f"{rw}/newdir", f"{rw}/sym", f"{rw}/moved.txt", f"{rw}/out-alias.txt"):
        expect_exists(p, "an allowed operation outside the tree did not make it")
    # One event per blocked operation, naming the protected path: a rename or link out
    # of the tree stops at its old name, one into the tree at its new name.
    for p in ("victim.txt", "emptydir", "newdir", "sym", "old.txt", "planted.txt", "src.txt", "alias.txt"):
        expect_events(r, 1, action="block", op="write", path=f"{ro}/{p}", rule="no-write")
    expect_events(r, len(blocked), action="block")


def case_file_moves_block():
    """Renames and hard links that would expose protected paths: a rename of a directory
    with Block rules below it (Write under data/, Read under secret/) or above them,
    of a directory a suffix glob's path runs through (`/**/vault/keep.txt`), of a
    directory below a glob's wildcard directory (`apps/*/conf/app.yaml`), and a rename
    or link of a file that may not be read to where it may. Renames that expose
    nothing work: inside the read-protected tree, a directory moved into it, a
    directory with no rule below it."""
    m = f"{SCRATCH}/files/moves"
    t = f"{m}/tree"
    for d in (f"{t}/data/sub", f"{t}/secret/sub", f"{t}/inbox", f"{t}/pub", f"{m}/free", f"{m}/incoming",
              f"{m}/home/vault", f"{m}/apps/web/conf", f"{m}/apps/web/other/deep"):
        os.makedirs(d, exist_ok=True)
    for p in (f"{t}/data/sub/d.txt", f"{t}/secret/key", f"{t}/secret/other", f"{t}/secret/sub/s.key", f"{t}/pub/p.txt",
              f"{m}/free/f.txt", f"{m}/home/vault/keep.txt", f"{m}/apps/web/conf/app.yaml", f"{m}/decoy"):
        with open(p, "w", encoding="utf-8") as fh:
            fh.write("decoy\n" if p.endswith("/decoy") else "x\n")

    r = run_probe(
        "file-moves-block",
        ["file-moves-block.yaml"],
        [
            fs("rename-data", "rename", f"{t}/data", to=f"{t}/data-free"),
            fs("rename-tree", "rename", t, to=f"{m}/tree-moved"),
            fs("rename-secret", "rename", f"{t}/secret", to=f"{m}/secret-out"),
            fs("rename-key", "rename", f"{t}/secret/key", to=f"{m}/key-out"),
            fs("link-key", "link", f"{t}/secret/key", to=f"{m}/key-link"),
            fs("exchange-key", "exchange", f"{t}/secret/key", to=f"{m}/decoy"),
            fs("rename-data-sub", "rename", f"{t}/data/sub", to=f"{m}/sub-out"),
            fs("rename-vault", "rename", f"{m}/home/vault", to=f"{m}/home/vault-old"),
            fs("rename-conf", "rename", f"{m}/apps/web/conf", to=f"{m}/apps/web/conf-old"),
            fs("rename-web", "rename", f"{m}/apps/web", to=f"{m}/web-out"),
            fs("rename-web-other", "rename", f"{m}/apps/web/other", to=f"{m}/apps/web/other2"),
            fs("rename-sub-to-inbox", "rename", f"{t}/secret/sub", to=f"{t}/inbox/sub"),
            fs("rename-sub-inside", "rename", f"{t}/secret/sub", to=f"{t}/secret/sub2"),
            fs("rename-deeper", "rename", f"{m}/apps/web/other/deep", to=f"{m}/apps/web/other/deep2"),
            fs("rename-pub", "rename", f"{t}/pub", to=f"{t}/pub-moved"),
            fs("rename-free", "rename", f"{m}/free", to=f"{m}/free-moved"),
            fs("link-pub", "link", f"{t}/pub-moved/p.txt", to=f"{m}/p-link"),
            fs("rename-inside-secret", "rename", f"{t}/secret/other", to=f"{t}/secret/other.new"),
            fs("rename-into-secret", "rename", f"{m}/incoming", to=f"{t}/secret/incoming"),
            fs("rename-home", "rename", f"{m}/home", to=f"{m}/home-moved"),
        ],
    )
    expect_exit_ok(r)
    blocked = ("rename-data", "rename-tree", "rename-secret", "rename-key", "link-key", "exchange-key", "rename-data-sub",
               "rename-vault", "rename-conf", "rename-web", "rename-web-other", "rename-sub-to-inbox")
    for s in blocked:
        expect_blocked(r, s)
    for s in ("rename-pub", "rename-free", "link-pub", "rename-inside-secret", "rename-into-secret", "rename-home",
              "rename-sub-inside", "rename-deeper"):
        expect_allowed(r, s)
    for p in (f"{t}/data/sub/d.txt", f"{t}/secret/key", f"{m}/apps/web/conf/app.yaml", f"{m}/apps/web/other"):
        expect_exists(p, "a blocked rename moved it")
    if os.stat(f"{t}/secret/key").st_nlink != 1:
        raise CaseFailure("the blocked hard link added a link to the unreadable file")
    for p in (f"{t}/data-free", f"{m}/tree-moved", f"{m}/secret-out", f"{m}/key-out", f"{m}/key-link", f"{m}/sub-out",
              f"{m}/home/vault-old", f"{m}/apps/web/conf-old", f"{m}/web-out", f"{m}/apps/web/other2"):
        expect_missing(p, "a blocked rename or link made it")
    for p in (f"{t}/pub-moved/p.txt", f"{m}/free-moved/f.txt", f"{m}/p-link", f"{t}/secret/other.new",
              f"{t}/secret/incoming", f"{m}/home-moved/vault/keep.txt", f"{t}/secret/sub2/s.key",
              f"{m}/apps/web/other/deep2"):
        expect_exists(p, "an allowed rename or link did not happen")
    # One event per refusal. A directory at or above a rule's directory names that
    # rule (Write first); a file that may not be read, the Read rule on its path.
    expect_events(r, 1, action="block", op="write", path=f"{t}/data", rule="no-write-data", moved=True, below=True)
    expect_events(r, 1, action="block", op="write", path=t, rule="no-write-data", moved=True, below=True)
    expect_events(r, 1, action="block", op="read", path=f"{t}/secret", rule="no-read-secret", moved=True, below=True)
    # Its rename, its hard link, and its exchange with a file outside the tree.
    expect_events(r, 3, action="block", op="read", path=f"{t}/secret/key", rule="no-read-secret", moved=True, below=False)
    if file_text(f"{m}/decoy") != "decoy\n" or file_text(f"{t}/secret/key") != "x\n":
        raise CaseFailure("the blocked exchange swapped the names")
    # A directory whose new name another Read rule decides, one that does not cover
    # what is below it (inbox/ is not recursive).
    expect_events(r, 1, action="block", op="read", path=f"{t}/secret/sub", rule="no-read-secret", moved=True, below=False)
    # Below the rule's directory a rename is a WRITE of its name, as before.
    expect_events(r, 1, action="block", op="write", path=f"{t}/data/sub", rule="no-write-data", moved=False)
    # A directory the suffix glob runs through; directories below the wildcard
    # directory's literal prefix (all of them: `other` holds no match, a documented
    # superset, as deep as a match's directories: other/deep is not). The new name is
    # decided first: a directory renamed within apps/ is refused at its new name, one
    # moved out of it at its old name.
    expect_events(r, 1, action="block", op="write", path=f"{m}/home/vault", rule="no-write-vault-key", below=True)
    for p in ("apps/web/conf-old", "apps/web", "apps/web/other2"):
        expect_events(r, 1, action="block", op="write", path=f"{m}/{p}", rule="no-write-app-conf", below=True)
    expect_events(r, len(blocked), action="block")
    expect_events(r, len(blocked))


def case_file_fd_passing():
    """Descriptors opened outside the cgroup and handed to a process in it, over a
    UNIX socket (SCM_RIGHTS) or with pidfd_getfd(2), are decided as opens of their
    files by their open mode: a Block refuses the descriptor, an Audit reports it."""
    f = f"{SCRATCH}/files"
    with open(f"{f}/watched-fd.txt", "w", encoding="utf-8") as fh:
        fh.write("w\n")
    rd, wr = os.pipe()
    fds = {
        "secret": os.open(f"{f}/secret.txt", os.O_RDONLY),
        "ro-write": os.open(f"{f}/ro/t.txt", os.O_WRONLY),
        "ro-read": os.open(f"{f}/ro/r.txt", os.O_RDONLY),
        "ro-rdwr": os.open(f"{f}/ro/r.txt", os.O_RDWR),
        "other-rdwr": os.open(f"{f}/rw-trunc.txt", os.O_RDWR),
        "watched": os.open(f"{f}/watched-fd.txt", os.O_RDONLY),
        "pipe": wr,
    }
    sock_path = f"{f}/fd-passing.sock"
    if os.path.exists(sock_path):
        os.remove(sock_path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(8)
    srv.settimeout(1.0)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            with c:
                name = c.makefile("r").readline().strip()
                socket.send_fds(c, [b"x"], [fds[name]])

    th = threading.Thread(target=serve, daemon=True)
    th.start()

    def recv(name, use):
        return {"name": f"recv-{name}", "kind": "recv-fd", "sock": sock_path, "fd_name": name, "use": use}

    def getfd(name, use):
        return {"name": f"getfd-{name}", "kind": "getfd", "pid": os.getpid(), "fd": fds[name], "use": use}

    try:
        r = run_probe(
            "file-fd-passing",
            ["file-fd-passing.yaml"],
            [
                recv("secret", "read"),
                recv("ro-write", "write"),
                recv("ro-read", "read"),
                recv("ro-rdwr", "read"),
                recv("other-rdwr", "write"),
                recv("watched", "read"),
                recv("pipe", "write"),
                getfd("secret", "read"),
                getfd("ro-write", "write"),
                getfd("ro-read", "read"),
                # Opens by name in the cgroup, as before.
                fs("open-secret", "read", f"{f}/secret.txt"),
                fs("open-ro-read", "read", f"{f}/ro/r.txt"),
            ],
        )
    finally:
        stop.set()
        th.join(timeout=10)
        srv.close()
        os.remove(sock_path)
        for fd in (*fds.values(), rd):
            os.close(fd)
    expect_exit_ok(r)
    for s in ("recv-secret", "recv-ro-write", "recv-ro-rdwr", "getfd-secret", "getfd-ro-write", "open-secret"):
        expect_blocked(r, s)
    for s in ("recv-ro-read", "recv-other-rdwr", "recv-watched", "recv-pipe", "getfd-ro-read", "open-ro-read"):
        expect_allowed(r, s)
    expect_content(f"{f}/ro/t.txt", "t\n", "a refused descriptor wrote")
    # One event per refused or audited descriptor, flagged as received; the open
    # by name is not.
    for op, path, rule, n in (("read", f"{f}/secret.txt", "no-read-secret", 2),
                              ("write", f"{f}/ro/t.txt", "no-write-ro", 2),
                              ("write", f"{f}/ro/r.txt", "no-write-ro", 1)):
        expect_events(r, n, action="block", op=op, path=path, rule=rule, received=True)
    expect_events(r, 1, action="audit", op="read", path=f"{f}/watched-fd.txt", rule="audit-read-watched",
                  received=True)
    expect_events(r, 1, action="block", op="read", path=f"{f}/secret.txt", received=False)
    expect_events(r, 7)


def case_file_overlay():
    """Opens of files on overlayfs are decided once, by the path the caller opened:
    not again when overlayfs opens the file below on its layer (from Linux 6.7 a
    backing file on the layer's private mount), also for a copy-up."""
    o = f"{SCRATCH}/ovl"
    os.makedirs(o, exist_ok=True)
    # The layers on a tmpfs of their own: overlayfs refuses an overlay (the guest's
    # /tmp) as its upper layer.
    sh(f"mount -t tmpfs polc-ovl {o}")
    try:
        for d in ("lower", "upper", "work", "merged"):
            os.makedirs(f"{o}/{d}")
        for name in ("ovl-audit.txt", "ovl-secret.txt", "ovl-ro.txt", "plain.txt"):
            with open(f"{o}/lower/{name}", "w", encoding="utf-8") as fh:
                fh.write(f"{name}\n")
        sh(f"mount -t overlay polc-ovl -o lowerdir={o}/lower,upperdir={o}/upper,workdir={o}/work {o}/merged")
        m = f"{o}/merged"
        r = run_probe(
            "file-overlay",
            ["file-overlay.yaml"],
            [
                fs("read-audited", "read", f"{m}/ovl-audit.txt"),
                fs("read-secret", "read", f"{m}/ovl-secret.txt"),
                fs("write-ro", "write", f"{m}/ovl-ro.txt"),
                fs("write-plain", "write", f"{m}/plain.txt"),  # a copy-up to the upper layer
                # A copy-up reads the lower file, named "/ovl-audit.txt" on its layer.
                fs("write-audited", "write", f"{m}/ovl-audit.txt"),
                fs("read-plain", "read", f"{m}/plain.txt"),
                fs("read-audited-again", "read", f"{m}/ovl-audit.txt"),
            ],
        )
        copied_up = os.path.exists(f"{o}/upper/plain.txt")
        ro_up = os.path.exists(f"{o}/upper/ovl-ro.txt")
    finally:
        sh(f"umount {o}/merged", check=False)
        sh(f"umount {o}", check=False)
    expect_exit_ok(r)
    for s in ("read-audited", "write-plain", "write-audited", "read-plain", "read-audited-again"):
        expect_allowed(r, s)
    for s in ("read-secret", "write-ro"):
        expect_blocked(r, s)
    if not copied_up:
        raise CaseFailure("the write of plain.txt did not copy it up to the upper layer")
    if ro_up:
        raise CaseFailure("the refused write of ovl-ro.txt copied it up")
    expect_events(r, 2, action="audit", op="read", path=f"{m}/ovl-audit.txt", rule="audit-ovl-read")
    expect_events(r, 1, action="block", op="read", path=f"{m}/ovl-secret.txt", rule="no-read-ovl-secret")
    expect_events(r, 1, action="block", op="write", path=f"{m}/ovl-ro.txt", rule="no-write-ovl-ro")
    expect_events(r, 4)


def case_file_write_audit():
    a = f"{SCRATCH}/files/audited"
    fd = os.open(f"{a}/b.txt", os.O_WRONLY)
    try:
        r = run_probe(
            "file-write-audit",
            ["file-write-audit.yaml"],
            [
                fs("truncate", "truncate", f"{a}/a.txt"),
                ftrunc("ftruncate", fd),
                fs("create", "create", f"{a}/new.txt"),
                fs("open-trunc", "trunc", f"{a}/c.txt"),
                fs("other", "truncate", f"{SCRATCH}/files/rw-trunc.txt"),
            ],
            pass_fds=[fd],
        )
    finally:
        os.close(fd)
    expect_exit_ok(r)
    for s in ("truncate", "ftruncate", "create", "open-trunc", "other"):
        expect_allowed(r, s)
    for p in ("a.txt", "b.txt", "c.txt", "new.txt"):
        expect_size(f"{a}/{p}", 0, "an audited write")
        # One event per operation: a create is decided at path_mknod, not again at
        # file_open; an O_TRUNC open at file_open, not again at path_truncate.
        expect_events(r, 1, action="audit", op="write", path=f"{a}/{p}", rule="audit-writes")
    expect_events(r, 4)


def case_file_write_dryrun():
    d = f"{SCRATCH}/files/dry"
    fd = os.open(f"{d}/e.txt", os.O_WRONLY)
    try:
        r = run_probe(
            "file-write-dryrun",
            ["file-write-dryrun.yaml"],
            [
                fs("truncate", "truncate", f"{d}/d.txt"),
                ftrunc("ftruncate", fd),
                fs("create", "create", f"{d}/new.txt"),
                fs("mkfifo", "mkfifo", f"{d}/fifo"),
            ],
            pass_fds=[fd],
        )
    finally:
        os.close(fd)
    expect_exit_ok(r)
    for s in ("truncate", "ftruncate", "create", "mkfifo"):
        expect_allowed(r, s)
    expect_size(f"{d}/d.txt", 0, "a dry-run truncate")
    expect_size(f"{d}/e.txt", 0, "a dry-run ftruncate")
    for p in ("new.txt", "fifo"):
        if not os.path.lexists(f"{d}/{p}"):
            raise CaseFailure(f"a dry-run create did not create {d}/{p}")
    for p in ("d.txt", "e.txt", "new.txt", "fifo"):
        expect_events(r, 1, action="audit", op="write", path=f"{d}/{p}", rule="no-write")
    expect_no_events(r, action="block")
    expect_events(r, 4)


def case_file_audit():
    w = f"{SCRATCH}/files/watched.txt"
    r = run_probe("file-audit", ["file-audit.yaml"], [fs("read", "read", w), fs("other", "read", f"{SCRATCH}/files/other.txt")])
    expect_exit_ok(r)
    expect_allowed(r, "read")
    expect_allowed(r, "other")
    expect_events(r, 1, action="audit", op="read", path=w, rule="audit-watched")
    expect_events(r, 1, path=w)


def case_file_open_cache():
    """The open cache: a silent Allow is remembered per inode (its entry is looked up
    through an O_PATH descriptor), for each op it was decided for; an inode with two
    names and an audited open are not remembered. A rename of a directory above a
    remembered file, and a move of the mount a remembered file is on, give the file a
    path that a Block rule names: the next open is refused, not taken from the
    cache."""
    c = f"{SCRATCH}/files/cache"
    mp = f"{c}/mp"
    for d in (f"{c}/pub/dir", f"{c}/secret", mp):
        os.makedirs(d, exist_ok=True)
    for p in (f"{c}/pub/dir/f.txt", f"{c}/pub/w.txt", f"{c}/pub/two.txt", f"{c}/watched.txt"):
        with open(p, "w", encoding="utf-8") as fh:
            fh.write("x\n")
    os.link(f"{c}/pub/two.txt", f"{c}/pub/two-link.txt")
    # A private tmpfs whose child mount can be moved (mount --move refuses to move a
    # mount whose parent is shared).
    sh(f"mount -t tmpfs polc-cache {mp} && mount --make-private {mp}")
    try:
        for d in ("a", "b", "secret/a"):
            os.makedirs(f"{mp}/{d}", exist_ok=True)
        for d in ("a", "b"):
            sh(f"mount -t tmpfs polc-cache-{d} {mp}/{d}")
            with open(f"{mp}/{d}/m.txt", "w", encoding="utf-8") as fh:
                fh.write("m\n")
        r = run_probe(
            "file-open-cache",
            ["file-open-cache.yaml"],
            [
                fs("open-1", "read", f"{c}/pub/dir/f.txt"),
                fs("cached-1", "cached", f"{c}/pub/dir/f.txt"),
                {"name": "stats-1", "kind": "stats"},
                fs("open-2", "read", f"{c}/pub/dir/f.txt"),
                {"name": "stats-2", "kind": "stats"},
                fs("move-dir", "rename", f"{c}/pub/dir", to=f"{c}/secret/dir"),
                fs("open-moved", "read", f"{c}/secret/dir/f.txt"),
                fs("write-1", "write", f"{c}/pub/w.txt"),
                fs("cached-w", "cached", f"{c}/pub/w.txt"),
                fs("read-w", "read", f"{c}/pub/w.txt"),
                fs("cached-rw", "cached", f"{c}/pub/w.txt"),
                fs("two-open", "read", f"{c}/pub/two.txt"),
                fs("two-cached", "cached", f"{c}/pub/two.txt"),
                fs("watched-1", "read", f"{c}/watched.txt"),
                fs("watched-2", "read", f"{c}/watched.txt"),
                fs("watched-3", "read", f"{c}/watched.txt"),
                fs("watched-cached", "cached", f"{c}/watched.txt"),
                fs("mnt-open", "read", f"{mp}/a/m.txt"),
                fs("mnt-cached", "cached", f"{mp}/a/m.txt"),
                fs("mnt-move", "move", f"{mp}/a", to=f"{mp}/secret/a"),
                fs("mnt-open-moved", "read", f"{mp}/secret/a/m.txt"),
                # Detaching a mount changes the path of what is on it (to "/m.txt",
                # from the mount's root) and writes mount_lock, not rename_lock.
                fs("det-open", "read", f"{mp}/b/m.txt"),
                fs("det-cached", "cached", f"{mp}/b/m.txt"),
                fs("det-read", "read-detached", f"{mp}/b", file="m.txt"),
            ],
        )
    finally:
        sh(f"umount -R {mp}", check=False)
    expect_exit_ok(r)
    for s in ("open-1", "open-2", "move-dir", "write-1", "read-w", "two-open", "watched-1", "watched-2", "watched-3",
              "mnt-open", "mnt-move", "det-open"):
        expect_allowed(r, s)
    expect_blocked(r, "open-moved")
    expect_blocked(r, "mnt-open-moved")
    expect_blocked(r, "det-read")
    read, write = 1 << 1, 1 << 2
    want = {"cached-1": read, "cached-w": write, "cached-rw": read | write, "mnt-cached": read,
            "two-cached": -1, "watched-cached": -1, "det-cached": read}
    got = {k: r.step(k).get("out") for k in want}
    if got != want:
        raise CaseFailure(f"open cache entries (ops mask, -1: none): expected {want}, got {got}")
    # The second open was let through from the cache: one hit more (the python of the
    # probe opens nothing between the two counter readings).
    s1, s2 = r.step("stats-1").get("out") or {}, r.step("stats-2").get("out") or {}
    if s2.get("hits", 0) - s1.get("hits", 0) != 1 or s2.get("stale") != s1.get("stale"):
        raise CaseFailure(f"the second open of f.txt was not one cache hit: counters {s1} then {s2}")
    expect_events(r, 1, action="block", op="read", path=f"{c}/secret/dir/f.txt", rule="no-read-secret")
    expect_events(r, 1, action="block", op="read", path=f"{mp}/secret/a/m.txt", rule="no-read-secret")
    expect_events(r, 3, action="audit", op="read", path=f"{c}/watched.txt", rule="audit-watched")
    expect_events(r, 1, action="block", op="read", path="/m.txt", rule="no-read-detached")
    expect_events(r, 6)


def case_net_egress_block():
    r = run_probe(
        "net-egress-block",
        ["net-egress-block.yaml"],
        [
            conn("blocked-port", "127.0.0.1", 18081),
            conn("other-port", "127.0.0.1", 18080),
            conn("blocked-addr", "127.0.0.2", 18080),
            conn("blocked-addr-other-port", "127.0.0.2", 18082),
        ],
    )
    expect_exit_ok(r)
    expect_blocked(r, "blocked-port")
    expect_allowed(r, "other-port")
    expect_blocked(r, "blocked-addr")
    expect_blocked(r, "blocked-addr-other-port")
    expect_events(r, 1, action="block", op="connect", port=18081, rule="block-port")
    expect_events(r, 2, action="block", op="connect", rule="block-addr")


def case_net_sendto_block():
    """Sends that carry their own destination are judged like connect: unconnected
    UDP (IPv4 and IPv4-mapped IPv6), a connected UDP socket sending elsewhere, and TCP
    Fast Open, which connects without socket_connect."""
    udp = lambda name, host, port: {"name": name, "kind": "udp", "host": host, "port": port}  # noqa: E731
    r = run_probe(
        "net-sendto-block",
        ["net-sendto-block.yaml"],
        [
            udp("udp-blocked-port", "127.0.0.1", 18083),
            udp("udp-other-port", "127.0.0.1", 18080),
            udp("udp-tcp-only-port", "127.0.0.1", 18081),
            udp("udp-blocked-addr", "127.0.0.2", 18080),
            udp("udp6-mapped-blocked", "::ffff:127.0.0.1", 18083),
            {"name": "udp-over-connected", "kind": "udp-over", "host": "127.0.0.1", "port": 18083, "via": 18080},
            {"name": "udp-connected-allowed", "kind": "udp-over", "host": "127.0.0.1", "port": 18080, "via": 18080},
            {"name": "fastopen-blocked", "kind": "fastopen", "host": "127.0.0.1", "port": 18081},
            {"name": "fastopen-allowed", "kind": "fastopen", "host": "127.0.0.1", "port": 18080},
        ],
    )
    expect_exit_ok(r)
    expect_blocked(r, "udp-blocked-port")
    expect_allowed(r, "udp-other-port")
    expect_allowed(r, "udp-tcp-only-port")
    expect_blocked(r, "udp-blocked-addr")
    expect_blocked(r, "udp6-mapped-blocked")
    expect_blocked(r, "udp-over-connected")
    expect_allowed(r, "udp-connected-allowed")
    expect_blocked(r, "fastopen-blocked")
    expect_allowed(r, "fastopen-allowed")
    expect_events(r, 3, action="block", op="connect", port=18083, rule="block-udp-port")
    expect_events(r, 1, action="block", op="connect", port=18081, rule="block-tcp-port")
    expect_events(r, 1, action="block", op="connect", rule="block-addr")
    expect_events(r, 5)


def case_net_egress_audit():
    r = run_probe(
        "net-egress-audit",
        ["net-egress-audit.yaml"],
        [conn("audited", "127.0.0.1", 18082), conn("other", "127.0.0.1", 18080)],
    )
    expect_exit_ok(r)
    expect_allowed(r, "audited")
    expect_allowed(r, "other")
    expect_events(r, 1, action="audit", op="connect", port=18082, rule="audit-port")
    expect_events(r, 1)


def run_beside(case, policy, inside, outside):
    """Run `inside` (probe steps) under `policy` in its cgroup; once the policy is
    bound (the probe is ready and waits), call `outside()` here, outside the cgroup,
    then let the probe go on. Returns (Run, what outside() returned)."""
    ready, go = f"{SCRATCH}/{case}-ready", f"{SCRATCH}/{case}-go"
    for m in (ready, go):
        if os.path.exists(m):
            os.remove(m)
    steps = [{"name": "ready", "kind": "touch", "path": ready}, {"name": "wait", "kind": "wait", "path": go}, *inside]
    resfile = os.path.join(OUT, f"probe-{case}.jsonl")
    if os.path.exists(resfile):
        os.remove(resfile)
    cmd = polc_exec_cmd([policy], ["/usr/bin/python3", PROBE, resfile, json.dumps(steps)])
    log(f"--- {case}: {' '.join(cmd[:-1])} '<steps>'")

    def probe_done():
        try:
            with open(resfile, encoding="utf-8") as f:
                return sum(1 for _ in f) >= len(steps)
        except OSError:
            return False

    got = {}
    th = threading.Thread(target=lambda: got.update(r=run_bounded(cmd, done=probe_done)), daemon=True)
    t0 = time.monotonic()
    th.start()
    while not os.path.exists(ready):
        if not th.is_alive() or time.monotonic() - t0 > CASE_TIMEOUT:
            th.join(timeout=CASE_TIMEOUT)
            rc, out, err = got.get("r", (None, b"", b""))
            finish_run(case, rc, out, err, resfile, time.monotonic() - t0)
            raise CaseFailure(f"the probe never got ready (polc exec rc={rc}): {tail(err.decode(errors='replace'))}")
        time.sleep(0.05)
    try:
        result = outside()
    finally:
        with open(go, "w", encoding="utf-8"):
            pass
    th.join(timeout=CASE_TIMEOUT + EXIT_GRACE + 30)
    if "r" not in got:
        raise CaseFailure(f"the polc exec of the case {case} never returned")
    rc, out, err = got["r"]
    return finish_run(case, rc, out, err, resfile, time.monotonic() - t0), result


def case_isolation():
    """The same binary, run outside the cgroup while the policy is bound, runs."""
    # The policy is loaded and bound while outside() runs: the same exec outside the
    # cgroup, twice, once by path and once through the symlinked /bin.
    r, outside = run_beside(
        "isolation",
        "exec-block-path.yaml",
        [ex("id-inside", ID), ex("true-inside", ["/usr/bin/true"])],
        lambda: [subprocess.run(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False) for c in (ID, ["/bin/id", "-u"])],
    )
    for o in outside:
        if o.returncode != 0 or o.stdout.strip() != b"0":
            raise CaseFailure(f"id outside the cgroup did not run: exit {o.returncode}, {o.stderr!r}")
    expect_exit_ok(r)
    expect_blocked(r, "id-inside")
    expect_allowed(r, "true-inside")
    expect_events(r, 1, action="block", path="/usr/bin/id")


def case_file_write_isolation():
    """Truncate and create in a write-blocked tree outside the cgroup, while the policy
    is bound, work; inside they are blocked."""
    ro = f"{SCRATCH}/files/ro"

    def outside():
        os.truncate(f"{ro}/iso.txt", 0)
        os.close(os.open(f"{ro}/iso-outside.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        fd = os.open(f"{ro}/t.txt", os.O_RDWR)
        try:
            os.ftruncate(fd, 2)
        finally:
            os.close(fd)

    r, _ = run_beside(
        "file-write-isolation",
        "file-write-block.yaml",
        [fs("truncate-inside", "truncate", f"{ro}/sub/s.txt"), fs("create-inside", "create", f"{ro}/iso-inside.txt")],
        outside,
    )
    expect_exit_ok(r)
    expect_size(f"{ro}/iso.txt", 0, "truncate outside the cgroup")
    expect_size(f"{ro}/t.txt", 2, "ftruncate outside the cgroup")
    if not os.path.exists(f"{ro}/iso-outside.txt"):
        raise CaseFailure("create outside the cgroup did not create the file")
    expect_blocked(r, "truncate-inside")
    expect_blocked(r, "create-inside")
    expect_missing(f"{ro}/iso-inside.txt", "a blocked create left a file")
    expect_content(f"{ro}/sub/s.txt", "s\n", "the blocked truncation changed it")
    expect_events(r, 1, action="block", op="write", path=f"{ro}/sub/s.txt", rule="no-write")
    expect_events(r, 1, action="block", op="write", path=f"{ro}/iso-inside.txt", rule="no-write")
    expect_events(r, 2)


SWAP_FLIPS = 3000


AGENT_POLICY = """apiVersion: polc.dev/v1alpha1
kind: PreventionPolicy
metadata:
  name: vm-agent
  namespace: polc-vm
spec:
  selector:
    matchLabels:
      app: vm-test
  process:
    - name: {rule}
      action: Block
      paths:
        - {path}
"""


def polc(*args, check=True):
    """Run polc with args; returns (rc, stdout, stderr) and logs them."""
    p = subprocess.run([POLC, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=CASE_TIMEOUT, check=False)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    log(f"$ polc {' '.join(args)}\n-> {p.returncode}\n{out}{err}")
    if check and p.returncode != 0:
        raise CaseFailure(f"polc {' '.join(args)} exited {p.returncode}: {tail(err)}")
    return p.returncode, out, err


def events_reader(logfile):
    """Start `polc agent events --audit-log logfile`; return once it reads (it says
    so on stderr)."""
    p = subprocess.Popen([POLC, "agent", "events", "--audit-log", logfile], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    line = b""
    while time.monotonic() < deadline and b"reading events" not in line:
        ready, _, _ = select.select([p.stderr], [], [], 0.5)
        if ready:
            line = p.stderr.readline()
            log(f"polc agent events: {line!r}")
            if not line:
                break
    if b"reading events" not in line:
        p.kill()
        raise CaseFailure(f"polc agent events did not start (exit {p.poll()}): {line!r}")
    return p


def link_programs(pin):
    """{program: id of the program its pinned link runs} under `pin`/links."""
    out = {}
    for name in sorted(os.listdir(f"{pin}/links")):
        p = subprocess.run(["bpftool", "-j", "link", "show", "pinned", f"{pin}/links/{name}"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60, check=False)
        if p.returncode != 0:
            raise CaseFailure(f"bpftool link show pinned {name}: {p.stderr!r}")
        out[name] = json.loads(p.stdout)["prog_id"]
    return out


def upgrade_in_place(plan, cg, still_blocked, events_log, bundles):
    """Pins of another polc build of the same ABI: the object marker renamed and one
    link (polc_connect) removed, as a build without that program would leave them.
    `polc agent status` leaves them as they are and says so; the next `polc agent
    apply` replaces every program over the same maps: the plan stays loaded and
    bound, its block holds throughout, a reader that started before reads the new
    programs' events, every link runs a new program; the start after reuses them."""
    pin = "/sys/fs/bpf/polc"
    markers = [n for n in os.listdir(pin) if n.startswith("object-")]
    if len(markers) != 1:
        raise CaseFailure(f"expected one object marker in {pin}, found {markers}")
    reader = events_reader(events_log)
    try:
        os.rename(f"{pin}/{markers[0]}", f"{pin}/object-0123456789abcdef")
        os.remove(f"{pin}/links/polc_connect")
        before = link_programs(pin)
        _, _, err = polc("agent", "status")
        if "another polc build's (object 0123456789abcdef)" not in err or link_programs(pin) != before:
            raise CaseFailure(f"status did not leave the other build's programs as they were and say so: {err!r}")
        _, out, err = polc("agent", "apply", bundles)
        if "replaced the eBPF programs" not in err or "(object 0123456789abcdef)" not in err:
            raise CaseFailure(f"apply did not say it replaced the other build's programs: {err!r}")
        if not re_line(out, r"unchanged\s+slot"):
            raise CaseFailure(f"the replacement changed the loaded plan: {out!r}")
        after = link_programs(pin)
        if set(after) != set(before) | {"polc_connect"}:
            raise CaseFailure(f"links after the replacement: {sorted(after)}, before: {sorted(before)}")
        same = [n for n in before if before[n] == after[n]]
        if same:
            raise CaseFailure(f"these links still run the old programs: {same}")
        if sorted(n for n in os.listdir(pin) if n.startswith("object-")) != markers:
            raise CaseFailure(f"the object marker is not this build's again: {os.listdir(pin)}")
        _, out, _ = polc("agent", "status", "--format", "json")
        row = [x for x in json.loads(out)["slots"] if x["plan"] == plan]
        if not row or not row[0]["loaded"] or [c["path"] for c in row[0]["cgroups"]] != [cg]:
            raise CaseFailure(f"after the replacement {plan} is not loaded and bound to {cg}: {out}")
        still_blocked("after its programs were replaced")
        time.sleep(1.0)
    finally:
        reader.send_signal(signal.SIGTERM)
        reader.wait(timeout=30)
    with open(events_log, encoding="utf-8") as f:
        evs = [json.loads(l) for l in f if l.strip()]
    if not any(e.get("action") == "block" and e.get("rule") == "block-id" for e in evs):
        raise CaseFailure(f"the reader that started before the replacement saw no block after it: {evs}")
    _, _, err = polc("agent", "apply", bundles)
    if "replaced" in err or link_programs(pin) != after:
        raise CaseFailure(f"the start after the replacement did not reuse the programs: {err!r}")
    log(f"agent-restart: {len(after)} programs replaced in place, {len(evs)} events read across")


def case_agent_restart():
    """`polc agent`: apply a compiled bundle and bind a cgroup; enforcement stays with
    no polc process running; a restarted event reader names the rule; a new bundle
    replaces the plan in its slot; unload lifts it."""
    d = f"{SCRATCH}/agent"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for v, rule, path in (("v1", "block-id", "/usr/bin/id"), ("v2", "block-whoami", "/usr/bin/whoami")):
        os.makedirs(f"{d}/{v}")
        with open(f"{d}/{v}/vm-agent.yaml", "w", encoding="utf-8") as f:
            f.write(AGENT_POLICY.format(rule=rule, path=path))
        polc("compile", f"{d}/{v}/vm-agent.yaml", "--target", "bpf-lsm", "--out", f"{d}/{v}/out")
    cg = "/sys/fs/cgroup/polc-vm-agent"
    if not os.path.isdir(cg):
        os.mkdir(cg)

    def in_cg(argv):
        p = subprocess.run(
            ["/bin/sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec "$@"', "sh", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
        log(f"in {cg}: {argv} -> {p.returncode} {p.stdout!r} {p.stderr!r}")
        return p

    def blocked(argv, why):
        p = in_cg(argv)
        if p.returncode == 0:
            raise CaseFailure(f"{argv[0]} ran in the bound cgroup {why}: {p.stdout!r}")
        if b"ermission denied" not in p.stderr and b"not permitted" not in p.stderr:
            raise CaseFailure(f"{argv[0]} failed in the bound cgroup {why}, but not by a block: {p.stderr!r}")

    def runs(argv, why):
        p = in_cg(argv)
        if p.returncode != 0:
            raise CaseFailure(f"{argv[0]} did not run in the cgroup {why}: exit {p.returncode} {p.stderr!r}")

    reader = events_reader

    try:
        _, out, _ = polc("agent", "apply", f"{d}/v1/out", "--bind", f"vm-agent={cg}")
        plan = "polc-vm/Policy/vm-agent/*"
        if not re_line(out, r"load\s+slot\s+(\d+)\s+" + re_escape(plan)) or "bind" not in out:
            raise CaseFailure(f"apply did not load and bind {plan}: {out!r}")
        slot = re_line(out, r"load\s+slot\s+(\d+)")
        r1 = reader(f"{d}/events-1.jsonl")
        blocked(["/usr/bin/id", "-u"], "with the agent reading events")
        runs(["/usr/bin/whoami"], "(not in v1)")
        outside = subprocess.run(["/usr/bin/id", "-u"], stdout=subprocess.PIPE, check=False)
        if outside.returncode != 0:
            raise CaseFailure("id outside the bound cgroup did not run")
        r1.kill()
        r1.wait()
        blocked(["/usr/bin/id", "-u"], "with no polc process running")
        r2 = reader(f"{d}/events-2.jsonl")
        blocked(["/usr/bin/id", "-u"], "after the reader restarted")
        time.sleep(1.0)
        r2.send_signal(signal.SIGTERM)
        r2.wait(timeout=30)
        with open(f"{d}/events-2.jsonl", encoding="utf-8") as f:
            evs = [json.loads(l) for l in f if l.strip()]
        log(f"events after restart: {evs}")
        # Two: the exec blocked while no reader ran waited in the ring buffer.
        if len(evs) != 2:
            raise CaseFailure(f"expected two events from the restarted reader (one kept while none ran), got {len(evs)}: {evs}")
        for e in evs:
            if e.get("action") != "block" or e.get("rule") != "block-id" or e.get("container", {}).get("target") != plan:
                raise CaseFailure(f"the restarted reader did not name the rule and plan: {e}")
            if "vm-agent.yaml:14:" not in e.get("source", ""):
                raise CaseFailure(f"the event does not carry the rule's source line: {e}")
        _, out, _ = polc("agent", "status", "--format", "json")
        st = json.loads(out)
        row = [x for x in st["slots"] if x["plan"] == plan]
        if not row or not row[0]["loaded"] or [c["path"] for c in row[0]["cgroups"]] != [cg]:
            raise CaseFailure(f"status does not show {plan} loaded and bound to {cg}: {st}")
        upgrade_in_place(plan, cg, lambda why: blocked(["/usr/bin/id", "-u"], why), f"{d}/events-3.jsonl", f"{d}/v1/out")
        _, out, _ = polc("agent", "apply", f"{d}/v1/out")
        if not re_line(out, r"unchanged\s+slot\s+" + slot):
            raise CaseFailure(f"the same bundle again was not left unchanged: {out!r}")
        _, out, _ = polc("agent", "apply", f"{d}/v2/out")
        if not re_line(out, r"replace\s+slot\s+" + slot):
            raise CaseFailure(f"the new bundle did not replace the plan in slot {slot}: {out!r}")
        runs(["/usr/bin/id", "-u"], "after v2 replaced v1")
        blocked(["/usr/bin/whoami"], "under v2")
        polc("agent", "unload", "--all")
        runs(["/usr/bin/whoami"], "after unload")
        _, out, _ = polc("agent", "status", "--format", "json")
        if any(x["plan"] == plan for x in json.loads(out)["slots"]):
            raise CaseFailure(f"{plan} is still in the status after unload: {out}")
    finally:
        with open(f"{cg}/cgroup.procs", encoding="utf-8") as f:
            if f.read().strip():
                log(f"processes left in {cg}")
        try:
            os.rmdir(cg)
        except OSError as e:
            log(f"cannot remove {cg}: {e}")


K8S_IDS = {k: (c * 64) for k, c in (("web", "a"), ("db", "b"), ("stray", "c"))}
K8S_UIDS = {
    "web": "11111111-2222-4333-8444-555555555555",
    "db": "66666666-7777-4888-9999-aaaaaaaaaaaa",
    "stray": "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff",
}


def k8s_pod(name, uid, owner, container, cid, runtime="containerd", node="vm-node", hash_label=None):
    labels = {"app": "vm-pods"}
    if hash_label:
        labels["pod-template-hash"] = hash_label
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "polc-vm", "uid": uid, "labels": labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "controller": True}],
        },
        "spec": {"nodeName": node, "containers": [{"name": container, "image": "registry.example/shop:1"}]},
        "status": {"containerStatuses": [
            {"name": container, "containerID": f"{runtime}://{cid}", "ready": True, "state": {"running": {}}},
        ]},
    }


def k8s_compiled(sub):
    """A fresh SCRATCH/sub with the k8s cases' policy and workloads compiled into
    sub/out (bpf-lsm)."""
    d = f"{SCRATCH}/{sub}"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    polc("compile", os.path.join(REPO, "tests/vm/policies/k8s-pods.yaml"),
         os.path.join(REPO, "tests/vm/workloads/k8s-pods.yaml"), "--target", "bpf-lsm", "--out", f"{d}/out")
    return d


def id_run_in(cg):
    """Run `id -u` in cgroup `cg`: (blocked by a policy, the process)."""
    p = subprocess.run(["/bin/sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec /usr/bin/id -u'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=False)
    log(f"in {cg}: id -> {p.returncode} {p.stdout!r} {p.stderr!r}")
    return p.returncode != 0 and (b"ermission denied" in p.stderr or b"not permitted" in p.stderr), p


def case_k8s_pods():
    """`polc agent apply --pods`: a kubelet-shaped cgroup tree (the systemd driver's
    names for the web pod, the cgroupfs driver's for the db pod) and a pod list as
    `kubectl get pods -o json` prints it. The containers of the Deployment's and the
    StatefulSet's pods are bound to their plans (and a cgroup below a container's
    too); a pod whose workload has no plan and a pod of another node are left
    unbound and listed; id is blocked in the bound cgroups only. A second apply
    after the db pod's cgroups are removed takes their bindings away."""
    d = k8s_compiled("k8s")
    root = "/sys/fs/cgroup"
    web_pod = f"{root}/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{K8S_UIDS['web'].replace('-', '_')}.slice"
    web = f"{web_pod}/cri-containerd-{K8S_IDS['web']}.scope"
    web_sub = f"{web}/container"
    db_pod = f"{root}/kubepods/besteffort/pod{K8S_UIDS['db']}"
    db = f"{db_pod}/{K8S_IDS['db']}"
    stray = f"{root}/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{K8S_UIDS['stray'].replace('-', '_')}.slice/crio-{K8S_IDS['stray']}.scope"
    # A decoy: a directory named after the web container in a fake pod directory out
    # of the kubelet's tree (any user with a delegated cgroup could make one).
    decoy_top = f"{root}/polc-vm-decoy"
    decoy = f"{decoy_top}/pod{K8S_UIDS['web']}/cri-containerd-{K8S_IDS['web']}.scope"
    made = [web_sub, db, stray, decoy]
    for c in made:
        os.makedirs(c, exist_ok=True)
    pods = [
        k8s_pod("shop-web-7c9f8d6b5-x2x7k", K8S_UIDS["web"], ("ReplicaSet", "shop-web-7c9f8d6b5"), "web",
                K8S_IDS["web"], hash_label="7c9f8d6b5"),
        k8s_pod("shop-db-0", K8S_UIDS["db"], ("StatefulSet", "shop-db"), "db", K8S_IDS["db"], runtime="cri-o"),
        k8s_pod("other-5b4c-q8w9e", K8S_UIDS["stray"], ("ReplicaSet", "other-5b4c"), "main", K8S_IDS["stray"],
                hash_label="5b4c"),
        k8s_pod("elsewhere", "dddddddd-0000-4000-8000-000000000000", ("DaemonSet", "x"), "x", "d" * 64, node="vm-node-2"),
    ]

    def write_list(items):
        with open(f"{d}/pods.json", "w", encoding="utf-8") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f, indent=2)

    def expect(cg, blocked, why):
        was_blocked, p = id_run_in(cg)
        if blocked and not was_blocked:
            raise CaseFailure(f"id was not blocked in {cg} ({why}): exit {p.returncode} {p.stderr!r}")
        if not blocked and p.returncode != 0:
            raise CaseFailure(f"id did not run in {cg} ({why}): exit {p.returncode} {p.stderr!r}")

    plans = {"web": "polc-vm/Deployment/shop-web/web", "db": "polc-vm/StatefulSet/shop-db/db"}
    try:
        write_list(pods)
        _, out, err = polc("agent", "apply", f"{d}/out", "--pods", f"{d}/pods.json", "--node", "vm-node")
        for cg, plan in ((web, plans["web"]), (web_sub, plans["web"]), (db, plans["db"])):
            if not re.search(r"bind\s+slot\s+\d+\s+" + re_escape(cg) + r" \(cgroup id \d+\)", out):
                raise CaseFailure(f"apply --pods did not bind {cg} ({plan}): {out!r}")
        if stray in out or decoy in out:
            raise CaseFailure(f"the pod with no plan, or the decoy, was bound: {out!r}")
        if "polc-vm/other-5b4c-q8w9e container main: not bound: no loaded plan" not in err:
            raise CaseFailure(f"the pod with no plan is not listed as unbound: {err!r}")
        if "elsewhere" in out + err or "2 containers bound, 1 not bound" not in err:
            raise CaseFailure(f"expected 2 containers bound and 1 not (the other node's pod left out): {err!r}")
        expect(web, True, "the Deployment's container")
        expect(web_sub, True, "a cgroup below the Deployment's container")
        expect(db, True, "the StatefulSet's container (cgroupfs names)")
        expect(stray, False, "a pod whose workload has no plan")
        expect(decoy, False, "a decoy named after the web container out of the kubelet's tree")
        if subprocess.run(["/usr/bin/id", "-u"], stdout=subprocess.PIPE, check=False).returncode != 0:
            raise CaseFailure("id did not run outside the pods' cgroups")
        _, st, _ = polc("agent", "status", "--format", "json")
        bound = {x["plan"]: sorted(c["path"] for c in x["cgroups"]) for x in json.loads(st)["slots"]}
        if bound.get(plans["web"]) != sorted([web, web_sub]) or bound.get(plans["db"]) != [db]:
            raise CaseFailure(f"status does not show the pods' cgroups bound: {bound}")

        # The db pod's cgroups are removed while the list still says it runs: the
        # next apply takes their binding away (the kernel says the cgroup is gone),
        # and exits 1, since a running container with a plan is not enforced.
        for c in (db, db_pod):
            os.rmdir(c)
        rc, out, err = polc("agent", "apply", f"{d}/out", "--pods", f"{d}/pods.json", "--node", "vm-node", check=False)
        gone = re_line(err, r"(\d+) bindings of removed cgroups taken away")
        if not gone or int(gone) < 1:
            raise CaseFailure(f"the removed db cgroup's binding was not taken away: {err!r}")
        if rc != 1 or "1 containers with a plan are not enforced" not in err:
            raise CaseFailure(f"a running container with a plan and no cgroup did not fail the apply: {rc} {err!r}")
        write_list([p for p in pods if p["metadata"]["name"] != "shop-db-0"])
        _, out, err = polc("agent", "apply", f"{d}/out", "--pods", f"{d}/pods.json", "--node", "vm-node")
        _, st, _ = polc("agent", "status", "--format", "json")
        bound = {x["plan"]: sorted(c["path"] for c in x["cgroups"]) for x in json.loads(st)["slots"]}
        if bound.get(plans["db"]) or bound.get(plans["web"]) != sorted([web, web_sub]):
            raise CaseFailure(f"after the db pod went, status shows: {bound}")
        expect(web, True, "the Deployment's container, after the second apply")

        # A list that does not read changes nothing, and says where it is wrong.
        with open(f"{d}/bad.json", "w", encoding="utf-8") as f:
            f.write('{"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "p"}}]}\n')
        rc, _, err = polc("agent", "apply", f"{d}/out", "--pods", f"{d}/bad.json", check=False)
        if rc == 0 or f"{d}/bad.json:1:" not in err or "metadata.uid" not in err:
            raise CaseFailure(f"a pod without a uid was not refused with its line and field: {rc} {err!r}")
        expect(web, True, "after a refused pod list")
        # --used-only --prune: the db plan, which no pod of the list uses any more,
        # is unloaded; the web plan stays.
        _, out, err = polc("agent", "apply", f"{d}/out", "--pods", f"{d}/pods.json", "--node", "vm-node",
                           "--used-only", "--prune")
        if "the pods use 1 of the 2 plans given" not in err or not re.search(r"unload\s+slot\s+\d+\s+" + re_escape(plans["db"]), out):
            raise CaseFailure(f"--used-only --prune did not unload the unused db plan: {out!r} {err!r}")
        expect(web, True, "after --used-only --prune")
    finally:
        polc("agent", "unload", "--all", check=False)
        for c in [web_sub, web, web_pod, db, db_pod, stray, os.path.dirname(stray), decoy, os.path.dirname(decoy), decoy_top]:
            try:
                os.rmdir(c)
            except OSError:
                pass
        for c in (f"{root}/kubepods.slice/kubepods-burstable.slice", f"{root}/kubepods.slice/kubepods-besteffort.slice",
                  f"{root}/kubepods.slice", f"{root}/kubepods/besteffort", f"{root}/kubepods"):
            try:
                os.rmdir(c)
            except OSError:
                pass


def unload_and_remove(*cgroups):
    """The end of a k8s case: unload every plan, remove the cgroups made (innermost
    first; those already gone or still in use are left)."""
    polc("agent", "unload", "--all", check=False)
    for c in cgroups:
        try:
            os.rmdir(c)
        except OSError:
            pass


def two_node_pods(hash_label, mine, others):
    """Two pods of Deployment shop-web (ReplicaSet shop-web-HASH), each `(name
    suffix, uid, container id)`, with their containers' cgroups made in a
    systemd-driver tree here: `mine` on node vm-node, `others` on vm-node-2 (whose
    cgroup happens to be here: it must never be bound). Returns (container cgroup,
    pod cgroup, pod) for each."""
    out = []
    for (suffix, uid, cid), node in ((mine, "vm-node"), (others, "vm-node-2")):
        pod_dir = f"/sys/fs/cgroup/kubepods.slice/kubepods-pod{uid.replace('-', '_')}.slice"
        cg = f"{pod_dir}/cri-containerd-{cid}.scope"
        os.makedirs(cg, exist_ok=True)
        rs = f"shop-web-{hash_label}"
        out += [cg, pod_dir, k8s_pod(f"{rs}-{suffix}", uid, ("ReplicaSet", rs), "web", cid, hash_label=hash_label,
                                     node=node)]
    return tuple(out)


def case_k8s_watch():
    """`polc agent watch` against a Kubernetes API (tests/vm/fakeapi.py, a server of
    pods over HTTP, named by a kubeconfig): a pod added to the API is bound within
    seconds of its event (id blocked in its cgroup); the bindings stay when the
    watch is stopped with SIGTERM; a restarted watch takes the binding away once the
    pod is deleted from the API and its cgroup removed; a pod of another node is
    never bound."""
    sys.path.insert(0, os.path.join(REPO, "tests/vm"))
    import fakeapi  # noqa: PLC0415 - tests/vm/fakeapi.py, for this case

    d = k8s_compiled("k8s-watch")
    root = "/sys/fs/cgroup"
    uid, cid = "22222222-3333-4444-8555-666666666666", "e" * 64
    web, web_pod, web_p, other, other_pod, other_p = two_node_pods(
        "7c9f8d6b5", ("w4tch", uid, cid), ("0ther", "33333333-4444-4555-8666-777777777777", "f" * 64))
    api = fakeapi.FakeApi()
    api.kubeconfig(f"{d}/kubeconfig")
    env = dict(os.environ, KUBECONFIG=f"{d}/kubeconfig")
    plan = "polc-vm/Deployment/shop-web/web"
    watchers = []

    def start(n):
        log_path = f"{d}/watch-{n}.log"
        p = subprocess.Popen([POLC, "agent", "watch", f"{d}/out", "--node", "vm-node", "--resync", "2"],
                             stdout=open(log_path, "w", encoding="utf-8"),  # noqa: SIM115 - closed with the process
                             stderr=subprocess.STDOUT, env=env)
        watchers.append(p)
        return p, log_path

    def blocked_in(cg):
        return id_run_in(cg)[0]

    def bound_paths():
        _, st, _ = polc("agent", "status", "--format", "json")
        return {x["plan"]: sorted(c["path"] for c in x["cgroups"]) for x in json.loads(st)["slots"]}

    def wait_for(what, cond, secs=30, log_path=None):
        t0 = time.monotonic()
        while time.monotonic() - t0 < secs:
            if cond():
                return time.monotonic() - t0
            time.sleep(0.5)
        seen = f"; the watch printed: {tail(file_text(log_path))}" if log_path else ""
        raise CaseFailure(f"{what}: not within {secs} s{seen}")

    try:
        # An API that cannot be reached fails the watch at once, not a retry loop
        # that enforces nothing.
        with open(f"{d}/nowhere", "w", encoding="utf-8") as f:
            json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "x",
                       "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],
                       "users": [{"name": "x", "user": {}}],
                       "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}, f)
        bad = subprocess.run([POLC, "agent", "watch", f"{d}/out", "--node", "vm-node"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=120, check=False,
                             env=dict(os.environ, KUBECONFIG=f"{d}/nowhere"))
        if bad.returncode == 0 or b"cannot list the pods of node vm-node" not in bad.stderr:
            raise CaseFailure(f"a watch of an unreachable API did not fail: {bad.returncode} {bad.stderr!r}")
        api.put(other_p)
        w1, log1 = start(1)
        # Starting a watch opens the pinned maps and loads every plan's bundle: under
        # TCG on a busy host that once took over 30 s.
        took = wait_for("the watch listed the pods", lambda: "pods on node vm-node" in file_text(log1), 120, log1)
        log(f"k8s-watch: the first watch listed the pods {took:.1f} s after it started")
        if blocked_in(web):
            raise CaseFailure("id was blocked in the web cgroup before its pod was in the API")
        api.put(web_p)
        bound_took = wait_for("the new pod's container bound", lambda: blocked_in(web))
        log(f"k8s-watch: bound {bound_took:.1f} s after the pod's event")
        if blocked_in(other):
            raise CaseFailure("the other node's pod was bound")
        paths = bound_paths()
        if paths.get(plan) != [web]:
            raise CaseFailure(f"status does not show the web cgroup bound alone: {paths}")
        if "polc-vm/StatefulSet/shop-db/db" in paths:
            raise CaseFailure(f"the db plan, which no pod of the node uses, was loaded: {paths}")
        w1.send_signal(signal.SIGTERM)
        if w1.wait(timeout=30) != 0:
            raise CaseFailure(f"the watch exited {w1.returncode} on SIGTERM: {tail(file_text(log1))}")
        if not blocked_in(web):
            raise CaseFailure("the binding did not stay when the watch stopped")
        w2, log2 = start(2)
        took = wait_for("the restarted watch listed the pods", lambda: "pods on node vm-node" in file_text(log2),
                        120, log2)
        log(f"k8s-watch: the restarted watch listed the pods {took:.1f} s after it started")
        api.delete(web_p["metadata"]["name"])
        os.rmdir(web)
        os.rmdir(web_pod)
        wait_for("the removed pod's binding taken away", lambda: not bound_paths().get(plan))
        w2.send_signal(signal.SIGTERM)
        if w2.wait(timeout=30) != 0:
            raise CaseFailure(f"the restarted watch exited {w2.returncode} on SIGTERM: {tail(file_text(log2))}")
        text = file_text(log1) + file_text(log2)
        if "bind " not in text or "shop-web-7c9f8d6b5-w4tch container web" not in text:
            raise CaseFailure(f"the watch did not print the binding: {tail(text)}")
        say(f"  k8s-watch: bound {bound_took:.1f} s after the pod's event; {len(api.requests)} API requests")
    finally:
        for p in watchers:
            if p.poll() is None:
                p.kill()
                p.wait()
        for p in (1, 2):
            if os.path.exists(f"{d}/watch-{p}.log"):
                log(f"--- watch {p}:\n{tail(file_text(f'{d}/watch-{p}.log'), 3000)}")
        api.close()
        unload_and_remove(web, web_pod, other, other_pod, f"{root}/kubepods.slice")


def re_line(text, pattern):
    m = re.search(pattern, text)
    return (m.group(1) if m.groups() else m.group(0)) if m else None


def re_escape(s):
    return re.escape(s)


def case_swap_under_load():
    """Execs in a loop while the cgroup's slot flips between policies A and B.

    A blocks who and id and reading fa.txt, B blocks who and whoami and reading fb.txt
    (tests/vm/policies/swap-*.yaml). The binding lasts one contiguous period, so every
    iteration between the first and the last blocked `who` ran while A or B was bound:
    there `who` must be blocked and `true` must run (else neither policy decided), and
    id, whoami and both reads must each be seen both blocked and allowed (else no swap
    happened under the load).

    The reads are the shell's own opens (`read < file`), in the bound cgroup, with the
    open cache on: a read one policy lets through is remembered for the inode. Each
    file must be seen refused in an iteration after one where it was read, so a
    remembered Allow did not outlive the policy that made it; and the cache must have
    let opens through during the flips (else this proves nothing about it).
    """
    swap_bin = os.path.join(REPO, "target/release/examples/swap")
    bundles = [os.path.join(OUT, "swap", f"{p}.bundle") for p in ("a", "b")]
    for f in [swap_bin, *bundles]:
        if not os.path.exists(f):
            raise CaseFailure(f"{f} is missing (scripts/vm-test.sh builds it)")
    cg = "/sys/fs/cgroup/polc-vm-swap"
    if not os.path.isdir(cg):
        os.mkdir(cg)
    stop, loadlog = f"{SCRATCH}/swap/stop", f"{SCRATCH}/swap/load.log"
    for m in (stop, loadlog):
        if os.path.exists(m):
            os.remove(m)
    fa, fb = f"{SCRATCH}/swap/fa.txt", f"{SCRATCH}/swap/fb.txt"
    for f in (fa, fb):
        with open(f, "w", encoding="utf-8") as fh:
            fh.write("x\n")
    loop = (
        f"echo $$ > {cg}/cgroup.procs || exit 3; exec >{loadlog} 2>/dev/null; "
        f"while [ ! -e {stop} ]; do "
        "/usr/bin/who; w=$?; /usr/bin/true; t=$?; /usr/bin/id -u >/dev/null; i=$?; /usr/bin/whoami >/dev/null; m=$?; "
        # Each file is read three times back to back (microseconds apart, where
        # flips come milliseconds apart), so that the cache is hit between flips.
        f"read -r x < {fa}; a=$?; read -r x < {fa}; read -r x < {fa}; "
        f"read -r x < {fb}; b=$?; read -r x < {fb}; read -r x < {fb}; "
        'echo "w=$w t=$t i=$i m=$m a=$a b=$b"; done'
    )
    load = subprocess.Popen(["/bin/sh", "-c", loop])
    try:
        time.sleep(2)  # some iterations before the binding
        t0 = time.monotonic()
        sw = subprocess.run(
            [swap_bin, *bundles, "--flips", str(SWAP_FLIPS), "--cgroup", cg],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=CASE_TIMEOUT, check=False,
        )
        elapsed = time.monotonic() - t0
        time.sleep(2)  # some iterations after the unbinding
    finally:
        with open(stop, "w", encoding="utf-8"):
            pass
        try:
            load.wait(timeout=60)
        except subprocess.TimeoutExpired:
            load.kill()
    out = sw.stdout.decode(errors="replace") + sw.stderr.decode(errors="replace")
    log(f"--- swap: rc={sw.returncode} in {elapsed:.1f}s\n{out}")
    if sw.returncode != 0:
        raise CaseFailure(f"the swap tool failed ({sw.returncode}): {tail(out)}")
    if load.returncode not in (0, None):
        raise CaseFailure(f"the load loop exited {load.returncode} (could it join {cg}?)")
    with open(loadlog, encoding="utf-8") as f:
        rows = [dict(kv.split("=") for kv in l.split()) for l in f if l.startswith("w=")]
    blocked = [n for n, r in enumerate(rows) if r["w"] != "0"]
    log(f"swap: {len(rows)} iterations, who blocked in {len(blocked)}")
    if len(blocked) < 2:
        raise CaseFailure(f"who was blocked in {len(blocked)} of {len(rows)} iterations: the binding never took effect")
    window = rows[blocked[0] : blocked[-1] + 1]
    neither = [n for n, r in enumerate(window) if r["w"] == "0" or r["t"] != "0"]
    seen = {k: {r[k] != "0" for r in window} for k in ("i", "m", "a", "b")}
    hits = re_line(out, r"open cache during the flips: hits (\d+)")
    summary = (
        f"{len(window)} iterations under {SWAP_FLIPS} flips in {elapsed:.1f}s: "
        f"id blocked {sum(r['i'] != '0' for r in window)}, whoami blocked {sum(r['m'] != '0' for r in window)}, "
        f"fa.txt refused {sum(r['a'] != '0' for r in window)}, fb.txt refused {sum(r['b'] != '0' for r in window)}; "
        f"open cache hits during the flips: {hits}"
    )
    log(f"swap: {summary}")
    if neither:
        raise CaseFailure(f"{len(neither)} iterations decided by neither A nor B (who ran or true failed); {summary}")
    if any(v != {True, False} for v in seen.values()):
        raise CaseFailure(f"both policies were not both seen deciding; {summary}")
    if "open cache: on" not in out:
        raise CaseFailure(f"the swap tool did not turn the open cache on: {tail(out)}")
    if not hits or int(hits) == 0:
        raise CaseFailure(f"no open was let through from the open cache during the flips; {summary}")
    for k, name in (("a", "fa.txt"), ("b", "fb.txt")):
        first_read = next(n for n, r in enumerate(window) if r[k] == "0")
        if not any(r[k] != "0" for r in window[first_read + 1 :]):
            raise CaseFailure(f"{name} was never refused after it was first read: a remembered Allow outlived its policy; {summary}")
    say(f"  swap: {summary}")


def vm_cluster_policy(name, path, action="Block"):
    """A PreventionPolicy of namespace polc-vm, as the API holds it, blocking `path`
    for the pods labelled app=vm-pods."""
    return {
        "apiVersion": "polc.dev/v1alpha1",
        "kind": "PreventionPolicy",
        "metadata": {"name": name, "namespace": "polc-vm", "uid": f"uid-{name}", "generation": 1,
                     "managedFields": [{"manager": "argocd-controller", "operation": "Apply"}]},
        "spec": {"selector": {"matchLabels": {"app": "vm-pods"}},
                 "process": [{"name": f"rule-{name}", "action": action, "paths": [path]}]},
    }


def case_k8s_cluster():
    """`polc agent watch --from-cluster` against a Kubernetes API of pods and polc
    policies (tests/vm/fakeapi.py): the node compiles its own bundles. A policy
    created in the API blocks id in the node's pod within seconds; a broken policy
    is left out and printed while the rest stays enforced; a changed policy moves
    the block (id runs, whoami is blocked); a deleted policy lifts it; the other
    node's pod is never bound. Without the policy CRDs in the API the watch fails
    at once."""
    sys.path.insert(0, os.path.join(REPO, "tests/vm"))
    import fakeapi  # noqa: PLC0415 - tests/vm/fakeapi.py, for this case

    d = f"{SCRATCH}/k8s-cluster"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    state = "/run/polc"  # the agent's default, which `polc agent status` reads
    root = "/sys/fs/cgroup"
    uid, cid = "44444444-5555-4666-8777-888888888888", "d" * 64
    web, web_pod, web_p, other, other_pod, other_p = two_node_pods(
        "6b7c8d9f5", ("c1ust", uid, cid), ("0ther", "55555555-6666-4777-8888-999999999999", "9" * 64))
    no_crds = fakeapi.FakeApi()
    api = fakeapi.FakeApi(kinds=list(fakeapi.KINDS))
    no_crds.kubeconfig(f"{d}/no-crds")
    api.kubeconfig(f"{d}/kubeconfig")
    watch = None
    events = None
    events_log = f"{d}/events.json"
    log_path = f"{d}/watch.log"
    plan = "polc-vm/Deployment/shop-web/web"
    extra_cgroups = []

    def run_in(cg, argv):
        p = subprocess.run(["/bin/sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec "$@"', "sh", *argv],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=False)
        log(f"in {cg}: {argv} -> {p.returncode} {p.stdout!r} {p.stderr!r}")
        return p.returncode != 0 and (b"ermission denied" in p.stderr or b"not permitted" in p.stderr)

    def wait_for(what, cond, secs=60):
        t0 = time.monotonic()
        while time.monotonic() - t0 < secs:
            if cond():
                return time.monotonic() - t0
            time.sleep(0.5)
        raise CaseFailure(f"{what}: not within {secs} s; the watch printed: {tail(file_text(log_path))}")

    try:
        bad = subprocess.run([POLC, "agent", "watch", "--from-cluster", "--node", "vm-node"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, check=False,
                             env=dict(os.environ, KUBECONFIG=f"{d}/no-crds"))
        if bad.returncode == 0 or b"preventionpolicies.polc.dev" not in bad.stderr:
            raise CaseFailure(f"a watch of an API without the policy CRDs did not fail: {bad.returncode} {bad.stderr!r}")
        api.put(web_p)
        api.put(other_p)
        watch = subprocess.Popen(
            [POLC, "agent", "watch", "--from-cluster", "--node", "vm-node", "--resync", "2"],
            stdout=open(log_path, "w", encoding="utf-8"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT, env=dict(os.environ, KUBECONFIG=f"{d}/kubeconfig"))
        wait_for("the watch listed the pods and policies", lambda: "PreventionPolicy objects in the cluster" in file_text(log_path)
                 and "pods on node vm-node" in file_text(log_path), 120)
        if run_in(web, ["/usr/bin/id", "-u"]):
            raise CaseFailure("id was blocked before any policy was in the API")
        events = events_reader(events_log)
        policy = vm_cluster_policy("no-id", "/usr/bin/id")
        api.put(policy)
        took_new = wait_for("the policy created in the API blocks id in the node's pod",
                            lambda: run_in(web, ["/usr/bin/id", "-u"]))
        log(f"k8s-cluster: id blocked {took_new:.1f} s after the policy's event")
        if run_in(other, ["/usr/bin/id", "-u"]):
            raise CaseFailure("id was blocked in the other node's pod")
        _, st, _ = polc("agent", "status", "--format", "json")
        plans = {x["plan"]: [c["path"] for c in x["cgroups"]] for x in json.loads(st)["slots"]}
        if plans != {plan: [web]}:
            raise CaseFailure(f"expected {plan} loaded and bound to the web cgroup alone: {plans}")
        # A second replica of the Deployment on the node: bound to the plan it has,
        # without compiling again (nothing in the node's input names or counts pods).
        compiles = file_text(log_path).count("polc: compiled ")
        uid2, cid2 = "77777777-5555-4666-8777-888888888888", "f" * 64
        web2_pod = f"{root}/kubepods.slice/kubepods-pod{uid2.replace('-', '_')}.slice"
        web2 = f"{web2_pod}/cri-containerd-{cid2}.scope"
        os.makedirs(web2, exist_ok=True)
        extra_cgroups.extend([web2, web2_pod])
        rs = web_p["metadata"]["ownerReferences"][0]["name"]
        api.put(k8s_pod(f"{rs}-r3pl2", uid2, ("ReplicaSet", rs), "web", cid2, hash_label=rs.rsplit("-", 1)[1]))
        took_replica = wait_for("the second replica's container bound", lambda: run_in(web2, ["/usr/bin/id", "-u"]))
        time.sleep(3)  # two resyncs (--resync 2): a compile would have been printed
        if file_text(log_path).count("polc: compiled ") != compiles:
            raise CaseFailure(f"a second replica made the node compile again: {tail(file_text(log_path))}")
        log(f"k8s-cluster: the second replica was bound {took_replica:.1f} s after its event, no compile")
        src = f"{state}/cluster/source/policies/polc-vm/PreventionPolicy.no-id.json"
        if not os.path.isfile(src):
            raise CaseFailure(f"the node's compile input {src} is missing")
        broken = vm_cluster_policy("broken", "/usr/bin/whoami", action="Maybe")
        api.put(broken)
        wait_for("the broken policy left out and printed",
                 lambda: "PreventionPolicy.broken.json is left out" in file_text(log_path))
        if "spec.process[0].action" not in file_text(log_path):
            raise CaseFailure(f"the broken policy's finding does not name its field: {tail(file_text(log_path))}")
        if not run_in(web, ["/usr/bin/id", "-u"]):
            raise CaseFailure("a broken policy in the namespace lifted the other policy's block")

        web_id = os.stat(web).st_ino  # the cgroup id

        def first_block():
            # Of this case's cgroup: the ring buffer can still hold events of
            # earlier cases, made while no reader ran.
            for line in file_text(events_log).splitlines():
                r = json.loads(line)
                if (r.get("action") == "block" and r.get("path") == "/usr/bin/id"
                        and r.get("container", {}).get("cgroupId") == web_id):
                    return r
            return None

        wait_for("a violation record of the blocked id", first_block)
        r = first_block()
        # The first record already: the reader looks for new plans and pods before
        # it names a record.
        if r.get("pod") != {"namespace": "polc-vm", "name": web_p["metadata"]["name"], "uid": uid, "container": "web",
                            "containerId": cid}:
            raise CaseFailure(f"the first record of the blocked id does not name the pod and container: {r}")
        if r["container"]["target"] != plan or "PreventionPolicy.no-id.json:" not in r.get("source", ""):
            raise CaseFailure(f"the record does not name the plan and the policy's file on the node: {r}")
        api.put(vm_cluster_policy("no-id", "/usr/bin/whoami"))
        took = wait_for("the changed policy lets id run", lambda: not run_in(web, ["/usr/bin/id", "-u"]))
        if not run_in(web, ["/usr/bin/whoami"]):
            raise CaseFailure("the changed policy does not block whoami")
        log(f"k8s-cluster: the change took {took:.1f} s")
        api.delete_obj(policy)
        wait_for("the deleted policy's block lifted", lambda: not run_in(web, ["/usr/bin/whoami"]))
        _, st, _ = polc("agent", "status", "--format", "json")
        if any(x["plan"] == plan for x in json.loads(st)["slots"]):
            raise CaseFailure(f"{plan} is still loaded after its policy was deleted: {st}")
        watch.send_signal(signal.SIGTERM)
        if watch.wait(timeout=30) != 0:
            raise CaseFailure(f"the watch exited {watch.returncode} on SIGTERM: {tail(file_text(log_path))}")
        # Compiled three more times after it was put, the broken policy is printed once.
        printed = file_text(log_path).count("PreventionPolicy.broken.json is left out")
        if printed != 1:
            raise CaseFailure(f"the broken policy was printed {printed} times, not once: {tail(file_text(log_path))}")
        say(f"  k8s-cluster: a new policy enforced {took_new:.1f} s after its event, a change {took:.1f} s after; "
            f"{len(api.requests)} API requests")
    finally:
        for p in (watch, events):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        if os.path.exists(log_path):
            log(f"--- watch:\n{tail(file_text(log_path), 3000)}")
        api.close()
        no_crds.close()
        unload_and_remove(*extra_cgroups, web, web_pod, other, other_pod, f"{root}/kubepods.slice")


CASES = [
    ("exec-block-path", case_exec_block_path),
    ("exec-seccomp", case_exec_seccomp),
    ("exec-block-glob", case_exec_block_glob),
    ("exec-block-dir", case_exec_block_dir),
    ("exec-allowlist", case_exec_allowlist),
    ("exec-parent", case_exec_parent),
    ("exec-audit", case_exec_audit),
    ("exec-dryrun", case_exec_dryrun),
    ("exec-bypass", case_exec_bypass),
    ("exec-bypass-comm", case_exec_bypass_comm),
    ("file-read-block", case_file_read_block),
    ("file-write-block", case_file_write_block),
    ("file-names-block", case_file_names_block),
    ("file-moves-block", case_file_moves_block),
    ("file-audit", case_file_audit),
    ("file-open-cache", case_file_open_cache),
    ("file-write-audit", case_file_write_audit),
    ("file-write-dryrun", case_file_write_dryrun),
    ("file-fd-passing", case_file_fd_passing),
    ("file-overlay", case_file_overlay),
    ("net-egress-block", case_net_egress_block),
    ("net-sendto-block", case_net_sendto_block),
    ("net-egress-audit", case_net_egress_audit),
    ("isolation", case_isolation),
    ("file-write-isolation", case_file_write_isolation),
    ("agent-restart", case_agent_restart),
    ("k8s-pods", case_k8s_pods),
    ("k8s-watch", case_k8s_watch),
    ("k8s-cluster", case_k8s_cluster),
    ("swap-under-load", case_swap_under_load),
]


# ---------------------------------------------------------------------------------


def main():
    global REPO, OUT, POLC, PROBE, LOG
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--bench-only", default=None, choices=["events", "locks"], help="with --bench: only this part")
    ap.add_argument("--only", default="")
    ap.add_argument("--polc", default="", help="polc binary (default: REPO/target/release/polc)")
    args = ap.parse_args()
    REPO, OUT = os.path.abspath(args.repo), os.path.abspath(args.out)
    POLC = os.path.abspath(args.polc) if args.polc else os.path.join(REPO, "target/release/polc")
    PROBE = os.path.join(REPO, "tests/vm/probe.py")
    LOG = os.path.join(OUT, "guest.log")
    os.makedirs(OUT, exist_ok=True)
    results_path = os.path.join(OUT, "results.txt")
    open(LOG, "w", encoding="utf-8").close()
    results = open(results_path, "w", encoding="utf-8")  # noqa: SIM115 - written to the end

    def record(ok, name, reason=""):
        line = f"PASS {name}" if ok else f"FAIL {name}: {reason}"
        say(line)
        results.write(line + "\n")
        results.flush()

    passed = failed = 0
    try:
        lsms = setup_kernel()
        say(f"kernel {os.uname().release}, lsm={lsms}")
        if not os.access(POLC, os.X_OK):
            raise RuntimeError(f"{POLC} is missing (scripts/vm-test.sh builds it)")
        help_out = subprocess.run([POLC, "exec", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        if help_out.returncode != 0:
            raise RuntimeError(f"`polc exec --help` failed: {tail(help_out.stdout.decode(errors='replace'))}")
        setup_fixtures()
        listeners = Listeners([18080, 18081, 18082])  # noqa: F841 - kept open for the cases
    except Exception as e:  # noqa: BLE001 - any setup problem fails the suite
        log(traceback.format_exc())
        record(False, "setup", str(e))
        results.write("SUMMARY pass=0 fail=1\n")
        results.close()
        return 1

    only = set(filter(None, args.only.split(",")))
    for name, fn in CASES:
        if only and name not in only:
            continue
        t0 = time.monotonic()
        HANGS.clear()
        try:
            fn()
            if HANGS:
                raise CaseFailure("every check held, but " + "; ".join(HANGS))
            record(True, name)
            passed += 1
        except CaseFailure as e:
            if HANGS and "did not exit" not in str(e):
                e = CaseFailure(f"{e}; also {'; '.join(HANGS)}")
            record(False, name, str(e))
            failed += 1
        except Exception as e:  # noqa: BLE001 - a crashing case is a failing case
            log(traceback.format_exc())
            record(False, name, f"harness error: {type(e).__name__}: {e}")
            failed += 1
        log(f"{name}: {time.monotonic() - t0:.1f}s")

    if args.bench:
        try:
            import bench  # noqa: PLC0415 - tests/vm/bench.py, only for --bench

            HANGS.clear()
            bench.run(sys.modules[__name__], only=args.bench_only)
            if HANGS:
                record(False, "bench", "figures recorded, but " + "; ".join(HANGS))
                failed += 1
        except Exception as e:  # noqa: BLE001
            log(traceback.format_exc())
            record(False, "bench", f"{type(e).__name__}: {e}")
            failed += 1
    results.write(f"SUMMARY pass={passed} fail={failed}\n")
    results.close()
    say(f"SUMMARY pass={passed} fail={failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
