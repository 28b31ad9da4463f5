//! What a replicator reads from the aggregator it runs in.

use sysmon_proto::v1;
use sysmon_tsdb::SeriesData;

/// The aggregator's side of replication. Calls block (they read the store).
pub trait ReplicationSource: Send + Sync + 'static {
    /// Every series (of `host` only, when given) with its raw samples in
    /// `start_ms..=end_ms`, stale markers included.
    ///
    /// # Errors
    /// The store could not be read; the message says why.
    fn select(&self, host: Option<&str>, start_ms: i64, end_ms: i64) -> Result<Vec<SeriesData>, String>;

    /// Every host the aggregator owns, with its inventory and when it was last seen.
    ///
    /// # Errors
    /// The registry could not be read.
    fn hosts(&self) -> Result<Vec<v1::HostState>, String>;

    /// The aggregator's active alerts (pending and firing), its region on each. Every batch
    /// replication sends carries them: they replace the master's previous set of the region.
    fn alerts(&self) -> Vec<v1::AlertState>;
}
