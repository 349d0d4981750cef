//! The TUI driver: owns the terminal, the journal and the workers; feeds `update` and draws.
//!
//! The terminal is restored on every exit path: normal return and errors (a guard's Drop),
//! panics (a chained panic hook), SIGTERM and SIGHUP (they become a quit message, so the
//! loop ends normally). However the loop ends, a panic included, the running step's process
//! group is killed before the program exits, so nothing is left running and the exit is prompt. Command output never reaches the screen directly: it comes back as
//! messages and is drawn inside the output pane.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::EventStream;
use crossterm::{execute, terminal};
use futures_util::{FutureExt, StreamExt};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;

use super::model::Model;
use super::setup::Setup;
use super::update::{Cmd, Msg, update};
use crate::exec::command::Execution;
use crate::exec::workers::{Outlet, Workers};
use crate::health::{self, Scheduler};
use crate::journal::{self, Journal};
use crate::run::{Effect, Event, Run};
use crate::runbook::load::Library;
use crate::start;
use crate::theme::Theme;

/// What the TUI opens with.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub dirs: Vec<PathBuf>,
    /// Open this runbook directly instead of the picker.
    pub open: Option<String>,
    pub env: Option<String>,
    /// Environment var overrides (`runbook demo` points `demo` at its service).
    pub vars: BTreeMap<String, String>,
    /// A theme name (`--theme`); else the config file's; else dark.
    pub theme: Option<String>,
    /// Input values that prefill the setup form (`runbook run ID --input k=v` on a terminal).
    pub inputs: BTreeMap<String, String>,
    /// Resume this run (an id or `latest`) instead of opening the picker.
    pub resume: Option<String>,
    /// Watch this run read-only (`runbook attach RUN`) instead of opening the picker.
    pub attach: Option<String>,
    /// The alert the opened runbook answers (`runbook run --alert` on a terminal).
    pub alert: Option<crate::run::record::AlertOrigin>,
}

/// Restores the terminal when dropped, whatever happened.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> anyhow::Result<Self> {
        terminal::enable_raw_mode().context("cannot put the terminal in raw mode")?;
        let guard = TerminalGuard;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            crossterm::cursor::Hide,
            crossterm::event::EnableMouseCapture
        )?;
        Ok(guard)
    }
}

fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        crossterm::event::DisableMouseCapture,
        terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

/// A run the driver opened: the run, its id, and the monitors (id, title) of its health pane.
struct Opened {
    run: Run,
    run_id: String,
    monitors: Vec<(String, String)>,
    /// For a resumed run, what to do first.
    resumed: Option<Vec<Effect>>,
}

struct Driver {
    tx: mpsc::Sender<Msg>,
    library: Library,
    opts: Options,
    journal: Option<Journal>,
    /// Shared with the threads that carry out kills (see `Effect::Kill`).
    workers: Arc<std::sync::Mutex<Workers>>,
    scheduler: Option<Scheduler>,
    epoch: Instant,
    /// An `interactive: true` command waiting for the terminal.
    interactive: Option<(String, u32, crate::run::PreparedCommand)>,
    /// Why the run stopped driving: a journal record could not be written.
    journal_failed: Option<String>,
    /// A resumed run whose step still runs from a dead runner, waiting for a decision.
    pending: Option<Box<start::Resumed>>,
    /// The run this TUI handed over (H): said on leaving.
    handed_over: Option<String>,
    /// The entries of a watched run (`runbook attach`), kept by its follower task.
    watched: Option<Arc<std::sync::Mutex<Vec<crate::run::Entry>>>>,
    /// The alert the next run of a runbook answers (runbook id, alert), and the input values
    /// it fills in.
    alert: Option<(String, crate::run::record::AlertOrigin)>,
    alert_inputs: BTreeMap<String, String>,
    /// Which environment's alerts are polled, by which task; a notify reads them at once.
    alerts_env: Option<String>,
    alerts_task: Option<tokio::task::JoinHandle<()>>,
    alerts_refresh: Arc<tokio::sync::Notify>,
    /// Which runbook answers an alert.
    matcher: Arc<crate::alerts::Matcher>,
}

/// How often the firing alerts are read again (each read has `alerts::TIMEOUT`).
const ALERTS_EVERY: Duration = Duration::from_secs(10);

/// A resumed run's step still runs from the runner that stopped (see `Driver::pending`).
#[derive(Debug, thiserror::Error)]
#[error("step '{step}' of run {run_id} is still running (pids {pids:?})")]
struct StillRunning {
    run_id: String,
    step: String,
    pids: Vec<i32>,
}

/// Runs the TUI until the user quits; returns the exit code.
pub fn run(opts: Options) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let code = runtime.block_on(run_async::<()>(opts, None));
    // The running commands were told to stop when the loop ended; a command that ignores
    // SIGTERM is killed after the grace period. Never wait on a worker longer than that.
    runtime.shutdown_timeout(crate::exec::command::KILL_GRACE + Duration::from_secs(1));
    code
}

/// The longest the loop goes without drawing while messages keep coming.
const FRAME: Duration = Duration::from_millis(16);

