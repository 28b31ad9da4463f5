//! `/api/hosts`: the host list (filtered by region and status), one host's inventory,
//! latest values and recent events, and one metric of one host over a time range;
//! `/api/regions`: the regions this aggregator sees and whether they are reachable.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use sysmon_tsdb::Labels;

use super::AppState;
use crate::error::{Error, Result};
use crate::federation::{FederationContext, Reachability};
use crate::registry::{HostRecord, HostStatus};
use crate::registry::{Inventory, now_ms};
use crate::store::Store;
use crate::summary::{HostSummary, LatestSamples, summarize};

/// How far before a host's last-seen time its latest values are looked for, at least.
const LATEST_LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// Most points one series request may return; ask for a coarser `step` beyond it.
const MAX_POINTS_PER_REQUEST: usize = 1_000_000;

#[derive(Serialize)]
pub(super) struct HostList {
    hosts: Vec<HostSummary>,
}

#[derive(Deserialize)]
pub(super) struct HostFilter {
    /// Only hosts of this region.
    region: Option<String>,
    /// Only hosts with one of these statuses, comma-separated.
    status: Option<String>,
}

pub(super) async fn list_hosts(
    State(state): State<AppState>,
    Query(filter): Query<HostFilter>,
) -> Result<Json<HostList>> {
    let statuses = match &filter.status {
        Some(text) => Some(
            text.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| match s {
                    "up" => Ok(HostStatus::Up),
                    "stale" => Ok(HostStatus::Stale),
                    "down" => Ok(HostStatus::Down),
                    "unknown" => Ok(HostStatus::Unknown),
                    other => {
                        Err(Error::BadRequest(format!("status must be up, stale, down or unknown, got {other:?}")))
                    }
                })
                .collect::<Result<Vec<_>>>()?,
        ),
        None => None,
    };
    let federation = state.federation.clone();
    let hosts = state
        .store
        .read(move |store| {
            let now = now_ms();
            let mut rows = Vec::new();
            for (record, last_seen) in store.hosts()? {
                if filter.region.as_ref().is_some_and(|r| *r != record.region) {
                    continue;
                }
                let status = host_status(&federation, &record, last_seen, now);
                if statuses.as_ref().is_some_and(|s| !s.contains(&status)) {
                    continue;
                }
                let latest = latest_samples(store, &federation, &record, last_seen, now)?;
                let mut row = summarize(&record, last_seen, &latest, now);
                row.status = status;
                rows.push(row);
            }
            rows.sort_by(|a, b| a.host.cmp(&b.host));
            Ok(rows)
        })
        .await?;
    Ok(Json(HostList { hosts }))
}

/// A host's status: from when it was last seen, as of now for this aggregator's own hosts;
/// at a master, as of when the host's region last spoke, and unknown when the region is
/// unreachable (nobody here can say whether the host is down).
fn host_status(federation: &FederationContext, record: &HostRecord, last_seen: i64, now: i64) -> HostStatus {
    let Some(regions) = &federation.regions else { return HostStatus::of(last_seen, record.interval_ms, now) };
    match regions.region(&record.region, now) {
        Some((state, Reachability::Reachable)) => {
            // The host's last-seen time is as fresh as the region's last batch: judge it then.
            HostStatus::of(last_seen, record.interval_ms, state.last_heard_ms.max(last_seen))
        }
        Some((_, Reachability::Unreachable | Reachability::Local)) | None => HostStatus::Unknown,
    }
}

/// The newest samples of each series of a host, looking back from when it was last seen
/// (so a host that went down still shows its last values). At a master, which holds other
/// aggregators' hosts as 1-minute rollups, each bucket's last sample stands for it.
fn latest_samples(
    store: &Store,
    federation: &FederationContext,
    record: &HostRecord,
    last_seen: i64,
    now: i64,
) -> Result<LatestSamples> {
    let lookback = (3 * record.interval_ms as i64).max(LATEST_LOOKBACK_MS);
    let (start, end) = (last_seen - lookback, last_seen.max(now));
    let series = if federation.regions.is_some() {
        store.host_rollup_series(&record.host, start, end)?
    } else {
        store.host_series(&record.host, None, start, end)?
    };
    Ok(LatestSamples::from_series(series))
}

#[derive(Serialize)]
pub(super) struct RegionList {
    role: &'static str,
    regions: Vec<RegionRow>,
}

