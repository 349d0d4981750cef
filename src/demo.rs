//! The demo service: a small application on 127.0.0.1 for `runbook demo` and the tour.
//!
//! It answers like a real service would (`/health` with component statuses, `/version`,
//! `/api/orders`, `/metrics`, `/queue`), has a TCP port standing in for its database and
//! one for its mail relay, and admin endpoints that inject faults and recover:
//! `POST /admin/fault/{errors,slow,db-down,queue-backlog}`, `POST /admin/recover`,
//! `GET /admin/faults`, `POST /admin/deploy?version=V`.
//!
//! So that `prometheus:` checks and the alert list work in the demo without installing
//! anything, it also answers a small Prometheus-shaped API itself: `/api/v1/query` knows a
//! few queries (the 5xx ratio of `http_requests_total`, `queue_depth`, latency, `up`) and
//! `/api/v2/alerts` lists one Alertmanager-style alert per injected fault, each with a
//! `runbook_url` that ends in the bundled runbook for it.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The faults the demo can inject.
pub const FAULTS: [&str; 4] = ["errors", "slow", "db-down", "queue-backlog"];

#[derive(Debug)]
struct State {
    faults: Mutex<BTreeSet<String>>,
    /// When each fault was injected (the alerts' `startsAt`).
    since: Mutex<BTreeMap<String, jiff::Timestamp>>,
    version: Mutex<String>,
    ok: AtomicU64,
    errors: AtomicU64,
    requests: AtomicU64,
    db_down: watch::Sender<bool>,
}

impl State {
    fn has(&self, fault: &str) -> bool {
        self.faults.lock().unwrap_or_else(|e| e.into_inner()).contains(fault)
    }
}

/// A running demo service; stops when dropped.
#[derive(Debug)]
pub struct Demo {
    pub http: SocketAddr,
    pub db: SocketAddr,
    pub smtp: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Demo {
    /// Starts the service on free loopback ports.
    pub async fn start() -> std::io::Result<Self> {
        let http = TcpListener::bind("127.0.0.1:0").await?;
        let db = TcpListener::bind("127.0.0.1:0").await?;
        let smtp = TcpListener::bind("127.0.0.1:0").await?;
        let (db_down, db_down_rx) = watch::channel(false);
        let state = Arc::new(State {
            faults: Mutex::new(BTreeSet::new()),
            since: Mutex::new(BTreeMap::new()),
            version: Mutex::new("v1.4.2".into()),
            ok: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            db_down,
        });
        let addrs = (http.local_addr()?, db.local_addr()?, smtp.local_addr()?);
        let tasks = vec![
            tokio::spawn(serve_http(http, Arc::clone(&state))),
            tokio::spawn(serve_db(db, db_down_rx)),
            tokio::spawn(serve_banner(smtp, "220 demo.local ESMTP runbook-demo\r\n")),
        ];
        Ok(Self { http: addrs.0, db: addrs.1, smtp: addrs.2, tasks })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// The demo environment's vars that point at this service.
    pub fn vars(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("base_url".to_owned(), self.base_url()),
            ("db_host".to_owned(), self.db.ip().to_string()),
            ("db_port".to_owned(), self.db.port().to_string()),
            ("smtp_host".to_owned(), self.smtp.ip().to_string()),
            ("smtp_port".to_owned(), self.smtp.port().to_string()),
        ])
    }
}

async fn serve_http(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, Arc::clone(&state)));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

