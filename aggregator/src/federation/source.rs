//! The store and the alert book as a regional's replication source: the raw samples of the
//! series `federation.replicate` selects, the host registry and the active alerts.

use std::collections::BTreeMap;
use std::sync::Arc;

use sysmon_federation::replicate::ReplicationSource;
use sysmon_proto::v1;
use sysmon_tsdb::{Matcher, SeriesData};

use super::ReplicationFilter;
use crate::alerting::{Alert, AlertBook};
use crate::store::Store;

/// Reads raw samples, the host registry and the active alerts for the replicator.
pub(crate) struct StoreSource {
    pub(crate) store: Store,
    /// The series replicated.
    pub(crate) filter: ReplicationFilter,
    pub(crate) alerts: Arc<AlertBook>,
    /// This aggregator's region, on each alert sent.
    pub(crate) region: String,
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

    fn alerts(&self) -> Vec<v1::AlertState> {
        self.alerts.active().into_iter().map(|alert| alert_state(alert, &self.region)).collect()
    }
}

/// An alert as a batch carries it.
fn alert_state(alert: Alert, region: &str) -> v1::AlertState {
    let pairs = |map: BTreeMap<String, String>| -> Vec<v1::Label> {
        map.into_iter().map(|(name, value)| v1::Label { name, value }).collect()
    };
    v1::AlertState {
        labels: pairs(alert.labels),
        annotations: pairs(alert.annotations),
        state: alert.state.name().to_string(),
        active_at_ms: alert.active_at_ms,
        value: alert.value,
        region: region.to_string(),
    }
}
