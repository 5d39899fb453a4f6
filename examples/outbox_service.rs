//! A small service that writes orders and their events in one database transaction each,
//! through the transactional outbox; `lariat outbox relay` publishes the events.
//!
//! ```text
//! lariat outbox install --database-url sqlite://shop.db
//! cargo run --example outbox_service -- --database-url sqlite://shop.db --orders 100
//! lariat outbox relay --database-url sqlite://shop.db
//! ```
//!
//! Every order is an `orders` row plus an `order_placed` event for the FIFO queue
//! `--queue` (grouped by customer, so each customer's events keep their order). Every
//! fifth order fails after writing both and is rolled back: its event is never published.
//! Works with `sqlite://`, `postgres://` and `mysql://` URLs.

use anyhow::Context;
use clap::Parser;
use lariat::message::Event;
use lariat::outbox::{Outbox, OutboxMessage, DEFAULT_TABLE};
use serde_json::json;

/// Places orders, each in its own transaction with its outbox event.
#[derive(Debug, Parser)]
struct Args {
    /// The service's database.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The outbox table (create it with `lariat outbox install`).
    #[arg(long, default_value = DEFAULT_TABLE)]
    table: String,
    /// How many orders to place.
    #[arg(long, default_value_t = 100)]
    orders: u32,
    /// Customers the orders are spread over (one FIFO group each).
    #[arg(long, default_value_t = 5)]
    customers: u32,
    /// The FIFO queue the events go to.
    #[arg(
        long,
        default_value = "test-event-queue-shop-order_placed-billing.fifo"
    )]
    queue: String,
}

/// Places every order; returns (committed, rolled back).
macro_rules! place_orders {
    ($pool:expr, $args:expr, $outbox:expr, $ddl:expr, $insert:expr) => {{
        let pool = $pool;
        sqlx::query($ddl).execute(&pool).await?;
        let (mut committed, mut rolled_back) = (0, 0);
        for n in 1..=$args.orders {
            let customer = n % $args.customers;
            let mut tx = pool.begin().await?;
            sqlx::query($insert)
                .bind(i64::from(n))
                .bind(i64::from(customer))
                .execute(&mut *tx)
                .await?;
            let event = Event::new("order_placed", json!({ "order": n, "customer": customer }))
                .publisher("shop")
                .build()?;
            let message = OutboxMessage::to_queue(event, &$args.queue)
                .group(format!("customer-{customer}"));
            $outbox.enqueue(&mut tx, &message).await?;
            if n % 5 == 0 {
                // the business step failed after the event was written: nothing is published
                tx.rollback().await?;
                rolled_back += 1;
            } else {
                tx.commit().await?;
                committed += 1;
            }
        }
        pool.close().await;
        (committed, rolled_back)
    }};
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let outbox = Outbox::new(&args.table)?;
    let url = args.database_url.as_str();
    let ddl = "CREATE TABLE IF NOT EXISTS orders (id BIGINT, customer BIGINT)";
    let (committed, rolled_back) = if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.context("connecting")?;
        place_orders!(
            pool,
            args,
            outbox,
            ddl,
            "INSERT INTO orders VALUES ($1, $2)"
        )
    } else if url.starts_with("mysql") || url.starts_with("mariadb") {
        let url = url.replacen("mariadb:", "mysql:", 1);
        let pool = sqlx::MySqlPool::connect(&url).await.context("connecting")?;
        place_orders!(pool, args, outbox, ddl, "INSERT INTO orders VALUES (?, ?)")
    } else {
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
        let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
            .await
            .context("connecting")?;
        place_orders!(pool, args, outbox, ddl, "INSERT INTO orders VALUES (?, ?)")
    };
    println!(
        "{committed} orders committed with their events, {rolled_back} rolled back with theirs"
    );
    Ok(())
}
