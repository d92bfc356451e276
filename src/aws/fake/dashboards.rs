//! CloudWatch dashboards in the in-memory fake: [`FakeState`], what the fake holds
//! of this service, and the service's trait for [`crate::aws::fake::FakeAws`].
//! A child of `aws::dashboards` (declared there, test builds only), so it uses that
//! module's private helpers; see [`crate::aws::fake`].

use std::collections::BTreeMap;

use super::*;
use crate::aws::fake::coded_error;

/// A dashboard as the fake stores it.
#[derive(Debug, Clone)]
pub struct FakeDashboard {
    pub arn: String,
    pub body: String,
    pub last_modified: DateTime,
}

/// This service's part of the in-memory fake (see [`crate::aws::fake`]).
#[derive(Debug, Default)]
pub struct FakeState {
    pub dashboards: BTreeMap<String, FakeDashboard>,
    /// `GetDashboard` calls received (the cache is meant to keep this low).
    pub get_calls: usize,
    /// `ListTagsForResource` calls received for dashboards.
    pub tag_reads: usize,
    /// Answer `TagResource` on a dashboard with ResourceNotFoundException, as
    /// moto does; real AWS tags dashboards.
    pub cannot_tag: bool,
    /// Seconds added to the fake clock so far; each write moves it by one.
    clock: i64,
    bodies: Arc<BodyCache>,
    tag_memory: Arc<TagMemory>,
}

impl FakeState {
    /// Stores a body with a fresh LastModified, as any writer would.
    fn store(&mut self, name: &str, body: &str) {
        self.clock += 1;
        let last_modified = DateTime::from_secs(1_700_000_000 + self.clock);
        self.dashboards.insert(
            name.to_string(),
            FakeDashboard {
                arn: format!("arn:aws:cloudwatch::123456789012:dashboard/{name}"),
                body: body.to_string(),
                last_modified,
            },
        );
    }
}

/// What real CloudWatch checks of a body, reduced to the parts tests rely on:
/// it must be a JSON object whose widgets each have a `type` and `properties`.
pub(super) fn fake_validate(body: &str) -> Result<(), Error> {
    let invalid = |message: &str, messages: Vec<ValidationMessage>| {
        let error = coded_error(
            SERVICE,
            "PutDashboard",
            ErrorClass::Validation,
            "InvalidParameterInput",
            message,
        );
        Err(with_validation_messages(error, &messages))
    };
    let Ok(serde_json::Value::Object(body)) = serde_json::from_str::<serde_json::Value>(body)
    else {
        return invalid(
            "The field DashboardBody must be a valid JSON object",
            vec![],
        );
    };
    let widgets = body
        .get("widgets")
        .and_then(serde_json::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut messages = Vec::new();
    for (i, widget) in widgets.iter().enumerate() {
        for field in ["type", "properties"] {
            if widget.get(field).is_none() {
                messages.push(ValidationMessage {
                    data_path: Some(format!("/widgets/{i}")),
                    message: format!("Should have required property '{field}'"),
                });
            }
        }
    }
    if messages.is_empty() {
        Ok(())
    } else {
        invalid(
            &format!(
                "The dashboard body is invalid, there are {} validation errors",
                messages.len()
            ),
            messages,
        )
    }
}

impl crate::aws::fake::FakeAws {
    fn dashboards_state<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().unwrap().dashboards)
    }

    /// A change made outside driftd (the console, another tool): stored with
    /// a new LastModified and not recorded as a driftd write.
    pub fn put_dashboard_out_of_band(&self, name: &str, body: &str) {
        self.dashboards_state(|s| s.store(name, body));
    }

    /// The body the fake holds for a dashboard.
    pub fn dashboard_body(&self, name: &str) -> Option<String> {
        self.dashboards_state(|s| s.dashboards.get(name).map(|d| d.body.clone()))
    }

    /// How many `GetDashboard` calls the fake has answered.
    pub fn dashboard_get_calls(&self) -> usize {
        self.dashboards_state(|s| s.get_calls)
    }

    /// How many `ListTagsForResource` calls on dashboards the fake has answered.
    pub fn dashboard_tag_reads(&self) -> usize {
        self.dashboards_state(|s| s.tag_reads)
    }

    /// Removes a tag from a dashboard outside driftd (the console), without
    /// changing its version, as tags do not.
    pub fn untag_dashboard_out_of_band(&self, name: &str, key: &str) {
        let mut state = self.state.lock().unwrap();
        let Some(arn) = state.dashboards.dashboards.get(name).map(|d| d.arn.clone()) else {
            return;
        };
        if let Some(tags) = state.tags.get_mut(&arn) {
            tags.remove(key);
        }
    }

    /// Makes `TagResource` on dashboards fail as it does in moto.
    pub fn dashboards_cannot_be_tagged(&self) {
        self.dashboards_state(|s| s.cannot_tag = true);
    }
}

#[async_trait]
impl Dashboards for crate::aws::fake::FakeAws {
    async fn list(&self, prefix: &str) -> Result<Vec<DashboardEntry>, Error> {
        Ok(self.dashboards_state(|s| {
            s.dashboards
                .iter()
                .filter(|(name, _)| name.starts_with(prefix))
                .map(|(name, d)| DashboardEntry {
                    name: name.clone(),
                    arn: Some(d.arn.clone()),
                    last_modified: Some(d.last_modified),
                    size: i64::try_from(d.body.len()).ok(),
                })
                .collect()
        }))
    }

    async fn get(&self, name: &str) -> Result<Option<String>, Error> {
        Ok(self.dashboards_state(|s| {
            s.get_calls += 1;
            s.dashboards.get(name).map(|d| d.body.clone())
        }))
    }

    async fn put(&self, name: &str, body: &str) -> Result<Vec<ValidationMessage>, Error> {
        fake_validate(body)?;
        self.record_write(format!("cloudwatch.PutDashboard {name}"));
        self.dashboards_state(|s| s.store(name, body));
        Ok(Vec::new())
    }

    async fn tag(&self, arn: &str, tags: &Tags) -> Result<(), Error> {
        let not_found = || {
            Err(Error::new(
                SERVICE,
                "TagResource",
                ErrorClass::NotFound,
                "Unknown",
            ))
        };
        let (exists, cannot_tag) =
            self.dashboards_state(|s| (s.dashboards.values().any(|d| d.arn == arn), s.cannot_tag));
        if !exists || cannot_tag {
            return not_found();
        }
        self.record_write(format!("cloudwatch.TagResource {arn}"));
        let mut state = self.state.lock().unwrap();
        state.add_tags(arn, tags);
        Ok(())
    }

    async fn tags(&self, arn: &str) -> Result<Tags, Error> {
        let mut state = self.state.lock().unwrap();
        state.dashboards.tag_reads += 1;
        // Like moto and CloudWatch: an ARN nobody tagged has no tags.
        Ok(state.tags.get(arn).cloned().unwrap_or_default())
    }

    async fn delete(&self, name: &str) -> Result<(), Error> {
        let removed = self.dashboards_state(|s| s.dashboards.remove(name));
        if removed.is_some() {
            self.record_write(format!("cloudwatch.DeleteDashboards {name}"));
        }
        Ok(())
    }

    fn bodies(&self) -> Arc<BodyCache> {
        self.dashboards_state(|s| Arc::clone(&s.bodies))
    }

    fn tag_memory(&self) -> Arc<TagMemory> {
        self.dashboards_state(|s| Arc::clone(&s.tag_memory))
    }
}
