//! The run loop of `driftd run`: a full pass at start and every interval, a
//! prompt reconcile of what changed in the desired-state files, retries with
//! per-resource backoff, and a graceful stop.
//!
//! In the style of kube-runtime's controller: every reconcile works from the
//! whole desired state in force and the live state it observes, never from
//! the event that woke the loop; the loop itself only decides *what* to
//! reconcile and *when* ([`Scheduler`]), and runs the batches as tasks, so a
//! slow or failing resource never holds up the others.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{Id, JoinError, JoinSet};
use tokio::time::Instant;
use tracing::{debug, error, info, warn, Instrument};

use super::backoff::{jittered, Backoff};
use super::changes::{self, resolve, Handled, Inbound, Wanted};
use super::fleet::Fleet;
use super::known_tags::TagEffect;
use super::pass::PassOptions;
use super::prune::{PruneReport, Validity};
use super::reconciler::Refs;
use super::report::{
    PassReport, Planned, PruneProblems, Reason, ResourceError, ResourceReport, State,
};
use super::scheduler::{Batch, Key, Outcome, Scheduler};
use super::status::{Count, StatusStore};
use super::watch::Debouncer;
use crate::desired::{DesiredState, Environment, LoadError, LoadErrors, Loaded};
use crate::kinds::{Kind, Resource};

/// Reconciles a batch of resources of one environment: the environment's
/// [`super::fleet::Target::reconcile`] against AWS, or a scripted fake in tests.
#[async_trait]
pub trait Reconcile: Send + Sync + 'static {
    async fn reconcile(
        &self,
        environment: &Environment,
        resources: &[&Resource],
        refs: &mut Refs,
        opts: &PassOptions,
    ) -> PassReport;

    /// The prune step of one environment that ends a full pass:
    /// [`crate::engine::prune::prune`].
    async fn prune(
        &self,
        environment: &Environment,
        desired: &DesiredState,
        validity: Validity,
        opts: &PassOptions,
    ) -> PruneReport;
}

#[async_trait]
impl Reconcile for Fleet {
    async fn reconcile(
        &self,
        environment: &Environment,
        resources: &[&Resource],
        refs: &mut Refs,
        opts: &PassOptions,
    ) -> PassReport {
        let target = self.target(environment).await;
        target.reconcile(resources, refs, opts).await
    }

    async fn prune(
        &self,
        environment: &Environment,
        desired: &DesiredState,
        validity: Validity,
        opts: &PassOptions,
    ) -> PruneReport {
        let target = self.target(environment).await;
        target.prune(desired, validity, opts).await
    }
}

/// Reads the desired-state files (blocking; run off the async threads).
pub type Loader = Arc<dyn Fn() -> Result<Loaded, LoadErrors> + Send + Sync>;

/// How the daemon behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Time between full resyncs (jittered by ±10 %).
    pub interval: Duration,
    /// Options of every reconcile; `apply` is true. `opts.prune` is
    /// `--prune`: what it deletes is never deleted while the files are invalid.
    pub opts: PassOptions,
    /// Batches reconciled at once.
    pub concurrency: usize,
    pub backoff: Backoff,
    pub debouncer: Debouncer,
    /// How long in-flight reconciles may take to finish after a stop signal.
    pub grace: Duration,
    /// `--allow-empty`: a desired state without resources may prune.
    pub allow_empty: bool,
    /// A load of the files that takes longer fails: the daemon keeps
    /// enforcing the last valid state meanwhile, and after.
    pub load_timeout: Duration,
}

impl Settings {
    /// At most this many batches at once: with a full pass batched per kind,
    /// enough for every kind to proceed side by side.
    pub const CONCURRENCY: usize = 4;
    /// Below the 30 s a Kubernetes pod gets between SIGTERM and SIGKILL.
    pub const GRACE: Duration = Duration::from_secs(20);
    /// Loads take milliseconds; the loader never blocks on a file (FIFOs and
    /// devices are refused), so only a stuck file system gets this far.
    pub const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

    pub fn new(interval: Duration, opts: PassOptions) -> Settings {
        Settings {
            interval,
            opts,
            concurrency: Settings::CONCURRENCY,
            backoff: Backoff::DEFAULT,
            debouncer: Debouncer::default(),
            grace: Settings::GRACE,
            allow_empty: false,
            load_timeout: Settings::LOAD_TIMEOUT,
        }
    }
}

/// Lets `/healthz` ask the run loop whether it is alive and responsive.
#[derive(Debug, Clone)]
pub struct Liveness(mpsc::Sender<oneshot::Sender<()>>);

/// The run loop's end of [`Liveness`].
#[derive(Debug)]
pub struct LivenessProbes(pub(crate) mpsc::Receiver<oneshot::Sender<()>>);

/// A connected pair of [`Liveness`] and [`LivenessProbes`].
pub fn liveness() -> (Liveness, LivenessProbes) {
    let (tx, rx) = mpsc::channel(16);
    (Liveness(tx), LivenessProbes(rx))
}

impl Liveness {
    /// Whether the loop answers within `timeout`.
    pub async fn check(&self, timeout: Duration) -> bool {
        let (tx, rx) = oneshot::channel();
        let asked = async { self.0.send(tx).await.is_ok() && rx.await.is_ok() };
        tokio::time::timeout(timeout, asked).await.unwrap_or(false)
    }
}

/// What the daemon tells of its work as it goes (the Prometheus metrics
/// implement it; the engine does not know them).
pub trait Observer: Send + Sync {
    /// One reconcile of one resource: what it found and did.
    fn observe_reconcile(&self, report: &ResourceReport);
    /// The owned resources of a kind could not be listed for pruning.
    fn observe_prune_error(&self, environment: &str, kind: Kind, reason: &str);
    /// The per-resource gauges of a resource of the desired state.
    fn set_resource(&self, key: &Key, in_sync: bool, flapping: bool);
    /// A resource left the desired state: its series go.
    fn forget_resource(&self, key: &Key);
    /// How many resources are in each state, by environment and kind.
    fn set_resource_counts(&self, counts: &[Count]);
    /// A full pass completed at `at` after `duration`.
    fn pass_completed(&self, duration: Duration, at: SystemTime);
    /// A load of the desired-state files, valid or not.
    fn desired_state_loaded(&self, valid: bool);
    /// A change event's resource was reconciled, `took` after the change.
    fn event_reconciled(&self, environment: &str, kind: Kind, took: Duration);
}

/// The daemon: what it needs to run, before it runs.
pub struct Daemon {
    pub settings: Settings,
    pub reconciler: Arc<dyn Reconcile>,
    pub loader: Loader,
    pub metrics: Arc<dyn Observer>,
    pub status: Arc<StatusStore>,
    /// With leader election (`--lease-table`): whether this replica leads.
    /// It reconciles only while it does, and starts with a full pass each
    /// time it becomes the leader. `None`: it always leads.
    pub leading: Option<watch::Receiver<bool>>,
    /// Change events (`--events-queue`, `eventsQueueUrl`).
    pub events: Option<ChangeEvents>,
}

/// AWS's change events, as the queues' listeners hand them over, and where
/// the run loop announces the queues of each desired state it accepts
/// ([`super::changes::supervise`] listens to those).
pub struct ChangeEvents {
    pub inbox: mpsc::Receiver<Inbound>,
    pub queues: watch::Sender<Wanted>,
}

/// The desired state in force, every environment's, indexed by key.
struct Desired {
    loaded: Loaded,
    /// Key -> (environment, resource) positions.
    index: HashMap<Key, (usize, usize)>,
}

impl Desired {
    fn new(loaded: Loaded) -> Desired {
        let index = loaded
            .environments
            .iter()
            .enumerate()
            .flat_map(|(e, env)| {
                env.state
                    .resources
                    .iter()
                    .enumerate()
                    .map(move |(i, r)| (Key::of(r), (e, i)))
            })
            .collect();
        Desired { loaded, index }
    }

    fn get(&self, key: &Key) -> Option<&Resource> {
        self.index
            .get(key)
            .map(|&(e, i)| &self.loaded.environments[e].state.resources[i])
    }

    /// The position of an environment in the state.
    fn environment(&self, name: &str) -> Option<usize> {
        self.loaded
            .environments
            .iter()
            .position(|e| e.environment.name == name)
    }

    fn resources(&self) -> impl Iterator<Item = &Resource> {
        self.loaded
            .environments
            .iter()
            .flat_map(|e| e.state.resources.iter())
    }

    fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.index.keys().cloned()
    }
}

/// A full pass under way: the resources it has yet to reconcile.
struct PassProgress {
    started: Instant,
    started_at: SystemTime,
    pending: HashSet<Key>,
    prune: PruneStage,
    /// The prune steps still running, one per environment.
    prunes_running: usize,
    /// What the prune steps that ended found, all environments together.
    prune_problems: PruneProblems,
}

