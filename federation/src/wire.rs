//! Federation's messages on the `Ingest` stream and the `Federation` service, to and from
//! the engine's types: rollup buckets ([`RollupPoint`]) of labelled series in a batch's
//! string table, host states, region states, and the series and samples of a drill-down
//! answer.

use std::collections::HashMap;

use sysmon_proto::v1;
use sysmon_tsdb::{Labels, MatchKind, Matcher, RollupPoint, Tier};

/// Builds a batch's string table and series list, each string and series once.
#[derive(Debug, Default)]
pub struct SeriesTable {
    strings: Vec<String>,
    string_index: HashMap<String, u32>,
    series: Vec<v1::Series>,
    series_index: HashMap<Labels, u32>,
}

impl SeriesTable {
    /// The index of `labels` in the series list, adding it if new.
    pub fn series(&mut self, labels: &Labels) -> u32 {
        if let Some(&i) = self.series_index.get(labels) {
            return i;
        }
        let mut refs = Vec::with_capacity(labels.len() * 2);
        for (name, value) in labels.pairs() {
            refs.push(self.string(name));
            refs.push(self.string(value));
        }
        let i = self.series.len() as u32;
        self.series.push(v1::Series { labels: refs });
        self.series_index.insert(labels.clone(), i);
        i
    }

    fn string(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.string_index.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.string_index.insert(s.to_string(), i);
        i
    }

    /// Series in the table.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The string table and the series list.
    pub fn finish(self) -> (Vec<String>, Vec<v1::Series>) {
        (self.strings, self.series)
    }
}

/// Appends one bucket of series `series` to `rollups`.
pub fn push_rollup(rollups: &mut v1::Rollups, series: u32, p: &RollupPoint) {
    let offset = |ts: i64| (ts - p.start_ms).clamp(0, i64::from(u32::MAX)) as u32;
    rollups.series.push(series);
    rollups.start_ms.push(p.start_ms);
    rollups.count.push(p.count);
    rollups.sum.push(p.sum);
    rollups.min.push(p.min);
    rollups.max.push(p.max);
    rollups.first_offset_ms.push(offset(p.first_ts));
    rollups.first.push(p.first_v);
    rollups.last_offset_ms.push(offset(p.last_ts));
    rollups.last.push(p.last_v);
    rollups.prev_last_offset_ms.push(offset(p.prev_last_ts));
    rollups.prev_last.push(p.prev_last_v);
    rollups.counter_correction.push(p.counter_correction);
    rollups.resets.push(p.resets);
    rollups.changes.push(p.changes);
}

/// The labels of every series of a batch, resolved from its string table.
///
/// # Errors
/// A label refers past the string table, or a series has an odd number of refs.
pub fn series_labels(strings: &[String], series: &[v1::Series]) -> Result<Vec<Labels>, String> {
    series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s.labels.len() % 2 != 0 {
                return Err(format!("series {i} has an odd number of label refs"));
            }
            let string = |r: u32| {
                strings.get(r as usize).cloned().ok_or_else(|| {
                    format!("series {i} refers to string {r}, but the string table has {} entries", strings.len())
                })
            };
            let pairs =
                s.labels.chunks(2).map(|p| Ok((string(p[0])?, string(p[1])?))).collect::<Result<Vec<_>, String>>()?;
            Ok(Labels::new(pairs))
        })
        .collect()
}

