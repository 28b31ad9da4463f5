//! One rollup bucket's summary, built sample by sample.

use super::tier::Tier;

/// The exact NaN Prometheus writes to mark a series stale. Rollups leave it out.
pub const STALE_MARKER_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `value` is Prometheus's stale marker (not just any NaN).
pub fn is_stale_marker(value: f64) -> bool {
    value.to_bits() == STALE_MARKER_BITS
}

/// The summary of one series' samples in one bucket `[start_ms, start_ms + width)`.
///
/// `last_v - first_v + counter_correction` is the bucket's counter increase; with the
/// previous bucket's `last_v` a reader also catches a reset at the bucket boundary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollupPoint {
    /// The bucket's start, unix ms.
    pub start_ms: i64,
    /// Number of samples (stale markers excluded).
    pub count: u64,
    /// Sum of the values.
    pub sum: f64,
    /// Smallest value (NaN only when every value is NaN).
    pub min: f64,
    /// Largest value (NaN only when every value is NaN).
    pub max: f64,
    /// First sample's time.
    pub first_ts: i64,
    /// First sample's value.
    pub first_v: f64,
    /// Last sample's time.
    pub last_ts: i64,
    /// Last sample's value.
    pub last_v: f64,
    /// Time of the sample before the last (the last itself when `count == 1`), for
    /// `irate`/`idelta`.
    pub prev_last_ts: i64,
    /// Value of the sample before the last (the last itself when `count == 1`).
    pub prev_last_v: f64,
    /// Sum, over every counter reset inside the bucket (`v[i] < v[i-1]`), of `v[i-1]`.
    pub counter_correction: f64,
    /// Number of counter resets inside the bucket.
    pub resets: u64,
    /// Number of value changes inside the bucket.
    pub changes: u64,
}

impl RollupPoint {
    /// A point of one sample, in the `tier` bucket holding `ts`.
    pub fn new(tier: Tier, ts: i64, v: f64) -> RollupPoint {
        RollupPoint::of_sample(tier.bucket_start(ts), ts, v)
    }

    /// A point of one sample, in the bucket starting at `start_ms`.
    const fn of_sample(start_ms: i64, ts: i64, v: f64) -> RollupPoint {
        RollupPoint {
            start_ms,
            count: 1,
            sum: v,
            min: v,
            max: v,
            first_ts: ts,
            first_v: v,
            last_ts: ts,
            last_v: v,
            prev_last_ts: ts,
            prev_last_v: v,
            counter_correction: 0.0,
            resets: 0,
            changes: 0,
        }
    }

    /// Adds a sample later than every sample already in the point.
    pub fn push(&mut self, ts: i64, v: f64) {
        self.absorb(&RollupPoint::of_sample(self.start_ms, ts, v));
    }

    /// Adds `later`, a point of samples all later than this one's (the next minute, say),
    /// as if its samples had been pushed one by one, so that a wider bucket is put together
    /// from narrower ones: the same counts, extremes, first and last samples, resets and
    /// changes (a reset or a change at the boundary between the two included); the sum and
    /// the counter correction are sums of the parts, equal up to rounding.
    pub fn absorb(&mut self, later: &RollupPoint) {
        let prev = self.last_v;
        let first = later.first_v;
        if first < prev {
            self.resets += 1;
            self.counter_correction += prev;
        }
        // Prometheus's changes(): NaN to NaN is no change.
        if !(first == prev || (first.is_nan() && prev.is_nan())) {
            self.changes += 1;
        }
        self.resets += later.resets;
        self.counter_correction += later.counter_correction;
        self.changes += later.changes;
        if later.min < self.min || self.min.is_nan() {
            self.min = later.min;
        }
        if later.max > self.max || self.max.is_nan() {
            self.max = later.max;
        }
        self.count += later.count;
        self.sum += later.sum;
        // A point of one sample has itself as its previous-to-last.
        (self.prev_last_ts, self.prev_last_v) =
            if later.count > 1 { (later.prev_last_ts, later.prev_last_v) } else { (self.last_ts, self.last_v) };
        self.last_ts = later.last_ts;
        self.last_v = later.last_v;
    }

    /// The counter increase over the bucket: `last_v - first_v + counter_correction`.
    pub fn increase(&self) -> f64 {
        self.last_v - self.first_v + self.counter_correction
    }
}

