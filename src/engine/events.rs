//! Drift events (`--events-topic`): one SNS message when a resource starts
//! drifting and one when it is back in sync — one per episode, however many
//! passes it lasts — never holding a secret value.
//!
//! An episode opens when a reconcile finds a declared resource differing
//! from its desired state, and closes when a correction made it match
//! (`resolution: corrected`) or a later reconcile finds it matching
//! (`resolution: in_sync`: fixed outside driftd, or its desired state changed
//! to match). Errors (a resource that cannot be read, a foreign owner) neither
//! open nor close one. Episodes are kept per process: a restarted daemon
//! announces drift that is still there again.
//!
//! Messages are queued per resource and published by the reconcile of that
//! resource, so that the two messages of an episode go out in order. A
//! failed publish is logged and counted, never fails the reconcile, and is
//! tried again at the next reconcile of the resource.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures::stream::{self, StreamExt};
use rand::Rng;
use serde::Serialize;
use tracing::{debug, info, warn};

use super::reconciler::Refs;
use super::report::{Planned, ResourceReport, State};
use super::scheduler::Key;
use crate::aws::sns::Message;
use crate::aws::Aws;
use crate::kinds::{self, Change, Kind, Mode, DEFAULT_ENVIRONMENT};

/// Version of the message schema; bumped only on incompatible changes.
pub const EVENTS_VERSION: u32 = 1;

/// A `from`/`to` value longer than this is cut (SNS takes 256 KiB a message).
const MAX_VALUE_CHARS: usize = 256;
/// At most this many fields per message; `fields_omitted` counts the rest.
const MAX_FIELDS: usize = 50;
/// Messages kept per resource while SNS cannot be reached; the oldest go first.
const MAX_QUEUED: usize = 8;
/// Publishes in flight at once.
const PUBLISHES_IN_FLIGHT: usize = 8;

/// Where events go: `--events-topic arn:aws:sns:...` or `topic:<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A topic ARN, used as it is.
    Arn(String),
    /// `topic:<name>`: a Topic of the desired state, resolved to its ARN.
    Topic(String),
}

/// Why a `--events-topic` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: expected an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME) or topic:<name>")]
pub struct BadTarget(String);

impl FromStr for Target {
    type Err = BadTarget;

    fn from_str(s: &str) -> Result<Target, BadTarget> {
        if let Some(name) = s.strip_prefix("topic:") {
            return if name.is_empty() || name.contains(':') {
                Err(BadTarget(s.to_string()))
            } else {
                Ok(Target::Topic(name.to_string()))
            };
        }
        // arn:PARTITION:sns:REGION:ACCOUNT:NAME
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["arn", partition, "sns", region, account, name]
                if [partition, region, account, name]
                    .iter()
                    .all(|p| !p.is_empty()) =>
            {
                Ok(Target::Arn(s.to_string()))
            }
            _ => Err(BadTarget(s.to_string())),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Arn(arn) => f.write_str(arn),
            Target::Topic(name) => write!(f, "topic:{name}"),
        }
    }
}

/// Counts what was published (the daemon's metrics).
pub trait EventsObserver: Send + Sync {
    fn published(&self, event: EventType);
    fn publish_failed(&self);
}

/// The two events of an episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    DriftStarted,
    DriftEnded,
}

impl EventType {
    pub const ALL: [EventType; 2] = [EventType::DriftStarted, EventType::DriftEnded];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::DriftStarted => "drift_started",
            EventType::DriftEnded => "drift_ended",
        }
    }
}

/// How an episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// driftd corrected it (and read it back in sync).
    Corrected,
    /// A later reconcile found it matching its desired state.
    InSync,
}

/// One message, as published (JSON). See docs/events.md.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub version: u32,
    pub event: EventType,
    /// Identifies the episode: its two messages carry the same.
    pub episode: String,
    /// The environment of the resource (`default` without Environment documents).
    pub environment: String,
    pub kind: Kind,
    pub name: String,
    pub mode: Mode,
    pub owner: String,
    /// What the diff found when the episode started: `create` (missing) or `update`.
    pub action: Planned,
    /// The resource's state when this was detected.
    pub state: State,
    pub fields: Vec<Change>,
    #[serde(skip_serializing_if = "is_zero")]
    pub fields_omitted: usize,
    pub started_at: String,
    pub detected_at: String,
    pub ended_at: Option<String>,
    pub resolution: Option<Resolution>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One drifted field as an event carries it: a [`Change`] whose values
