//! The TUI at any size, and a layout that follows the work: every screen rendered over many
//! terminal sizes (down to 1x1) without a panic, the current step always in the list, what a
//! confirmation will run shown with it, a waiting check's progress, scrolling that stays
//! within the text. Pure: the model is driven with messages and drawn into a TestBackend.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use crossterm::event::{KeyCode, KeyModifiers, MouseEvent, MouseEventKind};
use runbook::app::model::{Dialog, Model, Parity};
use runbook::app::setup::Setup;
use runbook::app::update::{Cmd, Msg, update};
use runbook::exec::command::Stream;
use runbook::health::{Reading, State};
use runbook::run::{Confirmation, Event, ProbeResult, Run};
use runbook::runbook::index::Summary;
use runbook::runbook::load::{FullLibrary, Root};
use support::render::{ctrl, draw, key};
use support::thirty_steps;

/// A library of the given runbooks (file name, YAML) in a `dev` environment.
fn library(dir: &Path, books: &[(&str, &str)]) -> FullLibrary {
    std::fs::write(
        dir.join("environments.yaml"),
        "default: dev\nenvironments:\n  dev: {}\n  prod: { protected: true }\n",
    )
    .unwrap();
    for (name, yaml) in books {
        std::fs::write(dir.join(name), yaml).unwrap();
    }
    FullLibrary::load(vec![Root::Dir(dir.to_owned())])
}

/// A model running `id` in `env`, on a terminal of `size`.
fn started(lib: &FullLibrary, id: &str, env: &str, size: (u16, u16)) -> Model {
    let runbook = lib.get(id).unwrap_or_else(|| panic!("no {id}")).runbook.clone().unwrap();
    let envs = lib.environments_for(id).unwrap();
    let run = Run::new(runbook, envs.get(env).unwrap().clone(), &BTreeMap::new()).unwrap();
    let mut model = Model::new(lib.runbooks.iter().map(Summary::from_loaded).collect(), vec![]);
    update(&mut model, Msg::Resize(size.0, size.1));
    update(
        &mut model,
        Msg::Started {
            run: Box::new(run),
            run_id: "20261129T233000Z-thirty-9f3a".into(),
            monitors: vec![("api".into(), "API".into())],
            resumed: None,
        },
    );
    model
}

#[test]
fn ticked_to_step_21_the_list_shows_step_21_at_80x24_and_120x40() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = library(tmp.path(), &[("thirty.yaml", &thirty_steps())]);
    for (w, h) in [(80, 24), (120, 40)] {
        let mut model = started(&lib, "thirty", "dev", (w, h));
        for _ in 0..20 {
            update(&mut model, key(KeyCode::Char(' ')));
        }
        let rs = model.run.as_ref().unwrap();
        assert_eq!(rs.run.cursor(), Some(20));
        assert_eq!(rs.selected, 20, "the selection followed the cursor");
        let screen = draw(&model, w, h);
        assert!(screen.contains("▸ Step number 21"), "{w}x{h}:\n{screen}");
        assert!(screen.contains("┌ Step number 21 "), "the detail shows step 21:\n{screen}");
        if h == 24 {
            // Not every step fits: markers say how many are out of view.
            assert!(screen.contains("↑ ") && screen.contains(" more"), "steps above:\n{screen}");
            assert!(screen.contains("↓ "), "and below:\n{screen}");
        }
    }
}

