//! User names from /etc/passwd, re-read only when the file changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tracing::warn;

/// uid -> name, from a passwd file. A uid the file does not name is shown as the number.
pub(crate) struct UserNames {
    path: PathBuf,
    /// The file's modification time and length when it was last read.
    read_as: Option<(SystemTime, u64)>,
    names: HashMap<u32, String>,
    /// Whether the last attempt to read the file failed (logged once per outage).
    failing: bool,
}

impl UserNames {
    pub(crate) fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf(), read_as: None, names: HashMap::new(), failing: false }
    }

    /// Re-reads the file if it changed since the last call. A file that cannot be read leaves
    /// the names as they were (users then show as uids until it can), with one warning.
    pub(crate) fn refresh(&mut self) {
        let stamp = std::fs::metadata(&self.path).and_then(|m| Ok((m.modified()?, m.len())));
        let result = match stamp {
            Ok(stamp) if Some(stamp) == self.read_as => return,
            Ok(stamp) => std::fs::read_to_string(&self.path).map(|text| {
                self.names = parse_passwd(&text);
                self.read_as = Some(stamp);
            }),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => self.failing = false,
            Err(error) if !self.failing => {
                warn!(path = %self.path.display(), %error, "cannot read the passwd file; users are shown by uid");
                self.failing = true;
            }
            Err(_) => {}
        }
    }

    /// The name of `uid`, or the uid as a string.
    pub(crate) fn name(&self, uid: u32) -> String {
        self.names.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
    }
}

/// `name:password:uid:gid:gecos:home:shell` lines; comments, blank and malformed lines are
/// skipped. When a uid has several names, the first wins, as getpwuid(3) returns it.
fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (fields.next(), fields.next(), fields.next()) else { continue };
        let Ok(uid) = uid.parse::<u32>() else { continue };
        if name.is_empty() || name.starts_with(['+', '-']) {
            continue;
        }
        names.entry(uid).or_insert_with(|| name.to_string());
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_skips_junk() {
        let names = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\n# comment\n\nalice:x:1000:1000::/home/alice:/bin/sh\n\
             toor:x:0:0::/root:/bin/sh\nbroken:x:notanumber:1::/:/\n+nis::::::\n",
        );
        assert_eq!(names.len(), 2);
        assert_eq!(names[&0], "root");
        assert_eq!(names[&1000], "alice");
    }

    #[test]
    fn unknown_uids_are_numbers_and_changes_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");
        let mut names = UserNames::new(&path);
        names.refresh();
        assert_eq!(names.name(1000), "1000");
        std::fs::write(&path, "alice:x:1000:1000::/home/alice:/bin/sh\n").unwrap();
        names.refresh();
        assert_eq!(names.name(1000), "alice");
        std::fs::write(&path, "alice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n").unwrap();
        names.refresh();
        assert_eq!(names.name(1001), "bob");
    }
}
