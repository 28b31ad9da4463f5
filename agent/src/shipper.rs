//! The shipper: one long-lived mutual-TLS gRPC stream to an aggregator. It says Hello,
//! learns the aggregator's durable seq, sends queued batches in order (a bounded window in
//! flight), and removes them from the outbox as acks arrive. On any failure it reconnects
//! with jittered exponential backoff, trying the configured endpoints in order.

use std::sync::Arc;
use std::time::Duration;

use sysmon_proto::ingest_client::IngestClient;
use sysmon_proto::v1::{self, agent_message, aggregator_message};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tracing::{debug, error, info, warn};

use crate::config::AgentSettings;
use crate::error::{Error, Result};
use crate::outbox::Outbox;
use crate::tls_probe::certificate_refusal;

/// Batches sent but not yet acked, at most.
const WINDOW: u64 = 32;
/// How long connecting, and waiting for the aggregator's first answer, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What the shipper needs to say Hello.
pub(crate) struct HelloInfo {
    pub(crate) agent_id: String,
    pub(crate) inventory: v1::HostInventory,
    pub(crate) interval_ms: u64,
}

/// Ships the outbox until `cancel`.
pub(crate) async fn ship(
    settings: Arc<AgentSettings>,
    hello: HelloInfo,
    outbox: Arc<Outbox>,
    cancel: CancellationToken,
) {
    let mut failures: u32 = 0;
    let mut endpoint_index = 0;
    loop {
        let endpoint = &settings.endpoints[endpoint_index % settings.endpoints.len()];
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            result = run_stream(&settings, endpoint, &hello, &outbox, &cancel) => result,
        };
        match result {
            Ok(()) => return, // cancelled
            Err(StreamEnd { welcomed, error }) => {
                if welcomed {
                    failures = 0;
                } else {
                    endpoint_index += 1;
                }
                failures += 1;
                let delay = backoff(failures);
                let mut explanation = explain(&error);
                if !welcomed && !explanation.permanent {
                    // A refused client certificate often shows up only as a closed connection.
                    let refusal = tokio::select! {
                        _ = cancel.cancelled() => return,
                        refusal = certificate_refusal(&settings, endpoint) => refusal,
                    };
                    if let Some(alert) = refusal {
                        explanation = explain(&Error::Protocol(format!("{}; {alert}", explanation.text)));
                    }
                }
                if explanation.permanent {
                    error!(%endpoint, reason = %explanation.text, retry_in_ms = delay.as_millis() as u64, "aggregator refused this agent");
                } else {
                    warn!(%endpoint, reason = %explanation.text, retry_in_ms = delay.as_millis() as u64, "connection to aggregator lost; retrying");
                }
            }
        }
        let delay = backoff(failures);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

struct StreamEnd {
    /// Whether the aggregator had answered the Hello (a working link that later broke).
    welcomed: bool,
    error: Error,
}

async fn connect(settings: &AgentSettings, endpoint: &str) -> Result<Channel> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|source| Error::ReadSource { path: path.to_path_buf(), source })
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

