//! `statvfs` on a helper thread with a timeout, so a dead NFS server cannot hang collection.
//!
//! A `statvfs` on a hard-mounted NFS share whose server is gone blocks in the kernel, possibly
//! forever, and cannot be interrupted. So the calls run on a helper thread and the collector
//! waits for each at most `timeout`. A mount that times out is marked stuck: it is reported as
//! failed and not tried again (so stuck threads cannot pile up) until the call that hung
//! returns, at which point the abandoned thread unmarks it and exits. This is node_exporter's
//! `--collector.filesystem.mount-timeout` behaviour, except that node_exporter's first scrape
//! still waits for the hung call.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::error::{Error, Result};

/// What `statvfs` says about one filesystem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FsStats {
    /// Size in bytes (`f_blocks * f_frsize`).
    pub(crate) size_bytes: f64,
    /// Free bytes, including those reserved for root (`f_bfree * f_frsize`).
    pub(crate) free_bytes: f64,
    /// Bytes free for unprivileged users (`f_bavail * f_frsize`).
    pub(crate) avail_bytes: f64,
    /// Inodes (`f_files`).
    pub(crate) files: f64,
    /// Free inodes (`f_ffree`).
    pub(crate) files_free: f64,
}

/// The result of one `statvfs`.
#[derive(Debug)]
pub(crate) enum StatOutcome {
    /// The call answered.
    Done(FsStats),
    /// The call failed, e.g. with `EACCES`.
    Failed(io::Error),
    /// The call did not answer within the timeout; the mount is now marked stuck.
    TimedOut,
    /// An earlier call timed out and has not answered yet, so this one was not made.
    Stuck,
}

/// The `statvfs` call; tests substitute one that answers fixed figures, or never answers.
pub(crate) type StatFn = Arc<dyn Fn(&Path) -> io::Result<FsStats> + Send + Sync>;

/// Mount points whose `statvfs` timed out and has not answered yet.
type StuckSet = Arc<Mutex<HashSet<PathBuf>>>;

fn lock(stuck: &StuckSet) -> MutexGuard<'_, HashSet<PathBuf>> {
    // The set is valid whatever a panicking holder was doing: every change is one insert/remove.
    stuck.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `statvfs` calls on a helper thread, started on first use and kept for later rounds.
pub(crate) struct StatRunner {
    stat: StatFn,
    timeout: Duration,
    stuck: StuckSet,
    worker: Option<Worker>,
}

/// The helper thread's two ends: paths in, results out, both in order.
struct Worker {
    jobs: mpsc::Sender<(usize, PathBuf)>,
    results: mpsc::Receiver<(usize, io::Result<FsStats>)>,
}

impl StatRunner {
    /// A runner for the real `statvfs`.
    pub(crate) fn new(timeout: Duration) -> Self {
        Self::with_stat(Arc::new(statvfs), timeout)
    }

    pub(crate) fn with_stat(stat: StatFn, timeout: Duration) -> Self {
        Self { stat, timeout, stuck: Arc::default(), worker: None }
    }

    /// How many mounts are currently marked stuck.
    #[cfg(test)]
    pub(crate) fn stuck_count(&self) -> usize {
        lock(&self.stuck).len()
    }

    /// Stats every path, returning one outcome per path in the same order.
    ///
    /// # Errors
    /// The helper thread could not be started.
    pub(crate) fn stat_all(&mut self, paths: &[PathBuf]) -> Result<Vec<StatOutcome>> {
        let mut outcomes: Vec<Option<StatOutcome>> = paths.iter().map(|_| None).collect();
        let mut pending: VecDeque<usize> = (0..paths.len()).collect();
        while !pending.is_empty() {
            {
                let stuck = lock(&self.stuck);
                pending.retain(|&i| {
                    let skip = stuck.contains(&paths[i]);
                    if skip {
                        outcomes[i] = Some(StatOutcome::Stuck);
                    }
                    !skip
                });
            }
            if pending.is_empty() {
                break;
            }
            let worker = match self.worker.take() {
                Some(worker) => worker,
                None => spawn_worker(Arc::clone(&self.stat), Arc::clone(&self.stuck))?,
            };
            for &i in &pending {
                // A send fails only if the thread died; the receive below then says so.
                let _ = worker.jobs.send((i, paths[i].clone()));
            }
            if self.receive(&worker, paths, &mut pending, &mut outcomes) {
                self.worker = Some(worker);
            }
        }
        Ok(outcomes.into_iter().map(|o| o.expect("every path is answered, skipped or timed out above")).collect())
    }

