//! `histogram_quantile` over classic (`le`-labelled) bucket series.

use std::collections::HashMap;

use sysmon_tsdb::Labels;

use crate::error::Result;
use crate::eval::labels::without;
use crate::eval::series_set::merge_same_labels;
use crate::eval::types::Series;

/// The label holding a bucket's upper bound.
const BUCKET_LABEL: &str = "le";

/// `histogram_quantile(q, buckets)`: per histogram (all labels but `le`, the metric name
/// included) and step, the `q`-quantile interpolated within the bucket it falls into.
pub(crate) fn histogram_quantile(q: &[f64], input: Vec<Series>) -> Result<Vec<Series>> {
    struct Histogram {
        labels: Labels,
        buckets: Vec<(f64, usize)>,
    }
    let mut histograms: Vec<Histogram> = Vec::new();
    let mut by_key: HashMap<Labels, usize> = HashMap::new();
    for (index, s) in input.iter().enumerate() {
        let Some(upper) = s.labels.get(BUCKET_LABEL).and_then(parse_go_float) else {
            continue;
        };
        let key = without(&s.labels, &[BUCKET_LABEL.to_string()], false);
        let h = *by_key.entry(key).or_insert_with(|| {
            histograms
                .push(Histogram { labels: without(&s.labels, &[BUCKET_LABEL.to_string()], true), buckets: Vec::new() });
            histograms.len() - 1
        });
        histograms[h].buckets.push((upper, index));
    }
    let mut out = Vec::with_capacity(histograms.len());
    let mut buckets = Vec::new();
    for h in histograms {
        let values = q
            .iter()
            .enumerate()
            .map(|(step, &q)| {
                buckets.clear();
                buckets.extend(h.buckets.iter().filter_map(|&(upper, i)| input[i].values[step].map(|v| (upper, v))));
                (!buckets.is_empty()).then(|| bucket_quantile(q, &mut buckets))
            })
            .collect();
        out.push(Series { labels: h.labels, values });
    }
    merge_same_labels(out)
}

/// Parses a bucket bound as Go's `strconv.ParseFloat` would (`+Inf`, `1e3`, ...).
fn parse_go_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

/// The quantile of one histogram's (upper bound, cumulative count) buckets.
fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    coalesce(buckets);
    // Counts must not decrease with the bound; fix what scraping skew broke.
    let mut max = f64::NEG_INFINITY;
    for b in buckets.iter_mut() {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    // The first bucket with count >= rank (none when rank is NaN).
    let b = buckets[..buckets.len() - 1]
        .partition_point(|bucket| bucket.1.partial_cmp(&rank).is_none_or(|o| o == std::cmp::Ordering::Less));
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let bucket_end = buckets[b].0;
    let mut count = buckets[b].1;
    let mut bucket_start = 0.0;
    if b > 0 {
        bucket_start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Merges buckets with the same bound (e.g. `le="1"` and `le="1.0"`) by adding counts.
fn coalesce(buckets: &mut Vec<(f64, f64)>) {
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(upper, count) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == upper => last.1 += count,
            _ => merged.push((upper, count)),
        }
    }
    *buckets = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_within_the_bucket() {
        let mut b = vec![(f64::INFINITY, 10.0), (1.0, 5.0), (2.0, 10.0)];
        assert_eq!(bucket_quantile(0.5, &mut b), 1.0);
        let mut b = vec![(1.0, 5.0), (2.0, 10.0), (f64::INFINITY, 10.0)];
        assert_eq!(bucket_quantile(0.75, &mut b), 1.5);
        let mut b = vec![(1.0, 5.0), (f64::INFINITY, 10.0)];
        assert_eq!(bucket_quantile(0.99, &mut b), 1.0);
        let mut b = vec![(1.0, 5.0), (2.0, 10.0)];
        assert!(bucket_quantile(0.5, &mut b).is_nan());
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
    }
}
