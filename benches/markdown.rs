//! Drawing a step whose body is 500 lines of Markdown (docs/performance.md):
//!
//!     cargo bench --bench markdown
//!
//! The body mixes what runbook pages hold (headings, nested lists, code blocks, tables,
//! quotes, links); every frame parses and draws it, as the run view does. The figure is the
//! whole frame at 120x40 and at 200x60, median and 99th percentile over many frames.

use std::collections::BTreeMap;
use std::time::Instant;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use runbook::app::model::Model;
use runbook::app::update::{Msg, update};
use runbook::run::Run;
use runbook::runbook::load::{FullLibrary, Root};
use runbook::theme::Theme;

/// A body of `lines` lines, in blocks of 10.
fn body(lines: usize) -> String {
    let block = [
        "## Section {n}",
        "",
        "Check the **pods** of `{n}` and the [dashboard](https://grafana.example/d/{n}):",
        "",
        "1. Look at *restarts*",
        "   - then the `lastState`",
        "",
        "| Reason | Action |\n|---|---|\n| OOMKilled | raise the limit |",
        "",
        "```console\n$ kubectl get pods -n ns-{n}\n```",
    ];
    let mut out = Vec::new();
    let mut n = 0;
    while out.len() < lines {
        for l in block {
            for part in l.replace("{n}", &n.to_string()).split('\n') {
                out.push(part.to_owned());
            }
        }
        out.push("> a quote that wraps across the pane when the pane is narrow enough to need it".into());
        out.push(String::new());
        n += 1;
    }
    out.truncate(lines);
    out.join("\n")
}

fn percentile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let frames = if bench { 500 } else { 10 };
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("environments.yaml"), "default: dev\nenvironments:\n  dev: {}\n").unwrap();
    let yaml = format!(
        "title: Long body\nsteps:\n  - title: Read all of it\n    body: |\n{}\n",
        body(500).lines().map(|l| format!("      {l}")).collect::<Vec<_>>().join("\n")
    );
    std::fs::write(tmp.path().join("long.yaml"), yaml).unwrap();
    let lib = FullLibrary::load(vec![Root::Dir(tmp.path().to_path_buf())]);
    let loaded = lib.get("long").unwrap();
    assert!(loaded.first_error().is_none(), "{:?}", loaded.diagnostics);
    let runbook = loaded.runbook.clone().unwrap();
    let env = lib.environments_for("long").unwrap().get("dev").unwrap().clone();
    let run = Run::new(runbook, env, &BTreeMap::new()).unwrap();
    let mut model = Model::new(vec![], vec![]);
    update(
        &mut model,
        Msg::Started { run: Box::new(run), run_id: "bench".into(), monitors: vec![], resumed: None },
    );
    let theme = Theme::default();
    let md = body(500);
    let start = Instant::now();
    for _ in 0..frames {
        std::hint::black_box(runbook::markdown::lines(&md, &theme));
    }
    println!(
        "{:<44} mean {:>7.3} ms",
        "markdown::lines, 500-line body",
        start.elapsed().as_secs_f64() * 1000.0 / frames as f64
    );
    for (w, h) in [(120, 40), (200, 60)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        let times: Vec<f64> = (0..frames)
            .map(|_| {
                let start = Instant::now();
                terminal.draw(|f| runbook::ui::render(&model, &theme, f)).unwrap();
                start.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        println!(
            "{:<44} median {:>7.3} ms   p99 {:>7.3} ms",
            format!("frame {w}x{h}, 500-line Markdown body"),
            percentile(times.clone(), 0.5),
            percentile(times, 0.99)
        );
    }
}
