//! `--dataset FILE`: samples read from a Prometheus text-format file (one sample per line,
//! `name{labels} value timestamp_ms`, as `gen_node_like.py ... promtext` writes), grouped by
//! their `host` label. Each host becomes one simulated agent that sends its samples in time
//! order, `samples_per_series` timestamps of every series per batch.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context as _, bail};
use sysmon_proto::v1;

/// Read buffer: the dataset is read once, sequentially.
const READ_BUFFER_BYTES: usize = 1 << 20;

/// Every sample of a dataset, by host.
#[derive(Debug)]
pub(crate) struct Dataset {
    hosts: Vec<DatasetHost>,
}

/// One host's series and samples; its name is the `host` label, and the agent id.
#[derive(Debug)]
pub(crate) struct DatasetHost {
    name: String,
    series: Vec<DatasetSeries>,
}

/// One series: its labels (sorted by name, `__name__` included) and its samples in time order.
#[derive(Debug)]
struct DatasetSeries {
    labels: Vec<(String, String)>,
    timestamps_ms: Vec<i64>,
    values: Vec<f64>,
}

impl Dataset {
    /// Reads and parses `path`.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let file = File::open(path).with_context(|| format!("opening --dataset {}", path.display()))?;
        Self::parse(BufReader::with_capacity(READ_BUFFER_BYTES, file))
            .with_context(|| format!("reading --dataset {}", path.display()))
    }

    /// Parses a dataset in the Prometheus text format. Every sample needs a timestamp (ms)
    /// and a `host` label; `#` lines and blank lines are skipped.
    pub(crate) fn parse(mut reader: impl BufRead) -> anyhow::Result<Self> {
        let mut hosts: Vec<DatasetHost> = Vec::new();
        let mut host_index: HashMap<String, usize> = HashMap::new();
        // Series text (`name{labels}` as written) -> (host, series); files usually list one
        // series' samples in a row, so the previous line's series is checked first.
        let mut series_index: HashMap<String, (usize, usize)> = HashMap::new();
        let mut previous: Option<(String, (usize, usize))> = None;
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf).context("reading")? == 0 {
                break;
            }
            line_no += 1;
            let line = std::str::from_utf8(&buf).with_context(|| format!("line {line_no}: not UTF-8"))?.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = parse_line(line).with_context(|| format!("line {line_no}: {line:?}"))?;
            let (h, s) = match &previous {
                Some((text, at)) if text == parsed.series_text => *at,
                _ => {
                    let at = match series_index.get(parsed.series_text) {
                        Some(at) => *at,
                        None => {
                            let labels = parse_series(parsed.series_text)
                                .with_context(|| format!("line {line_no}: {line:?}"))?;
                            let Some((_, host)) = labels.iter().find(|(n, _)| n == "host") else {
                                bail!("line {line_no}: the sample has no host label (each host becomes one agent)");
                            };
                            let h = *host_index.entry(host.clone()).or_insert_with(|| {
                                hosts.push(DatasetHost { name: host.clone(), series: Vec::new() });
                                hosts.len() - 1
                            });
                            let series = &mut hosts[h].series;
                            series.push(DatasetSeries { labels, timestamps_ms: Vec::new(), values: Vec::new() });
                            let at = (h, series.len() - 1);
                            series_index.insert(parsed.series_text.to_string(), at);
                            at
                        }
                    };
                    previous = Some((parsed.series_text.to_string(), at));
                    at
                }
            };
            let series = &mut hosts[h].series[s];
            series.timestamps_ms.push(parsed.timestamp_ms);
            series.values.push(parsed.value);
        }
        for series in hosts.iter_mut().flat_map(|h| h.series.iter_mut()) {
            series.sort_by_time();
        }
        Ok(Self { hosts })
    }

    /// The hosts, in the order of their first sample in the file.
    pub(crate) fn hosts(&self) -> &[DatasetHost] {
        &self.hosts
    }

    /// Keeps only the first `n` hosts.
    pub(crate) fn truncate(&mut self, n: usize) {
        self.hosts.truncate(n);
    }

    /// Series of all hosts.
    pub(crate) fn series(&self) -> usize {
        self.hosts.iter().map(|h| h.series.len()).sum()
    }

    /// Samples of all hosts.
    pub(crate) fn samples(&self) -> u64 {
        self.hosts.iter().map(DatasetHost::samples).sum()
    }
}

impl DatasetHost {
    /// The `host` label: the agent id.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// How many series this host has.
    pub(crate) fn series_count(&self) -> usize {
        self.series.len()
    }

    fn samples(&self) -> u64 {
        self.series.iter().map(|s| s.values.len() as u64).sum()
    }

