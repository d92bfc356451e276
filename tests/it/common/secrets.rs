//! Secrets Manager secrets as moto holds them, read straight from it.

use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::Client;

/// The current string value of the secret `id`, if it has one.
pub async fn value(sm: &Client, id: &str) -> Option<String> {
    sm.get_secret_value()
        .secret_id(id)
        .send()
        .await
        .expect("get secret value")
        .secret_string()
        .map(str::to_string)
}

/// The secret `id` as `DescribeSecret` gives it.
pub async fn describe(sm: &Client, id: &str) -> DescribeSecretOutput {
    sm.describe_secret()
        .secret_id(id)
        .send()
        .await
        .expect("describe secret")
}
