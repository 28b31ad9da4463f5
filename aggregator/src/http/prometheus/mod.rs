//! The Prometheus HTTP API (`/api/v1/...`), so Grafana and Prometheus tooling use sysmon
//! as a Prometheus data source without adapters; and the remote_write receiver.

mod handlers;
mod numbers;
mod params;
mod response;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use sysmon_promql::{Engine, Storage};
use sysmon_tsdb::{Labels, Matcher};
use tokio::sync::Semaphore;

pub(crate) use response::ApiError;

/// What the metadata endpoints need beyond the evaluator's [`Storage`].
pub(crate) trait SeriesCatalog: Storage {
    /// Series matching all `matchers` with samples in `start_ms..=end_ms`.
    fn series(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<Labels>, String>;
    /// Label names of the series matching `matchers` (all series when empty), sorted.
    fn label_names(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Result<Vec<String>, String>;
    /// Values of label `name` among the series matching `matchers` (all when empty), sorted.
    fn label_values(&self, name: &str, matchers: &[Matcher], start_ms: i64, end_ms: i64)
    -> Result<Vec<String>, String>;
    /// Caveats gathered while answering (e.g. a region that did not answer: the result is
    /// partial), for Prometheus's `warnings` field.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
    /// Whether answering may wait on other aggregators (a master's fan-out): such a catalog
    /// is only ever read on a blocking thread.
    fn reads_remotely(&self) -> bool {
        false
    }
}

/// Gives each query its own catalog, so that what one query gathers (its warnings) is its own.
pub(crate) trait CatalogSource: Send + Sync {
    /// The catalog for one query.
    fn catalog(&self) -> Arc<dyn SeriesCatalog>;
}

/// One catalog for every query (a catalog that gathers nothing per query).
pub(crate) struct SharedCatalog(pub(crate) Arc<dyn SeriesCatalog>);

impl CatalogSource for SharedCatalog {
    fn catalog(&self) -> Arc<dyn SeriesCatalog> {
        self.0.clone()
    }
}

/// What the API handlers share.
#[derive(Clone)]
pub(crate) struct PromApi {
    pub(crate) catalogs: Arc<dyn CatalogSource>,
    pub(crate) engine: Engine,
    /// One permit per query allowed to run at once.
    pub(crate) query_permits: Arc<Semaphore>,
    /// The limit behind `query_permits`, for its error message.
    pub(crate) max_concurrent_queries: usize,
}

/// The `/api/v1` routes.
pub(crate) fn router(api: PromApi) -> Router {
    Router::new()
        .route("/api/v1/query", get(handlers::query).post(handlers::query))
        .route("/api/v1/query_range", get(handlers::query_range).post(handlers::query_range))
        .route("/api/v1/series", get(handlers::series).post(handlers::series))
        .route("/api/v1/labels", get(handlers::labels).post(handlers::labels))
        .route("/api/v1/label/{name}/values", get(handlers::label_values))
        .route("/api/v1/metadata", get(handlers::metadata))
        .route("/api/v1/status/buildinfo", get(handlers::buildinfo))
        .with_state(api)
}
