#!/usr/bin/env python3
"""The benchmark's baseline: a plain, sequential boto3 script for the same topology.

    bench/baseline.py up   DIR    create what DIR/lariat/migrate/*.toml declare
    bench/baseline.py down DIR    delete it again

What a straightforward hand-written tool would do, one call after another, no concurrency, no
cleverness. It reads the same migration files as lariat (Python 3.11 tomllib), builds the same
names (the cyclone_lariat naming rules), attributes, tags and queue-policy statements, and
understands the subset of the format bench/generate.py writes: create_topic, create_queue and
subscribe; anything else is an error. Configuration (instance, publisher) comes from
DIR/lariat.toml; the endpoint, region and credentials from the usual AWS_* variables.

`up`, per migration file in version order:
  topic:                   CreateTopic (attributes, tags)                -> remembers the ARN
  queue:                   CreateQueue (attributes, tags)                -> remembers the URL
  queue with a DLQ:        GetQueueAttributes(DLQ, QueueArn), then CreateQueue with RedrivePolicy
                           (dead-letter queues are created first)
  subscription to a queue: GetQueueUrl, GetQueueAttributes(QueueArn, Policy), Subscribe with
                           attributes, SetQueueAttributes(Policy + a statement for the topic)
`down`, newest migration first: subscriptions (ListSubscriptionsByTopic, Unsubscribe), then
queues (GetQueueUrl, DeleteQueue), then topics (DeleteTopic); one GetCallerIdentity for ARNs.
"""

import json
import os
import pathlib
import sys
import tomllib

import boto3

TOPIC_KEYS = {"type", "kind", "publisher", "fifo", "name", "content_based_deduplication", "display_name", "tags"}
QUEUE_KEYS = {
    "type", "kind", "publisher", "dest", "fifo", "name", "tags", "visibility_timeout",
    "message_retention_period", "maximum_message_size", "delay_seconds",
    "receive_message_wait_time", "dead_letter_queue", "max_receive_count",
    "content_based_deduplication",
}
SUBSCRIBE_KEYS = {"topic", "queue", "raw_message_delivery", "filter_policy", "filter_policy_scope"}
QUEUE_ATTRIBUTES = {
    "visibility_timeout": "VisibilityTimeout",
    "message_retention_period": "MessageRetentionPeriod",
    "maximum_message_size": "MaximumMessageSize",
    "delay_seconds": "DelaySeconds",
    "receive_message_wait_time": "ReceiveMessageWaitTimeSeconds",
}


