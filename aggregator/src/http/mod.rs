//! The aggregator's HTTP port: the hosts JSON API, health, and `/metrics`. The binary
//! merges the dashboard's routes into the same router.

mod health;
mod hosts;
// Wired into the router with the tsdb engine (#3); until then only its unit tests use it.
#[allow(dead_code)]
pub(crate) mod prometheus;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

use crate::error::{DisplayChain, Error};
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Store,
    pub(crate) registry: Arc<Registry>,
}

/// The API routes.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/hosts", get(hosts::list_hosts))
        .route("/api/hosts/{host}", get(hosts::show_host))
        .route("/api/hosts/{host}/series", get(hosts::host_series))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .with_state(state)
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::json!({ "error": DisplayChain(&self).to_string() });
        (status, Json(body)).into_response()
    }
}
