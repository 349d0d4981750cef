//! `runbook run` as CI uses it: the real binary, real processes, the real journal.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use support::{Sandbox, stdout, wait_for};

/// The journal of a run directory, one value per line. The run's directory comes a moment
/// before its journal file: none yet is empty.
fn journal(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every byte the runs wrote to disk below `data`: journal, step logs.
fn all_files_text(data: &Path) -> String {
    fn walk(dir: &Path, out: &mut String) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = String::new();
    walk(data, &mut out);
    out
}

const ENVS: &str = "default: dev\nenvironments:\n  dev: { vars: { host: localhost } }\n  prod: { protected: true, vars: { host: example.com } }\n";

fn types(journal: &[serde_json::Value]) -> Vec<String> {
    journal
        .iter()
        .map(|e| format!("{}:{}", e["type"].as_str().unwrap(), e["step"].as_str().unwrap_or("")))
        .collect()
}

#[test]
fn exit_codes_tell_ci_what_happened() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book("ok", "title: Ok\nsteps:\n  - { id: a, title: A, run: 'true' }\n");
    env.book("fails", "title: Fails\nsteps:\n  - { id: a, title: A, run: 'exit 7' }\n");
    env.book("manual", "title: Manual\nsteps:\n  - { id: a, title: Read this }\n");
    env.book("choice", "title: C\nsteps:\n  - id: pick\n    title: Pick\n    choose: [{ label: Go, goto: go }]\n  - { id: go, title: Go, run: 'true' }\n");
    env.book("confirm", "title: C\nsteps:\n  - { id: drop, title: Drop, run: 'true', confirm: true }\n");
    env.book("input", "title: I\ninputs:\n  v: { pattern: '^v\\d+$' }\nsteps:\n  - { id: a, title: 'A {{ v }}', run: 'echo {{ v }}' }\n");
    let code = |args: &[&str]| env.run(args).status.code();
    assert_eq!(code(&["run", "ok"]), Some(0));
    assert_eq!(code(&["run", "fails"]), Some(1));
    assert_eq!(code(&["run", "manual"]), Some(3));
    assert_eq!(code(&["run", "manual", "--yes"]), Some(0));
    assert_eq!(code(&["run", "choice"]), Some(3));
    assert_eq!(code(&["run", "choice", "--choice", "pick=Go"]), Some(0));
    assert_eq!(code(&["run", "choice", "--choice", "pick=Nope"]), Some(2));
    assert_eq!(code(&["run", "confirm", "--env", "prod"]), Some(3));
    assert_eq!(
        code(&["run", "confirm", "--env", "prod", "--yes"]),
        Some(3),
        "--yes is not enough in production"
    );
    assert_eq!(code(&["run", "confirm", "--env", "prod", "--yes", "--confirm-env", "dev"]), Some(3));
    assert_eq!(code(&["run", "confirm", "--env", "prod", "--yes", "--confirm-env", "prod"]), Some(0));
    assert_eq!(
        code(&["run", "confirm", "--yes"]),
        Some(0),
        "--yes confirms where the environment is not protected"
    );
    let refused = env.run(&["run", "confirm", "--env", "prod", "--yes"]);
    assert!(stdout(&refused).contains("add --confirm-env prod"), "{}", stdout(&refused));
    assert!(!stdout(&refused).contains("✓ exit"), "nothing ran");
    assert_eq!(code(&["run", "input", "--input", "v=v1; rm -rf /"]), Some(2));
    assert_eq!(code(&["run", "input"]), Some(2), "a required input is missing");
    assert_eq!(code(&["run", "input", "--input", "v=v2"]), Some(0));
    assert_eq!(code(&["run", "nope"]), Some(2));
    assert_eq!(code(&["run", "ok", "--env", "staging"]), Some(2));
    let human = env.run(&["run", "manual"]);
    assert!(stdout(&human).contains("a human is needed: step 'a' is a manual step; pass --yes"));
}

