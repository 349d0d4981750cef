//! The command line: every subcommand, its flags and its help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Interactive terminal runbooks: YAML checklists that run commands, wait on health checks,
/// and journal every step.
#[derive(Debug, Parser)]
#[command(
    name = "runbook",
    version,
    about,
    long_about = None,
    propagate_version = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    /// Open this runbook (an id) in the terminal UI instead of the picker.
    pub open: Option<String>,

    /// The environment to run in (terminal UI).
    #[arg(long, short = 'e')]
    pub env: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct Global {
    /// A runbooks directory to search first (repeatable). Also: RUNBOOK_PATH (colon-separated).
    #[arg(long = "dir", short = 'd', global = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,

    /// The terminal UI's theme: dark, light, high-contrast, or a file in the config dir's
    /// themes/. Also `theme:` in config.yaml. NO_COLOR turns colours off.
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,

    /// The team's run store: a PostgreSQL URL (postgres://USER@HOST/DB), so a team lists,
    /// follows, exports and hands over one another's runs. Also RUNBOOK_STORE or `store:` in
    /// config.yaml. Put a password in PGPASSWORD or RUNBOOK_STORE, never on the command line.
    /// Default (and with an empty URL): runs stay in this machine's data directory.
    #[arg(long, global = true, value_name = "URL", env = "RUNBOOK_STORE", hide_env_values = true)]
    pub store: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate runbooks and environments.yaml; print compiler-style errors.
    ///
    /// With no paths, checks every runbook on the search path (what `runbook list` shows).
    /// Exit status: 0 when clean, 1 on errors (and on warnings with --strict).
    Check {
        /// Runbook files or directories to check.
        paths: Vec<PathBuf>,
        /// Treat warnings as errors.
        #[arg(long)]
        strict: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List every runbook on the search path, broken ones with their first error.
    List {
        /// Fuzzy filter over id, title, kind and tags.
        #[arg(long, short = 'f')]
        filter: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the JSON Schema of the runbook format (for editors).
    Schema {
        /// Which file the schema describes.
        #[arg(value_enum, default_value_t = SchemaKind::Runbook)]
        kind: SchemaKind,
    },
    /// Run a runbook: on a terminal in the UI; in CI, a pipe or with --headless line by line.
    ///
    /// Headless exit status: 0 succeeded, 1 a step failed, 2 bad usage, an invalid runbook or input,
    /// 3 a human is needed (a manual step without --yes, a choice without --choice, a
    /// confirmation without --yes), 130 cancelled with Ctrl-C. The run is journaled and can
    /// be resumed with --resume.
    Run(RunArgs),
    /// List runs, newest first; abandon one, or prune old ones.
    Runs {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Give up an unfinished run: journaled as abandoned, no longer offered for resume.
        #[arg(long, value_name = "RUN", conflicts_with = "prune")]
        abandon: Option<String>,
        /// Remove finished and abandoned runs older than --older-than (asks first).
        #[arg(long, requires = "older_than")]
        prune: bool,
        /// With --prune: an age such as 30d, 12h or 2w.
        #[arg(long, value_name = "AGE")]
        older_than: Option<String>,
        /// With --prune: do not ask.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Watch a run that someone else drives, read-only: the terminal UI, or with --follow
    /// its events line by line until it ends (exit 0 when it succeeded, 1 otherwise).
    Attach {
        /// A run id (or a unique prefix, or its short id), or `latest`.
        run: String,
        /// Print the run's events as they happen instead of opening the terminal UI.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Write a run's incident timeline (for the postmortem).
    Export {
        /// A run id (or a unique prefix), or `latest`.
        run: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Md)]
        format: ExportFormat,
        /// Output lines shown per step (the last N of its log; 0 shows none).
        #[arg(long, value_name = "N", default_value_t = crate::export::DEFAULT_TAIL)]
        tail: usize,
        /// Write to FILE (readable only by you) instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Probe every monitor and print a table; exit 1 when any is down.
    ///
    /// A failing monitor is probed again until `fail_after` failures in a row, with its
    /// timeout on every probe, so this replaces hand-written health-check scripts.
    Health {
        /// The environment (default: environments.yaml's `default`).
        #[arg(long, short = 'e', conflicts_with = "all")]
        env: Option<String>,
        /// Every monitor against every environment, differences marked (the parity view).
        #[arg(long)]
        all: bool,
        /// Keep probing on each monitor's interval and show a live table.
        #[arg(long, conflicts_with = "all")]
        watch: bool,
        /// Override an environment var, NAME=VALUE (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List the firing alerts of an environment's Alertmanager and the runbook that answers
    /// each (its `alerts:` names the alert, or the alert's `runbook_url` ends with its id).
    ///
    /// Exit status: 0 listed (firing or not), 1 Alertmanager could not be read, 2 bad usage.
    Alerts {
        /// The environment (default: environments.yaml's `default`).
        #[arg(long, short = 'e')]
        env: Option<String>,
        /// Override an environment var, NAME=VALUE (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Start the built-in demo service and open the guided tour on it.
    Demo {
        /// Only run the demo service and print its addresses (for scripts and tests).
        #[arg(long)]
        serve: bool,
    },
    /// Convert Markdown runbook pages (files or directory trees) into runbooks.
    Import(ImportArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// A runbook file.
    Runbook,
    /// environments.yaml.
    Environments,
    /// The JSON that `runbook export --format json` writes.
    Export,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Markdown, ready to paste into a postmortem.
    Md,
    Json,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The runbook id (see `runbook list`). Not needed with --resume or --alert.
    pub runbook: Option<String>,
    /// Start the runbook that answers this firing alert (its name, or its fingerprint when
    /// several of that name fire), inputs filled from the alert's labels and annotations.
    #[arg(long, value_name = "NAME|FINGERPRINT", conflicts_with_all = ["runbook", "resume"])]
    pub alert: Option<String>,
    /// The environment to run in. Default: environments.yaml's `default`.
    #[arg(long, short = 'e')]
    pub env: Option<String>,
    /// An input value, NAME=VALUE (repeatable). Secrets are better passed as
    /// RUNBOOK_INPUT_<NAME> environment variables, which stay off the command line.
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Override an environment var, NAME=VALUE (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Tick manual steps and confirm `confirm: true` steps; on resume, run an interrupted
    /// step again. In a protected environment a confirmation also needs --confirm-env.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Confirm steps in this protected environment (type its name, as the TUI asks).
    #[arg(long, value_name = "NAME")]
    pub confirm_env: Option<String>,
    /// The option to pick at a choice step, STEP=LABEL (repeatable).
    #[arg(long = "choice", value_name = "STEP=LABEL")]
    pub choices: Vec<String>,
    /// Continue a run from its journal: a run id (or its short id), or `latest`. No --dir
    /// needed: the run remembers where its runbook came from.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<String>,
    /// With --resume: run the step that failed, was cancelled or was interrupted again.
    #[arg(long, requires = "resume")]
    pub retry: bool,
    /// With --resume: skip this step (the one the run stopped at); --note gives the reason.
    #[arg(long, value_name = "STEP", requires = "resume")]
    pub skip: Option<String>,
    /// With --resume: mark this step done without running it; --note says why.
    #[arg(long, value_name = "STEP", requires = "resume")]
    pub mark_done: Option<String>,
    /// A note for the journal: the reason for --skip or --mark-done, or, with --resume
    /// alone, a note added to the run (also after it ended).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// With --resume: end the processes that a runner that died left running in its step.
    #[arg(long, requires = "resume")]
    pub stop_running: bool,
    /// Print every resolved command and check; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run without the terminal UI even on a terminal (the default when stdout is not a
    /// terminal or CI is set).
    #[arg(long)]
    pub headless: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Markdown files, or directories searched for `.md` files (the tree is mirrored).
    #[arg(required = true, value_name = "SRC")]
    pub sources: Vec<PathBuf>,
    /// The directory the runbooks are written to.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,
    /// Overwrite runbooks that already exist.
    #[arg(long)]
    pub force: bool,
    /// The kind of every imported runbook (default: guessed; alert pages are incidents).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::import::KINDS))]
    pub kind: Option<String>,
}
