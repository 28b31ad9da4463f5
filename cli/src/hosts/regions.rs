//! The regions an aggregator knows (`/api/regions`) and the line `sysmon hosts list` prints
//! for each unreachable one.
//!
//! An aggregator older than `/api/regions` answers it 404; the regions are then the distinct
//! `region` values of its host rows, each taken as local (such an aggregator has no way to tell
//! a region unreachable).

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::Value;

/// What `/api/regions` answers. Fields this CLI does not use (`role`, `via`, ...) are ignored,
/// and absent ones take their defaults, so that a newer aggregator's answer still reads.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Regions {
    /// Sorted by region.
    pub(crate) regions: Vec<Region>,
}

/// One region as `/api/regions` reports it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Region {
    pub(crate) region: String,
    pub(crate) status: RegionStatus,
    /// When the aggregator last heard from the region (unix ms); `None` if it never did.
    #[serde(default)]
    pub(crate) last_heard_ms: Option<i64>,
    /// How many hosts the region has.
    #[serde(default)]
    pub(crate) hosts: u64,
}

/// Whether a region is heard from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RegionStatus {
    /// The answering aggregator's own region.
    Local,
    /// Heard from within the master's threshold.
    Reachable,
    /// Silent for longer than the master's threshold: its hosts show as unknown.
    Unreachable,
    /// A status this CLI does not know yet (a newer aggregator's).
    #[serde(other)]
    Other,
}

impl Regions {
    /// Reads `/api/regions`' answer.
    pub(crate) fn from_json(body: Value) -> anyhow::Result<Regions> {
        serde_json::from_value(body).context("/api/regions answered something other than {\"regions\": [...]}")
    }

    /// The regions of an aggregator without `/api/regions`: the distinct non-empty `region`
    /// values of `hosts` (the API's host rows), each local, with its number of hosts.
    pub(crate) fn from_hosts(hosts: &[Value]) -> Regions {
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for region in hosts.iter().filter_map(|h| h["region"].as_str()).filter(|r| !r.is_empty()) {
            *counts.entry(region).or_default() += 1;
        }
        let regions = counts
            .into_iter()
            .map(|(region, hosts)| Region {
                region: region.to_string(),
                status: RegionStatus::Local,
                last_heard_ms: None,
                hosts,
            })
            .collect();
        Regions { regions }
    }

    /// Whether `name` is one of the regions.
    pub(crate) fn knows(&self, name: &str) -> bool {
        self.regions.iter().any(|r| r.region == name)
    }

    /// The regions' names, in the API's order (sorted).
    pub(crate) fn names(&self) -> Vec<&str> {
        self.regions.iter().map(|r| r.region.as_str()).collect()
    }

    /// The unreachable regions, all of them or only `only`.
    pub(crate) fn unreachable<'a>(&'a self, only: Option<&'a str>) -> impl Iterator<Item = &'a Region> + 'a {
        self.regions
            .iter()
            .filter(|r| r.status == RegionStatus::Unreachable)
            .filter(move |r| only.is_none_or(|name| r.region == name))
    }
}

/// `region eu-1 unreachable: last heard 4m 10s ago; its 12 hosts show as unknown`, at `now_ms`.
pub(crate) fn unreachable_line(region: &Region, now_ms: i64) -> String {
    let heard = match region.last_heard_ms {
        Some(ms) if ms > 0 => format!("last heard {} ago", duration(now_ms - ms)),
        _ => "never heard from".to_string(),
    };
    let hosts = match region.hosts {
        0 => "it has no hosts".to_string(),
        1 => "its 1 host shows as unknown".to_string(),
        n => format!("its {n} hosts show as unknown"),
    };
    format!("region {} unreachable: {heard}; {hosts}", region.region)
}

