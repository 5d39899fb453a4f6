//! The outbox end to end: messages enqueued in real database transactions (SQLite always,
//! PostgreSQL and MariaDB when their URLs are set), relayed to a moto server by the library
//! relay and by the `lariat outbox relay` binary, and received from SQS.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::project::aws;
use common::Emulator;
use lariat::aws::Aws;
use lariat::message::{Envelope, Event};
use lariat::naming::NamingDefaults;
use lariat::outbox::relay::{Relay, RelayOptions};
use lariat::outbox::{self, Outbox, OutboxMessage, OutboxStore, PublisherSink};
use lariat::publish::Publisher;
use serde_json::{json, Value};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// An application database with an outbox table of the test's own.
struct AppDb {
    url: String,
    table: String,
    _dir: Option<tempfile::TempDir>,
}

impl AppDb {
    fn all() -> Vec<AppDb> {
        let mut dbs = vec![AppDb::sqlite()];
        dbs.extend(common::postgres_url().map(AppDb::server));
        dbs.extend(common::mysql_url().map(AppDb::server));
        dbs
    }

    fn sqlite() -> AppDb {
        let dir = tempfile::tempdir().unwrap();
        AppDb {
            url: format!("sqlite://{}", dir.path().join("app.db").display()),
            table: table_name(),
            _dir: Some(dir),
        }
    }

    fn server(url: String) -> AppDb {
        AppDb {
            url,
            table: table_name(),
            _dir: None,
        }
    }

    async fn store(&self) -> Arc<dyn OutboxStore> {
        let store = outbox::connect(&self.url, &self.table).await.unwrap();
        store.install().await.unwrap();
        Arc::from(store)
    }

    /// Enqueues in one transaction that also writes a business row, then commits or rolls
    /// back.
    async fn enqueue(&self, messages: &[OutboxMessage], commit: bool) {
        let outbox = Outbox::new(&self.table).unwrap();
        let business = format!("{}_orders", self.table);
        macro_rules! run {
            ($pool:ty) => {{
                let pool = <$pool>::connect(&self.url).await.unwrap();
                sqlx::query(&format!(
                    "CREATE TABLE IF NOT EXISTS {business} (id BIGINT)"
                ))
                .execute(&pool)
                .await
                .unwrap();
                let mut tx = pool.begin().await.unwrap();
                sqlx::query(&format!("INSERT INTO {business} (id) VALUES (1)"))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                outbox.enqueue_many(&mut tx, messages).await.unwrap();
                if commit {
                    tx.commit().await.unwrap();
                } else {
                    tx.rollback().await.unwrap();
                }
                pool.close().await;
            }};
        }
        if self.url.starts_with("postgres") {
            run!(sqlx::PgPool)
        } else if self.url.starts_with("mysql") {
            run!(sqlx::MySqlPool)
        } else {
            run!(sqlx::SqlitePool)
        }
    }
}

impl Drop for AppDb {
    fn drop(&mut self) {
        if self._dir.is_some() {
            return;
        }
        let table = &self.table;
        let mut statements = vec![
            format!("DROP TABLE IF EXISTS {table}"),
            format!("DROP TABLE IF EXISTS {table}_orders"),
        ];
        if self.url.starts_with("postgres") {
            statements.push(format!("DROP FUNCTION IF EXISTS {table}_notify"));
        }
        common::cleanup_sql(&self.url, statements);
    }
}

