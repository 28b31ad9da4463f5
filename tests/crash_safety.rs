//! Crash safety under heavy ingest: producers stream batches over the real mTLS `Ingest`
//! stream as fast as the aggregator acks them, while the test kills the aggregator with
//! SIGKILL at random moments, 20 times, restarting it on the same ports and file each time.
//! Afterwards every acknowledged sample must be stored, exactly once, with its value, and
//! nothing that was never sent may appear.

// The test narrates its kill schedule on stderr, so a failure can be replayed.
#![allow(clippy::print_stderr)]

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sysmon_proto::ingest_client::IngestClient;
use sysmon_proto::v1::{self, agent_message, aggregator_message};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use util::{Fleet, wait_until};

const PRODUCERS: usize = 4;
const SERIES_PER_BATCH: usize = 20;
const TIMESTAMPS_PER_BATCH: usize = 50;
const WINDOW: usize = 8;
const KILLS: usize = 20;
const STEP_MS: i64 = 1000;

/// The value of series `s` at `ts`: anything deterministic that a mix-up would change.
fn value(s: usize, ts: i64) -> f64 {
    (ts / STEP_MS) as f64 * 0.25 + s as f64
}

/// What one producer sent and what the aggregator acknowledged.
#[derive(Default)]
struct Ledger {
    /// Timestamps of every batch sent (acked or not).
    sent: BTreeSet<i64>,
    /// Timestamps of every acknowledged batch.
    acked: BTreeSet<i64>,
    acks: usize,
    reconnects: usize,
}

struct Producer {
    id: String,
    certs: std::path::PathBuf,
    grpc: std::net::SocketAddr,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
}

impl Producer {
    fn batch(seq: u64, first_ts: i64) -> v1::Batch {
        let mut strings = vec!["__name__".to_string(), "crash_metric".to_string(), "s".to_string()];
        let mut series = Vec::new();
        for s in 0..SERIES_PER_BATCH {
            strings.push(s.to_string());
            series.push(v1::Series { labels: vec![0, 1, 2, strings.len() as u32 - 1] });
        }
        let mut samples = v1::Samples::default();
        for s in 0..SERIES_PER_BATCH {
            for i in 0..TIMESTAMPS_PER_BATCH {
                let ts = first_ts + i as i64 * STEP_MS;
                samples.series.push(s as u32);
                samples.timestamps_ms.push(ts);
                samples.values.push(value(s, ts));
            }
        }
        v1::Batch { seq, strings, series, samples: Some(samples), ..Default::default() }
    }

    /// Streams until stopped and every batch sent is acknowledged; reconnects after every crash.
    async fn run(self) {
        let start_ts = now_ms() - 10 * 86_400_000;
        let mut unacked: BTreeMap<u64, v1::Batch> = BTreeMap::new();
        let mut next_seq = 1u64;
        loop {
            if self.stop.load(Ordering::Relaxed) && unacked.is_empty() {
                return;
            }
            let _ = self.stream(&mut unacked, &mut next_seq, start_ts).await;
            self.ledger.lock().unwrap().reconnects += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stream(
        &self,
        unacked: &mut BTreeMap<u64, v1::Batch>,
        next_seq: &mut u64,
        start_ts: i64,
    ) -> Result<(), String> {
        let read = |name: &str| std::fs::read(self.certs.join(name)).unwrap();
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read("ca.pem")))
            .identity(Identity::from_pem(
                read(&format!("agent-{}.pem", self.id)),
                read(&format!("agent-{}-key.pem", self.id)),
            ))
            .domain_name("localhost");
        let channel = Endpoint::from_shared(format!("https://{}", self.grpc))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        let mut client = IngestClient::new(channel).max_encoding_message_size(64 << 20);
        let (tx, rx) = mpsc::channel(WINDOW + 2);
        let hello = v1::Hello {
            agent_id: self.id.clone(),
            agent_version: "crash-test".into(),
            inventory: None,
            highest_seq: *next_seq - 1,
            interval_ms: 1000,
            ..Default::default()
        };
        tx.send(v1::AgentMessage { kind: Some(agent_message::Kind::Hello(hello)) }).await.map_err(|e| e.to_string())?;
        let mut inbound = client.stream(ReceiverStream::new(rx)).await.map_err(|e| e.to_string())?.into_inner();
        let durable = match inbound.message().await.map_err(|e| e.to_string())? {
            Some(v1::AggregatorMessage { kind: Some(aggregator_message::Kind::Ack(ack)) }) => ack.durable_seq,
            other => return Err(format!("Hello answered with {other:?}")),
        };
        // Batches durable before the crash whose ack was lost are durable all the same.
        self.settle(unacked, durable);

        let mut in_flight: Vec<u64> = Vec::new();
        let mut resend: Vec<u64> = unacked.keys().copied().collect();
        loop {
            while in_flight.len() < WINDOW {
                let seq = if let Some(seq) = resend.first().copied() {
                    resend.remove(0);
                    seq
                } else if !self.stop.load(Ordering::Relaxed) {
                    let seq = *next_seq;
                    *next_seq += 1;
                    let first_ts = start_ts + (seq as i64 - 1) * TIMESTAMPS_PER_BATCH as i64 * STEP_MS;
                    unacked.insert(seq, Producer::batch(seq, first_ts));
                    let mut ledger = self.ledger.lock().unwrap();
                    ledger.sent.extend((0..TIMESTAMPS_PER_BATCH).map(|i| first_ts + i as i64 * STEP_MS));
                    seq
                } else {
                    break;
                };
                let batch = unacked[&seq].clone();
                tx.send(v1::AgentMessage { kind: Some(agent_message::Kind::Batch(batch)) })
                    .await
                    .map_err(|e| e.to_string())?;
                in_flight.push(seq);
            }
            if in_flight.is_empty() {
                return Ok(());
            }
            match inbound.message().await.map_err(|e| e.to_string())? {
                Some(v1::AggregatorMessage { kind: Some(aggregator_message::Kind::Ack(ack)) }) => {
                    self.settle(unacked, ack.durable_seq);
                    in_flight.retain(|&s| s > ack.durable_seq);
                }
                other => return Err(format!("unexpected answer {other:?}")),
            }
        }
    }

