//! The environments one process reconciles (section 8 of the contract):
//! each with its own AWS clients (its credentials, region and pacer), its
//! owner tag and its account guard. A pass of one environment never waits
//! for another; the implicit `default` environment is the process's own
//! credentials, without a guard, as driftd always ran.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use tokio::time::Instant;
use tracing::{info, warn};

use super::changes;
use super::pass::{self, PassOptions};
use super::prune::{self, PruneReport, Validity};
use super::reconciler::Refs;
use super::report::{ListingError, PassReport, Reason, ResourceError};
use crate::aws::counting::RequestObserver;
use crate::aws::fence::Fence;
use crate::aws::pace::{Pacer, Rate};
use crate::aws::sqs::{Queue, SdkQueue};
use crate::aws::{self, Aws};
use crate::desired::{self, DesiredState, Loaded};
use crate::kinds::{Kind, Resource, DEFAULT_ENVIRONMENT};

/// How long a verified account stays verified: the account of a set of
/// credentials does not change, but the credentials of the process may be
/// replaced (a new task role, rotated keys), so it is checked again now and
/// then rather than once for the life of the process.
pub const ACCOUNT_VERIFIED_FOR: Duration = Duration::from_secs(300);

/// One environment connected: where its calls go and what guards them.
pub struct Target {
    pub name: String,
    pub aws: Aws,
    /// `accountId` of its Environment document: checked with
    /// `sts:GetCallerIdentity` before driftd reads or writes there.
    pub account_id: Option<String>,
    /// When the account was last found to be `account_id`.
    verified: Mutex<Option<Instant>>,
}

impl Target {
    pub fn new(name: &str, aws: Aws, account_id: Option<String>) -> Target {
        Target {
            name: name.to_string(),
            aws,
            account_id,
            verified: Mutex::new(None),
        }
    }

    /// The `driftd:owner` value of this environment: the process's own for
    /// the implicit environment, `<owner>/<environment>` for a declared one,
    /// so that two environments sharing an account never take each other's
    /// resources for their own (nor prune them).
    pub fn owner(&self, owner: &str) -> String {
        owner_in(owner, &self.name)
    }

    /// The account guard: `Ok` when the environment declares no account or
    /// its credentials act in it. A mismatch is an error of every resource
    /// of the environment, and nothing is done there.
    pub async fn check_account(&self) -> Result<(), ResourceError> {
        let Some(expected) = &self.account_id else {
            return Ok(());
        };
        let fresh = |at: &Option<Instant>| at.is_some_and(|t| t.elapsed() < ACCOUNT_VERIFIED_FOR);
        if fresh(&self.verified.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(());
        }
        let actual = self.aws.sts.caller_account().await.map_err(|e| {
            warn!(environment = %self.name, error = %e, "cannot tell which account the credentials act in");
            ResourceError::from_aws(&e)
        })?;
        if actual != *expected {
            warn!(environment = %self.name, expected = %expected, actual = %actual, "account mismatch: nothing is read or written in this environment");
            return Err(ResourceError::new(
                Reason::AccountMismatch,
                format!(
                    "environment {} declares account {expected}, but its credentials act in account {actual}: nothing is done there",
                    self.name
                ),
            ));
        }
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.is_none() {
            info!(environment = %self.name, account = %actual, "account verified");
        }
        *verified = Some(Instant::now());
        Ok(())
    }

    /// The options of a pass in this environment: its owner tag.
    fn options(&self, opts: &PassOptions) -> PassOptions {
        let mut opts = opts.clone();
        opts.owner = self.owner(&opts.owner);
        opts
    }

    /// Reconciles resources of this environment, once its account is verified.
    pub async fn reconcile(
        &self,
        resources: &[&Resource],
        refs: &mut Refs,
        opts: &PassOptions,
    ) -> PassReport {
        if let Err(error) = self.check_account().await {
            return PassReport {
                resources: resources
                    .iter()
                    .map(|r| pass::failed(r, opts, error.clone(), Duration::ZERO))
                    .collect(),
                ..PassReport::default()
            };
        }
        pass::reconcile(&self.aws, resources, refs, &self.options(opts)).await
    }

    /// The prune step of this environment, once its account is verified.
    pub async fn prune(
        &self,
        desired: &DesiredState,
        validity: Validity,
        opts: &PassOptions,
    ) -> PruneReport {
        if let Err(error) = self.check_account().await {
            let mut report = PruneReport::default();
            let kinds = [Kind::Alarm, Kind::Topic, Kind::Dashboard, Kind::Secret];
            let listing = ListingError::new(&self.name, &kinds, error);
            report.problems.errors.push(listing);
            return report;
        }
        prune::prune(
            &self.aws,
            &self.name,
            desired,
            validity,
            &self.options(opts),
        )
        .await
    }
}

/// The `driftd:owner` value of `owner` in `environment`.
pub fn owner_in(owner: &str, environment: &str) -> String {
    if environment == DEFAULT_ENVIRONMENT {
        owner.to_string()
    } else {
        format!("{owner}/{environment}")
    }
}

