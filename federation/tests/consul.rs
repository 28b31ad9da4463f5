//! Consul discovery and announcement against a fake of the Consul agent's HTTP API
//! (`support/consul_fake.rs`, shared with the end-to-end tests).

#[path = "support/consul_fake.rs"]
mod consul_fake;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use consul_fake::{Fake, Shared, TOKEN, start_fake};
use serde_json::json;
use sysmon_federation::{Announcer, Discovery, DiscoveryConfig, DiscoverySettings, Instance, Role};
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(15);

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
    let mut deregistered = state.borrow().deregistered.clone();
    deregistered.sort();
    assert_eq!(deregistered, ["sysmon-agg-eu.example.com-9801", "sysmon-master.example.com-9801"]);
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
