//! The engine's settings and its clock.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::rollup::Tier;

/// Settings of a [`crate::Tsdb`]. Build one with [`TsdbConfig::default`] and change what you
/// need; [`crate::Tsdb::open`] checks it.
#[derive(Debug, Clone)]
pub struct TsdbConfig {
    /// How long raw samples (sealed chunks) are kept, by wall clock. Default 15 days.
    pub raw_retention: Duration,
    /// How old (by wall clock) a 2-hour time partition's end must be before its 1-minute and
    /// 1-hour runs are materialized from its raw chunks, by the background retention pass.
    /// `None` (the default): the raw retention, so the tiers are written just before raw
    /// retention deletes the partition; lower it (at most the raw retention) for fast
    /// long-range queries within raw retention. Until then, queries read raw samples.
    pub rollup_after: Option<Duration>,
    /// How old (by wall clock) a 2-hour time partition's end must be before the rollups
    /// received there from elsewhere ([`crate::Tsdb::write_rollups`], a federation master's
    /// store) are compacted into one run per series and their 1-hour points put together
    /// from the 1-minute ones, by the background retention pass. Default 10 minutes: after
    /// the last minute's replication (its delay and period). Later arrivals are merged by
    /// the next pass. Until then the 1-hour tier is not complete there.
    pub compact_rollups_after: Duration,
    /// How long 1-minute rollup buckets are kept. Default 90 days. Zero disables the tier:
    /// nothing is rolled up into it, and retention deletes what it holds.
    pub minute_retention: Duration,
    /// How long 1-hour rollup buckets are kept. Default 2 years (730 days). Zero disables the
    /// tier, as for `minute_retention`.
    pub hour_retention: Duration,
    /// A head chunk is sealed once it holds this many samples (when the next sample comes).
    /// Default 720: the whole 2-hour time partition at a 10 s interval, so that each sealing
    /// round appends one chunk per series to the newest partition (see `partition.rs`).
    /// Larger chunks compress better; the WAL keeps a head's samples until it is sealed.
    pub chunk_max_samples: usize,
    /// A head chunk is sealed before a sample would make it span more than this. Default 2 h.
    /// Whatever this says, a chunk is also cut where a 2-hour time partition ends.
    pub chunk_max_span: Duration,
    /// Head chunks opened longer ago than this (wall clock) are sealed even if not full, so
    /// the WAL of quiet or stopped series is trimmed. Default 2 h 30 min: longer than a
    /// partition, so that live series are cut where partitions end.
    pub head_max_age: Duration,
    /// How often the sealer wakes up when not nudged by the writer. Default 1 s.
    pub seal_interval: Duration,
    /// How often expired data is deleted. Default 5 minutes.
    pub retention_interval: Duration,
    /// The most batches one group commit takes. Default 1024.
    pub max_group_batches: usize,
    /// The most samples one group commit takes (a single larger batch still goes alone).
    /// Default 200 000.
    pub max_group_samples: usize,
    /// The most batches waiting for the writer; beyond it [`crate::Tsdb::submit`] refuses with
    /// [`Error::QueueFull`]. Default 4096.
    pub max_queued_batches: usize,
    /// The most samples waiting for the writer; beyond it [`crate::Tsdb::submit`] refuses with
    /// [`Error::QueueFull`]. Default 4 000 000.
    pub max_queued_samples: usize,
    /// The most head chunks that may wait for the sealer; beyond it [`crate::Tsdb::submit`]
    /// refuses with [`Error::QueueFull`] until the sealer catches up, which bounds head
    /// memory. Default 200 000 (144 M samples at 720 per chunk). Every series' chunk is cut
    /// at once where a partition ends: keep this above the number of series.
    pub max_pending_seal_chunks: usize,
    /// The most chunks one sealing transaction writes; the writer waits while one commits.
    /// Default 1024.
    pub max_chunks_per_seal: usize,
    /// The most keys one retention transaction deletes. Default 10 000.
    pub max_deletes_per_retention_txn: usize,
    /// zstd level for WAL records, 0 for none; negative levels are zstd's fast modes.
    /// Default 1.
    pub wal_zstd_level: i32,
    /// zstd level for sealed chunks (used only when it makes a chunk smaller), 0 for none.
    /// Default 3.
    pub chunk_zstd_level: i32,
    /// Where retention and head ageing read the time. Default: the system clock.
    pub clock: Clock,
}

const DAY: Duration = Duration::from_secs(86_400);

impl Default for TsdbConfig {
    fn default() -> Self {
        TsdbConfig {
            raw_retention: DAY * 15,
            rollup_after: None,
            compact_rollups_after: Duration::from_secs(600),
            minute_retention: DAY * 90,
            hour_retention: DAY * 730,
            chunk_max_samples: 720,
            chunk_max_span: Duration::from_secs(2 * 3600),
            head_max_age: Duration::from_secs(2 * 3600 + 1800),
            seal_interval: Duration::from_secs(1),
            retention_interval: Duration::from_secs(300),
            max_group_batches: 1024,
            max_group_samples: 200_000,
            max_queued_batches: 4096,
            max_queued_samples: 4_000_000,
            max_pending_seal_chunks: 200_000,
            max_chunks_per_seal: 1024,
            max_deletes_per_retention_txn: 10_000,
            wal_zstd_level: 1,
            chunk_zstd_level: 3,
            clock: Clock::system(),
        }
    }
}

