//! Pruning: find what this driftd owns that the desired state no longer
//! declares, report it as orphaned, and — with `--prune`, when every guard
//! allows it — delete it.
//!
//! The guards of contract sections 2 and 6, each decided in one place:
//! * ownership ([`orphans_of_tagged`], [`orphans_of_dashboards`]): only a
//!   resource whose `driftd:owner` tag names this owner is a candidate (a
//!   dashboard without the tag: whose body marker from before the tag was
//!   the proof does, see docs/dashboard-ownership.md), and a dashboard's tags
//!   are read again right before it is deleted. A resource of another owner,
//!   or of none, is never touched;
//! * a desired state that failed to load prunes nothing ([`Validity`]);
//! * a pass that would delete more than `--max-prune` resources deletes none;
//! * a Topic still named in the actions of an alarm that stays is not pruned;
//! * ECS services are never pruned: driftd owns their counts, not them.
//!
//! Finding orphans costs no call per resource: one `GetResources` walk with a
//! tag filter (100 resources a page) for alarms and topics, one `ListSecrets`
//! walk with a tag filter (100 a page, scheduled deletions left out), one
//! `ListDashboards` walk whose bodies and tags come from the process-wide
//! memory (read again only for dashboards whose version moved), and,
//! only when a Topic is to be pruned, one `DescribeAlarms` walk (100 alarms a
//! page) for the references to it.
//!
//! A secret is deleted with the recovery window its spec had, remembered in
//! the tag `driftd:recovery-window-days` when driftd created or adopted it.
//!
//! Subscriptions a Topic's file does not name are pruned by the Topic kind
//! itself, in the pass (`Ctx::prune`); they are part of a declared resource
//! and do not count against `--max-prune`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use tracing::{info, warn};

use super::pass::PassOptions;
use super::report::{
    ListingError, PassReport, Planned, PruneProblems, Reason, Refusal, ResourceError,
    ResourceReport, State,
};
use crate::aws::cloudwatch::{AlarmActions, NAMES_PER_CALL};
use crate::aws::secretsmanager::SecretInfo;
use crate::aws::tagging::TaggedResource;
use crate::aws::Aws;
use crate::desired::DesiredState;
use crate::kinds::secret::{DEFAULT_RECOVERY_WINDOW_DAYS, RECOVERY_WINDOW_TAG};
use crate::kinds::{dashboard, Kind, Mode, Spec, OWNER_TAG};

/// The resource types the tagging API is asked for. Secrets are listed by
/// `ListSecrets` (which leaves scheduled deletions out), dashboards by their
/// marker, and ECS services never: driftd owns their counts, not them.
const TAGGED_TYPES: &[&str] = &["cloudwatch:alarm", "sns:topic"];

/// Whether the desired state a pass enforces is what the files say now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// The files loaded: what they do not declare may be pruned.
    Valid,
    /// The files failed to load and the daemon enforces the last valid state:
    /// orphans are reported, nothing is deleted.
    Invalid,
    /// The files loaded but declare nothing, and `--allow-empty` was not
    /// given: almost always a broken checkout or an empty mount, so nothing
    /// is deleted (the rule of Argo CD's `allowEmpty`).
    Empty,
}

impl Validity {
    /// The validity of a desired state that loaded (`loaded`) or failed to
    /// and is replaced by the last valid one.
    pub fn of(state: &DesiredState, loaded: bool, allow_empty: bool) -> Validity {
        if !loaded {
            Validity::Invalid
        } else if state.resources.is_empty() && !allow_empty {
            Validity::Empty
        } else {
            Validity::Valid
        }
    }
}

/// What the prune step found and did.
#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    /// One report per orphan: action `Delete` (pruning) or `Orphaned`; state
    /// `Corrected` once deleted, `Orphaned` while it stays, `Error` when its
    /// deletion failed.
    pub resources: Vec<ResourceReport>,
    pub problems: PruneProblems,
}

impl PassReport {
    /// Adds what the prune step found to this pass's report.
    pub fn add_prune(&mut self, prune: PruneReport) {
        self.resources.extend(prune.resources);
        self.prune.extend(prune.problems);
    }
}

