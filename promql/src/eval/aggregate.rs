//! Aggregation operators (`sum`, `topk`, `count_values`, ...) with `by` / `without`.
//!
//! Each input series' group is computed once; values then fold per group and step in the
//! input's order, which is the order Prometheus folds them in.

use std::collections::HashMap;

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_MAX, T_MIN, T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};
use sysmon_tsdb::Labels;

use crate::error::{Error, Result};
use crate::eval::evaluator::{Evaluator, unwrap_parens};
use crate::eval::labels::{is_valid_label_name, keep_only, signature, with_label, without};
use crate::eval::range_functions::PARALLEL_MIN_WINDOWS;
use crate::eval::stats::quantile;
use crate::eval::types::{Series, Steps};

/// How series are grouped.
struct Grouping {
    without: bool,
    labels: Vec<String>,
}

impl Grouping {
    fn key(&self, labels: &Labels) -> String {
        match (self.without, self.labels.is_empty()) {
            (true, _) => signature(labels, false, &self.labels),
            (false, true) => String::new(),
            (false, false) => signature(labels, true, &self.labels),
        }
    }

    fn output_labels(&self, labels: &Labels) -> Labels {
        if self.without { without(labels, &self.labels, true) } else { keep_only(labels, &self.labels) }
    }
}

/// Evaluates an aggregation at every step.
pub(crate) fn eval_aggregate(ev: &mut Evaluator<'_>, agg: &AggregateExpr, steps: Steps) -> Result<Vec<Series>> {
    let grouping = match &agg.modifier {
        Some(LabelModifier::Exclude(l)) => Grouping { without: true, labels: l.labels.clone() },
        Some(LabelModifier::Include(l)) => Grouping { without: false, labels: l.labels.clone() },
        None => Grouping { without: false, labels: Vec::new() },
    };
    let op = agg.op.id();
    if op == T_COUNT_VALUES {
        let label = match agg.param.as_deref().map(unwrap_parens) {
            Some(Expr::StringLiteral(s)) => s.val.clone(),
            _ => return Err(Error::BadQuery("count_values needs a string parameter".into())),
        };
        let input = ev.eval_vector(&agg.expr, steps)?;
        return count_values(&grouping, &label, input, steps.len());
    }
    let param = match &agg.param {
        Some(p) if matches!(op, T_TOPK | T_BOTTOMK | T_QUANTILE) => ev.eval_scalar(p, steps)?,
        Some(_) => return Err(Error::BadQuery(format!("aggregation {} is not supported by Prometheus 2.42", agg.op))),
        None => Vec::new(),
    };
    if matches!(op, T_TOPK | T_BOTTOMK | T_QUANTILE) && param.len() != steps.len() {
        return Err(Error::BadQuery(format!("aggregation {} needs a scalar parameter", agg.op)));
    }
    let input = ev.eval_vector(&agg.expr, steps)?;
    ev.check_deadline("aggregating")?;
    let (group_of, group_labels) = assign_groups(&grouping, &input);
    match op {
        T_TOPK | T_BOTTOMK => top_k(op == T_TOPK, &param, input, &group_of, group_labels.len()),
        T_QUANTILE => Ok(quantiles(&param, &input, &group_of, group_labels, steps.len())),
        T_SUM | T_AVG | T_COUNT | T_MIN | T_MAX | T_GROUP | T_STDDEV | T_STDVAR => {
            fold(op, input, &group_of, group_labels, steps.len(), ev.threads())
        }
        _ => Err(Error::BadQuery(format!("aggregation {} is not supported by Prometheus 2.42", agg.op))),
    }
}

/// Each series' group index, and each group's output labels in order of first appearance.
fn assign_groups(grouping: &Grouping, input: &[Series]) -> (Vec<usize>, Vec<Labels>) {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut labels = Vec::new();
    let group_of = input
        .iter()
        .map(|s| {
            *index.entry(grouping.key(&s.labels)).or_insert_with(|| {
                labels.push(grouping.output_labels(&s.labels));
                labels.len() - 1
            })
        })
        .collect();
    (group_of, labels)
}

/// The running state of one group at one step.
#[derive(Clone, Copy, Default)]
struct Accumulator {
    count: u64,
    value: f64,
    mean: f64,
}

