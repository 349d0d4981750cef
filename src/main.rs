//! The `runbook` binary: parse arguments, dispatch, and turn outcomes into exit codes.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use runbook::cli::{Cli, Command};
use runbook::cmd;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("runbook: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let dirs = &cli.global.dirs;
    match cli.command {
        Some(Command::Check { paths, strict, format }) => {
            let ok = cmd::check::run(dirs, &paths, strict, format)?;
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Some(Command::List { filter, format }) => {
            cmd::list::run(dirs, filter.as_deref(), format)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Schema { kind }) => {
            println!("{}", serde_json::to_string_pretty(&cmd::schema::schema(kind))?);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "runbook", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        None => {
            Cli::command().print_help()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
