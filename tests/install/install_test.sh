#!/usr/bin/env bash
# Installs this build into a fresh prefix, builds tests/install/project against it (as a user's
# project would: find_package(Sematic)), runs the pipeline in-process, then runs it as a worker
# of the installed sematic-scheduler and submits to it with the installed `sematic` CLI.
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
for program in sematic sematic-scheduler sematic-worker; do test -x "$prefix/bin/$program"; done

step "configure and build the project"
cmake -S "$project_dir" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" "$@" \
  >"$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" >"$work/build.log" || { cat "$work/build.log"; exit 1; }
pipeline=$work/build/my_pipeline

step "run in-process (SilentRunner)"
out=$(timeout 60 "$pipeline")
echo "$out"
[[ "$out" == "sum of squares: 385" ]]

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
echo "PASS"