/// A duration in its two largest units, a trailing zero unit left out, as the dashboard
/// shows it: `45s`, `4m 10s`, `2h`, `3d 4h`. Negative durations (clock skew) are `0s`.
pub(crate) fn duration(ms: i64) -> String {
    const UNITS: [(&str, i64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let mut seconds = (ms / 1000).max(0);
    let mut parts = Vec::new();
    for (name, size) in UNITS {
        if seconds >= size || (size == 1 && parts.is_empty()) {
            parts.push((seconds / size, name));
            seconds %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    if parts.len() == 2 && parts[1].0 == 0 {
        parts.pop();
    }
    parts.iter().map(|(n, unit)| format!("{n}{unit}")).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_700_000_000_000;

    fn master() -> Regions {
        Regions::from_json(serde_json::from_str(include_str!("testdata/master_regions.json")).unwrap()).unwrap()
    }

    #[test]
    fn durations_show_two_units() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(-5_000), "0s");
        assert_eq!(duration(45_999), "45s");
        assert_eq!(duration(250_000), "4m 10s");
        assert_eq!(duration(7_200_000), "2h");
        assert_eq!(duration(7_260_000), "2h 1m");
        assert_eq!(duration((3 * 86_400 + 4 * 3_600 + 59) * 1000), "3d 4h");
    }

    #[test]
    fn reads_a_masters_regions() {
        let regions = master();
        assert_eq!(regions.names(), ["eu-1", "us-1", "us-2"]);
        assert_eq!(regions.regions[0].status, RegionStatus::Unreachable);
        assert_eq!(regions.regions[0].last_heard_ms, Some(NOW_MS - 250_000));
        assert_eq!(regions.regions[2].last_heard_ms, None);
        assert_eq!(regions.regions[1].status, RegionStatus::Reachable);
        assert!(regions.knows("us-2") && !regions.knows("eu-9"));
    }

    #[test]
    fn an_unknown_region_status_still_reads() {
        let body = serde_json::json!({"role": "master", "regions": [{"region": "ap-1", "status": "draining"}]});
        let regions = Regions::from_json(body).unwrap();
        assert_eq!(regions.regions[0].status, RegionStatus::Other);
        assert_eq!(regions.unreachable(None).count(), 0);
    }

    #[test]
    fn a_body_without_regions_is_an_error() {
        let err = Regions::from_json(serde_json::json!({"hosts": []})).unwrap_err();
        assert!(format!("{err:#}").starts_with("/api/regions answered something other than"), "{err:#}");
    }

    #[test]
    fn unreachable_lines() {
        let regions = master();
        let lines: Vec<String> = regions.unreachable(None).map(|r| unreachable_line(r, NOW_MS)).collect();
        assert_eq!(
            lines,
            [
                "region eu-1 unreachable: last heard 4m 10s ago; its 2 hosts show as unknown",
                "region us-2 unreachable: never heard from; it has no hosts",
            ]
        );
        let only: Vec<&str> = regions.unreachable(Some("us-2")).map(|r| r.region.as_str()).collect();
        assert_eq!(only, ["us-2"]);
        assert_eq!(regions.unreachable(Some("us-1")).count(), 0);
        let one = Region {
            region: "ap-1".into(),
            status: RegionStatus::Unreachable,
            last_heard_ms: Some(NOW_MS - 3_600_000),
            hosts: 1,
        };
        assert_eq!(
            unreachable_line(&one, NOW_MS),
            "region ap-1 unreachable: last heard 1h ago; its 1 host shows as unknown"
        );
    }

    #[test]
    fn without_the_api_regions_come_from_the_hosts() {
        let hosts: Vec<Value> = serde_json::from_value(serde_json::json!([
            {"host": "a", "region": "test"}, {"host": "b", "region": "test"},
            {"host": "c", "region": "lab"}, {"host": "d", "region": ""}, {"host": "e"}
        ]))
        .unwrap();
        let regions = Regions::from_hosts(&hosts);
        assert_eq!(regions.names(), ["lab", "test"]);
        assert_eq!(regions.regions[1].hosts, 2);
        assert!(regions.regions.iter().all(|r| r.status == RegionStatus::Local));
        assert_eq!(regions.unreachable(None).count(), 0);
        assert!(Regions::from_hosts(&[]).names().is_empty());
    }
}
