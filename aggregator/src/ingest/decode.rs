//! Turning a wire `Batch` into an [`AcceptedBatch`]: resolve the string table, check every
//! label and limit, stamp `host` and `region`. A batch that breaks a rule is refused whole,
//! with a message that names the rule; the stream and every other agent go on.

use sysmon_proto::v1;

use crate::config::Limits;
use crate::error::{Error, Result};
use sysmon_tsdb::Labels;

use crate::store::AcceptedBatch;

/// Validates `batch` from agent `agent_id` of region `region`.
pub(crate) fn decode_batch(
    batch: v1::Batch,
    agent_id: &str,
    region: &str,
    limits: &Limits,
    now_ms: i64,
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
        let mut labels = Vec::with_capacity(pairs + 2);
        for pair in s.labels.chunks(2) {
            let (name, value) = (string(pair[0])?, string(pair[1])?);
            check_label(name, value, limits).map_err(|msg| invalid(format!("series {i}: {msg}")))?;
            match name {
                "region" => {} // the aggregator's own region always wins
                "host" if value != agent_id => {
                    return Err(invalid(format!(
                        "series {i} has host={value:?}; an agent may only write under its own host id {agent_id:?}"
                    )));
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
            return Err(invalid(format!("series {i} has label {:?} twice", w[0].0)));
        }
        match labels.iter().find(|(n, _)| n == "__name__") {
            Some((_, metric)) if is_metric_name(metric) => {}
            Some((_, metric)) => return Err(invalid(format!("series {i} has invalid metric name {metric:?}"))),
            None => return Err(invalid(format!("series {i} has no __name__ label"))),
        }
        // An empty value is an absent label, as in Prometheus.
        labels.retain(|(_, v)| !v.is_empty());
        series.push(Labels::from_sorted(labels));
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
        }
    }

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn stamps_host_and_region_and_sorts() {
        let b = batch(&[("__name__", "node_load1"), ("region", "spoofed")], &[(NOW, 0.5), (NOW + 1, f64::NAN)]);
        let out = decode_batch(b, "web-01", "eu", &Limits::default(), NOW).unwrap();
        assert_eq!(
            out.series[0].pairs(),
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
        let err = decode_batch(b, "web-01", "eu", &Limits::default(), NOW).unwrap_err();
        assert_eq!(
            err.to_string(),
            "batch 7: series 0 has host=\"db-01\"; an agent may only write under its own host id \"web-01\""
        );
    }

    #[test]
    fn refuses_bad_names_and_limits() {
        let limits = Limits { max_batch_samples: 1, ..Limits::default() };
        let err =
            decode_batch(batch(&[("__name__", "x")], &[(NOW, 1.0), (NOW, 2.0)]), "h", "r", &limits, NOW).unwrap_err();
        assert_eq!(err.to_string(), "batch 7: has 2 samples; limit max_batch_samples = 1");
        let err = decode_batch(batch(&[("__name__", "1x")], &[]), "h", "r", &Limits::default(), NOW).unwrap_err();
        assert_eq!(err.to_string(), "batch 7: series 0 has invalid metric name \"1x\"");
        let err = decode_batch(batch(&[("__name__", "x"), ("a-b", "1")], &[]), "h", "r", &Limits::default(), NOW)
            .unwrap_err();
        assert!(err.to_string().contains("invalid label name \"a-b\""), "{err}");
    }

    #[test]
    fn refuses_samples_from_the_future() {
        let err =
            decode_batch(batch(&[("__name__", "x")], &[(NOW + 3_600_000, 1.0)]), "h", "r", &Limits::default(), NOW)
                .unwrap_err();
        assert!(err.to_string().contains("ahead of the aggregator's clock"), "{err}");
    }

    #[test]
    fn refuses_dangling_refs() {
        let mut b = batch(&[("__name__", "x")], &[(NOW, 1.0)]);
        b.series[0].labels[1] = 99;
        let err = decode_batch(b, "h", "r", &Limits::default(), NOW).unwrap_err();
        assert_eq!(err.to_string(), "batch 7: label refers to string 99, but the string table has 3 entries");
    }
}
