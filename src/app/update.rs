//! `update(&mut Model, Msg) -> Vec<Cmd>`: every input the TUI receives, handled without IO.
//! What needs IO (journaling, spawning, loading a runbook) is returned as a [`Cmd`].

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::keymap::{Action, Mode};
use super::model::{Dialog, Entry, Model, MonitorView, Output, RunScreen, Screen};
use super::scroll::{Pane, on_mouse, page, paged_pane, scroll};
use crate::exec::command::Stream;
use crate::health::Probed;
use crate::run::{Confirmation, Effect, Event, Run, Status, Waiting};
use crate::runbook::Action as StepAction;

/// Everything the model can receive.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(crossterm::event::MouseEvent),
    /// The terminal's new size (columns, rows).
    Resize(u16, u16),
    /// Time passed (ms since start): durations and "time in state" move on.
    Tick(u64),
    /// A worker finished something for the run (CommandDone, ProbeDone).
    Run(Event),
    /// Output of a running command.
    Output {
        step: String,
        stream: Stream,
        bytes: Vec<u8>,
    },
    /// A command's output ended.
    OutputDone {
        step: String,
    },
    Probed(Probed),
    /// The driver opened a run (journal created, `RunStarted` recorded), or resumed one
    /// (`resumed` holds what to do first).
    Started {
        run: Box<Run>,
        run_id: String,
        monitors: Vec<(String, String)>,
        resumed: Option<Vec<Effect>>,
    },
    /// The driver opened someone else's run for watching (`runbook attach`), read-only.
    Watching {
        run: Box<Run>,
        run_id: String,
        monitors: Vec<(String, String)>,
        driver: Option<String>,
    },
    /// New journal entries of the watched run.
    Watched(Vec<crate::run::Entry>),
    /// The watched run's driver changed (handed over, gone, or someone took it up).
    WatchedDriver(Option<String>),
    /// The driver could not open a run.
    Failed(String),
    /// A resumed run's step still runs from the runner that stopped: a person decides.
    StillRunning {
        run_id: String,
        step: String,
        pids: Vec<i32>,
    },
    /// The old step's processes are gone (after "wait").
    StillRunningEnded,
    /// The setup form for a runbook.
    Setup(Box<crate::app::setup::Setup>),
    /// The timeline rows, read from the journal.
    Timeline(Vec<[String; 4]>),
    /// The run's timeline was written to this file.
    Exported(std::path::PathBuf),
    /// The parity table, probed.
    Parity(super::model::Parity),
    /// The unfinished runs for the picker, or why they could not be listed (the run store).
    Runs(Result<Vec<crate::journal::RunInfo>, String>),
    /// A runbook loaded for the picker's preview.
    Preview(String, std::sync::Arc<crate::runbook::Runbook>),
    /// The runbook loaded for the preview is broken: its first error (`path:line:col: …`).
    PreviewBroken {
        id: String,
        error: String,
    },
    /// Suggestions for an input, from its `choices_from`.
    Choices {
        field: String,
        values: Vec<String>,
    },
    /// The terminal is going away (SIGTERM, SIGHUP): quit, keeping the run resumable.
    Terminate,
    /// A read of an environment's firing alerts (each with the runbook that answers it);
    /// `configured: false` when the environment has no `alertmanager:`.
    Alerts {
        env: String,
        configured: bool,
        result: Result<Vec<crate::alerts::Alert>, String>,
        at: jiff::Timestamp,
    },
}

/// IO for the driver.
#[derive(Debug, PartialEq)]
pub enum Cmd {
    /// Carry out the run's effects, in order (journal first).
    Effects(Vec<Effect>),
    /// Load this runbook and show the setup form (or start at once when there is nothing
    /// to choose).
    Open(String),
    /// Start a run of this runbook in this environment with these inputs.
    Start { id: String, env: String, inputs: std::collections::BTreeMap<String, String> },
    /// Read the journal and show the timeline.
    Timeline,
    /// Write the run's timeline as Markdown to the data directory's exports folder.
    Export,
    /// Probe every monitor in every environment.
    Parity,
    /// Run an input's `choices_from` command (with a timeout) for suggestions.
    LoadChoices { field: String, command: String },
    /// Pick up this unfinished run from its journal.
    Resume(String),
    /// Settle the step a dead runner left running (stop it, or leave it), then open the run.
    Settle(crate::start::StillRunningChoice),
    /// Wait until the old step's processes are gone (answered with `StillRunningEnded`).
    WaitStillRunning,
    /// Give up the pending resume (its lease is released).
    DropPending,
    /// Resume with the secret inputs typed again in the form.
    ResumeWith { run_id: String, inputs: std::collections::BTreeMap<String, String> },
    /// Kill whatever runs and leave; the run stays resumable.
    Quit,
    /// Put text on the terminal's clipboard (OSC 52).
    Copy(String),
    /// Watch this run read-only (`runbook attach`).
    Attach(String),
    /// Hand the run over: journal who let go, release the lease, and leave.
    Handoff,
    /// Load a runbook for the picker's preview.
    Preview(String),
    /// Read the firing alerts again now.
    FetchAlerts,
    /// Open the runbook that answers this alert, its setup form filled from the alert.
    OpenAlert(Box<crate::alerts::Alert>),
}

