//! `runbook export`: a run's journal as an incident timeline for the postmortem.

use std::fmt::Write as _;

use serde::Serialize;

use crate::journal::RunInfo;
use crate::run::{Entry, Record};

#[derive(Debug, Serialize)]
struct JsonExport<'a> {
    run: &'a str,
    runbook: &'a str,
    title: &'a str,
    environment: &'a str,
    who: String,
    started: jiff::Timestamp,
    ended: Option<jiff::Timestamp>,
    outcome: &'a str,
    /// One row per event, steps named by title (and id).
    timeline: Vec<TimelineRow>,
    /// The journal's records as they are.
    events: &'a [Entry],
}

#[derive(Debug, Serialize)]
struct TimelineRow {
    at: jiff::Timestamp,
    step_id: Option<String>,
    step: Option<String>,
    event: &'static str,
    details: String,
}

/// Step titles by id: from the start record, updated as the run shows each step (a title
/// with a capture in it reads as it did then).
fn titles(entries: &[Entry]) -> std::collections::HashMap<String, String> {
    let mut titles = std::collections::HashMap::new();
    for e in entries {
        match &e.record {
            Record::RunStarted { titles: t, .. } => {
                titles.extend(t.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Record::Moved { to: Some(id), title: Some(title) } => {
                titles.insert(id.clone(), title.clone());
            }
            _ => {}
        }
    }
    titles
}

fn who(entries: &[Entry]) -> String {
    let mut people: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::RunStarted { user, host, .. } | Record::Resumed { user, host, .. } => {
                Some(format!("{user}@{host}"))
            }
            _ => None,
        })
        .collect();
    people.dedup();
    people.join(", ")
}

pub fn json(info: &RunInfo, entries: &[Entry]) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&JsonExport {
        run: &info.id,
        runbook: &info.runbook,
        title: &info.title,
        environment: &info.environment,
        who: who(entries),
        started: info.started,
        ended: info.ended,
        outcome: &info.state,
        timeline: timeline(entries),
        events: entries,
    })
}

fn time(t: jiff::Timestamp) -> String {
    t.strftime("%H:%M:%S").to_string()
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "<br>")
}

/// The timeline as Markdown: a header table, then one row per event.
pub fn markdown(info: &RunInfo, entries: &[Entry]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Timeline: {}\n", crate::text::escape_controls(&info.title));
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| Runbook | `{}` |", info.runbook);
    let _ = writeln!(md, "| Environment | {} |", info.environment);
    let _ = writeln!(md, "| Run | `{}` |", info.id);
    let _ = writeln!(md, "| Who | {} |", who(entries));
    let _ = writeln!(md, "| Started | {} |", info.started.strftime("%Y-%m-%d %H:%M:%S UTC"));
    match info.ended {
        Some(end) => {
            let secs = end.as_second() - info.started.as_second();
            let _ = writeln!(
                md,
                "| Ended | {} ({}m {}s) |",
                end.strftime("%Y-%m-%d %H:%M:%S UTC"),
                secs / 60,
                secs % 60
            );
        }
        None => {
            let _ = writeln!(md, "| Ended | not finished |");
        }
    }
    let _ = writeln!(md, "| Outcome | **{}** |\n", info.state);
    let _ = writeln!(md, "## Events (UTC)\n");
    let _ = writeln!(md, "| Time | Step | Event | Details |\n|---|---|---|---|");
    for [at, step, event, details] in rows(entries) {
        let _ = writeln!(md, "| {at} | {} | {event} | {} |", cell(&step), cell(&details));
    }
    md
}

/// The timeline as rows: time (UTC), step, event, details. Shared by exports and the TUI.
/// Steps are named by their titles, as people read them.
pub fn rows(entries: &[Entry]) -> Vec<[String; 4]> {
    timeline(entries)
        .into_iter()
        .map(|r| {
            let step = r.step.map(|s| crate::text::escape_controls(&s).into_owned()).unwrap_or_default();
            [time(r.at), step, r.event.to_owned(), r.details]
        })
        .collect()
}

