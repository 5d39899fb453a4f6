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

use common::project::{account, aws, declared, declared_at, Account, Db, Project};
use common::Emulator;
use lariat::store::VersionState;
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
            // one request per upstream connection, read to its end: the SDK sends no
            // `Connection` header, and LocalStack (unlike moto) keeps such a connection open
            let head: String = String::from_utf8_lossy(&buf[..end])
                .split("\r\n")
                .filter(|line| !line.to_lowercase().starts_with("connection:"))
                .map(|line| format!("{line}\r\n"))
                .collect();
            let mut out = format!("{head}Connection: close").into_bytes();
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

/// The change-heavy project of the rollback fault tests: version `00000000000000` makes a topic
/// and a queue, then subscribe; `change_subscription raw_message_delivery = true`;
/// `unsubscribe`.
fn change_heavy(db: Db) -> Project {
    let project = Project::new(db);
    let subscription = "topic = { type = \"t\" }\nqueue = { type = \"t\", dest = \"w\" }\n";
    project.write(
        "00000000000000_resources.toml",
        "[[create_topic]]\ntype = \"t\"\n\n[[create_queue]]\ntype = \"t\"\ndest = \"w\"\n",
    );
    project.write(
        "20240101000000_subscribe.toml",
        &format!("[[subscribe]]\n{subscription}"),
    );
    project.write(
        "20240102000000_raw.toml",
        &format!("[[change_subscription]]\n{subscription}raw_message_delivery = true\n"),
    );
    project.write(
        "20240103000000_unsubscribe.toml",
        &format!("[[unsubscribe]]\n{subscription}"),
    );
    project
}

const V: [i64; 4] = [0, 20240101000000, 20240102000000, 20240103000000];

/// Sets rows of the version table as a killed run leaves them: `Some(state)` writes the row,
/// `None` deletes it; versions not listed are left alone.
fn set_rows(project: &Project, emulator: &Emulator, rows: &[(i64, Option<VersionState>)]) {
    let migrator = lariat::Migrator::load(project.config(emulator)).unwrap();
    let edits: Vec<_> = rows
        .iter()
        .map(|&(version, state)| {
            let m = migrator.project.get(version).unwrap();
            (version, m.name.clone(), m.checksum.clone(), state)
        })
        .collect();
    table(project, &edits);
}

/// The rows of the version table: (version, state).
fn rows(project: &Project) -> Vec<(i64, VersionState)> {
    table(project, &[])
}

/// Applies `edits` (version, name, checksum, state or `None` to delete) to the version table,
/// then reads its rows.
fn table(
    project: &Project,
    edits: &[(i64, String, String, Option<VersionState>)],
) -> Vec<(i64, VersionState)> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = lariat::store::connect(&project.database_url, &project.table)
            .await
            .unwrap();
        for (version, name, checksum, state) in edits {
            match state {
                Some(state) => store.mark(*version, name, checksum, *state).await,
                None => store.remove(*version).await,
            }
            .unwrap();
        }
        let rows = store.list().await.unwrap();
        store.close().await;
        rows.into_iter().map(|r| (r.version, r.state)).collect()
    })
}

/// `RawMessageDelivery` of the project's subscription, `None` when it does not exist.
fn raw_delivery(project: &Project, emulator: &Emulator) -> Option<String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let aws = aws(emulator).await;
        let topic = project.name("event-fanout-registration-t");
        let queue = project.name("event-queue-registration-t-w");
        let arn = aws
            .find_subscription(&topic, &lariat::topology::Endpoint::Queue(queue))
            .await
            .unwrap()?;
        let attributes = aws
            .sns
            .get_subscription_attributes()
            .subscription_arn(arn)
            .send()
            .await
            .unwrap();
        Some(
            attributes
                .attributes()
                .and_then(|a| a.get("RawMessageDelivery"))
                .cloned()
                .unwrap_or_else(|| "false".into()),
        )
    })
}

/// Checks that the account holds what the files declare after `version` (nothing when
/// `None`), the subscription's raw delivery included.
fn assert_at(project: &Project, emulator: &Emulator, version: Option<i64>, context: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(emulator));
    let have = runtime.block_on(account(&aws, &project.instance));
    let want = match version {
        Some(v) => declared_at(project, emulator, Some(v)),
        None => Account::default(),
    };
    assert_eq!(have, want, "{context}: the account after {version:?}");
    let raw = match version {
        Some(v) if v == V[1] => Some("false"),
        Some(v) if v == V[2] => Some("true"),
        _ => None,
    };
    assert_eq!(
        raw_delivery(project, emulator).as_deref(),
        raw,
        "{context}: raw delivery after {version:?}"
    );
}

