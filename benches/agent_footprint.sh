#!/usr/bin/env bash
# The agent's footprint against node_exporter's (issue #4, "Measure"): CPU time per
# collection and resident memory of a real `sysmon agent`, with every collector on (users and
# top-N processes included), shipping over mutual TLS to a real aggregator on loopback, in
# the same run as Debian's prometheus-node-exporter scraped at the same interval.
#
#   bash benches/agent_footprint.sh                    # 1 s, then 10 s; 180 s measured each
#   DURATION=60 INTERVALS="1" bash benches/agent_footprint.sh
#
# For each interval, the agent and node_exporter run side by side (so they see the same load)
# after a fresh start and a warmup (WARMUP, default 3 intervals and 15 s: the agent gives back
# its start-up code after 3 intervals and 2 s, cli/src/code_pages.rs):
# - CPU: utime + stime of the process (/proc/PID/stat, every thread, exited ones included)
#   over the measured window, divided by the collections (agent: ticks of its interval in the
#   window, which it aligns on wall-clock multiples; node_exporter: scrapes completed by the
#   scrape loop here, which is not counted). The kernel counts in 10 ms ticks: the table
#   gives the window's total so the resolution can be judged.
# - memory: VmRSS sampled every second in the window (median and max), VmHWM (peak) at its
#   end, and RssAnon / RssFile at its end (heap and stacks / the mapped binary and libraries),
#   with AnonHugePages (transparent huge pages) in the JSON.
#   The agent runs from its own copy of the binary, so the pages the aggregator's process
#   (same binary) brought into the page cache do not count for it: as on a monitored host.
#   Written by `cp`, the copy sits in the page cache in 64 KiB pieces, the unit in which the
#   kernel maps it (its fault-around).
# - series: node_exporter's sample lines in its last scrape; the agent's series stored for it
#   at the end of the window (`count({host="footprint"})` at the aggregator), self-metrics
#   included.
# The aggregator (`sysmon aggregator`, fresh data dir and CA) runs throughout; its CPU is not
# counted. Prints one table and writes JSON to $OUT.
#
# Environment: INTERVALS (default "1 10", seconds), DURATION (measured seconds per interval,
# default 180), WARMUP (seconds), OUT (default $CARGO_TARGET_DIR/agent-footprint.json),
# NODE_EXPORTER (default /usr/bin/prometheus-node-exporter), AGENT_EXTRA (TOML appended to the
# agent's config after its [processes] section, e.g. "[collectors]\nusers = false"), SYSMON_BIN
# (a prebuilt binary instead of building release), KEEP=1 keeps the work dir (configs, logs,
# last scrape).
#
# LAYOUT_OUT=cli/agent-hot-code.txt (root only) regenerates the list of functions the agent
# runs after start-up, which the release link puts together (cli/build.rs): for each interval
# (an idle connection between collections runs code of its own), with the agent's copy of the binary dropped from the page cache and the disk's
# readahead off while the agent starts (so each page of code it runs is read, and mapped,
# alone), dropped again once the agent has released its start-up code; at the end of the window
# benches/agent_layout.py lists the functions on the code pages resident then; the intervals'
# lists are merged. That run's
# figures are not comparable (a cold start); rebuild and run again without LAYOUT_OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

INTERVALS=${INTERVALS:-1 10}
DURATION=${DURATION:-180}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$TARGET/agent-footprint.json}
NODE_EXPORTER=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
AGENT_ID=footprint
READY_TIMEOUT_SECS=60
CLK_TCK=$(getconf CLK_TCK)

LAYOUT_OUT=${LAYOUT_OUT:-}
HOT_CODE=cli/agent-hot-code.txt
if [[ -n $LAYOUT_OUT ]]; then
  [[ $(id -u) == 0 ]] || { echo "agent_footprint.sh: LAYOUT_OUT needs root (pagemap, readahead)" >&2; exit 1; }
