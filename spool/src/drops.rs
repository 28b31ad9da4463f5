//! Entries that left the spool without an ack, kept until the caller reports them.

/// Why entries left the spool unacknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The spool was full and its policy is [`WhenFull::DropOldest`](crate::WhenFull::DropOldest).
    Full,
    /// Their bytes on disk were damaged (found when opening or reading the spool).
    Corrupt,
}

impl DropReason {
    /// A short snake_case name: `full` or `corrupt`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Full => "full",
            DropReason::Corrupt => "corrupt",
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            DropReason::Full => 1,
            DropReason::Corrupt => 2,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(DropReason::Full),
            2 => Some(DropReason::Corrupt),
            _ => None,
        }
    }
}

/// A run of unacknowledged entries that left the spool: dropped when full, or lost to
/// damage on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Rises with every drop; [`Spool::forget_drops`](crate::Spool::forget_drops) takes it.
    pub id: u64,
    /// Why.
    pub reason: DropReason,
    /// The lowest seq dropped.
    pub first_seq: u64,
    /// The highest seq dropped.
    pub last_seq: u64,
    /// How many entries. For [`DropReason::Corrupt`] it is the number of seqs missing
    /// between the valid records around the damage, which is exact when the caller's seqs
    /// are consecutive.
    pub entries: u64,
    /// Bytes those entries took on disk (for damage: the damaged bytes).
    pub bytes: u64,
    /// When it happened, unix milliseconds.
    pub time_ms: i64,
}

/// Most unreported drops kept; beyond it the two oldest are merged into one.
pub(crate) const MAX_UNREPORTED_DROPS: usize = 64;

/// Adds `drop` to `list`, merging the oldest two while the list is too long, so the
/// state file stays small however long nobody reports.
pub(crate) fn push_drop(list: &mut Vec<Dropped>, drop: Dropped) {
    list.push(drop);
    while list.len() > MAX_UNREPORTED_DROPS {
        let second = list.remove(1);
        let first = &mut list[0];
        first.id = first.id.max(second.id);
        first.first_seq = first.first_seq.min(second.first_seq);
        first.last_seq = first.last_seq.max(second.last_seq);
        first.entries += second.entries;
        first.bytes += second.bytes;
        first.time_ms = first.time_ms.max(second.time_ms);
        if first.reason != second.reason {
            first.reason = DropReason::Full;
        }
    }
}

/// Now, unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_merges_its_oldest() {
        let mut list = Vec::new();
        for i in 0..(MAX_UNREPORTED_DROPS as u64 + 2) {
            let seq = i * 10 + 1;
            push_drop(
                &mut list,
                Dropped {
                    id: i + 1,
                    reason: DropReason::Full,
                    first_seq: seq,
                    last_seq: seq + 9,
                    entries: 10,
                    bytes: 100,
                    time_ms: i as i64,
                },
            );
        }
        assert_eq!(list.len(), MAX_UNREPORTED_DROPS);
        assert_eq!((list[0].id, list[0].first_seq, list[0].last_seq, list[0].entries), (3, 1, 30, 30));
        assert_eq!(list.iter().map(|d| d.entries).sum::<u64>(), 10 * (MAX_UNREPORTED_DROPS as u64 + 2));
    }
}
