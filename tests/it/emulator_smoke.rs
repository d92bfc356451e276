//! The test fixtures themselves: moto starts, answers and stops.

use crate::common;

#[tokio::test]
async fn moto_starts_and_serves_sns() {
    let moto = common::Moto::start();
    let sns = aws_sdk_sns::Client::new(&moto.sdk_config().await);
    sns.create_topic()
        .name("smoke")
        .send()
        .await
        .expect("create topic");
    let topics = sns.list_topics().send().await.expect("list topics");
    assert_eq!(topics.topics().len(), 1);
    moto.reset();
    let topics = sns.list_topics().send().await.expect("list topics");
    assert!(topics.topics().is_empty(), "reset forgets topics");
}
