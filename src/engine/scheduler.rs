//! The daemon's work queue: per-resource work items with a due time, never
//! the same resource twice at once, dependency order between kinds, and
//! per-resource backoff after retryable errors.
//!
//! Pure bookkeeping: the run loop asks it what to start and tells it what
//! finished; time is passed in, so the logic is tested without a clock.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use rand::Rng;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::report::ResourceReport;
use crate::kinds::{Kind, Resource};

/// A resource of the desired state: its environment, kind and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub environment: String,
    pub kind: Kind,
    pub name: String,
}

impl Key {
    pub fn new(environment: &str, kind: Kind, name: &str) -> Key {
        Key {
            environment: environment.to_string(),
            kind,
            name: name.to_string(),
        }
    }

    /// The key of a declared resource.
    pub fn of(resource: &Resource) -> Key {
        Key::new(&resource.environment, resource.kind(), &resource.name)
    }

    /// The key of the resource a report is about.
    pub fn of_report(report: &ResourceReport) -> Key {
        Key::new(&report.environment, report.kind, &report.name)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {} {}", self.environment, self.kind, self.name)
    }
}

/// The kinds that must not be reconciled while these are: an Alarm may name
/// a Topic (`topic:<name>`), whose ARN is known once the Topic is reconciled.
pub fn depends_on(kind: Kind) -> &'static [Kind] {
    match kind {
        Kind::Alarm => &[Kind::Topic],
        Kind::Topic | Kind::Secret | Kind::Dashboard | Kind::EcsService => &[],
    }
}

/// Resources of one kind of one environment reconciled together: one
/// batched observe for all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub environment: String,
    pub kind: Kind,
    pub names: Vec<String>,
    /// When it was started; a full pass counts only batches started after it.
    pub started: Instant,
}

impl Batch {
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.names
            .iter()
            .map(|n| Key::new(&self.environment, self.kind, n))
    }
}

/// The names due of one kind of one environment: (fresh, retrying).
type Ready = (Vec<String>, Vec<String>);

/// How the reconcile of one resource ended, as far as scheduling goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// In sync, corrected, or merely observed: no retry.
    Done,
    /// Throttling, 5xx, timeouts: retried with backoff.
    Retryable,
    /// Validation, access denied, ...: retrying the same thing is pointless;
    /// the next change of its desired state or the next resync tries again.
    Permanent,
}

/// Work items by due time; see the module documentation.
#[derive(Debug)]
pub struct Scheduler {
    /// (due, key) for every scheduled resource, earliest first.
    queue: BTreeSet<(Instant, Key)>,
    /// key -> due, the index of `queue`.
    due: HashMap<Key, Instant>,
    /// Resources being reconciled now. One may be scheduled meanwhile: it is
    /// started again once the running reconcile finishes.
    running: HashSet<Key>,
    /// Consecutive retryable failures, per resource.
    failures: HashMap<Key, u32>,
    backoff: Backoff,
}

impl Scheduler {
    pub fn new(backoff: Backoff) -> Scheduler {
        Scheduler {
            queue: BTreeSet::new(),
            due: HashMap::new(),
            running: HashSet::new(),
            failures: HashMap::new(),
            backoff,
        }
    }

    /// Asks for `key` to be reconciled at `at`. A resource already scheduled
    /// keeps the earlier of its two times.
    pub fn schedule(&mut self, key: Key, at: Instant) {
        if let Some(&current) = self.due.get(&key) {
            if current <= at {
                return;
            }
            self.queue.remove(&(current, key.clone()));
        }
        self.queue.insert((at, key.clone()));
        self.due.insert(key, at);
    }

    /// Forgets a resource that left the desired state. A reconcile of it that
    /// is running finishes; it is not started again.
    pub fn forget(&mut self, key: &Key) {
        if let Some(at) = self.due.remove(key) {
            self.queue.remove(&(at, key.clone()));
        }
        self.failures.remove(key);
    }

    /// When `key` is due, if it is scheduled.
    pub fn due(&self, key: &Key) -> Option<Instant> {
        self.due.get(key).copied()
    }

    /// Consecutive retryable failures of `key`.
    pub fn failures(&self, key: &Key) -> u32 {
        self.failures.get(key).copied().unwrap_or(0)
    }

    pub fn is_running(&self, key: &Key) -> bool {
        self.running.contains(key)
    }

    /// Whether nothing is running.
    pub fn idle(&self) -> bool {
        self.running.is_empty()
    }

    /// The earliest time at which something that is not blocked (by a
    /// running reconcile of the same resource, or of a kind it depends on)
    /// becomes due. Blocked work is reconsidered when a batch finishes.
    pub fn next_due(&self) -> Option<Instant> {
        let busy = self.busy_kinds();
        self.queue
            .iter()
            .find(|(_, k)| !self.running.contains(k) && !blocked(&k.environment, k.kind, &busy))
            .map(|(at, _)| *at)
    }

