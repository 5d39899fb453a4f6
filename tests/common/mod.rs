//! Shared harness for the integration tests (`mod common;` in each test file).
//!
//! It is the only place that knows which SNS/SQS emulator the tests talk to, chosen by
//! `LARIAT_TEST_EMULATOR`:
//!
//! - `moto` (the default): each [`Emulator`] is a private `moto_server` on a free loopback
//!   port, killed when the value is dropped. Install moto once with `scripts/emulator install`
//!   (or point `LARIAT_MOTO_SERVER` at a `moto_server` binary).
//! - `localstack`: every test of the run shares ONE LocalStack, which follows AWS more closely
//!   (and is too slow to start per test). Its endpoint comes from
//!   `LARIAT_TEST_LOCALSTACK_ENDPOINT` (set by `scripts/test --localstack`, which starts and stops
//!   it), else from the one `scripts/emulator --localstack start` runs for this checkout.
//!   LocalStack's free edition cannot reset its state, so tests name what they create uniquely:
//!   [`Project`](project::Project) uses an instance name of its own, [`unique`] makes other names.
//!
//! A test that can only pass on one emulator says so with [`skip_on_localstack`] or
//! [`skip_on_moto`], and why. Only the standard library and `tempfile` are used, so the harness
//! builds with the dev-dependencies alone.
#![allow(dead_code)]

pub mod project;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long `moto_server` may take to answer after being spawned.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Which emulator the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// moto server 5.2.5: one private server per test, with reset and request counting.
    Moto,
    /// LocalStack 4.14: one server shared by the whole run, stricter (closer to AWS).
    LocalStack,
}

/// The emulator chosen by `LARIAT_TEST_EMULATOR` (`moto`, the default, or `localstack`).
pub fn kind() -> Kind {
    match std::env::var("LARIAT_TEST_EMULATOR")
        .as_deref()
        .map(str::trim)
    {
        Err(_) | Ok("") | Ok("moto") => Kind::Moto,
        Ok("localstack") => Kind::LocalStack,
        Ok(other) => panic!("LARIAT_TEST_EMULATOR must be `moto` or `localstack`, not `{other}`"),
    }
}

/// True, after saying why on stderr, when the tests run on LocalStack: for a test that only
/// makes sense on moto (it resets the emulator or counts the requests in moto's log).
pub fn skip_on_localstack(why: &str) -> bool {
    let skip = kind() == Kind::LocalStack;
    if skip {
        eprintln!("skipped on LocalStack: {why}");
    }
    skip
}

/// True, after saying why on stderr, when the tests run on moto: for a test of AWS behaviour
/// that moto does not have (DESIGN section 9 lists the gaps).
pub fn skip_on_moto(why: &str) -> bool {
    let skip = kind() == Kind::Moto;
    if skip {
        eprintln!("skipped on moto: {why}");
    }
    skip
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

/// A name no other test of this or an earlier run uses: `prefix` and a short suffix of the
/// process, the clock and a counter (letters, digits and `_` only, so it is a valid name part).
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut n = (nanos as u64)
        ^ (u64::from(std::process::id()) << 40)
        ^ ((UNIQUE.fetch_add(1, Ordering::Relaxed) as u64) << 20);
    let mut suffix = String::new();
    for _ in 0..8 {
        suffix.push(char::from(
            b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize],
        ));
        n /= 36;
    }
    format!("{prefix}{suffix}")
}

/// A running emulator: a private `moto_server`, or the run's shared LocalStack.
pub struct Emulator {
    /// `http://127.0.0.1:PORT`, the value for `AWS_ENDPOINT_URL`.
    pub endpoint: String,
    port: u16,
    moto: Option<Moto>,
}

/// The `moto_server` process of an [`Emulator`], killed on drop.
struct Moto {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Emulator {
    /// The emulator of [`kind`]: a fresh `moto_server` on a free port, or the shared LocalStack.
    ///
    /// Panics with a hint when moto is not installed or does not answer within 30 s, or when
    /// no LocalStack answers.
    pub fn start() -> Emulator {
        match kind() {
            Kind::Moto => Emulator::start_moto(),
            Kind::LocalStack => Emulator::localstack(),
        }
    }

