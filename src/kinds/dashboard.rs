//! CloudWatch dashboards: the spec, the live view, and the pure diff.
//!
//! Bodies are compared as JSON values: key order, whitespace and number
//! formatting (`5` vs `5.0`) are never drift. The body in AWS is exactly the
//! declared one; driftd adds a "managed by driftd" notice widget only to
//! dashboards that ask for it (`notice: true`). Ownership is the
//! `driftd:owner` tag, as for every other kind; see
//! docs/dashboard-ownership.md and [`is_owned`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use super::{desired_tags, Change, Kind, Resource, Tags, OWNER_TAG};
use super::{Action, Blocked, Ctx, Diff, Error, Inputs, Observed, Reconciler, Refs};
use crate::aws::dashboards::{DashboardEntry, Version};
use crate::aws::{Aws, ErrorClass};

/// `spec:` of a `Dashboard` document (section 1.2 of the contract).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "DashboardSpec")]
pub struct Spec {
    /// The body as written in YAML. After loading, the loader has filled it
    /// from `bodyFile` too, so it is always set on a validated resource.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// A JSON file holding the body, relative to the YAML file.
    #[serde(default)]
    pub body_file: Option<String>,
    /// Adds a one-line "managed by driftd: edits made here are overwritten"
    /// text widget at the bottom of the dashboard. Off by default: the
    /// dashboard is then exactly the declared body.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notice: bool,
}

impl Spec {
    /// The dashboard body; always present once the desired state is loaded.
    pub fn body(&self) -> &serde_json::Value {
        static EMPTY: serde_json::Value = serde_json::Value::Null;
        self.body.as_ref().unwrap_or(&EMPTY)
    }
}

/// A dashboard as CloudWatch holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub name: String,
    pub arn: Option<String>,
    /// The body as stored. Shared with the body cache, so an unchanged
    /// dashboard costs no copy per pass.
    pub body: Arc<Value>,
    /// Its tags; `None` where the endpoint refuses tags on dashboards (then
    /// ownership cannot be proven by a tag, and a missing tag is no drift).
    pub tags: Option<Tags>,
}

/// The writes a diff decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ops {
    /// One `PutDashboard` with this body, as compact JSON.
    pub put: Option<String>,
    /// Set the `driftd:owner` tag (`TagResource`) afterwards.
    pub tag: bool,
    /// The dashboard's ARN when it exists already (for `TagResource`).
    pub arn: Option<String>,
}

/// At most this many body differences are listed in a plan; the rest are counted.
pub const MAX_BODY_CHANGES: usize = 12;

/// Values longer than this are cut in plan output.
const MAX_SHOWN_CHARS: usize = 80;

/// How many dashboards one pass reads at once.
const FETCH_CONCURRENCY: usize = 4;

/// The plan field of the notice widget.
const NOTICE_FIELD: &str = "notice";

pub struct Dashboard;

#[async_trait]
impl Reconciler for Dashboard {
    const KIND: Kind = Kind::Dashboard;
    type Spec = Spec;
    type Live = Live;
    type Ops = Ops;

    async fn observe(aws: &Aws, resources: &[(&Resource, &Spec)]) -> Result<Observed<Live>, Error> {
        let names: Vec<&str> = resources.iter().map(|(r, _)| r.name.as_str()).collect();
        observe_named(aws, &names).await
    }

    fn live_tags(live: &Live) -> Option<&Tags> {
        live.tags.as_ref()
    }

    fn diff(
        resource: &Resource,
        spec: &Spec,
        live: Option<&Live>,
        _inputs: &Inputs,
        _refs: &Refs,
        ctx: &Ctx,
    ) -> Diff<Ops> {
        diff(&resource.name, spec, live, &ctx.owner)
    }

    async fn apply(
        aws: &Aws,
        resource: &Resource,
        _spec: &Spec,
        ops: &Ops,
        _refs: &mut Refs,
        ctx: &Ctx,
    ) -> Result<(), Error> {
        let name = resource.name.as_str();
        if let Some(body) = &ops.put {
            let warnings = aws.dashboards.put(name, body).await;
            // Whatever happened, the next read must come from AWS.
            aws.dashboards.bodies().forget(name);
            aws.dashboards.tag_memory().seen.forget(name);
            for warning in warnings? {
                tracing::warn!(
                    dashboard = name,
                    "CloudWatch saved the dashboard with a warning: {warning}"
                );
            }
        }
        if ops.tag {
            tag_owner(aws, name, ops.arn.as_deref(), &ctx.owner).await?;
        }
        Ok(())
    }
}

/// Reads these dashboards: one `ListDashboards` walk, then `GetDashboard` and
/// `ListTagsForResource` only for those whose (LastModified, Size) changed
/// since this process last read them.
pub async fn observe_named(aws: &Aws, names: &[&str]) -> Result<Observed<Live>, Error> {
    let listed = aws.dashboards.list("").await?;
    observe_listed(aws, &listed, names).await
}

/// Reads every dashboard of the account that is not among `declared`, for
/// the prune step to check its ownership ([`is_owned`]): one
/// `ListDashboards` walk, and the reads of [`observe_named`] for the rest.
pub async fn observe_undeclared(
    aws: &Aws,
    declared: &std::collections::HashSet<&str>,
) -> Result<Observed<Live>, Error> {
    let listed = aws.dashboards.list("").await?;
    let names: Vec<&str> = listed
        .iter()
        .map(|e| e.name.as_str())
        .filter(|n| !declared.contains(n))
        .collect();
    observe_listed(aws, &listed, &names).await
}

/// Whether this dashboard still provably belongs to `owner`, its tags read
/// afresh (the prune step asks right before deleting it: a tag removed in
/// the console leaves the dashboard's version, and so the memory, unchanged).
pub async fn still_owned(aws: &Aws, name: &str, owner: &str) -> Result<bool, Error> {
    aws.dashboards.tag_memory().seen.forget(name);
    let listed = aws.dashboards.list(name).await?;
    let mut observed = observe_listed(aws, &listed, &[name]).await?;
    match observed.remove(name) {
        Some(Ok(Some(live))) => Ok(is_owned(&live, owner)),
        Some(Err(e)) => Err(e),
        _ => Ok(false),
    }
}

