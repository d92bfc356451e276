//! Secrets Manager: secrets and their values (values only ever in SecretValue).

use async_trait::async_trait;

#[allow(unused_imports)] // used by the operations below as they are added
use super::{Error, SdkResultExt};

#[allow(dead_code)] // used by the operations below as they are added
const SERVICE: &str = "secretsmanager";

#[async_trait]
pub trait SecretsManager: Send + Sync {}

pub struct SdkSecretsManager {
    #[allow(dead_code)] // used by the operations below as they are added
    client: aws_sdk_secretsmanager::Client,
}

impl SdkSecretsManager {
    pub fn new(config: &aws_config::SdkConfig) -> SdkSecretsManager {
        SdkSecretsManager {
            client: aws_sdk_secretsmanager::Client::new(config),
        }
    }

    /// Over a client configured by the caller (e.g. with an interceptor).
    pub fn from_client(client: aws_sdk_secretsmanager::Client) -> SdkSecretsManager {
        SdkSecretsManager { client }
    }
}

#[async_trait]
impl SecretsManager for SdkSecretsManager {}

/// This service's part of the in-memory fake (see [`super::fake`]).
#[derive(Debug, Default)]
pub struct FakeState {}

#[async_trait]
impl SecretsManager for super::fake::FakeAws {}
