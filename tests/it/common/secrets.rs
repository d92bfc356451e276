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

/// Creates the secret `name` holding `value`, the way someone at the console
/// would.
pub async fn create_by_hand(sm: &Client, name: &str, value: impl Into<String>) {
    sm.create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create by hand");
}

/// Puts a new current value into the secret `id`, as a rotation would.
pub async fn rotate(sm: &Client, id: &str, value: &str) {
    sm.put_secret_value()
        .secret_id(id)
        .secret_string(value)
        .send()
        .await
        .expect("rotate");
}

/// Schedules the deletion of the secret `id`, restorable for 7 days.
pub async fn schedule_deletion(sm: &Client, id: &str) {
    sm.delete_secret()
        .secret_id(id)
        .recovery_window_in_days(7)
        .send()
        .await
        .expect("delete");
}
