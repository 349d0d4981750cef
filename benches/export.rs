//! The timeline export at scale (docs/performance.md):
//!
//!     cargo bench --bench export
//!
//! A finished run of 1,000 command steps whose logs hold 100,000 lines in all (100 per step,
//! every tenth from stderr), exported by the real binary as Markdown and as JSON: wall time
//! and peak RSS of `runbook export RUN`, median of 9 runs each.

mod support;

use std::io::Write;
use std::path::Path;

use runbook::run::{Entry, Outcome, Record};
use support::{measure, report, runbook};

const RUN: &str = "20261130T000000Z-bench-abcd";

/// Writes the run directory: the journal and one log (with its stderr ranges) per step.
fn generate(data: &Path, steps: usize, lines_per_step: usize) {
    let dir = data.join("runs").join(RUN);
    std::fs::create_dir_all(dir.join("steps")).unwrap();
    let mut journal = std::io::BufWriter::new(std::fs::File::create(dir.join("journal.jsonl")).unwrap());
    let mut t = jiff::Timestamp::from_second(1_800_000_000).unwrap();
    let mut write = |record: Record, t: &mut jiff::Timestamp| {
        *t += jiff::SignedDuration::from_millis(250);
        serde_json::to_writer(&mut journal, &Entry { at: *t, record }).unwrap();
        journal.write_all(b"\n").unwrap();
    };
    let titles = (0..steps).map(|i| (format!("s{i}"), format!("Step number {i} of the bench"))).collect();
    write(
        Record::RunStarted {
            runbook: "bench".into(),
            title: "Export bench".into(),
            content_hash: String::new(),
            environment: "prod".into(),
            inputs: Default::default(),
            secret_inputs: vec![],
            user: "bench".into(),
            host: "host".into(),
            source: None,
            steps: Some(steps),
            titles,
            alert: None,
        },
        &mut t,
    );
    for i in 0..steps {
        let step = format!("s{i}");
        write(Record::Moved { to: Some(step.clone()), title: None }, &mut t);
        let command = format!("./deploy --step {i} \\\n  --verbose\necho done");
        write(
            Record::StepStarted { step: step.clone(), attempt: 1, command: Some(command), check: None },
            &mut t,
        );
        write(
            Record::StepProcess {
                step: step.clone(),
                attempt: 1,
                pid: 1000 + i as u32,
                pgid: 1000 + i as u32,
                start_time: None,
            },
            &mut t,
        );
        write(Record::StepPassed { step: step.clone(), exit: Some(0), duration_ms: 250 }, &mut t);
        let mut log = Vec::new();
        let mut ranges = String::new();
        for l in 0..lines_per_step {
            let start = log.len();
            writeln!(log, "{step}: line {l} of the output, with some \x1b[32mcolour\x1b[0m and text")
                .unwrap();
            if l % 10 == 9 {
                ranges.push_str(&format!("{start} {}\n", log.len() - start));
            }
        }
        std::fs::write(dir.join("steps").join(format!("{step}.1.log")), log).unwrap();
        std::fs::write(dir.join("steps").join(format!("{step}.1.log.stderr-ranges")), ranges).unwrap();
    }
    write(Record::Moved { to: None, title: None }, &mut t);
    write(Record::RunFinished { outcome: Outcome::Succeeded }, &mut t);
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    // Under `cargo test --benches` a small run keeps the smoke run quick.
    let (steps, lines, runs) = if bench { (1000, 100, 9) } else { (20, 10, 1) };
    let work = tempfile::tempdir().unwrap();
    generate(&work.path().join(".data"), steps, lines);
    println!("run: {steps} command steps, {} output lines in their logs", steps * lines);
    for (name, args) in
        [("export, Markdown", vec!["export", RUN]), ("export, JSON", vec!["export", RUN, "--format", "json"])]
    {
        let samples: Vec<_> = (0..runs).map(|_| measure(&mut runbook(&args, work.path()))).collect();
        report(name, &samples);
    }
}
