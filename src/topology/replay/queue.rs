//! `[[create_queue]]`, `[[change_queue]]` and `[[delete_queue]]`: a queue's attributes, its
//! dead-letter queue and redrive-allow policy, the rules between them, and what a delete must
//! find unused.

use super::lifecycle::{declared_alike, set_keys, Declared, Table};
use super::problem::{fifo_mismatch, fifo_only, unknown_unset, Checked, Problem};
use super::values::{check_range, check_tags, overlay_tags, set, set_ranged};
use super::Replay;
use crate::migration::{DeduplicationScope, FifoThroughputLimit, QueueSpec, RedriveAllowSpec};
use crate::naming::{ParsedName, ResourceKind};
use crate::topology::{
    DeadLetter, External, Operation, Queue, QueueAttributes, RedriveAllow, Topology,
};

impl Declared for Queue {
    const KIND: ResourceKind = ResourceKind::Queue;
    const PARTS: &'static str = "type, dest, publisher, kind and fifo";

    declared_alike!(
        queues,
        QueueAttributes,
        CreateQueue,
        ChangeQueue,
        DeleteQueue
    );

    fn check_unused(&self, state: &Topology) -> Checked<()> {
        let subs = state.subscriptions_of(ResourceKind::Queue, &self.name);
        if let Some(sub) = subs.first() {
            return Err(
                Problem::new(format!("queue {} is still subscribed: {sub}", self.name))
                    .help("add an [[unsubscribe]] for it in this or an earlier migration"),
            );
        }
        let users = state.dead_letter_users(&self.name);
        if let Some(user) = users.first() {
            return Err(Problem::new(format!("queue {} is the dead-letter queue of {user}", self.name))
                .help("delete that queue first, or move its dead_letter_queue elsewhere with [[change_queue]]"));
        }
        Ok(())
    }
}

fn table(spec: &QueueSpec) -> Table<'_, '_> {
    Table {
        id: spec.into(),
        legacy: spec.legacy,
        unset: &spec.unset,
    }
}

