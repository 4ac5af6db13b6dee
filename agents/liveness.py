"""The worker watches its own input partitions and re-fetches one that stopped moving.

The decision is `engine.domain.liveness`; this module only samples faust's consumer (committed and
end offsets of each assigned input partition) and acts on the verdict. Re-fetching seeks the
partition back to its committed offset, so records handed to a stream but never processed
for good come again; every agent applies a record idempotently, so a repeat changes nothing.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from engine.domain.liveness import Partition, Remedy, Sample, Watch, observe, refetched

if TYPE_CHECKING:
    from agents.wiring import Wiring

log = logging.getLogger(__name__)

#: How often the partitions are sampled, and how long one may stand still while behind.
INTERVAL_SECONDS = 10.0
PATIENCE_SECONDS = 30.0


async def sample(app: Any) -> dict[Partition, Sample]:
    """Committed and end offset of every assigned input partition (changelogs excluded)."""
    consumer = app.consumer
    changelogs = set(app.tables.changelog_topics)
    assigned = [tp for tp in consumer.assignment() if tp.topic not in changelogs]
    if not assigned:
        return {}
    ends = await consumer.highwaters(*assigned)
    committed_offsets: dict[Any, int | None] = getattr(consumer, "_committed_offset", {})
    unknown = [tp for tp in assigned if committed_offsets.get(tp) is None]
    earliest = await consumer.earliest_offsets(*unknown) if unknown else {}
    delivered: dict[Any, int | None] = getattr(consumer, "_read_offset", {})
    samples: dict[Partition, Sample] = {}
    for tp in assigned:
        committed = committed_offsets.get(tp)
        next_offset = committed if committed is not None else earliest.get(tp)
        end = ends.get(tp)
        if next_offset is not None and end is not None:
            samples[(tp.topic, tp.partition)] = Sample(next_offset, end, delivered.get(tp))
    return samples


def register(wiring: Wiring) -> None:
    app = wiring.app
    watch = Watch()

    async def watch_partitions() -> None:
        nonlocal watch
        if app.rebalancing or app.in_recovery:
            watch = Watch()  # assignments change: start over once they settle
            return
        try:
            samples = await sample(app)
        except Exception as exc:  # a watchdog must not take the worker down
            log.warning("partition liveness: cannot sample offsets: %r", exc)
            return
        if samples.keys() != watch.samples.keys():
            log.info("partition liveness: watching %d input partitions", len(samples))
        watch, stalls = observe(watch, samples, time.monotonic(), PATIENCE_SECONDS)
        to_refetch: list[Partition] = []
        for stall in stalls:
            topic, number = stall.partition
            state = _consumer_state(app, stall.partition)
            log.warning(
                "partition %s[%d] stuck for %.0f s at offset %d of %d (%s); %s",
                topic,
                number,
                stall.stuck_for,
                stall.sample.next_offset,
                stall.sample.end_offset,
                state,
                "re-fetching it" if stall.remedy is Remedy.REFETCH else "its topic stands still",
            )
            if stall.remedy is Remedy.REFETCH:
                tp = _assigned(app, stall.partition)
                if tp is not None:
                    await app.consumer.seek(tp, stall.sample.next_offset)
                    to_refetch.append(stall.partition)
        if to_refetch:
            watch = refetched(watch, to_refetch, time.monotonic())

    app.timer(INTERVAL_SECONDS, name="partition-liveness")(watch_partitions)


def _assigned(app: Any, partition: Partition) -> Any:
    """faust's TP for `partition` while it is assigned to this worker, else None."""
    return next(
        (tp for tp in app.consumer.assignment() if (tp.topic, tp.partition) == partition), None
    )


def _consumer_state(app: Any, partition: Partition) -> str:
    """faust's view of the partition, for the log line that explains a stall."""
    consumer = app.consumer
    tp = _assigned(app, partition)
    if tp is None:
        return "no longer assigned"
    active = getattr(consumer, "_active_partitions", None) or set()
    paused: set[Any] = getattr(consumer, "_paused_partitions", set())
    buffered: set[Any] = getattr(consumer, "_buffered_partitions", set())
    read = getattr(consumer, "_read_offset", {}).get(tp)
    return (
        f"read offset {read}, active={tp in active}, paused={tp in paused}, "
        f"buffered={tp in buffered}, flow_active={getattr(consumer, 'flow_active', None)}"
    )
