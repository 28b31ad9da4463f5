//! DNS SRV: the targets of one SRV name (a Kubernetes headless service's
//! `_grpc._tcp.<service>.<namespace>.svc.cluster.local`), as `https://target:port`.
//!
//! SRV records carry no role or region, so every target is returned whatever role the
//! caller wants: give each tier its own name. Targets are ordered by priority (lowest
//! first), then weight (heaviest first), then name, so the order is stable between lookups;
//! a client that tries them in order uses the weights as preferences, not as load shares.

use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

use super::config::{DnsSrvSettings, Nameserver};
use super::instance::{Instance, https_endpoint};
use crate::error::{Error, Result};

/// How long one query to one nameserver may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// A resolver for one SRV name.
pub(crate) struct SrvLookup {
    resolver: TokioResolver,
    name: String,
}

impl SrvLookup {
    pub(crate) fn new(settings: &DnsSrvSettings) -> Result<Self> {
        let mut builder = match settings.nameserver {
            Nameserver::System => Resolver::builder_tokio().map_err(|source| Error::BuildResolver { source })?,
            Nameserver::At(addr) => {
                // UDP first, TCP when the answer is truncated; nothing else is asked.
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                let config = ResolverConfig::from_parts(None, Vec::new(), vec![server]);
                Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            }
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.timeout = QUERY_TIMEOUT;
        options.attempts = 2;
        // Every refresh asks the nameserver: the refresh interval is the only cache, so a
        // changed record shows at the next refresh whatever its TTL.
        options.cache_size = 0;
        let resolver = builder.build().map_err(|source| Error::BuildResolver { source })?;
        Ok(Self { resolver, name: settings.name.clone() })
    }

    /// The SRV targets, in preference order. A name the nameserver says has no SRV
    /// records (NXDOMAIN, or no data) is an answer: no instances.
    pub(crate) async fn lookup(&self) -> Result<Vec<Instance>> {
        let answer = match self.resolver.srv_lookup(self.name.as_str()).await {
            Ok(answer) => answer,
            // NXDOMAIN or NOERROR without answers; failures (SERVFAIL, REFUSED, timeouts)
            // are other errors.
            Err(e) if e.is_no_records_found() => return Ok(Vec::new()),
            Err(source) => return Err(Error::LookupSrv { name: self.name.clone(), source }),
        };
        let records = answer
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::SRV(srv) => Some(Target {
                    priority: srv.priority,
                    weight: srv.weight,
                    name: srv.target.to_utf8().trim_end_matches('.').to_string(),
                    port: srv.port,
                }),
                _ => None,
            })
            .collect();
        Ok(preference_order(records))
    }
}

/// One SRV record's target.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    priority: u16,
    weight: u16,
    name: String,
    port: u16,
}

/// Priority ascending, then weight descending, then name and port; each target once.
/// RFC 2782: a target of "." means the service is decidedly not available: it is left out.
fn preference_order(mut targets: Vec<Target>) -> Vec<Instance> {
    targets.retain(|t| !t.name.is_empty() && t.port != 0);
    targets.sort_by(|a, b| {
        a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)).then(a.name.cmp(&b.name)).then(a.port.cmp(&b.port))
    });
    targets.dedup_by(|a, b| a.name == b.name && a.port == b.port);
    targets.into_iter().map(|t| Instance::bare(https_endpoint(&t.name, t.port))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(priority: u16, weight: u16, name: &str, port: u16) -> Target {
        Target { priority, weight, name: name.into(), port }
    }

    #[test]
    fn priority_then_weight_then_name() {
        let order = preference_order(vec![
            target(20, 100, "a", 9801),
            target(10, 5, "b", 9801),
            target(10, 50, "c", 9801),
            target(10, 50, "b2", 9801),
            target(10, 5, "b", 9801),
            target(0, 0, "", 9801),
        ]);
        let endpoints: Vec<&str> = order.iter().map(|i| i.endpoint.as_str()).collect();
        assert_eq!(endpoints, ["https://b2:9801", "https://c:9801", "https://b:9801", "https://a:9801"]);
    }
}
