//! The team store: runs, their journal records and step output tails in PostgreSQL, so that
//! a team can list, follow, export and hand over one another's runs.
//!
//! The local run directory stays what every reader works on: with a store, it is a mirror.
//! A record is committed to the store first and then appended to the mirror, so the mirror
//! never holds a record the store lacks, and a record is shown only once the store has it
//! (the journal's contract: durable before shown). Reading a run from another machine
//! writes the store's records into that machine's mirror first ([`Store::materialize`]);
//! `runs`, `export`, `attach` and resume then read the mirror as they read any run.
//!
//! Driving takes a session-level advisory lock in the store beside the local `flock`: the
//! server releases it when the driver's connection ends (a kill -9 closes the socket; a
//! machine that vanishes is noticed by TCP keepalives within about half a minute).
//!
//! tokio-postgres is async and the journal's callers are not (an append is a blocking,
//! durable write like `fsync`), so each [`Connection`] owns a thread with its own small
//! runtime; calls are sent to it and waited for with a deadline.
//!
//! The connection is TLS when the URL's `sslmode` asks for it (libpq's modes and
//! `sslrootcert`, see [`tls`]).

pub mod live;
mod tls;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::run::Entry;

/// The namespace of the advisory locks this program takes ("RUNB"): the lock of a run is
/// (NAMESPACE, the run's sequence number).
const LOCK_NAMESPACE: i32 = 0x5255_4e42;

/// How long one call to the store may take before the caller gives up on it.
const CALL_DEADLINE: Duration = Duration::from_secs(10);

/// How many lines of a step's output the store keeps (the full log stays local).
pub const TAIL_LINES: usize = 200;
/// And at most this many bytes of them.
pub const TAIL_BYTES: usize = 64 * 1024;

/// A change to the store's schema.
struct Migration {
    version: i32,
    /// The oldest schema a runbook may know and still use the store after this change: a
    /// change that only adds (a column with a default, a table) keeps that of the change
    /// before, so a team that upgrades one machine does not lock the others out mid-incident;
    /// a change older runbooks would misread says its own version.
    works_from: i32,
    sql: &'static str,
}

/// Versioned migrations, applied in order, each once, by whichever runbook gets there first.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        works_from: 1,
        sql: "CREATE TABLE runbook_runs (
        seq serial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        runbook text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE runbook_records (
        run_seq integer NOT NULL REFERENCES runbook_runs(seq) ON DELETE CASCADE,
        n integer NOT NULL,
        at timestamptz NOT NULL,
        kind text NOT NULL,
        entry jsonb NOT NULL,
        PRIMARY KEY (run_seq, n)
    );
    CREATE TABLE runbook_leases (
        run_seq integer PRIMARY KEY REFERENCES runbook_runs(seq) ON DELETE CASCADE,
        holder jsonb NOT NULL
    );
    CREATE TABLE runbook_output (
        run_seq integer NOT NULL REFERENCES runbook_runs(seq) ON DELETE CASCADE,
        step text NOT NULL,
        attempt integer NOT NULL,
        tail text NOT NULL,
        lines_left_out bigint NOT NULL,
        PRIMARY KEY (run_seq, step, attempt)
    );",
    },
    // Output of a try still running, published for watchers on other machines
    // (store::live); a final tail (written with the record that ends the try) is never
    // replaced by a live one. Runbooks of schema 1 write final tails only: the default.
    Migration {
        version: 2,
        works_from: 1,
        sql: "ALTER TABLE runbook_output ADD COLUMN final boolean NOT NULL DEFAULT true;",
    },
];

/// The store this process uses, chosen once at start-up (`--store`, `RUNBOOK_STORE`,
/// `store:` in config.yaml); `None` keeps runs in the local data directory only.
static SELECTED: OnceLock<Option<Arc<Store>>> = OnceLock::new();

