//! The runbooks shipped inside the binary: the last directory of the search path.

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// How bundled files are shown in messages and listings.
pub const PREFIX: &str = "<bundled>";
