//! The group-commit writer: one blocking thread that takes many agents' batches from a
//! bounded queue, writes them in one redb write transaction, commits (fsync), and only then
//! answers each batch's sender (DESIGN.md, data path step 4).
//!
//! Sequence numbers make delivery idempotent: a batch whose seq is at or below the agent's
//! durable seq is a replay and is answered without being written again.

use std::collections::HashMap;
use std::sync::Arc;

use redb::{ReadableDatabase as _, ReadableTable as _, WriteTransaction};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error};

use super::schema::{AGENT_SEQ, HOST_LAST_SEEN, HOST_SERIES, HOSTS, Labels, SAMPLES, SERIES, SERIES_BY_KEY};
use crate::error::{Error, Result};
use crate::registry::{HostRecord, now_ms};

/// How many write requests may wait for the writer. When full, ingest streams wait: their
/// agents keep the batches and slow down, nothing is dropped.
pub(super) const QUEUE_DEPTH: usize = 1024;

/// A batch that passed validation, ready to store.
#[derive(Debug)]
pub(crate) struct AcceptedBatch {
    /// The agent (= host) that sent it.
    pub(crate) agent_id: String,
    /// Its seq.
    pub(crate) seq: u64,
    /// Its series, each with `host` and `region` set.
    pub(crate) series: Vec<Labels>,
    /// (index into `series`, timestamp ms, value).
    pub(crate) samples: Vec<(u32, i64, f64)>,
}

/// What a commit did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitOutcome {
    /// The batch's samples are durable.
    Stored,
    /// The seq was already durable: nothing was written again.
    Replay,
}

pub(super) enum WriteRequest {
    Register { record: HostRecord, reply: oneshot::Sender<Result<u64>> },
    Batch { batch: AcceptedBatch, reply: oneshot::Sender<Result<CommitOutcome>> },
}

/// What the writer knows without reading the file: series ids and durable seqs.
struct WriterState {
    series_ids: HashMap<String, u64>,
    next_series_id: u64,
    durable_seqs: HashMap<String, u64>,
}

/// Changes a transaction makes to [`WriterState`], applied only once it has committed.
#[derive(Default)]
struct Staged {
    series: Vec<(String, u64)>,
    seqs: HashMap<String, u64>,
}

pub(super) fn spawn(
    db: Arc<redb::Database>,
    requests: mpsc::Receiver<WriteRequest>,
    max_group_batches: usize,
) -> Result<std::thread::JoinHandle<()>> {
    let state = load_state(&db)?;
    std::thread::Builder::new()
        .name("sysmon-store-writer".into())
        .spawn(move || run(&db, requests, state, max_group_batches.max(1)))
        .map_err(|_| Error::WriterStopped)
}

fn load_state(db: &redb::Database) -> Result<WriterState> {
    let txn = db.begin_read().map_err(|e| Error::store("begin read")(e.into()))?;
    let open = |e: redb::TableError| Error::store("open table")(e.into());
    let iter = |e: redb::StorageError| Error::store("read")(e.into());
    let mut series_ids = HashMap::new();
    let mut next_series_id = 1;
    for entry in txn.open_table(SERIES_BY_KEY).map_err(open)?.iter().map_err(iter)? {
        let (key, id) = entry.map_err(iter)?;
        next_series_id = next_series_id.max(id.value() + 1);
        series_ids.insert(key.value().to_string(), id.value());
    }
    let mut durable_seqs = HashMap::new();
    for entry in txn.open_table(AGENT_SEQ).map_err(open)?.iter().map_err(iter)? {
        let (agent, seq) = entry.map_err(iter)?;
        durable_seqs.insert(agent.value().to_string(), seq.value());
    }
    Ok(WriterState { series_ids, next_series_id, durable_seqs })
}

