//! Agent events carried in batches (`Batch.events`): checked with the batch, then logged
//! and counted in `sysmon_agent_events_total{kind}` once the batch is durable, so an event
//! is reported once even when its batch is replayed.
//! They are stored (store's `event_tables`) before the batch is acknowledged and served at
//! `/api/events`.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use sysmon_proto::v1;
use tracing::{info, warn};

/// Most events one batch may carry.
pub(crate) const MAX_EVENTS_PER_BATCH: usize = 256;
/// Longest event message.
pub(crate) const MAX_EVENT_MESSAGE_BYTES: usize = 4096;
/// Longest event kind.
const MAX_KIND_BYTES: usize = 64;
/// Most attributes per event, and the longest attribute name or value.
const MAX_ATTRIBUTES: usize = 32;
const MAX_ATTRIBUTE_BYTES: usize = 256;
/// Distinct kinds counted under their own label; later ones count as `kind="other"`, so a
/// misbehaving agent cannot grow `/metrics` without bound.
const MAX_KINDS: usize = 64;
/// Kinds that mean data was lost: logged at `warn`, the rest at `info`.
const LOSS_KINDS: [&str; 1] = ["spool_dropped"];

/// Checks the events of batch `seq` against the limits; the message names the one broken.
pub(crate) fn check_events(seq: u64, events: &[v1::Event]) -> Result<(), String> {
    let invalid = |msg: String| Err(format!("batch {seq}: {msg}"));
    if events.len() > MAX_EVENTS_PER_BATCH {
        return invalid(format!("has {} events; limit max_events_per_batch = {MAX_EVENTS_PER_BATCH}", events.len()));
    }
    for (i, event) in events.iter().enumerate() {
        let kind_ok = !event.kind.is_empty()
            && event.kind.len() <= MAX_KIND_BYTES
            && event.kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !kind_ok {
            return invalid(format!(
                "event {i} has kind {:?}; a kind is 1 to {MAX_KIND_BYTES} bytes of [a-z0-9_]",
                event.kind
            ));
        }
        if event.message.len() > MAX_EVENT_MESSAGE_BYTES {
            return invalid(format!(
                "event {i} has a message of {} bytes; limit max_event_message_bytes = {MAX_EVENT_MESSAGE_BYTES}",
                event.message.len()
            ));
        }
        if event.attributes.len() > MAX_ATTRIBUTES {
            return invalid(format!(
                "event {i} has {} attributes; limit max_event_attributes = {MAX_ATTRIBUTES}",
                event.attributes.len()
            ));
        }
        if let Some(a) =
            event.attributes.iter().find(|a| a.name.len() > MAX_ATTRIBUTE_BYTES || a.value.len() > MAX_ATTRIBUTE_BYTES)
        {
            return invalid(format!(
                "event {i} attribute {:?} is longer than max_event_attribute_bytes = {MAX_ATTRIBUTE_BYTES}",
                a.name.chars().take(32).collect::<String>()
            ));
        }
    }
    Ok(())
}

/// The events counter, by kind.
#[derive(Default)]
pub(crate) struct AgentEvents {
    total: Family<Vec<(String, String)>, Counter>,
    kinds: Mutex<HashSet<String>>,
}

impl AgentEvents {
    /// Registers `sysmon_agent_events_total{kind}`.
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register("sysmon_agent_events", "Events received from agents, by kind", self.total.clone());
    }

    /// Logs and counts the events of batch `seq` of agent `host`, which is now durable.
    pub(crate) fn record(&self, host: &str, seq: u64, events: &[v1::Event]) {
        for event in events {
            let attributes =
                event.attributes.iter().map(|a| format!("{}={}", a.name, a.value)).collect::<Vec<_>>().join(",");
            if LOSS_KINDS.contains(&event.kind.as_str()) {
                warn!(host, seq, kind = %event.kind, message = %event.message, time_ms = event.time_ms, %attributes, "agent event");
            } else {
                info!(host, seq, kind = %event.kind, message = %event.message, time_ms = event.time_ms, %attributes, "agent event");
            }
            let kind = {
                let mut kinds = self.kinds.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if kinds.contains(&event.kind) || (kinds.len() < MAX_KINDS && kinds.insert(event.kind.clone())) {
                    event.kind.clone()
                } else {
                    "other".to_string()
                }
            };
            self.total.get_or_create(&vec![("kind".to_string(), kind)]).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, message: &str) -> v1::Event {
        v1::Event { time_ms: 1, kind: kind.into(), message: message.into(), attributes: Vec::new() }
    }

    #[test]
    fn limits_name_themselves() {
        assert_eq!(check_events(3, &[event("spool_dropped", "x")]), Ok(()));
        assert_eq!(
            check_events(3, &[event("Spool-Dropped", "x")]).unwrap_err(),
            "batch 3: event 0 has kind \"Spool-Dropped\"; a kind is 1 to 64 bytes of [a-z0-9_]"
        );
        let long = "m".repeat(MAX_EVENT_MESSAGE_BYTES + 1);
        assert_eq!(
            check_events(4, &[event("a", &long)]).unwrap_err(),
            "batch 4: event 0 has a message of 4097 bytes; limit max_event_message_bytes = 4096"
        );
        let many = vec![event("a", ""); MAX_EVENTS_PER_BATCH + 1];
        assert_eq!(check_events(5, &many).unwrap_err(), "batch 5: has 257 events; limit max_events_per_batch = 256");
    }

    #[test]
    fn counts_by_kind_with_bounded_kinds() {
        let events = AgentEvents::default();
        events.record("web-01", 1, &[event("spool_dropped", "a"), event("spool_dropped", "b")]);
        for i in 0..(MAX_KINDS + 5) {
            events.record("web-01", 2, &[event(&format!("k{i}"), "")]);
        }
        let mut registry = Registry::default();
        events.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("sysmon_agent_events_total{kind=\"spool_dropped\"} 2"), "{text}");
        assert!(text.contains("sysmon_agent_events_total{kind=\"other\"} 6"), "{text}");
    }
}