/// The buckets of `rollups`, grouped by series index (in bucket order as sent).
///
/// # Errors
/// Columns of different lengths, a series index past `series_count`, a width other than
/// the 1-minute tier's, or a bucket start that is not on the tier's grid.
pub fn decode_rollups(rollups: &v1::Rollups, series_count: usize) -> Result<Vec<(u32, RollupPoint)>, String> {
    let n = rollups.series.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    if rollups.width_ms != Tier::Minute.width_ms() {
        return Err(format!(
            "rollups are {} ms wide; only the 1-minute tier (60000 ms) is replicated",
            rollups.width_ms
        ));
    }
    let lengths = [
        rollups.start_ms.len(),
        rollups.count.len(),
        rollups.sum.len(),
        rollups.min.len(),
        rollups.max.len(),
        rollups.first_offset_ms.len(),
        rollups.first.len(),
        rollups.last_offset_ms.len(),
        rollups.last.len(),
        rollups.prev_last_offset_ms.len(),
        rollups.prev_last.len(),
        rollups.counter_correction.len(),
        rollups.resets.len(),
        rollups.changes.len(),
    ];
    if lengths.iter().any(|&len| len != n) {
        return Err(format!("rollup columns differ in length: {n} series refs, others {lengths:?}"));
    }
    let width = Tier::Minute.width_ms();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let series = rollups.series[i];
        if series as usize >= series_count {
            return Err(format!("rollup {i} refers to series {series}, but the batch has {series_count}"));
        }
        let start = rollups.start_ms[i];
        if start.rem_euclid(width) != 0 {
            return Err(format!("rollup {i} starts at {start}, not on a minute boundary"));
        }
        let at = |offset: u32| -> Result<i64, String> {
            if i64::from(offset) >= width {
                return Err(format!("rollup {i} has a sample {offset} ms after its start, outside its minute"));
            }
            Ok(start + i64::from(offset))
        };
        if rollups.count[i] == 0 {
            return Err(format!("rollup {i} summarises no sample"));
        }
        out.push((
            series,
            RollupPoint {
                start_ms: start,
                count: rollups.count[i],
                sum: rollups.sum[i],
                min: rollups.min[i],
                max: rollups.max[i],
                first_ts: at(rollups.first_offset_ms[i])?,
                first_v: rollups.first[i],
                last_ts: at(rollups.last_offset_ms[i])?,
                last_v: rollups.last[i],
                prev_last_ts: at(rollups.prev_last_offset_ms[i])?,
                prev_last_v: rollups.prev_last[i],
                counter_correction: rollups.counter_correction[i],
                resets: rollups.resets[i],
                changes: rollups.changes[i],
            },
        ));
    }
    Ok(out)
}

/// Matchers on the wire.
pub fn encode_matchers(matchers: &[Matcher]) -> Vec<v1::Matcher> {
    matchers
        .iter()
        .map(|m| {
            let (kind, value) = match &m.kind {
                MatchKind::Equal(v) => (v1::matcher::Kind::Equal, v.clone()),
                MatchKind::NotEqual(v) => (v1::matcher::Kind::NotEqual, v.clone()),
                MatchKind::Regex(r) => (v1::matcher::Kind::Regex, unanchored(r.as_str())),
                MatchKind::NotRegex(r) => (v1::matcher::Kind::NotRegex, unanchored(r.as_str())),
            };
            v1::Matcher { kind: kind.into(), name: m.name.clone(), value }
        })
        .collect()
}

/// The pattern a matcher was made from: [`Matcher::regex`] anchors it as `^(?s:...)$`.
fn unanchored(pattern: &str) -> String {
    pattern.strip_prefix("^(?s:").and_then(|p| p.strip_suffix(")$")).unwrap_or(pattern).to_string()
}