fn respond(code: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn json(code: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    respond(code, "application/json", value.to_string())
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = state.requests.fetch_add(1, Ordering::SeqCst);
    if state.has("slow") && !req.uri().path().starts_with("/admin") {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut query = req.uri().query().unwrap_or_default().to_owned();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if method == Method::POST && path == "/api/v1/query" {
        // Prometheus takes a query's parameters from a form body as well.
        query = String::from_utf8_lossy(&body).into_owned();
    }
    let faults: Vec<String> =
        state.faults.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
    let response = match (&method, path.as_str()) {
        (&Method::GET, "/health") => {
            let db = if state.has("db-down") { "down" } else { "up" };
            let queue = if state.has("queue-backlog") { "backlog" } else { "up" };
            let healthy = !state.has("errors") && !state.has("db-down");
            let code = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            let version = state.version.lock().unwrap_or_else(|e| e.into_inner()).clone();
            json(
                code,
                serde_json::json!({
                    "status": if healthy { "healthy" } else { "unhealthy" },
                    "version": version,
                    "components": { "database": db, "queue": queue, "mail": "up" },
                }),
            )
        }
        (&Method::GET, "/version") => {
            let version = state.version.lock().unwrap_or_else(|e| e.into_inner()).clone();
            json(StatusCode::OK, serde_json::json!({ "version": version }))
        }
        (&Method::GET, "/api/orders") => {
            // Under the errors fault four requests in five fail, like a bad deploy would.
            if (state.has("errors") && !n.is_multiple_of(5)) || state.has("db-down") {
                json(StatusCode::INTERNAL_SERVER_ERROR, serde_json::json!({ "error": "internal error" }))
            } else {
                json(StatusCode::OK, serde_json::json!({ "orders": [{ "id": 1001, "status": "shipped" }] }))
            }
        }
        (&Method::GET, "/metrics") => {
            let depth = if state.has("queue-backlog") { 48_210 + n * 7 } else { 12 };
            let p99 = if state.has("slow") { 1_540 } else { 42 };
            respond(
                StatusCode::OK,
                "text/plain",
                format!(
                    "http_requests_total{{code=\"200\"}} {}\nhttp_requests_total{{code=\"500\"}} {}\nqueue_depth {depth}\nlatency_p99_ms {p99}\n",
                    state.ok.load(Ordering::SeqCst),
                    state.errors.load(Ordering::SeqCst)
                ),
            )
        }
        (&Method::GET, "/queue") => {
            let depth = if state.has("queue-backlog") { 48_210 + n * 7 } else { 12 };
            json(StatusCode::OK, serde_json::json!({ "depth": depth, "consumers": 2 }))
        }
        (&Method::GET | &Method::POST, "/api/v1/query") => prom_query(&state, &query, n),
        (&Method::GET, "/api/v2/alerts") => alerts(&state, &faults),
        (&Method::GET, "/admin/faults") => json(StatusCode::OK, serde_json::json!({ "faults": faults })),
        (&Method::POST, "/admin/recover") => {
            state.faults.lock().unwrap_or_else(|e| e.into_inner()).clear();
            state.since.lock().unwrap_or_else(|e| e.into_inner()).clear();
            let _ = state.db_down.send(false);
            json(StatusCode::OK, serde_json::json!({ "faults": [] }))
        }
        (&Method::POST, "/admin/deploy") => {
            let version = query.split('&').find_map(|kv| kv.strip_prefix("version=")).unwrap_or("v1.4.3");
            *state.version.lock().unwrap_or_else(|e| e.into_inner()) = version.to_owned();
            json(StatusCode::OK, serde_json::json!({ "version": version }))
        }
        (&Method::POST, p) if p.starts_with("/admin/fault/") => {
            let fault = &p["/admin/fault/".len()..];
            if FAULTS.contains(&fault) {
                let mut set = state.faults.lock().unwrap_or_else(|e| e.into_inner());
                if set.insert(fault.to_owned()) {
                    let mut since = state.since.lock().unwrap_or_else(|e| e.into_inner());
                    since.insert(fault.to_owned(), jiff::Timestamp::now());
                }
                if fault == "db-down" {
                    let _ = state.db_down.send(true);
                }
                json(StatusCode::OK, serde_json::json!({ "faults": set.iter().collect::<Vec<_>>() }))
            } else {
                json(
                    StatusCode::NOT_FOUND,
                    serde_json::json!({ "error": format!("unknown fault '{fault}'"), "faults": FAULTS }),
                )
            }
        }
        _ => json(StatusCode::NOT_FOUND, serde_json::json!({ "error": "not found" })),
    };
    let counter = if response.status().is_server_error() { &state.errors } else { &state.ok };
    counter.fetch_add(1, Ordering::SeqCst);
    Ok(response)
}

/// The demo's stand-in for Prometheus's instant query API: a few known queries, answered
/// from the service's state the way Prometheus would format them. `params` is the URL's
/// query string or a POST's form body; a batch of monitors' queries joined by
/// `prom::join_queries` is answered part by part, as Prometheus would.
fn prom_query(state: &State, params: &str, n: u64) -> Response<Full<Bytes>> {
    let q = reqwest::Url::parse(&format!("http://demo/?{params}"))
        .ok()
        .and_then(|u| u.query_pairs().find(|(k, _)| k == "query").map(|(_, v)| v.into_owned()))
        .unwrap_or_default();
    let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
    let parts: Vec<(Option<usize>, String)> = match crate::prom::unjoin(&q) {
        Some(parts) => parts.into_iter().map(|(i, part)| (Some(i), part)).collect(),
        None => vec![(None, q.clone())],
    };
    let mut result = Vec::new();
    for (tag, part) in parts {
        let Some((mut labels, value)) = demo_series(state, &part, n) else {
            return json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "status": "error", "errorType": "bad_data",
                    "error": "the demo answers only queries of http_requests_total (the 5xx ratio), queue_depth, latency and up: point `prometheus:` at a real Prometheus for more" }),
            );
        };
        if let Some(i) = tag {
            labels.insert(crate::prom::BATCH_LABEL.to_owned(), i.to_string().into());
        }
        result.push(serde_json::json!({ "metric": labels, "value": [now, value] }));
    }
    json(
        StatusCode::OK,
        serde_json::json!({ "status": "success", "data": { "resultType": "vector", "result": result } }),
    )
}

