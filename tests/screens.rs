//! Whole-screen snapshots of the TUI at the sizes users have (80x24, 120x40, 200x60), and the
//! pure `update` driven by keys. Time is a message, so the screens are deterministic.

mod support;

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyModifiers};
use runbook::app::model::{Entry, Model, MonitorView, Screen};
use runbook::app::update::{Cmd, Msg, update};
use runbook::health::State;
use runbook::run::Run;
use runbook::runbook::index::Summary;
use runbook::runbook::load::{FullLibrary, Root};
use support::render::{draw, key};

const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 60)];

fn library() -> FullLibrary {
    FullLibrary::load(vec![Root::Bundled])
}

fn picker_model(query: &str) -> Model {
    let lib = library();
    let mut model = Model::new(lib.runbooks.iter().map(Summary::from_loaded).collect(), vec![]);
    for c in query.chars() {
        // The driver answers preview requests; here the test does.
        for cmd in update(&mut model, key(KeyCode::Char(c))) {
            if let Cmd::Preview(id) = cmd {
                let rb = lib.get(&id).unwrap().runbook.clone().unwrap();
                update(&mut model, Msg::Preview(id, rb));
            }
        }
    }
    model
}

fn tour_model() -> Model {
    let lib = library();
    let runbook = lib.get("onboarding/tour").unwrap().runbook.clone().unwrap();
    let env = lib.environments.as_ref().unwrap().get("demo").unwrap().clone();
    let run = Run::new(runbook, env, &BTreeMap::new()).unwrap();
    let mut model = picker_model("");
    // The demo's titles: "API health" fills the room the 120-column pane gives a title.
    let monitors =
        [("api", "API health"), ("database", "Database"), ("mail", "Mail relay"), ("queue", "Queue")]
            .map(|(id, title)| (id.to_string(), title.to_string()))
            .to_vec();
    let cmds = update(
        &mut model,
        Msg::Started {
            run: Box::new(run),
            run_id: "20261123T100000Z-tour-abcd".into(),
            monitors,
            resumed: None,
        },
    );
    assert!(matches!(&cmds[..], [Cmd::Effects(_)]));
    model.health.monitors[0] = MonitorView {
        id: "api".into(),
        title: "API health".into(),
        state: State::Down,
        last_error: Some("HTTP 503".into()),
        ..Default::default()
    };
    model.health.monitors[1].state = State::Up;
    model
}

#[test]
fn the_picker_at_every_size() {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("picker_{w}x{h}"), draw(&picker_model("incid"), w, h));
    }
}

#[test]
fn the_run_view_at_every_size() {
    let mut model = tour_model();
    update(&mut model, key(KeyCode::Char(' ')));
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("run_{w}x{h}"), draw(&model, w, h));
    }
}

#[test]
fn the_help_overlay() {
    let mut model = tour_model();
    update(&mut model, key(KeyCode::Char('?')));
    insta::assert_snapshot!("help_120x40", draw(&model, 120, 40));
    // Every key fits a tmux pane, the last line included.
    let small = draw(&model, 80, 24);
    assert!(small.contains("ctrl-c") && small.contains("↑/↓, k/j"), "{small}");
    insta::assert_snapshot!("help_80x24", small);
}

#[test]
fn typing_filters_the_picker_and_enter_opens_the_selected_runbook() {
    let mut model = picker_model("api 5xx");
    let Some(Entry::Runbook(current)) = model.picker.current() else { panic!("a runbook is selected") };
    assert_eq!(current.id, "incidents/api-5xx");
    let cmds = update(&mut model, key(KeyCode::Enter));
    assert_eq!(cmds, vec![Cmd::Open("incidents/api-5xx".into())]);
    update(&mut model, key(KeyCode::Esc));
    assert_eq!(model.picker.query, "", "esc clears the query first");
    let cmds = update(&mut model, key(KeyCode::Esc));
    assert_eq!(cmds, vec![Cmd::Quit]);
}

