//! Running a runbook without a terminal UI: in CI, in scripts, or with `--headless`.
//!
//! It drives the same [`Run`] as the TUI, prints progress line by line, and decides what a
//! person would: manual steps need `--yes`, choices need `--choice STEP=LABEL`, confirmations
//! need `--yes` (and `--confirm-env NAME` in a protected environment). When it cannot decide
//! it stops with exit code 3, and the run stays resumable. Exit codes: 0 succeeded, 1 a step
//! failed, 2 bad usage or runbook (or the run is driven elsewhere), 3 a human is needed,
//! 4 the journal could not be written, 129/130/143 stopped by SIGHUP/SIGINT/SIGTERM.

mod print;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use tokio::sync::mpsc;

use self::print::Printer;
use crate::exec::workers::{Outlet, Workers};
use crate::journal::{self, Journal};
use crate::run::{Confirmation, Effect, Event, Outcome, Record, Run, Waiting};
use crate::runbook::Action;
use crate::runbook::load::Library;
use crate::start::{self, UsageError};
use crate::text::escape_controls;

/// What `runbook run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub runbook: Option<String>,
    pub env: Option<String>,
    pub inputs: Vec<String>,
    pub vars: Vec<String>,
    pub yes: bool,
    pub choices: Vec<String>,
    pub resume: Option<String>,
    pub dry_run: bool,
    /// The protected environment's name, typed as the TUI asks for it.
    pub confirm_env: Option<String>,
    /// On resume: run the failed, cancelled or interrupted step again.
    pub retry: bool,
    /// On resume: skip this step (with `note` as the reason).
    pub skip: Option<String>,
    /// On resume: mark this step done without running it (with `note`).
    pub mark_done: Option<String>,
    pub note: Option<String>,
    /// On resume: end the processes a dead runner left running in its step.
    pub stop_running: bool,
    /// The alert the run answers (`--alert`), recorded in `RunStarted`.
    pub alert: Option<crate::run::record::AlertOrigin>,
}

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_HUMAN: u8 = 3;
pub const EXIT_JOURNAL: u8 = 4;
pub const EXIT_HANGUP: u8 = 129;
pub const EXIT_CANCELLED: u8 = 130;
pub const EXIT_TERMINATED: u8 = 143;

/// Runs headless; returns the exit code.
pub fn run(dirs: &[PathBuf], opts: &Options) -> anyhow::Result<u8> {
    let printer = Arc::new(Mutex::new(Printer::new()));
    match prepare(dirs, opts, &printer) {
        Ok(Prepared::Done(code)) => Ok(code),
        Ok(Prepared::Ready(ready)) => {
            // Orphans of a step are re-parented here, where the step's token finds them.
            crate::exec::tree::become_subreaper();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(drive(*ready, opts, printer))
        }
        Err(e) => match e.downcast_ref::<UsageError>() {
            Some(u) => {
                eprintln!("runbook: {u}");
                Ok(EXIT_USAGE)
            }
            None => Err(e),
        },
    }
}

enum Prepared {
    Done(u8),
    Ready(Box<Ready>),
}

struct Ready {
    run: Run,
    journal: Journal,
    run_id: String,
    /// The environment's monitors, probed while the run goes; their changes are journaled.
    monitors: Vec<crate::runbook::Monitor>,
    /// Effects to carry out first (the run's beginning, or a resumed step).
    effects: Vec<Effect>,
}

