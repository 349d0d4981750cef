//! Start-up at scale (docs/performance.md, "Start-up at scale"):
//!
//!     cargo bench --bench scale
//!
//! Generates corpora of 1,000 and 10,000 runbooks in a temporary directory and runs the real
//! release binary: `list` with no index, `list` and `run ID --dry-run` with a warm index,
//! `list` after editing one file, and the terminal UI until the picker is on screen (in a
//! pseudo-terminal, read through a terminal emulator). Wall times are medians; peak RSS is the
//! child's, from wait4 (an upper bound, see the health section of docs/performance.md).

mod corpus;
mod support;

#[path = "../tests/support/pty.rs"]
#[allow(dead_code)]
mod pty;
// pty.rs isolates its program with the tests' sandbox variables.
#[path = "../tests/support/sandbox.rs"]
mod sandbox;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{Sample, measure, median, report, runbook};

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (small, large, runs) = if bench { (1_000, 10_000, 11) } else { (20, 200, 1) };
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let small_dir = format!("corpus-{small}");
    let large_dir = format!("corpus-{large}");
    let bytes = corpus::generate(&work.join(&small_dir), small);
    println!("corpus: {small} runbooks ({:.2} MB)", bytes as f64 / 1e6);
    let bytes = corpus::generate(&work.join(&large_dir), large);
    println!("corpus: {large} runbooks ({:.2} MB)", bytes as f64 / 1e6);
    // Files written less than two seconds before they are indexed are hashed again on the
    // next start (the index's rule against same-tick writes): let the corpora settle, as a
    // repository checked out a while ago has.
    std::thread::sleep(Duration::from_millis(2_100));

    let cold: Vec<Sample> = (0..runs)
        .map(|_| {
            let _ = std::fs::remove_dir_all(work.join(".cache"));
            measure(&mut runbook(&["list", "--dir", &small_dir], work))
        })
        .collect();
    report(&format!("list, {small}, no index"), &cold);
    let warm: Vec<Sample> =
        (0..runs).map(|_| measure(&mut runbook(&["list", "--dir", &small_dir], work))).collect();
    report(&format!("list, {small}, index warm"), &warm);

    let _ = std::fs::remove_dir_all(work.join(".cache"));
    let first = measure(&mut runbook(&["list", "--dir", &large_dir], work));
    report(&format!("list, {large}, no index"), &[first]);
    let warm: Vec<Sample> =
        (0..runs).map(|_| measure(&mut runbook(&["list", "--dir", &large_dir], work))).collect();
    report(&format!("list, {large}, index warm"), &warm);

    // Editing one file, then listing: that file is read and parsed again (a different file
    // and a new title each time).
    let edited: Vec<Sample> = (0..runs)
        .map(|i| {
            let n = (i * 997 + 13) % large;
            let path = work.join(&large_dir).join(format!("group-{:03}/runbook-{n:05}.yaml", n / 100));
            let text =
                std::fs::read_to_string(&path).unwrap().replacen("title: Generated", "title: Edited", 1);
            std::fs::write(&path, text).unwrap();
            measure(&mut runbook(&["list", "--dir", &large_dir], work))
        })
        .collect();
    report(&format!("list, {large}, one file edited"), &edited);

    let id = format!("group-{:03}/runbook-{:05}", large / 200, large / 2);
    let dry = |w: &Path| measure(&mut runbook(&["run", &id, "--dry-run", "--dir", &large_dir], w));
    // Twice before measuring: the edits above are settled, and the first open of a runbook
    // keeps its validation result in the index (a write), as it would once in real use.
    std::thread::sleep(Duration::from_millis(2_100));
    dry(work);
    dry(work);
    let runs_dry: Vec<Sample> = (0..runs).map(|_| dry(work)).collect();
    report(&format!("run ID --dry-run, {large}, index warm"), &runs_dry);

    let picker: Vec<f64> = (0..runs.min(7)).map(|_| picker_on_screen(work, &large_dir)).collect();
    let shown: Vec<String> = picker.iter().map(|ms| format!("{ms:.1}")).collect();
    println!(
        "{:<44} median {:>9.1} ms   runs: {}",
        format!("TUI picker on screen, {large}, index warm"),
        median(picker.clone()),
        shown.join(" ")
    );
}

/// Milliseconds from spawning the terminal UI until the picker's first rows are on screen.
fn picker_on_screen(work: &Path, dir: &str) -> f64 {
    let env = [
        ("RUNBOOK_CONFIG_DIR", work.join(".config")),
        ("RUNBOOK_CACHE_DIR", work.join(".cache")),
        ("RUNBOOK_DATA_DIR", work.join(".data")),
    ];
    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.display().to_string())).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let start = Instant::now();
    let mut screen = pty::Screen::spawn_env(&["--dir", dir], work, 120, 40, &env);
    // The first generated runbook by id: the list is drawn.
    let deadline = start + Duration::from_secs(30);
    while !screen.text().contains("Generated runbook 0 for service-0 ") {
        assert!(Instant::now() < deadline, "the picker never showed:\n{}", screen.text());
        std::thread::sleep(Duration::from_micros(500));
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    screen.keys("\x03");
    screen.wait_exit();
    ms
}
