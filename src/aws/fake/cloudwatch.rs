//! CloudWatch alarms in the in-memory fake: [`FakeState`], what the fake holds
//! of this service, and the service's trait for [`crate::aws::fake::FakeAws`].
//! A child of `aws::cloudwatch` (declared there, test builds only), so it uses that
//! module's private helpers; see [`crate::aws::fake`].

use super::*;

/// What the fake's alarm ARNs start with (real CloudWatch's format).
const FAKE_ARN_PREFIX: &str = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:";

/// The ARN the fake gives an alarm.
pub fn fake_alarm_arn(name: &str) -> String {
    format!("{FAKE_ARN_PREFIX}{name}")
}

/// This service's part of the in-memory fake (see [`crate::aws::fake`]).
#[derive(Debug, Default)]
pub struct FakeState {
    /// Metric alarms by name, as they were last put (with `actionsEnabled`
    /// defaulted to true, as CloudWatch does).
    pub alarms: BTreeMap<String, Definition>,
    /// How many times `describe_metric_alarms` was called.
    pub describe_calls: usize,
    /// Operations that fail, by name (e.g. "DescribeAlarms"), with this error.
    pub failures: BTreeMap<&'static str, Error>,
}

impl FakeState {
    fn fail(&self, operation: &str) -> Result<(), Error> {
        match self.failures.get(operation) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

impl crate::aws::fake::FakeAws {
    /// Makes every later call of this CloudWatch operation fail with an
    /// error of this class.
    pub fn fail_cloudwatch(&self, operation: &'static str, class: crate::aws::ErrorClass) {
        let error = Error::new("cloudwatch", operation, class, "injected by the test");
        self.state
            .lock()
            .unwrap()
            .cloudwatch
            .failures
            .insert(operation, error);
    }
}

#[async_trait]
impl CloudWatch for crate::aws::fake::FakeAws {
    async fn describe_metric_alarms(&self, names: &[String]) -> Result<Vec<Live>, Error> {
        let mut state = self.state.lock().unwrap();
        state.cloudwatch.describe_calls += 1;
        state.cloudwatch.fail("DescribeAlarms")?;
        Ok(names
            .iter()
            .filter_map(|name| state.cloudwatch.alarms.get(name))
            .map(|definition| Live {
                arn: fake_alarm_arn(&definition.name),
                definition: definition.clone(),
                tags: Tags::new(),
            })
            .collect())
    }

    async fn put_metric_alarm(&self, definition: &Definition, tags: &Tags) -> Result<(), Error> {
        self.record_write(format!("cloudwatch.PutMetricAlarm {}", definition.name));
        let mut state = self.state.lock().unwrap();
        state.cloudwatch.fail("PutMetricAlarm")?;
        let mut stored = definition.clone();
        stored.actions_enabled.get_or_insert(true);
        let created = state
            .cloudwatch
            .alarms
            .insert(definition.name.clone(), stored)
            .is_none();
        if created && !tags.is_empty() {
            state.add_tags(&fake_alarm_arn(&definition.name), tags);
        }
        Ok(())
    }

    async fn tag_alarm(&self, arn: &str, tags: &Tags) -> Result<(), Error> {
        // Alarm names may hold colons: everything after the prefix is the name.
        let name = arn.strip_prefix(FAKE_ARN_PREFIX).unwrap_or(arn);
        self.record_write(format!("cloudwatch.TagResource {name}"));
        let mut state = self.state.lock().unwrap();
        state.cloudwatch.fail("TagResource")?;
        if !arn.starts_with(FAKE_ARN_PREFIX) || !state.cloudwatch.alarms.contains_key(name) {
            return Err(Error::new(
                SERVICE,
                "TagResource",
                ErrorClass::NotFound,
                format!("no alarm {arn}"),
            ));
        }
        state.add_tags(arn, tags);
        Ok(())
    }

    async fn delete_alarms(&self, names: &[String]) -> Result<(), Error> {
        self.record_write(format!("cloudwatch.DeleteAlarms {}", names.join(",")));
        if names.len() > NAMES_PER_CALL {
            return Err(Error::new(
                SERVICE,
                "DeleteAlarms",
                ErrorClass::Validation,
                format!("at most {NAMES_PER_CALL} alarm names per call"),
            ));
        }
        let mut state = self.state.lock().unwrap();
        state.cloudwatch.fail("DeleteAlarms")?;
        for name in names {
            if state.cloudwatch.alarms.remove(name).is_some() {
                // Real CloudWatch forgets a deleted alarm's tags (moto does not).
                state.tags.remove(&fake_alarm_arn(name));
            }
        }
        Ok(())
    }

    async fn alarm_actions(&self) -> Result<Vec<AlarmActions>, Error> {
        let mut state = self.state.lock().unwrap();
        state.cloudwatch.describe_calls += 1;
        state.cloudwatch.fail("DescribeAlarms")?;
        Ok(state
            .cloudwatch
            .alarms
            .values()
            .map(|d| AlarmActions {
                name: d.name.clone(),
                actions: [
                    d.alarm_actions.as_slice(),
                    &d.ok_actions,
                    &d.insufficient_data_actions,
                ]
                .concat(),
            })
            .collect())
    }
}
