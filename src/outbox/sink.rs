//! The production [`Sink`]: rows published through the [`Publisher`] to their stored topic
//! or queue name, with their FIFO ids and message attributes.
//!
//! A row's body is sent as stored, byte for byte: only the three fields the standard message
//! attributes need (`uuid`, `type`, `publisher`) are read from it, not the whole envelope.

use std::borrow::Cow;
use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use uuid::Uuid;

use super::relay::{EntryResult, Sink};
use super::{Row, Target};
use crate::publish::{PublishError, PublishOptions, Publisher, Stored};

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

/// The fields of a stored envelope its standard attributes come from.
#[derive(Deserialize)]
struct Head<'a> {
    uuid: Uuid,
    #[serde(borrow)]
    publisher: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    message_type: Cow<'a, str>,
}

impl Head<'_> {
    /// `event` or `command`, from the type's prefix.
    fn kind(&self) -> Option<&'static str> {
        if self.message_type.starts_with("event_") {
            Some("event")
        } else if self.message_type.starts_with("command_") {
            Some("command")
        } else {
            None
        }
    }
}

/// The envelope head of a row, or why it can never be sent.
fn head(row: &Row) -> Result<(Head<'_>, &'static str), String> {
    let invalid = |e: &dyn std::fmt::Display| {
        format!("row {} does not hold a valid message envelope: {e}", row.id)
    };
    let head: Head<'_> = serde_json::from_str(&row.message).map_err(|e| invalid(&e))?;
    let kind = head
        .kind()
        .ok_or_else(|| invalid(&"its type starts with neither `event_` nor `command_`"))?;
    Ok((head, kind))
}

/// The publish options of a row, or why it can never be sent.
fn options(target: &Target, row: &Row) -> Result<PublishOptions, String> {
    let attributes: BTreeMap<String, String> = match &row.attributes {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| format!("row {} has unreadable message attributes: {e}", row.id))?,
        None => BTreeMap::new(),
    };
    let options = PublishOptions {
        via: target.resource,
        name: Some(target.name.clone()),
        fifo: target.fifo(),
        group_id: row.group_id.clone(),
        deduplication_id: row.deduplication_id.clone(),
        attributes,
        ..PublishOptions::default()
    };
    Ok(options)
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
            match head(row).and_then(|h| Ok((h, options(target, row)?))) {
                Ok((head, options)) => ready.push((i, row, head, options)),
                Err(error) => {
                    results[i] = Some(EntryResult::Failed {
                        error,
                        permanent: true,
                    })
                }
            }
        }
        let stored: Vec<Stored<'_>> = ready
            .iter()
            .map(|(_, row, (head, kind), options)| Stored {
                uuid: head.uuid,
                body: &row.message,
                message_type: &head.message_type,
                kind,
                publisher: &head.publisher,
                options,
            })
            .collect();
        let published = self.publisher.publish_stored(&stored).await;
        for ((i, ..), outcome) in ready.iter().zip(published) {
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

    #[tokio::test]
    async fn stored_bodies_are_sent_as_stored() {
        let publisher = Publisher::fake(NamingDefaults {
            instance: "test".into(),
            publisher: "shop".into(),
        });
        let sink = PublisherSink::new(publisher.clone());
        let target = Target::topic("orders");
        // Spacing and field order of another writer, and a field lariat does not know.
        let body = r#"{ "type": "command_ship", "uuid": "5c3a4c49-ff35-4bb4-b3a1-4dc4a3a9f1a2",
            "data": {"n": 1.50}, "version": 1, "publisher": "shop", "trace": "x" }"#;
        let row = |id, message: &str| Row {
            id,
            target: target.clone(),
            group_id: None,
            deduplication_id: None,
            message: message.to_owned(),
            attributes: None,
            attempts: 0,
        };
        let bad_type = body.replace("command_ship", "ship");
        let results = sink
            .send_batch(&target, &[row(1, body), row(2, &bad_type)])
            .await;
        assert_eq!(results[0], EntryResult::Sent);
        assert!(
            matches!(&results[1], EntryResult::Failed { permanent: true, error } if error.contains("row 2")),
            "{results:?}"
        );
        let sent = publisher.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].body, body, "the body is not rewritten");
        let attribute = |name: &str| sent[0].attributes.get(name).cloned();
        assert_eq!(attribute("type").as_deref(), Some("command_ship"));
        assert_eq!(attribute("kind").as_deref(), Some("command"));
        assert_eq!(attribute("publisher").as_deref(), Some("shop"));

        let null = Publisher::null(NamingDefaults {
            instance: "test".into(),
            publisher: "shop".into(),
        });
        let results = PublisherSink::new(null.clone())
            .send_batch(&target, &[row(3, body), row(4, "[]")])
            .await;
        assert_eq!(results[0], EntryResult::Sent);
        assert_ne!(results[1], EntryResult::Sent);
        assert_eq!(null.dropped(), 1);
        assert!(null.sent().is_empty(), "a null publisher keeps nothing");
    }
}