/// (the live one, `from`, and the desired one, `to`) are cut to a bounded
/// length. A Secret's fields, and any field marked sensitive, never carry
/// values.
fn event_field(kind: Kind, change: &Change) -> Change {
    // Nothing of a secret is sent but the names of its fields: its
    // description or tags are not secret, but nothing is lost by keeping a
    // message about a secret free of values altogether.
    let shown = !change.sensitive && kind != Kind::Secret;
    let value = |v: &Option<String>| v.as_deref().filter(|_| shown).map(truncate);
    Change {
        field: change.field.clone(),
        from: value(&change.from),
        to: value(&change.to),
        sensitive: change.sensitive,
    }
}

fn truncate(value: &str) -> String {
    match value.char_indices().nth(MAX_VALUE_CHARS) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_string(),
    }
}

fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl Event {
    /// The message: its JSON body, a subject for email subscribers and
    /// attributes for subscription filter policies.
    pub fn message(&self) -> Message {
        let what = match self.event {
            EventType::DriftStarted => "drifted",
            EventType::DriftEnded => "back in sync",
        };
        Message {
            subject: Some(subject(&if self.environment == DEFAULT_ENVIRONMENT {
                format!("driftd: {} {} {what}", self.kind, self.name)
            } else {
                format!(
                    "driftd: [{}] {} {} {what}",
                    self.environment, self.kind, self.name
                )
            })),
            // Serializing plain strings, numbers and enums cannot fail.
            body: serde_json::to_string(self).unwrap_or_default(),
            attributes: BTreeMap::from([
                ("event".to_string(), self.event.as_str().to_string()),
                ("environment".to_string(), self.environment.clone()),
                ("kind".to_string(), self.kind.as_str().to_string()),
                ("mode".to_string(), self.mode.as_str().to_string()),
                ("owner".to_string(), self.owner.clone()),
            ]),
        }
    }
}

/// An SNS subject: printable ASCII, at most 100 characters.
fn subject(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if clean.len() <= 100 {
        clean
    } else {
        format!("{}...", &clean[..97])
    }
}

/// An open episode of one resource.
#[derive(Debug)]
struct Episode {
    id: String,
    started_at: SystemTime,
    action: Planned,
    /// Every field found drifted during the episode, in the order first seen.
    fields: Vec<String>,
}

#[derive(Debug, Default)]
struct Book {
    open: HashMap<Key, Episode>,
    /// Messages waiting to be published, per resource, oldest first.
    outbox: HashMap<Key, VecDeque<Event>>,
}

/// The episodes and their messages; cheap to clone (clones share them).
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    owner: String,
    observer: Option<Arc<dyn EventsObserver>>,
    /// A std `Mutex`: never held across an `.await`.
    book: Mutex<Book>,
    /// The ARN `topic:<name>` resolved to, once known.
    arn: Mutex<Option<String>>,
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

impl Events {
    pub fn new(
        target: Target,
        owner: impl Into<String>,
        observer: Option<Arc<dyn EventsObserver>>,
    ) -> Events {
        Events {
            inner: Arc::new(Inner {
                target,
                owner: owner.into(),
                observer,
                book: Mutex::default(),
                arn: Mutex::default(),
            }),
        }
    }