/// How the clients of an environment are made.
#[derive(Clone)]
pub enum Connector {
    /// From the process's SDK configuration: the environment's region and
    /// role, requests reported to the observer (the daemon's metrics).
    Sdk {
        base: Box<aws_config::SdkConfig>,
        observer: Option<Arc<dyn RequestObserver>>,
        /// With leader election: no write is sent while this replica's
        /// lease is not surely its own.
        fence: Option<Arc<dyn Fence>>,
        /// `--aws-max-rps`: the operator's paces, for every environment's
        /// pacer (each its own: quotas are per account).
        rates: Vec<Rate>,
    },
    /// The same clients for every environment (tests, with the fake).
    Fixed(Aws),
}

impl Connector {
    async fn connect(&self, def: &desired::Environment) -> Aws {
        match self {
            Connector::Fixed(aws) => aws.clone(),
            Connector::Sdk {
                base,
                observer,
                fence,
                rates,
            } => {
                let config = environment_config(base, def).await;
                let pacer = Arc::new(Pacer::with_rates(rates));
                match observer {
                    Some(o) => Aws::counted(&config, o.clone(), fence.clone(), pacer),
                    None => Aws::paced_by(&config, pacer),
                }
            }
        }
    }
}

/// The SDK config of an environment: its region, its role assumed.
async fn environment_config(
    base: &aws_config::SdkConfig,
    def: &desired::Environment,
) -> aws_config::SdkConfig {
    let role = def.role_arn.as_ref().map(|arn| aws::Role {
        arn: arn.clone(),
        external_id: def.external_id.clone(),
        session_name: session_name(&def.name),
    });
    aws::environment_config(base, def.region.as_deref(), role.as_ref()).await
}

/// Opens change-event queues (contract section 9) with the credentials of
/// the environment that names them.
pub struct QueueOpener {
    pub base: aws_config::SdkConfig,
    pub observer: Arc<dyn RequestObserver>,
}

#[async_trait::async_trait]
impl changes::Queues for QueueOpener {
    async fn open(&self, environment: Option<&desired::Environment>, url: &str) -> Arc<dyn Queue> {
        let config = match environment {
            Some(def) => environment_config(&self.base, def).await,
            None => self.base.clone(),
        };
        Arc::new(SdkQueue::counted(&config, self.observer.clone(), url))
    }
}

/// `driftd-<environment>`, within AssumeRole's 64 characters of `[\w+=,.@-]`.
fn session_name(environment: &str) -> String {
    let name: String = format!("driftd-{environment}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    name
}

/// Every environment of the process, by name: its clients are made the
/// first time it is reconciled, and made again when its Environment
/// document changes (another role, region or account), so that a reload of
/// the files takes effect without a restart.
pub struct Fleet {
    connector: Connector,
    /// A std `Mutex`: never held across an `.await`.
    connected: Mutex<BTreeMap<String, (desired::Environment, Arc<Target>)>>,
}

impl Fleet {
    pub fn new(connector: Connector) -> Fleet {
        Fleet {
            connector,
            connected: Mutex::new(BTreeMap::new()),
        }
    }

    /// The clients of this environment, made now if it has none yet or its
    /// definition changed.
    pub async fn target(&self, def: &desired::Environment) -> Arc<Target> {
        let same = |(known, _): &(desired::Environment, Arc<Target>)| {
            known.account_id == def.account_id
                && known.region == def.region
                && known.role_arn == def.role_arn
                && known.external_id == def.external_id
        };
        if let Some((_, target)) = self.lock().get(&def.name).filter(|e| same(e)) {
            return target.clone();
        }
        let aws = self.connector.connect(def).await;
        let target = Arc::new(Target::new(&def.name, aws, def.account_id.clone()));
        let mut connected = self.lock();
        match connected.get(&def.name).filter(|e| same(e)) {
            // Made meanwhile by another task: one set of clients each.
            Some((_, made)) => made.clone(),
            None => {
                connected.insert(def.name.clone(), (def.clone(), target.clone()));
                target
            }
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<String, (desired::Environment, Arc<Target>)>> {
        self.connected.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One pass over every environment of `loaded`, all at once (one
    /// environment's throttling or failing credentials never holds up
    /// another): reconcile, then its prune step. The state was just loaded
    /// without error, so pruning may go ahead (unless an environment is
    /// empty and `allow_empty` is false).
    pub async fn pass(&self, loaded: &Loaded, opts: &PassOptions, allow_empty: bool) -> PassReport {
        let runs = loaded.environments.iter().map(|env| async move {
            let target = self.target(&env.environment).await;
            let resources: Vec<&Resource> = env.state.resources.iter().collect();
            let mut refs = Refs::default();
            let mut report = target.reconcile(&resources, &mut refs, opts).await;
            let validity = Validity::of(&env.state, true, allow_empty);
            report.add_prune(target.prune(&env.state, validity, opts).await);
            report
        });
        let mut report = PassReport::default();
        for one in join_all(runs).await {
            report.resources.extend(one.resources);
            report.prune.extend(one.prune);
        }
        report
    }
}
