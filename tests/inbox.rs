//! The inbox end to end: a moto server, real queues, and the inbox table on SQLite (always),
//! PostgreSQL and MariaDB (when `LARIAT_TEST_POSTGRES_URL` / `LARIAT_TEST_MYSQL_URL` are set).
//!
//! The test handler writes a row per call into a table of its own, inside the transaction the
//! inbox gives it, so "handled once" is checked in the database: a rolled-back attempt leaves
//! no row.

// a test that cannot set up its fixture should panic, loudly
#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use common::project::{aws, Db, Project};
use common::Emulator;
use lariat::aws::Aws;
use lariat::inbox::{
    Consumer, ConsumerOptions, ConsumerReport, Failure, FailureKind, Handler, HandlerError, Inbox,
    InboxDatabase, Incoming, ListFilter, MemoryQueue,
};
use lariat::message::Event;
use predicates::str::contains;
use serde_json::{json, Value};
use sqlx::{MySql, Pool, Postgres, Sqlite};
use uuid::Uuid;

/// The visibility timeout of test queues: short, so retries come back quickly.
const VISIBILITY: Duration = Duration::from_secs(2);

/// Per-backend SQL of the test handler's own table.
#[async_trait]
trait TestDb: InboxDatabase {
    async fn create_handled(pool: &Pool<Self>, table: &str);
    async fn record(conn: &mut Self::Connection, table: &str, uuid: Uuid) -> sqlx::Result<()>;
    async fn handled(pool: &Pool<Self>, table: &str) -> Vec<Uuid>;
    async fn drop_table(pool: &Pool<Self>, table: &str);
}

#[async_trait]
impl TestDb for Sqlite {
    async fn create_handled(pool: &Pool<Self>, table: &str) {
        sqlx::query(&format!("CREATE TABLE {table} (uuid TEXT NOT NULL)"))
            .execute(pool)
            .await
            .unwrap();
    }
    async fn record(conn: &mut Self::Connection, table: &str, uuid: Uuid) -> sqlx::Result<()> {
        sqlx::query(&format!("INSERT INTO {table} (uuid) VALUES (?)"))
            .bind(uuid.to_string())
            .execute(conn)
            .await
            .map(drop)
    }
    async fn handled(pool: &Pool<Self>, table: &str) -> Vec<Uuid> {
        let rows: Vec<(String,)> = sqlx::query_as(&format!("SELECT uuid FROM {table}"))
            .fetch_all(pool)
            .await
            .unwrap();
        rows.into_iter().map(|(u,)| u.parse().unwrap()).collect()
    }
    async fn drop_table(_: &Pool<Self>, _: &str) {}
}

#[async_trait]
impl TestDb for Postgres {
    async fn create_handled(pool: &Pool<Self>, table: &str) {
        sqlx::query(&format!("CREATE TABLE {table} (uuid UUID NOT NULL)"))
            .execute(pool)
            .await
            .unwrap();
    }
    async fn record(conn: &mut Self::Connection, table: &str, uuid: Uuid) -> sqlx::Result<()> {
        sqlx::query(&format!("INSERT INTO {table} (uuid) VALUES ($1)"))
            .bind(uuid)
            .execute(conn)
            .await
            .map(drop)
    }
    async fn handled(pool: &Pool<Self>, table: &str) -> Vec<Uuid> {
        let rows: Vec<(Uuid,)> = sqlx::query_as(&format!("SELECT uuid FROM {table}"))
            .fetch_all(pool)
            .await
            .unwrap();
        rows.into_iter().map(|(u,)| u).collect()
    }
    async fn drop_table(pool: &Pool<Self>, table: &str) {
        let _ = sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
            .execute(pool)
            .await;
    }
}

#[async_trait]
impl TestDb for MySql {
    async fn create_handled(pool: &Pool<Self>, table: &str) {
        sqlx::query(&format!(
            "CREATE TABLE {table} (uuid CHAR(36) NOT NULL) ENGINE = InnoDB"
        ))
        .execute(pool)
        .await
        .unwrap();
    }
    async fn record(conn: &mut Self::Connection, table: &str, uuid: Uuid) -> sqlx::Result<()> {
        sqlx::query(&format!("INSERT INTO {table} (uuid) VALUES (?)"))
            .bind(uuid.to_string())
            .execute(conn)
            .await
            .map(drop)
    }
    async fn handled(pool: &Pool<Self>, table: &str) -> Vec<Uuid> {
        let rows: Vec<(String,)> = sqlx::query_as(&format!("SELECT uuid FROM {table}"))
            .fetch_all(pool)
            .await
            .unwrap();
        rows.into_iter().map(|(u,)| u.parse().unwrap()).collect()
    }
    async fn drop_table(pool: &Pool<Self>, table: &str) {
        let _ = sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
            .execute(pool)
            .await;
    }
}

/// The test handler. Behaviour comes from the message's data: `"action": "client"` is a
/// business error (until `fixed`), `"fail_once"` a transient error on the first delivery,
/// `"fail_until_fixed"` a transient error until `fixed`,
/// `"sleep_ms"` a slow handler, `"group"`/`"seq"` are recorded in handling order.
#[derive(Clone, Default)]
struct Recorder {
    table: String,
    calls: Arc<Mutex<Vec<(Uuid, u32)>>>,
    order: Arc<Mutex<Vec<(String, i64)>>>,
    fixed: Arc<AtomicBool>,
}

impl Recorder {
    fn calls(&self, uuid: Uuid) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(u, _)| *u == uuid)
            .count()
    }
}

