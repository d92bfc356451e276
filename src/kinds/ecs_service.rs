//! The desired count of an existing ECS service: the spec, the live view, and the pure diff.
//!
//! driftd manages one number of a service it does not own, its desired count,
//! and never creates, deletes, redeploys, tags or prunes the service itself.
//! The resource's name is `metadata.name`; its AWS identity is
//! (`spec.cluster`, `spec.service`).
//!
//! * A missing or INACTIVE service, or a missing cluster, is an error for that
//!   resource only (observe puts it in that resource's entry).
//! * A DRAINING service (deleted, its tasks still stopping) is an error too:
//!   UpdateService would be refused, and a desired state that names a service
//!   being deleted needs an operator's attention, not a silent in-sync.
//! * When Application Auto Scaling has a scalable target for the service, a
//!   declared `desiredCount` gives way to the target's min/max range, so that
//!   driftd never fights the autoscaler; the plan says so in a note. A declared
//!   `minCount`/`maxCount` range is the operator's explicit choice and is
//!   enforced as written; the plan notes the autoscaler's range beside it, and
//!   warns when the two can fight.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Action, Blocked, Ctx, Diff, Error, Inputs, Observed, Reconciler, Refs};
use super::{Change, Kind, Resource, Tags};
use crate::aws::autoscaling::{ecs_resource_id, ScalableRange, RESOURCE_IDS_PER_CALL};
use crate::aws::ecs::{Described, ServiceInfo, ServiceStatus, SERVICES_PER_CALL};
use crate::aws::{self, Aws, ErrorClass};

/// `spec:` of an `EcsService` document (section 1.5 of the contract).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "EcsServiceSpec")]
pub struct Spec {
    pub cluster: String,
    /// The service name; defaults to `metadata.name` (the loader fills it in).
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub desired_count: Option<i32>,
    #[serde(default)]
    pub min_count: Option<i32>,
    #[serde(default)]
    pub max_count: Option<i32>,
}

/// What a spec asks of the desired count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// `desiredCount`: exactly this many.
    Fixed(i32),
    /// `minCount` and/or `maxCount`: anything within is fine.
    Range { min: Option<i32>, max: Option<i32> },
}

/// One thing wrong with a spec, for the loader to report with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    /// The field path, e.g. `spec.minCount`.
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl Spec {
    /// The service name: `spec.service`, or the resource's name when the
    /// spec did not go through the loader that fills it in.
    pub fn service_name<'a>(&'a self, resource: &'a Resource) -> &'a str {
        self.service.as_deref().unwrap_or(&resource.name)
    }

    /// What the spec asks of the count, or the first problem that makes it
    /// meaningless (see [`Spec::problems`]).
    pub fn count(&self) -> Result<Count, SpecProblem> {
        if let Some(problem) = self.count_problems().into_iter().next() {
            return Err(problem);
        }
        Ok(match self.desired_count {
            Some(n) => Count::Fixed(n),
            None => Count::Range {
                min: self.min_count,
                max: self.max_count,
            },
        })
    }

    /// Every problem of this spec, with the field it concerns: what the
    /// contract's "exactly one of `desiredCount` or a range" and ECS's own
    /// limits rule out.
    pub fn problems(&self) -> Vec<SpecProblem> {
        let mut problems = Vec::new();
        if self.cluster.trim().is_empty() {
            problems.push(SpecProblem {
                field: "spec.cluster",
                message: "must not be empty".into(),
            });
        }
        if self.service.as_deref().is_some_and(|s| s.trim().is_empty()) {
            problems.push(SpecProblem {
                field: "spec.service",
                message: "must not be empty".into(),
            });
        }
        problems.extend(self.count_problems());
        problems
    }

    fn count_problems(&self) -> Vec<SpecProblem> {
        let mut problems = Vec::new();
        let ranged = self.min_count.is_some() || self.max_count.is_some();
        match (self.desired_count, ranged) {
            (Some(_), true) => problems.push(SpecProblem {
                field: "spec.desiredCount",
                message: "desiredCount and minCount/maxCount are mutually exclusive".into(),
            }),
            (None, false) => problems.push(SpecProblem {
                field: "spec",
                message: "one of desiredCount or minCount/maxCount is required".into(),
            }),
            _ => {}
        }
        for (field, value) in [
            ("spec.desiredCount", self.desired_count),
            ("spec.minCount", self.min_count),
            ("spec.maxCount", self.max_count),
        ] {
            if let Some(n) = value.filter(|n| *n < 0) {
                problems.push(SpecProblem {
                    field,
                    message: format!("must be 0 or more, not {n}"),
                });
            }
        }
        if let (Some(min), Some(max)) = (self.min_count, self.max_count) {
            if min > max {
                problems.push(SpecProblem {
                    field: "spec.minCount",
                    message: format!("minCount {min} is greater than maxCount {max}"),
                });
            }
        }
        problems
    }
}

