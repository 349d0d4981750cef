//! `runbook runs` and `runbook export`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{ExportFormat, Format};
use crate::journal;

pub fn list(format: Format) -> anyhow::Result<()> {
    let data_dir = crate::dirs::data_dir().context("no data directory: set RUNBOOK_DATA_DIR")?;
    if let Some(w) = journal::permission_warning(&data_dir) {
        eprintln!("runbook: {w}");
    }
    let runs = journal::list_runs(&data_dir)?;
    // Buffered: a store of thousands of runs would otherwise be a write per line.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &runs)?;
            writeln!(out)?;
        }
        Format::Text => {
            if runs.is_empty() {
                writeln!(out, "no runs yet: `runbook run ID` starts one")?;
                out.flush()?;
                return Ok(());
            }
            let width = terminal_width();
            for line in table(&runs, width) {
                writeln!(out, "{line}")?;
            }
            out.flush()?; // the table before the warnings on stderr
            for r in runs.iter().filter(|r| !r.problems.is_empty()) {
                for p in &r.problems {
                    eprintln!("runbook: warning: run {}: {p}", r.id);
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn terminal_width() -> usize {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal()
        && let Ok((cols, _)) = crossterm::terminal::size()
    {
        return (cols as usize).max(60);
    }
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(80).max(60)
}

/// The runs as rows that fit `width` columns: the title takes what the fixed columns leave,
/// and the short id (which `--resume` and `export` accept) is never cut.
pub fn table(runs: &[journal::RunInfo], width: usize) -> Vec<String> {
    let id_w = runs.iter().map(|r| r.short_id().chars().count()).max().unwrap_or(4).max(3);
    let env_w = runs.iter().map(|r| r.environment.chars().count()).max().unwrap_or(3).clamp(3, 12);
    let state = |r: &journal::RunInfo| match &r.driver {
        Some(h) => format!("running: {}@{}", h.user, h.host),
        None => r.state.to_string(),
    };
    // RUN  TITLE  ENV  STARTED  STEP  STATE
    const STARTED_W: usize = 11;
    const STEP_W: usize = 7;
    let state_w = runs.iter().map(|r| state(r).chars().count()).max().unwrap_or(5).clamp(5, 24);
    let fixed = id_w + env_w + STARTED_W + STEP_W + state_w + 10;
    let title_w = width.saturating_sub(fixed).max(12);
    let mut lines = vec![format!(
        "{:id_w$}  {:title_w$}  {:env_w$}  {:STARTED_W$}  {:STEP_W$}  STATE",
        "RUN", "TITLE", "ENV", "STARTED UTC", "STEP"
    )];
    for r in runs {
        let title = if r.title.is_empty() { format!("({})", r.state) } else { r.title.clone() };
        let step = match r.steps {
            Some(n) => format!("{}/{n}", r.done.min(n)),
            None => "-".into(),
        };
        let line = format!(
            "{:id_w$}  {:title_w$}  {:env_w$}  {:STARTED_W$}  {:STEP_W$}  {}",
            r.short_id(),
            fit(&crate::text::escape_controls(&title), title_w),
            fit(&r.environment, env_w),
            r.started.strftime("%m-%d %H:%M").to_string(),
            step,
            fit(&state(r), state_w)
        );
        lines.push(line.trim_end().to_owned());
    }
    lines
}

/// Cuts text to `width` characters with an ellipsis.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The run `which` names; a name that fits no run (or several) is said, and is `None`.
fn resolve(which: &str) -> anyhow::Result<Option<journal::RunInfo>> {
    let data_dir = crate::dirs::data_dir().context("no data directory: set RUNBOOK_DATA_DIR")?;
    match journal::resolve(&data_dir, which) {
        Ok(info) => Ok(Some(info)),
        Err(e) => {
            eprintln!("runbook: {e}");
            Ok(None)
        }
    }
}

/// `runbook runs --abandon RUN`: the run ends as abandoned (journaled), so the picker and
/// `--resume latest` no longer offer it. Refused while someone drives it.
pub fn abandon(which: &str) -> anyhow::Result<ExitCode> {
    let Some(info) = resolve(which)? else { return Ok(ExitCode::from(2)) };
    if !info.is_unfinished() {
        eprintln!(
            "runbook: run {} is {} already; only an unfinished run can be abandoned",
            info.id, info.state
        );
        return Ok(ExitCode::from(2));
    }
    let mut journal = match journal::Journal::open(&info.dir) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("runbook: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let (user, host) = journal::user_and_host();
    journal.append(crate::run::Record::Note { text: format!("abandoned by {user}@{host}"), step: None })?;
    journal.append(crate::run::Record::RunFinished { outcome: crate::run::Outcome::Abandoned })?;
    println!("run {} abandoned; `runbook runs --prune --older-than AGE` removes old runs", info.id);
    Ok(ExitCode::SUCCESS)
}

/// `runbook runs --prune --older-than 30d`: removes finished and abandoned runs that ended
/// before then, after showing them and asking (or with --yes). Unfinished runs stay.
pub fn prune(older_than: &str, yes: bool) -> anyhow::Result<ExitCode> {
    let Some(age) = parse_age(older_than) else {
        eprintln!("runbook: --older-than takes an age such as 30d, 2w or 12h, got '{older_than}'");
        return Ok(ExitCode::from(2));
    };
    let data_dir = crate::dirs::data_dir().context("no data directory: set RUNBOOK_DATA_DIR")?;
    let cutoff = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(age.as_secs() as i64);
    let old: Vec<journal::RunInfo> = journal::list_runs(&data_dir)?
        .into_iter()
        .filter(|r| r.outcome_known() && r.driver.is_none())
        .filter(|r| r.ended.unwrap_or(r.started) < cutoff)
        .collect();
    if old.is_empty() {
        println!("no finished run is older than {older_than}");
        return Ok(ExitCode::SUCCESS);
    }
    for line in table(&old, terminal_width()) {
        println!("{line}");
    }
    if !yes {
        use std::io::{BufRead, IsTerminal};
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "runbook: {} runs would be removed: pass --yes to remove them without a terminal",
                old.len()
            );
            return Ok(ExitCode::from(3));
        }
        print!("remove these {} runs and their logs? [y/N] ", old.len());
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("nothing removed");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut removed = 0;
    let store = crate::store::current();
    for r in &old {
        if let Some(store) = &store
            && let Err(e) = store.delete_run(&r.id)
        {
            eprintln!("runbook: cannot remove run {}: {e:#}", r.id);
            continue;
        }
        match std::fs::remove_dir_all(&r.dir) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && store.is_some() => removed += 1,
            Err(e) => eprintln!("runbook: cannot remove {}: {e}", r.dir.display()),
        }
    }
    println!("removed {removed} runs");
    Ok(ExitCode::SUCCESS)
}

/// `30d`, `2w`, `12h`, `90m`: days and weeks on top of the runbook durations.
fn parse_age(text: &str) -> Option<std::time::Duration> {
    let t = text.trim();
    let day = 86_400;
    if let Some(n) = t.strip_suffix('d').and_then(|n| n.parse::<u64>().ok()) {
        return Some(std::time::Duration::from_secs(n * day));
    }
    if let Some(n) = t.strip_suffix('w').and_then(|n| n.parse::<u64>().ok()) {
        return Some(std::time::Duration::from_secs(n * 7 * day));
    }
    crate::runbook::duration::parse(t)
}

/// `runbook export RUN [--format md|json] [--tail N] [--output FILE]`.
pub fn export(
    which: &str,
    format: ExportFormat,
    tail: usize,
    output: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let Some(info) = resolve(which)? else { return Ok(ExitCode::from(2)) };
    let read = journal::read_all(&info.dir)?;
    for p in &read.problems {
        eprintln!("runbook: warning: {p}");
    }
    let opts = crate::export::Options { tail };
    let text = match format {
        ExportFormat::Md => crate::export::markdown(&info, &read.entries, opts),
        ExportFormat::Json => crate::export::json(&info, &read.entries, opts)? + "\n",
    };
    match output {
        Some(path) => {
            if let Err(e) = crate::export::write_private(path, &text) {
                eprintln!("runbook: cannot write {}: {e}", path.display());
                return Ok(ExitCode::from(2));
            }
            eprintln!("runbook: the timeline of run {} is in {}", info.id, path.display());
        }
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
