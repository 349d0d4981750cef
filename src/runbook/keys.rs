//! Where each key of the format lives, so a key in the wrong place can say where it belongs.
//!
//! The lists mirror the structs of `raw.rs` (a test checks them against the JSON Schema, which
//! is generated from those structs). The hints cover the mistakes authors make: an HTTP
//! expectation at the step instead of under `check: expect:`, `wait` inside the check, a
//! probe's `http:` at the step, an input's `default:` on a step.

use super::tree::{Node, Seg, Tree};
use super::yaml::Document;

/// A mapping of the format: which struct of `raw.rs` a mapping is read into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    Runbook,
    Input,
    Step,
    CommandExpect,
    Probe,
    ProbeExpect,
    Wait,
    Choice,
    EnvironmentsFile,
    Environment,
    Monitor,
    /// A mapping whose keys are names the author chooses (inputs, vars, env, headers).
    Names,
    /// A list, or a value with no fixed keys.
    Other,
}

pub const RUNBOOK: &[&str] = &[
    "id",
    "title",
    "description",
    "kind",
    "tags",
    "owner",
    "environments",
    "monitors",
    "inputs",
    "vars",
    "steps",
    "alerts",
];
pub const INPUT: &[&str] = &["description", "default", "pattern", "choices", "choices_from", "secret"];
pub const STEP: &[&str] = &[
    "id",
    "title",
    "body",
    "when_env",
    "next",
    "end",
    "run",
    "shell",
    "cwd",
    "env",
    "timeout",
    "retries",
    "retry_delay",
    "expect",
    "capture",
    "confirm",
    "interactive",
    "check",
    "wait",
    "choose",
    "on_failure",
];
pub const COMMAND_EXPECT: &[&str] = &["exit", "stdout_contains", "stdout_matches"];
pub const PROBE: &[&str] =
    &["http", "tcp", "command", "prometheus", "method", "headers", "timeout", "insecure", "expect"];
pub const PROBE_EXPECT: &[&str] = &[
    "status",
    "body_contains",
    "json",
    "max_latency",
    "banner_contains",
    "exit",
    "stdout_contains",
    "value",
    "all",
];
pub const WAIT: &[&str] = &["timeout", "interval", "passes"];
pub const CHOICE: &[&str] = &["label", "goto"];
pub const ENVIRONMENTS_FILE: &[&str] = &["default", "environments", "monitors"];
pub const ENVIRONMENT: &[&str] = &["description", "protected", "vars", "prometheus", "alertmanager"];
pub const MONITOR: &[&str] = &["id", "title", "check", "interval", "fail_after", "environments"];

impl Ctx {
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Ctx::Runbook => RUNBOOK,
            Ctx::Input => INPUT,
            Ctx::Step => STEP,
            Ctx::CommandExpect => COMMAND_EXPECT,
            Ctx::Probe => PROBE,
            Ctx::ProbeExpect => PROBE_EXPECT,
            Ctx::Wait => WAIT,
            Ctx::Choice => CHOICE,
            Ctx::EnvironmentsFile => ENVIRONMENTS_FILE,
            Ctx::Environment => ENVIRONMENT,
            Ctx::Monitor => MONITOR,
            Ctx::Names | Ctx::Other => &[],
        }
    }

    /// Keys that must be there: a problem in one takes out what holds it.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Ctx::Runbook => &["title", "steps"],
            Ctx::Step => &["title"],
            Ctx::Choice => &["label", "goto"],
            Ctx::EnvironmentsFile => &["environments"],
            Ctx::Monitor => &["id", "check"],
            _ => &[],
        }
    }
}

/// The mapping `path` leads to.
pub fn ctx_at(doc: Document, path: &[Seg]) -> Ctx {
    /// Where a walk is: a mapping of the format, or a container of them.
    #[derive(Clone, Copy)]
    enum At {
        Map(Ctx),
        /// A mapping of names whose values are mappings of this kind.
        NamesOf(Ctx),
        ListOf(Ctx),
    }
    let mut at = At::Map(match doc {
        Document::Runbook => Ctx::Runbook,
        Document::Environments => Ctx::EnvironmentsFile,
    });
    for seg in path {
        at = match (at, seg) {
            (At::NamesOf(c) | At::ListOf(c), _) => At::Map(c),
            (At::Map(ctx), Seg::Key(k)) => match (ctx, k.as_str()) {
                (Ctx::Runbook, "inputs") => At::NamesOf(Ctx::Input),
                (Ctx::Runbook, "steps") => At::ListOf(Ctx::Step),
                (Ctx::Runbook | Ctx::Environment, "vars") | (Ctx::Step, "env") | (Ctx::Probe, "headers") => {
                    At::Map(Ctx::Names)
                }
                (Ctx::Step, "expect") => At::Map(Ctx::CommandExpect),
                (Ctx::Step | Ctx::Monitor, "check") => At::Map(Ctx::Probe),
                (Ctx::Step, "wait") => At::Map(Ctx::Wait),
                (Ctx::Step, "choose") => At::ListOf(Ctx::Choice),
                (Ctx::Probe, "expect") => At::Map(Ctx::ProbeExpect),
                (Ctx::EnvironmentsFile, "environments") => At::NamesOf(Ctx::Environment),
                (Ctx::EnvironmentsFile, "monitors") => At::ListOf(Ctx::Monitor),
                _ => At::Map(Ctx::Other),
            },
            (At::Map(_), Seg::Index(_)) => At::Map(Ctx::Other),
        };
    }
    match at {
        At::Map(c) => c,
        At::NamesOf(_) => Ctx::Names,
        At::ListOf(_) => Ctx::Other,
    }
}

