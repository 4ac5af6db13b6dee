"""`winkel bench` on a handful of orders: the report adds up (its numbers are never asserted as
speeds; they go to the README)."""

from __future__ import annotations

import orjson
import pytest

from engine.dev.bench import (
    HOPS,
    Percentiles,
    bench,
    bench_stories,
    preloaded_stories,
    report_json,
)

pytestmark = pytest.mark.integration


def test_percentiles_of_known_values() -> None:
    cut = Percentiles.of([float(n) for n in range(1, 101)])
    assert (round(cut.p50, 2), round(cut.p95, 2), round(cut.p99, 2), cut.max) == (
        50.5,
        95.05,
        99.01,
        100.0,
    )
    assert Percentiles.of([]) == Percentiles(0.0, 0.0, 0.0, 0.0)
    assert Percentiles.of([7.0]) == Percentiles(7.0, 7.0, 7.0, 7.0)


def test_a_small_paced_run_with_the_baseline_reports_what_it_sent_and_sane_latencies() -> None:
    orders = 12
    report = bench(
        orders,
        in_flight=4,
        partitions=2,
        seed=3,
        keep=False,
        rate=20.0,
        baseline_records=300,
        warm_up_orders=5,
    )
    _, stories = bench_stories(b"any secret", 3, orders)
    assert report.orders == orders
    assert report.deliveries == sum(len(story) for story in stories)
    assert 0 < report.invoice_triggers <= orders
    assert report.order_events >= report.deliveries  # every delivery reports one fact or more
    # a trigger never precedes the webhook that caused it, and at 20/s nothing queues for long
    assert 0 <= report.webhook_to_trigger_ms.p50 <= report.webhook_to_trigger_ms.max < 60_000
    # the latency hop by hop: each trigger's chain back (draft, raw record, webhook) runs forward
    assert report.triggers_timed == report.invoice_triggers  # each one's cause found
    assert list(report.hops_ms) == list(HOPS)
    for hop in report.hops_ms.values():
        assert 0 <= hop.p50 <= hop.p99 <= hop.max < 60_000
    assert report.worker_peak_rss_mb > 0 and report.web_peak_rss_mb > 0
    # the bare agent ran on the same broker first; the ratio is the engine's over the bare rate
    assert report.baseline is not None and report.baseline.records == 300
    assert report.baseline.seconds > 0 and report.baseline.events_per_second > 0
    # baseline_ratio: the worker draining a preloaded raw topic, as the bare agent drains its
    # own; live_ratio: the live run, beside it
    preloaded = report.preloaded
    assert preloaded is not None and preloaded.orders == orders
    assert preloaded.deliveries == sum(len(story) for story in preloaded_stories(b"x", 3, orders))
    assert preloaded.order_events >= preloaded.deliveries
    assert 0 < preloaded.invoice_triggers <= orders
    # its clock starts when the worker resumed, before its first output, and runs to its last
    assert 0 < preloaded.first_output_seconds <= preloaded.orders_agent_seconds
    assert preloaded.orders_agent_events_per_second == round(
        preloaded.order_events / preloaded.orders_agent_seconds, 1
    )
    bare_rate = report.baseline.events_per_second
    assert report.baseline_ratio == round(preloaded.orders_agent_events_per_second / bare_rate, 3)
    assert report.live_ratio == round(report.orders_agent_events_per_second / bare_rate, 3)
    # agent orders wrote its last record after the first webhook; each stage's topic was written
    assert report.orders_agent_seconds > 0 and report.orders_agent_events_per_second > 0
    assert set(report.stage_seconds) >= {"winkel.audit", "winkel.triggers.invoice"}
    assert all(seconds > 0 for seconds in report.stage_seconds.values())
    as_json = orjson.loads(report_json(report))
    assert as_json["baseline_ratio"] == report.baseline_ratio > 0
    assert as_json["live_ratio"] == report.live_ratio > 0
    assert as_json["preloaded"]["order_events"] == preloaded.order_events
    assert as_json["baseline"]["records"] == 300
    assert as_json["hops_ms"]["draft to trigger"]["p99"] == report.hops_ms["draft to trigger"].p99
    assert "engine / bare agent" in report.text()
