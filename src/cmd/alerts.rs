//! `runbook alerts`: the firing alerts of an environment's Alertmanager and the runbook that
//! answers each; and `runbook run --alert`, which starts that runbook with inputs from the
//! alert's labels.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use crate::alerts::{self, Alert, Matcher};
use crate::cli::Format;
use crate::run::record::AlertOrigin;
use crate::runbook::load::{self, Root};
use crate::runbook::{Environment, Environments};
use crate::text::escape_controls;

/// The environments of the search path (the first `environments.yaml`), without loading
/// every runbook.
fn environments(roots: &[Root]) -> Result<Environments, String> {
    let Some(file) = roots.iter().find_map(load::environments_file) else {
        return Err("no environments.yaml was found on the runbooks path: alerts come from an environment's `alertmanager:`".into());
    };
    let (envs, diagnostics) = load::load_environments(&file);
    match envs {
        Some(e) => Ok(e),
        None => Err(diagnostics
            .iter()
            .find(|d| d.is_error())
            .map(|d| d.display(&file.display).to_string())
            .unwrap_or_else(|| format!("{} is invalid", file.display))),
    }
}

/// The environment named, else the default, else the only one.
pub fn pick(envs: &Environments, name: Option<&str>) -> Result<Environment, String> {
    let names: Vec<&str> = envs.names().collect();
    let chosen = name
        .map(str::to_owned)
        .or_else(|| envs.default.clone())
        .or_else(|| (names.len() == 1).then(|| names[0].to_owned()));
    let Some(chosen) = chosen else {
        return Err(format!("pick an environment with --env (one of: {})", names.join(", ")));
    };
    envs.get(&chosen).cloned().ok_or_else(|| {
        let hint = crate::runbook::diagnostic::did_you_mean(&chosen, names.iter().copied())
            .map(|s| format!("did you mean '{s}'? "))
            .unwrap_or_default();
        format!("no environment '{chosen}' ({hint}known: {})", names.join(", "))
    })
}

/// Fetches an environment's alerts on a small runtime of its own.
pub fn fetch_blocking(env: &Environment) -> Result<Vec<Alert>, String> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(alerts::fetch(&client, env, alerts::TIMEOUT))
}

/// Runs `runbook alerts`; returns the exit code (0 listed, 1 Alertmanager could not be read,
/// 2 usage).
pub fn run(
    dirs: &[PathBuf],
    env: Option<&str>,
    vars: &BTreeMap<String, String>,
    format: Format,
) -> anyhow::Result<u8> {
    let roots = crate::dirs::search_path(dirs);
    let environment = match environments(&roots).and_then(|envs| pick(&envs, env)) {
        Ok(mut e) => {
            e.vars.extend(vars.clone());
            e
        }
        Err(e) => {
            eprintln!("runbook: {e}");
            return Ok(2);
        }
    };
    if let Err(e) = alerts::server(&environment) {
        eprintln!("runbook: {e}");
        return Ok(2);
    }
    let mut list = match fetch_blocking(&environment) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("runbook: {e}");
            return Ok(1);
        }
    };
    let (summaries, _) = crate::dirs::library(dirs).summaries();
    let matcher = Matcher::new(
        summaries.iter().filter(|s| !s.is_broken()).map(|s| (s.id.as_str(), s.alerts.as_slice())),
    );
    matcher.annotate(&mut list);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(0);
    }
    if list.is_empty() {
        writeln!(out, "no alerts firing in '{}'", environment.name)?;
        out.flush()?;
        return Ok(0);
    }
    let now = jiff::Timestamp::now();
    let name_w = list.iter().map(|a| a.alertname.chars().count()).max().unwrap_or(5).clamp(5, 40);
    let book_w = list
        .iter()
        .map(|a| a.runbook.as_deref().map_or(1, |r| r.chars().count()))
        .max()
        .unwrap_or(7)
        .clamp(7, 40);
    writeln!(out, "{:name_w$}  {:9}  {:>5}  {:book_w$}  SUMMARY", "ALERT", "SEVERITY", "SINCE", "RUNBOOK")?;
    for a in &list {
        let labels: Vec<String> = a
            .labels
            .iter()
            .filter(|(k, _)| *k != "alertname" && *k != "severity")
            .map(|(k, v)| format!("{k}={}", escape_controls(v)))
            .collect();
        writeln!(
            out,
            "{:name_w$}  {:9}  {:>5}  {:book_w$}  {}",
            escape_controls(&a.alertname),
            escape_controls(a.severity()),
            alerts::short_age(a.age_secs(now)),
            a.runbook.as_deref().unwrap_or("—"),
            escape_controls(a.summary()),
        )?;
        writeln!(out, "  {}  fingerprint {}", labels.join(" "), escape_controls(&a.fingerprint))?;
    }
    let unanswered = list.iter().filter(|a| a.runbook.is_none()).count();
    writeln!(out)?;
    writeln!(
        out,
        "{} firing in '{}'{}. Open one: runbook run --alert NAME|FINGERPRINT --env {}",
        list.len(),
        environment.name,
        if unanswered > 0 { format!(", {unanswered} without a runbook (— )") } else { String::new() },
        environment.name
    )?;
    out.flush()?;
    Ok(0)
}

/// What `runbook run --alert` starts: the answering runbook, inputs from the alert, the
/// environment, and the alert to record.
#[derive(Debug, Clone)]
pub struct AlertRun {
    pub runbook: String,
    pub env: String,
    pub inputs: BTreeMap<String, String>,
    pub origin: AlertOrigin,
}

/// Finds the alert (a fingerprint or a unique name) in the environment's Alertmanager and
/// the runbook that answers it. The error is a sentence for the user (exit 2).
pub fn for_run(
    dirs: &[PathBuf],
    env: Option<&str>,
    vars: &BTreeMap<String, String>,
    which: &str,
) -> Result<AlertRun, String> {
    let library = crate::dirs::library(dirs);
    let envs = library.environments_checked(None)?;
    let mut environment = pick(envs, env)?;
    environment.vars.extend(vars.clone());
    alerts::server(&environment)?;
    let list = fetch_blocking(&environment)?;
    let alert = alerts::pick(&list, which)?;
    let (summaries, _) = library.summaries();
    let matcher = Matcher::new(
        summaries.iter().filter(|s| !s.is_broken()).map(|s| (s.id.as_str(), s.alerts.as_slice())),
    );
    let Some(id) = matcher.answer(alert) else {
        return Err(alerts::unanswered(alert));
    };
    let (_, runbook) = crate::start::find_runbook(&library, id).map_err(|e| e.to_string())?;
    Ok(AlertRun {
        runbook: id.to_owned(),
        env: environment.name.clone(),
        inputs: alert.inputs_for(&runbook),
        origin: alert.origin(),
    })
}
