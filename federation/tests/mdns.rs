//! mDNS announcement and browsing between network namespaces this test creates, and proof
//! that nothing mDNS goes out on an interface the config did not name.
//!
//! Layout (needs root; every address lives only inside these namespaces):
//!
//! ```text
//!  ns A (announcer)            ns B (browser)           ns C (capture, lo down)
//!  sm-a 10.77.N.1/24 <------>  sm-b 10.77.N.2/24
//!  sm-d 10.78.N.1/24 <---------------------------------> sm-c1 10.78.N.2/24
//!                              sm-e 10.79.N.1/24 <-----> sm-c2 10.79.N.2/24
//!  sm-f 10.80.N.1/24 <---------------------------------> sm-c3 10.80.N.2/24 (added late)
//! ```
//!
//! The announcer is configured with `interfaces = ["sm-a"]`, the browser with `["sm-b"]`;
//! sm-d and sm-e are decoys, up and multicast-capable, and sm-f a decoy that comes up
//! while the daemons run. A child in C captures every frame on its interfaces (AF_PACKET)
//! from before the daemons start until after they stop.
//!
//! Each role runs in this test binary itself, re-run under `ip netns exec` with
//! `SYSMON_MDNS_CHILD` naming the role; children talk to the parent by lines on stdout,
//! and stop when their stdin closes. The namespaces are deleted on drop, also on failure.

use std::io::{BufRead as _, BufReader, Lines, Read as _, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use sysmon_federation::{Announcer, Discovery, DiscoveryConfig, DiscoverySettings, Instance, Role};
use tokio_util::sync::CancellationToken;

const CHILD_ENV: &str = "SYSMON_MDNS_CHILD";
const DEADLINE: Duration = Duration::from_secs(30);
const MDNS_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
const MDNS_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);

