//! Which series a region replicates upward: `federation.replicate` at its regional, a list
//! of series selectors (empty: every series). The regional reads only those series for its
//! master; the master learns each region's list from its status and asks, per query
//! selector, whether the list covers it: only then do the master's own tiers hold every
//! series the selector can match, and otherwise the query reads the regions' raw samples.

use sysmon_tsdb::{MatchKind, Matcher};

/// A region's `federation.replicate`, parsed.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReplicationFilter {
    /// Each selector's matchers; a series is replicated when it satisfies one. Empty: all.
    selectors: Vec<Vec<Matcher>>,
}

impl ReplicationFilter {
    /// The filter of `selectors` as written in the config; an error is the index of the
    /// first selector that is not valid, and why.
    pub(crate) fn parse(selectors: &[String]) -> Result<ReplicationFilter, (usize, String)> {
        let selectors = selectors
            .iter()
            .enumerate()
            .map(|(i, text)| crate::selector::parse_selector(text).map_err(|reason| (i, reason)))
            .collect::<Result<_, _>>()?;
        Ok(ReplicationFilter { selectors })
    }

    /// Whether every series is replicated.
    pub(crate) fn is_everything(&self) -> bool {
        self.selectors.is_empty()
    }

    /// The selectors' matchers (none when every series is replicated).
    pub(crate) fn selectors(&self) -> &[Vec<Matcher>] {
        &self.selectors
    }

    /// Whether every series that satisfies all of `query` is replicated: some selector's
    /// every matcher is implied by one of the query's. Conservative: a `false` may be a
    /// selector that only reads replicated series in a way this does not prove (the query
    /// then reads raw samples from the regions, slower but right).
    pub(crate) fn covers(&self, query: &[Matcher]) -> bool {
        self.is_everything() || self.selectors.iter().any(|s| s.iter().all(|m| implied(m, query)))
    }
}

/// Whether every label set satisfying all of `query` satisfies `m`.
fn implied(m: &Matcher, query: &[Matcher]) -> bool {
    query.iter().filter(|q| q.name == m.name).any(|q| match (&q.kind, &m.kind) {
        (MatchKind::Equal(value), _) => m.matches_value(value),
        (MatchKind::NotEqual(a), MatchKind::NotEqual(b)) => a == b,
        (MatchKind::Regex(a), MatchKind::Regex(b)) | (MatchKind::NotRegex(a), MatchKind::NotRegex(b)) => {
            a.as_str() == b.as_str()
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(selectors: &[&str]) -> ReplicationFilter {
        ReplicationFilter::parse(&selectors.iter().map(ToString::to_string).collect::<Vec<_>>()).unwrap()
    }

    fn query(text: &str) -> Vec<Matcher> {
        crate::selector::parse_selector(text).unwrap()
    }

    #[test]
    fn a_selector_is_covered_only_when_its_matchers_imply_a_replicated_one() {
        let f = filter(&["{__name__=~\"node_(load1|memory_.+)\"}", "node_cpu_seconds_total{mode!=\"steal\"}"]);
        assert!(f.covers(&query("node_load1")));
        assert!(f.covers(&query("node_memory_MemFree_bytes{host=\"a\"}")));
        assert!(f.covers(&query("{__name__=~\"node_(load1|memory_.+)\", host=\"a\"}")));
        assert!(f.covers(&query("node_cpu_seconds_total{mode=\"idle\"}")));
        assert!(f.covers(&query("node_cpu_seconds_total{mode!=\"steal\",cpu=\"0\"}")));
        // Could match a series that is not replicated, or is not proven not to.
        assert!(!f.covers(&query("node_load5")));
        assert!(!f.covers(&query("node_cpu_seconds_total")));
        assert!(!f.covers(&query("node_cpu_seconds_total{mode=\"steal\"}")));
        assert!(!f.covers(&query("{__name__=~\"node_load.*\"}")));
        assert!(!f.covers(&query("{host=\"a\"}")));
        assert!(filter(&[]).covers(&query("{host=\"a\"}")));
    }

    #[test]
    fn a_bad_selector_is_named() {
        let err = ReplicationFilter::parse(&["node_load1".into(), "rate(x[5m])".into()]).unwrap_err();
        assert_eq!(err, (1, "\"rate(x[5m])\" is not a series selector".to_string()));
    }
}