/// A resource this driftd owns that the desired state does not declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub kind: Kind,
    pub name: String,
    pub target: Target,
    /// Facts the plan shows (e.g. a secret's recovery window).
    pub notes: Vec<String>,
}

/// How an orphan is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// By name, in `DeleteAlarms` batches.
    Alarm,
    /// `DeleteTopic`, which removes its subscriptions too.
    Topic { arn: String },
    /// `DeleteDashboards`.
    Dashboard,
    /// `DeleteSecret` with this recovery window (0: at once, without recovery).
    Secret {
        arn: String,
        recovery_window_days: i64,
    },
}

/// What the guards decided for one orphan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Deleted in this pass; a Topic only once these orphan alarms, which
    /// name it, are deleted.
    Delete { after_alarms: Vec<String> },
    /// Left in place, for this reason.
    Keep { note: String },
}

/// The prune step of one pass: lists what this driftd owns, reports each
/// owned resource the desired state does not declare, and — with
/// `opts.prune`, `opts.apply`, the global mode `enforce`, and no guard
/// refusing — deletes them.
///
/// Called after the pass has reconciled `desired`, so that alarms corrected
/// in the pass no longer hold references to the topics being pruned.
/// `validity` says whether `desired` is what the files say now; the daemon,
/// which keeps enforcing the last valid state while the files are broken,
/// passes [`Validity::Invalid`] then, and nothing is deleted.
pub async fn prune(
    aws: &Aws,
    environment: &str,
    desired: &DesiredState,
    validity: Validity,
    opts: &PassOptions,
) -> PruneReport {
    let declared = Declared::of(desired);
    let mut problems = PruneProblems::default();

    // The three listings are independent: one round trip's wait for all.
    let dashboards = declared.names(Kind::Dashboard);
    let (tagged, secrets, observed) = futures::join!(
        aws.tagging.tagged(OWNER_TAG, &opts.owner, TAGGED_TYPES),
        aws.secretsmanager.tagged_secrets(OWNER_TAG, &opts.owner),
        dashboard::observe_undeclared(aws, &dashboards),
    );
    // A listing that failed leaves its kinds alone in this pass.
    let listings = [
        (
            "alarms and topics",
            &[Kind::Alarm, Kind::Topic][..],
            tagged
                .map(|tagged| orphans_of_tagged(&tagged, &declared, &opts.owner))
                .map_err(|e| (e.to_string(), ResourceError::from_aws(&e))),
        ),
        (
            "secrets",
            &[Kind::Secret],
            secrets
                .map(|secrets| orphans_of_secrets(&secrets, &declared, &opts.owner))
                .map_err(|e| (e.to_string(), ResourceError::from_aws(&e))),
        ),
        (
            "dashboards",
            &[Kind::Dashboard],
            observed
                .map(|observed| orphans_of_dashboards(observed, &opts.owner))
                .map_err(|e| (e.to_string(), ResourceError::from_kind(&e))),
        ),
    ];
    let mut orphans = Vec::new();
    for (what, kinds, listed) in listings {
        match listed {
            Ok(found) => orphans.extend(found),
            Err((message, error)) => {
                warn!(error = %message, "cannot list the {what} this driftd owns");
                problems
                    .errors
                    .push(ListingError::new(environment, kinds, error));
            }
        }
    }
    orphans.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));

    // Who still names each orphan topic: only worth a walk over every alarm
    // when a topic may be deleted.
    let mut references = References::default();
    let topics_to_check = opts.prune && orphans.iter().any(|o| o.kind == Kind::Topic);
    if topics_to_check {
        match aws.cloudwatch.alarm_actions().await {
            Ok(live) => references = References::of(desired, opts.mode, &live, !opts.apply),
            Err(e) => {
                warn!(error = %e, "cannot tell which alarms name the topics to prune");
                let error = ResourceError::from_aws(&e);
                problems
                    .errors
                    .push(ListingError::new(environment, &[Kind::Topic], error));
                references.unknown = true;
            }
        }
    }

    let (verdicts, refused) = decide(environment, &orphans, &references, validity, opts);
    if let Some(refusal) = &refused {
        warn!(reason = %refusal.reason, "{}", refusal.message);
    }
    let deleting = opts.apply && opts.mode == Mode::Enforce && refused.is_none();
    let reports = orphans
        .iter()
        .zip(&verdicts)
        .map(|(o, v)| planned(environment, o, v, opts))
        .collect();
    let resources = execute(
        aws,
        orphans,
        reports,
        verdicts,
        refused.as_ref(),
        deleting,
        opts,
    )
    .await;
    problems.refused.extend(refused);
    PruneReport {
        resources,
        problems,
    }
}

