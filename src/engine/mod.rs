//! Plan and apply a pass over the whole desired state.

pub mod reconciler;

pub use reconciler::{Action, Ctx, Diff, Observed, Reconciler, Refs};
