//! EcsService against the emulator: the ECS and Application Auto Scaling
//! seams and the kind's observe / diff / apply, at library level.
//!
//! Where moto differs from ECS, the tests tolerate it and say so:
//! * moto's DeleteService makes a service INACTIVE at once; ECS passes
//!   through DRAINING first.
//! * moto names missing services in `failures` with the old ARN format
//!   (`service/<name>`); ECS uses `service/<cluster>/<name>`. Both end in the name.
//! * moto sets a service's running count to its desired count the moment
//!   UpdateService returns; ECS gets there as tasks start and stop.

use crate::common;
use common::kinds::{ctx, resource};

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use driftd::aws::autoscaling::{AutoScaling, ScalableRange, SdkAutoScaling};
use driftd::aws::ecs::{Ecs, SdkEcs, ServiceStatus};
use driftd::aws::{Aws, ErrorClass};
use driftd::engine::{Action, Diff, Observed, Reconciler, Refs};
use driftd::kinds::ecs_service::{self, EcsService, Live, Ops};
use driftd::kinds::{Change, Error, Resource, Spec};

const CLUSTER: &str = "atm-simulator-dev";

/// Raw SDK clients for arranging the emulator's state.
struct Setup {
    _moto: common::Moto,
    config: aws_config::SdkConfig,
    ecs: aws_sdk_ecs::Client,
    aas: aws_sdk_applicationautoscaling::Client,
    task_definition: String,
}

impl Setup {
    /// A moto of this test's own with a cluster, a registered task definition
    /// for its services, and these services running their desired counts.
    async fn start(services: &[(&str, i32)]) -> Setup {
        let moto = common::Moto::start();
        let config = moto.sdk_config().await;
        let ecs = aws_sdk_ecs::Client::new(&config);
        let task_definition = common::ecs::cluster(&ecs, CLUSTER, "worker").await;
        let setup = Setup {
            _moto: moto,
            aas: aws_sdk_applicationautoscaling::Client::new(&config),
            config,
            ecs,
            task_definition,
        };
        for (name, desired_count) in services {
            setup.service(name, *desired_count).await;
        }
        setup
    }

    /// Deletes the service `name` (ECS keeps it, INACTIVE, for a while).
    async fn delete(&self, name: &str) {
        self.ecs
            .delete_service()
            .cluster(CLUSTER)
            .service(name)
            .send()
            .await
            .expect("delete service");
    }

    async fn service(&self, name: &str, desired_count: i32) {
        common::ecs::create_service(
            &self.ecs,
            CLUSTER,
            name,
            &self.task_definition,
            desired_count,
        )
        .await;
    }

    /// The service as ECS describes it.
    async fn describe(&self, name: &str) -> aws_sdk_ecs::types::Service {
        common::ecs::describe(&self.ecs, CLUSTER, name)
            .await
            .expect("service described")
    }
}

fn spec(service: &str) -> ecs_service::Spec {
    ecs_service::Spec {
        cluster: CLUSTER.into(),
        service: Some(service.into()),
        desired_count: None,
        min_count: None,
        max_count: None,
    }
}

fn service(name: &str, spec: &ecs_service::Spec) -> Resource {
    resource("ecs.yaml", name, Spec::EcsService(spec.clone()))
}

async fn observe(aws: &Aws, declared: &[(Resource, ecs_service::Spec)]) -> Observed<Live> {
    let pairs: Vec<(&Resource, &ecs_service::Spec)> =
        declared.iter().map(|(r, s)| (r, s)).collect();
    EcsService::observe(aws, &pairs).await.expect("observe")
}

/// What the observe gave for `name`: the service, or the error of its read.
fn found<'a>(observed: &'a Observed<Live>, name: &str) -> Result<&'a Live, &'a Error> {
    let Some(entry) = observed.get(name) else {
        panic!("{name} was not observed");
    };
    entry
        .as_ref()
        .map(|live| live.as_ref().unwrap_or_else(|| panic!("{name}: absent")))
}

fn live<'a>(observed: &'a Observed<Live>, name: &str) -> &'a Live {
    found(observed, name).unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

fn error<'a>(observed: &'a Observed<Live>, name: &str) -> &'a Error {
    found(observed, name).expect_err(name)
}

