//! Parity with node_exporter: the real one (Debian's `prometheus-node-exporter`, 1.5) and
//! `sysmon agent --once --format prometheus` read the same machine, and for every metric name
//! both expose the label sets must match (`host` aside), gauges that do not move must be equal
//! and counters must lie between two node_exporter readings taken before and after sysmon's.
//!
//! Every name node_exporter exposes and sysmon does not must be in [`NOT_COLLECTED`] with the
//! reason; the test prints those it met, and fails on any other.
#![allow(clippy::print_stderr)]

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use util::{Process, describe, free_addr, http_get, sysmon, wait_until};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// sysmon's default filters are upstream node_exporter 1.5's; Debian's package changes two of
/// them (it hides `lo` from netdev and /run, /mnt, /media from filesystem), so node_exporter is
/// started with upstream's.
const UPSTREAM_FLAGS: [&str; 2] = [
    "--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
    "--collector.netdev.device-exclude=",
];

/// node_exporter names (or prefixes, ending in `_`) sysmon does not collect, each with why.
const NOT_COLLECTED: &[(&str, &str)] = &[
    // node_exporter about itself; sysmon's own figures are sysmon_agent_* series.
    ("node_exporter_build_info", "node_exporter's version; sysmon's version travels in the agent's Hello"),
    ("node_scrape_collector_", "sysmon_agent_collector_duration_seconds and _errors_total say the same"),
    ("go_", "node_exporter's Go runtime"),
    ("process_", "node_exporter's own process"),
    ("promhttp_", "node_exporter's HTTP handler"),
    // Collectors sysmon does not have (yet); none exposes anything on a plain VM.
    ("node_textfile_", "no textfile collector: sysmon does not read *.prom files"),
    ("node_power_supply_", "powersupplyclass: batteries and UPS, laptops only"),
    ("node_cpu_frequency_", "cpufreq: not collected; frequency scaling is rarely what an SRE needs"),
    ("node_cpu_scaling_", "cpufreq: not collected"),
    ("node_bcache_", "bcache: not collected"),
    ("node_bonding_", "bonding: not collected"),
    ("node_btrfs_", "btrfs: per-filesystem internals, not collected"),
    ("node_xfs_", "xfs: per-filesystem internals, not collected"),
    ("node_zfs_", "zfs: not collected"),
    ("node_nfs_", "nfs client statistics: not collected"),
    ("node_nfsd_", "nfs server statistics: not collected"),
    ("node_md_", "mdadm software RAID: not yet"),
    ("node_ipvs_", "ipvs: not collected"),
    ("node_infiniband_", "infiniband: not collected"),
    ("node_fibrechannel_", "fibrechannel: not collected"),
    ("node_nvme_", "nvme: device info only, not collected"),
    ("node_rapl_", "rapl: CPU energy counters, bare metal only: not collected"),
    ("node_schedstat_", "schedstat: not collected"),
    ("node_tape_", "tapestats: not collected"),
    ("node_dmi_info", "dmi: hardware vendor strings, in the agent's inventory instead"),
    ("node_systemd_", "systemd: not collected"),
];

/// Gauges whose value moves from one instant to the next; only their label sets are compared.
const MOVING: &[&str] = &[
    "node_load1",
    "node_load5",
    "node_load15",
    "node_memory_",
    "node_procs_running",
    "node_procs_blocked",
    "node_filefd_allocated",
    "node_sockstat_",
    "node_entropy_available_bits",
    "node_filesystem_avail_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_files_free",
    "node_disk_io_now",
    "node_netstat_Tcp_CurrEstab",
    "node_nf_conntrack_entries",
    "node_udp_queues",
    "node_arp_entries",
    "node_timex_offset_seconds",
    "node_timex_maxerror_seconds",
    "node_timex_estimated_error_seconds",
    "node_timex_frequency_adjustment_ratio",
    "node_hwmon_",
    "node_thermal_zone_temp",
    "node_cooling_device_cur_state",
    "node_time_seconds",
];

/// Memory figures that do not move while the machine runs.
const STABLE_MEMORY: &[&str] = &[
    "node_memory_MemTotal_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_VmallocTotal_bytes",
    "node_memory_Hugepagesize_bytes",
    "node_memory_HugePages_Total",
    "node_memory_CommitLimit_bytes",
];