pub fn update(model: &mut Model, msg: Msg) -> Vec<Cmd> {
    match msg {
        Msg::Tick(now) => {
            model.now_ms = now;
            vec![]
        }
        Msg::Key(key) if key.kind == KeyEventKind::Release => vec![],
        Msg::Key(key) => on_key(model, key),
        Msg::Resize(w, h) => {
            model.size = (w, h);
            vec![]
        }
        Msg::Mouse(m) => on_mouse(model, m),
        Msg::Run(event) => apply(model, event),
        Msg::Output { step, stream, bytes } => {
            if let Some(rs) = model.run.as_mut() {
                rs.outputs.entry(step).or_default().push(stream, &bytes);
            }
            vec![]
        }
        Msg::OutputDone { step } => {
            if let Some(rs) = model.run.as_mut() {
                rs.outputs.entry(step).or_default().finish();
            }
            vec![]
        }
        Msg::Probed(p) => {
            let mut cmds = vec![];
            if p.env == model.health.env
                && let Some(m) = model.health.monitors.get_mut(p.index)
            {
                // A change of state goes into the run's journal (for the timeline) while the
                // run goes.
                if m.state != p.state && p.state != crate::health::State::Unknown {
                    let event = Event::HealthChanged {
                        monitor: m.id.clone(),
                        title: m.title.clone(),
                        state: p.state.to_string(),
                        detail: match p.state {
                            crate::health::State::Up => {
                                format!("{} in {} ms", p.sample.reason, p.sample.latency_ms)
                            }
                            _ => p.sample.reason.clone(),
                        },
                    };
                    cmds.push(event);
                }
                m.state = p.state;
                m.since_ms = p.since_ms;
                m.last_error = p.last_error;
                if m.latencies.len() == 30 {
                    m.latencies.pop_front();
                }
                m.latencies.push_back(if p.sample.passed || p.sample.slow {
                    p.sample.latency_ms.max(1)
                } else {
                    0
                });
                m.last = Some(p.sample);
            }
            let mut out = vec![];
            for event in cmds {
                if model.run.as_ref().is_some_and(|rs| rs.run.outcome().is_none()) {
                    out.extend(apply(model, event));
                }
            }
            out
        }
        Msg::Started { run, run_id, monitors, resumed } => {
            model.health.env = run.environment().name.clone();
            model.health.monitors = monitors
                .into_iter()
                .map(|(id, title)| MonitorView { id, title, ..MonitorView::default() })
                .collect();
            model.run = Some(RunScreen {
                run: *run,
                run_id,
                selected: 0,
                outputs: Default::default(),
                scroll: 0,
                detail_scroll: 0,
                checks_started: Default::default(),
                search: None,
                watching: None,
            });
            model.screen = Screen::Run;
            model.status = None;
            match resumed {
                Some(effects) => {
                    let cmds = after(model, effects);
                    model.status.get_or_insert_with(|| "resumed: the run goes on where it stopped".into());
                    cmds
                }
                None => apply(model, Event::Begin),
            }
        }
        Msg::Watching { run, run_id, monitors, driver } => {
            model.health.env = run.environment().name.clone();
            model.health.monitors = monitors
                .into_iter()
                .map(|(id, title)| MonitorView { id, title, ..MonitorView::default() })
                .collect();
            let selected = run.cursor().unwrap_or(0);
            model.run = Some(RunScreen {
                run: *run,
                run_id,
                selected,
                outputs: Default::default(),
                scroll: 0,
                detail_scroll: 0,
                checks_started: Default::default(),
                search: None,
                watching: Some(super::model::Watching { driver }),
            });
            model.screen = Screen::Run;
            model.status = Some(watching_status(model));
            vec![]
        }
        Msg::Watched(entries) => {
            let Some(rs) = model.run.as_mut() else { return vec![] };
            let follow = rs.run.cursor().is_none_or(|c| c == rs.selected);
            for e in &entries {
                if let crate::run::Record::StepStarted { step, .. } = &e.record {
                    rs.outputs.insert(step.clone(), Output::default());
                }
                rs.run.record(&e.record);
            }
            // The selection follows the driver's work, unless the watcher looks elsewhere.
            if follow && let Some(c) = rs.run.cursor() {
                rs.select(c);
            }
            if let Some(outcome) = rs.run.outcome() {
                model.status = Some(format!(
                    "the run {outcome} · `runbook export {}` writes the timeline · q quits",
                    rs.run_id
                ));
            }
            vec![]
        }
        Msg::WatchedDriver(driver) => {
            if let Some(w) = model.run.as_mut().and_then(|rs| rs.watching.as_mut()) {
                w.driver = driver;
            }
            if model.run.as_ref().is_some_and(|rs| rs.run.outcome().is_none()) {
                model.status = Some(watching_status(model));
            }
            vec![]
        }
        Msg::Failed(why) => {
            model.status = Some(why);
            vec![]
        }
        Msg::Exported(path) => {
            model.status = Some(format!("timeline written to {}", path.display()));
            vec![]
        }
        Msg::StillRunning { run_id, step, pids } => {
            model.dialog = Some(Dialog::StillRunning { run_id, step, pids, waiting: false });
            vec![]
        }
        Msg::StillRunningEnded => match model.dialog.take() {
            // Gone by themselves: nothing to stop; the step's outcome is still unknown.
            Some(Dialog::StillRunning { .. }) => vec![Cmd::Settle(crate::start::StillRunningChoice::Leave)],
            other => {
                model.dialog = other;
                vec![]
            }
        },
        Msg::Parity(table) => {
            if matches!(model.dialog, Some(Dialog::Parity(None))) {
                model.dialog = Some(Dialog::Parity(Some(table)));
            }
            vec![]
        }
        Msg::Preview(id, runbook) => {
            model.picker.preview = Some((id, runbook));
            vec![]
        }
        Msg::Runs(Ok(runs)) => {
            model.picker.set_runs(runs);
            vec![]
        }
        Msg::Runs(Err(why)) => {
            // Said, never swallowed: an empty list would read as "nothing to resume".
            if model.screen == Screen::Picker {
                model.status = Some(format!("runs not listed: {why}"));
            }
            vec![]
        }
        Msg::PreviewBroken { id, error } => {
            // The list starts from the index, which knows only the broken runbooks it has
            // seen validated: this one is marked from now on.
            if let Some(item) = model.picker.items.iter_mut().find(|s| s.id == id) {
                item.error = Some(error);
            }
            if model.picker.preview.as_ref().is_some_and(|(p, _)| *p == id) {
                model.picker.preview = None;
            }
            vec![]
        }
        Msg::Timeline(rows) => {
            model.dialog = Some(Dialog::Timeline { rows, back: 0 });
            vec![]
        }
        Msg::Setup(setup) => {
            model.dialog = Some(Dialog::Setup(setup));
            setup_focus_changed(model)
        }
        Msg::Choices { field, values } => {
            if let Some(Dialog::Setup(s)) = model.dialog.as_mut()
                && let Some(f) = s.fields.iter_mut().find(|f| f.name == field)
            {
                if f.value.is_empty()
                    && let Some(first) = values.first()
                {
                    f.value = first.clone();
                }
                f.choices = values;
                s.validate();
            }
            vec![]
        }
        Msg::Terminate => {
            model.quit = true;
            vec![Cmd::Quit]
        }
        Msg::Alerts { env, configured, result, at } => {
            let a = &mut model.alerts;
            if a.env != env {
                *a = super::model::Alerts { env, ..Default::default() };
            }
            a.configured = configured;
            match result {
                Ok(list) => {
                    a.list = list;
                    a.error = None;
                    a.read_at = Some((at, model.now_ms));
                }
                Err(why) => a.error = Some(why),
            }
            model.picker.firing = a.list.iter().filter_map(|x| x.runbook.clone()).collect();
            if let Some(Dialog::Alerts { selected }) = model.dialog.as_mut() {
                *selected = (*selected).min(a.list.len().saturating_sub(1));
            }
            vec![]
        }
    }
}

