//! The time-series engine as the PromQL evaluator's [`Storage`] and the Prometheus API's
//! [`SeriesCatalog`].

use std::sync::Arc;

use sysmon_promql::{RollupTier, SeriesFn, SeriesRollups, SeriesSamples, SeriesValues, Storage};
use sysmon_tsdb::{Labels, Matcher, Tsdb};

use crate::http::prometheus::SeriesCatalog;

/// Reads for queries, straight from the engine.
pub(crate) struct TsdbCatalog(pub(crate) Arc<Tsdb>);

impl Storage for TsdbCatalog {
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<SeriesSamples>, String> {
        let series = self.0.select(matchers, start_ms, end_ms).map_err(|e| e.to_string())?;
        Ok(series.into_iter().map(|s| SeriesSamples { labels: s.labels, samples: s.samples }).collect())
    }

    /// From the engine's in-memory index.
    fn series_bound(&self, matchers: &[Matcher]) -> Option<usize> {
        self.0.series_bound(matchers)
    }

    /// Each series reduced on the engine's decoding threads, as soon as it is decoded.
    fn select_with(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
        per_series: &SeriesFn<'_>,
    ) -> Result<Vec<SeriesValues>, String> {
        self.0
            .select_with(matchers, start_ms, end_ms, &|labels, samples| per_series(labels, samples))
            .map_err(|e| e.to_string())
    }

    /// The tiers the engine keeps (1-minute and 1-hour unless disabled), complete up to the
    /// engine's `rolled_up_until`: every bucket before it holds all its sealed samples, and
    /// every sample before it is sealed.
    fn rollup_tiers(&self) -> Vec<RollupTier> {
        self.0
            .tiers()
            .iter()
            .map(|&tier| RollupTier { width_ms: tier.width_ms(), complete_before_ms: self.0.rolled_up_until(tier) })
            .collect()
    }

