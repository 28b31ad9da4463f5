//! Instant and range selectors: lookback, staleness, offset and `@`.

use crate::Value;
use crate::testutil::{engine, instant, load, range};

fn data() -> crate::testutil::MemStorage {
    load(
        r#"
        load 1m
          metric{job="a"} 1 2 3 4 5
          metric{job="b"} 10 _ _ _ _ _ _ _ 90
          gone{job="a"} 1 2 stale
          other 7
        "#,
    )
}

#[test]
fn instant_selector_takes_the_latest_sample_within_lookback() {
    let s = data();
    assert_eq!(instant(&s, "metric", 150), ["metric{job=\"a\"} 3", "metric{job=\"b\"} 10"]);
    // 5 m lookback is closed: the sample at 0 is still seen at exactly 300 s.
    assert_eq!(instant(&s, "metric{job=\"b\"}", 300), ["metric{job=\"b\"} 10"]);
    assert!(instant(&s, "metric{job=\"b\"}", 301).is_empty());
    assert_eq!(instant(&s, "metric{job=\"b\"}", 480), ["metric{job=\"b\"} 90"]);
    assert!(instant(&s, "metric", -1).is_empty());
}

#[test]
fn stale_marker_ends_a_series_at_once() {
    let s = data();
    assert_eq!(instant(&s, "gone", 119), ["gone{job=\"a\"} 2"]);
    assert!(instant(&s, "gone", 120).is_empty());
    assert!(instant(&s, "gone", 200).is_empty());
}

#[test]
fn matchers_select_series() {
    let s = data();
    assert_eq!(instant(&s, "metric{job!=\"a\"}", 0), ["metric{job=\"b\"} 10"]);
    assert_eq!(instant(&s, "metric{job=~\"a|c\"}", 0), ["metric{job=\"a\"} 1"]);
    assert_eq!(instant(&s, "metric{job!~\"a\"}", 0), ["metric{job=\"b\"} 10"]);
    assert_eq!(instant(&s, "{__name__=~\"oth.*\"}", 0), ["other{} 7"]);
    assert_eq!(instant(&s, "metric{job=~\"\"}", 0), Vec::<String>::new());
    assert_eq!(instant(&s, "other{job=\"\"}", 0), ["other{} 7"]);
}

#[test]
fn offset_and_at_shift_the_read_time() {
    let s = data();
    assert_eq!(instant(&s, "metric{job=\"a\"} offset 2m", 240), ["metric{job=\"a\"} 3"]);
    assert_eq!(instant(&s, "metric{job=\"a\"} offset -1m", 60), ["metric{job=\"a\"} 3"]);
    assert_eq!(instant(&s, "metric{job=\"a\"} @ 60", 10_000), ["metric{job=\"a\"} 2"]);
    assert_eq!(instant(&s, "metric{job=\"a\"} @ 180 offset 1m", 0), ["metric{job=\"a\"} 3"]);
    assert_eq!(range(&s, "metric{job=\"a\"} @ start()", 60, 180, 60), ["metric{job=\"a\"} 2@60 2@120 2@180"]);
    assert_eq!(range(&s, "metric{job=\"a\"} @ end()", 60, 180, 60), ["metric{job=\"a\"} 4@60 4@120 4@180"]);
}

#[test]
fn range_query_gives_one_point_per_step() {
    let s = data();
    assert_eq!(
        range(&s, "metric", 0, 600, 120),
        ["metric{job=\"a\"} 1@0 3@120 5@240 5@360 5@480", "metric{job=\"b\"} 10@0 10@120 10@240 90@480 90@600"]
    );
}

#[test]
fn range_selector_in_an_instant_query_gives_raw_samples() {
    let s = data();
    // [t - r, t] closed on both ends.
    assert_eq!(instant(&s, "metric{job=\"a\"}[2m]", 180), ["metric{job=\"a\"} 2@60 3@120 4@180"]);
    assert_eq!(instant(&s, "gone[5m]", 180), ["gone{job=\"a\"} 1@0 2@60"]);
    assert_eq!(instant(&s, "metric{job=\"a\"}[1m] offset 1m", 180), ["metric{job=\"a\"} 2@60 3@120"]);
    let err = engine().range(&s, "metric[1m]", 0, 60, 60).unwrap_err();
    assert_eq!(err.error_type(), "bad_data");
}

#[test]
fn scalars_and_strings() {
    let s = data();
    assert_eq!(instant(&s, "1 + 2 * 3", 0), ["scalar 7"]);
    assert_eq!(instant(&s, "-2 ^ 2", 0), ["scalar -4"]);
    assert_eq!(instant(&s, "2 ^ 3 ^ 2", 0), ["scalar 512"]);
    assert_eq!(instant(&s, "\"hello\"", 0), ["string hello"]);
    assert_eq!(range(&s, "time()", 0, 120, 60), ["{} 0@0 60@60 120@120"]);
    let r = engine().instant(&s, "1", 5000).unwrap();
    assert_eq!(r.value, Value::Scalar(5000, 1.0));
    assert_eq!(engine().range(&s, "\"x\"", 0, 60, 60).unwrap_err().error_type(), "bad_data");
}

#[test]
fn bad_queries_are_bad_data() {
    let s = data();
    for q in ["sum(", "rate(metric)", "{job=\"\"}", "metric{job=~\"(\"}", "nonexistent_function(metric)", "2 > 1"] {
        let err = engine().instant(&s, q, 0).unwrap_err();
        assert_eq!(err.error_type(), "bad_data", "{q}: {err}");
    }
}
