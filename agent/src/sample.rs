//! One reading of one series, as collectors produce it.

/// A collected value: metric name, labels (without `host`, which the batch adds) and value.
///
/// Labels are kept in the order the collector pushes them; the batch encoder sorts them.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name, e.g. `node_cpu_seconds_total`.
    pub name: String,
    /// Label pairs other than `__name__` and `host`, e.g. `[("cpu", "0"), ("mode", "idle")]`.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// A sample without labels.
    pub fn new(name: impl Into<String>, value: f64) -> Self {
        Self { name: name.into(), labels: Vec::new(), value }
    }

    /// Adds one label; for chaining: `Sample::new("node_load1", 0.5).label("x", "y")`.
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push((name.into(), value.into()));
        self
    }
}

/// Prometheus's stale marker: the NaN (`0x7ff0000000000002`) that ends a series, the same bits
/// as `sysmon_tsdb::STALE_MARKER_BITS`. Collectors send it for a series they stopped reporting
/// (a process that left the top N), so queries stop showing it at once.
pub(crate) const STALE_MARKER_BITS: u64 = 0x7ff0_0000_0000_0002;
