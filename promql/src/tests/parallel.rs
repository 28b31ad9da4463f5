//! Range functions split across threads give the same answer as one thread.

use crate::storage::SeriesSamples;
use crate::testutil::{MemStorage, render};
use crate::{Engine, QueryLimits};
use sysmon_tsdb::Labels;

#[test]
fn threads_do_not_change_the_answer() {
    let series = (0..700)
        .map(|i| SeriesSamples {
            labels: Labels::new([("__name__".to_string(), "c".to_string()), ("i".to_string(), format!("{i:03}"))]),
            samples: (0..400)
                .map(|k| (k * 15_000, (k * (i % 7 + 1)) as f64 + if k == 200 { -50.0 } else { 0.0 }))
                .collect(),
        })
        .collect();
    let storage = MemStorage { series };
    let query = "rate(c[2m])";
    let one = Engine::new(QueryLimits::default()).with_threads(1).range(&storage, query, 0, 5_400_000, 15_000).unwrap();
    let four =
        Engine::new(QueryLimits::default()).with_threads(4).range(&storage, query, 0, 5_400_000, 15_000).unwrap();
    assert_eq!(render(&one.value).len(), 700);
    assert_eq!(render(&one.value), render(&four.value));
}
