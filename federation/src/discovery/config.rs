//! The `[discovery]` config section ([`DiscoveryConfig`]) and its checked form
//! ([`DiscoverySettings`]).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use sysmon_config::ConfigError;

use super::instance::endpoint_host_port;

const REFRESH_MIN: Duration = Duration::from_secs(1);
const REFRESH_MAX: Duration = Duration::from_secs(3600);

/// How peers are found (`discovery.mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveryMode {
    /// `"static"`: the `discovery.static_endpoints` list, as given.
    #[default]
    Static,
    /// `"mdns"`: multicast DNS on the interfaces of `discovery.mdns.interfaces` only.
    Mdns,
    /// `"consul"`: the Consul catalog's healthy instances of `discovery.consul.service`.
    Consul,
    /// `"dns_srv"`: the SRV records of `discovery.dns_srv.name` (a Kubernetes headless service).
    DnsSrv,
}

impl DiscoveryMode {
    /// The mode as written in config: `"static"`, `"mdns"`, `"consul"` or `"dns_srv"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiscoveryMode::Static => "static",
            DiscoveryMode::Mdns => "mdns",
            DiscoveryMode::Consul => "consul",
            DiscoveryMode::DnsSrv => "dns_srv",
        }
    }
}

/// `[discovery]`: how agents find a regional aggregator, and regionals their master; and,
/// for an aggregator, how it makes itself findable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// How peers are found: "static", "mdns", "consul" or "dns_srv". Default "static".
    #[serde(default)]
    pub mode: DiscoveryMode,
    /// With mode = "static": gRPC endpoints, preferred first, like
    /// `"https://agg-1.example.com:9801"`. A static list says nothing of role or region, so
    /// every entry is tried, in this order. Empty finds nothing (an aggregator with no
    /// upstream); whether a peer is required is for the caller to say. Must be empty with
    /// any other mode. Default [].
    #[serde(default)]
    pub static_endpoints: Vec<String>,
    /// How often Consul and DNS SRV are asked again, 1s to 1h; also how often an announcer
    /// refreshes its Consul TTL check. A failed lookup keeps the last good list. mDNS needs
    /// no polling: it follows announcements and goodbyes as they come. Default "30s".
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: String,
    /// `[discovery.mdns]`: used with mode = "mdns".
    #[serde(default)]
    pub mdns: MdnsConfig,
    /// `[discovery.consul]`: used with mode = "consul".
    #[serde(default)]
    pub consul: ConsulConfig,
    /// `[discovery.dns_srv]`: used with mode = "dns_srv".
    #[serde(default)]
    pub dns_srv: DnsSrvConfig,
}

/// `[discovery.mdns]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdnsConfig {
    /// The network interfaces mDNS may use, like ["eth1"]; required with mode = "mdns".
    /// Nothing is sent, received or announced on any other interface: multicast on a
    /// link nobody chose leaks the fleet's layout. No default.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// The DNS-SD service type browsed and announced. Default "_sysmon._tcp.local.".
    #[serde(default = "default_mdns_service")]
    pub service: String,
}

/// `[discovery.consul]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsulConfig {
    /// The local Consul agent's HTTP API, an http:// URL. Default "http://127.0.0.1:8500".
    #[serde(default = "default_consul_address")]
    pub address: String,
    /// The Consul service name aggregators register as and clients look up. Default "sysmon".
    #[serde(default = "default_consul_service")]
    pub service: String,
    /// An ACL token, sent as `X-Consul-Token`. Default: none (the agent's default token).
    #[serde(default)]
    pub token: Option<String>,
    /// The datacenter to look up (`?dc=`). Default: the local agent's own.
    #[serde(default)]
    pub datacenter: Option<String>,
}

/// `[discovery.dns_srv]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSrvConfig {
    /// The SRV name to look up. SRV records carry no role or region, so use one name per
    /// tier (a headless service for the regionals, another for the master). Default
    /// "_grpc._tcp.sysmon.monitoring.svc.cluster.local".
    #[serde(default = "default_dns_srv_name")]
    pub name: String,
    /// One nameserver to ask instead of the system's, "ip:port" (UDP, then TCP for long
    /// answers), like "127.0.0.1:5353". Default: the nameservers of /etc/resolv.conf.
    #[serde(default)]
    pub resolver: Option<String>,
}

fn default_refresh_interval() -> String {
    "30s".into()
}
fn default_mdns_service() -> String {
    "_sysmon._tcp.local.".into()
}
fn default_consul_address() -> String {
    "http://127.0.0.1:8500".into()
}
fn default_consul_service() -> String {
    "sysmon".into()
}
fn default_dns_srv_name() -> String {
    "_grpc._tcp.sysmon.monitoring.svc.cluster.local".into()
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            mode: DiscoveryMode::default(),
            static_endpoints: Vec::new(),
            refresh_interval: default_refresh_interval(),
            mdns: MdnsConfig::default(),
            consul: ConsulConfig::default(),
            dns_srv: DnsSrvConfig::default(),
        }
    }
}

