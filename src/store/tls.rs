//! TLS to the team store, the way libpq users know it: `sslmode` (disable, prefer, require,
//! verify-ca, verify-full) and `sslrootcert` in the store URL (or `PGSSLMODE` and
//! `PGSSLROOTCERT`), carried out with rustls; and a client certificate, `sslcert` and
//! `sslkey` (or `PGSSLCERT` and `PGSSLKEY`, else `~/.postgresql/postgresql.crt` and `.key`
//! when that certificate exists), for servers that authenticate users by certificate.
//!
//! tokio-postgres reads only disable/prefer/require, so [`split`] takes both settings out of
//! the URL before it is parsed and keeps their meaning here: the URL's TLS part decides
//! tokio-postgres's `SslMode` (whether TLS is asked for and whether it is a must) and
//! [`Tls::connector`] decides what a certificate must prove. The glue between rustls and
//! tokio-postgres is tokio-postgres-rustls (it also gives SCRAM its channel binding); the
//! crypto is the aws-lc-rs provider that reqwest already uses, never OpenSSL.
//!
//! Without `sslrootcert`, certificates are checked against the system's CA store
//! (rustls-native-certs, already used by reqwest's verifier): a team's private CA is
//! usually installed there, and updating it is the system's business, not a rebuild's.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

const MODES: &str = "disable, prefer, require, verify-ca, verify-full";

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, plain otherwise; the certificate is not checked.
    Prefer,
    /// TLS or nothing; the certificate is not checked (unless `sslrootcert` is given).
    Require,
    /// TLS, the certificate signed by a trusted CA; any host name.
    VerifyCa,
    /// TLS, the certificate signed by a trusted CA and made out to the host connected to.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// Where the trusted CA certificates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roots {
    /// `sslrootcert=PATH`: a PEM file of CA certificates.
    File(PathBuf),
    /// `sslrootcert=system`, or no `sslrootcert`: the system's CA store.
    System { named: bool },
}

/// What tokio-postgres connects with (a cheap clone: the rustls config is shared).
#[derive(Clone)]
pub struct Connector(pub MakeRustlsConnect);

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connector")
    }
}

/// This machine's certificate and its key, shown to servers that ask for one (PostgreSQL's
/// `cert` authentication, or `clientcert=verify-full` in pg_hba.conf).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// libpq's default, `~/.postgresql/postgresql.crt`: used only when it exists.
    pub default: bool,
}

/// The TLS settings of a store URL.
#[derive(Clone, Debug)]
pub struct Tls {
    pub mode: SslMode,
    pub roots: Roots,
    pub client: Option<ClientCert>,
}

