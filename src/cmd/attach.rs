//! `runbook attach RUN --follow`: someone else's run, event by event, as it happens.
//!
//! Read-only by construction: a follower never takes the run's lease and never writes its
//! journal. It reads the run where it lives (the team store, or the local data directory)
//! every quarter second, so updates reach it within a second of being journaled, and it exits
//! with the run's outcome (0 succeeded, 1 failed, aborted or abandoned) when the run ends.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::journal;
use crate::run::{Entry, Record};

const POLL: Duration = Duration::from_millis(250);

/// Follows run `which` until it ends (or stdout closes).
pub fn follow(which: &str) -> anyhow::Result<ExitCode> {
    let data_dir = crate::dirs::data_dir().context("no data directory: set RUNBOOK_DATA_DIR")?;
    let info = match journal::resolve(&data_dir, which) {
        Ok(info) => info,
        Err(e) => {
            eprintln!("runbook: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut feed = crate::feed::Feed::new(&info);
    let mut out = std::io::stdout().lock();
    let title = crate::text::escape_controls(&info.title);
    match &info.driver {
        Some(h) => writeln!(out, "following run {} ({title}), driven by {h}", info.id)?,
        None => writeln!(out, "following run {} ({title}); nobody drives it right now", info.id)?,
    }
    out.flush()?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut shown = 0;
    let mut driven = info.driver.is_some();
    loop {
        let have = entries.len();
        entries.extend(feed.entries_since(have));
        let rows = crate::export::rows(&entries);
        for [at, step, event, details] in rows.iter().skip(shown) {
            let details = crate::text::escape_controls(details);
            let step = if step.is_empty() { String::new() } else { format!("{step}: ") };
            writeln!(out, "{at}  {step}{event}  {details}")?;
        }
        shown = rows.len();
        out.flush()?;
        if let Some(outcome) = ended(&entries) {
            return Ok(ExitCode::from(match outcome {
                crate::run::Outcome::Succeeded => 0,
                _ => 1,
            }));
        }
        // Say when the driver leaves (a handoff, a crash) and when someone picks it up.
        let now_driven = feed.driver().is_some();
        if now_driven != driven {
            if now_driven {
                writeln!(out, "… the run has a driver again")?;
            } else {
                writeln!(
                    out,
                    "… nobody drives the run now (handed over, or its runner stopped); `runbook run --resume {}` carries on",
                    info.short_id()
                )?;
            }
            driven = now_driven;
        }
        std::thread::sleep(POLL);
    }
}

/// The run's outcome, once it has ended and no resume came after.
fn ended(entries: &[Entry]) -> Option<crate::run::Outcome> {
    let (i, outcome) = entries.iter().enumerate().rev().find_map(|(i, e)| match e.record {
        Record::RunFinished { outcome } => Some((i, outcome)),
        _ => None,
    })?;
    (!entries[i..].iter().any(|e| matches!(e.record, Record::Resumed { .. }))).then_some(outcome)
}
