//! Every flow path of the format, driven through `apply` with no IO.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::runbook::load::{self, SourceFile};

const ENVS: &str = r#"
environments:
  staging: { vars: { base_url: "http://127.0.0.1:1" } }
  production: { protected: true, vars: { base_url: "http://127.0.0.1:2" } }
"#;

fn runbook(yaml: &str) -> Arc<Runbook> {
    let file = |text: &str| SourceFile {
        rel: "t.yaml".into(),
        display: "t.yaml".into(),
        bytes: Cow::Owned(text.as_bytes().to_vec()),
    };
    let (envs, d) = load::load_environments(&file(ENVS));
    assert!(d.is_empty(), "{d:?}");
    let loaded = load::load_runbook(&file(yaml), envs.as_ref());
    assert!(loaded.diagnostics.iter().all(|d| !d.is_error()), "{:?}", loaded.diagnostics);
    loaded.runbook.unwrap()
}

fn env(name: &str) -> Environment {
    let (envs, _) = load::load_environments(&SourceFile {
        rel: "e".into(),
        display: "e".into(),
        bytes: Cow::Owned(ENVS.as_bytes().to_vec()),
    });
    envs.unwrap().get(name).unwrap().clone()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn start(yaml: &str, inputs: &[(&str, &str)]) -> (Run, Vec<Effect>) {
    let given: BTreeMap<String, String> =
        inputs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut run = Run::with_env_lookup(runbook(yaml), env("staging"), &given, no_env).unwrap();
    let fx = run.apply(Event::Begin);
    (run, fx)
}

fn cursor_id(run: &Run) -> Option<&str> {
    run.current().map(|s| s.id.as_str())
}

fn spawned(fx: &[Effect]) -> (String, u32, PreparedCommand) {
    fx.iter()
        .find_map(|e| match e {
            Effect::Spawn { step, attempt, command, .. } => Some((step.clone(), *attempt, command.clone())),
            _ => None,
        })
        .expect("a Spawn effect")
}

fn exit(run: &mut Run, code: i32, stdout: &str) -> Vec<Effect> {
    let i = run.cursor().unwrap();
    let step = run.runbook().steps[i].id.clone();
    let attempt = run.steps()[i].attempts;
    run.apply(Event::CommandDone {
        step,
        attempt,
        result: CommandResult { exit: Some(code), stdout: stdout.into(), ..Default::default() },
    })
}

fn probe(run: &mut Run, passed: bool, elapsed_ms: u64) -> Vec<Effect> {
    let i = run.cursor().unwrap();
    let step = run.runbook().steps[i].id.clone();
    let attempt = run.steps()[i].attempts;
    let reason = if passed { "HTTP 200" } else { "HTTP 503" }.to_string();
    run.apply(Event::ProbeDone {
        step,
        attempt,
        result: ProbeResult { passed, slow: false, latency_ms: 3, reason, observed: None },
        elapsed_ms,
    })
}

fn finished(fx: &[Effect]) -> Option<Outcome> {
    fx.iter().find_map(|e| match e {
        Effect::Finished(o) => Some(*o),
        _ => None,
    })
}

const LINEAR: &str = r#"
title: Linear
steps:
  - { id: a, title: A }
  - { id: b, title: B, run: echo b }
  - { id: c, title: C }
"#;

#[test]
fn steps_run_in_order_and_the_run_succeeds_at_the_end() {
    let (mut run, fx) = start(LINEAR, &[]);
    assert_eq!(cursor_id(&run), Some("a"));
    assert!(fx.contains(&Effect::NeedsHuman { step: "a".into(), why: Waiting::Ready }));
    run.apply(Event::Tick);
    assert_eq!(cursor_id(&run), Some("b"));
    let fx = run.apply(Event::Perform);
    let (step, attempt, cmd) = spawned(&fx);
    assert_eq!((step.as_str(), attempt, cmd.script.as_str()), ("b", 1, "echo b"));
    // Journal first, then spawn: the record precedes the effect that acts on it.
    assert!(matches!(fx[0], Effect::Journal(Record::StepStarted { .. })));
    exit(&mut run, 0, "b\n");
    assert_eq!(run.steps()[1].status, Status::Passed);
    let fx = run.apply(Event::Tick);
    assert_eq!(finished(&fx), Some(Outcome::Succeeded));
    assert_eq!(run.cursor(), None);
}

#[test]
fn next_jumps_and_end_stops_the_path() {
    let yaml = r#"
title: Jumps
steps:
  - { id: a, title: A, next: c }
  - { id: b, title: B, end: true }
  - { id: c, title: C, next: b }
"#;
    let (mut run, _) = start(yaml, &[]);
    run.apply(Event::Tick);
    assert_eq!(cursor_id(&run), Some("c"));
    run.apply(Event::Tick);
    assert_eq!(cursor_id(&run), Some("b"));
    let fx = run.apply(Event::Tick);
    assert_eq!(finished(&fx), Some(Outcome::Succeeded));
}

const FAILING: &str = r#"
title: Failing
steps:
  - { id: deploy, title: Deploy, run: ./deploy.sh, on_failure: rollback }
  - { id: verify, title: Verify, run: ./verify.sh, on_failure: continue }
  - { id: stopper, title: Stopper, run: ./x.sh }
  - { id: done, title: Done, end: true }
  - { id: rollback, title: Roll back, run: ./rollback.sh }
"#;

#[test]
fn on_failure_goto_runs_the_rollback_and_the_run_fails() {
    let (mut run, _) = start(FAILING, &[]);
    run.apply(Event::Perform);
    exit(&mut run, 3, "");
    assert_eq!(
        run.steps()[0].status,
        Status::Failed { reason: "exit code 3, expected 0".into(), tolerated: false }
    );
    assert_eq!(cursor_id(&run), Some("rollback"));
    run.apply(Event::Perform);
    let fx = exit(&mut run, 0, "");
    assert_eq!(finished(&fx), Some(Outcome::Failed));
}

#[test]
fn on_failure_continue_tolerates_and_stop_waits_for_the_user() {
    let (mut run, _) = start(FAILING, &[]);
    run.apply(Event::Perform);
    exit(&mut run, 0, "");
    run.apply(Event::Perform);
    exit(&mut run, 1, "");
    assert!(matches!(run.steps()[1].status, Status::Failed { tolerated: true, .. }));
    assert_eq!(cursor_id(&run), Some("stopper"));
    run.apply(Event::Perform);
    let fx = exit(&mut run, 1, "");
    assert!(fx.contains(&Effect::NeedsHuman { step: "stopper".into(), why: Waiting::Failed }));
    assert_eq!(cursor_id(&run), Some("stopper"), "stop keeps the cursor on the failed step");
    // Retry runs it again as attempt 1 of a new try.
    let fx = run.apply(Event::Retry);
    assert_eq!(spawned(&fx).1, 1);
    exit(&mut run, 1, "");
    // Skipping with a reason goes on.
    run.apply(Event::Skip("known flaky, ticket OPS-12".into()));
    assert_eq!(run.steps()[2].status, Status::Skipped("known flaky, ticket OPS-12".into()));
    let fx = run.apply(Event::Tick);
    assert_eq!(finished(&fx), Some(Outcome::Succeeded), "tolerated and skipped failures do not fail the run");
}

#[test]
fn retries_try_again_after_the_delay_then_fail() {
    let yaml = "title: R\nsteps:\n  - { id: flaky, title: F, run: ./f.sh, retries: 2, retry_delay: 3s }\n";
    let (mut run, _) = start(yaml, &[]);
    run.apply(Event::Perform);
    for attempt in 2..=3 {
        let fx = exit(&mut run, 1, "");
        let delay = fx.iter().find_map(|e| match e {
            Effect::Spawn { attempt: a, delay, .. } => Some((*a, *delay)),
            _ => None,
        });
        assert_eq!(delay, Some((attempt, Duration::from_secs(3))));
        assert!(fx.iter().any(|e| matches!(e, Effect::Journal(Record::AttemptFailed { .. }))));
    }
    let fx = exit(&mut run, 1, "");
    assert!(fx.contains(&Effect::NeedsHuman { step: "flaky".into(), why: Waiting::Failed }));
}

#[test]
fn stale_results_from_an_old_try_are_dropped() {
    let (mut run, _) = start(LINEAR, &[]);
    run.apply(Event::Tick);
    run.apply(Event::Perform);
    let fx = run.apply(Event::CommandDone {
        step: "b".into(),
        attempt: 7,
        result: CommandResult { exit: Some(0), ..Default::default() },
    });
    assert!(fx.is_empty());
    assert_eq!(run.steps()[1].status, Status::Running);
}

#[test]
fn expectations_and_captures_flow_into_later_steps() {
    let yaml = r#"
title: Capture
steps:
  - { id: v, title: V, run: cat VERSION, capture: previous, expect: { stdout_matches: '^v\d' } }
  - { id: use, title: "Roll back to {{ previous }}", run: "deploy {{ previous }}" }
"#;
    let (mut run, _) = start(yaml, &[]);
    assert_eq!(run.preview(&run.runbook().steps[1].title), "Roll back to ‹previous›");
    run.apply(Event::Perform);
    let fx = exit(&mut run, 0, "nope\n");
    assert!(fx.contains(&Effect::NeedsHuman { step: "v".into(), why: Waiting::Failed }));
    run.apply(Event::Retry);
    exit(&mut run, 0, "v1.2.3; rm -rf /  \n");
    assert_eq!(run.preview(&run.runbook().steps[1].title), "Roll back to v1.2.3; rm -rf /");
    let (_, _, cmd) = spawned(&run.apply(Event::Perform));
    assert_eq!(cmd.script, r#"deploy "${RUNBOOK_V_previous}""#, "a captured value is never script text");
    assert!(cmd.env.contains(&("RUNBOOK_V_previous".into(), "v1.2.3; rm -rf /".into())));
    assert_eq!(cmd.shown, "deploy 'v1.2.3; rm -rf /'", "shown as one shell word");
}

#[test]
fn a_missing_capture_fails_the_step_instead_of_running_it() {
    let yaml = r#"
title: Missing
steps:
  - { id: v, title: V, run: cat VERSION, capture: previous, on_failure: continue }
  - { id: use, title: Use, run: "deploy {{ previous }}" }
"#;
    let (mut run, _) = start(yaml, &[]);
    run.apply(Event::Perform);
    exit(&mut run, 1, "");
    let fx = run.apply(Event::Perform);
    assert!(!fx.iter().any(|e| matches!(e, Effect::Spawn { .. })));
    assert!(
        matches!(&run.steps()[1].status, Status::Failed { reason, .. } if reason.contains("'previous' has no value yet"))
    );
}

#[test]
fn choices_go_to_the_picked_step() {
    let yaml = r#"
title: Choice
steps:
  - id: pick
    title: Pick
    choose:
      - { label: Fix forward, goto: fix }
      - { label: Roll back, goto: back }
  - { id: fix, title: Fix, end: true }
  - { id: back, title: Back }
"#;
    let (mut run, fx) = start(yaml, &[]);
    assert!(fx.contains(&Effect::NeedsHuman { step: "pick".into(), why: Waiting::Choice }));
    run.apply(Event::Choose("No such option".into()));
    assert_eq!(cursor_id(&run), Some("pick"));
    let fx = run.apply(Event::Choose("Roll back".into()));
    assert!(fx.contains(&Effect::Journal(Record::Chose {
        step: "pick".into(),
        label: "Roll back".into(),
        goto: "back".into()
    })));
    assert_eq!(cursor_id(&run), Some("back"));
}

#[test]
fn checks_wait_for_consecutive_passes_within_the_timeout() {
    let yaml = r#"
title: Wait
steps:
  - id: up
    title: Up
    check: { http: "{{ base_url }}/health" }
    wait: { timeout: 30s, interval: 10s, passes: 2 }
"#;
    let (mut run, _) = start(yaml, &[]);
    let fx = run.apply(Event::Perform);
    assert!(
        matches!(&fx[1], Effect::Probe { probe, delay, .. } if probe.shown == "GET http://127.0.0.1:1/health" && delay.is_zero())
    );
    let fx = probe(&mut run, true, 0);
    assert!(matches!(&fx[1], Effect::Probe { attempt: 2, delay, .. } if *delay == Duration::from_secs(10)));
    probe(&mut run, false, 10_000); // a failure resets the streak
    probe(&mut run, true, 20_000);
    assert_eq!(run.steps()[0].status, Status::Running);
    let fx = probe(&mut run, false, 25_000);
    assert!(
        matches!(&run.steps()[0].status, Status::Failed { reason, .. } if reason.starts_with("not healthy within 30s (0 of 2 passes in a row; last: HTTP 503)"))
    );
    assert!(fx.contains(&Effect::NeedsHuman { step: "up".into(), why: Waiting::Failed }));
    run.apply(Event::Retry);
    probe(&mut run, true, 0);
    let fx = probe(&mut run, true, 10_000);
    assert_eq!(finished(&fx), Some(Outcome::Succeeded));
}

#[test]
fn when_env_skips_steps_elsewhere_with_a_reason() {
    let yaml = "title: W\nsteps:\n  - { id: prod-only, title: P, when_env: [production] }\n  - { id: all, title: A }\n";
    let (run, _) = start(yaml, &[]);
    assert_eq!(run.steps()[0].status, Status::Skipped("only runs in production".into()));
    assert_eq!(cursor_id(&run), Some("all"));
}

#[test]
fn inputs_are_validated_and_values_shell_quoted() {
    let yaml = r#"
title: Inputs
inputs:
  version: { pattern: '^v\d+$' }
  token: { secret: true, default: "s3cr3t-value" }
steps:
  - { id: go, title: "Deploy {{ version }}", run: "deploy {{ version }} --token {{ token }} {{ environment }}" }
"#;
    let given: BTreeMap<String, String> = [("version".to_string(), "v1; rm -rf /".to_string())].into();
    let err = Run::with_env_lookup(runbook(yaml), env("staging"), &given, no_env).unwrap_err();
    assert_eq!(err.to_string(), "input 'version': 'v1; rm -rf /' does not match the pattern ^v\\d+$");
    let missing = Run::with_env_lookup(runbook(yaml), env("staging"), &BTreeMap::new(), no_env).unwrap_err();
    assert_eq!(missing, StartError::MissingInput("version".into()));
    let (mut run, _) = start(yaml, &[("version", "v2")]);
    let (_, _, cmd) = spawned(&run.apply(Event::Perform));
    assert_eq!(
        cmd.script,
        r#"deploy "${RUNBOOK_V_version}" --token "${RUNBOOK_V_token}" "${RUNBOOK_V_environment}""#
    );
    assert!(!cmd.script.contains("s3cr3t-value"), "no value, secret or not, is in the script (argv)");
    assert!(cmd.env.contains(&("RUNBOOK_V_token".into(), "s3cr3t-value".into())));
    assert_eq!(cmd.shown, "deploy v2 --token •••• staging");
    let started = run.started_record("h", None, "u", "host");
    let text = serde_json::to_string(&started).unwrap();
    assert!(!text.contains("s3cr3t-value") && text.contains("\"secret_inputs\":[\"token\"]"));
}

#[test]
fn confirmation_is_typed_in_protected_environments() {
    let yaml = "title: C\nsteps:\n  - { id: drop, title: Drop, run: ./drop.sh, confirm: true }\n";
    let (run, _) = start(yaml, &[]);
    assert_eq!(run.needs_confirmation(), Some(Confirmation::YesNo));
    let mut prod = Run::with_env_lookup(runbook(yaml), env("production"), &BTreeMap::new(), no_env).unwrap();
    prod.apply(Event::Begin);
    assert_eq!(prod.needs_confirmation(), Some(Confirmation::TypeEnvironment("production".into())));
}

#[test]
fn cancel_kills_a_command_and_stops_a_check() {
    let (mut run, _) = start(LINEAR, &[]);
    run.apply(Event::Tick);
    run.apply(Event::Perform);
    assert_eq!(run.apply(Event::Cancel), vec![Effect::Kill { step: "b".into() }]);
    let fx = run.apply(Event::CommandDone {
        step: "b".into(),
        attempt: 1,
        result: CommandResult { cancelled: true, ..Default::default() },
    });
    assert!(fx.contains(&Effect::NeedsHuman { step: "b".into(), why: Waiting::Cancelled }));
    assert_eq!(run.steps()[1].status, Status::Cancelled("cancelled by the user".into()));
}

#[test]
fn replaying_the_records_rebuilds_the_exact_run() {
    let (mut run, mut fx) = start(FAILING, &[]);
    fx.extend(run.apply(Event::Perform));
    fx.extend(exit(&mut run, 0, ""));
    fx.extend(run.apply(Event::Note("paged the DBA".into())));
    // A monitor's change is journaled while the run goes, and changes nothing in it.
    let health = run.apply(Event::HealthChanged {
        monitor: "api".into(),
        title: "API".into(),
        state: "down".into(),
        detail: "HTTP 503".into(),
    });
    assert!(matches!(&health[..], [Effect::Journal(Record::HealthChanged { .. })]), "{health:?}");
    fx.extend(health);
    fx.extend(run.apply(Event::Perform));
    fx.extend(exit(&mut run, 1, ""));
    let entries: Vec<Entry> = fx
        .into_iter()
        .filter_map(|e| match e {
            Effect::Journal(record) => Some(Entry { at: jiff::Timestamp::UNIX_EPOCH, record }),
            _ => None,
        })
        .collect();
    let fresh = Run::with_env_lookup(runbook(FAILING), env("staging"), &BTreeMap::new(), no_env).unwrap();
    let replayed = fresh.replay(&entries);
    assert_eq!(replayed.cursor(), run.cursor());
    assert_eq!(replayed.notes(), run.notes());
    let statuses = |r: &Run| r.steps().iter().map(|s| s.status.clone()).collect::<Vec<_>>();
    assert_eq!(statuses(&replayed), statuses(&run));
}

#[test]
fn a_capture_larger_than_its_limit_fails_the_step() {
    let yaml = "title: Big\nsteps:\n  - { id: big, title: Big, run: cat big, capture: blob }\n";
    let (mut run, _) = start(yaml, &[]);
    run.apply(Event::Perform);
    let fx = exit(&mut run, 0, &"x".repeat(64 * 1024 + 1));
    assert!(fx.contains(&Effect::NeedsHuman { step: "big".into(), why: Waiting::Failed }));
    assert!(
        matches!(&run.steps()[0].status, Status::Failed { reason, .. } if reason == "output is too large to capture into 'blob' (limit 64 KiB)")
    );
    run.apply(Event::Retry);
    exit(&mut run, 0, &"x".repeat(64 * 1024));
    assert_eq!(run.steps()[0].status, Status::Passed, "exactly the limit is fine");
}

#[test]
fn output_is_matched_trimmed_and_a_failed_match_quotes_it() {
    let yaml = r#"
title: Match
steps:
  - { id: n, title: N, run: echo 5400, expect: { stdout_matches: '^\d+$' } }
  - { id: m, title: M, run: echo nope, expect: { stdout_contains: ready } }
"#;
    let (mut run, _) = start(yaml, &[]);
    run.apply(Event::Perform);
    let fx = exit(&mut run, 0, "5400\n");
    assert!(fx.iter().any(|e| matches!(e, Effect::Journal(Record::StepPassed { step, .. }) if step == "n")));
    run.apply(Event::Perform);
    exit(&mut run, 0, "  not yet\n");
    let Status::Failed { reason, .. } = &run.steps()[1].status else { panic!("{:?}", run.steps()[1]) };
    assert_eq!(reason, "stdout does not contain 'ready'; it printed 'not yet'");
}
