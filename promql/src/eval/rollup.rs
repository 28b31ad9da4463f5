//! Range functions answered from a rollup tier (DESIGN.md, data path step 5: "queries with
//! a coarse step read the coarsest tier that answers them exactly").
//!
//! `f(sel[r] offset o)` reads tier `W` when `r` is a multiple of `W` and every window end
//! `t - o` is one too: Prometheus 2.42's window `[t - o - r, t - o]` (closed) is then the
//! buckets starting in `[t - o - r, t - o - W]` plus the sample at exactly `t - o`, which is
//! the first sample of the bucket starting there when its `first_ts` is `t - o`. The buckets'
//! counts, sums, extremes, first and last samples, resets and changes compose across bucket
//! boundaries into exactly what the raw window gives `rate`, `increase`, `delta`, `resets`,
//! `changes` and the count, min, max, last and present `_over_time` functions, and, up to
//! rounding, `sum_over_time` and `avg_over_time` (a bucket's sum is a plain sum).
//!
//! Where the tier is not complete yet (from its `complete_before_ms` on: partitions whose
//! runs are not materialized yet), the selector's raw samples are folded into buckets of the
//! same width as the query runs, so a window that spans both reads buckets throughout, even
//! where the raw samples before the frontier have expired.

use promql_parser::parser::{Expr, MatrixSelector};

use crate::error::{Error, Result};
use crate::eval::evaluator::{Evaluator, offset_ms, unwrap_parens};
use crate::eval::extrapolate::{Extrapolation, WindowEdges, extrapolate};
use crate::eval::range_functions::{PARALLEL_MIN_WINDOWS, RangeFunction, in_parts, result_series};
use crate::eval::selectors::{fetch, matchers};
use crate::eval::stats::kahan_inc;
use crate::eval::types::{Series, Steps};
use crate::storage::{RollupPoint, RollupTier, SeriesRollups, is_stale_marker};

/// Whether a tier's buckets give `func` exactly what the raw samples give.
fn answered_by_tiers(func: RangeFunction) -> bool {
    use RangeFunction::*;
    matches!(
        func,
        Rate | Increase
            | Delta
            | Resets
            | Changes
            | CountOverTime
            | SumOverTime
            | AvgOverTime
            | MinOverTime
            | MaxOverTime
            | LastOverTime
            | PresentOverTime
    )
}

/// Which tier a call reads, and from when on buckets are folded from raw samples instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    width_ms: i64,
    complete_before_ms: i64,
}

/// The coarsest tier whose buckets line up with every window (`range_ms` long, ending at
/// `first_end`, `first_end + step_ms`, ... for `steps` steps) and that is complete for at
/// least the first one's end.
fn plan(tiers: &[RollupTier], range_ms: i64, first_end: i64, step_ms: i64, steps: usize) -> Option<Plan> {
    let mut tiers: Vec<RollupTier> = tiers.iter().copied().filter(|t| t.width_ms > 0).collect();
    tiers.sort_by_key(|t| std::cmp::Reverse(t.width_ms));
    tiers.into_iter().find_map(|tier| {
        let w = tier.width_ms;
        let aligned = range_ms >= w
            && range_ms % w == 0
            && first_end.rem_euclid(w) == 0
            && (steps <= 1 || (step_ms >= w && step_ms % w == 0));
        if !aligned || first_end >= tier.complete_before_ms {
            return None;
        }
        Some(Plan { width_ms: w, complete_before_ms: tier.complete_before_ms })
    })
}

