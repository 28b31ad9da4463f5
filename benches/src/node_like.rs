//! A simulated host with node_exporter-like series: the shapes of `gen_node_like.py`
//! (8 cpus x 8 modes of `node_cpu_seconds_total`, disk and network counters, memory gauges,
//! load, filesystem sizes; 116 series), turned into wire batches the way the agent's
//! `batch.rs` encodes a collection (string table, series as label refs, column-wise samples).

use std::collections::HashMap;

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use sysmon_proto::v1;

/// How one series' value moves from one collection to the next.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// CPU seconds: grows by `step * share * U(0.5, 1.5)`, 2 decimals.
    CpuCounter { share: f64 },
    /// Seconds spent on I/O: grows by `step * rate * U(0, 2)`, 3 decimals.
    MsCounter { rate: f64 },
    /// Bytes or packets: grows by `int(per_step * U(0, 2))`.
    ByteCounter { per_step: f64 },
    /// Context switches: grows by `int(per_second * step * U(0.8, 1.2))`.
    IntCounter { per_second: f64 },
    /// Page-aligned memory: moves by up to 200 pages either way.
    PageGauge,
    /// Free filesystem space: shrinks by 0 to 3 blocks.
    SlowGauge,
    /// Load average: moves by up to 0.3, 2 decimals, never negative.
    Load,
    /// `node_time_seconds`: the collection time plus a little jitter.
    Time,
    /// Running processes: 1 to 6.
    Small,
    /// Never changes.
    Const,
}

/// One series: its labels (without `host`) and its value's shape.
struct SeriesSpec {
    name: String,
    labels: Vec<(&'static str, String)>,
    shape: Shape,
    /// The shape's parameter, or the starting value of gauges and constants.
    param: f64,
}

/// A simulated host: a fixed set of series and their current values.
///
/// Each call to [`NodeLikeHost::next_batch`] takes `collections` consecutive collections,
/// `step_ms` apart, and encodes them into one self-contained batch (seq 0: the sender
/// numbers batches). Everything is deterministic for a given seed.
pub struct NodeLikeHost {
    strings: Vec<String>,
    series: Vec<v1::Series>,
    shapes: Vec<Shape>,
    values: Vec<f64>,
    rng: SmallRng,
    step_ms: i64,
    next_ts_ms: i64,
}

impl NodeLikeHost {
    /// A host named `host` (the `host` label of every series, i.e. the agent id) whose first
    /// collection is at `start_ms` (unix ms) and whose collections are `step_ms` apart.
    pub fn new(host: &str, seed: u64, start_ms: i64, step_ms: i64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let specs = series_specs(&mut rng, start_ms / 1000);
        let mut table = StringTable::default();
        let mut series = Vec::with_capacity(specs.len());
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for spec in &specs {
            pairs.clear();
            pairs.push(("__name__", &spec.name));
            pairs.push(("host", host));
            pairs.extend(spec.labels.iter().map(|(n, v)| (*n, v.as_str())));
            pairs.sort_unstable();
            let labels = pairs.iter().flat_map(|(n, v)| [table.intern(n), table.intern(v)]).collect();
            series.push(v1::Series { labels });
        }
        let values = specs.iter().map(|spec| initial_value(&mut rng, spec)).collect();
        let shapes = specs.iter().map(|spec| spec.shape).collect();
        Self { strings: table.strings, series, shapes, values, rng, step_ms: step_ms.max(1), next_ts_ms: start_ms }
    }

    /// How many series this host has (116).
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// The timestamp (unix ms) of the next collection [`NodeLikeHost::next_batch`] will take.
    pub fn next_ts_ms(&self) -> i64 {
        self.next_ts_ms
    }

    /// The timestamp of the last collection of a batch of `collections` taken now.
    pub fn last_ts_ms(&self, collections: usize) -> i64 {
        self.next_ts_ms + self.step_ms * (collections.max(1) as i64 - 1)
    }