/// A state a killed `migrate` or `rollback` leaves: the commands that make the account what the
/// killed run left, then the rows it left.
struct Killed {
    what: &'static str,
    setup: &'static [&'static [&'static str]],
    rows: &'static [(usize, Option<VersionState>)],
}

use VersionState::{Applying as I, RollingBack as R};

/// Every state a kill of `migrate` or `rollback` can leave on the change-heavy project, where
/// it matters: the operations of a version run in order, a version's row is written before its
/// first operation and removed (or marked applied) after its last, and a version touching other
/// resources may start before an earlier one is done.
const KILLED: &[Killed] = &[
    Killed {
        what: "the issue's reproduction: two newest rows rolling_back, nothing undone yet",
        setup: &[&["migrate"]],
        rows: &[(2, Some(R)), (3, Some(R))],
    },
    Killed {
        what: "the newest row rolling_back, nothing undone",
        setup: &[&["migrate"]],
        rows: &[(3, Some(R))],
    },
    Killed {
        what: "the newest undone, its row not yet removed; the next one marked",
        setup: &[&["migrate"], &["rollback", "20240102000000"]],
        rows: &[(3, Some(R)), (2, Some(R))],
    },
    Killed {
        what: "the newest undone and removed; the next one marked, not undone",
        setup: &[&["migrate"], &["rollback", "20240102000000"]],
        rows: &[(2, Some(R))],
    },
    Killed {
        what: "the two newest undone, rows not yet removed",
        setup: &[&["migrate"], &["rollback", "20240101000000"]],
        rows: &[(3, Some(R)), (2, Some(R))],
    },
    Killed {
        what: "an older version started while a newer one stayed applied",
        setup: &[&["migrate"]],
        rows: &[(3, Some(R)), (1, Some(R))],
    },
    Killed {
        what: "rollback --all: every row rolling_back, nothing undone",
        setup: &[&["migrate"]],
        rows: &[(0, Some(R)), (1, Some(R)), (2, Some(R)), (3, Some(R))],
    },
    Killed {
        what: "rollback --all: everything undone, no row removed",
        setup: &[&["migrate"], &["rollback", "--all", "--yes"]],
        rows: &[(0, Some(R)), (1, Some(R)), (2, Some(R)), (3, Some(R))],
    },
    Killed {
        what: "migrate: the newest marked applying, not applied",
        setup: &[&["migrate", "--to", "20240102000000"]],
        rows: &[(3, Some(I))],
    },
    Killed {
        what: "migrate: the newest applied, its row still applying",
        setup: &[&["migrate"]],
        rows: &[(3, Some(I))],
    },
    Killed {
        what: "migrate: the newest's unsubscribe ran while the middle one was still applying \
               (it had other operations in flight)",
        setup: &[&["migrate"]],
        rows: &[(2, Some(I)), (3, Some(I))],
    },
    Killed {
        what: "migrate stopped, then a rollback of the applying row stopped",
        setup: &[&["migrate", "--to", "20240102000000"]],
        rows: &[(3, Some(R))],
    },
    Killed {
        what: "migrate stopped in the middle version, then a rollback stopped in the newest",
        setup: &[&["migrate", "--to", "20240101000000"]],
        rows: &[(2, Some(I)), (3, Some(R))],
    },
    Killed {
        what: "a rollback stopped, then migrate (re-applying) stopped",
        setup: &[&["migrate"], &["rollback", "20240101000000"]],
        rows: &[(2, Some(I)), (3, Some(R))],
    },
];

/// From every state of [`KILLED`], `migrate`, `rollback` and `rollback --all` succeed and leave
/// the account as the version table says; afterwards `migrate` and `rollback --all` do too.
/// The cases run three at a time, each with a project (names, table) of its own.
fn interrupted_runs_converge(db: Db) {
    let emulator = Emulator::start();
    let commands: [&[&str]; 3] = [&["migrate"], &["rollback"], &["rollback", "--all", "--yes"]];
    let cases: Vec<(&Killed, &[&str])> = KILLED
        .iter()
        .flat_map(|k| commands.iter().map(move |c| (k, *c)))
        .collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                while let Some(&(killed, command)) = cases.get(next.fetch_add(1, Ordering::Relaxed))
                {
                    converges_from(&db, &emulator, killed, command);
                }
            });
        }
    });
    eprintln!("{} interrupted states converged", cases.len());
}

