//! Secrets Manager: secrets and their values (values only ever in SecretValue).
//!
//! A pass lists the declared secrets in batches (`ListSecrets` with a `name`
//! filter of up to [`NAMES_PER_CALL`] names, scheduled deletions included),
//! which already carries description, KMS key, tags and `DeletedDate`, so no
//! per-secret `DescribeSecret` is needed; or, when that takes fewer calls,
//! the account's whole list (100 a page). Values are read (`GetSecretValue`)
//! only when a spec requires it; the caller decides.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};

use super::pace::{Pace, Paced, Pacer};
use super::Tags;
use super::{Error, ErrorClass};

const SERVICE: &str = "secretsmanager";

/// Parameters of a generated value (Secrets Manager `GetRandomPassword`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Generate {
    #[serde(default = "default_length")]
    pub length: i64,
    #[serde(default)]
    pub exclude_punctuation: bool,
    #[serde(default)]
    pub exclude_numbers: bool,
    #[serde(default)]
    pub exclude_uppercase: bool,
    #[serde(default)]
    pub exclude_lowercase: bool,
    #[serde(default)]
    pub include_space: bool,
    #[serde(default)]
    pub exclude_characters: Option<String>,
}

fn default_length() -> i64 {
    32
}

/// A secret value. `Debug` and `Display` redact it; the only way to the text
/// is [`SecretValue::expose`], called where the value goes to AWS or is compared.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: String) -> SecretValue {
        SecretValue(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive)")
    }
}

/// `ListSecrets` accepts at most 10 values per filter.
pub const NAMES_PER_CALL: usize = 10;

/// What `ListSecrets` tells about one secret; never its value.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretInfo {
    pub arn: String,
    pub name: String,
    pub description: Option<String>,
    /// As AWS reports it: absent for the AWS managed key `aws/secretsmanager`.
    pub kms_key_id: Option<String>,
    pub tags: Tags,
    /// Set when the secret is scheduled for deletion (it can still be restored).
    pub deleted_date: Option<DateTime>,
}

/// The current (`AWSCURRENT`) value of a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurrentValue {
    /// The secret has no current version (it was created without a value).
    Absent,
    /// A `SecretString`.
    Text(SecretValue),
    /// A `SecretBinary`: driftd never compares or shows binary values.
    Binary,
}

/// A secret to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSecret<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub kms_key_id: Option<&'a str>,
    pub tags: &'a Tags,
    /// `None` creates the secret without a version.
    pub value: Option<&'a SecretValue>,
}

