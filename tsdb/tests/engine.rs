//! The engine's contract through its public API: commits, outcomes, replays, reads across
//! sealed and head chunks, restarts.

mod util;

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sysmon_tsdb::{CommitOutcome, Labels, Matcher, SampleColumns, TsdbConfig};
use util::{batch, bits, commit, labels, open, small_config};

#[test]
fn stores_counts_rejections_and_drops_replays() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = open(dir.path(), small_config());
    let series = [labels(&[("__name__", "up"), ("host", "a")]), labels(&[("__name__", "up"), ("host", "b")])];
    let outcome =
        commit(&tsdb, batch(Some(("agent-a", 1)), &series, vec![(0, 1000, 1.0), (1, 1000, 2.0), (0, 2000, 1.5)]));
    assert_eq!(outcome, CommitOutcome::Stored { appended: 3, out_of_order: 0, duplicates: 0 });
    assert_eq!(tsdb.producer_seq("agent-a").unwrap(), 1);
    assert_eq!(tsdb.producer_seq("nobody").unwrap(), 0);

    // The same seq again is a replay, whatever it holds.
    let replay = commit(&tsdb, batch(Some(("agent-a", 1)), &series, vec![(0, 9000, 9.0)]));
    assert_eq!(replay, CommitOutcome::Replay);

    // Same time and bits: duplicate; same time, other bits, or older: out of order.
    let outcome = commit(
        &tsdb,
        batch(Some(("agent-a", 2)), &series, vec![(0, 2000, 1.5), (0, 2000, 7.0), (1, 500, 3.0), (1, 3000, 4.0)]),
    );
    assert_eq!(outcome, CommitOutcome::Stored { appended: 1, out_of_order: 2, duplicates: 1 });

    let data = tsdb.select(&[Matcher::equal("__name__", "up")], i64::MIN, i64::MAX).unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0].labels, series[0]);
    assert_eq!(data[0].samples, [(1000, 1.0), (2000, 1.5)]);
    assert_eq!(data[1].samples, [(1000, 2.0), (3000, 4.0)]);
    let stats = tsdb.stats();
    assert_eq!((stats.series, stats.appended_total, stats.out_of_order_total), (2, 4, 2));
    assert_eq!((stats.duplicates_total, stats.replays_total), (1, 1));

    // Malformed batches are refused with the reason.
    let err = tsdb.submit(batch(None, &series, vec![(5, 1, 1.0)])).blocking_recv().unwrap().unwrap_err();
    assert_eq!(err.to_string(), "invalid batch: sample 0 refers to series 5 of 2");
    tsdb.close().unwrap();
}

#[test]
fn reads_merge_sealed_and_head_chunks_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = open(dir.path(), small_config());
    let s = [labels(&[("__name__", "load1"), ("host", "a")])];
    // 8-sample chunks: 3 sealed chunks and 4 samples in the head.
    for i in 0..28i64 {
        commit(&tsdb, batch(None, &s, vec![(0, i * 10_000, i as f64 / 4.0)]));
    }
    tsdb.flush().unwrap();
    for i in 28..31i64 {
        commit(&tsdb, batch(None, &s, vec![(0, i * 10_000, i as f64 / 4.0)]));
    }
    let stats = tsdb.stats();
    assert!(stats.sealed_chunks >= 4, "{stats:?}");
    assert_eq!(stats.head_samples, 3);
    let all = tsdb.select(&[], i64::MIN, i64::MAX).unwrap();
    assert_eq!(all[0].samples.len(), 31);
    let part = tsdb.select(&[Matcher::equal("host", "a")], 75_000, 285_000).unwrap();
    let want: Vec<(i64, f64)> = (8..=28).map(|i| (i * 10_000, i as f64 / 4.0)).collect();
    assert_eq!(part[0].samples, want);
    assert!(tsdb.select(&[], 400_000, 500_000).unwrap().is_empty());
    assert!(tsdb.select(&[], 5, 4).unwrap().is_empty());
    tsdb.close().unwrap();
}

