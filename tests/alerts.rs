//! From alert to runbook, against a real Prometheus and Alertmanager (one pair for this test
//! binary, see support/prom.rs): `prometheus:` checks and monitors on live data, `runbook
//! alerts`, `runbook run --alert` with inputs from labels, and the TUI's alert list.

#[path = "support/prom.rs"]
#[allow(dead_code)]
mod prom;
mod support;

use std::path::Path;
use std::time::Duration;

use prom::Stack;
use support::pty::Screen;
use support::{Sandbox, text};

const TOKEN: &str = "s3cr3t-t0ken";

/// The environments: `live` against the real pair, `down` against a closed port.
fn environments(dir: &Path, stack: &Stack, monitors: &str) {
    let closed = support::closed_port();
    std::fs::create_dir_all(dir.join("books/ops")).unwrap();
    std::fs::write(
        dir.join("books/environments.yaml"),
        format!(
            "default: live\nenvironments:\n  live:\n    prometheus: {}\n    alertmanager: {{ url: '{}', headers: {{ Authorization: 'Bearer {{{{ env.AM_TOKEN }}}}' }} }}\n  down:\n    prometheus: http://{closed}\n    alertmanager: 'http://{closed}/t/{{{{ env.AM_TOKEN }}}}'\n{monitors}",
            stack.prometheus, stack.alertmanager
        ),
    )
    .unwrap();
}

/// The queue runbooks: one linked by the alert's `runbook_url`, two by `alerts:`.
fn queue_books(dir: &Path) {
    std::fs::write(
        dir.join("books/ops/checkout-queue.yaml"),
        "title: Drain the checkout queue\nkind: incident\ninputs:\n  service: { description: The service }\n  team: { description: Who owns it }\nsteps:\n  - { id: look, title: Look at the queue, run: \"printf 'service=%s team=%s\\\\n' {{ service }} {{ team }}\" }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("books/queue-warning.yaml"),
        "title: Queue warning\nalerts: [QueueWarning]\nsteps:\n  - { title: Watch it }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("books/queue-warning-too.yaml"),
        "title: Queue warning again\nalerts: [QueueWarning]\nsteps:\n  - { title: Watch it too }\n",
    )
    .unwrap();
}

/// Waits until the queue alerts are firing in the Alertmanager (the fault makes them fire).
fn firing(stack: &Stack) -> String {
    stack.fault();
    support::wait_for("QueueBacklog to fire in Alertmanager", Duration::from_secs(45), || {
        let (code, body) =
            prom::http_get(&format!("{}/api/v2/alerts?active=true", stack.alertmanager)).ok()?;
        (code == 200 && body.contains("QueueBacklog") && body.contains("QueueWarning")).then_some(body)
    })
}