/// The aggregations that fold values one at a time. Groups are independent: with many
/// values, parts of the groups fold on threads of their own, each over its groups' series
/// in input order (so each value is what one pass gives) and then dropping them.
fn fold(
    op: u16,
    input: Vec<Series>,
    group_of: &[usize],
    group_labels: Vec<Labels>,
    n: usize,
    threads: usize,
) -> Result<Vec<Series>> {
    let groups = group_labels.len();
    if groups == 0 {
        return Ok(Vec::new());
    }
    let parts = if input.len().saturating_mul(n) >= PARALLEL_MIN_WINDOWS { threads.clamp(1, groups) } else { 1 };
    let size = groups.div_ceil(parts);
    // Part k folds groups k * size.. and gets their series, each with its row in the part.
    let mut members: Vec<Vec<(usize, Series)>> = (0..parts).map(|_| Vec::new()).collect();
    for (s, &g) in input.into_iter().zip(group_of) {
        members[g / size].push((g % size, s));
    }
    let fold_part = |part: Vec<(usize, Series)>| fold_rows(op, &part, size, n);
    let acc: Vec<Accumulator> = if parts == 1 {
        members.into_iter().next().map(fold_part).unwrap_or_default()
    } else {
        std::thread::scope(|scope| {
            let workers: Vec<_> = members.into_iter().map(|part| scope.spawn(move || fold_part(part))).collect();
            let mut acc = Vec::with_capacity(parts * size * n);
            for worker in workers {
                acc.extend(worker.join().map_err(|_| Error::Execution("an aggregation worker panicked".into()))?);
            }
            Ok::<_, Error>(acc)
        })?
    };
    Ok(group_labels
        .into_iter()
        .enumerate()
        .map(|(g, labels)| {
            let values = acc[g * n..(g + 1) * n].iter().map(|a| (a.count > 0).then(|| finish(op, a))).collect();
            Series { labels, values }
        })
        .collect())
}

/// `rows` groups' accumulators at each of `n` steps, over `series` (each with its row).
fn fold_rows(op: u16, series: &[(usize, Series)], rows: usize, n: usize) -> Vec<Accumulator> {
    let mut acc = vec![Accumulator::default(); rows * n];
    if op == T_SUM {
        // A loop of its own, with no dispatch on the operator per value: `sum by` over a
        // range function is the commonest dashboard query. The arithmetic is `add`'s.
        accumulate(&mut acc, series, n, |a, v| {
            if a.count == 0 {
                *a = Accumulator { count: 1, value: v, mean: v };
            } else {
                a.count += 1;
                a.value += v;
            }
        });
    } else {
        accumulate(&mut acc, series, n, |a, v| add(op, a, v));
    }
    acc
}

/// `add_one` of every value of every series into its row's accumulator at that step.
fn accumulate(acc: &mut [Accumulator], series: &[(usize, Series)], n: usize, add_one: impl Fn(&mut Accumulator, f64)) {
    for (row, s) in series {
        let row = &mut acc[row * n..(row + 1) * n];
        for (a, v) in row.iter_mut().zip(&s.values) {
            if let Some(v) = *v {
                add_one(a, v);
            }
        }
    }
}

fn add(op: u16, a: &mut Accumulator, v: f64) {
    if a.count == 0 {
        *a = Accumulator { count: 1, value: v, mean: v };
        if matches!(op, T_STDDEV | T_STDVAR) {
            a.value = 0.0;
        }
        return;
    }
    a.count += 1;
    match op {
        T_SUM => a.value += v,
        T_AVG => {
            if a.mean.is_infinite() {
                // Inf of the same sign, or a finite value, leaves an infinite mean as is;
                // the incremental formula below would turn it into NaN.
                if v.is_infinite() && (a.mean > 0.0) == (v > 0.0) {
                    return;
                }
                if !v.is_infinite() && !v.is_nan() {
                    return;
                }
            }
            let count = a.count as f64;
            a.mean += v / count - a.mean / count;
        }
        T_MAX if a.value < v || a.value.is_nan() => a.value = v,
        T_MIN if a.value > v || a.value.is_nan() => a.value = v,
        T_STDDEV | T_STDVAR => {
            let delta = v - a.mean;
            a.mean += delta / a.count as f64;
            a.value += delta * (v - a.mean);
        }
        _ => {}
    }
}

fn finish(op: u16, a: &Accumulator) -> f64 {
    match op {
        T_AVG => a.mean,
        T_COUNT => a.count as f64,
        T_GROUP => 1.0,
        T_STDVAR => a.value / a.count as f64,
        T_STDDEV => (a.value / a.count as f64).sqrt(),
        _ => a.value,
    }
}

/// `quantile(q, v)` per group and step.
fn quantiles(q: &[f64], input: &[Series], group_of: &[usize], group_labels: Vec<Labels>, n: usize) -> Vec<Series> {
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); group_labels.len()];
    for (i, &g) in group_of.iter().enumerate() {
        members[g].push(i);
    }
    let mut buf = Vec::new();
    group_labels
        .into_iter()
        .zip(members)
        .map(|(labels, members)| {
            let values = (0..n)
                .map(|step| {
                    buf.clear();
                    buf.extend(members.iter().filter_map(|&i| input[i].values[step]));
                    (!buf.is_empty()).then(|| quantile(q[step], &mut buf))
                })
                .collect();
            Series { labels, values }
        })
        .collect()
}

