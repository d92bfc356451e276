//! SNS: topics, their attributes and subscriptions.
//!
//! SNS has no batch read: a pass walks `ListTopics` once to find every topic
//! by name, then reads each topic's attributes and subscriptions on its own.
//! Tags are read through the tagging seam ([`super::Tagging`]), many ARNs at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;

use super::pace::{Pace, Paced, Pacer};
use super::{Error, ErrorClass};
use crate::kinds::topic::Subscription;
use crate::kinds::Tags;

const SERVICE: &str = "sns";

/// The `SubscriptionArn` SNS lists for a subscription that waits for its
/// endpoint's owner to confirm it.
pub const PENDING_CONFIRMATION: &str = "PendingConfirmation";

/// The topic attributes driftd reads and writes, by their SNS names.
pub mod attr {
    pub const DISPLAY_NAME: &str = "DisplayName";
    pub const KMS_MASTER_KEY_ID: &str = "KmsMasterKeyId";
    pub const POLICY: &str = "Policy";
    pub const FIFO_TOPIC: &str = "FifoTopic";
}

/// One subscription of a topic, as `ListSubscriptionsByTopic` reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TopicSubscription {
    pub protocol: String,
    pub endpoint: String,
    /// Its ARN once confirmed; `None` while it is pending confirmation. SNS
    /// lists a pending subscription without an ARN (the placeholder
    /// [`PENDING_CONFIRMATION`]), so it cannot be unsubscribed; SNS deletes
    /// it by itself when nobody confirms it (after 48 hours at the time of writing).
    pub arn: Option<String>,
}

impl TopicSubscription {
    /// Reads the `SubscriptionArn` field: an ARN, or a placeholder such as
    /// `PendingConfirmation` (anything that is not an ARN counts as pending).
    pub fn new(protocol: &str, endpoint: &str, subscription_arn: Option<&str>) -> Self {
        TopicSubscription {
            protocol: protocol.to_string(),
            endpoint: endpoint.to_string(),
            arn: subscription_arn
                .filter(|a| a.starts_with("arn:"))
                .map(str::to_string),
        }
    }

    pub fn is_pending(&self) -> bool {
        self.arn.is_none()
    }

    /// The (protocol, endpoint) pair a subscription is matched by.
    pub fn key(&self) -> Subscription {
        Subscription {
            protocol: self.protocol.clone(),
            endpoint: self.endpoint.clone(),
        }
    }
}

/// The name of a topic: the last segment of its ARN.
pub fn topic_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

#[async_trait]
pub trait Sns: Send + Sync {
    /// The ARN of each of these topic names that exists, from one walk of
    /// `ListTopics` (100 topics a page) that stops once all are found.
    async fn topic_arns(&self, names: &BTreeSet<String>) -> Result<HashMap<String, String>, Error>;

    /// All attributes of a topic (`GetTopicAttributes`), by SNS name.
    async fn topic_attributes(&self, arn: &str) -> Result<HashMap<String, String>, Error>;

    /// Every subscription of a topic (`ListSubscriptionsByTopic`, all pages).
    async fn subscriptions(&self, arn: &str) -> Result<Vec<TopicSubscription>, Error>;

    /// Creates a topic with these attributes and tags; returns its ARN.
    async fn create_topic(
        &self,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: &Tags,
    ) -> Result<String, Error>;

    /// Sets one attribute (SNS sets them one call at a time).
    async fn set_topic_attribute(&self, arn: &str, name: &str, value: &str) -> Result<(), Error>;

    /// Subscribes an endpoint; returns the subscription's ARN (SNS returns one
    /// even while the subscription is pending, since we ask for it).
    async fn subscribe(
        &self,
        topic_arn: &str,
        subscription: &Subscription,
    ) -> Result<Option<String>, Error>;

    /// Removes a confirmed subscription.
    async fn unsubscribe(&self, subscription_arn: &str) -> Result<(), Error>;

    /// Adds or overwrites these tags (others stay as they are).
    async fn tag_topic(&self, arn: &str, tags: &Tags) -> Result<(), Error>;

    /// Deletes a topic and, with it, all its subscriptions. A topic that is
    /// already gone is not an error (SNS answers so itself).
    async fn delete_topic(&self, arn: &str) -> Result<(), Error>;

    /// Publishes a message to a topic (`Publish`); returns its message id.
    async fn publish(&self, topic_arn: &str, message: &Message) -> Result<Option<String>, Error>;
}

/// A message to publish: its body, an optional subject (what email
/// subscribers see; at most 100 printable ASCII characters) and message
/// attributes (strings), which subscription filter policies can match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub subject: Option<String>,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
}

pub struct SdkSns {
    client: aws_sdk_sns::Client,
    pace: Pace,
}

impl SdkSns {
    /// Unpaced: [`super::Aws`] gives its clients the process's pacer.
    pub fn new(config: &aws_config::SdkConfig) -> SdkSns {
        SdkSns::from_client(aws_sdk_sns::Client::new(config))
    }

    /// Over a client configured by the caller (e.g. with an interceptor).
    pub fn from_client(client: aws_sdk_sns::Client) -> SdkSns {
        SdkSns {
            client,
            pace: Pace::unpaced(SERVICE),
        }
    }

    /// Its calls wait for their turn at the process's pacer (see [`super::pace`]).
    pub fn paced(mut self, pacer: &Arc<Pacer>) -> SdkSns {
        self.pace = Pace::new(pacer, SERVICE);
        self
    }
}

fn sdk_tags(tags: &Tags, operation: &'static str) -> Result<Vec<aws_sdk_sns::types::Tag>, Error> {
    tags.iter()
        .map(|(k, v)| {
            aws_sdk_sns::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| Error::new(SERVICE, operation, ErrorClass::Other, e.to_string()))
        })
        .collect()
}

