//! From the serde mirror to domain types, reporting every problem with its position.
//!
//! Validation never stops at the first problem: it collects all it can find in a file, so an
//! author fixes them in one pass. A runbook is built only when there is no error.

mod environments;
mod flow;
mod probe;
pub mod scope;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use self::scope::{LineIndex, Origin, Scope};
use super::diagnostic::{Diagnostics, did_you_mean, quote};
use super::raw::{RawInput, RawRunbook, RawStep};
use super::span::Sp;
use super::template::is_valid_name;
use super::{
    Action, CheckStep, Choice, CommandExpect, CommandStep, Environments, Input, Kind, OnFailure, Runbook,
    Step, Wait,
};

pub use environments::environments;

pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(600);
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(2);
pub const DEFAULT_WAIT: Wait =
    Wait { timeout: Duration::from_secs(300), interval: Duration::from_secs(5), passes: 1 };
/// Step ids that `on_failure` reads as keywords.
const RESERVED_IDS: [&str; 2] = ["stop", "continue"];
const RESERVED_NAMES: [&str; 2] = ["environment", "env"];

/// The id a step gets from its title: lowercased, each run of other characters turned
/// into `-`, without leading or trailing `-`.
pub fn default_step_id(title: &str) -> String {
    let mut id = String::with_capacity(title.len());
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else if !id.ends_with('-') {
            id.push('-');
        }
    }
    id.trim_matches('-').to_owned()
}

fn valid_step_id(id: &str) -> bool {
    id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Parses a duration value, reporting a bad one with the value quoted.
pub(crate) fn duration(raw: &Sp<String>, diags: &mut Diagnostics, place: &str) -> Option<Duration> {
    let parsed = super::duration::parse(&raw.value);
    if parsed.is_none() {
        let hint = if raw.value.trim().chars().all(|c| c.is_ascii_digit()) && !raw.value.trim().is_empty() {
            format!(" (did you mean '{}s'?)", raw.value.trim())
        } else {
            String::new()
        };
        diags.error(
            raw.pos,
            format!(
                "invalid duration {}{place}: expected a number with a unit, such as 500ms, 10s, 5m, 1h or 1h30m{hint}",
                quote(&raw.value)
            ),
        );
    }
    parsed
}

/// Compiles an input `pattern`: the whole value must match.
pub(crate) fn regex_anchored(raw: &Sp<String>, diags: &mut Diagnostics, place: &str) -> Option<regex::Regex> {
    match compile_regex(&format!("^(?:{})$", raw.value)) {
        Ok(re) => Some(re),
        Err(_) => {
            // Report the error against the pattern as written, not the anchored one.
            probe::regex_search(raw, diags, place);
            None
        }
    }
}

/// Compiles a regex once per process: a library repeats the same few patterns across many
/// files, and compiling one (Unicode classes included) costs far more than parsing its file.
pub(crate) fn compile_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    static CACHE: LazyLock<Mutex<HashMap<String, regex::Regex>>> = LazyLock::new(Default::default);
    if let Some(re) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(pattern) {
        return Ok(re.clone());
    }
    let re = regex::Regex::new(pattern)?;
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() < 10_000 {
        cache.insert(pattern.to_owned(), re.clone());
    }
    Ok(re)
}