    pub fn target(&self) -> &Target {
        &self.inner.target
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        // A panic while holding the lock left a consistent-enough book: go on.
        self.inner.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens and closes episodes after these reconciles, queueing their messages.
    pub fn record(&self, reports: &[ResourceReport], now: SystemTime) {
        let mut book = self.book();
        for r in reports {
            let key = Key::of_report(r);
            if r.drifted() {
                if !book.open.contains_key(&key) {
                    let episode = Episode {
                        id: episode_id(),
                        started_at: now,
                        action: r.action,
                        fields: Vec::new(),
                    };
                    let event = self.event(EventType::DriftStarted, r, &episode, now, None);
                    debug!(kind = %r.kind, name = %r.name, episode = %episode.id, "drift episode started");
                    book.open.insert(key.clone(), episode);
                    self.queue(&mut book, &key, event);
                }
                if let Some(episode) = book.open.get_mut(&key) {
                    for c in &r.changes {
                        if !episode.fields.contains(&c.field) {
                            episode.fields.push(c.field.clone());
                        }
                    }
                }
                if r.state == State::Corrected {
                    self.close(&mut book, &key, r, now, Resolution::Corrected);
                }
            } else if r.action == Planned::InSync {
                self.close(&mut book, &key, r, now, Resolution::InSync);
            }
        }
    }

    fn close(
        &self,
        book: &mut Book,
        key: &Key,
        r: &ResourceReport,
        now: SystemTime,
        resolution: Resolution,
    ) {
        let Some(episode) = book.open.remove(key) else {
            return;
        };
        let event = self.event(EventType::DriftEnded, r, &episode, now, Some(resolution));
        debug!(kind = %r.kind, name = %r.name, episode = %episode.id, ?resolution, "drift episode ended");
        self.queue(book, key, event);
    }

    fn event(
        &self,
        event: EventType,
        r: &ResourceReport,
        episode: &Episode,
        now: SystemTime,
        resolution: Option<Resolution>,
    ) -> Event {
        let mut fields: Vec<Change> = match event {
            EventType::DriftStarted => r.changes.iter().map(|c| event_field(r.kind, c)).collect(),
            EventType::DriftEnded => {
                let mut names = episode.fields.clone();
                for c in &r.changes {
                    if !names.contains(&c.field) {
                        names.push(c.field.clone());
                    }
                }
                names
                    .iter()
                    .map(|f| Change::new(f.clone(), None, None))
                    .collect()
            }
        };
        let fields_omitted = fields.len().saturating_sub(MAX_FIELDS);
        fields.truncate(MAX_FIELDS);
        Event {
            version: EVENTS_VERSION,
            event,
            episode: episode.id.clone(),
            environment: r.environment.clone(),
            kind: r.kind,
            name: r.name.clone(),
            mode: r.mode,
            owner: self.inner.owner.clone(),
            action: episode.action,
            state: r.state,
            fields,
            fields_omitted,
            started_at: time(episode.started_at),
            detected_at: time(now),
            ended_at: (event == EventType::DriftEnded).then(|| time(now)),
            resolution,
        }
    }

    fn queue(&self, book: &mut Book, key: &Key, event: Event) {
        let queue = book.outbox.entry(key.clone()).or_default();
        queue.push_back(event);
        while queue.len() > MAX_QUEUED {
            if let Some(lost) = queue.pop_front() {
                warn!(kind = %key.kind, name = %key.name, event = lost.event.as_str(), "drift event dropped: too many waiting to be published");
                self.failed();
            }
        }
    }

    /// Forgets a resource that left the desired state: its open episode
    /// ends without a message (it is no longer managed), and what waited to
    /// be published about it is dropped.
    pub fn forget(&self, key: &Key) {
        let mut book = self.book();
        book.open.remove(key);
        book.outbox.remove(key);
    }

    /// Publishes what waits for these resources, in order per resource. The
    /// caller reconciles them, so no one else publishes for them meanwhile.
    pub async fn publish(&self, aws: &Aws, refs: &Refs, keys: &[Key]) {
        let waiting: Vec<Key> = {
            let book = self.book();
            keys.iter()
                .filter(|k| book.outbox.get(*k).is_some_and(|q| !q.is_empty()))
                .cloned()
                .collect()
        };
        if waiting.is_empty() {
            return;
        }
        let arn = match self.resolve(aws, refs).await {
            Ok(arn) => arn,
            Err(e) => {
                warn!(topic = %self.inner.target, error = %e, waiting = waiting.len(), "cannot publish drift events: they are tried again at the next reconcile");
                for _ in &waiting {
                    self.failed();
                }
                return;
            }
        };
        stream::iter(waiting)
            .for_each_concurrent(PUBLISHES_IN_FLIGHT, |key| {
                let arn = arn.as_str();
                async move { self.publish_queue(aws, arn, &key).await }
            })
            .await;
    }

    /// Publishes the queue of one resource until it is empty or a publish fails.
    async fn publish_queue(&self, aws: &Aws, arn: &str, key: &Key) {
        loop {
            let next = self
                .book()
                .outbox
                .get_mut(key)
                .and_then(VecDeque::pop_front);
            let Some(event) = next else {
                self.book().outbox.remove(key);
                return;
            };
            match aws.sns.publish(arn, &event.message()).await {
                Ok(id) => {
                    info!(kind = %key.kind, name = %key.name, event = event.event.as_str(), episode = %event.episode, message_id = id.as_deref().unwrap_or(""), "drift event published");
                    if let Some(o) = &self.inner.observer {
                        o.published(event.event);
                    }
                }
                Err(e) => {
                    warn!(kind = %key.kind, name = %key.name, event = event.event.as_str(), error = %e, "drift event not published: tried again at the next reconcile");
                    self.failed();
                    self.book()
                        .outbox
                        .entry(key.clone())
                        .or_default()
                        .push_front(event);
                    return;
                }
            }
        }
    }

    fn failed(&self) {
        if let Some(o) = &self.inner.observer {
            o.publish_failed();
        }
    }

    /// The topic's ARN: as given, or the ARN of the Topic `topic:<name>`
    /// names — known from the pass when the Topic was reconciled, otherwise
    /// looked up once by name (a batch that runs before the Topic's).
    async fn resolve(&self, aws: &Aws, refs: &Refs) -> Result<String, kinds::Error> {
        let name = match &self.inner.target {
            Target::Arn(arn) => return Ok(arn.clone()),
            Target::Topic(name) => name,
        };
        let cached = || self.inner.arn.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(arn) = refs.topic_arns.get(name) {
            *cached() = Some(arn.clone());
            return Ok(arn.clone());
        }
        let known = cached().clone();
        if let Some(arn) = known {
            return Ok(arn);
        }
        let found = aws.sns.topic_arns(&BTreeSet::from([name.clone()])).await?;
        match found.get(name) {
            Some(arn) => {
                *cached() = Some(arn.clone());
                Ok(arn.clone())
            }
            None => Err(kinds::Error::DanglingReference(format!(
                "no SNS topic named {name:?}"
            ))),
        }
    }

    /// Messages waiting to be published, for tests and diagnostics.
    pub fn waiting(&self) -> usize {
        self.book().outbox.values().map(VecDeque::len).sum()
    }
}

/// 16 random hex digits.
fn episode_id() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::aws::fake::FakeAws;
    use crate::aws::ErrorClass;
    use crate::engine::{Reason, ResourceError};

