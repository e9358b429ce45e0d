"""A throwaway PostgreSQL cluster for the tests, from Debian's ``postgresql`` binaries.

``Cluster.start()`` runs ``initdb`` and ``pg_ctl`` in a fresh folder under the system's
temporary directory, listening on 127.0.0.1 at a free port (password logins, as a ledger
on another machine is reached) and on a unix socket in that folder (the superuser, without
a password, for the tests' own set-up). PostgreSQL refuses to run as root, so as root the
binaries run as the ``postgres`` account, which owns the folder.

Each test gets a database of its own (:meth:`Cluster.database`), owned by the role
``sync`` whose password is :data:`PASSWORD`.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

ROLE = "sync"
PASSWORD = "s3cret-Ledger-pw"
"""The ``sync`` role's password: a test asserts it never appears in any output."""
REQUIRE_ENV = "SHEETS_SYNC_REQUIRE_POSTGRES"


def binaries() -> Path | None:
    """The newest installed PostgreSQL's ``bin`` folder (Debian's layout), if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit()
                   else 0)
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="sheets-sync-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o755)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)

    def start(self) -> "Cluster":
        password_file = self.root / "pwfile"
        password_file.write_text("unused-superuser-password\n")
        if self.as_postgres:
            shutil.chown(password_file, "postgres", "postgres")
        steps = [
            ("initdb", "-D", str(self.data), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
             f"--pwfile={password_file}", "-E", "UTF8", "--locale=C", "--no-sync"),
            ("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60", "start", "-o",
             f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root}"
             " -c fsync=off -c full_page_writes=off -c max_connections=200"),
        ]
        for step in steps:
            done = self._run(*step)
            if done.returncode != 0:
                log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
                self.stop()
                raise RuntimeError(f"{step[0]} failed: {done.stdout}{done.stderr}{log}")
        self.admin(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        return self

    def admin(self, sql: str, database: str = "postgres") -> list[tuple]:
        """Run ``sql`` as the superuser over the unix socket (autocommit)."""
        import psycopg

        with psycopg.connect(host=str(self.root), port=self.port, user="postgres", dbname=database,
                             autocommit=True) as connection:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def database(self) -> str:
        """A new empty database owned by ``sync``; returns its name."""
        name = f"ledger_{uuid.uuid4().hex[:12]}"
        self.admin(f"CREATE DATABASE {name} OWNER {ROLE}")
        return name

    def url(self, database: str, *, password: str | None = PASSWORD, port: int | None = None) -> str:
        login = ROLE if password is None else f"{ROLE}:{password}"
        return f"postgresql://{login}@127.0.0.1:{port or self.port}/{database}"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
