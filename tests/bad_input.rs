//! Bad input gets a clear answer and costs nobody else anything. A client with a valid
//! certificate sends malformed batches over the real mTLS `Ingest` stream: each is refused
//! with a reason naming the problem, the good batch after them is stored and stays durable,
//! an oversized message ends only that stream with a status saying so, and a real agent
//! streaming alongside is served throughout.

mod util;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sysmon_proto::ingest_client::IngestClient;
use sysmon_proto::v1::{self, agent_message, aggregator_message};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use util::{Fleet, wait_until};

const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A batch of one series with `labels` (name, value pairs) and `samples`.
fn batch(seq: u64, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> v1::Batch {
    let mut strings = Vec::new();
    let mut refs = Vec::new();
    for (name, value) in labels {
        for s in [name, value] {
            refs.push(strings.len() as u32);
            strings.push(s.to_string());
        }
    }
    v1::Batch {
        seq,
        strings,
        series: vec![v1::Series { labels: refs }],
        samples: Some(v1::Samples {
            series: vec![0; samples.len()],
            timestamps_ms: samples.iter().map(|s| s.0).collect(),
            values: samples.iter().map(|s| s.1).collect(),
        }),
        ..Default::default()
    }
}

/// One Ingest stream of agent "sloppy", driven by hand.
struct RawStream {
    tx: mpsc::Sender<v1::AgentMessage>,
    inbound: tonic::Streaming<v1::AggregatorMessage>,
}

impl RawStream {
    async fn open(fleet: &Fleet, grpc: std::net::SocketAddr) -> (RawStream, u64) {
        let certs = fleet.certs();
        let read = |name: &str| std::fs::read(certs.join(name)).unwrap();
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read("ca.pem")))
            .identity(Identity::from_pem(read("agent-sloppy.pem"), read("agent-sloppy-key.pem")))
            .domain_name("localhost");
        let channel =
            Endpoint::from_shared(format!("https://{grpc}")).unwrap().tls_config(tls).unwrap().connect().await.unwrap();
        // The client may send more than the aggregator accepts: that is what is being tested.
        let mut client = IngestClient::new(channel).max_encoding_message_size(64 << 20);
        let (tx, rx) = mpsc::channel(8);
        let hello = v1::Hello {
            agent_id: "sloppy".into(),
            agent_version: "test".into(),
            inventory: None,
            highest_seq: 0,
            interval_ms: 1000,
            ..Default::default()
        };
        tx.send(v1::AgentMessage { kind: Some(agent_message::Kind::Hello(hello)) }).await.unwrap();
        let inbound = client.stream(ReceiverStream::new(rx)).await.expect("stream accepted").into_inner();
        let mut stream = RawStream { tx, inbound };
        let durable = match stream.answer().await {
            Ok(aggregator_message::Kind::Ack(ack)) => ack.durable_seq,
            other => panic!("Hello was answered with {other:?}"),
        };
        (stream, durable)
    }

    async fn send(&self, batch: v1::Batch) {
        self.tx.send(v1::AgentMessage { kind: Some(agent_message::Kind::Batch(batch)) }).await.unwrap();
    }

    async fn answer(&mut self) -> Result<aggregator_message::Kind, tonic::Status> {
        match tokio::time::timeout(ANSWER_TIMEOUT, self.inbound.message()).await.expect("an answer in time") {
            Ok(Some(v1::AggregatorMessage { kind: Some(kind) })) => Ok(kind),
            Ok(other) => panic!("unexpected answer {other:?}"),
            Err(status) => Err(status),
        }
    }

    /// Sends `batch` and returns the reason the aggregator gives for refusing it.
    async fn expect_rejected(&mut self, batch: v1::Batch) -> String {
        let seq = batch.seq;
        self.send(batch).await;
        match self.answer().await {
            Ok(aggregator_message::Kind::Rejected(r)) if r.seq == seq => r.reason,
            other => panic!("batch {seq}: expected a rejection, got {other:?}"),
        }
    }
}

