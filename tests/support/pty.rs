//! The binary in a pseudo-terminal, its screen read through a terminal emulator (vt100);
//! tests wait on screen text until a deadline, never a fixed sleep.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

/// A program in a terminal. `C` hears what the program asks of the terminal besides drawing
/// (a window title, the clipboard); see [`Screen::spawn_recording`].
pub struct Screen<C: vt100::Callbacks = ()> {
    pub master: Box<dyn portable_pty::MasterPty + Send>,
    pub parser: Arc<Mutex<vt100::Parser<C>>>,
    pub writer: Arc<Mutex<Box<dyn Write + Send>>>,
    pub child: Box<dyn portable_pty::Child + Send + Sync>,
    /// Every byte the program wrote to the terminal, when recording.
    raw: Option<Arc<Mutex<Vec<u8>>>>,
}

impl Screen {
    pub fn spawn(args: &[&str], dir: &Path, cols: u16, rows: u16) -> Self {
        Self::spawn_env(args, dir, cols, rows, &[])
    }

    pub fn spawn_env(args: &[&str], dir: &Path, cols: u16, rows: u16, env: &[(&str, &str)]) -> Self {
        Self::spawn_program(env!("CARGO_BIN_EXE_runbook"), args, dir, cols, rows, env)
    }

    /// Another program in the terminal, such as a shell that sets limits and then execs runbook.
    pub fn spawn_program(
        program: &str,
        args: &[&str],
        dir: &Path,
        cols: u16,
        rows: u16,
        env: &[(&str, &str)],
    ) -> Self {
        Self::start((), false, program, args, dir, (cols, rows), env)
    }
}

impl<C: vt100::Callbacks + Send + 'static> Screen<C> {
    /// The binary in a terminal whose emulator tells `callbacks` what it asks besides drawing,
    /// and which keeps every byte it writes (see [`Screen::raw_contains`]).
    pub fn spawn_recording(
        callbacks: C,
        args: &[&str],
        dir: &Path,
        size: (u16, u16),
        env: &[(&str, &str)],
    ) -> Self {
        Self::start(callbacks, true, env!("CARGO_BIN_EXE_runbook"), args, dir, size, env)
    }

    fn start(
        callbacks: C,
        record: bool,
        program: &str,
        args: &[&str],
        dir: &Path,
        (cols, rows): (u16, u16),
        env: &[(&str, &str)],
    ) -> Self {
        let pty =
            native_pty_system().openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).unwrap();
        let mut cmd = CommandBuilder::new(program);
        cmd.args(args);
        cmd.cwd(dir);
        cmd.env("TERM", "xterm-256color");
        // A person at a terminal, in the sandbox `dir`: CI (set when this suite runs in CI)
        // would make `run` headless; NO_COLOR and the rest are the caller's, not the test's.
        for key in super::sandbox::CALLERS_VARIABLES {
            cmd.env_remove(key);
        }
        for (key, dir) in super::sandbox::state_dirs(dir, false) {
            cmd.env(key, dir);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pty.slave.spawn_command(cmd).unwrap();
        drop(pty.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new_with_callbacks(
            std::num::NonZeroU16::new(rows).unwrap(),
            std::num::NonZeroU16::new(cols).unwrap(),
            0,
            callbacks,
        )));
        let mut reader = pty.master.try_clone_reader().unwrap();
        let writer: Arc<Mutex<Box<dyn Write + Send>>> =
            Arc::new(Mutex::new(pty.master.take_writer().unwrap()));
        let (p, w) = (Arc::clone(&parser), Arc::clone(&writer));
        let raw = record.then(|| Arc::new(Mutex::new(Vec::new())));
        let bytes = raw.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let chunk = &buf[..n];
                if let Some(bytes) = &bytes {
                    bytes.lock().unwrap().extend_from_slice(chunk);
                }
                let mut parser = p.lock().unwrap();
                parser.process(chunk);
                // Answer cursor position queries (ESC [ 6 n) as a real terminal does.
                if chunk.windows(4).any(|win| win == b"\x1b[6n") {
                    let (row, col) = parser.screen().cursor_position();
                    let _ = write!(w.lock().unwrap(), "\x1b[{};{}R", row + 1, col + 1);
                }
            }
        });
        Self { master: pty.master, parser, writer, child, raw }
    }

    /// Resizes the terminal, as a user dragging the window would.
    pub fn resize(&self, cols: u16, rows: u16) {
        let nz = |n: u16| std::num::NonZeroU16::new(n).unwrap();
        self.parser.lock().unwrap().screen_mut().set_size(nz(rows), nz(cols));
        self.master.resize(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).unwrap();
    }

    pub fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    pub fn wait_for(&self, needle: &str) {
        self.wait_until(&format!("{needle:?} shows"), |s| s.text().contains(needle));
    }

    pub fn keys(&mut self, keys: &str) {
        let mut w = self.writer.lock().unwrap();
        w.write_all(keys.as_bytes()).unwrap();
        w.flush().unwrap();
    }

    /// Waits until `ready` holds for the screen, or fails with `what` and the screen.
    pub fn wait_until(&self, what: &str, ready: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !ready(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}; the screen:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The foreground colour of the first cell where `needle` starts.
    pub fn colour_of(&self, needle: &str) -> vt100::Color {
        let parser = self.parser.lock().unwrap();
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

    /// Whether the program wrote `needle` to the terminal (a screen of `spawn_recording`).
    pub fn raw_contains(&self, needle: &[u8]) -> bool {
        let raw = self.raw.as_ref().expect("only a recording screen keeps the bytes");
        raw.lock().unwrap().windows(needle.len()).any(|w| w == needle)
    }

    pub fn wait_gone(&self, needle: &str) {
        self.wait_until(&format!("{needle:?} is gone"), |s| !s.text().contains(needle));
    }

    /// The alternate screen is left and the cursor shown again.
    pub fn restored(&self) -> bool {
        let parser = self.parser.lock().unwrap();
        !parser.screen().alternate_screen() && !parser.screen().hide_cursor()
    }

    pub fn wait_exit(&mut self) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.exit_code();
            }
            assert!(Instant::now() < deadline, "the program did not exit; the screen:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

impl<C: vt100::Callbacks> Drop for Screen<C> {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
