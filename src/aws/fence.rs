//! Fencing (contract section 7): with leader election, a replica may write
//! to AWS only while its lease is surely its own. An SDK interceptor on
//! every client checks the fence right before each attempt of a write is
//! sent (retries included), so a leader cut off from the lease table stops
//! writing before any other replica can take over; reads are never fenced.

use std::fmt;
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Whether writes may be sent now.
pub trait Fence: Send + Sync {
    fn may_write(&self) -> bool;
}

/// Whether an operation changes AWS: everything but the Describe, List and
/// Get calls (GetRandomPassword included, which changes nothing).
pub fn is_write(operation: &str) -> bool {
    !["Describe", "List", "Get"]
        .iter()
        .any(|read| operation.starts_with(read))
}

/// The error an attempt refused by the fence ends in.
#[derive(Debug, thiserror::Error)]
#[error("{operation} not sent: this replica's lease is not surely its own (fenced)")]
pub struct Fenced {
    pub operation: String,
}

/// The interceptor of one client.
pub struct FenceInterceptor {
    fence: Arc<dyn Fence>,
}

impl FenceInterceptor {
    pub fn new(fence: Arc<dyn Fence>) -> FenceInterceptor {
        FenceInterceptor { fence }
    }
}

impl fmt::Debug for FenceInterceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FenceInterceptor").finish_non_exhaustive()
    }
}

impl Intercept for FenceInterceptor {
    fn name(&self) -> &'static str {
        "driftd::FenceInterceptor"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        if is_write(operation) && !self.fence.may_write() {
            return Err(Box::new(Fenced {
                operation: operation.to_string(),
            }));
        }
        Ok(())
    }
}

/// Whether an error (or one of its sources) is a fenced attempt.
pub fn is_fenced(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<Fenced>() {
            return true;
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_never_fenced_and_every_other_call_is() {
        for read in [
            "DescribeAlarms",
            "ListTopics",
            "GetDashboard",
            "GetSecretValue",
            "GetCallerIdentity",
        ] {
            assert!(!is_write(read), "{read}");
        }
        for write in [
            "PutMetricAlarm",
            "DeleteAlarms",
            "TagResource",
            "CreateTopic",
            "SetTopicAttributes",
            "Subscribe",
            "Unsubscribe",
            "Publish",
            "PutSecretValue",
            "UpdateService",
            "PutDashboard",
        ] {
            assert!(is_write(write), "{write}");
        }
    }
}