/// node_exporter declares these raw kernel counters `untyped`; they only ever grow.
const UNTYPED_COUNTERS: &[&str] = &[
    "node_vmstat_",
    "node_netstat_Tcp_",
    "node_netstat_TcpExt_",
    "node_netstat_Udp",
    "node_netstat_Icmp",
    "node_netstat_Ip6_",
    "node_netstat_IpExt_",
    "node_nf_conntrack_stat_",
];

/// Untyped netstat fields that are not counters.
const UNTYPED_GAUGES: &[&str] = &["node_netstat_Tcp_CurrEstab", "node_netstat_Ip_Forwarding"];

fn matches_any(name: &str, list: &[&str]) -> bool {
    list.iter().any(|entry| if entry.ends_with('_') { name.starts_with(entry) } else { name == *entry })
}

type Labels = BTreeMap<String, String>;

/// One exposition: per metric name its declared type and its series.
#[derive(Default)]
struct Exposition {
    types: BTreeMap<String, String>,
    series: BTreeMap<String, BTreeMap<Labels, f64>>,
}

/// A strict parser of the text format (the subset both programs print: no timestamps, no
/// histograms). Labels are unescaped properly, which prometheus-parse does not do.
fn parse(text: &str, who: &str) -> Exposition {
    let mut out = Exposition::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("{who}: bad TYPE line {line:?}"));
            out.types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("{who}: bad line {line:?}"),
        };
        let mut labels = Labels::new();
        let mut rest = rest;
        if let Some(mut inner) = rest.strip_prefix('{') {
            loop {
                if let Some(after) = inner.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let inner_trimmed = inner.trim_start_matches(',');
                let (key, after) =
                    inner_trimmed.split_once("=\"").unwrap_or_else(|| panic!("{who}: bad labels {line:?}"));
                let mut value = String::new();
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, c)) => value.push(c),
                            None => panic!("{who}: bad escape in {line:?}"),
                        },
                        Some((i, '"')) => break i,
                        Some((_, c)) => value.push(c),
                        None => panic!("{who}: unterminated label value in {line:?}"),
                    }
                };
                labels.insert(key.to_string(), value);
                inner = &after[end + 1..];
            }
        }
        let value = rest.trim();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("{who}: bad value in {line:?}")),
        };
        let previous = out.series.entry(name.to_string()).or_default().insert(labels, value);
        assert!(previous.is_none(), "{who}: duplicate series {line:?}");
    }
    out
}

/// node_exporter on a free loopback port, stopped when dropped.
struct NodeExporter {
    process: Process,
    url: String,
}

impl NodeExporter {
    fn start(dir: &Path) -> NodeExporter {
        assert!(
            Path::new(NODE_EXPORTER).exists(),
            "{NODE_EXPORTER} is missing: `apt-get install -y prometheus-node-exporter` (.ci/run does)"
        );
        let addr = free_addr();
        let listen = format!("--web.listen-address={addr}");
        let textfiles = dir.join("textfiles");
        std::fs::create_dir_all(&textfiles).unwrap();
        let textfile_flag = format!("--collector.textfile.directory={}", textfiles.display());
        let mut args = vec![listen.as_str(), "--web.disable-exporter-metrics", textfile_flag.as_str()];
        args.extend(UPSTREAM_FLAGS);
        let process = Process::spawn_program(dir, "node_exporter", NODE_EXPORTER, &args);
        let url = format!("http://{addr}/metrics");
        wait_until(Duration::from_secs(20), "node_exporter to serve /metrics", || {
            process.assert_running();
            matches!(http_get(&url), Ok((200, _)))
        });
        NodeExporter { process, url }
    }

    fn scrape(&self) -> String {
        match http_get(&self.url) {
            Ok((200, body)) => body,
            other => panic!("scraping node_exporter: {other:?}\n{}", self.process.log()),
        }
    }
}