/// The status line of a watcher: whose run, and how to take it over.
fn watching_status(model: &Model) -> String {
    let Some(rs) = &model.run else { return String::new() };
    let short = crate::ui::short_run_id(&rs.run_id);
    match rs.watching.as_ref().and_then(|w| w.driver.as_ref()) {
        Some(driver) => format!("watching, read-only: driven by {driver} · q quits"),
        None => format!(
            "watching, read-only: nobody drives it now · `runbook run --resume {short}` takes it over"
        ),
    }
}

/// `a` (run view) or ctrl-a (picker): the alert list, read again now.
fn open_alerts(model: &mut Model) -> Vec<Cmd> {
    if !model.alerts.configured {
        let env = if model.alerts.env.is_empty() {
            "this environment".to_owned()
        } else {
            format!("'{}'", model.alerts.env)
        };
        model.status = Some(format!(
            "{env} has no `alertmanager:` in environments.yaml: add its URL to see firing alerts"
        ));
        return vec![];
    }
    model.dialog = Some(Dialog::Alerts { selected: 0 });
    vec![Cmd::FetchAlerts]
}

/// Keys in the alert list: move, enter opens the selected alert's runbook.
fn on_alerts_key(model: &mut Model, key: KeyEvent) -> Vec<Cmd> {
    let Some(Dialog::Alerts { selected }) = model.dialog.as_mut() else { return vec![] };
    let len = model.alerts.list.len();
    match key.code {
        KeyCode::Up | KeyCode::Char('k') => *selected = selected.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => *selected = (*selected + 1).min(len.saturating_sub(1)),
        KeyCode::Char('r') => return vec![Cmd::FetchAlerts],
        KeyCode::Enter => {
            let Some(alert) = model.alerts.list.get(*selected).cloned() else { return vec![] };
            if alert.runbook.is_none() {
                model.status = Some(format!(
                    "no runbook answers {}: list it in a runbook's `alerts:`, or set the rule's runbook_url to end in a runbook id",
                    crate::text::escape_controls(&alert.alertname)
                ));
                return vec![];
            }
            let busy = model.run.as_ref().is_some_and(|rs| rs.run.outcome().is_none());
            if busy {
                model.status =
                    Some("a run is open: finish it or quit (it stays resumable), then open the alert from the picker".into());
                return vec![];
            }
            model.dialog = None;
            return vec![Cmd::OpenAlert(Box::new(alert))];
        }
        _ => model.dialog = None,
    }
    vec![]
}

