//! The layout follows the work, on a real terminal at the sizes users have (80x24, a tmux
//! pane, and 120x40): the current step stays in the list, a confirmation shows what it runs,
//! a waiting check shows its progress, the detail and the timeline scroll, a huge line
//! without a newline neither stalls the screen nor grows memory, and a panic ends the running
//! step at once.

mod support;

use std::path::Path;
use std::time::Duration;

use support::pty::Screen;
use support::thirty_steps;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn books(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("books")).unwrap();
    std::fs::write(dir.join("books/environments.yaml"), "default: dev\nenvironments:\n  dev: {}\n").unwrap();
    for (name, yaml) in files {
        std::fs::write(dir.join("books").join(name), yaml).unwrap();
    }
}

#[test]
fn ticked_to_step_21_the_list_shows_step_21() {
    for (w, h) in SIZES {
        let tmp = tempfile::tempdir().unwrap();
        books(tmp.path(), &[("thirty.yaml", &thirty_steps())]);
        let mut s = Screen::spawn(&["--dir", "books", "thirty"], tmp.path(), w, h);
        s.wait_for("▸ Step number 1 ");
        for i in 1..=20 {
            s.keys(" ");
            s.wait_for(&format!("steps {i}/30"));
        }
        s.wait_for("▸ Step number 21");
        s.wait_for("┌ Step number 21 ");
        if h == 24 {
            assert!(!s.text().contains("Step number 1 "), "step 1 scrolled away:\n{}", s.text());
            assert!(s.text().contains("↑ "), "a marker says so:\n{}", s.text());
        }
        s.keys("q");
        assert_eq!(s.wait_exit(), 0);
    }
}

#[test]
fn the_confirmation_of_step_2_shows_step_2s_command() {
    for (w, h) in SIZES {
        let tmp = tempfile::tempdir().unwrap();
        books(
            tmp.path(),
            &[(
                "two.yaml",
                "title: Two commands\nsteps:\n  - { id: one, title: First, run: 'echo output of the first' }\n  - { id: two, title: Second, run: 'echo the second command runs', confirm: true }\n",
            )],
        );
        let mut s = Screen::spawn(&["--dir", "books", "two"], tmp.path(), w, h);
        s.wait_for("▸ First");
        s.keys("\r");
        s.wait_for("✓ First");
        s.wait_for("┌ Second ");
        s.keys("\r");
        s.wait_for("Run this step? y / n");
        s.wait_for("$ echo the second command runs");
        assert!(!s.text().contains("echo output of the first"), "{w}x{h}:\n{}", s.text());
        s.keys("y");
        s.wait_for("│the second command runs");
        // The output shows before the step has ended; q while it runs asks first.
        s.wait_for("✓ Second");
        s.keys("q");
        assert_eq!(s.wait_exit(), 0);
    }
}

#[test]
fn a_waiting_check_shows_its_pass_count() {
    let server = support::HealthServer::start();
    // Each probe is answered only when the test lets it through, so every count stays on
    // screen until the test has seen it, however slow the machine.
    server.hold();
    for (w, h) in SIZES {
        let tmp = tempfile::tempdir().unwrap();
        let yaml = format!(
            "title: Gate\nsteps:\n  - {{ id: gate, title: Wait for healthy, check: {{ http: '{}', timeout: 60s }}, wait: {{ timeout: 5m, interval: 1s, passes: 3 }} }}\n  - {{ id: after, title: After }}\n",
            server.url("/health")
        );
        books(tmp.path(), &[("gate.yaml", &yaml)]);
        server.set_status(503);
        let mut s = Screen::spawn(&["--dir", "books", "gate"], tmp.path(), w, h);
        s.wait_for("▸ Wait for healthy");
        s.keys("\r");
        s.wait_for("0/3 passes");
        s.wait_for("s left");
        server.release_one();
        s.wait_for("last probe:");
        s.wait_for("503");
        // The first probe has answered; the next waits at the server until released.
        server.set_status(200);
        server.release_one();
        s.wait_for("1/3 passes");
        server.release_one();
        s.wait_for("2/3 passes");
        assert!(!s.text().contains("✓ Wait for healthy"), "two passes of three:\n{}", s.text());
        server.release_one();
        s.wait_for("✓ Wait for healthy");
        s.keys("q");
        assert_eq!(s.wait_exit(), 0);
    }
}

