//! Prometheus: the `prometheus:` probe's comparison (`< 0.05`), the environment's monitoring
//! endpoints rendered for a request, and reading an instant query's answer.
//!
//! Everything here is pure except nothing: the request itself is made by `exec::probe`, which
//! hands the answer's status and body to [`evaluate`].

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::runbook::template::{Name, Quoting, Value};
use crate::runbook::{Endpoint, Environment};

/// How a value must compare to a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

/// `expect: { value: "< 0.05" }`: an operator and a threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub op: Op,
    pub threshold: f64,
    /// The threshold as written (`0.05`, `1e3`), for display.
    pub written: String,
}

impl Comparison {
    /// Parses `< 0.05`, `>=1`, `== 0`, `!= 2.5`, `< +Inf`. The error is a sentence.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let ops =
            [("<=", Op::Le), (">=", Op::Ge), ("==", Op::Eq), ("!=", Op::Ne), ("<", Op::Lt), (">", Op::Gt)];
        let Some((op, rest)) = ops.iter().find_map(|(s, op)| t.strip_prefix(s).map(|r| (*op, r.trim())))
        else {
            let hint = if t.starts_with('=') { " (equality is written `==`)" } else { "" };
            return Err(format!(
                "starts with no comparison{hint}: write an operator (<, <=, >, >=, ==, !=) and a number, like \"< 0.05\""
            ));
        };
        if rest.is_empty() {
            return Err(format!(
                "has no number after '{}': write it like \"{} 0.05\"",
                op.symbol(),
                op.symbol()
            ));
        }
        let threshold: f64 = rest.parse().map_err(|_| {
            format!("compares with '{rest}', which is not a number: write it like \"< 0.05\"")
        })?;
        if threshold.is_nan() {
            return Err("compares with NaN, which nothing equals: use a number".into());
        }
        Ok(Self { op, threshold, written: rest.to_owned() })
    }

    /// Whether `value` holds; NaN never does.
    pub fn holds(&self, value: f64) -> bool {
        if value.is_nan() {
            return false;
        }
        match self.op {
            Op::Lt => value < self.threshold,
            Op::Le => value <= self.threshold,
            Op::Gt => value > self.threshold,
            Op::Ge => value >= self.threshold,
            Op::Eq => value == self.threshold,
            Op::Ne => value != self.threshold,
        }
    }

    /// Of several values, the one nearest to failing (the largest for `<`, the smallest for `>`).
    fn worst<'a>(&self, values: &'a [Series]) -> Option<&'a Series> {
        let by = |a: &&Series, b: &&Series| a.value.total_cmp(&b.value);
        match self.op {
            Op::Lt | Op::Le => values.iter().max_by(by),
            Op::Gt | Op::Ge => values.iter().min_by(by),
            Op::Eq | Op::Ne => values.first(),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.symbol(), self.written)
    }
}

/// An environment's monitoring server, rendered for requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The base URL (secrets in it are real: never shown).
    pub base: String,
    pub headers: Vec<(String, String)>,
    /// The base URL as shown (secrets masked).
    pub shown: String,
    /// Values to mask in anything shown.
    pub secrets: Vec<String>,
}

/// Renders an environment's endpoint: its vars, `{{ environment }}`, and `{{ env.NAME }}`
/// from `env_var` (always a secret: a token never reaches the screen or the journal).
pub fn render_endpoint(
    endpoint: &Endpoint,
    env: &Environment,
    env_var: &dyn Fn(&str) -> Option<String>,
) -> Result<Server, String> {
    let lookup = |name: &Name| match name {
        Name::Var(n) if n == "environment" => Some(Value::plain(env.name.clone())),
        Name::Var(n) => env.vars.get(n).map(Value::plain),
        Name::Env(n) => env_var(n).map(Value::secret),
    };
    let missing = |m: crate::runbook::template::Missing| match &m.0 {
        Name::Env(n) => format!(
            "environment variable {n} is not set (environments.yaml uses '{{{{ env.{n} }}}}' for '{}')",
            env.name
        ),
        other => format!("'{other}' has no value in environment '{}'", env.name),
    };
    let url = endpoint.url.render(Quoting::Plain, &lookup).map_err(missing)?;
    let mut secrets = url.secrets.clone();
    let mut headers = Vec::new();
    for (k, t) in &endpoint.headers {
        let r = t.render(Quoting::Plain, &lookup).map_err(missing)?;
        secrets.extend(r.secrets);
        headers.push((k.clone(), r.real));
    }
    Ok(Server { base: url.real, headers, shown: url.shown, secrets })
}

