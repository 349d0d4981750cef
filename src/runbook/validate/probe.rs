//! Probes (check steps and monitors): one target, a timeout, expectations that fit the target.

use std::time::Duration;

use super::duration;
use super::scope::{self, LineIndex, Scope};
use crate::runbook::diagnostic::{Diagnostics, quote};
use crate::runbook::raw::{RawProbe, StatusSpec};
use crate::runbook::span::Sp;
use crate::runbook::template::{Name, Value};
use crate::runbook::{Probe, ProbeExpect, ProbeTarget};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// Validates a probe; `place` is the message tail naming where it is (" in step 'verify'").
pub fn probe(
    raw: &Sp<RawProbe>,
    scope: &Scope,
    lines: &LineIndex,
    diags: &mut Diagnostics,
    place: &str,
) -> Option<Probe> {
    let p = &raw.value;
    let given: Vec<(&str, &Sp<String>)> =
        [("http", &p.http), ("tcp", &p.tcp), ("command", &p.command), ("prometheus", &p.prometheus)]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect();
    let (kind, target) = match given.as_slice() {
        [one] => *one,
        [] => {
            diags.error(
                raw.pos,
                format!("check{place} has no target: give exactly one of `http: URL`, `tcp: HOST:PORT`, `command: SCRIPT` or `prometheus: QUERY`"),
            );
            return None;
        }
        [_, second, ..] => {
            diags.error(
                second.1.pos,
                format!(
                    "check{place} has both `{}` and `{}`: a probe has exactly one target; use two checks",
                    given[0].0, second.0
                ),
            );
            return None;
        }
    };
    let before = diags_len(diags);
    for (key, present, allowed) in [
        ("method", p.method.as_ref().map(|m| m.pos), "http"),
        ("headers", p.headers.as_ref().and_then(|h| h.keys().next()).map(|k| k.pos), "http"),
        ("insecure", p.insecure.as_ref().map(|m| m.pos), "http"),
    ] {
        if let Some(pos) = present
            && kind != allowed
        {
            diags.error(pos, format!("`{key}`{place} applies to http checks, not {kind} checks: remove it"));
        }
    }
    let target = match kind {
        "http" => {
            let url = scope::template(target, scope, lines, diags, place)?;
            check_url(target, &url, scope, diags, place);
            let method = match &p.method {
                Some(m) if !METHODS.contains(&m.value.as_str()) => {
                    diags.error(
                        m.pos,
                        format!(
                            "unknown HTTP method {}{place}: expected one of {}",
                            quote(&m.value),
                            METHODS.join(", ")
                        ),
                    );
                    "GET".to_owned()
                }
                Some(m) => m.value.clone(),
                None => "GET".to_owned(),
            };
            let mut headers = Vec::new();
            for (name, value) in p.headers.iter().flatten() {
                if let Some(t) = scope::template(value, scope, lines, diags, place) {
                    headers.push((name.value.clone(), t));
                }
            }
            ProbeTarget::Http { url, method, headers, insecure: p.insecure.as_ref().is_some_and(|b| b.value) }
        }
        "tcp" => {
            let address = scope::template(target, scope, lines, diags, place)?;
            check_address(target, &address, scope, diags, place);
            ProbeTarget::Tcp { address }
        }
        "prometheus" => {
            let query = scope::template(target, scope, lines, diags, place)?;
            if query.source().trim().is_empty() {
                diags.error(target.pos, format!("`prometheus`{place} is an empty query: write PromQL, like 'sum(rate(http_requests_total{{code=~\"5..\"}}[5m]))'"));
            }
            let lacking: Vec<&str> =
                scope.envs.iter().filter(|e| e.prometheus.is_none()).map(|e| e.name.as_str()).collect();
            if !lacking.is_empty() {
                diags.error(
                    target.pos,
                    format!(
                        "check{place} queries Prometheus, but environment{} {} {} no `prometheus:` in environments.yaml: add its URL there (prometheus: http://prometheus:9090), or limit where this runs with `environments:` or `when_env:`",
                        if lacking.len() == 1 { "" } else { "s" },
                        lacking.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", "),
                        if lacking.len() == 1 { "has" } else { "have" },
                    ),
                );
            }
            let has_value =
                p.expect.as_ref().is_some_and(|e| e.value.value.is_some() || e.value.all.is_some());
            if !has_value {
                diags.error(
                    p.expect.as_ref().map_or(target.pos, |e| e.pos),
                    format!("a prometheus check{place} needs `expect: {{ value: \"< 0.05\" }}` (one series) or `expect: {{ all: \"< 0.05\" }}` (every series): say what the value must be"),
                );
            }
            ProbeTarget::Prometheus { query }
        }
        _ => ProbeTarget::Command { script: scope::shell_template(target, scope, lines, diags, place)? },
    };
    let timeout = p.timeout.as_ref().and_then(|t| duration(t, diags, place)).unwrap_or(DEFAULT_TIMEOUT);
    let expect = p.expect.as_ref().map(|e| expect(e, kind, diags, place)).unwrap_or_default();
    (diags_len(diags) == before).then_some(Probe { target, timeout, expect })
}

