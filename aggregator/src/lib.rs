//! The sysmon aggregator: the gRPC ingest server (mutual TLS), the store, the host
//! registry and the HTTP APIs (DESIGN.md, data path steps 3, 4 and 7).
//!
//! Agents stream batches over [`sysmon_proto`]'s `Ingest` service. Each batch is validated,
//! group-committed with other agents' batches into one redb file, and acknowledged only
//! once durable; replays (seq at or below the agent's durable seq) are dropped, so storage
//! holds every sample exactly once. `[alerting]` rules are evaluated through the query
//! engine (step 8). The HTTP port serves `/api/hosts`, the Prometheus API (alerts and rules
//! included), `/healthz`, `/readyz`, `/metrics`, and whatever routes the caller adds (the
//! dashboard).
//!
//! Start one with [`start`] from checked [`Settings`] (see [`AggregatorConfig`]).
#![warn(missing_docs, unreachable_pub)]

mod alerting;
mod alerting_config;
mod config;
mod error;
mod federation;
mod federation_config;
mod http;
mod ingest;
mod metrics;
mod recording;
mod recording_config;
mod registry;
mod selector;
mod server;
mod store;
mod summary;

pub use alerting_config::{AlertRule, AlertRuleSection, AlertingSection, AlertingSettings};
pub use config::{
    AggregatorConfig, AggregatorSection, Limits, LimitsSection, QuerySection, Retention, Settings, StorageSection,
    TlsSection,
};
pub use error::{Error, Result};
pub use federation_config::{FederationSection, FederationSettings};
pub use recording_config::{RecordingRule, RecordingRuleSection, RecordingSection, RecordingSettings};
pub use server::{RunningAggregator, start};
pub use sysmon_federation::{DiscoveryConfig, DiscoverySettings, Role};
pub use sysmon_promql::QueryLimits;
