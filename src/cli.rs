//! The command line: every subcommand, its flags and its help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Interactive terminal runbooks: YAML checklists that run commands, wait on health checks,
/// and journal every step.
#[derive(Debug, Parser)]
#[command(name = "runbook", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct Global {
    /// A runbooks directory to search first (repeatable). Also: RUNBOOK_PATH (colon-separated).
    #[arg(long = "dir", short = 'd', global = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
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
}
