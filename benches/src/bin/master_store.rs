//! `sysmon-master-store`: the bytes a federation master's store needs per host per day, per
//! tier (issue #5's storage goal). It simulates what a master receives: node-like hosts
//! (116 series, or those `--replicate` selects, or with `--summaries` the 7 host-level
//! series recording rules would make of them; a collection every 10 s, the shapes of
//! `gen_node_like.py`), folded into 1-minute rollups with the engine's own fold, as a
//! regional does, and written with `Tsdb::write_rollups` one minute of every host per call,
//! as the master stores each replication batch. The engine runs under a simulated clock that follows the data, so its
//! background pass compacts each 2-hour partition and puts its 1-hour points together as it
//! would on a live master. At the end the file is closed, compacted by redb, and measured
//! table by table; from the 1-minute and 1-hour tables' bytes per host per day it projects a
//! year at a master with the given 1-minute retention: 358 days of packed weeks of hours
//! (final weeks are packed, see `tsdb/src/rollup/packed.rs`) and the newest week's hours as
//! rows. A span of more than a week (`--span 8d`, say) is needed to see a week packed.
// Its report is what it prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use redb::{ReadableDatabase as _, ReadableTableMetadata as _, TableHandle as _};
use sysmon_benches::NodeLikeHost;
use sysmon_tsdb::{Clock, CommitOutcome, Labels, Matcher, RollupPoint, Tier, Tsdb, TsdbConfig, fold_samples};

/// Bytes per host per day of a master's store, per tier, from simulated replication.
#[derive(Debug, Parser)]
#[command(name = "sysmon-master-store", version, about, long_about = None)]
struct Args {
    /// Simulated hosts.
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    /// Simulated days of replication, from 2024-01-04 00:00 UTC, where a week of 1-hour runs starts.
    #[arg(long, default_value = "2d", value_parser = humantime::parse_duration)]
    span: Duration,
    /// The master's 1-minute retention for the year projection.
    #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
    minute_retention: Duration,
    /// Hosts in the projection.
    #[arg(long, default_value_t = 10_000)]
    fleet: u64,
    /// Where the store is written (a fresh temporary directory by default).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Replicate only the series whose metric name matches this regex (anchored), as a
    /// regional with `federation.replicate = ['{__name__=~"REGEX"}']` does. Default: all.
    #[arg(long, value_name = "REGEX", conflicts_with = "summaries")]
    replicate: Option<String>,
    /// Replicate, instead of the node-like series, the 7 host-level summaries that recording
    /// rules evaluated once a minute give a regional (cpu busy, memory used, fullest
    /// filesystem, disk bytes/s, network receive and transmit bytes/s, load1; percentages
    /// rounded to 0.01 and rates to 1 as the rules would), as with
    /// `federation.replicate = ['{__name__=~"host:.+"}']`.
    #[arg(long)]
    summaries: bool,
}

