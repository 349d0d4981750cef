//! What the headless runner prints: one line per event, command output prefixed, and a cap
//! on how much output one step echoes (the full output is always in the step's log file).
//!
//! Command output is untrusted: each echoed line goes through [`crate::ansi::clean`], so a
//! command can never set the title, write the clipboard or move the cursor of the terminal we
//! print to. On a terminal its colours are kept (unless `NO_COLOR`); into a pipe or a file the
//! text is plain, without a single escape sequence. The log file keeps the raw bytes.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::exec::command::Stream;

/// Output lines echoed per step before the rest goes to the log file only.
pub const ECHO_LINES: usize = 2_000;
/// Output bytes echoed per step before the rest goes to the log file only.
pub const ECHO_BYTES: usize = 1024 * 1024;

/// Writes progress to stdout; shared with the output sink of a running command.
#[derive(Debug)]
pub struct Printer {
    out: std::io::BufWriter<std::io::Stdout>,
    echo: Echo,
    /// Re-emit the colours of command output (stdout is a terminal and `NO_COLOR` is unset).
    colors: bool,
}

/// The echo state of the running step.
#[derive(Debug, Default)]
struct Echo {
    lines: usize,
    bytes: usize,
    /// Bytes not echoed once the cap was reached.
    hidden: u64,
    partial: [Vec<u8>; 2],
    log: Option<PathBuf>,
}

impl Default for Printer {
    fn default() -> Self {
        Self::new()
    }
}

impl Printer {
    pub fn new() -> Self {
        let colors =
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Self {
            out: std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout()),
            echo: Echo::default(),
            colors,
        }
    }

    /// A progress line, flushed at once. Titles and commands may hold captures (command
    /// output), so control characters are removed here too.
    pub fn line(&mut self, text: &str) {
        let text = crate::ansi::printable(text);
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    /// Starts echoing a new command's output.
    pub fn begin_output(&mut self, log: Option<PathBuf>) {
        self.echo = Echo { log, ..Echo::default() };
    }

    /// A chunk of a command's output: complete lines are echoed with a prefix.
    pub fn output(&mut self, stream: Stream, bytes: &[u8]) {
        if self.capped() {
            // Past the cap nothing is echoed: skip the per-line work entirely, so a step that
            // prints gigabytes streams at the speed of its log file.
            self.echo.hidden += bytes.len() as u64;
            return;
        }
        let slot = stream as usize;
        let mut rest = bytes;
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (line, tail) = rest.split_at(nl);
            rest = &tail[1..];
            if self.echo.partial[slot].is_empty() {
                self.echo_line(stream, line);
            } else {
                let mut whole = std::mem::take(&mut self.echo.partial[slot]);
                whole.extend_from_slice(line);
                self.echo_line(stream, &whole);
            }
        }
        let partial = &mut self.echo.partial[slot];
        partial.extend_from_slice(rest);
        if partial.len() > 64 * 1024 {
            let long = std::mem::take(partial);
            self.echo_line(stream, &long);
        }
        let _ = self.out.flush();
    }

    fn capped(&self) -> bool {
        self.echo.lines >= ECHO_LINES || self.echo.bytes >= ECHO_BYTES
    }

    fn echo_line(&mut self, stream: Stream, line: &[u8]) {
        if self.capped() {
            self.echo.hidden += line.len() as u64 + 1;
            return;
        }
        let e = &mut self.echo;
        e.lines += 1;
        e.bytes += line.len();
        let prefix: &[u8] = match stream {
            Stream::Stdout => "       │ ".as_bytes(),
            Stream::Stderr => "       ! ".as_bytes(),
        };
        let clean = crate::ansi::clean(line);
        let shown = if self.colors { clean.to_sgr() } else { clean.text };
        let _ = self.out.write_all(prefix);
        let _ = self.out.write_all(shown.as_bytes());
        let _ = self.out.write_all(b"\n");
    }

    /// Ends a command's output: flushes partial lines and says where hidden output went.
    pub fn end_output(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let partial = std::mem::take(&mut self.echo.partial[stream as usize]);
            if !partial.is_empty() {
                self.echo_line(stream, &partial);
            }
        }
        if self.echo.hidden > 0 {
            let log = self.echo.log.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            let hidden = human_bytes(self.echo.hidden);
            self.line(&format!("       … {hidden} more output not shown; the full output is in {log}"));
        }
        let _ = self.out.flush();
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} bytes") } else { format!("{value:.1} {}", UNITS[unit]) }
}
