#!/usr/bin/env bash
# Storage and query comparison with VictoriaMetrics and Prometheus on the same data (issue #3).
#
#   bash benches/compare.sh                 # 100 hosts x 6 h at 10 s: 25 M samples
#   bash benches/compare.sh 10 1 10         # HOSTS HOURS STEP_S: a quick run
#
# 1. Generates the dataset once with ../shared/bench/gen_node_like.py (promtext; the
#    OpenMetrics copy promtool needs is derived from it) and caches it under
#    $CARGO_TARGET_DIR/compare-data (default target/), so reruns skip generation.
# 2. For each system in turn, alone on the machine, fresh data dir:
#    - VictoriaMetrics (Debian package): POST the promtext file to /api/v1/import/prometheus,
#      then /internal/force_flush; ingest = samples / wall time of both. Bytes = du of
#      -storageDataPath once merges have settled. -search.disableCache: no response cache.
#    - Prometheus (Debian package): `promtool tsdb create-blocks-from openmetrics`, timed;
#      then prometheus serves the blocks. Bytes = the block directories (chunks, index,
#      meta.json, tombstones); the empty head (wal/, chunks_head/) is not counted.
#    - sysmon: `sysmon up`, then `sysmon-loadgen --dataset` sends the file over the real
#      mutual-TLS Ingest stream, one agent (and certificate) per host; a batch is acked only
#      once committed. Ingest = acked samples / wall time, with p50/p99 ack latency. Bytes =
#      sysmon.redb once its size has settled.
#    Then each system's sample count is checked with a count_over_time query; a few series
#    are read back at their own step and compared with the dataset value by value (lossless);
#    and two range queries are timed (warmup once, then RUNS runs: median and min of curl's
#    time_total): (a) one series over the whole span at STEP, (b) `sum by (host) (rate(
#    node_cpu_seconds_total{mode!="idle"}[5m]))` over every host at 60 s. Their series and
#    point counts must agree across systems.
# 3. Prints one table side by side and writes it as JSON to $OUT.
#
# Environment: KEEP=1 keeps the work dir and logs; RUNS (10) timed runs per query;
# OUT (default $CARGO_TARGET_DIR/compare-data/compare-HOSTSxHOURSh-STEPs.json);
# LOADGEN_ARGS extra sysmon-loadgen flags (e.g. "--window 4"); SYSMON_UP_ARGS extra `sysmon up`
# flags; SYSTEMS (default "victoriametrics prometheus sysmon") to run only some.
set -euo pipefail
cd "$(dirname "$0")/.."

HOSTS=${1:-100}
HOURS=${2:-6}
STEP=${3:-10}
RUNS=${RUNS:-10}
SYSTEMS=${SYSTEMS:-victoriametrics prometheus sysmon}
TARGET=${CARGO_TARGET_DIR:-target}
GEN=${GEN:-../shared/bench/gen_node_like.py}

# >>> sysmon's raw retention. The data starts at 1_700_000_000 s (Nov 2023): the default raw
# retention (15 days) would drop all of it. `sysmon up --raw-retention` reads this variable
# (as the `[storage] raw_retention` key's SYSMON_<SECTION>_<KEY> override is spelled).
SYSMON_STORAGE_RAW_RETENTION=${SYSMON_STORAGE_RAW_RETENTION:-10y}
export SYSMON_STORAGE_RAW_RETENTION
# The 1 m and 1 h tiers (defaults 90 days and 2 years) would also expire this data, at the
# engine's first retention pass (every 5 minutes), were they read: `sysmon up` takes only the raw
# one today, so a sysmon run must end within 5 minutes for its store to hold its rollups.
SYSMON_STORAGE_MINUTE_RETENTION=${SYSMON_STORAGE_MINUTE_RETENTION:-10y}
SYSMON_STORAGE_HOUR_RETENTION=${SYSMON_STORAGE_HOUR_RETENTION:-10y}
export SYSMON_STORAGE_MINUTE_RETENTION SYSMON_STORAGE_HOUR_RETENTION
# <<<

