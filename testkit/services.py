"""The services the tests and benchmarks run against, and keyturn server processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

POSTGRES_URL = os.environ.get(
    "KEYTURN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("KEYTURN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"
SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnop"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """`python -m keyturn serve` on a loopback port, reaped on exit."""

    def __init__(
        self,
        database: str,
        data_dir: Path,
        *,
        workers: int = 1,
        unset: tuple[str, ...] = (),
        port: int | None = None,
        **env: str,
    ) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database = database
        self.data_dir = data_dir
        environment = {**os.environ, "KEYTURN_SECRET_KEY": SECRET_KEY, **env}
        for name in unset:
            environment.pop(name, None)
        # A file, not a pipe: a pipe nobody reads would block a chatty server.
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / f"server-{self.port}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "keyturn",
                "serve",
                "--port",
                str(self.port),
                "--database",
                database,
                "--data-dir",
                str(data_dir),
                "--workers",
                str(workers),
            ],
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"keyturn serve exited early:\n{self.stop()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("keyturn serve did not become ready")

    def stop(self) -> str:
        """Stop the server (terminate, then kill) and return what it printed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_server(database: str, data_dir: Path, **kwargs: object) -> Iterator[ServerProcess]:
    server = ServerProcess(database, data_dir, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