#[test]
fn skipping_needs_a_reason_and_journals_it() {
    let mut model = tour_model();
    assert_eq!(model.screen, Screen::Run);
    update(&mut model, key(KeyCode::Char('s')));
    let cmds = update(&mut model, key(KeyCode::Enter));
    assert!(cmds.is_empty(), "an empty reason is refused");
    for c in "done it before".chars() {
        update(&mut model, key(KeyCode::Char(c)));
    }
    let cmds = update(&mut model, key(KeyCode::Enter));
    let Some(Cmd::Effects(effects)) = cmds.first() else { panic!("{cmds:?}") };
    assert!(format!("{effects:?}").contains("StepSkipped { step: \"welcome\", reason: \"done it before\" }"));
}

#[test]
fn choosing_by_number_follows_the_option() {
    let mut model = tour_model();
    let rs = model.run.as_mut().unwrap();
    let decide = rs.run.runbook().step_index("decide").unwrap();
    update(&mut model, Msg::Run(runbook::run::Event::Jump("decide".into())));
    assert_eq!(model.run.as_ref().unwrap().run.cursor(), Some(decide));
    update(&mut model, key(KeyCode::Char('2')));
    assert_eq!(model.run.as_ref().unwrap().run.current().unwrap().id, "escalate");
}

#[test]
fn search_scrolls_to_older_matches_and_copy_takes_the_shown_command() {
    let mut model = tour_model();
    let rs = model.run.as_mut().unwrap();
    rs.selected = rs.run.runbook().step_index("metrics").unwrap();
    for line in ["a error one", "b fine", "c ERROR two", "d fine"] {
        update(
            &mut model,
            Msg::Output {
                step: "metrics".into(),
                stream: runbook::exec::command::Stream::Stdout,
                bytes: format!("{line}\n").into_bytes(),
            },
        );
    }
    let search = |model: &mut Model, q: &str| {
        update(model, key(KeyCode::Char('/')));
        for _ in 0..10 {
            update(model, key(KeyCode::Backspace));
        }
        for c in q.chars() {
            update(model, key(KeyCode::Char(c)));
        }
        update(model, key(KeyCode::Enter));
        model.run.as_ref().unwrap().scroll
    };
    assert_eq!(search(&mut model, "error"), 1, "the newest match: one line up from the end");
    assert_eq!(search(&mut model, "error"), 3, "again: the older match");
    search(&mut model, "nothing here");
    assert_eq!(model.status.as_deref(), Some("'nothing here' not found in the output"));
    let cmds = update(&mut model, key(KeyCode::Char('y')));
    assert_eq!(cmds, vec![Cmd::Copy("curl -fsS http://127.0.0.1:8080/metrics".into())]);
}

#[test]
fn tab_filters_by_kind_and_the_preview_follows_the_selection() {
    let mut model = picker_model("");
    update(&mut model, key(KeyCode::Tab));
    assert_eq!(model.picker.kind, Some(runbook::runbook::Kind::Incident));
    assert!(
        model
            .picker
            .filtered
            .iter()
            .all(|&i| model.picker.items[i].kind == Some(runbook::runbook::Kind::Incident))
    );
    let cmds = update(&mut model, key(KeyCode::Down));
    let Some(Cmd::Preview(id)) = cmds.last() else { panic!("{cmds:?}") };
    let Some(Entry::Runbook(current)) = model.picker.current() else { panic!() };
    assert_eq!(id, &current.id);
    for _ in 0..6 {
        update(&mut model, key(KeyCode::Tab));
    }
    assert_eq!(model.picker.kind, None, "tab cycles back to every kind");
}

#[test]
fn the_mouse_wheel_scrolls_the_output_and_a_click_selects_a_step() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut model = tour_model();
    update(&mut model, Msg::Resize(120, 40));
    let rs = model.run.as_mut().unwrap();
    rs.selected = rs.run.runbook().step_index("metrics").unwrap();
    for i in 0..100 {
        let bytes = format!("counter {i}\n").into_bytes();
        let stream = runbook::exec::command::Stream::Stdout;
        update(&mut model, Msg::Output { step: "metrics".into(), stream, bytes });
    }
    let mouse =
        |kind, column, row| Msg::Mouse(MouseEvent { kind, column, row, modifiers: KeyModifiers::NONE });
    // The bottom rows are the output pane's.
    update(&mut model, mouse(MouseEventKind::ScrollUp, 40, 35));
    assert_eq!(model.run.as_ref().unwrap().scroll, 3);
    update(&mut model, mouse(MouseEventKind::ScrollDown, 40, 35));
    assert_eq!(model.run.as_ref().unwrap().scroll, 0);
    // Row 0 is the banner, row 1 the checklist's border: row 4 is the third step.
    update(&mut model, mouse(MouseEventKind::Down(MouseButton::Left), 5, 4));
    assert_eq!(model.run.as_ref().unwrap().selected, 2);
    let screen = draw(&model, 120, 40);
    assert!(screen.contains("┌ Break the API (inject the errors fault) "), "{screen}");
}

