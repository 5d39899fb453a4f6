//! The consumer: long-polls one SQS queue and feeds each message through the inbox.
//!
//! At most `concurrency` messages are in hand at once. On a FIFO queue the messages of one
//! message group are handled one after the other, in the order SQS gave them; SQS itself
//! hands out no further message of a group while one is in flight, so order holds across
//! receives and across consumers. A transient failure stops its group's batch: the rest of
//! the group comes back after the visibility timeout, behind the failed message. While a
//! message is being handled its visibility is extended every half timeout, so a slow handler
//! does not see its message handed to another consumer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

use super::table::Batch;
use super::{Handler, Inbox, InboxDatabase, InboxError, InboxMessage, Incoming, Source};
use crate::aws::{Aws, SqsMessage, MAX_BATCH};
use crate::message::read::{read_sqs_body, Received, Rules};
use crate::message::Envelope;

/// The shortest interval between two visibility extensions.
const MIN_EXTEND_INTERVAL: Duration = Duration::from_secs(1);

/// The longest pause after a failed receive.
const MAX_RECEIVE_BACKOFF: Duration = Duration::from_secs(30);

/// How a consumer polls and how much it does at once.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumerOptions {
    /// Messages in hand at once, received and not yet finished. Default 10.
    pub concurrency: usize,
    /// How long one receive waits for a message (long polling), at most 20 s. Default 20 s.
    pub wait_time: Duration,
    /// The visibility timeout to extend to while a handler runs; default the queue's own.
    pub visibility_timeout: Option<Duration>,
    /// Messages of one receive handled in one database transaction, 1 to 10. Default 1: each
    /// message commits on its own.
    ///
    /// Above 1, the messages of a receive (of a message group, on a FIFO queue) are handled
    /// one after the other in one transaction with one commit, their inbox rows stored in one
    /// statement: fewer round trips and commits per message, so more messages a second from
    /// one database. The price: the transaction holds every row its handlers wrote until the
    /// last of them finishes, and when a handler fails the whole transaction rolls back; that
    /// message's failure is recorded as usual, and the others are handled again, each in a
    /// transaction of its own (their handlers run twice; what they wrote the first time was
    /// rolled back). Bodies that are not valid envelopes are handled one by one.
    pub messages_per_transaction: usize,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            concurrency: 10,
            wait_time: crate::aws::MAX_WAIT_TIME,
            visibility_timeout: None,
            messages_per_transaction: 1,
        }
    }
}

impl ConsumerOptions {
    /// Sets [`ConsumerOptions::concurrency`] (at least 1).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Sets [`ConsumerOptions::wait_time`].
    pub fn wait_time(mut self, wait_time: Duration) -> Self {
        self.wait_time = wait_time;
        self
    }

    /// Sets [`ConsumerOptions::visibility_timeout`].
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = Some(timeout);
        self
    }

    /// Sets [`ConsumerOptions::messages_per_transaction`] (1 to 10).
    pub fn messages_per_transaction(mut self, messages: usize) -> Self {
        self.messages_per_transaction = messages.clamp(1, MAX_BATCH);
        self
    }
}

/// What became of one received message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// Handled; the row is marked processed and the message deleted.
    Processed,
    /// Already processed (or failed with a client error) before: deleted without handling.
    Duplicate,
    /// The handler returned a business error: stored, message deleted.
    ClientError {
        /// The error.
        message: String,
        /// Its details.
        details: Option<Value>,
    },
    /// The body is not a valid envelope: stored as a client error, message deleted.
    Malformed {
        /// Why it could not be parsed.
        error: String,
    },
    /// A retryable failure of the handler, the database or SQS: the message stays on the
    /// queue and comes back after its visibility timeout.
    Retry {
        /// What failed.
        error: String,
    },
}

