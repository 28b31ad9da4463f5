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

async fn open(dir: &std::path::Path, max_bytes: u64, when_full: WhenFull) -> (Outbox, Arc<UplinkMetrics>) {
    let metrics = Arc::new(UplinkMetrics::default());
    // Reopening right after a drop can find the lock still held for a moment: a test in this
    // binary that runs `mount` forks, and the child holds a copy of every open file (the
    // lock file's too) until it execs. A real restart is another process, later.
    let mut tries = 0;
    loop {
        match Outbox::open(&settings(dir, max_bytes, when_full), metrics.clone()) {
            Ok(outbox) => return (outbox, metrics),
            Err(e) if tries < 100 && crate::chain(&e).contains("in use by another process") => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(e) => panic!("cannot open the outbox: {}", crate::chain(&e)),
        }
    }
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
    let (outbox, _) = open(dir.path(), 1 << 20, WhenFull::DropOldest).await;
    for (i, m) in ["a", "b", "c"].iter().enumerate() {
        assert!(outbox.push(batch(m), 1000 + i as i64, &cancel).await);
    }
    let first = outbox.next_after(0).await.unwrap();
    assert_eq!((first.batch.seq, first.collected_at_ms, first.batch.strings[0].as_str()), (1, 1000, "a-0-0"));
    outbox.ack(1).await;
    drop(outbox);
    let (outbox, _) = open(dir.path(), 1 << 20, WhenFull::DropOldest).await;
    assert_eq!(outbox.highest_seq().await, 3);
    assert_eq!(seqs(&outbox).await, [2, 3]);
    assert!(outbox.push(batch("d"), 1003, &cancel).await);
    assert_eq!(seqs(&outbox).await, [2, 3, 4]);
}

#[tokio::test]
async fn an_aggregator_ahead_of_the_spool_gets_renumbered_batches() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let (outbox, _) = open(dir.path(), 1 << 20, WhenFull::DropOldest).await;
    for m in ["a", "b"] {
        outbox.push(batch(m), 1, &cancel).await;
    }
    // The aggregator already holds 500 batches of this sender's id: a wiped spool.
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
    let (outbox, metrics) = open(dir.path(), 64 * 1024, WhenFull::DropOldest).await;
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
    let (outbox, _) = open(dir.path(), 64 * 1024, WhenFull::DropOldest).await;
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
    let (outbox, metrics) = open(dir.path(), 64 * 1024, WhenFull::Block).await;
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

/// A tmpfs of `size` mounted on a fresh directory (this test needs root), unmounted when
/// dropped: a filesystem that really fills up.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount(8) runs");
        assert!(status.success(), "mounting a tmpfs failed: this test needs root (CAP_SYS_ADMIN)");
        Tmpfs { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem is full.
    fn fill(&self) -> std::path::PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xa5u8; 4096];
        let err = loop {
            if let Err(e) = std::io::Write::write_all(&mut file, &chunk) {
                break e;
            }
        };
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A batch of about 16 KiB that snappy cannot shrink: more than the free tail of a page.
fn big_batch(marker: &str) -> v1::Batch {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut strings = vec![format!("{marker}-0-0")];
    for _ in 0..256 {
        let s: String = (0..64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'!' + (x % 90) as u8)
            })
            .collect();
        strings.push(s);
    }
    v1::Batch { strings, ..Default::default() }
}

#[tokio::test]
async fn a_batch_the_spool_cannot_write_is_counted_and_reported_on_the_next_one_spooled() {
    let tmpfs = Tmpfs::mount("256k");
    let spool_dir = tmpfs.path().join("spool");
    let cancel = CancellationToken::new();
    let (outbox, metrics) = open(&spool_dir, 1 << 20, WhenFull::DropOldest).await;
    assert!(outbox.push(big_batch("a"), 1000, &cancel).await);

    // The disk is full: the next two batches are lost, and the sender goes on.
    let filler = tmpfs.fill();
    assert!(outbox.push(big_batch("b"), 2000, &cancel).await);
    assert!(outbox.push(big_batch("c"), 3000, &cancel).await);
    assert_eq!(seqs(&outbox).await, [1]);
    assert_eq!(metrics.dropped_batches(), 2);
    let mut lost = None;
    metrics.visit(&mut |name, label, value| {
        if name == "spool_dropped_batches_total" && label.is_some_and(|(_, v)| v == "write_error") {
            lost = Some(value);
        }
    });
    assert_eq!(lost, Some(2.0));

    // Room again: the next batch spooled carries one event about both.
    std::fs::remove_file(filler).unwrap();
    assert!(outbox.push(big_batch("d"), 4000, &cancel).await);
    assert!(outbox.push(big_batch("e"), 5000, &cancel).await);
    assert_eq!(seqs(&outbox).await, [1, 2, 3]);
    let carrier = outbox.next_after(1).await.unwrap();
    assert_eq!(carrier.batch.strings[0], "d-0-0");
    assert_eq!(carrier.batch.events.len(), 1, "{:?}", carrier.batch.events);
    let event = &carrier.batch.events[0];
    let text = |name: &str| event.attributes.iter().find(|a| a.name == name).unwrap().value.clone();
    assert_eq!(event.kind, "spool_dropped");
    assert_eq!(text("reason"), "write_error");
    assert_eq!(attribute(event, "batches"), 2);
    assert_eq!((text("first_collected_ms"), text("last_collected_ms")), ("2000".into(), "3000".into()));
    assert!(text("path").starts_with(&spool_dir.display().to_string()), "{}", text("path"));
    assert!(text("error").contains("No space left on device"), "{}", text("error"));
    assert!(event.message.contains("lost 2 batches"), "{}", event.message);
    assert!(outbox.next_after(carrier.batch.seq).await.unwrap().batch.events.is_empty(), "reported once");
}
