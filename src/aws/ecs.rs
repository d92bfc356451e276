//! ECS: services' desired counts (DescribeServices, UpdateService).

use async_trait::async_trait;

#[allow(unused_imports)] // used by the operations below as they are added
use super::{Error, SdkResultExt};

#[allow(dead_code)] // used by the operations below as they are added
const SERVICE: &str = "ecs";

#[async_trait]
pub trait Ecs: Send + Sync {}

pub struct SdkEcs {
    #[allow(dead_code)] // used by the operations below as they are added
    client: aws_sdk_ecs::Client,
}

impl SdkEcs {
    pub fn new(config: &aws_config::SdkConfig) -> SdkEcs {
        SdkEcs {
            client: aws_sdk_ecs::Client::new(config),
        }
    }
}

#[async_trait]
impl Ecs for SdkEcs {}

/// This service's part of the in-memory fake (see [`super::fake`]).
#[derive(Debug, Default)]
pub struct FakeState {}

#[async_trait]
impl Ecs for super::fake::FakeAws {}
