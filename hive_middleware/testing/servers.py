"""Throwaway real servers on loopback: PostgreSQL, Redis and a Chroma server.

Tests and ``hive bench hivemind`` start the shared back-ends the way a user runs
them (the Debian ``postgresql`` and ``redis-server`` packages, ``chroma run``
from the ``chromadb`` package), each in its own temporary directory on a free
loopback port, and stop them afterwards. Nothing here is a fake: every server is
the real program.

Each starter raises :class:`ServerUnavailable` (naming what to install) when its
binary is missing, so a test can skip with that reason.

Example::

    with start_postgres(tmp_path / "pg") as pg, start_redis(tmp_path / "redis") as redis:
        stack = HiveStack(config=HiveConfig.load(memory={"graph": pg.url}, shared={"redis": redis.url}))
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ChromaServer",
    "PostgresServer",
    "RedisServer",
    "ServerUnavailable",
    "free_port",
    "start_chroma",
    "start_postgres",
    "start_redis",
]


class ServerUnavailable(RuntimeError):
    """The server's program is not installed here; the message names what to install."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening; log: {_tail(log)}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s; log: {_tail(log)}")


def _tail(log: Path, chars: int = 2000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


# --------------------------------------------------------------------------- PostgreSQL


def postgres_bin_dir() -> Path:
    """The directory of ``initdb``/``pg_ctl``/``postgres``, or raise :class:`ServerUnavailable`."""
    candidates = [os.environ.get("HIVE_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    which = shutil.which("initdb")
    if which:
        candidates.append(str(Path(os.path.realpath(which)).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file() and (Path(candidate) / "postgres").is_file():
            return Path(candidate)
    raise ServerUnavailable("PostgreSQL server not found: install the Debian package 'postgresql'")


def _as_user_prefix() -> list[str]:
    # PostgreSQL refuses to run as root; the Debian package creates the 'postgres' user.
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ServerUnavailable("running as root needs 'runuser' (util-linux) to start PostgreSQL as 'postgres'")
    return [runuser, "-u", "postgres", "--"]


@dataclass
class PostgresServer:
    """A PostgreSQL cluster in ``directory`` listening on ``127.0.0.1:port``."""

    directory: Path
    port: int
    user: str = "hive"
    database: str = "hive"
    listen: tuple[str, ...] = ("127.0.0.1",)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _cluster: Path | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """``postgresql://hive@127.0.0.1:PORT/hive`` (trust auth on loopback)."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def start(self, timeout: float = 60.0) -> None:
        """Start (or restart) the server on the same data directory and port."""
        bin_dir = postgres_bin_dir()
        prefix = _as_user_prefix()
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / "postgres.log"
        if self._cluster is None:
            if prefix:
                # The 'postgres' user must reach its files: a private temp dir (pytest's are 0700
                # and root's) would lock it out, so the cluster lives in its own dir under /tmp.
                self._cluster = Path(tempfile.mkdtemp(prefix="hive-pg-"))
                shutil.chown(self._cluster, "postgres")
            else:
                self._cluster = self.directory
        data = self._cluster / "data"
        if not data.exists():
            init = subprocess.run(
                [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", self.user, "-A", "trust", "-E", "UTF8",
                 "--no-sync"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            if init.returncode != 0:
                raise RuntimeError(f"initdb failed ({init.returncode}): {init.stderr.strip()}")
            if any(address != "127.0.0.1" for address in self.listen):
                # Test hosts in network namespaces connect from their own addresses.
                hba = data / "pg_hba.conf"
                text = hba.read_text() + "host all all 0.0.0.0/0 trust\n"
                subprocess.run([*prefix, "tee", str(hba)], input=text.encode(), stdout=subprocess.DEVNULL, check=True)
        with log.open("ab") as out:
            self._proc = subprocess.Popen(
                [*prefix, str(bin_dir / "postgres"), "-D", str(data), "-p", str(self.port), "-h", ",".join(self.listen),
                 "-k", str(self._cluster), "-c", "fsync=off", "-c", "max_connections=300",
                 "-c", "shared_buffers=128MB"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_port(self.port, timeout, self._proc, "postgres", log)
        self._create_database(bin_dir, timeout)

    def _create_database(self, bin_dir: Path, timeout: float) -> None:
        psql = bin_dir / "psql"
        if not psql.is_file():
            psql = Path(shutil.which("psql") or "psql")
        deadline = time.monotonic() + timeout
        while True:
            done = subprocess.run(
                [str(psql), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres",
                 "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
                capture_output=True,
                text=True,
            )
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not accept connections: {done.stderr.strip()}")
            time.sleep(0.1)
        if done.stdout.strip() != "1":
            subprocess.run(
                [str(psql), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres",
                 "-c", f'CREATE DATABASE "{self.database}"'],
                check=True,
                capture_output=True,
            )

    def stop(self) -> None:
        """Stop the server (fast shutdown); the data directory stays until :meth:`remove`."""
        _stop_process(self._proc, timeout=30.0)
        self._proc = None

    def remove(self) -> None:
        """Stop the server and delete its cluster directory."""
        self.stop()
        if self._cluster is not None and self._cluster != self.directory:
            shutil.rmtree(self._cluster, ignore_errors=True)
        self._cluster = None


@contextlib.contextmanager
def start_postgres(
    directory: Path, port: int | None = None, *, listen: tuple[str, ...] = ("127.0.0.1",)
) -> Iterator[PostgresServer]:
    """Run a throwaway PostgreSQL in ``directory`` for the ``with`` block (``listen``: addresses to bind)."""
    server = PostgresServer(Path(directory), port or free_port(), listen=listen)
    try:
        server.start()
        yield server
    finally:
        server.remove()


# --------------------------------------------------------------------------- Redis


def redis_binary() -> str:
    """Path of ``redis-server``, or raise :class:`ServerUnavailable`."""
    found = os.environ.get("HIVE_REDIS_SERVER") or shutil.which("redis-server")
    if not found:
        raise ServerUnavailable("redis-server not found: install the Debian package 'redis-server'")
    return found


@dataclass
class RedisServer:
    """A ``redis-server`` with its files in ``directory`` on ``127.0.0.1:port``.

    ``stop()`` then ``start()`` restarts it on the same port and data (append-only
    file on), which is how tests take Redis away mid-run and bring it back.
    """

    directory: Path
    port: int
    listen: tuple[str, ...] = ("127.0.0.1",)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start (or restart) the server."""
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / "redis.log"
        with log.open("ab") as out:
            self._proc = subprocess.Popen(
                [redis_binary(), "--port", str(self.port), "--bind", *self.listen, "--dir", str(self.directory),
                 "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--protected-mode", "no",
                 "--daemonize", "no"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_port(self.port, timeout, self._proc, "redis-server", log)

    def stop(self) -> None:
        """Stop the server (SIGTERM: it writes its append-only file and exits)."""
        _stop_process(self._proc)
        self._proc = None

    def kill(self) -> None:
        """Kill the server with SIGKILL (no shutdown work)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None


@contextlib.contextmanager
def start_redis(
    directory: Path, port: int | None = None, *, listen: tuple[str, ...] = ("127.0.0.1",)
) -> Iterator[RedisServer]:
    """Run a throwaway ``redis-server`` in ``directory`` for the ``with`` block (``listen``: addresses to bind)."""
    server = RedisServer(Path(directory), port or free_port(), listen=listen)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- Chroma


def chroma_binary() -> str:
    """Path of the ``chroma`` command (from the ``chromadb`` package), or raise :class:`ServerUnavailable`."""
    beside = Path(sys.executable).parent / "chroma"
    found = str(beside) if beside.is_file() else shutil.which("chroma")
    if not found:
        raise ServerUnavailable("'chroma' command not found: install the PyPI package 'chromadb'")
    return found


@dataclass
class ChromaServer:
    """``chroma run`` with its data in ``directory`` on ``127.0.0.1:port``."""

    directory: Path
    port: int
    host: str = "127.0.0.1"
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start (or restart) the server and wait for its heartbeat."""
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / "chroma.log"
        env = dict(os.environ, ANONYMIZED_TELEMETRY="False")
        with log.open("ab") as out:
            self._proc = subprocess.Popen(
                [chroma_binary(), "run", "--path", str(self.directory / "data"), "--host", self.host,
                 "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        _wait_port(self.port, timeout, self._proc, "chroma", log)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"chroma did not answer its heartbeat; log: {_tail(log)}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server."""
        _stop_process(self._proc)
        self._proc = None


@contextlib.contextmanager
def start_chroma(directory: Path, port: int | None = None, *, host: str = "127.0.0.1") -> Iterator[ChromaServer]:
    """Run a throwaway ``chroma run`` in ``directory`` for the ``with`` block (``host``: address to bind)."""
    server = ChromaServer(Path(directory), port or free_port(), host=host)
    server.start()
    try:
        yield server
    finally:
        server.stop()
