//! Which aggregator below a master to ask for which series.

use sysmon_tsdb::Matcher;

/// A region and the aggregator to ask for its series: the region's own regional, or the
/// master below this one through which the region reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The region.
    pub region: String,
    /// The gRPC endpoint that serves `Federation.Select` for it. Unreachable regions are
    /// routed too: one may be back, and one that is not is named in the answer's warnings.
    pub endpoint: String,
}

/// The master's map of regions, kept by the aggregator from its federation streams.
pub trait RegionRoutes: Send + Sync {
    /// The regions that may hold series matching all `matchers` (a `region` or `host`
    /// matcher narrows them down), each with where to ask.
    fn routes_for(&self, matchers: &[Matcher]) -> Vec<Route>;
}
