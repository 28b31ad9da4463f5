//! The `Ingest` stream: Hello, identity check, then batches in and acks out.
//!
//! Each stream has a reader task and an acker task joined by a bounded queue of pending
//! commits. The reader validates a batch and queues it for the group commit; the acker
//! waits for the commits in order and sends `Ack{durable_seq}` for each. The queue bounds
//! how many batches an agent may have in flight; when it is full the reader stops reading,
//! and gRPC flow control pushes back on the agent, which keeps its batches. The reader also
//! waits while the storage engine's queues are nearly full (a slow disk, a lagging sealer),
//! so a busy aggregator slows its agents down rather than refusing their batches.

use std::sync::Arc;
use std::time::Duration;

use sysmon_proto::ingest_server::Ingest;
use sysmon_proto::v1::{self, agent_message, aggregator_message};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{Instrument as _, debug, info, info_span, warn};

use super::decode::decode_batch;
use super::events::check_events;
use super::series_cache::SeriesCache;
use super::tls::PeerIdentity;
use crate::config::Limits;
use crate::error::{DisplayChain, Error, Result};
use crate::federation::FederationContext;
use crate::metrics::IngestMetrics;
use crate::registry::{HostRecord, now_ms};
use crate::store::Store;
use sysmon_tsdb::CommitOutcome;

/// How long an agent may take to send its Hello after connecting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);
/// Batches of one stream queued for commit at once.
const IN_FLIGHT_PER_STREAM: usize = 64;

type Outbound = mpsc::Sender<Result<v1::AggregatorMessage, Status>>;

/// The `Ingest` gRPC service.
#[derive(Clone)]
pub(crate) struct IngestService {
    pub(crate) store: Store,
    pub(crate) region: String,
    pub(crate) limits: Arc<Limits>,
    pub(crate) metrics: Arc<IngestMetrics>,
    pub(crate) federation: Arc<FederationContext>,
}

/// A batch on its way to disk, or already answered.
enum Pending {
    Commit {
        seq: u64,
        reply: oneshot::Receiver<sysmon_tsdb::Result<CommitOutcome>>,
        /// Reported once the batch is durable.
        events: Vec<v1::Event>,
        /// The batch's oldest sample (unix ms), `i64::MAX` when it has none.
        oldest_ms: i64,
    },
    Rejected {
        seq: u64,
        reason: String,
    },
    /// The stream broke (e.g. an oversized message): tell the agent why, after the acks before it.
    End(Status),
}

#[tonic::async_trait]
impl Ingest for IngestService {
    type StreamStream = ReceiverStream<Result<v1::AggregatorMessage, Status>>;

