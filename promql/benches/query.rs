//! Query evaluation over synthetic in-memory data: the dashboard's heaviest common query,
//! `sum by (host) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))`, over 100 hosts × 64
//! CPU series × 6 h at a 60 s step, from samples every 10 s (the agent's default).
//!
//! `evaluation only` hands the evaluator samples selected beforehand (the store's copy is
//! not timed); `with in-memory select` includes that copy (about 200 MB of samples);
//! `lent as columns` lends each series' columns to the range function as the store does
//! when it decodes chunks (`Storage::select_with`), with nothing copied or decoded;
//! `from the 1 m tier` hands it the same data as 1-minute rollup buckets, which a 5 m range at
//! a 60 s step reads instead of raw samples when the store has them.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Mutex;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sysmon_promql::{
    Engine, QueryLimits, RollupTier, SampleColumns, SeriesFn, SeriesRollups, SeriesSamples, SeriesValues, Storage,
};
use sysmon_tsdb::{Labels, Matcher, RollupPoint, Tier};

const HOSTS: usize = 100;
const CPUS: usize = 8;
const MODES: [&str; 8] = ["idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"];
const SCRAPE_MS: i64 = 10_000;
const HOUR_MS: i64 = 3_600_000;
const END_MS: i64 = 1_700_000_000_000;
const START_MS: i64 = END_MS - 6 * HOUR_MS;

struct MemStorage {
    series: Vec<SeriesSamples>,
}

impl Storage for MemStorage {
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<SeriesSamples>, String> {
        Ok(self
            .series
            .iter()
            .filter(|s| matchers.iter().all(|m| m.matches(&s.labels)))
            .map(|s| {
                let lo = s.samples.partition_point(|&(t, _)| t < start_ms);
                let hi = s.samples.partition_point(|&(t, _)| t <= end_ms);
                SeriesSamples { labels: s.labels.clone(), samples: s.samples[lo..hi].to_vec() }
            })
            .filter(|s| !s.samples.is_empty())
            .collect())
    }
}

/// A store that keeps each series as columns and lends them to range functions.
struct ColumnStorage {
    series: Vec<(Labels, Vec<i64>, Vec<f64>)>,
}

impl ColumnStorage {
    fn new(from: &MemStorage) -> ColumnStorage {
        let series = from
            .series
            .iter()
            .map(|s| {
                let (ts, values) = s.samples.iter().copied().unzip();
                (s.labels.clone(), ts, values)
            })
            .collect();
        ColumnStorage { series }
    }
}

