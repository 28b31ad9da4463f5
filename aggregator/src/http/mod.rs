//! The aggregator's HTTP port: the hosts, events and alerts JSON APIs, health, and `/metrics`.
//! The binary merges the dashboard's routes into the same router.

mod alerts;
mod events;
mod health;
mod hosts;
pub(crate) mod prometheus;
mod remote_write;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::registry::Registry;

use crate::config::Limits;
use crate::error::{DisplayChain, Error};
use crate::metrics::IngestMetrics;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Store,
    pub(crate) registry: Arc<Registry>,
    pub(crate) limits: Arc<Limits>,
    pub(crate) ingest_metrics: Arc<IngestMetrics>,
    /// This aggregator's role, region and (a master's) regions below it.
    pub(crate) federation: Arc<crate::federation::FederationContext>,
    /// The alerting rules' states.
    pub(crate) alerts: Arc<crate::alerting::AlertBook>,
}

/// The API routes.
pub(crate) fn router(state: AppState, prometheus_api: prometheus::PromApi) -> Router {
    Router::new()
        .route(
            "/api/v1/write",
            post(remote_write::write).layer(DefaultBodyLimit::max(crate::ingest::MAX_REMOTE_WRITE_BODY_BYTES)),
        )
        .route("/api/events", get(events::list_events))
        .route("/api/v1/alerts", get(alerts::list_alerts))
        .route("/api/v1/rules", get(alerts::list_rules))
        .route("/api/alerts/history", get(alerts::alert_history))
        .route("/api/hosts", get(hosts::list_hosts))
        .route("/api/regions", get(hosts::list_regions))
        .route("/api/hosts/{host}", get(hosts::show_host))
        .route("/api/hosts/{host}/series", get(hosts::host_series))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .with_state(state)
        .merge(prometheus::router(prometheus_api))
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::json!({ "error": DisplayChain(&self).to_string() });
        (status, Json(body)).into_response()
    }
}
