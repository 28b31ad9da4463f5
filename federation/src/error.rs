//! Errors of the federation crate.

/// What went wrong in discovery, announcement or replication.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The mDNS daemon could not be created or restricted to the configured interfaces.
    #[error("cannot start the mDNS daemon on interfaces {interfaces:?} (discovery.mdns.interfaces)")]
    StartMdns {
        /// `discovery.mdns.interfaces`.
        interfaces: Vec<String>,
        /// The cause.
        #[source]
        source: mdns_sd::Error,
    },
    /// Browsing for the mDNS service type could not start.
    #[error("cannot browse mDNS service {service} (discovery.mdns.service)")]
    BrowseMdns {
        /// `discovery.mdns.service`.
        service: String,
        /// The cause.
        #[source]
        source: mdns_sd::Error,
    },
    /// This aggregator's mDNS service could not be built or registered.
    #[error("cannot register mDNS service instance {instance}")]
    RegisterMdns {
        /// The instance name.
        instance: String,
        /// The cause.
        #[source]
        source: mdns_sd::Error,
    },
    /// The HTTP client for Consul could not be built.
    #[error("cannot build the HTTP client for Consul")]
    BuildConsulClient {
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// A request to the Consul agent failed before an answer came.
    #[error("Consul request {what} {url} failed")]
    ConsulRequest {
        /// What the request was for: `"health/service"`, `"service/register"`, ...
        what: &'static str,
        /// The URL asked.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The Consul agent answered with an error status.
    #[error("Consul answered {status} to {what} {url}: {body}")]
    ConsulStatus {
        /// What the request was for.
        what: &'static str,
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body, Consul's explanation.
        body: String,
    },
    /// The DNS resolver could not be built: the system's configuration (/etc/resolv.conf)
    /// could not be read, or names no nameserver.
    #[error("cannot set up the DNS resolver")]
    BuildResolver {
        /// The cause.
        #[source]
        source: hickory_resolver::net::NetError,
    },
    /// A DNS SRV lookup failed (no answer, NXDOMAIN, timeout).
    #[error("DNS SRV lookup of {name} failed")]
    LookupSrv {
        /// `discovery.dns_srv.name`.
        name: String,
        /// The cause.
        #[source]
        source: hickory_resolver::net::NetError,
    },
    /// A lookup did not finish in time; the last good list stays in use.
    #[error("{mode} lookup did not answer within {timeout_ms} ms")]
    LookupTimeout {
        /// The discovery mode.
        mode: &'static str,
        /// The time allowed.
        timeout_ms: u64,
    },
    /// The instance to announce has an endpoint that is not `https://host:port`.
    #[error("cannot announce: {reason}")]
    AnnounceEndpoint {
        /// The endpoint given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The replication cursor's file could not be read.
    #[error("cannot read the replication state {}", path.display())]
    ReadState {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The replication cursor's file could not be written.
    #[error("cannot write the replication state {}", path.display())]
    WriteState {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The replication cursor's file holds something else.
    #[error("the replication state {} is damaged ({reason}); delete it to replicate again from `federation.backfill` ago", path.display())]
    CorruptState {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The aggregator's store could not be read for replication.
    #[error("cannot read the store for replication: {0}")]
    ReadSource(String),
    /// The aggregator is stopping.
    #[error("stopping")]
    Cancelled,
}

/// The federation crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Formats an error with its whole source chain: `a: b: c`.
pub(crate) struct DisplayChain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}
