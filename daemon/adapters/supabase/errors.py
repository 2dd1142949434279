"""How failures of supabase-py's PostgREST and Storage calls map into daemon.domain.errors, once.

postgrest-py raises `APIError` for an error answer (without the HTTP status: it is recovered from
the code where PostgREST or the gateway put it there) and lets httpx's own exceptions through for
the network. storage3 raises `StorageApiError` (with the status) for an error answer. Those are
caught by name; anything else a call raises is a bug and is left to propagate as one.
"""

from __future__ import annotations

import httpx
from postgrest.exceptions import APIError

from daemon.domain.errors import CredentialsRefused, QueueUnavailable

# What the libraries raise for the network: connect, read, write, protocol, timeout and decoding
# failures (httpx.RequestError). httpx.HTTPStatusError is never raised by postgrest-py, and
# storage3 turns it into StorageApiError.
NETWORK_ERRORS = (httpx.RequestError,)

KEY_CHECK = (
    "check that SUPABASE_SERVICE_ROLE_KEY is the project's service_role (secret) key for "
    "SUPABASE_URL."
)
KEY_REFUSED = f"Supabase refused the service role key: {KEY_CHECK}"


class SupabaseAuthError(CredentialsRefused):
    """The service key was refused: at start-up `python -m daemon run` prints it and exits 1;
    while running (a key revoked) the worker pauses claiming until the key works again."""


class SupabaseQueueError(Exception):
    """PostgREST refused a call for a reason a retry cannot fix (a missing function, bad input)."""


# PostgREST's own codes for a refused or unusable JWT (PGRST3xx), plus permission denied (42501):
# the service role may call every contract function, so a 42501 means the key is not service_role.
_AUTH_CODES = frozenset({"PGRST300", "PGRST301", "PGRST302", "PGRST303", "42501", "401", "403"})
# The gateway (Kong) answers a wrong apikey with a JSON body that has no code.
_AUTH_MESSAGES = ("invalid api key", "no api key found", "invalid jwt", "jwt expired")
# Codes that say the call itself is wrong, so a retry gives the same answer: PostgREST could not
# parse the request or find the function (PGRST1xx, PGRST2xx), or Postgres refused the arguments
# or the statement (data 22, integrity 23, syntax or undefined object 42, raised by a function
# P0). Anything else, including a gateway's JSON without a code (a 429, a 503), is transient.
_PERMANENT_PREFIXES = ("PGRST1", "PGRST2", "22", "23", "42", "P0")


def is_auth_answer(code: str, message: str) -> bool:
    """Whether an error answer (its code or HTTP status, and message) says the key was refused."""
    return code in _AUTH_CODES or any(m in message.lower() for m in _AUTH_MESSAGES)


def classify_api_error(exc: APIError, *, call: str) -> Exception:
    """Map one APIError to QueueUnavailable, SupabaseAuthError or SupabaseQueueError."""
    code = str(exc.code or "")
    message = str(exc.message or "")
    if is_auth_answer(code, message):
        return SupabaseAuthError(KEY_REFUSED)
    if code in ("PGRST202", "42883"):
        return SupabaseQueueError(
            f"The database has no function {call}: apply the daemon's migrations to this project."
        )
    # A bare HTTP status ("429", "502") came from a non-JSON body: never a SQLSTATE (5 characters).
    if not (code.isdigit() and len(code) == 3) and code.startswith(_PERMANENT_PREFIXES):
        return SupabaseQueueError(f"Supabase refused {call} ({code}): {message[:200]}")
    return QueueUnavailable(f"Supabase could not run {call} right now ({code or 'no code'}).")


def classify_network_error(exc: httpx.RequestError, *, call: str) -> QueueUnavailable:
    """An httpx failure on the way to PostgREST: an outage."""
    if isinstance(exc, httpx.TimeoutException):
        return QueueUnavailable(f"Supabase did not answer {call} in time.")
    return QueueUnavailable(f"Supabase could not be reached for {call} ({type(exc).__name__}).")
