#!/usr/bin/env bash
# Installs this build into a fresh prefix, builds tests/install/project against it (as a user's
# project would: find_package(Sematic)), runs the pipeline in-process (Sematic::sdk alone) and on
# the embedded engine (Sematic::engine; the installed `sematic` CLI reads the job back from its
# data directory), then runs it as a worker of the installed sematic-scheduler and submits to it
# with the installed `sematic` CLI and with the pipeline's own cluster runner.
#
#   install_test.sh BUILD_DIR PROJECT_DIR WORK_DIR [cmake -D options for the project...]
#
# Everything is written under WORK_DIR (recreated). Processes listen on 127.0.0.1 only and are
# killed and reaped on exit; every wait is bounded.
set -euo pipefail

build_dir=$1
project_dir=$2
work=$3
shift 3

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

step() { echo "== $*"; }

step "install into $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; echo "(is everything built? cmake --build first)"; exit 1; }
test -f "$prefix/lib/cmake/Sematic/SematicConfig.cmake"
test -f "$prefix/lib/cmake/Sematic/SematicConfigVersion.cmake"
grep -q '^find_dependency(RocksDB' "$prefix/lib/cmake/Sematic/SematicConfig.cmake" ||
  { echo "SematicConfig.cmake does not find RocksDB (Sematic::engine links it)"; exit 1; }
test -f "$prefix/include/sematic/engine.h" || { echo "sematic/engine.h is not installed"; exit 1; }
# The engine's scheduler and CLI libraries are linked privately: their headers stay behind.
[[ ! -e "$prefix/include/scheduler" && ! -e "$prefix/include/cli" ]] ||
  { echo "scheduler/ or cli/ headers are installed"; exit 1; }
for program in sematic sematic-scheduler sematic-worker; do test -x "$prefix/bin/$program"; done

step "configure and build the project"
cmake -S "$project_dir" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" "$@" \
  >"$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" >"$work/build.log" || { cat "$work/build.log"; exit 1; }
pipeline=$work/build/my_pipeline

step "run in-process (SilentRunner, Sematic::sdk alone)"
out=$(timeout 60 "$work/build/my_pipeline_silent")
echo "$out"
[[ "$out" == "sum of squares: 385" ]]

step "run on the embedded engine (Sematic::engine)"
out=$(timeout 120 "$pipeline" --runner=embedded --data-dir="$work/embedded" --quiet \
      2>"$work/embedded.err") || { cat "$work/embedded.err"; exit 1; }
echo "$out"
[[ "$out" == "sum of squares: 385" ]]
job=$(sed -n 's/^job \([^ ]*\)$/\1/p' "$work/embedded.err")
[[ -n "$job" ]] || { cat "$work/embedded.err"; echo "no job id"; exit 1; }
"$prefix/bin/sematic" --data-dir "$work/embedded" jobs --state succeeded >"$work/embedded.jobs"
grep -qw "$job" "$work/embedded.jobs" ||
  { cat "$work/embedded.jobs"; echo "job $job is not listed as succeeded"; exit 1; }
echo "job $job succeeded in $work/embedded"

step "serve as a worker of the installed scheduler"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

: >"$work/scheduler.out"  # so that polling it never races its creation
"$prefix/bin/sematic-scheduler" --data-dir="$work/data" --host=127.0.0.1 --port=0 \
  >"$work/scheduler.out" 2>"$work/scheduler.err" &
pids+=($!)
address=
for _ in $(seq 300); do  # 30 s
  address=$(sed -n 's/^listening on \(.*\)$/\1/p' "$work/scheduler.out")
  [[ -n "$address" ]] && break
  sleep 0.1
done
[[ -n "$address" ]] || { cat "$work/scheduler.err"; echo "the scheduler did not start"; exit 1; }

"$pipeline" worker --scheduler="$address" --cpus=2 --memory=1GiB --cache-dir="$work/cache" \
  >"$work/worker.out" 2>&1 &
pids+=($!)

sematic=("$prefix/bin/sematic" --scheduler "$address" --timeout 10s)
job=
for _ in $(seq 300); do  # until the worker has announced SumOfSquares (exit 4: not found)
  rc=0
  job=$("${sematic[@]}" submit SumOfSquares --args '{"n": 10}' 2>"$work/submit.err") || rc=$?
  [[ $rc -eq 0 ]] && break
  [[ $rc -eq 4 ]] || { cat "$work/submit.err"; exit 1; }
  sleep 0.1
done
[[ -n "$job" ]] || { cat "$work/submit.err" "$work/worker.out"; exit 1; }
echo "job $job"
timeout 60 "${sematic[@]}" watch "$job" >"$work/watch.out" || {
  cat "$work/watch.out" "$work/worker.out"; echo "the job did not succeed"; exit 1; }
digest=$("${sematic[@]}" status "$job" --json | grep -o '"outputDigest": *"[0-9a-f]*"' | head -1 |
         grep -o '[0-9a-f]\{64\}')
value=$("${sematic[@]}" get "$digest" --json)
echo "$value" | grep -q '"json": *"385"' || { echo "unexpected output: $value"; exit 1; }
echo "job output: 385"

step "submit with the pipeline's cluster runner"
out=$(timeout 120 "$pipeline" --scheduler="$address" --quiet 2>"$work/cluster.err") ||
  { cat "$work/cluster.err" "$work/worker.out"; exit 1; }
echo "$out"
[[ "$out" == "sum of squares: 385" ]]
echo "PASS"
