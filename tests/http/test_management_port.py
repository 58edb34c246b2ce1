"""--management-port: a second listener for the probes and metrics, /metrics off the
main port, on a real server (one worker and two)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support import free_port, running_server


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_move_to_the_management_port(
    server_database: str, tmp_path: Path, workers: int
) -> None:
    management = free_port()
    with running_server(
        server_database,
        tmp_path / "data",
        workers=workers,
        KEYTURN_MANAGEMENT_PORT=str(management),
    ) as server:
        public = server.base_url
        private = f"http://127.0.0.1:{management}"
        assert httpx.get(f"{public}/metrics").status_code == 404
        assert httpx.get(f"{public}/healthz").status_code == 200
        assert httpx.get(f"{public}/readyz").status_code == 200
        assert httpx.get(f"{public}/.well-known/openid-configuration").status_code == 200
        assert httpx.post(f"{public}/oauth/token").status_code == 400  # counted
        metrics = httpx.get(f"{private}/metrics")
        assert metrics.status_code == 200 and "keyturn_token_requests" in metrics.text
        assert httpx.get(f"{private}/healthz").status_code == 200
        assert httpx.get(f"{private}/readyz").json() == {"status": "ready"}
        # Nothing else is served on the management listener.
        assert httpx.post(f"{private}/oauth/token").status_code == 404
        assert httpx.get(f"{private}/.well-known/openid-configuration").status_code == 404


async def test_without_a_management_port_metrics_stay_on_the_main_port(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.get("/metrics")).status_code == 200


def test_a_management_port_equal_to_the_port_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keyturn",
            "serve",
            "--port",
            "8123",
            "--management-port",
            "8123",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin", "KEYTURN_SECRET_KEY": "x" * 40},
    )
    assert result.returncode == 1
    assert "management_port" in result.stderr
