//! Running an agent: collect every interval, queue the batch (with the collectors' events),
//! ship it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::batch::encode_collection;
use crate::collectors::CollectorSet;
use sysmon_federation::{Discovery, DiscoveryMode, Role};
use sysmon_uplink::{EndpointSource, HelloInfo, StaticEndpoints, Uplink, UplinkMetrics};

use crate::config::AgentSettings;
use crate::error::{Error, Result};
use crate::event::{AgentEvent, MAX_EVENTS_PER_COLLECTION};
use crate::inventory::read_inventory;
use crate::self_metrics::append_samples;

/// Runs the agent until `cancel`: collection on its interval, and the shipper.
///
/// # Errors
/// The spool cannot be opened ([`Error::OpenSpool`]); once running, the agent retries
/// everything else on its own.
pub async fn run_agent(settings: AgentSettings, cancel: CancellationToken) -> Result<()> {
    let settings = Arc::new(settings);
    let uplink = {
        let uplink_settings = settings.uplink();
        tokio::task::spawn_blocking(move || Uplink::open(uplink_settings, Arc::new(UplinkMetrics::default())))
            .await
            .map_err(|e| Error::Protocol(format!("opening the spool panicked: {e}")))?
            .map_err(Error::from_uplink)?
    };
    let paths = settings.paths.clone();
    let inventory = tokio::task::spawn_blocking(move || read_inventory(&paths)).await.unwrap_or_default();
    let hello = HelloInfo {
        sender_id: settings.id.clone(),
        inventory: Some(inventory.into()),
        interval_ms: settings.interval.as_millis() as u64,
        ..HelloInfo::default()
    };
    info!(agent_id = %settings.id, interval_ms = hello.interval_ms, endpoints = ?settings.endpoints, spool = %settings.spool.dir.display(), "agent started");
    let endpoints: Arc<dyn EndpointSource> = if settings.discovery.mode() == DiscoveryMode::Static {
        Arc::new(StaticEndpoints(settings.endpoints.clone()))
    } else {
        let discovery = Discovery::start(settings.discovery.clone(), cancel.clone())
            .map_err(|e| Error::Protocol(format!("cannot start discovery: {}", crate::collectors::error_chain(&e))))?;
        info!(mode = settings.discovery.mode().as_str(), region = ?settings.region, "discovering regional aggregators");
        Arc::new(DiscoveredRegionals { discovery, region: settings.region.clone() })
    };
    let shipper = uplink.ship(hello, endpoints, cancel.clone());
    collect_loop(&settings, &uplink, &cancel).await;
    let _ = shipper.await;
    uplink.flush().await;
    info!("agent stopped");
    Ok(())
}

/// The regional aggregators discovery finds, the agent's own region first.
struct DiscoveredRegionals {
    discovery: Discovery,
    region: Option<String>,
}

impl EndpointSource for DiscoveredRegionals {
    fn endpoints(&self) -> Vec<String> {
        self.discovery.endpoints(Role::Regional, self.region.as_deref())
    }
}

async fn collect_loop(settings: &AgentSettings, uplink: &Uplink, cancel: &CancellationToken) {
    let mut collectors = CollectorSet::new(&settings.paths, &settings.collectors);
    // Collector events (heavy users) not yet in a batch: they ride with the next collection's.
    let mut events: Vec<AgentEvent> = Vec::new();
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
            let mut events = Vec::new();
            collectors.take_events(&mut events);
            (collectors, samples, failures, events)
        })
        .await;
        let Ok((returned, samples, failures, new_events)) = collected else {
            // The set catches collectors' panics; this is a panic in the set itself.
            warn!("collection panicked; it restarts with fresh collectors");
            collectors = CollectorSet::new(&settings.paths, &settings.collectors);
            continue;
        };
        collectors = returned;
        let mut samples = samples;
        append_samples(uplink.metrics(), &mut samples);
        events.extend(new_events);
        let mut batch = encode_collection(&settings.id, timestamp_ms, &samples);
        let carried = events.len().min(MAX_EVENTS_PER_COLLECTION);
        batch.events.extend(events.drain(..carried).map(Into::into));
        debug!(samples = samples.len(), events = carried, failures, timestamp_ms, "collected");
        if !uplink.push(batch, timestamp_ms, cancel).await {
            return;
        }
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

pub(crate) fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}
