//! The `/api/v1` handlers. Queries run at most `max_concurrent_queries` at once; the others
//! wait for a slot up to the query timeout. A query that may read much runs on a blocking
//! thread (evaluation is CPU work); a small one, by the bound the engine finds before running
//! it ([`Engine::range_cost`]), runs on the worker that received it (see [`INLINE_MAX_COST`]).

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use sysmon_promql::{Engine, QueryLimits, QueryResult};
use sysmon_tsdb::Matcher;

use super::params::{MAX_TIME_MS, MIN_TIME_MS, Params, parse_duration};
use super::response::{ApiError, push_labels, query_success, string_list, success};
use super::{PromApi, SeriesCatalog};
use crate::registry::now_ms;

/// Prometheus refuses range queries with more points per series than this.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// The largest [`Engine::range_cost`] (series-milliseconds read) of a query evaluated on the
/// async worker that received it rather than on a blocking thread: one series over a day, or
/// 24 over an hour. At a 10 s interval that is 8,640 samples, a fraction of a millisecond to
/// read and evaluate (query (a) of `benches/compare.sh`, 2,160 of them, takes about 0.1 ms);
/// at the agent's shortest interval, 1 s, a few milliseconds. Handing a query to a blocking
/// thread and its result back costs two thread wake-ups, and on an idle machine each is worth
/// more than such a query's evaluation.
const INLINE_MAX_COST: u64 = 86_400_000;

/// `/api/v1/query`: `query`, `time` (default now), `timeout`.
pub(crate) async fn query(State(api): State<PromApi>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let params = Params::parse(raw.as_deref(), &body);
    respond(instant(api, params).await)
}

async fn instant(api: PromApi, params: Params) -> Result<Response, ApiError> {
    let text = params.get("query").unwrap_or_default().to_string();
    let time_ms = params.time_or("time", now_ms())?;
    let engine = with_timeout(&api.engine, &params)?;
    let cost = engine.instant_cost(api.catalogs.catalog().as_ref(), &text, time_ms);
    let result =
        run_query(&api, engine.limits().timeout, cost, move |catalog| engine.instant(catalog, &text, time_ms)).await?;
    Ok(query_success(&result.value, &result.warnings))
}

/// `/api/v1/query_range`: `query`, `start`, `end`, `step`, `timeout`.
pub(crate) async fn query_range(State(api): State<PromApi>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let params = Params::parse(raw.as_deref(), &body);
    respond(range(api, params).await)
}

async fn range(api: PromApi, params: Params) -> Result<Response, ApiError> {
    let text = params.get("query").unwrap_or_default().to_string();
    let required_time = |key: &str| match params.get(key) {
        Some(_) => params.time_or(key, 0),
        None => Err(ApiError::bad_data(format!("invalid parameter {key:?}: cannot parse \"\" to a valid timestamp"))),
    };
    let start_ms = required_time("start")?;
    let end_ms = required_time("end")?;
    if end_ms < start_ms {
        return Err(ApiError::bad_data("invalid parameter \"end\": end timestamp must not be before start time"));
    }
    let step_ms = params.duration("step")?;
    if step_ms <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end_ms - start_ms) / step_ms > MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let engine = with_timeout(&api.engine, &params)?;
    let cost = engine.range_cost(api.catalogs.catalog().as_ref(), &text, start_ms, end_ms, step_ms);
    let result = run_query(&api, engine.limits().timeout, cost, move |catalog| {
        engine.range(catalog, &text, start_ms, end_ms, step_ms)
    })
    .await?;
    Ok(query_success(&result.value, &result.warnings))
}

/// The engine, with the request's `timeout` when it is shorter than the configured one.
fn with_timeout(engine: &Engine, params: &Params) -> Result<Engine, ApiError> {
    let Some(text) = params.get("timeout").filter(|t| !t.is_empty()) else { return Ok(engine.clone()) };
    let ms = parse_duration(text)
        .map_err(|reason| ApiError::bad_data(format!("invalid parameter \"timeout\": {reason}")))?;
    let requested = Duration::from_millis(ms.max(1) as u64);
    if requested >= engine.limits().timeout {
        return Ok(engine.clone());
    }
    Ok(engine.clone().with_limits(QueryLimits { timeout: requested, ..engine.limits().clone() }))
}