    fn report(kind: Kind, name: &str, action: Planned, state: State) -> ResourceReport {
        ResourceReport {
            mode: Mode::Observe,
            changes: match action {
                Planned::InSync => Vec::new(),
                _ => vec![Change::new(
                    "threshold",
                    Some("90".into()),
                    Some("85".into()),
                )],
            },
            error: (state == State::Error).then(|| ResourceError {
                reason: Reason::Throttled,
                message: "Rate exceeded".into(),
                retryable: true,
            }),
            ..ResourceReport::test(kind, name, action, state)
        }
    }

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn events() -> (FakeAws, Events) {
        let fake = FakeAws::new();
        fake.put_topic("events", &[], &[]);
        (
            fake,
            Events::new(Target::Topic("events".into()), "driftd", None),
        )
    }

    fn published(fake: &FakeAws) -> Vec<serde_json::Value> {
        fake.state
            .lock()
            .unwrap()
            .sns
            .published
            .iter()
            .map(|(_, m)| serde_json::from_str(&m.body).unwrap())
            .collect()
    }

    /// Asserts each field of `expected` (an object) in a published event.
    fn assert_fields(event: &serde_json::Value, expected: serde_json::Value) {
        for (field, value) in expected.as_object().expect("an object") {
            assert_eq!(&event[field], value, "{field} of {event:#}");
        }
    }

    async fn pass(fake: &FakeAws, events: &Events, reports: &[ResourceReport], at: u64) {
        events.record(reports, t(at));
        let keys: Vec<Key> = reports.iter().map(Key::of_report).collect();
        events.publish(&fake.aws(), &Refs::default(), &keys).await;
    }