/// Reads these dashboards out of one listing, from the process's memory
/// where it can.
async fn observe_listed(
    aws: &Aws,
    listed: &[DashboardEntry],
    names: &[&str],
) -> Result<Observed<Live>, Error> {
    let bodies = aws.dashboards.bodies();
    let memory = aws.dashboards.tag_memory();
    let by_name: HashMap<&str, &DashboardEntry> =
        listed.iter().map(|e| (e.name.as_str(), e)).collect();
    bodies.retain(|name| by_name.contains_key(name));
    memory.seen.retain(|name| by_name.contains_key(name));

    let mut observed = Observed::new();
    let mut to_read = Vec::new();
    for &name in names {
        let Some(&entry) = by_name.get(name) else {
            observed.insert(name.to_string(), Ok(None));
            continue;
        };
        let body = bodies.lookup(name, entry.version());
        let tags = if memory.refused() {
            Some(None)
        } else {
            memory.seen.lookup(name, entry.version()).map(Some)
        };
        match (body, tags) {
            (Some(body), Some(tags)) => {
                observed.insert(name.to_string(), Ok(Some(live_of(entry, body, tags))));
            }
            (body, tags) => to_read.push((entry.clone(), body, tags)),
        }
    }

    let read: Vec<_> = stream::iter(to_read)
        // Owned entries: a closure over borrowed ones trips the compiler's
        // higher-ranked lifetime inference inside `async_trait`.
        .map(|(entry, body, tags): (DashboardEntry, _, _)| async move {
            let result = read(aws, &entry, body, tags).await;
            (entry, result)
        })
        .buffer_unordered(FETCH_CONCURRENCY)
        .collect()
        .await;
    for (entry, result) in read {
        observed.insert(entry.name, result);
    }
    Ok(observed)
}

/// Reads what the memory did not hold of one dashboard (its body, its tags,
/// or both, at once) and remembers it at the version it was listed with.
async fn read(
    aws: &Aws,
    entry: &DashboardEntry,
    body: Option<Arc<Value>>,
    tags: Option<Option<Tags>>,
) -> Result<Option<Live>, Error> {
    let version = entry.version();
    let body = async {
        match body {
            Some(body) => Ok(Some(body)),
            None => fetch_body(aws, &entry.name, version).await,
        }
    };
    let tags = async {
        match (tags, entry.arn.as_deref()) {
            (Some(tags), _) => Ok(tags),
            (None, Some(arn)) => {
                let tags = aws.dashboards.tags(arn).await.map_err(Error::from)?;
                if let Some(version) = version {
                    aws.dashboards
                        .tag_memory()
                        .seen
                        .store(&entry.name, version, tags.clone());
                }
                Ok(Some(tags))
            }
            // CloudWatch lists every dashboard with its ARN; without one
            // there is nothing to read tags of, and nothing proves ownership.
            (None, None) => Ok(Some(Tags::new())),
        }
    };
    let (body, tags) = futures::try_join!(body, tags)?;
    // Deleted between the list and the read: it does not exist.
    Ok(body.map(|body| live_of(entry, body, tags)))
}

/// Fetches and parses one body, and caches it at this version.
async fn fetch_body(
    aws: &Aws,
    name: &str,
    version: Option<Version>,
) -> Result<Option<Arc<Value>>, Error> {
    let Some(text) = aws.dashboards.get(name).await? else {
        return Ok(None);
    };
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Unreadable(format!("the body of dashboard {name} is not JSON: {e}")))?;
    let body = Arc::new(body);
    if let Some(version) = version {
        aws.dashboards
            .bodies()
            .store(name, version, Arc::clone(&body));
    }
    Ok(Some(body))
}

fn live_of(entry: &DashboardEntry, body: Arc<Value>, tags: Option<Tags>) -> Live {
    Live {
        name: entry.name.clone(),
        arn: entry.arn.clone(),
        body,
        tags,
    }
}