    async fn stream(
        &self,
        request: Request<Streaming<v1::AgentMessage>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let peer = request
            .extensions()
            .get::<PeerIdentity>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("no verified client certificate on this connection"))?;
        let mut inbound = request.into_inner();
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, inbound.message()).await {
            Ok(Ok(Some(v1::AgentMessage { kind: Some(agent_message::Kind::Hello(hello)) }))) => hello,
            Ok(Ok(Some(_))) => return Err(Status::invalid_argument("the first message of a stream must be a Hello")),
            Ok(Ok(None)) => return Err(Status::cancelled("stream closed before Hello")),
            Ok(Err(status)) => return Err(status),
            Err(_) => return Err(Status::deadline_exceeded("no Hello within 30 s of connecting")),
        };
        if !hello.role.is_empty() {
            if hello.agent_id != peer.name {
                self.metrics.refused_streams.inc();
                return Err(Status::permission_denied(format!(
                    "aggregator name {:?} in Hello does not match the identity {:?} of its certificate",
                    hello.agent_id, peer.name
                )));
            }
            return crate::federation::accept_stream(
                self.federation.clone(),
                self.store.clone(),
                self.limits.clone(),
                self.metrics.clone(),
                peer,
                hello,
                inbound,
            )
            .await;
        }
        if self.federation.role == sysmon_federation::Role::Master {
            self.metrics.refused_streams.inc();
            warn!(peer = %peer.addr, agent_id = %hello.agent_id, "agent connected to a master; refused");
            return Err(Status::failed_precondition(format!(
                "this aggregator is a master (aggregator.role = \"master\"): agents report to a regional aggregator, not to {:?}",
                self.region
            )));
        }
        if hello.agent_id != peer.name {
            self.metrics.refused_streams.inc();
            warn!(peer = %peer.addr, certificate = %peer.name, claimed = %hello.agent_id, "agent id does not match its certificate; stream refused");
            return Err(Status::permission_denied(format!(
                "agent id {:?} in Hello does not match the identity {:?} of the client certificate: an agent may only write as itself",
                hello.agent_id, peer.name
            )));
        }
        if hello.agent_id.is_empty() || hello.agent_id.len() > 253 || hello.agent_id.contains('\0') {
            return Err(Status::invalid_argument("agent id must be 1 to 253 bytes without NUL"));
        }
        let record = HostRecord {
            host: hello.agent_id.clone(),
            region: self.region.clone(),
            agent_version: hello.agent_version.clone(),
            interval_ms: hello.interval_ms,
            inventory: hello.inventory.clone().unwrap_or_default().into(),
            first_seen_ms: now_ms(),
        };
        let durable_seq = self.store.register_host(record).await?;
        let span = info_span!("ingest", agent_id = %hello.agent_id, peer = %peer.addr);
        span.in_scope(|| info!(durable_seq, agent_highest_seq = hello.highest_seq, agent_version = %hello.agent_version, "agent connected"));

        let (outbound, outbound_rx) = mpsc::channel(IN_FLIGHT_PER_STREAM + 1);
        let _ = outbound.send(Ok(ack(durable_seq))).await;
        let (pending_tx, pending_rx) = mpsc::channel(IN_FLIGHT_PER_STREAM);
        tokio::spawn(
            self.clone()
                .read_batches(inbound, hello.agent_id.clone(), pending_tx, outbound.clone())
                .instrument(span.clone()),
        );
        let acker = Acker {
            store: self.store.clone(),
            agent_id: hello.agent_id.clone(),
            metrics: self.metrics.clone(),
            federation: self.federation.clone(),
        };
        tokio::spawn(acker.send_acks(pending_rx, outbound).instrument(span));
        Ok(Response::new(ReceiverStream::new(outbound_rx)))
    }
}

impl IngestService {
    async fn read_batches(
        self,
        mut inbound: Streaming<v1::AgentMessage>,
        agent_id: String,
        pending: mpsc::Sender<Pending>,
        outbound: Outbound,
    ) {
        let mut series = SeriesCache::default();
        loop {
            let message = match inbound.message().await {
                Ok(Some(message)) => message,
                Ok(None) => {
                    info!("agent closed its stream");
                    return;
                }
                Err(status) => {
                    info!(code = ?status.code(), message = status.message(), "agent stream ended");
                    let _ = pending.send(Pending::End(status)).await;
                    return;
                }
            };
            let mut batch = match message.kind {
                Some(agent_message::Kind::Batch(batch)) => batch,
                Some(agent_message::Kind::Hello(_)) | None => {
                    let _ =
                        outbound.send(Err(Status::invalid_argument("only Batch messages may follow the Hello"))).await;
                    return;
                }
            };
            let seq = batch.seq;
            let events = std::mem::take(&mut batch.events);
            let decoded = check_events(seq, &events)
                .map_err(Error::InvalidBatch)
                .and_then(|()| decode_batch(batch, &agent_id, &self.region, &self.limits, now_ms(), &mut series));
            let item = match decoded {
                Ok(accepted) => {
                    if self.store.wait_for_room(accepted.samples.len()).await {
                        self.metrics.backpressure_waits.inc();
                        debug!(seq, "held back until the storage engine had room");
                    }
                    let oldest_ms = accepted.samples.iter().map(|s| s.1).min().unwrap_or(i64::MAX);
                    Pending::Commit { seq, reply: self.store.commit_batch(accepted), events, oldest_ms }
                }
                Err(err) => {
                    self.metrics.rejected_batches.inc();
                    warn!(seq, error = %err, "batch rejected");
                    Pending::Rejected { seq, reason: err.to_string() }
                }
            };
            if pending.send(item).await.is_err() {
                return;
            }
        }
    }
}

