"""HS256 JSON Web Tokens, the way Supabase signs its API keys and user sessions (RFC 7519)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


class InvalidToken(Exception):
    """The token is malformed, signed with another secret, or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(claims: dict[str, Any], secret: str) -> str:
    """A compact HS256 JWT over `claims`."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(mac)}"


def verify(token: str, secret: str) -> dict[str, Any]:
    """The claims of a valid token; InvalidToken with PostgREST-like wording otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("JWSError (CompactDecodeError Invalid number of parts)")
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except ValueError:
        raise InvalidToken("JWSError (CompactDecodeError Invalid encoding)") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        raise InvalidToken("JWSError JWSInvalidSignature")
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise InvalidToken("JWSError JWSInvalidSignature")
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp < time.time():
        raise InvalidToken("JWT expired")
    return claims
