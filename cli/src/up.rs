//! `sysmon up`: an aggregator, a local agent and the dashboard on this machine, with a dev
//! CA and certificates created on first run.

use std::path::Path;

use anyhow::Context as _;
use sysmon_agent::{AgentSettings, CollectorSettings, SpoolSettings, SystemPaths, UsersSettings};
use sysmon_aggregator::{
    AlertingSettings, DiscoverySettings, FederationSettings, Limits, QueryLimits, RecordingSettings, Retention, Role,
    Settings,
};
use sysmon_tls::{CertFiles, FleetCa};
use tokio_util::sync::CancellationToken;

use crate::cli::UpArgs;
use crate::roles::shutdown_signal;

/// The name in the dev server certificate, and what the local agent expects.
const SERVER_NAME: &str = "localhost";

pub(crate) async fn run(args: UpArgs) -> anyhow::Result<()> {
    let interval = humantime::parse_duration(&args.interval)
        .ok()
        .filter(|d| d.as_secs() >= 1 && d.as_secs() <= 3600)
        .with_context(|| {
        format!("--interval must be a duration from 1s to 1h, like 10s; got {:?}", args.interval)
    })?;
    let agent_id = hostname();
    let certs = args.data_dir.join("certs");
    let (ca, server, agent) = dev_certificates(&certs, &agent_id)?;

    let settings = Settings {
        region: "local".into(),
        data_dir: args.data_dir.clone(),
        grpc_listen: args.grpc_listen,
        http_listen: args.http_listen,
        max_group_batches: 512,
        ca_cert: ca.clone(),
        cert: server.cert,
        key: server.key,
        limits: Limits::default(),
        retention: Retention { raw: args.raw_retention, ..Retention::default() },
        query: QueryLimits::default(),
        max_concurrent_queries: 20,
        role: Role::Regional,
        discovery: DiscoverySettings::static_list(Vec::new()),
        federation: FederationSettings::default(),
        alerting: AlertingSettings::default(),
        recording: RecordingSettings::default(),
    };
    let aggregator = sysmon_aggregator::start(settings, sysmon_dashboard::router())
        .await
        .with_context(|| format!("starting the aggregator with data in {}", args.data_dir.display()))?;

    let agent_settings = AgentSettings {
        id: agent_id.clone(),
        interval,
        spool: SpoolSettings::in_dir(args.data_dir.join("agent-spool")),
        paths: SystemPaths::default(),
        endpoints: vec![format!("https://{}", aggregator.grpc_addr())],
        discovery: DiscoverySettings::static_list(Vec::new()),
        region: None,
        server_name: Some(SERVER_NAME.into()),
        failback_interval: std::time::Duration::from_secs(60),
        ca_cert: ca,
        cert: agent.cert,
        key: agent.key,
        // The local agent keeps its per-user counters and heavy-user episodes with the data.
        collectors: CollectorSettings::default()
            .with_users(UsersSettings::default().with_state_file(args.data_dir.join("agent-users.json"))),
    };
    let cancel = CancellationToken::new();
    let agent_task = tokio::spawn(sysmon_agent::run_agent(agent_settings, cancel.clone()));

    announce(&format!(
        "sysmon is up: dashboard http://{http}/  (host {agent_id}, data in {dir}; Ctrl-C stops)\n  try: sysmon hosts list --server http://{http}",
        http = aggregator.http_addr(),
        dir = args.data_dir.display()
    ));
    shutdown_signal().await;
    cancel.cancel();
    if let Ok(Err(error)) = agent_task.await {
        return Err(error).context("the local agent stopped");
    }
    aggregator.shutdown().await;
    Ok(())
}

/// Creates (first run) or reuses the dev CA, the server certificate and the agent's.
fn dev_certificates(dir: &Path, agent_id: &str) -> anyhow::Result<(std::path::PathBuf, CertFiles, CertFiles)> {
    let ca = if dir.join("ca.pem").exists() {
        crate::certs::load_ca(dir)?
    } else {
        let ca = FleetCa::create("sysmon dev CA")?;
        ca.write(dir)?;
        ca
    };
    let existing = |stem: &str| {
        let files = CertFiles { cert: dir.join(format!("{stem}.pem")), key: dir.join(format!("{stem}-key.pem")) };
        (files.cert.exists() && files.key.exists()).then_some(files)
    };
    let server = match existing("server") {
        Some(files) => files,
        None => {
            ca.issue_server(SERVER_NAME, &["127.0.0.1".to_string(), "::1".to_string()], 3650)?.write(dir, "server")?
        }
    };
    let agent_stem = format!("agent-{agent_id}");
    let agent = match existing(&agent_stem) {
        Some(files) => files,
        None => ca.issue_agent(agent_id, 3650)?.write(dir, &agent_stem)?,
    };
    Ok((dir.join("ca.pem"), server, agent))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[allow(clippy::print_stdout)]
fn announce(line: &str) {
    println!("{line}");
}
