"""Supabase Auth (GoTrue), as far as a browser console signs in with supabase-js: the password
grant, the refresh-token grant, the user endpoint and logout.

Shapes follow GoTrue's handlers and auth-js's parsing: a session is `access_token`,
`token_type`, `expires_in`, `expires_at`, `refresh_token` and `user`; errors are
`{"code", "message"}` with the `X-Supabase-Api-Version` header echoed when the request names
API version 2024-01-01 (auth-js always does), and `{"code": <status>, "error_code", "msg"}`
otherwise. Access tokens are HS256 JWTs with the claims GoTrue puts in them, so PostgREST,
Storage and Realtime of the double treat a signed-in user as they treat any JWT.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.doubles.supabase import jwt
from tests.doubles.supabase.http import Request, Response

API_VERSION_HEADER = "x-supabase-api-version"
API_VERSION = "2024-01-01"


@dataclass
class User:
    id: str
    email: str
    password: str
    app_metadata: dict[str, Any]
    created_at: str
    last_sign_in_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The user object GoTrue returns (the fields auth-js and the console read)."""
        return {
            "id": self.id,
            "aud": "authenticated",
            "role": "authenticated",
            "email": self.email,
            "email_confirmed_at": self.created_at,
            "phone": "",
            "confirmed_at": self.created_at,
            "last_sign_in_at": self.last_sign_in_at,
            "app_metadata": self.app_metadata,
            "user_metadata": {},
            "identities": [],
            "created_at": self.created_at,
            "updated_at": self.last_sign_in_at or self.created_at,
            "is_anonymous": False,
        }


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Auth:
    """The `/auth/v1` routes over an in-memory user table."""

    jwt_secret: str
    #: Lifetime of access tokens; short values make auth-js refresh (its margin is 90 s).
    session_seconds: int = 3600
    users: dict[str, User] = field(default_factory=dict)  # by lower-case email
    _refresh: dict[str, str] = field(default_factory=dict)  # refresh token -> user id
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: Grants answered, for assertions: {"password": n, "refresh_token": n}.
    grants: dict[str, int] = field(default_factory=lambda: {"password": 0, "refresh_token": 0})

    def add_user(self, email: str, password: str, *, app_role: str | None = None) -> str:
        """A confirmed email user; `app_role="admin"` puts role admin in app_metadata (as an
        operator does with the service key). Returns the user id."""
        user = User(
            id=str(uuid.uuid4()),
            email=email,
            password=password,
            app_metadata={
                "provider": "email",
                "providers": ["email"],
                **({"role": app_role} if app_role else {}),
            },
            created_at=_now_iso(),
        )
        with self._lock:
            self.users[email.lower()] = user
        return user.id

    def access_token(self, user: User) -> str:
        now = int(time.time())
        claims = {
            "iss": "supabase-double/auth/v1",
            "aud": "authenticated",
            "role": "authenticated",
            "sub": user.id,
            "email": user.email,
            "phone": "",
            "iat": now,
            "exp": now + self.session_seconds,
            "app_metadata": user.app_metadata,
            "user_metadata": {},
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now}],
            "session_id": str(uuid.uuid4()),
            "is_anonymous": False,
        }
        return jwt.sign(claims, self.jwt_secret)

    # -- routes --------------------------------------------------------------------------------

    def route(self, request: Request, rest: str) -> Response:
        if rest == "token" and request.method == "POST":
            grant = request.query_dict().get("grant_type", "")
            if grant == "password":
                return self._password(request)
            if grant == "refresh_token":
                return self._refresh_grant(request)
            return self._error(request, 400, "validation_failed", "unsupported_grant_type")
        if rest == "user" and request.method == "GET":
            return self._user(request)
        if rest == "logout" and request.method == "POST":
            return self._logout(request)
        return self._error(request, 404, "not_found", "Not Found")

    def _password(self, request: Request) -> Response:
        try:
            body = request.json() or {}
        except ValueError:
            body = {}
        email = str(body.get("email") or "").strip().lower()
        password = str(body.get("password") or "")
        if not email or not password:
            return self._error(request, 400, "validation_failed", "missing email or phone")
        with self._lock:
            user = self.users.get(email)
            if user is None or not secrets.compare_digest(user.password, password):
                return self._error(request, 400, "invalid_credentials", "Invalid login credentials")
            self.grants["password"] += 1
            user.last_sign_in_at = _now_iso()
        return self._session(request, user)

    def _refresh_grant(self, request: Request) -> Response:
        try:
            body = request.json() or {}
        except ValueError:
            body = {}
        token = str(body.get("refresh_token") or "")
        with self._lock:
            user_id = self._refresh.pop(token, None)  # a refresh token is used once
            user = next((u for u in self.users.values() if u.id == user_id), None)
            if user is None:
                message = "Invalid Refresh Token: Refresh Token Not Found"
                return self._error(request, 400, "refresh_token_not_found", message)
            self.grants["refresh_token"] += 1
        return self._session(request, user)

    def _session(self, request: Request, user: User) -> Response:
        refresh = secrets.token_urlsafe(12)
        with self._lock:
            self._refresh[refresh] = user.id
        now = int(time.time())
        return Response.json(
            200,
            {
                "access_token": self.access_token(user),
                "token_type": "bearer",
                "expires_in": self.session_seconds,
                "expires_at": now + self.session_seconds,
                "refresh_token": refresh,
                "user": user.as_json(),
                "weak_password": None,
            },
            self._version_header(request),
        )

    def _claims(self, request: Request) -> dict[str, Any] | Response:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return self._error(
                request, 401, "no_authorization", "This endpoint requires a Bearer token"
            )
        try:
            claims = jwt.verify(auth[7:].strip(), self.jwt_secret)
        except jwt.InvalidToken as exc:
            return self._error(request, 403, "bad_jwt", f"invalid JWT: {exc}")
        if claims.get("role") != "authenticated" or not claims.get("sub"):
            # The anon key is a valid JWT but names no user.
            return self._error(request, 403, "bad_jwt", "invalid claim: missing sub claim")
        return claims

    def _user(self, request: Request) -> Response:
        claims = self._claims(request)
        if isinstance(claims, Response):
            return claims
        with self._lock:
            user = next((u for u in self.users.values() if u.id == claims["sub"]), None)
        if user is None:
            return self._error(
                request, 403, "user_not_found", "User from sub claim in JWT does not exist"
            )
        return Response.json(200, user.as_json(), self._version_header(request))

    def _logout(self, request: Request) -> Response:
        claims = self._claims(request)
        if isinstance(claims, Response):
            return claims
        with self._lock:
            for token, user_id in list(self._refresh.items()):
                if user_id == claims["sub"]:
                    del self._refresh[token]
        return Response(204, b"", self._version_header(request))

    # -- errors --------------------------------------------------------------------------------

    @staticmethod
    def _version_header(request: Request) -> dict[str, str]:
        if request.headers.get(API_VERSION_HEADER, "") >= API_VERSION:
            return {"X-Supabase-Api-Version": API_VERSION}
        return {}

    def _error(self, request: Request, status: int, code: str, message: str) -> Response:
        headers = self._version_header(request)
        if headers:
            return Response.json(status, {"code": code, "message": message}, headers)
        return Response.json(status, {"code": status, "error_code": code, "msg": message})