impl Storage for ColumnStorage {
    fn select(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<SeriesSamples>, String> {
        Err("range functions should read through select_with".to_string())
    }

    fn select_with(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
        per_series: &SeriesFn<'_>,
    ) -> Result<Vec<SeriesValues>, String> {
        let wanted: Vec<_> = self.series.iter().filter(|s| matchers.iter().all(|m| m.matches(&s.0))).collect();
        let part = wanted.len().div_ceil(2);
        std::thread::scope(|scope| {
            let workers: Vec<_> = wanted
                .chunks(part.max(1))
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .filter_map(|(labels, ts, values)| {
                                let lo = ts.partition_point(|&t| t < start_ms);
                                let hi = ts.partition_point(|&t| t <= end_ms);
                                let columns = SampleColumns::new(&ts[lo..hi], &values[lo..hi]);
                                Some((labels.clone(), per_series(labels, columns)?))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut out = Vec::new();
            for worker in workers {
                out.extend(worker.join().map_err(|_| "a worker panicked".to_string())?);
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
    }
}

/// A store that answers one select with series it was given up front.
struct Prefetched {
    series: Mutex<Option<Vec<SeriesSamples>>>,
}

impl Storage for Prefetched {
    fn select(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<SeriesSamples>, String> {
        self.series.lock().map_err(|e| e.to_string())?.take().ok_or_else(|| "selected twice".to_string())
    }
}

/// A store whose 1-minute tier answers one select, complete for every bucket.
struct PrefetchedTier {
    series: Mutex<Option<Vec<SeriesRollups>>>,
}

impl Storage for PrefetchedTier {
    fn select(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<SeriesSamples>, String> {
        Err("the tier should answer".to_string())
    }

    fn rollup_tiers(&self) -> Vec<RollupTier> {
        vec![RollupTier { width_ms: 60_000, complete_before_ms: i64::MAX }]
    }

    fn select_rollup(&self, _: i64, _: &[Matcher], _: i64, _: i64) -> Result<Option<Vec<SeriesRollups>>, String> {
        Ok(Some(self.series.lock().map_err(|e| e.to_string())?.take().ok_or_else(|| "selected twice".to_string())?))
    }
}

/// Raw samples summarised into 1-minute buckets, as the store's tier holds them.
fn minute_tier(series: &[SeriesSamples]) -> Vec<SeriesRollups> {
    series
        .iter()
        .map(|s| {
            let mut points: Vec<RollupPoint> = Vec::new();
            for &(t, v) in &s.samples {
                match points.last_mut() {
                    Some(p) if p.start_ms == t.div_euclid(60_000) * 60_000 => p.push(t, v),
                    _ => points.push(RollupPoint::new(Tier::Minute, t, v)),
                }
            }
            SeriesRollups { labels: s.labels.clone(), points }
        })
        .collect()
}

fn storage() -> MemStorage {
    let first = START_MS - 10 * 60_000;
    let mut series = Vec::with_capacity(HOSTS * CPUS * MODES.len());
    for host in 0..HOSTS {
        for cpu in 0..CPUS {
            for (m, mode) in MODES.iter().enumerate() {
                let labels = Labels::new([
                    ("__name__".to_string(), "node_cpu_seconds_total".to_string()),
                    ("host".to_string(), format!("host-{host:03}")),
                    ("cpu".to_string(), cpu.to_string()),
                    ("mode".to_string(), mode.to_string()),
                ]);
                let rate = 0.01 + ((host * 31 + cpu * 7 + m) % 97) as f64 / 100.0;
                let mut value = (host * 1000 + cpu * 10 + m) as f64;
                let samples = (first..=END_MS)
                    .step_by(SCRAPE_MS as usize)
                    .map(|t| {
                        value += rate * 10.0;
                        (t, value)
                    })
                    .collect();
                series.push(SeriesSamples { labels, samples });
            }
        }
    }
    MemStorage { series }
}

fn bench(c: &mut Criterion) {
    let storage = storage();
    let engine = Engine::new(QueryLimits::default());
    let query = r#"sum by (host) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))"#;
    let mut group = c.benchmark_group("query");
    group.sample_size(10);
    let matchers = [Matcher::equal("__name__", "node_cpu_seconds_total"), Matcher::not_equal("mode", "idle")];
    let selected = storage.select(&matchers, START_MS - 5 * 60_000, END_MS).expect("in-memory select");
    group.bench_function("sum by host of rate, 100 hosts x 64 series, 6h at 60s step: evaluation only", |b| {
        b.iter_batched_ref(
            || Prefetched { series: Mutex::new(Some(selected.clone())) },
            |prefetched| black_box(engine.range(prefetched, query, START_MS, END_MS, 60_000).map(|r| r.value)),
            BatchSize::LargeInput,
        )
    });
    // Window ends on whole minutes, so that the tier's buckets line up with every window.
    let (start, end) = (START_MS.div_euclid(60_000) * 60_000 + 60_000, END_MS.div_euclid(60_000) * 60_000);
    let tier = minute_tier(&selected);
    let from_tier = engine.range(&PrefetchedTier { series: Mutex::new(Some(tier.clone())) }, query, start, end, 60_000);
    let from_raw = engine.range(&storage, query, start, end, 60_000);
    assert_eq!(
        format!("{:?}", from_tier.expect("the tier answers").value),
        format!("{:?}", from_raw.expect("raw samples answer").value),
        "the tier must answer as raw samples do"
    );
    group.bench_function("sum by host of rate, 100 hosts x 64 series, 6h at 60s step: from the 1 m tier", |b| {
        b.iter_batched_ref(
            || PrefetchedTier { series: Mutex::new(Some(tier.clone())) },
            |prefetched| black_box(engine.range(prefetched, query, start, end, 60_000).map(|r| r.value)),
            BatchSize::LargeInput,
        )
    });
    let columns = ColumnStorage::new(&storage);
    group.bench_function("sum by host of rate, 100 hosts x 64 series, 6h at 60s step: lent as columns", |b| {
        b.iter(|| black_box(engine.range(&columns, query, START_MS, END_MS, 60_000).map(|r| r.value)))
    });
    group.bench_function("sum by host of rate, 100 hosts x 64 series, 6h at 60s step: with in-memory select", |b| {
        b.iter(|| black_box(engine.range(&storage, query, START_MS, END_MS, 60_000).map(|r| r.value)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
