//! The commands of the binary: `validate`, `plan`, `apply` and `run`, each
//! returning the exit code of the contract.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Context;

use crate::aws;
use crate::cli::{ChangeArgs, Cli, Command, EnvArgs, OutputFormat, PruneArgs};
use crate::desired::{self, DesiredState, LoadErrors};
use crate::engine::converge::Convergence;
use crate::engine::events::{Events, EventsObserver, Target};
use crate::engine::fleet::{Connector, Fleet};
use crate::engine::{self, Guards, PassOptions};
use crate::kinds::{Kind, Mode};

/// Exit code: success (and, with `--detailed-exitcode`, no drift).
pub const EXIT_OK: u8 = 0;
/// Exit code: failure, invalid desired state, or a resource left in error.
pub const EXIT_ERROR: u8 = 1;
/// Exit code of `plan --detailed-exitcode` when drift was found.
pub const EXIT_DRIFT: u8 = 2;

/// How long `apply` waits before correcting again a resource whose
/// correction did not take (it corrects up to 3 times).
const ONE_SHOT_PAUSE: Duration = Duration::from_secs(1);

/// Runs the command the command line asked for.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let global = cli.global;
    let verbose = global.verbose > 0;
    match cli.command {
        Command::Validate(args) => {
            let Some(loaded) = load_environments(&args) else {
                return Ok(EXIT_ERROR);
            };
            let dir = &args.desired.desired_state;
            let mut out = std::io::stdout().lock();
            for env in &loaded.environments {
                let place = if env.environment.name == desired::environment::DEFAULT {
                    dir.display().to_string()
                } else {
                    format!("{} [{}]", dir.display(), env.environment.name)
                };
                writeln!(out, "{}", describe(&env.state, &place)).context("writing the result")?;
            }
            Ok(EXIT_OK)
        }
        Command::Render(args) => {
            let dir = &args.desired.desired_state;
            let Some(loaded) = report_errors(dir, desired::render_environments(dir, &args.env))
            else {
                return Ok(EXIT_ERROR);
            };
            let mut out = std::io::stdout().lock();
            loaded.render(&mut out).context("writing the documents")?;
            Ok(EXIT_OK)
        }
        Command::Plan(args) => {
            let Some(loaded) = load_environments(&args.desired) else {
                return Ok(EXIT_ERROR);
            };
            let fleet = connect(&global).await;
            let opts = pass_options(
                false,
                args.mode,
                &args.prune,
                global.owner,
                Guards::default(),
            );
            let report = fleet.pass(&loaded, &opts, args.prune.allow_empty).await;
            let mut out = std::io::stdout().lock();
            match args.output {
                OutputFormat::Text => crate::output::write_plan_text(&mut out, &report, verbose),
                OutputFormat::Json => crate::output::write_json(&mut out, &report),
            }
            .context("writing the plan")?;
            out.flush().context("writing the plan")?;
            Ok(if report.has_errors() {
                EXIT_ERROR
            } else if args.detailed_exitcode && report.drift_found() {
                EXIT_DRIFT
            } else {
                EXIT_OK
            })
        }
        Command::Apply(args) => {
            let Some(loaded) = load_environments(&args.desired) else {
                return Ok(EXIT_ERROR);
            };
            check_events_topic(&args.change, &loaded)?;
            let fleet = connect(&global).await;
            let events = args
                .change
                .events_topic
                .clone()
                .map(|target| Events::new(target, global.owner.clone(), None));
            let opts = changing(
                &args.change,
                global.owner,
                Guards {
                    // One apply is all the passes there are: it corrects up
                    // to the limit itself.
                    convergence: Convergence::one_shot(ONE_SHOT_PAUSE),
                    events,
                    tags: Default::default(),
                    progress: Default::default(),
                },
            );
            if args.change.mode == Mode::Observe {
                tracing::info!("--mode observe: nothing will be changed");
            }
            let ticker = std::io::stderr()
                .is_terminal()
                .then(|| tokio::spawn(progress_lines(opts.guards.progress.clone())));
            let report = fleet
                .pass(&loaded, &opts, args.change.prune.allow_empty)
                .await;
            if let Some(ticker) = ticker {
                ticker.abort();
            }
            let mut out = std::io::stdout().lock();
            crate::output::write_apply_text(&mut out, &report, verbose)
                .and_then(|()| out.flush())
                .context("writing the apply report")?;
            Ok(if report.converged() {
                EXIT_OK
            } else {
                EXIT_ERROR
            })
        }
        Command::IamPolicy(args) => {
            let target = crate::iam::Target {
                partition: args.partition,
                region: global.region.unwrap_or_else(|| "*".into()),
                account: args.account_id.unwrap_or_else(|| "*".into()),
                assume_roles: args.assume_roles,
                lease_table: args.lease_table,
                events_queue: args.events_queue,
            };
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &crate::iam::policy(&target))
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
                .context("writing the policy")?;
            Ok(EXIT_OK)
        }
        Command::Schema => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &crate::schema::document_schema())
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
                .context("writing the schema")?;
            Ok(EXIT_OK)
        }
        Command::Run(args) => run_daemon(global, args).await,
    }
}