fn assert_contains(reason: &str, expected: &str) {
    assert!(reason.contains(expected), "reason {reason:?} should contain {expected:?}");
}

fn acked_batches(log: &str) -> usize {
    log.matches("batch acked").count()
}

#[test]
fn malformed_batches_are_refused_with_a_reason_and_others_stay_served() {
    let fleet = Fleet::new();
    let aggregator = fleet.start_aggregator("aggregator");
    fleet.issue_agent("steady");
    fleet.issue_agent("sloppy");
    let steady = fleet.start_agent("steady", "steady", aggregator.grpc, "1s");
    wait_until(Duration::from_secs(30), "the steady agent to have 2 batches acked", || {
        acked_batches(&steady.log()) >= 2
    });

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let t = now_ms() - 10_000;
    let good = [("__name__", "sloppy_metric")];
    runtime.block_on(async {
        let (mut stream, durable) = RawStream::open(&fleet, aggregator.grpc).await;
        assert_eq!(durable, 0);

        let mut dangling = batch(1, &good, &[(t, 1.0)]);
        dangling.series[0].labels = vec![0, 7];
        assert_contains(
            &stream.expect_rejected(dangling).await,
            "batch 1: label refers to string 7, but the string table has 2 entries",
        );
        assert_contains(
            &stream.expect_rejected(batch(2, &[("__name__", "node-load1")], &[(t, 1.0)])).await,
            "invalid metric name \"node-load1\"",
        );
        assert_contains(
            &stream.expect_rejected(batch(3, &[("__name__", "x"), ("bad label", "v")], &[(t, 1.0)])).await,
            "invalid label name \"bad label\"",
        );
        assert_contains(
            &stream.expect_rejected(batch(4, &[("__name__", "x"), ("host", "steady")], &[(t, 1.0)])).await,
            "an agent may only write under its own host id \"sloppy\"",
        );
        assert_contains(
            &stream.expect_rejected(batch(5, &good, &[(now_ms() + 86_400_000, 1.0)])).await,
            "ahead of the aggregator's clock",
        );

        // The stream survived all of that: a good batch, NaN included, is stored and acked.
        stream.send(batch(6, &good, &[(t, 1.5), (t + 1000, f64::NAN)])).await;
        match stream.answer().await {
            Ok(aggregator_message::Kind::Ack(ack)) => assert_eq!(ack.durable_seq, 6),
            other => panic!("the good batch was answered with {other:?}"),
        }

        // A message over the 16 MiB limit ends this stream, and the status says why.
        let huge = "x".repeat(17 << 20);
        stream.send(batch(7, &[("__name__", "x"), ("blob", &huge)], &[(t, 1.0)])).await;
        let status = stream.answer().await.expect_err("the oversized message ends the stream");
        assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
        assert_contains(status.message(), "too large");

        // Reconnecting, the agent learns that the good batch is durable and the refused ones are not.
        let (_stream, durable) = RawStream::open(&fleet, aggregator.grpc).await;
        assert_eq!(durable, 6);
    });

    let body = aggregator.get_json("/api/hosts/sloppy/series?metric=sloppy_metric&start=0&end=9999999999999");
    let points = body["series"][0]["points"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert_eq!(points.len(), 2, "{body}");
    assert_eq!(points[0][0], t);
    assert_eq!(points[0][1], 1.5);
    assert!(points[1][1].is_null(), "NaN is stored and shown as null in this API: {body}");

    // The steady agent was served all along, and still is.
    let acked_before = acked_batches(&steady.log());
    wait_until(Duration::from_secs(30), "the steady agent to keep getting acks", || {
        acked_batches(&steady.log()) >= acked_before + 2
    });
    assert!(!steady.log().contains("connection to aggregator lost"), "{}", steady.log());
    let log = aggregator.process.log();
    assert!(log.contains("batch rejected"), "{log}");
    aggregator.process.assert_running();
}
