//! The terminal UI's figures (docs/performance.md):
//!
//!     cargo bench --bench tui
//!
//! 1. Key press to drawn frame with 10,000 runbooks loaded: typing in the picker (the fuzzy
//!    filter runs over all of them), and moving in the run view while a command streams
//!    100,000 lines per second into the output pane.
//!    And in a 500-step runbook at 80x24 (a tmux pane): ticking, moving and paging, where the
//!    step list scrolls to keep the current step in view.
//! 2. A full redraw of the run view at 200x60.
//! 3. Idle CPU of the real binary in a pseudo-terminal.

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use runbook::app::model::Model;
use runbook::app::update::{Msg, update};
use runbook::exec::command::Stream;
use runbook::run::Run;
use runbook::runbook::index::Summary;
use runbook::runbook::load::{Library, Root};
use runbook::theme::Theme;

fn percentile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn summaries(n: usize) -> Vec<Summary> {
    let kinds = [
        runbook::runbook::Kind::Incident,
        runbook::runbook::Kind::Deploy,
        runbook::runbook::Kind::Maintenance,
    ];
    (0..n)
        .map(|i| Summary {
            id: format!("team-{}/service-{}/runbook-{i}", i % 50, i % 97),
            path: format!("/srv/runbooks/team-{}/runbook-{i}.yaml", i % 50),
            title: format!("Handle alert {i} for service {}", i % 97),
            kind: Some(kinds[i % 3]),
            tags: vec![format!("team-{}", i % 50), "generated".into()],
            error: None,
            warnings: 0,
            alerts: vec![],
        })
        .collect()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (books, presses) = if bench { (10_000, 300) } else { (500, 20) };
    let theme = Theme::no_color();
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();

    // 1a. Typing in the picker over every runbook.
    let mut model = Model::new(summaries(books), vec![]);
    let mut typing = Vec::new();
    let text = "service 42 alert";
    for i in 0..presses {
        let c = text.chars().nth(i % text.len()).unwrap();
        let start = Instant::now();
        let msg = if i % text.len() == text.len() - 1 { key(KeyCode::Esc) } else { key(KeyCode::Char(c)) };
        update(&mut model, msg);
        terminal.draw(|f| runbook::ui::render(&model, &theme, f)).unwrap();
        typing.push(start.elapsed().as_secs_f64() * 1000.0);
    }

    // 1b. Moving in the run view while output streams at 100,000 lines/s: every 16 ms frame
    // brings 1,600 new lines.
    let lib = Library::load(vec![Root::Bundled]);
    let tour = lib.get("onboarding/tour").unwrap().runbook.clone().unwrap();
    let env = lib.environments.as_ref().unwrap().get("demo").unwrap().clone();
    let run = Run::new(tour, env, &BTreeMap::new()).unwrap();
    let monitors = ["api", "database", "mail", "queue"].map(|m| (m.to_string(), m.to_string())).to_vec();
    update(&mut model, Msg::Started { run: Box::new(run), run_id: "bench".into(), monitors, resumed: None });
    let step = "welcome".to_string();
    let mut chunk = String::new();
    for i in 0..1600 {
        chunk.push_str(&format!("line {i} of streaming output from the command under test\n"));
    }
    let mut moving = Vec::new();
    for i in 0..presses {
        update(
            &mut model,
            Msg::Output { step: step.clone(), stream: Stream::Stdout, bytes: chunk.clone().into_bytes() },
        );
        let start = Instant::now();
        update(&mut model, key(if i % 2 == 0 { KeyCode::Down } else { KeyCode::Up }));
        terminal.draw(|f| runbook::ui::render(&model, &theme, f)).unwrap();
        moving.push(start.elapsed().as_secs_f64() * 1000.0);
    }

    // 1d. One line of 1 GiB without a newline, in 64 KiB reads: a key and a frame after every
    // 16 MiB; peak RSS of this process (the model keeps the line's head and tail only).
    let total: usize = if bench { 1 << 30 } else { 16 << 20 };
    let block = vec![b'x'; 64 * 1024];
    let mut one_line = Vec::new();
    let mut sent = 0;
    let mut i = 0;
    while sent < total {
        update(&mut model, Msg::Output { step: step.clone(), stream: Stream::Stdout, bytes: block.clone() });
        sent += block.len();
        if sent % (16 << 20) == 0 {
            let start = Instant::now();
            update(&mut model, key(if i % 2 == 0 { KeyCode::Down } else { KeyCode::Up }));
            terminal.draw(|f| runbook::ui::render(&model, &theme, f)).unwrap();
            one_line.push(start.elapsed().as_secs_f64() * 1000.0);
            i += 1;
        }
    }
    let peak_kib: u64 = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0);

    // 1c. A 500-step runbook at 80x24: tick, move, page; the list window follows the cursor.
    let long = long_run_keys(presses);

    // 2. Full redraws at 200x60 (the previous frame forgotten each time).
    let mut full = Vec::new();
    for _ in 0..presses {
        terminal.swap_buffers();
        terminal.swap_buffers();
        let start = Instant::now();
        terminal.draw(|f| runbook::ui::render(&model, &theme, f)).unwrap();
        full.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    println!("{books} runbooks loaded, {presses} key presses each:");
    println!(
        "  picker, typing        p50 {:.2} ms  p99 {:.2} ms",
        percentile(typing.clone(), 0.5),
        percentile(typing, 0.99)
    );
    println!(
        "  run view, 100k lines/s p50 {:.2} ms  p99 {:.2} ms",
        percentile(moving.clone(), 0.5),
        percentile(moving, 0.99)
    );
    println!(
        "  500 steps at 80x24    p50 {:.2} ms  p99 {:.2} ms",
        percentile(long.clone(), 0.5),
        percentile(long, 0.99)
    );
    println!("  full redraw 200x60    median {:.2} ms", percentile(full, 0.5));
    println!(
        "  a {} MiB line without a newline: key to frame p50 {:.2} ms  p99 {:.2} ms; peak RSS of the bench {:.1} MB",
        total >> 20,
        percentile(one_line.clone(), 0.5),
        percentile(one_line, 0.99),
        peak_kib as f64 / 1024.0
    );

    idle_cpu(if bench { 10 } else { 2 });
}