/// A next-page token, treating an empty one as the end.
fn next_token(token: Option<&str>) -> Option<String> {
    token.filter(|t| !t.is_empty()).map(str::to_string)
}

#[async_trait]
impl Sns for SdkSns {
    async fn topic_arns(&self, names: &BTreeSet<String>) -> Result<HashMap<String, String>, Error> {
        let mut found = HashMap::new();
        if names.is_empty() {
            return Ok(found);
        }
        let mut token = None;
        loop {
            let page = self
                .client
                .list_topics()
                .set_next_token(token)
                .send()
                .paced(&self.pace, "ListTopics")
                .await?;
            for arn in page.topics().iter().filter_map(|t| t.topic_arn()) {
                let name = topic_name(arn);
                if names.contains(name) {
                    found.insert(name.to_string(), arn.to_string());
                }
            }
            token = next_token(page.next_token());
            if token.is_none() || found.len() == names.len() {
                return Ok(found);
            }
        }
    }

    async fn topic_attributes(&self, arn: &str) -> Result<HashMap<String, String>, Error> {
        let out = self
            .client
            .get_topic_attributes()
            .topic_arn(arn)
            .send()
            .paced(&self.pace, "GetTopicAttributes")
            .await?;
        Ok(out.attributes().cloned().unwrap_or_default())
    }

    async fn subscriptions(&self, arn: &str) -> Result<Vec<TopicSubscription>, Error> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_subscriptions_by_topic()
                .topic_arn(arn)
                .set_next_token(token)
                .send()
                .paced(&self.pace, "ListSubscriptionsByTopic")
                .await?;
            for s in page.subscriptions() {
                match (s.protocol(), s.endpoint()) {
                    (Some(protocol), Some(endpoint)) => out.push(TopicSubscription::new(
                        protocol,
                        endpoint,
                        s.subscription_arn(),
                    )),
                    // SNS always names both; one without cannot be matched to the file.
                    _ => tracing::warn!(
                        topic = arn,
                        subscription = s.subscription_arn(),
                        "subscription without protocol or endpoint ignored"
                    ),
                }
            }
            token = next_token(page.next_token());
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    async fn create_topic(
        &self,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: &Tags,
    ) -> Result<String, Error> {
        const OP: &str = "CreateTopic";
        let out = self
            .client
            .create_topic()
            .name(name)
            .set_attributes((!attributes.is_empty()).then(|| {
                attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }))
            .set_tags((!tags.is_empty()).then(|| sdk_tags(tags, OP)).transpose()?)
            .send()
            .paced(&self.pace, OP)
            .await?;
        out.topic_arn()
            .map(str::to_string)
            .ok_or_else(|| Error::new(SERVICE, OP, ErrorClass::Other, "answer holds no TopicArn"))
    }

    async fn set_topic_attribute(&self, arn: &str, name: &str, value: &str) -> Result<(), Error> {
        self.client
            .set_topic_attributes()
            .topic_arn(arn)
            .attribute_name(name)
            .attribute_value(value)
            .send()
            .paced(&self.pace, "SetTopicAttributes")
            .await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        topic_arn: &str,
        subscription: &Subscription,
    ) -> Result<Option<String>, Error> {
        let out = self
            .client
            .subscribe()
            .topic_arn(topic_arn)
            .protocol(&subscription.protocol)
            .endpoint(&subscription.endpoint)
            .return_subscription_arn(true)
            .send()
            .paced(&self.pace, "Subscribe")
            .await?;
        Ok(out.subscription_arn().map(str::to_string))
    }

    async fn unsubscribe(&self, subscription_arn: &str) -> Result<(), Error> {
        self.client
            .unsubscribe()
            .subscription_arn(subscription_arn)
            .send()
            .paced(&self.pace, "Unsubscribe")
            .await?;
        Ok(())
    }

    async fn tag_topic(&self, arn: &str, tags: &Tags) -> Result<(), Error> {
        const OP: &str = "TagResource";
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(sdk_tags(tags, OP)?))
            .send()
            .paced(&self.pace, OP)
            .await?;
        Ok(())
    }

    async fn delete_topic(&self, arn: &str) -> Result<(), Error> {
        match self
            .client
            .delete_topic()
            .topic_arn(arn)
            .send()
            .paced(&self.pace, "DeleteTopic")
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.class == ErrorClass::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn publish(&self, topic_arn: &str, message: &Message) -> Result<Option<String>, Error> {
        const OP: &str = "Publish";
        let mut request = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .message(&message.body)
            .set_subject(message.subject.clone());
        for (name, value) in &message.attributes {
            let value = aws_sdk_sns::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| Error::new(SERVICE, OP, ErrorClass::Other, e.to_string()))?;
            request = request.message_attributes(name, value);
        }
        let out = request.send().paced(&self.pace, OP).await?;
        Ok(out.message_id().map(str::to_string))
    }
}

/// The account and region of the fake's ARNs.
pub const FAKE_ARN_PREFIX: &str = "arn:aws:sns:us-east-1:123456789012";

/// This service's part of the in-memory fake (see [`super::fake`]). It
/// behaves like real SNS where the difference matters to driftd: a new topic
/// carries the default access policy, and email and HTTP(S) subscriptions
/// stay pending until confirmed (see [`super::fake::FakeAws::confirm_subscription`]).
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
    Error {
        service: SERVICE,
        operation,
        class: ErrorClass::NotFound,
        code: Some("NotFound".into()),
        message: format!("{what} does not exist"),
    }
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

impl super::fake::FakeAws {
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
impl Sns for super::fake::FakeAws {
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
        state
            .tags
            .entry(arn.to_string())
            .or_default()
            .extend(tags.clone());
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
