//! Query limits: samples, series per selector, time.

use std::time::Duration;

use crate::testutil::load;
use crate::{Engine, Error, QueryLimits, Value};

fn data() -> crate::testutil::MemStorage {
    load("load 1m\n  m{i=\"1\"} 1 2 3\n  m{i=\"2\"} 1 2 3\n")
}

#[test]
fn too_many_samples() {
    let engine = Engine::new(QueryLimits { max_samples: 5, ..QueryLimits::default() });
    let err = engine.instant(&data(), "m[5m]", 120_000).unwrap_err();
    assert!(matches!(err, Error::TooManySamples { limit: 5 }), "{err}");
    assert_eq!(err.error_type(), "execution");
    assert!(err.to_string().contains("max_samples_per_query = 5"));
    assert!(engine.instant(&data(), "m{i=\"1\"}", 120_000).is_ok());
}

#[test]
fn too_many_series_names_the_selector() {
    let engine = Engine::new(QueryLimits { max_series_per_selector: 1, ..QueryLimits::default() });
    let err = engine.instant(&data(), "sum(m)", 0).unwrap_err();
    assert_eq!(err.to_string(), "selector m matched 2 series; limit max_series_per_selector = 1");
    assert!(engine.instant(&data(), "m{i=\"1\"}", 0).is_ok());
}

#[test]
fn timeout() {
    let engine = Engine::new(QueryLimits { timeout: Duration::ZERO, ..QueryLimits::default() });
    let err = engine.range(&data(), "m", 0, 120_000, 60_000).unwrap_err();
    assert_eq!(err.error_type(), "timeout");
}

#[test]
fn range_steps_are_checked() {
    let engine = Engine::new(QueryLimits::default());
    assert_eq!(engine.range(&data(), "m", 0, 60_000, 0).unwrap_err().error_type(), "bad_data");
    assert_eq!(engine.range(&data(), "m", 60_000, 0, 1000).unwrap_err().error_type(), "bad_data");
    assert_eq!(engine.range(&data(), "m", 0, 100_000_000, 1000).unwrap_err().error_type(), "bad_data");
}

#[test]
fn huge_subqueries_are_refused_before_allocating() {
    let engine = Engine::new(QueryLimits::default());
    let err = engine.instant(&data(), "max_over_time(m[10000d:1s])", 0).unwrap_err();
    assert!(matches!(err, Error::TooManySamples { .. }), "{err}");
}

#[test]
fn range_functions_over_selectors_keep_every_limit() {
    // These reduce each series as the store reads it (`Storage::select_with`): the limits
    // are counted as when the samples are fetched first.
    let samples = Engine::new(QueryLimits { max_samples: 5, ..QueryLimits::default() });
    let err = samples.instant(&data(), "rate(m[5m])", 120_000).unwrap_err();
    assert!(matches!(err, Error::TooManySamples { limit: 5 }), "{err}");
    assert!(samples.instant(&data(), "rate(m{i=\"1\"}[5m])", 120_000).is_ok());
    let series = Engine::new(QueryLimits { max_series_per_selector: 1, ..QueryLimits::default() });
    let err = series.instant(&data(), "sum(rate(m[5m]))", 120_000).unwrap_err();
    assert_eq!(err.to_string(), "selector m matched 2 series; limit max_series_per_selector = 1");
    let time = Engine::new(QueryLimits { timeout: Duration::ZERO, ..QueryLimits::default() });
    let err = time.range(&data(), "rate(m[5m])", 0, 120_000, 60_000).unwrap_err();
    assert_eq!(err.error_type(), "timeout");
}

#[test]
fn instant_selectors_keep_every_limit() {
    // These too reduce each series as the store reads it: the budget counts each series'
    // samples and its values at every step, as when the samples are fetched first, and the
    // result's points: 2 series x (3 samples + 3 steps + 3 points) = 18.
    let engine = |max_samples| Engine::new(QueryLimits { max_samples, ..QueryLimits::default() });
    let Value::Matrix(series) = engine(18).range(&data(), "m", 0, 120_000, 60_000).unwrap().value else {
        panic!("not a matrix")
    };
    assert_eq!(series.iter().map(|s| s.points.len()).collect::<Vec<_>>(), [3, 3]);
    for max_samples in [17, 11, 5] {
        let err = engine(max_samples).range(&data(), "m", 0, 120_000, 60_000).unwrap_err();
        assert!(matches!(err, Error::TooManySamples { limit } if limit == max_samples), "{err}");
    }
    let series = Engine::new(QueryLimits { max_series_per_selector: 1, ..QueryLimits::default() });
    let err = series.range(&data(), "timestamp(m)", 0, 120_000, 60_000).unwrap_err();
    assert_eq!(err.to_string(), "selector m matched 2 series; limit max_series_per_selector = 1");
}