    fn select_rollup(
        &self,
        width_ms: i64,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Option<Vec<SeriesRollups>>, String> {
        let Some(tier) = self.0.tiers().into_iter().find(|t| t.width_ms() == width_ms) else { return Ok(None) };
        let series = self.0.select_rollup(tier, matchers, start_ms, end_ms).map_err(|e| e.to_string())?;
        Ok(Some(series.into_iter().map(|s| SeriesRollups { labels: s.labels, points: s.points }).collect()))
    }
}

impl SeriesCatalog for TsdbCatalog {
    fn series(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<Labels>, String> {
        self.0.series(matchers, start_ms, end_ms).map_err(|e| e.to_string())
    }

    fn label_names(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<String>, String> {
        self.0.label_names(matchers, start_ms, end_ms).map_err(|e| e.to_string())
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, String> {
        self.0.label_values(name, matchers, start_ms, end_ms).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
    use std::time::Duration;

    use sysmon_promql::{Engine, QueryLimits, Value};
    use sysmon_tsdb::{Clock, TsdbConfig, WriteBatch};

    use super::*;

    const HOUR: i64 = 3_600_000;
    /// An hour boundary: 2023-11-14 22:00 UTC.
    const T0: i64 = 1_699_999_200_000;

    /// The catalog, counting its rollup reads.
    struct Counting<'a>(&'a TsdbCatalog, AtomicUsize);

    impl Storage for Counting<'_> {
        fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<SeriesSamples>, String> {
            self.0.select(matchers, start_ms, end_ms)
        }

        fn rollup_tiers(&self) -> Vec<RollupTier> {
            self.0.rollup_tiers()
        }

        fn select_rollup(
            &self,
            width_ms: i64,
            matchers: &[Matcher],
            start_ms: i64,
            end_ms: i64,
        ) -> Result<Option<Vec<SeriesRollups>>, String> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.select_rollup(width_ms, matchers, start_ms, end_ms)
        }
    }

    fn matrix(storage: &dyn Storage, query: &str, step_ms: i64) -> Matrix {
        let engine = Engine::new(QueryLimits::default());
        let result = engine.range(storage, query, T0 + HOUR, T0 + 3 * HOUR, step_ms).unwrap();
        let Value::Matrix(series) = result.value else { panic!("{query}: not a matrix") };
        series.into_iter().map(|s| (s.labels.to_string(), s.points)).collect()
    }

    #[test]
    fn tiers_answer_as_raw_samples_did_where_materialized_and_after_these_expire() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(redb::Database::create(dir.path().join("t.redb")).unwrap());
        let now = Arc::new(AtomicI64::new(T0 + 5 * HOUR));
        let clock = now.clone();
        // Runs are materialized once a partition ended two hours ago (the raw retention).
        let config = TsdbConfig {
            raw_retention: Duration::from_secs(2 * 3600),
            clock: Clock::from_fn(move || clock.load(Ordering::Relaxed)),
            ..TsdbConfig::default()
        };
        let tsdb = Arc::new(Tsdb::open(db, config).unwrap());
        let counter = Labels::new([("__name__".to_string(), "c".to_string())]);
        let gauge = Labels::new([("__name__".to_string(), "g".to_string())]);
        // Four hours and ten minutes every 10 s (three 2-hour partitions): a counter that
        // resets every 37 minutes and a gauge with a NaN now and then.
        let samples = (0..1500i64)
            .flat_map(|i| {
                let t = T0 + i * 10_000;
                let c = ((i % 222) * 7 + i % 5) as f64;
                let g = if i % 97 == 0 { f64::NAN } else { (i * 31 % 17) as f64 };
                [(0, t, c), (1, t, g)]
            })
            .collect();
        let batch = WriteBatch { producer: None, series: vec![counter, gauge], samples };
        tsdb.submit(batch).blocking_recv().unwrap().unwrap();
        tsdb.flush().unwrap();
        let catalog = TsdbCatalog(tsdb.clone());
        let frontiers = |c: &TsdbCatalog| c.rollup_tiers().iter().map(|t| t.complete_before_ms).collect::<Vec<_>>();
        // Fresh partitions are not materialized: queries read raw samples.
        assert_eq!(frontiers(&catalog), [T0, T0]);

        let queries = [
            ("rate(c[5m])", 60_000),
            ("increase(c[10m])", 60_000),
            ("resets(c[1h])", HOUR),
            ("max_over_time(g[5m])", 60_000),
            ("avg_over_time(g[5m])", 60_000),
            ("count_over_time(g[1h])", HOUR),
        ];
        let raw: Vec<_> = queries.iter().map(|&(q, step)| matrix(&RawOnly(&catalog), q, step)).collect();

        // At 5 h the first partition (to 2 h) is materialized and its raw samples deleted;
        // the second is not: every query's range (1 h to 3 h) spans both, reading the tier
        // before 2 h and raw samples after.
        tsdb.apply_retention().unwrap();
        assert_eq!(frontiers(&catalog), [T0 + 2 * HOUR, T0 + 2 * HOUR]);
        assert!(catalog.select(&[], T0, T0 + 2 * HOUR - 1).unwrap().is_empty());
        assert!(!catalog.select(&[], T0 + 2 * HOUR, T0 + 3 * HOUR).unwrap().is_empty());
        let counting = Counting(&catalog, AtomicUsize::new(0));
        for ((query, step), want) in queries.iter().zip(&raw) {
            assert!(!want.is_empty(), "{query}");
            assert_close(query, &matrix(&counting, query, *step), want);
        }
        assert_eq!(counting.1.load(Ordering::Relaxed), queries.len());

        // At 7 h the second partition is materialized and its raw samples gone too: the
        // tiers answer the whole range.
        now.store(T0 + 7 * HOUR, Ordering::Relaxed);
        tsdb.apply_retention().unwrap();
        assert_eq!(frontiers(&catalog), [T0 + 4 * HOUR, T0 + 4 * HOUR]);
        assert!(catalog.select(&[], T0, T0 + 4 * HOUR - 1).unwrap().is_empty());
        for ((query, step), want) in queries.iter().zip(&raw) {
            assert_close(query, &matrix(&catalog, query, *step), want);
        }
    }

    type Matrix = Vec<(String, Vec<(i64, f64)>)>;

    /// The same series and step times, values within 1e-9 relative (NaN equal to NaN).
    fn assert_close(query: &str, got: &Matrix, want: &Matrix) {
        assert_eq!(got.len(), want.len(), "{query}");
        for ((labels, got), (_, want)) in got.iter().zip(want) {
            assert_eq!(got.len(), want.len(), "{query} {labels}");
            for (a, b) in got.iter().zip(want) {
                let close = a.1 == b.1 || (a.1 - b.1).abs() <= 1e-9 * a.1.abs().max(b.1.abs());
                assert!(
                    a.0 == b.0 && (close || (a.1.is_nan() && b.1.is_nan())),
                    "{query} {labels}: {a:?} vs raw {b:?}"
                );
            }
        }
    }

    /// The catalog without its tiers.
    struct RawOnly<'a>(&'a TsdbCatalog);

    impl Storage for RawOnly<'_> {
        fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<SeriesSamples>, String> {
            self.0.select(matchers, start_ms, end_ms)
        }
    }
}
