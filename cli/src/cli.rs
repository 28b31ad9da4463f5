//! The command line: every subcommand, flag and help text.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// sysmon: fleet monitoring. One binary: agent, aggregator and fleet CLI.
#[derive(Debug, Parser)]
#[command(name = "sysmon", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// All-in-one on this machine: aggregator, local agent and dashboard, with a dev CA.
    Up(UpArgs),
    /// Run the agent: collect this host's metrics and stream them to an aggregator.
    Agent(AgentArgs),
    /// Run an aggregator: receive agents' batches, store them, serve the API and dashboard.
    Aggregator(AggregatorArgs),
    /// The fleet: list hosts, show one, compare several.
    #[command(subcommand)]
    Hosts(HostsCommand),
    /// Agent events (heavy users, spool drops, ...), newest first.
    Events(EventsArgs),
    /// Alerts: the active ones (every region's, at a master) and those resolved lately.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Evaluate a PromQL expression on an aggregator, now, at --time, or over --range.
    Query(QueryArgs),
    /// The fleet CA: create it, issue agent and server certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sysmon query 'node_load1'\n  sysmon query 'sum by (host) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m]))' --range 1h --step 1m\n  sysmon query 'up' --time 2026-11-23T10:00:00Z --output json"
)]
pub(crate) struct QueryArgs {
    /// The PromQL expression.
    pub(crate) query: String,
    /// Evaluation time of an instant query (RFC 3339 or unix seconds) [default: now].
    #[arg(long, conflicts_with = "range")]
    pub(crate) time: Option<String>,
    /// Run a range query over this long a window ending at --end (e.g. 1h, 30m, 7d).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub(crate) range: Option<std::time::Duration>,
    /// End of a range query (RFC 3339 or unix seconds) [default: now].
    #[arg(long, requires = "range")]
    pub(crate) end: Option<String>,
    /// Resolution of a range query [default: the range / 250, at least 1s].
    #[arg(long, requires = "range", value_parser = humantime::parse_duration)]
    pub(crate) step: Option<std::time::Duration>,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sysmon events --since 1h\n  sysmon events --host web-01 --kind heavy_user_start --output json"
)]
pub(crate) struct EventsArgs {
    /// Only this host's events.
    #[arg(long)]
    pub(crate) host: Option<String>,
    /// Only events of this kind (e.g. heavy_user_start, heavy_user_end, spool_dropped).
    #[arg(long)]
    pub(crate) kind: Option<String>,
    /// Only events of this last while (e.g. 1h, 30m, 7d) [default: all the aggregator keeps].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub(crate) since: Option<std::time::Duration>,
    /// Most events listed, 1 to 1000.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub(crate) limit: u16,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AlertsCommand {
    /// Active alerts (pending and firing): at a regional its own, at a master its own and
    /// every region's, each region's with its `region` label.
    #[command(long_about = ALERTS_LIST_ABOUT, after_help = ALERTS_LIST_EXAMPLES)]
    List(AlertsListArgs),
    /// The alerts this aggregator resolved lately (kept in memory), newest first.
    History {
        #[command(flatten)]
        server: ServerArgs,
    },
}

const ALERTS_LIST_ABOUT: &str = r#"Active alerts, from the aggregator's /api/v1/alerts (Prometheus's shape): at a regional
the alerts of its own rules ([alerting] in aggregator.toml), at a master its own and every
region's, as the region's aggregator last sent them. Columns: alert name, state, severity,
region, since when it is active, value, and its other labels.

States:
  pending  the rule returns it, for less than the rule's `for`
  firing   the rule has returned it for at least its `for`

An alert of a region the master no longer hears from is its last known one: its REGION
shows as "eu-1 (unreachable)", and in JSON it has the annotation region_unreachable.

--output json prints the API's alert objects (filtered) as one array."#;

const ALERTS_LIST_EXAMPLES: &str = "\
Examples:
  sysmon alerts list
  sysmon alerts list --state firing
  sysmon alerts list --server http://master.example.com:9800 --region eu-1 --output json";

