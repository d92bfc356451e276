//! SQS: the queue EventBridge delivers change events to (`--events-queue`,
//! contract section 9), long-polled and emptied by driftd.

use async_trait::async_trait;

use super::{Error, ErrorClass};

const SERVICE: &str = "sqs";

/// Messages per ReceiveMessage, the most SQS gives.
pub const BATCH: i32 = 10;
/// Long polling: a ReceiveMessage waits this long for a message (the most
/// SQS allows), so an idle queue costs 3 calls a minute.
pub const WAIT_SECONDS: i32 = 20;

/// One message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    /// What DeleteMessage needs.
    pub receipt: String,
    pub body: String,
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Up to [`BATCH`] messages, waiting up to [`WAIT_SECONDS`] for one.
    async fn receive(&self) -> Result<Vec<Message>, Error>;
    /// Deletes handled messages (at most [`BATCH`] receipts at once).
    async fn delete(&self, receipts: &[String]) -> Result<(), Error>;
}

pub struct SdkQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SdkQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: &str) -> SdkQueue {
        SdkQueue {
            client,
            url: url.to_string(),
        }
    }

    /// The queue at `url`, read with `config`'s credentials and region,
    /// every request reported to `observer` (`driftd_aws_requests_total`).
    pub fn counted(
        config: &aws_config::SdkConfig,
        observer: std::sync::Arc<dyn super::counting::RequestObserver>,
        url: &str,
    ) -> SdkQueue {
        let client = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(config)
                .interceptor(super::counting::CountingInterceptor::new(SERVICE, observer))
                .build(),
        );
        SdkQueue::new(client, url)
    }
}

#[async_trait]
impl Queue for SdkQueue {
    async fn receive(&self) -> Result<Vec<Message>, Error> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(BATCH)
            .wait_time_seconds(WAIT_SECONDS)
            .send()
            .await
            .map_err(|e| Error::from_sdk(SERVICE, "ReceiveMessage", e))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                Some(Message {
                    id: m.message_id()?.to_string(),
                    receipt: m.receipt_handle()?.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                })
            })
            .collect())
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), Error> {
        if receipts.is_empty() {
            return Ok(());
        }
        let mut batch = self.client.delete_message_batch().queue_url(&self.url);
        for (i, receipt) in receipts.iter().enumerate() {
            batch = batch.entries(
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .map_err(|e| {
                        Error::new(
                            SERVICE,
                            "DeleteMessageBatch",
                            ErrorClass::Other,
                            e.to_string(),
                        )
                    })?,
            );
        }
        let out = batch
            .send()
            .await
            .map_err(|e| Error::from_sdk(SERVICE, "DeleteMessageBatch", e))?;
        match out.failed().first() {
            // Not deleted: SQS delivers it again, and it is handled again.
            Some(f) => Err(Error::new(
                SERVICE,
                "DeleteMessageBatch",
                ErrorClass::Other,
                format!(
                    "{} of {} messages not deleted: {}",
                    out.failed().len(),
                    receipts.len(),
                    f.message().unwrap_or(f.code())
                ),
            )),
            None => Ok(()),
        }
    }
}