/// Evaluates `func(args)` from a rollup tier where one answers it exactly (with buckets folded
/// from raw samples where the tier is not complete); `None` when no tier does, and the caller
/// reads raw samples.
pub(crate) fn eval_from_tier(
    ev: &mut Evaluator<'_>,
    func: RangeFunction,
    args: &[&Expr],
    steps: Steps,
) -> Result<Option<Vec<Series>>> {
    if !answered_by_tiers(func) || args.len() != 1 {
        return Ok(None);
    }
    let Expr::MatrixSelector(ms) = unwrap_parens(args[0]) else { return Ok(None) };
    let n = steps.len();
    let offset = offset_ms(&ms.vs.offset);
    let at = ev.at_ms(&ms.vs.at)?;
    let range_ms = i64::try_from(ms.range.as_millis()).unwrap_or(i64::MAX);
    // With `@`, every step reads the same window.
    let (first_end, step_ms, windows) = match at {
        Some(at) => (at.saturating_sub(offset), 0, 1),
        None => (steps.start_ms.saturating_sub(offset), steps.step_ms, n),
    };
    if n == 0 || range_ms <= 0 {
        return Ok(None);
    }
    let tiers = ev.storage().rollup_tiers();
    let Some(plan) = plan(&tiers, range_ms, first_end, step_ms, windows) else { return Ok(None) };
    let last_end = first_end.saturating_add(step_ms.saturating_mul(windows as i64 - 1));
    let frontier = plan.complete_before_ms;
    let tier_end = last_end.min(frontier.saturating_sub(1));
    let Some(mut rollups) = select(ev, ms, plan.width_ms, first_end.saturating_sub(range_ms), tier_end)? else {
        return Ok(None);
    };
    if last_end >= frontier {
        let raw = fetch(ev, &ms.vs, frontier, last_end)?;
        let folded =
            raw.into_iter().map(|s| SeriesRollups { points: fold_raw(&s.samples, plan.width_ms), labels: s.labels });
        rollups = merge_by_labels(rollups, folded.filter(|s| !s.points.is_empty()).collect());
    }
    ev.add_samples(rollups.len().saturating_mul(n))?;
    let deadline = ev.deadline();
    let threads = if rollups.len() * windows >= PARALLEL_MIN_WINDOWS { ev.threads() } else { 1 };
    let window_values = |part: &[SeriesRollups]| -> Result<Vec<Series>> {
        let mut out = Vec::with_capacity(part.len());
        for (index, s) in part.iter().enumerate() {
            if index % 256 == 255 {
                deadline.check("evaluating a range function")?;
            }
            let mut values = vec![None; n];
            let counter_family = matches!(func, RangeFunction::Rate | RangeFunction::Increase | RangeFunction::Delta);
            if counter_family && at.is_none() {
                let slide = Slide { width_ms: plan.width_ms, range_ms, first_end, step_ms };
                counter_steps(func, &s.points, slide, &mut values);
            } else {
                for (i, value) in values.iter_mut().take(windows).enumerate() {
                    let end = first_end + step_ms * i as i64;
                    *value = window(&s.points, plan.width_ms, end - range_ms, end)
                        .and_then(|w| w.value(func, end, range_ms));
                }
            }
            if at.is_some() {
                let value = values[0];
                values.fill(value);
            }
            out.push(Series { labels: s.labels.clone(), values });
        }
        Ok(out)
    };
    let out = in_parts(&rollups, threads, window_values)?;
    result_series(func, out).map(Some)
}

/// Reads the buckets of tier `width_ms` starting in `[start, end]` for the selector, under
/// the query's limits, sorted by labels.
fn select(
    ev: &mut Evaluator<'_>,
    ms: &MatrixSelector,
    width_ms: i64,
    start: i64,
    end: i64,
) -> Result<Option<Vec<SeriesRollups>>> {
    ev.check_deadline("selecting series")?;
    let matchers = matchers(&ms.vs)?;
    let Some(mut series) = ev.storage().select_rollup(width_ms, &matchers, start, end).map_err(Error::Storage)? else {
        return Ok(None);
    };
    let limit = ev.limits().max_series_per_selector;
    if series.len() > limit {
        return Err(Error::TooManySeries { selector: ms.vs.to_string(), found: series.len(), limit });
    }
    ev.add_samples(series.iter().map(|s| s.points.len()).sum())?;
    series.retain(|s| !s.points.is_empty());
    if !series.windows(2).all(|w| w[0].labels < w[1].labels) {
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
    Ok(Some(series))
}

/// Buckets `width_ms` wide of raw samples (sorted by time), as a tier holds them: stale
/// markers left out, a later sample of the same time ignored.
fn fold_raw(samples: &[(i64, f64)], width_ms: i64) -> Vec<RollupPoint> {
    let mut out: Vec<RollupPoint> = Vec::new();
    for &(t, v) in samples {
        if is_stale_marker(v) {
            continue;
        }
        let start = t - t.rem_euclid(width_ms);
        match out.last_mut() {
            Some(p) if p.start_ms == start => {
                if t > p.last_ts {
                    p.push(t, v);
                }
            }
            _ => out.push(one_sample(start, t, v)),
        }
    }
    out
}

/// A bucket starting at `start` holding one sample.
fn one_sample(start: i64, t: i64, v: f64) -> RollupPoint {
    RollupPoint {
        start_ms: start,
        count: 1,
        sum: v,
        min: v,
        max: v,
        first_ts: t,
        first_v: v,
        last_ts: t,
        last_v: v,
        prev_last_ts: t,
        prev_last_v: v,
        counter_correction: 0.0,
        resets: 0,
        changes: 0,
    }
}

/// Series of `a` and `b` (each sorted by labels) merged by labels, a series' points
/// concatenated (`b`'s all start after `a`'s).
fn merge_by_labels(a: Vec<SeriesRollups>, b: Vec<SeriesRollups>) -> Vec<SeriesRollups> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.labels == y.labels => {
                let (mut x, y) = (a.next().expect("peeked"), b.next().expect("peeked"));
                x.points.extend(y.points);
                x
            }
            (Some(x), Some(y)) if x.labels < y.labels => a.next().expect("peeked"),
            (Some(_), Some(_)) | (None, Some(_)) => b.next().expect("peeked"),
            (Some(_), None) => a.next().expect("peeked"),
            (None, None) => return out,
        };
        out.push(next);
    }
}