/// `--events-topic topic:NAME` names a Topic every environment declares
/// (each publishes to its own).
fn check_events_topic(change: &ChangeArgs, loaded: &desired::Loaded) -> anyhow::Result<()> {
    if let Some(Target::Topic(name)) = &change.events_topic {
        for env in &loaded.environments {
            let place = if env.environment.name == desired::environment::DEFAULT {
                "the desired state".to_string()
            } else {
                format!("environment {}", env.environment.name)
            };
            anyhow::ensure!(
                env.state.get(Kind::Topic, name).is_some(),
                "--events-topic topic:{name}: {place} declares no Topic {name:?}"
            );
        }
    }
    Ok(())
}

/// The environments `--env` selects, printing every problem on stderr when
/// the desired state is invalid.
fn load_environments(args: &EnvArgs) -> Option<desired::Loaded> {
    let dir = &args.desired.desired_state;
    report_errors(dir, desired::load_environments(dir, &args.env))
}

/// The loaded value, or `None` once every problem is printed on stderr.
fn report_errors<T>(dir: &std::path::Path, result: Result<T, LoadErrors>) -> Option<T> {
    match result {
        Ok(loaded) => Some(loaded),
        Err(LoadErrors(errors)) => {
            let mut err = std::io::stderr().lock();
            for e in &errors {
                let _ = writeln!(err, "{e}"); // stderr gone: nothing better to do
            }
            let _ = writeln!(
                err,
                "{}: {} in the desired state",
                dir.display(),
                if errors.len() == 1 {
                    "1 error".to_string()
                } else {
                    format!("{} errors", errors.len())
                }
            );
            None
        }
    }
}

