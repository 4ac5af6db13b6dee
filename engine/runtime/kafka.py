"""A real single-node Apache Kafka (KRaft) broker for tests and ``winkel run``.

The jars come from Maven Central through ``infra/kafka/pom.xml`` and are cached outside the
repository (``~/.cache/winkel/kafka-<version>/libs``, or under ``$WINKEL_CACHE_DIR``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import importlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.runtime.exceptions import InfrastructureError, RuntimeStartError
from engine.runtime.processes import (
    LocalService,
    ManagedProcess,
    died_error,
    ensure_port_free,
    free_port,
    timeout_error,
    wait_for_port,
)

__all__ = [
    "KAFKA_VERSION",
    "KafkaBroker",
    "KafkaCluster",
    "default_cache_root",
    "java_available",
    "kafka_classpath",
    "maven_available",
    "wait_for_kafka_metadata",
]

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.4.0"
MIN_JAVA_VERSION = 17

_POM = Path(__file__).resolve().parents[2] / "infra" / "kafka" / "pom.xml"
_MARKER_NAME = "libs.complete"
_MVN_TIMEOUT_S = 1800.0


# --------------------------------------------------------------------------- tools


def default_cache_root() -> Path:
    """``$WINKEL_CACHE_DIR`` if set, else ``~/.cache/winkel``."""
    env = os.environ.get("WINKEL_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "winkel"


def _java_major(version_output: str) -> int | None:
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:  # "1.8.0_392" style
        major = int(match.group(2))
    return major


def java_available() -> bool:
    """True if ``java`` on PATH is Java 17 or newer."""
    java = shutil.which("java")
    if java is None:
        return False
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    major = _java_major(result.stderr + result.stdout)
    return result.returncode == 0 and major is not None and major >= MIN_JAVA_VERSION


def java_binary() -> str:
    """The ``java`` that runs Kafka; :class:`InfrastructureError` when there is none fit."""
    java = shutil.which("java")
    if java is None or not java_available():
        raise InfrastructureError(
            f"Apache Kafka needs Java {MIN_JAVA_VERSION}+ on PATH "
            "(e.g. `sudo apt-get install openjdk-17-jre-headless`), or use Tansu."
        )
    return java


def maven_available() -> bool:
    """True if ``mvn`` is on PATH."""
    return shutil.which("mvn") is not None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def kafka_classpath(cache_root: Path | None = None) -> Path:
    """The folder holding Kafka's jars, downloading them with Maven the first time.

    A marker file written after a complete download tells later calls the folder is
    whole; a file lock keeps parallel processes from downloading at the same time.
    """
    root = cache_root if cache_root is not None else default_cache_root()
    version_dir = root / f"kafka-{KAFKA_VERSION}"
    libs = version_dir / "libs"
    marker = version_dir / _MARKER_NAME
    if marker.is_file() and libs.is_dir():
        return libs
    with _file_lock(root / f".kafka-{KAFKA_VERSION}.lock"):
        if marker.is_file() and libs.is_dir():  # another process finished meanwhile
            return libs
        _download_jars(version_dir, libs, marker)
    return libs


def _download_jars(version_dir: Path, libs: Path, marker: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfrastructureError(
            "Maven (mvn) is not on PATH; it is needed once to fetch Apache Kafka's jars. "
            "Install it (e.g. `sudo apt-get install maven`) or use the Tansu broker."
        )
    if not _POM.is_file():
        raise InfrastructureError(f"Kafka's Maven pom is missing: {_POM}")
    version_dir.mkdir(parents=True, exist_ok=True)
    # We hold the lock: leftovers of interrupted downloads can go.
    for stale in version_dir.glob("libs.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix="libs.tmp-", dir=version_dir))
    log.info("Fetching Apache Kafka %s jars with Maven into %s", KAFKA_VERSION, libs)
    try:
        try:
            result = subprocess.run(
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(_POM),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={tmp}",
                ],
                capture_output=True,
                text=True,
                timeout=_MVN_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise InfrastructureError(
                f"mvn did not fetch Kafka's jars within {_MVN_TIMEOUT_S:.0f} s"
            ) from exc
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-4000:]
            raise InfrastructureError(
                f"mvn failed (exit code {result.returncode}) fetching Kafka's jars "
                f"with {_POM}:\n{output}"
            )
        if not (tmp / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
            raise InfrastructureError(
                f"mvn succeeded but kafka_2.13-{KAFKA_VERSION}.jar is not in {tmp}"
            )
        if libs.exists():  # an earlier, unmarked (possibly partial) folder
            shutil.rmtree(libs)
        tmp.rename(libs)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    marker.write_text(f"kafka {KAFKA_VERSION} jars complete\n")


# --------------------------------------------------------------------------- readiness


async def _metadata_brokers(bootstrap: str, limit_s: float) -> int:
    """Number of brokers a metadata request to ``bootstrap`` reports."""
    admin_module: Any = importlib.import_module("aiokafka.admin")
    admin = admin_module.AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=max(1000, int(limit_s * 1000)),
        client_id="winkel-readiness-probe",
    )
    try:
        async with asyncio.timeout(limit_s):
            await admin.start()
            info: dict[str, Any] = await admin.describe_cluster()
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return len(info.get("brokers") or [])


def _run_probe(bootstrap: str, timeout: float) -> int:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_metadata_brokers(bootstrap, timeout))
    # Called from inside an event loop (e.g. an async fixture): use a private loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _metadata_brokers(bootstrap, timeout)).result()


def wait_for_kafka_metadata(
    bootstrap: str, timeout: float, process: ManagedProcess | None = None, brokers: int = 1
) -> None:
    """Block until the broker at ``bootstrap`` answers a metadata request listing ``brokers``
    brokers (a cluster's nodes register one by one).

    Raises :class:`RuntimeStartError` if ``process`` exits first or ``timeout`` passes.
    """
    deadline = time.monotonic() + timeout
    last_error: str = "no answer yet"
    while True:
        if process is not None and not process.alive():
            raise died_error(process, f"before {bootstrap} answered a metadata request")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise timeout_error(
                process,
                f"{bootstrap} answered no metadata request within {timeout:.0f} s "
                f"(last: {last_error})",
            )
        try:
            listed = _run_probe(bootstrap, min(5.0, max(0.5, remaining)))
            if listed >= brokers:
                return
            last_error = f"metadata listed {listed} of {brokers} brokers"
        except Exception as exc:  # any client failure means "not ready yet"
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)


# --------------------------------------------------------------------------- broker


def _kafka_env() -> dict[str, str]:
    env = dict(os.environ)
    # Kafka's own launcher variables must not leak in from the caller's shell.
    for name in ("KAFKA_OPTS", "KAFKA_HEAP_OPTS", "KAFKA_LOG4J_OPTS", "JAVA_TOOL_OPTIONS"):
        env.pop(name, None)
    return env


def run_storage_tool(java: str, libs: Path, cwd: Path, *args: str) -> str:
    """Run Kafka's StorageTool (``kafka-storage.sh``) with ``args``; its standard output."""
    cmd = [java, "-cp", f"{libs}/*", "kafka.tools.StorageTool", *args]
    try:
        result = subprocess.run(
            cmd, capture_output=True, text=True, timeout=120, check=False, cwd=cwd, env=_kafka_env()
        )
    except subprocess.TimeoutExpired as exc:
        raise InfrastructureError(f"Kafka StorageTool {args[0]} hung") from exc
    if result.returncode != 0:
        raise InfrastructureError(
            f"Kafka StorageTool {args[0]} failed (exit code {result.returncode}):\n"
            f"{(result.stdout + result.stderr)[-4000:]}"
        )
    return result.stdout


def new_cluster_id(java: str, libs: Path, cwd: Path) -> str:
    """A fresh KRaft cluster id from ``kafka-storage random-uuid``."""
    output = run_storage_tool(java, libs, cwd, "random-uuid").strip()
    cluster_id = output.splitlines()[-1].strip() if output else ""
    if not cluster_id:
        raise InfrastructureError("Kafka StorageTool random-uuid printed no id")
    return cluster_id


_LOG4J2_TEMPLATE = """\
# Written by engine.runtime.kafka; overwritten on every start.
status = warn
name = winkel-kafka

appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n

rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
"""


class KafkaBroker(LocalService):
    """A KRaft Kafka node (combined broker and controller) living in ``data_dir``.

    Alone it is a single-node cluster (its own quorum, ``--standalone``). As a member of a
    :class:`KafkaCluster` it is one of a static quorum of ``voters`` sharing ``cluster_id``,
    with internal topics replicated ``replication`` times. The log directory persists, so a
    node restarted on the same ``data_dir`` keeps its topics and records.
    """

    stop_timeout = 30.0

    def __init__(
        self,
        data_dir: Path,
        port: int = 9092,
        controller_port: int | None = None,
        num_partitions: int = 4,
        host: str = "127.0.0.1",
        heap: str = "512m",
        *,
        node_id: int = 1,
        voters: str | None = None,
        cluster_id: str | None = None,
        replication: int = 1,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.host = host
        self.num_partitions = num_partitions
        self.heap = heap
        self.node_id = node_id
        self.voters = voters
        self.cluster_id = cluster_id
        self.replication = replication
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.data_dir / "server.properties"
        self.log4j_path = self.data_dir / "log4j2.properties"
        self.log_dir = self.data_dir / "log"
        self.process_log = self.data_dir / "kafka.log"
        self.server_log = self.data_dir / "server.log"
        if controller_port is None:
            # A formatted log remembers the controller's endpoint: keep it across restarts.
            controller_port = self._previous_controller_port() or free_port(host)
        self.controller_port = controller_port
        super().__init__()
        self._write_config()

    # -- configuration

    def _previous_controller_port(self) -> int | None:
        if not self.config_path.is_file():
            return None
        match = re.search(
            r"^controller\.quorum\.bootstrap\.servers=.*:(\d+)\s*$",
            self.config_path.read_text(),
            re.MULTILINE,
        )
        return int(match.group(1)) if match else None

    def _write_config(self) -> None:
        # A node of a cluster names every voter; a lone node bootstraps its own quorum.
        quorum = (
            {"controller.quorum.voters": self.voters}
            if self.voters
            else {"controller.quorum.bootstrap.servers": f"{self.host}:{self.controller_port}"}
        )
        # Durable writes need a second copy: with 3+ replicas an acks=all write waits for two.
        min_isr = str(min(2, self.replication))
        replicas = str(self.replication)
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            **quorum,
            "listeners": (
                f"PLAINTEXT://{self.host}:{self.port},"
                f"CONTROLLER://{self.host}:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "num.partitions": str(self.num_partitions),
            "auto.create.topics.enable": "true",
            "default.replication.factor": replicas,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": "0",
        }
        lines = ["# Written by engine.runtime.kafka; overwritten on every start."]
        lines += [f"{key}={value}" for key, value in props.items()]
        self.config_path.write_text("\n".join(lines) + "\n")
        self.log4j_path.write_text(_LOG4J2_TEMPLATE.format(log_file=self.server_log))

    def _run_storage_tool(self, java: str, libs: Path, *args: str) -> str:
        return run_storage_tool(java, libs, self.data_dir, *args)

    def _ensure_formatted(self, java: str, libs: Path) -> None:
        if (self.log_dir / "meta.properties").is_file():
            return
        cluster_id = self.cluster_id or new_cluster_id(java, libs, self.data_dir)
        # A static quorum (controller.quorum.voters) is formatted without --standalone.
        standalone = [] if self.voters else ["--standalone"]
        self._run_storage_tool(
            java, libs, "format", *standalone, "-t", cluster_id, "-c", str(self.config_path)
        )
        log.info("Formatted Kafka log dir %s (cluster id %s)", self.log_dir, cluster_id)

    def _env(self) -> dict[str, str]:
        return _kafka_env()

    # -- lifecycle

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start the broker and block until it answers metadata requests."""
        if self.alive():
            return
        started = time.monotonic()
        self.launch()
        self.wait_ready(timeout - (time.monotonic() - started))
        log.info(
            "Kafka %s up at %s in %.1f s (data in %s)",
            KAFKA_VERSION,
            self.bootstrap,
            time.monotonic() - started,
            self.data_dir,
        )

    def launch(self) -> None:
        """Start the process without waiting: a cluster's nodes must all be up for a quorum."""
        if self.alive():
            return
        ensure_port_free(self.host, self.port, "Kafka")
        ensure_port_free(self.host, self.controller_port, "Kafka's controller")
        java = java_binary()
        libs = kafka_classpath()
        self._write_config()
        self._ensure_formatted(java, libs)
        cmd = [
            java,
            f"-Xmx{self.heap}",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.log4j_path}",
            "-cp",
            f"{libs}/*",
            "kafka.Kafka",
            str(self.config_path),
        ]
        self._process = ManagedProcess(
            cmd,
            self.process_log,
            cwd=self.data_dir,
            env=self._env(),
            name=f"kafka-{self.node_id}" if self.voters else "kafka",
        )

    def wait_ready(self, timeout: float, brokers: int = 1) -> None:
        """Block until this node answers a metadata request listing ``brokers`` brokers."""
        process = self._process
        if process is None:
            raise RuntimeStartError(f"{self!r} was not launched")
        started = time.monotonic()
        try:
            wait_for_port(self.host, self.port, max(1.0, timeout), process)
            remaining = timeout - (time.monotonic() - started)
            wait_for_kafka_metadata(self.bootstrap, max(1.0, remaining), process, brokers)
        except BaseException as exc:
            process.kill()
            self._process = None
            if isinstance(exc, RuntimeStartError):
                raise RuntimeStartError(f"{exc}\nBroker log: {self.server_log}") from None
            raise

    def __repr__(self) -> str:
        return f"KafkaBroker(bootstrap={self.bootstrap!r}, data_dir={str(self.data_dir)!r})"


# --------------------------------------------------------------------------- cluster


def _previous_ports(config_path: Path) -> tuple[int, int] | None:
    """The (client, controller) ports a node's earlier config used, if it has one."""
    if not config_path.is_file():
        return None
    match = re.search(
        r"^listeners=PLAINTEXT://[^:]+:(\d+),CONTROLLER://[^:]+:(\d+)\s*$",
        config_path.read_text(),
        re.MULTILINE,
    )
    return (int(match.group(1)), int(match.group(2))) if match else None


class KafkaCluster:
    """``size`` KRaft nodes on this machine, each broker and controller, one static quorum.

    Every node lives in ``data_dir/node-<id>``; internal topics are replicated ``min(size,
    3)`` times and ``min.insync.replicas`` is 2, so an ``acks=all`` write survives the loss
    of any one node. Tests reach single nodes through :attr:`nodes` (``kill()``, ``stop()``,
    ``start()``); ports and the cluster id are kept across restarts of the whole cluster.
    """

    def __init__(
        self,
        data_dir: Path,
        size: int = 3,
        first_port: int | None = None,
        num_partitions: int = 4,
        host: str = "127.0.0.1",
        heap: str = "384m",
    ) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        taken: set[int] = set()

        def port() -> int:
            while (candidate := free_port(host)) in taken:
                pass
            taken.add(candidate)
            return candidate

        layout: list[tuple[int, Path, int, int]] = []
        for node_id in range(1, size + 1):
            node_dir = self.data_dir / f"node-{node_id}"
            previous = _previous_ports(node_dir / "server.properties")
            if previous is None:
                wanted = first_port if node_id == 1 and first_port is not None else port()
                previous = (wanted, port())
            taken.update(previous)
            layout.append((node_id, node_dir, *previous))
        voters = ",".join(f"{n}@{host}:{controller}" for n, _, _, controller in layout)
        cluster_id = self._cluster_id() if self._needs_format(layout) else None
        self.nodes = [
            KafkaBroker(
                node_dir,
                port=client,
                controller_port=controller,
                num_partitions=num_partitions,
                host=host,
                heap=heap,
                node_id=node_id,
                voters=voters,
                cluster_id=cluster_id,
                replication=min(size, 3),
            )
            for node_id, node_dir, client, controller in layout
        ]

    @staticmethod
    def _needs_format(layout: list[tuple[int, Path, int, int]]) -> bool:
        return any(not (d / "log" / "meta.properties").is_file() for _, d, _, _ in layout)

    def _cluster_id(self) -> str:
        """One id for every node, written down so a node formatted later joins the same one."""
        path = self.data_dir / "cluster.id"
        if path.is_file():
            return path.read_text().strip()
        cluster_id = new_cluster_id(java_binary(), kafka_classpath(), self.data_dir)
        path.write_text(cluster_id + "\n")
        return cluster_id

    @property
    def size(self) -> int:
        return len(self.nodes)

    @property
    def bootstrap(self) -> str:
        """Every node's address: a client that finds one node down bootstraps from another."""
        return ",".join(node.bootstrap for node in self.nodes)

    def alive(self) -> bool:
        return all(node.alive() for node in self.nodes)

    def start(self, timeout: float = 120.0) -> None:
        """Start every node and block until each one's metadata lists the whole cluster."""
        started = time.monotonic()
        try:
            for node in self.nodes:
                node.launch()
            for node in self.nodes:
                node.wait_ready(timeout - (time.monotonic() - started), brokers=self.size)
        except BaseException:
            self.stop()
            raise
        log.info(
            "Kafka %s cluster of %d up at %s in %.1f s (data in %s)",
            KAFKA_VERSION,
            self.size,
            self.bootstrap,
            time.monotonic() - started,
            self.data_dir,
        )

    def stop(self, timeout: float | None = None) -> None:
        """Stop every node at once: one by one, the last ones wait for a quorum that is gone."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.size) as pool:
            for stopping in [pool.submit(node.stop, timeout) for node in self.nodes]:
                stopping.result()

    def __enter__(self) -> KafkaCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"KafkaCluster(bootstrap={self.bootstrap!r}, data_dir={str(self.data_dir)!r})"
