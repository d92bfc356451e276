//! SNS: topics, their attributes and subscriptions.
//!
//! SNS has no batch read: a pass walks `ListTopics` once to find every topic
//! by name, then reads each topic's attributes and subscriptions on its own.
//! Tags are read through the tagging seam ([`super::Tagging`]), many ARNs at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use super::pace::{Pace, Paced, Pacer};
use super::Tags;
use super::{Error, ErrorClass};

/// A subscription, identified by (protocol, endpoint).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Subscription {
    pub protocol: String,
    pub endpoint: String,
}

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

    /// Every subscription of each of these topics, by topic ARN, each
    /// topic's read failing on its own; `Err` when the read of all failed.
    /// The SDK client reads the account's whole list (`ListSubscriptions`,
    /// 100 a page) when that takes fewer calls than one
    /// `ListSubscriptionsByTopic` per topic.
    async fn subscriptions_of(&self, arns: &[String]) -> Result<Subscriptions, Error> {
        Ok(by_topic(self, arns).await)
    }

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

/// Subscriptions by topic ARN (see [`Sns::subscriptions_of`]).
pub type Subscriptions = HashMap<String, Result<Vec<TopicSubscription>, Error>>;

/// How many topics' subscriptions are read at once, one topic at a time.
const BY_TOPIC_CONCURRENCY: usize = 4;

/// One `ListSubscriptionsByTopic` walk per topic, a few at once.
async fn by_topic<S: Sns + ?Sized>(sns: &S, arns: &[String]) -> Subscriptions {
    // Owned ARNs: a closure over borrowed ones trips the compiler's
    // higher-ranked lifetime inference inside `async_trait`.
    stream::iter(arns.to_vec())
        .map(|arn: String| async move {
            let read = sns.subscriptions(&arn).await;
            (arn, read)
        })
        .buffer_unordered(BY_TOPIC_CONCURRENCY)
        .collect()
        .await
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
    /// What the account-wide `ListSubscriptions` walk took last time, in
    /// pages (0: never walked): a lower bound when it was given up.
    account_pages: AtomicUsize,
}

impl SdkSns {
    /// Unpaced: [`super::Aws`] gives its clients the process's pacer.
    pub fn new(config: &aws_config::SdkConfig) -> SdkSns {
        SdkSns::from_client(aws_sdk_sns::Client::new(config))
    }

    /// Over a client configured by the caller (e.g. with an interceptor),
    /// less its SDK retries: its calls are retried at their pace ([`Pace::call`]).
    pub fn from_client(client: aws_sdk_sns::Client) -> SdkSns {
        SdkSns {
            client: without_sdk_retries!(aws_sdk_sns, client),
            pace: Pace::unpaced(SERVICE),
            account_pages: AtomicUsize::new(0),
        }
    }

    /// Its calls wait for their turn at the process's pacer (see [`super::pace`]).
    pub fn paced(mut self, pacer: &Arc<Pacer>) -> SdkSns {
        self.pace = Pace::new(pacer, SERVICE);
        self
    }

    /// Every subscription of the account by topic ARN (`ListSubscriptions`),
    /// unless that takes more than `budget` pages (`None`).
    async fn account_subscriptions(
        &self,
        budget: usize,
    ) -> Result<Option<HashMap<String, Vec<TopicSubscription>>>, Error> {
        let mut out: HashMap<String, Vec<TopicSubscription>> = HashMap::new();
        let mut token = None;
        for pages in 1..=budget {
            let page = self
                .client
                .list_subscriptions()
                .set_next_token(token)
                .paced(&self.pace, "ListSubscriptions", |r| r.send())
                .await?;
            for s in page.subscriptions() {
                if let (Some(topic), Some(protocol), Some(endpoint)) =
                    (s.topic_arn(), s.protocol(), s.endpoint())
                {
                    out.entry(topic.to_string())
                        .or_default()
                        .push(TopicSubscription::new(
                            protocol,
                            endpoint,
                            s.subscription_arn(),
                        ));
                }
            }
            token = next_token(page.next_token());
            if token.is_none() {
                self.account_pages.store(pages, Ordering::Relaxed);
                return Ok(Some(out));
            }
        }
        // Needs more than the budget: say so for the next choice.
        self.account_pages.store(budget + 1, Ordering::Relaxed);
        Ok(None)
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
                .paced(&self.pace, "ListTopics", |r| r.send())
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
            .paced(&self.pace, "GetTopicAttributes", |r| r.send())
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
                .paced(&self.pace, "ListSubscriptionsByTopic", |r| r.send())
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

    /// `ListSubscriptions` when it takes fewer calls than one
    /// `ListSubscriptionsByTopic` per topic: tried with a budget of one page
    /// fewer than the topics (each topic's read is at least a call), and
    /// not tried again while the account's list took more pages than there
    /// are topics. Given up, it costs at most that budget on top.
    async fn subscriptions_of(&self, arns: &[String]) -> Result<Subscriptions, Error> {
        let known = self.account_pages.load(Ordering::Relaxed);
        if arns.len() >= 2 && known < arns.len() {
            if let Some(mut all) = self.account_subscriptions(arns.len() - 1).await? {
                return Ok(arns
                    .iter()
                    .map(|arn| (arn.clone(), Ok(all.remove(arn).unwrap_or_default())))
                    .collect());
            }
        }
        Ok(by_topic(self, arns).await)
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
            .paced(&self.pace, OP, |r| r.send())
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
            .paced(&self.pace, "SetTopicAttributes", |r| r.send())
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
            .paced(&self.pace, "Subscribe", |r| r.send())
            .await?;
        Ok(out.subscription_arn().map(str::to_string))
    }

    async fn unsubscribe(&self, subscription_arn: &str) -> Result<(), Error> {
        self.client
            .unsubscribe()
            .subscription_arn(subscription_arn)
            .paced(&self.pace, "Unsubscribe", |r| r.send())
            .await?;
        Ok(())
    }

    async fn tag_topic(&self, arn: &str, tags: &Tags) -> Result<(), Error> {
        const OP: &str = "TagResource";
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(sdk_tags(tags, OP)?))
            .paced(&self.pace, OP, |r| r.send())
            .await?;
        Ok(())
    }

    async fn delete_topic(&self, arn: &str) -> Result<(), Error> {
        match self
            .client
            .delete_topic()
            .topic_arn(arn)
            .paced(&self.pace, "DeleteTopic", |r| r.send())
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
        let out = request.paced(&self.pace, OP, |r| r.send()).await?;
        Ok(out.message_id().map(str::to_string))
    }
}

/// The in-memory fake of this service (test builds only).
#[cfg(test)]
#[path = "fake/sns.rs"]
pub mod fake;
