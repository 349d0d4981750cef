//! Instant queries against Prometheus, one at a time or batched.
//!
//! A check step asks its query alone. Monitors ask through a [`Batcher`]: a thousand gates at a
//! 1 s interval would otherwise be a thousand HTTP requests and JSON answers a second, most of
//! the monitoring process's CPU. Queries to one server (same URL, same headers) that fall due
//! within [`WINDOW`] of each other go out as one request: identical queries are asked once, and
//! distinct ones are joined by [`prom::join_queries`] and split back by their tag.
//!
//! Joining must never change an answer. A query that does not stand on its own (its brackets
//! or strings do not close, or it names the tag label) is asked alone: joined, it could parse
//! where alone it does not, or change another query's answer. A query that cannot be joined (it yields a scalar, a
//! string or a range vector, or Prometheus refuses it) makes the joined request fail as a whole;
//! the batch is then halved until each query that cannot be joined is asked alone, so every
//! query gets exactly the answer it would have had alone, and those found that way are asked
//! alone from then on. When both halves of a refused batch answer (the whole was too big to
//! execute), batches to that server get smaller instead. A server failure (refused connection,
//! 5xx) is every query's answer, as it would have been.
//!
//! Nor may joining make a quick query fail or much later. Prometheus evaluates a joined query
//! part after part, so a batch has half the time left to the soonest deadline of its queries.
//! A batch that runs out of it is given up (so Prometheus stops evaluating it) and each of its
//! queries asked alone in the time it has left (a quick one answers in milliseconds); the slow
//! one is asked alone from then on. A batch that takes more than a quarter of its shortest
//! timeout makes batches to that server smaller, and has each of its queries asked alone once:
//! one that takes a quarter of its own timeout alone is asked alone from then on. Quick
//! batches let them grow back.
//!
//! Answers are read up to [`ANSWER_LIMIT`]; a bigger one is refused like a query Prometheus
//! cannot execute, so a batch that big is halved. Behind a proxy that refuses POST (joined
//! requests are POSTs), one query asked alone tells, and that server's queries are each asked
//! alone from then on.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::probe::{http_error, read_at_most};
use crate::prom::{self, Answer, Refusal, Series};
use crate::runbook::duration::format as fmt_duration;

/// How long the first query of a batch waits for others to fall due. Monitors probe at
/// intervals of a second or more with ±10% jitter, so this delays a result by at most 2% of
/// an interval; a thousand monitors at 1 s make batches of about twenty.
pub const WINDOW: Duration = Duration::from_millis(20);

/// The most queries one request carries (Prometheus evaluates a joined query in one go).
const MOST_QUERIES: usize = 64;

/// The most of an answer read.
const ANSWER_LIMIT: usize = 16 * 1024 * 1024;

/// The most queries of batches that ran out of time asked alone at once, per server. A
/// Prometheus that does not answer at all (a network partition) would otherwise hold a
/// socket for every monitor until its deadline, on top of the batches; queued past their
/// deadline, they are answered as timed out without a socket.
const MOST_ALONE_AT_ONCE: usize = 16;

/// A Prometheus API endpoint as a request needs it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Server {
    /// The `/api/v1/query` URL.
    pub endpoint: String,
    pub headers: Vec<(String, String)>,
}

/// Asks `query` alone (a GET, as a person would in a browser).
pub async fn instant(
    client: &reqwest::Client,
    server: &Server,
    query: &str,
    timeout: Duration,
) -> Result<Vec<Series>, String> {
    request(client, server, query, timeout, false).await.map(|a| a.series).map_err(|r| r.reason)
}

