//! Validated runbooks: the domain types every other module works with.
//!
//! YAML is read into the serde mirror in [`raw`], then [`validate`] checks it and builds
//! these types. A value of these types is known to be well-formed: jumps name real steps,
//! durations parsed, regexes compiled, placeholders defined.

pub mod bundled;
pub mod diagnostic;
pub mod duration;
pub mod index;
pub mod keys;
pub mod load;
pub mod raw;
pub mod shell;
pub mod span;
pub mod summary;
pub mod template;
pub mod tree;
pub mod validate;
pub mod yaml;

use std::time::Duration;

use indexmap::IndexMap;
use regex::Regex;

pub use diagnostic::{Diagnostic, Severity};
pub use raw::Kind;
pub use span::Pos;
pub use template::Template;

/// A runbook that passed validation (it may still carry warnings).
#[derive(Debug, Clone)]
pub struct Runbook {
    pub id: String,
    pub title: String,
    pub description: String,
    pub kind: Kind,
    pub tags: Vec<String>,
    pub owner: Option<String>,
    /// Allowed environments; `None` means all.
    pub environments: Option<Vec<String>>,
    /// Monitors shown in the health pane; `None` means all of the environment's.
    pub monitors: Option<Vec<String>>,
    /// Alerts (`alertname`s) this runbook answers.
    pub alerts: Vec<String>,
    /// Where each of `alerts` is written (for `check`'s warnings).
    pub alerts_at: Vec<Pos>,
    pub inputs: Vec<Input>,
    pub vars: Vec<(String, Template)>,
    pub steps: Vec<Step>,
}

impl Runbook {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    pub fn allows_environment(&self, env: &str) -> bool {
        self.environments.as_ref().is_none_or(|list| list.iter().any(|e| e == env))
    }

    pub fn input(&self, name: &str) -> Option<&Input> {
        self.inputs.iter().find(|i| i.name == name)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Incident => "incident",
            Kind::Recovery => "recovery",
            Kind::Deploy => "deploy",
            Kind::Maintenance => "maintenance",
            Kind::Onboarding => "onboarding",
            Kind::Other => "other",
        })
    }
}

/// A value asked from the user before the first step that uses it.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    pub description: String,
    pub default: Option<String>,
    /// Anchored: the whole value must match.
    pub pattern: Option<Regex>,
    pub pattern_source: Option<String>,
    pub choices: Vec<String>,
    pub choices_from: Option<String>,
    pub secret: bool,
}

impl Input {
    /// Checks a value against `pattern` and `choices`; the error is a sentence for the user.
    pub fn check_value(&self, value: &str) -> Result<(), String> {
        if let (Some(re), Some(src)) = (&self.pattern, &self.pattern_source)
            && !re.is_match(value)
        {
            return Err(format!("'{}' does not match the pattern {src}", self.shown(value)));
        }
        if !self.choices.is_empty() && !self.choices.iter().any(|c| c == value) {
            return Err(format!("'{}' is not one of {}", self.shown(value), self.choices.join(", ")));
        }
        Ok(())
    }

    fn shown<'a>(&self, value: &'a str) -> &'a str {
        if self.secret { template::MASK } else { value }
    }
}

/// One step of the checklist.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub title: Template,
    pub body: Option<Template>,
    pub when_env: Option<Vec<String>>,
    pub next: Option<String>,
    pub end: bool,
    pub action: Action,
    /// Where the step starts in its file.
    pub pos: Pos,
}

impl Step {
    /// Whether the step runs in `env` (`when_env`).
    pub fn applies_to(&self, env: &str) -> bool {
        self.when_env.as_ref().is_none_or(|list| list.iter().any(|e| e == env))
    }

    pub fn on_failure(&self) -> Option<&OnFailure> {
        match &self.action {
            Action::Command(c) => Some(&c.on_failure),
            Action::Check(c) => Some(&c.on_failure),
            Action::Manual | Action::Choice(_) => None,
        }
    }
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Read, do, tick off.
    Manual,
    Command(CommandStep),
    Check(CheckStep),
    /// Pick an option; the run goes to its step.
    Choice(Vec<Choice>),
}

