//! The store as a regional's replication source.

use sysmon_federation::replicate::ReplicationSource;
use sysmon_proto::v1;
use sysmon_tsdb::{Matcher, SeriesData};

use crate::store::Store;

/// Reads raw samples and the host registry for the replicator.
pub(crate) struct StoreSource(pub(crate) Store);

impl ReplicationSource for StoreSource {
    fn select(&self, host: Option<&str>, start_ms: i64, end_ms: i64) -> Result<Vec<SeriesData>, String> {
        let matchers: Vec<Matcher> = host.map(|h| vec![Matcher::equal("host", h)]).unwrap_or_default();
        self.0.tsdb().select(&matchers, start_ms, end_ms).map_err(|e| e.to_string())
    }

    fn hosts(&self) -> Result<Vec<v1::HostState>, String> {
        let hosts = self.0.hosts().map_err(|e| crate::error::DisplayChain(&e).to_string())?;
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