/// The names the desired state declares, by kind.
struct Declared<'a> {
    names: HashMap<Kind, HashSet<&'a str>>,
}

impl<'a> Declared<'a> {
    fn of(desired: &'a DesiredState) -> Declared<'a> {
        let mut names: HashMap<Kind, HashSet<&str>> = HashMap::new();
        for r in &desired.resources {
            names.entry(r.kind()).or_default().insert(&r.name);
        }
        Declared { names }
    }

    fn contains(&self, kind: Kind, name: &str) -> bool {
        self.names.get(&kind).is_some_and(|n| n.contains(name))
    }

    fn names(&self, kind: Kind) -> HashSet<&'a str> {
        self.names.get(&kind).cloned().unwrap_or_default()
    }
}

/// The orphans among resources the tagging API found with this owner's tag.
/// The tag is checked again here, on what AWS returned: the filter asked for
/// it, and a resource of another owner must never be taken for ours.
fn orphans_of_tagged(tagged: &[TaggedResource], declared: &Declared, owner: &str) -> Vec<Orphan> {
    tagged
        .iter()
        .filter(|r| r.tags.get(OWNER_TAG).map(String::as_str) == Some(owner))
        .filter_map(|r| {
            let (kind, name) = kind_and_name(&r.arn)?;
            if declared.contains(kind, &name) {
                return None;
            }
            let target = match kind {
                Kind::Alarm => Target::Alarm,
                Kind::Topic => Target::Topic { arn: r.arn.clone() },
                _ => return None,
            };
            Some(Orphan {
                kind,
                name,
                target,
                notes: Vec::new(),
            })
        })
        .collect()
}

/// The orphans among the secrets listed with this owner's tag, each with
/// the recovery window its tag remembers. The owner tag is checked here:
/// `ListSecrets` matches tag keys and values by prefix, and not as pairs.
fn orphans_of_secrets(secrets: &[SecretInfo], declared: &Declared, owner: &str) -> Vec<Orphan> {
    secrets
        .iter()
        .filter(|s| s.tags.get(OWNER_TAG).map(String::as_str) == Some(owner))
        .filter(|s| s.deleted_date.is_none() && !declared.contains(Kind::Secret, &s.name))
        .map(|s| {
            let (days, mut notes) = recovery_window(s.tags.get(RECOVERY_WINDOW_TAG));
            notes.push(match days {
                0 => "deleted at once, without recovery (recoveryWindowDays: 0)".to_string(),
                days => format!("restorable for {days} days after deletion"),
            });
            Orphan {
                kind: Kind::Secret,
                name: s.name.clone(),
                target: Target::Secret {
                    arn: s.arn.clone(),
                    recovery_window_days: days,
                },
                notes,
            }
        })
        .collect()
}

/// The recovery window a secret's tag remembers: 0 or 7 to 30 days. A tag
/// that is absent (a secret tagged before driftd remembered windows) or not
/// one of those values gets AWS's default, the longest window, with a note.
fn recovery_window(tag: Option<&String>) -> (i64, Vec<String>) {
    let Some(text) = tag else {
        return (
            DEFAULT_RECOVERY_WINDOW_DAYS,
            vec![format!(
                "no {RECOVERY_WINDOW_TAG} tag: AWS's default recovery window applies"
            )],
        );
    };
    match text.trim().parse::<i64>() {
        Ok(days) if days == 0 || (7..=30).contains(&days) => (days, Vec::new()),
        _ => (
            DEFAULT_RECOVERY_WINDOW_DAYS,
            vec![format!(
                "{RECOVERY_WINDOW_TAG}={text:?} is not 0 or 7 to 30: AWS's default recovery window applies"
            )],
        ),
    }
}

