"""A ``hive serve`` child process on a free loopback port, for the service's load and durability checks.

The process is the ``hive`` command of the running interpreter's environment
(``hive serve``, found beside ``sys.executable``, else on ``PATH``) with the
caller's environment, so it opens the same configured stack a user's would. Its output goes to a log
file whose tail is quoted when it fails to start. :meth:`ServeProcess.wait_ready`
polls ``GET /readyz`` (``/healthz`` where the service has no readiness probe).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from hive_middleware.errors import HiveDependencyError, HiveRuntimeError

__all__ = ["DEFAULT_READY_TIMEOUT_S", "ServeProcess", "free_port", "hive_command"]

DEFAULT_READY_TIMEOUT_S = 180.0
"""How long a fresh server may take to answer its probe (model load and stack open included)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def hive_command() -> str:
    """The path of the ``hive`` command: beside the running interpreter, else on ``PATH``.

    Raises:
        HiveDependencyError: no ``hive`` command is installed.
    """
    found = shutil.which("hive", path=str(Path(sys.executable).parent)) or shutil.which("hive")
    if found is None:
        raise HiveDependencyError(
            "the 'hive' command is not installed beside this Python or on PATH; install hive-middleware[server]"
        )
    return found


class ServeProcess:
    """One ``hive serve`` child over ``data_dir``.

    Args:
        data_dir: The stack's data directory (keys under ``data_dir/server``).
        log_path: Where the child's stdout and stderr go.
        host: Loopback interface to listen on.
        port: TCP port (default: a free one).
        env: Extra environment variables of the child.
    """

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self._env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
                     "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})}  # fmt: skip
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.probe_path: str | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the server."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        """The child's process id.

        Raises:
            HiveRuntimeError: the process was not started.
        """
        if self._proc is None:
            raise HiveRuntimeError("the server process is not started; call start() first")
        return self._proc.pid

    def start(self) -> ServeProcess:
        """Start the child (returns at once; see :meth:`wait_ready`)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        command = [hive_command(), "serve", "--host", self.host, "--port", str(self.port),
                   "--data-dir", str(self.data_dir)]  # fmt: skip
        self._proc = subprocess.Popen(command, env=self._env, stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the child's log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float = DEFAULT_READY_TIMEOUT_S) -> str:
        """Poll the readiness probe until it answers 200; returns the probe's path.

        ``/readyz`` is asked first; when the service answers 404 there (no
        readiness probe installed), ``/healthz`` is used instead.

        Raises:
            HiveRuntimeError: the child exited or did not become ready in ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        path = "/readyz"
        last = "no answer"
        with httpx.Client(base_url=self.base_url, timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self._proc is None or self._proc.poll() is not None:
                    code = None if self._proc is None else self._proc.returncode
                    raise HiveRuntimeError(
                        f"hive serve exited (status {code}) before it was ready; its log ends:\n{self.log_tail()}",
                        log=str(self.log_path),
                    )
                try:
                    response = client.get(path)
                except httpx.TransportError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                else:
                    if response.status_code == 200:
                        self.probe_path = path
                        return path
                    if response.status_code == 404 and path == "/readyz":
                        path = "/healthz"
                        continue
                    last = f"{path} answered {response.status_code}"
                time.sleep(0.2)
        raise HiveRuntimeError(
            f"hive serve on {self.base_url} was not ready after {timeout:.0f} s ({last}); its log ends:\n"
            f"{self.log_tail()}",
            log=str(self.log_path),
        )

    def kill(self) -> None:
        """Kill the child with SIGKILL (no shutdown at all) and reap it."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        self._close_log()

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop the child gracefully (SIGTERM), killing it after ``timeout`` seconds; returns its exit status."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._close_log()
        return self._proc.returncode

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
