//! Throughput of the publisher against the plainest loop of single SDK calls, over the same
//! emulator (moto or LocalStack).
//!
//! ```text
//! cargo run --release --example bench_publish [-- --count 10000 --via queue|topic --endpoint URL|--localstack]
//! ```
//!
//! Without `--endpoint` it starts its own `moto_server` (`$LARIAT_MOTO_SERVER`, else
//! `.venv/bin/moto_server`; `scripts/emulator install` creates it) on a free port; with
//! `--localstack`, a private LocalStack (`scripts/emulator --localstack start`, its state in a
//! temporary folder; `scripts/emulator --localstack install` installs it), stopped at the end.
//! The account id is asked of the emulator (`sts:GetCallerIdentity`: moto's 123456789012,
//! LocalStack's 000000000000), so queue URLs and ARNs match either. Each side sends `--count`
//! identical envelopes to its own queue (or to its own topic, each with one raw-delivery queue
//! subscribed); the queues are counted before and afterwards (waiting for SNS deliveries, which
//! LocalStack makes after `Publish` returns) to check nothing was lost, so a reused emulator
//! that still holds an earlier run's messages is fine. moto serves about 80 SendMessage calls
//! a second, so 10,000 plain sends take about 2 minutes, and it slows as its queue fills.
//!
//! ```text
//! cargo run --release --example bench_publish -- --fake [--count 100000]
//! ```
//!
//! measures the publisher's own cost instead, without an emulator: microseconds per message
//! through `publish_batch` and `publish` with [`Publisher::null`] (every check, nothing sent,
//! nothing kept) and [`Publisher::fake`] (every message recorded). The process's first
//! `publish_batch` call is shown apart: it pays for touching fresh memory for every message
//! it holds, which the later, warm calls (and a running service) do not.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::types::QueueAttributeName;
use clap::{Parser, ValueEnum};
use lariat::aws::Aws;
use lariat::message::{Envelope, Event};
use lariat::naming::NamingDefaults;
use lariat::publish::{PublishOptions, Publisher};
use serde_json::json;

/// Publisher vs. plain SDK loop: messages per second over moto or LocalStack.
#[derive(Debug, Parser)]
struct Args {
    /// Messages per side.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Send to queues directly, or to topics (each with one subscribed queue).
    #[arg(long, value_enum, default_value_t = Via::Queue)]
    via: Via,
    /// Use this running emulator instead of starting one.
    #[arg(long, conflicts_with = "localstack")]
    endpoint: Option<String>,
    /// Start a private LocalStack instead of moto (`scripts/emulator --localstack`).
    #[arg(long)]
    localstack: bool,
    /// Batch calls in flight at once in the publisher.
    #[arg(long, default_value_t = lariat::publish::DEFAULT_MAX_IN_FLIGHT)]
    in_flight: usize,
    /// Measure the publisher's own cost per message, with no emulator.
    #[arg(long)]
    fake: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Via {
    Queue,
    Topic,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.fake {
        return own_cost(args.count).await;
    }
    let (_moto, _localstack, endpoint) = match &args.endpoint {
        Some(url) => (None, None, url.clone()),
        None if args.localstack => {
            let (localstack, url) = LocalStack::start().await?;
            (None, Some(localstack), url)
        }
        None => {
            let (child, url) = start_moto().await?;
            (Some(child), None, url)
        }
    };
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
        .load()
        .await;
    let account = wait_for_account(&config).await?;
    let aws = Aws::from_sdk_config(&config, account)?;

    let defaults = defaults();
    let envelopes = envelopes(args.count)?;
    let (plain_name, publisher_options, counted) = setup(&aws, args.via).await?;
    let mut before = Vec::new();
    for queue in &counted {
        before.push(queued(&aws, queue).await?);
    }
    println!(
        "emulator {endpoint}; {} messages per side, via {:?}",
        args.count, args.via
    );

    let started = Instant::now();
    for envelope in &envelopes {
        let body = envelope.to_json();
        match args.via {
            Via::Queue => {
                aws.sqs
                    .send_message()
                    .queue_url(&plain_name)
                    .message_body(body)
                    .send()
                    .await?;
            }
            Via::Topic => {
                aws.sns
                    .publish()
                    .topic_arn(&plain_name)
                    .message(body)
                    .send()
                    .await?;
            }
        }
    }
    let plain = started.elapsed();

    let publisher = Publisher::new(aws.clone(), defaults).max_in_flight(args.in_flight);
    let started = Instant::now();
    let results = publisher
        .publish_batch(&envelopes, &publisher_options)
        .await;
    let batched = started.elapsed();
    let failed = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        bail!("{failed} messages failed, the first: {e}");
    }

