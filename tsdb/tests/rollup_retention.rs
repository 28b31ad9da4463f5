//! Rollup tiers materialized from old partitions (again after a late chunk or an interrupted
//! pass, never counting a sample twice), rollups received from elsewhere, and retention per
//! tier under a fake clock.

mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sysmon_tsdb::{Clock, CommitOutcome, Matcher, RollupPoint, STALE_MARKER_BITS, Tier, TsdbConfig};
use util::{batch, commit, labels, open, small_config};

/// A partition start (2023-11-14 22:00 UTC).
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 7_200_000;
const HOUR: i64 = 3_600_000;

/// A clock that reads `now`.
fn clock(now: &Arc<AtomicI64>) -> Clock {
    let now = now.clone();
    Clock::from_fn(move || now.load(Ordering::Relaxed))
}

/// Small chunks, a fake clock, runs materialized once a partition ended an hour ago.
fn materializing_config(now: &Arc<AtomicI64>) -> TsdbConfig {
    TsdbConfig { rollup_after: Some(Duration::from_secs(3600)), clock: clock(now), ..small_config() }
}

#[test]
fn old_partitions_are_materialized_into_minute_and_hour_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(T0 + 600_000));
    let tsdb = open(dir.path(), materializing_config(&now));
    let s = [labels(&[("__name__", "c_total")])];
    // A counter every 10 s for 3 minutes, reset at 70 s, a stale marker at 130 s.
    let mut v = 100.0;
    let mut samples = Vec::new();
    for i in 0..18i64 {
        let ts = T0 + i * 10_000;
        v = if i == 7 { 2.0 } else { v + 1.5 };
        let value = if i == 13 { f64::from_bits(STALE_MARKER_BITS) } else { v };
        samples.push((ts, value));
    }
    for (ts, value) in &samples {
        commit(&tsdb, batch(None, &s, vec![(0, *ts, *value)]));
    }
    tsdb.flush().unwrap();
    // All sealed, but the partition is fresh: nothing is materialized, queries read raw.
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.rolled_up_until(Tier::Minute), T0);
    assert!(tsdb.select_rollup(Tier::Minute, &[], T0, T0 + HOUR).unwrap().is_empty());
    // An hour after the partition's end, its runs are written and complete.
    now.store(T0 + 3 * HOUR, Ordering::Relaxed);
    tsdb.apply_retention().unwrap();
    // Complete up to the newest sample's bucket (170 s), which a later sample could still join.
    assert_eq!(tsdb.rolled_up_until(Tier::Minute), T0 + 120_000);
    assert_eq!(tsdb.rolled_up_until(Tier::Hour), T0);
    assert_eq!(tsdb.stats().materialized_partitions_total, 1);

    let minutes = tsdb.select_rollup(Tier::Minute, &[], T0, T0 + 3_600_000).unwrap();
    assert_eq!(minutes.len(), 1);
    let points = &minutes[0].points;
    assert_eq!(points.len(), 3);
    for (m, point) in points.iter().enumerate() {
        let start = T0 + m as i64 * 60_000;
        let inside: Vec<(i64, f64)> = samples
            .iter()
            .copied()
            .filter(|(t, v)| *t >= start && *t < start + 60_000 && v.to_bits() != STALE_MARKER_BITS)
            .collect();
        assert_eq!(*point, expected(start, &inside), "minute {m}");
    }
    // Minute 1 (60..120 s) holds the reset: 110.5 at 60 s, 2.0 at 70 s, up to 8.0 at 110 s.
    assert_eq!((points[1].resets, points[1].counter_correction), (1, 110.5));
    assert_eq!(points[1].increase(), 8.0);
    assert_eq!(points[2].count, 5, "the stale marker is left out");

    let hours = tsdb.select_rollup(Tier::Hour, &[Matcher::equal("__name__", "c_total")], T0, T0).unwrap();
    let all: Vec<(i64, f64)> = samples.iter().copied().filter(|(_, v)| v.to_bits() != STALE_MARKER_BITS).collect();
    assert_eq!(hours[0].points, [expected(T0, &all)]);
    // Bucket starts outside the range are not returned.
    assert!(tsdb.select_rollup(Tier::Minute, &[], T0 + 1, T0 + 59_999).unwrap().is_empty());
    tsdb.close().unwrap();
}