#[derive(Serialize)]
struct RegionRow {
    region: String,
    status: Reachability,
    last_heard_ms: i64,
    complete_before_ms: Option<i64>,
    hosts: usize,
    via: Option<String>,
    /// The series selectors the region replicates to this master (empty: every series).
    #[serde(skip_serializing_if = "Option::is_none")]
    replicate: Option<Vec<String>>,
}

pub(super) async fn list_regions(State(state): State<AppState>) -> Result<Json<RegionList>> {
    let federation = state.federation.clone();
    let list = state
        .store
        .read(move |store| {
            let now = now_ms();
            let hosts = store.hosts()?;
            let count = |region: &str| hosts.iter().filter(|(r, _)| r.region == region).count();
            let regions = match &federation.regions {
                Some(directory) => directory
                    .regions(now)
                    .into_iter()
                    .map(|(s, status)| RegionRow {
                        hosts: count(&s.region),
                        region: s.region,
                        status,
                        last_heard_ms: s.last_heard_ms,
                        complete_before_ms: Some(s.complete_before_ms),
                        via: Some(s.via),
                        replicate: Some(s.replicate),
                    })
                    .collect(),
                None => vec![RegionRow {
                    hosts: count(&federation.region),
                    region: federation.region.clone(),
                    status: Reachability::Local,
                    last_heard_ms: now,
                    complete_before_ms: None,
                    via: None,
                    replicate: None,
                }],
            };
            Ok(RegionList { role: federation.role.as_str(), regions })
        })
        .await?;
    Ok(Json(list))
}

#[derive(Serialize)]
pub(super) struct HostDetail {
    summary: HostSummary,
    inventory: Inventory,
    interval_ms: u64,
    latest: Vec<LatestValue>,
    /// The host's newest agent events, newest first.
    events: Vec<super::events::EventJson>,
}

#[derive(Serialize)]
struct LatestValue {
    labels: BTreeMap<String, String>,
    timestamp_ms: i64,
    value: f64,
}

pub(super) async fn show_host(State(state): State<AppState>, Path(host): Path<String>) -> Result<Json<HostDetail>> {
    let federation = state.federation.clone();
    let detail = state
        .store
        .read(move |store| {
            let (record, last_seen) = store.host(&host)?.ok_or_else(|| Error::UnknownHost(host.clone()))?;
            let now = now_ms();
            let latest = latest_samples(store, &federation, &record, last_seen, now)?;
            let mut summary = summarize(&record, last_seen, &latest, now);
            summary.status = host_status(&federation, &record, last_seen, now);
            let mut values: Vec<LatestValue> = latest
                .series
                .into_iter()
                .filter_map(|(labels, samples)| {
                    samples.first().map(|&(timestamp_ms, value)| LatestValue {
                        labels: labels.into_pairs().into_iter().collect(),
                        timestamp_ms,
                        value,
                    })
                })
                .collect();
            values.sort_by(|a, b| a.labels.cmp(&b.labels));
            let events = super::events::recent_for_host(store, &record.host)?;
            Ok(HostDetail {
                summary,
                inventory: record.inventory,
                interval_ms: record.interval_ms,
                latest: values,
                events,
            })
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
        .read(move |store| {
            if store.host(&host)?.is_none() {
                return Err(Error::UnknownHost(host));
            }
            let series = store.host_series(&host, Some(&metric), start, end)?;
            let total: usize = series.iter().map(|s| s.samples.len()).sum();
            if query.step.is_none() && total > MAX_POINTS_PER_REQUEST {
                return Err(Error::BadRequest(format!(
                    "the answer would exceed {MAX_POINTS_PER_REQUEST} points; ask for a larger step or a shorter range"
                )));
            }
            Ok(series
                .into_iter()
                .map(|s| SeriesJson { labels: to_map(s.labels), points: thin(s.samples, query.step) })
                .collect::<Vec<_>>())
        })
        .await?;
    let mut series = series;
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Json(SeriesResponse { metric: query.metric, series }))
}

fn to_map(labels: Labels) -> BTreeMap<String, String> {
    labels.into_pairs().into_iter().collect()
}

/// With a step, only the last sample of each step-aligned bucket; stale markers never.
fn thin(samples: Vec<(i64, f64)>, step_ms: Option<i64>) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(samples.len());
    let bucket = |t: i64| step_ms.map(|s| t.div_euclid(s));
    for point in samples.into_iter().filter(|(_, v)| !sysmon_tsdb::is_stale_marker(*v)) {
        match out.last_mut() {
            Some(last) if step_ms.is_some() && bucket(last.0) == bucket(point.0) => *last = point,
            _ => out.push(point),
        }
    }
    out
}
