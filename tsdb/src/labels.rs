//! A series' identity: its label set, sorted by name, `__name__` included.

use std::fmt;

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// A series' labels, sorted by name, each name once, `__name__` included.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Labels from pairs in any order; later duplicates of a name win. Empty values are
    /// dropped, as Prometheus treats an empty label as an absent one.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Labels {
        let mut pairs: Vec<(String, String)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        pairs.reverse();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, earlier| later.0 == earlier.0);
        Labels(pairs)
    }

    /// Labels from pairs already sorted by name, each name once, no empty values.
    ///
    /// # Panics
    /// In debug builds, when the pairs are not sorted and unique.
    pub fn from_sorted(pairs: Vec<(String, String)>) -> Labels {
        debug_assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0), "labels not sorted: {pairs:?}");
        Labels(pairs)
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok().map(|i| self.0[i].1.as_str())
    }

    /// The metric name, if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Takes the pairs out.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.0
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends the canonical key, `name\0value\0name\0value`, to `buf`. This is the encoding the
    /// series table stores; names and values never contain `\0` (see [`Labels::key_error`]).
    pub(crate) fn write_key(&self, buf: &mut String) {
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                buf.push(SEPARATOR);
            }
            buf.push_str(name);
            buf.push(SEPARATOR);
            buf.push_str(value);
        }
    }

    /// Why these labels cannot be stored, if they cannot: no labels at all, or a `\0` inside
    /// a name or value (it would break the key encoding).
    pub(crate) fn key_error(&self) -> Option<String> {
        if self.0.is_empty() {
            return Some("a series has no labels".to_string());
        }
        let bad = self.0.iter().find(|(n, v)| n.is_empty() || n.contains(SEPARATOR) || v.contains(SEPARATOR))?;
        Some(format!("label {:?} has an empty name or a NUL byte", bad.0))
    }

    /// Parses a canonical key back into labels.
    pub(crate) fn from_key(key: &str) -> Result<Labels, String> {
        let mut pairs = Vec::new();
        let mut parts = key.split(SEPARATOR);
        while let Some(name) = parts.next() {
            let Some(value) = parts.next() else {
                return Err(format!("odd number of parts in {key:?}"));
            };
            if pairs.last().is_some_and(|(last, _): &(String, String)| last.as_str() >= name) {
                return Err(format!("names not sorted in {key:?}"));
            }
            pairs.push((name.to_string(), value.to_string()));
        }
        Ok(Labels(pairs))
    }
}

/// Separates names and values in a canonical key.
const SEPARATOR: char = '\0';

impl fmt::Display for Labels {
    /// Prometheus's notation: `name{a="1", b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (name, value) in self.0.iter().filter(|(n, _)| n != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{name}={value:?}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn sorts_dedups_and_drops_empty_values() {
        let labels = Labels::new(pairs(&[("b", "1"), ("__name__", "up"), ("a", ""), ("b", "2")]));
        assert_eq!(labels.pairs(), pairs(&[("__name__", "up"), ("b", "2")]).as_slice());
        assert_eq!(labels.get("b"), Some("2"));
        assert_eq!(labels.get("a"), None);
        assert_eq!(labels.to_string(), "up{b=\"2\"}");
    }

    #[test]
    fn key_round_trips_and_refuses_bad_keys() {
        let labels = Labels::new(pairs(&[("__name__", "node_cpu_seconds_total"), ("cpu", "0"), ("mode", "idle")]));
        let mut key = String::new();
        labels.write_key(&mut key);
        assert_eq!(key, "__name__\0node_cpu_seconds_total\0cpu\x000\0mode\0idle");
        assert_eq!(Labels::from_key(&key).unwrap(), labels);
        assert!(Labels::from_key("a\0b\0c").is_err());
        assert!(Labels::from_key("b\0x\0a\0y").is_err());
        assert!(labels.key_error().is_none());
        assert!(Labels::default().key_error().is_some());
        assert!(Labels::new(pairs(&[("a", "x\0y")])).key_error().is_some());
    }
}
