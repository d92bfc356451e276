//! What the daemon knows about every resource and about itself, as served by
//! `/status` and `/readyz`: updated by the run loop, read by the HTTP server.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::progress::{Progress, Snapshot};
use super::report::{PruneProblems, Reason, ResourceReport, State};
use super::scheduler::Key;
use crate::desired::LoadError;
use crate::kinds::{Kind, Mode};

/// Version of the `/status` document; bumped only on incompatible changes.
pub const STATUS_VERSION: u32 = 1;

/// The shared status. A std `RwLock`: it is never held across an `.await`.
#[derive(Debug, Default)]
pub struct StatusStore {
    inner: RwLock<Status>,
    /// The passes under way, shown as `pass_in_progress`.
    progress: Progress,
}

/// The `/status` document.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub version: u32,
    /// `/readyz`: the first full pass has completed.
    pub ready: bool,
    /// This replica may change AWS (always true without `--lease-table`).
    pub leader: bool,
    /// With `--lease-table`: this replica and the one that leads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseStatus>,
    /// Set once shutdown began: nothing new is started.
    pub stopping: bool,
    #[serde(serialize_with = "ser_time")]
    pub last_pass_at: Option<SystemTime>,
    pub last_pass_duration_seconds: Option<f64>,
    pub desired_state: DesiredStatus,
    /// What kept the last prune step from doing its whole job: a refusal
    /// (`max_prune`, `desired_state_invalid`) or kinds it could not list.
    pub prune: PruneProblems,
    /// While a pass runs: its resources, and how many are reconciled so far
    /// (a long first apply shows its progress here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_in_progress: Option<Snapshot>,
    pub resources: Vec<ResourceStatus>,
}

/// The daemon's readiness, for `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub stopping: bool,
    /// The files failed to load (the last valid state, if any, is enforced).
    pub desired_invalid: bool,
}

/// The desired-state files, as last loaded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DesiredStatus {
    pub path: String,
    /// Whether the files last loaded without errors. When false, the last
    /// valid desired state is still enforced and nothing is pruned.
    pub valid: bool,
    /// Resources of the desired state in force (the last valid one).
    pub resources: usize,
    /// When the desired state in force was loaded.
    #[serde(serialize_with = "ser_time")]
    pub loaded_at: Option<SystemTime>,
    /// When the files were last read, valid or not.
    #[serde(serialize_with = "ser_time")]
    pub checked_at: Option<SystemTime>,
    /// The problems of the last load, when it failed.
    pub errors: Vec<LoadErrorStatus>,
}

/// One problem of a failed load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadErrorStatus {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub resource: Option<String>,
    pub field: Option<String>,
    pub message: String,
    /// The whole error as the logs show it: `file:line:column: Kind name: field: message`.
    pub text: String,
}

impl From<&LoadError> for LoadErrorStatus {
    fn from(e: &LoadError) -> LoadErrorStatus {
        LoadErrorStatus {
            file: e.file.display().to_string(),
            line: e.line,
            column: e.column,
            resource: e.resource.clone(),
            field: e.field.clone(),
            message: e.message.clone(),
            text: e.to_string(),
        }
    }
}

/// One resource: declared in the desired state, or found orphaned in AWS.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceStatus {
    pub environment: String,
    pub kind: Kind,
    pub name: String,
    pub mode: Mode,
    /// `in_sync`, `drifted`, `corrected`, `orphaned` or `error`; `null` until
    /// its first reconcile.
    pub state: Option<State>,
    /// The fields that differed at the last reconcile (names only, never
    /// values: a secret's value shows as `value`).
    pub drifted_fields: Vec<String>,
    pub notes: Vec<String>,
    /// The error of the last reconcile, if it failed.
    pub error: Option<ErrorStatus>,
    /// The last error, kept after the resource recovered.
    pub last_error: Option<ErrorStatus>,
    /// Retryable failures in a row, and when the next retry is due.
    pub consecutive_failures: u32,
    #[serde(serialize_with = "ser_time")]
    pub next_retry_at: Option<SystemTime>,
    #[serde(serialize_with = "ser_time")]
    pub last_reconcile_at: Option<SystemTime>,
    /// When `state` last changed.
    #[serde(serialize_with = "ser_time")]
    pub last_transition_at: Option<SystemTime>,
    #[serde(skip)]
    declared: bool,
}

