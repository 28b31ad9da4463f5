//! "Did you mean ...?": the known host names closest to a mistyped one.

/// At most this many suggestions.
const MAX_SUGGESTIONS: usize = 3;

/// The known names within a few edits of `name` (a third of its length, at least 1; a name
/// that contains `name` or is contained in it counts as close too), closest first, ties by name.
pub(crate) fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut close: Vec<(usize, &str)> = known
        .filter_map(|candidate| {
            let distance = edit_distance(name, candidate);
            let within =
                distance <= limit || (!name.is_empty() && (candidate.contains(name) || name.contains(candidate)));
            within.then_some((distance, candidate))
        })
        .collect();
    close.sort_unstable();
    close.dedup();
    close.into_iter().take(MAX_SUGGESTIONS).map(|(_, candidate)| candidate).collect()
}

/// Levenshtein distance (insertions, deletions and substitutions), over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("web-01", "web-01"), 0);
        assert_eq!(edit_distance("web-1", "web-01"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn closest_first_and_only_close_ones() {
        let known = ["web-01", "web-02", "web-10", "db-01", "cache-eu-west-1"];
        assert_eq!(closest("web-03", known.into_iter()), ["web-01", "web-02", "web-10"]);
        assert_eq!(closest("web01", known.into_iter()), ["web-01"]);
        assert_eq!(closest("cache", known.into_iter()), ["cache-eu-west-1"]);
        assert!(closest("nope", known.into_iter()).is_empty());
    }
}
