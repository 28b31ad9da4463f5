//! A master's directory of the regions below it: for each, which stream it reports through
//! (its regional, or a master below this one), where to read its raw samples, when it last
//! spoke and how far its rollups are complete. Kept in memory and in the `fed_regions`
//! table, so a restarted master knows its regions before they speak again. It also knows
//! which region owns which host, to send a drill-down read only where it can be answered,
//! and which series each region replicates, to read the regions for the others.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use redb::TableDefinition;
use serde::{Deserialize, Serialize};
use sysmon_federation::fanout::{RegionRoutes, Route};
use sysmon_proto::v1;
use sysmon_tsdb::{MatchKind, Matcher};
use tracing::warn;

use super::ReplicationFilter;
use super::region_table::RegionTable;
use crate::error::Result;

/// Region -> its [`RegionState`] (JSON).
const REGIONS: RegionTable = RegionTable {
    table: TableDefinition::new("fed_regions"),
    record: "region record",
    read: "read regions",
    write: "write regions",
};

/// What a master knows of one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RegionState {
    pub(crate) region: String,
    /// The aggregator whose stream carries the region (its certificate's name).
    pub(crate) via: String,
    /// Where `via` serves drill-down reads.
    pub(crate) endpoint: String,
    /// When the region's aggregator last made a batch that reached here (unix ms).
    pub(crate) last_heard_ms: i64,
    /// Every rollup bucket of the region before this is complete here (unix ms).
    pub(crate) complete_before_ms: i64,
    /// The series selectors the region replicates; empty: every series.
    #[serde(default)]
    pub(crate) replicate: Vec<String>,
}

/// Whether a region answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Reachability {
    /// This aggregator's own region.
    Local,
    /// Heard from within `federation.region_timeout`.
    Reachable,
    /// Silent for longer: its hosts' status is unknown.
    Unreachable,
}

/// The directory. Cheap to share.
pub(crate) struct RegionDirectory {
    db: Arc<redb::Database>,
    regions: RwLock<BTreeMap<String, RegionState>>,
    /// Host -> region, from the host states the streams carry.
    hosts: RwLock<HashMap<String, String>>,
    /// Region -> its `replicate`, parsed; `None` when it does not parse here (a newer
    /// regional's syntax): then the region's rollups cover no selector.
    filters: RwLock<HashMap<String, Option<ReplicationFilter>>>,
    timeout_ms: i64,
}

impl RegionDirectory {
    /// Loads the directory from the store. Blocking.
    pub(crate) fn open(db: Arc<redb::Database>, timeout: Duration) -> Result<RegionDirectory> {
        let regions: BTreeMap<String, RegionState> =
            REGIONS.load::<RegionState>(&db)?.into_iter().map(|(_, state)| (state.region.clone(), state)).collect();
        let filters = regions.values().map(|s| (s.region.clone(), parse_filter(s))).collect();
        Ok(RegionDirectory {
            db,
            regions: RwLock::new(regions),
            hosts: RwLock::default(),
            filters: RwLock::new(filters),
            timeout_ms: i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX),
        })
    }

    /// Records which region owns each of `hosts`.
    pub(crate) fn note_hosts(&self, hosts: &[v1::HostState]) {
        let mut map = self.hosts.write();
        for h in hosts {
            map.insert(h.host.clone(), h.region.clone());
        }
    }

    /// Records what a batch from `via` (serving reads at `endpoint`) says of its regions.
    /// Blocking.
    pub(crate) fn update(&self, via: &str, endpoint: &str, statuses: &[v1::RegionStatus]) -> Result<()> {
        if statuses.is_empty() {
            return Ok(());
        }
        let mut changed = Vec::new();
        {
            let mut regions = self.regions.write();
            for s in statuses {
                let known = regions.get(&s.region);
                let state = RegionState {
                    region: s.region.clone(),
                    via: via.to_string(),
                    endpoint: endpoint.to_string(),
                    last_heard_ms: known.map_or(s.sent_at_ms, |k| k.last_heard_ms.max(s.sent_at_ms)),
                    complete_before_ms: known
                        .map_or(s.complete_before_ms, |k| k.complete_before_ms.max(s.complete_before_ms)),
                    replicate: s.replicate.clone(),
                };
                if known.is_none_or(|k| k.replicate != state.replicate) {
                    self.filters.write().insert(state.region.clone(), parse_filter(&state));
                }
                if known != Some(&state) {
                    regions.insert(s.region.clone(), state.clone());
                    changed.push(state);
                }
            }
        }
        REGIONS.store(&self.db, changed.into_iter().map(|state| (state.region.clone(), state)))
    }

    /// Every region with its reachability at `now_ms`, sorted by region.
    pub(crate) fn regions(&self, now_ms: i64) -> Vec<(RegionState, Reachability)> {
        self.regions.read().values().map(|s| (s.clone(), self.reachability(s, now_ms))).collect()
    }

    /// One region's state and reachability.
    pub(crate) fn region(&self, region: &str, now_ms: i64) -> Option<(RegionState, Reachability)> {
        self.regions.read().get(region).map(|s| (s.clone(), self.reachability(s, now_ms)))
    }

    fn reachability(&self, state: &RegionState, now_ms: i64) -> Reachability {
        if now_ms.saturating_sub(state.last_heard_ms) > self.timeout_ms {
            Reachability::Unreachable
        } else {
            Reachability::Reachable
        }
    }

    /// Every 1-minute bucket before this is complete for every reachable region: the
    /// rollup tier answers there, raw reads from the regions after. `i64::MIN` when no
    /// region is reachable (every read goes down).
    pub(crate) fn frontier(&self, now_ms: i64) -> i64 {
        self.regions
            .read()
            .values()
            .filter(|s| self.reachability(s, now_ms) == Reachability::Reachable)
            .map(|s| s.complete_before_ms)
            .min()
            .unwrap_or(i64::MIN)
    }

    /// Whether every region that a series selected by `matchers` can belong to replicates
    /// every such series: only then do this master's own tiers answer the selector.
    pub(crate) fn rollups_cover(&self, matchers: &[Matcher]) -> bool {
        // Locked in the order `update` takes them: regions, then filters.
        let regions = self.regions.read();
        let filters = self.filters.read();
        regions
            .values()
            .filter(|s| matchers.iter().filter(|m| m.name == "region").all(|m| m.matches_value(&s.region)))
            .all(|s| matches!(filters.get(&s.region), Some(Some(f)) if f.covers(matchers)))
    }
}

