//! `runbook health`: probe every monitor from a script, with an exit code; `--all` is the
//! parity view across environments; `--watch` keeps a live table.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::cli::Format;
use crate::health::{self, Probed, State};
use crate::runbook::load::Library;
use crate::runbook::{Environment, Environments};

use crate::health::Reading as Row;

/// Runs `runbook health`; returns the exit code (0 all up or degraded, 1 any down, 2 usage).
pub fn run(
    dirs: &[PathBuf],
    env: Option<&str>,
    all: bool,
    watch: bool,
    format: Format,
    vars: &BTreeMap<String, String>,
) -> anyhow::Result<u8> {
    let library = Library::new(crate::dirs::search_path(dirs));
    let envs = match library.environments_checked(None) {
        Ok(envs) => envs.clone(),
        Err(e) => {
            eprintln!("runbook: {e}");
            return Ok(2);
        }
    };
    if let Some(file) = library.first_environments_report()
        && let Some(err) = file.first_error()
    {
        eprintln!("runbook: {}", err.display(&file.display));
        return Ok(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    if all {
        let overrides = envs.default.clone().map(|d| (d, vars.clone()));
        let rows = runtime.block_on(health::parity(&envs, overrides.as_ref()));
        print_parity(&envs, &rows, format)?;
        return Ok(if rows.iter().any(|r| r.state == State::Down) { 1 } else { 0 });
    }
    let name = env
        .map(str::to_owned)
        .or_else(|| envs.default.clone())
        .or_else(|| (envs.environments.len() == 1).then(|| envs.environments[0].name.clone()));
    let Some(mut environment) = name.as_deref().and_then(|n| envs.get(n)).cloned() else {
        let known: Vec<&str> = envs.names().collect();
        eprintln!("runbook: pick an environment with --env (one of: {})", known.join(", "));
        return Ok(2);
    };
    environment.vars.extend(vars.clone());
    let monitors = health::monitors_for(&envs.monitors, &environment.name, None);
    if watch {
        return runtime.block_on(watch_table(&monitors, &environment, format));
    }
    let results = runtime.block_on(health::probe_once(&monitors, &environment));
    let rows: Vec<Row> =
        monitors.iter().zip(results).map(|(m, (state, s))| Row::new(&environment, m, state, &s)).collect();
    print_rows(&rows, format)?;
    Ok(if rows.iter().any(|r| r.state == State::Down) { 1 } else { 0 })
}

fn print_rows(rows: &[Row], format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, rows)?;
        writeln!(out)?;
        return Ok(());
    }
    // Monitors by their titles, as the TUI names them (`--format json` keeps the ids).
    let w = rows.iter().map(|r| r.title.chars().count()).max().unwrap_or(7).max(7);
    writeln!(out, "{:w$}  {:9}  {:>8}  REASON", "MONITOR", "STATE", "LATENCY")?;
    for r in rows {
        let reason = match (&r.observed, r.state) {
            // A prometheus monitor shows what it measured, passing or not.
            (Some(o), State::Up) => o.clone(),
            (Some(o), _) => format!("{} ({o})", r.reason),
            (None, State::Up) => String::new(),
            (None, _) => r.reason.clone(),
        };
        let title = crate::text::escape_controls(&r.title);
        writeln!(
            out,
            "{title:w$}  {:9}  {:>6}ms  {}",
            r.state.to_string(),
            r.latency_ms,
            crate::text::escape_controls(&reason)
        )?;
    }
    Ok(())
}

/// Every monitor against every environment; rows whose states differ are marked `≠`.
fn print_parity(envs: &Environments, rows: &[Row], format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, rows)?;
        writeln!(out)?;
        return Ok(());
    }
    let names: Vec<&str> = envs.names().collect();
    let w = envs.monitors.iter().map(|m| m.title.chars().count()).max().unwrap_or(7).max(7);
    let cw = 24;
    write!(out, "  {:w$}", "MONITOR")?;
    for n in &names {
        write!(out, "  {:cw$}", n.to_uppercase())?;
    }
    writeln!(out)?;
    for m in &envs.monitors {
        let cells: Vec<Option<&Row>> =
            names.iter().map(|n| rows.iter().find(|r| r.monitor == m.id && r.environment == *n)).collect();
        let states: Vec<Option<State>> = cells.iter().map(|c| c.map(|r| r.state)).collect();
        let differs = states.windows(2).any(|w| w[0] != w[1]);
        write!(out, "{} {:w$}", if differs { "≠" } else { " " }, crate::text::escape_controls(&m.title))?;
        for c in &cells {
            let text = c.map_or_else(|| "—".to_owned(), Row::cell);
            let text: String = text.chars().take(cw).collect();
            write!(out, "  {text:cw$}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "\n≠ marks a monitor whose state differs between environments; — not defined there.")?;
    Ok(())
}

async fn watch_table(
    monitors: &[&crate::runbook::Monitor],
    env: &Environment,
    format: Format,
) -> anyhow::Result<u8> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Probed>(1024);
    let epoch = Instant::now();
    let _scheduler = health::Scheduler::start(monitors, env, epoch, tx);
    let mut latest: Vec<Option<Probed>> = vec![None; monitors.len()];
    let tty = std::io::stdout().is_terminal();
    let mut last_draw = Instant::now() - std::time::Duration::from_secs(1);
    // Made once: a Ctrl-C that comes while a probe result is being printed waits here.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    loop {
        tokio::select! {
            probed = rx.recv() => {
                let Some(p) = probed else { break };
                let changed = latest[p.index].as_ref().is_none_or(|old| old.state != p.state);
                let index = p.index;
                latest[index] = Some(p);
                if format == Format::Json {
                    let p = latest[index].as_ref().context("just set")?;
                    let r = Row::new(env, monitors[index], p.state, &p.sample);
                    println!("{}", serde_json::to_string(&r)?);
                } else if tty && last_draw.elapsed().as_millis() >= 250 {
                    let rows: Vec<Row> = monitors.iter().zip(&latest).filter_map(|(m, p)| p.as_ref().map(|p| Row::new(env, m, p.state, &p.sample))).collect();
                    print!("\x1b[H\x1b[2J");
                    println!("{} · every monitor, live (Ctrl-C to stop)\n", env.name);
                    print_rows(&rows, format)?;
                    last_draw = Instant::now();
                } else if !tty && changed {
                    let p = latest[index].as_ref().context("just set")?;
                    let shown = p.sample.observed.as_deref().unwrap_or(&p.sample.reason);
                    println!("{} {} {} {}", monitors[index].title, p.state, p.sample.latency_ms, shown);
                }
            }
            _ = interrupt.recv() => break,
        }
    }
    let down = latest.iter().flatten().any(|p| p.state == State::Down);
    Ok(if down { 1 } else { 0 })
}
