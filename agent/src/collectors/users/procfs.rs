//! Reading every process from /proc/PID/stat (and its owner from /proc/PID, or
//! /proc/PID/status when that is not enough): CPU time, resident memory, owner, command and
//! start time (which tells a reused pid from the old process).

use std::fmt::Write as _;
use std::io::{ErrorKind, Read as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use crate::collectors::{malformed, parse_field};
use crate::error::{Error, Result};

/// One process as /proc showed it in one scan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcessReading {
    pub(crate) pid: u32,
    /// When it started, in clock ticks after boot (`starttime`, field 22 of stat).
    pub(crate) start_ticks: u64,
    /// `comm`: the executable's name, at most 15 bytes.
    pub(crate) command: String,
    /// Its effective uid (the second `Uid:` field of status), the user `ps` and `top` show.
    pub(crate) uid: u32,
    /// User plus system CPU time of all its threads, in clock ticks (`utime` + `stime`).
    pub(crate) cpu_ticks: u64,
    /// Resident pages (`rss`, field 24 of stat).
    pub(crate) rss_pages: u64,
}

/// Scans /proc, reusing its buffers from one scan to the next.
pub(crate) struct ProcScanner {
    proc: PathBuf,
    path: String,
    buf: Vec<u8>,
    /// Whether `proc` is a real procfs, whose directories' owners are the processes'
    /// effective uids (a fixture tree's are whoever wrote it).
    owners_are_uids: bool,
}

impl ProcScanner {
    pub(crate) fn new(proc: &Path) -> Self {
        let owners_are_uids = rustix::fs::statfs(proc).is_ok_and(|fs| fs.f_type == rustix::fs::PROC_SUPER_MAGIC);
        Self { proc: proc.to_path_buf(), path: String::new(), buf: vec![0; 4096], owners_are_uids }
    }

    /// Appends every process to `out`. A process that exits during the scan is left out.
    ///
    /// # Errors
    /// /proc cannot be listed, or a process's files do not have the kernel's format.
    pub(crate) fn scan(&mut self, out: &mut Vec<ProcessReading>) -> Result<()> {
        let entries =
            std::fs::read_dir(&self.proc).map_err(|source| Error::ReadSource { path: self.proc.clone(), source })?;
        for entry in entries {
            let entry = entry.map_err(|source| Error::ReadSource { path: self.proc.clone(), source })?;
            let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
            if let Some(reading) = self.read(pid)? {
                out.push(reading);
            }
        }
        Ok(())
    }

    /// Reads one process; `None` when it is gone (or hidden) by the time its files are read.
    fn read(&mut self, pid: u32) -> Result<Option<ProcessReading>> {
        self.path.clear();
        let _ = write!(self.path, "{}/{pid}", self.proc.display());
        let dir_len = self.path.len();
        self.path.push_str("/stat");
        let Some(len) = read_process_file(Path::new(&self.path), &mut self.buf)? else { return Ok(None) };
        let stat = parse_stat(&self.buf[..len], Path::new(&self.path))?;
        let uid = if stat.flags & PF_KTHREAD != 0 {
            // Kernel threads (half the processes of a small server) are root's.
            0
        } else {
            // The owner of /proc/PID is the effective uid, for one cheap statx instead of
            // opening and reading status; except for a process that is not dumpable (it
            // changed its credentials without exec, like sshd's session processes), which
            // the kernel shows as root's: for those, and for real root processes, status says.
            self.path.truncate(dir_len);
            let owner = if self.owners_are_uids { std::fs::metadata(&self.path).map(|m| m.uid()) } else { Ok(0) };
            match owner {
                Ok(uid) if uid != 0 => uid,
                Ok(_) => {
                    self.path.push_str("/status");
                    let Some(len) = read_process_file(Path::new(&self.path), &mut self.buf)? else { return Ok(None) };
                    parse_effective_uid(&self.buf[..len], Path::new(&self.path))?
                }
                Err(e) if gone(&e) => return Ok(None),
                Err(source) => return Err(Error::ReadSource { path: PathBuf::from(&self.path), source }),
            }
        };
        Ok(Some(ProcessReading {
            pid,
            start_ticks: stat.start_ticks,
            command: stat.command,
            uid,
            cpu_ticks: stat.cpu_ticks,
            rss_pages: stat.rss_pages,
        }))
    }
}

