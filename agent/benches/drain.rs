//! How fast the agent drains a backlog, and how big its batches are.
//!
//! `cargo bench -p sysmon-agent --bench drain`: collects this machine once (every
//! collector on, as by default; self-metrics included) and prints the batch's size in the spool and how many
//! days of outage a 256 MiB spool holds; then spools 3600 such batches (10 hours at the
//! default 10 s interval), starts an aggregator in this process on loopback (real mutual TLS,
//! real redb store in a temp dir) and times the agent's shipper sending them all until
//! every one is acknowledged as durable. Both share this machine's cores. Not a criterion
//! bench: one drain is seconds long and is the figure.

#![allow(missing_docs, clippy::print_stdout)] // a bench reports on stdout

use std::time::{Duration, Instant};

use sysmon_agent::{AgentSettings, SpoolSettings, SystemPaths, bench_support};
use sysmon_aggregator::{DiscoverySettings, FederationSettings, Limits, QueryLimits, Retention, Role, Settings};
use sysmon_tls::FleetCa;

const BACKLOG: u64 = 3600;
const SPOOL_BYTES: f64 = 256.0 * 1024.0 * 1024.0;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once with no flag: skip then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let host = "bench-host";
    let size = bench_support::measure_collection(host, &SystemPaths::default());
    println!(
        "one collection of this machine: {} samples, protobuf {} bytes, spooled {} bytes (snappy), {} bytes on disk",
        size.samples, size.protobuf_bytes, size.payload_bytes, size.record_bytes
    );
    for interval_s in [10.0, 1.0] {
        let days = SPOOL_BYTES / size.record_bytes as f64 * interval_s / 86400.0;
        println!(
            "256 MiB spool at interval {interval_s}s: {:.0} batches = {days:.1} days of outage",
            SPOOL_BYTES / size.record_bytes as f64
        );
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let certs = dir.path().join("certs");
    let ca = FleetCa::create("bench CA").expect("CA");
    ca.write(&certs).expect("write CA");
    let server = ca.issue_server("localhost", &["127.0.0.1".to_string()], 1).unwrap().write(&certs, "server").unwrap();
    let agent = ca.issue_agent(host, 1).unwrap().write(&certs, "agent").unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let settings = Settings {
            region: "bench".into(),
            data_dir: dir.path().join("aggregator"),
            grpc_listen: "127.0.0.1:0".parse().unwrap(),
            http_listen: "127.0.0.1:0".parse().unwrap(),
            max_group_batches: 512,
            ca_cert: certs.join("ca.pem"),
            cert: server.cert,
            key: server.key,
            limits: Limits::default(),
            retention: Retention::default(),
            query: QueryLimits::default(),
            max_concurrent_queries: 4,
            role: Role::Regional,
            discovery: DiscoverySettings::static_list(Vec::new()),
            federation: FederationSettings::default(),
            alerting: sysmon_aggregator::AlertingSettings::default(),
            recording: sysmon_aggregator::RecordingSettings::default(),
        };
        let aggregator = sysmon_aggregator::start(settings, axum::Router::new()).await.expect("aggregator starts");
        let agent_settings = AgentSettings {
            id: host.into(),
            interval: Duration::from_secs(10),
            spool: SpoolSettings::in_dir(dir.path().join("spool")),
            paths: SystemPaths::default(),
            endpoints: vec![format!("https://{}", aggregator.grpc_addr())],
            discovery: DiscoverySettings::static_list(Vec::new()),
            region: None,
            server_name: Some("localhost".into()),
            failback_interval: Duration::from_secs(60),
            collectors: Default::default(),
            ca_cert: certs.join("ca.pem"),
            cert: agent.cert,
            key: agent.key,
        };
        let fill = Instant::now();
        let spooled = {
            let s = agent_settings.clone();
            tokio::task::spawn_blocking(move || bench_support::fill_spool(&s, BACKLOG)).await.unwrap().unwrap()
        };
        let fill = fill.elapsed();
        println!(
            "spooled {BACKLOG} batches ({spooled} bytes) in {:.2} s: {:.0} appends/s, each fdatasync'ed",
            fill.as_secs_f64(),
            BACKLOG as f64 / fill.as_secs_f64()
        );
        let (sent, took) = bench_support::drain_spool(agent_settings).await.expect("drain");
        let rate = BACKLOG as f64 / took.as_secs_f64();
        println!(
            "drained {BACKLOG} batches ({sent} sent) in {:.2} s: {rate:.0} batches/s = {:.0}x real time at interval 10s, {:.0}x at 1s",
            took.as_secs_f64(),
            rate * 10.0,
            rate
        );
        aggregator.shutdown().await;
    });
}