#[async_trait]
impl<DB: TestDb> Handler<DB> for Recorder {
    async fn handle(&self, msg: &Incoming, tx: &mut DB::Connection) -> Result<(), HandlerError> {
        self.calls
            .lock()
            .unwrap()
            .push((msg.uuid(), msg.receive_count));
        DB::record(tx, &self.table, msg.uuid()).await?;
        let data = msg.data();
        match data["action"].as_str() {
            Some("client") if !self.fixed.load(Ordering::SeqCst) => {
                return Err(HandlerError::client_with_details(
                    "user is not registered",
                    json!({ "first_name": "John" }),
                ))
            }
            Some("fail_once") if msg.receive_count <= 1 => {
                return Err(HandlerError::retry("the mail server is down"))
            }
            Some("fail_until_fixed") if !self.fixed.load(Ordering::SeqCst) => {
                return Err(HandlerError::retry("the mail server is down"))
            }
            _ => {}
        }
        if let Some(ms) = data["sleep_ms"].as_u64() {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if let (Some(group), Some(seq)) = (data["group"].as_str(), data["seq"].as_i64()) {
            self.order.lock().unwrap().push((group.to_owned(), seq));
        }
        Ok(())
    }
}

/// An emulator, a connected client, an inbox and the handler's table.
struct Fixture<DB: TestDb> {
    emulator: Emulator,
    aws: Aws,
    inbox: Inbox<DB>,
    handled_table: String,
    _dir: tempfile::TempDir,
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", &Uuid::new_v4().simple().to_string()[..12])
}

impl<DB: TestDb> Fixture<DB> {
    async fn new(url: Option<String>) -> Self {
        let emulator = Emulator::start();
        let aws = aws(&emulator).await;
        let dir = tempfile::tempdir().unwrap();
        let url = url.unwrap_or_else(|| format!("sqlite://{}/inbox.db", dir.path().display()));
        let inbox = Inbox::<DB>::connect(&url, &unique("inbox")).await.unwrap();
        inbox.install().await.unwrap();
        inbox.install().await.unwrap(); // idempotent
        let handled_table = unique("handled");
        DB::create_handled(inbox.pool(), &handled_table).await;
        Fixture {
            emulator,
            aws,
            inbox,
            handled_table,
            _dir: dir,
        }
    }

    fn recorder(&self) -> Recorder {
        Recorder {
            table: self.handled_table.clone(),
            ..Recorder::default()
        }
    }

    async fn handled(&self) -> Vec<Uuid> {
        DB::handled(self.inbox.pool(), &self.handled_table).await
    }

    async fn queue(&self, name: &str) -> String {
        let mut create = self.aws.sqs.create_queue().queue_name(name).attributes(
            QueueAttributeName::VisibilityTimeout,
            VISIBILITY.as_secs().to_string(),
        );
        if name.ends_with(".fifo") {
            create = create.attributes(QueueAttributeName::FifoQueue, "true");
        }
        create.send().await.unwrap().queue_url.unwrap()
    }

    async fn send(&self, url: &str, body: &str, group: Option<&str>) {
        let mut send = self
            .aws
            .sqs
            .send_message()
            .queue_url(url)
            .message_body(body);
        if let Some(group) = group {
            send = send
                .message_group_id(group)
                .message_deduplication_id(Uuid::new_v4().to_string());
        }
        send.send().await.unwrap();
    }

    async fn cleanup(self) {
        let pool = self.inbox.pool().clone();
        DB::drop_table(&pool, &self.handled_table).await;
        DB::drop_table(&pool, self.inbox.table()).await;
        drop(self.emulator);
    }
}

fn envelope(data: Value) -> (Uuid, String) {
    let envelope = Event::new("user_created", data)
        .publisher("registration")
        .build()
        .unwrap();
    (envelope.uuid(), envelope.to_json())
}

/// The same envelope as SNS delivers it without raw delivery.
fn sns_wrapped(body: &str) -> String {
    json!({
        "Type": "Notification",
        "MessageId": Uuid::new_v4().to_string(),
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:test-event-fanout-registration-user_created",
        "Message": body,
    })
    .to_string()
}

/// A consumer running in the background, with what its hooks saw.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<ConsumerReport, lariat::inbox::InboxError>>,
    seen: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<Failure>>>,
}

impl Running {
    async fn stop(self) -> ConsumerReport {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the consumer stops")
            .unwrap()
            .unwrap()
    }
}

fn start<DB: TestDb>(
    fixture: &Fixture<DB>,
    queue: &str,
    handler: Recorder,
    options: ConsumerOptions,
) -> Running {
    let seen = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = Consumer::new(fixture.aws.clone(), fixture.inbox.clone(), queue, handler)
        .options(options)
        .on_message({
            let seen = seen.clone();
            move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        })
        .on_error({
            let failures = failures.clone();
            move |failure| failures.lock().unwrap().push(failure.clone())
        });
    let task = tokio::spawn(consumer.run(async move {
        let _ = stopped.await;
    }));
    Running {
        stop,
        task,
        seen,
        failures,
    }
}

fn fast() -> ConsumerOptions {
    ConsumerOptions::default().wait_time(Duration::from_secs(1))
}

/// Waits until `check` holds, failing the test after `limit`.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn row(
    inbox_rows: Vec<lariat::inbox::InboxMessage>,
    uuid: Uuid,
) -> lariat::inbox::InboxMessage {
    inbox_rows
        .into_iter()
        .find(|r| r.uuid == uuid)
        .unwrap_or_else(|| panic!("no inbox row for {uuid}"))
}

