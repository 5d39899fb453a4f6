//! The relay: claims outbox rows, publishes them in batches through a [`Sink`], deletes what
//! was accepted and schedules the rest for a retry.
//!
//! One round claims up to `batch_size × concurrency` rows of standard targets and as many
//! FIFO rows, packs them into batches per target (a FIFO group's rows stay together, in id
//! order, in one batch), sends up to `concurrency` batches at once and settles batches as
//! soon as their answers arrive, while the others are still being sent. Batches answered
//! while the previous settlement was being written are settled together, with one `DELETE`
//! and one failure update for all of them, so a fast sink costs few commits per round:
//!
//! - an accepted entry's row is deleted (only after AWS answered, so a crash in between
//!   sends it again: a duplicate, never a loss);
//! - a failed entry's row gets `attempts + 1` and waits `backoff × 2^(attempts-1)` (at most
//!   `max_backoff`); at `max_attempts`, or at once for an error that no retry can fix, it
//!   becomes dead and no longer blocks its FIFO group.
//!
//! While batches are in flight a lease keeper renews their claims every third of the lease,
//! so a slow send is never taken over, while a killed relay's rows are free again one lease
//! after its last renewal.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};

use super::{Claim, FailedRow, Metrics, OutboxError, OutboxStore, Row, SplitKey, Target};

/// AWS's limit on entries per batch call.
pub const MAX_BATCH_SIZE: usize = 10;

/// The shortest pause between two polls of an idle table (without LISTEN/NOTIFY).
const MIN_IDLE: Duration = Duration::from_millis(20);

/// The pause after a database error before the next round.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// What happened to one entry of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    /// Accepted by SNS/SQS.
    Sent,
    /// Not accepted.
    Failed {
        /// What went wrong.
        error: String,
        /// True when retrying cannot help (the message itself is refused): the row goes dead
        /// at once.
        permanent: bool,
    },
}

/// Where the relay sends batches: the publisher in production, anything in tests.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Sends `rows` (at most [`MAX_BATCH_SIZE`], all for `target`, FIFO groups in id order)
    /// and returns one result per row, in the same order.
    async fn send_batch(&self, target: &Target, rows: &[Row]) -> Vec<EntryResult>;
}

/// The shortest lease a relay takes: its claims are renewed every third of the lease, and a
/// shorter one would expire before a batch call returns, so other relays would send the same
/// rows again. [`Relay::new`] raises a shorter [`RelayOptions::lease`] to it.
pub const MIN_LEASE: Duration = Duration::from_secs(1);

/// How a relay works; see `lariat outbox relay --help` for each setting.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// This relay's id in `claimed_by` (at most 64 characters) [default: host-pid-random].
    pub relay_id: String,
    /// Messages per batch call, 1 to 10.
    pub batch_size: usize,
    /// Batch calls in flight at once.
    pub concurrency: usize,
    /// How long a claim lasts without renewal; a killed relay's rows are free after this. At
    /// least [`MIN_LEASE`].
    pub lease: Duration,
    /// Failed sends after which a row is dead.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled on each further failure.
    pub backoff: Duration,
    /// Longest wait between two retries.
    pub max_backoff: Duration,
    /// Longest pause when there is nothing to send.
    pub sleep_on_empty: Duration,
    /// Only these targets or FIFO groups; all when empty.
    pub split_keys: Vec<SplitKey>,
    /// Delete dead rows that have been dead for longer than this.
    pub cleanup_dead_after: Option<Duration>,
    /// How often the table's backlog is measured and logged.
    pub report_every: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            relay_id: default_relay_id(),
            batch_size: MAX_BATCH_SIZE,
            concurrency: 8,
            lease: Duration::from_secs(10),
            max_attempts: 10,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            sleep_on_empty: Duration::from_millis(500),
            split_keys: Vec::new(),
            cleanup_dead_after: None,
            report_every: Duration::from_secs(10),
        }
    }
}

