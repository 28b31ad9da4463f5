//! Errors of the time-series engine.

use crate::rollup::Tier;

/// What went wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A regex matcher's pattern does not compile.
    #[error("invalid regex {pattern:?}: {reason}")]
    InvalidRegex {
        /// The pattern as given.
        pattern: String,
        /// Why it does not compile.
        reason: String,
    },

    /// A configuration value is out of its allowed range.
    #[error("tsdb.{field}: {reason}")]
    InvalidConfig {
        /// The field of [`crate::TsdbConfig`].
        field: &'static str,
        /// Why the value is refused.
        reason: String,
    },

    /// The engine's tables could not be created or opened.
    #[error("cannot open the tsdb tables")]
    OpenStore {
        /// What redb said.
        #[source]
        source: redb::Error,
    },

    /// The file's tsdb tables were written by a build with another table layout, neither
    /// this build's nor the one before it (which is upgraded at open): the store must be
    /// moved aside.
    #[error(
        "the store's tsdb tables are format {found}, this build reads format {expected} (and upgrades the one before) only; move the data directory aside to start a fresh store"
    )]
    UnsupportedFormat {
        /// The format the file holds (1: before the format was recorded).
        found: u64,
        /// The format this build reads.
        expected: u64,
    },

    /// Reading the persisted series, seals or producer seqs at open failed.
    #[error("cannot load the {what} table at open")]
    LoadState {
        /// Which table.
        what: &'static str,
        /// What redb said.
        #[source]
        source: redb::Error,
    },

    /// Replaying the write-ahead log at open failed.
    #[error("cannot replay the write-ahead log")]
    ReplayWal {
        /// What redb said.
        #[source]
        source: redb::Error,
    },

    /// A background thread could not be started.
    #[error("cannot start the {thread} thread")]
    SpawnThread {
        /// Which thread.
        thread: &'static str,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },

    /// A batch is malformed and was refused as a whole.
    #[error("invalid batch: {reason}")]
    InvalidBatch {
        /// What is wrong with it.
        reason: String,
    },

    /// The writer's queue is full: the batch was refused, not stored. The sender should keep it
    /// and retry later.
    #[error("write queue is full: {queued} {unit} waiting; limit {limit_name} = {limit}")]
    QueueFull {
        /// How much is waiting.
        queued: usize,
        /// `batches`, `samples` or `unsealed chunks`.
        unit: &'static str,
        /// The config field that sets the limit.
        limit_name: &'static str,
        /// The limit.
        limit: usize,
    },

    /// The group commit of WAL records (and new series, producer seqs) failed; none of the
    /// group's batches is stored.
    #[error("cannot commit {batches} batches to the write-ahead log")]
    CommitWal {
        /// How many batches the failed group held.
        batches: usize,
        /// What redb said (shared by every batch of the group).
        #[source]
        source: std::sync::Arc<redb::Error>,
    },

    /// The writer thread has stopped (the engine is closing or a thread panicked).
    #[error("the tsdb writer has stopped")]
    WriterStopped,

    /// Writing sealed chunks (and their rollups, and trimming the WAL) failed.
    #[error("cannot write {chunks} sealed chunks")]
    SealChunks {
        /// How many chunks the failed transaction held.
        chunks: usize,
        /// What redb said.
        #[source]
        source: redb::Error,
    },

    /// Materializing a partition's rollup runs from its chunks failed.
    #[error("cannot materialize the rollups of partition {partition}")]
    MaterializeRollups {
        /// The partition's start, unix ms.
        partition: i64,
        /// What redb said.
        #[source]
        source: redb::Error,
    },

    /// Compacting the rollup runs received into a partition failed.
    #[error("cannot compact the received rollups of partition {partition}")]
    CompactRollups {
        /// The partition's start, unix ms.
        partition: i64,
        /// What redb said.
        #[source]
        source: redb::Error,
    },

    /// Reading chunks or rollups for a query failed.
    #[error("cannot read {what}")]
    ReadData {
        /// What was being read.
        what: &'static str,
        /// What redb said.
        #[source]
        source: redb::Error,
    },

    /// Moving a week's 1-hour runs into packs failed.
    #[error("cannot pack the 1-hour runs of the week starting {week}")]
    PackRollups {
        /// The week's start, unix ms.
        week: i64,
        /// What redb said.
        #[source]
        source: redb::Error,
    },
    /// Moving a partition's chunks into packs failed.
    #[error("cannot pack the chunks of partition {partition}")]
    PackChunks {
        /// The partition's start, unix ms.
        partition: i64,
        /// What redb said.
        #[source]
        source: redb::Error,
    },

    /// A thread decoding part of a read panicked.
    #[error("a read worker thread panicked")]
    ReadWorker,

    /// Storing rollup points received from elsewhere failed.
    #[error("cannot write {points} rollup points to the {tier} tier")]
    WriteRollups {
        /// The tier.
        tier: Tier,
        /// How many points the transaction held.
        points: usize,
        /// What redb said.
        #[source]
        source: redb::Error,
    },

    /// Rollup points were sent to a tier this engine does not keep.
    #[error("the {tier} rollup tier is disabled (its retention is 0s)")]
    TierDisabled {
        /// The tier.
        tier: Tier,
    },

    /// Deleting expired data failed.
    #[error("cannot apply {what} retention")]
    ApplyRetention {
        /// Which tier.
        what: &'static str,
        /// What redb said.
        #[source]
        source: redb::Error,
    },

    /// A sealed chunk does not decode.
    #[error("corrupt chunk of series {series} starting at {start_ms}: {reason}")]
    CorruptChunk {
        /// The series id.
        series: u64,
        /// The chunk's key timestamp.
        start_ms: i64,
        /// What is wrong.
        reason: String,
    },

    /// A write-ahead log record does not decode.
    #[error("corrupt write-ahead log record {record}: {reason}")]
    CorruptWalRecord {
        /// The record number.
        record: u64,
        /// What is wrong.
        reason: String,
    },

    /// A stored series key does not decode.
    #[error("corrupt series key of series {series}: {reason}")]
    CorruptSeriesKey {
        /// The series id.
        series: u64,
        /// What is wrong.
        reason: String,
    },

    /// A stored rollup point does not decode.
    #[error("corrupt {tier} rollup point of series {series} at {start_ms}: {reason}")]
    CorruptRollup {
        /// The tier.
        tier: Tier,
        /// The series id.
        series: u64,
        /// The bucket start.
        start_ms: i64,
        /// What is wrong.
        reason: String,
    },
}

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
