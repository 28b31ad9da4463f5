//! A host's headline figures (CPU %, memory %, fullest filesystem, load) computed from its
//! newest samples, for `sysmon hosts list` and the fleet page.

use serde::Serialize;

use sysmon_tsdb::{Labels, SeriesData, is_stale_marker};

use crate::registry::{HostRecord, HostStatus};

/// One row of the hosts list.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HostSummary {
    pub(crate) host: String,
    pub(crate) region: String,
    pub(crate) status: HostStatus,
    pub(crate) last_seen_ms: i64,
    pub(crate) agent_version: String,
    pub(crate) cpu_percent: Option<f64>,
    pub(crate) memory_percent: Option<f64>,
    pub(crate) memory_total_bytes: Option<f64>,
    pub(crate) fullest_filesystem_percent: Option<f64>,
    pub(crate) fullest_filesystem_mountpoint: Option<String>,
    pub(crate) load1: Option<f64>,
}

/// The newest one or two samples of each series of a host, as [`summarize`] needs them.
pub(crate) struct LatestSamples {
    /// Each series with its samples, newest first.
    pub(crate) series: Vec<(Labels, Vec<(i64, f64)>)>,
}

impl LatestSamples {
    /// Keeps the newest two samples of each series, newest first, without stale markers.
    pub(crate) fn from_series(series: Vec<SeriesData>) -> LatestSamples {
        let series = series
            .into_iter()
            .map(|s| {
                let newest: Vec<(i64, f64)> =
                    s.samples.iter().rev().filter(|(_, v)| !is_stale_marker(*v)).take(2).copied().collect();
                (s.labels, newest)
            })
            .filter(|(_, samples)| !samples.is_empty())
            .collect();
        LatestSamples { series }
    }

    fn latest(&self, metric: &str) -> impl Iterator<Item = (&Labels, f64)> {
        self.series
            .iter()
            .filter(move |(labels, _)| labels.get("__name__") == Some(metric))
            .filter_map(|(labels, samples)| samples.first().map(|s| (labels, s.1)))
    }
}

/// Builds a host's row from its record, last-seen time and newest samples.
pub(crate) fn summarize(record: &HostRecord, last_seen_ms: i64, latest: &LatestSamples, now_ms: i64) -> HostSummary {
    let (fullest_filesystem_percent, fullest_filesystem_mountpoint) = match fullest_filesystem(latest) {
        Some((percent, mountpoint)) => (Some(percent), Some(mountpoint)),
        None => (None, None),
    };
    HostSummary {
        host: record.host.clone(),
        region: record.region.clone(),
        status: HostStatus::of(last_seen_ms, record.interval_ms, now_ms),
        last_seen_ms,
        agent_version: record.agent_version.clone(),
        cpu_percent: cpu_percent(latest),
        memory_percent: memory_percent(latest),
        memory_total_bytes: latest.latest("node_memory_MemTotal_bytes").next().map(|(_, v)| v),
        fullest_filesystem_percent,
        fullest_filesystem_mountpoint,
        load1: latest.latest("node_load1").next().map(|(_, v)| v),
    }
}

/// Busy share of all CPUs between the two newest collections: 100 * (1 - Δidle / Δall).
fn cpu_percent(latest: &LatestSamples) -> Option<f64> {
    let (mut idle, mut total) = (0.0, 0.0);
    for (labels, samples) in &latest.series {
        if labels.get("__name__") != Some("node_cpu_seconds_total") || samples.len() < 2 {
            continue;
        }
        let delta = samples[0].1 - samples[1].1;
        if delta < 0.0 {
            continue; // a counter reset (reboot): skip this pair
        }
        total += delta;
        if labels.get("mode") == Some("idle") {
            idle += delta;
        }
    }
    (total > 0.0).then(|| (100.0 * (1.0 - idle / total)).clamp(0.0, 100.0))
}

/// Used memory share: 100 * (1 - MemAvailable / MemTotal).
fn memory_percent(latest: &LatestSamples) -> Option<f64> {
    let total = latest.latest("node_memory_MemTotal_bytes").next()?.1;
    let available = latest.latest("node_memory_MemAvailable_bytes").next()?.1;
    (total > 0.0).then(|| (100.0 * (1.0 - available / total)).clamp(0.0, 100.0))
}

/// The filesystem with the highest use, as `df` computes it: used / (used + avail), where
/// used = size - free.
fn fullest_filesystem(latest: &LatestSamples) -> Option<(f64, String)> {
    let value = |metric: &str, mountpoint: &str| {
        latest.latest(metric).find(|(l, _)| l.get("mountpoint") == Some(mountpoint)).map(|(_, v)| v)
    };
    latest
        .latest("node_filesystem_size_bytes")
        .filter_map(|(labels, size)| {
            let mountpoint = labels.get("mountpoint")?;
            let free = value("node_filesystem_free_bytes", mountpoint)?;
            let avail = value("node_filesystem_avail_bytes", mountpoint)?;
            let used = size - free;
            (used + avail > 0.0).then(|| (100.0 * used / (used + avail), mountpoint.to_string()))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
    }

    #[test]
    fn cpu_memory_and_filesystem_figures() {
        let latest = LatestSamples {
            series: vec![
                (labels(&[("__name__", "node_cpu_seconds_total"), ("mode", "idle")]), vec![(2, 18.0), (1, 12.0)]),
                (labels(&[("__name__", "node_cpu_seconds_total"), ("mode", "user")]), vec![(2, 7.0), (1, 5.0)]),
                (labels(&[("__name__", "node_memory_MemTotal_bytes")]), vec![(2, 1000.0)]),
                (labels(&[("__name__", "node_memory_MemAvailable_bytes")]), vec![(2, 250.0)]),
                (labels(&[("__name__", "node_filesystem_size_bytes"), ("mountpoint", "/")]), vec![(2, 100.0)]),
                (labels(&[("__name__", "node_filesystem_free_bytes"), ("mountpoint", "/")]), vec![(2, 40.0)]),
                (labels(&[("__name__", "node_filesystem_avail_bytes"), ("mountpoint", "/")]), vec![(2, 20.0)]),
            ],
        };
        assert_eq!(cpu_percent(&latest), Some(25.0));
        assert_eq!(memory_percent(&latest), Some(75.0));
        assert_eq!(fullest_filesystem(&latest), Some((75.0, "/".to_string())));
    }
}