#[derive(Debug, Args)]
pub(crate) struct AlertsListArgs {
    /// Only the alerts of this region (label `region`).
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Only alerts in this state.
    #[arg(long, value_enum)]
    pub(crate) state: Option<AlertStateArg>,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

/// `--state` of `sysmon alerts list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AlertStateArg {
    /// Waiting out the rule's `for`.
    Pending,
    /// Firing.
    Firing,
}

#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Where the store, the dev CA and the certificates live.
    #[arg(long, default_value = "./sysmon-data", env = "SYSMON_DATA_DIR")]
    pub(crate) data_dir: PathBuf,
    /// Dashboard and HTTP API address.
    #[arg(long, default_value = "127.0.0.1:9800")]
    pub(crate) http_listen: SocketAddr,
    /// gRPC address the local agent sends to.
    #[arg(long, default_value = "127.0.0.1:9801")]
    pub(crate) grpc_listen: SocketAddr,
    /// Collection interval of the local agent (1s to 1h).
    #[arg(long, default_value = "10s")]
    pub(crate) interval: String,
    /// How long raw samples are kept (1-minute and 1-hour rollups: 90 and 730 days).
    #[arg(long, default_value = "15d", env = "SYSMON_STORAGE_RAW_RETENTION", value_parser = humantime::parse_duration)]
    pub(crate) raw_retention: std::time::Duration,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sysmon agent --config /etc/sysmon/agent.toml\n  sysmon agent --once --format prometheus\n  sysmon agent --once --config /etc/sysmon/agent.toml | grep node_filesystem_avail_bytes"
)]
pub(crate) struct AgentArgs {
    /// The agent's config file (see deploy/agent.toml) [default: /etc/sysmon/agent.toml; with
    /// --once and no such file, built-in defaults].
    #[arg(long, short, env = "SYSMON_AGENT_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Collect once, print the collection on stdout and exit. Needs no aggregator, no
    /// certificates and no config file; [aggregator] and [tls] of a given one are not used.
    #[arg(long)]
    pub(crate) once: bool,
    /// Output format of --once.
    #[arg(long, value_enum, default_value_t = AgentFormat::Prometheus, requires = "once")]
    pub(crate) format: AgentFormat,
}

/// Where `sysmon agent` reads its config when `--config` is not given.
pub(crate) const DEFAULT_AGENT_CONFIG: &str = "/etc/sysmon/agent.toml";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum AgentFormat {
    /// The Prometheus text exposition format, with HELP and TYPE lines.
    Prometheus,
}

#[derive(Debug, Args)]
pub(crate) struct AggregatorArgs {
    /// The aggregator's config file (see deploy/aggregator.toml).
    #[arg(long, short, default_value = "/etc/sysmon/aggregator.toml", env = "SYSMON_AGGREGATOR_CONFIG")]
    pub(crate) config: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Output {
    /// Aligned columns for people.
    Table,
    /// The API's JSON, for scripts.
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// The aggregator's HTTP address.
    #[arg(long, default_value = "http://127.0.0.1:9800", env = "SYSMON_SERVER")]
    pub(crate) server: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    pub(crate) output: Output,
}

#[derive(Debug, Subcommand)]
pub(crate) enum HostsCommand {
    /// Every host of every region: status, last seen, CPU %, memory %, fullest filesystem, load.
    #[command(long_about = LIST_ABOUT, after_help = LIST_EXAMPLES)]
    List(ListArgs),
    /// One host: inventory, recent events and latest values.
    Show {
        /// The host (agent id).
        host: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Hosts side by side: average, p95 and max of CPU, memory, disk, network and load over a range.
    #[command(long_about = COMPARE_ABOUT, after_help = COMPARE_EXAMPLES)]
    Compare(CompareArgs),
}

const LIST_ABOUT: &str = r#"Every host the aggregator knows, sorted by host: at a regional aggregator its own region's
hosts, at a master every host of every region that reports to it. Columns: host, region,
status, last seen, CPU busy %, memory used %, the fullest filesystem (used %, mountpoint) and
the 1-minute load average.

Statuses (of a host that reports every interval; default interval 10s):
  up       a batch arrived within the last three intervals (at least 5s)
  stale    late: nothing for three intervals or more, but for less than ten (at least 60s)
  down     silent for ten intervals (at least 60s) or more
  unknown  the host's region is unreachable: the master has not heard from that region's
           aggregator for longer than its threshold, so nobody knows whether the host is up;
           its figures are the last ones the master received

After the table, one line per unreachable region:
  region eu-1 unreachable: last heard 4m 10s ago; its 12 hosts show as unknown

--region and --status narrow the list (the aggregator filters, and so does the CLI, for
aggregators that do not yet). A --region the aggregator does not know is an error that lists
the regions it knows. --output json prints the API's host rows (filtered) as one array."#;

const LIST_EXAMPLES: &str = "\
Examples:
  sysmon hosts list
  sysmon hosts list --region eu-1
  sysmon hosts list --status down,unknown
  sysmon hosts list --server http://master.example.com:9800 --status stale --output json";

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only the hosts of this region.
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Only hosts with these statuses: up, stale, down or unknown (repeat the flag or separate
    /// with commas) [default: all].
    #[arg(long, value_delimiter = ',', value_parser = parse_host_status)]
    pub(crate) status: Vec<HostStatus>,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

/// A host's status as the hosts API reports it (see `sysmon hosts list --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostStatus {
    /// Reporting on time.
    Up,
    /// Late.
    Stale,
    /// Silent.
    Down,
    /// In a region the master cannot reach.
    Unknown,
}

impl HostStatus {
    /// Every status, in the order the help and messages name them.
    pub(crate) const ALL: [HostStatus; 4] = [HostStatus::Up, HostStatus::Stale, HostStatus::Down, HostStatus::Unknown];