/// Applies a run event and keeps the view in step with the run.
/// user@host of this process, for the journal's record of who confirmed, ticked or picked.
fn by() -> String {
    static BY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BY.get_or_init(|| {
        let (user, host) = crate::journal::user_and_host();
        format!("{user}@{host}")
    })
    .clone()
}

fn apply(model: &mut Model, event: Event) -> Vec<Cmd> {
    let Some(rs) = model.run.as_mut() else { return vec![] };
    let effects = rs.run.apply(event);
    after(model, effects)
}

/// Follows the run's effects in the view (selection, status) and hands them to the driver.
fn after(model: &mut Model, effects: Vec<Effect>) -> Vec<Cmd> {
    let Some(rs) = model.run.as_mut() else { return vec![] };
    if effects.is_empty() {
        return vec![];
    }
    for e in &effects {
        match e {
            Effect::NeedsHuman { step, why } => {
                // The selection follows the work: what the user is asked about is what the
                // detail pane shows (a confirmation never sits under another step's command).
                if let Some(i) = rs.run.runbook().step_index(step) {
                    rs.select(i);
                }
                model.status = Some(match why {
                    Waiting::Ready => String::new(),
                    Waiting::Choice => "pick an option: 1-9".into(),
                    Waiting::Failed => "the step failed: r retry · s skip with a reason".into(),
                    Waiting::Cancelled => "cancelled: r retry · s skip with a reason".into(),
                    Waiting::Interrupted => {
                        "interrupted, outcome unknown: r runs it again · space marks it done · s skips it"
                            .into()
                    }
                })
                .filter(|s| !s.is_empty());
            }
            Effect::Spawn { step, attempt, .. } => {
                rs.outputs.insert(step.clone(), Output::default());
                // A step starting on its own (after the previous one) is shown; a retry of
                // the same step does not pull the user away from where they are reading.
                if *attempt == 1
                    && let Some(i) = rs.run.runbook().step_index(step)
                {
                    rs.select(i);
                }
            }
            Effect::Probe { step, attempt: 1, delay, .. } => {
                rs.checks_started.insert(step.clone(), model.now_ms + delay.as_millis() as u64);
                if let Some(i) = rs.run.runbook().step_index(step) {
                    rs.select(i);
                }
            }
            Effect::Finished(outcome) => {
                // The id is what the user copies from here: it comes before anything that may
                // be cut, in its short form when the full one would not fit.
                let say =
                    |id: &str| format!("run {outcome} · `runbook export {id}` writes the timeline · q quits");
                let full = say(&rs.run_id);
                let room = (model.size.0 as usize).saturating_sub(10);
                model.status = Some(if full.chars().count() <= room {
                    full
                } else {
                    say(crate::ui::short_run_id(&rs.run_id))
                });
            }
            _ => {}
        }
    }
    vec![Cmd::Effects(effects)]
}

fn on_key(model: &mut Model, key: KeyEvent) -> Vec<Cmd> {
    if model.dialog.is_some() {
        return on_dialog_key(model, key);
    }
    match model.screen {
        Screen::Picker => on_picker_key(model, key),
        Screen::Run => on_run_key(model, key),
    }
}

