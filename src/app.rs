//! The terminal UI: model, update (scrolling and the mouse in `scroll.rs`), keymap; the driver
//! lives in `app/driver.rs`.

pub mod driver;
pub mod keymap;
pub mod model;
mod scroll;
pub mod setup;
pub mod update;
