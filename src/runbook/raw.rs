//! The serde mirror of the YAML files: what an author may write, and nothing else.
//!
//! Every struct denies unknown keys, and the JSON Schema (`runbook schema`) is generated from
//! these same types, so the schema and the loader cannot drift apart. Values that need more
//! than a type check (durations, regexes, templates, step ids) stay strings here and are
//! turned into domain types by `validate`, which can then quote them with their position.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::span::Sp;

/// A runbook file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "runbook", description = "A runbook for the `runbook` terminal tool.")]
pub struct RawRunbook {
    /// Overrides the id derived from the file's path (`incidents/api-5xx`).
    pub id: Option<Sp<String>>,
    /// The runbook's title, shown in the picker and the header.
    pub title: Sp<String>,
    /// Shown in the picker preview; Markdown (CommonMark with tables).
    pub description: Option<Sp<String>>,
    /// What kind of runbook this is; the picker filters on it. Default: other.
    pub kind: Option<Sp<Kind>>,
    /// Free-form tags for filtering.
    #[serde(default)]
    pub tags: Vec<Sp<String>>,
    /// Who owns the runbook (free text, shown in the header).
    pub owner: Option<Sp<String>>,
    /// Environments the runbook may run in. Default: all of `environments.yaml`.
    pub environments: Option<Vec<Sp<String>>>,
    /// Monitors shown in the health pane. Default: all of the environment's.
    pub monitors: Option<Vec<Sp<String>>>,
    /// Alerts this runbook answers (their `alertname`): `runbook alerts`, the TUI's alert
    /// list and `runbook run --alert` open it for them.
    pub alerts: Option<Vec<Sp<String>>>,
    /// Values asked once, before the first step that uses them.
    #[serde(default)]
    pub inputs: IndexMap<Sp<String>, Sp<RawInput>>,
    /// Derived values; may use inputs, `environment`, environment vars and earlier vars.
    #[serde(default)]
    pub vars: IndexMap<Sp<String>, Sp<String>>,
    /// The checklist, in order.
    pub steps: Sp<Vec<Sp<RawStep>>>,
}

/// The kinds of runbook the picker knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Incident,
    Recovery,
    Deploy,
    Maintenance,
    Onboarding,
    Other,
}

/// An input asked before the first step that uses it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    /// What the value is, shown in the inputs form.
    pub description: Option<Sp<String>>,
    /// The value offered first. Without a default the input is required.
    pub default: Option<Sp<String>>,
    /// A regular expression the whole value must match.
    pub pattern: Option<Sp<String>>,
    /// The values to pick from.
    pub choices: Option<Vec<Sp<String>>>,
    /// A shell command whose output lines are offered as values (run on demand, with a timeout).
    pub choices_from: Option<Sp<String>>,
    /// Masked on screen and never written to the journal.
    #[serde(default)]
    pub secret: Option<Sp<bool>>,
}

/// One step. Which keys are present decides its kind: `run` (command), `check`, `choose`
/// (choice), or none of these (manual).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Unique id; default: the title lowercased, other characters turned into `-`.
    pub id: Option<Sp<String>>,
    /// What the step does; templated.
    pub title: Sp<String>,
    /// Instructions; templated, then Markdown (CommonMark with tables).
    pub body: Option<Sp<String>>,
    /// Only in these environments; skipped elsewhere.
    pub when_env: Option<Vec<Sp<String>>>,
    /// The step to go to after this one succeeds.
    pub next: Option<Sp<String>>,
    /// The path stops after this step.
    pub end: Option<Sp<bool>>,

    /// Shell script of a command step.
    pub run: Option<Sp<String>>,
    /// Program that runs the script as `PROGRAM -c SCRIPT`. Default: sh.
    pub shell: Option<Sp<String>>,
    /// Working directory of the command; templated.
    pub cwd: Option<Sp<String>>,
    /// Environment variables for the command; templated, not shell-quoted.
    pub env: Option<IndexMap<Sp<String>, Sp<String>>>,
    /// How long the command may run (default 10m), or how long one probe may take.
    pub timeout: Option<Sp<String>>,
    /// How many times a failed command is tried again.
    pub retries: Option<Sp<u32>>,
    /// Pause between tries. Default: 2s.
    pub retry_delay: Option<Sp<String>>,
    /// What counts as success for the command.
    pub expect: Option<Sp<RawCommandExpect>>,
    /// Trimmed stdout becomes a variable of this name for later steps.
    pub capture: Option<Sp<String>>,
    /// Ask before running; in a protected environment the user types its name.
    pub confirm: Option<Sp<bool>>,
    /// Hand the terminal to the command.
    pub interactive: Option<Sp<bool>>,

    /// The probe of a check step.
    pub check: Option<Sp<RawProbe>>,
    /// Poll the check until it passes `passes` times in a row, or `timeout` passes.
    pub wait: Option<Sp<RawWait>>,

    /// The options of a choice step.
    pub choose: Option<Sp<Vec<Sp<RawChoice>>>>,

    /// Where the run goes when a command or check fails: a step id, `stop` or `continue`.
    pub on_failure: Option<Sp<String>>,
}

/// What counts as success for a command step.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCommandExpect {
    /// Expected exit code. Default: 0.
    pub exit: Option<Sp<i32>>,
    /// Text stdout must contain.
    pub stdout_contains: Option<Sp<String>>,
    /// A regular expression stdout must match.
    pub stdout_matches: Option<Sp<String>>,
}

