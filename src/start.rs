//! Getting a run ready from what the user typed: which runbook, which environment, which
//! inputs. Shared by the headless runner and the TUI. Every error here is a usage error
//! (exit 2) with a sentence that says what to type instead.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::journal::{self, Journal};
use crate::run::{Effect, Entry, Event, Record, Run, Status, Waiting};
use crate::runbook::Action;

use crate::runbook::diagnostic::did_you_mean;
use crate::runbook::load::{Library, Loaded};
use crate::runbook::{Environment, Runbook};

/// A problem with what the user asked for.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// Finds a runbook by id and loads it (that one file); a broken one is an error listing its
/// diagnostics.
pub fn find_runbook(library: &Library, id: &str) -> Result<(Loaded, Arc<Runbook>), UsageError> {
    let loaded = library.open(id).map_err(|e| usage(e.to_string()))?;
    usable(loaded, id)
}

/// The runbook of a loaded file, or its errors.
fn usable(loaded: Loaded, id: &str) -> Result<(Loaded, Arc<Runbook>), UsageError> {
    match &loaded.runbook {
        Some(r) => {
            let r = Arc::clone(r);
            Ok((loaded, r))
        }
        None => {
            let lines: Vec<String> = loaded
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.display(&loaded.display).to_string())
                .collect();
            Err(usage(format!("runbook '{id}' is invalid:\n{}", lines.join("\n"))))
        }
    }
}

/// The environment to run in: the one named, else the default, else the only one.
/// `overrides` replace environment vars (`--var name=value`).
pub fn pick_environment(
    library: &Library,
    runbook: &Runbook,
    name: Option<&str>,
    overrides: &BTreeMap<String, String>,
) -> Result<Environment, UsageError> {
    let envs = library.environments_checked(Some(&runbook.id)).map_err(usage)?;
    let names: Vec<&str> = envs.names().collect();
    let chosen = match name {
        Some(n) => n.to_owned(),
        None => match (&envs.default, names.as_slice()) {
            (Some(d), _) => d.clone(),
            (None, [only]) => (*only).to_owned(),
            _ => return Err(usage(format!("pick an environment with --env (one of: {})", names.join(", ")))),
        },
    };
    let Some(env) = envs.get(&chosen) else {
        let hint = did_you_mean(&chosen, names.iter().copied())
            .map(|s| format!("did you mean '{s}'? "))
            .unwrap_or_default();
        return Err(usage(format!("no environment '{chosen}' ({hint}known: {})", names.join(", "))));
    };
    if !runbook.allows_environment(&env.name) {
        let allowed = runbook.environments.as_ref().map(|l| l.join(", ")).unwrap_or_default();
        return Err(usage(format!(
            "runbook '{}' does not run in '{}' (it allows: {allowed})",
            runbook.id, env.name
        )));
    }
    let mut env = env.clone();
    for (k, v) in overrides {
        env.vars.insert(k.clone(), v.clone());
    }
    Ok(env)
}

/// The runbooks directory a loaded runbook came from, as an absolute path; none for a
/// bundled one (the binary always has those).
pub fn source_of(library: &Library, loaded: &Loaded) -> Option<String> {
    match library.roots.get(loaded.root)? {
        crate::runbook::load::Root::Dir(dir) => {
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
            Some(dir.to_string_lossy().into_owned())
        }
        crate::runbook::load::Root::Bundled => None,
    }
}

/// Parses repeated `name=value` flags.
pub fn pairs(list: &[String], flag: &str) -> Result<BTreeMap<String, String>, UsageError> {
    let mut out = BTreeMap::new();
    for item in list {
        let Some((k, v)) = item.split_once('=') else {
            return Err(usage(format!("{flag} takes NAME=VALUE, got '{item}'")));
        };
        out.insert(k.trim().to_owned(), v.to_owned());
    }
    Ok(out)
}

/// Input values from flags, then from `RUNBOOK_INPUT_<NAME>` environment variables (the way
/// to pass a secret without putting it on the command line).
pub fn inputs(runbook: &Runbook, flags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = flags.clone();
    for input in &runbook.inputs {
        if out.contains_key(&input.name) {
            continue;
        }
        if let Ok(v) = std::env::var(format!("RUNBOOK_INPUT_{}", input.name.to_ascii_uppercase())) {
            out.insert(input.name.clone(), v);
        }
    }
    out
}