/// The process exit code after a panic (as Rust's own for a panicking main).
const PANIC_EXIT: u8 = 101;

/// Runs the TUI on the current runtime; `keep_alive` is held until it ends (the demo).
pub async fn run_async<T>(opts: Options, keep_alive: Option<T>) -> anyhow::Result<u8> {
    // Orphans of a step are re-parented here, where the step's token finds them.
    crate::exec::tree::become_subreaper();
    // Config and theme errors are reported before the screen is taken over.
    let config_dir = crate::dirs::config_dir();
    let config = match crate::config::load(config_dir.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("runbook: config: {e}");
            return Ok(2);
        }
    };
    let theme_name = opts.theme.clone().or(config.theme.clone()).unwrap_or_else(|| "dark".into());
    let theme = match Theme::load(&theme_name, config_dir.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("runbook: theme: {e}");
            return Ok(2);
        }
    };
    let keymap = match super::keymap::Keymap::new(&config.keys) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("runbook: config: {e}");
            return Ok(2);
        }
    };
    // The picker starts from the index; a runbook is read and validated when it is previewed
    // or opened.
    let mut library = crate::dirs::library(&opts.dirs);
    library.save_on_open = false;
    let (summaries, _) = library.summaries();
    let matcher = crate::alerts::Matcher::new(
        summaries.iter().filter(|s| !s.is_broken()).map(|s| (s.id.as_str(), s.alerts.as_slice())),
    );
    let mut model = Model::new(summaries, vec![]);
    model.keymap = keymap;
    model.hyperlinks = crate::ui::hyperlink::wanted(
        config.hyperlinks,
        std::env::var("NO_HYPERLINKS").ok().as_deref(),
        std::env::var("TERM").ok().as_deref(),
    );
    let (tx, mut rx) = mpsc::channel::<Msg>(256);
    // Unfinished runs are listed once the picker is up: a slow or unreachable run store must
    // not keep the picker from opening at 3 a.m. (runbooks can still be read and opened).
    let runs_tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        let runs = match crate::dirs::data_dir() {
            Some(d) => journal::list_runs(&d).map_err(|e| format!("{e:#}")),
            None => Ok(vec![]),
        };
        let unfinished = runs.map(|r| r.into_iter().filter(|r| r.is_unfinished()).collect());
        let _ = runs_tx.blocking_send(Msg::Runs(unfinished));
    });
    let mut driver = Driver {
        tx: tx.clone(),
        library,
        opts: opts.clone(),
        journal: None,
        workers: Default::default(),
        scheduler: None,
        epoch: Instant::now(),
        interactive: None,
        journal_failed: None,
        pending: None,
        handed_over: None,
        watched: None,
        alert: opts.alert.clone().and_then(|a| opts.open.clone().map(|id| (id, a))),
        alert_inputs: BTreeMap::new(),
        alerts_env: None,
        alerts_task: None,
        alerts_refresh: Arc::new(tokio::sync::Notify::new()),
        matcher: Arc::new(matcher),
    };
    // The firing alerts of the environment the TUI opens in (the picker marks their runbooks).
    if let Ok(envs) = driver.library.environments_checked(None)
        && let Ok(mut env) = crate::cmd::alerts::pick(envs, opts.env.as_deref())
    {
        env.vars.extend(opts.vars.clone());
        driver.start_alerts(&env);
    }
    install_panic_hook();
    let _guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    if let Ok(size) = terminal.size() {
        model.size = (size.width, size.height);
    }
    terminal.clear()?;
    // Before anything is drawn: a SIGTERM or SIGHUP from then on is a quit, never the default
    // (which would leave the terminal in raw mode).
    let mut signals = Signals {
        term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        hup: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?,
        signalled: None,
    };
    // `runbook ID` opens that runbook; anything else is a query for the picker.
    if let Some(which) = &opts.attach {
        driver.carry_out(&mut model, vec![Cmd::Attach(which.clone())]).await;
    } else if let Some(which) = &opts.resume {
        driver.carry_out(&mut model, vec![Cmd::Resume(which.clone())]).await;
    } else if let Some(id) = opts.open.as_ref().filter(|id| driver.library.find_one(id).is_ok()) {
        driver.carry_out(&mut model, vec![Cmd::Open(id.clone())]).await;
    } else {
        if let Some(query) = &opts.open {
            model.picker.query = query.clone();
            model.picker.refilter();
        }
    }
    if model.screen == crate::app::model::Screen::Picker
        && model.dialog.is_none()
        && let Some(crate::app::model::Entry::Runbook(s)) = model.picker.current()
    {
        let id = s.id.clone();
        driver.carry_out(&mut model, vec![Cmd::Preview(id)]).await;
    }
    terminal.draw(|f| crate::ui::render(&model, &theme, f))?;
    let outcome = std::panic::AssertUnwindSafe(event_loop(
        &mut model,
        &mut driver,
        &mut terminal,
        &theme,
        &mut rx,
        &mut signals,
    ))
    .catch_unwind()
    .await;
    // Workers blocked on a full channel give up once it is gone, so the kills below are heard.
    drop(rx);
    driver.shutdown();
    // What previews found (broken runbooks) goes into the index for the next start.
    driver.library.save_index();
    // A step still running was stopped with the runner: the journal says so and why, so a
    // resume offers it again as cancelled rather than of unknown outcome.
    let signalled = signals.signalled;
    if let (Some(rs), Some(journal)) = (&model.run, driver.journal.as_mut())
        && let Some(i) = rs.run.cursor()
        && rs.run.steps()[i].status == crate::run::Status::Running
    {
        let why = signalled
            .map_or_else(|| "stopped: the runner quit".to_owned(), |(name, _)| format!("stopped by {name}"));
        let step = rs.run.runbook().steps[i].id.clone();
        let _ = journal.append(crate::run::Record::StepCancelled { step, reason: why });
    }
    drop(_guard);
    let code = match outcome {
        Ok(Ok(())) => signalled.map_or(0, |(_, code)| code),
        Ok(Err(e)) => return Err(e),
        // The panic hook has restored the terminal and printed the message.
        Err(_) => PANIC_EXIT,
    };
    drop(keep_alive);
    if let Some(rs) = &model.run
        && rs.run.outcome().is_none()
    {
        let mut out = std::io::stdout();
        if rs.watching.is_some() {
            let _ = writeln!(out, "stopped watching run {}", rs.run_id);
        } else if driver.handed_over.as_deref() == Some(rs.run_id.as_str()) {
            let _ = writeln!(
                out,
                "run {} handed over: anyone with the run store can carry on with `runbook run --resume {}`",
                rs.run_id, rs.run_id
            );
        } else {
            let _ =
                writeln!(out, "run {} kept: resume it with `runbook run --resume {}`", rs.run_id, rs.run_id);
        }
    }
    Ok(code)
}

