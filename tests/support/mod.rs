//! Runs the real `doorstep` binary on real SQLite files in a temporary directory.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_doorstep");

/// The PIN every test device's database is locked with, and the passphrase of every test hub.
pub const PIN: &str = "246810";
pub const PASSPHRASE: &str = "phường thử nghiệm";

/// The `doorstep` binary, given the tests' PIN and hub passphrase.
pub fn bin() -> Command {
    let mut c = Command::new(BIN);
    c.env("DOORSTEP_PIN", PIN)
        .env("DOORSTEP_HUB_PASSPHRASE", PASSPHRASE)
        .env_remove("DOORSTEP_NEW_PIN");
    c
}

/// A device's database, opened with the tests' PIN (set on it when it has none).
pub fn open_store(path: &std::path::Path) -> doorstep_store::Store {
    doorstep_store::Store::unlock(path, PIN, chrono::Utc::now().timestamp(), None)
        .expect("unlock the device's database")
        .store
}

/// A test hub's key, from the tests' passphrase.
pub fn hub_at_rest(data: &std::path::Path) -> doorstep_hub::AtRest {
    doorstep_hub::unlock(data, PASSPHRASE, chrono::Utc::now().timestamp())
        .expect("unlock the hub")
        .0
}

/// A device: a temporary directory holding one database.
pub struct Device {
    pub dir: TempDir,
    pub db: PathBuf,
}

impl Device {
    pub fn new() -> Self {
        let dir = TempDir::new().expect("temp dir");
        let db = dir.path().join("device.sqlite");
        Device { dir, db }
    }

    /// A device with a ward of two residential groups.
    pub fn with_ward() -> Self {
        let d = Self::new();
        d.ok(&[
            "ward",
            "init",
            "--name",
            "Phường Cửa Nam",
            "--group",
            "Tổ 1",
            "--group",
            "Tổ 2",
        ]);
        d
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = bin();
        c.arg("--db").arg(&self.db).args(args);
        c.env_remove("DOORSTEP_DB").env_remove("DOORSTEP_VOLUNTEER");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run doorstep")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "doorstep {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs a command with `--json` that must succeed; returns the one JSON document.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let text = self.ok(&with_json);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// Runs a command that must fail: exit code, and the single stderr line.
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "doorstep {args:?} should have failed"
        );
        assert!(out.stdout.is_empty(), "a failed command printed on stdout");
        let stderr = String::from_utf8(out.stderr).expect("utf-8 stderr");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "stderr should be one line: {stderr:?}"
        );
        (
            out.status.code().unwrap_or(-1),
            stderr.trim_end().to_string(),
        )
    }

    /// Everything the device holds, as the CLI shows it.
    pub fn state(&self) -> Value {
        serde_json::json!({
            "households": self.json(&["household", "list"]),
            "visits": self.json(&["visit", "list"]),
            "points": self.json(&["point", "list"]),
            "report": self.json(&["report", "--today", "2026-11-25"]),
        })
    }

    pub fn add_household(&self, group: &str, alley: &str, number: &str) -> String {
        let h = self.json(&[
            "household",
            "add",
            "--group",
            group,
            "--alley",
            alley,
            "--number",
            number,
        ]);
        h["id"].as_str().expect("household id").to_string()
    }
}

/// A ward hub served by the real binary on a loopback port, killed (SIGKILL) when dropped.
pub struct HubProcess {
    pub dir: TempDir,
    pub url: String,
    /// The pin of the hub's certificate key, which devices join with.
    pub pin: String,
    pub port: u16,
    child: Option<std::process::Child>,
    /// Flags `hub serve` gets beyond its data and address.
    serve_args: Vec<String>,
    /// Where every `hub` command finds the hub: `--data DIR` or `--database URL`.
    place: Vec<String>,
}

impl HubProcess {
    /// Creates a hub for a ward with `groups` and serves it on a free port.
    pub fn start(groups: &[&str]) -> Self {
        Self::start_with(groups, &[])
    }

    /// `start`, serving with `serve_args` too (e.g. `--rotate-tokens-hours 0`).
    pub fn start_with(groups: &[&str], serve_args: &[&str]) -> Self {
        Self::start_at(None, groups, serve_args)
    }

    /// A hub kept in PostgreSQL (`--database url`), no data directory.
    pub fn start_on_postgres(url: &str, groups: &[&str]) -> Self {
        Self::start_at(Some(url), groups, &[])
    }