    /// Takes the worker's answers for `pending`, in order. Returns whether the worker is still
    /// usable; when it is not (it hung or died), the unanswered rest stays in `pending`.
    fn receive(
        &self,
        worker: &Worker,
        paths: &[PathBuf],
        pending: &mut VecDeque<usize>,
        outcomes: &mut [Option<StatOutcome>],
    ) -> bool {
        while let Some(&next) = pending.front() {
            let answer = match worker.results.recv_timeout(self.timeout) {
                Ok(answer) => answer,
                Err(RecvTimeoutError::Timeout) => {
                    // Decide under the lock the worker takes before answering, so an answer
                    // cannot slip in between this check and marking the mount stuck.
                    let mut stuck = lock(&self.stuck);
                    if let Ok(answer) = worker.results.try_recv() {
                        answer
                    } else {
                        tracing::warn!(
                            mountpoint = %paths[next].display(),
                            timeout_ms = self.timeout.as_millis(),
                            "statvfs timed out; mount skipped until it answers"
                        );
                        stuck.insert(paths[next].clone());
                        outcomes[next] = Some(StatOutcome::TimedOut);
                        pending.pop_front();
                        return false;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    outcomes[next] = Some(StatOutcome::Failed(io::Error::other("statvfs thread exited")));
                    pending.pop_front();
                    return false;
                }
            };
            let (index, result) = answer;
            debug_assert_eq!(index, next, "the worker answers in order");
            outcomes[index] = Some(result.map_or_else(StatOutcome::Failed, StatOutcome::Done));
            pending.pop_front();
        }
        true
    }
}

fn spawn_worker(stat: StatFn, stuck: StuckSet) -> Result<Worker> {
    let (jobs, job_rx) = mpsc::channel::<(usize, PathBuf)>();
    let (result_tx, results) = mpsc::channel();
    std::thread::Builder::new()
        .name("sysmon-statvfs".into())
        .spawn(move || {
            for (index, path) in job_rx {
                let result = stat(&path);
                let mut stuck = lock(&stuck);
                if stuck.remove(&path) {
                    // The collector gave up on this call and dropped our channels; the mount
                    // is tried again in the next round, by a fresh thread.
                    tracing::info!(mountpoint = %path.display(), "statvfs answered again after timing out");
                    return;
                }
                if result_tx.send((index, result)).is_err() {
                    return;
                }
                drop(stuck);
            }
        })
        .map_err(|source| Error::SpawnStatWorker { source })?;
    Ok(Worker { jobs, results })
}

/// The real call. `f_frsize` is the unit of the block counts (POSIX, and what df uses); it
/// equals `f_bsize` on the filesystems where node_exporter's `f_blocks * f_bsize` is right.
fn statvfs(path: &Path) -> io::Result<FsStats> {
    let st = rustix::fs::statvfs(path)?;
    let unit = st.f_frsize as f64;
    Ok(FsStats {
        size_bytes: st.f_blocks as f64 * unit,
        free_bytes: st.f_bfree as f64 * unit,
        avail_bytes: st.f_bavail as f64 * unit,
        files: st.f_files as f64,
        files_free: st.f_ffree as f64,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Condvar;
    use std::time::Instant;

    use super::*;

    const FIXED: FsStats = FsStats { size_bytes: 1.0, free_bytes: 2.0, avail_bytes: 3.0, files: 4.0, files_free: 5.0 };

    /// A stat that blocks on paths named "hang" until `release` is set.
    fn gated() -> (StatFn, Arc<(Mutex<bool>, Condvar)>) {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let g = Arc::clone(&gate);
        let stat: StatFn = Arc::new(move |path: &Path| {
            if path.ends_with("hang") {
                let (released, cv) = &*g;
                let _guard = cv.wait_while(released.lock().unwrap(), |released| !*released).unwrap();
            }
            if path.ends_with("missing") {
                return Err(io::Error::from(io::ErrorKind::NotFound));
            }
            Ok(FIXED)
        });
        (stat, gate)
    }

    fn kinds(outcomes: &[StatOutcome]) -> Vec<&'static str> {
        outcomes
            .iter()
            .map(|o| match o {
                StatOutcome::Done(stats) => {
                    assert_eq!(*stats, FIXED);
                    "done"
                }
                StatOutcome::Failed(_) => "failed",
                StatOutcome::TimedOut => "timed out",
                StatOutcome::Stuck => "stuck",
            })
            .collect()
    }

    #[test]
    fn hung_mount_times_out_is_skipped_then_recovers() {
        let (stat, gate) = gated();
        let mut runner = StatRunner::with_stat(stat, Duration::from_millis(200));
        let paths: Vec<PathBuf> = ["/a", "/nfs/hang", "/b", "/missing"].iter().map(PathBuf::from).collect();

        assert_eq!(kinds(&runner.stat_all(&paths).unwrap()), ["done", "timed out", "done", "failed"]);
        assert_eq!(runner.stuck_count(), 1);

        // While the call still hangs, the mount is skipped without waiting.
        let start = Instant::now();
        assert_eq!(kinds(&runner.stat_all(&paths).unwrap()), ["done", "stuck", "done", "failed"]);
        // The stuck call would hold this for the whole 5 s timeout; 2 s leaves room for a loaded CI.
        assert!(start.elapsed() < Duration::from_secs(2), "did not wait on the stuck mount");

        // The server comes back: the abandoned call returns and unmarks the mount.
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        let deadline = Instant::now() + Duration::from_secs(10);
        while runner.stuck_count() > 0 {
            assert!(Instant::now() < deadline, "stuck mount never recovered");
            std::thread::yield_now();
        }
        assert_eq!(kinds(&runner.stat_all(&paths).unwrap()), ["done", "done", "done", "failed"]);
    }

    #[test]
    fn real_statvfs_of_root() {
        let mut runner = StatRunner::new(Duration::from_secs(5));
        let outcomes = runner.stat_all(&[PathBuf::from("/"), PathBuf::from("/nonexistent-sysmon")]).unwrap();
        match &outcomes[0] {
            StatOutcome::Done(stats) => {
                assert!(stats.size_bytes > 0.0 && stats.avail_bytes <= stats.free_bytes);
                assert!(stats.free_bytes <= stats.size_bytes);
            }
            other => panic!("statvfs(/): {other:?}"),
        }
        assert!(matches!(&outcomes[1], StatOutcome::Failed(e) if e.kind() == io::ErrorKind::NotFound));
    }
}