/// `HOST-PID-RANDOM`, at most 64 characters: unique per relay process, readable in the table.
pub fn default_relay_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "relay".to_owned());
    let host: String = host.chars().take(40).collect();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..8])
}

/// The wait before the next try after `attempts` failed ones.
pub fn retry_delay(attempts: u32, backoff: Duration, max_backoff: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    backoff.saturating_mul(1 << doublings).min(max_backoff)
}

/// One batch call: rows for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The target.
    pub target: Target,
    /// The rows, FIFO groups in id order.
    pub rows: Vec<Row>,
}

/// Packs claimed rows into batches of at most `batch_size`: standard rows per target in id
/// order; FIFO rows as whole groups (a group never spans two batches, so at most one batch per
/// group is in flight), packed per target. Rows of a group beyond `batch_size` are returned
/// apart, to be released (a claim never returns that many).
pub fn plan_batches(mut rows: Vec<Row>, batch_size: usize) -> (Vec<Batch>, Vec<Row>) {
    let batch_size = batch_size.clamp(1, MAX_BATCH_SIZE);
    rows.sort_by_key(|r| r.id);
    let mut standard: BTreeMap<Target, Vec<Row>> = BTreeMap::new();
    let mut chains: BTreeMap<(Target, String), Vec<Row>> = BTreeMap::new();
    for row in rows {
        match row.group_id.clone() {
            None => standard.entry(row.target.clone()).or_default().push(row),
            Some(group) => chains
                .entry((row.target.clone(), group))
                .or_default()
                .push(row),
        }
    }
    let mut batches = Vec::new();
    for (target, rows) in standard {
        for chunk in rows.chunks(batch_size) {
            batches.push(Batch {
                target: target.clone(),
                rows: chunk.to_vec(),
            });
        }
    }
    let mut overflow = Vec::new();
    let mut chains: Vec<(Target, Vec<Row>)> = chains
        .into_iter()
        .map(|((target, _), mut chain)| {
            if chain.len() > batch_size {
                overflow.extend(chain.split_off(batch_size));
            }
            (target, chain)
        })
        .collect();
    chains.sort_by_key(|(target, chain)| (target.clone(), chain.first().map(|r| r.id)));
    let mut open: Option<Batch> = None;
    for (target, chain) in chains {
        match &mut open {
            Some(batch)
                if batch.target == target && batch.rows.len() + chain.len() <= batch_size =>
            {
                batch.rows.extend(chain);
            }
            _ => {
                batches.extend(open.take());
                open = Some(Batch {
                    target,
                    rows: chain,
                });
            }
        }
    }
    batches.extend(open);
    batches.sort_by_key(|b| b.rows.first().map(|r| r.id));
    (batches, overflow)
}

/// What to do with each row of a sent batch: ids to delete and rows to record as failed.
pub fn settle(
    rows: &[Row],
    results: &[EntryResult],
    options: &RelayOptions,
) -> (Vec<i64>, Vec<FailedRow>) {
    let mut sent = Vec::new();
    let mut failed = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let (error, permanent) = match results.get(i) {
            Some(EntryResult::Sent) => {
                sent.push(row.id);
                continue;
            }
            Some(EntryResult::Failed { error, permanent }) => (error.clone(), *permanent),
            None => (
                "the sink returned no result for this message".to_owned(),
                false,
            ),
        };
        let attempts = row.attempts.saturating_add(1);
        let dead = permanent || u32::try_from(attempts).unwrap_or(u32::MAX) >= options.max_attempts;
        failed.push(FailedRow {
            id: row.id,
            attempts,
            dead,
            retry_in: retry_delay(
                u32::try_from(attempts).unwrap_or(1),
                options.backoff,
                options.max_backoff,
            ),
            error,
        });
    }
    (sent, failed)
}

/// What one [`Relay::run`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayReport {
    /// Messages sent and deleted.
    pub sent: u64,
    /// Failed attempts.
    pub failed: u64,
    /// Rows marked dead.
    pub dead: u64,
}

