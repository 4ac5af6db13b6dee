"""The bare faust agent `winkel bench --baseline` measures the engine against.

The minimal shape of the engine's per-order work: one agent reads a topic, writes each record to
a RocksDB table (with its changelog) and sends one record to an output topic. Same broker, same
partitions and the same producer settings as the worker (`agents/app.py`: acks=all, one-second
commits), so the ratio of the two rates says what the engine's own work costs.

Run by the bench as its own process: `python -m engine.dev.bench_bare BOOTSTRAP PARTITIONS DATADIR`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import faust

#: The bare app's id, which is also its consumer group.
APP_ID = "winkel-bench-bare"
INPUT = "winkel.bench.bare.in"
OUTPUT = "winkel.bench.bare.out"


def create_app(bootstrap: str, partitions: int, datadir: str) -> faust.App:
    app = faust.App(
        APP_ID,
        broker=[f"kafka://{address}" for address in bootstrap.split(",")],
        store="rocksdb://",
        datadir=datadir,
        topic_partitions=partitions,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        topic_disable_leader=True,
        topic_replication_factor=1,
        producer_acks=-1,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=0,
    )
    source = app.topic(INPUT, partitions=partitions, key_serializer="raw", value_serializer="raw")
    sink = app.topic(OUTPUT, partitions=partitions, key_serializer="raw", value_serializer="raw")
    table = app.Table(
        "state", partitions=partitions, key_type=bytes, value_type=bytes, default=None
    )

    @app.agent(source, name="bare")
    async def bare(stream: Any) -> None:
        async for event in stream.events():
            table[event.key] = event.value
            await sink.send(key=event.key, value=event.value)

    return app


def main(argv: list[str]) -> None:
    bootstrap, partitions, datadir = argv
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = create_app(bootstrap, int(partitions), datadir)
    faust.Worker(app, loglevel="WARNING").execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1:])
