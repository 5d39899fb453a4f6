#!/usr/bin/env python3
"""moto_server, as `.venv/bin/moto_server` runs it, that also writes each request's action.

    .venv/bin/python bench/moto_server.py PORT ACTION_LOG

Serves moto on 127.0.0.1:PORT exactly like `moto_server -H 127.0.0.1 -p PORT` (same WSGI app,
threaded werkzeug server, one access-log line per request on stderr), and appends one line
`service:Action` per request to ACTION_LOG (`sqs:CreateQueue`, `sns:Subscribe`,
`sqs:GetQueueAttributes(Policy)`: Get/SetQueueAttributes with the attribute names), so the
benchmark can say which calls dominate and what they are for. /moto-api requests are not written there.

BENCH_LATENCY_MS=N adds N ms before each request is handled: the round trip to a real AWS
endpoint, which the loopback emulator otherwise lacks.
"""

import io
import json
import os
import re
import signal
import sys
import threading
import time
from urllib.parse import parse_qs

from werkzeug.serving import run_simple

from moto.moto_server.threaded_moto_server import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler

SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


def detail(body: bytes) -> str:
    """`(Policy)`, `(QueueArn,Policy)`: the attributes a Get/SetQueueAttributes reads or writes."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return ""
    names = request.get("AttributeNames") or list(request.get("Attributes") or {})
    return f"({','.join(names)})" if names and "QueueName" not in request else ""


def counting(app, path, latency):
    out = open(path, "a", buffering=1)
    lock = threading.Lock()

    def wrapped(environ, start_response):
        if not environ.get("PATH_INFO", "").startswith("/moto-api"):
            # the network round trip of a real AWS endpoint; the server is threaded, so the
            # waits of concurrent requests overlap as they would on a network
            if latency:
                time.sleep(latency)
            service = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
            service = service.group(1) if service else "?"
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            target = environ.get("HTTP_X_AMZ_TARGET")
            if target:  # JSON protocol (SQS): X-Amz-Target: AmazonSQS.CreateQueue
                action = target.rsplit(".", 1)[-1] + detail(body)
            else:  # query protocol (SNS, STS): Action=... in the form body
                action = parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]
            with lock:
                out.write(f"{service}:{action}\n")
        return app(environ, start_response)

    return wrapped


def main() -> None:
    port, action_log = int(sys.argv[1]), sys.argv[2]
    os.environ.setdefault("MOTO_PORT", str(port))  # moto builds queue URLs with it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    latency = float(os.environ.get("BENCH_LATENCY_MS") or 0) / 1000
    run_simple("127.0.0.1", port, counting(app, action_log, latency), threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
