//! The `[users]` and `[processes]` sections of agent.toml: which users are reported, when a
//! user counts as heavy, and which processes are listed. The collector itself is switched by
//! `[collectors] users`, like every other collector.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sysmon_config::ConfigError;

/// The most processes `processes.top_n` may list per resource: the cardinality bound.
pub(crate) const MAX_TOP_N: usize = 100;
/// The most users `users.max_users` may name: past it, a machine is better watched by group.
pub(crate) const MAX_MAX_USERS: usize = 10_000;
/// The longest `users.persistent_time`.
const MAX_PERSISTENT_TIME: Duration = Duration::from_secs(24 * 3600);

const fn default_min_uid() -> u32 {
    1000
}
const fn default_max_users() -> usize {
    50
}
fn default_exclude() -> Vec<String> {
    vec!["nobody".into()]
}
const fn default_heavy_cpu_share() -> f64 {
    0.5
}
const fn default_heavy_memory_share() -> f64 {
    0.5
}
fn default_persistent_time() -> String {
    "5m".into()
}
fn default_state_file() -> PathBuf {
    PathBuf::from("/var/lib/sysmon-agent/users.json")
}
const fn default_top_n() -> usize {
    10
}
const fn default_min_cpu_share() -> f64 {
    0.01
}
const fn default_min_memory_share() -> f64 {
    0.01
}

/// `[users]` as written. Every key is documented, with its default, in deploy/agent.toml.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields)]
pub struct UsersSection {
    /// The lowest uid of a real (human) user; users below it are system users and are not
    /// reported (root too, unless `include_root`). Default 1000.
    #[serde(default = "default_min_uid")]
    pub min_uid: u32,
    /// Also report root (uid 0). Default false.
    #[serde(default)]
    pub include_root: bool,
    /// Users never reported, by name (or by uid, for users /etc/passwd does not name).
    /// Default ["nobody"].
    #[serde(default = "default_exclude")]
    pub exclude: Vec<String>,
    /// The most users reported by name per collection, 1 to 10000: the bound on the `user`
    /// label's values. Past it, the users using the least CPU over the last interval are
    /// summed into `user="other"`. Default 50.
    #[serde(default = "default_max_users")]
    pub max_users: usize,
    /// A user whose processes use more than this share of the machine's CPU time (0 to 1,
    /// where 1 is every CPU busy) for `persistent_time` is heavy; 0 switches CPU detection
    /// off. Default 0.5.
    #[serde(default = "default_heavy_cpu_share")]
    pub heavy_cpu_share: f64,
    /// A user whose processes hold more than this share of the machine's memory (resident,
    /// of MemTotal, 0 to 1) for `persistent_time` is heavy; 0 switches memory detection off.
    /// Default 0.5.
    #[serde(default = "default_heavy_memory_share")]
    pub heavy_memory_share: f64,
    /// How long a user must stay above a threshold, at every collection, before it is
    /// reported as heavy, 0s to 24h. Default "5m".
    #[serde(default = "default_persistent_time")]
    pub persistent_time: String,
    /// Where the per-user CPU counters and heavy-user episodes are kept across agent restarts
    /// (written atomically every collection). Default "/var/lib/sysmon-agent/users.json".
    #[serde(default = "default_state_file")]
    pub state_file: PathBuf,
    /// Per-user thresholds that replace the two above, by user name. Default: none.
    #[serde(default)]
    #[cfg_attr(test, serde(skip_serializing_if = "BTreeMap::is_empty"))]
    pub overrides: BTreeMap<String, UserOverride>,
}

/// `[users.overrides.NAME]`: one user's own thresholds.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields)]
pub struct UserOverride {
    /// Replaces `users.heavy_cpu_share` for this user (0 switches it off). Default: the global.
    #[serde(default)]
    pub heavy_cpu_share: Option<f64>,
    /// Replaces `users.heavy_memory_share` for this user (0 switches it off). Default: the global.
    #[serde(default)]
    pub heavy_memory_share: Option<f64>,
}