/// The point a bucket of these samples must hold, computed the obvious way.
fn expected(start: i64, s: &[(i64, f64)]) -> RollupPoint {
    let n = s.len();
    let mut correction = 0.0;
    let (mut resets, mut changes) = (0, 0);
    for w in s.windows(2) {
        if w[1].1 < w[0].1 {
            resets += 1;
            correction += w[0].1;
        }
        if w[1].1 != w[0].1 {
            changes += 1;
        }
    }
    RollupPoint {
        start_ms: start,
        count: n as u64,
        sum: s.iter().map(|x| x.1).sum(),
        min: s.iter().map(|x| x.1).fold(f64::INFINITY, f64::min),
        max: s.iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max),
        first_ts: s[0].0,
        first_v: s[0].1,
        last_ts: s[n - 1].0,
        last_v: s[n - 1].1,
        prev_last_ts: s[n.saturating_sub(2)].0,
        prev_last_v: s[n.saturating_sub(2)].1,
        counter_correction: correction,
        resets,
        changes,
    }
}

#[test]
fn rollups_from_elsewhere_are_stored_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = open(dir.path(), small_config());
    let remote = labels(&[("__name__", "up"), ("region", "eu")]);
    let mut point = RollupPoint::new(Tier::Minute, T0 + 5_000, 1.0);
    point.push(T0 + 15_000, 0.0);
    let producer = Some(("regional-eu".to_string(), 7));
    let outcome = tsdb.write_rollups(Tier::Minute, vec![(remote.clone(), vec![point])], producer.clone());
    assert!(matches!(outcome.blocking_recv().unwrap().unwrap(), CommitOutcome::Stored { appended: 1, .. }));
    let got = tsdb.select_rollup(Tier::Minute, &[Matcher::equal("region", "eu")], T0, T0).unwrap();
    assert_eq!(got[0].labels, remote);
    assert_eq!(got[0].points, [point]);
    // Listed as the series it is, in a range reaching its newest bucket (not after it).
    let up = [Matcher::equal("__name__", "up")];
    assert_eq!(tsdb.series(&up, T0, T0 + 60_000).unwrap(), std::slice::from_ref(&remote));
    assert_eq!(tsdb.label_values("region", &[], T0 - 3_600_000, T0).unwrap(), ["eu"]);
    assert!(tsdb.series(&up, T0 + 7_200_000, T0 + 7_300_000).unwrap().is_empty());
    // The same seq again is a replay: nothing is written, whatever it carries.
    let mut other = point;
    other.sum = 99.0;
    let outcome = tsdb.write_rollups(Tier::Minute, vec![(remote.clone(), vec![other])], producer);
    assert_eq!(outcome.blocking_recv().unwrap().unwrap(), CommitOutcome::Replay);
    tsdb.close().unwrap();
    let tsdb = open(dir.path(), small_config());
    assert_eq!(tsdb.select_rollup(Tier::Minute, &[], T0, T0).unwrap()[0].points, [point]);
    assert_eq!(tsdb.producer_seq("regional-eu").unwrap(), 7);
    assert!(tsdb.select_rollup(Tier::Hour, &[], T0, T0).unwrap().is_empty());
    assert_eq!(tsdb.label_names(&[], T0, T0 + 60_000).unwrap(), ["__name__", "region"]);
}

