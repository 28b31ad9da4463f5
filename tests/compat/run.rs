//! One compatibility run: collect data into a reference Prometheus that remote-writes it to
//! the store under test, freeze both, then evaluate the corpus against both query APIs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::api::{Data, Method, Outcome, PromApi, rfc3339, seconds};
use super::compare::Compare;
use super::corpus::{self, Entry};
use super::exporter::EdgeExporter;
use super::servers::{self, NodeExporter, Prometheus, RECEIVER_CONFIG, now_ms, scraper_config};
use crate::util::{Fleet, wait_until};

/// Scrapes of the edge exporter (one a second) before the data is frozen.
const SCRAPES: u64 = 70;
/// The raw-sample dump that proves both stores hold the same data (the span is shorter).
const DUMP_EXPR: &str = r#"{__name__=~".+"}[10m]"#;

/// The store under test: it receives the reference's remote write and serves the query API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A second Prometheus with `--web.enable-remote-write-receiver`: proves the harness.
    Prometheus,
    /// A sysmon aggregator started through `tests/util`.
    Sysmon,
}

/// The data's time span, measured from the reference's `up` series.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    /// The first scrape's timestamp.
    pub start: i64,
    /// The last scrape's timestamp.
    pub end: i64,
    /// A scrape timestamp in the middle of the span (range boundaries fall on samples).
    pub exact: i64,
}

impl Span {
    fn measure(reference: &PromApi) -> Span {
        let Outcome::Success(Data::Matrix(series)) = reference.instant("up[10m]", &seconds(now_ms()), Method::Get)
        else {
            panic!("the reference has no up[10m]");
        };
        let start = series.iter().filter_map(|(_, p)| p.first()).map(|p| p.t_ms).min().expect("up has samples");
        let end = series.iter().filter_map(|(_, p)| p.last()).map(|p| p.t_ms).max().expect("up has samples");
        let edge = series.iter().find(|(l, _)| l.get("job").map(String::as_str) == Some("edge")).expect("edge up");
        let exact = edge.1[edge.1.len() / 2].t_ms;
        Span { start, end, exact }
    }

    fn mid(&self) -> i64 {
        (self.start + self.end) / 2
    }

    /// Instant evaluation times: before the data, inside it (on and off sample times), at its
    /// end and after it (the 5 m lookback still reaches the last samples).
    fn instant_times(&self) -> Vec<(String, i64)> {
        vec![
            ("START-20s".into(), self.start - 20_000),
            ("START+15.5s".into(), self.start + 15_500),
            ("a scrape time".into(), self.exact),
            ("MID+0.123s".into(), self.mid() + 123),
            ("END".into(), self.end),
            ("END+30s".into(), self.end + 30_000),
        ]
    }

    /// Range evaluations (start, end, step): step 1 s lands on one job's scrape times.
    fn ranges(&self) -> Vec<(i64, i64, i64)> {
        vec![(self.start - 5_000, self.end + 10_000, 1_000), (self.start + 500, self.end, 7_000)]
    }
}

/// One evaluation on which the two stores disagree.
struct Mismatch {
    line: usize,
    expr: String,
    how: String,
    diffs: Vec<String>,
}

/// Everything evaluated, and every disagreement.
#[derive(Default)]
struct Report {
    expressions: usize,
    evaluations: usize,
    mismatches: Vec<Mismatch>,
    /// What the reference answered, per corpus line, in evaluation order: for reviewing what
    /// the corpus exercises (written to the report file).
    answers: BTreeMap<usize, (String, Vec<String>)>,
    /// Reference answers with samples, without, and errors.
    with_data: usize,
    empty: usize,
    errors: usize,
}

impl Report {
    fn check(
        &mut self,
        line: usize,
        expr: &str,
        how: String,
        compare: Compare,
        a: (&PromApi, &Outcome),
        b: (&PromApi, &Outcome),
    ) {
        self.evaluations += 1;
        let answer = match a.1 {
            Outcome::Broken(what) => panic!("the reference Prometheus gave a broken answer to {expr} ({how}): {what}"),
            Outcome::Error { error_type, .. } => {
                self.errors += 1;
                format!("error {error_type}")
            }
            Outcome::Success(data) if data.sample_count() == 0 => {
                self.empty += 1;
                "empty".to_string()
            }
            Outcome::Success(data) => {
                self.with_data += 1;
                match data {
                    Data::Vector(v) => format!("vector {}", v.len()),
                    Data::Matrix(m) => format!("matrix {}x{}", m.len(), data.sample_count()),
                    other => other.result_type().to_string(),
                }
            }
        };
        self.answers.entry(line).or_insert_with(|| (expr.to_string(), Vec::new())).1.push(answer);
        let diffs = compare.diff(&a.0.name, a.1, &b.0.name, b.1);
        if !diffs.is_empty() {
            self.mismatches.push(Mismatch { line, expr: expr.to_string(), how, diffs });
        }
    }

