//! Binary operators and vector matching.

use crate::testutil::{instant, instant_error, load};

fn data() -> crate::testutil::MemStorage {
    load(
        r#"
        load 1m
          used{dev="a", job="x"} 10
          used{dev="b", job="x"} 30
          size{dev="a", job="x"} 100
          size{dev="b", job="x"} 50
          pod{pod="p1", zone="z1"} 1
          pod{pod="p2", zone="z1"} 2
          pod{pod="p3", zone="z2"} 3
          cap{zone="z1", owner="o1"} 10
          cap{zone="z2", owner="o2"} 20
          nanm NaN
        "#,
    )
}

#[test]
fn arithmetic_matches_one_to_one_and_drops_the_name() {
    let s = data();
    assert_eq!(instant(&s, "used / size", 0), ["{dev=\"a\", job=\"x\"} 0.1", "{dev=\"b\", job=\"x\"} 0.6"]);
    assert_eq!(instant(&s, "used / on(dev) size", 0), ["{dev=\"a\"} 0.1", "{dev=\"b\"} 0.6"]);
    assert_eq!(instant(&s, "used / ignoring(job) size", 0), ["{dev=\"a\"} 0.1", "{dev=\"b\"} 0.6"]);
    assert_eq!(instant(&s, "used * 2 + 1", 0), ["{dev=\"a\", job=\"x\"} 21", "{dev=\"b\", job=\"x\"} 61"]);
    assert_eq!(instant(&s, "10 - used", 0), ["{dev=\"a\", job=\"x\"} 0", "{dev=\"b\", job=\"x\"} -20"]);
    assert_eq!(instant(&s, "used % 7", 0), ["{dev=\"a\", job=\"x\"} 3", "{dev=\"b\", job=\"x\"} 2"]);
    assert_eq!(instant(&s, "used ^ 2", 0), ["{dev=\"a\", job=\"x\"} 100", "{dev=\"b\", job=\"x\"} 900"]);
    assert_eq!(instant(&s, "-used", 0), ["{dev=\"a\", job=\"x\"} -10", "{dev=\"b\", job=\"x\"} -30"]);
    assert_eq!(instant(&s, "used{dev=\"a\"} atan2 size", 0), ["used{dev=\"a\", job=\"x\"} 0.0996686524912"]);
    assert_eq!(instant(&s, "used / 0", 0)[0], "{dev=\"a\", job=\"x\"} inf");
}

#[test]
fn comparisons_filter_or_return_bool() {
    let s = data();
    assert!(instant(&s, "used > size", 0).is_empty());
    assert_eq!(instant(&s, "used < size", 0), ["used{dev=\"a\", job=\"x\"} 10", "used{dev=\"b\", job=\"x\"} 30"]);
    assert_eq!(instant(&s, "used < bool size", 0), ["{dev=\"a\", job=\"x\"} 1", "{dev=\"b\", job=\"x\"} 1"]);
    assert_eq!(instant(&s, "used > bool 20", 0), ["{dev=\"a\", job=\"x\"} 0", "{dev=\"b\", job=\"x\"} 1"]);
    assert_eq!(instant(&s, "used > 20", 0), ["used{dev=\"b\", job=\"x\"} 30"]);
    assert_eq!(instant(&s, "20 < used", 0), ["used{dev=\"b\", job=\"x\"} 30"]);
    assert_eq!(instant(&s, "used > on(dev) (size - 75)", 0), ["{dev=\"b\"} 30"]);
    assert!(instant(&s, "nanm == nanm", 0).is_empty());
    assert_eq!(instant(&s, "nanm != bool 1", 0), ["{} 1"]);
    assert_eq!(instant(&s, "2 > bool 1", 0), ["scalar 1"]);
}

