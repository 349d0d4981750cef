//! Live health: one task per monitor of the selected environment, on a schedule.
//!
//! Each monitor's task probes at its interval (with ±10% jitter so a thousand monitors do not
//! fire at once), never runs two probes of one monitor at a time, and sends every result with
//! the monitor's new state through a bounded channel. When the receiver goes away the tasks
//! stop; dropping the [`Scheduler`] stops them too. The tasks share one prober, whose
//! Prometheus queries go through a batcher (`exec::prometheus`): a thousand gates are a few
//! dozen requests a second, not a thousand.

pub mod tracker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use tracker::{Sample, State, Tracker};

use crate::exec::probe::Prober;
use crate::run::{PreparedProbe, prepare_probe};
use crate::runbook::template::{Name, Value};
use crate::runbook::{Environment, Monitor};

/// One probe of one monitor, as the scheduler reports it.
#[derive(Debug, Clone)]
pub struct Probed {
    pub env: String,
    /// Index into the monitor list the scheduler was started with.
    pub index: usize,
    pub sample: Sample,
    pub state: State,
    pub since_ms: u64,
    pub last_error: Option<String>,
    /// How late the probe started against its schedule.
    pub late_ms: u64,
}

/// A monitor's probe resolved for one environment.
pub fn prepare(monitor: &Monitor, env: &Environment) -> Result<PreparedProbe, String> {
    let lookup = |name: &Name| match name {
        Name::Var(n) if n == "environment" => Some(Value::plain(env.name.clone())),
        Name::Var(n) => env.vars.get(n).map(Value::plain),
        Name::Env(n) => std::env::var(n).ok().map(Value::secret),
    };
    prepare_probe(&monitor.probe, &lookup, vec![], env)
}

/// The monitors of `env`, limited to `only` when a runbook names its monitors.
pub fn monitors_for<'a>(all: &'a [Monitor], env: &str, only: Option<&[String]>) -> Vec<&'a Monitor> {
    all.iter().filter(|m| m.applies_to(env) && only.is_none_or(|o| o.iter().any(|id| id == &m.id))).collect()
}

/// Running monitor tasks for one environment.
#[derive(Debug)]
pub struct Scheduler {
    tasks: Vec<JoinHandle<()>>,
}

impl Scheduler {
    /// Starts one task per monitor on the current tokio runtime.
    pub fn start(monitors: &[&Monitor], env: &Environment, epoch: Instant, tx: mpsc::Sender<Probed>) -> Self {
        let prober = Arc::new(Prober::for_monitors());
        let count = monitors.len().max(1) as u64;
        let tasks = monitors
            .iter()
            .enumerate()
            .map(|(index, m)| {
                let prepared = prepare(m, env);
                let interval = m.interval;
                // Spread first probes over the first interval.
                let offset = Duration::from_millis(interval.as_millis() as u64 * index as u64 / count);
                let task = MonitorTask {
                    env: env.name.clone(),
                    index,
                    id: m.id.clone(),
                    interval,
                    tracker: Tracker::new(m.fail_after),
                    prober: Arc::clone(&prober),
                    epoch,
                };
                let tx = tx.clone();
                tokio::spawn(task.run(prepared, offset, tx))
            })
            .collect();
        Self { tasks }
    }

    pub fn stop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop();
    }
}

struct MonitorTask {
    env: String,
    index: usize,
    id: String,
    interval: Duration,
    tracker: Tracker,
    prober: Arc<Prober>,
    epoch: Instant,
}

impl MonitorTask {
    async fn run(
        mut self,
        prepared: Result<PreparedProbe, String>,
        offset: Duration,
        tx: mpsc::Sender<Probed>,
    ) {
        let mut next = tokio::time::Instant::now() + offset;
        let mut tick: u64 = 0;
        loop {
            tokio::time::sleep_until(next).await;
            let late = tokio::time::Instant::now().saturating_duration_since(next);
            let result = probe_prepared(&self.prober, &prepared).await;
            let at_ms = self.epoch.elapsed().as_millis() as u64;
            let state = self.tracker.observe(&result, at_ms);
            let probed = Probed {
                env: self.env.clone(),
                index: self.index,
                sample: self.tracker.last().cloned().unwrap_or_else(|| unreachable!("just observed")),
                state,
                since_ms: self.tracker.since_ms(),
                last_error: self.tracker.last_error().map(str::to_owned),
                late_ms: late.as_millis() as u64,
            };
            if tx.send(probed).await.is_err() {
                return; // nobody is listening any more
            }
            tick += 1;
            next += jittered(self.interval, &self.id, tick);
            let now = tokio::time::Instant::now();
            if next < now {
                next = now; // a slow probe skips missed ticks instead of bunching them
            }
        }
    }
}

/// The interval with ±10% jitter, derived from the monitor and tick so runs are repeatable.
fn jittered(interval: Duration, id: &str, tick: u64) -> Duration {
    let h = blake3::hash(format!("{id}/{tick}").as_bytes());
    let r = u16::from_le_bytes([h.as_bytes()[0], h.as_bytes()[1]]) as f64 / u16::MAX as f64; // 0..1
    interval.mul_f64(0.9 + 0.2 * r)
}