#[test]
fn the_detail_pane_and_the_timeline_scroll() {
    for (w, h) in SIZES {
        let tmp = tempfile::tempdir().unwrap();
        let body: String = (1..=70).map(|i| format!("      - Instruction line {i}\n")).collect();
        let mut yaml =
            format!("title: Long\nsteps:\n  - id: read\n    title: Read this\n    body: |\n{body}");
        for i in 1..=60 {
            yaml.push_str(&format!("  - {{ id: s{i}, title: Step number {i} }}\n"));
        }
        books(tmp.path(), &[("long.yaml", &yaml)]);
        let mut s = Screen::spawn(&["--dir", "books", "long"], tmp.path(), w, h);
        s.wait_for("Instruction line 1 ");
        assert!(!s.text().contains("Instruction line 70"));
        // PgDn pages the detail of a step without output; ] scrolls it by lines.
        s.keys("\x1b[6~");
        s.wait_gone("Instruction line 1 ");
        for _ in 0..30 {
            s.keys("]");
        }
        s.wait_for("Instruction line 70");
        // The wheel over the detail scrolls it back (SGR mouse reports, 1-based).
        let (col, row) = if w >= 100 { (w / 2 + 10, h / 2) } else { (10, h - 4) };
        for _ in 0..40 {
            s.keys(&format!("\x1b[<64;{col};{row}M"));
        }
        s.wait_for("Instruction line 1 ");
        // Enough journal rows that the timeline overflows the screen.
        for _ in 0..61 {
            s.keys(" ");
        }
        s.wait_for("steps 61/61");
        s.keys("t");
        s.wait_for("timeline (UTC)");
        s.wait_for("↑ ");
        assert!(!s.text().contains("run started"), "the newest rows show first:\n{}", s.text());
        s.keys("\x1b[H"); // Home: the oldest rows
        s.wait_for("run started");
        s.wait_for("↓ ");
        s.keys("\x1b[6~"); // PgDn goes back towards the newest
        s.wait_gone("run started");
        s.keys("\x1b");
        s.wait_gone("timeline (UTC)");
        s.keys("q");
        assert_eq!(s.wait_exit(), 0);
    }
}

#[test]
fn resized_down_to_1x1_while_a_step_streams_and_back() {
    let tmp = tempfile::tempdir().unwrap();
    books(
        tmp.path(),
        &[(
            "stream.yaml",
            "title: Stream\nsteps:\n  - { id: stream, title: Count, run: 'i=0; while [ ! -e release ]; do i=$((i+1)); echo line $i; sleep 0.01; done; echo finished' }\n",
        )],
    );
    let mut s = Screen::spawn(&["--dir", "books", "stream"], tmp.path(), 80, 24);
    s.wait_for("▸ Count");
    s.keys("\r");
    s.wait_for("│line 1");
    s.resize(30, 8);
    s.wait_for("terminal too small");
    s.wait_for("30x8: needs 40x10");
    // Each resize is drawn, never a crash: the notice, or what fits of it. (The emulator keeps
    // what it had where the new size overlaps the old, so each size waits for what only a
    // frame at that size has.)
    for (w, h) in [(1u16, 1u16), (2, 2)] {
        s.resize(w, h);
        s.keys("j");
        let fits: String = "terminaltoosmall".chars().take(usize::from(w * h)).collect();
        s.wait_until(&format!("{fits:?}, what fits of the notice, shows at {w}x{h}"), |s| {
            s.text().split_whitespace().collect::<String>() == fits
        });
    }
    for (w, h) in [(40, 9), (39, 10)] {
        s.resize(w, h);
        s.keys("j");
        s.wait_for(&format!("{w}x{h}: needs 40x10"));
    }
    s.resize(80, 24);
    s.keys("k");
    s.wait_for("┌ Count ");
    // The step streamed all along: it ends only when the test lets it.
    assert!(!s.text().contains("✓ Count"), "{}", s.text());
    std::fs::write(tmp.path().join("release"), "").unwrap();
    s.wait_for("✓ Count");
    s.wait_for("│finished");
    s.keys("q");
    assert_eq!(s.wait_exit(), 0);
}

