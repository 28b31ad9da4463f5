//! Discovery: where the aggregators are (static list, mDNS, Consul, DNS SRV), and how an
//! aggregator makes itself findable.

pub(crate) mod announce;
pub(crate) mod config;
pub(crate) mod consul;
pub(crate) mod dns_srv;
pub(crate) mod handle;
pub(crate) mod instance;
pub(crate) mod mdns;