/// How many resources of a kind of an environment are in a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub environment: String,
    pub kind: Kind,
    pub state: State,
    pub resources: usize,
}

/// The leader election as this replica sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseStatus {
    /// The lease table and item (`driftd/<owner>`).
    pub table: String,
    pub id: String,
    /// This replica.
    pub identity: String,
    /// The replica that holds the lease, as last read (`null`: none).
    pub holder: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorStatus {
    pub reason: Reason,
    pub message: String,
    #[serde(serialize_with = "ser_time")]
    pub at: Option<SystemTime>,
}

fn ser_time<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.collect_str(&humantime::format_rfc3339_millis(*t)),
        None => s.serialize_none(),
    }
}

impl ResourceStatus {
    fn declared(key: &Key, mode: Mode) -> ResourceStatus {
        ResourceStatus {
            environment: key.environment.clone(),
            kind: key.kind,
            name: key.name.clone(),
            mode,
            state: None,
            drifted_fields: Vec::new(),
            notes: Vec::new(),
            error: None,
            last_error: None,
            consecutive_failures: 0,
            next_retry_at: None,
            last_reconcile_at: None,
            last_transition_at: None,
            declared: true,
        }
    }

    pub fn key(&self) -> Key {
        Key::new(&self.environment, self.kind, &self.name)
    }

    /// Its place in the list: by environment, kind and name.
    fn cmp_key(&self, key: &Key) -> std::cmp::Ordering {
        (self.environment.as_str(), self.kind, self.name.as_str()).cmp(&(
            key.environment.as_str(),
            key.kind,
            key.name.as_str(),
        ))
    }

    /// Matches its desired state: in sync, or corrected just now.
    pub fn in_sync(&self) -> bool {
        matches!(self.state, Some(State::InSync | State::Corrected))
    }
}

impl StatusStore {
    pub fn new(path: &std::path::Path) -> StatusStore {
        let store = StatusStore::default();
        store.update(|s| {
            s.version = STATUS_VERSION;
            s.leader = true;
            s.desired_state.path = path.display().to_string();
        });
        store
    }

    fn update<T>(&self, f: impl FnOnce(&mut Status) -> T) -> T {
        // A panic while holding the lock left a consistent-enough status: go on.
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    fn read<T>(&self, f: impl FnOnce(&Status) -> T) -> T {
        let guard = self.inner.read().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }

    /// A copy of the whole status, resources ordered by kind and name.
    pub fn snapshot(&self) -> Status {
        let mut status = self.read(Status::clone);
        status.pass_in_progress = self.progress.snapshot();
        status
    }

    /// Where the daemon's passes count their progress, for `/status`.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    pub fn ready(&self) -> bool {
        self.read(|s| s.ready)
    }

    /// A valid desired state was loaded: `declared` are its resources and modes.
    pub fn desired_loaded(&self, declared: &[(Key, Mode)], at: SystemTime) {
        self.update(|s| {
            let d = &mut s.desired_state;
            d.valid = true;
            d.errors.clear();
            d.resources = declared.len();
            d.loaded_at = Some(at);
            d.checked_at = Some(at);
            let mut old: BTreeMap<Key, ResourceStatus> =
                s.resources.drain(..).map(|r| (r.key(), r)).collect();
            let mut resources: Vec<ResourceStatus> = declared
                .iter()
                .map(|(key, mode)| {
                    let mut r = old
                        .remove(key)
                        .unwrap_or_else(|| ResourceStatus::declared(key, *mode));
                    r.declared = true;
                    r.mode = *mode;
                    r
                })
                .collect();
            // Orphans stay until a full pass no longer reports them.
            resources.extend(
                old.into_values()
                    .filter(|r| r.state == Some(State::Orphaned)),
            );
            resources.sort_by_key(ResourceStatus::key);
            s.resources = resources;
        });
    }

    /// The files failed to load: the last valid desired state stays in force.
    pub fn desired_invalid(&self, errors: &[LoadError], at: SystemTime) {
        self.update(|s| {
            s.desired_state.valid = false;
            s.desired_state.checked_at = Some(at);
            s.desired_state.errors = errors.iter().map(LoadErrorStatus::from).collect();
        });
    }

