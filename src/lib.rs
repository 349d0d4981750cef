//! `runbook`: interactive terminal runbooks.
//!
//! The library holds everything the binary does, so tests and benchmarks drive the same code.

pub mod alerts;
pub mod ansi;
pub mod app;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod demo;
pub mod dirs;
pub mod exec;
pub mod export;
pub mod feed;
pub mod fuzzy;
pub mod headless;
pub mod health;
pub mod import;
pub mod journal;
pub mod markdown;
pub mod prom;
pub mod run;
pub mod runbook;
pub mod start;
pub mod store;
pub mod text;
pub mod theme;
pub mod ui;