/// One request to `/api/v1/query`; `post` sends the parameters as a form body, which has no
/// length limit, for joined queries.
async fn request(
    client: &reqwest::Client,
    server: &Server,
    query: &str,
    timeout: Duration,
    post: bool,
) -> Result<Answer, Refusal> {
    let failed = |reason: String| Refusal { reason, ..Refusal::default() };
    let lost = |e: reqwest::Error| Refusal {
        reason: http_error(&e, timeout),
        timed_out: e.is_timeout(),
        ..Refusal::default()
    };
    if timeout < Duration::from_millis(1) {
        // The asker has stopped waiting.
        return Err(no_time_left());
    }
    let limit = fmt_duration(timeout);
    let url =
        prom::with_params(&server.endpoint, &[("query", query), ("timeout", &limit)]).map_err(failed)?;
    let request = if post {
        let form = url.query().unwrap_or_default().to_owned();
        client
            .post(server.endpoint.as_str())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
    } else {
        client.get(url)
    };
    let mut request = request.timeout(timeout).header("Accept", "application/json");
    for (k, v) in &server.headers {
        request = request.header(k, v);
    }
    let mut response = request.send().await.map_err(lost)?;
    let status = response.status().as_u16();
    if post && matches!(status, 403 | 405) {
        return Err(Refusal { method_refused: true, ..failed(format!("HTTP {status} to a POST")) });
    }
    match read_at_most(&mut response, ANSWER_LIMIT).await.map_err(lost)? {
        Some(body) => prom::read_answer(status, &body),
        // Refused as a query would be: a batch this big is halved, and a query this big alone
        // is asked alone from then on.
        None => Err(Refusal {
            by_query: true,
            ..failed(format!(
                "the answer is over {} MiB: aggregate the query (sum by (…), topk(…), count(…))",
                ANSWER_LIMIT >> 20
            ))
        }),
    }
}

/// A query's answer when its asker's time ran out before it could be asked.
fn no_time_left() -> Refusal {
    Refusal { reason: "timed out".into(), timed_out: true, ..Refusal::default() }
}

type Reply = oneshot::Sender<Result<Vec<Series>, String>>;

struct Ask {
    query: String,
    timeout: Duration,
    /// When the asker stops waiting: its probe's timeout counts from the ask.
    deadline: tokio::time::Instant,
    reply: Reply,
}

/// What a server has taught its batcher.
struct Learned {
    /// Queries that fail to join, or are slow: asked alone.
    alone: HashSet<String>,
    /// The queries of a batch that answered late (in time, but slowly): each is asked alone
    /// once, which tells the slow one, and joined again if it is quick.
    suspect: HashSet<String>,
    /// The most queries joined into one request.
    most: usize,
    /// POSTs are refused (a proxy before Prometheus that allows only GET): each query is
    /// asked alone.
    get_only: bool,
}

impl Learned {
    /// A batch of `size` was too much (late, or refused whole): batches get smaller.
    fn shrink(&mut self, size: usize) {
        self.most = self.most.min(size / 2).max(1);
    }

    /// A batch answered quickly: batches may grow back.
    fn grow(&mut self) {
        self.most = (self.most + 1).min(MOST_QUERIES);
    }
}

/// One server as its batches see it: how to reach it and what it has taught.
struct Peer {
    client: reqwest::Client,
    server: Server,
    learned: Mutex<Learned>,
    /// Turns to ask alone the queries of batches that ran out of time.
    alone_turns: tokio::sync::Semaphore,
}

impl Peer {
    fn learned(&self) -> std::sync::MutexGuard<'_, Learned> {
        self.learned.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn request(&self, query: &str, timeout: Duration, post: bool) -> Result<Answer, Refusal> {
        request(&self.client, &self.server, query, timeout, post).await
    }
}

/// Batches the queries of many monitors, per server. Dropping it stops its collectors once
/// their last batch is sent.
#[derive(Debug)]
pub struct Batcher {
    client: reqwest::Client,
    servers: Mutex<HashMap<Server, mpsc::UnboundedSender<Ask>>>,
}

impl Batcher {
    pub fn new(client: reqwest::Client) -> Self {
        Self { client, servers: Mutex::new(HashMap::new()) }
    }

    /// Asks `query` with whatever else falls due at `server` within [`WINDOW`]; the answer is
    /// the one the query would have had alone. Must be called within a tokio runtime.
    pub async fn ask(&self, server: &Server, query: &str, timeout: Duration) -> Result<Vec<Series>, String> {
        let (reply, answer) = oneshot::channel();
        let ask =
            Ask { query: query.to_owned(), timeout, deadline: tokio::time::Instant::now() + timeout, reply };
        let queued = {
            let mut servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
            let collector = servers.entry(server.clone()).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(collect(self.client.clone(), server.clone(), rx));
                tx
            });
            match collector.send(ask) {
                Ok(()) => true,
                Err(_) => {
                    // Its runtime went away: the next ask starts a new collector.
                    servers.remove(server);
                    false
                }
            }
        };
        if !queued {
            return instant(&self.client, server, query, timeout).await;
        }
        answer.await.unwrap_or_else(|_| Err("the query was dropped before it was answered".into()))
    }
}

