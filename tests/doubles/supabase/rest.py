"""PostgREST, as far as the daemon and an admin UI use it: RPC with named arguments, and
insert/select/update on a table, each in a transaction that runs as the JWT's role with
`request.jwt.claims` set, the way PostgREST does it. Errors come back in PostgREST's JSON shape."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from tests.doubles.supabase.http import Request, Response


@dataclass(frozen=True)
class Function:
    name: str
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]
    required: int  # the first `required` arguments have no default
    returns_set: bool
    return_type: str
    composite: bool


def pgrst_error(
    status: int, code: str, message: str, details: Any = None, hint: Any = None
) -> Response:
    return Response.json(
        status, {"code": code, "details": details, "hint": hint, "message": message}
    )


def unknown_column(column: str, table: str) -> Response:
    message = f"Could not find the '{column}' column of '{table}' in the schema cache"
    return pgrst_error(400, "PGRST204", message)


def status_for(sqlstate: str, role: str) -> int:
    """PostgREST's mapping of SQLSTATE to HTTP status (docs: "Errors", SQLSTATE table)."""
    if sqlstate == "42501":
        return 401 if role == "anon" else 403
    if sqlstate in ("42883", "42P01"):
        return 404
    if sqlstate in ("23503", "23505"):
        return 409
    if sqlstate == "57014":
        return 500
    prefix = sqlstate[:2]
    if prefix == "08" or prefix in ("53", "54", "55", "57", "58"):
        return 503
    if prefix in ("09", "0L", "0P", "28"):
        return 500 if prefix == "09" else 403
    if prefix in ("25", "2D", "38", "39", "3B", "40", "P0", "XX") and sqlstate != "P0001":
        return 500
    return 400


def db_error(exc: psycopg.Error, role: str) -> Response:
    diag = exc.diag
    code = exc.sqlstate or "XX000"
    return pgrst_error(
        status_for(code, role),
        code,
        diag.message_primary or str(exc),
        diag.message_detail,
        diag.message_hint,
    )


async def begin_as(conn: psycopg.AsyncConnection[Any], claims: dict[str, Any]) -> None:
    """What PostgREST runs at the start of every request's transaction."""
    await conn.execute(
        "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
        " set_config('request.jwt.claim.sub', %s, true),"
        " set_config('request.jwt.claim.role', %s, true),"
        " set_config('request.method', 'POST', true)",
        (
            str(claims.get("role", "anon")),
            json.dumps(claims),
            str(claims.get("sub", "")),
            str(claims.get("role", "anon")),
        ),
    )


def _literal(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _read_shape(request: Request, columns: dict[str, str]) -> dict[str, sql.Composable]:
    """`select` (plain column names), `order` (col.asc|desc[.nullsfirst|nullslast]), `limit`
    and `offset` of a PostgREST read."""
    query = request.query_dict()
    wanted = [c.strip() for c in query.get("select", "*").split(",") if c.strip()]
    if wanted == ["*"] or not wanted:
        cols: sql.Composable = sql.SQL("*")
    else:
        for c in wanted:
            if c not in columns:
                raise KeyError(c)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in wanted)
    terms: list[sql.Composable] = []
    for item in filter(None, query.get("order", "").split(",")):
        name, *mods = item.strip().split(".")
        if name not in columns or any(
            m not in ("asc", "desc", "nullsfirst", "nullslast") for m in mods
        ):
            raise ValueError(item)
        words = " ".join(
            {"asc": "asc", "desc": "desc", "nullsfirst": "nulls first", "nullslast": "nulls last"}[
                m
            ]
            for m in mods
        )
        terms.append(sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(words)))
    order = sql.SQL("order by ") + sql.SQL(", ").join(terms) if terms else sql.SQL("")
    page: list[sql.Composable] = []
    for word in ("limit", "offset"):
        if query.get(word):
            if not query[word].isdigit():
                raise ValueError(word)
            page.append(sql.SQL(f"{word} {int(query[word])}"))
    return {"cols": cols, "order": order, "page": sql.SQL(" ").join(page)}