#[test]
fn the_confirmation_shows_the_step_its_command_and_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = "title: Deploy\ninputs:\n  token: { secret: true, default: hunter2 }\nsteps:\n  - { id: one, title: Look, run: 'echo first' }\n  - { id: two, title: Roll out, run: 'deploy --token {{ token }} --to {{ environment }}', confirm: true }\n";
    let lib = library(tmp.path(), &[("deploy.yaml", yaml)]);
    for (env, w, h) in [("dev", 80, 24), ("prod", 120, 40)] {
        let mut model = started(&lib, "deploy", env, (w, h));
        // Step 1 ran and passed; the cursor moves to step 2.
        let cmds = update(&mut model, key(KeyCode::Enter));
        let confirm = if env == "prod" { "prod" } else { "" };
        if env == "prod" {
            // Step 1 has no confirm; only step 2 asks.
            assert!(model.dialog.is_none());
        }
        assert!(matches!(&cmds[..], [Cmd::Effects(_)]));
        let result = runbook::run::CommandResult { exit: Some(0), ..Default::default() };
        update(&mut model, Msg::Run(Event::CommandDone { step: "one".into(), attempt: 1, result }));
        assert_eq!(model.run.as_ref().unwrap().selected, 1, "the selection followed the cursor");
        update(&mut model, key(KeyCode::Enter));
        let screen = draw(&model, w, h);
        assert!(screen.contains("Roll out"), "{screen}");
        assert!(screen.contains("$ deploy --token"), "the command is in the dialog:\n{screen}");
        assert!(!screen.contains("hunter2"), "secrets stay masked:\n{screen}");
        assert!(!screen.contains("echo first"), "step 1's command is not under it:\n{screen}");
        if env == "prod" {
            assert!(matches!(
                &model.dialog,
                Some(Dialog::Confirm { kind: Confirmation::TypeEnvironment(_), .. })
            ));
            assert!(screen.contains("prod (protected)"), "{screen}");
            assert!(screen.contains(&format!("Type '{confirm}'")), "{screen}");
        } else {
            assert!(screen.contains("in    dev"), "{screen}");
            assert!(screen.contains("Run this step? y / n"), "{screen}");
        }
    }
}

#[test]
fn a_waiting_check_shows_its_attempt_passes_and_time_left() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = "title: Gate\nsteps:\n  - { id: gate, title: Wait for healthy, check: { http: 'http://127.0.0.1:9/health' }, wait: { timeout: 30s, interval: 1s, passes: 3 } }\n";
    let lib = library(tmp.path(), &[("gate.yaml", yaml)]);
    let mut model = started(&lib, "gate", "dev", (80, 24));
    update(&mut model, Msg::Tick(1_000));
    update(&mut model, key(KeyCode::Enter));
    let probe = |passed: bool, reason: &str| ProbeResult {
        passed,
        slow: false,
        latency_ms: 3,
        reason: reason.into(),
        observed: None,
    };
    update(
        &mut model,
        Msg::Run(Event::ProbeDone {
            step: "gate".into(),
            attempt: 1,
            result: probe(true, "HTTP 200"),
            elapsed_ms: 10,
        }),
    );
    update(
        &mut model,
        Msg::Run(Event::ProbeDone {
            step: "gate".into(),
            attempt: 2,
            result: probe(true, "HTTP 200"),
            elapsed_ms: 1010,
        }),
    );
    update(&mut model, Msg::Tick(11_000));
    let screen = draw(&model, 80, 24);
    assert!(screen.contains("Wait for healthy · 2/3 passes · 20s left"), "{screen}");
    assert!(screen.contains("attempt 3 · 2/3 passes · 20s left"), "the third probe is out:\n{screen}");
    assert!(screen.contains("last probe: HTTP 200"), "{screen}");
}

