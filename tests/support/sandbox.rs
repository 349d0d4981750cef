//! The real binary in a sandbox: a temporary directory that holds its data, cache and config,
//! with nothing of the caller's environment that would change what it does.
//!
//! ```ignore
//! let sb = Sandbox::new().runbooks_in("books").environments(ENVS).env("API_KEY", "k");
//! sb.book("ok", "title: Ok\nsteps:\n  - { id: a, title: A, run: 'true' }\n");
//! let o = sb.run(&["run", "ok"]); // runbook run ok --dir books, in the sandbox
//! ```
//!
//! The pseudo-terminal harness (pty.rs) isolates its program with the same variables.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Variables of the caller that would change what the binary does, removed for every run:
/// its runbook path, its team store, CI (which makes `run` headless on a terminal) and
/// NO_COLOR. A test that wants one sets it again.
pub const CALLERS_VARIABLES: [&str; 4] = ["RUNBOOK_PATH", "RUNBOOK_STORE", "CI", "NO_COLOR"];

/// The binary's own directories under `root`: `data`, `cache` and `config`, or with `hidden`,
/// `.data`, `.cache` and `.config` (a runbook search of `root` passes those by).
pub fn state_dirs(root: &Path, hidden: bool) -> [(&'static str, PathBuf); 3] {
    let dot = if hidden { "." } else { "" };
    [
        ("RUNBOOK_DATA_DIR", root.join(format!("{dot}data"))),
        ("RUNBOOK_CACHE_DIR", root.join(format!("{dot}cache"))),
        ("RUNBOOK_CONFIG_DIR", root.join(format!("{dot}config"))),
    ]
}

/// A temporary directory to run the binary in (its working directory, unless
/// [`Sandbox::current_dir`] says otherwise), removed when dropped.
pub struct Sandbox {
    dir: tempfile::TempDir,
    hidden_state: bool,
    runbooks: Option<String>,
    cwd: Option<PathBuf>,
    env: Vec<(String, String)>,
}

impl Sandbox {
    /// An empty sandbox: the binary's data, cache and config in `data/`, `cache/`, `config/`.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            hidden_state: false,
            runbooks: None,
            cwd: None,
            env: Vec::new(),
        }
    }

    /// Data, cache and config in `.data/`, `.cache/`, `.config/`: hidden, so a runbook
    /// search of the sandbox itself passes them by.
    pub fn hidden_state(mut self) -> Self {
        self.hidden_state = true;
        self
    }

    /// Every command (but [`Sandbox::bare`]) reads its runbooks from `dir` of the sandbox: it
    /// ends in `--dir <dir>`. [`Sandbox::book`] and [`Sandbox::environments`] write there.
    pub fn runbooks_in(mut self, dir: &str) -> Self {
        std::fs::create_dir_all(self.path().join(dir)).unwrap();
        self.runbooks = Some(dir.to_owned());
        self
    }

    /// Writes `environments.yaml` into the runbook directory.
    pub fn environments(self, yaml: &str) -> Self {
        self.write(&format!("{}/environments.yaml", self.runbooks_dir()), yaml);
        self
    }

    /// A variable every command gets.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Commands run in `dir` instead of the sandbox; their data, cache and config stay in it.
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_owned());
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The binary's data directory (runs and their journals live in `runs/` below it).
    pub fn data(&self) -> PathBuf {
        state_dirs(self.path(), self.hidden_state)[0].1.clone()
    }

    /// The run directories, oldest first (their names start with the start time).
    pub fn runs(&self) -> Vec<PathBuf> {
        let mut runs: Vec<PathBuf> = std::fs::read_dir(self.data().join("runs"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        runs.sort();
        runs
    }

    /// Writes `text` to `rel` in the sandbox, making its directories; returns the path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes runbook `id` (`<runbook directory>/<id>.yaml`).
    pub fn book(&self, id: &str, yaml: &str) {
        self.write(&format!("{}/{id}.yaml", self.runbooks_dir()), yaml);
    }

    fn runbooks_dir(&self) -> &str {
        self.runbooks.as_deref().expect("the sandbox has no runbook directory: use runbooks_in")
    }

    /// The binary with `args` and nothing else: no `--dir`, as a pasted command line runs.
    pub fn bare<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_runbook"));
        c.args(args).current_dir(self.cwd.as_deref().unwrap_or(self.path())).stdin(Stdio::null());
        for key in CALLERS_VARIABLES {
            c.env_remove(key);
        }
        for (key, dir) in state_dirs(self.path(), self.hidden_state) {
            c.env(key, dir);
        }
        for (key, value) in &self.env {
            c.env(key, value);
        }
        c
    }

    /// The binary with `args`, then `--dir <dir>` where the sandbox has a runbook directory.
    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = self.bare(args);
        if let Some(dir) = &self.runbooks {
            c.args(["--dir", dir]);
        }
        c
    }

    /// Runs [`Sandbox::cmd`] to its end.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.cmd(args).output().unwrap()
    }
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard output, then standard error, as text.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}
