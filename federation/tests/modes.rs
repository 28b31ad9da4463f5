//! The modes without metadata or daemons: a static list comes back exactly as configured,
//! static and DNS SRV announce nothing, and no mode but "mdns" ever starts mdns-sd's
//! daemon (whose start joins the multicast group on every interface that is up).

use std::time::Duration;

use sysmon_federation::{Announcer, Discovery, DiscoveryConfig, DiscoverySettings, Instance, Role};
use tokio_util::sync::CancellationToken;

fn settings(text: &str) -> DiscoverySettings {
    let config: DiscoveryConfig = toml::from_str(text).unwrap();
    config.validate().unwrap()
}

/// Threads of this process named as mdns-sd names its daemon's.
fn mdns_daemon_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .filter(|name| name.trim() == "mDNS_daemon")
        .count()
}

fn me() -> Instance {
    Instance {
        endpoint: "https://agg-1.example.com:9801".into(),
        role: Some(Role::Regional),
        region: Some("eu".into()),
        version: Some("0.1.0".into()),
        http_url: None,
    }
}

#[tokio::test]
async fn a_static_list_is_every_endpoint_in_the_order_given() {
    let list = ["https://agg-2.example.com:9801", "https://agg-1.example.com:9801", "https://[fd00::3]:9801"];
    let cancel = CancellationToken::new();
    let discovery =
        Discovery::start(settings(&format!("mode = \"static\"\nstatic_endpoints = {list:?}\n")), cancel.clone())
            .unwrap();
    assert_eq!(discovery.instances(), list.map(Instance::bare));
    for (want, region) in [(Role::Regional, Some("eu")), (Role::Master, None)] {
        assert_eq!(discovery.endpoints(want, region), list, "{want} {region:?}");
    }
    let now = tokio::time::timeout(Duration::from_secs(1), discovery.wait_for(|l| l.len() == 3)).await.unwrap();
    assert_eq!(now.unwrap().len(), 3);
    // A static list never changes, so waiting for another one ends at once, with nothing.
    assert_eq!(discovery.wait_for(<[Instance]>::is_empty).await, None);
    cancel.cancel();
    discovery.join().await;
}

#[tokio::test]
async fn static_and_dns_srv_announce_nothing() {
    for text in ["mode = \"static\"\n", "mode = \"dns_srv\"\n"] {
        let cancel = CancellationToken::new();
        let announcer = Announcer::start(settings(text), me(), cancel.clone()).unwrap();
        // Nothing runs: joining returns at once, cancelled or not.
        tokio::time::timeout(Duration::from_secs(1), announcer.join()).await.unwrap();
    }
}

#[tokio::test]
async fn an_announced_endpoint_must_be_https_host_port() {
    let bad = Instance { endpoint: "http://agg-1.example.com:9801".into(), ..me() };
    let err = Announcer::start(settings("mode = \"static\"\n"), bad, CancellationToken::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot announce: \"http://agg-1.example.com:9801\" must start with https:// (aggregators only speak mutual TLS)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_mode_but_mdns_starts_the_mdns_daemon() {
    let cancel = CancellationToken::new();
    let mut running = Vec::new();
    // Nothing listens on these: lookups and registrations fail, and are retried.
    for text in [
        "mode = \"static\"\nstatic_endpoints = [\"https://agg:9801\"]\n",
        "mode = \"consul\"\nrefresh_interval = \"1s\"\n[consul]\naddress = \"http://127.0.0.1:1\"\n",
        "mode = \"dns_srv\"\nrefresh_interval = \"1s\"\n[dns_srv]\nresolver = \"127.0.0.1:1\"\n",
    ] {
        running.push(Discovery::start(settings(text), cancel.clone()).unwrap());
        let announcer = Announcer::start(settings(text), me(), cancel.clone()).unwrap();
        assert_eq!(mdns_daemon_threads(), 0, "{text}");
        drop(announcer);
    }
    cancel.cancel();
    for discovery in running {
        tokio::time::timeout(Duration::from_secs(15), discovery.join()).await.unwrap();
    }
}
