//! A full spool: `drop_oldest` drops whole oldest segments, reports exactly which seqs and
//! keeps the newest; `block` refuses new entries and keeps everything until acks free room.

use std::path::Path;

use sysmon_spool::{DropReason, Spool, SpoolConfig, WhenFull};

fn config(dir: &Path, when_full: WhenFull) -> SpoolConfig {
    SpoolConfig { max_bytes: 20_000, segment_bytes: 4096, when_full, ..SpoolConfig::new(dir) }
}

const PAYLOAD: [u8; 984] = [7; 984]; // 1000 bytes with its record header

#[test]
fn drop_oldest_keeps_the_newest_and_reports_every_drop() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(config(dir.path(), WhenFull::DropOldest)).unwrap();
    let mut dropped = Vec::new();
    for seq in 1..=100 {
        let appended = spool.append(seq, &PAYLOAD).unwrap();
        assert!(spool.disk_bytes() <= 20_000);
        if let Some(d) = appended.dropped {
            assert_eq!(d.reason, DropReason::Full);
            assert_eq!(d.entries, d.last_seq - d.first_seq + 1);
            dropped.extend(d.first_seq..=d.last_seq);
        }
    }
    let kept: Vec<u64> = spool.iter_after(0).map(|e| e.unwrap().seq).collect();
    // Every seq is either dropped or kept, the dropped ones are the oldest, the newest is kept.
    assert_eq!(dropped.iter().chain(&kept).copied().collect::<Vec<_>>(), (1..=100).collect::<Vec<_>>());
    assert_eq!(*kept.last().unwrap(), 100);
    assert!(kept.len() >= 15, "kept only {}", kept.len());
    let unreported: u64 = spool.unreported_drops().iter().map(|d| d.entries).sum();
    assert_eq!(unreported, dropped.len() as u64);
    // Acked entries of a dropped segment are not counted as dropped.
    let first_kept = kept[0];
    spool.ack(first_kept + 1).unwrap();
    let before = spool.unreported_drops().iter().map(|d| d.entries).sum::<u64>();
    let mut newly = 0;
    for seq in 101..=130 {
        if let Some(d) = spool.append(seq, &PAYLOAD).unwrap().dropped {
            newly += d.entries;
            assert!(d.first_seq > first_kept + 1, "acked seqs reported as dropped: {d:?}");
        }
    }
    let after = spool.unreported_drops().iter().map(|d| d.entries).sum::<u64>();
    assert_eq!(after - before, newly);
}

#[test]
fn block_refuses_and_keeps_everything_until_acked() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(config(dir.path(), WhenFull::Block)).unwrap();
    let mut seq = 1;
    let err = loop {
        match spool.append(seq, &PAYLOAD) {
            Ok(appended) => assert_eq!(appended.dropped, None),
            Err(e) => break e,
        }
        seq += 1;
    };
    assert!(err.is_full(), "{err}");
    assert!(err.to_string().contains("limit max_bytes = 20000"), "{err}");
    let stored = seq - 1;
    assert_eq!(spool.len(), stored);
    // Still full, still nothing lost.
    assert!(spool.append(seq, &PAYLOAD).unwrap_err().is_full());
    assert_eq!(spool.iter_after(0).map(|e| e.unwrap().seq).collect::<Vec<_>>(), (1..=stored).collect::<Vec<_>>());
    // Acking one entry frees nothing (its segment still holds others); acking a segment does.
    spool.ack(1).unwrap();
    assert!(spool.append(seq, &PAYLOAD).unwrap_err().is_full());
    spool.ack(5).unwrap();
    let _ = spool.append(seq, &PAYLOAD).unwrap();
    assert!(spool.unreported_drops().is_empty());
}

#[test]
fn an_entry_larger_than_the_spool_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(config(dir.path(), WhenFull::DropOldest)).unwrap();
    let _ = spool.append(1, &PAYLOAD).unwrap();
    let err = spool.append(2, &[0; 20_000]).unwrap_err();
    assert_eq!(err.to_string(), "entry of 20000 bytes does not fit in the spool; limit max_bytes = 20000");
    assert_eq!(spool.len(), 1);
    // One larger than a segment but within max_bytes gets a segment of its own.
    let _ = spool.append(2, &[1; 10_000]).unwrap();
    assert_eq!(spool.read_after(1).unwrap().unwrap().payload.len(), 10_000);
}

#[test]
fn acked_entries_of_the_newest_segment_never_keep_the_spool_full() {
    for when_full in [WhenFull::DropOldest, WhenFull::Block] {
        let dir = tempfile::tempdir().unwrap();
        // One entry fills most of the spool, and most of a segment of the spool's size.
        let config = SpoolConfig { segment_bytes: 20_000, ..config(dir.path(), when_full) };
        let mut spool = Spool::open(config).unwrap();
        let _ = spool.append(1, &[1; 15_000]).unwrap();
        spool.ack(1).unwrap();
        let appended = spool.append(2, &[2; 15_000]).unwrap();
        assert_eq!(appended.dropped, None, "{when_full:?}");
        assert_eq!(spool.iter_after(0).map(|e| e.unwrap().seq).collect::<Vec<_>>(), [2]);
        assert!(spool.disk_bytes() <= 20_000);
    }
}
