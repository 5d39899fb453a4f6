#!/usr/bin/env python3
"""What the emulator's account holds, for the benchmark's checks (not timed, not counted).

    bench/account.py            prints `topics=N queues=N subscriptions=N digest=HEX`

The digest covers the topic and queue names and each subscription's (topic, protocol, endpoint),
so two runs that built the same topology (lariat's and the baseline's) print the same line.
Endpoint, region and credentials come from the usual AWS_* variables.
"""

import hashlib
import os

import boto3


def pages(call, key, **kwargs):
    token = None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        yield from page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return


def main() -> None:
    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION", "us-east-1"))
    sns, sqs = session.client("sns"), session.client("sqs")
    topics = sorted(t["TopicArn"] for t in pages(sns.list_topics, "Topics"))
    queues = sorted(pages(sqs.list_queues, "QueueUrls", MaxResults=1000))
    queues = [url.rsplit("/", 1)[-1] for url in queues]
    subscriptions = sorted(
        f"{s['TopicArn']} {s['Protocol']} {s['Endpoint']}"
        for s in pages(sns.list_subscriptions, "Subscriptions")
    )
    digest = hashlib.sha256("\n".join(topics + queues + subscriptions).encode()).hexdigest()[:16]
    print(f"topics={len(topics)} queues={len(queues)} subscriptions={len(subscriptions)} digest={digest}")


if __name__ == "__main__":
    main()
