//! The user's config file (`config.yaml` in the config dir): theme and key bindings.
//!
//! ```yaml
//! theme: light            # dark (default), light, high-contrast, or a file in themes/
//! store: postgres://runbook@db.internal/runbook   # the team's run store (optional)
//! keys: { tick: x, skip: ctrl-s }
//! hyperlinks: false       # links in runbook Markdown as plain text (default: clickable)
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub theme: Option<String>,
    /// The team's run store (a PostgreSQL URL); `--store` and RUNBOOK_STORE come first.
    pub store: Option<String>,
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// Links in runbook Markdown become OSC 8 hyperlinks; `false` keeps them text.
    pub hyperlinks: Option<bool>,
}

/// Reads `config.yaml` from the config dir; a missing file is the default config.
pub fn load(config_dir: Option<&Path>) -> Result<Config, String> {
    let Some(path) = config_dir.map(|d| d.join("config.yaml")).filter(|p| p.is_file()) else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(Config::default());
    }
    serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}