const START_MS: i64 = 1_704_326_400_000;
const MINUTE_MS: i64 = 60_000;
const STEP_MS: i64 = 10_000;

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sysmon-master-store: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    if args.hosts == 0 || args.span < Duration::from_secs(3 * 3600) {
        bail!("needs at least one host and a span of at least 3h (one whole partition compacted)");
    }
    let temp = tempfile::tempdir().context("cannot make a temporary directory")?;
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("master.redb");
    let _ = std::fs::remove_file(&path);
    let now = Arc::new(AtomicI64::new(START_MS));
    let clock = {
        let now = now.clone();
        Clock::from_fn(move || now.load(Ordering::Relaxed))
    };
    let config = TsdbConfig {
        minute_retention: Duration::from_secs(3650 * 86_400),
        hour_retention: Duration::from_secs(3650 * 86_400),
        clock,
        ..TsdbConfig::default()
    };
    let db = Arc::new(redb::Database::create(&path).with_context(|| format!("cannot create {}", path.display()))?);
    let tsdb = Tsdb::open(db.clone(), config).context("cannot open the store")?;

    let replicate = match &args.replicate {
        Some(regex) => Some(Matcher::regex("__name__", regex).context("--replicate")?),
        None => None,
    };
    let mut hosts: Vec<SimulatedHost> = (0..args.hosts)
        .map(|i| SimulatedHost::new(&format!("host-{i:05}"), i as u64, replicate.clone(), args.summaries))
        .collect();
    let minutes = (args.span.as_millis() as i64) / MINUTE_MS;
    let started = Instant::now();
    let mut points = 0u64;
    for minute in 0..minutes {
        let series: Vec<(Labels, Vec<RollupPoint>)> = hosts.iter_mut().flat_map(SimulatedHost::next_minute).collect();
        points += series.len() as u64;
        let outcome = tsdb.write_rollups(Tier::Minute, series, Some(("bench-region".into(), minute as u64 + 1)));
        match outcome.blocking_recv().context("the store stopped")? {
            Ok(CommitOutcome::Stored { .. }) => {}
            Ok(other) => bail!("minute {minute}: unexpected outcome {other:?}"),
            Err(err) => bail!("minute {minute}: {err}"),
        }
        // The wall clock follows the data, 75 s behind it as replication is.
        let minute_end = START_MS + (minute + 1) * MINUTE_MS;
        now.store(minute_end + 75_000, Ordering::Relaxed);
        if minute_end % (2 * 3_600_000) == 0 {
            // A retention pass every simulated two hours; the partition before the one that
            // just ended is `compact_rollups_after` (10 min) old by the time the next runs.
            tsdb.apply_retention().context("retention pass")?;
        }
        if (minute + 1) % 720 == 0 {
            eprintln!(
                "sysmon-master-store: {} of {} simulated hours, {points} points, {:.0} s",
                (minute + 1) / 60,
                minutes / 60,
                started.elapsed().as_secs_f64()
            );
        }
    }
    // Everything but the newest partition compacted, as on a live master.
    now.fetch_add(15 * MINUTE_MS, Ordering::Relaxed);
    tsdb.apply_retention().context("retention pass")?;
    let runs = (tsdb.rollup_runs(Tier::Minute)?, tsdb.rollup_rows_and_packed_runs(Tier::Hour)?);
    let compacted_before = tsdb.received_hours_complete_before();
    tsdb.close().context("cannot close the store")?;
    drop(db);

    let mut db = redb::Database::open(&path).context("cannot reopen the store")?;
    db.compact().context("cannot compact the file")?;
    let file_bytes = std::fs::metadata(&path)?.len();
    let tables = table_bytes(&db)?;
    let days = (compacted_before.min(START_MS + minutes * MINUTE_MS) - START_MS) as f64 / 86_400_000.0;
    let all_days = (minutes * MINUTE_MS) as f64 / 86_400_000.0;
    let hosts_f = args.hosts as f64;
    let of = |name: &str| tables.iter().find(|(n, _)| n == name).map_or(0, |(_, b)| *b) as f64;
    let series = if args.summaries { SUMMARIES.len() as f64 } else { hosts[0].series() as f64 };
    if series == 0.0 {
        bail!("--replicate matches none of the 116 series");
    }
    let minute_day = of("tsdb_rollup_1m") / hosts_f / all_days;
    // Final weeks are packed (one run per series and week); the newest week's hours are rows.
    let packed_days = 7.0 * runs.1.1 as f64 / (hosts_f * series);
    let packed_day = if packed_days > 0.0 { of("tsdb_rollup_1h_packs") / hosts_f / packed_days } else { 0.0 };
    let row_days = days - packed_days;
    let row_day = if row_days > 0.0 { of("tsdb_rollup_1h") / hosts_f / row_days } else { 0.0 };
    let hour_day = (of("tsdb_rollup_1h") + of("tsdb_rollup_1h_packs")) / hosts_f / days;
    let hour_tables = ["tsdb_rollup_1m", "tsdb_rollup_1h", "tsdb_rollup_1h_packs"];
    let rest: f64 =
        tables.iter().filter(|(n, _)| !hour_tables.contains(&n.as_str())).map(|(_, b)| *b as f64).sum::<f64>()
            / hosts_f;
    let keep_minutes = args.minute_retention.as_secs_f64() / 86_400.0;
    // A year: packed weeks, and the newest week (at most) still in rows.
    let year_hours =
        if packed_days > 0.0 { 358.0 * packed_day + 7.0 * row_day.max(packed_day) } else { 365.0 * hour_day };
    let year_per_host = keep_minutes.min(365.0) * minute_day + year_hours + rest;

    println!(
        "simulated: {} hosts x {series} series (of 116), {:.1} days of 1-minute rollups ({points} points); hours put together for {:.1} days",
        args.hosts, all_days, days
    );
    println!(
        "runs: {} 1-minute, {} 1-hour in rows and {} packed; file after redb compaction: {} bytes ({:.1} bytes per 1-minute point)",
        runs.0,
        runs.1.0,
        runs.1.1,
        file_bytes,
        file_bytes as f64 / points as f64
    );
    for (name, bytes) in &tables {
        println!("  {name}: {bytes} bytes");
    }
    println!(
        "per host per day: 1-minute tier {:.0} bytes ({:.2} per point), 1-hour tier {:.0} bytes ({:.2} per point); index and the rest {:.0} bytes per host",
        minute_day,
        minute_day / (series * 1440.0),
        hour_day,
        hour_day / (series * 24.0),
        rest
    );
    println!(
        "1-hour tier: packed weeks ({packed_days:.0} days) {:.0} bytes per host per day ({:.2} per point); the newest week's rows ({row_days:.1} days) {:.0} ({:.2} per point)",
        packed_day,
        packed_day / (series * 24.0),
        row_day,
        row_day / (series * 24.0),
    );
    println!(
        "a year at a master keeping 1-minute rollups for {} and 1-hour for a year: {:.2} MB per host, {:.1} GiB for {} hosts",
        humantime::format_duration(args.minute_retention),
        year_per_host / 1e6,
        year_per_host * args.fleet as f64 / (1u64 << 30) as f64,
        args.fleet
    );
    Ok(())
}