    /// Records the outcome of one reconcile.
    pub fn record(&self, report: &ResourceReport, at: SystemTime) {
        self.update(|s| {
            let key = Key::of_report(report);
            let pos = s.resources.binary_search_by(|r| r.cmp_key(&key));
            let r = match pos {
                Ok(i) => &mut s.resources[i],
                Err(i) => {
                    // Not declared: an orphan found in AWS.
                    let mut r = ResourceStatus::declared(&key, report.mode);
                    r.declared = false;
                    s.resources.insert(i, r);
                    &mut s.resources[i]
                }
            };
            if r.state != Some(report.state) {
                r.state = Some(report.state);
                r.last_transition_at = Some(at);
            }
            r.mode = report.mode;
            r.drifted_fields = report.changes.iter().map(|c| c.field.clone()).collect();
            r.notes = report.notes.clone();
            r.error = report.error.as_ref().map(|e| ErrorStatus {
                reason: e.reason,
                message: e.message.clone(),
                at: Some(at),
            });
            if r.error.is_some() {
                r.last_error = r.error.clone();
            }
            r.last_reconcile_at = Some(at);
        });
    }

    /// Records the retry state of a resource after a reconcile.
    pub fn set_retry(&self, key: &Key, failures: u32, next_retry_at: Option<SystemTime>) {
        self.update(|s| {
            if let Ok(i) = s.resources.binary_search_by(|r| r.cmp_key(key)) {
                s.resources[i].consecutive_failures = failures;
                s.resources[i].next_retry_at = next_retry_at;
            }
        });
    }

    /// What `/readyz` needs, without copying every resource.
    pub fn readiness(&self) -> Readiness {
        self.read(|s| Readiness {
            ready: s.ready,
            stopping: s.stopping,
            desired_invalid: !s.desired_state.valid && s.desired_state.checked_at.is_some(),
        })
    }

    /// The desired-state directory, as given.
    pub fn desired_path(&self) -> String {
        self.read(|s| s.desired_state.path.clone())
    }

    /// Whether the resource is quarantined because its corrections do not converge.
    pub fn flapping(report: &ResourceReport) -> bool {
        report
            .error
            .as_ref()
            .is_some_and(|e| e.reason == Reason::NotConverging)
    }

    /// After a full pass: orphans it did not report again are gone.
    pub fn pass_completed(&self, started: SystemTime, duration: Duration, at: SystemTime) {
        self.update(|s| {
            s.resources
                .retain(|r| r.declared || r.last_reconcile_at.is_some_and(|t| t >= started));
            s.ready = true;
            s.last_pass_at = Some(at);
            s.last_pass_duration_seconds = Some(duration.as_secs_f64());
        });
    }

    /// Records the problems of the prune step that just ended a pass.
    pub fn prune_completed(&self, problems: &PruneProblems) {
        self.update(|s| s.prune = problems.clone());
    }

    /// With `--lease-table`: a follower is ready (it serves, and takes over
    /// when the leader stops); the leader's first pass is done by itself.
    pub fn lease_started(&self, lease: LeaseStatus) {
        self.update(|s| {
            s.leader = false;
            s.ready = true;
            s.lease = Some(lease);
        });
    }

    /// The election's state changed.
    pub fn lease_changed(&self, leader: bool, holder: Option<&str>) {
        self.update(|s| {
            s.leader = leader;
            if let Some(lease) = &mut s.lease {
                lease.holder = holder.map(str::to_string);
            }
        });
    }

    pub fn set_stopping(&self) {
        self.update(|s| s.stopping = true);
    }