fn converges_from(db: &Db, emulator: &Emulator, killed: &Killed, command: &[&str]) {
    let context = format!("{} / then `{}`", killed.what, command.join(" "));
    let project = change_heavy(db.clone());
    for args in killed.setup {
        project.lariat(emulator).args(*args).assert().success();
    }
    let edits: Vec<_> = killed.rows.iter().map(|&(i, s)| (V[i], s)).collect();
    set_rows(&project, emulator, &edits);
    let out = project.lariat(emulator).args(command).output().unwrap();
    assert!(
        out.status.success(),
        "{context}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left = rows(&project);
    assert!(
        left.iter().all(|(_, s)| *s != R),
        "{context}: no rollback is left interrupted: {left:?}"
    );
    match command {
        ["migrate"] => {
            assert!(left.iter().all(|(_, s)| *s == VersionState::Applied));
            assert_eq!(left.len(), V.len(), "{context}: {left:?}");
            assert_at(&project, emulator, Some(V[3]), &context);
        }
        ["rollback", "--all", ..] => {
            assert!(left.is_empty(), "{context}: {left:?}");
            assert_at(&project, emulator, None, &context);
        }
        _ => {
            // what stays is applied, unless a migrate had stopped below the undone rows
            if left.iter().all(|(_, s)| *s == VersionState::Applied) {
                let newest = left.last().map(|(v, _)| *v);
                assert_at(&project, emulator, newest, &context);
            }
        }
    }
    // from there, both ways still work
    project.lariat(emulator).arg("migrate").assert().success();
    assert_at(
        &project,
        emulator,
        Some(V[3]),
        &format!("{context} / migrate"),
    );
    project
        .lariat(emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success();
    assert_at(
        &project,
        emulator,
        None,
        &format!("{context} / rollback --all"),
    );
    assert!(rows(&project).is_empty(), "{context}: version 0 undone too");
}

/// Regression (issue 11): after a killed `rollback --all`, `migrate` failed on every run with
/// `sns:SetSubscriptionAttributes ...: the subscription does not exist`.
#[test]
fn interrupted_rollbacks_converge_on_sqlite() {
    interrupted_runs_converge(Db::Sqlite);
}

#[test]
fn interrupted_rollbacks_converge_on_postgres() {
    let Some(url) = common::postgres_url() else {
        eprintln!("skipped: LARIAT_TEST_POSTGRES_URL is not set");
        return;
    };
    interrupted_runs_converge(Db::Postgres(url));
}

#[test]
fn interrupted_rollbacks_converge_on_mysql() {
    let Some(url) = common::mysql_url() else {
        eprintln!("skipped: LARIAT_TEST_MYSQL_URL is not set");
        return;
    };
    interrupted_runs_converge(Db::Mysql(url));
}

/// Regression (issue 11): `rollback --all` kept version `00000000000000`.
#[test]
fn rollback_all_undoes_version_zero() {
    let emulator = Emulator::start();
    let project = change_heavy(Db::Sqlite);
    project.lariat(&emulator).arg("migrate").assert().success();
    project
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success()
        .stdout(contains("undone 4 migrations"));
    assert!(rows(&project).is_empty());
    assert_at(&project, &emulator, None, "rollback --all");
}

/// What `migrate` says when it finishes an interrupted rollback: `--dry-run` lists the undo,
/// then the apply; the run prints the undone versions and both counts. `rollback VERSION`
/// that would keep a half-undone version is refused, before any AWS call.
#[test]
fn migrate_says_it_finishes_an_interrupted_rollback() {
    let emulator = Emulator::start();
    let project = change_heavy(Db::Sqlite);
    project.lariat(&emulator).arg("migrate").assert().success();
    set_rows(&project, &emulator, &[(V[2], Some(R)), (V[3], Some(R))]);

    project
        .lariat(&emulator)
        .args(["rollback", "20240102000000"])
        .assert()
        .code(4)
        .stderr(contains(
            "migration 20240102000000 (raw) was being rolled back when a rollback stopped",
        ));

    let out = project
        .lariat(&emulator)
        .args(["migrate", "--dry-run"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let undo = stdout.find("would undo 2 migration(s)").expect(&stdout);
    let apply = stdout.find("would apply 2 migration(s)").expect(&stdout);
    assert!(undo < apply, "{stdout}");

    project
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .success()
        .stdout(contains("undone 20240103000000 unsubscribe"))
        .stdout(contains("undone 20240102000000 raw"))
        .stdout(contains(
            "finished an interrupted rollback: undone 2 migrations",
        ))
        .stdout(contains("applied 2 migrations"));
    assert_at(&project, &emulator, Some(V[3]), "migrate");
}
