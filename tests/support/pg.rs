//! A real PostgreSQL server for a test: `initdb` into a temporary folder (as the `postgres`
//! user when the tests run as root, since PostgreSQL refuses to run as root), started with
//! `pg_ctl` on 127.0.0.1 at a free port with trust authentication, stopped when dropped.
//! A server that cannot be started fails the test: it is never skipped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
    durable: bool,
}

impl Postgres {
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// A server that syncs every commit to disk, as in production (for benchmarks); tests
    /// turn fsync off for speed.
    pub fn start_durable() -> Self {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> Self {
        let bin = bindir();
        let dir = tempfile::Builder::new().prefix("runbook-pg").tempdir().expect("a temporary folder");
        // SAFETY: geteuid has no preconditions.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        if as_postgres {
            let (uid, gid) = postgres_user();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the data folder");
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pg = Self { dir, bin, port, as_postgres, durable };
        let data = pg.data();
        let o =
            pg.tool("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        assert!(o.status.success(), "initdb failed: {}", String::from_utf8_lossy(&o.stderr));
        pg.up();
        let o = pg.tool(
            "psql",
            &["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-c", "CREATE DATABASE runbook"],
        );
        assert!(o.status.success(), "createdb failed: {}", String::from_utf8_lossy(&o.stderr));
        pg
    }

    /// `postgres://postgres@127.0.0.1:PORT/runbook`
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/runbook", self.port)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub fn up(&self) {
        let sync = if self.durable { "" } else { " -c fsync=off -c full_page_writes=off" };
        let opts =
            format!("-c listen_addresses=127.0.0.1 -p {} -k {}{sync}", self.port, self.dir.path().display());
        let log = self.dir.path().join("log").display().to_string();
        let o =
            self.tool("pg_ctl", &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "-t", "30", "start"]);
        assert!(
            o.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        );
    }

    /// Stops the server at once (connections are cut).
    pub fn down(&self) {
        let o = self.tool("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
        assert!(o.status.success(), "pg_ctl stop failed: {}", String::from_utf8_lossy(&o.stderr));
    }

    /// Runs a query with psql; returns its unaligned output.
    pub fn sql(&self, query: &str) -> String {
        let o = self.tool(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "runbook",
                "-At",
                "-c",
                query,
            ],
        );
        assert!(o.status.success(), "psql failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Everything in the database, as `pg_dump` writes it.
    pub fn dump(&self) -> String {
        let o = self
            .tool("pg_dump", &["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "runbook"]);
        assert!(o.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn tool(&self, name: &str, args: &[&str]) -> Output {
        let path = self.bin.join(name);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        c.args(args).current_dir(self.dir.path()).env_remove("PGPASSWORD");
        c.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.tool("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]);
    }
}

/// The folder of PostgreSQL's server programs: Debian keeps them in
/// /usr/lib/postgresql/VERSION/bin (the newest is taken), others put them on PATH.
fn bindir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p): &(u32, PathBuf)| p.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists());
    on_path.unwrap_or_else(|| {
        panic!(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed: `apt-get install postgresql`"
        )
    })
}

fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.first() != Some(&"postgres") || f.len() < 4 {
                return None;
            }
            Some((f[2].parse().ok()?, f[3].parse().ok()?))
        })
        .expect("a `postgres` user (made by the postgresql package) to run the server as")
}
