//! The sender's queue of batches not yet acknowledged, kept in the crash-safe disk spool
//! ([`sysmon_spool`]): a batch is appended, and synced, before it is sent; it is removed
//! only when the aggregator acks it; after a restart the spooled batches are sent first and
//! seqs go on after the spool's highest.
//!
//! A spooled batch is `format u8 (1) | collected_at_ms i64 LE | snappy(protobuf Batch)`,
//! with `seq` left 0 in the protobuf: the spool's key is the seq, set when it is sent.
//!
//! Drops (spool full, or damaged on disk) are counted and logged here, and reported to the
//! upstream aggregator as `spool_dropped` events riding on the next batch sent; the spool keeps them
//! (across restarts) until the batch carrying them is acked. A batch the spool cannot take
//! (a write error) is counted and logged too, and reported on the next batch that reaches the
//! spool ([`lost`]).

mod lost;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use prost::Message as _;
use sysmon_proto::v1;
use sysmon_spool::{DropReason, Dropped, Spool, SpoolConfig, WhenFull};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::error::{Error, Result};
use crate::metrics::UplinkMetrics;
use crate::settings::SpoolSettings;
use lost::LostLedger;

/// The payload format of spooled batches.
const FORMAT_SNAPPY_PROTOBUF: u8 = 1;
/// Batches renumbered at once when the spool's seqs fall behind the aggregator's.
const REBASE_CHUNK_BYTES: usize = 4 << 20;

/// A batch read from the spool, ready to send.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) batch: v1::Batch,
    pub(crate) collected_at_ms: i64,
}

/// Spooled batches, oldest first.
pub(crate) struct Outbox {
    inner: Arc<Mutex<Inner>>,
    /// Wakes the shipper when a batch is spooled.
    changed: Notify,
    /// Wakes a blocked [`Outbox::push`] when acks free room.
    room: Notify,
    metrics: Arc<UplinkMetrics>,
    when_full: WhenFull,
    max_bytes: u64,
    dir: PathBuf,
    /// Batches the spool could not take, not yet reported. Only [`Outbox::push`] uses it,
    /// and it never holds the lock across an await.
    lost: Mutex<LostLedger>,
}

struct Inner {
    spool: Spool,
    /// Drops reported on a batch sent on this stream and not yet acked.
    report: Option<Report>,
}

#[derive(Debug, Clone, Copy)]
struct Report {
    carrier_seq: u64,
    through_drop_id: u64,
}

impl Outbox {
    /// Opens the spool (blocking: it may scan and repair files).
    ///
    /// # Errors
    /// [`Error::OpenSpool`] naming the directory.
    pub(crate) fn open(settings: &SpoolSettings, metrics: Arc<UplinkMetrics>) -> Result<Outbox> {
        let started_ms = crate::unix_ms();
        let config = SpoolConfig {
            max_bytes: settings.max_bytes,
            when_full: settings.when_full,
            ..SpoolConfig::new(settings.dir.clone())
        };
        let spool = Spool::open(config).map_err(|source| Error::OpenSpool { dir: settings.dir.clone(), source })?;
        for d in spool.unreported_drops().iter().filter(|d| d.time_ms >= started_ms) {
            // Damage found while opening; drops of earlier runs were counted by those runs.
            count_drop(&metrics, d, settings.max_bytes);
        }
        if !spool.is_empty() {
            info!(
                batches = spool.len(),
                bytes = spool.disk_bytes(),
                first_seq = spool.first_seq(),
                last_seq = spool.last_seq(),
                "spool holds batches not yet acknowledged; they are sent first"
            );
        }
        metrics.set_spool(spool.disk_bytes(), spool.len(), settings.max_bytes);
        Ok(Outbox {
            inner: Arc::new(Mutex::new(Inner { spool, report: None })),
            changed: Notify::new(),
            room: Notify::new(),
            metrics,
            when_full: settings.when_full,
            max_bytes: settings.max_bytes,
            dir: settings.dir.clone(),
            lost: Mutex::new(LostLedger::default()),
        })
    }

