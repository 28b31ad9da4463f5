//! mDNS (crate `mdns-sd`): browsing `_sysmon._tcp.local.` into instances, and announcing
//! this aggregator, on the configured interfaces only.
//!
//! `ServiceDaemon::new()` starts a thread that joins the mDNS multicast group on every
//! interface that is up before any interface can be deselected (the selection is a command
//! the thread runs after that). So a daemon is created only when mode = "mdns", and its
//! first commands, run in order before any browse or registration, deselect every
//! interface and select the configured ones. What remains is the group join itself, at
//! start, and the leave right after: the kernel sends an IGMP/MLD membership report for
//! 224.0.0.251 and ff02::fb on each interface that is up. No mDNS query, answer or
//! announcement goes out on an interface that was not chosen, and the daemon applies the
//! same selection to interfaces and addresses that appear later (it looks every 5 s);
//! `tests/mdns.rs` checks both by capturing on decoy links.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use mdns_sd::{IfKind, ResolvedService, ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::announce::announced_meta;
use super::config::MdnsSettings;
use super::handle::publish;
use super::instance::{Instance, https_endpoint};
use crate::error::{Error, Result};

/// How long withdrawing an announcement (goodbye packets) and stopping the daemon may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// A daemon that uses only `settings.interfaces`.
fn restricted_daemon(settings: &MdnsSettings) -> Result<ServiceDaemon> {
    for interface in &settings.interfaces {
        // Not an error: an interface may come up later, and the daemon looks for new
        // addresses every few seconds, applying the same selection.
        if !std::path::Path::new("/sys/class/net").join(interface).exists() {
            warn!(%interface, "mDNS interface not found; it will be used once it appears");
        }
    }
    let start_error = |source| Error::StartMdns { interfaces: settings.interfaces.clone(), source };
    let daemon = ServiceDaemon::new().map_err(start_error)?;
    let chosen: Vec<IfKind> = settings.interfaces.iter().map(|name| IfKind::Name(name.clone())).collect();
    // The daemon applies selections in the order given: the last that matches an
    // interface decides, so "none, then these" leaves exactly these.
    let restricted = daemon.disable_interface(IfKind::All).and_then(|()| daemon.enable_interface(chosen));
    if let Err(source) = restricted {
        let _ = daemon.shutdown();
        return Err(start_error(source));
    }
    Ok(daemon)
}

/// Stops the daemon's thread, waiting at most [`STOP_TIMEOUT`].
async fn stop_daemon(daemon: &ServiceDaemon) {
    match daemon.shutdown() {
        Ok(status) => {
            if tokio::time::timeout(STOP_TIMEOUT, status.recv_async()).await.is_err() {
                warn!(timeout_ms = STOP_TIMEOUT.as_millis() as u64, "mDNS daemon did not confirm its shutdown");
            }
        }
        Err(e) => debug!(error = %e, "mDNS daemon already stopped"),
    }
}

/// Browses one service type.
pub(crate) struct Browser {
    daemon: ServiceDaemon,
    service: String,
    events: mdns_sd::Receiver<ServiceEvent>,
}

impl Browser {
    pub(crate) fn start(settings: &MdnsSettings) -> Result<Self> {
        let daemon = restricted_daemon(settings)?;
        let events = match daemon.browse(&settings.service) {
            Ok(events) => events,
            Err(source) => {
                let _ = daemon.shutdown();
                return Err(Error::BrowseMdns { service: settings.service.clone(), source });
            }
        };
        Ok(Self { daemon, service: settings.service.clone(), events })
    }

    /// Follows the daemon's events until cancelled, publishing the resolved instances
    /// sorted by endpoint.
    pub(crate) async fn run(self, sender: watch::Sender<Vec<Instance>>, cancel: CancellationToken) {
        let mut found: BTreeMap<String, Instance> = BTreeMap::new();
        loop {
            let event = tokio::select! {
                () = cancel.cancelled() => break,
                event = self.events.recv_async() => event,
            };
            let changed = match event {
                Ok(ServiceEvent::ServiceResolved(service)) => match instance_of(&service) {
                    Some(instance) => found.insert(service.fullname.clone(), instance.clone()) != Some(instance),
                    None => found.remove(&service.fullname).is_some(),
                },
                Ok(ServiceEvent::ServiceRemoved(_, fullname)) => found.remove(&fullname).is_some(),
                Ok(_) => false,
                Err(_) => {
                    warn!("mDNS daemon stopped; keeping the last list");
                    break;
                }
            };
            if changed {
                let mut list: Vec<Instance> = found.values().cloned().collect();
                list.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
                publish(&sender, list);
            }
        }
        let _ = self.daemon.stop_browse(&self.service);
        stop_daemon(&self.daemon).await;
        info!("discovery stopped");
    }
}