type Screen = Terminal<CrosstermBackend<std::io::Stdout>>;

/// The signals that end the TUI like a quit (the terminal is going away).
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    /// Which one ended the TUI, and the exit code it means (143, 129).
    signalled: Option<(&'static str, u8)>,
}

/// Reads events and messages, updates the model, carries out commands and draws, until the
/// user quits.
async fn event_loop(
    model: &mut Model,
    driver: &mut Driver,
    terminal: &mut Screen,
    theme: &Theme,
    rx: &mut mpsc::Receiver<Msg>,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    let model = &mut *model;
    // None while an interactive command owns the terminal, so no keystroke is read from it.
    let mut events = Some(EventStream::new());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // A test hook: the key named by RUNBOOK_TEST_PANIC panics, to prove the panic path
    // (terminal restored, step killed, prompt exit; tests/tui.rs).
    let panic_key = std::env::var("RUNBOOK_TEST_PANIC").ok().and_then(|k| k.chars().next());
    while !model.quit {
        let msg = tokio::select! {
            Some(Ok(event)) = next_event(&mut events) => match event {
                crossterm::event::Event::Key(key) => Some(Msg::Key(key)),
                crossterm::event::Event::Resize(w, h) => Some(Msg::Resize(w, h)),
                crossterm::event::Event::Mouse(m) => Some(Msg::Mouse(m)),
                _ => None,
            },
            Some(msg) = rx.recv() => Some(msg),
            _ = tick.tick() => Some(Msg::Tick(driver.epoch.elapsed().as_millis() as u64)),
            _ = signals.term.recv() => {
                signals.signalled = Some(("SIGTERM", 143));
                Some(Msg::Terminate)
            }
            _ = signals.hup.recv() => {
                signals.signalled = Some(("SIGHUP", 129));
                Some(Msg::Terminate)
            }
        };
        let Some(msg) = msg else { continue };
        if let (Some(want), Msg::Key(key)) = (panic_key, &msg)
            && key.code == crossterm::event::KeyCode::Char(want)
        {
            panic!("RUNBOOK_TEST_PANIC is set: panicking on the key '{want}', as asked");
        }
        let cmds = update(model, msg);
        driver.carry_out(model, cmds).await;
        // Drain what is already queued before drawing, so a burst of output is one frame; but
        // for one frame's time at most: a command that never stops printing keeps the queue
        // full, and the screen and the keys must still get their turn.
        let frame_end = Instant::now() + FRAME;
        while Instant::now() < frame_end
            && let Ok(msg) = rx.try_recv()
        {
            let cmds = update(model, msg);
            driver.carry_out(model, cmds).await;
        }
        if let Some((step, attempt, command)) = driver.interactive.take() {
            // Hand the terminal to the command, then take it back and redraw everything.
            drop(events.take());
            restore();
            println!("runbook: {} (interactive; the runbook comes back when it exits)", command.shown);
            let result = tokio::task::block_in_place(|| crate::exec::command::run_interactive(&command));
            terminal::enable_raw_mode()?;
            execute!(
                std::io::stdout(),
                terminal::EnterAlternateScreen,
                crossterm::cursor::Hide,
                crossterm::event::EnableMouseCapture,
                terminal::Clear(terminal::ClearType::All)
            )?;
            // Force a full redraw without `Terminal::clear`, which asks the terminal for the
            // cursor position: with an event reader alive, that answer can be swallowed.
            terminal.swap_buffers();
            terminal.swap_buffers();
            events = Some(EventStream::new());
            let cmds = update(model, Msg::Run(Event::CommandDone { step, attempt, result }));
            driver.carry_out(model, cmds).await;
        }
        terminal.draw(|f| crate::ui::render(model, theme, f))?;
    }
    Ok(())
}

