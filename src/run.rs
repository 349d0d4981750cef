//! The run state machine: pure, no IO.
//!
//! A [`Run`] walks a runbook's steps in one environment. Drivers (the TUI and the headless
//! runner) feed it [`Event`]s — what the user did, what a command or probe reported — and
//! carry out the [`Effect`]s it returns: journal a record, spawn a command, probe, kill,
//! ask a human. Every state change is a [`Record`] applied by [`Run::record`], and every
//! record is also journaled, so replaying a journal rebuilds the exact run.

pub mod record;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

pub use record::{AlertOrigin, Entry, Outcome, Record};

use crate::runbook::template::{self, Name, Quoting, Value};
use crate::runbook::{Action, Environment, OnFailure, ProbeExpect, ProbeTarget, Runbook, Step};

/// Where one step stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Status {
    #[default]
    Pending,
    Running,
    Passed,
    /// Failed with a reason; `tolerated` when `on_failure: continue` let the run go on.
    Failed {
        reason: String,
        tolerated: bool,
    },
    Skipped(String),
    Cancelled(String),
    /// It was running when the runner stopped: the outcome is unknown, and it never runs
    /// again without a person's decision.
    Interrupted,
}

impl Status {
    pub fn is_done(&self) -> bool {
        matches!(self, Status::Passed | Status::Failed { .. } | Status::Skipped(_))
    }
}

/// The state of one step in this run.
#[derive(Debug, Clone, Default)]
pub struct StepState {
    pub status: Status,
    /// Tries of a command, or probes of a check, so far.
    pub attempts: u32,
    /// Consecutive passing probes of a check with `wait`.
    pub passes: u32,
    pub exit: Option<i32>,
    pub duration_ms: Option<u64>,
    /// The resolved command or probe target as shown (masked).
    pub shown: Option<String>,
    /// The last probe's or try's reason, for display.
    pub last_reason: Option<String>,
    /// What the last probe observed ("0.012 < 0.05 ✓"), for probes that measure a value.
    pub observed: Option<String>,
}

/// A command ready to run: everything resolved, secrets known for masking.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedCommand {
    /// The script to run: values are not in it, only references to `env` (see
    /// `Template::render_script`). Never displayed or journaled.
    pub script: String,
    /// The script as shown, values in place, secrets masked.
    pub shown: String,
    /// The step's `shell:`; `None` is the strict default.
    pub shell: Option<String>,
    pub cwd: Option<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub interactive: bool,
    /// Values to mask in output.
    pub secrets: Vec<String>,
    /// Marks the command's processes (`run/step/try`) so that all of them can be found and
    /// ended, whatever group or session they move to; empty: the executor makes one up.
    pub token: String,
}

/// A probe ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedProbe {
    pub target: PreparedTarget,
    pub timeout: Duration,
    pub expect: ProbeExpect,
    /// The target as shown, secrets masked.
    pub shown: String,
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PreparedTarget {
    Http {
        url: String,
        method: String,
        headers: Vec<(String, String)>,
        insecure: bool,
    },
    Tcp {
        address: String,
    },
    /// `env` carries the values the script references.
    Command {
        script: String,
        env: Vec<(String, String)>,
    },
    /// An instant query of `query` at `endpoint` (the server's `/api/v1/query`); `server`
    /// names the environment's Prometheus for messages (secrets masked).
    Prometheus {
        endpoint: String,
        query: String,
        headers: Vec<(String, String)>,
        server: String,
    },
}

/// The result of one command try.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandResult {
    /// Exit code; `None` when killed by a signal.
    pub exit: Option<i32>,
    pub timed_out: bool,
    pub cancelled: bool,
    /// Stdout (bounded), already masked, for `expect` and `capture`.
    pub stdout: String,
    /// Whether stdout was longer than what was kept.
    pub stdout_truncated: bool,
    pub duration_ms: u64,
    /// The process could not start (e.g. the shell does not exist).
    pub spawn_error: Option<String>,
    /// The step's log file could not be written whole (it is not the full output).
    pub log_error: Option<String>,
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub passed: bool,
    /// Passed every other expectation but was slower than `max_latency` (a monitor shows
    /// this as degraded; a check fails).
    pub slow: bool,
    pub latency_ms: u64,
    /// A short reason: "HTTP 200", "connection refused", "timed out after 5s".
    pub reason: String,
    /// What a probe that measures a value saw ("0.012 < 0.05 ✓"), masked.
    pub observed: Option<String>,
}

