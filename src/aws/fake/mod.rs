//! An in-memory AWS for unit tests of the engine: one fake backend that
//! implements every service seam and records each write it receives. Test
//! builds only: nothing of it is in the release binary.
//!
//! Each service's part lives beside this file (`fake/cloudwatch.rs`, ...),
//! declared as a child of that service's module (`aws::cloudwatch::fake`)
//! so that it shares the service's private helpers and error texts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::tagging::{resource_type, TaggedResource};
use super::{Aws, Error, ErrorClass, Tagging};
use crate::aws::Tags;

/// The fake's whole state. A std `Mutex`: no lock is held across an `.await`.
#[derive(Default)]
pub struct FakeState {
    /// ARN -> tags, as the tagging API would report them.
    pub tags: HashMap<String, Tags>,
    /// Every write call received, as "Service.Operation name".
    pub writes: Vec<String>,
    /// When set, `Tagging::tagged` (GetResources by tag) fails with it.
    pub tagged_failure: Option<Error>,
    /// How many times `Tagging::tagged` was called.
    pub tagged_calls: usize,
    /// `tags_of` calls (tags by ARN).
    pub tags_of_calls: usize,
    pub cloudwatch: super::cloudwatch::fake::FakeState,
    pub dashboards: super::dashboards::fake::FakeState,
    pub sns: super::sns::fake::FakeState,
    pub secretsmanager: super::secretsmanager::fake::FakeState,
    pub ecs: super::ecs::fake::FakeState,
    pub autoscaling: super::autoscaling::fake::FakeState,
    pub sts: super::sts::fake::FakeState,
}

/// An error as the service returns it: with its error code, which
/// [`Error::new`] (an error driftd raises itself) leaves out.
pub fn coded_error(
    service: &'static str,
    operation: &'static str,
    class: ErrorClass,
    code: &str,
    message: impl Into<String>,
) -> Error {
    Error {
        code: Some(code.into()),
        ..Error::new(service, operation, class, message)
    }
}

impl FakeState {
    /// Adds these tags to what the resource at `arn` carries, as TagResource does.
    pub fn add_tags(&mut self, arn: &str, tags: &Tags) {
        self.tags
            .entry(arn.to_string())
            .or_default()
            .extend(tags.clone());
    }
}

#[derive(Clone, Default)]
pub struct FakeAws {
    pub state: Arc<Mutex<FakeState>>,
}

impl FakeAws {
    pub fn new() -> FakeAws {
        FakeAws::default()
    }

    /// The AWS clients, all served by this fake.
    pub fn aws(&self) -> Aws {
        Aws {
            cloudwatch: Arc::new(self.clone()),
            dashboards: Arc::new(self.clone()),
            sns: Arc::new(self.clone()),
            tagging: Arc::new(self.clone()),
            secretsmanager: Arc::new(self.clone()),
            ecs: Arc::new(self.clone()),
            autoscaling: Arc::new(self.clone()),
            sts: Arc::new(self.clone()),
        }
    }

    /// The write calls made so far.
    pub fn writes(&self) -> Vec<String> {
        self.state.lock().unwrap().writes.clone()
    }
}

#[async_trait]
impl Tagging for FakeAws {
    async fn tags_of(&self, arns: &[String]) -> Result<HashMap<String, Tags>, Error> {
        let mut state = self.state.lock().unwrap();
        state.tags_of_calls += 1;
        Ok(arns
            .iter()
            .filter_map(|a| state.tags.get(a).map(|t| (a.clone(), t.clone())))
            .collect())
    }

    async fn tagged(
        &self,
        key: &str,
        value: &str,
        resource_types: &[&str],
    ) -> Result<Vec<TaggedResource>, Error> {
        let mut state = self.state.lock().unwrap();
        state.tagged_calls += 1;
        if let Some(e) = &state.tagged_failure {
            return Err(e.clone());
        }
        let mut found: Vec<TaggedResource> = state
            .tags
            .iter()
            .filter(|(arn, tags)| {
                tags.get(key).map(String::as_str) == Some(value)
                    && resource_type(arn).is_some_and(|t| resource_types.contains(&t))
            })
            .map(|(arn, tags)| TaggedResource {
                arn: arn.clone(),
                tags: tags.clone(),
            })
            .collect();
        found.sort_by(|a, b| a.arn.cmp(&b.arn));
        Ok(found)
    }
}

impl FakeAws {
    /// Records a write call, as "Service.Operation name".
    pub fn record_write(&self, call: impl Into<String>) {
        self.state.lock().unwrap().writes.push(call.into());
    }
}
