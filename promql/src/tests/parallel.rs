//! Range functions and aggregations split across threads give the same answer as one thread.

use crate::storage::SeriesSamples;
use crate::testutil::{MemStorage, render};
use crate::{Engine, QueryLimits};
use sysmon_tsdb::Labels;

#[test]
fn threads_do_not_change_the_answer() {
    let series = (0..700)
        .map(|i| SeriesSamples {
            labels: Labels::new([
                ("__name__".to_string(), "c".to_string()),
                ("i".to_string(), format!("{i:03}")),
                ("g".to_string(), (i % 5).to_string()),
            ]),
            samples: (0..400)
                .map(|k| (k * 15_000, (k * (i % 7 + 1)) as f64 + if k == 200 { -50.0 } else { 0.0 }))
                .collect(),
        })
        .collect();
    let storage = MemStorage { series };
    let answer = |threads: usize, query: &str| {
        let engine = Engine::new(QueryLimits::default()).with_threads(threads);
        render(&engine.range(&storage, query, 0, 5_400_000, 15_000).unwrap().value)
    };
    assert_eq!(answer(1, "rate(c[2m])").len(), 700);
    for query in ["rate(c[2m])", "sum by (g) (rate(c[2m]))", "max by (g) (rate(c[2m]))", "avg(rate(c[2m]))"] {
        assert_eq!(answer(1, query), answer(4, query), "{query}");
    }
    assert_eq!(answer(4, "sum by (g) (rate(c[2m]))").len(), 5);
}