fn on_picker_key(model: &mut Model, key: KeyEvent) -> Vec<Cmd> {
    let mut cmds = on_picker_key_inner(model, key);
    // The preview follows the selection: load the newly selected runbook.
    let selected = model.picker.current().and_then(entry_id);
    let loaded = model.picker.preview.as_ref().map(|(id, _)| id);
    if let Some(id) = selected.filter(|s| Some(s) != loaded && !model.quit) {
        cmds.push(Cmd::Preview(id));
    }
    cmds
}

fn entry_id(entry: Entry<'_>) -> Option<String> {
    match entry {
        Entry::Runbook(s) if !s.is_broken() => Some(s.id.clone()),
        _ => None,
    }
}

fn on_picker_key_inner(model: &mut Model, key: KeyEvent) -> Vec<Cmd> {
    if key.code == KeyCode::Tab {
        model.picker.cycle_kind();
        return vec![];
    }
    let p = &mut model.picker;
    match model.keymap.action(Mode::Picker, key) {
        Some(Action::Quit) => {
            model.quit = true;
            vec![Cmd::Quit]
        }
        Some(Action::Up) => {
            p.selected = p.selected.saturating_sub(1);
            vec![]
        }
        Some(Action::Down) => {
            p.selected = (p.selected + 1).min(p.len().saturating_sub(1));
            vec![]
        }
        Some(Action::PageUp) => {
            p.selected = p.selected.saturating_sub(10);
            vec![]
        }
        Some(Action::PageDown) => {
            p.selected = (p.selected + 10).min(p.len().saturating_sub(1));
            vec![]
        }
        Some(Action::Enter) => match p.current() {
            Some(Entry::Run(r)) => vec![Cmd::Resume(r.id.clone())],
            Some(Entry::Runbook(s)) if s.is_broken() => {
                model.status = Some(format!("{} is broken: {}", s.id, s.error.clone().unwrap_or_default()));
                vec![]
            }
            Some(Entry::Runbook(s)) => vec![Cmd::Open(s.id.clone())],
            None => vec![],
        },
        Some(Action::Alerts) => open_alerts(model),
        Some(Action::Back) if !p.query.is_empty() => {
            p.query.clear();
            p.refilter();
            vec![]
        }
        Some(Action::Back) => {
            model.quit = true;
            vec![Cmd::Quit]
        }
        _ => {
            if !edit(&mut p.query, key) {
                return vec![];
            }
            p.selected = 0;
            p.refilter();
            vec![]
        }
    }
}