/// Where a full pass stands once its resources are reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PruneStage {
    /// Reconciling the resources of the pass.
    NotYet,
    /// Waiting for the reconciles under way to finish: the prune step runs
    /// alone, so that no correction races a deletion.
    Waiting,
    Running,
}

/// What a task does.
#[derive(Debug)]
enum Work {
    Batch(Batch),
    /// The prune step of this environment.
    Prune(String),
}

/// What a task hands back.
enum Output {
    Batch(PassReport, Refs),
    Prune(PruneReport),
}

/// The run loop's state.
struct Runner {
    settings: Settings,
    reconciler: Arc<dyn Reconcile>,
    loader: Loader,
    metrics: Arc<dyn Observer>,
    status: Arc<StatusStore>,
    /// The last valid desired state, the one enforced.
    desired: Option<Arc<Desired>>,
    /// Whether the files last loaded without errors.
    desired_valid: bool,
    /// The errors of the last failed load, so that the same ones are not
    /// logged again at every resync.
    last_errors: Vec<LoadError>,
    scheduler: Scheduler,
    debouncer: Debouncer,
    tasks: JoinSet<Output>,
    work: HashMap<Id, Work>,
    pass: Option<PassProgress>,
    next_resync: Instant,
    /// A full pass is wanted as soon as the one under way ends.
    pass_requested: bool,
    /// Topic ARNs known from earlier reconciles, for `topic:` references,
    /// per environment.
    refs: BTreeMap<String, Refs>,
    rng: SmallRng,
    /// The load of the files under way, off the loop: passes, probes and
    /// signals are served while it runs.
    loading: Option<Loading>,
    /// A load that timed out, its thread still reading the files: no other
    /// starts until it ends, so that a stuck file system holds one thread
    /// (and one copy of the files) instead of one more at every resync.
    timed_out: Option<oneshot::Receiver<Result<Loaded, LoadErrors>>>,
    /// This replica leads (always, without leader election).
    leading: bool,
    /// Change events waiting for the reconcile of what they touched.
    waiters: Vec<Waiter>,
    /// Where the queues of the desired state in force are announced.
    queues: Option<watch::Sender<Wanted>>,
}

/// A change event whose resources are to be reconciled.
struct Waiter {
    /// When it reached the loop: only a reconcile started after counts.
    arrived: Instant,
    /// When AWS says the change happened.
    time: Option<SystemTime>,
    keys: HashSet<Key>,
    ok: bool,
    reply: oneshot::Sender<Handled>,
}

/// Events for one resource within this long are reconciled once.
const EVENT_DEBOUNCE: Duration = Duration::from_millis(200);

/// A load of the desired-state files under way on a blocking thread.
struct Loading {
    why: &'static str,
    /// A full pass starts when it ends (a resync, the start).
    then_pass: bool,
    /// The files changed again while they were read: read them once more.
    again: bool,
    started: Instant,
    result: oneshot::Receiver<Result<Loaded, LoadErrors>>,
}

impl Daemon {
    /// Runs until `shutdown` completes, then lets in-flight reconciles finish
    /// (for at most the grace period) and returns. `changes` carries the
    /// watcher's "something changed" signals; `probes` the liveness checks.
    pub async fn run(
        self,
        mut changes: mpsc::Receiver<()>,
        probes: LivenessProbes,
        shutdown: impl Future<Output = ()>,
    ) {
        let LivenessProbes(mut probes) = probes;
        let mut runner = Runner {
            scheduler: Scheduler::new(self.settings.backoff),
            debouncer: self.settings.debouncer.clone(),
            settings: self.settings,
            reconciler: self.reconciler,
            loader: self.loader,
            metrics: self.metrics,
            status: self.status,
            desired: None,
            desired_valid: false,
            last_errors: Vec::new(),
            tasks: JoinSet::new(),
            work: HashMap::new(),
            pass: None,
            next_resync: Instant::now(),
            pass_requested: false,
            refs: BTreeMap::new(),
            rng: SmallRng::from_os_rng(),
            loading: None,
            timed_out: None,
            leading: self.leading.as_ref().is_none_or(|l| *l.borrow()),
            waiters: Vec::new(),
            queues: None,
        };
        let mut leading = self.leading;
        let mut inbox = self.events.map(|e| {
            runner.queues = Some(e.queues);
            e.inbox
        });
        tokio::pin!(shutdown);
        let mut watching = true;
        loop {
            let now = Instant::now();
            if runner.debouncer.take_due(now) {
                runner.begin_load("change", false);
            }
            if runner.pass.is_none() && !runner.pass_pending() && now >= runner.next_resync {
                let why = if runner.desired.is_none() {
                    "start"
                } else {
                    "resync"
                };
                runner.begin_load(why, true);
            }
            runner.start_due(Instant::now());
            let wake = runner.next_wake();
            let load_deadline = runner
                .loading
                .as_ref()
                .map(|l| l.started + runner.settings.load_timeout);
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(reply) = probes.recv() => {
                    let _ = reply.send(()); // the prober gave up waiting: fine
                }
                loaded = loaded(&mut runner.loading) => runner.load_ended(loaded),
                () = sleep_until(load_deadline) => runner.load_timed_out(),
                Some(inbound) = next_event(&mut inbox) => runner.event(inbound),
                changed = changed(&mut leading) => match changed {
                    Some(now_leading) => runner.leadership(now_leading),
                    None => {
                        // The election ended (the process is stopping): lead no more.
                        leading = None;
                        runner.leadership(false);
                    }
                },
                Some(done) = runner.tasks.join_next_with_id(), if !runner.tasks.is_empty() => {
                    runner.finished(done);
                }
                change = changes.recv(), if watching => match change {
                    Some(()) => runner.debouncer.event(Instant::now()),
                    None => {
                        warn!("the desired-state watcher stopped; changes are picked up at each resync");
                        watching = false;
                    }
                },
                () = sleep_until(wake) => {}
            }
        }
        runner.stop(&mut probes).await;
    }
}

/// The outcome of the load under way, when it ends; forever without one.
/// `Err` when the loading thread ended without an answer (it panicked).
async fn loaded(
    loading: &mut Option<Loading>,
) -> Result<Result<Loaded, LoadErrors>, oneshot::error::RecvError> {
    match loading {
        Some(l) => (&mut l.result).await,
        None => std::future::pending().await,
    }
}

