//! The engine's vocabulary: what a pass found and did, resource by resource
//! (`Planned`, `State`, `ResourceReport`), the closed set of error reasons
//! that metrics and `/status` carry (`Reason`), and what kept the prune step
//! from its job. A leaf: pass, converge, prune, events and status all speak
//! it, and it imports none of them.

use std::time::Duration;

use serde::Serialize;

use crate::aws::{self, ErrorClass};
use crate::kinds::{self, labels, Blocked, Change, Kind, Mode};

/// Why a resource (or a prune step) ended in error: the `reason` label of
/// `driftd_reconcile_errors_total`, and of `/status` and the JSON plan. A
/// fixed set, so that a label never carries error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// AWS asked driftd to slow down, and the retries ran out.
    Throttled,
    /// A 5xx, a timeout or a connection failure.
    Transient,
    /// The resource, or one it references, does not exist.
    NotFound,
    /// Credentials or IAM policy do not allow the call.
    AccessDenied,
    /// AWS rejected the request as invalid.
    Validation,
    /// Any other AWS failure, or an answer driftd cannot read.
    AwsError,
    /// The resource's `driftd:owner` tag names another driftd.
    ForeignOwner,
    /// Its corrections did not take, several times in a row: quarantined
    /// (section 6 of the contract).
    NotConverging,
    /// A spec that cannot be turned into a write.
    InvalidSpec,
    /// A dashboard body that cannot be written as declared.
    InvalidBody,
    /// A secret scheduled for deletion.
    ScheduledForDeletion,
    /// A secret whose initial value cannot be read.
    InitialValueUnavailable,
    /// A secret value the diff needed was not read.
    ValueNotRead,
    /// An ECS service being deleted.
    ServiceDraining,
    /// An ECS service in a status driftd does not change.
    UnexpectedStatus,
    /// An orphan that no longer proves it is owned, read again right
    /// before its deletion: left alone.
    NotPruned,
    /// The desired state did not load: nothing is deleted.
    DesiredStateInvalid,
    /// The desired state declares nothing and `--allow-empty` was not given.
    DesiredStateEmpty,
    /// The pass would delete more than `--max-prune`.
    MaxPrune,
    /// A reconcile that ended without a result (a task that panicked).
    Internal,
    /// A write not sent because this replica's lease is not surely its own
    /// (it lost or could not renew it: contract section 7).
    NotLeader,
    /// The credentials of the environment act in another account than its
    /// `accountId`: nothing is read or written there.
    AccountMismatch,
}

labels!(Reason {
    Throttled => "throttled",
    Transient => "transient",
    NotFound => "not_found",
    AccessDenied => "access_denied",
    Validation => "validation",
    AwsError => "aws_error",
    ForeignOwner => "foreign_owner",
    NotConverging => "not_converging",
    InvalidSpec => "invalid_spec",
    InvalidBody => "invalid_body",
    ScheduledForDeletion => "scheduled_for_deletion",
    InitialValueUnavailable => "initial_value_unavailable",
    ValueNotRead => "value_not_read",
    ServiceDraining => "service_draining",
    UnexpectedStatus => "unexpected_status",
    NotPruned => "not_pruned",
    DesiredStateInvalid => "desired_state_invalid",
    DesiredStateEmpty => "desired_state_empty",
    MaxPrune => "max_prune",
    Internal => "internal",
    AccountMismatch => "account_mismatch",
    NotLeader => "not_leader",
});

impl From<ErrorClass> for Reason {
    fn from(class: ErrorClass) -> Reason {
        match class {
            ErrorClass::Throttling => Reason::Throttled,
            ErrorClass::Transient => Reason::Transient,
            ErrorClass::NotFound => Reason::NotFound,
            ErrorClass::AccessDenied => Reason::AccessDenied,
            ErrorClass::Validation => Reason::Validation,
            ErrorClass::Other => Reason::AwsError,
            ErrorClass::Fenced => Reason::NotLeader,
        }
    }
}