fn prepare(dirs: &[PathBuf], opts: &Options, printer: &Arc<Mutex<Printer>>) -> anyhow::Result<Prepared> {
    let library = crate::dirs::library(dirs);
    let data_dir = crate::dirs::data_dir().context("no data directory: set RUNBOOK_DATA_DIR")?;
    let given_inputs = start::pairs(&opts.inputs, "--input")?;
    let vars = start::pairs(&opts.vars, "--var")?;
    let say = |text: &str| printer.lock().unwrap_or_else(|e| e.into_inner()).line(text);

    if let Some(which) = &opts.resume {
        let mut resumed =
            start::resume(&library, &data_dir, which, opts.runbook.as_deref(), &given_inputs, &vars)?;
        for problem in &resumed.problems {
            say(&format!("runbook: warning: {problem}"));
        }
        if let Some(still) = &resumed.still_running {
            let step = still.step.clone();
            let pids = format!("{:?}", still.pids);
            let leave = opts.skip.as_deref() == Some(step.as_str())
                || opts.mark_done.as_deref() == Some(step.as_str());
            if opts.stop_running {
                say(&format!(
                    "runbook: step '{step}' was still running (pids {pids}): stopping it (--stop-running)"
                ));
                start::settle_still_running(&mut resumed, start::StillRunningChoice::Stop)?;
            } else if leave {
                say(&format!("runbook: step '{step}' is still running (pids {pids}): left alone"));
                start::settle_still_running(&mut resumed, start::StillRunningChoice::Leave)?;
            } else {
                say(&format!(
                    "runbook: a human is needed: step '{step}' is still running from the runner that stopped (pids {pids}); \
                     it is not started again beside itself. Wait for it to end and resume, stop it with \
                     `runbook run --resume {which} --stop-running`, or leave it and mark the step with --mark-done {step} or --skip {step} (--note WHY)",
                ));
                return Ok(Prepared::Done(EXIT_HUMAN));
            }
        }
        let start::Resumed { mut run, mut journal, run_id, changed, effects, monitors, .. } = resumed;
        say(&format!("runbook: resuming run {run_id} of {} in {}", run.runbook().id, run.environment().name));
        if changed {
            say("runbook: warning: the runbook changed since this run began; steps are matched by id");
        }
        if let Some(outcome) = run.outcome() {
            // A note after the end still goes into the run's record.
            if let Some(note) = &opts.note {
                for effect in run.apply(Event::Note(note.clone())) {
                    if let Effect::Journal(r) = effect {
                        journal.append(r)?;
                    }
                }
                say("runbook: note saved to the run's journal");
            }
            say(&format!("runbook: run {run_id} already {outcome}"));
            return Ok(Prepared::Done(exit_code(outcome)));
        }
        return Ok(Prepared::Ready(Box::new(Ready { run, journal, run_id, monitors, effects })));
    }

    let Some(id) = &opts.runbook else {
        return Err(UsageError("name a runbook to run (or --resume RUN)".into()).into());
    };
    let found = start::find_runbook(&library, id);
    crate::cmd::list::print_index_stats(library.stats());
    let (loaded, runbook) = found?;
    // The author's warnings (a value handed to `eval`, say) are worth a look before it runs.
    for d in loaded.diagnostics.iter().filter(|d| !d.is_error()) {
        say(&format!("runbook: {}", d.display(&loaded.display)));
    }
    let env = start::pick_environment(&library, &runbook, opts.env.as_deref(), &vars)?;
    let inputs = start::inputs(&runbook, &given_inputs);
    let made =
        if opts.dry_run { Run::preview_only(runbook, env, &inputs) } else { Run::new(runbook, env, &inputs) };
    let mut run = made.map_err(|e| UsageError(e.to_string()))?;
    if let Some(a) = &opts.alert {
        say(&format!("runbook: answering alert {} ({})", escape_controls(&a.alertname), a.fingerprint));
    }
    run.set_alert(opts.alert.clone());
    for choice in &opts.choices {
        let Some((step, label)) = choice.split_once('=') else {
            return Err(UsageError(format!("--choice takes STEP=LABEL, got '{choice}'")).into());
        };
        let valid = run.runbook().step(step).is_some_and(|s| match &s.action {
            Action::Choice(options) => options.iter().any(|o| o.label == label),
            _ => false,
        });
        if !valid {
            return Err(UsageError(format!("--choice {choice}: {}", choice_help(&run, step))).into());
        }
    }
    if opts.dry_run {
        dry_run(&run, &mut printer.lock().unwrap_or_else(|e| e.into_inner()));
        return Ok(Prepared::Done(EXIT_OK));
    }
    let (mut journal, run_id) = Journal::create(&data_dir, &run.runbook().id)?;
    let (user, host) = journal::user_and_host();
    let started = run.started_record(&loaded.content_hash, start::source_of(&library, &loaded), &user, &host);
    journal.append(started.clone())?;
    run.record(&started);
    say(&format!(
        "runbook: {} in {}{} · run {run_id}",
        run.runbook().id,
        run.environment().name,
        if run.environment().protected { " (protected)" } else { "" }
    ));
    say(&format!("         journal: {}", journal.dir().display()));
    let effects = run.apply(Event::Begin);
    let monitors = monitors_of(&library, &run);
    Ok(Prepared::Ready(Box::new(Ready { run, journal, run_id, monitors, effects })))
}

