//! The production [`Sink`]: rows published through the [`Publisher`] to their stored topic
//! or queue name, with their FIFO ids and message attributes.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::relay::{EntryResult, Sink};
use super::{Row, Target};
use crate::message::Envelope;
use crate::naming::ResourceKind;
use crate::publish::{PublishError, PublishOptions, Publisher, Via};

/// Sends relay batches with a [`Publisher`] (one batch call per batch; a fake publisher
/// records them instead).
#[derive(Debug, Clone)]
pub struct PublisherSink {
    publisher: Publisher,
}

impl PublisherSink {
    /// A sink over `publisher`.
    pub fn new(publisher: Publisher) -> Self {
        Self { publisher }
    }

    /// The publisher.
    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }
}

/// The envelope and publish options of a row, or why it can never be sent.
fn prepare(target: &Target, row: &Row) -> Result<(Envelope, PublishOptions), String> {
    let envelope = Envelope::from_json(&row.message)
        .map_err(|e| format!("row {} does not hold a valid message envelope: {e}", row.id))?;
    let attributes: BTreeMap<String, String> = match &row.attributes {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| format!("row {} has unreadable message attributes: {e}", row.id))?,
        None => BTreeMap::new(),
    };
    let options = PublishOptions {
        via: match target.resource {
            ResourceKind::Topic => Via::Topic,
            ResourceKind::Queue => Via::Queue,
        },
        name: Some(target.name.clone()),
        fifo: target.fifo(),
        group_id: row.group_id.clone(),
        deduplication_id: row.deduplication_id.clone(),
        attributes,
        ..PublishOptions::default()
    };
    Ok((envelope, options))
}

/// Whether no retry can help. A missing target is retried: the migration creating it may
/// simply not have run yet.
fn permanent(error: &PublishError) -> bool {
    !error.is_transient() && !matches!(error, PublishError::NotFound { .. })
}

#[async_trait]
impl Sink for PublisherSink {
    async fn send_batch(&self, target: &Target, rows: &[Row]) -> Vec<EntryResult> {
        let mut results: Vec<Option<EntryResult>> = vec![None; rows.len()];
        let mut ready = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            match prepare(target, row) {
                Ok(prepared) => ready.push((i, prepared)),
                Err(error) => {
                    results[i] = Some(EntryResult::Failed {
                        error,
                        permanent: true,
                    })
                }
            }
        }
        let items: Vec<(&Envelope, &PublishOptions)> =
            ready.iter().map(|(_, (e, o))| (e, o)).collect();
        let published = self.publisher.publish_many(&items).await;
        for ((i, _), outcome) in ready.iter().zip(published) {
            results[*i] = Some(match outcome {
                Ok(_) => EntryResult::Sent,
                Err(error) => EntryResult::Failed {
                    permanent: permanent(&error),
                    error: error.to_string(),
                },
            });
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or(EntryResult::Failed {
                    error: "the publisher returned no result".into(),
                    permanent: false,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Event;
    use crate::naming::NamingDefaults;
    use serde_json::json;

    #[tokio::test]
    async fn rows_go_to_their_stored_target_with_their_ids() {
        let publisher = Publisher::fake(NamingDefaults {
            instance: "test".into(),
            publisher: "shop".into(),
        });
        let sink = PublisherSink::new(publisher.clone());
        let envelope = Event::new("order_placed", json!({"n": 1}))
            .publisher("shop")
            .build()
            .expect("valid");
        let target = Target::queue("orders.fifo");
        let row = |id, message: String| Row {
            id,
            target: target.clone(),
            group_id: Some("g".into()),
            deduplication_id: Some(format!("d{id}")),
            message,
            attributes: Some(r#"{"tenant":"7"}"#.into()),
            attempts: 0,
        };
        let results = sink
            .send_batch(
                &target,
                &[row(1, envelope.to_json()), row(2, "not json".into())],
            )
            .await;
        assert_eq!(results[0], EntryResult::Sent);
        assert!(matches!(
            &results[1],
            EntryResult::Failed {
                permanent: true,
                ..
            }
        ));
        let sent = publisher.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].target.name, "orders.fifo");
        assert_eq!(sent[0].group_id.as_deref(), Some("g"));
        assert_eq!(sent[0].deduplication_id.as_deref(), Some("d1"));
        assert_eq!(
            sent[0].attributes.get("tenant").map(String::as_str),
            Some("7")
        );
    }
}
