//! The TUI's state. `update` changes it; `ui::render` only reads it.

use std::collections::{HashMap, VecDeque};

use crate::exec::command::Stream;
use crate::fuzzy::Fuzzy;
use crate::health::{Sample, State};
use crate::journal::RunInfo;
use crate::run::{Confirmation, Run};
use crate::runbook::index::Summary;

/// Lines of output kept per step on screen (the full output is in the step's log file).
pub const OUTPUT_LINES: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Picker,
    Run,
}

/// The picker: unfinished runs to resume first, then every runbook.
#[derive(Debug, Default)]
pub struct Picker {
    pub query: String,
    pub items: Vec<Summary>,
    /// Indices into `items` that match the query, best first.
    pub filtered: Vec<usize>,
    /// Unfinished runs, newest first.
    pub runs: Vec<RunInfo>,
    /// Indices into `runs` that match the query.
    pub runs_filtered: Vec<usize>,
    /// Row in the combined list (runs, then runbooks).
    pub selected: usize,
    /// Only runbooks of this kind (Tab cycles).
    pub kind: Option<crate::runbook::Kind>,
    /// The selected runbook, loaded for the preview (id, runbook).
    pub preview: Option<(String, std::sync::Arc<crate::runbook::Runbook>)>,
    /// Ids of the runbooks that answer an alert firing now (marked in the list).
    pub firing: std::collections::HashSet<String>,
    /// What the query matches against, converted once.
    haystacks: Vec<nucleo_matcher::Utf32String>,
    run_haystacks: Vec<nucleo_matcher::Utf32String>,
    /// The query and kind `filtered` was computed for, to narrow instead of rescoring all.
    last: Option<(String, Option<crate::runbook::Kind>)>,
}

/// A row of the picker.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    Run(&'a RunInfo),
    Runbook(&'a Summary),
}

impl Picker {
    pub fn new(items: Vec<Summary>, runs: Vec<RunInfo>) -> Self {
        let haystacks = items.iter().map(|s| s.haystack().as_str().into()).collect();
        let mut p = Self { items, haystacks, ..Self::default() };
        p.refilter();
        p.set_runs(runs);
        p.selected = 0;
        p
    }

    /// The unfinished runs, once listed (they come after the picker is on screen: a slow run
    /// store must not hold it up). The selected row stays on the same runbook.
    pub fn set_runs(&mut self, runs: Vec<RunInfo>) {
        let before = self.runs_filtered.len();
        let on_runbook = self.selected >= before;
        self.run_haystacks = runs
            .iter()
            .map(|r| format!("{} {} {}", r.runbook, r.title, r.environment).as_str().into())
            .collect();
        self.runs = runs;
        self.runs_filtered = Fuzzy::new(&self.query).rank_prepared(&self.run_haystacks, None);
        if on_runbook {
            self.selected = self.selected - before + self.runs_filtered.len();
        }
        self.selected = self.selected.min(self.len().saturating_sub(1));
    }

    pub fn refilter(&mut self) {
        let mut fuzzy = Fuzzy::new(&self.query);
        // Typing more of the same query only narrows: rescore the previous matches only.
        let narrowing = self.last.as_ref().is_some_and(|(q, k)| {
            *k == self.kind
                && self.query.starts_with(q.as_str())
                && !q.is_empty()
                && !self.query.contains(['|', '!', '^', '$', '\''])
        });
        let within = narrowing.then(|| {
            let mut w = self.filtered.clone();
            w.sort_unstable();
            w
        });
        self.filtered = fuzzy.rank_prepared(&self.haystacks, within.as_deref());
        if let Some(kind) = self.kind {
            self.filtered.retain(|&i| self.items[i].kind == Some(kind));
        }
        self.last = Some((self.query.clone(), self.kind));
        self.runs_filtered = fuzzy.rank_prepared(&self.run_haystacks, None);
        self.selected = self.selected.min(self.len().saturating_sub(1));
    }

    /// Rows in the combined list.
    pub fn len(&self) -> usize {
        self.runs_filtered.len() + self.filtered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn row(&self, row: usize) -> Option<Entry<'_>> {
        match self.runs_filtered.get(row) {
            Some(&i) => Some(Entry::Run(&self.runs[i])),
            None => {
                self.filtered.get(row - self.runs_filtered.len()).map(|&i| Entry::Runbook(&self.items[i]))
            }
        }
    }

