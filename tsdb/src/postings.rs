//! Sorted series-id lists and the set operations selectors need.

/// Ids in both lists.
pub(crate) fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    if large.len() <= SKIP_RATIO * small.len() {
        // Lists of like sizes (a metric name's series and a host's): one pass over both,
        // whose branches the CPU predicts, beats a binary search per id.
        let (mut i, mut j) = (0, 0);
        while i < small.len() && j < large.len() {
            let (x, y) = (small[i], large[j]);
            if x == y {
                out.push(x);
            }
            i += usize::from(x <= y);
            j += usize::from(y <= x);
        }
        return out;
    }
    // Galloping would pay for very skewed sizes; a merge with binary-search skips is enough here.
    let mut j = 0;
    for &id in small {
        j += large[j..].partition_point(|&x| x < id);
        if j == large.len() {
            break;
        }
        if large[j] == id {
            out.push(id);
        }
    }
    out
}

/// Above this ratio of lengths, [`intersect`] skips through the longer list by binary
/// search instead of walking it.
const SKIP_RATIO: usize = 8;

/// Ids of `a` not in `b`.
pub(crate) fn subtract(a: &[u64], b: &[u64]) -> Vec<u64> {
    if b.is_empty() {
        return a.to_vec();
    }
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &id in a {
        while j < b.len() && b[j] < id {
            j += 1;
        }
        if j == b.len() || b[j] != id {
            out.push(id);
        }
    }
    out
}

/// Ids in any of the lists, sorted, once each.
pub(crate) fn union<'a>(lists: impl IntoIterator<Item = &'a [u64]>) -> Vec<u64> {
    let lists: Vec<&[u64]> = lists.into_iter().collect();
    match lists.as_slice() {
        [] => Vec::new(),
        [one] => one.to_vec(),
        _ => {
            let mut out: Vec<u64> = lists.iter().flat_map(|l| l.iter().copied()).collect();
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

/// Inserts `id` into a sorted list, keeping it sorted (ids mostly arrive in increasing order).
pub(crate) fn insert(list: &mut Vec<u64>, id: u64) {
    match list.last() {
        Some(&last) if last >= id => {
            if let Err(pos) = list.binary_search(&id) {
                list.insert(pos, id);
            }
        }
        _ => list.push(id),
    }
}

/// Removes `id` from a sorted list.
pub(crate) fn remove(list: &mut Vec<u64>, id: u64) {
    if let Ok(pos) = list.binary_search(&id) {
        list.remove(pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        assert_eq!(intersect(&[1, 3, 5, 7], &[2, 3, 4, 7, 9]), [3, 7]);
        assert_eq!(intersect(&[], &[1]), Vec::<u64>::new());
        // Skewed sizes take the other path.
        let long: Vec<u64> = (0..100).collect();
        assert_eq!(intersect(&[3, 50, 200], &long), [3, 50]);
        assert_eq!(intersect(&long, &[99]), [99]);
        assert_eq!(subtract(&[1, 3, 5, 7], &[3, 4, 7]), [1, 5]);
        assert_eq!(union([&[1u64, 4][..], &[2, 4, 9][..]]), [1, 2, 4, 9]);
        let mut list = vec![1, 5];
        insert(&mut list, 3);
        insert(&mut list, 9);
        insert(&mut list, 5);
        assert_eq!(list, [1, 3, 5, 9]);
        remove(&mut list, 5);
        assert_eq!(list, [1, 3, 9]);
    }
}
