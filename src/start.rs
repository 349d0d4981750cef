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

/// Finds a runbook by id; a broken one is an error listing its diagnostics.
pub fn find_runbook<'a>(library: &'a Library, id: &str) -> Result<(&'a Loaded, Arc<Runbook>), UsageError> {
    let Some(loaded) = library.get(id) else {
        let ids = library.runbooks.iter().map(|l| l.id.as_str());
        let hint = did_you_mean(id, ids).map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default();
        return Err(usage(format!("no runbook '{id}'{hint}: `runbook list` shows them")));
    };
    match &loaded.runbook {
        Some(r) => Ok((loaded, Arc::clone(r))),
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
    let Some(envs) = library.environments_for(&runbook.id) else {
        return Err(usage(
            "no environments.yaml was found on the runbooks path, so there is no environment to run in",
        ));
    };
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
    pub journal: Journal,
    pub run_id: String,
    /// The runbook file changed since the run began (steps are matched by id).
    pub changed: bool,
    /// What the driver does first: wait at the current step, or begin.
    pub effects: Vec<Effect>,
}

/// Replays a run's journal and records that it resumed. A step that was running when the
/// process died is marked interrupted and will run again. Secret inputs are not in the
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
    let entries = journal::read(&info.dir)?;
    let Some(Entry { record: Record::RunStarted { inputs, content_hash, environment, .. }, .. }) =
        entries.first()
    else {
        return Err(usage(format!("run {} has no start record", info.id)).into());
    };
    let (loaded, runbook) = find_runbook(library, &info.runbook)?;
    let env = pick_environment(library, &runbook, Some(environment), vars)?;
    let mut all_inputs = inputs.clone();
    all_inputs.extend(self::inputs(&runbook, given_inputs));
    let mut run = Run::new(runbook, env, &all_inputs).map_err(|e| usage(e.to_string()))?.replay(&entries);
    let changed = &loaded.content_hash != content_hash;
    let mut journal = Journal::open(&info.dir)?;
    if run.outcome().is_some() {
        return Ok(Resumed { run, journal, run_id: info.id, changed, effects: vec![] });
    }
    let (user, host) = journal::user_and_host();
    let mut first = vec![Record::Resumed { user, host, runbook_changed: changed }];
    if let Some(i) = run.cursor()
        && run.steps()[i].status == Status::Running
    {
        first.push(Record::StepInterrupted { step: run.runbook().steps[i].id.clone() });
    }
    for r in first {
        journal.append(r.clone())?;
        run.record(&r);
    }
    let effects = match run.cursor() {
        Some(i) => {
            let step = run.runbook().steps[i].id.clone();
            let why = match (&run.steps()[i].status, &run.runbook().steps[i].action) {
                (Status::Failed { .. } | Status::Cancelled(_), _) => Waiting::Failed,
                (_, Action::Choice(_)) => Waiting::Choice,
                _ => Waiting::Ready,
            };
            vec![Effect::NeedsHuman { step, why }]
        }
        None => run.apply(Event::Begin),
    };
    Ok(Resumed { run, journal, run_id: info.id, changed, effects })
}
