//! Where runbook keeps things: config (runbooks, themes, keys), data (run journals), cache
//! (the list index). Each can be moved with an environment variable, which tests use.

use std::path::PathBuf;

fn project() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "runbook")
}

fn from_env(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// `RUNBOOK_CONFIG_DIR`, else e.g. `~/.config/runbook`.
pub fn config_dir() -> Option<PathBuf> {
    from_env("RUNBOOK_CONFIG_DIR").or_else(|| project().map(|p| p.config_dir().to_path_buf()))
}

/// `RUNBOOK_DATA_DIR`, else e.g. `~/.local/share/runbook`.
pub fn data_dir() -> Option<PathBuf> {
    from_env("RUNBOOK_DATA_DIR").or_else(|| project().map(|p| p.data_dir().to_path_buf()))
}

/// `RUNBOOK_CACHE_DIR`, else e.g. `~/.cache/runbook`.
pub fn cache_dir() -> Option<PathBuf> {
    from_env("RUNBOOK_CACHE_DIR").or_else(|| project().map(|p| p.cache_dir().to_path_buf()))
}

/// The library of runbooks for these `--dir` flags, with its index in the cache dir.
pub fn library(dirs: &[PathBuf]) -> crate::runbook::load::Library {
    crate::runbook::load::Library::with_index(search_path(dirs), cache_dir())
}

/// The search path for these `--dir` flags and the process environment.
pub fn search_path(dirs: &[PathBuf]) -> Vec<crate::runbook::load::Root> {
    let runbook_path = std::env::var("RUNBOOK_PATH").ok();
    crate::runbook::load::search_path(dirs, runbook_path.as_deref(), config_dir().as_deref())
}
