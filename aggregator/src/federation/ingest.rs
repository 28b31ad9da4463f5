//! A federation stream at a master: an aggregator below (a regional, or a master reporting
//! upward) says Hello with its role and region, then sends batches of 1-minute rollups,
//! host states, region states and the regions' alert sets. Each batch is forwarded upward
//! first (when this master has a master of its own), its hosts recorded, then its rollups
//! committed with the sender's seq in one transaction, then its regions' states and alert
//! sets recorded, and only then acknowledged: a batch sent again after any crash is a
//! replay, or replaces buckets with the same buckets.

use std::collections::BTreeMap;
use std::sync::Arc;

use sysmon_proto::v1::{self, agent_message, aggregator_message};
use sysmon_tsdb::{CommitOutcome, Labels, RollupPoint, Tier};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Response, Status, Streaming};
use tracing::{Instrument as _, debug, info, info_span, warn};

use super::FederationContext;
use super::region_alerts::valid_alerts;
use crate::config::Limits;
use crate::error::{DisplayChain, Error};
use crate::ingest::{PeerIdentity, check_label};
use crate::metrics::IngestMetrics;
use crate::store::Store;

type Outbound = mpsc::Sender<Result<v1::AggregatorMessage, Status>>;

/// The key of a federating sender's seqs in the engine (apart from agents' ids).
fn producer(sender: &str) -> String {
    format!("federation:{sender}")
}

/// Accepts a federation stream after its Hello, or refuses it with a reason to act on.
pub(crate) async fn accept(
    context: Arc<FederationContext>,
    store: Store,
    limits: Arc<Limits>,
    metrics: Arc<IngestMetrics>,
    peer: PeerIdentity,
    hello: v1::Hello,
    inbound: Streaming<v1::AgentMessage>,
) -> Result<Response<ReceiverStream<Result<v1::AggregatorMessage, Status>>>, Status> {
    if !peer.aggregator {
        warn!(peer = %peer.addr, certificate = %peer.name, "federation stream with an agent certificate; refused");
        return Err(Status::permission_denied(format!(
            "{:?} presents an agent certificate; only aggregators (certificates from `sysmon certs issue --server`) may federate",
            peer.name
        )));
    }
    if hello.role != "regional" && hello.role != "master" {
        return Err(Status::invalid_argument(format!(
            "unknown role {:?} in Hello: \"regional\" or \"master\"",
            hello.role
        )));
    }
    let Some(regions) = context.regions.clone() else {
        return Err(Status::failed_precondition(format!(
            "this aggregator is a regional (aggregator.role = \"regional\", region {:?}); federation streams go to a master",
            context.region
        )));
    };
    if hello.region.is_empty() || check_label("region", &hello.region, &limits).is_err() {
        return Err(Status::invalid_argument(format!("region {:?} in Hello is not a valid label value", hello.region)));
    }
    let producer = producer(&hello.agent_id);
    let durable_seq = store.tsdb().producer_seq(&producer).map_err(|e| Status::from(Error::StoreBatch(Box::new(e))))?;
    let span = info_span!("federation", sender = %hello.agent_id, region = %hello.region, peer = %peer.addr);
    span.in_scope(
        || info!(durable_seq, role = %hello.role, query_endpoint = %hello.query_endpoint, "aggregator below connected"),
    );
    let (outbound, outbound_rx) = mpsc::channel(8);
    let _ = outbound.send(Ok(ack(durable_seq))).await;
    let stream = FederatedStream { context, regions, store, limits, metrics, hello, producer };
    tokio::spawn(stream.run(inbound, outbound).instrument(span));
    Ok(Response::new(ReceiverStream::new(outbound_rx)))
}

struct FederatedStream {
    context: Arc<FederationContext>,
    regions: Arc<super::RegionDirectory>,
    store: Store,
    limits: Arc<Limits>,
    metrics: Arc<IngestMetrics>,
    hello: v1::Hello,
    producer: String,
}

impl FederatedStream {
    async fn run(self, mut inbound: Streaming<v1::AgentMessage>, outbound: Outbound) {
        loop {
            let message = match inbound.message().await {
                Ok(Some(message)) => message,
                Ok(None) => {
                    info!("aggregator below closed its stream");
                    return;
                }
                Err(status) => {
                    info!(code = ?status.code(), message = status.message(), "federation stream ended");
                    return;
                }
            };
            let Some(agent_message::Kind::Batch(batch)) = message.kind else {
                let _ = outbound.send(Err(Status::invalid_argument("only Batch messages may follow the Hello"))).await;
                return;
            };
            let seq = batch.seq;
            let answer = match self.handle(batch).await {
                Ok(()) => ack(seq),
                Err(Error::InvalidBatch(reason)) => {
                    warn!(seq, %reason, "federation batch rejected");
                    v1::AggregatorMessage {
                        kind: Some(aggregator_message::Kind::Rejected(v1::BatchRejected { seq, reason })),
                    }
                }
                Err(err) => {
                    warn!(seq, error = %DisplayChain(&err), "federation batch not stored; the sender will resend it");
                    let _ = outbound.send(Err(err.into())).await;
                    return;
                }
            };
            if outbound.send(Ok(answer)).await.is_err() {
                return;
            }
        }
    }

