//! Application Auto Scaling: scalable targets of ECS services.

use async_trait::async_trait;

#[allow(unused_imports)] // used by the operations below as they are added
use super::{Error, SdkResultExt};

#[allow(dead_code)] // used by the operations below as they are added
const SERVICE: &str = "autoscaling";

#[async_trait]
pub trait AutoScaling: Send + Sync {}

pub struct SdkAutoScaling {
    #[allow(dead_code)] // used by the operations below as they are added
    client: aws_sdk_applicationautoscaling::Client,
}

impl SdkAutoScaling {
    pub fn new(config: &aws_config::SdkConfig) -> SdkAutoScaling {
        SdkAutoScaling {
            client: aws_sdk_applicationautoscaling::Client::new(config),
        }
    }
}

#[async_trait]
impl AutoScaling for SdkAutoScaling {}

/// This service's part of the in-memory fake (see [`super::fake`]).
#[derive(Debug, Default)]
pub struct FakeState {}

#[async_trait]
impl AutoScaling for super::fake::FakeAws {}
