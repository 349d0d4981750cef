//! Command output is untrusted: a command that prints OSC 0 (title), OSC 52 (clipboard) and
//! `\e[2J` (clear screen) must drive neither the terminal of the TUI nor that of the headless
//! runner, while its colours survive. The real binary runs in a pseudo-terminal; a terminal
//! emulator (vt100) records every title and clipboard request it receives.

mod support;

use std::path::Path;

use support::Sandbox;
use support::pty::Screen;

/// What the terminal was asked to do besides drawing.
#[derive(Default)]
struct Requests {
    titles: Vec<Vec<u8>>,
    clipboard: Vec<Vec<u8>>,
}

impl vt100::Callbacks for Requests {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.titles.push(title.to_vec());
    }
    fn set_window_icon_name(&mut self, _: &mut vt100::Screen, name: &[u8]) {
        self.titles.push(name.to_vec());
    }
    fn copy_to_clipboard(&mut self, _: &mut vt100::Screen, _ty: &[u8], data: &[u8]) {
        self.clipboard.push(data.to_vec());
    }
}

/// The binary on a 100x30 terminal that tells what it was asked besides drawing, and keeps
/// every byte it was sent.
fn terminal(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Screen<Requests> {
    Screen::spawn_recording(Requests::default(), args, dir, (100, 30), env)
}

fn assert_not_driven(s: &Screen<Requests>) {
    let parser = s.parser.lock().unwrap();
    let requests = parser.callbacks();
    assert!(requests.titles.is_empty(), "the title was set: {:?}", requests.titles);
    assert!(requests.clipboard.is_empty(), "the clipboard was written: {:?}", requests.clipboard);
}

/// A runbooks directory whose one step prints hostile escape sequences around red text.
fn evil_books(dir: &Path) {
    std::fs::create_dir_all(dir.join("books")).unwrap();
    std::fs::write(dir.join("books/environments.yaml"), "default: dev\nenvironments:\n  dev: {}\n").unwrap();
    // printf's octal escapes, so the YAML itself holds no control characters.
    std::fs::write(
        dir.join("evil.sh"),
        r"printf 'before\n\033]0;PWNED\007\033]52;c;cm0gLXJmIH4=\033\\\033[2J\033[H\033[31mRED ALERT\033[0m plain\n'
printf 'progress 10%%\rprogress 100%%\n'
printf 'after\n'
",
    )
    .unwrap();
    // A capture is command output too, and it reaches a title and a command.
    std::fs::write(dir.join("grab.sh"), r"printf 'got\033]0;CAPTURED\007\033[2Jit'").unwrap();
    std::fs::write(
        dir.join("books/evil.yaml"),
        "title: Hostile output\nsteps:\n  - { id: evil, title: Print escapes, run: sh evil.sh }\n  - { id: grab, title: Capture, run: sh grab.sh, capture: grabbed }\n  - { id: next, title: 'Then this {{ grabbed }}', run: 'echo {{ grabbed }}' }\n",
    )
    .unwrap();
}

#[test]
fn the_tui_output_pane_keeps_colours_and_drops_every_other_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    evil_books(tmp.path());
    let mut s = terminal(&["--dir", "books", "evil"], tmp.path(), &[]);
    s.wait_for("DEV │ Hostile output");
    s.keys("\r");
    s.wait_for("✓ Print escapes");
    // The selection has moved on to the next step: go back up to read this one's output.
    s.keys("\x1b[A");
    s.wait_for("after");
    let text = s.text();
    // `\e[2J` would have wiped the banner and the step list; `\e[H` would have put the text at
    // the top-left corner. Both are intact, and the text is inside the output pane.
    assert!(text.lines().next().unwrap().contains("DEV │ Hostile output"), "{text}");
    assert!(text.contains("Then this"), "{text}");
    assert!(!text.lines().next().unwrap().contains("RED ALERT"), "{text}");
    assert!(text.contains("RED ALERT plain"), "{text}");
    assert!(text.contains("progress 100%") && !text.contains("progress 10%p"), "{text}");
    assert!(!text.contains("PWNED") && !text.contains("cm0g"), "{text}");
    assert_eq!(s.colour_of("RED ALERT"), vt100::Color::Idx(1), "the command's red stays red");
    assert_ne!(s.colour_of("plain"), vt100::Color::Idx(1), "the reset ends the red");
    // A capture holding escape sequences reaches the next step's title and command cleaned.
    s.keys("\r");
    s.wait_for("✓ Capture");
    s.wait_for("▸ Then this gotit");
    assert!(s.text().lines().next().unwrap().contains("DEV │ Hostile output"), "{}", s.text());
    assert!(!s.text().contains("CAPTURED"), "{}", s.text());
    assert_not_driven(&s);
}