fn run(db: &redb::Database, mut requests: mpsc::Receiver<WriteRequest>, mut state: WriterState, max_group: usize) {
    let mut group = Vec::with_capacity(max_group);
    while let Some(first) = requests.blocking_recv() {
        group.push(first);
        while group.len() < max_group {
            match requests.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        commit_group(db, &mut state, &mut group);
    }
    debug!("store writer stopped");
}

/// Writes every request of `group` in one transaction and answers them all.
fn commit_group(db: &redb::Database, state: &mut WriterState, group: &mut Vec<WriteRequest>) {
    let mut staged = Staged::default();
    let outcome = db.begin_write().map_err(|e| Error::store("begin write")(e.into())).and_then(|txn| {
        let answers = write_group(&txn, state, &mut staged, group)?;
        txn.commit().map_err(|e| Error::store("commit")(e.into()))?;
        Ok(answers)
    });
    match outcome {
        Ok(answers) => {
            state.durable_seqs.extend(staged.seqs);
            state.series_ids.extend(staged.series);
            for (request, answer) in group.drain(..).zip(answers) {
                match (request, answer) {
                    (WriteRequest::Register { reply, .. }, Answer::Seq(seq)) => drop(reply.send(Ok(seq))),
                    (WriteRequest::Batch { reply, .. }, Answer::Batch(outcome)) => drop(reply.send(Ok(outcome))),
                    _ => unreachable!("answers are produced in request order, one per request"),
                }
            }
        }
        Err(err) => {
            error!(error = %crate::error::DisplayChain(&err), requests = group.len(), "group commit failed; senders keep their batches and retry");
            // The transaction rolled back: series ids handed out in it were not stored.
            state.next_series_id -= staged.series.len() as u64;
            for request in group.drain(..) {
                let failure = || Error::GroupCommit { reason: crate::error::DisplayChain(&err).to_string() };
                match request {
                    WriteRequest::Register { reply, .. } => drop(reply.send(Err(failure()))),
                    WriteRequest::Batch { reply, .. } => drop(reply.send(Err(failure()))),
                }
            }
        }
    }
}

enum Answer {
    Seq(u64),
    Batch(CommitOutcome),
}

fn write_group(
    txn: &WriteTransaction,
    state: &mut WriterState,
    staged: &mut Staged,
    group: &[WriteRequest],
) -> Result<Vec<Answer>> {
    let open = |e: redb::TableError| Error::store("open table")(e.into());
    let write = |e: redb::StorageError| Error::store("write")(e.into());
    let mut series_by_key = txn.open_table(SERIES_BY_KEY).map_err(open)?;
    let mut series = txn.open_table(SERIES).map_err(open)?;
    let mut host_series = txn.open_table(HOST_SERIES).map_err(open)?;
    let mut samples = txn.open_table(SAMPLES).map_err(open)?;
    let mut agent_seq = txn.open_table(AGENT_SEQ).map_err(open)?;
    let mut hosts = txn.open_table(HOSTS).map_err(open)?;
    let mut last_seen = txn.open_table(HOST_LAST_SEEN).map_err(open)?;
    let now = now_ms();
    let staged_ids: &mut HashMap<String, u64> = &mut HashMap::new();

    let mut answers = Vec::with_capacity(group.len());
    for request in group {
        match request {
            WriteRequest::Register { record, .. } => {
                let mut record = record.clone();
                if let Some(previous) = hosts.get(record.host.as_str()).map_err(write)?
                    && let Ok(previous) = serde_json::from_slice::<HostRecord>(previous.value())
                {
                    record.first_seen_ms = previous.first_seen_ms;
                }
                let json = serde_json::to_vec(&record).expect("a HostRecord always serializes to JSON");
                hosts.insert(record.host.as_str(), json.as_slice()).map_err(write)?;
                last_seen.insert(record.host.as_str(), now).map_err(write)?;
                let seq = staged.seqs.get(&record.host).or(state.durable_seqs.get(&record.host)).copied().unwrap_or(0);
                answers.push(Answer::Seq(seq));
            }
            WriteRequest::Batch { batch, .. } => {
                let durable =
                    staged.seqs.get(&batch.agent_id).or(state.durable_seqs.get(&batch.agent_id)).copied().unwrap_or(0);
                if batch.seq <= durable {
                    answers.push(Answer::Batch(CommitOutcome::Replay));
                    continue;
                }
                let mut ids = Vec::with_capacity(batch.series.len());
                for labels in &batch.series {
                    let key = labels.key();
                    let id = match state.series_ids.get(&key).or(staged_ids.get(&key)) {
                        Some(id) => *id,
                        None => {
                            let id = state.next_series_id;
                            state.next_series_id += 1;
                            series_by_key.insert(key.as_str(), id).map_err(write)?;
                            series.insert(id, key.as_str()).map_err(write)?;
                            let name = labels.get("__name__").unwrap_or_default();
                            host_series.insert((batch.agent_id.as_str(), id), name).map_err(write)?;
                            staged_ids.insert(key.clone(), id);
                            staged.series.push((key, id));
                            id
                        }
                    };
                    ids.push(id);
                }
                for &(index, ts, value) in &batch.samples {
                    samples.insert((ids[index as usize], ts), value).map_err(write)?;
                }
                agent_seq.insert(batch.agent_id.as_str(), batch.seq).map_err(write)?;
                last_seen.insert(batch.agent_id.as_str(), now).map_err(write)?;
                staged.seqs.insert(batch.agent_id.clone(), batch.seq);
                answers.push(Answer::Batch(CommitOutcome::Stored));
            }
        }
    }
    Ok(answers)
}