/// `base` + `path` (keeping a path prefix such as `/prometheus`), with query parameters.
pub fn api_url(base: &str, path: &str, params: &[(&str, &str)]) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(base).map_err(|e| format!("URL does not parse ({e})"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("URL uses '{}': write an http:// or https:// URL", url.scheme()));
    }
    let joined = format!("{}/{}", url.path().trim_end_matches('/'), path.trim_start_matches('/'));
    url.set_path(&joined);
    url.set_query(None);
    url.set_fragment(None);
    if !params.is_empty() {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Ok(url)
}

/// One series of an instant query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// The value as Prometheus wrote it ("0.012", "NaN", "+Inf").
    pub text: String,
}

#[derive(Deserialize)]
struct ApiAnswer {
    status: String,
    #[serde(default)]
    data: Option<QueryData>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (serde_json::Value, String),
}

/// An answer that holds numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub series: Vec<Series>,
    /// The answer is an instant vector, so its query can be joined with others by `or`
    /// (a scalar answers the same query alone, but cannot be joined).
    pub vector: bool,
}

/// An answer that holds no numbers, and why.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Refusal {
    pub reason: String,
    /// Prometheus answered, and refused the query itself (bad PromQL, a query it cannot
    /// execute, a string or range vector): another query could still be answered. Otherwise
    /// the server failed (5xx, not JSON, timed out) and any query would have.
    pub by_query: bool,
    /// The query ran out of time (Prometheus's own timeout, or the request's).
    pub timed_out: bool,
    /// A POST was refused as such (HTTP 403 or 405): a proxy before Prometheus may allow
    /// only GET.
    pub method_refused: bool,
}

/// Reads an instant query's answer into its series, telling a refused query from a failed
/// server and a vector from a scalar. The reason says what was wrong, with Prometheus's own
/// message for a bad query.
pub fn read_answer(status: u16, body: &[u8]) -> Result<Answer, Refusal> {
    let server = |reason: String| Refusal { reason, ..Refusal::default() };
    let query = |reason: String| Refusal { reason, by_query: true, ..Refusal::default() };
    let answer: ApiAnswer = match serde_json::from_slice(body) {
        Ok(a) => a,
        Err(_) => {
            let start: String = String::from_utf8_lossy(&body[..body.len().min(80)])
                .chars()
                .filter(|c| !c.is_control())
                .collect();
            return Err(server(format!(
                "HTTP {status}, not a Prometheus API answer (not JSON: '{}')",
                start.trim()
            )));
        }
    };
    if answer.status != "success" {
        let kind = answer.error_type.unwrap_or_else(|| "error".into());
        let why = answer.error.unwrap_or_else(|| format!("HTTP {status}"));
        // 400: the query does not parse; 422: it cannot be executed (too many samples, …).
        // 503 and the rest: the server timed out, was cancelled or is unwell.
        let timed_out = kind == "timeout";
        let reason = format!("Prometheus says {kind}: {why}");
        let refusal = if matches!(status, 400 | 422) { query(reason) } else { server(reason) };
        return Err(Refusal { timed_out, ..refusal });
    }
    let Some(data) = answer.data else {
        return Err(server(format!("HTTP {status}, a Prometheus answer without data")));
    };
    match data.result_type.as_str() {
        "vector" => {
            let samples: Vec<VectorSample> = serde_json::from_value(data.result)
                .map_err(|e| server(format!("an unexpected vector in the answer ({e})")))?;
            let series = samples
                .into_iter()
                .map(|s| Series { value: parse_value(&s.value.1), text: s.value.1, labels: s.metric })
                .collect();
            Ok(Answer { series, vector: true })
        }
        "scalar" => {
            let (_, text): (serde_json::Value, String) = serde_json::from_value(data.result)
                .map_err(|e| server(format!("an unexpected scalar in the answer ({e})")))?;
            let series = vec![Series { labels: BTreeMap::new(), value: parse_value(&text), text }];
            Ok(Answer { series, vector: false })
        }
        "string" => {
            let (_, text): (serde_json::Value, String) =
                serde_json::from_value(data.result).unwrap_or_default();
            Err(query(format!(
                "the query yields a string ('{}'), not a number",
                crate::text::escape_controls(&text)
            )))
        }
        "matrix" => Err(query(
            "the query yields a range vector: write an instant query (wrap it in rate(), max_over_time(), …)"
                .into(),
        )),
        other => Err(server(format!("the answer has an unknown result type '{other}'"))),
    }
}

