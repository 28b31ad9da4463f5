//! The sysmon agent: collectors, batching, the disk spool and the shipper (DESIGN.md, data
//! path steps 1-3).
//!
//! Every collection becomes one batch, with the agent's own `sysmon_agent_*` figures added;
//! the batch is written to the crash-safe disk spool ([`sysmon_spool`], `[spool]` in
//! `agent.toml`) before it is sent, and removed when the aggregator acks it. The uplink
//! ([`sysmon_uplink`]) streams the spool to the first reachable aggregator of
//! `aggregator.endpoints`, fails over down the list and moves back when a preferred one
//! returns.
#![warn(missing_docs, unreachable_pub)]

mod batch;
#[doc(hidden)]
pub mod bench_support;
pub mod collectors;
mod config;
mod error;
mod event;
mod exposition;
mod hello;
pub mod inventory;
mod once;
mod run;
mod sample;
mod self_metrics;
mod spool_config;

pub use collectors::{
    COLLECTOR_NAMES, CollectorFailure, CollectorSet, CollectorSettings, CollectorsSection, ProcessesSection,
    SystemPaths, UserOverride, UsersSection, UsersSettings,
};
pub use config::{
    AgentConfig, AgentSection, AgentSettings, AggregatorSection, SpoolSection, SpoolSettings, TlsSection,
};
pub use error::{Error, Result};
pub use event::AgentEvent;
pub use exposition::prometheus_text;
pub use once::{CollectionSettings, collect_once, collect_once_prometheus};
pub use run::run_agent;
pub use sample::Sample;
pub use spool_config::ByteSize;
pub use sysmon_spool::WhenFull;
