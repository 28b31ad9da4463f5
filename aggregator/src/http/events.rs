//! `/api/events`: agent events (heavy users, spool drops, ...), newest first, by host, kind
//! and time; and the recent events of one host for `/api/hosts/HOST`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::error::{Error, Result};
use crate::registry::now_ms;
use crate::store::{EventQuery, MAX_EVENTS_PER_QUERY, Store, StoredEvent};

/// Events listed when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;
/// Events `/api/hosts/HOST` shows.
pub(super) const HOST_RECENT_EVENTS: usize = 20;

/// The query string of `/api/events`.
#[derive(Debug, Deserialize)]
pub(super) struct EventsParams {
    /// Only this host's events.
    host: Option<String>,
    /// Only events of this kind.
    kind: Option<String>,
    /// Events at or after: unix ms, or a duration before now like `1h` [default: all kept].
    since: Option<String>,
    /// Events at or before: unix ms, or a duration before now [default: now and later].
    until: Option<String>,
    /// Most events returned, 1 to 1000 [default: 100].
    limit: Option<usize>,
}

/// An event as the API shows it.
#[derive(Debug, Serialize)]
pub(super) struct EventJson {
    host: String,
    time_ms: i64,
    kind: String,
    message: String,
    attributes: BTreeMap<String, String>,
    /// The seq of the batch that brought it.
    seq: u64,
    received_ms: i64,
}

impl From<StoredEvent> for EventJson {
    fn from(e: StoredEvent) -> Self {
        EventJson {
            host: e.host,
            time_ms: e.time_ms,
            kind: e.kind,
            message: e.message,
            attributes: e.attributes.into_iter().collect(),
            seq: e.seq,
            received_ms: e.received_ms,
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct EventList {
    events: Vec<EventJson>,
}

pub(super) async fn list_events(
    State(state): State<AppState>,
    Query(params): Query<EventsParams>,
) -> Result<Json<EventList>> {
    let now = now_ms();
    let since_ms = params.since.as_deref().map(|s| time_param("since", s, now)).transpose()?.unwrap_or(i64::MIN);
    let until_ms = params.until.as_deref().map(|s| time_param("until", s, now)).transpose()?.unwrap_or(i64::MAX);
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_EVENTS_PER_QUERY).contains(&limit) {
        return Err(Error::BadRequest(format!("limit must be from 1 to {MAX_EVENTS_PER_QUERY}, got {limit}")));
    }
    let query = EventQuery {
        host: params.host.filter(|h| !h.is_empty()),
        kind: params.kind.filter(|k| !k.is_empty()),
        since_ms,
        until_ms,
        limit,
    };
    let events = state.store.read(move |store| store.events(&query)).await?;
    Ok(Json(EventList { events: events.into_iter().map(EventJson::from).collect() }))
}

/// The newest events of `host`. Blocking.
pub(super) fn recent_for_host(store: &Store, host: &str) -> Result<Vec<EventJson>> {
    let query = EventQuery {
        host: Some(host.to_string()),
        kind: None,
        since_ms: i64::MIN,
        until_ms: i64::MAX,
        limit: HOST_RECENT_EVENTS,
    };
    Ok(store.events(&query)?.into_iter().map(EventJson::from).collect())
}

/// A time parameter: unix milliseconds, or a duration before `now_ms` like `90m`.
fn time_param(name: &str, value: &str, now_ms: i64) -> Result<i64> {
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(ms);
    }
    match humantime::parse_duration(value) {
        Ok(ago) => Ok(now_ms.saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX))),
        Err(_) => Err(Error::BadRequest(format!(
            "{name} must be unix milliseconds or a duration before now like 1h, got {value:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_params_are_ms_or_durations_ago() {
        assert_eq!(time_param("since", "1700000000000", 5).unwrap(), 1_700_000_000_000);
        assert_eq!(time_param("since", "1h", 4_000_000).unwrap(), 4_000_000 - 3_600_000);
        assert_eq!(
            time_param("since", "yesterday", 0).unwrap_err().to_string(),
            "since must be unix milliseconds or a duration before now like 1h, got \"yesterday\""
        );
    }
}