/// Where the windows of a range query lie: the `i`th ends at `first_end + i * step_ms` and is
/// `range_ms` long, over buckets `width_ms` wide.
#[derive(Debug, Clone, Copy)]
struct Slide {
    width_ms: i64,
    range_ms: i64,
    first_end: i64,
    step_ms: i64,
}

/// `rate`, `increase` or `delta` of one series at every step (`values.len()` of them): the
/// window slides over the buckets by two pointers and takes its sample count and resets from
/// prefix sums, so a step costs the same whatever the range. A counter window with a reset
/// takes the general path, which adds each reset's value in time order.
fn counter_steps(func: RangeFunction, points: &[RollupPoint], slide: Slide, values: &mut [Option<f64>]) {
    let is_counter = func != RangeFunction::Delta;
    // counts[j], resets[j]: over buckets ..j; resets include the boundary before each bucket.
    let mut counts = Vec::with_capacity(points.len() + 1);
    let mut resets = Vec::with_capacity(points.len() + 1);
    counts.push(0u64);
    resets.push(0u64);
    for (j, p) in points.iter().enumerate() {
        let boundary = j > 0 && p.first_v < points[j - 1].last_v;
        counts.push(counts[j] + p.count);
        resets.push(resets[j] + p.resets + u64::from(boundary));
    }
    let mut extrapolation = Extrapolation::new(is_counter, func == RangeFunction::Rate);
    let (mut lo, mut hi) = (0, 0);
    for (i, value) in values.iter_mut().enumerate() {
        let end = slide.first_end + slide.step_ms * i as i64;
        let start = end - slide.range_ms;
        while lo < points.len() && points[lo].start_ms < start {
            lo += 1;
        }
        hi = hi.max(lo);
        while hi < points.len() && points[hi].start_ms <= end - slide.width_ms {
            hi += 1;
        }
        let edge = points.get(hi).filter(|p| p.start_ms == end && p.first_ts == end);
        let edge_count = u64::from(edge.is_some());
        if counts[hi] - counts[lo] + edge_count < 2 {
            *value = None;
            continue;
        }
        if is_counter {
            // The boundary before bucket `lo` lies outside the window; the one before the edge
            // sample inside it.
            let outside = u64::from(lo > 0 && lo < hi && points[lo].first_v < points[lo - 1].last_v);
            let at_edge = u64::from(edge.is_some_and(|e| hi > lo && e.first_v < points[hi - 1].last_v));
            if resets[hi] - resets[lo] - outside + at_edge > 0 {
                *value = window(points, slide.width_ms, start, end).and_then(|w| w.value(func, end, slide.range_ms));
                continue;
            }
        }
        // Two samples or more: at least one in a bucket, so `lo < hi`.
        let (first_t, first_v) = (points[lo].first_ts, points[lo].first_v);
        let (last_t, last_v) = match edge {
            Some(e) => (e.first_ts, e.first_v),
            None => (points[hi - 1].last_ts, points[hi - 1].last_v),
        };
        let count = usize::try_from(counts[hi] - counts[lo] + edge_count).unwrap_or(usize::MAX);
        let edges = WindowEdges { first_t, first_v, last_t, count, change: last_v - first_v };
        *value = Some(extrapolation.value(&edges, start, end));
    }
}

