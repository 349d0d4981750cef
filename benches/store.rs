//! The team store's figures (docs/performance.md):
//!
//!     cargo bench --bench store
//!
//! Starts a real PostgreSQL on loopback in a temporary folder (as the tests do, but with
//! fsync on, as in production), then:
//! 1. Journal appends, one record at a time, each committed before the next: latency
//!    percentiles against the local file journal (append + fsync).
//! 2. A headless run of a 1,000-step runbook (`true` per step) with the store, plain and
//!    over TLS (verify-full against a test CA, a second server), against the same run with
//!    local files only: wall time, median of several runs, and the ratios.
//! 3. `runbook runs` against a store of 10,000 finished runs (the 1,000-step run's first
//!    twenty steps' records copied into 10,000 runs by SQL): wall time and peak RSS.

mod support;

#[allow(dead_code)]
#[path = "../tests/support/pg.rs"]
mod pg;

use std::time::Instant;

use runbook::journal::Journal;
use runbook::run::Record;
use support::{measure, median, runbook};

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (appends, steps, runs) = if bench { (2_000, 1_000, 5) } else { (50, 20, 1) };
    let pg = pg::Postgres::start_durable();
    let work = tempfile::tempdir().unwrap();

    // 1. Appends: the local journal first (no store chosen yet), then through the store.
    let local = append_latencies(&work.path().join("local"), appends);
    runbook::store::select(Some(pg.url())).unwrap();
    let shared = append_latencies(&work.path().join("shared"), appends);
    println!("journal append, {appends} records, one at a time");
    for (name, l) in [("local file (append + fsync)", &local), ("PostgreSQL store on loopback", &shared)] {
        println!(
            "  {name:<32} p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
            percentile(l, 0.50),
            percentile(l, 0.99),
            percentile(l, 1.0)
        );
    }

    // 2. A run of many steps, end to end.
    let books = work.path().join("books");
    std::fs::create_dir_all(&books).unwrap();
    std::fs::write(books.join("environments.yaml"), "default: dev\nenvironments:\n  dev: {}\n").unwrap();
    let mut yaml = String::from("title: Many steps\nsteps:\n");
    for i in 0..steps {
        yaml.push_str(&format!("  - {{ id: s{i}, title: Step {i}, run: 'true' }}\n"));
    }
    std::fs::write(books.join("many.yaml"), yaml).unwrap();
    let ca = pg::Ca::new("runbook bench CA");
    let pg_tls = pg::Postgres::start_durable_tls(&ca, &["127.0.0.1"]);
    let ca_file = work.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let tls_url = format!("{}?sslmode=verify-full&sslrootcert={}", pg_tls.url(), ca_file.display());
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..runs {
        for (i, store) in [None, Some(pg.url()), Some(tls_url.clone())].into_iter().enumerate() {
            let mut cmd = runbook(&["run", "many", "--headless", "--dir", "books"], work.path());
            cmd.env_remove("RUNBOOK_STORE").env_remove("CI");
            if let Some(url) = store {
                cmd.env("RUNBOOK_STORE", url);
            }
            times[i].push(measure(&mut cmd).wall.as_secs_f64() * 1000.0);
        }
    }
    let (l, s, t) = (median(times[0].clone()), median(times[1].clone()), median(times[2].clone()));
    println!("a headless run of {steps} command steps (median of {runs})");
    println!("  local files                      {l:>8.1} ms   runs: {}", list(&times[0]));
    println!("  PostgreSQL store                 {s:>8.1} ms   runs: {}", list(&times[1]));
    println!("  PostgreSQL store over TLS        {t:>8.1} ms   runs: {}", list(&times[2]));
    println!("  ratio store / local              {:>8.2}x", s / l);
    println!("  ratio TLS store / local          {:>8.2}x", t / l);

    // 3. The team's list over many runs: one finished run's first records, copied.
    let (count, list_runs) = if bench { (10_000, 5) } else { (200, 1) };
    pg.sql(&format!(
        "CREATE TEMP TABLE model AS SELECT r.* FROM runbook_records r
           WHERE r.run_seq = (SELECT min(run_seq) FROM runbook_records WHERE kind = 'run_finished')
           AND (r.n < 80 OR r.kind = 'run_finished');
         INSERT INTO runbook_runs (id, runbook)
           SELECT 'bench-' || lpad(g::text, 6, '0'), 'many' FROM generate_series(1, {count}) g;
         INSERT INTO runbook_records (run_seq, n, at, kind, entry)
           SELECT u.seq, m.n, m.at, m.kind, m.entry FROM runbook_runs u CROSS JOIN model m
           WHERE u.id LIKE 'bench-%';"
    ));
    let records = pg.sql("SELECT count(*) FROM runbook_records");
    let samples: Vec<support::Sample> = (0..list_runs)
        .map(|_| {
            let mut cmd = runbook(&["runs", "--format", "json", "--dir", "books"], work.path());
            cmd.env_remove("CI").env("RUNBOOK_STORE", pg.url());
            measure(&mut cmd)
        })
        .collect();
    println!("runbook runs against a store of {count} more runs ({} records)", records.trim());
    support::report("  runbook runs --format json", &samples);
}

fn append_latencies(data: &std::path::Path, n: usize) -> Vec<f64> {
    let (mut journal, _) = Journal::create(data, "bench").expect("a journal");
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let record = Record::Note { text: format!("note {i}: the error rate is back under 1%"), step: None };
        let start = Instant::now();
        journal.append(record).expect("append");
        out.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    out
}

fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn list(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(" ")
}
