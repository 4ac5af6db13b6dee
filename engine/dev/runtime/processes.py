"""Process-group management and TCP port helpers for locally started infrastructure."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from engine.dev.runtime.exceptions import RuntimeStartError

__all__ = [
    "ManagedProcess",
    "died_error",
    "ensure_port_free",
    "free_port",
    "port_open",
    "timeout_error",
    "wait_for_port",
]

_LOG_TAIL_BYTES = 4000

# Every process started here and not yet stopped: stopped at interpreter exit, because a
# child in its own session gets no Ctrl-C from the terminal and would outlive us.
_live: dict[int, ManagedProcess] = {}


@atexit.register
def _stop_leftovers() -> None:
    for process in list(_live.values()):
        process.terminate(timeout=10.0)


class ManagedProcess:
    """A child process in its own session whose whole process group is stopped together.

    Output (stdout and stderr) goes to ``log_path``, appended so that restarts of the same
    service keep the earlier runs' output for debugging.
    """

    def __init__(
        self,
        args: Sequence[str | os.PathLike[str]],
        log_path: Path,
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        self.args = [os.fspath(a) for a in args]
        self.log_path = log_path
        self.name = name or Path(self.args[0]).name
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        _live[self._popen.pid] = self

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def alive(self) -> bool:
        """True while the leading process has not exited."""
        return self._popen.poll() is None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait up to ``timeout`` s for the leading process to exit; its exit code or None."""
        try:
            return self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def _signal_group(self, sig: signal.Signals) -> None:
        # The leader's pid is the process group id (start_new_session=True). Children can
        # outlive the leader, so the group is signalled even when the leader is gone; the
        # group id stays reserved until the leader is reaped and every member has exited.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, sig)

    def _group_exists(self) -> bool:
        """True while any live (non-zombie) process is left in the group.

        Zombies are ignored: an orphaned child is reparented to init, and some init
        processes (in containers and micro-VMs) never reap them.
        """
        pgid = self._popen.pid
        proc = Path("/proc")
        if not proc.is_dir():
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Fields after the command name (which may hold spaces and parentheses).
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) >= 3 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                return True
        return False

    def _wait_group_gone(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            self._popen.poll()
            if not self._group_exists():
                return True
            time.sleep(0.02)
        self._popen.poll()
        return not self._group_exists()

    def terminate(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process group, SIGKILL it if it is still there after ``timeout`` s.

        Returns the leader's exit code. Never blocks much longer than ``timeout`` plus the
        few seconds a SIGKILLed group needs to disappear.
        """
        if self._popen.poll() is None or self._group_exists():
            self._signal_group(signal.SIGTERM)
            if not self._wait_group_gone(time.monotonic() + timeout):
                return self.kill()
        _live.pop(self._popen.pid, None)
        return self._popen.poll()

    def kill(self) -> int | None:
        """SIGKILL the process group at once and wait for it to disappear."""
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout=10.0)
        if self._wait_group_gone(time.monotonic() + 5.0):
            _live.pop(self._popen.pid, None)
        return self._popen.poll()

    def log_tail(self, max_bytes: int = _LOG_TAIL_BYTES) -> str:
        """The last ``max_bytes`` of the process log, decoded leniently."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                size = log.tell()
                log.seek(max(0, size - max_bytes))
                return log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.terminate()

    def __repr__(self) -> str:
        return f"ManagedProcess(name={self.name!r}, pid={self.pid}, alive={self.alive()})"


def ensure_port_free(host: str, port: int, what: str) -> None:
    """Raise :class:`RuntimeStartError` if something already listens on ``host:port``."""
    if port_open(host, port, timeout=0.25):
        raise RuntimeStartError(f"cannot start {what}: something already listens on {host}:{port}")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a TCP connection to ``host:port`` succeeds within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def died_error(process: ManagedProcess, what: str) -> RuntimeStartError:
    """The error for a process that exited while it should have been starting."""
    return RuntimeStartError(
        f"{process.name} (pid {process.pid}) exited with code {process.returncode} "
        f"{what}; last lines of {process.log_path}:\n{process.log_tail()}"
    )


def timeout_error(process: ManagedProcess | None, what: str) -> RuntimeStartError:
    """The error for a process that did not become ready in time."""
    if process is None:
        return RuntimeStartError(what)
    return RuntimeStartError(
        f"{what} ({process.name}, pid {process.pid}); last lines of {process.log_path}:\n"
        f"{process.log_tail()}"
    )


def wait_for_port(
    host: str, port: int, timeout: float, process: ManagedProcess | None = None
) -> None:
    """Block until ``host:port`` accepts TCP connections.

    Raises :class:`RuntimeStartError` (with the tail of the process log) if ``process``
    exits first or ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and not process.alive():
            raise died_error(process, f"before {host}:{port} accepted connections")
        if port_open(host, port, timeout=0.25):
            return
        if time.monotonic() >= deadline:
            raise timeout_error(process, f"{host}:{port} not open after {timeout:.0f} s")
        time.sleep(0.05)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class LocalService:
    """A server this machine runs for the engine (broker, Redis): started, stopped, killed.

    Subclasses implement `start()`, which sets `_process` once the server answers.
    """

    #: How long a graceful stop may take before the process group is killed.
    stop_timeout = 10.0

    def __init__(self) -> None:
        self._process: ManagedProcess | None = None

    def start(self, timeout: float = 30.0) -> None:
        raise NotImplementedError

    @property
    def process(self) -> ManagedProcess | None:
        return self._process

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM; SIGKILL if it is not gone after `timeout` s (default `stop_timeout`)."""
        if self._process is None:
            return
        self._process.terminate(timeout=self.stop_timeout if timeout is None else timeout)
        self._process = None

    def kill(self) -> None:
        """SIGKILL at once, like a crash."""
        if self._process is None:
            return
        self._process.kill()
        self._process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
