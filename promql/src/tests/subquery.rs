//! Subqueries: absolute step alignment, offsets, `@`, nesting.

use crate::testutil::{instant, load, range};

fn data() -> crate::testutil::MemStorage {
    load("load 10s\n  c 0+1x60\n")
}

#[test]
fn steps_are_aligned_to_multiples_of_the_subquery_step() {
    let s = data();
    assert_eq!(instant(&s, "c[1m:20s]", 100), ["c{} 4@40 6@60 8@80 10@100"]);
    assert_eq!(instant(&s, "c[1m:20s]", 110), ["c{} 6@60 8@80 10@100"]);
    assert_eq!(instant(&s, "c[1m:20s] offset 20s", 120), ["c{} 4@40 6@60 8@80 10@100"]);
    assert_eq!(instant(&s, "c[20s:10s] @ 50", 500), ["c{} 3@30 4@40 5@50"]);
}

#[test]
fn functions_over_subqueries() {
    let s = data();
    assert_eq!(instant(&s, "max_over_time(c[1m:20s])", 110), ["{} 10"]);
    assert_eq!(instant(&s, "rate(c[1m:20s])", 100), ["{} 0.1"]);
    // No step: the default 1 m.
    assert_eq!(instant(&s, "sum_over_time(c[1m:])", 120), ["{} 18"]);
    assert_eq!(instant(&s, "max_over_time(rate(c[30s])[1m:30s])", 120), ["{} 0.1"]);
    assert_eq!(instant(&s, "max_over_time(max_over_time(c[20s:10s])[30s:15s])", 120), ["{} 12"]);
    assert_eq!(range(&s, "max_over_time(c[20s:10s])", 100, 120, 10), ["{} 10@100 11@110 12@120"]);
    assert_eq!(instant(&s, "absent_over_time(nonexistent[1m:10s])", 100), ["{} 1"]);
}
