//! Functions over range vectors, with values worked out by hand.

use crate::testutil::{instant, instant_error, load, range};

fn data() -> crate::testutil::MemStorage {
    load(
        r#"
        load 1m
          http_requests{job="api"} 0+10x10
          late _ _ 100 110 120
          small _ _ 1 11 21
          counter_reset 0 10 20 5 15
          gauge 1 4 2 8 5
          flat 1 1 2 2 NaN NaN
          gone{job="a"} 1 2 stale
        "#,
    )
}

#[test]
fn rate_extrapolates_to_the_window_edges() {
    let s = data();
    assert_eq!(instant(&s, "rate(http_requests[5m])", 300), ["{job=\"api\"} 0.166666666667"]);
    // Window [30 s, 330 s]: 40 over 240 s sampled, extrapolated 30 s each way.
    assert_eq!(instant(&s, "rate(http_requests[5m])", 330), ["{job=\"api\"} 0.166666666667"]);
    assert_eq!(instant(&s, "increase(http_requests[5m])", 330), ["{job=\"api\"} 50"]);
    assert_eq!(range(&s, "increase(http_requests[2m])", 120, 600, 240), ["{job=\"api\"} 20@120 20@360 20@600"]);
}

#[test]
fn rate_extrapolates_only_half_an_interval_past_a_gap() {
    let s = data();
    // First sample 180 s after the window start (> 1.1 * 60 s): only 30 s are added.
    assert_eq!(instant(&s, "increase(late[5m])", 240), ["{} 25"]);
    assert_eq!(instant(&s, "rate(late[5m])", 240), ["{} 0.0833333333333"]);
}

#[test]
fn counters_are_not_extrapolated_below_zero() {
    let s = data();
    // The counter would reach zero 6 s before its first sample.
    assert_eq!(instant(&s, "increase(small[5m])", 240), ["{} 21"]);
    // delta is for gauges: no zero point.
    assert_eq!(instant(&s, "delta(small[5m])", 240), ["{} 25"]);
}

#[test]
fn counter_resets_are_corrected() {
    let s = data();
    assert_eq!(instant(&s, "increase(counter_reset[4m])", 240), ["{} 35"]);
    assert_eq!(instant(&s, "resets(counter_reset[4m])", 240), ["{} 1"]);
    assert_eq!(instant(&s, "irate(counter_reset[4m])", 240), ["{} 0.166666666667"]);
    assert_eq!(instant(&s, "irate(counter_reset[4m])", 180), ["{} 0.0833333333333"]);
    assert_eq!(instant(&s, "idelta(gauge[4m])", 240), ["{} -3"]);
    assert_eq!(instant(&s, "delta(gauge[4m])", 240), ["{} 4"]);
}

#[test]
fn fewer_than_two_samples_give_nothing() {
    let s = data();
    assert!(instant(&s, "rate(gauge[30s])", 240).is_empty());
    assert!(instant(&s, "irate(gauge[30s])", 240).is_empty());
    assert!(instant(&s, "deriv(gauge[30s])", 240).is_empty());
    assert_eq!(instant(&s, "count_over_time(gauge[30s])", 240), ["{} 1"]);
    assert!(instant(&s, "count_over_time(gauge[30s])", 1000).is_empty());
}

#[test]
fn regression_functions() {
    let s = data();
    assert_eq!(instant(&s, "deriv(http_requests[5m])", 300), ["{job=\"api\"} 0.166666666667"]);
    assert_eq!(instant(&s, "predict_linear(http_requests[5m], 60)", 300), ["{job=\"api\"} 60"]);
    assert_eq!(instant(&s, "predict_linear(http_requests[5m], 60)", 330), ["{job=\"api\"} 65"]);
}

