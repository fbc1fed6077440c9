"""A throwaway PostgreSQL cluster (initdb + pg_ctl) that a test may restart without disturbing anyone.

As root the server binaries run as the ``postgres`` user (``runuser``), since PostgreSQL
refuses to run as root. :func:`missing` names the first missing prerequisite, if any.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SEARCH_ROOTS = (Path("/usr/lib/postgresql"), Path("/usr/local/pgsql"))


def _version(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.parent.name)) or (0,)


def find_bindir() -> Path | None:
    """The newest installed server's ``bin`` directory (with ``initdb`` and ``pg_ctl``)."""
    found = [p for root in SEARCH_ROOTS for p in root.glob("*/bin/initdb")]
    found += [p for p in [root / "bin" / "initdb" for root in SEARCH_ROOTS] if p.exists()]
    if found:
        return max(found, key=_version).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def missing() -> str | None:
    bindir = find_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "runuser is not available to run PostgreSQL as a non-root user"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "there is no 'postgres' user to run a private PostgreSQL cluster"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateCluster:
    """A cluster in a temporary directory, on a free port of 127.0.0.1, trust authentication."""

    def __init__(self) -> None:
        bindir = find_bindir()
        assert bindir is not None, missing()
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="automate-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as_postgres, str(self.bindir / program), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}\n{log}")

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "fsync": "off",  # durability against an OS crash is not what is tested here
            "shared_buffers": "'32MB'",
            "max_connections": "100",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._pg_ctl("start")

    def _pg_ctl(self, action: str, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *args, action)

    def restart(self, mode: str = "fast", *, downtime: float = 0.0) -> None:
        """Stop (``fast``: sessions are terminated; ``immediate``: like a crash), wait, start again."""
        self._pg_ctl("stop", "-m", mode)
        time.sleep(downtime)
        self._pg_ctl("start")

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
