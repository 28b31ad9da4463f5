//! The outbox over a real spool in a temp dir.

use std::sync::Arc;

use sysmon_proto::v1;
use sysmon_spool::WhenFull;
use tokio_util::sync::CancellationToken;

use super::*;

fn settings(dir: &std::path::Path, max_bytes: u64, when_full: WhenFull) -> SpoolSettings {
    SpoolSettings { dir: dir.to_path_buf(), max_bytes, when_full }
}

fn batch(marker: &str) -> v1::Batch {
    // Incompressible enough that a few batches fill a small spool.
    let strings = (0..40).map(|i| format!("{marker}-{i}-{}", i * 7919 % 1013)).collect();
    v1::Batch { strings, ..Default::default() }
}

fn open(dir: &std::path::Path, max_bytes: u64, when_full: WhenFull) -> (Outbox, Arc<AgentMetrics>) {
    let metrics = Arc::new(AgentMetrics::default());
    (Outbox::open(&settings(dir, max_bytes, when_full), metrics.clone()).unwrap(), metrics)
}

async fn seqs(outbox: &Outbox) -> Vec<u64> {
    let mut out = Vec::new();
    let mut after = 0;
    while let Some(o) = outbox.next_after(after).await {
        after = o.batch.seq;
        out.push(after);
    }
    out
}

#[tokio::test]
async fn batches_survive_a_restart_and_seqs_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let (outbox, _) = open(dir.path(), 1 << 20, WhenFull::DropOldest);
    for (i, m) in ["a", "b", "c"].iter().enumerate() {
        assert!(outbox.push(batch(m), 1000 + i as i64, &cancel).await);
    }
    let first = outbox.next_after(0).await.unwrap();
    assert_eq!((first.batch.seq, first.collected_at_ms, first.batch.strings[0].as_str()), (1, 1000, "a-0-0"));
    outbox.ack(1).await;
    drop(outbox);
    let (outbox, _) = open(dir.path(), 1 << 20, WhenFull::DropOldest);
    assert_eq!(outbox.highest_seq().await, 3);
    assert_eq!(seqs(&outbox).await, [2, 3]);
    assert!(outbox.push(batch("d"), 1003, &cancel).await);
    assert_eq!(seqs(&outbox).await, [2, 3, 4]);
}

#[tokio::test]
async fn an_aggregator_ahead_of_the_spool_gets_renumbered_batches() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let (outbox, _) = open(dir.path(), 1 << 20, WhenFull::DropOldest);
    for m in ["a", "b"] {
        outbox.push(batch(m), 1, &cancel).await;
    }
    // The aggregator already holds 500 batches of this agent id: a wiped spool.
    assert_eq!(outbox.welcome(500).await, 500);
    assert_eq!(seqs(&outbox).await, [501, 502]);
    assert_eq!(outbox.next_after(500).await.unwrap().batch.strings[0], "a-0-0");
    outbox.push(batch("c"), 1, &cancel).await;
    assert_eq!(seqs(&outbox).await, [501, 502, 503]);
    // A later welcome behind the spool only acks.
    outbox.welcome(501).await;
    assert_eq!(seqs(&outbox).await, [502, 503]);
    // An aggregator that holds less than what another acked (a failover): sending resumes
    // after the spool's own cursor, not at the aggregator's durable seq.
    outbox.ack(502).await;
    assert_eq!(outbox.welcome(7).await, 502);
    assert_eq!(seqs(&outbox).await, [503]);
}

#[tokio::test]
async fn drops_are_counted_and_ride_on_the_next_batch_until_acked() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let (outbox, metrics) = open(dir.path(), 64 * 1024, WhenFull::DropOldest);
    for i in 0..200 {
        outbox.push(batch(&format!("b{i}")), i, &cancel).await;
    }
    let dropped = metrics.dropped_batches();
    assert!(dropped > 0);
    let kept = seqs(&outbox).await;
    assert_eq!(*kept.last().unwrap(), 200);
    assert_eq!(kept.len() as u64 + dropped, 200);

    // A new stream: the first batch carries the drops, the next does not.
    outbox.welcome(0).await;
    let first = outbox.next_after(0).await.unwrap();
    let reported: u64 = first.batch.events.iter().map(|e| attribute(e, "batches")).sum();
    assert_eq!(reported, dropped);
    assert!(first.batch.events.iter().all(|e| e.kind == "spool_dropped"));
    assert!(outbox.next_after(first.batch.seq).await.unwrap().batch.events.is_empty());
    // The link breaks before the ack: the next stream reports them again.
    outbox.welcome(0).await;
    let again = outbox.next_after(0).await.unwrap();
    assert_eq!(again.batch.events.len(), first.batch.events.len());
    // Acked: reported for good, also after a restart.
    outbox.ack(again.batch.seq).await;
    drop(outbox);
    let (outbox, _) = open(dir.path(), 64 * 1024, WhenFull::DropOldest);
    outbox.welcome(0).await;
    assert!(outbox.next_after(0).await.unwrap().batch.events.is_empty());
}

fn attribute(event: &v1::Event, name: &str) -> u64 {
    event.attributes.iter().find(|a| a.name == name).unwrap().value.parse().unwrap()
}

#[tokio::test]
async fn block_pauses_until_acks_free_room() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let (outbox, metrics) = open(dir.path(), 64 * 1024, WhenFull::Block);
    let outbox = Arc::new(outbox);
    let mut pushed = 0;
    loop {
        let push = outbox.push(batch(&format!("b{pushed}")), pushed, &cancel);
        match tokio::time::timeout(std::time::Duration::from_millis(300), push).await {
            Ok(true) => pushed += 1,
            Ok(false) => unreachable!("not cancelled"),
            Err(_) => break, // blocked: full
        }
    }
    assert!(pushed > 5);
    let stored = seqs(&outbox).await;
    assert_eq!(stored, (1..=pushed as u64).collect::<Vec<_>>(), "nothing dropped");
    assert_eq!(metrics.dropped_batches(), 0);
    // A blocked push goes through once the aggregator acks.
    let waiting = {
        let outbox = outbox.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { outbox.push(batch("late"), 0, &cancel).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!waiting.is_finished());
    outbox.ack(pushed as u64).await;
    assert!(waiting.await.unwrap());
    assert_eq!(seqs(&outbox).await, [pushed as u64 + 1]);
}
