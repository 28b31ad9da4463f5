//! The aggregator's own health figures, served at `/metrics`.
//!
//! Every drop or refusal is counted here by the same code that logs it, so the log and
//! `/metrics` always agree.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

/// Counters of the ingest path.
#[derive(Default)]
pub(crate) struct IngestMetrics {
    /// Samples committed to disk.
    pub(crate) stored_samples: Counter,
    /// Batches refused for breaking a rule or limit.
    pub(crate) rejected_batches: Counter,
    /// Batches received again after they were durable (dropped, already stored).
    pub(crate) replayed_batches: Counter,
    /// Streams refused because the agent id did not match the certificate.
    pub(crate) refused_streams: Counter,
    /// Samples dropped for being older than their series' newest sample (or at its time
    /// with another value), as Prometheus drops them.
    pub(crate) out_of_order_samples: Counter,
    /// Batches held back until the storage engine had room in its queues.
    pub(crate) backpressure_waits: Counter,
    /// remote_write requests answered, by outcome.
    pub(crate) remote_write_requests: Counter,
    /// remote_write series refused for breaking a rule or limit.
    pub(crate) remote_write_refused_series: Counter,
    /// Alerts dropped from federation batches for a bad label, state or region, or past
    /// the limit per batch (the batches themselves are kept).
    pub(crate) dropped_alerts: Counter,
    /// Events agents reported (`sysmon_agent_events_total{kind}`).
    pub(crate) agent_events: crate::ingest::AgentEvents,
}

impl IngestMetrics {
    /// Registers every counter in `registry` under the `sysmon_ingest_` prefix.
    pub(crate) fn register(&self, registry: &mut Registry) {
        let sub = registry.sub_registry_with_prefix("sysmon_ingest");
        sub.register("stored_samples", "Samples committed to disk", self.stored_samples.clone());
        sub.register("rejected_batches", "Batches refused for breaking a rule or limit", self.rejected_batches.clone());
        sub.register(
            "replayed_batches",
            "Batches received again after they were durable",
            self.replayed_batches.clone(),
        );
        sub.register(
            "refused_streams",
            "Streams refused because the agent id did not match the certificate",
            self.refused_streams.clone(),
        );
        sub.register(
            "out_of_order_samples",
            "Samples dropped for being older than their series' newest sample",
            self.out_of_order_samples.clone(),
        );
        sub.register(
            "backpressure_waits",
            "Batches held back until the storage engine had room in its queues",
            self.backpressure_waits.clone(),
        );
        sub.register("remote_write_requests", "remote_write requests received", self.remote_write_requests.clone());
        sub.register(
            "remote_write_refused_series",
            "remote_write series refused for breaking a rule or limit",
            self.remote_write_refused_series.clone(),
        );
        sub.register(
            "dropped_alerts",
            "Alerts dropped from federation batches for a bad label, state or region, or past the limit",
            self.dropped_alerts.clone(),
        );
        self.agent_events.register(registry);
    }
}

/// The alerting evaluator's figures, as `sysmon_alerting_*`.
#[derive(Default)]
pub(crate) struct AlertingMetrics {
    /// Rule evaluations that failed (the rule kept its alerts).
    pub(crate) failed_evaluations: Counter,
    /// Active alerts of this aggregator's rules by state, as of the last evaluation round.
    pub(crate) active_alerts: prometheus_client::metrics::family::Family<
        [(&'static str, &'static str); 1],
        prometheus_client::metrics::gauge::Gauge,
    >,
}

impl AlertingMetrics {
    /// Registers every figure in `registry` under the `sysmon_alerting_` prefix.
    pub(crate) fn register(&self, registry: &mut Registry) {
        let sub = registry.sub_registry_with_prefix("sysmon_alerting");
        sub.register(
            "failed_evaluations",
            "Rule evaluations that failed (the rule kept its alerts)",
            self.failed_evaluations.clone(),
        );
        sub.register("active_alerts", "Active alerts of this aggregator's rules, by state", self.active_alerts.clone());
    }
}

/// A federating aggregator's uplink figures at `/metrics`, as `sysmon_federation_*`: its
/// spool of rollups not yet acknowledged by the master, what it sent, and its connection
/// (see [`sysmon_uplink::UplinkMetrics`] for each figure; the ack latency histogram is left
/// out here).
pub(crate) struct UplinkCollector(pub(crate) std::sync::Arc<sysmon_uplink::UplinkMetrics>);

impl std::fmt::Debug for UplinkCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UplinkCollector")
    }
}

/// One figure's value and its label, if any.
type LabelledValue = (Option<(&'static str, String)>, f64);

impl prometheus_client::collector::Collector for UplinkCollector {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric as _;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;

        // Figures in visiting order, those of one name together.
        let mut figures: Vec<(&'static str, Vec<LabelledValue>)> = Vec::new();
        self.0.visit(&mut |name, label, value| {
            if name.starts_with("send_latency_seconds") {
                return;
            }
            match figures.last_mut() {
                Some((last, values)) if *last == name => values.push((label, value)),
                _ => figures.push((name, vec![(label, value)])),
            }
        });
        for (name, values) in figures {
            let counter = name.strip_suffix("_total");
            let full = format!("sysmon_federation_{}", counter.unwrap_or(name));
            let help = "The uplink to the master (see the sysmon-uplink crate docs)";
            if let Some(_counter) = counter {
                let mut family =
                    encoder.encode_descriptor(&full, help, None, prometheus_client::metrics::MetricType::Counter)?;
                for (label, value) in values {
                    let metric = ConstCounter::new(value as u64);
                    match label {
                        Some((k, v)) => metric.encode(family.encode_family(&[(k, v)])?)?,
                        None => metric.encode(family.encode_family(&Vec::<(String, String)>::new())?)?,
                    }
                }
            } else {
                let mut family =
                    encoder.encode_descriptor(&full, help, None, prometheus_client::metrics::MetricType::Gauge)?;
                for (label, value) in values {
                    let metric = ConstGauge::new(value as i64);
                    match label {
                        Some((k, v)) => metric.encode(family.encode_family(&[(k, v)])?)?,
                        None => metric.encode(family.encode_family(&Vec::<(String, String)>::new())?)?,
                    }
                }
            }
        }
        Ok(())
    }
}
