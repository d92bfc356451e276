//! Secrets Manager in the in-memory fake: [`FakeState`], what the fake holds
//! of this service, and the service's trait for [`crate::aws::fake::FakeAws`].
//! A child of `aws::secretsmanager` (declared there, test builds only), so it uses that
//! module's private helpers; see [`crate::aws::fake`].

use super::*;
use crate::aws::fake::coded_error;

/// One secret of the fake.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeSecret {
    pub arn: String,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    /// `None`: no current version.
    pub value: Option<SecretValue>,
    pub deleted_date: Option<DateTime>,
}

/// This service's part of the in-memory fake (see [`crate::aws::fake`]). Tags live
/// in the fake's shared ARN -> tags map, where the tagging API sees them too.
#[derive(Debug, Default)]
pub struct FakeState {
    /// By name.
    pub secrets: HashMap<String, FakeSecret>,
    /// Every `GetSecretValue` received, by secret id: reads are not writes,
    /// but tests assert that driftd does not read values it does not need.
    pub value_reads: Vec<String>,
    /// Makes generated passwords distinct.
    generated: u64,
}

impl crate::aws::fake::FakeAws {
    /// Puts a secret into the fake as if someone had created it outside
    /// driftd; returns its ARN.
    pub fn add_secret(&self, name: &str, value: Option<&str>, tags: Tags) -> String {
        let arn = fake_arn(name);
        let mut state = self.state.lock().unwrap();
        state.tags.insert(arn.clone(), tags);
        state.secretsmanager.secrets.insert(
            name.to_string(),
            FakeSecret {
                arn: arn.clone(),
                description: None,
                kms_key_id: None,
                value: value.map(|v| SecretValue::new(v.to_string())),
                deleted_date: None,
            },
        );
        arn
    }

    /// Changes a secret as something outside driftd would (console, rotation).
    pub fn edit_secret(&self, name: &str, edit: impl FnOnce(&mut FakeSecret)) {
        let mut state = self.state.lock().unwrap();
        let secret = state
            .secretsmanager
            .secrets
            .get_mut(name)
            .expect("edit_secret: no such secret in the fake");
        edit(secret);
    }

    /// A secret of the fake, as it stands.
    pub fn secret(&self, name: &str) -> Option<FakeSecret> {
        self.state
            .lock()
            .unwrap()
            .secretsmanager
            .secrets
            .get(name)
            .cloned()
    }

    /// The `GetSecretValue` calls received so far.
    pub fn secret_value_reads(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .secretsmanager
            .value_reads
            .clone()
    }

    /// The fake secret a secret id (name or ARN) names, for a write.
    fn with_secret<T>(
        &self,
        operation: &'static str,
        secret_id: &str,
        f: impl FnOnce(&mut FakeSecret, &mut Tags) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut guard = self.state.lock().unwrap();
        let state = &mut *guard;
        let secret = state
            .secretsmanager
            .secrets
            .values_mut()
            .find(|s| s.arn == secret_id || name_of_arn(&s.arn) == secret_id)
            .ok_or_else(|| not_found(operation))?;
        if secret.deleted_date.is_some() && operation != "TagResource" {
            return Err(marked_deleted(operation));
        }
        let tags = state.tags.entry(secret.arn.clone()).or_default();
        f(secret, tags)
    }
}

fn fake_arn(name: &str) -> String {
    format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf")
}

fn name_of_arn(arn: &str) -> &str {
    arn.rsplit_once(":secret:")
        .and_then(|(_, rest)| rest.rsplit_once('-'))
        .map(|(name, _)| name)
        .unwrap_or(arn)
}

fn not_found(operation: &'static str) -> Error {
    coded_error(
        SERVICE,
        operation,
        ErrorClass::NotFound,
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret.",
    )
}

fn marked_deleted(operation: &'static str) -> Error {
    coded_error(
        SERVICE,
        operation,
        ErrorClass::Validation,
        "InvalidRequestException",
        "You can't perform this operation on the secret because it was marked for deletion.",
    )
}

