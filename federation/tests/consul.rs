//! Consul discovery and announcement against a fake of the Consul agent's HTTP API.
//!
//! No Consul server can be installed on the machines this project builds on, so this file
//! holds a small fake of the parts sysmon uses, served on 127.0.0.1:0: service register and
//! deregister, TTL check pass (with expiry), and `health/service` with `?passing` and
//! `?dc`. It follows Consul's documented behaviour: a check registered with a service gets
//! the ID given in `CheckID`, starts in the `Status` given, and turns critical when not
//! passed within its TTL.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::{Value, json};
use sysmon_federation::{Announcer, Discovery, DiscoveryConfig, DiscoverySettings, Instance, Role};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(15);
const TOKEN: &str = "t0k3n-for-tests";

#[derive(Debug, Clone)]
struct Registered {
    body: Value,
    check_id: String,
    ttl: Duration,
    status: String,
    passed_at: Instant,
}

#[derive(Debug, Default)]
struct Fake {
    services: BTreeMap<String, Registered>,
    registrations: u32,
    passes: u32,
    health_queries: u32,
    /// Health queries answered with an error while `failing`.
    failed_queries: u32,
    failing: bool,
    /// Requests that came without the expected token.
    untokened: Vec<String>,
    /// The `dc` of every health query.
    datacenters: Vec<Option<String>>,
}

type Shared = watch::Sender<Fake>;

fn check_token(state: &Shared, headers: &HeaderMap, what: &str) {
    if headers.get("x-consul-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        state.send_modify(|f| f.untokened.push(what.to_string()));
    }
}