/// Takes `sslmode`, `sslrootcert`, `sslcert` and `sslkey` out of a store URL
/// (`postgres://…?sslmode=…` or `host=… sslmode=…`), falling back on `PGSSLMODE`,
/// `PGSSLROOTCERT`, `PGSSLCERT` and `PGSSLKEY` (given as `env`, with `HOME` for libpq's
/// default client certificate), and returns the rest of the URL, for tokio-postgres, and the
/// settings.
pub fn split(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<(String, Tls), String> {
    let mut mode = None;
    let mut rootcert = None;
    let mut sslcert = None;
    let mut sslkey = None;
    let mut unsupported = None;
    let rest = rewrite(url, |key, value| match key {
        "sslmode" => {
            mode = Some(value.to_owned());
            None
        }
        "sslrootcert" => {
            rootcert = Some(value.to_owned());
            None
        }
        "sslcert" => {
            sslcert = Some(value.to_owned());
            None
        }
        "sslkey" => {
            sslkey = Some(value.to_owned());
            None
        }
        "sslpassword"
        | "sslcrl"
        | "sslcrldir"
        | "sslsni"
        | "ssl_min_protocol_version"
        | "ssl_max_protocol_version"
        | "requirepeer"
        | "gssencmode" => {
            unsupported.get_or_insert_with(|| key.to_owned());
            None
        }
        _ => Some(()),
    });
    if let Some(key) = unsupported {
        let why = match key.as_str() {
            "sslpassword" => {
                "encrypted private keys are not supported: decrypt the key once (`openssl pkey -in key.pem -out key-plain.pem`, then `chmod 600 key-plain.pem`) and give the plain one as sslkey"
            }
            "sslcrl" | "sslcrldir" => {
                "certificate revocation lists are not checked: leave it out (only sslmode, sslrootcert, sslcert and sslkey are supported)"
            }
            _ => "only sslmode, sslrootcert, sslcert and sslkey are supported",
        };
        return Err(format!("{key} is not supported here: {why}"));
    }
    let (mode, mode_from) = match mode {
        Some(m) => (Some(m), "sslmode"),
        None => (env("PGSSLMODE").filter(|m| !m.is_empty()), "PGSSLMODE"),
    };
    let rootcert = rootcert.or_else(|| env("PGSSLROOTCERT")).filter(|r| !r.is_empty());
    let roots = match rootcert.as_deref() {
        None => Roots::System { named: false },
        Some("system") => Roots::System { named: true },
        Some(path) => Roots::File(PathBuf::from(path)),
    };
    let mode = match mode.as_deref() {
        None if roots == (Roots::System { named: true }) => SslMode::VerifyFull,
        None => SslMode::Prefer,
        Some(m) => SslMode::parse(m).ok_or_else(|| {
            format!("{mode_from} '{m}' is not one of {MODES} (libpq's meanings; prefer when none is given)")
        })?,
    };
    // As libpq: trusting "whatever the system trusts" means nothing unless the host name is
    // checked too (any public CA signs a certificate for somebody's name).
    if roots == (Roots::System { named: true }) && mode != SslMode::VerifyFull {
        return Err(format!(
            "sslrootcert=system needs sslmode=verify-full (the system's CAs vouch for names, not for your server), not sslmode={}",
            mode.name()
        ));
    }
    // As libpq (which wants root.crt for verify-ca): a chain checked without the name proves
    // only that some CA signed it, so that CA must be the store's own, never "any the system
    // trusts" (a public CA signs a certificate for anyone's domain).
    if mode == SslMode::VerifyCa && roots == (Roots::System { named: false }) {
        return Err(
            "sslmode=verify-ca needs sslrootcert=PATH, the CA that signs the store's certificate (it checks who signed it, not the host name, so any CA this system trusts would do for someone in the middle); or use sslmode=verify-full"
                .to_owned(),
        );
    }
    let sslcert = sslcert.or_else(|| env("PGSSLCERT")).filter(|c| !c.is_empty());
    let sslkey = sslkey.or_else(|| env("PGSSLKEY")).filter(|k| !k.is_empty());
    let client = match (sslcert, sslkey) {
        (Some(cert), Some(key)) => Some(ClientCert { cert: cert.into(), key: key.into(), default: false }),
        (Some(cert), None) => {
            return Err(format!(
                "sslcert {cert} is given without sslkey: give the certificate's private key too (sslkey=PATH in the store URL, or PGSSLKEY)"
            ));
        }
        (None, Some(key)) => {
            return Err(format!(
                "sslkey {key} is given without sslcert: give the certificate it belongs to too (sslcert=PATH in the store URL, or PGSSLCERT)"
            ));
        }
        // As libpq (and so psql): ~/.postgresql/postgresql.crt when it exists.
        (None, None) => env("HOME").filter(|h| !h.is_empty()).map(|home| {
            let dir = Path::new(&home).join(".postgresql");
            ClientCert { cert: dir.join("postgresql.crt"), key: dir.join("postgresql.key"), default: true }
        }),
    };
    Ok((rest, Tls { mode, roots, client }))
}

impl Tls {
    /// What tokio-postgres is told: whether TLS is asked for, and whether it is a must.
    pub fn pg_mode(&self) -> PgSslMode {
        match self.mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        }
    }

    /// The rustls connector for these settings; reads `sslrootcert` (or the system's CAs)
    /// when a certificate is to be checked.
    pub fn connector(&self) -> Result<Connector, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        // libpq checks the chain whenever root certificates are given, even under
        // prefer/require ("require with a root certificate behaves as verify-ca").
        let check_chain = match self.mode {
            SslMode::Disable => false,
            SslMode::Prefer | SslMode::Require => matches!(self.roots, Roots::File(_)),
            SslMode::VerifyCa | SslMode::VerifyFull => true,
        };
        let verifier: Arc<dyn ServerCertVerifier> = if check_chain {
            let roots = Arc::new(self.load_roots()?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| format!("cannot use the CA certificates {}: {e}", self.roots_shown()))?;
            if self.mode == SslMode::VerifyFull { webpki } else { Arc::new(ChainOnly(webpki)) }
        } else {
            Arc::new(AnyCertificate(provider))
        };
        let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
        let config = match self.load_client()? {
            None => builder.with_no_client_auth(),
            Some((client, chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => format!(
                    "sslkey {} is not the key of the certificate in sslcert {}: give the key that was made with that certificate (`openssl x509 -in CERT -noout -pubkey` and `openssl pkey -in KEY -pubout` print the same for a matching pair)",
                    client.key.display(),
                    client.cert.display()
                ),
                e => format!(
                    "cannot use sslcert {} with sslkey {}: {e}",
                    client.cert.display(),
                    client.key.display()
                ),
            })?,
        };
        Ok(Connector(MakeRustlsConnect::new(config)))
    }

    /// Reads the client certificate and its key, when there is one to show (libpq's default
    /// file only when it exists), refusing a key that others may read as libpq does.
    #[allow(clippy::type_complexity)]
    fn load_client(
        &self,
    ) -> Result<Option<(&ClientCert, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, String> {
        let Some(client) = &self.client else { return Ok(None) };
        if self.mode == SslMode::Disable {
            return Ok(None);
        }
        let cert_shown = client.cert.display();
        let pem = match std::fs::read(&client.cert) {
            Ok(pem) => pem,
            // libpq goes on without a certificate when its default file is not there.
            Err(e)
                if client.default
                    && matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(format!(
                    "cannot read sslcert {cert_shown}: {e}: give the PEM file of this machine's client certificate"
                ));
            }
        };
        let chain = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("sslcert {cert_shown} is not a PEM file of certificates: {e}"))?;
        if chain.is_empty() {
            return Err(format!(
                "sslcert {cert_shown} holds no certificate: give a PEM file with a `-----BEGIN CERTIFICATE-----` block, this machine's certificate (its intermediate CAs may follow)"
            ));
        }
        let key_shown = client.key.display();
        let meta = match std::fs::metadata(&client.key) {
            Ok(meta) => meta,
            Err(e) if client.default && e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "the client certificate {cert_shown} is there, but not its private key {key_shown}: put the key there (chmod 600), or give both with sslcert=PATH and sslkey=PATH"
                ));
            }
            Err(e) => {
                return Err(format!(
                    "cannot read sslkey {key_shown}: {e}: give the PEM file of the private key of sslcert {cert_shown}"
                ));
            }
        };
        check_key_permissions(&client.key, &meta)?;
        let key_pem = std::fs::read(&client.key).map_err(|e| {
            format!("cannot read sslkey {key_shown}: {e}: give the PEM file of the private key of sslcert {cert_shown}")
        })?;
        // PKCS#8's encrypted form, and OpenSSL's traditional one (a header in the block).
        let encrypted = [&b"-----BEGIN ENCRYPTED PRIVATE KEY-----"[..], b"Proc-Type: 4,ENCRYPTED"];
        if encrypted.iter().any(|marker| memchr::memmem::find(&key_pem, marker).is_some()) {
            return Err(format!(
                "sslkey {key_shown} is encrypted, and keys that need a password (sslpassword) are not supported: decrypt it once (`openssl pkey -in {key_shown} -out key-plain.pem`, then `chmod 600 key-plain.pem`) and give the plain one as sslkey"
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => format!(
                "sslkey {key_shown} holds no private key: give the PEM file of the key of sslcert {cert_shown} (a `-----BEGIN PRIVATE KEY-----`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY` block)"
            ),
            e => format!("sslkey {key_shown} is not a PEM file of a private key: {e}"),
        })?;
        Ok(Some((client, chain, key)))
    }

    fn load_roots(&self) -> Result<rustls::RootCertStore, String> {
        let mut store = rustls::RootCertStore::empty();
        match &self.roots {
            Roots::File(path) => {
                let shown = path.display();
                let pem = std::fs::read(path).map_err(|e| {
                    format!("cannot read sslrootcert {shown}: {e}: give a PEM file of the CA certificates that sign the store's certificate")
                })?;
                let certs = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("sslrootcert {shown} is not a PEM file of CA certificates: {e}"))?;
                if certs.is_empty() {
                    return Err(format!(
                        "sslrootcert {shown} holds no certificate: give a PEM file with `-----BEGIN CERTIFICATE-----` blocks of the CA that signs the store's certificate"
                    ));
                }
                for cert in certs {
                    store.add(cert).map_err(|e| {
                        format!("sslrootcert {shown} holds a certificate rustls cannot use: {e}")
                    })?;
                }
            }
            Roots::System { .. } => {
                let found = rustls_native_certs::load_native_certs();
                store.add_parsable_certificates(found.certs);
                if store.is_empty() {
                    let why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
                    return Err(format!(
                        "no trusted CA certificates found on this system{}: give the store's CA with sslrootcert=PATH in the store URL",
                        if why.is_empty() { String::new() } else { format!(" ({})", why.join("; ")) }
                    ));
                }
            }
        }
        Ok(store)
    }

    fn roots_shown(&self) -> Cow<'_, str> {
        match &self.roots {
            Roots::File(path) => format!("in sslrootcert {}", path.display()).into(),
            Roots::System { .. } => "this system trusts".into(),
        }
    }

    /// A message people can act on for a failed connection, when TLS is what failed.
    pub fn explain(&self, e: &tokio_postgres::Error) -> Option<String> {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = source {
            if let Some(tls) = err.downcast_ref::<rustls::Error>() {
                return Some(self.explain_rustls(tls));
            }
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
            {
                return Some(self.explain_rustls(tls));
            }
            if let Some(db) = err.downcast_ref::<tokio_postgres::error::DbError>()
                && let Some(why) = self.explain_refusal(db)
            {
                return Some(why);
            }
            // tokio-postgres's words when the server answers the TLS request with "no" under
            // require (tests/store.rs holds it to them).
            if err.to_string() == "server does not support TLS" {
                return Some(format!(
                    "the server does not offer TLS, and sslmode={} requires it: turn `ssl` on in its postgresql.conf (with ssl_cert_file and ssl_key_file), or use sslmode=prefer on a network you trust",
                    self.mode.name()
                ));
            }
            source = err.source();
        }
        None
    }

    /// The server's words when it wanted a client certificate and did not get a good one.
    fn explain_refusal(&self, db: &tokio_postgres::error::DbError) -> Option<String> {
        let said = db.message();
        let client = self.client.as_ref().filter(|c| !c.default || c.cert.exists());
        if said.starts_with("connection requires a valid client certificate") {
            return Some(match client {
                None => format!(
                    "the server wants a client certificate for this user and none was given ({said}): give sslcert=PATH and sslkey=PATH in the store URL (or PGSSLCERT and PGSSLKEY), the certificate made out to the user name (CN) and signed by a CA in the server's ssl_ca_file"
                ),
                Some(c) => format!(
                    "the server wants a client certificate and did not take sslcert {} ({said}): the server's ssl_ca_file must hold the CA that signed it",
                    c.cert.display()
                ),
            });
        }
        if said.starts_with("certificate authentication failed for user")
            || said.starts_with("certificate validation (clientcert=verify-full) failed")
        {
            let whose = match client {
                Some(c) => format!("the certificate in sslcert {}", c.cert.display()),
                None => "the client certificate".to_owned(),
            };
            return Some(format!(
                "the server refused {whose} for this user ({said}): its common name (CN) must be the user name in the store URL, or be mapped to it in the server's pg_ident.conf; `openssl x509 -in CERT -noout -subject` shows its CN"
            ));
        }
        None
    }

    fn explain_rustls(&self, e: &rustls::Error) -> String {
        if let (rustls::Error::AlertReceived(alert), Some(c)) = (e, &self.client)
            && c.cert.exists()
            && matches!(
                alert,
                rustls::AlertDescription::UnknownCA
                    | rustls::AlertDescription::BadCertificate
                    | rustls::AlertDescription::CertificateUnknown
                    | rustls::AlertDescription::CertificateExpired
                    | rustls::AlertDescription::CertificateRevoked
                    | rustls::AlertDescription::AccessDenied
                    | rustls::AlertDescription::DecryptError
            )
        {
            return format!(
                "the server refused the client certificate in sslcert {} during the TLS handshake ({e}): it must be signed by a CA in the server's ssl_ca_file, and be valid today",
                c.cert.display()
            );
        }
        let rustls::Error::InvalidCertificate(cert) = e else {
            return format!("the TLS handshake failed: {e}");
        };
        match cert {
            CertificateError::UnknownIssuer => match &self.roots {
                Roots::File(path) => format!(
                    "the store's certificate is not signed by a CA in sslrootcert {}: give the CA that signed it (the issuer of the server's ssl_cert_file) in that file",
                    path.display()
                ),
                Roots::System { .. } => "the store's certificate is not signed by a CA this system trusts: give its CA with sslrootcert=PATH in the store URL".to_owned(),
            },
            CertificateError::NotValidForName => {
                "the store's certificate is not made out to the host connected to: connect by a name it holds, or use sslmode=verify-ca to check only who signed it".to_owned()
            }
            CertificateError::NotValidForNameContext { expected, presented } => format!(
                "the store's certificate is not made out to {} (it holds {}): connect by a name it holds, or use sslmode=verify-ca to check only who signed it",
                expected.to_str(),
                if presented.is_empty() {
                    "no name".to_owned()
                } else {
                    presented.iter().map(|n| plain_name(n)).collect::<Vec<_>>().join(", ")
                }
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("the store's certificate has expired ({e}): the server needs a new one")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("the store's certificate is not valid yet ({e}): check this machine's clock")
            }
            _ => format!("the store's certificate was refused: {e}"),
        }
    }
}

