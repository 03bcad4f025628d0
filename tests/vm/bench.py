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
Writes OUT/bench.txt (a markdown table) and OUT/bench.json.
"""

import json
import os
import subprocess
import time

OPEN_N, OPEN_ROUNDS = 20000, 3
EXEC_N, EXEC_ROUNDS = 50, 3
TIERS = (1, 1000, 10000)


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


def run_under_polc(g, policy, cmd):
    """Run the loop under polc exec; the loop's line goes to a file, so a polc exec that
    does not exit after the loop (reported as a hang) still yields the figure."""
    res = os.path.join(g.OUT, "bench-loop.txt")
    if os.path.exists(res):
        os.remove(res)
    argv = [g.POLC, "exec", "--policy", policy, "--events", "json", "--", "/bin/sh", "-c", " ".join(cmd) + f" > {res}"]

    def done():
        try:
            with open(res, encoding="utf-8") as f:
                return any(l.startswith(("open ", "exec ")) for l in f)
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
            lines = [l for l in f if l.startswith(("open ", "exec "))]
    if not lines:
        raise RuntimeError(f"no hookbench line from the loop under polc exec --policy {policy}")
    return parse(lines[-1]), time.monotonic() - t0


def run(g):
    hb = os.path.join(g.OUT, "hookbench")
    bench_dir = os.path.join(g.OUT, "bench")
    target = "/tmp/polc-vm/bench-target.txt"
    with open(target, "w", encoding="utf-8") as f:
        f.write("x\n")
    g.say("bench: baseline")
    rows = {}
    base1 = [run_direct(c) for c in loops(g, hb, target)]

    # Programs loaded, the loop in no bound cgroup: a 1-rule policy holds the programs
    # (bound to a shell that waits for a marker) while the loop runs outside.
    g.say("bench: outside any bound cgroup")
    ready, stop = "/tmp/polc-vm/bench-ready", "/tmp/polc-vm/bench-stop"
    for m in (ready, stop):
        if os.path.exists(m):
            os.remove(m)
    holder = subprocess.Popen(
        [g.POLC, "exec", "--policy", os.path.join(bench_dir, "file-1.yaml"), "--", "/bin/sh", "-c",
         f"touch {ready}; while [ ! -e {stop} ]; do sleep 0.2; done"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        t0 = time.monotonic()
        while not os.path.exists(ready):
            if holder.poll() is not None or time.monotonic() - t0 > 600:
                raise RuntimeError(f"the holder polc exec did not start: {g.tail(holder.stderr.read().decode())}")
            time.sleep(0.1)
        outside = [run_direct(c) for c in loops(g, hb, target)]
    finally:
        with open(stop, "w", encoding="utf-8"):
            pass
        try:
            holder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            holder.kill()
            g.HANGS.append("the holder polc exec did not exit 60 s after its command was told to stop")
    rows["outside"] = outside

    compile_s = {}
    for n in TIERS:
        g.say(f"bench: {n} rules")
        o, to = run_under_polc(g, os.path.join(bench_dir, f"file-{n}.yaml"), loops(g, hb, target)[0])
        e, te = run_under_polc(g, os.path.join(bench_dir, f"process-{n}.yaml"), loops(g, hb, target)[1])
        rows[f"{n} rules"] = [o, e]
        compile_s[n] = (to, te)

    g.say("bench: baseline again")
    base2 = [run_direct(c) for c in loops(g, hb, target)]
    base = [(a["median_ns"] + b["median_ns"]) / 2 for a, b in zip(base1, base2)]

    lines = [
        f"open+close: {OPEN_N} x {OPEN_ROUNDS} rounds; fork+exec /usr/bin/true: {EXEC_N} x {EXEC_ROUNDS} rounds; "
        "median ns/op, ratio to the mean baseline",
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
        lines.append(
            f"| {label} | {o['median_ns']:.0f} | {o['median_ns'] / base[0]:.3f} "
            f"| {e['median_ns']:.0f} | {e['median_ns'] / base[1]:.3f} |"
        )
    lines.append("")
    lines.append(
        "wall time of each `polc exec` (lint + compile + load + loop), open / exec policy: "
        + ", ".join(f"{n} rules {a:.0f} s / {b:.0f} s" for n, (a, b) in compile_s.items())
    )
    text = "\n".join(lines) + "\n"
    with open(os.path.join(g.OUT, "bench.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(g.OUT, "bench.json"), "w", encoding="utf-8") as f:
        json.dump({"baseline": [base1, base2], "rows": rows, "polc_exec_seconds": compile_s}, f, indent=1)
    for l in lines:
        g.say(l)