/// The label a joined query tags each of its queries' series with.
pub const BATCH_LABEL: &str = "__runbook_batch";

/// Several instant-vector queries as one: each is tagged with its index by `label_replace`
/// (an empty source label matches the empty regex, so the tag is set on every series) and
/// the tagged vectors are joined by `or`, which keeps every series since no two share a tag.
/// Newlines around each query keep a trailing `# comment` from swallowing the parenthesis.
pub fn join_queries(queries: &[&str]) -> String {
    queries
        .iter()
        .enumerate()
        .map(|(i, q)| format!("label_replace((\n{q}\n), \"{BATCH_LABEL}\", \"{i}\", \"\", \"\")"))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Whether `query` can go into [`join_queries`] with its answer unchanged: it stands on its
/// own inside the parentheses the join puts around it. A query whose brackets do not
/// balance, or that leaves a string open, fails alone but could parse once joined (`up) or
/// (vector(1)` would, and could even answer for the query joined after it); one that names
/// the tag label would lose its own value of it. Such queries are asked alone.
pub fn joinable(query: &str) -> bool {
    if query.contains(BATCH_LABEL) {
        return false;
    }
    let mut open: Vec<char> = Vec::new();
    let mut chars = query.chars();
    while let Some(c) = chars.next() {
        match c {
            '(' | '[' | '{' => open.push(c),
            ')' | ']' | '}' => {
                let wanted = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open.pop() != Some(wanted) {
                    return false;
                }
            }
            // A comment runs to the end of its line.
            '#' if !chars.by_ref().any(|c| c == '\n') => break,
            '"' | '\'' | '`' => loop {
                match chars.next() {
                    None => return false,
                    Some('\\') if c != '`' => {
                        if chars.next().is_none() {
                            return false;
                        }
                    }
                    Some('\n') if c != '`' => return false,
                    Some(q) if q == c => break,
                    Some(_) => {}
                }
            },
            _ => {}
        }
    }
    open.is_empty()
}

/// The answer of [`join_queries`] split back into one list of series per query, the tag
/// removed; `count` is the number of queries joined.
pub fn split_joined(series: Vec<Series>, count: usize) -> Vec<Vec<Series>> {
    let mut each = vec![Vec::new(); count];
    for mut s in series {
        let Some(i) = s.labels.remove(BATCH_LABEL).and_then(|t| t.parse::<usize>().ok()) else { continue };
        if let Some(list) = each.get_mut(i) {
            list.push(s);
        }
    }
    each
}

/// The queries of a [`join_queries`] text with their tags, or `None` when `text` is not one.
/// (For servers that stand in for Prometheus, like the demo's.)
pub fn unjoin(text: &str) -> Option<Vec<(usize, String)>> {
    let open = "label_replace((\n";
    let close = format!("\n), \"{BATCH_LABEL}\", \"");
    if !text.starts_with(open) {
        return None;
    }
    text.split(open)
        .skip(1)
        .map(|part| {
            let (query, rest) = part.split_once(close.as_str())?;
            let (tag, _) = rest.split_once('"')?;
            Some((tag.parse().ok()?, query.to_owned()))
        })
        .collect()
}

/// `endpoint` with query parameters, as a URL string (also the form body of a POST).
pub fn with_params(endpoint: &str, params: &[(&str, &str)]) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(endpoint).map_err(|e| format!("URL does not parse ({e})"))?;
    url.query_pairs_mut().clear().extend_pairs(params);
    Ok(url)
}

