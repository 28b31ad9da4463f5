//! The sealer: a background thread that encodes cut head chunks, writes them to the chunk
//! table in batched transactions, and in the same transaction deletes the WAL records no
//! unsealed chunk needs anymore. It also cuts heads that have been open too long, keeps
//! `rolled_up_until` current, packs partitions once they are sealed (see `pack.rs`), and
//! runs retention (which materializes the rollup tiers of old
//! partitions, see `rollup/materialize.rs`).
//!
//! Crash safety: chunks, the series' last sealed sample (`tsdb_sealed`), the removal of the
//! `tsdb_rollup_done` mark of a partition a chunk lands in, and the WAL deletion commit
//! atomically. Before the commit the WAL still holds every sample; after it, replay skips
//! what `tsdb_sealed` says is sealed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;

use redb::{Durability, ReadableTable as _};
use tracing::{debug, error};

use crate::codec::ChunkEncoder;
use crate::config::millis;
use crate::error::{Error, Result};
use crate::head::FrozenChunk;
use crate::partition::{insert_sorted, partition_of};
use crate::schema::{CHUNKS, ROLLUP_DONE, SEALED, WAL};
use crate::shared::Shared;
use crate::stats::{add, sub};
use crate::writer::Request;
use crate::{pack, retention};

/// What the sealer thread is told.
#[derive(Debug)]
pub(crate) enum SealerSignal {
    /// Chunks are piling up: seal now.
    Nudge,
    /// Seal every head now and answer.
    Flush(SyncSender<Result<()>>),
    /// Apply retention now (and wait for the writer to remove empty series), then answer.
    Retention(SyncSender<Result<()>>),
    /// Stop; with `flush`, first seal every head and trim the WAL.
    Stop {
        /// Seal everything before stopping.
        flush: bool,
    },
}

/// Starts the sealer thread. It returns the final flush's result.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    signals: Receiver<SealerSignal>,
    writer: SyncSender<Request>,
    first_wal: u64,
) -> Result<JoinHandle<Result<()>>> {
    std::thread::Builder::new()
        .name("sysmon-tsdb-sealer".into())
        .spawn(move || {
            let _span = tracing::info_span!("tsdb_sealer").entered();
            let now = shared.config.clock.now_ms();
            let mut sealer = Sealer {
                encoder: ChunkEncoder::new(shared.config.chunk_zstd_level),
                shared,
                writer,
                wal_trimmed_below: first_wal,
                last_retention_ms: now,
            };
            sealer.run(&signals)
        })
        .map_err(|source| Error::SpawnThread { thread: "sealer", source })
}

pub(crate) struct Sealer {
    shared: Arc<Shared>,
    writer: SyncSender<Request>,
    encoder: ChunkEncoder,
    /// Every WAL record below this is deleted.
    wal_trimmed_below: u64,
    last_retention_ms: i64,
}

/// A chunk ready to write: its encoding and sample count.
struct Encoded {
    bytes: Vec<u8>,
    samples: usize,
}

impl Sealer {
    fn run(&mut self, signals: &Receiver<SealerSignal>) -> Result<()> {
        let interval = self.shared.config.seal_interval;
        loop {
            match signals.recv_timeout(interval) {
                Ok(SealerSignal::Stop { flush: true }) => return self.flush_all(),
                Ok(SealerSignal::Stop { flush: false }) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                Ok(SealerSignal::Nudge) | Err(RecvTimeoutError::Timeout) => self.tick(),
                Ok(SealerSignal::Flush(reply)) => {
                    let _ = reply.send(self.flush_all());
                }
                Ok(SealerSignal::Retention(reply)) => {
                    let now = self.shared.config.clock.now_ms();
                    self.last_retention_ms = now;
                    let _ = reply.send(retention::apply(&self.shared, now, &self.writer, true));
                }
            }
        }
    }

    /// One round of background work; failures are logged and retried next round.
    fn tick(&mut self) {
        let config = &self.shared.config;
        let now = config.clock.now_ms();
        let (head_max_age_ms, retention_interval_ms) = (millis(config.head_max_age), millis(config.retention_interval));
        let cut = self.shared.heads.lock().freeze_opened_before(now.saturating_sub(head_max_age_ms));
        if cut > 0 {
            debug!(chunks = cut, "tsdb cut old head chunks");
        }
        // Not fsynced: until the writer's next commit makes it durable, a crash loses this
        // sealing and the WAL, which still holds every sample, replays it.
        if let Err(err) = self.seal_pending(Durability::None) {
            add(&self.shared.counters.seal_errors_total, 1);
            error!(error = %err, "tsdb sealing failed");
        }
        self.shared.publish_rollup_frontier();
        // Made durable by the writer's next commit, as sealing is.
        if let Err(err) = pack::pack_sealed(&self.shared, Durability::None) {
            error!(error = %err, "tsdb packing failed");
        }
        if now.saturating_sub(self.last_retention_ms) >= retention_interval_ms {
            self.last_retention_ms = now;
            if let Err(err) = retention::apply(&self.shared, now, &self.writer, false) {
                error!(error = %err, "tsdb retention failed");
            }
        }
    }

    /// Seals every head and trims the WAL (at close).
    fn flush_all(&mut self) -> Result<()> {
        self.shared.heads.lock().freeze_all();
        self.seal_pending(Durability::Immediate)?;
        self.shared.publish_rollup_frontier();
        // Every partition is sealed now.
        pack::pack_sealed(&self.shared, Durability::Immediate)?;
        Ok(())
    }

