//! Printing plans and apply results, as text for people and JSON for scripts.
//!
//! The JSON document is a stable interface, documented in the README:
//! `{"version": 1, "summary": {...}, "resources": [...]}`.

use std::io::{self, Write};

use serde::Serialize;

use crate::engine::{PassReport, Planned, PruneProblems, ResourceReport, State, Summary};
use crate::kinds::{Change, DEFAULT_ENVIRONMENT};

/// Version of the JSON plan document; bumped only on incompatible changes.
pub const JSON_VERSION: u32 = 1;

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `Plan: 1 to create, 2 to update, 0 to delete, 1 error.`
pub fn plan_summary_line(s: &Summary) -> String {
    let mut line = format!(
        "Plan: {} to create, {} to update, {} to delete, {}.",
        s.create,
        s.update,
        s.delete,
        plural(s.error, "error")
    );
    if s.orphaned > 0 {
        line.pop();
        line.push_str(&format!(", {} orphaned.", s.orphaned));
    }
    line
}

/// One field: `old → new` for an update (`(none)` for an absent side), the
/// value alone for a resource being created.
fn write_change(out: &mut impl Write, c: &Change, creating: bool) -> io::Result<()> {
    if c.sensitive {
        return writeln!(out, "    {}: (sensitive) differs", c.field);
    }
    match (&c.from, &c.to) {
        (Some(from), Some(to)) => writeln!(out, "    {}: {from} → {to}", c.field),
        (None, Some(to)) if creating => writeln!(out, "    {}: {to}", c.field),
        (None, Some(to)) => writeln!(out, "    {}: (none) → {to}", c.field),
        (Some(from), None) => writeln!(out, "    {}: {from} → (none)", c.field),
        (None, None) => writeln!(out, "    {}", c.field),
    }
}

fn write_details(out: &mut impl Write, r: &ResourceReport) -> io::Result<()> {
    for c in &r.changes {
        write_change(out, c, r.action == Planned::Create)?;
    }
    for n in &r.notes {
        writeln!(out, "    note: {n}")?;
    }
    if let Some(e) = &r.error {
        writeln!(out, "    error ({}): {}", e.reason, e.message)?;
    }
    Ok(())
}

/// Why the prune step deleted nothing, or could not see everything: one
/// `!` line each, after the resources.
fn write_prune_problems(
    out: &mut impl Write,
    problems: &PruneProblems,
    envs: Environments,
) -> io::Result<()> {
    for refused in &problems.refused {
        writeln!(
            out,
            "! {}{}",
            envs.label(&refused.environment),
            refused.message
        )?;
    }
    for e in &problems.errors {
        let kinds: Vec<&str> = e.kinds.iter().map(|k| k.as_str()).collect();
        writeln!(
            out,
            "! {}cannot list the {} this driftd owns ({}): {}",
            envs.label(&e.environment),
            kinds.join(", "),
            e.error.reason,
            e.error.message
        )?;
    }
    Ok(())
}

/// Whether lines name their environment: when the desired state declares
/// environments (with the implicit `default` alone, output is as it always was).
#[derive(Debug, Clone, Copy)]
struct Environments {
    named: bool,
}

impl Environments {
    fn of(report: &PassReport) -> Environments {
        let named = |env: &str| env != DEFAULT_ENVIRONMENT;
        Environments {
            named: report.resources.iter().any(|r| named(&r.environment))
                || report.prune.refused.iter().any(|r| named(&r.environment))
                || report.prune.errors.iter().any(|e| named(&e.environment)),
        }
    }

    /// `[prod] `, or nothing.
    fn label(self, environment: &str) -> String {
        if self.named {
            format!("[{environment}] ")
        } else {
            String::new()
        }
    }
}

/// The text plan: one block per resource that is not in sync (all with
/// `verbose`), orphans marked `-` (deleted with `--prune`) or `?` (left
/// alone), then why pruning was refused, if it was, and the summary.
pub fn write_plan_text(out: &mut impl Write, report: &PassReport, verbose: bool) -> io::Result<()> {
    let envs = Environments::of(report);
    for r in &report.resources {
        if r.action == Planned::InSync && !verbose {
            continue;
        }
        let observe = if r.action == Planned::Orphaned {
            ": orphaned"
        } else if r.mode == crate::kinds::Mode::Observe && r.drifted() {
            " (observe: will not be changed)"
        } else {
            ""
        };
        writeln!(
            out,
            "{} {}{} {}{observe}",
            r.action.marker(),
            envs.label(&r.environment),
            r.kind,
            r.name
        )?;
        write_details(out, r)?;
    }
    if report
        .resources
        .iter()
        .any(|r| verbose || r.action != Planned::InSync)
    {
        writeln!(out)?;
    }
    if !report.prune.is_empty() {
        write_prune_problems(out, &report.prune, envs)?;
        writeln!(out)?;
    }
    writeln!(out, "{}", plan_summary_line(&report.summary()))
}