/// What drivers tell the run.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Start at the first step that applies.
    Begin,
    /// The user asked to run or perform the current step (confirmation already given).
    Perform,
    /// The user ticked the current manual step off.
    Tick,
    /// The user picked an option of the current choice step.
    Choose(String),
    Skip(String),
    Retry,
    /// Cancel the running command or check.
    Cancel,
    Jump(String),
    Note(String),
    /// A command's process started (its identity, for finding it after a crash).
    CommandSpawned {
        step: String,
        attempt: u32,
        pid: u32,
        pgid: u32,
        start_time: Option<u64>,
    },
    CommandDone {
        step: String,
        attempt: u32,
        result: CommandResult,
    },
    /// `elapsed_ms` is the time since the step's first probe started.
    ProbeDone {
        step: String,
        attempt: u32,
        result: ProbeResult,
        elapsed_ms: u64,
    },
    /// The user ends the run before its end.
    Abort,
    /// The user marks the current (interrupted, failed or cancelled) step done without
    /// running it, optionally saying why.
    MarkDone(Option<String>),
    /// The run is given up (`runbook runs --abandon`): it ends as abandoned.
    Abandon,
    /// Like `Cancel`, for a reason other than the user's (a signal to the runner).
    Stop(String),
    /// The user confirmed the current step (`how`: typed the environment's name, `--yes`),
    /// recorded before it runs; `by` is user@host.
    Confirmed {
        how: String,
        by: String,
    },
    /// A monitor of the run's environment changed state (drivers run the monitors during a
    /// run); journaled for the timeline, it changes nothing else.
    HealthChanged {
        monitor: String,
        title: String,
        state: String,
        detail: String,
    },
}

/// What drivers must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Append to the journal (before showing it happened).
    Journal(Record),
    Spawn {
        step: String,
        attempt: u32,
        command: PreparedCommand,
        delay: Duration,
    },
    Probe {
        step: String,
        attempt: u32,
        probe: PreparedProbe,
        delay: Duration,
    },
    /// Kill the running command of this step (its whole process group).
    Kill {
        step: String,
    },
    /// The run waits for a person: a manual step, a choice, a failure to decide on.
    NeedsHuman {
        step: String,
        why: Waiting,
    },
    Finished(Outcome),
}

/// Why the run waits for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// A step is ready; the user runs it (Enter) or ticks it (Space).
    Ready,
    /// A choice step: pick an option.
    Choice,
    /// The step failed with `on_failure: stop`: retry, skip or jump.
    Failed,
    /// The step was cancelled: retry, skip or jump.
    Cancelled,
    /// The step was running when the runner stopped: re-run, mark done, or skip.
    Interrupted,
}

/// Problems a driver can hit before a run starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("runbook '{runbook}' does not run in environment '{env}' (it allows: {allowed})")]
    EnvironmentNotAllowed { runbook: String, env: String, allowed: String },
    #[error("input '{0}' is required: it has no default")]
    MissingInput(String),
    #[error("input '{name}': {why}")]
    BadInput { name: String, why: String },
    #[error("unknown input '{0}'")]
    UnknownInput(String),
    #[error("var '{name}' cannot be resolved: {why}")]
    BadVar { name: String, why: String },
}

/// Reads the process environment for `{{ env.NAME }}`; replaceable in tests.
pub type EnvLookup = fn(&str) -> Option<String>;

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// One run of a runbook in one environment.
#[derive(Debug, Clone)]
pub struct Run {
    runbook: Arc<Runbook>,
    environment: Environment,
    steps: Vec<StepState>,
    cursor: Option<usize>,
    inputs: HashMap<String, Value>,
    vars: HashMap<String, Value>,
    captures: HashMap<String, Value>,
    env_lookup: EnvLookup,
    outcome: Option<Outcome>,
    started: bool,
    notes: Vec<String>,
    /// Why the running step is being cancelled, when not by the user.
    cancel_reason: Option<String>,
    /// The alert the run was started from (`runbook run --alert`, the TUI's alert list).
    alert: Option<crate::run::record::AlertOrigin>,
}

impl Run {
    /// A run not yet begun. `inputs` are the values the user gave; defaults fill the rest.
    pub fn new(
        runbook: Arc<Runbook>,
        environment: Environment,
        given: &BTreeMap<String, String>,
    ) -> Result<Self, StartError> {
        Self::with_env_lookup(runbook, environment, given, process_env)
    }

    pub fn with_env_lookup(
        runbook: Arc<Runbook>,
        environment: Environment,
        given: &BTreeMap<String, String>,
        env_lookup: EnvLookup,
    ) -> Result<Self, StartError> {
        Self::build(runbook, environment, given, env_lookup, false)
    }

    /// A run for showing only (`--dry-run`, previews): inputs without a value stay unknown
    /// and show as `‹name›` instead of being an error.
    pub fn preview_only(
        runbook: Arc<Runbook>,
        environment: Environment,
        given: &BTreeMap<String, String>,
    ) -> Result<Self, StartError> {
        Self::build(runbook, environment, given, process_env, true)
    }