#[async_trait]
impl SecretsManager for crate::aws::fake::FakeAws {
    async fn describe_secrets(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, SecretInfo>, Error> {
        let state = self.state.lock().unwrap();
        Ok(names
            .iter()
            .filter_map(|name| {
                let s = state.secretsmanager.secrets.get(name)?;
                Some((
                    name.clone(),
                    SecretInfo {
                        arn: s.arn.clone(),
                        name: name.clone(),
                        description: s.description.clone(),
                        kms_key_id: s.kms_key_id.clone(),
                        tags: state.tags.get(&s.arn).cloned().unwrap_or_default(),
                        deleted_date: s.deleted_date,
                    },
                ))
            })
            .collect())
    }

    async fn current_value(&self, secret_id: &str) -> Result<CurrentValue, Error> {
        {
            let mut state = self.state.lock().unwrap();
            state.secretsmanager.value_reads.push(secret_id.to_string());
        }
        // Like the SDK implementation: "not found" reads as "no current value".
        match self.with_secret("GetSecretValue", secret_id, |s, _| {
            Ok(match &s.value {
                Some(v) => CurrentValue::Text(v.clone()),
                None => CurrentValue::Absent,
            })
        }) {
            Err(e) if e.class == ErrorClass::NotFound => Ok(CurrentValue::Absent),
            other => other,
        }
    }

    async fn create_secret(&self, secret: &NewSecret<'_>) -> Result<String, Error> {
        self.record_write(format!("SecretsManager.CreateSecret {}", secret.name));
        let mut state = self.state.lock().unwrap();
        if state.secretsmanager.secrets.contains_key(secret.name) {
            return Err(coded_error(
                SERVICE,
                "CreateSecret",
                ErrorClass::Validation,
                "ResourceExistsException",
                format!(
                    "The operation failed because the secret {} already exists.",
                    secret.name
                ),
            ));
        }
        let arn = fake_arn(secret.name);
        state.tags.insert(arn.clone(), secret.tags.clone());
        state.secretsmanager.secrets.insert(
            secret.name.to_string(),
            FakeSecret {
                arn: arn.clone(),
                description: secret.description.map(str::to_string),
                kms_key_id: secret.kms_key_id.map(str::to_string),
                value: secret.value.cloned(),
                deleted_date: None,
            },
        );
        Ok(arn)
    }

    async fn update_secret(
        &self,
        secret_id: &str,
        description: Option<&str>,
        kms_key_id: Option<&str>,
    ) -> Result<(), Error> {
        self.record_write(format!("SecretsManager.UpdateSecret {secret_id}"));
        self.with_secret("UpdateSecret", secret_id, |s, _| {
            if let Some(d) = description {
                s.description = Some(d.to_string());
            }
            if let Some(k) = kms_key_id {
                s.kms_key_id = Some(k.to_string());
            }
            Ok(())
        })
    }

    async fn put_secret_value(&self, secret_id: &str, value: &SecretValue) -> Result<(), Error> {
        self.record_write(format!("SecretsManager.PutSecretValue {secret_id}"));
        self.with_secret("PutSecretValue", secret_id, |s, _| {
            s.value = Some(value.clone());
            Ok(())
        })
    }

    async fn tag_secret(&self, secret_id: &str, tags: &Tags) -> Result<(), Error> {
        self.record_write(format!("SecretsManager.TagResource {secret_id}"));
        self.with_secret("TagResource", secret_id, |_, live| {
            live.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            Ok(())
        })
    }

    async fn random_password(&self, params: &Generate) -> Result<SecretValue, Error> {
        let mut state = self.state.lock().unwrap();
        state.secretsmanager.generated += 1;
        let n = state.secretsmanager.generated;
        let length = usize::try_from(params.length).unwrap_or(0);
        let password: String = format!("generated{n}x")
            .chars()
            .cycle()
            .take(length)
            .collect();
        Ok(SecretValue::new(password))
    }
    async fn tagged_secrets(&self, key: &str, value: &str) -> Result<Vec<SecretInfo>, Error> {
        let state = self.state.lock().unwrap();
        let mut found: Vec<SecretInfo> = state
            .secretsmanager
            .secrets
            .iter()
            .filter(|(_, s)| s.deleted_date.is_none())
            .filter_map(|(name, s)| {
                let tags = state.tags.get(&s.arn)?;
                (tags.get(key).map(String::as_str) == Some(value)).then(|| SecretInfo {
                    arn: s.arn.clone(),
                    name: name.clone(),
                    description: s.description.clone(),
                    kms_key_id: s.kms_key_id.clone(),
                    tags: tags.clone(),
                    deleted_date: None,
                })
            })
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    async fn delete_secret(&self, secret_id: &str, recovery_window_days: i64) -> Result<(), Error> {
        self.record_write(format!(
            "SecretsManager.DeleteSecret {secret_id} recovery={recovery_window_days}"
        ));
        if recovery_window_days != 0 && !(7..=30).contains(&recovery_window_days) {
            return Err(Error::new(
                SERVICE,
                "DeleteSecret",
                ErrorClass::Validation,
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
            ));
        }
        let mut state = self.state.lock().unwrap();
        let Some(name) = state
            .secretsmanager
            .secrets
            .iter()
            .find(|(name, s)| s.arn == secret_id || name.as_str() == secret_id)
            .map(|(name, _)| name.clone())
        else {
            return Ok(());
        };
        if recovery_window_days == 0 {
            if let Some(s) = state.secretsmanager.secrets.remove(&name) {
                state.tags.remove(&s.arn);
            }
        } else if let Some(s) = state.secretsmanager.secrets.get_mut(&name) {
            if s.deleted_date.is_some() {
                return Err(marked_deleted("DeleteSecret"));
            }
            s.deleted_date = Some(DateTime::from_secs(
                1_700_000_000 + recovery_window_days * 86_400,
            ));
        }
        Ok(())
    }
}