/// Prometheus writes numbers as strings, with `NaN`, `+Inf` and `-Inf`.
fn parse_value(text: &str) -> f64 {
    text.parse().unwrap_or(f64::NAN)
}

/// The verdict on a query's series: `Ok(observed)` when it holds, else the reason and, when
/// there was a value, what was observed. Observed reads "0.012 < 0.05 ✓".
pub fn judge(series: &[Series], cmp: &Comparison, all: bool) -> Result<String, (String, Option<String>)> {
    match series {
        [] => Err(("the query returned no series".into(), Some("no series".into()))),
        [one] if !all => {
            if one.value.is_nan() {
                return Err(("the query yields NaN".into(), Some(format!("NaN {cmp} ✗"))));
            }
            if cmp.holds(one.value) {
                Ok(format!("{} {cmp} ✓", one.text))
            } else {
                Err((format!("{} is not {cmp}", one.text), Some(format!("{} {cmp} ✗", one.text))))
            }
        }
        many if !all => Err((
            format!(
                "the query returned {} series, not one: aggregate it (sum, max, …) or use `expect: {{ all: \"{cmp}\" }}`",
                many.len()
            ),
            Some(format!("{} series", many.len())),
        )),
        many => {
            let failing: Vec<&Series> = many.iter().filter(|s| !cmp.holds(s.value)).collect();
            match failing.first() {
                None => {
                    let worst = cmp.worst(many).map(|s| s.text.as_str()).unwrap_or_default();
                    Ok(format!("{} series {cmp} ✓ (worst {worst})", many.len()))
                }
                Some(bad) => {
                    let why = if bad.value.is_nan() { " (NaN)" } else { "" };
                    let observed = format!(
                        "{} {} {cmp} ✗ ({} of {} series)",
                        labels(&bad.labels),
                        bad.text,
                        failing.len(),
                        many.len()
                    );
                    Err((format!("{} {} is not {cmp}{why}", labels(&bad.labels), bad.text), Some(observed)))
                }
            }
        }
    }
}

