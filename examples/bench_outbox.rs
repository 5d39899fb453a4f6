//! Outbox relay throughput on PostgreSQL against the emulator's own ceiling, in one run.
//!
//! ```text
//! cargo run --release --example bench_outbox -- --database-url postgres://postgres@127.0.0.1/test [--rows 5000]
//! ```
//!
//! Starts its own `moto_server` (`$LARIAT_MOTO_SERVER`, else `.venv/bin/moto_server`) unless
//! `--endpoint` is given. Three phases, each to a fresh standard queue:
//!
//! 1. ceiling: the plainest `SendMessageBatch` loop, 10 messages a call, one call at a time;
//! 2. `--rows` outbox rows drained by one relay;
//! 3. `--rows` outbox rows drained by two relays at once.
//!
//! Prints messages per second for each and the relays' ratio to the ceiling. moto, not the
//! relay, is the bottleneck here (about 80 calls a second), so the ratio is the figure to read.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use clap::Parser;
use lariat::aws::Aws;
use lariat::config::AwsSettings;
use lariat::message::Event;
use lariat::naming::NamingDefaults;
use lariat::outbox::relay::{Relay, RelayOptions};
use lariat::outbox::{self, Outbox, OutboxMessage, OutboxStore, PublisherSink};
use lariat::publish::Publisher;
use serde_json::json;

/// Relay vs. plain batch loop: messages per second over moto.
#[derive(Debug, Parser)]
struct Args {
    /// PostgreSQL database for the outbox table (a fresh table is created and dropped).
    #[arg(long, env = "LARIAT_TEST_POSTGRES_URL")]
    database_url: String,
    /// Rows per relay phase (and messages in the ceiling loop).
    #[arg(long, default_value_t = 5_000)]
    rows: usize,
    /// Use this running emulator instead of starting one.
    #[arg(long)]
    endpoint: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (_moto, endpoint) = match &args.endpoint {
        Some(url) => (None, url.clone()),
        None => {
            let (child, url) = start_moto()?;
            (Some(child), url)
        }
    };
    let settings = AwsSettings {
        region: Some("us-east-1".into()),
        account_id: Some("123456789012".into()),
        endpoint_url: Some(endpoint),
        profile: None,
        ..Default::default()
    };
    let aws = Aws::connect_with_credentials(&settings, "test", "test").await?;
    wait_until_ready(&aws).await?;
    let table = format!("bench_outbox_{}", std::process::id());
    let store: Arc<dyn OutboxStore> = Arc::from(outbox::connect(&args.database_url, &table).await?);
    store.install().await?;

    let ceiling = ceiling(&aws, args.rows).await?;
    let one = relays(&aws, &store, &args, &table, "one", 1).await?;
    let two = relays(&aws, &store, &args, &table, "two", 2).await?;

    let pool = sqlx::PgPool::connect(&args.database_url).await?;
    sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
        .execute(&pool)
        .await?;
    sqlx::query(&format!("DROP FUNCTION IF EXISTS {table}_notify"))
        .execute(&pool)
        .await?;

    println!(
        "{} messages per phase, PostgreSQL outbox, moto emulator",
        args.rows
    );
    println!("  emulator ceiling (SendMessageBatch loop): {ceiling:>8.1} msg/s");
    println!(
        "  one relay:                                {one:>8.1} msg/s  ({:.2}x the ceiling)",
        one / ceiling
    );
    println!(
        "  two relays:                               {two:>8.1} msg/s  ({:.2}x the ceiling)",
        two / ceiling
    );
    Ok(())
}

async fn create_queue(aws: &Aws, name: &str) -> anyhow::Result<String> {
    aws.sqs.create_queue().queue_name(name).send().await?;
    Ok(aws.queue_url(name))
}

/// The plainest loop: one SendMessageBatch of 10 after the other.
async fn ceiling(aws: &Aws, rows: usize) -> anyhow::Result<f64> {
    let url = create_queue(aws, "bench-ceiling").await?;
    let body = Event::new("bench", json!({"n": 0}))
        .publisher("bench")
        .build()?
        .to_json();
    let started = Instant::now();
    for chunk in 0..rows.div_ceil(10) {
        let entries = (0..10.min(rows - chunk * 10))
            .map(|i| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&body)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        aws.sqs
            .send_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await?;
    }
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

/// Enqueues `rows` rows, then drains them with `count` relays; messages per second.
async fn relays(
    aws: &Aws,
    store: &Arc<dyn OutboxStore>,
    args: &Args,
    table: &str,
    name: &str,
    count: usize,
) -> anyhow::Result<f64> {
    let queue = format!("bench-{name}");
    create_queue(aws, &queue).await?;
    let pool = sqlx::PgPool::connect(&args.database_url).await?;
    let outbox = Outbox::new(table)?;
    let mut tx = pool.begin().await?;
    let messages = (0..args.rows)
        .map(|n| {
            let event = Event::new("bench", json!({ "n": n }))
                .publisher("bench")
                .build()?;
            Ok(OutboxMessage::to_queue(event, &queue))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    outbox.enqueue_many(&mut tx, &messages).await?;
    tx.commit().await?;

    let sink = Arc::new(PublisherSink::new(Publisher::new(
        aws.clone(),
        NamingDefaults {
            instance: "bench".into(),
            publisher: "bench".into(),
        },
    )));
    let started = Instant::now();
    let runs = (0..count).map(|i| {
        let relay = Relay::new(
            store.clone(),
            sink.clone(),
            RelayOptions {
                relay_id: format!("bench-{name}-{i}"),
                sleep_on_empty: Duration::from_millis(20),
                ..RelayOptions::default()
            },
        );
        let store = store.clone();
        async move {
            let empty = async {
                while store
                    .stats()
                    .await
                    .map(|s| s.iter().any(|t| t.pending > 0))
                    .unwrap_or(true)
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            };
            relay.run(empty).await
        }
    });
    let reports = futures::future::join_all(runs).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut sent = 0;
    for report in reports {
        sent += report?.sent;
    }
    if sent != args.rows as u64 {
        bail!("{name}: sent {sent} of {} rows", args.rows);
    }
    Ok(args.rows as f64 / elapsed)
}

/// The emulator this run started; killed when dropped.
struct Moto(std::process::Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> anyhow::Result<(Moto, String)> {
    let bin = std::env::var_os("LARIAT_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".venv/bin/moto_server"));
    if !bin.is_file() {
        bail!("moto_server not found at {}: run `scripts/emulator install`, set LARIAT_MOTO_SERVER, or pass --endpoint", bin.display());
    }
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = std::process::Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok((Moto(child), format!("http://127.0.0.1:{port}")))
}

async fn wait_until_ready(aws: &Aws) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match aws.sqs.list_queues().send().await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                bail!("the emulator did not answer within 30 s: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
