//! Resource Groups Tagging API: the tags of many resources in one call.
//!
//! CloudWatch alarms and SNS topics have no batch "describe with tags" call;
//! `GetResources` with a list of up to 100 ARNs returns all their tags at once,
//! so a pass costs one call per 100 resources instead of one per resource.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{Error, SdkResultExt};
use crate::kinds::Tags;

const SERVICE: &str = "tagging";

/// `GetResources` accepts at most 100 ARNs per call.
pub const ARNS_PER_CALL: usize = 100;

#[async_trait]
pub trait Tagging: Send + Sync {
    /// The tags of each of these ARNs. An ARN absent from the answer has no tags.
    async fn tags_of(&self, arns: &[String]) -> Result<HashMap<String, Tags>, Error>;
}

pub struct SdkTagging {
    client: aws_sdk_resourcegroupstagging::Client,
}

impl SdkTagging {
    pub fn new(config: &aws_config::SdkConfig) -> SdkTagging {
        SdkTagging {
            client: aws_sdk_resourcegroupstagging::Client::new(config),
        }
    }

    /// Over a client configured by the caller (e.g. with an interceptor).
    pub fn from_client(client: aws_sdk_resourcegroupstagging::Client) -> SdkTagging {
        SdkTagging { client }
    }
}

#[async_trait]
impl Tagging for SdkTagging {
    async fn tags_of(&self, arns: &[String]) -> Result<HashMap<String, Tags>, Error> {
        let mut out = HashMap::new();
        for chunk in arns.chunks(ARNS_PER_CALL) {
            let mut token: Option<String> = None;
            loop {
                let resp = self
                    .client
                    .get_resources()
                    .set_resource_arn_list(Some(chunk.to_vec()))
                    .set_pagination_token(token.take())
                    .send()
                    .await
                    .op(SERVICE, "GetResources")?;
                for mapping in resp.resource_tag_mapping_list() {
                    let Some(arn) = mapping.resource_arn() else {
                        continue;
                    };
                    let tags = mapping
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect();
                    out.insert(arn.to_string(), tags);
                }
                match resp.pagination_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        Ok(out)
    }
}