impl Outcome {
    /// A short name: `processed`, `duplicate`, `client_error`, `malformed` or `retry`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Duplicate => "duplicate",
            Self::ClientError { .. } => "client_error",
            Self::Malformed { .. } => "malformed",
            Self::Retry { .. } => "retry",
        }
    }

    /// Whether the message is done with and is deleted from the queue.
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Retry { .. })
    }
}

/// What the `on_message` hook is told about every received message, once it is finished.
#[derive(Debug)]
pub struct MessageReport<'a> {
    /// The queue.
    pub queue: &'a str,
    /// The SQS message id.
    pub message_id: &'a str,
    /// The envelope's uuid (for a malformed body, the uuid it is stored under).
    pub uuid: Uuid,
    /// The envelope's type; `None` for a malformed body.
    pub message_type: Option<String>,
    /// How many times SQS has handed the message out.
    pub receive_count: u32,
    /// What became of it.
    pub outcome: &'a Outcome,
    /// Time from start of handling to the outcome.
    pub elapsed: Duration,
}

/// Which kind of error the `on_error` hook is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// The handler returned a business error; stored, not retried.
    Client,
    /// The body is not a valid envelope; stored, not retried.
    Malformed,
    /// The handler returned a retryable error or panicked; the message will be redelivered.
    Handler,
    /// The inbox table could not be read or written; the message will be redelivered.
    Database,
    /// An SQS call failed (receive, delete, visibility).
    Aws,
}

/// What the `on_error` hook is told about every error.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The queue.
    pub queue: String,
    /// The SQS message id, when the error concerns one message.
    pub message_id: Option<String>,
    /// The message uuid, when known.
    pub uuid: Option<Uuid>,
    /// What kind of error.
    pub kind: FailureKind,
    /// The error text.
    pub error: String,
    /// Details of a client error.
    pub details: Option<Value>,
}

/// Counts of what a consumer did, returned by [`Consumer::run`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerReport {
    /// Messages received (copies included).
    pub received: usize,
    /// Handled and marked processed.
    pub processed: usize,
    /// Deleted without handling: already processed or failed before.
    pub duplicates: usize,
    /// Business errors stored.
    pub client_errors: usize,
    /// Malformed bodies stored.
    pub malformed: usize,
    /// Left for redelivery.
    pub retries: usize,
}

#[derive(Default)]
struct Counters {
    received: AtomicUsize,
    processed: AtomicUsize,
    duplicates: AtomicUsize,
    client_errors: AtomicUsize,
    malformed: AtomicUsize,
    retries: AtomicUsize,
}