impl Default for MdnsConfig {
    fn default() -> Self {
        Self { interfaces: Vec::new(), service: default_mdns_service() }
    }
}

impl Default for ConsulConfig {
    fn default() -> Self {
        Self { address: default_consul_address(), service: default_consul_service(), token: None, datacenter: None }
    }
}

impl fmt::Debug for ConsulConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsulConfig")
            .field("address", &self.address)
            .field("service", &self.service)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("datacenter", &self.datacenter)
            .finish()
    }
}

impl Default for DnsSrvConfig {
    fn default() -> Self {
        Self { name: default_dns_srv_name(), resolver: None }
    }
}

/// A checked `[discovery]` section: what [`Discovery::start`](crate::Discovery::start) and
/// [`Announcer::start`](crate::Announcer::start) take.
#[derive(Debug, Clone)]
pub struct DiscoverySettings {
    pub(crate) source: Source,
    pub(crate) refresh_interval: Duration,
}

impl DiscoverySettings {
    /// The configured mode.
    pub fn mode(&self) -> DiscoveryMode {
        match self.source {
            Source::Static(_) => DiscoveryMode::Static,
            Source::Mdns(_) => DiscoveryMode::Mdns,
            Source::Consul(_) => DiscoveryMode::Consul,
            Source::DnsSrv(_) => DiscoveryMode::DnsSrv,
        }
    }

    /// `discovery.refresh_interval`.
    pub fn refresh_interval(&self) -> Duration {
        self.refresh_interval
    }

    /// A static list of endpoints, preferred first (none: nothing to find).
    pub fn static_list(endpoints: Vec<String>) -> DiscoverySettings {
        DiscoverySettings { source: Source::Static(endpoints), refresh_interval: Duration::from_secs(30) }
    }

    /// The static endpoints, when the mode is "static".
    pub fn static_endpoints(&self) -> Option<&[String]> {
        match &self.source {
            Source::Static(list) => Some(list),
            _ => None,
        }
    }
}

/// Where instances come from, with that mode's checked settings.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Static(Vec<String>),
    Mdns(MdnsSettings),
    Consul(ConsulSettings),
    DnsSrv(DnsSrvSettings),
}

#[derive(Debug, Clone)]
pub(crate) struct MdnsSettings {
    /// At least one interface name.
    pub(crate) interfaces: Vec<String>,
    pub(crate) service: String,
}

#[derive(Clone)]
pub(crate) struct ConsulSettings {
    /// The agent's base URL, without a trailing slash.
    pub(crate) address: String,
    pub(crate) service: String,
    pub(crate) token: Option<String>,
    pub(crate) datacenter: Option<String>,
}

impl fmt::Debug for ConsulSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsulSettings")
            .field("address", &self.address)
            .field("service", &self.service)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("datacenter", &self.datacenter)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct DnsSrvSettings {
    pub(crate) name: String,
    pub(crate) nameserver: Nameserver,
}

/// Which nameservers a DNS SRV lookup asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nameserver {
    /// Those of /etc/resolv.conf.
    System,
    /// Exactly this one.
    At(SocketAddr),
}

impl DiscoveryConfig {
    /// Checks every value and returns the settings, or every problem at once. Each message
    /// starts with its key, `discovery.<key>`.
    ///
    /// ```
    /// let config: sysmon_federation::DiscoveryConfig = toml::from_str("mode = \"mdns\"").unwrap();
    /// let errors = config.validate().unwrap_err();
    /// assert_eq!(
    ///     errors[0].to_string(),
    ///     "discovery.mdns.interfaces: must name at least one interface when mode = \"mdns\": \
    ///      mDNS never announces on an interface nobody chose"
    /// );
    /// ```
    ///
    /// # Errors
    /// One [`ConfigError`] per bad key.
    pub fn validate(&self) -> Result<DiscoverySettings, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let refresh_interval = check_refresh_interval(&self.refresh_interval, &mut errors);
        for endpoint in &self.static_endpoints {
            if let Err(reason) = endpoint_host_port(endpoint) {
                errors.push(ConfigError::key("discovery.static_endpoints", reason));
            }
        }
        if self.mode != DiscoveryMode::Static && !self.static_endpoints.is_empty() {
            errors.push(ConfigError::key(
                "discovery.static_endpoints",
                format!("is only used when mode = \"static\" (mode is {:?}); remove it", self.mode.as_str()),
            ));
        }
        let mdns = self.mdns.check(self.mode == DiscoveryMode::Mdns, &mut errors);
        let consul = self.consul.check(&mut errors);
        let dns_srv = self.dns_srv.check(&mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let source = match self.mode {
            DiscoveryMode::Static => Source::Static(self.static_endpoints.clone()),
            DiscoveryMode::Mdns => Source::Mdns(mdns),
            DiscoveryMode::Consul => Source::Consul(consul),
            DiscoveryMode::DnsSrv => Source::DnsSrv(dns_srv),
        };
        Ok(DiscoverySettings { source, refresh_interval })
    }
}