#[test]
fn series_and_label_apis_filter_by_matchers_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = open(dir.path(), small_config());
    let series = [
        labels(&[("__name__", "node_cpu_seconds_total"), ("host", "a"), ("mode", "idle")]),
        labels(&[("__name__", "node_cpu_seconds_total"), ("host", "b"), ("mode", "user")]),
        labels(&[("__name__", "node_load1"), ("host", "c")]),
    ];
    commit(&tsdb, batch(None, &series, vec![(0, 1_000, 1.0), (1, 1_000, 1.0), (2, 50_000, 1.0)]));
    let cpu = [Matcher::equal("__name__", "node_cpu_seconds_total")];
    assert_eq!(tsdb.series(&cpu, 0, 10_000).unwrap(), series[..2].to_vec());
    assert_eq!(tsdb.series(&[], 40_000, 60_000).unwrap(), series[2..].to_vec());
    assert_eq!(tsdb.label_names(&[], 0, 100_000).unwrap(), ["__name__", "host", "mode"]);
    assert_eq!(tsdb.label_names(&[], 40_000, 60_000).unwrap(), ["__name__", "host"]);
    assert_eq!(tsdb.label_values("host", &[], 0, 100_000).unwrap(), ["a", "b", "c"]);
    assert_eq!(
        tsdb.label_values("host", &[Matcher::not_regex("mode", "idle").unwrap()], 0, 100_000).unwrap(),
        ["b", "c"]
    );
    assert_eq!(tsdb.label_values("mode", &cpu, 0, 100_000).unwrap(), ["idle", "user"]);
}

#[test]
fn data_survives_close_and_drop_without_close() {
    let dir = tempfile::tempdir().unwrap();
    let s = [labels(&[("__name__", "x")])];
    {
        let tsdb = open(dir.path(), small_config());
        for i in 0..20i64 {
            commit(&tsdb, batch(Some(("p", i as u64 + 1)), &s, vec![(0, i, i as f64)]));
        }
        tsdb.close().unwrap();
    }
    {
        let tsdb = open(dir.path(), small_config());
        assert_eq!(tsdb.stats().wal_records, 0, "close seals everything and trims the WAL");
        assert_eq!(tsdb.producer_seq("p").unwrap(), 20);
        for i in 20..30i64 {
            commit(&tsdb, batch(Some(("p", i as u64 + 1)), &s, vec![(0, i, i as f64)]));
        }
        // Dropped: the heads are only in the WAL.
    }
    let tsdb = open(dir.path(), small_config());
    let data = tsdb.select(&[], i64::MIN, i64::MAX).unwrap();
    assert_eq!(data[0].samples, (0..30).map(|i| (i, i as f64)).collect::<Vec<_>>());
    assert_eq!(tsdb.producer_seq("p").unwrap(), 30);
    // Samples at or before the last sealed one are still refused after the restart.
    let outcome = commit(&tsdb, batch(None, &s, vec![(0, 29, 29.0), (0, 3, 1.0), (0, 30, 30.0)]));
    assert_eq!(outcome, CommitOutcome::Stored { appended: 1, out_of_order: 1, duplicates: 1 });
}

/// A model of what the engine must hold: every acknowledged sample once, per series.
type Model = BTreeMap<Labels, BTreeMap<i64, u64>>;

fn check(tsdb: &sysmon_tsdb::Tsdb, model: &Model) {
    let data = tsdb.select(&[], i64::MIN, i64::MAX).unwrap();
    let got: Model = data.iter().map(|d| (d.labels.clone(), bits(d).into_iter().collect())).collect();
    let want: Model = model.iter().filter(|(_, s)| !s.is_empty()).map(|(l, s)| (l.clone(), s.clone())).collect();
    assert_eq!(got.len(), want.len());
    for (labels, samples) in &want {
        assert_eq!(got.get(labels), Some(samples), "{labels}");
    }
}