    /// Starts what is due at `now`, as at most `slots` batches: per kind, the
    /// resources due together form one batch, except that those retrying
    /// after failures form another, so that a failing resource never slows
    /// the healthy ones. A kind waits while a kind it depends on is running
    /// or due.
    pub fn start_due(&mut self, now: Instant, slots: usize) -> Vec<Batch> {
        if slots == 0 {
            return Vec::new();
        }
        // Per environment and kind: (fresh, retrying) names.
        let mut ready: BTreeMap<(&str, Kind), Ready> = BTreeMap::new();
        for (_, key) in self.queue.iter().take_while(|(at, _)| *at <= now) {
            if self.running.contains(key) {
                continue;
            }
            let entry = ready
                .entry((key.environment.as_str(), key.kind))
                .or_default();
            if self.failures.contains_key(key) {
                entry.1.push(key.name.clone());
            } else {
                entry.0.push(key.name.clone());
            }
        }
        let mut busy = self.busy_kinds();
        busy.extend(ready.keys().copied());
        let mut batches = Vec::new();
        for ((environment, kind), (fresh, retrying)) in ready {
            if blocked(environment, kind, &busy) {
                continue;
            }
            for names in [fresh, retrying] {
                if names.is_empty() || batches.len() == slots {
                    continue;
                }
                batches.push(Batch {
                    environment: environment.to_string(),
                    kind,
                    names,
                    started: now,
                });
            }
        }
        for batch in &batches {
            for key in batch.keys() {
                if let Some(at) = self.due.remove(&key) {
                    self.queue.remove(&(at, key.clone()));
                }
                self.running.insert(key);
            }
        }
        batches
    }

    /// Records how the reconcile of `key` ended; after a retryable failure,
    /// schedules the retry and returns when it is due.
    pub fn finish(
        &mut self,
        key: &Key,
        outcome: Outcome,
        now: Instant,
        rng: &mut impl Rng,
    ) -> Option<Instant> {
        self.running.remove(key);
        match outcome {
            Outcome::Done | Outcome::Permanent => {
                self.failures.remove(key);
                None
            }
            Outcome::Retryable => {
                let n = self.failures.entry(key.clone()).or_insert(0);
                *n = n.saturating_add(1);
                let at = now + self.backoff.delay(*n, rng);
                self.schedule(key.clone(), at);
                self.due(key)
            }
        }
    }

    /// The kinds with a reconcile running, per environment.
    fn busy_kinds(&self) -> BTreeSet<(&str, Kind)> {
        self.running
            .iter()
            .map(|k| (k.environment.as_str(), k.kind))
            .collect()
    }
}

