//! One pass: observe every resource of the desired state (batched per kind),
//! diff, and — when applying — correct, in dependency order.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use tracing::{info, warn, Instrument};

use super::converge::{self, Convergence};
use super::events::Events;
use super::known_tags::KnownTags;
use super::progress::Progress;
use super::reconciler::{Action, Ctx, Diff, Reconciler, Refs};
use super::report::{PassReport, Planned, Reason, ResourceError, ResourceReport, State};
use super::scheduler::{depends_on, Key};
pub use super::stop::StopFlag;
use crate::aws::Aws;
use crate::kinds::{self, Kind, Mode, Resource, Tags, OWNER_TAG};

/// How a pass runs.
#[derive(Debug, Clone)]
pub struct PassOptions {
    /// Write to AWS (`apply`, `run`) or only compute the plan (`plan`).
    pub apply: bool,
    /// The global `--mode`: `observe` forbids every write.
    pub mode: Mode,
    /// The `driftd:owner` value of this process.
    pub owner: String,
    /// `--prune`: delete what this driftd owns and no longer declares (see
    /// [`super::prune`]), and subscriptions a Topic's file does not name. The
    /// daemon keeps it off while the desired state fails to load.
    pub prune: bool,
    /// `--max-prune`: a pass that would delete more resources prunes nothing.
    pub max_prune: usize,
    /// Raised when the daemon stops: no write starts after that.
    pub stop: StopFlag,
    /// The guards that remember across the passes of one process.
    pub guards: Guards,
}

#[cfg(test)]
impl PassOptions {
    /// The options of a test pass: owner `driftd`, no pruning (at most 10),
    /// never stopped, default guards.
    pub fn test(apply: bool, mode: Mode) -> PassOptions {
        PassOptions {
            apply,
            mode,
            owner: "driftd".into(),
            prune: false,
            max_prune: 10,
            stop: Default::default(),
            guards: Default::default(),
        }
    }
}

/// The guards of section 6 of the contract that keep state across the
/// passes of one process (clones share it): the convergence counts and the
/// drift episodes.
#[derive(Debug, Clone, Default)]
pub struct Guards {
    /// Corrections read back still drifted, and the quarantines they led to.
    pub convergence: Convergence,
    /// `--events-topic`: where drift episodes are announced.
    pub events: Option<Events>,
    /// The tags last read, for the reconciles of change events.
    pub tags: KnownTags,
    /// How far the passes under way have got.
    pub progress: Progress,
}

impl Guards {
    /// Forgets a resource that left the desired state: its counts, its
    /// quarantine and its open drift episode (which ends without a message).
    pub fn forget(&self, key: &Key) {
        self.convergence.forget(key);
        self.tags.forget(key);
        if let Some(events) = &self.events {
            events.forget(key);
        }
    }
}

/// Reconciles these resources (any kinds, any number): each kind is
/// observed in one batch, then diffed and, when applying, corrected
/// resource by resource. Kinds are reconciled side by side, each at its own
/// operations' pace, but for dependency order ([`depends_on`]): an Alarm
/// waits for the Topics whose ARNs it names.
pub async fn reconcile(
    aws: &Aws,
    resources: &[&Resource],
    refs: &mut Refs,
    opts: &PassOptions,
) -> PassReport {
    let opts = &PassOptions {
        guards: Guards {
            progress: opts.guards.progress.pass(resources.len()),
            ..opts.guards.clone()
        },
        ..opts.clone()
    };
    let present: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| resources.iter().any(|r| r.kind() == *k))
        .collect();
    let runs = lanes(&present).into_iter().map(|lane| {
        let mut lane_refs = refs.clone();
        async move {
            let mut reports = Vec::new();
            for kind in lane {
                let of_kind: Vec<&Resource> = resources
                    .iter()
                    .copied()
                    .filter(|r| r.kind() == kind)
                    .collect();
                let span =
                    tracing::info_span!("reconcile_kind", kind = %kind, count = of_kind.len());
                reports.extend(
                    dispatch(kind, aws, &of_kind, &mut lane_refs, opts)
                        .instrument(span)
                        .await,
                );
            }
            (reports, lane_refs)
        }
    });
    let mut report = PassReport::default();
    for (reports, lane_refs) in join_all(runs).await {
        report.resources.extend(reports);
        refs.topic_arns.extend(lane_refs.topic_arns);
    }
    // In the order of `Kind::ALL`, as one kind after another would be.
    let order = |r: &ResourceReport| Kind::ALL.iter().position(|k| *k == r.kind);
    report.resources.sort_by_key(order);
    if let Some(events) = &opts.guards.events {
        events.record(&report.resources, std::time::SystemTime::now());
        let keys: Vec<Key> = report.resources.iter().map(Key::of_report).collect();
        events.publish(aws, refs, &keys).await;
    }
    report
}