type SendingErrorHook = Arc<dyn Fn(&Target, &FailedRow) + Send + Sync>;

/// A relay over one outbox table and one sink.
pub struct Relay {
    store: Arc<dyn OutboxStore>,
    sink: Arc<dyn Sink>,
    options: RelayOptions,
    metrics: Arc<Metrics>,
    in_flight: Arc<Mutex<HashSet<i64>>>,
    /// Rows sent and not yet deleted: the next claim deletes them (see [`Claim::done`]).
    done: Mutex<Vec<i64>>,
    on_sending_error: Option<SendingErrorHook>,
}

impl Relay {
    /// A relay; `options.batch_size` is kept within 1 to 10 and `concurrency` at least 1.
    pub fn new(
        store: Arc<dyn OutboxStore>,
        sink: Arc<dyn Sink>,
        mut options: RelayOptions,
    ) -> Self {
        options.batch_size = options.batch_size.clamp(1, MAX_BATCH_SIZE);
        options.concurrency = options.concurrency.max(1);
        options.max_attempts = options.max_attempts.max(1);
        options.lease = options.lease.max(MIN_LEASE);
        options.relay_id = options.relay_id.chars().take(64).collect();
        Self {
            store,
            sink,
            options,
            metrics: Arc::default(),
            in_flight: Arc::default(),
            done: Mutex::default(),
            on_sending_error: None,
        }
    }

    /// Calls `hook` with the target and the failed row after every failed send, retried or
    /// dead (the gem's `on_sending_error`). The CLI logs a `send failed` line and counts
    /// `lariat_outbox_failed_total` instead. Keep it quick: it runs on the relay's tasks.
    pub fn on_sending_error(
        mut self,
        hook: impl Fn(&Target, &FailedRow) + Send + Sync + 'static,
    ) -> Self {
        self.on_sending_error = Some(Arc::new(hook));
        self
    }

    /// The relay's counters and gauges.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The options in force.
    pub fn options(&self) -> &RelayOptions {
        &self.options
    }

    /// One round: claims, sends and settles; returns how many rows it claimed (0 = nothing
    /// due). Never leaves rows claimed unless the database failed while settling, in which
    /// case their lease runs out.
    pub async fn run_once(&self) -> Result<usize, OutboxError> {
        let claimed = self.round().await;
        self.delete_done().await;
        claimed
    }

    /// Claims (deleting the rows the last round sent in the same request), sends and settles;
    /// the rows this round sent are left in `done` for the next claim, or [`Self::delete_done`].
    async fn round(&self) -> Result<usize, OutboxError> {
        let done = self.take_done();
        let claim = Claim {
            relay: &self.options.relay_id,
            lease: self.options.lease,
            limit: self.options.batch_size * self.options.concurrency,
            batch_size: self.options.batch_size,
            split_keys: &self.options.split_keys,
            done: &done,
        };
        let rows = match self.store.claim(&claim).await {
            Ok(rows) => {
                self.deleted(&done);
                rows
            }
            Err(err) => {
                // Still held (their leases are kept), for the next claim to delete.
                self.done
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(done);
                return Err(err);
            }
        };
        let claimed = rows.len();
        if claimed == 0 {
            return Ok(0);
        }
        self.track(rows.iter().map(|r| r.id), true);
        let (batches, overflow) = plan_batches(rows, self.options.batch_size);
        if !overflow.is_empty() {
            self.release_unsent(&overflow).await;
        }
        let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel();
        let sending = async move {
            stream::iter(batches)
                .map(|batch| async move {
                    let results = self.sink.send_batch(&batch.target, &batch.rows).await;
                    (batch, results)
                })
                .buffer_unordered(self.options.concurrency)
                .for_each(|answer| {
                    // The receiver lives until every sender is gone.
                    let _ = answered.send(answer);
                    std::future::ready(())
                })
                .await;
        };
        let settling = async {
            let mut ready = Vec::new();
            while answers.recv_many(&mut ready, usize::MAX).await > 0 {
                self.settle_answers(std::mem::take(&mut ready)).await;
            }
        };
        tokio::join!(sending, settling);
        Ok(claimed)
    }