#[test]
fn group_left_and_group_right() {
    let s = data();
    assert_eq!(
        instant(&s, "pod / on(zone) group_left cap", 0),
        ["{pod=\"p1\", zone=\"z1\"} 0.1", "{pod=\"p2\", zone=\"z1\"} 0.2", "{pod=\"p3\", zone=\"z2\"} 0.15"]
    );
    assert_eq!(
        instant(&s, "pod / on(zone) group_left(owner) cap", 0)[0],
        "{owner=\"o1\", pod=\"p1\", zone=\"z1\"} 0.1"
    );
    assert_eq!(
        instant(&s, "cap * on(zone) group_right(owner) pod", 0),
        [
            "{owner=\"o1\", pod=\"p1\", zone=\"z1\"} 10",
            "{owner=\"o1\", pod=\"p2\", zone=\"z1\"} 20",
            "{owner=\"o2\", pod=\"p3\", zone=\"z2\"} 60",
        ]
    );
    assert_eq!(instant(&s, "pod > on(zone) group_left cap - 9", 0), ["pod{pod=\"p2\", zone=\"z1\"} 2"]);
}

#[test]
fn ambiguous_matches_are_errors() {
    let s = data();
    let err = instant_error(&s, "pod / on(zone) cap", 0);
    assert_eq!(
        err.to_string(),
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    );
    let err = instant_error(&s, "cap / on(zone) group_left pod", 0);
    assert_eq!(
        err.to_string(),
        "found duplicate series for the match group {zone=\"z1\"} on the right hand-side of the operation: \
         [{__name__=\"pod\", pod=\"p2\", zone=\"z1\"}, {__name__=\"pod\", pod=\"p1\", zone=\"z1\"}];\
         many-to-many matching not allowed: matching labels must be unique on one side"
    );
    assert_eq!(err.error_type(), "execution");
    let err = instant_error(&s, "{__name__=~\"used|size\"} * 1", 0);
    assert_eq!(err.to_string(), "vector cannot contain metrics with the same labelset");
}

#[test]
fn set_operators() {
    let s = data();
    assert_eq!(instant(&s, "used and size", 0), ["used{dev=\"a\", job=\"x\"} 10", "used{dev=\"b\", job=\"x\"} 30"]);
    assert_eq!(instant(&s, "used and on(dev) size{dev=\"a\"}", 0), ["used{dev=\"a\", job=\"x\"} 10"]);
    assert_eq!(instant(&s, "used unless size{dev=\"a\"}", 0), ["used{dev=\"b\", job=\"x\"} 30"]);
    assert_eq!(instant(&s, "used or size", 0), ["used{dev=\"a\", job=\"x\"} 10", "used{dev=\"b\", job=\"x\"} 30"]);
    assert_eq!(instant(&s, "used or cap", 0).len(), 4);
    assert_eq!(instant(&s, "vector(1) and on() used", 0), ["{} 1"]);
    assert_eq!(instant(&s, "nonexistent or vector(0)", 0), ["{} 0"]);
    assert!(instant(&s, "used and nonexistent", 0).is_empty());
    assert_eq!(instant(&s, "used unless nonexistent", 0).len(), 2);
    assert_eq!(instant(&s, "pod unless on(zone) cap{zone=\"z1\"}", 0), ["pod{pod=\"p3\", zone=\"z2\"} 3"]);
}

#[test]
fn a_match_group_may_change_members_over_time() {
    let s = load(
        r#"
        load 1m
          a{x="1"} 1 2 3
          b{x="1", v="p"} 10 stale
          b{x="1", v="q"} _ _ 30
        "#,
    );
    assert_eq!(crate::testutil::range(&s, "a / on(x) b", 0, 120, 60), ["{x=\"1\"} 0.1@0 0.1@120"]);
    assert_eq!(
        crate::testutil::range(&s, "a / on(x) group_left(v) b", 0, 120, 60),
        ["{v=\"p\", x=\"1\"} 0.1@0", "{v=\"q\", x=\"1\"} 0.1@120"]
    );
    assert_eq!(crate::testutil::range(&s, "a and on(x) b", 0, 120, 60), ["a{x=\"1\"} 1@0 3@120"]);
    assert_eq!(crate::testutil::range(&s, "a unless on(x) b", 0, 120, 60), ["a{x=\"1\"} 2@60"]);
}