/// Probes a monitor; a probe that could not be prepared (a missing var) is a failure.
async fn probe_prepared(
    prober: &Prober,
    prepared: &Result<PreparedProbe, String>,
) -> crate::run::ProbeResult {
    match prepared {
        Ok(p) => prober.probe(p).await,
        Err(why) => crate::run::ProbeResult {
            passed: false,
            slow: false,
            latency_ms: 0,
            reason: why.clone(),
            observed: None,
        },
    }
}

/// Probes every monitor once, retrying a failure until `fail_after` failures in a row, as a
/// health-check script would. Returns the results in monitor order.
pub async fn probe_once(monitors: &[&Monitor], env: &Environment) -> Vec<(State, Sample)> {
    let prober = Arc::new(Prober::for_monitors());
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let epoch = Instant::now();
    let tasks: Vec<_> = monitors
        .iter()
        .map(|m| {
            let prepared = prepare(m, env);
            let (prober, gate) = (Arc::clone(&prober), Arc::clone(&gate));
            let (fail_after, pause) = (m.fail_after, m.interval.min(Duration::from_secs(1)));
            tokio::spawn(async move {
                let _permit = gate.acquire().await;
                let mut tracker = Tracker::new(fail_after);
                for attempt in 1..=fail_after.max(1) {
                    let result = probe_prepared(&prober, &prepared).await;
                    let state = tracker.observe(&result, epoch.elapsed().as_millis() as u64);
                    if state != State::Unknown || attempt == fail_after {
                        break;
                    }
                    tokio::time::sleep(pause).await;
                }
                let state = match tracker.state() {
                    State::Unknown => State::Down,
                    s => s,
                };
                (state, tracker.last().cloned().unwrap_or_else(|| unreachable!("probed at least once")))
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| {
            (
                State::Down,
                Sample {
                    at_ms: 0,
                    passed: false,
                    slow: false,
                    latency_ms: 0,
                    reason: e.to_string(),
                    observed: None,
                },
            )
        }));
    }
    out
}

/// Which probe results change a monitor's state, for the run's journal: the first state a
/// monitor is seen in, then every change (unknown, before the first verdict, is not one).
#[derive(Debug, Clone, Default)]
pub struct Transitions {
    last: Vec<State>,
}

impl Transitions {
    /// The run's event for `p` when it changes its monitor's state; `monitors` is the list
    /// the scheduler was started with.
    pub fn event(&mut self, monitors: &[Monitor], p: &Probed) -> Option<crate::run::Event> {
        if self.last.len() <= p.index {
            self.last.resize(p.index + 1, State::Unknown);
        }
        let before = std::mem::replace(&mut self.last[p.index], p.state);
        let m = monitors.get(p.index)?;
        (before != p.state && p.state != State::Unknown).then(|| change_event(m, p.state, &p.sample))
    }
}

/// The run's event for a monitor that is now in `state`, `sample` being the probe that said so.
pub fn change_event(m: &Monitor, state: State, sample: &Sample) -> crate::run::Event {
    let detail = match state {
        State::Up => format!("{} in {} ms", sample.reason, sample.latency_ms),
        _ => sample.reason.clone(),
    };
    crate::run::Event::HealthChanged {
        monitor: m.id.clone(),
        title: m.title.clone(),
        state: state.to_string(),
        detail,
    }
}

/// One monitor's state in one environment, for `runbook health` and the parity view.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reading {
    pub environment: String,
    pub monitor: String,
    pub title: String,
    pub state: State,
    pub latency_ms: u64,
    pub reason: String,
    /// What a `prometheus:` monitor saw ("0.012 < 0.05 ✓").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
}

impl Reading {
    pub fn new(env: &Environment, m: &Monitor, state: State, s: &Sample) -> Self {
        Self {
            environment: env.name.clone(),
            monitor: m.id.clone(),
            title: m.title.clone(),
            state,
            latency_ms: s.latency_ms,
            reason: s.reason.clone(),
            observed: s.observed.clone(),
        }
    }

    /// A short cell for tables: "up 12ms", "down: HTTP 503".
    pub fn cell(&self) -> String {
        match self.state {
            State::Up => format!("up {}ms", self.latency_ms),
            State::Degraded => format!("degraded {}", self.reason),
            State::Down => format!("down: {}", self.reason),
            State::Unknown => "unknown".into(),
        }
    }
}

/// Every monitor against every environment, probed at once (the parity view).
/// `overrides` replaces vars of one environment (as `--var` or `runbook demo` do).
pub async fn parity(
    envs: &crate::runbook::Environments,
    overrides: Option<&(String, std::collections::BTreeMap<String, String>)>,
) -> Vec<Reading> {
    let mut jobs = Vec::new();
    for env in &envs.environments {
        let mut env = env.clone();
        if let Some((name, vars)) = overrides
            && name == &env.name
        {
            env.vars.extend(vars.clone());
        }
        let monitors: Vec<Monitor> =
            monitors_for(&envs.monitors, &env.name, None).into_iter().cloned().collect();
        jobs.push(tokio::spawn(async move {
            let refs: Vec<&Monitor> = monitors.iter().collect();
            let results = probe_once(&refs, &env).await;
            refs.iter()
                .zip(results)
                .map(|(m, (state, s))| Reading::new(&env, m, state, &s))
                .collect::<Vec<_>>()
        }));
    }
    let mut rows = Vec::new();
    for j in jobs {
        rows.extend(j.await.unwrap_or_default());
    }
    rows
}