    /// Every mismatch, the mismatching expressions and the summary line.
    fn render(&self, reference: &PromApi, other: &PromApi, span: &Span) -> String {
        let mut out = String::new();
        for m in &self.mismatches {
            let _ = writeln!(out, "MISMATCH corpus line {}: {}\n    {}", m.line, m.expr, m.how);
            for diff in &m.diffs {
                let _ = writeln!(out, "      {diff}");
            }
        }
        let mut failing: BTreeMap<usize, (&str, usize)> = BTreeMap::new();
        for m in &self.mismatches {
            failing.entry(m.line).or_insert((&m.expr, 0)).1 += 1;
        }
        if !failing.is_empty() {
            let _ = writeln!(out, "mismatching expressions (corpus line: evaluations that disagree):");
            for (line, (expr, count)) in &failing {
                let total = self.answers.get(line).map_or(0, |(_, answers)| answers.len());
                let _ = writeln!(out, "  {line}: {count} of {total}: {expr}");
            }
        }
        let _ = writeln!(
            out,
            "promql compat, {} vs {}: data {}..{} ({} s); {} expressions, {} evaluations ({} answers \
             with samples, {} empty, {} errors in {}); {} mismatching evaluations in {} expressions",
            reference.name,
            other.name,
            seconds(span.start),
            seconds(span.end),
            (span.end - span.start) / 1000,
            self.expressions,
            self.evaluations,
            self.with_data,
            self.empty,
            self.errors,
            reference.name,
            self.mismatches.len(),
            failing.len()
        );
        out
    }

    /// What the reference answered to each expression, one line each.
    fn render_answers(&self) -> String {
        let mut out = String::from("reference answers per corpus line (instant times, then ranges):\n");
        for (line, (expr, answers)) in &self.answers {
            let _ = writeln!(out, "  {line}: {expr}\n      {}", answers.join(" | "));
        }
        out
    }
}

fn corpus_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/promql_corpus.txt")
}

