"""The Docker stack, as far as a machine without a container engine allows: the compose
file validated by docker-compose, the Dockerfile by hadolint, and the image's entrypoint
run directly (configuration check, migrate, serve, health check) against a local
PostgreSQL database. Also the pieces it relies on: worker sizing from the CPU quota,
the database URL built from parts, and the refusal of a mangled one.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest
import sqlalchemy as sa
import yaml

from app import sizing
from app.config import ConfigError, database_url
from tests.conftest import ON_POSTGRES, ROOT
from tests.helpers import free_port, stop_process

STRONG_TOKEN = "a-strong-admin-token-0123456789abcdef"
EXIT_CONFIG = 78
BIN = pathlib.Path(sys.executable).parent
# the tools are installed by .ci/run (docker-compose from Debian, hadolint from PyPI)
COMPOSE = shutil.which("docker-compose")
HADOLINT = shutil.which("hadolint", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def require(tool: str | None, name: str) -> str:
    """The tool's path; without it a skip on SQLite and a failure on PostgreSQL (CI)."""
    if tool:
        return tool
    message = f"{name} is not installed (.ci/run installs it)"
    if ON_POSTGRES:
        pytest.fail(message)
    pytest.skip(message)


def compose_config(tmp_path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``docker-compose config`` on a copy of the compose file, with only ``env``."""
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    return subprocess.run(
        [require(COMPOSE, "docker-compose"), "config"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_refuses_to_start_without_the_secrets(tmp_path):
    result = compose_config(tmp_path, {})
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr
    result = compose_config(tmp_path, {"POSTGRES_PASSWORD": "pw"})
    assert result.returncode != 0
    assert "set STOCKFLOW_ADMIN_TOKEN in .env" in result.stderr
    result = compose_config(
        tmp_path, {"POSTGRES_PASSWORD": "pw", "STOCKFLOW_ADMIN_TOKEN": STRONG_TOKEN}
    )
    assert result.returncode != 0
    assert "set STOCKFLOW_WEBHOOK_KEY in .env" in result.stderr


def test_env_example_sets_no_working_secret(tmp_path):
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    assert values == {
        "POSTGRES_PASSWORD": "",
        "STOCKFLOW_ADMIN_TOKEN": "",
        "STOCKFLOW_WEBHOOK_KEY": "",
    }
    assert "change-me" not in (ROOT / ".env.example").read_text()
    # copied to .env as it is, compose refuses it
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    assert compose_config(tmp_path, {}).returncode != 0


def test_compose_file_is_valid_and_fixes_the_first_start_findings(tmp_path):
    password = "p@ss%w0rd:/"
    result = compose_config(
        tmp_path,
        {
            "POSTGRES_PASSWORD": password,
            "STOCKFLOW_ADMIN_TOKEN": STRONG_TOKEN,
            "STOCKFLOW_WEBHOOK_KEY": STRONG_TOKEN,
        },
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    db, migrate, api = services["db"], services["migrate"], services["api"]
    # the health check uses TCP, which opens only after the image's init phase
    assert db["healthcheck"]["test"][:4] == ["CMD", "pg_isready", "-h", "127.0.0.1"]
    # every long-running service comes back after a reboot; the one-shot does not loop
    assert db["restart"] == "unless-stopped" and api["restart"] == "unless-stopped"
    assert migrate["restart"] == "no" and migrate["command"] == ["migrate"]
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    # one image, built once
    assert [name for name, service in services.items() if "build" in service] == ["api"]
    assert migrate["image"] == api["image"]
    # the webhook worker: the same image, after the migration, back after a reboot, with
    # time to finish the delivery in flight (10 s at most) before SIGKILL
    worker = services["worker"]
    assert worker["image"] == api["image"] and worker["command"] == ["worker"]
    assert worker["restart"] == "unless-stopped"
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["healthcheck"]["test"] == ["CMD", "python", "docker/healthcheck.py", "worker"]
    assert worker["environment"]["STOCKFLOW_WORKER_HEARTBEAT"]
    grace = worker["stop_grace_period"]
    assert grace.endswith("s") and int(grace.rstrip("s")) >= 15
    assert (
        worker["environment"]["STOCKFLOW_WEBHOOK_KEY"]
        == api["environment"]["STOCKFLOW_WEBHOOK_KEY"]
    )
    # the password reaches the app as a part, never pasted into a URL
    for service in (migrate, api, worker):
        assert "DATABASE_URL" not in service["environment"]
        assert service["environment"]["POSTGRES_PASSWORD"] == password
    env = {k: str(v) for k, v in api["environment"].items()}
    url = sa.engine.make_url(database_url("/nonexistent", env))
    assert url.password == password and url.host == "db" and url.database == "stockflow"


def test_dockerfile_passes_hadolint_and_pins_what_the_issue_asked():
    result = subprocess.run(
        [require(HADOLINT, "hadolint"), "--failure-threshold", "warning", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.12\.\d+-slim-bookworm$", dockerfile, re.M)
    assert re.search(r"^USER 10001:10001$", dockerfile, re.M)
    healthcheck = dockerfile[dockerfile.index("HEALTHCHECK") :].split("\n\n")[0]
    assert "8000" not in healthcheck
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".env", ".venv", "instance", ".pytest_cache"} <= set(ignored)


def write_cgroup(tmp_path, v2: str | None = None, v1: tuple[str, str] | None = None) -> str:
    root = tmp_path / "cgroup"
    root.mkdir()
    if v2 is not None:
        (root / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (root / "cpu").mkdir()
        (root / "cpu" / "cpu.cfs_quota_us").write_text(v1[0])
        (root / "cpu" / "cpu.cfs_period_us").write_text(v1[1])
    return str(root)


@pytest.mark.parametrize(
    "v2, v1, workers",
    [
        ("50000 100000", None, 3),  # --cpus=0.5: one CPU's worth, not the host's count
        ("100000 100000", None, 3),
        (None, ("50000", "100000"), 3),  # cgroup v1
    ],
)
def test_workers_follow_the_containers_cpu_quota(tmp_path, v2, v1, workers):
    cgroup = write_cgroup(tmp_path, v2, v1)
    assert sizing.workers({}, cgroup) == workers


def test_without_a_quota_workers_follow_the_cpus_we_may_run_on_and_the_setting_wins(tmp_path):
    cpus = len(os.sched_getaffinity(0))
    assert sizing.workers({}, write_cgroup(tmp_path, "max 100000")) == 2 * cpus + 1
    assert sizing.workers({"GUNICORN_WORKERS": "2"}, "/nonexistent") == 2
    assert sizing.workers({"GUNICORN_WORKERS": ""}, "/nonexistent") == 2 * cpus + 1
    assert sizing.threads({}) == 4 and sizing.threads({"GUNICORN_THREADS": "8"}) == 8


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://stockflow:p@ss@db/stockflow",  # '@' in the password, unescaped
        "postgresql://stockflow:50%off@db/stockflow",  # '%' not starting an escape
        "stockflow:secret@db/stockflow",  # no scheme
    ],
)
def test_a_mangled_database_url_is_refused_with_the_fix(url):
    with pytest.raises(ConfigError, match="URL-encode"):
        database_url("/nonexistent", {"DATABASE_URL": url})


def test_an_escaped_database_url_and_one_built_from_parts_keep_the_password():
    escaped = database_url("/x", {"DATABASE_URL": "postgresql://u:p%40ss%25@db:5433/s"})
    assert sa.engine.make_url(escaped).password == "p@ss%"
    built = database_url(
        "/x",
        {"POSTGRES_HOST": "db", "POSTGRES_USER": "u", "POSTGRES_PASSWORD": "a@b%c:d/e f"},
    )
    url = sa.engine.make_url(built)
    assert (url.password, url.host, url.port, url.drivername) == (
        "a@b%c:d/e f",
        "db",
        5432,
        "postgresql+psycopg2",
    )


# --- the entrypoint itself ---------------------------------------------------------------


def entrypoint_env(**overrides) -> dict[str, str]:
    """The container's environment, on this machine: production, our venv first."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES_", "GUNICORN_", "STOCKFLOW_", "PROMETHEUS_"))
        and k != "DATABASE_URL"
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        STOCKFLOW_ENV="production",
        PYTHONUNBUFFERED="1",
        **overrides,
    )
    return env