    /// How many batches of `samples_per_series` timestamps per series the host's samples make.
    pub(crate) fn batches(&self, samples_per_series: usize) -> usize {
        let longest = self.series.iter().map(|s| s.values.len()).max().unwrap_or(0);
        longest.div_ceil(samples_per_series.max(1))
    }

    /// Batch `index` (0-based, seq 0: the sender numbers batches): samples
    /// `index * k .. (index + 1) * k` of every series, where `k` is `samples_per_series`,
    /// oldest first and, within one timestamp, in series order. The batch carries only the
    /// series it has samples of, and the strings they need.
    pub(crate) fn batch(&self, index: usize, samples_per_series: usize) -> v1::Batch {
        let k = samples_per_series.max(1);
        let (from, to) = (index * k, (index + 1) * k);
        let mut strings = StringTable::default();
        let mut series = Vec::new();
        // Position of each included series in the batch, in the host's series order.
        let mut included = Vec::new();
        for (i, s) in self.series.iter().enumerate() {
            if s.values.len() > from {
                let labels = s.labels.iter().flat_map(|(n, v)| [strings.intern(n), strings.intern(v)]).collect();
                series.push(v1::Series { labels });
                included.push(i);
            }
        }
        let mut samples = v1::Samples::default();
        for j in from..to {
            for (position, &i) in included.iter().enumerate() {
                let s = &self.series[i];
                if let (Some(&ts), Some(&value)) = (s.timestamps_ms.get(j), s.values.get(j)) {
                    samples.series.push(position as u32);
                    samples.timestamps_ms.push(ts);
                    samples.values.push(value);
                }
            }
        }
        v1::Batch { seq: 0, strings: strings.strings, series, samples: Some(samples), ..Default::default() }
    }
}

impl DatasetSeries {
    fn sort_by_time(&mut self) {
        if self.timestamps_ms.is_sorted() {
            return;
        }
        let mut pairs: Vec<(i64, f64)> = self.timestamps_ms.iter().copied().zip(self.values.iter().copied()).collect();
        // Stable: samples with equal timestamps keep their order in the file.
        pairs.sort_by_key(|(ts, _)| *ts);
        (self.timestamps_ms, self.values) = pairs.into_iter().unzip();
    }
}

/// One sample line, split.
struct Line<'a> {
    /// `name{labels}` exactly as written.
    series_text: &'a str,
    value: f64,
    timestamp_ms: i64,
}

/// Splits `name{labels} value timestamp_ms`.
fn parse_line(line: &str) -> anyhow::Result<Line<'_>> {
    let series_end = match line.find(['{', ' ', '\t']) {
        Some(brace) if line.as_bytes()[brace] == b'{' => brace + closing_brace(&line[brace..])? + 1,
        Some(space) => space,
        None => bail!("expected `name{{labels}} value timestamp_ms`"),
    };
    let series_text = line[..series_end].trim_end();
    let mut rest = line[series_end..].split_ascii_whitespace();
    let value = rest.next().context("no value")?;
    let value = parse_value(value).with_context(|| format!("invalid value {value:?}"))?;
    let Some(timestamp) = rest.next() else {
        bail!("no timestamp: every sample of a dataset needs its time (unix ms)");
    };
    let timestamp_ms = timestamp.parse().with_context(|| format!("invalid timestamp {timestamp:?} (unix ms)"))?;
    if let Some(extra) = rest.next() {
        bail!("unexpected {extra:?} after the timestamp");
    }
    Ok(Line { series_text, value, timestamp_ms })
}

/// The offset of the `}` closing the label set that `text` starts with, skipping quoted values.
fn closing_brace(text: &str) -> anyhow::Result<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Ok(i),
            _ => {}
        }
    }
    bail!("the label set has no closing brace")
}

/// `name{a="x",b="y"}` into labels sorted by name, `__name__` included.
fn parse_series(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let (name, mut rest) = match text.find('{') {
        Some(brace) => (text[..brace].trim(), text[brace + 1..].strip_suffix('}').context("no closing brace")?),
        None => (text.trim(), ""),
    };
    if name.is_empty() {
        bail!("no metric name");
    }
    let mut labels = vec![("__name__".to_string(), name.to_string())];
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let (label, after) = rest.split_once('=').context("a label has no `=`")?;
        let after = after.trim_start().strip_prefix('"').context("a label value is not quoted")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => bail!("a label value ends in a backslash"),
                },
                Some((_, c)) => value.push(c),
                None => bail!("a label value has no closing quote"),
            }
        };
        labels.push((label.trim().to_string(), value));
        rest = &after[end + 1..];
    }
    labels.sort();
    if let Some(w) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
        bail!("label {:?} appears twice", w[0].0);
    }
    Ok(labels)
}

