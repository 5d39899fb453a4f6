//! Sending checked messages: grouped per target into batch calls of at most
//! [`MAX_BATCH_ENTRIES`] messages and the size limit, FIFO targets one call after the other
//! with a failed group's later messages held back, and AWS's answers matched to each message.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use futures::stream::{self, StreamExt};
use uuid::Uuid;

use super::check::{finish, message_size, StandardAttributes};
use super::fake::{drop_message, record};
use super::options::named_target;
use super::{
    PublishError, PublishOptions, Published, Publisher, Target, Transport, MAX_BATCH_ENTRIES,
};
use crate::aws::publish::{Accepted, BatchOutcome, Destination, OutMessage};
use crate::aws::Aws;
use crate::message::Envelope;
use crate::naming::ResourceKind;

/// One message of a batch, ready to send, with its place in the caller's input.
pub(super) struct Entry {
    pub(super) index: usize,
    pub(super) uuid: Uuid,
    pub(super) out: OutMessage,
    /// Kept for the record of a fake publisher only.
    pub(super) envelope: Option<Envelope>,
}

/// A message in its wire form already (an outbox row's stored body), with the envelope
/// fields its standard attributes come from; sent as it is, without being read again.
#[derive(Debug)]
pub(crate) struct Stored<'a> {
    /// The envelope's uuid.
    pub uuid: Uuid,
    /// The envelope as JSON text.
    pub body: &'a str,
    /// `event_…` or `command_…`.
    pub message_type: &'a str,
    /// `event` or `command`.
    pub kind: &'static str,
    /// The envelope's publisher.
    pub publisher: &'a str,
    /// Where it goes: [`PublishOptions::name`] must be set.
    pub options: &'a PublishOptions,
}

pub(super) type Outcome = (usize, Result<Published, PublishError>);

/// A checked message: its target, uuid, wire form and (for a recording fake) envelope.
pub(super) type Prepared = Result<(Target, Uuid, OutMessage, Option<Envelope>), PublishError>;

impl Publisher {
    /// Publishes messages whose bodies are serialized already, as they are, like
    /// [`Publisher::publish_many`]. A fake publisher records each with the envelope it reads
    /// as.
    pub(crate) async fn publish_stored(
        &self,
        messages: &[Stored<'_>],
    ) -> Vec<Result<Published, PublishError>> {
        let prepared = messages.iter().map(|m| {
            let options = m.options;
            let name = options.name.as_deref().unwrap_or_default();
            let target = named_target(options.via, name, options.fifo)?;
            let standard = StandardAttributes {
                message_type: m.message_type,
                kind: m.kind,
                publisher: m.publisher,
            };
            let body = m.body.to_owned();
            let out = finish(
                m.uuid,
                body,
                &standard,
                options,
                &target,
                self.max_message_bytes,
            )?;
            Ok((target, m.uuid, out, None))
        });
        self.send_prepared(prepared.collect()).await
    }

    /// Sends checked messages per target, in batch calls; one result per message, in order.
    pub(super) async fn send_prepared(
        &self,
        prepared: Vec<Prepared>,
    ) -> Vec<Result<Published, PublishError>> {
        let mut results: Vec<Option<Result<Published, PublishError>>> =
            (0..prepared.len()).map(|_| None).collect();
        let mut by_target: Vec<(Target, Vec<Entry>)> = Vec::new();
        for (index, prepared) in prepared.into_iter().enumerate() {
            let (target, uuid, mut out, envelope) = match prepared {
                Ok(p) => p,
                Err(e) => {
                    results[index] = Some(Err(e));
                    continue;
                }
            };
            out.id = index.to_string();
            let entry = Entry {
                index,
                uuid,
                out,
                envelope,
            };
            match by_target.iter_mut().find(|(t, _)| *t == target) {
                Some((_, entries)) => entries.push(entry),
                None => by_target.push((target, vec![entry])),
            }
        }
        let sends = by_target
            .into_iter()
            .map(|(target, entries)| self.send_to_target(target, entries));
        for (index, result) in futures::future::join_all(sends).await.into_iter().flatten() {
            results[index] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| unreachable!("every message gets a result")))
            .collect()
    }