def lower(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class Project:
    def __init__(self, root: pathlib.Path):
        config = tomllib.loads((root / "lariat.toml").read_text())
        self.instance = config["instance"]
        self.publisher = config["publisher"]
        folder = root / config.get("migrations", "lariat/migrate")
        self.files = sorted(folder.glob("*.toml"))

    def topic_name(self, ref: dict) -> str:
        if "name" in ref:
            return ref["name"]
        kind, publisher = ref.get("kind", "event"), ref.get("publisher", self.publisher)
        fifo = ".fifo" if ref.get("fifo") else ""
        return f"{self.instance}-{kind}-fanout-{publisher}-{ref['type']}{fifo}"

    def queue_name(self, ref: dict) -> str:
        if "name" in ref:
            return ref["name"]
        kind, publisher = ref.get("kind", "event"), ref.get("publisher", self.publisher)
        dest = f"-{ref['dest']}" if "dest" in ref else ""
        fifo = ".fifo" if ref.get("fifo") else ""
        return f"{self.instance}-{kind}-queue-{publisher}-{ref.get('type', 'all')}{dest}{fifo}"

    def tags(self, decl: dict, dest: bool) -> dict:
        tags = {
            "standard": "true", "instance": self.instance, "kind": decl.get("kind", "event"),
            "publisher": decl.get("publisher", self.publisher), "type": decl.get("type", "all"),
            "fifo": lower(bool(decl.get("fifo"))), "managed_by": "lariat",
        }
        if dest and "dest" in decl:
            tags["dest"] = decl["dest"]
        tags.update(decl.get("tags", {}))
        return tags


def check_keys(table: str, decl: dict, allowed: set) -> None:
    unknown = set(decl) - allowed
    if unknown:
        sys.exit(f"baseline: [[{table}]] with {sorted(unknown)}: not supported by this baseline")


def migrations(project: Project):
    for path in project.files:
        doc = tomllib.loads(path.read_text())
        unknown = set(doc) - {"description", "create_topic", "create_queue", "subscribe"}
        if unknown:
            sys.exit(f"baseline: {path.name}: {sorted(unknown)} not supported by this baseline")
        yield doc


def up(project: Project, sns, sqs) -> None:
    topic_arns: dict[str, str] = {}
    queue_urls: dict[str, str] = {}
    for doc in migrations(project):
        for decl in doc.get("create_topic", []):
            check_keys("create_topic", decl, TOPIC_KEYS)
            attributes = {}
            if decl.get("fifo"):
                attributes["FifoTopic"] = "true"
            if "content_based_deduplication" in decl:
                attributes["ContentBasedDeduplication"] = lower(decl["content_based_deduplication"])
            if "display_name" in decl:
                attributes["DisplayName"] = decl["display_name"]
            name = project.topic_name(decl)
            tags = [{"Key": k, "Value": v} for k, v in project.tags(decl, dest=False).items()]
            topic_arns[name] = sns.create_topic(Name=name, Attributes=attributes, Tags=tags)["TopicArn"]

        # dead-letter queues first: queues that use none come before those that do
        queues = sorted(doc.get("create_queue", []), key=lambda q: "dead_letter_queue" in q)
        for decl in queues:
            check_keys("create_queue", decl, QUEUE_KEYS)
            attributes = {aws: str(decl[key]) for key, aws in QUEUE_ATTRIBUTES.items() if key in decl}
            if decl.get("fifo"):
                attributes["FifoQueue"] = "true"
            if "content_based_deduplication" in decl:
                attributes["ContentBasedDeduplication"] = lower(decl["content_based_deduplication"])
            if "dead_letter_queue" in decl:
                dlq = project.queue_name(decl["dead_letter_queue"])
                dlq_url = queue_urls.get(dlq) or sqs.get_queue_url(QueueName=dlq)["QueueUrl"]
                dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
                    "Attributes"]["QueueArn"]
                attributes["RedrivePolicy"] = json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": decl.get("max_receive_count", 10)})
            name = project.queue_name(decl)
            queue_urls[name] = sqs.create_queue(
                QueueName=name, Attributes=attributes, tags=project.tags(decl, dest=True))["QueueUrl"]

        for decl in doc.get("subscribe", []):
            check_keys("subscribe", decl, SUBSCRIBE_KEYS)
            topic_arn = topic_arns[project.topic_name(decl["topic"])]
            url = sqs.get_queue_url(QueueName=project.queue_name(decl["queue"]))["QueueUrl"]
            current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "Policy"])["Attributes"]
            queue_arn = current["QueueArn"]
            attributes = {}
            if "raw_message_delivery" in decl:
                attributes["RawMessageDelivery"] = lower(decl["raw_message_delivery"])
            if "filter_policy" in decl:
                policy = decl["filter_policy"]
                attributes["FilterPolicy"] = policy if isinstance(policy, str) else json.dumps(policy)
            if "filter_policy_scope" in decl:
                attributes["FilterPolicyScope"] = decl["filter_policy_scope"]
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                          Attributes=attributes, ReturnSubscriptionArn=True)
            policy = json.loads(current.get("Policy") or "null") or {
                "Version": "2012-10-17", "Id": f"{queue_arn}/SQSDefaultPolicy", "Statement": []}
            sid = "lariat-" + topic_arn.rsplit(":", 1)[-1]
            policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != sid] + [{
                "Sid": sid, "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage", "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }]
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})


def down(project: Project, sns, sqs, sts) -> None:
    account = sts.get_caller_identity()["Account"]
    region = sns.meta.region_name
    for doc in reversed(list(migrations(project))):
        for decl in doc.get("subscribe", []):
            topic_arn = f"arn:aws:sns:{region}:{account}:{project.topic_name(decl['topic'])}"
            queue_arn = f"arn:aws:sqs:{region}:{account}:{project.queue_name(decl['queue'])}"
            subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
            for s in subscriptions:
                if s["Endpoint"] == queue_arn and s["Protocol"] == "sqs":
                    sns.unsubscribe(SubscriptionArn=s["SubscriptionArn"])
        queues = sorted(doc.get("create_queue", []), key=lambda q: "dead_letter_queue" not in q)
        for decl in queues:
            url = sqs.get_queue_url(QueueName=project.queue_name(decl))["QueueUrl"]
            sqs.delete_queue(QueueUrl=url)
        for decl in doc.get("create_topic", []):
            sns.delete_topic(TopicArn=f"arn:aws:sns:{region}:{account}:{project.topic_name(decl)}")


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] not in ("up", "down"):
        sys.exit(__doc__.split("\n\n")[1])
    project = Project(pathlib.Path(sys.argv[2]))
    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION", "us-east-1"))
    sns, sqs = session.client("sns"), session.client("sqs")
    if sys.argv[1] == "up":
        up(project, sns, sqs)
    else:
        down(project, sns, sqs, session.client("sts"))


if __name__ == "__main__":
    main()
