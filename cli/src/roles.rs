//! `sysmon agent` and `sysmon aggregator`: load the config, run until Ctrl-C or SIGTERM.

use anyhow::anyhow;
use sysmon_agent::AgentConfig;
use sysmon_aggregator::AggregatorConfig;
use tokio_util::sync::CancellationToken;

use crate::cli::{AgentArgs, AggregatorArgs};

pub(crate) async fn run_agent(args: AgentArgs) -> anyhow::Result<()> {
    let settings = AgentConfig::load(&args.config).map_err(config_errors)?;
    let cancel = CancellationToken::new();
    let agent = tokio::spawn(sysmon_agent::run_agent(settings, cancel.clone()));
    shutdown_signal().await;
    cancel.cancel();
    agent.await?;
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
