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
//! - **replication** (to come, issue #5): a regional streams its 1-minute rollups, host
//!   registry and alert states to its master over the agent's protocol (own disk spool,
//!   seqs, durable acks);
//! - **fan-out** (to come, issue #5): a master forwards raw-resolution queries to the
//!   regionals that own the hosts and merges the answers, marking a result partial when a
//!   region cannot answer.
//!
//! The crate has no feature flags. It never creates an mDNS daemon unless mode = "mdns":
//! creating one joins the multicast group on every interface that is up.
#![warn(missing_docs, unreachable_pub)]

mod discovery;
mod error;

pub use discovery::announce::Announcer;
pub use discovery::config::{
    ConsulConfig, DiscoveryConfig, DiscoveryMode, DiscoverySettings, DnsSrvConfig, MdnsConfig,
};
pub use discovery::handle::Discovery;
pub use discovery::instance::{Instance, Role};
pub use error::{Error, Result};