async fn a_message_sent_twice_is_handled_once<DB: TestDb>(url: Option<String>) {
    let f = Fixture::<DB>::new(url).await;
    let queue = &unique("inbox_dup");
    let url = f.queue(queue).await;
    let (uuid, body) = envelope(json!({ "email": "john@example.com" }));
    f.send(&url, &body, None).await;
    f.send(&url, &body, None).await;
    f.send(&url, &sns_wrapped(&body), None).await;
    let recorder = f.recorder();
    let running = start(&f, queue, recorder.clone(), fast());
    let seen = running.seen.clone();
    eventually("three copies seen", Duration::from_secs(30), || {
        let seen = seen.clone();
        async move { seen.load(Ordering::SeqCst) == 3 }
    })
    .await;
    // a fourth copy after the first is processed
    f.send(&url, &body, None).await;
    eventually("fourth copy seen", Duration::from_secs(30), || {
        let seen = seen.clone();
        async move { seen.load(Ordering::SeqCst) == 4 }
    })
    .await;
    let report = running.stop().await;
    assert_eq!(report.processed, 1, "{report:?}");
    assert_eq!(report.duplicates, 3, "{report:?}");
    assert_eq!(recorder.calls(uuid), 1);
    assert_eq!(f.handled().await, vec![uuid]);
    let stored = row(f.inbox.list(ListFilter::All, 10).await.unwrap(), uuid).await;
    assert!(stored.processed_at.is_some());
    assert_eq!(stored.message_type, "event_user_created");
    assert_eq!(stored.publisher, "registration");
    assert_eq!(stored.data, json!({ "email": "john@example.com" }));
    assert_eq!(stored.envelope().unwrap().uuid(), uuid);
    f.cleanup().await;
}

