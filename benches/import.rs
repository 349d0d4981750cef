//! `runbook import` over 1,000 Markdown pages (docs/performance.md):
//!
//!     cargo bench --bench import
//!
//! The pages are the alert-page fixtures of tests/fixtures/markdown, copied under numbered
//! names into a tree of 20 team directories. The real binary converts and writes them all;
//! the in-process figure is the conversion alone, on one core.

mod support;

use std::path::Path;
use std::time::Instant;

fn corpus(dir: &Path, pages: usize) -> usize {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/markdown");
    let sources: Vec<String> = ["kubernetes", "databases", "general"]
        .iter()
        .flat_map(|d| std::fs::read_dir(fixtures.join(d)).unwrap().flatten())
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    let mut bytes = 0;
    for i in 0..pages {
        let team = dir.join(format!("team-{}", i % 20));
        std::fs::create_dir_all(&team).unwrap();
        let text = sources[i % sources.len()].replace("<pod>", &format!("<pod-{}>", i % 7));
        bytes += text.len();
        std::fs::write(team.join(format!("Alert{i}.md")), text).unwrap();
    }
    bytes
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (pages, runs) = if bench { (1_000, 7) } else { (50, 1) };
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("pages");
    let bytes = corpus(&src, pages);
    println!("corpus: {pages} pages, {:.2} MB", bytes as f64 / 1e6);

    let samples: Vec<support::Sample> = (0..runs)
        .map(|_| {
            let mut cmd = support::runbook(&["import", "pages", "--out", "out", "--force"], work.path());
            support::measure(&mut cmd)
        })
        .collect();
    support::report(&format!("import, {pages} pages (convert and write)"), &samples);
    let written = walk_count(&work.path().join("out"));
    assert_eq!(written, pages, "every page became a runbook");

    // Conversion alone, in process, one core.
    let texts: Vec<(String, String)> = (0..pages)
        .map(|i| {
            let p = src.join(format!("team-{}/Alert{i}.md", i % 20));
            (std::fs::read_to_string(&p).unwrap(), format!("Alert{i}"))
        })
        .collect();
    let times: Vec<f64> = (0..runs.max(3))
        .map(|_| {
            let start = Instant::now();
            for (text, name) in &texts {
                let page = runbook::import::convert(text, name, None).unwrap();
                std::hint::black_box(runbook::import::emit::yaml(&page, name));
            }
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    println!(
        "{:<44} median {:>9.1} ms",
        format!("convert + emit in process, {pages} pages"),
        support::median(times)
    );
}

fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| if e.path().is_dir() { walk_count(&e.path()) } else { 1 })
        .sum()
}