#[test]
fn sysmon_matches_node_exporter() {
    let dir = tempfile::Builder::new().prefix("sysmon-parity-").tempdir().unwrap();
    let exporter = NodeExporter::start(dir.path());
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "[agent]\nid = \"parity\"\n").unwrap();

    let before = exporter.scrape();
    let output = sysmon()
        .args(["agent", "--once", "--format", "prometheus", "--config", config.to_str().unwrap()])
        .output()
        .expect("sysmon runs");
    let after = exporter.scrape();
    assert!(output.status.success(), "sysmon agent --once failed:\n{}", describe(&output));
    let text = String::from_utf8(output.stdout).expect("UTF-8");

    // An independent parser must read sysmon's output too, and see the same samples.
    let independent = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    let ne1 = parse(&before, "node_exporter");
    let ne2 = parse(&after, "node_exporter");
    let ours = parse(&text, "sysmon");
    assert_eq!(independent.samples.len(), ours.series.values().map(BTreeMap::len).sum::<usize>());

    let mut problems = Vec::new();
    let mut missing = BTreeMap::new();
    for (name, ne_series) in &ne1.series {
        let Some(our_series) = ours.series.get(name) else {
            match NOT_COLLECTED.iter().find(|(n, _)| matches_any(name, &[n])) {
                Some((_, reason)) => {
                    missing.insert(name.clone(), *reason);
                }
                None => problems
                    .push(format!("{name}: node_exporter has it, sysmon does not, and NOT_COLLECTED does not say why")),
            }
            continue;
        };
        if ours.types.get(name) != ne1.types.get(name) {
            problems.push(format!(
                "{name}: type {:?}, node_exporter's is {:?}",
                ours.types.get(name),
                ne1.types.get(name)
            ));
        }
        // Label sets, without sysmon's host label.
        let mut ours_by_labels: BTreeMap<Labels, f64> = BTreeMap::new();
        for (labels, value) in our_series {
            let mut labels = labels.clone();
            if labels.remove("host").as_deref() != Some("parity") {
                problems.push(format!("{name}: a series without host=\"parity\""));
            }
            ours_by_labels.insert(labels, *value);
        }
        let empty = BTreeMap::new();
        let ne2_series = ne2.series.get(name).unwrap_or(&empty);
        let ne_sets: BTreeSet<&Labels> = ne_series.keys().chain(ne2_series.keys()).collect();
        let both_ne: BTreeSet<&Labels> = ne_series.keys().filter(|l| ne2_series.contains_key(*l)).collect();
        let our_sets: BTreeSet<&Labels> = ours_by_labels.keys().collect();
        for extra in our_sets.difference(&ne_sets) {
            problems.push(format!("{name}{extra:?}: only sysmon has this series"));
        }
        for lacking in both_ne.difference(&our_sets) {
            problems.push(format!("{name}{lacking:?}: only node_exporter has this series"));
        }

        // Values.
        let kind = ne1.types.get(name).map(String::as_str).unwrap_or("untyped");
        let counter = kind == "counter" || (matches_any(name, UNTYPED_COUNTERS) && !matches_any(name, UNTYPED_GAUGES));
        let moving = !counter && matches_any(name, MOVING) && !matches_any(name, STABLE_MEMORY);
        for (labels, ours_value) in &ours_by_labels {
            let (Some(a), Some(b)) = (ne_series.get(labels), ne2_series.get(labels)) else { continue };
            let (low, high) = (a.min(*b), a.max(*b));
            let slack = 1e-9 * high.abs().max(1.0);
            if moving && name != "node_time_seconds" {
                continue;
            }
            // Counters (and the clock) lie between the two readings; other gauges equal them.
            if !(low - slack..=high + slack).contains(ours_value) {
                let what = if counter { "counter" } else { "gauge" };
                problems.push(format!("{name}{labels:?}: {what} is {ours_value}, node_exporter read {a} then {b}"));
            }
        }
    }

    let lacking: Vec<String> = missing.iter().map(|(name, why)| format!("  {name}: {why}")).collect();
    eprintln!("node_exporter names sysmon does not collect ({}):\n{}", lacking.len(), lacking.join("\n"));
    let compared = ne1.series.keys().filter(|n| ours.series.contains_key(*n)).count();
    eprintln!("compared {compared} metric names");
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(compared > 200, "only {compared} names in common");
}
