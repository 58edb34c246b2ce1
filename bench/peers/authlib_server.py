"""A peer for the benchmark: Authlib's authorization server (Flask, SQLAlchemy on PostgreSQL).

Written the way Authlib's documentation sets one up: the SQLAlchemy mixins for
clients, codes and tokens, the authorization code grant with PKCE, and the
refresh token grant with rotation (a new refresh token per refresh, the old one
revoked). Sign-in and consent are automatic for one user so a script can walk
the code flow. Run by bench/run.py under gunicorn; configured by environment:
DATABASE_URL, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI.
"""

from __future__ import annotations

import os
import time

from authlib.integrations.flask_oauth2 import AuthorizationServer  # type: ignore[import-untyped]
from authlib.integrations.sqla_oauth2 import (  # type: ignore[import-untyped]
    OAuth2AuthorizationCodeMixin,
    OAuth2ClientMixin,
    OAuth2TokenMixin,
    create_query_client_func,
    create_save_token_func,
)
from authlib.oauth2.rfc6749 import grants  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import CodeChallenge  # type: ignore[import-untyped]
from flask import Flask  # type: ignore[import-not-found]
from sqlalchemy import ForeignKey, Integer, String, create_engine  # type: ignore[import-not-found]
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, scoped_session, sessionmaker  # type: ignore[import-not-found]

engine = create_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1), pool_size=10
)
db = scoped_session(sessionmaker(bind=engine))


class Base(DeclarativeBase):  # type: ignore[misc]
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40))

    def get_user_id(self) -> int:
        return self.id  # type: ignore[no-any-return]


class Client(Base, OAuth2ClientMixin):  # type: ignore[misc]
    __tablename__ = "oauth2_client"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class AuthorizationCode(Base, OAuth2AuthorizationCodeMixin):  # type: ignore[misc]
    __tablename__ = "oauth2_code"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Token(Base, OAuth2TokenMixin):  # type: ignore[misc]
    __tablename__ = "oauth2_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic",)

    def save_authorization_code(self, code, request):  # type: ignore[no-untyped-def]
        item = AuthorizationCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            user_id=request.user.id,
            code_challenge=request.payload.data.get("code_challenge"),
            code_challenge_method=request.payload.data.get("code_challenge_method"),
        )
        db.add(item)
        db.commit()
        return item

    def query_authorization_code(self, code, client):  # type: ignore[no-untyped-def]
        item = db.query(AuthorizationCode).filter_by(code=code, client_id=client.client_id).first()
        if item and not item.is_expired():
            return item
        return None

    def delete_authorization_code(self, authorization_code):  # type: ignore[no-untyped-def]
        db.delete(authorization_code)
        db.commit()

    def authenticate_user(self, authorization_code):  # type: ignore[no-untyped-def]
        return db.get(User, authorization_code.user_id)


class RotatingRefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic",)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):  # type: ignore[no-untyped-def]
        token = db.query(Token).filter_by(refresh_token=refresh_token).first()
        if token and not token.is_revoked() and not token.is_expired():
            return token
        return None

    def authenticate_user(self, refresh_token):  # type: ignore[no-untyped-def]
        return db.get(User, refresh_token.user_id)

    def revoke_old_credential(self, refresh_token):  # type: ignore[no-untyped-def]
        refresh_token.refresh_token_revoked_at = int(time.time())
        refresh_token.access_token_revoked_at = int(time.time())
        db.add(refresh_token)
        db.commit()


app = Flask(__name__)
app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
server = AuthorizationServer(
    app,
    query_client=create_query_client_func(db, Client),
    save_token=create_save_token_func(db, Token),
)
server.register_grant(CodeGrant, [CodeChallenge(required=False)])
server.register_grant(RotatingRefreshGrant)


@app.teardown_appcontext  # type: ignore[untyped-decorator]
def remove_session(_exc: object) -> None:
    db.remove()


@app.route("/authorize")
def authorize():  # type: ignore[no-untyped-def]
    # Sign-in and consent are automatic: the benchmark measures refreshes.
    return server.create_authorization_response(grant_user=db.get(User, 1))


@app.route("/token", methods=["POST"])
def issue_token():  # type: ignore[no-untyped-def]
    return server.create_token_response()


def setup() -> None:
    Base.metadata.create_all(engine)
    if db.get(User, 1) is None:
        db.add(User(id=1, name="bench"))
        client = Client(
            client_id=os.environ["CLIENT_ID"],
            client_secret=os.environ["CLIENT_SECRET"],
            client_id_issued_at=0,
        )
        client.set_client_metadata(
            {
                "redirect_uris": [os.environ["REDIRECT_URI"]],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "scope": "offline_access",
                "token_endpoint_auth_method": "client_secret_basic",
            }
        )
        db.add(client)
        db.commit()
    db.remove()


if __name__ == "__main__":
    setup()