async fn a_client_error_is_stored_and_not_redelivered<DB: TestDb>(url: Option<String>) {
    let f = Fixture::<DB>::new(url).await;
    let queue = &unique("inbox_client");
    let url = f.queue(queue).await;
    let (uuid, body) = envelope(json!({ "action": "client" }));
    f.send(&url, &body, None).await;
    let recorder = f.recorder();
    let running = start(&f, queue, recorder.clone(), fast());
    let seen = running.seen.clone();
    eventually("the message is seen", Duration::from_secs(30), || {
        let seen = seen.clone();
        async move { seen.load(Ordering::SeqCst) == 1 }
    })
    .await;
    // longer than the visibility timeout: a message left on the queue would be back
    tokio::time::sleep(VISIBILITY * 2).await;
    let failures = running.failures.clone();
    let report = running.stop().await;
    assert_eq!(report.client_errors, 1, "{report:?}");
    assert_eq!(report.received, 1, "redelivered: {report:?}");
    assert_eq!(recorder.calls(uuid), 1);
    assert!(
        f.handled().await.is_empty(),
        "the handler's write was rolled back"
    );
    {
        let failures = failures.lock().unwrap();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(failures[0].kind, FailureKind::Client);
        assert_eq!(failures[0].uuid, Some(uuid));
    }
    let errors = f.inbox.list(ListFilter::ClientErrors, 10).await.unwrap();
    let stored = row(errors, uuid).await;
    assert_eq!(
        stored.client_error_message.as_deref(),
        Some("user is not registered")
    );
    assert_eq!(
        stored.client_error_details,
        Some(json!({ "first_name": "John" }))
    );
    assert!(f
        .inbox
        .list(ListFilter::Unprocessed, 10)
        .await
        .unwrap()
        .is_empty());

    // the fix is deployed: clear the error and replay
    assert!(f.inbox.retry(uuid).await.unwrap());
    assert!(!f.inbox.retry(uuid).await.unwrap(), "nothing left to clear");
    assert_eq!(
        f.inbox
            .list(ListFilter::Unprocessed, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    recorder.fixed.store(true, Ordering::SeqCst);
    let replay = f.inbox.each_unprocessed(&recorder).await.unwrap();
    assert_eq!(replay.processed, 1, "{replay:?}");
    assert_eq!(f.handled().await, vec![uuid]);
    let again = f.inbox.each_unprocessed(&recorder).await.unwrap();
    assert_eq!(again, Default::default(), "nothing left to replay");
    f.cleanup().await;
}

/// The Ruby gem never marks a redelivered, previously failed message as processed.
async fn a_transient_error_is_redelivered_then_handled<DB: TestDb>(url: Option<String>) {
    let f = Fixture::<DB>::new(url).await;
    let queue = &unique("inbox_retry");
    let url = f.queue(queue).await;
    let (uuid, body) = envelope(json!({ "action": "fail_once" }));
    f.send(&url, &body, None).await;
    let recorder = f.recorder();
    let running = start(&f, queue, recorder.clone(), fast());
    let handled = || async { f.handled().await == vec![uuid] };
    eventually("handled after redelivery", Duration::from_secs(30), handled).await;
    let report = running.stop().await;
    assert_eq!((report.retries, report.processed), (1, 1), "{report:?}");
    let calls = recorder.calls.lock().unwrap().clone();
    assert_eq!(calls, vec![(uuid, 1), (uuid, 2)]);
    let stored = row(f.inbox.list(ListFilter::All, 10).await.unwrap(), uuid).await;
    assert!(
        stored.processed_at.is_some(),
        "the retry marked it processed"
    );
    assert!(stored.client_error_message.is_none());
    f.cleanup().await;
}

async fn a_malformed_body_is_stored_not_fatal<DB: TestDb>(url: Option<String>) {
    let f = Fixture::<DB>::new(url).await;
    let queue = &unique("inbox_malformed");
    let url = f.queue(queue).await;
    f.send(&url, "not json at all", None).await;
    f.send(&url, r#"{"uuid": "nope", "publisher": "x"}"#, None)
        .await;
    f.send(&url, &sns_wrapped(r#"{"type": "event_x"}"#), None)
        .await;
    let (uuid, body) = envelope(json!({}));
    f.send(&url, &body, None).await;
    let recorder = f.recorder();
    let running = start(&f, queue, recorder.clone(), fast());
    let seen = running.seen.clone();
    eventually("four messages seen", Duration::from_secs(30), || {
        let seen = seen.clone();
        async move { seen.load(Ordering::SeqCst) == 4 }
    })
    .await;
    // the same garbage again lands on the same row
    f.send(&url, "not json at all", None).await;
    eventually("the repeat is seen", Duration::from_secs(30), || {
        let seen = seen.clone();
        async move { seen.load(Ordering::SeqCst) == 5 }
    })
    .await;
    let failures = running.failures.clone();
    let report = running.stop().await;
    assert_eq!((report.malformed, report.processed), (4, 1), "{report:?}");
    assert_eq!(f.handled().await, vec![uuid]);
    let errors = f.inbox.list(ListFilter::ClientErrors, 10).await.unwrap();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    let garbage = errors
        .iter()
        .find(|r| r.message == "not json at all")
        .unwrap();
    assert_eq!(
        garbage.uuid,
        lariat::inbox::malformed_uuid("not json at all")
    );
    assert!(garbage
        .client_error_message
        .as_deref()
        .unwrap()
        .starts_with("malformed message: message body is not valid json"));
    assert_eq!(
        garbage.client_error_details.as_ref().unwrap()["malformed"],
        true
    );
    assert!(failures
        .lock()
        .unwrap()
        .iter()
        .all(|f| f.kind == FailureKind::Malformed));
    f.cleanup().await;
}

/// What a Ruby producer may send (issue 15): a numeric-string version, `sent_at` without an
/// offset, no `data`, a hyphen in the name, an extra field. It was set aside as malformed;
/// now it is handled, and its row keeps the text as it arrived, raw or wrapped by SNS.
async fn a_lenient_body_from_a_ruby_producer_is_handled<DB: TestDb>(url: Option<String>) {
    let f = Fixture::<DB>::new(url).await;
    let queue = &unique("inbox_lenient");
    let url = f.queue(queue).await;
    let (raw_uuid, wrapped_uuid) = (Uuid::new_v4(), Uuid::new_v4());
    let lenient = |uuid: Uuid| {
        format!(
            r#"{{"uuid": "{uuid}", "publisher": "ruby_app", "type": "event_user-created", "version": "1", "sent_at": "1970-01-01 16:40:00", "trace_id": "t-1"}}"#
        )
    };
    f.send(&url, &lenient(raw_uuid), None).await;
    f.send(&url, &sns_wrapped(&lenient(wrapped_uuid)), None)
        .await;
    let running = start(&f, queue, f.recorder(), fast());
    let seen = running.seen.clone();
    eventually("two messages seen", Duration::from_secs(30), || {
        let seen = seen.clone();
        async move { seen.load(Ordering::SeqCst) == 2 }
    })
    .await;
    let failures = running.failures.clone();
    let report = running.stop().await;
    assert_eq!((report.processed, report.malformed), (2, 0), "{report:?}");
    assert!(failures.lock().unwrap().is_empty());
    let mut handled = f.handled().await;
    handled.sort();
    let mut expected = vec![raw_uuid, wrapped_uuid];
    expected.sort();
    assert_eq!(handled, expected);
    for uuid in [raw_uuid, wrapped_uuid] {
        let stored = row(f.inbox.list(ListFilter::All, 10).await.unwrap(), uuid).await;
        assert_eq!(stored.message, lenient(uuid));
        assert_eq!(stored.message_type, "event_user-created");
        assert_eq!(stored.version, 1);
        assert_eq!(stored.data, json!({}));
        assert_eq!(
            stored.sent_at.map(|at| at.to_rfc3339()),
            Some("1970-01-01T16:40:00+00:00".to_owned())
        );
        assert!(stored.is_processed());
    }
    f.cleanup().await;
}

/// The gem's `before_save`: the hook sees each envelope and changes the row before it is
/// stored (here: redacts an address); the handler still gets the envelope as received.
async fn before_save_enriches_the_row<DB: TestDb>(url: Option<String>) {
    let f = Fixture::<DB>::new(url).await;
    let queue = &unique("inbox_before_save");
    let url = f.queue(queue).await;
    let (uuid, body) = envelope(json!({ "email": "a@b.c" }));
    f.send(&url, &body, None).await;
    let saw = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = Consumer::new(f.aws.clone(), f.inbox.clone(), queue, f.recorder())
        .options(fast())
        .before_save({
            let saw = saw.clone();
            move |envelope, row| {
                saw.lock().unwrap().push(envelope.uuid());
                row.data["email"] = json!("***");
                row.message = String::from("redacted");
            }
        });
    let task = tokio::spawn(consumer.run(async move {
        let _ = stopped.await;
    }));
    let inbox = f.inbox.clone();
    eventually("the message is processed", Duration::from_secs(30), || {
        let inbox = inbox.clone();
        async move {
            let rows = inbox.list(ListFilter::All, 10).await.unwrap();
            rows.iter().any(|r| r.uuid == uuid && r.is_processed())
        }
    })
    .await;
    let _ = stop.send(());
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.processed, 1, "{report:?}");
    assert_eq!(*saw.lock().unwrap(), vec![uuid]);
    assert_eq!(f.handled().await, vec![uuid]);
    let stored = row(f.inbox.list(ListFilter::All, 10).await.unwrap(), uuid).await;
    assert_eq!(stored.data, json!({ "email": "***" }));
    assert_eq!(stored.message, "redacted");
    f.cleanup().await;
}

async fn ten_consumers_lose_nothing<DB: TestDb>(url: Option<String>) {
    crowd::<DB>(url, 1).await;
}

/// Ten consumers handling their receives ten messages to a transaction: copies of one message
/// in concurrent batches still handled once.
async fn ten_consumers_in_batches_lose_nothing<DB: TestDb>(url: Option<String>) {
    crowd::<DB>(url, 10).await;
}

async fn crowd<DB: TestDb>(url: Option<String>, per_transaction: usize) {
    const MESSAGES: usize = 150;
    const COPIES: usize = 30;
    let f = Fixture::<DB>::new(url).await;
    let queue = &unique("inbox_crowd");
    let url = f.queue(queue).await;
    let mut bodies: Vec<(Uuid, String)> =
        (0..MESSAGES).map(|i| envelope(json!({ "i": i }))).collect();
    let expected: Vec<Uuid> = bodies.iter().map(|(u, _)| *u).collect();
    bodies.extend(bodies[..COPIES].to_vec());
    for (chunk_no, chunk) in bodies.chunks(10).enumerate() {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, (_, body))| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("m{chunk_no}_{i}"))
                    .message_body(body)
                    .build()
                    .unwrap()
            })
            .collect();
        f.aws
            .sqs
            .send_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
    }
    let recorder = f.recorder();
    let consumers: Vec<Running> = (0..10)
        .map(|_| {
            let options = fast()
                .concurrency(4)
                .messages_per_transaction(per_transaction);
            start(&f, queue, recorder.clone(), options)
        })
        .collect();
    let seen: Vec<_> = consumers.iter().map(|c| c.seen.clone()).collect();
    eventually("every copy seen", Duration::from_secs(180), || {
        let total: usize = seen.iter().map(|s| s.load(Ordering::SeqCst)).sum();
        async move { total >= MESSAGES + COPIES }
    })
    .await;
    let mut total = ConsumerReport::default();
    for consumer in consumers {
        let failures = consumer.failures.clone();
        let r = consumer.stop().await;
        let failures = failures.lock().unwrap();
        // A message redelivered while its first copy was handled (the machine under load)
        // leaves that copy's receipt handle stale: its delete fails, harmlessly.
        let stale =
            |f: &Failure| f.kind == FailureKind::Aws && f.error.contains("ReceiptHandleIsInvalid");
        assert!(failures.iter().all(stale), "no other failure: {failures:?}");
        total.processed += r.processed;
        total.duplicates += r.duplicates;
        total.retries += r.retries;
    }
    assert_eq!(total.processed, MESSAGES, "{total:?}");
    assert_eq!(total.retries, 0, "{total:?}");
    // Every message was deleted: none comes back once the visibility timeout is over.
    tokio::time::sleep(VISIBILITY + Duration::from_secs(1)).await;
    let attributes = f
        .aws
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let left = attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .cloned();
    assert_eq!(left.as_deref(), Some("0"), "messages left on the queue");
    let mut handled = f.handled().await;
    handled.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(handled, want, "each message handled exactly once");
    assert!(f
        .inbox
        .list(ListFilter::Unprocessed, 10)
        .await
        .unwrap()
        .is_empty());
    f.cleanup().await;
}

