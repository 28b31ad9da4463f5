//! Turning a wire `Batch` into an [`AcceptedBatch`]: resolve the string table, check every
//! label and limit, stamp `host` and `region`. A batch that breaks a rule is refused whole,
//! with a message that names the rule; the stream and every other agent go on. An agent
//! sends the same series batch after batch: each is checked once per stream and then taken
//! from the stream's [`SeriesCache`].

use sysmon_proto::v1;

use sysmon_tsdb::{Labels, SeriesKey};

use super::series_cache::SeriesCache;
use crate::config::Limits;
use crate::error::{Error, Result};
use crate::store::AcceptedBatch;

/// Validates `batch` from agent `agent_id` of region `region`. Series seen in an earlier
/// batch of the stream come from `cache`, checked already; new ones are checked and added.
pub(crate) fn decode_batch(
    batch: v1::Batch,
    agent_id: &str,
    region: &str,
    limits: &Limits,
    now_ms: i64,
    cache: &mut SeriesCache,
) -> Result<AcceptedBatch> {
    let invalid = |msg: String| Error::InvalidBatch(format!("batch {}: {msg}", batch.seq));
    if batch.seq == 0 {
        return Err(invalid("seq must be at least 1".into()));
    }
    let samples = batch.samples.unwrap_or_default();
    let n = samples.series.len();
    if samples.timestamps_ms.len() != n || samples.values.len() != n {
        return Err(invalid(format!(
            "sample columns differ in length: {} series refs, {} timestamps, {} values",
            n,
            samples.timestamps_ms.len(),
            samples.values.len()
        )));
    }
    if n > limits.max_batch_samples {
        return Err(invalid(format!("has {n} samples; limit max_batch_samples = {}", limits.max_batch_samples)));
    }
    if batch.series.len() > limits.max_batch_series {
        return Err(invalid(format!(
            "has {} series; limit max_batch_series = {}",
            batch.series.len(),
            limits.max_batch_series
        )));
    }
    let strings = &batch.strings;
    let string = |index: u32| -> Result<&str> {
        strings.get(index as usize).map(String::as_str).ok_or_else(|| {
            invalid(format!("label refers to string {index}, but the string table has {} entries", strings.len()))
        })
    };

    let mut series = Vec::with_capacity(batch.series.len());
    for (i, s) in batch.series.iter().enumerate() {
        if s.labels.len() % 2 != 0 {
            return Err(invalid(format!("series {i} has an odd number of label refs")));
        }
        let pairs = s.labels.len() / 2;
        if pairs > limits.max_labels_per_series {
            return Err(invalid(format!(
                "series {i} has {pairs} labels; limit max_labels_per_series = {}",
                limits.max_labels_per_series
            )));
        }
        let mut wire = cache.wire_key();
        for pair in s.labels.chunks(2) {
            wire.push(string(pair[0])?, string(pair[1])?);
        }
        let wire = match cache.get(wire) {
            Ok(key) => {
                series.push(key);
                continue;
            }
            Err(wire) => wire,
        };
        // Every ref resolved above.
        let resolved = s.labels.chunks(2).map(|p| (strings[p[0] as usize].as_str(), strings[p[1] as usize].as_str()));
        let labels = series_labels(i, resolved, agent_id, region, limits).map_err(invalid)?;
        let key = SeriesKey::new(&labels).map_err(|e| invalid(format!("series {i}: {e}")))?;
        cache.insert(wire, key.clone());
        series.push(key);
    }

    let latest_allowed = now_ms + limits.max_future_skew_ms;
    let mut out = Vec::with_capacity(n);
    for ((&index, &ts), &value) in samples.series.iter().zip(&samples.timestamps_ms).zip(&samples.values) {
        if index as usize >= series.len() {
            return Err(invalid(format!("sample refers to series {index}, but the batch has {}", series.len())));
        }
        if ts > latest_allowed {
            return Err(invalid(format!(
                "sample timestamp {ts} is {} ms ahead of the aggregator's clock; limit max_future_skew = {} ms (check the agent's clock)",
                ts - now_ms,
                limits.max_future_skew_ms
            )));
        }
        out.push((index, ts, value));
    }
    Ok(AcceptedBatch { agent_id: agent_id.to_string(), seq: batch.seq, series, samples: out })
}

