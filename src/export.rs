//! `runbook export`: a run's journal as an incident timeline for the postmortem.
//!
//! [`build`] turns the journal (and the step logs beside it) into one [`Export`]: a header
//! (who drove, when, outcome, inputs, the alert), a summary (failures, skips, decisions,
//! notes), the environment's health changes, one section per step (people, command, probes
//! collapsed, the last lines of output) and the event table. [`markdown`] and [`json`] write
//! the same value, so the two formats cannot disagree.
//!
//! Everything here is untrusted text: titles and reasons may hold captures, and output is a
//! command's. Escape sequences and control characters are removed before anything is written
//! (`ansi::clean` for output lines, `ansi::printable` for the rest), and Markdown special
//! characters are escaped, so the export renders as what it says.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Serialize;

use crate::journal::RunInfo;
use crate::run::{Entry, Record};

/// The JSON export's shape version; bumped when a field changes meaning or goes away.
pub const VERSION: u32 = 1;
/// Output lines shown per step by default (`--tail N`).
pub const DEFAULT_TAIL: usize = 20;
/// How far back from a log's end the tail is looked for; lines beyond are left out.
const TAIL_BYTES: u64 = 256 * 1024;
/// Characters of one output line kept in the export (the log has the whole line).
const LINE_CHARS: usize = 400;

/// A run's timeline: what `runbook export --format json` writes (version 1).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Export {
    /// The shape version of this document: 1.
    pub version: u32,
    /// The run id (`runbook runs` lists them).
    pub run: String,
    /// The runbook id.
    pub runbook: String,
    /// The runbook title.
    pub title: String,
    pub environment: String,
    /// Who drove the run: who started it, then every handoff (a resume), in order.
    pub drivers: Vec<Driver>,
    #[schemars(with = "String")]
    pub started: jiff::Timestamp,
    /// When the run ended; `null` while it is unfinished.
    #[schemars(with = "Option<String>")]
    pub ended: Option<jiff::Timestamp>,
    /// Seconds from start to end; `null` while unfinished.
    pub duration_s: Option<i64>,
    /// `succeeded`, `failed`, `aborted`, `abandoned`, or `unfinished`.
    pub outcome: String,
    /// Input values by name; secret inputs show `••••`.
    pub inputs: BTreeMap<String, String>,
    /// The alert the run was started from (`runbook run --alert`).
    pub alert: Option<Alert>,
    pub summary: Summary,
    /// State changes of the environment's monitors during the run (the first state seen,
    /// then every change).
    pub health: Vec<HealthChange>,
    /// One entry per step the run reached, in the order it first reached them.
    pub steps: Vec<StepReport>,
    /// Every event as a row (probe results collapsed), steps named by title.
    pub timeline: Vec<TimelineRow>,
    /// The journal's records, as written (control sequences removed from strings).
    pub events: serde_json::Value,
}

/// Who drove the run from when.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Driver {
    #[schemars(with = "String")]
    pub at: jiff::Timestamp,
    pub user: String,
    pub host: String,
    /// `started` or `resumed`.
    pub how: String,
    /// On a resume: the runbook file had changed since the run began.
    pub runbook_changed: bool,
}

/// The alert a run was started from.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Alert {
    pub alertname: String,
    pub fingerprint: String,
    pub labels: BTreeMap<String, String>,
    /// When the alert started firing (RFC 3339, as Alertmanager said).
    pub starts_at: Option<String>,
}

/// What a postmortem author reads first.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Summary {
    /// Steps that ended failed, cancelled or interrupted (and failures `on_failure:
    /// continue` tolerated).
    pub failed: Vec<StepRef>,
    pub skipped: Vec<StepRef>,
    /// Options picked at choice steps.
    pub decisions: Vec<Decision>,
    pub notes: Vec<NoteOut>,
}

/// A step with what happened to it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StepRef {
    #[schemars(with = "String")]
    pub at: jiff::Timestamp,
    pub step_id: String,
    pub step: String,
    /// `failed`, `failed (tolerated)`, `cancelled`, `interrupted`, `skipped`.
    pub outcome: String,
    pub reason: String,
}

/// An option picked at a choice step.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Decision {
    #[schemars(with = "String")]
    pub at: jiff::Timestamp,
    pub step_id: String,
    pub step: String,
    pub label: String,
    /// The step the option led to.
    pub goto: String,
    pub by: String,
    /// How it was picked (`--choice STEP=LABEL`, a key in the terminal UI); empty when the
    /// journal does not say.
    pub how: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct NoteOut {
    #[schemars(with = "String")]
    pub at: jiff::Timestamp,
    pub step_id: Option<String>,
    pub step: Option<String>,
    pub by: String,
    pub text: String,
}

/// A monitor's state change.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HealthChange {
    #[schemars(with = "String")]
    pub at: jiff::Timestamp,
    pub monitor: String,
    pub title: String,
    /// `up`, `degraded` or `down`.
    pub state: String,
    pub detail: String,
}

/// One step of the run.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StepReport {
    pub id: String,
    pub title: String,
    /// When it began: its first try or probe, or when the run reached it (manual steps).
    #[schemars(with = "Option<String>")]
    pub started: Option<jiff::Timestamp>,
    #[schemars(with = "Option<String>")]
    pub ended: Option<jiff::Timestamp>,
    /// `passed`, `ticked`, `marked done`, `decided`, `failed`, `failed (tolerated)`,
    /// `cancelled`, `interrupted`, `skipped`, or `unfinished`.
    pub outcome: String,
    /// What the outcome rests on: "exit 0", the failure's reason, the skip's reason.
    pub detail: String,
    pub exit: Option<i32>,
    pub duration_ms: Option<u64>,
    /// Tries of its command or check (counting retries).
    pub attempts: u32,
    /// The command as it ran (placeholders filled in, secrets masked).
    pub command: Option<String>,
    /// The check's target as probed.
    pub check: Option<String>,
    /// Who confirmed, ticked, decided, marked done or skipped it, and how.
    pub people: Vec<Act>,
    /// Tries that failed before the last ("try 1: exit 1").
    pub failed_tries: Vec<String>,
    /// The check's probe results; identical consecutive failures are one row with a count.
    pub probes: Vec<ProbeRow>,
    pub captures: Vec<CaptureOut>,
    /// The last lines of the last try's output.
    pub output: Option<Output>,
}