/// The kind and name of an alarm or topic ARN.
fn kind_and_name(arn: &str) -> Option<(Kind, String)> {
    // arn:partition:service:region:account:resource
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, service, _, _, resource] = parts.as_slice() else {
        return None;
    };
    match *service {
        // Alarm names may hold colons: everything after `alarm:` is the name.
        "cloudwatch" => resource
            .strip_prefix("alarm:")
            .filter(|n| !n.is_empty())
            .map(|n| (Kind::Alarm, n.to_string())),
        // A subscription's ARN is its topic's with `:<id>` appended.
        "sns" if !resource.is_empty() && !resource.contains(':') => {
            Some((Kind::Topic, resource.to_string()))
        }
        _ => None,
    }
}

/// The undeclared dashboards whose owner tag (or, from before the tag was
/// the proof, whose marker) proves this owner's ownership. A
/// dashboard whose body could not be read is not proven owned in this pass.
fn orphans_of_dashboards(
    observed: crate::engine::Observed<dashboard::Live>,
    owner: &str,
) -> Vec<Orphan> {
    observed
        .into_iter()
        .filter_map(|(name, live)| match live {
            Ok(Some(live)) if dashboard::is_owned(&live, owner) => Some(Orphan {
                kind: Kind::Dashboard,
                name,
                target: Target::Dashboard,
                notes: Vec::new(),
            }),
            Ok(_) => None,
            Err(e) => {
                warn!(dashboard = %name, error = %e, "cannot read the dashboard: not pruned in this pass");
                None
            }
        })
        .collect()
}

/// Which alarms name which topic ARNs, among the alarms that stay.
#[derive(Debug, Default)]
struct References {
    /// Topic ARN -> names of the alarms that notify it.
    by_topic: HashMap<String, BTreeSet<String>>,
    /// The alarms could not be read: every topic counts as named.
    unknown: bool,
}

impl References {
    /// From the alarms of the account (`live`) and the declared ones. With
    /// `predict` (a plan), a declared alarm that this pass corrects counts
    /// with the actions it will have, not those it has; after an apply the
    /// live actions are the truth, and a declared alarm not created yet still
    /// counts with its declared ones.
    fn of(desired: &DesiredState, mode: Mode, live: &[AlarmActions], predict: bool) -> References {
        let mut by_topic: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut corrected = HashSet::new();
        for r in &desired.resources {
            let Spec::Alarm(spec) = &r.spec else {
                continue;
            };
            if predict && r.effective_mode(mode) == Mode::Enforce {
                corrected.insert(r.name.as_str());
            }
            // `topic:<name>` names a declared topic, which is never an orphan.
            for arn in spec
                .alarm_actions
                .iter()
                .chain(&spec.ok_actions)
                .chain(&spec.insufficient_data_actions)
                .filter(|a| !a.starts_with("topic:"))
            {
                by_topic
                    .entry(arn.clone())
                    .or_default()
                    .insert(r.name.clone());
            }
        }
        for alarm in live {
            if corrected.contains(alarm.name.as_str()) {
                continue;
            }
            for arn in &alarm.actions {
                by_topic
                    .entry(arn.clone())
                    .or_default()
                    .insert(alarm.name.clone());
            }
        }
        References {
            by_topic,
            unknown: false,
        }
    }
}

