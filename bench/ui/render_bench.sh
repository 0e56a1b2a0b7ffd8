#!/usr/bin/env bash
# First render of a large job's page in headless chromium (docs/benchmarks.md, "The dashboard").
# Starts sematic-scheduler (HTTP on a free port, serving the built UI) and two sematic-worker
# daemons serving bench/e2e's steps, runs FanOut(N) for each N given, then times the job page
# with ui/e2e/render_bench.mjs (playwright-core driving /usr/bin/chromium), ROUNDS times each.
#
#   bench/ui/render_bench.sh [BUILD_DIR] [N...]     # default: build 10000 100000
#   ROUNDS=5 bench/ui/render_bench.sh build 10000
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
shift || true
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(10000 100000)
rounds=${ROUNDS:-3}
for f in "$build/scheduler/sematic-scheduler" "$build/worker/sematic-worker" \
         "$build/bench/libbench_steps.so" "$build/ui/dist/index.html" ui/e2e/render_bench.mjs; do
  [[ -e $f ]] || { echo "render_bench: missing $f (build first: make build)" >&2; exit 1; }
done
dir=$(mktemp -d /tmp/sematic-render-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

"$build/scheduler/sematic-scheduler" --data-dir="$dir/data" --host=127.0.0.1 --port=0 \
  --http-port=0 --ui-dir="$build/ui/dist" >"$dir/scheduler.out" 2>"$dir/scheduler.log" &
pids+=($!)
for _ in $(seq 300); do [[ $(wc -l <"$dir/scheduler.out") -ge 2 ]] && break; sleep 0.1; done
grpc=$(sed -n 1p "$dir/scheduler.out" | sed 's/.* //')
http=$(sed -n 2p "$dir/scheduler.out" | sed 's/.* //')
[[ -n $http ]] || { echo "render_bench: the scheduler did not start:" >&2; cat "$dir/scheduler.log" >&2; exit 1; }
url="http://$http"
for i in 1 2; do
  "$build/worker/sematic-worker" --load="$build/bench/libbench_steps.so" --scheduler="$grpc" \
    --worker-id="render-$i" --cpus=1 --max-runs=64 >"$dir/worker-$i.log" 2>&1 &
  pids+=($!)
done

submit() {  # FanOut(n), retried while no worker offers it yet; prints the job id
  local body="{\"function\":\"FanOut\",\"args\":[{\"name\":\"n\",\"value\":{\"intValue\":\"$1\"}}]}"
  for _ in $(seq 300); do
    local reply
    reply=$(curl -s -XPOST "$url/api/v1/jobs" -d "$body")
    if [[ $reply == *'"job"'* ]]; then
      sed 's/.*"job":{"id":"\([^"]*\)".*/\1/' <<<"$reply"
      return
    fi
    sleep 0.1
  done
  echo "render_bench: submit failed: $reply" >&2
  exit 1
}
await() {  # until the job ends
  for _ in $(seq 3000); do
    curl -s "$url/api/v1/jobs/$1" | grep -q '"state":"JOB_SUCCEEDED"' && return
    sleep 0.1
  done
  echo "render_bench: job $1 did not succeed" >&2
  exit 1
}

for n in "${sizes[@]}"; do
  job=$(submit "$n")
  await "$job"
  for r in $(seq "$rounds"); do
    SEMATIC_URL=$url JOB_ID=$job RUNS=$n node ui/e2e/render_bench.mjs "$job"
  done
done