async fn fifo_groups_keep_their_order<DB: TestDb>(url: Option<String>) {
    fifo_order::<DB>(url, 1).await;
}

/// The same, a group's messages of one receive handled in one transaction: the failure rolls
/// back the messages before it, which are handled again one by one, in order.
async fn fifo_groups_in_batches_keep_their_order<DB: TestDb>(url: Option<String>) {
    fifo_order::<DB>(url, 10).await;
}

/// Each message's last handling, in handling order: a handling is followed by another of the
/// same message only when it was rolled back, so this is the order of what committed.
fn committed_order(seqs: &[i64]) -> Vec<i64> {
    let mut last: Vec<(usize, i64)> = Vec::new();
    for (at, seq) in seqs.iter().enumerate() {
        last.retain(|(_, s)| s != seq);
        last.push((at, *seq));
    }
    last.into_iter().map(|(_, seq)| seq).collect()
}

async fn fifo_order<DB: TestDb>(url: Option<String>, per_transaction: usize) {
    const PER_GROUP: i64 = 8;
    let f = Fixture::<DB>::new(url).await;
    let queue = &format!("{}.fifo", unique("inbox_order"));
    let url = f.queue(queue).await;
    for seq in 0..PER_GROUP {
        for group in ["a", "b", "c"] {
            // group a fails once in the middle: the rest of a must wait for its retry
            let action = if group == "a" && seq == 3 {
                "fail_once"
            } else {
                "ok"
            };
            let (_, body) = envelope(json!({ "group": group, "seq": seq, "action": action }));
            f.send(&url, &body, Some(group)).await;
        }
    }
    let recorder = f.recorder();
    let options = fast()
        .concurrency(10)
        .messages_per_transaction(per_transaction);
    let running = start(&f, queue, recorder.clone(), options);
    eventually("every message handled", Duration::from_secs(60), || {
        let done = running.seen.load(Ordering::SeqCst) == 3 * PER_GROUP as usize + 1;
        async move { done }
    })
    .await;
    let report = running.stop().await;
    assert_eq!(report.retries, 1, "{report:?}");
    let order = recorder.order.lock().unwrap().clone();
    for group in ["a", "b", "c"] {
        let seqs: Vec<i64> = order
            .iter()
            .filter(|(g, _)| g == group)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(
            committed_order(&seqs),
            (0..PER_GROUP).collect::<Vec<_>>(),
            "group {group}: {order:?}"
        );
        if per_transaction == 1 {
            assert_eq!(seqs.len(), PER_GROUP as usize, "group {group}: {order:?}");
        }
    }
    let mut handled = f.handled().await;
    handled.sort();
    handled.dedup();
    assert_eq!(handled.len(), 3 * PER_GROUP as usize, "each handled once");
    assert_eq!(f.handled().await.len(), handled.len(), "each handled once");
    f.cleanup().await;
}

/// An inbox and the test handler's table, without an emulator: in `url`, else in a SQLite
/// file of a temporary folder (kept while the returned guard lives).
async fn tables<DB: TestDb>(url: Option<String>) -> (tempfile::TempDir, Inbox<DB>, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = url.unwrap_or_else(|| format!("sqlite://{}/inbox.db", dir.path().display()));
    let inbox = Inbox::<DB>::connect(&url, &unique("inbox")).await.unwrap();
    inbox.install().await.unwrap();
    let handled_table = unique("handled");
    DB::create_handled(inbox.pool(), &handled_table).await;
    (dir, inbox, handled_table)
}