#[test]
fn prometheus_monitors_checks_and_waits_pass_or_fail_on_live_data() {
    let _machine = support::beside_others();
    let stack = Stack::shared();
    let sb = Sandbox::new().env("AM_TOKEN", TOKEN).env("CI", "1");
    let monitors = "monitors:
  - { id: errors, title: Error rate, check: { prometheus: 'svc_error_ratio', expect: { value: '< 0.05' } } }
  - { id: strict, title: Strict error rate, check: { prometheus: 'svc_error_ratio', expect: { value: '< 0.001' } } }
  - { id: missing, title: Missing metric, check: { prometheus: 'no_such_metric', expect: { value: '< 1' } } }
  - { id: many, title: Requests, check: { prometheus: 'svc_requests', expect: { value: '> 1' } } }
  - { id: every, title: Every instance, check: { prometheus: 'svc_requests', expect: { all: '>= 10' } } }
  - { id: bad, title: Bad query, check: { prometheus: 'sum(', expect: { value: '< 1' } } }
  - { id: text, title: A string, check: { prometheus: '\"hello\"', expect: { value: '< 1' } } }
  - { id: nan, title: Not a number, check: { prometheus: '0/0', expect: { value: '< 1' } } }
";
    environments(sb.path(), stack, monitors);
    std::fs::write(
        sb.path().join("books/gate.yaml"),
        "title: Gate on the error rate
steps:
  - id: gate
    title: Error rate under 5%
    check: { prometheus: 'svc_error_ratio{job=\"{{ job }}\"}', expect: { value: '< 0.05' } }
    wait: { timeout: 20s, interval: 500ms }
  - id: strict
    title: Error rate under 0.1%
    check: { prometheus: 'svc_error_ratio', expect: { value: '< 0.001' } }
    wait: { timeout: 1s, interval: 500ms }
    on_failure: continue
inputs:
  job: { default: svc }
",
    )
    .unwrap();
    let check = sb.run(&["check", "--dir", "books"]);
    assert!(check.status.success(), "{}", text(&check));
    stack.wait_scraped();

    // Monitors: every bad answer is a failed probe with its reason.
    let health = sb.run(&["health", "--dir", "books", "--format", "json"]);
    assert_eq!(health.status.code(), Some(1), "{}", text(&health));
    let rows: serde_json::Value = serde_json::from_slice(&health.stdout).unwrap();
    let row = |id: &str| rows.as_array().unwrap().iter().find(|r| r["monitor"] == id).unwrap().clone();
    assert_eq!(row("errors")["state"], "up");
    assert_eq!(row("errors")["observed"], "0.01 < 0.05 ✓");
    assert_eq!(row("strict")["state"], "down");
    assert_eq!(row("strict")["observed"], "0.01 < 0.001 ✗");
    assert_eq!(row("strict")["reason"], "0.01 is not < 0.001");
    assert_eq!(row("missing")["reason"], "the query returned no series");
    assert!(row("many")["reason"].as_str().unwrap().contains("returned 2 series"), "{}", row("many"));
    assert_eq!(row("every")["state"], "up");
    assert_eq!(row("every")["observed"], "2 series >= 10 ✓ (worst 10)");
    let bad = row("bad")["reason"].as_str().unwrap().to_owned();
    assert!(bad.contains("Prometheus says bad_data") && bad.contains("parse error"), "{bad}");
    assert!(row("text")["reason"].as_str().unwrap().contains("yields a string ('hello')"), "{}", row("text"));
    assert_eq!(row("nan")["reason"], "the query yields NaN");
    // Text names monitors by title.
    let table = text(&sb.run(&["health", "--dir", "books"]));
    assert!(table.contains("Error rate ") && table.contains("0.01 < 0.05 ✓"), "{table}");
    assert!(!table.lines().any(|l| l.starts_with("errors ")), "ids stay in the JSON: {table}");
    // An unreachable Prometheus: the reason names the environment and the URL.
    let down = sb.run(&["health", "--dir", "books", "--env", "down", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&down.stdout).unwrap();
    let reason = rows[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Prometheus of environment 'down' (http://127.0.0.1:")
            && reason.contains("connection refused"),
        "{reason}"
    );

    // Check steps with a wait: one passes on live data, one fails, both with what they saw.
    let out = sb.run(&["run", "gate", "--dir", "books", "--yes"]);
    let shown = text(&out);
    assert!(shown.contains("✓ probe 1: 0.01 < 0.05 ✓"), "{shown}");
    assert!(shown.contains("0.01 is not < 0.001 (0.01 < 0.001 ✗)"), "{shown}");
    // The Markdown escapes `<`; the JSON export holds the values as they were observed.
    let export = text(&sb.run(&["export", "latest"]));
    assert!(export.contains(r"0.01 \< 0.05 ✓") && export.contains(r"0.01 \< 0.001 ✗"), "{export}");
    let export = text(&sb.run(&["export", "latest", "--format", "json"]));
    assert!(export.contains("0.01 < 0.05 ✓") && export.contains("0.01 < 0.001 ✗"), "{export}");
    let journal = journal_of(sb.path());
    assert!(journal.contains(r#""observed":"0.01 < 0.05 ✓""#), "{journal}");
}

fn journal_of(dir: &Path) -> String {
    let runs: Vec<_> =
        std::fs::read_dir(dir.join("data/runs")).unwrap().flatten().map(|e| e.path()).collect();
    runs.iter()
        .map(|r| std::fs::read_to_string(r.join("journal.jsonl")).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_firing_alert_opens_its_runbook_with_inputs_from_its_labels() {
    let _machine = support::beside_others();
    let stack = Stack::shared();
    let sb = Sandbox::new().env("AM_TOKEN", TOKEN).env("CI", "1");
    environments(sb.path(), stack, "");
    queue_books(sb.path());
    firing(stack);

    let listed = sb.run(&["alerts", "--dir", "books", "--format", "json"]);
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed));
    let alerts: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let find =
        |name: &str| alerts.as_array().unwrap().iter().find(|a| a["alertname"] == name).unwrap().clone();
    let backlog = find("QueueBacklog");
    assert_eq!(backlog["runbook"], "ops/checkout-queue", "by its runbook_url: {backlog}");
    assert_eq!(backlog["labels"]["service"], "checkout");
    assert!(
        backlog["starts_at"].as_str().unwrap().len() > 10
            && backlog["fingerprint"].as_str().unwrap().len() > 4
    );
    assert_eq!(find("QueueWarning")["runbook"], "queue-warning", "by `alerts:`, the first by id");
    let table = text(&sb.run(&["alerts", "--dir", "books"]));
    assert!(
        table.contains("QueueBacklog") && table.contains("critical") && table.contains("ops/checkout-queue")
    );
    assert!(table.contains("The checkout queue is backing up"), "{table}");

    // Inputs from the labels, quoted like every value: the label's shell text stays text.
    let out = sb.run(&["run", "--alert", "QueueBacklog", "--dir", "books", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("service=checkout team=pay'ments; touch pwned $(id)"), "{}", text(&out));
    assert!(!sb.path().join("pwned").exists());
    let journal = journal_of(sb.path());
    assert!(journal.contains(r#""alert":{"alertname":"QueueBacklog","fingerprint":""#), "{journal}");
    // By fingerprint, as a dry run.
    let fp = backlog["fingerprint"].as_str().unwrap();
    let dry = sb.run(&["run", "--alert", fp, "--dir", "books", "--dry-run"]);
    assert!(text(&dry).contains("printf 'service=%s team=%s\\n' checkout"), "{}", text(&dry));

    // What cannot be opened says why.
    let none = sb.run(&["run", "--alert", "QueueBaclog", "--dir", "books", "--yes"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(text(&none).contains("did you mean 'QueueBacklog'"), "{}", text(&none));
    std::fs::remove_file(sb.path().join("books/ops/checkout-queue.yaml")).unwrap();
    let unanswered = text(&sb.run(&["run", "--alert", "QueueBacklog", "--dir", "books", "--yes"]));
    assert!(
        unanswered.contains("no runbook answers alert 'QueueBacklog'")
            && !unanswered.contains("environment")
            && unanswered.contains("service=checkout")
            && unanswered.contains("alerts: [QueueBacklog]"),
        "{unanswered}"
    );
    // Two runbooks claim one alert: a warning.
    let check = text(&sb.run(&["check", "--dir", "books"]));
    assert!(check.contains("warning: alert 'QueueWarning' is also in the `alerts:` of"), "{check}");
    // An unreachable Alertmanager names the environment and the URL, its token masked.
    let down = sb.run(&["alerts", "--dir", "books", "--env", "down"]);
    assert_eq!(down.status.code(), Some(1));
    let said = text(&down);
    assert!(
        said.contains("Alertmanager of environment 'down' (http://127.0.0.1:") && said.contains("/t/••••"),
        "{said}"
    );
    assert!(!said.contains(TOKEN), "{said}");
}

#[test]
fn the_tui_lists_firing_alerts_and_opens_the_runbook_with_the_form_filled() {
    let _machine = support::beside_others();
    let stack = Stack::shared();
    let tmp = tempfile::tempdir().unwrap();
    environments(tmp.path(), stack, "");
    queue_books(tmp.path());
    firing(stack);
    let mut s = Screen::spawn_env(&["--dir", "books"], tmp.path(), 120, 40, &[("AM_TOKEN", TOKEN)]);
    s.wait_for("incident  ▲ Drain the checkout queue  ops/checkout-queue");
    s.keys("\x01");
    s.wait_for("alerts · live · 2 firing");
    if !s.text().contains("▸ QueueBacklog") {
        s.keys("j");
    }
    s.wait_for("▸ QueueBacklog");
    s.wait_for("The checkout queue is backing up");
    s.keys("\r");
    s.wait_for("checkout");
    s.wait_for("pay'ments; touch pwned $(id)");
    s.keys("\r\r\r");
    s.wait_for("LIVE │ Drain the checkout queue");
    // The health pane shows the firing alerts under the monitors.
    s.wait_for("alerts · 2 firing");
    s.wait_for("▲ QueueBacklog");
    s.keys("\r");
    s.wait_for("service=checkout team=pay'ments; touch pwned $(id)");
    s.wait_for("run succeeded");
    s.keys("q");
    s.wait_exit();
    assert!(!tmp.path().join("pwned").exists());
    assert!(journal_of(tmp.path()).contains(r#""alertname":"QueueBacklog""#));
}

#[test]
fn the_demo_answers_prometheus_queries_and_lists_an_alert_per_fault_without_installing_anything() {
    let _machine = support::beside_others();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let demo = rt.block_on(runbook::demo::Demo::start()).unwrap();
    let sb = Sandbox::new().env("AM_TOKEN", TOKEN).env("CI", "1");
    let with_demo = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        for (k, v) in demo.vars() {
            all.push("--var".into());
            all.push(format!("{k}={v}"));
        }
        sb.run(&all)
    };
    let quiet = text(&with_demo(&["alerts", "--env", "demo"]));
    assert!(quiet.contains("no alerts firing in 'demo'"), "{quiet}");
    let (code, _) = prom::http_get(&format!("{}/api/v1/query?query=up", demo.base_url())).unwrap();
    assert_eq!(code, 200);
    let post = |path: &str| {
        let addr = demo.http;
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        use std::io::{Read, Write};
        write!(s, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
    };
    post("/admin/fault/errors");
    let listed = with_demo(&["alerts", "--env", "demo", "--format", "json"]);
    let alerts: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(alerts[0]["alertname"], "HighErrorRate");
    assert_eq!(alerts[0]["runbook"], "incidents/api-5xx", "the bundled runbook answers it");
    let health = with_demo(&["health", "--env", "demo", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&health.stdout).unwrap();
    let rate = rows.as_array().unwrap().iter().find(|r| r["monitor"] == "error-rate").unwrap();
    assert_eq!(rate["observed"], "0.8 < 0.05 ✗", "{rate}");
    let dry = text(&with_demo(&["run", "--alert", "HighErrorRate", "--env", "demo", "--dry-run"]));
    assert!(dry.contains("incidents/api-5xx"), "{dry}");
    // Monitors' queries joined into one request are answered part by part, as by Prometheus.
    use runbook::exec::prometheus::{Batcher, Server};
    let server = Server { endpoint: format!("{}/api/v1/query", demo.base_url()), headers: vec![] };
    let batcher = Batcher::new(reqwest::Client::new());
    let t = Duration::from_secs(5);
    let served = || -> u64 {
        let (_, metrics) = prom::http_get(&format!("{}/metrics", demo.base_url())).unwrap();
        metrics
            .lines()
            .filter_map(|l| l.strip_prefix("http_requests_total")?.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let before = served();
    let (depth, latency, up) = rt.block_on(async {
        tokio::join!(
            batcher.ask(&server, "queue_depth", t),
            batcher.ask(&server, "latency_p99", t),
            batcher.ask(&server, "up", t)
        )
    });
    // The demo counts a request once answered: the first read of /metrics, then one for all three.
    assert_eq!(served() - before, 2, "the three queries went out as one request");
    let value = |r: Result<Vec<runbook::prom::Series>, String>| {
        r.unwrap().iter().map(|s| s.text.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        (value(depth), value(latency), value(up)),
        (vec!["12".to_owned()], vec!["0.042".to_owned()], vec!["1".to_owned()])
    );
}

/// `count` monitors `m0`… asking `vector(i)`, each of which must answer `i`.
fn numbered_monitors(count: usize) -> String {
    let mut monitors = String::from("monitors:\n");
    for i in 0..count {
        monitors.push_str(&format!(
            "  - {{ id: m{i}, check: {{ prometheus: 'vector({i})', expect: {{ value: '== {i}' }} }} }}\n"
        ));
    }
    monitors
}

/// `runbook health --format json` over `monitors` in the environment `live` whose Prometheus
/// is at `url`: the command's output, and a row by monitor id.
fn health_rows(
    url: &str,
    monitors: &str,
) -> (std::process::Output, impl Fn(&str) -> serde_json::Value + use<>) {
    let sb = Sandbox::new()
        .env("CI", "1")
        .runbooks_in("books")
        .environments(&format!("environments:\n  live: {{ prometheus: '{url}' }}\n{monitors}"));
    let health = sb.run(&["health", "--format", "json"]);
    let rows: serde_json::Value =
        serde_json::from_slice(&health.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&health)));
    let row = move |id: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["monitor"] == id)
            .unwrap_or_else(|| panic!("no {id}"))
            .clone()
    };
    (health, row)
}

#[test]
fn many_monitors_of_one_prometheus_are_asked_together_and_each_gets_the_answer_it_would_alone() {
    let _machine = support::beside_others();
    let prometheus = prom::Lone::start();
    let count = 300;
    let mut monitors = numbered_monitors(count);
    // Queries that cannot be joined, and answers that joining must not change.
    monitors.push_str(
        r#"  - { id: scalar, check: { prometheus: 'scalar(vector(7))', expect: { value: '== 7' } } }
  - { id: bad, check: { prometheus: 'sum(', expect: { value: '< 1' } }, fail_after: 1 }
  - { id: text, check: { prometheus: '"hello"', expect: { value: '< 1' } }, fail_after: 1 }
  - { id: comment, check: { prometheus: "vector(1) # a trailing comment", expect: { value: '== 1' } } }
  - { id: same-a, check: { prometheus: 'vector(42)', expect: { value: '== 42' } } }
  - { id: same-b, check: { prometheus: 'vector(42)', expect: { value: '> 41' } } }
  - { id: two, check: { prometheus: 'label_replace(vector(1), "node", "a", "", "") or label_replace(vector(9), "node", "b", "", "")', expect: { all: '< 5' } }, fail_after: 1 }
  - { id: none, check: { prometheus: 'vector(1) > 2', expect: { value: '< 5' } }, fail_after: 1 }
"#,
    );
    let before = prometheus.queries_answered();
    let (health, row) = health_rows(&prometheus.url, &monitors);
    let asked = prometheus.queries_answered() - before;
    assert_eq!(health.status.code(), Some(1), "{}", text(&health));
    for i in 0..count {
        let r = row(&format!("m{i}"));
        assert_eq!(r["observed"], format!("{i} == {i} ✓"), "each monitor gets its own answer: {r}");
    }
    assert_eq!(row("scalar")["observed"], "7 == 7 ✓");
    assert_eq!(row("comment")["observed"], "1 == 1 ✓");
    assert_eq!(row("same-a")["observed"], "42 == 42 ✓");
    assert_eq!(row("same-b")["observed"], "42 > 41 ✓");
    let bad = row("bad")["reason"].as_str().unwrap().to_owned();
    assert!(bad.contains("Prometheus says bad_data") && bad.contains("parse error"), "{bad}");
    assert!(row("text")["reason"].as_str().unwrap().contains("yields a string ('hello')"), "{}", row("text"));
    // The batch's tag never shows among a series' labels.
    assert_eq!(row("two")["observed"], "{node=\"b\"} 9 < 5 ✗ (1 of 2 series)");
    assert_eq!(row("none")["reason"], "the query returned no series");
    // Asked one by one, this would be one request per monitor (308) and more for retries.
    assert!(asked * 4 < count as u64, "{asked} requests for {} monitors: they were not batched", count + 8);
}

#[test]
fn a_query_that_does_not_stand_alone_gets_the_answer_it_would_alone_among_others() {
    let _machine = support::beside_others();
    let prometheus = prom::Lone::start();
    let mut monitors = numbered_monitors(20);
    // Alone, the first does not parse; joined inside `label_replace((…), …)` it would. The
    // second's own label has the batch tag's name.
    monitors.push_str(
        r#"  - { id: unbalanced, check: { prometheus: 'vector(1)) or (vector(2)', expect: { value: '== 1' } }, fail_after: 1 }
  - { id: tagged, check: { prometheus: 'label_replace(vector(3), "__runbook_batch", "mine", "", "")', expect: { all: '< 1' } }, fail_after: 1 }
"#,
    );
    let (health, row) = health_rows(&prometheus.url, &monitors);
    assert_eq!(health.status.code(), Some(1), "{}", text(&health));
    for i in 0..20 {
        assert_eq!(row(&format!("m{i}"))["observed"], format!("{i} == {i} ✓"));
    }
    let unbalanced = row("unbalanced");
    assert!(unbalanced["reason"].as_str().unwrap().contains("parse error"), "as alone: {unbalanced}");
    let tagged = row("tagged");
    assert!(tagged.to_string().contains(r#"__runbook_batch=\"mine\""#), "its own label kept: {tagged}");
}

#[test]
fn monitors_behind_a_proxy_that_allows_only_get_are_asked_one_by_one() {
    let _machine = support::beside_others();
    let prometheus = prom::Lone::start();
    let proxy = prom::Proxy::start(&prometheus.url, prom::Rule::RefusePost);
    let (health, row) = health_rows(&proxy.url, &numbered_monitors(20));
    assert_eq!(health.status.code(), Some(0), "{}", text(&health));
    for i in 0..20 {
        let row = row(&format!("m{i}"));
        assert_eq!(row["observed"], format!("{i} == {i} ✓"), "{row}");
    }
    // Each by a GET of its own, the way a check step asks (Prometheus counts a request once
    // its answer is written, which may be just after the client has it).
    support::wait_for("Prometheus to count 20 queries", Duration::from_secs(10), || {
        (prometheus.queries_answered() >= 20).then_some(())
    });
}

/// A loopback listener that accepts connections and never answers, and the most `GET`s (the
/// queries asked alone; batches are `POST`s) it has held open at once.
fn silent_counting() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (open, most) = (std::sync::Arc::new(AtomicUsize::new(0)), std::sync::Arc::new(AtomicUsize::new(0)));
    let peak = std::sync::Arc::clone(&most);
    let addr = support::serve_each(move |mut stream| {
        let mut buf = [0u8; 4096];
        let Ok(n) = std::io::Read::read(&mut stream, &mut buf) else { return };
        let get = buf[..n].starts_with(b"GET ");
        if get {
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
        }
        // Waits for the client to give up.
        while std::io::Read::read(&mut stream, &mut buf).is_ok_and(|n| n > 0) {}
        if get {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    });
    (format!("http://{addr}"), peak)
}

#[test]
fn a_prometheus_that_never_answers_is_not_asked_once_per_monitor_at_the_same_time() {
    let _machine = support::beside_others();
    let (url, most_open) = silent_counting();
    let mut monitors = String::from("monitors:\n");
    for i in 0..200 {
        monitors.push_str(&format!(
            "  - {{ id: m{i}, check: {{ prometheus: 'vector({i})', timeout: 2s, expect: {{ value: '== {i}' }} }}, fail_after: 1 }}\n"
        ));
    }
    let (health, row) = health_rows(&url, &monitors);
    assert_eq!(health.status.code(), Some(1), "{}", text(&health));
    for i in 0..200 {
        let r = row(&format!("m{i}"));
        assert!(r["reason"].as_str().unwrap().contains("timed out"), "{r}");
    }
    // At most 16 queries alone at a time (a closing one may still be counted for a moment),
    // not one per monitor of each batch that ran out.
    let most = most_open.load(std::sync::atomic::Ordering::SeqCst);
    assert!(most <= 24, "{most} queries asked alone at once of a Prometheus that never answers");
}

/// A query marked `slow_marker`, which a [`prom::Proxy`] in front of `prometheus` holds for
/// `delay` each time it is asked (alone or in a batch), and that proxy's URL. Made slow by
/// real work instead, it would take one of the machine's two cores, and the quick queries
/// beside it would be late for want of CPU, which is not what these tests are about.
fn held_query(prometheus: &prom::Lone, delay: Duration) -> (String, prom::Proxy) {
    let marker = "slow_marker";
    let slow = format!(r#"label_replace(vector(1), "{marker}", "x", "", "")"#);
    (slow, prom::Proxy::start(&prometheus.url, prom::Rule::Hold { marker, delay }))
}

/// `quick` monitors asking `vector(i)` (each must answer `i`) with `quick_timeout`, then one
/// asking `slow` (it must answer more than 0) with `slow_timeout`, all every second, in the
/// environment `live` at `url`.
fn quick_and_slow(
    url: &str,
    quick: usize,
    quick_timeout: &str,
    slow: &str,
    slow_timeout: &str,
) -> runbook::runbook::Environments {
    let mut yaml = format!("environments:\n  live: {{ prometheus: '{url}' }}\nmonitors:\n");
    for i in 0..quick {
        yaml.push_str(&format!(
            "  - {{ id: q{i}, check: {{ prometheus: 'vector({i})', timeout: {quick_timeout}, expect: {{ value: '== {i}' }} }}, interval: 1s }}\n"
        ));
    }
    yaml.push_str(&format!(
        "  - {{ id: slow, check: {{ prometheus: '{slow}', timeout: {slow_timeout}, expect: {{ value: '> 0' }} }}, interval: 1s }}\n"
    ));
    let file = runbook::runbook::load::SourceFile {
        rel: "environments.yaml".into(),
        display: "test".into(),
        bytes: yaml.into_bytes().into(),
    };
    runbook::runbook::load::load_environments(&file).0.unwrap()
}

/// Runs the monitors of `live` in this process (the scheduler the TUI and headless runs use)
/// and hands each probe to `see` until it returns false; false when `within` passed first.
fn watch_monitors(
    envs: &runbook::runbook::Environments,
    within: Duration,
    mut see: impl FnMut(&runbook::health::Probed) -> bool,
) -> bool {
    let env = envs.get("live").unwrap().clone();
    let list = runbook::health::monitors_for(&envs.monitors, "live", None);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    rt.block_on(async {
        let _scheduler = runbook::health::Scheduler::start(&list, &env, std::time::Instant::now(), tx);
        let end = tokio::time::Instant::now() + within;
        loop {
            let Ok(Some(p)) = tokio::time::timeout_at(end, rx.recv()).await else { return false };
            if !see(&p) {
                return true;
            }
        }
    })
}

#[test]
fn a_query_slow_within_its_deadline_does_not_keep_making_the_same_quick_monitors_late() {
    let _machine = support::alone_on_the_machine();
    let prometheus = prom::Lone::start();
    let quick = 300;
    // A second: more than a quarter of the 3 s deadline, inside it.
    let (slow, proxy) = held_query(&prometheus, Duration::from_secs(1));
    let envs = quick_and_slow(&proxy.url, quick, "3s", &slow, "3s");
    let settled = std::time::Instant::now() + Duration::from_secs(6);
    let (mut late, mut asked) = (Vec::new(), 0);
    watch_monitors(&envs, Duration::from_secs(10), |p| {
        if asked == 0 && std::time::Instant::now() >= settled {
            asked = prometheus.queries_answered();
        }
        // A quick query answers in milliseconds alone; late means it waited on the slow one.
        if asked > 0 && p.index < quick && p.sample.latency_ms > 500 {
            late.push((p.index, p.sample.latency_ms));
        }
        true
    });
    let asked = prometheus.queries_answered() - asked;
    // Once the slow query is known (a few seconds), no quick monitor waits on it any more.
    assert!(late.is_empty(), "{} quick probes late: {:?}", late.len(), &late[..late.len().min(8)]);
    // And the quick ones are still batched (one by one, 1,200 requests in 4 s).
    assert!(asked < 600, "{asked} requests in 4 s for {quick} quick monitors: not batched");
}

#[test]
fn a_slow_query_never_makes_the_quick_monitors_of_its_batch_fail() {
    let _machine = support::alone_on_the_machine();
    let prometheus = prom::Lone::start();
    // 5 s each time: more than twice the quick ones' timeout (2 s: a cold start of 200
    // monitors on a busy machine can take 500 ms).
    let (slow, proxy) = held_query(&prometheus, Duration::from_secs(5));
    let quick = 200;
    let envs = quick_and_slow(&proxy.url, quick, "2s", &slow, "30s");
    let (mut slow_passed, mut failures) = (0, Vec::new());
    // Until the slow query has answered twice, then four seconds more (two or more of its
    // probes, each of which would have caught a few quick ones in its batch).
    let mut settled: Option<std::time::Instant> = None;
    let stopped = watch_monitors(&envs, Duration::from_secs(60), |p| {
        if p.index == quick {
            assert!(p.sample.passed, "the slow query alone: {}", p.sample.reason);
            slow_passed += 1;
            if slow_passed == 2 {
                settled = Some(std::time::Instant::now());
            }
        } else if !p.sample.passed {
            failures.push((slow_passed, p.sample.reason.clone()));
        }
        settled.is_none_or(|at| at.elapsed() < Duration::from_secs(4))
    });
    assert!(stopped, "the slow query did not answer twice within 60 s");
    assert!(slow_passed >= 2);
    // Not even the first time, before the slow query is known: the batch it joined runs out
    // of time with half of the quick ones' deadline left, and they are asked alone in it.
    assert!(
        failures.is_empty(),
        "{} quick probes failed (with the number of slow answers seen before): {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}
