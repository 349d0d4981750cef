//! A real Prometheus and Alertmanager (the Debian packages' binaries) on 127.0.0.1 at free
//! ports, storage in a temporary folder, scraping a loopback test service every second and
//! evaluating its alert rules every second. Started once per test binary; if they cannot
//! start, the test fails (never skips).
//!
//! The test service exposes `/metrics`:
//! - `svc_error_ratio` 0.01 (constant: checks on it pass)
//! - `svc_requests{instance_name="a"|"b"}` 10 and 20 (two series)
//! - `svc_queue_depth`: 5, or 500 once [`Stack::fault`] is called, which makes the alert
//!   `QueueBacklog` (for: 0s) fire within a few seconds.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;

pub struct Stack {
    pub prometheus: String,
    pub alertmanager: String,
    /// The scraped test service.
    pub service: SocketAddr,
    fault: Arc<AtomicBool>,
    _dir: PathBuf,
}

const RULES: &str = r#"groups:
  - name: test
    interval: 1s
    rules:
      - alert: QueueBacklog
        expr: svc_queue_depth > 100
        for: 0s
        labels:
          severity: critical
          service: checkout
          team: "pay'ments; touch pwned $(id)"
        annotations:
          summary: "The checkout queue is backing up"
          runbook_url: "https://git.example/ops/blob/main/runbooks/ops/checkout-queue.md"
      - alert: QueueWarning
        expr: svc_queue_depth > 100
        for: 0s
        labels:
          severity: warning
          service: checkout
        annotations:
          summary: "Queue above 100"
"#;

static STACK: OnceLock<Result<Stack, String>> = OnceLock::new();