/// `topk` / `bottomk`: per group and step, the k largest (smallest) samples, which keep
/// their own labels. Selection follows Prometheus's heap exactly, so ties and NaNs pick
/// the same series.
fn top_k(top: bool, k: &[f64], input: Vec<Series>, group_of: &[usize], groups: usize) -> Result<Vec<Series>> {
    let n = k.len();
    let mut selected = vec![vec![false; n]; input.len()];
    let mut heaps: Vec<Vec<(f64, usize)>> = vec![Vec::new(); groups];
    for step in 0..n {
        let k = k[step];
        if !(-9.223_372_036_854_776e18..=9.223_372_036_854_776e18).contains(&k) {
            return Err(Error::Execution(format!("Scalar value {k} overflows int64")));
        }
        let k = k as i64;
        if k < 1 {
            continue;
        }
        let k = usize::try_from(k).unwrap_or(usize::MAX);
        heaps.iter_mut().for_each(Vec::clear);
        for (i, s) in input.iter().enumerate() {
            let Some(v) = s.values[step] else { continue };
            let heap = &mut heaps[group_of[i]];
            let less = |a: f64, b: f64| a.is_nan() || if top { a < b } else { a > b };
            if heap.is_empty() {
                heap.push((v, i));
                continue;
            }
            if heap.len() < k || less(heap[0].0, v) || heap[0].0.is_nan() {
                if heap.len() == k {
                    if k == 1 {
                        heap[0] = (v, i);
                        continue;
                    }
                    heap_pop(heap, &less);
                }
                heap.push((v, i));
                let last = heap.len() - 1;
                heap_up(heap, last, &less);
            }
        }
        for heap in &heaps {
            for &(_, i) in heap {
                selected[i][step] = true;
            }
        }
    }
    Ok(input
        .into_iter()
        .zip(selected)
        .map(|(s, keep)| Series {
            labels: s.labels,
            values: s.values.into_iter().zip(keep).map(|(v, keep)| if keep { v } else { None }).collect(),
        })
        .filter(Series::has_points)
        .collect())
}

/// Go's `container/heap` sift-up.
fn heap_up(heap: &mut [(f64, usize)], mut j: usize, less: &dyn Fn(f64, f64) -> bool) {
    while j > 0 {
        let parent = (j - 1) / 2;
        if !less(heap[j].0, heap[parent].0) {
            break;
        }
        heap.swap(parent, j);
        j = parent;
    }
}

/// Go's `container/heap` pop: swap the root to the end, sift down, remove it.
fn heap_pop(heap: &mut Vec<(f64, usize)>, less: &dyn Fn(f64, f64) -> bool) {
    let n = heap.len() - 1;
    heap.swap(0, n);
    let mut i = 0;
    loop {
        let left = 2 * i + 1;
        if left >= n {
            break;
        }
        let mut j = left;
        if left + 1 < n && less(heap[left + 1].0, heap[left].0) {
            j = left + 1;
        }
        if !less(heap[j].0, heap[i].0) {
            break;
        }
        heap.swap(i, j);
        i = j;
    }
    heap.pop();
}

/// `count_values(label, v)`: per group, how many series have each value, the value
/// becoming the `label` label.
fn count_values(grouping: &Grouping, label: &str, input: Vec<Series>, n: usize) -> Result<Vec<Series>> {
    if !is_valid_label_name(label) {
        return Err(Error::Execution(format!("invalid label name {label:?}")));
    }
    let mut grouping_labels = grouping.labels.clone();
    if !grouping.without {
        grouping_labels.push(label.to_string());
    }
    let grouping = Grouping { without: grouping.without, labels: grouping_labels };
    let mut out: Vec<Series> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in &input {
        for (step, v) in s.values.iter().enumerate() {
            let Some(v) = *v else { continue };
            let labels = grouping.output_labels(&with_label(&s.labels, label, &format_value(v)));
            let at = *index.entry(labels).or_insert_with_key(|labels| {
                out.push(Series { labels: labels.clone(), values: vec![None; n] });
                out.len() - 1
            });
            let slot = &mut out[at].values[step];
            *slot = Some(slot.unwrap_or(0.0) + 1.0);
        }
    }
    Ok(out)
}

/// A value as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it.
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Shortest digits that read back as `v`; where two such endings are equally close
        // (1e15 + 0.25: ".2" or ".3"), Go takes the exactly rounded (half to even) one.
        let shortest = format!("{v}");
        match shortest.split_once('.') {
            Some((_, decimals)) => {
                let rounded = format!("{v:.prec$}", prec = decimals.len());
                if rounded.parse::<f64>() == Ok(v) { rounded } else { shortest }
            }
            None => shortest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_value;

    #[test]
    fn values_format_as_go_does() {
        assert_eq!(format_value(1e15 + 0.25), "1000000000000000.2");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(-0.0), "-0");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    }
}