    /// The status's name in the API and on the command line.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            HostStatus::Up => "up",
            HostStatus::Stale => "stale",
            HostStatus::Down => "down",
            HostStatus::Unknown => "unknown",
        }
    }
}

/// One `--status` value; the message is the hosts API's own for a bad `status`.
fn parse_host_status(text: &str) -> Result<HostStatus, String> {
    HostStatus::ALL
        .into_iter()
        .find(|status| status.name() == text)
        .ok_or_else(|| format!("status must be up, stale, down or unknown, got {text:?}"))
}

const COMPARE_ABOUT: &str = r#"Hosts side by side: a column per host and, for each metric, a row for the average (avg), the
95th percentile (p95) and the maximum (max) over --range, ending at --end.

Every figure is computed by the aggregator from its Prometheus query API (/api/v1/query) and
the hosts are checked against /api/hosts, so this works against a regional aggregator and
against a master (hosts of every region). The range is sampled every range/1440 (at least
10s; from 6h on, whole minutes, so that a master answers from its 1-minute rollups; beyond
90d, whole hours); rates are taken over twice that step, at least 1m. avg, p95 and max are
avg_over_time, quantile_over_time(0.95, ...) and max_over_time of those samples.

Metrics (--metric; default: all):
  cpu      cpu busy %: share of all the host's CPU time that is not idle (iowait and steal
           count as busy)
  memory   memory used %: 100 * (1 - MemAvailable / MemTotal)
  disk     fullest fs used %: the host's fullest filesystem at each step, used as df
           computes it; disk I/O: bytes read plus written per second over its disks
           (device-mapper, md, drbd and zram devices left out: their I/O is counted again
           on the disks under them, or is memory)
  network  net receive, net transmit: bytes per second over the host's interfaces, except
           lo and those that relay its own traffic again (veth*, docker*, br-*, virbr*,
           cni*, flannel.*, cali*, ifb*)
  load     load1: the 1-minute load average; load1 per core: load1 / the host's CPUs

A host without data for a row shows '-' (null in JSON). A region row names each host's
region. --output json prints one object:
  {"range": "24h", "range_seconds": 86400, "step_seconds": 60, "end": 1763892000.0,
   "hosts": [{"host": "web-01", "region": "eu"}, ...],
   "rows": [{"metric": "cpu", "name": "cpu_busy", "stat": "p95", "unit": "percent",
             "query": "quantile_over_time(0.95, (...)[1d:1m])",
             "values": {"web-01": 12.3, "web-02": null}}, ...]}
