//! How a kind fails: an AWS call that failed, or something driftd found
//! itself (a reference to nothing, live state it cannot read, a resource it
//! may not reconcile as it stands). The engine turns each into a metric
//! reason and a retry decision; kinds never dress their own findings up as
//! AWS errors.

use crate::aws;

/// Why a kind could not observe, diff or correct a resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An AWS call failed; its class decides the reason and the retry.
    #[error(transparent)]
    Aws(#[from] aws::Error),
    /// A reference names a resource that does not exist (an alarm action
    /// `topic:<name>` with no such topic).
    #[error("{0}")]
    DanglingReference(String),
    /// A resource driftd only adjusts and never creates does not exist (an
    /// ECS service not found, or INACTIVE).
    #[error("{0}")]
    Missing(String),
    /// AWS answered, but not with something driftd can read (a dashboard
    /// body that is not JSON, an answer that leaves a requested service out).
    #[error("{0}")]
    Unreadable(String),
    /// The resource may not be reconciled as it stands.
    #[error("{message}")]
    Blocked { why: Blocked, message: String },
}

/// What keeps a resource from being reconciled, though nothing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// The spec cannot be turned into a write (what validation cannot see
    /// without the live resource).
    InvalidSpec,
    /// The declared dashboard body cannot be written (e.g. too large once
    /// the notice is added).
    InvalidBody,
    /// A dashboard marked as owned by another driftd (the marker that came
    /// before the owner tag).
    ForeignOwner,
    /// The secret is scheduled for deletion: driftd does not restore it.
    ScheduledForDeletion,
    /// The secret's initial value (`fromEnv`, `fromFile`) cannot be read.
    InitialValueUnavailable,
    /// The secret's value was needed for the diff and not read.
    ValueNotRead,
    /// The ECS service is DRAINING (being deleted): its count is left alone.
    ServiceDraining,
    /// The ECS service has a status other than ACTIVE, DRAINING or INACTIVE.
    UnexpectedStatus,
}

impl Error {
    pub fn blocked(why: Blocked, message: impl Into<String>) -> Error {
        Error::Blocked {
            why,
            message: message.into(),
        }
    }

    /// Whether trying again later may succeed: only AWS's throttling and
    /// transient failures; what driftd found itself stays until something
    /// changes.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Aws(e) => e.class.is_retryable(),
            _ => false,
        }
    }

    /// The AWS error's class, when an AWS call failed.
    pub fn aws_class(&self) -> Option<aws::ErrorClass> {
        match self {
            Error::Aws(e) => Some(e.class),
            _ => None,
        }
    }
}
