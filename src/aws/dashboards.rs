//! CloudWatch dashboards (a separate seam from alarms: its own calls, its own ownership story).
//!
//! Besides the calls themselves this module holds the process-wide memory of
//! what was already read: [`BodyCache`] for bodies and [`TagMemory`] for tags.
//! `ListDashboards` reports each dashboard's `LastModified` and `Size`, so a
//! body whose pair has not changed since driftd last read it need not be
//! fetched again, nor its tags (see [`TagMemory`] for how stale they may be).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_cloudwatch::operation::put_dashboard::PutDashboardError;
use aws_smithy_types::DateTime;

use super::pace::{Pace, Paced, Pacer};
use super::Tags;
use super::{Error, ErrorClass};

const SERVICE: &str = "cloudwatch";

/// One row of `ListDashboards`: enough to tell whether a body changed.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardEntry {
    pub name: String,
    pub arn: Option<String>,
    pub last_modified: Option<DateTime>,
    pub size: Option<i64>,
}

impl DashboardEntry {
    /// The (LastModified, Size) pair, when AWS reported both.
    pub fn version(&self) -> Option<Version> {
        Some(Version {
            last_modified: self.last_modified?,
            size: self.size?,
        })
    }
}

/// What identifies one stored version of a dashboard body in `ListDashboards`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Version {
    pub last_modified: DateTime,
    pub size: i64,
}

/// One `DashboardValidationMessage`: a warning on a successful `PutDashboard`,
/// or one reason of a rejected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationMessage {
    /// Where in the body, e.g. `/widgets/0/properties`.
    pub data_path: Option<String>,
    pub message: String,
}

impl fmt::Display for ValidationMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.data_path.as_deref() {
            Some(path) if !path.is_empty() => write!(f, "{path}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl From<&aws_sdk_cloudwatch::types::DashboardValidationMessage> for ValidationMessage {
    fn from(m: &aws_sdk_cloudwatch::types::DashboardValidationMessage) -> ValidationMessage {
        ValidationMessage {
            data_path: m.data_path().map(str::to_string),
            message: m.message().unwrap_or("(no message)").to_string(),
        }
    }
}

/// Adds AWS's per-path validation messages to an error's text, unless AWS
/// already spelled them out in the message itself (real CloudWatch often does).
pub fn with_validation_messages(mut error: Error, messages: &[ValidationMessage]) -> Error {
    let missing: Vec<String> = messages
        .iter()
        .filter(|m| !error.message.contains(&m.message))
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() {
        error.message = format!("{} [{}]", error.message, missing.join("; "));
    }
    error
}

#[async_trait]
pub trait Dashboards: Send + Sync {
    /// Every dashboard whose name starts with `prefix` (all of them with ""),
    /// across all pages.
    async fn list(&self, prefix: &str) -> Result<Vec<DashboardEntry>, Error>;

    /// The body of one dashboard as CloudWatch stores it (JSON text); `None`
    /// when the dashboard does not exist.
    async fn get(&self, name: &str) -> Result<Option<String>, Error>;

    /// Creates or replaces a dashboard. `Ok` carries CloudWatch's warnings
    /// (the dashboard was saved, some widgets may not render); a rejected body
    /// is an `Err` of class [`ErrorClass::Validation`] whose message holds
    /// AWS's validation messages.
    async fn put(&self, name: &str, body: &str) -> Result<Vec<ValidationMessage>, Error>;

    /// Sets these tags on a dashboard ARN (CloudWatch `TagResource`). An
    /// endpoint that cannot tag dashboards answers with an error of class
    /// [`ErrorClass::NotFound`] (moto does; real CloudWatch tags them).
    async fn tag(&self, arn: &str, tags: &Tags) -> Result<(), Error>;

    /// The tags of a dashboard ARN (CloudWatch `ListTagsForResource`).
    async fn tags(&self, arn: &str) -> Result<Tags, Error>;

    /// Deletes one dashboard; a dashboard that is already gone is not an error.
    async fn delete(&self, name: &str) -> Result<(), Error>;

    /// The body cache shared by every pass of this process.
    fn bodies(&self) -> Arc<BodyCache>;

