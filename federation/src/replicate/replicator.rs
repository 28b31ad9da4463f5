//! The replicator: every `interval`, right after a minute is complete (plus `delay` for
//! batches still on their way), folds the new minutes of every series into 1-minute
//! buckets and spools them for the master with the host registry, the frontier and the
//! active alerts; hosts whose samples arrived late (for minutes already spooled) have those
//! minutes spooled again, so the master's buckets end up holding every sample. Replaying a bucket replaces
//! it at the master, so a pass repeated after a crash stores nothing twice.
//!
//! Crash safety: the cursor (`shipped_until`) is saved only after a pass's batches are in
//! the spool; a late mark is saved before the batch that caused it is acknowledged to its
//! agent ([`Replicator::note_late`]).

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash as _, Hasher as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prost::Message as _;
use sysmon_proto::v1;
use sysmon_tsdb::Tier;
use sysmon_uplink::Uplink;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::pass::{BatchBuilder, fold_minutes};
use super::source::ReplicationSource;
use super::state::ReplicationState;
use crate::error::{Error, Result};

/// The longest time range one read covers: bounded memory for a long backfill.
const WINDOW_MS: i64 = 5 * 60_000;

/// How a replicator runs.
#[derive(Debug, Clone)]
pub struct ReplicatorConfig {
    /// This aggregator's region, stamped on its status.
    pub region: String,
    /// Time between passes (`federation.interval`).
    pub interval: Duration,
    /// How long after a minute ends it is first spooled (`federation.delay`), so that
    /// batches collected in it have arrived.
    pub delay: Duration,
    /// How far back the first pass of a new regional starts (`federation.backfill`).
    pub backfill: Duration,
    /// The cursor's file.
    pub state_path: PathBuf,
    /// The series selectors replicated (`federation.replicate`, empty: every series), told
    /// to the master with the region's status. The source reads only those series.
    pub replicate: Vec<String>,
}

/// A regional's replication to its master. See the module docs.
pub struct Replicator {
    config: ReplicatorConfig,
    source: Arc<dyn ReplicationSource>,
    uplink: Uplink,
    state: Mutex<Cursor>,
    /// A committed sample older than this was late: its minute may be spooled already.
    late_threshold: AtomicI64,
    /// Hash of each host's inventory as last sent (in memory: after a restart all are sent once).
    sent_inventories: Mutex<HashMap<String, u64>>,
}

#[derive(Debug, Default)]
struct Cursor {
    saved: ReplicationState,
    /// Late marks taken by the pass in progress; saved with the others until it ends.
    in_flight: BTreeMap<String, i64>,
}

impl Cursor {
    fn to_save(&self) -> ReplicationState {
        let mut state = self.saved.clone();
        for (host, &ts) in &self.in_flight {
            state.late.entry(host.clone()).and_modify(|t| *t = (*t).min(ts)).or_insert(ts);
        }
        state
    }
}

impl Replicator {
    /// Loads the cursor. Blocking.
    ///
    /// # Errors
    /// The cursor's file cannot be read or is damaged (the message names it).
    pub fn open(
        config: ReplicatorConfig,
        source: Arc<dyn ReplicationSource>,
        uplink: Uplink,
    ) -> Result<Arc<Replicator>> {
        let saved = ReplicationState::load(&config.state_path)?;
        let threshold = saved.shipped_until.unwrap_or(i64::MIN);
        if let Some(until) = saved.shipped_until {
            info!(shipped_until_ms = until, late_hosts = saved.late.len(), "replication resumes");
        }
        Ok(Arc::new(Replicator {
            config,
            source,
            uplink,
            state: Mutex::new(Cursor { saved, in_flight: BTreeMap::new() }),
            late_threshold: AtomicI64::new(threshold),
            sent_inventories: Mutex::default(),
        }))
    }

    /// Whether a batch whose oldest sample is at `oldest_ms` is late, so must be noted with
    /// [`Replicator::note_late`] before it is acknowledged. Cheap.
    pub fn is_late(&self, oldest_ms: i64) -> bool {
        oldest_ms < self.late_threshold.load(Ordering::Acquire)
    }

    /// Notes that `host` has samples from `oldest_ms` on for minutes already spooled; they
    /// are spooled again by the next pass. Saved before it returns. Blocking.
    ///
    /// # Errors
    /// The cursor's file cannot be written: the caller must not acknowledge the batch.
    pub fn note_late(&self, host: &str, oldest_ms: i64) -> Result<()> {
        let mut cursor = self.lock();
        let known = cursor.saved.late.get(host).copied().unwrap_or(i64::MAX);
        if oldest_ms >= known {
            return Ok(());
        }
        cursor.saved.late.insert(host.to_string(), oldest_ms);
        let state = cursor.to_save();
        debug!(host, oldest_ms, "late samples; their minutes are replicated again");
        state.save(&self.config.state_path)
    }

