//! One replication pass's pieces: raw samples folded into 1-minute buckets, and buckets
//! packed into batches of bounded size.

use sysmon_proto::v1;
use sysmon_tsdb::{Labels, RollupPoint, SeriesData, Tier, fold_samples};

use crate::wire::{SeriesTable, push_rollup};

/// The most buckets one batch carries (about 5 MB of protobuf before compression, well
/// under the 16 MiB message limit).
pub(crate) const MAX_POINTS_PER_BATCH: usize = 50_000;

/// Folds each series' samples in `start_ms..end_ms` (minute boundaries) into 1-minute
/// buckets, exactly as the tiers and the query planner fold them, and hands each series'
/// buckets to `emit`.
pub(crate) fn fold_minutes(
    series: &[SeriesData],
    start_ms: i64,
    end_ms: i64,
    mut emit: impl FnMut(&Labels, Vec<RollupPoint>),
) {
    let (mut ts, mut values) = (Vec::new(), Vec::new());
    for s in series {
        ts.clear();
        values.clear();
        for &(t, v) in s.samples.iter().filter(|(t, _)| (start_ms..end_ms).contains(t)) {
            ts.push(t);
            values.push(v);
        }
        let mut points = Vec::new();
        let mut open = None;
        fold_samples(Tier::Minute, &ts, &values, &mut open, |p| points.push(p));
        points.extend(open);
        if !points.is_empty() {
            emit(&s.labels, points);
        }
    }
}

/// A batch being filled with buckets.
#[derive(Debug)]
pub(crate) struct BatchBuilder {
    table: SeriesTable,
    rollups: v1::Rollups,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        BatchBuilder {
            table: SeriesTable::default(),
            rollups: v1::Rollups { width_ms: Tier::Minute.width_ms(), ..Default::default() },
        }
    }
}

impl BatchBuilder {
    pub(crate) fn push(&mut self, labels: &Labels, point: &RollupPoint) {
        let series = self.table.series(labels);
        push_rollup(&mut self.rollups, series, point);
    }

    /// Buckets in the batch.
    pub(crate) fn points(&self) -> usize {
        self.rollups.series.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.points() >= MAX_POINTS_PER_BATCH
    }

    /// The batch, with `hosts`, `regions` and the regions' `alerts` (seq 0: the spool
    /// numbers it).
    pub(crate) fn finish(
        self,
        hosts: Vec<v1::HostState>,
        regions: Vec<v1::RegionStatus>,
        alerts: Vec<v1::AlertState>,
    ) -> v1::Batch {
        let (strings, series) = self.table.finish();
        let rollups = (!self.rollups.series.is_empty()).then_some(self.rollups);
        v1::Batch { seq: 0, strings, series, samples: None, events: Vec::new(), rollups, hosts, regions, alerts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_fold_into_the_minutes_of_the_range_only() {
        let labels = Labels::new([("__name__".to_string(), "c".to_string())]);
        let samples = (0..30).map(|i| (i * 10_000, i as f64)).collect();
        let series = [SeriesData { labels: labels.clone(), samples }];
        let mut got = Vec::new();
        fold_minutes(&series, 60_000, 240_000, |l, points| got.push((l.clone(), points)));
        assert_eq!(got.len(), 1);
        let points = &got[0].1;
        assert_eq!(points.iter().map(|p| p.start_ms).collect::<Vec<_>>(), [60_000, 120_000, 180_000]);
        assert_eq!(points.iter().map(|p| p.count).collect::<Vec<_>>(), [6, 6, 6]);
        assert_eq!((points[0].first_v, points[2].last_v), (6.0, 23.0));
    }
}