    for (queue, before) in counted.iter().zip(before) {
        wait_for_delivery(&aws, queue, before + args.count).await?;
    }
    let rate = |d: Duration| args.count as f64 / d.as_secs_f64();
    println!(
        "plain SDK loop (1 call/message):   {:>8.1} msg/s  ({:.1} s)",
        rate(plain),
        plain.as_secs_f64()
    );
    println!(
        "lariat Publisher::publish_batch:   {:>8.1} msg/s  ({:.1} s, batches of 10, {} in flight)",
        rate(batched),
        batched.as_secs_f64(),
        args.in_flight
    );
    println!(
        "ratio publisher / plain:           {:>8.2}x",
        rate(batched) / rate(plain)
    );
    Ok(())
}

fn defaults() -> NamingDefaults {
    NamingDefaults {
        instance: "bench".into(),
        publisher: "bench".into(),
    }
}

/// `count` envelopes, `n` counting up.
fn envelopes(count: usize) -> anyhow::Result<Vec<Envelope>> {
    let envelopes = (0..count)
        .map(|i| {
            Event::new(
                "user_created",
                json!({ "n": i, "mail": "john.doe@example.com" }),
            )
            .publisher("bench")
            .build()
        })
        .collect::<Result<_, _>>()?;
    Ok(envelopes)
}

/// Microseconds per message of the publisher alone, with the null and the fake transport.
///
/// The first `publish_batch` call of the process is timed on its own: it holds every message
/// at once, in memory the process has never touched (page faults; about twice the cost on
/// this 2-core VM). Both ways are then timed again on the warm heap, which is what a running
/// service sees.
async fn own_cost(count: usize) -> anyhow::Result<()> {
    let envelopes = envelopes(count)?;
    let options = PublishOptions::topic();
    println!("publisher's own cost, {count} messages, no network (µs/message)");
    let micros = |d: Duration| d.as_secs_f64() * 1e6 / count as f64;
    for (name, publisher) in [
        ("null", Publisher::null(defaults())),
        ("fake", Publisher::fake(defaults())),
    ] {
        let first = batch(&publisher, &envelopes, &options).await?;
        let warm = batch(&publisher, &envelopes, &options).await?;
        let started = Instant::now();
        for envelope in &envelopes {
            publisher.publish(envelope, &options).await?;
        }
        let single = started.elapsed();
        publisher.take_sent();
        println!(
            "  {name} transport: publish_batch {:>6.2} first call, {:>6.2} warm; publish {:>6.2} warm",
            micros(first),
            micros(warm),
            micros(single)
        );
    }
    Ok(())
}

/// The time of one `publish_batch` call; what a fake publisher recorded is dropped after.
async fn batch(
    publisher: &Publisher,
    envelopes: &[Envelope],
    options: &PublishOptions,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let results = publisher.publish_batch(envelopes, options).await;
    let took = started.elapsed();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        bail!("{e}");
    }
    publisher.take_sent();
    Ok(took)
}

/// Creates the targets; returns the plain loop's queue URL or topic ARN, the publisher's
/// options, and the queues to count afterwards.
async fn setup(aws: &Aws, via: Via) -> anyhow::Result<(String, PublishOptions, Vec<String>)> {
    let plain_queue = "bench-plain";
    let publisher_queue = "bench-event-queue-bench-user_created";
    for name in [plain_queue, publisher_queue] {
        aws.sqs.create_queue().queue_name(name).send().await?;
    }
    let counted = vec![plain_queue.to_owned(), publisher_queue.to_owned()];
    if via == Via::Queue {
        return Ok((aws.queue_url(plain_queue), PublishOptions::queue(), counted));
    }
    let plain_topic = "bench-plain";
    let publisher_topic = "bench-event-fanout-bench-user_created";
    for (topic, queue) in [
        (plain_topic, plain_queue),
        (publisher_topic, publisher_queue),
    ] {
        aws.sns.create_topic().name(topic).send().await?;
        aws.sns
            .subscribe()
            .topic_arn(aws.arns().topic(topic))
            .protocol("sqs")
            .endpoint(aws.arns().queue(queue))
            .attributes("RawMessageDelivery", "true")
            .send()
            .await?;
    }
    Ok((
        aws.arns().topic(plain_topic),
        PublishOptions::topic(),
        counted,
    ))
}