#[test]
fn retention_deletes_each_tier_on_its_own_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(T0));
    let clock_now = now.clone();
    let config = TsdbConfig {
        raw_retention: Duration::from_secs(3600),
        minute_retention: Duration::from_secs(4 * 3600),
        hour_retention: Duration::from_secs(10 * 3600),
        clock: Clock::from_fn(move || clock_now.load(Ordering::Relaxed)),
        max_deletes_per_retention_txn: 3,
        ..small_config()
    };
    let tsdb = open(dir.path(), config);
    let old = labels(&[("__name__", "old")]);
    let fresh = labels(&[("__name__", "fresh")]);
    // 20 minutes of "old" at T0; "fresh" keeps reporting.
    for i in 0..120i64 {
        commit(&tsdb, batch(None, std::slice::from_ref(&old), vec![(0, T0 + i * 10_000, i as f64)]));
    }
    tsdb.flush().unwrap();
    // "fresh" may get rollups too once its head is cut by age; count "old" alone.
    let count =
        |tier| tsdb.select_rollup(tier, &[Matcher::equal("__name__", "old")], i64::MIN, i64::MAX).unwrap().len();

    // 3 h later "old"'s partition (T0 to 2 h) has been past the raw retention for an hour:
    // its runs are materialized, then its raw samples deleted.
    now.store(T0 + 3 * 3_600_000, Ordering::Relaxed);
    commit(&tsdb, batch(None, std::slice::from_ref(&fresh), vec![(0, T0 + 3 * 3_600_000, 1.0)]));
    tsdb.apply_retention().unwrap();
    let raw = tsdb.select(&[], i64::MIN, i64::MAX).unwrap();
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].labels, fresh);
    assert_eq!(count(Tier::Minute), 1);
    assert_eq!(count(Tier::Hour), 1);
    assert_eq!(tsdb.series(&[], i64::MIN, i64::MAX).unwrap(), std::slice::from_ref(&fresh));
    assert_eq!(tsdb.stats().series, 2, "old's rollups keep it in the index");
    assert!(tsdb.stats().expired_chunks_total >= 15);

    // 5 h: minute buckets are gone too, hour buckets stay.
    now.store(T0 + 5 * 3_600_000, Ordering::Relaxed);
    // A sample for the deleted partition is refused.
    let late = commit(&tsdb, batch(None, std::slice::from_ref(&old), vec![(0, T0 + 1_900_000, 1.0)]));
    assert!(matches!(late, CommitOutcome::Stored { appended: 0, out_of_order: 1, .. }), "{late:?}");
    tsdb.apply_retention().unwrap();
    assert_eq!(count(Tier::Minute), 0);
    assert_eq!(
        tsdb.select_rollup(Tier::Hour, &[Matcher::equal("__name__", "old")], i64::MIN, i64::MAX).unwrap().len(),
        1
    );

    // 36 h later everything of "old" is gone and the series with it.
    now.store(T0 + 36 * 3_600_000, Ordering::Relaxed);
    commit(&tsdb, batch(None, std::slice::from_ref(&fresh), vec![(0, T0 + 36 * 3_600_000, 1.0)]));
    tsdb.apply_retention().unwrap();
    assert_eq!(
        tsdb.select_rollup(Tier::Hour, &[Matcher::equal("__name__", "old")], i64::MIN, i64::MAX).unwrap().len(),
        0
    );
    let stats = tsdb.stats();
    assert_eq!(stats.series, 1, "{stats:?}");
    // "fresh", silent from 2 h to 36 h, may have been removed and created again meanwhile.
    assert!(stats.removed_series_total >= 1);
    assert_eq!(tsdb.label_values("__name__", &[], i64::MIN, i64::MAX).unwrap(), ["fresh"]);
    tsdb.close().unwrap();

    // The removal is durable, and a new "old" series gets a fresh id and starts empty.
    let tsdb =
        open(dir.path(), TsdbConfig { clock: Clock::from_fn(move || now.load(Ordering::Relaxed)), ..small_config() });
    assert_eq!(tsdb.stats().series, 1);
    let t = T0 + 36 * HOUR;
    commit(&tsdb, batch(None, std::slice::from_ref(&old), vec![(0, t, 5.0)]));
    let data = tsdb.select(&[Matcher::equal("__name__", "old")], i64::MIN, i64::MAX).unwrap();
    assert_eq!(data[0].samples, [(t, 5.0)]);
}

