//! The `runbook` binary: parse arguments, dispatch, and turn outcomes into exit codes.

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use runbook::cli::{Cli, Command};
use runbook::cmd;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // A closed pipe (`runbook schema | head`) is the reader's choice, not an error.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("runbook: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let dirs = &cli.global.dirs;
    let store = cli.global.store.clone().or_else(|| {
        match runbook::config::load(runbook::dirs::config_dir().as_deref()) {
            Ok(config) => config.store,
            Err(e) => {
                eprintln!("runbook: warning: {e}");
                None
            }
        }
    });
    runbook::store::select(store)?;
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
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &cmd::schema::schema(kind))?;
            writeln!(out)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Run(mut args)) => {
            use std::io::IsTerminal;
            // `--alert`: the runbook that answers it, inputs from its labels (flags win).
            let mut alert = None;
            if let Some(which) = args.alert.take() {
                let vars = runbook::start::pairs(&args.vars, "--var").unwrap_or_default();
                let found = match cmd::alerts::for_run(dirs, args.env.as_deref(), &vars, &which) {
                    Ok(f) => f,
                    Err(e) => {
                        eprintln!("runbook: {e}");
                        return Ok(ExitCode::from(2));
                    }
                };
                let mut inputs: Vec<String> = found.inputs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                inputs.append(&mut args.inputs);
                args.inputs = inputs;
                args.runbook = Some(found.runbook);
                args.env = Some(found.env);
                alert = Some(found.origin);
            }
            // On a terminal, `runbook run` is the TUI; in CI, in a pipe, or with --headless it
            // is the line-by-line runner. --yes, --choice and --dry-run are headless answers.
            let terminal = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
            let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
            let headless_only = args.yes
                || !args.choices.is_empty()
                || args.dry_run
                || args.confirm_env.is_some()
                || args.retry
                || args.skip.is_some()
                || args.mark_done.is_some()
                || args.note.is_some()
                || args.stop_running;
            if terminal && !ci && !args.headless && !headless_only {
                let (Ok(inputs), Ok(vars)) = (
                    runbook::start::pairs(&args.inputs, "--input"),
                    runbook::start::pairs(&args.vars, "--var"),
                ) else {
                    eprintln!("runbook: --input and --var take NAME=VALUE");
                    return Ok(ExitCode::from(2));
                };
                let opts = runbook::app::driver::Options {
                    dirs: dirs.clone(),
                    open: args.runbook,
                    env: args.env,
                    vars,
                    theme: cli.global.theme.clone(),
                    inputs,
                    resume: args.resume,
                    attach: None,
                    alert,
                };
                return Ok(ExitCode::from(runbook::app::driver::run(opts)?));
            }
            let opts = runbook::headless::Options {
                runbook: args.runbook,
                env: args.env,
                inputs: args.inputs,
                vars: args.vars,
                yes: args.yes,
                choices: args.choices,
                resume: args.resume,
                dry_run: args.dry_run,
                confirm_env: args.confirm_env,
                retry: args.retry,
                skip: args.skip,
                mark_done: args.mark_done,
                note: args.note,
                stop_running: args.stop_running,
                alert,
            };
            Ok(ExitCode::from(runbook::headless::run(dirs, &opts)?))
        }
        Some(Command::Runs { format, abandon, prune, older_than, yes }) => {
            if let Some(run) = abandon {
                return cmd::runs::abandon(&run);
            }
            if prune {
                return cmd::runs::prune(older_than.as_deref().unwrap_or_default(), yes);
            }
            cmd::runs::list(format)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Attach { run, follow }) => {
            use std::io::IsTerminal;
            let terminal = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
            if follow || !terminal {
                return cmd::attach::follow(&run);
            }
            let opts = runbook::app::driver::Options {
                dirs: dirs.clone(),
                open: None,
                env: None,
                vars: Default::default(),
                theme: cli.global.theme.clone(),
                inputs: Default::default(),
                resume: None,
                attach: Some(run),
                alert: None,
            };
            Ok(ExitCode::from(runbook::app::driver::run(opts)?))
        }
        Some(Command::Export { run, format, tail, output }) => {
            Ok(cmd::runs::export(&run, format, tail, output.as_deref())?)
        }
        Some(Command::Health { env, all, watch, vars, format }) => {
            let vars = match runbook::start::pairs(&vars, "--var") {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("runbook: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            Ok(ExitCode::from(cmd::health::run(dirs, env.as_deref(), all, watch, format, &vars)?))
        }
        Some(Command::Alerts { env, vars, format }) => {
            let vars = match runbook::start::pairs(&vars, "--var") {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("runbook: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            Ok(ExitCode::from(cmd::alerts::run(dirs, env.as_deref(), &vars, format)?))
        }
        Some(Command::Demo { serve }) => {
            Ok(ExitCode::from(cmd::demo::run(dirs, serve, cli.global.theme.clone())?))
        }
        Some(Command::Import(args)) => Ok(ExitCode::from(cmd::import::run(&args)?)),
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "runbook", &mut script);
            std::io::stdout().lock().write_all(&script)?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            use std::io::IsTerminal;
            if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
                eprintln!(
                    "runbook: the terminal UI needs a terminal; try `runbook list` or `runbook run ID`"
                );
                return Ok(ExitCode::from(2));
            }
            let opts = runbook::app::driver::Options {
                dirs: dirs.clone(),
                open: cli.open,
                env: cli.env,
                vars: Default::default(),
                theme: cli.global.theme.clone(),
                inputs: Default::default(),
                resume: None,
                attach: None,
                alert: None,
            };
            Ok(ExitCode::from(runbook::app::driver::run(opts)?))
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<serde_json::Error>().and_then(|j| j.io_error_kind())
                == Some(std::io::ErrorKind::BrokenPipe)
    })
}
