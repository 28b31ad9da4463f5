//! sysmon federation: how aggregators find each other and how a fleet becomes one view
//! (DESIGN.md, data path step 6).
//!
//! The crate owns three jobs, each in its own module:
//!
//! - **discovery** (`discovery/`): one interface over a static list, mDNS
//!   (`_sysmon._tcp.local.`, only on the interfaces the config names), the Consul catalog
//!   and DNS SRV (a Kubernetes headless service). Agents use it to find a regional, same
//!   region first; regionals use it to find their master. Its main types:
//!   - [`DiscoveryConfig`], the `[discovery]` config section, checked by
//!     [`DiscoveryConfig::validate`] into [`DiscoverySettings`];
//!   - [`Discovery`], the current list of [`Instance`]s, refreshed by a task of its own, and
//!     [`Discovery::endpoints`], the preference order a failover policy tries;
//!   - [`Announcer`], which makes an aggregator findable (mDNS TXT records, a Consul
//!     registration with a TTL check; nothing for static and DNS SRV).
//!
//!   Its files: `config.rs` (keys and validation), `instance.rs` ([`Instance`], [`Role`],
//!   preference order), `handle.rs` ([`Discovery`]), `announce.rs` ([`Announcer`]),
//!   `mdns.rs`, `consul.rs`, `dns_srv.rs` (one per source).
//! - [`replicate`]: a regional folds its raw samples into 1-minute rollups and streams
//!   them, with its host registry, its replication frontier and its active alerts, to its
//!   master through an uplink ([`sysmon_uplink`]: the agent's disk spool, seqs and durable acks);
//! - [`fanout`]: a master reads raw samples from the aggregators below it for queries that
//!   need raw resolution or minutes not replicated yet, and marks a result partial when a
//!   region cannot answer.
//!
//! [`wire`] turns federation's messages to and from the engine's types. The aggregator
//! (`sysmon-aggregator`) wires all this in by `role`; the crate never reads the aggregator's
//! store itself but through [`replicate::ReplicationSource`] and [`fanout::RegionRoutes`].
//!
//! The crate has no feature flags. It never creates an mDNS daemon unless mode = "mdns":
//! creating one joins the multicast group on every interface that is up.
#![warn(missing_docs, unreachable_pub)]

mod discovery;
mod error;
pub mod fanout;
pub mod replicate;
pub mod wire;

pub use discovery::announce::Announcer;
pub use discovery::config::{
    ConsulConfig, DiscoveryConfig, DiscoveryMode, DiscoverySettings, DnsSrvConfig, MdnsConfig,
};
pub use discovery::handle::Discovery;
pub use discovery::instance::{Instance, Role};
pub use error::{Error, Result};

/// Wall-clock now, unix milliseconds.
pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}
