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

/// A checked batch with each series' canonical key, built on the caller's thread so the
/// writer thread only looks keys up.
#[derive(Debug)]
pub(crate) struct PreparedBatch {
    pub(crate) batch: WriteBatch,
    pub(crate) keys: Vec<String>,
}

impl PreparedBatch {
    /// Checks `batch` and computes its keys.
    ///
    /// # Errors
    /// [`Error::InvalidBatch`]: a series without labels or with a NUL byte, or a sample
    /// referring to a series the batch does not have.
    pub(crate) fn new(batch: WriteBatch) -> Result<PreparedBatch> {
        if batch.series.len() > u32::MAX as usize {
            return Err(Error::InvalidBatch { reason: format!("{} series; at most 2^32 fit", batch.series.len()) });
        }
        let mut keys = Vec::with_capacity(batch.series.len());
        for (i, labels) in batch.series.iter().enumerate() {
            if let Some(reason) = labels.key_error() {
                return Err(Error::InvalidBatch { reason: format!("series {i}: {reason}") });
            }
            let mut key = String::with_capacity(labels.pairs().iter().map(|(n, v)| n.len() + v.len() + 2).sum());
            labels.write_key(&mut key);
            keys.push(key);
        }
        if let Some((i, s)) = batch.samples.iter().enumerate().find(|(_, s)| s.0 as usize >= batch.series.len()) {
            return Err(Error::InvalidBatch {
                reason: format!("sample {i} refers to series {} of {}", s.0, batch.series.len()),
            });
        }
        Ok(PreparedBatch { batch, keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_batches_are_refused_with_the_reason() {
        let up = Labels::new([("__name__".to_string(), "up".to_string())]);
        let batch = WriteBatch { producer: None, series: vec![up.clone()], samples: vec![(1, 0, 1.0)] };
        let err = PreparedBatch::new(batch).unwrap_err();
        assert_eq!(err.to_string(), "invalid batch: sample 0 refers to series 1 of 1");
        let batch = WriteBatch { producer: None, series: vec![up, Labels::default()], samples: vec![] };
        let err = PreparedBatch::new(batch).unwrap_err();
        assert_eq!(err.to_string(), "invalid batch: series 1: a series has no labels");
    }
}