#[test]
fn over_time_aggregates() {
    let s = data();
    let at = |q: &str| instant(&s, q, 240);
    assert_eq!(at("avg_over_time(gauge[4m])"), ["{} 4"]);
    assert_eq!(at("min_over_time(gauge[4m])"), ["{} 1"]);
    assert_eq!(at("max_over_time(gauge[4m])"), ["{} 8"]);
    assert_eq!(at("sum_over_time(gauge[4m])"), ["{} 20"]);
    assert_eq!(at("count_over_time(gauge[4m])"), ["{} 5"]);
    assert_eq!(at("last_over_time(gauge[4m])"), ["gauge{} 5"]);
    assert_eq!(at("quantile_over_time(0.5, gauge[4m])"), ["{} 4"]);
    assert_eq!(at("quantile_over_time(0.75, gauge[4m])"), ["{} 5"]);
    assert_eq!(at("quantile_over_time(2, gauge[4m])"), ["{} inf"]);
    assert_eq!(at("stdvar_over_time(gauge[4m])"), ["{} 6"]);
    assert_eq!(at("stddev_over_time(gauge[4m])"), ["{} 2.44948974278"]);
    assert_eq!(at("present_over_time(gauge[4m])"), ["{} 1"]);
    assert_eq!(at("changes(gauge[4m])"), ["{} 4"]);
    assert_eq!(instant(&s, "changes(flat[5m])", 300), ["{} 2"]);
}

#[test]
fn nan_in_min_and_max_over_time() {
    let s = load("load 1m\n x NaN 1 NaN 3\n");
    assert_eq!(instant(&s, "max_over_time(x[3m])", 180), ["{} 3"]);
    assert_eq!(instant(&s, "min_over_time(x[3m])", 180), ["{} 1"]);
    assert_eq!(instant(&s, "max_over_time(x[1m])", 60), ["{} 1"]);
    assert_eq!(instant(&s, "avg_over_time(x[3m])", 180), ["{} NaN"]);
}

#[test]
fn stale_markers_are_not_samples() {
    let s = data();
    assert_eq!(instant(&s, "count_over_time(gone[5m])", 180), ["{job=\"a\"} 2"]);
    assert_eq!(instant(&s, "last_over_time(gone[5m])", 180), ["gone{job=\"a\"} 2"]);
}

#[test]
fn absent_over_time_names_the_missing_series() {
    let s = data();
    assert_eq!(instant(&s, "absent_over_time(nonexistent{job=\"x\", a=~\"b\"}[1m])", 0), ["{job=\"x\"} 1"]);
    assert!(instant(&s, "absent_over_time(gauge[1m])", 0).is_empty());
    assert_eq!(range(&s, "absent_over_time(gauge[1m])", 240, 420, 60), ["{} 1@360 1@420"]);
}

#[test]
fn holt_winters_smooths() {
    let s = data();
    assert_eq!(instant(&s, "holt_winters(gauge[4m], 0.5, 0.5)", 240), ["{} 7.15625"]);
    let err = instant_error(&s, "holt_winters(gauge[4m], 1, 0.5)", 240);
    assert_eq!(err.error_type(), "execution");
}

#[test]
fn equal_label_sets_after_dropping_the_name_are_an_error() {
    let s = data();
    let err = instant_error(&s, "count_over_time({__name__=~\"gauge|flat\"}[1m])", 0);
    assert_eq!(err.to_string(), "vector cannot contain metrics with the same labelset");
    assert_eq!(err.error_type(), "execution");
}

#[test]
fn at_pins_the_window() {
    let s = data();
    assert_eq!(range(&s, "increase(http_requests[2m] @ 120)", 0, 600, 300), ["{job=\"api\"} 20@0 20@300 20@600"]);
    assert_eq!(instant(&s, "sum_over_time(gauge[1m] @ 180 offset 1m)", 0), ["{} 6"]);
}

#[test]
fn predict_linear_with_at_moves_its_window_as_prometheus_2_42_does() {
    let s = load("load 1m\n  x 0+10x20\n");
    // The window ends at 300 s + (step - start), over the samples of [180 s, 300 s] only.
    assert_eq!(range(&s, "predict_linear(x[2m] @ 300, 0)", 0, 240, 60), ["{} 0@0 10@60"]);
    assert_eq!(instant(&s, "predict_linear(x[2m] @ 300, 0)", 600), ["{} 100"]);
}

#[test]
fn extrapolation_threshold_compares_as_prometheus_rounds() {
    // 3.3 s to the window start against 1.1 * 3 s, which is 3.3000000000000003 in floats:
    // the gap counts as close, so delta extrapolates all the way (exact arithmetic would
    // add only half an interval and give 7.5).
    let s = load("load 3s\n  x 0 3 6\n");
    assert_eq!(instant(&s, "delta(x[9300ms])", 6), ["{} 9.3"]);
    // 11 s against 1.1 * 10 s, exactly 11 in floats: not close.
    let s = load("load 10s\n  x 0 10 20\n");
    assert_eq!(instant(&s, "delta(x[31s])", 20), ["{} 25"]);
}
