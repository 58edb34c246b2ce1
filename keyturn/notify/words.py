"""Security events in plain words, for the account page and the emails users get."""

from __future__ import annotations

from keyturn.store.records import Event, EventKind

# What the user reads; {app} is the application's name.
_SENTENCES: dict[str, str] = {
    EventKind.REFRESH_TOKEN_REUSE: (
        "Your access for {app} was revoked because an old refresh token was used again."
    ),
    EventKind.AUTHORIZATION_CODE_REUSE: (
        "Your access for {app} was revoked because a sign-in code was used twice."
    ),
    EventKind.SUSPECTED_COMPROMISE: (
        "Your access for {app} was revoked because it was used in a way that suggests "
        "someone else has it."
    ),
    EventKind.REFRESH_NETWORK_CHANGED: "{app} was used from a new network.",
    EventKind.DORMANT_GRANT_USED: "{app} was used from a new network after a long pause.",
    EventKind.REFRESH_STORM: "{app} refreshed its access unusually often.",
    EventKind.PASSWORD_CHANGED: "Your password was changed.",
    EventKind.MFA_ENROLLED: "Two-step verification was turned on.",
    EventKind.MFA_REMOVED: "Two-step verification was turned off.",
    EventKind.SIGN_IN_SUCCEEDED: "You signed in.",
    EventKind.SIGN_IN_FAILED: "Someone tried to sign in with a wrong password.",
    EventKind.SIGN_IN_THROTTLED: "Sign-in was paused after several wrong passwords.",
    EventKind.GRANT_REVOKED: "Access for {app} was revoked.",
    EventKind.ENHANCED_SECURITY: "Enhanced security was changed.",
    EventKind.ACCOUNT_CLAIMED: "You took over your account.",
    EventKind.USER_DISABLED: "Your account was disabled.",
    EventKind.USER_ENABLED: "Your account was enabled again.",
}


def describe(event: Event, app: str | None) -> str | None:
    """One sentence for the user, or None for events that are not theirs to read."""
    sentence = _SENTENCES.get(event.kind)
    if sentence is None:
        return None
    if event.kind == EventKind.SIGN_IN_SUCCEEDED and event.detail.get("new_network"):
        sentence = "You signed in from a new network."
    return sentence.format(app=app or "an application")


# Events that took access away because someone else may have it.
ALERTS = frozenset(
    {
        EventKind.REFRESH_TOKEN_REUSE,
        EventKind.SUSPECTED_COMPROMISE,
        EventKind.AUTHORIZATION_CODE_REUSE,
    }
)


def subject(event: Event) -> str:
    if event.kind in ALERTS:
        return "Security alert: access to your account was revoked"
    return "Security notice for your account"
