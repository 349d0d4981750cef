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
        let run_haystacks = runs
            .iter()
            .map(|r| format!("{} {} {}", r.runbook, r.title, r.environment).as_str().into())
            .collect();
        let mut p = Self { items, runs, haystacks, run_haystacks, ..Self::default() };
        p.refilter();
        p
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

/// The output of one step: a bounded tail of lines, cleaned of escape sequences
/// ([`crate::ansi`]): the text, and the colour runs the command asked for.
#[derive(Debug, Default, Clone)]
pub struct Output {
    pub lines: VecDeque<(Stream, String, crate::ansi::Runs)>,
    partial: [String; 2],
    /// Lines dropped from the front to stay bounded.
    pub dropped: usize,
}

impl Output {
    pub fn push(&mut self, stream: Stream, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let slot = stream as usize;
        let mut rest: &str = &text;
        while let Some(nl) = rest.find('\n') {
            let mut line = std::mem::take(&mut self.partial[slot]);
            line.push_str(&rest[..nl]);
            self.add(stream, line);
            rest = &rest[nl + 1..];
        }
        self.partial[slot].push_str(rest);
    }

    pub fn finish(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let line = std::mem::take(&mut self.partial[stream as usize]);
            if !line.is_empty() {
                self.add(stream, line);
            }
        }
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
    /// The output search, highlighted in the output pane.
    pub search: Option<String>,
}

impl RunScreen {
    pub fn selected_id(&self) -> &str {
        &self.run.runbook().steps[self.selected].id
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
    /// Search the output of the selected step.
    Search {
        query: String,
    },
    /// Quit while a step runs.
    Quit,
    Help,
    /// The run's timeline from the journal: time, step, event, details.
    Timeline(Vec<[String; 4]>),
    /// Every monitor against every environment; `None` while probing.
    Parity(Option<Parity>),
    /// Environment and inputs before a run starts.
    Setup(Box<crate::app::setup::Setup>),
}

#[derive(Debug)]
pub struct Model {
    pub screen: Screen,
    pub picker: Picker,
    pub run: Option<RunScreen>,
    pub health: Health,
    pub dialog: Option<Dialog>,
    /// A one-line message in the status bar.
    pub status: Option<String>,
    /// Milliseconds since the app started (from `Tick`), so views are deterministic.
    pub now_ms: u64,
    pub quit: bool,
    pub keymap: crate::app::keymap::Keymap,
    /// The terminal's size (columns, rows), for mapping mouse clicks.
    pub size: (u16, u16),
}

impl Model {
    pub fn new(items: Vec<Summary>, runs: Vec<RunInfo>) -> Self {
        Self {
            screen: Screen::Picker,
            picker: Picker::new(items, runs),
            run: None,
            health: Health { visible: true, ..Health::default() },
            dialog: None,
            status: None,
            now_ms: 0,
            quit: false,
            keymap: crate::app::keymap::Keymap::default(),
            size: (80, 24),
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

    fn summary(id: &str) -> Summary {
        Summary {
            id: id.into(),
            path: String::new(),
            title: id.into(),
            kind: None,
            tags: vec![],
            error: None,
            warnings: 0,
        }
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
}
