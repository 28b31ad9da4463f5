//! The shipper: one long-lived mutual-TLS gRPC stream to an upstream aggregator. It says Hello,
//! learns the aggregator's durable seq, sends spooled batches in order (a bounded window in
//! flight), and acks them in the outbox as the aggregator's acks arrive. Which endpoint it
//! connects to, and when it retries, fails over or moves back, is [`crate::failover`]'s policy.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sysmon_proto::ingest_client::IngestClient;
use sysmon_proto::v1::{self, agent_message, aggregator_message};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tracing::{debug, error, info, warn};

use crate::chain;
use crate::endpoints::EndpointSource;
use crate::error::{Error, Result};
use crate::failover::Failover;
use crate::metrics::UplinkMetrics;
use crate::outbox::Outbox;
use crate::settings::UplinkSettings;
use crate::tls_probe::certificate_refusal;

/// Batches sent but not yet acked, at most.
const WINDOW: u64 = 32;
/// How long connecting, and waiting for the aggregator's first answer, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a move back to a preferred endpoint waits for the batches in flight to be acked.
const SWITCH_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Who the sender is, as its Hello tells the aggregator.
#[derive(Debug, Clone, Default)]
pub struct HelloInfo {
    /// The sender's id: the common name of its certificate (an agent id, or an aggregator's name).
    pub sender_id: String,
    /// "" for an agent; "regional" or "master" for an aggregator reporting upward.
    pub role: String,
    /// A federating aggregator's region ("" for an agent).
    pub region: String,
    /// Where a federating aggregator serves drill-down queries ("" for an agent).
    pub query_endpoint: String,
    /// An agent's host inventory.
    pub inventory: Option<v1::HostInventory>,
    /// An agent's collection interval, or a federating aggregator's replication interval.
    pub interval_ms: u64,
}

impl HelloInfo {
    /// What the sender is called in log lines.
    fn what(&self) -> &'static str {
        if self.role.is_empty() { "agent" } else { "aggregator" }
    }
}

/// Everything a stream needs.
pub(crate) struct Shipper {
    pub(crate) settings: Arc<UplinkSettings>,
    pub(crate) hello: HelloInfo,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) metrics: Arc<UplinkMetrics>,
    pub(crate) endpoints: Arc<dyn EndpointSource>,
}

/// How a stream ended.
enum StreamEnd {
    Cancelled,
    /// A more preferred endpoint answered; move there on this connection.
    Failback {
        index: usize,
        endpoint: String,
        channel: Channel,
    },
    Failed {
        /// Whether the aggregator had answered the Hello (a working link that later broke).
        welcomed: bool,
        error: Error,
    },
}

impl Shipper {
    /// Ships the outbox until `cancel`.
    pub(crate) async fn run(self, cancel: CancellationToken) {
        let mut failover = Failover::new(self.endpoints.clone());
        let mut ready: Option<(usize, String, Channel)> = None;
        let mut streams = 0u64;
        // Said once until an endpoint is known (a regional whose discovery has found no
        // master yet would say it at every retry otherwise).
        let mut said_none_known = false;
        loop {
            let (index, endpoint, channel) = match ready.take() {
                Some(ready) => ready,
                None => {
                    let attempt = match failover.next_attempt() {
                        Ok(attempt) => {
                            said_none_known = false;
                            attempt
                        }
                        Err(wait) => {
                            let retry_in_ms = wait.as_millis() as u64;
                            if said_none_known {
                                debug!(retry_in_ms, "no aggregator endpoint known yet");
                            } else {
                                warn!(retry_in_ms, "no aggregator endpoint known; waiting for discovery to find one");
                                said_none_known = true;
                            }
                            if sleep_or_cancel(wait, &cancel).await {
                                return;
                            }
                            continue;
                        }
                    };
                    if sleep_or_cancel(attempt.delay, &cancel).await {
                        return;
                    }
                    let connected = tokio::select! {
                        _ = cancel.cancelled() => return,
                        connected = connect(&self.settings, &attempt.endpoint) => connected,
                    };
                    match connected {
                        Ok(channel) => (attempt.index, attempt.endpoint, channel),
                        Err(error) => {
                            failover.attempt_failed();
                            self.report_failure(&attempt.endpoint, false, error, &cancel).await;
                            continue;
                        }
                    }
                }
            };
            streams += 1;
            match self.run_stream(index, &endpoint, channel, &mut failover, streams > 1, &cancel).await {
                StreamEnd::Cancelled => {
                    self.metrics.set_connected(None, false);
                    return;
                }
                StreamEnd::Failback { index: to, endpoint: target, channel } => {
                    info!(from = %endpoint, to = %target, "moving back to a preferred aggregator");
                    failover.switched_to(&target);
                    ready = Some((to, target, channel));
                }
                StreamEnd::Failed { welcomed, error } => {
                    self.metrics.set_connected(None, false);
                    if welcomed {
                        failover.link_lost();
                    } else {
                        failover.attempt_failed();
                    }
                    self.report_failure(&endpoint, welcomed, error, &cancel).await;
                }
            }
        }
    }