/// These kinds in lanes that may run side by side: a kind goes into the
/// lane of the kinds it depends on (lanes it joins are merged), after them;
/// a kind without dependencies gets a lane of its own.
fn lanes(kinds: &[Kind]) -> Vec<Vec<Kind>> {
    let mut lanes: Vec<Vec<Kind>> = Vec::new();
    for &kind in kinds {
        let (mut joined, rest): (Vec<Vec<Kind>>, Vec<Vec<Kind>>) = lanes
            .into_iter()
            .partition(|lane| depends_on(kind).iter().any(|d| lane.contains(d)));
        lanes = rest;
        let mut lane: Vec<Kind> = joined.drain(..).flatten().collect();
        lane.push(kind);
        lanes.push(lane);
    }
    lanes
}

/// The one place that maps a kind to its reconciler.
async fn dispatch(
    kind: Kind,
    aws: &Aws,
    resources: &[&Resource],
    refs: &mut Refs,
    opts: &PassOptions,
) -> Vec<ResourceReport> {
    match kind {
        Kind::Topic => reconcile_kind::<kinds::topic::Topic>(aws, resources, refs, opts).await,
        Kind::Alarm => reconcile_kind::<kinds::alarm::Alarm>(aws, resources, refs, opts).await,
        Kind::EcsService => {
            reconcile_kind::<kinds::ecs_service::EcsService>(aws, resources, refs, opts).await
        }
        Kind::Dashboard => {
            reconcile_kind::<kinds::dashboard::Dashboard>(aws, resources, refs, opts).await
        }
        Kind::Secret => reconcile_kind::<kinds::secret::Secret>(aws, resources, refs, opts).await,
    }
}

/// Observe, diff and (maybe) apply the resources of one kind.
pub async fn reconcile_kind<R: Reconciler>(
    aws: &Aws,
    resources: &[&Resource],
    refs: &mut Refs,
    opts: &PassOptions,
) -> Vec<ResourceReport> {
    let started = tokio::time::Instant::now();
    let items: Vec<(&Resource, &R::Spec)> = resources
        .iter()
        .filter_map(|r| R::spec(&r.spec).map(|s| (*r, s)))
        .collect();
    // Tags a change event lets this reconcile take as last read.
    let known: HashMap<String, Tags> = items
        .iter()
        .filter(|_| R::TAGS_APART)
        .filter_map(|(r, _)| Some((r.name.clone(), opts.guards.tags.take(&Key::of(r))?)))
        .collect();
    let observed = if known.is_empty() {
        R::observe(aws, &items).await
    } else {
        R::observe_knowing(aws, &items, &known).await
    };
    // The batch read's time is shared out evenly among the resources it served.
    let observe_share = started.elapsed() / items.len().max(1) as u32;
    let mut observed = match observed {
        Ok(o) => o,
        Err(e) => {
            warn!(kind = %R::KIND, error = %e, "could not read live state");
            let err = ResourceError::from_kind(&e);
            return items
                .iter()
                .map(|(r, _)| failed(r, opts, err.clone(), observe_share))
                .inspect(|report| opts.guards.progress.record(report))
                .collect();
        }
    };
    for (r, _) in &items {
        if let Some(Ok(Some(live))) = observed.get(&r.name) {
            R::record_refs(&r.name, live, refs);
        }
    }
    let ctx = Ctx {
        owner: opts.owner.clone(),
        prune: opts.prune,
    };
    let mut reports = Vec::with_capacity(items.len());
    for (resource, spec) in items {
        // `resource`, not `name`: JSON logs already use `name` for the span's own name.
        let span = tracing::info_span!("reconcile", kind = %R::KIND, resource = %resource.name);
        let started = tokio::time::Instant::now();
        let live = observed.remove(&resource.name).unwrap_or(Ok(None));
        let tags_read = !known.contains_key(&resource.name);
        let mut report = reconcile_one::<R>(aws, resource, spec, live, tags_read, refs, &ctx, opts)
            .instrument(span)
            .await;
        report.duration = observe_share + started.elapsed();
        opts.guards.progress.record(&report);
        reports.push(report);
    }
    reports
}

