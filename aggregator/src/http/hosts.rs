//! `/api/hosts`: the host list, one host's inventory and latest values, and one metric of
//! one host over a time range.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::error::{Error, Result};
use crate::registry::{Inventory, now_ms};
use crate::store::{Labels, SeriesPoints};
use crate::summary::{HostSummary, LatestSamples, summarize};

/// Most points one series request may return; ask for a coarser `step` beyond it.
const MAX_POINTS_PER_REQUEST: usize = 1_000_000;

#[derive(Serialize)]
pub(super) struct HostList {
    hosts: Vec<HostSummary>,
}

pub(super) async fn list_hosts(State(state): State<AppState>) -> Result<Json<HostList>> {
    let hosts = state
        .store
        .read(|reader| {
            let now = now_ms();
            let mut rows = Vec::new();
            for (record, last_seen) in reader.hosts()? {
                let latest = LatestSamples::read(reader, reader.host_series(&record.host, None)?)?;
                rows.push(summarize(&record, last_seen, &latest, now));
            }
            rows.sort_by(|a, b| a.host.cmp(&b.host));
            Ok(rows)
        })
        .await?;
    Ok(Json(HostList { hosts }))
}

#[derive(Serialize)]
pub(super) struct HostDetail {
    summary: HostSummary,
    inventory: Inventory,
    interval_ms: u64,
    latest: Vec<LatestValue>,
}

#[derive(Serialize)]
struct LatestValue {
    labels: BTreeMap<String, String>,
    timestamp_ms: i64,
    value: f64,
}

pub(super) async fn show_host(State(state): State<AppState>, Path(host): Path<String>) -> Result<Json<HostDetail>> {
    let detail = state
        .store
        .read(move |reader| {
            let (record, last_seen) = reader.host(&host)?.ok_or_else(|| Error::UnknownHost(host.clone()))?;
            let latest = LatestSamples::read(reader, reader.host_series(&host, None)?)?;
            let summary = summarize(&record, last_seen, &latest, now_ms());
            let mut values: Vec<LatestValue> = latest
                .series
                .into_iter()
                .filter_map(|(labels, samples)| {
                    samples.first().map(|&(timestamp_ms, value)| LatestValue {
                        labels: labels.0.into_iter().collect(),
                        timestamp_ms,
                        value,
                    })
                })
                .collect();
            values.sort_by(|a, b| a.labels.cmp(&b.labels));
            Ok(HostDetail { summary, inventory: record.inventory, interval_ms: record.interval_ms, latest: values })
        })
        .await?;
    Ok(Json(detail))
}

#[derive(Deserialize)]
pub(super) struct SeriesQuery {
    metric: String,
    /// Unix ms; default one hour before `end`.
    start: Option<i64>,
    /// Unix ms; default now.
    end: Option<i64>,
    /// Keep the last sample of each step (ms); default every sample.
    step: Option<i64>,
}

#[derive(Serialize)]
pub(super) struct SeriesResponse {
    metric: String,
    series: Vec<SeriesJson>,
}

#[derive(Serialize)]
struct SeriesJson {
    labels: BTreeMap<String, String>,
    points: Vec<(i64, f64)>,
}

pub(super) async fn host_series(
    State(state): State<AppState>,
    Path(host): Path<String>,
    Query(query): Query<SeriesQuery>,
) -> Result<Json<SeriesResponse>> {
    let end = query.end.unwrap_or_else(now_ms);
    let start = query.start.unwrap_or(end - 3_600_000);
    if start > end {
        return Err(Error::BadRequest(format!("start ({start}) is after end ({end})")));
    }
    if query.step.is_some_and(|s| s <= 0) {
        return Err(Error::BadRequest("step must be a positive number of milliseconds".into()));
    }
    let metric = query.metric.clone();
    let series = state
        .store
        .read(move |reader| {
            if reader.host(&host)?.is_none() {
                return Err(Error::UnknownHost(host));
            }
            let mut out: Vec<SeriesPoints> = Vec::new();
            let mut total = 0;
            for s in reader.host_series(&host, Some(&metric))? {
                let points = reader.points(s.id, start, end, query.step)?;
                total += points.len();
                if total > MAX_POINTS_PER_REQUEST {
                    return Err(Error::BadRequest(format!(
                        "the answer would exceed {MAX_POINTS_PER_REQUEST} points; ask for a larger step or a shorter range"
                    )));
                }
                out.push(SeriesPoints { labels: s.labels, points });
            }
            Ok(out)
        })
        .await?;
    let mut series: Vec<SeriesJson> =
        series.into_iter().map(|s| SeriesJson { labels: to_map(s.labels), points: s.points }).collect();
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Json(SeriesResponse { metric: query.metric, series }))
}

fn to_map(labels: Labels) -> BTreeMap<String, String> {
    labels.0.into_iter().collect()
}
