//! Selectors: one storage read per selector for all steps, then lookback and windows in memory.

use std::borrow::Cow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use promql_parser::label::MatchOp;
use promql_parser::parser::{MatrixSelector, VectorSelector};
use sysmon_tsdb::{Labels, METRIC_NAME, MatchKind, Matcher};

use crate::error::{Error, Result};
use crate::eval::evaluator::{Evaluator, offset_ms};
use crate::eval::types::{RangeInput, RangeSeriesInput, Series, Steps};
use crate::storage::{SampleColumns, SeriesSamples, is_stale_marker};

/// The selector's matchers in the store's terms, the metric name included.
pub(crate) fn matchers(vs: &VectorSelector) -> Result<Vec<Matcher>> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(Error::BadQuery("`or` inside a selector's braces is not supported by Prometheus 2.42".into()));
    }
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        out.push(Matcher::equal(METRIC_NAME, name.clone()));
    }
    for m in &vs.matchers.matchers {
        let kind = match &m.op {
            MatchOp::Equal => MatchKind::Equal(m.value.clone()),
            MatchOp::NotEqual => MatchKind::NotEqual(m.value.clone()),
            MatchOp::Re(re) => MatchKind::Regex(re.clone()),
            MatchOp::NotRe(re) => MatchKind::NotRegex(re.clone()),
        };
        out.push(Matcher { name: m.name.clone(), kind });
    }
    Ok(out)
}

/// The labels `absent()` gives when this selector matches nothing: its equality matchers,
/// minus any label also constrained otherwise or twice, minus the metric name.
pub(crate) fn absent_labels(vs: &VectorSelector) -> Labels {
    let mut equal: Vec<(String, String)> = Vec::new();
    let mut dropped: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, MatchOp::Equal) && !equal.iter().any(|(n, _)| n == &m.name) {
            equal.push((m.name.clone(), m.value.clone()));
        } else {
            dropped.push(&m.name);
        }
    }
    equal.retain(|(n, _)| !dropped.contains(&n.as_str()));
    Labels::new(equal)
}