#[test]
fn every_dialog_at_every_size() {
    use runbook::app::model::{Dialog, Parity};
    use runbook::app::setup::Setup;
    use runbook::health::Reading;
    let lib = library();
    let deploy = lib.get("deploy/production").unwrap().runbook.clone().unwrap();
    let setup =
        Setup::new(deploy, vec![("demo".into(), false), ("production".into(), true)], Some("production"));
    let reading = |env: &str, state, reason: &str| Reading {
        environment: env.into(),
        monitor: "api".into(),
        title: "API".into(),
        state,
        latency_ms: 12,
        reason: reason.into(),
        observed: None,
    };
    let dialogs = [
        ("setup", Dialog::Setup(Box::new(setup))),
        (
            "confirm",
            Dialog::Confirm {
                kind: runbook::run::Confirmation::TypeEnvironment("production".into()),
                typed: "prod".into(),
                retry: false,
            },
        ),
        ("skip", Dialog::Skip { reason: "known flaky".into() }),
        ("quit", Dialog::Quit),
        (
            "timeline",
            Dialog::Timeline {
                back: 0,
                rows: vec![
                    ["10:00:00".into(), "".into(), "run started".into(), "by sre@host".into()],
                    ["10:00:05".into(), "healthy".into(), "✓ passed".into(), "after 3 ms".into()],
                ],
            },
        ),
        (
            "parity",
            Dialog::Parity(Some(Parity {
                envs: vec!["demo".into(), "production".into()],
                monitors: vec!["api".into()],
                readings: vec![
                    reading("demo", State::Up, "ok"),
                    reading("production", State::Down, "HTTP 503"),
                ],
            })),
        ),
    ];
    for (name, dialog) in dialogs {
        let mut model = tour_model();
        // A command step is current, so the confirmation has a command to show.
        update(&mut model, Msg::Run(runbook::run::Event::Jump("break".into())));
        if name == "quit" {
            // Asked while the step runs.
            update(&mut model, Msg::Run(runbook::run::Event::Perform));
        }
        model.dialog = Some(dialog);
        for (w, h) in SIZES {
            insta::assert_snapshot!(format!("dialog_{name}_{w}x{h}"), draw(&model, w, h));
        }
    }
}

#[test]
fn the_quit_question_says_when_the_step_it_would_kill_has_ended() {
    use runbook::run::{CommandResult, Event};
    let mut model = tour_model();
    update(&mut model, Msg::Run(Event::Jump("break".into())));
    update(&mut model, Msg::Run(Event::Perform));
    update(&mut model, key(KeyCode::Char('q')));
    let asked = draw(&model, 120, 40);
    assert!(asked.contains("A step is running. Quit and kill it? y / n"), "{asked}");
    let result = CommandResult { exit: Some(0), ..Default::default() };
    update(&mut model, Msg::Run(Event::CommandDone { step: "break".into(), attempt: 1, result }));
    let ended = draw(&model, 120, 40);
    assert!(ended.contains("The step has ended. Quit? y / n"), "{ended}");
    assert!(!ended.contains("kill it"), "{ended}");
}

#[test]
fn a_long_monitor_title_is_cut_with_an_ellipsis_and_keeps_its_space_before_the_state() {
    let mut model = tour_model();
    model.health.monitors[3].title = "Queue depth of the checkout workers".into();
    let screen = draw(&model, 120, 40);
    assert!(screen.contains("○ Queue dept… unknown"), "{screen}");
}