    /// Logs why a connection or stream failed, in words an operator can act on.
    async fn report_failure(&self, endpoint: &str, welcomed: bool, error: Error, cancel: &CancellationToken) {
        let mut explanation = explain(&error, self.hello.what());
        if !welcomed && !explanation.permanent {
            // A refused client certificate often shows up only as a closed connection.
            let refusal = tokio::select! {
                _ = cancel.cancelled() => return,
                refusal = certificate_refusal(&self.settings, endpoint) => refusal,
            };
            if let Some(alert) = refusal {
                explanation = explain(&Error::Protocol(format!("{}; {alert}", explanation.text)), self.hello.what());
            }
        }
        if explanation.permanent {
            error!(%endpoint, sender = self.hello.what(), reason = %explanation.text, "aggregator refused this sender");
        } else if welcomed {
            warn!(%endpoint, reason = %explanation.text, "connection to aggregator lost; retrying");
        } else {
            warn!(%endpoint, reason = %explanation.text, "cannot reach aggregator; trying the next endpoint");
        }
    }

    async fn run_stream(
        &self,
        index: usize,
        endpoint: &str,
        channel: Channel,
        failover: &mut Failover,
        reconnect: bool,
        cancel: &CancellationToken,
    ) -> StreamEnd {
        let early = |error| StreamEnd::Failed { welcomed: false, error };
        let mut client = IngestClient::new(channel)
            .max_decoding_message_size(sysmon_proto::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(sysmon_proto::MAX_MESSAGE_BYTES);

        let (tx, rx) = mpsc::channel(WINDOW as usize + 1);
        let hello_message = v1::AgentMessage {
            kind: Some(agent_message::Kind::Hello(v1::Hello {
                agent_id: self.hello.sender_id.clone(),
                agent_version: env!("CARGO_PKG_VERSION").to_string(),
                inventory: self.hello.inventory.clone(),
                highest_seq: self.outbox.highest_seq().await,
                interval_ms: self.hello.interval_ms,
                role: self.hello.role.clone(),
                region: self.hello.region.clone(),
                query_endpoint: self.hello.query_endpoint.clone(),
            })),
        };
        let _ = tx.send(hello_message).await;
        let answer = tokio::select! {
            _ = cancel.cancelled() => return StreamEnd::Cancelled,
            answer = tokio::time::timeout(CONNECT_TIMEOUT, client.stream(ReceiverStream::new(rx))) => answer,
        };
        let mut inbound = match answer {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => return early(Error::Refused(status)),
            Err(_) => return early(Error::Timeout { what: "the aggregator's answer to Hello" }),
        };
        let durable = match tokio::time::timeout(CONNECT_TIMEOUT, inbound.message()).await {
            Ok(Ok(Some(v1::AggregatorMessage { kind: Some(aggregator_message::Kind::Ack(ack)) }))) => ack.durable_seq,
            Ok(Ok(_)) => return early(Error::Protocol("the aggregator did not answer Hello with an Ack".into())),
            Ok(Err(status)) => return early(Error::Refused(status)),
            Err(_) => return early(Error::Timeout { what: "the aggregator's Ack of Hello" }),
        };
        let mut acked = self.outbox.welcome(durable).await;
        let mut sent = acked;
        failover.connected(index);
        self.metrics.set_connected(Some(index), reconnect);
        if index == 0 {
            info!(%endpoint, durable_seq = durable, "connected to aggregator");
        } else {
            warn!(%endpoint, endpoint_index = index, durable_seq = durable, "connected to aggregator (a fallback; the preferred endpoints are down)");
        }

        // Batches in flight: seq, when sent, when collected.
        let mut in_flight: VecDeque<(u64, Instant, i64)> = VecDeque::new();
        let mut failback_timer = tokio::time::interval_at(
            tokio::time::Instant::now() + self.settings.failback_interval,
            self.settings.failback_interval,
        );
        let mut probe: Option<JoinHandle<Option<(usize, String, Channel)>>> = None;
        let mut switching: Option<(tokio::time::Instant, (usize, String, Channel))> = None;
        let late = |error| StreamEnd::Failed { welcomed: true, error };
        loop {
            if let Some((deadline, _)) = &switching
                && (sent <= acked || tokio::time::Instant::now() >= *deadline)
            {
                let (_, (index, endpoint, channel)) = switching.take().expect("checked above");
                return StreamEnd::Failback { index, endpoint, channel };
            }
            while switching.is_none() && sent.saturating_sub(acked) < WINDOW {
                let Some(outgoing) = self.outbox.next_after(sent).await else { break };
                sent = outgoing.batch.seq;
                in_flight.push_back((sent, Instant::now(), outgoing.collected_at_ms));
                let message = v1::AgentMessage { kind: Some(agent_message::Kind::Batch(outgoing.batch)) };
                if tx.send(message).await.is_err() {
                    return late(Error::Protocol("the stream to the aggregator closed".into()));
                }
                self.metrics.count_sent();
            }
            let switch_deadline = switching.as_ref().map(|(deadline, _)| *deadline);
            tokio::select! {
                _ = cancel.cancelled() => return StreamEnd::Cancelled,
                _ = self.outbox.changed() => {}
                // Whatever this endpoint's index was when the stream began: a discovered list
                // changes (an aggregator of the sender's own region appears, or comes back
                // after its record expired), so what is more preferred is asked anew each time.
                _ = failback_timer.tick(), if probe.is_none() && switching.is_none() => {
                    let candidates = failover.more_preferred(endpoint);
                    if !candidates.is_empty() {
                        let settings = self.settings.clone();
                        probe = Some(tokio::spawn(async move { probe_endpoints(&settings, candidates).await }));
                    }
                }
                found = async { probe.as_mut().expect("guarded by the select condition").await }, if probe.is_some() => {
                    probe = None;
                    if let Ok(Some(target)) = found {
                        info!(to = %target.1, batches_in_flight = sent.saturating_sub(acked), "a preferred aggregator is back; moving once batches in flight are acked");
                        switching = Some((tokio::time::Instant::now() + SWITCH_DRAIN_TIMEOUT, target));
                    }
                }
                _ = async { tokio::time::sleep_until(switch_deadline.expect("guarded")).await }, if switch_deadline.is_some() => {}
                message = inbound.message() => match message {
                    Ok(Some(v1::AggregatorMessage { kind: Some(aggregator_message::Kind::Ack(ack)) })) => {
                        self.outbox.ack(ack.durable_seq).await;
                        acked = acked.max(ack.durable_seq);
                        self.note_acked(&mut in_flight, ack.durable_seq);
                    }
                    Ok(Some(v1::AggregatorMessage { kind: Some(aggregator_message::Kind::Rejected(rejected)) })) => {
                        // A refused batch is final: resending it would be refused again.
                        error!(seq = rejected.seq, reason = %rejected.reason, "aggregator rejected a batch; it is dropped");
                        self.outbox.reject(rejected.seq).await;
                        acked = acked.max(rejected.seq);
                        self.note_acked(&mut in_flight, rejected.seq);
                    }
                    Ok(Some(_)) => debug!("ignoring an empty message from the aggregator"),
                    Ok(None) => return late(Error::Protocol("the aggregator closed the stream".into())),
                    Err(status) => return late(Error::Refused(status)),
                },
            }
        }
    }

    /// Logs and times every batch in flight at or below `seq`.
    fn note_acked(&self, in_flight: &mut VecDeque<(u64, Instant, i64)>, seq: u64) {
        while let Some(&(s, sent_at, collected_at_ms)) = in_flight.front() {
            if s > seq {
                break;
            }
            in_flight.pop_front();
            self.metrics.observe_latency(sent_at.elapsed());
            debug!(seq = s, collected_at_ms, "batch acked");
        }
    }
}

/// Tries `candidates` in order; the first that accepts a connection, with its channel.
async fn probe_endpoints(
    settings: &UplinkSettings,
    candidates: Vec<(usize, String)>,
) -> Option<(usize, String, Channel)> {
    for (index, endpoint) in candidates {
        match connect(settings, &endpoint).await {
            Ok(channel) => return Some((index, endpoint, channel)),
            Err(e) => debug!(%endpoint, error = %chain(&e), "preferred aggregator still unreachable"),
        }
    }
    None
}

/// Sleeps `delay`; true if cancelled meanwhile.
async fn sleep_or_cancel(delay: Duration, cancel: &CancellationToken) -> bool {
    if delay.is_zero() {
        return cancel.is_cancelled();
    }
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(delay) => false,
    }
}

