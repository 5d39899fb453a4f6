//! Where a [`Consumer`](super::Consumer)'s messages come from: SQS through [`Aws`] in
//! production, or a [`MemoryQueue`] inside the process for tests and benchmarks.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::aws::{Aws, AwsError, QueueInfo, SqsMessage, MAX_BATCH, MAX_WAIT_TIME};
use crate::message::target::is_fifo;

/// The queue calls a consumer makes. [`Aws`] makes them against SQS; implement it to feed a
/// consumer from elsewhere.
#[async_trait]
pub trait Source: Send + Sync + 'static {
    /// Looks the queue up by name: its address, visibility timeout and FIFO flag. An error
    /// here stops the consumer before it starts.
    async fn queue_info(&self, name: &str) -> Result<QueueInfo, AwsError>;

    /// Up to `max` (at most 10) messages, waiting up to `wait` for the first one.
    async fn receive(
        &self,
        url: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<SqsMessage>, AwsError>;

    /// Removes a received message for good.
    async fn delete(&self, url: &str, receipt_handle: &str) -> Result<(), AwsError>;

    /// Removes received messages for good; the default deletes them one by one. (SQS takes
    /// ten in one call.)
    async fn delete_all(&self, url: &str, receipt_handles: &[&str]) -> Result<(), AwsError> {
        for handle in receipt_handles {
            self.delete(url, handle).await?;
        }
        Ok(())
    }

    /// Hides received messages for `timeout` from now (0 hands them out again at once).
    async fn change_visibility(
        &self,
        url: &str,
        receipt_handles: &[&str],
        timeout: Duration,
    ) -> Result<(), AwsError>;
}

#[async_trait]
impl Source for Aws {
    async fn queue_info(&self, name: &str) -> Result<QueueInfo, AwsError> {
        Aws::queue_info(self, name).await
    }

    async fn receive(
        &self,
        url: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<SqsMessage>, AwsError> {
        self.receive_messages(url, max, wait).await
    }

    async fn delete(&self, url: &str, receipt_handle: &str) -> Result<(), AwsError> {
        self.delete_message(url, receipt_handle).await
    }

    async fn delete_all(&self, url: &str, receipt_handles: &[&str]) -> Result<(), AwsError> {
        self.delete_messages(url, receipt_handles).await
    }

    async fn change_visibility(
        &self,
        url: &str,
        receipt_handles: &[&str],
        timeout: Duration,
    ) -> Result<(), AwsError> {
        Aws::change_visibility(self, url, receipt_handles, timeout).await
    }
}

#[async_trait]
impl<S: Source + ?Sized> Source for std::sync::Arc<S> {
    async fn queue_info(&self, name: &str) -> Result<QueueInfo, AwsError> {
        (**self).queue_info(name).await
    }

    async fn receive(
        &self,
        url: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<SqsMessage>, AwsError> {
        (**self).receive(url, max, wait).await
    }

    async fn delete(&self, url: &str, receipt_handle: &str) -> Result<(), AwsError> {
        (**self).delete(url, receipt_handle).await
    }

    async fn delete_all(&self, url: &str, receipt_handles: &[&str]) -> Result<(), AwsError> {
        (**self).delete_all(url, receipt_handles).await
    }

    async fn change_visibility(
        &self,
        url: &str,
        receipt_handles: &[&str],
        timeout: Duration,
    ) -> Result<(), AwsError> {
        (**self)
            .change_visibility(url, receipt_handles, timeout)
            .await
    }
}

/// A queue inside the process, with SQS's delivery rules: a received message is hidden for
/// the visibility timeout and comes back (its receive count raised) unless deleted first; on
/// a FIFO queue (name ending in `.fifo`) no message of a group is handed out while another of
/// that group is hidden. For tests of handlers, and for measuring a consumer without a network.
/// Give the consumer an `Arc<MemoryQueue>` to keep a handle for sending and counting.
///
/// ```
/// # async fn demo() {
/// use lariat::inbox::{MemoryQueue, Source};
/// let queue = MemoryQueue::new("orders");
/// queue.send(r#"{"not": "an envelope"}"#);
/// let got = queue.receive("orders", 10, std::time::Duration::ZERO).await.unwrap();
/// assert_eq!(got.len(), 1);
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryQueue {
    name: String,
    visibility: Duration,
    state: Mutex<State>,
    arrived: Notify,
}

#[derive(Debug, Default)]
struct State {
    waiting: VecDeque<SqsMessage>,
    hidden: HashMap<String, (Instant, SqsMessage)>,
    next_id: u64,
    deleted: usize,
}

impl MemoryQueue {
    /// An empty queue called `name`, with SQS's default visibility timeout of 30 s.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            visibility: Duration::from_secs(30),
            state: Mutex::default(),
            arrived: Notify::new(),
        }
    }