/// The next change of leadership, or `None` once the election ended;
/// forever without an election.
async fn changed(leading: &mut Option<watch::Receiver<bool>>) -> Option<bool> {
    match leading {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(*rx.borrow_and_update()),
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

/// The next change event, or forever without a queue.
async fn next_event(inbox: &mut Option<mpsc::Receiver<Inbound>>) -> Option<Inbound> {
    match inbox {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`, or forever.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Runner {
    /// The earliest time something is due: a work item (when a slot is
    /// free), the resync, or the debounced reload.
    fn next_wake(&self) -> Option<Instant> {
        let due = (self.leading && self.tasks.len() < self.settings.concurrency && !self.pruning())
            .then(|| self.scheduler.next_due())
            .flatten();
        let resync = (self.pass.is_none() && !self.pass_pending()).then_some(self.next_resync);
        [due, resync, self.debouncer.deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether the prune step runs or waits to run: nothing else starts then.
    fn pruning(&self) -> bool {
        self.pass
            .as_ref()
            .is_some_and(|p| p.prune != PruneStage::NotYet)
    }

    /// Whether a load under way ends with a full pass.
    fn pass_pending(&self) -> bool {
        self.loading.as_ref().is_some_and(|l| l.then_pass)
    }

    /// Starts reading the files on a blocking thread, unless a load is under
    /// way already (which then also starts the pass, if `then_pass`). A
    /// valid desired state replaces the one in force when the load ends.
    fn begin_load(&mut self, why: &'static str, then_pass: bool) {
        if let Some(loading) = &mut self.loading {
            loading.then_pass |= then_pass;
            loading.again |= why == "change";
            return;
        }
        if self.load_still_stuck() {
            let message = format!(
                "reading the files took longer than {} and has not ended; still enforcing the last valid state",
                humantime::format_duration(self.settings.load_timeout)
            );
            warn!(
                trigger = why,
                "the desired state was not read again: {message}"
            );
            self.reject(vec![self.load_error(message)], SystemTime::now());
            self.after_load(then_pass);
            return;
        }
        let (tx, rx) = oneshot::channel();
        let loader = self.loader.clone();
        // A blocking thread, so that the loop never waits on the files; the
        // process does not wait for it on exit either (see `main`).
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(loader()); // the load timed out: nobody waits
        });
        self.loading = Some(Loading {
            why,
            then_pass,
            again: false,
            started: Instant::now(),
            result: rx,
        });
    }

    /// Whether the thread of a load that timed out is still reading.
    fn load_still_stuck(&mut self) -> bool {
        let Some(result) = &mut self.timed_out else {
            return false;
        };
        if matches!(result.try_recv(), Err(oneshot::error::TryRecvError::Empty)) {
            return true;
        }
        // It ended: what it read is as old as the timeout, read again.
        self.timed_out = None;
        false
    }

    /// A load ended: the new state is accepted or rejected, then the pass
    /// it was for starts.
    fn load_ended(
        &mut self,
        loaded: Result<Result<Loaded, LoadErrors>, oneshot::error::RecvError>,
    ) {
        let Some(loading) = self.loading.take() else {
            return;
        };
        let at = SystemTime::now();
        match loaded {
            Ok(Ok(state)) => self.accept(state, loading.why, at),
            Ok(Err(LoadErrors(errors))) => self.reject(errors, at),
            Err(e) => {
                error!(error = %e, "loading the desired state failed unexpectedly");
                let message = format!("loading failed unexpectedly: {e}");
                self.reject(vec![self.load_error(message)], at);
            }
        }
        debug!(trigger = loading.why, elapsed = ?loading.started.elapsed(), "desired state read");
        self.after_load(loading.then_pass);
        if loading.again {
            self.begin_load("change", false);
        }
    }

    /// A load took longer than the timeout: it counts as a failed load (the
    /// last valid state stays in force, nothing is pruned) and the pass it
    /// was for goes ahead with that state. The thread is left to finish.
    fn load_timed_out(&mut self) {
        let Some(loading) = self.loading.take() else {
            return;
        };
        let timeout = self.settings.load_timeout;
        let message = format!(
            "reading the files took longer than {}; still enforcing the last valid state",
            humantime::format_duration(timeout)
        );
        error!(
            trigger = loading.why,
            "loading the desired state timed out: {message}"
        );
        self.reject(vec![self.load_error(message)], SystemTime::now());
        self.timed_out = Some(loading.result);
        self.after_load(loading.then_pass);
    }

    fn after_load(&mut self, then_pass: bool) {
        let now = Instant::now();
        if self.pass.is_some() {
            return;
        }
        // A resync's pass; or the first valid desired state, come with an edit.
        if then_pass || (!self.status.ready() && self.desired.is_some()) {
            self.start_pass(now);
        }
    }

    /// A problem of the whole load, located at the directory.
    fn load_error(&self, message: String) -> LoadError {
        LoadError {
            file: self.status.desired_path().into(),
            line: None,
            column: None,
            resource: None,
            field: None,
            message,
        }
    }

    fn accept(&mut self, loaded: Loaded, why: &'static str, at: SystemTime) {
        let now = Instant::now();
        if let Some(queues) = &self.queues {
            let wanted = changes::wanted(&loaded);
            queues.send_if_modified(|known| {
                let modified = *known != wanted;
                *known = wanted;
                modified
            });
        }
        let new = Desired::new(loaded);
        let mut added = 0;
        let mut changed = 0;
        for r in new.resources() {
            let key = &Key::of(r);
            match self.desired.as_ref().and_then(|old| old.get(key)) {
                None => added += 1,
                Some(old) if old.spec != r.spec || old.mode != r.mode => changed += 1,
                Some(_) => continue,
            }
            self.scheduler.schedule(key.clone(), now);
        }
        let removed: Vec<Key> = self
            .desired
            .as_ref()
            .map(|old| old.keys().filter(|k| !new.index.contains_key(k)).collect())
            .unwrap_or_default();
        for key in &removed {
            self.scheduler.forget(key);
            self.metrics.forget_resource(key);
            self.settings.opts.guards.forget(key);
            if let Some(pass) = &mut self.pass {
                pass.pending.remove(key);
            }
        }
        if !self.desired_valid && self.desired.is_some() {
            info!(
                resources = new.index.len(),
                "the desired state is valid again"
            );
        }
        if added + changed + removed.len() > 0 {
            info!(
                trigger = why,
                resources = new.index.len(),
                added,
                changed,
                removed = removed.len(),
                "desired state loaded"
            );
        }
        let fixed = !self.desired_valid && self.desired.is_some();
        if self.settings.opts.prune && (!removed.is_empty() || fixed) {
            // Something to prune (or pruning refused while the files were
            // invalid): pruning is part of a full pass, run one as soon as
            // possible (right after the one under way, if any).
            if self.pass.is_some() {
                self.pass_requested = true;
            } else {
                self.next_resync = now;
            }
        }
        let declared: Vec<(Key, crate::kinds::Mode)> = new
            .resources()
            .map(|r| (Key::of(r), r.effective_mode(self.settings.opts.mode)))
            .collect();
        self.status.desired_loaded(&declared, at);
        self.metrics.desired_state_loaded(true);
        self.metrics.set_resource_counts(&self.status.counts());
        self.desired = Some(Arc::new(new));
        self.desired_valid = true;
        self.last_errors.clear();
        self.check_pass(now);
    }

    fn reject(&mut self, errors: Vec<LoadError>, at: SystemTime) {
        self.metrics.desired_state_loaded(false);
        self.status.desired_invalid(&errors, at);
        let enforced = self.desired.as_ref().map_or(0, |d| d.index.len());
        if errors != self.last_errors {
            for e in &errors {
                warn!(file = %e.file.display(), line = e.line, "invalid desired state: {e}");
            }
            if self.desired.is_some() {
                warn!(
                    errors = errors.len(),
                    enforced,
                    "the desired state is invalid: still enforcing the last valid one, pruning nothing"
                );
            } else {
                warn!(
                    errors = errors.len(),
                    "the desired state is invalid: nothing to enforce until the files are fixed"
                );
            }
        } else {
            debug!(errors = errors.len(), "the desired state is still invalid");
        }
        self.desired_valid = false;
        self.last_errors = errors;
    }

    /// A change event: the declared resources it touches are reconciled
    /// shortly (debounced, and coalesced with a pass already under way),
    /// through the same path as any reconcile.
    fn event(&mut self, inbound: Inbound) {
        let Inbound { touched, reply } = inbound;
        let Some(desired) = self.desired.clone().filter(|_| self.leading) else {
            let _ = reply.send(Handled::NotLeading); // the listener gave up: fine
            return;
        };
        let keys = resolve(&touched, &desired.loaded);
        if keys.is_empty() {
            debug!(targets = ?touched.targets, "a change event of nothing declared");
            let _ = reply.send(Handled::Ignored);
            return;
        }
        let now = Instant::now();
        let tags = &self.settings.opts.guards.tags;
        for key in &keys {
            debug!(%key, "change event: reconciling");
            // A key the full pass under way still has to reconcile is read
            // in full, as every pass reads.
            if self.pass.as_ref().is_some_and(|p| p.pending.contains(key)) {
                tags.event(key, &TagEffect::Unknown);
            } else {
                tags.event(key, &touched.tags);
            }
            self.scheduler.schedule(key.clone(), now + EVENT_DEBOUNCE);
        }
        self.waiters.push(Waiter {
            arrived: now,
            time: touched.time,
            keys: keys.into_iter().collect(),
            ok: true,
            reply,
        });
    }

    /// The events waiting for this reconcile of `r` (started at `started`).
    fn event_reconciled(&mut self, r: &ResourceReport, started: Instant) {
        if self.waiters.is_empty() {
            return;
        }
        let key = Key::of_report(r);
        let retry = outcome(r) == Outcome::Retryable;
        let at = SystemTime::now();
        for w in &mut self.waiters {
            if started >= w.arrived && w.keys.remove(&key) {
                w.ok &= !retry;
                if let Some(time) = w.time {
                    let took = at.duration_since(time).unwrap_or_default();
                    self.metrics.event_reconciled(&r.environment, r.kind, took);
                }
            }
        }
        let (done, waiting): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.keys.is_empty());
        self.waiters = waiting;
        for w in done {
            let _ = w.reply.send(Handled::Reconciled(w.ok));
        }
    }

    /// This replica started or stopped leading. A new leader starts with a
    /// full pass; one that stopped starts nothing more (what runs finishes,
    /// and its writes are fenced).
    fn leadership(&mut self, leading: bool) {
        if leading == self.leading {
            return;
        }
        self.leading = leading;
        self.pass = None;
        self.pass_requested = false;
        if leading {
            self.next_resync = Instant::now();
        }
    }

    /// Starts a full pass: every resource of the desired state is due now.
    fn start_pass(&mut self, now: Instant) {
        if !self.leading {
            // A follower reads the files (to say whether they are valid)
            // and nothing else.
            self.next_resync = now + jittered(self.settings.interval, &mut self.rng);
            return;
        }
        let Some(desired) = self.desired.clone() else {
            // Nothing valid to enforce yet: try the files again later.
            self.next_resync = now + jittered(self.settings.interval, &mut self.rng);
            return;
        };
        let pending: HashSet<Key> = desired.keys().collect();
        self.settings.opts.guards.tags.distrust_all();
        for key in &pending {
            self.scheduler.schedule(key.clone(), now);
        }
        debug!(resources = pending.len(), "full pass started");
        self.pass = Some(PassProgress {
            started: now,
            started_at: SystemTime::now(),
            pending,
            prune: PruneStage::NotYet,
            prunes_running: 0,
            prune_problems: PruneProblems::default(),
        });
        self.check_pass(now);
    }

    /// The options of the reconciles started now. While the files are
    /// invalid nothing is pruned, not even a Topic's extra subscriptions.
    fn options(&self) -> PassOptions {
        let mut opts = self.settings.opts.clone();
        opts.prune &= self.desired_valid;
        opts
    }

    /// Starts the batches that are due, as far as free slots allow.
    fn start_due(&mut self, now: Instant) {
        let Some(desired) = self.desired.clone() else {
            return;
        };
        if !self.leading {
            return;
        }
        if self.pruning() {
            return;
        }
        let slots = self.settings.concurrency.saturating_sub(self.tasks.len());
        for batch in self.scheduler.start_due(now, slots) {
            let reconciler = self.reconciler.clone();
            let opts = self.options();
            let mut refs = self
                .refs
                .get(&batch.environment)
                .cloned()
                .unwrap_or_default();
            let Some(e) = desired.environment(&batch.environment) else {
                // Cannot be: batches are made of keys of this state.
                error!(environment = %batch.environment, "a batch of an unknown environment");
                continue;
            };
            let desired = desired.clone();
            let keys: Vec<Key> = batch.keys().collect();
            let span = tracing::debug_span!("batch", kind = %batch.kind, resources = keys.len());
            let handle = self.tasks.spawn(
                async move {
                    let resources: Vec<&Resource> =
                        keys.iter().filter_map(|k| desired.get(k)).collect();
                    let environment = &desired.loaded.environments[e].environment;
                    let report = reconciler
                        .reconcile(environment, &resources, &mut refs, &opts)
                        .await;
                    Output::Batch(report, refs)
                }
                .instrument(span),
            );
            self.work.insert(handle.id(), Work::Batch(batch));
        }
    }

    /// Starts the prune step of the pass once nothing else runs: one task
    /// per environment, side by side.
    fn start_prune(&mut self) {
        let Some(desired) = self.desired.clone() else {
            return;
        };
        if self.settings.opts.stop.is_raised() {
            return;
        }
        let Some(pass) = &mut self.pass else { return };
        if pass.prune != PruneStage::Waiting || !self.tasks.is_empty() {
            return;
        }
        pass.prune = PruneStage::Running;
        pass.prunes_running = desired.loaded.environments.len();
        for (e, env) in desired.loaded.environments.iter().enumerate() {
            let reconciler = self.reconciler.clone();
            // The step itself refuses to delete while the files are invalid
            // (and says so); it needs `--prune` as given to know what it
            // would delete.
            let opts = self.settings.opts.clone();
            let validity = Validity::of(&env.state, self.desired_valid, self.settings.allow_empty);
            let name = env.environment.name.clone();
            let desired = desired.clone();
            let span = tracing::debug_span!("prune", environment = %name);
            let handle = self.tasks.spawn(
                async move {
                    let env = &desired.loaded.environments[e];
                    let report = reconciler
                        .prune(&env.environment, &env.state, validity, &opts)
                        .await;
                    Output::Prune(report)
                }
                .instrument(span),
            );
            self.work.insert(handle.id(), Work::Prune(name));
        }
        if pass.prunes_running == 0 {
            self.complete_pass(Instant::now());
        }
    }

    /// Records a finished task.
    fn finished(&mut self, done: Result<(Id, Output), JoinError>) {
        let id = match &done {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        match (self.work.remove(&id), done) {
            (Some(Work::Batch(batch)), Ok((_, Output::Batch(report, refs)))) => {
                self.refs
                    .entry(batch.environment.clone())
                    .or_default()
                    .topic_arns
                    .extend(refs.topic_arns);
                self.batch_finished(&batch, report);
            }
            (Some(Work::Batch(batch)), Err(e)) => {
                let report = self.crashed(&batch, &e);
                self.batch_finished(&batch, report);
            }
            (Some(Work::Prune(_)), Ok((_, Output::Prune(report)))) => self.prune_finished(report),
            (Some(Work::Prune(environment)), Err(e)) => {
                error!(%environment, error = %e, "the prune step failed");
                self.prune_finished(PruneReport::default());
            }
            (work, _) => error!(?work, "a task finished that does not match its work"),
        }
    }

    /// Records a finished batch: status, metrics, retries, pass progress.
    fn batch_finished(&mut self, batch: &Batch, report: PassReport) {
        let now = Instant::now();
        let at = SystemTime::now();
        let mut seen = HashSet::new();
        let in_batch: HashSet<&str> = batch.names.iter().map(String::as_str).collect();
        for r in &report.resources {
            let key = Key::of_report(r);
            self.metrics.observe_reconcile(r);
            let declared = self
                .desired
                .as_ref()
                .is_some_and(|d| d.index.contains_key(&key));
            if declared || r.state == State::Orphaned || r.action == Planned::Delete {
                self.status.record(r, at);
            }
            if declared {
                self.metrics.set_resource(
                    &key,
                    matches!(r.state, State::InSync | State::Corrected),
                    StatusStore::flapping(r),
                );
            }
            if in_batch.contains(r.name.as_str()) {
                self.event_reconciled(r, batch.started);
            }
            if in_batch.contains(r.name.as_str()) && seen.insert(key.clone()) {
                let retry_at = self.scheduler.finish(&key, outcome(r), now, &mut self.rng);
                if let Some(at) = retry_at {
                    debug!(kind = %key.kind, name = %key.name, retry_in = ?(at - now), "retrying after backoff");
                }
                self.status.set_retry(
                    &key,
                    self.scheduler.failures(&key),
                    retry_at.map(|t| at + (t - now)),
                );
            }
        }
        // Resources of the batch without a report (they left the desired
        // state meanwhile) are done too.
        for key in batch.keys() {
            if !seen.contains(&key) {
                self.scheduler
                    .finish(&key, Outcome::Done, now, &mut self.rng);
            }
        }
        self.metrics.set_resource_counts(&self.status.counts());
        if let Some(pass) = &mut self.pass {
            if batch.started >= pass.started {
                for key in batch.keys() {
                    pass.pending.remove(&key);
                }
            }
        }
        self.check_pass(now);
    }

    /// Records what the prune step of one environment found and did; the
    /// last one to end completes the pass.
    fn prune_finished(&mut self, report: PruneReport) {
        let at = SystemTime::now();
        for r in &report.resources {
            self.metrics.observe_reconcile(r);
            self.status.record(r, at);
        }
        for e in &report.problems.errors {
            for kind in &e.kinds {
                self.metrics
                    .observe_prune_error(&e.environment, *kind, e.error.reason.as_str());
            }
        }
        self.metrics.set_resource_counts(&self.status.counts());
        let Some(pass) = &mut self.pass else { return };
        pass.prune_problems.extend(report.problems);
        pass.prunes_running = pass.prunes_running.saturating_sub(1);
        if pass.prunes_running == 0 {
            self.status.prune_completed(&pass.prune_problems);
            self.complete_pass(Instant::now());
        }
    }

    /// Reports for a batch whose task panicked: a bug, reported as an error
    /// of each of its resources, and not retried before the next resync.
    fn crashed(&self, batch: &Batch, e: &JoinError) -> PassReport {
        error!(kind = %batch.kind, error = %e, "a reconcile task failed");
        let resources = batch
            .names
            .iter()
            .map(|name| ResourceReport {
                environment: batch.environment.clone(),
                kind: batch.kind,
                name: name.clone(),
                mode: self
                    .desired
                    .as_ref()
                    .and_then(|d| d.get(&Key::new(&batch.environment, batch.kind, name)))
                    .map_or(self.settings.opts.mode, |r| {
                        r.effective_mode(self.settings.opts.mode)
                    }),
                action: Planned::Error,
                state: State::Error,
                changes: Vec::new(),
                notes: Vec::new(),
                error: Some(ResourceError {
                    reason: Reason::Internal,
                    message: "the reconcile task failed; see the logs".to_string(),
                    retryable: false,
                }),
                duration: Duration::ZERO,
            })
            .collect();
        PassReport {
            resources,
            ..PassReport::default()
        }
    }

    /// Once every resource of the full pass was reconciled, its prune step
    /// is due.
    fn check_pass(&mut self, _now: Instant) {
        if let Some(pass) = &mut self.pass {
            if pass.pending.is_empty() && pass.prune == PruneStage::NotYet {
                pass.prune = PruneStage::Waiting;
            }
        }
        self.start_prune();
    }

    /// Completes the full pass after its prune step.
    fn complete_pass(&mut self, now: Instant) {
        let Some(pass) = self.pass.take() else {
            return;
        };
        let duration = now - pass.started;
        let at = SystemTime::now();
        self.metrics.pass_completed(duration, at);
        self.status.pass_completed(pass.started_at, duration, at);
        // Passes never overlap: the next one starts an interval after this
        // one started, or right away when this one took longer than that.
        self.next_resync =
            (pass.started + jittered(self.settings.interval, &mut self.rng)).max(now);
        if std::mem::take(&mut self.pass_requested) {
            self.next_resync = now;
        }
        let counts = self.status.counts();
        let count = |state: State| -> usize {
            counts
                .iter()
                .filter(|c| c.state == state)
                .map(|c| c.resources)
                .sum()
        };
        info!(
            duration = ?duration,
            in_sync = count(State::InSync),
            corrected = count(State::Corrected),
            drifted = count(State::Drifted),
            errors = count(State::Error),
            orphaned = count(State::Orphaned),
            next_in = ?(self.next_resync - now),
            "pass completed"
        );
    }

    /// After the stop signal: no new reconcile starts, no new write starts
    /// in those running; they get the grace period to finish.
    async fn stop(&mut self, probes: &mut mpsc::Receiver<oneshot::Sender<()>>) {
        self.settings.opts.stop.raise();
        self.status.set_stopping();
        if self.tasks.is_empty() {
            info!("stopped");
            return;
        }
        info!(
            in_flight = self.tasks.len(),
            grace = ?self.settings.grace,
            "stopping: letting in-flight reconciles finish"
        );
        let deadline = Instant::now() + self.settings.grace;
        while !self.tasks.is_empty() {
            tokio::select! {
                Some(done) = self.tasks.join_next_with_id() => self.finished(done),
                Some(reply) = probes.recv() => {
                    let _ = reply.send(()); // the prober gave up waiting: fine
                }
                () = tokio::time::sleep_until(deadline) => {
                    warn!(
                        in_flight = self.tasks.len(),
                        "grace period over: abandoning the reconciles still running"
                    );
                    self.tasks.abort_all();
                    return;
                }
            }
        }
        info!("stopped");
    }
}

/// How a reconcile ended, for scheduling.
fn outcome(r: &ResourceReport) -> Outcome {
    match (&r.state, &r.error) {
        (State::Error, Some(e)) if e.retryable => Outcome::Retryable,
        (State::Error, _) => Outcome::Permanent,
        _ => Outcome::Done,
    }
}

#[cfg(test)]
mod tests {
    //! The run loop with a scripted reconciler and paused time: what runs
    //! when, and with what.

    use std::collections::VecDeque;
    use std::path::PathBuf;
    use std::sync::Mutex;

    use tokio::task::JoinHandle;

    use super::*;
    use crate::kinds::{Mode, Origin, Spec};
    use crate::metrics::Metrics;

    /// A resource of `kind` with a spec given in YAML.
    fn resource(kind: Kind, name: &str, spec: &str) -> Resource {
        let spec = match kind {
            Kind::Topic => Spec::Topic(serde_yaml::from_str(spec).unwrap()),
            Kind::Secret => Spec::Secret(serde_yaml::from_str(spec).unwrap()),
            Kind::Dashboard => Spec::Dashboard(serde_yaml::from_str(spec).unwrap()),
            Kind::Alarm => Spec::Alarm(serde_yaml::from_str(spec).unwrap()),
            Kind::EcsService => Spec::EcsService(serde_yaml::from_str(spec).unwrap()),
        };
        Resource {
            environment: crate::kinds::DEFAULT_ENVIRONMENT.to_string(),
            name: name.to_string(),
            mode: None,
            origin: Origin {
                file: PathBuf::from("desired/t.yaml"),
                line: 1,
                column: 1,
            },
            spec,
        }
    }

    fn secret(name: &str, description: &str) -> Resource {
        resource(Kind::Secret, name, &format!("description: {description}"))
    }

    fn alarm(name: &str) -> Resource {
        resource(
            Kind::Alarm,
            name,
            "{evaluationPeriods: 1, threshold: 1, comparisonOperator: GreaterThanThreshold, alarmActions: ['topic:alerts']}",
        )
    }

    fn topic(name: &str) -> Resource {
        resource(Kind::Topic, name, "displayName: Alerts")
    }

    /// Secrets "a" and "b".
    fn a_and_b() -> Result<DesiredState, LoadErrors> {
        state(vec![secret("a", "x"), secret("b", "x")])
    }

    fn state(resources: Vec<Resource>) -> Result<DesiredState, LoadErrors> {
        Ok(DesiredState { resources })
    }

    fn invalid() -> Result<DesiredState, LoadErrors> {
        Err(LoadErrors(vec![LoadError {
            file: "desired/t.yaml".into(),
            line: Some(2),
            column: Some(3),
            resource: Some("Secret a".into()),
            field: Some("spec.descriptoin".into()),
            message: "unknown field (did you mean description?)".into(),
        }]))
    }

    /// One call of the fake reconciler.
    #[derive(Debug, Clone)]
    struct Call {
        at: Instant,
        kind: Kind,
        names: Vec<String>,
        /// The description of each secret, to tell which spec was reconciled.
        descriptions: Vec<Option<String>>,
        refs: Refs,
    }

    /// A reconciler whose resources are in sync unless scripted to fail;
    /// each call takes `delay`. It checks that no resource is reconciled by
    /// two calls at once.
    #[derive(Default)]
    struct Fake {
        calls: Mutex<Vec<Call>>,
        running: Mutex<HashSet<Key>>,
        overlaps: Mutex<Vec<Key>>,
        errors: Mutex<HashMap<String, VecDeque<ResourceError>>>,
        delay: Mutex<Duration>,
        /// Whether the stop flag was raised when each call ended.
        stopped_at_end: Mutex<Vec<bool>>,
        /// Each prune step: when, with what validity and `opts.prune`, and
        /// how many resources were being reconciled meanwhile.
        prunes: Mutex<Vec<(Instant, Validity, bool, usize)>>,
        /// The orphans the prune step reports.
        orphans: Mutex<Vec<String>>,
        /// The `opts.prune` of each reconcile.
        prune_opts: Mutex<Vec<bool>>,
        /// How long each prune step takes.
        prune_delay: Mutex<Duration>,
    }

    impl Fake {
        /// A fake whose every reconcile takes `delay`.
        fn slow(delay: Duration) -> Fake {
            let fake = Fake::default();
            *fake.delay.lock().unwrap() = delay;
            fake
        }

        fn fail(&self, name: &str, times: usize, retryable: bool) {
            let e = ResourceError {
                reason: if retryable {
                    Reason::Throttled
                } else {
                    Reason::AccessDenied
                },
                message: "scripted".into(),
                retryable,
            };
            self.errors
                .lock()
                .unwrap()
                .insert(name.into(), std::iter::repeat_n(e, times).collect());
        }

        fn calls(&self) -> Vec<Call> {
            self.calls.lock().unwrap().clone()
        }

        /// Calls that reconciled `name`, by time.
        fn calls_of(&self, name: &str) -> Vec<Instant> {
            self.calls()
                .into_iter()
                .filter(|c| c.names.iter().any(|n| n == name))
                .map(|c| c.at)
                .collect()
        }
    }

    #[async_trait]
    impl Reconcile for Fake {
        async fn reconcile(
            &self,
            _environment: &Environment,
            resources: &[&Resource],
            refs: &mut Refs,
            opts: &PassOptions,
        ) -> PassReport {
            let keys: Vec<Key> = resources.iter().map(|r| Key::of(r)).collect();
            {
                let mut running = self.running.lock().unwrap();
                for k in &keys {
                    if !running.insert(k.clone()) {
                        self.overlaps.lock().unwrap().push(k.clone());
                    }
                }
            }
            self.calls.lock().unwrap().push(Call {
                at: Instant::now(),
                kind: resources[0].kind(),
                names: resources.iter().map(|r| r.name.clone()).collect(),
                descriptions: resources
                    .iter()
                    .map(|r| match &r.spec {
                        Spec::Secret(s) => s.description.clone(),
                        _ => None,
                    })
                    .collect(),
                refs: refs.clone(),
            });
            let delay = *self.delay.lock().unwrap();
            tokio::time::sleep(delay).await;
            let mut report = PassReport::default();
            for r in resources {
                if r.kind() == Kind::Topic {
                    refs.topic_arns.insert(
                        r.name.clone(),
                        format!("arn:aws:sns:us-east-1:1:{}", r.name),
                    );
                }
                let error = self
                    .errors
                    .lock()
                    .unwrap()
                    .get_mut(&r.name)
                    .and_then(VecDeque::pop_front);
                let (action, state) = if error.is_some() {
                    (Planned::Error, State::Error)
                } else {
                    (Planned::InSync, State::InSync)
                };
                report.resources.push(ResourceReport {
                    mode: r.effective_mode(opts.mode),
                    error,
                    duration: delay,
                    ..ResourceReport::test(r.kind(), &r.name, action, state)
                });
            }
            let mut running = self.running.lock().unwrap();
            for k in &keys {
                running.remove(k);
            }
            self.stopped_at_end
                .lock()
                .unwrap()
                .push(opts.stop.is_raised());
            self.prune_opts.lock().unwrap().push(opts.prune);
            report
        }

        async fn prune(
            &self,
            _environment: &Environment,
            _desired: &DesiredState,
            validity: Validity,
            opts: &PassOptions,
        ) -> PruneReport {
            let running = self.running.lock().unwrap().len();
            self.prunes
                .lock()
                .unwrap()
                .push((Instant::now(), validity, opts.prune, running));
            let delay = *self.prune_delay.lock().unwrap();
            tokio::time::sleep(delay).await;
            let resources = self
                .orphans
                .lock()
                .unwrap()
                .iter()
                .map(|name| ResourceReport {
                    mode: opts.mode,
                    notes: vec!["not in the desired state: only --prune deletes it".into()],
                    ..ResourceReport::test(Kind::Secret, name, Planned::Orphaned, State::Orphaned)
                })
                .collect();
            PruneReport {
                resources,
                problems: Default::default(),
            }
        }
    }

    fn unstick(stuck: &(Mutex<bool>, std::sync::Condvar)) {
        *stuck.0.lock().unwrap() = false;
        stuck.1.notify_all();
    }

    /// Moves paused time in steps until `cond` holds, within 10 s of real
    /// time: a blocked load keeps paused time from moving by itself.
    async fn nudge_until(step: Duration, cond: impl Fn() -> bool) {
        let began = std::time::Instant::now();
        while !cond() && began.elapsed() < Duration::from_secs(10) {
            tokio::time::advance(step).await;
            tokio::task::yield_now().await;
        }
    }

    struct Harness {
        fake: Arc<Fake>,
        files: Arc<Mutex<Result<DesiredState, LoadErrors>>>,
        /// While true, a load blocks (a stuck file system).
        stuck: Arc<(Mutex<bool>, std::sync::Condvar)>,
        loads: Arc<Mutex<usize>>,
        status: Arc<StatusStore>,
        metrics: Arc<Metrics>,
        liveness: Liveness,
        changes: mpsc::Sender<()>,
        shutdown: Option<oneshot::Sender<()>>,
        daemon: JoinHandle<()>,
        started: Instant,
    }

    /// A test that fails while a load is stuck must fail, not hang: the
    /// runtime waits for its blocking threads when it is dropped.
    impl Drop for Harness {
        fn drop(&mut self) {
            unstick(&self.stuck);
        }
    }

    impl Harness {
        /// Secrets "bad", whose first `failures` reconciles are throttled,
        /// and "good".
        fn bad_and_good(failures: usize) -> Harness {
            let fake = Fake::default();
            fake.fail("bad", failures, true);
            Harness::start(state(vec![secret("bad", "x"), secret("good", "x")]), fake)
        }

        /// Secret "a" with this description, whose reconciles take `slow`,
        /// one second into its first reconcile.
        async fn in_a_slow_reconcile(slow: Duration, description: &str) -> Harness {
            let h = Harness::start(state(vec![secret("a", description)]), Fake::slow(slow));
            tokio::time::sleep(secs(1)).await;
            h
        }

        /// Started on these files with the default fake, its first pass done.
        async fn ready(files: Result<DesiredState, LoadErrors>) -> Harness {
            let h = Harness::start(files, Fake::default());
            h.until(secs(1), |h| h.status.ready()).await;
            h
        }

        fn start(files: Result<DesiredState, LoadErrors>, fake: Fake) -> Harness {
            Harness::with(files, fake, |_| {})
        }

        fn with(
            files: Result<DesiredState, LoadErrors>,
            fake: Fake,
            tune: impl FnOnce(&mut Settings),
        ) -> Harness {
            let fake = Arc::new(fake);
            let files = Arc::new(Mutex::new(files));
            let loads = Arc::new(Mutex::new(0));
            let stuck = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
            let loader: Loader = {
                let files = files.clone();
                let loads = loads.clone();
                let stuck = stuck.clone();
                Arc::new(move || {
                    *loads.lock().unwrap() += 1;
                    let (held, released) = &*stuck;
                    let _held = released
                        .wait_while(held.lock().unwrap(), |held| *held)
                        .unwrap();
                    files.lock().unwrap().clone().map(Loaded::single)
                })
            };
            let opts = PassOptions::test(true, Mode::Enforce);
            let mut settings = Settings::new(Duration::from_secs(60), opts);
            tune(&mut settings);
            let status = Arc::new(StatusStore::new(std::path::Path::new("desired")));
            let metrics = Arc::new(Metrics::new().unwrap());
            let (liveness, probes) = liveness();
            let (changes, changes_rx) = mpsc::channel(4);
            let (shutdown, shutdown_rx) = oneshot::channel::<()>();
            let daemon = Daemon {
                settings,
                reconciler: fake.clone(),
                loader,
                metrics: metrics.clone(),
                status: status.clone(),
                leading: None,
                events: None,
            };
            let daemon = tokio::spawn(daemon.run(changes_rx, probes, async {
                let _ = shutdown_rx.await; // a dropped sender stops it too
            }));
            Harness {
                fake,
                files,
                stuck,
                loads,
                status,
                metrics,
                liveness,
                changes,
                shutdown: Some(shutdown),
                daemon,
                started: Instant::now(),
            }
        }

        /// Makes every load block until [`Harness::unstick`].
        fn stick(&self) {
            *self.stuck.0.lock().unwrap() = true;
        }

        /// Replaces the files and signals the change, as the watcher would.
        async fn edit(&self, files: Result<DesiredState, LoadErrors>) -> Instant {
            *self.files.lock().unwrap() = files;
            self.changes.send(()).await.unwrap();
            Instant::now()
        }

        /// Waits (in paused time) until `cond` holds, for at most `limit`.
        async fn until(&self, limit: Duration, cond: impl Fn(&Harness) -> bool) {
            let deadline = Instant::now() + limit;
            while !cond(self) {
                assert!(
                    Instant::now() < deadline,
                    "condition not met within {limit:?}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }

        /// Stops the daemon, then lets a stuck load end (the test's runtime
        /// waits for its blocking threads when it is dropped).
        async fn stop_leaving_loads_stuck(self) -> Duration {
            let stuck = self.stuck.clone();
            let took = self.stop().await;
            unstick(&stuck);
            took
        }

        async fn stop(mut self) -> Duration {
            let asked = Instant::now();
            if let Some(tx) = self.shutdown.take() {
                let _ = tx.send(());
            }
            (&mut self.daemon).await.unwrap();
            asked.elapsed()
        }

        fn metric(&self, series: &str) -> Option<f64> {
            let text = self.metrics.encode().unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
                .and_then(|v| v.parse().ok())
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test(start_paused = true)]
    async fn a_pass_at_start_makes_it_ready_then_one_every_interval() {
        let h = Harness::ready(state(vec![
            secret("a", "x"),
            secret("b", "x"),
            topic("alerts"),
        ]))
        .await;
        let calls = h.fake.calls();
        assert_eq!(calls.len(), 2, "one batch per kind: {calls:?}");
        assert_eq!(
            h.metric("driftd_resource_in_sync{env=\"default\",kind=\"Secret\",name=\"a\"}"),
            Some(1.0)
        );
        assert_eq!(
            h.metric("driftd_resources{env=\"default\",kind=\"Secret\",state=\"in_sync\"}"),
            Some(2.0)
        );
        assert!(h.metric("driftd_last_pass_timestamp_seconds").unwrap() > 0.0);
        // The resync: every 60 s ± 10 %, each a full pass, and nothing between.
        let mut passes = vec![h.started];
        for _ in 0..4 {
            let before = h.fake.calls().len();
            h.until(secs(70), |h| h.fake.calls().len() >= before + 2)
                .await;
            passes.push(h.fake.calls()[before].at);
        }
        for w in passes.windows(2) {
            let gap = w[1] - w[0];
            assert!(gap >= secs(54) && gap <= secs(66), "resync after {gap:?}");
        }
        // Each resync reads the files again (a safety net for missed events).
        assert_eq!(*h.loads.lock().unwrap(), 5);
        assert!(h.liveness.check(secs(1)).await);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_load_neither_freezes_the_loop_nor_stops_enforcement() {
        let h = Harness::ready(state(vec![secret("a", "x")])).await;
        h.stick();
        h.edit(state(vec![secret("a", "y")])).await;
        // The blocked load keeps paused time from moving by itself: move it.
        for _ in 0..20 {
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        // The loading thread runs in real time: give it a moment to begin.
        let began = std::time::Instant::now();
        while *h.loads.lock().unwrap() < 2 && began.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(*h.loads.lock().unwrap(), 2, "the edit's load is under way");
        assert!(h.liveness.check(secs(1)).await, "the loop answers probes");
        let status = h.status.snapshot();
        assert!(status.ready && status.desired_state.valid);

        // Past the timeout: a failed load, said everywhere; the last valid
        // state is still the one enforced, and its resync pass runs.
        let before = h.fake.calls().len();
        for _ in 0..70 {
            tokio::time::advance(secs(1)).await;
        }
        // The pass runs on the loop's own schedule: on a loaded machine it
        // may still be under way. Paused time cannot move by itself while
        // the load is blocked, so nudge it, within a bound of real time.
        nudge_until(Duration::from_millis(10), || h.fake.calls().len() > before).await;
        let status = h.status.snapshot();
        assert!(!status.desired_state.valid, "{:?}", status.desired_state);
        // The timeout, or a resync's refusal to read behind the stuck load.
        let said = &status.desired_state.errors[0].message;
        assert!(
            said.contains("took longer than 10s")
                && said.contains("still enforcing the last valid state"),
            "{:?}",
            status.desired_state.errors
        );
        assert_eq!(h.metric("driftd_desired_state_valid"), Some(0.0));
        assert!(h.fake.calls().len() > before, "the resync pass ran");
        assert!(h.liveness.check(secs(1)).await);
        // The resyncs go on without reading the files again while the stuck
        // read has not ended: one blocked thread, not one more per resync.
        let before = h.fake.calls().len();
        for _ in 0..130 {
            tokio::time::advance(secs(1)).await;
        }
        nudge_until(Duration::from_millis(10), || h.fake.calls().len() > before).await;
        assert!(h.fake.calls().len() > before, "the resyncs' passes ran");
        assert_eq!(*h.loads.lock().unwrap(), 2, "no second read piled up");
        let status = h.status.snapshot();
        assert!(
            status.desired_state.errors[0]
                .message
                .contains("took longer than 10s and has not ended"),
            "{:?}",
            status.desired_state.errors
        );
        // Once it ends, the next resync reads the files again.
        unstick(&h.stuck);
        nudge_until(Duration::from_millis(100), || *h.loads.lock().unwrap() >= 3).await;
        assert_eq!(*h.loads.lock().unwrap(), 3, "read again once unstuck");
        h.stick();
        h.edit(state(vec![secret("a", "z")])).await;
        nudge_until(Duration::from_millis(100), || *h.loads.lock().unwrap() >= 4).await;
        assert_eq!(*h.loads.lock().unwrap(), 4, "the edit's load is stuck");

        // A signal ends the daemon at once, the load still stuck.
        let took = h.stop_leaving_loads_stuck().await;
        assert!(took < secs(1), "stopped after {took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_edit_reconciles_just_what_changed_within_the_debounce() {
        let h = Harness::ready(a_and_b()).await;
        tokio::time::sleep(secs(5)).await;
        let edited = h
            .edit(state(vec![secret("a", "edited"), secret("b", "x")]))
            .await;
        h.until(secs(2), |h| h.fake.calls().len() == 2).await;
        let call = h.fake.calls()[1].clone();
        assert_eq!(call.names, ["a"]);
        assert_eq!(call.descriptions, [Some("edited".to_string())]);
        let latency = call.at - edited;
        assert!(
            latency <= Debouncer::QUIET + Duration::from_millis(20),
            "{latency:?}"
        );
        // An edit that changes nothing (a comment, a reordering) reconciles nothing.
        h.edit(state(vec![secret("b", "x"), secret("a", "edited")]))
            .await;
        tokio::time::sleep(secs(2)).await;
        assert_eq!(h.fake.calls().len(), 2);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_events_is_one_reload() {
        let h = Harness::ready(state(vec![secret("a", "x")])).await;
        let loads = *h.loads.lock().unwrap();
        for _ in 0..3 {
            h.changes.send(()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        tokio::time::sleep(secs(1)).await;
        assert_eq!(*h.loads.lock().unwrap(), loads + 1);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_resource_backs_off_without_delaying_the_others() {
        let h = Harness::bad_and_good(4);
        h.until(secs(1), |h| h.status.ready()).await;
        h.until(secs(30), |h| h.fake.calls_of("bad").len() == 5)
            .await;
        let bad = h.fake.calls_of("bad");
        let gaps: Vec<Duration> = bad.windows(2).map(|w| w[1] - w[0]).collect();
        for (gap, nominal) in gaps.iter().zip([1, 2, 4, 8].map(secs)) {
            assert!(*gap >= nominal / 2 && *gap <= nominal, "{gaps:?}");
        }
        // Retries ran on their own: "good" was reconciled once, at the start.
        assert_eq!(h.fake.calls_of("good").len(), 1);
        assert!(h.fake.calls().iter().skip(1).all(|c| c.names == ["bad"]));
        assert_eq!(
            h.metric("driftd_reconcile_errors_total{env=\"default\",kind=\"Secret\",reason=\"throttled\"}"),
            Some(4.0)
        );
        let status = h.status.snapshot();
        let bad = status.resources.iter().find(|r| r.name == "bad").unwrap();
        assert_eq!(bad.state, Some(State::InSync));
        assert_eq!(bad.consecutive_failures, 0);
        assert_eq!(bad.last_error.as_ref().unwrap().reason, Reason::Throttled);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_edit_is_not_held_up_by_a_resource_in_backoff() {
        let h = Harness::bad_and_good(100);
        h.until(secs(20), |h| h.fake.calls_of("bad").len() == 5)
            .await;
        let edited = h
            .edit(state(vec![secret("bad", "x"), secret("good", "edited")]))
            .await;
        h.until(secs(1), |h| h.fake.calls_of("good").len() == 2)
            .await;
        assert!(*h.fake.calls_of("good").last().unwrap() - edited < Duration::from_millis(200));
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_wait_for_a_change_or_the_resync() {
        let fake = Fake::default();
        fake.fail("denied", 2, false);
        let h = Harness::start(state(vec![secret("denied", "x")]), fake);
        h.until(secs(1), |h| h.status.ready()).await;
        tokio::time::sleep(secs(50)).await;
        assert_eq!(h.fake.calls_of("denied").len(), 1);
        let status = h.status.snapshot();
        assert_eq!(status.resources[0].state, Some(State::Error));
        assert_eq!(status.resources[0].next_retry_at, None);
        // A change of its desired state tries again at once ...
        h.edit(state(vec![secret("denied", "y")])).await;
        h.until(secs(1), |h| h.fake.calls_of("denied").len() == 2)
            .await;
        // ... and so does the resync.
        h.until(secs(70), |h| h.fake.calls_of("denied").len() == 3)
            .await;
        assert_eq!(h.status.snapshot().resources[0].state, Some(State::InSync));
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_resource_is_never_reconciled_twice_at_once() {
        let h = Harness::in_a_slow_reconcile(secs(5), "v1").await;
        // Edited twice while its first reconcile runs.
        h.edit(state(vec![secret("a", "v2")])).await;
        tokio::time::sleep(secs(1)).await;
        h.edit(state(vec![secret("a", "v3")])).await;
        h.until(secs(20), |h| h.fake.calls().len() == 2).await;
        tokio::time::sleep(secs(10)).await;
        let calls = h.fake.calls();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(h.fake.overlaps.lock().unwrap().is_empty());
        // The second run started when the first ended, with the latest spec.
        assert_eq!(calls[1].at - calls[0].at, secs(5));
        assert_eq!(calls[1].descriptions, [Some("v3".to_string())]);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn alarms_are_reconciled_after_topics_and_see_their_arns() {
        let fake = Fake::slow(secs(1));
        let h = Harness::start(state(vec![alarm("cpu"), topic("alerts")]), fake);
        h.until(secs(5), |h| h.status.ready()).await;
        let calls = h.fake.calls();
        assert_eq!(calls[0].kind, Kind::Topic);
        assert_eq!(calls[1].kind, Kind::Alarm);
        assert!(calls[1].at >= calls[0].at + secs(1));
        assert_eq!(
            calls[1].refs.resolve("topic:alerts").as_deref(),
            Some("arn:aws:sns:us-east-1:1:alerts")
        );
        // An alarm reconciled alone later still knows the topic's ARN.
        let mut edited = alarm("cpu");
        if let Spec::Alarm(a) = &mut edited.spec {
            a.threshold = Some(2.0);
        }
        h.edit(state(vec![edited, topic("alerts")])).await;
        h.until(secs(5), |h| h.fake.calls().len() == 3).await;
        let call = h.fake.calls()[2].clone();
        assert_eq!(call.names, ["cpu"]);
        assert!(call.refs.topic_arns.contains_key("alerts"));
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_invalid_edit_keeps_the_last_good_state() {
        let h = Harness::ready(a_and_b()).await;
        assert_eq!(h.metric("driftd_desired_state_valid"), Some(1.0));
        h.edit(invalid()).await;
        h.until(secs(1), |h| !h.status.snapshot().desired_state.valid)
            .await;
        assert_eq!(h.metric("driftd_desired_state_valid"), Some(0.0));
        assert_eq!(
            h.metric("driftd_desired_state_load_errors_total"),
            Some(1.0)
        );
        let status = h.status.snapshot();
        assert_eq!(status.desired_state.errors[0].line, Some(2));
        assert_eq!(status.resources.len(), 2);
        assert!(status.ready);
        // The last valid desired state is still enforced at the resync.
        h.until(secs(70), |h| h.fake.calls().len() == 2).await;
        assert_eq!(h.fake.calls()[1].names, ["a", "b"]);
        // Fixed: valid again; what the fix changed is reconciled.
        h.edit(state(vec![secret("a", "fixed")])).await;
        h.until(secs(1), |h| h.status.snapshot().desired_state.valid)
            .await;
        h.until(secs(1), |h| h.fake.calls().len() == 3).await;
        assert_eq!(h.fake.calls()[2].names, ["a"]);
        assert_eq!(
            h.metric("driftd_resource_in_sync{env=\"default\",kind=\"Secret\",name=\"b\"}"),
            None
        );
        assert_eq!(h.status.snapshot().resources.len(), 1);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn with_prune_a_removal_brings_the_next_pass_forward() {
        let h = Harness::with(a_and_b(), Fake::default(), |s| s.opts.prune = true);
        h.until(secs(1), |h| h.status.ready()).await;
        tokio::time::sleep(secs(5)).await;
        h.edit(state(vec![secret("a", "x")])).await;
        // A full pass (where pruning happens) within the debounce, not after
        // the interval.
        h.until(secs(1), |h| {
            h.metric("driftd_pass_duration_seconds_count") == Some(2.0)
        })
        .await;
        tokio::time::sleep(secs(10)).await;
        assert_eq!(
            h.metric("driftd_pass_duration_seconds_count"),
            Some(2.0),
            "one pass, not more"
        );
        assert_eq!(h.fake.calls()[1].names, ["a"]);
        // Without --prune, a removal waits for the resync.
        let h2 = Harness::ready(a_and_b()).await;
        h2.edit(state(vec![secret("a", "x")])).await;
        tokio::time::sleep(secs(10)).await;
        assert_eq!(h2.metric("driftd_pass_duration_seconds_count"), Some(1.0));
        assert_eq!(h2.fake.calls().len(), 1);
        h.stop().await;
        h2.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn with_prune_a_removal_during_a_pass_is_followed_by_another() {
        let fake = Fake::slow(secs(5));
        let h = Harness::with(a_and_b(), fake, |s| s.opts.prune = true);
        tokio::time::sleep(secs(1)).await;
        h.edit(state(vec![secret("a", "x")])).await;
        h.until(secs(20), |h| {
            h.metric("driftd_pass_duration_seconds_count") == Some(2.0)
        })
        .await;
        let calls = h.fake.calls();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(calls[1].at - calls[0].at, secs(5), "right after the first");
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn each_full_pass_ends_with_a_prune_step_that_runs_alone() {
        let fake = Fake::slow(secs(1));
        *fake.prune_delay.lock().unwrap() = secs(2);
        fake.orphans.lock().unwrap().push("old".into());
        let h = Harness::start(state(vec![secret("a", "x"), topic("t")]), fake);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // The resources are reconciled; the prune step runs, alone.
        let prunes = h.fake.prunes.lock().unwrap().clone();
        assert_eq!(prunes.len(), 1);
        let (at, validity, prune, running) = prunes[0];
        assert_eq!(at - h.started, secs(1));
        assert_eq!((validity, prune, running), (Validity::Valid, false, 0));
        assert!(!h.status.ready(), "the pass ends with its prune step");
        // An edit meanwhile waits for the prune step to end.
        let edited = h.edit(state(vec![secret("a", "y"), topic("t")])).await;
        h.until(secs(5), |h| h.fake.calls().len() == 3).await;
        assert_eq!(
            h.fake.calls()[2].at - h.started,
            secs(3),
            "edited at {:?}",
            edited - h.started
        );
        assert!(h.status.ready());
        let status = h.status.snapshot();
        let old = status.resources.iter().find(|r| r.name == "old").unwrap();
        assert_eq!(old.state, Some(State::Orphaned));
        assert_eq!(
            h.metric("driftd_resources{env=\"default\",kind=\"Secret\",state=\"orphaned\"}"),
            Some(1.0)
        );
        // No per-resource series for what is not declared.
        assert_eq!(
            h.metric("driftd_resource_in_sync{env=\"default\",kind=\"Secret\",name=\"old\"}"),
            None
        );
        // Edits alone do not prune: only full passes do.
        tokio::time::sleep(secs(10)).await;
        assert_eq!(h.fake.prunes.lock().unwrap().len(), 1);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn while_the_files_are_invalid_nothing_is_pruned() {
        let h = Harness::with(state(vec![secret("a", "x")]), Fake::default(), |s| {
            s.opts.prune = true
        });
        h.until(secs(1), |h| h.status.ready()).await;
        h.edit(invalid()).await;
        h.until(secs(70), |h| h.fake.prunes.lock().unwrap().len() == 2)
            .await;
        let prunes = h.fake.prunes.lock().unwrap().clone();
        // The step knows --prune was given, and that the files are invalid:
        // it reports orphans and refuses to delete.
        assert_eq!((prunes[0].1, prunes[0].2), (Validity::Valid, true));
        assert_eq!((prunes[1].1, prunes[1].2), (Validity::Invalid, true));
        // The reconciles of the last valid state remove no subscription.
        assert_eq!(*h.fake.prune_opts.lock().unwrap(), [true, false]);
        // Fixed (even back to what it was): what was refused is pruned at
        // once, not at the next interval.
        h.edit(state(vec![secret("a", "x")])).await;
        h.until(secs(1), |h| h.fake.prunes.lock().unwrap().len() == 3)
            .await;
        assert_eq!(h.fake.prunes.lock().unwrap()[2].1, Validity::Valid);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_emptied_desired_state_prunes_nothing_unless_allowed() {
        for allow_empty in [false, true] {
            let h = Harness::with(state(vec![secret("a", "x")]), Fake::default(), |s| {
                s.opts.prune = true;
                s.allow_empty = allow_empty;
            });
            h.until(secs(1), |h| h.status.ready()).await;
            // `rm desired-state/*`: a valid load with nothing in it.
            h.edit(state(vec![])).await;
            h.until(secs(5), |h| h.fake.prunes.lock().unwrap().len() == 2)
                .await;
            let prunes = h.fake.prunes.lock().unwrap().clone();
            let expected = if allow_empty {
                Validity::Valid
            } else {
                Validity::Empty
            };
            assert_eq!((prunes[1].1, prunes[1].2), (expected, true));
            h.stop().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn invalid_at_start_is_not_ready_until_fixed() {
        let h = Harness::start(invalid(), Fake::default());
        tokio::time::sleep(secs(5)).await;
        assert!(!h.status.ready());
        assert!(h.fake.calls().is_empty());
        h.edit(state(vec![secret("a", "x")])).await;
        h.until(secs(1), |h| h.status.ready()).await;
        assert_eq!(h.fake.calls().len(), 1);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_lets_in_flight_reconciles_finish_without_new_writes() {
        let h = Harness::in_a_slow_reconcile(secs(3), "x").await;
        let fake = h.fake.clone();
        let status = h.status.clone();
        let took = h.stop().await;
        assert_eq!(took, secs(2), "waited for the reconcile in flight");
        assert_eq!(*fake.stopped_at_end.lock().unwrap(), [true]);
        assert!(status.snapshot().stopping);
        assert_eq!(status.snapshot().resources[0].state, Some(State::InSync));
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_waits_no_longer_than_the_grace_period() {
        let fake = Fake::slow(secs(600));
        let h = Harness::with(state(vec![secret("a", "x")]), fake, |s| s.grace = secs(20));
        tokio::time::sleep(secs(1)).await;
        assert_eq!(h.stop().await, secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_bounded() {
        let fake = Fake::slow(secs(1));
        let h = Harness::with(
            state(vec![
                secret("s", "x"),
                topic("t"),
                resource(Kind::Dashboard, "d", "body: {widgets: []}"),
                resource(Kind::EcsService, "e", "{cluster: c, desiredCount: 1}"),
            ]),
            fake,
            |s| s.concurrency = 2,
        );
        h.until(secs(5), |h| h.status.ready()).await;
        let starts: Vec<Duration> = h.fake.calls().iter().map(|c| c.at - h.started).collect();
        assert_eq!(starts, [secs(0), secs(0), secs(1), secs(1)]);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_resource_that_leaves_the_desired_state_is_forgotten_by_the_guards() {
        let guards = crate::engine::Guards::default();
        let b = secret("b", "x");
        let description = ["description".to_string()];
        for _ in 0..crate::engine::converge::Convergence::LIMIT {
            guards
                .convergence
                .failed(&b, Mode::Enforce, description.iter().cloned().collect());
        }
        let shared = guards.clone();
        let h = Harness::with(
            state(vec![secret("a", "x"), b.clone()]),
            Fake::default(),
            move |s| s.opts.guards = shared,
        );
        h.until(secs(1), |h| h.status.ready()).await;
        assert!(guards
            .convergence
            .quarantined(&b, Mode::Enforce, &description)
            .is_some());
        h.edit(state(vec![secret("a", "x")])).await;
        h.until(secs(1), |_| {
            guards
                .convergence
                .quarantined(&b, Mode::Enforce, &description)
                .is_none()
        })
        .await;
        h.stop().await;
    }
}
