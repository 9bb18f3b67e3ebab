"""A throwaway PostgreSQL server for tests: a fresh cluster in a temporary folder.

:func:`start_server` runs ``initdb`` and ``pg_ctl`` (PostgreSQL 15 on PATH, else Debian's
``/usr/lib/postgresql/<version>/bin``, which ``.ci/run`` installs where they are missing) on
a free port of 127.0.0.1 only, its unix socket inside the temporary folder. PostgreSQL refuses
to run as root, so as root (CI) the server runs as user 65534 (nobody) from a folder under
/tmp that user can traverse (pytest's tmp_path is 0700 under /tmp/pytest-of-root).

Authentication is by password (scram-sha-256) for every connection, so store URLs carry a
password: the superuser ``postgres`` and the role ``bnnbench`` (LOGIN, no other privilege;
each test database is owned by it) both have :data:`PASSWORD`, which needs URL quoting.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

#: ':' and '@' must be quoted in a URL: the tests check neither form ever leaks
PASSWORD = "s3cr:t@pw"
QUOTED_PASSWORD = quote(PASSWORD, safe="")
ROLE = "bnnbench"
NOBODY = 65534


def find_bindir() -> Path | None:
    """The folder of ``initdb``, ``pg_ctl`` and ``postgres``: PATH first, then Debian's
    ``/usr/lib/postgresql/<version>/bin`` (newest version); None when there is none."""
    found = shutil.which("initdb")
    if found:
        folder = Path(found).resolve().parent
        if all((folder / tool).exists() for tool in ("pg_ctl", "postgres")):
            return folder
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: [int(x) for x in Path(p).parent.parent.name.split(".") if x.isdigit()],
    )
    return Path(versions[-1]).parent if versions else None


def _as_server_user() -> dict[str, Any]:
    """``subprocess.run`` arguments that drop root to user 65534 (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []}


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    """A running (or stopped) test cluster: ``url(db)`` for a database on it."""

    bindir: Path
    root: Path
    port: int
    #: seconds from initdb to accepting connections (role created)
    started_in: float = 0.0

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "sockets"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = ROLE, user: str = ROLE) -> str:
        """``postgresql+psycopg://`` URL of ``database`` as ``user`` (password quoted)."""
        return f"postgresql+psycopg://{user}:{QUOTED_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **_as_server_user(),
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.sockets} -c max_connections=50"
        )
        done = self._pg_ctl("-l", str(self.log), "-w", "-t", "60", "-o", options, "start")
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}\n{tail}")

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: like a crash, no shutdown checkpoint)."""
        self._pg_ctl("-m", mode, "-w", "stop")

    def running(self) -> bool:
        return self._pg_ctl("status").returncode == 0

    def execute(self, *statements: str, database: str = "postgres") -> None:
        """Run ``statements`` as the superuser, each in autocommit (CREATE DATABASE needs it)."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            password=PASSWORD,
            dbname=database,
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            for statement in statements:
                conn.execute(statement)

    def create_database(self, name: str) -> str:
        """A fresh database ``name`` owned by the unprivileged role; its URL."""
        self.execute(f'CREATE DATABASE "{name}" OWNER {ROLE}')
        return self.url(name)

    def __enter__(self) -> PgServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        """Stop the server (if running) and delete its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_server(bindir: Path) -> PgServer:
    """initdb a fresh cluster in a new folder under /tmp and start it; the caller removes it
    (:meth:`PgServer.remove`) whatever happens."""
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(dir="/tmp", prefix="bnnbench-pg-"))
    root.chmod(0o755)  # user 65534 must traverse it
    server = PgServer(bindir, root, free_port())
    try:
        server.data.mkdir(mode=0o700)
        server.sockets.mkdir(mode=0o700)
        pwfile = root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        server.log.touch()
        if os.geteuid() == 0:
            for path in (server.data, server.sockets, pwfile, server.log):
                os.chown(path, NOBODY, NOBODY)
        pwfile.chmod(0o600)
        done = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(server.data),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",  # a throwaway cluster: no fsync of the fresh files
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **_as_server_user(),
        )
        pwfile.unlink()
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
        for attempt in range(3):  # the free port may be taken between finding and binding
            try:
                server.start()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
                server.port = free_port()
                time.sleep(0.2)
        server.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
    except BaseException:
        server.remove()
        raise
    server.started_in = time.perf_counter() - started
    return server