#[test]
fn output_is_streamed_with_prefixes_and_the_result_line() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book("out", "title: Out\nsteps:\n  - { id: a, title: 'Greet {{ host }}', run: 'echo hello {{ host }}; echo warn >&2' }\n");
    let o = env.run(&["run", "out"]);
    let text = stdout(&o);
    for line in [
        "[1/1] Greet localhost (command)",
        "       $ echo hello localhost; echo warn >&2",
        "       │ hello localhost",
        "       ! warn",
        "       ✓ exit 0 in",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn dry_run_prints_every_resolved_command_and_runs_nothing() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book(
        "dry",
        "title: Dry\nsteps:\n  - { id: a, title: A, run: 'touch made-by-a', capture: made }\n  - { id: b, title: B, check: { http: 'http://{{ host }}:1/health' } }\n  - { id: c, title: C, run: 'echo {{ made }}', when_env: [prod] }\n",
    );
    let o = env.run(&["run", "dry", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(
        text.contains("$ touch made-by-a") && text.contains("check GET http://localhost:1/health"),
        "{text}"
    );
    assert!(text.contains("[3/3] C (command) (skipped in this environment)"), "{text}");
    assert!(text.contains("$ echo ‹made›"), "a capture not yet known shows as ‹made›:\n{text}");
    assert!(!env.path().join("made-by-a").exists());
    assert!(env.runs().is_empty(), "a dry run journals nothing");
}

/// The files named `pwned…` in the sandbox: what a value run as shell code would make.
fn pwned(env: &Sandbox) -> Vec<String> {
    std::fs::read_dir(env.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pwned"))
        .collect()
}

#[test]
fn no_value_is_ever_executed_as_shell_code() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book(
        "inject",
        "title: Inject\ninputs:\n  v: { description: anything }\nsteps:\n  - { id: echo, title: 'Echo', run: 'printf \"[%s]\\n\" {{ v }}', capture: got }\n  - { id: again, title: Again, run: 'printf \"<%s>\\n\" {{ got }}' }\n",
    );
    let corpus = [
        "$(touch pwned1)",
        "; touch pwned2",
        "`touch pwned3`",
        "' ; touch pwned4 ; '",
        "\" ; touch pwned5 ; \"",
        "a\ntouch pwned6",
        "{{ v }} {{ env.HOME }}",
        "&& touch pwned7 || touch pwned8",
        "| touch pwned9",
        "$HOME ${HOME} \\",
    ];
    for value in corpus {
        let o = env.run(&["run", "inject", "--input", &format!("v={value}")]);
        assert_eq!(o.status.code(), Some(0), "{value:?}: {}", stdout(&o));
        let text = stdout(&o);
        let first = value.lines().next().unwrap();
        assert!(text.contains(&format!("│ [{first}")), "{value:?} was not passed as one word:\n{text}");
        assert!(
            text.contains(&format!("│ <[{first}")),
            "the captured {value:?} was not passed as one word:\n{text}"
        );
    }
    let made = pwned(&env);
    assert!(made.is_empty(), "a value was executed: {made:?}");
}

#[test]
fn secrets_never_reach_the_journal_logs_or_export() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book(
        "secret",
        "title: Secret\ninputs:\n  token: { secret: true }\nsteps:\n  - { id: use, title: Use, run: 'echo using {{ token }}; echo {{ env.API_KEY }} >&2', capture: echoed }\n  - { id: show, title: 'Show {{ echoed }}', run: 'echo {{ echoed }}' }\n",
    );
    let o = env
        .cmd(&["run", "secret"])
        .env("RUNBOOK_INPUT_TOKEN", "tok-5ecr3t-value")
        .env("API_KEY", "key-5ecr3t-value")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let export_md = env.run(&["export", "latest"]);
    let export_json = env.run(&["export", "latest", "--format", "json"]);
    let everything = format!(
        "{}{}{}{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr),
        all_files_text(&env.data()),
        stdout(&export_md),
        stdout(&export_json)
    );
    assert!(everything.contains("using ••••"), "{everything}");
    for secret in ["tok-5ecr3t-value", "key-5ecr3t-value"] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
}

#[test]
fn a_killed_run_never_runs_a_step_twice_and_resumes_with_every_finished_step_kept() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    let marker = env.path().join("marker");
    env.book(
        "long",
        &format!(
            "title: Long\nsteps:\n  - {{ id: one, title: One, run: 'echo first >> {p}/count' }}\n  - {{ id: two, title: Two, run: 'echo try >> {p}/tries; echo v9 ; touch {p}/printed; test -f {m} || sleep 300', capture: version }}\n  - {{ id: three, title: 'Three {{{{ version }}}}', run: 'echo third {{{{ version }}}}' }}\n",
            p = env.path().display(),
            m = marker.display()
        ),
    );
    let tries = || std::fs::read_to_string(env.path().join("tries")).unwrap_or_default().lines().count();
    let mut child = env.cmd(&["run", "long"]).stdout(Stdio::null()).spawn().unwrap();
    let run = wait_for("the run to start", Duration::from_secs(10), || env.runs().into_iter().next());
    wait_for("step two to start", Duration::from_secs(10), || {
        types(&journal(&run)).contains(&"step_process:two".to_string()).then_some(())
    });
    wait_for("step two to run", Duration::from_secs(10), || (tries() == 1).then_some(()));
    // Its output written first: a step that writes after its runner died gets SIGPIPE.
    wait_for("step two's output", Duration::from_secs(10), || {
        env.path().join("printed").exists().then_some(())
    });
    // SAFETY: kill -9 of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let before = types(&journal(&run));
    assert!(before.contains(&"step_passed:one".to_string()));
    let two = journal(&run).into_iter().find(|e| e["type"] == "step_process" && e["step"] == "two");
    let pid = two.unwrap()["pid"].as_i64().unwrap();

    // Its step still runs: a resume says so and starts nothing beside it.
    let o = env.run(&["run", "--resume", "latest"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(stdout(&o).contains("step 'two' is still running"), "{}", stdout(&o));
    assert_eq!(tries(), 1, "no second copy");

    // Stopped, its outcome is unknown: it waits for a decision, it does not run again.
    let o = env.run(&["run", "--resume", "latest", "--stop-running"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(stdout(&o).contains("outcome is unknown"), "{}", stdout(&o));
    assert!(env.run(&["run", "--resume", "latest"]).status.code() == Some(3));
    assert_eq!(tries(), 1, "an interrupted step does not run again by itself");
    wait_for("the old step's processes to be gone", Duration::from_secs(5), || {
        let gone = std::fs::read_dir("/proc").unwrap().flatten().all(|p| {
            std::fs::read(p.path().join("environ"))
                .map(|e| !String::from_utf8_lossy(&e).contains("/two/1"))
                .unwrap_or(true)
        });
        gone.then_some(())
    });
    assert!(!support::alive(pid as i32), "the step's shell was stopped");

    // --yes runs it again, and the run goes on from there.
    std::fs::write(&marker, "").unwrap();
    let o = env.run(&["run", "--resume", "latest", "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(text.contains("│ third v9"), "{text}");
    assert_eq!(tries(), 2);
    let after = types(&journal(&run));
    assert_eq!(&after[..before.len()], &before[..], "nothing recorded before the kill is lost");
    for expected in
        ["resumed:", "step_interrupted:two", "step_passed:two", "step_passed:three", "run_finished:"]
    {
        assert!(after.contains(&expected.to_string()), "{expected} missing in {after:?}");
    }
    let count = std::fs::read_to_string(env.path().join("count")).unwrap();
    assert_eq!(count, "first\n", "step one ran once");
    let runs = env.run(&["runs", "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(listed[0]["state"], "succeeded");
}

#[test]
fn ctrl_c_cancels_the_running_step_and_journals_it() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    let pidfile = env.path().join("pid");
    env.book(
        "sleepy",
        &format!(
            "title: S\nsteps:\n  - {{ id: nap, title: Nap, run: 'echo $$ > {}; sleep 300' }}\n",
            pidfile.display()
        ),
    );
    let mut child = env.cmd(&["run", "sleepy"]).stdout(Stdio::null()).spawn().unwrap();
    let pid: i32 = wait_for("the step to start", Duration::from_secs(10), || {
        std::fs::read_to_string(&pidfile).ok().and_then(|p| p.trim().parse().ok())
    });
    // SAFETY: SIGINT to our own child, as a terminal's Ctrl-C would send.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let run = env.runs().into_iter().next().unwrap();
    assert!(types(&journal(&run)).contains(&"step_cancelled:nap".to_string()));
    wait_for("the step's process to be gone", Duration::from_secs(5), || {
        (!support::alive(pid)).then_some(())
    });
}

#[test]
fn checks_poll_a_real_server_until_healthy() {
    let server = support::HealthServer::start();
    server.set_status(503);
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book(
        "wait",
        &format!(
            "title: W\nsteps:\n  - id: up\n    title: Up\n    check: {{ http: '{}', expect: {{ json: {{ status: healthy }} }} }}\n    wait: {{ timeout: 20s, interval: 100ms, passes: 2 }}\n",
            server.url("/health")
        ),
    );
    let child = env.cmd(&["run", "wait"]).stdout(Stdio::piped()).spawn().unwrap();
    let run = wait_for("the run to start", Duration::from_secs(10), || env.runs().into_iter().next());
    // Counted in the journal, not at the server: a request counted there may not have read
    // the status yet.
    wait_for("three failed attempts", Duration::from_secs(10), || {
        let failed =
            journal(&run).iter().filter(|e| e["type"] == "check_attempt" && e["passed"] == false).count();
        (failed >= 3).then_some(())
    });
    server.set_status(200);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let journal = journal(&run);
    let attempts: Vec<bool> = journal
        .iter()
        .filter(|e| e["type"] == "check_attempt")
        .map(|e| e["passed"].as_bool().unwrap())
        .collect();
    assert!(
        attempts.len() >= 5 && attempts.ends_with(&[true, true]) && attempts.contains(&false),
        "{attempts:?}"
    );
}

#[test]
fn every_bundled_runbook_dry_runs_in_the_demo_environment() {
    let sb = Sandbox::new();
    let list = sb.run(&["list", "--format", "json"]);
    let all: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let ids: Vec<&str> = all.as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids.len() >= 20, "{ids:?}");
    for id in ids {
        let o = sb.run(&["run", id, "--env", "demo", "--dry-run"]);
        assert_eq!(o.status.code(), Some(0), "{id}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(stdout(&o).contains("[1/"), "{id}");
    }
}

#[test]
fn resuming_after_the_runbook_changed_says_so_and_maps_steps_by_id() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book("edit", "title: E\nsteps:\n  - { id: first, title: First, run: 'true' }\n  - { id: gate, title: Gate }\n  - { id: last, title: Last, run: 'echo last' }\n");
    assert_eq!(env.run(&["run", "edit"]).status.code(), Some(3), "stops at the manual gate");
    // A step is added before the gate: ids, not positions, say where the run stands.
    env.book(
        "edit",
        "title: E\nsteps:\n  - { id: new, title: New, run: 'echo new' }\n  - { id: first, title: First, run: 'true' }\n  - { id: gate, title: Gate }\n  - { id: last, title: Last, run: 'echo last' }\n",
    );
    let o = env.run(&["run", "--resume", "latest", "--yes"]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("the runbook changed since this run began; steps are matched by id"), "{text}");
    assert!(text.contains("│ last") && !text.contains("│ new"), "{text}");
    let run = env.runs().into_iter().next().unwrap();
    let resumed = journal(&run).into_iter().find(|e| e["type"] == "resumed").unwrap();
    assert_eq!(resumed["runbook_changed"], true);
}

/// Every quoting context of the shell, with payloads that would run as code if a value were
/// ever pasted into the script: heredocs, comments with apostrophes, here-strings, `case`,
/// `[[ ]]`, command substitution in double quotes, and captures carrying the same payloads.
const CONTEXTS: &str = r#"title: Contexts
inputs:
  v: { description: anything }
steps:
  - id: heredoc
    title: Heredoc
    run: |
      cat <<EOF
      heredoc:[{{ v }}]
      EOF
  - id: comment
    title: Comment
    run: |
      echo hi # it's a comment with an apostrophe
      echo comment:[{{ v }}]
  - id: herestring
    title: Here-string
    run: sed 's/^/herestring:[/; s/$/]/' <<< {{ v }}
  - id: case
    title: Case
    run: |
      case {{ v }} in
        {{ v }}) echo "case:[{{ v }}]" ;;
        *) echo case:nomatch ;;
      esac
  - id: test
    title: Test
    run: '[[ {{ v }} == "{{ v }}" ]] && echo "test:[{{ v }}]"'
  - id: subst
    title: Substitution in double quotes
    run: echo "subst:[$(printf %s {{ v }})]"
  - id: cap
    title: Capture the value back
    run: printf '%s\n' {{ v }}
    capture: got
  - id: captured
    title: Use the capture in a heredoc
    run: |
      cat <<EOF
      captured:[{{ got }}]
      EOF
"#;

#[test]
fn values_are_data_in_every_shell_context() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book("contexts", CONTEXTS);
    let corpus = [
        "$(touch pwned1)",
        "`touch pwned2`",
        "'; touch pwned3; '",
        "\"; touch pwned4; \"",
        "$'\\x41' $((1+1)) ${HOME} \\",
        "*",
        "EOF",
    ];
    for value in corpus {
        let o = env.run(&["run", "contexts", "--input", &format!("v={value}")]);
        assert_eq!(o.status.code(), Some(0), "{value:?}: {}", stdout(&o));
        let text = stdout(&o);
        for context in ["heredoc", "comment", "herestring", "case", "test", "subst", "captured"] {
            assert!(
                text.contains(&format!("│ {context}:[{value}]")),
                "{value:?} did not arrive as data in the {context} context:\n{text}"
            );
        }
    }
    let made = pwned(&env);
    assert!(made.is_empty(), "a value was executed: {made:?}");
}

#[test]
fn a_value_in_shell_arithmetic_must_be_a_number() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book(
        "arith",
        "title: Arith\ninputs:\n  n: { description: a count }\nsteps:\n  - { id: add, title: Add, run: 'echo sum:$(( {{ n }} + 1 )); (( {{ n }} > 0 )) && [[ {{ n }} -lt 100 ]] && echo small' }\n",
    );
    let o = env.run(&["run", "arith", "--input", "n=41"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("│ sum:42") && stdout(&o).contains("│ small"), "{}", stdout(&o));
    // bash evaluates array subscripts in arithmetic, command substitution included.
    let o = env.run(&["run", "arith", "--input", "n=a[$(touch pwned)]"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("is used in shell arithmetic"), "{}", stdout(&o));
    assert!(!env.path().join("pwned").exists(), "the subscript ran");
}

#[test]
fn a_secret_is_never_on_a_command_line() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    let secret = "argv-5ecr3t-value";
    env.book(
        "argv",
        "title: Argv\ninputs:\n  token: { secret: true }\nsteps:\n  - { id: use, title: Use, run: 'printf %s {{ token }} > arrived.tmp; mv arrived.tmp arrived; sh -c \"sleep 27.25\" & wait' , timeout: 60s }\n",
    );
    let mut child = env.cmd(&["run", "argv"]).env("RUNBOOK_INPUT_TOKEN", secret).spawn().unwrap();
    let arrived = env.path().join("arrived");
    wait_for("the step to run", Duration::from_secs(20), || arrived.exists().then_some(()));
    wait_for("the sleep to start", Duration::from_secs(10), || {
        let any_sleep = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .any(|p| std::fs::read(p.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x0027.25\x00"));
        any_sleep.then_some(())
    });
    let mut scanned = 0;
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) {
            scanned += 1;
            let text = String::from_utf8_lossy(&cmdline);
            assert!(!text.contains(secret), "the secret is in the argv of pid {:?}: {text}", p.file_name());
        }
    }
    assert!(scanned > 3);
    assert_eq!(std::fs::read_to_string(&arrived).unwrap(), secret, "the value reached the command");
    // SAFETY: SIGTERM to our own child; it ends the step with it.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

#[test]
fn a_secret_in_set_x_traces_and_encoded_forms_is_masked() {
    let env = Sandbox::new().runbooks_in("books").environments(ENVS);
    env.book(
        "trace",
        "title: Trace\ninputs:\n  token: { secret: true }\nsteps:\n  - { id: use, title: Use, run: 'set -x; : {{ token }}; : \"\\\"{{ token }}\\\"\"' }\n",
    );
    let secret = "it's a 5ecret/&value";
    let o = env.cmd(&["run", "trace"]).env("RUNBOOK_INPUT_TOKEN", secret).output().unwrap();
    let all = format!("{}{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr), all_files_text(&env.data()));
    assert!(all.contains("••••"), "{all}");
    for form in ["5ecret", "it'\\''s"] {
        assert!(!all.contains(form), "the form {form:?} of the secret leaked:\n{all}");
    }
}
