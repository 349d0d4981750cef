//! Carrying out what a run asks for: commands and probes.

pub mod command;
pub mod mask;
pub mod probe;
pub mod prometheus;
pub mod tree;
pub mod workers;
