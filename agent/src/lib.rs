//! The sysmon agent: collectors, batching and the shipper (DESIGN.md, data path steps 1-3).
#![warn(missing_docs, unreachable_pub)]

mod batch;
pub mod collectors;
mod config;
mod error;
mod exposition;
mod hello;
pub mod inventory;
mod once;
mod outbox;
mod run;
mod sample;
mod shipper;
mod tls_probe;

pub use collectors::{
    COLLECTOR_NAMES, CollectorFailure, CollectorSet, CollectorSettings, CollectorsSection, SystemPaths,
};
pub use config::{AgentConfig, AgentSection, AgentSettings, AggregatorSection, TlsSection};
pub use error::{Error, Result};
pub use exposition::prometheus_text;
pub use once::{CollectionSettings, collect_once, collect_once_prometheus};
pub use run::run_agent;
pub use sample::Sample;
