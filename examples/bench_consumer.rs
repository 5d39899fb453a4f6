//! The inbox consumer's own ceiling: messages handled per second when receiving costs
//! nothing, on PostgreSQL.
//!
//! ```text
//! cargo run --release --example bench_consumer [-- --messages 50000 --concurrency 1,10,50 --per-transaction 1,10]
//! ```
//!
//! For each number of messages per transaction (`ConsumerOptions::messages_per_transaction`)
//! and each concurrency: a fresh inbox table, and `--messages` envelopes in a
//! [`MemoryQueue`] (inside this process: receive and delete cost nothing). One [`Consumer`]
//! takes them through the whole inbox path (body read, row stored, row locked, handler,
//! marked processed, committed, deleted); the handler writes one row of its own in the
//! inbox's transaction. Prints messages per second, and the CPU used meanwhile by the
//! PostgreSQL server (all its processes, from `/proc`) and by this process, in percent of one
//! core. The load average is printed beside the table.
//!
//! URL: `LARIAT_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).

#[path = "support/cpu.rs"]
mod cpu;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use lariat::inbox::{
    Consumer, ConsumerOptions, Handler, HandlerError, Inbox, Incoming, MemoryQueue,
};
use lariat::message::Event;
use serde_json::json;
use sqlx::{PgConnection, Postgres};

/// Inbox ceiling: messages per second from a queue that costs nothing.
#[derive(Debug, Parser)]
struct Args {
    /// Messages per run.
    #[arg(long, default_value_t = 50_000)]
    messages: usize,
    /// Consumer concurrencies, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,10,50")]
    concurrency: Vec<usize>,
    /// Messages handled in one transaction, one set of runs each.
    #[arg(long, value_delimiter = ',', default_value = "1,10")]
    per_transaction: Vec<usize>,
}

/// Writes one row per message, in the inbox's transaction.
struct WriteOne {
    table: String,
}

#[async_trait::async_trait]
impl Handler<Postgres> for WriteOne {
    async fn handle(&self, msg: &Incoming, tx: &mut PgConnection) -> Result<(), HandlerError> {
        sqlx::query(&format!(
            "INSERT INTO \"{}\" (uuid, n) VALUES ($1, $2)",
            self.table
        ))
        .bind(msg.uuid())
        .bind(msg.data()["n"].as_i64().unwrap_or(-1))
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = std::env::var("LARIAT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    println!(
        "inbox ceiling: {} messages per run, PostgreSQL, memory queue, handler writes one row",
        args.messages
    );
    println!("load average before: {}", cpu::loadavg());
    println!(
        "{:>15} {:>11} {:>10} {:>9} {:>8} {:>8}",
        "per transaction", "concurrency", "msg/s", "seconds", "db cpu", "own cpu"
    );
    for &per_transaction in &args.per_transaction {
        for &concurrency in &args.concurrency {
            let (seconds, db, own) = run(&url, args.messages, concurrency, per_transaction).await?;
            println!(
                "{:>15} {:>11} {:>10.0} {:>9.2} {:>7.0}% {:>7.0}%",
                per_transaction,
                concurrency,
                args.messages as f64 / seconds,
                seconds,
                100.0 * db / seconds,
                100.0 * own / seconds
            );
        }
    }
    println!("load average after: {}", cpu::loadavg());
    Ok(())
}

async fn run(
    url: &str,
    messages: usize,
    concurrency: usize,
    per_transaction: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let table = format!("bench_inbox_{}_{concurrency}", std::process::id());
    let handled_table = format!("{table}_handled");
    let inbox = Inbox::<Postgres>::connect(url, &table).await?;
    for t in [&table, &handled_table] {
        sqlx::query(&format!("DROP TABLE IF EXISTS \"{t}\""))
            .execute(inbox.pool())
            .await?;
    }
    inbox.install().await?;
    sqlx::query(&format!(
        "CREATE TABLE \"{handled_table}\" (uuid UUID PRIMARY KEY, n BIGINT NOT NULL)"
    ))
    .execute(inbox.pool())
    .await?;

    let queue = MemoryQueue::new("bench-inbox");
    for n in 0..messages {
        let body = Event::new("order_placed", json!({ "n": n, "total": "12.50" }))
            .publisher("bench")
            .build()?
            .to_json();
        queue.send(body);
    }
    let handled = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = Consumer::from_source(
        queue,
        inbox.clone(),
        "bench-inbox",
        WriteOne {
            table: handled_table.clone(),
        },
    )
    .options(
        ConsumerOptions::default()
            .concurrency(concurrency)
            .messages_per_transaction(per_transaction)
            .wait_time(Duration::from_millis(100)),
    )
    .on_message({
        let handled = handled.clone();
        move |_| {
            handled.fetch_add(1, Ordering::Relaxed);
        }
    });

    let db_before = cpu::server("postgres");
    let own_before = cpu::own();
    let started = Instant::now();
    let run = tokio::spawn(consumer.run(async move {
        let _ = stopped.await;
    }));
    while handled.load(Ordering::Relaxed) < messages {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let db = cpu::server("postgres") - db_before;
    let own = cpu::own() - own_before;
    let _ = stop.send(());
    let report = run.await??;
    if report.processed != messages {
        bail!("processed {} of {messages}: {report:?}", report.processed);
    }
    let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{handled_table}\""))
        .fetch_one(inbox.pool())
        .await?;
    if rows != messages as i64 {
        bail!("the handler wrote {rows} rows for {messages} messages");
    }
    for t in [&table, &handled_table] {
        sqlx::query(&format!("DROP TABLE IF EXISTS \"{t}\""))
            .execute(inbox.pool())
            .await?;
    }
    inbox.pool().close().await;
    Ok((elapsed, db, own))
}