/// Bytes each table takes in the file: stored keys and values, page metadata and the unused
/// space in its pages.
fn table_bytes(db: &redb::Database) -> anyhow::Result<Vec<(String, u64)>> {
    let txn = db.begin_read()?;
    let mut out = Vec::new();
    for handle in txn.list_tables()? {
        let name = handle.name().to_string();
        let stats = txn.open_untyped_table(handle)?.stats()?;
        out.push((name, stats.stored_bytes() + stats.metadata_bytes() + stats.fragmented_bytes()));
    }
    Ok(out)
}

/// A node-like host as its regional sees it: collections every 10 s, folded into minutes.
struct SimulatedHost {
    host: NodeLikeHost,
    labels: Vec<Labels>,
    /// The series replicated (`None`: all).
    replicate: Option<Matcher>,
    /// Whether the host-level summaries are replicated instead (see `Args::summaries`).
    summaries: bool,
    /// The last collection's values, for the summaries' rates.
    previous: Vec<f64>,
}

/// The host-level summaries' names, as recording rules would call them.
const SUMMARIES: [&str; 7] = [
    "host:cpu_busy:percent",
    "host:memory_used:percent",
    "host:filesystem_used:max_percent",
    "host:disk_bytes:rate",
    "host:network_receive_bytes:rate",
    "host:network_transmit_bytes:rate",
    "host:load1",
];

impl SimulatedHost {
    fn new(name: &str, seed: u64, replicate: Option<Matcher>, summaries: bool) -> SimulatedHost {
        let host = NodeLikeHost::new(name, seed, START_MS, STEP_MS);
        SimulatedHost { host, labels: Vec::new(), replicate, summaries, previous: Vec::new() }
    }

    /// Series replicated per host.
    fn series(&self) -> usize {
        self.labels.iter().filter(|l| self.replicated(l)).count()
    }

    fn replicated(&self, labels: &Labels) -> bool {
        self.replicate.as_ref().is_none_or(|m| m.matches(labels))
    }