#[test]
fn a_tier_with_zero_retention_is_not_kept_and_what_it_held_goes() {
    let dir = tempfile::tempdir().unwrap();
    let s = [labels(&[("__name__", "g")])];
    let samples: Vec<(u32, i64, f64)> = (0..40i64).map(|i| (0, T0 + i * 10_000, i as f64)).collect();
    // Both tiers first, then the minute tier disabled on the same file.
    let now = Arc::new(AtomicI64::new(T0 + 3 * HOUR));
    let tsdb = open(dir.path(), materializing_config(&now));
    commit(&tsdb, batch(None, &s, samples[..20].to_vec()));
    tsdb.flush().unwrap();
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.select_rollup(Tier::Minute, &[], T0, T0 + HOUR).unwrap()[0].points.len(), 4);
    tsdb.close().unwrap();

    let raw_and_hours = TsdbConfig { minute_retention: Duration::ZERO, ..materializing_config(&now) };
    let tsdb = open(dir.path(), raw_and_hours);
    assert_eq!(tsdb.tiers(), [Tier::Hour]);
    // Late samples in the materialized partition: its runs are redone, each sample once.
    commit(&tsdb, batch(None, &s, samples[20..].to_vec()));
    tsdb.flush().unwrap();
    assert_eq!(tsdb.rolled_up_until(Tier::Minute), i64::MIN);
    assert_eq!(tsdb.rolled_up_until(Tier::Hour), T0);
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.stats().materialized_partitions_total, 1);
    assert!(tsdb.select_rollup(Tier::Minute, &[], T0, T0 + HOUR).unwrap().is_empty());
    let hours = tsdb.select_rollup(Tier::Hour, &[], T0, T0).unwrap();
    assert_eq!(hours[0].points[0].count, 40);
    assert_eq!(tsdb.select(&[], T0, T0 + HOUR).unwrap()[0].samples.len(), 40);
    let err =
        tsdb.write_rollups(Tier::Minute, vec![(s[0].clone(), hours[0].points.clone())], None).blocking_recv().unwrap();
    assert_eq!(err.unwrap_err().to_string(), "the 1m rollup tier is disabled (its retention is 0s)");
    tsdb.close().unwrap();
}

#[test]
fn an_interrupted_materialization_is_redone_without_counting_a_sample_twice() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(T0 + 3 * HOUR));
    // 40 series (three transactions of 16), 100 samples each, counters with resets.
    let series: Vec<_> = (0..40).map(|i| labels(&[("__name__", "c"), ("i", &i.to_string())])).collect();
    let samples = (0..100i64)
        .flat_map(|t| (0..40u32).map(move |s| (s, T0 + t * 10_000, ((t + i64::from(s)) % 37) as f64)))
        .collect();
    let tsdb = open(dir.path(), materializing_config(&now));
    commit(&tsdb, batch(None, &series, samples));
    tsdb.flush().unwrap();
    tsdb.apply_retention().unwrap();
    let read =
        |tsdb: &sysmon_tsdb::Tsdb| Tier::ALL.map(|tier| tsdb.select_rollup(tier, &[], i64::MIN, i64::MAX).unwrap());
    let want = read(&tsdb);
    assert_eq!(want[0].len(), 40);
    assert_eq!(want[0][0].points.iter().map(|p| p.count).sum::<u64>(), 100);
    tsdb.close().unwrap();

    // What a kill -9 after the runs' transactions and before the done mark leaves: the runs,
    // no mark.
    let db = redb::Database::create(dir.path().join("tsdb.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(redb::TableDefinition::<i64, u8>::new("tsdb_rollup_done")).unwrap().remove(T0).unwrap().unwrap();
    txn.commit().unwrap();
    drop(db);

    let tsdb = open(dir.path(), materializing_config(&now));
    // Not complete: queries read raw samples there.
    assert_eq!(tsdb.rolled_up_until(Tier::Minute), T0);
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.rolled_up_until(Tier::Minute), T0 + 960_000);
    assert_eq!(read(&tsdb), want);
    tsdb.close().unwrap();
}

/// The minute points of samples `(ts, v)`, oldest first.
fn minutes_of(samples: &[(i64, f64)]) -> Vec<RollupPoint> {
    let (ts, values): (Vec<i64>, Vec<f64>) = samples.iter().copied().unzip();
    let (mut open, mut points) = (None, Vec::new());
    sysmon_tsdb::fold_samples(Tier::Minute, &ts, &values, &mut open, |p| points.push(p));
    points.extend(open);
    points
}

