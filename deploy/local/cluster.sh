#!/usr/bin/env bash
# A local heterogeneous cluster as separate processes: one scheduler, two CPU workers
# (pool=cpu) and one worker labelled pool=gpu that announces two (fake) GPUs.
#
#   deploy/local/cluster.sh start  [--dir DIR] [--build-dir DIR] [--port N]
#                                  [--load LIB.so]... | [--worker-binary PATH]
#                                  [--isolate thread|process]
#   deploy/local/cluster.sh status [--dir DIR] [--build-dir DIR]
#   deploy/local/cluster.sh stop   [--dir DIR] [--timeout SECONDS]
#
# Everything lives under DIR (default ./.sematic/local): data/ (the scheduler's RocksDB),
# logs/NAME.log, pids/NAME.pid, cache/NAME/ (worker artifact caches) and `address`.
# Workers serve --load'ed step libraries through sematic-worker (default: the test steps of the
# build), or run a pipeline binary as `PATH worker ...` (--worker-binary).
# `start` returns once the scheduler listens and all three workers are connected; `stop` sends
# SIGTERM (workers first: they drain), waits up to --timeout, then SIGKILLs what is left.
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

command=${1:-}
[[ -n "$command" ]] || usage
shift
dir=.sematic/local
build_dir=build
port=7070
timeout=30
isolate=thread
worker_binary=
loads=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --dir=*) dir=${1#*=}; shift ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --build-dir=*) build_dir=${1#*=}; shift ;;
    --port) port=$2; shift 2 ;;
    --port=*) port=${1#*=}; shift ;;
    --timeout) timeout=$2; shift 2 ;;
    --timeout=*) timeout=${1#*=}; shift ;;
    --isolate) isolate=$2; shift 2 ;;
    --isolate=*) isolate=${1#*=}; shift ;;
    --load) loads+=("$2"); shift 2 ;;
    --load=*) loads+=("${1#*=}"); shift ;;
    --worker-binary) worker_binary=$2; shift 2 ;;
    --worker-binary=*) worker_binary=${1#*=}; shift ;;
    -h|--help) usage ;;
    *) echo "cluster.sh: unknown argument $1" >&2; usage ;;
  esac
done

scheduler_bin=$build_dir/scheduler/sematic-scheduler
worker_bin=$build_dir/worker/sematic-worker
cli_bin=$build_dir/cli/sematic
workers=(cpu-1 cpu-2 gpu-1)

say() { echo "cluster.sh: $*"; }
die() { echo "cluster.sh: $*" >&2; exit 1; }

# The pid in pids/NAME.pid when that process is alive and is still ours (pids get reused).
live_pid() {
  local file=$dir/pids/$1.pid pid
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  grep -qa -- "--worker-id=local-$1\|--data[-_]dir=$(realpath -m "$dir")/data" "/proc/$pid/cmdline" \
    2>/dev/null || return 1
  echo "$pid"
}

address() { [[ -f $dir/address ]] && cat "$dir/address"; }

# Polls `check` every 0.1 s for up to `seconds`.
wait_until() {
  local seconds=$1; shift
  local end=$((SECONDS + seconds))
  until "$@"; do
    (( SECONDS < end )) || return 1
    sleep 0.1
  done
}

scheduler_listening() {
  local line
  line=$(grep -m1 -o 'listening on [0-9.:]*' "$dir/logs/scheduler.log" 2>/dev/null) || return 1
  local addr=${line#listening on }
  # The port accepts connections.
  (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null || return 1
  echo "$addr" >"$dir/address"
}

workers_connected() {
  local json name
  json=$("$cli_bin" workers --json --scheduler="$(address)" 2>/dev/null) || return 1
  for name in "${workers[@]}"; do
    [[ $json == *"\"local-$name\""* ]] || return 1
  done
}

start_worker() {
  local name=$1; shift
  local argv
  if [[ -n $worker_binary ]]; then
    argv=("$worker_binary" worker)
  else
    argv=("$worker_bin")
    local lib
    for lib in "${loads[@]}"; do argv+=("--load=$(realpath -m "$lib")"); done
  fi
  argv+=(--scheduler="$(address)" --worker-id="local-$name" --isolate="$isolate"
         --cache-dir="$(realpath -m "$dir")/cache/$name" --cpus=2 --memory=4GiB --max-runs=2 "$@")
  nohup "${argv[@]}" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name.pid"
}

start() {
  [[ -x $scheduler_bin && -x $cli_bin ]] ||
    die "no binaries in $build_dir (build first: cmake --build $build_dir)"
  if [[ -z $worker_binary && ${#loads[@]} -eq 0 ]]; then
    loads=("$build_dir/worker/libsematic_worker_test_steps.so")
    say "no --load or --worker-binary: serving the test steps ($(basename "${loads[0]}"))"
  fi
  local name
  for name in scheduler "${workers[@]}"; do
    if live_pid "$name" >/dev/null; then die "$name is already running (cluster.sh stop first)"; fi
  done
  mkdir -p "$dir/data" "$dir/logs" "$dir/pids" "$dir/cache"
  rm -f "$dir/address"

  nohup "$scheduler_bin" --data-dir="$(realpath -m "$dir")/data" --host=127.0.0.1 --port="$port" \
    >"$dir/logs/scheduler.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/scheduler.pid"
  wait_until 30 scheduler_listening ||
    die "the scheduler is not listening after 30 s; see $dir/logs/scheduler.log"
  say "scheduler listening on $(address)"

  start_worker cpu-1 --gpus=0 --label=pool=cpu
  start_worker cpu-2 --gpus=0 --label=pool=cpu
  start_worker gpu-1 --gpus=2 --label=pool=gpu
  wait_until 30 workers_connected ||
    die "workers not all connected after 30 s; see $dir/logs/*.log (cluster.sh stop cleans up)"
  say "workers connected: local-cpu-1 local-cpu-2 (pool=cpu), local-gpu-1 (pool=gpu, 2 GPUs)"
  say "export SEMATIC_SCHEDULER=$(address)   # then: $cli_bin workers"
}

stop_one() {
  local name=$1 pid
  if ! pid=$(live_pid "$name"); then
    rm -f "$dir/pids/$name.pid"
    return 0
  fi
  kill -TERM "$pid"
  if wait_until "$timeout" eval "! kill -0 $pid 2>/dev/null"; then
    say "$name stopped"
  else
    kill -KILL "$pid" 2>/dev/null || true
    say "$name did not stop within ${timeout}s: killed"
  fi
  rm -f "$dir/pids/$name.pid"
}

stop() {
  [[ -d $dir/pids ]] || { say "nothing to stop in $dir"; return 0; }
  local name
  # Workers first, all at once: each drains (finishes its steps, flushes results).
  for name in "${workers[@]}"; do stop_one "$name" & done
  wait
  stop_one scheduler
}

status() {
  local name pid state=0
  for name in scheduler "${workers[@]}"; do
    if pid=$(live_pid "$name"); then
      printf '%-10s running (pid %s)\n' "$name" "$pid"
    else
      printf '%-10s stopped\n' "$name"
      state=3
    fi
  done
  if live_pid scheduler >/dev/null && [[ -x $cli_bin ]]; then
    echo
    "$cli_bin" workers --scheduler="$(address)" || true
  fi
  return $state
}

case "$command" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