/// Errors so far; a probe is built only if validating it added none.
fn diags_len(diags: &Diagnostics) -> usize {
    diags.error_count()
}

fn expect(
    raw: &Sp<crate::runbook::raw::RawProbeExpect>,
    kind: &str,
    diags: &mut Diagnostics,
    place: &str,
) -> ProbeExpect {
    let e = &raw.value;
    let keys = [
        ("status", e.status.as_ref().map(|v| v.pos), "http"),
        ("body_contains", e.body_contains.as_ref().map(|v| v.pos), "http"),
        ("json", e.json.as_ref().map(|v| v.pos), "http"),
        ("banner_contains", e.banner_contains.as_ref().map(|v| v.pos), "tcp"),
        ("exit", e.exit.as_ref().map(|v| v.pos), "command"),
        ("stdout_contains", e.stdout_contains.as_ref().map(|v| v.pos), "command"),
        ("value", e.value.as_ref().map(|v| v.pos), "prometheus"),
        ("all", e.all.as_ref().map(|v| v.pos), "prometheus"),
    ];
    for (key, pos, allowed) in keys {
        if let Some(pos) = pos
            && kind != allowed
        {
            diags.error(
                pos,
                format!("`expect.{key}`{place} applies to {allowed} checks, not {kind} checks: remove it"),
            );
        }
    }
    let status = match e.status.as_ref().map(|s| (&s.value, s.pos)) {
        None => vec![],
        Some((StatusSpec::One(code), pos)) => codes(&[*code], pos, diags, place),
        Some((StatusSpec::Many(list), pos)) => codes(list, pos, diags, place),
    };
    if let (Some(v), Some(a)) = (&e.value, &e.all) {
        diags.error(
            a.pos.max(v.pos),
            format!("`expect.value` and `expect.all`{place} both given: use `value` for one series, `all` for every series"),
        );
    }
    let comparison =
        e.value.as_ref().or(e.all.as_ref()).and_then(|c| match crate::prom::Comparison::parse(&c.value) {
            Ok(cmp) => Some(cmp),
            Err(why) => {
                let key = if e.value.is_some() { "value" } else { "all" };
                diags.error(c.pos, format!("`expect.{key}` {}{place} {why}", quote(&c.value)));
                None
            }
        });
    ProbeExpect {
        value: comparison,
        all: e.all.is_some(),
        status,
        body_contains: e.body_contains.as_ref().map(|v| v.value.clone()),
        json: e.json.as_ref().map(|v| v.value.clone()),
        max_latency: e.max_latency.as_ref().and_then(|d| duration(d, diags, place)),
        banner_contains: e.banner_contains.as_ref().map(|v| v.value.clone()),
        exit: e.exit.as_ref().map_or(0, |v| v.value),
        stdout_contains: e.stdout_contains.as_ref().map(|v| v.value.clone()),
    }
}

