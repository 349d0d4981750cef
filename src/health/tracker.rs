//! The state of one monitor from its probe results: pure, time passed in.

use std::collections::VecDeque;

use serde::Serialize;

use crate::run::ProbeResult;

/// How healthy a monitor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Not probed yet, or failing fewer than `fail_after` times so far from the start.
    #[default]
    Unknown,
    Up,
    /// Passing but slower than `max_latency`, or flapping between passing and failing.
    Degraded,
    /// `fail_after` consecutive failures.
    Down,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Degraded => "degraded",
            State::Down => "down",
        })
    }
}

/// One probe result with when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// Milliseconds since the scheduler started.
    pub at_ms: u64,
    pub passed: bool,
    pub slow: bool,
    pub latency_ms: u64,
    pub reason: String,
    /// The value a `prometheus:` monitor saw ("0.012 < 0.05 ✓").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
}

/// How many samples a monitor keeps (the sparkline and flapping look at them).
pub const HISTORY: usize = 60;
/// Samples looked at for flapping, and how many pass/fail flips make it flapping.
const FLAP_WINDOW: usize = 10;
const FLAP_FLIPS: usize = 4;

/// Tracks one monitor.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    fail_after: u32,
    state: State,
    /// When the state last changed (ms since the scheduler started).
    since_ms: u64,
    failures: u32,
    history: VecDeque<Sample>,
    last_error: Option<String>,
}

impl Tracker {
    pub fn new(fail_after: u32) -> Self {
        Self { fail_after: fail_after.max(1), ..Self::default() }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn since_ms(&self) -> u64 {
        self.since_ms
    }

    pub fn history(&self) -> &VecDeque<Sample> {
        &self.history
    }

    pub fn last(&self) -> Option<&Sample> {
        self.history.back()
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Takes a probe result; returns the new state.
    pub fn observe(&mut self, result: &ProbeResult, at_ms: u64) -> State {
        let sample = Sample {
            at_ms,
            passed: result.passed,
            slow: result.slow,
            latency_ms: result.latency_ms,
            reason: result.reason.clone(),
            observed: result.observed.clone(),
        };
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(sample);
        let ok = result.passed || result.slow;
        if ok {
            self.failures = 0;
        } else {
            self.failures += 1;
            self.last_error = Some(result.reason.clone());
        }
        let next = if !ok {
            if self.failures >= self.fail_after { State::Down } else { self.state }
        } else if result.slow || self.flapping() {
            State::Degraded
        } else {
            State::Up
        };
        if next != self.state {
            self.state = next;
            self.since_ms = at_ms;
        }
        self.state
    }

    /// Whether recent samples flip between pass and fail often.
    fn flapping(&self) -> bool {
        let recent: Vec<bool> =
            self.history.iter().rev().take(FLAP_WINDOW).map(|s| s.passed || s.slow).collect();
        recent.windows(2).filter(|w| w[0] != w[1]).count() >= FLAP_FLIPS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(passed: bool, slow: bool) -> ProbeResult {
        ProbeResult {
            passed,
            slow,
            latency_ms: 5,
            reason: if passed { "ok" } else { "HTTP 503" }.into(),
            observed: None,
        }
    }

    #[test]
    fn down_only_after_fail_after_consecutive_failures() {
        let mut t = Tracker::new(2);
        assert_eq!(t.observe(&result(true, false), 0), State::Up);
        assert_eq!(t.observe(&result(false, false), 1000), State::Up, "one failure is not down yet");
        assert_eq!(t.observe(&result(false, false), 2000), State::Down);
        assert_eq!(t.since_ms(), 2000);
        assert_eq!(t.last_error(), Some("HTTP 503"));
        assert_eq!(t.observe(&result(true, false), 3000), State::Up);
    }

    #[test]
    fn slow_passes_are_degraded() {
        let mut t = Tracker::new(1);
        assert_eq!(t.observe(&result(false, true), 0), State::Degraded);
        assert_eq!(t.observe(&result(true, false), 1), State::Up);
    }

    #[test]
    fn flapping_is_degraded() {
        let mut t = Tracker::new(1);
        for i in 0..6 {
            t.observe(&result(i % 2 == 0, false), i * 1000);
        }
        assert_eq!(t.observe(&result(true, false), 7000), State::Degraded);
    }

    #[test]
    fn history_is_a_bounded_ring() {
        let mut t = Tracker::new(1);
        for i in 0..(HISTORY as u64 + 10) {
            t.observe(&result(true, false), i);
        }
        assert_eq!(t.history().len(), HISTORY);
        assert_eq!(t.history().front().unwrap().at_ms, 10);
    }
}