    #[test]
    fn targets_are_arns_or_topic_references() {
        assert_eq!(
            "topic:events".parse::<Target>(),
            Ok(Target::Topic("events".into()))
        );
        let arn = "arn:aws:sns:eu-west-1:123456789012:drift";
        assert_eq!(arn.parse::<Target>(), Ok(Target::Arn(arn.into())));
        for bad in [
            "events",
            "topic:",
            "topic:a:b",
            "arn:aws:sqs:eu-west-1:123456789012:q",
            "arn:aws:sns:eu-west-1::drift",
        ] {
            assert!(bad.parse::<Target>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn one_message_per_episode_however_many_passes_it_lasts() {
        let (fake, events) = events();
        let drifted = report(Kind::Alarm, "cpu", Planned::Update, State::Drifted);
        for at in 1..=3 {
            pass(&fake, &events, std::slice::from_ref(&drifted), at).await;
        }
        let sent = published(&fake);
        assert_eq!(sent.len(), 1, "{sent:#?}");
        assert_fields(
            &sent[0],
            serde_json::json!({
                "event": "drift_started", "version": 1, "kind": "Alarm", "name": "cpu",
                "mode": "observe", "owner": "driftd", "action": "update", "state": "drifted",
                "fields": [{"field": "threshold", "from": "90", "to": "85"}],
                "started_at": "1970-01-01T00:00:01.000Z", "ended_at": null
            }),
        );
        // An error in between neither ends nor restarts the episode.
        let failed = report(Kind::Alarm, "cpu", Planned::Error, State::Error);
        pass(&fake, &events, &[failed], 4).await;
        let in_sync = report(Kind::Alarm, "cpu", Planned::InSync, State::InSync);
        pass(&fake, &events, std::slice::from_ref(&in_sync), 5).await;
        pass(&fake, &events, &[in_sync], 6).await;
        let sent = published(&fake);
        assert_eq!(sent.len(), 2, "{sent:#?}");
        assert_fields(
            &sent[1],
            serde_json::json!({
                "event": "drift_ended", "episode": sent[0]["episode"], "resolution": "in_sync",
                "state": "in_sync", "started_at": "1970-01-01T00:00:01.000Z",
                "ended_at": "1970-01-01T00:00:05.000Z"
            }),
        );
        assert_eq!(
            sent[1]["fields"],
            serde_json::json!([{"field": "threshold"}])
        );
        // The next drift is a new episode.
        pass(&fake, &events, &[drifted], 7).await;
        let sent = published(&fake);
        assert_eq!(sent.len(), 3);
        assert_ne!(sent[2]["episode"], sent[0]["episode"]);
    }

    #[tokio::test]
    async fn a_correction_starts_and_ends_an_episode_at_once() {
        let (fake, events) = events();
        let mut corrected = report(Kind::Alarm, "cpu", Planned::Update, State::Corrected);
        corrected.mode = Mode::Enforce;
        pass(&fake, &events, &[corrected], 1).await;
        let sent = published(&fake);
        let types: Vec<&str> = sent.iter().map(|m| m["event"].as_str().unwrap()).collect();
        assert_eq!(types, ["drift_started", "drift_ended"]);
        assert_eq!(sent[1]["resolution"], "corrected");
        assert_eq!(sent[1]["state"], "corrected");
        let (_, message) = fake.state.lock().unwrap().sns.published[0].clone();
        assert_eq!(
            message.subject.as_deref(),
            Some("driftd: Alarm cpu drifted")
        );
        assert_eq!(message.attributes["event"], "drift_started");
        assert_eq!(message.attributes["kind"], "Alarm");
    }

    #[tokio::test]
    async fn a_secret_event_names_fields_and_holds_no_value() {
        let (fake, events) = events();
        let mut r = report(Kind::Secret, "app", Planned::Update, State::Drifted);
        r.changes = vec![
            Change::sensitive("value"),
            Change::new(
                "description",
                Some("old words".into()),
                Some("new words".into()),
            ),
        ];
        pass(&fake, &events, &[r], 1).await;
        let sent = published(&fake);
        assert_eq!(
            sent[0]["fields"],
            serde_json::json!([{"field": "value", "sensitive": true}, {"field": "description"}])
        );
        let body = &fake.state.lock().unwrap().sns.published[0].1.body;
        assert!(!body.contains("words"), "{body}");
    }

    #[tokio::test]
    async fn a_failed_publish_is_tried_again_at_the_next_reconcile_in_order() {
        #[derive(Default)]
        struct Counts(Mutex<(usize, usize)>);
        impl EventsObserver for Counts {
            fn published(&self, _: EventType) {
                self.0.lock().unwrap().0 += 1;
            }
            fn publish_failed(&self) {
                self.0.lock().unwrap().1 += 1;
            }
        }
        let fake = FakeAws::new();
        fake.put_topic("events", &[], &[]);
        let counts = Arc::new(Counts::default());
        let events = Events::new(
            Target::Topic("events".into()),
            "driftd",
            Some(counts.clone()),
        );
        fake.state.lock().unwrap().sns.failing_publish = Some(ErrorClass::Throttling);
        let drifted = report(Kind::Alarm, "cpu", Planned::Update, State::Drifted);
        pass(&fake, &events, &[drifted], 1).await;
        let in_sync = report(Kind::Alarm, "cpu", Planned::InSync, State::InSync);
        pass(&fake, &events, std::slice::from_ref(&in_sync), 2).await;
        assert!(published(&fake).is_empty());
        assert_eq!(events.waiting(), 2);
        assert_eq!(*counts.0.lock().unwrap(), (0, 2));
        fake.state.lock().unwrap().sns.failing_publish = None;
        pass(&fake, &events, &[in_sync], 3).await;
        let sent = published(&fake);
        let types: Vec<&str> = sent.iter().map(|m| m["event"].as_str().unwrap()).collect();
        assert_eq!(types, ["drift_started", "drift_ended"]);
        assert_eq!(
            sent[0]["started_at"], "1970-01-01T00:00:01.000Z",
            "times of detection, not of sending"
        );
        assert_eq!(sent[1]["ended_at"], "1970-01-01T00:00:02.000Z");
        assert_eq!(*counts.0.lock().unwrap(), (2, 2));
        assert_eq!(events.waiting(), 0);
    }

    #[tokio::test]
    async fn a_topic_reference_resolves_through_the_pass_or_by_name() {
        let fake = FakeAws::new();
        let events = Events::new(Target::Topic("events".into()), "driftd", None);
        let drifted = report(Kind::Alarm, "cpu", Planned::Update, State::Drifted);
        let key = [Key::new("default", Kind::Alarm, "cpu")];
        events.record(&[drifted], t(1));
        // No such topic yet: kept for later.
        events.publish(&fake.aws(), &Refs::default(), &key).await;
        assert_eq!(events.waiting(), 1);
        let arn = fake.put_topic("events", &[], &[]);
        events.publish(&fake.aws(), &Refs::default(), &key).await;
        assert_eq!(events.waiting(), 0);
        assert_eq!(fake.state.lock().unwrap().sns.published[0].0, arn);
        // The ARN the pass knows wins over a name lookup.
        let mut refs = Refs::default();
        refs.topic_arns.insert("events".into(), arn.clone());
        let other = report(Kind::Alarm, "mem", Planned::Update, State::Drifted);
        events.record(&[other], t(2));
        events
            .publish(
                &fake.aws(),
                &refs,
                &[Key::new("default", Kind::Alarm, "mem")],
            )
            .await;
        assert_eq!(fake.state.lock().unwrap().sns.published.len(), 2);
    }

    #[test]
    fn long_values_and_subjects_are_cut() {
        let long = "x".repeat(1000);
        let field = event_field(
            Kind::Dashboard,
            &Change::new("body", Some(long.clone()), None),
        );
        assert_eq!(
            field.from.as_ref().unwrap().chars().count(),
            MAX_VALUE_CHARS + 1
        );
        let s = subject(&format!("driftd: Alarm {long} drifted"));
        assert_eq!(s.len(), 100);
        assert_eq!(
            subject("driftd: Alarm café drifted"),
            "driftd: Alarm caf? drifted"
        );
    }

    #[tokio::test]
    async fn passes_of_unchanged_observed_drift_publish_one_message() {
        use crate::engine::{reconcile, Guards, PassOptions};
        use crate::kinds::{alarm, Resource, Spec};

        let (fake, events) = events();
        let spec = alarm::Spec::test().threshold(5.0).alarm_actions(&[]);
        let resource = Resource::test("cpu", Spec::Alarm(spec));
        let opts = |mode| PassOptions {
            guards: Guards {
                convergence: Default::default(),
                events: Some(events.clone()),
                tags: Default::default(),
                progress: Default::default(),
            },
            ..PassOptions::test(true, mode)
        };
        let once = |mode| {
            let opts = opts(mode);
            let fake = fake.clone();
            let resource = resource.clone();
            async move { reconcile(&fake.aws(), &[&resource], &mut Refs::default(), &opts).await }
        };
        for _ in 0..3 {
            let report = once(Mode::Observe).await;
            assert_eq!(report.resources[0].state, State::Drifted);
        }
        let sent = published(&fake);
        assert_eq!(sent.len(), 1, "{sent:#?}");
        assert_eq!(sent[0]["event"], "drift_started");
        assert_eq!(sent[0]["action"], "create");
        // Enforced: created, read back in sync, the episode ends.
        assert_eq!(
            once(Mode::Enforce).await.resources[0].state,
            State::Corrected
        );
        once(Mode::Enforce).await;
        let sent = published(&fake);
        assert_eq!(sent.len(), 2, "{sent:#?}");
        assert_eq!(sent[1]["event"], "drift_ended");
        assert_eq!(sent[1]["resolution"], "corrected");
        assert_eq!(sent[1]["mode"], "enforce");
        assert_eq!(sent[1]["episode"], sent[0]["episode"]);
    }
}