/// What a step is, from its keys: for hints that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Command,
    Http,
    Tcp,
    CommandProbe,
    Choice,
    Manual,
}

pub fn step_kind(step: Option<&Tree>) -> StepKind {
    let Some(step) = step else { return StepKind::Manual };
    if let Some(check) = step.get("check") {
        if check.get("tcp").is_some() {
            return StepKind::Tcp;
        }
        if check.get("command").is_some() {
            return StepKind::CommandProbe;
        }
        return StepKind::Http;
    }
    if step.get("run").is_some() {
        return StepKind::Command;
    }
    if step.get("choose").is_some() {
        return StepKind::Choice;
    }
    StepKind::Manual
}

/// The step a path is in (`steps[i]`), if any.
pub fn step_of<'t>(tree: &'t Tree, path: &[Seg]) -> Option<&'t Tree> {
    match path {
        [Seg::Key(k), Seg::Index(i), ..] if k == "steps" => match &tree.get("steps")?.node {
            Node::Seq(items) => items.get(*i),
            _ => None,
        },
        _ => None,
    }
}

/// Where `key`, unknown in `ctx`, belongs, when it is a key of another place. `kind` is the
/// kind of the step it was found in.
pub fn misplaced(ctx: Ctx, key: &str, kind: StepKind) -> Option<String> {
    use Ctx::*;
    let in_step = matches!(ctx, Step | CommandExpect);
    let under_check = match ctx {
        Probe => "under `expect:` in the check",
        ProbeExpect | Wait => "in the check",
        _ => "under `check: expect:`",
    };
    let hint = match key {
        "status" | "body_contains" | "json" | "max_latency" if ctx != ProbeExpect => {
            format!("`{key}` is an HTTP expectation: put it {under_check}")
        }
        "banner_contains" if ctx != ProbeExpect => {
            format!("`{key}` is a TCP expectation: put it {under_check}")
        }
        "stdout_matches" if ctx == ProbeExpect => {
            "`stdout_matches` is for command steps (`run:` with `expect:`); a check's command probe has `stdout_contains`".into()
        }
        "exit" | "stdout_contains" | "stdout_matches" if matches!(ctx, Step | Probe | Monitor) => {
            match (ctx, kind) {
                (Probe | Monitor, _) => format!("`{key}` is an expectation: put it {under_check}"),
                (_, StepKind::Http | StepKind::Tcp | StepKind::CommandProbe) if key != "stdout_matches" => {
                    format!("`{key}` is an expectation: put it under `check: expect:`")
                }
                _ => format!("`{key}` is an expectation: put it under `expect:`"),
            }
        }
        "wait" if matches!(ctx, Probe | ProbeExpect | Wait) => "`wait` belongs at the step, beside `check:`".into(),
        "expect" if matches!(ctx, Monitor | Wait) => "`expect` belongs to the probe: put it under `check:`".into(),
        "wait" if ctx == Monitor => "a monitor polls on its own: use `interval` and `fail_after`".into(),
        "interval" | "passes" if in_step || matches!(ctx, Probe | ProbeExpect) => {
            format!("`{key}` is part of the wait: put it under `wait:`, beside `check:`")
        }
        "http" | "tcp" | "method" | "headers" | "insecure" if in_step || ctx == Monitor => {
            format!("`{key}` belongs to the probe: put it under `check:`")
        }
        "command" if in_step => {
            "`command` belongs to a probe, under `check:`; a command step runs its script with `run:`".into()
        }
        "http" | "tcp" | "command" | "method" | "headers" | "insecure" if matches!(ctx, ProbeExpect | Wait) => {
            format!("`{key}` belongs in `check:`, beside `expect:`")
        }
        "run" if matches!(ctx, Probe | ProbeExpect | Wait) => {
            "a check runs a command with `command:`; `run:` belongs to command steps".into()
        }
        "id" | "title" | "body" | "when_env" | "next" | "end" | "shell" | "cwd" | "env" | "retries"
        | "retry_delay" | "capture" | "confirm" | "interactive" | "choose" | "on_failure"
            if matches!(ctx, Probe | ProbeExpect | Wait) =>
        {
            format!("`{key}` belongs at the step, beside `check:`")
        }
        "id" | "title" | "body" | "when_env" | "next" | "end" | "run" | "shell" | "cwd" | "env" | "timeout"
        | "retries" | "retry_delay" | "capture" | "confirm" | "interactive" | "check" | "wait" | "choose"
        | "on_failure"
            if ctx == CommandExpect =>
        {
            format!("`{key}` belongs at the step, beside `expect:`")
        }
        "label" if ctx == Step => "`label` belongs to an option of `choose:` (`- { label: ..., goto: STEP }`)".into(),
        "goto" if ctx == Step => {
            "`goto` belongs to an option of `choose:`; to go on to a given step after this one, use `next:`".into()
        }
        "choices" if ctx == Step => {
            "a choice step lists its options under `choose:`; `choices` belongs to an input".into()
        }
        "default" | "pattern" | "choices_from" | "secret" if matches!(ctx, Step | Runbook) => {
            format!("`{key}` belongs to an input: put it under `inputs: NAME:`")
        }
        "description" if ctx == Step => "a step's instructions go in `body:`".into(),
        "environments" if ctx == Step => {
            "a step is limited to some environments with `when_env:`; `environments` belongs at the top of the runbook".into()
        }
        "kind" | "tags" | "owner" | "monitors" | "inputs" | "steps" if ctx == Step => {
            format!("`{key}` belongs at the top of the runbook")
        }
        "vars" if ctx == Step => {
            "`vars` belongs at the top of the runbook (or to an environment); a command step sets environment variables with `env:`".into()
        }
        "when_env" if ctx == Runbook => {
            "`when_env` belongs to a step; a runbook is limited to some environments with `environments:`".into()
        }
        "run" | "check" | "choose" | "body" | "timeout" | "retries" | "confirm" | "next" | "capture"
            if ctx == Runbook =>
        {
            format!("`{key}` belongs to a step: put it in an item under `steps:`")
        }
        "protected" if ctx != Environment => "`protected` belongs to an environment in environments.yaml".into(),
        "fail_after" if ctx != Monitor => "`fail_after` belongs to a monitor in environments.yaml".into(),
        _ => return None,
    };
    Some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_lists_match_the_schema() {
        let runbook = crate::cmd::schema::schema(crate::cli::SchemaKind::Runbook);
        let envs = crate::cmd::schema::schema(crate::cli::SchemaKind::Environments);
        let props = |schema: &serde_json::Value, def: Option<&str>| -> Vec<String> {
            let node = match def {
                Some(d) => &schema["$defs"][d],
                None => schema,
            };
            let mut keys: Vec<String> =
                node["properties"].as_object().unwrap_or_else(|| panic!("{def:?}")).keys().cloned().collect();
            keys.sort();
            keys
        };
        let sorted = |keys: &[&str]| {
            let mut v: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(props(&runbook, None), sorted(RUNBOOK));
        for (def, keys) in [
            ("RawInput", INPUT),
            ("RawStep", STEP),
            ("RawCommandExpect", COMMAND_EXPECT),
            ("RawProbe", PROBE),
            ("RawProbeExpect", PROBE_EXPECT),
            ("RawWait", WAIT),
            ("RawChoice", CHOICE),
        ] {
            assert_eq!(props(&runbook, Some(def)), sorted(keys), "{def}");
        }
        assert_eq!(props(&envs, None), sorted(ENVIRONMENTS_FILE));
        assert_eq!(props(&envs, Some("RawEnvironment")), sorted(ENVIRONMENT));
        assert_eq!(props(&envs, Some("RawMonitor")), sorted(MONITOR));
    }

    #[test]
    fn paths_lead_to_their_mapping() {
        let k = |s: &str| Seg::Key(s.into());
        let rb = Document::Runbook;
        assert_eq!(ctx_at(rb, &[]), Ctx::Runbook);
        assert_eq!(ctx_at(rb, &[k("steps"), Seg::Index(2)]), Ctx::Step);
        assert_eq!(ctx_at(rb, &[k("steps"), Seg::Index(2), k("check"), k("expect")]), Ctx::ProbeExpect);
        assert_eq!(ctx_at(rb, &[k("steps"), Seg::Index(0), k("expect")]), Ctx::CommandExpect);
        assert_eq!(ctx_at(rb, &[k("steps"), Seg::Index(0), k("choose"), Seg::Index(1)]), Ctx::Choice);
        assert_eq!(ctx_at(rb, &[k("inputs"), k("version")]), Ctx::Input);
        assert_eq!(ctx_at(rb, &[k("vars")]), Ctx::Names);
        let env = Document::Environments;
        assert_eq!(ctx_at(env, &[k("environments"), k("prod")]), Ctx::Environment);
        assert_eq!(ctx_at(env, &[k("monitors"), Seg::Index(0), k("check")]), Ctx::Probe);
    }
}