/// A person's act on a step.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Act {
    #[schemars(with = "String")]
    pub at: jiff::Timestamp,
    /// `confirmed`, `ticked`, `decided`, `marked done`, `skipped`.
    pub what: String,
    /// user@host.
    pub by: String,
    /// How: `--yes --confirm-env prod`, `typed the environment's name`, a note, a reason.
    pub how: String,
}

/// Probe results of a check: one row per run of identical consecutive results.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProbeRow {
    #[schemars(with = "String")]
    pub from: jiff::Timestamp,
    #[schemars(with = "String")]
    pub to: jiff::Timestamp,
    pub count: u32,
    pub passed: bool,
    pub result: String,
    /// What the last probe of the row measured, for probes that measure a value.
    pub observed: Option<String>,
    pub latency_ms: u64,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CaptureOut {
    pub name: String,
    /// Masked (`••••`) for secrets.
    pub value: String,
    pub secret: bool,
}

/// The end of a step's output.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The full log of the last try.
    pub log: String,
    /// Lines in the log.
    pub lines: u64,
    /// Lines of the log not shown here.
    pub left_out: u64,
    pub tail: Vec<OutputLine>,
    /// Logs of earlier tries.
    pub earlier_logs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OutputLine {
    /// `stdout` or `stderr`.
    pub stream: String,
    pub text: String,
}

/// One row of the event table.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TimelineRow {
    #[schemars(with = "String")]
    pub at: jiff::Timestamp,
    pub step_id: Option<String>,
    pub step: Option<String>,
    pub event: String,
    pub details: String,
}

/// What an export includes.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Output lines per step.
    pub tail: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self { tail: DEFAULT_TAIL }
    }
}

/// The JSON Schema of [`Export`] (`runbook schema export`).
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(Export)
}

