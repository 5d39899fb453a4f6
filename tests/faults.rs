//! Fault tests: runs killed with SIGKILL at random moments, an emulator behind a proxy that
//! throttles and fails requests, appliers racing each other, and broken input. Each ends with
//! the account and the version table converged, or with nothing touched.

// a test that cannot set up its fixture should panic, loudly
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::project::{account, aws, declared, Account, Db, Project};
use common::Emulator;
use predicates::str::contains;

/// xorshift64*: enough randomness for fault timing, with a seed printed for replay.
struct Rng(u64);

impl Rng {
    fn from_env_or_clock() -> Rng {
        let seed = std::env::var("LARIAT_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("fault seed: {seed} (replay with LARIAT_FAULT_SEED={seed})");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn statuses(project: &Project, emulator: &Emulator) -> Vec<String> {
    let out = project
        .lariat(emulator)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.iter()
        .map(|r| r["state"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs `args` and kills it with SIGKILL after `after` (if it is still running).
fn kill_after(project: &Project, emulator: &Emulator, args: &[&str], after: Duration) -> bool {
    let mut child = project
        .lariat_process(emulator)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + after;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    true
}

#[test]
fn killed_at_random_moments_a_rerun_converges() {
    let emulator = Emulator::start();
    let project = Project::generated(Db::Sqlite, 40);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(&emulator));
    let want = declared(&project, &emulator);

    // how long whole runs take, to spread the kills over them
    let timed = |args: &[&str]| {
        let started = Instant::now();
        project.lariat(&emulator).args(args).assert().success();
        started.elapsed().as_millis() as u64
    };
    let durations = [timed(&["migrate"]), timed(&["rollback", "--all", "--yes"])];
    eprintln!(
        "a whole migrate takes {} ms, a whole rollback {} ms",
        durations[0], durations[1]
    );

    let mut rng = Rng::from_env_or_clock();
    let mut killed = 0;
    for round in 0..10 {
        let at = Duration::from_millis(10 + rng.below(durations[round % 2] * 4 / 5 + 1));
        let (args, expect): (&[&str], &Account) = if round % 2 == 0 {
            (&["migrate"], &want)
        } else {
            (&["rollback", "--all", "--yes"], &Account::default())
        };
        killed += usize::from(kill_after(&project, &emulator, args, at));
        project.lariat(&emulator).args(args).assert().success();
        let have = runtime.block_on(account(&aws, &project.instance));
        assert_eq!(
            &have,
            expect,
            "round {round}: `{}` killed after {at:?} then re-run",
            args.join(" ")
        );
        let states = statuses(&project, &emulator);
        let want_state = if round % 2 == 0 { "applied" } else { "pending" };
        assert!(
            states.iter().all(|s| s == want_state),
            "round {round}: {states:?}"
        );
    }
    assert!(
        killed >= 5,
        "only {killed} of 10 runs were still running when killed"
    );

    // nothing duplicated: one policy statement per subscribed topic
    project.lariat(&emulator).arg("migrate").assert().success();
    let queue = &project.name("event-queue-registration-t0-worker");
    let policy = runtime
        .block_on(
            aws.sqs
                .get_queue_attributes()
                .queue_url(aws.queue_url(queue))
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::Policy)
                .send(),
        )
        .unwrap();
    let text = policy.attributes().unwrap().values().next().unwrap();
    let doc: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(doc["Statement"].as_array().unwrap().len(), 1, "{doc}");
}

/// A proxy in front of the emulator that answers a share of requests with throttling or 5xx
/// errors — some before the emulator saw the request, some after (a lost response).
struct FaultyProxy {
    endpoint: String,
    faults: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl FaultyProxy {
    fn start(upstream_port: u16, seed: u64) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let faults = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (f, r) = (faults.clone(), requests.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(seed);
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let roll = rng.below(100);
                let (f, r) = (f.clone(), r.clone());
                std::thread::spawn(move || {
                    r.fetch_add(1, Ordering::Relaxed);
                    if handle(stream, upstream_port, roll) {
                        f.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        FaultyProxy {
            endpoint,
            faults,
            requests,
        }
    }
}

/// Reads one request; returns whether a fault was injected.
fn handle(mut client: TcpStream, upstream_port: u16, roll: u64) -> bool {
    let Some(request) = read_request(&mut client) else {
        return false;
    };
    let text = String::from_utf8_lossy(&request).to_lowercase();
    let json = text.contains("content-type: application/x-amz-json");
    let throttle = if json {
        (
            "400 Bad Request",
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}"#,
        )
    } else {
        (
            "400 Bad Request",
            "text/xml",
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>",
        )
    };
    let internal = ("500 Internal Server Error", "text/plain", "internal error");
    let unavailable = ("503 Service Unavailable", "text/plain", "slow down");
    let fault = match roll {
        0..=9 => Some(throttle),
        10..=14 => Some(internal),
        15..=19 => Some(unavailable),
        _ => None,
    };
    let forward = (10..15).contains(&roll) || fault.is_none();
    let response = if forward {
        let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port)).unwrap();
        upstream.write_all(&request).unwrap();
        let mut response = Vec::new();
        let _ = upstream.read_to_end(&mut response);
        response
    } else {
        Vec::new()
    };
    let response = match fault {
        // the 500s are sent after the emulator applied the request: the answer is lost
        Some((status, content_type, body)) => format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
        None => response,
    };
    let _ = client.write_all(&response);
    fault.is_some()
}

fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = stream.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            // one request per upstream connection
            let head = String::from_utf8_lossy(&buf[..end])
                .replace("Connection: keep-alive", "Connection: close");
            let mut out = head.into_bytes();
            out.extend_from_slice(&buf[end..]);
            return Some(out);
        }
    }
}

#[test]
fn throttling_and_server_errors_are_retried_until_migrate_converges() {
    let emulator = Emulator::start();
    let project = Project::generated(Db::Sqlite, 15);
    let mut rng = Rng::from_env_or_clock();
    let proxy = FaultyProxy::start(emulator.port(), rng.next() | 1);
    let through_proxy = |args: &[&str]| {
        let mut cmd = project.lariat(&emulator);
        cmd.env("AWS_ENDPOINT_URL", &proxy.endpoint).args(args);
        cmd
    };
    through_proxy(&["migrate"]).assert().success();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(&emulator));
    assert_eq!(
        runtime.block_on(account(&aws, &project.instance)),
        declared(&project, &emulator)
    );
    through_proxy(&["rollback", "--all", "--yes"])
        .assert()
        .success();
    assert_eq!(
        runtime.block_on(account(&aws, &project.instance)),
        Account::default()
    );
    let (faults, requests) = (
        proxy.faults.load(Ordering::Relaxed),
        proxy.requests.load(Ordering::Relaxed),
    );
    eprintln!("{faults} of {requests} requests failed on purpose");
    assert!(
        faults >= 10,
        "the proxy injected only {faults} faults in {requests} requests"
    );
}