    /// Takes `collections` consecutive collections and encodes them as one batch with seq 0:
    /// every series once, then `collections x series` samples, oldest collection first.
    pub fn next_batch(&mut self, collections: usize) -> v1::Batch {
        let n = collections * self.series.len();
        let mut samples = v1::Samples {
            series: Vec::with_capacity(n),
            timestamps_ms: Vec::with_capacity(n),
            values: Vec::with_capacity(n),
        };
        for _ in 0..collections {
            let ts_ms = self.next_ts_ms;
            self.next_ts_ms += self.step_ms;
            let step_secs = self.step_ms as f64 / 1000.0;
            for (i, (value, shape)) in self.values.iter_mut().zip(&self.shapes).enumerate() {
                *value = advance(&mut self.rng, *shape, *value, step_secs, ts_ms);
                samples.series.push(i as u32);
                samples.timestamps_ms.push(ts_ms);
                samples.values.push(*value);
            }
        }
        v1::Batch {
            seq: 0,
            strings: self.strings.clone(),
            series: self.series.clone(),
            samples: Some(samples),
            ..Default::default()
        }
    }
}

/// The series of one host, in `gen_node_like.py`'s order and with its random choices.
fn series_specs(rng: &mut SmallRng, now_secs: i64) -> Vec<SeriesSpec> {
    let mut s = Vec::with_capacity(120);
    let mut push = |name: &str, labels: Vec<(&'static str, String)>, shape: Shape, param: f64| {
        s.push(SeriesSpec { name: name.to_string(), labels, shape, param });
    };
    const MODES: [(&str, f64); 8] = [
        ("user", 0.2),
        ("system", 0.07),
        ("idle", 0.7),
        ("iowait", 0.02),
        ("irq", 0.005),
        ("softirq", 0.01),
        ("steal", 0.0),
        ("nice", 0.001),
    ];
    for cpu in 0..8 {
        for (mode, share) in MODES {
            let labels = vec![("cpu", cpu.to_string()), ("mode", mode.to_string())];
            push("node_cpu_seconds_total", labels, Shape::CpuCounter { share }, 0.0);
        }
    }
    let pick = |rng: &mut SmallRng, choices: [f64; 3]| choices[rng.random_range(0..3)];
    for device in ["sda", "sdb", "nvme0n1"] {
        for metric in ["read_bytes", "written_bytes"] {
            let per_step = pick(rng, [4096.0 * 10.0, 4096.0 * 200.0, 0.0]);
            push(
                &format!("node_disk_{metric}_total"),
                vec![("device", device.into())],
                Shape::ByteCounter { per_step },
                0.0,
            );
        }
        push("node_disk_io_time_seconds_total", vec![("device", device.into())], Shape::MsCounter { rate: 0.05 }, 0.0);
    }
    for device in ["eth0", "eth1", "lo"] {
        for metric in ["receive_bytes", "transmit_bytes", "receive_packets", "transmit_packets"] {
            let per_step = pick(rng, [1500.0 * 50.0, 1500.0 * 3000.0, 100.0]);
            push(
                &format!("node_network_{metric}_total"),
                vec![("device", device.into())],
                Shape::ByteCounter { per_step },
                0.0,
            );
        }
        for metric in ["receive_errs", "transmit_drop"] {
            push(&format!("node_network_{metric}_total"), vec![("device", device.into())], Shape::Const, 0.0);
        }
    }
    for metric in ["MemFree", "Cached", "Buffers", "Active", "Inactive", "Dirty", "AnonPages", "Slab"] {
        let start = rng.random_range(1u64 << 28..=1u64 << 33) as f64;
        push(&format!("node_memory_{metric}_bytes"), vec![], Shape::PageGauge, start);
    }
    for metric in ["MemTotal", "SwapTotal"] {
        let size = rng.random_range(1u64 << 33..=1u64 << 36) / 4096 * 4096;
        push(&format!("node_memory_{metric}_bytes"), vec![], Shape::Const, size as f64);
    }
    for minutes in ["1", "5", "15"] {
        let load = rng.random::<f64>() * 4.0;
        push(&format!("node_load{minutes}"), vec![], Shape::Load, load);
    }
    for mountpoint in ["/", "/var", "/home", "/boot"] {
        let labels = vec![
            ("mountpoint", mountpoint.to_string()),
            ("fstype", "ext4".to_string()),
            ("device", "/dev/sda1".into()),
        ];
        let size = rng.random_range(1u64 << 30..=1u64 << 40) / 4096 * 4096;
        push("node_filesystem_size_bytes", labels.clone(), Shape::Const, size as f64);
        let avail = rng.random_range(1u64 << 29..=1u64 << 39) / 4096 * 4096;
        push("node_filesystem_avail_bytes", labels, Shape::SlowGauge, avail as f64);
    }
    let boot = now_secs - rng.random_range(1..=10_000_000);
    push("node_boot_time_seconds", vec![], Shape::Const, boot as f64);
    push("node_time_seconds", vec![], Shape::Time, 0.0);
    push("node_procs_running", vec![], Shape::Small, 3.0);
    push("node_context_switches_total", vec![], Shape::IntCounter { per_second: 5000.0 }, 0.0);
    s
}

fn initial_value(rng: &mut SmallRng, spec: &SeriesSpec) -> f64 {
    match spec.shape {
        Shape::CpuCounter { .. } => round(rng.random::<f64>() * 1e6, 2),
        Shape::MsCounter { .. } => round(rng.random::<f64>() * 1e5, 2),
        Shape::ByteCounter { .. } => (rng.random::<f64>() * 1e12).trunc(),
        Shape::IntCounter { .. } => rng.random_range(0..=1_000_000_000u64) as f64,
        _ => spec.param,
    }
}

fn advance(rng: &mut SmallRng, shape: Shape, v: f64, step_secs: f64, ts_ms: i64) -> f64 {
    match shape {
        Shape::CpuCounter { share } => round(v + step_secs * share * rng.random_range(0.5..1.5), 2),
        Shape::MsCounter { rate } => round(v + step_secs * rate * rng.random_range(0.0..2.0), 3),
        Shape::ByteCounter { per_step } if per_step > 0.0 => v + (per_step * rng.random_range(0.0..2.0)).trunc(),
        Shape::ByteCounter { .. } | Shape::Const => v,
        Shape::IntCounter { per_second } => v + (per_second * step_secs * rng.random_range(0.8..1.2)).trunc(),
        Shape::PageGauge => ((v + 4096.0 * rng.random_range(-200..=200) as f64).max(4096.0) / 4096.0).floor() * 4096.0,
        Shape::SlowGauge => v - 4096.0 * rng.random_range(0..=3) as f64,
        Shape::Load => round((v + rng.random_range(-0.3..0.3)).max(0.0), 2),
        Shape::Time => ts_ms as f64 / 1000.0 + round(rng.random::<f64>() / 1000.0, 6),
        Shape::Small => rng.random_range(1..=6) as f64,
    }
}

fn round(v: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (v * scale).round() / scale
}

/// Interns strings so that each appears once in a batch's string table.
#[derive(Default)]
struct StringTable {
    strings: Vec<String>,
    index: HashMap<String, u32>,
}

impl StringTable {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(batch: &v1::Batch, series: usize) -> Vec<(&str, &str)> {
        batch.series[series]
            .labels
            .chunks(2)
            .map(|p| (batch.strings[p[0] as usize].as_str(), batch.strings[p[1] as usize].as_str()))
            .collect()
    }

