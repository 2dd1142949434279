"""Throwaway databases only: a local PostgreSQL cluster and the local Supabase shim."""