fn check_refresh_interval(text: &str, errors: &mut Vec<ConfigError>) -> Duration {
    const KEY: &str = "discovery.refresh_interval";
    match humantime::parse_duration(text) {
        Ok(d) if (REFRESH_MIN..=REFRESH_MAX).contains(&d) => d,
        Ok(d) => {
            errors.push(ConfigError::key(
                KEY,
                format!("must be between 1s and 1h, got {}", humantime::format_duration(d)),
            ));
            REFRESH_MIN
        }
        Err(e) => {
            errors.push(ConfigError::key(KEY, format!("must be a duration like \"30s\", got {text:?} ({e})")));
            REFRESH_MIN
        }
    }
}

impl MdnsConfig {
    fn check(&self, selected: bool, errors: &mut Vec<ConfigError>) -> MdnsSettings {
        const KEY: &str = "discovery.mdns.interfaces";
        if selected && self.interfaces.is_empty() {
            errors.push(ConfigError::key(
                KEY,
                "must name at least one interface when mode = \"mdns\": mDNS never announces on an interface nobody chose",
            ));
        }
        for name in &self.interfaces {
            let valid = (1..=15).contains(&name.len())
                && !name.chars().any(|c| c == '/' || c.is_whitespace() || c.is_control())
                && name != "."
                && name != "..";
            if !valid {
                errors.push(ConfigError::key(
                    KEY,
                    format!("{name:?} is not an interface name (1 to 15 bytes, no \"/\" or whitespace)"),
                ));
            }
        }
        let service = &self.service;
        let valid_service = service
            .strip_suffix("._tcp.local.")
            .and_then(|name| name.strip_prefix('_'))
            .is_some_and(|name| (1..=15).contains(&name.len()) && name.bytes().all(is_service_byte));
        if !valid_service {
            errors.push(ConfigError::key(
                "discovery.mdns.service",
                format!("must be a DNS-SD service type like \"_sysmon._tcp.local.\", got {service:?}"),
            ));
        }
        MdnsSettings { interfaces: self.interfaces.clone(), service: service.clone() }
    }
}

impl ConsulConfig {
    fn check(&self, errors: &mut Vec<ConfigError>) -> ConsulSettings {
        let address = self.address.trim_end_matches('/');
        let valid_address = url::Url::parse(address).is_ok_and(|url| {
            url.scheme() == "http"
                && url.host().is_some()
                && matches!(url.path(), "" | "/")
                && url.query().is_none()
                && url.username().is_empty()
        });
        if !valid_address {
            errors.push(ConfigError::key(
                "discovery.consul.address",
                format!(
                    "must be the http:// URL of the local Consul agent, like \"http://127.0.0.1:8500\", got {:?}",
                    self.address
                ),
            ));
        }
        if self.service.is_empty() || !self.service.bytes().all(is_service_byte) {
            errors.push(ConfigError::key(
                "discovery.consul.service",
                format!("must be a Consul service name (letters, digits and \"-\"), got {:?}", self.service),
            ));
        }
        if let Some(token) = &self.token
            && (token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()))
        {
            errors.push(ConfigError::key(
                "discovery.consul.token",
                "must be a non-empty token of printable characters; leave the key out for none",
            ));
        }
        if let Some(dc) = &self.datacenter
            && (dc.is_empty() || !dc.bytes().all(|b| is_service_byte(b) || b == b'_'))
        {
            errors.push(ConfigError::key(
                "discovery.consul.datacenter",
                format!("must be a datacenter name (letters, digits, \"-\" and \"_\"), got {dc:?}"),
            ));
        }
        ConsulSettings {
            address: address.to_string(),
            service: self.service.clone(),
            token: self.token.clone(),
            datacenter: self.datacenter.clone(),
        }
    }
}

impl DnsSrvConfig {
    fn check(&self, errors: &mut Vec<ConfigError>) -> DnsSrvSettings {
        let name = self.name.strip_suffix('.').unwrap_or(&self.name);
        let valid_name = (1..=253).contains(&name.len())
            && name
                .split('.')
                .all(|label| (1..=63).contains(&label.len()) && label.bytes().all(|b| is_service_byte(b) || b == b'_'));
        if !valid_name {
            errors.push(ConfigError::key(
                "discovery.dns_srv.name",
                format!(
                    "must be a DNS name like \"_grpc._tcp.sysmon.monitoring.svc.cluster.local\", got {:?}",
                    self.name
                ),
            ));
        }
        let nameserver = match &self.resolver {
            None => Nameserver::System,
            Some(text) => match text.parse::<SocketAddr>() {
                Ok(addr) => Nameserver::At(addr),
                Err(_) => {
                    errors.push(ConfigError::key(
                        "discovery.dns_srv.resolver",
                        format!("must be a nameserver's ip:port, like \"127.0.0.1:5353\", got {text:?}"),
                    ));
                    Nameserver::System
                }
            },
        };
        DnsSrvSettings { name: self.name.clone(), nameserver }
    }
}

fn is_service_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}
