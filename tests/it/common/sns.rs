//! SNS topics and subscriptions as moto holds them, read straight from it.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sns::operation::create_topic::builders::CreateTopicFluentBuilder;
use aws_sdk_sns::types::Tag;
use aws_sdk_sns::Client;

/// Every attribute of the topic `arn` (`DisplayName`, `Policy`, ...).
pub async fn topic_attributes(sns: &Client, arn: &str) -> HashMap<String, String> {
    sns.get_topic_attributes()
        .topic_arn(arn)
        .send()
        .await
        .expect("get topic attributes")
        .attributes()
        .cloned()
        .expect("topic attributes")
}

/// One attribute of the topic `arn`, if set.
pub async fn topic_attribute(sns: &Client, arn: &str, attribute: &str) -> Option<String> {
    topic_attributes(sns, arn).await.remove(attribute)
}

/// The tags of the topic `arn`, by key.
pub async fn topic_tags(sns: &Client, arn: &str) -> BTreeMap<String, String> {
    sns.list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .expect("list topic tags")
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// The ARN of the first subscription of the topic `arn` with this protocol.
pub async fn subscription_arn(sns: &Client, arn: &str, protocol: &str) -> String {
    sns.list_subscriptions_by_topic()
        .topic_arn(arn)
        .send()
        .await
        .expect("list subscriptions")
        .subscriptions()
        .iter()
        .find(|s| s.protocol() == Some(protocol))
        .and_then(|s| s.subscription_arn())
        .unwrap_or_else(|| panic!("a {protocol} subscription of {arn}"))
        .to_string()
}

/// A Topic document: `name`, shown as `display_name`.
pub fn topic_yaml(name: &str, display_name: &str) -> String {
    format!(
        "apiVersion: driftd/v1
kind: Topic
metadata:
  name: {name}
spec:
  displayName: {display_name}
"
    )
}

/// Sends this `CreateTopic`; gives the topic's ARN.
pub async fn create(topic: CreateTopicFluentBuilder) -> String {
    topic
        .send()
        .await
        .expect("create topic")
        .topic_arn()
        .expect("topic ARN")
        .to_string()
}

/// The topic tag `key=value`.
pub fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("a tag has a key and a value")
}

/// (protocol, endpoint, subscription ARN) of every subscription of the topic
/// `arn`, sorted; the tests hold few, in one page.
pub async fn subscriptions(sns: &Client, arn: &str) -> Vec<(String, String, String)> {
    let resp = sns
        .list_subscriptions_by_topic()
        .topic_arn(arn)
        .send()
        .await
        .expect("list subscriptions");
    assert!(resp.next_token().is_none(), "tests hold few subscriptions");
    let mut subs: Vec<_> = resp
        .subscriptions()
        .iter()
        .map(|s| {
            (
                s.protocol().unwrap_or_default().to_string(),
                s.endpoint().unwrap_or_default().to_string(),
                s.subscription_arn().unwrap_or_default().to_string(),
            )
        })
        .collect();
    subs.sort();
    subs
}

/// (protocol, endpoint) of every subscription of the topic `arn`, sorted.
pub async fn subscribed(sns: &Client, arn: &str) -> Vec<(String, String)> {
    subscriptions(sns, arn)
        .await
        .into_iter()
        .map(|(protocol, endpoint, _)| (protocol, endpoint))
        .collect()
}

/// Subscribes `endpoint` to the topic `arn` by hand, with the raw SDK.
pub async fn subscribe(sns: &Client, arn: &str, protocol: &str, endpoint: &str) {
    sns.subscribe()
        .topic_arn(arn)
        .protocol(protocol)
        .endpoint(endpoint)
        .send()
        .await
        .expect("subscribe");
}