    fn start_at(database: Option<&str>, groups: &[&str], serve_args: &[&str]) -> Self {
        let dir = TempDir::new().expect("temp dir");
        let data = dir.path().join("hub");
        let place: Vec<String> = match database {
            Some(url) => vec!["--database".into(), url.into()],
            None => vec!["--data".into(), data.display().to_string()],
        };
        let mut init = bin();
        init.args(["hub", "init"])
            .args(&place)
            .args(["--ward", "Phường Cửa Nam"]);
        for g in groups {
            init.args(["--group", g]);
        }
        let out = init.output().expect("hub init");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pin = match database {
            Some(url) => doorstep_hub::HubPlace::Postgres {
                url: url.into(),
                ward: None,
            }
            .tls(),
            None => doorstep_hub::HubTls::ensure(&data).map_err(Into::into),
        }
        .expect("hub TLS")
        .pin;
        let mut hub = HubProcess {
            dir,
            url: String::new(),
            pin,
            port: 0,
            child: None,
            serve_args: serve_args.iter().map(|a| a.to_string()).collect(),
            place,
        };
        hub.serve("127.0.0.1:0");
        hub
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("hub")
    }

    /// `hub serve` of a hub already made in `dir`'s `hub` directory (an imported ward).
    pub fn serve_made(dir: TempDir) -> HubProcess {
        let data = dir.path().join("hub");
        let pin = doorstep_hub::HubTls::ensure(&data).expect("hub TLS").pin;
        let mut hub = HubProcess {
            place: vec!["--data".into(), data.display().to_string()],
            dir,
            url: String::new(),
            pin,
            port: 0,
            child: None,
            serve_args: Vec::new(),
        };
        hub.serve("127.0.0.1:0");
        hub
    }

    /// `hub serve` on a city's database (`hub ward add` made it): every ward of it.
    pub fn serve_city(url: &str) -> HubProcess {
        let pin = doorstep_hub::HubPlace::Postgres {
            url: url.into(),
            ward: None,
        }
        .tls()
        .expect("the city's TLS identity")
        .pin;
        let mut hub = HubProcess {
            dir: TempDir::new().expect("temp dir"),
            url: String::new(),
            pin,
            port: 0,
            child: None,
            serve_args: Vec::new(),
            place: vec!["--database".into(), url.into()],
        };
        hub.serve("127.0.0.1:0");
        hub
    }

    /// Another `hub serve` process on the same database, on a port of its own (what a city
    /// deployment runs behind one address).
    pub fn another_process(&self) -> HubProcess {
        let mut hub = HubProcess {
            dir: TempDir::new().expect("temp dir"),
            url: String::new(),
            pin: self.pin.clone(),
            port: 0,
            child: None,
            serve_args: self.serve_args.clone(),
            place: self.place.clone(),
        };
        hub.serve("127.0.0.1:0");
        hub
    }

    fn serve(&mut self, listen: &str) {
        use std::io::{BufRead, BufReader};
        let mut child = bin()
            .args(["hub", "serve"])
            .args(&self.place)
            .args(["--listen", listen])
            .args(&self.serve_args)
            .env("RUST_LOG", "info,tower_http=debug")
            .stdout(std::process::Stdio::piped())
            .stderr(self.log_file())
            .spawn()
            .expect("hub serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        self.port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        self.url = url;
        self.child = Some(child);
    }

    /// Where the hub's log goes (every level from info, tower-http's from debug), across
    /// restarts.
    fn log_file(&self) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("hub.log"))
            .expect("hub log file")
    }

    /// Everything the hub has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("hub.log")).unwrap_or_default()
    }

    /// SIGKILLs the hub process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the hub again on the same port, serving with `serve_args` from now on.
    pub fn restart_with(&mut self, serve_args: &[&str]) {
        self.serve_args = serve_args.iter().map(|a| a.to_string()).collect();
        self.restart();
    }

    /// Starts the hub again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let listen = format!("127.0.0.1:{}", self.port);
        for _ in 0..50 {
            let probe = std::net::TcpListener::bind(&listen);
            if probe.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.serve(&listen);
    }

    /// Makes an invite code with the admin command.
    pub fn invite(&self, role: &str, name: &str, groups: &[&str], point: Option<&str>) -> String {
        let mut c = bin();
        c.args(["--json", "hub", "invite"])
            .args(&self.place)
            .args(["--role", role, "--name", name]);
        for g in groups {
            c.args(["--group", g]);
        }
        if let Some(p) = point {
            c.args(["--point", p]);
        }
        let out = c.output().expect("hub invite");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("invite JSON");
        v["code"].as_str().expect("code").to_string()
    }

    /// Runs an admin command against this hub (its data directory or database).
    pub fn admin(&self, args: &[&str]) -> Output {
        bin()
            .args(args)
            .args(&self.place)
            .output()
            .expect("hub admin")
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Device {
    /// A device joined to `hub` with a fresh invite.
    pub fn joined(hub: &HubProcess, role: &str, name: &str, groups: &[&str]) -> Self {
        let d = Self::new();
        let code = hub.invite(role, name, groups, None);
        d.json(&[
            "join", "--hub", &hub.url, "--code", &code, "--pin", &hub.pin,
        ]);
        d.json(&["sync"]);
        d
    }

    pub fn sync(&self) -> Value {
        self.json(&["sync"])
    }
}

/// A device's signing key, as a modified client holding the device's own database has it.
pub fn device_key(d: &Device) -> doorstep_doc::DeviceKey {
    doorstep_doc::DeviceKey::from_secret(open_store(&d.db).device_key().secret())
}

/// Each of `changes` signed with `key` (a modified client signs what it forged).
pub fn sign_all(key: &doorstep_doc::DeviceKey, changes: &[Vec<u8>]) -> Vec<Vec<u8>> {
    changes
        .iter()
        .map(|c| {
            let hash = automerge::Change::from_bytes(c.clone())
                .map(|c| c.hash())
                .unwrap_or(automerge::ChangeHash([0; 32]));
            key.sign_change(&hash).to_vec()
        })
        .collect()
}

/// What a modified client holding `d`'s key pushes: `changes` of `doc` (epoch 0) signed.
pub fn signed_push(
    d: &Device,
    doc: doorstep_doc::DocId,
    changes: Vec<Vec<u8>>,
) -> doorstep_proto::wire::Push {
    doorstep_proto::wire::Push {
        doc: doc.into(),
        epoch: 0,
        signatures: sign_all(&device_key(d), &changes),
        changes,
    }
}

/// A join request as a device with a fresh key sends it: `code`, the key, and its proof.
pub fn join_body(code: &str) -> Vec<u8> {
    use base64::Engine;
    let key = doorstep_doc::DeviceKey::from_secret(rand_secret());
    serde_json::to_vec(&doorstep_proto::api::JoinRequest {
        code: code.to_string(),
        key: key.public().to_base64(),
        proof: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.sign_join(code)),
    })
    .expect("JSON")
}