#[test]
fn received_minutes_are_compacted_into_one_run_per_partition_with_their_hours() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(T0 + 600_000));
    let config = || TsdbConfig { clock: clock(&now), ..small_config() };
    let tsdb = open(dir.path(), config());
    let (a, b) = (labels(&[("__name__", "c_total"), ("host", "a")]), labels(&[("__name__", "c_total"), ("host", "b")]));
    // Counters every 10 s over 2.5 h (two partitions), in whole numbers so that sums are
    // exact; b resets at 50 min and inside minute 70.
    let counter = |reset: &[i64]| -> Vec<(i64, f64)> {
        let mut v = 0.0;
        (0..900i64)
            .map(|i| {
                v = if reset.contains(&i) { 1.0 } else { v + (i % 4) as f64 };
                (T0 + i * 10_000, v)
            })
            .collect()
    };
    let (samples_a, samples_b) = (counter(&[]), counter(&[300, 423]));
    let (minutes_a, minutes_b) = (minutes_of(&samples_a), minutes_of(&samples_b));
    assert_eq!(minutes_b.len(), 150);
    // As a master receives them: every series' minute in its own call.
    let mut seq = 0;
    let mut send = |tsdb: &sysmon_tsdb::Tsdb, series: Vec<(sysmon_tsdb::Labels, Vec<RollupPoint>)>| {
        seq += 1;
        let outcome = tsdb.write_rollups(Tier::Minute, series, Some(("regional-eu".into(), seq)));
        assert!(matches!(outcome.blocking_recv().unwrap().unwrap(), CommitOutcome::Stored { .. }));
    };
    for (ma, mb) in minutes_a.iter().zip(&minutes_b) {
        send(&tsdb, vec![(a.clone(), vec![*ma]), (b.clone(), vec![*mb])]);
    }
    // Sent again, later, with other values: minutes 40 to 45 of a in one run over six runs of
    // one point, then minute 41 alone, into the middle of that run. The later write wins.
    let mut resent: Vec<RollupPoint> = minutes_a[40..46].to_vec();
    for p in &mut resent {
        p.max += 1000.0;
    }
    send(&tsdb, vec![(a.clone(), resent.clone())]);
    let mut again = minutes_a[41];
    again.max += 2000.0;
    send(&tsdb, vec![(a.clone(), vec![again])]);
    let mut want_a = minutes_a.clone();
    want_a[40..46].copy_from_slice(&resent);
    want_a[41] = again;
    let read = |tsdb: &sysmon_tsdb::Tsdb, tier: Tier, host: &str| {
        let got = tsdb.select_rollup(tier, &[Matcher::equal("host", host)], T0, T0 + 3 * HOUR).unwrap();
        got.into_iter().next().map(|s| s.points).unwrap_or_default()
    };
    assert_eq!(read(&tsdb, Tier::Minute, "a"), want_a);
    assert_eq!(read(&tsdb, Tier::Minute, "b"), minutes_b);
    // One run per minute and series; the resent six are one.
    assert_eq!(tsdb.rollup_runs(Tier::Minute).unwrap(), 300 - 5);
    assert_eq!(tsdb.received_hours_complete_before(), T0);

    // The first partition's end is 10 minutes old: compacted, hours put together.
    now.store(T0 + 2 * HOUR + 600_000, Ordering::Relaxed);
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.stats().compacted_partitions_total, 1);
    assert_eq!(tsdb.rollup_runs(Tier::Minute).unwrap(), 2 + 2 * 30);
    assert_eq!(tsdb.rollup_runs(Tier::Hour).unwrap(), 2);
    assert_eq!(tsdb.received_hours_complete_before(), T0 + 2 * HOUR);
    assert_eq!(read(&tsdb, Tier::Minute, "a"), want_a);
    assert_eq!(read(&tsdb, Tier::Minute, "b"), minutes_b);
    // b's hours are what its samples fold into, bit for bit; the later partition has none.
    let (ts, values): (Vec<i64>, Vec<f64>) = samples_b[..720].iter().copied().unzip();
    let (mut open_hour, mut hours_b) = (None, Vec::new());
    sysmon_tsdb::fold_samples(Tier::Hour, &ts, &values, &mut open_hour, |p| hours_b.push(p));
    hours_b.extend(open_hour);
    assert_eq!(format!("{:?}", read(&tsdb, Tier::Hour, "b")), format!("{hours_b:?}"));
    assert_eq!(hours_b[0].resets, 1);
    let hours_a = read(&tsdb, Tier::Hour, "a");
    assert_eq!((hours_a.len(), hours_a[0].count, hours_a[0].max), (2, 360, again.max));

    // A late minute for the compacted partition joins b's run, and its hour is redone.
    let mut late = minutes_b[5];
    late.count += 1;
    late.sum += 1.0;
    send(&tsdb, vec![(b.clone(), vec![late])]);
    assert_eq!(tsdb.received_hours_complete_before(), T0);
    assert_eq!(tsdb.rollup_runs(Tier::Minute).unwrap(), 2 + 2 * 30);
    assert_eq!(read(&tsdb, Tier::Minute, "b")[5], late);
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.received_hours_complete_before(), T0 + 2 * HOUR);
    let hours = read(&tsdb, Tier::Hour, "b");
    assert_eq!((hours[0].count, hours[0].sum), (hours_b[0].count + 1, hours_b[0].sum + 1.0));
    tsdb.close().unwrap();

    // The notes survive a restart: the second partition is compacted once it is old enough.
    let tsdb = open(dir.path(), config());
    assert_eq!(tsdb.received_hours_complete_before(), T0 + 2 * HOUR);
    now.store(T0 + 4 * HOUR + 600_000, Ordering::Relaxed);
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.rollup_runs(Tier::Minute).unwrap(), 4);
    // Both partitions' hours are in the week's one run per series.
    assert_eq!(tsdb.rollup_runs(Tier::Hour).unwrap(), 2);
    assert_eq!(tsdb.received_hours_complete_before(), i64::MAX);
    assert_eq!(read(&tsdb, Tier::Minute, "a"), want_a);
    assert_eq!(read(&tsdb, Tier::Hour, "b").len(), 3);
}