    /// What this process knows of dashboard tags, shared by every pass.
    fn tag_memory(&self) -> Arc<TagMemory>;
}

/// A value read once, with the version of the dashboard it was read at.
#[derive(Debug, Clone)]
struct Cached<T> {
    version: Version,
    value: T,
    fetched_at: Instant,
}

/// Values read per dashboard (bodies, tags), by name, each remembered with
/// the (LastModified, Size) it was read at, so that a pass reads again only
/// the dashboards whose version changed.
///
/// Safe across concurrent passes: the std `Mutex` is only taken for a map
/// lookup or insert and never held across an `.await`. Two passes that miss at
/// once both fetch; each entry is checked against the version it was stored
/// with, so a late insert of an older value is simply a miss next time.
#[derive(Debug)]
pub struct VersionCache<T> {
    entries: Mutex<HashMap<String, Cached<T>>>,
    max_age: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Dashboard bodies already fetched.
pub type BodyCache = VersionCache<Arc<serde_json::Value>>;

/// How often the cache answered, for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

impl<T: Clone> Default for VersionCache<T> {
    fn default() -> VersionCache<T> {
        VersionCache::new(Self::MAX_AGE)
    }
}

impl<T: Clone> VersionCache<T> {
    /// A value is read again after this long even when its version looks
    /// unchanged: `LastModified` may only have a precision of a second, so two
    /// edits of the same size within one second would otherwise go unseen
    /// (and tags change without changing the version at all).
    pub const MAX_AGE: Duration = Duration::from_secs(15 * 60);

