//! `sysmon-loadgen`: a fleet of simulated agents streaming node-like series to one
//! aggregator over the real mutual-TLS Ingest stream.
//!
//! Each agent gets its own client certificate, issued at start from the fleet CA in
//! `--ca-dir`, and its own connection. It sends batches of `--samples-per-series`
//! consecutive collections of 116 node_exporter-shaped series, keeping `--window` batches in
//! flight, as an agent draining its backlog does. At the end it prints acked samples per
//! second and ack latency over the time after `--warmup`; it exits non-zero if nothing was
//! acked, saying why.
//!
//! With `--dataset FILE` the samples come from a file instead (one agent per `host` label,
//! each sending its host's samples in time order), and the run lasts until all are acked.

// The modules live in `loadgen/`, next to this file; a crate root's own directory is
// `src/bin/`, so their paths are spelled out.
#[path = "loadgen/agent.rs"]
mod agent;
#[path = "loadgen/args.rs"]
mod args;
#[path = "loadgen/dataset.rs"]
mod dataset;
#[path = "loadgen/failure.rs"]
mod failure;
#[path = "loadgen/report.rs"]
mod report;
#[path = "loadgen/stats.rs"]
mod stats;
#[path = "loadgen/wire.rs"]
mod wire;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser as _;
use sysmon_benches::NodeLikeHost;
use sysmon_tls::FleetCa;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Identity};

use crate::agent::{Agent, Shared};
use crate::args::{Args, Settings, Source};
use crate::dataset::Dataset;
use crate::report::Report;
use crate::stats::{Clock, Stats, Summary};
use crate::wire::EncodedBatch;

