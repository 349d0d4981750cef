//! The team store: a real PostgreSQL on loopback, two "machines" (two data directories,
//! two processes) sharing it. Start on A, list and follow from B, B's takeover refused while
//! A lives, kill -9 A, B carries on without redoing finished steps; no secret in the
//! database; the store going down mid-run loses no journaled record. TLS to the store with
//! libpq's sslmode and sslrootcert against a server with a test CA of its own, and client
//! certificates (sslcert, sslkey) for a server that authenticates users by certificate.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use support::pg::{Ca, Postgres};
use support::wait_for;

const ENVS: &str = "default: dev\nenvironments:\n  dev: { vars: { host: localhost } }\n";
const SECRET: &str = "s3cr3t-Token-4711";

/// One "machine": its own data directory, the shared runbooks and the shared store.
struct Machine {
    root: PathBuf,
    data: PathBuf,
    store: String,
}

impl Machine {
    fn new(root: &Path, name: &str, store: &str) -> Self {
        Self { root: root.to_path_buf(), data: root.join(name), store: store.to_owned() }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_runbook"));
        c.args(args)
            .args(["--dir", &self.root.join("books").display().to_string()])
            .current_dir(&self.root)
            .env_remove("RUNBOOK_PATH")
            .env_remove("CI")
            .env_remove("PGSSLMODE")
            .env_remove("PGSSLROOTCERT")
            .env_remove("PGSSLCERT")
            .env_remove("PGSSLKEY")
            // libpq's default client certificate is looked for in ~/.postgresql.
            .env("HOME", self.data.join("home"))
            .env("RUNBOOK_STORE", &self.store)
            .env("RUNBOOK_INPUT_TOKEN", SECRET)
            .env("RUNBOOK_DATA_DIR", &self.data)
            .env("RUNBOOK_CACHE_DIR", self.data.join("cache"))
            .env("RUNBOOK_CONFIG_DIR", self.data.join("config"))
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    /// A driver whose output goes to a file, so a test that times out can show it.
    fn drive(&self, args: &[&str]) -> Child {
        std::fs::create_dir_all(&self.data).unwrap();
        let log = std::fs::File::create(self.data.join("driver.log")).unwrap();
        self.cmd(args).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap()
    }

    /// Waits until the team's list (seen from this machine) has a run that `found` picks.
    fn wait_run(
        &self,
        what: &str,
        driver: &Machine,
        found: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let runs = self.runs();
            if let Some(r) = runs.iter().find(|r| found(r)) {
                return r.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; runs: {runs:#?}\ndriver said:\n{}",
                std::fs::read_to_string(driver.data.join("driver.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn runs(&self) -> Vec<serde_json::Value> {
        let o = self.run(&["runs", "--format", "json"]);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A temporary folder with the team's runbooks in it (see [`setup`]).
fn team() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path());
    tmp
}

/// `ca`'s certificate as `root/ca.pem`, the file `sslrootcert` names.
fn write_ca(root: &Path, ca: &Ca) -> PathBuf {
    let file = root.join("ca.pem");
    std::fs::write(&file, ca.pem()).unwrap();
    file
}

fn setup(root: &Path) {
    std::fs::create_dir_all(root.join("books")).unwrap();
    std::fs::write(root.join("books/environments.yaml"), ENVS).unwrap();
    let p = root.display();
    std::fs::write(
        root.join("books/failover.yaml"),
        format!(
            "title: Fail over the primary\ninputs:\n  token: {{ description: API token, secret: true }}\nsteps:\n  \
             - {{ id: drain, title: Drain traffic, run: 'echo drain >> {p}/ran; echo \"token {{{{ token }}}} used\"' }}\n  \
             - {{ id: promote, title: Promote the replica, run: 'echo promote >> {p}/ran' }}\n  \
             - {{ id: wait, title: Wait for replication, run: 'echo wait >> {p}/ran; while [ ! -f {p}/go ]; do sleep 0.02; done' }}\n  \
             - {{ id: dns, title: Point DNS at the new primary, run: 'echo dns >> {p}/ran' }}\n"
        ),
    )
    .unwrap();
}

/// Waits until the failover's third step runs its command: two steps done in the list is
/// not yet that (the step starts a moment later).
fn waiting_step_runs(root: &Path) {
    wait_for("the waiting step's command to run", Duration::from_secs(20), || {
        ran(root).iter().any(|s| s == "wait").then_some(())
    });
}

fn ran(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join("ran")).unwrap_or_default().lines().map(str::to_owned).collect()
}

#[test]
fn a_team_drives_follows_and_hands_over_one_run_through_the_store() {
    let pg = Postgres::start();
    let tmp = team();
    let root = tmp.path();
    let a = Machine::new(root, "machine-a", &pg.url());
    let b = Machine::new(root, "machine-b", &pg.url());

    let mut driver = a.drive(&["run", "failover", "--headless"]);
    // B sees A's run in the team's list, driven by A, at the step that waits.
    let pid = driver.id();
    let run = b.wait_run("A's run at its third step, seen from B", &a, |r| {
        r["done"] == 2 && r["driver"]["pid"] == pid
    });
    let id = run["id"].as_str().unwrap().to_owned();
    waiting_step_runs(root);
    assert_eq!(run["title"], "Fail over the primary");
    assert_eq!(run["state"], "unfinished");
    let table = b.run(&["runs"]);
    assert!(text(&table).contains("running: "), "{}", text(&table));

    // B follows the run from its own machine.
    let follower = b.spawn(&["attach", &id, "--follow"]);

    // B cannot take over while A lives.
    let refused = b.run(&["run", "--resume", &id, "--yes"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("is being driven by")
            && text(&refused).contains(&format!("(pid {})", driver.id())),
        "{}",
        text(&refused)
    );

    // A dies without a word. The server ends its session, and its lease with it.
    driver.kill().unwrap();
    driver.wait().unwrap();
    wait_for("the lease of the dead driver to go", Duration::from_secs(20), || {
        b.runs().into_iter().find(|r| r["id"] == id.as_str() && r["driver"].is_null()).map(|_| ())
    });
    // The step A was running is of unknown outcome: B's resume asks, and --yes runs it again.
    std::fs::write(root.join("go"), "").unwrap();
    let taken = b.run(&["run", "--resume", &id, "--yes", "--stop-running"]);
    assert_eq!(taken.status.code(), Some(0), "{}", text(&taken));
    assert_eq!(ran(root), ["drain", "promote", "wait", "wait", "dns"], "finished steps are not redone");

    // The follower saw the whole run and exits with its outcome.
    let followed = follower.wait_with_output().unwrap();
    assert_eq!(followed.status.code(), Some(0), "{}", text(&followed));
    let seen = text(&followed);
    for expected in [
        "Drain traffic",
        "Promote the replica",
        "interrupted",
        "Point DNS at the new primary",
        "run finished",
    ] {
        assert!(seen.contains(expected), "the follower saw {expected:?}:\n{seen}");
    }
    assert!(!seen.contains(SECRET), "{seen}");

    // The export works from either machine and names who drove.
    for m in [&a, &b] {
        let export = m.run(&["export", &id]);
        assert!(export.status.success(), "{}", text(&export));
        let md = text(&export);
        assert!(md.contains("Point DNS at the new primary") && md.contains("resumed"), "{md}");
    }

    // The output tail of a step is in the store, masked; no secret anywhere in the database.
    let tails = pg.sql("SELECT tail FROM runbook_output WHERE step = 'drain'");
    assert!(tails.contains("token •••• used") || tails.contains("token **** used"), "{tails}");
    let dump = pg.dump();
    assert!(dump.contains("Drain traffic"), "the dump holds the run");
    assert!(!dump.contains(SECRET), "no secret value reaches the database");
}

#[test]
fn two_concurrent_resumes_through_the_store_drive_the_run_once() {
    let pg = Postgres::start();
    let tmp = team();
    let root = tmp.path();
    let machines: Vec<Machine> = ["a", "b", "c"].iter().map(|n| Machine::new(root, n, &pg.url())).collect();
    // Started on A and stopped by a signal at the waiting step: unfinished, nobody drives.
    let mut first = machines[0].drive(&["run", "failover", "--headless"]);
    let run = machines[1].wait_run("the run at its third step", &machines[0], |r| r["done"] == 2);
    waiting_step_runs(root);
    // SAFETY: signalling a child this test started.
    unsafe { libc::kill(first.id() as i32, libc::SIGTERM) };
    assert_eq!(first.wait().unwrap().code(), Some(143));
    let id = run["id"].as_str().unwrap().to_owned();
    let racers: Vec<Child> = machines.iter().map(|m| m.spawn(&["run", "--resume", &id, "--retry"])).collect();
    let racers = std::cell::RefCell::new(racers);
    wait_for("two racers to be refused", Duration::from_secs(20), || {
        let exited = racers.borrow_mut().iter_mut().filter_map(|c| c.try_wait().unwrap()).count();
        (exited == 2).then_some(())
    });
    std::fs::write(root.join("go"), "").unwrap();
    let outs: Vec<Output> = racers.into_inner().into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
    assert_eq!(codes.iter().filter(|c| **c == Some(0)).count(), 1, "exactly one drives: {codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == Some(2)).count(), 2, "the others are refused: {codes:?}");
    assert_eq!(
        ran(root),
        ["drain", "promote", "wait", "wait", "dns"],
        "every step once, the cancelled one retried"
    );
    let n: usize =
        pg.sql("SELECT count(*) FROM runbook_records WHERE kind = 'run_finished'").trim().parse().unwrap();
    assert_eq!(n, 1);
}

#[test]
fn an_unreachable_store_is_said_before_any_step_runs() {
    let tmp = team();
    let root = tmp.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let m = Machine::new(root, "a", &format!("postgres://ops:hunter2@127.0.0.1:{port}/runbook"));
    let o = m.run(&["run", "failover", "--headless", "--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("cannot reach the run store postgres://ops:***@127.0.0.1:{port}/runbook")),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("hunter2"), "the password is never shown");
    assert!(ran(root).is_empty(), "nothing ran");
    let o = m.run(&["runs"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unreachable store is an error, never an empty list: {}",
        text(&o)
    );

    // `store:` in config.yaml does the same when neither --store nor RUNBOOK_STORE is given.
    let config = root.join("c").join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.yaml"), format!("store: postgres://ops@127.0.0.1:{port}/team\n"))
        .unwrap();
    let o = m.cmd(&["runs"]).env_remove("RUNBOOK_STORE").env("RUNBOOK_CONFIG_DIR", &config).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains(&format!("postgres://ops@127.0.0.1:{port}/team")), "{}", text(&o));
    // And --store comes before both: an empty one keeps runs on this machine.
    let o = m.cmd(&["runs", "--store", ""]).env("RUNBOOK_CONFIG_DIR", &config).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("no runs yet"), "{}", text(&o));
}

#[test]
fn the_store_going_down_mid_run_loses_no_journaled_record() {
    let pg = Postgres::start();
    let tmp = team();
    let root = tmp.path();
    let a = Machine::new(root, "a", &pg.url());
    let driver = a.spawn(&["run", "failover", "--headless"]);
    let run = a.wait_run("the run at its third step", &a, |r| r["done"] == 2);
    let id = run["id"].as_str().unwrap().to_owned();
    waiting_step_runs(root);
    pg.down();
    std::fs::write(root.join("go"), "").unwrap();
    let o = driver.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(4), "the runner stops driving: {}", text(&o));
    assert!(
        text(&o).contains(&format!("runbook run --resume {id}")),
        "it says how to continue: {}",
        text(&o)
    );
    assert_eq!(ran(root), ["drain", "promote", "wait"], "nothing ran unjournaled");
    pg.up();
    // Every record the runner wrote locally is in the store, in the same order.
    let local: Vec<serde_json::Value> =
        std::fs::read_to_string(a.data.join("runs").join(&id).join("journal.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let stored: Vec<serde_json::Value> = pg
        .sql(&format!(
            "SELECT r.entry FROM runbook_records r JOIN runbook_runs u ON u.seq = r.run_seq WHERE u.id = '{id}' ORDER BY r.n"
        ))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!local.is_empty());
    assert_eq!(local, stored, "the local mirror and the store hold the same records");
    // And the run carries on from the store.
    let o = a.run(&["run", "--resume", &id, "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(ran(root).last().map(String::as_str), Some("dns"));
}

#[test]
fn a_teammate_watches_a_run_live_in_the_tui_and_takes_it_over_after_the_handoff() {
    use support::pty::Screen;
    let pg = Postgres::start();
    let tmp = team();
    let root = tmp.path();
    std::fs::write(
        root.join("books/incident.yaml"),
        format!(
            "title: Calm the API\nsteps:\n  \
             - {{ id: announce, title: Announce the incident, body: Post in the incident channel. }}\n  \
             - {{ id: restart, title: Restart the API, run: 'echo restarted >> {p}/ran; echo hello-from-$((40+2)); while [ ! -f {p}/go-live ]; do sleep 0.02; done; echo went-$((2*3))' }}\n  \
             - {{ id: close, title: Close the incident, body: Say it is over. }}\n",
            p = root.display()
        ),
    )
    .unwrap();
    let url = pg.url();
    let a_data = root.join("machine-a").display().to_string();
    let b_data = root.join("machine-b").display().to_string();
    let mut a = Screen::spawn_env(
        &["run", "incident", "--dir", "books"],
        root,
        120,
        32,
        &[("RUNBOOK_STORE", &url), ("RUNBOOK_DATA_DIR", &a_data)],
    );
    a.wait_for("DEV │ Calm the API");
    let mut b = Screen::spawn_env(
        &["attach", "latest", "--dir", "books"],
        root,
        120,
        32,
        &[("RUNBOOK_STORE", &url), ("RUNBOOK_DATA_DIR", &b_data)],
    );
    b.wait_for("WATCHING");
    b.wait_for("driven by");
    b.wait_for("Announce the incident");

    // A works; B sees it happen.
    a.keys(" ");
    a.wait_for("▸ Restart the API");
    a.keys("\r");
    a.wait_for("hello-from-42");
    // B sees the output (not the command, which reads `$((40+2))`) while the step still runs
    // (it waits for go-live): published live through the store, not only when the step ends.
    b.wait_for("hello-from-42");
    std::fs::write(root.join("go-live"), "").unwrap();
    b.wait_until("B sees the restart pass and the run move on", |s| {
        s.text().contains("▸ Close the incident")
    });
    b.keys("k");
    b.wait_for("went-6");
    // Watching is read-only.
    b.keys(" ");
    b.wait_for("read-only");

    // A hands over and leaves; B is told, quits, and carries on headless.
    a.keys("H");
    assert_eq!(a.wait_exit(), 0);
    a.wait_for("handed over");
    b.wait_for("nobody drives it now");
    b.keys("q");
    assert_eq!(b.wait_exit(), 0);
    let m = Machine::new(root, "machine-b", &url);
    let o = m.run(&["run", "--resume", "latest", "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(ran(root), ["restarted"], "the restart ran once");
    let export = text(&m.run(&["export", "latest"]));
    assert!(export.contains("handed over by"), "{export}");
}

#[test]
fn the_schema_is_created_once_by_racing_first_connections_and_a_newer_one_is_refused() {
    let pg = Postgres::start();
    let tmp = team();
    let root = tmp.path();
    let machines: Vec<Machine> = (0..8).map(|i| Machine::new(root, &format!("m{i}"), &pg.url())).collect();
    let racers: Vec<Child> = machines.iter().map(|m| m.spawn(&["runs"])).collect();
    for r in racers {
        let o = r.wait_with_output().unwrap();
        assert!(o.status.success(), "every first-ever connection gets the schema: {}", text(&o));
    }
    let versions = pg.sql("SELECT version FROM runbook_migrations ORDER BY version");
    assert_eq!(versions.split_whitespace().collect::<Vec<_>>(), ["1", "2"], "each migration once");
    // A newer runbook's change that only adds still works with this one's schema (2): a team
    // that upgrades one machine does not lock out the others.
    pg.sql("INSERT INTO runbook_migrations (version, works_from) VALUES (3, 2)");
    let o = machines[0].run(&["runs"]);
    assert!(o.status.success(), "an additive change is used: {}", text(&o));
    // One that older runbooks would misread is refused.
    pg.sql("INSERT INTO runbook_migrations (version, works_from) VALUES (99, 99)");
    let o = machines[0].run(&["runs"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("schema version 99") && text(&o).contains("upgrade runbook"), "{}", text(&o));
}

#[test]
fn a_newer_store_that_does_not_say_what_it_works_with_is_refused() {
    let pg = Postgres::start();
    let tmp = team();
    let m = Machine::new(tmp.path(), "m", &pg.url());
    assert!(m.run(&["runs"]).status.success());
    // A bookkeeping table without `works_from` (as runbooks before it made): strict.
    pg.sql("ALTER TABLE runbook_migrations DROP COLUMN works_from");
    pg.sql("INSERT INTO runbook_migrations (version) VALUES (3)");
    let o = m.run(&["runs"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("schema version 3") && text(&o).contains("upgrade runbook"), "{}", text(&o));
}

/// The TLS server's URL for `user` with `params` (`sslmode=…&sslrootcert=…`), connecting to
/// `host` (resolved through hostaddr=127.0.0.1, so the name is only what TLS checks).
fn tls_url(pg: &Postgres, user: &str, host: &str, params: &str) -> String {
    let sep = if params.is_empty() { "" } else { "&" };
    format!("postgres://{user}@{host}:{}/runbook?hostaddr=127.0.0.1{sep}{params}", pg.port)
}

#[test]
fn the_store_over_tls_is_encrypted_and_its_certificate_checked_as_libpq_does() {
    let ca = Ca::new("runbook test CA");
    let pg = Postgres::start_tls(&ca, &["127.0.0.1", "db.test"]);
    pg.sql("CREATE ROLE follower SUPERUSER LOGIN");
    let tmp = team();
    let root = tmp.path();
    let ca_file = write_ca(root, &ca);
    let other_ca = root.join("other-ca.pem");
    std::fs::write(&other_ca, Ca::new("somebody else's CA").pem()).unwrap();
    let ca_path = ca_file.display().to_string();
    let verify_full = format!("sslmode=verify-full&sslrootcert={ca_path}");

    // verify-full against the right CA and name: a headless run goes through the store.
    let a = Machine::new(root, "a", &tls_url(&pg, "postgres", "db.test", &verify_full));
    let mut driver = a.drive(&["run", "failover", "--headless"]);
    let run = a.wait_run("the run at its third step over TLS", &a, |r| r["done"] == 2);
    let id = run["id"].as_str().unwrap().to_owned();
    // A teammate follows with the default sslmode (prefer): encrypted too, unchecked.
    let b = Machine::new(root, "b", &format!("postgres://follower@127.0.0.1:{}/runbook", pg.port));
    let follower = b.spawn(&["attach", &id, "--follow"]);
    let sessions = wait_for("both sessions in pg_stat_ssl", Duration::from_secs(20), || {
        let rows = pg.sql(
            "SELECT DISTINCT a.usename || ' ' || s.ssl::text FROM pg_stat_activity a
             JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'runbook' ORDER BY 1",
        );
        (rows.contains("postgres ") && rows.contains("follower ")).then_some(rows)
    });
    assert_eq!(sessions.trim(), "follower true\npostgres true", "every runbook session is encrypted");
    std::fs::write(root.join("go"), "").unwrap();
    assert_eq!(
        driver.wait().unwrap().code(),
        Some(0),
        "{}",
        std::fs::read_to_string(a.data.join("driver.log")).unwrap()
    );
    let followed = follower.wait_with_output().unwrap();
    assert_eq!(followed.status.code(), Some(0), "{}", text(&followed));
    assert_eq!(ran(root), ["drain", "promote", "wait", "dns"]);

    // verify-full against a certificate made out to another name: refused, said why.
    let other_name = Machine::new(root, "c", &tls_url(&pg, "postgres", "other.test", &verify_full));
    let o = other_name.run(&["runs"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "cannot reach the run store {}: the store's certificate is not made out to other.test (it holds 127.0.0.1, db.test): connect by a name it holds, or use sslmode=verify-ca",
            tls_url(&pg, "postgres", "other.test", &verify_full)
        )),
        "{}",
        text(&o)
    );
    // verify-ca checks who signed it, not the name.
    let ca_only = format!("sslmode=verify-ca&sslrootcert={ca_path}");
    let o = Machine::new(root, "c", &tls_url(&pg, "postgres", "other.test", &ca_only)).run(&["runs"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // A CA that did not sign it: refused before any step runs, the password masked.
    std::fs::remove_file(root.join("ran")).unwrap();
    for mode in ["verify-full", "verify-ca", "require"] {
        let url = format!(
            "postgres://postgres:hunter2@127.0.0.1:{}/runbook?sslmode={mode}&sslrootcert={}",
            pg.port,
            other_ca.display()
        );
        let o = Machine::new(root, "d", &url).run(&["run", "failover", "--headless", "--yes"]);
        assert_eq!(o.status.code(), Some(2), "{mode}: {}", text(&o));
        assert!(
            text(&o).contains(&format!(
                "cannot reach the run store postgres://postgres:***@127.0.0.1:{}/runbook?sslmode={mode}&sslrootcert={}: the store's certificate is not signed by a CA in sslrootcert {}",
                pg.port,
                other_ca.display(),
                other_ca.display()
            )),
            "{mode}: {}",
            text(&o)
        );
        assert!(!text(&o).contains("hunter2"), "the password is never shown");
        assert!(ran(root).is_empty(), "{mode}: nothing ran");
    }
    // require without sslrootcert encrypts and takes any certificate (libpq's meaning).
    let o =
        Machine::new(root, "e", &tls_url(&pg, "postgres", "other.test", "sslmode=require")).run(&["runs"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_store_without_tls_is_refused_when_tls_is_required_and_used_plain_under_prefer() {
    let pg = Postgres::start();
    let tmp = team();
    let root = tmp.path();
    let ca_file = write_ca(root, &Ca::new("runbook test CA"));
    for params in
        ["sslmode=require".to_owned(), format!("sslmode=verify-full&sslrootcert={}", ca_file.display())]
    {
        let url = format!("{}?{params}", pg.url());
        let o = Machine::new(root, "a", &url).run(&["run", "failover", "--headless", "--yes"]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let mode = if params.starts_with("sslmode=require") { "require" } else { "verify-full" };
        assert!(
            text(&o).contains(&format!(
                "cannot reach the run store {url}: the server does not offer TLS, and sslmode={mode} requires it: turn `ssl` on"
            )),
            "{}",
            text(&o)
        );
        assert!(ran(root).is_empty(), "nothing ran");
    }
    let o = Machine::new(root, "a", &format!("{}?sslmode=prefer", pg.url())).run(&["runs"]);
    assert_eq!(o.status.code(), Some(0), "prefer falls back to plain TCP: {}", text(&o));
}

#[test]
fn tls_settings_that_cannot_work_are_said_before_any_step_runs() {
    let tmp = team();
    let root = tmp.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let m =
        Machine::new(root, "a", &format!("postgres://ops:hunter2@127.0.0.1:{port}/runbook?sslmode=verify"));
    let o = m.run(&["run", "failover", "--headless", "--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "the run store 'postgres://ops:***@127.0.0.1:{port}/runbook?sslmode=verify': sslmode 'verify' is not one of disable, prefer, require, verify-ca, verify-full"
        )),
        "{}",
        text(&o)
    );
    let missing = root.join("no-such-ca.pem");
    let url = format!(
        "postgres://ops:hunter2@127.0.0.1:{port}/runbook?sslmode=verify-full&sslrootcert={}",
        missing.display()
    );
    let o = Machine::new(root, "a", &url).run(&["run", "failover", "--headless", "--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "cannot reach the run store postgres://ops:***@127.0.0.1:{port}/runbook?sslmode=verify-full&sslrootcert={m}: cannot read sslrootcert {m}: No such file or directory",
            m = missing.display()
        )),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("hunter2"), "the password is never shown");
    assert!(ran(root).is_empty(), "nothing ran");
}

#[test]
fn the_team_list_says_of_each_run_what_its_journal_says() {
    let pg = Postgres::start();
    let tmp = team();
    let root = tmp.path();
    std::fs::write(
        root.join("books/ok.yaml"),
        "title: Passes\nsteps:\n  - { title: One, run: 'true' }\n  - { title: Two }\n",
    )
    .unwrap();
    std::fs::write(root.join("books/bad.yaml"), "title: Fails\nsteps:\n  - { title: One, run: 'true' }\n  - { title: Two, run: 'exit 3' }\n  - { title: Three }\n").unwrap();
    let a = Machine::new(root, "machine-a", &pg.url());
    assert_eq!(a.run(&["run", "ok", "--yes"]).status.code(), Some(0));
    assert_eq!(a.run(&["run", "bad", "--yes"]).status.code(), Some(1));
    // Two runs left unfinished by a driver that died, one of them then abandoned.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let _ = std::fs::remove_file(root.join("ran"));
        let mut driver = a.drive(&["run", "failover", "--headless"]);
        let pid = driver.id();
        let run =
            a.wait_run("the run at the step that waits", &a, |r| r["done"] == 2 && r["driver"]["pid"] == pid);
        driver.kill().unwrap();
        driver.wait().unwrap();
        ids.push(run["id"].as_str().unwrap().to_owned());
    }
    // Their steps' processes outlived them (a dead driver's are left to a person): end them.
    std::fs::write(root.join("go"), "").unwrap();
    wait_for("the dead drivers' leases to go", Duration::from_secs(20), || {
        a.runs().iter().all(|r| r["driver"].is_null()).then_some(())
    });
    let abandoned = a.run(&["runs", "--abandon", &ids[0]]);
    assert!(abandoned.status.success(), "{}", text(&abandoned));

    // The store's rows are worked out by its server; the same journals read in full from
    // this machine's copy (no store) give the same rows.
    let from_store = a.runs();
    let local = a.run(&["runs", "--format", "json", "--store", ""]);
    assert!(local.status.success(), "{}", text(&local));
    let from_files: Vec<serde_json::Value> = serde_json::from_slice(&local.stdout).unwrap();
    let row = |r: &serde_json::Value| {
        (
            r["id"].clone(),
            r["title"].clone(),
            r["state"].clone(),
            r["done"].clone(),
            r["steps"].clone(),
            r["ended"].is_null(),
        )
    };
    assert_eq!(
        from_store.iter().map(row).collect::<Vec<_>>(),
        from_files.iter().map(row).collect::<Vec<_>>()
    );
    let states: Vec<&str> = from_store.iter().map(|r| r["state"].as_str().unwrap()).collect();
    // A failed step leaves its run open for a retry: unfinished, two steps done.
    assert_eq!(states, ["unfinished", "abandoned", "unfinished", "succeeded"], "{from_store:#?}");
    assert_eq!(
        (&from_store[2]["title"], &from_store[2]["done"]),
        (&"Fails".into(), &2.into()),
        "{from_store:#?}"
    );
}

/// Writes a certificate and key (the key with `mode`) as `name.crt` and `name.key`.
fn client_files(root: &Path, name: &str, (cert, key): (String, String), mode: u32) -> (String, String) {
    use std::os::unix::fs::PermissionsExt;
    let (c, k) = (root.join(format!("{name}.crt")), root.join(format!("{name}.key")));
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(mode)).unwrap();
    (c.display().to_string(), k.display().to_string())
}

#[test]
fn a_server_that_wants_client_certificates_gets_them_from_sslcert_and_sslkey() {
    let ca = Ca::new("runbook test CA");
    let pg = Postgres::start_client_certs(&ca, &["127.0.0.1", "db.test"], &["alice", "bob"]);
    let tmp = team();
    let root = tmp.path();
    let ca_file = write_ca(root, &ca);
    let verify = format!("sslmode=verify-full&sslrootcert={}", ca_file.display());
    let (alice_crt, alice_key) = client_files(root, "alice", ca.client("alice"), 0o600);
    let (bob_crt, bob_key) = client_files(root, "bob", ca.client("bob"), 0o600);

    // alice's certificate: a headless run goes through the store, the server sees her CN.
    let url = tls_url(&pg, "alice", "db.test", &format!("{verify}&sslcert={alice_crt}&sslkey={alice_key}"));
    let a = Machine::new(root, "a", &url);
    let mut driver = a.drive(&["run", "failover", "--headless"]);
    a.wait_run("the run at its third step, as alice", &a, |r| r["done"] == 2);
    let dn = wait_for("alice's session in pg_stat_ssl", Duration::from_secs(20), || {
        let rows = pg.sql(
            "SELECT DISTINCT s.client_dn FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
             WHERE a.application_name = 'runbook' AND a.usename = 'alice'",
        );
        (!rows.trim().is_empty()).then_some(rows)
    });
    assert_eq!(dn.trim(), "/CN=alice", "authenticated by her certificate");
    std::fs::write(root.join("go"), "").unwrap();
    assert_eq!(
        driver.wait().unwrap().code(),
        Some(0),
        "{}",
        std::fs::read_to_string(a.data.join("driver.log")).unwrap()
    );
    assert_eq!(ran(root), ["drain", "promote", "wait", "dns"]);
    std::fs::remove_file(root.join("ran")).unwrap();
    let refused = |o: &Output, says: &str| {
        assert_eq!(o.status.code(), Some(2), "{}", text(o));
        assert!(text(o).contains(says), "wanted {says:?} in:\n{}", text(o));
        assert!(!text(o).contains("hunter2"), "the password is never shown");
        assert!(ran(root).is_empty(), "nothing ran");
    };

    // As psql: ~/.postgresql/postgresql.crt and .key without sslcert in the URL.
    let b = Machine::new(root, "b", &tls_url(&pg, "alice", "db.test", &verify));
    let home = b.data.join("home/.postgresql");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::copy(&alice_crt, home.join("postgresql.crt")).unwrap();
    std::fs::copy(&alice_key, home.join("postgresql.key")).unwrap();
    let o = b.run(&["runs"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // No certificate: the server's refusal, and what to give.
    let o = Machine::new(root, "c", &tls_url(&pg, "alice", "db.test", &verify)).run(&[
        "run",
        "failover",
        "--headless",
        "--yes",
    ]);
    refused(
        &o,
        "the server wants a client certificate for this user and none was given (connection requires a valid client certificate): give sslcert=PATH and sslkey=PATH in the store URL",
    );

    // bob's certificate (through PGSSLCERT and PGSSLKEY) for alice: refused, said why.
    let url = tls_url(&pg, "alice", "db.test", &verify).replace("alice@", "alice:hunter2@");
    let o = Machine::new(root, "c", &url)
        .cmd(&["run", "failover", "--headless", "--yes"])
        .env("PGSSLCERT", &bob_crt)
        .env("PGSSLKEY", &bob_key)
        .output()
        .unwrap();
    refused(
        &o,
        &format!(
            "the server refused the certificate in sslcert {bob_crt} for this user (certificate authentication failed for user \"alice\"): its common name (CN) must be the user name in the store URL"
        ),
    );

    // A certificate from a CA the server does not know: refused in the handshake.
    let (stray_crt, stray_key) =
        client_files(root, "stray", Ca::new("somebody else's CA").client("alice"), 0o600);
    let url = tls_url(&pg, "alice", "db.test", &format!("{verify}&sslcert={stray_crt}&sslkey={stray_key}"));
    let o = Machine::new(root, "c", &url).run(&["run", "failover", "--headless", "--yes"]);
    refused(
        &o,
        &format!(
            "the server refused the client certificate in sslcert {stray_crt} during the TLS handshake (received fatal alert: UnknownCA): it must be signed by a CA in the server's ssl_ca_file"
        ),
    );

    // A key others may read: refused before connecting, as libpq does.
    let (open_crt, open_key) = client_files(root, "open", ca.client("alice"), 0o644);
    let url = tls_url(&pg, "alice", "db.test", &format!("{verify}&sslcert={open_crt}&sslkey={open_key}"));
    let o = Machine::new(root, "c", &url).run(&["run", "failover", "--headless", "--yes"]);
    refused(
        &o,
        &format!(
            "private key file {open_key} has group or world access (mode 0644); permissions should be u=rw (0600) or less"
        ),
    );

    // sslcert without sslkey: said before anything else.
    let url = tls_url(&pg, "alice", "db.test", &format!("{verify}&sslcert={alice_crt}"));
    let o = Machine::new(root, "c", &url).run(&["run", "failover", "--headless", "--yes"]);
    refused(
        &o,
        &format!("sslcert {alice_crt} is given without sslkey: give the certificate's private key too"),
    );
}

#[test]
fn verify_ca_without_a_ca_of_its_own_is_refused_not_satisfied_by_any_ca_the_system_trusts() {
    // A certificate for somebody else's name, signed by a CA this "system" trusts (as any
    // public CA signs one for whoever owns a domain): verify-ca against the system's CAs
    // would take it, so someone in the middle would be taken for the store.
    let public_ca = Ca::new("a public CA");
    let pg = Postgres::start_tls(&public_ca, &["somebody-else.example"]);
    let tmp = team();
    let root = tmp.path();
    let system_cas = root.join("system-cas.pem");
    std::fs::write(&system_cas, public_ca.pem()).unwrap();
    let url = tls_url(&pg, "postgres", "db.test", "sslmode=verify-ca");
    let o = Machine::new(root, "a", &url).cmd(&["runs"]).env("SSL_CERT_FILE", &system_cas).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "taken for the store: {}", text(&o));
    assert!(text(&o).contains("sslmode=verify-ca needs sslrootcert"), "says what to give: {}", text(&o));
    // With the store's own CA named, verify-ca is what it says.
    let ca_file = write_ca(root, &public_ca);
    let url =
        tls_url(&pg, "postgres", "db.test", &format!("sslmode=verify-ca&sslrootcert={}", ca_file.display()));
    let o = Machine::new(root, "a", &url).run(&["runs"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_password_with_a_question_mark_is_never_shown_and_the_url_keeps_its_sslmode() {
    let pg = Postgres::start();
    let tmp = team();
    let root = tmp.path();
    // The server has no TLS: sslmode=require must refuse it, whatever the password holds.
    let url = format!("postgres://postgres:hun?ter2@127.0.0.1:{}/runbook?sslmode=require", pg.port);
    let o = Machine::new(root, "a", &url).run(&["runs"]);
    assert_eq!(o.status.code(), Some(2), "sslmode=require was dropped: {}", text(&o));
    assert!(text(&o).contains("the server does not offer TLS"), "{}", text(&o));
    assert!(!text(&o).contains("ter2"), "the password is never shown: {}", text(&o));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let o =
        Machine::new(root, "a", &format!("postgres://ops:hun?ter2@127.0.0.1:{port}/runbook")).run(&["runs"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains(&format!("postgres://ops:***@127.0.0.1:{port}/runbook")), "{}", text(&o));
    assert!(!text(&o).contains("ter2"), "the password is never shown: {}", text(&o));
}
