//! Resource Groups Tagging API: the tags of many resources in one call.
//!
//! CloudWatch alarms and SNS topics have no batch "describe with tags" call;
//! `GetResources` with a list of up to 100 ARNs returns all their tags at once,
//! so a pass costs one call per 100 resources instead of one per resource.
//! The same call with a tag filter finds everything this driftd owns, 100
//! resources a page, for pruning.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::pace::{Pace, Paced, Pacer};
use super::Error;
use super::Tags;

const SERVICE: &str = "tagging";

/// `GetResources` accepts at most 100 ARNs per call.
pub const ARNS_PER_CALL: usize = 100;

/// The largest page `GetResources` returns (`ResourcesPerPage`).
pub const RESOURCES_PER_PAGE: i32 = 100;

/// The most tags a page of `GetResources` may hold (100 to 500). A page
/// ends at whichever of this and [`RESOURCES_PER_PAGE`] comes first, and
/// never splits a resource's tags; at the lowest, 100, resources with two
/// tags each (an owner tag and one more) fill a page at 49. Asked for the
/// most, a page holds 100 resources of up to 4 tags each. (moto applies
/// 100 when it is not given, which doubled the pages of the prune listing
/// at N=1000 in `scripts/bench-scale.sh`.)
pub const TAGS_PER_PAGE: i32 = 500;

/// One resource the tag filter matched, with all its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedResource {
    pub arn: String,
    pub tags: Tags,
}

#[async_trait]
pub trait Tagging: Send + Sync {
    /// The tags of each of these ARNs. An ARN absent from the answer has no tags.
    async fn tags_of(&self, arns: &[String]) -> Result<HashMap<String, Tags>, Error>;

    /// Every resource of these types (`cloudwatch:alarm`, `sns:topic`, ...)
    /// that carries the tag `key=value`, across all pages.
    async fn tagged(
        &self,
        key: &str,
        value: &str,
        resource_types: &[&str],
    ) -> Result<Vec<TaggedResource>, Error>;
}

/// The type of a resource as the tagging API names it in
/// `ResourceTypeFilters` (`cloudwatch:alarm`, `sns:topic`,
/// `secretsmanager:secret`), from its ARN; `None` for other ARNs.
pub fn resource_type(arn: &str) -> Option<&'static str> {
    // arn:partition:service:region:account:resource
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some(service), Some(_), Some(_), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    match service {
        "cloudwatch" if resource.starts_with("alarm:") => Some("cloudwatch:alarm"),
        "cloudwatch" if resource.starts_with("dashboard/") => Some("cloudwatch:dashboard"),
        // A subscription's ARN is the topic's with `:<id>` appended.
        "sns" if !resource.contains(':') => Some("sns:topic"),
        "secretsmanager" if resource.starts_with("secret:") => Some("secretsmanager:secret"),
        _ => None,
    }
}

fn tags_of_mapping(mapping: &aws_sdk_resourcegroupstagging::types::ResourceTagMapping) -> Tags {
    mapping
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

pub struct SdkTagging {
    client: aws_sdk_resourcegroupstagging::Client,
    pace: Pace,
}

impl SdkTagging {
    /// Unpaced: [`super::Aws`] gives its clients the process's pacer.
    pub fn new(config: &aws_config::SdkConfig) -> SdkTagging {
        SdkTagging::from_client(aws_sdk_resourcegroupstagging::Client::new(config))
    }

    /// Over a client configured by the caller (e.g. with an interceptor),
    /// less its SDK retries: its calls are retried at their pace ([`Pace::call`]).
    pub fn from_client(client: aws_sdk_resourcegroupstagging::Client) -> SdkTagging {
        SdkTagging {
            client: without_sdk_retries!(aws_sdk_resourcegroupstagging, client),
            pace: Pace::unpaced(SERVICE),
        }
    }

    /// Its calls wait for their turn at the process's pacer (see [`super::pace`]).
    pub fn paced(mut self, pacer: &Arc<Pacer>) -> SdkTagging {
        self.pace = Pace::new(pacer, SERVICE);
        self
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
                    .paced(&self.pace, "GetResources", |r| r.send())
                    .await?;
                for mapping in resp.resource_tag_mapping_list() {
                    let Some(arn) = mapping.resource_arn() else {
                        continue;
                    };
                    out.insert(arn.to_string(), tags_of_mapping(mapping));
                }
                match resp.pagination_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        Ok(out)
    }

    async fn tagged(
        &self,
        key: &str,
        value: &str,
        resource_types: &[&str],
    ) -> Result<Vec<TaggedResource>, Error> {
        let filter = aws_sdk_resourcegroupstagging::types::TagFilter::builder()
            .key(key)
            .values(value)
            .build();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resp = self
                .client
                .get_resources()
                .tag_filters(filter.clone())
                .set_resource_type_filters(Some(
                    resource_types.iter().map(|t| t.to_string()).collect(),
                ))
                .resources_per_page(RESOURCES_PER_PAGE)
                .tags_per_page(TAGS_PER_PAGE)
                .set_pagination_token(token.take())
                .paced(&self.pace, "GetResources", |r| r.send())
                .await?;
            for mapping in resp.resource_tag_mapping_list() {
                if let Some(arn) = mapping.resource_arn() {
                    out.push(TaggedResource {
                        arn: arn.to_string(),
                        tags: tags_of_mapping(mapping),
                    });
                }
            }
            match resp.pagination_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_types_come_from_arns() {
        for (arn, expected) in [
            (
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:team:cpu",
                Some("cloudwatch:alarm"),
            ),
            (
                "arn:aws:cloudwatch::123456789012:dashboard/main",
                Some("cloudwatch:dashboard"),
            ),
            (
                "arn:aws:sns:us-east-1:123456789012:alerts",
                Some("sns:topic"),
            ),
            ("arn:aws:sns:us-east-1:123456789012:alerts:5f6e-41aa", None),
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/api-AbCdEf",
                Some("secretsmanager:secret"),
            ),
            ("arn:aws:ecs:us-east-1:123456789012:service/c/s", None),
            ("not an arn", None),
        ] {
            assert_eq!(resource_type(arn), expected, "{arn}");
        }
    }
}
