//! CloudWatch: metric alarms and dashboards.

use async_trait::async_trait;

#[allow(unused_imports)] // used by the operations below as they are added
use super::{Error, SdkResultExt};

#[allow(dead_code)] // used by the operations below as they are added
const SERVICE: &str = "cloudwatch";

#[async_trait]
pub trait CloudWatch: Send + Sync {}

pub struct SdkCloudWatch {
    #[allow(dead_code)] // used by the operations below as they are added
    client: aws_sdk_cloudwatch::Client,
}

impl SdkCloudWatch {
    pub fn new(config: &aws_config::SdkConfig) -> SdkCloudWatch {
        SdkCloudWatch {
            client: aws_sdk_cloudwatch::Client::new(config),
        }
    }
}

#[async_trait]
impl CloudWatch for SdkCloudWatch {}

/// This service's part of the in-memory fake (see [`super::fake`]).
#[derive(Debug, Default)]
pub struct FakeState {}

#[async_trait]
impl CloudWatch for super::fake::FakeAws {}
