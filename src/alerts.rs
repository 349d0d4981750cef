//! Alertmanager: the firing alerts of an environment, and the runbook that answers each.
//!
//! A runbook answers an alert when its `alerts:` names the alert, or when the alert's
//! `runbook_url` annotation ends with the runbook's id (after any path prefix such as
//! `/blob/main/runbooks/`, with or without `.yaml`, `.yml` or `.md`). Label and annotation
//! values are data from outside: they are shown escaped and reach commands only as input
//! values (environment variables, never script text).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::run::record::AlertOrigin;
use crate::runbook::Environment;

/// How long a request to Alertmanager may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// One firing alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub alertname: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339, as Alertmanager reports it.
    pub starts_at: String,
    pub fingerprint: String,
    /// The id of the runbook that answers it.
    pub runbook: Option<String>,
}

impl Alert {
    pub fn severity(&self) -> &str {
        self.labels.get("severity").map_or("", String::as_str)
    }

    /// The `summary` annotation, else `description`, else `message`.
    pub fn summary(&self) -> &str {
        ["summary", "description", "message"]
            .iter()
            .find_map(|k| self.annotations.get(*k))
            .map_or("", String::as_str)
    }

    /// Seconds since it started firing (0 when the time does not parse).
    pub fn age_secs(&self, now: jiff::Timestamp) -> u64 {
        self.starts_at
            .parse::<jiff::Timestamp>()
            .map(|t| now.as_second().saturating_sub(t.as_second()).max(0) as u64)
            .unwrap_or(0)
    }

    /// What a run started from this alert records.
    pub fn origin(&self) -> AlertOrigin {
        AlertOrigin {
            alertname: self.alertname.clone(),
            fingerprint: self.fingerprint.clone(),
            labels: self.labels.clone(),
            starts_at: Some(self.starts_at.clone()).filter(|s| !s.is_empty()),
        }
    }

    /// Input values from the alert: for each input named like a label (or, failing that, an
    /// annotation), its value.
    pub fn inputs_for(&self, runbook: &crate::runbook::Runbook) -> BTreeMap<String, String> {
        runbook
            .inputs
            .iter()
            .filter_map(|i| {
                self.labels
                    .get(&i.name)
                    .or_else(|| self.annotations.get(&i.name))
                    .map(|v| (i.name.clone(), v.clone()))
            })
            .collect()
    }
}

/// Age in at most four columns: 59s, 12m, 3h, 2d.
pub fn short_age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

#[derive(Deserialize)]
struct RawAlert {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default, rename = "startsAt")]
    starts_at: String,
    #[serde(default)]
    fingerprint: String,
    #[serde(default)]
    status: Option<RawStatus>,
}

#[derive(Deserialize)]
struct RawStatus {
    #[serde(default)]
    state: String,
}

/// Reads Alertmanager's `/api/v2/alerts` answer: the active alerts, oldest first.
pub fn parse(status: u16, body: &[u8]) -> Result<Vec<Alert>, String> {
    if !(200..300).contains(&status) {
        let start: String = String::from_utf8_lossy(&body[..body.len().min(120)])
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        return Err(format!("HTTP {status}: {}", start.trim()));
    }
    let raw: Vec<RawAlert> = serde_json::from_slice(body).map_err(|e| {
        if serde_json::from_slice::<serde_json::Value>(body).is_ok() {
            format!("not an Alertmanager v2 alert list ({e})")
        } else {
            "not an Alertmanager answer (not JSON)".to_owned()
        }
    })?;
    let mut out: Vec<Alert> = raw
        .into_iter()
        .filter(|a| a.status.as_ref().is_none_or(|s| s.state.is_empty() || s.state == "active"))
        .map(|a| Alert {
            alertname: a.labels.get("alertname").cloned().unwrap_or_default(),
            labels: a.labels,
            annotations: a.annotations,
            starts_at: a.starts_at,
            fingerprint: a.fingerprint,
            runbook: None,
        })
        .collect();
    out.sort_by(|a, b| a.starts_at.cmp(&b.starts_at).then_with(|| a.alertname.cmp(&b.alertname)));
    Ok(out)
}

/// The environment's Alertmanager, rendered; the error says how to configure it.
pub fn server(env: &Environment) -> Result<crate::prom::Server, String> {
    let Some(endpoint) = &env.alertmanager else {
        return Err(format!(
            "environment '{}' has no `alertmanager:` in environments.yaml: add its URL, like `alertmanager: http://alertmanager:9093`",
            env.name
        ));
    };
    crate::prom::render_endpoint(endpoint, env, &|n| std::env::var(n).ok())
}

