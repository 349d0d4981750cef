//! What a run records: every state change as a journal entry.
//!
//! The run is event-sourced: [`super::Run`] changes state only by applying a [`Record`], and
//! the same records are appended to the journal. Replaying a journal therefore rebuilds the
//! exact run, including where its cursor was.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Reached an end with no failure left standing.
    Succeeded,
    /// A step failed (and its `on_failure` path ran, or the user stopped there).
    Failed,
    /// The user stopped the run before its end.
    Aborted,
    /// Given up without an end (`runbook runs --abandon`): no longer offered for resume.
    Abandoned,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Aborted => "aborted",
            Outcome::Abandoned => "abandoned",
        })
    }
}

/// One state change of a run. Values are masked: no secret is ever in a record.
// The start record is the large one (titles, inputs, the alert) and is made once per run;
// boxing it would cost every reader a pattern change for no measurable gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// RunStarted is the big one, and there is one per run: boxing it would only add an
// indirection to every record of the journal.
pub enum Record {
    RunStarted {
        runbook: String,
        title: String,
        /// blake3 of the runbook file, to notice a changed runbook on resume.
        content_hash: String,
        environment: String,
        /// Input values; secret inputs are left out (their names are in `secret_inputs`).
        inputs: BTreeMap<String, String>,
        secret_inputs: Vec<String>,
        user: String,
        host: String,
        /// The runbook file the run started from, so a resume finds it without `--dir`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        /// How many steps the runbook has (for "step n/m").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        steps: Option<usize>,
        /// Every step's title by id, as known at the start, so a timeline names steps as
        /// people read them even for steps the run never reached.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        titles: BTreeMap<String, String>,
        /// The alert that started the run (`runbook run --alert`), when there was one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alert: Option<Box<AlertOrigin>>,
    },
    /// The run was picked up again from its journal.
    Resumed {
        user: String,
        host: String,
        /// Set when the runbook file changed since the run began.
        runbook_changed: bool,
    },
    /// The cursor moved to a step (`None`: past the end).
    Moved {
        to: Option<String>,
        /// The step's title as shown then (placeholders filled in), for the timeline.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    StepStarted {
        step: String,
        attempt: u32,
        /// The resolved command, masked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        /// The resolved probe target, masked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        check: Option<String>,
    },
    /// The process of a command try started. Its processes carry the token
    /// `RUN/STEP/ATTEMPT` in their environment, so they can be found after a crash.
    StepProcess {
        step: String,
        attempt: u32,
        pid: u32,
        pgid: u32,
        /// Clock ticks since boot; with the pid, the process's identity.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_time: Option<u64>,
    },
    /// One try of a command that will be tried again, or one probe of a check.
    AttemptFailed {
        step: String,
        attempt: u32,
        reason: String,
    },
    CheckAttempt {
        step: String,
        attempt: u32,
        passed: bool,
        latency_ms: u64,
        reason: String,
        /// What the probe observed, for probes that measure a value (a Prometheus query's
        /// result: "0.012 < 0.05").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        observed: Option<String>,
    },
    StepPassed {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit: Option<i32>,
        duration_ms: u64,
    },
    StepFailed {
        step: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit: Option<i32>,
        duration_ms: u64,
        /// Whether `on_failure: continue` tolerated the failure.
        #[serde(default)]
        tolerated: bool,
    },
    StepSkipped {
        step: String,
        reason: String,
    },
    StepCancelled {
        step: String,
        reason: String,
    },
    /// A step was running when the run's process died: its outcome is unknown, and a
    /// person decides what happens to it (run it again, mark it done, or skip it).
    StepInterrupted {
        step: String,
    },
    /// A person confirmed a step before it ran, ticked a manual step or picked an option:
    /// who, and how (typed the protected environment's name, answered yes, `--yes`,
    /// `--confirm-env NAME`, `--choice`, a key in the TUI).
    Confirmed {
        step: String,
        how: String,
        by: String,
    },
    /// A person marked the step done without running it (again), with a note why.
    StepMarkedDone {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Captured {
        step: String,
        name: String,
        value: String,
        secret: bool,
    },
    Chose {
        step: String,
        label: String,
        goto: String,
    },
    Note {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
    },
    RunFinished {
        outcome: Outcome,
    },
    /// A monitor of the run's environment changed state during the run (the first state it
    /// was seen in, then every change): for the timeline's health section. It changes
    /// nothing in the run.
    HealthChanged {
        monitor: String,
        title: String,
        /// `up`, `degraded` or `down`.
        state: String,
        /// The probe's result that made the change ("HTTP 503", "up 12ms").
        #[serde(default, skip_serializing_if = "String::is_empty")]
        detail: String,
    },
}

/// The alert a run was started from: enough to find it again in Alertmanager and to name
/// it in the timeline. Label and annotation values are data, never script text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertOrigin {
    pub alertname: String,
    pub fingerprint: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// When the alert started firing (RFC 3339, as Alertmanager reports it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
}

/// A record with the time it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub at: jiff::Timestamp,
    #[serde(flatten)]
    pub record: Record,
}
