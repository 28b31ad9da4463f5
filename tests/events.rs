//! Agent events are stored exactly once and durably: a batch's events are on disk before the
//! batch is acknowledged (an aggregator killed right after the ack still has them), a
//! replayed batch does not store them again, nor does an agent that sends an event again
//! after a restart; `/api/events` filters by host, kind and time, `/api/hosts/HOST` shows
//! them, and `sysmon events` lists them.

mod util;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sysmon_proto::ingest_client::IngestClient;
use sysmon_proto::v1::{self, agent_message, aggregator_message};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use util::{Aggregator, Fleet, http_get, run_ok};

const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
const HOST: &str = "eventful";

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn event(time_ms: i64, kind: &str, user: &str) -> v1::Event {
    v1::Event {
        time_ms,
        kind: kind.into(),
        message: format!("{kind} of {user}"),
        attributes: vec![
            v1::Label { name: "user".into(), value: user.into() },
            v1::Label { name: "resource".into(), value: "cpu".into() },
        ],
    }
}

/// A batch of one sample at `t` carrying `events`.
fn batch(seq: u64, t: i64, events: Vec<v1::Event>) -> v1::Batch {
    v1::Batch {
        seq,
        strings: vec!["__name__".into(), "event_test".into()],
        series: vec![v1::Series { labels: vec![0, 1] }],
        samples: Some(v1::Samples { series: vec![0], timestamps_ms: vec![t], values: vec![seq as f64] }),
        events,
        ..Default::default()
    }
}

/// Opens an Ingest stream as agent HOST, sends `batches` and waits for the ack of each.
async fn send(fleet: &Fleet, aggregator: &Aggregator, batches: Vec<v1::Batch>) {
    let certs = fleet.certs();
    let read = |name: &str| std::fs::read(certs.join(name)).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem")))
        .identity(Identity::from_pem(read(&format!("agent-{HOST}.pem")), read(&format!("agent-{HOST}-key.pem"))))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://{}", aggregator.grpc))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(8);
    let hello = v1::Hello {
        agent_id: HOST.into(),
        agent_version: "test".into(),
        inventory: None,
        highest_seq: batches.iter().map(|b| b.seq).max().unwrap_or(0),
        interval_ms: 1000,
        ..Default::default()
    };
    tx.send(v1::AgentMessage { kind: Some(agent_message::Kind::Hello(hello)) }).await.unwrap();
    let mut inbound = IngestClient::new(channel).stream(ReceiverStream::new(rx)).await.unwrap().into_inner();
    let mut answer = async || match tokio::time::timeout(ANSWER_TIMEOUT, inbound.message()).await {
        Ok(Ok(Some(v1::AggregatorMessage { kind: Some(kind) }))) => kind,
        other => panic!("no answer: {other:?}\n{}", aggregator.process.log()),
    };
    assert!(matches!(answer().await, aggregator_message::Kind::Ack(_)), "Hello is answered with an ack");
    for b in batches {
        let seq = b.seq;
        tx.send(v1::AgentMessage { kind: Some(agent_message::Kind::Batch(b)) }).await.unwrap();
        match answer().await {
            aggregator_message::Kind::Ack(ack) => assert_eq!(ack.durable_seq, seq),
            other => panic!("batch {seq}: {other:?}"),
        }
    }
}

fn kinds_and_users(events: &Value) -> Vec<(String, String)> {
    events
        .as_array()
        .unwrap_or_else(|| panic!("{events}"))
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_string(), e["attributes"]["user"].as_str().unwrap().to_string()))
        .collect()
}

