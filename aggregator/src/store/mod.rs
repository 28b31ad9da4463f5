//! The aggregator's storage: one redb file holding series, samples, hosts and each agent's
//! durable seq.
//!
//! Writes go through one group-commit thread ([`writer`]); reads open their own read
//! transactions ([`reader`]), which redb serves concurrently with the writer.
//!
//! TODO(#3): replace the per-sample `samples` table with the compressed chunk engine.

mod reader;
mod schema;
mod writer;

pub(crate) use reader::{HostSeries, Reader, SeriesPoints};
pub(crate) use schema::Labels;
pub(crate) use writer::{AcceptedBatch, CommitOutcome};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::registry::HostRecord;

/// A shared handle on the store: cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    db: Arc<redb::Database>,
    writes: mpsc::Sender<writer::WriteRequest>,
}

/// The writer thread of a [`Store`]; join it after every handle is dropped.
pub(crate) struct StoreWriterThread(std::thread::JoinHandle<()>);

impl StoreWriterThread {
    /// Waits (blocking) until the writer has committed what it holds and stopped.
    pub(crate) fn join(self) {
        let _ = self.0.join();
    }
}

impl Store {
    /// Opens (or creates) `<data_dir>/sysmon.redb` and starts the group-commit writer.
    pub(crate) fn open(data_dir: &Path, max_group_batches: usize) -> Result<(Store, StoreWriterThread)> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| Error::CreateDataDir { path: data_dir.to_path_buf(), source })?;
        let path: PathBuf = data_dir.join("sysmon.redb");
        let db =
            redb::Database::create(&path).map_err(|e| Error::OpenStore { path: path.clone(), source: e.into() })?;
        let db = Arc::new(db);
        schema::create_tables(&db)?;
        let (writes, requests) = mpsc::channel(writer::QUEUE_DEPTH);
        let thread = writer::spawn(db.clone(), requests, max_group_batches)?;
        Ok((Store { db, writes }, StoreWriterThread(thread)))
    }

    /// Records a host's inventory (from its Hello) and returns the agent's durable seq.
    pub(crate) async fn register_host(&self, record: HostRecord) -> Result<u64> {
        let (reply, rx) = oneshot::channel();
        self.writes.send(writer::WriteRequest::Register { record, reply }).await.map_err(|_| Error::WriterStopped)?;
        rx.await.map_err(|_| Error::WriterStopped)?
    }

    /// Queues a batch for the next group commit. The returned receiver answers once the
    /// batch is durable (or was a replay), in the order batches were queued.
    pub(crate) async fn commit_batch(&self, batch: AcceptedBatch) -> Result<oneshot::Receiver<Result<CommitOutcome>>> {
        let (reply, rx) = oneshot::channel();
        self.writes.send(writer::WriteRequest::Batch { batch, reply }).await.map_err(|_| Error::WriterStopped)?;
        Ok(rx)
    }

    /// Runs a read-only closure on a blocking thread.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&reader::Reader) -> Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let reader = reader::Reader::begin(&db)?;
            f(&reader)
        })
        .await
        .map_err(|_| Error::WriterStopped)?
    }
}
