//! Encoding one collection into a self-contained wire [`Batch`](v1::Batch): a string table,
//! the series (label refs into it) and the samples column by column.

use std::collections::HashMap;

use sysmon_proto::v1;

use crate::sample::Sample;

/// Builds the batch of one collection taken at `timestamp_ms` on host `host`. The seq is
/// left at 0: the outbox numbers batches.
pub(crate) fn encode_collection(host: &str, timestamp_ms: i64, samples: &[Sample]) -> v1::Batch {
    let mut table = StringTable::default();
    let mut series = Vec::with_capacity(samples.len());
    let mut columns = v1::Samples {
        series: Vec::with_capacity(samples.len()),
        timestamps_ms: Vec::with_capacity(samples.len()),
        values: Vec::with_capacity(samples.len()),
    };
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for sample in samples {
        pairs.clear();
        pairs.push(("__name__", &sample.name));
        pairs.push(("host", host));
        pairs.extend(sample.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        pairs.sort_unstable();
        let labels = pairs.iter().flat_map(|(n, v)| [table.intern(n), table.intern(v)]).collect();
        columns.series.push(series.len() as u32);
        columns.timestamps_ms.push(timestamp_ms);
        columns.values.push(sample.value);
        series.push(v1::Series { labels });
    }
    v1::Batch { seq: 0, strings: table.strings, series, samples: Some(columns), ..Default::default() }
}

#[derive(Default)]
struct StringTable {
    strings: Vec<String>,
    index: HashMap<String, u32>,
}

impl StringTable {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type DecodedSample = (Vec<(String, String)>, i64, f64);

    /// Decodes a batch back into (sorted labels, timestamp, value) for comparison.
    fn decode(batch: &v1::Batch) -> Vec<DecodedSample> {
        let samples = batch.samples.as_ref().unwrap();
        (0..samples.series.len())
            .map(|i| {
                let labels = batch.series[samples.series[i] as usize]
                    .labels
                    .chunks(2)
                    .map(|p| (batch.strings[p[0] as usize].clone(), batch.strings[p[1] as usize].clone()))
                    .collect();
                (labels, samples.timestamps_ms[i], samples.values[i])
            })
            .collect()
    }

    #[test]
    fn round_trips_with_sorted_labels_and_shared_strings() {
        let samples = vec![
            Sample::new("node_cpu_seconds_total", 1.5).label("mode", "idle").label("cpu", "0"),
            Sample::new("node_cpu_seconds_total", 2.5).label("mode", "user").label("cpu", "0"),
            Sample::new("node_load1", f64::NAN),
        ];
        let batch = encode_collection("web-01", 42, &samples);
        let decoded = decode(&batch);
        let owned = |p: &[(&str, &str)]| p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        assert_eq!(
            decoded[0].0,
            owned(&[("__name__", "node_cpu_seconds_total"), ("cpu", "0"), ("host", "web-01"), ("mode", "idle")])
        );
        assert_eq!((decoded[1].1, decoded[1].2), (42, 2.5));
        assert!(decoded[2].2.is_nan());
        // "node_cpu_seconds_total", "cpu", "0", "host", "web-01", "mode" appear once each.
        let distinct: std::collections::HashSet<_> = batch.strings.iter().collect();
        assert_eq!(distinct.len(), batch.strings.len());
    }
}
