//! Per-user and per-process usage from /proc/PID, and persistent heavy-user detection
//! (`sysmon_user_*`, `sysmon_process_*`, `heavy_user_start`/`heavy_user_end` events).
//!
//! | series | kind | meaning |
//! | --- | --- | --- |
//! | `sysmon_user_cpu_seconds_total{user}` | counter | CPU time of the user's processes, exited ones included (see [`ledger`]) |
//! | `sysmon_user_memory_bytes{user}` | gauge | resident memory of the user's processes (shared pages counted in each) |
//! | `sysmon_user_processes{user}` | gauge | processes the user owns |
//! | `sysmon_user_other_users` | gauge | users past `users.max_users`, summed into `user="other"` |
//! | `sysmon_user_heavy{user,resource}` | gauge | 1 while the user is heavy on `cpu` or `memory`, else 0; only for resources with a threshold |
//! | `sysmon_process_cpu_ratio{pid,command,user}` | gauge | top N by CPU: share of the machine's CPU time over the last interval |
//! | `sysmon_process_cpu_seconds_total{pid,command,user}` | counter | top N by CPU: the process's CPU time |
//! | `sysmon_process_memory_bytes{pid,command,user}` | gauge | top N by memory: its resident memory |
//! | `sysmon_agent_users_state_errors_total` | counter | collections whose state file could not be written |
//!
//! A user is reported when its uid is at least `users.min_uid` (or it is root and
//! `users.include_root`) and it is not in `users.exclude`; the user label is its name from
//! /etc/passwd, or the uid when the file does not name it. At most `users.max_users` users
//! are named per collection (heavy users first, then by CPU over the last interval, then by
//! memory); the rest are summed into `user="other"`, whose CPU counter adds what each user
//! used while it was summed there, so it never goes down. A user's series exist while it has
//! processes and end with a stale marker when it has none; a process's series exist while it
//! is in the top N and end with a stale marker when it leaves, so at most 2 x `top_n`
//! processes have series at any time.

mod collector;
pub(crate) mod config;
mod heavy;
pub(crate) mod ledger;
mod passwd;
pub(crate) mod procfs;
mod series;
mod state;

#[cfg(test)]
mod tests;

pub(crate) use collector::{UsersCollector, system_clock};
pub use config::{ProcessesSection, UserOverride, UsersSection, UsersSettings};