impl Replay<'_> {
    pub(super) fn create_queue(&self, spec: &QueueSpec, state: &Topology) -> Checked<Operation> {
        self.create(table(spec), state, |queue| {
            self.overlay_queue(queue, spec, state)
        })
    }

    pub(super) fn change_queue(&self, spec: &QueueSpec, state: &Topology) -> Checked<Operation> {
        self.change(table(spec), state, |queue| {
            self.overlay_queue(queue, spec, state)
        })
    }

    pub(super) fn delete_queue(&self, spec: &QueueSpec, state: &Topology) -> Checked<Operation> {
        self.delete::<Queue>(table(spec), &attribute_keys(spec), state)
    }

    /// Applies a queue spec's attributes to `queue` (a new one, or the existing one to change).
    fn overlay_queue(
        &self,
        mut queue: Queue,
        spec: &QueueSpec,
        state: &Topology,
    ) -> Checked<Queue> {
        let (name, fifo) = (queue.name.clone(), queue.fifo());
        let a = &mut queue.attributes;
        set_ranged(
            &mut a.visibility_timeout,
            spec.visibility_timeout,
            "visibility_timeout",
            0,
            43_200,
        )?;
        set_ranged(
            &mut a.message_retention_period,
            spec.message_retention_period,
            "message_retention_period",
            60,
            1_209_600,
        )?;
        set_ranged(
            &mut a.maximum_message_size,
            spec.maximum_message_size,
            "maximum_message_size",
            1024,
            1_048_576,
        )?;
        set_ranged(
            &mut a.delay_seconds,
            spec.delay_seconds,
            "delay_seconds",
            0,
            900,
        )?;
        set_ranged(
            &mut a.receive_message_wait_time,
            spec.receive_message_wait_time,
            "receive_message_wait_time",
            0,
            20,
        )?;
        set_ranged(
            &mut a.kms_data_key_reuse_period,
            spec.kms_data_key_reuse_period,
            "kms_data_key_reuse_period",
            60,
            86_400,
        )?;
        set(&mut a.kms_master_key_id, spec.kms_master_key_id.clone());
        set(&mut a.sqs_managed_sse, spec.sqs_managed_sse);
        set(
            &mut a.content_based_deduplication,
            spec.content_based_deduplication,
        );
        set(&mut a.deduplication_scope, spec.deduplication_scope.clone());
        set(
            &mut a.fifo_throughput_limit,
            spec.fifo_throughput_limit.clone(),
        );
        if let Some(dlq_ref) = &spec.dead_letter_queue {
            let dlq = self.dead_letter_queue(dlq_ref.into(), state)?;
            if dlq.name == name {
                return Err(Problem::new("a queue cannot be its own dead-letter queue").help("create a separate queue for failed messages and name it in `dead_letter_queue`"));
            }
            if dlq.fifo() != fifo {
                return Err(fifo_mismatch(
                    &format!("queue {name}"),
                    fifo,
                    &format!("its dead-letter queue {}", dlq.name),
                ));
            }
            let max_receive_count = spec
                .max_receive_count
                .or(a.dead_letter.as_ref().map(|d| d.max_receive_count))
                .ok_or_else(|| Problem::new("`dead_letter_queue` needs `max_receive_count`").help("add e.g. `max_receive_count = 5`: receives before a message moves to the dead-letter queue"))?;
            a.dead_letter = Some(DeadLetter {
                queue: dlq.name.clone(),
                max_receive_count,
            });
        } else if let Some(count) = spec.max_receive_count {
            match &mut a.dead_letter {
                Some(d) => d.max_receive_count = count,
                None => {
                    return Err(
                        Problem::new("`max_receive_count` without a `dead_letter_queue`").help(
                            "add `dead_letter_queue = { ... }` or remove `max_receive_count`",
                        ),
                    )
                }
            }
        }
        if let Some(d) = &a.dead_letter {
            check_range("max_receive_count", d.max_receive_count, 1, 1000)?;
        }
        a.redrive_allow = match (spec.redrive_allow_policy, &spec.redrive_allow_source_queues) {
            (None, None) => a.redrive_allow.take(),
            (Some(RedriveAllowSpec::AllowAll), None) => Some(RedriveAllow::AllowAll),
            (Some(RedriveAllowSpec::DenyAll), None) => Some(RedriveAllow::DenyAll),
            (Some(RedriveAllowSpec::ByQueue), Some(sources)) => {
                if sources.is_empty() || sources.len() > 10 {
                    return Err(Problem::new(format!("`redrive_allow_source_queues` lists {} queues; AWS allows 1 to 10", sources.len())).help("use `redrive_allow_policy = \"allowAll\"` for more source queues"));
                }
                let names = sources
                    .iter()
                    .map(|r| self.resolve(ResourceKind::Queue, r.into()).map(|(n, _)| n))
                    .collect::<Checked<Vec<_>>>()?;
                Some(RedriveAllow::ByQueue(names))
            }
            (Some(RedriveAllowSpec::ByQueue), None) => {
                return Err(Problem::new("`redrive_allow_policy = \"byQueue\"` needs `redrive_allow_source_queues`")
                    .help("list the source queues: `redrive_allow_source_queues = [{ type = \"...\", dest = \"...\" }]`"))
            }
            (_, Some(_)) => {
                return Err(Problem::new("`redrive_allow_source_queues` needs `redrive_allow_policy = \"byQueue\"`").help("add `redrive_allow_policy = \"byQueue\"`, or remove the source queues"))
            }
        };
        overlay_tags(&mut queue.tags, spec.tags.as_ref());
        apply_unset(&mut queue, &spec.unset)?;
        check_queue(&queue)?;
        Ok(queue)
    }
}

/// `unset` of a queue table: the attributes (and `tags.KEY`) that return to the AWS default.
fn apply_unset(queue: &mut Queue, unset: &[String]) -> Checked<()> {
    let a = &mut queue.attributes;
    for key in unset {
        if let Some(tag) = key.strip_prefix("tags.") {
            queue.tags.remove(tag);
            continue;
        }
        match key.as_str() {
            "visibility_timeout" => a.visibility_timeout = None,
            "message_retention_period" => a.message_retention_period = None,
            "maximum_message_size" => a.maximum_message_size = None,
            "delay_seconds" => a.delay_seconds = None,
            "receive_message_wait_time" => a.receive_message_wait_time = None,
            "dead_letter_queue" => a.dead_letter = None,
            "redrive_allow_policy" => a.redrive_allow = None,
            "content_based_deduplication" => a.content_based_deduplication = None,
            "deduplication_scope" => a.deduplication_scope = None,
            "fifo_throughput_limit" => a.fifo_throughput_limit = None,
            "kms_master_key_id" => a.kms_master_key_id = None,
            "kms_data_key_reuse_period" => a.kms_data_key_reuse_period = None,
            "sqs_managed_sse" => a.sqs_managed_sse = None,
            other => return Err(unknown_unset(other, QUEUE_ATTRIBUTES)),
        }
    }
    Ok(())
}

