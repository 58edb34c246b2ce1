"""The SDK's public surface: exactly what `keyturn.client` exports, and how it is shaped."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import keyturn.client
from keyturn.client import (
    AsyncBearerAuth,
    AsyncTokenManager,
    BearerAuth,
    LockPolicy,
    RefreshPolicy,
    RetryPolicy,
    TokenManager,
)

CLIENT = Path(keyturn.client.__file__).parent
SERVER_PACKAGES = ("keyturn.oauth", "keyturn.http", "keyturn.store", "keyturn.config")


def test_the_exports_are_exactly_these() -> None:
    assert keyturn.client.__all__ == [
        "AsyncBearerAuth",
        "AsyncTokenManager",
        "AuthorizationStart",
        "BearerAuth",
        "DiscoveryError",
        "LockPolicy",
        "LockTimeout",
        "ReauthorizationRequired",
        "RefreshPolicy",
        "RetryPolicy",
        "StoreDecryptionError",
        "TokenManager",
        "TokenRecord",
        "TokenRefreshError",
        "reencrypt_store",
    ]


def test_every_export_is_importable_and_defined_in_the_sdk() -> None:
    namespace: dict[str, Any] = {}
    exec("from keyturn.client import *", namespace)  # what `import *` gives
    for name in keyturn.client.__all__:
        assert namespace[name] is getattr(keyturn.client, name)
        assert namespace[name].__module__.startswith("keyturn.client._"), name


def _methods(cls: type) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(cls).items()
        if not name.startswith("_") and inspect.isfunction(value)
    }


# What only one of the two has, on purpose: the sync manager answers the hot
# path with the async one's `cached()`; each closes in its own idiom.
ASYNC_ONLY = {"cached", "aclose"}
SYNC_ONLY = {"close"}
NOT_COROUTINES = {"auth"}  # building an httpx.Auth does no I/O


def test_the_sync_and_async_managers_offer_the_same_methods() -> None:
    sync, asynchronous = _methods(TokenManager), _methods(AsyncTokenManager)
    assert set(sync) - SYNC_ONLY == set(asynchronous) - ASYNC_ONLY
    assert len(sync) > 10
    for name in set(sync) - SYNC_ONLY:
        sync_sig, async_sig = inspect.signature(sync[name]), inspect.signature(asynchronous[name])
        assert list(sync_sig.parameters.values()) == list(async_sig.parameters.values()), name
        # One annotation string each (`from __future__ import annotations`).
        assert sync_sig.return_annotation == async_sig.return_annotation, name
        is_coroutine = inspect.iscoroutinefunction(asynchronous[name])
        assert is_coroutine == (name not in NOT_COROUTINES), name
        assert not inspect.iscoroutinefunction(sync[name]), name
    assert inspect.iscoroutinefunction(AsyncTokenManager.aclose)
    assert not inspect.iscoroutinefunction(TokenManager.close)
    # Both name their client the same way (an attribute of one, a property of the other).
    tm = AsyncTokenManager(token_endpoint="https://idp.example/t", client_id="c", store="memory")
    assert tm.client_id == "c" and isinstance(vars(TokenManager)["client_id"], property)


def test_the_sync_and_async_managers_take_the_same_keywords() -> None:
    sync = inspect.signature(TokenManager.__init__).parameters
    asynchronous = inspect.signature(AsyncTokenManager.__init__).parameters
    assert list(sync.values()) == list(asynchronous.values())
    assert {p.kind for name, p in sync.items() if name != "self"} == {
        inspect.Parameter.KEYWORD_ONLY
    }


def test_the_original_keywords_are_all_still_taken() -> None:
    taken = set(inspect.signature(AsyncTokenManager.__init__).parameters)
    assert taken >= {
        "issuer",
        "token_endpoint",
        "revocation_endpoint",
        "authorization_endpoint",
        "client_id",
        "client_secret",
        "store",
        "encryption_keys",
        "on_reauthorization_required",
        "on_token_update",
        "token_endpoint_auth_method",
        "background_refresh",
        "cache_seconds",
        "lock_timeout",
        "lock_lease",
        "timeout",
        "transport",
        "clock",
        "retry_backoff",
    }


def _sdk_modules() -> list[Path]:
    files = sorted(CLIENT.rglob("*.py"))
    assert CLIENT / "_async_manager.py" in files and CLIENT / "stores" / "_sql.py" in files
    return files


def _imported(path: Path) -> set[str]:
    """Every module an SDK file imports, relative imports resolved."""
    package = ".".join(path.relative_to(CLIENT.parent.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", _sdk_modules(), ids=lambda p: str(p.relative_to(CLIENT)))
def test_no_sdk_module_imports_the_server(path: Path) -> None:
    for module in _imported(path):
        assert not module.startswith(SERVER_PACKAGES), f"{path.name} imports {module}"
        # Nor anything else of keyturn's: the SDK ships on its own.
        if module == "keyturn" or module.startswith("keyturn."):
            assert module.startswith("keyturn.client"), f"{path.name} imports {module}"


def test_importing_the_whole_sdk_loads_no_server_module() -> None:
    modules = [
        ".".join(p.relative_to(CLIENT.parent.parent).with_suffix("").parts).removesuffix(
            ".__init__"
        )
        for p in _sdk_modules()
    ]
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('keyturn')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = ast.literal_eval(done.stdout)
    assert loaded and all(m == "keyturn" or m.startswith("keyturn.client") for m in loaded)


def test_the_private_modules_are_importable_by_their_names() -> None:
    for path in _sdk_modules():
        relative = path.relative_to(CLIENT.parent.parent).with_suffix("").parts
        importlib.import_module(".".join(relative).removesuffix(".__init__"))


# -- policies ----------------------------------------------------------------


def _policies(tm: AsyncTokenManager) -> tuple[RefreshPolicy, RetryPolicy, LockPolicy]:
    return tm._refresh_policy, tm._http._retry, tm._lock_policy


def test_the_policies_default_to_the_original_values() -> None:
    assert RefreshPolicy() == RefreshPolicy(background=False, cache_seconds=1.0)
    assert RetryPolicy() == RetryPolicy(attempts=4, backoff=0.2, timeout=10.0, max_retry_after=60)
    assert LockPolicy() == LockPolicy(timeout=30.0, lease=10.0)
    tm = AsyncTokenManager(token_endpoint="https://idp.example/t", client_id="c", store="memory")
    assert _policies(tm) == (RefreshPolicy(), RetryPolicy(), LockPolicy())


def test_the_policies_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        RetryPolicy().attempts = 9  # type: ignore[misc]
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


def test_the_flat_keywords_and_the_policies_mean_the_same() -> None:
    flat = AsyncTokenManager(
        token_endpoint="https://idp.example/t",
        client_id="c",
        store="memory",
        background_refresh=True,
        cache_seconds=2.5,
        lock_timeout=3.0,
        lock_lease=4.0,
        timeout=5.0,
        retry_backoff=0.01,
    )
    grouped = AsyncTokenManager(
        token_endpoint="https://idp.example/t",
        client_id="c",
        store="memory",
        refresh=RefreshPolicy(background=True, cache_seconds=2.5),
        lock=LockPolicy(timeout=3.0, lease=4.0),
        retry=RetryPolicy(timeout=5.0, backoff=0.01),
    )
    assert _policies(flat) == _policies(grouped)
    assert _policies(flat)[1] == RetryPolicy(attempts=4, backoff=0.01, timeout=5.0)


def test_a_policy_and_its_own_keyword_together_are_refused() -> None:
    with pytest.raises(TypeError, match="refresh= or cache_seconds="):
        AsyncTokenManager(
            token_endpoint="https://idp.example/t",
            client_id="c",
            store="memory",
            refresh=RefreshPolicy(),
            cache_seconds=2.0,
        )
    with pytest.raises(TypeError, match="lock= or lock_lease="):
        TokenManager(
            token_endpoint="https://idp.example/t",
            client_id="c",
            store="memory",
            lock=LockPolicy(),
            lock_lease=2.0,
        )
    # A policy of one group and a keyword of another combine.
    tm = AsyncTokenManager(
        token_endpoint="https://idp.example/t",
        client_id="c",
        store="memory",
        retry=RetryPolicy(attempts=2),
        cache_seconds=2.0,
    )
    assert _policies(tm)[:2] == (RefreshPolicy(cache_seconds=2.0), RetryPolicy(attempts=2))


async def test_retry_policy_attempts_bound_the_calls() -> None:
    calls: list[str] = []

    def down(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(503)

    tm = AsyncTokenManager(
        token_endpoint="https://idp.example/t",
        client_id="c",
        store="memory",
        transport=httpx.MockTransport(down),
        retry=RetryPolicy(attempts=2, backoff=0.001),
    )
    await tm.save("a", {"access_token": "x", "refresh_token": "r", "expires_in": 1})
    tm._clock = lambda: 10**10  # expired: the failure is not served over
    with pytest.raises(keyturn.client.TokenRefreshError, match="2 attempts"):
        await tm.access_token("a")
    assert calls == ["/t", "/t"]
    await tm.aclose()


# -- httpx auth over the protocol ---------------------------------------------


class Source:
    """Not a manager: anything with these two methods will do."""

    def __init__(self) -> None:
        self.rejected: list[str] = []

    def access_token(self, account: str) -> str:
        return f"{account}-1"

    def refresh_rejected(self, account: str, rejected_access_token: str) -> str:
        self.rejected.append(rejected_access_token)
        return f"{account}-2"


class AsyncSource:
    def __init__(self) -> None:
        self.inner = Source()

    async def access_token(self, account: str) -> str:
        return self.inner.access_token(account)

    async def refresh_rejected(self, account: str, rejected_access_token: str) -> str:
        return self.inner.refresh_rejected(account, rejected_access_token)


def _api(request: httpx.Request) -> httpx.Response:
    if request.headers["authorization"] == "Bearer me-1":
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return httpx.Response(200, text=request.headers["authorization"])


def test_bearer_auth_needs_only_a_token_source() -> None:
    source = Source()
    with httpx.Client(transport=httpx.MockTransport(_api), auth=BearerAuth(source, "me")) as api:
        assert api.get("https://api.example/").text == "Bearer me-2"
    assert source.rejected == ["me-1"]


async def test_async_bearer_auth_needs_only_a_token_source() -> None:
    source = AsyncSource()
    auth = AsyncBearerAuth(source, "me")
    async with httpx.AsyncClient(transport=httpx.MockTransport(_api), auth=auth) as api:
        assert (await api.get("https://api.example/")).text == "Bearer me-2"
    assert source.inner.rejected == ["me-1"]


def test_the_auth_module_does_not_know_the_managers() -> None:
    imported = _imported(CLIENT / "_auth.py")
    assert not any("manager" in module for module in imported)


def test_the_sdks_own_pkce_challenge_matches_rfc_7636() -> None:
    """The SDK computes S256 itself rather than borrowing the server's (Appendix B)."""
    from keyturn.client._authorization import s256

    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
