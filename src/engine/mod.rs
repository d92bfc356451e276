//! Plan and apply a pass over the whole desired state.

pub mod pass;
pub mod prune;
pub mod reconciler;

pub use pass::{reconcile, PassOptions, PassReport, Planned, ResourceReport, State, Summary};
pub use reconciler::{Action, Ctx, Diff, Observed, Reconciler, Refs};
