//! SNS in the in-memory fake: [`FakeState`], what the fake holds
//! of this service, and the service's trait for [`crate::aws::fake::FakeAws`].
//! A child of `aws::sns` (declared there, test builds only), so it uses that
//! module's private helpers; see [`crate::aws::fake`].

use super::*;
use crate::aws::fake::coded_error;

/// The account and region of the fake's ARNs.
pub const FAKE_ARN_PREFIX: &str = "arn:aws:sns:us-east-1:123456789012";

/// This service's part of the in-memory fake (see [`crate::aws::fake`]). It
/// behaves like real SNS where the difference matters to driftd: a new topic
/// carries the default access policy, and email and HTTP(S) subscriptions
/// stay pending until confirmed (see [`crate::aws::fake::FakeAws::confirm_subscription`]).
#[derive(Debug, Default)]
pub struct FakeState {
    /// Topics by ARN.
    pub topics: BTreeMap<String, FakeTopic>,
    /// Topic names whose reads fail with this error class.
    pub failing_reads: BTreeMap<String, ErrorClass>,
    /// Every message published, with the ARN of its topic, in order.
    pub published: Vec<(String, Message)>,
    /// When set, `Publish` fails with this error class.
    pub failing_publish: Option<ErrorClass>,
    next_subscription: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FakeTopic {
    /// As `GetTopicAttributes` returns them.
    pub attributes: BTreeMap<String, String>,
    pub subscriptions: Vec<FakeSubscription>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FakeSubscription {
    pub protocol: String,
    pub endpoint: String,
    pub arn: String,
    pub confirmed: bool,
}

/// The access policy SNS gives a topic created without one.
pub fn default_policy(topic_arn: &str) -> serde_json::Value {
    let account = topic_arn.split(':').nth(4).unwrap_or_default();
    serde_json::json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [
                "SNS:GetTopicAttributes",
                "SNS:SetTopicAttributes",
                "SNS:AddPermission",
                "SNS:RemovePermission",
                "SNS:DeleteTopic",
                "SNS:Subscribe",
                "SNS:ListSubscriptionsByTopic",
                "SNS:Publish"
            ],
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": account}}
        }]
    })
}

fn not_found(operation: &'static str, what: &str) -> Error {
    coded_error(
        SERVICE,
        operation,
        ErrorClass::NotFound,
        "NotFound",
        format!("{what} does not exist"),
    )
}

impl FakeState {
    fn topic(&self, arn: &str, operation: &'static str) -> Result<&FakeTopic, Error> {
        if let Some(class) = self.failing_reads.get(topic_name(arn)) {
            return Err(Error::new(SERVICE, operation, *class, "injected failure"));
        }
        self.topics
            .get(arn)
            .ok_or_else(|| not_found(operation, "Topic"))
    }

    fn topic_mut(&mut self, arn: &str, operation: &'static str) -> Result<&mut FakeTopic, Error> {
        self.topics
            .get_mut(arn)
            .ok_or_else(|| not_found(operation, "Topic"))
    }

    /// Creates a topic as SNS does (default policy, empty display name) and
    /// returns its ARN; an existing topic of that name is returned as it is.
    pub fn create(&mut self, name: &str, attributes: &BTreeMap<String, String>) -> String {
        let arn = format!("{FAKE_ARN_PREFIX}:{name}");
        if !self.topics.contains_key(&arn) {
            let mut attrs = BTreeMap::from([
                (attr::DISPLAY_NAME.to_string(), String::new()),
                (attr::POLICY.to_string(), default_policy(&arn).to_string()),
                ("TopicArn".to_string(), arn.clone()),
            ]);
            for (k, v) in attributes {
                set_attribute(&mut attrs, k, v);
            }
            self.topics.insert(
                arn.clone(),
                FakeTopic {
                    attributes: attrs,
                    subscriptions: Vec::new(),
                },
            );
        }
        arn
    }