/// What `apply` did, resource by resource, then a summary.
pub fn write_apply_text(
    out: &mut impl Write,
    report: &PassReport,
    verbose: bool,
) -> io::Result<()> {
    let mut created = 0;
    let mut corrected = 0;
    let mut deleted = 0;
    let mut orphaned = 0;
    let mut observed = 0;
    let mut errors = 0;
    let mut in_sync = 0;
    let envs = Environments::of(report);
    for r in &report.resources {
        let (count, what) = match (r.state, r.action) {
            (State::InSync, _) => (&mut in_sync, "in sync"),
            (State::Corrected, Planned::Create) => (&mut created, "created"),
            (State::Corrected, Planned::Delete) => (&mut deleted, "deleted"),
            (State::Corrected, _) => (&mut corrected, "corrected"),
            (State::Drifted, _) if r.mode == crate::kinds::Mode::Observe => {
                (&mut observed, "drifted (observe: not changed)")
            }
            (State::Drifted, _) => (&mut observed, "drifted (left as it is: see the notes)"),
            (State::Orphaned, Planned::Delete) => {
                (&mut orphaned, "orphaned (observe: not deleted)")
            }
            (State::Orphaned, _) => (&mut orphaned, "orphaned"),
            (State::Error, _) => (&mut errors, "error"),
        };
        *count += 1;
        if r.state == State::InSync && !verbose {
            continue;
        }
        let marker = match r.state {
            State::Error => '!',
            // Not deleted (observe mode): what the plan would mark `-` stays.
            State::Orphaned => Planned::Orphaned.marker(),
            _ => r.action.marker(),
        };
        writeln!(
            out,
            "{marker} {}{} {}: {what}",
            envs.label(&r.environment),
            r.kind,
            r.name
        )?;
        // A created resource's fields are its whole spec, and what was said
        // of a deletion was said before it: shown with -v only.
        let done =
            r.state == State::Corrected && matches!(r.action, Planned::Create | Planned::Delete);
        if !done || verbose {
            write_details(out, r)?;
        }
    }
    writeln!(out)?;
    if !report.prune.is_empty() {
        write_prune_problems(out, &report.prune, envs)?;
        writeln!(out)?;
    }
    errors += report.prune.errors.len() + report.prune.refused.len();
    writeln!(
        out,
        "{}",
        apply_summary_line(created, corrected, deleted, observed, errors, in_sync, orphaned)
    )
}

/// `Apply: 1 created, 2 corrected, 0 observed, 0 errors, 5 in sync.`, with
/// `, N deleted` and `, N orphaned` before the period when there are any.
/// An error of the prune step itself (a refusal, a listing that failed)
/// counts as an error.
fn apply_summary_line(
    created: usize,
    corrected: usize,
    deleted: usize,
    observed: usize,
    errors: usize,
    in_sync: usize,
    orphaned: usize,
) -> String {
    let mut line = format!(
        "Apply: {created} created, {corrected} corrected, {observed} observed, {}, {in_sync} in sync",
        plural(errors, "error")
    );
    if deleted > 0 {
        line.push_str(&format!(", {deleted} deleted"));
    }
    if orphaned > 0 {
        line.push_str(&format!(", {orphaned} orphaned"));
    }
    line.push('.');
    line
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    version: u32,
    summary: Summary,
    drift: bool,
    resources: &'a [ResourceReport],
    /// `{"refused": [{"environment", "reason", "message", "would_delete"}],
    /// "errors": [{"environment", "kinds", "reason", ...}]}`,
    /// present only when the prune step was refused or could not list.
    #[serde(skip_serializing_if = "no_prune_problems")]
    prune: &'a PruneProblems,
}

fn no_prune_problems(p: &&PruneProblems) -> bool {
    p.is_empty()
}

