//! The end-to-end harness: real `sysmon` processes on loopback, each test in its own temp
//! dir, with certificates made by the real `sysmon certs` commands.
#![allow(dead_code, clippy::print_stderr)]

pub mod consul;
pub mod netns;

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `sysmon` binary under test.
pub fn sysmon() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sysmon"))
}

/// Runs `sysmon ARGS` to completion; panics with its output if it fails.
pub fn run_ok(args: &[&str]) -> String {
    let output = sysmon().args(args).output().expect("sysmon runs");
    if !output.status.success() {
        panic!("sysmon {} failed:\n{}", args.join(" "), describe(&output));
    }
    String::from_utf8(output.stdout).expect("stdout is UTF-8")
}

/// Runs `sysmon ARGS` to completion and returns its output, whatever the exit status.
pub fn run(args: &[&str]) -> Output {
    sysmon().args(args).output().expect("sysmon runs")
}

pub fn describe(output: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A fresh directory with a fleet CA in `certs/`.
pub struct Fleet {
    pub dir: tempfile::TempDir,
}

impl Fleet {
    pub fn new() -> Fleet {
        let dir = tempfile::Builder::new().prefix("sysmon-e2e-").tempdir().expect("temp dir");
        let fleet = Fleet { dir };
        run_ok(&["certs", "init", "--dir", fleet.certs().to_str().unwrap()]);
        run_ok(&[
            "certs",
            "issue",
            "--server",
            "localhost",
            "--san",
            "127.0.0.1",
            "--dir",
            fleet.certs().to_str().unwrap(),
        ]);
        fleet
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn certs(&self) -> PathBuf {
        self.path().join("certs")
    }

    /// Issues an agent certificate (`certs/agent-ID.pem`).
    pub fn issue_agent(&self, id: &str) {
        run_ok(&["certs", "issue", "--agent", id, "--dir", self.certs().to_str().unwrap()]);
    }

    /// Starts an aggregator on free loopback ports and waits until it is ready.
    pub fn start_aggregator(&self, name: &str) -> Aggregator {
        let grpc = free_addr();
        let http = free_addr();
        self.start_aggregator_on(name, grpc, http)
    }

    /// Starts an aggregator on the given ports (to restart one where its agents expect it).
    pub fn start_aggregator_on(&self, name: &str, grpc: SocketAddr, http: SocketAddr) -> Aggregator {
        self.start_aggregator_with(name, grpc, http, "")
    }

    /// Starts an aggregator like [`Fleet::start_aggregator_on`], with `extra` appended to its
    /// config file (e.g. a `[storage]` section).
    pub fn start_aggregator_with(&self, name: &str, grpc: SocketAddr, http: SocketAddr, extra: &str) -> Aggregator {
        self.start_aggregator_as(name, grpc, http, "region = \"test\"", "localhost", extra)
    }

    /// Issues an aggregator certificate for `name` (`certs/server-NAME.pem`), valid for
    /// 127.0.0.1 and for "localhost" (the name the test agents check).
    pub fn issue_server(&self, name: &str) {
        let dir = self.certs();
        run_ok(&[
            "certs",
            "issue",
            "--server",
            name,
            "--san",
            "127.0.0.1",
            "--san",
            "localhost",
            "--dir",
            dir.to_str().unwrap(),
        ]);
    }

    /// Issues an aggregator certificate like [`Fleet::issue_server`], valid for `extra_sans`
    /// (names or addresses) too.
    pub fn issue_server_with_sans(&self, name: &str, extra_sans: &[&str]) {
        let dir = self.certs();
        let mut args = vec!["certs", "issue", "--server", name, "--san", "127.0.0.1", "--san", "localhost"];
        for san in extra_sans {
            args.extend(["--san", san]);
        }
        args.extend(["--dir", dir.to_str().unwrap()]);
        run_ok(&args);
    }

    /// Starts an aggregator with `aggregator_keys` in its `[aggregator]` section (role,
    /// region), the certificate `server-CERT.pem`, and `extra` at the end of its config.
    pub fn start_aggregator_as(
        &self,
        name: &str,
        grpc: SocketAddr,
        http: SocketAddr,
        aggregator_keys: &str,
        cert: &str,
        extra: &str,
    ) -> Aggregator {
        let (config, data) = self.write_aggregator_config(name, grpc, http, aggregator_keys, cert, extra);
        let process = Process::spawn(self.path(), name, &["aggregator", "--config", config.to_str().unwrap()], &[]);
        let aggregator = Aggregator { process, grpc, http, data, netns: None };
        aggregator.wait_ready();
        aggregator
    }

    /// Starts an aggregator like [`Fleet::start_aggregator_as`] inside network namespace
    /// `netns` (`ip netns exec`); `grpc` and `http` are addresses in that namespace, where
    /// [`Aggregator::wait_ready`] and [`Aggregator::get_json`] reach it.
    #[allow(clippy::too_many_arguments)]
    pub fn start_aggregator_in_netns(
        &self,
        netns: &str,
        name: &str,
        grpc: SocketAddr,
        http: SocketAddr,
        aggregator_keys: &str,
        cert: &str,
        extra: &str,
    ) -> Aggregator {
        let (config, data) = self.write_aggregator_config(name, grpc, http, aggregator_keys, cert, extra);
        let process = Process::spawn_in_netns(
            self.path(),
            name,
            netns,
            &["aggregator", "--config", config.to_str().unwrap()],
            &[],
        );
        let aggregator = Aggregator { process, grpc, http, data, netns: Some(netns.to_string()) };
        aggregator.wait_ready();
        aggregator
    }

    /// Writes `NAME.toml` for an aggregator (see [`Fleet::start_aggregator_as`]); returns
    /// its path and the data dir it names.
    pub fn write_aggregator_config(
        &self,
        name: &str,
        grpc: SocketAddr,
        http: SocketAddr,
        aggregator_keys: &str,
        cert: &str,
        extra: &str,
    ) -> (PathBuf, PathBuf) {
        let data = self.path().join(format!("{name}-data"));
        let config = self.path().join(format!("{name}.toml"));
        let certs = self.certs();
        fs::write(
            &config,
            format!(
                r#"[aggregator]
{aggregator_keys}
data_dir = "{data}"
grpc_listen = "{grpc}"
http_listen = "{http}"

[tls]
ca_cert = "{certs}/ca.pem"
cert = "{certs}/server-{cert}.pem"
key = "{certs}/server-{cert}-key.pem"
{extra}"#,
                data = data.display(),
                certs = certs.display()
            ),
        )
        .unwrap();
        (config, data)
    }

    /// Starts an agent with id `id` presenting the certificate of `cert_id` (normally the same).
    pub fn start_agent(&self, id: &str, cert_id: &str, grpc: SocketAddr, interval: &str) -> Process {
        self.start_agent_with_certs(id, cert_id, &self.certs(), grpc, interval)
    }

    pub fn start_agent_with_certs(
        &self,
        id: &str,
        cert_id: &str,
        certs: &Path,
        grpc: SocketAddr,
        interval: &str,
    ) -> Process {
        let endpoint = format!("https://{grpc}");
        self.start_agent_config(id, cert_id, certs, &[endpoint.as_str()], interval, "", "")
    }

    /// The spool directory of agent `id`.
    pub fn agent_spool(&self, id: &str) -> PathBuf {
        self.path().join(format!("agent-{id}-spool"))
    }

    /// Starts agent `id` with the given endpoints (preferred first); `aggregator_keys` go
    /// into its `[aggregator]` section and `extra` at the end of its config (e.g. a `[spool]`
    /// section, which replaces the default one in the temp dir).
    #[allow(clippy::too_many_arguments)]
    pub fn start_agent_config(
        &self,
        id: &str,
        cert_id: &str,
        certs: &Path,
        endpoints: &[&str],
        interval: &str,
        aggregator_keys: &str,
        extra: &str,
    ) -> Process {
        let config =
            self.write_agent_config(id, cert_id, certs, endpoints, interval, Some("localhost"), aggregator_keys, extra);
        let env = self.agent_env(id);
        let env = env.each_ref().map(|(k, v)| (*k, v.as_str()));
        Process::spawn(self.path(), &format!("agent-{id}"), &["agent", "--config", config.to_str().unwrap()], &env)
    }

    /// Starts agent `id` like [`Fleet::start_agent_config`] inside network namespace
    /// `netns`, checking the aggregator's certificate for `server_name` (`None`: each
    /// endpoint's own host, as a real agent does by default).
    #[allow(clippy::too_many_arguments)]
    pub fn start_agent_in_netns(
        &self,
        netns: &str,
        id: &str,
        endpoints: &[&str],
        interval: &str,
        server_name: Option<&str>,
        aggregator_keys: &str,
        extra: &str,
    ) -> Process {
        let config =
            self.write_agent_config(id, id, &self.certs(), endpoints, interval, server_name, aggregator_keys, extra);
        let name = format!("agent-{id}");
        let env = self.agent_env(id);
        let env = env.each_ref().map(|(k, v)| (*k, v.as_str()));
        Process::spawn_in_netns(self.path(), &name, netns, &["agent", "--config", config.to_str().unwrap()], &env)
    }

    /// The environment of a test agent: debug logs of what it collects, spools and gets
    /// acked (the last two come from the uplink crate, which the agent ships through), and
    /// the users collector's state in the test's dir, not the machine's /var/lib.
    fn agent_env(&self, id: &str) -> [(&'static str, String); 2] {
        let users_state = self.path().join(format!("agent-{id}-users.json"));
        [
            ("SYSMON_LOG", "info,sysmon_agent=debug,sysmon_uplink=debug".into()),
            ("SYSMON_USERS_STATE_FILE", users_state.to_str().unwrap().into()),
        ]
    }

    /// Writes `agent-ID.toml` (see [`Fleet::start_agent_config`]), with
    /// `aggregator.server_name` when given; returns its path.
    #[allow(clippy::too_many_arguments)]
    pub fn write_agent_config(
        &self,
        id: &str,
        cert_id: &str,
        certs: &Path,
        endpoints: &[&str],
        interval: &str,
        server_name: Option<&str>,
        aggregator_keys: &str,
        extra: &str,
    ) -> PathBuf {
        let config = self.path().join(format!("agent-{id}.toml"));
        let server_name = server_name.map(|name| format!("server_name = {name:?}\n")).unwrap_or_default();
        let endpoints = endpoints.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>().join(", ");
        let spool = if extra.contains("[spool]") {
            String::new()
        } else {
            format!("\n[spool]\ndir = \"{}\"\n", self.agent_spool(id).display())
        };
        fs::write(
            &config,
            format!(
                r#"[agent]
id = "{id}"
interval = "{interval}"

[aggregator]
endpoints = [{endpoints}]
{server_name}{aggregator_keys}

[tls]
ca_cert = "{fleet}/ca.pem"
cert = "{certs}/agent-{cert_id}.pem"
key = "{certs}/agent-{cert_id}-key.pem"
{spool}{extra}"#,
                fleet = self.certs().display(),
                certs = certs.display()
            ),
        )
        .unwrap();
        config
    }

    /// Starts agent `id` (with its own certificate) like [`Fleet::start_agent`], with `extra`
    /// at the end of its config (e.g. `[users]` and `[processes]` sections).
    pub fn start_agent_with(&self, id: &str, grpc: SocketAddr, interval: &str, extra: &str) -> Process {
        let endpoint = format!("https://{grpc}");
        self.start_agent_config(id, id, &self.certs(), &[endpoint.as_str()], interval, "", extra)
    }
}

/// A running aggregator.
pub struct Aggregator {
    pub process: Process,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub data: PathBuf,
    /// The network namespace it runs in (`None`: the test's own).
    pub netns: Option<String>,
}

impl Aggregator {
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    pub fn wait_ready(&self) {
        let url = format!("{}/readyz", self.url());
        wait_until(Duration::from_secs(30), &format!("{} ready at {url}", self.process.name), || {
            self.process.assert_running();
            matches!(self.http_get(&url), Ok((200, _)))
        });
    }

    /// GET a JSON API path; panics (with the aggregator's log) unless it answers 200.
    pub fn get_json(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.url());
        match self.http_get(&url) {
            Ok((200, body)) => serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {body}")),
            other => panic!("{url}: {other:?}\n{}", self.process.log()),
        }
    }

    /// [`http_get`] from the aggregator's network namespace.
    pub fn http_get(&self, url: &str) -> std::io::Result<(u16, String)> {
        match &self.netns {
            None => http_get(url),
            Some(ns) => netns::run_in(ns, || http_get(url)),
        }
    }
}

/// A child process whose stderr goes to a file, killed when dropped.
pub struct Process {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    pub fn spawn(dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Process {
        Process::spawn_command(dir, name, sysmon(), args, env)
    }

    /// Starts `sysmon ARGS` like [`Process::spawn`] inside network namespace `netns`
    /// (`ip netns exec`, which execs the program: the child is sysmon itself).
    pub fn spawn_in_netns(dir: &Path, name: &str, netns: &str, args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", netns, env!("CARGO_BIN_EXE_sysmon")]);
        Process::spawn_command(dir, name, command, args, env)
    }

    fn spawn_command(dir: &Path, name: &str, mut command: Command, args: &[&str], env: &[(&str, &str)]) -> Process {
        let log = dir.join(format!("{name}.log"));
        let stderr = fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        command.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
        command.env_remove("SYSMON_LOG");
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Process { name: name.to_string(), child, log }
    }

    /// Starts a program other than sysmon (Prometheus, node_exporter); its stdout and stderr go
    /// to `NAME.log` in `dir`.
    pub fn spawn_program(dir: &Path, name: &str, program: &str, args: &[&str]) -> Process {
        let log = dir.join(format!("{name}.log"));
        let out = fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({program}): {e}"));
        Process { name: name.to_string(), child, log }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`HUP`, `TERM`, ...) and returns at once.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status();
        assert!(matches!(status, Ok(s) if s.success()), "kill -{signal} {} failed: {status:?}", self.name);
    }

    /// Everything the process wrote to stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the process's log if it has exited.
    pub fn assert_running(&self) {
        // `Child::try_wait` needs `&mut self`; the kernel's view of the pid works through `&self`.
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let state = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).unwrap_or("X");
        if state == "Z" || state == "X" {
            panic!("{} has exited:\n{}", self.name, self.log());
        }
    }

    /// SIGKILL, as a crash or power loss would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().expect("wait for child")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- {} log ({}) ----\n{}", self.name, self.log.display(), self.log());
        }
    }
}

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Polls `check` until it gives `Ok`, or panics after `timeout` with what was awaited and
/// the last `Err` it gave (what was still wrong).
pub fn wait_for<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let mut last = String::new();
    let mut result = None;
    let deadline = Instant::now() + timeout;
    while result.is_none() && Instant::now() < deadline {
        match check() {
            Ok(value) => result = Some(value),
            Err(e) => {
                last = e;
                std::thread::park_timeout(Duration::from_millis(500));
            }
        }
    }
    result.unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}: {last}"))
}

