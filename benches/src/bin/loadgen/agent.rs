//! One simulated agent: its own certificate, connection and Ingest stream. It says Hello,
//! waits for the Ack carrying its durable seq, then keeps `window` batches in flight
//! (seq = durable + 1, + 2, ...), timing each batch from sending to the cumulative Ack that
//! covers it. A broken stream is reopened after a pause; unacked batches are resent, as the
//! real agent's shipper does. Batches come from a simulated node-like host, or from one host
//! of a `--dataset` (then the agent is done once all of that host's batches are acked).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sysmon_benches::NodeLikeHost;
use sysmon_proto::v1::{self, agent_message, aggregator_message};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Streaming;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::args::Settings;
use crate::failure::StreamError;
use crate::report;
use crate::stats::Stats;
use crate::wire::{EncodedBatch, IngestCodec, Outgoing, STREAM_PATH};

/// How long connecting, and each answer to the Hello, may take (as in the real agent).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause before reopening a failed stream.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// After the run, how long an agent waits for the acks of the batches it has in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What every agent shares.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) ca: Certificate,
    pub(crate) stats: Arc<Stats>,
    /// With `--dataset`: its batches, encoded; agent `index` sends those of host `index`.
    pub(crate) dataset: Option<Vec<Arc<[EncodedBatch]>>>,
    /// Cancelled when streaming ends: agents stop sending and drain their acks.
    pub(crate) stop: CancellationToken,
}

/// A batch sent and not yet acked; kept (encoded) so that a new stream can resend it.
struct InFlight {
    seq: u64,
    body: Bytes,
    samples: usize,
    sent_at: Instant,
}

/// One simulated agent and its sending state, which outlives its streams.
pub(crate) struct Agent {
    id: String,
    identity: Identity,
    shared: Arc<Shared>,
    batches: Batches,
    /// Whether seqs have been aligned with the aggregator's durable seq yet.
    aligned: bool,
    next_seq: u64,
    /// The highest seq the aggregator has acked (or answered with BatchRejected).
    acked: u64,
    in_flight: VecDeque<InFlight>,
    caught_up: bool,
}

/// Where an agent's batches come from.
enum Batches {
    /// A simulated host, collecting on the fly.
    Synthetic(NodeLikeHost),
    /// A dataset host's batches; `next` is the index of the next one to send.
    Dataset { batches: Arc<[EncodedBatch]>, next: usize },
}

/// What an agent sends next.
enum Next {
    Batch(EncodedBatch),
    /// Nothing before this instant: the simulated host has reached the wall clock.
    NotBefore(Instant),
    /// The dataset host has no more batches.
    Done,
}

/// How a stream ended without failing.
enum Finished {
    Drained,
    DrainTimedOut,
}

impl Agent {
    /// Agent number `index` (0-based) named `id`, presenting the client certificate `identity`.
    pub(crate) fn new(index: usize, id: String, identity: Identity, shared: Arc<Shared>) -> Self {
        let settings = &shared.settings;
        let batches = match &shared.dataset {
            Some(dataset) => Batches::Dataset { batches: dataset[index].clone(), next: 0 },
            None => {
                let step = settings.step_ms;
                // Spread the agents' collection times over the step, as a real fleet's are.
                let offset = (index as i64 * 1_009) % step;
                let start_ms = (unix_ms() - settings.backfill_ms) / step * step + offset;
                Batches::Synthetic(NodeLikeHost::new(&id, index as u64 + 1, start_ms, step))
            }
        };
        Self {
            id,
            identity,
            shared,
            batches,
            aligned: false,
            next_seq: 1,
            acked: 0,
            in_flight: VecDeque::new(),
            caught_up: false,
        }
    }

    /// Streams until the run ends, reopening failed streams.
    pub(crate) async fn run(mut self) {
        loop {
            let failure = match self.stream().await {
                Ok(Finished::Drained) => return,
                Ok(Finished::DrainTimedOut) => {
                    self.give_up();
                    return;
                }
                Err(failure) => failure,
            };
            let kind = failure.kind();
            let count = self.shared.stats.error(kind, format!("{}: {failure}", self.id));
            if count == 1 {
                report::first_error(kind, &self.id, &failure.to_string());
            }
            if self.shared.stop.is_cancelled() {
                self.give_up();
                return;
            }
            tokio::select! {
                _ = self.shared.stop.cancelled() => {
                    self.give_up();
                    return;
                }
                _ = tokio::time::sleep(RETRY_DELAY) => {}
            }
        }
    }

    fn give_up(&mut self) {
        self.shared.stats.unacked(self.in_flight.len());
        self.in_flight.clear();
    }

