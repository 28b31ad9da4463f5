//! Include/exclude name filters, as node_exporter's `--collector.*.device-include/exclude` flags.

use regex::Regex;

/// Decides which names (devices, mount points, filesystem types, fields) a collector reports.
///
/// A name is reported when it matches `include` (if set) and does not match `exclude` (if set).
/// Patterns are unanchored, as in node_exporter; anchor them with `^...$` to match whole names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    include: Option<Regex>,
    exclude: Option<Regex>,
}

impl Filter {
    /// A filter from compiled patterns.
    pub(crate) fn from_regexes(include: Option<Regex>, exclude: Option<Regex>) -> Self {
        Self { include, exclude }
    }

    /// A filter from optional include and exclude patterns.
    ///
    /// # Errors
    /// A pattern is not a valid regular expression.
    #[cfg(test)]
    pub(crate) fn new(include: Option<&str>, exclude: Option<&str>) -> Result<Self, regex::Error> {
        Ok(Self { include: include.map(Regex::new).transpose()?, exclude: exclude.map(Regex::new).transpose()? })
    }

    /// Whether `name` is reported.
    pub(crate) fn allows(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|re| re.is_match(name))
            && !self.exclude.as_ref().is_some_and(|re| re.is_match(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_filter_allows_everything() {
        assert!(Filter::default().allows("anything"));
    }

    #[test]
    fn include_and_exclude_combine() {
        let filter = Filter::new(Some("^sd"), Some("^sd[a-z]\\d+$")).unwrap();
        assert!(filter.allows("sda"));
        assert!(!filter.allows("sda1"));
        assert!(!filter.allows("nvme0n1"));
    }

    #[test]
    fn invalid_pattern_is_an_error() {
        assert!(Filter::new(None, Some("(")).is_err());
    }
}