    fn localstack() -> Emulator {
        let endpoint = match non_empty_env("LARIAT_TEST_LOCALSTACK_ENDPOINT") {
            Some(endpoint) => endpoint,
            None => {
                let port_file =
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".lariat/localstack/port");
                match std::fs::read_to_string(&port_file) {
                    Ok(port) => format!("http://127.0.0.1:{}", port.trim()),
                    Err(_) => panic!(
                        "LARIAT_TEST_EMULATOR=localstack, but no LocalStack to use: run the tests \
                         with `scripts/test --localstack` (it starts one), or start one with \
                         `scripts/emulator --localstack start` (or set \
                         LARIAT_TEST_LOCALSTACK_ENDPOINT=http://127.0.0.1:PORT)"
                    ),
                }
            }
        };
        let port = endpoint
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| {
                panic!("LocalStack endpoint {endpoint}: expected http://127.0.0.1:PORT")
            });
        match http(port, "GET", "/_localstack/health", &[], "") {
            Ok((200, _)) => {}
            other => panic!(
                "no LocalStack answers at {endpoint} ({other:?}): start it with \
                 `scripts/emulator --localstack start`, or run `scripts/test --localstack`"
            ),
        }
        Emulator {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            port,
            moto: None,
        }
    }

    fn start_moto() -> Emulator {
        let bin = moto_server_bin();
        // The free port is released before moto binds it, so another process may take it in
        // between; moto then exits at once, and we try again on another port.
        let mut last_log = String::new();
        for _ in 0..3 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("create temp dir for the emulator log");
            let log = dir.path().join("moto_server.log");
            let out = File::create(&log).expect("create emulator log file");
            let err = out.try_clone().expect("clone emulator log file handle");
            let mut child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if let Ok((status, _)) = http(port, "GET", "/moto-api/", &[], "") {
                    if status == 200 {
                        return Emulator {
                            endpoint: format!("http://127.0.0.1:{port}"),
                            port,
                            moto: Some(Moto {
                                child,
                                log,
                                _dir: dir,
                            }),
                        };
                    }
                }
                if let Ok(Some(_)) = child.try_wait() {
                    last_log = std::fs::read_to_string(&log).unwrap_or_default();
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "moto_server did not answer on port {port} within {START_TIMEOUT:?}; its log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("moto_server kept exiting at start; its last log:\n{last_log}");
    }

    /// Which emulator this is.
    pub fn kind(&self) -> Kind {
        if self.moto.is_some() {
            Kind::Moto
        } else {
            Kind::LocalStack
        }
    }

    /// The account id the emulator answers for: moto's 123456789012, LocalStack's 000000000000.
    pub fn account_id(&self) -> &'static str {
        match self.kind() {
            Kind::Moto => "123456789012",
            Kind::LocalStack => "000000000000",
        }
    }

    /// The port the emulator listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    fn moto(&self, what: &str) -> &Moto {
        self.moto.as_ref().unwrap_or_else(|| {
            panic!(
                "{what} needs moto: the test must skip on LocalStack (common::skip_on_localstack)"
            )
        })
    }

    /// Clears all emulator state (`POST /moto-api/reset`). Moto only: LocalStack's free edition
    /// has no reset.
    pub fn reset(&self) {
        self.moto("reset");
        let (status, body) = self
            .request("POST", "/moto-api/reset", &[], "")
            .expect("POST /moto-api/reset");
        assert_eq!(status, 200, "emulator reset failed: {body}");
    }

    /// The environment a `lariat` process needs to talk to this emulator.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ]
    }

    /// How many AWS API requests the emulator has served so far (its own `/moto-api` calls,
    /// such as readiness checks and resets, are not counted). Moto only: the shared LocalStack
    /// serves every test of the run at once.
    ///
    /// Counted from the request lines moto_server logs, which look like
    /// `127.0.0.1 - - [26/Nov/2026 00:26:51] "POST / HTTP/1.1" 200 -`. A line is logged before
    /// its response is sent, so a request whose response was read is always counted.
    pub fn request_count(&self) -> usize {
        self.moto("request_count");
        self.log()
            .lines()
            .filter(|l| is_aws_request_line(l))
            .count()
    }

    /// Everything moto_server has logged so far (useful in assertion messages); empty on
    /// LocalStack.
    pub fn log(&self) -> String {
        match &self.moto {
            Some(moto) => std::fs::read_to_string(&moto.log).expect("read emulator log"),
            None => String::new(),
        }
    }

    /// Sends one raw HTTP/1.1 request to the emulator and returns (status, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        http(self.port, method, path, headers, body)
    }

    /// Sends an unsigned AWS query-protocol call (`service` is `sns` or `sqs`, `params` a form
    /// body such as `Action=ListQueues`) and returns (status, XML body). Both emulators route
    /// by the credential scope and do not check signatures, so this is enough to inspect state
    /// behind lariat's back.
    pub fn aws_query(&self, service: &str, params: &str) -> (u16, String) {
        let version = if service == "sqs" {
            "2012-11-05"
        } else {
            "2010-03-31"
        };
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, \
             SignedHeaders=host, Signature=0"
        );
        let body = format!("{params}&Version={version}");
        self.request(
            "POST",
            "/",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", &auth),
            ],
            &body,
        )
        .unwrap_or_else(|e| panic!("{service} {params}: {e}"))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(moto) = &mut self.moto {
            let _ = moto.child.kill();
            let _ = moto.child.wait();
        }
    }
}

