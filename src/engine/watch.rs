//! Watching the desired-state directory: notify's events, bridged from its
//! own thread into a tokio channel, and a debouncer that turns a burst of
//! events into one reload.
//!
//! The events only say "something changed": the daemon then reloads the
//! whole directory and compares it with what it has, so no event needs to be
//! understood, and a missed one is caught by the next resync. What must be
//! picked up: editors that write a temporary file and rename it over the old
//! one; a ConfigMap-like volume, where the files are symlinks into a hidden
//! `..data` symlink that is swapped to a new directory; new subdirectories
//! (watched recursively, notify adds them as they appear); and the directory
//! itself being replaced (a symlink swapped to another directory), which the
//! watch on its parent notices and answers by watching it anew.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind, MetadataKind, ModifyKind};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, warn};

/// Waits for a pause in a burst of events before reloading, but never longer
/// than `max` after the first event, so that a steady trickle of writes does
/// not postpone the reload forever.
#[derive(Debug, Clone)]
pub struct Debouncer {
    quiet: Duration,
    max: Duration,
    /// First and last event of the burst not yet handled.
    burst: Option<(Instant, Instant)>,
}

impl Debouncer {
    /// Edits show up within about a second: 100 ms of quiet, 500 ms at most.
    pub const QUIET: Duration = Duration::from_millis(100);
    pub const MAX: Duration = Duration::from_millis(500);

    pub fn new(quiet: Duration, max: Duration) -> Debouncer {
        Debouncer {
            quiet,
            max,
            burst: None,
        }
    }

    /// Records an event seen at `now`.
    pub fn event(&mut self, now: Instant) {
        self.burst = Some(match self.burst {
            Some((first, _)) => (first, now),
            None => (now, now),
        });
    }

    /// When the pending burst is due for a reload.
    pub fn deadline(&self) -> Option<Instant> {
        self.burst
            .map(|(first, last)| (last + self.quiet).min(first + self.max))
    }

    /// Whether a reload is due at `now`; if so, the burst is handled.
    pub fn take_due(&mut self, now: Instant) -> bool {
        match self.deadline() {
            Some(at) if at <= now => {
                self.burst = None;
                true
            }
            _ => false,
        }
    }
}

impl Default for Debouncer {
    fn default() -> Debouncer {
        Debouncer::new(Debouncer::QUIET, Debouncer::MAX)
    }
}

/// Whether an event may mean the files changed. Opening and reading files
/// (the daemon's own reloads do it) must not trigger a reload.
fn relevant(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        _ => true,
    }
}

/// How often the directory's identity is checked, to follow a directory
/// (or a link to one) that is replaced, created or removed.
const IDENTITY_CHECK: Duration = Duration::from_secs(1);

/// Which directory `dir` is now (device and inode, links followed), if any.
fn identity(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

/// Watches `dir` and sends `()` on the returned channel (at most a few are
/// queued; one is enough to mean "reload") whenever something under it
/// changes. Only the directory is watched, recursively: nothing beside it
/// (a log file written next to it must not feed back into reloads), and the
/// files a document points at lie inside it. That the directory itself was
/// replaced (a link swapped to another one, a directory created late) is
/// noticed by checking its identity every second. Watching stops when the
/// receiver is dropped.
pub fn watch(dir: &Path) -> notify::Result<mpsc::Receiver<()>> {
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<()>();
    let dir = absolute(dir);
    // Runs on notify's own thread: only classify and forward, never block.
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        match res {
            Ok(event) if !relevant(&event.kind) => return,
            Ok(_) => {}
            Err(e) => {
                warn!(error = %e, "watching the desired state failed; the next resync still reloads it");
            }
        }
        let _ = raw_tx.send(()); // the daemon is gone: nothing to tell
    })?;
    let mut seen = identity(&dir);
    if let Err(e) = watcher.watch(&dir, RecursiveMode::Recursive) {
        // It may appear later: the identity check notices, then we watch it.
        warn!(dir = %dir.display(), error = %e, "cannot watch the desired state (yet)");
    }
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        // The watcher lives as long as this task, which ends when the daemon
        // drops its receiver.
        let mut watcher = watcher;
        let mut check = tokio::time::interval(IDENTITY_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                raw = raw_rx.recv() => if raw.is_none() { break },
                _ = check.tick() => {
                    let now = identity(&dir);
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    // The old watch followed the old directory; follow the new one.
                    let _ = watcher.unwatch(&dir); // it may be gone with the old directory
                    match watcher.watch(&dir, RecursiveMode::Recursive) {
                        Ok(()) => debug!(dir = %dir.display(), "watching the replaced desired-state directory"),
                        Err(e) => debug!(dir = %dir.display(), error = %e, "desired-state directory is gone"),
                    }
                }
                () = tx.closed() => break,
            }
            // A full channel already holds a "reload": this one adds nothing.
            if let Err(mpsc::error::TrySendError::Closed(())) = tx.try_send(()) {
                break;
            }
        }
    });
    Ok(rx)
}

fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_is_one_reload_after_a_quiet_spell() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(ms(100), ms(500));
        assert_eq!(d.deadline(), None);
        d.event(t0);
        d.event(t0 + ms(30));
        d.event(t0 + ms(60));
        assert_eq!(d.deadline(), Some(t0 + ms(160)));
        assert!(!d.take_due(t0 + ms(159)));
        assert!(d.take_due(t0 + ms(160)));
        assert!(!d.take_due(t0 + ms(400)));
        assert_eq!(d.deadline(), None);
    }

    #[test]
    fn a_steady_trickle_reloads_at_the_latest_after_max() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(ms(100), ms(500));
        for i in 0..20 {
            d.event(t0 + ms(i * 50));
            if d.take_due(t0 + ms(i * 50)) {
                assert_eq!(i, 10, "reloaded at {} ms", i * 50);
                return;
            }
        }
        panic!("never reloaded");
    }

    #[test]
    fn reading_files_is_not_a_change() {
        use notify::event::{CreateKind, RenameMode};
        assert!(!relevant(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!relevant(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(relevant(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(relevant(&EventKind::Create(CreateKind::File)));
        assert!(relevant(&EventKind::Modify(ModifyKind::Name(
            RenameMode::To
        ))));
        assert!(relevant(&EventKind::Remove(notify::event::RemoveKind::Any)));
    }

    /// A temporary directory, and an empty `desired` directory in it.
    fn desired_dir() -> (tempfile::TempDir, std::path::PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("desired");
        std::fs::create_dir(&dir).unwrap();
        (root, dir)
    }

    /// Waits for a reload signal, up to 5 s.
    async fn changed(rx: &mut mpsc::Receiver<()>) -> bool {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .is_ok_and(|r| r.is_some())
    }

    /// Asserts that a reload signal comes, then drops the rest of its burst.
    async fn seen(rx: &mut mpsc::Receiver<()>, what: &str) {
        assert!(changed(rx).await, "{what}");
        settle(rx).await;
    }

    /// Drops the signals of what happened so far.
    async fn settle(rx: &mut mpsc::Receiver<()>) {
        tokio::time::sleep(ms(200)).await;
        while rx.try_recv().is_ok() {}
    }

    #[tokio::test]
    async fn files_beside_the_directory_are_not_watched() {
        let (root, dir) = desired_dir();
        let mut rx = watch(&dir).unwrap();
        settle(&mut rx).await;
        // A log file written next to the desired state, as `run > log` does.
        for i in 0..20 {
            std::fs::write(root.path().join("driftd.log"), format!("line {i}\n")).unwrap();
        }
        let quiet = tokio::time::timeout(ms(1500), rx.recv()).await;
        assert!(quiet.is_err(), "a write beside the directory was a change");
        std::fs::write(dir.join("a.yaml"), "a: 1\n").unwrap();
        assert!(changed(&mut rx).await, "a write inside it is");
    }

    #[tokio::test]
    async fn a_directory_created_after_the_start_is_watched() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("late");
        let mut rx = watch(&dir).unwrap();
        std::fs::create_dir(&dir).unwrap();
        seen(&mut rx, "the directory appeared").await;
        std::fs::write(dir.join("a.yaml"), "a: 1\n").unwrap();
        assert!(changed(&mut rx).await, "a file in it");
    }

    #[tokio::test]
    async fn editor_renames_new_subdirectories_and_symlink_swaps_are_seen() {
        let (root, dir) = desired_dir();
        std::fs::write(dir.join("a.yaml"), "a: 1\n").unwrap();
        let mut rx = watch(&dir).unwrap();
        settle(&mut rx).await;

        // An editor writing a temporary file and renaming it over the old one.
        std::fs::write(dir.join(".a.yaml.tmp"), "a: 2\n").unwrap();
        std::fs::rename(dir.join(".a.yaml.tmp"), dir.join("a.yaml")).unwrap();
        seen(&mut rx, "rename over a file").await;

        // A new subdirectory, then a file in it.
        std::fs::create_dir(dir.join("team")).unwrap();
        seen(&mut rx, "new subdirectory").await;
        std::fs::write(dir.join("team/b.yaml"), "b: 1\n").unwrap();
        seen(&mut rx, "file in the new subdirectory").await;

        // A ConfigMap-like volume: files are symlinks through `..data`, which
        // is swapped atomically to a new hidden directory.
        let v1 = dir.join("..v1");
        std::fs::create_dir(&v1).unwrap();
        std::fs::write(v1.join("cm.yaml"), "c: 1\n").unwrap();
        std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/cm.yaml", dir.join("cm.yaml")).unwrap();
        settle(&mut rx).await;
        let v2 = dir.join("..v2");
        std::fs::create_dir(&v2).unwrap();
        std::fs::write(v2.join("cm.yaml"), "c: 2\n").unwrap();
        std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).unwrap();
        settle(&mut rx).await;
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        assert!(changed(&mut rx).await, "..data swapped");
        std::fs::remove_dir_all(&v1).unwrap();
        settle(&mut rx).await;

        // The directory itself is a symlink that is swapped to another one.
        let other = root.path().join("other");
        std::fs::create_dir(&other).unwrap();
        let link = root.path().join("current");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let mut rx = watch(&link).unwrap();
        settle(&mut rx).await;
        std::os::unix::fs::symlink(&other, root.path().join("current.tmp")).unwrap();
        std::fs::rename(root.path().join("current.tmp"), &link).unwrap();
        seen(&mut rx, "directory symlink swapped").await;
        // ... and what changes in the new target is seen.
        std::fs::write(other.join("x.yaml"), "x: 1\n").unwrap();
        assert!(changed(&mut rx).await, "file in the new target");
    }
}