/// Gathers the asks to one server into batches and sends each batch without waiting for it.
async fn collect(client: reqwest::Client, server: Server, mut asks: mpsc::UnboundedReceiver<Ask>) {
    let peer = Arc::new(Peer {
        client,
        server,
        learned: Mutex::new(Learned {
            alone: HashSet::new(),
            suspect: HashSet::new(),
            most: MOST_QUERIES,
            get_only: false,
        }),
        alone_turns: tokio::sync::Semaphore::new(MOST_ALONE_AT_ONCE),
    });
    while let Some(first) = asks.recv().await {
        let most = peer.learned().most;
        let deadline = tokio::time::Instant::now() + WINDOW;
        let mut batch = vec![first];
        while batch.len() < most {
            match tokio::time::timeout_at(deadline, asks.recv()).await {
                Ok(Some(ask)) => batch.push(ask),
                Ok(None) | Err(_) => break,
            }
        }
        tokio::spawn(send(Arc::clone(&peer), batch));
    }
}

/// One query of a batch and everyone waiting for its answer.
struct Wanted {
    query: String,
    /// The query's own timeout, by which slow is judged.
    timeout: Duration,
    /// The latest deadline of those waiting: the query is worth asking until then.
    deadline: tokio::time::Instant,
    replies: Vec<Reply>,
}

impl Wanted {
    /// The time left to ask the query in.
    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(tokio::time::Instant::now())
    }

    fn answer(self, result: &Result<Answer, Refusal>) {
        for reply in self.replies {
            let _ = reply.send(result.clone().map(|a| a.series).map_err(|r| r.reason));
        }
    }
}

async fn send(peer: Arc<Peer>, batch: Vec<Ask>) {
    // The same query asked by several monitors is asked once.
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for ask in batch {
        match seen.get(&ask.query) {
            Some(&i) => {
                wanted[i].timeout = wanted[i].timeout.max(ask.timeout);
                wanted[i].deadline = wanted[i].deadline.max(ask.deadline);
                wanted[i].replies.push(ask.reply);
            }
            None => {
                seen.insert(ask.query.clone(), wanted.len());
                wanted.push(Wanted {
                    query: ask.query,
                    timeout: ask.timeout,
                    deadline: ask.deadline,
                    replies: vec![ask.reply],
                });
            }
        }
    }
    let (alone, joined): (Vec<Wanted>, Vec<Wanted>) = {
        let learned = peer.learned();
        wanted.into_iter().partition(|w| {
            learned.get_only
                || learned.alone.contains(&w.query)
                || learned.suspect.contains(&w.query)
                || !prom::joinable(&w.query)
        })
    };
    settle_one_by_one(&peer, alone);
    settle(peer, joined).await;
}

/// Asks each of `wanted` alone, learning as any batch of one does (a suspect found slow stays
/// alone, a quick one joins again).
fn settle_one_by_one(peer: &Arc<Peer>, wanted: Vec<Wanted>) {
    for w in wanted {
        tokio::spawn(settle(Arc::clone(peer), vec![w]));
    }
}

/// Whether a query's answer alone shows it cannot be joined: a scalar answers alone but not
/// joined, and Prometheus refused it. A server failure says nothing of the query.
fn unjoinable(result: &Result<Answer, Refusal>) -> bool {
    match result {
        Ok(a) => !a.vector,
        Err(r) => r.by_query,
    }
}

/// Whether a query asked alone took so long (a quarter of its deadline, or all of it) that
/// it would make a batch late.
fn slow_alone(result: &Result<Answer, Refusal>, took: Duration, timeout: Duration) -> bool {
    result.as_ref().err().is_some_and(|r| r.timed_out) || took > timeout / 4
}

