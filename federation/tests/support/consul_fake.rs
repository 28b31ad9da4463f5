//! A small fake of the parts of the Consul agent's HTTP API that sysmon uses, served on
//! 127.0.0.1:0: service register and deregister, TTL check pass (with expiry), and
//! `health/service` with `?passing` and `?dc`.
//!
//! No Consul server can be installed on the machines this project builds on. The fake
//! follows Consul's documented behaviour: a check registered with a service gets the ID
//! given in `CheckID`, starts in the `Status` given, and turns critical when not passed
//! within its TTL.
//!
//! Shared by `federation/tests/consul.rs` and the end-to-end `tests/discovery.rs` (through
//! `tests/util/consul.rs`), which include this file with `#[path]`.
// Each includer reads a different part of what the fake records.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The ACL token clients are expected to send as `X-Consul-Token`.
pub const TOKEN: &str = "t0k3n-for-tests";

/// One registered service, as the fake keeps it.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The registration's JSON body, as sent.
    pub body: Value,
    pub check_id: String,
    pub ttl: Duration,
    pub status: String,
    pub passed_at: Instant,
}

/// Everything the fake holds and has seen.
#[derive(Debug, Default)]
pub struct Fake {
    /// The registered services by ID.
    pub services: BTreeMap<String, Registered>,
    pub registrations: u32,
    /// The IDs of every successful deregistration, in order.
    pub deregistered: Vec<String>,
    pub passes: u32,
    pub health_queries: u32,
    /// Health queries answered with an error while `failing`.
    pub failed_queries: u32,
    pub failing: bool,
    /// Requests that came without the expected token.
    pub untokened: Vec<String>,
    /// The `dc` of every health query.
    pub datacenters: Vec<Option<String>>,
}

/// The fake's state; tests read it with `borrow()`, change it with `send_modify` and wait
/// on it through `subscribe()`.
pub type Shared = watch::Sender<Fake>;

fn check_token(state: &Shared, headers: &HeaderMap, what: &str) {
    if headers.get("x-consul-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        state.send_modify(|f| f.untokened.push(what.to_string()));
    }
}

async fn register(State(state): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> StatusCode {
    check_token(&state, &headers, "register");
    let id = body["ID"].as_str().unwrap_or_default().to_string();
    let check = &body["Check"];
    let Ok(ttl) = humantime::parse_duration(check["TTL"].as_str().unwrap_or("0s")) else {
        return StatusCode::BAD_REQUEST;
    };
    let registered = Registered {
        check_id: check["CheckID"].as_str().map_or_else(|| format!("service:{id}"), str::to_string),
        ttl,
        status: check["Status"].as_str().unwrap_or("critical").to_string(),
        passed_at: Instant::now(),
        body,
    };
    state.send_modify(|f| {
        f.registrations += 1;
        f.services.insert(id, registered);
    });
    StatusCode::OK
}

async fn deregister(State(state): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> StatusCode {
    check_token(&state, &headers, "deregister");
    let mut found = false;
    state.send_modify(|f| {
        found = f.services.remove(&id).is_some();
        if found {
            f.deregistered.push(id.clone());
        }
    });
    if found { StatusCode::OK } else { StatusCode::NOT_FOUND }
}

async fn pass(State(state): State<Shared>, headers: HeaderMap, Path(check_id): Path<String>) -> StatusCode {
    check_token(&state, &headers, "pass");
    let mut found = false;
    state.send_modify(|f| {
        f.passes += 1;
        if let Some(service) = f.services.values_mut().find(|s| s.check_id == check_id) {
            service.status = "passing".into();
            service.passed_at = Instant::now();
            found = true;
        }
    });
    if found { StatusCode::OK } else { StatusCode::NOT_FOUND }
}

#[derive(Deserialize)]
struct HealthQuery {
    passing: Option<String>,
    dc: Option<String>,
}

/// The status of `service`'s check now: critical once its TTL passed without a heartbeat.
pub fn status_now(service: &Registered) -> &str {
    if service.passed_at.elapsed() > service.ttl { "critical" } else { service.status.as_str() }
}

async fn health(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<HealthQuery>,
) -> Result<Json<Value>, StatusCode> {
    check_token(&state, &headers, "health");
    let mut failing = false;
    state.send_modify(|f| {
        f.health_queries += 1;
        f.datacenters.push(query.dc.clone());
        failing = f.failing;
        if failing {
            f.failed_queries += 1;
        }
    });
    if failing {
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let only_passing = query.passing.is_some_and(|p| p != "false");
    let fake = state.borrow();
    let entries: Vec<Value> = fake
        .services
        .values()
        .filter(|s| s.body["Name"] == name.as_str())
        .filter_map(|s| {
            let status = status_now(s);
            (!only_passing || status == "passing").then(|| {
                json!({
                    "Node": {"Node": "fake-node", "Address": "127.0.0.1", "Datacenter": "dc1"},
                    "Service": {
                        "ID": s.body["ID"], "Service": s.body["Name"], "Address": s.body["Address"],
                        "Port": s.body["Port"], "Meta": s.body["Meta"], "Tags": s.body["Tags"],
                    },
                    "Checks": [{"CheckID": s.check_id, "Status": status}],
                })
            })
        })
        .collect();
    Ok(Json(Value::Array(entries)))
}

/// Starts the fake on 127.0.0.1:0 in the current tokio runtime; it stops when `cancel` is
/// cancelled.
pub async fn start_fake(cancel: CancellationToken) -> (SocketAddr, Shared) {
    let (state, _) = watch::channel(Fake::default());
    let app = Router::new()
        .route("/v1/agent/service/register", put(register))
        .route("/v1/agent/service/deregister/{id}", put(deregister))
        .route("/v1/agent/check/pass/{check_id}", put(pass))
        .route("/v1/health/service/{name}", get(health))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).with_graceful_shutdown(cancel.cancelled_owned()).await.unwrap();
    });
    (addr, state)
}
