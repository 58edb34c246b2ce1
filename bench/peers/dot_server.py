"""A peer for the benchmark: django-oauth-toolkit on PostgreSQL, as its tutorial sets it up.

Refresh tokens rotate (DOT's default). Sign-in is automatic for one user and the
application skips the consent screen, so a script can walk the code flow:
GET /login?<authorize query> signs in and forwards to /o/authorize/. Run by
bench/run.py under gunicorn; environment: DATABASE_URL, CLIENT_ID,
CLIENT_SECRET, REDIRECT_URI, HASH_CLIENT_SECRET (DOT's default is to hash).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import django  # type: ignore[import-not-found]
from django.conf import settings  # type: ignore[import-not-found]

_db = urlsplit(os.environ["DATABASE_URL"])
settings.configure(
    DEBUG=False,
    SECRET_KEY="benchmark-only-not-secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    USE_TZ=True,
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "oauth2_provider",
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _db.path.lstrip("/"),
            "HOST": _db.hostname,
            "PORT": _db.port or 5432,
            "USER": _db.username or "postgres",
            "CONN_MAX_AGE": 600,
        }
    },
    OAUTH2_PROVIDER={
        "PKCE_REQUIRED": False,
        "ROTATE_REFRESH_TOKEN": True,
        "ACCESS_TOKEN_EXPIRE_SECONDS": 43200,
    },
)
django.setup()

from django.contrib.auth import login  # type: ignore[import-not-found]  # noqa: E402
from django.contrib.auth.models import User  # type: ignore[import-not-found]  # noqa: E402
from django.core.wsgi import get_wsgi_application  # type: ignore[import-not-found]  # noqa: E402
from django.http import HttpRequest, HttpResponseRedirect  # type: ignore[import-not-found]  # noqa: E402
from django.urls import include, path  # type: ignore[import-not-found]  # noqa: E402


def sign_in(request: HttpRequest) -> HttpResponseRedirect:
    login(request, User.objects.get(username="bench"))
    return HttpResponseRedirect("/o/authorize/?" + request.META.get("QUERY_STRING", ""))


urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("login", sign_in),
]
application = get_wsgi_application()


def setup() -> None:
    from django.core.management import call_command  # type: ignore[import-not-found]
    from oauth2_provider.models import Application  # type: ignore[import-not-found]

    call_command("migrate", verbosity=0)
    user, _ = User.objects.get_or_create(username="bench")
    Application.objects.get_or_create(
        client_id=os.environ["CLIENT_ID"],
        defaults={
            "user": user,
            "name": "bench",
            "client_secret": os.environ["CLIENT_SECRET"],
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": os.environ["REDIRECT_URI"],
            "skip_authorization": True,
            "hash_client_secret": os.environ.get("HASH_CLIENT_SECRET", "1") == "1",
        },
    )


if __name__ == "__main__":
    setup()
