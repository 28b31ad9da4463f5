//! The command line of `sysmon-loadgen`, and its check into [`Settings`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};

/// Simulated agents streaming node-like series (or a dataset file's samples) to one aggregator
/// over the real mutual-TLS Ingest stream; prints acked samples per second and ack latency.
#[derive(Debug, Parser)]
#[command(name = "sysmon-loadgen", version, about, long_about = None, args_override_self = true)]
pub(crate) struct Args {
    /// The aggregator's gRPC endpoint.
    #[arg(long, default_value = "https://127.0.0.1:9801")]
    aggregator: String,
    /// The name the aggregator's certificate must carry.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// The fleet CA: a directory holding ca.pem and ca-key.pem (for `sysmon up`: ./sysmon-data/certs).
    /// Each simulated agent gets its own client certificate, issued from it at start.
    #[arg(long)]
    ca_dir: PathBuf,
    /// Simulated agents, each with its own certificate, connection and stream [default: 10;
    /// with --dataset: one per host of the dataset, and this limits them to its first N hosts].
    #[arg(long)]
    agents: Option<usize>,
    /// Send the samples of this file instead of synthetic ones: Prometheus text format, one
    /// sample per line with its timestamp in ms (`gen_node_like.py H HOURS STEP promtext`).
    /// Each distinct `host` label becomes one agent whose id (and certificate) is that host
    /// name; it sends its samples in time order, --samples-per-series timestamps of all its
    /// series per batch. The run ends when every sample is acked, and the figures cover the
    /// whole run (no warmup).
    #[arg(long, value_name = "FILE")]
    dataset: Option<PathBuf>,
    /// How long to stream, warmup included [default: 30s; with --dataset: a time limit, 1h].
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// The first part of the run, excluded from the figures [default: 3s; with --dataset: 0s].
    #[arg(long, value_parser = humantime::parse_duration)]
    warmup: Option<Duration>,
    /// Agent ids are PREFIX-0001, PREFIX-0002, ... (not with --dataset: ids are host names).
    #[arg(long, default_value = "loadgen")]
    agent_prefix: String,
    /// Collections per batch: each batch holds this many consecutive timestamps of every series.
    #[arg(long, default_value_t = 10)]
    samples_per_series: usize,
    /// Simulated collection interval: the distance between consecutive timestamps (not with
    /// --dataset, whose timestamps are its own).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    step: Duration,
    /// Batches in flight (sent, not yet acked) per agent.
    #[arg(long, default_value_t = 16)]
    window: usize,
    /// How far back simulated time starts: the first timestamps are `now - backfill`, and
    /// they move forward by `step` per collection, as an agent draining its backlog. An agent
    /// that reaches the wall clock waits for it (its load becomes real-time). Not with --dataset.
    #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
    backfill: Duration,
    /// Worker threads of the load generator's runtime [default: one per CPU].
    #[arg(long)]
    threads: Option<usize>,
    /// Output format of the final report (on stdout).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Synthetic agents when --agents is not given.
const DEFAULT_AGENTS: usize = 10;
/// Synthetic runs: how long to stream when --duration is not given.
const DEFAULT_DURATION: Duration = Duration::from_secs(30);
/// Synthetic runs: the warmup when --warmup is not given.
const DEFAULT_WARMUP: Duration = Duration::from_secs(3);
/// Dataset runs end when every sample is acked; this is their limit when --duration is not given.
const DEFAULT_DATASET_TIME_LIMIT: Duration = Duration::from_secs(3600);

/// The final report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// Aligned lines for people.
    Text,
    /// One JSON object, for scripts.
    Json,
}

/// Where the samples come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// Node-like hosts simulated on the fly.
    Synthetic,
    /// The samples of a file, one agent per host.
    Dataset(PathBuf),
}

/// Checked settings: every value is usable as is.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) aggregator: String,
    pub(crate) server_name: String,
    pub(crate) ca_dir: PathBuf,
    pub(crate) source: Source,
    /// Synthetic: how many agents. Dataset: at most this many (its first hosts).
    pub(crate) agents: usize,
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    pub(crate) agent_prefix: String,
    pub(crate) samples_per_series: usize,
    pub(crate) step_ms: i64,
    pub(crate) window: usize,
    pub(crate) backfill_ms: i64,
    pub(crate) threads: usize,
    pub(crate) output: Output,
}