/// `LARIAT_TEST_POSTGRES_URL`, when set and not empty: tests that need PostgreSQL skip without it.
pub fn postgres_url() -> Option<String> {
    non_empty_env("LARIAT_TEST_POSTGRES_URL")
}

/// `LARIAT_TEST_MYSQL_URL`, when set and not empty: tests that need MySQL/MariaDB skip without it.
pub fn mysql_url() -> Option<String> {
    non_empty_env("LARIAT_TEST_MYSQL_URL")
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn moto_server_bin() -> PathBuf {
    let bin = match std::env::var_os("LARIAT_MOTO_SERVER") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server"),
    };
    if !bin.is_file() {
        panic!(
            "moto_server not found at {}: run `scripts/emulator install` first \
             (or set LARIAT_MOTO_SERVER to a moto_server binary)",
            bin.display()
        );
    }
    bin
}

/// A loopback port nothing listens on: connections to it are refused.
pub fn closed_port() -> u16 {
    free_port()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0 to find a free port")
        .port()
}

/// True for a werkzeug request line (`... "METHOD /path HTTP/1.1" STATUS -`) whose path is not
/// under `/moto-api`.
fn is_aws_request_line(line: &str) -> bool {
    let Some(start) = line.find("] \"") else {
        return false;
    };
    let mut parts = line[start + 3..].split(' ');
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    method.chars().all(|c| c.is_ascii_uppercase())
        && path.starts_with('/')
        && !path.starts_with("/moto-api")
        && version.starts_with("HTTP/")
}

/// A minimal HTTP/1.1 client: one request per connection (`Connection: close`), reads to EOF.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let timeout = Duration::from_secs(10);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad HTTP response: {text:?}"),
        )
    };
    let status = text
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(bad)?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Runs clean-up `statements` (e.g. `DROP TABLE`) on a PostgreSQL or MySQL server, from any
/// context — a `Drop` inside a test's runtime included — ignoring failures: a test's leftover
/// table must not fail another test.
pub fn cleanup_sql(url: &str, statements: Vec<String>) {
    let url = url.to_owned();
    let _ = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            if url.starts_with("postgres") {
                if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                    for sql in &statements {
                        let _ = sqlx::query(sql).execute(&pool).await;
                    }
                    pool.close().await;
                }
            } else if url.starts_with("mysql") || url.starts_with("mariadb") {
                if let Ok(pool) = sqlx::MySqlPool::connect(&url).await {
                    for sql in &statements {
                        let _ = sqlx::query(sql).execute(&pool).await;
                    }
                    pool.close().await;
                }
            }
        })
    })
    .join();
}
