//! Real parts for tests: an HTTP server and TCP listeners on 127.0.0.1, and waiting on a
//! condition until a deadline (never a fixed sleep).

#![allow(dead_code)]

pub mod pg;
pub mod pty;
pub mod render;
pub mod sandbox;

// Each test binary uses what it needs of these.
#[allow(unused_imports)]
pub use sandbox::{Sandbox, stdout, text};

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};

/// A runbook of thirty manual steps, `s1` to `s30` titled `Step number N`: more than a
/// terminal shows at once.
pub fn thirty_steps() -> String {
    let mut yaml = String::from("title: Thirty steps\nsteps:\n");
    for i in 1..=30 {
        yaml.push_str(&format!("  - {{ id: s{i}, title: Step number {i} }}\n"));
    }
    yaml
}

/// Polls `check` until it returns `Some` or the deadline passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback HTTP server whose `/health` status the test sets.
pub struct HealthServer {
    pub addr: SocketAddr,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    pub hits: Arc<AtomicU64>,
    /// A held server answers a request only when the test lets one through.
    gate: Arc<Gate>,
    _runtime: tokio::runtime::Runtime,
}

struct Gate {
    held: AtomicBool,
    passes: tokio::sync::Semaphore,
}

impl HealthServer {
    pub fn start() -> Self {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let status = Arc::new(AtomicU16::new(200));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let hits = Arc::new(AtomicU64::new(0));
        let gate = Arc::new(Gate { held: AtomicBool::new(false), passes: tokio::sync::Semaphore::new(0) });
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let (s, d, h, g) = (status.clone(), delay_ms.clone(), hits.clone(), gate.clone());
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (s, d, h, g) = (s.clone(), d.clone(), h.clone(), g.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (s, d, h, g) = (s.clone(), d.clone(), h.clone(), g.clone());
                        async move {
                            h.fetch_add(1, Ordering::SeqCst);
                            if g.held.load(Ordering::SeqCst) {
                                g.passes.acquire().await.unwrap().forget();
                            }
                            let delay = d.load(Ordering::SeqCst);
                            if delay > 0 {
                                tokio::time::sleep(Duration::from_millis(delay)).await;
                            }
                            let code = s.load(Ordering::SeqCst);
                            let body = match req.uri().path() {
                                "/health" if code == 200 => r#"{"status":"healthy","checks":{"db":"up"}}"#,
                                "/health" => r#"{"status":"unhealthy","checks":{"db":"down"}}"#,
                                _ => "not found",
                            };
                            let code = if req.uri().path() == "/health" { code } else { 404 };
                            let mut resp = Response::new(Full::new(Bytes::from(body)));
                            *resp.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, status, delay_ms, hits, gate, _runtime: runtime }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set_status(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }

    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// From now on each request waits, before it reads the status, until [`Self::release_one`]
    /// lets it through: a test sees every answer however slow the machine is.
    pub fn hold(&self) {
        self.gate.held.store(true, Ordering::SeqCst);
    }

    /// Lets one held request (the next one, if none waits yet) read the status and answer.
    pub fn release_one(&self) {
        self.gate.passes.add_permits(1);
    }
}

/// A listener that accepts connections and never says anything.
pub fn silent_listener() -> (std::net::TcpListener, SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let clone = listener.try_clone().unwrap();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in clone.incoming() {
            match stream {
                Ok(s) => held.push(s),
                Err(_) => break,
            }
            if held.len() > 100 {
                break;
            }
        }
    });
    (listener, addr, handle)
}

/// The machine, for the tests of one binary: a test that measures how late things are, or
/// loads both cores, takes it to itself; the others share it. On two cores, anything beside
/// a lateness test (a server starting, hundreds of monitors) makes it late for want of CPU,
/// which is not what it tests.
static MACHINE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Takes the machine for this test alone (see [`MACHINE`]).
pub fn alone_on_the_machine() -> std::sync::RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Shares the machine with the other tests that neither measure lateness nor load it.
pub fn beside_others() -> std::sync::RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A listener on 127.0.0.1 that hands each connection to `handle` on a thread of its own;
/// its address.
pub fn serve_each(handle: impl Fn(std::net::TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::sync::Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = std::sync::Arc::clone(&handle);
            std::thread::spawn(move || handle(stream));
        }
    });
    addr
}

/// A port with nothing listening (bound, then released).
pub fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A listener that greets every connection with `banner`.
pub fn banner_listener(banner: &'static str) -> SocketAddr {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.write_all(banner.as_bytes());
        }
    });
    addr
}

/// Whether a process exists (signal 0 reaches it).
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid, 0) };
    if rc != 0 {
        return false;
    }
    // A zombie counts as gone: read its state.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
        .unwrap_or(false)
}
