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
# PostgREST could not reach or use the database (PGRST000-003), and Postgres classes that are
# about the moment, not the call: connection (08), resources (53), operator intervention (57),
# serialization failure and deadlock (40001, 40P01).
_TRANSIENT_PREFIXES = ("PGRST00", "08", "53", "57", "40001", "40P01")


def _is_http_status(code: str) -> bool:
    return code.isdigit() and len(code) == 3


def classify_api_error(exc: APIError, *, call: str) -> Exception:
    """Map one APIError to QueueUnavailable, SupabaseAuthError or SupabaseQueueError."""
    code = str(exc.code or "")
    message = str(exc.message or "")
    if code in _AUTH_CODES or any(m in message.lower() for m in _AUTH_MESSAGES):
        return SupabaseAuthError(
            "Supabase refused the service role key: check that SUPABASE_SERVICE_ROLE_KEY is the "
            "project's service_role (secret) key for SUPABASE_URL."
        )
    if code.startswith(_TRANSIENT_PREFIXES) or (_is_http_status(code) and code >= "500"):
        return QueueUnavailable(f"Supabase could not run {call} right now ({code or 'no code'}).")
    if code in ("408", "429"):
        return QueueUnavailable(f"Supabase could not run {call} right now ({code}).")
    if code in ("PGRST202", "42883"):
        return SupabaseQueueError(
            f"The database has no function {call}: apply the daemon's migrations to this project."
        )
    return SupabaseQueueError(f"Supabase refused {call} ({code or 'no code'}): {message[:200]}")


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