class Rest:
    """The `/rest/v1` routes."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def _functions(self, conn: psycopg.AsyncConnection[Any], name: str) -> list[Function]:
        cur = await conn.execute(
            """
            select p.proname, coalesce(p.proargnames, '{}'),
                   array(select format_type(t, null) from unnest(p.proargtypes) t),
                   p.pronargs - p.pronargdefaults, p.proretset,
                   format_type(p.prorettype, null), rt.typtype = 'c'
            from pg_proc p
            join pg_namespace n on n.oid = p.pronamespace
            join pg_type rt on rt.oid = p.prorettype
            where n.nspname = 'public' and p.proname = %s
            """,
            (name,),
        )
        return [
            Function(r[0], tuple(r[1][: len(r[2])]), tuple(r[2]), r[3], r[4], r[5], r[6])
            for r in await cur.fetchall()
        ]

    async def rpc(self, request: Request, fn: str, claims: dict[str, Any]) -> Response:
        role = str(claims.get("role", "anon"))
        try:
            args = request.json() if request.body else {}
        except ValueError:
            return pgrst_error(400, "PGRST102", "Empty or invalid json")
        if not isinstance(args, dict):
            return pgrst_error(400, "PGRST102", "Empty or invalid json")
        async with self.pool.connection() as conn:
            candidates = await self._functions(conn, fn)
            chosen = next(
                (
                    f
                    for f in candidates
                    if set(args) <= set(f.arg_names) and set(f.arg_names[: f.required]) <= set(args)
                ),
                None,
            )
            if chosen is None:
                names = ", ".join(sorted(args))
                return pgrst_error(
                    404,
                    "PGRST202",
                    f"Could not find the function public.{fn}({names}) in the schema cache",
                    "Searched for the function public."
                    f"{fn} with parameters {names} or with a single unnamed json/jsonb parameter,"
                    " but no matches were found in the schema cache.",
                )
            call_args = [
                sql.SQL("{} => {}::{}").format(
                    sql.Identifier(name), sql.Placeholder(), sql.SQL(typ)
                )
                for name, typ in zip(chosen.arg_names, chosen.arg_types, strict=True)
                if name in args
            ]
            params = [_literal(args[name]) for name in chosen.arg_names if name in args]
            call = sql.SQL("{}.{}({})").format(
                sql.Identifier("public"), sql.Identifier(fn), sql.SQL(", ").join(call_args)
            )
            if chosen.returns_set:
                query = sql.SQL("select coalesce(json_agg(_r), '[]'::json) from {} _r").format(call)
            elif chosen.composite:
                query = sql.SQL("select to_json(_r) from {} _r").format(call)
            else:
                query = sql.SQL("select to_json({})").format(call)
            try:
                async with conn.transaction():
                    await begin_as(conn, claims)
                    cur = await conn.execute(query, params)
                    row = await cur.fetchone()
            except psycopg.Error as exc:
                return db_error(exc, role)
        value = row[0] if row else None
        if chosen.return_type == "void":
            return Response(204)
        return Response.json(200, value)

    async def _columns(self, conn: psycopg.AsyncConnection[Any], table: str) -> dict[str, str]:
        cur = await conn.execute(
            """
            select a.attname, format_type(a.atttypid, a.atttypmod)
            from pg_attribute a
            where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped
            """,
            (f"public.{table}",),
        )
        return {r[0]: r[1] for r in await cur.fetchall()}

    def _where(
        self, request: Request, table: str, columns: dict[str, str]
    ) -> tuple[sql.Composable, list[Any]]:
        clauses: list[sql.Composable] = []
        params: list[Any] = []
        ops = {
            "eq": "=",
            "neq": "<>",
            "gt": ">",
            "gte": ">=",
            "lt": "<",
            "lte": "<=",
            "like": "like",
            "ilike": "ilike",
        }
        for key, value in request.query:
            if key in ("select", "order", "limit", "offset", "columns", "on_conflict"):
                continue
            if key not in columns:
                raise KeyError(key)
            op, _, operand = value.partition(".")
            column = sql.Identifier("public", table, key)
            if op in ops:
                clauses.append(
                    sql.SQL("{} {} {}::{}").format(
                        column, sql.SQL(ops[op]), sql.Placeholder(), sql.SQL(columns[key])
                    )
                )
                params.append(operand)
            elif op == "is":
                word = {"null": "null", "true": "true", "false": "false"}.get(operand.lower())
                if word is None:
                    raise ValueError(value)
                clauses.append(sql.SQL("{} is {}").format(column, sql.SQL(word)))
            elif op == "in":
                items = [i.strip().strip('"') for i in operand.strip("()").split(",") if i.strip()]
                clauses.append(
                    sql.SQL("{} = any({}::{}[])").format(
                        column, sql.Placeholder(), sql.SQL(columns[key])
                    )
                )
                params.append(items)
            else:
                raise ValueError(value)
        where = sql.SQL(" and ").join(clauses) if clauses else sql.SQL("true")
        return where, params

    async def table(self, request: Request, table: str, claims: dict[str, Any]) -> Response:
        role = str(claims.get("role", "anon"))
        prefer = request.headers.get("prefer", "")
        representation = "return=representation" in prefer
        async with self.pool.connection() as conn:
            columns = await self._columns(conn, table)
            if not columns:
                return pgrst_error(
                    404,
                    "PGRST205",
                    f"Could not find the table 'public.{table}' in the schema cache",
                )
            try:
                where, params = self._where(request, table, columns)
            except KeyError as exc:
                return pgrst_error(400, "42703", f"column {table}.{exc.args[0]} does not exist")
            except ValueError as exc:
                return pgrst_error(400, "PGRST100", f'"failed to parse filter ({exc.args[0]})"')
            target = sql.SQL("{}.{}").format(sql.Identifier("public"), sql.Identifier(table))
            try:
                body = request.json() if request.body else None
            except ValueError:
                return pgrst_error(400, "PGRST102", "Empty or invalid json")
            if request.method in ("GET", "HEAD"):
                try:
                    shape = _read_shape(request, columns)
                except KeyError as exc:
                    return pgrst_error(400, "42703", f"column {table}.{exc.args[0]} does not exist")
                except ValueError as exc:
                    return pgrst_error(400, "PGRST100", f'"failed to parse ({exc.args[0]})"')
                query = sql.SQL(
                    "select coalesce(json_agg(_r), '[]'::json),"
                    " (select count(*) from {t} where {w})"
                    " from (select {cols} from {t} where {w} {order} {page}) _r"
                ).format(t=target, w=where, **shape)
                params = [*params, *params]
            elif request.method == "POST":
                rows: list[Any] = body if isinstance(body, list) else [body]
                if not rows or not all(isinstance(r, dict) for r in rows):
                    return pgrst_error(400, "PGRST102", "Empty or invalid json")
                keys = sorted({k for r in rows for k in r})
                unknown = [k for k in keys if k not in columns]
                if unknown:
                    return unknown_column(unknown[0], table)
                cols = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
                query = sql.SQL(
                    "with _w as (insert into {t} ({c}) select {c} from "
                    "jsonb_populate_recordset(null::{t}, {p}::jsonb) returning *) "
                    "select coalesce(json_agg(_w), '[]'::json) from _w"
                ).format(t=target, c=cols, p=sql.Placeholder())
                params = [json.dumps(rows)]
            elif request.method == "PATCH":
                if not isinstance(body, dict) or not body:
                    return pgrst_error(400, "PGRST102", "Empty or invalid json")
                unknown = [k for k in body if k not in columns]
                if unknown:
                    return unknown_column(unknown[0], table)
                sets = sql.SQL(", ").join(
                    sql.SQL("{} = _v.{}").format(sql.Identifier(k), sql.Identifier(k)) for k in body
                )
                query = sql.SQL(
                    "with _w as (update {t} set {s}"
                    " from jsonb_populate_record(null::{t}, {p}::jsonb) _v"
                    " where {w} returning {t}.*)"
                    " select coalesce(json_agg(_w), '[]'::json) from _w"
                ).format(t=target, s=sets, p=sql.Placeholder(), w=where)
                params = [json.dumps(body), *params]
            elif request.method == "DELETE":
                query = sql.SQL(
                    "with _w as (delete from {} where {} returning *) "
                    "select coalesce(json_agg(_w), '[]'::json) from _w"
                ).format(target, where)
            else:
                return pgrst_error(405, "PGRST117", f"Unsupported HTTP method: {request.method}")
            try:
                async with conn.transaction():
                    await begin_as(conn, claims)
                    cur = await conn.execute(query, params)
                    row = await cur.fetchone()
            except psycopg.Error as exc:
                return db_error(exc, role)
        value = row[0] if row else []
        if "application/vnd.pgrst.object+json" in request.headers.get("accept", ""):
            # `.single()` in supabase-js: exactly one row, as an object.
            if len(value) != 1:
                return pgrst_error(
                    406,
                    "PGRST116",
                    "Cannot coerce the result to a single JSON object",
                    f"The result contains {len(value)} rows",
                )
            value = value[0]
        if request.method in ("GET", "HEAD"):
            assert row is not None
            offset = int(request.query_dict().get("offset", "0") or 0)
            total = row[1]
            rows_shown = len(value) if isinstance(value, list) else 1
            shown = f"{offset}-{offset + rows_shown - 1}" if rows_shown else "*"
            counted = "count=exact" in prefer or "count=planned" in prefer
            headers = {"Content-Range": f"{shown}/{total if counted else '*'}"}
            response = Response.json(200, value, headers)
            return response
        status = 201 if request.method == "POST" else 200
        if representation:
            return Response.json(status, value)
        return Response(201 if request.method == "POST" else 204)
