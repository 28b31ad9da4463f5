//! Store size: node-like data ingested through the real engine (submit -> WAL -> heads ->
//! sealer -> chunks and rollups), then the redb file's bytes per sample, per table, and once
//! compacted. Not a criterion bench: it prints sizes (which do not depend on the machine's
//! load) and one ingest rate (which does).
//!
//! `cargo bench -p sysmon-tsdb --bench size`. Settings, from the environment:
//!
//! - `SIZE_HOSTS` (100) and `SIZE_HOURS` (6): the `gen_node_like.py` set (100 x 6 is
//!   `benches/compare.sh`'s 25 M samples; `NODE_LIKE_PROMTEXT=FILE` reads a file it wrote);
//! - `SIZE_SCRAPES_PER_BATCH` (10): scrapes of one host per batch, as the loadgen sends them;
//! - `SIZE_CHUNK_SAMPLES` and `SIZE_HEAD_MAX_AGE_S` (the engine's defaults):
//!   `chunk_max_samples` and `head_max_age`;
//! - `SIZE_TIERS` (`1m,1h`): the rollup tiers kept (`none` for raw only);
//! - `TSDB_BENCH_DIR` (the system temp dir): where the redb file goes.
//!
//! The engine's clock follows the data (the last scrape submitted), so retention and head
//! ageing act as they would have live.

#![allow(missing_docs, clippy::print_stdout)] // a bench reports on stdout

mod load;
mod node_like;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{ReadableDatabase as _, ReadableTableMetadata as _, TableHandle as _};
use sysmon_tsdb::{Tsdb, TsdbConfig};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v}: not a valid value")),
        Err(_) => default,
    }
}

/// One table's figures.
struct TableFigures {
    name: String,
    entries: u64,
    stored: u64,
    pages: u64,
}

