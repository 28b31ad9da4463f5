//! Prometheus and node_exporter processes on free loopback ports, each with its own data dir.

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::util::{Process, free_addr, http_get, wait_until};

pub const PROMETHEUS: &str = "/usr/bin/prometheus";
pub const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// Panics with the install command unless Debian's Prometheus and node_exporter are there.
pub fn require_binaries() {
    for bin in [PROMETHEUS, NODE_EXPORTER] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: `apt-get install -y prometheus prometheus-node-exporter` (.ci/run does)"
        );
    }
}

/// node_exporter with a handful of collectors, so that a scrape takes milliseconds.
pub struct NodeExporter {
    pub process: Process,
    pub addr: SocketAddr,
}

impl NodeExporter {
    pub fn start(dir: &Path) -> NodeExporter {
        let addr = free_addr();
        let listen = format!("--web.listen-address={addr}");
        let mut args = vec![listen.as_str(), "--collector.disable-defaults"];
        args.extend([
            "--collector.cpu",
            "--collector.diskstats",
            "--collector.filesystem",
            "--collector.loadavg",
            "--collector.meminfo",
            "--collector.netdev",
            "--collector.stat",
            "--collector.time",
            "--collector.uname",
            "--collector.vmstat",
        ]);
        let process = Process::spawn_program(dir, "node_exporter", NODE_EXPORTER, &args);
        let url = format!("http://{addr}/metrics");
        wait_until(Duration::from_secs(20), "node_exporter to serve /metrics", || {
            process.assert_running();
            matches!(http_get(&url), Ok((200, _)))
        });
        NodeExporter { process, addr }
    }
}

/// One Prometheus server with its own config file and data dir.
pub struct Prometheus {
    pub process: Process,
    pub addr: SocketAddr,
    pub config: PathBuf,
}

impl Prometheus {
    /// Starts `prometheus` named `name` in `dir` with `config` (YAML) and waits for `/-/ready`.
    pub fn start(dir: &Path, name: &str, config: &str, extra_args: &[&str]) -> Prometheus {
        let addr = free_addr();
        let config_path = dir.join(format!("{name}.yml"));
        fs::write(&config_path, config).unwrap();
        let data = dir.join(format!("{name}-data"));
        let args = [
            format!("--config.file={}", config_path.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address={addr}"),
            "--storage.tsdb.retention.time=1d".to_string(),
            "--log.level=info".to_string(),
        ];
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(extra_args);
        let process = Process::spawn_program(dir, name, PROMETHEUS, &args);
        let prometheus = Prometheus { process, addr, config: config_path };
        let ready = format!("{}/-/ready", prometheus.url());
        wait_until(Duration::from_secs(60), &format!("{name} ready at {ready}"), || {
            prometheus.process.assert_running();
            matches!(http_get(&ready), Ok((200, _)))
        });
        prometheus
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the config file, sends SIGHUP and waits until the reload has succeeded.
    pub fn reload(&self, config: &str) {
        let before = self.metric("prometheus_config_last_reload_success_timestamp_seconds");
        fs::write(&self.config, config).unwrap();
        self.process.signal("HUP");
        wait_until(Duration::from_secs(30), &format!("{} to reload its config", self.process.name), || {
            self.process.assert_running();
            self.metric("prometheus_config_last_reload_success_timestamp_seconds") > before
        });
    }

    /// Its own `/metrics`, summed per metric name (over all label sets).
    pub fn metrics(&self) -> BTreeMap<String, f64> {
        let body = match http_get(&format!("{}/metrics", self.url())) {
            Ok((200, body)) => body,
            other => panic!("{} /metrics: {other:?}\n{}", self.process.name, self.process.log()),
        };
        let mut sums = BTreeMap::new();
        for line in body.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let name = series.split('{').next().unwrap_or(series);
            if let Ok(value) = value.parse::<f64>() {
                *sums.entry(name.to_string()).or_insert(0.0) += value;
            }
        }
        sums
    }

    pub fn metric(&self, name: &str) -> f64 {
        self.metrics().get(name).copied().unwrap_or(0.0)
    }

    /// Panics if remote write has given up on samples (the receiver answered 4xx, which
    /// Prometheus does not retry): the other store would miss them.
    pub fn assert_remote_write_ok(&self, metrics: &BTreeMap<String, f64>) {
        let get = |name: &str| metrics.get(name).copied().unwrap_or(0.0);
        let failed = get("prometheus_remote_storage_samples_failed_total")
            + get("prometheus_remote_storage_samples_dropped_total");
        assert!(
            failed == 0.0,
            "{} could not remote-write {failed} samples (refused by the receiver?); its log:\n{}",
            self.process.name,
            self.process.log()
        );
    }

    /// Waits until everything appended so far has been sent by remote write: nothing pending
    /// and the highest sent timestamp caught up with the highest appended one, for a while.
    /// Panics if samples were refused or dropped.
    pub fn wait_remote_write_drained(&self, timeout: Duration) {
        let mut caught_up_since: Option<Instant> = None;
        wait_until(timeout, &format!("{}'s remote-write queue to drain", self.process.name), || {
            self.process.assert_running();
            let m = self.metrics();
            self.assert_remote_write_ok(&m);
            let get = |name: &str| m.get(name).copied().unwrap_or(0.0);
            let caught_up = get("prometheus_remote_storage_samples_pending") == 0.0
                && get("prometheus_remote_storage_queue_highest_sent_timestamp_seconds")
                    >= get("prometheus_remote_storage_highest_timestamp_in_seconds");
            match (caught_up, caught_up_since) {
                (false, _) => {
                    caught_up_since = None;
                    false
                }
                (true, None) => {
                    caught_up_since = Some(Instant::now());
                    false
                }
                // Timestamps in these gauges have whole-second resolution: stay caught up
                // for a while so that a last second's batch cannot hide behind them.
                (true, Some(since)) => since.elapsed() >= Duration::from_millis(1500),
            }
        });
    }
}

/// Config of the Prometheus that scrapes both exporters every second and remote-writes
/// everything to `write_url`. With `scrape` false, the same config without scrape jobs:
/// reloading it freezes the data while remote write drains (the queue is kept, as its
/// config does not change).
pub fn scraper_config(scrape: bool, node: SocketAddr, edge: SocketAddr, write_url: &str) -> String {
    let jobs = if scrape {
        format!(
            "scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['{node}']
  - job_name: edge
    static_configs:
      - targets: ['{edge}']
"
        )
    } else {
        String::new()
    };
    format!(
        "global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1m
{jobs}remote_write:
  - url: {write_url}
    remote_timeout: 10s
    queue_config:
      batch_send_deadline: 250ms
      max_samples_per_send: 2000
      min_backoff: 50ms
      max_backoff: 1s
"
    )
}

/// Config of a Prometheus that only receives remote write.
pub const RECEIVER_CONFIG: &str = "global:\n  evaluation_interval: 1m\n";

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}