#[test]
fn random_workload_with_restarts_matches_a_model() {
    for seed in [11, 12, 13] {
        random_workload(seed);
    }
}

fn random_workload(seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let all: Vec<Labels> = (0..12)
        .map(|i| labels(&[("__name__", "m"), ("host", &format!("h{}", i % 4)), ("i", &i.to_string())]))
        .collect();
    let mut model: Model = BTreeMap::new();
    let mut last: BTreeMap<Labels, (i64, u64)> = BTreeMap::new();
    let mut seqs: BTreeMap<String, u64> = BTreeMap::new();
    let config = || TsdbConfig { chunk_max_samples: 5, ..small_config() };
    let mut tsdb = open(dir.path(), config());
    for round in 0..80 {
        let producer = format!("agent-{}", rng.random_range(0..3));
        let committed = seqs.get(&producer).copied().unwrap_or(0);
        // Now and then resend an old seq, as an agent does after a crash.
        let seq = if committed > 0 && rng.random_bool(0.15) { committed } else { committed + 1 };
        let series: Vec<Labels> =
            (0..rng.random_range(1..5)).map(|_| all[rng.random_range(0..all.len())].clone()).collect();
        let mut samples = Vec::new();
        for _ in 0..rng.random_range(0..40) {
            let s = rng.random_range(0..series.len()) as u32;
            let ts = round * 1000 + rng.random_range(-1500..1000);
            let v = if rng.random_bool(0.1) {
                f64::from_bits(0x7ff0_0000_0000_0002)
            } else {
                rng.random_range(0..5) as f64
            };
            samples.push((s, ts, v));
        }
        let outcome = commit(&tsdb, batch(Some((&producer, seq)), &series, samples.clone()));
        if seq <= committed {
            assert_eq!(outcome, CommitOutcome::Replay);
        } else {
            seqs.insert(producer, seq);
            let (mut appended, mut ooo, mut dup) = (0, 0, 0);
            for (s, ts, v) in samples {
                let labels = &series[s as usize];
                match last.get(labels) {
                    Some(&(lt, lb)) if ts == lt && v.to_bits() == lb => dup += 1,
                    Some(&(lt, _)) if ts <= lt => ooo += 1,
                    _ => {
                        appended += 1;
                        last.insert(labels.clone(), (ts, v.to_bits()));
                        model.entry(labels.clone()).or_default().insert(ts, v.to_bits());
                    }
                }
            }
            assert_eq!(
                outcome,
                CommitOutcome::Stored { appended, out_of_order: ooo, duplicates: dup },
                "round {round}"
            );
        }
        match rng.random_range(0..10) {
            0 => {
                drop(tsdb);
                tsdb = open(dir.path(), config());
                check(&tsdb, &model);
            }
            1 => {
                tsdb.close().unwrap();
                tsdb = open(dir.path(), config());
                check(&tsdb, &model);
            }
            2 => tsdb.flush().unwrap(),
            _ => {}
        }
    }
    check(&tsdb, &model);
    for (producer, seq) in &seqs {
        assert_eq!(tsdb.producer_seq(producer).unwrap(), *seq);
    }
}

