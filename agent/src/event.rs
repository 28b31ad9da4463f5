//! Agent events: things that happened on the agent that are not samples (a user became
//! heavy, ...). Collectors produce them; each rides to the aggregator with the batch of the
//! collection that produced it.

use serde::{Deserialize, Serialize};

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