    pub fn new(max_age: Duration) -> VersionCache<T> {
        VersionCache {
            entries: Mutex::new(HashMap::new()),
            max_age,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The value stored for `name` at exactly this version, if it is fresh
    /// enough. No version (AWS left a field out) is always a miss.
    pub fn lookup(&self, name: &str, version: Option<Version>) -> Option<T> {
        let found = version.and_then(|version| {
            let entries = self.lock();
            entries
                .get(name)
                .filter(|c| c.version == version && c.fetched_at.elapsed() < self.max_age)
                .map(|c| c.value.clone())
        });
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Remembers a value read at this version.
    pub fn store(&self, name: &str, version: Version, value: T) {
        self.lock().insert(
            name.to_string(),
            Cached {
                version,
                value,
                fetched_at: Instant::now(),
            },
        );
    }

    /// Changes the value stored for `name`, if any, keeping its version and
    /// age (driftd changed it without changing the dashboard's version).
    pub fn update(&self, name: &str, change: impl FnOnce(&mut T)) {
        if let Some(cached) = self.lock().get_mut(name) {
            change(&mut cached.value);
        }
    }

    /// Forgets one dashboard (driftd is about to write it).
    pub fn forget(&self, name: &str) {
        self.lock().remove(name);
    }

    /// Keeps only the dashboards for which `keep` holds (those still listed).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.lock().retain(|name, _| keep(name));
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// How many values are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached<T>>> {
        // A panic while holding this lock leaves a map that is still a valid
        // cache (every entry is checked on lookup), so poisoning is ignored.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What this process knows of dashboard tags.
///
/// * The tags read of each dashboard, at the version it had then: a pass
///   reads a dashboard's tags (`ListTagsForResource`) only when its body
///   changed, when it was never read, or after [`VersionCache::MAX_AGE`]. A
///   tag removed out of band, the body untouched, is seen that much later;
///   a deletion by `--prune` reads the tags afresh first.
/// * Whether the endpoint refuses tags on dashboards (moto answers
///   `TagResource` on one with ResourceNotFoundException; real CloudWatch
///   tags them). Learned from the first refusal, for the rest of the process.
#[derive(Debug, Default)]
pub struct TagMemory {
    pub seen: VersionCache<Tags>,
    refused: AtomicBool,
}

impl TagMemory {
    /// Whether this endpoint refused to tag a dashboard.
    pub fn refused(&self) -> bool {
        self.refused.load(Ordering::SeqCst)
    }

    /// Records that the endpoint refuses dashboard tags; `true` only the
    /// first time, so that the caller says so once per process.
    pub fn refuse(&self) -> bool {
        !self.refused.swap(true, Ordering::SeqCst)
    }
}

pub struct SdkDashboards {
    client: aws_sdk_cloudwatch::Client,
    pace: Pace,
    bodies: Arc<BodyCache>,
    tags: Arc<TagMemory>,
}

impl SdkDashboards {
    /// Unpaced: [`super::Aws`] gives its clients the process's pacer.
    pub fn new(config: &aws_config::SdkConfig) -> SdkDashboards {
        SdkDashboards::from_client(aws_sdk_cloudwatch::Client::new(config))
    }

    /// Over a client built elsewhere (tests add interceptors to theirs),
    /// less its SDK retries: its calls are retried at their pace ([`Pace::call`]).
    pub fn from_client(client: aws_sdk_cloudwatch::Client) -> SdkDashboards {
        SdkDashboards {
            client: without_sdk_retries!(aws_sdk_cloudwatch, client),
            pace: Pace::unpaced(SERVICE),
            bodies: Arc::new(BodyCache::default()),
            tags: Arc::new(TagMemory::default()),
        }
    }

    /// Its calls wait for their turn at the process's pacer (see [`super::pace`]).
    pub fn paced(mut self, pacer: &Arc<Pacer>) -> SdkDashboards {
        self.pace = Pace::new(pacer, SERVICE);
        self
    }
}

#[async_trait]
impl Dashboards for SdkDashboards {
    async fn list(&self, prefix: &str) -> Result<Vec<DashboardEntry>, Error> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resp = self
                .client
                .list_dashboards()
                .set_dashboard_name_prefix((!prefix.is_empty()).then(|| prefix.to_string()))
                .set_next_token(token.take())
                .paced(&self.pace, "ListDashboards", |r| r.send())
                .await?;
            for entry in resp.dashboard_entries() {
                let Some(name) = entry.dashboard_name() else {
                    continue;
                };
                out.push(DashboardEntry {
                    name: name.to_string(),
                    arn: entry.dashboard_arn().map(str::to_string),
                    last_modified: entry.last_modified().copied(),
                    size: entry.size(),
                });
            }
            match resp.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn get(&self, name: &str) -> Result<Option<String>, Error> {
        let resp = match self
            .client
            .get_dashboard()
            .dashboard_name(name)
            .paced(&self.pace, "GetDashboard", |r| r.send())
            .await
        {
            Ok(resp) => resp,
            Err(e) if e.class == ErrorClass::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match resp.dashboard_body() {
            Some(body) => Ok(Some(body.to_string())),
            None => Err(Error::new(
                SERVICE,
                "GetDashboard",
                ErrorClass::Other,
                format!("the answer for dashboard {name} holds no DashboardBody"),
            )),
        }
    }

    async fn put(&self, name: &str, body: &str) -> Result<Vec<ValidationMessage>, Error> {
        // Not `paced()`: a rejected body's reasons are in the SDK's own error.
        let request = self
            .client
            .put_dashboard()
            .dashboard_name(name)
            .dashboard_body(body);
        self.pace
            .call("PutDashboard", || {
                let request = request.clone().send();
                async move {
                    match request.await {
                        Ok(resp) => Ok(resp
                            .dashboard_validation_messages()
                            .iter()
                            .map(ValidationMessage::from)
                            .collect()),
                        Err(err) => {
                            let messages: Vec<ValidationMessage> = match err.as_service_error() {
                                Some(PutDashboardError::DashboardInvalidInputError(e)) => e
                                    .dashboard_validation_messages()
                                    .iter()
                                    .map(ValidationMessage::from)
                                    .collect(),
                                _ => Vec::new(),
                            };
                            let error = Error::from_sdk(SERVICE, "PutDashboard", err);
                            Err(with_validation_messages(error, &messages))
                        }
                    }
                }
            })
            .await
    }

    async fn tag(&self, arn: &str, tags: &Tags) -> Result<(), Error> {
        let tags = tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_cloudwatch::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
            })
            .collect();
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags))
            .paced(&self.pace, "TagResource", |r| r.send())
            .await?;
        Ok(())
    }

    async fn tags(&self, arn: &str) -> Result<Tags, Error> {
        let resp = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .paced(&self.pace, "ListTagsForResource", |r| r.send())
            .await?;
        Ok(resp
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect())
    }

    async fn delete(&self, name: &str) -> Result<(), Error> {
        match self
            .client
            .delete_dashboards()
            .dashboard_names(name)
            .paced(&self.pace, "DeleteDashboards", |r| r.send())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.class == ErrorClass::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn bodies(&self) -> Arc<BodyCache> {
        Arc::clone(&self.bodies)
    }

    fn tag_memory(&self) -> Arc<TagMemory> {
        Arc::clone(&self.tags)
    }
}

/// The in-memory fake of this service (test builds only).
#[cfg(test)]
#[path = "fake/dashboards.rs"]
pub mod fake;

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;

    fn version(secs: i64, size: i64) -> Option<Version> {
        Some(Version {
            last_modified: DateTime::from_secs(secs),
            size,
        })
    }

    #[test]
    fn the_cache_answers_only_for_the_version_it_stored() {
        let cache = BodyCache::default();
        let body = Arc::new(serde_json::json!({"widgets": []}));
        assert!(cache.lookup("a", version(1, 10)).is_none(), "empty cache");
        cache.store("a", version(1, 10).unwrap(), body.clone());
        assert_eq!(cache.lookup("a", version(1, 10)), Some(body));
        assert!(
            cache.lookup("a", version(2, 10)).is_none(),
            "newer LastModified"
        );
        assert!(cache.lookup("a", version(1, 11)).is_none(), "other size");
        assert!(cache.lookup("a", None).is_none(), "no version reported");
        assert!(cache.lookup("b", version(1, 10)).is_none(), "other name");
        assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 5 });
    }