/// Chooses the store for this process. Later calls do nothing.
pub fn select(url: Option<String>) -> anyhow::Result<()> {
    let store = match url.filter(|u| !u.trim().is_empty()) {
        Some(url) => Some(Arc::new(Store::new(&url)?)),
        None => None,
    };
    let _ = SELECTED.set(store);
    Ok(())
}

/// The store of this process, if one was chosen.
pub fn current() -> Option<Arc<Store>> {
    SELECTED.get().cloned().flatten()
}

/// Where runs are kept: a PostgreSQL database, by URL.
#[derive(Debug)]
pub struct Store {
    config: tokio_postgres::Config,
    /// The URL with any password replaced, for messages.
    shown: String,
    tls: tls::Tls,
    /// The rustls connector, made at the first connection (it reads `sslrootcert`).
    connector: OnceLock<Result<tls::Connector, String>>,
}

impl Store {
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let (rest, tls) = tls::split(url, |name| std::env::var(name).ok())
            .map_err(|e| anyhow::anyhow!("the run store '{}': {e}", redact(url)))?;
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e| anyhow::anyhow!("the run store '{}' is not a PostgreSQL URL: {e}", redact(url)))?;
        config.ssl_mode(tls.pg_mode());
        if config.get_password().is_none()
            && let Ok(pw) = std::env::var("PGPASSWORD")
        {
            config.password(pw);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name("runbook");
        Ok(Self { config, shown: redact(url), tls, connector: OnceLock::new() })
    }

    /// The URL for messages, without its password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Opens a connection and brings the schema up to date.
    pub fn connect(&self) -> anyhow::Result<Connection> {
        let connector = self
            .connector
            .get_or_init(|| self.tls.connector())
            .clone()
            .map_err(|e| anyhow::anyhow!("cannot reach the run store {}: {e}", self.shown))?;
        let conn = Connection::open(self.config.clone(), connector, self.tls.clone(), self.shown.clone())?;
        conn.migrate()?;
        Ok(conn)
    }

    /// Registers a new run (before its first record).
    pub fn create_run(&self, id: &str, runbook: &str) -> anyhow::Result<Connection> {
        let conn = self.connect()?;
        let (id, runbook) = (id.to_owned(), runbook.to_owned());
        conn.call(move |c| async move {
            c.execute("INSERT INTO runbook_runs (id, runbook) VALUES ($1, $2)", &[&id, &runbook]).await?;
            Ok(())
        })?;
        Ok(conn)
    }

    /// Every run in the store with the records that say what state it is in, newest first,
    /// and who holds each run's lease now.
    pub fn runs(&self) -> anyhow::Result<Vec<StoredRun>> {
        self.connect()?.runs()
    }

    /// Removes a run, its records and output from the store (`runs --prune`).
    pub fn delete_run(&self, id: &str) -> anyhow::Result<()> {
        let id = id.to_owned();
        self.connect()?.call(move |c| async move {
            c.execute("DELETE FROM runbook_runs WHERE id = $1", &[&id]).await?;
            Ok(())
        })
    }

    /// Writes the store's records (and output tails) of run `id` into the local mirror
    /// under `runs_dir`, unless a driver on this machine holds it (its mirror is current).
    /// Returns the mirror's directory.
    pub fn materialize(&self, id: &str, runs_dir: &Path) -> anyhow::Result<PathBuf> {
        let conn = self.connect()?;
        let dir = runs_dir.join(id);
        crate::journal::create_private_dir(&dir.join("steps"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        if crate::journal::held_here(&dir) {
            return Ok(dir);
        }
        let run = id.to_owned();
        let (entries, tails) = conn.call(move |c| async move {
            let rows = c
                .query(
                    "SELECT r.entry FROM runbook_records r JOIN runbook_runs u ON u.seq = r.run_seq
                     WHERE u.id = $1 ORDER BY r.n",
                    &[&run],
                )
                .await?;
            let entries: Vec<serde_json::Value> = rows.iter().map(|r| r.get(0)).collect();
            let rows = c
                .query(
                    "SELECT o.step, o.attempt, o.tail, o.lines_left_out FROM runbook_output o
                     JOIN runbook_runs u ON u.seq = o.run_seq WHERE u.id = $1 AND o.final",
                    &[&run],
                )
                .await?;
            let tails: Vec<(String, i32, String, i64)> =
                rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
            Ok((entries, tails))
        })?;
        let path = dir.join("journal.jsonl");
        let local_lines = std::fs::read(&path)
            .map(|b| b.split(|&c| c == b'\n').filter(|l| !l.is_empty()).count())
            .unwrap_or(0);
        if entries.len() > local_lines || !path.exists() {
            let mut text = Vec::new();
            for e in &entries {
                serde_json::to_writer(&mut text, e)?;
                text.push(b'\n');
            }
            // Another reader on this machine may be copying the same run: each writes its
            // own file and renames it into place (the last one wins, both are whole).
            let tmp = dir.join(format!("journal.jsonl.{}.tmp", std::process::id()));
            {
                use std::io::Write;
                let mut f = crate::journal::create_private_file(&tmp)?;
                f.write_all(&text)?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, &path)?;
        }
        for (step, attempt, tail, _left_out) in tails {
            let log = dir.join("steps").join(format!("{step}.{attempt}.log"));
            if !log.exists() {
                use std::io::Write;
                let tmp = dir.join("steps").join(format!("{step}.{attempt}.log.{}.tmp", std::process::id()));
                let mut f = crate::journal::create_private_file(&tmp)?;
                f.write_all(tail.as_bytes())?;
                std::fs::rename(&tmp, &log)?;
            }
        }
        Ok(dir)
    }
}

/// The last lines of a step try's output, as the store keeps them.
#[derive(Debug)]
pub struct Tail {
    step: String,
    attempt: i32,
    text: String,
    lines_left_out: i64,
}

impl Tail {
    /// The tail of a step try's log file (already masked: step logs are); `None` when the
    /// try wrote no log.
    /// The log is read in bounded memory (a step may write gigabytes), as the live publisher
    /// reads it.
    pub fn of_log(step: &str, attempt: u32, log: &Path) -> Option<Self> {
        let mut reader = live::LogTail::new(log.to_path_buf());
        if !reader.read_on() {
            return None;
        }
        let (text, lines_left_out) = reader.tail();
        Some(Self { step: step.to_owned(), attempt: attempt as i32, text, lines_left_out })
    }
}

/// A run as the store knows it: its id, the outline of its list row, and its lease holder.
#[derive(Debug)]
pub struct StoredRun {
    pub id: String,
    pub created: jiff::Timestamp,
    pub outline: crate::journal::Outline,
    pub holder: Option<crate::journal::Holder>,
}

/// id, created, lease holder, lease held, start record, last finish, resumed after it, steps done.
type RunRow = (
    String,
    std::time::SystemTime,
    Option<serde_json::Value>,
    bool,
    Option<serde_json::Value>,
    Option<serde_json::Value>,
    bool,
    i64,
);

type Job = Box<dyn FnOnce(Arc<tokio_postgres::Client>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// One connection to the store, served by its own thread.
#[derive(Debug)]
pub struct Connection {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    shown: String,
}

impl Connection {
    fn open(
        config: tokio_postgres::Config,
        connector: tls::Connector,
        tls: tls::Tls,
        shown: String,
    ) -> anyhow::Result<Self> {
        let (jobs, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        // Err((message, whether TLS is what failed)).
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), (String, bool)>>(1);
        std::thread::Builder::new()
            .name("runbook-store".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err((e.to_string(), false)));
                        return;
                    }
                };
                rt.block_on(async move {
                    let (client, connection) = match config.connect(connector.0).await {
                        Ok(c) => c,
                        Err(e) => {
                            let why = match tls.explain(&e) {
                                Some(tls) => (tls, true),
                                None => (describe(&e), false),
                            };
                            let _ = ready_tx.send(Err(why));
                            return;
                        }
                    };
                    let conn_task = tokio::spawn(connection);
                    let client = Arc::new(client);
                    // Server-side keepalives: a driver whose machine vanishes without closing
                    // its socket loses its lease within about half a minute.
                    let _ = client
                        .batch_execute(
                            "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5;
                             SET tcp_keepalives_count = 3; SET statement_timeout = '10s'",
                        )
                        .await;
                    let _ = ready_tx.send(Ok(()));
                    while let Some(job) = rx.recv().await {
                        job(client.clone()).await;
                    }
                    drop(client);
                    let _ = conn_task.await;
                });
            })
            .context("cannot start the store's thread")?;
        match ready_rx.recv_timeout(CALL_DEADLINE) {
            Ok(Ok(())) => Ok(Self { jobs, shown }),
            Ok(Err((e, true))) => bail!("cannot reach the run store {shown}: {e}"),
            Ok(Err((e, false))) => bail!(
                "cannot reach the run store {shown}: {e}. Runs are kept there (--store, RUNBOOK_STORE or `store:` in config.yaml): start or fix the server, or unset it to keep runs on this machine"
            ),
            Err(_) => bail!(
                "cannot reach the run store {shown}: no answer within {}s. Runs are kept there (--store, RUNBOOK_STORE or `store:` in config.yaml): start or fix the server, or unset it to keep runs on this machine",
                CALL_DEADLINE.as_secs()
            ),
        }
    }

    /// Runs `f` on the connection's thread and waits for its result, at most [`CALL_DEADLINE`].
    fn call<T, F, Fut>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<tokio_postgres::Client>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, tokio_postgres::Error>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::new(move |c| {
            Box::pin(async move {
                let _ = tx.send(f(c).await);
            })
        });
        let shown = &self.shown;
        self.jobs
            .send(job)
            .map_err(|_| anyhow::anyhow!("the connection to the run store {shown} is closed"))?;
        match rx.recv_timeout(CALL_DEADLINE) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(anyhow::anyhow!("the run store {shown}: {}", describe(&e))),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                bail!("the run store {shown} did not answer within {}s", CALL_DEADLINE.as_secs())
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                bail!("the connection to the run store {shown} was lost")
            }
        }
    }

    /// Applies the migrations this build knows and the store lacks, one migrator at a time.
    /// A store migrated further by a newer runbook is used when each of its newer changes
    /// still works with the schema this build knows.
    fn migrate(&self) -> anyhow::Result<()> {
        let known = MIGRATIONS.last().map_or(0, |m| m.version);
        let (newer, works_from) = self.call(move |c| async move {
            // The usual case: the schema is there and current; one query, no lock.
            let have =
                match c.query_one("SELECT coalesce(max(version), 0) FROM runbook_migrations", &[]).await {
                    Ok(row) => row.get::<_, i32>(0),
                    Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => 0,
                    Err(e) => return Err(e),
                };
            if have > known {
                // Runbooks before the rule wrote no `works_from`: theirs is their version.
                let works_from = match c
                    .query_one(
                        "SELECT max(coalesce(works_from, version)) FROM runbook_migrations WHERE version > $1",
                        &[&known],
                    )
                    .await
                {
                    Ok(row) => row.get::<_, Option<i32>>(0).unwrap_or(have),
                    Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_COLUMN) => have,
                    Err(e) => return Err(e),
                };
                return Ok((have, works_from));
            }
            if have == known {
                return Ok((have, 0));
            }
            // One migrator at a time, the bookkeeping table included: two first-ever
            // connections never race to create it. Jobs run one at a time on this
            // connection, so a plain BEGIN/COMMIT is ours.
            c.batch_execute("BEGIN").await?;
            let applied = async {
                c.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&LOCK_NAMESPACE]).await?;
                // The bookkeeping table itself only ever gains columns, outside the numbered
                // changes, so runbooks that read `max(version)` alone are not disturbed.
                c.batch_execute(
                    "CREATE TABLE IF NOT EXISTS runbook_migrations (
                        version integer PRIMARY KEY,
                        applied_at timestamptz NOT NULL DEFAULT now());
                    ALTER TABLE runbook_migrations ADD COLUMN IF NOT EXISTS works_from integer;",
                )
                .await?;
                let have: i32 = c
                    .query_one("SELECT coalesce(max(version), 0) FROM runbook_migrations", &[])
                    .await?
                    .get(0);
                for m in MIGRATIONS.iter().filter(|m| m.version > have) {
                    c.batch_execute(m.sql).await?;
                    c.execute(
                        "INSERT INTO runbook_migrations (version, works_from) VALUES ($1, $2)",
                        &[&m.version, &m.works_from],
                    )
                    .await?;
                }
                c.batch_execute("COMMIT").await?;
                Ok((have.max(known), 0))
            }
            .await;
            if applied.is_err() {
                let _ = c.batch_execute("ROLLBACK").await;
            }
            applied
        })?;
        if newer > known && works_from > known {
            bail!(
                "the run store {} has schema version {newer}, which runbooks knowing version {known} (this one) cannot use: upgrade runbook",
                self.shown
            );
        }
        Ok(())
    }

    /// Takes the advisory lock of run `id` for this connection's life. `Ok(false)`: another
    /// connection holds it.
    pub fn try_lease(&self, id: &str, holder: &crate::journal::Holder) -> anyhow::Result<bool> {
        let id = id.to_owned();
        let holder = serde_json::to_value(holder)?;
        self.call(move |c| async move {
            let Some(row) = c.query_opt("SELECT seq FROM runbook_runs WHERE id = $1", &[&id]).await? else {
                return Ok(None);
            };
            let seq: i32 = row.get(0);
            let got: bool =
                c.query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LOCK_NAMESPACE, &seq]).await?.get(0);
            if got {
                c.execute(
                    "INSERT INTO runbook_leases (run_seq, holder) VALUES ($1, $2)
                     ON CONFLICT (run_seq) DO UPDATE SET holder = excluded.holder",
                    &[&seq, &holder],
                )
                .await?;
            }
            Ok(Some(got))
        })?
        .with_context(|| format!("the run is not in the run store {}", self.shown))
    }

    /// The holder written by whoever holds run `id`'s lease now, if anyone holds it.
    /// Asked every poll by followers: reads the lease row and the lock, never the records.
    pub fn holder(&self, id: &str) -> anyhow::Result<Option<crate::journal::Holder>> {
        let id = id.to_owned();
        let holder = self.call(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT l.holder FROM runbook_leases l JOIN runbook_runs u ON u.seq = l.run_seq
                     WHERE u.id = $1 AND EXISTS (SELECT 1 FROM pg_locks p WHERE p.locktype = 'advisory'
                           AND p.classid = $2::integer::oid AND p.objid = u.seq::oid
                           AND p.objsubid = 2 AND p.granted)",
                    &[&id, &LOCK_NAMESPACE],
                )
                .await?;
            Ok(row.map(|r| r.get::<_, serde_json::Value>(0)))
        })?;
        Ok(holder.and_then(|h| serde_json::from_value(h).ok()))
    }

    /// Appends an entry as record number `n` of the run with sequence number `seq`, with
    /// the output tail of the step try it ends (if any) in the same statement: one commit,
    /// one round trip. Returns once it is committed.
    pub fn append(&self, seq: i32, n: i32, entry: &Entry, tail: Option<Tail>) -> anyhow::Result<()> {
        let value = serde_json::to_value(entry)?;
        let kind = value.get("type").and_then(|t| t.as_str()).unwrap_or("").to_owned();
        let at = std::time::SystemTime::from(entry.at);
        self.call(move |c| async move {
            match tail {
                None => {
                    c.execute(
                        "INSERT INTO runbook_records (run_seq, n, at, kind, entry) VALUES ($1, $2, $3, $4, $5)",
                        &[&seq, &n, &at, &kind, &value],
                    )
                    .await?
                }
                Some(t) => {
                    c.execute(
                        "WITH output AS (
                            INSERT INTO runbook_output (run_seq, step, attempt, tail, lines_left_out)
                            VALUES ($1, $6, $7, $8, $9)
                            ON CONFLICT (run_seq, step, attempt) DO UPDATE
                            SET tail = excluded.tail, lines_left_out = excluded.lines_left_out, final = true)
                         INSERT INTO runbook_records (run_seq, n, at, kind, entry) VALUES ($1, $2, $3, $4, $5)",
                        &[&seq, &n, &at, &kind, &value, &t.step, &t.attempt, &t.text, &t.lines_left_out],
                    )
                    .await?
                }
            };
            Ok(())
        })
    }

    /// The sequence number of run `id` and how many records it has.
    pub fn position(&self, id: &str) -> anyhow::Result<(i32, i32)> {
        let id = id.to_owned();
        let found = self.call(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT u.seq, (SELECT count(*) FROM runbook_records r WHERE r.run_seq = u.seq)
                     FROM runbook_runs u WHERE u.id = $1",
                    &[&id],
                )
                .await?;
            Ok(row.map(|r| (r.get::<_, i32>(0), r.get::<_, i64>(1) as i32)))
        })?;
        found.with_context(|| format!("the run is not in the run store {}", self.shown))
    }

    /// The stored output tail of a step attempt of run `id` (live while the try runs, final
    /// once it ended), and how many lines were left out before it.
    pub fn tail(&self, id: &str, step: &str, attempt: u32) -> anyhow::Result<Option<(String, i64)>> {
        let (id, step, attempt) = (id.to_owned(), step.to_owned(), attempt as i32);
        self.call(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT o.tail, o.lines_left_out FROM runbook_output o JOIN runbook_runs u ON u.seq = o.run_seq
                     WHERE u.id = $1 AND o.step = $2 AND o.attempt = $3",
                    &[&id, &step, &attempt],
                )
                .await?;
            Ok(row.map(|r| (r.get(0), r.get(1))))
        })
    }

    /// Publishes the tail of a try still running (see [`live`]); a final tail stays.
    pub fn publish(
        &self,
        seq: i32,
        step: &str,
        attempt: u32,
        tail: &str,
        lines_left_out: i64,
    ) -> anyhow::Result<()> {
        let (step, attempt, tail) = (step.to_owned(), attempt as i32, tail.to_owned());
        self.call(move |c| async move {
            c.execute(
                "INSERT INTO runbook_output (run_seq, step, attempt, tail, lines_left_out, final)
                 VALUES ($1, $2, $3, $4, $5, false)
                 ON CONFLICT (run_seq, step, attempt) DO UPDATE
                 SET tail = excluded.tail, lines_left_out = excluded.lines_left_out
                 WHERE NOT runbook_output.final",
                &[&seq, &step, &attempt, &tail, &lines_left_out],
            )
            .await?;
            Ok(())
        })
    }

    /// Entries of run `id` from record number `from` on (for followers).
    pub fn entries_since(&self, id: &str, from: i32) -> anyhow::Result<Vec<Entry>> {
        let id = id.to_owned();
        let values = self.call(move |c| async move {
            let rows = c
                .query(
                    "SELECT r.entry FROM runbook_records r JOIN runbook_runs u ON u.seq = r.run_seq
                     WHERE u.id = $1 AND r.n >= $2 ORDER BY r.n",
                    &[&id, &from],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get::<_, serde_json::Value>(0)).collect::<Vec<_>>())
        })?;
        Ok(values.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect())
    }

    /// Every run with the records that summarise it.
    fn runs(&self) -> anyhow::Result<Vec<StoredRun>> {
        // One row per run with what its list row needs: the start record, the last finish and
        // whether a resume came after it, and the count of steps done, worked out by the
        // server. (Sending every step record of every run cost a second and 460 MB at 10,000
        // runs.)
        let rows = self.call(move |c| async move {
            let rows = c
                .query(
                    "WITH held AS MATERIALIZED (
                        -- Read once: pg_locks is a function, scanned anew for every row otherwise.
                        SELECT p.objid FROM pg_locks p WHERE p.locktype = 'advisory'
                        AND p.classid = $1::integer::oid AND p.objsubid = 2 AND p.granted)
                     SELECT u.id, u.created_at,
                        (SELECT l.holder FROM runbook_leases l WHERE l.run_seq = u.seq),
                        EXISTS (SELECT 1 FROM held h WHERE h.objid = u.seq::oid),
                        -- The row needs the start's names and counts, not every step's
                        -- title or the inputs: those stay in the store.
                        CASE WHEN s.kind = 'run_started'
                             THEN (s.entry - 'titles' - 'alert') || '{\"inputs\": {}}'::jsonb
                             ELSE s.entry END,
                        f.entry,
                        EXISTS (SELECT 1 FROM runbook_records r
                                WHERE r.run_seq = u.seq AND r.kind = 'resumed' AND r.n > f.n),
                        (SELECT count(DISTINCT r.entry->>'step') FROM runbook_records r
                         WHERE r.run_seq = u.seq AND r.kind IN ('step_passed', 'step_failed',
                               'step_skipped', 'step_marked_done', 'chose'))
                     FROM runbook_runs u
                     LEFT JOIN runbook_records s ON s.run_seq = u.seq AND s.n = 0
                     LEFT JOIN LATERAL (SELECT r.n, r.entry FROM runbook_records r
                                        WHERE r.run_seq = u.seq AND r.kind = 'run_finished'
                                        ORDER BY r.n DESC LIMIT 1) f ON true
                     ORDER BY u.created_at DESC, u.id DESC",
                    &[&LOCK_NAMESPACE],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| -> RunRow {
                    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7))
                })
                .collect::<Vec<_>>())
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, created, holder, held, start, finished, resumed_after, done)| {
                let mut problems = Vec::new();
                let mut read = |value: Option<serde_json::Value>| {
                    value.and_then(|v| match serde_json::from_value::<Entry>(v) {
                        Ok(e) => Some(e),
                        Err(e) => {
                            problems.push(format!("a damaged record in the store is left out ({e})"));
                            None
                        }
                    })
                };
                let start = read(start);
                let finished = read(finished).and_then(|e| match e.record {
                    crate::run::Record::RunFinished { outcome } => Some((e.at, outcome)),
                    _ => None,
                });
                StoredRun {
                    id,
                    created: jiff::Timestamp::try_from(created).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
                    outline: crate::journal::Outline {
                        start,
                        finished,
                        resumed_after,
                        done: done as usize,
                        problems,
                    },
                    holder: holder.filter(|_| held).and_then(|h| serde_json::from_value(h).ok()),
                }
            })
            .collect())
    }

    /// Releases run `id`'s lease (it is also released when the connection ends).
    pub fn release(&self, seq: i32) -> anyhow::Result<()> {
        self.call(move |c| async move {
            c.execute("DELETE FROM runbook_leases WHERE run_seq = $1", &[&seq]).await?;
            c.query_one("SELECT pg_advisory_unlock($1, $2)", &[&LOCK_NAMESPACE, &seq]).await?;
            Ok(())
        })
    }
}

