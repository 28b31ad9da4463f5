//! Range functions read from rollup tiers give what raw samples give: a store that keeps
//! both (tiers computed from its raw samples as the tsdb computes them) against one that
//! keeps only the raw samples.

use std::sync::Mutex;

use sysmon_tsdb::{Labels, Matcher, RollupPoint, Tier};

use crate::storage::{RollupTier, STALE_MARKER_BITS, SeriesRollups, SeriesSamples, Storage, is_stale_marker};
use crate::testutil::{MemStorage, engine};
use crate::value::Value;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

/// Raw samples and both tiers, with how far each tier is complete and from when the raw
/// samples are still there; records which reads the evaluator makes.
struct TieredStore {
    raw: MemStorage,
    raw_from_ms: i64,
    tiers: Vec<(RollupTier, Vec<SeriesRollups>)>,
    reads: Mutex<Vec<Read>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Raw,
    Tier(i64),
}

impl TieredStore {
    /// Tiers complete before `complete_before_ms`, raw samples kept from `raw_from_ms`.
    fn new(raw: &MemStorage, complete_before_ms: i64, raw_from_ms: i64) -> TieredStore {
        let tiers = Tier::ALL
            .iter()
            .map(|&tier| {
                let width_ms = tier.width_ms();
                let series = raw
                    .series
                    .iter()
                    .map(|s| SeriesRollups { labels: s.labels.clone(), points: roll_up(tier, &s.samples) })
                    .collect();
                let complete_before_ms = complete_before_ms.div_euclid(width_ms) * width_ms;
                (RollupTier { width_ms, complete_before_ms }, series)
            })
            .collect();
        TieredStore { raw: raw.clone(), raw_from_ms, tiers, reads: Mutex::new(Vec::new()) }
    }

    fn take_reads(&self) -> Vec<Read> {
        let mut reads = std::mem::take(&mut *self.reads.lock().unwrap());
        reads.dedup();
        reads
    }
}

/// A tier's buckets of one series, folded sample by sample as the tsdb does.
fn roll_up(tier: Tier, samples: &[(i64, f64)]) -> Vec<RollupPoint> {
    let mut points: Vec<RollupPoint> = Vec::new();
    for &(t, v) in samples.iter().filter(|(_, v)| !is_stale_marker(*v)) {
        match points.last_mut() {
            Some(p) if p.start_ms == tier.bucket_start(t) => p.push(t, v),
            _ => points.push(RollupPoint::new(tier, t, v)),
        }
    }
    points
}

impl Storage for TieredStore {
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<SeriesSamples>, String> {
        self.reads.lock().unwrap().push(Read::Raw);
        self.raw.select(matchers, start_ms.max(self.raw_from_ms), end_ms)
    }

    fn rollup_tiers(&self) -> Vec<RollupTier> {
        self.tiers.iter().map(|(tier, _)| *tier).collect()
    }