/// Validates a parsed runbook file. `id` is derived from the path unless the file sets one.
pub fn runbook(
    raw: &RawRunbook,
    path_id: &str,
    source: &str,
    envs: Option<&Environments>,
    diags: &mut Diagnostics,
) -> Option<Runbook> {
    let lines = LineIndex::new(source);
    let id = match &raw.id {
        Some(id) if !valid_id(&id.value) => {
            diags.error(
                id.pos,
                format!(
                    "invalid runbook id {}: use letters, digits, '-', '_' and '/' (like incidents/api-5xx)",
                    quote(&id.value)
                ),
            );
            path_id.to_owned()
        }
        Some(id) => id.value.clone(),
        None => path_id.to_owned(),
    };

    let env_names: Vec<&str> = envs.map(|e| e.names().collect()).unwrap_or_default();
    let check_env_names = |list: &[Sp<String>], diags: &mut Diagnostics, key: &str| {
        if envs.is_none() {
            return;
        }
        for name in list {
            if !env_names.contains(&name.value.as_str()) {
                let hint = did_you_mean(&name.value, env_names.iter().copied())
                    .map(|s| format!("did you mean '{s}'? "))
                    .unwrap_or_default();
                diags.error(
                    name.pos,
                    format!(
                        "`{key}` names environment {}, which environments.yaml does not define ({hint}known: {})",
                        quote(&name.value),
                        env_names.join(", ")
                    ),
                );
            }
        }
    };
    if let Some(list) = &raw.environments {
        check_env_names(list, diags, "environments");
    }
    if let (Some(list), Some(envs)) = (&raw.monitors, envs) {
        let known: Vec<&str> = envs.monitors.iter().map(|m| m.id.as_str()).collect();
        for m in list {
            if !known.contains(&m.value.as_str()) {
                let hint = did_you_mean(&m.value, known.iter().copied())
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_else(|| format!(" (known monitors: {})", known.join(", ")));
                diags.error(
                    m.pos,
                    format!(
                        "unknown monitor {}: environments.yaml has no monitor with that id{hint}",
                        quote(&m.value)
                    ),
                );
            }
        }
    }

    let allowed: Option<Vec<String>> =
        raw.environments.as_ref().map(|l| l.iter().map(|s| s.value.clone()).collect());
    let mut scope = Scope::new(envs, allowed.as_deref());

    let inputs = inputs(raw, &mut scope, diags);
    let mut vars = Vec::new();
    for (name, value) in &raw.vars {
        let place = format!(" in var '{}'", name.value);
        if !is_valid_name(&name.value) || RESERVED_NAMES.contains(&name.value.as_str()) {
            diags.error(name.pos, bad_name_message("var", &name.value));
        } else if scope.names.contains_key(&name.value) {
            diags.error(
                name.pos,
                format!("var '{}' has the name of an input: rename one of them", name.value),
            );
        }
        if let Some(t) = scope::template(value, &scope, &lines, diags, &place) {
            vars.push((name.value.clone(), t));
        }
        scope.names.insert(name.value.clone(), Origin::Var);
    }

    let mut used_names: HashSet<String> = HashSet::new();
    let steps = steps(raw, &mut scope, &lines, diags, &mut used_names, &check_env_names);
    for t in vars.iter().map(|(_, t)| t) {
        used_names.extend(t.placeholders().map(|p| p.name.to_string()));
    }
    for (name, _) in &raw.inputs {
        if !used_names.contains(&name.value) {
            diags.warning(
                name.pos,
                format!(
                    "input '{}' is never used: no step, var or check has '{{{{ {} }}}}'; remove it or use it",
                    name.value, name.value
                ),
            );
        }
    }

    if raw.steps.value.is_empty() {
        diags.error(raw.steps.pos, "runbook has no steps: add at least one under `steps:`");
    }
    flow::check_jumps(&raw.steps.value, diags);
    let steps = steps?;
    flow::check_reachable(&steps, diags);
    let (alerts, alerts_at) = alert_names(raw, diags);
    if diags.has_errors() {
        return None;
    }
    Some(Runbook {
        id,
        title: raw.title.value.clone(),
        description: raw.description.as_ref().map(|d| d.value.clone()).unwrap_or_default(),
        kind: raw.kind.as_ref().map_or(Kind::Other, |k| k.value),
        tags: raw.tags.iter().map(|t| t.value.clone()).collect(),
        owner: raw.owner.as_ref().map(|o| o.value.clone()),
        environments: allowed,
        monitors: raw.monitors.as_ref().map(|l| l.iter().map(|s| s.value.clone()).collect()),
        alerts,
        alerts_at,
        inputs,
        vars,
        steps,
    })
}

/// `alerts:`: alert names as Alertmanager writes them (`alertname` label values).
fn alert_names(raw: &RawRunbook, diags: &mut Diagnostics) -> (Vec<String>, Vec<crate::runbook::Pos>) {
    let mut out: Vec<String> = Vec::new();
    let mut at = Vec::new();
    for a in raw.alerts.iter().flatten() {
        if a.value.trim().is_empty() {
            diags
                .error(a.pos, "an empty alert name in `alerts:`: write the alert's name, like HighErrorRate");
        } else if out.contains(&a.value) {
            diags.warning(a.pos, format!("alert {} is listed twice in `alerts:`", quote(&a.value)));
        } else {
            out.push(a.value.clone());
            at.push(a.pos);
        }
    }
    (out, at)
}

pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('/')
        && !id.ends_with('/')
        && !id.contains("//")
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn bad_name_message(what: &str, name: &str) -> String {
    if RESERVED_NAMES.contains(&name) {
        format!(
            "{what} name '{name}' is reserved ({{{{ environment }}}} and {{{{ env.NAME }}}} are built in): choose another name"
        )
    } else {
        format!(
            "invalid {what} name {}: use letters, digits and '_', starting with a letter (like previous_version)",
            quote(name)
        )
    }
}

fn inputs(raw: &RawRunbook, scope: &mut Scope, diags: &mut Diagnostics) -> Vec<Input> {
    let mut out = Vec::new();
    for (name, input) in &raw.inputs {
        if !is_valid_name(&name.value) || RESERVED_NAMES.contains(&name.value.as_str()) {
            diags.error(name.pos, bad_name_message("input", &name.value));
        }
        scope.names.insert(name.value.clone(), Origin::Input);
        if let Some(i) = self::input(&name.value, &input.value, diags) {
            out.push(i);
        }
    }
    out
}

fn input(name: &str, raw: &RawInput, diags: &mut Diagnostics) -> Option<Input> {
    let place = format!(" in input '{name}'");
    let pattern = raw.pattern.as_ref().and_then(|p| regex_anchored(p, diags, &place));
    let choices: Vec<String> = raw.choices.iter().flatten().map(|c| c.value.clone()).collect();
    if let (Some(_), Some(from)) = (&raw.choices, &raw.choices_from) {
        diags.error(
            from.pos,
            format!("input '{name}' has both `choices` and `choices_from`: keep one of them"),
        );
    }
    if let Some(list) = &raw.choices
        && list.is_empty()
    {
        diags.error(
            raw.description.as_ref().map_or(crate::runbook::Pos::new(1, 1), |d| d.pos),
            format!("input '{name}' has an empty `choices` list: list the values, or remove `choices`"),
        );
    }
    if let Some(default) = &raw.default {
        if let (Some(re), Some(src)) = (&pattern, &raw.pattern)
            && !re.is_match(&default.value)
        {
            diags.error(
                default.pos,
                format!("default {} of input '{name}' does not match its pattern {}: fix the default or the pattern", quote(&default.value), quote(&src.value)),
            );
        }
        if !choices.is_empty() && !choices.contains(&default.value) {
            diags.error(
                default.pos,
                format!(
                    "default {} of input '{name}' is not one of its choices ({})",
                    quote(&default.value),
                    choices.join(", ")
                ),
            );
        }
        if raw.secret.as_ref().is_some_and(|s| s.value) {
            diags.warning(
                default.pos,
                format!("secret input '{name}' has a default: the value sits in the runbook in plain text; remove the default and type it at run time"),
            );
        }
    }
    Some(Input {
        name: name.to_owned(),
        description: raw.description.as_ref().map(|d| d.value.clone()).unwrap_or_default(),
        default: raw.default.as_ref().map(|d| d.value.clone()),
        pattern,
        pattern_source: raw.pattern.as_ref().map(|p| p.value.clone()),
        choices,
        choices_from: raw.choices_from.as_ref().map(|c| c.value.clone()),
        secret: raw.secret.as_ref().is_some_and(|s| s.value),
    })
}

/// Reports environment names in a list that environments.yaml lacks.
type EnvNameCheck<'a> = dyn Fn(&[Sp<String>], &mut Diagnostics, &str) + 'a;