#[test]
fn three_migrates_at_once_on_postgres_apply_each_migration_once() {
    let Some(url) = common::postgres_url() else {
        eprintln!("skipped: LARIAT_TEST_POSTGRES_URL is not set");
        return;
    };
    let emulator = Emulator::start();
    let project = Project::generated(Db::Postgres(url), 12);
    let applied: usize = project
        .race(&emulator, 3, &["migrate"])
        .iter()
        .map(|out| out.matches("   applied ").count())
        .sum();
    assert_eq!(
        applied, 12,
        "each of the 12 migrations applied exactly once"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(&emulator));
    assert_eq!(
        runtime.block_on(account(&aws, &project.instance)),
        declared(&project, &emulator)
    );
}

#[test]
fn a_second_applier_gives_up_after_the_lock_timeout() {
    let emulator = Emulator::start();
    let project = Project::generated(Db::Sqlite, 1);
    // hold the SQLite lock file the way a running `lariat migrate` does
    let lock = std::fs::File::create(project.dir.path().join("versions.db.lock")).unwrap();
    lock.lock().unwrap();
    project
        .lariat(&emulator)
        .args(["migrate", "--lock-timeout", "300ms"])
        .assert()
        .code(5)
        .stderr(contains(
            "another `lariat migrate` or `lariat rollback` is running",
        ));
    drop(lock);
    project.lariat(&emulator).arg("migrate").assert().success();
}

#[test]
fn broken_files_make_no_aws_call_and_no_row() {
    if common::skip_on_localstack(
        "counts requests in moto's log (LocalStack is shared by the run); no AWS behaviour here",
    ) {
        return;
    }
    let emulator = Emulator::start();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken");
    let read = |path: std::path::PathBuf| {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        (name, std::fs::read(&path).unwrap())
    };
    // each case: the files to add, the first of them named in the error
    let mut cases: Vec<Vec<(String, Vec<u8>)>> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !["_valid", "_first", "_duplicate_version"]
                .iter()
                .any(|s| p.to_string_lossy().contains(s))
        })
        .map(|p| vec![read(p)])
        .collect();
    cases.push(vec![
        read(fixtures.join("20240101000003_first.toml")),
        read(fixtures.join("20240101000003_duplicate_version.toml")),
    ]);
    let huge = "[[create_topic]]\ntype = \"huge\"\n".to_owned() + &"# padding\n".repeat(200_000);
    cases.push(vec![("20240101000020_huge.toml".into(), huge.into_bytes())]);
    for files in cases {
        let project = Project::new(Db::Sqlite);
        // a valid neighbour: a broken file stops the whole folder, not just itself
        project.write(
            "20230101000000_fine.toml",
            "[[create_topic]]\ntype = \"fine\"\n",
        );
        for (name, bytes) in &files {
            std::fs::write(project.migrations().join(name), bytes).unwrap();
        }
        let name = files[0].0.clone();
        let before = emulator.request_count();
        project
            .lariat(&emulator)
            .arg("migrate")
            .assert()
            .code(3)
            .stderr(contains(name.as_str()));
        assert_eq!(emulator.request_count(), before, "{name}: no AWS call");
        assert!(
            !project.dir.path().join("versions.db").exists(),
            "{name}: no version store touched"
        );
    }
}

#[test]
fn sigterm_finishes_what_is_in_flight_and_exits_130() {
    let emulator = Emulator::start();
    let project = Project::generated(Db::Sqlite, 40);
    let mut child = project
        .lariat_process(&emulator)
        .arg("migrate")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // the signal goes once the first migration is applied: the run is then surely past its
    // start (configuration, account id, version store), whatever the machine's load; a fixed
    // sleep sometimes killed it before it listened for signals
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    let rest = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        rest
    });
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stdout = first + &rest.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        eprintln!("migrate finished before the signal; nothing to check");
        return;
    }
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains("run the same command again"),
        "{stderr}"
    );
    let states = statuses(&project, &emulator);
    assert!(
        states.iter().any(|s| s != "applied"),
        "stopped early: {states:?}"
    );
    project.lariat(&emulator).arg("migrate").assert().success();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(&emulator));
    assert_eq!(
        runtime.block_on(account(&aws, &project.instance)),
        declared(&project, &emulator)
    );
}
