//! Plan and apply a pass over the whole desired state; the daemon's
//! scheduler, backoff, watch and run loop.

pub mod backoff;
pub mod changes;
pub mod converge;
pub mod daemon;
pub mod events;
pub mod fleet;
pub mod known_tags;
pub mod lease;
pub mod pass;
pub mod progress;
pub mod prune;
pub mod report;
/// The `Reconciler` vocabulary belongs to the kinds; the engine drives it.
pub use crate::kinds::reconciler;
pub mod scheduler;
pub mod status;
mod stop;
pub mod watch;

pub use pass::{reconcile, Guards, PassOptions};
pub use reconciler::{Action, Ctx, Diff, Observed, Reconciler, Refs};
pub use report::{
    ListingError, PassReport, Planned, PruneProblems, Reason, Refusal, ResourceError,
    ResourceReport, State, Summary,
};
pub use stop::StopFlag;