fn steps(
    raw: &RawRunbook,
    scope: &mut Scope,
    lines: &LineIndex,
    diags: &mut Diagnostics,
    used: &mut HashSet<String>,
    check_env_names: &EnvNameCheck,
) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    let mut seen: HashMap<String, crate::runbook::Pos> = HashMap::new();
    let mut ok = true;
    for (index, raw_step) in raw.steps.value.iter().enumerate() {
        let s = &raw_step.value;
        let id = match &s.id {
            Some(id) => id.value.clone(),
            None => {
                let derived = default_step_id(&s.title.value);
                if derived.is_empty() { format!("step-{}", index + 1) } else { derived }
            }
        };
        let id_pos = s.id.as_ref().map_or(raw_step.pos, |i| i.pos);
        if s.id.is_some() && !valid_step_id(&id) {
            diags.error(
                id_pos,
                format!("invalid step id {}: use letters, digits, '-', '_' and '.'", quote(&id)),
            );
        }
        if RESERVED_IDS.contains(&id.as_str()) {
            diags.error(
                id_pos,
                format!("step id '{id}' is reserved (`on_failure: {id}` is a keyword): give the step another `id:`"),
            );
        }
        if let Some(first) = seen.get(&id) {
            let how = if s.id.is_some() { "" } else { " (derived from its title)" };
            diags.error(
                id_pos,
                format!("duplicate step id '{id}'{how}: the step at line {} has it too; give one of them a different `id:`", first.line),
            );
        } else {
            seen.insert(id.clone(), id_pos);
        }
        let place = format!(" in step '{id}'");
        if let Some(list) = &s.when_env {
            check_env_names(list, diags, "when_env");
        }
        let when: Option<Vec<String>> =
            s.when_env.as_ref().map(|l| l.iter().map(|e| e.value.clone()).collect());
        let narrowed;
        let step_scope: &Scope = match &when {
            Some(when) => {
                narrowed = scope.only_envs(Some(when));
                &narrowed
            }
            None => scope,
        };
        let title = scope::template(&s.title, step_scope, lines, diags, &place);
        let body = s.body.as_ref().and_then(|b| scope::template(b, step_scope, lines, diags, &place));
        let action = action(raw_step, step_scope, lines, diags, &place);
        for t in title.iter().chain(body.iter()) {
            used.extend(t.placeholders().map(|p| p.name.to_string()));
        }
        if let Some(a) = &action {
            used.extend(action_names(a));
        }
        if let Some(end) = &s.end
            && end.value
            && let Some(next) = &s.next
        {
            diags.error(next.pos, format!("step '{id}' has both `end: true` and `next`: keep one of them"));
        }
        if let (Some(Action::Choice(_)), Some(next)) = (&action, &s.next) {
            diags.error(next.pos, format!("choice step '{id}' has `next`: the picked option decides where the run goes; remove `next`"));
        }
        if let Some(capture) = &s.capture {
            if !is_valid_name(&capture.value) || RESERVED_NAMES.contains(&capture.value.as_str()) {
                diags.error(capture.pos, bad_name_message("capture", &capture.value));
            } else if let Some(origin) =
                scope.names.get(&capture.value).copied().filter(|o| *o != Origin::Capture)
            {
                let what = match origin {
                    Origin::Input => "an input",
                    Origin::Var => "a var",
                    _ => "a built-in",
                };
                diags.warning(
                    capture.pos,
                    format!(
                        "capture '{}' has the name of {what}; later steps will see the captured value",
                        capture.value
                    ),
                );
            }
            scope.names.insert(capture.value.clone(), Origin::Capture);
        }
        match (title, action) {
            (Some(title), Some(action)) => out.push(Step {
                id,
                title,
                body,
                when_env: when,
                next: s.next.as_ref().map(|n| n.value.clone()),
                end: s.end.as_ref().is_some_and(|e| e.value),
                action,
                pos: raw_step.pos,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

fn action_names(action: &Action) -> Vec<String> {
    let mut templates = Vec::new();
    match action {
        Action::Command(c) => {
            templates.push(&c.run);
            templates.extend(c.cwd.iter());
            templates.extend(c.env.iter().map(|(_, t)| t));
        }
        Action::Check(c) => {
            templates.push(c.probe.target.template());
            if let crate::runbook::ProbeTarget::Http { headers, .. } = &c.probe.target {
                templates.extend(headers.iter().map(|(_, t)| t));
            }
        }
        Action::Manual | Action::Choice(_) => {}
    }
    templates.iter().flat_map(|t| t.placeholders().map(|p| p.name.to_string())).collect()
}

/// Works out the step's kind from its keys and validates the keys of that kind.
fn action(
    raw: &Sp<RawStep>,
    scope: &Scope,
    lines: &LineIndex,
    diags: &mut Diagnostics,
    place: &str,
) -> Option<Action> {
    let s = &raw.value;
    let kinds: Vec<(&str, crate::runbook::Pos)> = [
        ("run", s.run.as_ref().map(|v| v.pos)),
        ("check", s.check.as_ref().map(|v| v.pos)),
        ("choose", s.choose.as_ref().map(|v| v.pos)),
    ]
    .into_iter()
    .filter_map(|(k, p)| p.map(|p| (k, p)))
    .collect();
    if let [(first, _), (second, pos), ..] = kinds.as_slice() {
        diags.error(
            *pos,
            format!(
                "step{} has both `{first}` and `{second}`: a step is exactly one of command (`run`), check (`check`), choice (`choose`) or manual (none of them); split it into two steps",
                &place[" in step".len()..]
            ),
        );
        return None;
    }
    let kind = kinds.first().map_or("manual", |(k, _)| *k);
    // Keys that only mean something for some kinds.
    let command_only = [
        ("shell", s.shell.as_ref().map(|v| v.pos)),
        ("cwd", s.cwd.as_ref().map(|v| v.pos)),
        ("env", s.env.as_ref().and_then(|m| m.keys().next()).map(|k| k.pos)),
        ("retries", s.retries.as_ref().map(|v| v.pos)),
        ("retry_delay", s.retry_delay.as_ref().map(|v| v.pos)),
        ("expect", s.expect.as_ref().map(|v| v.pos)),
        ("capture", s.capture.as_ref().map(|v| v.pos)),
        ("confirm", s.confirm.as_ref().map(|v| v.pos)),
        ("interactive", s.interactive.as_ref().map(|v| v.pos)),
        ("timeout", s.timeout.as_ref().map(|v| v.pos)),
    ];
    let mut misplaced = false;
    for (key, pos) in command_only {
        let Some(pos) = pos else { continue };
        if kind == "run" {
            continue;
        }
        misplaced = true;
        let fix = match (kind, key) {
            ("check", "timeout") => {
                "use `check.timeout` for one probe or `wait.timeout` for the whole wait".to_owned()
            }
            ("check", "expect") => "put it inside the check: `check: { ..., expect: ... }`".to_owned(),
            _ => "add `run:` or remove it".to_owned(),
        };
        diags.error(
            pos,
            format!(
                "`{key}`{place} belongs to command steps, but this is a {} step: {fix}",
                kind_label(kind)
            ),
        );
    }
    if let Some(w) = &s.wait
        && kind != "check"
    {
        misplaced = true;
        diags.error(
            w.pos,
            format!(
                "`wait`{place} belongs to check steps, but this is a {} step: add `check:` or remove it",
                kind_label(kind)
            ),
        );
    }
    if let Some(f) = &s.on_failure
        && kind != "run"
        && kind != "check"
    {
        misplaced = true;
        diags.error(
            f.pos,
            format!(
                "`on_failure`{place} applies to command and check steps; a {} step cannot fail",
                kind_label(kind)
            ),
        );
    }
    let on_failure = s.on_failure.as_ref().map_or(OnFailure::Stop, |f| match f.value.as_str() {
        "stop" => OnFailure::Stop,
        "continue" => OnFailure::Continue,
        other => OnFailure::Goto(other.to_owned()),
    });
    let action = match kind {
        "run" => Action::Command(command(s, scope, lines, diags, place, on_failure)?),
        "check" => {
            let probe = probe::probe(s.check.as_ref()?, scope, lines, diags, place);
            let wait = s.wait.as_ref().map(|w| wait(w, diags, place));
            Action::Check(CheckStep { probe: probe?, wait, on_failure })
        }
        "choose" => {
            let options = &s.choose.as_ref()?.value;
            if options.is_empty() {
                diags.error(
                    s.choose.as_ref()?.pos,
                    format!(
                        "choice step{} has no options: list them as `- {{ label: ..., goto: STEP }}`",
                        &place[" in step".len()..]
                    ),
                );
            }
            let mut labels = HashSet::new();
            for o in options {
                if !labels.insert(o.value.label.value.as_str()) {
                    diags.error(
                        o.value.label.pos,
                        format!(
                            "option {}{place} is listed twice: labels must differ",
                            quote(&o.value.label.value)
                        ),
                    );
                }
            }
            Action::Choice(
                options
                    .iter()
                    .map(|o| Choice { label: o.value.label.value.clone(), goto: o.value.goto.value.clone() })
                    .collect(),
            )
        }
        _ => Action::Manual,
    };
    (!misplaced).then_some(action)
}

fn kind_label(kind: &str) -> &str {
    match kind {
        "run" => "command",
        "choose" => "choice",
        k => k,
    }
}

fn command(
    s: &RawStep,
    scope: &Scope,
    lines: &LineIndex,
    diags: &mut Diagnostics,
    place: &str,
    on_failure: OnFailure,
) -> Option<CommandStep> {
    let run = scope::shell_template(s.run.as_ref()?, scope, lines, diags, place);
    let cwd = s.cwd.as_ref().and_then(|c| scope::template(c, scope, lines, diags, place));
    let mut env = Vec::new();
    for (name, value) in s.env.iter().flatten() {
        let valid = name.value.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            diags.error(
                name.pos,
                format!(
                    "invalid environment variable name {}{place}: use letters, digits and '_'",
                    quote(&name.value)
                ),
            );
        }
        if let Some(t) = scope::template(value, scope, lines, diags, place) {
            env.push((name.value.clone(), t));
        }
    }
    let timeout =
        s.timeout.as_ref().and_then(|t| duration(t, diags, place)).unwrap_or(DEFAULT_COMMAND_TIMEOUT);
    let retry_delay =
        s.retry_delay.as_ref().and_then(|t| duration(t, diags, place)).unwrap_or(DEFAULT_RETRY_DELAY);
    let expect = match &s.expect {
        Some(e) => CommandExpect {
            exit: e.value.exit.as_ref().map_or(0, |v| v.value),
            stdout_contains: e.value.stdout_contains.as_ref().map(|v| v.value.clone()),
            stdout_matches: e
                .value
                .stdout_matches
                .as_ref()
                .and_then(|r| probe::regex_search(r, diags, place)),
        },
        None => CommandExpect::default(),
    };
    let interactive = s.interactive.as_ref().is_some_and(|i| i.value);
    if interactive && let Some(c) = &s.capture {
        diags.error(c.pos, format!("step{} is interactive, so its output goes to the terminal and cannot be captured: remove `capture` or `interactive`", &place[" in step".len()..]));
    }
    if let Some(shell) = &s.shell
        && shell.value.trim().is_empty()
    {
        diags.error(
            shell.pos,
            format!("empty `shell`{place}: name a program such as bash, or remove the key"),
        );
    }
    Some(CommandStep {
        run: run?,
        shell: s.shell.as_ref().map(|v| v.value.clone()),
        cwd,
        env,
        timeout,
        retries: s.retries.as_ref().map_or(0, |r| r.value),
        retry_delay,
        expect,
        capture: s.capture.as_ref().map(|c| c.value.clone()),
        confirm: s.confirm.as_ref().is_some_and(|c| c.value),
        interactive,
        on_failure,
    })
}

fn wait(raw: &Sp<crate::runbook::raw::RawWait>, diags: &mut Diagnostics, place: &str) -> Wait {
    let w = &raw.value;
    let timeout = w.timeout.as_ref().and_then(|t| duration(t, diags, place)).unwrap_or(DEFAULT_WAIT.timeout);
    let interval =
        w.interval.as_ref().and_then(|t| duration(t, diags, place)).unwrap_or(DEFAULT_WAIT.interval);
    let passes = w.passes.as_ref().map_or(1, |p| p.value);
    if passes == 0 {
        diags.error(
            w.passes.as_ref().map_or(raw.pos, |p| p.pos),
            format!("`wait.passes`{place} is 0: it must be at least 1"),
        );
    }
    if interval.is_zero() {
        diags.error(
            w.interval.as_ref().map_or(raw.pos, |p| p.pos),
            format!("`wait.interval`{place} is zero: poll at least every few hundred ms, like 500ms"),
        );
    }
    if interval > timeout {
        diags.warning(
            raw.pos,
            format!(
                "`wait.interval`{place} is longer than `wait.timeout`: the check gets one attempt at most"
            ),
        );
    }
    Wait { timeout, interval, passes }
}
