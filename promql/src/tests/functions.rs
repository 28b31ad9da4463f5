//! Functions over instant vectors and scalars.

use crate::testutil::{instant, instant_error, load, range};

fn data() -> crate::testutil::MemStorage {
    load(
        r#"
        load 1m
          temp{host="a"} -1.5 2.5
          temp{host="b"} 3.7 NaN
          up{job="x", instance="h:9100"} 1
          req_bucket{job="a", le="0.1"} 10
          req_bucket{job="a", le="0.5"} 20
          req_bucket{job="a", le="1"} 30
          req_bucket{job="a", le="+Inf"} 40
        "#,
    )
}

#[test]
fn math_drops_the_metric_name() {
    let s = data();
    assert_eq!(instant(&s, "abs(temp)", 0), ["{host=\"a\"} 1.5", "{host=\"b\"} 3.7"]);
    assert_eq!(instant(&s, "ceil(temp)", 0), ["{host=\"a\"} -1", "{host=\"b\"} 4"]);
    assert_eq!(instant(&s, "floor(temp)", 0), ["{host=\"a\"} -2", "{host=\"b\"} 3"]);
    assert_eq!(instant(&s, "sgn(temp)", 0), ["{host=\"a\"} -1", "{host=\"b\"} 1"]);
    assert_eq!(instant(&s, "sqrt(vector(16))", 0), ["{} 4"]);
    assert_eq!(instant(&s, "exp(vector(0))", 0), ["{} 1"]);
    assert_eq!(instant(&s, "ln(vector(1))", 0), ["{} 0"]);
    assert_eq!(instant(&s, "log2(vector(8))", 0), ["{} 3"]);
    assert_eq!(instant(&s, "log10(vector(1000))", 0), ["{} 3"]);
    assert_eq!(instant(&s, "deg(pi() * vector(1))", 0), ["{} 180"]);
}

#[test]
fn rounding_and_clamping() {
    let s = data();
    // Ties round up.
    assert_eq!(instant(&s, "round(temp)", 0), ["{host=\"a\"} -1", "{host=\"b\"} 4"]);
    assert_eq!(instant(&s, "round(temp, 0.5)", 60), ["{host=\"a\"} 2.5", "{host=\"b\"} NaN"]);
    assert_eq!(instant(&s, "clamp(temp, 0, 3)", 0), ["{host=\"a\"} 0", "{host=\"b\"} 3"]);
    assert!(instant(&s, "clamp(temp, 3, 0)", 0).is_empty());
    assert_eq!(instant(&s, "clamp_min(temp, 0)", 60), ["{host=\"a\"} 2.5", "{host=\"b\"} NaN"]);
    assert_eq!(instant(&s, "clamp_max(temp, 0)", 0), ["{host=\"a\"} -1.5", "{host=\"b\"} 0"]);
}

#[test]
fn time_and_timestamps() {
    let s = data();
    assert_eq!(instant(&s, "time()", 90), ["scalar 90"]);
    assert_eq!(instant(&s, "timestamp(temp)", 90), ["{host=\"a\"} 60", "{host=\"b\"} 60"]);
    assert_eq!(instant(&s, "timestamp(temp offset 1m)", 90), ["{host=\"a\"} 0", "{host=\"b\"} 0"]);
    assert_eq!(instant(&s, "timestamp(abs(temp))", 90), ["{host=\"a\"} 90", "{host=\"b\"} 90"]);
    assert_eq!(range(&s, "timestamp(up)", 0, 120, 60), ["{instance=\"h:9100\", job=\"x\"} 0@0 0@60 0@120"]);
}

#[test]
fn vector_and_scalar() {
    let s = data();
    assert_eq!(instant(&s, "vector(scalar(temp{host=\"a\"}))", 0), ["{} -1.5"]);
    assert_eq!(instant(&s, "scalar(temp)", 0), ["scalar NaN"]);
    assert_eq!(instant(&s, "scalar(nonexistent)", 0), ["scalar NaN"]);
}