    /// Runs `f` on the spool on a blocking thread (spool calls do file I/O and fsync).
    async fn with_spool<T: Send + 'static>(&self, f: impl FnOnce(&mut Inner) -> T + Send + 'static) -> T {
        let inner = self.inner.clone();
        let metrics = self.metrics.clone();
        let max_bytes = self.max_bytes;
        tokio::task::spawn_blocking(move || {
            let mut guard = lock(&inner);
            let out = f(&mut guard);
            metrics.set_spool(guard.spool.disk_bytes(), guard.spool.len(), max_bytes);
            out
        })
        .await
        .expect("spool calls do not panic, and the runtime outlives the uplink")
    }

    /// Spools a batch under the next seq, once it is on disk. When the spool is full and
    /// `when_full = "block"`, waits (collection pauses) until acks free room; returns false
    /// if cancelled meanwhile.
    ///
    /// A batch the spool cannot take (a write error) is lost: it is logged and counted, and
    /// the next batch that reaches the spool carries a `spool_dropped` event about it.
    pub(crate) async fn push(&self, mut batch: v1::Batch, collected_at_ms: i64, cancel: &CancellationToken) -> bool {
        let carries_lost = match lock_lost(&self.lost).pending() {
            Some(lost) => {
                batch.events.push(lost.event());
                true
            }
            None => false,
        };
        let payload = Arc::new(encode_payload(&batch, collected_at_ms));
        let mut paused = false;
        loop {
            let p = payload.clone();
            let result = self
                .with_spool(move |inner| {
                    let seq = inner.spool.next_seq();
                    inner.spool.append(seq, &p).map(|appended| (seq, appended))
                })
                .await;
            match result {
                Ok((seq, appended)) => {
                    if let Some(d) = appended.dropped {
                        count_drop(&self.metrics, &d, self.max_bytes);
                    }
                    if carries_lost {
                        lock_lost(&self.lost).reported();
                    }
                    if paused {
                        info!(seq, "spool has room again; collection resumes");
                    }
                    debug!(seq, collected_at_ms, bytes = payload.len(), "batch spooled");
                    self.changed.notify_one();
                    return true;
                }
                Err(e) if e.is_full() && self.when_full == WhenFull::Block => {
                    if !paused {
                        warn!(max_bytes = self.max_bytes, reason = %e, "spool full (when_full = \"block\"); collection paused until the aggregator acknowledges batches");
                        paused = true;
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return false,
                        _ = self.room.notified() => {}
                    }
                }
                Err(e) => {
                    lock_lost(&self.lost).record(&self.metrics, &self.dir, &e, collected_at_ms, payload.len() as u64);
                    return true;
                }
            }
        }
    }

    /// Aligns with an aggregator that holds everything up to `durable_seq` for this sender,
    /// on a new stream, and returns the seq after which sending resumes: `durable_seq`, or
    /// the spool's own ack cursor when that is ahead (another aggregator acked more, before
    /// a failover).
    ///
    /// Normally that acks what the aggregator already holds. If the aggregator holds seqs
    /// this spool never issued (the spool directory was wiped, or the sender's id reused), the
    /// spooled batches are renumbered to follow `durable_seq`, or the aggregator would drop
    /// them as replays.
    pub(crate) async fn welcome(&self, durable_seq: u64) -> u64 {
        let result = self
            .with_spool(move |inner| -> sysmon_spool::Result<u64> {
                if let Some(report) = inner.report.take()
                    && report.carrier_seq <= durable_seq
                {
                    inner.spool.forget_drops(report.through_drop_id)?;
                }
                if durable_seq >= inner.spool.next_seq() && !inner.spool.is_empty() {
                    warn!(
                        durable_seq,
                        spool_next_seq = inner.spool.next_seq(),
                        batches = inner.spool.len(),
                        "the aggregator holds seqs this spool never issued (spool wiped, or the sender's id reused); renumbering spooled batches after them"
                    );
                    rebase(&mut inner.spool, durable_seq)?;
                }
                inner.spool.ack(durable_seq)?;
                Ok(inner.spool.head_seq())
            })
            .await;
        self.room.notify_one();
        match result {
            Ok(head) => head.max(durable_seq),
            Err(e) => {
                error!(error = %crate::chain(&e), "cannot update the spool after connecting");
                durable_seq
            }
        }
    }

    /// Removes every batch with seq at or below `seq`: the aggregator has them on disk.
    pub(crate) async fn ack(&self, seq: u64) {
        let result = self
            .with_spool(move |inner| -> sysmon_spool::Result<()> {
                if let Some(report) = inner.report
                    && report.carrier_seq <= seq
                {
                    inner.report = None;
                    inner.spool.forget_drops(report.through_drop_id)?;
                }
                inner.spool.ack(seq)
            })
            .await;
        if let Err(e) = result {
            error!(seq, error = %crate::chain(&e), "cannot remove acknowledged batches from the spool");
        }
        self.room.notify_one();
    }

    /// The aggregator refused batch `seq` for good: it is removed like an acked one, but
    /// drop reports it carried are sent again on the next batch.
    pub(crate) async fn reject(&self, seq: u64) {
        self.with_spool(move |inner| {
            if inner.report.is_some_and(|r| r.carrier_seq == seq) {
                inner.report = None;
            }
        })
        .await;
        self.ack(seq).await;
    }

    /// The oldest batch with seq above `after`, with the unreported drops attached as events
    /// when no other batch of this stream carries them yet.
    pub(crate) async fn next_after(&self, after: u64) -> Option<Outgoing> {
        let metrics = self.metrics.clone();
        let max_bytes = self.max_bytes;
        self.with_spool(move |inner| {
            let mut after = after;
            loop {
                let entry = match inner.spool.read_after(after) {
                    Ok(Some(entry)) => entry,
                    Ok(None) => return None,
                    Err(e) => {
                        error!(after, error = %crate::chain(&e), "cannot read the spool");
                        return None;
                    }
                };
                let (mut batch, collected_at_ms) = match decode_payload(&entry.payload) {
                    Ok(decoded) => decoded,
                    Err(reason) => {
                        metrics.count_drop(DropReason::Corrupt, 1, entry.payload.len() as u64);
                        error!(seq = entry.seq, reason, "spooled batch cannot be decoded; skipped");
                        after = entry.seq;
                        continue;
                    }
                };
                batch.seq = entry.seq;
                if inner.report.is_none()
                    && let Some(last) = inner.spool.unreported_drops().last()
                {
                    inner.report = Some(Report { carrier_seq: entry.seq, through_drop_id: last.id });
                    batch.events.extend(inner.spool.unreported_drops().iter().map(|d| drop_event(d, max_bytes)));
                    info!(seq = entry.seq, drops = batch.events.len(), "reporting spool drops to the aggregator");
                }
                return Some(Outgoing { batch, collected_at_ms });
            }
        })
        .await
    }

    /// The highest seq spooled (0 when empty), for the Hello.
    pub(crate) async fn highest_seq(&self) -> u64 {
        self.with_spool(|inner| inner.spool.last_seq().unwrap_or(0)).await
    }

    /// Waits until a batch is spooled (or a wake-up was already pending).
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Writes the spool's state file now (at shutdown).
    pub(crate) async fn flush(&self) {
        if let Err(e) = self.with_spool(|inner| inner.spool.flush()).await {
            warn!(error = %crate::chain(&e), "cannot write the spool state at shutdown; acked batches may be sent again");
        }
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // Every spool call leaves the spool consistent between statements, so a poisoned lock
    // is still usable.
    inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock_lost(lost: &Mutex<LostLedger>) -> MutexGuard<'_, LostLedger> {
    // The ledger is consistent between statements, so a poisoned lock is still usable.
    lost.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Logs and counts one drop (the same helper does both, so logs and metrics agree).
fn count_drop(metrics: &UplinkMetrics, d: &Dropped, max_bytes: u64) {
    metrics.count_drop(d.reason, d.entries, d.bytes);
    match d.reason {
        DropReason::Full => warn!(
            batches = d.entries,
            first_seq = d.first_seq,
            last_seq = d.last_seq,
            bytes = d.bytes,
            max_bytes,
            dropped_total = metrics.dropped_batches(),
            "spool full; oldest batches dropped"
        ),
        DropReason::Corrupt => warn!(
            batches = d.entries,
            first_seq = d.first_seq,
            last_seq = d.last_seq,
            bytes = d.bytes,
            dropped_total = metrics.dropped_batches(),
            "spool damaged on disk; batches lost"
        ),
    }
}

fn drop_event(d: &Dropped, max_bytes: u64) -> v1::Event {
    let message = match d.reason {
        DropReason::Full => format!(
            "spool full (max_bytes = {max_bytes}): dropped {} batches, seqs {}-{}, {} bytes",
            d.entries, d.first_seq, d.last_seq, d.bytes
        ),
        DropReason::Corrupt => format!(
            "spool damaged on disk: lost {} batches, seqs {}-{}, {} bytes",
            d.entries, d.first_seq, d.last_seq, d.bytes
        ),
    };
    let label = |name: &str, value: String| v1::Label { name: name.to_string(), value };
    v1::Event {
        time_ms: d.time_ms,
        kind: "spool_dropped".into(),
        message,
        attributes: vec![
            label("reason", d.reason.as_str().to_string()),
            label("first_seq", d.first_seq.to_string()),
            label("last_seq", d.last_seq.to_string()),
            label("batches", d.entries.to_string()),
            label("bytes", d.bytes.to_string()),
        ],
    }
}

/// Re-appends every spooled batch at or below `durable_seq` under new seqs after it,
/// a few MiB at a time, acking the old copies as their new ones are on disk.
fn rebase(spool: &mut Spool, durable_seq: u64) -> sysmon_spool::Result<()> {
    let mut new_seq = durable_seq + 1;
    let mut after = 0;
    loop {
        let mut chunk = Vec::new();
        let mut bytes = 0;
        for entry in spool.iter_after(after) {
            let entry = entry?;
            if entry.seq > durable_seq {
                break;
            }
            bytes += entry.payload.len();
            chunk.push(entry);
            if bytes >= REBASE_CHUNK_BYTES {
                break;
            }
        }
        let Some(last) = chunk.last().map(|e| e.seq) else { return Ok(()) };
        for entry in chunk {
            let appended = spool.append(new_seq, &entry.payload)?;
            if let Some(d) = appended.dropped {
                warn!(
                    first_seq = d.first_seq,
                    last_seq = d.last_seq,
                    batches = d.entries,
                    "spool full while renumbering; oldest batches dropped"
                );
            }
            new_seq += 1;
        }
        spool.ack(last)?;
        after = last;
    }
}

pub(crate) fn encode_payload(batch: &v1::Batch, collected_at_ms: i64) -> Vec<u8> {
    let proto = batch.encode_to_vec();
    let mut out = Vec::with_capacity(9 + snap::raw::max_compress_len(proto.len()));
    out.push(FORMAT_SNAPPY_PROTOBUF);
    out.extend_from_slice(&collected_at_ms.to_le_bytes());
    out.resize(9 + snap::raw::max_compress_len(proto.len()), 0);
    let n = snap::raw::Encoder::new()
        .compress(&proto, &mut out[9..])
        .expect("the buffer has max_compress_len bytes, and batches are far below snappy's 4 GiB limit");
    out.truncate(9 + n);
    out
}

fn decode_payload(payload: &[u8]) -> Result<(v1::Batch, i64), String> {
    let (&format, rest) = payload.split_first().ok_or("empty payload")?;
    if format != FORMAT_SNAPPY_PROTOBUF {
        return Err(format!("unknown payload format {format}"));
    }
    let (time, body) = rest.split_first_chunk::<8>().ok_or("payload too short")?;
    let proto = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("snappy: {e}"))?;
    let batch = v1::Batch::decode(proto.as_slice()).map_err(|e| format!("protobuf: {e}"))?;
    Ok((batch, i64::from_le_bytes(*time)))
}

#[cfg(test)]
mod tests;