fn on_run_key(model: &mut Model, key: KeyEvent) -> Vec<Cmd> {
    let action = model.keymap.action(Mode::Run, key);
    match action {
        Some(Action::PageUp | Action::PageDown) => {
            let pane = paged_pane(model);
            let rows = page(model, pane);
            scroll(model, pane, if action == Some(Action::PageUp) { -rows } else { rows });
            return vec![];
        }
        Some(Action::DetailUp | Action::DetailDown) => {
            scroll(model, Pane::Detail, if action == Some(Action::DetailUp) { -3 } else { 3 });
            return vec![];
        }
        _ => {}
    }
    let Some(rs) = model.run.as_mut() else { return vec![] };
    if rs.watching.is_some() {
        match action {
            // What only reads is allowed; what drives is not this watcher's to do.
            Some(
                Action::Up
                | Action::Down
                | Action::CopyRunId
                | Action::ToggleFollow
                | Action::ToggleHealth
                | Action::Help
                | Action::Timeline
                | Action::Search
                | Action::Copy
                | Action::Parity
                | Action::Back,
            )
            | None => {}
            Some(Action::Quit) => {
                model.quit = true;
                return vec![Cmd::Quit];
            }
            Some(_) => {
                model.status = Some(format!(
                    "read-only: you are watching this run. Once its driver hands over (H) or quits, `runbook run --resume {}` takes it over",
                    crate::ui::short_run_id(&rs.run_id)
                ));
                return vec![];
            }
        }
    }
    let running = rs.running().is_some();
    match action {
        Some(Action::Up) => {
            rs.select(rs.selected.saturating_sub(1));
            vec![]
        }
        Some(Action::Down) => {
            rs.select((rs.selected + 1).min(rs.run.runbook().steps.len() - 1));
            vec![]
        }
        Some(Action::CopyRunId) => {
            model.status = Some(format!("copied the run id {}", rs.run_id));
            vec![Cmd::Copy(rs.run_id.clone())]
        }
        Some(Action::ToggleFollow) => {
            rs.scroll = 0;
            vec![]
        }
        Some(Action::ToggleHealth) => {
            model.health.visible = !model.health.visible;
            vec![]
        }
        Some(Action::Help) => {
            model.dialog = Some(Dialog::Help);
            vec![]
        }
        Some(Action::Timeline) => vec![Cmd::Timeline],
        Some(Action::Export) => vec![Cmd::Export],
        Some(Action::Search) => {
            model.dialog = Some(Dialog::Search { query: rs.search.clone().unwrap_or_default() });
            vec![]
        }
        Some(Action::Copy) => {
            let step = &rs.run.runbook().steps[rs.selected];
            let state = &rs.run.steps()[rs.selected];
            let text = match &step.action {
                StepAction::Command(c) => Some(state.shown.clone().unwrap_or_else(|| rs.run.preview(&c.run))),
                StepAction::Check(c) => {
                    Some(state.shown.clone().unwrap_or_else(|| rs.run.preview(c.probe.target.template())))
                }
                _ => None,
            };
            // A step without a command: the code blocks of its instructions, to paste.
            let code = || {
                let body = step.body.as_ref().map(|b| rs.run.preview(b)).unwrap_or_default();
                let blocks = crate::markdown::code_blocks(&body);
                (!blocks.is_empty()).then(|| (blocks.len(), blocks.join("\n")))
            };
            match (text, code()) {
                (Some(text), _) => {
                    model.status = Some("copied the command to the clipboard (secrets stay masked)".into());
                    vec![Cmd::Copy(text)]
                }
                (None, Some((n, code))) => {
                    model.status =
                        Some(format!("copied the {n} code block(s) of the instructions to the clipboard"));
                    vec![Cmd::Copy(code)]
                }
                (None, None) => {
                    model.status = Some("nothing to copy: this step has no command or code block".into());
                    vec![]
                }
            }
        }
        Some(Action::Parity) => {
            model.dialog = Some(Dialog::Parity(None));
            vec![Cmd::Parity]
        }
        Some(Action::Alerts) => open_alerts(model),
        Some(Action::Enter) => match rs.run.current().map(|s| &s.action) {
            // What Enter acts on is shown: the current step, with its command under any
            // confirmation.
            Some(_) if rs.run.cursor().is_some_and(|c| c != rs.selected) && !running => {
                if let Some(c) = rs.run.cursor() {
                    rs.select(c);
                }
                on_run_key(model, key)
            }
            Some(StepAction::Choice(_)) => {
                model.status = Some("pick an option: 1-9".into());
                vec![]
            }
            Some(_) => match rs.run.needs_confirmation() {
                Some(kind) if !running => {
                    model.dialog = Some(Dialog::Confirm { kind, typed: String::new(), retry: false });
                    vec![]
                }
                _ => apply(model, Event::Perform),
            },
            None => vec![],
        },
        // On a step that stopped (interrupted: its outcome unknown; failed; cancelled), the tick
        // marks it done without running it, with a reason.
        Some(Action::Tick)
            if rs.run.cursor().is_some_and(|i| {
                matches!(
                    rs.run.steps()[i].status,
                    Status::Interrupted | Status::Failed { .. } | Status::Cancelled(_)
                )
            }) =>
        {
            model.dialog = Some(Dialog::MarkDone { note: String::new() });
            vec![]
        }
        Some(Action::Tick) => {
            let manual = matches!(rs.run.current().map(|s| &s.action), Some(StepAction::Manual));
            let mut cmds = vec![];
            if manual && !running {
                cmds = apply(model, Event::Confirmed { how: "in the terminal UI".into(), by: by() });
            }
            cmds.extend(apply(model, Event::Tick));
            cmds
        }
        Some(Action::Retry) => match rs.run.needs_confirmation() {
            Some(kind) => {
                if let Some(c) = rs.run.cursor() {
                    rs.select(c);
                }
                model.dialog = Some(Dialog::Confirm { kind, typed: String::new(), retry: true });
                vec![]
            }
            None => apply(model, Event::Retry),
        },
        Some(Action::Cancel) => apply(model, Event::Cancel),
        Some(Action::Skip) if !running && rs.run.current().is_some() => {
            model.dialog = Some(Dialog::Skip { reason: String::new() });
            vec![]
        }
        Some(Action::Note) => {
            model.dialog = Some(Dialog::Note { text: String::new() });
            vec![]
        }
        Some(Action::Choose(n)) => {
            let label = match rs.run.current().map(|s| &s.action) {
                Some(StepAction::Choice(options)) => options.get(n as usize - 1).map(|o| o.label.clone()),
                _ => None,
            };
            match label {
                Some(label) => {
                    let mut cmds = apply(
                        model,
                        Event::Confirmed { how: format!("picked option {n} in the terminal UI"), by: by() },
                    );
                    cmds.extend(apply(model, Event::Choose(label)));
                    cmds
                }
                None => vec![],
            }
        }
        Some(Action::Quit) if running => {
            model.dialog = Some(Dialog::Quit);
            vec![]
        }
        Some(Action::Handoff) if running => {
            model.status =
                Some("a step is running: let it end (or cancel it with c) before handing over".into());
            vec![]
        }
        Some(Action::Handoff) => {
            model.quit = true;
            vec![Cmd::Handoff, Cmd::Quit]
        }
        Some(Action::Quit) => {
            model.quit = true;
            vec![Cmd::Quit]
        }
        _ => vec![],
    }
}

