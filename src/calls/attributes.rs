//! The attributes and tags lariat declares on topics, queues and subscriptions, AWS's defaults
//! for them, and how a declared value compares with what AWS reports.

use std::collections::BTreeMap;

use crate::migration::{DeduplicationScope, FifoThroughputLimit, FilterPolicyScope};
use crate::naming::{Arns, ParsedName};
use crate::topology::{Queue, RedriveAllow, Subscription, Tags, Topic};

/// AWS attribute name to value.
pub type Attributes = BTreeMap<String, String>;

/// Every tag key lariat may put on what it creates ([`resource_tags`]); a user tag with one of
/// these keys is overwritten.
pub const LARIAT_TAGS: [&str; 8] = [
    "managed_by",
    "standard",
    "instance",
    "kind",
    "publisher",
    "type",
    "fifo",
    "dest",
];

/// The tags lariat puts on what it creates, as the Ruby gem does, plus `managed_by`.
pub fn resource_tags(naming: &ParsedName, user: &Tags) -> Tags {
    let mut tags = user.clone();
    tags.insert("managed_by".into(), "lariat".into());
    tags.insert("fifo".into(), naming.fifo().to_string());
    match naming {
        ParsedName::Standard(p) => {
            tags.insert("standard".into(), "true".into());
            tags.insert("instance".into(), p.instance.clone());
            tags.insert("kind".into(), p.kind.to_string());
            tags.insert("publisher".into(), p.publisher.clone());
            tags.insert("type".into(), p.message_type.clone());
            if let Some(dest) = &p.dest {
                tags.insert("dest".into(), dest.clone());
            }
        }
        ParsedName::Custom { .. } => {
            tags.insert("standard".into(), "false".into());
        }
    }
    tags
}

/// Topic attributes that only `CreateTopic` sets ([`topic_attributes`] with `create`): a topic
/// that differs in one must be deleted and created again, which lariat leaves to a person.
pub const TOPIC_CREATE_ONLY: &[&str] = &["FifoTopic"];

/// Topic attributes lariat declares ([`topic_attributes`] without `create`): an existing topic
/// that has one the files leave unset gets the AWS default, as `lariat drift` expects.
pub const TOPIC_DECLARABLE: &[&str] =
    &["ContentBasedDeduplication", "DisplayName", "KmsMasterKeyId"];

/// Topic attributes as AWS names them; `create` adds the ones only CreateTopic takes.
pub fn topic_attributes(topic: &Topic, create: bool) -> Attributes {
    let a = &topic.attributes;
    let mut out = Attributes::new();
    if create && topic.fifo() {
        out.insert("FifoTopic".into(), "true".into());
    }
    put(
        &mut out,
        "ContentBasedDeduplication",
        a.content_based_deduplication,
    );
    put(&mut out, "DisplayName", a.display_name.as_ref());
    put(&mut out, "KmsMasterKeyId", a.kms_master_key_id.as_ref());
    out
}

/// Queue attributes as AWS names them; `create` adds the ones only CreateQueue takes.
pub fn queue_attributes(queue: &Queue, arns: &Arns, create: bool) -> Attributes {
    let a = &queue.attributes;
    let mut out = Attributes::new();
    if create && queue.fifo() {
        out.insert("FifoQueue".into(), "true".into());
    }
    put(&mut out, "VisibilityTimeout", a.visibility_timeout);
    put(
        &mut out,
        "MessageRetentionPeriod",
        a.message_retention_period,
    );
    put(&mut out, "MaximumMessageSize", a.maximum_message_size);
    put(&mut out, "DelaySeconds", a.delay_seconds);
    put(
        &mut out,
        "ReceiveMessageWaitTimeSeconds",
        a.receive_message_wait_time,
    );
    if let Some(d) = &a.dead_letter {
        let policy = serde_json::json!({
            "deadLetterTargetArn": arns.queue(&d.queue),
            "maxReceiveCount": d.max_receive_count,
        });
        out.insert("RedrivePolicy".into(), policy.to_string());
    }
    if let Some(allow) = &a.redrive_allow {
        let policy = match allow {
            RedriveAllow::AllowAll => serde_json::json!({"redrivePermission": "allowAll"}),
            RedriveAllow::DenyAll => serde_json::json!({"redrivePermission": "denyAll"}),
            RedriveAllow::ByQueue(queues) => serde_json::json!({
                "redrivePermission": "byQueue",
                "sourceQueueArns": queues.iter().map(|q| arns.queue(q)).collect::<Vec<_>>(),
            }),
        };
        out.insert("RedriveAllowPolicy".into(), policy.to_string());
    }
    put(
        &mut out,
        "ContentBasedDeduplication",
        a.content_based_deduplication,
    );
    put(
        &mut out,
        "DeduplicationScope",
        a.deduplication_scope
            .as_ref()
            .map(DeduplicationScope::as_aws),
    );
    put(
        &mut out,
        "FifoThroughputLimit",
        a.fifo_throughput_limit
            .as_ref()
            .map(FifoThroughputLimit::as_aws),
    );
    put(&mut out, "KmsMasterKeyId", a.kms_master_key_id.as_ref());
    put(
        &mut out,
        "KmsDataKeyReusePeriodSeconds",
        a.kms_data_key_reuse_period,
    );
    put(&mut out, "SqsManagedSseEnabled", a.sqs_managed_sse);
    out
}

