//! Where a sender sends: aggregator endpoints, preferred first, behind one small trait so
//! that discovery (mDNS, Consul, DNS SRV; `sysmon-federation`) can supply them instead of a
//! static list in the config.

/// A source of aggregator endpoints.
pub trait EndpointSource: Send + Sync {
    /// The endpoints to use now, preferred first, like `https://agg-1.example.com:9801`.
    /// Asked again before every round of connection attempts and every failback check, so
    /// the answer may change at any time; an empty answer means "none known yet".
    fn endpoints(&self) -> Vec<String>;
}

/// A fixed list of endpoints, preferred first.
#[derive(Debug, Clone)]
pub struct StaticEndpoints(pub Vec<String>);

impl EndpointSource for StaticEndpoints {
    fn endpoints(&self) -> Vec<String> {
        self.0.clone()
    }
}
