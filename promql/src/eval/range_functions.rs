//! Functions over range vectors (`rate`, `*_over_time`, ...): each series' window slides
//! over its sorted samples with two indices, never re-reading storage.

use crate::error::{Error, Result};
use crate::eval::evaluator::Deadline;
use crate::eval::extrapolate::{Extrapolation, WindowEdges};
use crate::eval::labels::without_metric_name;
use crate::eval::series_set::ensure_distinct_labels;
use crate::eval::stats::{kahan_inc, linear_regression, quantile};
use crate::eval::types::{RangeInput, RangeSeriesInput, Series, Steps};
use crate::storage::{SampleColumns, is_stale_marker};

/// A function that reads a window of samples per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeFunction {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Deriv,
    PredictLinear,
    Resets,
    Changes,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    SumOverTime,
    CountOverTime,
    LastOverTime,
    QuantileOverTime,
    StddevOverTime,
    StdvarOverTime,
    PresentOverTime,
    HoltWinters,
}

impl RangeFunction {
    /// The function called `name` in PromQL, if it takes a range vector.
    pub(crate) fn from_name(name: &str) -> Option<RangeFunction> {
        use RangeFunction::*;
        Some(match name {
            "rate" => Rate,
            "increase" => Increase,
            "delta" => Delta,
            "irate" => Irate,
            "idelta" => Idelta,
            "deriv" => Deriv,
            "predict_linear" => PredictLinear,
            "resets" => Resets,
            "changes" => Changes,
            "avg_over_time" => AvgOverTime,
            "min_over_time" => MinOverTime,
            "max_over_time" => MaxOverTime,
            "sum_over_time" => SumOverTime,
            "count_over_time" => CountOverTime,
            "last_over_time" => LastOverTime,
            "quantile_over_time" => QuantileOverTime,
            "stddev_over_time" => StddevOverTime,
            "stdvar_over_time" => StdvarOverTime,
            "present_over_time" => PresentOverTime,
            "holt_winters" => HoltWinters,
            _ => return None,
        })
    }

    /// Which argument is the range vector.
    pub(crate) fn range_arg_index(self) -> usize {
        if self == RangeFunction::QuantileOverTime { 1 } else { 0 }
    }

    fn is_counter(self) -> bool {
        matches!(self, RangeFunction::Rate | RangeFunction::Increase)
    }
}

/// What a window's computation may look at besides the samples.
struct WindowContext<'a> {
    /// The step's evaluation time.
    ts: i64,
    range_start: i64,
    range_end: i64,
    /// Whether a counter reset falls inside the window (for rate and increase).
    has_reset: bool,
    /// The step's values of the function's scalar arguments.
    scalars: &'a [f64],
}

/// Evaluates `func` over `input` at every step. `scalars` holds the other arguments'
/// values per step, in argument order.
pub(crate) fn eval_range_function(
    func: RangeFunction,
    input: &RangeInput,
    steps: Steps,
    scalars: &[Vec<f64>],
    deadline: Deadline,
    threads: usize,
) -> Result<Vec<Series>> {
    result_series(func, eval_range_series(func, input, steps, scalars, deadline, threads)?)
}

/// The result of `func` from its values per input series (input labels): the metric name
/// dropped (except by `last_over_time`), series without values dropped, and label sets that
/// became equal refused, as Prometheus does.
pub(crate) fn result_series(func: RangeFunction, mut series: Vec<Series>) -> Result<Vec<Series>> {
    if func != RangeFunction::LastOverTime {
        for s in &mut series {
            s.labels = without_metric_name(std::mem::take(&mut s.labels));
        }
    }
    ensure_distinct_labels(series)
}

/// [`eval_range_function`]'s values per input series, which keep their labels.
pub(crate) fn eval_range_series(
    func: RangeFunction,
    input: &RangeInput,
    steps: Steps,
    scalars: &[Vec<f64>],
    deadline: Deadline,
    threads: usize,
) -> Result<Vec<Series>> {
    let series = &input.series;
    let threads = if series.len() * steps.len() >= PARALLEL_MIN_WINDOWS { threads } else { 1 };
    let out = in_parts(series, threads, |part| eval_series(func, part, input, steps, scalars, deadline))?;
    Ok(out)
}

/// Below this many windows (series × steps) one thread does all the work.
pub(crate) const PARALLEL_MIN_WINDOWS: usize = 200_000;

