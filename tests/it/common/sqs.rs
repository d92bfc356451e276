//! SQS queues and the EventBridge envelopes of change events, shared by the
//! tests of drift events (driftd publishing) and change events (driftd
//! receiving).

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};

/// SQS as one account's credentials see it.
pub struct Sqs(pub aws_sdk_sqs::Client);

impl Sqs {
    pub fn new(config: &aws_config::SdkConfig) -> Sqs {
        Sqs(aws_sdk_sqs::Client::new(config))
    }

    /// Creates the queue (or finds it, same name) and gives its URL.
    pub async fn create(&self, name: &str) -> String {
        self.0
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue")
            .queue_url()
            .expect("queue URL")
            .to_string()
    }

    pub async fn attribute(&self, url: &str, name: QueueAttributeName) -> Option<String> {
        self.0
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("queue attributes")
            .attributes()
            .and_then(|a| a.get(&name))
            .cloned()
    }

    pub async fn arn(&self, url: &str) -> String {
        self.attribute(url, QueueAttributeName::QueueArn)
            .await
            .expect("queue ARN")
    }

    pub async fn send(&self, url: &str, body: &str) {
        self.0
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .expect("send message");
    }

    /// Messages visible or in flight in the queue.
    pub async fn in_queue(&self, url: &str) -> usize {
        let mut n = 0;
        for name in [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ] {
            n += self
                .attribute(url, name)
                .await
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
        }
        n
    }
}

/// An EventBridge envelope of a CloudTrail management event in `account`
/// (us-east-1), in the shape AWS documents for "AWS API Call via
/// CloudTrail" events: a `detail` that is the CloudTrail record.
pub fn cloudtrail(account: &str, source: &str, name: &str, params: Value) -> String {
    json!({
        "version": "0",
        "id": "c0c2e5b4-1f3a-4d57-9f8e-6d0a3e1b2c4d",
        "detail-type": "AWS API Call via CloudTrail",
        "source": format!("aws.{}", source.trim_end_matches(".amazonaws.com")),
        "account": account,
        "time": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "userName": "someone-in-the-console"},
            "eventTime": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            "eventSource": source,
            "eventName": name,
            "awsRegion": "us-east-1",
            "requestParameters": params,
            "responseElements": null,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": account,
        }
    })
    .to_string()
}