/// The most of an Alertmanager's answer read: 5,000 alerts are about 3 MiB.
const ANSWER_LIMIT: usize = 64 * 1024 * 1024;

/// Fetches the firing alerts (active, not silenced, not inhibited) of an environment. Every
/// error names the environment and the Alertmanager's URL (secrets masked).
pub async fn fetch(
    client: &reqwest::Client,
    env: &Environment,
    timeout: Duration,
) -> Result<Vec<Alert>, String> {
    let server = server(env)?;
    let place = format!("Alertmanager of environment '{}' ({})", env.name, server.shown);
    let masked = |text: String| crate::runbook::template::mask(&text, &server.secrets).into_owned();
    let url = crate::prom::api_url(
        &server.base,
        "/api/v2/alerts",
        &[("active", "true"), ("silenced", "false"), ("inhibited", "false")],
    )
    .map_err(|e| masked(format!("{place}: {e}")))?;
    let request = async {
        let mut req = client.get(url).timeout(timeout).header("Accept", "application/json");
        for (k, v) in &server.headers {
            req = req.header(k, v);
        }
        let mut resp = req.send().await.map_err(|e| crate::exec::probe::http_error(&e, timeout))?;
        let status = resp.status().as_u16();
        let body = crate::exec::probe::read_at_most(&mut resp, ANSWER_LIMIT)
            .await
            .map_err(|e| crate::exec::probe::http_error(&e, timeout))?
            .ok_or_else(|| format!("the answer is over {} MiB of alerts", ANSWER_LIMIT >> 20))?;
        parse(status, &body)
    };
    match tokio::time::timeout(timeout, request).await {
        Ok(Ok(alerts)) => Ok(alerts),
        Ok(Err(why)) => Err(masked(format!("{place}: {why}"))),
        Err(_) => {
            Err(masked(format!("{place}: timed out after {}", crate::runbook::duration::format(timeout))))
        }
    }
}

/// Finds the runbook that answers an alert.
#[derive(Debug, Default)]
pub struct Matcher {
    /// alertname → runbook id (the first by id, when several name it).
    by_name: HashMap<String, String>,
    /// runbook id → itself, and its lowercase form → the id.
    ids: HashMap<String, String>,
    lower: HashMap<String, String>,
}

impl Matcher {
    /// `runbooks`: each runbook's id and its `alerts:`.
    pub fn new<'a>(runbooks: impl IntoIterator<Item = (&'a str, &'a [String])>) -> Self {
        let mut list: Vec<(&str, &[String])> = runbooks.into_iter().collect();
        list.sort_by(|a, b| a.0.cmp(b.0));
        let mut m = Matcher::default();
        for (id, alerts) in list {
            for a in alerts {
                m.by_name.entry(a.clone()).or_insert_with(|| id.to_owned());
            }
            m.ids.insert(id.to_owned(), id.to_owned());
            m.lower.entry(id.to_ascii_lowercase()).or_insert_with(|| id.to_owned());
        }
        m
    }

    /// The runbook that answers `alert`: `alerts:` first, then `runbook_url`.
    pub fn answer(&self, alert: &Alert) -> Option<&str> {
        if let Some(id) = self.by_name.get(&alert.alertname) {
            return Some(id);
        }
        let url = alert.annotations.get("runbook_url")?;
        self.by_url(url)
    }

    /// The runbook whose id a `runbook_url` ends with: the longest such id, matched exactly,
    /// else ignoring ASCII case (kube-prometheus writes ids in lowercase).
    pub fn by_url(&self, url: &str) -> Option<&str> {
        let path = url_path(url);
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for start in 0..segments.len() {
            let suffix = segments[start..].join("/");
            if let Some(id) = self.ids.get(&suffix) {
                return Some(id);
            }
        }
        for start in 0..segments.len() {
            let suffix = segments[start..].join("/").to_ascii_lowercase();
            if let Some(id) = self.lower.get(&suffix) {
                return Some(id);
            }
        }
        None
    }

    /// Sets each alert's `runbook`.
    pub fn annotate(&self, alerts: &mut [Alert]) {
        for a in alerts {
            a.runbook = self.answer(a).map(str::to_owned);
        }
    }
}