const QUEUE_ATTRIBUTES: &[&str] = &[
    "visibility_timeout",
    "message_retention_period",
    "maximum_message_size",
    "delay_seconds",
    "receive_message_wait_time",
    "dead_letter_queue",
    "redrive_allow_policy",
    "content_based_deduplication",
    "deduplication_scope",
    "fifo_throughput_limit",
    "kms_master_key_id",
    "kms_data_key_reuse_period",
    "sqs_managed_sse",
    "tags.KEY",
];

/// Rules that span several attributes of one queue.
fn check_queue(queue: &Queue) -> Checked<()> {
    let a = &queue.attributes;
    if !queue.fifo() {
        for (key, set) in [
            (
                "content_based_deduplication",
                a.content_based_deduplication.is_some(),
            ),
            ("deduplication_scope", a.deduplication_scope.is_some()),
            ("fifo_throughput_limit", a.fifo_throughput_limit.is_some()),
        ] {
            if set {
                return Err(fifo_only(key, ResourceKind::Queue, &queue.name));
            }
        }
    }
    if a.kms_master_key_id.is_some() && a.sqs_managed_sse == Some(true) {
        return Err(Problem::new(
            "`kms_master_key_id` and `sqs_managed_sse = true` exclude each other",
        )
        .help("choose KMS encryption or SQS-managed encryption"));
    }
    if a.kms_data_key_reuse_period.is_some() && a.kms_master_key_id.is_none() {
        return Err(Problem::new(
            "`kms_data_key_reuse_period` needs `kms_master_key_id`",
        ));
    }
    if a.fifo_throughput_limit == Some(FifoThroughputLimit::PerMessageGroupId)
        && a.deduplication_scope == Some(DeduplicationScope::Queue)
    {
        return Err(Problem::new("`fifo_throughput_limit = \"perMessageGroupId\"` needs `deduplication_scope = \"messageGroup\"`")
            .help("AWS's high-throughput FIFO mode deduplicates per message group"));
    }
    check_tags(&queue.tags)
}

/// The attribute keys a queue table sets, which a delete refuses.
fn attribute_keys(spec: &QueueSpec) -> Vec<&'static str> {
    set_keys([
        ("visibility_timeout", spec.visibility_timeout.is_some()),
        (
            "message_retention_period",
            spec.message_retention_period.is_some(),
        ),
        ("maximum_message_size", spec.maximum_message_size.is_some()),
        ("delay_seconds", spec.delay_seconds.is_some()),
        (
            "receive_message_wait_time",
            spec.receive_message_wait_time.is_some(),
        ),
        ("dead_letter_queue", spec.dead_letter_queue.is_some()),
        ("max_receive_count", spec.max_receive_count.is_some()),
        ("redrive_allow_policy", spec.redrive_allow_policy.is_some()),
        (
            "redrive_allow_source_queues",
            spec.redrive_allow_source_queues.is_some(),
        ),
        (
            "content_based_deduplication",
            spec.content_based_deduplication.is_some(),
        ),
        ("deduplication_scope", spec.deduplication_scope.is_some()),
        (
            "fifo_throughput_limit",
            spec.fifo_throughput_limit.is_some(),
        ),
        ("kms_master_key_id", spec.kms_master_key_id.is_some()),
        (
            "kms_data_key_reuse_period",
            spec.kms_data_key_reuse_period.is_some(),
        ),
        ("sqs_managed_sse", spec.sqs_managed_sse.is_some()),
        ("tags", spec.tags.is_some()),
        ("unset", !spec.unset.is_empty()),
    ])
}