    async fn send_to_target(&self, target: Target, entries: Vec<Entry>) -> Vec<Outcome> {
        let sizes: Vec<usize> = entries.iter().map(|e| message_size(&e.out)).collect();
        let ranges = chunk_ranges(&sizes, MAX_BATCH_ENTRIES, self.max_message_bytes);
        let mut entries = entries.into_iter();
        let chunks: Vec<Vec<Entry>> = ranges
            .iter()
            .map(|r| entries.by_ref().take(r.len()).collect())
            .collect();
        if !target.fifo() {
            return stream::iter(chunks)
                .map(|chunk| self.send_chunk(&target, chunk))
                .buffered(self.max_in_flight)
                .flat_map(stream::iter)
                .collect()
                .await;
        }
        let mut failed_groups: HashMap<String, Uuid> = HashMap::new();
        let mut outcomes = Vec::new();
        for chunk in chunks {
            let (blocked, to_send): (Vec<Entry>, Vec<Entry>) = chunk
                .into_iter()
                .partition(|e| group_of(e).is_some_and(|g| failed_groups.contains_key(g)));
            for entry in blocked {
                let group_id = group_of(&entry).unwrap_or_default().to_owned();
                let failed = failed_groups.get(&group_id).copied().unwrap_or_default();
                let err = PublishError::NotSent {
                    target: target.clone(),
                    uuid: entry.uuid,
                    group_id,
                    failed,
                };
                outcomes.push((entry.index, Err(err)));
            }
            let groups: HashMap<usize, (String, Uuid)> = to_send
                .iter()
                .filter_map(|e| group_of(e).map(|g| (e.index, (g.to_owned(), e.uuid))))
                .collect();
            for (index, result) in self.send_chunk(&target, to_send).await {
                if let (Err(_), Some((group, uuid))) = (&result, groups.get(&index)) {
                    failed_groups.entry(group.clone()).or_insert(*uuid);
                }
                outcomes.push((index, result));
            }
        }
        outcomes
    }

    async fn send_chunk(&self, target: &Target, chunk: Vec<Entry>) -> Vec<Outcome> {
        if chunk.is_empty() {
            return Vec::new();
        }
        let aws = match &*self.transport {
            Transport::Fake(log) => {
                return chunk
                    .into_iter()
                    .map(|e| (e.index, record(log, target, e)))
                    .collect();
            }
            Transport::Null(count) => {
                return chunk
                    .into_iter()
                    .map(|e| (e.index, Ok(drop_message(count, target, e.uuid))))
                    .collect();
            }
            Transport::Aws(aws) => aws,
        };
        let address = self.address(aws, target);
        let outs: Vec<OutMessage> = chunk.iter().map(|e| e.out.clone()).collect();
        match aws
            .send_message_batch(destination(target, &address), &outs)
            .await
        {
            Ok(outcome) => match_outcome(target, &chunk, outcome),
            Err(err) => {
                let err = PublishError::from_aws(err, target);
                chunk.iter().map(|e| (e.index, Err(err.clone()))).collect()
            }
        }
    }

    /// The topic ARN or queue URL, built once per name.
    pub(super) fn address(&self, aws: &Aws, target: &Target) -> Arc<str> {
        let mut cache = self
            .addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache
            .entry((target.resource, target.name.clone()))
            .or_insert_with(|| {
                match target.resource {
                    ResourceKind::Topic => aws.arns().topic(&target.name),
                    ResourceKind::Queue => aws.queue_url(&target.name),
                }
                .into()
            })
            .clone()
    }
}

fn group_of(entry: &Entry) -> Option<&str> {
    entry.out.group_id.as_deref()
}

pub(super) fn destination<'a>(target: &Target, address: &'a str) -> Destination<'a> {
    match target.resource {
        ResourceKind::Topic => Destination::Topic(address),
        ResourceKind::Queue => Destination::Queue(address),
    }
}

pub(super) fn published(uuid: Uuid, accepted: Accepted, target: &Target) -> Published {
    Published {
        uuid,
        message_id: accepted.message_id,
        sequence_number: accepted.sequence_number,
        target: target.clone(),
    }
}

/// Pairs a batch answer with the entries sent, by entry id.
fn match_outcome(target: &Target, chunk: &[Entry], outcome: BatchOutcome) -> Vec<Outcome> {
    let mut accepted: HashMap<String, Accepted> = outcome
        .successful
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let mut failed: HashMap<String, _> = outcome
        .failed
        .into_iter()
        .map(|f| (f.id.clone(), f))
        .collect();
    chunk
        .iter()
        .map(|e| {
            let result = if let Some(a) = accepted.remove(&e.out.id) {
                Ok(published(e.uuid, a, target))
            } else if let Some(f) = failed.remove(&e.out.id) {
                Err(PublishError::Rejected {
                    target: target.clone(),
                    uuid: e.uuid,
                    code: f.code,
                    message: f.message,
                    sender_fault: f.sender_fault,
                })
            } else {
                Err(PublishError::NoAnswer {
                    target: target.clone(),
                    uuid: e.uuid,
                })
            };
            (e.index, result)
        })
        .collect()
}

/// Splits messages of the given sizes, in order, into runs of at most `max_count` messages
/// and `max_bytes` bytes (a single message over `max_bytes` gets a run of its own).
pub fn chunk_ranges(
    sizes: &[usize],
    max_count: usize,
    max_bytes: usize,
) -> Vec<std::ops::Range<usize>> {
    let max_count = max_count.max(1);
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        let full = i - start == max_count || (i > start && bytes + size > max_bytes);
        if full {
            ranges.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        ranges.push(start..sizes.len());
    }
    ranges
}