/// The path of a `runbook_url` without query, fragment, trailing slash, or a `.yaml`,
/// `.yml` or `.md` extension; a value that is not a URL is taken as a path.
fn url_path(url: &str) -> String {
    let path = match reqwest::Url::parse(url) {
        Ok(u) if u.has_host() => u.path().to_owned(),
        _ => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
    };
    let path = percent_encoding::percent_decode_str(&path).decode_utf8_lossy().into_owned();
    let path = path.trim_end_matches('/');
    let path = [".yaml", ".yml", ".md"].iter().find_map(|ext| path.strip_suffix(ext)).unwrap_or(path);
    path.to_owned()
}

/// Runbooks whose `alerts:` name the same alert: (alert, [ids]), for `runbook check`.
pub fn duplicates<'a>(
    runbooks: impl IntoIterator<Item = (&'a str, &'a [String])>,
) -> Vec<(String, Vec<String>)> {
    let mut by_name: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (id, alerts) in runbooks {
        for a in alerts {
            let ids = by_name.entry(a.as_str()).or_default();
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_owned());
            }
        }
    }
    by_name
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(a, mut ids)| {
            ids.sort();
            (a.to_owned(), ids)
        })
        .collect()
}

/// Finds the alert a user named: a fingerprint, else an alertname (which must be unique
/// among the firing alerts). The error lists what is firing.
pub fn pick<'a>(alerts: &'a [Alert], which: &str) -> Result<&'a Alert, String> {
    if let Some(a) = alerts.iter().find(|a| a.fingerprint == which) {
        return Ok(a);
    }
    let named: Vec<&Alert> = alerts.iter().filter(|a| a.alertname == which).collect();
    match named.as_slice() {
        [one] => Ok(one),
        [] => {
            let firing: Vec<&str> = {
                let mut v: Vec<&str> = alerts.iter().map(|a| a.alertname.as_str()).collect();
                v.sort_unstable();
                v.dedup();
                v
            };
            let hint = crate::runbook::diagnostic::did_you_mean(which, firing.iter().copied())
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            Err(if firing.is_empty() {
                format!("no alert '{which}' is firing: nothing is firing now")
            } else {
                format!("no alert '{which}' is firing{hint}: firing now: {}", firing.join(", "))
            })
        }
        many => {
            let lines: Vec<String> = many
                .iter()
                .map(|a| format!("  {}  {}", a.fingerprint, crate::prom::labels(&a.labels)))
                .collect();
            Err(format!(
                "{} alerts '{which}' are firing: give the fingerprint of one with --alert:\n{}",
                many.len(),
                lines.join("\n")
            ))
        }
    }
}

