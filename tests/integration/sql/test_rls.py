"""Who may do what: anon, a signed-in user, an admin and service_role against every operation.

Each statement runs the way PostgREST runs a request: `set local role <role>` and
`request.jwt.claims` set to the token's claims, with Supabase's default grants in place (the shim
grants everything in public to anon and authenticated, as Supabase does).
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.fixtures.postgres import as_role, claims_for
from tests.integration.sql.helpers import Conn, claim, insert_jobs, job

ADMIN_ID = str(uuid.uuid4())
ACTORS: dict[str, tuple[str, dict[str, Any]]] = {
    "anon": ("anon", claims_for("anon")),
    "user": ("authenticated", claims_for("authenticated")),
    "admin": ("authenticated", claims_for("authenticated", admin=True, sub=ADMIN_ID)),
    "service": ("service_role", claims_for("service_role")),
}
DENIED = "denied"  # permission denied or a row-level security violation


def _run(db: Conn, actor: str, statement: str, params: tuple[Any, ...] = ()) -> Any:
    """Rows affected/returned by `statement` as `actor`, or DENIED; always rolled back."""
    role, claims = ACTORS[actor]
    try:
        with as_role(db, role, claims):
            cur = db.execute(statement.encode(), params)
            return len(cur.fetchall()) if cur.description else cur.rowcount
    except psycopg.errors.InsufficientPrivilege:
        return DENIED


@pytest.fixture
def one_job(db: Conn) -> uuid.UUID:
    insert_jobs(db, 2)  # two queued jobs, so "sees all" differs from "sees one"
    (job_id,) = insert_jobs(db, source_path="x.jpg")
    return job_id


SELECT = "select * from processing_jobs"
INSERT = (
    "insert into processing_jobs (vehicle_id, source_bucket, source_path, options, priority, "
    "max_attempts) values ('V1', 'vehicle-photos', 'a/b.jpg', '{}', 1, 2) returning id"
)


@pytest.mark.parametrize(
    ("actor", "expected"), [("anon", DENIED), ("user", 0), ("admin", 3), ("service", 3)]
)
def test_select(db: Conn, one_job: uuid.UUID, actor: str, expected: Any) -> None:
    assert _run(db, actor, SELECT) == expected


@pytest.mark.parametrize(
    ("actor", "expected"), [("anon", DENIED), ("user", DENIED), ("admin", 1), ("service", 1)]
)
def test_insert(db: Conn, actor: str, expected: Any) -> None:
    assert _run(db, actor, INSERT) == expected


def test_an_admins_job_records_who_asked(db: Conn) -> None:
    role, claims = ACTORS["admin"]
    with as_role(db, role, claims):
        row = db.execute(INSERT + ", created_by, status").fetchone()
    assert row is not None
    assert str(row["created_by"]) == ADMIN_ID and row["status"] == "queued"


@pytest.mark.parametrize("column", ["status", "attempts", "revision", "lease_token", "result"])
def test_admins_cannot_insert_daemon_columns(db: Conn, column: str) -> None:
    values = {
        "status": "'succeeded'",
        "attempts": "5",
        "revision": "9",
        "lease_token": "gen_random_uuid()",
        "result": "'{}'",
    }
    statement = (
        f"insert into processing_jobs (source_path, {column}) values ('a.jpg', {values[column]})"
    )
    assert _run(db, "admin", statement) == DENIED


@pytest.mark.parametrize(
    ("actor", "expected"), [("anon", DENIED), ("user", 0), ("admin", 1), ("service", 1)]
)
@pytest.mark.parametrize(
    "assignment",
    [
        "status = 'queued'",
        "status = 'cancelled'",
        "options = '{\"add_shadow\": false}'",
        "priority = 7",
    ],
)
def test_update_allowed_columns(
    db: Conn, one_job: uuid.UUID, actor: str, expected: Any, assignment: str
) -> None:
    statement = f"update processing_jobs set {assignment} where id = %s"
    assert _run(db, actor, statement, (one_job,)) == expected


@pytest.mark.parametrize(
    ("actor", "expected"),
    [("anon", DENIED), ("user", DENIED), ("admin", DENIED), ("service", 1)],
)
@pytest.mark.parametrize(
    "assignment",
    [
        "result = '{}'",
        "attempts = 0",
        "revision = 5",
        "max_attempts = 9",
        "run_after = now()",
        "source_path = 'other.jpg'",
        "progress = 50",
    ],
)
def test_update_daemon_columns(
    db: Conn, one_job: uuid.UUID, actor: str, expected: Any, assignment: str
) -> None:
    statement = f"update processing_jobs set {assignment} where id = %s"
    assert _run(db, actor, statement, (one_job,)) == expected


@pytest.mark.parametrize("status", ["processing", "succeeded", "failed"])
def test_admins_cannot_set_other_statuses(db: Conn, one_job: uuid.UUID, status: str) -> None:
    statement = "update processing_jobs set status = %s where id = %s"
    assert _run(db, "admin", statement, (status, one_job)) == DENIED
    assert job(db, one_job)["status"] == "queued"


def test_an_admin_requeue_takes_the_job_from_its_worker(db: Conn, one_job: uuid.UUID) -> None:
    db.execute("update processing_jobs set priority = 10 where id = %s", (one_job,))
    (claimed,) = claim(db)
    role, claims = ACTORS["admin"]
    with as_role(db, role, claims, commit=True):
        db.execute("update processing_jobs set status = 'queued' where id = %s", (one_job,))
    row = job(db, one_job)
    assert row["status"] == "queued" and row["revision"] == 1
    assert row["lease_token"] is None and row["lease_token"] != claimed["lease_token"]


@pytest.mark.parametrize(
    ("actor", "expected"), [("anon", DENIED), ("user", DENIED), ("admin", DENIED), ("service", 1)]
)
def test_delete(db: Conn, one_job: uuid.UUID, actor: str, expected: Any) -> None:
    assert _run(db, actor, "delete from processing_jobs where id = %s", (one_job,)) == expected


FUNCTION_CALLS = {
    "claim_processing_jobs": "select * from claim_processing_jobs(worker_id => 'w')",
    "heartbeat_processing_job": "select heartbeat_processing_job(job_id => %s, lease_token => %s)",
    "complete_processing_job": (
        "select complete_processing_job(job_id => %s, lease_token => %s, result => '{}')"
    ),
    "fail_processing_job": (
        "select fail_processing_job(job_id => %s, lease_token => %s, "
        'error => \'{"code": "internal_error", "message": "x"}\')'
    ),
    "release_processing_job": "select release_processing_job(job_id => %s, lease_token => %s)",
    "processing_jobs_retry_delay": "select processing_jobs_retry_delay(1)",
}


@pytest.mark.parametrize(
    ("actor", "allowed"), [("anon", False), ("user", False), ("admin", False), ("service", True)]
)
@pytest.mark.parametrize("function", sorted(FUNCTION_CALLS))
def test_functions_are_for_service_role_only(
    db: Conn, one_job: uuid.UUID, actor: str, allowed: bool, function: str
) -> None:
    statement = FUNCTION_CALLS[function]
    params = (one_job, uuid.uuid4()) if "%s" in statement else ()
    before = job(db, one_job)
    answer = _run(db, actor, statement, params)
    if allowed:
        assert answer == 1
    else:
        assert answer == DENIED
        assert job(db, one_job) == before


@pytest.mark.parametrize(
    ("actor", "expected"),
    [("anon", DENIED), ("user", False), ("admin", True), ("service", False)],
)
def test_is_processing_admin(db: Conn, actor: str, expected: Any) -> None:
    role, claims = ACTORS[actor]
    try:
        with as_role(db, role, claims):
            row = db.execute("select public.is_processing_admin() as admin").fetchone()
            answer = row["admin"] if row else None
    except psycopg.errors.InsufficientPrivilege:
        answer = DENIED
    assert answer == expected


def test_the_admin_rule_reads_app_metadata_not_user_metadata(db: Conn) -> None:
    claims = claims_for("authenticated")
    claims["user_metadata"] = {"role": "admin"}  # users can write this one themselves
    with as_role(db, "authenticated", claims):
        row = db.execute("select public.is_processing_admin() as admin").fetchone()
    assert row == {"admin": False}


UPLOAD = (
    "insert into storage.objects (bucket_id, name, owner) "
    "values (%s, 'dealer/1/front.jpg', auth.uid())"
)


@pytest.mark.parametrize(
    ("actor", "bucket", "expected"),
    [
        ("anon", "vehicle-photos", DENIED),
        ("user", "vehicle-photos", DENIED),
        ("admin", "vehicle-photos", 1),
        ("admin", "vehicle-photos-processed", DENIED),
        ("admin", "processing-cache", DENIED),
        ("admin", "processing-assets", 1),
        ("user", "processing-assets", DENIED),
        ("anon", "processing-assets", DENIED),
        ("service", "vehicle-photos-processed", 1),
        ("service", "processing-cache", 1),
    ],
)
def test_storage_uploads(db: Conn, actor: str, bucket: str, expected: Any) -> None:
    assert _run(db, actor, UPLOAD, (bucket,)) == expected


def test_buckets(db: Conn) -> None:
    rows = db.execute("select id, public from storage.buckets order by id").fetchall()
    assert {r["id"]: r["public"] for r in rows} == {
        "processing-assets": False,
        "processing-cache": False,
        "vehicle-photos": False,
        "vehicle-photos-processed": True,
    }


def test_supabase_default_grants_are_in_place(db: Conn) -> None:
    """The protections above hold although Supabase grants new objects in public to everyone."""
    row = db.execute(
        "select has_table_privilege('anon', 'public.processing_jobs', 'select') as anon_jobs"
    ).fetchone()
    assert row == {"anon_jobs": False}
    db.execute("create table public.grant_probe (x int)")
    try:
        probe = db.execute(
            "select has_table_privilege('anon', 'public.grant_probe', 'select') as anon"
        ).fetchone()
        assert probe == {"anon": True}
    finally:
        db.execute("drop table public.grant_probe")
