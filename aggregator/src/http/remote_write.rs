//! `POST /api/v1/write`: Prometheus remote_write 1.0. Answers 204 once every accepted
//! sample is durable; 400 (which Prometheus does not retry) naming the first problem when
//! the body is unreadable or some series or samples were refused (the rest is stored);
//! 503 (which Prometheus retries) when the store cannot take the samples now.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sysmon_tsdb::CommitOutcome;
use tracing::{debug, warn};

use super::AppState;
use crate::error::DisplayChain;
use crate::ingest::decode_remote_write;
use crate::registry::now_ms;

pub(super) async fn write(State(state): State<AppState>, body: Bytes) -> Response {
    state.ingest_metrics.remote_write_requests.inc();
    let decoded = match decode_remote_write(&body, &state.limits, now_ms()) {
        Ok(decoded) => decoded,
        Err(problem) => {
            warn!(error = %problem, "remote_write request refused");
            return (StatusCode::BAD_REQUEST, format!("remote_write refused: {problem}\n")).into_response();
        }
    };
    if decoded.refused_series > 0 {
        state.ingest_metrics.remote_write_refused_series.inc_by(decoded.refused_series as u64);
        warn!(series = decoded.refused_series, samples = decoded.refused_samples, first = ?decoded.first_problem, "remote_write series refused");
    }
    let mut out_of_order = 0;
    if !decoded.samples.is_empty() {
        // Holding the request while the engine's queues drain is the backpressure remote_write
        // has: Prometheus sends the next request of a shard only after this one is answered.
        if state.store.wait_for_room(decoded.samples.len()).await {
            state.ingest_metrics.backpressure_waits.inc();
        }
        match state.store.write_samples(decoded.series, decoded.samples).await {
            Ok(Ok(CommitOutcome::Stored { appended, out_of_order: late, .. })) => {
                state.ingest_metrics.stored_samples.inc_by(appended as u64);
                state.ingest_metrics.out_of_order_samples.inc_by(late as u64);
                out_of_order = late;
            }
            Ok(Ok(CommitOutcome::Replay)) => {}
            Ok(Err(err)) => {
                let err = crate::error::Error::StoreBatch(Box::new(err));
                warn!(error = %DisplayChain(&err), "remote_write samples not stored; the sender will retry");
                return (StatusCode::SERVICE_UNAVAILABLE, format!("{}\n", DisplayChain(&err))).into_response();
            }
            Err(_) => return (StatusCode::SERVICE_UNAVAILABLE, "the aggregator is shutting down\n").into_response(),
        }
    }
    if let Some(problem) = decoded.first_problem {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "{} series ({} samples) refused, the rest stored; the first: {problem}\n",
                decoded.refused_series, decoded.refused_samples
            ),
        )
            .into_response();
    }
    if out_of_order > 0 {
        return (
            StatusCode::BAD_REQUEST,
            format!("{out_of_order} samples were older than their series' newest sample and were dropped (out of order); the rest stored\n"),
        )
            .into_response();
    }
    debug!("remote_write request stored");
    StatusCode::NO_CONTENT.into_response()
}
