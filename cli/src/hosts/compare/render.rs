//! The comparison as people read it (a table, a column per host) and as scripts read it (one
//! JSON object, shape documented in `sysmon hosts compare --help`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::rows::{Resolution, Row, Stat, Unit, promql_duration};
use crate::table::render;

/// A finished comparison: the hosts, the rows and every host's value for each row.
pub(crate) struct Comparison {
    /// `--range` as given.
    pub(crate) range: String,
    pub(crate) resolution: Resolution,
    pub(crate) end_ms: i64,
    /// In column order.
    pub(crate) hosts: Vec<HostColumn>,
    pub(crate) rows: Vec<Row>,
    /// Per row (same order as `rows`), each host's value; absent when it has no data.
    pub(crate) values: Vec<BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct HostColumn {
    pub(crate) host: String,
    pub(crate) region: Option<String>,
}

#[derive(Serialize)]
struct JsonComparison<'a> {
    range: &'a str,
    range_seconds: u64,
    step_seconds: u64,
    /// Unix seconds.
    end: f64,
    hosts: &'a [HostColumn],
    rows: Vec<JsonRow<'a>>,
}

#[derive(Serialize)]
struct JsonRow<'a> {
    metric: &'static str,
    name: &'static str,
    stat: Stat,
    unit: Unit,
    query: &'a str,
    values: BTreeMap<&'a str, Option<f64>>,
}

/// The comparison as pretty-printed JSON, every host in every row's `values` (null without data).
pub(crate) fn json(comparison: &Comparison) -> String {
    let rows = comparison
        .rows
        .iter()
        .zip(&comparison.values)
        .map(|(row, values)| JsonRow {
            metric: metric_name(row),
            name: row.quantity.name,
            stat: row.stat,
            unit: row.quantity.unit,
            query: &row.query,
            values: comparison.hosts.iter().map(|h| (h.host.as_str(), values.get(&h.host).copied())).collect(),
        })
        .collect();
    let out = JsonComparison {
        range: &comparison.range,
        range_seconds: comparison.resolution.range_secs,
        step_seconds: comparison.resolution.step_secs,
        end: comparison.end_ms as f64 / 1000.0,
        hosts: &comparison.hosts,
        rows,
    };
    // Plain structs, maps with string keys and finite floats: serialising cannot fail.
    let mut text = serde_json::to_string_pretty(&out).expect("the comparison serialises to JSON");
    text.push('\n');
    text
}

fn metric_name(row: &Row) -> &'static str {
    use crate::cli::CompareMetric;
    match row.quantity.metric {
        CompareMetric::Cpu => "cpu",
        CompareMetric::Memory => "memory",
        CompareMetric::Disk => "disk",
        CompareMetric::Network => "network",
        CompareMetric::Load => "load",
    }
}

/// The comparison as a table: METRIC, STAT and a column per host; a region row first when
/// the aggregator names regions; then a line saying what was sampled.
pub(crate) fn table(comparison: &Comparison) -> String {
    let mut header = vec!["METRIC", "STAT"];
    header.extend(comparison.hosts.iter().map(|h| h.host.as_str()));
    let mut rows: Vec<Vec<String>> = Vec::new();
    if comparison.hosts.iter().any(|h| h.region.is_some()) {
        let mut row = vec!["region".to_string(), String::new()];
        row.extend(comparison.hosts.iter().map(|h| h.region.clone().unwrap_or_else(|| "-".into())));
        rows.push(row);
    }
    for (row, values) in comparison.rows.iter().zip(&comparison.values) {
        let mut cells = vec![row.quantity.label.to_string(), row.stat.name().to_string()];
        cells.extend(
            comparison
                .hosts
                .iter()
                .map(|h| values.get(&h.host).map_or_else(|| "-".into(), |&v| cell(row.quantity.unit, v))),
        );
        rows.push(cells);
    }
    let right: Vec<usize> = (2..header.len()).collect();
    let mut out = render(&header, &rows, &right);
    let r = comparison.resolution;
    out.push_str(&format!(
        "\nover {} to {}, sampled every {}, rates over {}\n",
        comparison.range,
        rfc3339(comparison.end_ms),
        promql_duration(r.step_secs),
        promql_duration(r.window_secs)
    ));
    out
}

