//! Aggregation operators.

use crate::testutil::{instant, load, range};

fn data() -> crate::testutil::MemStorage {
    load(
        r#"
        load 1m
          cpu{host="a", mode="user"} 1 2
          cpu{host="a", mode="idle"} 3 4
          cpu{host="b", mode="user"} 5 NaN
          cpu{host="b", mode="idle"} 7 8
        "#,
    )
}

#[test]
fn grouping_labels() {
    let s = data();
    assert_eq!(instant(&s, "sum(cpu)", 0), ["{} 16"]);
    assert_eq!(instant(&s, "sum by (host) (cpu)", 0), ["{host=\"a\"} 4", "{host=\"b\"} 12"]);
    assert_eq!(instant(&s, "sum without (mode) (cpu)", 0), ["{host=\"a\"} 4", "{host=\"b\"} 12"]);
    assert_eq!(instant(&s, "sum by (__name__) (cpu)", 0), ["cpu{} 16"]);
    assert_eq!(instant(&s, "sum by (nonexistent) (cpu)", 0), ["{} 16"]);
    assert_eq!(instant(&s, "count without () (cpu)", 0).len(), 4);
}

#[test]
fn simple_aggregations() {
    let s = data();
    let at0 = |q: &str| instant(&s, q, 0);
    assert_eq!(at0("avg(cpu)"), ["{} 4"]);
    assert_eq!(at0("count(cpu)"), ["{} 4"]);
    assert_eq!(at0("min(cpu)"), ["{} 1"]);
    assert_eq!(at0("max(cpu)"), ["{} 7"]);
    assert_eq!(at0("group by (host) (cpu)"), ["{host=\"a\"} 1", "{host=\"b\"} 1"]);
    assert_eq!(at0("stdvar(cpu)"), ["{} 5"]);
    assert_eq!(at0("stddev(cpu)"), ["{} 2.2360679775"]);
    assert_eq!(at0("stddev by (host, mode) (cpu)")[0], "{host=\"a\", mode=\"idle\"} 0");
    assert_eq!(at0("quantile(0.5, cpu)"), ["{} 4"]);
    assert_eq!(at0("quantile(0, cpu)"), ["{} 1"]);
}

#[test]
fn nan_handling_in_min_max_sum() {
    let s = data();
    assert_eq!(instant(&s, "max(cpu)", 60), ["{} 8"]);
    assert_eq!(instant(&s, "min(cpu)", 60), ["{} 2"]);
    assert_eq!(instant(&s, "sum(cpu)", 60), ["{} NaN"]);
    // A NaN first in its group is replaced by the next value.
    assert_eq!(instant(&s, "max by (host) (cpu)", 60), ["{host=\"a\"} 4", "{host=\"b\"} 8"]);
    assert_eq!(instant(&s, "min by (host) (cpu)", 60), ["{host=\"a\"} 2", "{host=\"b\"} 8"]);
}

#[test]
fn topk_and_bottomk_keep_series_labels() {
    let s = data();
    assert_eq!(
        instant(&s, "topk(2, cpu)", 0),
        ["cpu{host=\"b\", mode=\"idle\"} 7", "cpu{host=\"b\", mode=\"user\"} 5"]
    );
    assert_eq!(instant(&s, "bottomk(1, cpu)", 0), ["cpu{host=\"a\", mode=\"user\"} 1"]);
    assert_eq!(
        instant(&s, "topk by (host) (1, cpu)", 0),
        ["cpu{host=\"a\", mode=\"idle\"} 3", "cpu{host=\"b\", mode=\"idle\"} 7"]
    );
    assert_eq!(instant(&s, "topk(1, cpu)", 60), ["cpu{host=\"b\", mode=\"idle\"} 8"]);
    assert_eq!(instant(&s, "bottomk(1, cpu)", 60), ["cpu{host=\"a\", mode=\"user\"} 2"]);
    assert!(instant(&s, "topk(0, cpu)", 0).is_empty());
    assert_eq!(instant(&s, "topk(10, cpu)", 0).len(), 4);
}

#[test]
fn count_values_turns_values_into_labels() {
    let s = data();
    assert_eq!(
        instant(&s, "count_values(\"v\", cpu)", 0),
        ["{v=\"1\"} 1", "{v=\"3\"} 1", "{v=\"5\"} 1", "{v=\"7\"} 1"]
    );
    assert_eq!(instant(&s, "count_values(\"v\", cpu)", 60)[3], "{v=\"NaN\"} 1");
    assert_eq!(instant(&s, "count_values by (host) (\"v\", cpu)", 0)[0], "{host=\"a\", v=\"1\"} 1");
    assert_eq!(
        instant(&s, "count_values(\"v\", cpu > 2 or cpu * 0 + 3)", 0),
        ["{v=\"3\"} 2", "{v=\"5\"} 1", "{v=\"7\"} 1"]
    );
}

#[test]
fn aggregations_over_a_range() {
    let s = data();
    assert_eq!(range(&s, "sum by (host) (cpu)", 0, 60, 60), ["{host=\"a\"} 4@0 6@60", "{host=\"b\"} 12@0 NaN@60"]);
    assert_eq!(range(&s, "topk(1, cpu)", 0, 60, 60), ["cpu{host=\"b\", mode=\"idle\"} 7@0 8@60"]);
}