    /// Sets the visibility timeout.
    #[must_use]
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility = timeout;
        self
    }

    /// Adds a message with this body.
    pub fn send(&self, body: impl Into<String>) {
        self.push(body.into(), None);
    }

    /// Adds a message with this body to a FIFO message group.
    pub fn send_to_group(&self, body: impl Into<String>, group_id: impl Into<String>) {
        self.push(body.into(), Some(group_id.into()));
    }

    fn push(&self, body: String, group_id: Option<String>) {
        let mut state = self.lock();
        state.next_id += 1;
        let id = format!("memory-{}", state.next_id);
        state.waiting.push_back(SqsMessage {
            message_id: id,
            receipt_handle: String::new(),
            body,
            group_id,
            receive_count: 0,
        });
        drop(state);
        self.arrived.notify_waiters();
    }

    /// Messages waiting to be received (hidden ones not included).
    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Messages received and neither deleted nor visible again yet.
    pub fn hidden(&self) -> usize {
        self.lock().hidden.len()
    }

    /// Messages deleted so far.
    pub fn deleted(&self) -> usize {
        self.lock().deleted
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fifo(&self) -> bool {
        is_fifo(&self.name)
    }

    /// Takes up to `max` visible messages, first returning expired hidden ones to the queue.
    fn take(&self, max: usize) -> Vec<SqsMessage> {
        let now = Instant::now();
        let mut state = self.lock();
        let State {
            waiting, hidden, ..
        } = &mut *state;
        if hidden.values().any(|(until, _)| *until <= now) {
            let mut back: Vec<SqsMessage> = Vec::new();
            hidden.retain(|_, (until, message)| {
                if *until <= now {
                    back.push(message.clone());
                    false
                } else {
                    true
                }
            });
            // Back to the front, oldest first, as SQS redelivers them before newer ones.
            back.sort_by_key(|m| message_number(&m.message_id));
            for message in back.into_iter().rev() {
                waiting.push_front(message);
            }
        }
        let mut busy: HashSet<String> = if self.fifo() {
            hidden
                .values()
                .filter_map(|(_, m)| m.group_id.clone())
                .collect()
        } else {
            HashSet::new()
        };
        let mut taken = Vec::new();
        let mut i = 0;
        while taken.len() < max && i < waiting.len() {
            let blocked = self.fifo()
                && waiting[i]
                    .group_id
                    .as_ref()
                    .is_some_and(|g| busy.contains(g) && !taken_group(&taken, g));
            if blocked {
                i += 1;
                continue;
            }
            let Some(mut message) = waiting.remove(i) else {
                break;
            };
            message.receive_count += 1;
            message.receipt_handle = format!("{}#{}", message.message_id, message.receive_count);
            hidden.insert(
                message.receipt_handle.clone(),
                (now + self.visibility, message.clone()),
            );
            if let Some(group) = &message.group_id {
                busy.insert(group.clone());
            }
            taken.push(message);
        }
        taken
    }
}