/// Typing into a one-line text field, as in a shell: characters append, backspace deletes,
/// ctrl-u clears to the start, ctrl-w deletes the word before the cursor. Other control keys
/// are not text. Returns whether the key edited the text.
fn edit(text: &mut String, key: KeyEvent) -> bool {
    let ctrl = key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match key.code {
        KeyCode::Char('u') if ctrl => text.clear(),
        KeyCode::Char('w') if ctrl => {
            let kept = text.trim_end().trim_end_matches(|c: char| !c.is_whitespace()).len();
            text.truncate(kept);
        }
        KeyCode::Char(_) if ctrl => return false,
        KeyCode::Char(c) => text.push(c),
        KeyCode::Backspace => {
            text.pop();
        }
        _ => return false,
    }
    true
}

fn on_dialog_key(model: &mut Model, key: KeyEvent) -> Vec<Cmd> {
    let Some(dialog) = model.dialog.as_mut() else { return vec![] };
    if let Dialog::StillRunning { waiting, .. } = dialog {
        use crate::start::StillRunningChoice::{Leave, Stop};
        let cmds = match key.code {
            KeyCode::Char('w') => {
                *waiting = true;
                return vec![Cmd::WaitStillRunning];
            }
            KeyCode::Char('s') => vec![Cmd::Settle(Stop)],
            KeyCode::Char('l') => vec![Cmd::Settle(Leave)],
            KeyCode::Esc => vec![Cmd::DropPending],
            _ => return vec![],
        };
        model.dialog = None;
        return cmds;
    }
    if key.code == KeyCode::Esc {
        model.dialog = None;
        return vec![];
    }
    match dialog {
        Dialog::Alerts { .. } => on_alerts_key(model, key),
        // Handled above.
        Dialog::StillRunning { .. } => vec![],
        Dialog::Setup(setup) => match on_setup_key(setup, key, &mut model.status) {
            None => {
                let Some(Dialog::Setup(setup)) = model.dialog.take() else { return vec![] };
                if let Some(run_id) = setup.resume.clone() {
                    return vec![Cmd::ResumeWith { run_id, inputs: setup.values() }];
                }
                let (id, env, inputs) =
                    (setup.runbook.id.clone(), setup.env_name().to_owned(), setup.values());
                vec![Cmd::Start { id, env, inputs }]
            }
            Some(true) => setup_focus_changed(model),
            Some(false) => vec![],
        },
        Dialog::Timeline { rows, back } => {
            // The overlay shows the screen's height less 6 rows (margins and borders).
            let visible = (model.size.1 as usize).saturating_sub(6);
            let page = visible.saturating_sub(1).max(1);
            let max = rows.len().saturating_sub(visible);
            let moved = match key.code {
                KeyCode::Up | KeyCode::Char('k') => Some(back.saturating_add(1)),
                KeyCode::Down | KeyCode::Char('j') => Some(back.saturating_sub(1)),
                KeyCode::PageUp => Some(back.saturating_add(page)),
                KeyCode::PageDown => Some(back.saturating_sub(page)),
                KeyCode::Home => Some(max),
                KeyCode::End => Some(0),
                _ => None,
            };
            match moved {
                Some(b) => *back = b.min(max),
                None => model.dialog = None,
            }
            vec![]
        }
        Dialog::Help | Dialog::Parity(_) => {
            model.dialog = None;
            vec![]
        }
        Dialog::Quit => match key.code {
            KeyCode::Char('y') | KeyCode::Char('q') => {
                model.quit = true;
                model.dialog = None;
                vec![Cmd::Quit]
            }
            _ => {
                model.dialog = None;
                vec![]
            }
        },
        Dialog::Confirm { kind: Confirmation::YesNo, retry, .. } => {
            let retry = *retry;
            match key.code {
                KeyCode::Char('y') => {
                    model.dialog = None;
                    let mut cmds = apply(
                        model,
                        Event::Confirmed { how: "answered y in the terminal UI".into(), by: by() },
                    );
                    cmds.extend(apply(model, if retry { Event::Retry } else { Event::Perform }));
                    cmds
                }
                _ => {
                    model.dialog = None;
                    model.status = Some("not run".into());
                    vec![]
                }
            }
        }
        Dialog::Confirm { kind: Confirmation::TypeEnvironment(env), typed, retry } => {
            let retry = *retry;
            match key.code {
                KeyCode::Enter => {
                    if typed == env {
                        let how = format!("typed the environment's name '{env}' in the terminal UI");
                        model.dialog = None;
                        let mut cmds = apply(model, Event::Confirmed { how, by: by() });
                        cmds.extend(apply(model, if retry { Event::Retry } else { Event::Perform }));
                        cmds
                    } else {
                        model.status = Some(format!("type '{env}' exactly to confirm, or Esc"));
                        vec![]
                    }
                }
                _ => {
                    edit(&mut *typed, key);
                    vec![]
                }
            }
        }
        Dialog::Search { query } => match key.code {
            KeyCode::Enter => {
                let query = query.clone();
                model.dialog = None;
                search(model, query);
                vec![]
            }
            _ => {
                edit(&mut *query, key);
                vec![]
            }
        },
        Dialog::Skip { reason: text } | Dialog::Note { text } | Dialog::MarkDone { note: text } => {
            match key.code {
                KeyCode::Enter if text.trim().is_empty() => {
                    model.status = Some("type something first, or Esc".into());
                    vec![]
                }
                KeyCode::Enter => {
                    let text = text.trim().to_owned();
                    let event = match model.dialog {
                        Some(Dialog::Skip { .. }) => Event::Skip(text),
                        Some(Dialog::MarkDone { .. }) => Event::MarkDone(Some(text)),
                        _ => Event::Note(text),
                    };
                    model.dialog = None;
                    apply(model, event)
                }
                _ => {
                    edit(&mut *text, key);
                    vec![]
                }
            }
        }
    }
}