impl Driver {
    /// Ends everything this TUI started; returns once the steps' processes are gone, so
    /// nothing of a step outlives the runner (not even a `setsid` child: see exec::tree).
    fn shutdown(&mut self) {
        lock(&self.workers).kill_all();
        self.scheduler = None;
        if let Some(t) = self.alerts_task.take() {
            t.abort();
        }
        tokio::task::block_in_place(|| {
            crate::exec::tree::stop_all_running(crate::exec::command::KILL_GRACE);
        });
    }

    async fn carry_out(&mut self, model: &mut Model, cmds: Vec<Cmd>) {
        for cmd in cmds {
            match cmd {
                Cmd::Effects(effects) => {
                    for e in effects {
                        self.effect(model, e);
                    }
                }
                Cmd::FetchAlerts => self.alerts_refresh.notify_one(),
                Cmd::OpenAlert(alert) => {
                    let Some(id) = alert.runbook.clone() else { continue };
                    let msg = match start::find_runbook(&self.library, &id) {
                        Ok((_, runbook)) => {
                            self.alert_inputs = alert.inputs_for(&runbook);
                            self.alert = Some((id.clone(), alert.origin()));
                            match self.prepare(&id) {
                                Ok(setup) => Msg::Setup(Box::new(setup)),
                                Err(e) => Msg::Failed(format!("{e:#}")),
                            }
                        }
                        Err(e) => Msg::Failed(e.to_string()),
                    };
                    let more = update(model, msg);
                    Box::pin(self.carry_out(model, more)).await;
                }
                Cmd::Open(id) => {
                    if self.alert.as_ref().is_some_and(|(a, _)| *a != id) {
                        self.alert = None;
                        self.alert_inputs.clear();
                    }
                    let msg = match self.prepare(&id) {
                        Ok(setup) if setup.is_trivial() => {
                            let more = vec![Cmd::Start {
                                id,
                                env: setup.env_name().to_owned(),
                                inputs: setup.values(),
                            }];
                            Box::pin(self.carry_out(model, more)).await;
                            continue;
                        }
                        Ok(setup) => Msg::Setup(Box::new(setup)),
                        Err(e) => Msg::Failed(format!("{e:#}")),
                    };
                    let more = update(model, msg);
                    Box::pin(self.carry_out(model, more)).await;
                }
                Cmd::Timeline if self.watched.is_some() => {
                    let entries = self.watched.as_ref().map(|w| lock_entries(w).clone()).unwrap_or_default();
                    let more = update(model, Msg::Timeline(crate::export::rows(&entries)));
                    Box::pin(self.carry_out(model, more)).await;
                }
                Cmd::Attach(which) => {
                    let msg = match self.attach(&which) {
                        Ok(msg) => msg,
                        Err(e) => Msg::Failed(format!("{e:#}")),
                    };
                    let more = update(model, msg);
                    Box::pin(self.carry_out(model, more)).await;
                }
                Cmd::Handoff => {
                    // Who let go, then the lease goes with the journal: anyone may resume.
                    if let Some(mut journal) = self.journal.take() {
                        let (user, host) = journal::user_and_host();
                        let text = format!("handed over by {user}@{host}: `runbook run --resume` carries on");
                        match journal.append(crate::run::Record::Note { text, step: None }) {
                            Ok(_) => self.handed_over = model.run.as_ref().map(|rs| rs.run_id.clone()),
                            Err(e) => model.status = Some(format!("{e:#}")),
                        }
                    }
                }
                Cmd::Timeline => {
                    let msg = match self.journal.as_ref().map(|j| journal::read(j.dir())) {
                        Some(Ok(entries)) => Msg::Timeline(crate::export::rows(&entries)),
                        Some(Err(e)) => Msg::Failed(format!("cannot read the journal: {e:#}")),
                        None => Msg::Failed("no run yet".into()),
                    };
                    let more = update(model, msg);
                    Box::pin(self.carry_out(model, more)).await;
                }
                Cmd::Export => {
                    let msg = match self.journal.as_ref() {
                        Some(j) => match export_run(j.dir()) {
                            Ok(path) => Msg::Exported(path),
                            Err(e) => Msg::Failed(format!("cannot export the timeline: {e:#}")),
                        },
                        None => Msg::Failed("no run yet".into()),
                    };
                    let more = update(model, msg);
                    Box::pin(self.carry_out(model, more)).await;
                }
                Cmd::Parity => {
                    let id = model.run.as_ref().map(|rs| rs.run.runbook().id.clone()).unwrap_or_default();
                    let Some(envs) = self.library.environments_for(&id).cloned() else { continue };
                    let overrides = model
                        .run
                        .as_ref()
                        .map(|rs| (rs.run.environment().name.clone(), self.opts.vars.clone()));
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        let readings = health::parity(&envs, overrides.as_ref()).await;
                        let table = super::model::Parity {
                            envs: envs.names().map(str::to_owned).collect(),
                            monitors: envs.monitors.iter().map(|m| m.id.clone()).collect(),
                            readings,
                        };
                        let _ = tx.send(Msg::Parity(table)).await;
                    });
                }
                Cmd::LoadChoices { field, command } => {
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        let values = load_choices(command).await;
                        let _ = tx.send(Msg::Choices { field, values }).await;
                    });
                }
                Cmd::Resume(run_id) if let Some(setup) = self.secrets_form(&run_id) => {
                    // Secrets are never journaled: the form asks for them again.
                    let more = update(model, Msg::Setup(Box::new(setup)));
                    Box::pin(self.carry_out(model, more)).await;
                }
                Cmd::WaitStillRunning => {
                    // Polls off the loop until the old step's processes are gone.
                    let Some(token) =
                        self.pending.as_ref().and_then(|p| p.still_running.as_ref()).map(|s| s.token.clone())
                    else {
                        continue;
                    };
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        while !crate::exec::tree::processes(&token).is_empty() {
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                        let _ = tx.send(Msg::StillRunningEnded).await;
                    });
                }
                Cmd::DropPending => self.pending = None,
                Cmd::Start { .. } | Cmd::Resume(_) | Cmd::ResumeWith { .. } | Cmd::Settle(_) => {
                    let opened = match &cmd {
                        Cmd::Resume(run_id) => self.resume(run_id, &BTreeMap::new()),
                        Cmd::ResumeWith { run_id, inputs } => self.resume(run_id, inputs),
                        Cmd::Start { id, env, inputs } => self.open(id, env, inputs),
                        Cmd::Settle(choice) => self.settle(*choice),
                        _ => continue,
                    };
                    let msg = match opened {
                        Ok(Opened { run, run_id, monitors, resumed }) => {
                            Msg::Started { run: Box::new(run), run_id, monitors, resumed }
                        }
                        Err(e) => match e.downcast::<StillRunning>() {
                            Ok(s) => Msg::StillRunning { run_id: s.run_id, step: s.step, pids: s.pids },
                            Err(e) => Msg::Failed(format!("{e:#}")),
                        },
                    };
                    let more = update(model, msg);
                    Box::pin(self.carry_out(model, more)).await;
                }
                // The loop ends on `model.quit` and then stops the workers, after it has let go
                // of the channel they may be blocked on.
                Cmd::Quit => {}
                Cmd::Preview(id) => {
                    let msg = match self.library.open(&id) {
                        Ok(loaded) => match (&loaded.runbook, loaded.first_error()) {
                            (Some(runbook), _) => Msg::Preview(id, runbook.clone()),
                            (None, Some(d)) => Msg::PreviewBroken {
                                id,
                                error: format!(
                                    "{}:{}:{}: {}",
                                    loaded.display, d.pos.line, d.pos.column, d.message
                                ),
                            },
                            (None, None) => continue,
                        },
                        Err(e) => Msg::PreviewBroken { id, error: e.to_string() },
                    };
                    let more = update(model, msg);
                    Box::pin(self.carry_out(model, more)).await;
                }
                Cmd::Copy(text) => {
                    // OSC 52: the terminal puts it on the clipboard, even over SSH.
                    use base64::Engine as _;
                    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
                    let mut out = std::io::stdout();
                    let _ = write!(out, "\x1b]52;c;{encoded}\x07");
                    let _ = out.flush();
                }
            }
        }
    }

    /// The setup form for a runbook: the environments it allows, its inputs.
    fn prepare(&self, id: &str) -> anyhow::Result<Setup> {
        let (_, runbook) = start::find_runbook(&self.library, id)?;
        let envs = self.library.environments_checked(Some(id)).map_err(|e| anyhow::anyhow!(e))?;
        let allowed: Vec<(String, bool)> = envs
            .environments
            .iter()
            .filter(|e| runbook.allows_environment(&e.name))
            .map(|e| (e.name.clone(), e.protected))
            .collect();
        if allowed.is_empty() {
            anyhow::bail!("runbook '{id}' allows no environment that environments.yaml defines");
        }
        // A run for an alert runs where the alert fires.
        let alert_env = self.alert.as_ref().filter(|(a, _)| a == id).and(self.alerts_env.clone());
        let default = alert_env.or_else(|| self.opts.env.clone()).or_else(|| envs.default.clone());
        let mut setup = Setup::new(runbook, allowed, default.as_deref());
        for f in &mut setup.fields {
            if let Some(v) = self.opts.inputs.get(&f.name).or_else(|| self.alert_inputs.get(&f.name)) {
                f.value = v.clone();
            }
        }
        setup.validate();
        Ok(setup)
    }

    /// Starts a run: journal, health monitors for its environment.
    fn open(&mut self, id: &str, env: &str, inputs: &BTreeMap<String, String>) -> anyhow::Result<Opened> {
        let (loaded, runbook) = start::find_runbook(&self.library, id)?;
        let env = start::pick_environment(&self.library, &runbook, Some(env), &self.opts.vars)?;
        let mut run = Run::new(Arc::clone(&runbook), env.clone(), inputs)?;
        if let Some((_, origin)) = self.alert.take().filter(|(a, _)| a == id) {
            run.set_alert(Some(origin));
        }
        self.alert_inputs.clear();
        let data_dir = crate::dirs::data_dir().context("no data directory: set RUNBOOK_DATA_DIR")?;
        let (mut journal, run_id) = Journal::create(&data_dir, &runbook.id)?;
        let (user, host) = journal::user_and_host();
        let started =
            run.started_record(&loaded.content_hash, start::source_of(&self.library, &loaded), &user, &host);
        journal.append(started.clone())?;
        run.record(&started);
        self.journal = Some(journal);
        self.journal_failed = None;
        lock(&self.workers).run_id = run_id.clone();
        let monitors = self.start_health(&runbook, &env);
        self.start_alerts(&env);
        Ok(Opened { run, run_id, monitors, resumed: None })
    }

    /// The form for a run's secret inputs, when resuming it needs them and the environment
    /// (`RUNBOOK_INPUT_<NAME>`) does not give them.
    fn secrets_form(&self, run_id: &str) -> Option<Setup> {
        let data_dir = crate::dirs::data_dir()?;
        let info = journal::resolve(&data_dir, run_id).ok()?;
        let entries = journal::read(&info.dir).ok()?;
        let Some(crate::run::Record::RunStarted { secret_inputs, environment, .. }) =
            entries.first().map(|e| &e.record)
        else {
            return None;
        };
        let missing: Vec<String> = secret_inputs
            .iter()
            .filter(|n| std::env::var(format!("RUNBOOK_INPUT_{}", n.to_ascii_uppercase())).is_err())
            .filter(|n| !self.opts.inputs.contains_key(*n))
            .cloned()
            .collect();
        if missing.is_empty() || info.outcome_known() {
            return None;
        }
        let runbook = self.library.open(&info.runbook).ok()?.runbook?;
        let protected = self
            .library
            .environments_checked(Some(&info.runbook))
            .ok()
            .and_then(|e| e.get(environment))
            .is_some_and(|e| e.protected);
        Some(Setup::for_resume(runbook, (environment.clone(), protected), &missing, &info.id))
    }

    /// Opens a run someone else drives, read-only, and follows its journal: new entries
    /// (and, on this machine, the running step's output) reach the model every quarter
    /// second; the lease is never taken.
    fn attach(&mut self, which: &str) -> anyhow::Result<Msg> {
        let data_dir = crate::dirs::data_dir().context("no data directory: set RUNBOOK_DATA_DIR")?;
        let start::Watched { run, info, seen } =
            start::watch(&self.library, &data_dir, which, &self.opts.vars)?;
        let monitors = self.start_health(run.runbook(), run.environment());
        let entries = journal::read_all(&info.dir)?.entries;
        let shared = Arc::new(std::sync::Mutex::new(entries));
        self.watched = Some(shared.clone());
        let tx = self.tx.clone();
        let feed = crate::feed::Feed::new(&info);
        let driver = info.driver.as_ref().map(ToString::to_string);
        let shown = driver.clone();
        tokio::task::spawn_blocking(move || follow_run(feed, seen, shown, &shared, &tx));
        Ok(Msg::Watching { run: Box::new(run), run_id: info.id, monitors, driver })
    }

    /// Picks up an unfinished run from its journal.
    fn resume(&mut self, run_id: &str, secrets: &BTreeMap<String, String>) -> anyhow::Result<Opened> {
        let data_dir = crate::dirs::data_dir().context("no data directory: set RUNBOOK_DATA_DIR")?;
        let mut given = self.opts.inputs.clone();
        given.extend(secrets.iter().map(|(k, v)| (k.clone(), v.clone())));
        let resumed = start::resume(&self.library, &data_dir, run_id, None, &given, &self.opts.vars)?;
        if let Some(still) = &resumed.still_running {
            // Never a second copy beside the first: a person decides (the StillRunning
            // dialog), and the resumed run waits here, its lease held, until then.
            let (step, pids) = (still.step.clone(), still.pids.clone());
            let run_id = resumed.run_id.clone();
            self.pending = Some(Box::new(resumed));
            return Err(StillRunning { run_id, step, pids }.into());
        }
        self.finish_resume(resumed)
    }

    /// Settles the step a dead runner left running, as the person chose, and opens the run.
    fn settle(&mut self, choice: start::StillRunningChoice) -> anyhow::Result<Opened> {
        let mut resumed = *self.pending.take().context("no run is waiting for a decision")?;
        start::settle_still_running(&mut resumed, choice)?;
        self.finish_resume(resumed)
    }

    fn finish_resume(&mut self, resumed: start::Resumed) -> anyhow::Result<Opened> {
        let start::Resumed { run, journal, run_id, changed, effects, problems, .. } = resumed;
        self.journal = Some(journal);
        self.journal_failed = None;
        lock(&self.workers).run_id = run_id.clone();
        let monitors = self.start_health(run.runbook(), run.environment());
        self.start_alerts(&run.environment().clone());
        let mut effects = effects;
        for text in problems {
            effects.push(Effect::Journal(crate::run::Record::Note {
                text: format!("journal: {text}"),
                step: None,
            }));
        }
        if changed {
            effects.push(Effect::Journal(crate::run::Record::Note {
                text: "the runbook changed since this run began; steps are matched by id".into(),
                step: None,
            }));
        }
        Ok(Opened { run, run_id, monitors, resumed: Some(effects) })
    }

    /// Polls an environment's firing alerts (unless they are polled already), each read
    /// answered with `Msg::Alerts`; the first read goes out at once.
    fn start_alerts(&mut self, env: &crate::runbook::Environment) {
        if self.alerts_env.as_deref() == Some(env.name.as_str()) {
            return;
        }
        if let Some(t) = self.alerts_task.take() {
            t.abort();
        }
        self.alerts_env = Some(env.name.clone());
        let (tx, env, matcher, refresh) =
            (self.tx.clone(), env.clone(), Arc::clone(&self.matcher), Arc::clone(&self.alerts_refresh));
        self.alerts_task = Some(tokio::spawn(async move {
            let name = env.name.clone();
            if env.alertmanager.is_none() {
                let at = jiff::Timestamp::now();
                let _ = tx.send(Msg::Alerts { env: name, configured: false, result: Ok(vec![]), at }).await;
                return;
            }
            let client = reqwest::Client::builder()
                .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_else(|_| reqwest::Client::new());
            loop {
                let mut result = crate::alerts::fetch(&client, &env, crate::alerts::TIMEOUT).await;
                if let Ok(list) = result.as_mut() {
                    matcher.annotate(list);
                }
                let at = jiff::Timestamp::now();
                if tx.send(Msg::Alerts { env: name.clone(), configured: true, result, at }).await.is_err() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(ALERTS_EVERY) => {}
                    _ = refresh.notified() => {}
                }
            }
        }));
    }

    /// Starts the health pane's monitors for a runbook in an environment.
    fn start_health(
        &mut self,
        runbook: &crate::runbook::Runbook,
        env: &crate::runbook::Environment,
    ) -> Vec<(String, String)> {
        let all = self.library.environments_for(&runbook.id).map(|e| e.monitors.clone()).unwrap_or_default();
        let monitors = health::monitors_for(&all, &env.name, runbook.monitors.as_deref());
        let list = monitors.iter().map(|m| (m.id.clone(), m.title.clone())).collect();
        let (htx, mut hrx) = mpsc::channel(256);
        self.scheduler = Some(Scheduler::start(&monitors, env, self.epoch, htx));
        let tx = self.tx.clone();
        tokio::spawn(async move {
            while let Some(p) = hrx.recv().await {
                if tx.send(Msg::Probed(p)).await.is_err() {
                    break;
                }
            }
        });
        list
    }

    fn effect(&mut self, model: &mut Model, effect: Effect) {
        match effect {
            // Once a record could not be written, nothing more happens in this run: what the
            // journal does not hold must not run (a resume would run it again).
            _ if self.journal_failed.is_some() => {
                model.status = self.journal_failed.clone();
            }
            Effect::Journal(record) => {
                if let Some(j) = self.journal.as_mut()
                    && let Err(e) = j.append(record)
                {
                    let workers = Arc::clone(&self.workers);
                    tokio::task::spawn_blocking(move || {
                        lock(&workers).kill_all();
                        crate::exec::tree::stop_all_running(crate::exec::command::KILL_GRACE);
                    });
                    let run_id = model.run.as_ref().map(|rs| rs.run_id.clone()).unwrap_or_default();
                    // The way on first: the status line is one line, and the cause is long.
                    let why = format!(
                        "journal write failed, the run stopped (nothing runs unrecorded): free space, q, `runbook run --resume {run_id}` · {e:#}"
                    );
                    model.status = Some(why.clone());
                    self.journal_failed = Some(why);
                }
            }
            Effect::Spawn { step, attempt, command, delay } => {
                if command.interactive {
                    // The loop hands the terminal over before its next frame.
                    self.interactive = Some((step, attempt, command));
                    return;
                }
                let log = self.journal.as_ref().map(|j| j.step_log(&step, attempt));
                let outlet = ScreenOutlet { tx: self.tx.clone() };
                lock(&self.workers).spawn(&outlet, step, attempt, command, delay, log);
            }
            Effect::Probe { step, attempt, probe, delay } => {
                let outlet = ScreenOutlet { tx: self.tx.clone() };
                lock(&self.workers).probe(&outlet, step, attempt, probe, delay);
            }
            Effect::Kill { step } => {
                // Not on the event loop: a cancel waits for room in the command's bounded
                // channel, which frees up only as this loop takes the command's output; done
                // here, a command that floods its output would deadlock the screen.
                let workers = Arc::clone(&self.workers);
                tokio::task::spawn_blocking(move || lock(&workers).kill(&step));
            }
            Effect::NeedsHuman { .. } | Effect::Finished(_) => {}
        }
    }
}

