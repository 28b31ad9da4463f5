#!/usr/bin/env bash
# Federation: replication lag from sample time to visible at the master, and the master's
# bytes on disk per host per day (issue #5).
#
#   bash benches/federation.sh                 # 1000 simulated hosts, 15 minutes
#   bash benches/federation.sh 200 6m          # HOSTS DURATION: a quick run
#
# Builds release, makes a fleet CA and two aggregator certificates, starts a master and one
# regional (release `sysmon aggregator`, default replication settings: interval 60 s, delay
# 15 s) on loopback, and streams HOSTS simulated node-like agents (116 series each, one
# collection every 10 s, in real time, over the real mutual-TLS Ingest stream) into the
# regional with sysmon-loadgen. Meanwhile it polls the master's /api/regions every second and
# notes when each minute becomes complete there (the frontier passes it). A sample at time t of
# minute M is visible at the master at visible(M); its lag is visible(M) - t. Samples are
# spread evenly over each minute, so the lags of minute M are visible(M) - M - u for u in
# [0, 60 s); the script prints their p50 and p99 over every minute measured (the first two
# minutes excluded: warm-up).
# At the end both aggregators are stopped cleanly, and the master's store (a copy, compacted
# by sysmon-store-stats) divided by hosts and by the days of rollups it holds gives bytes per
# host per day as received: the minutes of a run this short are not compacted yet (that
# happens once their 2-hour partition is 10 minutes old). The steady state, compacted 1-minute
# and 1-hour tiers, is what `sysmon-master-store` measures (benches/README.md).
#
# Environment: KEEP=1 keeps the work dir; INTERVAL and DELAY override the regional's
# [federation] interval and delay.
set -euo pipefail
cd "$(dirname "$0")/.."

HOSTS=${1:-1000}
DURATION=${2:-15m}
INTERVAL=${INTERVAL:-60s}
DELAY=${DELAY:-15s}
TARGET=${CARGO_TARGET_DIR:-target}
MASTER_HTTP=127.0.0.1:29900
MASTER_GRPC=127.0.0.1:29901
REGIONAL_HTTP=127.0.0.1:29910
REGIONAL_GRPC=127.0.0.1:29911

for tool in curl jq python3; do
  command -v "$tool" >/dev/null || { echo "federation.sh: needs $tool" >&2; exit 1; }
done
cargo build --release -p sysmon -p sysmon-benches
sysmon=$TARGET/release/sysmon

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

for addr in "$MASTER_HTTP" "$REGIONAL_HTTP"; do
  if curl -s -o /dev/null "http://$addr/"; then
    echo "federation.sh: something already listens on $addr; stop it first" >&2
    exit 1
  fi
done

certs=$work/certs
"$sysmon" certs init --dir "$certs" >/dev/null
for name in master regional; do
  "$sysmon" certs issue --server "$name" --san 127.0.0.1 --san localhost --dir "$certs" >/dev/null
done

aggregator() { # name role region grpc http extra
  cat >"$work/$1.toml" <<EOF
[aggregator]
role = "$2"
region = "$3"
data_dir = "$work/$1-data"
grpc_listen = "$4"
http_listen = "$5"
[tls]
ca_cert = "$certs/ca.pem"
cert = "$certs/server-$1.pem"
key = "$certs/server-$1-key.pem"
$6
EOF
  "$sysmon" aggregator --config "$work/$1.toml" >"$work/$1.log" 2>&1 &
  pids+=($!)
  local deadline=$((SECONDS + 60))
  until curl -sf -o /dev/null "http://$5/readyz"; do
    if ((SECONDS >= deadline)); then
      echo "federation.sh: $1 not ready; its log:" >&2
      tail -n 20 "$work/$1.log" >&2
      exit 1
    fi
    sleep 0.2
  done
}
aggregator master master global "$MASTER_GRPC" "$MASTER_HTTP" ""
aggregator regional regional eu "$REGIONAL_GRPC" "$REGIONAL_HTTP" "[discovery]
static_endpoints = [\"https://$MASTER_GRPC\"]
[federation]
interval = \"$INTERVAL\"
delay = \"$DELAY\"
backfill = \"0s\""

# The frontier, polled every second: "unix_ms_now complete_before_ms" lines.
(
  while true; do
    f=$(curl -s "http://$MASTER_HTTP/api/regions" | jq -r '[.regions[].complete_before_ms] | min // empty')
    [[ -n $f ]] && echo "$(date +%s%3N) $f"
    sleep 1
  done
) >"$work/frontier.txt" &
pids+=($!)

load=$(uptime | sed 's/.*load average: //')
started=$(date +%s)
# --backfill 10s: the first collection is 10 s old, the rest in real time.
if ! "$TARGET/release/sysmon-loadgen" --aggregator "https://$REGIONAL_GRPC" --ca-dir "$certs" --agents "$HOSTS" \
  --backfill 10s --samples-per-series 1 --step 10s --duration "$DURATION" --warmup 0s --output json \
  >"$work/loadgen.json" 2>"$work/loadgen.log"; then
  echo "federation.sh: sysmon-loadgen failed:" >&2
  tail -n 20 "$work/loadgen.log" >&2
  exit 1
fi
loadgen_ended=$(date +%s)
# Let the last whole minute reach the master.
sleep "$(( $(echo "$INTERVAL" | tr -dc 0-9) + $(echo "$DELAY" | tr -dc 0-9) + 10 ))"
load_end=$(uptime | sed 's/.*load average: //')

for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
cp "$work/master-data/sysmon.redb" "$work/master-copy.redb"
"$TARGET/release/sysmon-store-stats" --compact --output json "$work/master-copy.redb" >"$work/master-stats.json"

python3 - "$work/frontier.txt" "$work/master-stats.json" "$HOSTS" "$started" "$load" "$load_end" "$loadgen_ended" <<'EOF'
import json, sys
frontier_file, stats_file, hosts, started = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ended = int(sys.argv[7])
visible = {}  # minute start (ms) -> when it became complete at the master (ms)
for line in open(frontier_file):
    now, f = (int(x) for x in line.split())
    for m in range((f // 60000 - 120) * 60000, f, 60000):
        if m not in visible and m < f:
            visible[m] = now
first_poll = min(visible.values())
minutes = sorted(m for m in visible if m >= started * 1000 + 120_000 and visible[m] > first_poll)
lags = sorted(visible[m] - m - u * 1000 for m in minutes for u in range(60))
if not lags:
    sys.exit("federation.sh: no minute became visible at the master; see the logs")
pct = lambda p: lags[min(len(lags) - 1, int(p * len(lags)))] / 1000
stats = json.load(open(stats_file))
file_bytes = stats.get("compacted_file_bytes") or stats["file_bytes"]
# The master holds rollups of the minutes the load ran.
days = (ended - started) / 86400
print(f"hosts {hosts}, minutes measured {len(minutes)}, load average {sys.argv[5]} at the start, {sys.argv[6]} at the end")
print(f"replication lag (sample time to visible at the master): p50 {pct(0.50):.1f} s, p99 {pct(0.99):.1f} s, max {lags[-1]/1000:.1f} s")
print(f"master store: {file_bytes} bytes (file compacted) for {(ended - started) / 60:.1f} minutes of rollups of {hosts} hosts"
      f" = {file_bytes / hosts / days:.0f} bytes per host per day as received: one run per series per minute, since"
      f" a partition is compacted only 10 minutes after it ends; sysmon-master-store measures the compacted tiers")
EOF
