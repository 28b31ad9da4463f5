//! [`Announcer`]: makes an aggregator findable by the discovery source its clients use.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, debug, info, info_span, warn};

use super::config::{DiscoverySettings, Source};
use super::consul::{self, ConsulClient, Registration};
use super::instance::{Instance, endpoint_host_port};
use super::mdns;
use crate::error::{DisplayChain, Error, Result};

/// A Consul registration is kept alive with a TTL of this many refresh intervals.
const TTL_INTERVALS: u32 = 3;

/// Keeps one aggregator announced until its cancellation token is cancelled, then
/// withdraws the announcement.
///
/// - mDNS: registers `<instance>.<service>` with TXT records `role`, `region`, `grpc_port`,
///   `version` and, when known, `http`, on the configured interfaces only; on cancel it
///   sends goodbye packets and stops the daemon.
/// - Consul: registers the service with `Meta` {role, region, version, http} and a TTL
///   check (three refresh intervals) that it marks passing every refresh interval,
///   registering again when the Consul agent has forgotten it; on cancel it deregisters.
/// - static and DNS SRV: announce nothing; the static lists or the DNS zone (Kubernetes)
///   say where aggregators are.
#[derive(Debug)]
pub struct Announcer {
    task: Option<JoinHandle<()>>,
}

impl Announcer {
    /// Starts announcing `me` as `settings` say. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// `me.endpoint` is not `https://host:port`, or the source cannot be set up (the mDNS
    /// daemon does not start or refuses the registration; the HTTP client for Consul
    /// cannot be built). Consul being away is not an error: registration is retried every
    /// refresh interval.
    pub fn start(settings: DiscoverySettings, me: Instance, cancel: CancellationToken) -> Result<Self> {
        let (host, port) = endpoint_host_port(&me.endpoint)
            .map_err(|reason| Error::AnnounceEndpoint { endpoint: me.endpoint.clone(), reason })?;
        let mode = settings.mode().as_str();
        let task = match settings.source {
            Source::Static(_) | Source::DnsSrv(_) => {
                debug!(mode, endpoint = %me.endpoint, "nothing to announce in this discovery mode");
                None
            }
            Source::Mdns(mdns) => {
                let announcement = mdns::Announcement::register(&mdns, &me, &host, port)?;
                let span = info_span!("announce", mode, endpoint = %me.endpoint);
                Some(tokio::spawn(
                    async move {
                        cancel.cancelled().await;
                        announcement.withdraw().await;
                    }
                    .instrument(span),
                ))
            }
            Source::Consul(consul) => {
                let client = ConsulClient::new(consul)?;
                let registration = Registration {
                    id: consul::service_id(client.service(), &host, port),
                    address: host,
                    port,
                    meta: announced_meta(&me),
                    ttl: settings.refresh_interval * TTL_INTERVALS,
                };
                let span = info_span!("announce", mode, endpoint = %me.endpoint, service_id = %registration.id);
                let refresh = settings.refresh_interval;
                Some(tokio::spawn(keep_registered(client, registration, refresh, cancel).instrument(span)))
            }
        };
        Ok(Self { task })
    }

    /// Waits until the announcement is withdrawn (Consul deregistered, mDNS goodbye sent),
    /// after the cancellation token given to [`Announcer::start`] was cancelled.
    pub async fn join(self) {
        if let Some(task) = self.task
            && let Err(e) = task.await
        {
            warn!(error = %e, "announcer task ended abnormally");
        }
    }
}

/// The metadata announced with an instance: `role`, `region`, `version`, `http`, those known.
pub(crate) fn announced_meta(me: &Instance) -> BTreeMap<String, String> {
    let mut meta = BTreeMap::new();
    if let Some(role) = me.role {
        meta.insert("role".to_string(), role.as_str().to_string());
    }
    for (key, value) in [("region", &me.region), ("version", &me.version), ("http", &me.http_url)] {
        if let Some(value) = value {
            meta.insert(key.to_string(), value.clone());
        }
    }
    meta
}

/// Registers, then passes the TTL check every `refresh`, until cancelled; then deregisters.
async fn keep_registered(
    client: ConsulClient,
    registration: Registration,
    refresh: Duration,
    cancel: CancellationToken,
) {
    let check_id = registration.check_id();
    let mut registered = false;
    loop {
        let step = if registered { client.pass_check(&check_id).await } else { client.register(&registration).await };
        match step {
            Ok(()) if !registered => {
                info!("registered with Consul");
                registered = true;
            }
            Ok(()) => {}
            Err(Error::ConsulStatus { status: 404, .. }) if registered => {
                warn!("Consul no longer knows this registration; registering again");
                registered = false;
                continue;
            }
            Err(e) => warn!(error = %DisplayChain(&e), registered, "Consul registration not refreshed; retrying"),
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(refresh) => {}
        }
    }
    match client.deregister(&registration.id).await {
        Ok(()) => info!("deregistered from Consul"),
        Err(e) => warn!(error = %DisplayChain(&e), "cannot deregister from Consul; its TTL check will expire"),
    }
}
