"""The grant types this server implements; discovery reads the same list."""

from __future__ import annotations

from keyturn.oauth.grants.authorization_code import AuthorizationCodeGrant
from keyturn.oauth.grants.base import GrantHandler
from keyturn.oauth.grants.client_credentials import ClientCredentialsGrant
from keyturn.oauth.grants.refresh_token import RefreshTokenGrant
from keyturn.oauth.grants.registration_code import RegistrationCodeGrant

GRANTS: dict[str, GrantHandler] = {
    grant.grant_type: grant
    for grant in (
        AuthorizationCodeGrant(),
        RefreshTokenGrant(),
        ClientCredentialsGrant(),
        RegistrationCodeGrant(),
    )
}


def grant_types_supported() -> list[str]:
    return sorted(GRANTS)