/// Text safe to show: escape sequences, control characters and bidirectional overrides
/// (which make text read differently from what it is) removed; newlines kept.
fn clean(text: &str) -> String {
    let text = crate::ansi::printable(text);
    if text.chars().any(is_bidi) {
        text.chars().filter(|c| !is_bidi(*c)).collect()
    } else {
        text.into_owned()
    }
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// One line of text: as [`clean`], newlines and tabs as spaces.
fn one_line(text: &str) -> String {
    clean(text).replace(['\n', '\t'], " ")
}

/// Step titles by id: from the start record, updated as the run shows each step (a title
/// with a capture in it reads as it did then).
fn titles(entries: &[Entry]) -> HashMap<String, String> {
    let mut titles = HashMap::new();
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

/// Everything the export says about a run; `dir` is the run's directory (its step logs).
pub fn build(info: &RunInfo, entries: &[Entry], opts: Options) -> Export {
    let titles = titles(entries);
    let title_of = |id: &str| one_line(titles.get(id).map_or(id, String::as_str));
    let mut drivers = Vec::new();
    let mut inputs = BTreeMap::new();
    let mut alert = None;
    let mut health = Vec::new();
    let mut summary = Summary::default();
    let mut order: Vec<String> = Vec::new();
    let mut steps: HashMap<String, Builder> = HashMap::new();
    let mut driver = String::new();

    for e in entries {
        let at = e.at;
        macro_rules! b {
            ($id:expr) => {
                builder(&mut order, &mut steps, $id, &title_of)
            };
        }
        match &e.record {
            Record::RunStarted { user, host, inputs: given, secret_inputs, alert: a, .. } => {
                driver = one_line(&format!("{user}@{host}"));
                drivers.push(Driver {
                    at,
                    user: one_line(user),
                    host: one_line(host),
                    how: "started".into(),
                    runbook_changed: false,
                });
                inputs.extend(given.iter().map(|(k, v)| (one_line(k), one_line(v))));
                inputs.extend(
                    secret_inputs.iter().map(|k| (one_line(k), crate::runbook::template::MASK.into())),
                );
                alert = a.as_ref().map(|a| Alert {
                    alertname: one_line(&a.alertname),
                    fingerprint: one_line(&a.fingerprint),
                    labels: a.labels.iter().map(|(k, v)| (one_line(k), one_line(v))).collect(),
                    starts_at: a.starts_at.as_deref().map(one_line),
                });
            }
            Record::Resumed { user, host, runbook_changed } => {
                driver = one_line(&format!("{user}@{host}"));
                drivers.push(Driver {
                    at,
                    user: one_line(user),
                    host: one_line(host),
                    how: "resumed".into(),
                    runbook_changed: *runbook_changed,
                });
            }
            Record::Moved { to: Some(id), .. } => {
                let b = b!(id);
                b.visit(at);
            }
            Record::Moved { to: None, .. } => {}
            Record::StepStarted { step: id, attempt, command, check } => {
                let b = b!(id);
                b.started.get_or_insert(at);
                b.running = true;
                b.report.attempts = b.report.attempts.max(*attempt);
                if let Some(c) = command {
                    b.report.command = Some(clean(c));
                    b.logs.push(*attempt);
                }
                if let Some(c) = check {
                    b.report.check = Some(one_line(c));
                }
                if let Some((cat, by, how)) = b.confirm.take() {
                    b.act(cat, "confirmed", &by, &how);
                }
            }
            Record::StepProcess { .. } => {}
            Record::AttemptFailed { step: id, attempt, reason } => {
                b!(id).report.failed_tries.push(format!("try {attempt}: {}", one_line(reason)));
            }
            Record::CheckAttempt { step: id, passed, latency_ms, reason, observed, .. } => {
                let row = ProbeRow {
                    from: at,
                    to: at,
                    count: 1,
                    passed: *passed,
                    result: one_line(reason),
                    observed: observed.as_deref().map(one_line),
                    latency_ms: *latency_ms,
                };
                let probes = &mut b!(id).report.probes;
                match probes.last_mut() {
                    Some(last) if !last.passed && !row.passed && last.result == row.result => {
                        last.to = at;
                        last.count += 1;
                        last.latency_ms = row.latency_ms;
                        last.observed = row.observed;
                    }
                    _ => probes.push(row),
                }
            }
            Record::StepPassed { step: id, exit, duration_ms } => {
                let manual = !b!(id).running && exit.is_none();
                let b = b!(id);
                if manual {
                    let (cat, by, how) = b.confirm.take().unwrap_or((at, driver.clone(), String::new()));
                    b.act(cat, "ticked", &by, &how);
                    b.end(at, "ticked", String::new());
                } else {
                    let detail = match exit {
                        Some(code) => format!("exit {code}"),
                        None => String::new(),
                    };
                    b.end(at, "passed", detail);
                }
                b.report.exit = *exit;
                b.report.duration_ms = Some(*duration_ms);
            }
            Record::StepFailed { step: id, reason, exit, duration_ms, tolerated } => {
                let outcome = if *tolerated { "failed (tolerated)" } else { "failed" };
                let b = b!(id);
                b.end(at, outcome, one_line(reason));
                b.report.exit = *exit;
                b.report.duration_ms = Some(*duration_ms);
            }
            Record::StepSkipped { step: id, reason } => {
                let b = b!(id);
                // Steps for another environment are skipped by the runbook, not a person.
                if !reason.starts_with("only runs in") {
                    b.act(at, "skipped", &driver, &one_line(reason));
                }
                b.end(at, "skipped", one_line(reason));
            }
            Record::StepCancelled { step: id, reason } => b!(id).end(at, "cancelled", one_line(reason)),
            Record::StepInterrupted { step: id } => {
                b!(id).end(at, "interrupted", "the runner stopped while it ran; outcome unknown".into())
            }
            Record::Confirmed { step: id, how, by } => {
                let b = b!(id);
                if let Some((cat, by, how)) = b.confirm.take() {
                    b.act(cat, "confirmed", &by, &how);
                }
                // What the confirmation was for shows with the record that follows it (the
                // try, the tick or the choice).
                b.confirm = Some((at, one_line(by), one_line(how)));
            }
            Record::StepMarkedDone { step: id, note } => {
                let note = note.as_deref().map(one_line).unwrap_or_default();
                let b = b!(id);
                b.act(at, "marked done", &driver, &note);
                b.end(at, "marked done", note);
            }
            Record::Captured { step: id, name, value, secret } => {
                let value = if *secret { crate::runbook::template::MASK.into() } else { one_line(value) };
                b!(id).report.captures.push(CaptureOut { name: one_line(name), value, secret: *secret });
            }
            Record::Chose { step: id, label, goto } => {
                let b = b!(id);
                let (cat, by, how) = b.confirm.take().unwrap_or((at, driver.clone(), String::new()));
                b.act(cat, "decided", &by, &how);
                b.end(at, "decided", format!("{} → {}", one_line(label), one_line(goto)));
                summary.decisions.push(Decision {
                    at,
                    step_id: id.clone(),
                    step: b.report.title.clone(),
                    label: one_line(label),
                    goto: one_line(goto),
                    by,
                    how,
                });
            }
            Record::Note { text, step: id } => summary.notes.push(NoteOut {
                at,
                step_id: id.clone(),
                step: id.as_deref().map(title_of),
                by: driver.clone(),
                text: clean(text),
            }),
            Record::RunFinished { .. } => {}
            Record::HealthChanged { monitor, title, state, detail } => health.push(HealthChange {
                at,
                monitor: one_line(monitor),
                title: one_line(title),
                state: one_line(state),
                detail: one_line(detail),
            }),
        }
    }

    let mut reports = Vec::with_capacity(order.len());
    for id in &order {
        let Some(mut b) = steps.remove(id) else { continue };
        if let Some((cat, by, how)) = b.confirm.take() {
            b.act(cat, "confirmed", &by, &how);
        }
        let mut r = b.report;
        r.started = b.started;
        match r.outcome.as_str() {
            "failed" | "failed (tolerated)" | "cancelled" | "interrupted" => summary.failed.push(StepRef {
                at: r.ended.unwrap_or(info.started),
                step_id: r.id.clone(),
                step: r.title.clone(),
                outcome: r.outcome.clone(),
                reason: r.detail.clone(),
            }),
            "skipped" => summary.skipped.push(StepRef {
                at: r.ended.unwrap_or(info.started),
                step_id: r.id.clone(),
                step: r.title.clone(),
                outcome: r.outcome.clone(),
                reason: r.detail.clone(),
            }),
            _ => {}
        }
        if let Some(&last) = b.logs.last() {
            let log_of = |attempt: u32| info.dir.join("steps").join(format!("{id}.{attempt}.log"));
            let path = log_of(last);
            if let Some(t) = tail(&path, opts.tail) {
                r.output = Some(Output {
                    log: path.display().to_string(),
                    lines: t.lines,
                    left_out: t.lines - t.shown.len() as u64,
                    tail: t.shown,
                    earlier_logs: b.logs[..b.logs.len() - 1]
                        .iter()
                        .map(|a| log_of(*a))
                        .filter(|p| p.exists())
                        .map(|p| p.display().to_string())
                        .collect(),
                });
            }
        }
        reports.push(r);
    }

    let events = serde_json::to_value(entries).map(sanitize).unwrap_or(serde_json::Value::Null);
    Export {
        version: VERSION,
        run: info.id.clone(),
        runbook: one_line(&info.runbook),
        title: one_line(&info.title),
        environment: one_line(&info.environment),
        drivers,
        started: info.started,
        ended: info.ended,
        duration_s: info.ended.map(|end| end.as_second() - info.started.as_second()),
        outcome: info.state.to_string(),
        inputs,
        alert,
        summary,
        health,
        steps: reports,
        timeline: timeline(entries),
        events,
    }
}

/// The builder of step `id`, made (and put in `order`) the first time the step is named.
fn builder<'a>(
    order: &mut Vec<String>,
    steps: &'a mut HashMap<String, Builder>,
    id: &str,
    title_of: &dyn Fn(&str) -> String,
) -> &'a mut Builder {
    steps.entry(id.to_owned()).or_insert_with(|| {
        order.push(id.to_owned());
        Builder::new(id, title_of(id))
    })
}

