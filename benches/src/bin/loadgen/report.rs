//! What `sysmon-loadgen` prints: a progress line per 5 s and notable errors on stderr, the
//! final report (text or JSON) on stdout.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::Fleet;
use crate::args::{Output, Settings, Source};
use crate::stats::{Progress, Summary};

/// Rejections printed one by one; later ones are only counted.
const PRINTED_REJECTIONS: u64 = 10;

/// The final figures.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) aggregator: String,
    /// With `--dataset`: the file sent; the figures then cover the whole run.
    pub(crate) dataset: Option<String>,
    /// With `--dataset`: its samples (of the hosts sent); 0 otherwise.
    pub(crate) dataset_samples: u64,
    pub(crate) agents: usize,
    /// Agents whose stream got as far as the Ack of its Hello.
    pub(crate) agents_connected: usize,
    /// Series streamed: agents x series per simulated host, or the dataset's series.
    pub(crate) series: usize,
    /// Samples per batch (with a dataset: of the agent with the most series).
    pub(crate) samples_per_batch: usize,
    pub(crate) window: usize,
    pub(crate) warmup_secs: f64,
    /// Streaming time after the warmup: the period the figures below cover.
    pub(crate) measured_secs: f64,
    pub(crate) batches_acked: u64,
    pub(crate) samples_acked: u64,
    pub(crate) acked_samples_per_sec: f64,
    pub(crate) ack_latency_p50_ms: f64,
    pub(crate) ack_latency_p99_ms: f64,
    pub(crate) ack_latency_max_ms: f64,
    /// Acked at any time, warmup and end-of-run drain included (what the store holds).
    pub(crate) samples_acked_total: u64,
    pub(crate) batches_acked_total: u64,
    /// Sent and never acked, even after the end-of-run drain.
    pub(crate) batches_unacked: u64,
    /// Agents whose simulated time reached the wall clock (their load became real-time).
    pub(crate) agents_caught_up: usize,
    pub(crate) errors: u64,
    pub(crate) errors_by_kind: BTreeMap<String, u64>,
    /// CPU time the load generator used (user + system) while sending, seconds; reading a
    /// dataset is not counted.
    pub(crate) loadgen_cpu_secs: f64,
}