/// Matchers from the wire.
///
/// # Errors
/// A regex that does not compile, or an unknown kind.
pub fn decode_matchers(matchers: &[v1::Matcher]) -> Result<Vec<Matcher>, String> {
    matchers
        .iter()
        .map(|m| {
            let kind = v1::matcher::Kind::try_from(m.kind).map_err(|_| format!("unknown matcher kind {}", m.kind))?;
            let bad = |e: sysmon_tsdb::Error| format!("matcher {}: {e}", m.name);
            Ok(match kind {
                v1::matcher::Kind::Equal => Matcher::equal(&m.name, &m.value),
                v1::matcher::Kind::NotEqual => Matcher::not_equal(&m.name, &m.value),
                v1::matcher::Kind::Regex => Matcher::regex(&m.name, &m.value).map_err(bad)?,
                v1::matcher::Kind::NotRegex => Matcher::not_regex(&m.name, &m.value).map_err(bad)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
    }

    #[test]
    fn rollups_round_trip_through_a_batch() {
        let a = labels(&[("__name__", "node_load1"), ("host", "h1")]);
        let b = labels(&[("__name__", "node_load1"), ("host", "h2")]);
        let mut p = RollupPoint::new(Tier::Minute, 1_700_000_040_000, 3.0);
        p.push(1_700_000_050_000, 1.0);
        p.push(1_700_000_060_000 - 1, 2.0);
        let q = RollupPoint::new(Tier::Minute, 1_700_000_100_000, f64::NAN);
        let mut table = SeriesTable::default();
        let mut rollups = v1::Rollups { width_ms: 60_000, ..Default::default() };
        for (l, point) in [(&a, &p), (&b, &q), (&a, &q)] {
            let i = table.series(l);
            push_rollup(&mut rollups, i, point);
        }
        assert_eq!(table.len(), 2);
        let (strings, series) = table.finish();
        assert_eq!(strings.len(), 5, "each string once: {strings:?}");
        let got = series_labels(&strings, &series).unwrap();
        assert_eq!(got, [a, b]);
        let points = decode_rollups(&rollups, series.len()).unwrap();
        assert_eq!(points[0], (0, p));
        assert_eq!(points[1].0, 1);
        assert!(points[1].1.sum.is_nan() && points[1].1.start_ms == q.start_ms && points[1].1.count == 1);
        assert_eq!(points[2].0, 0);
    }

    #[test]
    fn malformed_rollups_are_refused_with_a_reason() {
        let point = RollupPoint::new(Tier::Minute, 60_000, 1.0);
        let mut rollups = v1::Rollups { width_ms: 60_000, ..Default::default() };
        push_rollup(&mut rollups, 3, &point);
        assert_eq!(decode_rollups(&rollups, 2).unwrap_err(), "rollup 0 refers to series 3, but the batch has 2");
        rollups.series[0] = 0;
        rollups.start_ms[0] = 61_000;
        assert_eq!(decode_rollups(&rollups, 2).unwrap_err(), "rollup 0 starts at 61000, not on a minute boundary");
        rollups.start_ms[0] = 60_000;
        rollups.sum.clear();
        assert!(decode_rollups(&rollups, 2).unwrap_err().starts_with("rollup columns differ in length"));
        let hour = v1::Rollups { width_ms: 3_600_000, series: vec![0], ..Default::default() };
        assert!(decode_rollups(&hour, 2).unwrap_err().contains("only the 1-minute tier"));
    }

    #[test]
    fn matchers_round_trip() {
        let matchers = vec![
            Matcher::equal("host", "a"),
            Matcher::not_equal("mode", "idle"),
            Matcher::regex("region", "eu-.*|us").unwrap(),
            Matcher::not_regex("device", "lo").unwrap(),
        ];
        let back = decode_matchers(&encode_matchers(&matchers)).unwrap();
        let l = labels(&[("host", "a"), ("mode", "user"), ("region", "eu-1"), ("device", "eth0")]);
        assert!(back.iter().all(|m| m.matches(&l)));
        let l = labels(&[("host", "a"), ("mode", "user"), ("region", "eu-1"), ("device", "lo")]);
        assert!(!back.iter().all(|m| m.matches(&l)));
        let bad = v1::Matcher { kind: 2, name: "x".into(), value: "(".into() };
        assert!(decode_matchers(&[bad]).unwrap_err().starts_with("matcher x:"));
        assert_eq!(encode_matchers(&[Matcher::regex("r", "a|b").unwrap()])[0].value, "a|b");
    }
}
