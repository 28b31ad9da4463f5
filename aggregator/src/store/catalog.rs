//! The time-series engine as the PromQL evaluator's [`Storage`] and the Prometheus API's
//! [`SeriesCatalog`].

use std::sync::Arc;

use sysmon_promql::{SeriesSamples, Storage};
use sysmon_tsdb::{Labels, Matcher, Tsdb};

use crate::http::prometheus::SeriesCatalog;

/// Reads for queries, straight from the engine.
pub(crate) struct TsdbCatalog(pub(crate) Arc<Tsdb>);

impl Storage for TsdbCatalog {
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<SeriesSamples>, String> {
        let series = self.0.select(matchers, start_ms, end_ms).map_err(|e| e.to_string())?;
        Ok(series.into_iter().map(|s| SeriesSamples { labels: s.labels, samples: s.samples }).collect())
    }
}

impl SeriesCatalog for TsdbCatalog {
    fn series(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<Labels>, String> {
        self.0.series(matchers, start_ms, end_ms).map_err(|e| e.to_string())
    }

    fn label_names(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<String>, String> {
        self.0.label_names(matchers, start_ms, end_ms).map_err(|e| e.to_string())
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, String> {
        self.0.label_values(name, matchers, start_ms, end_ms).map_err(|e| e.to_string())
    }
}