/// A run picked up again from its journal, ready to go on.
#[derive(Debug)]
pub struct Resumed {
    pub run: Run,
    /// The monitors of the run's environment (from the environments file beside its
    /// runbook), for the health it journals while it goes.
    pub monitors: Vec<crate::runbook::Monitor>,
    pub journal: Journal,
    pub run_id: String,
    /// The runbook file changed since the run began (steps are matched by id).
    pub changed: bool,
    /// What the driver does first: wait at the current step, or begin.
    pub effects: Vec<Effect>,
    /// Damaged journal records that were left out, with their line numbers.
    pub problems: Vec<String>,
    /// The step that was running when the last runner stopped, and its processes still
    /// live: the driver settles it first ([`settle_still_running`]).
    pub still_running: Option<StillRunning>,
}

/// A step whose processes outlived the runner that started them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StillRunning {
    pub step: String,
    /// The token its processes carry (`RUN/STEP/ATTEMPT`).
    pub token: String,
    pub pids: Vec<i32>,
}

/// What to do with a step that is still running from a runner that died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StillRunningChoice {
    /// End its processes (TERM, then KILL); the step becomes interrupted.
    Stop,
    /// Leave its processes alone; the step becomes interrupted and a person marks it.
    Leave,
}

/// Replays a run's journal and records that it resumed, holding the run's lease (a run that
/// another live process drives is refused). A step that was running when the runner died is
/// marked interrupted: its outcome is unknown, so it waits for a decision instead of running
/// again; if its processes still live, [`Resumed::still_running`] says so and nothing is
/// journaled about the step until the driver settles it. Secret inputs are not in the
/// journal: they come again from `--input` or `RUNBOOK_INPUT_<NAME>`.
pub fn resume(
    library: &Library,
    data_dir: &Path,
    which: &str,
    expected_runbook: Option<&str>,
    given_inputs: &BTreeMap<String, String>,
    vars: &BTreeMap<String, String>,
) -> anyhow::Result<Resumed> {
    let info = journal::resolve(data_dir, which).map_err(|e| usage(e.to_string()))?;
    if let Some(id) = expected_runbook
        && id != info.runbook
    {
        return Err(usage(format!("run {} is of runbook '{}', not '{id}'", info.id, info.runbook)).into());
    }
    // The lease first: two resumes at once must not both read, then both drive.
    let mut journal = match Journal::open(&info.dir) {
        Ok(j) => j,
        Err(e) => match e.downcast::<journal::LeaseHeld>() {
            Ok(held) => return Err(usage(held.to_string()).into()),
            Err(e) => return Err(e),
        },
    };
    let journal::Read { entries, problems } = journal::read_all(&info.dir)?;
    let Some(Entry {
        record: Record::RunStarted { inputs, content_hash, environment, secret_inputs, .. },
        ..
    }) = entries.first()
    else {
        return Err(
            usage(format!("run {} has no readable start record: it cannot be resumed", info.id)).into()
        );
    };
    let (from_source, loaded) = runbook_of_run(library, &info)?;
    let library = from_source.as_ref().unwrap_or(library);
    let (loaded, runbook) = usable(loaded, &info.runbook)?;
    let env = pick_environment(library, &runbook, Some(environment), vars)?;
    let all_monitors = library.environments_for(&runbook.id).map(|e| e.monitors.clone()).unwrap_or_default();
    let monitors: Vec<crate::runbook::Monitor> =
        crate::health::monitors_for(&all_monitors, &env.name, runbook.monitors.as_deref())
            .into_iter()
            .cloned()
            .collect();
    let mut all_inputs = inputs.clone();
    all_inputs.extend(self::inputs(&runbook, given_inputs));
    if let Some(missing) = secret_inputs.iter().find(|n| !all_inputs.contains_key(*n)) {
        return Err(usage(format!(
            "secret input '{missing}' is not kept in the journal: give it again to resume, as the environment variable RUNBOOK_INPUT_{} (or --input {missing}=…)",
            missing.to_ascii_uppercase()
        ))
        .into());
    }
    let mut run = Run::new(runbook, env, &all_inputs).map_err(|e| usage(e.to_string()))?.replay(&entries);
    let changed = &loaded.content_hash != content_hash;
    if run.outcome().is_some() {
        return Ok(Resumed {
            run,
            monitors,
            journal,
            run_id: info.id,
            changed,
            effects: vec![],
            problems,
            still_running: None,
        });
    }
    let (user, host) = journal::user_and_host();
    let resumed = Record::Resumed { user, host, runbook_changed: changed };
    journal.append(resumed.clone())?;
    run.record(&resumed);
    let mut still_running = None;
    if let Some(i) = run.cursor()
        && run.steps()[i].status == Status::Running
    {
        let step = run.runbook().steps[i].id.clone();
        let token = format!("{}/{step}/{}", info.id, run.steps()[i].attempts);
        let pids = crate::exec::tree::processes(&token);
        if pids.is_empty() {
            interrupt(&mut run, &mut journal, &step, None)?;
        } else {
            still_running = Some(StillRunning { step, token, pids });
        }
    }
    let effects = if still_running.is_some() { vec![] } else { first_effects(&mut run) };
    Ok(Resumed { run, monitors, journal, run_id: info.id, changed, effects, problems, still_running })
}