VM_HTTP=127.0.0.1:28428
PROM_HTTP=127.0.0.1:29090
SYSMON_HTTP=127.0.0.1:29810
SYSMON_GRPC=127.0.0.1:29811
READY_TIMEOUT_SECS=120
# A store has settled when its size is unchanged over SETTLE_POLLS polls SETTLE_EVERY_SECS apart
# (VictoriaMetrics: and no merge is running), or after SETTLE_TIMEOUT_SECS.
SETTLE_POLLS=3
SETTLE_EVERY_SECS=2
SETTLE_TIMEOUT_SECS=300
# The dataset's first timestamp (gen_node_like.py's t0) and series per host.
T0=1700000000
SERIES_PER_HOST=116

if ! [[ $HOSTS =~ ^[1-9][0-9]*$ && $HOURS =~ ^[0-9]+([.][0-9]+)?$ && $STEP =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: compare.sh [HOSTS [HOURS [STEP_S]]] (defaults 100 6 10)" >&2
  exit 2
fi
POINTS=$(echo "$HOURS * 3600 / $STEP" | bc)
SAMPLES=$((HOSTS * SERIES_PER_HOST * POINTS))
T_LAST=$((T0 + (POINTS - 1) * STEP))
if ((POINTS < 60 / STEP + 300 / STEP + 2)); then
  echo "compare.sh: $HOURS h at $STEP s is too short for the 5m-rate query" >&2
  exit 2
fi

for tool in curl jq bc python3; do
  command -v "$tool" >/dev/null || { echo "compare.sh: needs $tool" >&2; exit 1; }
done
if ! command -v victoria-metrics >/dev/null || ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y victoria-metrics prometheus
fi

cargo build --release -p sysmon -p sysmon-benches

work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill "$p"
      wait "$p" || true
    fi
  done
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

for addr in $VM_HTTP $PROM_HTTP $SYSMON_HTTP; do
  if curl -s -o /dev/null "http://$addr/"; then
    echo "compare.sh: something already listens on $addr; stop it first" >&2
    exit 1
  fi
done

note() { echo "compare.sh: $*" >&2; }
now() { date +%s.%N; }
# Seconds between two `now`s.
secs() { echo "$2 - $1" | bc; }
# CPU seconds (user + system) process $1 has used so far.
cpu_secs() { awk '{ sub(/.*\) /, ""); printf "%.2f\n", ($12 + $13) / 100 }' "/proc/$1/stat"; }
# Integer bytes of a path (file or directory).
bytes_of() { du -sb "$@" | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

# Starts "$@" in the background with its output in $work/$name.log and waits for $url.
start() {
  local name=$1 url=$2 pid deadline
  shift 2
  "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  deadline=$((SECONDS + READY_TIMEOUT_SECS))
  until curl -sf -o /dev/null "$url"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      note "$name exited before it was ready; its log:"
      tail -n 30 "$work/$name.log" >&2
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      note "$url not ready after $READY_TIMEOUT_SECS s; $name's log:"
      tail -n 30 "$work/$name.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  started_pid=$pid
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# Waits until `$1` (a command printing a number) prints the same number SETTLE_POLLS times
# in a row, SETTLE_EVERY_SECS apart; `$2`, if given, must also print 0 (work in progress).
settle() {
  local size_cmd=$1 busy_cmd=${2:-} last=-1 same=0 size busy deadline=$((SECONDS + SETTLE_TIMEOUT_SECS))
  while ((same < SETTLE_POLLS)); do
    if ((SECONDS >= deadline)); then
      note "still changing after $SETTLE_TIMEOUT_SECS s; measuring now"
      break
    fi
    sleep "$SETTLE_EVERY_SECS"
    size=$($size_cmd)
    busy=0
    [[ -n $busy_cmd ]] && busy=$($busy_cmd)
    if [[ $size == "$last" && $busy == 0 ]]; then same=$((same + 1)); else same=0; fi
    last=$size
  done
}

# ---------------------------------------------------------------------------------------------
# The dataset, generated once.
data_dir=$TARGET/compare-data
mkdir -p "$data_dir"
name=node_like_${HOSTS}x${HOURS}h_${STEP}s
promtext=$data_dir/$name.prom
openmetrics=$data_dir/$name.om
if [[ ! -s $promtext ]]; then
  note "generating $promtext ($SAMPLES samples)"
  started=$(now)
  python3 "$GEN" "$HOSTS" "$HOURS" "$STEP" promtext >"$promtext.tmp"
  mv "$promtext.tmp" "$promtext"
  note "generated in $(printf %.0f "$(secs "$started" "$(now)")") s"
fi
if [[ ! -s $openmetrics ]]; then
  # The same lines with timestamps in seconds (the generator's promtext ones are seconds x 1000),
  # and the `# EOF` OpenMetrics ends with: what `gen_node_like.py ... openmetrics` writes.
  { sed 's/000$//' "$promtext"; echo "# EOF"; } >"$openmetrics.tmp"
  mv "$openmetrics.tmp" "$openmetrics"
fi
lines=$(wc -l <"$promtext")
if ((lines != SAMPLES)); then
  note "$promtext has $lines lines, expected $SAMPLES samples; delete it and rerun"
  exit 1
fi

# The probes: one host's series that the lossless check reads back at the dataset's step.
probe_host=$(printf 'host-%05d' $((HOSTS > 42 ? 42 : HOSTS - 1)))
probes=(
  "node_time_seconds{host=\"$probe_host\"}"
  "node_cpu_seconds_total{host=\"$probe_host\",cpu=\"0\",mode=\"user\"}"
  "node_disk_io_time_seconds_total{host=\"$probe_host\",device=\"sda\"}"
  "node_load1{host=\"$probe_host\"}"
  "node_memory_MemFree_bytes{host=\"$probe_host\"}"
)
grep_args=()
for p in "${probes[@]}"; do grep_args+=(-e "$p "); done
grep -F "${grep_args[@]}" "$promtext" >"$work/probes.expected"

QUERY_A="node_memory_MemFree_bytes{host=\"$probe_host\"}"
QUERY_B='sum by (host) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))'
# (b) runs on whole minutes, from the first one with a full 5 m window.
B_START=$(((T0 + 300 + 59) / 60 * 60))
B_END=$((T_LAST / 60 * 60))
# Samples are counted per metric name (count_over_time drops the name, and one query over all
# of them would make series that differ only by name clash in Prometheus), over a window that
# holds every sample, evaluated just after the last one.
COUNT_WINDOW=$((T_LAST - T0 + 60))s
COUNT_AT=$((T_LAST + 30))

# GET $1/api/v1/query_range for query $2, start $3, end $4, step $5 into file $6;
# prints the HTTP status and curl's time_total.
query_range() {
  curl -sS -o "$6" -w '%{http_code} %{time_total}' -G "$1/api/v1/query_range" \
    --data-urlencode "query=$2" --data-urlencode "start=$3" --data-urlencode "end=$4" --data-urlencode "step=$5" ||
    echo "000 0"
}

# Times a range query ($1 base URL, $2 system, $3 label, then query_range's $2..$5): warmup,
# then RUNS runs. Writes $work/$2.$3.json (the warmup's answer) and $work/$2.$3.times (seconds).
# The timed runs write their answer to /dev/null: curl creates its output file when the first
# byte arrives, inside time_total, and truncating the previous answer there (an ext4 file of
# 56 kB for query (a)) took about 0.3 ms, a third of query (a)'s time, for every system alike.
# Prints "median_ms min_ms series points", or "n/a" when the API is missing (404).
time_query() {
  local base=$1 out=$work/$2.$3.json times=$work/$2.$3.times code t i
  shift 3
  read -r code t < <(query_range "$base" "$@" "$out")
  if [[ $code == 404 ]]; then
    echo "n/a"
    return
  fi
  if [[ $code != 200 ]]; then
    note "$base: query $1 answered HTTP $code: $(head -c 300 "$out" 2>/dev/null)"
    echo "error"
    return
  fi
  : >"$times"
  for ((i = 0; i < RUNS; i++)); do
    read -r code t < <(query_range "$base" "$@" /dev/null)
    if [[ $code != 200 ]]; then
      note "$base: query $1 answered HTTP $code on run $i"
      echo "error"
      return
    fi
    echo "$t" >>"$times"
  done
  local median min
  median=$(sort -g "$times" | awk '{ a[NR] = $1 } END { printf "%.1f", 1000 * (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')
  min=$(sort -g "$times" | awk 'NR == 1 { printf "%.1f", 1000 * $1 }')
  echo "$median $min $(jq '.data.result | length' "$out") $(jq '[.data.result[].values | length] | add // 0' "$out")"
}

# The samples a system holds in the dataset's span, by query ($1 base URL): the sum over its
# metric names of sum(count_over_time(NAME[window])). "n/a" without the API.
count_samples() {
  local out=$work/count.json code name total=0 n
  code=$(curl -sS -o "$out" -w '%{http_code}' "$1/api/v1/label/__name__/values") || code=000
  case $code in
    200) ;;
    404) echo "n/a"; return ;;
    *) note "$1: label values answered HTTP $code: $(head -c 300 "$out")"; echo "error"; return ;;
  esac
  for name in $(jq -r '.data[]' "$out"); do
    code=$(curl -sS -o "$work/count1.json" -w '%{http_code}' -G "$1/api/v1/query" \
      --data-urlencode "query=sum(count_over_time(${name}[$COUNT_WINDOW]))" --data-urlencode "time=$COUNT_AT") || code=000
    if [[ $code != 200 ]]; then
      note "$1: counting $name answered HTTP $code: $(head -c 300 "$work/count1.json")"
      echo "error"
      return
    fi
    n=$(jq -r '.data.result[0].value[1] // 0' "$work/count1.json")
    total=$((total + n))
  done
  echo "$total"
}

# Reads the probe series back ($1 base URL, $2 system) at the dataset's step and compares every
# value with the dataset's. Prints "differing compared", or "n/a".
check_lossless() {
  local base=$1 i code t
  for i in "${!probes[@]}"; do
    read -r code t < <(query_range "$base" "${probes[$i]}" "$T0" "$T_LAST" "$STEP" "$work/$2.probe$i.json")
    if [[ $code == 404 ]]; then
      echo "n/a"
      return
    fi
  done
  python3 - "$work/probes.expected" "$work/$2.probe" "${probes[@]}" <<'EOF'
import json, sys
expected = {series: {} for series in sys.argv[3:]}
for line in open(sys.argv[1]):
    series, value, ts = line.rsplit(" ", 2)
    expected[series][int(ts) // 1000] = float(value)
differing = compared = 0
names = []
for i, (series, values) in enumerate(expected.items()):
    try:
        result = json.load(open(f"{sys.argv[2]}{i}.json"))["data"]["result"]
    except (OSError, ValueError, KeyError):
        result = []
    got = {int(float(t)): float(v) for r in result for t, v in r["values"]}
    before = differing
    for t, v in values.items():
        compared += 1
        if got.get(t) != v:
            differing += 1
    if differing > before:
        names.append(series.split("{")[0])
print(differing, compared, ",".join(names) or "-")
EOF
}

# Fills $work/$1.json with one system's figures. Arguments: system, version, ingest seconds,
# store bytes, note; the query/count/lossless results are read from the globals below.
record() {
  local a b l
  read -r -a a <<<"$qa"
  read -r -a b <<<"$qb"
  read -r -a l <<<"$lossless"
  jq -n --arg system "$1" --arg version "$2" --arg ingest_secs "$3" --arg bytes "$4" --arg note "$5" \
    --arg samples "$SAMPLES" --arg counted "$counted" --arg p50 "${p50:-}" --arg p99 "${p99:-}" \
    --arg cpu_server "${cpu_server:-}" --arg cpu_client "${cpu_client:-}" \
    --arg qa_med "${a[0]}" --arg qa_min "${a[1]:-}" --arg qa_series "${a[2]:-}" --arg qa_points "${a[3]:-}" \
    --arg qb_med "${b[0]}" --arg qb_min "${b[1]:-}" --arg qb_series "${b[2]:-}" --arg qb_points "${b[3]:-}" \
    --arg ll_diff "${l[0]}" --arg ll_total "${l[1]:-}" --arg ll_names "${l[2]:-}" '
    def num: if test("^[0-9.]+$") then tonumber else null end;
    def query($med; $min; $series; $points):
      if ($med | num) == null then {status: $med}
      else {median_ms: ($med | num), min_ms: ($min | num), series: ($series | num), points: ($points | num)} end;
    {
      system: $system, version: $version,
      ingest_secs: ($ingest_secs | num),
      ingest_samples_per_sec: (if ($ingest_secs | num) then ($samples | num) / ($ingest_secs | num) else null end),
      ack_latency_p50_ms: ($p50 | num), ack_latency_p99_ms: ($p99 | num),
      ingest_cpu_secs: {server: ($cpu_server | num), client: ($cpu_client | num)},
      store_bytes: ($bytes | num),
      bytes_per_sample: (if ($bytes | num) then ($bytes | num) / ($samples | num) else null end),
      samples_counted: (($counted | num) // $counted),
      lossless: (if ($ll_diff | num) == null then {status: $ll_diff}
                 else {values_compared: ($ll_total | num), values_differing: ($ll_diff | num),
                       series_differing: ($ll_names | split(",") | map(select(. != "-")))} end),
      query_a: query($qa_med; $qa_min; $qa_series; $qa_points),
      query_b: query($qb_med; $qb_min; $qb_series; $qb_points),
      note: $note
    }' >"$work/$1.json"
  if [[ $1 == sysmon && -s $work/store-stats.json ]]; then
    # The store's bytes per sample, table by table (key and value bytes, then all of the
    # table's pages), and of the file once compacted.
    jq --slurpfile st "$work/store-stats.json" --arg samples "$SAMPLES" '
      ($samples | tonumber) as $n | $st[0] as $s |
      .store = (if $s.file_bytes == null then null else {
        compacted_bytes_per_sample: (if $s.compacted_file_bytes then $s.compacted_file_bytes / $n else null end),
        free_or_unused_bytes: ($s.file_bytes - $s.stored_bytes - $s.metadata_bytes),
        tables: [$s.tables[] | {name, entries, stored_bytes_per_sample: (.stored_bytes / $n),
                 pages_bytes_per_sample: ((.stored_bytes + .metadata_bytes + .fragmented_bytes) / $n)}]
      } end)' "$work/$1.json" >"$work/$1.json.tmp" && mv "$work/$1.json.tmp" "$work/$1.json"
  fi
}

# The three measurements every system gets once its data is in ($1 base URL, $2 system).
measure_queries() {
  counted=$(count_samples "$1")
  lossless=$(check_lossless "$1" "$2")
  qa=$(time_query "$1" "$2" a "$QUERY_A" "$T0" "$T_LAST" "$STEP")
  qb=$(time_query "$1" "$2" b "$QUERY_B" "$B_START" "$B_END" 60)
}

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
note "dataset $promtext: $HOSTS hosts x $HOURS h at $STEP s, $SAMPLES samples; load average $load_at_start"

# ---------------------------------------------------------------------------------------------
if [[ " $SYSTEMS " == *" victoriametrics "* ]]; then
  note "VictoriaMetrics: importing"
  vm_data=$work/victoria-metrics
  start victoria-metrics "http://$VM_HTTP/health" victoria-metrics -storageDataPath "$vm_data" \
    -httpListenAddr "$VM_HTTP" -retentionPeriod 100y -search.disableCache
  vm_pid=$started_pid
  cpu_before=$(cpu_secs "$vm_pid")
  started=$(now)
  code=$(curl -sS -o "$work/vm-import.out" -w '%{http_code}' -X POST -T "$promtext" \
    "http://$VM_HTTP/api/v1/import/prometheus")
  curl -sSf -o /dev/null "http://$VM_HTTP/internal/force_flush"
  ingest_secs=$(secs "$started" "$(now)")
  cpu_server=$(echo "$(cpu_secs "$vm_pid") - $cpu_before" | bc)
  cpu_client=''
  if [[ $code != 204 && $code != 200 ]]; then
    note "VictoriaMetrics import answered HTTP $code: $(head -c 300 "$work/vm-import.out")"
    exit 1
  fi
  # Its data: the parts (data/) and the index (indexdb/); not cache/, which it writes on stop.
  vm_bytes() { bytes_of "$vm_data/data" "$vm_data/indexdb"; }
  # Busy while merging or holding rows not yet in parts, or while its parts are not all on
  # disk yet (vm_data_size_bytes counts them before they are).
  vm_busy() {
    curl -sS "http://$VM_HTTP/metrics" | awk -v on_disk="$(vm_bytes)" '
      /^vm_(active_merges|pending_rows)[{ ]/ { busy += $NF }
      /^vm_data_size_bytes[{ ]/ { size += $NF }
      END { print busy + (on_disk < size ? 1 : 0) }'
  }
  note "VictoriaMetrics: imported in $(printf %.1f "$ingest_secs") s; waiting for merges to settle"
  settle vm_bytes vm_busy
  running_bytes=$(vm_bytes)
  version=$(dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null | sed 's/+.*//')
  p50='' p99=''
  measure_queries "http://$VM_HTTP" victoriametrics
  stop "$vm_pid"
  bytes=$(vm_bytes)
  record victoriametrics "$version" "$ingest_secs" "$bytes" \
    "/api/v1/import/prometheus + /internal/force_flush; -search.disableCache; bytes: data/ + indexdb/ after merges and a clean stop ($running_bytes while running, settled; cache/ not counted)"
fi

# ---------------------------------------------------------------------------------------------
if [[ " $SYSTEMS " == *" prometheus "* ]]; then
  note "Prometheus: promtool tsdb create-blocks-from openmetrics"
  prom_data=$work/prometheus
  mkdir -p "$prom_data"
  started=$(now)
  # In a subshell, whose `times` (second line: its children's CPU time) is then promtool's; a
  # builtin with a redirect, since a pipe would run `times` in a fresh subshell with no children.
  (
    promtool tsdb create-blocks-from openmetrics "$openmetrics" "$prom_data" >"$work/promtool.log" 2>&1 || exit 1
    times >"$work/promtool.times"
  ) || {
    note "promtool failed; its log:"
    tail -n 30 "$work/promtool.log" >&2
    exit 1
  }
  ingest_secs=$(secs "$started" "$(now)")
  cpu_server=$(awk 'NR == 2 { gsub(/[ms]/, " "); printf "%.2f\n", $1 * 60 + $2 + $3 * 60 + $4 }' "$work/promtool.times")
  cpu_client=
  note "Prometheus: promtool took $(printf %.1f "$ingest_secs") s"
  prom_blocks() { find "$prom_data" -mindepth 1 -maxdepth 1 -type d -regextype egrep -regex '.*/[0-9A-Z]{26}'; }
  blocks_bytes() {
    local blocks
    mapfile -t blocks < <(prom_blocks)
    if ((${#blocks[@]} == 0)); then echo 0; else bytes_of "${blocks[@]}"; fi
  }
  promtool_bytes=$(blocks_bytes)
  promtool_blocks=$(prom_blocks | wc -l)
  printf 'global:\n  scrape_interval: 1h\nscrape_configs: []\n' >"$work/prometheus.yml"
  start prometheus "http://$PROM_HTTP/-/ready" prometheus --config.file "$work/prometheus.yml" \
    --storage.tsdb.path "$prom_data" --storage.tsdb.retention.time 100y \
    --web.listen-address "$PROM_HTTP" --query.max-samples 1000000000
  prom_pid=$started_pid
  version=$(prometheus --version 2>&1 | awk 'NR == 1 { sub(/\+.*/, "", $3); print $3 }')
  p50='' p99=''
  measure_queries "http://$PROM_HTTP" prometheus
  # Blocks again, after prometheus has had them for the queries (it may compact them).
  bytes=$(blocks_bytes)
  head_bytes=$(bytes_of "$prom_data/wal" "$prom_data/chunks_head" 2>/dev/null || echo 0)
  record prometheus "$version" "$ingest_secs" "$bytes" \
    "promtool wrote $promtool_blocks blocks, $promtool_bytes bytes; now $(prom_blocks | wc -l) blocks; head not counted ($head_bytes bytes)"
  stop "$prom_pid"
fi

# ---------------------------------------------------------------------------------------------
if [[ " $SYSTEMS " == *" sysmon "* ]]; then
  note "sysmon: sysmon up, then sysmon-loadgen --dataset (raw retention: SYSMON_STORAGE_RAW_RETENTION=$SYSMON_STORAGE_RAW_RETENTION)"
  sysmon_data=$work/sysmon
  # shellcheck disable=SC2086 # SYSMON_UP_ARGS is a list of flags
  start sysmon "http://$SYSMON_HTTP/readyz" "$TARGET/release/sysmon" up --data-dir "$sysmon_data" \
    --http-listen "$SYSMON_HTTP" --grpc-listen "$SYSMON_GRPC" ${SYSMON_UP_ARGS:-}
  sysmon_pid=$started_pid
  cpu_before=$(cpu_secs "$sysmon_pid")
  status=0
  # shellcheck disable=SC2086 # LOADGEN_ARGS is a list of flags
  "$TARGET/release/sysmon-loadgen" --dataset "$promtext" --ca-dir "$sysmon_data/certs" \
    --aggregator "https://$SYSMON_GRPC" --server-name localhost ${LOADGEN_ARGS:-} --output json \
    >"$work/loadgen.json" 2> >(tee "$work/loadgen.log" >&2) || status=$?
  if [[ $status != 0 ]]; then
    note "sysmon-loadgen exited with $status; the figures below are of what was acked"
  fi
  ingest_secs=$(jq -r '.measured_secs' "$work/loadgen.json")
  cpu_server=$(echo "$(cpu_secs "$sysmon_pid") - $cpu_before" | bc)
  cpu_client=$(jq -r '.loadgen_cpu_secs' "$work/loadgen.json")
  acked=$(jq -r '.samples_acked_total' "$work/loadgen.json")
  p50=$(jq -r '.ack_latency_p50_ms' "$work/loadgen.json")
  p99=$(jq -r '.ack_latency_p99_ms' "$work/loadgen.json")
  redb_bytes() { bytes_of "$sysmon_data/sysmon.redb"; }
  note "sysmon: $acked samples acked in $(printf %.1f "$ingest_secs") s; waiting for the store to settle"
  settle redb_bytes
  running_bytes=$(redb_bytes)
  other_bytes=$(find "$sysmon_data" -path "$sysmon_data/certs" -prune -o -type f ! -name sysmon.redb -printf '%s\n' |
    awk '{ s += $1 } END { printf "%.0f\n", s }')
  version="$("$TARGET/release/sysmon" --version | awk '{ print $NF }') ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo +changes))"
  measure_queries "http://$SYSMON_HTTP" sysmon
  [[ $counted == n/a ]] && counted="$acked acked"
  # A clean stop seals every head chunk and trims the WAL: what the store holds for good.
  stop "$sysmon_pid"
  bytes=$(redb_bytes)
  allocated=$(du -sB1 "$sysmon_data/sysmon.redb" | cut -f1)
  # Where those bytes go, table by table, and the size once compacted (on a copy).
  cp "$sysmon_data/sysmon.redb" "$work/sysmon-copy.redb"
  "$TARGET/release/sysmon-store-stats" --compact --output json "$work/sysmon-copy.redb" >"$work/store-stats.json" ||
    echo '{}' >"$work/store-stats.json"
  rm -f "$work/sysmon-copy.redb"
  record sysmon "$version" "$ingest_secs" "$bytes" \
    "sysmon-loadgen --dataset: $HOSTS agents over mTLS, acked after commit; $(jq -r '.errors' "$work/loadgen.json") errors; bytes: sysmon.redb after a clean stop ($allocated allocated; $running_bytes while running, settled); other files besides certs: $other_bytes"
fi

# ---------------------------------------------------------------------------------------------
OUT=${OUT:-$data_dir/compare-${HOSTS}x${HOURS}h-${STEP}s.json}
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
os=$(. /etc/os-release && echo "$PRETTY_NAME")
mem_gib=$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
load_at_end=$(cut -d' ' -f1-3 /proc/loadavg)
systems_json=()
for s in $SYSTEMS; do [[ -s $work/$s.json ]] && systems_json+=("$work/$s.json"); done
jq -s --arg date "$(date -u +%FT%TZ)" --arg cpu "$cpu" --arg nproc "$(nproc)" --arg mem "$mem_gib" \
  --arg os "$os" --arg load0 "$load_at_start" --arg load1 "$load_at_end" \
  --arg hosts "$HOSTS" --arg hours "$HOURS" --arg step "$STEP" --arg samples "$SAMPLES" --arg runs "$RUNS" \
  --arg qa "$QUERY_A" --arg qb "$QUERY_B" '{
    date: $date,
    machine: {nproc: ($nproc | tonumber), cpu: $cpu, memory_gib: ($mem | tonumber), os: $os,
              load_average_at_start: $load0, load_average_at_end: $load1},
    dataset: {generator: "gen_node_like.py", hosts: ($hosts | tonumber), hours: ($hours | tonumber),
              step_secs: ($step | tonumber), series: (($hosts | tonumber) * 116), samples: ($samples | tonumber)},
    queries: {a: {query: $qa, step_secs: ($step | tonumber)}, b: {query: $qb, step_secs: 60}, timed_runs: ($runs | tonumber)},
    systems: .
  }' "${systems_json[@]}" >"$OUT"

echo
echo "== $HOSTS hosts x $HOURS h at $STEP s: $SAMPLES samples ($((HOSTS * SERIES_PER_HOST)) series), gen_node_like.py"
echo "machine: $(nproc) x $cpu, $mem_gib GiB, $os; load average $load_at_start at start, $load_at_end at end"
echo "(a) $QUERY_A, ${STEP}s step; (b) $QUERY_B, 60s step; median / min of $RUNS runs"
echo
jq -r '
  def f($d): if . == null then "-" else (. * $d | round) / $d | tostring end;
  def q: if .status then .status else "\(.median_ms | f(10)) / \(.min_ms | f(10))" end;
  def rate: if . == null then "-" elif . >= 1e6 then "\(. / 1e6 | f(100)) M" else "\(. / 1e3 | f(1)) k" end;
  ["system", "version", "ingest samples/s", "ingest cpu s", "p99 ack ms", "bytes/sample", "lossless", "samples counted", "query a ms", "query b ms"],
  (.systems[] | [.system, .version, (.ingest_samples_per_sec | rate),
    (.ingest_cpu_secs | "\(.server | f(10))\(if .client then " + \(.client | f(10))" else "" end)"),
    (.ack_latency_p99_ms | f(10)),
    (.bytes_per_sample | f(100)),
    (if .lossless.status then .lossless.status elif .lossless.values_differing == 0 then "yes"
     else "no: \(.lossless.values_differing)/\(.lossless.values_compared) (\(.lossless.series_differing | join(",")))" end),
    (.samples_counted | tostring), (.query_a | q), (.query_b | q)])
  | @tsv' "$OUT" | column -t -s $'\t'
echo
jq -r '.systems[] | "\(.system): \(.note)"' "$OUT"
jq -r '.systems[] | select(.store != null) | .store |
  "sysmon store, bytes per sample: \(.compacted_bytes_per_sample * 100 | round / 100) once compacted; by table (key+value bytes): " +
  ([.tables[] | select(.stored_bytes_per_sample >= 0.005) | "\(.name) \(.stored_bytes_per_sample * 100 | round / 100)"] | join(", "))' "$OUT"
# The answers must have the same shape everywhere.
jq -r --arg samples "$SAMPLES" '
  ([.systems[] | select(.query_a.series != null) | "\(.query_a.series)x\(.query_a.points) \(.query_b.series)x\(.query_b.points)"] | unique
  | if length > 1 then "WARNING: the systems answered with different series x points (a, b): \(join(", "))" else empty end),
  (.systems[] | select((.samples_counted | tostring) != $samples and (.samples_counted | type) == "number")
  | "WARNING: \(.system) counts \(.samples_counted) samples, the dataset has \($samples)")' "$OUT"
# How far each answer to (b) is from Prometheus's: sysmon's should match it (its PromQL follows
# Prometheus 2.42); VictoriaMetrics's rate() may differ where a window lacks samples.
if [[ -s $work/prometheus.b.json ]]; then
  for s in $SYSTEMS; do
    [[ $s != prometheus && -s $work/$s.b.json ]] || continue
    python3 - "$work/prometheus.b.json" "$work/$s.b.json" "$s" <<'EOF'
import json, sys
def load(path):
    try:
        result = json.load(open(path))["data"]["result"]
    except (OSError, ValueError, KeyError):
        return {}
    return {(r["metric"].get("host"), int(float(t))): float(v) for r in result for t, v in r["values"]}
want, got = load(sys.argv[1]), load(sys.argv[2])
if got:
    missing = sum(1 for k in want if k not in got)
    worst = max((abs(got[k] - v) / max(abs(v), 1e-12) for k, v in want.items() if k in got), default=0.0)
    print(f"query b, {sys.argv[3]} against prometheus: {len(got)} points, {missing} of prometheus's missing, "
          f"largest relative difference {worst:.2e}")
EOF
  done
fi
echo "json: $OUT"