    #[test]
    fn has_the_shapes_of_gen_node_like() {
        let host = NodeLikeHost::new("loadgen-0001", 1, 1_700_000_000_000, 10_000);
        // 64 cpu + 9 disk + 18 network + 10 memory + 3 load + 8 filesystem + 4 others.
        assert_eq!(host.series_count(), 116);
    }

    #[test]
    fn batches_are_consecutive_collections_with_sorted_labels() {
        let mut host = NodeLikeHost::new("loadgen-0001", 1, 1_700_000_000_000, 10_000);
        assert_eq!(host.last_ts_ms(10), 1_700_000_090_000);
        let batch = host.next_batch(10);
        let samples = batch.samples.as_ref().unwrap();
        assert_eq!(samples.series.len(), 1160);
        assert_eq!(samples.timestamps_ms.len(), 1160);
        assert_eq!(samples.timestamps_ms[0], 1_700_000_000_000);
        assert_eq!(samples.timestamps_ms[116], 1_700_000_010_000);
        assert_eq!(samples.timestamps_ms[1159], 1_700_000_090_000);
        assert_eq!(host.next_ts_ms(), 1_700_000_100_000);
        assert_eq!(
            labels(&batch, 0),
            [("__name__", "node_cpu_seconds_total"), ("cpu", "0"), ("host", "loadgen-0001"), ("mode", "user")]
        );
        for i in 0..batch.series.len() {
            let l = labels(&batch, i);
            assert!(l.windows(2).all(|w| w[0].0 < w[1].0), "{l:?}");
        }
        let distinct: std::collections::HashSet<_> = batch.strings.iter().collect();
        assert_eq!(distinct.len(), batch.strings.len());
    }

    #[test]
    fn counters_never_go_down() {
        let mut host = NodeLikeHost::new("h", 7, 1_700_000_000_000, 10_000);
        let batch = host.next_batch(50);
        let samples = batch.samples.unwrap();
        let counter: Vec<bool> =
            batch.series.iter().map(|s| batch.strings[s.labels[1] as usize].ends_with("_total")).collect();
        let mut last = vec![f64::MIN; counter.len()];
        for (&i, &v) in samples.series.iter().zip(&samples.values) {
            let i = i as usize;
            if counter[i] {
                assert!(v >= last[i], "series {i}: {v} after {}", last[i]);
            }
            last[i] = v;
        }
    }

    #[test]
    fn is_deterministic_per_seed() {
        let a = NodeLikeHost::new("h", 3, 0, 1000).next_batch(3);
        let b = NodeLikeHost::new("h", 3, 0, 1000).next_batch(3);
        assert_eq!(a, b);
    }
}
