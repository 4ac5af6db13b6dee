"""`scripts/fuzz`: 10,000+ hostile requests against real web and worker processes, with figures.

Starts its own Apache Kafka and Redis (free ports, a temporary directory), the engine's web
and worker processes, sends `--requests` hostile requests (tests/fuzz/hostile.py), waits until
the worker has processed every accepted body, and prints the books. Exit status 1 if any
request got a 5xx or no answer, anything unsigned was stored, a body crashed the normaliser or
an accepted body is unaccounted for.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

from engine.dev.runtime import KafkaBroker, RedisServer, free_port
from tests.fuzz import hostile
from tests.support import Stack, tails


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--patience", type=float, default=600, help="seconds to settle")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="winkel-fuzz-") as directory:
        root = Path(directory)
        broker = KafkaBroker(root / "kafka", port=free_port())
        redis = RedisServer(root / "redis", port=free_port())
        broker.start()
        redis.start()
        stack = Stack(
            root / "stack",
            broker.bootstrap,
            redis.url,
            extra_config=hostile.STORES,
            extra_env=dict(hostile.ENV),
        )
        try:
            stack.start_web()
            stack.start_worker()
            return _run(stack, args)
        finally:
            stack.stop()
            redis.stop()
            broker.stop()


def _run(stack: Stack, args: argparse.Namespace) -> int:
    campaign = hostile.Campaign(stack.web_port)

    @seed(args.seed)
    @settings(
        max_examples=args.requests,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile.requests())
    def one(request: hostile.Request) -> None:
        campaign.run(request)
        if campaign.total % 1000 == 0:
            print(f"... {campaign.total} requests, {campaign.fives} 5xx", flush=True)

    started = time.monotonic()
    one()
    sent_in = time.monotonic() - started
    print(f"sent {campaign.total} requests in {sent_in:.0f} s; waiting for the worker")
    expected = sum(campaign.accepted.values())
    from tests.fuzz.test_fuzz import config_of

    books = asyncio.run(hostile.settle(stack.bootstrap, config_of(stack), expected, args.patience))
    print(hostile.report(campaign, books))
    failed = (
        campaign.fives
        or campaign.unanswered
        or campaign.accepted_unsigned
        or books.crashes
        or books.unaccounted
        or books.raw != expected
    )
    if failed:
        for crash in books.crashes[:10]:
            print("crash:", crash)
        for tail in tails(stack):
            print(tail[-3000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