/// How often a progress line is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Validity of the certificates issued for the simulated agents.
const CERT_VALIDITY_DAYS: i64 = 2;

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(err) => {
            report::note(&format!("{err:#}"));
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = args.validate()?;
    let dataset = match &settings.source {
        Source::Synthetic => None,
        Source::Dataset(path) => Some(Arc::new(load_dataset(path, settings.agents)?)),
    };
    let ids: Vec<String> = match &dataset {
        Some(dataset) => dataset.hosts().iter().map(|h| h.name().to_string()).collect(),
        None => (0..settings.agents).map(|index| settings.agent_id(index)).collect(),
    };
    let (ca_pem, identities) = issue_certificates(&settings, ids)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.threads)
        .thread_name("loadgen-worker")
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    let fleet = match &dataset {
        Some(dataset) => Fleet {
            agents: dataset.hosts().len(),
            series: dataset.series(),
            series_per_agent: dataset.hosts().iter().map(|h| h.series_count()).max().unwrap_or(0),
            dataset_samples: dataset.samples(),
        },
        None => {
            let series_per_agent = NodeLikeHost::new("x", 0, 0, 1).series_count();
            Fleet {
                agents: settings.agents,
                series: settings.agents * series_per_agent,
                series_per_agent,
                dataset_samples: 0,
            }
        }
    };
    // Every batch of a dataset is encoded before the run, so that sending costs only what
    // sending a prepared file costs; the CPU counted is that of sending.
    let batches = dataset.map(|dataset| encode_dataset(&dataset, settings.samples_per_series));
    let cpu_before = own_cpu_secs();
    let summary = runtime.block_on(drive(settings.clone(), ca_pem, identities, batches));
    let report = Report::new(&settings, &fleet, &summary, own_cpu_secs() - cpu_before);
    report.print(settings.output)?;
    if summary.total.samples == 0 {
        report::note(&report::why_nothing_acked(&settings, fleet.agents, &summary));
        return Ok(ExitCode::FAILURE);
    }
    if summary.total.samples < fleet.dataset_samples {
        report::note(&format!(
            "only {} of the dataset's {} samples were acked",
            summary.total.samples, fleet.dataset_samples
        ));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// What the agents send, for the report.
pub(crate) struct Fleet {
    pub(crate) agents: usize,
    pub(crate) series: usize,
    /// The most series one agent has.
    pub(crate) series_per_agent: usize,
    /// With `--dataset`: every sample it holds (of the hosts sent); 0 otherwise.
    pub(crate) dataset_samples: u64,
}

/// Reads the dataset and keeps its first `max_hosts` hosts.
fn load_dataset(path: &std::path::Path, max_hosts: usize) -> anyhow::Result<Dataset> {
    let started = Instant::now();
    let mut dataset = Dataset::load(path)?;
    if dataset.hosts().is_empty() {
        anyhow::bail!("--dataset {} holds no samples", path.display());
    }
    dataset.truncate(max_hosts);
    report::note(&format!(
        "dataset {}: {} hosts, {} series, {} samples (read in {:.1} s)",
        path.display(),
        dataset.hosts().len(),
        dataset.series(),
        dataset.samples(),
        started.elapsed().as_secs_f64()
    ));
    Ok(dataset)
}

/// Every host's batches, encoded, in sending order.
fn encode_dataset(dataset: &Dataset, samples_per_series: usize) -> Vec<Arc<[EncodedBatch]>> {
    let started = Instant::now();
    let batches: Vec<Arc<[EncodedBatch]>> = dataset
        .hosts()
        .iter()
        .map(|host| {
            (0..host.batches(samples_per_series))
                .map(|index| EncodedBatch::new(&host.batch(index, samples_per_series)))
                .collect()
        })
        .collect();
    let bytes: usize = batches.iter().flat_map(|h| h.iter()).map(|b| b.body.len()).sum();
    report::note(&format!(
        "encoded {} batches, {:.0} MB, in {:.1} s",
        batches.iter().map(|h| h.len()).sum::<usize>(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    ));
    batches
}

/// Loads the fleet CA and issues one client certificate per agent id (its common name).
fn issue_certificates(settings: &Settings, ids: Vec<String>) -> anyhow::Result<(String, Vec<(String, Identity)>)> {
    let (cert, key) = (settings.ca_dir.join("ca.pem"), settings.ca_dir.join("ca-key.pem"));
    let ca = FleetCa::load(&cert, &key)
        .with_context(|| format!("loading the fleet CA from --ca-dir {}", settings.ca_dir.display()))?;
    let identities = ids
        .into_iter()
        .map(|id| {
            let issued =
                ca.issue_agent(&id, CERT_VALIDITY_DAYS).with_context(|| format!("issuing a certificate for {id}"))?;
            Ok((id, Identity::from_pem(issued.cert_pem, issued.key_pem)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((ca.cert_pem().to_string(), identities))
}

/// Runs every agent for the duration (with a dataset: until every agent has sent all its
/// batches and had them acked, or the duration is up), printing progress, then lets them drain.
async fn drive(
    settings: Settings,
    ca_pem: String,
    identities: Vec<(String, Identity)>,
    dataset: Option<Vec<Arc<[EncodedBatch]>>>,
) -> Summary {
    let start = Instant::now();
    let clock = Clock::new(start, settings.warmup, settings.duration);
    let stats = Stats::new(clock);
    let shared = Arc::new(Shared {
        settings,
        ca: Certificate::from_pem(ca_pem),
        stats: stats.clone(),
        dataset,
        stop: CancellationToken::new(),
    });
    let mut agents = JoinSet::new();
    for (index, (id, identity)) in identities.into_iter().enumerate() {
        agents.spawn(Agent::new(index, id, identity, shared.clone()).run());
    }

    let end = tokio::time::sleep_until(clock.measure_until.into());
    let mut ticker = tokio::time::interval_at((start + PROGRESS_EVERY).into(), PROGRESS_EVERY);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(end, interrupted);
    loop {
        tokio::select! {
            _ = &mut end => {
                if shared.dataset.is_some() {
                    report::note("--duration is up before every dataset sample was acked; stopping");
                }
                break;
            }
            _ = &mut interrupted => {
                report::note("interrupted; stopping and reporting what was measured so far");
                break;
            }
            _ = ticker.tick() => report::progress(&stats.progress(Instant::now())),
            joined = agents.join_next() => match joined {
                Some(result) => note_agent_end(&stats, result),
                None => break,
            },
        }
    }
    stats.stop_measuring(Instant::now());
    shared.stop.cancel();
    while let Some(result) = agents.join_next().await {
        note_agent_end(&stats, result);
    }
    stats.summary()
}

fn note_agent_end(stats: &Stats, result: Result<(), tokio::task::JoinError>) {
    if let Err(err) = result {
        stats.error("agent task failed", err.to_string());
    }
}

/// CPU time (user + system) this process has used, in seconds, from /proc/self/stat.
fn own_cpu_secs() -> f64 {
    // Fields 14 and 15 (utime, stime) come after the parenthesised command name, in clock
    // ticks of USER_HZ, which Linux fixes at 100 for user space.
    const TICKS_PER_SEC: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let Some((_, after_name)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // after_name starts at field 3 (state), so utime (14) is index 11 and stime (15) index 12.
    (ticks(11) + ticks(12)) as f64 / TICKS_PER_SEC
}