/// `[processes]` as written. Every key is documented, with its default, in deploy/agent.toml.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields)]
pub struct ProcessesSection {
    /// How many processes are listed by CPU and how many by memory, 0 to 100; 0 lists none.
    /// Default 10.
    #[serde(default = "default_top_n")]
    pub top_n: usize,
    /// The least share of the machine's CPU time (0 to 1) a process must use over the last
    /// interval to be listed by CPU. Default 0.01.
    #[serde(default = "default_min_cpu_share")]
    pub min_cpu_share: f64,
    /// The least share of the machine's memory (0 to 1) a process must hold to be listed by
    /// memory. Default 0.01.
    #[serde(default = "default_min_memory_share")]
    pub min_memory_share: f64,
    /// List processes of every user; false lists only those of users `[users]` reports.
    /// Default false.
    #[serde(default)]
    pub all_users: bool,
}

/// An empty table: deserializing it gives every serde default, the single source of truth.
fn empty_table()
-> serde::de::value::MapDeserializer<'static, std::iter::Empty<(&'static str, &'static str)>, serde::de::value::Error> {
    serde::de::value::MapDeserializer::new(std::iter::empty())
}

impl Default for UsersSection {
    fn default() -> Self {
        Self::deserialize(empty_table()).expect("every [users] key has a default")
    }
}

impl Default for ProcessesSection {
    fn default() -> Self {
        Self::deserialize(empty_table()).expect("every [processes] key has a default")
    }
}

/// Which resource a heavy-user threshold is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Resource {
    /// CPU time, as a share of every CPU's time.
    Cpu,
    /// Resident memory, as a share of MemTotal.
    Memory,
}

impl Resource {
    /// Both, in the order series and events list them.
    pub(crate) const ALL: [Resource; 2] = [Resource::Cpu, Resource::Memory];

    /// The `resource` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
        }
    }
}

/// Heavy-user thresholds, `None` where detection is off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Thresholds {
    pub(crate) cpu: Option<f64>,
    pub(crate) memory: Option<f64>,
}

impl Thresholds {
    pub(crate) fn get(&self, resource: Resource) -> Option<f64> {
        match resource {
            Resource::Cpu => self.cpu,
            Resource::Memory => self.memory,
        }
    }
}

/// The checked `[users]` and `[processes]` sections.
#[derive(Debug, Clone)]
pub struct UsersSettings {
    pub(crate) min_uid: u32,
    pub(crate) include_root: bool,
    pub(crate) exclude: Vec<String>,
    pub(crate) max_users: usize,
    pub(crate) thresholds: Thresholds,
    pub(crate) overrides: BTreeMap<String, Thresholds>,
    pub(crate) persistent_time: Duration,
    /// `None` keeps nothing across restarts (`sysmon agent --once`, benches).
    pub(crate) state_file: Option<PathBuf>,
    pub(crate) top_n: usize,
    pub(crate) min_cpu_share: f64,
    pub(crate) min_memory_share: f64,
    pub(crate) all_users: bool,
}

impl Default for UsersSettings {
    /// The defaults, without a state file.
    fn default() -> Self {
        validate(UsersSection::default(), ProcessesSection::default())
            .expect("the default [users] and [processes] sections are valid; a test checks it")
            .without_state_file()
    }
}

impl UsersSettings {
    /// These settings, keeping nothing across restarts: for one-off collections.
    pub fn without_state_file(mut self) -> Self {
        self.state_file = None;
        self
    }

    /// These settings, keeping counters and episodes across restarts in `path`.
    pub fn with_state_file(mut self, path: PathBuf) -> Self {
        self.state_file = Some(path);
        self
    }

    /// Whether `user` (name, or uid when unnamed) with `uid` is reported.
    pub(crate) fn reports(&self, uid: u32, user: &str) -> bool {
        let by_uid = uid >= self.min_uid || (uid == 0 && self.include_root);
        by_uid && !self.exclude.iter().any(|x| x == user)
    }

    /// The thresholds that apply to `user`.
    pub(crate) fn thresholds(&self, user: &str) -> Thresholds {
        self.overrides.get(user).copied().unwrap_or(self.thresholds)
    }
}

