//! The relay's own ceiling: outbox rows drained per second when sending costs nothing.
//!
//! ```text
//! cargo run --release --example bench_relay [-- --rows 50000 --relays 1,2,4 --db postgres,mysql,sqlite]
//! ```
//!
//! For each database and each relay count: a fresh outbox table gets `--rows` rows for one
//! standard queue (one transaction), then that many relays, each with its own connection
//! pool as separate processes would have, drain it through the production sink
//! ([`PublisherSink`]) over a [`Publisher::null`]: every check and the whole relay path run,
//! nothing goes over a network. `--sink none` uses a sink that accepts every row without
//! looking at it (the relay and the database alone).
//!
//! Prints rows per second, and the CPU used meanwhile by the database server (the sum over
//! its `postgres` / `mariadbd` processes, from `/proc`) and by this process, in percent of
//! one core over the wall time. SQLite runs inside this process. The machine's load average
//! is printed beside the table: other work on the machine slows every figure.
//!
//! URLs: `LARIAT_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`),
//! `LARIAT_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`); SQLite in a temp dir.

#[path = "support/cpu.rs"]
mod cpu;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use async_trait::async_trait;
use clap::Parser;
use lariat::message::Event;
use lariat::naming::NamingDefaults;
use lariat::outbox::relay::{EntryResult, Relay, RelayOptions, Sink};
use lariat::outbox::{
    self, Backend, Outbox, OutboxMessage, OutboxStore, PublisherSink, Row, Target,
};
use lariat::publish::Publisher;
use serde_json::json;

/// Relay ceiling: rows per second through a sink that costs nothing.
#[derive(Debug, Parser)]
struct Args {
    /// Rows per run.
    #[arg(long, default_value_t = 50_000)]
    rows: usize,
    /// Relay counts, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    relays: Vec<usize>,
    /// Databases: postgres, mysql, sqlite.
    #[arg(long, value_delimiter = ',', default_value = "postgres,mysql,sqlite")]
    db: Vec<String>,
    /// `publisher`: PublisherSink over a null publisher; `none`: accept every row unread.
    #[arg(long, default_value = "publisher")]
    sink: String,
    /// Batch calls in flight per relay (RelayOptions::concurrency).
    #[arg(long, default_value_t = RelayOptions::default().concurrency)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let temp = tempfile::tempdir()?;
    println!(
        "relay ceiling: {} rows per run, sink {}, {} batch calls in flight per relay",
        args.rows, args.sink, args.concurrency
    );
    println!("load average before: {}", cpu::loadavg());
    println!(
        "{:<10} {:>6} {:>10} {:>9} {:>8} {:>8}",
        "database", "relays", "rows/s", "seconds", "db cpu", "own cpu"
    );
    for db in &args.db {
        let (url, server) = match db.as_str() {
            "postgres" => (
                std::env::var("LARIAT_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
                Some("postgres"),
            ),
            "mysql" | "mariadb" => (
                std::env::var("LARIAT_TEST_MYSQL_URL")
                    .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into()),
                Some("mariadbd"),
            ),
            "sqlite" => (
                format!("sqlite://{}", temp.path().join("bench.db").display()),
                None,
            ),
            other => bail!("unknown database `{other}`: use postgres, mysql or sqlite"),
        };
        for &relays in &args.relays {
            let run = run(&args, &url, server, relays).await?;
            let db_cpu = run.db_cpu.map_or("-".to_owned(), |s| {
                format!("{:.0}%", 100.0 * s / run.seconds)
            });
            println!(
                "{:<10} {:>6} {:>10.0} {:>9.2} {:>8} {:>7.0}%",
                db,
                relays,
                args.rows as f64 / run.seconds,
                run.seconds,
                db_cpu,
                100.0 * run.own_cpu / run.seconds
            );
        }
    }
    println!("load average after: {}", cpu::loadavg());
    Ok(())
}

/// One measured drain.
struct Run {
    seconds: f64,
    db_cpu: Option<f64>,
    own_cpu: f64,
}