/// A sample value: a float as Go and Python print them, or `NaN`, `+Inf`, `-Inf`.
fn parse_value(text: &str) -> anyhow::Result<f64> {
    Ok(match text {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => text.parse()?,
    })
}

/// Interns strings so that each appears once in a batch's string table.
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

    const TWO_HOSTS: &str = "\
# HELP ignored
node_load1{host=\"a\"} 0.5 1700000000000
node_load1{host=\"a\"} 0.75 1700000010000
node_load1{host=\"a\"} 1 1700000020000
node_cpu_seconds_total{host=\"a\",cpu=\"0\",mode=\"user\"} 12.25 1700000000000
node_cpu_seconds_total{host=\"a\",cpu=\"0\",mode=\"user\"} 12.5 1700000010000

node_load1{host=\"b\"} 2e+3 1700000010000
node_load1{host=\"b\"} NaN 1700000000000
";

    fn labels(batch: &v1::Batch, series: usize) -> Vec<(&str, &str)> {
        batch.series[series]
            .labels
            .chunks(2)
            .map(|p| (batch.strings[p[0] as usize].as_str(), batch.strings[p[1] as usize].as_str()))
            .collect()
    }

    #[test]
    fn groups_samples_by_host_in_time_order() {
        let dataset = Dataset::parse(TWO_HOSTS.as_bytes()).unwrap();
        assert_eq!((dataset.hosts().len(), dataset.series(), dataset.samples()), (2, 3, 7));
        let b = &dataset.hosts()[1];
        assert_eq!(b.name(), "b");
        assert_eq!(b.series[0].timestamps_ms, [1_700_000_000_000, 1_700_000_010_000]);
        assert!(b.series[0].values[0].is_nan());
        assert_eq!(b.series[0].values[1], 2000.0);
    }

    #[test]
    fn batches_hold_k_timestamps_of_every_series() {
        let dataset = Dataset::parse(TWO_HOSTS.as_bytes()).unwrap();
        let a = &dataset.hosts()[0];
        assert_eq!(a.batches(2), 2);
        let first = a.batch(0, 2);
        assert_eq!(labels(&first, 0), [("__name__", "node_load1"), ("host", "a")]);
        assert_eq!(
            labels(&first, 1),
            [("__name__", "node_cpu_seconds_total"), ("cpu", "0"), ("host", "a"), ("mode", "user")]
        );
        let samples = first.samples.unwrap();
        assert_eq!(samples.series, [0, 1, 0, 1]);
        assert_eq!(samples.timestamps_ms, [1_700_000_000_000, 1_700_000_000_000, 1_700_000_010_000, 1_700_000_010_000]);
        assert_eq!(samples.values, [0.5, 12.25, 0.75, 12.5]);
        // The cpu series has no third sample: the last batch carries only node_load1.
        let last = a.batch(1, 2);
        assert_eq!(last.series.len(), 1);
        assert_eq!(last.samples.unwrap().values, [1.0]);
    }

    #[test]
    fn label_values_may_hold_braces_commas_and_escapes() {
        let text = "m{host=\"h\",path=\"/a}b,c\",q=\"say \\\"hi\\\"\\n\"} 1 5\n";
        let dataset = Dataset::parse(text.as_bytes()).unwrap();
        let series = &dataset.hosts()[0].series[0];
        assert_eq!(
            series.labels,
            [
                ("__name__".to_string(), "m".to_string()),
                ("host".into(), "h".into()),
                ("path".into(), "/a}b,c".into()),
                ("q".into(), "say \"hi\"\n".into()),
            ]
        );
        assert_eq!(series.timestamps_ms, [5]);
    }

    #[test]
    fn names_the_line_of_a_bad_sample() {
        let err = Dataset::parse("m{host=\"h\"} 1 5\nm{host=\"h\"} 2\n".as_bytes()).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "line 2: \"m{host=\\\"h\\\"} 2\": no timestamp: every sample of a dataset needs its time (unix ms)"
        );
        let err = Dataset::parse("m{job=\"x\"} 1 5\n".as_bytes()).unwrap_err();
        assert_eq!(format!("{err:#}"), "line 1: the sample has no host label (each host becomes one agent)");
        let err = Dataset::parse("m{host=\"h\"} one 5\n".as_bytes()).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "line 1: \"m{host=\\\"h\\\"} one 5\": invalid value \"one\": invalid float literal"
        );
    }
}