/// A step's report as the journal is read.
struct Builder {
    report: StepReport,
    started: Option<jiff::Timestamp>,
    /// A try or probe is under way (its end not read yet).
    running: bool,
    /// A confirmation waiting for what it confirmed: (at, by, how).
    confirm: Option<(jiff::Timestamp, String, String)>,
    /// Tries that ran a command (each has a log).
    logs: Vec<u32>,
}

impl Builder {
    fn new(id: &str, title: String) -> Self {
        Self {
            report: StepReport {
                id: id.to_owned(),
                title,
                started: None,
                ended: None,
                outcome: "unfinished".into(),
                detail: String::new(),
                exit: None,
                duration_ms: None,
                attempts: 0,
                command: None,
                check: None,
                people: Vec::new(),
                failed_tries: Vec::new(),
                probes: Vec::new(),
                captures: Vec::new(),
                output: None,
            },
            started: None,
            running: false,
            confirm: None,
            logs: Vec::new(),
        }
    }

    fn visit(&mut self, at: jiff::Timestamp) {
        self.started.get_or_insert(at);
        self.running = false;
    }

    fn act(&mut self, at: jiff::Timestamp, what: &str, by: &str, how: &str) {
        self.report.people.push(Act { at, what: what.into(), by: by.into(), how: how.into() });
    }

    fn end(&mut self, at: jiff::Timestamp, outcome: &str, detail: String) {
        self.started.get_or_insert(at);
        self.running = false;
        self.report.ended = Some(at);
        self.report.outcome = outcome.into();
        self.report.detail = detail;
    }
}

/// Every string in a JSON value with escape sequences and control characters removed.
fn sanitize(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if s.chars().any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi(c)) {
                Value::String(clean(&s))
            } else {
                Value::String(s)
            }
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sanitize).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, sanitize(v))).collect()),
        other => other,
    }
}

/// The end of a log: its line count and its last lines, cleaned, stderr marked.
struct Tail {
    lines: u64,
    shown: Vec<OutputLine>,
}

/// Reads the last `n` lines of a step log without reading all of it into memory: lines are
/// counted in blocks, and only the last [`TAIL_BYTES`] are split. `None` when the log is
/// missing (a step that never wrote one, or a run whose logs were removed).
fn tail(path: &Path, n: usize) -> Option<Tail> {
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    // Lines before the tail block: counted, not kept.
    let mut newlines: u64 = 0;
    if start > 0 {
        let mut left = start;
        let mut buf = vec![0u8; 64 * 1024];
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            file.read_exact(&mut buf[..want]).ok()?;
            newlines += memchr::memchr_iter(b'\n', &buf[..want]).count() as u64;
            left -= want as u64;
        }
    }
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut block = Vec::with_capacity((len - start) as usize);
    file.read_to_end(&mut block).ok()?;
    newlines += memchr::memchr_iter(b'\n', &block).count() as u64;
    let lines = newlines + u64::from(block.last().is_some_and(|&b| b != b'\n'));
    if n == 0 || block.is_empty() {
        return Some(Tail { lines, shown: Vec::new() });
    }
    // Line starts within the block; the first is partial when the block starts mid-file.
    let body = block.strip_suffix(b"\n").unwrap_or(&block);
    let mut pos = body.len();
    let mut found = Vec::new();
    while found.len() < n {
        match memchr::memrchr(b'\n', &body[..pos]) {
            Some(nl) => {
                found.push((nl + 1, pos));
                pos = nl;
            }
            None => {
                // The block's first line: whole only when the block is the file's start.
                if start == 0 {
                    found.push((0, pos));
                }
                break;
            }
        }
    }
    found.reverse();
    let ranges = crate::exec::command::read_stderr_ranges(path);
    let is_stderr = |offset: u64| {
        let i = ranges.partition_point(|&(s, _)| s <= offset);
        i > 0 && {
            let (s, l) = ranges[i - 1];
            offset < s + l
        }
    };
    let shown = found
        .into_iter()
        .map(|(a, b)| {
            let mut text = crate::ansi::clean(&body[a..b]).text;
            if text.chars().any(is_bidi) {
                text.retain(|c| !is_bidi(c));
            }
            if text.chars().count() > LINE_CHARS {
                text = text.chars().take(LINE_CHARS).collect::<String>() + "…";
            }
            let stream = if is_stderr(start + a as u64) { "stderr" } else { "stdout" };
            OutputLine { stream: stream.into(), text }
        })
        .collect();
    Some(Tail { lines, shown })
}

pub fn json(info: &RunInfo, entries: &[Entry], opts: Options) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&build(info, entries, opts))
}

fn time(t: jiff::Timestamp) -> String {
    t.strftime("%H:%M:%S").to_string()
}

fn span(from: jiff::Timestamp, to: jiff::Timestamp) -> String {
    if time(from) == time(to) { time(from) } else { format!("{}–{}", time(from), time(to)) }
}

