//! The terminal UI: model, update, keymap; the driver lives in `app/driver.rs`.

pub mod driver;
pub mod keymap;
pub mod model;
pub mod setup;
pub mod update;