/// `{instance="a",job="api"}`, at most about 80 characters.
pub fn labels(map: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = map.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    let mut text = format!("{{{}}}", inner.join(","));
    if text.chars().count() > 80 {
        text = text.chars().take(78).collect::<String>() + "…}";
    }
    crate::text::escape_controls(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(s: &str) -> Comparison {
        Comparison::parse(s).unwrap()
    }

    /// The series of an answer, or the reason it has none.
    fn parse_answer(status: u16, body: &[u8]) -> Result<Vec<Series>, String> {
        read_answer(status, body).map(|a| a.series).map_err(|r| r.reason)
    }

    fn answer(result_type: &str, result: &str) -> Vec<u8> {
        format!(r#"{{"status":"success","data":{{"resultType":"{result_type}","result":{result}}}}}"#)
            .into_bytes()
    }

    fn series(values: &[&str]) -> Vec<Series> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Series {
                labels: [("instance".to_owned(), format!("n{i}"))].into(),
                value: parse_value(v),
                text: (*v).to_owned(),
            })
            .collect()
    }

    #[test]
    fn comparisons_parse_with_or_without_spaces() {
        for (text, op, t) in [
            ("< 0.05", Op::Lt, 0.05),
            ("<=1", Op::Le, 1.0),
            (" >  2 ", Op::Gt, 2.0),
            (">= -3.5", Op::Ge, -3.5),
            ("== 0", Op::Eq, 0.0),
            ("!= 1e3", Op::Ne, 1000.0),
            ("< +Inf", Op::Lt, f64::INFINITY),
        ] {
            let c = cmp(text);
            assert_eq!((c.op, c.threshold), (op, t), "{text}");
        }
        assert_eq!(cmp("<0.05").to_string(), "< 0.05");
        for bad in ["0.05", "= 1", "<", "< abc", "< NaN", "=> 1", ""] {
            assert!(Comparison::parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(Comparison::parse("= 1").unwrap_err().contains("=="));
    }

    #[test]
    fn every_operator_compares_and_nan_never_holds() {
        let cases = [
            ("< 1", [true, false, false]),
            ("<= 1", [true, true, false]),
            ("> 1", [false, false, true]),
            (">= 1", [false, true, true]),
            ("== 1", [false, true, false]),
            ("!= 1", [true, false, true]),
        ];
        for (text, want) in cases {
            let c = cmp(text);
            assert_eq!([c.holds(0.5), c.holds(1.0), c.holds(2.0)], want, "{text}");
            assert!(!c.holds(f64::NAN), "NaN never holds for {text}");
        }
        assert!(cmp("< 1").holds(f64::NEG_INFINITY));
        assert!(!cmp("< 1").holds(f64::INFINITY));
    }

    #[test]
    fn one_series_is_judged_and_observed() {
        let c = cmp("< 0.05");
        assert_eq!(judge(&series(&["0.012"]), &c, false), Ok("0.012 < 0.05 ✓".into()));
        let (why, observed) = judge(&series(&["0.2"]), &c, false).unwrap_err();
        assert_eq!(why, "0.2 is not < 0.05");
        assert_eq!(observed.as_deref(), Some("0.2 < 0.05 ✗"));
        let (why, _) = judge(&series(&["NaN"]), &c, false).unwrap_err();
        assert_eq!(why, "the query yields NaN");
    }

    #[test]
    fn no_series_and_many_series_fail_unless_all_is_asked() {
        let c = cmp("< 0.05");
        assert_eq!(judge(&[], &c, false).unwrap_err().0, "the query returned no series");
        assert_eq!(judge(&[], &c, true).unwrap_err().0, "the query returned no series");
        let two = series(&["0.01", "0.02"]);
        let (why, _) = judge(&two, &c, false).unwrap_err();
        assert!(why.contains("returned 2 series") && why.contains("all:"), "{why}");
        assert_eq!(judge(&two, &c, true), Ok("2 series < 0.05 ✓ (worst 0.02)".into()));
        let mixed = series(&["0.01", "0.3", "NaN"]);
        let (why, observed) = judge(&mixed, &c, true).unwrap_err();
        assert_eq!(why, "{instance=\"n1\"} 0.3 is not < 0.05");
        assert_eq!(observed.as_deref(), Some("{instance=\"n1\"} 0.3 < 0.05 ✗ (2 of 3 series)"));
        assert_eq!(judge(&series(&["5", "9"]), &cmp("> 1"), true), Ok("2 series > 1 ✓ (worst 5)".into()));
    }

    #[test]
    fn answers_of_every_shape_are_read_or_refused_with_a_reason() {
        let v = parse_answer(200, &answer("vector", r#"[{"metric":{"job":"api"},"value":[1.5,"0.25"]}]"#))
            .unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].value, v[0].text.as_str()), (0.25, "0.25"));
        assert_eq!(v[0].labels["job"], "api");
        let s = parse_answer(200, &answer("scalar", r#"[1.5,"+Inf"]"#)).unwrap();
        assert_eq!(s[0].value, f64::INFINITY);
        assert!(parse_answer(200, &answer("scalar", r#"[1.5,"NaN"]"#)).unwrap()[0].value.is_nan());
        assert_eq!(parse_answer(200, &answer("vector", "[]")).unwrap(), vec![]);
        let e = parse_answer(200, &answer("string", r#"[1.5,"hello"]"#)).unwrap_err();
        assert!(e.contains("yields a string ('hello')"), "{e}");
        let e = parse_answer(200, &answer("matrix", "[]")).unwrap_err();
        assert!(e.contains("range vector"), "{e}");
        let bad = br#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected right parenthesis ')'"}"#;
        let e = parse_answer(400, bad).unwrap_err();
        assert!(e.starts_with("Prometheus says bad_data: invalid parameter"), "{e}");
        let e = parse_answer(502, b"<html>Bad Gateway</html>").unwrap_err();
        assert!(e.contains("HTTP 502, not a Prometheus API answer"), "{e}");
        let e = parse_answer(200, br#"{"status":"success","data":{"resultType":"vector","result":{"x":1}}}"#)
            .unwrap_err();
        assert!(e.contains("unexpected vector"), "{e}");
    }

    #[test]
    fn a_refused_query_is_told_from_a_failed_server_and_a_scalar_from_a_vector() {
        let v = read_answer(200, &answer("vector", r#"[{"metric":{},"value":[1,"1"]}]"#)).unwrap();
        assert!(v.vector);
        assert!(!read_answer(200, &answer("scalar", r#"[1,"1"]"#)).unwrap().vector);
        let refused = |status: u16, body: &[u8]| read_answer(status, body).unwrap_err().by_query;
        let api_error = br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert!(refused(400, api_error), "bad PromQL is the query's fault");
        assert!(refused(422, br#"{"status":"error","errorType":"execution","error":"too many samples"}"#));
        assert!(refused(200, &answer("string", r#"[1,"x"]"#)));
        assert!(refused(200, &answer("matrix", "[]")));
        let timeout =
            read_answer(503, br#"{"status":"error","errorType":"timeout","error":"query timed out"}"#);
        assert!(timeout.as_ref().is_err_and(|r| !r.by_query && r.timed_out), "{timeout:?}");
        assert!(!refused(502, b"<html>Bad Gateway</html>"), "a proxy's error page is the server's");
    }

    #[test]
    fn joined_queries_tag_each_query_and_split_back_without_the_tag() {
        let joined = join_queries(&["sum(rate(x[5m]))", "up # a comment"]);
        assert_eq!(
            joined,
            "label_replace((\nsum(rate(x[5m]))\n), \"__runbook_batch\", \"0\", \"\", \"\") or \
             label_replace((\nup # a comment\n), \"__runbook_batch\", \"1\", \"\", \"\")"
        );
        let tagged = |i: &str, job: &str, v: &str| Series {
            labels: [(BATCH_LABEL.to_owned(), i.to_owned()), ("job".to_owned(), job.to_owned())].into(),
            value: parse_value(v),
            text: v.to_owned(),
        };
        let answer =
            vec![tagged("1", "a", "1"), tagged("0", "", "0.5"), tagged("1", "b", "0"), tagged("7", "", "9")];
        let each = split_joined(answer, 3);
        assert_eq!(each[0].len(), 1);
        assert_eq!(each[0][0].text, "0.5");
        assert_eq!(each[1].iter().map(|s| s.labels["job"].as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(each[1].iter().all(|s| !s.labels.contains_key(BATCH_LABEL)), "the tag is removed");
        assert!(each[2].is_empty(), "a query without series gets none (and a stray index is dropped)");
        let queries = ["sum(rate(x[5m])) or vector(0)", "up # a comment", "queue_depth"];
        let back = unjoin(&join_queries(&queries)).unwrap();
        assert_eq!(back, queries.iter().enumerate().map(|(i, q)| (i, (*q).to_owned())).collect::<Vec<_>>());
        assert_eq!(unjoin("sum(up)"), None);
    }

    #[test]
    fn only_queries_that_stand_on_their_own_are_joined() {
        for q in [
            "sum(rate(x{code=~\"5..\"}[5m])) by (job)",
            "up # a comment with ) and \"",
            "x{a=\")\"} or y{b='(', c=`]`}",
            "x{a=\"\\\")\"}",
            "up @ end() offset 5m == bool 1",
        ] {
            assert!(joinable(q), "{q}");
        }
        for q in [
            "up) or (vector(1)",
            "vector(1)), \"x\", \"1\", \"\", \"\") or label_replace((vector(2)",
            "sum(up",
            "up)",
            "x{a=\"open}",
            "x{a=`open}",
            "(]",
            "label_replace(up, \"__runbook_batch\", \"x\", \"\", \"\")",
        ] {
            assert!(!joinable(q), "{q}");
        }
    }

    #[test]
    fn api_urls_keep_a_path_prefix_and_encode_the_query() {
        let u = api_url("http://prom:9090", "/api/v1/query", &[("query", "sum(x{code=~\"5..\"})")]).unwrap();
        assert_eq!(u.path(), "/api/v1/query");
        assert_eq!(u.query_pairs().next().unwrap().1, "sum(x{code=~\"5..\"})");
        let u = api_url("https://mon.example/prometheus/", "/api/v1/query", &[]).unwrap();
        assert_eq!(u.as_str(), "https://mon.example/prometheus/api/v1/query");
        assert!(api_url("prom:9090", "/x", &[]).is_err());
        assert!(api_url("not a url", "/x", &[]).is_err());
    }
}