/// The monitors of the run's environment (narrowed by the runbook's `monitors:`).
fn monitors_of(library: &Library, run: &Run) -> Vec<crate::runbook::Monitor> {
    let all = library.environments_for(&run.runbook().id).map(|e| e.monitors.clone()).unwrap_or_default();
    crate::health::monitors_for(&all, &run.environment().name, run.runbook().monitors.as_deref())
        .into_iter()
        .cloned()
        .collect()
}

fn choice_help(run: &Run, step: &str) -> String {
    match run.runbook().step(step).map(|s| &s.action) {
        Some(Action::Choice(options)) => {
            let labels: Vec<&str> = options.iter().map(|o| o.label.as_str()).collect();
            format!("step '{step}' has the options: {}", labels.join(" | "))
        }
        Some(_) => format!("step '{step}' is not a choice step"),
        None => format!("there is no step '{step}'"),
    }
}

/// Prints every step with its resolved command or check, in file order; runs nothing.
fn dry_run(run: &Run, p: &mut Printer) {
    let rb = run.runbook();
    p.line(&format!("runbook: {} in {} · dry run, nothing is executed", rb.id, run.environment().name));
    let total = rb.steps.len();
    for (i, step) in rb.steps.iter().enumerate() {
        let skip =
            if step.applies_to(&run.environment().name) { "" } else { " (skipped in this environment)" };
        p.line(&format!(
            "[{}/{total}] {} ({}){skip}",
            i + 1,
            run.preview(&step.title),
            step.action.kind_name()
        ));
        match &step.action {
            Action::Command(c) => {
                let shown = match run.prepare_command(step) {
                    Ok(cmd) => cmd.shown,
                    Err(_) => run.preview(&c.run),
                };
                for line in shown.lines() {
                    p.line(&format!("       $ {line}"));
                }
                if c.confirm {
                    p.line("       (asks for confirmation)");
                }
            }
            Action::Check(c) => {
                let shown = match run.prepare_probe(step) {
                    Ok(probe) => probe.shown,
                    Err(_) => run.preview(c.probe.target.template()),
                };
                let wait = c.wait.map(|w| {
                    format!(
                        " · wait up to {} for {} pass(es), every {}",
                        crate::runbook::duration::format(w.timeout),
                        w.passes,
                        crate::runbook::duration::format(w.interval)
                    )
                });
                p.line(&format!("       check {shown}{}", wait.unwrap_or_default()));
            }
            Action::Choice(options) => {
                for o in options {
                    p.line(&format!("       ? {} → {}", o.label, o.goto));
                }
            }
            Action::Manual => {}
        }
        if let Some(body) = &step.body {
            for line in run.preview(body).lines() {
                p.line(&format!("       │ {}", crate::text::escape_controls(line)));
            }
        }
    }
}

