#!/usr/bin/env bash
# Ingest throughput of one aggregator: builds release, starts `sysmon up` on 127.0.0.1 with a
# fresh data dir, runs sysmon-loadgen against it, and prints the loadgen's figures, the store
# size per acked sample, and where the aggregator's CPU time went (per thread).
#
#   bash benches/ingest.sh                          # 10 agents, 30 s
#   bash benches/ingest.sh --agents 100 --duration 60s
#
# Arguments go to sysmon-loadgen unchanged (see `sysmon-loadgen --help`); `--output json` is
# added because this script reads the figures. KEEP=1 keeps the data dir and logs.
set -euo pipefail
cd "$(dirname "$0")/.."

HTTP=127.0.0.1:29800
GRPC=127.0.0.1:29801
READY_TIMEOUT_SECS=60
# When the `top -H` snapshot is taken, seconds into the loadgen run (after its 3 s warmup).
TOP_AT_SECS=10

cargo build --release -p sysmon -p sysmon-benches

work=$(mktemp -d)
data=$work/d
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    wait "$pid" || true
  fi
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

if curl -s -o /dev/null "http://$HTTP/readyz"; then
  echo "ingest.sh: something already listens on $HTTP; stop it first" >&2
  exit 1
fi

target/release/sysmon up --data-dir "$data" --http-listen "$HTTP" --grpc-listen "$GRPC" >"$work/aggregator.log" 2>&1 &
pid=$!
deadline=$((SECONDS + READY_TIMEOUT_SECS))
until curl -sf -o /dev/null "http://$HTTP/readyz"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "ingest.sh: sysmon up exited before it was ready; its log:" >&2
    tail -n 30 "$work/aggregator.log" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "ingest.sh: http://$HTTP/readyz not ready after $READY_TIMEOUT_SECS s; log:" >&2
    tail -n 30 "$work/aggregator.log" >&2
    exit 1
  fi
  sleep 0.2
done

# One line per thread of process $1: tid, utime + stime (clock ticks), name.
thread_ticks() {
  local task stat comm fields
  for task in /proc/"$1"/task/*; do
    stat=$(cat "$task/stat" 2>/dev/null) || continue
    comm=$(cat "$task/comm" 2>/dev/null) || continue
    read -r -a fields <<<"${stat##*) }"
    echo "${task##*/} $((fields[11] + fields[12])) $comm"
  done
}

thread_ticks "$pid" >"$work/ticks.before"
started=$(date +%s.%N)
(sleep "$TOP_AT_SECS" && kill -0 "$pid" 2>/dev/null && top -H -b -n 2 -d 2 -p "$pid" >"$work/top.txt" 2>&1) &
top_job=$!
status=0
target/release/sysmon-loadgen --ca-dir "$data/certs" --aggregator "https://$GRPC" --server-name localhost \
  "$@" --output json >"$work/result.json" || status=$?
ended=$(date +%s.%N)
thread_ticks "$pid" >"$work/ticks.after"
wait "$top_job" 2>/dev/null || true

kill "$pid"
stop_started=$(date +%s.%N)
aggregator_status=0
wait "$pid" || aggregator_status=$?
stop_secs=$(echo "$(date +%s.%N) - $stop_started" | bc)
pid=

echo "== sysmon-loadgen (exit $status)"
cat "$work/result.json"

echo "== store"
samples=$(jq -r '.samples_acked_total // 0' "$work/result.json" 2>/dev/null || echo 0)
bytes=$(du -b "$data/sysmon.redb" | cut -f1)
echo "sysmon.redb: $bytes bytes for $samples acked samples"
if ((samples > 0)); then
  echo "bytes per sample: $(echo "scale=1; $bytes / $samples" | bc)"
fi

echo "== aggregator CPU per thread name while the loadgen ran ($(printf %.1f "$(echo "$ended - $started" | bc)") s wall)"
printf "%-20s %8s %8s %6s\n" thread threads cpu_s cores
awk -v wall="$(echo "$ended - $started" | bc)" '
  NR == FNR { before[$1] = $2; next }
  {
    name = $3; for (i = 4; i <= NF; i++) name = name " " $i
    delta = $2 - before[$1]; ticks[name] += delta; threads[name]++; total += delta
  }
  END {
    for (n in ticks) if (ticks[n] > 0) printf "%-20s %8d %8.1f %6.2f\n", n, threads[n], ticks[n] / 100, ticks[n] / 100 / wall
    printf "%-20s %8s %8.1f %6.2f\n", "all", "", total / 100, total / 100 / wall
  }' "$work/ticks.before" "$work/ticks.after" | sort -k3 -n -r
if [[ -s $work/top.txt ]]; then
  echo "== top -H, ${TOP_AT_SECS}s into the run (second frame)"
  awk '/^top -/ { frame++ } frame == 2' "$work/top.txt" | sed -n '7,16p'
fi

echo "== aggregator"
echo "stopped in ${stop_secs}s with exit status $aggregator_status"
warnings=$(grep -c -E ' (WARN|ERROR) ' "$work/aggregator.log" || true)
echo "log: $warnings WARN/ERROR lines"
grep -E ' (WARN|ERROR) ' "$work/aggregator.log" | head -n 5 || true
exit "$status"
