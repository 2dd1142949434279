"""How failures of supabase-py's PostgREST calls are classified: transient, wrong key, or a bug.

PostgREST answers errors as JSON `{"code", "message", "hint", "details"}`; postgrest-py turns them
into `APIError` without the HTTP status, so the status is recovered from the code where PostgREST
or the gateway put it there. Network failures arrive as raw httpx exceptions.
"""

from __future__ import annotations

import json

import httpx
from postgrest.exceptions import APIError

from daemon.ports import QueueUnavailable
from daemon.settings import SettingsError


class SupabaseAuthError(SettingsError):
    """The service key was refused: a start-up error (one sentence) the CLI prints as is.

    A SettingsError, so `python -m daemon run` reports it and exits 1; raised by any later call
    too (a key revoked while running), where it is not worth retrying.
    """


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


def classify_api_error(exc: APIError, *, call: str) -> Exception:
    """Map one APIError to QueueUnavailable, SupabaseAuthError or SupabaseQueueError."""
    code = str(exc.code or "")
    message = str(exc.message or "")
    if code in _AUTH_CODES or any(m in message.lower() for m in _AUTH_MESSAGES):
        return SupabaseAuthError(
            "Supabase refused the service role key: check that SUPABASE_SERVICE_ROLE_KEY is the "
            "project's service_role (secret) key for SUPABASE_URL."
        )
    if code in ("PGRST202", "42883"):
        return SupabaseQueueError(
            f"The database has no function {call}: apply the daemon's migrations to this project."
        )
    # A bare HTTP status ("429", "502") came from a non-JSON body: never a SQLSTATE (5 characters).
    if not (code.isdigit() and len(code) == 3) and code.startswith(_PERMANENT_PREFIXES):
        return SupabaseQueueError(f"Supabase refused {call} ({code}): {message[:200]}")
    return QueueUnavailable(f"Supabase could not run {call} right now ({code or 'no code'}).")


def classify_call_error(exc: BaseException, *, call: str) -> Exception:
    """Map anything a PostgREST call raised; unknown exceptions count as transient."""
    if isinstance(exc, APIError):
        return classify_api_error(exc, call=call)
    if isinstance(exc, httpx.TimeoutException):
        return QueueUnavailable(f"Supabase did not answer {call} in time.")
    if isinstance(exc, httpx.HTTPError):
        return QueueUnavailable(f"Supabase could not be reached for {call} ({type(exc).__name__}).")
    if isinstance(exc, json.JSONDecodeError | ValueError):
        return QueueUnavailable(f"Supabase answered {call} with a body that is not JSON.")
    return QueueUnavailable(f"Supabase call {call} failed ({type(exc).__name__}).")