    fn lock(&self) -> MutexGuard<'_, Cursor> {
        // Every change to the cursor is complete between statements.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs passes until `cancel`, each right after `delay` past a multiple of `interval`.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        info!(region = %self.config.region, interval_ms = self.config.interval.as_millis() as u64, "replication to the master started");
        loop {
            if let Err(err) = self.pass(&cancel).await {
                warn!(error = %crate::error::DisplayChain(&err), "replication pass failed; retrying at the next one");
            }
            let wait = until_next_pass(crate::unix_ms(), self.config.interval, self.config.delay);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One pass: the minutes completed since the last, and the late hosts' minutes again.
    async fn pass(self: &Arc<Self>, cancel: &CancellationToken) -> Result<()> {
        let now = crate::unix_ms();
        let until = Tier::Minute.bucket_start(now - self.config.delay.as_millis() as i64);
        let (from, late) = {
            let mut cursor = self.lock();
            let from = cursor
                .saved
                .shipped_until
                .unwrap_or_else(|| Tier::Minute.bucket_start(until - self.config.backfill.as_millis() as i64));
            let late = std::mem::take(&mut cursor.saved.late);
            cursor.in_flight = late.clone();
            (from, late)
        };
        let until = until.max(from);
        // From here on, a sample committed for a minute before `until` is noted as late.
        self.late_threshold.fetch_max(until, Ordering::AcqRel);
        let result = self.ship(from, until, &late, now, cancel).await;
        let mut cursor = self.lock();
        match result {
            Ok(()) => {
                cursor.in_flight.clear();
                cursor.saved.shipped_until = Some(until);
                cursor.to_save().save(&self.config.state_path)
            }
            Err(err) => {
                let in_flight = std::mem::take(&mut cursor.in_flight);
                for (host, ts) in in_flight {
                    cursor.saved.late.entry(host).and_modify(|t| *t = (*t).min(ts)).or_insert(ts);
                }
                Err(err)
            }
        }
    }

    /// Spools the buckets of `from..until` for every host and of each late host's range,
    /// then the host registry and the new frontier.
    async fn ship(
        self: &Arc<Self>,
        from: i64,
        until: i64,
        late: &BTreeMap<String, i64>,
        now: i64,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let mut work: Vec<(Option<String>, i64, i64)> = late
            .iter()
            .map(|(host, &ts)| (Some(host.clone()), Tier::Minute.bucket_start(ts), from))
            .filter(|(_, start, end)| start < end)
            .collect();
        work.push((None, from, until));
        let windows: i64 = work.iter().map(|(_, s, e)| (e - s + WINDOW_MS - 1) / WINDOW_MS).sum();
        let backlog = windows > 2;
        if backlog {
            info!(
                from_ms = from,
                until_ms = until,
                late_hosts = late.len(),
                windows,
                "replicating a backlog to the master"
            );
        }
        let status = |complete_before_ms| v1::RegionStatus {
            region: self.config.region.clone(),
            complete_before_ms,
            sent_at_ms: now,
            replicate: self.config.replicate.clone(),
        };
        // Every batch carries the region's alert set, as its status: the master replaces
        // the set with each batch that speaks for the region, so a pass with no new
        // minutes still sends it, and one with many batches never clears it half-way.
        let alerts = self.source.alerts();
        let mut builder = BatchBuilder::default();
        let (mut done, mut points) = (0i64, 0usize);
        for (host, start, end) in work {
            let mut window_start = start;
            while window_start < end {
                let window_end = (window_start + WINDOW_MS).min(end);
                let source = self.source.clone();
                let host = host.clone();
                let (mut filled, builder_back) = tokio::task::spawn_blocking(move || {
                    let series = source.select(host.as_deref(), window_start, window_end - 1)?;
                    let mut full = Vec::new();
                    fold_minutes(&series, window_start, window_end, |labels, buckets| {
                        for point in &buckets {
                            builder.push(labels, point);
                            if builder.is_full() {
                                full.push(std::mem::take(&mut builder));
                            }
                        }
                    });
                    Ok::<_, String>((full, builder))
                })
                .await
                .map_err(|e| Error::ReadSource(format!("the read panicked: {e}")))?
                .map_err(Error::ReadSource)?;
                builder = builder_back;
                for full in filled.drain(..) {
                    points += full.points();
                    self.push(full.finish(Vec::new(), vec![status(from)], alerts.clone()), now, cancel).await?;
                }
                window_start = window_end;
                done += 1;
                if backlog {
                    info!(done_windows = done, windows, points, "replication backlog progress");
                }
            }
        }
        let hosts = self.hosts_to_send()?;
        points += builder.points();
        self.push(builder.finish(hosts, vec![status(until)], alerts), now, cancel).await?;
        debug!(from_ms = from, until_ms = until, points, "replication pass spooled");
        Ok(())
    }

    async fn push(&self, batch: v1::Batch, now: i64, cancel: &CancellationToken) -> Result<()> {
        if self.uplink.push(batch, now, cancel).await { Ok(()) } else { Err(Error::Cancelled) }
    }

    /// Every host, with its inventory only when it changed since last sent.
    fn hosts_to_send(&self) -> Result<Vec<v1::HostState>> {
        let mut hosts = self.source.hosts().map_err(Error::ReadSource)?;
        let mut sent = self.sent_inventories.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for host in &mut hosts {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            host.inventory.as_ref().map(|i| i.encode_to_vec()).hash(&mut hasher);
            host.agent_version.hash(&mut hasher);
            let hash = hasher.finish();
            if sent.insert(host.host.clone(), hash) == Some(hash) {
                host.inventory = None;
            }
        }
        Ok(hosts)
    }
}

/// How long from `now_ms` until the next pass: `delay` past the next multiple of `interval`.
fn until_next_pass(now_ms: i64, interval: Duration, delay: Duration) -> Duration {
    let interval = (interval.as_millis() as i64).max(1);
    let delay = delay.as_millis() as i64;
    let mut next = (now_ms - delay).div_euclid(interval) * interval + interval + delay;
    if next <= now_ms {
        next += interval;
    }
    Duration::from_millis((next - now_ms) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_run_just_after_each_minute_is_complete() {
        let (minute, delay) = (Duration::from_secs(60), Duration::from_secs(15));
        assert_eq!(until_next_pass(60_000, minute, delay), Duration::from_secs(15));
        assert_eq!(until_next_pass(75_000, minute, delay), Duration::from_secs(60));
        assert_eq!(until_next_pass(74_000, minute, delay), Duration::from_secs(1));
        assert_eq!(until_next_pass(100_000, Duration::from_secs(2), Duration::ZERO), Duration::from_secs(2));
    }
}
