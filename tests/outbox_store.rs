//! The outbox table and the relay's logic on SQLite (always), PostgreSQL and MariaDB (when
//! their URLs are set), with an in-memory sink: transactions, claims by several relays,
//! per-group order, retries, dead rows, resend, lease takeover.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lariat::message::{Envelope, Event};
use lariat::outbox::relay::{EntryResult, Relay, RelayOptions, Sink, MIN_LEASE};
use lariat::outbox::{self, Claim, Outbox, OutboxMessage, OutboxStore, ResendFilter, Row, Target};
use serde_json::{json, Value};

/// A database with an outbox table of the test's own, dropped at the end.
struct TestDb {
    url: String,
    table: String,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestDb {
    fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        dbs.extend(common::postgres_url().map(TestDb::server));
        dbs.extend(common::mysql_url().map(TestDb::server));
        dbs
    }

    fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("app.db").display());
        TestDb {
            url,
            table: table_name(),
            _dir: Some(dir),
        }
    }

    fn server(url: String) -> TestDb {
        TestDb {
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

    /// Enqueues `messages` in one transaction, then commits or rolls back.
    async fn enqueue(&self, messages: &[OutboxMessage], commit: bool) {
        let outbox = Outbox::new(&self.table).unwrap();
        macro_rules! run {
            ($pool:ty) => {{
                let pool = <$pool>::connect(&self.url).await.unwrap();
                let mut tx = pool.begin().await.unwrap();
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

impl Drop for TestDb {
    fn drop(&mut self) {
        if self._dir.is_some() {
            return;
        }
        let table = &self.table;
        let statements = if self.url.starts_with("postgres") {
            vec![
                format!("DROP TABLE IF EXISTS \"{table}\""),
                format!("DROP FUNCTION IF EXISTS \"{table}_notify\""),
            ]
        } else {
            vec![format!("DROP TABLE IF EXISTS `{table}`")]
        };
        common::cleanup_sql(&self.url, statements);
    }
}

fn table_name() -> String {
    format!(
        "outbox_test_{}_{}",
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

/// Records what it is sent; fails every entry for targets named in `reject`.
#[derive(Default)]
struct MemorySink {
    sent: Mutex<Vec<(String, Value)>>,
    reject: Vec<String>,
    calls: AtomicUsize,
    delay: Duration,
}

#[async_trait]
impl Sink for MemorySink {
    async fn send_batch(&self, target: &Target, rows: &[Row]) -> Vec<EntryResult> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.delay).await;
        if self.reject.contains(&target.name) {
            return rows
                .iter()
                .map(|_| EntryResult::Failed {
                    error: format!("{target} rejects everything"),
                    permanent: false,
                })
                .collect();
        }
        let mut sent = self.sent.lock().unwrap();
        rows.iter()
            .map(|row| {
                let envelope = Envelope::from_json(&row.message).unwrap();
                sent.push((target.name.clone(), envelope.data().clone()));
                EntryResult::Sent
            })
            .collect()
    }
}

fn fast_options(id: &str) -> RelayOptions {
    RelayOptions {
        relay_id: id.to_owned(),
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        sleep_on_empty: Duration::from_millis(50),
        ..RelayOptions::default()
    }
}

/// Completes when the outbox table is empty.
async fn empty(store: &Arc<dyn OutboxStore>) {
    while !store.stats().await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn committed_rows_are_sent_rolled_back_never(db: TestDb) {
    let store = db.store().await;
    db.enqueue(
        &[
            OutboxMessage::to_topic(event(json!({"n": 1})), "t1"),
            OutboxMessage::to_queue(event(json!({"n": 2})), "q1.fifo").group("g"),
        ],
        true,
    )
    .await;
    db.enqueue(
        &[OutboxMessage::to_topic(event(json!({"n": 3})), "t1")],
        false,
    )
    .await;
    let sink = Arc::new(MemorySink::default());
    let relay = Relay::new(store.clone(), sink.clone(), fast_options("r1"));
    assert_eq!(relay.drain().await.unwrap(), 2);
    let mut sent: Vec<i64> = sink
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|(_, d)| d["n"].as_i64().unwrap())
        .collect();
    sent.sort();
    assert_eq!(sent, [1, 2]);
    assert!(
        store.stats().await.unwrap().is_empty(),
        "sent rows are deleted"
    );
}

async fn two_relays_keep_group_order(db: TestDb) {
    let store = db.store().await;
    let groups = 7;
    let per_group = 60;
    let mut messages = Vec::new();
    for i in 0..per_group {
        for g in 0..groups {
            messages.push(
                OutboxMessage::to_queue(event(json!({"g": g, "i": i})), "orders.fifo")
                    .group(format!("g{g}")),
            );
        }
        messages.push(OutboxMessage::to_topic(
            event(json!({"g": -1, "i": i})),
            "plain",
        ));
    }
    db.enqueue(&messages, true).await;
    let sink = Arc::new(MemorySink {
        delay: Duration::from_millis(2),
        ..MemorySink::default()
    });
    let small = |id| RelayOptions {
        concurrency: 2,
        ..fast_options(id)
    };
    let a = Relay::new(store.clone(), sink.clone(), small("a"));
    let b = Relay::new(store.clone(), sink.clone(), small("b"));
    let (ra, rb) = tokio::join!(a.run(empty(&store)), b.run(empty(&store)));
    let (ra, rb) = (ra.unwrap().sent, rb.unwrap().sent);
    assert_eq!(ra + rb, messages.len() as u64, "every row sent once");
    assert!(ra > 0 && rb > 0, "both relays worked: {ra} {rb}");
    let sent = sink.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), messages.len());
    let mut seen: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (_, data) in &sent {
        seen.entry(data["g"].as_i64().unwrap())
            .or_default()
            .push(data["i"].as_i64().unwrap());
    }
    for (group, order) in seen {
        if group >= 0 {
            assert_eq!(order, (0..per_group).collect::<Vec<_>>(), "group {group}");
        } else {
            assert_eq!(order.len(), per_group as usize);
        }
    }
}

async fn a_rejecting_target_ends_in_dead_rows_while_the_rest_flows(db: TestDb) {
    let store = db.store().await;
    let mut messages = Vec::new();
    for i in 0..5 {
        messages.push(OutboxMessage::to_queue(event(json!({"i": i})), "broken"));
        messages.push(OutboxMessage::to_queue(event(json!({"i": i})), "fine"));
        messages.push(OutboxMessage::to_queue(event(json!({"i": i})), "broken.fifo").group("g"));
    }
    db.enqueue(&messages, true).await;
    let sink = Arc::new(MemorySink {
        reject: vec!["broken".into(), "broken.fifo".into()],
        ..MemorySink::default()
    });
    let relay = Relay::new(
        store.clone(),
        sink.clone(),
        RelayOptions {
            max_attempts: 3,
            ..fast_options("r")
        },
    );
    let stop = tokio::time::sleep(Duration::from_secs(3));
    let report = relay.run(stop).await.unwrap();
    let stats: HashMap<String, (i64, i64)> = store
        .stats()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.target, (s.pending, s.dead)))
        .collect();
    assert_eq!(stats.get("fine"), None, "all sent: {stats:?}");
    assert_eq!(stats["broken"], (0, 5));
    // the FIFO group's rows die one after the other: each head unblocks the next
    assert_eq!(stats["broken.fifo"], (0, 5));
    assert_eq!(report.sent, 5);
    assert_eq!(report.dead, 10);
    assert_eq!(report.failed, 30);

    // resend moves them back, behind everything, with fresh attempts
    let count = store
        .resend(&ResendFilter {
            target_name: Some("broken".into()),
            ..ResendFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(count, 5);
    let filter = ResendFilter {
        target_name: Some("broken".into()),
        ..ResendFilter::default()
    };
    assert_eq!(
        store.resend(&filter).await.unwrap(),
        0,
        "a second resend finds nothing"
    );
    let broken = store
        .stats()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.target == "broken")
        .unwrap();
    assert_eq!((broken.pending, broken.retrying, broken.dead), (5, 0, 0));
    assert_eq!(store.purge_dead(Duration::ZERO).await.unwrap(), 5);
}

async fn a_dead_relays_claims_are_taken_over_after_the_lease(db: TestDb) {
    let store = db.store().await;
    db.enqueue(
        &[
            OutboxMessage::to_queue(event(json!({"i": 0})), "q.fifo").group("g"),
            OutboxMessage::to_queue(event(json!({"i": 1})), "q.fifo").group("g"),
            OutboxMessage::to_topic(event(json!({"i": 2})), "t"),
        ],
        true,
    )
    .await;
    // a relay claims and then "dies": never settles, never renews
    let claim = Claim {
        relay: "dead",
        lease: Duration::from_millis(1500),
        limit: 10,
        batch_size: 10,
        split_keys: &[],
        done: &[],
    };
    assert_eq!(store.claim(&claim).await.unwrap().len(), 3);
    let sink = Arc::new(MemorySink::default());
    let relay = Relay::new(store.clone(), sink.clone(), fast_options("alive"));
    assert_eq!(
        relay.drain().await.unwrap(),
        0,
        "claims are respected while live"
    );
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert_eq!(
        relay.drain().await.unwrap(),
        3,
        "taken over after the lease"
    );
    let order: Vec<i64> = sink
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| t == "q.fifo")
        .map(|(_, d)| d["i"].as_i64().unwrap())
        .collect();
    assert_eq!(order, [0, 1]);
}

/// Regression (issue 11): `--lease 0` made the lease keeper panic (a zero interval) and every
/// claim expire at once, so concurrent relays sent the same rows again. A lease below
/// `MIN_LEASE` is raised to it and renewed while a slow batch is in flight.
async fn a_zero_lease_is_raised_so_slow_batches_are_sent_once(db: TestDb) {
    let store = db.store().await;
    let messages: Vec<OutboxMessage> = (0..10)
        .map(|i| OutboxMessage::to_topic(event(json!({"i": i})), "t"))
        .collect();
    db.enqueue(&messages, true).await;
    let sink = Arc::new(MemorySink {
        delay: Duration::from_millis(2500),
        ..MemorySink::default()
    });
    let relays: Vec<Relay> = ["zero-a", "zero-b", "zero-c"]
        .into_iter()
        .map(|id| {
            let options = RelayOptions {
                lease: Duration::ZERO,
                ..fast_options(id)
            };
            Relay::new(store.clone(), sink.clone(), options)
        })
        .collect();
    assert_eq!(relays[0].options().lease, MIN_LEASE);
    let runs = relays
        .iter()
        .map(|relay| relay.run(tokio::time::sleep(Duration::from_secs(4))));
    for report in futures::future::join_all(runs).await {
        report.unwrap();
    }
    let mut sent: Vec<i64> = sink
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|(_, d)| d["i"].as_i64().unwrap())
        .collect();
    sent.sort();
    assert_eq!(sent, (0..10).collect::<Vec<i64>>(), "each row sent once");
    assert!(store.stats().await.unwrap().is_empty());
}

async fn split_keys_select_targets_and_groups(db: TestDb) {
    let store = db.store().await;
    db.enqueue(
        &[
            OutboxMessage::to_topic(event(json!({"i": 0})), "a"),
            OutboxMessage::to_topic(event(json!({"i": 1})), "b"),
            OutboxMessage::to_queue(event(json!({"i": 2})), "q.fifo").group("x"),
            OutboxMessage::to_queue(event(json!({"i": 3})), "q.fifo").group("y"),
        ],
        true,
    )
    .await;
    let sink = Arc::new(MemorySink::default());
    let options = RelayOptions {
        split_keys: vec!["a".parse().unwrap(), "q.fifo:y".parse().unwrap()],
        ..fast_options("split")
    };
    let relay = Relay::new(store.clone(), sink.clone(), options);
    assert_eq!(relay.drain().await.unwrap(), 2);
    let mut got: Vec<i64> = sink
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|(_, d)| d["i"].as_i64().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, [0, 3]);
}

