//! Read speed: raw samples against rollup tiers, on node-like data stored through the real
//! engine and sealed (so every read decodes stored chunks or runs, not heads), with the
//! tiers materialized (`rollup_after` zero, and the clock past the last partition).
//!
//! `cargo bench -p sysmon-tsdb --bench read`. `READ_HOSTS` (10) hosts over `READ_HOURS` (6) h.

#![allow(missing_docs, clippy::print_stdout)] // a bench reports on stdout

mod load;
mod node_like;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sysmon_tsdb::{Matcher, Tier, Tsdb, TsdbConfig};

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn bench(c: &mut Criterion) {
    let (hosts, hours) = (env_or("READ_HOSTS", 10), env_or("READ_HOURS", 6));
    let series = node_like::node_like(hosts, hours);
    let dir = tempfile::tempdir().expect("bench dir");
    let db = Arc::new(redb::Database::create(dir.path().join("read.redb")).expect("redb file"));
    let mut config = TsdbConfig { rollup_after: Some(std::time::Duration::ZERO), ..TsdbConfig::default() };
    let clock = load::DataClock::new(&series);
    clock.install(&mut config);
    let tsdb = Tsdb::open(db, config).expect("tsdb opens");
    load::load(&tsdb, &series, 10, &clock, || {});
    tsdb.flush().expect("flush");
    clock.advance_ms(2 * 3_600_000);
    tsdb.apply_retention().expect("materialized");
    let (start, end) = (i64::MIN, i64::MAX);
    let all = [Matcher::regex("__name__", ".+").expect("regex")];
    let samples: usize = tsdb.select(&all, start, end).expect("select").iter().map(|s| s.samples.len()).sum();
    let count = |tier| -> usize {
        tsdb.select_rollup(tier, &all, start, end).expect("select_rollup").iter().map(|s| s.points.len()).sum()
    };
    let (minute, hour) = (count(Tier::Minute), count(Tier::Hour));
    let n = series.len();
    println!(
        "read: node-like {hosts} hosts x {hours} h, {n} series: {samples} samples, {minute} 1m points, {hour} 1h points"
    );

    // CPU time of the process per read (a raw read decodes on several threads), user and
    // system (page faults of the fresh memory a result fills): unlike wall time, it hardly
    // depends on what else the machine runs.
    let cpu = |f: &dyn Fn()| {
        let runs = 10;
        let before = process_cpu_seconds();
        for _ in 0..runs {
            f();
        }
        let after = process_cpu_seconds();
        let ms = |i: usize| (after[i] - before[i]) * 1e3 / f64::from(runs);
        format!("{:.0} + {:.0} ms", ms(0), ms(1))
    };
    let raw_cpu = cpu(&|| drop(black_box(tsdb.select(&all, start, end).expect("select"))));
    let minute_cpu = cpu(&|| drop(black_box(tsdb.select_rollup(Tier::Minute, &all, start, end).expect("1m"))));
    let hour_cpu = cpu(&|| drop(black_box(tsdb.select_rollup(Tier::Hour, &all, start, end).expect("1h"))));
    println!("read: CPU per read (user + system): raw {raw_cpu}, 1m tier {minute_cpu}, 1h tier {hour_cpu}");

    let mut group = c.benchmark_group("read");
    group.sample_size(10);
    group.throughput(Throughput::Elements(samples as u64));
    group.bench_function(format!("select raw, {n} series x {hours} h ({samples} samples)"), |b| {
        b.iter(|| black_box(tsdb.select(&all, start, end).expect("select")))
    });
    for (tier, points) in [(Tier::Minute, minute), (Tier::Hour, hour)] {
        group.throughput(Throughput::Elements(points as u64));
        group.bench_function(format!("select_rollup {tier}, {n} series x {hours} h ({points} points)"), |b| {
            b.iter(|| black_box(tsdb.select_rollup(tier, &all, start, end).expect("select_rollup")))
        });
    }
    group.finish();
    tsdb.close().expect("tsdb closes");
}

/// CPU seconds this process has used: user, system.
fn process_cpu_seconds() -> [f64; 2] {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return [0.0; 2] };
    let Some(close) = stat.rfind(')') else { return [0.0; 2] };
    let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the name, in ticks.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    [ticks(11), ticks(12)]
}

criterion_group!(benches, bench);
criterion_main!(benches);
