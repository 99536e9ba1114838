"""``./dev.sh``, the README's two commands: what it says when it is given none, and
``serve`` running the webhook worker beside the server."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request

from tests.conftest import ROOT
from tests.helpers import free_port


def test_dev_sh_without_a_command_prints_its_usage_and_no_code():
    result = subprocess.run(
        ["bash", str(ROOT / "dev.sh")], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    lines = result.stdout.splitlines() + result.stderr.splitlines()
    assert lines[0].startswith("StockFlow developer commands")
    assert [line.split()[1] for line in lines if line.startswith("  ./dev.sh")] == [
        "serve",
        "test",
        "lint",
    ]
    assert not [line for line in lines if "set -" in line or line.startswith("#")], lines


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux)."""
    with open(f"/proc/{pid}/task/{pid}/children") as file:
        return [int(child) for child in file.read().split()]


def command_line(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as file:
        return file.read().replace(b"\0", b" ").decode()


def test_serve_runs_the_webhook_worker_beside_the_server_and_stops_both(tmp_path):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STOCKFLOW_", "GUNICORN_", "PROMETHEUS_", "TEST_"))
    }
    env.update(
        STOCKFLOW_VENV=sys.prefix,
        PORT=str(port),
        GUNICORN_WORKERS="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'serve.sqlite3'}",
    )
    log = tmp_path / "serve.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            ["bash", str(ROOT / "dev.sh"), "serve"], cwd=ROOT, env=env, stdout=output, stderr=output
        )
    started = []
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        started = children(process.pid)
        lines = [command_line(pid) for pid in started]
        assert len(started) == 2, lines
        assert any(line.endswith("--app wsgi worker ") for line in lines), lines
        assert any("gunicorn" in line for line in lines), lines
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 143, log.read_text()
        # both were stopped (and reaped) before serve exited
        for pid in started:
            assert not os.path.exists(f"/proc/{pid}"), command_line(pid)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