fn table_figures(db: &redb::Database) -> Vec<TableFigures> {
    let txn = db.begin_read().expect("read transaction");
    let mut out = Vec::new();
    for handle in txn.list_tables().expect("tables") {
        let name = handle.name().to_string();
        let table = txn.open_untyped_table(handle).expect("table opens");
        let stats = table.stats().expect("table stats");
        out.push(TableFigures {
            name,
            entries: table.len().expect("table length"),
            stored: stats.stored_bytes(),
            // Stored, redb's own and unused bytes of the table's pages: leaves of large values
            // (packs) span several 4 KiB pages, which `leaf_pages` counts as one.
            pages: stats.stored_bytes() + stats.metadata_bytes() + stats.fragmented_bytes(),
        });
    }
    out.sort_by_key(|t| std::cmp::Reverse(t.pages));
    out
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let hours: u32 = env_or("SIZE_HOURS", 6);
    let n_hosts: u32 = env_or("SIZE_HOSTS", 100);
    let scrapes: usize = env_or("SIZE_SCRAPES_PER_BATCH", 10);
    let mut config = TsdbConfig::default();
    config.chunk_max_samples = env_or("SIZE_CHUNK_SAMPLES", config.chunk_max_samples);
    config.head_max_age = Duration::from_secs(env_or("SIZE_HEAD_MAX_AGE_S", config.head_max_age.as_secs()));
    let tiers: String = env_or("SIZE_TIERS", "1m,1h".to_string());
    apply_tiers(&mut config, &tiers);

    let started = Instant::now();
    let series = node_like::node_like(n_hosts, hours);
    let samples: usize = series.iter().map(|s| s.ts.len()).sum();
    println!(
        "size: node-like {} hosts x {hours} h, {} series, {samples} samples (loaded in {:.1} s); batches of {scrapes} scrapes per host; chunk_max_samples {}; tiers {tiers}",
        series
            .iter()
            .filter_map(|s| s.labels.iter().find(|(n, _)| n == "host"))
            .collect::<std::collections::HashSet<_>>()
            .len(),
        series.len(),
        started.elapsed().as_secs_f64(),
        config.chunk_max_samples,
    );

    let base = std::env::var("TSDB_BENCH_DIR").map(Into::into).unwrap_or_else(|_| std::env::temp_dir());
    let dir = tempfile::tempdir_in(&base).expect("bench dir");
    let path = dir.path().join("size.redb");
    let db = Arc::new(redb::Database::create(&path).expect("redb file"));
    let clock = load::DataClock::new(&series);
    clock.install(&mut config);
    let tsdb = Tsdb::open(db.clone(), config).expect("tsdb opens");

    let load_start = load_average();
    let started = Instant::now();
    let (mut high_water, mut wal_peak) = (0u64, 0u64);
    load::load(&tsdb, &series, scrapes, &clock, || {
        high_water = high_water.max(std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0));
        wal_peak = wal_peak.max(tsdb.stats().wal_bytes);
    });
    let stats = tsdb.stats();
    let ingest = started.elapsed();
    tsdb.close().expect("tsdb closes");
    let file = std::fs::metadata(&path).expect("file").len();
    let per = |bytes: u64| bytes as f64 / samples as f64;
    println!(
        "ingest {:.1} s = {:.2} M samples/s (load average {load_start} at start, {} at end); WAL written {:.2} B/sample, at most {:.3} B/sample of the set stored at once",
        ingest.as_secs_f64(),
        samples as f64 / ingest.as_secs_f64().max(1e-9) / 1e6,
        load_average(),
        per(stats.wal_bytes_written_total),
        per(wal_peak),
    );
    let mut db = Arc::try_unwrap(db).unwrap_or_else(|_| panic!("the engine has let go of the file"));
    let allocated = {
        let txn = db.begin_write().expect("write transaction");
        let whole = txn.stats().expect("file stats");
        txn.abort().expect("abort");
        whole.allocated_pages() * whole.page_size() as u64
    };
    let tables = table_figures(&db);
    let mut compactions = 0;
    let compact_started = Instant::now();
    while compactions < 8 && db.compact().expect("compaction") {
        compactions += 1;
    }
    let compact_time = compact_started.elapsed();
    drop(db);
    let compacted = std::fs::metadata(&path).expect("file").len();
    println!(
        "file {:.3} B/sample after close ({file} bytes); high-water while running {:.3}; allocated pages {:.3}; compacted {:.3} ({compactions} passes, {:.1} s)",
        per(file),
        per(high_water),
        per(allocated),
        per(compacted),
        compact_time.as_secs_f64(),
    );
    println!("{:<20} {:>10} {:>12} {:>12} {:>10}", "table (B/sample)", "entries", "stored", "pages", "fill");
    for t in &tables {
        if t.entries == 0 && t.pages == 0 {
            continue;
        }
        let fill = if t.pages == 0 { 0.0 } else { t.stored as f64 / t.pages as f64 };
        println!(
            "{:<20} {:>10} {:>12.4} {:>12.4} {:>9.0}%",
            t.name,
            t.entries,
            per(t.stored),
            per(t.pages),
            fill * 100.0
        );
    }
    let (stored, pages): (u64, u64) = tables.iter().fold((0, 0), |(s, p), t| (s + t.stored, p + t.pages));
    println!("{:<20} {:>10} {:>12.4} {:>12.4}", "all tables", "", per(stored), per(pages));
    // Keep the directory alive until here.
    drop(dir);
}

/// Sets the tier retentions from `1m,1h`, `1m`, `1h` or `none`: a tier left out is disabled.
fn apply_tiers(config: &mut TsdbConfig, tiers: &str) {
    let keep: Vec<&str> = tiers.split(',').map(str::trim).collect();
    if !keep.contains(&"1m") {
        config.minute_retention = Duration::ZERO;
    }
    if !keep.contains(&"1h") {
        config.hour_retention = Duration::ZERO;
    }
}
