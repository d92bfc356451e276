//! Plan and apply a pass over the whole desired state; the daemon's
//! scheduler, backoff, watch and run loop.

pub mod backoff;
pub mod converge;
pub mod daemon;
pub mod events;
pub mod pass;
pub mod prune;
/// The `Reconciler` vocabulary belongs to the kinds; the engine drives it.
pub use crate::kinds::reconciler;
pub mod scheduler;
pub mod status;
pub mod watch;

pub use pass::{
    reconcile, Guards, PassOptions, PassReport, Planned, ResourceError, ResourceReport, State,
    StopFlag, Summary,
};
pub use reconciler::{Action, Ctx, Diff, Observed, Reconciler, Refs};