/// What the plan says about a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Planned {
    InSync,
    Create,
    Update,
    Delete,
    Orphaned,
    Error,
}

impl Planned {
    /// The one-character marker of the text plan.
    pub fn marker(self) -> char {
        match self {
            Planned::InSync => '=',
            Planned::Create => '+',
            Planned::Update => '~',
            Planned::Delete => '-',
            Planned::Orphaned => '?',
            Planned::Error => '!',
        }
    }
}

/// Where a resource stands after a pass (the `state` of `/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    InSync,
    Drifted,
    Corrected,
    Orphaned,
    Error,
}

impl State {
    pub const ALL: [State; 5] = [
        State::InSync,
        State::Drifted,
        State::Corrected,
        State::Orphaned,
        State::Error,
    ];
}

labels!(State {
    InSync => "in_sync",
    Drifted => "drifted",
    Corrected => "corrected",
    Orphaned => "orphaned",
    Error => "error",
});

/// Why a resource is in error: a fixed label for metrics and an operator's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceError {
    pub reason: Reason,
    pub message: String,
    /// Whether trying again later may succeed (throttling, 5xx, timeouts).
    #[serde(skip)]
    pub retryable: bool,
}

impl ResourceError {
    /// An error driftd decided itself: never retried by the backoff.
    pub fn new(reason: Reason, message: impl Into<String>) -> ResourceError {
        ResourceError {
            reason,
            message: message.into(),
            retryable: false,
        }
    }

    pub fn from_aws(e: &aws::Error) -> ResourceError {
        ResourceError {
            reason: Reason::from(e.class),
            message: e.to_string(),
            retryable: e.class.is_retryable(),
        }
    }

    /// How a kind's failure is reported.
    pub fn from_kind(e: &kinds::Error) -> ResourceError {
        let reason = match e {
            kinds::Error::Aws(e) => return ResourceError::from_aws(e),
            // The labels these had when kinds reported them as AWS errors.
            kinds::Error::DanglingReference(_) | kinds::Error::Missing(_) => Reason::NotFound,
            kinds::Error::Unreadable(_) => Reason::AwsError,
            kinds::Error::Blocked { why, .. } => match why {
                Blocked::InvalidSpec => Reason::InvalidSpec,
                Blocked::InvalidBody => Reason::InvalidBody,
                Blocked::ForeignOwner => Reason::ForeignOwner,
                Blocked::ScheduledForDeletion => Reason::ScheduledForDeletion,
                Blocked::InitialValueUnavailable => Reason::InitialValueUnavailable,
                Blocked::ValueNotRead => Reason::ValueNotRead,
                Blocked::ServiceDraining => Reason::ServiceDraining,
                Blocked::UnexpectedStatus => Reason::UnexpectedStatus,
            },
        };
        ResourceError {
            reason,
            message: e.to_string(),
            retryable: e.is_retryable(),
        }
    }
}

/// The outcome of one resource in a pass.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceReport {
    /// The environment the resource is in (`default` without Environment
    /// documents).
    pub environment: String,
    pub kind: Kind,
    pub name: String,
    pub mode: Mode,
    /// What the diff found.
    pub action: Planned,
    /// Where the resource stands now.
    pub state: State,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ResourceError>,
    /// How long observing (its share), diffing and correcting it took.
    #[serde(skip)]
    pub duration: Duration,
}

#[cfg(test)]
impl ResourceReport {
    /// A report of the implicit environment, enforced, with no changes, notes
    /// nor error, that took no time.
    pub fn test(kind: Kind, name: &str, action: Planned, state: State) -> ResourceReport {
        ResourceReport {
            environment: crate::kinds::DEFAULT_ENVIRONMENT.to_string(),
            kind,
            name: name.into(),
            mode: Mode::Enforce,
            action,
            state,
            changes: Vec::new(),
            notes: Vec::new(),
            error: None,
            duration: Duration::ZERO,
        }
    }
}