/// Sets the owner tag, the proof of ownership. An endpoint that refuses tags
/// on dashboards (moto answers `TagResource` on one with
/// ResourceNotFoundException; real CloudWatch tags them) is said once per
/// process and is no error: such dashboards are simply never pruned.
async fn tag_owner(aws: &Aws, name: &str, arn: Option<&str>, owner: &str) -> Result<(), Error> {
    let memory = aws.dashboards.tag_memory();
    if memory.refused() {
        return Ok(());
    }
    let arn = match arn {
        Some(arn) => arn.to_string(),
        // A dashboard just created: PutDashboard does not return its ARN.
        None => aws
            .dashboards
            .list(name)
            .await?
            .into_iter()
            .find(|e| e.name == name)
            .and_then(|e| e.arn)
            .ok_or_else(|| {
                Error::Unreadable(format!(
                    "dashboard {name} is not listed with an ARN: it cannot be tagged"
                ))
            })?,
    };
    match aws
        .dashboards
        .tag(&arn, &desired_tags(&Tags::new(), owner))
        .await
    {
        Ok(()) => {
            memory.seen.update(name, |tags| {
                tags.insert(OWNER_TAG.to_string(), owner.to_string());
            });
            Ok(())
        }
        // The dashboard was just listed or written: "not found" is the
        // endpoint refusing tags on dashboards.
        Err(error) if error.class == ErrorClass::NotFound => {
            if memory.refuse() {
                tracing::warn!(
                    dashboard = name,
                    %error,
                    "this endpoint refuses tags on dashboards: driftd cannot prove it owns a \
                     dashboard here, so it never prunes one, and a missing owner tag is not drift"
                );
            }
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// The pure diff of one dashboard.
pub fn diff(name: &str, spec: &Spec, live: Option<&Live>, owner: &str) -> Diff<Ops> {
    let declared = spec.body();
    let to_write = match written_body(declared, spec.notice, owner, name) {
        Ok(body) => body,
        Err(problem) => {
            return Diff::blocked(
                Blocked::InvalidBody,
                format!("Dashboard {name}: spec.body: {problem}"),
            )
        }
    };
    let Some(live) = live else {
        let mut changes = vec![Change::new("body", None, Some(summary(declared)))];
        if spec.notice {
            changes.push(Change::new(NOTICE_FIELD, None, Some(NOTICE.to_string())));
        }
        changes.push(Change::new(OWNER_TAG, None, Some(owner.to_string())));
        return Diff {
            action: Action::Create,
            changes,
            notes: Vec::new(),
            ops: Ops {
                put: Some(to_write.to_string()),
                tag: true,
                arn: None,
            },
        };
    };

    let owner_tag = live.tags.as_ref().map(|t| t.get(OWNER_TAG));
    let (live_unmarked, claims) = split_marker(&live.body);
    // A dashboard marked by another driftd before ownership moved to the tag
    // is left alone, as the engine does for one tagged by another owner.
    if matches!(owner_tag, None | Some(None)) {
        if let Some(foreign) = claims.iter().find_map(|c| {
            let here = c.dashboard.as_deref() == Some(name);
            c.owner.as_deref().filter(|o| here && *o != owner)
        }) {
            return Diff::blocked(
                Blocked::ForeignOwner,
                format!(
                    "Dashboard {name} is owned by driftd owner {foreign:?}, not {owner:?}: left untouched"
                ),
            );
        }
    }

    let mut differences = Differences::default();
    let mut notes = Vec::new();
    if spec.notice {
        // The notice is compared on its own: where someone moved it is not
        // drift. What is written without it (a body without `widgets` gets
        // a list for the notice) is what the rest is compared with.
        let (declared_unmarked, _) = split_marker(&to_write);
        differences.walk(
            &mut "body".to_string(),
            Some(&live_unmarked),
            Some(&declared_unmarked),
        );
    } else {
        differences.walk(&mut "body".to_string(), Some(&live.body), Some(declared));
        if !claims.is_empty() {
            notes.push(format!(
                "the driftd marker widget is removed: ownership is the {OWNER_TAG} tag now \
                 (notice: true keeps a notice)"
            ));
        }
    }
    let mut changes = std::mem::take(&mut differences.changes);
    if differences.total > changes.len() {
        notes.push(format!(
            "body: {} more differences not shown",
            differences.total - changes.len()
        ));
    }
    let notice_right = claims.len() == 1
        && claims[0].owner.as_deref() == Some(owner)
        && claims[0].dashboard.as_deref() == Some(name);
    if spec.notice && !notice_right {
        let current = (!claims.is_empty()).then(|| describe(&claims));
        changes.push(Change::new(NOTICE_FIELD, current, Some(NOTICE.to_string())));
    }
    let put = !changes.is_empty();
    let tag = match owner_tag {
        // The endpoint refuses dashboard tags: nothing to compare.
        None => false,
        Some(Some(tagged)) => tagged != owner,
        Some(None) => true,
    };
    if tag {
        notes.push(format!(
            "adopting: the dashboard has no {OWNER_TAG} tag; it will be tagged as owned by {owner}"
        ));
    }
    if changes.is_empty() && !tag {
        return Diff::in_sync();
    }
    let ops = Ops {
        put: put.then(|| to_write.to_string()),
        tag,
        arn: live.arn.clone(),
    };
    // A tag is not a body change: a dashboard whose body is the declared
    // one is in sync, and the tag is set on the side (see
    // `Reconciler::apply` on an in-sync diff in the engine).
    Diff::of_changes(changes, notes, ops)
}

/// Whether this dashboard provably belongs to this driftd `owner`, the only
/// check pruning relies on before deleting one:
///
/// * its `driftd:owner` tag names this owner (a tag naming another owner
///   decides too: not ours); or
/// * it has no owner tag, and its body carries driftd's marker widget naming
///   this owner and this very dashboard, and no marker naming anyone or
///   anything else (dashboards written before the tag was the proof, and
///   those with `notice: true` where tags are refused). A copy of a driftd
///   dashboard under another name ("Save as" in the console) names the
///   original and is not owned.
pub fn is_owned(live: &Live, owner: &str) -> bool {
    if let Some(tagged) = live.tags.as_ref().and_then(|t| t.get(OWNER_TAG)) {
        return tagged == owner;
    }
    let (_, claims) = split_marker(&live.body);
    !claims.is_empty()
        && claims.iter().all(|c| {
            c.owner.as_deref() == Some(owner) && c.dashboard.as_deref() == Some(&live.name)
        })
}

/// The body to write: the declared one, plus the notice widget when asked.
fn written_body(declared: &Value, notice: bool, owner: &str, name: &str) -> Result<Value, String> {
    check_shape(declared)?;
    if notice {
        with_marker(declared, owner, name)
    } else {
        Ok(declared.clone())
    }
}

/// What CloudWatch requires of every body: an object whose `widgets`, if
/// any, is a list.
fn check_shape(body: &Value) -> Result<(), String> {
    let Some(object) = body.as_object() else {
        return Err(format!(
            "a dashboard body must be an object with `widgets`, not {}",
            json_type(body)
        ));
    };
    match object.get("widgets") {
        None | Some(Value::Array(_)) => Ok(()),
        Some(other) => Err(format!(
            "`widgets` must be a list, not {}",
            json_type(other)
        )),
    }
}

/// How plans show the notice widget.
const NOTICE: &str = "managed by driftd";

fn describe(claims: &[Claim]) -> String {
    claims
        .iter()
        .map(Claim::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------
// The notice widget (formerly the ownership marker).

/// What a marker widget's markdown starts its claim with; a text widget whose
/// markdown holds it is driftd's marker.
const OWNER_TOKEN: &str = "`driftd:owner=";
const DASHBOARD_TOKEN: &str = "`dashboard=";

/// The markdown of the marker widget: readable for whoever opens the
/// dashboard, and machine-checkable through its two backticked tokens. Owner
/// values are tag values, which cannot hold a backtick; dashboard names
/// cannot either.
pub fn marker_markdown(owner: &str, name: &str) -> String {
    format!(
        "Managed by driftd from its desired-state files: edits made here are overwritten. \
         {OWNER_TOKEN}{owner}` {DASHBOARD_TOKEN}{name}`"
    )
}

/// Who a marker says the dashboard belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Claim {
    owner: Option<String>,
    dashboard: Option<String>,
}

impl std::fmt::Display for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.owner.as_deref().unwrap_or("(unreadable)"))?;
        match &self.dashboard {
            Some(d) => write!(f, " (marker of dashboard {d})"),
            None => Ok(()),
        }
    }
}

/// The claim of a widget, when it is a driftd marker.
fn claim_of(widget: &Value) -> Option<Claim> {
    if widget.get("type").and_then(Value::as_str) != Some("text") {
        return None;
    }
    let markdown = widget
        .get("properties")
        .and_then(|p| p.get("markdown"))
        .and_then(Value::as_str)?;
    markdown.contains(OWNER_TOKEN).then(|| Claim {
        owner: token(markdown, OWNER_TOKEN),
        dashboard: token(markdown, DASHBOARD_TOKEN),
    })
}

/// The text between `start` and the next backtick.
fn token(markdown: &str, start: &str) -> Option<String> {
    let rest = &markdown[markdown.find(start)? + start.len()..];
    Some(rest[..rest.find('`')?].to_string())
}

/// The body without marker widgets, and the claims of those markers.
fn split_marker(body: &Value) -> (Value, Vec<Claim>) {
    let mut body = body.clone();
    let mut claims = Vec::new();
    if let Some(widgets) = body.get_mut("widgets").and_then(Value::as_array_mut) {
        widgets.retain(|w| match claim_of(w) {
            Some(claim) => {
                claims.push(claim);
                false
            }
            None => true,
        });
    }
    (body, claims)
}

/// The body driftd writes: the desired body plus one marker widget, a line at
/// the bottom spanning the full width (or, when no widget is placed by
/// coordinates, last in CloudWatch's automatic layout).
fn with_marker(desired: &Value, owner: &str, name: &str) -> Result<Value, String> {
    let (mut body, _) = split_marker(desired);
    let Some(object) = body.as_object_mut() else {
        return Err(format!(
            "a dashboard body must be an object with `widgets`, not {}",
            json_type(desired)
        ));
    };
    let widgets = object
        .entry("widgets")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(widgets) = widgets.as_array_mut() else {
        return Err(format!(
            "`widgets` must be a list, not {}",
            json_type(widgets)
        ));
    };
    let placed = widgets.iter().any(|w| w.get("y").is_some());
    let mut marker = Map::new();
    marker.insert("type".into(), "text".into());
    if placed {
        // CloudWatch's default widget height is 6.
        let bottom = widgets
            .iter()
            .filter_map(|w| {
                let y = w.get("y").and_then(Value::as_f64)?;
                let height = w.get("height").and_then(Value::as_f64).unwrap_or(6.0);
                Some(y + height)
            })
            .fold(0.0_f64, f64::max);
        marker.insert("x".into(), 0.into());
        marker.insert("y".into(), json_number(bottom));
        marker.insert("width".into(), 24.into());
    }
    marker.insert("height".into(), 1.into());
    let mut properties = Map::new();
    properties.insert("markdown".into(), marker_markdown(owner, name).into());
    properties.insert("background".into(), "transparent".into());
    marker.insert("properties".into(), Value::Object(properties));
    widgets.push(Value::Object(marker));
    Ok(body)
}

// ---------------------------------------------------------------------------
// Comparing bodies as JSON values.

/// Numbers in one form, so that `5` and `5.0` are the same value: a float
/// with no fraction that an `i64` holds exactly becomes that integer.
fn canonical_number(n: &Number) -> Number {
    /// 2^53: beyond it not every integer has an exact f64.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() <= EXACT => Number::from(f as i64),
        _ => n.clone(),
    }
}

