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
the job / the runs it recorded, median).

A second table, "ours alone", has the issue's workloads that Dask does not run, each --rounds
times on a fresh e2e_bench: the registration latency of a sub-graph of --subgraph children, a
--artifact-mib artifact uploaded and downloaded (MB/s each way), a fan-out of --sync-fanout on a
scheduler started with --sync, and with --full a fan-out of --big-fanout (1M) steps with the
scheduler's peak RSS. Each figure is shown beside its target as met or missed; timings are only
reported, never asserted.

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
ALONE_WORKLOADS = ("subgraph", "artifact", "sync", "fanout1m")
MIB = 1 << 20


def median_of(key):
    return lambda results: statistics.median(r[key] for r in results)


def max_of(key):
    return lambda results: max(r[key] for r in results)


# The "ours alone" rows: (workload, figure, summary over the rounds, format, target, met).
# Targets are the (docs/benchmarks.md); None where it sets none.
ALONE_ROWS = (
    ("subgraph", "registration: graph built -> first child dispatched", median_of("registration_ms"),
     "{:.1f} ms", None, None),
    ("subgraph", "first child's result recorded (incl. the commit)", median_of("first_result_ms"),
     "{:.1f} ms", None, None),
    ("artifact", "upload", median_of("upload_mb_per_s"), "{:,.0f} MB/s", ">= 1,000 MB/s",
     lambda v: v >= 1000),
    ("artifact", "download", median_of("download_mb_per_s"), "{:,.0f} MB/s", ">= 1,000 MB/s",
     lambda v: v >= 1000),
    ("sync", "fan-out throughput, scheduler --sync", median_of("tasks_per_s"), "{:,.0f} steps/s",
     ">= 20,000 steps/s", lambda v: v >= 20000),
    ("fanout1m", "fan-out throughput", median_of("tasks_per_s"), "{:,.0f} steps/s", None, None),
    ("fanout1m", "scheduler peak RSS (largest)", max_of("scheduler_peak_rss_mib"), "{:,.0f} MiB",
     "<= 1,536 MiB (1.5 GiB)", lambda v: v <= 1536),
)


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


