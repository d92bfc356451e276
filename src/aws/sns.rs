//! SNS: topics, their attributes and subscriptions.

use async_trait::async_trait;

#[allow(unused_imports)] // used by the operations below as they are added
use super::{Error, SdkResultExt};

#[allow(dead_code)] // used by the operations below as they are added
const SERVICE: &str = "sns";

#[async_trait]
pub trait Sns: Send + Sync {}

pub struct SdkSns {
    #[allow(dead_code)] // used by the operations below as they are added
    client: aws_sdk_sns::Client,
}

impl SdkSns {
    pub fn new(config: &aws_config::SdkConfig) -> SdkSns {
        SdkSns {
            client: aws_sdk_sns::Client::new(config),
        }
    }
}

#[async_trait]
impl Sns for SdkSns {}

/// This service's part of the in-memory fake (see [`super::fake`]).
#[derive(Debug, Default)]
pub struct FakeState {}

#[async_trait]
impl Sns for super::fake::FakeAws {}