#[test]
fn the_detail_scrolls_within_its_text_with_keys_and_the_wheel() {
    let tmp = tempfile::tempdir().unwrap();
    // One list item a line: Markdown joins plain lines into one paragraph.
    let body: String = (1..=60).map(|i| format!("      - Instruction line {i}\n")).collect();
    let yaml = format!(
        "title: Long\nsteps:\n  - id: read\n    title: Read this\n    body: |\n{body}  - {{ id: after, title: After }}\n"
    );
    let lib = library(tmp.path(), &[("long.yaml", &yaml)]);
    let mut model = started(&lib, "long", "dev", (80, 24));
    let screen = draw(&model, 80, 24);
    assert!(screen.contains("Instruction line 1 "), "{screen}");
    assert!(!screen.contains("Instruction line 60"), "{screen}");
    // No output pane for a manual step: PgDn pages the detail.
    update(&mut model, key(KeyCode::PageDown));
    let scrolled = model.run.as_ref().unwrap().detail_scroll;
    assert!(scrolled > 3, "{scrolled}");
    for _ in 0..40 {
        update(&mut model, key(KeyCode::Char(']')));
    }
    let screen = draw(&model, 80, 24);
    assert!(screen.contains("Instruction line 60"), "the end is reachable:\n{screen}");
    let at_end = model.run.as_ref().unwrap().detail_scroll;
    update(&mut model, key(KeyCode::Char('[')));
    assert_eq!(model.run.as_ref().unwrap().detail_scroll, at_end - 3, "no dead keystrokes past the end");
    let wheel = |kind| Msg::Mouse(MouseEvent { kind, column: 10, row: 20, modifiers: KeyModifiers::NONE });
    for _ in 0..40 {
        update(&mut model, wheel(MouseEventKind::ScrollUp));
    }
    assert_eq!(model.run.as_ref().unwrap().detail_scroll, 0);
    let screen = draw(&model, 80, 24);
    assert!(screen.contains("Instruction line 1 "), "{screen}");
}

#[test]
fn the_timeline_scrolls_from_its_newest_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = library(tmp.path(), &[("thirty.yaml", &thirty_steps())]);
    let mut model = started(&lib, "thirty", "dev", (80, 24));
    let rows: Vec<[String; 4]> = (1..=100)
        .map(|i| [format!("10:{i:02}:00"), format!("s{i}"), "✓ passed".into(), format!("row {i}")])
        .collect();
    update(&mut model, Msg::Timeline(rows));
    let screen = draw(&model, 80, 24);
    assert!(screen.contains("row 100"), "{screen}");
    assert!(!screen.contains("row 50 "), "{screen}");
    assert!(screen.contains("↑ 82 more"), "{screen}");
    update(&mut model, key(KeyCode::PageUp));
    update(&mut model, key(KeyCode::PageUp));
    update(&mut model, key(KeyCode::Up));
    let screen = draw(&model, 80, 24);
    assert!(!screen.contains("row 100"), "{screen}");
    assert!(screen.contains("↓ "), "{screen}");
    update(&mut model, key(KeyCode::Home));
    let screen = draw(&model, 80, 24);
    assert!(screen.contains("row 1 "), "{screen}");
    update(&mut model, key(KeyCode::End));
    assert!(draw(&model, 80, 24).contains("row 100"));
    update(&mut model, key(KeyCode::Char('x')));
    assert!(model.dialog.is_none(), "another key closes it");
}

#[test]
fn the_picker_query_edits_as_in_a_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = library(tmp.path(), &[("thirty.yaml", &thirty_steps())]);
    let mut model = Model::new(lib.runbooks.iter().map(Summary::from_loaded).collect(), vec![]);
    for c in "deploy to prod".chars() {
        update(&mut model, key(KeyCode::Char(c)));
    }
    update(&mut model, ctrl('w'));
    assert_eq!(model.picker.query, "deploy to ");
    update(&mut model, ctrl('w'));
    assert_eq!(model.picker.query, "deploy ");
    update(&mut model, ctrl('u'));
    assert_eq!(model.picker.query, "");
    update(&mut model, ctrl('x'));
    assert_eq!(model.picker.query, "", "other control keys are not text");
}