/// Events at the same millisecond come in no particular order.
fn sorted(mut list: Vec<(String, String)>) -> Vec<(String, String)> {
    list.sort();
    list
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn events_are_stored_once_before_the_ack_and_listed() {
    let fleet = Fleet::new();
    fleet.issue_agent(HOST);
    let mut aggregator = fleet.start_aggregator("agg");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let t = now_ms() - 60_000;

    // Acked, then the aggregator is killed at once: the events were durable before the ack.
    runtime.block_on(send(
        &fleet,
        &aggregator,
        vec![batch(1, t, vec![event(t, "heavy_user_start", "alice"), event(t, "heavy_user_start", "bob")])],
    ));
    aggregator.process.kill9();
    let (grpc, http) = (aggregator.grpc, aggregator.http);
    drop(aggregator);
    let aggregator = fleet.start_aggregator_on("agg", grpc, http);
    let listed = aggregator.get_json(&format!("/api/events?host={HOST}"));
    assert_eq!(
        sorted(kinds_and_users(&listed["events"])),
        pairs(&[("heavy_user_start", "alice"), ("heavy_user_start", "bob")]),
        "{listed}"
    );

    // Batch 1 again (a replay: the agent had no ack for it), and batch 2 with alice's event
    // again (an agent restarted before it knew its batch had arrived) and a new one.
    runtime.block_on(send(
        &fleet,
        &aggregator,
        vec![
            batch(1, t, vec![event(t, "heavy_user_start", "alice"), event(t, "heavy_user_start", "bob")]),
            batch(
                2,
                t + 10_000,
                vec![event(t, "heavy_user_start", "alice"), event(t + 10_000, "heavy_user_end", "alice")],
            ),
        ],
    ));
    let listed = aggregator.get_json(&format!("/api/events?host={HOST}"));
    let listed_pairs = kinds_and_users(&listed["events"]);
    assert_eq!(listed_pairs.len(), 3, "each event once: {listed}");
    assert_eq!(listed_pairs[0], ("heavy_user_end".to_string(), "alice".to_string()), "newest first: {listed}");
    assert_eq!(
        sorted(listed_pairs[1..].to_vec()),
        pairs(&[("heavy_user_start", "alice"), ("heavy_user_start", "bob")])
    );
    let end = &listed["events"][0];
    assert_eq!(end["host"], HOST);
    assert_eq!(end["time_ms"], t + 10_000);
    assert_eq!(end["message"], "heavy_user_end of alice");
    assert_eq!(end["seq"], 2);

    // Filters.
    let by_kind = aggregator.get_json("/api/events?kind=heavy_user_start&limit=1");
    assert_eq!(kinds_and_users(&by_kind["events"]).len(), 1);
    assert_eq!(by_kind["events"][0]["kind"], "heavy_user_start");
    let since = aggregator.get_json(&format!("/api/events?since={}", t + 1));
    assert_eq!(kinds_and_users(&since["events"]), pairs(&[("heavy_user_end", "alice")]));
    assert!(aggregator.get_json("/api/events?host=elsewhere")["events"].as_array().unwrap().is_empty());
    let (status, body) = http_get(&format!("{}/api/events?since=last+week", aggregator.url())).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("since must be unix milliseconds or a duration before now like 1h"), "{body}");
    let (status, body) = http_get(&format!("{}/api/events?limit=0", aggregator.url())).unwrap();
    assert_eq!(status, 400, "{body}");

    // The host's page and the CLI.
    let host = aggregator.get_json(&format!("/api/hosts/{HOST}"));
    assert_eq!(host["events"].as_array().unwrap().len(), 3, "{host}");
    let server = aggregator.url();
    let json = run_ok(&["events", "--server", &server, "--kind", "heavy_user_end", "--output", "json"]);
    assert_eq!(kinds_and_users(&serde_json::from_str(&json).unwrap()), pairs(&[("heavy_user_end", "alice")]));
    let table = run_ok(&["events", "--server", &server, "--since", "1h"]);
    assert!(table.starts_with("TIME"), "{table}");
    assert!(table.contains("eventful  heavy_user_end    heavy_user_end of alice"), "{table}");
    let shown = run_ok(&["hosts", "show", HOST, "--server", &server]);
    assert!(shown.contains("recent events:"), "{shown}");
    assert!(shown.contains("heavy_user_end    heavy_user_end of alice"), "{shown}");
}