/// The JSON document of a plan or an apply.
pub fn write_json(out: &mut impl Write, report: &PassReport) -> io::Result<()> {
    let doc = JsonPlan {
        version: JSON_VERSION,
        summary: report.summary(),
        drift: report.drift_found(),
        resources: &report.resources,
        prune: &report.prune,
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_matches_the_contract() {
        let s = Summary {
            create: 1,
            update: 2,
            delete: 0,
            error: 1,
            in_sync: 5,
            orphaned: 0,
        };
        assert_eq!(
            plan_summary_line(&s),
            "Plan: 1 to create, 2 to update, 0 to delete, 1 error."
        );
        let none = Summary::default();
        assert_eq!(
            plan_summary_line(&none),
            "Plan: 0 to create, 0 to update, 0 to delete, 0 errors."
        );
    }

    use std::time::Duration;

    use crate::engine::{ListingError, Refusal};
    use crate::engine::{Reason, ResourceError};
    use crate::kinds::{Kind, Mode};

    fn orphan(name: &str, action: Planned, state: State, notes: &[&str]) -> ResourceReport {
        ResourceReport {
            environment: crate::kinds::DEFAULT_ENVIRONMENT.to_string(),
            kind: Kind::Alarm,
            name: name.into(),
            mode: Mode::Enforce,
            action,
            state,
            changes: Vec::new(),
            notes: notes.iter().map(|n| n.to_string()).collect(),
            error: None,
            duration: Duration::ZERO,
        }
    }

    fn text(write: impl Fn(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn a_plan_marks_deletions_and_orphans_and_counts_deletions() {
        let report = PassReport {
            resources: vec![
                orphan("old-cpu", Planned::Delete, State::Orphaned, &[]),
                orphan(
                    "kept",
                    Planned::Orphaned,
                    State::Orphaned,
                    &["not in the desired state: only --prune deletes it"],
                ),
            ],
            prune: PruneProblems::default(),
        };
        assert_eq!(
            text(|out| write_plan_text(out, &report, false)),
            "- Alarm old-cpu\n\
             ? Alarm kept: orphaned\n    note: not in the desired state: only --prune deletes it\n\
             \n\
             Plan: 0 to create, 0 to update, 1 to delete, 0 errors, 1 orphaned.\n"
        );
    }

    #[test]
    fn a_refused_prune_is_said_before_the_summary_and_counts_as_an_error() {
        let report = PassReport {
            resources: vec![orphan(
                "a01",
                Planned::Orphaned,
                State::Orphaned,
                &["would be deleted, but pruning is refused in this pass (more than --max-prune)"],
            )],
            prune: PruneProblems {
                refused: vec![Refusal {
                    environment: crate::kinds::DEFAULT_ENVIRONMENT.to_string(),
                    reason: Reason::MaxPrune,
                    message: "pruning refused: this pass would delete 11 resources".into(),
                    would_delete: 11,
                }],
                errors: vec![ListingError {
                    environment: crate::kinds::DEFAULT_ENVIRONMENT.to_string(),
                    kinds: vec![Kind::Secret],
                    error: ResourceError {
                        reason: Reason::AccessDenied,
                        message: "secretsmanager.ListSecrets: denied".into(),
                        retryable: false,
                    },
                }],
            },
        };
        let plan = text(|out| write_plan_text(out, &report, false));
        assert!(
            plan.ends_with(
                "! pruning refused: this pass would delete 11 resources\n\
                 ! cannot list the Secret this driftd owns (access_denied): secretsmanager.ListSecrets: denied\n\
                 \n\
                 Plan: 0 to create, 0 to update, 0 to delete, 2 errors, 1 orphaned.\n"
            ),
            "{plan}"
        );
        let apply = text(|out| write_apply_text(out, &report, false));
        assert!(
            apply.starts_with("? Alarm a01: orphaned\n    note: would be deleted"),
            "{apply}"
        );
        assert!(
            apply.ends_with(
                "Apply: 0 created, 0 corrected, 0 observed, 2 errors, 0 in sync, 1 orphaned.\n"
            ),
            "{apply}"
        );
    }

    #[test]
    fn apply_reports_deletions_and_what_observe_mode_left() {
        let mut observed = orphan("watched", Planned::Delete, State::Orphaned, &[]);
        observed.mode = Mode::Observe;
        let report = PassReport {
            resources: vec![
                orphan("gone", Planned::Delete, State::Corrected, &["a note"]),
                observed,
            ],
            prune: PruneProblems::default(),
        };
        assert_eq!(
            text(|out| write_apply_text(out, &report, false)),
            "- Alarm gone: deleted\n\
             ? Alarm watched: orphaned (observe: not deleted)\n\
             \n\
             Apply: 0 created, 0 corrected, 0 observed, 0 errors, 0 in sync, 1 deleted, 1 orphaned.\n"
        );
    }
}