#[test]
fn the_run_id_and_the_help_key_are_never_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = library(tmp.path(), &[("thirty.yaml", &thirty_steps())]);
    let mut model = started(&lib, "thirty", "prod", (80, 24));
    for (w, h) in [(40, 10), (60, 20), (80, 24), (120, 40)] {
        let screen = draw(&model, w, h);
        let first = screen.lines().next().unwrap();
        assert!(first.contains("20261129T233000Z"), "{w}x{h}: {first}");
        let last = screen.lines().last().unwrap();
        assert!(last.contains("?  help"), "{w}x{h}: {last}");
    }
    model.status =
        Some("a long message that fills the whole status bar and more, much more than fits".into());
    assert!(draw(&model, 80, 24).lines().last().unwrap().contains("?  help"));
    let cmds = update(&mut model, key(KeyCode::Char('Y')));
    assert_eq!(cmds, vec![Cmd::Copy("20261129T233000Z-thirty-9f3a".into())]);
}

#[test]
fn y_copies_the_code_blocks_of_a_manual_steps_instructions() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = "title: Paste\nsteps:\n  - title: Look at the pods\n    body: |\n      Run:\n\n      ```sh\n      kubectl get pods -n {{ environment }}\n      ```\n";
    let lib = library(tmp.path(), &[("paste.yaml", yaml)]);
    let mut model = started(&lib, "paste", "dev", (80, 24));
    let cmds = update(&mut model, key(KeyCode::Char('y')));
    assert_eq!(cmds, vec![Cmd::Copy("kubectl get pods -n dev".into())]);
}

/// Every screen the TUI has, for the size sweep.
fn every_screen(lib: &FullLibrary) -> Vec<(&'static str, Model)> {
    let mut screens = Vec::new();
    let mut picker = Model::new(lib.runbooks.iter().map(Summary::from_loaded).collect(), vec![]);
    screens.push(("picker", Model::new(lib.runbooks.iter().map(Summary::from_loaded).collect(), vec![])));
    for c in "long".chars() {
        for cmd in update(&mut picker, key(KeyCode::Char(c))) {
            if let Cmd::Preview(id) = cmd {
                let rb = lib.get(&id).unwrap().runbook.clone().unwrap();
                update(&mut picker, Msg::Preview(id, rb));
            }
        }
    }
    screens.push(("picker with preview", picker));
    let run = |id: &str| started(lib, id, "prod", (80, 24));
    screens.push(("run", run("thirty")));
    let mut output = run("noisy");
    update(&mut output, key(KeyCode::Enter));
    for i in 0..3000 {
        let bytes = format!("line {i} {}\n", "x".repeat(i % 300)).into_bytes();
        update(&mut output, Msg::Output { step: "noisy".into(), stream: Stream::Stdout, bytes });
    }
    update(
        &mut output,
        Msg::Output { step: "noisy".into(), stream: Stream::Stderr, bytes: vec![b'y'; 100_000] },
    );
    screens.push(("run with output", output));
    let mut scrolled = run("long");
    scrolled.run.as_mut().unwrap().detail_scroll = usize::MAX;
    scrolled.run.as_mut().unwrap().scroll = usize::MAX;
    screens.push(("run scrolled past everything", scrolled));
    let mut hidden = run("thirty");
    update(&mut hidden, key(KeyCode::Char('h')));
    screens.push(("run without health", hidden));
    let setup = Setup::new(
        lib.get("deploy").unwrap().runbook.clone().unwrap(),
        vec![("dev".into(), false), ("prod".into(), true)],
        Some("prod"),
    );
    let reading = |env: &str, state| Reading {
        environment: env.into(),
        monitor: "api".into(),
        title: "API".into(),
        state,
        latency_ms: 12,
        reason: "HTTP 503".into(),
        observed: None,
    };
    let rows: Vec<[String; 4]> =
        (0..200).map(|i| [format!("{i}"), "s".into(), "✓ passed".into(), "x".into()]).collect();
    let dialogs = [
        ("setup", Dialog::Setup(Box::new(setup))),
        ("confirm", Dialog::Confirm { kind: Confirmation::YesNo, typed: String::new(), retry: false }),
        (
            "typed confirm",
            Dialog::Confirm {
                kind: Confirmation::TypeEnvironment("prod".into()),
                typed: "pr".into(),
                retry: false,
            },
        ),
        ("skip", Dialog::Skip { reason: "flaky".into() }),
        ("note", Dialog::Note { text: "paged".into() }),
        ("search", Dialog::Search { query: "error".into() }),
        ("quit", Dialog::Quit),
        ("help", Dialog::Help),
        ("timeline", Dialog::Timeline { rows, back: 50 }),
        ("parity probing", Dialog::Parity(None)),
        (
            "parity",
            Dialog::Parity(Some(Parity {
                envs: vec!["dev".into(), "prod".into()],
                monitors: vec!["api".into()],
                readings: vec![reading("dev", State::Up), reading("prod", State::Down)],
            })),
        ),
    ];
    for (name, dialog) in dialogs {
        let mut model = run("deploy");
        model.dialog = Some(dialog);
        screens.push((name, model));
    }
    screens
}