fn exit_code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Succeeded => EXIT_OK,
        Outcome::Failed | Outcome::Aborted | Outcome::Abandoned => EXIT_FAILED,
    }
}

/// Which signal stopped the runner, and the exit code it means.
#[derive(Debug, Clone, Copy)]
struct Stopped {
    name: &'static str,
    code: u8,
}

async fn drive(ready: Ready, opts: &Options, printer: Arc<Mutex<Printer>>) -> anyhow::Result<u8> {
    let Ready { mut run, mut journal, run_id, monitors, effects } = ready;
    // The environment's monitors run beside the steps, as in the TUI; a change of state is
    // an event of the run, journaled like any other before it is printed.
    let (htx, mut hrx) = mpsc::channel::<crate::health::Probed>(64);
    let _scheduler = (!monitors.is_empty()).then(|| {
        let refs: Vec<&crate::runbook::Monitor> = monitors.iter().collect();
        crate::health::Scheduler::start(&refs, run.environment(), Instant::now(), htx)
    });
    let mut transitions = crate::health::Transitions::default();
    let choices: HashMap<String, String> = opts
        .choices
        .iter()
        .filter_map(|c| c.split_once('='))
        .map(|(s, l)| (s.to_owned(), l.to_owned()))
        .collect();
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let outlet = LineOutlet { tx, printer: Arc::clone(&printer) };
    let mut workers = Workers::default();
    workers.run_id = run_id.clone();
    let mut queue: std::collections::VecDeque<Effect> = effects.into();
    let mut stopped: Option<Stopped> = None;
    let mut answered = Answered::default();
    let started = Instant::now();
    let say = |text: &str| printer.lock().unwrap_or_else(|e| e.into_inner()).line(text);
    let resume_hint = format!("runbook run --resume {run_id}");
    // Each listener is made once, before any step starts: a signal that comes while the loop
    // is busy waits in it. (A `ctrl_c()` made afresh in each turn of the loop missed a Ctrl-C
    // sent between two turns, and the step ran on.)
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;

    loop {
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Journal(record) => {
                    if let Err(e) = journal.append(record.clone()) {
                        // Nothing may happen that the journal does not hold: stop driving,
                        // end what runs, and say how to go on.
                        workers.kill_all();
                        tokio::task::spawn_blocking(|| {
                            crate::exec::tree::stop_all_running(crate::exec::command::KILL_GRACE)
                        })
                        .await
                        .ok();
                        say(&format!("runbook: {e:#}"));
                        say(&format!(
                            "runbook: stopped driving: nothing runs that the journal cannot record. Free the space (or fix the error) and resume with `{resume_hint}`"
                        ));
                        return Ok(EXIT_JOURNAL);
                    }
                    report(&run, &record, &say);
                }
                Effect::Spawn { step, attempt, command, delay } => {
                    let log = journal.step_log(&step, attempt);
                    workers.spawn(&outlet, step, attempt, command, delay, Some(log));
                }
                Effect::Probe { step, attempt, probe, delay } => {
                    workers.probe(&outlet, step, attempt, probe, delay)
                }
                Effect::Kill { step } => workers.kill(&step),
                Effect::NeedsHuman { step, why } => {
                    if let Some(s) = stopped {
                        say(&format!("runbook: stopped by {}; resume with `{resume_hint}`", s.name));
                        return Ok(s.code);
                    }
                    match decide(&run, &step, why, opts, &choices, &mut answered) {
                        Decision::Event(events, note) => {
                            if let Some(note) = note {
                                say(&note);
                            }
                            for event in events {
                                queue.extend(run.apply(event));
                            }
                        }
                        Decision::Stop(code, message) => {
                            say(&message);
                            say(&format!("runbook: the run is kept; resume it with `{resume_hint}`"));
                            return Ok(code);
                        }
                    }
                }
                Effect::Finished(outcome) => {
                    let secs = started.elapsed().as_secs_f64();
                    let mark = if outcome == Outcome::Succeeded { "✓" } else { "✗" };
                    say(&format!(
                        "{mark} run {outcome} in {secs:.1}s · `runbook export {run_id}` writes the timeline"
                    ));
                    return Ok(exit_code(outcome));
                }
            }
        }
        let signal = tokio::select! {
            msg = rx.recv() => {
                let Some(event) = msg else { break };
                queue.extend(run.apply(event));
                continue;
            }
            Some(probed) = hrx.recv() => {
                if let Some(event) = transitions.event(&monitors, &probed) {
                    queue.extend(run.apply(event));
                }
                continue;
            }
            _ = int.recv() => Stopped { name: "Ctrl-C (SIGINT)", code: EXIT_CANCELLED },
            _ = term.recv() => Stopped { name: "SIGTERM", code: EXIT_TERMINATED },
            _ = hup.recv() => Stopped { name: "SIGHUP", code: EXIT_HANGUP },
        };
        if stopped.is_some() {
            // A second signal: no more grace for what still runs.
            say(&format!("runbook: {}: killing the running step now", signal.name));
            crate::exec::tree::kill_all_running();
            continue;
        }
        stopped = Some(signal);
        say(&format!("runbook: {}: stopping the running step", signal.name));
        let effects = run.apply(Event::Stop(format!("stopped by {}", signal.name)));
        if effects.is_empty() {
            say(&format!("runbook: stopped by {}; resume with `{resume_hint}`", signal.name));
            return Ok(signal.code);
        }
        queue.extend(effects);
    }
    Ok(EXIT_FAILED)
}