/// One known query's series: its labels and value.
fn demo_series(
    state: &State,
    q: &str,
    n: u64,
) -> Option<(serde_json::Map<String, serde_json::Value>, String)> {
    let job = || serde_json::Map::from_iter([("job".to_owned(), "demo-api".into())]);
    if q.contains("http_requests_total") && (q.contains("5..") || q.contains("500")) {
        let ratio = if state.has("db-down") {
            "1"
        } else if state.has("errors") {
            "0.8"
        } else {
            "0.002"
        };
        Some((serde_json::Map::new(), ratio.to_owned()))
    } else if q.contains("queue_depth") {
        let depth = if state.has("queue-backlog") { 48_210 + n * 7 } else { 12 };
        Some((job(), depth.to_string()))
    } else if q.contains("latency") {
        Some((job(), if state.has("slow") { "1.54" } else { "0.042" }.to_owned()))
    } else if q.trim() == "up" {
        Some((job(), "1".to_owned()))
    } else {
        None
    }
}

/// The demo's stand-in for Alertmanager's `/api/v2/alerts`: one alert per injected fault.
fn alerts(state: &State, faults: &[String]) -> Response<Full<Bytes>> {
    let since = state.since.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let list: Vec<serde_json::Value> = faults
        .iter()
        .filter_map(|f| {
            let (name, severity, summary, runbook) = match f.as_str() {
                "errors" => ("HighErrorRate", "critical", "More than 5% of API requests fail", "api-5xx"),
                "slow" => ("HighLatency", "warning", "API p99 latency above 1s", "high-latency"),
                "db-down" => ("DatabaseDown", "critical", "The database refuses connections", "database-connectivity"),
                "queue-backlog" => ("QueueBacklog", "warning", "The work queue is backing up", "queue-backlog"),
                _ => return None,
            };
            let starts = since.get(f).copied().unwrap_or_else(jiff::Timestamp::now);
            let fingerprint = &blake3::hash(name.as_bytes()).to_hex()[..16];
            Some(serde_json::json!({
                "labels": { "alertname": name, "severity": severity, "service": "demo-api",
                    "namespace": "demo", "environment": "demo" },
                "annotations": { "summary": summary,
                    "runbook_url": format!("https://github.com/example/ops/blob/main/runbooks/incidents/{runbook}.yaml") },
                "startsAt": starts.to_string(),
                "endsAt": "0001-01-01T00:00:00Z",
                "updatedAt": starts.to_string(),
                "fingerprint": fingerprint,
                "receivers": [{ "name": "demo" }],
                "status": { "state": "active", "silencedBy": [], "inhibitedBy": [] },
            }))
        })
        .collect();
    json(StatusCode::OK, serde_json::Value::Array(list))
}

/// The database stand-in: a banner on connect; while `db-down` is set the port is closed
/// (connections are refused), and it opens again on recovery.
async fn serve_db(listener: TcpListener, mut down: watch::Receiver<bool>) {
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    let mut listener = Some(listener);
    loop {
        if *down.borrow() {
            listener = None;
            if down.changed().await.is_err() {
                return;
            }
            continue;
        }
        let l = match listener.take() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        tokio::select! {
            accepted = l.accept() => {
                if let Ok((mut s, _)) = accepted {
                    tokio::spawn(async move {
                        let _ = s.write_all(b"RBDB 1.0 ready\n").await;
                    });
                }
                listener = Some(l);
            }
            changed = down.changed() => {
                if changed.is_err() {
                    return;
                }
                listener = if *down.borrow() { None } else { Some(l) };
            }
        }
    }
}

async fn serve_banner(listener: TcpListener, banner: &'static str) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let _ = s.write_all(banner.as_bytes()).await;
        });
    }
}
