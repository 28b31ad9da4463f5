use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const STALE: u64 = 0x7ff0_0000_0000_0002;

fn round_trip(ts: &[i64], values: &[f64], level: i32) -> Vec<u8> {
    let chunk = ChunkEncoder::new(level).encode(ts, values, None);
    let (mut out_ts, mut out_values) = (vec![-7], vec![1.5]);
    let header = decode_chunk(&chunk, &mut out_ts, &mut out_values).unwrap();
    assert_eq!(header.count, ts.len());
    assert_eq!((header.first_ts, header.last_ts), (ts[0], ts[ts.len() - 1]));
    assert_eq!(&out_ts[1..], ts);
    let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
    let got: Vec<u64> = out_values[1..].iter().map(|v| v.to_bits()).collect();
    assert_eq!(got, want);
    // Reusing the head's streams gives the same chunk.
    let mut encoder = GorillaEncoder::new();
    for (&t, &v) in ts.iter().zip(values) {
        encoder.append(t, v);
    }
    assert_eq!(ChunkEncoder::new(level).encode(ts, values, Some(&encoder.finish())), chunk);
    chunk
}

fn random_value(rng: &mut StdRng) -> f64 {
    match rng.random_range(0..12) {
        0 => f64::from_bits(rng.random()),
        1 => f64::from_bits(STALE),
        2 => {
            [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, f64::MIN_POSITIVE, f64::MAX][rng.random_range(0..7)]
        }
        3 => f64::from_bits(0x7ff8_0000_0000_0000 | rng.random_range(0..1u64 << 51)),
        4 => rng.random_range(-1e6..1e6),
        5 => (rng.random_range(-1_000_000_000i64..1_000_000_000) as f64) / 100.0,
        6 => (rng.random_range(0..1u64 << 40) * 4096) as f64,
        _ => rng.random_range(0..100) as f64,
    }
}

#[test]
fn random_and_tricky_chunks_round_trip_bit_for_bit() {
    let mut rng = StdRng::seed_from_u64(7);
    for round in 0..3000 {
        let n = rng.random_range(1..300);
        let mut t: i64 = match round % 4 {
            0 => i64::MIN,
            1 => rng.random(),
            _ => 1_700_000_000_000,
        };
        let mut ts = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n);
        // Each chunk mixes a few regimes: constant runs, decimals, noise, tricky bits.
        let mut v = random_value(&mut rng);
        for _ in 0..n {
            ts.push(t);
            let step: i64 = match rng.random_range(0..6) {
                0 => rng.random_range(1..i64::MAX / 4),
                1 => rng.random_range(1..50),
                _ => 10_000 + rng.random_range(-30..30),
            };
            t = t.wrapping_add(step);
            match rng.random_range(0..4) {
                0 => {}
                1 => v = random_value(&mut rng),
                _ if v.is_finite() => v = ((v * 100.0).round() + rng.random_range(0..500) as f64) / 100.0,
                _ => v = random_value(&mut rng),
            }
            values.push(v);
        }
        round_trip(&ts, &values, if round % 2 == 0 { 3 } else { 0 });
    }
}

#[test]
fn regular_constant_chunk_is_tiny() {
    let ts: Vec<i64> = (0..240).map(|i| 1_700_000_000_000 + i * 10_000).collect();
    let chunk = round_trip(&ts, &vec![0.0; 240], 3);
    assert!(chunk.len() <= 32, "{} bytes", chunk.len());
    let stale = round_trip(&ts, &vec![f64::from_bits(STALE); 240], 3);
    assert!(stale.len() <= 32, "{} bytes", stale.len());
}

#[test]
fn two_decimal_counter_packs_under_two_bytes_per_sample() {
    let mut rng = StdRng::seed_from_u64(1);
    let ts: Vec<i64> = (0..240).map(|i| 1_700_000_000_000 + i * 10_000).collect();
    let mut v = 729_732.95f64;
    let values: Vec<f64> = (0..240)
        .map(|_| {
            v = ((v * 100.0).round() + rng.random_range(100..300) as f64) / 100.0;
            v
        })
        .collect();
    let chunk = round_trip(&ts, &values, 3);
    assert!(chunk.len() < 240 * 2, "{} bytes", chunk.len());
}

#[test]
fn corrupt_chunks_are_errors_never_panics() {
    let mut rng = StdRng::seed_from_u64(3);
    let ts: Vec<i64> = (0..120).map(|i| 1_000 + i * 10_000 + i % 3).collect();
    let values: Vec<f64> = (0..120).map(|i| (i as f64 * 1.37).sin()).collect();
    for level in [0, 3] {
        let chunk = ChunkEncoder::new(level).encode(&ts, &values, None);
        for cut in 0..chunk.len() {
            let _ = decode_chunk(&chunk[..cut], &mut Vec::new(), &mut Vec::new());
        }
        for _ in 0..2000 {
            let mut bad = chunk.clone();
            let i = rng.random_range(0..bad.len());
            bad[i] ^= 1 << rng.random_range(0..8);
            let _ = decode_chunk(&bad, &mut Vec::new(), &mut Vec::new());
        }
    }
    assert!(decode_chunk(&[], &mut Vec::new(), &mut Vec::new()).is_err());
    assert!(decode_chunk(&[0, 0], &mut Vec::new(), &mut Vec::new()).is_err());
    assert!(decode_chunk(&[0x80, 1, 0, 0], &mut Vec::new(), &mut Vec::new()).is_err());
}