/// 32 bytes that differ from call to call (a test key's secret).
fn rand_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    secret[..16].copy_from_slice(doorstep_domain::new_id().as_bytes());
    secret[16..].copy_from_slice(doorstep_domain::new_id().as_bytes());
    secret
}

/// A sync request body from a device that has pulled nothing yet.
pub fn sync_body(pushes: Vec<doorstep_proto::wire::Push>) -> Vec<u8> {
    doorstep_proto::wire::encode(&doorstep_proto::wire::SyncRequest {
        cursor: 0,
        pushes,
        incarnation: 0,
    })
}

/// POSTs `body` to the hub as a device with `token` would; the status and the JSON answer (or
/// the text, when the answer is not JSON).
pub fn post(url: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    request(
        reqwest::Method::POST,
        url,
        token,
        doorstep_proto::wire::CONTENT_TYPE,
        body,
    )
}

/// POSTs `value` as JSON.
pub fn post_json(url: &str, token: Option<&str>, value: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(value).expect("JSON");
    request(reqwest::Method::POST, url, token, "application/json", body)
}

/// GETs `url` as a device with `token` would.
pub fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    request(
        reqwest::Method::GET,
        url,
        token,
        "application/json",
        Vec::new(),
    )
}

fn request(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let (status, bytes) = request_bytes(method, url, token, content_type, body);
    let text = String::from_utf8_lossy(&bytes).to_string();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// POSTs a sync body as a device with `token` would; the status and the answer's bytes (a
/// sync answer is not JSON).
pub fn post_sync(url: &str, token: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    request_bytes(
        reqwest::Method::POST,
        url,
        Some(token),
        doorstep_proto::wire::CONTENT_TYPE,
        body,
    )
}

fn request_bytes(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut r = test_client()
            .request(method, url)
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    })
}

/// A new, empty database on the test cluster (`scripts/postgres-tests.sh` sets
/// `DOORSTEP_TEST_POSTGRES`), and its URL.
pub fn fresh_database() -> String {
    let base = std::env::var("DOORSTEP_TEST_POSTGRES")
        .expect("DOORSTEP_TEST_POSTGRES: a PostgreSQL URL (scripts/postgres-tests.sh sets it)");
    let name = format!("t_{}", doorstep_domain::new_id().simple());
    let mut admin = postgres::Client::connect(&base, postgres::NoTls).expect("connect");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create database");
    format!("{base} dbname={name}")
}

/// The device token a joined device holds.
pub fn token(d: &Device) -> String {
    open_store(&d.db).identity().unwrap().unwrap().token
}

/// An HTTPS client for tests that talk to their own hub on loopback: it accepts the hub's
/// self-signed certificate without a pin (what pins are for is tested in `tls.rs`), and still
/// checks the handshake's signatures.
pub fn test_client() -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(any_certificate())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A TLS client configuration that accepts any certificate (see `test_client`).
pub fn any_certificate() -> rustls::ClientConfig {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use std::sync::Arc;

    #[derive(Debug)]
    struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for AnyCertificate {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            let algorithms = &self.0.signature_verification_algorithms;
            rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            let algorithms = &self.0.signature_verification_algorithms;
            rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth()
}
