//! What callers submit, what they get back, and the checks made before a batch is queued.

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

/// What a commit did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The batch is durable. Counts are of its samples.
    Stored {
        /// Samples stored.
        appended: usize,
        /// Samples refused: older than their series' last sample, or at the same time with
        /// another value (Prometheus's out-of-order and duplicate-timestamp errors).
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
        if let Some((i, s)) = samples.iter().enumerate().find(|(_, s)| s.0 as usize >= series.len()) {
            return Err(Error::InvalidBatch {
                reason: format!("sample {i} refers to series {} of {}", s.0, series.len()),
            });
        }
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
        let batch = WriteBatch { producer: None, series: vec![up, Labels::default()], samples: vec![] };
        let err = PreparedBatch::new(batch).unwrap_err();
        assert_eq!(err.to_string(), "invalid batch: series 1: a series has no labels");
    }
}