/// `desired-state: valid: 12 resources (1 Topic, 9 Alarm, ...)`.
fn describe(state: &DesiredState, place: &str) -> String {
    let counts: Vec<String> = Kind::ALL
        .into_iter()
        .map(|k| (k, state.of_kind(k).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    format!(
        "{place}: valid: {} resources ({})",
        state.resources.len(),
        counts.join(", ")
    )
}

/// The environments' clients, made from the process's SDK configuration.
async fn connect(global: &crate::cli::Global) -> Fleet {
    Fleet::new(Connector::Sdk {
        base: Box::new(aws::sdk_config(global.region.clone(), global.endpoint_url.clone()).await),
        observer: None,
        fence: None,
        rates: global.aws_max_rps.clone(),
    })
}

/// Every few seconds, while a pass is under way, how far it has got (on a
/// terminal, for a long first apply: 10,000 alarms take about an hour at
/// PutMetricAlarm's quota).
async fn progress_lines(progress: engine::progress::Progress) {
    const EVERY: Duration = Duration::from_secs(5);
    let started = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(EVERY).await;
        if let Some(p) = progress.snapshot() {
            // A terminal's line, whatever the log level; nothing to do if it fails.
            let _ = writeln!(
                std::io::stderr(),
                "applying: {}/{} resources reconciled ({} changed, {} failed) in {} s",
                p.reconciled,
                p.resources,
                p.corrected,
                p.errors,
                started.elapsed().as_secs()
            );
        }
    }
}

/// The options of a pass that may change AWS (`apply`, `run`).
fn changing(change: &ChangeArgs, owner: String, guards: Guards) -> PassOptions {
    pass_options(true, change.mode, &change.prune, owner, guards)
}

fn pass_options(
    apply: bool,
    mode: Mode,
    prune: &PruneArgs,
    owner: String,
    guards: Guards,
) -> PassOptions {
    PassOptions {
        apply,
        mode,
        owner,
        prune: prune.prune,
        max_prune: prune.max_prune,
        stop: Default::default(),
        guards,
    }
}

/// `driftd run`: serve the endpoints, watch the files, reconcile until a
/// signal; exit 0 after a graceful stop.
async fn run_daemon(global: crate::cli::Global, args: crate::cli::RunArgs) -> anyhow::Result<u8> {
    use std::sync::Arc;

    use crate::engine::daemon::{self, Daemon, Settings};
    use crate::engine::status::StatusStore;
    use crate::metrics::Metrics;

    if args.lease_table.is_some() {
        anyhow::ensure!(
            args.lease_duration >= Duration::from_secs(3),
            "--lease-duration {}: must be at least 3s",
            humantime::format_duration(args.lease_duration)
        );
    }
    anyhow::ensure!(
        args.interval >= Duration::from_secs(1),
        "--interval {}: must be at least 1s",
        humantime::format_duration(args.interval)
    );
    let only = args.desired.env;
    let dir = args.desired.desired.desired_state;
    // Signal handlers first, so that a signal during start-up stops it gracefully.
    let shutdown = signals().context("installing the signal handlers")?;
    // The environments as the files name them now, for the series that
    // exist from the start; a desired state that does not load yet has them
    // created as its resources are reconciled.
    let environments: Vec<String> = match desired::load_environments(&dir, &only) {
        Ok(loaded) => loaded
            .environments
            .iter()
            .map(|e| e.environment.name.clone())
            .collect(),
        Err(_) => vec![desired::environment::DEFAULT.to_string()],
    };
    let metrics =
        Arc::new(Metrics::for_environments(&environments).context("registering the metrics")?);
    let status = Arc::new(StatusStore::new(&dir));
    let base = aws::sdk_config(global.region, global.endpoint_url).await;
    let election = args.lease_table.as_ref().map(|table| {
        Election::start(
            &base,
            table,
            &global.owner,
            args.lease_duration,
            metrics.clone(),
            status.clone(),
        )
    });
    // Change events: `--events-queue` and every Environment's
    // `eventsQueueUrl` (the desired state's queues are known once it loads,
    // and follow its reloads).
    let (inbox_tx, inbox) = tokio::sync::mpsc::channel(256);
    let (queues, wanted) = tokio::sync::watch::channel(engine::changes::Wanted::new());
    tokio::spawn(engine::changes::supervise(
        Arc::new(engine::fleet::QueueOpener {
            base: base.clone(),
            observer: metrics.clone(),
        }),
        args.events_queue.clone(),
        wanted,
        inbox_tx,
        election.as_ref().map(|e| e.leading.clone()),
        metrics.clone(),
    ));
    let fleet = Fleet::new(Connector::Sdk {
        base: Box::new(base),
        observer: Some(metrics.clone()),
        fence: election.as_ref().map(|e| {
            let fence: Arc<dyn crate::aws::fence::Fence> = e.leadership.clone();
            fence
        }),
        rates: global.aws_max_rps.clone(),
    });
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .with_context(|| format!("listening on {}", args.metrics_addr))?;
    let (liveness, probes) = daemon::liveness();
    let state = crate::http::AppState {
        metrics: metrics.clone(),
        status: status.clone(),
        liveness,
    };
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    let server = tokio::spawn(crate::http::serve(listener, state, async {
        let _ = server_stopped.await; // a dropped sender stops it too
    }));
    let changes = match engine::watch::watch(&dir) {
        Ok(changes) => changes,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the desired state; changes are picked up at each resync");
            tokio::sync::mpsc::channel(1).1
        }
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        desired_state = %dir.display(),
        interval = %humantime::format_duration(args.interval),
        mode = %args.change.mode,
        prune = args.change.prune.prune,
        events_topic = %args
            .change
            .events_topic
            .as_ref()
            .map_or_else(|| "none".to_string(), ToString::to_string),
        events_queue = %args.events_queue.as_deref().unwrap_or("none"),
        %addr,
        "driftd started: serving /metrics /healthz /readyz /status"
    );
    let events = args.change.events_topic.clone().map(|target| {
        let observer: Arc<dyn EventsObserver> = metrics.clone();
        Events::new(target, global.owner.clone(), Some(observer))
    });
    let opts = changing(
        &args.change,
        global.owner,
        Guards {
            convergence: Convergence::daemon(),
            events,
            tags: Default::default(),
            progress: status.progress(),
        },
    );
    let loader_dir = dir.clone();
    let mut settings = Settings::new(args.interval, opts);
    settings.allow_empty = args.change.prune.allow_empty;
    let daemon = Daemon {
        settings,
        reconciler: Arc::new(fleet),
        loader: Arc::new(move || desired::load_environments(&loader_dir, &only)),
        metrics,
        status,
        leading: election.as_ref().map(|e| e.leading.clone()),
        events: Some(daemon::ChangeEvents { inbox, queues }),
    };
    daemon.run(changes, probes, shutdown).await;
    if let Some(election) = election {
        election.stop().await;
    }
    // The server may have stopped already. It finishes the requests under
    // way; a client holding a connection open does not hold up the exit for
    // more than a moment.
    let _ = stop_server.send(());
    match tokio::time::timeout(Duration::from_secs(2), server).await {
        Ok(Ok(Ok(()))) | Err(_) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "the HTTP server failed"),
        Ok(Err(e)) => tracing::error!(error = %e, "the HTTP server task failed"),
    }
    Ok(EXIT_OK)
}

