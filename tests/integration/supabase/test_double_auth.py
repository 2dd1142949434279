"""The double's Auth, CORS and presets, as supabase-js in a browser uses them (shapes from
GoTrue's handlers and auth-js's parsing)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.doubles.supabase import SupabaseDouble, jwt

VERSION = {"X-Supabase-Api-Version": "2024-01-01"}


@pytest.fixture
def http(sb: SupabaseDouble, pg_dsn: str) -> Iterator[httpx.Client]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("delete from public.processing_presets")
    sb.add_user("boss@dealer.example", "s3cret", admin=True)
    sb.add_user("sales@dealer.example", "hunter22")
    with httpx.Client(base_url=sb.url, headers={"apikey": sb.anon_key}, timeout=10) as client:
        yield client


def sign_in(http: httpx.Client, email: str, password: str) -> httpx.Response:
    return http.post(
        "/auth/v1/token",
        params={"grant_type": "password"},
        json={"email": email, "password": password, "gotrue_meta_security": {}},
        headers=VERSION,
    )


def bearer(http: httpx.Client, email: str, password: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {sign_in(http, email, password).json()['access_token']}"}


def test_the_password_grant_returns_a_session_the_other_services_accept(
    sb: SupabaseDouble, http: httpx.Client
) -> None:
    response = sign_in(http, "Boss@Dealer.example", "s3cret")
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["token_type"] == "bearer"
    assert session["expires_in"] == 3600 and session["expires_at"] > 0
    assert session["refresh_token"] and session["user"]["email"] == "boss@dealer.example"
    assert session["user"]["app_metadata"]["role"] == "admin"
    claims = jwt.verify(session["access_token"], sb.jwt_secret)
    assert claims["role"] == "authenticated" and claims["aud"] == "authenticated"
    assert claims["sub"] == session["user"]["id"]
    # PostgREST runs as that user: is_processing_admin() says yes.
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    admin = http.post("/rest/v1/rpc/is_processing_admin", json={}, headers=bearer)
    assert admin.json() is True
    user = http.get("/auth/v1/user", headers={**bearer, **VERSION})
    assert user.status_code == 200 and user.json()["id"] == session["user"]["id"]


def test_a_wrong_password_is_the_error_auth_js_reads(http: httpx.Client) -> None:
    response = sign_in(http, "boss@dealer.example", "wrong")
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_credentials",
        "message": "Invalid login credentials",
    }
    assert response.headers["x-supabase-api-version"] == "2024-01-01"
    # Without the version header: GoTrue's first error shape.
    legacy = http.post(
        "/auth/v1/token",
        params={"grant_type": "password"},
        json={"email": "nobody@dealer.example", "password": "x"},
    )
    assert legacy.json() == {
        "code": 400,
        "error_code": "invalid_credentials",
        "msg": "Invalid login credentials",
    }


def test_a_refresh_token_is_good_once(http: httpx.Client) -> None:
    first = sign_in(http, "sales@dealer.example", "hunter22").json()
    grant = {"grant_type": "refresh_token"}
    body = {"refresh_token": first["refresh_token"]}
    again = http.post("/auth/v1/token", params=grant, json=body, headers=VERSION)
    assert again.status_code == 200 and again.json()["user"]["id"] == first["user"]["id"]
    assert again.json()["refresh_token"] != first["refresh_token"]
    reused = http.post("/auth/v1/token", params=grant, json=body, headers=VERSION)
    assert reused.status_code == 400 and reused.json()["code"] == "refresh_token_not_found"


def test_the_user_endpoint_needs_a_user_token(sb: SupabaseDouble, http: httpx.Client) -> None:
    assert http.get("/auth/v1/user", headers=VERSION).status_code == 401
    anon = http.get("/auth/v1/user", headers={"Authorization": f"Bearer {sb.anon_key}", **VERSION})
    assert anon.status_code == 403 and anon.json()["code"] == "bad_jwt"
    keyless = httpx.post(f"{sb.url}/auth/v1/token?grant_type=password", json={})
    assert keyless.status_code == 401  # the gateway wants an apikey first


def test_cors_lets_a_page_on_another_origin_call_every_service(
    sb: SupabaseDouble, http: httpx.Client
) -> None:
    for path in [
        "/auth/v1/token?grant_type=password",
        "/rest/v1/processing_jobs",
        "/storage/v1/object/vehicle-photos/a/b.jpg",
    ]:
        preflight = httpx.options(
            f"{sb.url}{path}",
            headers={
                "Origin": "http://127.0.0.1:8090",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "apikey, authorization, content-type, x-upsert",
            },
        )
        assert preflight.status_code == 204, path
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "x-upsert" in preflight.headers["access-control-allow-headers"]
        assert "PATCH" in preflight.headers["access-control-allow-methods"]
    answer = http.get("/rest/v1/processing_jobs", headers={"Origin": "http://127.0.0.1:8090"})
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "Content-Range" in answer.headers["access-control-expose-headers"]


def test_presets_through_postgrest_follow_rls(http: httpx.Client) -> None:
    boss = bearer(http, "boss@dealer.example", "s3cret")
    sales = bearer(http, "sales@dealer.example", "hunter22")
    created = http.post(
        "/rest/v1/processing_presets",
        params={"select": "*"},
        json={"name": "showroom", "options": {"padding_percent": 0.1}},
        headers={**boss, "Prefer": "return=representation"},
    )
    assert created.status_code == 201 and created.json()[0]["name"] == "showroom"
    edited = http.patch(
        "/rest/v1/processing_presets",
        params={"name": "eq.showroom", "select": "*"},
        json={"description": "white studio"},
        headers={
            **boss,
            "Prefer": "return=representation",
            "Accept": "application/vnd.pgrst.object+json",
        },
    )
    assert edited.status_code == 200 and edited.json()["description"] == "white studio"
    assert http.get("/rest/v1/processing_presets", headers=sales).json() == []
    refused = http.post(
        "/rest/v1/processing_presets", json={"name": "mine", "options": {}}, headers=sales
    )
    assert refused.status_code == 403 and refused.json()["code"] == "42501"
    none = http.get(
        "/rest/v1/processing_presets",
        params={"name": "eq.nothing"},
        headers={**boss, "Accept": "application/vnd.pgrst.object+json"},
    )
    assert none.status_code == 406 and none.json()["code"] == "PGRST116"