/// Diff one resource against what was observed (its tags read with it, or
/// taken as last read when `!tags_read`) and, when allowed, correct it.
#[allow(clippy::too_many_arguments)] // the parts of one reconcile, passed down once
async fn reconcile_one<R: Reconciler>(
    aws: &Aws,
    resource: &Resource,
    spec: &R::Spec,
    live: Result<Option<R::Live>, kinds::Error>,
    tags_read: bool,
    refs: &mut Refs,
    ctx: &Ctx,
    opts: &PassOptions,
) -> ResourceReport {
    let live = match live {
        Ok(live) => live,
        Err(e) => {
            warn!(kind = %R::KIND, name = %resource.name, error = %e, "could not read live state");
            return failed(resource, opts, ResourceError::from_kind(&e), Duration::ZERO);
        }
    };
    if R::TAGS_APART {
        opts.guards
            .tags
            .found(&Key::of(resource), live.as_ref().and_then(R::live_tags));
    }
    if let Some(foreign) = live
        .as_ref()
        .and_then(R::live_tags)
        .and_then(|tags| tags.get(OWNER_TAG))
        .filter(|o| **o != ctx.owner)
    {
        let err = ResourceError::new(
            Reason::ForeignOwner,
            format!(
                "{} {} is owned by driftd owner {foreign:?}, not {:?}: left untouched",
                R::KIND,
                resource.name,
                ctx.owner
            ),
        );
        warn!(kind = %R::KIND, name = %resource.name, owner = %foreign, "owned by another driftd: left untouched");
        return failed(resource, opts, err, Duration::ZERO);
    }
    let diff: Diff<R::Ops> = R::diff(
        resource,
        spec,
        live.as_ref(),
        &R::inputs(spec, live.as_ref()),
        refs,
        ctx,
    );
    // The tags it will have once the correction's tag writes succeed.
    let mut tags_after = live
        .as_ref()
        .and_then(R::live_tags)
        .cloned()
        .unwrap_or_default();
    let mut writes_tags = false;
    for c in diff.changes.iter().filter(|c| converge::is_tag(&c.field)) {
        writes_tags = true;
        let key = c.field.trim_start_matches("tags.").to_string();
        match &c.to {
            Some(v) => tags_after.insert(key, v.clone()),
            None => tags_after.remove(&key),
        };
    }
    if writes_tags && R::TAGS_APART {
        // Until that write is known to have succeeded, they are read again.
        opts.guards.tags.found(&Key::of(resource), None);
    }
    let mode = resource.effective_mode(opts.mode);
    let planned = match &diff.action {
        Action::InSync => Planned::InSync,
        Action::Create => Planned::Create,
        Action::Update => Planned::Update,
        Action::Error(e) => {
            let error = ResourceError::from_kind(e);
            warn!(kind = %R::KIND, name = %resource.name, reason = %error.reason, message = %error.message, "cannot reconcile");
            let mut report = failed(resource, opts, error, Duration::ZERO);
            report.notes = diff.notes;
            return report;
        }
    };
    let mut report = ResourceReport {
        environment: resource.environment.clone(),
        kind: R::KIND,
        name: resource.name.clone(),
        mode,
        action: planned,
        state: if planned == Planned::InSync {
            State::InSync
        } else {
            State::Drifted
        },
        changes: diff.changes,
        notes: diff.notes,
        error: None,
        duration: Duration::ZERO,
    };
    let convergence = &opts.guards.convergence;
    if planned == Planned::InSync {
        if opts.apply {
            if tags_read {
                convergence.converged(resource);
            } else {
                // Its fields were read, its tags taken as last read: the
                // count of tags that did not stick waits for a real read.
                convergence.took(resource);
            }
            // In sync, with a write on the side that is no drift (a
            // dashboard's owner tag: a tag is not a body change).
            if mode == Mode::Enforce && !R::writes_nothing(&diff.ops) && !opts.stop.is_raised() {
                if let Err(e) = R::apply(aws, resource, spec, &diff.ops, refs, ctx).await {
                    warn!(kind = %R::KIND, name = %resource.name, error = %e, "in sync, but its owner tag could not be set");
                    report.notes.push(format!("owner tag not set: {e}"));
                }
            }
        }
        return report;
    }
    let fields: Vec<&str> = report.changes.iter().map(|c| c.field.as_str()).collect();
    info!(action = ?planned, fields = ?fields, %mode, "drift detected");
    if !opts.apply || mode == Mode::Observe || R::writes_nothing(&diff.ops) {
        return report;
    }
    if let Some(fields) = convergence.quarantined(resource, mode, &fields) {
        info!(fields = ?fields, "not corrected: quarantined, its corrections do not converge");
        report.state = State::Error;
        report.error = Some(converge::not_converging(&fields));
        return report;
    }
    if opts.stop.is_raised() {
        info!(action = ?planned, fields = ?fields, "not corrected: driftd is stopping");
        report
            .notes
            .push("not corrected: driftd is stopping".to_string());
        return report;
    }
    let guard = converge::Guard {
        convergence,
        stop: &opts.stop,
    };
    converge::correct::<R>(aws, resource, spec, diff.ops, refs, ctx, guard, &mut report).await;
    if writes_tags && report.state == State::Corrected && R::TAGS_APART {
        opts.guards.tags.wrote(&Key::of(resource), tags_after);
    }
    report
}

