//! The series index: series id <-> labels (persisted in `tsdb_series`, see `schema.rs`), and
//! in memory an inverted index, label name -> value -> sorted series ids, rebuilt at open.
//! Selectors are answered as Prometheus answers them: postings of matchers that need the
//! label are intersected, and matchers that also match the empty string (so also series
//! without the label) subtract the series whose value fails them.

use redb::{ReadTransaction, ReadableTable as _};
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::matcher::{MatchKind, Matcher};
use crate::postings;
use crate::schema::{META, NEXT_SERIES_ID, SERIES};

/// Every known series, and the postings of every label pair.
#[derive(Debug, Default)]
pub(crate) struct SeriesIndex {
    by_key: FxHashMap<Box<str>, u64>,
    labels: FxHashMap<u64, Labels>,
    /// Label name -> value -> ids. Hash maps, not ordered ones: a selector's `name="value"`
    /// is then a hash and a probe or two, where a B-tree compared the value with a string at
    /// every level, each in an allocation of its own, which in a query right after another
    /// process ran were as many cache misses. Nothing needs the values in order (a regex's
    /// postings are merged and sorted anyway).
    postings: FxHashMap<String, FxHashMap<String, Vec<u64>>>,
    all: Vec<u64>,
}

impl SeriesIndex {
    /// Loads every series from the series table, and the next id to hand out.
    pub(crate) fn load(txn: &ReadTransaction) -> Result<(SeriesIndex, u64)> {
        let err = |source: redb::Error| Error::LoadState { what: "series", source };
        let table = txn.open_table(SERIES).map_err(|e| err(e.into()))?;
        let mut index = SeriesIndex::default();
        let mut next_id = 1;
        for entry in table.iter().map_err(|e| err(e.into()))? {
            let (id, key) = entry.map_err(|e| err(e.into()))?;
            let (id, key) = (id.value(), key.value());
            let labels = Labels::from_key(key).map_err(|reason| Error::CorruptSeriesKey { series: id, reason })?;
            index.insert(id, key.into(), labels);
            next_id = next_id.max(id + 1);
        }
        let meta = txn.open_table(META).map_err(|e| err(e.into()))?;
        if let Some(stored) = meta.get(NEXT_SERIES_ID).map_err(|e| err(e.into()))? {
            next_id = next_id.max(stored.value());
        }
        Ok((index, next_id))
    }

    /// Number of series.
    pub(crate) fn len(&self) -> usize {
        self.labels.len()
    }

    /// The id of the series with this canonical key.
    pub(crate) fn id(&self, key: &str) -> Option<u64> {
        self.by_key.get(key).copied()
    }

    /// A series' labels.
    pub(crate) fn labels(&self, id: u64) -> Option<&Labels> {
        self.labels.get(&id)
    }

    /// Whether the series exists.
    pub(crate) fn contains(&self, id: u64) -> bool {
        self.labels.contains_key(&id)
    }

    /// Every series id, sorted.
    pub(crate) fn all(&self) -> &[u64] {
        &self.all
    }

    /// Adds a series.
    pub(crate) fn insert(&mut self, id: u64, key: Box<str>, labels: Labels) {
        for (name, value) in labels.pairs() {
            let values = match self.postings.get_mut(name.as_str()) {
                Some(values) => values,
                None => self.postings.entry(name.clone()).or_default(),
            };
            match values.get_mut(value.as_str()) {
                Some(list) => postings::insert(list, id),
                None => {
                    values.insert(value.clone(), vec![id]);
                }
            }
        }
        postings::insert(&mut self.all, id);
        self.by_key.insert(key, id);
        self.labels.insert(id, labels);
    }

    /// Removes a series.
    pub(crate) fn remove(&mut self, id: u64) {
        let Some(labels) = self.labels.remove(&id) else { return };
        for (name, value) in labels.pairs() {
            if let Some(values) = self.postings.get_mut(name.as_str()) {
                if let Some(list) = values.get_mut(value.as_str()) {
                    postings::remove(list, id);
                    if list.is_empty() {
                        values.remove(value.as_str());
                    }
                }
                if values.is_empty() {
                    self.postings.remove(name.as_str());
                }
            }
        }
        postings::remove(&mut self.all, id);
        let mut key = String::new();
        labels.write_key(&mut key);
        self.by_key.remove(key.as_str());
    }

    /// The sorted ids of the series that satisfy every matcher. No matchers select every
    /// series.
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Vec<u64> {
        // Cheap exact matchers first: they shrink the candidate set fastest.
        let mut needing: Vec<&Matcher> = matchers.iter().filter(|m| !m.matches_empty()).collect();
        needing.sort_by_key(|m| !matches!(m.kind, MatchKind::Equal(_)));
        let mut selected: Option<Vec<u64>> = None;
        for matcher in needing {
            let ids = self.postings_matching(matcher, true);
            selected = Some(match selected {
                None => ids,
                Some(current) => postings::intersect(&current, &ids),
            });
            if selected.as_ref().is_some_and(Vec::is_empty) {
                return Vec::new();
            }
        }
        let mut selected = selected.unwrap_or_else(|| self.all.clone());
        for matcher in matchers.iter().filter(|m| m.matches_empty()) {
            let failing = self.postings_matching(matcher, false);
            selected = postings::subtract(&selected, &failing);
        }
        selected
    }