#[test]
fn the_headless_runner_on_a_terminal_keeps_colours_and_drops_every_other_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    evil_books(tmp.path());
    let s = terminal(&["run", "--dir", "books", "evil", "--yes"], tmp.path(), &[]);
    s.wait_for("after");
    s.wait_for("Then this gotit");
    s.wait_for("│ gotit");
    let text = s.text();
    assert!(text.contains("RED ALERT plain"), "{text}");
    assert!(text.contains("before"), "`\\e[2J` cleared the screen:\n{text}");
    assert!(!text.contains("progress 10%p"), "{text}");
    assert_eq!(s.colour_of("RED ALERT"), vt100::Color::Idx(1), "the command's red stays red");
    assert_not_driven(&s);
}

#[test]
fn no_color_drops_the_commands_colours_too() {
    let tmp = tempfile::tempdir().unwrap();
    evil_books(tmp.path());
    let s = terminal(&["run", "--dir", "books", "evil", "--yes"], tmp.path(), &[("NO_COLOR", "1")]);
    s.wait_for("after");
    assert!(s.text().contains("RED ALERT plain"), "{}", s.text());
    assert_eq!(s.colour_of("RED ALERT"), vt100::Color::Default);
    assert_not_driven(&s);
}

#[test]
fn the_headless_runner_into_a_pipe_writes_plain_text_and_the_log_keeps_raw_bytes() {
    let sb = Sandbox::new();
    evil_books(sb.path());
    let out = sb.run(&["run", "--dir", "books", "evil", "--yes"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("│ RED ALERT plain\n"), "{stdout}");
    assert!(stdout.contains("│ progress 100%\n"), "{stdout}");
    let controls: Vec<char> = stdout.chars().filter(|c| c.is_control() && *c != '\n').collect();
    assert!(controls.is_empty(), "control characters in piped output: {controls:?}\n{stdout:?}");

    let mut raw = Vec::new();
    let mut dirs = vec![sb.data()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "log") {
                raw.extend(std::fs::read(p).unwrap());
            }
        }
    }
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        raw.contains("\x1b]0;PWNED\x07") && raw.contains("\x1b[31mRED ALERT"),
        "the log keeps raw bytes: {raw:?}"
    );
}

/// A runbook whose body links to a dashboard, whose command prints a hyperlink of its own, and
/// whose next body links to a captured (command output) URL.
fn linked_books(dir: &Path) {
    std::fs::create_dir_all(dir.join("books")).unwrap();
    std::fs::write(dir.join("books/environments.yaml"), "default: dev\nenvironments:\n  dev: {}\n").unwrap();
    std::fs::write(
        dir.join("link.sh"),
        r"printf 'see \033]8;;https://evil.example.com/x\033\\click me\033]8;;\033\\ done\n'",
    )
    .unwrap();
    std::fs::write(dir.join("url.sh"), r"printf 'https://captured.example.com/y'").unwrap();
    std::fs::write(
        dir.join("books/links.yaml"),
        "title: Links\nsteps:\n  - id: look\n    title: Look\n    body: Open [the dashboard](https://dash.example.com/api) first.\n    run: sh link.sh\n  - { id: grab, title: Grab, run: sh url.sh, capture: url }\n  - id: after\n    title: After\n    body: 'Then [the captured page]({{ url }}).'\n",
    )
    .unwrap();
}

#[test]
fn runbook_links_are_hyperlinks_and_command_output_links_never_are() {
    let tmp = tempfile::tempdir().unwrap();
    linked_books(tmp.path());
    let mut s = terminal(&["--dir", "books", "links"], tmp.path(), &[]);
    s.wait_for("the dashboard[1]");
    s.wait_for("[1] https://dash.example.com/api");
    assert!(
        s.raw_contains(b"\x1b]8;;https://dash.example.com/api\x1b\\t\x1b]8;;\x1b\\"),
        "the link text is an OSC 8 hyperlink to the runbook's URL"
    );
    s.keys("\r");
    s.wait_for("✓ Look");
    s.keys("\x1b[A");
    s.wait_for("see click me done");
    s.keys("\x1b[B\r");
    s.wait_for("✓ Grab");
    s.wait_for("the captured page[1]");
    s.wait_for("[1] https://captured.example.com/y");
    assert!(!s.raw_contains(b"evil.example.com"), "the command's hyperlink reached the terminal");
    assert!(!s.raw_contains(b"\x1b]8;;https://captured"), "a captured URL became a hyperlink");
    assert_not_driven(&s);
}

#[test]
fn no_hyperlinks_keeps_links_as_text() {
    let tmp = tempfile::tempdir().unwrap();
    linked_books(tmp.path());
    let s = terminal(&["--dir", "books", "links"], tmp.path(), &[("NO_HYPERLINKS", "1")]);
    s.wait_for("the dashboard[1]");
    s.wait_for("[1] https://dash.example.com/api");
    assert!(!s.raw_contains(b"\x1b]8;"), "an OSC 8 sequence was written");
}
