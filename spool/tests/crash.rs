//! Crash safety: a child process (this test binary, re-run with an environment variable)
//! appends to a spool and acks now and then until it is killed with SIGKILL at a random
//! moment. After every kill the spool must open cleanly and hold every entry the child
//! reported appended and did not ack, in order, with intact payloads.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use rand::{Rng, SeedableRng};
use sysmon_spool::{Spool, SpoolConfig};

const CHILD_ENV: &str = "SYSMON_SPOOL_CRASH_CHILD";

fn config(dir: &Path) -> SpoolConfig {
    // Small segments, so that kills also land in segment creation and deletion.
    SpoolConfig { max_bytes: 64 << 20, segment_bytes: 16 * 1024, ..SpoolConfig::new(dir) }
}

fn payload(seq: u64) -> Vec<u8> {
    let len = 200 + (seq * 7919 % 3000) as usize;
    (0..len).map(|i| (seq.wrapping_mul(31) as usize + i) as u8).collect()
}

/// The child: appends after the spool's last seq, printing `DONE <seq>` once an append
/// returned and `ACK <seq>` before acking, until killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let mut spool = Spool::open(config(Path::new(&dir))).unwrap();
    let mut seq = spool.next_seq();
    let mut out = std::io::stdout().lock();
    loop {
        let _ = spool.append(seq, &payload(seq)).unwrap();
        writeln!(out, "DONE {seq}").unwrap();
        if seq.is_multiple_of(16) && seq > 40 {
            let up_to = seq - 40;
            writeln!(out, "ACK {up_to}").unwrap();
            out.flush().unwrap();
            spool.ack(up_to).unwrap();
        }
        out.flush().unwrap();
        seq += 1;
    }
}

#[test]
fn appended_entries_survive_sigkill_at_any_moment() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (mut done, mut acked) = (0u64, 0u64);
    for round in 0..12 {
        let stderr = std::fs::File::create(dir.path().join(format!("child-{round}.stderr"))).unwrap();
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let kill_after = rng.random_range(1..400);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        let note = |line: &str, done: &mut u64, acked: &mut u64| {
            if let Some(seq) = line.strip_prefix("DONE ").and_then(|s| s.parse::<u64>().ok()) {
                *done = (*done).max(seq);
            } else if let Some(seq) = line.strip_prefix("ACK ").and_then(|s| s.parse::<u64>().ok()) {
                *acked = (*acked).max(seq);
            }
        };
        while seen < kill_after {
            let Some(Ok(line)) = lines.next() else {
                let log = std::fs::read_to_string(dir.path().join(format!("child-{round}.stderr"))).unwrap_or_default();
                panic!("child of round {round} stopped early; stderr:\n{log}");
            };
            note(&line, &mut done, &mut acked);
            seen += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        for line in lines.map_while(Result::ok) {
            note(&line, &mut done, &mut acked);
        }

        let mut spool = Spool::open(config(dir.path())).unwrap();
        let entries: Vec<_> = spool.iter_after(0).map(Result::unwrap).collect();
        for pair in entries.windows(2) {
            assert!(pair[0].seq < pair[1].seq, "round {round}: out of order");
        }
        for e in &entries {
            assert_eq!(e.payload, payload(e.seq), "round {round}: payload of seq {}", e.seq);
            // At most the append in flight at the kill may be there unreported.
            assert!(e.seq <= done + 1, "round {round}: seq {} was never appended (done {done})", e.seq);
        }
        let present: std::collections::BTreeSet<u64> = entries.iter().map(|e| e.seq).collect();
        let missing: Vec<u64> = (acked + 1..=done).filter(|s| !present.contains(s)).collect();
        assert!(missing.is_empty(), "round {round}: appended, not acked, but lost: {missing:?}");
        assert!(spool.next_seq() > done, "round {round}: next seq {} reuses {done}", spool.next_seq());
        assert!(spool.unreported_drops().is_empty(), "round {round}: {:?}", spool.unreported_drops());
        if round % 4 == 3 {
            // Now and then the reader catches up, as when the link returns.
            spool.ack(done).unwrap();
            acked = done;
        }
    }
    assert!(done > 500, "the children appended only {done} entries");
}