/// One row per event that a timeline shows, its step named by title (id kept).
fn timeline(entries: &[Entry]) -> Vec<TimelineRow> {
    let titles = titles(entries);
    entries
        .iter()
        .filter_map(|e| {
            let (step, event, details) = describe(&e.record)?;
            let id = (!step.is_empty()).then_some(step);
            let title = id.as_ref().map(|s| titles.get(s).cloned().unwrap_or_else(|| s.clone()));
            Some(TimelineRow { at: e.at, step_id: id, step: title, event, details })
        })
        .collect()
}

fn describe(record: &Record) -> Option<(String, &'static str, String)> {
    let d = |step: &str, event, details: String| Some((step.to_owned(), event, details));
    match record {
        Record::RunStarted { inputs, secret_inputs, user, host, alert, .. } => {
            let mut parts: Vec<String> = inputs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.extend(secret_inputs.iter().map(|k| format!("{k}=••••")));
            let alert = alert
                .as_ref()
                .map(|a| format!("; for alert {} ({})", a.alertname, a.fingerprint))
                .unwrap_or_default();
            d(
                "",
                "run started",
                format!(
                    "by {user}@{host}; inputs: {}{alert}",
                    if parts.is_empty() { "none".into() } else { parts.join(", ") }
                ),
            )
        }
        Record::Resumed { user, host, runbook_changed } => d(
            "",
            "run resumed",
            format!("by {user}@{host}{}", if *runbook_changed { "; the runbook had changed" } else { "" }),
        ),
        Record::Moved { .. } => None,
        Record::StepStarted { step, attempt, command, check } => {
            let what = command
                .as_ref()
                .map(|c| format!("`{c}`"))
                .or_else(|| check.as_ref().map(|c| format!("check {c}")));
            d(step, if *attempt > 1 { "retried" } else { "started" }, what.unwrap_or_default())
        }
        Record::AttemptFailed { step, attempt, reason } => {
            d(step, "try failed", format!("try {attempt}: {reason}"))
        }
        Record::CheckAttempt { step, attempt, passed, latency_ms, reason, observed } => d(
            step,
            if *passed { "probe passed" } else { "probe failed" },
            match observed {
                Some(o) if *passed => format!("#{attempt}: {o} in {latency_ms} ms"),
                Some(o) => format!("#{attempt}: {reason} ({o}) in {latency_ms} ms"),
                None => format!("#{attempt}: {reason} in {latency_ms} ms"),
            },
        ),
        Record::StepPassed { step, exit, duration_ms } => d(
            step,
            "✓ passed",
            match exit {
                Some(code) => format!("exit {code} after {duration_ms} ms"),
                None => format!("after {duration_ms} ms"),
            },
        ),
        Record::StepFailed { step, reason, exit, duration_ms, tolerated } => d(
            step,
            "✗ failed",
            format!(
                "{reason}{}{} after {duration_ms} ms",
                exit.map(|c| format!(" (exit {c})")).unwrap_or_default(),
                if *tolerated { ", tolerated" } else { "" }
            ),
        ),
        Record::StepSkipped { step, reason } => d(step, "skipped", reason.clone()),
        Record::StepCancelled { step, reason } => d(step, "cancelled", reason.clone()),
        Record::StepInterrupted { step } => {
            d(step, "interrupted", "the runner stopped while it ran; outcome unknown".into())
        }
        Record::StepMarkedDone { step, note } => d(
            step,
            "✓ marked done",
            note.as_ref()
                .map_or_else(|| "by a person, without running it".into(), |n| format!("by a person: {n}")),
        ),
        Record::StepProcess { step, pid, .. } => d(step, "process", format!("pid {pid}")),
        Record::Confirmed { step, how, by } => d(step, "confirmed", format!("by {by}: {how}")),
        Record::Captured { step, name, value, .. } => d(step, "captured", format!("{name} = {value}")),
        Record::Chose { step, label, goto } => d(step, "chose", format!("{label} → {goto}")),
        Record::Note { text, step } => d(step.as_deref().unwrap_or(""), "note", text.clone()),
        Record::RunFinished { outcome } => d("", "run finished", outcome.to_string()),
    }
}