/// A value as a table cell: percent and load with fixed decimals, rates in binary units.
fn cell(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Percent => format!("{value:.1}"),
        Unit::Plain => format!("{value:.2}"),
        Unit::BytesPerSecond => bytes_per_second(value),
    }
}

fn bytes_per_second(value: f64) -> String {
    const UNITS: [&str; 6] = ["KiB/s", "MiB/s", "GiB/s", "TiB/s", "PiB/s", "EiB/s"];
    if value.abs() < 1024.0 {
        return format!("{value:.0} B/s");
    }
    let mut scaled = value / 1024.0;
    let mut unit = 0;
    while scaled.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    format!("{scaled:.1} {}", UNITS[unit])
}

fn rfc3339(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(ms / 1000).unwrap_or_default());
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::super::rows::plan;
    use super::*;
    use crate::cli::CompareMetric;

    fn comparison() -> Comparison {
        let hosts = vec!["web-01".to_string(), "db-01".to_string()];
        let resolution = Resolution::for_range(86_400);
        let rows = plan(&[CompareMetric::Network], &hosts, resolution);
        let mut values = vec![BTreeMap::new(); rows.len()];
        values[0].insert("web-01".to_string(), 1536.0);
        values[0].insert("db-01".to_string(), 12.4);
        values[2].insert("web-01".to_string(), 3.5 * 1024.0 * 1024.0);
        Comparison {
            range: "24h".into(),
            resolution,
            end_ms: 1_763_892_000_000,
            hosts: vec![
                HostColumn { host: "web-01".into(), region: Some("eu".into()) },
                HostColumn { host: "db-01".into(), region: Some("us".into()) },
            ],
            rows,
            values,
        }
    }

    #[test]
    fn a_column_per_host_and_a_region_row() {
        let table = table(&comparison());
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "METRIC        STAT     web-01   db-01");
        assert_eq!(lines[1], "region                     eu      us");
        assert_eq!(lines[2], "net receive   avg   1.5 KiB/s  12 B/s");
        assert_eq!(lines[3], "net receive   p95           -       -");
        assert_eq!(lines[4], "net receive   max   3.5 MiB/s       -");
        assert_eq!(lines[7], "net transmit  max           -       -");
        assert_eq!(lines[9], "over 24h to 2025-11-23T10:00:00Z, sampled every 1m, rates over 2m");
    }

    #[test]
    fn json_names_every_host_in_every_row() {
        let value: serde_json::Value = serde_json::from_str(&json(&comparison())).unwrap();
        assert_eq!(value["range"], "24h");
        assert_eq!(value["range_seconds"], 86_400);
        assert_eq!(value["step_seconds"], 60);
        assert_eq!(value["end"], 1_763_892_000.0);
        assert_eq!(value["hosts"][1], serde_json::json!({"host": "db-01", "region": "us"}));
        let row = &value["rows"][0];
        assert_eq!(
            (&row["metric"], &row["name"], &row["stat"], &row["unit"]),
            (&"network".into(), &"network_receive".into(), &"avg".into(), &"bytes_per_second".into())
        );
        assert_eq!(row["values"], serde_json::json!({"web-01": 1536.0, "db-01": 12.4}));
        assert_eq!(value["rows"][1]["values"], serde_json::json!({"web-01": null, "db-01": null}));
        assert!(row["query"].as_str().unwrap().starts_with("avg_over_time((sum by (host) (rate("));
    }

    #[test]
    fn cells_carry_units() {
        assert_eq!(cell(Unit::Percent, 12.345), "12.3");
        assert_eq!(cell(Unit::Plain, 0.5), "0.50");
        assert_eq!(cell(Unit::BytesPerSecond, 0.0), "0 B/s");
        assert_eq!(cell(Unit::BytesPerSecond, 1023.0), "1023 B/s");
        assert_eq!(cell(Unit::BytesPerSecond, 1024.0), "1.0 KiB/s");
        assert_eq!(cell(Unit::BytesPerSecond, 5.0 * 1024.0 * 1024.0 * 1024.0), "5.0 GiB/s");
    }
}
