"""Kernel hook cost, measured in the VM by tests/vm/guest.py --bench.

Loops (tests/vm/bench/hookbench.c, built on the host): N x open+close of a file and
N x fork+exec of /usr/bin/true. Configurations, all in the same boot:

  baseline        no polc program loaded (measured first and last)
  outside         programs loaded, a 1-rule policy bound to another cgroup; the loop
                  runs in no bound cgroup
  N rules         the loop runs under `polc exec` with a policy of N rules (1, 1,000,
                  10,000; `file` rules for the open loop, `process` rules for the exec
                  loop; none matches, so every operation goes through the whole lookup)

Each figure is the median ns/op of ROUNDS rounds; ratios are to the mean of the two
baselines. Under TCG emulation absolute figures are slow; the ratios are the result.
Every baseline runs with no program attached: polc's pins are removed first (the
cases before the benchmark, and each `polc exec`, leave the object loaded).

Paired, first (kernel.bpf_stats_enabled=0, as on a node): the open loop alone, each
configuration run between two baseline loops, PAIRED_ROUNDS times, its ratio to the
mean of its two neighbours. The host's speed drifts by tens of percent over the
minutes of a boot; a baseline seconds away cancels most of it. Besides polc's
configurations, `bare`: empty BPF LSM programs on the same hooks (bench/bare.bpf.c,
attached by bench/bareload.c with libbpf), the floor any BPF LSM program pays here.
The tables after it run with kernel.bpf_stats_enabled=1 (for the programs' run time),
which itself adds two clock reads to every run.

Events: an Audit rule on the loop's file, applied with `polc agent apply` and bound to
a cgroup, so every open of the loop is one kernel event; `polc agent events` turns
them into JSON violation records (to /dev/null). Reports events made, records
written, events dropped (the kernel's counter), and records per second of the
reader's own CPU time (utime + stime from /proc) and of wall time.

Locks: the open cache's hits read without the entry's lock (x86) against the read
under it, in one boot, alternating, with polc_host's POLC_HOST_OPEN_CACHE_LOCKED set
and cleared with bpftool (lock_ab).

Writes OUT/bench.txt (a markdown table) and OUT/bench.json. `--bench-only events` and
`--bench-only locks` (guest.py) run that part alone.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time

OPEN_N, OPEN_ROUNDS = 20000, 3
PAIRED_ROUNDS = 5
PIN_DIR = "/sys/fs/bpf/polc"
STATE_DIR = "/run/polc"
EXEC_N, EXEC_ROUNDS = 50, 3
TIERS = (1, 1000, 10000)


PROGS = ("polc_file_open", "polc_bprm_check")
BPFTOOL = "/usr/sbin/bpftool"


def prog_stats(text):
    """`bpftool -j prog show` output -> {program: (run_time_ns, run_cnt)}."""
    d = {}
    for p in json.loads(text):
        if p.get("name", "").startswith("polc_"):
            a, b = d.get(p["name"], (0, 0))
            d[p["name"]] = (a + p.get("run_time_ns", 0), b + p.get("run_cnt", 0))
    return d


def snapshot():
    p = subprocess.run([BPFTOOL, "-j", "prog", "show"], stdout=subprocess.PIPE, check=True)
    return prog_stats(p.stdout.decode())


def per_call(before, after, prog):
    """ns per program run between two snapshots (None when it did not run)."""
    t0, c0 = before.get(prog, (0, 0))
    t1, c1 = after.get(prog, (0, 0))
    return (t1 - t0) / (c1 - c0) if c1 > c0 else None


def per_op(before, after, prog, r):
    """(ns, runs) of `prog` per op of loop result `r`: an open of a file on
    overlayfs runs polc_file_open twice, once for the file and once for the
    layer's file below it (which it lets through at once), so the cost of an open
    is the run time per op, not per run. Other processes' runs between the two
    snapshots count too (a few against the loop's tens of thousands)."""
    t0, c0 = before.get(prog, (0, 0))
    t1, c1 = after.get(prog, (0, 0))
    ops = r["n"] * r["rounds"]
    return ((t1 - t0) / ops, (c1 - c0) / ops) if c1 > c0 and ops else (None, None)


def add_prog(r, before, after):
    r["prog_ns"] = {p: per_call(before, after, p) for p in PROGS}
    r["prog_op"] = {p: per_op(before, after, p, r) for p in PROGS}
    # Every other polc program that ran during the loop (another hook on its path).
    r["other_op"] = {p: per_op(before, after, p, r) for p in sorted(set(after) - set(PROGS))
                     if after[p][1] > before.get(p, (0, 0))[1]}


def detach_all(g):
    """Remove polc's pins, so that no polc program stays attached (the links go with
    their last reference; the kernel frees them a moment later), and wait until
    bpftool lists none."""
    pinned = os.path.exists(PIN_DIR)
    if pinned:
        shutil.rmtree(PIN_DIR)
    # The agent's record of its slots goes too, or the next `agent apply` would load
    # them again into the new pins.
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    t0 = time.monotonic()
    # The kernel detaches the programs a few seconds later (3.7-4.7 s here), patching
    # every hook's entry back. Under TCG, a file opened on another CPU while it does
    # so has ended the guest (an int3 oops in bpf_lsm_file_open, in bpftool's open:
    # docs/performance.md). So bpftool first looks after 5 s, then once a second.
    if pinned:
        time.sleep(5)
    while snapshot():
        if time.monotonic() - t0 > 30:
            raise RuntimeError(f"polc's programs are still attached 30 s after {PIN_DIR} was removed")
        time.sleep(1)
    g.log(f"bench: polc's programs detached ({time.monotonic() - t0:.1f} s; {meminfo()})")


def meminfo():
    """MemAvailable and Slab from /proc/meminfo, for the guest log: a boot that ends
    mid-benchmark shows whether memory ran out."""
    keep = {}
    with open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("MemAvailable", "Slab"):
                keep[k] = v.strip()
    return ", ".join(f"{k} {v}" for k, v in keep.items())


def set_stats(on):
    with open("/proc/sys/kernel/bpf_stats_enabled", "w", encoding="utf-8") as f:
        f.write("1\n" if on else "0\n")


def bare_loop(g, cmd):
    """The loop with bare.bpf.o's empty programs attached (bareload keeps them until
    its standard input ends)."""
    p = subprocess.Popen([os.path.join(g.OUT, "bareload"), os.path.join(g.OUT, "bare.bpf.o")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = p.stdout.readline().decode(errors="replace")
        if not line.startswith("attached 2"):
            _, err = p.communicate(timeout=60)
            raise RuntimeError(f"bareload did not attach its two programs: {line!r} {err.decode(errors='replace')}")
        return run_direct(cmd)
    finally:
        if p.poll() is None:
            p.stdin.close()
            p.wait(timeout=60)


def with_holder(g, fn):
    """fn() while a `polc exec` of a 1-rule policy holds polc's programs (bound to a
    shell that waits on a FIFO): the programs loaded, fn's loops in no bound
    cgroup."""
    bench_dir = os.path.join(g.OUT, "bench")
    ready, stop = "/tmp/polc-vm/bench-ready", "/tmp/polc-vm/bench-stop"
    for m in (ready, stop):
        if os.path.exists(m):
            os.remove(m)
    # The shell waits on a FIFO, not in a loop of `sleep`s: a fork+exec every 0.2 s
    # costs the emulated CPUs about a quarter of one.
    os.mkfifo(stop)
    holder = subprocess.Popen(
        [g.POLC, "exec", "--policy", os.path.join(bench_dir, "file-1.yaml"), "--", "/bin/sh", "-c",
         f"touch {ready}; read _ < {stop}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        t0 = time.monotonic()
        while not os.path.exists(ready):
            if holder.poll() is not None or time.monotonic() - t0 > 600:
                raise RuntimeError(f"the holder polc exec did not start: {g.tail(holder.stderr.read().decode())}")
            time.sleep(0.1)
        return fn()
    finally:
        # A writer's open fails (ENXIO) until the shell has the FIFO open: try again
        # for a while; a holder that is gone needs nothing.
        t0 = time.monotonic()
        while holder.poll() is None and time.monotonic() - t0 < 10:
            try:
                fd = os.open(stop, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: the shell has not opened it yet
                time.sleep(0.1)
                continue
            os.write(fd, b"stop\n")
            os.close(fd)
            break
        try:
            holder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            holder.kill()
            g.HANGS.append("the holder polc exec did not exit 60 s after its command was told to stop")


def agent_apply(g, out_dir, plan, bind_cg):
    """`polc agent apply out_dir --bind plan=bind_cg` (the cgroup made first)."""
    os.makedirs(bind_cg, exist_ok=True)
    p = subprocess.run([g.POLC, "agent", "apply", out_dir, "--bind", f"{plan}={bind_cg}"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"polc agent apply {out_dir} failed: {p.stderr.decode(errors='replace')}")


def in_cgroup(cmd, cg):
    """`cmd` run in cgroup `cg`."""
    return ["/bin/sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec "$@"', "sh", *cmd]


def counted_loop(cmd, bound):
    """run_direct(cmd), with the open cache's counters over the loop in its
    "open_cache". A loop in a bound cgroup (`bound`) must hit the cache on every
    repeated open (all but the first few: an entry of an earlier configuration is
    stale; fewer would mean it ran unbound), and a loop outside never."""
    dump = [BPFTOOL, "-j", "map", "dump", "pinned", CACHE_STAT_PIN]
    c0 = cache_stats(subprocess.run(dump, stdout=subprocess.PIPE, check=True).stdout.decode())
    r = run_direct(cmd)
    c1 = cache_stats(subprocess.run(dump, stdout=subprocess.PIPE, check=True).stdout.decode())
    r["open_cache"] = {k: c1[k] - c0[k] for k in c1}
    if bound and r["open_cache"]["hits"] < r["n"] * r["rounds"] - 10:
        raise RuntimeError(f"the loop in {bound} was not judged by the plan: open cache {r['open_cache']}")
    if not bound and r["open_cache"]["hits"]:
        raise RuntimeError(f"the loop outside any bound cgroup was judged: open cache {r['open_cache']}")
    return r


def applied_loop(g, cmd, out_dir, plan, bind_cg, in_cg):
    """The loop with the bundle of `out_dir` applied by `polc agent apply` and `plan`
    bound to `bind_cg`; the loop runs in `bind_cg` when `in_cg`, else where this
    script runs (a cgroup no plan is bound to). No reader of events runs: the hooks
    alone."""
    agent_apply(g, out_dir, plan, bind_cg)
    if in_cg:
        return counted_loop(in_cgroup(cmd, bind_cg), bind_cg)
    return counted_loop(cmd, None)


def med(v):
    """The median of `v`."""
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def paired_open(g, hb, target):
    """The open loop's overhead with bpf_stats off, each configuration between two
    baselines (module docstring). Returns (results, markdown lines)."""
    bench_dir = os.path.join(g.OUT, "bench")
    cmd = loops(g, hb, target)[0]
    set_stats(False)
    outs = {}
    for n in (1, 10000):
        outs[n] = f"/tmp/polc-vm/bench-paired-{n}"
        shutil.rmtree(outs[n], ignore_errors=True)
        subprocess.run([g.POLC, "compile", os.path.join(bench_dir, f"file-{n}.yaml"), "--target", "bpf-lsm",
                        "--out", outs[n]], stdout=subprocess.DEVNULL, check=True)
    bound, other = "/sys/fs/cgroup/polc-bench-bound", "/sys/fs/cgroup/polc-bench-other"

    def apply(n, in_cg):
        return lambda: applied_loop(g, cmd, outs[n], f"bench-file-{n}", bound if in_cg else other, in_cg)

    configs = [
        ("bare: empty BPF LSM programs on file_open and bprm_check_security", lambda: bare_loop(g, cmd)),
        ("polc's programs loaded (agent apply), loop outside any bound cgroup", apply(1, False)),
        ("policy of 1 rules, bound (agent apply; repeated opens: open cache hits)", apply(1, True)),
        ("policy of 10000 rules, bound (agent apply; open cache hits)", apply(10000, True)),
        ("policy of 10000 rules, bound, open cache off (every open decided in full; under polc exec, "
         "its event reader running)",
         lambda: run_under_polc(g, os.path.join(bench_dir, "file-10000.yaml"), cmd, extra=["--no-open-cache"])[0]),
    ]
    runs = {name: [] for name, _ in configs}
    try:
        detach_all(g)
        base = [run_direct(cmd)["median_ns"]]
        for rnd in range(PAIRED_ROUNDS):
            for name, fn in configs:
                g.say(f"bench: paired round {rnd + 1}/{PAIRED_ROUNDS}: {name}")
                x = fn()["median_ns"]
                detach_all(g)
                b = run_direct(cmd)["median_ns"]
                runs[name].append({"ns": x, "base_before": base[-1], "base_after": b,
                                   "ratio": x / ((base[-1] + b) / 2)})
                base.append(b)
    finally:
        for cg in (bound, other):
            try:
                os.rmdir(cg)
            except OSError:
                pass
        set_stats(True)
    lines = [
        f"Paired, kernel.bpf_stats_enabled=0: open+close of {target}, {OPEN_N} x {OPEN_ROUNDS} rounds "
        f"(median ns/op), each configuration between two baseline loops with no program attached, "
        f"{PAIRED_ROUNDS} times; ratio to the mean of its two baselines. Baselines: "
        f"{min(base):.0f}-{max(base):.0f} ns/op over {len(base)} runs.",
        "",
        "| configuration | ns/op | ratio, median | ratios, each round | overhead above bare, median |",
        "|---|---|---|---|---|",
    ]

    bare = med([r["ratio"] for r in runs[configs[0][0]]])
    for name, _ in configs:
        rs = [r["ratio"] for r in runs[name]]
        above = "-" if name == configs[0][0] else f"{100 * (med(rs) - bare):+.1f} points"
        lines.append(f"| {name} | {med([r['ns'] for r in runs[name]]):.0f} | {med(rs):.3f} | "
                     + ", ".join(f"{x:.3f}" for x in rs) + f" | {above} |")
    lines.append("")
    return {"baselines": base, "runs": runs}, lines


HOST_PIN = "/sys/fs/bpf/polc/maps/polc_host"
HOST_OPEN_CACHE_LOCKED = 2  # POLC_HOST_OPEN_CACHE_LOCKED (ebpf-lsm/include/polc_abi.h)
HOST_FLAGS_OFFSET = 16  # struct polc_host.flags
LOCK_AB_ROUNDS = 6


def set_host_flag(flag, on):
    """Set or clear `flag` in polc_host.flags with bpftool (the agent never sets
    POLC_HOST_OPEN_CACHE_LOCKED)."""
    key = ["key", "0", "0", "0", "0"]
    p = subprocess.run([BPFTOOL, "-j", "map", "lookup", "pinned", HOST_PIN, *key], stdout=subprocess.PIPE, check=True)
    value = bytearray(int(x, 16) for x in json.loads(p.stdout)["value"])
    flags = int.from_bytes(value[HOST_FLAGS_OFFSET:HOST_FLAGS_OFFSET + 4], "little")
    flags = flags | flag if on else flags & ~flag
    value[HOST_FLAGS_OFFSET:HOST_FLAGS_OFFSET + 4] = flags.to_bytes(4, "little")
    subprocess.run([BPFTOOL, "map", "update", "pinned", HOST_PIN, *key, "value", *(f"0x{b:02x}" for b in value)],
                   check=True)


def lock_ab(g, hb, target):
    """The open cache's hit read without its lock (x86) against the read under the
    lock, in one boot: a 1-rule policy applied and bound once, the open loop run in
    its cgroup LOCK_AB_ROUNDS times per read, alternating (the order flipped every
    round), with POLC_HOST_OPEN_CACHE_LOCKED set or cleared with bpftool before each
    loop. bpf_stats on: polc_file_open's run time per open is the figure; every
    repeated open must be a hit. Returns (results, markdown lines)."""
    bench_dir = os.path.join(g.OUT, "bench")
    cmd = loops(g, hb, target)[0]
    out = "/tmp/polc-vm/bench-lock-1"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([g.POLC, "compile", os.path.join(bench_dir, "file-1.yaml"), "--target", "bpf-lsm", "--out", out],
                   stdout=subprocess.DEVNULL, check=True)
    bound = "/sys/fs/cgroup/polc-bench-lock"
    modes = (("without the lock", False), ("under the lock", True))
    res = {name: [] for name, _ in modes}
    set_stats(True)
    detach_all(g)
    try:
        agent_apply(g, out, "bench-file-1", bound)
        in_cg = in_cgroup(cmd, bound)
        for rnd in range(LOCK_AB_ROUNDS):
            for name, locked in (modes if rnd % 2 == 0 else modes[::-1]):
                g.say(f"bench: lock round {rnd + 1}/{LOCK_AB_ROUNDS}: hits read {name}")
                set_host_flag(HOST_OPEN_CACHE_LOCKED, locked)
                s0 = snapshot()
                r = counted_loop(in_cg, bound)
                s1 = snapshot()
                ns, runs = per_op(s0, s1, "polc_file_open", r)
                res[name].append({"prog_ns_per_open": ns, "runs_per_open": runs, "loop_ns": r["median_ns"],
                                  "hits": r["open_cache"]["hits"]})
    finally:
        try:
            set_host_flag(HOST_OPEN_CACHE_LOCKED, False)
        except (subprocess.CalledProcessError, OSError, ValueError, KeyError):
            pass
        detach_all(g)
        try:
            os.rmdir(bound)
        except OSError:
            pass

    free, locked = (res[name] for name, _ in modes)
    ratios = [b["prog_ns_per_open"] / a["prog_ns_per_open"] for a, b in zip(free, locked)]
    lines = [
        f"Open cache hits read without and under the entry's lock (POLC_HOST_OPEN_CACHE_LOCKED), one policy "
        f"applied once, bound; open+close of {target} in its cgroup, {OPEN_N} x {OPEN_ROUNDS} per loop, "
        f"{LOCK_AB_ROUNDS} rounds alternating (order flipped each round), kernel.bpf_stats_enabled=1; "
        f"polc_file_open's run time per open ({med([x['runs_per_open'] for v in res.values() for x in v]):.2f} "
        "runs of it per open):",
        "",
        "| hits read | polc_file_open per open, median | each round | loop ns/op, median |",
        "|---|---|---|---|",
    ]
    for name, _ in modes:
        v = [x["prog_ns_per_open"] for x in res[name]]
        lines.append(f"| {name} | {med(v):.0f} ns | " + ", ".join(f"{x:.0f}" for x in v)
                     + f" | {med([x['loop_ns'] for x in res[name]]):.0f} |")
    lines += ["", "under the lock / without it, each round: " + ", ".join(f"{x:.3f}" for x in ratios)
              + f" (median {med(ratios):.3f})", ""]
    return res, lines


CACHE_STAT_PIN = "/sys/fs/bpf/polc/maps/polc_cache_stat"
CACHE_STAT_KEYS = ("hits", "stale", "full")


def cache_stats(text):
    """`bpftool -j map dump` of polc_cache_stat -> {hits, stale, full}, summed over CPUs."""
    out = dict.fromkeys(CACHE_STAT_KEYS, 0)
    for e in json.loads(text):
        key = e.get("key")
        if isinstance(key, list):  # raw bytes, as hex strings
            key = int.from_bytes(bytes(int(b, 16) for b in key), "little")
        if not isinstance(key, int) or key >= len(CACHE_STAT_KEYS):
            continue
        total = 0
        for v in e.get("values", []):
            val = v.get("value")
            if isinstance(val, list):
                val = int.from_bytes(bytes(int(b, 16) for b in val), "little")
            total += int(val)
        out[CACHE_STAT_KEYS[key]] = total
    return out


def parse(line):
    """`open n=.. rounds=.. median_ns=x min_ns=y` -> dict."""
    parts = line.split()
    d = {"op": parts[0]}
    for p in parts[1:]:
        k, v = p.split("=", 1)
        d[k] = float(v)
    return d


def loops(g, hb, target):
    return [
        [hb, "open", str(OPEN_N), str(OPEN_ROUNDS), target],
        [hb, "exec", str(EXEC_N), str(EXEC_ROUNDS)],
    ]


def run_direct(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    return parse(p.stdout.decode().strip().splitlines()[-1])


def run_under_polc(g, policy, cmd, extra=()):
    """Run the loop under polc exec (with `extra` arguments); the loop's line goes to a
    file, so a polc exec that does not exit after the loop (reported as a hang) still
    yields the figure."""
    res = os.path.join(g.OUT, "bench-loop.txt")
    if os.path.exists(res):
        os.remove(res)
    sb, sa = os.path.join(g.OUT, "stats-before.json"), os.path.join(g.OUT, "stats-after.json")
    cb, ca = os.path.join(g.OUT, "cache-before.json"), os.path.join(g.OUT, "cache-after.json")
    dump = f"{BPFTOOL} -j map dump pinned {CACHE_STAT_PIN}"
    script = (f"{dump} > {cb}; {BPFTOOL} -j prog show > {sb}; " + " ".join(cmd)
              + f" > {res}.tmp; {BPFTOOL} -j prog show > {sa}; {dump} > {ca}; mv {res}.tmp {res}")
    argv = [g.POLC, "exec", "--policy", policy, "--events", "json", *extra, "--", "/bin/sh", "-c", script]

    def done():
        try:
            with open(res, encoding="utf-8") as f:
                return any(l.startswith(("open ", "open-renaming ", "exec ")) for l in f)
        except OSError:
            return False

    t0 = time.monotonic()
    rc, out, err = g.run_bounded(argv, timeout=1200, done=done)
    err = err.decode(errors="replace")
    g.log(f"bench: {' '.join(argv)} -> rc={rc} in {time.monotonic() - t0:.1f}s\n{err}")
    if rc not in (0, None):
        raise RuntimeError(f"polc exec --policy {policy} -- {' '.join(cmd)} failed ({rc}): {g.tail(err)}")
    lines = []
    if os.path.exists(res):
        with open(res, encoding="utf-8") as f:
            lines = [l for l in f if l.startswith(("open ", "open-renaming ", "exec "))]
    if not lines:
        raise RuntimeError(f"no hookbench line from the loop under polc exec --policy {policy}")
    r = parse(lines[-1])
    with open(sb, encoding="utf-8") as f:
        before = prog_stats(f.read())
    with open(sa, encoding="utf-8") as f:
        after = prog_stats(f.read())
    add_prog(r, before, after)
    with open(cb, encoding="utf-8") as f:
        c0 = cache_stats(f.read())
    with open(ca, encoding="utf-8") as f:
        c1 = cache_stats(f.read())
    r["open_cache"] = {k: c1[k] - c0[k] for k in c1}
    return r, time.monotonic() - t0


EVENTS_N, EVENTS_ROUNDS = 50000, 1

EVENTS_POLICY = """apiVersion: polc.dev/v1alpha1
kind: PreventionPolicy
metadata:
  name: vm-bench-events
  namespace: polc-vm
spec:
  selector:
    matchLabels:
      app: vm-bench
  file:
    - name: audit-bench
      action: Audit
      access: [Read]
      paths:
        - {path}
"""


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def agent_drops(g):
    p = subprocess.run([g.POLC, "agent", "status", "--format", "json"], stdout=subprocess.PIPE, check=True)
    return json.loads(p.stdout)["dropped_events"] or 0


def events_throughput(g, hb):
    """Kernel events -> ring buffer -> `polc agent events` -> JSON records."""
    d = "/tmp/polc-vm/bench-events"
    os.makedirs(d, exist_ok=True)
    target = f"{d}/audited.txt"
    with open(target, "w", encoding="utf-8") as f:
        f.write("x\n")
    with open(f"{d}/audit.yaml", "w", encoding="utf-8") as f:
        f.write(EVENTS_POLICY.format(path=target))
    subprocess.run([g.POLC, "compile", f"{d}/audit.yaml", "--target", "bpf-lsm", "--out", f"{d}/out"],
                   stdout=subprocess.DEVNULL, check=True)
    cg = "/sys/fs/cgroup/polc-bench-events"
    os.makedirs(cg, exist_ok=True)
    subprocess.run([g.POLC, "agent", "apply", f"{d}/out", "--bind", f"vm-bench-events={cg}"],
                   stdout=subprocess.DEVNULL, check=True)
    # Drain what earlier cases left in the ring buffer, so the count below is the loop's.
    drain = subprocess.Popen([g.POLC, "agent", "events", "--audit-log", "/dev/null"], stderr=subprocess.PIPE)
    drain.stderr.readline()
    time.sleep(1.0)
    drain.send_signal(signal.SIGTERM)
    drain.communicate(timeout=120)
    reader = subprocess.Popen([g.POLC, "agent", "events", "--audit-log", "/dev/null"], stderr=subprocess.PIPE)
    try:
        line = reader.stderr.readline()
        if b"reading events" not in line:
            raise RuntimeError(f"polc agent events did not start: {line!r}")
        drops0 = agent_drops(g)
        cpu0, t0 = cpu_seconds(reader.pid), time.monotonic()
        loop = subprocess.run(
            ["/bin/sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec "$@"', "sh", hb, "open", str(EVENTS_N),
             str(EVENTS_ROUNDS), target],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, timeout=1200,
        )
        if loop.returncode != 0:
            raise RuntimeError(f"the audited loop failed: {loop.stderr.decode(errors='replace')}")
        loop_s = time.monotonic() - t0
        # Let the reader drain what is left, then stop it and read its count.
        time.sleep(2.0)
        cpu = cpu_seconds(reader.pid) - cpu0
        wall = time.monotonic() - t0
        reader.send_signal(signal.SIGTERM)
        _, err = reader.communicate(timeout=120)
        err = line.decode(errors="replace") + err.decode(errors="replace")
        m = re.search(r"(\d+) violation records written", err)
        if not m:
            raise RuntimeError(f"polc agent events did not say how many records it wrote: {err!r}")
        written = int(m.group(1))
        drops = agent_drops(g) - drops0
    finally:
        if reader.poll() is None:
            reader.kill()
        subprocess.run([g.POLC, "agent", "unload", "--all"], stdout=subprocess.DEVNULL, check=False)
        try:
            os.rmdir(cg)
        except OSError:
            pass
    # The same decode + JSON work without the kernel, on the same emulated CPU.
    eb = subprocess.run([os.path.join(g.OUT, "eventsbench"), "20000"], stdout=subprocess.PIPE, check=True, timeout=900)
    g.log(f"bench eventsbench:\n{eb.stdout.decode(errors='replace')}")
    m = re.search(r"decode \+ JSON line:\s+(\d+) events/s", eb.stdout.decode(errors="replace"))
    json_rate = int(m.group(1)) if m else None
    made = EVENTS_N * EVENTS_ROUNDS
    r = {
        "events_made": made, "records_written": written, "dropped": drops, "loop_s": loop_s,
        "reader_cpu_s": cpu, "wall_s": wall,
        "records_per_cpu_s": written / cpu if cpu > 0 else None,
        "records_per_wall_s": written / loop_s if loop_s > 0 else None,
        "decode_json_bench_per_s": json_rate,
    }
    share = "-"
    if json_rate and r["records_per_cpu_s"]:
        share = f"{r['records_per_cpu_s'] / json_rate:.2f}"
    g.log(f"bench events: {r}")
    lines = [
        "",
        f"Events: {made} audited opens in a cgroup bound with `polc agent apply`, read by `polc agent events` "
        "(JSON lines to /dev/null):",
        "",
        "| events made | records written | dropped (kernel counter) | loop s | reader CPU s | records / reader CPU s | records / loop wall s | decode+JSON bench in this VM, /s | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {made} | {written} | {drops} | {loop_s:.1f} | {cpu:.2f} | "
        + ("-" if r["records_per_cpu_s"] is None else f"{r['records_per_cpu_s']:.0f}")
        + f" | {r['records_per_wall_s']:.0f} | {json_rate or '-'} | {share} |",
        "",
        "ratio: records per reader CPU second over the benchmark's decode + JSON rate in the same boot "
        "(1.00 = the ring buffer path costs the reader nothing beyond decoding and formatting).",
    ]
    return r, lines


def bench_target():
    """The file the open loops open (written afresh)."""
    target = "/tmp/polc-vm/bench-target.txt"
    with open(target, "w", encoding="utf-8") as f:
        f.write("x\n")
    return target


def run(g, only=None):
    hb = os.path.join(g.OUT, "hookbench")
    if only in ("events", "locks"):
        if only == "events":
            r, lines = events_throughput(g, hb)
        else:
            r, lines = lock_ab(g, hb, bench_target())
        text = "\n".join(lines) + "\n"
        with open(os.path.join(g.OUT, "bench.txt"), "w", encoding="utf-8") as f:
            f.write(text)
        with open(os.path.join(g.OUT, "bench.json"), "w", encoding="utf-8") as f:
            json.dump({only: r}, f, indent=1)
        for l in lines:
            g.say(l)
        return
    bench_dir = os.path.join(g.OUT, "bench")
    target = bench_target()
    fstype = subprocess.run(["stat", "-f", "-c", "%T", target], stdout=subprocess.PIPE, check=False).stdout.decode().strip()
    paired, paired_lines = paired_open(g, hb, target)
    for l in paired_lines:
        g.say(l)
    locks, lock_lines = lock_ab(g, hb, target)
    for l in lock_lines:
        g.say(l)
    # In-kernel run time of each program (run_time_ns / run_cnt, as bpftool shows
    # them): the hook's own cost per call, without the loop timing's noise.
    set_stats(True)
    detach_all(g)
    g.say("bench: baseline")
    rows = {}
    base1 = [run_direct(c) for c in loops(g, hb, target)]

    # Programs loaded, the loop in no bound cgroup: a 1-rule policy holds the programs
    # (bound to a shell that waits for a marker) while the loop runs outside.
    g.say("bench: outside any bound cgroup")

    def outside_loops():
        out = []
        for c in loops(g, hb, target):
            before = snapshot()
            r = run_direct(c)
            after = snapshot()
            add_prog(r, before, after)
            out.append(r)
        return out

    outside = with_holder(g, outside_loops)
    rows["outside"] = outside

    compile_s = {}
    for n in TIERS:
        g.say(f"bench: {n} rules")
        o, to = run_under_polc(g, os.path.join(bench_dir, f"file-{n}.yaml"), loops(g, hb, target)[0])
        e, te = run_under_polc(g, os.path.join(bench_dir, f"process-{n}.yaml"), loops(g, hb, target)[1])
        rows[f"{n} rules"] = [o, e]
        compile_s[n] = (to, te)

    # The same open loops with every open decided in full (the open cache off): the
    # cost of a first open of an inode, or of one after a rename, link, unlink or
    # mount change on the node.
    for n in TIERS:
        g.say(f"bench: {n} rules, open cache off")
        o, to = run_under_polc(g, os.path.join(bench_dir, f"file-{n}.yaml"), loops(g, hb, target)[0],
                               extra=["--no-open-cache"])
        rows[f"{n} rules, open cache off"] = [o, None]
    # With the cache on, but a rename before every open: each entry is stale, so each
    # open pays the full decision plus the cache's own work (snapshot, lookup, store).
    ra, rb = "/tmp/polc-vm/bench-rename-a", "/tmp/polc-vm/bench-rename-b"
    for n in TIERS:
        for p in (ra, rb):
            if os.path.exists(p):
                os.remove(p)
        with open(ra, "w", encoding="utf-8"):
            pass
        cmd = [hb, "open-renaming", str(OPEN_N), str(OPEN_ROUNDS), target, ra, rb]
        # The same loop with the cache off: the renames cool the CPU's (and QEMU's)
        # caches before every open, so only this row compares with the one above.
        for label, extra in (("", []), (", open cache off", ["--no-open-cache"])):
            g.say(f"bench: {n} rules, a rename before every open{label}")
            o, to = run_under_polc(g, os.path.join(bench_dir, f"file-{n}.yaml"), cmd, extra=extra)
            rows[f"{n} rules, a rename before every open{label}"] = [o, None]

    g.say("bench: baseline again")
    detach_all(g)
    base2 = [run_direct(c) for c in loops(g, hb, target)]
    base = [(a["median_ns"] + b["median_ns"]) / 2 for a, b in zip(base1, base2)]

    lines = paired_lines + lock_lines + [
        f"kernel.bpf_stats_enabled=1 from here on. open+close of {target} ({fstype}): {OPEN_N} x {OPEN_ROUNDS} rounds; "
        f"fork+exec /usr/bin/true: {EXEC_N} x {EXEC_ROUNDS} rounds; "
        "median ns/op, ratio to the mean of the first and last baselines",
        "",
        "| configuration | open+close ns/op | ratio | fork+exec ns/op | ratio |",
        "|---|---|---|---|---|",
        f"| baseline (first) | {base1[0]['median_ns']:.0f} | {base1[0]['median_ns'] / base[0]:.3f} "
        f"| {base1[1]['median_ns']:.0f} | {base1[1]['median_ns'] / base[1]:.3f} |",
        f"| baseline (last) | {base2[0]['median_ns']:.0f} | {base2[0]['median_ns'] / base[0]:.3f} "
        f"| {base2[1]['median_ns']:.0f} | {base2[1]['median_ns'] / base[1]:.3f} |",
    ]
    for name, (o, e) in rows.items():
        label = "programs loaded, loop outside any bound cgroup" if name == "outside" else f"policy of {name}, bound"
        exec_cols = "- | -" if e is None else f"{e['median_ns']:.0f} | {e['median_ns'] / base[1]:.3f}"
        lines.append(f"| {label} | {o['median_ns']:.0f} | {o['median_ns'] / base[0]:.3f} | {exec_cols} |")

    def fmt(v, b):
        return "-" if v is None else f"{v:.0f} ns ({100 * v / b:.2f}% of an op)"

    lines += [
        "",
        "In-kernel run time per op of the loop (bpftool run_time_ns between two snapshots / the "
        "loop's ops, kernel.bpf_stats_enabled=1; runs: the program's run_cnt per op, 2 for an open "
        "of a file on overlayfs), as a share of the mean baseline op, and as a multiple of the same "
        "program's time outside bound cgroups (which compares boots whose host speed differs); "
        "per run: run_time_ns / run_cnt:",
        "",
        "| configuration | polc_file_open per open | runs | per run | x outside | polc_bprm_check per exec | runs | x outside |",
        "|---|---|---|---|---|---|---|---|",
    ]
    out_open = rows["outside"][0]["prog_op"]["polc_file_open"][0]
    out_exec = rows["outside"][1]["prog_op"]["polc_bprm_check"][0]

    def times(v, ref):
        return "-" if v is None or not ref else f"{v / ref:.2f}"

    def runs(v):
        return "-" if v is None else f"{v:.2f}"

    for name, (o, e) in rows.items():
        label = "outside any bound cgroup" if name == "outside" else f"policy of {name}, bound"
        vo, co = o["prog_op"]["polc_file_open"]
        ve, ce = (None, None) if e is None else e["prog_op"]["polc_bprm_check"]
        pr = o["prog_ns"]["polc_file_open"]
        lines.append(
            f"| {label} | {fmt(vo, base[0])} | {runs(co)} | {'-' if pr is None else f'{pr:.0f} ns'} "
            f"| {times(vo, out_open)} | {fmt(ve, base[1])} | {runs(ce)} | {times(ve, out_exec)} |"
        )
    lines += ["", "Other polc programs that ran during each loop (ns and runs per op of the loop):", ""]
    for name, pair in rows.items():
        for r in pair:
            if r is not None and r.get("other_op"):
                lines.append(f"- {name}, {r['op']}: " + ", ".join(
                    f"{p} {v:.0f} ns / {c:.2f} runs" for p, (v, c) in r["other_op"].items() if v is not None))
    lines += ["", "Open cache during each bound open loop (polc_cache_stat): opens let through from it, stale entries, not kept:", ""]
    for name, (o, _) in rows.items():
        oc = o.get("open_cache")
        if oc is not None:
            lines.append(f"- {name}: {oc['hits']} hits, {oc['stale']} stale, {oc['full']} full")
    lines.append("")
    lines.append(
        "wall time of each `polc exec` (lint + compile + load + loop), open / exec policy: "
        + ", ".join(f"{n} rules {a:.0f} s / {b:.0f} s" for n, (a, b) in compile_s.items())
    )
    g.say("bench: events through the ring buffer")
    ev, ev_lines = events_throughput(g, hb)
    lines += ev_lines
    text = "\n".join(lines) + "\n"
    with open(os.path.join(g.OUT, "bench.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(g.OUT, "bench.json"), "w", encoding="utf-8") as f:
        json.dump({"paired": paired, "locks": locks, "baseline": [base1, base2], "rows": rows, "polc_exec_seconds": compile_s,
                   "events": ev}, f, indent=1)
    for l in lines:
        g.say(l)