    pub fn current(&self) -> Option<Entry<'_>> {
        self.row(self.selected)
    }

    /// Tab: the next kind filter (all, incident, recovery, deploy, maintenance, onboarding, other).
    pub fn cycle_kind(&mut self) {
        use crate::runbook::Kind::*;
        const ORDER: [Option<crate::runbook::Kind>; 7] = [
            None,
            Some(Incident),
            Some(Recovery),
            Some(Deploy),
            Some(Maintenance),
            Some(Onboarding),
            Some(Other),
        ];
        let at = ORDER.iter().position(|k| *k == self.kind).unwrap_or(0);
        self.kind = ORDER[(at + 1) % ORDER.len()];
        self.selected = 0;
        self.refilter();
    }

    /// A matcher for highlighting what the query matched; make one per frame, not per row
    /// (a matcher allocates its scoring matrix).
    pub fn highlighter(&self) -> Fuzzy {
        Fuzzy::new(&self.query)
    }
}

/// Bytes of a line kept from its start, and from its end, when it is longer than both.
pub const LINE_HEAD: usize = 2 * 1024;
pub const LINE_TAIL: usize = 512;

/// The output of one step: a bounded tail of lines, each line bounded too.
///
/// Memory stays flat for any output shape: at most `OUTPUT_LINES` lines of at most
/// `LINE_HEAD + LINE_TAIL` bytes (plus a marker), and a line still being written (no newline
/// yet) keeps only its head and a sliding tail however long it grows.
#[derive(Debug, Default, Clone)]
pub struct Output {
    /// Each line cleaned of escape sequences ([`crate::ansi`]): the text, and the colour
    /// runs the command asked for.
    pub lines: VecDeque<(Stream, String, crate::ansi::Runs)>,
    partial: [Partial; 2],
    /// Lines dropped from the front to stay bounded.
    pub dropped: usize,
    /// Bytes left out of the middle of long lines (the step's log file has them).
    pub cut_bytes: u64,
}

/// A line without its newline yet: its first bytes, its last bytes, and how many in between
/// were dropped.
#[derive(Debug, Default, Clone)]
struct Partial {
    head: Vec<u8>,
    tail: Vec<u8>,
    dropped: u64,
}