/// A service's counts as ECS and Application Auto Scaling report them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub cluster: String,
    pub service: String,
    pub arn: Option<String>,
    pub status: ServiceStatus,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    /// The range of the service's Application Auto Scaling target, if it has one.
    pub scalable_target: Option<ScalableRange>,
}

/// The writes a diff decided: at most one, the new desired count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ops {
    pub desired_count: Option<i32>,
}

/// A range as shown in plans: `1..4`, `1..` or `..4`.
fn range_text(min: Option<i32>, max: Option<i32>) -> String {
    let side = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_default();
    format!("{}..{}", side(min), side(max))
}

/// The cluster's name, for Application Auto Scaling resource ids, when the
/// spec names the cluster by ARN (`arn:...:cluster/<name>`).
fn cluster_name(cluster: &str) -> &str {
    if cluster.starts_with("arn:") {
        cluster.rsplit('/').next().unwrap_or(cluster)
    } else {
        cluster
    }
}

/// What one DescribeServices answer says about one requested service.
fn resolve(cluster: &str, service: &str, answer: &Described) -> Result<ServiceInfo, Error> {
    match answer.lookup(service) {
        Some(Ok(info)) if info.status == ServiceStatus::Inactive => Err(Error::Missing(format!(
            "service {service} in cluster {cluster} is INACTIVE (deleted); driftd never creates ECS services"
        ))),
        Some(Ok(info)) => Ok(info.clone()),
        Some(Err(failure)) if failure.is_missing() => Err(Error::Missing(format!(
            "service {service} not found in cluster {cluster}; driftd never creates ECS services"
        ))),
        Some(Err(failure)) => Err(Error::Unreadable(format!(
            "service {service} in cluster {cluster} could not be described: {}{}",
            failure.reason,
            failure
                .detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ))),
        None => Err(Error::Unreadable(format!(
            "the answer for cluster {cluster} says nothing about service {service}"
        ))),
    }
}

/// The desired counts a diff accepts.
struct Bounds {
    min: Option<i32>,
    max: Option<i32>,
    /// A range (declared, or the autoscaler's), rather than one fixed count.
    ranged: bool,
}

impl Bounds {
    /// The accepted count nearest to `current`: itself when it is accepted.
    fn nearest(&self, current: i32) -> i32 {
        match (self.min, self.max) {
            (Some(min), _) if current < min => min,
            (_, Some(max)) if current > max => max,
            _ => current,
        }
    }
}

/// The bounds a diff enforces, with notes that explain where they came from.
fn enforced_bounds(count: Count, live: &Live, notes: &mut Vec<String>) -> Bounds {
    let range = |min, max| Bounds {
        min,
        max,
        ranged: true,
    };
    match (count, live.scalable_target) {
        (Count::Fixed(n), None) => Bounds {
            min: Some(n),
            max: Some(n),
            ranged: false,
        },
        (Count::Fixed(n), Some(t)) => {
            notes.push(format!(
                "autoscaled: Application Auto Scaling range {}..{} replaces desiredCount {n}",
                t.min, t.max
            ));
            range(Some(t.min), Some(t.max))
        }
        (Count::Range { min, max }, None) => range(min, max),
        (Count::Range { min, max }, Some(t)) => {
            let declared = range_text(min, max);
            let contains = min.is_none_or(|m| m <= t.min) && max.is_none_or(|m| m >= t.max);
            notes.push(if contains {
                format!(
                    "autoscaled: Application Auto Scaling range {}..{} lies within the declared range {declared}",
                    t.min, t.max
                )
            } else {
                format!(
                    "autoscaled: Application Auto Scaling range {}..{} reaches outside the declared range {declared}, \
                     which driftd enforces and may fight the autoscaler over (declare desiredCount to follow the autoscaler instead)",
                    t.min, t.max
                )
            });
            range(min, max)
        }
    }
}

/// The EcsService kind.
pub struct EcsService;

#[async_trait]
impl Reconciler for EcsService {
    const KIND: Kind = Kind::EcsService;
    type Spec = Spec;
    type Live = Live;
    type Ops = Ops;