/// Asks the queries of `wanted` as one request and answers each. When Prometheus refuses the
/// joined query, the batch is halved and each half settled the same way, so one query that
/// cannot be joined costs a few requests, not one per query; a query refused alone is
/// learned as one to ask alone. Returns whether such a query was found.
fn settle(peer: Arc<Peer>, mut wanted: Vec<Wanted>) -> futures_util::future::BoxFuture<'static, bool> {
    Box::pin(async move {
        if wanted.is_empty() {
            return false;
        }
        if wanted.len() == 1 {
            let w = wanted.remove(0);
            let started = Instant::now();
            let result = peer.request(&w.query, w.left(), false).await;
            let took = started.elapsed();
            let unjoinable = unjoinable(&result);
            {
                let mut learned = peer.learned();
                learned.suspect.remove(&w.query);
                if unjoinable || slow_alone(&result, took, w.timeout) {
                    // A slow query would make any batch it joins late.
                    learned.alone.insert(w.query.clone());
                } else if result.is_ok() && took < w.timeout / 20 {
                    // Batches of one that answer quickly let batches grow back.
                    learned.grow();
                }
            }
            w.answer(&result);
            return unjoinable;
        }
        let text = prom::join_queries(&wanted.iter().map(|w| w.query.as_str()).collect::<Vec<_>>());
        // A batch has half the time left to the soonest deadline of its queries; the other
        // half is for asking each alone if it runs out (a quick query answers in
        // milliseconds), so a slow query can make a quick one neither fail nor much later.
        let limit = wanted.iter().map(Wanted::left).min().unwrap_or_default() / 2;
        // How fast a batch is, is judged by the shortest timeout of its queries.
        let timeout = wanted.iter().map(|w| w.timeout).min().unwrap_or_default();
        let started = Instant::now();
        match peer.request(&text, limit, true).await {
            Err(failure) if failure.timed_out => {
                // The request is gone, so Prometheus stops evaluating the batch: a slow query
                // is not evaluated twice at once.
                each_alone(&peer, wanted, timeout).await;
                false
            }
            Ok(answer) => {
                let took = started.elapsed();
                {
                    let mut learned = peer.learned();
                    if took > timeout / 4 {
                        // Prometheus evaluates a joined query part after part: keep batches
                        // well inside their deadline. One of these queries may be slow: each
                        // is asked alone next time, and the slow one stays alone, so it does
                        // not keep making the same quick ones late.
                        learned.shrink(wanted.len());
                        learned.suspect.extend(wanted.iter().map(|w| w.query.clone()));
                    } else if took < timeout / 20 {
                        learned.grow();
                    }
                }
                let each = prom::split_joined(answer.series, wanted.len());
                for (w, series) in wanted.into_iter().zip(each) {
                    w.answer(&Ok(Answer { series, vector: true }));
                }
                false
            }
            Err(refusal) if refusal.method_refused => {
                // One query asked alone (a GET) tells whether only the POST was refused.
                let mut rest = wanted;
                let first = rest.remove(0);
                let alone = peer.request(&first.query, first.left(), false).await;
                // Prometheus answered the GET (with a result, or refusing the query itself).
                let get_works = alone.as_ref().map_or_else(|r| r.by_query, |_| true);
                first.answer(&alone);
                if get_works {
                    peer.learned().get_only = true;
                    settle_one_by_one(&peer, rest);
                } else {
                    // Refused whatever the method (a bad token): as each would be alone.
                    for w in rest {
                        w.answer(&alone);
                    }
                }
                false
            }
            Err(refusal) if refusal.by_query => {
                let size = wanted.len();
                let second = wanted.split_off(size / 2);
                let (a, b) =
                    tokio::join!(settle(Arc::clone(&peer), wanted), settle(Arc::clone(&peer), second));
                if !a && !b {
                    // Each half answers, the whole does not: the batch was too much at once.
                    peer.learned().shrink(size);
                }
                a || b
            }
            Err(failure) => {
                let failed = Err(failure);
                for w in wanted {
                    w.answer(&failed);
                }
                false
            }
        }
    })
}

/// A batch that ran out of its time: each of its queries is asked alone in the time it has
/// left. The answers show which query is slow (alone, it takes half the batch's `shortest`
/// timeout): that one is asked alone from then on, and batches to this server get smaller.
async fn each_alone(peer: &Peer, wanted: Vec<Wanted>, shortest: Duration) {
    peer.learned().shrink(wanted.len());
    futures_util::future::join_all(wanted.into_iter().map(|w| async {
        let Ok(Ok(_turn)) = tokio::time::timeout(w.left(), peer.alone_turns.acquire()).await else {
            w.answer(&Err(no_time_left()));
            return;
        };
        let started = Instant::now();
        let result = peer.request(&w.query, w.left(), false).await;
        // Slow enough to make any batch with a quick query in it late again, or (a batch
        // that runs out of time says nothing of that) a query that cannot be joined.
        let slow = result.as_ref().err().is_some_and(|r| r.timed_out) || started.elapsed() > shortest / 2;
        if slow || unjoinable(&result) {
            peer.learned().alone.insert(w.query.clone());
        }
        w.answer(&result);
    }))
    .await;
}