fn table_name() -> String {
    format!(
        "outbox_e2e_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn event(data: Value) -> Envelope {
    Event::new("order_placed", data)
        .publisher("shop")
        .build()
        .unwrap()
}

fn publisher_sink(aws: &Aws) -> Arc<PublisherSink> {
    Arc::new(PublisherSink::new(Publisher::new(
        aws.clone(),
        NamingDefaults {
            instance: "test".into(),
            publisher: "shop".into(),
        },
    )))
}

async fn create_queue(aws: &Aws, name: &str, attributes: &[(&str, &str)]) {
    let mut create = aws.sqs.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        create = create.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    for (key, value) in attributes {
        create = create.attributes(aws_sdk_sqs::types::QueueAttributeName::from(*key), *value);
    }
    create.send().await.unwrap();
}

/// Receives (and deletes) up to `want` messages, bodies in arrival order; gives up once `quiet`
/// passes with none arriving, so a slow emulator on a loaded machine delays the test instead of
/// failing it.
async fn receive(aws: &Aws, queue: &str, want: usize, quiet: Duration) -> Vec<Value> {
    let url = aws.queue_url(queue);
    let mut deadline = Instant::now() + quiet;
    let mut out = Vec::new();
    while out.len() < want && Instant::now() < deadline {
        let got = aws
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if !got.messages().is_empty() {
            deadline = Instant::now() + quiet;
        }
        for message in got.messages() {
            out.push(serde_json::from_str(message.body().unwrap()).unwrap());
            aws.sqs
                .delete_message()
                .queue_url(&url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    out
}

fn fast(id: &str) -> RelayOptions {
    RelayOptions {
        relay_id: id.into(),
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        sleep_on_empty: Duration::from_millis(50),
        ..RelayOptions::default()
    }
}

/// Waits until no row is pending; fails once `quiet` passes without the count going down, so a
/// slow relay on a loaded machine delays the test instead of failing it.
async fn until_empty(store: &Arc<dyn OutboxStore>, quiet: Duration) {
    let mut deadline = Instant::now() + quiet;
    let mut report = Instant::now();
    let mut last = i64::MAX;
    loop {
        let pending: i64 = store.stats().await.unwrap().iter().map(|s| s.pending).sum();
        if pending == 0 {
            return;
        }
        if pending < last {
            last = pending;
            deadline = Instant::now() + quiet;
        }
        if report.elapsed() > Duration::from_secs(10) {
            eprintln!("{pending} rows pending");
            report = Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "the outbox made no progress for {quiet:?}: {pending} rows left"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn committed_messages_arrive_rolled_back_ones_never() {
    let emulator = Emulator::start();
    // queue names of this test's own (the tests of a run share one LocalStack)
    let p = common::unique("o");
    let n = |name: &str| format!("{p}_{name}");
    let aws = aws(&emulator).await;
    create_queue(&aws, &n("shop-orders"), &[]).await;
    create_queue(&aws, &n("shop-orders.fifo"), &[]).await;
    for db in AppDb::all() {
        eprintln!("{}", lariat::db::redact_url(&db.url));
        let store = db.store().await;
        let tag = db.table.clone();
        let committed = [
            OutboxMessage::to_queue(event(json!({"tag": tag, "n": 1})), n("shop-orders")),
            OutboxMessage::to_queue(event(json!({"tag": tag, "n": 2})), n("shop-orders.fifo"))
                .group("order-1"),
        ];
        db.enqueue(&committed, true).await;
        let rolled_back = [OutboxMessage::to_queue(
            event(json!({"tag": tag, "n": 3})),
            n("shop-orders"),
        )];
        db.enqueue(&rolled_back, false).await;
        let relay = Relay::new(store.clone(), publisher_sink(&aws), fast("r"));
        assert_eq!(relay.drain().await.unwrap(), 2);
        let standard = receive(&aws, &n("shop-orders"), 2, Duration::from_secs(3)).await;
        let fifo = receive(&aws, &n("shop-orders.fifo"), 1, Duration::from_secs(3)).await;
        let numbers: Vec<i64> = standard
            .iter()
            .chain(&fifo)
            .map(|b| b["data"]["n"].as_i64().unwrap())
            .collect();
        assert_eq!(numbers, [1, 2], "the rolled-back message never arrives");
        assert_eq!(standard[0]["data"]["tag"], tag.as_str());
        assert!(store.stats().await.unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_drain_the_table_in_order_per_group() {
    let Some(url) = common::postgres_url() else {
        eprintln!("skipped: LARIAT_TEST_POSTGRES_URL is not set");
        return;
    };
    let emulator = Emulator::start();
    // queue names of this test's own (the tests of a run share one LocalStack)
    let p = common::unique("o");
    let n = |name: &str| format!("{p}_{name}");
    let aws = aws(&emulator).await;
    create_queue(&aws, &n("bulk.fifo"), &[]).await;
    create_queue(&aws, &n("bulk"), &[]).await;
    let db = AppDb::server(url);
    let store = db.store().await;
    // LARIAT_OUTBOX_TEST_ROWS=5000 for the full drain; moto's FIFO queues slow down to ~10
    // sends/s past ~2,500 stored messages, so the default keeps the suite within minutes.
    let rows: usize = std::env::var("LARIAT_OUTBOX_TEST_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let groups = 15;
    let per_group = (rows * 3 / 4 / groups).max(1) as i64;
    let standard = (rows - per_group as usize * groups) as i64;
    let total = per_group as usize * groups + standard as usize;
    let mut messages = Vec::new();
    for i in 0..per_group {
        for g in 0..groups {
            messages.push(
                OutboxMessage::to_queue(event(json!({"g": g, "i": i})), n("bulk.fifo"))
                    .group(format!("g{g}")),
            );
        }
    }
    for i in 0..standard {
        messages.push(OutboxMessage::to_queue(event(json!({"i": i})), n("bulk")));
    }
    assert_eq!(messages.len(), total);
    let started = Instant::now();
    db.enqueue(&messages, true).await;
    let a = Relay::new(store.clone(), publisher_sink(&aws), fast("a"));
    let b = Relay::new(store.clone(), publisher_sink(&aws), fast("b"));
    let stop = || until_empty(&store, Duration::from_secs(240));
    let (ra, rb) = tokio::join!(a.run(stop()), b.run(stop()));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    eprintln!(
        "{total} rows drained in {:.1}s: relay a sent {}, relay b sent {}",
        started.elapsed().as_secs_f64(),
        ra.sent,
        rb.sent
    );
    assert!(ra.sent >= 1 && rb.sent >= 1, "both relays worked");
    assert_eq!(ra.failed + rb.failed, 0);
    let fifo = receive(
        &aws,
        &n("bulk.fifo"),
        total - standard as usize,
        Duration::from_secs(120),
    )
    .await;
    let plain = receive(&aws, &n("bulk"), standard as usize, Duration::from_secs(60)).await;
    let mut order: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for body in &fifo {
        let data = &body["data"];
        order
            .entry(data["g"].as_i64().unwrap())
            .or_default()
            .push(data["i"].as_i64().unwrap());
    }
    for (group, seen) in &order {
        let mut first = Vec::new();
        for i in seen {
            if !first.contains(i) {
                first.push(*i);
            }
        }
        assert_eq!(first, (0..per_group).collect::<Vec<_>>(), "group {group}");
    }
    assert_eq!(order.len(), groups);
    let plain: HashSet<i64> = plain
        .iter()
        .map(|b| b["data"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(
        plain.len(),
        standard as usize,
        "every standard message arrived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejecting_target_ends_in_dead_rows_while_the_rest_flows() {
    let emulator = Emulator::start();
    // queue names of this test's own (the tests of a run share one LocalStack)
    let p = common::unique("o");
    let n = |name: &str| format!("{p}_{name}");
    let aws = aws(&emulator).await;
    create_queue(&aws, &n("fine"), &[]).await;
    create_queue(&aws, &n("tiny"), &[("MaximumMessageSize", "1024")]).await;
    for db in AppDb::all() {
        eprintln!("{}", lariat::db::redact_url(&db.url));
        let store = db.store().await;
        let mut messages = Vec::new();
        for i in 0..5 {
            messages.push(OutboxMessage::to_queue(event(json!({"i": i})), n("fine")));
            messages.push(OutboxMessage::to_queue(
                event(json!({"i": i})),
                n("missing"),
            ));
            let big = "x".repeat(2000);
            messages.push(OutboxMessage::to_queue(
                event(json!({"big": big})),
                n("tiny"),
            ));
        }
        db.enqueue(&messages, true).await;
        let dead_seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let relay = Relay::new(
            store.clone(),
            publisher_sink(&aws),
            RelayOptions {
                max_attempts: 3,
                ..fast("r")
            },
        )
        .on_sending_error({
            let dead_seen = dead_seen.clone();
            move |target, row| {
                assert!(!row.error.is_empty());
                if row.dead {
                    dead_seen.lock().unwrap().push(target.name.clone());
                }
            }
        });
        let dead = async {
            loop {
                let stats = store.stats().await.unwrap();
                if stats.iter().all(|s| s.pending == 0) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), relay.run(dead))
            .await
            .unwrap()
            .unwrap();
        let stats: BTreeMap<String, (i64, i64)> = store
            .stats()
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.target, (s.pending, s.dead)))
            .collect();
        assert_eq!(stats.get(&n("fine")), None, "{stats:?}");
        assert_eq!(stats[&n("missing")], (0, 5), "retried, then dead");
        assert_eq!(stats[&n("tiny")], (0, 5), "refused, dead");
        let mut dead_targets = dead_seen.lock().unwrap().clone();
        dead_targets.sort();
        let mut expected = vec![n("missing"); 5];
        expected.extend(vec![n("tiny"); 5]);
        expected.sort();
        assert_eq!(
            dead_targets, expected,
            "on_sending_error saw every dead row"
        );
        assert_eq!(
            receive(&aws, &n("fine"), 5, Duration::from_secs(3))
                .await
                .len(),
            5
        );
    }
}

/// `lariat outbox …` against `db` and `emulator`, from an empty folder.
fn lariat(emulator: &Emulator, db: &AppDb, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("lariat"));
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("LARIAT_LOG")
        .env("LARIAT_DATABASE_URL", &db.url)
        .env("LARIAT_OUTBOX_TABLE", &db.table)
        .arg("outbox");
    for (key, value) in emulator.aws_env() {
        cmd.env(key, value);
    }
    cmd
}

fn spawn_relay(emulator: &Emulator, db: &AppDb, dir: &std::path::Path, id: &str) -> Child {
    lariat(emulator, db, dir)
        .args([
            "relay",
            "--lease",
            "2s",
            "--sleep-on-empty",
            "100ms",
            "--relay-id",
            id,
        ])
        .args(["--concurrency", "2", "--log-level", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_killed_mid_batch_loses_nothing() {
    let emulator = Emulator::start();
    // queue names of this test's own (the tests of a run share one LocalStack)
    let p = common::unique("o");
    let n = |name: &str| format!("{p}_{name}");
    let aws = aws(&emulator).await;
    create_queue(&aws, &n("killed.fifo"), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let db = match common::postgres_url() {
        Some(url) => AppDb::server(url),
        None => AppDb::sqlite(),
    };
    let install = lariat(&emulator, &db, dir.path())
        .arg("install")
        .output()
        .unwrap();
    assert!(install.status.success(), "{install:?}");
    let store = db.store().await;
    let total = 600;
    let messages: Vec<OutboxMessage> = (0..total)
        .map(|i| {
            OutboxMessage::to_queue(event(json!({"g": i % 3, "i": i})), n("killed.fifo"))
                .group(format!("g{}", i % 3))
        })
        .collect();
    db.enqueue(&messages, true).await;

    let mut first = spawn_relay(&emulator, &db, dir.path(), "first");
    let second_started = Instant::now();
    // kill -9 once it is sending
    loop {
        let pending: i64 = store.stats().await.unwrap().iter().map(|s| s.pending).sum();
        if pending < total - 50 {
            break;
        }
        assert!(
            second_started.elapsed() < Duration::from_secs(60),
            "first relay never sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let in_flight: i64 = store
        .stats()
        .await
        .unwrap()
        .iter()
        .map(|s| s.in_flight)
        .sum();
    eprintln!("killed the first relay with {in_flight} rows claimed");

    let mut second = spawn_relay(&emulator, &db, dir.path(), "second");
    until_empty(&store, Duration::from_secs(120)).await;
    // SIGTERM: graceful stop, exit 0
    let status = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = second.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "graceful shutdown exits 0");

    let bodies = receive(
        &aws,
        &n("killed.fifo"),
        total as usize,
        Duration::from_secs(60),
    )
    .await;
    let got: HashSet<i64> = bodies
        .iter()
        .map(|b| b["data"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(
        got.len(),
        total as usize,
        "every message arrived at least once"
    );
    for g in 0..3 {
        let seq: Vec<i64> = bodies
            .iter()
            .filter(|b| b["data"]["g"] == g)
            .map(|b| b["data"]["i"].as_i64().unwrap())
            .collect();
        let mut firsts = Vec::new();
        for i in seq {
            if !firsts.contains(&i) {
                firsts.push(i);
            }
        }
        let mut sorted = firsts.clone();
        sorted.sort();
        assert_eq!(firsts, sorted, "group {g} in order");
    }

    let status = lariat(&emulator, &db, dir.path())
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(0));
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("the outbox is empty"), "{text}");
}