/// Headless output goes to the printer; results go back to the loop.
#[derive(Clone)]
struct LineOutlet {
    tx: mpsc::Sender<Event>,
    printer: Arc<Mutex<Printer>>,
}

impl Outlet for LineOutlet {
    fn begin(&self, _step: &str, log: Option<&std::path::Path>) {
        self.printer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .begin_output(log.map(std::path::Path::to_path_buf));
    }

    fn output(&self, _step: &str, stream: crate::exec::command::Stream, bytes: &[u8]) {
        self.printer.lock().unwrap_or_else(|e| e.into_inner()).output(stream, bytes);
    }

    fn end(&self, _step: &str) {
        self.printer.lock().unwrap_or_else(|e| e.into_inner()).end_output();
    }

    async fn event(&self, event: Event) {
        let _ = self.tx.send(event).await;
    }
}

enum Decision {
    Event(Vec<Event>, Option<String>),
    Stop(u8, String),
}

/// One-time answers already given, so that `--retry` runs a step again once, not forever.
#[derive(Debug, Default)]
struct Answered {
    retried: std::collections::HashSet<String>,
}

/// What a headless run does where a person would act.
fn decide(
    run: &Run,
    step_id: &str,
    why: Waiting,
    opts: &Options,
    choices: &HashMap<String, String>,
    answered: &mut Answered,
) -> Decision {
    let Some(step) = run.runbook().step(step_id) else {
        return Decision::Stop(EXIT_FAILED, format!("runbook: internal: no step '{step_id}'"));
    };
    let human = |what: String| Decision::Stop(EXIT_HUMAN, format!("runbook: a human is needed: {what}"));
    let note = opts.note.clone();
    let by = || {
        let (user, host) = journal::user_and_host();
        format!("{user}@{host}")
    };
    // Answers for a step that stopped: --skip, --mark-done, --retry.
    let settle = |answered: &mut Answered, retry_ok: bool| -> Option<Decision> {
        if opts.skip.as_deref() == Some(step_id) {
            let reason = note.clone().unwrap_or_else(|| "skipped with --skip".into());
            return Some(Decision::Event(
                vec![Event::Skip(reason)],
                Some("       ↷ skipped (--skip)".into()),
            ));
        }
        if opts.mark_done.as_deref() == Some(step_id) {
            return Some(Decision::Event(
                vec![Event::MarkDone(note.clone())],
                Some("       ✓ marked done (--mark-done)".into()),
            ));
        }
        if retry_ok && answered.retried.insert(step_id.to_owned()) {
            return Some(Decision::Event(vec![Event::Retry], Some("       ↻ running it again".into())));
        }
        None
    };
    let options = format!(
        "--retry runs it again, --skip {step_id} skips it, --mark-done {step_id} marks it done (--note WHY)"
    );
    match why {
        Waiting::Failed => settle(answered, opts.retry).unwrap_or_else(|| {
            Decision::Stop(EXIT_FAILED, format!("✗ step '{step_id}' failed; the run stops here. On resume, {options}"))
        }),
        Waiting::Cancelled => settle(answered, opts.retry).unwrap_or_else(|| {
            Decision::Stop(EXIT_CANCELLED, format!("runbook: step '{step_id}' was cancelled. On resume, {options}"))
        }),
        Waiting::Interrupted => settle(answered, opts.retry || opts.yes).unwrap_or_else(|| {
            human(format!(
                "step '{step_id}' was running when the runner stopped, so its outcome is unknown and it does not run again by itself: --yes (or --retry) runs it again, --skip {step_id} skips it, --mark-done {step_id} marks it done (--note WHY)"
            ))
        }),
        Waiting::Choice => match choices.get(step_id) {
            Some(label) => Decision::Event(
                vec![
                    Event::Confirmed { how: format!("--choice {step_id}={label}"), by: by() },
                    Event::Choose(label.clone()),
                ],
                Some(format!("       → {label} (--choice)")),
            ),
            None => human(format!(
                "step '{step_id}' is a choice; pass --choice '{step_id}=LABEL' ({})",
                choice_help(run, step_id)
            )),
        },
        Waiting::Ready => match &step.action {
            Action::Manual if opts.yes => {
                Decision::Event(
                    vec![Event::Confirmed { how: "--yes".into(), by: by() }, Event::Tick],
                    Some("       ✓ ticked (--yes)".into()),
                )
            }
            Action::Manual => {
                if let Some(d) = settle(answered, false) {
                    return d;
                }
                human(format!("step '{step_id}' is a manual step; pass --yes to tick manual steps"))
            }
            Action::Command(_) => match run.needs_confirmation() {
                None => Decision::Event(vec![Event::Perform], None),
                Some(_) if !opts.yes => {
                    let protected = run.environment().protected;
                    let how = if protected {
                        format!(
                            " in protected environment '{0}'; pass --yes --confirm-env {0}",
                            run.environment().name
                        )
                    } else {
                        "; pass --yes to confirm".into()
                    };
                    human(format!("step '{step_id}' asks for confirmation{how}"))
                }
                Some(Confirmation::TypeEnvironment(env)) => match opts.confirm_env.as_deref() {
                    Some(typed) if typed == env => Decision::Event(
                        vec![Event::Confirmed { how: format!("--yes --confirm-env {env}"), by: by() }, Event::Perform],
                        Some(format!("       ✓ confirmed for protected environment '{env}' (--confirm-env)")),
                    ),
                    Some(typed) => human(format!(
                        "step '{step_id}' runs in protected environment '{env}', but --confirm-env says '{typed}'"
                    )),
                    None => human(format!(
                        "step '{step_id}' asks for confirmation in protected environment '{env}': --yes is not enough there; add --confirm-env {env}"
                    )),
                },
                Some(Confirmation::YesNo) => Decision::Event(
                    vec![Event::Confirmed { how: "--yes".into(), by: by() }, Event::Perform],
                    Some("       ✓ confirmed (--yes)".into()),
                ),
            },
            Action::Check(_) => Decision::Event(vec![Event::Perform], None),
            Action::Choice(_) => Decision::Event(vec![Event::Perform], None),
        },
    }
}

