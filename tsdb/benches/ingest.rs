//! Durable ingest throughput: batches from many producers, group-committed with fsync
//! (`Durability::Immediate`), with the sealer running alongside as in production.
//!
//! `cargo bench -p sysmon-tsdb --bench ingest`. The redb file goes to `TSDB_BENCH_DIR`
//! (default: the system temp dir; use a real disk, not tmpfs, for fsync to count). Building
//! each batch (cloning its labels, as the ingest decoder would produce them) is timed too.

#![allow(missing_docs, clippy::print_stdout)] // a bench reports on stdout

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sysmon_tsdb::{Labels, Tsdb, TsdbConfig, WriteBatch};

const PRODUCERS: usize = 100;
/// Batches in flight at once, as many agents' streams would keep.
const IN_FLIGHT: usize = 64;

struct Producer {
    id: String,
    series: Vec<Labels>,
    seq: u64,
    ts: i64,
}

fn producers(series_per_producer: usize) -> Vec<Producer> {
    (0..PRODUCERS)
        .map(|p| {
            let host = format!("host-{p:05}");
            let series = (0..series_per_producer)
                .map(|s| {
                    let (name, extra) = match s % 4 {
                        0 => ("node_cpu_seconds_total", ("mode", "user")),
                        1 => ("node_memory_Active_bytes", ("unit", "bytes")),
                        2 => ("node_network_receive_bytes_total", ("device", "eth0")),
                        _ => ("node_load1", ("kind", "gauge")),
                    };
                    Labels::new([
                        ("__name__".to_string(), name.to_string()),
                        ("host".to_string(), host.clone()),
                        ("region".to_string(), "eu-1".to_string()),
                        ("i".to_string(), s.to_string()),
                        (extra.0.to_string(), extra.1.to_string()),
                    ])
                })
                .collect();
            Producer { id: host, series, seq: 0, ts: 1_700_000_000_000 }
        })
        .collect()
}

/// The next batch of `samples` samples from producer `p`: every series at the next
/// `scrapes` scrape times, 10 s apart, node-like values.
fn next_batch(p: &mut Producer, scrapes: usize) -> WriteBatch {
    p.seq += 1;
    let mut out = Vec::with_capacity(scrapes * p.series.len());
    for _ in 0..scrapes {
        p.ts += 10_000;
        let k = (p.ts / 10_000) as f64;
        for s in 0..p.series.len() {
            let v = match s % 4 {
                0 => ((k * 137.0 + s as f64 * 1000.0).round()) / 100.0,
                1 => ((1u64 << 32) as f64) + ((k as u64 * 7919 + s as u64) % 401) as f64 * 4096.0,
                2 => (k * 1500.0 * (s as f64 + 1.0)).round(),
                _ => (((k * 31.0 + s as f64) % 400.0).round()) / 100.0,
            };
            out.push((s as u32, p.ts, v));
        }
    }
    WriteBatch { producer: Some((p.id.clone(), p.seq)), series: p.series.clone(), samples: out }
}

/// CPU seconds used so far by this process's threads, by thread name prefix: the bench
/// thread, the tsdb writer, the tsdb sealer. Figures per sample from these do not depend on
/// what else the machine runs.
fn cpu_seconds() -> [f64; 3] {
    let mut out = [0.0; 3];
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return out };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let name = &stat[open + 1..close];
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // utime and stime are fields 14 and 15 of stat, 11 and 12 after the name.
        let ticks: f64 = fields.get(11..13).into_iter().flatten().filter_map(|f| f.parse::<f64>().ok()).sum();
        let slot = if name.starts_with("sysmon-tsdb-wri") {
            1
        } else if name.starts_with("sysmon-tsdb-sea") {
            2
        } else {
            0
        };
        out[slot] += ticks / 100.0;
    }
    out
}

fn bench(c: &mut Criterion) {
    let base = std::env::var("TSDB_BENCH_DIR").map(Into::into).unwrap_or_else(|_| std::env::temp_dir());
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    // (series per producer, scrapes per batch): an agent's single scrape of 1000 series, and
    // spool replays or smaller hosts sending several scrapes at once.
    for (series_per_producer, scrapes) in [(1000usize, 1usize), (100, 10), (1000, 10), (100, 100)] {
        let batch_samples = series_per_producer * scrapes;
        let dir = tempfile::tempdir_in(&base).expect("bench dir");
        let db = redb::Database::create(dir.path().join("bench.redb")).expect("redb file");
        let mut config = TsdbConfig::default();
        if let Ok(n) = std::env::var("TSDB_BENCH_CHUNK_SAMPLES") {
            config.chunk_max_samples = n.parse().expect("a number");
            config.chunk_max_span = Duration::from_secs(86_400 * 1000);
        }
        if let Ok(level) = std::env::var("TSDB_BENCH_WAL_ZSTD_LEVEL") {
            config.wal_zstd_level = level.parse().expect("a zstd level");
        }
        let tsdb = Tsdb::open(Arc::new(db), config).expect("tsdb opens");
        let mut producers = producers(series_per_producer);
        // Create every series before measuring: series creation is a one-time cost.
        for p in &mut producers {
            let rx = tsdb.submit(next_batch(p, 1));
            rx.blocking_recv().expect("writer answers").expect("batch commits");
        }
        let cpu_before = cpu_seconds();
        let created = tsdb.stats().appended_total;
        let mut next = 0;
        group.throughput(Throughput::Elements(batch_samples as u64));
        let name = format!(
            "durable submit, {batch_samples}-sample batches ({scrapes} scrapes x {series_per_producer} series), {PRODUCERS} producers"
        );
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let mut in_flight = VecDeque::with_capacity(IN_FLIGHT);
                for _ in 0..iters {
                    let batch = next_batch(&mut producers[next % PRODUCERS], scrapes);
                    next += 1;
                    in_flight.push_back(tsdb.submit(batch));
                    if in_flight.len() >= IN_FLIGHT {
                        let rx = in_flight.pop_front().expect("a batch in flight");
                        rx.blocking_recv().expect("writer answers").expect("batch commits");
                    }
                }
                for rx in in_flight {
                    rx.blocking_recv().expect("writer answers").expect("batch commits");
                }
                start.elapsed()
            })
        });
        let mut stats = tsdb.stats();
        if stats.appended_total == created {
            // Filtered out on the command line.
            tsdb.close().expect("tsdb closes");
            continue;
        }
        stats.appended_total -= created;
        let cpu_after = cpu_seconds();
        let per_sample = |i: usize| (cpu_after[i] - cpu_before[i]) * 1e9 / stats.appended_total.max(1) as f64;
        println!(
            "{scrapes} x {series_per_producer}: CPU per sample: bench thread (batch building, submit) {:.0} ns, writer {:.0} ns, sealer {:.0} ns",
            per_sample(0),
            per_sample(1),
            per_sample(2),
        );
        println!(
            "{scrapes} x {series_per_producer}: {} samples in {} group commits ({:.0} samples/commit), WAL {:.2} bytes/sample, {} chunks sealed ({:.3} bytes/sample), {} head samples, head {} MiB",
            stats.appended_total,
            stats.commits_total,
            stats.appended_total as f64 / stats.commits_total.max(1) as f64,
            stats.wal_bytes_written_total as f64 / stats.appended_total.max(1) as f64,
            stats.sealed_chunks,
            stats.sealed_bytes_total as f64 / stats.sealed_samples_total.max(1) as f64,
            stats.head_samples,
            stats.head_bytes >> 20,
        );
        tsdb.close().expect("tsdb closes");
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