/// Folds samples (oldest first, after whatever `open` already holds) into tier buckets,
/// leaving stale markers out. `open` is the bucket carried over from earlier samples; every
/// bucket the samples close is handed to `emit`, and the last one is left in `open`.
///
/// This is the one fold: the tiers are written with it, the query planner folds raw samples
/// with it where a tier is not complete, and a regional folds its samples with it for its
/// master, so all three agree bucket for bucket.
pub fn fold_samples(
    tier: Tier,
    ts: &[i64],
    values: &[f64],
    open: &mut Option<RollupPoint>,
    mut emit: impl FnMut(RollupPoint),
) {
    for (&t, &v) in ts.iter().zip(values) {
        if is_stale_marker(v) {
            continue;
        }
        match open {
            Some(point) if point.start_ms == tier.bucket_start(t) && t > point.last_ts => point.push(t, v),
            Some(point) if point.start_ms == tier.bucket_start(t) => {}
            _ => {
                if let Some(done) = open.replace(RollupPoint::new(tier, t, v)) {
                    emit(done);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_with_a_reset_and_a_stale_marker() {
        let samples = [
            (0, 10.0),
            (10_000, 15.0),
            (20_000, 3.0),
            (30_000, f64::from_bits(STALE_MARKER_BITS)),
            (40_000, 3.0),
            (50_000, 7.0),
            (60_000, 1.0),
        ];
        let (ts, values): (Vec<i64>, Vec<f64>) = samples.iter().copied().unzip();
        let mut open = None;
        let mut done = Vec::new();
        fold_samples(Tier::Minute, &ts, &values, &mut open, |p| done.push(p));
        assert_eq!(done.len(), 1);
        let p = done[0];
        assert_eq!((p.start_ms, p.count, p.sum, p.min, p.max), (0, 5, 38.0, 3.0, 15.0));
        assert_eq!((p.first_ts, p.first_v, p.last_ts, p.last_v), (0, 10.0, 50_000, 7.0));
        assert_eq!((p.prev_last_ts, p.prev_last_v), (40_000, 3.0));
        assert_eq!((p.counter_correction, p.resets, p.changes), (15.0, 1, 3));
        // 10 -> 15 (+5), reset to 3 (+3), 3 -> 7 (+4): 12.
        assert_eq!(p.increase(), 12.0);
        let last = open.unwrap();
        assert_eq!((last.start_ms, last.count, last.prev_last_v, last.changes), (60_000, 1, 1.0, 0));
    }

    /// Minute points absorbed into an hour are the hour point the samples fold into.
    #[test]
    fn absorbed_minutes_equal_the_hour_folded_from_samples() {
        // Integers, so that sums are exact: a counter with resets inside a minute and at
        // minute boundaries, a repeated value, a NaN, a lone sample in a minute.
        // 10 s apart: minute k holds samples 6k to 6k + 5. Resets at 17 (inside a minute),
        // 60 (a minute's first sample); a NaN as minute 20's first sample; minute 3 holds
        // only sample 19.
        let mut samples: Vec<(i64, f64)> = Vec::new();
        let mut v = 0.0;
        for i in 0..360i64 {
            v = match i {
                17 | 60 | 61 => 2.0,
                _ if i % 7 == 0 => v,
                _ => v + (i % 5) as f64,
            };
            samples.push((i * 10_000, if i == 120 { f64::NAN } else { v }));
        }
        samples.retain(|&(t, _)| !(130_000..=230_000).contains(&t) || t == 190_000);
        let (ts, values): (Vec<i64>, Vec<f64>) = samples.iter().copied().unzip();
        let (mut open, mut hours) = (None, Vec::new());
        fold_samples(Tier::Hour, &ts, &values, &mut open, |p| hours.push(p));
        hours.extend(open);
        let (mut open, mut minutes) = (None, Vec::new());
        fold_samples(Tier::Minute, &ts, &values, &mut open, |p| minutes.push(p));
        minutes.extend(open);
        assert!(minutes.iter().any(|m| m.count == 1));
        let mut hour = RollupPoint { start_ms: 0, ..minutes[0] };
        for m in &minutes[1..] {
            hour.absorb(m);
        }
        assert_eq!(hours.len(), 1);
        let want = hours[0];
        assert_eq!(format!("{hour:?}"), format!("{want:?}"));
        // The resets at 17 (inside minute 2) and 60 (minute 10's first sample) both count.
        assert_eq!(hour.resets, 2);
    }

    #[test]
    fn nan_values_count_once_as_a_change() {
        let mut p = RollupPoint::new(Tier::Hour, 5, f64::NAN);
        p.push(6, f64::NAN);
        p.push(7, 1.0);
        assert_eq!(p.changes, 1);
        assert_eq!((p.min, p.max), (1.0, 1.0));
    }
}
