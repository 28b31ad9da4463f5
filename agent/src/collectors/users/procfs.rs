//! Reading every process from /proc/PID/stat and /proc/PID/status: CPU time, resident
//! memory, owner, command and start time (which tells a reused pid from the old process).

use std::fmt::Write as _;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::collectors::{malformed, parse_field, read_into};
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
    stat: String,
    status: String,
}

impl ProcScanner {
    pub(crate) fn new(proc: &Path) -> Self {
        Self { proc: proc.to_path_buf(), path: String::new(), stat: String::new(), status: String::new() }
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
        let _ = write!(self.path, "{}/{pid}/stat", self.proc.display());
        if !read_process_file(Path::new(&self.path), &mut self.stat)? {
            return Ok(None);
        }
        let stat = parse_stat(&self.stat, Path::new(&self.path))?;
        // Kernel threads (half the processes of a small server) are root's and have no
        // status worth reading; skipping it saves a third of the scan.
        let uid = if stat.flags & PF_KTHREAD != 0 {
            0
        } else {
            self.path.truncate(self.path.len() - "stat".len());
            self.path.push_str("status");
            if !read_process_file(Path::new(&self.path), &mut self.status)? {
                return Ok(None);
            }
            parse_effective_uid(&self.status, Path::new(&self.path))?
        };
        Ok(Some(ProcessReading {
            pid,
            start_ticks: stat.start_ticks,
            command: stat.command.to_string(),
            uid,
            cpu_ticks: stat.cpu_ticks,
            rss_pages: stat.rss_pages,
        }))
    }
}

/// Reads a file of a process; `Ok(false)` when the process is gone or hidden from us, which
/// is normal: processes exit while /proc is scanned.
fn read_process_file(path: &Path, buf: &mut String) -> Result<bool> {
    match read_into(path, buf) {
        Ok(()) => Ok(true),
        Err(Error::ReadSource { source, .. })
            if matches!(source.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied)
                // ESRCH: the process exited between open and read.
                || source.raw_os_error() == Some(3) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The `flags` bit of a kernel thread (include/linux/sched.h).
const PF_KTHREAD: u64 = 0x0020_0000;

struct Stat<'a> {
    command: &'a str,
    flags: u64,
    cpu_ticks: u64,
    start_ticks: u64,
    rss_pages: u64,
}

/// Parses /proc/PID/stat: `pid (comm) state ppid ...`. The command may itself hold spaces
/// and parentheses, so the fields are counted from the last `)`.
fn parse_stat<'a>(text: &'a str, path: &Path) -> Result<Stat<'a>> {
    let (open, close) = match (text.find('('), text.rfind(')')) {
        (Some(open), Some(close)) if open < close => (open, close),
        _ => return Err(malformed(path, "no (command)")),
    };
    let command = &text[open + 1..close];
    // Field 3 (state) is the first after the command, so field n is at index n - 3.
    const WANTED: [(usize, &str); 5] = [(9, "flags"), (14, "utime"), (15, "stime"), (22, "starttime"), (24, "rss")];
    let mut values = [0u64; 5];
    let mut fields = text[close + 1..].split_ascii_whitespace().enumerate();
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
fn parse_effective_uid(text: &str, path: &Path) -> Result<u32> {
    let line =
        text.lines().find_map(|line| line.strip_prefix("Uid:")).ok_or_else(|| malformed(path, "no Uid: line"))?;
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
        let stat = parse_stat(&line, Path::new("/proc/42/stat")).unwrap();
        assert_eq!(stat.command, "tmux: server) (x");
        assert_eq!((stat.cpu_ticks, stat.start_ticks, stat.rss_pages), (10, 12345, 250));
        let err = parse_stat("42 (x) S 1 2 3 4 5 6 7 8", Path::new("/proc/42/stat")).err().unwrap();
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
    fn parses_the_effective_uid() {
        let text = "Name:\tpasswd\nUid:\t1000\t0\t0\t0\nGid:\t1\t1\t1\t1\n";
        assert_eq!(parse_effective_uid(text, Path::new("s")).unwrap(), 0);
        assert_eq!(
            parse_effective_uid("Name:\tx\n", Path::new("s")).unwrap_err().to_string(),
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