    async fn connect(&self) -> Result<Channel, StreamError> {
        let settings = &self.shared.settings;
        let tls = ClientTlsConfig::new()
            .ca_certificate(self.shared.ca.clone())
            .identity(self.identity.clone())
            .domain_name(settings.server_name.clone());
        Endpoint::from_shared(settings.aggregator.clone())
            .map_err(StreamError::Connect)?
            .tls_config(tls)
            .map_err(StreamError::Connect)?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(StreamError::Connect)
    }

    /// One stream: Hello, durable seq, then batches and acks until the run ends and the
    /// batches in flight are acked.
    async fn stream(&mut self) -> Result<Finished, StreamError> {
        let channel = self.connect().await?;
        let mut client = tonic::client::Grpc::new(channel)
            .max_decoding_message_size(sysmon_proto::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(sysmon_proto::MAX_MESSAGE_BYTES);
        client.ready().await.map_err(|e| StreamError::Status(tonic::Status::unavailable(e.to_string())))?;
        // Room for the Hello and every batch in flight, so sending never waits here: the
        // window, not this channel, bounds what is outstanding.
        let (tx, rx) = mpsc::channel(self.shared.settings.window + 2);
        let hello = v1::AgentMessage { kind: Some(agent_message::Kind::Hello(self.hello())) };
        let _ = tx.try_send(Outgoing::Message(Box::new(hello)));
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(STREAM_PATH);
        let request = tonic::Request::new(ReceiverStream::new(rx));
        let response = tokio::time::timeout(CONNECT_TIMEOUT, client.streaming(request, path, IngestCodec))
            .await
            .map_err(|_| StreamError::Timeout("the aggregator's answer to Hello"))?
            .map_err(StreamError::Status)?;
        let mut inbound = response.into_inner();
        let durable = match tokio::time::timeout(CONNECT_TIMEOUT, inbound.message()).await {
            Ok(Ok(Some(v1::AggregatorMessage { kind: Some(aggregator_message::Kind::Ack(ack)) }))) => ack.durable_seq,
            Ok(Ok(_)) => {
                return Err(protocol("no ack of hello", "the aggregator did not answer Hello with an Ack".into()));
            }
            Ok(Err(status)) => return Err(StreamError::Status(status)),
            Err(_) => return Err(StreamError::Timeout("the aggregator's Ack of Hello")),
        };
        let first_time = !self.aligned;
        self.welcome(durable)?;
        let _live = self.shared.stats.stream_opened(first_time);
        // Resend what the previous stream left unacked, in order.
        for queued in &mut self.in_flight {
            queued.sent_at = Instant::now();
            let message = Outgoing::Batch { seq: queued.seq, body: queued.body.clone() };
            if tx.try_send(message).is_err() {
                return Err(protocol("stream closed", "the stream closed while resending".into()));
            }
        }
        self.exchange(&tx, &mut inbound).await
    }

    fn hello(&self) -> v1::Hello {
        let settings = &self.shared.settings;
        v1::Hello {
            agent_id: self.id.clone(),
            agent_version: concat!("loadgen/", env!("CARGO_PKG_VERSION")).to_string(),
            inventory: Some(v1::HostInventory {
                hostname: self.id.clone(),
                os_name: "sysmon-loadgen simulated host".into(),
                kernel_release: "6.1.0-loadgen".into(),
                architecture: std::env::consts::ARCH.into(),
                cpu_model: "simulated".into(),
                cpu_cores: 8,
                memory_bytes: 32 << 30,
                disks: Vec::new(),
                interfaces: Vec::new(),
                boot_time_ms: unix_ms() - settings.backfill_ms,
            }),
            highest_seq: self.in_flight.back().map_or(0, |q| q.seq),
            interval_ms: settings.step_ms as u64,
            ..Default::default()
        }
    }

    /// Aligns with the aggregator's durable seq: the first time, seqs start after it; on a
    /// reopened stream, what it holds counts as acked, and it must hold what it acked.
    fn welcome(&mut self, durable: u64) -> Result<(), StreamError> {
        if !self.aligned {
            self.aligned = true;
            self.acked = durable;
            self.next_seq = durable + 1;
            return Ok(());
        }
        if durable < self.acked {
            return Err(protocol(
                "acked batches lost",
                format!("the aggregator acked up to seq {} but now holds only up to {durable}", self.acked),
            ));
        }
        if durable >= self.next_seq {
            return Err(protocol(
                "ack beyond sent",
                format!("durable seq {durable} in the Ack of Hello, but the highest seq sent is {}", self.next_seq - 1),
            ));
        }
        self.ack_through(durable, Instant::now(), false);
        Ok(())
    }

    /// Removes every batch up to `seq` from the window and records it as acked.
    fn ack_through(&mut self, seq: u64, now: Instant, timed: bool) {
        while self.in_flight.front().is_some_and(|q| q.seq <= seq) {
            if let Some(done) = self.in_flight.pop_front() {
                let latency = timed.then(|| now.saturating_duration_since(done.sent_at));
                self.shared.stats.acked(done.samples, latency, now);
            }
        }
        self.acked = self.acked.max(seq);
    }

    /// The next batch; for a simulated host that has reached the wall clock, the instant its
    /// next batch's newest sample stops being in the future.
    fn next_batch(&mut self) -> Next {
        let collections = self.shared.settings.samples_per_series;
        match &mut self.batches {
            Batches::Synthetic(host) => {
                let ahead_ms = host.last_ts_ms(collections) - unix_ms();
                if ahead_ms > 0 {
                    if !self.caught_up {
                        self.caught_up = true;
                        self.shared.stats.caught_up();
                    }
                    return Next::NotBefore(Instant::now() + Duration::from_millis(ahead_ms as u64));
                }
                let mut batch = host.next_batch(collections);
                batch.seq = 0;
                Next::Batch(EncodedBatch::new(&batch))
            }
            Batches::Dataset { batches, next } => match batches.get(*next) {
                Some(batch) => {
                    *next += 1;
                    Next::Batch(batch.clone())
                }
                None => Next::Done,
            },
        }
    }

    async fn exchange(
        &mut self,
        tx: &mpsc::Sender<Outgoing>,
        inbound: &mut Streaming<v1::AggregatorMessage>,
    ) -> Result<Finished, StreamError> {
        let window = self.shared.settings.window;
        let stop = self.shared.stop.clone();
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        loop {
            if drain_deadline.is_none() && stop.is_cancelled() {
                drain_deadline = Some(tokio::time::Instant::now() + DRAIN_TIMEOUT);
            }
            let mut wake = None;
            if drain_deadline.is_none() {
                while self.in_flight.len() < window {
                    let batch = match self.next_batch() {
                        Next::Batch(batch) => batch,
                        Next::NotBefore(at) => {
                            wake = Some(at);
                            break;
                        }
                        Next::Done if self.in_flight.is_empty() => return Ok(Finished::Drained),
                        Next::Done => break,
                    };
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    let message = Outgoing::Batch { seq, body: batch.body.clone() };
                    self.in_flight.push_back(InFlight {
                        seq,
                        body: batch.body,
                        samples: batch.samples,
                        sent_at: Instant::now(),
                    });
                    self.shared.stats.sent();
                    if tx.try_send(message).is_err() {
                        return Err(protocol("stream closed", "the request stream closed while sending".into()));
                    }
                }
            } else if self.in_flight.is_empty() {
                return Ok(Finished::Drained);
            }
            let wake_at = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let drain_until = async {
                match drain_deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.cancelled(), if drain_deadline.is_none() => {}
                _ = drain_until => return Ok(Finished::DrainTimedOut),
                _ = wake_at => {}
                message = inbound.message() => self.answer(message)?,
            }
        }
    }

    /// Handles one message from the aggregator.
    fn answer(&mut self, message: Result<Option<v1::AggregatorMessage>, tonic::Status>) -> Result<(), StreamError> {
        let now = Instant::now();
        match message {
            Ok(Some(v1::AggregatorMessage { kind: Some(aggregator_message::Kind::Ack(ack)) })) => {
                let seq = ack.durable_seq;
                if seq >= self.next_seq {
                    return Err(protocol(
                        "ack beyond sent",
                        format!("Ack{{durable_seq: {seq}}} but the highest seq sent is {}", self.next_seq - 1),
                    ));
                }
                if seq < self.acked {
                    let detail = format!("{}: Ack{{durable_seq: {seq}}} after an ack of {}", self.id, self.acked);
                    self.shared.stats.error("ack went backwards", detail);
                    return Ok(());
                }
                self.ack_through(seq, now, true);
                Ok(())
            }
            Ok(Some(v1::AggregatorMessage { kind: Some(aggregator_message::Kind::Rejected(rejected)) })) => {
                // Answers come in seq order: everything before the rejected batch was acked.
                self.ack_through(rejected.seq.saturating_sub(1), now, true);
                if self.in_flight.front().is_some_and(|q| q.seq == rejected.seq) {
                    self.in_flight.pop_front();
                }
                self.acked = self.acked.max(rejected.seq);
                let detail = format!("{}: batch {}: {}", self.id, rejected.seq, rejected.reason);
                let count = self.shared.stats.rejected(detail);
                report::rejection(count, &self.id, rejected.seq, &rejected.reason);
                Ok(())
            }
            Ok(Some(_)) => Err(protocol("empty message", "the aggregator sent a message with no kind".into())),
            Ok(None) => Err(protocol("stream closed", "the aggregator closed the stream".into())),
            Err(status) => Err(StreamError::Status(status)),
        }
    }
}

fn protocol(kind: &'static str, detail: String) -> StreamError {
    StreamError::Protocol { kind, detail }
}

/// The wall clock in unix milliseconds.
pub(crate) fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