/// Whether this receive already took a message of `group` (its later ones may follow).
fn taken_group(taken: &[SqsMessage], group: &str) -> bool {
    taken.iter().any(|m| m.group_id.as_deref() == Some(group))
}

fn message_number(id: &str) -> u64 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[async_trait]
impl Source for MemoryQueue {
    async fn queue_info(&self, name: &str) -> Result<QueueInfo, AwsError> {
        if name != self.name {
            return Err(AwsError::failed(
                "sqs:GetQueueUrl",
                name,
                Some("AWS.SimpleQueueService.NonExistentQueue"),
                format!("this memory queue is called {}", self.name),
            ));
        }
        Ok(QueueInfo {
            url: self.name.clone(),
            visibility_timeout: self.visibility,
            fifo: self.fifo(),
        })
    }

    async fn receive(
        &self,
        _url: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<SqsMessage>, AwsError> {
        let max = max.clamp(1, MAX_BATCH);
        let deadline = Instant::now() + wait.min(MAX_WAIT_TIME);
        loop {
            let arrived = self.arrived.notified();
            let taken = self.take(max);
            let now = Instant::now();
            if !taken.is_empty() || now >= deadline {
                return Ok(taken);
            }
            // Also wake to hand out messages whose visibility ran out.
            let pause = (deadline - now).min(Duration::from_millis(50));
            let _ = tokio::time::timeout(pause, arrived).await;
        }
    }

    async fn delete(&self, _url: &str, receipt_handle: &str) -> Result<(), AwsError> {
        let mut state = self.lock();
        if state.hidden.remove(receipt_handle).is_some() {
            state.deleted += 1;
        }
        // SQS answers a stale receipt handle without an error too.
        Ok(())
    }

    async fn change_visibility(
        &self,
        _url: &str,
        receipt_handles: &[&str],
        timeout: Duration,
    ) -> Result<(), AwsError> {
        let until = Instant::now() + timeout;
        let mut state = self.lock();
        for handle in receipt_handles {
            if let Some((at, _)) = state.hidden.get_mut(*handle) {
                *at = until;
            }
        }
        drop(state);
        if timeout.is_zero() {
            self.arrived.notify_waiters();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hidden_messages_come_back_unless_deleted() {
        let queue = MemoryQueue::new("q").visibility_timeout(Duration::from_secs(60));
        queue.send("a");
        queue.send("b");
        let got = queue
            .receive("q", 10, Duration::ZERO)
            .await
            .unwrap_or_default();
        assert_eq!(got.len(), 2);
        assert_eq!((queue.waiting(), queue.hidden()), (0, 2));
        queue.delete("q", &got[0].receipt_handle).await.ok();
        queue
            .change_visibility("q", &[&got[1].receipt_handle], Duration::ZERO)
            .await
            .ok();
        let again = queue
            .receive("q", 10, Duration::ZERO)
            .await
            .unwrap_or_default();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].body.as_str(), again[0].receive_count), ("b", 2));
        assert_eq!(queue.deleted(), 1);
    }

    #[tokio::test]
    async fn a_fifo_group_waits_while_one_of_its_messages_is_hidden() {
        let queue = MemoryQueue::new("q.fifo");
        queue.send_to_group("a1", "a");
        queue.send_to_group("b1", "b");
        queue.send_to_group("a2", "a");
        let first = queue
            .receive("q.fifo", 1, Duration::ZERO)
            .await
            .unwrap_or_default();
        assert_eq!(first[0].body, "a1");
        let next = queue
            .receive("q.fifo", 10, Duration::ZERO)
            .await
            .unwrap_or_default();
        let bodies: Vec<&str> = next.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["b1"], "a2 waits behind a1");
        queue.delete("q.fifo", &first[0].receipt_handle).await.ok();
        let last = queue
            .receive("q.fifo", 10, Duration::ZERO)
            .await
            .unwrap_or_default();
        assert_eq!(last[0].body, "a2");
        assert!(queue.queue_info("other").await.is_err());
    }
}
