//! The agent's queue of batches not yet acknowledged: numbered, bounded, drained in order.
//!
//! TODO(#4): back this with the crash-safe disk spool; today it lives in memory, so an agent
//! restart loses what was not yet acknowledged.

use std::collections::VecDeque;
use std::sync::Mutex;

use sysmon_proto::v1;
use tokio::sync::Notify;
use tracing::{debug, warn};

/// A batch waiting for its ack.
#[derive(Debug, Clone)]
pub(crate) struct QueuedBatch {
    pub(crate) batch: v1::Batch,
    /// When its samples were collected (unix ms).
    pub(crate) collected_at_ms: i64,
}

/// Unacknowledged batches, oldest first.
pub(crate) struct Outbox {
    state: Mutex<State>,
    changed: Notify,
    max_batches: usize,
}

struct State {
    queue: VecDeque<QueuedBatch>,
    next_seq: u64,
    /// Whether seqs have been aligned with an aggregator's durable seq since this process started.
    aligned: bool,
    dropped_batches: u64,
}

impl Outbox {
    pub(crate) fn new(max_batches: usize) -> Self {
        Self {
            state: Mutex::new(State { queue: VecDeque::new(), next_seq: 1, aligned: false, dropped_batches: 0 }),
            changed: Notify::new(),
            max_batches: max_batches.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves a consistent queue (every method keeps the
        // invariants between statements), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a batch under the next seq. When the queue is full the oldest batch is dropped,
    /// counted and logged.
    pub(crate) fn push(&self, mut batch: v1::Batch, collected_at_ms: i64) {
        let mut state = self.lock();
        batch.seq = state.next_seq;
        state.next_seq += 1;
        if state.queue.len() >= self.max_batches
            && let Some(oldest) = state.queue.pop_front()
        {
            state.dropped_batches += 1;
            warn!(
                seq = oldest.batch.seq,
                collected_at_ms = oldest.collected_at_ms,
                dropped_total = state.dropped_batches,
                max_pending_batches = self.max_batches,
                "outbox full; oldest batch dropped"
            );
        }
        state.queue.push_back(QueuedBatch { batch, collected_at_ms });
        drop(state);
        self.changed.notify_one();
    }

    /// Aligns with an aggregator that holds everything up to `durable_seq` for this agent,
    /// and returns the seq after which sending resumes.
    ///
    /// On the first connection of this process, queued batches have never been sent, so
    /// they are renumbered to follow `durable_seq`: a restarted agent must not reuse seqs
    /// the aggregator already holds. Later, batches at or below `durable_seq` are acked.
    pub(crate) fn welcome(&self, durable_seq: u64) -> u64 {
        let mut state = self.lock();
        if !state.aligned {
            state.aligned = true;
            let mut seq = durable_seq;
            for queued in &mut state.queue {
                seq += 1;
                queued.batch.seq = seq;
            }
            state.next_seq = seq + 1;
            return durable_seq;
        }
        drop(state);
        self.ack(durable_seq);
        durable_seq
    }

    /// Removes every batch with seq at or below `seq`.
    pub(crate) fn ack(&self, seq: u64) {
        let mut state = self.lock();
        while state.queue.front().is_some_and(|q| q.batch.seq <= seq) {
            if let Some(done) = state.queue.pop_front() {
                debug!(seq = done.batch.seq, collected_at_ms = done.collected_at_ms, "batch acked");
            }
        }
    }

    /// The oldest batch with seq above `seq`.
    pub(crate) fn next_after(&self, seq: u64) -> Option<v1::Batch> {
        let state = self.lock();
        state.queue.iter().find(|q| q.batch.seq > seq).map(|q| q.batch.clone())
    }

    /// The highest seq queued (0 when empty).
    pub(crate) fn highest_seq(&self) -> u64 {
        self.lock().queue.back().map_or(0, |q| q.batch.seq)
    }

    /// Waits until a batch is pushed (or a wake-up was already pending).
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(outbox: &Outbox) -> Vec<u64> {
        outbox.lock().queue.iter().map(|q| q.batch.seq).collect()
    }

    #[test]
    fn first_welcome_renumbers_after_the_durable_seq() {
        let outbox = Outbox::new(10);
        outbox.push(v1::Batch::default(), 1);
        outbox.push(v1::Batch::default(), 2);
        assert_eq!(seqs(&outbox), [1, 2]);
        assert_eq!(outbox.welcome(500), 500);
        assert_eq!(seqs(&outbox), [501, 502]);
        outbox.push(v1::Batch::default(), 3);
        assert_eq!(seqs(&outbox), [501, 502, 503]);
        // A later reconnect acks what the aggregator already holds.
        outbox.welcome(502);
        assert_eq!(seqs(&outbox), [503]);
        assert_eq!(outbox.next_after(502).unwrap().seq, 503);
    }

    #[test]
    fn full_outbox_drops_the_oldest_and_counts() {
        let outbox = Outbox::new(2);
        for t in 0..3 {
            outbox.push(v1::Batch::default(), t);
        }
        assert_eq!(seqs(&outbox), [2, 3]);
        assert_eq!(outbox.lock().dropped_batches, 1);
    }
}