    /// Everything at or below `durable` is acknowledged.
    fn settle(&self, unacked: &mut BTreeMap<u64, v1::Batch>, durable: u64) {
        let done: Vec<u64> = unacked.range(..=durable).map(|(&seq, _)| seq).collect();
        let mut ledger = self.ledger.lock().unwrap();
        for seq in done {
            let batch = unacked.remove(&seq).expect("listed above");
            let samples = batch.samples.expect("every batch has samples");
            ledger.acked.extend(samples.timestamps_ms.iter().take(TIMESTAMPS_PER_BATCH));
            ledger.acks += 1;
        }
    }
}

/// Every stored point of `id`'s series, by series index, read in windows small enough for the
/// hosts API's per-request limit (a fast machine acks far more than one request may return).
fn stored_points(aggregator: &util::Aggregator, id: &str, sent: &BTreeSet<i64>) -> BTreeMap<usize, Vec<(i64, f64)>> {
    const WINDOW_MS: i64 = 6 * 3_600_000;
    let (first, last) = (*sent.first().expect("something was sent"), *sent.last().expect("something was sent"));
    let mut series: BTreeMap<usize, Vec<(i64, f64)>> = BTreeMap::new();
    // One window before and after what was sent, so an invented sample outside it shows too.
    let mut start = first - WINDOW_MS;
    while start <= last + WINDOW_MS {
        // The API's range is closed at both ends: stop one millisecond short of the next window.
        let end = start + WINDOW_MS - 1;
        let body = aggregator.get_json(&format!("/api/hosts/{id}/series?metric=crash_metric&start={start}&end={end}"));
        for s in body["series"].as_array().unwrap_or_else(|| panic!("{body}")) {
            let index: usize = s["labels"]["s"].as_str().unwrap().parse().unwrap();
            let points = s["points"].as_array().unwrap();
            series
                .entry(index)
                .or_default()
                .extend(points.iter().map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap())));
        }
        start += WINDOW_MS;
    }
    series
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A small xorshift generator, seeded from the clock (printed, to replay a failure).
struct Random(u64);

impl Random {
    fn next_millis(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low)
    }
}

#[test]
fn every_acknowledged_sample_survives_20_kill_9s_exactly_once() {
    let fleet = Fleet::new();
    let mut aggregator = fleet.start_aggregator("aggregator");
    let (grpc, http) = (aggregator.grpc, aggregator.http);
    let ids: Vec<String> = (1..=PRODUCERS).map(|i| format!("crash-{i}")).collect();
    for id in &ids {
        fleet.issue_agent(id);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ledgers: Vec<Arc<Mutex<Ledger>>> = ids.iter().map(|_| Arc::default()).collect();
    let producers: Vec<_> = ids
        .iter()
        .zip(&ledgers)
        .map(|(id, ledger)| {
            let producer =
                Producer { id: id.clone(), certs: fleet.certs(), grpc, ledger: ledger.clone(), stop: stop.clone() };
            runtime.spawn(producer.run())
        })
        .collect();
    let total_acks = || ledgers.iter().map(|l| l.lock().unwrap().acks).sum::<usize>();

    let seed = now_ms() as u64 | 1;
    eprintln!("kill schedule seed {seed}");
    let mut random = Random(seed);
    for kill in 1..=KILLS {
        let before = total_acks();
        wait_until(Duration::from_secs(60), "the producers to get acks from this incarnation", || {
            total_acks() > before
        });
        std::thread::park_timeout(Duration::from_millis(random.next_millis(50, 1500)));
        aggregator.process.kill9();
        eprintln!("kill {kill}: {} batches acked so far", total_acks());
        aggregator = fleet.start_aggregator_on("aggregator", grpc, http);
    }

    stop.store(true, Ordering::Relaxed);
    for producer in producers {
        runtime.block_on(producer).expect("a producer panicked");
    }
    // One more crash with nothing in flight, so the check reads what recovery rebuilds.
    aggregator.process.kill9();
    let aggregator = fleet.start_aggregator_on("aggregator", grpc, http);

    for (id, ledger) in ids.iter().zip(&ledgers) {
        let ledger = ledger.lock().unwrap();
        assert!(ledger.reconnects >= KILLS, "{id} reconnected only {} times", ledger.reconnects);
        let series = stored_points(&aggregator, id, &ledger.sent);
        assert_eq!(series.len(), SERIES_PER_BATCH, "{id}: series stored");
        for (index, points) in series {
            let unique: BTreeSet<i64> = points.iter().map(|&(ts, _)| ts).collect();
            assert_eq!(unique.len(), points.len(), "{id} series {index}: a sample is stored twice");
            let missing: Vec<&i64> = ledger.acked.difference(&unique).take(5).collect();
            assert!(
                missing.is_empty(),
                "{id} series {index}: {} acknowledged samples lost, e.g. {missing:?}",
                ledger.acked.difference(&unique).count()
            );
            let invented: Vec<&i64> = unique.difference(&ledger.sent).take(5).collect();
            assert!(invented.is_empty(), "{id} series {index}: samples never sent: {invented:?}");
            for (ts, v) in points {
                assert_eq!(v, value(index, ts), "{id} series {index} at {ts}");
            }
        }
        eprintln!("{id}: {} batches acked, {} samples per series verified", ledger.acks, ledger.acked.len());
    }
}
