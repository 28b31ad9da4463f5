//! The edge-case exporter: a thread serving Prometheus text format on loopback, whose series
//! are made to trip up a PromQL engine (resets, gaps, NaN, ±Inf, vanishing series, a classic
//! histogram, vector-matching label sets, long decimals, explicit timestamps).
//!
//! Every value is a pure function of the scrape number `n` (1 for the first scrape), so the
//! exposition is easy to reason about when a query disagrees.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The exporter thread; stopped and joined on drop.
pub struct EdgeExporter {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    scrapes: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl EdgeExporter {
    /// Binds 127.0.0.1:0 and serves `GET /metrics` until dropped.
    pub fn start() -> EdgeExporter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind edge exporter");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let scrapes = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, scrapes) = (stop.clone(), scrapes.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        // A broken scrape connection only costs that scrape; Prometheus records it.
                        let _ = serve(stream, &scrapes);
                    }
                }
            })
        };
        EdgeExporter { addr, stop, scrapes, thread: Some(thread) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many times `/metrics` has been served.
    pub fn scrapes(&self) -> u64 {
        self.scrapes.load(Ordering::SeqCst)
    }
}

impl Drop for EdgeExporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut stream: TcpStream, scrapes: &AtomicU64) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let request_line = String::from_utf8_lossy(&request).lines().next().unwrap_or("").to_string();
    let (status, body) = if request_line.starts_with("GET /metrics") {
        let n = scrapes.fetch_add(1, Ordering::SeqCst) + 1;
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        ("200 OK", exposition(n, now_ms))
    } else {
        ("404 Not Found", "not found\n".to_string())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// The text exposition of scrape number `n` (1-based) taken at wall-clock `now_ms`.
pub fn exposition(n: u64, now_ms: i64) -> String {
    let mut out = Exposition::default();
    let nf = n as f64;

    // Counters with resets: `get/200` drops to 0 every 25 scrapes; `post/200` restarts at 2
    // (a partial reset) at scrape 37; `get/500` never resets.
    out.family("edge_requests_total", "counter", "Requests served; resets now and then.");
    out.sample(
        "edge_requests_total",
        &[("method", "get"), ("code", "200")],
        reset_counter(n, 25, |k| (k % 7 + 1) as f64),
    );
    out.sample("edge_requests_total", &[("method", "get"), ("code", "500")], (n / 3) as f64);
    let post = if n < 37 {
        (1..=n).map(|k| 0.25 * (k % 3) as f64).sum()
    } else {
        2.0 + (38..=n).map(|k| 0.25 * (k % 3) as f64).sum::<f64>()
    };
    out.sample("edge_requests_total", &[("method", "post"), ("code", "200")], post);

    // Series missing from some scrapes: Prometheus writes a stale marker at each scrape that
    // lacks them, then the series comes back.
    out.family("edge_gappy_total", "counter", "A counter absent from some scrapes.");
    if n % 6 != 2 && n % 6 != 3 {
        out.sample("edge_gappy_total", &[("shard", "0")], 3.0 * nf);
    }
    if n % 10 < 7 {
        out.sample("edge_gappy_total", &[("shard", "1")], 0.5 * nf + 100.0);
    }
    out.family("edge_flaky_gauge", "gauge", "A gauge absent from every fourth scrape.");
    if !n.is_multiple_of(4) {
        out.sample("edge_flaky_gauge", &[("slot", "x")], (n % 11) as f64 - 5.0);
    }

    // NaN and infinities.
    out.family("edge_nan_gauge", "gauge", "NaN always or sometimes.");
    out.sample("edge_nan_gauge", &[("kind", "always")], f64::NAN);
    out.sample("edge_nan_gauge", &[("kind", "sometimes")], if n.is_multiple_of(3) { f64::NAN } else { 0.5 * nf });
    out.family("edge_inf_gauge", "gauge", "Infinite values.");
    out.sample("edge_inf_gauge", &[("sign", "pos")], f64::INFINITY);
    out.sample("edge_inf_gauge", &[("sign", "neg")], f64::NEG_INFINITY);
    let flip = [f64::INFINITY, 1.5, f64::NEG_INFINITY][(n % 3) as usize];
    out.sample("edge_inf_gauge", &[("sign", "flip")], flip);

    // Series that go away for good (stale markers) and one that appears mid-way.
    out.family("edge_vanishing_total", "counter", "Counters that stop being exposed.");
    if n <= 15 {
        out.sample("edge_vanishing_total", &[("batch", "early")], 2.0 * nf);
    }
    if (10..=40).contains(&n) {
        out.sample("edge_vanishing_total", &[("batch", "middle")], 1.5 * (nf - 10.0));
    }
    out.family("edge_vanishing_gauge", "gauge", "A gauge exposed only at the start.");
    if n <= 8 {
        out.sample("edge_vanishing_gauge", &[("batch", "early")], nf);
    }
    out.family("edge_late_gauge", "gauge", "A gauge that appears half-way.");
    if n >= 30 {
        out.sample("edge_late_gauge", &[("phase", "late")], nf);
    }

    // A classic histogram for two handlers; `/home` starts over (a reset) at scrape 35.
    out.family("edge_request_duration_seconds", "histogram", "Request latency.");
    for (handler, reset_at) in [("/api", u64::MAX), ("/home", 35)] {
        histogram(&mut out, handler, if n >= reset_at { reset_at..=n } else { 1..=n });
    }

    // Gauges going up and down.
    out.family("edge_temperature_celsius", "gauge", "Sine waves.");
    out.sample("edge_temperature_celsius", &[("room", "lab")], 20.0 + 5.0 * (nf / 5.0).sin());
    out.sample("edge_temperature_celsius", &[("room", "hall")], 18.0 - 3.0 * (nf / 7.0).cos());
    out.family("edge_queue_length", "gauge", "Integer gauges.");
    let p = n % 20;
    out.sample("edge_queue_length", &[("queue", "in")], if p < 10 { p } else { 20 - p } as f64);
    out.sample("edge_queue_length", &[("queue", "out")], (n * 7 % 13) as f64);

    // Vector matching. One-to-one: used/size share `dev` a and b; c and d have no partner.
    out.family("edge_disk_used_bytes", "gauge", "Used bytes per device.");
    out.sample("edge_disk_used_bytes", &[("dev", "a")], 100.0 + nf);
    out.sample("edge_disk_used_bytes", &[("dev", "b")], 2000.0 - 3.0 * nf);
    out.sample("edge_disk_used_bytes", &[("dev", "c")], 50.0);
    out.family("edge_disk_size_bytes", "gauge", "Size per device.");
    out.sample("edge_disk_size_bytes", &[("dev", "a")], 1000.0);
    out.sample("edge_disk_size_bytes", &[("dev", "b")], 4096.0);
    out.sample("edge_disk_size_bytes", &[("dev", "d")], 800.0);
    // Many-to-one: pods per zone against one capacity per zone (z3 has none).
    // Chosen so that no two pods ever tie (topk/bottomk pick among ties as they like).
    out.family("edge_pod_cpu_seconds_total", "counter", "CPU per pod.");
    out.sample("edge_pod_cpu_seconds_total", &[("zone", "z1"), ("pod", "p1")], 0.5 * nf);
    out.sample("edge_pod_cpu_seconds_total", &[("zone", "z1"), ("pod", "p2")], 0.25 * nf + 3.3);
    out.sample("edge_pod_cpu_seconds_total", &[("zone", "z2"), ("pod", "p3")], 1.1 * nf);
    out.sample("edge_pod_cpu_seconds_total", &[("zone", "z3"), ("pod", "p4")], 7.77);
    out.family("edge_zone_capacity", "gauge", "Capacity per zone, with its owner.");
    out.sample("edge_zone_capacity", &[("zone", "z1"), ("owner", "team-a")], 4.0);
    out.sample("edge_zone_capacity", &[("zone", "z2"), ("owner", "team-b")], 2.5);
    out.family("edge_info", "gauge", "Build information.");
    out.sample("edge_info", &[("version", "1.2.3"), ("build", "abc123")], 1.0);

    // Values with many decimals, tiny and huge magnitudes, signed zeros.
    out.family("edge_precise", "gauge", "Values that need every digit.");
    out.sample("edge_precise", &[("kind", "pi")], std::f64::consts::PI);
    out.sample("edge_precise", &[("kind", "tiny")], 1.234_567_890_123_456e-12);
    out.sample("edge_precise", &[("kind", "huge")], 9.876_543_210_987_654e200);
    out.sample("edge_precise", &[("kind", "neg")], -0.000_123_456_789_012_345_68);
    out.sample("edge_precise", &[("kind", "third")], nf / 3.0);
    out.sample("edge_precise", &[("kind", "growing")], 1e15 + nf * 0.123_456_789);
    out.family("edge_signed_gauge", "gauge", "Zero, negative zero and negatives.");
    out.sample("edge_signed_gauge", &[("kind", "zero")], 0.0);
    out.sample("edge_signed_gauge", &[("kind", "negzero")], -0.0);
    out.sample("edge_signed_gauge", &[("kind", "neg")], -42.75 - 0.5 * (n % 4) as f64);

    // Label values for label_replace / label_join.
    out.family("edge_label_gauge", "gauge", "Label values to take apart.");
    out.sample(
        "edge_label_gauge",
        &[("path", "/var/lib/data"), ("host_name", "web-01.example.org"), ("env", "prod")],
        (n % 5) as f64,
    );
    out.sample("edge_label_gauge", &[("path", "/tmp"), ("host_name", "db-02.example.org"), ("env", "dev")], 2.0);

    // Explicit timestamps, one sample per 5 s bucket: no stale markers for these, and gaps
    // between samples. Only from scrape 8 on, so that even rounded down the first timestamp is
    // after the scraping Prometheus's start: its remote-write reader skips older samples.
    if n >= 8 {
        let ts = now_ms - now_ms.rem_euclid(5000);
        out.family("edge_sparse_gauge", "gauge", "A gauge with explicit timestamps.");
        out.sample_at("edge_sparse_gauge", &[("src", "push")], ((ts / 5000) % 100) as f64 * 0.5, ts);
    }
    out.text
}

/// A counter that increments by `inc(k)` at scrape k and drops to 0 every `period` scrapes.
fn reset_counter(n: u64, period: u64, inc: impl Fn(u64) -> f64) -> f64 {
    (n - n % period + 1..=n).map(inc).sum()
}

const BUCKETS: [(f64, &str); 7] =
    [(0.05, "0.05"), (0.1, "0.1"), (0.25, "0.25"), (0.5, "0.5"), (1.0, "1"), (2.5, "2.5"), (f64::INFINITY, "+Inf")];

fn histogram(out: &mut Exposition, handler: &str, scrapes: std::ops::RangeInclusive<u64>) {
    let mut counts = [0u64; BUCKETS.len()];
    let (mut sum, mut count) = (0.0, 0u64);
    let salt = if handler == "/api" { 1 } else { 2 };
    for k in scrapes {
        let observations = 3 + mix(k * 16 + salt) % 5;
        for j in 0..observations {
            let v = (mix(k * 1024 + j * 4 + salt) % 3000) as f64 / 1000.0;
            for (i, (le, _)) in BUCKETS.iter().enumerate() {
                if v <= *le {
                    counts[i] += 1;
                }
            }
            sum += v;
            count += 1;
        }
    }
    for (i, (_, le)) in BUCKETS.iter().enumerate() {
        out.sample("edge_request_duration_seconds_bucket", &[("handler", handler), ("le", le)], counts[i] as f64);
    }
    out.sample("edge_request_duration_seconds_sum", &[("handler", handler)], sum);
    out.sample("edge_request_duration_seconds_count", &[("handler", handler)], count as f64);
}

/// splitmix64: deterministic pseudo-random numbers from the scrape number.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.line(name, labels, value);
        self.text.push('\n');
    }

    fn sample_at(&mut self, name: &str, labels: &[(&str, &str)], value: f64, ts_ms: i64) {
        self.line(name, labels, value);
        let _ = writeln!(self.text, " {ts_ms}");
    }

    fn line(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            let _ = write!(self.text, "{{{}}}", pairs.join(","));
        }
        let value = if value.is_nan() {
            "NaN".to_string()
        } else if value == f64::INFINITY {
            "+Inf".to_string()
        } else if value == f64::NEG_INFINITY {
            "-Inf".to_string()
        } else if value == 0.0 && value.is_sign_negative() {
            "-0".to_string()
        } else {
            // Rust prints the shortest decimal that reads back as the same f64.
            format!("{value}")
        };
        let _ = write!(self.text, " {value}");
    }
}