/// libpq's rule for a private key file: a regular file, readable by its owner only (0600 or
/// less), or also by its group (0640 or less) when root owns it, so a key shared through a
/// group stays usable.
fn check_key_permissions(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let shown = path.display();
    if !meta.is_file() {
        return Err(format!("sslkey {shown} is not a regular file: give the PEM file of the private key"));
    }
    let mode = meta.mode();
    let too_open = if meta.uid() == 0 { mode & 0o037 } else { mode & 0o077 };
    if too_open != 0 {
        return Err(format!(
            "private key file {shown} has group or world access (mode {:04o}); permissions should be u=rw (0600) or less, or u=rw,g=r (0640) or less if owned by root: `chmod 600 {shown}`",
            mode & 0o7777
        ));
    }
    Ok(())
}

/// A name of a certificate as rustls reports it (`DnsName("db.internal")`,
/// `IpAddress(10.0.0.5)`), as people write it.
fn plain_name(name: &str) -> &str {
    name.strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| name.strip_prefix("IpAddress(").and_then(|n| n.strip_suffix(')')))
        .unwrap_or(name)
}

/// `sslmode=verify-ca` (and require/prefer with `sslrootcert`): the chain must lead to a
/// trusted CA, the host name is not checked. rustls's verifier checks the name last, after
/// the chain (and revocation) passed, so its name error alone is forgiven.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `sslmode=prefer` and `require` without `sslrootcert`: encrypted, but any certificate is
/// taken (libpq's meaning: protection from eavesdroppers, not from someone in the middle).
/// The handshake's signatures are still checked, so the server holds the key of the
/// certificate it shows.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Rewrites the parameters of a connection URL or key/value string: `keep(key, value)`
/// returns `None` to take a parameter out. Values are given decoded (percent-decoding in
/// URLs, quotes and backslashes in key/value strings); kept ones are copied as written.
pub(super) fn rewrite(url: &str, mut keep: impl FnMut(&str, &str) -> Option<()>) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && (scheme == "postgres" || scheme == "postgresql")
    {
        let Some(q) = url_parts(rest).1 else { return url.to_owned() };
        let (base, query) = url.split_at(scheme.len() + 3 + q);
        let base = base.to_owned();
        let query = &query[1..];
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let k = percent_encoding::percent_decode_str(k).decode_utf8_lossy();
                let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                keep(&k, &v).is_some()
            })
            .collect();
        if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) }
    } else {
        let kept: Vec<&str> = key_values(url)
            .into_iter()
            .filter(|kv| keep(&kv.key, &kv.value).is_some())
            .map(|kv| kv.raw)
            .collect();
        kept.join(" ")
    }
}