#[test]
fn a_weeks_hours_are_one_run_however_many_partitions_are_materialized_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(T0 + 6 * HOUR));
    let tsdb = open(dir.path(), materializing_config(&now));
    let s = [labels(&[("__name__", "g")]), labels(&[("__name__", "h")])];
    // Every 10 min over two partitions.
    let samples: Vec<(u32, i64, f64)> = (0..24i64).map(|i| (0, T0 + i * 600_000, i as f64)).collect();
    commit(&tsdb, batch(None, &s, samples));
    tsdb.flush().unwrap();
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.stats().materialized_partitions_total, 2);
    assert_eq!(tsdb.rollup_runs(Tier::Hour).unwrap(), 1);
    let hours = |tsdb: &sysmon_tsdb::Tsdb, name: &str| -> Vec<(u64, f64)> {
        let got = tsdb.select_rollup(Tier::Hour, &[Matcher::equal("__name__", name)], T0, T0 + 4 * HOUR).unwrap();
        got[0].points.iter().map(|p| (p.count, p.sum)).collect()
    };
    let g = [(6, 15.0), (6, 51.0), (6, 87.0), (6, 123.0)];
    assert_eq!(hours(&tsdb, "g"), g);
    // A late series in the first partition: the partition is redone, and each series' two
    // hours are replaced within its run, the others kept.
    commit(&tsdb, batch(None, &s, vec![(1, T0 + 1_800_000, 7.0)]));
    tsdb.flush().unwrap();
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.stats().materialized_partitions_total, 3);
    assert_eq!(hours(&tsdb, "g"), g);
    assert_eq!(hours(&tsdb, "h"), [(1, 7.0)]);
    assert_eq!(tsdb.rollup_runs(Tier::Hour).unwrap(), 2);
}

