//! Command output is untrusted: a command that prints OSC 0 (title), OSC 52 (clipboard) and
//! `\e[2J` (clear screen) must drive neither the terminal of the TUI nor that of the headless
//! runner, while its colours survive. The real binary runs in a pseudo-terminal; a terminal
//! emulator (vt100) records every title and clipboard request it receives.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

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

type Term = Arc<Mutex<vt100::Parser<Requests>>>;

struct Pty {
    term: Term,
    /// Every byte the program wrote to the terminal.
    raw: Arc<Mutex<Vec<u8>>>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Pty {
    fn spawn(args: &[&str], dir: &Path) -> Self {
        Self::spawn_env(args, dir, &[])
    }

    fn spawn_env(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Self {
        let (rows, cols) = (30, 100);
        let pty =
            native_pty_system().openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_runbook"));
        cmd.args(args);
        cmd.cwd(dir);
        cmd.env("TERM", "xterm-256color");
        cmd.env("RUNBOOK_DATA_DIR", dir.join("data"));
        cmd.env("RUNBOOK_CACHE_DIR", dir.join("cache"));
        cmd.env("RUNBOOK_CONFIG_DIR", dir.join("config"));
        cmd.env_remove("RUNBOOK_PATH");
        cmd.env_remove("NO_COLOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pty.slave.spawn_command(cmd).unwrap();
        drop(pty.slave);
        let term: Term = Arc::new(Mutex::new(vt100::Parser::new_with_callbacks(
            std::num::NonZeroU16::new(rows).unwrap(),
            std::num::NonZeroU16::new(cols).unwrap(),
            0,
            Requests::default(),
        )));
        let mut reader = pty.master.try_clone_reader().unwrap();
        let writer: Arc<Mutex<Box<dyn Write + Send>>> =
            Arc::new(Mutex::new(pty.master.take_writer().unwrap()));
        let (t, answer) = (Arc::clone(&term), Arc::clone(&writer));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let bytes = Arc::clone(&raw);
        std::thread::spawn(move || {
            // Keep the master open for as long as the reader runs.
            let _master = pty.master;
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                bytes.lock().unwrap().extend_from_slice(&buf[..n]);
                let mut parser = t.lock().unwrap();
                parser.process(&buf[..n]);
                // Answer cursor position queries as a real terminal does.
                if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                    let (row, col) = parser.screen().cursor_position();
                    let _ = write!(answer.lock().unwrap(), "\x1b[{};{}R", row + 1, col + 1);
                }
            }
        });
        Self { term, raw, writer, child }
    }

    fn keys(&self, keys: &[u8]) {
        let mut w = self.writer.lock().unwrap();
        w.write_all(keys).unwrap();
        w.flush().unwrap();
    }

    fn text(&self) -> String {
        self.term.lock().unwrap().screen().contents()
    }

    fn wait_for(&self, needle: &str) {
        support::wait_for(&format!("{needle:?} on screen"), Duration::from_secs(15), || {
            self.text().contains(needle).then_some(())
        });
    }

    /// The foreground colour of the first cell where `needle` starts.
    fn colour_of(&self, needle: &str) -> vt100::Color {
        let parser = self.term.lock().unwrap();
        let screen = parser.screen();
        let (rows, cols) = screen.size();
        for row in 0..rows.get() {
            let line = screen.contents_between(row, 0, row, cols.get());
            if let Some(byte) = line.find(needle) {
                let col = line[..byte].chars().count() as u16;
                return screen.cell(row, col).unwrap().fgcolor();
            }
        }
        panic!("{needle:?} is not on screen:\n{}", screen.contents());
    }

    fn raw_contains(&self, needle: &[u8]) -> bool {
        self.raw.lock().unwrap().windows(needle.len()).any(|w| w == needle)
    }

    fn assert_not_driven(&self) {
        let parser = self.term.lock().unwrap();
        let requests = parser.callbacks();
        assert!(requests.titles.is_empty(), "the title was set: {:?}", requests.titles);
        assert!(requests.clipboard.is_empty(), "the clipboard was written: {:?}", requests.clipboard);
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
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
    let s = Pty::spawn(&["--dir", "books", "evil"], tmp.path());
    s.wait_for("DEV │ Hostile output");
    s.keys(b"\r");
    s.wait_for("✓ Print escapes");
    // The selection has moved on to the next step: go back up to read this one's output.
    s.keys(b"\x1b[A");
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
    s.keys(b"\r");
    s.wait_for("✓ Capture");
    s.wait_for("▸ Then this gotit");
    assert!(s.text().lines().next().unwrap().contains("DEV │ Hostile output"), "{}", s.text());
    assert!(!s.text().contains("CAPTURED"), "{}", s.text());
    s.assert_not_driven();
}

#[test]
fn the_headless_runner_on_a_terminal_keeps_colours_and_drops_every_other_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    evil_books(tmp.path());
    let s = Pty::spawn(&["run", "--dir", "books", "evil", "--yes"], tmp.path());
    s.wait_for("after");
    s.wait_for("Then this gotit");
    s.wait_for("│ gotit");
    let text = s.text();
    assert!(text.contains("RED ALERT plain"), "{text}");
    assert!(text.contains("before"), "`\\e[2J` cleared the screen:\n{text}");
    assert!(!text.contains("progress 10%p"), "{text}");
    assert_eq!(s.colour_of("RED ALERT"), vt100::Color::Idx(1), "the command's red stays red");
    s.assert_not_driven();
}

#[test]
fn no_color_drops_the_commands_colours_too() {
    let tmp = tempfile::tempdir().unwrap();
    evil_books(tmp.path());
    let s = Pty::spawn_env(&["run", "--dir", "books", "evil", "--yes"], tmp.path(), &[("NO_COLOR", "1")]);
    s.wait_for("after");
    assert!(s.text().contains("RED ALERT plain"), "{}", s.text());
    assert_eq!(s.colour_of("RED ALERT"), vt100::Color::Default);
    s.assert_not_driven();
}

#[test]
fn the_headless_runner_into_a_pipe_writes_plain_text_and_the_log_keeps_raw_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    evil_books(tmp.path());
    let out = Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(["run", "--dir", "books", "evil", "--yes"])
        .current_dir(tmp.path())
        .env_remove("RUNBOOK_PATH")
        .env_remove("NO_COLOR")
        .env("RUNBOOK_DATA_DIR", tmp.path().join("data"))
        .env("RUNBOOK_CACHE_DIR", tmp.path().join("cache"))
        .env("RUNBOOK_CONFIG_DIR", tmp.path().join("config"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("│ RED ALERT plain\n"), "{stdout}");
    assert!(stdout.contains("│ progress 100%\n"), "{stdout}");
    let controls: Vec<char> = stdout.chars().filter(|c| c.is_control() && *c != '\n').collect();
    assert!(controls.is_empty(), "control characters in piped output: {controls:?}\n{stdout:?}");

    let mut raw = Vec::new();
    let mut dirs = vec![tmp.path().join("data")];
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
    let s = Pty::spawn(&["--dir", "books", "links"], tmp.path());
    s.wait_for("the dashboard[1]");
    s.wait_for("[1] https://dash.example.com/api");
    assert!(
        s.raw_contains(b"\x1b]8;;https://dash.example.com/api\x1b\\t\x1b]8;;\x1b\\"),
        "the link text is an OSC 8 hyperlink to the runbook's URL"
    );
    s.keys(b"\r");
    s.wait_for("✓ Look");
    s.keys(b"\x1b[A");
    s.wait_for("see click me done");
    s.keys(b"\x1b[B\r");
    s.wait_for("✓ Grab");
    s.wait_for("the captured page[1]");
    s.wait_for("[1] https://captured.example.com/y");
    assert!(!s.raw_contains(b"evil.example.com"), "the command's hyperlink reached the terminal");
    assert!(!s.raw_contains(b"\x1b]8;;https://captured"), "a captured URL became a hyperlink");
    s.assert_not_driven();
}

#[test]
fn no_hyperlinks_keeps_links_as_text() {
    let tmp = tempfile::tempdir().unwrap();
    linked_books(tmp.path());
    let s = Pty::spawn_env(&["--dir", "books", "links"], tmp.path(), &[("NO_HYPERLINKS", "1")]);
    s.wait_for("the dashboard[1]");
    s.wait_for("[1] https://dash.example.com/api");
    assert!(!s.raw_contains(b"\x1b]8;"), "an OSC 8 sequence was written");
}
