//! STS in the in-memory fake: the account its credentials act in. A child
//! of `aws::sts` (declared there, test builds only); see [`crate::aws::fake`].

use super::*;

/// The account every fake ARN is in.
pub const FAKE_ACCOUNT: &str = "123456789012";

/// This service's part of the in-memory fake (see [`crate::aws::fake`]).
#[derive(Debug)]
pub struct FakeState {
    /// What GetCallerIdentity answers.
    pub account: String,
    /// How many times GetCallerIdentity was called.
    pub calls: usize,
    /// When set, GetCallerIdentity fails with it.
    pub failure: Option<Error>,
}

impl Default for FakeState {
    fn default() -> FakeState {
        FakeState {
            account: FAKE_ACCOUNT.to_string(),
            calls: 0,
            failure: None,
        }
    }
}

#[async_trait]
impl Sts for crate::aws::fake::FakeAws {
    async fn caller_account(&self) -> Result<String, Error> {
        let mut state = self.state.lock().unwrap();
        state.sts.calls += 1;
        match &state.sts.failure {
            Some(e) => Err(e.clone()),
            None => Ok(state.sts.account.clone()),
        }
    }
}