/// The workers, even if a thread panicked holding them (they hold no invariant a panic breaks).
fn lock_entries(
    entries: &std::sync::Mutex<Vec<crate::run::Entry>>,
) -> std::sync::MutexGuard<'_, Vec<crate::run::Entry>> {
    entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The follower of a watched run: sends its new entries, the output of its steps (live from
/// this machine's logs, or each try's tail from the store when it ends) and its driver's
/// changes, until the TUI goes away.
fn follow_run(
    mut feed: crate::feed::Feed,
    mut seen: usize,
    mut driver: Option<String>,
    shared: &std::sync::Mutex<Vec<crate::run::Entry>>,
    tx: &mpsc::Sender<Msg>,
) {
    use crate::run::Record;
    // The step try running now and how much of its output was sent.
    let mut running: Option<(String, u32, u64)> =
        lock_entries(shared).iter().fold(None, |acc, e| match &e.record {
            Record::StepStarted { step, attempt, .. } => Some((step.clone(), *attempt, 0)),
            Record::StepPassed { .. } | Record::StepFailed { .. } | Record::StepCancelled { .. } => None,
            _ => acc,
        });
    loop {
        let new = feed.entries_since(seen);
        let mut ended = Vec::new();
        for e in &new {
            match &e.record {
                Record::StepStarted { step, attempt, .. } => running = Some((step.clone(), *attempt, 0)),
                Record::AttemptFailed { step, .. }
                | Record::StepPassed { step, .. }
                | Record::StepFailed { step, .. }
                | Record::StepCancelled { step, .. } => ended.extend(running.take_if(|(s, ..)| s == step)),
                _ => {}
            }
        }
        seen += new.len();
        if !new.is_empty() {
            lock_entries(shared).extend(new.iter().cloned());
            if tx.blocking_send(Msg::Watched(new)).is_err() {
                return;
            }
        }
        let live = running
            .as_mut()
            .map(|(step, attempt, offset)| (step.clone(), feed.output(step, *attempt, offset, false), false));
        let done = ended.into_iter().map(|(step, attempt, mut offset)| {
            let bytes = feed.output(&step, attempt, &mut offset, true);
            (step, bytes, true)
        });
        for (step, bytes, end) in live.into_iter().chain(done.collect::<Vec<_>>()) {
            if let Some(bytes) = bytes {
                let msg =
                    Msg::Output { step: step.clone(), stream: crate::exec::command::Stream::Stdout, bytes };
                if tx.blocking_send(msg).is_err() {
                    return;
                }
            }
            if end && tx.blocking_send(Msg::OutputDone { step }).is_err() {
                return;
            }
        }
        let now = feed.driver().map(|h| h.to_string());
        if now != driver && tx.blocking_send(Msg::WatchedDriver(now.clone())).is_err() {
            return;
        }
        driver = now;
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn lock(workers: &std::sync::Mutex<Workers>) -> std::sync::MutexGuard<'_, Workers> {
    workers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The screen's outlet: output and results become messages for `update`.
#[derive(Clone)]
struct ScreenOutlet {
    tx: mpsc::Sender<Msg>,
}

impl Outlet for ScreenOutlet {
    fn output(&self, step: &str, stream: crate::exec::command::Stream, bytes: &[u8]) {
        // On the command's reader thread: wait for room rather than drop output.
        let _ = self.tx.blocking_send(Msg::Output { step: step.to_owned(), stream, bytes: bytes.to_vec() });
    }

    fn end(&self, step: &str) {
        let _ = self.tx.blocking_send(Msg::OutputDone { step: step.to_owned() });
    }

    async fn event(&self, event: Event) {
        let _ = self.tx.send(Msg::Run(event)).await;
    }
}

/// Runs a `choices_from` command (10 s at most) and returns its non-empty output lines.
async fn load_choices(command: String) -> Vec<String> {
    let cmd = crate::run::PreparedCommand {
        shown: command.clone(),
        script: command,
        shell: None,
        cwd: None,
        env: vec![],
        timeout: Duration::from_secs(10),
        interactive: false,
        secrets: vec![],
        token: String::new(),
    };
    let result = tokio::task::spawn_blocking(move || Execution::new().run(&cmd, None, |_, _| {}))
        .await
        .unwrap_or_default();
    result.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).take(100).collect()
}

async fn next_event(events: &mut Option<EventStream>) -> Option<std::io::Result<crossterm::event::Event>> {
    match events {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

/// Writes the timeline of the run in `dir` as Markdown to the data directory's `exports`
/// folder (0700, the file 0600), named after the run; returns where.
fn export_run(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let info = journal::info(dir);
    let entries = journal::read(dir)?;
    let text = crate::export::markdown(&info, &entries, crate::export::Options::default());
    let data_dir = crate::dirs::data_dir().context("no data directory: set RUNBOOK_DATA_DIR")?;
    let path = crate::export::default_path(&data_dir, &info.id, "md");
    crate::export::write_private(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