    fn build(
        runbook: Arc<Runbook>,
        environment: Environment,
        given: &BTreeMap<String, String>,
        env_lookup: EnvLookup,
        lenient: bool,
    ) -> Result<Self, StartError> {
        if !runbook.allows_environment(&environment.name) {
            return Err(StartError::EnvironmentNotAllowed {
                runbook: runbook.id.clone(),
                env: environment.name.clone(),
                allowed: runbook.environments.as_ref().map(|l| l.join(", ")).unwrap_or_default(),
            });
        }
        if let Some(unknown) = given.keys().find(|k| runbook.input(k).is_none()) {
            return Err(StartError::UnknownInput(unknown.clone()));
        }
        let mut inputs = HashMap::new();
        for input in &runbook.inputs {
            let value = match given.get(&input.name).or(input.default.as_ref()) {
                Some(v) => v.clone(),
                None if lenient => continue,
                None => return Err(StartError::MissingInput(input.name.clone())),
            };
            input
                .check_value(&value)
                .map_err(|why| StartError::BadInput { name: input.name.clone(), why })?;
            inputs.insert(input.name.clone(), Value { text: value, secret: input.secret });
        }
        let steps = vec![StepState::default(); runbook.steps.len()];
        let mut run = Run {
            runbook,
            environment,
            steps,
            cursor: None,
            inputs,
            vars: HashMap::new(),
            captures: HashMap::new(),
            env_lookup,
            outcome: None,
            started: false,
            notes: Vec::new(),
            cancel_reason: None,
            alert: None,
        };
        for (name, t) in run.runbook.vars.clone() {
            let rendered = match t.render(Quoting::Plain, &|n| run.value(n)) {
                Ok(r) => r,
                Err(_) if lenient => continue,
                Err(m) => return Err(StartError::BadVar { name: name.clone(), why: m.to_string() }),
            };
            let secret = !rendered.secrets.is_empty();
            run.vars.insert(name, Value { text: rendered.real, secret });
        }
        Ok(run)
    }

    pub fn runbook(&self) -> &Runbook {
        &self.runbook
    }

    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    pub fn steps(&self) -> &[StepState] {
        &self.steps
    }

    pub fn cursor(&self) -> Option<usize> {
        self.cursor
    }