    fn select_rollup(
        &self,
        width_ms: i64,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Option<Vec<SeriesRollups>>, String> {
        self.reads.lock().unwrap().push(Read::Tier(width_ms));
        let Some((_, series)) = self.tiers.iter().find(|(tier, _)| tier.width_ms == width_ms) else {
            return Ok(None);
        };
        let selected = series
            .iter()
            .filter(|s| matchers.iter().all(|m| m.matches(&s.labels)))
            .map(|s| SeriesRollups {
                labels: s.labels.clone(),
                points: s.points.iter().copied().filter(|p| p.start_ms >= start_ms && p.start_ms <= end_ms).collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        Ok(Some(selected))
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn labels(name: &str, kind: &str) -> Labels {
    Labels::new([("__name__".to_string(), name.to_string()), ("kind".to_string(), kind.to_string())])
}

/// Ten hours of counters with resets and gauges with NaN, stale markers and gaps; some on
/// a 10 s grid (samples on every bucket boundary), some jittered.
fn data() -> MemStorage {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let end = 10 * HOUR;
    let mut series = Vec::new();
    for (kind, interval, jitter) in [("grid", 10_000, 0), ("jitter", 15_000, 4_000), ("sparse", 70_000, 9_000)] {
        let (mut counter, mut gauge) = (Vec::new(), Vec::new());
        let mut value = 5.0;
        let mut t = 0;
        while t < end {
            let at = t + (rng.next() % (2 * jitter as u64 + 1)) as i64 - jitter;
            t += interval;
            // A gap of about 20 minutes now and then.
            if rng.unit() < 0.001 {
                t += 20 * MINUTE;
            }
            if at < 0 {
                continue;
            }
            value = if rng.unit() < 0.01 { rng.unit() * 3.0 } else { value + rng.unit() * 10.0 };
            counter.push((at, value));
            let g = match rng.unit() {
                u if u < 0.005 => f64::NAN,
                u if u < 0.008 => f64::from_bits(STALE_MARKER_BITS),
                u if u < 0.1 => 50.0,
                _ => 40.0 + (rng.unit() * 20.0).round(),
            };
            gauge.push((at, g));
        }
        series.push(SeriesSamples { labels: labels("c", kind), samples: counter });
        series.push(SeriesSamples { labels: labels("g", kind), samples: gauge });
    }
    MemStorage { series }
}

const FUNCTIONS: [&str; 12] = [
    "rate",
    "increase",
    "delta",
    "resets",
    "changes",
    "count_over_time",
    "sum_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "last_over_time",
    "present_over_time",
];

/// Whether two answers agree: the same series and step times, values within 1e-9
/// relative (NaN equal to NaN).
fn assert_close(query: &str, got: &Value, want: &Value) {
    let (Value::Matrix(got), Value::Matrix(want)) = (got, want) else {
        let (Value::Vector(got), Value::Vector(want)) = (got, want) else { panic!("{query}: {got:?} vs {want:?}") };
        assert_eq!(got.len(), want.len(), "{query}: series");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.labels, w.labels, "{query}");
            assert!(close(g.value, w.value), "{query} {}: {} vs {}", g.labels, g.value, w.value);
        }
        return;
    };
    assert_eq!(
        got.iter().map(|s| s.labels.to_string()).collect::<Vec<_>>(),
        want.iter().map(|s| s.labels.to_string()).collect::<Vec<_>>(),
        "{query}: series"
    );
    for (g, w) in got.iter().zip(want) {
        let times = |s: &crate::RangeSeries| s.points.iter().map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(times(g), times(w), "{query} {}: step times", g.labels);
        for (a, b) in g.points.iter().zip(&w.points) {
            assert!(close(a.1, b.1), "{query} {} at {}: tier {} vs raw {}", g.labels, a.0, a.1, b.1);
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Evaluates `query` over both stores; returns the tiered store's reads.
fn compare_range(raw: &MemStorage, tiered: &TieredStore, query: &str, start: i64, end: i64, step: i64) -> Vec<Read> {
    let want = engine().range(raw, query, start, end, step).unwrap_or_else(|e| panic!("{query}: {e}"));
    tiered.take_reads();
    let got = engine().range(tiered, query, start, end, step).unwrap_or_else(|e| panic!("{query}: {e}"));
    let Value::Matrix(series) = &want.value else { panic!("{query}: not a matrix") };
    assert!(!series.is_empty(), "{query}: the raw answer is empty");
    assert_close(query, &got.value, &want.value);
    tiered.take_reads()
}

#[test]
fn every_tier_function_equals_raw_at_a_minute_step() {
    let raw = data();
    let tiered = TieredStore::new(&raw, 11 * HOUR, i64::MIN);
    for func in FUNCTIONS {
        for (metric, range) in [("c", "1m"), ("c", "5m"), ("g", "10m"), ("c", "1h"), ("g", "2m")] {
            let query = format!("{func}({metric}[{range}])");
            let reads = compare_range(&raw, &tiered, &query, 30 * MINUTE, 10 * HOUR, MINUTE);
            assert_eq!(reads, [Read::Tier(MINUTE)], "{query}");
        }
        let query = format!("{func}(c[5m] offset 17m)");
        assert_eq!(compare_range(&raw, &tiered, &query, HOUR, 10 * HOUR, 5 * MINUTE), [Read::Tier(MINUTE)]);
    }
}

#[test]
fn every_tier_function_equals_raw_at_an_hour_step() {
    let raw = data();
    let tiered = TieredStore::new(&raw, 11 * HOUR, i64::MIN);
    for func in FUNCTIONS {
        for metric in ["c", "g"] {
            for range in ["1h", "3h"] {
                let query = format!("{func}({metric}[{range}])");
                let reads = compare_range(&raw, &tiered, &query, HOUR, 10 * HOUR, HOUR);
                assert_eq!(reads, [Read::Tier(HOUR)], "{query}");
            }
            // A window of minutes at an hour step: the minute tier.
            let query = format!("{func}({metric}[5m])");
            assert_eq!(compare_range(&raw, &tiered, &query, HOUR, 10 * HOUR, HOUR), [Read::Tier(MINUTE)], "{query}");
        }
    }
}

#[test]
fn instant_queries_aggregations_and_subqueries_read_tiers() {
    let raw = data();
    let tiered = TieredStore::new(&raw, 11 * HOUR, i64::MIN);
    for (query, time, tier) in [
        ("rate(c[1h])", 5 * HOUR, HOUR),
        ("increase(c[10m])", 5 * HOUR + 7 * MINUTE, MINUTE),
        ("sum by (kind) (rate(c[5m]))", 3 * HOUR, MINUTE),
        ("max_over_time(rate(c[5m])[1h:1m])", 4 * HOUR, MINUTE),
    ] {
        let want = engine().instant(&raw, query, time).unwrap();
        tiered.take_reads();
        let got = engine().instant(&tiered, query, time).unwrap();
        assert_close(query, &got.value, &want.value);
        assert_eq!(tiered.take_reads(), [Read::Tier(tier)], "{query}");
    }
    let reads = compare_range(&raw, &tiered, "sum by (kind) (increase(c[2h]))", 2 * HOUR, 10 * HOUR, 2 * HOUR);
    assert_eq!(reads, [Read::Tier(HOUR)]);
    // `@` pins every step to one aligned window.
    assert_eq!(compare_range(&raw, &tiered, "rate(c[5m] @ 7200)", HOUR, 3 * HOUR, MINUTE), [Read::Tier(MINUTE)]);
    let reads = compare_range(&raw, &tiered, "rate(c[5m] @ 7200.5)", HOUR, 3 * HOUR, MINUTE);
    assert_eq!(reads, [Read::Raw]);
}

#[test]
fn misaligned_queries_and_other_functions_read_raw_samples() {
    let raw = data();
    let tiered = TieredStore::new(&raw, 11 * HOUR, i64::MIN);
    for (query, start, step) in [
        ("rate(c[5m])", 30 * MINUTE + 1_000, MINUTE),
        ("rate(c[5m])", 30 * MINUTE, 30_000),
        ("rate(c[5m])", 30 * MINUTE, 90_000),
        ("rate(c[90s])", 30 * MINUTE, MINUTE),
        ("rate(c[5m] offset 30s)", 30 * MINUTE, MINUTE),
        ("irate(c[5m])", 30 * MINUTE, MINUTE),
        ("quantile_over_time(0.5, g[5m])", 30 * MINUTE, MINUTE),
        ("stddev_over_time(g[5m])", 30 * MINUTE, MINUTE),
        ("deriv(g[5m])", 30 * MINUTE, MINUTE),
        ("rate(c[5m:1m])", 30 * MINUTE, MINUTE),
    ] {
        assert_eq!(compare_range(&raw, &tiered, query, start, 10 * HOUR, step), [Read::Raw], "{query} from {start}");
    }
    // A store without tiers is read as before.
    let reads = std::sync::Mutex::new(0);
    struct RawOnly<'a>(&'a MemStorage, &'a Mutex<i32>);
    impl Storage for RawOnly<'_> {
        fn select(&self, m: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<SeriesSamples>, String> {
            *self.1.lock().unwrap() += 1;
            self.0.select(m, start_ms, end_ms)
        }
    }
    let want = engine().range(&raw, "rate(c[5m])", HOUR, 2 * HOUR, MINUTE).unwrap();
    let got = engine().range(&RawOnly(&raw, &reads), "rate(c[5m])", HOUR, 2 * HOUR, MINUTE).unwrap();
    assert_eq!(got, want);
    assert_eq!(*reads.lock().unwrap(), 1);
}

#[test]
fn steps_past_the_complete_tier_read_raw_samples() {
    let raw = data();
    // The minute tier is complete before 6:30, the hour tier before 6:00.
    let tiered = TieredStore::new(&raw, 6 * HOUR + 30 * MINUTE, i64::MIN);
    for func in ["rate", "changes", "last_over_time", "avg_over_time"] {
        let query = format!("{func}(c[5m])");
        let reads = compare_range(&raw, &tiered, &query, 5 * HOUR, 8 * HOUR, MINUTE);
        assert_eq!(reads, [Read::Tier(MINUTE), Read::Raw], "{query}");
        let query = format!("{func}(g[1h])");
        let reads = compare_range(&raw, &tiered, &query, 2 * HOUR, 9 * HOUR, HOUR);
        assert_eq!(reads, [Read::Tier(HOUR), Read::Raw], "{query}");
    }
    // Nothing complete at the first step: raw samples only.
    let reads = compare_range(&raw, &tiered, "rate(c[5m])", 7 * HOUR, 8 * HOUR, MINUTE);
    assert_eq!(reads, [Read::Raw]);
}

#[test]
fn tiers_answer_after_raw_samples_expire() {
    let raw = data();
    let tiered = TieredStore::new(&raw, 11 * HOUR, 11 * HOUR);
    for func in FUNCTIONS {
        let query = format!("{func}(c[10m])");
        assert_eq!(compare_range(&raw, &tiered, &query, HOUR, 10 * HOUR, MINUTE), [Read::Tier(MINUTE)]);
        let query = format!("{func}(g[2h])");
        assert_eq!(compare_range(&raw, &tiered, &query, 2 * HOUR, 10 * HOUR, HOUR), [Read::Tier(HOUR)]);
    }
    // What needs raw samples has none left.
    let result = engine().range(&tiered, "irate(c[5m])", HOUR, 10 * HOUR, MINUTE).unwrap();
    assert_eq!(result.value, Value::Matrix(Vec::new()));
}

#[test]
fn a_counter_reset_on_a_bucket_boundary_is_counted_once() {
    // Samples every 30 s; resets at 2:00 (the first sample of a bucket) and at 3:30.
    let raw = crate::testutil::load(
        r#"
        load 30s
          c 1 2 3 4 0 1 2 0.5 1 2 3 4
          g 1 1 NaN NaN 2 2 1 1 NaN 3 3 3
        "#,
    );
    let tiered = TieredStore::new(&raw, HOUR, i64::MIN);
    for func in FUNCTIONS {
        for metric in ["c", "g"] {
            for range in ["1m", "2m", "3m", "4m"] {
                let query = format!("{func}({metric}[{range}])");
                assert_eq!(compare_range(&raw, &tiered, &query, 0, 6 * MINUTE, MINUTE), [Read::Tier(MINUTE)]);
            }
        }
    }
    // 1 -> 4 (+3), reset to 0 (+0), 0 -> 2 (+2), reset to 0.5 (+0.5), 0.5 -> 3 (+2.5): with
    // samples at both window edges nothing is extrapolated.
    let got = engine().instant(&tiered, "increase(c[5m])", 5 * MINUTE).unwrap();
    let Value::Vector(v) = got.value else { panic!("not a vector") };
    assert_eq!((v.len(), v[0].value), (1, 8.0));
}