/// Polls `condition` until it holds, or panics after `timeout` naming what was awaited.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

/// A minimal HTTP/1.1 GET: (status, body).
pub fn http_get(url: &str) -> std::io::Result<(u16, String)> {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    Ok((status, body))
}

/// A minimal HTTP/1.1 POST of `body` with `content_type`: (status, body).
pub fn http_post(url: &str, content_type: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    Ok((status, body))
}

/// The response headers of a GET, lower-cased names.
pub fn http_head(url: &str) -> std::io::Result<(u16, Vec<(String, String)>)> {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host)?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).to_string();
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// MemTotal of this machine in bytes, from /proc/meminfo.
pub fn mem_total_bytes() -> f64 {
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap();
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:")).unwrap();
    let kb: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024.0
}

/// `collected_at_ms` of every line of `log` containing `needle` (the agent logs it for each
/// batch it spools, sends or drops).
pub fn stamps(log: &str, needle: &str) -> std::collections::BTreeSet<i64> {
    log.lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| {
            let rest = &l[l.find("collected_at_ms=")? + "collected_at_ms=".len()..];
            rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        })
        .collect()
}

/// The timestamps stored for `host`'s `node_load1`, in stored order.
pub fn stored(aggregator: &Aggregator, host: &str) -> Vec<i64> {
    let body = aggregator.get_json(&format!("/api/hosts/{host}/series?metric=node_load1&start=0&end=9999999999999"));
    match body["series"].as_array().and_then(|s| s.first()) {
        Some(series) => series["points"].as_array().unwrap().iter().map(|p| p[0].as_i64().unwrap()).collect(),
        None => Vec::new(),
    }
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped: a filesystem that
/// really fills up. Mounting needs root (CAP_SYS_ADMIN), as CI has.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::Builder::new().prefix("sysmon-e2e-tmpfs-").tempdir().expect("temp dir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount(8) runs");
        assert!(status.success(), "mounting a tmpfs failed: this test needs root (CAP_SYS_ADMIN)");
        Tmpfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem is full; returns its path.
    pub fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = fs::File::create(&path).unwrap();
        let chunk = vec![0xa5u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily, in case a process still has a file open there.
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// `text` percent-encoded for a URL query string or form body (RFC 3986 unreserved characters
/// kept).
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `POST /api/v1/query` of `query` at `time` (unix seconds); panics (with the aggregator's log)
/// unless the answer is a success. Returns the API's `data`.
pub fn instant_query(aggregator: &Aggregator, query: &str, time: &str) -> Value {
    let url = format!("{}/api/v1/query", aggregator.url());
    let form = format!("query={}&time={}", url_encode(query), url_encode(time));
    let (status, body) = http_post(&url, "application/x-www-form-urlencoded", form.as_bytes())
        .unwrap_or_else(|e| panic!("{url}: {e}\n{}", aggregator.process.log()));
    let body: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {body}"));
    assert!(status == 200 && body["status"] == "success", "{url} {query}: {status} {body}");
    body["data"].clone()
}