impl Report {
    pub(crate) fn new(settings: &Settings, fleet: &Fleet, summary: &Summary, cpu_secs: f64) -> Self {
        let measured_secs = summary.measured_period.as_secs_f64();
        Self {
            aggregator: settings.aggregator.clone(),
            dataset: match &settings.source {
                Source::Synthetic => None,
                Source::Dataset(path) => Some(path.display().to_string()),
            },
            dataset_samples: fleet.dataset_samples,
            agents: fleet.agents,
            agents_connected: summary.agents_connected,
            series: fleet.series,
            samples_per_batch: settings.samples_per_series * fleet.series_per_agent,
            window: settings.window,
            warmup_secs: settings.warmup.as_secs_f64(),
            measured_secs,
            batches_acked: summary.measured.batches,
            samples_acked: summary.measured.samples,
            acked_samples_per_sec: if measured_secs > 0.0 {
                summary.measured.samples as f64 / measured_secs
            } else {
                0.0
            },
            ack_latency_p50_ms: summary.p50_ms,
            ack_latency_p99_ms: summary.p99_ms,
            ack_latency_max_ms: summary.max_ms,
            samples_acked_total: summary.total.samples,
            batches_acked_total: summary.total.batches,
            batches_unacked: summary.batches_unacked,
            agents_caught_up: summary.agents_caught_up,
            errors: summary.error_count(),
            errors_by_kind: summary.errors.iter().map(|(k, e)| (k.to_string(), e.count)).collect(),
            loadgen_cpu_secs: cpu_secs,
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        let mut line = |label: &str, value: String| {
            let _ = writeln!(out, "{label:<24}{value}");
        };
        line("aggregator", self.aggregator.clone());
        if let Some(dataset) = &self.dataset {
            line("dataset", format!("{dataset} ({} samples)", self.dataset_samples));
        }
        line("agents", format!("{} ({} connected)", self.agents, self.agents_connected));
        line("series", self.series.to_string());
        line("samples per batch", format!("{} (window {} batches per agent)", self.samples_per_batch, self.window));
        line("measured", format!("{:.1} s after a {:.1} s warmup", self.measured_secs, self.warmup_secs));
        line("batches acked", self.batches_acked.to_string());
        line("samples acked", self.samples_acked.to_string());
        line("acked samples/s", format!("{:.0}", self.acked_samples_per_sec));
        line("ack latency p50", format!("{:.1} ms", self.ack_latency_p50_ms));
        line("ack latency p99", format!("{:.1} ms", self.ack_latency_p99_ms));
        line("ack latency max", format!("{:.1} ms", self.ack_latency_max_ms));
        line("samples acked in all", format!("{} (warmup and drain included)", self.samples_acked_total));
        line("batches never acked", self.batches_unacked.to_string());
        if self.agents_caught_up > 0 {
            line("agents caught up", format!("{} (reached the wall clock; raise --backfill)", self.agents_caught_up));
        }
        let kinds: Vec<String> = self.errors_by_kind.iter().map(|(k, n)| format!("{k} x{n}")).collect();
        let errors =
            if kinds.is_empty() { self.errors.to_string() } else { format!("{} ({})", self.errors, kinds.join(", ")) };
        line("errors", errors);
        line("loadgen cpu", format!("{:.1} s", self.loadgen_cpu_secs));
        out
    }

    /// Prints the report on stdout in `output`'s format.
    #[allow(clippy::print_stdout)]
    pub(crate) fn print(&self, output: Output) -> anyhow::Result<()> {
        match output {
            Output::Text => print!("{}", self.text()),
            Output::Json => println!("{}", serde_json::to_string_pretty(self)?),
        }
        Ok(())
    }
}

/// Why a run acked nothing, with its errors by kind.
pub(crate) fn why_nothing_acked(settings: &Settings, agents: usize, summary: &Summary) -> String {
    let mut why = format!(
        "no sample was acked: {} of {} agents got an Ack of their Hello from {}",
        summary.agents_connected, agents, settings.aggregator
    );
    if summary.errors.is_empty() {
        why.push_str("; there were no errors, the aggregator just acked nothing in time");
    }
    for (kind, tally) in &summary.errors {
        let _ = write!(why, "\n  {kind} x{}, e.g. {}", tally.count, tally.example);
    }
    why
}

/// A progress line on stderr.
#[allow(clippy::print_stderr)]
pub(crate) fn progress(p: &Progress) {
    let secs = p.interval.as_secs_f64().max(1e-9);
    eprintln!(
        "[{:>4.0}s{}] {} streams, acked {:.0} samples/s ({:.1} batches/s), ack p50 {:.1} ms p99 {:.1} ms, in flight {}, errors {}",
        p.elapsed.as_secs_f64(),
        if p.warming_up { " warmup" } else { "" },
        p.live_streams,
        p.acked.samples as f64 / secs,
        p.acked.batches as f64 / secs,
        p.p50_ms,
        p.p99_ms,
        p.in_flight,
        p.errors,
    );
}

/// The first error of each kind, as it happens.
#[allow(clippy::print_stderr)]
pub(crate) fn first_error(kind: &str, agent_id: &str, text: &str) {
    eprintln!("sysmon-loadgen: {agent_id}: {kind}: {text} (further errors of this kind are counted)");
}

/// A BatchRejected, as it happens (the first few).
#[allow(clippy::print_stderr)]
pub(crate) fn rejection(count: u64, agent_id: &str, seq: u64, reason: &str) {
    if count <= PRINTED_REJECTIONS {
        eprintln!("sysmon-loadgen: {agent_id}: batch {seq} rejected: {reason}");
    }
    if count == PRINTED_REJECTIONS {
        eprintln!("sysmon-loadgen: further rejections are counted, not printed");
    }
}

/// A line for the person running the tool.
#[allow(clippy::print_stderr)]
pub(crate) fn note(text: &str) {
    eprintln!("sysmon-loadgen: {text}");
}
