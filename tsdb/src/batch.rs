//! What callers submit, what they get back, and the checks made before a batch is queued.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::labels::Labels;

/// One producer's batch: its series and samples that refer to them.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    /// The producer (agent id) and the batch's sequence number. A batch whose seq is at or
    /// below the producer's highest committed seq is a replay and is not stored again.
    /// `None` stores the batch unconditionally.
    pub producer: Option<(String, u64)>,
    /// The batch's series.
    pub series: Vec<Labels>,
    /// `(index into series, timestamp ms, value)`.
    pub samples: Vec<(u32, i64, f64)>,
}

/// A series' canonical key, checked once and cheap to clone: a producer that sends the same
/// series batch after batch (an agent) keeps these and submits them with
/// [`crate::Tsdb::submit_keyed`], instead of building and checking its labels every time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey(Arc<str>);

impl SeriesKey {
    /// The key of `labels`.
    ///
    /// # Errors
    /// [`Error::InvalidBatch`]: no labels, or a NUL byte in a name or value.
    pub fn new(labels: &Labels) -> Result<SeriesKey> {
        if let Some(reason) = labels.key_error() {
            return Err(Error::InvalidBatch { reason });
        }
        let mut key = String::new();
        labels.write_key(&mut key);
        Ok(SeriesKey(key.into()))
    }

    /// The labels back, parsed from the key.
    pub fn labels(&self) -> Labels {
        Labels::from_key(&self.0).expect("a SeriesKey is only made from valid labels")
    }
}

/// A batch whose series are given by their keys; see [`SeriesKey`].
#[derive(Debug, Clone, Default)]
pub struct KeyedBatch {
    /// As [`WriteBatch::producer`].
    pub producer: Option<(String, u64)>,
    /// The batch's series.
    pub series: Vec<SeriesKey>,
    /// `(index into series, timestamp ms, value)`.
    pub samples: Vec<(u32, i64, f64)>,
}

/// What a commit did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The batch is durable. Counts are of its samples.
    Stored {
        /// Samples stored.
        appended: usize,
        /// Samples refused: older than their series' last sample, or at the same time with
        /// another value (Prometheus's out-of-order and duplicate-timestamp errors), or in a
        /// time partition retention has deleted (Prometheus's out-of-bounds).
        out_of_order: usize,
        /// Samples ignored: the same time and value bits as their series' last sample.
        duplicates: usize,
    },
    /// The producer's seq was already committed: nothing was written again.
    Replay,
}

/// A checked batch whose series are reduced to their canonical keys, all in one string. It is
/// built on the caller's thread, which also frees the batch's labels: the writer thread only
/// looks keys up, and frees three allocations per batch instead of a dozen per series.
#[derive(Debug)]
pub(crate) struct PreparedBatch {
    pub(crate) producer: Option<(String, u64)>,
    pub(crate) keys: PreparedKeys,
    pub(crate) samples: Vec<(u32, i64, f64)>,
}

/// A batch's series keys, concatenated, and where each ends.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PreparedKeys {
    keys: String,
    ends: Vec<u32>,
}

impl PreparedBatch {
    /// Checks `batch` and computes its keys.
    ///
    /// # Errors
    /// [`Error::InvalidBatch`]: a series without labels or with a NUL byte, or a sample
    /// referring to a series the batch does not have.
    pub(crate) fn new(batch: WriteBatch) -> Result<PreparedBatch> {
        let WriteBatch { producer, series, samples } = batch;
        let key_bytes: usize = series.iter().flat_map(|l| l.pairs()).map(|(n, v)| n.len() + v.len() + 2).sum();
        if series.len() > u32::MAX as usize || key_bytes > u32::MAX as usize {
            return Err(Error::InvalidBatch {
                reason: format!("{} series in {key_bytes} bytes of labels; at most 2^32 of each fit", series.len()),
            });
        }
        let mut keys = String::with_capacity(key_bytes);
        let mut key_ends = Vec::with_capacity(series.len());
        for (i, labels) in series.iter().enumerate() {
            if let Some(reason) = labels.key_error() {
                return Err(Error::InvalidBatch { reason: format!("series {i}: {reason}") });
            }
            labels.write_key(&mut keys);
            key_ends.push(keys.len() as u32);
        }
        check_sample_refs(&samples, series.len())?;
        Ok(PreparedBatch { producer, keys: PreparedKeys { keys, ends: key_ends }, samples })
    }

