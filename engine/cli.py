"""`winkel`: run the engine, its parts, the simulator, dead-letter replay and read-model rebuild
(docs/design.md "CLI")."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import secrets
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol
from urllib.parse import urlparse

from engine.domain.config import Config, Store, check_secrets, load_config
from engine.domain.exceptions import ConfigError

if TYPE_CHECKING:
    from engine.dev.runtime import ManagedProcess
    from engine.dev.simulator import Delivery

log = logging.getLogger("winkel")


def _config(args: argparse.Namespace) -> Config:
    return load_config(Path(args.config) if args.config else None)


# --- worker and web ------------------------------------------------------------------------


#: How long a thread of the worker may hold the GIL while another waits for it (Python's default
#: is 5 ms). faust reads Kafka in a thread of its own; each time the agents' thread blocks in a
#: system call (a socket write to the broker or Redis) that thread takes the GIL, and the
#: agents' thread waits up to the whole interval to get it back. At 300 webhooks/s, 0.5 ms gave
#: webhook-to-trigger p99 144-352 ms (median 228) in five runs, the default 205-535 ms (median
#: 380) in six.
WORKER_SWITCH_INTERVAL_SECONDS = 0.0005


def worker(args: argparse.Namespace) -> NoReturn:
    import faust

    from agents.app import create_app
    from engine.shell import kafka

    config = _config(args)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    replicas = asyncio.run(kafka.ensure_topics(config.kafka))
    asyncio.set_event_loop(asyncio.new_event_loop())
    wiring = create_app(config, replicas=replicas)
    sys.setswitchinterval(WORKER_SWITCH_INTERVAL_SECONDS)
    faust.Worker(wiring.app, loglevel=args.loglevel.upper()).execute_from_commandline()


def web_server(args: argparse.Namespace) -> int:
    from aiohttp import web

    from engine.shell import quietlog
    from web.app import create_app

    config = _config(args)
    quietlog.install()  # one line per failing dependency per few seconds, not thousands
    web.run_app(
        create_app(config), host=config.web_host, port=config.web_port, print=None, access_log=None
    )
    return 0


# --- simulator -----------------------------------------------------------------------------


async def _post(session: Any, url: str, delivery: Delivery) -> None:
    """Deliver like a marketplace does: retry on failure with a growing pause."""
    for attempt in range(1, 6):
        try:
            async with session.post(url, data=delivery.body, headers=delivery.headers) as reply:
                if reply.status < 500 and reply.status != 409:
                    return
        except OSError as exc:  # aiohttp's connection errors are OSErrors
            log.warning("simulator: %s (attempt %d)", exc, attempt)
        await asyncio.sleep(0.5 * attempt)


class _FakeStore(Protocol):
    def order_story(self, order_id: int) -> list[Delivery]: ...


def _numeric(locations: Mapping[str, str]) -> tuple[int, ...]:
    """The configured Shopify location ids (numbers, as Shopify's are)."""
    return tuple(int(location) for location in locations if location.isdigit())


def _fake_stores(config: Config, seed: int) -> dict[str, _FakeStore]:
    """A fake marketplace per configured store that receives webhooks."""
    from engine.dev.fakes.woocommerce import WooCommerceStore
    from engine.dev.simulator import DueBy, ShopifyStore
    from models.order import Marketplace

    # Stories are dated in the past and present, never the future (engine/dev/simulator.py).
    now = datetime.now(UTC)
    fakes: dict[str, _FakeStore] = {}
    for number, store in enumerate(config.stores.values()):
        if store.marketplace is Marketplace.SHOPIFY:
            fakes[store.id] = ShopifyStore(
                store_id=store.id,
                shop_domain=store.shop_domain or f"{store.id}.myshopify.com",
                secret=store.webhook_secrets(os.environ)[0],
                seed=seed + number,
                location_ids=_numeric(store.locations) or (70001,),
                clock=lambda: datetime.now(UTC),
                refund_share=0.15,
                stall_share=0.08,
            )
        elif store.marketplace is Marketplace.WOOCOMMERCE:
            woo = WooCommerceStore(
                store_id=store.id,
                secret=store.webhook_secrets(os.environ)[0],
                seed=seed + number,
                start=now - timedelta(days=1),
            )
            fakes[store.id] = DueBy(woo, lambda: datetime.now(UTC))
    if not fakes:
        raise ConfigError("no Shopify or WooCommerce store in the config to simulate")
    return fakes


async def _simulate(
    config: Config, url: str, rate: float, orders: int, seed: int, in_flight: int
) -> int:
    """Send order stories, several interleaved as in a real shop, at `rate` deliveries/s."""
    import aiohttp

    fakes = _fake_stores(config, seed)
    base = url.rstrip("/")
    paths = {
        store_id: f"{base}/webhooks/{config.stores[store_id].marketplace.value}/{store_id}"
        for store_id in fakes
    }
    stores = sorted(fakes)
    pick = random.Random(seed)  # noqa: S311 - repeatable traffic, not secrets
    interval = 1.0 / rate if rate > 0 else 0.0
    first = 1001 + (seed - 1) * 100_000
    next_order, sent, started = first, 0, time.monotonic()
    stories: list[list[Delivery]] = []
    async with aiohttp.ClientSession() as session:
        while stories or orders == 0 or next_order < first + orders:
            while len(stories) < in_flight and (orders == 0 or next_order < first + orders):
                store_id = stores[next_order % len(stores)]
                stories.append(fakes[store_id].order_story(next_order))
                next_order += 1
            story = pick.choice(stories)
            delivery = story.pop(0)
            await _post(session, paths[delivery.store_id], delivery)
            if not story:
                stories.remove(story)
            sent += 1
            if interval:
                await asyncio.sleep(max(0.0, started + sent * interval - time.monotonic()))
    return sent


#: The demo bol signing key's private half, from `winkel run` to the simulator.
DEMO_BOL_SIGNING_KEY_ENV = "WINKEL_DEMO_BOL_SIGNING_KEY"


def _local_api(store: Store) -> tuple[str, int] | None:
    """The host and port of a store's marketplace API when it is on this machine (a demo)."""
    if not store.api_base_url:
        return None
    address = urlparse(store.api_base_url)
    if address.hostname not in {"127.0.0.1", "localhost"} or address.port is None:
        return None
    return address.hostname, address.port


def _first_demo_order(seed: int) -> int:
    """Each run's polled orders get their own numbers (a restart over a kept Kafka must bring
    new orders, not different ones under old ids); 1,000 per seed keeps Amazon's 7-digit part
    unique for every seed `winkel run` picks."""
    return 1 + (seed - 1) * 1_000


#: How fast the polled demo marketplaces play their stories: fast enough that returns and
#: marketplace-invoiced orders show within the demo's first minutes.
DEMO_STEPS_PER_SECOND = 0.5


def _bol_demo(store: Store, host: str, port: int, url: str, seed: int) -> Any:
    from engine.dev.fakes.bol import FakeBol, SigningKey, play_demo, throwaway_signing_key

    client_id = store.env_value(os.environ, store.client_id_env, "client_id_env")
    secret = store.env_value(os.environ, store.client_secret_env, "client_secret_env")
    pem = os.environ.get(DEMO_BOL_SIGNING_KEY_ENV)
    key = SigningKey.from_pem(pem) if pem else throwaway_signing_key()
    fake = FakeBol(client_id=client_id, client_secret=secret, signing_key=key)
    push_url = f"{url.rstrip('/')}/webhooks/bol/{store.id}"
    return play_demo(
        fake,
        host,
        port,
        push_url,
        seed=seed,
        first_order=_first_demo_order(seed),
        steps_per_second=DEMO_STEPS_PER_SECOND,
    )


def _amazon_demo(store: Store, host: str, port: int, url: str, seed: int) -> Any:
    from engine.dev.fakes.amazon import FakeAmazon, play_demo

    fake = FakeAmazon(
        client_id=store.env_value(os.environ, store.client_id_env, "client_id_env"),
        client_secret=store.env_value(os.environ, store.client_secret_env, "client_secret_env"),
        refresh_token=store.env_value(os.environ, store.refresh_token_env, "refresh_token_env"),
    )
    relay_secret = (
        store.webhook_secrets(os.environ)[0].decode() if store.webhook_secret_env else None
    )
    relay_url = f"{url.rstrip('/')}/webhooks/amazon/{store.id}" if relay_secret else None
    return play_demo(
        fake,
        host,
        port,
        relay_url,
        relay_secret,
        seed=seed,
        first_order=_first_demo_order(seed),
        steps_per_second=DEMO_STEPS_PER_SECOND,
    )


def _polled_demos(config: Config, url: str, seed: int) -> list[Any]:
    """A fake API per polled store (bol.com, Amazon) served on this machine, playing orders."""
    from models.order import Marketplace

    makers = {Marketplace.BOL: _bol_demo, Marketplace.AMAZON: _amazon_demo}
    demos = []
    for store in config.stores.values():
        make = makers.get(store.marketplace)
        local = _local_api(store)
        if make is None or local is None:
            continue
        try:
            demos.append(make(store, *local, url, seed))
        except ConfigError as exc:
            log.warning(
                "simulator: no fake %s API for %s: %s", store.marketplace.value, store.id, exc
            )
            continue
        print(f"fake {store.marketplace.value} API for {store.id} on {store.api_base_url}")
    return demos


async def _simulate_all(config: Config, url: str, args: argparse.Namespace) -> int:
    """Webhook traffic, and (endless demo runs only) the fake APIs the pollers read."""
    simulated = _simulate(config, url, args.rate, args.orders, args.seed, args.in_flight)
    demos = _polled_demos(config, url, args.seed) if args.orders == 0 else []
    if not demos:
        return await simulated
    background = [asyncio.ensure_future(demo) for demo in demos]

    def report(task: asyncio.Future[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator: a fake marketplace API stopped: %r", task.exception())

    for task in background:
        task.add_done_callback(report)
    try:
        return await simulated
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)


def simulate(args: argparse.Namespace) -> int:
    config = _config(args)
    url = args.url or f"http://{config.web_host}:{config.web_port}"
    sent = asyncio.run(_simulate_all(config, url, args))
    print(f"sent {sent} deliveries")
    return 0


# --- replay --------------------------------------------------------------------------------


async def _replay(config: Config, only: set[str]) -> int:
    from engine.shell import kafka
    from engine.shell.replay import replay_all

    producer = kafka.producer(config.kafka)
    await producer.start()
    try:
        return await replay_all(producer, config.kafka, only)
    finally:
        await producer.stop()


def replay(args: argparse.Namespace) -> int:
    config = _config(args)
    count = asyncio.run(_replay(config, set(args.ids)))
    print(f"replayed {count} dead letters to their source topics")
    return 0


# --- read model ----------------------------------------------------------------------------


async def _rebuild(config: Config) -> str:
    import redis.asyncio as aioredis

    from engine.shell.rebuild import rebuild_read_model

    client = aioredis.from_url(config.redis_url)
    try:
        return (await rebuild_read_model(config, client)).text()
    finally:
        await client.aclose()


def rebuild_readmodel(args: argparse.Namespace) -> int:
    print(asyncio.run(_rebuild(_config(args))))
    return 0


# --- benchmark -----------------------------------------------------------------------------


def bench(args: argparse.Namespace) -> int:
    from engine.dev.bench import LIVE_WARM_UP_ORDERS, report_json
    from engine.dev.bench import bench as measure

    warm_up = LIVE_WARM_UP_ORDERS if args.warm_up is None else args.warm_up

    if args.memory_orders or args.workers > 1:
        from engine.dev import bench_modes

        mode: Any = (
            bench_modes.memory(args.memory_orders, args.partitions, args.seed, args.keep)
            if args.memory_orders
            else bench_modes.scale_out(
                args.workers,
                args.orders,
                args.in_flight,
                args.partitions,
                args.seed,
                args.keep,
                args.rate,
                warm_up,
            )
        )
        print(mode.text())
        if args.json:
            Path(args.json).write_bytes(bench_modes.report_json(mode))
        return 0
    baseline_records = args.baseline_records if args.baseline else 0
    report = measure(
        args.orders,
        args.in_flight,
        args.partitions,
        args.seed,
        args.keep,
        args.rate,
        baseline_records=baseline_records,
        warm_up_orders=warm_up,
    )
    print(report.text())
    if args.json:
        Path(args.json).write_bytes(report_json(report))
    return 0


def bench_read_model(args: argparse.Namespace) -> int:
    from engine.dev.bench_readmodel import bench_read_model as measure

    print(measure(_config(args), args.orders, args.requests, args.seed).text())
    return 0


# --- all in one ----------------------------------------------------------------------------


def _checked_environment(config: Config, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for child processes outside `--demo`: every secret the config names
    must be set (a forgotten one would have every real webhook refused with 401, silently),
    and bol's push keys must parse."""
    from engine.domain.marketplaces import bol
    from models.order import Marketplace

    check_secrets(config, environ)
    for store in config.stores.values():
        if store.marketplace is Marketplace.BOL and store.public_keys_env:
            for key in bol.parse_public_keys(environ.get(store.public_keys_env, "")):
                try:
                    bol.load_public_key(key)
                except ConfigError as exc:
                    raise ConfigError(
                        f"store {store.id!r}, {store.public_keys_env}: {exc}"
                    ) from None
    return dict(environ)


def _demo_environment(config: Config, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for `winkel run --demo`: throw-away secrets for what the user did not
    set. Only the demo invents secrets."""
    env = dict(environ)
    for store in config.stores.values():
        variable = store.webhook_secret_env
        if variable and not env.get(variable):
            env[variable] = secrets.token_hex(16)
            print(f"webhook secret for this run: {variable}={env[variable]}")
    _demo_bol_environment(config, env)
    _demo_amazon_environment(config, env)
    token = config.operator_token_env
    if not env.get(token):
        env[token] = secrets.token_urlsafe(18)
        print(f"operator token for this run: {token}={env[token]}")
    return env


def _demo_bol_environment(config: Config, env: dict[str, str]) -> None:
    """Throw-away bol client credentials and a push signing key pair for unset variables."""
    from models.order import Marketplace

    for store in config.stores.values():
        if store.marketplace is not Marketplace.BOL:
            continue
        for variable in (store.client_id_env, store.client_secret_env):
            if variable and not env.get(variable):
                env[variable] = secrets.token_hex(16)
        if store.public_keys_env and not env.get(store.public_keys_env):
            from engine.dev.fakes.bol import SigningKey

            key = SigningKey.generate()
            env[store.public_keys_env] = key.public_pem
            env[DEMO_BOL_SIGNING_KEY_ENV] = key.private_pem


def _demo_amazon_environment(config: Config, env: dict[str, str]) -> None:
    """Throw-away LWA client credentials and refresh token for unset variables."""
    from models.order import Marketplace

    for store in config.stores.values():
        if store.marketplace is not Marketplace.AMAZON:
            continue
        for variable in (store.client_id_env, store.client_secret_env, store.refresh_token_env):
            if variable and not env.get(variable):
                env[variable] = secrets.token_hex(16)


def run(args: argparse.Namespace) -> int:
    """Everything on the contract defaults; Ctrl-C stops what it started, in reverse order."""
    import engine.dev.runtime  # noqa: F401  (before anything else: absent in the production image)

    config = _config(args)
    state = config.data_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    env = (
        _demo_environment(config, os.environ)
        if args.demo
        else _checked_environment(config, os.environ)
    )
    stop = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    with contextlib.ExitStack() as services:
        _broker(config, state, env, services, args.brokers)
        _redis(config, state, services)
        from engine.dev.runtime import ManagedProcess

        children = _engine_processes(args, config, state, env, services)
        print("stop with Ctrl-C")
        restarted: dict[str, float] = {}
        while not stop:
            for index, child in enumerate(children):
                if child.alive() or child.name == "simulator":
                    continue
                # Supervised: a worker that crashed on purpose (faust's producer died) or by
                # accident comes back by itself; a configuration error (exit 2) stops the run.
                if child.returncode == 2 or time.monotonic() - restarted.get(child.name, -1e9) < 5:
                    print(f"{child.name} exited; see {child.log_path}", file=sys.stderr)
                    stop = True
                    break
                print(f"{child.name} exited ({child.returncode}); restarting it", file=sys.stderr)
                restarted[child.name] = time.monotonic()
                children[index] = services.enter_context(
                    ManagedProcess(child.args, child.log_path, env=env, name=child.name)
                )
            time.sleep(0.5)
        print("stopping…")
    return 0


def _broker(
    config: Config,
    state: Path,
    env: dict[str, str],
    services: contextlib.ExitStack,
    brokers: int = 1,
) -> None:
    from engine.dev.runtime import (
        KafkaBroker,
        KafkaCluster,
        TansuBroker,
        java_available,
        maven_available,
        port_open,
    )

    host, _, port = config.kafka.bootstrap.partition(",")[0].rpartition(":")
    if port_open(host, int(port)):
        print(f"using the Kafka broker already at {config.kafka.bootstrap}")
    elif brokers > 1:
        # Nodes beyond the first take free ports; the children get every node's address.
        cluster = KafkaCluster(state / "kafka-cluster", brokers, first_port=int(port), host=host)
        print(f"starting a {brokers}-broker Apache Kafka cluster (data in {cluster.data_dir})")
        services.enter_context(cluster)
        env["WINKEL_KAFKA_BOOTSTRAP"] = cluster.bootstrap
        print(f"Kafka bootstrap: {cluster.bootstrap}")
    elif java_available() and maven_available():
        print(f"starting Apache Kafka on {config.kafka.bootstrap} (data in {state / 'kafka'})")
        services.enter_context(KafkaBroker(state / "kafka", port=int(port), host=host))
    else:
        print(
            "WARNING: Java 17+ or Maven is missing, so the broker is Tansu, which KEEPS NOTHING "
            "ACROSS RESTARTS: every order is gone when `winkel run` stops.",
            file=sys.stderr,
        )
        services.enter_context(TansuBroker(state / "tansu", port=int(port), host=host))
        env["WINKEL_KAFKA_IDEMPOTENT"] = "false"


def _redis(config: Config, state: Path, services: contextlib.ExitStack) -> None:
    from engine.dev.runtime import RedisServer, redis_reachable

    if redis_reachable(config.redis_url):
        print(f"using the Redis already at {config.redis_url}")
        return
    redis_port = urlparse(config.redis_url).port or 6379
    print(f"starting redis-server on port {redis_port}")
    services.enter_context(RedisServer(state / "redis", port=redis_port))


def _engine_processes(
    args: argparse.Namespace,
    config: Config,
    state: Path,
    env: dict[str, str],
    services: contextlib.ExitStack,
) -> list[ManagedProcess]:
    from engine.dev.runtime import ManagedProcess, ensure_port_free, wait_for_port

    ensure_port_free(config.web_host, config.web_port, "the web process")
    me = [sys.executable, "-m", "engine.cli"]
    if args.config:
        me += ["--config", args.config]
    logs = state / "logs"
    commands = [("worker", ["worker"]), ("web", ["web"])]
    if args.demo:
        # A new seed per run: a restart over a kept Kafka brings new orders, not replays.
        seed = str(int(time.time()) % 10_000 + 1)
        commands.append(("simulator", ["simulate", "--rate", str(args.rate), "--seed", seed]))
    children = []
    for name, command in commands:
        child = ManagedProcess([*me, *command], logs / f"{name}.log", env=env, name=name)
        children.append(services.enter_context(child))
        if name == "web":
            wait_for_port(config.web_host, config.web_port, 60, child)
            print(f"dashboard: http://{config.web_host}:{config.web_port}/  (logs in {logs})")
    if args.demo:
        print(f"demo traffic: {args.rate} webhook deliveries per second")
    return children


# --- entry point ---------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="winkel", description=__doc__)
    top.add_argument("--config", help="TOML config file (default: $WINKEL_CONFIG or the demo)")
    top.add_argument("--loglevel", default="info")
    sub = top.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="broker, Redis, worker and web together")
    p_run.add_argument("--demo", action="store_true", help="add simulated Shopify traffic")
    p_run.add_argument("--rate", type=float, default=5.0, help="demo deliveries per second")
    p_run.add_argument(
        "--brokers", type=int, default=1, help="Kafka brokers (3: replicated, min.insync 2)"
    )
    p_run.set_defaults(handler=run)
    sub.add_parser("worker", help="the stream processor").set_defaults(handler=worker)
    sub.add_parser("web", help="webhooks, API and dashboard").set_defaults(handler=web_server)
    p_sim = sub.add_parser("simulate", help="send signed fake Shopify webhooks")
    p_sim.add_argument("--url", help="base URL of the web process")
    p_sim.add_argument(
        "--rate", type=float, default=5.0, help="deliveries per second (0: flat out)"
    )
    p_sim.add_argument("--orders", type=int, default=0, help="orders to simulate (0: forever)")
    p_sim.add_argument("--seed", type=int, default=1)
    p_sim.add_argument("--in-flight", type=int, default=12, help="orders interleaved at once")
    p_sim.set_defaults(handler=simulate)
    p_replay = sub.add_parser("replay", help="send dead letters back to their source topics")
    p_replay.add_argument("ids", nargs="*", help="dead-letter ids (default: all)")
    p_replay.set_defaults(handler=replay)
    p_rebuild = sub.add_parser(
        "rebuild-readmodel", help="refill the dashboard's Redis read model from Kafka"
    )
    p_rebuild.set_defaults(handler=rebuild_readmodel)
    p_bench = sub.add_parser("bench", help="throughput, latency and memory on this machine")
    p_bench.add_argument("--orders", type=int, default=2_000, help="simulated orders to post")
    p_bench.add_argument("--in-flight", type=int, default=32, help="orders posted at once")
    p_bench.add_argument("--partitions", type=int, default=4)
    p_bench.add_argument(
        "--rate", type=float, default=0.0, help="webhooks per second (default: as fast as served)"
    )
    p_bench.add_argument("--seed", type=int, default=1)
    p_bench.add_argument(
        "--warm-up",
        type=int,
        help="orders posted and processed before the measured ones, at the same rate "
        "(default: engine/dev/bench.py LIVE_WARM_UP_ORDERS)",
    )
    p_bench.add_argument(
        "--baseline",
        action="store_true",
        help="first run a bare faust table agent on the same broker; then the engine live and "
        "preloaded (the worker drains a filled raw topic); report both ratios",
    )
    p_bench.add_argument(
        "--baseline-records", type=int, default=20_000, help="records the bare agent handles"
    )
    p_bench.add_argument(
        "--memory-orders",
        type=int,
        default=0,
        help="seed the orders table's changelog with this many orders; report the worker's "
        "RSS and recovery time after a restart",
    )
    p_bench.add_argument(
        "--workers",
        type=int,
        default=1,
        help="with 2 or more: the run with one worker, then with this many (use 8 partitions)",
    )
    p_bench.add_argument("--json", help="also write the report as JSON to this file")
    p_bench.add_argument("--keep", action="store_true", help="keep logs and data afterwards")
    p_bench.set_defaults(handler=bench)
    p_bench_rm = sub.add_parser(
        "bench-read-model", help="order list and detail latency over a large read model"
    )
    p_bench_rm.add_argument("--orders", type=int, default=100_000)
    p_bench_rm.add_argument("--requests", type=int, default=200, help="per scenario")
    p_bench_rm.add_argument("--seed", type=int, default=1)
    p_bench_rm.set_defaults(handler=bench_read_model)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"winkel: configuration error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        # `run`, `simulate` and `bench` import the developer tools, which the image leaves out.
        if not (exc.name or "").startswith("engine.dev"):
            raise
        print(
            f"winkel {args.command}: the developer tools (engine.dev: local Kafka and Redis, "
            "marketplace fakes, simulator, bench) are not installed here; the production image "
            "leaves them out. Run it from a source checkout (scripts/bootstrap, scripts/run).",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
