//! Where the agent sends: aggregator endpoints, preferred first, behind one small trait so
//! that discovery (mDNS, Consul, DNS SRV; a later issue) can supply them instead of the
//! static list in `agent.toml`.

/// A source of aggregator endpoints.
pub(crate) trait EndpointSource: Send + Sync {
    /// The endpoints to use now, preferred first, like `https://agg-1.example.com:9801`.
    /// Asked again before every round of connection attempts and every failback check, so
    /// the answer may change at any time; an empty answer means "none known yet".
    fn endpoints(&self) -> Vec<String>;
}

/// The fixed list of `aggregator.endpoints`.
pub(crate) struct StaticEndpoints(pub(crate) Vec<String>);

impl EndpointSource for StaticEndpoints {
    fn endpoints(&self) -> Vec<String> {
        self.0.clone()
    }
}