/// The sizes of the sweep: every size up to 45x14 (around the minimum, where layouts break),
/// and a spread of larger ones up to 200x60.
fn sizes() -> Vec<(u16, u16)> {
    let mut sizes: Vec<(u16, u16)> = (1..=45).flat_map(|w| (1..=14).map(move |h| (w, h))).collect();
    // A fixed pseudo-random spread (xorshift), so a failure is reproducible.
    let mut x: u32 = 0x9E37_79B9;
    for _ in 0..150 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        sizes.push((1 + (x % 200) as u16, 1 + ((x >> 8) % 60) as u16));
    }
    sizes.extend([(200, 60), (80, 24), (120, 40), (200, 1), (1, 60)]);
    sizes
}

#[test]
fn every_screen_renders_at_every_size_from_1x1_to_200x60() {
    let tmp = tempfile::tempdir().unwrap();
    let long_body: String = (1..=80).map(|i| format!("      Line {i} of a long body\n")).collect();
    let lib = library(
        tmp.path(),
        &[
            ("thirty.yaml", &thirty_steps()),
            (
                "noisy.yaml",
                "title: Noisy\nsteps:\n  - { id: noisy, title: Print a lot, run: 'yes | head -3000' }\n",
            ),
            (
                "long.yaml",
                &format!(
                    "title: Long\nsteps:\n  - id: read\n    title: Read\n    run: 'echo hi'\n    body: |\n{long_body}"
                ),
            ),
            (
                "deploy.yaml",
                "title: Deploy\ninputs:\n  version: { description: Image tag, default: v1 }\n  token: { secret: true, default: s3cret }\nsteps:\n  - { id: go, title: Go, run: 'deploy {{ version }}', confirm: true }\n",
            ),
        ],
    );
    let screens = every_screen(&lib);
    for (w, h) in sizes() {
        for (name, model) in &screens {
            let result = std::panic::catch_unwind(|| draw(model, w, h));
            let screen = result.unwrap_or_else(|_| panic!("{name} at {w}x{h} panicked"));
            if w < runbook::ui::MIN_WIDTH || h < runbook::ui::MIN_HEIGHT {
                assert!(
                    w < 8 || h < 1 || screen.contains("terminal") || screen.contains("small"),
                    "{name} at {w}x{h} says it is too small:\n{screen}"
                );
            }
        }
    }
    // The mouse and the keys at the smallest sizes use the same layout: no panic either.
    for (w, h) in [(1, 1), (2, 3), (40, 10), (39, 9)] {
        for (_, mut model) in every_screen(&lib) {
            update(&mut model, Msg::Resize(w, h));
            for kind in [MouseEventKind::ScrollDown, MouseEventKind::ScrollUp] {
                update(
                    &mut model,
                    Msg::Mouse(MouseEvent { kind, column: 0, row: 0, modifiers: KeyModifiers::NONE }),
                );
            }
            for code in [KeyCode::PageDown, KeyCode::Char(']'), KeyCode::Down, KeyCode::PageUp] {
                update(&mut model, key(code));
            }
        }
    }
}