async fn run_stream(
    settings: &AgentSettings,
    endpoint: &str,
    hello: &HelloInfo,
    outbox: &Outbox,
    cancel: &CancellationToken,
) -> Result<(), StreamEnd> {
    let early = |error| StreamEnd { welcomed: false, error };
    let channel = connect(settings, endpoint).await.map_err(early)?;
    let mut client = IngestClient::new(channel)
        .max_decoding_message_size(sysmon_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(sysmon_proto::MAX_MESSAGE_BYTES);

    let (tx, rx) = mpsc::channel(WINDOW as usize + 1);
    let hello_message = v1::AgentMessage {
        kind: Some(agent_message::Kind::Hello(v1::Hello {
            agent_id: hello.agent_id.clone(),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            inventory: Some(hello.inventory.clone()),
            highest_seq: outbox.highest_seq(),
            interval_ms: hello.interval_ms,
        })),
    };
    let _ = tx.send(hello_message).await;
    let response = tokio::time::timeout(CONNECT_TIMEOUT, client.stream(ReceiverStream::new(rx)))
        .await
        .map_err(|_| early(Error::Timeout { what: "the aggregator's answer to Hello" }))?
        .map_err(|status| early(Error::Refused(status)))?;
    let mut inbound = response.into_inner();
    let durable = match tokio::time::timeout(CONNECT_TIMEOUT, inbound.message()).await {
        Ok(Ok(Some(v1::AggregatorMessage { kind: Some(aggregator_message::Kind::Ack(ack)) }))) => ack.durable_seq,
        Ok(Ok(_)) => return Err(early(Error::Protocol("the aggregator did not answer Hello with an Ack".into()))),
        Ok(Err(status)) => return Err(early(Error::Refused(status))),
        Err(_) => return Err(early(Error::Timeout { what: "the aggregator's Ack of Hello" })),
    };
    let mut acked = outbox.welcome(durable);
    let mut sent = acked;
    info!(%endpoint, durable_seq = durable, "connected to aggregator");

    let late = |error| StreamEnd { welcomed: true, error };
    loop {
        while sent - acked < WINDOW {
            let Some(batch) = outbox.next_after(sent) else { break };
            sent = batch.seq;
            let message = v1::AgentMessage { kind: Some(agent_message::Kind::Batch(batch)) };
            if tx.send(message).await.is_err() {
                return Err(late(Error::Protocol("the stream to the aggregator closed".into())));
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = outbox.changed() => {}
            message = inbound.message() => match message {
                Ok(Some(v1::AggregatorMessage { kind: Some(aggregator_message::Kind::Ack(ack)) })) => {
                    outbox.ack(ack.durable_seq);
                    acked = acked.max(ack.durable_seq);
                }
                Ok(Some(v1::AggregatorMessage { kind: Some(aggregator_message::Kind::Rejected(rejected)) })) => {
                    // A refused batch is final: resending it would be refused again.
                    error!(seq = rejected.seq, reason = %rejected.reason, "aggregator rejected a batch; it is dropped");
                    outbox.ack(rejected.seq);
                    acked = acked.max(rejected.seq);
                }
                Ok(Some(_)) => debug!("ignoring an empty message from the aggregator"),
                Ok(None) => return Err(late(Error::Protocol("the aggregator closed the stream".into()))),
                Err(status) => return Err(late(Error::Refused(status))),
            },
        }
    }
}

/// Jittered exponential backoff: 0.5 s, 1 s, 2 s, ... up to 30 s, each scaled by a random
/// 50-100 % so that a fleet reconnecting after an aggregator restart spreads out.
fn backoff(failures: u32) -> Duration {
    let exp = BACKOFF_MIN.saturating_mul(1u32 << failures.saturating_sub(1).min(16)).min(BACKOFF_MAX);
    exp.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

struct Explanation {
    text: String,
    /// Retrying will not help until someone changes a certificate or a config.
    permanent: bool,
}

/// Turns a stream failure into a sentence that tells the operator what to fix.
fn explain(error: &Error) -> Explanation {
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
                "the aggregator did not accept this agent's certificate; is it issued by the fleet CA the aggregator trusts? ({text})"
            ),
            permanent: true,
        };
    }
    if lower.contains("invalid peer certificate") || lower.contains("certificate") {
        return Explanation {
            text: format!(
                "the aggregator's certificate is not trusted; check tls.ca_cert and aggregator.server_name ({text})"
            ),
            permanent: true,
        };
    }
    Explanation { text, permanent: false }
}

fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for failures in 1..40 {
            let d = backoff(failures);
            assert!(d >= BACKOFF_MIN / 2 && d <= BACKOFF_MAX, "{failures}: {d:?}");
        }
        assert!(backoff(20) >= BACKOFF_MAX / 2);
    }

    #[test]
    fn permission_denied_is_explained_verbatim() {
        let e = Error::Refused(tonic::Status::permission_denied("agent id \"a\" does not match"));
        let ex = explain(&e);
        assert!(ex.permanent);
        assert_eq!(ex.text, "agent id \"a\" does not match");
    }
}