#[test]
fn corrupt_records_are_reported_with_what_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let s = [labels(&[("__name__", "x")])];
    {
        let tsdb = open(dir.path(), small_config());
        for i in 0..20i64 {
            commit(&tsdb, batch(None, &s, vec![(0, i * 1000, i as f64)]));
        }
        tsdb.flush().unwrap();
        commit(&tsdb, batch(None, &s, vec![(0, 50_000, 1.0)]));
        // Dropped: the last sample lives only in the WAL.
    }
    let db = redb::Database::create(dir.path().join("tsdb.redb")).unwrap();
    let wal: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("tsdb_wal");
    // (time partition, series, first sample ts).
    let chunks: redb::TableDefinition<(i64, u64, i64), &[u8]> = redb::TableDefinition::new("tsdb_chunks");
    let txn = db.begin_write().unwrap();
    let record = {
        use redb::ReadableTable as _;
        let mut table = txn.open_table(wal).unwrap();
        let record = table.iter().unwrap().next_back().unwrap().unwrap().0.value();
        table.insert(record, [0u8, 1, 2].as_slice()).unwrap();
        txn.open_table(chunks).unwrap().insert((0, 1, 0), [0x80u8, 9].as_slice()).unwrap();
        record
    };
    txn.commit().unwrap();
    let err = sysmon_tsdb::Tsdb::open(std::sync::Arc::new(db), small_config()).err().unwrap();
    assert!(err.to_string().starts_with(&format!("corrupt write-ahead log record {record}: ")), "{err}");

    // Without the bad record, the bad chunk is reported by the read that meets it.
    let db = redb::Database::create(dir.path().join("tsdb.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(wal).unwrap().remove(record).unwrap();
    txn.commit().unwrap();
    let tsdb = sysmon_tsdb::Tsdb::open(std::sync::Arc::new(db), small_config()).unwrap();
    let err = tsdb.select(&[], i64::MIN, i64::MAX).unwrap_err();
    assert!(err.to_string().starts_with("corrupt chunk of series 1 starting at 0: "), "{err}");
}

#[test]
fn a_lagging_sealer_makes_submit_refuse_until_it_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let config = TsdbConfig {
        chunk_max_samples: 1,
        max_pending_seal_chunks: 1,
        // The sealer only works when asked.
        seal_interval: std::time::Duration::from_secs(3600),
        ..small_config()
    };
    let tsdb = open(dir.path(), config);
    let s = [labels(&[("__name__", "x")])];
    assert!(tsdb.has_room_for(1));
    // A full chunk is cut when the next sample comes: the third sample leaves two waiting.
    for ts in 1..=3 {
        commit(&tsdb, batch(None, &s, vec![(0, ts, 1.0)]));
    }
    // A caller that can wait sees the lag before it submits.
    assert!(!tsdb.has_room_for(1));
    let err = tsdb.submit(batch(None, &s, vec![(0, 4, 1.0)])).blocking_recv().unwrap().unwrap_err();
    assert_eq!(err.to_string(), "write queue is full: 2 unsealed chunks waiting; limit max_pending_seal_chunks = 1");
    assert_eq!(tsdb.stats().refused_batches_total, 1);
    tsdb.flush().unwrap();
    assert!(tsdb.has_room_for(1));
    commit(&tsdb, batch(None, &s, vec![(0, 4, 1.0)]));
    assert_eq!(tsdb.select(&[], 0, 10).unwrap()[0].samples.len(), 4);
}

#[test]
fn packed_partitions_and_late_chunks_read_back_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = || TsdbConfig { chunk_max_samples: 5, ..small_config() };
    let tsdb = open(dir.path(), config());
    let s = [labels(&[("__name__", "m")]), labels(&[("__name__", "n")])];
    let samples = |from: i64, to: i64| -> Vec<(u32, i64, f64)> {
        (from..to).map(|i| ((i % 2) as u32, i - 15, i as f64)).collect()
    };
    let want = |to: i64| -> Vec<Vec<(i64, u64)>> {
        (0..2).map(|k| (0..to).filter(|i| i % 2 == k).map(|i| (i - 15, (i as f64).to_bits())).collect()).collect()
    };
    let read = |tsdb: &sysmon_tsdb::Tsdb| -> Vec<Vec<(i64, u64)>> {
        tsdb.select(&[], i64::MIN, i64::MAX).unwrap().iter().map(bits).collect()
    };
    // Two partitions (before and after time 0), packed once sealed.
    commit(&tsdb, batch(None, &s, samples(0, 30)));
    tsdb.flush().unwrap();
    assert_eq!(read(&tsdb), want(30));
    // Later chunks of a packed partition go to the chunk table; reads merge both.
    commit(&tsdb, batch(None, &s, samples(30, 40)));
    tsdb.flush().unwrap();
    assert_eq!(read(&tsdb), want(40));
    assert_eq!(tsdb.select(&[], -5, 5).unwrap()[0].samples, [-5, -3, -1, 1, 3, 5].map(|t| (t, (t + 15) as f64)));
    let chunks = tsdb.stats().sealed_chunks;
    tsdb.close().unwrap();
    let tsdb = open(dir.path(), config());
    assert_eq!(read(&tsdb), want(40));
    assert_eq!(tsdb.stats().sealed_chunks, chunks);
}