/// Key to frame in a 500-step runbook at 80x24: ticks (the cursor and the list window move),
/// ↑/↓ and PgDn, each followed by a draw.
fn long_run_keys(presses: usize) -> Vec<f64> {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("environments.yaml"), "default: dev\nenvironments:\n  dev: {}\n").unwrap();
    let mut yaml = String::from("title: Five hundred steps\nsteps:\n");
    for i in 1..=500 {
        yaml.push_str(&format!(
            "  - {{ id: s{i}, title: Step {i} of the long procedure, body: 'Do **thing {i}** and check `it`.' }}\n"
        ));
    }
    std::fs::write(tmp.path().join("long.yaml"), yaml).unwrap();
    let lib = Library::load(vec![Root::Dir(tmp.path().to_owned())]);
    let runbook = lib.get("long").unwrap().runbook.clone().unwrap();
    let env = lib.environments_for("long").unwrap().get("dev").unwrap().clone();
    let run = Run::new(runbook, env, &BTreeMap::new()).unwrap();
    let mut model = Model::new(vec![], vec![]);
    update(&mut model, Msg::Resize(80, 24));
    update(
        &mut model,
        Msg::Started { run: Box::new(run), run_id: "bench".into(), monitors: vec![], resumed: None },
    );
    let theme = Theme::no_color();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let keys = [KeyCode::Char(' '), KeyCode::Down, KeyCode::Up, KeyCode::Char(' '), KeyCode::PageDown];
    (0..presses.max(400))
        .map(|i| {
            let start = Instant::now();
            update(&mut model, key(keys[i % keys.len()]));
            terminal.draw(|f| runbook::ui::render(&model, &theme, f)).unwrap();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

/// CPU used by the real binary sitting in the picker (nothing running), from /proc.
fn idle_cpu(seconds: u64) {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let tmp = tempfile::tempdir().unwrap();
    let pty = native_pty_system()
        .openpty(PtySize { rows: 40, cols: 120, pixel_width: 0, pixel_height: 0 })
        .unwrap();
    let mut cmd = CommandBuilder::new(support::runbook_bin());
    cmd.cwd(tmp.path());
    cmd.env("TERM", "xterm-256color");
    cmd.env("RUNBOOK_DATA_DIR", tmp.path().join("data"));
    cmd.env("RUNBOOK_CONFIG_DIR", tmp.path().join("config"));
    cmd.env("RUNBOOK_CACHE_DIR", tmp.path().join("cache"));
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    let mut reader = pty.master.try_clone_reader().unwrap();
    let mut writer = pty.master.take_writer().unwrap();
    // Answer the start-up cursor query, then drain output.
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let mut answered = false;
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            if !answered && buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                use std::io::Write;
                let _ = writer.write_all(b"\x1b[1;1R");
                answered = true;
            }
        }
    });
    let pid = child.process_id().unwrap();
    let ticks = || -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let t = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        t(11) + t(12) // utime + stime, in clock ticks
    };
    std::thread::sleep(Duration::from_secs(2)); // start-up is not idle
    let before = ticks();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let used = (ticks() - before) / 100.0; // USER_HZ is 100 on Linux
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "  idle CPU (picker, {seconds} s) {:.2}% of one core",
        100.0 * used / start.elapsed().as_secs_f64()
    );
}
