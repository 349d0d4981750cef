//! Carrying out a run's Spawn, Probe and Kill effects, for both drivers (headless and TUI).
//!
//! Each driver says where output and results go through an [`Outlet`]; this module owns the
//! timing rules that must not differ between them: a try starts after its delay, a check's
//! wait is measured from its first probe, and a cancel reaches the running command's group.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::command::{Canceller, Execution, Stream};
use super::probe::Prober;
use crate::run::{CommandResult, Event, PreparedCommand, PreparedProbe};

/// Where a worker's output and results go. Called from worker threads and tasks.
pub trait Outlet: Clone + Send + Sync + 'static {
    /// A command's output starts (`log` is its log file).
    fn begin(&self, _step: &str, _log: Option<&std::path::Path>) {}
    fn output(&self, step: &str, stream: Stream, bytes: &[u8]);
    /// A command's output ended.
    fn end(&self, _step: &str) {}
    /// A result for the run (CommandDone, ProbeDone).
    fn event(&self, event: Event) -> impl std::future::Future<Output = ()> + Send;
}

/// The workers of one run.
#[derive(Debug, Default)]
pub struct Workers {
    /// The run these workers serve: part of each step's process token.
    pub run_id: String,
    cancellers: HashMap<String, Canceller>,
    check_started: HashMap<String, Instant>,
    prober: Prober,
}

impl Workers {
    /// Runs a command on a blocking thread after `delay`; its output goes to `outlet` and to
    /// `log`, and its result comes back as `CommandDone`.
    pub fn spawn<O: Outlet>(
        &mut self,
        outlet: &O,
        step: String,
        attempt: u32,
        command: PreparedCommand,
        delay: Duration,
        log: Option<PathBuf>,
    ) {
        let (spawned_tx, spawned_rx) = tokio::sync::oneshot::channel();
        let execution = Execution::new().on_spawn(move |p| {
            let _ = spawned_tx.send(p);
        });
        self.cancellers.insert(step.clone(), execution.canceller());
        let mut command = command;
        command.token = format!("{}/{step}/{attempt}", self.run_id);
        let outlet = outlet.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let out = outlet.clone();
            let out_step = step.clone();
            let running = tokio::task::spawn_blocking(move || {
                if command.interactive {
                    return super::command::run_interactive(&command);
                }
                out.begin(&out_step, log.as_deref());
                let result = execution
                    .run(&command, log.as_deref(), |stream, bytes| out.output(&out_step, stream, bytes));
                out.end(&out_step);
                result
            });
            // Journaled, so that a resume after a crash can find what still runs.
            if let Ok(p) = spawned_rx.await {
                let (step, pid, pgid, start_time) = (step.clone(), p.pid, p.pgid, p.start_time);
                outlet.event(Event::CommandSpawned { step, attempt, pid, pgid, start_time }).await;
            }
            let result = running
                .await
                .unwrap_or_else(|e| CommandResult { spawn_error: Some(e.to_string()), ..Default::default() });
            outlet.event(Event::CommandDone { step, attempt, result }).await;
        });
    }

    /// Probes after `delay`; the result comes back as `ProbeDone`, with the time since the
    /// step's first probe (what `wait.timeout` is measured against).
    pub fn probe<O: Outlet>(
        &mut self,
        outlet: &O,
        step: String,
        attempt: u32,
        probe: PreparedProbe,
        delay: Duration,
    ) {
        if attempt == 1 {
            self.check_started.insert(step.clone(), Instant::now() + delay);
        }
        let first = *self.check_started.entry(step.clone()).or_insert_with(Instant::now);
        let (outlet, prober) = (outlet.clone(), self.prober.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let result = prober.probe(&probe).await;
            let elapsed_ms = first.elapsed().as_millis() as u64;
            outlet.event(Event::ProbeDone { step, attempt, result, elapsed_ms }).await;
        });
    }

    /// Kills the running command of `step` (its whole process group).
    pub fn kill(&self, step: &str) {
        if let Some(c) = self.cancellers.get(step) {
            c.cancel();
        }
    }

    /// Kills every running command.
    pub fn kill_all(&self) {
        for c in self.cancellers.values() {
            c.cancel();
        }
    }
}