async fn connect(settings: &UplinkSettings, endpoint: &str) -> Result<Channel> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|source| Error::ReadCertificate { path: path.to_path_buf(), source })
    };
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(&settings.ca_cert)?))
        .identity(Identity::from_pem(read(&settings.cert)?, read(&settings.key)?));
    if let Some(name) = &settings.server_name {
        tls = tls.domain_name(name.clone());
    }
    let connect_err = |e: tonic::transport::Error| Error::Connect { endpoint: endpoint.to_string(), reason: chain(&e) };
    Endpoint::from_shared(endpoint.to_string())
        .map_err(connect_err)?
        .tls_config(tls)
        .map_err(connect_err)?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true)
        .connect()
        .await
        .map_err(connect_err)
}

struct Explanation {
    text: String,
    /// Retrying will not help until someone changes a certificate or a config.
    permanent: bool,
}

/// Turns a stream failure into a sentence that tells the operator what to fix.
/// `what` names the sender ("agent" or "aggregator").
fn explain(error: &Error, what: &str) -> Explanation {
    let text = match error {
        // A status's own Display dumps its internals; its message and causes read better.
        Error::Refused(status) => match std::error::Error::source(status) {
            Some(cause) => format!("{}: {}", status.message(), chain(cause)),
            None => format!("{}: {}", status.code(), status.message()),
        },
        other => chain(other),
    };
    let lower = text.to_ascii_lowercase();
    if let Error::Refused(status) = error
        && status.code() == tonic::Code::PermissionDenied
    {
        return Explanation { text: status.message().to_string(), permanent: true };
    }
    // The aggregator ends the handshake with an alert when it does not trust our certificate:
    // UnknownCA, BadCertificate, or DecryptError when a different CA of the same name signed it.
    if lower.contains("received fatal alert") {
        return Explanation {
            text: format!(
                "the aggregator did not accept this {what}'s certificate; is it issued by the fleet CA the aggregator trusts? ({text})"
            ),
            permanent: true,
        };
    }
    if lower.contains("invalid peer certificate") || lower.contains("certificate") {
        return Explanation {
            text: format!(
                "the aggregator's certificate is not trusted; check the fleet CA certificate and the server name setting ({text})"
            ),
            permanent: true,
        };
    }
    Explanation { text, permanent: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_denied_is_explained_verbatim() {
        let e = Error::Refused(tonic::Status::permission_denied("agent id \"a\" does not match"));
        let ex = explain(&e, "agent");
        assert!(ex.permanent);
        assert_eq!(ex.text, "agent id \"a\" does not match");
    }
}
