//! Ending series that a collection no longer reports (a user without processes, a process
//! that left the top N) with Prometheus stale markers, as Prometheus itself does for a
//! vanished target, so queries stop showing them at once instead of five minutes later.

use std::collections::HashMap;

use crate::sample::{STALE_MARKER_BITS, Sample};

/// The series reported in the previous collection.
#[derive(Debug, Default)]
pub(crate) struct SeriesTracker {
    previous: HashMap<String, Sample>,
}

impl SeriesTracker {
    /// Notes the series in `out[from..]` as this collection's and appends a stale marker for
    /// each series of the previous collection that is not among them.
    pub(crate) fn end_vanished(&mut self, out: &mut Vec<Sample>, from: usize) {
        let mut current = HashMap::with_capacity(out.len() - from);
        for sample in &out[from..] {
            current.insert(key(sample), Sample { value: 0.0, ..sample.clone() });
        }
        for (k, sample) in self.previous.drain() {
            if !current.contains_key(&k) {
                out.push(Sample { value: f64::from_bits(STALE_MARKER_BITS), ..sample });
            }
        }
        self.previous = current;
    }
}

/// The series' identity: its name and labels, in the order the collector pushes them (always
/// the same for one series).
fn key(sample: &Sample) -> String {
    let mut key = String::with_capacity(64);
    key.push_str(&sample.name);
    for (name, value) in &sample.labels {
        key.push('\0');
        key.push_str(name);
        key.push('=');
        key.push_str(value);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vanished_series_get_one_stale_marker() {
        let mut tracker = SeriesTracker::default();
        let mut out = vec![Sample::new("a", 1.0).label("user", "x"), Sample::new("a", 2.0).label("user", "y")];
        tracker.end_vanished(&mut out, 0);
        assert_eq!(out.len(), 2);

        let mut out = vec![Sample::new("other", 0.0), Sample::new("a", 3.0).label("user", "x")];
        tracker.end_vanished(&mut out, 1);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].labels, [("user".to_string(), "y".to_string())]);
        assert_eq!(out[2].value.to_bits(), STALE_MARKER_BITS);

        let mut out = vec![Sample::new("a", 3.0).label("user", "x")];
        tracker.end_vanished(&mut out, 0);
        assert_eq!(out.len(), 1, "a series is marked stale once");
    }
}
