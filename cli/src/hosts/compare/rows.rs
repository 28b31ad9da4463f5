//! What the rows of `sysmon hosts compare` measure: a PromQL expression per quantity over the
//! node_exporter series the agent sends, reduced to avg, p95 and max over the range by a
//! subquery at a resolution chosen from the range.

use serde::Serialize;

use crate::cli::CompareMetric;

/// Points a range is sampled at, about: enough for a p95 that means something, few enough
/// that a week over a thousand hosts stays a cheap query.
const POINTS_PER_RANGE: u64 = 1440;

/// From this range on, steps are whole minutes, so that a master (which keeps 1-minute
/// rollups, DESIGN.md step 5) answers from its 1-minute tier.
const MINUTE_STEPS_FROM_SECS: u64 = 6 * 3600;

/// Beyond this range (the 1-minute tier's default retention), steps are whole hours: only the
/// 1-hour tier still holds the start of the range.
const HOUR_STEPS_BEYOND_SECS: u64 = 90 * 86_400;

/// Disks whose I/O is left out of `disk I/O`: device-mapper, md and drbd devices pass their
/// I/O on to the disks under them (counted there), and zram is memory. (Partitions are not
/// collected by default, as in node_exporter.)
const DISK_DEVICE_EXCLUDE: &str = "dm-[0-9]+|md[0-9]+|drbd[0-9]+|zram[0-9]+";

/// Interfaces left out of the network rows: loopback, and those whose traffic is counted
/// again on another interface of the same host (containers' veth pairs and bridges, libvirt
/// bridges, CNI bridges and overlays, ifb mirrors of ingress traffic).
const NETWORK_DEVICE_EXCLUDE: &str = "lo|veth.+|docker[0-9]+|br-.+|virbr[0-9]+|cni[0-9]+|flannel[.].+|cali.+|ifb[0-9]+";

/// How a range is sampled: the subquery step and the window of the rates inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resolution {
    pub(crate) range_secs: u64,
    pub(crate) step_secs: u64,
    pub(crate) window_secs: u64,
}

impl Resolution {
    /// About [`POINTS_PER_RANGE`] steps over the range, at least 10 s, rounded up to whole
    /// 10 s, minutes or hours by the range's length; rates over two steps, at least 1 m (four
    /// samples at the agent's default 10 s interval).
    pub(crate) fn for_range(range_secs: u64) -> Resolution {
        let unit = if range_secs > HOUR_STEPS_BEYOND_SECS {
            3600
        } else if range_secs >= MINUTE_STEPS_FROM_SECS {
            60
        } else {
            10
        };
        let step_secs = range_secs.div_ceil(POINTS_PER_RANGE).div_ceil(unit).max(1) * unit;
        Resolution { range_secs, step_secs, window_secs: (2 * step_secs).max(60) }
    }
}

/// A statistic over the range, one row per quantity each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Stat {
    Avg,
    P95,
    Max,
}

impl Stat {
    /// In row order.
    pub(crate) const ALL: [Stat; 3] = [Stat::Avg, Stat::P95, Stat::Max];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Stat::Avg => "avg",
            Stat::P95 => "p95",
            Stat::Max => "max",
        }
    }

    /// `expr` (one value per host at any instant) reduced over the range.
    fn over_range(self, expr: &str, resolution: Resolution) -> String {
        let subquery =
            format!("({expr})[{}:{}]", promql_duration(resolution.range_secs), promql_duration(resolution.step_secs));
        match self {
            Stat::Avg => format!("avg_over_time({subquery})"),
            Stat::P95 => format!("quantile_over_time(0.95, {subquery})"),
            Stat::Max => format!("max_over_time({subquery})"),
        }
    }
}

/// What a row's values are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Unit {
    Percent,
    BytesPerSecond,
    /// A plain number (load averages).
    #[serde(rename = "none")]
    Plain,
}

/// One measured quantity: shown as a row per [`Stat`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quantity {
    pub(crate) metric: CompareMetric,
    /// Its id in JSON output.
    pub(crate) name: &'static str,
    /// Its label in the table (with the unit when the cells have none).
    pub(crate) label: &'static str,
    pub(crate) unit: Unit,
    /// The expression, from the host matcher (`host=~"..."`) and the rate window.
    expr: fn(hosts: &str, window: &str) -> String,
}