    /// Runs rounds until nothing is due; returns how many rows were claimed in all.
    pub async fn drain(&self) -> Result<usize, OutboxError> {
        let mut total = 0;
        loop {
            match self.round().await {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(err) => {
                    self.delete_done().await;
                    return Err(err);
                }
            }
        }
        self.delete_done().await;
        Ok(total)
    }

    /// The ids of the rows sent since the last claim, which the caller now deletes.
    fn take_done(&self) -> Vec<i64> {
        std::mem::take(&mut *self.done.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Deletes the rows sent since the last claim, on their own.
    async fn delete_done(&self) {
        let done = self.take_done();
        if done.is_empty() {
            return;
        }
        if let Err(err) = self.store.complete(&done).await {
            tracing::error!(error = %err, rows = done.len(),
                "sent, but could not delete the rows; they will be sent again when their lease ends");
            self.track(done.into_iter(), false);
        } else {
            self.deleted(&done);
        }
    }

    /// Counts rows sent and deleted, and stops renewing their leases.
    fn deleted(&self, ids: &[i64]) {
        self.metrics.add_sent(ids.len() as u64);
        self.track(ids.iter().copied(), false);
    }

    /// Runs until `shutdown` completes, then finishes the batches in flight, releases every
    /// claim and returns. Database errors are logged and retried; only a failure to read the
    /// table at start is returned.
    pub async fn run(
        &self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<RelayReport, OutboxError> {
        self.refresh().await?;
        let keeper = tokio::spawn(keep_leases(
            self.store.clone(),
            self.options.relay_id.clone(),
            self.in_flight.clone(),
            self.options.lease,
        ));
        let reporter = tokio::spawn(report(
            self.store.clone(),
            self.metrics.clone(),
            self.options.clone(),
        ));
        tracing::info!(relay = %self.options.relay_id, table = self.store.table(), "relay started");
        let mut shutdown = std::pin::pin!(shutdown);
        let mut stopping = false;
        let mut idle = MIN_IDLE;
        while !stopping {
            let round = self.round();
            let mut round = std::pin::pin!(round);
            let result = tokio::select! {
                result = &mut round => result,
                () = &mut shutdown => {
                    stopping = true;
                    tracing::info!("stopping: finishing the batches in flight");
                    round.await
                }
            };
            let pause = match result {
                Ok(0) => {
                    let pause = if self.store.notifies() {
                        self.options.sleep_on_empty
                    } else {
                        idle
                    };
                    idle = (idle * 2).min(self.options.sleep_on_empty.max(MIN_IDLE));
                    pause
                }
                Ok(_) => {
                    idle = MIN_IDLE;
                    continue;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "relay round failed; retrying");
                    ERROR_PAUSE
                }
            };
            if stopping {
                break;
            }
            tokio::select! {
                () = &mut shutdown => stopping = true,
                woken = self.store.wait_for_rows(pause) => if woken { idle = MIN_IDLE },
            }
        }
        self.delete_done().await;
        keeper.abort();
        reporter.abort();
        match self.store.release(&self.options.relay_id).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "released claims"),
            Err(err) => {
                tracing::warn!(error = %err, "could not release claims; they expire with their lease")
            }
        }
        let report = RelayReport {
            sent: self.metrics.sent(),
            failed: self.metrics.failed(),
            dead: self.metrics.dead(),
        };
        tracing::info!(
            sent = report.sent,
            failed = report.failed,
            dead = report.dead,
            "relay stopped"
        );
        Ok(report)
    }

    /// Measures the table into the gauges.
    async fn refresh(&self) -> Result<(), OutboxError> {
        refresh(&*self.store, &self.metrics).await
    }

