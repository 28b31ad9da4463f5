//! Prometheus remote_write 1.0 bodies (snappy-compressed `WriteRequest` protobuf) turned
//! into samples for the store, under the same label rules and limits as agent batches.
//!
//! Unlike an agent's series, a remote-written series gets no `host` or `region` label
//! stamped on it: it keeps exactly the labels its sender gave it (Prometheus adds its
//! `external_labels` itself), so queries over it answer as they do on the sender.

use prost::Message as _;
use sysmon_proto::prometheus::WriteRequest;
use sysmon_tsdb::Labels;

use super::decode::{check_label, is_metric_name};
use crate::config::Limits;

/// Largest compressed body accepted, in bytes.
pub(crate) const MAX_REMOTE_WRITE_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Largest decompressed body accepted, in bytes.
pub(crate) const MAX_DECODED_BYTES: usize = 64 * 1024 * 1024;

/// A decoded request: the series that passed the rules, their samples, and what was refused.
#[derive(Debug, Default)]
pub(crate) struct RemoteWrite {
    pub(crate) series: Vec<Labels>,
    /// (index into `series`, unix ms, value).
    pub(crate) samples: Vec<(u32, i64, f64)>,
    /// Series refused (with all their samples) for breaking a rule.
    pub(crate) refused_series: usize,
    /// Samples refused, those of refused series included.
    pub(crate) refused_samples: usize,
    /// The first refusal's reason, for the response and the log.
    pub(crate) first_problem: Option<String>,
}

/// Decodes and checks a remote_write body. A body that cannot be read at all is an error;
/// a series that breaks a rule is refused alone and counted, the rest is kept.
///
/// # Errors
/// The body is not snappy-compressed protobuf, or is larger than the limits allow.
pub(crate) fn decode_remote_write(body: &[u8], limits: &Limits, now_ms: i64) -> Result<RemoteWrite, String> {
    let decoded_len = snap::raw::decompress_len(body)
        .map_err(|e| format!("the body is not snappy-compressed (remote_write 1.0 requires it): {e}"))?;
    if decoded_len > MAX_DECODED_BYTES {
        return Err(format!("the body decompresses to {decoded_len} bytes; limit {MAX_DECODED_BYTES} bytes"));
    }
    let raw =
        snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("the body is not valid snappy: {e}"))?;
    let request = WriteRequest::decode(raw.as_slice()).map_err(|e| format!("the body is not a WriteRequest: {e}"))?;
    let total: usize = request.timeseries.iter().map(|ts| ts.samples.len()).sum();
    if total > limits.max_batch_samples {
        return Err(format!("the request has {total} samples; limit max_batch_samples = {}", limits.max_batch_samples));
    }
    if request.timeseries.len() > limits.max_batch_series {
        return Err(format!(
            "the request has {} series; limit max_batch_series = {}",
            request.timeseries.len(),
            limits.max_batch_series
        ));
    }

    let latest_allowed = now_ms + limits.max_future_skew_ms;
    let mut out = RemoteWrite { samples: Vec::with_capacity(total), ..RemoteWrite::default() };
    for series in request.timeseries {
        let pairs: Vec<(String, String)> = series.labels.into_iter().map(|l| (l.name, l.value)).collect();
        let checked = check_series(&pairs, limits).and_then(|labels| {
            match series.samples.iter().find(|s| s.timestamp > latest_allowed) {
                Some(s) => Err(format!(
                    "series {labels}: sample timestamp {} is {} ms ahead of the aggregator's clock; limit max_future_skew = {} ms",
                    s.timestamp,
                    s.timestamp - now_ms,
                    limits.max_future_skew_ms
                )),
                None => Ok(labels),
            }
        });
        match checked {
            Ok(labels) => {
                let index = out.series.len() as u32;
                out.series.push(labels);
                out.samples.extend(series.samples.iter().map(|s| (index, s.timestamp, s.value)));
            }
            Err(problem) => {
                out.refused_series += 1;
                out.refused_samples += series.samples.len();
                out.first_problem.get_or_insert(problem);
            }
        }
    }
    Ok(out)
}

/// The rules of agent batches, applied to one remote-written series.
fn check_series(pairs: &[(String, String)], limits: &Limits) -> Result<Labels, String> {
    if pairs.len() > limits.max_labels_per_series {
        return Err(format!(
            "a series has {} labels; limit max_labels_per_series = {}",
            pairs.len(),
            limits.max_labels_per_series
        ));
    }
    for (name, value) in pairs {
        check_label(name, value, limits)?;
    }
    let labels = Labels::new(pairs.iter().cloned());
    if labels.len() != pairs.iter().filter(|(_, v)| !v.is_empty()).count() {
        return Err(format!("series {labels} has a label name twice"));
    }
    match labels.metric_name() {
        Some(name) if is_metric_name(name) => Ok(labels),
        Some(name) => Err(format!("series {labels} has invalid metric name {name:?}")),
        None => Err(format!("series {labels} has no __name__ label")),
    }
}

#[cfg(test)]
mod tests {
    use sysmon_proto::prometheus::{Label, Sample, TimeSeries};

    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels.iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect(),
            samples: samples.iter().map(|&(timestamp, value)| Sample { value, timestamp }).collect(),
        }
    }

    fn body(timeseries: Vec<TimeSeries>) -> Vec<u8> {
        let raw = WriteRequest { timeseries }.encode_to_vec();
        snap::raw::Encoder::new().compress_vec(&raw).unwrap()
    }

    #[test]
    fn keeps_good_series_and_counts_bad_ones() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let request = body(vec![
            series(&[("__name__", "up"), ("job", "node")], &[(NOW, 1.0), (NOW + 1000, stale)]),
            series(&[("__name__", "bad-name")], &[(NOW, 1.0)]),
            series(&[("job", "x")], &[(NOW, 1.0)]),
        ]);
        let out = decode_remote_write(&request, &Limits::default(), NOW).unwrap();
        assert_eq!(out.series.len(), 1);
        assert_eq!(out.series[0].to_string(), "up{job=\"node\"}");
        assert_eq!(out.samples.len(), 2);
        assert_eq!(out.samples[1].2.to_bits(), stale.to_bits(), "stale markers are kept bit for bit");
        assert_eq!((out.refused_series, out.refused_samples), (2, 2));
        assert_eq!(out.first_problem.as_deref(), Some("series bad-name{} has invalid metric name \"bad-name\""));
    }

    #[test]
    fn unreadable_bodies_say_what_is_wrong() {
        let err = decode_remote_write(b"not snappy at all", &Limits::default(), NOW).unwrap_err();
        assert!(err.contains("snappy"), "{err}");
        let uncompressed =
            WriteRequest { timeseries: vec![series(&[("__name__", "up")], &[(NOW, 1.0)])] }.encode_to_vec();
        assert!(decode_remote_write(&uncompressed, &Limits::default(), NOW).is_err());
    }

    #[test]
    fn refuses_samples_from_the_future() {
        let request = body(vec![series(&[("__name__", "up")], &[(NOW + 3_600_000, 1.0)])]);
        let out = decode_remote_write(&request, &Limits::default(), NOW).unwrap();
        assert_eq!(out.refused_series, 1);
        assert!(out.first_problem.unwrap().contains("ahead of the aggregator's clock"));
    }
}
