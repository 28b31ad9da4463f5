//! Recovery after a crash or damage on disk: a torn last record at every possible length,
//! a flipped byte in the middle of a segment, garbage after the last record, a damaged
//! state file. Valid entries before and after the damage survive, in order, with their seqs.

use std::path::{Path, PathBuf};

use sysmon_spool::{DropReason, Spool, SpoolConfig};

fn config(dir: &Path) -> SpoolConfig {
    SpoolConfig { max_bytes: 1 << 20, segment_bytes: 4096, ..SpoolConfig::new(dir) }
}

fn payload(seq: u64) -> Vec<u8> {
    (0..(100 + seq as usize * 7 % 300)).map(|i| (i as u64 ^ seq) as u8).collect()
}

fn fill(dir: &Path, seqs: impl IntoIterator<Item = u64>) {
    let mut spool = Spool::open(config(dir)).unwrap();
    for seq in seqs {
        let _ = spool.append(seq, &payload(seq)).unwrap();
    }
}

fn contents(spool: &mut Spool) -> Vec<u64> {
    spool
        .iter_after(0)
        .map(|e| {
            let e = e.unwrap();
            assert_eq!(e.payload, payload(e.seq), "payload of seq {}", e.seq);
            e.seq
        })
        .collect()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

#[test]
fn restart_keeps_order_and_seqs() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 1..=50);
    let mut spool = Spool::open(config(dir.path())).unwrap();
    assert!(spool.segment_count() > 3, "the test wants several segments");
    assert_eq!(contents(&mut spool), (1..=50).collect::<Vec<_>>());
    spool.ack(20).unwrap();
    drop(spool);
    let mut spool = Spool::open(config(dir.path())).unwrap();
    assert_eq!(contents(&mut spool), (21..=50).collect::<Vec<_>>());
    assert_eq!(spool.next_seq(), 51);
    // Acked everything: the seqs still go on after a restart.
    spool.ack(50).unwrap();
    drop(spool);
    let spool = Spool::open(config(dir.path())).unwrap();
    assert_eq!((spool.len(), spool.next_seq()), (0, 51));
}

#[test]
fn a_torn_last_record_is_cut_at_every_length() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 1..=5);
    let seg = segments(dir.path()).pop().unwrap();
    let whole = std::fs::read(&seg).unwrap();
    let last_len = 16 + payload(5).len();
    let last_start = whole.len() - last_len;
    for cut in last_start..whole.len() {
        let torn = tempfile::tempdir().unwrap();
        std::fs::write(torn.path().join(seg.file_name().unwrap()), &whole[..cut]).unwrap();
        let mut spool = Spool::open(config(torn.path())).unwrap();
        assert_eq!(contents(&mut spool), [1, 2, 3, 4], "cut at {cut}");
        assert_eq!(spool.recovery().torn_tail_bytes, (cut - last_start) as u64, "cut at {cut}");
        assert!(spool.unreported_drops().is_empty(), "a torn append is not a drop");
        // The file was repaired: appending goes on, and a reopen sees no damage.
        let _ = spool.append(5, &payload(5)).unwrap();
        drop(spool);
        let mut spool = Spool::open(config(torn.path())).unwrap();
        assert_eq!(contents(&mut spool), [1, 2, 3, 4, 5]);
        assert_eq!(spool.recovery().torn_tail_bytes, 0);
    }
}

#[test]
fn garbage_after_the_last_record_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 1..=3);
    let seg = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let len = bytes.len();
    bytes.extend_from_slice(b"\x00\x01garbage that is not a record at all.........");
    std::fs::write(&seg, &bytes).unwrap();
    let mut spool = Spool::open(config(dir.path())).unwrap();
    assert_eq!(contents(&mut spool), [1, 2, 3]);
    assert!(spool.recovery().torn_tail_bytes > 0);
    drop(spool);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), len as u64, "the tail was cut off");
}

#[test]
fn a_damaged_byte_in_the_middle_loses_one_record_not_the_segments_after_it() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 1..=60);
    let files = segments(dir.path());
    assert!(files.len() >= 4);
    // Damage the second record of the second segment.
    let victim = &files[1];
    let mut spool = Spool::open(config(dir.path())).unwrap();
    let all = contents(&mut spool);
    drop(spool);
    let mut bytes = std::fs::read(victim).unwrap();
    let first_seq: u64 = victim.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let second_record = 8 + 16 + payload(first_seq).len();
    bytes[second_record + 16 + 10] ^= 0x5a;
    std::fs::write(victim, &bytes).unwrap();

    let mut spool = Spool::open(config(dir.path())).unwrap();
    let lost = first_seq + 1;
    let want: Vec<u64> = all.iter().copied().filter(|&s| s != lost).collect();
    assert_eq!(contents(&mut spool), want);
    assert_eq!(spool.recovery().damaged_ranges, 1);
    let drops = spool.unreported_drops();
    assert_eq!(drops.len(), 1);
    assert_eq!(
        (drops[0].reason, drops[0].first_seq, drops[0].last_seq, drops[0].entries),
        (DropReason::Corrupt, lost, lost, 1)
    );
    // The drop is remembered across a restart until reported.
    let id = drops[0].id;
    drop(spool);
    let mut spool = Spool::open(config(dir.path())).unwrap();
    assert_eq!(spool.unreported_drops().len(), 1);
    spool.forget_drops(id).unwrap();
    drop(spool);
    let spool = Spool::open(config(dir.path())).unwrap();
    assert!(spool.unreported_drops().is_empty());
}

#[test]
fn damage_at_the_end_of_an_older_segment_keeps_the_newer_ones() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 1..=60);
    let files = segments(dir.path());
    let victim = &files[0];
    let len = std::fs::metadata(victim).unwrap().len();
    // Lose the last 5 bytes of the oldest segment (say a bad sector).
    let file = std::fs::OpenOptions::new().write(true).open(victim).unwrap();
    file.set_len(len - 5).unwrap();
    drop(file);
    let mut spool = Spool::open(config(dir.path())).unwrap();
    let seqs = contents(&mut spool);
    let second_base: u64 = files[1].file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let lost = second_base - 1;
    assert_eq!(seqs, (1..=60).filter(|&s| s != lost).collect::<Vec<_>>());
    assert_eq!(spool.unreported_drops()[0].first_seq, lost);
}

#[test]
fn a_damaged_state_file_only_resends() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 1..=10);
    let mut spool = Spool::open(config(dir.path())).unwrap();
    spool.ack(4).unwrap();
    spool.flush().unwrap();
    drop(spool);
    std::fs::write(dir.path().join("state"), b"nonsense").unwrap();
    let mut spool = Spool::open(config(dir.path())).unwrap();
    assert!(spool.recovery().state_lost);
    // Entries 1..=4 may come back (the receiver drops them by seq); nothing after is lost.
    let seqs = contents(&mut spool);
    assert!(seqs.ends_with(&(5..=10).collect::<Vec<_>>()), "{seqs:?}");
    assert_eq!(spool.next_seq(), 11);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _spool = Spool::open(config(dir.path())).unwrap();
    let err = Spool::open(config(dir.path())).unwrap_err();
    assert!(err.to_string().contains("in use by another process"), "{err}");
}

#[test]
fn appends_need_rising_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(config(dir.path())).unwrap();
    let _ = spool.append(5, b"x").unwrap();
    let err = spool.append(5, b"y").unwrap_err();
    assert_eq!(err.to_string(), "seq 5 is not above the spool's last seq; the next append needs seq >= 6");
    // Acking ahead of the highest seq moves the next seq too.
    spool.ack(100).unwrap();
    assert_eq!(spool.next_seq(), 101);
}
