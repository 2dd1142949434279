"""Daemon processes, the Supabase and API4.ai doubles, a real browser."""