/// Whether two JSON values are equal as values: object key order never
/// matters, numbers are compared in canonical form.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => canonical_number(x) == canonical_number(y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|other| same(v, other)))
        }
        _ => a == b,
    }
}

/// The differences between two bodies, path by path, the first
/// [`MAX_BODY_CHANGES`] of them kept as plan changes.
#[derive(Default)]
struct Differences {
    changes: Vec<Change>,
    total: usize,
}

impl Differences {
    /// Walks both values; `path` is the plan path so far (`body.widgets[3]`).
    fn walk(&mut self, path: &mut String, live: Option<&Value>, desired: Option<&Value>) {
        match (live, desired) {
            (Some(Value::Object(l)), Some(Value::Object(d))) => {
                let keys = d.keys().chain(l.keys().filter(|k| !d.contains_key(*k)));
                for key in keys {
                    let len = path.len();
                    push_key(path, key);
                    self.walk(path, l.get(key), d.get(key));
                    path.truncate(len);
                }
            }
            (Some(Value::Array(l)), Some(Value::Array(d))) => {
                for i in 0..l.len().max(d.len()) {
                    let len = path.len();
                    let _ = write!(path, "[{i}]"); // writing to a String cannot fail
                    self.walk(path, l.get(i), d.get(i));
                    path.truncate(len);
                }
            }
            (Some(l), Some(d)) if same(l, d) => {}
            (None, None) => {}
            (l, d) => {
                self.total += 1;
                if self.changes.len() < MAX_BODY_CHANGES {
                    self.changes
                        .push(Change::new(path.clone(), l.map(show), d.map(show)));
                }
            }
        }
    }
}

/// `.key` for plain keys, `["odd key"]` for the rest.
fn push_key(path: &mut String, key: &str) {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::from(key).to_string());
        path.push(']');
    }
}