/// A probe: exactly one of `http`, `tcp`, `command` or `prometheus`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    /// A PromQL instant query against the environment's `prometheus:`; templated. Needs
    /// `expect: { value: "< 0.05" }` (one series) or `expect: { all: "< 0.05" }` (every series).
    pub prometheus: Option<Sp<String>>,
    /// URL to request; templated.
    pub http: Option<Sp<String>>,
    /// `host:port` to connect to; templated.
    pub tcp: Option<Sp<String>>,
    /// Shell command to run; templated, values shell-quoted.
    pub command: Option<Sp<String>>,
    /// HTTP method. Default: GET.
    pub method: Option<Sp<String>>,
    /// HTTP request headers; templated.
    pub headers: Option<IndexMap<Sp<String>, Sp<String>>>,
    /// How long one probe may take. Default: 5s.
    pub timeout: Option<Sp<String>>,
    /// Accept invalid TLS certificates (opt-in).
    pub insecure: Option<Sp<bool>>,
    /// What counts as passing.
    pub expect: Option<Sp<RawProbeExpect>>,
}

/// What counts as a passing probe. Which keys apply depends on the probe.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProbeExpect {
    /// HTTP: expected status code, or a list of them. Default: any 2xx.
    pub status: Option<Sp<StatusSpec>>,
    /// HTTP: text the body must contain.
    pub body_contains: Option<Sp<String>>,
    /// HTTP: the JSON body must contain this subset (nested maps, exact scalars).
    pub json: Option<Sp<serde_json::Value>>,
    /// HTTP: slower answers fail a check and show a monitor as degraded.
    pub max_latency: Option<Sp<String>>,
    /// TCP: text the server's first bytes must contain (e.g. `220` for SMTP).
    pub banner_contains: Option<Sp<String>>,
    /// Command: expected exit code. Default: 0.
    pub exit: Option<Sp<i32>>,
    /// Command: text stdout must contain.
    pub stdout_contains: Option<Sp<String>>,
    /// Prometheus: the query's one value must compare so: `< 0.05`, `>= 1`, `== 0`, `!= 0`.
    pub value: Option<Sp<String>>,
    /// Prometheus: every series the query returns must compare so (at least one series).
    pub all: Option<Sp<String>>,
}

/// One status code or a list of them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusSpec {
    One(u16),
    Many(Vec<u16>),
}

/// How a check waits.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWait {
    /// Give up after this long. Default: 5m.
    pub timeout: Option<Sp<String>>,
    /// Pause between attempts. Default: 5s.
    pub interval: Option<Sp<String>>,
    /// Consecutive passes needed. Default: 1.
    pub passes: Option<Sp<u32>>,
}

/// One option of a choice step.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawChoice {
    /// What the user picks.
    pub label: Sp<String>,
    /// The step the run goes to.
    pub goto: Sp<String>,
}

/// `environments.yaml`: the environments and the monitors of the health pane.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "runbook environments",
    description = "environments.yaml for the `runbook` terminal tool."
)]
pub struct RawEnvironments {
    /// The environment picked when none is given.
    pub default: Option<Sp<String>>,
    /// The environments, by name.
    pub environments: IndexMap<Sp<String>, Sp<RawEnvironment>>,
    /// Monitors polled by the health pane, templated per environment.
    #[serde(default)]
    pub monitors: Vec<Sp<RawMonitor>>,
}

/// One environment.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEnvironment {
    /// Shown beside the environment's name.
    pub description: Option<Sp<String>>,
    /// Typed confirmation for `confirm` steps; red banner.
    pub protected: Option<Sp<bool>>,
    /// Values for `{{ name }}` placeholders in this environment.
    #[serde(default)]
    pub vars: IndexMap<Sp<String>, Sp<String>>,
    /// The environment's Prometheus (`prometheus:` probes query it): a URL, or
    /// `{ url, headers }`; templated with the environment's vars and `{{ env.NAME }}`.
    pub prometheus: Option<Sp<RawEndpoint>>,
    /// The environment's Alertmanager (`runbook alerts`, the health pane's alerts): a URL,
    /// or `{ url, headers }`.
    pub alertmanager: Option<Sp<RawEndpoint>>,
}

/// A monitoring server: its base URL, optionally with request headers (a bearer token from
/// `{{ env.NAME }}`, say).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawEndpoint {
    /// The base URL, such as `http://prometheus:9090`.
    Url(String),
    /// The base URL and request headers.
    Full(RawEndpointFull),
}

/// A monitoring server with request headers.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEndpointFull {
    /// The base URL, such as `https://prometheus.internal`.
    pub url: String,
    /// Request headers, e.g. `Authorization: "Bearer {{ env.PROM_TOKEN }}"`.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
}

/// A monitor of the health pane.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMonitor {
    /// Unique id, named by runbooks' `monitors:`.
    pub id: Sp<String>,
    /// Shown in the health pane. Default: the id.
    pub title: Option<Sp<String>>,
    /// The probe; templated with the environment's vars.
    pub check: Sp<RawProbe>,
    /// Time between probes. Default: 15s.
    pub interval: Option<Sp<String>>,
    /// Consecutive failures before it shows down. Default: 1.
    pub fail_after: Option<Sp<u32>>,
    /// Only in these environments. Default: all.
    pub environments: Option<Vec<Sp<String>>>,
}