fn codes(list: &[u16], pos: crate::runbook::Pos, diags: &mut Diagnostics, place: &str) -> Vec<u16> {
    if list.is_empty() {
        diags.error(pos, format!("`expect.status`{place} is an empty list: give a code such as 200 or a list such as [200, 204]"));
    }
    for code in list {
        if !(100..=599).contains(code) {
            diags.error(pos, format!("HTTP status {code}{place} is out of range: expected 100 to 599"));
        }
    }
    list.to_vec()
}

/// The values to try a target with, one set per environment, when everything it uses is
/// known before the run starts (environment vars and the environment's name).
fn renderings(t: &crate::runbook::Template, scope: &Scope) -> Vec<(Option<String>, String)> {
    let envs: Vec<Option<&crate::runbook::Environment>> =
        if scope.envs.is_empty() { vec![None] } else { scope.envs.iter().copied().map(Some).collect() };
    envs.into_iter()
        .filter_map(|env| {
            let lookup = |name: &Name| match (name, env) {
                (Name::Var(n), Some(env)) if n == "environment" => Some(Value::plain(env.name.clone())),
                (Name::Var(n), Some(env)) if !scope.names.contains_key(n) => {
                    env.vars.get(n).map(Value::plain)
                }
                _ => None,
            };
            let rendered = t.render(crate::runbook::template::Quoting::Plain, &lookup).ok()?;
            Some((env.map(|e| e.name.clone()), rendered.real))
        })
        .collect()
}

fn in_env(env: &Option<String>) -> String {
    env.as_ref().map(|e| format!(" in environment '{e}'")).unwrap_or_default()
}

/// Checks a target in every environment it can render in; `problem` says what is wrong
/// with one rendered value, given how to show it (" (which is 'x' in environment 'y')").
fn check_rendered(
    raw: &Sp<String>,
    t: &crate::runbook::Template,
    scope: &Scope,
    diags: &mut Diagnostics,
    problem: impl Fn(&str, &str) -> Option<String>,
) {
    for (env, value) in renderings(t, scope) {
        let shown = if t.has_placeholders() {
            format!(" (which is {}{})", quote(&value), in_env(&env))
        } else {
            String::new()
        };
        if let Some(message) = problem(&value, &shown) {
            diags.error(raw.pos, message);
        }
    }
}

pub(super) fn check_url(
    raw: &Sp<String>,
    t: &crate::runbook::Template,
    scope: &Scope,
    diags: &mut Diagnostics,
    place: &str,
) {
    let written = quote(&raw.value);
    check_rendered(raw, t, scope, diags, |url, shown| match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => None,
        Ok(u) => Some(format!(
            "URL {written}{shown}{place} uses '{}': an http check needs an http:// or https:// URL",
            u.scheme()
        )),
        Err(e) => Some(format!(
            "URL {written}{shown}{place} does not parse ({e}): write a full URL such as https://host/health"
        )),
    });
}

fn check_address(
    raw: &Sp<String>,
    t: &crate::runbook::Template,
    scope: &Scope,
    diags: &mut Diagnostics,
    place: &str,
) {
    let written = quote(&raw.value);
    check_rendered(raw, t, scope, diags, |address, shown| {
        let port_ok = address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
        (!port_ok).then(|| {
            format!("TCP address {written}{shown}{place} is not HOST:PORT: write it like db.internal:5432")
        })
    });
}

/// Compiles `stdout_matches`-style regexes (searched, not anchored).
pub fn regex_search(raw: &Sp<String>, diags: &mut Diagnostics, place: &str) -> Option<regex::Regex> {
    match super::compile_regex(&raw.value) {
        Ok(re) => Some(re),
        Err(e) => {
            diags.error(
                raw.pos,
                format!(
                    "invalid regular expression {}{place}: {}",
                    quote(&raw.value),
                    first_line(&e.to_string())
                ),
            );
            None
        }
    }
}

pub(super) fn first_line(text: &str) -> String {
    // The regex crate's messages draw the pattern over several lines; keep the error itself.
    text.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or(text)
        .trim_start_matches("error: ")
        .to_owned()
}