async fn a_claim_deletes_the_rows_sent_since_the_last_one(db: TestDb) {
    let store = db.store().await;
    db.enqueue(
        &[
            OutboxMessage::to_topic(event(json!({"i": 0})), "t"),
            OutboxMessage::to_topic(event(json!({"i": 1})), "t"),
            OutboxMessage::to_queue(event(json!({"i": 2})), "q.fifo").group("g"),
            OutboxMessage::to_queue(event(json!({"i": 3})), "q.fifo").group("g"),
        ],
        true,
    )
    .await;
    let claim = |done| Claim {
        relay: "r",
        lease: Duration::from_secs(30),
        limit: 1,
        batch_size: 10,
        split_keys: &[],
        done,
    };
    // one standard row, and the FIFO group through its head
    let first: Vec<i64> = store
        .claim(&claim(&[]))
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(first.len(), 3, "{first:?}");
    let pending =
        |stats: Vec<lariat::outbox::TargetStats>| stats.iter().map(|s| s.pending).sum::<i64>();
    assert_eq!(pending(store.stats().await.unwrap()), 4);
    // the next claim deletes them, then claims the last row
    let second = store.claim(&claim(&first)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert!(!first.contains(&second[0].id));
    assert_eq!(pending(store.stats().await.unwrap()), 1);
    // with nothing left to claim, it still deletes
    assert!(store
        .claim(&claim(&[second[0].id]))
        .await
        .unwrap()
        .is_empty());
    assert!(store.stats().await.unwrap().is_empty());
}

macro_rules! on_every_database {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            for db in super::TestDb::all() {
                eprintln!("{}: {}", stringify!($name), lariat::db::redact_url(&db.url));
                super::$name(db).await;
            }
        }
    )*};
}

mod every_database {
    on_every_database!(
        committed_rows_are_sent_rolled_back_never,
        two_relays_keep_group_order,
        a_rejecting_target_ends_in_dead_rows_while_the_rest_flows,
        a_dead_relays_claims_are_taken_over_after_the_lease,
        split_keys_select_targets_and_groups,
        a_zero_lease_is_raised_so_slow_batches_are_sent_once,
        a_claim_deletes_the_rows_sent_since_the_last_one,
    );
}

#[tokio::test]
async fn invalid_messages_write_nothing() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let outbox = Outbox::new(&db.table).unwrap();
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let result = outbox
        .enqueue_many(
            &mut tx,
            &[
                OutboxMessage::to_topic(event(json!({})), "ok"),
                OutboxMessage::to_queue(event(json!({})), "q.fifo"),
            ],
        )
        .await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("group id"), "{err}");
    tx.commit().await.unwrap();
    assert!(store.stats().await.unwrap().is_empty());
}
