//! [`Fanout`]: one raw read, sent to every region that may hold matching series at once,
//! answers merged by series.

use std::collections::BTreeMap;
use std::sync::Arc;

use sysmon_tsdb::{Labels, Matcher, SeriesData};
use tokio::runtime::Handle;
use tracing::{debug, warn};

use super::client::SelectClient;
use super::routes::RegionRoutes;

/// What the regions below answered.
#[derive(Debug, Default)]
pub struct FanoutAnswer {
    /// Every series found, sorted by labels, samples sorted by time.
    pub series: Vec<SeriesData>,
    /// One line per region that did not answer (and any passed on from below): the answer
    /// is partial.
    pub warnings: Vec<String>,
}

/// Reads raw samples from the aggregators below a master.
pub struct Fanout {
    client: Arc<SelectClient>,
    routes: Arc<dyn RegionRoutes>,
    runtime: Handle,
}

impl Fanout {
    /// A fan-out over `routes` with `client`, running its requests on `runtime`.
    pub fn new(client: Arc<SelectClient>, routes: Arc<dyn RegionRoutes>, runtime: Handle) -> Fanout {
        Fanout { client, routes, runtime }
    }

    /// Every series matching `matchers` with samples in `start_ms..=end_ms`, from every
    /// region that may hold one. Blocking: call it from a blocking thread (a query's).
    pub fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> FanoutAnswer {
        let routes = self.routes.routes_for(matchers);
        if routes.is_empty() {
            return FanoutAnswer::default();
        }
        // Several regions behind one endpoint (a master below this one) are one request.
        let mut by_endpoint: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for route in &routes {
            by_endpoint.entry(route.endpoint.as_str()).or_default().push(route.region.as_str());
        }
        let answers = self.runtime.block_on(async {
            let requests = by_endpoint.iter().map(|(&endpoint, regions)| {
                let client = self.client.clone();
                async move { (endpoint, regions, client.select(endpoint, matchers, start_ms, end_ms).await) }
            });
            futures_util::future::join_all(requests).await
        });
        let mut merged: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
        let mut warnings = Vec::new();
        for (endpoint, regions, answer) in answers {
            match answer {
                Ok((series, passed_on)) => {
                    debug!(endpoint, series = series.len(), "region answered a drill-down read");
                    warnings.extend(passed_on);
                    for s in series {
                        merged.entry(s.labels).or_default().extend(s.samples);
                    }
                }
                Err(reason) => {
                    warn!(endpoint, regions = ?regions, %reason, "region did not answer a drill-down read; the result is partial");
                    for region in regions {
                        warnings.push(format!(
                            "region {region:?} did not answer ({endpoint}: {reason}); the result is partial"
                        ));
                    }
                }
            }
        }
        let series = merged
            .into_iter()
            .map(|(labels, mut samples)| {
                samples.sort_by_key(|s| s.0);
                samples.dedup_by_key(|s| s.0);
                SeriesData { labels, samples }
            })
            .collect();
        FanoutAnswer { series, warnings }
    }
}
