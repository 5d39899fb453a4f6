#!/usr/bin/env python3
"""Turn the phases bench/run measured into the benchmark's tables.

    bench/report.py PHASES.tsv

PHASES.tsv has one line per measured run: key, label, seconds, requests, actions file (the
`service:Action` lines bench/moto_server.py logged during the run, or `-`), direction (`up`,
`down` or `local`), the emulator's CPU seconds meanwhile. Repeated keys (validate runs) are reported as their median. Facts about
the project come from BENCH_* environment variables set by bench/run. Prints the tables.
"""

import collections
import os
import statistics
import sys

SUBSCRIPTION_ACTIONS = {"Subscribe", "Unsubscribe", "ListSubscriptionsByTopic",
                        "SetSubscriptionAttributes", "GetSubscriptionAttributes"}


def kind(action: str, direction: str) -> str:
    """Which resource a request is for: `sub` (subscriptions) or `res` (topics and queues)."""
    service, _, name = action.partition(":")
    base = name.split("(")[0]
    if base in SUBSCRIPTION_ACTIONS or "Policy" in name:  # the queue-policy statement of a subscription
        return "sub"
    if base == "GetQueueUrl":  # the baseline looks queues up to subscribe them, or to delete them
        return "sub" if direction == "up" else "res"
    return "res"


class Phase:
    def __init__(self, rows):
        self.key, self.label, _, _, self.actions_file, self.direction, _ = rows[0]
        self.emulator_cpu = statistics.median(float(r[6]) for r in rows)
        self.runs = len(rows)
        self.seconds = statistics.median(float(r[2]) for r in rows)
        self.requests = int(statistics.median(int(r[3]) for r in rows))
        self.actions = collections.Counter()
        if self.actions_file != "-":
            with open(self.actions_file) as f:
                self.actions.update(line.strip() for line in f if line.strip())
        self.by_kind = collections.Counter()
        for action, n in self.actions.items():
            self.by_kind[kind(action, self.direction)] += n


def fmt_ratio(baseline: "Phase | None", phase: Phase) -> str:
    if baseline is None or phase.seconds <= 0:
        return ""
    return f"{baseline.seconds / phase.seconds:.1f}x faster"


def main() -> None:
    rows = collections.OrderedDict()
    with open(sys.argv[1]) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            rows.setdefault(fields[0], []).append(fields)
    phases = {key: Phase(r) for key, r in rows.items()}

    env = os.environ
    topics, queues, subs = (int(env[k]) for k in ("BENCH_TOPICS", "BENCH_QUEUES", "BENCH_SUBSCRIPTIONS"))
    created = topics + queues
    default_c = env["BENCH_DEFAULT_CONCURRENCY"]
    base_up, base_down = phases.get("baseline-up"), phases.get("baseline-down")
    out = []
    p = out.append

    p(f"lariat benchmark, {env['BENCH_DATE']}: {env['BENCH_MIGRATIONS']} migrations, "
      f"{created + subs} resources ({topics} topics, {queues} queues, {subs} subscriptions)")
    p(f"emulator: moto_server {env['BENCH_MOTO']} on 127.0.0.1, fresh and private to this run; "
      f"{env['BENCH_CPUS']} CPUs; lariat {env['BENCH_LARIAT']} ({env.get('BENCH_BUILD') or 'release'}), account id given "
      f"(no STS call); requests counted from the emulator's access log; emulator CPU: the "
      f"CPU time moto_server used meanwhile (it serves one request at a time, GIL-bound)")
    latency = env.get("BENCH_LATENCY_MS") or "0"
    p(f"added round trip per request (BENCH_LATENCY_MS): {latency} ms")
    p("")
    header = f"{'phase':<40} {'wall':>8} {'emulator CPU':>12} {'requests':>9} {'req/topic+queue':>16} {'req/subscription':>17}  {'lariat vs baseline':<18}"
    p(header)
    p("-" * len(header))

    def row(phase: Phase, per_resource: bool, ratio: str = "") -> None:
        res = f"{phase.by_kind['res'] / created:.2f}" if per_resource else ""
        sub = f"{phase.by_kind['sub'] / subs:.2f}" if per_resource else ""
        reqs = str(phase.requests) if phase.direction != "local" else "0"
        wall = f"{phase.seconds:.2f} s"
        cpu = f"{phase.emulator_cpu:.2f} s" if phase.direction != "local" else ""
        p(f"{phase.label:<40} {wall:>8} {cpu:>12} {reqs:>9} {res:>16} {sub:>17}  {ratio:<18}")

    main_up, main_down = phases.get(f"migrate-{default_c}"), phases.get(f"rollback-{default_c}")
    for phase, baseline in ((main_up, base_up), (base_up, None), (main_down, base_down), (base_down, None)):
        if phase:
            row(phase, True, fmt_ratio(baseline, phase))
    for key in ("validate-small", "validate-big", "graph-big"):
        if key in phases:
            row(phases[key], False, f"median of {phases[key].runs}" if phases[key].runs > 1 else "")

    sweep = sorted((int(k.split("-")[1]) for k in phases if k.startswith("migrate-")))
    if len(sweep) > 1:
        p("")
        p("--concurrency sweep (same project, emulator reset before each migrate):")
        h = (f"{'concurrency':>11} {'migrate':>9} {'emulator CPU':>12} {'rollback':>9} {'emulator CPU':>12}"
             f"  {'migrate vs baseline':<20}")
        p(h)
        p("-" * len(h))
        for c in sweep:
            up, down = phases[f"migrate-{c}"], phases.get(f"rollback-{c}")
            p(f"{c:>11} {up.seconds:>7.2f} s {up.emulator_cpu:>10.2f} s "
              f"{(f'{down.seconds:.2f} s' if down else ''):>9} {(f'{down.emulator_cpu:.2f} s' if down else ''):>12}  "
              f"{fmt_ratio(base_up, up):<20}")

    p("")
    p("goals (issue 4):")
    if main_up and base_up:
        speed = base_up.seconds / main_up.seconds
        p(f"  [{'met' if speed >= 3 else 'NOT met'}] migrate at least 3x faster than the baseline: {speed:.1f}x")
    if main_up:
        res, sub = main_up.by_kind["res"] / created, main_up.by_kind["sub"] / subs
        p(f"  [{'met' if res <= 2 else 'NOT met'}] at most 2 requests per created topic or queue: {res:.2f}")
        p(f"  [{'met' if sub <= 3 else 'NOT met'}] at most 3 requests per subscription: {sub:.2f}")
    if main_up:
        sub = main_up.by_kind["sub"] / subs
        p("goals (issue 16):")
        p(f"  [{'met' if sub <= 1 else 'NOT met'}] one request per subscription on a fresh account: {sub:.2f}")
        if base_up:
            speed = base_up.seconds / main_up.seconds
            want = 12 if float(latency) >= 20 else 2.4
            p(f"  [{'met' if speed >= want else 'NOT met'}] migrate at least {want}x faster than the baseline "
              f"with {latency} ms per request: {speed:.1f}x")
    if "validate-big" in phases:
        s = phases["validate-big"].seconds
        p(f"  [{'met' if s < 1 else 'NOT met'}] validate of {env['BENCH_BIG_MIGRATIONS']} files under 1 s: {s:.2f} s")

    p("")
    p("requests by action:")
    for phase in phases.values():
        if not phase.actions:
            continue
        p(f"  {phase.label}:")
        for action, n in sorted(phase.actions.items(), key=lambda kv: (-kv[1], kv[0])):
            p(f"    {n:>6}  {action}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