/// The guards, as a pure function: what happens to each orphan, and whether
/// the whole prune is refused.
fn decide(
    environment: &str,
    orphans: &[Orphan],
    references: &References,
    validity: Validity,
    opts: &PassOptions,
) -> (Vec<Verdict>, Option<Refusal>) {
    if !opts.prune {
        let keep = Verdict::Keep {
            note: "not in the desired state: only --prune deletes it".to_string(),
        };
        return (vec![keep; orphans.len()], None);
    }
    let deleted_alarms: HashSet<&str> = orphans
        .iter()
        .filter(|o| o.kind == Kind::Alarm)
        .map(|o| o.name.as_str())
        .collect();
    let mut verdicts: Vec<Verdict> = orphans
        .iter()
        .map(|o| match &o.target {
            Target::Topic { .. } if references.unknown => Verdict::Keep {
                note: "not pruned: the alarms could not be read to check that none names it"
                    .to_string(),
            },
            Target::Topic { arn } => {
                let named_by = references.by_topic.get(arn).cloned().unwrap_or_default();
                let (after, staying): (Vec<String>, Vec<String>) = named_by
                    .into_iter()
                    .partition(|a| deleted_alarms.contains(a.as_str()));
                if staying.is_empty() {
                    Verdict::Delete {
                        after_alarms: after,
                    }
                } else {
                    Verdict::Keep {
                        note: format!(
                            "not pruned: still named in the actions of alarm {}",
                            staying.join(", ")
                        ),
                    }
                }
            }
            _ => Verdict::Delete {
                after_alarms: Vec::new(),
            },
        })
        .collect();

    let would_delete = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Delete { .. }))
        .count();
    let refusal = match validity {
        Validity::Invalid if would_delete > 0 => Some((
            "the desired state failed to load",
            Refusal {
                environment: environment.to_string(),
                reason: Reason::DesiredStateInvalid,
                message: format!(
                "pruning refused: the desired state failed to load; {} kept until it loads again",
                resources(would_delete, "resource is", "resources are")
            ),
                would_delete,
            },
        )),
        Validity::Empty if would_delete > 0 => Some((
            "the desired state is empty",
            Refusal {
                environment: environment.to_string(),
                reason: Reason::DesiredStateEmpty,
                message: format!(
                    "pruning refused: the desired state declares no resources (an empty checkout \
                 or mount?); {} kept (give --allow-empty if deleting everything is intended)",
                    resources(would_delete, "resource is", "resources are")
                ),
                would_delete,
            },
        )),
        _ if would_delete > opts.max_prune => Some((
            "more than --max-prune",
            Refusal {
                environment: environment.to_string(),
                reason: Reason::MaxPrune,
                message: format!(
                    "pruning refused: this pass would delete {}, more than --max-prune {}; \
                 nothing is deleted (if these deletions are intended, raise --max-prune)",
                    resources(would_delete, "resource", "resources"),
                    opts.max_prune
                ),
                would_delete,
            },
        )),
        _ => None,
    };
    let Some((why, refusal)) = refusal else {
        return (verdicts, None);
    };
    for v in &mut verdicts {
        if is_delete(v) {
            *v = Verdict::Keep {
                note: format!("would be deleted, but pruning is refused in this pass ({why})"),
            };
        }
    }
    (verdicts, Some(refusal))
}

