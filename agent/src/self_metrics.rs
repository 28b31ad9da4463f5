//! The agent's own health figures, sent like any other series in every batch (with the
//! `host` label the batch adds): its uplink's figures ([`UplinkMetrics`], see its table)
//! under the `sysmon_agent_` prefix, e.g. `sysmon_agent_spool_bytes`,
//! `sysmon_agent_spool_dropped_batches_total{reason}`, `sysmon_agent_send_latency_seconds`,
//! `sysmon_agent_aggregator_connected`.

use sysmon_uplink::UplinkMetrics;

use crate::sample::Sample;

/// Appends the uplink's current figures to `out` as `sysmon_agent_*` samples.
pub(crate) fn append_samples(metrics: &UplinkMetrics, out: &mut Vec<Sample>) {
    metrics.visit(&mut |name, label, value| {
        let sample = Sample::new(format!("sysmon_agent_{name}"), value);
        out.push(match label {
            Some((key, v)) => sample.label(key, v),
            None => sample,
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_carry_the_agent_prefix_and_their_labels() {
        let mut samples = Vec::new();
        append_samples(&UplinkMetrics::default(), &mut samples);
        assert!(samples.iter().any(|s| s.name == "sysmon_agent_spool_bytes" && s.labels.is_empty()));
        assert!(samples.iter().any(|s| s.name == "sysmon_agent_spool_dropped_batches_total"
            && s.labels.iter().any(|(k, v)| k == "reason" && v == "write_error")));
        assert!(samples.iter().any(|s| s.name == "sysmon_agent_send_latency_seconds_bucket"
            && s.labels.iter().any(|(k, v)| k == "le" && v == "+Inf")));
    }
}