#[test]
fn a_final_week_of_hours_is_packed_reads_the_same_and_takes_later_writes_over_it() {
    const WEEK: i64 = 7 * 86_400_000;
    let week_end = T0 - T0.rem_euclid(WEEK) + WEEK;
    // Six hours of minutes (three partitions), ending two hours before the week does.
    let start = week_end - 8 * HOUR;
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(start + 7 * HOUR));
    let config =
        || TsdbConfig { clock: clock(&now), hour_retention: Duration::from_secs(30 * 86_400), ..small_config() };
    let tsdb = open(dir.path(), config());
    let gauge = |host: &str| labels(&[("__name__", "cpu_busy"), ("host", host)]);
    // Gauges every 10 s with two decimals, as recording rules write them.
    let samples = |seed: i64| -> Vec<(i64, f64)> {
        (0..6 * 360i64).map(|i| (start + i * 10_000, ((i * 37 + seed * 11) % 10_000) as f64 / 100.0)).collect()
    };
    let minutes = [minutes_of(&samples(1)), minutes_of(&samples(2))];
    let mut seq = 0;
    let mut send = |tsdb: &sysmon_tsdb::Tsdb, series: Vec<(sysmon_tsdb::Labels, Vec<RollupPoint>)>| {
        seq += 1;
        let outcome = tsdb.write_rollups(Tier::Minute, series, Some(("regional-eu".into(), seq)));
        assert!(matches!(outcome.blocking_recv().unwrap().unwrap(), CommitOutcome::Stored { .. }));
    };
    for (a, b) in minutes[0].iter().zip(&minutes[1]) {
        send(&tsdb, vec![(gauge("a"), vec![*a]), (gauge("b"), vec![*b])]);
    }
    let hours = |tsdb: &sysmon_tsdb::Tsdb, host: &str| {
        let got =
            tsdb.select_rollup(Tier::Hour, &[Matcher::equal("host", host)], start - WEEK, week_end + WEEK).unwrap();
        format!("{:?}", got.into_iter().next().map(|s| s.points).unwrap_or_default())
    };
    // Compacted, the week not over: its hours are rows.
    now.store(start + 6 * HOUR + 15 * 60_000, Ordering::Relaxed);
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.rollup_rows_and_packed_runs(Tier::Hour).unwrap(), (2, 0));
    let before = [hours(&tsdb, "a"), hours(&tsdb, "b")];
    assert_eq!(before[0].matches("RollupPoint").count(), 6);

    // The week ended 15 minutes ago: packed, and read back bit for bit.
    now.store(week_end + 15 * 60_000, Ordering::Relaxed);
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.rollup_rows_and_packed_runs(Tier::Hour).unwrap(), (0, 2));
    assert_eq!(tsdb.stats().packed_hour_runs_total, 2);
    assert_eq!([hours(&tsdb, "a"), hours(&tsdb, "b")], before);

    // A late minute into the packed week: the hours of its partition are redone (for every
    // series received there) as rows, which win; the other hours still come from the pack.
    let mut late = minutes[0][30];
    late.max = 500.0;
    send(&tsdb, vec![(gauge("a"), vec![late])]);
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.rollup_rows_and_packed_runs(Tier::Hour).unwrap(), (2, 2));
    let got = tsdb.select_rollup(Tier::Hour, &[Matcher::equal("host", "a")], start, week_end).unwrap();
    let maxes: Vec<f64> = got[0].points.iter().map(|p| p.max).collect();
    assert_eq!(maxes.len(), 6);
    assert_eq!(maxes[0], 500.0);
    assert!(maxes[1..].iter().all(|&m| m < 100.0), "{maxes:?}");
    assert_eq!(hours(&tsdb, "b"), before[1]);
    tsdb.close().unwrap();

    // After a restart the packs are found, and the week is not packed again.
    let tsdb = open(dir.path(), config());
    assert_eq!(hours(&tsdb, "b"), before[1]);
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.stats().packed_hour_runs_total, 0);
    assert_eq!(tsdb.rollup_rows_and_packed_runs(Tier::Hour).unwrap(), (2, 2));

    // Retention deletes the packs once the whole week is past the 1-hour cutoff.
    now.store(week_end + 30 * 86_400_000 - HOUR, Ordering::Relaxed);
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.rollup_rows_and_packed_runs(Tier::Hour).unwrap(), (2, 2));
    now.store(week_end + 30 * 86_400_000 + HOUR, Ordering::Relaxed);
    tsdb.apply_retention().unwrap();
    assert_eq!(tsdb.rollup_rows_and_packed_runs(Tier::Hour).unwrap(), (0, 0));
    assert_eq!(hours(&tsdb, "b"), "[]");
    assert_eq!(tsdb.stats().expired_rollup_rows_total, 4);
}