    /// Settles answered batches: one update for every failed row; the accepted ones wait in
    /// `done` for the next claim to delete them.
    async fn settle_answers(&self, answers: Vec<(Batch, Vec<EntryResult>)>) {
        let mut sent = Vec::new();
        let mut failed = Vec::new();
        for (batch, results) in &answers {
            let (batch_sent, batch_failed) = settle(&batch.rows, results, &self.options);
            sent.extend(batch_sent);
            for row in &batch_failed {
                tracing::warn!(id = row.id, target = %batch.target, attempts = row.attempts,
                    dead = row.dead, error = %row.error, "send failed");
                if let Some(hook) = &self.on_sending_error {
                    hook(&batch.target, row);
                }
            }
            failed.extend(batch_failed);
        }
        let dead = failed.iter().filter(|r| r.dead).count() as u64;
        self.metrics.add_failed(failed.len() as u64);
        match self.store.fail(&self.options.relay_id, &failed).await {
            Ok(()) => self.metrics.add_dead(dead),
            Err(err) => tracing::error!(error = %err, rows = failed.len(),
                "could not record failed sends; the rows are retried when their lease ends"),
        }
        // Sent rows stay tracked (their leases renewed) until the next claim deletes them.
        self.track(failed.iter().map(|r| r.id), false);
        self.done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(sent);
    }

    /// Gives back rows claimed but not sent, without counting an attempt.
    async fn release_unsent(&self, rows: &[Row]) {
        let released: Vec<FailedRow> = rows
            .iter()
            .map(|r| FailedRow {
                id: r.id,
                attempts: r.attempts,
                dead: false,
                retry_in: Duration::ZERO,
                error: "released unsent: more rows of one FIFO group than fit in a batch".into(),
            })
            .collect();
        if let Err(err) = self.store.fail(&self.options.relay_id, &released).await {
            tracing::warn!(error = %err, "could not release rows; they expire with their lease");
        }
        self.track(rows.iter().map(|r| r.id), false);
    }

    fn track(&self, ids: impl Iterator<Item = i64>, add: bool) {
        let mut set = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for id in ids {
            if add {
                set.insert(id);
            } else {
                set.remove(&id);
            }
        }
    }
}

async fn refresh(store: &dyn OutboxStore, metrics: &Metrics) -> Result<(), OutboxError> {
    let stats = store.stats().await?;
    let backlog = stats.iter().map(|s| s.pending).sum::<i64>();
    let dead = stats.iter().map(|s| s.dead).sum::<i64>();
    let oldest = stats
        .iter()
        .filter_map(|s| s.oldest_age_seconds)
        .fold(0.0, f64::max);
    metrics.set_table(
        u64::try_from(backlog).unwrap_or(0),
        u64::try_from(dead).unwrap_or(0),
        oldest,
    );
    Ok(())
}

/// Renews the claims of the rows in flight every third of the lease.
async fn keep_leases(
    store: Arc<dyn OutboxStore>,
    relay: String,
    in_flight: Arc<Mutex<HashSet<i64>>>,
    lease: Duration,
) {
    let mut tick = tokio::time::interval(lease / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ids: Vec<i64> = in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect();
        if let Err(err) = store.renew(&relay, &ids, lease).await {
            tracing::warn!(error = %err, "could not renew claims");
        }
    }
}