    /// Adds a subscription as SNS does: email and HTTP(S) endpoints wait for
    /// confirmation, others are confirmed at once. Subscribing an existing
    /// (protocol, endpoint) returns the existing subscription (and, in real
    /// SNS, sends a pending endpoint another confirmation message).
    pub fn subscribe(&mut self, topic_arn: &str, protocol: &str, endpoint: &str) -> Option<String> {
        let next = self.next_subscription + 1;
        let topic = self.topics.get_mut(topic_arn)?;
        if let Some(s) = topic
            .subscriptions
            .iter()
            .find(|s| s.protocol == protocol && s.endpoint == endpoint)
        {
            return Some(s.arn.clone());
        }
        self.next_subscription = next;
        let arn = format!("{topic_arn}:sub-{next:04}");
        topic.subscriptions.push(FakeSubscription {
            protocol: protocol.to_string(),
            endpoint: endpoint.to_string(),
            arn: arn.clone(),
            confirmed: !matches!(protocol, "email" | "email-json" | "http" | "https"),
        });
        Some(arn)
    }
}

/// SNS drops `KmsMasterKeyId` when it is set to "" (encryption off).
fn set_attribute(attributes: &mut BTreeMap<String, String>, name: &str, value: &str) {
    if name == attr::KMS_MASTER_KEY_ID && value.is_empty() {
        attributes.remove(name);
    } else {
        attributes.insert(name.to_string(), value.to_string());
    }
}

impl crate::aws::fake::FakeAws {
    /// Puts a topic in place, as if made outside driftd; returns its ARN.
    pub fn put_topic(
        &self,
        name: &str,
        attributes: &[(&str, &str)],
        tags: &[(&str, &str)],
    ) -> String {
        let mut state = self.state.lock().unwrap();
        let attributes = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let arn = state.sns.create(name, &attributes);
        if !tags.is_empty() {
            state
                .tags
                .entry(arn.clone())
                .or_default()
                .extend(tags.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        }
        arn
    }

    /// Subscribes an endpoint to a topic by name, as if done outside driftd.
    pub fn put_subscription(&self, topic: &str, protocol: &str, endpoint: &str) {
        let mut state = self.state.lock().unwrap();
        let arn = format!("{FAKE_ARN_PREFIX}:{topic}");
        state.sns.subscribe(&arn, protocol, endpoint);
    }

    /// The endpoint's owner confirms its subscription.
    pub fn confirm_subscription(&self, topic: &str, protocol: &str, endpoint: &str) {
        let mut state = self.state.lock().unwrap();
        let arn = format!("{FAKE_ARN_PREFIX}:{topic}");
        if let Some(t) = state.sns.topics.get_mut(&arn) {
            for s in &mut t.subscriptions {
                if s.protocol == protocol && s.endpoint == endpoint {
                    s.confirmed = true;
                }
            }
        }
    }

    /// Sets a topic attribute behind driftd's back (drift).
    pub fn put_topic_attribute(&self, topic: &str, name: &str, value: &str) {
        let mut state = self.state.lock().unwrap();
        if let Some(t) = state
            .sns
            .topics
            .get_mut(&format!("{FAKE_ARN_PREFIX}:{topic}"))
        {
            set_attribute(&mut t.attributes, name, value);
        }
    }

    /// A copy of a topic's state, by name.
    pub fn topic(&self, name: &str) -> Option<FakeTopic> {
        let state = self.state.lock().unwrap();
        state
            .sns
            .topics
            .get(&format!("{FAKE_ARN_PREFIX}:{name}"))
            .cloned()
    }
}

// The fake's lock is a std Mutex, never held across an `.await`.
#[async_trait]
impl Sns for crate::aws::fake::FakeAws {
    async fn topic_arns(&self, names: &BTreeSet<String>) -> Result<HashMap<String, String>, Error> {
        let state = self.state.lock().unwrap();
        Ok(state
            .sns
            .topics
            .keys()
            .filter(|arn| names.contains(topic_name(arn)))
            .map(|arn| (topic_name(arn).to_string(), arn.clone()))
            .collect())
    }

