"""The faust application: topics, the per-order table and the agents, wired from the config."""

from __future__ import annotations

import logging
from typing import Any

import faust

from agents import (
    faustfix,
    liveness,
    orders,
    pollers,
    projections,
    selfheal,
    vat,
)
from agents.normalize import NORMALISERS
from agents.wiring import Wiring
from engine.domain import topics
from engine.domain.config import Config
from engine.shell import kafka

log = logging.getLogger(__name__)

#: The faust app id, which is also the worker's Kafka consumer group.
APP_ID = topics.CONSUMER_GROUP


#: RocksDB sized for a worker that must stay small with a million orders in its table. faust's
#: defaults (a 2 GB block cache, 500 MB compressed cache, three 64 MB memtables per partition)
#: let the worker grow past 400 MB while recovering a million orders (`winkel bench
#: --memory-orders`); the table is written once per batch and read by key, so small memtables
#: and a small cache cost little speed.
ROCKSDB_OPTIONS: dict[str, int] = {
    "write_buffer_size": 8 * 1024**2,
    "max_write_buffer_number": 2,
    "block_cache_size": 32 * 1024**2,
    "block_cache_compressed_size": 8 * 1024**2,
}


def _table(app: faust.App, config: Config, name: str) -> Any:
    """A changelog-backed table of raw bytes, one partition per topic partition."""
    return app.Table(
        name,
        partitions=config.kafka.partitions,
        key_type=bytes,
        value_type=bytes,
        default=None,
        # a copy: faust's RocksDB store pops keys from the mapping it is given
        options=dict(ROCKSDB_OPTIONS),
    )


def _vat_table(app: faust.App, config: Config, name: str) -> Any:
    """A table of the `vat` agent; none while the VAT step is switched off."""
    if not config.vat.pipeline:
        return None
    return _table(app, config, name)


def create_app(config: Config, *, store: str = "rocksdb://", replicas: int = 1) -> Wiring:
    """Build the faust app for `config`; `store='memory://'` for tests without a disk.

    `replicas` is the replication factor of topics faust creates itself (changelogs it finds
    missing); `kafka.ensure_topics` returns the one that fits the cluster.
    """
    faustfix.apply()
    app = faust.App(
        APP_ID,
        # A cluster's bootstrap is a comma-separated list; faust wants one URL per broker.
        broker=[f"kafka://{address}" for address in config.kafka.bootstrap.split(",")],
        store=store,
        datadir=str(config.data_dir / "worker"),
        topic_partitions=config.kafka.partitions,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,  # the engine's own web process serves HTTP
        topic_disable_leader=True,
        topic_replication_factor=replicas,
        producer_acks=-1,
        producer_max_request_size=kafka.MAX_RECORD_BYTES,
        broker_commit_interval=1.0,
        broker_session_timeout=config.kafka.session_timeout_seconds,
        broker_heartbeat_interval=config.kafka.session_timeout_seconds / 5,
        broker_rebalance_timeout=config.kafka.session_timeout_seconds * 3,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=True,
        table_standby_replicas=0,
    )

    def topic(name: str) -> Any:
        return app.topic(
            name,
            partitions=config.kafka.partitions,
            key_serializer="raw",
            value_serializer="raw",
        )

    wiring = Wiring(
        app=app,
        config=config,
        order_events=topic(topics.ORDER_EVENTS),
        orders_rekeyed=topic(topics.ORDERS_REKEYED),
        # One stream over co-partitioned topics (all keyed by order UUID), so everything about
        # an order is applied in one place, to one table partition: the raw deliveries of every
        # marketplace with a normaliser (agents/normalize.py), order events for an order other
        # than their delivery's key, operator commands and invoice-service answers.
        order_inputs=app.topic(
            *(topics.raw(marketplace) for marketplace in NORMALISERS),
            topics.ORDERS_REKEYED,
            topics.ORDER_COMMANDS,
            topics.INVOICES_ISSUED,
            partitions=config.kafka.partitions,
            key_serializer="raw",
            value_serializer="raw",
        ),
        invoice_triggers=topic(topics.INVOICE_TRIGGERS),
        credit_note_triggers=topic(topics.CREDIT_NOTE_TRIGGERS),
        audit=topic(topics.AUDIT),
        analytics=topic(topics.ANALYTICS),
        dead_letter=topic(topics.DEAD_LETTER),
        orders=_table(app, config, "orders"),
        vat_drafts=topic(topics.VAT_DRAFTS),
        vat_thresholds=_vat_table(app, config, "vat-thresholds"),
        vat_decisions=_vat_table(app, config, "vat-decisions"),
    )
    liveness.register(wiring)
    selfheal.register(wiring)
    orders.register(wiring)
    if config.vat.pipeline:
        vat.register(wiring)
    projections.register(wiring)
    pollers.register(wiring)  # one poll loop per polled store, inside the worker
    return wiring