#[test]
fn calendar_functions() {
    let s = data();
    assert_eq!(instant(&s, "hour(vector(18420))", 0), ["{} 5"]);
    assert_eq!(instant(&s, "minute(vector(18420))", 0), ["{} 7"]);
    assert_eq!(instant(&s, "year()", 0), ["{} 1970"]);
    assert_eq!(instant(&s, "day_of_week()", 0), ["{} 4"]);
    assert_eq!(instant(&s, "days_in_month(vector(2678401))", 0), ["{} 28"]);
    assert_eq!(instant(&s, "month(vector(2678400))", 0), ["{} 2"]);
    assert_eq!(instant(&s, "day_of_month(timestamp(temp))", 60), ["{host=\"a\"} 1", "{host=\"b\"} 1"]);
}

#[test]
fn label_replace_and_join() {
    let s = data();
    assert_eq!(
        instant(&s, r#"label_replace(up, "port", "$1", "instance", ".*:(\\d+)")"#, 0),
        ["up{instance=\"h:9100\", job=\"x\", port=\"9100\"} 1"]
    );
    assert_eq!(instant(&s, r#"label_replace(up, "job", "", "job", ".*")"#, 0), ["up{instance=\"h:9100\"} 1"]);
    assert_eq!(
        instant(&s, r#"label_replace(up, "copy", "$0", "job", "nomatch")"#, 0),
        ["up{instance=\"h:9100\", job=\"x\"} 1"]
    );
    assert_eq!(
        instant(&s, r#"label_join(up, "ji", "/", "job", "instance")"#, 0),
        ["up{instance=\"h:9100\", ji=\"x/h:9100\", job=\"x\"} 1"]
    );
    assert_eq!(instant_error(&s, r#"label_replace(up, "foo", "$1", "job", "(.*")"#, 0).error_type(), "execution");
    assert_eq!(instant_error(&s, r#"label_replace(up, "1bad", "x", "job", ".*")"#, 0).error_type(), "execution");
    let err = instant_error(&s, r#"label_replace(temp, "host", "", "host", ".*")"#, 0);
    assert_eq!(err.to_string(), "vector cannot contain metrics with the same labelset");
}

#[test]
fn absent_derives_labels_from_equality_matchers() {
    let s = data();
    assert_eq!(instant(&s, r#"absent(nonexistent{job="x", mode=~"y"})"#, 0), ["{job=\"x\"} 1"]);
    assert_eq!(instant(&s, r#"absent(nonexistent{job="x", job="y"})"#, 0), ["{} 1"]);
    assert!(instant(&s, "absent(up)", 0).is_empty());
    assert_eq!(instant(&s, "absent(sum(nonexistent))", 0), ["{} 1"]);
    assert_eq!(range(&s, "absent(temp)", 0, 480, 120), ["{} 1@480"]);
}

#[test]
fn sort_orders_an_instant_vector_by_value() {
    let s = data();
    assert_eq!(instant(&s, "sort(temp)", 60), ["temp{host=\"a\"} 2.5", "temp{host=\"b\"} NaN"]);
    assert_eq!(instant(&s, "sort_desc(temp)", 0), ["temp{host=\"b\"} 3.7", "temp{host=\"a\"} -1.5"]);
    assert_eq!(instant(&s, "sort_desc(temp)", 60), ["temp{host=\"a\"} 2.5", "temp{host=\"b\"} NaN"]);
}

#[test]
fn histogram_quantile_interpolates_classic_buckets() {
    let s = data();
    assert_eq!(instant(&s, "histogram_quantile(0.5, req_bucket)", 0), ["{job=\"a\"} 0.5"]);
    assert_eq!(instant(&s, "histogram_quantile(0.25, req_bucket)", 0), ["{job=\"a\"} 0.1"]);
    assert_eq!(instant(&s, "histogram_quantile(0.6, req_bucket)", 0), ["{job=\"a\"} 0.7"]);
    // In the +Inf bucket: the highest finite bound.
    assert_eq!(instant(&s, "histogram_quantile(0.9, req_bucket)", 0), ["{job=\"a\"} 1"]);
    assert_eq!(instant(&s, "histogram_quantile(1.5, req_bucket)", 0), ["{job=\"a\"} inf"]);
    assert!(instant(&s, "histogram_quantile(0.5, temp)", 0).is_empty());
    assert!(instant(&s, "histogram_quantile(0.5, req_bucket{le!=\"+Inf\"})", 0).iter().all(|l| l.ends_with("NaN")));
}

#[test]
fn functions_unknown_to_prometheus_2_42_are_bad_data() {
    let s = data();
    assert_eq!(instant_error(&s, "first_over_time(temp[1m])", 0).error_type(), "bad_data");
}