/// A value as compact JSON, numbers canonical, cut to a readable length.
fn show(v: &Value) -> String {
    let text = match v {
        Value::Number(n) => canonical_number(n).to_string(),
        other => other.to_string(),
    };
    if text.chars().count() <= MAX_SHOWN_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_SHOWN_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// What a created dashboard will hold, in one line.
fn summary(body: &Value) -> String {
    match body.get("widgets").and_then(Value::as_array).map(Vec::len) {
        Some(1) => "1 widget".to_string(),
        Some(n) => format!("{n} widgets"),
        None => show(body),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn json_number(f: f64) -> Value {
    Number::from_f64(f)
        .map(|n| Value::Number(canonical_number(&n)))
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::aws::fake::FakeAws;
    use crate::kinds::{Mode, Origin};

    const NAME: &str = "tiktimer-dev";
    const OWNER: &str = "driftd";

    fn metric(title: &str, x: i64) -> Value {
        json!({
            "type": "metric", "x": x, "y": 0, "width": 8, "height": 6,
            "properties": {
                "title": title, "region": "us-east-1", "stat": "Average", "period": 300,
                "metrics": [["AWS/ECS", "CPUUtilization", "ClusterName", "tiktimer-dev"]]
            }
        })
    }

    /// Chainable desired specs: `Spec::test().title(1, "b").widget(...)`.
    impl Spec {
        pub fn test() -> Spec {
            Spec {
                body: Some(json!({"widgets": [metric("ECS CPU", 0), metric("ECS memory", 8)]})),
                body_file: None,
                notice: false,
            }
        }

        pub fn notice(mut self) -> Spec {
            self.notice = true;
            self
        }

        fn widgets(&mut self) -> &mut Vec<Value> {
            self.body
                .as_mut()
                .and_then(|b| b.get_mut("widgets"))
                .and_then(Value::as_array_mut)
                .expect("test bodies have widgets")
        }

        pub fn title(mut self, widget: usize, title: &str) -> Spec {
            self.widgets()[widget]["properties"]["title"] = title.into();
            self
        }

        pub fn widget(mut self, widget: Value) -> Spec {
            self.widgets().push(widget);
            self
        }

        pub fn without_widget(mut self, widget: usize) -> Spec {
            self.widgets().remove(widget);
            self
        }

        pub fn body_json(mut self, body: Value) -> Spec {
            self.body = Some(body);
            self
        }
    }

    /// Chainable live dashboards, built the way driftd writes them.
    impl Live {
        /// What driftd writes for this spec under [`OWNER`], tag included.
        fn written(spec: &Spec) -> Live {
            Live::raw(written_body(spec.body(), spec.notice, OWNER, NAME).expect("valid test body"))
                .tagged(OWNER)
        }

        /// A body with the marker widget of earlier driftd versions, untagged.
        fn marked(spec: &Spec, owner: &str, name: &str) -> Live {
            Live::raw(with_marker(spec.body(), owner, name).expect("valid test body"))
        }

        /// This body and no tags.
        fn raw(body: Value) -> Live {
            Live {
                name: NAME.into(),
                arn: Some(format!("arn:aws:cloudwatch::123456789012:dashboard/{NAME}")),
                body: Arc::new(body),
                tags: Some(Tags::new()),
            }
        }

        fn tagged(mut self, owner: &str) -> Live {
            self.tags
                .get_or_insert_with(Tags::new)
                .insert(OWNER_TAG.into(), owner.into());
            self
        }

        /// As read from an endpoint that refuses tags on dashboards.
        fn untaggable(mut self) -> Live {
            self.tags = None;
            self
        }

        /// As CloudWatch would return this JSON text.
        fn text(text: &str) -> Live {
            Live::raw(serde_json::from_str(text).expect("test JSON"))
        }

        fn named(mut self, name: &str) -> Live {
            self.name = name.into();
            self
        }
    }

    fn fields(diff: &Diff<Ops>) -> Vec<String> {
        diff.changes
            .iter()
            .map(|c| {
                format!(
                    "{}: {} → {}",
                    c.field,
                    c.from.as_deref().unwrap_or("(none)"),
                    c.to.as_deref().unwrap_or("(none)")
                )
            })
            .collect()
    }

    /// What a case expects: the action, the changes as "field: from → to",
    /// and whether the body is written and the owner tag set.
    struct Expect(Action, Vec<String>, bool, bool);

    #[test]
    fn diff_table() {
        let written = Live::written(&Spec::test());
        let marker = marker_markdown(OWNER, NAME);
        let old_marker = Live::marked(&Spec::test(), OWNER, NAME);
        let cases: Vec<(&str, Spec, Option<Live>, Expect)> = vec![
            (
                "identical",
                Spec::test(),
                Some(written.clone()),
                Expect(Action::InSync, vec![], false, false),
            ),
            (
                "key order, whitespace and 5.0 vs 5 are not drift",
                Spec::test(),
                Some(Live::text(
                    r#"{
                      "widgets": [
                        {"properties": {"period": 300.0, "metrics": [["AWS/ECS","CPUUtilization","ClusterName","tiktimer-dev"]],
                                        "stat": "Average", "region": "us-east-1", "title": "ECS CPU"},
                          "height": 6.0, "width": 8, "y": 0, "x": 0, "type": "metric"},
                        {"type": "metric", "x": 8.0, "y": 0, "width": 8, "height": 6,
                          "properties": {"title": "ECS memory", "region": "us-east-1", "stat": "Average", "period": 300,
                                          "metrics": [["AWS/ECS","CPUUtilization","ClusterName","tiktimer-dev"]]}}
                      ]
                    }"#,
                ).tagged(OWNER)),
                Expect(Action::InSync, vec![], false, false),
            ),
            (
                "an identical dashboard made elsewhere is in sync, and adopted by its tag alone",
                Spec::test(),
                Some(Live::raw(Spec::test().body().clone())),
                Expect(Action::InSync, vec![], false, true),
            ),
            (
                "where tags are refused, an identical dashboard is in sync",
                Spec::test(),
                Some(Live::raw(Spec::test().body().clone()).untaggable()),
                Expect(Action::InSync, vec![], false, false),
            ),
            (
                "the marker of earlier versions is dropped and the tag set",
                Spec::test(),
                Some(old_marker.clone()),
                Expect(
                    Action::Update,
                    vec![format!(
                        "body.widgets[2]: {} → (none)",
                        show(&old_marker.body["widgets"][2])
                    )],
                    true,
                    true,
                ),
            ),
            (
                "the notice, asked for, is kept wherever it was moved",
                Spec::test().notice(),
                Some(Live::text(&format!(
                    r#"{{"widgets": [
                        {{"type": "text", "x": 0, "y": 0, "width": 24, "height": 1,
                          "properties": {{"background": "transparent", "markdown": {}}}}},
                        {},
                        {}
                    ]}}"#,
                    Value::from(marker.clone()),
                    metric("ECS CPU", 0),
                    metric("ECS memory", 8)
                )).tagged(OWNER)),
                Expect(Action::InSync, vec![], false, false),
            ),
            (
                "the notice, asked for and missing",
                Spec::test().notice(),
                Some(written.clone()),
                Expect(
                    Action::Update,
                    vec!["notice: (none) → managed by driftd".into()],
                    true,
                    false,
                ),
            ),
            (
                "the notice of a copy names the original",
                Spec::test().notice(),
                Some(Live::marked(&Spec::test(), OWNER, "original").tagged(OWNER)),
                Expect(
                    Action::Update,
                    vec!["notice: driftd (marker of dashboard original) → managed by driftd".into()],
                    true,
                    false,
                ),
            ),
            (
                "a float with a fraction is still compared exactly",
                Spec::test().body_json(json!({"widgets": [], "periodOverride": 1.5})),
                Some(Live::written(
                    &Spec::test().body_json(json!({"widgets": [], "periodOverride": 1.25})),
                )),
                Expect(
                    Action::Update,
                    vec!["body.periodOverride: 1.25 → 1.5".into()],
                    true,
                    false,
                ),
            ),
            (
                "a changed title is named by its path",
                Spec::test().title(1, "b"),
                Some(Live::written(&Spec::test().title(1, "a"))),
                Expect(
                    Action::Update,
                    vec![r#"body.widgets[1].properties.title: "a" → "b""#.into()],
                    true,
                    false,
                ),
            ),
            (
                "an added widget",
                Spec::test().widget(json!({"type": "text", "properties": {"markdown": "hi"}})),
                Some(written.clone()),
                Expect(
                    Action::Update,
                    vec![
                        r#"body.widgets[2]: (none) → {"type":"text","properties":{"markdown":"hi"}}"#
                            .into(),
                    ],
                    true,
                    false,
                ),
            ),
            (
                "a removed widget",
                Spec::test().without_widget(1),
                Some(written.clone()),
                Expect(
                    Action::Update,
                    vec![format!(
                        "body.widgets[1]: {} → (none)",
                        show(&metric("ECS memory", 8))
                    )],
                    true,
                    false,
                ),
            ),
            (
                "a body key AWS has and the file does not",
                Spec::test(),
                Some({
                    let mut body = (*written.body).clone();
                    body["start"] = "-PT3H".into();
                    Live::raw(body).tagged(OWNER)
                }),
                Expect(
                    Action::Update,
                    vec![r#"body.start: "-PT3H" → (none)"#.into()],
                    true,
                    false,
                ),
            ),
            (
                "missing: created",
                Spec::test(),
                None,
                Expect(
                    Action::Create,
                    vec![
                        "body: (none) → 2 widgets".into(),
                        "driftd:owner: (none) → driftd".into(),
                    ],
                    true,
                    true,
                ),
            ),
            (
                "missing: created with its notice",
                Spec::test().notice(),
                None,
                Expect(
                    Action::Create,
                    vec![
                        "body: (none) → 2 widgets".into(),
                        "notice: (none) → managed by driftd".into(),
                        "driftd:owner: (none) → driftd".into(),
                    ],
                    true,
                    true,
                ),
            ),
        ];
        for (case, spec, live, Expect(action, expected, put, tag)) in cases {
            let diff = diff(NAME, &spec, live.as_ref(), OWNER);
            assert_eq!(diff.action, action, "{case}");
            assert_eq!(fields(&diff), expected, "{case}");
            assert_eq!(diff.ops.put.is_some(), put, "{case}: put");
            assert_eq!(diff.ops.tag, tag, "{case}: tag");
        }
    }

    #[test]
    fn what_driftd_writes_is_exactly_the_declared_body_in_sync_and_owned() {
        for spec in [
            Spec::test(),
            Spec::test().body_json(json!({})),
            Spec::test().body_json(
                json!({"widgets": [{"type": "text", "properties": {"markdown": "auto layout"}}]}),
            ),
        ] {
            for spec in [spec.clone(), spec.notice()] {
                let diff = diff(NAME, &spec, None, OWNER);
                let written = diff.ops.put.expect("a create writes");
                let body: Value = serde_json::from_str(&written).unwrap();
                assert_eq!(same(&body, spec.body()), !spec.notice, "{written}");
                let live = Live::text(&written).tagged(OWNER);
                assert!(is_owned(&live, OWNER), "{written}");
                let again = super::diff(NAME, &spec, Some(&live), OWNER);
                assert_eq!(again.action, Action::InSync, "{:?}", again.changes);
                // Where tags are refused, only the notice proves ownership.
                let untagged = Live::text(&written).untaggable();
                assert_eq!(is_owned(&untagged, OWNER), spec.notice, "{written}");
            }
        }
    }

    #[test]
    fn the_marker_goes_below_placed_widgets_and_last_in_automatic_layout() {
        let placed = with_marker(Spec::test().body(), OWNER, NAME).unwrap();
        let marker = &placed["widgets"][2];
        assert_eq!(
            (
                &marker["x"],
                &marker["y"],
                &marker["width"],
                &marker["height"]
            ),
            (&json!(0), &json!(6), &json!(24), &json!(1))
        );
        let auto = with_marker(
            &json!({"widgets": [{"type": "text", "properties": {"markdown": "a"}}]}),
            OWNER,
            NAME,
        )
        .unwrap();
        assert!(auto["widgets"][1].get("y").is_none(), "{auto}");
        assert!(claim_of(&auto["widgets"][1]).is_some());
    }

    #[test]
    fn another_owners_dashboard_is_left_untouched() {
        // Marked by another driftd before the tag was the proof.
        let theirs = Live::marked(&Spec::test().title(0, "theirs"), "team-b", NAME);
        let diff = diff(NAME, &Spec::test(), Some(&theirs), OWNER);
        assert_eq!(
            diff.action,
            Action::Error(Error::blocked(
                Blocked::ForeignOwner,
                format!(
                    "Dashboard {NAME} is owned by driftd owner \"team-b\", not \"driftd\": left untouched"
                ),
            ))
        );
        assert_eq!(diff.ops, Ops::default(), "nothing is written");
    }

    #[test]
    fn bodies_driftd_cannot_mark_are_errors_of_that_dashboard() {
        for (body, problem) in [
            (json!(null), "not null"),
            (json!([1]), "not a list"),
            (
                json!({"widgets": {}}),
                "`widgets` must be a list, not an object",
            ),
        ] {
            let diff = diff(NAME, &Spec::test().body_json(body.clone()), None, OWNER);
            match diff.action {
                Action::Error(Error::Blocked { why, message }) => {
                    assert_eq!(why, Blocked::InvalidBody);
                    assert!(message.contains(problem), "{message}");
                    assert!(message.contains(NAME), "{message}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn body_differences_are_bounded() {
        let many: Vec<Value> = (0..30).map(|i| metric(&format!("w{i}"), 0)).collect();
        let spec = Spec::test().body_json(json!({ "widgets": many }));
        let diff = diff(NAME, &spec, Some(&Live::written(&Spec::test())), OWNER);
        assert_eq!(diff.changes.len(), MAX_BODY_CHANGES);
        // Widget 0's title, widget 1's title and x, 28 added widgets.
        assert_eq!(diff.notes, vec!["body: 19 more differences not shown"]);
        assert!(diff
            .changes
            .iter()
            .all(|c| c.from.as_deref().map_or(0, |s| s.chars().count()) <= MAX_SHOWN_CHARS));
    }

    #[test]
    fn odd_keys_are_quoted_in_paths() {
        let spec = Spec::test().body_json(json!({"widgets": [], "a b": 1}));
        let diff = diff(
            NAME,
            &spec,
            Some(&Live::written(
                &Spec::test().body_json(json!({"widgets": []})),
            )),
            OWNER,
        );
        assert_eq!(fields(&diff), vec![r#"body["a b"]: (none) → 1"#]);
    }

    #[test]
    fn ownership_table() {
        let marked = Live::marked(&Spec::test(), OWNER, NAME);
        let plain = Live::raw(Spec::test().body().clone());
        let cases = [
            (
                "tagged by this owner",
                plain.clone().tagged(OWNER),
                OWNER,
                true,
            ),
            (
                "tagged by another owner",
                plain.clone().tagged("team-b"),
                OWNER,
                false,
            ),
            (
                "the tag decides over a marker",
                marked.clone().tagged("team-b"),
                OWNER,
                false,
            ),
            ("no tag, no marker", plain.clone(), OWNER, false),
            (
                "tags refused, no marker",
                plain.clone().untaggable(),
                OWNER,
                false,
            ),
            (
                "no tag, the marker of earlier versions",
                marked.clone(),
                OWNER,
                true,
            ),
            (
                "tags refused, the notice",
                marked.clone().untaggable(),
                OWNER,
                true,
            ),
            ("a marker of another owner", marked.clone(), "team-b", false),
            (
                "a marker copied under another name",
                marked.clone().named("copy"),
                OWNER,
                false,
            ),
            ("no widgets at all", Live::raw(json!({})), OWNER, false),
            (
                "a second marker naming someone else",
                Live::raw({
                    let mut body = (*marked.body).clone();
                    let foreign = with_marker(&json!({}), "team-b", NAME).unwrap();
                    body["widgets"]
                        .as_array_mut()
                        .unwrap()
                        .push(foreign["widgets"][0].clone());
                    body
                }),
                OWNER,
                false,
            ),
            (
                "the token in a widget that is not text",
                Live::raw(
                    json!({"widgets": [{"type": "metric", "properties": {"markdown": marker_markdown(OWNER, NAME)}}]}),
                ),
                OWNER,
                false,
            ),
        ];
        for (case, live, owner, owned) in cases {
            assert_eq!(is_owned(&live, owner), owned, "{case}");
        }
    }

    fn resource(name: &str, spec: &Spec) -> Resource {
        Resource {
            environment: crate::kinds::DEFAULT_ENVIRONMENT.to_string(),
            name: name.into(),
            mode: Some(Mode::Enforce),
            origin: Origin {
                file: "desired-state/dashboards.yaml".into(),
                line: 1,
                column: 1,
            },
            spec: crate::kinds::Spec::Dashboard(spec.clone()),
        }
    }

    /// observe + diff + apply for these resources, as the engine runs a pass.
    async fn pass(aws: &Aws, resources: &[Resource]) -> Vec<(String, Result<Action, Error>)> {
        let batch: Vec<(&Resource, &Spec)> = resources
            .iter()
            .map(|r| (r, Dashboard::spec(&r.spec).expect("dashboard")))
            .collect();
        let mut observed = Dashboard::observe(aws, &batch).await.expect("observe");
        let mut out = Vec::new();
        for (resource, spec) in batch {
            let live = match observed.remove(&resource.name).expect("observed") {
                Ok(live) => live,
                Err(e) => {
                    out.push((resource.name.clone(), Err(e)));
                    continue;
                }
            };
            let diff = Dashboard::diff(
                resource,
                spec,
                live.as_ref(),
                &Inputs::default(),
                &Refs::default(),
                &Ctx::test(),
            );
            let applied = Dashboard::apply(
                aws,
                resource,
                spec,
                &diff.ops,
                &mut Refs::default(),
                &Ctx::test(),
            )
            .await;
            out.push((resource.name.clone(), applied.map(|()| diff.action)));
        }
        out
    }

    #[tokio::test]
    async fn an_unchanged_dashboard_is_not_fetched_again() {
        let fake = FakeAws::new();
        let aws = fake.aws();
        let resources = [resource(NAME, &Spec::test())];

        let first = pass(&aws, &resources).await;
        assert_eq!(first[0].1, Ok(Action::Create));
        assert_eq!(
            fake.dashboard_get_calls(),
            0,
            "nothing to fetch before it exists"
        );

        // The read-back after a write fetches it once...
        assert_eq!(pass(&aws, &resources).await[0].1, Ok(Action::InSync));
        assert_eq!(fake.dashboard_get_calls(), 1);
        // ...and passes that find it unchanged do not fetch it again.
        for _ in 0..3 {
            assert_eq!(pass(&aws, &resources).await[0].1, Ok(Action::InSync));
        }
        assert_eq!(fake.dashboard_get_calls(), 1);
        assert_eq!(aws.dashboards.bodies().stats().hits, 3);

        // A change outside driftd moves LastModified: fetched, and drift found.
        let edited = Live::written(&Spec::test().title(0, "renamed in the console"));
        fake.put_dashboard_out_of_band(NAME, &edited.body.to_string());
        let batch = [(&resources[0], Dashboard::spec(&resources[0].spec).unwrap())];
        let observed = Dashboard::observe(&aws, &batch).await.unwrap();
        let live = observed[NAME].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(fake.dashboard_get_calls(), 2);
        let diff = Dashboard::diff(
            &resources[0],
            batch[0].1,
            Some(live),
            &Inputs::default(),
            &Refs::default(),
            &Ctx::test(),
        );
        assert_eq!(
            fields(&diff),
            vec![r#"body.widgets[0].properties.title: "renamed in the console" → "ECS CPU""#]
        );
        assert_eq!(
            fake.writes(),
            vec![
                format!("cloudwatch.PutDashboard {NAME}"),
                format!("cloudwatch.TagResource arn:aws:cloudwatch::123456789012:dashboard/{NAME}"),
            ]
        );
    }

    #[tokio::test]
    async fn created_and_adopted_dashboards_are_tagged_and_exactly_as_declared() {
        let fake = FakeAws::new();
        let aws = fake.aws();
        // Existed before driftd, same content, untagged: only the tag is written.
        let declared = Spec::test().body().to_string();
        fake.put_dashboard_out_of_band("adopted", &declared);
        let resources = [
            resource("adopted", &Spec::test()),
            resource("created", &Spec::test()),
        ];
        let results = pass(&aws, &resources).await;
        assert_eq!(
            results[0].1,
            Ok(Action::InSync),
            "a tag is not a body change"
        );
        assert_eq!(results[1].1, Ok(Action::Create));
        let arn = |name: &str| format!("arn:aws:cloudwatch::123456789012:dashboard/{name}");
        assert_eq!(
            fake.writes(),
            vec![
                format!("cloudwatch.TagResource {}", arn("adopted")),
                "cloudwatch.PutDashboard created".to_string(),
                format!("cloudwatch.TagResource {}", arn("created")),
            ]
        );
        for name in ["adopted", "created"] {
            let body: Value = serde_json::from_str(&fake.dashboard_body(name).unwrap()).unwrap();
            assert!(same(&body, Spec::test().body()), "{name}: {body}");
        }

        let observed = observe_named(&aws, &["adopted", "created", "absent"])
            .await
            .unwrap();
        for name in ["adopted", "created"] {
            let live = observed[name].as_ref().unwrap().as_ref().unwrap();
            assert!(is_owned(live, OWNER), "{name}");
            assert_eq!(live.tags.as_ref().unwrap()[OWNER_TAG], OWNER, "{name}");
        }
        assert_eq!(observed["absent"], Ok(None));
        // Both were read once, body and tags, and not again.
        let reads = (fake.dashboard_get_calls(), fake.dashboard_tag_reads());
        assert_eq!(pass(&aws, &resources).await[0].1, Ok(Action::InSync));
        assert_eq!(
            (fake.dashboard_get_calls(), fake.dashboard_tag_reads()),
            reads
        );
    }

    #[tokio::test]
    async fn an_endpoint_that_refuses_dashboard_tags_is_learned_once_and_is_no_drift() {
        let fake = FakeAws::new();
        fake.dashboards_cannot_be_tagged();
        fake.put_dashboard_out_of_band("existing", &Spec::test().body().to_string());
        let aws = fake.aws();
        let resources = [
            resource("existing", &Spec::test()),
            resource(NAME, &Spec::test()),
        ];
        // The first pass tries the tag once and learns it is refused.
        let first = pass(&aws, &resources).await;
        assert_eq!(first[0].1, Ok(Action::InSync), "in sync; the tag is tried");
        assert_eq!(first[1].1, Ok(Action::Create));
        assert!(aws.dashboards.tag_memory().refused());
        for _ in 0..2 {
            let again = pass(&aws, &resources).await;
            assert!(
                again.iter().all(|(_, r)| *r == Ok(Action::InSync)),
                "{again:?}"
            );
        }
        assert_eq!(
            fake.writes(),
            vec![format!("cloudwatch.PutDashboard {NAME}")]
        );
        // Nothing proves ownership there: never a prune candidate.
        let observed = observe_named(&aws, &["existing", NAME]).await.unwrap();
        for live in observed.values() {
            let live = live.as_ref().unwrap().as_ref().unwrap();
            assert_eq!(live.tags, None);
            assert!(!is_owned(live, OWNER));
        }
    }

    #[tokio::test]
    async fn a_dashboard_marked_by_an_earlier_version_is_owned_and_loses_its_marker() {
        let fake = FakeAws::new();
        let aws = fake.aws();
        let old = Live::marked(&Spec::test(), OWNER, NAME);
        fake.put_dashboard_out_of_band(NAME, &old.body.to_string());
        let before = observe_named(&aws, &[NAME]).await.unwrap();
        assert!(is_owned(
            before[NAME].as_ref().unwrap().as_ref().unwrap(),
            OWNER
        ));

        let resources = [resource(NAME, &Spec::test())];
        assert_eq!(pass(&aws, &resources).await[0].1, Ok(Action::Update));
        let body: Value = serde_json::from_str(&fake.dashboard_body(NAME).unwrap()).unwrap();
        assert!(
            same(&body, Spec::test().body()),
            "the marker is gone: {body}"
        );
        assert_eq!(pass(&aws, &resources).await[0].1, Ok(Action::InSync));
        let after = observe_named(&aws, &[NAME]).await.unwrap();
        assert!(
            is_owned(after[NAME].as_ref().unwrap().as_ref().unwrap(), OWNER),
            "by its tag"
        );

        // Asked for, the notice comes back, and stays.
        let noticed = [resource(NAME, &Spec::test().notice())];
        assert_eq!(pass(&aws, &noticed).await[0].1, Ok(Action::Update));
        assert_eq!(pass(&aws, &noticed).await[0].1, Ok(Action::InSync));
        assert!(fake
            .dashboard_body(NAME)
            .unwrap()
            .contains("driftd:owner=driftd"));
    }

    #[tokio::test]
    async fn ownership_is_read_afresh_before_a_deletion() {
        let fake = FakeAws::new();
        let aws = fake.aws();
        let resources = [resource(NAME, &Spec::test())];
        assert_eq!(pass(&aws, &resources).await[0].1, Ok(Action::Create));
        assert!(still_owned(&aws, NAME, OWNER).await.unwrap());
        // Removed in the console: the version does not move, the memory
        // still says owned, and the check right before a deletion does not.
        fake.untag_dashboard_out_of_band(NAME, OWNER_TAG);
        let remembered = observe_named(&aws, &[NAME]).await.unwrap();
        assert!(is_owned(
            remembered[NAME].as_ref().unwrap().as_ref().unwrap(),
            OWNER
        ));
        assert!(!still_owned(&aws, NAME, OWNER).await.unwrap());
        assert!(!still_owned(&aws, "absent", OWNER).await.unwrap());
    }

    #[tokio::test]
    async fn a_body_aws_rejects_fails_that_dashboard_only() {
        let fake = FakeAws::new();
        let aws = fake.aws();
        let broken = Spec::test().widget(json!({"type": "metric"}));
        let resources = [resource("broken", &broken), resource("fine", &Spec::test())];
        let results = pass(&aws, &resources).await;

        let Error::Aws(error) = results[0].1.clone().unwrap_err() else {
            panic!("AWS's own rejection expected");
        };
        assert_eq!(error.class, ErrorClass::Validation);
        assert_eq!(error.operation, "PutDashboard");
        assert!(
            error
                .message
                .contains("/widgets/2: Should have required property 'properties'"),
            "AWS's message names the widget: {error}"
        );
        assert_eq!(results[1].1, Ok(Action::Create));
        assert!(fake.dashboard_body("broken").is_none());
        assert!(fake.dashboard_body("fine").is_some());
    }

    #[tokio::test]
    async fn through_the_engine_a_rejected_body_fails_alone_and_plans_name_paths() {
        use crate::engine::{self, PassOptions, Planned, State};

        let fake = FakeAws::new();
        let aws = fake.aws();
        fake.put_dashboard_out_of_band(
            "edited",
            &with_marker(Spec::test().title(0, "old").body(), OWNER, "edited")
                .unwrap()
                .to_string(),
        );
        let resources = [
            resource("broken", &Spec::test().widget(json!({"type": "metric"}))),
            resource("edited", &Spec::test()),
            resource("new", &Spec::test()),
        ];
        let refs: Vec<&Resource> = resources.iter().collect();
        let opts = |apply| PassOptions::test(apply, Mode::Enforce);

        let plan = engine::reconcile(&aws, &refs, &mut Refs::default(), &opts(false)).await;
        let mut text = Vec::new();
        crate::output::write_plan_text(&mut text, &plan, false).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains(r#"body.widgets[0].properties.title: "old" → "ECS CPU""#),
            "{text}"
        );
        assert!(fake.writes().is_empty(), "a plan writes nothing");

        let report = engine::reconcile(&aws, &refs, &mut Refs::default(), &opts(true)).await;
        let by_name = |name: &str| {
            report
                .resources
                .iter()
                .find(|r| r.name == name)
                .expect("reported")
        };
        let broken = by_name("broken");
        assert_eq!(
            (broken.action, broken.state),
            (Planned::Create, State::Error)
        );
        let error = broken.error.as_ref().expect("an error");
        assert_eq!(error.reason, engine::Reason::Validation);
        assert!(
            error
                .message
                .contains("/widgets/2: Should have required property 'properties'"),
            "{}",
            error.message
        );
        assert_eq!(by_name("edited").state, State::Corrected);
        assert_eq!(by_name("new").state, State::Corrected);
        assert!(fake.dashboard_body("broken").is_none());
    }

    #[test]
    fn numbers_are_canonical_only_when_exact() {
        let cases = [
            (json!(5), json!(5.0), true),
            (json!(-3), json!(-3.0), true),
            (json!(0), json!(-0.0), true),
            (json!(5), json!(5.5), false),
            (json!(u64::MAX), json!(18446744073709551615.0), false),
            (
                json!({"a": 1, "b": [1, 2.0]}),
                json!({"b": [1.0, 2], "a": 1.0}),
                true,
            ),
            (json!([1, 2]), json!([2, 1]), false),
            (json!({"a": 1}), json!({"a": 1, "b": null}), false),
        ];
        for (a, b, equal) in cases {
            assert_eq!(same(&a, &b), equal, "{a} vs {b}");
            assert_eq!(same(&b, &a), equal, "{b} vs {a}");
        }
    }
}
