//! `runbook list` and `runbook check` over generated corpora (figures in docs/performance.md).
//!
//!     cargo bench --bench list
//!     cargo bench --bench list -- --generate DIR [COUNT]    # only write a corpus
//!
//! Each figure is the median of several runs of the real release binary, with peak RSS
//! read from the kernel (wait4).

mod corpus;
mod support;

use support::{measure, report, runbook};

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if !all.iter().any(|a| a == "--bench" || a == "--generate") {
        // `cargo test --benches` runs this binary without `--bench`: a quick smoke run keeps
        // the bench from rotting without making the test suite slow.
        let tmp = tempfile::tempdir().unwrap();
        corpus::generate(&tmp.path().join("c"), 20);
        for args in [&["list", "--dir", "c"][..], &["check", "c"]] {
            let status = runbook(args, tmp.path()).status().unwrap();
            assert!(status.success(), "{args:?}");
        }
        return;
    }
    let args: Vec<String> = all.into_iter().filter(|a| a != "--bench").collect();
    if let Some(i) = args.iter().position(|a| a == "--generate") {
        let dir = std::path::PathBuf::from(&args[i + 1]);
        let count = args.get(i + 2).and_then(|c| c.parse().ok()).unwrap_or(1000);
        let bytes = corpus::generate(&dir, count);
        println!("wrote {count} runbooks ({bytes} bytes) to {}", dir.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let small = work.join("corpus-1000");
    let bytes = corpus::generate(&small, 1000);
    println!("corpus: 1,000 runbooks of 20 steps, {:.2} MB of YAML", bytes as f64 / 1e6);

    parse_floor(&small);

    let cold: Vec<_> = (0..7)
        .map(|_| {
            let _ = std::fs::remove_dir_all(work.join(".cache"));
            measure(&mut runbook(&["list", "--dir", "corpus-1000"], work))
        })
        .collect();
    report("list, 1,000 runbooks, first time (no index)", &cold);
    let warm: Vec<_> =
        (0..11).map(|_| measure(&mut runbook(&["list", "--dir", "corpus-1000"], work))).collect();
    report("list, 1,000 runbooks, unchanged (index)", &warm);

    let check: Vec<_> = (0..5).map(|_| measure(&mut runbook(&["check", "corpus-1000"], work))).collect();
    report("check, 1,000 runbooks", &check);
    let large = work.join("corpus-10000");
    corpus::generate(&large, 10_000);
    let check: Vec<_> = (0..3).map(|_| measure(&mut runbook(&["check", "corpus-10000"], work))).collect();
    report("check, 10,000 runbooks", &check);
}

/// The floor under a cold start: serde-saphyr's parse of the corpus on one core, into nothing
/// (`IgnoredAny`) and into the typed runbook mirror, and the full load with validation.
fn parse_floor(dir: &std::path::Path) {
    use runbook::runbook::load::{self, Root};
    use runbook::runbook::raw::RawRunbook;
    let files = load::read_root(&Root::Dir(dir.to_path_buf()));
    let envs = files.environments.as_ref().and_then(|f| load::load_environments(f).0);
    let texts: Vec<&str> = files.runbooks.iter().map(|f| std::str::from_utf8(&f.bytes).unwrap()).collect();
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let time = |f: &dyn Fn()| {
        support::median(
            (0..5)
                .map(|_| {
                    let start = std::time::Instant::now();
                    f();
                    start.elapsed().as_secs_f64() * 1000.0
                })
                .collect(),
        )
    };
    let untyped = time(&|| {
        for t in &texts {
            let _: serde::de::IgnoredAny = serde_saphyr::from_str(t).unwrap();
        }
    });
    let typed = time(&|| {
        for t in &texts {
            let _: RawRunbook = serde_saphyr::from_str(t).unwrap();
        }
    });
    let full = time(&|| {
        for f in &files.runbooks {
            let _ = load::load_runbook(f, envs.as_ref());
        }
    });
    let mbps = |ms: f64| bytes as f64 / 1e6 / (ms / 1000.0);
    println!("one core, in process (median of 5):");
    println!("  YAML parse, untyped        {untyped:>7.1} ms  ({:.1} MB/s)", mbps(untyped));
    println!("  YAML parse, typed+spans    {typed:>7.1} ms  ({:.1} MB/s)", mbps(typed));
    println!("  parse + validate           {full:>7.1} ms");
}