/// The error for an alert no runbook answers: its labels, and how to link one.
pub fn unanswered(alert: &Alert) -> String {
    let labels: Vec<String> =
        alert.labels.iter().map(|(k, v)| format!("  {k}={}", crate::text::escape_controls(v))).collect();
    format!(
        "no runbook answers alert '{}' (fingerprint {}). Its labels:\n{}\nLink a runbook: list the alert in its `alerts: [{}]`, or set the alert rule's `runbook_url` annotation to a URL ending in the runbook's id",
        crate::text::escape_controls(&alert.alertname),
        alert.fingerprint,
        labels.join("\n"),
        alert.alertname
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str, url: Option<&str>) -> Alert {
        let mut annotations = BTreeMap::new();
        if let Some(u) = url {
            annotations.insert("runbook_url".into(), u.into());
        }
        Alert {
            alertname: name.into(),
            labels: [("alertname".to_owned(), name.to_owned())].into(),
            annotations,
            starts_at: "2026-01-01T00:00:00Z".into(),
            fingerprint: format!("fp-{name}"),
            runbook: None,
        }
    }

    fn matcher(list: &[(&str, &[&str])]) -> Matcher {
        let owned: Vec<(String, Vec<String>)> =
            list.iter().map(|(id, a)| (id.to_string(), a.iter().map(|s| s.to_string()).collect())).collect();
        Matcher::new(owned.iter().map(|(id, a)| (id.as_str(), a.as_slice())))
    }

    #[test]
    fn runbook_url_suffixes_match_the_id_after_any_prefix_with_or_without_extension() {
        let m = matcher(&[("x", &[]), ("incidents/api-5xx", &[]), ("databases/PostgresReplicationLag", &[])]);
        for url in [
            "https://github.com/acme/ops/blob/main/runbooks/x.md",
            "https://github.com/acme/ops/blob/main/runbooks/x.yaml",
            "https://github.com/acme/ops/tree/release-1.2/runbooks/x",
            "https://wiki/runbooks/x/",
            "https://wiki/x.yml?plain=1#top",
            "runbooks/x.md",
            "x",
        ] {
            assert_eq!(m.by_url(url), Some("x"), "{url}");
        }
        assert_eq!(
            m.by_url("https://git/blob/main/runbooks/incidents/api-5xx.yaml"),
            Some("incidents/api-5xx")
        );
        assert_eq!(m.by_url("https://git/blob/main/runbooks/incidents/api-5xx"), Some("incidents/api-5xx"));
        // A different runbook whose name merely ends the same way does not match.
        assert_eq!(m.by_url("https://git/runbooks/old-api-5xx.md"), None);
        assert_eq!(m.by_url("https://git/runbooks/xy.md"), None);
        // kube-prometheus lowercases its runbook names.
        assert_eq!(
            m.by_url("https://runbooks.prometheus-operator.dev/runbooks/databases/postgresreplicationlag"),
            Some("databases/PostgresReplicationLag")
        );
    }

    #[test]
    fn the_longest_id_a_url_ends_with_wins() {
        let m = matcher(&[("api-5xx", &[]), ("incidents/api-5xx", &[])]);
        assert_eq!(m.by_url("https://git/incidents/api-5xx.md"), Some("incidents/api-5xx"));
        assert_eq!(m.by_url("https://git/other/api-5xx.md"), Some("api-5xx"));
    }

    #[test]
    fn alerts_key_wins_over_runbook_url_and_the_first_id_wins_among_duplicates() {
        let m = matcher(&[("b/second", &["HighErrorRate"]), ("a/first", &["HighErrorRate"]), ("x", &[])]);
        assert_eq!(m.answer(&alert("HighErrorRate", Some("https://wiki/x.md"))), Some("a/first"));
        assert_eq!(m.answer(&alert("Other", Some("https://wiki/x.md"))), Some("x"));
        assert_eq!(m.answer(&alert("Other", None)), None);
        let dups = duplicates([
            ("b/second", &["HighErrorRate".to_owned()][..]),
            ("a/first", &["HighErrorRate".to_owned()][..]),
        ]);
        assert_eq!(
            dups,
            vec![("HighErrorRate".to_owned(), vec!["a/first".to_owned(), "b/second".to_owned()])]
        );
    }

    #[test]
    fn alertmanager_answers_are_read_and_bad_ones_refused() {
        let body = br#"[{"labels":{"alertname":"B","severity":"warning"},"annotations":{"summary":"s"},
            "startsAt":"2026-01-01T00:00:05Z","fingerprint":"f2","status":{"state":"active"}},
            {"labels":{"alertname":"A"},"annotations":{},"startsAt":"2026-01-01T00:00:00Z",
            "fingerprint":"f1","status":{"state":"suppressed"}},
            {"labels":{"alertname":"C"},"annotations":{},"startsAt":"2026-01-01T00:00:01Z",
            "fingerprint":"f3","status":{"state":"active"}}]"#;
        let alerts = parse(200, body).unwrap();
        assert_eq!(alerts.iter().map(|a| a.alertname.as_str()).collect::<Vec<_>>(), ["C", "B"]);
        assert_eq!(alerts[1].severity(), "warning");
        assert_eq!(alerts[1].summary(), "s");
        assert!(parse(200, b"<html>").unwrap_err().contains("not JSON"));
        assert!(parse(200, br#"{"alerts":[]}"#).unwrap_err().contains("not an Alertmanager v2 alert list"));
        assert!(parse(503, b"unavailable").unwrap_err().starts_with("HTTP 503"));
    }

    #[test]
    fn an_alert_is_picked_by_fingerprint_or_unique_name() {
        let mut two = alert("Dup", None);
        two.fingerprint = "fp-dup-2".into();
        let alerts = vec![alert("One", None), alert("Dup", None), two];
        assert_eq!(pick(&alerts, "One").unwrap().fingerprint, "fp-One");
        assert_eq!(pick(&alerts, "fp-dup-2").unwrap().fingerprint, "fp-dup-2");
        let e = pick(&alerts, "Dup").unwrap_err();
        assert!(e.contains("2 alerts 'Dup'") && e.contains("fp-Dup") && e.contains("fp-dup-2"), "{e}");
        let e = pick(&alerts, "Onee").unwrap_err();
        assert!(e.contains("did you mean 'One'"), "{e}");
    }
}
