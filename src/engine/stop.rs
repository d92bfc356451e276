//! The one signal every step of a pass checks before it writes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Raised once when the process is stopping; from then on no new AWS write
/// starts (writes in flight finish), and drifted resources stay as they are.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
