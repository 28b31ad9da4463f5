//! What discovery finds: an aggregator [`Instance`], its [`Role`], and the preference order
//! in which a client tries them.

use std::fmt;
use std::str::FromStr;

/// The tier an aggregator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A regional aggregator: agents of its region send to it.
    Regional,
    /// A master aggregator: regionals send their rollups to it.
    Master,
}

impl Role {
    /// The role as written in TXT records, Consul meta and config: `"regional"` or `"master"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Regional => "regional",
            Role::Master => "master",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "regional" => Ok(Role::Regional),
            "master" => Ok(Role::Master),
            other => Err(format!("role must be \"regional\" or \"master\", got {other:?}")),
        }
    }
}

/// One aggregator, as a discovery source describes it.
///
/// Sources with metadata (mDNS TXT records, Consul service meta) fill every field they
/// carry; a static list and DNS SRV records carry none, so their instances have only an
/// endpoint and match whatever role is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Instance {
    /// Its gRPC endpoint (agents and federation), `https://host:port`.
    pub endpoint: String,
    /// Its tier; `None` when the source does not say.
    pub role: Option<Role>,
    /// Its region (site or data centre); `None` when the source does not say.
    pub region: Option<String>,
    /// Its sysmon version; `None` when the source does not say.
    pub version: Option<String>,
    /// Its HTTP base URL (dashboard and APIs), like `http://agg-1.example.com:9800`, when known.
    pub http_url: Option<String>,
}

impl Instance {
    /// An instance known only by its endpoint (static lists, DNS SRV).
    pub fn bare(endpoint: impl Into<String>) -> Self {
        Self { endpoint: endpoint.into(), role: None, region: None, version: None, http_url: None }
    }
}

/// The endpoints of `instances` a client wanting `want` should try, in order: same region
/// first, then the others, each group in the order of `instances` (which every source
/// makes stable). Instances of unknown role are included whatever `want` is; those of
/// unknown region count as "other region". An endpoint listed twice is tried once.
pub(crate) fn preference_order(instances: &[Instance], want: Role, own_region: Option<&str>) -> Vec<String> {
    let matching = instances.iter().filter(|i| i.role.is_none_or(|role| role == want));
    let (mut same, other): (Vec<&Instance>, Vec<&Instance>) =
        matching.partition(|i| own_region.is_some() && i.region.as_deref() == own_region);
    same.extend(other);
    let mut endpoints: Vec<String> = Vec::with_capacity(same.len());
    for instance in same {
        if !endpoints.contains(&instance.endpoint) {
            endpoints.push(instance.endpoint.clone());
        }
    }
    endpoints
}

/// The host and port of an `https://host:port` endpoint, or why it is not one.
pub(crate) fn endpoint_host_port(endpoint: &str) -> Result<(String, u16), String> {
    if !endpoint.starts_with("https://") {
        return Err(format!("{endpoint:?} must start with https:// (aggregators only speak mutual TLS)"));
    }
    let url = url::Url::parse(endpoint).map_err(|e| format!("{endpoint:?} is not a URL ({e})"))?;
    let host = match url.host() {
        Some(url::Host::Domain(name)) => name.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(format!("{endpoint:?} must name a host")),
    };
    // The url crate hides a port equal to the scheme's default (443), so look at the text.
    let explicit_default = endpoint.trim_end_matches('/').ends_with(":443");
    let Some(port) = url.port().or(explicit_default.then_some(443)) else {
        return Err(format!("{endpoint:?} must name a port, like https://aggregator.example.com:9801"));
    };
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{endpoint:?} must be only https://host:port, without a path"));
    }
    Ok((host, port))
}

/// `https://host:port`, with an IPv6 address in brackets.
pub(crate) fn https_endpoint(host: &str, port: u16) -> String {
    if host.contains(':') { format!("https://[{host}]:{port}") } else { format!("https://{host}:{port}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(endpoint: &str, role: Option<Role>, region: Option<&str>) -> Instance {
        Instance { role, region: region.map(str::to_string), ..Instance::bare(endpoint) }
    }

    #[test]
    fn same_region_first_then_others_in_source_order() {
        let list = [
            instance("https://a:1", Some(Role::Regional), Some("us")),
            instance("https://b:1", Some(Role::Regional), Some("eu")),
            instance("https://m:1", Some(Role::Master), Some("eu")),
            instance("https://c:1", Some(Role::Regional), None),
            instance("https://d:1", Some(Role::Regional), Some("eu")),
            instance("https://e:1", None, None),
        ];
        assert_eq!(
            preference_order(&list, Role::Regional, Some("eu")),
            ["https://b:1", "https://d:1", "https://a:1", "https://c:1", "https://e:1"]
        );
        assert_eq!(
            preference_order(&list, Role::Regional, None),
            ["https://a:1", "https://b:1", "https://c:1", "https://d:1", "https://e:1"]
        );
        assert_eq!(preference_order(&list, Role::Master, Some("us")), ["https://m:1", "https://e:1"]);
    }

    #[test]
    fn an_endpoint_is_tried_once() {
        let list = [
            instance("https://a:1", Some(Role::Regional), Some("us")),
            instance("https://a:1", Some(Role::Regional), Some("eu")),
        ];
        assert_eq!(preference_order(&list, Role::Regional, Some("eu")), ["https://a:1"]);
    }

    #[test]
    fn endpoints_parse_to_host_and_port() {
        assert_eq!(endpoint_host_port("https://agg.example.com:9801"), Ok(("agg.example.com".into(), 9801)));
        assert_eq!(endpoint_host_port("https://[fd00::1]:9801/"), Ok(("fd00::1".into(), 9801)));
        assert_eq!(
            endpoint_host_port("https://agg"),
            Err("\"https://agg\" must name a port, like https://aggregator.example.com:9801".into())
        );
        assert_eq!(
            endpoint_host_port("http://agg:9801"),
            Err("\"http://agg:9801\" must start with https:// (aggregators only speak mutual TLS)".into())
        );
        assert_eq!(
            endpoint_host_port("https://agg:9801/x"),
            Err("\"https://agg:9801/x\" must be only https://host:port, without a path".into())
        );
        assert_eq!(endpoint_host_port("https://agg:443"), Ok(("agg".into(), 443)));
        assert_eq!(https_endpoint("fd00::1", 9801), "https://[fd00::1]:9801");
        assert_eq!("master".parse(), Ok(Role::Master));
        assert!("boss".parse::<Role>().is_err());
    }
}