/// `f` over `items` split in contiguous parts, one thread each (up to `threads`), the
/// results concatenated in order: series are independent of each other.
pub(crate) fn in_parts<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&[T]) -> Result<Vec<R>> + Sync,
) -> Result<Vec<R>> {
    let parts = threads.min(items.len()).max(1);
    if parts == 1 {
        return f(items);
    }
    let size = items.len().div_ceil(parts);
    std::thread::scope(|scope| {
        let workers: Vec<_> = items.chunks(size).map(|part| scope.spawn(|| f(part))).collect();
        let mut out = Vec::with_capacity(items.len());
        for worker in workers {
            let part = worker.join().map_err(|_| Error::Execution("a range-function worker panicked".into()))?;
            out.extend(part?);
        }
        Ok(out)
    })
}

/// [`eval_range_function`] for some of the input's series.
fn eval_series(
    func: RangeFunction,
    series: &[RangeSeriesInput],
    input: &RangeInput,
    steps: Steps,
    scalars: &[Vec<f64>],
    deadline: Deadline,
) -> Result<Vec<Series>> {
    let mut out = Vec::with_capacity(series.len());
    let mut buffers = SlideBuffers::new(scalars);
    let (mut ts, mut values) = (Vec::new(), Vec::new());
    for (index, s) in series.iter().enumerate() {
        if index % 256 == 255 {
            deadline.check("evaluating a range function")?;
        }
        if s.points.is_empty() {
            continue;
        }
        ts.clear();
        values.clear();
        ts.extend(s.points.iter().map(|p| p.0));
        values.extend(s.points.iter().map(|p| p.1));
        let result = eval_points(func, SampleColumns::new(&ts, &values), input, steps, scalars, &mut buffers)?;
        out.push(Series { labels: s.labels.clone(), values: result });
    }
    Ok(out)
}

/// `func`'s value at every step over one series' samples (sorted by time, stale markers
/// kept); `input` gives the windows, its series are not read.
pub(crate) fn eval_points(
    func: RangeFunction,
    samples: SampleColumns<'_>,
    input: &RangeInput,
    steps: Steps,
    scalars: &[Vec<f64>],
    buffers: &mut SlideBuffers,
) -> Result<Vec<Option<f64>>> {
    // One branch-free pass finds stale markers (rare: then slide over a copy without
    // them) and counter resets (rare too: without any, rate needs no tracking).
    let (has_stale, has_reset) = scan(samples.values());
    if !has_stale {
        let series = Columns { ts: samples.timestamps(), values: samples.values() };
        return slide_function(func, series, func.is_counter() && has_reset, input, steps, scalars, buffers);
    }
    let (mut ts, mut values) = (std::mem::take(&mut buffers.kept_ts), std::mem::take(&mut buffers.kept_values));
    ts.clear();
    values.clear();
    for (&t, &v) in samples.timestamps().iter().zip(samples.values()) {
        if !is_stale_marker(v) {
            ts.push(t);
            values.push(v);
        }
    }
    let track_resets = func.is_counter() && scan(&values).1;
    let out = slide_function(func, Columns { ts: &ts, values: &values }, track_resets, input, steps, scalars, buffers);
    (buffers.kept_ts, buffers.kept_values) = (ts, values);
    out
}

/// [`slide`] with `func`'s computation; the rate family gets a loop of its own, without a
/// per-window dispatch.
fn slide_function(
    func: RangeFunction,
    series: Columns<'_>,
    track_resets: bool,
    input: &RangeInput,
    steps: Steps,
    scalars: &[Vec<f64>],
    buffers: &mut SlideBuffers,
) -> Result<Vec<Option<f64>>> {
    let (is_counter, is_rate) = match func {
        RangeFunction::Rate => (true, true),
        RangeFunction::Increase => (true, false),
        RangeFunction::Delta => (false, false),
        _ => return slide(series, input, steps, scalars, buffers, track_resets, |w, c| compute(func, w, c)),
    };
    let mut extrapolation = Extrapolation::new(is_counter, is_rate);
    slide(series, input, steps, scalars, buffers, track_resets, |w, c| Ok(extrapolated_rate(w, c, &mut extrapolation)))
}

/// Samples as columns of equal length, sorted by time: a whole series, or one window of it.
#[derive(Clone, Copy)]
struct Columns<'a> {
    ts: &'a [i64],
    values: &'a [f64],
}

impl<'a> Columns<'a> {
    fn len(&self) -> usize {
        self.ts.len()
    }

