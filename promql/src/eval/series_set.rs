//! Checks Prometheus makes on a vector's label sets, over all steps at once.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use sysmon_tsdb::Labels;

use crate::error::{Error, Result};
use crate::eval::types::Series;

/// The error Prometheus gives when one step of a vector holds two equal label sets.
pub(crate) fn duplicate_labelset_error() -> Error {
    Error::Execution("vector cannot contain metrics with the same labelset".into())
}

/// Merges series with equal labels into one, as Prometheus's step-by-step evaluation does,
/// and drops series with no value at all. Two equal label sets with values at the same
/// step are an error.
pub(crate) fn merge_same_labels(series: Vec<Series>) -> Result<Vec<Series>> {
    let mut out: Vec<Series> = Vec::with_capacity(series.len());
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(series.len());
    for s in series {
        if !s.has_points() {
            continue;
        }
        match index.entry(s.labels.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(out.len());
                out.push(s);
            }
            Entry::Occupied(slot) => {
                let target = &mut out[*slot.get()];
                for (have, new) in target.values.iter_mut().zip(s.values) {
                    if new.is_some() {
                        if have.is_some() {
                            return Err(duplicate_labelset_error());
                        }
                        *have = new;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Drops series with no value, then requires the rest to have distinct label sets at all,
/// as Prometheus requires of range-vector function results and negations.
pub(crate) fn ensure_distinct_labels(series: Vec<Series>) -> Result<Vec<Series>> {
    let series: Vec<Series> = series.into_iter().filter(Series::has_points).collect();
    let mut seen = std::collections::HashSet::with_capacity(series.len());
    for s in &series {
        if !seen.insert(&s.labels) {
            return Err(duplicate_labelset_error());
        }
    }
    Ok(series)
}