/// Measures and logs the table every `report_every`, and purges old dead rows.
async fn report(store: Arc<dyn OutboxStore>, metrics: Arc<Metrics>, options: RelayOptions) {
    let mut tick = tokio::time::interval(options.report_every.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Some(age) = options.cleanup_dead_after {
            match store.purge_dead(age).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "deleted old dead rows"),
                Err(err) => tracing::warn!(error = %err, "could not delete old dead rows"),
            }
        }
        if let Err(err) = refresh(&*store, &metrics).await {
            tracing::warn!(error = %err, "could not measure the outbox");
            continue;
        }
        tracing::info!(
            sent = metrics.sent(),
            failed = metrics.failed(),
            dead = metrics.dead(),
            backlog = metrics.backlog(),
            dead_rows = metrics.dead_rows(),
            oldest_age_seconds = metrics.oldest_age_seconds(),
            "outbox"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, target: &Target, group: Option<&str>) -> Row {
        Row {
            id,
            target: target.clone(),
            group_id: group.map(str::to_owned),
            deduplication_id: group.map(|_| format!("d{id}")),
            message: "{}".into(),
            attributes: None,
            attempts: 0,
        }
    }

    fn ids(batch: &Batch) -> Vec<i64> {
        batch.rows.iter().map(|r| r.id).collect()
    }

    #[test]
    fn standard_rows_are_chunked_per_target() {
        let a = Target::topic("a");
        let b = Target::queue("b");
        let rows: Vec<Row> = (1..=25)
            .map(|i| row(i, if i % 5 == 0 { &b } else { &a }, None))
            .collect();
        let (batches, overflow) = plan_batches(rows, 10);
        assert!(overflow.is_empty());
        let mut sizes: Vec<(String, usize)> = batches
            .iter()
            .map(|b| (b.target.name.clone(), b.rows.len()))
            .collect();
        sizes.sort();
        assert_eq!(sizes, [("a".into(), 10), ("a".into(), 10), ("b".into(), 5)]);
        assert!(batches
            .iter()
            .all(|b| ids(b).windows(2).all(|w| w[0] < w[1])));
    }

    #[test]
    fn fifo_groups_stay_whole_and_in_order() {
        let q = Target::queue("q.fifo");
        let mut rows = vec![
            row(9, &q, Some("g1")),
            row(1, &q, Some("g1")),
            row(2, &q, Some("g2")),
            row(5, &q, Some("g1")),
        ];
        rows.extend((10..16).map(|i| row(i, &q, Some("g3"))));
        let (batches, overflow) = plan_batches(rows, 4);
        // g1 (3 rows) and g2 (1) fit one batch; g3 (6 rows) exceeds the batch size.
        let all: Vec<Vec<i64>> = batches.iter().map(ids).collect();
        assert_eq!(all, [vec![1, 5, 9, 2], vec![10, 11, 12, 13]]);
        assert_eq!(overflow.iter().map(|r| r.id).collect::<Vec<_>>(), [14, 15]);
    }

    #[test]
    fn failures_back_off_then_die() {
        let options = RelayOptions {
            max_attempts: 3,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3),
            ..RelayOptions::default()
        };
        let q = Target::queue("q");
        let mut rows = vec![
            row(1, &q, None),
            row(2, &q, None),
            row(3, &q, None),
            row(4, &q, None),
        ];
        rows[1].attempts = 1;
        rows[2].attempts = 2;
        let fail = |permanent| EntryResult::Failed {
            error: "boom".into(),
            permanent,
        };
        let results = [EntryResult::Sent, fail(false), fail(false), fail(true)];
        let (sent, failed) = settle(&rows, &results, &options);
        assert_eq!(sent, [1]);
        let summary: Vec<(i64, i32, bool, u64)> = failed
            .iter()
            .map(|f| (f.id, f.attempts, f.dead, f.retry_in.as_secs()))
            .collect();
        assert_eq!(
            summary,
            [(2, 2, false, 2), (3, 3, true, 3), (4, 1, true, 1)]
        );
        let (_, missing) = settle(&rows[..1], &[], &options);
        assert_eq!(missing.len(), 1, "no result counts as a failure");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(1);
        let delays: Vec<u128> = (1..=6)
            .map(|a| retry_delay(a, base, cap).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(retry_delay(u32::MAX, base, cap), cap);
    }

    #[test]
    fn relay_ids_fit_the_column() {
        let id = default_relay_id();
        assert!(id.len() <= 64 && !id.is_empty(), "{id}");
        assert_ne!(id, default_relay_id());
    }
}