    /// One DescribeScalableTargets call per 50 services, then per cluster one
    /// DescribeServices call per 10 services. A failed DescribeServices call
    /// (a missing cluster, a policy that denies one cluster) fails only the
    /// resources it asked about; a failed autoscaling lookup fails the whole
    /// kind, since without it driftd could fight an autoscaler.
    async fn observe(aws: &Aws, resources: &[(&Resource, &Spec)]) -> Result<Observed<Live>, Error> {
        let ids: Vec<(&str, &str, &str)> = resources
            .iter()
            .map(|(r, s)| (r.name.as_str(), s.cluster.as_str(), s.service_name(r)))
            .collect();

        let resource_ids: Vec<String> = ids
            .iter()
            .map(|(_, c, s)| ecs_resource_id(cluster_name(c), s))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut targets = BTreeMap::new();
        for chunk in resource_ids.chunks(RESOURCE_IDS_PER_CALL) {
            targets.extend(aws.autoscaling.ecs_scalable_targets(chunk).await?);
        }

        let mut by_cluster: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (_, cluster, service) in &ids {
            by_cluster.entry(cluster).or_default().insert(service);
        }
        let mut described: HashMap<(&str, &str), Result<ServiceInfo, Error>> = HashMap::new();
        for (cluster, services) in by_cluster {
            let services: Vec<&str> = services.into_iter().collect();
            for chunk in services.chunks(SERVICES_PER_CALL) {
                let names: Vec<String> = chunk.iter().map(|s| s.to_string()).collect();
                match aws.ecs.describe_services(cluster, &names).await {
                    Ok(answer) => {
                        for service in chunk {
                            described
                                .insert((cluster, service), resolve(cluster, service, &answer));
                        }
                    }
                    Err(e) if e.class == ErrorClass::NotFound => {
                        // The cluster itself is missing: no need to ask again
                        // for the rest of its services.
                        let e = aws::Error {
                            message: format!("cluster {cluster} not found"),
                            ..e
                        };
                        for service in &services {
                            described.insert((cluster, service), Err(e.clone().into()));
                        }
                        break;
                    }
                    Err(e) => {
                        for service in chunk {
                            described.insert((cluster, service), Err(e.clone().into()));
                        }
                    }
                }
            }
        }

        Ok(ids
            .into_iter()
            .map(|(name, cluster, service)| {
                let entry = match described.get(&(cluster, service)) {
                    Some(Ok(info)) => Ok(Some(Live {
                        cluster: cluster.to_string(),
                        service: service.to_string(),
                        arn: info.arn.clone(),
                        status: info.status.clone(),
                        desired_count: info.desired_count,
                        running_count: info.running_count,
                        pending_count: info.pending_count,
                        scalable_target: targets
                            .get(&ecs_resource_id(cluster_name(cluster), service))
                            .copied(),
                    })),
                    Some(Err(e)) => Err(e.clone()),
                    None => Err(Error::Unreadable(format!(
                        "service {service} in cluster {cluster} was not described"
                    ))),
                };
                (name.to_string(), entry)
            })
            .collect())
    }

    /// ECS services are never tagged by driftd (see `aws::ecs` for why), so
    /// there is no ownership to check: driftd owns only the count.
    fn live_tags(_live: &Live) -> Option<&Tags> {
        None
    }

    fn diff(
        resource: &Resource,
        spec: &Spec,
        live: Option<&Live>,
        _inputs: &Inputs,
        _refs: &Refs,
        _ctx: &Ctx,
    ) -> Diff<Ops> {
        let service = spec.service_name(resource);
        let cluster = &spec.cluster;
        let Some(live) = live else {
            return Diff::missing(
                format!("service {service} not found in cluster {cluster}; driftd never creates ECS services"),
            );
        };
        match &live.status {
            ServiceStatus::Active => {}
            ServiceStatus::Draining => {
                return Diff::blocked(
                    Blocked::ServiceDraining,
                    format!(
                        "service {service} in cluster {cluster} is DRAINING (being deleted); driftd leaves its count alone"
                    ),
                )
            }
            ServiceStatus::Inactive => {
                return Diff::missing(
                    format!("service {service} in cluster {cluster} is INACTIVE (deleted); driftd never creates ECS services"),
                )
            }
            ServiceStatus::Other(status) => {
                return Diff::blocked(
                    Blocked::UnexpectedStatus,
                    format!("service {service} in cluster {cluster} has status {status}; driftd changes only ACTIVE services"),
                )
            }
        }
        let count = match spec.count() {
            Ok(count) => count,
            Err(problem) => return Diff::blocked(Blocked::InvalidSpec, problem.to_string()),
        };

        let mut notes = Vec::new();
        let bounds = enforced_bounds(count, live, &mut notes);
        let current = live.desired_count;
        let wanted = bounds.nearest(current);
        if wanted == current {
            return Diff {
                action: Action::InSync,
                changes: Vec::new(),
                notes,
                ops: Ops::default(),
            };
        }
        if bounds.ranged {
            notes.push(format!(
                "desiredCount {current} is outside {}: set to the nearest bound",
                range_text(bounds.min, bounds.max)
            ));
        }
        Diff {
            action: Action::Update,
            changes: vec![Change::new(
                "desiredCount",
                Some(current.to_string()),
                Some(wanted.to_string()),
            )],
            notes,
            ops: Ops {
                desired_count: Some(wanted),
            },
        }
    }

