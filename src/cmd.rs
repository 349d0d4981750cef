//! The subcommands that print and exit (everything but the TUI).

pub mod alerts;
pub mod attach;
pub mod check;
pub mod demo;
pub mod health;
pub mod import;
pub mod list;
pub mod runs;
pub mod schema;