impl TsdbConfig {
    /// Checks every field's range.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("chunk_max_samples", self.chunk_max_samples),
            ("max_group_batches", self.max_group_batches),
            ("max_group_samples", self.max_group_samples),
            ("max_queued_batches", self.max_queued_batches),
            ("max_queued_samples", self.max_queued_samples),
            ("max_pending_seal_chunks", self.max_pending_seal_chunks),
            ("max_chunks_per_seal", self.max_chunks_per_seal),
            ("max_deletes_per_retention_txn", self.max_deletes_per_retention_txn),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(Error::InvalidConfig { field, reason: "must be at least 1, got 0".to_string() });
            }
        }
        if self.chunk_max_samples > 65_536 {
            return Err(Error::InvalidConfig {
                field: "chunk_max_samples",
                reason: format!("must be at most 65536, got {}", self.chunk_max_samples),
            });
        }
        let may_be_zero = [
            ("minute_retention", self.minute_retention),
            ("hour_retention", self.hour_retention),
            ("compact_rollups_after", self.compact_rollups_after),
        ];
        for (field, value) in may_be_zero {
            if value.as_millis() > i64::MAX as u128 / 4 {
                return Err(Error::InvalidConfig { field, reason: format!("must be finite, got {value:?}") });
            }
        }
        let durations = [
            ("raw_retention", self.raw_retention),
            ("chunk_max_span", self.chunk_max_span),
            ("head_max_age", self.head_max_age),
            ("seal_interval", self.seal_interval),
            ("retention_interval", self.retention_interval),
        ];
        for (field, value) in durations {
            if value.is_zero() || value.as_millis() > i64::MAX as u128 / 4 {
                return Err(Error::InvalidConfig {
                    field,
                    reason: format!("must be positive and finite, got {value:?}"),
                });
            }
        }
        if let Some(after) = self.rollup_after
            && after > self.raw_retention
        {
            return Err(Error::InvalidConfig {
                field: "rollup_after",
                reason: format!("must be at most raw_retention ({:?}), got {after:?}", self.raw_retention),
            });
        }
        for (field, level) in [("wal_zstd_level", self.wal_zstd_level), ("chunk_zstd_level", self.chunk_zstd_level)] {
            if !(-7..=19).contains(&level) {
                return Err(Error::InvalidConfig { field, reason: format!("must be between -7 and 19, got {level}") });
            }
        }
        Ok(())
    }
}

impl TsdbConfig {
    /// The rollup tiers kept: those whose retention is not zero, finest first.
    pub fn tiers(&self) -> Vec<Tier> {
        Tier::ALL.into_iter().filter(|&t| self.tier_enabled(t)).collect()
    }

    /// Whether `tier` is kept (its retention is not zero).
    pub(crate) fn tier_enabled(&self, tier: Tier) -> bool {
        !self.tier_retention(tier).is_zero()
    }

    /// How old a partition's end must be before its runs are materialized.
    pub(crate) fn rollup_after(&self) -> Duration {
        self.rollup_after.unwrap_or(self.raw_retention)
    }

    /// How long `tier`'s buckets are kept.
    pub(crate) fn tier_retention(&self, tier: Tier) -> Duration {
        match tier {
            Tier::Minute => self.minute_retention,
            Tier::Hour => self.hour_retention,
        }
    }
}

/// Milliseconds of a validated duration.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Where the engine reads the wall clock, in unix milliseconds. Tests give a fake one.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0)
        }))
    }

    /// A clock that calls `now_ms`.
    pub fn from_fn(now_ms: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now_ms))
    }

    /// The time now, unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        TsdbConfig::default().validate().unwrap();
        let err = TsdbConfig { chunk_max_samples: 0, ..TsdbConfig::default() }.validate().unwrap_err();
        assert_eq!(err.to_string(), "tsdb.chunk_max_samples: must be at least 1, got 0");
        let err = TsdbConfig { wal_zstd_level: 30, ..TsdbConfig::default() }.validate().unwrap_err();
        assert_eq!(err.to_string(), "tsdb.wal_zstd_level: must be between -7 and 19, got 30");
        assert_eq!(Clock::from_fn(|| 42).now_ms(), 42);
        let raw_only =
            TsdbConfig { minute_retention: Duration::ZERO, hour_retention: Duration::ZERO, ..TsdbConfig::default() };
        raw_only.validate().unwrap();
        assert_eq!(raw_only.tiers(), []);
        assert_eq!(TsdbConfig { minute_retention: Duration::ZERO, ..TsdbConfig::default() }.tiers(), [Tier::Hour]);
        let err = TsdbConfig { raw_retention: Duration::ZERO, ..TsdbConfig::default() }.validate().unwrap_err();
        assert_eq!(err.to_string(), "tsdb.raw_retention: must be positive and finite, got 0ns");
        assert_eq!(TsdbConfig::default().rollup_after(), DAY * 15);
        let hour = Duration::from_secs(3600);
        let err = TsdbConfig { raw_retention: hour, rollup_after: Some(hour * 2), ..TsdbConfig::default() }
            .validate()
            .unwrap_err();
        assert_eq!(err.to_string(), "tsdb.rollup_after: must be at most raw_retention (3600s), got 7200s");
    }
}