impl Partial {
    fn extend(&mut self, mut bytes: &[u8]) {
        if self.head.len() < LINE_HEAD {
            let take = bytes.len().min(LINE_HEAD - self.head.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if bytes.len() >= LINE_TAIL {
            // Only the last LINE_TAIL bytes can survive: skip the rest without copying it.
            let skip = bytes.len() - LINE_TAIL;
            self.dropped += (self.tail.len() + skip) as u64;
            self.tail.clear();
            bytes = &bytes[skip..];
        }
        self.tail.extend_from_slice(bytes);
        if self.tail.len() > LINE_TAIL {
            let cut = self.tail.len() - LINE_TAIL;
            self.tail.drain(..cut);
            self.dropped += cut as u64;
        }
    }

    fn len(&self) -> u64 {
        (self.head.len() + self.tail.len()) as u64 + self.dropped
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The line as text: head, a marker saying how much was left out, tail.
    fn take(&mut self) -> String {
        let Partial { head, tail, dropped } = std::mem::take(self);
        let mut text = lossy_head(&head);
        if dropped > 0 {
            text.push_str(&format!(" … {dropped} bytes not shown … "));
            text.push_str(&lossy_tail(&tail));
        } else {
            // Nothing was dropped: head and tail are one contiguous run of bytes.
            let mut all = head;
            all.extend_from_slice(&tail);
            text = String::from_utf8_lossy(&all).into_owned();
        }
        text
    }
}

/// The head of a cut line: an incomplete character at the cut is left out, not shown as �.
fn lossy_head(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The tail of a cut line: it starts at the next character boundary.
fn lossy_tail(bytes: &[u8]) -> String {
    let start = bytes.iter().take(4).position(|b| (b & 0xC0) != 0x80).unwrap_or(0);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

impl Output {
    pub fn push(&mut self, stream: Stream, bytes: &[u8]) {
        let slot = stream as usize;
        let mut rest = bytes;
        // Of a chunk with more lines than are kept, only the last OUTPUT_LINES can stay on
        // screen: count the others as dropped without building them (a flood of short lines
        // would otherwise cost an allocation per line, and the screen falls behind).
        let newlines = memchr::memchr_iter(b'\n', rest).count();
        if newlines > OUTPUT_LINES {
            let skip = newlines - OUTPUT_LINES;
            if let Some(at) = memchr::memchr_iter(b'\n', rest).nth(skip - 1) {
                self.partial[slot] = Partial::default();
                self.dropped += skip;
                rest = &rest[at + 1..];
            }
        }
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            self.partial[slot].extend(&rest[..nl]);
            self.cut_bytes += self.partial[slot].dropped;
            let line = self.partial[slot].take();
            self.add(stream, line);
            rest = &rest[nl + 1..];
        }
        self.partial[slot].extend(rest);
    }

    pub fn finish(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let slot = stream as usize;
            if !self.partial[slot].is_empty() {
                self.cut_bytes += self.partial[slot].dropped;
                let line = self.partial[slot].take();
                self.add(stream, line);
            }
        }
    }

    /// Bytes received of lines that have not ended yet (shown as a count while they grow).
    pub fn pending_bytes(&self) -> u64 {
        self.partial.iter().map(Partial::len).sum()
    }

    fn add(&mut self, stream: Stream, line: String) {
        if self.lines.len() == OUTPUT_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
        let clean = crate::ansi::clean(line.as_bytes());
        self.lines.push_back((stream, clean.text, clean.runs));
    }
}

/// The run being worked on.
#[derive(Debug)]
pub struct RunScreen {
    pub run: Run,
    pub run_id: String,
    /// The step shown in the detail and output panes.
    pub selected: usize,
    pub outputs: HashMap<String, Output>,
    /// Lines scrolled up from the end of the output; 0 follows the output.
    pub scroll: usize,
    /// Rows scrolled down in the selected step's detail (render clamps it to the text).
    pub detail_scroll: usize,
    /// When each waiting check's first probe went out (`now_ms`), for its time left.
    pub checks_started: HashMap<String, u64>,
    /// The output search, highlighted in the output pane.
    pub search: Option<String>,
    /// Watching someone else's run (`runbook attach`): read-only, and who drives it.
    pub watching: Option<Watching>,
}

/// What a watcher knows of the run's driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watching {
    /// `user@host (pid N) since …`, or `None` while nobody drives it.
    pub driver: Option<String>,
}

impl RunScreen {
    pub fn selected_id(&self) -> &str {
        &self.run.runbook().steps[self.selected].id
    }

    /// Shows another step: its detail and output start at their usual places.
    pub fn select(&mut self, index: usize) {
        if index < self.run.runbook().steps.len() && index != self.selected {
            self.selected = index;
            self.scroll = 0;
            self.detail_scroll = 0;
        }
    }

    /// The running step, if any.
    pub fn running(&self) -> Option<usize> {
        self.run.steps().iter().position(|s| s.status == crate::run::Status::Running)
    }
}

/// One monitor in the health pane.
#[derive(Debug, Clone, Default)]
pub struct MonitorView {
    pub id: String,
    pub title: String,
    pub state: State,
    pub since_ms: u64,
    pub last: Option<Sample>,
    pub last_error: Option<String>,
    /// Recent latencies (ms) for the sparkline; failures as 0.
    pub latencies: VecDeque<u64>,
}

#[derive(Debug, Default)]
pub struct Health {
    pub env: String,
    pub monitors: Vec<MonitorView>,
    pub visible: bool,
}

/// The firing alerts of an environment's Alertmanager, polled like monitors.
#[derive(Debug, Default)]
pub struct Alerts {
    /// The environment they are from.
    pub env: String,
    /// Whether that environment names an `alertmanager:` at all.
    pub configured: bool,
    /// The last list read (kept when a later read fails), oldest first.
    pub list: Vec<crate::alerts::Alert>,
    /// Why the last read failed.
    pub error: Option<String>,
    /// When the list was read: wall clock (for ages) and `now_ms` (so ages move on with ticks).
    pub read_at: Option<(jiff::Timestamp, u64)>,
}

impl Alerts {
    /// Seconds an alert has been firing, as of `now_ms`.
    pub fn age_secs(&self, alert: &crate::alerts::Alert, now_ms: u64) -> u64 {
        match self.read_at {
            Some((at, ms)) => alert.age_secs(at) + now_ms.saturating_sub(ms) / 1000,
            None => 0,
        }
    }
}

/// A modal question.
#[derive(Debug, Clone)]
pub enum Dialog {
    /// `confirm: true`: y/n, or the environment's name typed in a protected environment.
    Confirm {
        kind: Confirmation,
        typed: String,
        retry: bool,
    },
    /// Skip the current step: a reason is required.
    Skip {
        reason: String,
    },
    Note {
        text: String,
    },
    /// A resumed run's step still runs from a runner that stopped: wait, stop or leave it.
    StillRunning {
        run_id: String,
        step: String,
        pids: Vec<i32>,
        waiting: bool,
    },
    /// Mark the current (interrupted, failed or cancelled) step done without running it:
    /// why, for the journal.
    MarkDone {
        note: String,
    },
    /// Search the output of the selected step.
    Search {
        query: String,
    },
    /// Quit while a step runs.
    Quit,
    Help,
    /// The run's timeline from the journal: time, step, event, details; `back` rows scrolled
    /// up from the newest (0 shows the end).
    Timeline {
        rows: Vec<[String; 4]>,
        back: usize,
    },
    /// Every monitor against every environment; `None` while probing.
    Parity(Option<Parity>),
    /// Environment and inputs before a run starts.
    Setup(Box<crate::app::setup::Setup>),
    /// The firing alerts; enter opens the selected one's runbook.
    Alerts {
        selected: usize,
    },
}

#[derive(Debug)]
pub struct Model {
    pub screen: Screen,
    pub picker: Picker,
    pub run: Option<RunScreen>,
    pub health: Health,
    pub alerts: Alerts,
    pub dialog: Option<Dialog>,
    /// A one-line message in the status bar.
    pub status: Option<String>,
    /// Milliseconds since the app started (from `Tick`), so views are deterministic.
    pub now_ms: u64,
    pub quit: bool,
    pub keymap: crate::app::keymap::Keymap,
    /// The terminal's size (columns, rows), for mapping mouse clicks.
    pub size: (u16, u16),
    /// Links in runbook Markdown are OSC 8 hyperlinks (the driver decides; off in tests that
    /// render to a buffer).
    pub hyperlinks: bool,
}

impl Model {
    pub fn new(items: Vec<Summary>, runs: Vec<RunInfo>) -> Self {
        Self {
            screen: Screen::Picker,
            picker: Picker::new(items, runs),
            run: None,
            health: Health { visible: true, ..Health::default() },
            alerts: Alerts::default(),
            dialog: None,
            status: None,
            now_ms: 0,
            quit: false,
            keymap: crate::app::keymap::Keymap::default(),
            size: (80, 24),
            hyperlinks: false,
        }
    }
}

/// The parity table.
#[derive(Debug, Clone)]
pub struct Parity {
    pub envs: Vec<String>,
    pub monitors: Vec<String>,
    pub readings: Vec<crate::health::Reading>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_line_without_a_newline_keeps_its_head_and_tail_only() {
        let mut out = Output::default();
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..800 {
            out.push(Stream::Stdout, &chunk);
        }
        out.push(Stream::Stdout, b"END");
        assert_eq!(out.pending_bytes(), 800 * 64 * 1024 + 3);
        let kept: usize = out.partial.iter().map(|p| p.head.capacity() + p.tail.capacity()).sum();
        assert!(kept < 64 * 1024, "the partial line holds {kept} bytes");
        out.finish();
        let (_, line, _) = out.lines.back().unwrap();
        assert!(line.len() < LINE_HEAD + LINE_TAIL + 64, "{} bytes", line.len());
        assert!(line.starts_with("xxxx"));
        assert!(line.ends_with("xxEND"), "the tail is the end of the line");
        let dropped = 800 * 64 * 1024 + 3 - LINE_HEAD - LINE_TAIL;
        assert!(line.contains(&format!(" … {dropped} bytes not shown … ")), "{}", &line[LINE_HEAD - 10..]);
        assert_eq!(out.cut_bytes, dropped as u64);
    }

    #[test]
    fn a_chunk_of_more_lines_than_kept_keeps_its_last_ones() {
        let mut out = Output::default();
        out.push(Stream::Stdout, b"partial ");
        let chunk: String = (0..OUTPUT_LINES + 500).map(|i| format!("{i}\n")).collect();
        out.push(Stream::Stdout, chunk.as_bytes());
        assert_eq!(out.lines.len(), OUTPUT_LINES);
        assert_eq!(out.dropped, 500);
        assert_eq!(out.lines[0].1, "500");
        assert_eq!(out.lines.back().unwrap().1, format!("{}", OUTPUT_LINES + 499));
        // The same lines one at a time give the same result.
        let mut slow = Output::default();
        slow.push(Stream::Stdout, b"partial ");
        for line in chunk.split_inclusive('\n') {
            slow.push(Stream::Stdout, line.as_bytes());
        }
        assert_eq!(slow.lines, out.lines);
        assert_eq!(slow.dropped, out.dropped);
    }

    #[test]
    fn lines_are_bounded_in_length_and_number_and_short_lines_stay_whole() {
        let mut out = Output::default();
        out.push(Stream::Stdout, "héllo ".as_bytes());
        out.push(Stream::Stdout, "wörld\n".as_bytes());
        assert_eq!(out.lines[0].1, "héllo wörld");
        let long = "€".repeat(10_000) + "\n";
        out.push(Stream::Stderr, long.as_bytes());
        let (stream, line, _) = &out.lines[1];
        assert_eq!(*stream, Stream::Stderr);
        assert!(!line.contains('\u{FFFD}'), "cuts fall on character boundaries");
        assert!(line.len() <= LINE_HEAD + LINE_TAIL + 64);
        for i in 0..OUTPUT_LINES + 5 {
            out.push(Stream::Stdout, format!("{i}\n").as_bytes());
        }
        assert_eq!(out.lines.len(), OUTPUT_LINES);
        assert_eq!(out.dropped, 7);
        assert_eq!(out.pending_bytes(), 0);
    }

    fn summary(id: &str) -> Summary {
        Summary { id: id.into(), path: String::new(), title: id.into(), kind: None, ..Summary::default() }
    }

    #[test]
    fn narrowing_the_query_gives_the_same_matches_as_a_fresh_filter() {
        let items: Vec<Summary> =
            ["deploy/production", "deploy/staging", "incidents/api-5xx", "dev/probe", "docs"]
                .iter()
                .map(|i| summary(i))
                .collect();
        let mut typed = Picker::new(items.clone(), vec![]);
        let fresh = |q: &str| {
            let mut p = Picker::new(items.clone(), vec![]);
            p.query = q.into();
            p.refilter();
            p.filtered
        };
        for c in "dep prod".chars() {
            typed.query.push(c);
            typed.refilter();
            assert_eq!(typed.filtered, fresh(&typed.query), "after typing {:?}", typed.query);
        }
        while !typed.query.is_empty() {
            typed.query.pop();
            typed.refilter();
            assert_eq!(typed.filtered, fresh(&typed.query), "after deleting to {:?}", typed.query);
        }
    }

    fn unfinished(id: &str, runbook: &str) -> RunInfo {
        RunInfo {
            id: id.into(),
            runbook: runbook.into(),
            title: runbook.into(),
            environment: "prod".into(),
            started: jiff::Timestamp::UNIX_EPOCH,
            ended: None,
            state: crate::journal::RunState::Unfinished,
            done: 1,
            steps: Some(3),
            driver: None,
            problems: vec![],
            source: None,
            dir: std::path::PathBuf::new(),
        }
    }

    #[test]
    fn runs_listed_after_the_picker_opened_keep_the_selected_runbook_selected() {
        let items: Vec<Summary> =
            ["deploy/production", "deploy/staging", "incidents/api-5xx"].iter().map(|i| summary(i)).collect();
        let mut p = Picker::new(items, vec![]);
        p.selected = 1;
        let id = |p: &Picker| match p.current() {
            Some(Entry::Runbook(s)) => s.id.clone(),
            Some(Entry::Run(r)) => format!("run {}", r.id),
            None => String::new(),
        };
        assert_eq!(id(&p), "deploy/staging");
        p.set_runs(vec![unfinished("r1", "deploy/production"), unfinished("r2", "incidents/api-5xx")]);
        assert_eq!(p.runs_filtered.len(), 2);
        assert_eq!(id(&p), "deploy/staging", "the same runbook stays selected");
        // Under a query, only the runs it matches come in, and the selection still holds.
        let mut q = Picker::new(p.items.clone(), vec![]);
        q.query = "api".into();
        q.refilter();
        assert_eq!(id(&q), "incidents/api-5xx");
        q.set_runs(vec![unfinished("r1", "deploy/production"), unfinished("r2", "incidents/api-5xx")]);
        assert_eq!(q.runs_filtered.len(), 1);
        assert_eq!(id(&q), "incidents/api-5xx");
        q.selected = 0;
        assert_eq!(id(&q), "run r2");
    }
}