/// Keys in the setup form. `None` means submit; `Some(moved)` says whether focus moved.
fn on_setup_key(
    setup: &mut crate::app::setup::Setup,
    key: KeyEvent,
    status: &mut Option<String>,
) -> Option<bool> {
    let rows = setup.fields.len() + 1;
    match key.code {
        KeyCode::Enter if setup.focus + 1 < rows => {
            setup.focus += 1;
            Some(true)
        }
        KeyCode::Enter if setup.is_valid() => None,
        KeyCode::Enter => {
            *status = Some("fix the inputs marked ✗ first".into());
            Some(false)
        }
        KeyCode::Tab | KeyCode::Down => {
            setup.focus = (setup.focus + 1) % rows;
            Some(true)
        }
        KeyCode::BackTab | KeyCode::Up => {
            setup.focus = (setup.focus + rows - 1) % rows;
            Some(true)
        }
        KeyCode::Left => {
            setup.cycle(false);
            Some(false)
        }
        KeyCode::Right => {
            setup.cycle(true);
            Some(false)
        }
        KeyCode::Backspace | KeyCode::Char(_) => {
            if let Some(f) = setup.field_mut() {
                edit(&mut f.value, key);
            }
            setup.validate();
            Some(false)
        }
        _ => Some(false),
    }
}

/// When a field with `choices_from` gets focus for the first time, its command runs.
fn setup_focus_changed(model: &mut Model) -> Vec<Cmd> {
    let Some(Dialog::Setup(setup)) = model.dialog.as_mut() else { return vec![] };
    match setup.field_mut() {
        Some(f) if !f.loaded && f.choices_from.is_some() => {
            f.loaded = true;
            vec![Cmd::LoadChoices {
                field: f.name.clone(),
                command: f.choices_from.clone().unwrap_or_default(),
            }]
        }
        _ => vec![],
    }
}

/// Scrolls the output to the next older line that contains `query` (case-insensitive).
fn search(model: &mut Model, query: String) {
    let Some(rs) = model.run.as_mut() else { return };
    if query.is_empty() {
        rs.search = None;
        return;
    }
    let id = rs.run.runbook().steps[rs.selected].id.clone();
    let Some(output) = rs.outputs.get(&id) else {
        model.status = Some("no output to search".into());
        return;
    };
    let needle = query.to_lowercase();
    let len = output.lines.len();
    // Searching again with the same query goes on to an older match.
    let start = if rs.search.as_deref() == Some(query.as_str()) { rs.scroll + 1 } else { 0 };
    let found = (start..len).find(|&back| output.lines[len - 1 - back].1.to_lowercase().contains(&needle));
    match found {
        Some(back) => {
            rs.scroll = back;
            model.status = None;
        }
        None => model.status = Some(format!("'{query}' not found in the output")),
    }
    rs.search = Some(query);
}