fn resources(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Makes the deletions the guards allowed (when `deleting`), and reports
/// every orphan. Alarms go first, in batches, so that a topic they name is
/// deleted only once they are gone.
async fn execute(
    aws: &Aws,
    orphans: Vec<Orphan>,
    mut reports: Vec<ResourceReport>,
    verdicts: Vec<Verdict>,
    refused: Option<&Refusal>,
    deleting: bool,
    opts: &PassOptions,
) -> Vec<ResourceReport> {
    if refused.is_some() || !deleting {
        for r in reports.iter().filter(|r| r.action == Planned::Delete) {
            info!(kind = %r.kind, resource = %r.name, "orphaned: would be deleted");
        }
        return reports;
    }

    // Alarms, in `DeleteAlarms` batches; the outcome of each, by name.
    let alarms: Vec<usize> = (0..orphans.len())
        .filter(|&i| orphans[i].target == Target::Alarm && is_delete(&verdicts[i]))
        .collect();
    let mut alarm_deleted: HashMap<String, bool> = HashMap::new();
    for batch in alarms.chunks(NAMES_PER_CALL) {
        let names: Vec<String> = batch.iter().map(|&i| orphans[i].name.clone()).collect();
        let started = tokio::time::Instant::now();
        let result = aws.cloudwatch.delete_alarms(&names).await;
        let share = started.elapsed() / batch.len().max(1) as u32;
        for &i in batch {
            alarm_deleted.insert(orphans[i].name.clone(), result.is_ok());
            finish(
                &mut reports[i],
                result.clone().map_err(|e| ResourceError::from_aws(&e)),
                share,
            );
        }
    }

    for (i, orphan) in orphans.iter().enumerate() {
        let Verdict::Delete { after_alarms } = &verdicts[i] else {
            continue;
        };
        let started = tokio::time::Instant::now();
        let result = match &orphan.target {
            Target::Alarm => continue,
            Target::Topic { arn } => {
                let failed: Vec<&str> = after_alarms
                    .iter()
                    .filter(|a| alarm_deleted.get(a.as_str()) != Some(&true))
                    .map(String::as_str)
                    .collect();
                if !failed.is_empty() {
                    let r = &mut reports[i];
                    r.state = State::Error;
                    r.error = Some(ResourceError {
                        reason: Reason::NotPruned,
                        message: format!(
                            "Topic {} not deleted: alarm {}, which names it, could not be deleted",
                            orphan.name,
                            failed.join(", ")
                        ),
                        retryable: true,
                    });
                    continue;
                }
                aws.sns.delete_topic(arn).await
            }
            Target::Dashboard => {
                match dashboard::still_owned(aws, &orphan.name, &opts.owner).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let r = &mut reports[i];
                        r.state = State::Error;
                        r.error = Some(ResourceError::new(
                            Reason::NotPruned,
                            format!(
                                "Dashboard {} not deleted: read again right before, it no longer proves it is owned by {}",
                                orphan.name, opts.owner
                            ),
                        ));
                        continue;
                    }
                    Err(e) => {
                        finish(
                            &mut reports[i],
                            Err(ResourceError::from_kind(&e)),
                            started.elapsed(),
                        );
                        continue;
                    }
                }
                let result = aws.dashboards.delete(&orphan.name).await;
                aws.dashboards.bodies().forget(&orphan.name);
                aws.dashboards.tag_memory().seen.forget(&orphan.name);
                result
            }
            Target::Secret {
                arn,
                recovery_window_days,
            } => {
                aws.secretsmanager
                    .delete_secret(arn, *recovery_window_days)
                    .await
            }
        };
        finish(
            &mut reports[i],
            result.map_err(|e| ResourceError::from_aws(&e)),
            started.elapsed(),
        );
    }
    reports
}

fn is_delete(v: &Verdict) -> bool {
    matches!(v, Verdict::Delete { .. })
}

/// The report of an orphan before anything is deleted.
fn planned(
    environment: &str,
    orphan: &Orphan,
    verdict: &Verdict,
    opts: &PassOptions,
) -> ResourceReport {
    let (action, notes) = match verdict {
        Verdict::Delete { after_alarms } => {
            let mut notes = orphan.notes.clone();
            if let Target::Topic { .. } = orphan.target {
                notes.push("deleting a topic deletes its subscriptions".to_string());
            }
            if !after_alarms.is_empty() {
                notes.push(format!(
                    "named by alarm {}, deleted first",
                    after_alarms.join(", ")
                ));
            }
            (Planned::Delete, notes)
        }
        Verdict::Keep { note } => (Planned::Orphaned, vec![note.clone()]),
    };
    ResourceReport {
        environment: environment.to_string(),
        kind: orphan.kind,
        name: orphan.name.clone(),
        mode: opts.mode,
        action,
        state: State::Orphaned,
        changes: Vec::new(),
        notes,
        error: None,
        duration: Duration::ZERO,
    }
}

/// Records how a deletion ended.
fn finish(report: &mut ResourceReport, result: Result<(), ResourceError>, took: Duration) {
    report.duration = took;
    match result {
        Ok(()) => {
            info!(kind = %report.kind, resource = %report.name, "pruned");
            report.state = State::Corrected;
        }
        Err(e) => {
            warn!(kind = %report.kind, resource = %report.name, error = %e.message, "prune failed");
            report.state = State::Error;
            report.error = Some(e);
        }
    }
}

#[cfg(test)]
mod tests;