/// The labels wire series `i` stands for, checked: names and values valid, `host` the
/// agent's own (added when absent), `region` the aggregator's, a metric name, no name twice.
fn series_labels<'a>(
    i: usize,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    agent_id: &str,
    region: &str,
    limits: &Limits,
) -> Result<Labels, String> {
    let mut labels = Vec::with_capacity(pairs.size_hint().0 + 2);
    for (name, value) in pairs {
        check_label(name, value, limits).map_err(|msg| format!("series {i}: {msg}"))?;
        match name {
            "region" => {} // the aggregator's own region always wins
            "host" if value != agent_id => {
                return Err(format!(
                    "series {i} has host={value:?}; an agent may only write under its own host id {agent_id:?}"
                ));
            }
            _ => labels.push((name.to_string(), value.to_string())),
        }
    }
    if !labels.iter().any(|(n, _)| n == "host") {
        labels.push(("host".into(), agent_id.to_string()));
    }
    labels.push(("region".into(), region.to_string()));
    labels.sort();
    if let Some(w) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("series {i} has label {:?} twice", w[0].0));
    }
    match labels.iter().find(|(n, _)| n == "__name__") {
        Some((_, metric)) if is_metric_name(metric) => {}
        Some((_, metric)) => return Err(format!("series {i} has invalid metric name {metric:?}")),
        None => return Err(format!("series {i} has no __name__ label")),
    }
    // An empty value is an absent label, as in Prometheus.
    labels.retain(|(_, v)| !v.is_empty());
    Ok(Labels::from_sorted(labels))
}

