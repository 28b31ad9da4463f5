//! A master's view for queries: its own store (the regions' 1-minute rollups, the 1-hour
//! points it puts together from them, and any remote-written samples) and, for raw samples,
//! the regions below it. The 1-minute tier is complete up to the oldest frontier of the
//! reachable regions, the 1-hour tier up to that and its last compacted partition; the
//! evaluator reads a tier before that and raw samples (read from the regions) after it, or
//! everywhere when the query needs raw resolution or a series that a region does not
//! replicate (`federation.replicate`). Each query has its own catalog, which gathers the
//! warnings of regions that did not answer.

use std::sync::{Arc, Mutex};

use sysmon_federation::fanout::Fanout;
use sysmon_promql::{RollupTier, SeriesRollups, SeriesSamples, Storage};
use sysmon_tsdb::{Labels, Matcher, Tier};

use super::RegionDirectory;
use crate::http::prometheus::{CatalogSource, SeriesCatalog};
use crate::store::TsdbCatalog;

/// Makes a [`MasterCatalog`] per query.
pub(crate) struct MasterCatalogs {
    pub(crate) local: Arc<TsdbCatalog>,
    pub(crate) fanout: Arc<Fanout>,
    pub(crate) regions: Arc<RegionDirectory>,
}

impl MasterCatalogs {
    /// A catalog for one query or read.
    pub(crate) fn master_catalog(&self) -> MasterCatalog {
        MasterCatalog {
            local: self.local.clone(),
            fanout: self.fanout.clone(),
            regions: self.regions.clone(),
            warnings: Mutex::default(),
        }
    }
}

impl CatalogSource for MasterCatalogs {
    fn catalog(&self) -> Arc<dyn SeriesCatalog> {
        Arc::new(self.master_catalog())
    }
}

/// One query's view of the fleet.
pub(crate) struct MasterCatalog {
    local: Arc<TsdbCatalog>,
    fanout: Arc<Fanout>,
    regions: Arc<RegionDirectory>,
    warnings: Mutex<Vec<String>>,
}

impl MasterCatalog {
    /// Raw samples: the local store's and the regions', merged by series.
    pub(crate) fn select_with_warnings(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<(Vec<SeriesSamples>, Vec<String>), String> {
        let local = self.local.select(matchers, start_ms, end_ms)?;
        let remote = self.fanout.select(matchers, start_ms, end_ms);
        let mut series = local;
        series.extend(remote.series.into_iter().map(|s| SeriesSamples { labels: s.labels, samples: s.samples }));
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        series.dedup_by(|later, earlier| {
            if later.labels != earlier.labels {
                return false;
            }
            earlier.samples.append(&mut later.samples);
            earlier.samples.sort_by_key(|s| s.0);
            earlier.samples.dedup_by_key(|s| s.0);
            true
        });
        Ok((series, remote.warnings))
    }
}

impl Storage for MasterCatalog {
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<SeriesSamples>, String> {
        let (series, warnings) = self.select_with_warnings(matchers, start_ms, end_ms)?;
        if !warnings.is_empty() {
            let mut gathered = self.warnings.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for w in warnings {
                if !gathered.contains(&w) {
                    gathered.push(w);
                }
            }
        }
        Ok(series)
    }

    /// The 1-minute tier, complete up to the regions' frontier, and the 1-hour tier the
    /// store puts together from it, complete up to the frontier's hour and the first
    /// partition not compacted yet (see `Tsdb::received_hours_complete_before`).
    fn rollup_tiers(&self) -> Vec<RollupTier> {
        let frontier = self.regions.frontier(crate::registry::now_ms());
        let tsdb = &self.local.0;
        tsdb.tiers()
            .into_iter()
            .map(|tier| {
                let complete_before_ms = match tier {
                    Tier::Minute => frontier,
                    Tier::Hour => Tier::Hour.bucket_start(frontier).min(tsdb.received_hours_complete_before()),
                };
                RollupTier { width_ms: tier.width_ms(), complete_before_ms }
            })
            .collect()
    }

    fn select_rollup(
        &self,
        width_ms: i64,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Option<Vec<SeriesRollups>>, String> {
        // Series a region does not replicate are only in its raw samples.
        if !self.regions.rollups_cover(matchers) {
            return Ok(None);
        }
        self.local.select_rollup(width_ms, matchers, start_ms, end_ms)
    }
}

impl SeriesCatalog for MasterCatalog {
    fn series(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<Labels>, String> {
        self.local.series(matchers, start_ms, end_ms)
    }

    fn label_names(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<String>, String> {
        self.local.label_names(matchers, start_ms, end_ms)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, String> {
        self.local.label_values(name, matchers, start_ms, end_ms)
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn reads_remotely(&self) -> bool {
        true
    }
}