    /// Samples `lo..hi`.
    fn window(&self, lo: usize, hi: usize) -> Columns<'a> {
        Columns { ts: &self.ts[lo..hi], values: &self.values[lo..hi] }
    }

    /// The first and the last sample.
    fn edges(&self) -> ((i64, f64), (i64, f64)) {
        let last = self.len() - 1;
        ((self.ts[0], self.values[0]), (self.ts[last], self.values[last]))
    }
}

/// The first index from `from` on (below `limit`) where `before` stops holding; it holds
/// on a prefix since `ts` is sorted. Tries `from + guess` first: a window edge usually moves
/// by as many samples as at the previous step (regular samples, regular steps), and checking
/// that costs two comparisons that predict well. Otherwise counts in blocks of 8 without
/// early exits, which beats a sample-by-sample loop whose exit branch mispredicts at every
/// step.
fn advance(ts: &[i64], from: usize, limit: usize, guess: usize, before: impl Fn(i64) -> bool) -> usize {
    let at = from + guess;
    if at <= limit && (at == from || before(ts[at - 1])) && (at == limit || !before(ts[at])) {
        return at;
    }
    let mut i = from;
    loop {
        let end = (i + 8).min(limit);
        let block = &ts[i..end];
        let count = block.iter().filter(|&&t| before(t)).count();
        i += count;
        if count < block.len() || end == limit {
            return i;
        }
    }
}

/// How many of the indices `from..to` are counter resets (a value below the previous one).
fn count_resets(values: &[f64], from: usize, to: usize) -> u32 {
    if from >= to {
        return 0;
    }
    values[from - 1..to].windows(2).map(|p| u32::from(p[1] < p[0])).sum()
}

/// Scratch space reused across series.
pub(crate) struct SlideBuffers {
    scalars: Vec<f64>,
    /// A series' samples without its stale markers, when it has any.
    kept_ts: Vec<i64>,
    kept_values: Vec<f64>,
}

impl SlideBuffers {
    /// Room for the step's values of `scalars`.
    pub(crate) fn new(scalars: &[Vec<f64>]) -> SlideBuffers {
        SlideBuffers { scalars: vec![0.0; scalars.len()], kept_ts: Vec::new(), kept_values: Vec::new() }
    }
}

/// One series' values at every step (`series` without stale markers).
fn slide(
    series: Columns<'_>,
    input: &RangeInput,
    steps: Steps,
    scalars: &[Vec<f64>],
    buffers: &mut SlideBuffers,
    track_resets: bool,
    mut compute: impl FnMut(Columns<'_>, &WindowContext<'_>) -> Result<Option<f64>>,
) -> Result<Vec<Option<f64>>> {
    let (ts, values) = (series.ts, series.values);
    // Counter resets inside the window, i.e. at indices lo+1..hi, kept up to date as the
    // window slides, when asked to.
    let mut resets_in_window = 0u32;
    let (mut lo, mut hi) = (0usize, 0usize);
    // How far each edge moved at the previous step: the guesses for this one.
    let (mut lo_moved, mut hi_moved) = (0usize, 0usize);
    let mut out = vec![None; steps.len()];
    for (step, value) in out.iter_mut().enumerate() {
        let t = steps.time(step);
        let range_end = input.window_end(t);
        let range_start = range_end - input.range_ms;
        let new_hi = advance(ts, hi, ts.len(), hi_moved, |t| t <= range_end);
        if track_resets {
            resets_in_window += count_resets(values, hi.max(lo + 1), new_hi);
        }
        hi_moved = new_hi - hi;
        hi = new_hi;
        let new_lo = advance(ts, lo, hi, lo_moved, |t| t < range_start);
        if track_resets && new_lo > lo {
            resets_in_window -= count_resets(values, lo + 1, (new_lo + 1).min(hi));
        }
        lo_moved = new_lo - lo;
        lo = new_lo;
        if lo == hi {
            continue;
        }
        for (slot, arg) in buffers.scalars.iter_mut().zip(scalars) {
            *slot = arg[step];
        }
        let ctx =
            WindowContext { ts: t, range_start, range_end, has_reset: resets_in_window > 0, scalars: &buffers.scalars };
        *value = compute(series.window(lo, hi), &ctx)?;
    }
    Ok(out)
}

