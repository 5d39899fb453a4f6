//! The calls of legacy deletes and restores, from the record `migrate` made of the resource.

use super::Call;
use crate::topology::{Legacy, LegacyKey};

/// Removes the recorded subscriptions (an emulator may leave them behind a deleted topic;
/// AWS leaves a deleted queue's), then the resource.
pub fn delete_calls(legacy: &Legacy) -> Vec<Call> {
    let subscriptions = legacy.record.iter().flat_map(|r| &r.subscriptions);
    let mut out: Vec<Call> = subscriptions
        .map(|s| Call::Unsubscribe {
            topic: s.topic.clone(),
            endpoint: s.endpoint.clone(),
        })
        .collect();
    match &legacy.key {
        LegacyKey::Topic(name) => out.push(Call::DeleteTopic { name: name.clone() }),
        LegacyKey::Queue(name) => out.push(Call::DeleteQueue { name: name.clone() }),
        LegacyKey::Subscription(key) => {
            if out.is_empty() {
                out.push(Call::Unsubscribe {
                    topic: key.topic.clone(),
                    endpoint: key.endpoint.clone(),
                });
            }
        }
    }
    out
}

/// Recreates the resource with its recorded attributes and tags, then its subscriptions;
/// nothing when there is no record (nothing was there to delete).
pub fn restore_calls(legacy: &Legacy) -> Vec<Call> {
    let Some(record) = &legacy.record else {
        return Vec::new();
    };
    let mut out = match &legacy.key {
        LegacyKey::Topic(name) => vec![Call::CreateTopic {
            name: name.clone(),
            attributes: record.attributes.clone(),
            tags: record.tags.clone(),
        }],
        LegacyKey::Queue(name) => vec![Call::CreateQueue {
            name: name.clone(),
            attributes: record.attributes.clone(),
            tags: record.tags.clone(),
            tolerated: Vec::new(),
            allow_topics: Vec::new(),
        }],
        LegacyKey::Subscription(_) => Vec::new(),
    };
    out.extend(record.subscriptions.iter().map(|s| Call::Subscribe {
        topic: s.topic.clone(),
        endpoint: s.endpoint.clone(),
        attributes: s.attributes.clone(),
    }));
    out
}