/// Where, in a URL after its `postgres://`, the user info ends (its `@`) and the query
/// starts (its `?`). tokio-postgres takes the user info up to the first `@`, whatever comes
/// before it, so a password may hold `?` (or `/`) unencoded; it may hold `@` too, and the
/// query may (`sslrootcert=/certs/a@b.pem`). An `@` after a `/`, then its last `?`, then a
/// `=` is in the query (`/runs?sslrootcert=…@…`); one before is the user info's, so a password is
/// rather hidden with more than shown.
pub(super) fn url_parts(rest: &str) -> (Option<usize>, Option<usize>) {
    let in_query = |at: usize| {
        rest[..at].rfind('?').is_some_and(|q| rest[..q].contains('/') && rest[q..at].contains('='))
    };
    let at = rest.match_indices('@').map(|(i, _)| i).rfind(|&i| !in_query(i));
    let from = at.map_or(0, |a| a + 1);
    (at, rest[from..].find('?').map(|q| from + q))
}

/// One `key=value` of a libpq key/value connection string.
pub(super) struct KeyValue<'a> {
    pub key: String,
    pub value: String,
    /// The whole `key=value` as written.
    pub raw: &'a str,
    /// Where the value starts in `raw`.
    pub value_at: usize,
}

/// The `key=value` pairs of a libpq key/value string (`host=db user='on call'`), as libpq
/// reads them: spaces around `=` allowed, values quoted with `'`, `\` escaping. Text that
/// is not a pair is kept as a pair with an empty key, so nothing written is lost.
pub(super) fn key_values(s: &str) -> Vec<KeyValue<'_>> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_space = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_space(i);
        if i >= bytes.len() {
            return out;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = s[start..i].to_owned();
        let j = skip_space(i);
        if j >= bytes.len() || bytes[j] != b'=' {
            out.push(KeyValue { key: String::new(), value: key, raw: &s[start..i], value_at: 0 });
            continue;
        }
        i = skip_space(j + 1);
        let value_at = i - start;
        let mut value = String::new();
        let quoted = i < bytes.len() && bytes[i] == b'\'';
        if quoted {
            i += 1;
        }
        let mut chars = s[i..].char_indices();
        let mut end = s.len();
        while let Some((at, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, next)) = chars.next() {
                        value.push(next);
                    }
                }
                '\'' if quoted => {
                    end = i + at + 1;
                    break;
                }
                c if !quoted && c.is_ascii_whitespace() => {
                    end = i + at;
                    break;
                }
                c => value.push(c),
            }
        }
        i = end;
        out.push(KeyValue { key, value, raw: &s[start..end], value_at });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_either_form_of_url() {
        let (rest, tls) = split(
            "postgres://ops@db:5432/runs?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
            no_env,
        )
        .unwrap();
        assert_eq!(rest, "postgres://ops@db:5432/runs?application_name=x");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.roots, Roots::File("/etc/ca.pem".into()));
        assert_eq!(tls.pg_mode(), PgSslMode::Require);

        let (rest, tls) =
            split("host=db sslmode = verify-ca sslrootcert='/my ca/root.pem' user=ops", no_env).unwrap();
        assert_eq!(rest, "host=db user=ops");
        assert_eq!(tls.mode, SslMode::VerifyCa);
        assert_eq!(tls.roots, Roots::File("/my ca/root.pem".into()));

        let (rest, tls) = split("postgres://db/runs?sslmode=disable", no_env).unwrap();
        assert_eq!((rest.as_str(), tls.pg_mode()), ("postgres://db/runs", PgSslMode::Disable));
    }

    #[test]
    fn prefer_is_the_default_and_the_environment_fills_in_what_the_url_leaves_out() {
        let (_, tls) = split("postgres://db/runs", no_env).unwrap();
        assert_eq!((tls.mode, tls.roots), (SslMode::Prefer, Roots::System { named: false }));
        let env = |k: &str| match k {
            "PGSSLMODE" => Some("require".to_owned()),
            "PGSSLROOTCERT" => Some("/ca.pem".to_owned()),
            _ => None,
        };
        let (_, tls) = split("postgres://db/runs", env).unwrap();
        assert_eq!((tls.mode, tls.roots), (SslMode::Require, Roots::File("/ca.pem".into())));
        let (_, tls) = split("postgres://db/runs?sslmode=verify-full", env).unwrap();
        assert_eq!(tls.mode, SslMode::VerifyFull, "the URL comes first");
        // sslrootcert=system means verify-full, and nothing weaker.
        let (_, tls) = split("postgres://db/runs?sslrootcert=system", no_env).unwrap();
        assert_eq!((tls.mode, tls.roots), (SslMode::VerifyFull, Roots::System { named: true }));
        let e = split("postgres://db/runs?sslrootcert=system&sslmode=require", no_env).unwrap_err();
        assert!(e.contains("needs sslmode=verify-full"), "{e}");
    }

    #[test]
    fn libpq_settings_this_store_cannot_honour_are_refused_not_ignored() {
        let e = split("postgres://db/runs?sslcert=me.crt&sslkey=me.key&sslpassword=x", no_env).unwrap_err();
        assert!(e.starts_with("sslpassword is not supported here: encrypted private keys are not supported: decrypt the key once (`openssl pkey -in key.pem -out key-plain.pem`"), "{e}");
        let e = split("host=db sslcrl=/crl.pem", no_env).unwrap_err();
        assert!(
            e.starts_with("sslcrl is not supported here: certificate revocation lists are not checked"),
            "{e}"
        );
        let e = split("host=db sslsni=0", no_env).unwrap_err();
        assert!(
            e.starts_with("sslsni is not supported here: only sslmode, sslrootcert, sslcert and sslkey"),
            "{e}"
        );
    }

    #[test]
    fn sslcert_and_sslkey_come_together_from_the_url_the_environment_or_home() {
        let (rest, tls) = split(
            "postgres://ops@db/runs?sslmode=verify-full&sslcert=%2Fc%2Fme.crt&sslkey=/c/me.key&application_name=x",
            no_env,
        )
        .unwrap();
        assert_eq!(rest, "postgres://ops@db/runs?application_name=x");
        assert_eq!(
            tls.client,
            Some(ClientCert { cert: "/c/me.crt".into(), key: "/c/me.key".into(), default: false })
        );
        let (rest, tls) = split("host=db sslcert='/my certs/me.crt' sslkey=/k user=ops", no_env).unwrap();
        assert_eq!(rest, "host=db user=ops");
        assert_eq!(tls.client.unwrap().cert, PathBuf::from("/my certs/me.crt"));

        let env = |k: &str| match k {
            "PGSSLCERT" => Some("/env.crt".to_owned()),
            "PGSSLKEY" => Some("/env.key".to_owned()),
            "HOME" => Some("/home/ops".to_owned()),
            _ => None,
        };
        let (_, tls) = split("postgres://db/runs", env).unwrap();
        assert_eq!(
            tls.client,
            Some(ClientCert { cert: "/env.crt".into(), key: "/env.key".into(), default: false })
        );
        let (_, tls) = split("postgres://db/runs?sslcert=/u.crt&sslkey=/u.key", env).unwrap();
        assert_eq!(tls.client.unwrap().cert, PathBuf::from("/u.crt"), "the URL comes first");
        let home = |k: &str| (k == "HOME").then(|| "/home/ops".to_owned());
        let (_, tls) = split("postgres://db/runs", home).unwrap();
        assert_eq!(
            tls.client,
            Some(ClientCert {
                cert: "/home/ops/.postgresql/postgresql.crt".into(),
                key: "/home/ops/.postgresql/postgresql.key".into(),
                default: true
            })
        );
        assert_eq!(split("postgres://db/runs", no_env).unwrap().1.client, None);

        // (Not filled in from ~/.postgresql: a key from elsewhere would be a surprise.)
        let e = split("postgres://db/runs?sslcert=/c/me.crt", home).unwrap_err();
        assert_eq!(
            e,
            "sslcert /c/me.crt is given without sslkey: give the certificate's private key too (sslkey=PATH in the store URL, or PGSSLKEY)"
        );
        let e = split("host=db sslkey=/c/me.key", no_env).unwrap_err();
        assert!(e.starts_with("sslkey /c/me.key is given without sslcert: "), "{e}");
    }

    /// A certificate and key for `cn`, PEM, signed by a fresh CA.
    fn client_pair(cn: &str) -> (String, String) {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        (params.signed_by(&key, &ca).unwrap().pem(), key.serialize_pem())
    }

    fn with_client(dir: &Path, cert: &str, key: &str, mode: u32) -> (Tls, PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let (c, k) = (dir.join("me.crt"), dir.join("me.key"));
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(mode)).unwrap();
        let client = ClientCert { cert: c.clone(), key: k.clone(), default: false };
        (Tls { mode: SslMode::Require, roots: Roots::System { named: false }, client: Some(client) }, c, k)
    }

    #[test]
    fn a_client_certificate_that_cannot_be_used_is_said_with_its_file() {
        let tmp = tempfile::tempdir().unwrap();
        let (cert, key) = client_pair("ops");
        let (tls, ..) = with_client(tmp.path(), &cert, &key, 0o600);
        assert!(tls.connector().is_ok());
        // PKCS#1 and SEC1 keys are read as well as PKCS#8.
        let rsa = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n";
        let (tls, ..) = with_client(tmp.path(), &cert, rsa, 0o600);
        let e = tls.connector().err().unwrap();
        assert!(!e.contains("holds no private key"), "a PKCS#1 block is seen as a key: {e}");

        let (tls, _, k) = with_client(tmp.path(), &cert, &key, 0o644);
        let e = tls.connector().err().unwrap();
        assert_eq!(
            e,
            format!(
                "private key file {k} has group or world access (mode 0644); permissions should be u=rw (0600) or less, or u=rw,g=r (0640) or less if owned by root: `chmod 600 {k}`",
                k = k.display()
            )
        );
        // Root's key may be read by its group (libpq's rule), never by others.
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let (tls, ..) = with_client(tmp.path(), &cert, &key, 0o640);
        assert_eq!(tls.connector().is_ok(), root, "0640 is fine for root's key only");

        let (tls, _, k) = with_client(tmp.path(), &cert, "not a key\n", 0o600);
        let e = tls.connector().err().unwrap();
        assert!(e.starts_with(&format!("sslkey {} holds no private key: ", k.display())), "{e}");
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let (tls, _, k) = with_client(tmp.path(), &cert, encrypted, 0o600);
        let e = tls.connector().err().unwrap();
        assert!(
            e.starts_with(&format!("sslkey {k} is encrypted, and keys that need a password (sslpassword) are not supported: decrypt it once (`openssl pkey -in {k} -out key-plain.pem`", k = k.display())),
            "{e}"
        );
        let (tls, c, _) = with_client(tmp.path(), "just text\n", &key, 0o600);
        let e = tls.connector().err().unwrap();
        assert!(e.starts_with(&format!("sslcert {} holds no certificate: ", c.display())), "{e}");
        let (_, other_key) = client_pair("ops");
        let (tls, c, k) = with_client(tmp.path(), &cert, &other_key, 0o600);
        let e = tls.connector().err().unwrap();
        assert!(
            e.starts_with(&format!(
                "sslkey {} is not the key of the certificate in sslcert {}: ",
                k.display(),
                c.display()
            )),
            "{e}"
        );
        let missing = ClientCert {
            cert: tmp.path().join("nope.crt"),
            key: tmp.path().join("nope.key"),
            default: false,
        };
        let tls =
            Tls { mode: SslMode::Require, roots: Roots::System { named: false }, client: Some(missing) };
        let e = tls.connector().err().unwrap();
        assert!(
            e.starts_with(&format!("cannot read sslcert {}: ", tmp.path().join("nope.crt").display())),
            "{e}"
        );
    }

    #[test]
    fn libpqs_default_client_certificate_is_used_only_when_it_is_there() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(".postgresql");
        let default =
            ClientCert { cert: dir.join("postgresql.crt"), key: dir.join("postgresql.key"), default: true };
        let tls =
            Tls { mode: SslMode::Require, roots: Roots::System { named: false }, client: Some(default) };
        assert!(tls.load_client().unwrap().is_none(), "no ~/.postgresql: no certificate, no error");
        std::fs::create_dir(&dir).unwrap();
        let (cert, key) = client_pair("ops");
        std::fs::write(dir.join("postgresql.crt"), &cert).unwrap();
        let e = tls.connector().err().unwrap();
        assert!(
            e.starts_with(&format!(
                "the client certificate {} is there, but not its private key {}",
                dir.join("postgresql.crt").display(),
                dir.join("postgresql.key").display()
            )),
            "{e}"
        );
        std::fs::write(dir.join("postgresql.key"), &key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("postgresql.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(tls.load_client().unwrap().is_some());
        let disabled = Tls { mode: SslMode::Disable, ..tls };
        assert!(disabled.load_client().unwrap().is_none(), "nothing is read without TLS");
    }

    #[test]
    fn a_password_may_hold_a_question_mark_and_the_settings_are_still_found() {
        let (rest, tls) =
            split("postgres://ops:a?b=c@db/runs?sslmode=require&application_name=x", no_env).unwrap();
        assert_eq!(tls.mode, SslMode::Require);
        assert_eq!(rest, "postgres://ops:a?b=c@db/runs?application_name=x");
        assert_eq!(url_parts("ops:p?w@db/runs?sslrootcert=/a@b.pem"), (Some(7), Some(15)));
        assert_eq!(url_parts("db:5432/runs?sslrootcert=/a@b.pem"), (None, Some(12)));
    }

    #[test]
    fn verify_ca_needs_a_ca_of_its_own() {
        for url in ["postgres://db/runs?sslmode=verify-ca", "host=db sslmode=verify-ca"] {
            let e = split(url, no_env).unwrap_err();
            assert!(e.starts_with("sslmode=verify-ca needs sslrootcert=PATH"), "{e}");
        }
        let env = |name: &str| (name == "PGSSLMODE").then(|| "verify-ca".to_owned());
        assert!(split("postgres://db/runs", env).is_err(), "PGSSLMODE too");
        let (_, tls) = split("postgres://db/runs?sslmode=verify-ca&sslrootcert=/ca.pem", no_env).unwrap();
        assert_eq!((tls.mode, tls.roots), (SslMode::VerifyCa, Roots::File("/ca.pem".into())));
    }

    #[test]
    fn an_unknown_sslmode_names_the_allowed_ones() {
        let e = split("postgres://db/runs?sslmode=verify_full", no_env).unwrap_err();
        assert_eq!(
            e,
            "sslmode 'verify_full' is not one of disable, prefer, require, verify-ca, verify-full (libpq's meanings; prefer when none is given)"
        );
        let e = split("postgres://db/runs", |_| Some("on".to_owned())).unwrap_err();
        assert!(e.starts_with("PGSSLMODE 'on' is not one of"), "{e}");
    }

    #[test]
    fn certificate_names_are_shown_as_people_write_them() {
        assert_eq!(plain_name("DnsName(\"db.internal\")"), "db.internal");
        assert_eq!(plain_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(plain_name("DirectoryName"), "DirectoryName");
    }

    #[test]
    fn key_values_are_read_as_libpq_reads_them() {
        let kv = key_values(r"host=db  password = 'it''s' user=o\ ps dbname='a b\'c'");
        let pairs: Vec<(&str, &str, &str)> =
            kv.iter().map(|k| (k.key.as_str(), k.value.as_str(), k.raw)).collect();
        assert_eq!(
            pairs,
            [
                ("host", "db", "host=db"),
                ("password", "it", "password = 'it'"),
                ("", "'s'", "'s'"),
                ("user", "o ps", r"user=o\ ps"),
                ("dbname", "a b'c", r"dbname='a b\'c'"),
            ]
        );
        assert_eq!(kv[1].value_at, "password = ".len());
    }

    #[test]
    fn an_unreadable_or_empty_sslrootcert_is_said_with_its_path() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope.pem");
        let tls = Tls { mode: SslMode::VerifyFull, roots: Roots::File(missing.clone()), client: None };
        let e = tls.connector().err().unwrap();
        assert!(e.starts_with(&format!("cannot read sslrootcert {}: ", missing.display())), "{e}");
        let empty = tmp.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let tls = Tls { mode: SslMode::VerifyCa, roots: Roots::File(empty.clone()), client: None };
        let e = tls.connector().err().unwrap();
        assert!(e.contains(&format!("sslrootcert {} holds no certificate", empty.display())), "{e}");
        // Nothing is read when no certificate is checked.
        let tls = Tls { mode: SslMode::Require, roots: Roots::System { named: false }, client: None };
        assert!(tls.connector().is_ok());
    }
}
