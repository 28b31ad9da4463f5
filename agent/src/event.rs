//! Agent events: things that happened on the agent that are not samples (a user became
//! heavy, ...). Collectors produce them; each rides to the aggregator with the batch of the
//! collection that produced it.

use serde::{Deserialize, Serialize};
use sysmon_proto::v1;

/// Most collector events one batch carries; more wait for the next collection's batch. (The
/// aggregator refuses a batch with more than 256 events, and the spool adds its own.)
pub(crate) const MAX_EVENTS_PER_COLLECTION: usize = 64;

/// One event, reported once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentEvent {
    /// When it happened, unix milliseconds.
    pub time_ms: i64,
    /// What kind of event: snake_case, `[a-z0-9_]`, e.g. `heavy_user_start`.
    pub kind: String,
    /// One line for a person.
    pub message: String,
    /// Details for machines, in a fixed order per kind.
    pub attributes: Vec<(String, String)>,
}

impl AgentEvent {
    /// An event without attributes yet.
    pub(crate) fn new(time_ms: i64, kind: &str, message: String) -> Self {
        Self { time_ms, kind: kind.to_string(), message, attributes: Vec::new() }
    }

    /// Adds one attribute; for chaining.
    pub(crate) fn attribute(mut self, name: &str, value: impl ToString) -> Self {
        self.attributes.push((name.to_string(), value.to_string()));
        self
    }

    /// The value of attribute `name`.
    pub fn attribute_value(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl From<AgentEvent> for v1::Event {
    fn from(e: AgentEvent) -> Self {
        v1::Event {
            time_ms: e.time_ms,
            kind: e.kind,
            message: e.message,
            attributes: e.attributes.into_iter().map(|(name, value)| v1::Label { name, value }).collect(),
        }
    }
}
