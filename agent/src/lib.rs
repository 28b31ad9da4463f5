//! The sysmon agent: collectors, batching and the shipper (DESIGN.md, data path steps 1-3).
#![warn(missing_docs, unreachable_pub)]

mod batch;
pub mod collectors;
mod config;
mod error;
mod hello;
pub mod inventory;
mod outbox;
mod run;
mod sample;
mod shipper;
mod tls_probe;

pub use collectors::SystemPaths;
pub use config::{AgentConfig, AgentSection, AgentSettings, AggregatorSection, TlsSection};
pub use error::{Error, Result};
pub use run::run_agent;
pub use sample::Sample;