/// Subscription attributes as AWS names them.
pub fn subscription_attributes(sub: &Subscription, arns: &Arns) -> Attributes {
    let a = &sub.attributes;
    let mut out = Attributes::new();
    put(&mut out, "RawMessageDelivery", a.raw_message_delivery);
    if let Some(policy) = &a.filter_policy {
        out.insert("FilterPolicy".into(), policy.to_string());
    }
    put(
        &mut out,
        "FilterPolicyScope",
        a.filter_policy_scope
            .as_ref()
            .map(FilterPolicyScope::as_aws),
    );
    if let Some(dlq) = &a.dead_letter_queue {
        let policy = serde_json::json!({ "deadLetterTargetArn": arns.queue(dlq) });
        out.insert("RedrivePolicy".into(), policy.to_string());
    }
    out
}

fn put(out: &mut Attributes, key: &str, value: Option<impl ToString>) {
    if let Some(v) = value {
        out.insert(key.to_owned(), v.to_string());
    }
}

/// The value that returns a queue attribute to what AWS gives a new queue.
pub fn queue_default(key: &str) -> String {
    match key {
        "VisibilityTimeout" => "30",
        "MessageRetentionPeriod" => "345600",
        "MaximumMessageSize" => "262144",
        "DelaySeconds" | "ReceiveMessageWaitTimeSeconds" => "0",
        "RedriveAllowPolicy" => r#"{"redrivePermission":"allowAll"}"#,
        "ContentBasedDeduplication" | "SqsManagedSseEnabled" => "false",
        "DeduplicationScope" => "queue",
        "FifoThroughputLimit" => "perQueue",
        "KmsDataKeyReusePeriodSeconds" => "300",
        _ => "",
    }
    .to_owned()
}

/// The value that returns a topic attribute to what AWS gives a new topic.
pub fn topic_default(key: &str) -> String {
    match key {
        "ContentBasedDeduplication" => "false",
        _ => "",
    }
    .to_owned()
}

/// The value that returns a subscription attribute to what AWS gives a new subscription.
pub fn subscription_default(key: &str) -> String {
    match key {
        "RawMessageDelivery" => "false",
        "FilterPolicyScope" => "MessageAttributes",
        "FilterPolicy" => "{}",
        _ => "",
    }
    .to_owned()
}

/// Attributes whose value differs between `before` and `after`; removed ones get the default.
pub(super) fn changed(
    before: &Attributes,
    after: &Attributes,
    default: fn(&str) -> String,
) -> Attributes {
    let mut out = Attributes::new();
    for (key, value) in after {
        if before.get(key) != Some(value) {
            out.insert(key.clone(), value.clone());
        }
    }
    for key in before.keys() {
        if !after.contains_key(key) {
            out.insert(key.clone(), default(key));
        }
    }
    out
}

pub(super) fn tag_changes(before: &Tags, after: &Tags) -> (Tags, Vec<String>) {
    let set = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let unset = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    (set, unset)
}

/// The expected value of `key` when the `actual` one differs from it, each side falling back
/// to the AWS default (`default`) where it has no value; `None` when they match.
pub fn attribute_difference(
    key: &str,
    declared: Option<&String>,
    actual: Option<&String>,
    default: impl Fn(&str) -> String,
) -> Option<String> {
    let expected = declared.cloned().unwrap_or_else(|| default(key));
    let found = actual.cloned().unwrap_or_else(|| default(key));
    (!attribute_matches(key, &expected, Some(&found))).then_some(expected)
}

/// Whether an attribute's `actual` value (`None` when AWS has none) is the `declared` one.
/// JSON values (`*Policy` attributes) compare as JSON: AWS may reorder keys or change number
/// formatting.
pub fn attribute_matches(key: &str, declared: &str, actual: Option<&str>) -> bool {
    let Some(actual) = actual else {
        return declared.is_empty();
    };
    if declared == actual {
        return true;
    }
    if key.ends_with("Policy") {
        let parse = |s: &str| {
            serde_json::from_str::<serde_json::Value>(s)
                .ok()
                .map(normalize_json)
        };
        return parse(declared).is_some() && parse(declared) == parse(actual);
    }
    false
}

/// Numbers written as strings (`"maxReceiveCount":"5"`) compare equal to numbers.
fn normalize_json(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => match s.parse::<i64>() {
            Ok(n) => n.into(),
            Err(_) => serde_json::Value::String(s),
        },
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| (k, normalize_json(v)))
            .collect(),
        serde_json::Value::Array(list) => list.into_iter().map(normalize_json).collect(),
        other => other,
    }
}
