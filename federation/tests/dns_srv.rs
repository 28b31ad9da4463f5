//! DNS SRV discovery against a real dnsmasq (Debian package `dnsmasq`) that each test
//! starts on 127.0.0.1 at a free port, with SRV records given on its command line.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sysmon_federation::{Discovery, DiscoveryConfig, DiscoverySettings, Instance, Role};
use tokio_util::sync::CancellationToken;

const DNSMASQ: &str = "/usr/sbin/dnsmasq";
const DEADLINE: Duration = Duration::from_secs(15);
const NAME: &str = "_grpc._tcp.sysmon.test";

/// A dnsmasq process, killed on drop.
struct Dnsmasq {
    child: Child,
    log: PathBuf,
}

impl Dnsmasq {
    /// Starts dnsmasq on 127.0.0.1:`port` serving `srv_hosts` (dnsmasq's
    /// `_service._proto.domain,target,port,priority,weight`) and nothing else.
    fn start(dir: &Path, port: u16, srv_hosts: &[&str]) -> Self {
        assert!(
            Path::new(DNSMASQ).exists(),
            "{DNSMASQ} is missing: the DNS SRV tests need a real dnsmasq; install it with `apt-get install dnsmasq`"
        );
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let log = dir.join(format!("dnsmasq-{}.log", STARTED.fetch_add(1, Ordering::SeqCst)));
        let mut command = Command::new(DNSMASQ);
        command.args([
            "--no-daemon",
            "--conf-file=/dev/null",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            // Answer for sysmon.test from local data alone: a name without records gets
            // NXDOMAIN or NODATA, not REFUSED for want of an upstream.
            "--local=/sysmon.test/",
            "--user=root",
            &format!("--pid-file={}", dir.join("dnsmasq.pid").display()),
            "--log-queries",
            "--log-facility=-",
            "--host-record=agg-a.sysmon.test,127.0.0.11",
            "--host-record=agg-b.sysmon.test,127.0.0.12",
            "--host-record=agg-c.sysmon.test,127.0.0.13",
        ]);
        for srv in srv_hosts {
            command.arg(format!("--srv-host={srv}"));
        }
        let stderr = std::fs::File::create(&log).unwrap();
        let child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr).spawn().unwrap();
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 (as far as can be known before use).
fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn settings(port: u16) -> DiscoverySettings {
    let text = format!(
        "mode = \"dns_srv\"\nrefresh_interval = \"1s\"\n[dns_srv]\nname = \"{NAME}\"\nresolver = \"127.0.0.1:{port}\"\n"
    );
    let config: DiscoveryConfig = toml::from_str(&text).unwrap();
    config.validate().unwrap()
}

async fn within<T>(what: &str, dnsmasq: &Dnsmasq, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}; dnsmasq's log:\n{}", dnsmasq.log()),
    }
}

/// Answers every DNS query on 127.0.0.1:`port` with SERVFAIL, counting them: a nameserver
/// that is up and failing.
async fn servfail(port: u16) -> (tokio::task::JoinHandle<()>, Arc<AtomicU32>) {
    let socket = tokio::net::UdpSocket::bind(("127.0.0.1", port)).await.unwrap();
    let queries = Arc::new(AtomicU32::new(0));
    let counted = queries.clone();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
            if len < 12 {
                continue;
            }
            counted.fetch_add(1, Ordering::SeqCst);
            // The query, turned into a response (QR) with RCODE 2 (SERVFAIL).
            let mut answer = buf[..len].to_vec();
            answer[2] |= 0x80;
            answer[3] = (answer[3] & 0xf0) | 2;
            let _ = socket.send_to(&answer, peer).await;
        }
    });
    (task, queries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_come_in_priority_then_weight_order_and_follow_changes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let dnsmasq = Dnsmasq::start(
        dir.path(),
        port,
        &[
            "_grpc._tcp.sysmon.test,agg-a.sysmon.test,9801,20,100",
            "_grpc._tcp.sysmon.test,agg-b.sysmon.test,9801,10,5",
            "_grpc._tcp.sysmon.test,agg-c.sysmon.test,9811,10,50",
        ],
    );
    let cancel = CancellationToken::new();
    let discovery = Discovery::start(settings(port), cancel.clone()).unwrap();
    let found = within("three targets", &dnsmasq, discovery.wait_for(|list| list.len() == 3)).await.unwrap();
    assert_eq!(
        found,
        [
            Instance::bare("https://agg-c.sysmon.test:9811"),
            Instance::bare("https://agg-b.sysmon.test:9801"),
            Instance::bare("https://agg-a.sysmon.test:9801"),
        ],
        "priority 10 before 20, and within 10 weight 50 before 5"
    );
    // SRV records say nothing of role or region: every target, whatever is asked.
    let expected =
        ["https://agg-c.sysmon.test:9811", "https://agg-b.sysmon.test:9801", "https://agg-a.sysmon.test:9801"];
    assert_eq!(discovery.endpoints(Role::Master, Some("eu")), expected);
    assert_eq!(discovery.endpoints(Role::Regional, None), expected);
    assert!(dnsmasq.log().contains(&format!("query[SRV] {NAME}")), "dnsmasq was not asked:\n{}", dnsmasq.log());

    // The nameserver fails (SERVFAIL) for a while: the last good list stays.
    drop(dnsmasq);
    let (failing, queries) = servfail(port).await;
    tokio::time::timeout(DEADLINE, async {
        // Each lookup asks at least once; four queries are at least two failed lookups.
        while queries.load(Ordering::SeqCst) < 4 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the failing nameserver was not asked four times");
    assert_eq!(discovery.endpoints(Role::Regional, None), expected);
    failing.abort();
    let _ = failing.await;

    // It comes back with other records: the next refresh picks them up.
    let dnsmasq = Dnsmasq::start(dir.path(), port, &["_grpc._tcp.sysmon.test,agg-b.sysmon.test,9801,5,1"]);
    let found = within("the new target", &dnsmasq, discovery.wait_for(|list| list.len() == 1)).await.unwrap();
    assert_eq!(found, [Instance::bare("https://agg-b.sysmon.test:9801")]);
    drop(dnsmasq);

    // A nameserver that answers "no such records" is an answer: the list empties.
    let dnsmasq = Dnsmasq::start(dir.path(), port, &["_other._tcp.sysmon.test,agg-a.sysmon.test,9801,10,5"]);
    within("an empty list", &dnsmasq, discovery.wait_for(<[Instance]>::is_empty)).await.unwrap();

    cancel.cancel();
    within("discovery to stop", &dnsmasq, discovery.join()).await;
}