/// Reads every series `vs` matches with samples in `start_ms..=end_ms`, sorted by labels,
/// enforcing the per-selector series limit and the query's sample budget.
pub(crate) fn fetch(
    ev: &mut Evaluator<'_>,
    vs: &VectorSelector,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<SeriesSamples>> {
    ev.check_deadline("selecting series")?;
    let matchers = matchers(vs)?;
    let mut series = ev.storage().select(&matchers, start_ms, end_ms).map_err(Error::Storage)?;
    let limit = ev.limits().max_series_per_selector;
    if series.len() > limit {
        return Err(Error::TooManySeries { selector: vs.to_string(), found: series.len(), limit });
    }
    let samples: usize = series.iter().map(|s| s.samples.len()).sum();
    ev.add_samples(samples)?;
    if !series.windows(2).all(|w| w[0].labels < w[1].labels) {
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
    ev.check_deadline("selecting series")?;
    Ok(series)
}

/// The times a selector with this `@` reads at: the steps, or one time for all of them.
fn read_steps(at_ms: Option<i64>, steps: Steps) -> Steps {
    match at_ms {
        Some(at) => Steps::instant(at),
        None => steps,
    }
}

/// Copies a single-step result onto every one of `steps` steps (for `@`).
pub(crate) fn broadcast(series: Vec<Series>, steps: usize) -> Vec<Series> {
    series
        .into_iter()
        .map(|s| {
            let value = s.values.first().copied().flatten();
            Series { labels: s.labels, values: vec![value; steps] }
        })
        .collect()
}

/// An instant vector selector at every step: each series' latest sample within the
/// lookback window `[t - lookback, t]` (closed, as in Prometheus 2.42), unless that
/// sample is a stale marker. With `timestamps`, the value is the sample's time in seconds
/// instead (for `timestamp()`).
///
/// Each series is reduced to its values as the store decodes it ([`crate::Storage::select_with`]),
/// from the columns it decoded into: its samples are never copied into pairs first (for one
/// series over 6 h, that copy was about a tenth of the query's time). The limits are those of
/// [`fetch`], counted the same way; past the sample budget no more values are kept.
pub(crate) fn eval_vector_selector(
    ev: &mut Evaluator<'_>,
    vs: &VectorSelector,
    steps: Steps,
    timestamps: bool,
) -> Result<Vec<Series>> {
    ev.check_deadline("selecting series")?;
    let offset = offset_ms(&vs.offset);
    let at = ev.at_ms(&vs.at)?;
    let read = read_steps(at, steps);
    let lookback = ev.lookback_ms();
    let matchers = matchers(vs)?;
    let n = read.len();
    let (deadline, budget) = (ev.deadline(), ev.samples_left());
    let (found, samples) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let timed_out = Mutex::new(None);
    let per_series = |_: &Labels, columns: SampleColumns<'_>| {
        let found = found.fetch_add(1, Ordering::Relaxed) + 1;
        let samples = samples.fetch_add(columns.len(), Ordering::Relaxed) + columns.len();
        // What `fetch` would have counted by now: the query fails below when it is over.
        if samples.saturating_add(found.saturating_mul(n)) > budget {
            return None;
        }
        if found % 1024 == 0
            && let Err(error) = deadline.check("evaluating a selector")
        {
            if let Ok(mut timed_out) = timed_out.lock() {
                timed_out.get_or_insert(error);
            }
            return None;
        }
        lookback_values(columns, read, offset, lookback, timestamps)
    };
    let reduced = ev
        .storage()
        .select_with(&matchers, read.start_ms - offset - lookback, read.end_ms - offset, &per_series)
        .map_err(Error::Storage)?;
    if let Some(error) = timed_out.into_inner().map_err(|_| Error::Execution("a selector worker panicked".into()))? {
        return Err(error);
    }
    let (found, limit) = (found.into_inner(), ev.limits().max_series_per_selector);
    if found > limit {
        return Err(Error::TooManySeries { selector: vs.to_string(), found, limit });
    }
    ev.add_samples(samples.into_inner())?;
    ev.check_deadline("selecting series")?;
    // Values at every step for every series.
    ev.add_samples(found.saturating_mul(n))?;
    let out = reduced.into_iter().map(|(labels, values)| Series { labels, values }).collect();
    Ok(if at.is_some() { broadcast(out, steps.len()) } else { out })
}

/// A series' value at each of the `read` steps (see [`eval_vector_selector`]), `None` when it
/// has none at any.
fn lookback_values(
    columns: SampleColumns<'_>,
    read: Steps,
    offset: i64,
    lookback: i64,
    timestamps: bool,
) -> Option<Vec<Option<f64>>> {
    let (times, values) = (columns.timestamps(), columns.values());
    let mut out = vec![None; read.len()];
    let mut any = false;
    // `next` is the first sample after the current reference time.
    let mut next = 0usize;
    for (step, value) in out.iter_mut().enumerate() {
        let reference = read.time(step) - offset;
        while next < times.len() && times[next] <= reference {
            next += 1;
        }
        if next == 0 {
            continue;
        }
        let (t, v) = (times[next - 1], values[next - 1]);
        if t < reference - lookback || is_stale_marker(v) {
            continue;
        }
        *value = Some(if timestamps { t as f64 / 1000.0 } else { v });
        any = true;
    }
    any.then_some(out)
}

/// A range selector: its series' samples covering every window the steps will read.
/// Stale markers are still in: readers drop them (see [`without_stale`]), so that the
/// common case costs no extra pass over the samples.
pub(crate) fn eval_matrix_selector(ev: &mut Evaluator<'_>, ms: &MatrixSelector, steps: Steps) -> Result<RangeInput> {
    let (mut input, (start_ms, end_ms)) = matrix_windows(ev, ms, steps)?;
    let fetched = fetch(ev, &ms.vs, start_ms, end_ms)?;
    input.series = fetched.into_iter().map(|s| RangeSeriesInput { labels: s.labels, points: s.samples }).collect();
    Ok(input)
}

/// A range selector's windows at every step (its [`RangeInput`] without series yet), and
/// the time range its samples are read from.
pub(crate) fn matrix_windows(
    ev: &Evaluator<'_>,
    ms: &MatrixSelector,
    steps: Steps,
) -> Result<(RangeInput, (i64, i64))> {
    let vs = &ms.vs;
    let offset = offset_ms(&vs.offset);
    let at = ev.at_ms(&vs.at)?;
    let read = read_steps(at, steps);
    let range_ms = i64::try_from(ms.range.as_millis()).unwrap_or(i64::MAX);
    let input = RangeInput {
        series: Vec::new(),
        range_ms,
        offset_ms: offset,
        at_ms: at,
        absent_labels: absent_labels(vs),
        drift_start_ms: None,
    };
    Ok((input, (read.start_ms - offset - range_ms, read.end_ms - offset)))
}

/// `points` without stale markers, copied only when there are any.
pub(crate) fn without_stale(points: &[(i64, f64)]) -> Cow<'_, [(i64, f64)]> {
    if points.iter().any(|&(_, v)| is_stale_marker(v)) {
        Cow::Owned(points.iter().copied().filter(|&(_, v)| !is_stale_marker(v)).collect())
    } else {
        Cow::Borrowed(points)
    }
}

/// The index range of `points` (sorted by time) inside `[start, end]`.
pub(crate) fn window_bounds(points: &[(i64, f64)], start: i64, end: i64) -> (usize, usize) {
    let lo = points.partition_point(|&(t, _)| t < start);
    let hi = points.partition_point(|&(t, _)| t <= end);
    (lo, hi.max(lo))
}