    async fn topic_attributes(&self, arn: &str) -> Result<HashMap<String, String>, Error> {
        let state = self.state.lock().unwrap();
        let topic = state.sns.topic(arn, "GetTopicAttributes")?;
        Ok(topic
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn subscriptions(&self, arn: &str) -> Result<Vec<TopicSubscription>, Error> {
        let state = self.state.lock().unwrap();
        let topic = state.sns.topic(arn, "ListSubscriptionsByTopic")?;
        Ok(topic
            .subscriptions
            .iter()
            .map(|s| {
                let listed = if s.confirmed {
                    s.arn.as_str()
                } else {
                    PENDING_CONFIRMATION
                };
                TopicSubscription::new(&s.protocol, &s.endpoint, Some(listed))
            })
            .collect())
    }

    async fn create_topic(
        &self,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: &Tags,
    ) -> Result<String, Error> {
        self.record_write(format!("sns.CreateTopic {name}"));
        let mut state = self.state.lock().unwrap();
        let arn = state.sns.create(name, attributes);
        if !tags.is_empty() {
            state
                .tags
                .entry(arn.clone())
                .or_default()
                .extend(tags.clone());
        }
        Ok(arn)
    }

    async fn set_topic_attribute(&self, arn: &str, name: &str, value: &str) -> Result<(), Error> {
        self.record_write(format!("sns.SetTopicAttributes {} {name}", topic_name(arn)));
        let mut state = self.state.lock().unwrap();
        let topic = state.sns.topic_mut(arn, "SetTopicAttributes")?;
        set_attribute(&mut topic.attributes, name, value);
        Ok(())
    }

    async fn subscribe(
        &self,
        topic_arn: &str,
        subscription: &Subscription,
    ) -> Result<Option<String>, Error> {
        self.record_write(format!(
            "sns.Subscribe {} {}:{}",
            topic_name(topic_arn),
            subscription.protocol,
            subscription.endpoint
        ));
        let mut state = self.state.lock().unwrap();
        state
            .sns
            .subscribe(topic_arn, &subscription.protocol, &subscription.endpoint)
            .map(Some)
            .ok_or_else(|| not_found("Subscribe", "Topic"))
    }

    async fn unsubscribe(&self, subscription_arn: &str) -> Result<(), Error> {
        self.record_write(format!("sns.Unsubscribe {subscription_arn}"));
        let mut state = self.state.lock().unwrap();
        for topic in state.sns.topics.values_mut() {
            topic.subscriptions.retain(|s| s.arn != subscription_arn);
        }
        Ok(())
    }

    async fn tag_topic(&self, arn: &str, tags: &Tags) -> Result<(), Error> {
        self.record_write(format!("sns.TagResource {}", topic_name(arn)));
        let mut state = self.state.lock().unwrap();
        if !state.sns.topics.contains_key(arn) {
            return Err(not_found("TagResource", "Resource"));
        }
        state.add_tags(arn, tags);
        Ok(())
    }

    async fn delete_topic(&self, arn: &str) -> Result<(), Error> {
        self.record_write(format!("sns.DeleteTopic {}", topic_name(arn)));
        let mut state = self.state.lock().unwrap();
        state.sns.topics.remove(arn);
        state.tags.remove(arn);
        Ok(())
    }

    async fn publish(&self, topic_arn: &str, message: &Message) -> Result<Option<String>, Error> {
        self.record_write(format!("sns.Publish {}", topic_name(topic_arn)));
        let mut state = self.state.lock().unwrap();
        if let Some(class) = state.sns.failing_publish {
            return Err(Error::new(SERVICE, "Publish", class, "injected failure"));
        }
        state.sns.topic(topic_arn, "Publish")?;
        state
            .sns
            .published
            .push((topic_arn.to_string(), message.clone()));
        Ok(Some(format!("message-{}", state.sns.published.len())))
    }
}
