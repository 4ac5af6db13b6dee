"""`winkel run --demo`: the whole stack comes up, demo orders flow, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from aiohttp import ClientSession

from engine.dev.runtime import free_port, port_open
from tests.support import ROOT, wait_until

pytestmark = pytest.mark.integration


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if text in command and ") Z " not in stat:  # zombies are already gone
            found.append(f"{entry.name}: {command}")
    return found


ALL_MARKETPLACES = {"shopify", "woocommerce", "bol", "amazon"}


async def test_run_demo_starts_everything_and_ctrl_c_stops_it_all(tmp_path: Path) -> None:
    kafka_port, redis_port, web_port = free_port(), free_port(), free_port()
    data_dir = tmp_path / "winkel-state"
    env = dict(
        os.environ,
        WINKEL_KAFKA_BOOTSTRAP=f"127.0.0.1:{kafka_port}",
        WINKEL_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        WINKEL_WEB_PORT=str(web_port),
        WINKEL_DATA_DIR=str(data_dir),
        WINKEL_OPERATOR_TOKEN="run-test-operator",
    )
    env.pop("WINKEL_CONFIG", None)
    log = (tmp_path / "run.log").open("wb")
    run = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "engine.cli", "run", "--demo", "--rate", "20"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        async def marketplaces_listed() -> set[str] | None:
            """The marketplaces with orders on the dashboard, once all four have some."""
            if not port_open("127.0.0.1", web_port):
                return None
            async with ClientSession() as session:
                seen = set()
                for marketplace in ALL_MARKETPLACES:
                    url = f"http://127.0.0.1:{web_port}/api/orders?marketplace={marketplace}"
                    auth = {"Authorization": "Bearer run-test-operator"}
                    async with session.get(url, headers=auth) as response:
                        if orjson.loads(await response.read())["orders"]:
                            seen.add(marketplace)
            return seen if seen == ALL_MARKETPLACES else None

        await wait_until(marketplaces_listed, 180, what="demo orders of all four marketplaces")
        assert processes_mentioning(str(data_dir))  # broker, redis, worker, web, simulator
    finally:
        run.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(run.wait(), 90)
        log.close()
    output = (tmp_path / "run.log").read_text()
    assert code == 0, output
    assert "starting Apache Kafka" in output
    await wait_until(lambda: not processes_mentioning(str(data_dir)), 10, what="no leftovers")
    for port in (kafka_port, redis_port, web_port):
        assert not port_open("127.0.0.1", port)
