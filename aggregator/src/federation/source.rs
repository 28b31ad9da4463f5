//! The store as a regional's replication source: the raw samples of the series
//! `federation.replicate` selects, and the host registry.

use sysmon_federation::replicate::ReplicationSource;
use sysmon_proto::v1;
use sysmon_tsdb::{Matcher, SeriesData};

use super::ReplicationFilter;
use crate::store::Store;

/// Reads raw samples and the host registry for the replicator.
pub(crate) struct StoreSource {
    pub(crate) store: Store,
    /// The series replicated.
    pub(crate) filter: ReplicationFilter,
}

impl ReplicationSource for StoreSource {
    fn select(&self, host: Option<&str>, start_ms: i64, end_ms: i64) -> Result<Vec<SeriesData>, String> {
        let host: Vec<Matcher> = host.map(|h| vec![Matcher::equal("host", h)]).unwrap_or_default();
        let read =
            |matchers: &[Matcher]| self.store.tsdb().select(matchers, start_ms, end_ms).map_err(|e| e.to_string());
        if self.filter.is_everything() {
            return read(&host);
        }
        // Each selector with the host's matcher; a series two selectors match is read twice
        // and kept once.
        let mut series = Vec::new();
        for selector in self.filter.selectors() {
            series.extend(read(&[selector.as_slice(), &host].concat())?);
        }
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        series.dedup_by(|later, earlier| later.labels == earlier.labels);
        Ok(series)
    }

    fn hosts(&self) -> Result<Vec<v1::HostState>, String> {
        let hosts = self.store.hosts().map_err(|e| crate::error::DisplayChain(&e).to_string())?;
        Ok(hosts
            .into_iter()
            .map(|(record, last_seen_ms)| v1::HostState {
                host: record.host,
                region: record.region,
                agent_version: record.agent_version,
                interval_ms: record.interval_ms,
                inventory: Some(record.inventory.into()),
                first_seen_ms: record.first_seen_ms,
                last_seen_ms,
            })
            .collect())
    }
}
