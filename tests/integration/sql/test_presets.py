"""`processing_presets` (CONTRACT.md section 1b): its shape, its trigger and who may do what."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.fixtures.postgres import as_role, claims_for
from tests.integration.sql.helpers import Conn

ACTORS: dict[str, tuple[str, dict[str, Any]]] = {
    "anon": ("anon", claims_for("anon")),
    "user": ("authenticated", claims_for("authenticated")),
    "admin": ("authenticated", claims_for("authenticated", admin=True, sub=str(uuid.uuid4()))),
    "service": ("service_role", claims_for("service_role")),
}
DENIED = "denied"


@pytest.fixture
def showroom(db: Conn) -> None:
    db.execute(
        "insert into processing_presets (name, options, description) "
        """values ('showroom', '{"background": "#ffffff"}', 'white')"""
    )


def _run(db: Conn, actor: str, statement: str) -> Any:
    role, claims = ACTORS[actor]
    try:
        with as_role(db, role, claims):
            cur = db.execute(statement.encode())
            return len(cur.fetchall()) if cur.description else cur.rowcount
    except psycopg.errors.InsufficientPrivilege:
        return DENIED


@pytest.mark.parametrize(
    ("actor", "expected"), [("anon", DENIED), ("user", 0), ("admin", 1), ("service", 1)]
)
def test_read(db: Conn, showroom: None, actor: str, expected: Any) -> None:
    assert _run(db, actor, "select * from processing_presets") == expected


@pytest.mark.parametrize(
    ("actor", "expected"), [("anon", DENIED), ("user", DENIED), ("admin", 1), ("service", 1)]
)
def test_insert(db: Conn, actor: str, expected: Any) -> None:
    statement = "insert into processing_presets (name, options) values ('studio', '{}')"
    assert _run(db, actor, statement) == expected


@pytest.mark.parametrize(
    ("actor", "expected"), [("anon", DENIED), ("user", 0), ("admin", 1), ("service", 1)]
)
def test_update_and_delete(db: Conn, showroom: None, actor: str, expected: Any) -> None:
    update = """update processing_presets set options = '{"padding_percent": 0.1}'"""
    assert _run(db, actor, update) == expected
    assert _run(db, actor, "delete from processing_presets") == expected


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("Show Room", "{}"),  # the name is what jobs write in options.preset: a slug
        ("-showroom", "{}"),
        ("x" * 65, "{}"),
        ("ok", "[]"),  # options are an object
        ("ok", '{"preset": "other"}'),  # one level: a preset naming a preset is refused
    ],
)
def test_invalid_rows_are_refused(db: Conn, name: str, options: str) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "insert into processing_presets (name, options) values (%s, %s::jsonb)",
            (name, options),
        )


def test_updated_at_follows_every_change(db: Conn, showroom: None) -> None:
    db.execute("update processing_presets set updated_at = now() - interval '1 day'")
    before = db.execute("select updated_at from processing_presets").fetchone()
    db.execute("update processing_presets set description = 'white studio'")
    after = db.execute("select updated_at from processing_presets").fetchone()
    assert before is not None and after is not None
    assert after["updated_at"] > before["updated_at"]
