//! CloudWatch dashboards (a separate seam from alarms: its own calls, its own ownership story).

use async_trait::async_trait;

#[allow(unused_imports)] // used by the operations below as they are added
use super::{Error, SdkResultExt};

#[allow(dead_code)] // used by the operations below as they are added
const SERVICE: &str = "cloudwatch";

#[async_trait]
pub trait Dashboards: Send + Sync {}

pub struct SdkDashboards {
    #[allow(dead_code)] // used by the operations below as they are added
    client: aws_sdk_cloudwatch::Client,
}

impl SdkDashboards {
    pub fn new(config: &aws_config::SdkConfig) -> SdkDashboards {
        SdkDashboards {
            client: aws_sdk_cloudwatch::Client::new(config),
        }
    }
}

#[async_trait]
impl Dashboards for SdkDashboards {}

/// This service's part of the in-memory fake (see [`super::fake`]).
#[derive(Debug, Default)]
pub struct FakeState {}

#[async_trait]
impl Dashboards for super::fake::FakeAws {}