impl ResourceReport {
    /// Whether AWS differs from the desired state (before any correction).
    pub fn drifted(&self) -> bool {
        matches!(
            self.action,
            Planned::Create | Planned::Update | Planned::Delete
        )
    }
}

/// All resources of one pass, in the order they were reconciled (orphans
/// found by the prune step last).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PassReport {
    pub resources: Vec<ResourceReport>,
    /// What the prune step refused or could not find (see [`super::prune`]).
    #[serde(skip_serializing_if = "PruneProblems::is_empty")]
    pub prune: PruneProblems,
}

/// What kept the prune step from doing its whole job, beyond the orphans
/// it reports one by one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneProblems {
    /// Why nothing was deleted in this pass, per environment where a guard
    /// refused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refusal>,
    /// Kinds whose owned resources could not be listed: their orphans are
    /// neither reported nor deleted in this pass.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ListingError>,
}

impl PruneProblems {
    pub fn is_empty(&self) -> bool {
        self.refused.is_empty() && self.errors.is_empty()
    }

    /// Adds the problems of another environment's prune step.
    pub fn extend(&mut self, other: PruneProblems) {
        self.refused.extend(other.refused);
        self.errors.extend(other.errors);
    }
}

/// Counts of a pass, for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub error: usize,
    pub in_sync: usize,
    pub orphaned: usize,
}

impl PassReport {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in &self.resources {
            match r.action {
                Planned::Create => s.create += 1,
                Planned::Update => s.update += 1,
                Planned::Delete => s.delete += 1,
                Planned::Error => s.error += 1,
                Planned::InSync => s.in_sync += 1,
                Planned::Orphaned => s.orphaned += 1,
            }
            // A correction that failed is an error too, whatever the diff said.
            if r.action != Planned::Error && r.state == State::Error {
                s.error += 1;
            }
        }
        // A refused prune failed to do what `--prune` asked; a listing that
        // failed left orphans unknown.
        s.error += self.prune.errors.len() + self.prune.refused.len();
        s
    }

    /// Whether every resource ended in sync, corrected, or merely observed
    /// (drift left alone because of observe mode): `apply`'s exit 0. Drift
    /// driftd may not correct (a missing required key of a `createOnly`
    /// secret, an extra subscription without `--prune`) is not converged, nor
    /// is a prune step that was refused or could not list what it owns.
    pub fn converged(&self) -> bool {
        self.prune.is_empty()
            && self.resources.iter().all(|r| match r.state {
                State::InSync | State::Corrected | State::Orphaned => true,
                State::Drifted => r.mode == Mode::Observe,
                State::Error => false,
            })
    }

    /// Whether some resource could not be read or reconciled, or the prune
    /// step was refused or could not list what it owns.
    pub fn has_errors(&self) -> bool {
        !self.prune.is_empty() || self.resources.iter().any(|r| r.state == State::Error)
    }

    /// Whether anything differs from the desired state.
    pub fn drift_found(&self) -> bool {
        self.resources.iter().any(ResourceReport::drifted)
    }
}

/// Why a pass deleted nothing although `--prune` was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub environment: String,
    /// `DesiredStateInvalid`, `DesiredStateEmpty` or `MaxPrune`.
    pub reason: Reason,
    pub message: String,
    /// How many resources the pass would have deleted.
    pub would_delete: usize,
}

/// Owned resources of some kinds could not be listed: their orphans are
/// unknown for this pass, and none of them is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListingError {
    pub environment: String,
    pub kinds: Vec<Kind>,
    #[serde(flatten)]
    pub error: ResourceError,
}

impl ListingError {
    pub fn new(environment: &str, kinds: &[Kind], error: ResourceError) -> ListingError {
        ListingError {
            environment: environment.to_string(),
            kinds: kinds.to_vec(),
            error,
        }
    }
}