/// Whether `values` hold a stale marker, and whether a value ever drops (a counter reset).
fn scan(values: &[f64]) -> (bool, bool) {
    let (mut stale, mut reset) = (false, false);
    let mut previous = f64::NEG_INFINITY;
    for &v in values {
        stale |= is_stale_marker(v);
        reset |= v < previous;
        previous = v;
    }
    (stale, reset)
}

fn compute(func: RangeFunction, w: Columns<'_>, ctx: &WindowContext<'_>) -> Result<Option<f64>> {
    use RangeFunction::*;
    let values = w.values;
    Ok(match func {
        Rate => extrapolated_rate(w, ctx, &mut Extrapolation::new(true, true)),
        Increase => extrapolated_rate(w, ctx, &mut Extrapolation::new(true, false)),
        Delta => extrapolated_rate(w, ctx, &mut Extrapolation::new(false, false)),
        Irate => instant_value(w, true),
        Idelta => instant_value(w, false),
        Deriv => (w.len() >= 2).then(|| linear_regression(w.ts, values, w.ts[0]).0),
        PredictLinear => (w.len() >= 2).then(|| {
            let (slope, intercept) = linear_regression(w.ts, values, ctx.ts);
            slope * ctx.scalars[0] + intercept
        }),
        Resets => Some(values.windows(2).filter(|p| p[1] < p[0]).count() as f64),
        Changes => Some(values.windows(2).filter(|p| p[1] != p[0] && !(p[1].is_nan() && p[0].is_nan())).count() as f64),
        AvgOverTime => Some(avg_over_time(values)),
        MinOverTime => Some(values.iter().fold(values[0], |min, &v| if v < min || min.is_nan() { v } else { min })),
        MaxOverTime => Some(values.iter().fold(values[0], |max, &v| if v > max || max.is_nan() { v } else { max })),
        SumOverTime => {
            let (mut sum, mut c) = (0.0, 0.0);
            for &v in values {
                (sum, c) = kahan_inc(v, sum, c);
            }
            Some(if sum.is_infinite() { sum } else { sum + c })
        }
        CountOverTime => Some(w.len() as f64),
        LastOverTime => Some(values[values.len() - 1]),
        QuantileOverTime => Some(quantile(ctx.scalars[0], &mut values.to_vec())),
        StddevOverTime => Some(variance(values).sqrt()),
        StdvarOverTime => Some(variance(values)),
        PresentOverTime => Some(1.0),
        HoltWinters => holt_winters(values, ctx.scalars[0], ctx.scalars[1])?,
    })
}

/// `rate`, `increase` and `delta` over a window of samples.
fn extrapolated_rate(w: Columns<'_>, ctx: &WindowContext<'_>, extrapolation: &mut Extrapolation) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let ((first_t, first_v), (last_t, last_v)) = w.edges();
    let mut change = last_v - first_v;
    if extrapolation.is_counter() && ctx.has_reset {
        for p in w.values.windows(2) {
            if p[1] < p[0] {
                change += p[0];
            }
        }
    }
    let edges = WindowEdges { first_t, first_v, last_t, count: w.len(), change };
    Some(extrapolation.value(&edges, ctx.range_start, ctx.range_end))
}

/// `irate` and `idelta`: from the window's last two samples.
fn instant_value(w: Columns<'_>, is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (last, prev) = (w.len() - 1, w.len() - 2);
    let (last_t, last_v) = (w.ts[last], w.values[last]);
    let (prev_t, prev_v) = (w.ts[prev], w.values[prev]);
    let mut result = if is_rate && last_v < prev_v { last_v } else { last_v - prev_v };
    let interval = last_t - prev_t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// The mean, computed incrementally (and compensated) as Prometheus does, so that
/// infinities and huge values behave the same.
fn avg_over_time(values: &[f64]) -> f64 {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64);
    for &v in values {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() { mean } else { mean + c }
}

/// Population variance by Welford's method with compensated sums.
fn variance(values: &[f64]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for &v in values {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Double exponential smoothing with smoothing factor `sf` and trend factor `tf`.
fn holt_winters(values: &[f64], sf: f64, tf: f64) -> Result<Option<f64>> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(Error::Execution(format!("invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}")));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(Error::Execution(format!("invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}")));
    }
    if values.len() < 2 {
        return Ok(None);
    }
    let (mut s0, mut s1) = (0.0, values[0]);
    let mut b = values[1] - values[0];
    for (i, &v) in values.iter().enumerate().skip(1) {
        let x = sf * v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Ok(Some(s1))
}