def run_workload(system, workload, n, argv, timeout):
    """Runs one job of `workload` (size n); its JSON result, or None after logging why not."""
    try:
        res = run(argv, timeout)
    except RuntimeError as e:
        log(f"error: {system} {workload}: {e}")
        return None
    if res.get("workload") != workload or res.get("n") != n:
        log(f"error: {system} {workload}: unexpected result {res}")
        return None
    return res


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
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="side by side with Dask")
    ap.add_argument("--alone", default="subgraph,artifact,sync",
                    help=f"ours alone, of {','.join(ALONE_WORKLOADS)} (--full adds fanout1m)")
    ap.add_argument("--full", action="store_true", help="also the 1M-step fan-out (minutes)")
    ap.add_argument("--subgraph", type=int, default=10000, help="children of the sub-graph")
    ap.add_argument("--artifact-mib", type=int, default=1024)
    ap.add_argument("--sync-fanout", type=int, default=100000)
    ap.add_argument("--big-fanout", type=int, default=1000000)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes, 1 round, every workload (fan-out 200, chain 50, sweep 20; "
                         "ours alone: sub-graph 100, artifact 4 MiB, fan-outs 200 and 1000)")
    a = ap.parse_args()
    if a.smoke:
        a.rounds, a.fanout, a.chain, a.sweep = 1, 200, 50, 20
        a.subgraph, a.artifact_mib, a.sync_fanout, a.big_fanout = 100, 4, 200, 1000
        a.full = True
    workloads = [w for w in a.workloads.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            sys.exit(f"unknown workload {w} ({', '.join(WORKLOADS)})")
    alone = [w for w in a.alone.split(",") if w]
    if a.full and "fanout1m" not in alone:
        alone.append("fanout1m")
    for w in alone:
        if w not in ALONE_WORKLOADS:
            sys.exit(f"unknown workload {w} ({', '.join(ALONE_WORKLOADS)})")
    sizes = {"fanout": a.fanout, "chain": a.chain, "sweep": a.sweep, "subgraph": a.subgraph,
             "artifact": a.artifact_mib * MIB, "sync": a.sync_fanout, "fanout1m": a.big_fanout}

    if not os.access(a.e2e_bench, os.X_OK):
        sys.exit(f"no e2e_bench at {a.e2e_bench} (build it: make bench-compare)")
    if workloads:
        missing = dask_missing(a)
        if missing:
            if a.smoke:
                print(f"SKIPPED: {missing}", flush=True)
                return SKIP
            sys.exit(f"error: {missing}")
        side_by_side = run_side_by_side(a, workloads, sizes)
        if side_by_side is None:
            return 1
        print_side_by_side(a, workloads, sizes, *side_by_side)
    if alone:
        ours_alone = run_alone(a, alone, sizes)
        if ours_alone is None:
            return 1
        print_alone(a.rounds, alone, sizes, ours_alone, a.smoke)
    print(f"load average at the end: {loadavg()}")
    return 0


def dask_missing(a):
    """Why Dask cannot run here, or None."""
    if not os.path.isfile(a.dask_script):
        return f"no Dask reference script at {a.dask_script}"
    if not dask_available(a.python):
        return f"{a.python} cannot import distributed (deploy/install_deps.sh --bench)"
    return None


def run_side_by_side(a, workloads, sizes):
    """Ours then Dask per workload and round; (ours, dask) {workload: [result]}, or None."""
    busy_micros = round(a.busy_ms * 1000)
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
                res = run_workload(name, w, sizes[w], argv, a.timeout)
                if res is None:
                    return None
                into[w].append(res)
                log(f"  round {r} {w:<6} {name:<4} {fmt_seconds(res['seconds']):>10}  "
                    f"(load {loadavg()})")
    return ours, dask


def print_side_by_side(a, workloads, sizes, ours, dask):
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
    print_table(header, rows)


def run_alone(a, alone, sizes):
    """Runs each of `alone` --rounds times; {workload: [result]}, or None when a run failed."""
    log(f"ours alone: {a.rounds} rounds; sub-graph {a.subgraph}, artifact {a.artifact_mib} MiB, "
        f"--sync fan-out {a.sync_fanout}, big fan-out {a.big_fanout}; load average {loadavg()}")
    results = {w: [] for w in alone}
    for r in range(1, a.rounds + 1):
        for w in alone:
            argv = [a.e2e_bench, "--json", f"--workloads={w}", f"--workers={a.workers}",
                    "--worker_cpus=1", f"--subgraph_children={a.subgraph}",
                    f"--artifact_bytes={sizes['artifact']}", f"--sync_fanout={a.sync_fanout}",
                    f"--big_fanout={a.big_fanout}"]
            res = run_workload("ours", w, sizes[w], argv, a.timeout)
            if res is None:
                return None
            results[w].append(res)
            figures = ", ".join(f"{figure.split(':')[0]} {fmt.format(summary([res]))}"
                                for rw, figure, summary, fmt, _, _ in ALONE_ROWS if rw == w)
            log(f"  round {r} {w:<8} {fmt_seconds(res['seconds']):>10}  {figures}  "
                f"(load {loadavg()})")
    return results


def print_alone(rounds, alone, sizes, results, smoke):
    print()
    print(f"Ours alone: median of {rounds} round(s) (peak RSS: the largest), each on a fresh "
          f"cluster; targets from issue 5")
    header = ("workload", "n", "figure", "result", "target", "met?")
    rows = []
    for w, figure, summary, fmt, target, met in ALONE_ROWS:
        if w not in alone:
            continue
        value = summary(results[w])
        n = f"{sizes[w] // MIB} MiB" if w == "artifact" else f"{sizes[w]:,}"
        if met is None or smoke:  # tiny sizes say nothing about the targets
            verdict = "-"
        else:
            verdict = "met" if met(value) else "MISSED"
        rows.append((w, n, figure, fmt.format(value), target or "(none set)", verdict))
    print_table(header, rows)


def print_table(header, rows):
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(widths[i]) for i, h in enumerate(header)) + " |")
    print("|" + "|".join("-" * (wd + 2) for wd in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(row)) + " |")


if __name__ == "__main__":
    sys.exit(main())