fn duration(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

fn ms(ms: u64) -> String {
    if ms < 1000 { format!("{ms} ms") } else { format!("{:.1} s", ms as f64 / 1000.0) }
}

/// Text for Markdown inline context (a heading, a list item, a table cell): one line, and
/// every character that Markdown or GFM would read as syntax escaped.
pub fn md_text(text: &str) -> String {
    let text = one_line(text);
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '!' | '~' | '&' | '#' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A code span that holds `text` whatever backticks it has; `|` escaped for table cells.
fn md_code(text: &str) -> String {
    let text = one_line(text);
    let fence = "`".repeat(longest_run(&text, '`') + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') || text.is_empty() { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}").replace('|', "\\|")
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// A fenced code block whose fence is longer than any backtick run inside.
fn md_fenced(md: &mut String, lang: &str, lines: &[String]) {
    let run = lines.iter().map(|l| longest_run(l, '`')).max().unwrap_or(0);
    let fence = "`".repeat((run + 1).max(3));
    let _ = writeln!(md, "{fence}{lang}");
    for l in lines {
        let _ = writeln!(md, "{l}");
    }
    let _ = writeln!(md, "{fence}\n");
}

/// The mark for a monitor state.
fn state_mark(state: &str) -> &'static str {
    match state {
        "up" => "✓",
        "down" => "✗",
        "degraded" => "~",
        _ => "?",
    }
}

/// The timeline as Markdown (CommonMark with GFM tables): header, summary, health, steps,
/// events.
pub fn markdown(info: &RunInfo, entries: &[Entry], opts: Options) -> String {
    render_markdown(&build(info, entries, opts))
}

/// Writes an [`Export`] as Markdown.
pub fn render_markdown(x: &Export) -> String {
    let mut md = String::with_capacity(4096 + x.steps.len() * 1024);
    let _ = writeln!(md, "# Timeline: {}\n", md_text(&x.title));
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| Runbook | {} ({}) |", md_text(&x.title), md_code(&x.runbook));
    let _ = writeln!(md, "| Run | {} |", md_code(&x.run));
    let _ = writeln!(md, "| Environment | {} |", md_text(&x.environment));
    let drivers: Vec<String> = x
        .drivers
        .iter()
        .map(|d| {
            let who = md_text(&format!("{}@{}", d.user, d.host));
            match d.how.as_str() {
                "started" => format!("{who} (started)"),
                _ => format!(
                    "{who} (took over {} UTC{})",
                    time(d.at),
                    if d.runbook_changed { "; the runbook had changed" } else { "" }
                ),
            }
        })
        .collect();
    let _ = writeln!(md, "| Driven by | {} |", drivers.join(", then "));
    let _ = writeln!(md, "| Started | {} |", x.started.strftime("%Y-%m-%d %H:%M:%S UTC"));
    match x.ended {
        Some(end) => {
            let _ = writeln!(md, "| Ended | {} |", end.strftime("%Y-%m-%d %H:%M:%S UTC"));
            let _ = writeln!(md, "| Duration | {} |", duration(x.duration_s.unwrap_or(0)));
        }
        None => {
            let _ = writeln!(md, "| Ended | not finished |");
        }
    }
    let _ = writeln!(md, "| Outcome | **{}** |", md_text(&x.outcome));
    let inputs: Vec<String> = x.inputs.iter().map(|(k, v)| md_code(&format!("{k}={v}"))).collect();
    let _ =
        writeln!(md, "| Inputs | {} |", if inputs.is_empty() { "none".into() } else { inputs.join(", ") });
    if let Some(a) = &x.alert {
        let labels: Vec<String> = a.labels.iter().map(|(k, v)| md_code(&format!("{k}={v}"))).collect();
        let _ = writeln!(
            md,
            "| Alert | **{}** (fingerprint {}){}{} |",
            md_text(&a.alertname),
            md_code(&a.fingerprint),
            a.starts_at.as_ref().map(|s| format!(", firing since {}", md_text(s))).unwrap_or_default(),
            if labels.is_empty() { String::new() } else { format!("; {}", labels.join(", ")) }
        );
    }
    md.push('\n');

    let _ = writeln!(md, "## Summary\n");
    let s = &x.summary;
    if s.failed.is_empty() && s.skipped.is_empty() && s.decisions.is_empty() && s.notes.is_empty() {
        let _ = writeln!(md, "No step failed or was skipped; no choices; no notes.\n");
    } else {
        for f in &s.failed {
            let _ = writeln!(
                md,
                "- **{}:** {} at {} UTC: {}",
                capitalize(&f.outcome),
                md_text(&f.step),
                time(f.at),
                md_text(&f.reason)
            );
        }
        for f in &s.skipped {
            let _ = writeln!(
                md,
                "- **Skipped:** {} at {} UTC: {}",
                md_text(&f.step),
                time(f.at),
                md_text(&f.reason)
            );
        }
        for d in &s.decisions {
            let _ = writeln!(
                md,
                "- **Decided** at {}: {} → {} (by {}{}, {} UTC)",
                md_text(&d.step),
                md_text(&d.label),
                md_code(&d.goto),
                md_text(&d.by),
                if d.how.is_empty() { String::new() } else { format!(", {}", md_text(&d.how)) },
                time(d.at)
            );
        }
        for n in &s.notes {
            let on = n.step.as_ref().map(|t| format!(" on {}", md_text(t))).unwrap_or_default();
            let _ =
                writeln!(md, "- **Note**{on} ({} UTC, {}): {}", time(n.at), md_text(&n.by), md_text(&n.text));
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## Health\n");
    if x.health.is_empty() {
        let _ = writeln!(md, "No monitor of the environment reported a state during the run.\n");
    } else {
        let _ = writeln!(md, "| Time (UTC) | Monitor | State | Detail |\n|---|---|---|---|");
        for h in &x.health {
            let _ = writeln!(
                md,
                "| {} | {} ({}) | {} {} | {} |",
                time(h.at),
                md_text(&h.title),
                md_code(&h.monitor),
                state_mark(&h.state),
                md_text(&h.state),
                md_text(&h.detail)
            );
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## Steps\n");
    if x.steps.is_empty() {
        let _ = writeln!(md, "The run reached no step.\n");
    }
    for (n, st) in x.steps.iter().enumerate() {
        step_markdown(&mut md, n + 1, st);
    }

    let _ = writeln!(md, "## Events (UTC)\n");
    let _ = writeln!(md, "| Time | Step | Event | Details |\n|---|---|---|---|");
    for r in &x.timeline {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            time(r.at),
            r.step.as_deref().map(md_text).unwrap_or_default(),
            md_text(&r.event),
            md_text(&r.details)
        );
    }
    md
}

fn capitalize(text: &str) -> String {
    let mut c = text.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn step_markdown(md: &mut String, n: usize, st: &StepReport) {
    let _ = writeln!(md, "### {n}. {}\n", md_text(&st.title));
    let mark = match st.outcome.as_str() {
        "passed" | "ticked" | "marked done" | "decided" => "✓ ",
        "failed" | "failed (tolerated)" | "cancelled" | "interrupted" => "✗ ",
        "skipped" => "↷ ",
        _ => "",
    };
    let mut outcome = format!("{mark}**{}**", md_text(&st.outcome));
    if !st.detail.is_empty() {
        let _ = write!(outcome, ": {}", md_text(&st.detail));
    }
    if st.attempts > 1 {
        let _ = write!(outcome, " (after {} tries)", st.attempts);
    }
    let _ = writeln!(md, "- Step {} · {outcome}", md_code(&st.id));
    let mut when = String::new();
    if let Some(s) = st.started {
        let _ = write!(when, "started {} UTC", time(s));
    }
    if let Some(e) = st.ended {
        let _ = write!(when, "{}ended {} UTC", if when.is_empty() { "" } else { ", " }, time(e));
    }
    if let Some(d) = st.duration_ms.filter(|d| *d > 0) {
        let _ = write!(when, " ({})", ms(d));
    }
    if !when.is_empty() {
        let _ = writeln!(md, "- {}", capitalize(&when));
    }
    for p in &st.people {
        let how = if p.how.is_empty() { String::new() } else { format!(": {}", md_text(&p.how)) };
        let _ = writeln!(
            md,
            "- {} by {} at {} UTC{how}",
            capitalize(&md_text(&p.what)),
            md_text(&p.by),
            time(p.at)
        );
    }
    for t in &st.failed_tries {
        let _ = writeln!(md, "- Failed {}", md_text(t));
    }
    for c in &st.captures {
        let _ = writeln!(md, "- Captured {} = {}", md_code(&c.name), md_code(&c.value));
    }
    if let Some(c) = &st.check {
        let _ = writeln!(md, "- Check: {}", md_code(c));
    }
    md.push('\n');
    if let Some(c) = &st.command {
        let lines: Vec<String> = c.lines().map(str::to_owned).collect();
        md_fenced(md, "sh", &lines);
    }
    if !st.probes.is_empty() {
        let _ = writeln!(md, "| Time (UTC) | Probe | Result |\n|---|---|---|");
        for p in &st.probes {
            let mut result = md_text(&p.result);
            if let Some(o) = &p.observed {
                let _ = write!(result, " ({})", md_text(o));
            }
            if p.count > 1 {
                let _ = write!(result, " ×{}", p.count);
            }
            let _ = writeln!(
                md,
                "| {} | {} | {result} |",
                span(p.from, p.to),
                if p.passed { "✓ passed" } else { "✗ failed" },
            );
        }
        md.push('\n');
    }
    if let Some(o) = st.output.as_ref().filter(|o| o.lines == 0) {
        let _ = writeln!(md, "No output; the log: {}\n", md_code(&o.log));
    }
    if let Some(o) = st.output.as_ref().filter(|o| o.lines > 0) {
        let stderr = o.tail.iter().any(|l| l.stream == "stderr");
        let what = if o.left_out == 0 {
            format!("all {} lines", o.lines)
        } else {
            format!("the last {} of {} lines, {} left out", o.tail.len(), o.lines, o.left_out)
        };
        let _ = writeln!(
            md,
            "Output ({what}{}); the full log: {}\n",
            if stderr { "; stderr lines begin with `[stderr]`" } else { "" },
            md_code(&o.log)
        );
        if !o.tail.is_empty() {
            let lines: Vec<String> = o
                .tail
                .iter()
                .map(|l| if l.stream == "stderr" { format!("[stderr] {}", l.text) } else { l.text.clone() })
                .collect();
            md_fenced(md, "text", &lines);
        }
        if !o.earlier_logs.is_empty() {
            let logs: Vec<String> = o.earlier_logs.iter().map(|l| md_code(l)).collect();
            let _ = writeln!(md, "Logs of earlier tries: {}\n", logs.join(", "));
        }
    }
}

/// The timeline as rows: time (UTC), step, event, details. Shared by exports and the TUI.
/// Steps are named by their titles, as people read them.
pub fn rows(entries: &[Entry]) -> Vec<[String; 4]> {
    timeline(entries)
        .into_iter()
        .map(|r| {
            let step = r.step.map(|s| crate::text::escape_controls(&s).into_owned()).unwrap_or_default();
            [time(r.at), step, r.event, crate::text::escape_controls(&r.details).into_owned()]
        })
        .collect()
}

/// One row per event that a timeline shows, its step named by title (id kept). Identical
/// consecutive probe failures of a step are one row with a count and a time span.
pub fn timeline(entries: &[Entry]) -> Vec<TimelineRow> {
    let titles = titles(entries);
    let mut rows: Vec<TimelineRow> = Vec::new();
    // The row of the last probe failure per step: (row index, reason, count, first time).
    let mut open: HashMap<String, (usize, String, u32, jiff::Timestamp)> = HashMap::new();
    for e in entries {
        if let Record::CheckAttempt { step, passed: false, reason, latency_ms, .. } = &e.record {
            if let Some((i, r, count, first)) = open.get_mut(step)
                && r == reason
            {
                *count += 1;
                rows[*i].details =
                    format!("{} ×{count}, {}; last in {latency_ms} ms", one_line(reason), span(*first, e.at));
                continue;
            }
            let title = titles.get(step).cloned().unwrap_or_else(|| step.clone());
            open.insert(step.clone(), (rows.len(), reason.clone(), 1, e.at));
            rows.push(TimelineRow {
                at: e.at,
                step_id: Some(step.clone()),
                step: Some(one_line(&title)),
                event: "probe failed".into(),
                details: format!("{} in {latency_ms} ms", one_line(reason)),
            });
            continue;
        }
        let Some((step, event, details)) = describe(&e.record) else { continue };
        if !step.is_empty() {
            open.remove(&step);
        }
        let id = (!step.is_empty()).then_some(step);
        let title = id.as_ref().map(|s| one_line(titles.get(s).map_or(s.as_str(), String::as_str)));
        rows.push(TimelineRow {
            at: e.at,
            step_id: id,
            step: title,
            event: event.into(),
            details: one_line(&details),
        });
    }
    rows
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
                .map(|c| {
                    let mut lines = c.lines();
                    let first = lines.next().unwrap_or_default().to_owned();
                    match lines.count() {
                        0 => format!("$ {first}"),
                        more => format!("$ {first} … ({more} more lines)"),
                    }
                })
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
                None if *duration_ms == 0 => "done".into(),
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
        Record::Captured { step, name, value, secret } => {
            d(step, "captured", format!("{name} = {}", if *secret { "••••" } else { value }))
        }
        Record::Chose { step, label, goto } => d(step, "chose", format!("{label} → {goto}")),
        Record::Note { text, step } => d(step.as_deref().unwrap_or(""), "note", text.clone()),
        Record::RunFinished { outcome } => d("", "run finished", outcome.to_string()),
        Record::HealthChanged { monitor, title, state, detail } => d(
            "",
            "health",
            format!(
                "{title} ({monitor}): {state}{}",
                if detail.is_empty() { String::new() } else { format!(", {detail}") }
            ),
        ),
    }
}

/// Where `runbook export --output` and the TUI's export key write by default: the data
/// directory's `exports` folder, named after the run.
pub fn default_path(data_dir: &Path, run_id: &str, ext: &str) -> PathBuf {
    data_dir.join("exports").join(format!("{run_id}.{ext}"))
}

/// Writes an export to `path`, readable only by its owner (the data directory's `exports`
/// folder is created 0700 when that is where it goes).
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        crate::journal::create_private_dir(parent)?;
    }
    let mut f = crate::journal::create_private_file(path)?;
    // An existing file keeps its mode on open: make it private too.
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Outcome;

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn entry(secs: i64, record: Record) -> Entry {
        Entry { at: at(secs), record }
    }

    fn info(dir: &Path) -> RunInfo {
        RunInfo {
            id: "20261130T000000Z-x-abcd".into(),
            runbook: "x".into(),
            title: "A `title` | with *marks* <b>".into(),
            environment: "prod".into(),
            started: at(0),
            ended: Some(at(100)),
            state: crate::journal::RunState::Ended(crate::run::Outcome::Succeeded),
            done: 0,
            steps: None,
            driver: None,
            problems: vec![],
            source: None,
            dir: dir.to_path_buf(),
        }
    }

    fn started() -> Record {
        Record::RunStarted {
            runbook: "x".into(),
            title: "T".into(),
            content_hash: String::new(),
            environment: "prod".into(),
            inputs: [("service".to_owned(), "api".to_owned())].into(),
            secret_inputs: vec!["token".into()],
            user: "alice".into(),
            host: "jump".into(),
            source: None,
            steps: Some(2),
            titles: [("wait".to_owned(), "Wait for it".to_owned())].into(),
            alert: Some(Box::new(crate::run::AlertOrigin {
                alertname: "ApiDown".into(),
                fingerprint: "f00d".into(),
                labels: [("severity".to_owned(), "page".to_owned())].into(),
                starts_at: Some("2026-11-30T00:00:00Z".into()),
            })),
        }
    }

    fn probe(secs: i64, attempt: u32, passed: bool, reason: &str) -> Entry {
        entry(
            secs,
            Record::CheckAttempt {
                step: "wait".into(),
                attempt,
                passed,
                latency_ms: 3,
                reason: reason.into(),
                observed: None,
            },
        )
    }

    #[test]
    fn identical_consecutive_probe_failures_are_one_row_with_a_count_and_a_span() {
        let mut entries = vec![entry(0, started())];
        entries.push(entry(
            1,
            Record::StepStarted {
                step: "wait".into(),
                attempt: 1,
                command: None,
                check: Some("http://x".into()),
            },
        ));
        for i in 0..10 {
            entries.push(probe(1 + i, i as u32 + 1, false, "HTTP 503"));
        }
        entries.push(probe(11, 11, false, "connection refused"));
        entries.push(probe(12, 12, true, "HTTP 200"));
        entries.push(probe(13, 13, true, "HTTP 200"));
        entries.push(entry(13, Record::StepPassed { step: "wait".into(), exit: None, duration_ms: 12_000 }));
        let tmp = tempfile::tempdir().unwrap();
        let x = build(&info(tmp.path()), &entries, Options::default());
        let p = &x.steps[0].probes;
        assert_eq!(p.len(), 4, "{p:?}");
        assert_eq!((p[0].count, p[0].result.as_str(), p[0].from, p[0].to), (10, "HTTP 503", at(1), at(10)));
        assert_eq!((p[1].count, p[2].count, p[3].count), (1, 1, 1), "passes are listed one by one");
        let md = render_markdown(&x);
        assert!(md.contains("| ✗ failed | HTTP 503 ×10 |"), "{md}");
        let rows: Vec<TimelineRow> =
            timeline(&entries).into_iter().filter(|r| r.event == "probe failed").collect();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(rows[0].details.starts_with("HTTP 503 ×10"), "{rows:?}");
    }

    #[test]
    fn the_header_holds_inputs_masked_the_alert_and_every_driver() {
        let entries = vec![
            entry(0, started()),
            entry(5, Record::Resumed { user: "bob".into(), host: "laptop".into(), runbook_changed: false }),
            entry(6, Record::Note { text: "handed over".into(), step: None }),
            entry(100, Record::RunFinished { outcome: Outcome::Succeeded }),
        ];
        let tmp = tempfile::tempdir().unwrap();
        let x = build(&info(tmp.path()), &entries, Options::default());
        assert_eq!(x.inputs["token"], "••••");
        assert_eq!(x.inputs["service"], "api");
        assert_eq!(x.drivers.len(), 2);
        assert_eq!(x.summary.notes[0].by, "bob@laptop", "a note is by who drove then");
        let md = render_markdown(&x);
        assert!(md.contains("| Driven by | alice@jump (started), then bob@laptop (took over"), "{md}");
        assert!(md.contains("| Alert | **ApiDown** (fingerprint `f00d`), firing since"), "{md}");
        assert!(md.contains("`token=••••`"), "{md}");
    }

    #[test]
    fn hostile_text_stays_text_in_markdown() {
        let tmp = tempfile::tempdir().unwrap();
        let entries = vec![
            entry(0, started()),
            entry(
                1,
                Record::StepStarted {
                    step: "wait".into(),
                    attempt: 1,
                    command: Some("echo ```\necho \u{1b}]0;title\u{7}done".into()),
                    check: None,
                },
            ),
            entry(
                2,
                Record::StepFailed {
                    step: "wait".into(),
                    reason: "exit 1 | <img src=x> [a](b) \u{202e}txt.exe".into(),
                    exit: Some(1),
                    duration_ms: 5,
                    tolerated: false,
                },
            ),
        ];
        let md = markdown(&info(tmp.path()), &entries, Options::default());
        assert!(
            md.contains("````sh\necho ```\necho done\n````"),
            "a fence longer than the backticks inside: {md}"
        );
        let mut opts = pulldown_cmark::Options::empty();
        opts.insert(pulldown_cmark::Options::ENABLE_TABLES);
        let mut heading = String::new();
        let mut in_h1 = false;
        for ev in pulldown_cmark::Parser::new_ext(&md, opts) {
            match ev {
                pulldown_cmark::Event::Html(h) | pulldown_cmark::Event::InlineHtml(h) => {
                    panic!("HTML got through: {h}")
                }
                pulldown_cmark::Event::Start(pulldown_cmark::Tag::Link { .. }) => {
                    panic!("a link got through")
                }
                pulldown_cmark::Event::Start(pulldown_cmark::Tag::Heading {
                    level: pulldown_cmark::HeadingLevel::H1,
                    ..
                }) => in_h1 = true,
                pulldown_cmark::Event::End(pulldown_cmark::TagEnd::Heading(_)) => in_h1 = false,
                pulldown_cmark::Event::Text(t) if in_h1 => heading.push_str(&t),
                _ => {}
            }
        }
        assert_eq!(heading, "Timeline: A `title` | with *marks* <b>");
        assert!(!md.contains('\u{1b}'));
        assert!(!md.contains('\u{202e}'), "no bidi override reaches the export");
    }

    #[test]
    fn the_tail_counts_every_line_and_marks_stderr() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("s.1.log");
        let mut bytes = Vec::new();
        for i in 1..=100 {
            bytes.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        let err_at = bytes.len();
        bytes.extend_from_slice(b"oops \x1b[31mred\x1b[0m\n");
        let err_len = bytes.len() - err_at;
        bytes.extend_from_slice(b"no newline at the end");
        std::fs::write(&log, &bytes).unwrap();
        std::fs::write(crate::exec::command::stderr_ranges_path(&log), format!("{err_at} {err_len}\n"))
            .unwrap();
        let t = tail(&log, 3).unwrap();
        assert_eq!(t.lines, 102);
        let shown: Vec<(&str, &str)> = t.shown.iter().map(|l| (l.stream.as_str(), l.text.as_str())).collect();
        assert_eq!(
            shown,
            [("stdout", "line 100"), ("stderr", "oops red"), ("stdout", "no newline at the end")]
        );
        // A log bigger than the tail block: lines before it are counted, not read whole.
        let big = tmp.path().join("b.1.log");
        let line = "x".repeat(99) + "\n";
        std::fs::write(&big, line.repeat(10_000)).unwrap();
        let t = tail(&big, 20).unwrap();
        assert_eq!((t.lines, t.shown.len()), (10_000, 20));
        assert!(tail(&tmp.path().join("missing.log"), 5).is_none());
    }

    #[test]
    fn old_and_new_journal_lines_read_and_replay() {
        let line = r#"{"at":"2026-11-30T00:00:00Z","type":"health_changed","monitor":"api","title":"API","state":"down","detail":"HTTP 503"}"#;
        let e: Entry = serde_json::from_str(line).unwrap();
        assert!(matches!(e.record, Record::HealthChanged { ref state, .. } if state == "down"));
        let x = timeline(&[e]);
        assert_eq!(x[0].details, "API (api): down, HTTP 503");
    }
}
