//! Probes: HTTP (reqwest with rustls), TCP connect with an optional banner, and commands.
//! Each returns pass or fail, its latency and a short reason, and never outlives its timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::command::Execution;
use super::prometheus::{self, Batcher};
use crate::run::{PreparedCommand, PreparedProbe, PreparedTarget, ProbeResult};
use crate::runbook::ProbeExpect;
use crate::runbook::duration::format as fmt_duration;

/// The most of a body or banner a probe reads.
const BODY_LIMIT: usize = 1024 * 1024;

/// Runs probes; holds the HTTP clients so connections are reused between probes.
#[derive(Debug, Clone)]
pub struct Prober {
    client: reqwest::Client,
    insecure: reqwest::Client,
    /// Monitors' Prometheus queries go through a batcher; a step's query is asked alone.
    batcher: Option<Arc<Batcher>>,
}

impl Default for Prober {
    fn default() -> Self {
        Self::new()
    }
}

impl Prober {
    pub fn new() -> Self {
        let build = |insecure: bool| {
            reqwest::Client::builder()
                .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
                .danger_accept_invalid_certs(insecure)
                .redirect(reqwest::redirect::Policy::limited(5))
                // Monitors probe the same few hosts over and over: a small pool of kept-alive
                // connections per host is reused, instead of one idle connection (and its
                // buffers) per monitor.
                .pool_max_idle_per_host(16)
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        };
        Self { client: build(false), insecure: build(true), batcher: None }
    }

    /// A prober for many monitors: Prometheus queries that fall due together are asked in one
    /// request (see `exec::prometheus`).
    pub fn for_monitors() -> Self {
        let plain = Self::new();
        Self { batcher: Some(Arc::new(Batcher::new(plain.client.clone()))), ..plain }
    }

    pub async fn probe(&self, probe: &PreparedProbe) -> ProbeResult {
        let started = Instant::now();
        let limit = probe.timeout;
        let outcome = tokio::time::timeout(limit, self.measure(probe)).await;
        let latency = started.elapsed();
        let (passed, reason, observed) = match outcome {
            Ok(Ok(observed)) => (true, String::new(), observed),
            Ok(Err((reason, observed))) => (false, reason, observed),
            Err(_) => (false, format!("timed out after {}", fmt_duration(limit)), None),
        };
        let reason = match (&probe.target, passed) {
            // Which server failed to answer, so a wrong URL is found at once.
            (PreparedTarget::Prometheus { server, .. }, false) if observed.is_none() => {
                format!("{server}: {reason}")
            }
            _ => reason,
        };
        let latency_ms = latency.as_millis() as u64;
        let slow = passed && probe.expect.max_latency.is_some_and(|max| latency > max);
        let reason = match (&probe.target, passed, slow) {
            (_, true, true) => format!(
                "slow: {latency_ms}ms, over {}",
                fmt_duration(probe.expect.max_latency.unwrap_or_default())
            ),
            (PreparedTarget::Http { .. }, true, false) => "ok".to_owned(),
            (_, true, false) => "ok".to_owned(),
            (_, false, _) => reason,
        };
        ProbeResult {
            passed: passed && !slow,
            slow,
            latency_ms,
            reason: crate::runbook::template::mask(&reason, &probe.secrets).into_owned(),
            observed: observed.map(|o| crate::runbook::template::mask(&o, &probe.secrets).into_owned()),
        }
    }

    /// A probe that may observe a value: `Ok(observed)` on a pass, else the reason and what
    /// was observed, if anything.
    async fn measure(&self, probe: &PreparedProbe) -> Result<Option<String>, (String, Option<String>)> {
        let PreparedTarget::Prometheus { endpoint, query, headers, .. } = &probe.target else {
            return self.attempt(probe).await.map(|()| None).map_err(|e| (e, None));
        };
        let Some(cmp) = &probe.expect.value else {
            return Err(("no `expect.value` to compare with".into(), None));
        };
        let server = prometheus::Server { endpoint: endpoint.clone(), headers: headers.clone() };
        let series = match &self.batcher {
            Some(batcher) => batcher.ask(&server, query, probe.timeout).await,
            None => prometheus::instant(&self.client, &server, query, probe.timeout).await,
        }
        .map_err(|e| (e, None))?;
        crate::prom::judge(&series, cmp, probe.expect.all).map(Some)
    }