/// The leader election of `run --lease-table`, running beside the daemon.
struct Election {
    leadership: std::sync::Arc<engine::lease::Leadership>,
    leading: tokio::sync::watch::Receiver<bool>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Election {
    fn start(
        base: &aws_config::SdkConfig,
        table: &str,
        owner: &str,
        duration: std::time::Duration,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        status: std::sync::Arc<engine::status::StatusStore>,
    ) -> Election {
        use std::sync::Arc;

        use engine::lease::{self, Leadership};

        let settings = lease::Settings {
            id: format!("driftd/{owner}"),
            identity: lease::identity(),
            duration,
            retry: lease::Settings::RETRY,
        };
        status.lease_started(engine::status::LeaseStatus {
            table: table.to_string(),
            id: settings.id.clone(),
            identity: settings.identity.clone(),
            holder: None,
        });
        metrics.set_leader(false);
        // Its own client, counted but never fenced: renewing is a write.
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(base)
                .interceptor(aws::counting::CountingInterceptor::new(
                    "dynamodb",
                    metrics.clone(),
                ))
                .build(),
        );
        let table = Arc::new(aws::lease::SdkLeaseTable::new(client, table));
        let leadership = Arc::new(Leadership::default());
        let (tx, leading) = tokio::sync::watch::channel(false);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let observer = Arc::new(LeaseObserver { metrics, status });
        tracing::info!(lease = %settings.id, identity = %settings.identity, duration = %humantime::format_duration(duration), "leader election: following until this replica holds the lease");
        let task = tokio::spawn(lease::run(
            table,
            settings,
            leadership.clone(),
            tx,
            observer,
            async {
                let _ = stopped.await; // a dropped sender stops it too
            },
        ));
        Election {
            leadership,
            leading,
            stop,
            task,
        }
    }

    /// Releases the lease (if held) so that a successor takes over at once.
    async fn stop(self) {
        let _ = self.stop.send(());
        if tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            tracing::warn!(
                "releasing the lease took too long: a successor takes over when it expires"
            );
        }
    }
}

/// Puts the election's state into the metrics and `/status`.
struct LeaseObserver {
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    status: std::sync::Arc<engine::status::StatusStore>,
}

impl engine::lease::Observer for LeaseObserver {
    fn changed(&self, state: &engine::lease::State, transition: bool) {
        if transition {
            self.metrics.leader_transition(state.leader);
        }
        self.status
            .lease_changed(state.leader, state.holder.as_deref());
    }
}

/// Resolves at the first SIGTERM or SIGINT; a second one exits the process
/// at once (with 128 + the signal's number, as a shell reports it).
fn signals() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(
            signal = name,
            "stopping gracefully; a second signal stops at once"
        );
        tokio::spawn(async move {
            let (name, code) = tokio::select! {
                _ = term.recv() => ("SIGTERM", 128 + 15),
                _ = int.recv() => ("SIGINT", 128 + 2),
            };
            tracing::warn!(signal = name, "second signal: exiting at once");
            std::process::exit(code);
        });
    })
}