    /// A batch of checked keys: only the sample references are left to check.
    ///
    /// # Errors
    /// [`Error::InvalidBatch`]: a sample refers to a series the batch does not have.
    pub(crate) fn from_keys(batch: KeyedBatch) -> Result<PreparedBatch> {
        let KeyedBatch { producer, series, samples } = batch;
        let key_bytes: usize = series.iter().map(|k| k.0.len()).sum();
        if series.len() > u32::MAX as usize || key_bytes > u32::MAX as usize {
            return Err(Error::InvalidBatch {
                reason: format!("{} series in {key_bytes} bytes of labels; at most 2^32 of each fit", series.len()),
            });
        }
        let mut keys = String::with_capacity(key_bytes);
        let mut key_ends = Vec::with_capacity(series.len());
        for key in &series {
            keys.push_str(&key.0);
            key_ends.push(keys.len() as u32);
        }
        check_sample_refs(&samples, series.len())?;
        Ok(PreparedBatch { producer, keys: PreparedKeys { keys, ends: key_ends }, samples })
    }

    /// Number of series.
    pub(crate) fn series_count(&self) -> usize {
        self.keys.ends.len()
    }

    /// The canonical key of series `i`.
    pub(crate) fn key(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.keys.ends[i - 1] as usize };
        &self.keys.keys[start..self.keys.ends[i] as usize]
    }
}

/// Every sample must refer to one of the batch's `series` series.
fn check_sample_refs(samples: &[(u32, i64, f64)], series: usize) -> Result<()> {
    match samples.iter().enumerate().find(|(_, s)| s.0 as usize >= series) {
        Some((i, s)) => Err(Error::InvalidBatch { reason: format!("sample {i} refers to series {} of {series}", s.0) }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_batches_are_refused_with_the_reason() {
        let up = Labels::new([("__name__".to_string(), "up".to_string())]);
        let two = Labels::new([("__name__".to_string(), "up".to_string()), ("job".to_string(), "x".to_string())]);
        let ok =
            PreparedBatch::new(WriteBatch { producer: None, series: vec![up.clone(), two], samples: vec![] }).unwrap();
        assert_eq!((ok.series_count(), ok.key(0), ok.key(1)), (2, "__name__\0up", "__name__\0up\0job\0x"));
        let batch = WriteBatch { producer: None, series: vec![up.clone()], samples: vec![(1, 0, 1.0)] };
        let err = PreparedBatch::new(batch).unwrap_err();
        assert_eq!(err.to_string(), "invalid batch: sample 0 refers to series 1 of 1");
        let batch = WriteBatch { producer: None, series: vec![up.clone(), Labels::default()], samples: vec![] };
        let err = PreparedBatch::new(batch).unwrap_err();
        assert_eq!(err.to_string(), "invalid batch: series 1: a series has no labels");
    }

    #[test]
    fn keyed_batches_carry_the_same_keys() {
        let up = Labels::new([("__name__".to_string(), "up".to_string())]);
        let two = Labels::new([("__name__".to_string(), "up".to_string()), ("job".to_string(), "x".to_string())]);
        let keys = vec![SeriesKey::new(&up).unwrap(), SeriesKey::new(&two).unwrap()];
        let keyed = KeyedBatch { producer: None, series: keys.clone(), samples: vec![(1, 0, 1.0)] };
        let plain = WriteBatch { producer: None, series: vec![up, two], samples: vec![(1, 0, 1.0)] };
        assert_eq!(PreparedBatch::from_keys(keyed).unwrap().keys, PreparedBatch::new(plain).unwrap().keys);
        let err = PreparedBatch::from_keys(KeyedBatch { producer: None, series: keys, samples: vec![(2, 0, 1.0)] })
            .unwrap_err();
        assert_eq!(err.to_string(), "invalid batch: sample 0 refers to series 2 of 2");
        assert_eq!(
            SeriesKey::new(&Labels::default()).unwrap_err().to_string(),
            "invalid batch: a series has no labels"
        );
    }
}