/// The last [`TAIL_LINES`] lines (at most [`TAIL_BYTES`]) of a log, and how many lines
/// were left out before them.
pub fn tail_of(bytes: &[u8]) -> (String, i64) {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let total = if body.is_empty() { 0 } else { memchr::memchr_iter(b'\n', body).count() + 1 };
    let mut start = memchr::memrchr_iter(b'\n', body).nth(TAIL_LINES - 1).map_or(0, |i| i + 1);
    if bytes.len() - start > TAIL_BYTES {
        let cut = bytes.len() - TAIL_BYTES;
        start = memchr::memchr(b'\n', &bytes[cut..]).map_or(bytes.len(), |p| cut + p + 1);
    }
    let tail = String::from_utf8_lossy(&bytes[start..]).into_owned();
    let kept = tail.strip_suffix('\n').unwrap_or(&tail).split('\n').filter(|_| !tail.is_empty()).count();
    (tail, total.saturating_sub(kept) as i64)
}

/// The error's message with its cause (tokio-postgres puts the server's words in the source).
fn describe(e: &tokio_postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => db.message().to_owned(),
        (None, Some(source)) => format!("{e}: {source}"),
        (None, None) => e.to_string(),
    }
}

/// A URL (or key/value string) with its password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // `host=db password=… user=ops`
        let mut out = String::new();
        for kv in tls::key_values(url) {
            if !out.is_empty() {
                out.push(' ');
            }
            match kv.key.as_str() {
                "password" | "sslpassword" => out.push_str(&format!("{}***", &kv.raw[..kv.value_at])),
                _ => out.push_str(kv.raw),
            }
        }
        return out;
    };
    // A password may hold `@` and `?`; the query (`?sslrootcert=…`) may hold `@` too.
    let (at, q) = tls::url_parts(rest);
    let (before_query, query) = rest.split_at(q.unwrap_or(rest.len()));
    let (auth, host) = match at {
        Some(at) => (Some(&rest[..at]), &before_query[at + 1..]),
        None => (None, before_query),
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if matches!(k.trim_start_matches('?'), "password" | "sslpassword") => {
                format!("{k}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    let query = query.join("&");
    match auth.and_then(|a| a.split_once(':')) {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}{query}"),
        None => format!("{scheme}://{before_query}{query}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows() {
        assert_eq!(redact("postgres://ops:s3cret@db:5432/runs"), "postgres://ops:***@db:5432/runs");
        assert_eq!(redact("postgres://ops@db/runs"), "postgres://ops@db/runs");
        assert_eq!(redact("host=db user=ops"), "host=db user=ops");
        assert_eq!(redact("host=db password='a b' user=ops"), "host=db password=*** user=ops");
        assert_eq!(
            redact("postgres://ops:p@ss@db/runs?sslrootcert=/certs/a@b.pem"),
            "postgres://ops:***@db/runs?sslrootcert=/certs/a@b.pem"
        );
        assert_eq!(redact("postgres://ops:hun?ter2@db/runs"), "postgres://ops:***@db/runs");
        assert_eq!(
            redact("postgres://ops:hun?t=r2@db/runs?sslmode=require"),
            "postgres://ops:***@db/runs?sslmode=require"
        );
        assert_eq!(
            redact("postgres://db:5432/runs?sslrootcert=/certs/a@b.pem"),
            "postgres://db:5432/runs?sslrootcert=/certs/a@b.pem"
        );
        assert_eq!(
            redact("postgres://db/runs?user=ops&password=s3cret&sslmode=require"),
            "postgres://db/runs?user=ops&password=***&sslmode=require"
        );
        // The password of an encrypted client key (refused, but said in the refusal).
        assert_eq!(
            redact("postgres://db/runs?sslkey=/k.pem&sslpassword=s3cret"),
            "postgres://db/runs?sslkey=/k.pem&sslpassword=***"
        );
        assert_eq!(redact("host=db sslpassword='s3 cret' sslkey=/k"), "host=db sslpassword=*** sslkey=/k");
    }

    #[test]
    fn the_tail_keeps_the_last_lines_and_counts_the_rest() {
        let log: String = (1..=500).map(|i| format!("line {i}\n")).collect();
        let (tail, left_out) = tail_of(log.as_bytes());
        assert_eq!(left_out, 300);
        assert!(tail.starts_with("line 301\n"), "{tail:.20}");
        assert!(tail.ends_with("line 500\n"));
        let (tail, left_out) = tail_of(b"only\n");
        assert_eq!((tail.as_str(), left_out), ("only\n", 0));
        let big = "x".repeat(100_000) + "\nlast\n";
        let (tail, left_out) = tail_of(big.as_bytes());
        assert_eq!((tail.as_str(), left_out), ("last\n", 1));
    }
}
