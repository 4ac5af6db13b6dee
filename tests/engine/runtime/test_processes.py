"""ManagedProcess and port helpers against real processes and sockets."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.dev.runtime import (
    ManagedProcess,
    RuntimeStartError,
    free_port,
    port_open,
    wait_for_port,
)


def running(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (orphans may never be reaped here)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] not in ("Z", "X")


def wait_for_file(path: Path, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.01)
    raise AssertionError(f"{path} was not written")


def test_terminate_stops_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    proc = ManagedProcess(
        ["sh", "-c", f"sleep 300 & echo $! > {pid_file}; wait"], tmp_path / "p.log"
    )
    child = int(wait_for_file(pid_file))
    assert proc.alive()
    assert running(child)

    started = time.monotonic()
    proc.terminate(timeout=5.0)

    assert time.monotonic() - started < 5.0
    assert not proc.alive()
    assert not running(child)


def test_terminate_reaches_children_after_the_leader_exited(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    proc = ManagedProcess(["sh", "-c", f"sleep 300 & echo $! > {pid_file}"], tmp_path / "p.log")
    child = int(wait_for_file(pid_file))
    deadline = time.monotonic() + 5
    while proc.alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not proc.alive()
    assert running(child)

    proc.terminate(timeout=5.0)

    assert not running(child)


def test_terminate_escalates_to_sigkill_after_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    # An ignored SIGTERM is inherited by the child too.
    proc = ManagedProcess(
        ["sh", "-c", f"trap '' TERM; sleep 300 & echo $! > {pid_file}; wait"],
        tmp_path / "p.log",
    )
    child = int(wait_for_file(pid_file))

    started = time.monotonic()
    code = proc.terminate(timeout=0.5)
    elapsed = time.monotonic() - started

    assert 0.5 <= elapsed < 3.0
    assert code == -9
    assert not running(child)


def test_kill_and_context_manager(tmp_path: Path) -> None:
    with ManagedProcess(["sleep", "300"], tmp_path / "a.log") as proc:
        assert proc.alive()
        assert proc.pid > 0
    assert not proc.alive()

    other = ManagedProcess(["sleep", "300"], tmp_path / "b.log")
    started = time.monotonic()
    assert other.kill() == -9
    assert time.monotonic() - started < 2.0
    assert not other.alive()
    other.kill()  # idempotent
    other.terminate()


def test_output_goes_to_the_log_file(tmp_path: Path) -> None:
    log = tmp_path / "sub" / "out.log"
    proc = ManagedProcess(["sh", "-c", "echo to-stdout; echo to-stderr >&2"], log)
    assert proc.wait(timeout=5) == 0
    text = log.read_text()
    assert "to-stdout" in text
    assert "to-stderr" in text


def test_free_port_and_port_open() -> None:
    port = free_port()
    assert 1024 < port < 65536
    assert not port_open("127.0.0.1", port)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert port_open("127.0.0.1", port)
        wait_for_port("127.0.0.1", port, timeout=1.0)
    assert not port_open("127.0.0.1", port)


def test_wait_for_port_reports_a_dead_process_with_its_log(tmp_path: Path) -> None:
    proc = ManagedProcess(["sh", "-c", "echo boom-from-child; exit 3"], tmp_path / "p.log")
    with pytest.raises(RuntimeStartError, match="boom-from-child") as info:
        wait_for_port("127.0.0.1", free_port(), timeout=10.0, process=proc)
    assert "code 3" in str(info.value)


def test_wait_for_port_times_out(tmp_path: Path) -> None:
    with ManagedProcess(["sh", "-c", "echo waiting-here; exec sleep 300"], tmp_path / "p.log") as p:
        started = time.monotonic()
        with pytest.raises(RuntimeStartError, match="not open after"):
            wait_for_port("127.0.0.1", free_port(), timeout=0.5, process=p)
        assert time.monotonic() - started < 3.0
        assert p.alive()
    with pytest.raises(RuntimeStartError, match="not open after"):
        wait_for_port("127.0.0.1", free_port(), timeout=0.2)


def test_processes_left_running_are_stopped_at_interpreter_exit(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from engine.dev.runtime import ManagedProcess
        ManagedProcess(["sh", "-c", "sleep 300 & echo $! > {pid_file}; wait"],
                       Path("{tmp_path}") / "p.log")
        while not Path("{pid_file}").read_text().strip() if Path("{pid_file}").exists() else True:
            pass
        """
    )
    repo_root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", script], cwd=repo_root, check=True, timeout=60)
    assert not running(int(pid_file.read_text()))