impl Counters {
    fn count(&self, outcome: &Outcome) {
        let counter = match outcome {
            Outcome::Processed => &self.processed,
            Outcome::Duplicate => &self.duplicates,
            Outcome::ClientError { .. } => &self.client_errors,
            Outcome::Malformed { .. } => &self.malformed,
            Outcome::Retry { .. } => &self.retries,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn report(&self) -> ConsumerReport {
        let get = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        ConsumerReport {
            received: get(&self.received),
            processed: get(&self.processed),
            duplicates: get(&self.duplicates),
            client_errors: get(&self.client_errors),
            malformed: get(&self.malformed),
            retries: get(&self.retries),
        }
    }
}

type MessageHook = Arc<dyn Fn(&MessageReport<'_>) + Send + Sync>;
type ErrorHook = Arc<dyn Fn(&Failure) + Send + Sync>;
type SaveHook = Arc<dyn Fn(&Envelope, &mut InboxMessage) + Send + Sync>;

/// Long-polls one queue and runs a [`Handler`] on each message through an [`Inbox`].
///
/// Build it with [`Consumer::new`], adjust it with [`Consumer::options`],
/// [`Consumer::on_message`] and [`Consumer::on_error`], then [`Consumer::run`] it until a
/// shutdown future completes. Run as many consumers on one queue as you like, in one process
/// or many: the inbox keeps processing exactly-once.
pub struct Consumer<DB: InboxDatabase, H> {
    source: Arc<dyn Source>,
    inbox: Inbox<DB>,
    queue: String,
    handler: H,
    options: ConsumerOptions,
    on_message: Option<MessageHook>,
    on_error: Option<ErrorHook>,
    before_save: Option<SaveHook>,
}

impl<DB: InboxDatabase, H: Handler<DB> + 'static> Consumer<DB, H> {
    /// A consumer of the queue named `queue` (a standard name from
    /// [`crate::naming::NameParts::name`], or any other).
    pub fn new(aws: Aws, inbox: Inbox<DB>, queue: impl Into<String>, handler: H) -> Self {
        Self::from_source(aws, inbox, queue, handler)
    }

    /// A consumer of the queue named `queue` of another [`Source`] than SQS, such as a
    /// [`MemoryQueue`](super::MemoryQueue).
    pub fn from_source(
        source: impl Source,
        inbox: Inbox<DB>,
        queue: impl Into<String>,
        handler: H,
    ) -> Self {
        Self {
            source: Arc::new(source),
            inbox,
            queue: queue.into(),
            handler,
            options: ConsumerOptions::default(),
            on_message: None,
            on_error: None,
            before_save: None,
        }
    }

    /// Replaces the options.
    pub fn options(mut self, options: ConsumerOptions) -> Self {
        self.options = options;
        self
    }

    /// Calls `hook` for every received message once it is finished (the gem's message
    /// notifier). Keep it quick: it runs on the consumer's tasks.
    pub fn on_message(mut self, hook: impl Fn(&MessageReport<'_>) + Send + Sync + 'static) -> Self {
        self.on_message = Some(Arc::new(hook));
        self
    }

    /// Calls `hook` for every error: business errors, malformed bodies, retryable handler
    /// errors and failures of the database or SQS (the gem's error notifier).
    pub fn on_error(mut self, hook: impl Fn(&Failure) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(hook));
        self
    }

    /// Calls `hook` with each valid envelope and the inbox row about to be stored for it, the
    /// first time its uuid is seen (the gem's `before_save`): it may enrich or redact the row
    /// (`data`, `message`, ...). The handler still gets the envelope as received; a changed
    /// `uuid` is put back, as the row is found by it.
    pub fn before_save(
        mut self,
        hook: impl Fn(&Envelope, &mut InboxMessage) + Send + Sync + 'static,
    ) -> Self {
        self.before_save = Some(Arc::new(hook));
        self
    }

    /// Receives and handles messages until `shutdown` completes, then stops receiving, lets
    /// the handlers in progress finish, and returns what it did.
    ///
    /// Fails at once when the queue cannot be found; later SQS errors are reported to
    /// `on_error` and retried with backoff. A receive in progress at shutdown is abandoned;
    /// any message it was given comes back after the visibility timeout.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<ConsumerReport, InboxError> {
        let info = self.source.queue_info(&self.queue).await?;
        let visibility = self
            .options
            .visibility_timeout
            .unwrap_or(info.visibility_timeout);
        tracing::info!(
            queue = %self.queue,
            fifo = info.fifo,
            concurrency = self.options.concurrency,
            "consumer started"
        );
        let ctx = Arc::new(Context {
            source: self.source,
            inbox: self.inbox,
            queue: self.queue,
            url: info.url,
            fifo: info.fifo,
            visibility,
            handler: self.handler,
            on_message: self.on_message,
            on_error: self.on_error,
            before_save: self.before_save,
            per_transaction: self.options.messages_per_transaction.clamp(1, MAX_BATCH),
            counters: Counters::default(),
        });
        let semaphore = Arc::new(Semaphore::new(self.options.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let mut backoff = Duration::ZERO;
        tokio::pin!(shutdown);
        loop {
            while let Some(done) = tasks.try_join_next() {
                log_join_error(done);
            }
            let mut permits = tokio::select! {
                biased;
                () = &mut shutdown => break,
                permit = semaphore.clone().acquire_owned() => match permit {
                    Ok(permit) => vec![permit],
                    Err(_) => break,
                },
            };
            while permits.len() < MAX_BATCH {
                match semaphore.clone().try_acquire_owned() {
                    Ok(permit) => permits.push(permit),
                    Err(_) => break,
                }
            }
            let received = tokio::select! {
                biased;
                () = &mut shutdown => break,
                received = ctx.source.receive(&ctx.url, permits.len(), self.options.wait_time) => received,
            };
            let messages = match received {
                Ok(messages) => {
                    backoff = Duration::ZERO;
                    messages
                }
                Err(error) => {
                    ctx.fail(FailureKind::Aws, None, None, error.to_string(), None);
                    backoff = (backoff * 2).clamp(Duration::from_millis(200), MAX_RECEIVE_BACKOFF);
                    tokio::select! {
                        biased;
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(backoff) => continue,
                    }
                }
            };
            ctx.counters
                .received
                .fetch_add(messages.len(), Ordering::Relaxed);
            for unit in units(messages, ctx.fifo, ctx.per_transaction) {
                let held: Vec<OwnedSemaphorePermit> =
                    permits.drain(..unit.len().min(permits.len())).collect();
                let ctx = ctx.clone();
                tasks.spawn(async move {
                    ctx.handle_unit(&unit).await;
                    drop(held);
                });
            }
        }
        tracing::info!(queue = %ctx.queue, in_progress = tasks.len(), "consumer stopping");
        while let Some(done) = tasks.join_next().await {
            log_join_error(done);
        }
        let report = ctx.counters.report();
        tracing::info!(queue = %ctx.queue, ?report, "consumer stopped");
        Ok(report)
    }
}

fn log_join_error(done: Result<(), tokio::task::JoinError>) {
    if let Err(error) = done {
        tracing::error!(%error, "an inbox task failed");
    }
}

/// Splits a batch into the units handled by one task each: on a standard queue, as many
/// messages each as one transaction takes (`per_transaction`); on a FIFO queue, one message
/// group each (in received order).
fn units(messages: Vec<SqsMessage>, fifo: bool, per_transaction: usize) -> Vec<Vec<SqsMessage>> {
    if !fifo {
        let mut units = Vec::new();
        let mut messages = messages.into_iter().peekable();
        while messages.peek().is_some() {
            units.push(messages.by_ref().take(per_transaction.max(1)).collect());
        }
        return units;
    }
    let mut units: Vec<Vec<SqsMessage>> = Vec::new();
    for message in messages {
        let same_group = units.iter_mut().find(|unit| {
            message.group_id.is_some()
                && unit.first().map(|m| &m.group_id) == Some(&message.group_id)
        });
        match same_group {
            Some(unit) => unit.push(message),
            None => units.push(vec![message]),
        }
    }
    units
}

/// Everything the tasks of one consumer share.
struct Context<DB: InboxDatabase, H> {
    source: Arc<dyn Source>,
    inbox: Inbox<DB>,
    queue: String,
    url: String,
    fifo: bool,
    visibility: Duration,
    handler: H,
    on_message: Option<MessageHook>,
    on_error: Option<ErrorHook>,
    before_save: Option<SaveHook>,
    per_transaction: usize,
    counters: Counters,
}

impl<DB: InboxDatabase, H: Handler<DB>> Context<DB, H> {
    /// Handles the messages of one unit in order, `per_transaction` to a transaction,
    /// extending the visibility of those not yet finished, and stops at the first one left
    /// for redelivery on a FIFO queue.
    async fn handle_unit(&self, unit: &[SqsMessage]) {
        let next = AtomicUsize::new(0);
        let work = async {
            let mut at = 0;
            for chunk in unit.chunks(self.per_transaction) {
                if !self.handle_chunk(chunk, at, &next).await {
                    break;
                }
                at += chunk.len();
            }
        };
        tokio::select! {
            () = work => {}
            () = self.keep_invisible(unit, &next) => {}
        }
    }

    /// Extends the visibility of `unit[next..]` every half timeout; never returns.
    async fn keep_invisible(&self, unit: &[SqsMessage], next: &AtomicUsize) {
        if self.visibility.is_zero() {
            return std::future::pending().await;
        }
        let every = (self.visibility / 2).max(MIN_EXTEND_INTERVAL);
        loop {
            tokio::time::sleep(every).await;
            let from = next.load(Ordering::Relaxed).min(unit.len());
            let handles: Vec<&str> = unit[from..]
                .iter()
                .map(|m| m.receipt_handle.as_str())
                .collect();
            match self
                .source
                .change_visibility(&self.url, &handles, self.visibility)
                .await
            {
                Ok(()) => {
                    tracing::debug!(queue = %self.queue, messages = handles.len(), "extended visibility")
                }
                Err(error) => self.fail(FailureKind::Aws, None, None, error.to_string(), None),
            }
        }
    }

    /// Handles `chunk`, which starts at `unit[at]`: in one transaction when it holds several
    /// messages, all valid envelopes, else one by one. False when a FIFO group must stop: a
    /// message was left for redelivery.
    async fn handle_chunk(&self, chunk: &[SqsMessage], at: usize, next: &AtomicUsize) -> bool {
        next.store(at, Ordering::Relaxed);
        let started = Instant::now();
        let read: Vec<Read> = chunk.iter().map(|message| self.read(message)).collect();
        let valid: Option<Vec<(&InboxMessage, &Incoming)>> = read
            .iter()
            .map(|read| match read {
                Read::Valid { row, incoming } => Some((row, incoming.as_ref())),
                Read::Malformed { .. } => None,
            })
            .collect();
        let batch = match valid {
            Some(valid) if valid.len() > 1 => {
                Some(self.inbox.receive_batch(&valid, &self.handler).await)
            }
            _ => None,
        };
        let mut failed = None;
        match batch {
            Some(Ok(Batch::Committed(outcomes))) => {
                // Every outcome is final: one call deletes them all.
                let handles: Vec<&str> = chunk.iter().map(|m| m.receipt_handle.as_str()).collect();
                if let Err(error) = self.source.delete_all(&self.url, &handles).await {
                    // Harmless for correctness, as for one message.
                    self.fail(FailureKind::Aws, None, None, error.to_string(), None);
                }
                next.store(at + chunk.len(), Ordering::Relaxed);
                for ((message, read), outcome) in chunk.iter().zip(read).zip(outcomes) {
                    self.report(message, &read, &outcome, started);
                }
                return true;
            }
            Some(Ok(Batch::HandlerFailed { index, error })) => {
                tracing::debug!(
                    queue = %self.queue,
                    messages = chunk.len(),
                    "a handler failed in a batch's transaction; handling the others one by one"
                );
                failed = Some((index, error));
            }
            Some(Err(error)) => tracing::debug!(
                queue = %self.queue,
                messages = chunk.len(),
                error = %error_chain(&error),
                "a batch's transaction failed; handling its messages one by one"
            ),
            None => {}
        }
        for (i, (message, read)) in chunk.iter().zip(read).enumerate() {
            next.store(at + i, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = match failed.take_if(|(index, _)| *index == i) {
                // Known from the batch: recorded, not handled again.
                Some((_, error)) => {
                    let uuid = read.row().uuid;
                    let result = self
                        .inbox
                        .record_failure(Some(read.row()), uuid, error)
                        .await;
                    self.judge(message, uuid, result)
                }
                None => self.handle_read(message, &read).await,
            };
            let outcome = self.finish(message, &read, outcome, started).await;
            if self.fifo && !outcome.is_final() {
                return false;
            }
        }
        true
    }

    /// Reads a message's body into the row to store and, when it is a valid envelope, the
    /// message for the handler.
    fn read(&self, message: &SqsMessage) -> Read {
        match read_sqs_body(&message.body, Rules::Lenient) {
            Ok(Received { envelope, text, .. }) => {
                let uuid = envelope.uuid();
                let mut row = InboxMessage::received(&envelope, &text, &self.queue);
                if let Some(hook) = &self.before_save {
                    hook(&envelope, &mut row);
                    row.uuid = uuid;
                }
                Read::Valid {
                    row,
                    incoming: Box::new(Incoming {
                        envelope,
                        queue: self.queue.clone(),
                        message_id: Some(message.message_id.clone()),
                        group_id: message.group_id.clone(),
                        receive_count: message.receive_count,
                    }),
                }
            }
            Err(refusal) => Read::Malformed {
                row: InboxMessage::malformed(&message.body, &self.queue, &refusal),
                error: refusal.to_string(),
            },
        }
    }

    /// Takes one read message through the inbox in a transaction of its own; never fails,
    /// the outcome says what happened.
    async fn handle_read(&self, message: &SqsMessage, read: &Read) -> Outcome {
        match read {
            Read::Valid { row, incoming } => {
                let result = self.inbox.receive(row, incoming, &self.handler).await;
                self.judge(message, row.uuid, result)
            }
            Read::Malformed { row, error } => match self.inbox.store(row).await {
                Ok(()) => {
                    self.fail(
                        FailureKind::Malformed,
                        Some(message),
                        Some(row.uuid),
                        row.client_error_message.clone().unwrap_or_default(),
                        row.client_error_details.clone(),
                    );
                    Outcome::Malformed {
                        error: error.clone(),
                    }
                }
                Err(error) => self.infrastructure(message, Some(row.uuid), &error),
            },
        }
    }

    /// Reports what the inbox answered for a valid message to `on_error` when it is a
    /// failure, and turns a database error into a retry.
    fn judge(
        &self,
        message: &SqsMessage,
        uuid: Uuid,
        result: Result<Outcome, InboxError>,
    ) -> Outcome {
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(error) => return self.infrastructure(message, Some(uuid), &error),
        };
        match &outcome {
            Outcome::ClientError {
                message: text,
                details,
            } => self.fail(
                FailureKind::Client,
                Some(message),
                Some(uuid),
                text.clone(),
                details.clone(),
            ),
            Outcome::Retry { error } => self.fail(
                FailureKind::Handler,
                Some(message),
                Some(uuid),
                error.clone(),
                None,
            ),
            _ => {}
        }
        outcome
    }

    /// Finishes a message: deleted from the queue when its outcome is final, then reported.
    async fn finish(
        &self,
        message: &SqsMessage,
        read: &Read,
        outcome: Outcome,
        started: Instant,
    ) -> Outcome {
        let uuid = read.row().uuid;
        if outcome.is_final() {
            if let Err(error) = self.source.delete(&self.url, &message.receipt_handle).await {
                // Harmless for correctness: the copy that comes back is acknowledged unhandled.
                self.fail(
                    FailureKind::Aws,
                    Some(message),
                    Some(uuid),
                    error.to_string(),
                    None,
                );
            }
        }
        self.report(message, read, &outcome, started);
        outcome
    }

    /// Counts a finished message, logs it and tells the `on_message` hook.
    fn report(&self, message: &SqsMessage, read: &Read, outcome: &Outcome, started: Instant) {
        let uuid = read.row().uuid;
        self.counters.count(outcome);
        let elapsed = started.elapsed();
        let message_type = match read {
            Read::Valid { incoming, .. } => Some(incoming.message_type().to_string()),
            Read::Malformed { .. } => None,
        };
        tracing::debug!(
            queue = %self.queue,
            %uuid,
            message_type = message_type.as_deref().unwrap_or("-"),
            outcome = outcome.as_str(),
            elapsed_ms = elapsed.as_millis() as u64,
            "inbox message"
        );
        if let Some(hook) = &self.on_message {
            hook(&MessageReport {
                queue: &self.queue,
                message_id: &message.message_id,
                uuid,
                message_type,
                receive_count: message.receive_count,
                outcome,
                elapsed,
            });
        }
    }

    /// Reports a database or SQS failure around one message, which is left for redelivery.
    fn infrastructure(
        &self,
        message: &SqsMessage,
        uuid: Option<Uuid>,
        error: &InboxError,
    ) -> Outcome {
        let kind = match error {
            InboxError::Aws(_) => FailureKind::Aws,
            _ => FailureKind::Database,
        };
        let text = error_chain(error);
        self.fail(kind, Some(message), uuid, text.clone(), None);
        Outcome::Retry { error: text }
    }

    fn fail(
        &self,
        kind: FailureKind,
        message: Option<&SqsMessage>,
        uuid: Option<Uuid>,
        error: String,
        details: Option<Value>,
    ) {
        let message_id = message.map(|m| m.message_id.as_str());
        match kind {
            FailureKind::Client | FailureKind::Malformed => tracing::warn!(
                queue = %self.queue, message_id, uuid = uuid.map(|u| u.to_string()), ?kind, %error,
                "inbox message failed with a client error; stored, not retried"
            ),
            FailureKind::Handler => tracing::warn!(
                queue = %self.queue, message_id, uuid = uuid.map(|u| u.to_string()), %error,
                "inbox handler failed; the message will be redelivered"
            ),
            FailureKind::Database | FailureKind::Aws => tracing::error!(
                queue = %self.queue, message_id, uuid = uuid.map(|u| u.to_string()), ?kind, %error,
                "inbox failure"
            ),
        }
        if let Some(hook) = &self.on_error {
            hook(&Failure {
                queue: self.queue.clone(),
                message_id: message_id.map(str::to_owned),
                uuid,
                kind,
                error,
                details,
            });
        }
    }
}

/// A received message, read: its inbox row, and what the handler gets.
enum Read {
    /// A valid envelope.
    Valid {
        /// The row to store.
        row: InboxMessage,
        /// The message for the handler (boxed: the envelope is large).
        incoming: Box<Incoming>,
    },
    /// A body that is not a valid envelope, stored as a client error.
    Malformed {
        /// The row to store.
        row: InboxMessage,
        /// Why the body was refused.
        error: String,
    },
}

impl Read {
    fn row(&self) -> &InboxMessage {
        match self {
            Self::Valid { row, .. } | Self::Malformed { row, .. } => row,
        }
    }
}

/// An error and all its sources, as one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, group: Option<&str>) -> SqsMessage {
        SqsMessage {
            message_id: id.into(),
            receipt_handle: format!("r{id}"),
            body: String::new(),
            group_id: group.map(str::to_owned),
            receive_count: 1,
        }
    }

    fn ids(units: &[Vec<SqsMessage>]) -> Vec<Vec<&str>> {
        units
            .iter()
            .map(|u| u.iter().map(|m| m.message_id.as_str()).collect())
            .collect()
    }

    #[test]
    fn fifo_batches_split_by_group_in_order() {
        let batch = vec![
            message("1", Some("a")),
            message("2", Some("b")),
            message("3", Some("a")),
            message("4", None),
            message("5", None),
            message("6", Some("b")),
        ];
        assert_eq!(
            ids(&units(batch.clone(), true, 10)),
            vec![vec!["1", "3"], vec!["2", "6"], vec!["4"], vec!["5"]]
        );
        assert_eq!(units(batch.clone(), false, 1).len(), 6);
        assert_eq!(
            ids(&units(batch, false, 4)),
            vec![vec!["1", "2", "3", "4"], vec!["5", "6"]]
        );
    }

    #[test]
    fn outcomes() {
        assert!(Outcome::Duplicate.is_final());
        assert!(!Outcome::Retry { error: "x".into() }.is_final());
        assert_eq!(
            Outcome::Malformed { error: "x".into() }.as_str(),
            "malformed"
        );
    }
}