fn run(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("iproute2's `ip` must be installed");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

fn output(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The three namespaces and their links; deleted on drop (which also deletes the veths).
struct Namespaces {
    a: String,
    b: String,
    c: String,
    /// The third octet of every address.
    net: u32,
}

impl Namespaces {
    /// `tag` tells apart the namespaces of tests running at the same time.
    fn create(tag: &str) -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap().split_whitespace().next().unwrap();
        assert_eq!(uid, "0", "the mDNS test creates network namespaces and must run as root");
        let pid = std::process::id();
        let name = |role: &str| format!("sysmon-mdns-{pid}-{tag}-{role}");
        let ns = Self { a: name("a"), b: name("b"), c: name("c"), net: pid % 250 + 1 };
        for n in [&ns.a, &ns.b, &ns.c] {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
            run(&["netns", "add", n]);
        }
        // The veths are created straight into their namespaces: they never exist in the
        // machine's own.
        run(&["link", "add", "sm-a", "netns", &ns.a, "type", "veth", "peer", "name", "sm-b", "netns", &ns.b]);
        run(&["link", "add", "sm-d", "netns", &ns.a, "type", "veth", "peer", "name", "sm-c1", "netns", &ns.c]);
        run(&["link", "add", "sm-e", "netns", &ns.b, "type", "veth", "peer", "name", "sm-c2", "netns", &ns.c]);
        let net = ns.net;
        for (n, dev, addr) in [
            (&ns.a, "sm-a", format!("10.77.{net}.1/24")),
            (&ns.b, "sm-b", format!("10.77.{net}.2/24")),
            (&ns.a, "sm-d", format!("10.78.{net}.1/24")),
            (&ns.c, "sm-c1", format!("10.78.{net}.2/24")),
            (&ns.b, "sm-e", format!("10.79.{net}.1/24")),
            (&ns.c, "sm-c2", format!("10.79.{net}.2/24")),
        ] {
            run(&["-n", n, "addr", "add", &addr, "dev", dev]);
            run(&["-n", n, "link", "set", dev, "multicast", "on", "up"]);
        }
        for n in [&ns.a, &ns.b] {
            run(&["-n", n, "link", "set", "lo", "up"]);
        }
        // Link-local multicast needs no route, but a default multicast route keeps a
        // socket without IP_MULTICAST_IF from failing outright.
        run(&["-n", &ns.a, "route", "add", "224.0.0.0/4", "dev", "sm-a"]);
        run(&["-n", &ns.b, "route", "add", "224.0.0.0/4", "dev", "sm-b"]);
        ns
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in [&self.a, &self.b, &self.c] {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// A child running one role in a namespace; killed on drop.
struct RoleChild {
    role: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: std::path::PathBuf,
}

impl RoleChild {
    fn start(ns: &str, role: &'static str, dir: &std::path::Path, env: &[(&str, String)]) -> Self {
        let exe = std::env::current_exe().unwrap();
        let stderr = dir.join(format!("{role}.stderr"));
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", ns])
            .arg(exe)
            .args(["--exact", "mdns_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, role)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let stdin = child.stdin.take();
        let stdout: Lines<BufReader<ChildStdout>> = BufReader::new(child.stdout.take().unwrap()).lines();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self { role, child, stdin, lines, seen: Vec::new(), stderr }
    }

    /// The first line starting with `prefix`, waiting at most [`DEADLINE`].
    fn expect(&mut self, prefix: &str) -> String {
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    // The test harness may have written "test mdns_child ... " before it.
                    let said = line.split_once("@@ ").map_or("", |(_, said)| said);
                    if let Some(rest) = said.strip_prefix(prefix) {
                        return rest.trim().to_string();
                    }
                }
                Err(_) => panic!(
                    "{} child: no line {prefix:?} within {DEADLINE:?}; lines: {:?}; stderr:\n{}",
                    self.role,
                    self.seen,
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                ),
            }
        }
    }

    /// Closes the child's stdin: its signal to stop.
    fn stop(&mut self) {
        self.stdin.take();
    }
}

impl Drop for RoleChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The groups a namespace's interface has joined (`ip maddr`).
fn groups(ns: &str, dev: &str) -> String {
    output(&["-n", ns, "maddr", "show", "dev", dev])
}

/// The counts of the decoy capture: frames, mDNS packets, mDNS group memberships.
struct Capture {
    counts: String,
}

impl Capture {
    fn count(&self, key: &str) -> u64 {
        self.counts
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {:?}", self.counts))
    }
}

/// Announces on `announce_on` in A, browses on sm-b in B, checks what B finds and that it
/// sees the goodbye, and returns what the capture in C saw meanwhile.
///
/// With `late_link`, a new link from A to C comes up once the daemons run, and the test
/// waits past the daemon's next look at the interfaces (every 5 s) before withdrawing.
fn announce_browse_and_capture(tag: &str, announce_on: &str, late_link: bool) -> Capture {
    let dir = tempfile::tempdir().unwrap();
    let ns = Namespaces::create(tag);
    let net = ns.net;

    let mut capture = RoleChild::start(&ns.c, "capture", dir.path(), &[]);
    capture.expect("READY");
    let mut announcer = RoleChild::start(&ns.a, "announce", dir.path(), &[("SYSMON_MDNS_IF", announce_on.into())]);
    announcer.expect("ANNOUNCED");
    let mut browser = RoleChild::start(&ns.b, "browse", dir.path(), &[("SYSMON_MDNS_IF", "sm-b".into())]);
    assert_eq!(browser.expect("DAEMONS"), "1", "mode = \"mdns\" runs one mdns-sd daemon");

    let found = browser.expect("FOUND");
    assert_eq!(
        found,
        format!(
            "endpoint=https://10.77.{net}.1:9801 role=Some(Regional) region=Some(\"eu-test\") version=Some(\"9.9.9\") http=Some(\"http://agg-eu.test:9800\")"
        )
    );
    let endpoints = browser.expect("ENDPOINTS");
    assert_eq!(endpoints, format!("regional=[\"https://10.77.{net}.1:9801\"] master=[]"));

    // While both daemons run: the mDNS group is joined on the chosen links only.
    let chosen: Vec<&str> = announce_on.split(',').collect();
    for (n, dev) in [(&ns.a, "sm-a"), (&ns.a, "sm-d"), (&ns.b, "sm-b"), (&ns.b, "sm-e")] {
        let joined = groups(n, dev);
        if chosen.contains(&dev) || dev == "sm-b" {
            assert!(joined.contains("224.0.0.251"), "{dev} has not joined 224.0.0.251:\n{joined}");
        } else {
            assert!(
                !joined.contains("224.0.0.251") && !joined.contains("ff02::fb"),
                "{dev}, not chosen, is in the mDNS group:\n{joined}"
            );
        }
    }

    if late_link {
        run(&["link", "add", "sm-f", "netns", &ns.a, "type", "veth", "peer", "name", "sm-c3", "netns", &ns.c]);
        for (n, dev, addr) in
            [(&ns.a, "sm-f", format!("10.80.{net}.1/24")), (&ns.c, "sm-c3", format!("10.80.{net}.2/24"))]
        {
            run(&["-n", n, "addr", "add", &addr, "dev", dev]);
            run(&["-n", n, "link", "set", dev, "multicast", "on", "up"]);
        }
        // Proving that nothing happens needs time to pass: mdns-sd looks for new
        // interfaces and addresses every 5 s, and announces on any it selects.
        #[allow(clippy::disallowed_methods, reason = "waiting out the daemon's interface check is the test")]
        std::thread::sleep(Duration::from_secs(7));
        let joined = groups(&ns.a, "sm-f");
        assert!(
            !joined.contains("224.0.0.251") && !joined.contains("ff02::fb"),
            "sm-f, up after start and not chosen, is in the mDNS group:\n{joined}"
        );
    }

    // The announcer withdraws (goodbye packets); the browser sees the instance go.
    announcer.stop();
    announcer.expect("WITHDRAWN");
    browser.expect("GONE");
    browser.stop();
    browser.expect("STOPPED");

    capture.stop();
    let capture = Capture { counts: capture.expect("COUNTS") };
    assert!(capture.count("frames") > 0, "the capture saw no frame at all: {}", capture.counts);
    capture
}

#[test]
fn a_browser_finds_an_announcer_on_the_chosen_link_and_nothing_leaks_on_the_others() {
    let capture = announce_browse_and_capture("only", "sm-a", true);
    assert_eq!(capture.count("mdns"), 0, "mDNS packets went out on a decoy interface: {}", capture.counts);
    // Known and documented (src/discovery/mdns.rs): mdns-sd's daemon joins the group on
    // every interface that is up before its interface selection runs, then leaves it on
    // the interfaces deselected, so the kernel sends membership reports (IGMP, MLD) there.
    // They carry no mDNS data; this line reports how many.
    writeln!(std::io::stderr(), "decoy capture with interfaces = [\"sm-a\"]: {}", capture.counts).unwrap();
}

/// The control: with the decoy chosen too, the same capture does see mDNS on it, so the
/// zero above is a finding, not a blind capture.
#[test]
fn the_capture_sees_mdns_on_a_chosen_decoy() {
    let capture = announce_browse_and_capture("control", "sm-a,sm-d", false);
    assert!(capture.count("mdns") > 0, "the capture missed mDNS on a chosen interface: {}", capture.counts);
}

/// The role a child plays, chosen by [`CHILD_ENV`]; does nothing in a normal test run.
#[test]
fn mdns_child() {
    let Ok(role) = std::env::var(CHILD_ENV) else { return };
    match role.as_str() {
        "capture" => capture(),
        "announce" => runtime().block_on(announce()),
        "browse" => runtime().block_on(browse()),
        other => panic!("unknown role {other}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Tells the parent `line`, marked so it can be told from the test harness's output.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "@@ {line}").unwrap();
    out.flush().unwrap();
}

/// mode = "mdns" on the interfaces of `SYSMON_MDNS_IF` (comma-separated).
fn mdns_settings() -> DiscoverySettings {
    let interfaces: Vec<String> = std::env::var("SYSMON_MDNS_IF").unwrap().split(',').map(str::to_string).collect();
    let text = format!("mode = \"mdns\"\n[mdns]\ninterfaces = {interfaces:?}\n");
    let config: DiscoveryConfig = toml::from_str(&text).unwrap();
    config.validate().unwrap()
}

/// Resolves when the parent closes our stdin.
async fn stdin_closed() {
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await
    .unwrap();
}

async fn announce() {
    let interface = std::env::var("SYSMON_MDNS_IF").unwrap();
    // The address of the chosen interface is what browsers will reach.
    let me = Instance {
        endpoint: "https://agg-eu.test:9801".into(),
        role: Some(Role::Regional),
        region: Some("eu-test".into()),
        version: Some("9.9.9".into()),
        http_url: Some("http://agg-eu.test:9800".into()),
    };
    let cancel = CancellationToken::new();
    let announcer = Announcer::start(mdns_settings(), me, cancel.clone()).unwrap();
    say(&format!("ANNOUNCED on {interface}"));
    stdin_closed().await;
    cancel.cancel();
    announcer.join().await;
    say("WITHDRAWN");
}

async fn browse() {
    let cancel = CancellationToken::new();
    let discovery = Discovery::start(mdns_settings(), cancel.clone()).unwrap();
    // tests/modes.rs checks that no other mode starts this thread. A new thread names
    // itself once it runs: on a busy machine, a moment after the daemon is started.
    let named_by = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while mdns_daemon_threads() == 0 && std::time::Instant::now() < named_by {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    say(&format!("DAEMONS {}", mdns_daemon_threads()));
    let found = tokio::time::timeout(DEADLINE, discovery.wait_for(|list| !list.is_empty()))
        .await
        .expect("no instance found within the deadline")
        .unwrap();
    for i in &found {
        say(&format!(
            "FOUND endpoint={} role={:?} region={:?} version={:?} http={:?}",
            i.endpoint, i.role, i.region, i.version, i.http_url
        ));
    }
    say(&format!(
        "ENDPOINTS regional={:?} master={:?}",
        discovery.endpoints(Role::Regional, Some("eu-test")),
        discovery.endpoints(Role::Master, None)
    ));
    tokio::time::timeout(DEADLINE, discovery.wait_for(<[Instance]>::is_empty))
        .await
        .expect("the withdrawn instance did not go")
        .unwrap();
    say("GONE");
    stdin_closed().await;
    cancel.cancel();
    discovery.join().await;
    say("STOPPED");
}

/// Threads of this process named as mdns-sd names its daemon's.
fn mdns_daemon_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .filter(|name| name.trim() == "mDNS_daemon")
        .count()
}

/// What one captured Ethernet frame is, as far as this test cares.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    /// UDP to or from port 5353: mDNS.
    Mdns,
    /// An IGMP or MLD message about the mDNS group.
    Membership,
    Other,
}

fn classify(frame: &[u8]) -> Frame {
    let get = |at: usize| frame.get(at).copied().unwrap_or(0);
    let word = |at: usize| u16::from_be_bytes([get(at), get(at + 1)]);
    let is_mdns_port = |udp: usize| word(udp) == 5353 || word(udp + 2) == 5353;
    match word(12) {
        0x0800 => {
            let ip = 14;
            let payload = ip + usize::from(get(ip) & 0x0f) * 4;
            match get(ip + 9) {
                17 if is_mdns_port(payload) => Frame::Mdns,
                2 => {
                    let group_at = |at: usize| Ipv4Addr::new(get(at), get(at + 1), get(at + 2), get(at + 3));
                    let about_mdns = match get(payload) {
                        // v1/v2 report, v2 leave: the group follows the checksum.
                        0x12 | 0x16 | 0x17 => group_at(payload + 4) == MDNS_V4,
                        // v3 report: records of type, aux length, source count, group, ...
                        0x22 => {
                            let mut at = payload + 8;
                            (0..word(payload + 6)).any(|_| {
                                let group = group_at(at + 4);
                                at += 8 + usize::from(word(at + 2)) * 4 + usize::from(get(at + 1)) * 4;
                                group == MDNS_V4
                            })
                        }
                        _ => false,
                    };
                    if about_mdns { Frame::Membership } else { Frame::Other }
                }
                _ => Frame::Other,
            }
        }
        0x86dd => {
            let mut next = get(14 + 6);
            let mut at = 14 + 40;
            // Hop-by-hop options (MLD carries a router alert).
            if next == 0 {
                next = get(at);
                at += (usize::from(get(at + 1)) + 1) * 8;
            }
            let group_at = |at: usize| {
                let mut octets = [0u8; 16];
                for (i, o) in octets.iter_mut().enumerate() {
                    *o = get(at + i);
                }
                Ipv6Addr::from(octets)
            };
            match next {
                17 if is_mdns_port(at) => Frame::Mdns,
                58 => {
                    let about_mdns = match get(at) {
                        // MLDv1 report and done: the group follows the max delay and reserved.
                        131 | 132 => group_at(at + 8) == MDNS_V6,
                        // MLDv2 report: records of type, aux length, source count, group, ...
                        143 => {
                            let mut record = at + 8;
                            (0..word(at + 6)).any(|_| {
                                let group = group_at(record + 4);
                                record += 20 + usize::from(word(record + 2)) * 16 + usize::from(get(record + 1)) * 4;
                                group == MDNS_V6
                            })
                        }
                        _ => false,
                    };
                    if about_mdns { Frame::Membership } else { Frame::Other }
                }
                _ => Frame::Other,
            }
        }
        _ => Frame::Other,
    }
}

/// Captures every frame in this namespace (its loopback is down, so every frame is on a
/// decoy link) until stdin closes, then prints the counts.
fn capture() {
    use socket2::{Domain, Protocol, Socket, Type};
    const ETH_P_ALL: u16 = 0x0003;
    let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(i32::from(ETH_P_ALL.to_be())))).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = stop.clone();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        stopper.store(true, Ordering::SeqCst);
    });
    say("READY");
    let (mut frames, mut mdns, mut membership) = (0u64, 0u64, 0u64);
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        match (&socket).read(&mut buf) {
            Ok(len) => {
                frames += 1;
                match classify(&buf[..len]) {
                    Frame::Mdns => mdns += 1,
                    Frame::Membership => membership += 1,
                    Frame::Other => {}
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("capture: {e}"),
        }
    }
    say(&format!("COUNTS frames={frames} mdns={mdns} membership={membership}"));
}

#[test]
fn frames_are_classified() {
    // An IPv4 UDP datagram to 224.0.0.251:5353.
    let mut udp = vec![0u8; 14 + 20 + 8];
    udp[12..14].copy_from_slice(&[0x08, 0x00]);
    udp[14] = 0x45;
    udp[14 + 9] = 17;
    udp[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&5353u16.to_be_bytes());
    assert_eq!(classify(&udp), Frame::Mdns);
    // An IGMPv3 report joining 224.0.0.251 (IP header with a router alert option).
    let mut igmp = vec![0u8; 14 + 24 + 8 + 8];
    igmp[12..14].copy_from_slice(&[0x08, 0x00]);
    igmp[14] = 0x46;
    igmp[14 + 9] = 2;
    let p = 14 + 24;
    igmp[p] = 0x22;
    igmp[p + 6..p + 8].copy_from_slice(&1u16.to_be_bytes());
    igmp[p + 8] = 4;
    igmp[p + 12..p + 16].copy_from_slice(&MDNS_V4.octets());
    assert_eq!(classify(&igmp), Frame::Membership);
    // An MLDv2 report for ff02::fb behind a hop-by-hop header.
    let mut mld = vec![0u8; 14 + 40 + 8 + 8 + 20];
    mld[12..14].copy_from_slice(&[0x86, 0xdd]);
    mld[14 + 6] = 0;
    let h = 14 + 40;
    mld[h] = 58;
    let p = h + 8;
    mld[p] = 143;
    mld[p + 6..p + 8].copy_from_slice(&1u16.to_be_bytes());
    mld[p + 8] = 4;
    mld[p + 12..p + 28].copy_from_slice(&MDNS_V6.octets());
    assert_eq!(classify(&mld), Frame::Membership);
    mld[p + 12 + 15] = 0x16;
    assert_eq!(classify(&mld), Frame::Other);
}