    /// At most how many series satisfy every matcher, from the postings of the `name="value"`
    /// matchers alone: a bound that costs a few hash lookups and a walk of those lists. `None`
    /// without such a matcher (bounding a regex would cost as much as selecting).
    pub(crate) fn count_bound(&self, matchers: &[Matcher]) -> Option<usize> {
        let mut lists: Vec<&[u64]> = Vec::new();
        for m in matchers {
            let MatchKind::Equal(value) = &m.kind else { continue };
            if value.is_empty() {
                // Matches the series without the label, which have no postings.
                continue;
            }
            match self.postings.get(m.name.as_str()).and_then(|values| values.get(value.as_str())) {
                Some(ids) => lists.push(ids),
                None => return Some(0),
            }
        }
        lists.sort_unstable_by_key(|ids| ids.len());
        let (shortest, others) = lists.split_first()?;
        let mut ids = shortest.to_vec();
        for other in others {
            ids = postings::intersect(&ids, other);
        }
        Some(ids.len())
    }

    /// Series having label `matcher.name` with a value the matcher accepts (`accepted`) or
    /// refuses (`!accepted`).
    fn postings_matching(&self, matcher: &Matcher, accepted: bool) -> Vec<u64> {
        let Some(values) = self.postings.get(matcher.name.as_str()) else { return Vec::new() };
        match (&matcher.kind, accepted) {
            (MatchKind::Equal(v), true) | (MatchKind::NotEqual(v), false) => {
                values.get(v.as_str()).cloned().unwrap_or_default()
            }
            _ => postings::union(
                values.iter().filter(|(v, _)| matcher.matches_value(v) == accepted).map(|(_, ids)| ids.as_slice()),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> SeriesIndex {
        let mut index = SeriesIndex::default();
        let series: [&[(&str, &str)]; 4] = [
            &[("__name__", "up"), ("job", "node"), ("host", "a")],
            &[("__name__", "up"), ("job", "node"), ("host", "b")],
            &[("__name__", "up"), ("job", "api")],
            &[("__name__", "load1"), ("host", "a")],
        ];
        for (i, pairs) in series.iter().enumerate() {
            let labels = Labels::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())));
            let mut key = String::new();
            labels.write_key(&mut key);
            index.insert(i as u64 + 1, key.into(), labels);
        }
        index
    }

    #[test]
    fn matchers_follow_prometheus_semantics() {
        let index = index();
        let select = |m: Vec<Matcher>| index.select(&m);
        assert_eq!(select(vec![Matcher::equal("__name__", "up")]), [1, 2, 3]);
        assert_eq!(select(vec![Matcher::equal("__name__", "up"), Matcher::equal("host", "a")]), [1]);
        // An absent label equals "": `host=""` selects series without it.
        assert_eq!(select(vec![Matcher::equal("host", "")]), [3]);
        assert_eq!(select(vec![Matcher::not_equal("host", "")]), [1, 2, 4]);
        assert_eq!(select(vec![Matcher::not_equal("host", "a")]), [2, 3]);
        assert_eq!(select(vec![Matcher::regex("host", "a|b").unwrap()]), [1, 2, 4]);
        assert_eq!(select(vec![Matcher::regex("host", "a|").unwrap()]), [1, 3, 4]);
        assert_eq!(select(vec![Matcher::not_regex("job", "no.*").unwrap()]), [3, 4]);
        assert_eq!(select(vec![Matcher::not_regex("job", ".+").unwrap()]), [4]);
        assert_eq!(select(vec![Matcher::equal("__name__", "up"), Matcher::equal("job", "nope")]), Vec::<u64>::new());
        assert_eq!(select(vec![]), [1, 2, 3, 4]);
    }

    #[test]
    fn count_bounds_come_from_equality_matchers() {
        let index = index();
        let bound = |m: Vec<Matcher>| index.count_bound(&m);
        assert_eq!(bound(vec![Matcher::equal("__name__", "up"), Matcher::equal("host", "a")]), Some(1));
        assert_eq!(bound(vec![Matcher::equal("__name__", "up")]), Some(3));
        // Other matchers only narrow the selection further: the bound ignores them.
        assert_eq!(bound(vec![Matcher::equal("__name__", "up"), Matcher::not_equal("job", "api")]), Some(3));
        assert_eq!(bound(vec![Matcher::equal("__name__", "nope")]), Some(0));
        assert_eq!(bound(vec![Matcher::regex("__name__", ".+").unwrap()]), None);
        assert_eq!(bound(vec![Matcher::equal("host", "")]), None);
        assert_eq!(bound(vec![]), None);
    }

    #[test]
    fn removed_series_leave_no_postings() {
        let mut index = index();
        index.remove(3);
        assert_eq!(index.select(&[Matcher::equal("job", "api")]), Vec::<u64>::new());
        assert_eq!(index.select(&[Matcher::equal("__name__", "up")]), [1, 2]);
        assert_eq!(index.len(), 3);
        assert_eq!(index.id("__name__\0up\0job\0api"), None);
        assert!(index.id("__name__\0up\0host\0a\0job\0node").is_some());
    }
}
