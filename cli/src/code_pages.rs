//! The agent gives back the pages of its start-up code once it runs.
//!
//! Parsing the config and the command line, building the TLS configuration and compiling the
//! include/exclude patterns run once, but every page of code they touched stays mapped, and
//! counted in the agent's resident memory, for as long as the process lives: 7.8 of the
//! agent's 14.8 MiB were its own code, of which 2.7 MiB run again after start-up
//! (`benches/agent_footprint.sh`). Some time after start-up, [`release_start_up_code`] unmaps
//! the executable's read-only pages; the code that still runs is mapped again at its next use,
//! from the page cache, and the rest is left to the kernel to keep or reclaim like any other
//! cached file page. The steady-state code sits together in the binary (the link order of
//! `cli/agent-hot-code.txt`, see `cli/build.rs`), so it maps back as few pages.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt as _;

/// One read-only mapping of the executable, from /proc/self/smaps.
#[derive(Debug, PartialEq, Eq)]
struct CodeMapping {
    start: usize,
    len: usize,
}

/// Unmaps the executable's read-only, file-backed pages (its code and constants); returns the
/// bytes of address space advised. Mappings with private (copied-on-write) pages, such as the
/// relocated read-only data, are left alone: their content is not the file's.
pub(crate) fn release_start_up_code() -> io::Result<usize> {
    let exe = fs::metadata("/proc/self/exe")?;
    let smaps = fs::read_to_string("/proc/self/smaps")?;
    let mut released = 0;
    for mapping in code_mappings(&smaps, exe.dev(), exe.ino()) {
        advise_dont_need(&mapping)?;
        released += mapping.len;
    }
    Ok(released)
}

/// madvise(MADV_DONTNEED) over one mapping found by [`code_mappings`].
#[allow(unsafe_code)]
fn advise_dont_need(mapping: &CodeMapping) -> io::Result<()> {
    // SAFETY: the range is one whole mapping of this process's own executable, read-only,
    // private and with no anonymous (copied) page, as /proc/self/smaps listed it. For such a
    // mapping MADV_DONTNEED only drops the page-table entries: the next access faults the very
    // same bytes back in from the file, so no value anyone reads can change, and no memory is
    // freed that Rust owns.
    unsafe { rustix::mm::madvise(mapping.start as *mut _, mapping.len, rustix::mm::Advice::LinuxDontNeed) }
        .map_err(io::Error::from)
}

/// The mappings in `smaps` of the file (`dev`, `ino`) that are read-only (`r-xp` or `r--p`) and
/// hold no anonymous page.
fn code_mappings(smaps: &str, dev: u64, ino: u64) -> Vec<CodeMapping> {
    read_only_mappings(smaps, dev, ino)
        .into_iter()
        .filter(|m| m.anonymous_kb == Some(0))
        .map(|m| CodeMapping { start: m.start, len: m.len })
        .collect()
}

/// A read-only mapping of a file in /proc/PID/smaps, with its resident and anonymous KiB (the
/// latter `None` when the entry does not say, or says something unreadable).
struct ReadOnlyMapping {
    start: usize,
    len: usize,
    rss_kb: u64,
    anonymous_kb: Option<u64>,
}

/// The read-only (`r-xp` or `r--p`) mappings in `smaps` of the file (`dev`, `ino`).
fn read_only_mappings(smaps: &str, dev: u64, ino: u64) -> Vec<ReadOnlyMapping> {
    let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
    let mut found: Vec<ReadOnlyMapping> = Vec::new();
    // Whether the entry being read is one of `found` (its last).
    let mut in_file = false;
    for line in smaps.lines() {
        if let Some(header) = MappingHeader::parse(line) {
            in_file = header.read_only() && header.is_file(major, minor, ino);
            if in_file {
                let (start, len) = (header.start, header.end - header.start);
                found.push(ReadOnlyMapping { start, len, rss_kb: 0, anonymous_kb: None });
            }
        } else if let Some(mapping) = found.last_mut().filter(|_| in_file) {
            if let Some(kb) = kb_field(line, "Rss:") {
                mapping.rss_kb = kb.unwrap_or(0);
            } else if let Some(kb) = kb_field(line, "Anonymous:") {
                mapping.anonymous_kb = kb;
            }
        }
    }
    found
}

