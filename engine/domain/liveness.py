"""Is every input partition moving? A pure watch over periodic samples of a worker's partitions.

faust-streaming has a known failure class (faust-streaming issues #532, #602): after a
rebalance or a fetch error one partition stops being delivered to its agent while the worker
stays healthy and its other partitions keep flowing. Nothing is lost (the offset is not
committed past the stuck record) but nothing moves either, so orders on that partition wait
forever. The worker samples each assigned partition every few seconds; this module decides
which are stuck: behind the broker's end offset and not advancing for `patience` seconds.

A stuck partition whose siblings of the same topic are flowing is the faust stall and can be
re-fetched from where delivery stopped (records are applied idempotently, so a re-delivery
changes nothing). When every partition of a topic is stuck the agent itself is busy or
blocked, and re-fetching would only duplicate work: that is reported, not acted on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

#: A partition as (topic, number).
Partition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Sample:
    """Where processing of one partition stands, and where the broker's log ends.

    `next_offset` is the committed offset: the first record not yet processed for good;
    `delivered` the last offset handed to a stream, if known. Either moving is progress: a
    partition may deliver for a while before its next commit.
    """

    next_offset: int
    end_offset: int
    delivered: int | None = None

    @property
    def behind(self) -> bool:
        return self.end_offset > self.next_offset


class Remedy(StrEnum):
    REFETCH = "refetch"  # siblings flow: re-fetch this partition from `next_offset`
    REPORT = "report"  # the whole topic stands still: the agent is busy or blocked


@dataclass(frozen=True, slots=True)
class Stall:
    partition: Partition
    sample: Sample
    stuck_for: float
    remedy: Remedy


@dataclass(frozen=True, slots=True)
class Watch:
    """What the previous samples showed: each partition's sample and since when it stood."""

    samples: Mapping[Partition, Sample] = field(default_factory=dict)
    standing_since: Mapping[Partition, float] = field(default_factory=dict)


def observe(
    watch: Watch, samples: Mapping[Partition, Sample], now: float, patience: float
) -> tuple[Watch, list[Stall]]:
    """Fold a new round of samples into `watch`; the partitions stuck for `patience` s."""
    standing_since: dict[Partition, float] = {}
    flowing_topics: set[str] = set()
    for partition, sample in samples.items():
        before = watch.samples.get(partition)
        moved = (
            before is None
            or before.next_offset != sample.next_offset
            or before.delivered != sample.delivered
        )
        if moved or not sample.behind:
            standing_since[partition] = now
            flowing_topics.add(partition[0])
        else:
            standing_since[partition] = watch.standing_since.get(partition, now)
    stalls = [
        Stall(
            partition=partition,
            sample=sample,
            stuck_for=now - standing_since[partition],
            remedy=Remedy.REFETCH if partition[0] in flowing_topics else Remedy.REPORT,
        )
        for partition, sample in sorted(samples.items())
        if sample.behind and now - standing_since[partition] >= patience
    ]
    return Watch(dict(samples), standing_since), stalls


def refetched(watch: Watch, partitions: list[Partition], now: float) -> Watch:
    """`watch` after re-fetching `partitions`: each gets its full patience again."""
    standing_since = dict(watch.standing_since)
    standing_since.update(dict.fromkeys(partitions, now))
    return Watch(watch.samples, standing_since)
