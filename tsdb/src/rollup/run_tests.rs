use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::rollup::point::fold_samples;

/// Every field, floats as bits: NaN payloads and -0.0 must survive.
fn bits(p: &RollupPoint) -> [u64; 14] {
    [
        p.start_ms as u64,
        p.count,
        p.sum.to_bits(),
        p.min.to_bits(),
        p.max.to_bits(),
        p.first_ts as u64,
        p.first_v.to_bits(),
        p.last_ts as u64,
        p.last_v.to_bits(),
        p.prev_last_ts as u64,
        p.prev_last_v.to_bits(),
        p.counter_correction.to_bits(),
        p.resets,
        p.changes,
    ]
}

fn round_trip(tier: Tier, points: &[RollupPoint]) -> usize {
    let mut buf = Vec::new();
    encode_run(tier, points, &mut buf);
    let first = points[0].start_ms;
    let mut out = vec![RollupPoint::new(tier, 0, 1.0)];
    decode_run(tier, first, &buf, &mut RunScratch::default(), &mut out).unwrap();
    assert_eq!(out.len(), points.len() + 1);
    for (a, b) in out[1..].iter().zip(points) {
        assert_eq!(bits(a), bits(b), "\n{a:?}\n{b:?}");
    }
    assert_eq!(run_last_start(tier, first, &buf), Ok(points[points.len() - 1].start_ms));
    buf.len()
}

/// Samples shaped like node_exporter's, 10 s apart: `kind` picks the shape.
fn samples(rng: &mut StdRng, kind: u32, n: usize) -> (Vec<i64>, Vec<f64>) {
    let mut t = 1_700_000_000_000i64 + rng.random_range(0..10) * 1000;
    let mut v: f64 = match kind {
        0 => (rng.random_range(0..100_000_000i64) as f64) / 100.0,
        1 => (rng.random_range(1..1i64 << 20) * 4096) as f64,
        _ => rng.random_range(0.0..4.0),
    };
    let (mut ts, mut values) = (Vec::new(), Vec::new());
    for _ in 0..n {
        ts.push(t);
        values.push(v);
        t += 10_000 + if rng.random_bool(0.05) { rng.random_range(-500..500) } else { 0 };
        v = match kind {
            // A 2-decimal counter, resetting now and then.
            0 if rng.random_bool(0.01) => 0.0,
            0 => ((v * 100.0).round() + rng.random_range(0..500) as f64) / 100.0,
            // Page-aligned gauge.
            1 => (v + 4096.0 * rng.random_range(-200..=200) as f64).max(4096.0),
            // Load-like 2-decimal gauge.
            2 => ((v + rng.random_range(-0.3..0.3)).max(0.0) * 100.0).round() / 100.0,
            // Noise, NaNs, stale markers, -0.0.
            _ => match rng.random_range(0..8) {
                0 => f64::NAN,
                1 => f64::from_bits(crate::rollup::STALE_MARKER_BITS),
                2 => -0.0,
                3 => f64::INFINITY,
                _ => rng.random_range(-1e9..1e9),
            },
        };
    }
    (ts, values)
}

#[test]
fn folded_node_like_runs_round_trip_bit_for_bit() {
    let mut rng = StdRng::seed_from_u64(11);
    for round in 0..400 {
        let kind = round % 4;
        let n = rng.random_range(1..800);
        let (ts, values) = samples(&mut rng, kind, n);
        for tier in Tier::ALL {
            let mut open = None;
            let mut done = Vec::new();
            fold_samples(tier, &ts, &values, &mut open, |p| done.push(p));
            done.extend(open);
            if round % 3 == 0 {
                // Gaps between buckets.
                done.retain(|p| (p.start_ms / tier.width_ms()) % 3 != 1);
            }
            if !done.is_empty() {
                round_trip(tier, &done);
            }
        }
    }
}

#[test]
fn arbitrary_points_round_trip_bit_for_bit() {
    // Points received from elsewhere (`write_rollups`) need not be consistent.
    let mut rng = StdRng::seed_from_u64(5);
    let value = |rng: &mut StdRng| match rng.random_range(0..6) {
        0 => f64::from_bits(rng.random()),
        1 => 0.0,
        2 => -0.0,
        3 => (rng.random_range(-1_000_000i64..1_000_000) as f64) / 100.0,
        _ => rng.random_range(-10.0..10.0),
    };
    for _ in 0..300 {
        let n = rng.random_range(1..60);
        let mut start = rng.random_range(-1_000_000i64..1_000_000) * 60_000;
        let points: Vec<RollupPoint> = (0..n)
            .map(|_| {
                start += 60_000 * rng.random_range(1..4);
                RollupPoint {
                    start_ms: start,
                    count: rng.random_range(1..u64::MAX),
                    sum: value(&mut rng),
                    min: value(&mut rng),
                    max: value(&mut rng),
                    first_ts: rng.random(),
                    first_v: value(&mut rng),
                    last_ts: rng.random(),
                    last_v: value(&mut rng),
                    prev_last_ts: rng.random(),
                    prev_last_v: value(&mut rng),
                    counter_correction: value(&mut rng),
                    resets: rng.random(),
                    changes: rng.random(),
                }
            })
            .collect();
        round_trip(Tier::Minute, &points);
    }
}

