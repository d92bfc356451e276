//! The guard against writes that do not converge: after a correction the
//! resource is read back, and a field still drifted after
//! [`Convergence::LIMIT`] corrections in a row quarantines the resource: no
//! more writes, state `error`, reason `not_converging`.
//!
//! Tags are eventually consistent and are not checked by the read-back
//! ([`is_tag`]); a tag written by one correction and still missing when the
//! next pass reads the resource counts as a correction that did not take, so
//! a tag that never sticks is quarantined the same way instead of being
//! written on every pass.
//!
//! The counts are per process ([`Convergence`] is shared by every pass of
//! it): a restart forgets them. A quarantine is lifted when the resource's
//! desired state (spec or mode) changes, when none of the fields that did
//! not converge differs any more (found in sync, or put back by someone),
//! or when it leaves the desired state.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{info, warn};

use super::reconciler::{Action, Ctx, Reconciler, Refs};
use super::report::{Reason, ResourceError, ResourceReport, State};
use super::scheduler::Key;
use super::stop::StopFlag;
use crate::aws::Aws;
use crate::kinds::{Mode, Resource, Spec};

/// Per-process counts of corrections that did not take, per resource.
///
/// Cheap to clone: clones share the counts. A std `Mutex`, never held across
/// an `.await`.
#[derive(Debug, Clone)]
pub struct Convergence {
    attempts: u32,
    pause: Duration,
    tracks: Arc<Mutex<HashMap<Key, Track>>>,
    tags: Arc<Mutex<HashMap<Key, TagTrack>>>,
}

/// The tags the last correction of a resource wrote, and how many passes in
/// a row found tags written by the correction before still missing.
#[derive(Debug)]
struct TagTrack {
    spec: Spec,
    mode: Mode,
    written: BTreeSet<String>,
    failed: u32,
}

/// The corrections of one resource that did not take, in a row.
#[derive(Debug)]
struct Track {
    /// The desired state these corrections were made for: another one (an
    /// edit) starts afresh.
    spec: Spec,
    mode: Mode,
    /// Corrections in a row whose read-back still showed `fields` drifted.
    failed: u32,
    /// The fields drifted after every one of these corrections.
    fields: BTreeSet<String>,
}

/// What a correction whose read-back still differs amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not yet quarantined: `failed` corrections in a row left these fields drifted.
    Retry {
        failed: u32,
        fields: BTreeSet<String>,
    },
    /// The limit is reached: the resource is quarantined.
    Quarantined { fields: BTreeSet<String> },
}

impl Default for Convergence {
    fn default() -> Convergence {
        Convergence::per_reconcile(1, Duration::ZERO)
    }
}

impl Convergence {
    /// Corrections in a row that leave the same field drifted before the
    /// resource is quarantined.
    pub const LIMIT: u32 = 3;

    /// For the daemon: one correction per reconcile; the next reconcile of
    /// the resource (the next pass) makes the next attempt.
    pub fn daemon() -> Convergence {
        Convergence::per_reconcile(1, Duration::ZERO)
    }

    /// For a one-shot `apply`, which has no next pass: up to [`Self::LIMIT`]
    /// corrections within the one reconcile, `pause` apart.
    pub fn one_shot(pause: Duration) -> Convergence {
        Convergence::per_reconcile(Convergence::LIMIT, pause)
    }

    fn per_reconcile(attempts: u32, pause: Duration) -> Convergence {
        Convergence {
            attempts: attempts.max(1),
            pause,
            tracks: Arc::default(),
            tags: Arc::default(),
        }
    }

    /// How many corrections one reconcile may make.
    pub fn attempts_per_reconcile(&self) -> u32 {
        self.attempts
    }

