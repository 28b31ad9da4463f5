//! Running an agent: collect every interval, queue the batch, ship it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::batch::encode_collection;
use crate::collectors::CollectorSet;
use crate::config::AgentSettings;
use crate::inventory::read_inventory;
use crate::outbox::Outbox;
use crate::shipper::{HelloInfo, ship};

/// Runs the agent until `cancel`: collection on its interval, and the shipper.
pub async fn run_agent(settings: AgentSettings, cancel: CancellationToken) {
    let settings = Arc::new(settings);
    let outbox = Arc::new(Outbox::new(settings.max_pending_batches));
    let paths = settings.paths.clone();
    let inventory = tokio::task::spawn_blocking(move || read_inventory(&paths)).await.unwrap_or_default();
    let hello = HelloInfo {
        agent_id: settings.id.clone(),
        inventory: inventory.into(),
        interval_ms: settings.interval.as_millis() as u64,
    };
    info!(agent_id = %settings.id, interval_ms = hello.interval_ms, endpoints = ?settings.endpoints, "agent started");
    let shipper = tokio::spawn(ship(settings.clone(), hello, outbox.clone(), cancel.clone()));
    collect_loop(&settings, &outbox, &cancel).await;
    let _ = shipper.await;
    info!("agent stopped");
}

async fn collect_loop(settings: &AgentSettings, outbox: &Outbox, cancel: &CancellationToken) {
    let mut collectors = CollectorSet::new(&settings.paths, &settings.collectors);
    let mut ticker = tokio::time::interval_at(next_boundary(settings.interval), settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let timestamp_ms = unix_ms();
        // Reading /proc is quick but blocking; keep it off the async workers.
        let collected = tokio::task::spawn_blocking(move || {
            let mut samples = Vec::with_capacity(1024);
            // Failures are logged (once per outage) and counted by the set itself.
            let failures = collectors.collect(&mut samples).len();
            (collectors, samples, failures)
        })
        .await;
        let Ok((returned, samples, failures)) = collected else {
            // The set catches collectors' panics; this is a panic in the set itself.
            warn!("collection panicked; it restarts with fresh collectors");
            collectors = CollectorSet::new(&settings.paths, &settings.collectors);
            continue;
        };
        collectors = returned;
        debug!(samples = samples.len(), failures, timestamp_ms, "collected");
        outbox.push(encode_collection(&settings.id, timestamp_ms, &samples), timestamp_ms);
    }
}

/// The next multiple of `interval` in wall-clock time, so that collections of all agents
/// line up on the same timestamps.
fn next_boundary(interval: Duration) -> tokio::time::Instant {
    let interval_ms = interval.as_millis().max(1) as u64;
    let now = unix_ms() as u64;
    let wait = interval_ms - now % interval_ms;
    tokio::time::Instant::now() + Duration::from_millis(wait)
}

fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}