impl Stack {
    /// The shared pair for this test binary; panics (fails the test) when it cannot start.
    pub fn shared() -> &'static Stack {
        match STACK.get_or_init(|| {
            // Started from a thread that lives as long as the process: the servers get
            // SIGKILL when it dies (PR_SET_PDEATHSIG follows the spawning thread).
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(Stack::start());
                loop {
                    std::thread::park();
                }
            });
            rx.recv().unwrap_or_else(|_| Err("the starter thread died".into()))
        }) {
            Ok(s) => s,
            Err(e) => panic!("cannot start Prometheus and Alertmanager: {e}"),
        }
    }

    /// Makes `svc_queue_depth` 500: the queue alerts fire.
    pub fn fault(&self) {
        self.fault.store(true, Ordering::SeqCst);
    }

    fn start() -> Result<Stack, String> {
        let dir = std::env::temp_dir().join(format!("runbook-prom-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("prom-data")).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir.join("am-data")).map_err(|e| e.to_string())?;
        let fault = Arc::new(AtomicBool::new(false));
        let service = metrics_server(Arc::clone(&fault));
        let am_port = free_port();
        let prom_port = free_port();
        std::fs::write(
            dir.join("alertmanager.yml"),
            "route:\n  receiver: 'null'\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: 'null'\n",
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(dir.join("rules.yml"), RULES).map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\nrule_files: ['{}']\nscrape_configs:\n  - job_name: svc\n    static_configs:\n      - targets: ['{service}']\n",
                dir.join("rules.yml").display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let am = spawn(
            "prometheus-alertmanager",
            &[
                &format!("--config.file={}", dir.join("alertmanager.yml").display()),
                &format!("--storage.path={}", dir.join("am-data").display()),
                &format!("--web.listen-address=127.0.0.1:{am_port}"),
                // Empty: no cluster listener (it would bind 0.0.0.0:9094).
                "--cluster.listen-address=",
            ],
            &dir.join("alertmanager.log"),
        )?;
        let prom = spawn(
            "prometheus",
            &[
                &format!("--config.file={}", dir.join("prometheus.yml").display()),
                &format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
                &format!("--web.listen-address=127.0.0.1:{prom_port}"),
            ],
            &dir.join("prometheus.log"),
        )?;
        // They live as long as the test binary: killed, and their folder removed, at exit.
        let _ = CLEANUP.set((vec![am.id() as i32, prom.id() as i32], dir.clone()));
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(cleanup) };
        std::mem::forget((am, prom));
        let prometheus = format!("http://127.0.0.1:{prom_port}");
        let alertmanager = format!("http://127.0.0.1:{am_port}");
        for (name, url, log) in [
            ("Alertmanager", &alertmanager, "alertmanager.log"),
            ("Prometheus", &prometheus, "prometheus.log"),
        ] {
            ready(&format!("{url}/-/ready"), Duration::from_secs(30)).map_err(|e| {
                let log = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
                let tail: String = log.lines().rev().take(15).collect::<Vec<_>>().join("\n");
                format!("{name} at {url} is not ready: {e}\n{tail}")
            })?;
        }
        Ok(Stack { prometheus, alertmanager, service, fault, _dir: dir })
    }
}

static CLEANUP: OnceLock<(Vec<i32>, PathBuf)> = OnceLock::new();

extern "C" fn cleanup() {
    if let Some((pids, dir)) = CLEANUP.get() {
        for pid in pids {
            // SAFETY: our own children.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

impl Stack {
    /// Waits until Prometheus has scraped the service (its first scrape comes up to a
    /// second after it is ready).
    pub fn wait_scraped(&self) {
        let url = format!("{}/api/v1/query?query=svc_error_ratio", self.prometheus);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, body)) = http_get(&url)
                && body.contains("\"svc_error_ratio\"")
            {
                return;
            }
            assert!(Instant::now() < deadline, "Prometheus did not scrape the test service within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A Prometheus of one test's own, scraping nothing (queries like `vector(1)` need no data),
/// so the requests it counts are that test's alone. Killed when dropped.
pub struct Lone {
    pub url: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Lone {
    pub fn start() -> Lone {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(dir.path().join("prometheus.yml"), "global:\n  scrape_interval: 1m\n").unwrap();
        let child = spawn(
            "prometheus",
            &[
                &format!("--config.file={}", dir.path().join("prometheus.yml").display()),
                &format!("--storage.tsdb.path={}", dir.path().join("data").display()),
                &format!("--web.listen-address=127.0.0.1:{port}"),
            ],
            &dir.path().join("prometheus.log"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let url = format!("http://127.0.0.1:{port}");
        if let Err(e) = ready(&format!("{url}/-/ready"), Duration::from_secs(30)) {
            let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
            panic!("Prometheus at {url} is not ready: {e}\n{log}");
        }
        Lone { url, child, dir }
    }

    /// How many requests `/api/v1/query` has answered, from Prometheus's own metrics.
    pub fn queries_answered(&self) -> u64 {
        use std::io::{Read, Write};
        // HTTP/1.0, so the answer is not chunked (a chunk boundary could split a line).
        let host = self.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(host).unwrap();
        write!(s, "GET /metrics HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
        let mut metrics = String::new();
        s.read_to_string(&mut metrics).unwrap();
        metrics
            .lines()
            .filter(|l| {
                l.starts_with("prometheus_http_requests_total{") && l.contains("handler=\"/api/v1/query\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }
}

impl Drop for Lone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

/// A free port on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(program: &str, args: &[&str], log: &Path) -> Result<Child, String> {
    let out = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: prctl is async-signal-safe; it only asks for SIGKILL when our thread dies.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| {
        format!(
            "cannot run {program} ({e}): install the Debian packages prometheus and prometheus-alertmanager"
        )
    })
}

/// Polls `url` until it answers 200, or the deadline passes.
fn ready(url: &str, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match http_get(url) {
            Ok((200, _)) => return Ok(()),
            Ok((code, _)) => last = format!("HTTP {code}"),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{last} after {within:?}"))
}

/// A tiny blocking HTTP GET (status, body) for readiness and test assertions.
pub fn http_get(url: &str) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or("not http")?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("no status line")?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((code, body))
}

/// The loopback service Prometheus scrapes.
fn metrics_server(fault: Arc<AtomicBool>) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let fault = Arc::clone(&fault);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        let depth = if fault.load(Ordering::SeqCst) { 500 } else { 5 };
                        let body = format!(
                            "# TYPE svc_error_ratio gauge\nsvc_error_ratio 0.01\n# TYPE svc_requests gauge\nsvc_requests{{instance_name=\"a\"}} 10\nsvc_requests{{instance_name=\"b\"}} 20\n# TYPE svc_queue_depth gauge\nsvc_queue_depth {depth}\n"
                        );
                        async move { Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(body)))) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

/// What a [`Proxy`] does to the requests it passes on.
#[derive(Clone, Copy)]
pub enum Rule {
    /// Holds each request whose text contains `marker` for `delay`, and passes every other
    /// at once. It makes a query slow the way a loaded Prometheus or network does, without
    /// taking the CPU that the quick queries beside it need on a two-core machine.
    Hold { marker: &'static str, delay: Duration },
    /// Answers a POST with 403, as a proxy that allows only GET does, and passes GETs.
    RefusePost,
}

/// A loopback HTTP proxy in front of `upstream`, one request per connection.
pub struct Proxy {
    pub url: String,
}

impl Proxy {
    pub fn start(upstream: &str, rule: Rule) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    let _ = pass_on(client, &upstream, rule);
                });
            }
        });
        Proxy { url }
    }
}

fn pass_on(mut client: std::net::TcpStream, upstream: &str, rule: Rule) -> std::io::Result<()> {
    use std::io::{BufRead, Read, Write};
    let mut reader = std::io::BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(n) = lower.strip_prefix("content-length:") {
            length = n.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            head.push(line);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    match rule {
        Rule::Hold { marker, delay } => {
            if format!("{}{}", head.concat(), String::from_utf8_lossy(&body)).contains(marker) {
                std::thread::sleep(delay);
            }
        }
        Rule::RefusePost if head.first().is_some_and(|l| l.starts_with("POST ")) => {
            let refusal = "<html><body>403 Forbidden</body></html>";
            write!(
                client,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{refusal}",
                refusal.len()
            )?;
            return client.shutdown(std::net::Shutdown::Both);
        }
        Rule::RefusePost => {}
    }
    let mut server = std::net::TcpStream::connect(upstream)?;
    server.write_all(format!("{}Connection: close\r\n\r\n", head.concat()).as_bytes())?;
    server.write_all(&body)?;
    std::io::copy(&mut server, &mut client)?;
    client.shutdown(std::net::Shutdown::Both)
}
