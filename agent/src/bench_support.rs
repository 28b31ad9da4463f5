//! Entry points for the agent's benches (`agent/benches/`); not a stable API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sysmon_spool::{Spool, SpoolConfig};
use sysmon_uplink::bench_support::encode_payload;
use sysmon_uplink::{HelloInfo, StaticEndpoints, Uplink, UplinkMetrics};
use tokio_util::sync::CancellationToken;

use crate::batch::encode_collection;
use crate::collectors::{CollectorSet, CollectorSettings, SystemPaths};
use crate::config::AgentSettings;
use crate::error::{Error, Result};
use crate::self_metrics::append_samples;

/// The sizes of one collection of this machine, as the agent would spool it.
#[derive(Debug, Clone, Copy)]
pub struct CollectionSize {
    /// Samples in the batch (self-metrics included).
    pub samples: usize,
    /// The protobuf batch.
    pub protobuf_bytes: usize,
    /// The spooled payload (snappy-compressed, with its 9-byte prefix).
    pub payload_bytes: usize,
    /// On disk, with the spool's 16-byte record header.
    pub record_bytes: usize,
}

fn collect(paths: &SystemPaths) -> Vec<crate::Sample> {
    let mut collectors = CollectorSet::new(paths, &CollectorSettings::default());
    let mut samples = Vec::new();
    // Twice: anything that needs a previous reading appears from the second on.
    let _ = collectors.collect(&mut samples);
    samples.clear();
    let _ = collectors.collect(&mut samples);
    append_samples(&UplinkMetrics::default(), &mut samples);
    samples
}

/// Collects once with every collector on (the default), as the agent does, and measures
/// the batch.
pub fn measure_collection(host: &str, paths: &SystemPaths) -> CollectionSize {
    let samples = collect(paths);
    let batch = encode_collection(host, 1_700_000_000_000, &samples);
    let payload = encode_payload(&batch, 1_700_000_000_000);
    CollectionSize {
        samples: samples.len(),
        protobuf_bytes: prost::Message::encoded_len(&batch),
        payload_bytes: payload.len(),
        record_bytes: payload.len() + 16,
    }
}

/// Spools `batches` collections of this machine for `settings.id`, `interval` apart and
/// ending now, as an agent cut off from its aggregator would have. Returns the spool's bytes.
///
/// # Errors
/// The spool cannot be opened or written.
pub fn fill_spool(settings: &AgentSettings, batches: u64) -> Result<u64> {
    let samples = collect(&settings.paths);
    let spool_err = |source| Error::OpenSpool { dir: settings.spool.dir.clone(), source };
    let config = SpoolConfig {
        max_bytes: settings.spool.max_bytes,
        when_full: settings.spool.when_full,
        ..SpoolConfig::new(settings.spool.dir.clone())
    };
    let mut spool = Spool::open(config).map_err(spool_err)?;
    let interval_ms = settings.interval.as_millis() as i64;
    let now = crate::run::unix_ms();
    for i in 0..batches {
        let timestamp_ms = now - (batches - i) as i64 * interval_ms;
        let payload = encode_payload(&encode_collection(&settings.id, timestamp_ms, &samples), timestamp_ms);
        let seq = spool.next_seq();
        let _ = spool.append(seq, &payload).map_err(spool_err)?;
    }
    Ok(spool.disk_bytes())
}

/// Runs the shipper on `settings` until its spool is empty (no collection meanwhile) and
/// returns the batches sent and how long it took, from the first connection attempt.
///
/// # Errors
/// The spool cannot be opened.
pub async fn drain_spool(settings: AgentSettings) -> Result<(u64, Duration)> {
    let metrics = Arc::new(UplinkMetrics::default());
    let uplink = Uplink::open(settings.uplink(), metrics.clone()).map_err(Error::from_uplink)?;
    let cancel = CancellationToken::new();
    let hello = HelloInfo {
        sender_id: settings.id.clone(),
        inventory: Some(Default::default()),
        interval_ms: 10_000,
        ..HelloInfo::default()
    };
    let start = Instant::now();
    let task = uplink.ship(hello, Arc::new(StaticEndpoints(settings.endpoints.clone())), cancel.clone());
    while metrics.spool_batches() != 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = start.elapsed();
    cancel.cancel();
    let _ = task.await;
    Ok((metrics.sent_batches(), elapsed))
}