/// Every quantity, in row order.
const QUANTITIES: [Quantity; 8] = [
    Quantity {
        metric: CompareMetric::Cpu,
        name: "cpu_busy",
        label: "cpu busy %",
        unit: Unit::Percent,
        // A ratio of sums, not an average of per-CPU ratios: right when CPUs come and go, and
        // never outside 0..100 (a rate of idle alone can exceed 1 per CPU by extrapolation).
        expr: |h, w| {
            format!(
                "100 * (1 - sum by (host) (rate(node_cpu_seconds_total{{mode=\"idle\",{h}}}[{w}])) \
                 / sum by (host) (rate(node_cpu_seconds_total{{{h}}}[{w}])))"
            )
        },
    },
    Quantity {
        metric: CompareMetric::Memory,
        name: "memory_used",
        label: "memory used %",
        unit: Unit::Percent,
        expr: |h, _| {
            format!(
                "100 * (1 - sum by (host) (node_memory_MemAvailable_bytes{{{h}}}) \
                 / sum by (host) (node_memory_MemTotal_bytes{{{h}}}))"
            )
        },
    },
    Quantity {
        metric: CompareMetric::Disk,
        name: "fullest_filesystem_used",
        label: "fullest fs used %",
        unit: Unit::Percent,
        // As df and `sysmon hosts list`: used / (used + available to users), used = size - free.
        // `>= 0` drops the NaN of an empty (size 0) filesystem.
        expr: |h, _| {
            format!(
                "max by (host) (100 * (node_filesystem_size_bytes{{{h}}} - node_filesystem_free_bytes{{{h}}}) \
                 / (node_filesystem_size_bytes{{{h}}} - node_filesystem_free_bytes{{{h}}} \
                 + node_filesystem_avail_bytes{{{h}}}) >= 0)"
            )
        },
    },
    Quantity {
        metric: CompareMetric::Disk,
        name: "disk_io",
        label: "disk I/O",
        unit: Unit::BytesPerSecond,
        expr: |h, w| {
            format!(
                "sum by (host) (rate(node_disk_read_bytes_total{{device!~\"{DISK_DEVICE_EXCLUDE}\",{h}}}[{w}])) \
                 + sum by (host) (rate(node_disk_written_bytes_total{{device!~\"{DISK_DEVICE_EXCLUDE}\",{h}}}[{w}]))"
            )
        },
    },
    Quantity {
        metric: CompareMetric::Network,
        name: "network_receive",
        label: "net receive",
        unit: Unit::BytesPerSecond,
        expr: |h, w| {
            format!(
                "sum by (host) (rate(node_network_receive_bytes_total{{device!~\"{NETWORK_DEVICE_EXCLUDE}\",{h}}}[{w}]))"
            )
        },
    },
    Quantity {
        metric: CompareMetric::Network,
        name: "network_transmit",
        label: "net transmit",
        unit: Unit::BytesPerSecond,
        expr: |h, w| {
            format!(
                "sum by (host) (rate(node_network_transmit_bytes_total{{device!~\"{NETWORK_DEVICE_EXCLUDE}\",{h}}}[{w}]))"
            )
        },
    },
    Quantity {
        metric: CompareMetric::Load,
        name: "load1",
        label: "load1",
        unit: Unit::Plain,
        expr: |h, _| format!("max by (host) (node_load1{{{h}}})"),
    },
    Quantity {
        metric: CompareMetric::Load,
        name: "load1_per_core",
        label: "load1 per core",
        unit: Unit::Plain,
        expr: |h, _| {
            format!("max by (host) (node_load1{{{h}}}) / count by (host) (node_cpu_seconds_total{{mode=\"idle\",{h}}})")
        },
    },
];

/// One row of the comparison: a quantity, a stat and the query that answers it for every host.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) quantity: Quantity,
    pub(crate) stat: Stat,
    pub(crate) query: String,
}