    /// Resources by kind and state, for `driftd_resources`.
    pub fn counts(&self) -> Vec<Count> {
        self.read(|s| {
            let mut counts: Vec<Count> = Vec::new();
            for r in &s.resources {
                let Some(state) = r.state else { continue };
                match counts.iter_mut().find(|c| {
                    c.environment == r.environment && c.kind == r.kind && c.state == state
                }) {
                    Some(c) => c.resources += 1,
                    None => counts.push(Count {
                        environment: r.environment.clone(),
                        kind: r.kind,
                        state,
                        resources: 1,
                    }),
                }
            }
            counts
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Planned, Reason, ResourceError};
    use crate::kinds::Change;

    fn report(name: &str, state: State) -> ResourceReport {
        ResourceReport {
            changes: vec![
                Change::sensitive("value"),
                Change::new("description", Some("a".into()), Some("b".into())),
            ],
            error: (state == State::Error).then(|| ResourceError {
                reason: Reason::AccessDenied,
                message: "not allowed".into(),
                retryable: false,
            }),
            ..ResourceReport::test(Kind::Secret, name, Planned::Update, state)
        }
    }

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn status_shows_drifted_field_names_and_never_values() {
        let store = StatusStore::new(std::path::Path::new("desired-state"));
        store.desired_loaded(
            &[(Key::new("default", Kind::Secret, "app"), Mode::Enforce)],
            t(1),
        );
        store.record(&report("app", State::Drifted), t(2));
        let json = serde_json::to_value(store.snapshot()).unwrap();
        let r = &json["resources"][0];
        assert_eq!(r["state"], "drifted");
        assert_eq!(
            r["drifted_fields"],
            serde_json::json!(["value", "description"])
        );
        let text = json.to_string();
        assert!(!text.contains("\"b\""), "{text}");
        assert_eq!(r["last_transition_at"], "1970-01-01T00:00:02.000Z");
    }

    #[test]
    fn transitions_are_timed_and_the_last_error_is_kept() {
        let store = StatusStore::new(std::path::Path::new("d"));
        store.desired_loaded(
            &[(Key::new("default", Kind::Secret, "app"), Mode::Enforce)],
            t(1),
        );
        store.record(&report("app", State::Error), t(2));
        store.record(&report("app", State::Error), t(3));
        let s = store.snapshot();
        assert_eq!(s.resources[0].last_transition_at, Some(t(2)));
        assert_eq!(s.resources[0].last_reconcile_at, Some(t(3)));
        store.record(&report("app", State::InSync), t(4));
        let s = store.snapshot();
        assert_eq!(s.resources[0].last_transition_at, Some(t(4)));
        assert!(s.resources[0].error.is_none());
        assert_eq!(
            s.resources[0].last_error.as_ref().unwrap().reason,
            Reason::AccessDenied
        );
    }

    #[test]
    fn a_resource_that_leaves_the_desired_state_leaves_the_status() {
        let store = StatusStore::new(std::path::Path::new("d"));
        let a = (Key::new("default", Kind::Secret, "a"), Mode::Enforce);
        let b = (Key::new("default", Kind::Secret, "b"), Mode::Observe);
        store.desired_loaded(&[a.clone(), b.clone()], t(1));
        store.record(&report("a", State::InSync), t(2));
        store.desired_loaded(&[b], t(3));
        let s = store.snapshot();
        assert_eq!(s.resources.len(), 1);
        assert_eq!(s.resources[0].name, "b");
        assert_eq!(s.resources[0].mode, Mode::Observe);
        assert_eq!(s.resources[0].state, None);
    }

    #[test]
    fn orphans_last_until_a_pass_no_longer_finds_them() {
        let store = StatusStore::new(std::path::Path::new("d"));
        store.desired_loaded(&[], t(1));
        store.record(&report("old", State::Orphaned), t(2));
        assert_eq!(
            store.counts(),
            [Count {
                environment: "default".into(),
                kind: Kind::Secret,
                state: State::Orphaned,
                resources: 1
            }]
        );
        store.pass_completed(t(1), Duration::from_secs(1), t(3));
        assert_eq!(store.snapshot().resources.len(), 1);
        store.pass_completed(t(5), Duration::from_secs(1), t(6));
        assert!(store.snapshot().resources.is_empty());
        assert!(store.ready());
    }

    #[test]
    fn an_invalid_load_keeps_the_resources_and_lists_the_errors() {
        let store = StatusStore::new(std::path::Path::new("d"));
        store.desired_loaded(
            &[(Key::new("default", Kind::Secret, "a"), Mode::Enforce)],
            t(1),
        );
        let e = LoadError::test(
            "d/a.yaml",
            (3, 5),
            "Secret a",
            "spec.descriptio",
            "unknown field",
        );
        store.desired_invalid(&[e], t(2));
        let s = store.snapshot();
        assert!(!s.desired_state.valid);
        assert_eq!(s.desired_state.resources, 1);
        assert_eq!(s.resources.len(), 1);
        assert_eq!(
            s.desired_state.errors[0].text,
            "d/a.yaml:3:5: Secret a: spec.descriptio: unknown field"
        );
        assert_eq!(s.desired_state.loaded_at, Some(t(1)));
    }
}