/// The value of a `Name:   123 kB` line of smaps when `line` is field `name`: `Some(None)` when
/// the number does not parse.
fn kb_field(line: &str, name: &str) -> Option<Option<u64>> {
    let value = line.strip_prefix(name)?;
    Some(value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The first line of a mapping in /proc/PID/smaps: `start-end perms offset dev inode path`.
struct MappingHeader<'a> {
    start: usize,
    end: usize,
    perms: &'a str,
    dev: &'a str,
    inode: u64,
}

impl<'a> MappingHeader<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        let mut fields = line.split_ascii_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?;
        let _offset = fields.next()?;
        let dev = fields.next()?;
        let inode = fields.next()?.parse().ok()?;
        Some(Self {
            start: usize::from_str_radix(start, 16).ok()?,
            end: usize::from_str_radix(end, 16).ok()?,
            perms,
            dev,
            inode,
        })
    }

    fn read_only(&self) -> bool {
        self.perms == "r-xp" || self.perms == "r--p"
    }

    fn is_file(&self, major: u32, minor: u32, ino: u64) -> bool {
        let Some((maj, min)) = self.dev.split_once(':') else { return false };
        self.inode == ino
            && u32::from_str_radix(maj, 16).ok() == Some(major)
            && u32::from_str_radix(min, 16).ok() == Some(minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0a1000000-55d0a13d6000 r--p 00000000 fe:01 1234 /usr/bin/sysmon
Size:               3928 kB
Rss:                 900 kB
Anonymous:             0 kB
55d0a13d6000-55d0a2079000 r-xp 003d5000 fe:01 1234 /usr/bin/sysmon
Size:              12940 kB
Anonymous:             0 kB
55d0a2079000-55d0a211c000 r--p 00c77000 fe:01 1234 /usr/bin/sysmon
Size:                652 kB
Anonymous:           652 kB
55d0a211c000-55d0a2124000 rw-p 00d1a000 fe:01 1234 /usr/bin/sysmon
Anonymous:            28 kB
7f0000000000-7f0000100000 r-xp 00000000 fe:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
7f0000200000-7f0000300000 r-xp 00000000 fe:02 1234 /mnt/other/binary
Anonymous:             0 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
Anonymous:           132 kB
";

    fn dev(major: u64, minor: u64) -> u64 {
        (major << 8) | minor
    }

    #[test]
    fn finds_the_executables_code_and_constants_only() {
        let found = code_mappings(SMAPS, dev(0xfe, 1), 1234);
        assert_eq!(
            found,
            vec![
                CodeMapping { start: 0x55d0a1000000, len: 0x3d6000 },
                CodeMapping { start: 0x55d0a13d6000, len: 0xca3000 },
            ],
            "the relocated read-only data (anonymous pages), .data, libc and a file with the \
             same inode on another device must be left alone"
        );
    }

    #[test]
    fn a_mapping_with_copied_pages_is_skipped() {
        let patched = SMAPS.replacen("Size:              12940 kB\nAnonymous:             0 kB", "Anonymous: 4 kB", 1);
        let found = code_mappings(&patched, dev(0xfe, 1), 1234);
        assert_eq!(found, vec![CodeMapping { start: 0x55d0a1000000, len: 0x3d6000 }]);
    }

    /// Resident KiB of the executable's read-only mappings.
    fn resident_code_kb() -> u64 {
        let exe = fs::metadata("/proc/self/exe").unwrap();
        let smaps = fs::read_to_string("/proc/self/smaps").unwrap();
        read_only_mappings(&smaps, exe.dev(), exe.ino()).iter().map(|m| m.rss_kb).sum()
    }

    #[test]
    fn releasing_lowers_resident_code_and_keeps_the_process_and_its_data_intact() {
        let before: Vec<u64> = (0..1000).map(|i| i * 7919).collect();
        let resident_before = resident_code_kb();
        let released = release_start_up_code().expect("madvise");
        let resident_after = resident_code_kb();
        assert!(released > 0, "the test binary's own code should have been found");
        assert!(
            resident_after < resident_before,
            "resident code {resident_before} KiB before the release, {resident_after} KiB after"
        );
        // Code runs again (this function, the allocator, the formatter) and constants read
        // the same after the release.
        let after: Vec<u64> = (0..1000).map(|i| i * 7919).collect();
        assert_eq!(before, after);
        assert_eq!(format!("{:08.3}", std::f64::consts::PI), "0003.142");
    }
}