    async fn apply(
        aws: &Aws,
        resource: &Resource,
        spec: &Spec,
        ops: &Ops,
        _refs: &mut Refs,
        _ctx: &Ctx,
    ) -> Result<(), Error> {
        if let Some(n) = ops.desired_count {
            aws.ecs
                .update_desired_count(&spec.cluster, spec.service_name(resource), n)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
impl Spec {
    /// A spec for `tiktimer-dev-app` in cluster `tiktimer-dev` with no count
    /// yet: chain `.desired_count(n)` or `.min_count(n)`/`.max_count(n)`.
    pub fn test() -> Spec {
        Spec {
            cluster: "tiktimer-dev".into(),
            service: Some("tiktimer-dev-app".into()),
            desired_count: None,
            min_count: None,
            max_count: None,
        }
    }

    pub fn desired_count(mut self, n: i32) -> Spec {
        self.desired_count = Some(n);
        self
    }

    pub fn min_count(mut self, n: i32) -> Spec {
        self.min_count = Some(n);
        self
    }

    pub fn max_count(mut self, n: i32) -> Spec {
        self.max_count = Some(n);
        self
    }

    pub fn cluster(mut self, cluster: &str) -> Spec {
        self.cluster = cluster.into();
        self
    }

    pub fn service(mut self, service: &str) -> Spec {
        self.service = Some(service.into());
        self
    }

    /// The resource of this spec, named after its service.
    pub fn resource(&self) -> Resource {
        Resource {
            environment: crate::kinds::DEFAULT_ENVIRONMENT.to_string(),
            name: self
                .service
                .clone()
                .unwrap_or_else(|| "tiktimer-dev-app".into()),
            mode: None,
            origin: super::Origin {
                file: "desired-state/ecs.yaml".into(),
                line: 1,
                column: 1,
            },
            spec: super::Spec::EcsService(self.clone()),
        }
    }
}

#[cfg(test)]
impl Live {
    /// An ACTIVE service with one task wanted and running, not autoscaled.
    pub fn test() -> Live {
        Live {
            cluster: "tiktimer-dev".into(),
            service: "tiktimer-dev-app".into(),
            arn: Some(
                "arn:aws:ecs:us-east-1:123456789012:service/tiktimer-dev/tiktimer-dev-app".into(),
            ),
            status: ServiceStatus::Active,
            desired_count: 1,
            running_count: 1,
            pending_count: 0,
            scalable_target: None,
        }
    }

    pub fn desired_count(mut self, n: i32) -> Live {
        self.desired_count = n;
        self
    }

    pub fn status(mut self, status: ServiceStatus) -> Live {
        self.status = status;
        self
    }

    pub fn autoscaled(mut self, min: i32, max: i32) -> Live {
        self.scalable_target = Some(ScalableRange { min, max });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::FakeAws;

    fn diff(spec: &Spec, live: Option<&Live>) -> Diff<Ops> {
        EcsService::diff(
            &spec.resource(),
            spec,
            live,
            &Inputs::default(),
            &Refs::default(),
            &Ctx::test(),
        )
    }

    /// What a diff should come to.
    #[derive(Debug, PartialEq)]
    enum Expect {
        InSync,
        /// desiredCount from -> to.
        Set(i32, i32),
        /// Not there, and never created.
        Missing,
        /// Not reconciled as it stands.
        Blocked(super::Blocked),
    }

    fn outcome(d: &Diff<Ops>) -> Expect {
        match &d.action {
            Action::InSync => {
                assert!(d.changes.is_empty() && d.ops == Ops::default(), "{d:?}");
                Expect::InSync
            }
            Action::Update => {
                let [change] = d.changes.as_slice() else {
                    panic!("one change expected: {d:?}");
                };
                assert_eq!(change.field, "desiredCount");
                let from = change.from.as_deref().and_then(|s| s.parse().ok());
                let to = change.to.as_deref().and_then(|s| s.parse().ok());
                let (Some(from), Some(to)) = (from, to) else {
                    panic!("numbers expected: {change:?}");
                };
                assert_eq!(d.ops.desired_count, Some(to), "ops follow the change");
                Expect::Set(from, to)
            }
            Action::Error(e) => {
                assert_eq!(d.ops, Ops::default(), "an error writes nothing");
                match e {
                    Error::Missing(_) => Expect::Missing,
                    Error::Blocked { why, .. } => Expect::Blocked(*why),
                    other => panic!("not an error of the diff: {other:?}"),
                }
            }
            Action::Create => panic!("ECS services are never created: {d:?}"),
        }
    }

    /// Asserts that one of the diff's notes contains `text`.
    fn assert_note(d: &Diff<Ops>, text: &str) {
        assert!(d.notes.iter().any(|n| n.contains(text)), "{:?}", d.notes);
    }

    #[test]
    fn diff_table() {
        use Expect::*;
        let s = Spec::test;
        let l = Live::test;
        let check = |name: &str, spec: &Spec, live: Option<Live>, want: Expect| {
            let d = diff(spec, live.as_ref());
            assert_eq!(outcome(&d), want, "{name}: {d:?}");
        };
        // A spec, and what its diff comes to at each live desiredCount.
        let counts = vec![
            ("fixed 2", s().desired_count(2), vec![(2, InSync)]),
            ("fixed 1", s().desired_count(1), vec![(3, Set(3, 1))]),
            ("fixed 4", s().desired_count(4), vec![(0, Set(0, 4))]),
            ("fixed zero", s().desired_count(0), vec![(2, Set(2, 0))]),
            (
                "range 1..4: inside, at min, at max, above",
                s().min_count(1).max_count(4),
                vec![(3, InSync), (1, InSync), (4, InSync), (9, Set(9, 4))],
            ),
            (
                "range 2..4",
                s().min_count(2).max_count(4),
                vec![(0, Set(0, 2))],
            ),
            (
                "single-point range",
                s().min_count(3).max_count(3),
                vec![(5, Set(5, 3))],
            ),
            (
                "min only",
                s().min_count(2),
                vec![(50, InSync), (1, Set(1, 2))],
            ),
            (
                "max only",
                s().max_count(4),
                vec![(0, InSync), (7, Set(7, 4))],
            ),
        ];
        for (name, spec, cases) in counts {
            for (count, want) in cases {
                let live = l().desired_count(count);
                check(&format!("{name} at {count}"), &spec, Some(live), want);
            }
        }
        // Autoscaled 1..4: the target's range replaces desiredCount, a
        // declared range rules.
        let autoscaled: Vec<(&str, Spec, i32, Expect)> = vec![
            ("inside", s().desired_count(2), 3, InSync),
            (
                "above: the target's max",
                s().desired_count(2),
                6,
                Set(6, 4),
            ),
            (
                "below: the target's min",
                s().desired_count(2),
                0,
                Set(0, 1),
            ),
            (
                "a range spec rules",
                s().min_count(2).max_count(3),
                4,
                Set(4, 3),
            ),
            (
                "a wider range spec",
                s().min_count(0).max_count(10),
                4,
                InSync,
            ),
        ];
        for (name, spec, count, want) in autoscaled {
            let live = l().desired_count(count).autoscaled(1, 4);
            check(&format!("autoscaled, {name}"), &spec, Some(live), want);
        }
        let one = s().desired_count(1);
        check("missing", &one, None, Missing);
        check(
            "INACTIVE",
            &one,
            Some(l().status(ServiceStatus::Inactive)),
            Missing,
        );
        check(
            "DRAINING",
            &one,
            Some(l().desired_count(3).status(ServiceStatus::Draining)),
            Blocked(super::Blocked::ServiceDraining),
        );
        check(
            "unknown status",
            &one,
            Some(l().status(ServiceStatus::Other("PROVISIONING".into()))),
            Blocked(super::Blocked::UnexpectedStatus),
        );
        let invalid = [
            ("no count at all", s(), 1),
            ("count and range", s().desired_count(1).max_count(2), 1),
            ("min above max", s().min_count(5).max_count(2), 3),
            ("negative count", s().desired_count(-1), 1),
        ];
        for (name, spec, count) in invalid {
            let live = l().desired_count(count);
            check(
                name,
                &spec,
                Some(live),
                Blocked(super::Blocked::InvalidSpec),
            );
        }
    }

    #[test]
    fn change_shows_old_and_new_count() {
        let d = diff(
            &Spec::test().desired_count(1),
            Some(&Live::test().desired_count(3)),
        );
        let [change] = d.changes.as_slice() else {
            panic!("{d:?}")
        };
        assert_eq!(
            (
                change.field.as_str(),
                change.from.as_deref(),
                change.to.as_deref()
            ),
            ("desiredCount", Some("3"), Some("1"))
        );
        assert!(
            d.notes.is_empty(),
            "a fixed count needs no explanation: {:?}",
            d.notes
        );
    }

    #[test]
    fn autoscaled_plan_says_the_target_replaces_desired_count() {
        for live in [Live::test().desired_count(3), Live::test().desired_count(9)] {
            let d = diff(&Spec::test().desired_count(2), Some(&live.autoscaled(1, 4)));
            assert!(
                d.notes.iter().any(|n| n
                    == "autoscaled: Application Auto Scaling range 1..4 replaces desiredCount 2"),
                "{:?}",
                d.notes
            );
        }
    }

    #[test]
    fn autoscaled_range_spec_warns_only_when_it_can_fight_the_autoscaler() {
        let narrow = diff(
            &Spec::test().min_count(2).max_count(3),
            Some(&Live::test().desired_count(2).autoscaled(1, 4)),
        );
        assert_eq!(narrow.action, Action::InSync);
        assert_note(
            &narrow,
            "range 1..4 reaches outside the declared range 2..3",
        );
        let wide = diff(
            &Spec::test().min_count(1),
            Some(&Live::test().desired_count(2).autoscaled(1, 4)),
        );
        assert_note(&wide, "range 1..4 lies within the declared range 1..");
    }

    #[test]
    fn range_correction_names_the_range() {
        let d = diff(
            &Spec::test().max_count(4),
            Some(&Live::test().desired_count(7)),
        );
        assert_eq!(
            d.notes,
            ["desiredCount 7 is outside ..4: set to the nearest bound"]
        );
    }

    #[test]
    fn errors_name_service_and_cluster() {
        let spec = Spec::test().desired_count(1);
        let draining = diff(&spec, Some(&Live::test().status(ServiceStatus::Draining)));
        let Action::Error(error) = &draining.action else {
            panic!("{draining:?}")
        };
        let message = error.to_string();
        assert_eq!(
            message,
            "service tiktimer-dev-app in cluster tiktimer-dev is DRAINING (being deleted); driftd leaves its count alone"
        );
    }

    #[test]
    fn problems_name_their_fields() {
        let fields = |spec: Spec| -> Vec<&'static str> {
            spec.problems().into_iter().map(|p| p.field).collect()
        };
        assert!(fields(Spec::test().desired_count(1)).is_empty());
        assert!(fields(Spec::test().min_count(0).max_count(0)).is_empty());
        assert_eq!(fields(Spec::test()), ["spec"]);
        assert_eq!(
            fields(Spec::test().desired_count(1).min_count(1)),
            ["spec.desiredCount"]
        );
        assert_eq!(
            fields(Spec::test().min_count(-1).max_count(-2)),
            ["spec.minCount", "spec.maxCount", "spec.minCount"]
        );
        assert_eq!(
            fields(service(" ", "", 1)),
            ["spec.cluster", "spec.service"]
        );
    }

    #[test]
    fn cluster_arns_become_names_for_autoscaling() {
        assert_eq!(
            cluster_name("arn:aws:ecs:us-east-1:123456789012:cluster/tiktimer-dev"),
            "tiktimer-dev"
        );
        assert_eq!(cluster_name("tiktimer-dev"), "tiktimer-dev");
    }

    // ---- through the fake AWS ----

    async fn observe(fake: &FakeAws, specs: &[Spec]) -> Observed<Live> {
        let resources: Vec<Resource> = specs.iter().map(Spec::resource).collect();
        observe_resources(fake, &resources, specs).await
    }

    /// Observes these specs as the resources of these names.
    async fn observe_named(fake: &FakeAws, specs: &[Spec], names: &[&str]) -> Observed<Live> {
        let resources: Vec<Resource> = specs
            .iter()
            .zip(names)
            .map(|(s, name)| Resource {
                environment: crate::kinds::DEFAULT_ENVIRONMENT.to_string(),
                name: name.to_string(),
                ..s.resource()
            })
            .collect();
        observe_resources(fake, &resources, specs).await
    }

    async fn observe_resources(
        fake: &FakeAws,
        resources: &[Resource],
        specs: &[Spec],
    ) -> Observed<Live> {
        let pairs: Vec<(&Resource, &Spec)> = resources.iter().zip(specs).collect();
        EcsService::observe(&fake.aws(), &pairs)
            .await
            .expect("observe")
    }

    async fn apply(fake: &FakeAws, spec: &Spec, ops: &Ops) {
        EcsService::apply(
            &fake.aws(),
            &spec.resource(),
            spec,
            ops,
            &mut Refs::default(),
            &Ctx::test(),
        )
        .await
        .expect("apply");
    }

    /// A spec of this service of this cluster, wanting this count.
    fn service(cluster: &str, service: &str, count: i32) -> Spec {
        Spec::test()
            .cluster(cluster)
            .service(service)
            .desired_count(count)
    }

    fn live<'a>(observed: &'a Observed<Live>, name: &str) -> &'a Live {
        match observed.get(name) {
            Some(Ok(Some(live))) => live,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn error<'a>(observed: &'a Observed<Live>, name: &str) -> &'a Error {
        match observed.get(name) {
            Some(Err(e)) => e,
            other => panic!("{name}: an error expected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn twenty_five_services_of_one_cluster_take_three_describe_calls() {
        let fake = FakeAws::new();
        let specs: Vec<Spec> = (0..25)
            .map(|i| {
                let name = format!("svc-{i:02}");
                fake.state.lock().unwrap().ecs.add_service("big", &name, i);
                service("big", &name, 1)
            })
            .collect();
        let observed = observe(&fake, &specs).await;
        assert_eq!(observed.len(), 25);
        for i in 0..25 {
            assert_eq!(live(&observed, &format!("svc-{i:02}")).desired_count, i);
        }
        let state = fake.state.lock().unwrap();
        let sizes: Vec<(&str, usize)> = state
            .ecs
            .describe_calls
            .iter()
            .map(|(c, s)| (c.as_str(), s.len()))
            .collect();
        assert_eq!(sizes, [("big", 10), ("big", 10), ("big", 5)]);
        assert_eq!(
            state.autoscaling.describe_calls.len(),
            1,
            "one autoscaling lookup"
        );
        assert_eq!(state.autoscaling.describe_calls[0].len(), 25);
    }

    #[tokio::test]
    async fn sixty_services_take_two_autoscaling_calls() {
        let fake = FakeAws::new();
        let specs: Vec<Spec> = (0..60)
            .map(|i| {
                let name = format!("svc-{i:02}");
                fake.state.lock().unwrap().ecs.add_service("big", &name, 1);
                service("big", &name, 1)
            })
            .collect();
        observe(&fake, &specs).await;
        let state = fake.state.lock().unwrap();
        let sizes: Vec<usize> = state
            .autoscaling
            .describe_calls
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [50, 10]);
        assert_eq!(state.ecs.describe_calls.len(), 6);
    }

    #[tokio::test]
    async fn services_of_two_clusters_are_described_per_cluster() {
        let fake = FakeAws::new();
        {
            let mut state = fake.state.lock().unwrap();
            state.ecs.add_service("blue", "api", 2);
            state.ecs.add_service("blue", "worker", 1);
            state.ecs.add_service("green", "api", 5);
            state.autoscaling.register_ecs_target("green", "api", 2, 8);
        }
        let specs = [
            service("blue", "api", 2),
            service("blue", "worker", 1),
            // Same service name in another cluster, under another resource name.
            service("green", "api", 2),
        ];
        let observed =
            observe_named(&fake, &specs, &["blue-api", "blue-worker", "green-api"]).await;
        assert_eq!(live(&observed, "blue-api").desired_count, 2);
        assert_eq!(live(&observed, "blue-worker").desired_count, 1);
        let green = live(&observed, "green-api");
        assert_eq!((green.cluster.as_str(), green.desired_count), ("green", 5));
        assert_eq!(
            green.scalable_target,
            Some(ScalableRange { min: 2, max: 8 })
        );
        assert_eq!(live(&observed, "blue-api").scalable_target, None);
        let state = fake.state.lock().unwrap();
        let calls: Vec<(&str, Vec<&str>)> = state
            .ecs
            .describe_calls
            .iter()
            .map(|(c, s)| (c.as_str(), s.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            calls,
            [("blue", vec!["api", "worker"]), ("green", vec!["api"])]
        );
        assert_eq!(
            state.autoscaling.describe_calls,
            [vec![
                "service/blue/api",
                "service/blue/worker",
                "service/green/api"
            ]]
        );
    }

    #[tokio::test]
    async fn missing_inactive_and_cluster_less_services_fail_alone() {
        let fake = FakeAws::new();
        {
            let mut state = fake.state.lock().unwrap();
            state.ecs.add_service("blue", "api", 2);
            state.ecs.add_service("blue", "old", 0).status = ServiceStatus::Inactive;
            state.ecs.add_service("blue", "leaving", 1).status = ServiceStatus::Draining;
        }
        let specs = [
            service("blue", "api", 2),
            service("blue", "gone", 1),
            service("blue", "old", 1),
            service("blue", "leaving", 1),
            service("nowhere", "lost", 1),
            service("nowhere", "lost-too", 1),
        ];
        let observed = observe(&fake, &specs).await;
        assert_eq!(live(&observed, "api").desired_count, 2);

        let gone = error(&observed, "gone");
        assert!(matches!(gone, Error::Missing(_)), "{gone:?}");
        assert_eq!(
            gone.to_string(),
            "service gone not found in cluster blue; driftd never creates ECS services"
        );
        let old = error(&observed, "old");
        assert!(matches!(old, Error::Missing(_)), "{old:?}");
        assert!(
            old.to_string()
                .contains("service old in cluster blue is INACTIVE"),
            "{old}"
        );
        for name in ["lost", "lost-too"] {
            let e = error(&observed, name);
            let Error::Aws(e) = e else {
                panic!("{name}: the cluster's own error expected, got {e:?}")
            };
            assert_eq!(
                (e.class, e.message.as_str()),
                (ErrorClass::NotFound, "cluster nowhere not found")
            );
        }
        // DRAINING is observed; the diff turns it into an error.
        let leaving = live(&observed, "leaving");
        assert_eq!(leaving.status, ServiceStatus::Draining);

        let state = fake.state.lock().unwrap();
        assert_eq!(state.ecs.describe_calls.len(), 2, "one call per cluster");
    }

    #[tokio::test]
    async fn a_denied_cluster_fails_only_its_own_services() {
        let fake = FakeAws::new();
        {
            let mut state = fake.state.lock().unwrap();
            state.ecs.add_service("blue", "api", 1);
            state.ecs.add_service("red", "api", 1);
            state.ecs.denied_clusters.insert("red".into());
        }
        let specs = [service("blue", "api", 1), service("red", "api", 1)];
        let observed = observe_named(&fake, &specs, &["blue-api", "red-api"]).await;
        assert_eq!(live(&observed, "blue-api").cluster, "blue");
        assert_eq!(
            error(&observed, "red-api").aws_class(),
            Some(ErrorClass::AccessDenied)
        );
    }

    #[tokio::test]
    async fn a_failed_autoscaling_lookup_fails_the_kind() {
        let fake = FakeAws::new();
        {
            let mut state = fake.state.lock().unwrap();
            state.ecs.add_service("blue", "api", 1);
            state.autoscaling.denied = true;
        }
        let spec = service("blue", "api", 1);
        let resource = spec.resource();
        let err = EcsService::observe(&fake.aws(), &[(&resource, &spec)])
            .await
            .expect_err("without the autoscaler's range driftd could fight it");
        assert_eq!(err.aws_class(), Some(ErrorClass::AccessDenied));
    }

    #[tokio::test]
    async fn apply_sets_the_count_and_nothing_else() {
        let fake = FakeAws::new();
        fake.state
            .lock()
            .unwrap()
            .ecs
            .add_service("tiktimer-dev", "tiktimer-dev-app", 3);
        let spec = Spec::test().desired_count(1);
        let observed = observe(&fake, std::slice::from_ref(&spec)).await;
        let d = diff(&spec, Some(live(&observed, "tiktimer-dev-app")));
        assert_eq!(d.action, Action::Update);
        apply(&fake, &spec, &d.ops).await;
        assert_eq!(
            fake.writes(),
            ["ecs.UpdateService tiktimer-dev/tiktimer-dev-app"]
        );

        let observed = observe(&fake, std::slice::from_ref(&spec)).await;
        let again = diff(&spec, Some(live(&observed, "tiktimer-dev-app")));
        assert_eq!(again.action, Action::InSync, "read back in sync");
    }

    #[tokio::test]
    async fn in_sync_applies_nothing() {
        let fake = FakeAws::new();
        let spec = Spec::test().desired_count(1);
        apply(&fake, &spec, &Ops::default()).await;
        assert!(fake.writes().is_empty());
    }
}