async fn queued(aws: &Aws, queue: &str) -> anyhow::Result<usize> {
    let answer = aws
        .sqs
        .get_queue_attributes()
        .queue_url(aws.queue_url(queue))
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await?;
    let n = answer
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .context("no ApproximateNumberOfMessages")?;
    Ok(n.parse()?)
}

/// Starts moto_server on a free port; it is killed when the handle is dropped.
async fn start_moto() -> anyhow::Result<(tokio::process::Child, String)> {
    let bin = std::env::var_os("LARIAT_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".venv/bin/moto_server"));
    if !bin.is_file() {
        bail!(
            "moto_server not found at {}: run `scripts/emulator install`, set LARIAT_MOTO_SERVER, or pass --endpoint",
            bin.display()
        );
    }
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = tokio::process::Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok((child, format!("http://127.0.0.1:{port}")))
}

/// Waits until `queue` holds `expected` messages; fails when it holds more, or when the count
/// has not grown for 30 s.
async fn wait_for_delivery(aws: &Aws, queue: &str, expected: usize) -> anyhow::Result<()> {
    let mut last = queued(aws, queue).await?;
    let mut changed = Instant::now();
    while last != expected {
        if last > expected {
            bail!("{queue} holds {last} messages, expected {expected}");
        }
        if changed.elapsed() > Duration::from_secs(30) {
            bail!(
                "{queue} holds {last} messages after 30 s without a new one, expected {expected}"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let n = queued(aws, queue).await?;
        if n != last {
            last = n;
            changed = Instant::now();
        }
    }
    Ok(())
}

/// The account id the emulator answers for, once it answers (`sts:GetCallerIdentity`).
async fn wait_for_account(config: &SdkConfig) -> anyhow::Result<String> {
    let sts = aws_sdk_sts::Client::new(config);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match sts.get_caller_identity().send().await {
            Ok(identity) => {
                return identity
                    .account()
                    .map(str::to_owned)
                    .context("sts:GetCallerIdentity answered without an account id")
            }
            Err(e) if Instant::now() > deadline => {
                bail!("the emulator did not answer within 30 s: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A private LocalStack started with `scripts/emulator --localstack start`, its state in a
/// temporary folder; stopped (and the folder removed) when dropped.
struct LocalStack {
    state: PathBuf,
}

impl LocalStack {
    /// The emulator script of this checkout.
    fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/emulator")
    }

    /// Starts LocalStack on a free port; `scripts/emulator` waits until it serves.
    async fn start() -> anyhow::Result<(LocalStack, String)> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let state = std::env::temp_dir().join(format!(
            "lariat-bench-publish-localstack-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
        let localstack = LocalStack { state };
        let status = tokio::process::Command::new(Self::script())
            .args(["--localstack", "start", &port.to_string()])
            .env("LARIAT_EMULATOR_STATE", &localstack.state)
            .stdout(std::process::Stdio::null())
            .status()
            .await
            .context("running scripts/emulator --localstack start")?;
        if !status.success() {
            bail!("scripts/emulator --localstack start {port} failed ({status}); see its output above");
        }
        Ok((localstack, format!("http://127.0.0.1:{port}")))
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        let stopped = std::process::Command::new(Self::script())
            .args(["--localstack", "stop"])
            .env("LARIAT_EMULATOR_STATE", &self.state)
            .stderr(std::process::Stdio::null())
            .status();
        if !matches!(stopped, Ok(s) if s.success()) {
            eprintln!(
                "could not stop LocalStack: run `LARIAT_EMULATOR_STATE={} scripts/emulator --localstack stop`",
                self.state.display()
            );
            return;
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}