#[test]
fn a_partition_in_many_packs_reads_back_whole_and_by_matcher() {
    let dir = tempfile::tempdir().unwrap();
    let config = || TsdbConfig { chunk_max_samples: 720, ..small_config() };
    let tsdb = open(dir.path(), config());
    // 100 series of 200 random values: chunks of about 1.6 KB, several 32 KiB packs.
    let series: Vec<Labels> = (0..100).map(|i| labels(&[("__name__", "r"), ("i", &format!("{i:03}"))])).collect();
    let mut rng = StdRng::seed_from_u64(7);
    let samples: Vec<(u32, i64, f64)> = (0..200i64)
        .flat_map(|t| (0..100u32).map(move |s| (s, t * 10_000, 0.0)))
        .map(|(s, t, _)| (s, t, f64::from_bits(rng.random::<u64>() >> 2)))
        .collect();
    commit(&tsdb, batch(None, &series, samples.clone()));
    tsdb.flush().unwrap();
    let want =
        |s: u32| -> Vec<(i64, u64)> { samples.iter().filter(|x| x.0 == s).map(|x| (x.1, x.2.to_bits())).collect() };
    tsdb.close().unwrap();
    let tsdb = open(dir.path(), config());
    let all = tsdb.select(&[], i64::MIN, i64::MAX).unwrap();
    assert_eq!(all.len(), 100);
    for (s, data) in all.iter().enumerate() {
        assert_eq!(bits(data), want(s as u32), "series {s}");
    }
    // Every fifth series, and a time range inside the partition.
    let some = tsdb.select(&[Matcher::regex("i", ".*[05]").unwrap()], 500_000, 900_000).unwrap();
    assert_eq!(some.len(), 20);
    for data in &some {
        let s: u32 = data.labels.get("i").unwrap().parse().unwrap();
        let want: Vec<(i64, u64)> = want(s).into_iter().filter(|(t, _)| (500_000..=900_000).contains(t)).collect();
        assert_eq!(bits(data), want, "series {s}");
    }
}

#[test]
fn series_far_apart_in_many_packs_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = || TsdbConfig { chunk_max_samples: 720, ..small_config() };
    let tsdb = open(dir.path(), config());
    // 400 series of 200 random values: about 20 packs, so reads of a few series far apart
    // seek past packs rather than step through them.
    let series: Vec<Labels> = (0..400).map(|i| labels(&[("__name__", "r"), ("i", &format!("{i:03}"))])).collect();
    let mut rng = StdRng::seed_from_u64(11);
    let samples: Vec<(u32, i64, f64)> = (0..200i64)
        .flat_map(|t| (0..400u32).map(move |s| (s, t * 10_000)))
        .map(|(s, t)| (s, t, f64::from_bits(rng.random::<u64>() >> 2)))
        .collect();
    commit(&tsdb, batch(None, &series, samples.clone()));
    tsdb.flush().unwrap();
    tsdb.close().unwrap();
    let tsdb = open(dir.path(), config());
    let want =
        |s: u32| -> Vec<(i64, u64)> { samples.iter().filter(|x| x.0 == s).map(|x| (x.1, x.2.to_bits())).collect() };
    for s in [0, 1, 42, 199, 200, 398, 399] {
        let one = tsdb.select(&[Matcher::equal("i", format!("{s:03}"))], i64::MIN, i64::MAX).unwrap();
        assert_eq!(one.iter().map(bits).collect::<Vec<_>>(), [want(s)], "series {s}");
    }
    let picked = [0, 1, 2, 60, 61, 250, 251, 252, 253, 254, 255, 390, 399];
    let pattern = picked.map(|s| format!("{s:03}")).join("|");
    let some = tsdb.select(&[Matcher::regex("i", &pattern).unwrap()], i64::MIN, i64::MAX).unwrap();
    assert_eq!(some.iter().map(bits).collect::<Vec<_>>(), picked.map(want));
}