    pub fn current(&self) -> Option<&Step> {
        self.cursor.map(|i| &self.runbook.steps[i])
    }

    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome
    }

    pub fn is_started(&self) -> bool {
        self.started
    }

    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Every secret value of this run, for masking.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .inputs
            .values()
            .chain(self.vars.values())
            .chain(self.captures.values())
            .filter(|v| v.secret && !v.text.is_empty())
            .map(|v| v.text.clone())
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.len()));
        out.dedup();
        out
    }

    /// The `RunStarted` record for this run; `source` is the runbooks directory it came
    /// from (none for a bundled runbook), so a resume finds it again without `--dir`.
    pub fn started_record(
        &self,
        content_hash: &str,
        source: Option<String>,
        user: &str,
        host: &str,
    ) -> Record {
        let mut inputs = BTreeMap::new();
        let mut secret_inputs = Vec::new();
        for (name, value) in &self.inputs {
            if value.secret {
                secret_inputs.push(name.clone());
            } else {
                inputs.insert(name.clone(), value.text.clone());
            }
        }
        secret_inputs.sort();
        Record::RunStarted {
            runbook: self.runbook.id.clone(),
            title: self.runbook.title.clone(),
            content_hash: content_hash.to_owned(),
            environment: self.environment.name.clone(),
            inputs,
            secret_inputs,
            user: user.to_owned(),
            host: host.to_owned(),
            source,
            steps: Some(self.runbook.steps.len()),
            titles: self.runbook.steps.iter().map(|s| (s.id.clone(), self.preview(&s.title))).collect(),
            alert: self.alert.clone().map(Box::new),
        }
    }

    /// Records that the run answers this alert (journaled in `RunStarted`).
    pub fn set_alert(&mut self, alert: Option<crate::run::record::AlertOrigin>) {
        self.alert = alert;
    }

    /// The alert the run was started from, if any.
    pub fn alert(&self) -> Option<&crate::run::record::AlertOrigin> {
        self.alert.as_ref()
    }

    /// The value of a placeholder: captures, inputs, vars, environment vars, built-ins.
    pub fn value(&self, name: &Name) -> Option<Value> {
        match name {
            Name::Env(var) => (self.env_lookup)(var).map(Value::secret),
            Name::Var(n) => self
                .captures
                .get(n)
                .or_else(|| self.inputs.get(n))
                .or_else(|| self.vars.get(n))
                .cloned()
                .or_else(|| self.environment.vars.get(n).map(Value::plain))
                .or_else(|| (n == "environment").then(|| Value::plain(self.environment.name.clone()))),
        }
    }

    /// A template as shown now: unknown values as `‹name›`, secrets masked.
    pub fn preview(&self, t: &template::Template) -> String {
        t.preview(&|n| self.value(n))
    }

    /// Whether performing the current step needs a confirmation, and whether it must be typed.
    pub fn needs_confirmation(&self) -> Option<Confirmation> {
        let step = self.current()?;
        match &step.action {
            Action::Command(c) if c.confirm => Some(if self.environment.protected {
                Confirmation::TypeEnvironment(self.environment.name.clone())
            } else {
                Confirmation::YesNo
            }),
            _ => None,
        }
    }

    /// Applies a record: the only way the run's state changes.
    pub fn record(&mut self, record: &Record) {
        let index = |id: &str| self.runbook.step_index(id);
        match record {
            Record::RunStarted { alert, .. } => {
                self.started = true;
                self.alert = alert.as_deref().cloned();
            }
            Record::Resumed { .. } => {}
            Record::Moved { to, .. } => self.cursor = to.as_deref().and_then(index),
            Record::StepStarted { step, attempt, command, check } => {
                if let Some(i) = index(step) {
                    let s = &mut self.steps[i];
                    s.status = Status::Running;
                    s.attempts = *attempt;
                    if *attempt <= 1 {
                        s.passes = 0;
                    }
                    s.shown = command.clone().or_else(|| check.clone());
                }
            }
            Record::AttemptFailed { step, reason, .. } => {
                if let Some(i) = index(step) {
                    self.steps[i].last_reason = Some(reason.clone());
                }
            }
            Record::CheckAttempt { step, attempt, passed, reason, observed, .. } => {
                if let Some(i) = index(step) {
                    let s = &mut self.steps[i];
                    s.attempts = *attempt;
                    s.passes = if *passed { s.passes + 1 } else { 0 };
                    s.last_reason = Some(reason.clone());
                    s.observed = observed.clone();
                }
            }
            Record::StepPassed { step, exit, duration_ms } => {
                if let Some(i) = index(step) {
                    let s = &mut self.steps[i];
                    s.status = Status::Passed;
                    s.exit = *exit;
                    s.duration_ms = Some(*duration_ms);
                }
            }
            Record::StepFailed { step, reason, exit, duration_ms, tolerated } => {
                if let Some(i) = index(step) {
                    let s = &mut self.steps[i];
                    s.status = Status::Failed { reason: reason.clone(), tolerated: *tolerated };
                    s.exit = *exit;
                    s.duration_ms = Some(*duration_ms);
                    s.last_reason = Some(reason.clone());
                }
            }
            Record::StepSkipped { step, reason } => {
                if let Some(i) = index(step) {
                    self.steps[i].status = Status::Skipped(reason.clone());
                }
            }
            Record::StepCancelled { step, reason } => {
                if let Some(i) = index(step) {
                    self.steps[i].status = Status::Cancelled(reason.clone());
                }
            }
            Record::StepInterrupted { step } => {
                if let Some(i) = index(step) {
                    self.steps[i].status = Status::Interrupted;
                }
            }
            Record::StepMarkedDone { step, .. } => {
                if let Some(i) = index(step) {
                    self.steps[i].status = Status::Passed;
                }
            }
            Record::StepProcess { .. } | Record::Confirmed { .. } | Record::HealthChanged { .. } => {}
            Record::Captured { name, value, secret, .. } => {
                self.captures.insert(name.clone(), Value { text: value.clone(), secret: *secret });
            }
            Record::Chose { step, .. } => {
                if let Some(i) = index(step) {
                    self.steps[i].status = Status::Passed;
                }
            }
            Record::Note { text, .. } => self.notes.push(text.clone()),
            Record::RunFinished { outcome } => {
                self.outcome = Some(*outcome);
                self.cursor = None;
            }
        }
    }

    /// Rebuilds a run from its journal.
    pub fn replay(mut self, entries: &[Entry]) -> Self {
        for e in entries {
            self.record(&e.record);
        }
        self
    }

    /// Handles one event; returns what the driver must do, in order.
    pub fn apply(&mut self, event: Event) -> Vec<Effect> {
        let mut fx = Fx { effects: Vec::new() };
        if self.outcome.is_some() {
            // A note after the end still belongs to the record of the run.
            if let Event::Note(text) = event {
                self.emit(&mut fx, Record::Note { text, step: None });
            }
            return fx.effects;
        }
        match event {
            Event::Begin => {
                self.started = true;
                self.enter(0, &mut fx);
            }
            Event::Perform => self.perform(&mut fx),
            Event::Tick => {
                if let Some(step) = self.current().filter(|s| matches!(s.action, Action::Manual)) {
                    let id = step.id.clone();
                    self.emit(&mut fx, Record::StepPassed { step: id, exit: None, duration_ms: 0 });
                    self.advance(&mut fx);
                }
            }
            Event::Choose(label) => self.choose(&label, &mut fx),
            Event::Skip(reason) => {
                if let Some(step) = self.current() {
                    let id = step.id.clone();
                    if self.steps[self.cursor.unwrap_or_default()].status == Status::Running {
                        return fx.effects;
                    }
                    self.emit(&mut fx, Record::StepSkipped { step: id, reason });
                    self.advance(&mut fx);
                }
            }
            Event::Retry => {
                let i = self.cursor;
                if let Some(i) = i
                    && matches!(
                        self.steps[i].status,
                        Status::Failed { .. } | Status::Cancelled(_) | Status::Interrupted
                    )
                {
                    self.steps[i].attempts = 0;
                    self.perform(&mut fx);
                }
            }
            Event::Cancel => self.cancel(&mut fx),
            Event::Stop(reason) => {
                self.cancel_reason = Some(reason);
                self.cancel(&mut fx);
            }
            Event::Confirmed { how, by } => {
                if let Some(step) = self.current() {
                    let step = step.id.clone();
                    self.emit(&mut fx, Record::Confirmed { step, how, by });
                }
            }
            Event::HealthChanged { monitor, title, state, detail } => {
                self.emit(&mut fx, Record::HealthChanged { monitor, title, state, detail });
            }
            Event::Jump(id) => {
                let running = self.cursor.is_some_and(|i| self.steps[i].status == Status::Running);
                if !running && let Some(i) = self.runbook.step_index(&id) {
                    self.enter(i, &mut fx);
                }
            }
            Event::Note(text) => {
                let step = self.current().map(|s| s.id.clone());
                self.emit(&mut fx, Record::Note { text, step });
            }
            Event::CommandSpawned { step, attempt, pid, pgid, start_time } => {
                let current = self.runbook.step_index(&step).is_some_and(|i| {
                    self.cursor == Some(i)
                        && self.steps[i].attempts == attempt
                        && self.steps[i].status == Status::Running
                });
                if current {
                    self.emit(&mut fx, Record::StepProcess { step, attempt, pid, pgid, start_time });
                }
            }
            Event::CommandDone { step, attempt, result } => {
                self.command_done(&step, attempt, result, &mut fx)
            }
            Event::ProbeDone { step, attempt, result, elapsed_ms } => {
                self.probe_done(&step, attempt, result, elapsed_ms, &mut fx)
            }
            Event::Abort => {
                if let Some(i) = self.cursor
                    && self.steps[i].status == Status::Running
                {
                    fx.effects.push(Effect::Kill { step: self.runbook.steps[i].id.clone() });
                }
                self.finish(Outcome::Aborted, &mut fx);
            }
            Event::MarkDone(note) => {
                if let Some(i) = self.cursor
                    && self.steps[i].status != Status::Running
                {
                    let step = self.runbook.steps[i].id.clone();
                    self.emit(&mut fx, Record::StepMarkedDone { step, note });
                    self.advance(&mut fx);
                }
            }
            Event::Abandon => {
                if self.cursor.is_some_and(|i| self.steps[i].status == Status::Running) {
                    return fx.effects;
                }
                self.finish(Outcome::Abandoned, &mut fx);
            }
        }
        fx.effects
    }

    fn emit(&mut self, fx: &mut Fx, record: Record) {
        self.record(&record);
        fx.effects.push(Effect::Journal(record));
    }

    /// Moves to step `i`, skipping steps that do not apply to this environment.
    fn enter(&mut self, mut i: usize, fx: &mut Fx) {
        let runbook = Arc::clone(&self.runbook);
        while let Some(step) = runbook.steps.get(i) {
            if step.applies_to(&self.environment.name) {
                let id = step.id.clone();
                let title = Some(self.preview(&step.title));
                self.emit(fx, Record::Moved { to: Some(id.clone()), title });
                let why = match step.action {
                    Action::Choice(_) => Waiting::Choice,
                    _ => Waiting::Ready,
                };
                fx.effects.push(Effect::NeedsHuman { step: id, why });
                return;
            }
            let id = step.id.clone();
            let only = step.when_env.as_ref().map(|l| l.join(", ")).unwrap_or_default();
            self.emit(fx, Record::StepSkipped { step: id, reason: format!("only runs in {only}") });
            i += 1;
        }
        self.emit(fx, Record::Moved { to: None, title: None });
        self.finish(self.end_outcome(), fx);
    }

    /// How the run ends when it reaches an end: failed if a step's failure still stands
    /// (not tolerated by `on_failure: continue`, not retried or skipped since).
    fn end_outcome(&self) -> Outcome {
        let failed = self.steps.iter().any(|s| matches!(s.status, Status::Failed { tolerated: false, .. }));
        if failed { Outcome::Failed } else { Outcome::Succeeded }
    }

    /// Goes on after the current step is done: `end`, `next`, or the following step.
    fn advance(&mut self, fx: &mut Fx) {
        let Some(i) = self.cursor else { return };
        let step = &self.runbook.steps[i];
        if step.end {
            self.emit(fx, Record::Moved { to: None, title: None });
            self.finish(self.end_outcome(), fx);
            return;
        }
        let next = match &step.next {
            Some(id) => self.runbook.step_index(id).unwrap_or(i + 1),
            None => i + 1,
        };
        self.enter(next, fx);
    }

    fn finish(&mut self, outcome: Outcome, fx: &mut Fx) {
        self.emit(fx, Record::RunFinished { outcome });
        fx.effects.push(Effect::Finished(outcome));
    }

    fn perform(&mut self, fx: &mut Fx) {
        let Some(i) = self.cursor else { return };
        if self.steps[i].status == Status::Running {
            return;
        }
        let step = self.runbook.steps[i].clone();
        let attempt = self.steps[i].attempts + 1;
        match &step.action {
            Action::Manual => {
                self.emit(fx, Record::StepPassed { step: step.id.clone(), exit: None, duration_ms: 0 });
                self.advance(fx);
            }
            Action::Choice(_) => {
                fx.effects.push(Effect::NeedsHuman { step: step.id.clone(), why: Waiting::Choice })
            }
            Action::Command(_) => match self.prepare_command(&step) {
                Ok(command) => {
                    self.emit(
                        fx,
                        Record::StepStarted {
                            step: step.id.clone(),
                            attempt,
                            command: Some(command.shown.clone()),
                            check: None,
                        },
                    );
                    fx.effects.push(Effect::Spawn {
                        step: step.id.clone(),
                        attempt,
                        command,
                        delay: Duration::ZERO,
                    });
                }
                Err(why) => self.fail(&step, why, None, 0, fx),
            },
            Action::Check(_) => match self.prepare_probe(&step) {
                Ok(probe) => {
                    self.emit(
                        fx,
                        Record::StepStarted {
                            step: step.id.clone(),
                            attempt: 1,
                            command: None,
                            check: Some(probe.shown.clone()),
                        },
                    );
                    fx.effects.push(Effect::Probe {
                        step: step.id.clone(),
                        attempt: 1,
                        probe,
                        delay: Duration::ZERO,
                    });
                }
                Err(why) => self.fail(&step, why, None, 0, fx),
            },
        }
    }

    fn choose(&mut self, label: &str, fx: &mut Fx) {
        let Some(step) = self.current().cloned() else { return };
        let Action::Choice(options) = &step.action else { return };
        let Some(option) = options.iter().find(|o| o.label == label) else { return };
        let Some(target) = self.runbook.step_index(&option.goto) else { return };
        self.emit(
            fx,
            Record::Chose { step: step.id.clone(), label: option.label.clone(), goto: option.goto.clone() },
        );
        self.enter(target, fx);
    }

    fn cancel(&mut self, fx: &mut Fx) {
        let Some(i) = self.cursor else { return };
        if self.steps[i].status != Status::Running {
            return;
        }
        let step = self.runbook.steps[i].clone();
        match step.action {
            Action::Command(_) => fx.effects.push(Effect::Kill { step: step.id.clone() }),
            _ => {
                // A check stops polling at once; a late probe result is dropped as stale.
                self.steps[i].attempts += 1_000_000;
                let reason = self.cancel_reason.take().unwrap_or_else(|| "cancelled by the user".into());
                self.emit(fx, Record::StepCancelled { step: step.id.clone(), reason });
                fx.effects.push(Effect::NeedsHuman { step: step.id, why: Waiting::Cancelled });
            }
        }
    }

    /// Fails a step and follows its `on_failure`.
    fn fail(&mut self, step: &Step, reason: String, exit: Option<i32>, duration_ms: u64, fx: &mut Fx) {
        let on_failure = step.on_failure().cloned().unwrap_or(OnFailure::Stop);
        let tolerated = on_failure == OnFailure::Continue;
        self.emit(fx, Record::StepFailed { step: step.id.clone(), reason, exit, duration_ms, tolerated });
        match on_failure {
            OnFailure::Stop => {
                fx.effects.push(Effect::NeedsHuman { step: step.id.clone(), why: Waiting::Failed })
            }
            OnFailure::Continue => self.advance(fx),
            OnFailure::Goto(target) => {
                if let Some(t) = self.runbook.step_index(&target) {
                    self.enter(t, fx);
                }
            }
        }
    }

    fn command_done(&mut self, id: &str, attempt: u32, result: CommandResult, fx: &mut Fx) {
        let Some(i) = self.runbook.step_index(id) else { return };
        if self.cursor != Some(i)
            || self.steps[i].attempts != attempt
            || self.steps[i].status != Status::Running
        {
            return; // stale: a message from a try that is no longer current
        }
        let step = self.runbook.steps[i].clone();
        let Action::Command(c) = &step.action else { return };
        if let Some(e) = &result.log_error {
            let text = format!("the step log is incomplete: {e}");
            self.emit(fx, Record::Note { text, step: Some(id.to_owned()) });
        }
        if result.cancelled {
            let reason = self.cancel_reason.take().unwrap_or_else(|| "cancelled by the user".into());
            self.emit(fx, Record::StepCancelled { step: id.to_owned(), reason });
            fx.effects.push(Effect::NeedsHuman { step: id.to_owned(), why: Waiting::Cancelled });
            return;
        }
        let failure = if let Some(e) = &result.spawn_error {
            Some(format!("could not start: {e}"))
        } else if result.timed_out {
            Some(format!("timed out after {}", crate::runbook::duration::format(c.timeout)))
        } else {
            match result.exit {
                None => Some("killed by a signal".to_owned()),
                Some(code) if code != c.expect.exit => {
                    Some(format!("exit code {code}, expected {}", c.expect.exit))
                }
                Some(_) => expectation_failure(&c.expect, &result.stdout),
            }
        };
        if let Some(reason) = failure {
            if attempt <= c.retries {
                self.emit(fx, Record::AttemptFailed { step: id.to_owned(), attempt, reason });
                match self.prepare_command(&step) {
                    Ok(command) => {
                        let next = attempt + 1;
                        self.emit(
                            fx,
                            Record::StepStarted {
                                step: id.to_owned(),
                                attempt: next,
                                command: Some(command.shown.clone()),
                                check: None,
                            },
                        );
                        fx.effects.push(Effect::Spawn {
                            step: id.to_owned(),
                            attempt: next,
                            command,
                            delay: c.retry_delay,
                        });
                    }
                    Err(why) => self.fail(&step, why, None, result.duration_ms, fx),
                }
                return;
            }
            self.fail(&step, reason, result.exit, result.duration_ms, fx);
            return;
        }
        if let Some(name) = &c.capture {
            const LIMIT: usize = 64 * 1024;
            if result.stdout_truncated || result.stdout.len() > LIMIT {
                let reason =
                    format!("output is too large to capture into '{name}' (limit {} KiB)", LIMIT / 1024);
                self.fail(&step, reason, result.exit, result.duration_ms, fx);
                return;
            }
            let value = result.stdout.trim().to_owned();
            let secret = value.contains(template::MASK);
            self.emit(fx, Record::Captured { step: id.to_owned(), name: name.clone(), value, secret });
        }
        self.emit(
            fx,
            Record::StepPassed { step: id.to_owned(), exit: result.exit, duration_ms: result.duration_ms },
        );
        self.advance(fx);
    }

    fn probe_done(&mut self, id: &str, attempt: u32, result: ProbeResult, elapsed_ms: u64, fx: &mut Fx) {
        let Some(i) = self.runbook.step_index(id) else { return };
        if self.cursor != Some(i)
            || self.steps[i].attempts != attempt
            || self.steps[i].status != Status::Running
        {
            return;
        }
        let step = self.runbook.steps[i].clone();
        let Action::Check(check) = &step.action else { return };
        self.emit(
            fx,
            Record::CheckAttempt {
                step: id.to_owned(),
                attempt,
                passed: result.passed,
                latency_ms: result.latency_ms,
                reason: result.reason.clone(),
                observed: result.observed.clone(),
            },
        );
        let Some(wait) = check.wait else {
            if result.passed {
                self.emit(
                    fx,
                    Record::StepPassed { step: id.to_owned(), exit: None, duration_ms: elapsed_ms },
                );
                self.advance(fx);
            } else {
                self.fail(&step, result.reason, None, elapsed_ms, fx);
            }
            return;
        };
        if self.steps[i].passes >= wait.passes {
            self.emit(fx, Record::StepPassed { step: id.to_owned(), exit: None, duration_ms: elapsed_ms });
            self.advance(fx);
            return;
        }
        let next_at = elapsed_ms + wait.interval.as_millis() as u64;
        if next_at > wait.timeout.as_millis() as u64 {
            let reason = format!(
                "not healthy within {} ({} of {} passes in a row; last: {})",
                crate::runbook::duration::format(wait.timeout),
                self.steps[i].passes,
                wait.passes,
                result.reason
            );
            self.fail(&step, reason, None, elapsed_ms, fx);
            return;
        }
        match self.prepare_probe(&step) {
            Ok(probe) => {
                self.steps[i].attempts = attempt + 1;
                fx.effects.push(Effect::Probe {
                    step: id.to_owned(),
                    attempt: attempt + 1,
                    probe,
                    delay: wait.interval,
                });
            }
            Err(why) => self.fail(&step, why, None, elapsed_ms, fx),
        }
    }

    /// Resolves a command step's templates; a placeholder without a value fails the step.
    pub fn prepare_command(&self, step: &Step) -> Result<PreparedCommand, String> {
        let Action::Command(c) = &step.action else { return Err("not a command step".into()) };
        let lookup = |n: &Name| self.value(n);
        let missing = |m: template::Missing| format!("{m}: the step that sets it has not run");
        let script = c.run.render_script(&lookup).map_err(|e| e.to_string())?;
        let mut secrets = self.secrets();
        secrets.extend(script.secrets.iter().cloned());
        let cwd = match &c.cwd {
            Some(t) => Some(t.render(Quoting::Plain, &lookup).map_err(missing)?.real),
            None => None,
        };
        let mut env = script.env.clone();
        for (k, t) in &c.env {
            let r = t.render(Quoting::Plain, &lookup).map_err(missing)?;
            secrets.extend(r.secrets);
            env.push((k.clone(), r.real));
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Ok(PreparedCommand {
            shown: template::mask(&script.shown, &secrets).into_owned(),
            script: script.code,
            shell: c.shell.clone(),
            cwd,
            env,
            timeout: c.timeout,
            interactive: c.interactive,
            secrets,
            token: String::new(),
        })
    }

    /// Resolves a check step's probe.
    pub fn prepare_probe(&self, step: &Step) -> Result<PreparedProbe, String> {
        let Action::Check(c) = &step.action else { return Err("not a check step".into()) };
        prepare_probe(&c.probe, &|n| self.value(n), self.secrets(), &self.environment)
    }
}