impl Action {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Action::Manual => "manual",
            Action::Command(_) => "command",
            Action::Check(_) => "check",
            Action::Choice(_) => "choice",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CommandStep {
    pub run: Template,
    /// The `shell:` words; `None` runs the strict default (see `exec::command::shell_argv`).
    pub shell: Option<String>,
    pub cwd: Option<Template>,
    pub env: Vec<(String, Template)>,
    pub timeout: Duration,
    pub retries: u32,
    pub retry_delay: Duration,
    pub expect: CommandExpect,
    pub capture: Option<String>,
    pub confirm: bool,
    pub interactive: bool,
    pub on_failure: OnFailure,
}

#[derive(Debug, Clone, Default)]
pub struct CommandExpect {
    pub exit: i32,
    pub stdout_contains: Option<String>,
    pub stdout_matches: Option<Regex>,
}

#[derive(Debug, Clone)]
pub struct CheckStep {
    pub probe: Probe,
    pub wait: Option<Wait>,
    pub on_failure: OnFailure,
}

/// Polling of a check: `passes` passes in a row before `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub timeout: Duration,
    pub interval: Duration,
    pub passes: u32,
}

/// Where the run goes when a command or check fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnFailure {
    /// Wait for the user to retry, skip with a reason, or jump.
    Stop,
    /// Record the failure and go on with the next step.
    Continue,
    /// Jump to this step.
    Goto(String),
}

#[derive(Debug, Clone)]
pub struct Choice {
    pub label: String,
    pub goto: String,
}

/// A health probe, shared by check steps and monitors.
#[derive(Debug, Clone)]
pub struct Probe {
    pub target: ProbeTarget,
    pub timeout: Duration,
    pub expect: ProbeExpect,
}

#[derive(Debug, Clone)]
pub enum ProbeTarget {
    Http {
        url: Template,
        method: String,
        headers: Vec<(String, Template)>,
        insecure: bool,
    },
    Tcp {
        address: Template,
    },
    Command {
        script: Template,
    },
    /// A PromQL instant query against the environment's Prometheus.
    Prometheus {
        query: Template,
    },
}

impl ProbeTarget {
    pub fn kind_name(&self) -> &'static str {
        match self {
            ProbeTarget::Http { .. } => "http",
            ProbeTarget::Tcp { .. } => "tcp",
            ProbeTarget::Command { .. } => "command",
            ProbeTarget::Prometheus { .. } => "prometheus",
        }
    }

    /// The templated target (URL, address or script).
    pub fn template(&self) -> &Template {
        match self {
            ProbeTarget::Http { url, .. } => url,
            ProbeTarget::Tcp { address } => address,
            ProbeTarget::Command { script } => script,
            ProbeTarget::Prometheus { query } => query,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeExpect {
    /// HTTP: accepted codes; empty means any 2xx.
    pub status: Vec<u16>,
    pub body_contains: Option<String>,
    pub json: Option<serde_json::Value>,
    pub max_latency: Option<Duration>,
    pub banner_contains: Option<String>,
    pub exit: i32,
    pub stdout_contains: Option<String>,
    /// Prometheus: how the value must compare.
    pub value: Option<crate::prom::Comparison>,
    /// Prometheus: every series must hold `value` (else exactly one series is expected).
    pub all: bool,
}

/// `environments.yaml`, validated.
#[derive(Debug, Clone, Default)]
pub struct Environments {
    pub default: Option<String>,
    pub environments: Vec<Environment>,
    pub monitors: Vec<Monitor>,
}

impl Environments {
    pub fn get(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.environments.iter().map(|e| e.name.as_str())
    }

    /// The monitors that apply to `env`.
    pub fn monitors_for<'a>(&'a self, env: &'a str) -> impl Iterator<Item = &'a Monitor> + 'a {
        self.monitors.iter().filter(move |m| m.applies_to(env))
    }
}

#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub description: Option<String>,
    pub protected: bool,
    pub vars: IndexMap<String, String>,
    /// Where `prometheus:` probes send their queries.
    pub prometheus: Option<Endpoint>,
    /// Where `runbook alerts` and the health pane read firing alerts.
    pub alertmanager: Option<Endpoint>,
}

/// A monitoring server of an environment: a templated base URL and request headers.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: Template,
    pub headers: Vec<(String, Template)>,
}

#[derive(Debug, Clone)]
pub struct Monitor {
    pub id: String,
    pub title: String,
    pub probe: Probe,
    pub interval: Duration,
    pub fail_after: u32,
    pub environments: Option<Vec<String>>,
}

impl Monitor {
    pub fn applies_to(&self, env: &str) -> bool {
        self.environments.as_ref().is_none_or(|list| list.iter().any(|e| e == env))
    }
}