#[test]
fn select_with_reduces_what_select_returns_on_every_thread() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = open(dir.path(), small_config());
    // 300 series (enough to decode on several threads), sealed chunks then head samples.
    let series: Vec<Labels> = (0..300).map(|i| labels(&[("__name__", "w"), ("i", &format!("{i:03}"))])).collect();
    let at = |from: i64| -> Vec<(u32, i64, f64)> {
        (from..from + 50)
            .flat_map(|t| (0..300u32).map(move |s| (s, t * 10_000, f64::from(s) * 1e3 + t as f64)))
            .collect()
    };
    commit(&tsdb, batch(None, &series, at(0)));
    tsdb.flush().unwrap();
    commit(&tsdb, batch(None, &series, at(50)));
    let (start, end) = (200_000, 700_000);
    // Series with an odd index are left out; the others give their samples' sum and count.
    let reduce = |labels: &Labels, samples: SampleColumns<'_>| {
        let i: u32 = labels.get("i").unwrap().parse().unwrap();
        i.is_multiple_of(2).then(|| (samples.values().iter().sum::<f64>(), samples.len()))
    };
    let got = tsdb.select_with(&[], start, end, &reduce).unwrap();
    let want: Vec<(Labels, (f64, usize))> = tsdb
        .select(&[], start, end)
        .unwrap()
        .into_iter()
        .filter_map(|s| {
            let (ts, values): (Vec<i64>, Vec<f64>) = s.samples.iter().copied().unzip();
            Some((s.labels.clone(), reduce(&s.labels, SampleColumns::new(&ts, &values))?))
        })
        .collect();
    assert_eq!(got.len(), 150);
    assert_eq!(got, want);
    assert_eq!(got[1].1, ((20..=70).map(|t| 2e3 + f64::from(t)).sum(), 51));
}

#[test]
fn a_store_of_the_previous_format_is_upgraded_and_a_newer_one_refused() {
    use redb::ReadableDatabase as _;
    let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("tsdb_meta");
    let set_format = |dir: &std::path::Path, format: u64| {
        let db = redb::Database::create(dir.join("tsdb.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(meta).unwrap().insert("format_version", format).unwrap();
        txn.commit().unwrap();
    };
    let dir = tempfile::tempdir().unwrap();
    let tsdb = open(dir.path(), small_config());
    let s = [labels(&[("__name__", "up")])];
    commit(&tsdb, batch(None, &s, vec![(0, 1_700_000_000_000, 1.0)]));
    tsdb.close().unwrap();
    // Format 3 (before packed weeks of hours) reads the same: upgraded at open.
    set_format(dir.path(), 3);
    let tsdb = open(dir.path(), small_config());
    assert_eq!(tsdb.select(&[Matcher::equal("__name__", "up")], i64::MIN, i64::MAX).unwrap().len(), 1);
    tsdb.close().unwrap();
    {
        let db = redb::Database::create(dir.path().join("tsdb.redb")).unwrap();
        let txn = db.begin_read().unwrap();
        assert_eq!(txn.open_table(meta).unwrap().get("format_version").unwrap().unwrap().value(), 4);
    }
    // A later build's file is refused, with what to do.
    set_format(dir.path(), 5);
    let db = redb::Database::create(dir.path().join("tsdb.redb")).unwrap();
    let err = sysmon_tsdb::Tsdb::open(std::sync::Arc::new(db), small_config()).err().unwrap();
    assert_eq!(
        err.to_string(),
        "the store's tsdb tables are format 5, this build reads format 4 (and upgrades the one before) only; move the data directory aside to start a fresh store"
    );
}
