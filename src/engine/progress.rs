//! How far the passes under way have got: resources to reconcile and
//! reconciled (corrected, failed), for the progress line of a long `apply`
//! and `/status` during `run`. Clones share the counts; each pass adds its
//! resources when it starts and takes away all it added when it ends (or
//! is dropped half-way), so the counts are those of the passes in flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::Serialize;

use super::report::{ResourceReport, State};

/// The counts of the passes in flight, shared by clones.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    shared: Arc<Counts>,
    /// Set in the copy a pass hands down: what that pass added.
    pass: Option<Arc<Tally>>,
}

/// The passes in flight, as `/status` shows them (`pass_in_progress`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Resources the passes in flight reconcile.
    pub resources: usize,
    /// Of those, reconciled so far.
    pub reconciled: usize,
    /// Of those, corrected.
    pub corrected: usize,
    /// Of those, failed.
    pub errors: usize,
}

#[derive(Debug, Default)]
struct Counts {
    resources: AtomicUsize,
    reconciled: AtomicUsize,
    corrected: AtomicUsize,
    errors: AtomicUsize,
}

impl Counts {
    fn add(&self, by: Snapshot) {
        self.resources.fetch_add(by.resources, Ordering::Relaxed);
        self.reconciled.fetch_add(by.reconciled, Ordering::Relaxed);
        self.corrected.fetch_add(by.corrected, Ordering::Relaxed);
        self.errors.fetch_add(by.errors, Ordering::Relaxed);
    }

    fn sub(&self, by: Snapshot) {
        self.resources.fetch_sub(by.resources, Ordering::Relaxed);
        self.reconciled.fetch_sub(by.reconciled, Ordering::Relaxed);
        self.corrected.fetch_sub(by.corrected, Ordering::Relaxed);
        self.errors.fetch_sub(by.errors, Ordering::Relaxed);
    }

    fn get(&self) -> Snapshot {
        Snapshot {
            resources: self.resources.load(Ordering::Relaxed),
            reconciled: self.reconciled.load(Ordering::Relaxed),
            corrected: self.corrected.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// One pass's part of the shared counts, taken away when the pass ends.
#[derive(Debug)]
struct Tally {
    shared: Arc<Counts>,
    own: Counts,
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.shared.sub(self.own.get());
    }
}

impl Progress {
    /// The passes in flight, or `None` when there are none.
    pub fn snapshot(&self) -> Option<Snapshot> {
        Some(self.shared.get()).filter(|s| s.resources > 0)
    }

    /// A pass of `resources` starts: the copy it records through. Its part
    /// of the counts goes when the last clone of that copy is dropped.
    pub fn pass(&self, resources: usize) -> Progress {
        let tally = Tally {
            shared: self.shared.clone(),
            own: Counts::default(),
        };
        let started = Snapshot {
            resources,
            ..Snapshot::default()
        };
        tally.own.add(started);
        self.shared.add(started);
        Progress {
            shared: self.shared.clone(),
            pass: Some(Arc::new(tally)),
        }
    }

    /// One resource of the pass was reconciled.
    pub fn record(&self, report: &ResourceReport) {
        let done = Snapshot {
            resources: 0,
            reconciled: 1,
            corrected: usize::from(report.state == State::Corrected),
            errors: usize::from(report.state == State::Error),
        };
        self.shared.add(done);
        if let Some(tally) = &self.pass {
            tally.own.add(done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::report::Planned;
    use crate::kinds::Kind;

    fn report(state: State) -> ResourceReport {
        ResourceReport::test(Kind::Alarm, "cpu", Planned::InSync, state)
    }

    #[test]
    fn counts_are_those_of_the_passes_in_flight() {
        let progress = Progress::default();
        assert_eq!(progress.snapshot(), None, "no pass yet");
        let first = progress.pass(3);
        let second = progress.pass(2);
        first.record(&report(State::Corrected));
        first.clone().record(&report(State::Error));
        second.record(&report(State::InSync));
        assert_eq!(
            progress.snapshot(),
            Some(Snapshot {
                resources: 5,
                reconciled: 3,
                corrected: 1,
                errors: 1
            })
        );
        drop(first);
        assert_eq!(
            progress.snapshot(),
            Some(Snapshot {
                resources: 2,
                reconciled: 1,
                corrected: 0,
                errors: 0
            }),
            "an ended (or dropped) pass takes away all it added"
        );
        drop(second);
        assert_eq!(progress.snapshot(), None);
    }
}