/// The row of the message the test handler refused with a client error: not processed, the
/// error kept.
fn assert_client_error_kept(row: lariat::inbox::InboxMessage) {
    assert!(row.processed_at.is_none());
    assert_eq!(
        row.client_error_message.as_deref(),
        Some("user is not registered")
    );
}

/// A consumer fed by a queue inside the process, no emulator: every outcome, each message
/// stored and handled in one transaction, and a retried message's row kept unprocessed until
/// its redelivery is handled.
async fn a_memory_queue_feeds_the_consumer<DB: TestDb>(url: Option<String>) {
    let (_dir, inbox, handled_table) = tables::<DB>(url).await;
    let queue = Arc::new(MemoryQueue::new("memory").visibility_timeout(Duration::from_millis(300)));
    let (ok, ok_body) = envelope(json!({ "n": 1 }));
    let (client, client_body) = envelope(json!({ "action": "client" }));
    let (retry, retry_body) = envelope(json!({ "action": "fail_once" }));
    for body in [&ok_body, &ok_body, &client_body, &retry_body] {
        queue.send(body.as_str());
    }
    queue.send("not json");
    let recorder = Recorder {
        table: handled_table.clone(),
        ..Recorder::default()
    };
    let seen = Arc::new(AtomicUsize::new(0));
    let retried_row_was_kept = Arc::new(AtomicBool::new(false));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = Consumer::from_source(queue.clone(), inbox.clone(), "memory", recorder.clone())
        .options(ConsumerOptions::default().wait_time(Duration::from_millis(100)))
        .on_message({
            let seen = seen.clone();
            let kept = retried_row_was_kept.clone();
            move |report| {
                if report.uuid == retry && report.outcome.as_str() == "retry" {
                    kept.store(true, Ordering::SeqCst);
                }
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
    let task = tokio::spawn(consumer.run(async move {
        let _ = stopped.await;
    }));
    // five messages, and the redelivered copy of the retried one
    eventually("six deliveries seen", Duration::from_secs(30), || {
        let seen = seen.clone();
        async move { seen.load(Ordering::SeqCst) == 6 }
    })
    .await;
    let _ = stop.send(());
    let report = task.await.unwrap().unwrap();
    assert_eq!(
        (
            report.processed,
            report.duplicates,
            report.client_errors,
            report.malformed,
            report.retries
        ),
        (2, 1, 1, 1, 1),
        "{report:?}"
    );
    assert!(retried_row_was_kept.load(Ordering::SeqCst));
    assert_eq!(
        (queue.deleted(), queue.waiting(), queue.hidden()),
        (5, 0, 0)
    );
    assert_eq!(recorder.calls(ok), 1, "two copies, handled once");
    let mut handled = DB::handled(inbox.pool(), &handled_table).await;
    handled.sort();
    let mut expected = vec![ok, retry];
    expected.sort();
    assert_eq!(handled, expected, "rolled-back attempts left no rows");
    let rows = inbox.list(ListFilter::All, 10).await.unwrap();
    assert_eq!(
        rows.len(),
        4,
        "one row per uuid, the malformed body included"
    );
    assert!(row(rows.clone(), ok).await.processed_at.is_some());
    assert!(row(rows.clone(), retry).await.processed_at.is_some());
    assert_client_error_kept(row(rows, client).await);
    DB::drop_table(inbox.pool(), &handled_table).await;
    DB::drop_table(inbox.pool(), inbox.table()).await;
}

/// Runs a consumer on `queue` until it has finished `reports` deliveries.
async fn drain<DB: TestDb>(
    inbox: &Inbox<DB>,
    queue: Arc<MemoryQueue>,
    handler: Recorder,
    options: ConsumerOptions,
    reports: usize,
) -> ConsumerReport {
    let seen = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = Consumer::from_source(queue, inbox.clone(), "memory", handler)
        .options(options.wait_time(Duration::from_millis(100)))
        .on_message({
            let seen = seen.clone();
            move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
    let task = tokio::spawn(consumer.run(async move {
        let _ = stopped.await;
    }));
    eventually("every delivery seen", Duration::from_secs(30), || {
        let done = seen.load(Ordering::SeqCst) >= reports;
        async move { done }
    })
    .await;
    let _ = stop.send(());
    task.await.unwrap().unwrap()
}

/// Ten messages to a transaction: a batch commits every handler's writes together; a failing
/// handler rolls its batch back, its failure is recorded without running it again, and its
/// neighbours are handled again one by one; copies already stored (pending, processed or with
/// a client error) are locked and judged inside the batch.
async fn a_batch_shares_one_transaction<DB: TestDb>(url: Option<String>) {
    let (_dir, inbox, handled_table) = tables::<DB>(url).await;
    let recorder = Recorder {
        table: handled_table.clone(),
        ..Recorder::default()
    };
    let batches = || ConsumerOptions::default().messages_per_transaction(10);
    let slow_queue = || MemoryQueue::new("memory").visibility_timeout(Duration::from_secs(60));

    // One receive: the client error at index 3 rolls back ok1, ok2 and the copy of ok1.
    let (ok1, ok1_body) = envelope(json!({ "n": 1 }));
    let (ok2, ok2_body) = envelope(json!({ "n": 2 }));
    let (ok3, ok3_body) = envelope(json!({ "n": 3 }));
    let (client, client_body) = envelope(json!({ "action": "client" }));
    let (pending, pending_body) = envelope(json!({ "action": "fail_until_fixed" }));
    let queue = Arc::new(slow_queue());
    for body in [
        &ok1_body,
        &ok2_body,
        &ok1_body,
        &client_body,
        &pending_body,
        &ok3_body,
    ] {
        queue.send(body.as_str());
    }
    let report = drain(&inbox, queue.clone(), recorder.clone(), batches(), 6).await;
    assert_eq!(
        (
            report.processed,
            report.duplicates,
            report.client_errors,
            report.retries
        ),
        (3, 1, 1, 1),
        "{report:?}"
    );
    assert_eq!(recorder.calls(ok1), 2, "handled in the batch, then again");
    assert_eq!(recorder.calls(ok2), 2, "handled in the batch, then again");
    assert_eq!(
        recorder.calls(client),
        1,
        "its failure is recorded, not rerun"
    );
    assert_eq!(recorder.calls(pending), 1);
    assert_eq!(recorder.calls(ok3), 1, "after the failure: handled once");
    assert_eq!((queue.deleted(), queue.hidden()), (5, 1));

    // A second receive: new messages, and copies whose rows are processed, hold a client
    // error, or are pending (now handled and marked processed in the batch).
    let (ok4, ok4_body) = envelope(json!({ "n": 4 }));
    let (ok5, ok5_body) = envelope(json!({ "n": 5 }));
    let queue = Arc::new(slow_queue());
    for body in [&ok4_body, &ok1_body, &client_body, &ok5_body, &pending_body] {
        queue.send(body.as_str());
    }
    recorder.fixed.store(true, Ordering::SeqCst);
    let report = drain(&inbox, queue.clone(), recorder.clone(), batches(), 5).await;
    assert_eq!(
        (
            report.processed,
            report.duplicates,
            report.client_errors,
            report.retries
        ),
        (3, 2, 0, 0),
        "{report:?}"
    );
    assert_eq!(recorder.calls(ok4), 1, "committed with its batch");
    assert_eq!(recorder.calls(pending), 2);
    assert_eq!(
        recorder.calls(client),
        1,
        "a client error is not handled again"
    );
    assert_eq!(queue.deleted(), 5);

    let mut handled = DB::handled(inbox.pool(), &handled_table).await;
    handled.sort();
    let mut expected = vec![ok1, ok2, ok3, ok4, ok5, pending];
    expected.sort();
    assert_eq!(handled, expected, "rolled-back attempts left no rows");
    let rows = inbox.list(ListFilter::All, 10).await.unwrap();
    assert_eq!(rows.len(), 7, "one row per uuid");
    assert!(row(rows.clone(), pending).await.processed_at.is_some());
    assert_client_error_kept(row(rows, client).await);
    DB::drop_table(inbox.pool(), &handled_table).await;
    DB::drop_table(inbox.pool(), inbox.table()).await;
}

/// Declares one test per backend for a scenario.
macro_rules! on_every_backend {
    ($scenario:ident) => {
        mod $scenario {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$scenario::<Sqlite>(None).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                match common::postgres_url() {
                    Some(url) => super::$scenario::<Postgres>(Some(url)).await,
                    None => eprintln!("skipped: LARIAT_TEST_POSTGRES_URL is not set"),
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn mysql() {
                match common::mysql_url() {
                    Some(url) => super::$scenario::<MySql>(Some(url)).await,
                    None => eprintln!("skipped: LARIAT_TEST_MYSQL_URL is not set"),
                }
            }
        }
    };
}

on_every_backend!(a_message_sent_twice_is_handled_once);
on_every_backend!(a_client_error_is_stored_and_not_redelivered);
on_every_backend!(a_transient_error_is_redelivered_then_handled);
on_every_backend!(a_malformed_body_is_stored_not_fatal);
on_every_backend!(a_lenient_body_from_a_ruby_producer_is_handled);
on_every_backend!(before_save_enriches_the_row);
on_every_backend!(ten_consumers_lose_nothing);
on_every_backend!(fifo_groups_keep_their_order);
on_every_backend!(a_memory_queue_feeds_the_consumer);
on_every_backend!(a_batch_shares_one_transaction);
on_every_backend!(ten_consumers_in_batches_lose_nothing);
on_every_backend!(fifo_groups_in_batches_keep_their_order);

/// A handler slower than the visibility timeout keeps its message (the consumer extends it),
/// and shutdown waits for it to finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_handler_keeps_its_message_and_shutdown_waits_for_it() {
    let f = Fixture::<Sqlite>::new(None).await;
    let queue = &unique("inbox_slow");
    let url = f.queue(queue).await;
    let (uuid, body) = envelope(json!({ "sleep_ms": 5000 }));
    f.send(&url, &body, None).await;
    let recorder = f.recorder();
    let first = start(&f, queue, recorder.clone(), fast());
    let second = start(&f, queue, recorder.clone(), fast());
    let calls = recorder.calls.clone();
    eventually("the handler started", Duration::from_secs(30), || {
        let started = !calls.lock().unwrap().is_empty();
        async move { started }
    })
    .await;
    // both stop while the handler still sleeps: shutdown must let it finish
    let (a, b) = tokio::join!(first.stop(), second.stop());
    assert_eq!(a.processed + b.processed, 1, "{a:?} {b:?}");
    assert_eq!(a.received + b.received, 1, "handed out again: {a:?} {b:?}");
    assert_eq!(recorder.calls(uuid), 1);
    assert_eq!(f.handled().await, vec![uuid]);
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_queue_fails_at_start() {
    let f = Fixture::<Sqlite>::new(None).await;
    let consumer = Consumer::new(
        f.aws.clone(),
        f.inbox.clone(),
        "no-such-queue",
        f.recorder(),
    );
    let err = consumer.run(std::future::pending()).await.unwrap_err();
    assert!(err.to_string().contains("no-such-queue"), "{err}");
    f.cleanup().await;
}

/// As a new user would: `migrate` subscribes the queue, messages arrive through SNS (wrapped,
/// no raw delivery), a duplicate is handled once, a business error shows in
/// `lariat inbox list --client-errors` and `lariat inbox retry` clears it.
#[test]
fn cli_lists_client_errors_and_retries_them() {
    let emulator = Emulator::start();
    let project = Project::new(Db::Sqlite);
    project.write(
        "20240101000000_user_created.toml",
        r#"
[[create_topic]]
type = "user_created"

[[create_queue]]
type = "user_created"
dest = "mailer"
visibility_timeout = 2

[[subscribe]]
topic = { type = "user_created" }
queue = { type = "user_created", dest = "mailer" }
"#,
    );
    project.lariat(&emulator).arg("migrate").assert().success();
    let inbox_url = format!("sqlite://{}/service.db", project.dir.path().display());
    let inbox_cmd = || {
        let mut cmd = project.lariat(&emulator);
        cmd.env("LARIAT_DATABASE_URL", &inbox_url).arg("inbox");
        cmd
    };
    inbox_cmd()
        .args(["install", "--print"])
        .assert()
        .success()
        .stdout(contains("CREATE TABLE IF NOT EXISTS \"lariat_inbox\""));
    inbox_cmd()
        .args(["install"])
        .assert()
        .success()
        .stdout(contains("inbox table `lariat_inbox` is ready"));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (good, bad) = runtime.block_on(async {
        let aws = aws(&emulator).await;
        let topic = aws
            .arns()
            .topic(&project.name("event-fanout-registration-user_created"));
        let (good, good_body) = envelope(json!({ "email": "a@example.com" }));
        let (bad, bad_body) = envelope(json!({ "action": "client" }));
        for body in [&good_body, &good_body, &bad_body] {
            aws.sns
                .publish()
                .topic_arn(&topic)
                .message(body)
                .send()
                .await
                .unwrap();
        }
        let inbox = Inbox::<Sqlite>::connect(&inbox_url, "lariat_inbox")
            .await
            .unwrap();
        sqlx::query("CREATE TABLE handled (uuid TEXT NOT NULL)")
            .execute(inbox.pool())
            .await
            .unwrap();
        let recorder = Recorder {
            table: "handled".into(),
            ..Recorder::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let consumer = Consumer::new(
            aws,
            inbox.clone(),
            project.name("event-queue-registration-user_created-mailer"),
            recorder.clone(),
        )
        .options(fast());
        let task = tokio::spawn(consumer.run(async move {
            let _ = stopped.await;
        }));
        let calls = recorder.calls.clone();
        eventually("both messages handled", Duration::from_secs(30), || {
            let n = calls.lock().unwrap().len();
            async move { n == 2 }
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = stop.send(());
        let report = task.await.unwrap().unwrap();
        assert_eq!(
            (report.processed, report.duplicates, report.client_errors),
            (1, 1, 1),
            "{report:?}"
        );
        assert_eq!(recorder.calls(good), 1);
        (good, bad)
    });

    let listed = inbox_cmd()
        .args(["list", "--client-errors"])
        .assert()
        .success()
        .stdout(contains(bad.to_string()))
        .stdout(contains("user is not registered"))
        .stdout(contains("1 messages with client errors"))
        .get_output()
        .stdout
        .clone();
    assert!(!String::from_utf8_lossy(&listed).contains(&good.to_string()));
    let json_out = inbox_cmd()
        .args(["list", "--client-errors", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rows: Value = serde_json::from_slice(&json_out).unwrap();
    assert_eq!(rows[0]["uuid"], bad.to_string());
    assert_eq!(rows[0]["client_error_details"]["first_name"], "John");
    inbox_cmd()
        .args(["list", "--unprocessed"])
        .assert()
        .success()
        .stdout(contains("no unprocessed messages"));
    inbox_cmd()
        .args(["retry", &bad.to_string()])
        .assert()
        .success()
        .stdout(contains(format!("cleared the client error of {bad}")));
    inbox_cmd()
        .args(["list", "--unprocessed"])
        .assert()
        .success()
        .stdout(contains(bad.to_string()));
    inbox_cmd()
        .args(["retry", &good.to_string()])
        .assert()
        .code(1)
        .stderr(contains(
            "is not an unprocessed message with a client error",
        ));
    inbox_cmd()
        .args(["--table", "bad-name", "list"])
        .assert()
        .code(3)
        .stderr(contains("invalid inbox table name `bad-name`"));
}

/// The fixture bodies of `tests/fixtures/messages/` through a consumer on the emulator: each
/// is handled or set aside as malformed exactly as `lariat message check` says (`verdicts.md`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fixture_bodies_get_the_verdicts_of_message_check() {
    let f = Fixture::<Sqlite>::new(None).await;
    let queue = &unique("inbox_fixtures");
    let url = f.queue(queue).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messages");
    let verdicts = std::fs::read_to_string(dir.join("verdicts.md")).unwrap();
    let mut expected = std::collections::HashMap::new();
    for line in verdicts.lines().skip(2) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let form = cells[0].trim_start_matches("| ").to_owned();
        expected.insert(form, cells[1].starts_with("accepted"));
    }
    let mut sent = std::collections::HashMap::new();
    for form in expected.keys() {
        let body = std::fs::read_to_string(dir.join(format!("{form}.json"))).unwrap();
        let out = f
            .aws
            .sqs
            .send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
        sent.insert(out.message_id().unwrap().to_owned(), form.clone());
    }
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = Consumer::new(f.aws.clone(), f.inbox.clone(), queue, f.recorder())
        .options(fast())
        .on_message({
            let outcomes = outcomes.clone();
            move |report| {
                outcomes.lock().unwrap().push((
                    report.message_id.to_owned(),
                    report.message_type.is_some(),
                    report.outcome.as_str(),
                ))
            }
        });
    let task = tokio::spawn(consumer.run(async move {
        let _ = stopped.await;
    }));
    let total = sent.len();
    eventually("every fixture seen", Duration::from_secs(60), || {
        let outcomes = outcomes.clone();
        async move { outcomes.lock().unwrap().len() >= total }
    })
    .await;
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    for (id, accepted, outcome) in outcomes.lock().unwrap().iter() {
        let form = &sent[id];
        assert_eq!(
            *accepted, expected[form],
            "{form}: the inbox said {outcome}, message check said otherwise"
        );
        assert_ne!(*outcome, "retry", "{form}");
    }
    f.cleanup().await;
}