    /// The next minute of every series, as 1-minute points labelled with their region.
    fn next_minute(&mut self) -> Vec<(Labels, Vec<RollupPoint>)> {
        let batch = self.host.next_batch((MINUTE_MS / STEP_MS) as usize);
        if self.labels.is_empty() {
            self.labels = batch
                .series
                .iter()
                .map(|s| {
                    let pairs = s
                        .labels
                        .chunks(2)
                        .map(|p| (batch.strings[p[0] as usize].clone(), batch.strings[p[1] as usize].clone()));
                    Labels::new(pairs.chain([("region".to_string(), "bench".to_string())]))
                })
                .collect();
        }
        let samples = batch.samples.unwrap_or_default();
        let n = self.labels.len();
        if self.summaries {
            let last_ts = samples.timestamps_ms.last().copied().unwrap_or(0);
            let last = samples.values[samples.values.len() - n..].to_vec();
            return self.summarize(last_ts, last);
        }
        (0..n)
            .filter(|&i| self.replicated(&self.labels[i]))
            .filter_map(|i| {
                let ts: Vec<i64> = samples.timestamps_ms.iter().skip(i).step_by(n).copied().collect();
                let values: Vec<f64> = samples.values.iter().skip(i).step_by(n).copied().collect();
                let mut open = None;
                fold_samples(Tier::Minute, &ts, &values, &mut open, |_| {});
                open.map(|p| (self.labels[i].clone(), vec![p]))
            })
            .collect()
    }

    /// The summaries at the minute's last collection, once a minute, as one-sample points:
    /// what the recording rules store and the regional replicates. Rates are over the minute;
    /// each value is rounded as the rule would round it with PromQL's `round(v, to)`
    /// (percentages to 0.01, bytes/s to 1): full-precision ratios cost about 4x the bytes.
    fn summarize(&mut self, ts: i64, now: Vec<f64>) -> Vec<(Labels, Vec<RollupPoint>)> {
        let previous = std::mem::replace(&mut self.previous, now);
        if previous.is_empty() {
            return Vec::new();
        }
        let now = &self.previous;
        let name = |i: usize| self.labels[i].get("__name__").unwrap_or("");
        let label = |i: usize, l: &str| self.labels[i].get(l).unwrap_or("");
        let delta = |i: usize| now[i] - previous[i];
        let summed = |pick: &dyn Fn(usize) -> bool| -> f64 { (0..now.len()).filter(|&i| pick(i)).map(delta).sum() };
        let cpu = |i: usize| name(i) == "node_cpu_seconds_total";
        let total = summed(&cpu);
        let idle = summed(&|i| cpu(i) && label(i, "mode") == "idle");
        let value_of = |metric: &str| (0..now.len()).find(|&i| name(i) == metric).map_or(0.0, |i| now[i]);
        let fullest = (0..now.len())
            .filter(|&i| name(i) == "node_filesystem_size_bytes")
            .filter_map(|i| {
                let mountpoint = label(i, "mountpoint");
                let avail = (0..now.len())
                    .find(|&j| name(j) == "node_filesystem_avail_bytes" && label(j, "mountpoint") == mountpoint)?;
                Some(1.0 - now[avail] / now[i])
            })
            .fold(0.0, f64::max);
        let per_second = |pick: &dyn Fn(usize) -> bool| summed(pick) / 60.0;
        // PromQL's round(v, to): floor(v / to + 0.5) * to, with 1/to as Prometheus computes it.
        let round = |v: f64, to: f64| (v * (1.0 / to) + 0.5).floor() / (1.0 / to);
        let percent = |ratio: f64| round(100.0 * ratio, 0.01);
        let values = [
            percent(if total > 0.0 { 1.0 - idle / total } else { 0.0 }),
            percent(1.0 - value_of("node_memory_MemFree_bytes") / value_of("node_memory_MemTotal_bytes")),
            percent(fullest),
            round(
                per_second(&|i| name(i) == "node_disk_read_bytes_total" || name(i) == "node_disk_written_bytes_total"),
                1.0,
            ),
            round(per_second(&|i| name(i) == "node_network_receive_bytes_total" && label(i, "device") != "lo"), 1.0),
            round(per_second(&|i| name(i) == "node_network_transmit_bytes_total" && label(i, "device") != "lo"), 1.0),
            value_of("node_load1"),
        ];
        let host = label(0, "host").to_string();
        SUMMARIES
            .iter()
            .zip(values)
            .map(|(metric, v)| {
                let labels = Labels::new([
                    ("__name__".to_string(), (*metric).to_string()),
                    ("host".to_string(), host.clone()),
                    ("region".to_string(), "bench".to_string()),
                ]);
                (labels, vec![RollupPoint::new(Tier::Minute, ts, v)])
            })
            .collect()
    }
}
