//! Batches lost because the spool could not be written (disk full, EIO, a read-only
//! filesystem): a run of such failures is logged, counted, and kept here until a later batch
//! reaches the spool carrying it as a `spool_dropped` event (reason `write_error`), which
//! the aggregator then receives like any other spooled batch.
//!
//! The run is kept in memory only: the disk that could not take the batch is the one a
//! record of it would go to. A sender stopped before any later batch is spooled has logged
//! the loss but cannot report it.

use std::path::Path;

use sysmon_proto::v1;
use tracing::{debug, error, info};

use crate::metrics::UplinkMetrics;

/// A run of batches the spool refused, not yet carried by a spooled batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LostBatches {
    pub(crate) batches: u64,
    pub(crate) bytes: u64,
    /// When the first failed, unix ms.
    pub(crate) first_ms: i64,
    /// Collection times of the first and the last batch lost.
    pub(crate) first_collected_ms: i64,
    pub(crate) last_collected_ms: i64,
    /// The file or directory that could not be written (the spool directory when the error
    /// names none).
    pub(crate) path: String,
    /// The latest error, with its chain (the OS error last).
    pub(crate) error: String,
}

/// The failures since the last batch that reached the spool.
#[derive(Debug, Default)]
pub(crate) struct LostLedger {
    pending: Option<LostBatches>,
}

impl LostLedger {
    /// Counts and logs one batch the spool refused. The first failure of a run, and any
    /// failure whose error differs from the previous one, is logged at `error` with the path
    /// and the OS error; the rest at `debug`, so a dead disk does not flood the log.
    pub(crate) fn record(
        &mut self,
        metrics: &UplinkMetrics,
        spool_dir: &Path,
        error: &sysmon_spool::Error,
        collected_at_ms: i64,
        bytes: u64,
    ) {
        metrics.count_write_error(bytes);
        let path = error.path().unwrap_or(spool_dir).display().to_string();
        let text = crate::chain(error);
        let os_error = error.io_error().map_or_else(|| "none".to_string(), ToString::to_string);
        let lost_total = metrics.dropped_batches();
        let changed = self.pending.as_ref().is_none_or(|p| p.error != text);
        if changed {
            error!(path, os_error, collected_at_ms, lost_total, error = %text, "cannot write the batch to the spool; it is lost");
        } else {
            debug!(path, os_error, collected_at_ms, lost_total, "cannot write the batch to the spool; it is lost");
        }
        let now_ms = crate::unix_ms();
        let p = self.pending.get_or_insert_with(|| LostBatches {
            batches: 0,
            bytes: 0,
            first_ms: now_ms,
            first_collected_ms: collected_at_ms,
            last_collected_ms: collected_at_ms,
            path: path.clone(),
            error: text.clone(),
        });
        p.batches += 1;
        p.bytes += bytes;
        p.last_collected_ms = collected_at_ms;
        p.path = path;
        p.error = text;
    }

    /// The run to report on the next batch spooled, if any.
    pub(crate) fn pending(&self) -> Option<&LostBatches> {
        self.pending.as_ref()
    }

    /// A batch carrying the run's event reached the spool: the spool now delivers it.
    pub(crate) fn reported(&mut self) {
        if let Some(p) = self.pending.take() {
            info!(
                batches = p.batches,
                bytes = p.bytes,
                first_collected_ms = p.first_collected_ms,
                last_collected_ms = p.last_collected_ms,
                "the spool takes batches again; the lost ones are reported to the aggregator"
            );
        }
    }
}

impl LostBatches {
    /// The `spool_dropped` event (reason `write_error`) the aggregator receives.
    pub(crate) fn event(&self) -> v1::Event {
        let label = |name: &str, value: String| v1::Label { name: name.to_string(), value };
        v1::Event {
            time_ms: self.first_ms,
            kind: "spool_dropped".into(),
            message: format!(
                "cannot write to the spool ({}): lost {} batches collected from {} to {} (unix ms), {} bytes: {}",
                self.path, self.batches, self.first_collected_ms, self.last_collected_ms, self.bytes, self.error
            ),
            attributes: vec![
                label("reason", "write_error".into()),
                label("batches", self.batches.to_string()),
                label("bytes", self.bytes.to_string()),
                label("first_collected_ms", self.first_collected_ms.to_string()),
                label("last_collected_ms", self.last_collected_ms.to_string()),
                label("path", self.path.clone()),
                label("error", self.error.clone()),
            ],
        }
    }
}
