//! `/healthz`, `/readyz` and `/metrics`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use crate::error::Result;

/// The process is alive.
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// The store answers reads, so the aggregator can serve.
pub(super) async fn readyz(State(state): State<AppState>) -> Result<&'static str> {
    state.store.read(|reader| reader.hosts().map(|_| ())).await?;
    Ok("ready\n")
}

/// The aggregator's own figures in the Prometheus text format.
pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = String::new();
    // Encoding into a String cannot fail: fmt::Write for String is infallible.
    let _ = prometheus_client::encoding::text::encode(&mut text, &state.registry);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
}