    #[test]
    fn the_cache_refetches_after_its_max_age() {
        let cache = BodyCache::new(Duration::ZERO);
        cache.store(
            "a",
            version(1, 10).unwrap(),
            Arc::new(serde_json::json!({})),
        );
        assert!(cache.lookup("a", version(1, 10)).is_none());
    }

    #[test]
    fn the_cache_forgets_and_retains() {
        let cache = BodyCache::default();
        for name in ["a", "b", "c"] {
            cache.store(
                name,
                version(1, 1).unwrap(),
                Arc::new(serde_json::json!({})),
            );
        }
        cache.forget("a");
        cache.retain(|name| name != "b");
        assert_eq!(cache.len(), 1);
        assert!(cache.lookup("c", version(1, 1)).is_some());
    }

    #[test]
    fn validation_messages_are_added_unless_aws_already_spelled_them_out() {
        let base = Error {
            service: SERVICE,
            operation: "PutDashboard",
            class: ErrorClass::Validation,
            code: Some("InvalidParameterInput".into()),
            message: "The dashboard body is invalid, there are 1 validation errors".into(),
        };
        let messages = [ValidationMessage {
            data_path: Some("/widgets/0".into()),
            message: "Should have required property 'properties'".into(),
        }];
        let error = with_validation_messages(base.clone(), &messages);
        assert_eq!(
            error.message,
            "The dashboard body is invalid, there are 1 validation errors \
             [/widgets/0: Should have required property 'properties']"
        );
        let spelled_out = Error {
            message: format!("{} [{{\"dataPath\": \"/widgets/0\", \"message\": \"Should have required property 'properties'\"}}]", base.message),
            ..base
        };
        assert_eq!(
            with_validation_messages(spelled_out.clone(), &messages),
            spelled_out
        );
    }

    #[test]
    fn the_fake_rejects_what_cloudwatch_rejects() {
        assert!(fake_validate(r#"{"widgets": [{"type": "text", "properties": {}}]}"#).is_ok());
        let error = fake_validate("{not json").unwrap_err();
        assert_eq!(error.class, ErrorClass::Validation);
        let error = fake_validate(r#"{"widgets": [{"type": "metric"}]}"#).unwrap_err();
        assert!(
            error
                .message
                .contains("/widgets/0: Should have required property 'properties'"),
            "{error}"
        );
    }
}