where unit is percent, bytes_per_second or none, and query is the row's PromQL, evaluated
at end (unix seconds)."#;

const COMPARE_EXAMPLES: &str = "\
Examples:
  sysmon hosts compare web-01 web-02
  sysmon hosts compare web-01 web-02 db-01 --metric cpu,memory --range 7d
  sysmon hosts compare web-01 web-02 --range 1h --end 2026-11-23T10:00:00Z --output json";

#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    /// The hosts (agent ids), two or more, in column order.
    #[arg(value_name = "HOST", num_args = 2.., required = true)]
    pub(crate) hosts: Vec<String>,
    /// Only these metrics (repeat the flag or separate with commas) [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) metric: Vec<CompareMetric>,
    /// How long a window, ending at --end (e.g. 1h, 24h, 7d; 1m to 730d).
    #[arg(long, default_value = "24h", value_parser = parse_compare_range)]
    pub(crate) range: CompareRange,
    /// End of the window (RFC 3339 or unix seconds) [default: now].
    #[arg(long, value_parser = parse_time_ms)]
    pub(crate) end: Option<i64>,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

/// The metrics `sysmon hosts compare` can show, each as one or more rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CompareMetric {
    /// CPU busy %.
    Cpu,
    /// Memory used %.
    Memory,
    /// Fullest filesystem used % and disk I/O bytes/s.
    Disk,
    /// Received and transmitted bytes/s.
    Network,
    /// load1 and load1 per core.
    Load,
}

/// `--range` of `sysmon hosts compare`: as given, and in whole seconds.
#[derive(Debug, Clone)]
pub(crate) struct CompareRange {
    pub(crate) text: String,
    pub(crate) seconds: u64,
}

/// Shortest and longest `--range` of `sysmon hosts compare`: below a minute there are too few
/// steps to take a p95 of; beyond the 1-hour rollups' default retention there is no data.
const COMPARE_RANGE_SECS: std::ops::RangeInclusive<u64> = 60..=730 * 86_400;

fn parse_compare_range(text: &str) -> Result<CompareRange, String> {
    let duration =
        humantime::parse_duration(text).map_err(|_| "expected a duration such as 30m, 24h or 7d".to_string())?;
    let seconds = duration.as_secs();
    if !COMPARE_RANGE_SECS.contains(&seconds) {
        return Err("must be between 1m and 730d".into());
    }
    Ok(CompareRange { text: text.to_string(), seconds })
}

/// Unix seconds (fractions allowed) or RFC 3339, as unix milliseconds.
fn parse_time_ms(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
        && seconds >= 0.0
    {
        return Ok((seconds * 1000.0).round() as i64);
    }
    let time = humantime::parse_rfc3339_weak(text)
        .map_err(|_| "expected RFC 3339 (2026-11-23T10:00:00Z) or unix seconds".to_string())?;
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(|| "must not be before 1970".to_string())
}

#[derive(Debug, Subcommand)]
pub(crate) enum CertsCommand {
    /// Create the fleet CA (ca.pem, ca-key.pem) in DIR.
    Init {
        /// Where to write the CA.
        #[arg(long, default_value = "./certs")]
        dir: PathBuf,
        /// The CA's common name.
        #[arg(long, default_value = "sysmon fleet CA")]
        name: String,
        /// Replace an existing CA (every certificate it issued stops being trusted).
        #[arg(long)]
        force: bool,
    },
    /// Issue an agent or server certificate signed by the CA in DIR.
    #[command(group(clap::ArgGroup::new("kind").required(true).args(["agent", "server"])))]
    Issue {
        /// Issue a client certificate for this agent id (its common name = the agent id).
        #[arg(long, value_name = "ID")]
        agent: Option<String>,
        /// Issue a server certificate for this DNS name (what agents put in server_name).
        #[arg(long, value_name = "NAME")]
        server: Option<String>,
        /// More names or IP addresses for a server certificate (repeatable).
        #[arg(long = "san", value_name = "NAME_OR_IP")]
        sans: Vec<String>,
        /// Where the CA is and where the certificate is written.
        #[arg(long, default_value = "./certs")]
        dir: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 397)]
        days: i64,
    },
}