#[test]
fn a_regular_counter_run_costs_a_few_bytes_per_point() {
    // 40 minutes of a 2-decimal cpu counter, 6 samples a minute.
    let mut rng = StdRng::seed_from_u64(3);
    let ts: Vec<i64> = (0..240).map(|i| 1_700_000_040_000 + i * 10_000).collect();
    let mut v = 123_456.78f64;
    let values: Vec<f64> = ts
        .iter()
        .map(|_| {
            v = ((v * 100.0).round() + rng.random_range(100..300) as f64) / 100.0;
            v
        })
        .collect();
    let mut done = Vec::new();
    let mut open = None;
    fold_samples(Tier::Minute, &ts, &values, &mut open, |p| done.push(p));
    let bytes = round_trip(Tier::Minute, &done);
    // first, last, prev_last and sum at about 9-11 bits each.
    assert!(bytes <= done.len() * 6 + 40, "{bytes} bytes for {} points", done.len());
}

#[test]
fn corrupt_runs_are_errors() {
    let mut a = RollupPoint::new(Tier::Minute, 120_000, 1.0);
    a.push(130_000, 2.0);
    let b = RollupPoint::new(Tier::Minute, 180_000, f64::NAN);
    let c = RollupPoint::new(Tier::Minute, 600_000, -3.0);
    let mut buf = Vec::new();
    encode_run(Tier::Minute, &[a, b, c], &mut buf);
    for cut in 0..buf.len() {
        assert!(decode_run(Tier::Minute, 120_000, &buf[..cut], &mut RunScratch::default(), &mut Vec::new()).is_err());
    }
    let mut long = buf.clone();
    long.push(0);
    assert!(decode_run(Tier::Minute, 120_000, &long, &mut RunScratch::default(), &mut Vec::new()).is_err());
    let mut old = buf.clone();
    old[0] = 3;
    let err = decode_run(Tier::Minute, 120_000, &old, &mut RunScratch::default(), &mut Vec::new()).unwrap_err();
    assert_eq!(err, "unknown run format 3");
}

#[test]
fn a_gauges_counter_corrections_are_written_as_decimals_near_resets_times_its_mean() {
    // A week of hours of a 2-decimal percentage sampled once a minute, as a recording rule
    // writes it: about half of its minutes fall, and each hour's correction is the sum of
    // the values they fall from.
    let mut rng = StdRng::seed_from_u64(7);
    let ts: Vec<i64> = (0..168 * 60).map(|i| 1_704_326_400_000 + i * 60_000).collect();
    let mut v = 40.0f64;
    let values: Vec<f64> = ts
        .iter()
        .map(|_| {
            v = ((v + rng.random_range(-3.0..3.0)).clamp(0.0, 100.0) * 100.0).round() / 100.0;
            v
        })
        .collect();
    let mut hours = Vec::new();
    let mut open = None;
    fold_samples(Tier::Hour, &ts, &values, &mut open, |p| hours.push(p));
    hours.extend(open);
    assert_eq!(hours.len(), 168);
    assert!(hours.iter().all(|p| p.resets > 10));
    let bytes = round_trip(Tier::Hour, &hours);

    let (exponent, scaled) = decimal_values(&hours).unwrap();
    let sums = encode_sum(&hours, Some(&(exponent, scaled)), &mut Vec::new()).unwrap();
    let (mut decimal, mut floats) = (Vec::new(), Vec::new());
    encode_correction(&hours, Some((exponent, &sums)), &mut decimal);
    encode_float_corrections(&hours, &mut floats);
    assert_eq!(decimal[0], CORRECTION_DECIMAL);
    // Measured: 2.2 bytes a point, against 7.3 as floats; the whole run 13.2.
    assert!(decimal.len() * 2 < floats.len(), "{} against {} bytes", decimal.len(), floats.len());
    assert!(bytes < 168 * 16, "{bytes} bytes for 168 points");
}
