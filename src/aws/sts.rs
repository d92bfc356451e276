//! STS: which account the credentials of an environment act in, for the
//! account guard (`sts:GetCallerIdentity`, which needs no IAM permission).
//!
//! Assumed-role credentials come from aws-config's `AssumeRoleProvider`
//! ([`super::environment_config`]), not from here.

use async_trait::async_trait;

use super::{Error, ErrorClass};

const SERVICE: &str = "sts";

#[async_trait]
pub trait Sts: Send + Sync {
    /// The account id the credentials act in (GetCallerIdentity).
    async fn caller_account(&self) -> Result<String, Error>;
}

/// Unpaced (one call per environment before its first write, far below any
/// quota), and retried by the SDK itself, as credentials are.
pub struct SdkSts {
    client: aws_sdk_sts::Client,
}

impl SdkSts {
    pub fn new(config: &aws_config::SdkConfig) -> SdkSts {
        SdkSts::from_client(aws_sdk_sts::Client::new(config))
    }

    /// Over a client configured by the caller (e.g. with an interceptor).
    pub fn from_client(client: aws_sdk_sts::Client) -> SdkSts {
        SdkSts { client }
    }
}

#[async_trait]
impl Sts for SdkSts {
    async fn caller_account(&self) -> Result<String, Error> {
        let resp = self
            .client
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| Error::from_sdk(SERVICE, "GetCallerIdentity", e))?;
        resp.account().map(str::to_string).ok_or_else(|| {
            Error::new(
                SERVICE,
                "GetCallerIdentity",
                ErrorClass::Other,
                "the answer names no account",
            )
        })
    }
}

/// The in-memory fake of this service (test builds only).
#[cfg(test)]
#[path = "fake/sts.rs"]
pub mod fake;
