"""A local stand-in for the database side: a throwaway cluster, the migration runner, the shim."""
