//! The shape of a run: jumps name real steps, and every step can be reached.

use crate::runbook::diagnostic::{Diagnostics, did_you_mean, quote};
use crate::runbook::raw::RawStep;
use crate::runbook::span::{Pos, Sp};
use crate::runbook::{Action, OnFailure, Step};

/// Where a run can go from step `i`: on success, on failure, and by choice.
pub fn successors(steps: &[Step], i: usize) -> Vec<usize> {
    let index = |id: &str| steps.iter().position(|s| s.id == id);
    let step = &steps[i];
    let mut out = Vec::new();
    match &step.action {
        Action::Choice(options) => out.extend(options.iter().filter_map(|o| index(&o.goto))),
        _ => match (&step.next, step.end) {
            (Some(next), _) => out.extend(index(next)),
            (None, false) if i + 1 < steps.len() => out.push(i + 1),
            _ => {}
        },
    }
    if let Some(OnFailure::Goto(target)) = step.on_failure() {
        out.extend(index(target));
    } else if let Some(OnFailure::Continue) = step.on_failure()
        && step.next.is_none()
        && !step.end
        && i + 1 < steps.len()
    {
        out.push(i + 1);
    }
    out
}

/// The id of each step as written or derived, in order.
fn ids(raw: &[Sp<RawStep>]) -> Vec<String> {
    raw.iter()
        .enumerate()
        .map(|(i, s)| match &s.value.id {
            Some(id) => id.value.clone(),
            None => {
                let id = super::default_step_id(&s.value.title.value);
                if id.is_empty() { format!("step-{}", i + 1) } else { id }
            }
        })
        .collect()
}

/// Checks that every `next`, `on_failure` and `goto` names a step of the runbook.
pub fn check_jumps(raw: &[Sp<RawStep>], diags: &mut Diagnostics) {
    let ids = ids(raw);
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let target = |key: &str, value: &str, pos: Pos, from: &str, diags: &mut Diagnostics| {
        if ids.contains(&value) {
            if key == "next" && value == from {
                diags.error(
                    pos,
                    format!("step '{from}' has `next: {value}`, itself: the run would loop forever"),
                );
            }
            return;
        }
        let hint = did_you_mean(value, ids.iter().copied())
            .map(|s| format!(" (did you mean '{s}'?)"))
            .unwrap_or_default();
        let extra = if key == "on_failure" { " or `stop`/`continue`" } else { "" };
        diags.error(
            pos,
            format!("`{key}` in step '{from}' names step {}, which does not exist{hint}: use the id of a step in this runbook{extra}", quote(value)),
        );
    };
    for (raw, id) in raw.iter().zip(&ids) {
        let r = &raw.value;
        if let Some(next) = &r.next {
            target("next", &next.value, next.pos, id, diags);
        }
        if let Some(f) = &r.on_failure
            && f.value != "stop"
            && f.value != "continue"
        {
            target("on_failure", &f.value, f.pos, id, diags);
        }
        for option in r.choose.iter().flat_map(|c| c.value.iter()) {
            target("goto", &option.value.goto.value, option.value.goto.pos, id, diags);
        }
    }
}

/// Warns about steps no path of the run can reach. Needs valid jumps.
pub fn check_reachable(steps: &[Step], diags: &mut Diagnostics) {
    let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
    let jumps_ok = steps.iter().all(|s| {
        let targets: Vec<&str> = match &s.action {
            Action::Choice(o) => o.iter().map(|o| o.goto.as_str()).collect(),
            _ => vec![],
        };
        s.next.iter().map(String::as_str).chain(targets).all(|t| ids.contains(&t))
            && !matches!(s.on_failure(), Some(OnFailure::Goto(t)) if !ids.contains(&t.as_str()))
    });
    if !jumps_ok || steps.is_empty() {
        return;
    }
    let mut reached = vec![false; steps.len()];
    let mut stack = vec![0];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut reached[i], true) {
            continue;
        }
        stack.extend(successors(steps, i));
    }
    for (i, step) in steps.iter().enumerate().filter(|(i, _)| !reached[*i]) {
        let why = if i > 0
            && (steps[i - 1].end
                || steps[i - 1].next.is_some()
                || matches!(steps[i - 1].action, Action::Choice(_)))
        {
            format!(" (step '{}' before it does not fall through to it)", steps[i - 1].id)
        } else {
            String::new()
        };
        diags.warning(
            step.pos,
            format!(
                "step '{}' is never reached{why}: name it in a `goto`, `next` or `on_failure`, or remove it",
                step.id
            ),
        );
    }
}