/// Prints the line a journaled record deserves.
fn report(run: &Run, record: &Record, say: &dyn Fn(&str)) {
    let total = run.runbook().steps.len();
    let title = |id: &str| {
        run.runbook()
            .step_index(id)
            .map(|i| (i + 1, run.preview(&run.runbook().steps[i].title)))
            .unwrap_or((0, id.to_owned()))
    };
    match record {
        Record::Moved { to: Some(id), .. } => {
            let (n, t) = title(id);
            let step = run.runbook().step(id);
            let kind = step.map(|s| s.action.kind_name()).unwrap_or("");
            say(&format!("[{n}/{total}] {} ({kind})", escape_controls(&t)));
            // The instructions are what a person reads before acting, headless too.
            if let Some(body) = step.and_then(|s| s.body.as_ref()) {
                for line in run.preview(body).lines() {
                    say(&format!("       │ {}", escape_controls(line)));
                }
            }
        }
        Record::StepStarted { command: Some(c), attempt, .. } => {
            let again = if *attempt > 1 { format!(" (try {attempt})") } else { String::new() };
            for (i, line) in c.lines().enumerate() {
                let line = escape_controls(line);
                say(&format!(
                    "       {} {line}{}",
                    if i == 0 { "$" } else { " " },
                    if i == 0 { again.as_str() } else { "" }
                ));
            }
        }
        Record::StepStarted { check: Some(c), .. } => say(&format!("       check {}", escape_controls(c))),
        Record::AttemptFailed { reason, attempt, .. } => {
            say(&format!("       ✗ try {attempt}: {reason}; trying again"))
        }
        Record::CheckAttempt { passed, latency_ms, reason, attempt, observed, .. } => {
            let mark = if *passed { "✓" } else { "·" };
            let text = match observed {
                Some(o) if *passed => escape_controls(o).into_owned(),
                Some(o) => format!("{} ({})", escape_controls(reason), escape_controls(o)),
                None => reason.clone(),
            };
            say(&format!("       {mark} probe {attempt}: {text} ({latency_ms} ms)"));
        }
        Record::StepPassed { exit, duration_ms, .. } => match exit {
            Some(code) => say(&format!("       ✓ exit {code} in {}", ms(*duration_ms))),
            None if *duration_ms > 0 => say(&format!("       ✓ passed in {}", ms(*duration_ms))),
            None => {}
        },
        Record::StepFailed { reason, tolerated, .. } => {
            let then = if *tolerated { " (on_failure: continue)" } else { "" };
            say(&format!("       ✗ {}{then}", escape_controls(reason)));
        }
        Record::StepSkipped { step, reason } => {
            let (n, t) = title(step);
            say(&format!("[{n}/{total}] {}: skipped, {}", escape_controls(&t), escape_controls(reason)));
        }
        Record::StepCancelled { reason, .. } => say(&format!("       ✗ {reason}")),
        Record::StepInterrupted { step } => say(&format!(
            "       ? step '{step}' was running when the runner stopped: its outcome is unknown"
        )),
        Record::StepMarkedDone { note, .. } => match note {
            Some(n) => say(&format!("       ✓ marked done: {}", escape_controls(n))),
            None => say("       ✓ marked done"),
        },
        Record::Captured { name, value, .. } => say(&format!("       ↳ {name} = {}", escape_controls(value))),
        Record::Note { text, .. } => say(&format!("       ✎ {}", escape_controls(text))),
        Record::HealthChanged { title, state, detail, .. } => {
            let mark = match state.as_str() {
                "up" => "✓",
                "down" => "✗",
                _ => "~",
            };
            say(&format!(
                "       {mark} monitor {}: {state} ({})",
                escape_controls(title),
                escape_controls(detail)
            ));
        }
        _ => {}
    }
}

fn ms(ms: u64) -> String {
    if ms < 1000 { format!("{ms} ms") } else { format!("{:.1} s", ms as f64 / 1000.0) }
}