    /// How long to wait before correcting again within one reconcile.
    pub fn pause(&self) -> Duration {
        self.pause
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Track>> {
        // A panic while holding the lock left consistent counts: go on.
        self.tracks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_tags(&self) -> std::sync::MutexGuard<'_, HashMap<Key, TagTrack>> {
        self.tags.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A correction is about to write these `tags`. Those among them that the
    /// previous correction wrote too did not stick: counted like fields a
    /// read-back still shows drifted (`None` when none is written again).
    pub fn writing_tags(
        &self,
        resource: &Resource,
        mode: Mode,
        tags: &BTreeSet<String>,
    ) -> Option<Verdict> {
        let mut all = self.lock_tags();
        let track = all.entry(key(resource)).or_insert_with(|| TagTrack {
            spec: resource.spec.clone(),
            mode,
            written: BTreeSet::new(),
            failed: 0,
        });
        let same_state = track.spec == resource.spec && track.mode == mode;
        let stuck: BTreeSet<String> = track.written.intersection(tags).cloned().collect();
        track.failed = if same_state && !stuck.is_empty() {
            track.failed + 1
        } else {
            0
        };
        track.spec = resource.spec.clone();
        track.mode = mode;
        track.written = tags.clone();
        match track.failed {
            0 => None,
            failed if failed >= Convergence::LIMIT => Some(Verdict::Quarantined { fields: stuck }),
            failed => Some(Verdict::Retry {
                failed,
                fields: stuck,
            }),
        }
    }

    /// The tags that quarantine this resource (see [`Self::quarantined`]).
    fn tags_quarantined<S: AsRef<str>>(
        &self,
        key: &Key,
        resource: &Resource,
        mode: Mode,
        drifted: &[S],
    ) -> Option<BTreeSet<String>> {
        let mut all = self.lock_tags();
        let track = all.get(key)?;
        if track.failed < Convergence::LIMIT {
            return None;
        }
        let stuck: BTreeSet<String> = drifted
            .iter()
            .map(|f| f.as_ref().to_string())
            .filter(|f| track.written.contains(f))
            .collect();
        if track.spec == resource.spec && track.mode == mode && !stuck.is_empty() {
            return Some(stuck);
        }
        info!(kind = %key.kind, name = %key.name, "quarantine of its tags lifted");
        all.remove(key);
        None
    }

    /// The fields that quarantine this resource, found with `drifted`
    /// fields, when it is quarantined for this desired state. Counts kept
    /// for another desired state (it was edited since) are dropped: the
    /// edit lifts the quarantine. So is a quarantine whose fields no longer
    /// differ (the drift that did not converge went away by other means).
    pub fn quarantined<S: AsRef<str>>(
        &self,
        resource: &Resource,
        mode: Mode,
        drifted: &[S],
    ) -> Option<BTreeSet<String>> {
        let key = key(resource);
        if let Some(tags) = self.tags_quarantined(&key, resource, mode, drifted) {
            return Some(tags);
        }
        let mut tracks = self.lock();
        let track = tracks.get(&key)?;
        let why = if track.spec != resource.spec || track.mode != mode {
            "desired state changed"
        } else if track.failed < Convergence::LIMIT {
            return None;
        } else if !drifted.iter().any(|f| track.fields.contains(f.as_ref())) {
            "its fields no longer differ"
        } else {
            return Some(track.fields.clone());
        };
        if track.failed >= Convergence::LIMIT {
            info!(kind = %key.kind, name = %key.name, why, "quarantine lifted");
        }
        tracks.remove(&key);
        None
    }

    /// A correction was read back still showing `fields` drifted. The count
    /// goes on while at least one field stays drifted from one correction to
    /// the next; it starts afresh otherwise, or when the desired state changed.
    pub fn failed(&self, resource: &Resource, mode: Mode, fields: BTreeSet<String>) -> Verdict {
        let mut tracks = self.lock();
        let track = tracks.entry(key(resource)).or_insert_with(|| Track {
            spec: resource.spec.clone(),
            mode,
            failed: 0,
            fields: BTreeSet::new(),
        });
        let same_state = track.spec == resource.spec && track.mode == mode;
        let still: BTreeSet<String> = track.fields.intersection(&fields).cloned().collect();
        if same_state && track.failed > 0 && !still.is_empty() {
            track.failed += 1;
            track.fields = still;
        } else {
            track.spec = resource.spec.clone();
            track.mode = mode;
            track.failed = 1;
            track.fields = fields;
        }
        if track.failed >= Convergence::LIMIT {
            Verdict::Quarantined {
                fields: track.fields.clone(),
            }
        } else {
            Verdict::Retry {
                failed: track.failed,
                fields: track.fields.clone(),
            }
        }
    }

    /// The resource was found in sync, tags included: every count starts
    /// afresh, and a quarantine is lifted.
    pub fn converged(&self, resource: &Resource) {
        self.lock_tags().remove(&key(resource));
        self.took(resource);
    }

    /// A correction was read back in sync (tags are not read back): the
    /// count of its fields starts afresh; that of its tags waits for the
    /// next pass.
    pub fn took(&self, resource: &Resource) {
        let key = key(resource);
        if let Some(track) = self.lock().remove(&key) {
            if track.failed >= Convergence::LIMIT {
                info!(kind = %key.kind, name = %key.name, "in sync again: quarantine lifted");
            }
        }
    }

    /// Forgets a resource that left the desired state.
    pub fn forget(&self, key: &Key) {
        self.lock().remove(key);
        self.lock_tags().remove(key);
    }
}

fn key(resource: &Resource) -> Key {
    Key::of(resource)
}

/// Whether a field is a tag. Tags of alarms and topics are read through the
/// Resource Groups Tagging API, which AWS documents as eventually
/// consistent: a tag just written may not show yet when the resource is
/// read back. Tags are therefore not checked by the read-back (the next
/// pass's diff checks them, and writes them again if they are missing).
pub fn is_tag(field: &str) -> bool {
    field.starts_with("tags.")
}

/// What a correction answers to: the convergence counts, and the stop flag
/// that ends its retries.
#[derive(Clone, Copy)]
pub(super) struct Guard<'a> {
    pub convergence: &'a Convergence,
    pub stop: &'a StopFlag,
}

/// Makes the writes, reads the resource back and, while the read-back
/// still differs and this reconcile may try again, corrects again.
#[allow(clippy::too_many_arguments)] // the parts of one reconcile, passed down once
pub(super) async fn correct<R: Reconciler>(
    aws: &Aws,
    resource: &Resource,
    spec: &R::Spec,
    mut ops: R::Ops,
    refs: &mut Refs,
    ctx: &Ctx,
    guard: Guard<'_>,
    report: &mut ResourceReport,
) {
    let convergence = guard.convergence;
    let planned = report.action;
    let fields: Vec<String> = report.changes.iter().map(|c| c.field.clone()).collect();
    let tags: BTreeSet<String> = fields.iter().filter(|f| is_tag(f)).cloned().collect();
    if !tags.is_empty() {
        match convergence.writing_tags(resource, report.mode, &tags) {
            Some(Verdict::Quarantined { fields }) => {
                warn!(kind = %R::KIND, name = %resource.name, fields = ?fields, "tags written by the last corrections never showed: quarantined, no more writes until its desired state changes");
                report.state = State::Error;
                report.error = Some(not_converging(&fields));
                return;
            }
            Some(Verdict::Retry { failed, fields }) => {
                warn!(kind = %R::KIND, name = %resource.name, fields = ?fields, failed, limit = Convergence::LIMIT, "tags written by the last correction are still missing: written again");
            }
            None => {}
        }
    }
    let mut attempt = 1;
    loop {
        if let Err(e) = R::apply(aws, resource, spec, &ops, refs, ctx).await {
            warn!(kind = %R::KIND, name = %resource.name, error = %e, "correction failed");
            report.state = State::Error;
            report.error = Some(ResourceError::from_kind(&e));
            return;
        }
        if !R::corrects_all(&ops) {
            // The kind leaves part of the drift alone on purpose: nothing
            // to verify, and not a correction that failed.
            info!(action = ?planned, fields = ?fields, "drift left as it is");
            return;
        }
        let read = if fields.iter().all(|f| is_tag(f)) {
            ReadBack::InSync
        } else {
            read_back::<R>(aws, resource, spec, refs, ctx).await
        };
        let (failed, still, next) = match read {
            ReadBack::InSync => {
                info!(action = ?planned, fields = ?fields, "corrected");
                convergence.took(resource);
                report.state = State::Corrected;
                return;
            }
            ReadBack::Unknown(why) => {
                // The writes succeeded; whether they took is for the next
                // pass to see. Not counted either way.
                info!(action = ?planned, fields = ?fields, read_back = %why, "corrected (not verified)");
                report.state = State::Corrected;
                return;
            }
            ReadBack::Drifted(still, next) => {
                match convergence.failed(resource, report.mode, still) {
                    Verdict::Quarantined { fields } => {
                        warn!(kind = %R::KIND, name = %resource.name, fields = ?fields, "corrections do not converge: quarantined, no more writes until its desired state changes");
                        report.state = State::Error;
                        report.error = Some(not_converging(&fields));
                        return;
                    }
                    Verdict::Retry { failed, fields } => (failed, fields, next),
                }
            }
        };
        warn!(kind = %R::KIND, name = %resource.name, fields = ?still, failed, limit = Convergence::LIMIT, "correction did not take: read back still drifted");
        if attempt < convergence.attempts_per_reconcile() && !guard.stop.is_raised() {
            attempt += 1;
            tokio::time::sleep(convergence.pause()).await;
            ops = next;
            continue;
        }
        report.state = State::Drifted;
        report.notes.push(format!(
            "correction did not take: {} still differ{} when read back ({failed} of {} corrections in a row before driftd stops writing it)",
            join(&still),
            if still.len() == 1 { "s" } else { "" },
            Convergence::LIMIT
        ));
        return;
    }
}

/// What reading a resource back after its correction showed.
enum ReadBack<O> {
    /// It matches its desired state (tags aside, see [`is_tag`]).
    InSync,
    /// These fields still differ; these writes would correct them.
    Drifted(BTreeSet<String>, O),
    /// It could not be told: the read failed, or a resource just created
    /// cannot be seen yet (AWS lists some new resources with a delay).
    Unknown(String),
}

/// Observes one resource again (a batch of one) and diffs it again.
async fn read_back<R: Reconciler>(
    aws: &Aws,
    resource: &Resource,
    spec: &R::Spec,
    refs: &Refs,
    ctx: &Ctx,
) -> ReadBack<R::Ops> {
    let live = match R::observe_again(aws, &[(resource, spec)]).await {
        Ok(mut observed) => observed.remove(&resource.name).unwrap_or(Ok(None)),
        Err(e) => Err(e),
    };
    let live = match live {
        Ok(Some(live)) => live,
        Ok(None) => return ReadBack::Unknown("not found yet".to_string()),
        Err(e) => return ReadBack::Unknown(e.to_string()),
    };
    let inputs = R::inputs(spec, Some(&live));
    let diff = R::diff(resource, spec, Some(&live), &inputs, refs, ctx);
    match diff.action {
        Action::InSync => ReadBack::InSync,
        Action::Error(e) => ReadBack::Unknown(e.to_string()),
        Action::Create | Action::Update
            if R::writes_nothing(&diff.ops) || !R::corrects_all(&diff.ops) =>
        {
            // What is left is drift driftd does not correct: not a write
            // that failed to take.
            ReadBack::InSync
        }
        Action::Create | Action::Update => {
            let still: BTreeSet<String> = diff
                .changes
                .iter()
                .map(|c| c.field.clone())
                .filter(|f| !is_tag(f))
                .collect();
            if still.is_empty() {
                ReadBack::InSync
            } else {
                ReadBack::Drifted(still, diff.ops)
            }
        }
    }
}

/// The error of a quarantined resource.
pub(super) fn not_converging(fields: &BTreeSet<String>) -> ResourceError {
    ResourceError::new(
        Reason::NotConverging,
        format!(
            "{} still differed after {} corrections in a row, each read back: driftd no longer writes it until its desired state changes (or driftd restarts)",
            join(fields),
            Convergence::LIMIT
        ),
    )
}

fn join(fields: &BTreeSet<String>) -> String {
    fields
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::aws::cloudwatch::{AlarmActions, CloudWatch};
    use crate::aws::fake::FakeAws;
    use crate::aws::{Aws, Error};
    use crate::engine::reconciler::Refs;
    use crate::engine::Reason;
    use crate::engine::{reconcile, Guards, PassOptions, ResourceReport, State};
    use crate::kinds::alarm::{Definition, Live};
    use crate::kinds::{alarm, secret, Spec, Tags};

    fn alarm(threshold: f64) -> Resource {
        Resource::test(
            "cpu-high",
            Spec::Alarm(alarm::Spec::test().threshold(threshold).alarm_actions(&[])),
        )
    }

    fn fields(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// The threshold of `r` fails to take `LIMIT` times in a row.
    fn quarantine(c: &Convergence, r: &Resource) {
        for _ in 0..Convergence::LIMIT {
            threshold_failed(c, r);
        }
    }

    /// A daemon's convergence in which the threshold of alarm `cpu-high`
    /// (threshold 5) is quarantined, and that alarm.
    fn quarantined() -> (Convergence, Resource) {
        let (c, r) = (Convergence::daemon(), alarm(5.0));
        quarantine(&c, &r);
        (c, r)
    }

    /// Whether a correction of the threshold that did not take is the first
    /// of a new streak.
    fn starts_a_streak(c: &Convergence, r: &Resource) -> bool {
        matches!(threshold_failed(c, r), Verdict::Retry { failed: 1, .. })
    }

    /// A correction of the threshold of `r` did not take.
    fn threshold_failed(c: &Convergence, r: &Resource) -> Verdict {
        c.failed(r, Mode::Enforce, fields(&["threshold"]))
    }

    #[test]
    fn three_corrections_in_a_row_that_do_not_take_quarantine() {
        let c = Convergence::daemon();
        let r = alarm(5.0);
        for n in 1..Convergence::LIMIT {
            assert_eq!(
                threshold_failed(&c, &r),
                Verdict::Retry {
                    failed: n,
                    fields: fields(&["threshold"])
                }
            );
            assert_eq!(c.quarantined(&r, Mode::Enforce, &["threshold"]), None);
        }
        assert_eq!(
            c.failed(&r, Mode::Enforce, fields(&["threshold", "period"])),
            Verdict::Quarantined {
                fields: fields(&["threshold"])
            }
        );
        assert_eq!(
            c.quarantined(&r, Mode::Enforce, &["threshold"]),
            Some(fields(&["threshold"]))
        );
    }

    #[test]
    fn the_count_goes_on_only_while_a_field_stays_drifted() {
        let c = Convergence::daemon();
        let r = alarm(5.0);
        threshold_failed(&c, &r);
        c.failed(&r, Mode::Enforce, fields(&["threshold", "period"]));
        // Another field this time: a new streak.
        assert_eq!(
            c.failed(&r, Mode::Enforce, fields(&["period"])),
            Verdict::Retry {
                failed: 1,
                fields: fields(&["period"])
            }
        );
    }

    #[test]
    fn a_correction_that_takes_resets_the_count() {
        let c = Convergence::daemon();
        let r = alarm(5.0);
        threshold_failed(&c, &r);
        threshold_failed(&c, &r);
        c.converged(&r);
        assert!(starts_a_streak(&c, &r));
    }

    #[test]
    fn a_change_of_the_desired_state_lifts_the_quarantine() {
        let (c, r) = quarantined();
        assert!(c.quarantined(&r, Mode::Enforce, &["threshold"]).is_some());
        // The same spec in another mode is another desired state.
        assert_eq!(c.quarantined(&r, Mode::Observe, &["threshold"]), None);
        assert_eq!(
            c.quarantined(&r, Mode::Enforce, &["threshold"]),
            None,
            "lifted for good"
        );
        quarantine(&c, &r);
        let edited = alarm(6.0);
        assert_eq!(c.quarantined(&edited, Mode::Enforce, &["threshold"]), None);
        // A failure under the new spec starts a new count.
        quarantine(&c, &r);
        assert!(starts_a_streak(&c, &edited));
    }

    #[test]
    fn a_quarantine_whose_fields_no_longer_differ_is_lifted() {
        let (c, r) = quarantined();
        assert!(c
            .quarantined(&r, Mode::Enforce, &["threshold", "period"])
            .is_some());
        // Someone put the threshold back and changed the period: the
        // period is corrected like any drift.
        assert_eq!(c.quarantined(&r, Mode::Enforce, &["period"]), None);
        assert_eq!(c.quarantined(&r, Mode::Enforce, &["threshold"]), None);
    }

    #[test]
    fn found_in_sync_or_forgotten_lifts_the_quarantine() {
        let (c, r) = quarantined();
        c.converged(&r);
        assert_eq!(c.quarantined(&r, Mode::Enforce, &["threshold"]), None);
        quarantine(&c, &r);
        c.forget(&Key::of(&r));
        assert_eq!(c.quarantined(&r, Mode::Enforce, &["threshold"]), None);
    }

    #[test]
    fn clones_share_the_counts() {
        let c = Convergence::one_shot(Duration::ZERO);
        let r = alarm(5.0);
        let other = c.clone();
        quarantine(&other, &r);
        assert!(c.quarantined(&r, Mode::Enforce, &["threshold"]).is_some());
        assert_eq!(c.attempts_per_reconcile(), Convergence::LIMIT);
        assert_eq!(Convergence::daemon().attempts_per_reconcile(), 1);
    }

    // -----------------------------------------------------------------------
    // Through the pass, against the fake.

    /// Which write a wrapped CloudWatch answers with success and ignores
    /// (as the test proxy's `drop` does).
    #[derive(Clone, Copy, PartialEq)]
    enum Dropped {
        Puts,
        Tags,
    }

    /// CloudWatch that drops one kind of write and serves everything else
    /// from the fake.
    struct Ignores(FakeAws, Dropped);

    #[async_trait]
    impl CloudWatch for Ignores {
        async fn describe_metric_alarms(&self, names: &[String]) -> Result<Vec<Live>, Error> {
            self.0.describe_metric_alarms(names).await
        }

        async fn put_metric_alarm(
            &self,
            definition: &Definition,
            tags: &Tags,
        ) -> Result<(), Error> {
            if self.1 != Dropped::Puts {
                return self.0.put_metric_alarm(definition, tags).await;
            }
            self.0
                .record_write(format!("cloudwatch.PutMetricAlarm {}", definition.name));
            Ok(())
        }

        async fn tag_alarm(&self, arn: &str, tags: &Tags) -> Result<(), Error> {
            if self.1 != Dropped::Tags {
                return self.0.tag_alarm(arn, tags).await;
            }
            self.0.record_write(format!("cloudwatch.TagResource {arn}"));
            Ok(())
        }

        async fn delete_alarms(&self, names: &[String]) -> Result<(), Error> {
            self.0.delete_alarms(names).await
        }

        async fn alarm_actions(&self) -> Result<Vec<AlarmActions>, Error> {
            self.0.alarm_actions().await
        }
    }

    fn ignoring(fake: &FakeAws, dropped: Dropped) -> Aws {
        let mut aws = fake.aws();
        aws.cloudwatch = Arc::new(Ignores(fake.clone(), dropped));
        aws
    }

    fn opts(convergence: &Convergence) -> PassOptions {
        PassOptions {
            guards: Guards {
                convergence: convergence.clone(),
                events: None,
                tags: Default::default(),
                progress: Default::default(),
            },
            ..PassOptions::test(true, Mode::Enforce)
        }
    }

    async fn pass(aws: &Aws, resource: &Resource, convergence: &Convergence) -> ResourceReport {
        let report = reconcile(aws, &[resource], &mut Refs::default(), &opts(convergence)).await;
        report.resources.into_iter().next().expect("one report")
    }

    fn puts(fake: &FakeAws) -> usize {
        fake.writes()
            .iter()
            .filter(|w| w.starts_with("cloudwatch.PutMetricAlarm"))
            .count()
    }

    /// Alarm `cpu-high` (threshold 5) as driftd created it in a new fake, then
    /// its threshold changed outside driftd.
    async fn drifted_alarm() -> (FakeAws, Resource) {
        let fake = FakeAws::new();
        let r = alarm(5.0);
        let created = pass(&fake.aws(), &r, &Convergence::daemon()).await;
        assert_eq!(created.state, State::Corrected, "{created:#?}");
        set_threshold(&fake, &r, 99.0);
        (fake, r)
    }

    /// Changes the alarm's threshold in AWS, outside driftd.
    fn set_threshold(fake: &FakeAws, r: &Resource, threshold: f64) {
        fake.state
            .lock()
            .unwrap()
            .cloudwatch
            .alarms
            .get_mut(&r.name)
            .expect("the alarm exists")
            .threshold = Some(threshold);
    }

    #[tokio::test]
    async fn a_write_that_never_takes_is_quarantined_after_three_corrections() {
        let (fake, r) = drifted_alarm().await;
        let c = Convergence::daemon();
        let ignoring = ignoring(&fake, Dropped::Puts);
        let before = puts(&fake);
        for n in 1..Convergence::LIMIT {
            let report = pass(&ignoring, &r, &c).await;
            assert_eq!(report.state, State::Drifted, "{report:#?}");
            assert_eq!(puts(&fake), before + n as usize, "one correction per pass");
            assert!(
                report
                    .notes
                    .iter()
                    .any(|n| n.contains("threshold still differs")),
                "{:?}",
                report.notes
            );
        }
        let report = pass(&ignoring, &r, &c).await;
        assert_eq!(report.state, State::Error);
        let error = report.error.expect("quarantined");
        assert_eq!(error.reason, Reason::NotConverging);
        assert!(!error.retryable);
        assert!(error.message.contains("threshold"), "{}", error.message);
        assert_eq!(puts(&fake), before + 3);
        // Quarantined: observed and reported, never written again.
        for _ in 0..2 {
            let report = pass(&ignoring, &r, &c).await;
            assert_eq!(report.state, State::Error);
            assert_eq!(report.error.map(|e| e.reason), Some(Reason::NotConverging));
            assert_eq!(report.changes.len(), 1, "the drift is still shown");
        }
        assert_eq!(puts(&fake), before + 3, "{:?}", fake.writes());
        // An edit of its desired state lifts the quarantine.
        let edited = alarm(6.0);
        let report = pass(&fake.aws(), &edited, &c).await;
        assert_eq!(report.state, State::Corrected, "{report:#?}");
        assert_eq!(puts(&fake), before + 4);
    }

    #[tokio::test]
    async fn a_tag_that_never_sticks_is_quarantined_after_three_corrections() {
        let fake = FakeAws::new();
        let r = alarm(5.0);
        let created = pass(&fake.aws(), &r, &Convergence::daemon()).await;
        assert_eq!(created.state, State::Corrected);
        let arn = crate::aws::cloudwatch::fake::fake_alarm_arn(&r.name);
        let untag = || {
            fake.state
                .lock()
                .unwrap()
                .tags
                .get_mut(&arn)
                .expect("tagged")
                .remove("team")
        };
        untag().expect("the spec's tag was set");
        let tags_written = || {
            fake.writes()
                .iter()
                .filter(|w| w.starts_with("cloudwatch.TagResource"))
                .count()
        };
        let aws = ignoring(&fake, Dropped::Tags);
        let c = Convergence::daemon();
        // Written on each of three passes: not verified at once (the
        // tagging API is eventually consistent), found missing the next time.
        for n in 1..=Convergence::LIMIT {
            let report = pass(&aws, &r, &c).await;
            assert_eq!(report.state, State::Corrected, "pass {n}: {report:#?}");
            assert_eq!(tags_written(), n as usize);
        }
        for _ in 0..2 {
            let report = pass(&aws, &r, &c).await;
            assert_eq!(report.state, State::Error, "{report:#?}");
            let error = report.error.expect("quarantined");
            assert_eq!(error.reason, Reason::NotConverging);
            assert!(error.message.contains("tags.team"), "{}", error.message);
        }
        assert_eq!(tags_written(), 3, "quarantined: never written again");

        // Set by other means: in sync, the quarantine lifted, and counting
        // starts afresh if it goes missing again.
        fake.state
            .lock()
            .unwrap()
            .tags
            .get_mut(&arn)
            .unwrap()
            .insert("team".into(), "platform".into());
        assert_eq!(pass(&aws, &r, &c).await.state, State::InSync);
        untag();
        assert_eq!(pass(&aws, &r, &c).await.state, State::Corrected);
        assert_eq!(tags_written(), 4);
    }

    #[tokio::test]
    async fn a_correction_read_back_in_sync_starts_the_count_afresh() {
        let (fake, r) = drifted_alarm().await;
        let c = Convergence::daemon();
        let ignoring = ignoring(&fake, Dropped::Puts);
        pass(&ignoring, &r, &c).await;
        pass(&ignoring, &r, &c).await;
        assert_eq!(pass(&fake.aws(), &r, &c).await.state, State::Corrected);
        set_threshold(&fake, &r, 42.0);
        pass(&ignoring, &r, &c).await;
        let report = pass(&ignoring, &r, &c).await;
        assert_eq!(report.state, State::Drifted, "two in a row, not three");
    }

    #[tokio::test]
    async fn a_one_shot_apply_corrects_up_to_three_times_then_reports_not_converging() {
        let (fake, r) = drifted_alarm().await;
        let before = puts(&fake);
        let report = pass(
            &ignoring(&fake, Dropped::Puts),
            &r,
            &Convergence::one_shot(Duration::ZERO),
        )
        .await;
        assert_eq!(report.state, State::Error);
        assert_eq!(report.error.map(|e| e.reason), Some(Reason::NotConverging));
        assert_eq!(puts(&fake), before + 3);
    }

    #[tokio::test]
    async fn a_write_that_takes_is_read_back_once() {
        let (fake, r) = drifted_alarm().await;
        let describes = fake.state.lock().unwrap().cloudwatch.describe_calls;
        let report = pass(&fake.aws(), &r, &Convergence::one_shot(Duration::ZERO)).await;
        assert_eq!(report.state, State::Corrected);
        assert_eq!(
            fake.state.lock().unwrap().cloudwatch.describe_calls - describes,
            2,
            "the pass's observe and the read-back"
        );
    }

    #[tokio::test]
    async fn drift_a_kind_leaves_alone_is_not_a_failed_correction() {
        // A createOnly secret missing a required key: driftd reports it and
        // may not fill it in; its other drift (the description) is corrected.
        let fake = FakeAws::new();
        let spec = secret::Spec::test()
            .placeholder_keys(&["A"])
            .required_keys(&["A"]);
        let created = Resource::test("app", Spec::Secret(spec.clone()));
        let c = Convergence::daemon();
        assert_eq!(
            pass(&fake.aws(), &created, &c).await.state,
            State::Corrected
        );
        let r = Resource::test(
            "app",
            Spec::Secret(spec.description("new").required_keys(&["A", "B"])),
        );
        for _ in 0..4 {
            let report = pass(&fake.aws(), &r, &c).await;
            assert_eq!(report.state, State::Drifted, "{report:#?}");
            assert!(report.error.is_none());
        }
        assert_eq!(c.quarantined(&r, Mode::Enforce, &["threshold"]), None);
    }
}