/// A region's filter, parsed; `None` (and a warning) when it does not parse.
fn parse_filter(state: &RegionState) -> Option<ReplicationFilter> {
    ReplicationFilter::parse(&state.replicate)
        .inspect_err(|(i, reason)| {
            warn!(region = %state.region, selector = i, %reason, "a region's replicate selector does not parse here; its queries read the region");
        })
        .ok()
}

impl RegionRoutes for RegionDirectory {
    fn routes_for(&self, matchers: &[Matcher]) -> Vec<Route> {
        // A `host="h"` matcher names the one region that owns h (when known).
        let host_region = matchers.iter().find_map(|m| match &m.kind {
            MatchKind::Equal(host) if m.name == "host" => Some(self.hosts.read().get(host).cloned()),
            _ => None,
        });
        self.regions
            .read()
            .values()
            .filter(|s| matchers.iter().filter(|m| m.name == "region").all(|m| m.matches_value(&s.region)))
            .filter(|s| match &host_region {
                Some(Some(region)) => region == &s.region,
                Some(None) | None => true,
            })
            .map(|s| Route { region: s.region.clone(), endpoint: s.endpoint.clone() })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(region: &str, complete: i64, sent: i64) -> v1::RegionStatus {
        v1::RegionStatus {
            region: region.into(),
            complete_before_ms: complete,
            sent_at_ms: sent,
            replicate: Vec::new(),
        }
    }

    #[test]
    fn regions_are_routed_by_matchers_and_go_unreachable_when_silent() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(redb::Database::create(dir.path().join("t.redb")).unwrap());
        let regions = RegionDirectory::open(db.clone(), Duration::from_secs(180)).unwrap();
        let host = v1::HostState { host: "web-1".into(), region: "eu".into(), ..Default::default() };
        regions.note_hosts(&[host]);
        regions.update("agg-eu", "https://eu:9801", &[status("eu", 60_000, 100_000)]).unwrap();
        regions.update("agg-us", "https://us:9801", &[status("us", 120_000, 100_000)]).unwrap();
        assert_eq!(regions.frontier(100_000), 60_000);
        let route_regions = |m: &[Matcher]| regions.routes_for(m).into_iter().map(|r| r.region).collect::<Vec<_>>();
        assert_eq!(route_regions(&[]), ["eu", "us"]);
        assert_eq!(route_regions(&[Matcher::equal("region", "us")]), ["us"]);
        assert_eq!(route_regions(&[Matcher::equal("host", "web-1")]), ["eu"]);
        assert_eq!(route_regions(&[Matcher::equal("host", "unknown")]), ["eu", "us"]);
        // Silent past the timeout: unreachable, and no longer holding the frontier back.
        regions.update("agg-us", "https://us:9801", &[status("us", 180_000, 300_000)]).unwrap();
        assert_eq!(regions.region("eu", 300_000).unwrap().1, Reachability::Unreachable);
        assert_eq!(regions.frontier(300_000), 180_000);
        // A restarted master knows its regions.
        drop(regions);
        let regions = RegionDirectory::open(db, Duration::from_secs(180)).unwrap();
        assert_eq!(regions.regions(300_000).len(), 2);
        assert_eq!(regions.region("us", 300_000).unwrap().0.endpoint, "https://us:9801");
    }

    #[test]
    fn the_rollups_cover_a_selector_when_every_region_it_can_read_replicates_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(redb::Database::create(dir.path().join("t.redb")).unwrap());
        let regions = RegionDirectory::open(db.clone(), Duration::from_secs(180)).unwrap();
        let load = [Matcher::equal("__name__", "node_load1")];
        let cpu = [Matcher::equal("__name__", "node_cpu_seconds_total")];
        regions.update("agg-eu", "https://eu:9801", &[status("eu", 60_000, 100_000)]).unwrap();
        let us = v1::RegionStatus { replicate: vec!["node_load1".into()], ..status("us", 60_000, 100_000) };
        regions.update("agg-us", "https://us:9801", &[us]).unwrap();
        assert!(regions.rollups_cover(&load));
        assert!(!regions.rollups_cover(&cpu), "us does not replicate it");
        assert!(regions.rollups_cover(&[cpu[0].clone(), Matcher::equal("region", "eu")]));
        // A restarted master still knows what each region replicates.
        drop(regions);
        let regions = RegionDirectory::open(db, Duration::from_secs(180)).unwrap();
        assert!(regions.rollups_cover(&load));
        assert!(!regions.rollups_cover(&cpu));
        // A selector this master cannot parse covers nothing.
        let odd = v1::RegionStatus { replicate: vec!["node_load1 offset".into()], ..status("us", 60_000, 200_000) };
        regions.update("agg-us", "https://us:9801", &[odd]).unwrap();
        assert!(!regions.rollups_cover(&load));
    }
}
