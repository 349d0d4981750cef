//! A real PostgreSQL server for a test: `initdb` into a temporary folder (as the `postgres`
//! user when the tests run as root, since PostgreSQL refuses to run as root), started with
//! `pg_ctl` on 127.0.0.1 at a free port with trust authentication, stopped when dropped.
//! A server that cannot be started fails the test: it is never skipped.
//!
//! [`Postgres::start_tls`] turns TLS on (`ssl = on`) with a server certificate signed by a
//! test CA of its own ([`Ca`], made with rcgen), written into the data folder as the server
//! wants it: owned by the server's user, readable by nobody else.
//! [`Postgres::start_client_certs`] also asks clients for certificates signed by that CA
//! (`ssl_ca_file`) and lets the users it names in only by one (`hostssl … cert` in
//! pg_hba.conf); [`Ca::client`] makes such a certificate.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
    durable: bool,
    tls: bool,
    client_ca: bool,
}

/// A certificate authority for tests: a fresh key and a self-signed CA certificate.
pub struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let key = rcgen::KeyPair::generate().expect("a CA key");
        Self { issuer: rcgen::CertifiedIssuer::self_signed(params, key).expect("a CA certificate") }
    }

    /// The CA certificate, PEM (what `sslrootcert` names).
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names` (host names or IP addresses) and its key, PEM.
    pub fn server(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names.clone()).expect("server parameters");
        params.distinguished_name.push(rcgen::DnType::CommonName, names.first().cloned().unwrap_or_default());
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().expect("a server key");
        let cert = params.signed_by(&key, &self.issuer).expect("a server certificate");
        (cert.pem(), key.serialize_pem())
    }

    /// A client certificate for `user` (its common name, as PostgreSQL's `cert`
    /// authentication wants) and its key, PEM.
    pub fn client(&self, user: &str) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("client parameters");
        params.distinguished_name.push(rcgen::DnType::CommonName, user);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().expect("a client key");
        let cert = params.signed_by(&key, &self.issuer).expect("a client certificate");
        (cert.pem(), key.serialize_pem())
    }
}

impl Postgres {
    pub fn start() -> Self {
        Self::start_with(false, None)
    }

    /// A server that speaks TLS (and plain TCP too, as PostgreSQL does unless told
    /// otherwise), its certificate made out to `names` and signed by `ca`.
    pub fn start_tls(ca: &Ca, names: &[&str]) -> Self {
        Self::start_with(false, Some(ca.server(names)))
    }

    /// A TLS server (as [`Postgres::start_tls`]) that asks clients for a certificate signed
    /// by `ca` and lets each of `users` (made here, superusers) in only over TLS with a
    /// certificate whose common name is the user's name; others keep trust authentication.
    pub fn start_client_certs(ca: &Ca, names: &[&str], users: &[&str]) -> Self {
        let pg = Self::start_with_hba(false, Some(ca.server(names)), Some((ca.pem(), users)));
        for user in users {
            pg.sql(&format!("CREATE ROLE {user} SUPERUSER LOGIN"));
        }
        pg
    }

    /// A server that syncs every commit to disk, as in production (for benchmarks); tests
    /// turn fsync off for speed.
    pub fn start_durable() -> Self {
        Self::start_with(true, None)
    }

    /// A durable server that speaks TLS (for benchmarks).
    pub fn start_durable_tls(ca: &Ca, names: &[&str]) -> Self {
        Self::start_with(true, Some(ca.server(names)))
    }

    fn start_with(durable: bool, tls: Option<(String, String)>) -> Self {
        Self::start_with_hba(durable, tls, None)
    }

    fn start_with_hba(
        durable: bool,
        tls: Option<(String, String)>,
        client_ca: Option<(String, &[&str])>,
    ) -> Self {
        let bin = bindir();
        let dir = tempfile::Builder::new().prefix("runbook-pg").tempdir().expect("a temporary folder");
        // SAFETY: geteuid has no preconditions.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        if as_postgres {
            let (uid, gid) = postgres_user();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the data folder");
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pg =
            Self { dir, bin, port, as_postgres, durable, tls: tls.is_some(), client_ca: client_ca.is_some() };
        let data = pg.data();
        let o =
            pg.tool("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        assert!(o.status.success(), "initdb failed: {}", String::from_utf8_lossy(&o.stderr));
        let mut files = Vec::new();
        if let Some((ca, users)) = client_ca {
            // pg_hba.conf is read top down: the certificate users' lines come first.
            let hba = std::path::Path::new(&data).join("pg_hba.conf");
            let mut lines: String = users
                .iter()
                .map(|u| format!("hostssl all {u} 127.0.0.1/32 cert\nhost all {u} 127.0.0.1/32 reject\n"))
                .collect();
            lines.push_str(&std::fs::read_to_string(&hba).expect("read pg_hba.conf"));
            files.push(("pg_hba.conf", lines));
            files.push(("ca.crt", ca));
        }
        if let Some((cert, key)) = tls {
            files.push(("server.crt", cert));
            files.push(("server.key", key));
        }
        {
            // The server refuses a key file that others can read, or that is not its own.
            use std::os::unix::fs::PermissionsExt;
            for (name, text) in files {
                let path = std::path::Path::new(&data).join(name);
                std::fs::write(&path, text).expect("write the server's certificate");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
                if as_postgres {
                    let (uid, gid) = postgres_user();
                    std::os::unix::fs::chown(&path, Some(uid), Some(gid)).expect("chown the certificate");
                }
            }
        }
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
        let tls =
            if self.tls { " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key" } else { "" };
        let client_ca = if self.client_ca { " -c ssl_ca_file=ca.crt" } else { "" };
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {}{sync}{tls}{client_ca}",
            self.port,
            self.dir.path().display()
        );
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