impl UsersSection {
    /// Checks this section and `[processes]` together.
    ///
    /// # Errors
    /// One [`ConfigError`] per bad key, named `users.<key>` or `processes.<key>`.
    pub fn validate(self, processes: ProcessesSection) -> Result<UsersSettings, Vec<ConfigError>> {
        validate(self, processes)
    }
}

/// Checks `[users]` and `[processes]` together.
///
/// # Errors
/// One [`ConfigError`] per bad key, named `users.<key>` or `processes.<key>`.
pub(crate) fn validate(users: UsersSection, processes: ProcessesSection) -> Result<UsersSettings, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut share = |key: &str, value: f64| {
        if (0.0..=1.0).contains(&value) {
            value
        } else {
            errors.push(ConfigError::key(key, format!("must be a share between 0 and 1, got {value}")));
            0.0
        }
    };
    let off_when_zero = |v: f64| (v > 0.0).then_some(v);
    let thresholds = Thresholds {
        cpu: off_when_zero(share("users.heavy_cpu_share", users.heavy_cpu_share)),
        memory: off_when_zero(share("users.heavy_memory_share", users.heavy_memory_share)),
    };
    let mut overrides = BTreeMap::new();
    for (user, o) in users.overrides {
        let key = |field: &str| format!("users.overrides.{user}.{field}");
        let cpu = match o.heavy_cpu_share {
            Some(v) => off_when_zero(share(&key("heavy_cpu_share"), v)),
            None => thresholds.cpu,
        };
        let memory = match o.heavy_memory_share {
            Some(v) => off_when_zero(share(&key("heavy_memory_share"), v)),
            None => thresholds.memory,
        };
        overrides.insert(user, Thresholds { cpu, memory });
    }
    let min_cpu_share = share("processes.min_cpu_share", processes.min_cpu_share);
    let min_memory_share = share("processes.min_memory_share", processes.min_memory_share);

    if users.exclude.iter().any(String::is_empty) {
        errors.push(ConfigError::key("users.exclude", "a user name must not be empty"));
    }
    if users.state_file.as_os_str().is_empty() {
        errors.push(ConfigError::key("users.state_file", "must be a file path"));
    }
    let persistent_time = match humantime::parse_duration(&users.persistent_time) {
        Ok(d) if d <= MAX_PERSISTENT_TIME => d,
        Ok(d) => {
            errors.push(ConfigError::key(
                "users.persistent_time",
                format!("must be between 0s and 24h, got {}", humantime::format_duration(d)),
            ));
            d
        }
        Err(e) => {
            errors.push(ConfigError::key(
                "users.persistent_time",
                format!("must be a duration like \"5m\", got {:?} ({e})", users.persistent_time),
            ));
            Duration::ZERO
        }
    };
    if !(1..=MAX_MAX_USERS).contains(&users.max_users) {
        errors.push(ConfigError::key(
            "users.max_users",
            format!("must be between 1 and {MAX_MAX_USERS} (each named user is a few series), got {}", users.max_users),
        ));
    }
    if processes.top_n > MAX_TOP_N {
        errors.push(ConfigError::key(
            "processes.top_n",
            format!("must be at most {MAX_TOP_N} (each listed process is a series), got {}", processes.top_n),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(UsersSettings {
        min_uid: users.min_uid,
        include_root: users.include_root,
        exclude: users.exclude,
        max_users: users.max_users,
        thresholds,
        overrides,
        persistent_time,
        state_file: Some(users.state_file),
        top_n: processes.top_n,
        min_cpu_share,
        min_memory_share,
        all_users: processes.all_users,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(users: &str, processes: &str) -> Result<UsersSettings, Vec<String>> {
        let users: UsersSection = toml::from_str(users).unwrap();
        let processes: ProcessesSection = toml::from_str(processes).unwrap();
        validate(users, processes).map_err(|errs| errs.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn defaults() {
        let s = parse("", "").unwrap();
        assert_eq!(s.min_uid, 1000);
        assert!(!s.include_root);
        assert_eq!(s.exclude, ["nobody"]);
        assert_eq!(s.max_users, 50);
        assert_eq!(s.thresholds, Thresholds { cpu: Some(0.5), memory: Some(0.5) });
        assert_eq!(s.persistent_time, Duration::from_secs(300));
        assert_eq!(s.state_file.as_deref(), Some(std::path::Path::new("/var/lib/sysmon-agent/users.json")));
        assert_eq!((s.top_n, s.min_cpu_share, s.min_memory_share, s.all_users), (10, 0.01, 0.01, false));
        assert!(UsersSettings::default().state_file.is_none());
    }

    #[test]
    fn who_is_reported() {
        let s = parse("exclude = [\"nobody\", \"1234\"]", "").unwrap();
        assert!(s.reports(1000, "alice"));
        assert!(!s.reports(999, "daemon"));
        assert!(!s.reports(0, "root"));
        assert!(!s.reports(65534, "nobody"));
        assert!(!s.reports(1234, "1234"));
        let s = parse("include_root = true\nmin_uid = 500", "").unwrap();
        assert!(s.reports(0, "root"));
        assert!(s.reports(500, "bob"));
        assert!(!s.reports(1, "daemon"));
    }

    #[test]
    fn overrides_replace_what_they_set() {
        let s = parse(
            "heavy_cpu_share = 0.6\n[overrides.alice]\nheavy_cpu_share = 0.9\n[overrides.bob]\nheavy_memory_share = 0\n",
            "",
        )
        .unwrap();
        assert_eq!(s.thresholds("alice"), Thresholds { cpu: Some(0.9), memory: Some(0.5) });
        assert_eq!(s.thresholds("bob"), Thresholds { cpu: Some(0.6), memory: None });
        assert_eq!(s.thresholds("carol"), Thresholds { cpu: Some(0.6), memory: Some(0.5) });
    }

    #[test]
    fn bad_values_name_their_keys() {
        let errors = parse(
            "heavy_cpu_share = 1.5\npersistent_time = \"2d\"\nexclude = [\"\"]\nstate_file = \"\"\nmax_users = 0\n\
             [overrides.alice]\nheavy_memory_share = -0.1\n",
            "top_n = 1000\nmin_cpu_share = 2\n",
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "users.heavy_cpu_share: must be a share between 0 and 1, got 1.5",
                "users.overrides.alice.heavy_memory_share: must be a share between 0 and 1, got -0.1",
                "processes.min_cpu_share: must be a share between 0 and 1, got 2",
                "users.exclude: a user name must not be empty",
                "users.state_file: must be a file path",
                "users.persistent_time: must be between 0s and 24h, got 2days",
                "users.max_users: must be between 1 and 10000 (each named user is a few series), got 0",
                "processes.top_n: must be at most 100 (each listed process is a series), got 1000",
            ]
        );
        let errors = parse("persistent_time = \"soon\"", "").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("users.persistent_time: must be a duration like \"5m\", got \"soon\""));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<UsersSection>("min_uidd = 1\n").unwrap_err();
        assert!(err.message().starts_with("unknown field `min_uidd`"), "{}", err.message());
        let err = toml::from_str::<UsersSection>("[overrides.alice]\ncpu = 1\n").unwrap_err();
        assert!(err.message().starts_with("unknown field `cpu`"), "{}", err.message());
        let err = toml::from_str::<ProcessesSection>("top = 1\n").unwrap_err();
        assert!(err.message().starts_with("unknown field `top`"), "{}", err.message());
    }

    #[test]
    fn the_documented_defaults_are_the_defaults() {
        // deploy/agent.toml shows every [users] and [processes] key with its default.
        let example: toml::Table = toml::from_str(include_str!("../../../../deploy/agent.toml")).unwrap();
        for (section, defaults) in [
            ("users", toml::Table::try_from(UsersSection::default()).unwrap()),
            ("processes", toml::Table::try_from(ProcessesSection::default()).unwrap()),
        ] {
            let documented = example[section].as_table().unwrap().clone();
            let documented_keys: Vec<&String> = documented.keys().collect();
            let default_keys: Vec<&String> = defaults.keys().collect();
            assert_eq!(documented_keys, default_keys, "[{section}]: every key documented, none unknown");
            for (key, value) in &defaults {
                assert_eq!(&documented[key], value, "{section}.{key}");
            }
        }
    }
}