#[test]
fn a_command_that_floods_its_output_can_be_watched_and_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    books(
        tmp.path(),
        &[(
            "yes.yaml",
            "title: Flood\nsteps:\n  - { id: yes, title: Yes forever, run: 'yes', timeout: 5m }\n",
        )],
    );
    let mut s = Screen::spawn(&["--dir", "books", "yes"], tmp.path(), 80, 24);
    s.wait_for("▸ Yes forever");
    s.keys("\r");
    // The queue of output never empties: frames are still drawn...
    s.wait_for("│y");
    // ...and a cancel is carried out (it used to wait on the command while the command
    // waited on the screen).
    s.keys("c");
    s.wait_for("⊘ Yes forever");
    s.keys("q");
    assert_eq!(s.wait_exit(), 0);
}

/// The peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_50_mb_line_without_a_newline_keeps_the_screen_responsive_and_memory_flat() {
    let tmp = tempfile::tempdir().unwrap();
    books(
        tmp.path(),
        &[(
            "flood.yaml",
            // The step holds on after its line until the test lets it go: on a fast machine
            // the 50 MB are through in 0.2 s, and a step that finishes moves the selection on
            // to the next step while the test still looks at the first.
            "title: Flood\nsteps:\n  - { id: flood, title: One huge line, run: \"head -c 50000000 /dev/zero | tr '\\\\0' x; while [ ! -e release ]; do sleep 0.05; done\", timeout: 5m }\n  - { id: after, title: Then this }\n",
        )],
    );
    let mut s = Screen::spawn(&["--dir", "books", "flood"], tmp.path(), 80, 24);
    s.wait_for("▸ One huge line");
    s.keys("\r");
    s.wait_for("receiving a line");
    // While the line streams in, keys still move the selection.
    s.keys("j");
    s.wait_for("┌ Then this ");
    s.keys("k");
    s.wait_for("┌ One huge line ");
    std::fs::write(tmp.path().join("release"), "").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !s.text().contains("✓ One huge line") {
        assert!(std::time::Instant::now() < deadline, "the step did not finish:\n{}", s.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    s.keys("k");
    s.wait_for("bytes not shown");
    s.wait_for("step log");
    let pid = s.child.process_id().unwrap();
    let peak = peak_rss_kib(pid);
    assert!(peak < 100 * 1024, "peak RSS {peak} KiB while a 50 MB line streamed");
    s.keys("q");
    assert_eq!(s.wait_exit(), 0);
}

/// Whether a process is gone (or a zombie no one has reaped yet: it runs nothing).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn a_panic_kills_the_running_step_and_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    books(
        tmp.path(),
        &[(
            "slow.yaml",
            "title: Slow\nsteps:\n  - { id: slow, title: Sleep a while, run: 'echo $$ > step.pid; echo sleeping; sleep 300', timeout: 10m }\n",
        )],
    );
    let mut s = Screen::spawn_env(
        &["--dir", "books", "slow"],
        tmp.path(),
        100,
        30,
        &[("RUNBOOK_TEST_PANIC", "x"), ("RUST_BACKTRACE", "0")],
    );
    s.wait_for("▸ Sleep a while");
    s.keys("\r");
    s.wait_for("│sleeping");
    let pid: i32 = std::fs::read_to_string(tmp.path().join("step.pid")).unwrap().trim().parse().unwrap();
    assert!(!gone(pid));
    s.keys("x");
    assert_eq!(s.wait_exit(), 101, "exits at once, not when the step ends");
    s.wait_until("the terminal is restored and the panic reported", |s| {
        s.restored() && s.text().contains("panicking on the key 'x'")
    });
    support::wait_for("the step's process group to be killed", Duration::from_secs(10), || {
        gone(pid).then_some(())
    });
}