/// Waits for a query slot, then evaluates: here when the query's `cost` is known to be at
/// most [`INLINE_MAX_COST`], otherwise on a blocking thread.
async fn run_query<F>(api: &PromApi, timeout: Duration, cost: Option<u64>, evaluate: F) -> Result<QueryResult, ApiError>
where
    F: FnOnce(&dyn SeriesCatalog) -> sysmon_promql::Result<QueryResult> + Send + 'static,
{
    let permit = tokio::time::timeout(timeout, api.query_permits.clone().acquire_owned())
        .await
        .map_err(|_| {
            ApiError::unavailable(format!(
                "no query slot free within the query timeout; limit max_concurrent_queries = {}",
                api.max_concurrent_queries
            ))
        })?
        .map_err(|_| ApiError::unavailable("the aggregator is shutting down"))?;
    let catalog = api.catalogs.catalog();
    // A catalog that reads from other aggregators waits on the network: never on a worker.
    if cost.is_some_and(|cost| cost <= INLINE_MAX_COST) && !catalog.reads_remotely() {
        let _permit = permit;
        return evaluate(catalog.as_ref()).map_err(ApiError::from);
    }
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut result = evaluate(catalog.as_ref())?;
        result.warnings.extend(catalog.warnings());
        Ok::<_, sysmon_promql::Error>(result)
    })
    .await
    .map_err(|e| ApiError::internal(format!("query evaluation failed: {e}")))?;
    result.map_err(ApiError::from)
}

/// `/api/v1/series`: `match[]` (at least one), `start`, `end`.
pub(crate) async fn series(State(api): State<PromApi>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let params = Params::parse(raw.as_deref(), &body);
    respond(find_series(api, params).await)
}

async fn find_series(api: PromApi, params: Params) -> Result<Response, ApiError> {
    let selectors = params.selectors()?;
    if selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let (start_ms, end_ms) = (params.time_or("start", MIN_TIME_MS)?, params.time_or("end", MAX_TIME_MS)?);
    let data = catalog_call(&api, move |catalog| {
        let mut all = BTreeSet::new();
        for matchers in &selectors {
            all.extend(catalog.series(matchers, start_ms, end_ms)?);
        }
        let mut out = vec![b'['];
        for (i, labels) in all.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_labels(&mut out, labels);
        }
        out.push(b']');
        Ok(out)
    })
    .await?;
    Ok(success(&data, &[]))
}

/// `/api/v1/labels`: optional `match[]`, `start`, `end`.
pub(crate) async fn labels(State(api): State<PromApi>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let params = Params::parse(raw.as_deref(), &body);
    respond(label_names(api, params).await)
}

async fn label_names(api: PromApi, params: Params) -> Result<Response, ApiError> {
    let selectors = selectors_or_all(&params)?;
    let (start_ms, end_ms) = (params.time_or("start", MIN_TIME_MS)?, params.time_or("end", MAX_TIME_MS)?);
    let data = catalog_call(&api, move |catalog| {
        let mut names = BTreeSet::new();
        for matchers in &selectors {
            names.extend(catalog.label_names(matchers, start_ms, end_ms)?);
        }
        Ok(string_list(names.iter().map(String::as_str)))
    })
    .await?;
    Ok(success(&data, &[]))
}

/// `/api/v1/label/{name}/values`: optional `match[]`, `start`, `end`.
pub(crate) async fn label_values(
    State(api): State<PromApi>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw.as_deref(), &[]);
    respond(values_of(api, name, params).await)
}

async fn values_of(api: PromApi, name: String, params: Params) -> Result<Response, ApiError> {
    if !crate::ingest::is_label_name(&name) {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let selectors = selectors_or_all(&params)?;
    let (start_ms, end_ms) = (params.time_or("start", MIN_TIME_MS)?, params.time_or("end", MAX_TIME_MS)?);
    let data = catalog_call(&api, move |catalog| {
        let mut values = BTreeSet::new();
        for matchers in &selectors {
            values.extend(catalog.label_values(&name, matchers, start_ms, end_ms)?);
        }
        Ok(string_list(values.iter().map(String::as_str)))
    })
    .await?;
    Ok(success(&data, &[]))
}

/// `match[]` selectors, or one empty selector meaning "every series".
fn selectors_or_all(params: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let selectors = params.selectors()?;
    Ok(if selectors.is_empty() { vec![Vec::new()] } else { selectors })
}

async fn catalog_call<F>(api: &PromApi, call: F) -> Result<Vec<u8>, ApiError>
where
    F: FnOnce(&dyn SeriesCatalog) -> Result<Vec<u8>, String> + Send + 'static,
{
    let catalog = api.catalogs.catalog();
    tokio::task::spawn_blocking(move || call(catalog.as_ref()))
        .await
        .map_err(|e| ApiError::internal(format!("lookup failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("storage error: {e}")))
}

/// `/api/v1/metadata`: sysmon keeps no metric metadata (types, help) yet; an empty map is
/// what Prometheus answers when it has none.
pub(crate) async fn metadata() -> Response {
    success(b"{}", &[])
}

/// `/api/v1/status/buildinfo`: `version` is the Prometheus API level sysmon follows (what
/// Grafana reads to pick features); `application` and `sysmonVersion` say what it really is.
pub(crate) async fn buildinfo() -> Response {
    let data = format!(
        "{{\"version\":\"2.42.0\",\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":\"\",\"application\":\"sysmon\",\"sysmonVersion\":\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    success(data.as_bytes(), &[])
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(axum::response::IntoResponse::into_response)
}