/// The runbook of a run: from the directory the run started from, when it is still there
/// (the search path here may not have it, or may shadow it with another of the same id), its
/// file read alone (`ID.yaml` there, when that is the runbook). Also the library to pick the
/// environment from: that directory first, when it was used.
fn runbook_of_run(
    library: &Library,
    info: &journal::RunInfo,
) -> Result<(Option<Library>, Loaded), UsageError> {
    match &info.source {
        Some(dir)
            if dir.is_dir() && !library.roots.contains(&crate::runbook::load::Root::Dir(dir.clone())) =>
        {
            let from_source = library.with_first_root(dir.clone());
            let loaded = from_source.open_by_path(0, &info.runbook).map_err(|e| usage(e.to_string()))?;
            Ok((Some(from_source), loaded))
        }
        _ => Ok((None, library.open(&info.runbook).map_err(|e| usage(e.to_string()))?)),
    }
}

/// A run someone else drives, for watching (`runbook attach`): its state from the journal,
/// without its lease. Secret inputs are not known here and show as `‹name›`.
#[derive(Debug)]
pub struct Watched {
    pub run: Run,
    pub info: journal::RunInfo,
    /// How many journal entries the run was built from (a follower reads on from there).
    pub seen: usize,
}

pub fn watch(
    library: &Library,
    data_dir: &Path,
    which: &str,
    vars: &BTreeMap<String, String>,
) -> anyhow::Result<Watched> {
    let info = journal::resolve(data_dir, which).map_err(|e| usage(e.to_string()))?;
    let entries = journal::read_all(&info.dir)?.entries;
    let Some(Entry { record: Record::RunStarted { inputs, environment, .. }, .. }) = entries.first() else {
        return Err(
            usage(format!("run {} has no readable start record: it cannot be watched", info.id)).into()
        );
    };
    let hint = |e: UsageError| {
        usage(format!(
            "{e}. Watching a run needs its runbook here; `runbook attach {} --follow` works without it",
            info.short_id()
        ))
    };
    let (from_source, loaded) = runbook_of_run(library, &info).map_err(hint)?;
    let library = from_source.as_ref().unwrap_or(library);
    let (_, runbook) = usable(loaded, &info.runbook).map_err(hint)?;
    let env = pick_environment(library, &runbook, Some(environment), vars)?;
    let run = Run::preview_only(runbook, env, inputs).map_err(|e| usage(e.to_string()))?.replay(&entries);
    Ok(Watched { run, seen: entries.len(), info })
}

/// Settles a step left running by a dead runner: stops its processes or leaves them, then
/// marks it interrupted, so that a person decides what happens to it next.
pub fn settle_still_running(resumed: &mut Resumed, choice: StillRunningChoice) -> anyhow::Result<()> {
    let Some(still) = resumed.still_running.take() else { return Ok(()) };
    let note = match choice {
        StillRunningChoice::Stop => {
            crate::exec::tree::stop(0, &still.token, crate::exec::command::KILL_GRACE);
            format!("the processes the previous runner left running were stopped (pids {:?})", still.pids)
        }
        StillRunningChoice::Leave => {
            format!("the processes the previous runner left running were left alone (pids {:?})", still.pids)
        }
    };
    interrupt(&mut resumed.run, &mut resumed.journal, &still.step, Some(note))?;
    resumed.effects = first_effects(&mut resumed.run);
    Ok(())
}

fn interrupt(run: &mut Run, journal: &mut Journal, step: &str, note: Option<String>) -> anyhow::Result<()> {
    let mut records = vec![Record::StepInterrupted { step: step.to_owned() }];
    if let Some(text) = note {
        records.push(Record::Note { text, step: Some(step.to_owned()) });
    }
    for r in records {
        journal.append(r.clone())?;
        run.record(&r);
    }
    Ok(())
}

/// Where a resumed run picks up: waiting at its current step, or from the beginning.
fn first_effects(run: &mut Run) -> Vec<Effect> {
    match run.cursor() {
        Some(i) => {
            let step = run.runbook().steps[i].id.clone();
            let why = match (&run.steps()[i].status, &run.runbook().steps[i].action) {
                (Status::Failed { .. }, _) => Waiting::Failed,
                (Status::Cancelled(_), _) => Waiting::Cancelled,
                (Status::Interrupted, _) => Waiting::Interrupted,
                (_, Action::Choice(_)) => Waiting::Choice,
                _ => Waiting::Ready,
            };
            vec![Effect::NeedsHuman { step, why }]
        }
        None => run.apply(Event::Begin),
    }
}
