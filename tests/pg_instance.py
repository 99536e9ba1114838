"""A throwaway PostgreSQL cluster for tests that stop and start the database.

``throwaway_postgres()`` runs ``initdb`` into a fresh temporary directory, starts
the server with ``pg_ctl`` on a free loopback port (no Unix socket) and, however the
test ends, stops it and deletes the directory. The shared server is never touched.

PostgreSQL refuses to run as root; as root (CI on this machine) every PostgreSQL
command runs as the ``postgres`` OS user (``runuser``), in a directory it owns.
The binaries are found through ``STOCKFLOW_PG_BINDIR``, then ``PATH``, then
``/usr/lib/postgresql/<version>/bin``, then ``pg_config --bindir``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pathlib
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator

from tests.helpers import free_port

# the OS user that runs PostgreSQL when the tests run as root
SERVER_OS_USER = "postgres"
SUPERUSER = "postgres"
COMMAND_TIMEOUT_S = 60


class PostgresToolsMissing(RuntimeError):
    """initdb/pg_ctl could not be found or cannot be run here."""


def find_bindir() -> pathlib.Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    candidates = []
    if os.environ.get("STOCKFLOW_PG_BINDIR"):
        candidates.append(pathlib.Path(os.environ["STOCKFLOW_PG_BINDIR"]))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(pathlib.Path(on_path).resolve().parent)
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    versioned.sort(key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0)
    candidates.extend(pathlib.Path(p) for p in reversed(versioned))
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if result.returncode == 0:
            candidates.append(pathlib.Path(result.stdout.strip()))
    for bindir in candidates:
        if all((bindir / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresToolsMissing(
        "initdb/pg_ctl not found: install the PostgreSQL server package or set "
        "STOCKFLOW_PG_BINDIR to the directory holding them"
    )


class PostgresInstance:
    """One cluster in ``root/data``, serving on ``127.0.0.1:port`` when running."""

    def __init__(self, bindir: pathlib.Path, root: pathlib.Path, port: int):
        self.bindir = bindir
        self.root = root
        self.datadir = root / "data"
        self.logfile = root / "postgres.log"
        self.port = port
        self.running = False

    @property
    def url(self) -> str:
        """A SQLAlchemy URL of the ``postgres`` database (psycopg2 driver)."""
        return f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_OS_USER, "--", *command]
        # stdin/stdout not inherited: the postmaster that pg_ctl forks must not hold
        # the test runner's pipes open
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            cwd=self.root,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}"
                f"{result.stderr}\n{self.log_tail()}"
            )
        return result

    def init(self) -> None:
        """``initdb`` with trust authentication on loopback, tuned for throwaway speed."""
        self._run(
            "initdb",
            "--pgdata",
            str(self.datadir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": "''",
            "port": str(self.port),
            "max_connections": "40",
            "shared_buffers": "16MB",
            # a throwaway cluster: durability is not wanted, speed is
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with open(self.datadir / "postgresql.conf", "a") as conf:
            conf.write("\n# throwaway test cluster\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run(
            "pg_ctl",
            "start",
            "--pgdata",
            str(self.datadir),
            "--log",
            str(self.logfile),
            "--wait",
            "--timeout",
            str(COMMAND_TIMEOUT_S),
        )
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back and disconnect every session)."""
        self._run(
            "pg_ctl",
            "stop",
            "--pgdata",
            str(self.datadir),
            "--mode",
            mode,
            "--wait",
            "--timeout",
            str(COMMAND_TIMEOUT_S),
        )
        self.running = False

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server log, for failure messages."""
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return "postgres.log:\n" + "\n".join(text.splitlines()[-lines:])

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def destroy(self) -> None:
        """Stop the server whatever state it is in, then delete the directory."""
        try:
            if self._postmaster_pid() is not None:
                self.stop("immediate")
        except Exception:
            pid = self._postmaster_pid()
            if pid is not None:
                with contextlib.suppress(OSError):
                    # SIGQUIT is PostgreSQL's immediate shutdown; it takes its children
                    os.kill(pid, signal.SIGQUIT)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and _alive(pid):
                    time.sleep(0.05)
        finally:
            self.running = False
            shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _make_root() -> pathlib.Path:
    # not pytest's tmp_path: its parents are private to root, and the server user
    # must reach the directory
    root = pathlib.Path(tempfile.mkdtemp(prefix="stockflow-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(SERVER_OS_USER)
        except KeyError as error:
            shutil.rmtree(root, ignore_errors=True)
            raise PostgresToolsMissing(
                f"running as root, PostgreSQL needs the OS user {SERVER_OS_USER!r}"
            ) from error
        os.chown(root, user.pw_uid, user.pw_gid)
    return root


@contextlib.contextmanager
def throwaway_postgres(attempts: int = 3) -> Iterator[PostgresInstance]:
    """A started throwaway cluster; always stopped and deleted afterwards."""
    bindir = find_bindir()
    root = _make_root()
    instance = PostgresInstance(bindir, root, free_port())
    try:
        instance.init()
        for attempt in range(1, attempts + 1):
            try:
                instance.start()
                break
            except RuntimeError:
                # the free port may have been taken meanwhile: try another one
                if attempt == attempts:
                    raise
                instance.port = free_port()
                with open(instance.datadir / "postgresql.conf", "a") as conf:
                    conf.write(f"port = {instance.port}\n")
        yield instance
    finally:
        instance.destroy()