pub(crate) fn check_label(name: &str, value: &str, limits: &Limits) -> Result<(), String> {
    if !is_label_name(name) {
        return Err(format!("invalid label name {name:?} (must match [a-zA-Z_][a-zA-Z0-9_]*)"));
    }
    if value.len() > limits.max_label_value_bytes {
        return Err(format!(
            "label {name} has a {}-byte value; limit max_label_value_bytes = {}",
            value.len(),
            limits.max_label_value_bytes
        ));
    }
    if value.contains('\0') {
        return Err(format!("label {name} has a NUL byte in its value"));
    }
    Ok(())
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, as Prometheus requires of label names.
pub(crate) fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, as Prometheus requires of metric names.
pub(crate) fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> v1::Batch {
        let mut strings = vec![String::new()];
        let mut refs = Vec::new();
        for (n, v) in labels {
            for s in [n, v] {
                refs.push(strings.len() as u32);
                strings.push(s.to_string());
            }
        }
        v1::Batch {
            seq: 7,
            strings,
            series: vec![v1::Series { labels: refs }],
            samples: Some(v1::Samples {
                series: vec![0; samples.len()],
                timestamps_ms: samples.iter().map(|s| s.0).collect(),
                values: samples.iter().map(|s| s.1).collect(),
            }),
            ..Default::default()
        }
    }

    const NOW: i64 = 1_700_000_000_000;

    /// One batch on a fresh stream of region "eu".
    fn decode(b: v1::Batch, agent: &str, limits: &Limits) -> Result<AcceptedBatch> {
        decode_batch(b, agent, "eu", limits, NOW, &mut SeriesCache::default())
    }

    #[test]
    fn a_stream_checks_each_series_once_and_refuses_a_bad_one_every_time() {
        let mut cache = SeriesCache::default();
        let good = [("__name__", "node_load1"), ("region", "spoofed")];
        for _ in 0..3 {
            let out =
                decode_batch(batch(&good, &[(NOW, 1.0)]), "web-01", "eu", &Limits::default(), NOW, &mut cache).unwrap();
            assert_eq!(out.series[0].labels().get("region"), Some("eu"));
            assert_eq!(out.series[0].labels().get("host"), Some("web-01"));
        }
        assert_eq!(cache.len(), 1);
        // The same pairs under other string-table positions are the same series.
        let mut moved = batch(&good, &[(NOW, 1.0)]);
        moved.strings.insert(0, "unused".into());
        moved.series[0].labels.iter_mut().for_each(|r| *r += 1);
        decode_batch(moved, "web-01", "eu", &Limits::default(), NOW, &mut cache).unwrap();
        assert_eq!(cache.len(), 1);
        // Another pair list is another series; a bad pair in it is refused.
        let split = [("__name__", "node_load"), ("1region", "spoofed")];
        let out = decode_batch(batch(&split[..1], &[]), "web-01", "eu", &Limits::default(), NOW, &mut cache).unwrap();
        assert_eq!(out.series[0].labels().metric_name(), Some("node_load"));
        let err = decode_batch(batch(&split, &[]), "web-01", "eu", &Limits::default(), NOW, &mut cache).unwrap_err();
        assert!(err.to_string().contains("invalid label name \"1region\""), "{err}");
        assert_eq!(cache.len(), 2);
        for _ in 0..2 {
            let bad = batch(&[("__name__", "x"), ("host", "db-01")], &[(NOW, 1.0)]);
            let err = decode_batch(bad, "web-01", "eu", &Limits::default(), NOW, &mut cache).unwrap_err();
            assert!(err.to_string().contains("an agent may only write under its own host id"), "{err}");
        }
    }

    #[test]
    fn stamps_host_and_region_and_sorts() {
        let b = batch(&[("__name__", "node_load1"), ("region", "spoofed")], &[(NOW, 0.5), (NOW + 1, f64::NAN)]);
        let out = decode(b, "web-01", &Limits::default()).unwrap();
        assert_eq!(
            out.series[0].labels().pairs(),
            [
                ("__name__".into(), "node_load1".into()),
                ("host".into(), "web-01".into()),
                ("region".into(), "eu".into())
            ]
        );
        assert_eq!(out.samples.len(), 2);
        assert!(out.samples[1].2.is_nan(), "NaN is a legal sample value, as in Prometheus");
    }

    #[test]
    fn refuses_another_hosts_label() {
        let b = batch(&[("__name__", "x"), ("host", "db-01")], &[(NOW, 1.0)]);
        let err = decode(b, "web-01", &Limits::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "batch 7: series 0 has host=\"db-01\"; an agent may only write under its own host id \"web-01\""
        );
    }

    #[test]
    fn refuses_bad_names_and_limits() {
        let limits = Limits { max_batch_samples: 1, ..Limits::default() };
        let err = decode(batch(&[("__name__", "x")], &[(NOW, 1.0), (NOW, 2.0)]), "h", &limits).unwrap_err();
        assert_eq!(err.to_string(), "batch 7: has 2 samples; limit max_batch_samples = 1");
        let err = decode(batch(&[("__name__", "1x")], &[]), "h", &Limits::default()).unwrap_err();
        assert_eq!(err.to_string(), "batch 7: series 0 has invalid metric name \"1x\"");
        let err = decode(batch(&[("__name__", "x"), ("a-b", "1")], &[]), "h", &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("invalid label name \"a-b\""), "{err}");
    }

    #[test]
    fn refuses_samples_from_the_future() {
        let err = decode(batch(&[("__name__", "x")], &[(NOW + 3_600_000, 1.0)]), "h", &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("ahead of the aggregator's clock"), "{err}");
    }

    #[test]
    fn refuses_dangling_refs() {
        let mut b = batch(&[("__name__", "x")], &[(NOW, 1.0)]);
        b.series[0].labels[1] = 99;
        let err = decode(b, "h", &Limits::default()).unwrap_err();
        assert_eq!(err.to_string(), "batch 7: label refers to string 99, but the string table has 3 entries");
    }
}