/// Runs the whole comparison against `target`; panics after printing every mismatch.
pub fn run(target: Target) {
    servers::require_binaries();
    let mut corpus = corpus::load(&corpus_path());
    // A debugging aid: only the expressions containing this text.
    if let Ok(only) = std::env::var("SYSMON_COMPAT_ONLY") {
        corpus.retain(|entry| entry.expr.contains(&only));
        eprintln!("SYSMON_COMPAT_ONLY={only:?}: {} expressions", corpus.len());
    }
    let clock = Instant::now();
    let progress = |what: &str| eprintln!("[{:6.1}s] {what}", clock.elapsed().as_secs_f64());

    // sysmon needs a fleet CA for its gRPC side; a Prometheus-only run just a temp dir.
    let fleet = (target == Target::Sysmon).then(Fleet::new);
    let tmp = tempfile::Builder::new().prefix("sysmon-compat-").tempdir().unwrap();
    let dir = fleet.as_ref().map_or(tmp.path(), Fleet::path);

    let node = NodeExporter::start(dir);
    let edge = EdgeExporter::start();
    let (other, write_url, _receiver, _aggregator) = match target {
        Target::Prometheus => {
            let receiver =
                Prometheus::start(dir, "prometheus-receiver", RECEIVER_CONFIG, &["--web.enable-remote-write-receiver"]);
            let url = receiver.url();
            (PromApi::new("prometheus-receiver", &url), format!("{url}/api/v1/write"), Some(receiver), None)
        }
        Target::Sysmon => {
            let aggregator = fleet.as_ref().expect("sysmon runs have a fleet").start_aggregator("aggregator");
            let url = aggregator.url();
            (PromApi::new("sysmon", &url), format!("{url}/api/v1/write"), None, Some(aggregator))
        }
    };
    let scraper = Prometheus::start(dir, "prometheus", &scraper_config(true, node.addr, edge.addr(), &write_url), &[]);
    let reference = PromApi::new("prometheus", &scraper.url());
    progress(&format!("started: node_exporter {}, edge {}, {} <- {write_url}", node.addr, edge.addr(), reference.base));

    let mut checked = Instant::now();
    wait_until(Duration::from_secs(SCRAPES + 60), &format!("{SCRAPES} scrapes of the edge exporter"), || {
        scraper.process.assert_running();
        // A receiver that refuses remote write fails the test now, not after the collection.
        if checked.elapsed() > Duration::from_secs(2) {
            scraper.assert_remote_write_ok(&scraper.metrics());
            checked = Instant::now();
        }
        edge.scrapes() >= SCRAPES
    });
    // Freeze: stop scraping (same remote-write config, so the queue is kept) and let remote
    // write drain. Prometheus 2.42 writes no stale markers for targets dropped by a reload,
    // so the data simply ends with the last scrape.
    scraper.reload(&scraper_config(false, node.addr, edge.addr(), &write_url));
    scraper.wait_remote_write_drained(Duration::from_secs(60));
    let span = Span::measure(&reference);
    let (start_s, mid_s, end_s) = (seconds(span.start), seconds(span.mid()), seconds(span.end));
    let m = scraper.metrics();
    let sent = m.get("prometheus_remote_storage_samples_total").copied().unwrap_or(0.0);
    let retried = m.get("prometheus_remote_storage_samples_retried_total").copied().unwrap_or(0.0);
    progress(&format!("frozen: data from {start_s} to {end_s}; remote write sent {sent} samples, retried {retried}"));

    // Both stores must now hold the same raw samples. The receiver may still be committing
    // the last batch, so wait a little for the counts to agree; differences are reported.
    let dump_at = span.end + 1_000;
    let dump_time = seconds(dump_at);
    let reference_dump = reference.instant(DUMP_EXPR, &dump_time, Method::Get);
    let Outcome::Success(reference_data) = &reference_dump else { panic!("reference dump: {reference_dump}") };
    let total = reference_data.sample_count();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut other_dump = other.instant(DUMP_EXPR, &dump_time, Method::Get);
    while !matches!(&other_dump, Outcome::Success(d) if d.sample_count() == total) && Instant::now() < deadline {
        std::thread::park_timeout(Duration::from_millis(500));
        other_dump = other.instant(DUMP_EXPR, &dump_time, Method::Get);
    }
    progress(&format!("stored samples: {} {total}, {} {other_dump}", reference.name, other.name));

    let mut report = Report { expressions: corpus.len(), ..Report::default() };
    report.check(
        0,
        DUMP_EXPR,
        format!("instant @ END+1s = {} (raw samples: both stores must hold the same data)", seconds(dump_at)),
        Compare::default(),
        (&reference, &reference_dump),
        (&other, &other_dump),
    );
    for entry in &corpus {
        evaluate(&mut report, entry, &entry.expand(&start_s, &mid_s, &end_s), &span, &reference, &other);
    }
    progress(&format!("evaluated {} expressions ({} evaluations)", report.expressions, report.evaluations));

    let text = report.render(&reference, &other, &span);
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("promql_compat-{}.txt", other.name));
    let _ = std::fs::write(&file, format!("{text}\n{}", report.render_answers()));
    eprintln!("{text}(report written to {})", file.display());
    assert!(
        report.mismatches.is_empty(),
        "{} of {} evaluations disagree between {} and {} (every mismatch is printed above)",
        report.mismatches.len(),
        report.evaluations,
        reference.name,
        other.name
    );
}

fn evaluate(report: &mut Report, entry: &Entry, expr: &str, span: &Span, reference: &PromApi, other: &PromApi) {
    let compare = Compare { ordered: entry.ordered };
    if entry.instant {
        for (i, (name, t)) in span.instant_times().into_iter().enumerate() {
            // Both methods, and both time forms the API takes.
            let method = if i % 2 == 0 { Method::Get } else { Method::Post };
            let time = if i == 4 { rfc3339(t) } else { seconds(t) };
            let a = reference.instant(expr, &time, method);
            let b = other.instant(expr, &time, method);
            let how = format!("instant @ {name} = {} ({method:?} time={time})", seconds(t));
            report.check(entry.line, expr, how, compare, (reference, &a), (other, &b));
        }
    }
    if entry.range {
        for (i, (start, end, step)) in span.ranges().into_iter().enumerate() {
            // POST with float seconds; GET with RFC 3339 times and a duration step.
            let (method, start, end, step) = if i % 2 == 0 {
                (Method::Post, seconds(start), seconds(end), format!("{}", step as f64 / 1000.0))
            } else {
                (Method::Get, rfc3339(start), rfc3339(end), format!("{}s", step / 1000))
            };
            let a = reference.range(expr, &start, &end, &step, method);
            let b = other.range(expr, &start, &end, &step, method);
            let how = format!("range start={start} end={end} step={step} ({method:?})");
            // Order is only defined for instant vectors.
            report.check(entry.line, expr, how, Compare::default(), (reference, &a), (other, &b));
        }
    }
}
