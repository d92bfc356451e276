//! The lease item of leader election (contract section 7) in a DynamoDB
//! table with a String partition key `id`. Every change is a conditional
//! write: an item is created only where none is, replaced or deleted only
//! while it still carries the version token the writer last saw.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{Error, ErrorClass};

const SERVICE: &str = "dynamodb";

/// The lease as the table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseItem {
    /// `driftd/<owner>`.
    pub id: String,
    /// Who holds it: host (or task) and a random part.
    pub holder: String,
    /// Changes at every renewal.
    pub version: String,
    /// How long the holder may go without renewing, in milliseconds.
    pub duration_ms: u64,
    /// When the holder last wrote it, on the holder's clock (for people:
    /// driftd never compares clocks).
    pub renewed_at: String,
}

#[async_trait]
pub trait LeaseTable: Send + Sync {
    /// The item, read consistently; `None` when there is none.
    async fn read(&self, id: &str) -> Result<Option<LeaseItem>, Error>;

    /// Writes `item` where there is no item (`expected: None`) or where the
    /// item's version is `expected`. `Ok(false)`: the condition failed
    /// (someone else wrote first).
    async fn write(&self, item: &LeaseItem, expected: Option<&str>) -> Result<bool, Error>;

    /// Deletes the item if its version is still `version`.
    async fn release(&self, id: &str, version: &str) -> Result<bool, Error>;
}

pub struct SdkLeaseTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl SdkLeaseTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> SdkLeaseTable {
        SdkLeaseTable {
            client,
            table: table.to_string(),
        }
    }
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// A conditional check that failed is an answer, not an error.
fn condition_failed<E: aws_smithy_types::error::metadata::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

#[async_trait]
impl LeaseTable for SdkLeaseTable {
    async fn read(&self, id: &str) -> Result<Option<LeaseItem>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::from_sdk(SERVICE, "GetItem", e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let unreadable = |what: &str| {
            Error::new(
                SERVICE,
                "GetItem",
                ErrorClass::Other,
                format!("the lease item {id} has no {what}"),
            )
        };
        Ok(Some(LeaseItem {
            id: id.to_string(),
            holder: text(item, "holder").ok_or_else(|| unreadable("holder"))?,
            version: text(item, "version").ok_or_else(|| unreadable("version"))?,
            duration_ms: item
                .get("duration_ms")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| unreadable("duration_ms"))?,
            renewed_at: text(item, "renewed_at").unwrap_or_default(),
        }))
    }

    async fn write(&self, item: &LeaseItem, expected: Option<&str>) -> Result<bool, Error> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(item.id.clone()))
            .item("holder", AttributeValue::S(item.holder.clone()))
            .item("version", AttributeValue::S(item.version.clone()))
            .item(
                "duration_ms",
                AttributeValue::N(item.duration_ms.to_string()),
            )
            .item("renewed_at", AttributeValue::S(item.renewed_at.clone()));
        put = match expected {
            None => put.condition_expression("attribute_not_exists(id)"),
            Some(version) => put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", AttributeValue::S(version.to_string())),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(condition_failed) => Ok(false),
            Err(e) => Err(Error::from_sdk(SERVICE, "PutItem", e)),
        }
    }

    async fn release(&self, id: &str, version: &str) -> Result<bool, Error> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", AttributeValue::S(version.to_string()));
        match delete.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(condition_failed) => Ok(false),
            Err(e) => Err(Error::from_sdk(SERVICE, "DeleteItem", e)),
        }
    }
}