/// Resolves a probe's templates (shared with monitors, which resolve against an environment).
pub fn prepare_probe(
    probe: &crate::runbook::Probe,
    lookup: &dyn Fn(&Name) -> Option<Value>,
    mut secrets: Vec<String>,
    env: &Environment,
) -> Result<PreparedProbe, String> {
    let missing = |m: template::Missing| format!("{m}: the step that sets it has not run");
    let (target, shown) = match &probe.target {
        ProbeTarget::Http { url, method, headers, insecure } => {
            let u = url.render(Quoting::Plain, lookup).map_err(missing)?;
            secrets.extend(u.secrets.iter().cloned());
            let mut hs = Vec::new();
            for (k, t) in headers {
                let r = t.render(Quoting::Plain, lookup).map_err(missing)?;
                secrets.extend(r.secrets);
                hs.push((k.clone(), r.real));
            }
            let shown = format!("{method} {}", u.shown);
            (
                PreparedTarget::Http {
                    url: u.real,
                    method: method.clone(),
                    headers: hs,
                    insecure: *insecure,
                },
                shown,
            )
        }
        ProbeTarget::Tcp { address } => {
            let a = address.render(Quoting::Plain, lookup).map_err(missing)?;
            secrets.extend(a.secrets.iter().cloned());
            (PreparedTarget::Tcp { address: a.real }, format!("tcp {}", a.shown))
        }
        ProbeTarget::Command { script } => {
            let s = script.render_script(lookup).map_err(|e| e.to_string())?;
            secrets.extend(s.secrets.iter().cloned());
            (PreparedTarget::Command { script: s.code, env: s.env }, format!("$ {}", s.shown))
        }
        ProbeTarget::Prometheus { query } => {
            let q = query.render(Quoting::Plain, lookup).map_err(missing)?;
            secrets.extend(q.secrets.iter().cloned());
            let Some(endpoint) = &env.prometheus else {
                return Err(format!(
                    "environment '{}' has no `prometheus:` in environments.yaml: add its URL, like `prometheus: http://prometheus:9090`",
                    env.name
                ));
            };
            let env_var = |n: &str| lookup(&Name::Env(n.to_owned())).map(|v| v.text);
            let server = crate::prom::render_endpoint(endpoint, env, &env_var)?;
            secrets.extend(server.secrets.iter().cloned());
            let label = format!("Prometheus of environment '{}' ({})", env.name, server.shown);
            let endpoint = crate::prom::api_url(&server.base, "/api/v1/query", &[])
                .map_err(|e| format!("{label}: {e}"))?;
            let cmp = probe
                .expect
                .value
                .as_ref()
                .map(|c| format!(" {}{c}", if probe.expect.all { "all " } else { "" }))
                .unwrap_or_default();
            (
                PreparedTarget::Prometheus {
                    endpoint: endpoint.into(),
                    query: q.real,
                    headers: server.headers,
                    server: label,
                },
                format!("prometheus {}{cmp}", q.shown),
            )
        }
    };
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    Ok(PreparedProbe {
        shown: template::mask(&shown, &secrets).into_owned(),
        target,
        timeout: probe.timeout,
        expect: probe.expect.clone(),
        secrets,
    })
}

