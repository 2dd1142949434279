"""CORS as Supabase's API gateway answers it, so a page on another origin (the console on its
own port) can call the double from a browser: any origin, the preflight answered at the gateway
before any key check, and the headers supabase-js reads from responses exposed."""

from __future__ import annotations

from tests.doubles.supabase.http import Request, Response

ALLOW_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS"
# supabase-js reads Content-Range (counts), auth-js the API version of an error.
EXPOSE_HEADERS = "Content-Range, Content-Profile, X-Supabase-Api-Version, ETag"
DEFAULT_ALLOW_HEADERS = (
    "authorization, apikey, content-type, content-profile, accept-profile, prefer, range, "
    "x-client-info, x-supabase-api-version, x-upsert, cache-control"
)


def is_preflight(request: Request) -> bool:
    return request.method == "OPTIONS" and "access-control-request-method" in request.headers


def preflight(request: Request) -> Response:
    """The answer to an OPTIONS preflight: whatever the browser asks to send is allowed."""
    asked = request.headers.get("access-control-request-headers", "")
    return Response(
        204,
        b"",
        {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": asked or DEFAULT_ALLOW_HEADERS,
            "Access-Control-Max-Age": "3600",
            "Vary": "Origin",
        },
    )


def add_headers(response: Response) -> Response:
    """The CORS headers every answer carries (no credentials: keys travel in headers)."""
    response.headers.setdefault("Access-Control-Allow-Origin", "*")
    response.headers.setdefault("Access-Control-Expose-Headers", EXPOSE_HEADERS)
    return response
