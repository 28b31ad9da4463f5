//! Label matchers, the four PromQL kinds: `=`, `!=`, `=~`, `!~`.

use regex::Regex;

use crate::error::{Error, Result};
use crate::labels::Labels;

/// One condition on one label. As in Prometheus, an absent label matches as the empty
/// string, and regexes are anchored at both ends.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// What the value must satisfy.
    pub kind: MatchKind,
}

/// What a [`Matcher`] requires of a label's value.
#[derive(Debug, Clone)]
pub enum MatchKind {
    /// `name="value"`.
    Equal(String),
    /// `name!="value"`.
    NotEqual(String),
    /// `name=~"regex"` (anchored).
    Regex(Regex),
    /// `name!~"regex"` (anchored).
    NotRegex(Regex),
}

impl Matcher {
    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher { name: name.into(), kind: MatchKind::Equal(value.into()) }
    }

    /// `name!="value"`.
    pub fn not_equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher { name: name.into(), kind: MatchKind::NotEqual(value.into()) }
    }

    /// `name=~"pattern"`, anchored as Prometheus anchors it.
    ///
    /// # Errors
    /// The pattern is not a valid regex.
    pub fn regex(name: impl Into<String>, pattern: &str) -> Result<Matcher> {
        Ok(Matcher { name: name.into(), kind: MatchKind::Regex(anchored(pattern)?) })
    }

    /// `name!~"pattern"`, anchored as Prometheus anchors it.
    ///
    /// # Errors
    /// The pattern is not a valid regex.
    pub fn not_regex(name: impl Into<String>, pattern: &str) -> Result<Matcher> {
        Ok(Matcher { name: name.into(), kind: MatchKind::NotRegex(anchored(pattern)?) })
    }

    /// Whether `value` (`""` for an absent label) satisfies this matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match &self.kind {
            MatchKind::Equal(v) => value == v,
            MatchKind::NotEqual(v) => value != v,
            MatchKind::Regex(r) => r.is_match(value),
            MatchKind::NotRegex(r) => !r.is_match(value),
        }
    }

    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).unwrap_or(""))
    }

    /// Whether the empty string matches, i.e. whether series without the label match too.
    pub fn matches_empty(&self) -> bool {
        self.matches_value("")
    }
}

fn anchored(pattern: &str) -> Result<Regex> {
    Regex::new(&format!("^(?s:{pattern})$"))
        .map_err(|e| Error::InvalidRegex { pattern: pattern.to_string(), reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_are_anchored_and_absent_labels_are_empty() {
        let labels = Labels::new([("__name__".to_string(), "up".to_string()), ("job".to_string(), "node".to_string())]);
        assert!(Matcher::regex("job", "no.*").unwrap().matches(&labels));
        assert!(!Matcher::regex("job", "od").unwrap().matches(&labels));
        assert!(Matcher::equal("missing", "").matches(&labels));
        assert!(!Matcher::not_equal("missing", "").matches(&labels));
        assert!(Matcher::not_regex("job", "x|y").unwrap().matches(&labels));
        assert!(Matcher::regex("x", "a|b").is_ok());
        assert!(Matcher::regex("x", "(").is_err());
    }
}