/// What answering a stream's batches needs.
struct Acker {
    store: Store,
    agent_id: String,
    metrics: Arc<IngestMetrics>,
    federation: Arc<FederationContext>,
}

impl Acker {
    /// Answers each pending batch, in the order they arrived.
    async fn send_acks(self, mut pending: mpsc::Receiver<Pending>, outbound: Outbound) {
        let Acker { store, agent_id, metrics, federation } = &self;
        while let Some(item) = pending.recv().await {
            let message = match item {
                Pending::Rejected { seq, reason } => v1::AggregatorMessage {
                    kind: Some(aggregator_message::Kind::Rejected(v1::BatchRejected { seq, reason })),
                },
                Pending::End(status) => {
                    let _ = outbound.send(Err(status)).await;
                    return;
                }
                Pending::Commit { seq, reply, events, oldest_ms } => match reply.await {
                    // The batch's events are stored before its ack, for a replay too: if the
                    // aggregator stopped between committing a batch and storing its events, the
                    // resent batch brings them (an event already stored is not stored again).
                    Ok(Ok(_)) if let Err(err) = store.put_agent_events(agent_id, seq, &events).await => {
                        warn!(seq, error = %DisplayChain(&err), "batch events not stored; the agent will resend the batch");
                        let _ = outbound.send(Err(err.into())).await;
                        return;
                    }
                    // Samples for minutes already replicated to the master are noted before the
                    // ack, so they are replicated again even if this aggregator crashes now.
                    Ok(Ok(_)) if let Err(err) = note_late(federation, agent_id, oldest_ms).await => {
                        warn!(seq, error = %DisplayChain(&err), "late samples not noted for replication; the agent will resend the batch");
                        let _ = outbound.send(Err(err.into())).await;
                        return;
                    }
                    Ok(Ok(CommitOutcome::Stored { appended, out_of_order, duplicates })) => {
                        metrics.stored_samples.inc_by(appended as u64);
                        metrics.agent_events.record(agent_id, seq, &events);
                        store.touch(agent_id);
                        if out_of_order > 0 {
                            metrics.out_of_order_samples.inc_by(out_of_order as u64);
                            warn!(seq, out_of_order, "samples older than their series' newest sample were dropped");
                        }
                        debug!(seq, appended, duplicates, "batch durable");
                        ack(seq)
                    }
                    Ok(Ok(CommitOutcome::Replay)) => {
                        metrics.replayed_batches.inc();
                        debug!(seq, "batch was a replay; already durable");
                        ack(seq)
                    }
                    Ok(Err(err)) => {
                        let err = Error::StoreBatch(Box::new(err));
                        warn!(seq, error = %DisplayChain(&err), "batch not stored; the agent will resend it");
                        let _ = outbound.send(Err(err.into())).await;
                        return;
                    }
                    Err(_) => {
                        let _ = outbound.send(Err(Status::unavailable("the aggregator is shutting down"))).await;
                        return;
                    }
                },
            };
            if outbound.send(Ok(message)).await.is_err() {
                return;
            }
        }
    }
}

/// Notes `host`'s samples from `oldest_ms` on as late for its master, when they are.
async fn note_late(federation: &FederationContext, host: &str, oldest_ms: i64) -> Result<()> {
    let Some(replicator) = federation.replicator.clone() else { return Ok(()) };
    if !replicator.is_late(oldest_ms) {
        return Ok(());
    }
    let host = host.to_string();
    tokio::task::spawn_blocking(move || replicator.note_late(&host, oldest_ms))
        .await
        .map_err(|_| Error::WriterStopped)?
        .map_err(Error::StartFederation)
}

fn ack(durable_seq: u64) -> v1::AggregatorMessage {
    v1::AggregatorMessage { kind: Some(aggregator_message::Kind::Ack(v1::Ack { durable_seq })) }
}