async fn run(args: &Args, url: &str, server: Option<&str>, relays: usize) -> anyhow::Result<Run> {
    let table = format!("bench_relay_{}_{relays}", std::process::id());
    let admin: Arc<dyn OutboxStore> = Arc::from(outbox::connect(url, &table).await?);
    drop_table(url, &table).await?;
    admin.install().await?;
    enqueue(url, &table, args.rows).await?;

    let sink: Arc<dyn Sink> = match args.sink.as_str() {
        "publisher" => Arc::new(PublisherSink::new(Publisher::null(NamingDefaults {
            instance: "bench".into(),
            publisher: "bench".into(),
        }))),
        "none" => Arc::new(Accept),
        other => bail!("unknown sink `{other}`: use publisher or none"),
    };
    let mut stores = Vec::new();
    for _ in 0..relays {
        let store: Arc<dyn OutboxStore> = Arc::from(outbox::connect(url, &table).await?);
        stores.push(store);
    }
    let relays: Vec<Relay> = stores
        .iter()
        .enumerate()
        .map(|(i, store)| {
            Relay::new(
                store.clone(),
                sink.clone(),
                RelayOptions {
                    relay_id: format!("bench-{i}"),
                    concurrency: args.concurrency,
                    sleep_on_empty: Duration::from_millis(20),
                    report_every: Duration::from_secs(3600),
                    ..RelayOptions::default()
                },
            )
        })
        .collect();
    let metrics: Vec<_> = relays.iter().map(Relay::metrics).collect();
    let (stop, stopped) = tokio::sync::watch::channel(false);

    let db_before = server.map(cpu::server);
    let own_before = cpu::own();
    let started = Instant::now();
    let runs = relays.iter().map(|relay| {
        let mut stopped = stopped.clone();
        relay.run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
    });
    let watch = async {
        let target = args.rows as u64;
        while metrics.iter().map(|m| m.sent()).sum::<u64>() < target {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let elapsed = started.elapsed();
        let _ = stop.send(true);
        elapsed
    };
    let (reports, elapsed) = tokio::join!(futures::future::join_all(runs), watch);
    let own = cpu::own() - own_before;
    let db = server.map(cpu::server).zip(db_before).map(|(a, b)| a - b);
    let mut sent = 0;
    for report in reports {
        sent += report?.sent;
    }
    if sent != args.rows as u64 {
        bail!("sent {sent} of {} rows", args.rows);
    }
    if !admin.stats().await?.is_empty() {
        bail!("rows left in {table} after the drain");
    }
    for store in stores {
        store.close().await;
    }
    drop_table(url, &table).await?;
    admin.close().await;
    Ok(Run {
        seconds: elapsed.as_secs_f64(),
        db_cpu: db,
        own_cpu: own,
    })
}

/// Accepts every row without reading it.
struct Accept;

#[async_trait]
impl Sink for Accept {
    async fn send_batch(&self, _target: &Target, rows: &[Row]) -> Vec<EntryResult> {
        vec![EntryResult::Sent; rows.len()]
    }
}

/// Writes `rows` rows for one standard queue in one transaction.
async fn enqueue(url: &str, table: &str, rows: usize) -> anyhow::Result<()> {
    let outbox = Outbox::new(table)?;
    let messages = (0..rows)
        .map(|n| {
            let event = Event::new("order_placed", json!({ "n": n, "total": "12.50" }))
                .publisher("bench")
                .build()?;
            Ok(OutboxMessage::to_queue(
                event,
                "bench-event-queue-bench-order_placed",
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    macro_rules! write {
        ($pool:ty) => {{
            let pool = <$pool>::connect(url).await?;
            let mut tx = pool.begin().await?;
            outbox.enqueue_many(&mut tx, &messages).await?;
            tx.commit().await?;
            pool.close().await;
        }};
    }
    match Backend::from_url(url)? {
        Backend::Postgres => write!(sqlx::PgPool),
        Backend::MySql => write!(sqlx::MySqlPool),
        Backend::Sqlite => write!(sqlx::SqlitePool),
    }
    Ok(())
}

async fn drop_table(url: &str, table: &str) -> anyhow::Result<()> {
    match Backend::from_url(url)? {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await?;
            sqlx::query(&format!("DROP TABLE IF EXISTS \"{table}\""))
                .execute(&pool)
                .await?;
            sqlx::query(&format!("DROP FUNCTION IF EXISTS \"{table}_notify\""))
                .execute(&pool)
                .await?;
            pool.close().await;
        }
        Backend::MySql => {
            let pool = sqlx::MySqlPool::connect(url).await?;
            sqlx::query(&format!("DROP TABLE IF EXISTS `{table}`"))
                .execute(&pool)
                .await?;
            pool.close().await;
        }
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await?;
            sqlx::query(&format!("DROP TABLE IF EXISTS \"{table}\""))
                .execute(&pool)
                .await?;
            pool.close().await;
        }
    }
    Ok(())
}
