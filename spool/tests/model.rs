//! The spool against a model: a `VecDeque` of (seq, payload). Random appends, acks, reads,
//! reopenings and size limits, under both full policies; after every step the spool must
//! hold exactly what the model holds, and a drop must be exactly the model's oldest entries.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sysmon_spool::{Spool, SpoolConfig, WhenFull};

fn payload(rng: &mut StdRng, seq: u64) -> Vec<u8> {
    let len = match rng.random_range(0..10) {
        0 => 0,
        1 => rng.random_range(2000..6000),
        _ => rng.random_range(1..700),
    };
    let mut p: Vec<u8> = (0..len).map(|i| (seq as usize * 31 + i) as u8).collect();
    if let Some(b) = p.first_mut() {
        *b = seq as u8;
    }
    p
}

fn check(spool: &mut Spool, model: &VecDeque<(u64, Vec<u8>)>, max_bytes: u64) {
    assert_eq!(spool.len(), model.len() as u64);
    assert!(spool.disk_bytes() <= max_bytes, "{} > {max_bytes}", spool.disk_bytes());
    let got: Vec<(u64, Vec<u8>)> = spool.iter_after(0).map(|e| e.map(|e| (e.seq, e.payload)).unwrap()).collect();
    assert!(got.iter().eq(model.iter()), "spool and model differ");
    assert_eq!(spool.first_seq(), model.front().map(|e| e.0));
    assert_eq!(spool.last_seq(), model.back().map(|e| e.0));
}

fn run(seed: u64, when_full: WhenFull) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let max_bytes = 64 * 1024;
    let config = SpoolConfig { max_bytes, segment_bytes: 8 * 1024, when_full, ..SpoolConfig::new(dir.path()) };
    let mut spool = Spool::open(config.clone()).unwrap();
    let mut model: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    let mut next_seq = 1u64;
    let (mut drops, mut fulls) = (0, 0);
    for step in 0..3000 {
        match rng.random_range(0..100) {
            0..55 => {
                let seq = next_seq + if rng.random_bool(0.1) { rng.random_range(1..5) } else { 0 };
                let p = payload(&mut rng, seq);
                match spool.append(seq, &p) {
                    Ok(appended) => {
                        if let Some(d) = appended.dropped {
                            drops += 1;
                            let gone: Vec<u64> = (0..d.entries).map(|_| model.pop_front().unwrap().0).collect();
                            assert_eq!((gone[0], *gone.last().unwrap()), (d.first_seq, d.last_seq), "step {step}");
                        }
                        model.push_back((seq, p));
                        next_seq = seq + 1;
                    }
                    Err(e) if e.is_full() => {
                        assert_eq!(when_full, WhenFull::Block, "{e}");
                        fulls += 1;
                    }
                    Err(e) => panic!("step {step}: {e}"),
                }
            }
            // Every other 400 steps the receiver is away: no acks, so the spool fills.
            55..75 if (step / 400) % 2 == 0 => {
                let up_to = match model.len() {
                    0 => next_seq - 1,
                    n => model[rng.random_range(0..n)].0,
                };
                spool.ack(up_to).unwrap();
                while model.front().is_some_and(|e| e.0 <= up_to) {
                    model.pop_front();
                }
            }
            55..90 => {
                let after = rng.random_range(0..next_seq + 2);
                let want = model.iter().find(|e| e.0 > after);
                let got = spool.read_after(after).unwrap();
                assert_eq!(got.map(|e| (e.seq, e.payload)), want.cloned(), "read_after({after})");
            }
            90..95 => {
                drop(spool);
                spool = Spool::open(config.clone()).unwrap();
                assert!(spool.next_seq() >= next_seq, "{} < {next_seq}", spool.next_seq());
                next_seq = spool.next_seq();
            }
            _ => {
                if let Some(last) = spool.unreported_drops().last().map(|d| d.id) {
                    spool.forget_drops(last).unwrap();
                    assert!(spool.unreported_drops().is_empty());
                }
            }
        }
        check(&mut spool, &model, max_bytes);
    }
    match when_full {
        WhenFull::DropOldest => assert!(drops > 0, "seed {seed}: the workload never filled the spool"),
        WhenFull::Block => assert!(fulls > 0, "seed {seed}: the workload never filled the spool"),
    }
}

#[test]
fn drop_oldest_matches_the_model() {
    for seed in [1, 2, 3] {
        run(seed, WhenFull::DropOldest);
    }
}

#[test]
fn block_matches_the_model() {
    for seed in [4, 5, 6] {
        run(seed, WhenFull::Block);
    }
}