/// Output is matched as `capture` sees it: trimmed, so `^\d+$` matches `echo 5400`.
/// A failed match quotes what the command printed (already masked), shortened.
fn expectation_failure(expect: &crate::runbook::CommandExpect, stdout: &str) -> Option<String> {
    let stdout = stdout.trim();
    let failure = if let Some(text) = &expect.stdout_contains
        && !stdout.contains(text.as_str())
    {
        format!("stdout does not contain '{text}'")
    } else if let Some(re) = &expect.stdout_matches
        && !re.is_match(stdout)
    {
        format!("stdout does not match /{}/", re.as_str())
    } else {
        return None;
    };
    Some(format!("{failure}; it printed {}", shorten(stdout)))
}

/// At most ~200 characters of output for a message: the end, where the answer usually is.
fn shorten(text: &str) -> String {
    const MAX: usize = 200;
    if text.is_empty() {
        return "nothing".to_owned();
    }
    let chars = text.chars().count();
    let shown: String = if chars > MAX {
        let tail: String = text.chars().skip(chars - MAX).collect();
        format!("…{tail}")
    } else {
        text.to_owned()
    };
    format!("'{}'", shown.escape_debug())
}

/// What confirming a step takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    YesNo,
    /// In a protected environment the user types its name.
    TypeEnvironment(String),
}

struct Fx {
    effects: Vec<Effect>,
}