/// Whether an error reading a process's file means that it exited (or is hidden from us),
/// which is normal while /proc is scanned.
fn gone(e: &std::io::Error) -> bool {
    // ESRCH: the process exited between open and read.
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) || e.raw_os_error() == Some(3)
}

/// Reads a small pseudo-file of a process into `buf` (grown as needed) and returns its
/// length; `None` when the process is gone. A plain read loop: `read_to_string` would first
/// stat the file and seek, two more system calls per file, for a size /proc reports as 0.
fn read_process_file(path: &Path, buf: &mut Vec<u8>) -> Result<Option<usize>> {
    let err = |source| Error::ReadSource { path: path.to_path_buf(), source };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => return Ok(Some(len)),
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if gone(&e) => return Ok(None),
            Err(e) => return Err(err(e)),
        }
    }
}

/// The `flags` bit of a kernel thread (include/linux/sched.h).
const PF_KTHREAD: u64 = 0x0020_0000;

struct Stat {
    command: String,
    flags: u64,
    cpu_ticks: u64,
    start_ticks: u64,
    rss_pages: u64,
}

/// Parses /proc/PID/stat: `pid (comm) state ppid ...`. The command may hold spaces,
/// parentheses and bytes that are not UTF-8, so the fields are counted from the last `)`.
fn parse_stat(text: &[u8], path: &Path) -> Result<Stat> {
    let open = text.iter().position(|&b| b == b'(');
    let close = text.iter().rposition(|&b| b == b')');
    let (open, close) = match (open, close) {
        (Some(open), Some(close)) if open < close => (open, close),
        _ => return Err(malformed(path, "no (command)")),
    };
    let command = String::from_utf8_lossy(&text[open + 1..close]).into_owned();
    let rest = std::str::from_utf8(&text[close + 1..]).map_err(|_| malformed(path, "fields are not text"))?;
    // Field 3 (state) is the first after the command, so field n is at index n - 3.
    const WANTED: [(usize, &str); 5] = [(9, "flags"), (14, "utime"), (15, "stime"), (22, "starttime"), (24, "rss")];
    let mut values = [0u64; 5];
    let mut fields = rest.split_ascii_whitespace().enumerate();
    for ((n, name), value) in WANTED.iter().zip(&mut values) {
        let field = fields
            .find(|(i, _)| *i == n - 3)
            .map(|(_, f)| f)
            .ok_or_else(|| malformed(path, format!("no field {n} ({name})")))?;
        // rss is signed in the kernel's format, though never negative in practice.
        *value = if *n == 24 {
            parse_field::<i64>(field, path, name)?.max(0) as u64
        } else {
            parse_field(field, path, name)?
        };
    }
    let [flags, utime, stime, start_ticks, rss_pages] = values;
    Ok(Stat { command, flags, cpu_ticks: utime + stime, start_ticks, rss_pages })
}

