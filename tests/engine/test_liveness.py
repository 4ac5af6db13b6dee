"""The partition watch: a partition is stuck when it is behind and has not moved for a while."""

from __future__ import annotations

from engine.domain.liveness import Remedy, Sample, Watch, observe, refetched

RAW = "winkel.raw.shopify"
EVENTS = "winkel.orders.events"


def test_a_partition_that_keeps_up_is_never_stuck() -> None:
    watch = Watch()
    for tick in range(10):
        watch, stalls = observe(watch, {(RAW, 0): Sample(5, 5)}, now=tick * 10.0, patience=30)
        assert stalls == []


def test_a_moving_partition_is_not_stuck_however_far_behind() -> None:
    watch = Watch()
    for tick in range(10):
        sample = Sample(next_offset=tick * 100, end_offset=10_000)
        watch, stalls = observe(watch, {(RAW, 0): sample}, now=tick * 10.0, patience=30)
        assert stalls == []


def test_a_partition_behind_and_standing_still_is_stuck_after_patience() -> None:
    watch = Watch()
    stuck = Sample(next_offset=7, end_offset=8)
    idle = Sample(next_offset=3, end_offset=3)
    found = []
    for tick in range(5):
        watch, stalls = observe(
            watch, {(RAW, 0): stuck, (RAW, 1): idle}, now=tick * 10.0, patience=30
        )
        found.append(stalls)
    assert found[:3] == [[], [], []]
    (stall,) = found[3]
    assert stall.partition == (RAW, 0)
    assert stall.stuck_for == 30.0
    assert stall.remedy is Remedy.REFETCH  # its sibling flows: the faust stall
    assert found[4][0].stuck_for == 40.0


def test_a_whole_topic_standing_still_is_reported_not_refetched() -> None:
    watch = Watch()
    samples = {(EVENTS, 0): Sample(7, 9), (EVENTS, 1): Sample(2, 4), (RAW, 0): Sample(1, 1)}
    for tick in range(4):
        watch, stalls = observe(watch, samples, now=tick * 10.0, patience=30)
    assert [(s.partition, s.remedy) for s in stalls] == [
        ((EVENTS, 0), Remedy.REPORT),
        ((EVENTS, 1), Remedy.REPORT),
    ]


def test_new_records_on_a_stuck_partition_do_not_hide_it() -> None:
    watch = Watch()
    stalls = []
    for tick in range(4):
        sample = Sample(next_offset=7, end_offset=8 + tick)  # more arrives, nothing processed
        watch, stalls = observe(watch, {(RAW, 0): sample}, now=tick * 10.0, patience=30)
    assert [s.partition for s in stalls] == [(RAW, 0)]


def test_a_refetched_partition_gets_its_patience_again() -> None:
    watch = Watch()
    samples = {(RAW, 0): Sample(7, 8), (RAW, 1): Sample(0, 0)}
    for tick in range(4):
        watch, stalls = observe(watch, samples, now=tick * 10.0, patience=30)
    assert stalls
    watch = refetched(watch, [(RAW, 0)], now=30.0)
    watch, stalls = observe(watch, samples, now=40.0, patience=30)
    assert stalls == []
    watch, stalls = observe(watch, samples, now=60.0, patience=30)
    assert [s.stuck_for for s in stalls] == [30.0]


def test_a_revoked_partition_is_forgotten() -> None:
    watch = Watch()
    for tick in range(4):
        watch, _ = observe(watch, {(RAW, 0): Sample(7, 8)}, now=tick * 10.0, patience=30)
    # Reassigned much later: it starts with a clean slate.
    watch, stalls = observe(watch, {(RAW, 1): Sample(0, 0)}, now=50.0, patience=30)
    watch, stalls = observe(watch, {(RAW, 0): Sample(7, 8)}, now=60.0, patience=30)
    assert stalls == []


def test_delivery_that_moves_before_a_commit_is_progress() -> None:
    watch = Watch()
    stalls = []
    for tick in range(6):
        sample = Sample(next_offset=7, end_offset=500, delivered=7 + tick * 50)
        watch, stalls = observe(watch, {(RAW, 0): sample}, now=tick * 10.0, patience=30)
        assert stalls == []
