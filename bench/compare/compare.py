#!/usr/bin/env python3
"""Side by side with Dask: the same workloads on Sematic (e2e_bench) and on Dask distributed.

  make bench-compare                                  # builds Release, installs Dask, runs this
  /usr/bin/python3 bench/compare/compare.py --e2e-bench build-bench/bench/e2e_bench [--smoke]

Standard library only. For each round and each workload it runs our side, then Dask's (A B A B),
each time on a fresh cluster with the same sizes, busy time and worker count:

  ours  e2e_bench --workloads=W --json: sematic-scheduler (RocksDB, WAL on, no fsync) and
        --workers sematic-worker processes (1 cpu each) on 127.0.0.1
  Dask  the project's shared reference script ../shared/bench/dask_baseline.py (from the
        repository root; --dask-script to point elsewhere), run in place with /usr/bin/python3
        (Debian's python3-distributed): a LocalCluster of --workers processes, 1 thread each

Both print one JSON object per workload with its wall time in "seconds". The table shows the
median over the rounds of each side, the ratio Dask / ours (above 1: ours is faster), and our
scheduler's peak RSS (largest over the rounds) and CPU time per task (its utime + stime during
the job / the runs it recorded, median). Timings are only reported, never asserted.

Exit codes: 0 done; 1 a run failed; 77 skipped (--smoke without Dask or its reference script).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SKIP = 77
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DASK_SCRIPT = os.path.join(os.path.dirname(REPO), "shared", "bench", "dask_baseline.py")
WORKLOADS = ("fanout", "chain", "sweep")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def json_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def run(argv, timeout):
    """Runs argv; returns its JSON lines, or raises RuntimeError with its output."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"timed out after {timeout} s: {' '.join(argv)}")
    if p.returncode != 0:
        raise RuntimeError(f"exit code {p.returncode}: {' '.join(argv)}\n{p.stdout}{p.stderr}")
    results = json_lines(p.stdout)
    if not results:
        raise RuntimeError(f"no JSON result from: {' '.join(argv)}\n{p.stdout}{p.stderr}")
    return results[-1]


def dask_available(python):
    try:
        return subprocess.run([python, "-c", "import distributed"], capture_output=True,
                              timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def fmt_seconds(s):
    return f"{s:.3f} s" if s >= 0.1 else f"{s * 1000:.1f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--e2e-bench", default=os.path.join(REPO, "build-bench", "bench", "e2e_bench"))
    ap.add_argument("--dask-script", default=DEFAULT_DASK_SCRIPT)
    ap.add_argument("--python", default="/usr/bin/python3", help="the python with Dask")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--fanout", type=int, default=10000)
    ap.add_argument("--chain", type=int, default=1000)
    ap.add_argument("--sweep", type=int, default=1000)
    ap.add_argument("--busy-ms", type=float, default=1.0)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes, 1 round (fan-out 200, chain 50, sweep 20)")
    a = ap.parse_args()
    if a.smoke:
        a.rounds, a.fanout, a.chain, a.sweep = 1, 200, 50, 20
    workloads = [w for w in a.workloads.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            sys.exit(f"unknown workload {w} ({', '.join(WORKLOADS)})")
    busy_micros = round(a.busy_ms * 1000)
    sizes = {"fanout": a.fanout, "chain": a.chain, "sweep": a.sweep}

    if not os.access(a.e2e_bench, os.X_OK):
        sys.exit(f"no e2e_bench at {a.e2e_bench} (build it: make bench-compare)")
    missing = None
    if not os.path.isfile(a.dask_script):
        missing = f"no Dask reference script at {a.dask_script}"
    elif not dask_available(a.python):
        missing = f"{a.python} cannot import distributed (deploy/install_deps.sh --bench)"
    if missing:
        if a.smoke:
            print(f"SKIPPED: {missing}", flush=True)
            return SKIP
        sys.exit(f"error: {missing}")

    log(f"bench-compare: {a.rounds} rounds; fanout {a.fanout}, chain {a.chain}, sweep {a.sweep} "
        f"x {a.busy_ms:g} ms; {a.workers} workers; load average {loadavg()}")
    ours = {w: [] for w in workloads}
    dask = {w: [] for w in workloads}
    for r in range(1, a.rounds + 1):
        for w in workloads:
            ours_argv = [a.e2e_bench, "--json", f"--workloads={w}", f"--workers={a.workers}",
                         "--worker_cpus=1", f"--fanout={a.fanout}", f"--chain={a.chain}",
                         f"--sweep_points={a.sweep}", f"--busy_micros={busy_micros}"]
            dask_argv = [a.python, a.dask_script, f"--workloads={w}", f"--workers={a.workers}",
                         "--threads-per-worker=1", f"--fanout={a.fanout}", f"--chain={a.chain}",
                         f"--sweep={a.sweep}", f"--busy-ms={a.busy_ms:g}"]
            for name, argv, into in (("ours", ours_argv, ours), ("dask", dask_argv, dask)):
                try:
                    res = run(argv, a.timeout)
                except RuntimeError as e:
                    log(f"error: {name} {w}: {e}")
                    return 1
                if res.get("workload") != w or res.get("n") != sizes[w]:
                    log(f"error: {name} {w}: unexpected result {res}")
                    return 1
                into[w].append(res)
                log(f"  round {r} {w:<6} {name:<4} {fmt_seconds(res['seconds']):>10}  "
                    f"(load {loadavg()})")

    print()
    print(f"Sematic vs Dask: median of {a.rounds} round(s), {a.workers} workers each; "
          f"sweep busy {a.busy_ms:g} ms; Dask/ours > 1 means ours is faster")
    header = ("workload", "n", "ours (median)", "Dask (median)", "Dask/ours",
              "our sched. peak RSS", "our sched. CPU/task")
    rows = []
    for w in workloads:
        o = statistics.median(x["seconds"] for x in ours[w])
        d = statistics.median(x["seconds"] for x in dask[w])
        rss = max(x["scheduler_peak_rss_mib"] for x in ours[w])
        cpu = statistics.median(x["scheduler_cpu_us_per_run"] for x in ours[w])
        o_txt, d_txt = fmt_seconds(o), fmt_seconds(d)
        if w == "chain":
            o_txt += f" ({o / sizes[w] * 1e6:.0f} µs/hop)"
            d_txt += f" ({d / sizes[w] * 1e6:.0f} µs/hop)"
        else:
            o_txt += f" ({sizes[w] / o:,.0f}/s)"
            d_txt += f" ({sizes[w] / d:,.0f}/s)"
        rows.append((w, str(sizes[w]), o_txt, d_txt, f"{d / o:.1f}x", f"{rss:.0f} MiB",
                     f"{cpu:.0f} µs"))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(widths[i]) for i, h in enumerate(header)) + " |")
    print("|" + "|".join("-" * (wd + 2) for wd in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(row)) + " |")
    print(f"load average at the end: {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