/// The effective uid from /proc/PID/status's `Uid:\treal\teffective\tsaved\tfs` line.
fn parse_effective_uid(text: &[u8], path: &Path) -> Result<u32> {
    let line = text
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"Uid:"))
        .ok_or_else(|| malformed(path, "no Uid: line"))?;
    let line = std::str::from_utf8(line).map_err(|_| malformed(path, "Uid: is not text"))?;
    let effective = line.split_ascii_whitespace().nth(1).ok_or_else(|| malformed(path, "Uid: has no effective uid"))?;
    parse_field(effective, path, "effective uid")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::collectors::test_util::write;

    /// A /proc/PID/stat line with the fields this module reads set, the rest plausible.
    pub(crate) fn stat_line(pid: u32, command: &str, utime: u64, stime: u64, start_ticks: u64, rss: u64) -> String {
        format!(
            "{pid} ({command}) S 1 {pid} {pid} 0 -1 4194304 100 0 0 0 {utime} {stime} 0 0 20 0 1 0 {start_ticks} \
             10000000 {rss} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        )
    }

    /// A /proc/PID/status with the lines around `Uid:` that the kernel prints.
    pub(crate) fn status_text(command: &str, uid: u32) -> String {
        format!(
            "Name:\t{command}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t1\nPid:\t1\nPPid:\t0\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t100\t100\t100\t100\n"
        )
    }

    /// Writes /proc/PID/{stat,status} under `proc`.
    pub(crate) fn write_process(proc: &Path, pid: u32, command: &str, uid: u32, cpu: (u64, u64), start: u64, rss: u64) {
        write(proc, &format!("{pid}/stat"), &stat_line(pid, command, cpu.0, cpu.1, start, rss));
        write(proc, &format!("{pid}/status"), &status_text(command, uid));
    }

    #[test]
    fn parses_stat_with_odd_commands() {
        let line = stat_line(42, "tmux: server) (x", 7, 3, 12345, 250);
        let stat = parse_stat(line.as_bytes(), Path::new("/proc/42/stat")).unwrap();
        assert_eq!(stat.command, "tmux: server) (x");
        assert_eq!((stat.cpu_ticks, stat.start_ticks, stat.rss_pages), (10, 12345, 250));
        let err = parse_stat(b"42 (x) S 1 2 3 4 5 6 7 8", Path::new("/proc/42/stat")).err().unwrap();
        assert_eq!(err.to_string(), "cannot parse /proc/42/stat: no field 14 (utime)");
    }

    #[test]
    fn kernel_threads_are_roots_without_a_status() {
        let dir = tempfile::tempdir().unwrap();
        let line = stat_line(2, "kthreadd", 0, 5, 0, 0).replace(" 4194304 ", " 2129984 ");
        write(dir.path(), "2/stat", &line);
        let mut out = Vec::new();
        ProcScanner::new(dir.path()).scan(&mut out).unwrap();
        assert_eq!((out[0].uid, out[0].cpu_ticks, out[0].command.as_str()), (0, 5, "kthreadd"));
    }

    #[test]
    fn a_command_that_is_not_utf8_is_kept_lossily() {
        let mut line = stat_line(42, "ab", 1, 2, 3, 4).into_bytes();
        line[4] = 0xff;
        let stat = parse_stat(&line, Path::new("/proc/42/stat")).unwrap();
        assert_eq!(stat.command, "\u{fffd}b");
        assert_eq!(stat.cpu_ticks, 3);
    }

    #[test]
    fn parses_the_effective_uid() {
        let text = "Name:\tpasswd\nUid:\t1000\t0\t0\t0\nGid:\t1\t1\t1\t1\n";
        assert_eq!(parse_effective_uid(text.as_bytes(), Path::new("s")).unwrap(), 0);
        assert_eq!(
            parse_effective_uid(b"Name:\tx\n", Path::new("s")).unwrap_err().to_string(),
            "cannot parse s: no Uid: line"
        );
    }

    #[test]
    fn scans_processes_and_skips_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let proc = dir.path();
        write_process(proc, 1, "systemd", 0, (100, 50), 1, 3000);
        write_process(proc, 4321, "burn", 1000, (700, 10), 9000, 100);
        write(proc, "self/stat", "not a process dir");
        write(proc, "meminfo", "MemTotal: 1 kB\n");
        // A process that exited between listing and reading: its directory is empty.
        std::fs::create_dir_all(proc.join("77")).unwrap();
        let mut out = Vec::new();
        ProcScanner::new(proc).scan(&mut out).unwrap();
        out.sort_by_key(|r| r.pid);
        assert_eq!(
            out,
            [
                ProcessReading {
                    pid: 1,
                    start_ticks: 1,
                    command: "systemd".into(),
                    uid: 0,
                    cpu_ticks: 150,
                    rss_pages: 3000
                },
                ProcessReading {
                    pid: 4321,
                    start_ticks: 9000,
                    command: "burn".into(),
                    uid: 1000,
                    cpu_ticks: 710,
                    rss_pages: 100
                },
            ]
        );
    }

    #[test]
    fn the_real_proc_has_this_process() {
        let mut out = Vec::new();
        ProcScanner::new(Path::new("/proc")).scan(&mut out).unwrap();
        let me = out.iter().find(|r| r.pid == std::process::id()).expect("this test's own process");
        assert!(me.rss_pages > 0);
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
        assert_eq!(me.uid, owner);
    }
}