fn diff(declared: &(Resource, ecs_service::Spec), live: &Live) -> Diff<Ops> {
    EcsService::diff(
        &declared.0,
        &declared.1,
        Some(live),
        &driftd::kinds::Inputs::default(),
        &Refs::default(),
        &ctx(),
    )
}

/// Applies `plan` to the declared service.
async fn apply(aws: &Aws, declared: &(Resource, ecs_service::Spec), plan: &Diff<Ops>) {
    EcsService::apply(
        aws,
        &declared.0,
        &declared.1,
        &plan.ops,
        &mut Refs::default(),
        &ctx(),
    )
    .await
    .expect("apply");
}

#[tokio::test]
async fn seams_describe_in_batches_and_update_only_the_count() {
    let setup = Setup::start(&[("worker", 3), ("api", 2)]).await;
    let config = setup.config.clone();

    let ecs = SdkEcs::new(&config);
    let answer = ecs
        .describe_services(CLUSTER, &["worker".into(), "api".into(), "ghost".into()])
        .await
        .expect("describe");
    let worker = answer.lookup("worker").expect("worker").expect("exists");
    assert_eq!(
        (&worker.status, worker.desired_count),
        (&ServiceStatus::Active, 3)
    );
    assert!(worker
        .arn
        .as_deref()
        .is_some_and(|a| a.ends_with("/worker")));
    assert!(matches!(answer.lookup("ghost"), Some(Err(f)) if f.is_missing()));

    let eleven: Vec<String> = (0..11).map(|i| format!("s{i}")).collect();
    let refused = ecs
        .describe_services(CLUSTER, &eleven)
        .await
        .expect_err("over the limit");
    assert_eq!(refused.class, ErrorClass::Validation);

    let missing_cluster = ecs
        .describe_services("no-such-cluster", &["worker".into()])
        .await
        .expect_err("no such cluster");
    assert_eq!(missing_cluster.class, ErrorClass::NotFound);

    let before = setup.describe("worker").await;
    ecs.update_desired_count(CLUSTER, "worker", 1)
        .await
        .expect("update");
    let after = setup.describe("worker").await;
    assert_eq!(after.desired_count(), 1);
    assert_eq!(
        after.task_definition(),
        before.task_definition(),
        "task definition untouched"
    );
    assert_eq!(after.launch_type(), before.launch_type());
    assert_eq!(
        setup.describe("api").await.desired_count(),
        2,
        "other services untouched"
    );

    let aas = SdkAutoScaling::new(&config);
    let none = aas
        .ecs_scalable_targets(&[format!("service/{CLUSTER}/worker")])
        .await
        .expect("describe targets");
    assert!(none.is_empty());
}

#[tokio::test]
async fn a_count_is_observed_corrected_and_read_back() {
    let setup = Setup::start(&[]).await;
    let config = setup.config.clone();
    // Twelve services: two DescribeServices calls for one cluster.
    for i in 0..12 {
        setup.service(&format!("svc-{i:02}"), i % 3).await;
    }
    setup.service("atm-simulator-dev-worker", 3).await;
    let aws = Aws::from_sdk_config(&config);

    let mut declared: Vec<(Resource, ecs_service::Spec)> = (0..12)
        .map(|i| {
            let name = format!("svc-{i:02}");
            let s = ecs_service::Spec {
                min_count: Some(0),
                max_count: Some(2),
                ..spec(&name)
            };
            (service(&name, &s), s)
        })
        .collect();
    let worker = ecs_service::Spec {
        desired_count: Some(1),
        ..spec("atm-simulator-dev-worker")
    };
    declared.push((service("worker", &worker), worker));

    let observed = observe(&aws, &declared).await;
    assert_eq!(observed.len(), 13);
    for (i, d) in declared.iter().take(12).enumerate() {
        let l = live(&observed, &d.0.name);
        assert_eq!(l.desired_count, i as i32 % 3);
        assert_eq!(
            diff(d, l).action,
            Action::InSync,
            "{} is within 0..2",
            d.0.name
        );
    }

    let worker = declared.last().expect("worker declared");
    let plan = diff(worker, live(&observed, "worker"));
    assert_eq!(plan.action, Action::Update);
    let shown = Change::new("desiredCount", Some("3".into()), Some("1".into()));
    assert_eq!(plan.changes, [shown], "{plan:?}");
    apply(&aws, worker, &plan).await;

    assert_eq!(
        setup
            .describe("atm-simulator-dev-worker")
            .await
            .desired_count(),
        1
    );
    let again = observe(&aws, std::slice::from_ref(worker)).await;
    assert_eq!(diff(worker, live(&again, "worker")).action, Action::InSync);
}