impl Args {
    /// Checks every flag and names the one that is wrong.
    pub(crate) fn validate(self) -> anyhow::Result<Settings> {
        if !self.aggregator.starts_with("https://") {
            bail!("--aggregator must be an https:// URL (the Ingest stream is mutual TLS), got {:?}", self.aggregator);
        }
        if self.agents == Some(0) {
            bail!("--agents must be at least 1");
        }
        let (source, agents, duration, warmup) = match self.dataset {
            None => (
                Source::Synthetic,
                self.agents.unwrap_or(DEFAULT_AGENTS),
                self.duration.unwrap_or(DEFAULT_DURATION),
                self.warmup.unwrap_or(DEFAULT_WARMUP),
            ),
            Some(path) => (
                Source::Dataset(path),
                self.agents.unwrap_or(usize::MAX),
                self.duration.unwrap_or(DEFAULT_DATASET_TIME_LIMIT),
                self.warmup.unwrap_or(Duration::ZERO),
            ),
        };
        if duration <= warmup {
            bail!(
                "--duration ({}) must be longer than --warmup ({}): the figures cover the time after the warmup",
                humantime::format_duration(duration),
                humantime::format_duration(warmup)
            );
        }
        if self.window == 0 {
            bail!("--window must be at least 1");
        }
        if self.samples_per_series == 0 {
            bail!("--samples-per-series must be at least 1");
        }
        let step_ms =
            i64::try_from(self.step.as_millis()).ok().filter(|ms| *ms >= 1).context("--step must be 1ms or more")?;
        let backfill_ms = i64::try_from(self.backfill.as_millis()).context("--backfill is too long")?;
        if backfill_ms < step_ms * self.samples_per_series as i64 {
            bail!("--backfill must cover at least one batch (--step x --samples-per-series)");
        }
        if self.agent_prefix.is_empty()
            || !self.agent_prefix.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            bail!("--agent-prefix must be letters, digits, '-', '_' or '.', got {:?}", self.agent_prefix);
        }
        let threads = match self.threads {
            Some(0) => bail!("--threads must be at least 1"),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        Ok(Settings {
            aggregator: self.aggregator,
            server_name: self.server_name,
            ca_dir: self.ca_dir,
            source,
            agents,
            duration,
            warmup,
            agent_prefix: self.agent_prefix,
            samples_per_series: self.samples_per_series,
            step_ms,
            window: self.window,
            backfill_ms,
            threads,
            output: self.output,
        })
    }
}

impl Settings {
    /// The id (and certificate common name) of agent `index` (0-based): PREFIX-0001, ...
    pub(crate) fn agent_id(&self, index: usize) -> String {
        format!("{}-{:04}", self.agent_prefix, index + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Settings> {
        let mut all = vec!["sysmon-loadgen", "--ca-dir", "/tmp/ca"];
        all.extend_from_slice(args);
        Args::try_parse_from(all)?.validate()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.aggregator, "https://127.0.0.1:9801");
        assert_eq!((s.agents, s.window, s.samples_per_series, s.step_ms), (10, 16, 10, 10_000));
        assert_eq!((s.duration, s.warmup), (Duration::from_secs(30), Duration::from_secs(3)));
        assert_eq!(s.agent_id(0), "loadgen-0001");
        assert_eq!(s.output, Output::Text);
        assert_eq!(s.source, Source::Synthetic);
    }

    #[test]
    fn refuses_a_warmup_longer_than_the_run() {
        let err = parse(&["--duration", "2s"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--duration (2s) must be longer than --warmup (3s): the figures cover the time after the warmup"
        );
    }

    #[test]
    fn a_dataset_run_has_no_warmup_and_a_long_time_limit() {
        let s = parse(&["--dataset", "/tmp/node.prom"]).unwrap();
        assert_eq!(s.source, Source::Dataset(PathBuf::from("/tmp/node.prom")));
        assert_eq!((s.warmup, s.duration), (Duration::ZERO, Duration::from_secs(3600)));
        assert_eq!(s.agents, usize::MAX);
        let s = parse(&["--dataset", "/tmp/node.prom", "--agents", "3"]).unwrap();
        assert_eq!(s.agents, 3);
    }

    #[test]
    fn the_last_output_flag_wins() {
        let s = parse(&["--output", "text", "--output", "json"]).unwrap();
        assert_eq!(s.output, Output::Json);
    }
}