/// Whether a kind of an environment waits for a kind it depends on in the
/// same environment (environments never wait for each other).
fn blocked(environment: &str, kind: Kind, busy: &BTreeSet<(&str, Kind)>) -> bool {
    depends_on(kind)
        .iter()
        .any(|k| busy.contains(&(environment, *k)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    use super::*;

    fn rng() -> SmallRng {
        SmallRng::seed_from_u64(3)
    }

    /// A scheduler with the default backoff, and the time it starts at.
    fn scheduler() -> (Instant, Scheduler) {
        (Instant::now(), Scheduler::new(Backoff::DEFAULT))
    }

    /// The key of a resource of the implicit environment.
    fn key(kind: Kind, name: &str) -> Key {
        Key::new("default", kind, name)
    }

    fn names(batches: &[Batch]) -> Vec<(Kind, Vec<&str>)> {
        batches
            .iter()
            .map(|b| (b.kind, b.names.iter().map(String::as_str).collect()))
            .collect()
    }

    #[test]
    fn resources_due_together_are_started_as_one_batch_per_kind() {
        let (t0, mut s) = scheduler();
        s.schedule(key(Kind::Secret, "b"), t0);
        s.schedule(key(Kind::Secret, "a"), t0);
        s.schedule(key(Kind::Dashboard, "d"), t0);
        s.schedule(key(Kind::Secret, "later"), t0 + Duration::from_secs(5));
        let started = s.start_due(t0, 8);
        assert_eq!(
            names(&started),
            [(Kind::Secret, vec!["a", "b"]), (Kind::Dashboard, vec!["d"])]
        );
        assert_eq!(s.next_due(), Some(t0 + Duration::from_secs(5)));
        assert!(s.start_due(t0 + Duration::from_secs(4), 8).is_empty());
        assert_eq!(
            names(&s.start_due(t0 + Duration::from_secs(5), 8)),
            [(Kind::Secret, vec!["later"])]
        );
    }

    #[test]
    fn a_resource_is_never_started_twice_at_once() {
        let (t0, mut s) = scheduler();
        let key = key(Kind::Topic, "alerts");
        s.schedule(key.clone(), t0);
        assert_eq!(s.start_due(t0, 8).len(), 1);
        // Changed again while it runs: it waits, and is not "due" meanwhile,
        // so that the run loop does not spin on it.
        s.schedule(key.clone(), t0);
        assert!(s.start_due(t0, 8).is_empty());
        assert_eq!(s.next_due(), None);
        s.finish(&key, Outcome::Done, t0, &mut rng());
        assert_eq!(s.next_due(), Some(t0));
        assert_eq!(names(&s.start_due(t0, 8)), [(Kind::Topic, vec!["alerts"])]);
    }

    #[test]
    fn the_earlier_of_two_schedules_wins() {
        let (t0, mut s) = scheduler();
        let key = key(Kind::Secret, "s");
        s.schedule(key.clone(), t0 + Duration::from_secs(30));
        s.schedule(key.clone(), t0 + Duration::from_secs(1));
        s.schedule(key.clone(), t0 + Duration::from_secs(60));
        assert_eq!(s.due(&key), Some(t0 + Duration::from_secs(1)));
        assert_eq!(s.queue.len(), 1);
    }

    #[test]
    fn alarms_wait_for_topics_that_run_or_are_due() {
        let (t0, mut s) = scheduler();
        s.schedule(key(Kind::Alarm, "cpu"), t0);
        s.schedule(key(Kind::Topic, "alerts"), t0);
        s.schedule(key(Kind::Secret, "s"), t0);
        assert_eq!(
            names(&s.start_due(t0, 8)),
            [(Kind::Topic, vec!["alerts"]), (Kind::Secret, vec!["s"])]
        );
        // Blocked work is not due: the loop waits for the topic to finish.
        assert_eq!(s.next_due(), None);
        s.finish(&key(Kind::Topic, "alerts"), Outcome::Done, t0, &mut rng());
        assert_eq!(names(&s.start_due(t0, 8)), [(Kind::Alarm, vec!["cpu"])]);
    }

    #[test]
    fn no_more_batches_than_free_slots() {
        let (t0, mut s) = scheduler();
        for kind in [Kind::Secret, Kind::Dashboard, Kind::EcsService] {
            s.schedule(key(kind, "x"), t0);
        }
        assert!(s.start_due(t0, 0).is_empty());
        assert_eq!(s.start_due(t0, 2).len(), 2);
        assert_eq!(names(&s.start_due(t0, 2)), [(Kind::EcsService, vec!["x"])]);
    }

    #[test]
    fn retryable_failures_back_off_exponentially_and_success_resets() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(10),
        });
        let key = key(Kind::Dashboard, "main");
        let mut rng = rng();
        let mut now = t0;
        let mut delays = Vec::new();
        for _ in 0..5 {
            s.schedule(key.clone(), now);
            assert_eq!(s.start_due(now, 1).len(), 1);
            let at = s.finish(&key, Outcome::Retryable, now, &mut rng).unwrap();
            delays.push(at - now);
            now = at;
        }
        let nominal = [2, 4, 8, 10, 10].map(Duration::from_secs);
        for (d, n) in delays.iter().zip(nominal) {
            assert!(*d >= n / 2 && *d <= n, "{delays:?}");
        }
        assert_eq!(s.failures(&key), 5);
        assert_eq!(s.start_due(now, 1).len(), 1);
        assert_eq!(s.finish(&key, Outcome::Done, now, &mut rng), None);
        assert_eq!(s.failures(&key), 0);
        assert_eq!(s.due(&key), None);
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        let (t0, mut s) = scheduler();
        let key = key(Kind::EcsService, "worker");
        s.schedule(key.clone(), t0);
        s.start_due(t0, 1);
        assert_eq!(s.finish(&key, Outcome::Permanent, t0, &mut rng()), None);
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn retrying_resources_are_kept_apart_from_healthy_ones() {
        let (t0, mut s) = scheduler();
        let bad = key(Kind::Alarm, "bad");
        s.schedule(bad.clone(), t0);
        s.start_due(t0, 1);
        let retry_at = s.finish(&bad, Outcome::Retryable, t0, &mut rng()).unwrap();
        // A full pass at the retry time: the healthy alarms go in a batch of
        // their own.
        s.schedule(key(Kind::Alarm, "good1"), retry_at);
        s.schedule(key(Kind::Alarm, "good2"), retry_at);
        assert_eq!(
            names(&s.start_due(retry_at, 8)),
            [
                (Kind::Alarm, vec!["good1", "good2"]),
                (Kind::Alarm, vec!["bad"])
            ]
        );
    }

    #[test]
    fn forgotten_resources_are_not_started() {
        let (t0, mut s) = scheduler();
        let key = key(Kind::Secret, "gone");
        s.schedule(key.clone(), t0);
        s.forget(&key);
        assert_eq!(s.next_due(), None);
        assert!(s.start_due(t0, 8).is_empty());
    }
}