#[tokio::test]
async fn missing_and_inactive_services_fail_alone() {
    let setup = Setup::start(&[("api", 2), ("retired", 0)]).await;
    let config = setup.config.clone();
    setup.delete("retired").await;
    let aws = Aws::from_sdk_config(&config);

    let declared: Vec<(Resource, ecs_service::Spec)> = [
        ("api", spec("api")),
        ("ghost", spec("ghost")),
        ("retired", spec("retired")),
        (
            "elsewhere",
            ecs_service::Spec {
                cluster: "no-such-cluster".into(),
                ..spec("api")
            },
        ),
    ]
    .into_iter()
    .map(|(name, s)| {
        let s = ecs_service::Spec {
            desired_count: Some(2),
            ..s
        };
        (service(name, &s), s)
    })
    .collect();
    let observed = observe(&aws, &declared).await;

    assert_eq!(
        diff(&declared[0], live(&observed, "api")).action,
        Action::InSync
    );
    let ghost = error(&observed, "ghost");
    assert!(matches!(ghost, Error::Missing(_)), "{ghost:?}");
    assert_eq!(
        ghost.to_string(),
        format!("service ghost not found in cluster {CLUSTER}; driftd never creates ECS services")
    );
    // moto: INACTIVE at once (ECS: DRAINING first, which the diff reports as
    // an error of its own).
    let retired = error(&observed, "retired");
    assert!(matches!(retired, Error::Missing(_)), "{retired:?}");
    assert!(retired.to_string().contains("is INACTIVE"), "{retired}");
    let Error::Aws(elsewhere) = error(&observed, "elsewhere") else {
        panic!("the cluster's own error expected");
    };
    assert_eq!(
        (elsewhere.class, elsewhere.message.as_str()),
        (ErrorClass::NotFound, "cluster no-such-cluster not found")
    );
}

#[tokio::test]
async fn an_autoscaling_target_replaces_desired_count() {
    let setup = Setup::start(&[("worker", 7), ("api", 3)]).await;
    let config = setup.config.clone();
    setup
        .aas
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(format!("service/{CLUSTER}/worker"))
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(2)
        .max_capacity(5)
        .send()
        .await
        .expect("register scalable target");

    let targets = SdkAutoScaling::new(&config)
        .ecs_scalable_targets(&[
            format!("service/{CLUSTER}/worker"),
            format!("service/{CLUSTER}/api"),
        ])
        .await
        .expect("describe targets");
    assert_eq!(
        targets.into_iter().collect::<Vec<_>>(),
        [(
            format!("service/{CLUSTER}/worker"),
            ScalableRange { min: 2, max: 5 }
        )]
    );

    let aws = Aws::from_sdk_config(&config);
    let declared: Vec<(Resource, ecs_service::Spec)> = ["worker", "api"]
        .into_iter()
        .map(|name| {
            let s = ecs_service::Spec {
                desired_count: Some(3),
                ..spec(name)
            };
            (service(name, &s), s)
        })
        .collect();
    let observed = observe(&aws, &declared).await;
    assert_eq!(live(&observed, "api").scalable_target, None);
    assert_eq!(
        diff(&declared[1], live(&observed, "api")).action,
        Action::InSync
    );

    let worker = &declared[0];
    let plan = diff(worker, live(&observed, "worker"));
    assert!(
        plan.notes.contains(
            &"autoscaled: Application Auto Scaling range 2..5 replaces desiredCount 3".to_string()
        ),
        "{:?}",
        plan.notes
    );
    assert_eq!(
        plan.ops.desired_count,
        Some(5),
        "7 is corrected to the target's max, not to 3"
    );
    apply(&aws, worker, &plan).await;
    assert_eq!(setup.describe("worker").await.desired_count(), 5);

    let again = observe(&aws, std::slice::from_ref(worker)).await;
    let settled = diff(worker, live(&again, "worker"));
    assert_eq!(
        settled.action,
        Action::InSync,
        "5 is within 2..5 although desiredCount says 3"
    );
    assert!(!settled.notes.is_empty(), "the plan still says why");
}
