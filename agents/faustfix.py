"""A fix for a record-loss race in faust-streaming's rebalance recovery (0.15.3, mode 0.7.1),
a shorter fetch wait for its worker consumer (`FETCH_MAX_WAIT_MS`), and `as_current`, which
lets an agent that takes records in batches use a table.

At the end of a rebalance faust's `Recovery` resumes the stream partitions, seeks them to their
committed offsets, and only then calls `app.flow_control.resume()`, which *clears every stream
queue* (`mode.utils.queues.FlowControlEvent.resume`), meant to drop records fetched before the
seek. But flow control and the consumer's flow are already active from reading the changelogs,
so records fetched *after* the seek and queued before `resume()` are dropped as well. Their
read offset has advanced, so they are never fetched again, and because faust counts the seek
offset as already read, the next record's ack commits past them: the record is lost for good.

Seen here: a worker (re)joining while Shopify webhooks arrived applied an order's shipments
but never its creation (1 in ~30 runs of the lifecycle tests, and twice in the no-loss suite's
join/leave scenario as missing triggers). docs/design.md "Faust findings" describes the same
shape: contiguous ranges lost at the hand-over offsets.

The fix closes the window: stop the consumer's flow and suspend flow control *before* the
stream partitions are resumed and sought. Anything fetched meanwhile either waits in flow
control (and is queued after the clear) or is returned by a fetch while the flow is stopped,
which faust answers with another seek to the committed offsets. Nothing is cleared that the
seek does not bring back.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from faust.streams import _current_event
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

#: set on each of faust's methods this module has wrapped, so `apply` wraps each once
_PATCHED = "_winkel_patched"

#: How long the broker may hold the worker's fetch for records that have not come (faust fixes
#: 1,500 ms). aiokafka keeps one fetch in flight per broker and leaves out of it the partitions
#: whose records still wait to be handed out; when it went out while the busy partitions were
#: left out, it asked only quiet ones and the broker held it the whole 1.5 s, while records
#: piled up on the busy ones. At 300 webhooks/s that settled into a cycle: each agent read its
#: records 1.5 s late (a whole run at webhook-to-trigger p50 2.8 s). A short wait bounds it.
FETCH_MAX_WAIT_MS = 20
#: the private names the patch reaches: faust's consumer factory, and the aiokafka consumer's
#: setting it hands to its fetcher when it starts
_CREATE_WORKER_CONSUMER = "_create_worker_consumer"
_FETCH_MAX_WAIT = "_fetch_max_wait_ms"


def _quiesce_first(
    method: Callable[..., Awaitable[None]],
) -> Callable[..., Awaitable[None]]:
    @functools.wraps(method)
    async def quiesced(self: Any, *args: Any, **kwargs: Any) -> None:
        self.app.consumer.stop_flow()
        self.app.flow_control.suspend()
        await method(self, *args, **kwargs)

    setattr(quiesced, _PATCHED, True)
    return quiesced


def _short_fetch_wait(
    method: Callable[..., Any],
) -> Callable[..., Any]:
    @functools.wraps(method)
    def created(self: Any, *args: Any, **kwargs: Any) -> Any:
        consumer = method(self, *args, **kwargs)
        setattr(consumer, _FETCH_MAX_WAIT, FETCH_MAX_WAIT_MS)
        return consumer

    setattr(created, _PATCHED, True)
    return created


def apply() -> None:
    """Patch faust's recovery and its worker consumer's fetch wait once per process
    (idempotent)."""
    for name in ("on_recovery_completed", "_resume_streams"):
        method = getattr(Recovery, name)
        if not getattr(method, _PATCHED, False):
            setattr(Recovery, name, _quiesce_first(method))
    create = getattr(AIOKafkaConsumerThread, _CREATE_WORKER_CONSUMER)
    if not getattr(create, _PATCHED, False):
        setattr(AIOKafkaConsumerThread, _CREATE_WORKER_CONSUMER, _short_fetch_wait(create))


@contextlib.contextmanager
def as_current(event: Any) -> Iterator[None]:
    """Make `event` faust's current event while the block runs.

    A table reads and writes the partition of the current event (its store and its changelog
    follow `faust.streams.current_event()`), which faust sets while a stream hands out records
    one by one, but not for the records of a batch (`stream.take_events`). An agent that applies
    a batch names, for each table access, the record whose partition it belongs to.
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