    async fn handle(&self, mut batch: v1::Batch) -> Result<(), Error> {
        let seq = batch.seq;
        if seq == 0 {
            return Err(Error::InvalidBatch("batch seq must be at least 1".into()));
        }
        if seq <= self.store.tsdb().producer_seq(&self.producer).unwrap_or(0) {
            debug!(seq, "federation batch was a replay; already durable");
            return Ok(());
        }
        let series = decode(&batch, &self.hello.region, &self.limits)
            .map_err(|reason| Error::InvalidBatch(format!("batch {seq}: {reason}")))?;
        let carried = batch.alerts.len();
        let (alerts, reasons) = valid_alerts(std::mem::take(&mut batch.alerts), &self.limits);
        if let Some(first) = reasons.first() {
            let dropped = carried - alerts.len();
            self.metrics.dropped_alerts.inc_by(dropped as u64);
            warn!(seq, dropped, first = %first, "federation batch had bad alerts; they are dropped");
        }
        batch.alerts = alerts;
        if let Some(uplink) = &self.context.forward {
            // Upward first: a crash after this sends it up twice (the same buckets), never not at all.
            let mut upward = batch.clone();
            upward.seq = 0;
            if !uplink.push(upward, crate::registry::now_ms(), &self.context.cancel).await {
                return Err(Error::WriterStopped);
            }
        }
        // Hosts before the rollups (a crash between the two records them again with the
        // resent batch); the frontier only after them, so that no query reads buckets that
        // the frontier calls complete before they are stored.
        self.regions.note_hosts(&batch.hosts);
        let store = self.store.clone();
        let hosts = batch.hosts;
        tokio::task::spawn_blocking(move || store.put_federated_hosts(&hosts))
            .await
            .map_err(|_| Error::WriterStopped)??;
        let points: usize = series.iter().map(|(_, p)| p.len()).sum();
        let outcome = self
            .store
            .tsdb()
            .write_rollups(Tier::Minute, series, Some((self.producer.clone(), seq)))
            .await
            .map_err(|_| Error::WriterStopped)?
            .map_err(|e| Error::StoreBatch(Box::new(e)))?;
        match outcome {
            CommitOutcome::Replay => debug!(seq, "federation batch was a replay"),
            CommitOutcome::Stored { .. } => debug!(seq, points, "federation batch durable"),
        }
        let regions = self.regions.clone();
        let region_alerts = self.context.region_alerts.clone();
        let (via, endpoint) = (self.hello.agent_id.clone(), self.hello.query_endpoint.clone());
        let (statuses, alerts) = (batch.regions, batch.alerts);
        tokio::task::spawn_blocking(move || {
            regions.update(&via, &endpoint, &statuses)?;
            region_alerts.map_or(Ok(()), |sets| sets.replace(&statuses, &alerts))
        })
        .await
        .map_err(|_| Error::WriterStopped)?
    }
}

/// A batch's rollups grouped by series, each series checked, `region` added where missing.
fn decode(batch: &v1::Batch, region: &str, limits: &Limits) -> Result<Vec<(Labels, Vec<RollupPoint>)>, String> {
    if batch.samples.as_ref().is_some_and(|s| !s.series.is_empty()) {
        return Err("a federation batch carries rollups, not raw samples".into());
    }
    if batch.series.len() > limits.max_batch_series {
        return Err(format!("has {} series; limit max_batch_series = {}", batch.series.len(), limits.max_batch_series));
    }
    let labels = sysmon_federation::wire::series_labels(&batch.strings, &batch.series)?;
    let mut checked = Vec::with_capacity(labels.len());
    for (i, l) in labels.into_iter().enumerate() {
        if l.len() > limits.max_labels_per_series {
            return Err(format!(
                "series {i} has {} labels; limit max_labels_per_series = {}",
                l.len(),
                limits.max_labels_per_series
            ));
        }
        for (name, value) in l.pairs() {
            check_label(name, value, limits).map_err(|msg| format!("series {i}: {msg}"))?;
        }
        if l.metric_name().is_none() {
            return Err(format!("series {i} has no __name__ label"));
        }
        checked.push(if l.get("region").is_some() {
            l
        } else {
            Labels::new(l.into_pairs().into_iter().chain([("region".to_string(), region.to_string())]))
        });
    }
    let Some(rollups) = &batch.rollups else { return Ok(Vec::new()) };
    let mut grouped: BTreeMap<u32, Vec<RollupPoint>> = BTreeMap::new();
    for (series, point) in sysmon_federation::wire::decode_rollups(rollups, checked.len())? {
        grouped.entry(series).or_default().push(point);
    }
    Ok(grouped.into_iter().map(|(i, points)| (checked[i as usize].clone(), points)).collect())
}

fn ack(durable_seq: u64) -> v1::AggregatorMessage {
    v1::AggregatorMessage { kind: Some(aggregator_message::Kind::Ack(v1::Ack { durable_seq })) }
}
