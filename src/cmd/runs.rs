//! `runbook runs` and `runbook export`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{ExportFormat, Format};
use crate::journal;

pub fn list(format: Format) -> anyhow::Result<()> {
    let data_dir = crate::dirs::data_dir().context("no data directory: set RUNBOOK_DATA_DIR")?;
    let runs = journal::list(&data_dir);
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &runs)?;
            writeln!(out)?;
        }
        Format::Text => {
            if runs.is_empty() {
                writeln!(out, "no runs yet: `runbook run ID` starts one")?;
                return Ok(());
            }
            let w = runs.iter().map(|r| r.id.len()).max().unwrap_or(2);
            writeln!(
                out,
                "{:w$}  {:28}  {:12}  {:20}  STATE",
                "RUN", "RUNBOOK", "ENVIRONMENT", "STARTED (UTC)"
            )?;
            for r in &runs {
                writeln!(
                    out,
                    "{:w$}  {:28}  {:12}  {:20}  {}",
                    r.id,
                    r.runbook,
                    r.environment,
                    r.started.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                    r.state
                )?;
            }
        }
    }
    Ok(())
}

pub fn export(which: &str, format: ExportFormat) -> anyhow::Result<ExitCode> {
    let data_dir = crate::dirs::data_dir().context("no data directory: set RUNBOOK_DATA_DIR")?;
    let info = match journal::resolve(&data_dir, which) {
        Ok(info) => info,
        Err(e) => {
            eprintln!("runbook: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let entries = journal::read(&info.dir)?;
    let text = match format {
        ExportFormat::Md => crate::export::markdown(&info, &entries),
        ExportFormat::Json => crate::export::json(&info, &entries)? + "\n",
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
