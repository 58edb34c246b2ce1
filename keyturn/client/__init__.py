"""keyturn.client: keep many users' OAuth tokens fresh, safely, across processes and hosts.

Works against any standards-compliant authorization server (RFC 6749, 7009,
8414), not only keyturn. Everything public is importable from here; the
modules with a leading underscore are the implementation and may change.
"""

from keyturn.client._async_manager import AsyncTokenManager
from keyturn.client._auth import AsyncBearerAuth, BearerAuth
from keyturn.client._authorization import AuthorizationStart
from keyturn.client._errors import (
    DiscoveryError,
    LockTimeout,
    ReauthorizationRequired,
    StoreDecryptionError,
    TokenRefreshError,
)
from keyturn.client._policies import LockPolicy, RefreshPolicy, RetryPolicy
from keyturn.client._records import TokenRecord
from keyturn.client._reencrypt import reencrypt_store
from keyturn.client._sync_manager import TokenManager

__all__ = [
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
