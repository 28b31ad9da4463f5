//! `sysmon agent` and `sysmon aggregator`: load the config, run until Ctrl-C or SIGTERM.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use sysmon_agent::{AgentConfig, CollectionSettings};
use sysmon_aggregator::AggregatorConfig;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::cli::{AgentArgs, AgentFormat, AggregatorArgs, DEFAULT_AGENT_CONFIG};

pub(crate) async fn run_agent(args: AgentArgs) -> anyhow::Result<()> {
    let path = args.config.unwrap_or_else(|| PathBuf::from(DEFAULT_AGENT_CONFIG));
    let settings = AgentConfig::load(&path).map_err(config_errors)?;
    tokio::spawn(release_start_up_code_after(start_up_time(settings.interval)));
    let cancel = CancellationToken::new();
    let mut agent = tokio::spawn(sysmon_agent::run_agent(settings, cancel.clone()));
    tokio::select! {
        // The agent ends on its own only when it cannot start (e.g. its spool is locked).
        result = &mut agent => return Ok(result??),
        _ = shutdown_signal() => {}
    }
    cancel.cancel();
    agent.await??;
    Ok(())
}

/// How long the agent's start-up lasts, for [`code_pages`](crate::code_pages): three
/// collections, by which time the collectors have read everything they read once and the first
/// connection to an aggregator is made (or has failed).
fn start_up_time(interval: Duration) -> Duration {
    interval * 3 + Duration::from_secs(2)
}

async fn release_start_up_code_after(start_up: Duration) {
    tokio::time::sleep(start_up).await;
    // Failing (a kernel without /proc) changes only memory use.
    match tokio::task::spawn_blocking(crate::code_pages::release_start_up_code).await {
        Ok(Ok(bytes)) => debug!(mapped_bytes = bytes, "start-up code released"),
        Ok(Err(error)) => debug!(%error, "could not release the start-up code"),
        Err(_) => {}
    }
}

/// `sysmon agent --once`: one collection on stdout. Collector failures are logged on stderr;
/// the others' samples are still printed.
pub(crate) fn agent_once(args: AgentArgs) -> anyhow::Result<()> {
    let default = PathBuf::from(DEFAULT_AGENT_CONFIG);
    let settings = match args.config {
        Some(path) => CollectionSettings::load(&path).map_err(config_errors)?,
        None if default.exists() => CollectionSettings::load(&default).map_err(config_errors)?,
        None => CollectionSettings::from_env(std::env::vars()).map_err(config_errors)?,
    };
    let text = match args.format {
        AgentFormat::Prometheus => sysmon_agent::collect_once_prometheus(&settings).0,
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).context("writing to stdout")?;
    Ok(())
}

pub(crate) async fn run_aggregator(args: AggregatorArgs) -> anyhow::Result<()> {
    let settings = AggregatorConfig::load(&args.config).map_err(config_errors)?;
    let running = sysmon_aggregator::start(settings, sysmon_dashboard::router()).await?;
    shutdown_signal().await;
    running.shutdown().await;
    Ok(())
}

/// Every configuration problem, one per line.
pub(crate) fn config_errors(errors: Vec<sysmon_config::ConfigError>) -> anyhow::Error {
    let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
    anyhow!("invalid configuration:\n{}", lines.join("\n"))
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