/// The report of a resource that could not be reconciled.
pub(super) fn failed(
    resource: &Resource,
    opts: &PassOptions,
    error: ResourceError,
    duration: Duration,
) -> ResourceReport {
    ResourceReport {
        environment: resource.environment.clone(),
        kind: resource.kind(),
        name: resource.name.clone(),
        mode: resource.effective_mode(opts.mode),
        action: Planned::Error,
        state: State::Error,
        changes: Vec::new(),
        notes: Vec::new(),
        error: Some(error),
        duration,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::FakeAws;
    use crate::engine::known_tags::TagEffect;
    use crate::kinds::{alarm, ecs_service, topic, Spec};

    fn opts(apply: bool, mode: Mode) -> PassOptions {
        PassOptions::test(apply, mode)
    }

    /// An alarm notifying the `alerts` topic, and that topic — declared in
    /// the "wrong" order on purpose.
    fn alarm_and_topic() -> Vec<Resource> {
        vec![
            Resource::test(
                "cpu-high",
                Spec::Alarm(alarm::Spec::test().alarm_actions(&["topic:alerts"])),
            ),
            Resource::test("alerts", Spec::Topic(topic::Spec::test())),
        ]
    }

    async fn pass(fake: &FakeAws, resources: &[Resource], opts: &PassOptions) -> PassReport {
        let resources: Vec<&Resource> = resources.iter().collect();
        reconcile(&fake.aws(), &resources, &mut Refs::default(), opts).await
    }

    fn states(report: &PassReport) -> Vec<(String, State)> {
        report
            .resources
            .iter()
            .map(|r| (r.name.clone(), r.state))
            .collect()
    }

    #[tokio::test]
    async fn topic_is_created_before_the_alarm_that_notifies_it() {
        let fake = FakeAws::new();
        let report = pass(&fake, &alarm_and_topic(), &opts(true, Mode::Enforce)).await;
        assert_eq!(
            states(&report),
            [
                ("alerts".to_string(), State::Corrected),
                ("cpu-high".to_string(), State::Corrected)
            ]
        );
        let state = fake.state.lock().unwrap();
        let topic_arn = state
            .sns
            .topics
            .keys()
            .next()
            .expect("topic created")
            .clone();
        let actions = &state.cloudwatch.alarms["cpu-high"].alarm_actions;
        assert_eq!(
            actions,
            &vec![topic_arn],
            "topic:alerts resolved to its ARN"
        );
    }

    #[tokio::test]
    async fn a_second_apply_writes_nothing() {
        let fake = FakeAws::new();
        let resources = alarm_and_topic();
        pass(&fake, &resources, &opts(true, Mode::Enforce)).await;
        let writes = fake.writes().len();
        let report = pass(&fake, &resources, &opts(true, Mode::Enforce)).await;
        assert!(report.resources.iter().all(|r| r.state == State::InSync));
        assert_eq!(fake.writes().len(), writes, "{:?}", fake.writes());
    }

    #[test]
    fn alarms_follow_topics_and_every_other_kind_runs_alongside() {
        assert_eq!(
            lanes(&Kind::ALL),
            [
                vec![Kind::Secret],
                vec![Kind::Dashboard],
                vec![Kind::Topic, Kind::Alarm],
                vec![Kind::EcsService],
            ]
        );
        assert_eq!(lanes(&[Kind::Alarm]), [vec![Kind::Alarm]]);
    }

    /// What an alarm's reconcile read: (DescribeAlarms, tag reads).
    fn alarm_reads(fake: &FakeAws) -> (usize, usize) {
        let s = fake.state.lock().unwrap();
        (s.cloudwatch.describe_calls, s.tags_of_calls)
    }

    #[tokio::test]
    async fn an_event_that_keeps_tags_lets_the_reconcile_skip_reading_them() {
        let fake = FakeAws::new();
        let alarm = Resource::test(
            "cpu-high",
            Spec::Alarm(alarm::Spec::test().alarm_actions(&[])),
        );
        let opts = opts(true, Mode::Enforce);
        let key = Key::of(&alarm);
        let created = pass(&fake, std::slice::from_ref(&alarm), &opts).await;
        assert_eq!(created.resources[0].state, State::Corrected, "{created:#?}");
        // The event of that create (PutMetricAlarm) finds what was written.
        let created = alarm_reads(&fake);
        opts.guards.tags.event(&key, &TagEffect::None);
        let report = pass(&fake, std::slice::from_ref(&alarm), &opts).await;
        assert_eq!(report.resources[0].state, State::InSync);
        let before = alarm_reads(&fake);
        assert_eq!((before.0 - created.0, before.1 - created.1), (1, 0));
        assert_eq!(fake.writes().len(), 1, "{:?}", fake.writes());

        // A console edit of the threshold, and its PutMetricAlarm event.
        fake.state
            .lock()
            .unwrap()
            .cloudwatch
            .alarms
            .get_mut("cpu-high")
            .expect("created")
            .threshold = Some(99.0);
        opts.guards.tags.event(&key, &TagEffect::None);
        let report = pass(&fake, std::slice::from_ref(&alarm), &opts).await;
        assert_eq!(report.resources[0].state, State::Corrected);
        let after = alarm_reads(&fake);
        assert_eq!(
            (after.0 - before.0, after.1 - before.1),
            (2, 0),
            "DescribeAlarms and the read-back, no tag read"
        );

        // The event of that correction: one read, no write.
        let writes = fake.writes().len();
        opts.guards.tags.event(&key, &TagEffect::None);
        let report = pass(&fake, std::slice::from_ref(&alarm), &opts).await;
        assert_eq!(report.resources[0].state, State::InSync);
        assert_eq!(fake.writes().len(), writes);
        let again = alarm_reads(&fake);
        assert_eq!((again.0 - after.0, again.1 - after.1), (1, 0));

        // A full pass reads them.
        pass(&fake, std::slice::from_ref(&alarm), &opts).await;
        assert_eq!(alarm_reads(&fake).1 - again.1, 1);
        let again = alarm_reads(&fake);

        // A tag call's event reads the tags, and finds the owner tag gone.
        fake.state.lock().unwrap().tags.values_mut().for_each(|t| {
            t.remove(OWNER_TAG);
        });
        opts.guards.tags.event(&key, &TagEffect::Unknown);
        let report = pass(&fake, std::slice::from_ref(&alarm), &opts).await;
        assert_eq!(
            report.resources[0].state,
            State::Corrected,
            "owner tag put back"
        );
        assert_eq!(alarm_reads(&fake).1 - again.1, 1);
    }

    #[tokio::test]
    async fn plan_writes_nothing_and_shows_unknown_topic_arns() {
        let fake = FakeAws::new();
        let report = pass(&fake, &alarm_and_topic(), &opts(false, Mode::Enforce)).await;
        assert!(fake.writes().is_empty());
        assert_eq!(report.summary().create, 2);
        let alarm = &report.resources[1];
        assert!(
            alarm.changes.iter().any(|c| c
                .to
                .as_deref()
                .is_some_and(|t| t.contains("known after apply"))),
            "{:?}",
            alarm.changes
        );
    }

    #[tokio::test]
    async fn global_observe_mode_changes_nothing() {
        let fake = FakeAws::new();
        let report = pass(&fake, &alarm_and_topic(), &opts(true, Mode::Observe)).await;
        assert!(fake.writes().is_empty(), "{:?}", fake.writes());
        assert!(report.resources.iter().all(|r| r.state == State::Drifted));
        assert!(report.converged(), "observed drift is not a failure");
    }

    #[tokio::test]
    async fn a_resource_in_observe_mode_is_left_alone_while_others_are_corrected() {
        let fake = FakeAws::new();
        let mut resources = alarm_and_topic();
        resources[0] = resources[0].clone().mode(Mode::Observe);
        let report = pass(&fake, &resources, &opts(true, Mode::Enforce)).await;
        assert_eq!(
            states(&report),
            [
                ("alerts".to_string(), State::Corrected),
                ("cpu-high".to_string(), State::Drifted)
            ]
        );
        assert!(fake.writes().iter().all(|w| !w.starts_with("cloudwatch")));
    }

    #[tokio::test]
    async fn a_resource_owned_by_another_driftd_is_never_touched() {
        let fake = FakeAws::new();
        fake.put_topic(
            "alerts",
            &[("DisplayName", "theirs")],
            &[(OWNER_TAG, "team-b")],
        );
        let resources = [Resource::test(
            "alerts",
            Spec::Topic(topic::Spec::test().display_name("ours")),
        )];
        let report = pass(&fake, &resources, &opts(true, Mode::Enforce)).await;
        let r = &report.resources[0];
        assert_eq!(r.state, State::Error);
        assert_eq!(
            r.error.as_ref().map(|e| e.reason),
            Some(Reason::ForeignOwner)
        );
        assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    }

    #[tokio::test]
    async fn one_failing_resource_does_not_stop_the_others() {
        let fake = FakeAws::new();
        let mut resources = alarm_and_topic();
        resources.push(Resource::test(
            "missing-worker",
            Spec::EcsService(ecs_service::Spec::test().desired_count(0)),
        ));
        let report = pass(&fake, &resources, &opts(true, Mode::Enforce)).await;
        let failed: Vec<_> = report
            .resources
            .iter()
            .filter(|r| r.state == State::Error)
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(failed, ["missing-worker"]);
        assert!(!report.converged());
        assert_eq!(report.summary().error, 1);
    }

    #[tokio::test]
    async fn drift_driftd_may_not_correct_fails_apply() {
        // An extra subscription is drift, removed only with --prune: the
        // apply writes nothing for it and must not claim convergence.
        let fake = FakeAws::new();
        fake.put_topic("alerts", &[], &[(OWNER_TAG, "driftd")]);
        fake.put_subscription("alerts", "sqs", "arn:aws:sqs:us-east-1:123456789012:stray");
        let resources = [Resource::test("alerts", Spec::Topic(topic::Spec::test()))];
        let report = pass(&fake, &resources, &opts(true, Mode::Enforce)).await;
        assert_eq!(report.resources[0].state, State::Drifted);
        assert!(fake.writes().is_empty(), "{:?}", fake.writes());
        assert!(!report.converged());
        assert!(!report.has_errors());
    }
}