fi
if [[ ! -x $NODE_EXPORTER ]]; then
  echo "agent_footprint.sh: $NODE_EXPORTER is missing: apt-get install -y prometheus-node-exporter" >&2
  exit 1
fi
if [[ -n ${SYSMON_BIN:-} ]]; then
  sysmon=$SYSMON_BIN
else
  cargo build --release -p sysmon
  sysmon=$TARGET/release/sysmon
fi

work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() { # URL PID LOG
  local deadline=$((SECONDS + READY_TIMEOUT_SECS))
  until curl -sf -o /dev/null "$1"; do
    if ! kill -0 "$2" 2>/dev/null || ((SECONDS >= deadline)); then
      echo "agent_footprint.sh: $1 not ready; log:" >&2
      tail -n 30 "$3" >&2
      exit 1
    fi
    sleep 0.2
  done
}

cpu_ticks() { # PID: utime + stime of every thread, exited ones included
  local stat fields
  stat=$(cat "/proc/$1/stat")
  read -r -a fields <<<"${stat##*) }"
  echo $((fields[11] + fields[12]))
}

status_kb() { # PID FIELD (VmRSS, VmHWM)
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

now_ns() { date +%s%N; }

# Sleeps until the next wall-clock multiple of $1 seconds (plus $2 ms).
sleep_to_boundary() {
  local period_ns=$(($1 * 1000000000)) now wait
  now=$(now_ns)
  wait=$((period_ns - now % period_ns + ${2:-0} * 1000000))
  sleep "$(printf '%d.%09d' $((wait / 1000000000)) $((wait % 1000000000)))"
}

# Scrapes node_exporter on wall-clock multiples of the interval (as the agent collects),
# counting completed scrapes in $3/scrapes and keeping the last answer in $3/scrape.txt.
scrape_loop() { # PORT INTERVAL DIR
  local n=0
  while :; do
    sleep_to_boundary "$2"
    if curl -sf -o "$3/scrape.tmp" "http://127.0.0.1:$1/metrics"; then
      mv "$3/scrape.tmp" "$3/scrape.txt"
      n=$((n + 1))
      echo "$n" >"$3/scrapes"
    fi
  done
}

# Samples VmRSS of both processes every second: lines "agent_kb node_exporter_kb".
rss_loop() { # AGENT_PID NE_PID FILE
  while :; do
    echo "$(status_kb "$1" VmRSS) $(status_kb "$2" VmRSS)" >>"$3"
    sleep 1
  done
}

query() { # PROMQL [TIME]: the first result's value, or ""
  curl -sf -G "http://$http/api/v1/query" --data-urlencode "query=$1" ${2:+--data-urlencode "time=$2"} |
    jq -r '.data.result[0].value[1] // ""'
}

# Drops FILE's pages from the page cache (those no process maps).
drop_cached() { sync "$1"; python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$1"; }

# The readahead setting (KiB) of the disk holding FILE.
readahead_file() {
  local source disk
  source=$(findmnt -no SOURCE -T "$1")
  disk=$(lsblk -no PKNAME "$source" 2>/dev/null | head -n 1)
  echo "/sys/block/${disk:-$(basename "$source")}/queue/read_ahead_kb"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# The fleet: a CA, the aggregator's and the agent's certificates, the aggregator.
certs=$work/certs
"$sysmon" certs init --dir "$certs" >/dev/null
"$sysmon" certs issue --server localhost --san 127.0.0.1 --dir "$certs" >/dev/null
"$sysmon" certs issue --agent "$AGENT_ID" --dir "$certs" >/dev/null
grpc=127.0.0.1:$(free_port)
http=127.0.0.1:$(free_port)
cat >"$work/aggregator.toml" <<EOF
[aggregator]
data_dir = "$work/aggregator-data"
grpc_listen = "$grpc"
http_listen = "$http"

[tls]
ca_cert = "$certs/ca.pem"
cert = "$certs/server-localhost.pem"
key = "$certs/server-localhost-key.pem"
EOF
"$sysmon" aggregator --config "$work/aggregator.toml" >"$work/aggregator.log" 2>&1 &
aggregator_pid=$!
pids+=("$aggregator_pid")
wait_ready "http://$http/readyz" "$aggregator_pid" "$work/aggregator.log"

agent_bin=$work/sysmon-agent-copy
cp "$sysmon" "$agent_bin"

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
results=()

for interval in $INTERVALS; do
  dir=$work/i$interval
  mkdir -p "$dir"
  warmup=${WARMUP:-$((3 * interval + 15))}
  # Every collector is on by default; the users collector reports every user (root and
  # system users too) and lists the top processes of all of them: the most work it can do.
  cat >"$dir/agent.toml" <<EOF
[agent]
id = "$AGENT_ID"
interval = "${interval}s"

[aggregator]
endpoints = ["https://$grpc"]
server_name = "localhost"

[tls]
ca_cert = "$certs/ca.pem"
cert = "$certs/agent-$AGENT_ID.pem"
key = "$certs/agent-$AGENT_ID-key.pem"

[spool]
dir = "$dir/spool"

[users]
min_uid = 0
include_root = true
exclude = []
state_file = "$dir/users.json"

[processes]
all_users = true
$(printf '%b' "${AGENT_EXTRA:-}")
EOF
  mkdir -p "$dir/textfile"
  ne_port=$(free_port)
  # The same filters as sysmon's defaults (node_exporter 1.5 upstream's; Debian's package
  # changes two), no textfile directory.
  "$NODE_EXPORTER" --web.listen-address="127.0.0.1:$ne_port" \
    "--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)" \
    --collector.netdev.device-exclude= --collector.textfile.directory="$dir/textfile" \
    >"$dir/node_exporter.log" 2>&1 &
  ne_pid=$!
  pids+=("$ne_pid")
  if [[ -n $LAYOUT_OUT ]]; then
    drop_cached "$agent_bin"
    readahead=$(readahead_file "$agent_bin")
    readahead_kb=$(cat "$readahead")
    echo 0 >"$readahead"
  fi
  "$agent_bin" agent --config "$dir/agent.toml" >"$dir/agent.log" 2>&1 &
  agent_pid=$!
  pids+=("$agent_pid")
  if [[ -n $LAYOUT_OUT ]]; then
    # The kernel takes the readahead setting when it opens the file, at exec.
    sleep 1
    echo "$readahead_kb" >"$readahead"
  fi
  wait_ready "http://127.0.0.1:$ne_port/metrics" "$ne_pid" "$dir/node_exporter.log"
  scrape_loop "$ne_port" "$interval" "$dir" &
  scrape_pid=$!
  pids+=("$scrape_pid")

  echo "== interval ${interval}s: warmup ${warmup}s, then ${DURATION}s measured (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  sleep "$warmup"
  if [[ -n $LAYOUT_OUT ]]; then drop_cached "$agent_bin"; fi
  # The window starts and ends half an interval after a tick, away from collections.
  half_ms=$((interval * 500))
  sleep_to_boundary "$interval" "$half_ms"
  t0_ns=$(now_ns)
  a0=$(cpu_ticks "$agent_pid")
  n0=$(cpu_ticks "$ne_pid")
  s0=$(cat "$dir/scrapes" 2>/dev/null || echo 0)
  rss_loop "$agent_pid" "$ne_pid" "$dir/rss" &
  rss_pid=$!
  pids+=("$rss_pid")
  sleep "$DURATION"
  sleep_to_boundary "$interval" "$half_ms"
  t1_ns=$(now_ns)
  a1=$(cpu_ticks "$agent_pid")
  n1=$(cpu_ticks "$ne_pid")
  s1=$(cat "$dir/scrapes")
  kill "$rss_pid"
  wait "$rss_pid" 2>/dev/null || true
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  agent_hwm=$(status_kb "$agent_pid" VmHWM)
  ne_hwm=$(status_kb "$ne_pid" VmHWM)
  agent_anon=$(status_kb "$agent_pid" RssAnon)
  agent_file=$(status_kb "$agent_pid" RssFile)
  ne_anon=$(status_kb "$ne_pid" RssAnon)
  ne_file=$(status_kb "$ne_pid" RssFile)
  agent_threads=$(awk '$1 == "Threads:" { print $2 }' "/proc/$agent_pid/status")
  # Transparent huge pages under the heap (2 MiB each), for the JSON.
  agent_thp=$(awk '$1 == "AnonHugePages:" { print $2 }' "/proc/$agent_pid/smaps_rollup")
  ne_thp=$(awk '$1 == "AnonHugePages:" { print $2 }' "/proc/$ne_pid/smaps_rollup")

  # Collections: the agent's ticks are the multiples of the interval in (t0, t1].
  period_ns=$((interval * 1000000000))
  collections=$((t1_ns / period_ns - t0_ns / period_ns))
  scrapes=$((s1 - s0))
  window_ms=$(((t1_ns - t0_ns) / 1000000))
  window_s=$(printf '%d.%03d' $((window_ms / 1000)) $((window_ms % 1000)))
  # What the aggregator stored of the window (a check on `collections`), once acked.
  sleep 2
  t1_s=$(printf '%d.%03d' $((t1_ns / 1000000000)) $((t1_ns / 1000000 % 1000)))
  stored=$(query "count_over_time(node_load1{host=\"$AGENT_ID\"}[${window_ms}ms])" "$t1_s")
  agent_series=$(query "count({host=\"$AGENT_ID\"})" "$t1_s")
  ne_series=$(grep -vc '^#' "$dir/scrape.txt")
  ne_node_series=$(grep -c '^node_' "$dir/scrape.txt")
  agent_rss_med=$(cut -d' ' -f1 "$dir/rss" | median)
  agent_rss_max=$(cut -d' ' -f1 "$dir/rss" | sort -n | tail -n 1)
  ne_rss_med=$(cut -d' ' -f2 "$dir/rss" | median)
  ne_rss_max=$(cut -d' ' -f2 "$dir/rss" | sort -n | tail -n 1)

  if [[ -n $LAYOUT_OUT ]]; then python3 benches/agent_layout.py "$agent_pid" "$agent_bin" "$dir/hot-code.txt"; fi
  kill "$scrape_pid" "$agent_pid" "$ne_pid"
  wait "$scrape_pid" "$agent_pid" "$ne_pid" 2>/dev/null || true
  warnings=$(grep -cE ' (WARN|ERROR) ' "$dir/agent.log" || true)

  results+=("$(jq -n \
    --argjson interval "$interval" --argjson window "$window_s" --arg load "$load" --argjson tck "$CLK_TCK" \
    --argjson a_ticks $((a1 - a0)) --argjson collections "$collections" --arg stored "$stored" \
    --argjson a_rss_med "$agent_rss_med" --argjson a_rss_max "$agent_rss_max" --argjson a_hwm "$agent_hwm" \
    --arg a_series "$agent_series" --argjson a_warn "$warnings" --argjson a_threads "$agent_threads" \
    --argjson a_anon "$agent_anon" --argjson a_file "$agent_file" --argjson n_anon "$ne_anon" --argjson n_file "$ne_file" \
    --argjson a_thp "${agent_thp:-0}" --argjson n_thp "${ne_thp:-0}" \
    --argjson n_ticks $((n1 - n0)) --argjson scrapes "$scrapes" \
    --argjson n_rss_med "$ne_rss_med" --argjson n_rss_max "$ne_rss_max" --argjson n_hwm "$ne_hwm" \
    --argjson n_series "$ne_series" --argjson n_node "$ne_node_series" '
    def side(ticks; n; med; max; hwm; anon; file; thp): {
      cpu_seconds: (ticks / $tck), cpu_ms_per_collection: (if n > 0 then ticks / $tck * 1000 / n else null end),
      rss_kib_median: med, rss_kib_max: max, hwm_kib: hwm, rss_anon_kib: anon, rss_file_kib: file,
      anon_huge_pages_kib: thp };
    { interval_s: $interval, window_s: $window, load_average_end: $load,
      agent: (side($a_ticks; $collections; $a_rss_med; $a_rss_max; $a_hwm; $a_anon; $a_file; $a_thp)
        + { collections: $collections, collections_stored: ($stored | tonumber? // null),
            series: ($a_series | tonumber? // null), threads: $a_threads, log_warnings: $a_warn }),
      node_exporter: (side($n_ticks; $scrapes; $n_rss_med; $n_rss_max; $n_hwm; $n_anon; $n_file; $n_thp)
        + { scrapes: $scrapes, series: $n_series, node_series: $n_node }) }')")
  if ((warnings > 0)); then
    echo "agent_footprint.sh: the agent logged $warnings WARN/ERROR lines at interval ${interval}s:" >&2
    grep -E ' (WARN|ERROR) ' "$dir/agent.log" | head -n 5 >&2
  fi
done

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$(dirname "$OUT")"
printf '%s\n' "${results[@]}" | jq -s \
  --arg started "$started_at" --arg load_start "$load_start" --arg load_end "$load_end" \
  --arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" --argjson nproc "$(nproc)" \
  --arg sysmon "$("$sysmon" --version)" --arg ne "$("$NODE_EXPORTER" --version 2>&1 | head -n 1)" \
  '{ started: $started, machine: { cpu: $cpu, nproc: $nproc }, load_average_start: $load_start,
     load_average_end: $load_end, sysmon: $sysmon, node_exporter: $ne, runs: . }' >"$OUT"

echo
echo "machine: $(nproc) x $(jq -r .machine.cpu "$OUT"); started $started_at; load average $load_start at start, $load_end at end"
printf '%-8s %-14s %12s %10s %10s %10s %10s %10s %7s %6s %s\n' \
  interval process "CPU/coll ms" "RSS med" "RSS max" "VmHWM" "anon" "file" "series" "colls" "CPU s in window"
jq -r '.runs[] | . as $r | (["sysmon agent", .agent], ["node_exporter", .node_exporter]) |
  [($r.interval_s | tostring) + "s", .[0], (.[1].cpu_ms_per_collection * 100 | round / 100),
   ((.[1].rss_kib_median / 1024 * 10 | round / 10 | tostring) + " MiB"),
   ((.[1].rss_kib_max / 1024 * 10 | round / 10 | tostring) + " MiB"),
   ((.[1].hwm_kib / 1024 * 10 | round / 10 | tostring) + " MiB"),
   ((.[1].rss_anon_kib / 1024 * 10 | round / 10 | tostring) + " MiB"),
   ((.[1].rss_file_kib / 1024 * 10 | round / 10 | tostring) + " MiB"),
   .[1].series, (.[1].collections // .[1].scrapes), .[1].cpu_seconds] | @tsv' "$OUT" |
  while IFS=$'\t' read -r i p c rm rx h an fi s n t; do
    printf '%-8s %-14s %12s %10s %10s %10s %10s %10s %7s %6s %s\n' "$i" "$p" "$c" "$rm" "$rx" "$h" "$an" "$fi" "$s" "$n" "$t"
  done
if [[ -f $HOT_CODE ]]; then
  echo "link order: $(python3 benches/agent_layout.py --check "$HOT_CODE" "$sysmon") functions of $HOT_CODE are in this binary (regenerate it with LAYOUT_OUT when this falls)"
fi
if [[ -n $LAYOUT_OUT ]]; then
  # The first interval's functions first, then what the others add, each name once.
  cat "$work"/i*/hot-code.txt | awk 'FNR == NR && /^#/ { print; next } /^#/ { next } !seen[$0]++' >"$LAYOUT_OUT"
  echo "wrote $(grep -vc '^#' "$LAYOUT_OUT") functions to $LAYOUT_OUT"
  echo "layout run (cold start): these figures are not comparable; rebuild and run again"; fi
echo "JSON: $OUT"
