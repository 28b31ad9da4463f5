//! The rollup tiers and their bucket widths.

use std::fmt;

/// A rollup tier: buckets of a fixed width, half-open `[start, start + width)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// 1-minute buckets.
    Minute,
    /// 1-hour buckets.
    Hour,
}

impl Tier {
    /// Both tiers, finest first.
    pub const ALL: [Tier; 2] = [Tier::Minute, Tier::Hour];

    /// The bucket width in milliseconds.
    pub const fn width_ms(self) -> i64 {
        match self {
            Tier::Minute => 60_000,
            Tier::Hour => 3_600_000,
        }
    }

    /// The start of the bucket holding `ts_ms` (saturating at the far ends of time).
    pub const fn bucket_start(self, ts_ms: i64) -> i64 {
        ts_ms.saturating_sub(ts_ms.rem_euclid(self.width_ms()))
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tier::Minute => "1m",
            Tier::Hour => "1h",
        })
    }
}

impl Tier {
    /// The table holding this tier's runs.
    pub(crate) const fn table(self) -> crate::schema::DataTable {
        match self {
            Tier::Minute => crate::schema::ROLLUP_1M,
            Tier::Hour => crate::schema::ROLLUP_1H,
        }
    }

    /// The width of the time partitions of this tier's run table: a run never spans two.
    /// 1-minute runs share the chunks' 2-hour partitions (120 points each); 1-hour runs
    /// have weeks (168 points), since two points a run would cost a key and a run header
    /// each (about 46 bytes a point, where a week's run costs a few). A multiple of
    /// [`crate::partition::PARTITION_MS`], so a chunk partition lies within one.
    pub(crate) const fn partition_ms(self) -> i64 {
        match self {
            Tier::Minute => crate::partition::PARTITION_MS,
            Tier::Hour => 7 * 86_400_000,
        }
    }

    /// The start of this tier's partition holding `ts_ms`.
    pub(crate) const fn partition_of(self, ts_ms: i64) -> i64 {
        ts_ms.saturating_sub(ts_ms.rem_euclid(self.partition_ms()))
    }

    /// Index into per-tier arrays, and the tier's bit in `tsdb_rollup_done`.
    pub(crate) const fn index(self) -> usize {
        match self {
            Tier::Minute => 0,
            Tier::Hour => 1,
        }
    }
}