#[async_trait]
pub trait SecretsManager: Send + Sync {
    /// The secrets with exactly these names, scheduled deletions included. A
    /// name absent from the answer does not exist.
    async fn describe_secrets(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, SecretInfo>, Error>;

    /// The current value of an existing secret (`GetSecretValue`). Needs
    /// `secretsmanager:GetSecretValue`; only called when a spec requires reading.
    async fn current_value(&self, secret_id: &str) -> Result<CurrentValue, Error>;

    /// Creates a secret; returns its ARN.
    async fn create_secret(&self, secret: &NewSecret<'_>) -> Result<String, Error>;

    /// Changes description and/or KMS key (`None` leaves a field as it is).
    async fn update_secret(
        &self,
        secret_id: &str,
        description: Option<&str>,
        kms_key_id: Option<&str>,
    ) -> Result<(), Error>;

    /// Writes a new current version.
    async fn put_secret_value(&self, secret_id: &str, value: &SecretValue) -> Result<(), Error>;

    /// Adds or overwrites these tags; others stay.
    async fn tag_secret(&self, secret_id: &str, tags: &Tags) -> Result<(), Error>;

    /// A random password as `GetRandomPassword` makes it.
    async fn random_password(&self, params: &Generate) -> Result<SecretValue, Error>;

    /// The secrets that carry the tag `key=value`, scheduled deletions left
    /// out: `ListSecrets` filtered by tag key and tag value, 100 a page.
    /// AWS matches both filters by prefix and not as a pair, so the caller
    /// must check each secret's tags itself.
    async fn tagged_secrets(&self, key: &str, value: &str) -> Result<Vec<SecretInfo>, Error>;

    /// Schedules a secret's deletion with a recovery window of
    /// `recovery_window_days` (7 to 30), or deletes it at once, without
    /// recovery, when it is 0.
    async fn delete_secret(&self, secret_id: &str, recovery_window_days: i64) -> Result<(), Error>;
}

/// What a `ListSecrets` entry tells, when it names its secret.
fn info_of(entry: &aws_sdk_secretsmanager::types::SecretListEntry) -> Option<SecretInfo> {
    let (Some(name), Some(arn)) = (entry.name(), entry.arn()) else {
        return None;
    };
    Some(SecretInfo {
        arn: arn.to_string(),
        name: name.to_string(),
        description: entry.description().map(str::to_string),
        kms_key_id: entry
            .kms_key_id()
            .filter(|k| !k.is_empty())
            .map(str::to_string),
        tags: entry
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
        deleted_date: entry.deleted_date().copied(),
    })
}

pub struct SdkSecretsManager {
    client: aws_sdk_secretsmanager::Client,
    pace: Pace,
    /// What the unfiltered `ListSecrets` walk took last time, in pages (0:
    /// never walked): a lower bound when it was given up.
    account_pages: AtomicUsize,
}

impl SdkSecretsManager {
    /// Unpaced: [`super::Aws`] gives its clients the process's pacer.
    pub fn new(config: &aws_config::SdkConfig) -> SdkSecretsManager {
        SdkSecretsManager::from_client(aws_sdk_secretsmanager::Client::new(config))
    }

    /// Over a client configured by the caller (e.g. with an interceptor),
    /// less its SDK retries: its calls are retried at their pace ([`Pace::call`]).
    pub fn from_client(client: aws_sdk_secretsmanager::Client) -> SdkSecretsManager {
        SdkSecretsManager {
            client: without_sdk_retries!(aws_sdk_secretsmanager, client),
            pace: Pace::unpaced(SERVICE),
            account_pages: AtomicUsize::new(0),
        }
    }

    /// Its calls wait for their turn at the process's pacer (see [`super::pace`]).
    pub fn paced(mut self, pacer: &Arc<Pacer>) -> SdkSecretsManager {
        self.pace = Pace::new(pacer, SERVICE);
        self
    }

    /// These secrets out of the account's whole list (`ListSecrets` without
    /// a filter, 100 a page), unless that takes more than `budget` pages.
    async fn out_of_account_list(
        &self,
        names: &[String],
        budget: usize,
    ) -> Result<Option<HashMap<String, SecretInfo>>, Error> {
        let wanted: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        let mut out = HashMap::new();
        let mut token: Option<String> = None;
        for pages in 1..=budget {
            let (infos, next) = self.list_page(None, token.take()).await?;
            for info in infos {
                if wanted.contains(info.name.as_str()) {
                    out.insert(info.name.clone(), info);
                }
            }
            if next.is_none() {
                self.account_pages.store(pages, Ordering::Relaxed);
                return Ok(Some(out));
            }
            token = next;
        }
        self.account_pages.store(budget + 1, Ordering::Relaxed);
        Ok(None)
    }

    /// One page of `ListSecrets` (100 secrets, those scheduled for deletion
    /// too), filtered or not, and the next page's token if there is one.
    async fn list_page(
        &self,
        filter: Option<Filter>,
        token: Option<String>,
    ) -> Result<(Vec<SecretInfo>, Option<String>), Error> {
        let resp = self
            .client
            .list_secrets()
            .set_filters(filter.map(|f| vec![f]))
            .include_planned_deletion(true)
            .max_results(100)
            .set_next_token(token)
            .paced(&self.pace, "ListSecrets", |r| r.send())
            .await?;
        let infos = resp.secret_list().iter().filter_map(info_of).collect();
        let next = resp
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        Ok((infos, next))
    }
}

/// The idempotency token of one write that makes a secret version
/// (`CreateSecret`, `PutSecretValue`), the same in each of its attempts, so
/// that a retry whose first attempt did land makes no second version. The
/// SDK would draw a new one per attempt: it sees each as a call of its own.
/// `UpdateSecret`, which driftd never sends a value with, needs none.
fn request_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

#[async_trait]
impl SecretsManager for SdkSecretsManager {
    /// The account's whole list when that takes fewer calls than the
    /// filtered ones (10 names each): tried within a budget of one page
    /// fewer, and not again while the list took more pages than that.
    async fn describe_secrets(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, SecretInfo>, Error> {
        let filtered_calls = names.len().div_ceil(NAMES_PER_CALL);
        if filtered_calls >= 2 && self.account_pages.load(Ordering::Relaxed) < filtered_calls {
            if let Some(found) = self.out_of_account_list(names, filtered_calls - 1).await? {
                return Ok(found);
            }
        }
        let mut out = HashMap::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let filter = Filter::builder()
                .key(FilterNameStringType::Name)
                .set_values(Some(chunk.to_vec()))
                .build();
            let mut token: Option<String> = None;
            loop {
                let (infos, next) = self.list_page(Some(filter.clone()), token.take()).await?;
                for info in infos {
                    // The `name` filter is a prefix match: `app` also finds `app/db`.
                    if chunk.contains(&info.name) {
                        out.insert(info.name.clone(), info);
                    }
                }
                match next {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    async fn current_value(&self, secret_id: &str) -> Result<CurrentValue, Error> {
        let resp = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .paced(&self.pace, "GetSecretValue", |r| r.send())
            .await;
        match resp {
            Ok(mut out) => Ok(match out.secret_string.take() {
                Some(text) => CurrentValue::Text(SecretValue::new(text)),
                None if out.secret_binary.is_some() => CurrentValue::Binary,
                None => CurrentValue::Absent,
            }),
            // The caller listed the secret a moment ago: "not found" here means
            // it has no AWSCURRENT version (created without a value).
            Err(e) if e.class == ErrorClass::NotFound => Ok(CurrentValue::Absent),
            Err(e) => Err(e),
        }
    }

    async fn create_secret(&self, secret: &NewSecret<'_>) -> Result<String, Error> {
        let resp = self
            .client
            .create_secret()
            .name(secret.name)
            .set_description(secret.description.map(str::to_string))
            .set_kms_key_id(secret.kms_key_id.map(str::to_string))
            .set_tags(Some(sdk_tags(secret.tags)))
            .set_secret_string(secret.value.map(|v| v.expose().to_string()))
            .client_request_token(request_token())
            .paced(&self.pace, "CreateSecret", |r| r.send())
            .await?;
        resp.arn().map(str::to_string).ok_or_else(|| {
            Error::new(
                SERVICE,
                "CreateSecret",
                ErrorClass::Other,
                format!("CreateSecret for {} returned no ARN", secret.name),
            )
        })
    }

    async fn update_secret(
        &self,
        secret_id: &str,
        description: Option<&str>,
        kms_key_id: Option<&str>,
    ) -> Result<(), Error> {
        self.client
            .update_secret()
            .secret_id(secret_id)
            .set_description(description.map(str::to_string))
            .set_kms_key_id(kms_key_id.map(str::to_string))
            .paced(&self.pace, "UpdateSecret", |r| r.send())
            .await?;
        Ok(())
    }

    async fn put_secret_value(&self, secret_id: &str, value: &SecretValue) -> Result<(), Error> {
        self.client
            .put_secret_value()
            .secret_id(secret_id)
            .secret_string(value.expose())
            .client_request_token(request_token())
            .paced(&self.pace, "PutSecretValue", |r| r.send())
            .await?;
        Ok(())
    }

    async fn tag_secret(&self, secret_id: &str, tags: &Tags) -> Result<(), Error> {
        self.client
            .tag_resource()
            .secret_id(secret_id)
            .set_tags(Some(sdk_tags(tags)))
            .paced(&self.pace, "TagResource", |r| r.send())
            .await?;
        Ok(())
    }

    async fn random_password(&self, params: &Generate) -> Result<SecretValue, Error> {
        let mut resp = self
            .client
            .get_random_password()
            .password_length(params.length)
            .exclude_punctuation(params.exclude_punctuation)
            .exclude_numbers(params.exclude_numbers)
            .exclude_uppercase(params.exclude_uppercase)
            .exclude_lowercase(params.exclude_lowercase)
            .include_space(params.include_space)
            .set_exclude_characters(params.exclude_characters.clone())
            .paced(&self.pace, "GetRandomPassword", |r| r.send())
            .await?;
        resp.random_password
            .take()
            .map(SecretValue::new)
            .ok_or_else(|| {
                Error::new(
                    SERVICE,
                    "GetRandomPassword",
                    ErrorClass::Other,
                    "GetRandomPassword returned no password",
                )
            })
    }

    async fn tagged_secrets(&self, key: &str, value: &str) -> Result<Vec<SecretInfo>, Error> {
        let filters = [
            (FilterNameStringType::TagKey, key),
            (FilterNameStringType::TagValue, value),
        ]
        .map(|(k, v)| Filter::builder().key(k).values(v).build());
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resp = self
                .client
                .list_secrets()
                .set_filters(Some(filters.to_vec()))
                .include_planned_deletion(false)
                .max_results(100)
                .set_next_token(token.take())
                .paced(&self.pace, "ListSecrets", |r| r.send())
                .await?;
            out.extend(resp.secret_list().iter().filter_map(info_of));
            match resp.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn delete_secret(&self, secret_id: &str, recovery_window_days: i64) -> Result<(), Error> {
        let request = self.client.delete_secret().secret_id(secret_id);
        let request = if recovery_window_days == 0 {
            request.force_delete_without_recovery(true)
        } else {
            request.recovery_window_in_days(recovery_window_days)
        };
        match request
            .paced(&self.pace, "DeleteSecret", |r| r.send())
            .await
        {
            Ok(_) => Ok(()),
            // Gone already: what pruning wanted.
            Err(e) if e.class == ErrorClass::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The in-memory fake of this service (test builds only).
#[cfg(test)]
#[path = "fake/secretsmanager.rs"]
pub mod fake;
