//! `environments.yaml`: environments, their vars, and the monitors of the health pane.

use std::collections::HashSet;
use std::time::Duration;

use super::scope::{LineIndex, Scope};
use super::{duration, probe};
use crate::runbook::diagnostic::{Diagnostics, did_you_mean, quote};
use crate::runbook::raw::{RawEndpoint, RawEnvironments};
use crate::runbook::span::Sp;
use crate::runbook::template::is_valid_name;
use crate::runbook::{Endpoint, Environment, Environments, Monitor};

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

pub fn environments(raw: RawEnvironments, source: &str, diags: &mut Diagnostics) -> Option<Environments> {
    let lines = LineIndex::new(source);
    let mut out = Environments::default();
    for (name, env) in &raw.environments {
        if !super::valid_step_id(&name.value) {
            diags.error(
                name.pos,
                format!(
                    "invalid environment name {}: use letters, digits, '-', '_' and '.'",
                    quote(&name.value)
                ),
            );
        }
        for key in env.value.vars.keys() {
            if !is_valid_name(&key.value) {
                diags.error(
                    key.pos,
                    format!("invalid var name {} in environment '{}': use letters, digits and '_', starting with a letter", quote(&key.value), name.value),
                );
            }
        }
        out.environments.push(Environment {
            name: name.value.clone(),
            description: env.value.description.as_ref().map(|d| d.value.clone()),
            protected: env.value.protected.as_ref().is_some_and(|p| p.value),
            vars: env.value.vars.iter().map(|(k, v)| (k.value.clone(), v.value.clone())).collect(),
            prometheus: None,
            alertmanager: None,
        });
    }
    // Monitoring endpoints are templated with their own environment's vars.
    let mut endpoints = Vec::new();
    for (i, (name, env)) in raw.environments.iter().enumerate() {
        let only = [name.value.clone()];
        let scope = Scope::new(Some(&out), Some(&only));
        for (key, raw_endpoint) in
            [("prometheus", &env.value.prometheus), ("alertmanager", &env.value.alertmanager)]
        {
            if let Some(ep) = raw_endpoint {
                let place = format!(" in `{key}` of environment '{}'", name.value);
                endpoints.push((i, key, endpoint(ep, &scope, &lines, diags, &place)));
            }
        }
    }
    for (i, key, ep) in endpoints {
        if key == "prometheus" {
            out.environments[i].prometheus = ep;
        } else {
            out.environments[i].alertmanager = ep;
        }
    }
    let names: Vec<&str> = out.environments.iter().map(|e| e.name.as_str()).collect();
    if names.is_empty() {
        diags.error(
            crate::runbook::Pos::new(1, 1),
            "environments.yaml defines no environments: add one under `environments:`",
        );
    }
    let unknown_env = |value: &str| {
        let hint = did_you_mean(value, names.iter().copied())
            .map(|s| format!("did you mean '{s}'? "))
            .unwrap_or_default();
        format!("environment {} is not defined here ({hint}known: {})", quote(value), names.join(", "))
    };
    if let Some(default) = &raw.default {
        if names.contains(&default.value.as_str()) {
            out.default = Some(default.value.clone());
        } else {
            diags.error(default.pos, format!("`default` names {}", unknown_env(&default.value)));
        }
    }
    let mut seen = HashSet::new();
    let mut monitors = Vec::new();
    for raw_monitor in &raw.monitors {
        let m = &raw_monitor.value;
        let place = format!(" in monitor '{}'", m.id.value);
        if !super::valid_step_id(&m.id.value) {
            diags.error(
                m.id.pos,
                format!("invalid monitor id {}: use letters, digits, '-', '_' and '.'", quote(&m.id.value)),
            );
        }
        if !seen.insert(m.id.value.clone()) {
            diags.error(
                m.id.pos,
                format!("duplicate monitor id '{}': give each monitor its own id", m.id.value),
            );
        }
        for env in m.environments.iter().flatten() {
            if !names.contains(&env.value.as_str()) {
                diags.error(env.pos, format!("`environments`{place} names {}", unknown_env(&env.value)));
            }
        }
        let allowed: Option<Vec<String>> =
            m.environments.as_ref().map(|l| l.iter().map(|e| e.value.clone()).collect());
        // Monitors run outside any runbook: only environment vars are in scope.
        let scope = Scope::new(Some(&out), allowed.as_deref());
        let probe = probe::probe(&m.check, &scope, &lines, diags, &place);
        let interval =
            m.interval.as_ref().and_then(|i| duration(i, diags, &place)).unwrap_or(DEFAULT_INTERVAL);
        if interval < Duration::from_millis(100) {
            diags.error(
                m.interval.as_ref().map_or(m.id.pos, |i| i.pos),
                format!("`interval`{place} is below 100ms: that would flood the service"),
            );
        }
        let fail_after = m.fail_after.as_ref().map_or(1, |f| f.value);
        if fail_after == 0 {
            diags.error(
                m.fail_after.as_ref().map_or(m.id.pos, |f| f.pos),
                format!("`fail_after`{place} is 0: it must be at least 1"),
            );
        }
        if let Some(probe) = probe {
            monitors.push(Monitor {
                id: m.id.value.clone(),
                title: m.title.as_ref().map_or_else(|| m.id.value.clone(), |t| t.value.clone()),
                probe,
                interval,
                fail_after,
                environments: allowed,
            });
        }
    }
    out.monitors = monitors;
    (!diags.has_errors()).then_some(out)
}

/// A `prometheus:` or `alertmanager:` endpoint: a URL that renders to http(s) in its
/// environment, and headers with valid names.
fn endpoint(
    raw: &Sp<RawEndpoint>,
    scope: &Scope,
    lines: &LineIndex,
    diags: &mut Diagnostics,
    place: &str,
) -> Option<Endpoint> {
    let (url, headers) = match &raw.value {
        RawEndpoint::Url(u) => (u.clone(), Default::default()),
        RawEndpoint::Full(f) => (f.url.clone(), f.headers.clone()),
    };
    let url_sp = Sp { value: url, pos: raw.pos };
    let template = super::scope::template(&url_sp, scope, lines, diags, place)?;
    let before = diags.error_count();
    probe::check_url(&url_sp, &template, scope, diags, place);
    let mut out = Vec::new();
    for (name, value) in &headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            diags.error(
                raw.pos,
                format!("header name {}{place} is not a valid HTTP header name", quote(name)),
            );
        }
        let sp = Sp { value: value.clone(), pos: raw.pos };
        out.push((name.clone(), super::scope::template(&sp, scope, lines, diags, place)?));
    }
    (diags.error_count() == before).then_some(Endpoint { url: template, headers: out })
}