    async fn attempt(&self, probe: &PreparedProbe) -> Result<(), String> {
        match &probe.target {
            PreparedTarget::Http { url, method, headers, insecure } => {
                let client = if *insecure { &self.insecure } else { &self.client };
                let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
                let mut request = client.request(method, url).timeout(probe.timeout);
                for (k, v) in headers {
                    request = request.header(k, v);
                }
                let mut response = request.send().await.map_err(|e| http_error(&e, probe.timeout))?;
                let status = response.status().as_u16();
                let status_ok = if probe.expect.status.is_empty() {
                    (200..300).contains(&status)
                } else {
                    probe.expect.status.contains(&status)
                };
                if !status_ok {
                    return Err(format!("HTTP {status}"));
                }
                if probe.expect.body_contains.is_none() && probe.expect.json.is_none() {
                    return Ok(());
                }
                let mut body = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(|e| http_error(&e, probe.timeout))? {
                    body.extend_from_slice(&chunk);
                    if body.len() >= BODY_LIMIT {
                        break;
                    }
                }
                check_body(&probe.expect, &body, status)
            }
            PreparedTarget::Prometheus { .. } => Err("a prometheus probe is measured, not attempted".into()),
            PreparedTarget::Tcp { address } => {
                let mut stream =
                    tokio::net::TcpStream::connect(address.as_str()).await.map_err(|e| io_reason(&e))?;
                let Some(want) = &probe.expect.banner_contains else { return Ok(()) };
                let mut banner = Vec::new();
                let mut buf = [0u8; 1024];
                loop {
                    let n = stream.read(&mut buf).await.map_err(|e| io_reason(&e))?;
                    if n == 0 {
                        return Err(format!("banner lacks '{want}' (connection closed)"));
                    }
                    banner.extend_from_slice(&buf[..n]);
                    if String::from_utf8_lossy(&banner).contains(want.as_str()) {
                        return Ok(());
                    }
                    if banner.len() > 4096 {
                        return Err(format!("banner lacks '{want}'"));
                    }
                }
            }
            PreparedTarget::Command { script, env } => {
                let command = PreparedCommand {
                    script: script.clone(),
                    shown: String::new(),
                    shell: None,
                    cwd: None,
                    env: env.clone(),
                    timeout: probe.timeout,
                    interactive: false,
                    secrets: probe.secrets.clone(),
                    token: String::new(),
                };
                let result =
                    tokio::task::spawn_blocking(move || Execution::new().run(&command, None, |_, _| {}))
                        .await
                        .map_err(|e| e.to_string())?;
                if let Some(e) = result.spawn_error {
                    return Err(e);
                }
                if result.timed_out {
                    return Err(format!("timed out after {}", fmt_duration(probe.timeout)));
                }
                match result.exit {
                    Some(code) if code == probe.expect.exit => {}
                    Some(code) => return Err(format!("exit {code}")),
                    None => return Err("killed by a signal".into()),
                }
                match &probe.expect.stdout_contains {
                    Some(want) if !result.stdout.contains(want.as_str()) => {
                        Err(format!("stdout lacks '{want}'"))
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}

fn check_body(expect: &ProbeExpect, body: &[u8], status: u16) -> Result<(), String> {
    let text = String::from_utf8_lossy(body);
    if let Some(want) = &expect.body_contains
        && !text.contains(want.as_str())
    {
        return Err(format!("HTTP {status}, body lacks '{want}'"));
    }
    if let Some(want) = &expect.json {
        let actual: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| format!("HTTP {status}, body is not JSON"))?;
        if let Some(path) = json_mismatch(want, &actual, String::new()) {
            return Err(format!("HTTP {status}, JSON {path}"));
        }
    }
    Ok(())
}

/// Where `actual` fails to contain `expected` (maps are matched as subsets, everything
/// else exactly), as "status is \"degraded\", expected \"healthy\"".
pub fn json_mismatch(
    expected: &serde_json::Value,
    actual: &serde_json::Value,
    path: String,
) -> Option<String> {
    use serde_json::Value;
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => want.iter().find_map(|(k, v)| {
            let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            match have.get(k) {
                Some(h) => json_mismatch(v, h, p),
                None => Some(format!("{p} is missing")),
            }
        }),
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => None,
        (a, b) if a == b => None,
        (a, b) => {
            let p = if path.is_empty() { "body".to_owned() } else { path };
            Some(format!("{p} is {b}, expected {a}"))
        }
    }
}

/// The body of `response` if it is at most `limit` bytes; `None` as soon as it is more. A
/// Prometheus query that names a busy metric without aggregating it, or an Alertmanager in an
/// alert storm, can answer hundreds of megabytes, every interval: never held whole.
pub async fn read_at_most(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

pub fn http_error(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {}", fmt_duration(timeout));
    }
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io_reason(io);
        }
        source = s.source();
    }
    if e.is_connect() {
        return "connection failed".into();
    }
    if e.is_redirect() {
        return "too many redirects (a redirect loop?)".into();
    }
    // reqwest's own message names the URL, which may hold a secret: keep it generic.
    if e.is_request() { "request failed".into() } else { "HTTP error".into() }
}

fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset".into(),
        TimedOut => "timed out".into(),
        NotFound => "host not found".into(),
        _ => {
            let text = e.to_string();
            if text.contains("failed to lookup") || text.contains("Name or service not known") {
                "host not found".into()
            } else {
                text
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_expectations_are_subsets_of_maps_and_exact_elsewhere() {
        let have =
            json!({"status": "healthy", "checks": {"db": "up", "queue": "up"}, "n": 3.0, "list": [1, 2]});
        assert_eq!(
            json_mismatch(&json!({"status": "healthy", "checks": {"db": "up"}}), &have, String::new()),
            None
        );
        assert_eq!(json_mismatch(&json!({"n": 3}), &have, String::new()), None);
        assert_eq!(
            json_mismatch(&json!({"checks": {"db": "down"}}), &have, String::new()),
            Some("checks.db is \"up\", expected \"down\"".into())
        );
        assert_eq!(
            json_mismatch(&json!({"missing": 1}), &have, String::new()),
            Some("missing is missing".into())
        );
        assert!(json_mismatch(&json!({"list": [1]}), &have, String::new()).is_some());
    }
}