/// The instance a resolved service describes: its first usable address (IPv4 before
/// IPv6; link-local IPv6 needs a zone an endpoint URL cannot carry, so it is skipped) and
/// the port of TXT `grpc_port`, else of the SRV record. A service whose TXT `role` is
/// neither "regional" nor "master" is ignored.
fn instance_of(service: &ResolvedService) -> Option<Instance> {
    let txt = |key: &str| service.txt_properties.get_property_val_str(key).filter(|v| !v.is_empty());
    let role = match txt("role").map(str::parse) {
        None => None,
        Some(Ok(role)) => Some(role),
        Some(Err(reason)) => {
            debug!(fullname = %service.fullname, %reason, "mDNS service ignored");
            return None;
        }
    };
    let port = txt("grpc_port").and_then(|p| p.parse::<u16>().ok()).unwrap_or(service.port);
    let mut addresses: Vec<IpAddr> = service
        .addresses
        .iter()
        .map(|a| a.to_ip_addr())
        .filter(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_unspecified(),
            IpAddr::V6(v6) => !v6.is_unspecified() && !v6.is_unicast_link_local(),
        })
        .collect();
    addresses.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    let host = addresses.first()?.to_string();
    Some(Instance {
        endpoint: https_endpoint(&host, port),
        role,
        region: txt("region").map(str::to_string),
        version: txt("version").map(str::to_string),
        http_url: txt("http").map(str::to_string),
    })
}

/// This aggregator's registration with its own daemon.
pub(crate) struct Announcement {
    daemon: ServiceDaemon,
    fullname: String,
}

impl Announcement {
    /// Registers `me` as `<instance>.<service>`, where the instance name is
    /// `sysmon-<host>-<port>` (every character but letters and digits made a dash, at most
    /// 63 bytes); its host name is `<instance>.local.` and its addresses those of the
    /// configured interfaces.
    pub(crate) fn register(settings: &MdnsSettings, me: &Instance, host: &str, port: u16) -> Result<Self> {
        let mut instance: String =
            format!("sysmon-{host}-{port}").chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        // A DNS label (instance name, and host name label) holds at most 63 bytes; all ASCII.
        instance.truncate(63);
        let register_error = |source| Error::RegisterMdns { instance: instance.clone(), source };
        let mut properties = announced_meta(me);
        properties.insert("grpc_port".to_string(), port.to_string());
        let host_name = format!("{instance}.local.");
        let properties: Vec<(String, String)> = properties.into_iter().collect();
        let mut info = ServiceInfo::new(&settings.service, &instance, &host_name, "", port, &properties[..])
            .map_err(register_error)?
            .enable_addr_auto();
        // The daemon uses only these interfaces already; the service says so too, so that
        // its addresses are taken from them alone.
        info.set_interfaces(settings.interfaces.iter().map(|name| IfKind::Name(name.clone())).collect());
        let fullname = info.get_fullname().to_string();
        let daemon = restricted_daemon(settings)?;
        if let Err(source) = daemon.register(info) {
            let _ = daemon.shutdown();
            return Err(register_error(source));
        }
        info!(%fullname, interfaces = ?settings.interfaces, "announced on mDNS");
        Ok(Self { daemon, fullname })
    }

    /// Sends goodbye packets for the registration and stops the daemon.
    pub(crate) async fn withdraw(self) {
        match self.daemon.unregister(&self.fullname) {
            Ok(status) => {
                if tokio::time::timeout(STOP_TIMEOUT, status.recv_async()).await.is_err() {
                    warn!(fullname = %self.fullname, "mDNS daemon did not confirm the goodbye");
                }
            }
            Err(e) => warn!(fullname = %self.fullname, error = %e, "cannot withdraw the mDNS announcement"),
        }
        stop_daemon(&self.daemon).await;
        info!(fullname = %self.fullname, "mDNS announcement withdrawn");
    }
}