/// The rows for `metrics` (every metric when empty), in row order: each quantity's avg, p95
/// and max.
pub(crate) fn plan(metrics: &[CompareMetric], hosts: &[String], resolution: Resolution) -> Vec<Row> {
    let matcher = host_matcher(hosts);
    let window = promql_duration(resolution.window_secs);
    QUANTITIES
        .iter()
        .filter(|q| metrics.is_empty() || metrics.contains(&q.metric))
        .flat_map(|quantity| {
            let expr = (quantity.expr)(&matcher, &window);
            Stat::ALL.map(|stat| Row { quantity: *quantity, stat, query: stat.over_range(&expr, resolution) })
        })
        .collect()
}

/// `host=~"a|b"`: the hosts as one regex matcher (anchored, as every PromQL regex), each id
/// matched literally.
fn host_matcher(hosts: &[String]) -> String {
    let alternatives: Vec<String> = hosts.iter().map(|h| regex_escape(h)).collect();
    format!("host=~{}", promql_string(&alternatives.join("|")))
}

/// `text` with every regex metacharacter escaped (Go's `regexp.QuoteMeta`; the same escapes
/// mean the same in Rust's regex crate).
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `text` as a double-quoted PromQL string literal.
fn promql_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            '\t' => out.push_str(r"\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Seconds as a PromQL duration in the largest unit that divides them (`1d`, `90m`, `10s`).
pub(crate) fn promql_duration(secs: u64) -> String {
    match secs {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_follows_the_range() {
        let r = |secs| {
            let r = Resolution::for_range(secs);
            (r.step_secs, r.window_secs)
        };
        assert_eq!(r(60), (10, 60));
        assert_eq!(r(300), (10, 60));
        assert_eq!(r(3600), (10, 60));
        assert_eq!(r(5 * 3600), (20, 60));
        assert_eq!(r(6 * 3600), (60, 120));
        assert_eq!(r(86_400), (60, 120));
        assert_eq!(r(7 * 86_400), (420, 840));
        assert_eq!(r(90 * 86_400), (5400, 10_800));
        assert_eq!(r(91 * 86_400), (7200, 14_400));
    }

    #[test]
    fn durations_in_the_largest_unit() {
        assert_eq!(promql_duration(86_400), "1d");
        assert_eq!(promql_duration(7200), "2h");
        assert_eq!(promql_duration(5400), "90m");
        assert_eq!(promql_duration(90), "90s");
    }

    #[test]
    fn hosts_are_matched_literally() {
        let hosts = ["web-01".to_string(), "db.1".to_string(), r#"odd"\(x)"#.to_string()];
        assert_eq!(host_matcher(&hosts), r#"host=~"web-01|db\\.1|odd\"\\\\\\(x\\)""#);
    }

    #[test]
    fn every_stat_of_every_chosen_metric() {
        let hosts = ["a".to_string(), "b".to_string()];
        let rows = plan(&[CompareMetric::Load], &hosts, Resolution::for_range(86_400));
        let names: Vec<(&str, &str)> = rows.iter().map(|r| (r.quantity.name, r.stat.name())).collect();
        assert_eq!(
            names,
            [
                ("load1", "avg"),
                ("load1", "p95"),
                ("load1", "max"),
                ("load1_per_core", "avg"),
                ("load1_per_core", "p95"),
                ("load1_per_core", "max")
            ]
        );
        assert_eq!(rows[1].query, r#"quantile_over_time(0.95, (max by (host) (node_load1{host=~"a|b"}))[1d:1m])"#);
        assert_eq!(plan(&[], &hosts, Resolution::for_range(3600)).len(), 3 * QUANTITIES.len());
        let cpu = &plan(&[CompareMetric::Cpu], &hosts, Resolution::for_range(3600))[2].query;
        assert_eq!(
            cpu,
            r#"max_over_time((100 * (1 - sum by (host) (rate(node_cpu_seconds_total{mode="idle",host=~"a|b"}[1m])) / sum by (host) (rate(node_cpu_seconds_total{host=~"a|b"}[1m]))))[1h:10s])"#
        );
    }
}
