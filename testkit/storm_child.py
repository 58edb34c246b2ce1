"""A process of the refresh storm: many threads asking one TokenManager for one token.

Run as `python -m testkit.storm_child '<json options>'`; prints a JSON report.
With "die_after_refresh", the process SIGKILLs itself the moment the token
endpoint answers, before it can store the new tokens.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import httpx

from keyturn.client import TokenManager


class DieAfterRefresh(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/token"):
            await response.aread()
            os.kill(os.getpid(), signal.SIGKILL)
        return response


def main() -> None:
    options = json.loads(sys.argv[1])
    transport = DieAfterRefresh() if options.get("die_after_refresh") else None
    tm = TokenManager(
        issuer=options["issuer"],
        client_id=options["client_id"],
        client_secret=options["client_secret"],
        store=options["store"],
        encryption_keys=options["keys"],
        lock_lease=options.get("lease", 10.0),
        transport=transport,
        clock=lambda: time.time() + options.get("clock_offset", 0.0),
    )
    initial = options["initial"]
    deadline = time.monotonic() + options["seconds"]
    seen: list[str] = []
    errors: list[str] = []
    print("ready", flush=True)

    def worker() -> None:
        token = initial
        while time.monotonic() < deadline:
            try:
                token = tm.access_token(options["account"])
            except Exception as exc:
                errors.append(repr(exc))
                return
            if token != initial:
                break
            time.sleep(0.005)
        seen.append(token)

    threads = [threading.Thread(target=worker) for _ in range(options["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tm.close()
    print(
        json.dumps({"tokens": sorted(set(seen)), "errors": errors, "done_at": time.time()}),
        flush=True,
    )


if __name__ == "__main__":
    main()