    /// Seals every chunk waiting, in bounded transactions.
    pub(crate) fn seal_pending(&mut self, durability: Durability) -> Result<usize> {
        let mut total = 0;
        loop {
            let n = self.seal_round(durability)?;
            total += n;
            if n < self.shared.config.max_chunks_per_seal {
                return Ok(total);
            }
        }
    }

    /// Seals up to `max_chunks_per_seal` chunks and trims the WAL; returns how many chunks.
    fn seal_round(&mut self, durability: Durability) -> Result<usize> {
        let (chunks, low_water) = {
            let mut heads = self.shared.heads.lock();
            let chunks = heads.take_for_seal(self.shared.config.max_chunks_per_seal);
            let low_water = heads.wal_low_water(&chunks);
            (chunks, low_water)
        };
        if chunks.is_empty() && low_water <= self.wal_trimmed_below {
            return Ok(0);
        }
        let encoded = match self.encode(&chunks) {
            Ok(encoded) => encoded,
            Err(err) => {
                self.shared.heads.lock().return_unsealed(chunks);
                return Err(err);
            }
        };
        match self.write(&chunks, &encoded, low_water, durability) {
            Ok((wal_records, wal_bytes)) => {
                let pending = {
                    let mut heads = self.shared.heads.lock();
                    heads.finish_seal(&chunks);
                    heads.pending_seal()
                };
                self.shared.counters.pending_seal_chunks.store(pending, Ordering::Relaxed);
                self.wal_trimmed_below = self.wal_trimmed_below.max(low_water);
                let counters = &self.shared.counters;
                add(&counters.sealed_chunks, chunks.len() as u64);
                add(&counters.sealed_bytes_total, encoded.iter().map(|e| e.bytes.len() as u64).sum());
                add(&counters.sealed_samples_total, encoded.iter().map(|e| e.samples as u64).sum());
                sub(&counters.wal_records, wal_records);
                sub(&counters.wal_bytes, wal_bytes);
                debug!(chunks = chunks.len(), wal_records, low_water, "tsdb sealed chunks");
                Ok(chunks.len())
            }
            Err(err) => {
                self.shared.heads.lock().return_unsealed(chunks);
                Err(err)
            }
        }
    }

    /// Encodes the chunks, outside the write lock.
    fn encode(&mut self, chunks: &[Arc<FrozenChunk>]) -> Result<Vec<Encoded>> {
        let mut out = Vec::with_capacity(chunks.len());
        let (mut ts, mut values) = (Vec::new(), Vec::new());
        for chunk in chunks {
            ts.clear();
            values.clear();
            // A head chunk is this process's own memory: failing to decode it is a bug, but it
            // is reported as corruption rather than taking the process down.
            chunk.streams.decode_into(&mut ts, &mut values).map_err(|reason| Error::CorruptChunk {
                series: chunk.series,
                start_ms: chunk.streams.first_ts,
                reason: format!("head chunk: {reason}"),
            })?;
            let bytes = self.encoder.encode(&ts, &values, Some(&chunk.streams));
            out.push(Encoded { bytes, samples: ts.len() });
        }
        Ok(out)
    }

    /// Writes chunks, seals, the un-marking of materialized partitions they land in and the
    /// WAL trim in one transaction; returns the WAL records and bytes deleted.
    fn write(
        &self,
        chunks: &[Arc<FrozenChunk>],
        encoded: &[Encoded],
        low_water: u64,
        durability: Durability,
    ) -> Result<(u64, u64)> {
        let err = |source: redb::Error| Error::SealChunks { chunks: chunks.len(), source };
        let mut txn = self.shared.db.begin_write().map_err(|e| err(e.into()))?;
        if txn.set_durability(durability).is_err() {
            // A database shared between processes refuses non-durable commits.
            txn.set_durability(Durability::Immediate).map_err(|e| err(e.into()))?;
        }
        let mut unmarked = Vec::new();
        let trimmed = (|| -> std::result::Result<(u64, u64), redb::Error> {
            let mut chunk_table = txn.open_table(CHUNKS)?;
            let mut sealed = txn.open_table(SEALED)?;
            let mut wal = txn.open_table(WAL)?;
            let mut rows = Vec::with_capacity(chunks.len());
            for (chunk, enc) in chunks.iter().zip(encoded) {
                let (id, first_ts) = (chunk.series, chunk.streams.first_ts);
                rows.push(((partition_of(first_ts), id, first_ts), enc.bytes.as_slice()));
                let min_ts = match sealed.get(id)? {
                    Some(prev) => prev.value().0.min(first_ts),
                    None => first_ts,
                };
                sealed.insert(id, (min_ts, chunk.last_ts, chunk.last_bits))?;
            }
            // A late chunk in a partition whose runs are materialized: they are redone.
            let mut landed: Vec<i64> = rows.iter().map(|((p, ..), _)| *p).collect();
            landed.sort_unstable();
            landed.dedup();
            landed.retain(|&p| self.shared.rollup_done.mask(p) != 0);
            for ((partition, ..), _) in &rows {
                self.shared.loose_partitions.add(*partition);
            }
            insert_sorted(&mut chunk_table, &mut rows, &self.shared.chunk_partitions)?;
            let mut done = txn.open_table(ROLLUP_DONE)?;
            for &p in &landed {
                done.remove(p)?;
            }
            unmarked = landed;
            let (mut records, mut bytes) = (0u64, 0u64);
            for entry in wal.extract_from_if(..low_water, |_, _| true)? {
                let (_, value) = entry?;
                records += 1;
                bytes += value.value().len() as u64;
            }
            Ok((records, bytes))
        })()
        .map_err(err)?;
        txn.commit().map_err(|e| err(e.into()))?;
        for p in unmarked {
            self.shared.rollup_done.unset(p);
        }
        Ok(trimmed)
    }
}
