//! [`Discovery`]: the current list of instances from the configured source, kept fresh by
//! a task of its own.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, info, info_span, warn};

use super::config::{DiscoverySettings, Source};
use super::consul::ConsulClient;
use super::dns_srv::SrvLookup;
use super::instance::{Instance, Role, preference_order};
use super::mdns;
use crate::error::{DisplayChain, Error, Result};

/// The longest one Consul or DNS SRV lookup may take before it counts as failed.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The instances one discovery source knows, kept up to date until its cancellation token
/// is cancelled.
///
/// - static: the list as configured, never refreshed (no task);
/// - Consul and DNS SRV: looked up at start, then every `refresh_interval`; a failed lookup
///   logs a warning and keeps the last good list;
/// - mDNS: follows announcements, goodbyes and expiries as the daemon reports them.
#[derive(Debug)]
pub struct Discovery {
    instances: watch::Receiver<Vec<Instance>>,
    task: Option<JoinHandle<()>>,
}

/// A source that is asked again every refresh interval.
enum Poller {
    Consul(ConsulClient),
    // Boxed: the resolver is large, and the enum lives in a task's state.
    DnsSrv(Box<SrvLookup>),
}

impl Discovery {
    /// Starts discovery as `settings` say. Must be called inside a tokio runtime.
    ///
    /// No lookup has answered when this returns; [`Discovery::wait_for`] waits for one that
    /// satisfies the caller. The mDNS daemon is created only here, and only with
    /// mode = "mdns", restricted at once to `discovery.mdns.interfaces`.
    ///
    /// # Errors
    /// The source cannot be set up: the mDNS daemon does not start, the system DNS
    /// configuration cannot be read, or the HTTP client for Consul cannot be built. Lookup
    /// failures are not errors: they are logged and retried.
    pub fn start(settings: DiscoverySettings, cancel: CancellationToken) -> Result<Self> {
        let refresh = settings.refresh_interval;
        let mode = settings.mode().as_str();
        let (sender, instances) = watch::channel(Vec::new());
        let task = match settings.source {
            Source::Static(endpoints) => {
                sender.send_replace(endpoints.into_iter().map(Instance::bare).collect());
                None
            }
            Source::Consul(consul) => {
                let poller = Poller::Consul(ConsulClient::new(consul)?);
                let span = info_span!("discovery", mode);
                Some(tokio::spawn(poll(poller, refresh, sender, cancel).instrument(span)))
            }
            Source::DnsSrv(dns_srv) => {
                let poller = Poller::DnsSrv(Box::new(SrvLookup::new(&dns_srv)?));
                let span = info_span!("discovery", mode, name = %dns_srv.name);
                Some(tokio::spawn(poll(poller, refresh, sender, cancel).instrument(span)))
            }
            Source::Mdns(mdns) => {
                let browser = mdns::Browser::start(&mdns)?;
                let span = info_span!("discovery", mode, service = %mdns.service);
                Some(tokio::spawn(browser.run(sender, cancel).instrument(span)))
            }
        };
        info!(mode, refresh_interval_ms = refresh.as_millis() as u64, "discovery started");
        Ok(Self { instances, task })
    }

    /// The instances known now, in the source's stable order. Empty until a lookup answers.
    pub fn instances(&self) -> Vec<Instance> {
        self.instances.borrow().clone()
    }

    /// The endpoints a client wanting an aggregator of role `want` should try, in order:
    /// those of `own_region` first, then the others, each group in the source's stable
    /// order. Instances whose role the source does not say (static list, DNS SRV) are
    /// always included; a static list comes back exactly as configured. Empty means
    /// "none known yet".
    ///
    /// ```
    /// use sysmon_federation::{Discovery, DiscoveryConfig, Role};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config: DiscoveryConfig =
    ///     toml::from_str(r#"static_endpoints = ["https://b:9801", "https://a:9801"]"#).unwrap();
    /// let cancel = tokio_util::sync::CancellationToken::new();
    /// let discovery = Discovery::start(config.validate().unwrap(), cancel).unwrap();
    /// assert_eq!(discovery.endpoints(Role::Master, Some("eu")), ["https://b:9801", "https://a:9801"]);
    /// # }
    /// ```
    pub fn endpoints(&self, want: Role, own_region: Option<&str>) -> Vec<String> {
        preference_order(&self.instances.borrow(), want, own_region)
    }

    /// Waits until the instance list satisfies `ready`, and returns that list; `None` if
    /// the list can no longer change (the source stopped, or is static and does not
    /// satisfy `ready`). Wrap it in a timeout.
    pub async fn wait_for(&self, mut ready: impl FnMut(&[Instance]) -> bool) -> Option<Vec<Instance>> {
        let mut receiver = self.instances.clone();
        receiver.wait_for(|list| ready(list)).await.ok().map(|list| list.clone())
    }

    /// Waits for the refresh task to end, after the cancellation token given to
    /// [`Discovery::start`] was cancelled.
    pub async fn join(self) {
        if let Some(task) = self.task
            && let Err(e) = task.await
        {
            warn!(error = %e, "discovery task ended abnormally");
        }
    }
}

impl Poller {
    async fn lookup(&self) -> Result<Vec<Instance>> {
        let (mode, answer) = match self {
            Poller::Consul(client) => {
                ("consul", tokio::time::timeout(LOOKUP_TIMEOUT, client.healthy_instances()).await)
            }
            Poller::DnsSrv(srv) => ("dns_srv", tokio::time::timeout(LOOKUP_TIMEOUT, srv.lookup()).await),
        };
        answer.unwrap_or(Err(Error::LookupTimeout { mode, timeout_ms: LOOKUP_TIMEOUT.as_millis() as u64 }))
    }
}

/// Looks up now and then every `refresh` until cancelled, publishing each new list.
async fn poll(poller: Poller, refresh: Duration, sender: watch::Sender<Vec<Instance>>, cancel: CancellationToken) {
    let mut failing = false;
    loop {
        let answer = tokio::select! {
            () = cancel.cancelled() => break,
            answer = poller.lookup() => answer,
        };
        match answer {
            Ok(list) => {
                if failing {
                    info!(instances = list.len(), "discovery lookup answers again");
                    failing = false;
                }
                publish(&sender, list);
            }
            Err(e) => {
                warn!(
                    error = %DisplayChain(&e),
                    kept_instances = sender.borrow().len(),
                    "discovery lookup failed; keeping the last good list"
                );
                failing = true;
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(refresh) => {}
        }
    }
    info!("discovery stopped");
}

/// Replaces the published list when it changed, logging the new one.
pub(crate) fn publish(sender: &watch::Sender<Vec<Instance>>, list: Vec<Instance>) {
    let changed = sender.send_if_modified(|current| {
        if *current == list {
            return false;
        }
        *current = list;
        true
    });
    if changed {
        let list = sender.borrow();
        let endpoints: Vec<&str> = list.iter().map(|i| i.endpoint.as_str()).collect();
        info!(instances = list.len(), ?endpoints, "discovered instances changed");
    }
}