def run_entrypoint(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker/entrypoint.sh", *args],
        cwd=ROOT,
        env=entrypoint_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_a_too_short_admin_token_stops_the_container_with_exit_78_and_says_why(command):
    result = run_entrypoint(
        command, STOCKFLOW_ADMIN_TOKEN="short", POSTGRES_HOST="127.0.0.1", POSTGRES_DB="x"
    )
    assert result.returncode == EXIT_CONFIG
    assert result.stderr.startswith("stockflow: configuration error: ")
    assert "STOCKFLOW_ADMIN_TOKEN" in result.stderr and "24 characters" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_pasted_password_with_an_at_sign_stops_the_container_with_exit_78():
    result = run_entrypoint(
        "migrate",
        STOCKFLOW_ADMIN_TOKEN=STRONG_TOKEN,
        DATABASE_URL="postgresql://stockflow:p@ss@db/stockflow",
    )
    assert result.returncode == EXIT_CONFIG
    assert "URL-encode" in result.stderr


@pytest.mark.postgres
def test_the_entrypoint_migrates_serves_and_passes_its_health_check(scratch_database_url):
    url = sa.engine.make_url(scratch_database_url)
    port = free_port()
    env = {
        # the parts, as compose passes them; trust auth ignores the odd password, but it
        # must survive the trip into a URL for the connection to be made at all
        "POSTGRES_HOST": url.host or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": "p@ss%w0rd:/#?",
        "POSTGRES_DB": url.database,
        "STOCKFLOW_ADMIN_TOKEN": STRONG_TOKEN,
        "STOCKFLOW_WEBHOOK_KEY": STRONG_TOKEN,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "2",
    }
    migrated = run_entrypoint("migrate", **env)
    assert migrated.returncode == 0, migrated.stderr
    assert "configuration ok" in migrated.stderr and "p@ss" not in migrated.stderr
    engine = sa.create_engine(scratch_database_url)
    with engine.connect() as connection:
        assert "inventory_ledger" in sa.inspect(connection).get_table_names()
    engine.dispose()

    process = subprocess.Popen(
        ["docker/entrypoint.sh"],  # the image's default command: serve
        cwd=ROOT,
        env=entrypoint_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read()
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:
                    assert r.status == 200
                    break
            assert time.monotonic() < deadline, "the served app never became ready"
            time.sleep(0.2)
        # the image's HEALTHCHECK finds the port gunicorn was told to bind
        check = subprocess.run(
            [sys.executable, "docker/healthcheck.py"],
            cwd=ROOT,
            env=entrypoint_env(**env),
            timeout=30,
        )
        assert check.returncode == 0
        # exec: the entrypoint's PID is gunicorn's master, which SIGTERM stops cleanly
        stop_process(process)
        assert process.returncode == 0
    finally:
        stop_process(process)
        process.stderr.close()
    # and with nothing listening, the health check fails
    down = subprocess.run(
        [sys.executable, "docker/healthcheck.py"], cwd=ROOT, env=entrypoint_env(**env), timeout=30
    )
    assert down.returncode == 1


@pytest.mark.postgres
def test_the_entrypoint_runs_the_worker_which_beats_and_stops_on_sigterm(
    scratch_database_url, tmp_path
):
    url = sa.engine.make_url(scratch_database_url)
    heartbeat = tmp_path / "worker.alive"
    env = {
        "POSTGRES_HOST": url.host or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_DB": url.database,
        "STOCKFLOW_ADMIN_TOKEN": STRONG_TOKEN,
        "STOCKFLOW_WEBHOOK_KEY": STRONG_TOKEN,
        "STOCKFLOW_WORKER_HEARTBEAT": str(heartbeat),
    }
    assert run_entrypoint("migrate", **env).returncode == 0
    check = [sys.executable, "docker/healthcheck.py", "worker"]
    assert subprocess.run(check, cwd=ROOT, env=entrypoint_env(**env), timeout=30).returncode == 1
    process = subprocess.Popen(
        ["docker/entrypoint.sh", "worker"],
        cwd=ROOT,
        env=entrypoint_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not heartbeat.exists():
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "the worker never beat"
            time.sleep(0.2)
        healthy = subprocess.run(check, cwd=ROOT, env=entrypoint_env(**env), timeout=30)
        assert healthy.returncode == 0
        # exec: the entrypoint's PID is the worker's, which SIGTERM stops with 0
        stop_process(process)
        assert process.returncode == 0
    finally:
        stop_process(process)
        process.stderr.close()
