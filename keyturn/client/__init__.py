"""keyturn.client: keep many users' OAuth tokens fresh, safely, across processes and hosts.

Works against any standards-compliant authorization server (RFC 6749, 7009,
8414), not only keyturn.
"""

from keyturn.client.auth import AsyncBearerAuth, BearerAuth
from keyturn.client.errors import (
    DiscoveryError,
    LockTimeout,
    ReauthorizationRequired,
    StoreDecryptionError,
    TokenRefreshError,
)
from keyturn.client.manager import AsyncTokenManager, AuthorizationStart, TokenManager
from keyturn.client.records import TokenRecord

__all__ = [
    "AsyncBearerAuth",
    "AsyncTokenManager",
    "AuthorizationStart",
    "BearerAuth",
    "DiscoveryError",
    "LockTimeout",
    "ReauthorizationRequired",
    "StoreDecryptionError",
    "TokenManager",
    "TokenRecord",
    "TokenRefreshError",
]