async fn register(State(state): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> StatusCode {
    check_token(&state, &headers, "register");
    let id = body["ID"].as_str().unwrap_or_default().to_string();
    let check = &body["Check"];
    let ttl = humantime::parse_duration(check["TTL"].as_str().unwrap_or("0s")).unwrap();
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
    state.send_modify(|f| found = f.services.remove(&id).is_some());
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
            let status = if s.passed_at.elapsed() > s.ttl { "critical" } else { s.status.as_str() };
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

/// Starts the fake on 127.0.0.1:0; it stops when `cancel` is cancelled.
async fn start_fake(cancel: CancellationToken) -> (SocketAddr, Shared) {
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

fn settings(addr: SocketAddr) -> DiscoverySettings {
    let text = format!(
        "mode = \"consul\"\nrefresh_interval = \"1s\"\n[consul]\naddress = \"http://{addr}\"\ntoken = \"{TOKEN}\"\ndatacenter = \"dc1\"\n"
    );
    let config: DiscoveryConfig = toml::from_str(&text).unwrap();
    config.validate().unwrap()
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn fake_reaches(state: &Shared, what: &str, mut ready: impl FnMut(&Fake) -> bool) {
    let mut receiver = state.subscribe();
    within(what, receiver.wait_for(|f| ready(f))).await.unwrap();
}

fn regional_eu() -> Instance {
    Instance {
        endpoint: "https://agg-eu.example.com:9801".into(),
        role: Some(Role::Regional),
        region: Some("eu".into()),
        version: Some("0.1.0".into()),
        http_url: Some("http://agg-eu.example.com:9800".into()),
    }
}

fn master_us() -> Instance {
    Instance {
        endpoint: "https://master.example.com:9801".into(),
        role: Some(Role::Master),
        region: Some("us".into()),
        version: Some("0.1.0".into()),
        http_url: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_instances_are_found_with_their_meta_and_critical_ones_are_not() {
    let stop = CancellationToken::new();
    let (addr, state) = start_fake(stop.clone()).await;
    // Another aggregator whose check is critical, registered the way Consul is told.
    let failing = json!({
        "ID": "sysmon-agg-dead-9801", "Name": "sysmon", "Address": "agg-dead.example.com", "Port": 9801,
        "Meta": {"role": "regional", "region": "eu", "version": "0.1.0"},
        "Check": {"CheckID": "service:sysmon-agg-dead-9801", "TTL": "90s", "Status": "critical"},
    });
    let answer = reqwest::Client::new()
        .put(format!("http://{addr}/v1/agent/service/register"))
        .header("X-Consul-Token", TOKEN)
        .json(&failing)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());

    let announce_cancel = CancellationToken::new();
    let regional = Announcer::start(settings(addr), regional_eu(), announce_cancel.clone()).unwrap();
    let master = Announcer::start(settings(addr), master_us(), announce_cancel.clone()).unwrap();
    fake_reaches(&state, "both registrations", |f| f.services.len() == 3).await;
    {
        let fake = state.borrow();
        let registered = &fake.services["sysmon-agg-eu.example.com-9801"];
        assert_eq!(registered.body["Address"], "agg-eu.example.com");
        assert_eq!(registered.body["Port"], 9801);
        assert_eq!(
            registered.body["Meta"],
            json!({"role": "regional", "region": "eu", "version": "0.1.0", "http": "http://agg-eu.example.com:9800"})
        );
        assert_eq!(registered.check_id, "service:sysmon-agg-eu.example.com-9801");
        assert_eq!(registered.ttl, Duration::from_secs(3), "three refresh intervals");
        assert_eq!(registered.body["Check"]["DeregisterCriticalServiceAfter"], "10m");
    }

    let discovery_cancel = CancellationToken::new();
    let discovery = Discovery::start(settings(addr), discovery_cancel.clone()).unwrap();
    let found = within("two instances", discovery.wait_for(|list| list.len() == 2)).await.unwrap();
    assert_eq!(found, [regional_eu(), master_us()]);
    assert_eq!(discovery.endpoints(Role::Regional, Some("eu")), ["https://agg-eu.example.com:9801"]);
    assert_eq!(discovery.endpoints(Role::Master, Some("eu")), ["https://master.example.com:9801"]);

    // Cancelling withdraws both registrations; discovery follows.
    announce_cancel.cancel();
    within("the announcers", async {
        regional.join().await;
        master.join().await;
    })
    .await;
    assert_eq!(state.borrow().services.keys().collect::<Vec<_>>(), ["sysmon-agg-dead-9801"]);
    within("an empty list", discovery.wait_for(<[Instance]>::is_empty)).await.unwrap();

    discovery_cancel.cancel();
    within("discovery to stop", discovery.join()).await;
    let fake = state.borrow();
    assert!(fake.untokened.is_empty(), "requests without X-Consul-Token: {:?}", fake.untokened);
    assert!(fake.datacenters.iter().all(|dc| dc.as_deref() == Some("dc1")), "{:?}", fake.datacenters);
    drop(fake);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ttl_check_is_kept_passing_and_a_forgotten_registration_comes_back() {
    let stop = CancellationToken::new();
    let (addr, state) = start_fake(stop.clone()).await;
    let cancel = CancellationToken::new();
    let announcer = Announcer::start(settings(addr), regional_eu(), cancel.clone()).unwrap();
    // Heartbeats every second keep a 3 s TTL passing well past the TTL.
    fake_reaches(&state, "five heartbeats", |f| f.passes >= 5).await;
    let discovery_cancel = CancellationToken::new();
    let discovery = Discovery::start(settings(addr), discovery_cancel.clone()).unwrap();
    let found = within("the instance", discovery.wait_for(|list| !list.is_empty())).await.unwrap();
    assert_eq!(found, [regional_eu()]);

    // The Consul agent restarts without its state: the next heartbeat gets a 404 and the
    // announcer registers again.
    state.send_modify(|f| f.services.clear());
    fake_reaches(&state, "a second registration", |f| f.registrations >= 2 && f.services.len() == 1).await;

    cancel.cancel();
    within("the announcer", announcer.join()).await;
    assert!(state.borrow().services.is_empty());
    discovery_cancel.cancel();
    within("discovery to stop", discovery.join()).await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_lookup_keeps_the_last_good_list() {
    let stop = CancellationToken::new();
    let (addr, state) = start_fake(stop.clone()).await;
    let cancel = CancellationToken::new();
    let announcer = Announcer::start(settings(addr), master_us(), cancel.clone()).unwrap();
    let discovery_cancel = CancellationToken::new();
    let discovery = Discovery::start(settings(addr), discovery_cancel.clone()).unwrap();
    within("the instance", discovery.wait_for(|list| !list.is_empty())).await.unwrap();

    state.send_modify(|f| f.failing = true);
    fake_reaches(&state, "two failed lookups", |f| f.failed_queries >= 2).await;
    assert_eq!(discovery.instances(), [master_us()]);
    assert_eq!(discovery.endpoints(Role::Master, None), ["https://master.example.com:9801"]);

    state.send_modify(|f| f.failing = false);
    cancel.cancel();
    within("the announcer", announcer.join()).await;
    within("an empty list", discovery.wait_for(<[Instance]>::is_empty)).await.unwrap();
    discovery_cancel.cancel();
    within("discovery to stop", discovery.join()).await;
    stop.cancel();
}