/// What a window's samples add up to, composed from its buckets.
#[derive(Debug, Clone, Copy)]
struct Summary {
    count: u64,
    sum: f64,
    sum_c: f64,
    min: f64,
    max: f64,
    first_t: i64,
    first_v: f64,
    last_t: i64,
    last_v: f64,
    resets: u64,
    changes: u64,
}

/// The window `[start, end]` of one series from its buckets (sorted by start) of width
/// `width`: those starting in `[start, end - width]`, and the first sample of the bucket
/// starting at `end` when it lies at `end`. `None` when the window holds no sample.
fn window(points: &[RollupPoint], width: i64, start: i64, end: i64) -> Option<Window<'_>> {
    let lo = points.partition_point(|p| p.start_ms < start);
    let hi = points.partition_point(|p| p.start_ms <= end - width);
    let edge = points.get(hi).filter(|p| p.start_ms == end && p.first_ts == end).map(|p| (p.first_ts, p.first_v));
    (lo < hi || edge.is_some()).then_some(Window { buckets: &points[lo..hi], edge })
}

/// A window's buckets and its last sample when that one starts the next bucket.
struct Window<'a> {
    buckets: &'a [RollupPoint],
    edge: Option<(i64, f64)>,
}

impl Window<'_> {
    /// Calls `f` with the window's segments in time order: its buckets (by reference: a
    /// bucket is 120 bytes and a query visits millions), then the edge sample as a bucket of one.
    fn for_each_segment(&self, mut f: impl FnMut(&RollupPoint)) {
        self.buckets.iter().for_each(&mut f);
        if let Some((t, v)) = self.edge {
            f(&one_sample(t, t, v));
        }
    }

    fn summary(&self) -> Summary {
        let mut summary: Option<Summary> = None;
        self.for_each_segment(|p| match &mut summary {
            None => {
                let (sum, sum_c) = kahan_inc(p.sum, 0.0, 0.0);
                summary = Some(Summary {
                    count: p.count,
                    sum,
                    sum_c,
                    min: p.min,
                    max: p.max,
                    first_t: p.first_ts,
                    first_v: p.first_v,
                    last_t: p.last_ts,
                    last_v: p.last_v,
                    resets: p.resets,
                    changes: p.changes,
                });
            }
            Some(s) => {
                // The boundary between two buckets is a pair of consecutive samples too.
                s.resets += u64::from(p.first_v < s.last_v) + p.resets;
                s.changes += u64::from(p.first_v != s.last_v && !(p.first_v.is_nan() && s.last_v.is_nan())) + p.changes;
                s.count += p.count;
                (s.sum, s.sum_c) = kahan_inc(p.sum, s.sum, s.sum_c);
                if p.min < s.min || s.min.is_nan() {
                    s.min = p.min;
                }
                if p.max > s.max || s.max.is_nan() {
                    s.max = p.max;
                }
                s.last_t = p.last_ts;
                s.last_v = p.last_v;
            }
        });
        summary.expect("a window holds a bucket or its edge sample")
    }

    /// The counter change over the window: last minus first value plus the value before
    /// each reset, added in time order as raw evaluation adds them.
    fn counter_change(&self, s: &Summary) -> f64 {
        let mut change = s.last_v - s.first_v;
        if s.resets == 0 {
            return change;
        }
        let mut previous: Option<f64> = None;
        self.for_each_segment(|p| {
            if let Some(last) = previous
                && p.first_v < last
            {
                change += last;
            }
            if p.resets > 0 {
                change += p.counter_correction;
            }
            previous = Some(p.last_v);
        });
        change
    }

    /// `func`'s value over this window, which ends at `end` and is `range_ms` long.
    fn value(&self, func: RangeFunction, end: i64, range_ms: i64) -> Option<f64> {
        use RangeFunction::*;
        let s = self.summary();
        let sum = if s.sum.is_infinite() { s.sum } else { s.sum + s.sum_c };
        Some(match func {
            Rate | Increase | Delta => {
                if s.count < 2 {
                    return None;
                }
                let is_counter = func != Delta;
                let change = if is_counter { self.counter_change(&s) } else { s.last_v - s.first_v };
                let count = usize::try_from(s.count).unwrap_or(usize::MAX);
                let edges = WindowEdges { first_t: s.first_t, first_v: s.first_v, last_t: s.last_t, count, change };
                extrapolate(&edges, end - range_ms, end, is_counter, func == Rate)
            }
            Resets => s.resets as f64,
            Changes => s.changes as f64,
            CountOverTime => s.count as f64,
            SumOverTime => sum,
            AvgOverTime => {
                if sum.is_infinite() && s.min.is_finite() && s.max.is_finite() {
                    // Finite values whose sum overflows: Prometheus's running mean does
                    // not, so neither may this one.
                    self.mean_by_buckets(s.count as f64)
                } else {
                    sum / s.count as f64
                }
            }
            MinOverTime => s.min,
            MaxOverTime => s.max,
            LastOverTime => s.last_v,
            PresentOverTime => 1.0,
            _ => return None,
        })
    }

    /// The mean as the sum of each bucket's sum divided by the count.
    fn mean_by_buckets(&self, count: f64) -> f64 {
        let (mut mean, mut c) = (0.0, 0.0);
        self.for_each_segment(|p| (mean, c) = kahan_inc(p.sum / count, mean, c));
        mean + c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(width_ms: i64, complete_before_ms: i64) -> RollupTier {
        RollupTier { width_ms, complete_before_ms }
    }

    #[test]
    fn the_coarsest_aligned_complete_tier_is_planned() {
        let tiers = [tier(60_000, 10 * 3_600_000), tier(3_600_000, 9 * 3_600_000)];
        let minute = Some(Plan { width_ms: 60_000, complete_before_ms: 10 * 3_600_000 });
        // 1 h step, 1 h range, hour-aligned: the hour tier, complete before 9 h.
        assert_eq!(
            plan(&tiers, 3_600_000, 3_600_000, 3_600_000, 20),
            Some(Plan { width_ms: 3_600_000, complete_before_ms: 9 * 3_600_000 })
        );
        // A 1 m step: the minute tier.
        assert_eq!(plan(&tiers, 3_600_000, 3_600_000, 60_000, 1000), minute);
        // A 5 m range: the minute tier even at a 1 h step.
        assert_eq!(plan(&tiers, 300_000, 3_600_000, 3_600_000, 3), minute);
        // The hour tier not complete yet at the first end: the minute tier.
        assert_eq!(plan(&tiers, 3_600_000, 9 * 3_600_000, 3_600_000, 3), minute);
        // Misaligned ends, ranges or steps, or nothing complete: raw samples.
        assert_eq!(plan(&tiers, 300_000, 3_600_001, 60_000, 3), None);
        assert_eq!(plan(&tiers, 90_000, 3_600_000, 60_000, 3), None);
        assert_eq!(plan(&tiers, 300_000, 3_600_000, 30_000, 3), None);
        assert_eq!(plan(&tiers, 300_000, 3_600_000, 90_000, 3), None);
        assert_eq!(plan(&tiers, 300_000, 10 * 3_600_000, 60_000, 3), None);
        assert_eq!(plan(&[tier(60_000, i64::MIN)], 300_000, 0, 60_000, 3), None);
        // An instant query (one step) needs no step alignment; negative times work too.
        assert_eq!(plan(&tiers, 120_000, -120_000, 1, 1), minute);
    }
}

#[cfg(test)]
mod fold_tests {
    use super::*;
    use crate::storage::STALE_MARKER_BITS;

    #[test]
    fn raw_samples_fold_into_buckets_as_a_tier_holds_them() {
        let stale = f64::from_bits(STALE_MARKER_BITS);
        let samples = [(0, 5.0), (30_000, 2.0), (30_000, 9.0), (45_000, stale), (60_000, 4.0), (130_000, 1.0)];
        let points = fold_raw(&samples, 60_000);
        let got: Vec<_> =
            points.iter().map(|p| (p.start_ms, p.count, p.resets, p.counter_correction, p.last_v)).collect();
        assert_eq!(got, [(0, 2, 1, 5.0, 2.0), (60_000, 1, 0, 0.0, 4.0), (120_000, 1, 0, 0.0, 1.0)]);
    }
}
