"""A Supabase project on 127.0.0.1 for tests: PostgREST RPC and tables on a real Postgres, Auth,
Storage on a folder, Realtime over a websocket. See `server.SupabaseDouble`.

    with supabase_double(pg_dsn, tmp_path) as sb:
        env = {"SUPABASE_URL": sb.url, "SUPABASE_SERVICE_ROLE_KEY": sb.service_key}
        sb.fail_storage_next(1)            # the next Storage call gets an HTML 502
        sb.close_realtime(1011)            # drop every Realtime socket with close code 1011

Standalone: `python -m tests.doubles.supabase --dsn postgresql://... --storage-dir DIR`.
"""

from tests.doubles.supabase.server import SupabaseDouble, supabase_double

__all__ = ["SupabaseDouble", "supabase_double"]
