//! Messages handled per second by one inbox consumer with a no-op handler on PostgreSQL,
//! beside the plainest receive/delete loop on the same emulator, and their ratio.
//!
//! ```text
//! cargo run --release --example bench_inbox [MESSAGES]      # default 2000
//! ```
//!
//! Needs PostgreSQL in `LARIAT_BENCH_POSTGRES_URL` (or `LARIAT_TEST_POSTGRES_URL`). Talks to
//! the emulator at `AWS_ENDPOINT_URL` when set, otherwise starts a private moto_server from
//! `LARIAT_MOTO_SERVER` or `.venv/bin/moto_server` (`scripts/emulator install`). The emulator
//! is the ceiling of every figure here, so the ratio is the number to compare.

use std::error::Error;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::future::BoxFuture;
use lariat::aws::Aws;
use lariat::config::AwsSettings;
use lariat::inbox::{handler_fn, Consumer, ConsumerOptions, HandlerError, Inbox, Incoming};
use lariat::message::Event;
use serde_json::json;
use sqlx::{PgConnection, Postgres};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Kills the emulator this benchmark started.
struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let messages: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 2000,
    };
    let pg_url = std::env::var("LARIAT_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("LARIAT_TEST_POSTGRES_URL"))
        .map_err(|_| "set LARIAT_BENCH_POSTGRES_URL to a PostgreSQL database")?;
    let (endpoint, _moto) = emulator()?;
    let aws = Aws::connect_with_credentials(
        &AwsSettings {
            region: Some("us-east-1".into()),
            account_id: Some("123456789012".into()),
            endpoint_url: Some(endpoint.clone()),
            profile: None,
            ..Default::default()
        },
        "test",
        "test",
    )
    .await?;
    println!("{messages} messages, emulator {endpoint}");

    let plain = plain_loop(&aws, messages).await?;
    println!(
        "plain receive/delete loop:      {:>7.1} msg/s",
        rate(messages, plain)
    );
    for concurrency in [1, 10] {
        let elapsed = consumer(&aws, &pg_url, messages, concurrency).await?;
        println!(
            "inbox consumer, concurrency {concurrency:>2}: {:>7.1} msg/s  ({:.2} x plain)",
            rate(messages, elapsed),
            plain.as_secs_f64() / elapsed.as_secs_f64()
        );
    }
    Ok(())
}

fn rate(messages: usize, elapsed: Duration) -> f64 {
    messages as f64 / elapsed.as_secs_f64()
}

/// Fills a fresh queue with `messages` envelopes, ten a call.
async fn fill(aws: &Aws, queue: &str, messages: usize) -> Result<String> {
    let url = aws
        .sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await?
        .queue_url
        .ok_or("no queue url")?;
    for start in (0..messages).step_by(10) {
        let mut entries = Vec::new();
        for i in start..(start + 10).min(messages) {
            let body = Event::new("bench", json!({ "i": i }))
                .publisher("bench")
                .build()?
                .to_json();
            entries.push(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()?,
            );
        }
        aws.sqs
            .send_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await?;
    }
    Ok(url)
}

/// Receive ten, delete each, until every message is gone: the least a consumer must do.
async fn plain_loop(aws: &Aws, messages: usize) -> Result<Duration> {
    let url = fill(aws, "bench-plain", messages).await?;
    let started = Instant::now();
    let mut done = 0;
    while done < messages {
        for message in aws
            .receive_messages(&url, 10, Duration::from_secs(1))
            .await?
        {
            aws.delete_message(&url, &message.receipt_handle).await?;
            done += 1;
        }
    }
    Ok(started.elapsed())
}

/// One consumer with a no-op handler on a fresh inbox table, until every message is handled.
async fn consumer(
    aws: &Aws,
    pg_url: &str,
    messages: usize,
    concurrency: usize,
) -> Result<Duration> {
    let queue = format!("bench-inbox-{concurrency}");
    fill(aws, &queue, messages).await?;
    let table = format!("lariat_bench_inbox_{}", std::process::id());
    let inbox = Inbox::<Postgres>::connect(pg_url, &table).await?;
    sqlx::query(&format!("DROP TABLE IF EXISTS \"{table}\""))
        .execute(inbox.pool())
        .await?;
    inbox.install().await?;
    let handled = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let noop = handler_fn::<Postgres, _>(
        |_: &Incoming,
         _: &mut PgConnection|
         -> BoxFuture<'_, std::result::Result<(), HandlerError>> {
            Box::pin(async { Ok(()) })
        },
    );
    let started = Instant::now();
    let run = tokio::spawn(
        Consumer::new(aws.clone(), inbox.clone(), queue, noop)
            .options(
                ConsumerOptions::default()
                    .concurrency(concurrency)
                    .wait_time(Duration::from_secs(1)),
            )
            .on_message({
                let handled = handled.clone();
                move |_| {
                    handled.fetch_add(1, Ordering::Relaxed);
                }
            })
            .run(async move {
                let _ = stopped.await;
            }),
    );
    while handled.load(Ordering::Relaxed) < messages {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(());
    let report = run.await??;
    assert_eq!(report.processed, messages, "{report:?}");
    sqlx::query(&format!("DROP TABLE IF EXISTS \"{table}\""))
        .execute(inbox.pool())
        .await?;
    Ok(elapsed)
}

/// The emulator's endpoint, and the process when this benchmark started it.
fn emulator() -> Result<(String, Option<Moto>)> {
    if let Ok(url) = std::env::var("AWS_ENDPOINT_URL") {
        return Ok((url, None));
    }
    let bin = std::env::var("LARIAT_MOTO_SERVER")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/moto_server").into());
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {bin}: {e}; run scripts/emulator install"))?;
    let moto = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("moto_server did not start within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((format!("http://127.0.0.1:{port}"), Some(moto)))
}
